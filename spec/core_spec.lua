-- The foundation: the module loads, reports its version and memory figures,
-- installs with luarocks, and builds on libc malloc (MIMALLOC=0).
local C = require "spec.compat"
local fm = require "fastmatch"

local sh = C.sh

local root = os.getenv("PWD")

describe("fastmatch", function()
  it("runs on the Lua make test asked for (lua5.4 unless FM_LUA says otherwise)", function()
    -- not the lua5.1 that busted installs as /usr/bin/lua
    local want = ({ ["lua5.1"] = "Lua 5.1", ["lua5.2"] = "Lua 5.2", ["lua5.3"] = "Lua 5.3",
      ["lua5.4"] = "Lua 5.4", luajit = "Lua 5.1" })[C.lua]
    assert.equal(want, _VERSION)
    assert.equal(C.lua == "luajit", rawget(_G, "jit") ~= nil)
  end)

  it("has a version string", function()
    assert.is_string(fm.version)
    assert.matches("^%d+%.%d+%.%d+", fm.version)
  end)

  it("says which allocator the module uses", function()
    local want = os.getenv("FM_MIMALLOC") == "0" and "libc" or "mimalloc"
    assert.equal(want, fm.allocator)
    assert.equal(want, fm.memstats().allocator)
  end)
end)

describe("fastmatch.memstats", function()
  it("returns OS and Lua heap figures with sane values", function()
    -- the collector stopped between the two readings: an incremental step
    -- in between could free much of the garbage earlier specs left (5.3)
    collectgarbage("collect")
    collectgarbage("stop")
    local m = fm.memstats()
    local kb = collectgarbage("count")
    collectgarbage("restart")
    assert.is_true(C.isinteger(m.rss) and m.rss > 0)
    assert.is_true(m.peak_rss >= m.rss)
    assert.is_true(m.lua_bytes > 0)
    -- the Lua heap figure is collectgarbage("count") in bytes
    assert.is_true(math.abs(m.lua_bytes - kb * 1024) < 64 * 1024,
      ("lua_bytes %d vs count %d"):format(m.lua_bytes, kb * 1024))
    if fm.allocator == "mimalloc" then
      assert.is_true(C.isinteger(m.commit) and m.commit >= 0)
      assert.is_true(m.peak_commit >= m.commit)
    else
      assert.is_nil(m.commit)
      assert.is_nil(m.peak_commit)
    end
  end)

  it("sees peak_rss grow after a large string is allocated", function()
    -- in a fresh child: this suite's own peak is already high from other specs
    local ok, out = sh(C.lua .. [[ -e '
      local fm = require "fastmatch"
      local before = fm.memstats().peak_rss
      local big = string.rep("x", 64 * 1024 * 1024)
      local after = fm.memstats().peak_rss
      io.write(before, " ", after, " ", #big)']])
    assert(ok, out)
    local before, after, len = out:match("^(%d+) (%d+) (%d+)$")
    assert(before, out)
    before, after = tonumber(before), tonumber(after)
    assert.equal(64 * 1024 * 1024, tonumber(len))
    assert.is_true(after >= before + 32 * 1024 * 1024,
      ("peak_rss %d -> %d"):format(before, after))
  end)

  it("tracks the Lua heap as it grows", function()
    -- no collection inside the measurement: garbage the earlier specs left
    -- could be freed during the loop and hide the growth (seen on 5.3)
    collectgarbage("collect")
    collectgarbage("stop")
    local before = fm.memstats().lua_bytes
    local t = {}
    for i = 1, 100000 do t[i] = { i } end
    local after = fm.memstats().lua_bytes
    collectgarbage("restart")
    assert.is_true(after > before + 1000000, ("lua_bytes %d -> %d"):format(before, after))
    t = nil
  end)
end)

describe("fastmatch.mi_stats_print", function()
  it("prints mimalloc's statistics to an open Lua file", function()
    local f = io.tmpfile()
    local ok, why = fm.mi_stats_print(f)
    if fm.allocator == "mimalloc" then
      assert.is_true(ok)
      f:seek("set")
      local text = f:read("*a")
      assert.matches("reserved", text)
      assert.matches("committed", text)
    else
      assert.is_false(ok)
      assert.matches("MIMALLOC=0", why)
    end
    f:close()
  end)

  it("rejects a closed file and a non-file", function()
    local f = io.tmpfile()
    f:close()
    assert.has_error(function() fm.mi_stats_print(f) end)
    assert.has_error(function() fm.mi_stats_print("stdout") end,
      "bad argument #1 to 'mi_stats_print' (FILE* expected, got string)")
  end)
end)

describe("the build", function()
  -- Building is independent of how the suite's own state runs: do it once
  -- per Lua, in its default suite (5.4: "default"; others: their name).
  local suite = os.getenv("FM_SUITE") or "default"
  if suite ~= "default" and suite ~= C.make_lua then
    it("is checked by the default suite run (this run: " .. suite .. ")", function()
      print("SKIP: build specs run once per Lua, in its default suite, not in '" .. suite .. "'")
    end)
    return
  end
  -- package.searchpath in the child, also on 5.1 (which has none)
  local SEARCH = [[local function search(name, path) name = name:gsub("%.", "/") ]] ..
    [[for t in path:gmatch("[^;]+") do local f = t:gsub("%?", name) local h = io.open(f) ]] ..
    [[if h then h:close() return f end end end ]]
  -- These build in a copy of the tree, never over the module that is loaded.
  local function copy_tree()
    local dir = os.tmpname()
    os.remove(dir)
    assert(sh(("mkdir -p %s && cd %s && cp -r Makefile csrc lua rockspec examples bin %s/")
      :format(dir, root, dir)))
    return dir
  end

  it("installs with luarocks make into a tree, and loads from it", function()
    local ok = sh("command -v luarocks")
    if not ok then
      print("SKIP: luarocks is not installed (make deps installs it)")
      return
    end
    local dir = copy_tree()
    local tree = dir .. "/tree"
    -- LuaJIT: luarocks's 5.1 with LuaJIT's interpreter and headers
    local jitvars = C.jit and " LUA=/usr/bin/luajit LUA_INCDIR=/usr/include/luajit-2.1" or ""
    local built, out = sh(("cd %s && luarocks --lua-version %s make rockspec/fastmatch-scm-1.rockspec --tree %s%s")
      :format(dir, C.abi, tree, jitvars))
    assert(built, out)
    local ran, got = sh(("cd / && %s='%s/share/lua/%s/?.lua;%s/share/lua/%s/?/init.lua' %s='%s/lib/lua/%s/?.so' %s -e '%s local fm = require \"fastmatch\"; io.write(fm.version, \" \", search(\"fastmatch.core\", package.cpath))'")
      :format(C.pathvar, tree, C.abi, tree, C.abi, C.cpathvar, tree, C.abi, C.lua, SEARCH))
    assert(ran, got)
    assert.matches("^" .. fm.version:gsub("%.", "%%.") .. " " .. tree, got)
    -- the hunter is installed as a command, wrapped to run on this Lua
    local usage_ok, usage = sh(("%s/bin/fastmatch-hunt --help"):format(tree))
    assert(usage_ok, usage)
    assert.matches("usage: fastmatch%-hunt", usage)
    sh("rm -rf " .. dir)
  end)

  it("builds warning-free on libc malloc with MIMALLOC=0", function()
    local dir = copy_tree()
    local built, out = sh(("cd %s && MAKEFLAGS= MAKELEVEL= make LUA=%s MIMALLOC=0 CFLAGS='-O2 -Werror'"):format(dir, C.make_lua))
    assert(built, out)
    local sodir = C.make_lua == "5.4" and "build/libc" or "build/" .. C.make_lua .. "-libc"
    local ran, got = sh(("cd %s && %s='lua/?.lua;lua/?/init.lua' %s='%s/?.so' %s -e 'local fm = require \"fastmatch\"; io.write(fm.memstats().allocator, \" \", tostring(fm.use_mimalloc()))'")
      :format(dir, C.pathvar, C.cpathvar, sodir, C.lua))
    assert(ran, got)
    assert.equal("libc false", got)
    sh("rm -rf " .. dir)
  end)
end)

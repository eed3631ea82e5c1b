-- The Lua state's allocator switch: fm.use_mimalloc() and
-- `lua5.4 -l fastmatch.mimalloc`.  Most cases run in a child lua5.4, so the
-- suite's own state keeps the allocator it was started with (make test runs
-- the whole suite once more under -l fastmatch.mimalloc).
local C = require "spec.compat"
local fm = require "fastmatch"

local sodir = os.getenv("FM_SODIR") or "."
local sh = C.sh
local function has(cmd) return (sh("command -v " .. cmd)) end

-- a child lua5.4 running `code`, with the tree's module on its paths
local function child(code, flags, wrapper)
  local path = os.tmpname()
  local out = assert(io.open(path, "w"))
  out:write(code)
  out:close()
  local ok, text, rc = sh(("%s %s %s %s"):format(wrapper or "", C.lua, flags or "", path))
  os.remove(path)
  return ok, text, rc
end

local built_with_mimalloc = fm.allocator == "mimalloc"

-- Objects made before the switch are grown and freed after it; the heap
-- figures stay consistent.
local churn_across_switch = [[
local fm = require "fastmatch"
local t, s = {}, {}
for i = 1, 50000 do t[i] = { i } ; s[i] = ("str%d"):format(i) end
local big = string.rep("z", 1048576)
collectgarbage(); collectgarbage()
local kb0 = collectgarbage("count")
assert(fm.use_mimalloc() == true)
assert(fm.use_mimalloc() == true, "second call must be harmless")
assert(fm.memstats().lua_allocator == "mimalloc")
for i = 50001, 200000 do t[i] = { i } end          -- grows the old array part
for i = 1, 50000 do s[i] = s[i] .. "!" end            -- old strings freed
big = big .. "y"                                       -- old 1 MiB block freed
assert(#big == (1048576) + 1 and big:sub(-2) == "zy")
for i = 1, 200000 do assert(t[i][1] == i) end
for i = 1, 50000 do assert(s[i] == ("str%d!"):format(i)) end
t, s, big = nil, nil, nil
collectgarbage(); collectgarbage()
local kb1 = collectgarbage("count")
-- everything made before and after is gone again: back near the start
assert(kb1 < kb0, ("heap %f KiB -> %f KiB"):format(kb0, kb1))
assert(math.abs(fm.memstats().lua_bytes - kb1 * 1024) < 64 * 1024)
io.write("ok ", fm.memstats().lua_allocator)
]]

describe("fastmatch.use_mimalloc", function()
  if C.jit then
    it("returns false and the reason on LuaJIT (its GC forbids lua_setallocf), and changes nothing", function()
      local ok, why = fm.use_mimalloc()
      assert.is_false(ok)
      assert.matches("LuaJIT does not allow switching the allocator", why, 1, true)
      assert.equal("default", fm.memstats().lua_allocator)
    end)
    return
  end
  if not built_with_mimalloc then
    it("returns false and the reason on a MIMALLOC=0 build, and changes nothing", function()
      local ok, why = fm.use_mimalloc()
      assert.is_false(ok)
      assert.matches("MIMALLOC=0", why)
      assert.equal("default", fm.memstats().lua_allocator)
    end)
    return
  end

  it("switches the state: memstats reports lua_allocator = mimalloc", function()
    local ok, out = child([[
      local fm = require "fastmatch"
      io.write(fm.memstats().lua_allocator, " ")
      io.write(tostring(fm.use_mimalloc()), " ", fm.memstats().lua_allocator)]])
    assert(ok, out)
    assert.equal("default true mimalloc", out)
  end)

  it("frees and grows blocks made before the switch with the right allocator", function()
    local ok, out = child(churn_across_switch)
    assert(ok, out)
    assert.equal("ok mimalloc", out)
  end)

  it("closes the state cleanly after the switch, with no valgrind errors", function()
    if not has("valgrind") then
      print("SKIP: valgrind is not installed (make deps installs it)")
      return
    end
    local ok, out = child(churn_across_switch, nil,
      "valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite")
    assert(ok, out)
    assert.equal("ok mimalloc", out)
  end)

  it("keeps the module loaded until exit (linked -z nodelete)", function()
    if not has("readelf") then
      print("SKIP: readelf (binutils) is not installed")
      return
    end
    local ok, out = sh(("readelf -d %s/fastmatch/core.so"):format(sodir))
    assert(ok, out)
    assert.matches("NODELETE", out)
  end)
end)

describe("require 'fastmatch.mimalloc'", function()
  if C.jit then
    it("says on stderr that LuaJIT cannot switch, and the script runs on (luajit -l fastmatch.mimalloc)", function()
      local ok, out = child([[io.write(require("fastmatch").memstats().lua_allocator, " ",
        tostring(require("fastmatch.mimalloc").ok))]], "-l fastmatch.mimalloc")
      assert(ok, out)
      assert.matches("^fastmatch.mimalloc: LuaJIT does not allow switching the allocator.-\n", out)
      assert.matches("\ndefault false$", out)
    end)
    return
  end
  if not built_with_mimalloc then
    it("loads and reports why it could not switch on a MIMALLOC=0 build", function()
      local ok, out = child([[
        local r = require "fastmatch.mimalloc"
        io.write(tostring(r.ok), " ", r.reason)]])
      assert(ok, out)
      assert.matches("^false .*MIMALLOC=0", out)
    end)
    return
  end

  it("switches on load: lua5.4 -l fastmatch.mimalloc runs a script on mimalloc", function()
    local ok, out = child([[io.write(require("fastmatch").memstats().lua_allocator)]],
      "-l fastmatch.mimalloc")
    assert(ok, out)
    assert.equal("mimalloc", out)
  end)

  it("exits 0 after a workload, with no valgrind errors", function()
    if not has("valgrind") then
      print("SKIP: valgrind is not installed (make deps installs it)")
      return
    end
    local ok, out = child([[
      local t = {}
      for i = 1, 100000 do t[i] = { tostring(i) } end
      t = nil; collectgarbage()
      io.write("done")]], "-l fastmatch.mimalloc",
      "valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite")
    assert(ok, out)
    assert.equal("done", out)
  end)
end)

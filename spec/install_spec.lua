-- Installing: `make install` (DESTDIR staged) and `luarocks make --tree`
-- install the same set from a clone (spec/clone.lua: the tracked tree in a
-- fresh directory, the module already built for this Lua copied in): every
-- public module (lua/fastmatch/**/*.lua but the experiments' harness
-- fastmatch.bench, and core.so) and every command of bin/.  Then, from
-- outside the clone and with none of make test's paths, each installed copy
-- loads fastmatch.sigma and its fastmatch-hunt answers --help and hunts,
-- on the Lua it was installed for.
local C = require "spec.compat"
local K = require "spec.clone"
local fm = require "fastmatch"

local shq = K.shq

-- package.searchpath in the child, also on 5.1 (which has none)
local SEARCH = [[local function search(name, path) name = name:gsub("%.", "/") ]] ..
  [[for t in path:gmatch("[^;]+") do local f = t:gsub("%?", name) local h = io.open(f) ]] ..
  [[if h then h:close() return f end end end ]]

-- "fastmatch.sigma.rule", "fastmatch.core", "bin/fastmatch-hunt", sorted:
-- what lies under an installed tree's share/lua/<abi>, lib/lua/<abi>, bin.
local function installed(luadir, libdir, bindir)
  local out = {}
  for _, d in ipairs({ { luadir, "%.lua$" }, { libdir, "%.so$" } }) do
    local _, list = C.sh(("cd %s 2>/dev/null && find . -type f | LC_ALL=C sort"):format(shq(d[1])))
    for f in list:gmatch("[^\n]+") do
      out[#out + 1] = f:gsub("^%./", ""):gsub(d[2], ""):gsub("/init$", ""):gsub("/", ".")
    end
  end
  local _, list = C.sh(("cd %s 2>/dev/null && find . -type f | LC_ALL=C sort"):format(shq(bindir)))
  for f in list:gmatch("[^\n]+") do out[#out + 1] = "bin/" .. f:gsub("^%./", "") end
  table.sort(out)
  return out
end

-- What a clone says should be installed: its public Lua files and commands.
local EXPERIMENT_ONLY = { ["fastmatch.bench"] = true }
local function expected(dir)
  local out = { "fastmatch.core" }
  local _, list = C.sh(("cd %s/lua && find fastmatch -name '*.lua' | LC_ALL=C sort"):format(shq(dir)))
  for f in list:gmatch("[^\n]+") do
    local m = f:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
    if not EXPERIMENT_ONLY[m] then out[#out + 1] = m end
  end
  local _, bins = C.sh(("cd %s && ls -1 bin"):format(shq(dir)))
  for f in bins:gmatch("[^\n]+") do out[#out + 1] = "bin/" .. f end
  table.sort(out)
  return out
end

local RULE = [[
title: Installed Whoami
id: 5e1f0000-0000-4000-8000-000000000001
level: high
logsource: { category: process_creation, product: windows }
detection:
  selection:
    Image|endswith: '\whoami.exe'
  condition: selection
]]
local EVENT = [[{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,]]
  .. [["Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"pc1"},]]
  .. [["EventData":{"Image":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami /all"}}}]]

describe("make install and luarocks make", function()
  -- Once per Lua, in its default suite (5.4: "default"; others: their name),
  -- as core_spec's build specs.
  local suite = os.getenv("FM_SUITE") or "default"
  if suite ~= "default" and suite ~= C.make_lua then
    it("are checked by the default suite run (this run: " .. suite .. ")", function()
      C.skip("install specs run once per Lua, in its default suite, not in '" .. suite .. "'")
    end)
    return
  end

  it("install the same modules and commands, which run from outside the clone", function()
    if not C.sh("command -v luarocks") then return C.skip("luarocks is not installed (make deps installs it)") end
    local c, why = K.make({ builds = { C.make_lua } })
    if not c then return C.skip(why) end
    local ok, err = pcall(function()
      local abi = C.abi
      local want = expected(c.dir)
      assert.is_true(#want >= 10, table.concat(want, " "))

      -- make install, staged
      local dest = c.parent .. "/dest"
      local made, out = C.sh(("cd %s && %s make --no-print-directory install LUA=%s DESTDIR=%s")
        :format(shq(c.dir), K.CLEAN, C.make_lua, shq(dest)))
      assert(made, out)
      local pre = dest .. "/usr/local"
      local mk = { lua = pre .. "/share/lua/" .. abi, lib = pre .. "/lib/lua/" .. abi, bin = pre .. "/bin" }
      assert.same(want, installed(mk.lua, mk.lib, mk.bin))

      -- luarocks make into a tree (no network: the only dependency is Lua).
      -- LuaJIT: luarocks's 5.1 told to run luajit (its wrappers too).
      local tree = c.parent .. "/tree"
      local env = ""
      if C.jit then
        local f = assert(io.open(c.parent .. "/luarocks-luajit.lua", "w"))
        f:write('lua_interpreter = "luajit"\nvariables = { LUA = "/usr/bin/luajit", LUA_BINDIR = "/usr/bin", ' ..
          'LUA_INCDIR = "/usr/include/luajit-2.1" }\n')
        f:close()
        env = "LUAROCKS_CONFIG=" .. shq(c.parent .. "/luarocks-luajit.lua")
      end
      local built, bout = C.sh(("cd %s && %s %s luarocks --lua-version %s make --tree %s rockspec/fastmatch-scm-1.rockspec")
        :format(shq(c.dir), K.CLEAN, env, abi, shq(tree)))
      assert(built, bout)
      local lr = { lua = tree .. "/share/lua/" .. abi, lib = tree .. "/lib/lua/" .. abi, bin = tree .. "/bin" }
      assert.same(want, installed(lr.lua, lr.lib, lr.bin))

      -- no installed module needs the experiments' harness
      local _, users = C.sh(("grep -rl 'fastmatch.bench' %s %s"):format(shq(mk.lua), shq(lr.lua)))
      assert.equal("", users)

      -- a rule and an event, outside the clone
      local work = c.parent .. "/work"
      assert(C.sh("mkdir -p " .. shq(work)))
      local f = assert(io.open(work .. "/whoami.yml", "w")); f:write(RULE); f:close()
      f = assert(io.open(work .. "/events.jsonl", "w")); f:write(EVENT, "\n"); f:close()

      for _, t in ipairs({ { "make install", mk }, { "luarocks", lr } }) do
        local what, d = t[1], t[2]
        local paths = ("%s=%s %s=%s"):format(C.pathvar, shq(d.lua .. "/?.lua;" .. d.lua .. "/?/init.lua;;"),
          C.cpathvar, shq(d.lib .. "/?.so;;"))
        local code = SEARCH .. [[local S = require "fastmatch.sigma"; assert(S.engine());
          io.write(require("fastmatch").version, " ", search("fastmatch.sigma", package.path), " ",
          search("fastmatch.core", package.cpath))]]
        local ran, got = C.sh(("cd %s && %s %s %s -e %s"):format(shq(work), K.CLEAN, paths, C.lua, shq(code)))
        assert(ran, what .. ": " .. got)
        assert.equal(("%s %s/fastmatch/sigma.lua %s/fastmatch/core.so"):format(fm.version, d.lua, d.lib), got, what)

        -- the command: make install's runs on the Lua named on its first
        -- line (paths from the environment: a staged DESTDIR is not on
        -- Lua's default path); luarocks's wrapper sets the tree's paths
        local cmd = d.bin .. "/fastmatch-hunt"
        local env_cmd = t[1] == "make install" and paths or ""
        if t[1] == "make install" then
          local h = assert(io.open(cmd)); local first = h:read("*l"); h:close()
          assert.equal("#!/usr/bin/env " .. C.lua, first)
        end
        local hran, usage = C.sh(("cd %s && %s %s %s --help"):format(shq(work), K.CLEAN, env_cmd, shq(cmd)))
        assert(hran, what .. ": " .. usage)
        assert.matches("usage: fastmatch%-hunt", usage)
        local hunted, tl = C.sh(("cd %s && %s %s %s --quiet --format jsonl --rules whoami.yml events.jsonl")
          :format(shq(work), K.CLEAN, env_cmd, shq(cmd)))
        assert(hunted, what .. ": " .. tl)
        assert.matches('"RuleTitle":"Installed Whoami"', tl, 1, true)
      end
    end)
    K.remove(c)
    assert(ok, err)
  end)
end)

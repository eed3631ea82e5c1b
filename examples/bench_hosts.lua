-- bench_hosts: fastmatch inside nginx (LuaJIT) against ngx.re, and under
-- LuaJIT fm.writer against string.buffer + io.write.  Ratios of medians
-- measured side by side in one run; never fails a build.
--   lua5.4 examples/bench_hosts.lua [--quick]      (make bench runs it)
-- The nginx part needs nginx + libnginx-mod-http-lua + curl (make deps);
-- it starts nginx on a free loopback port in a temporary prefix (the
-- configuration of spec/hosts/nginx.conf plus a /bench location) and runs
-- spec/hosts/fm_bench.lua in the worker, so both sides pay the same
-- Lua-to-C call costs of the same VM.
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local root = os.getenv("FM_ROOT") or (here .. "/..")
package.path = root .. "/?.lua;" .. package.path -- spec.hosts.harness
local B = require "fastmatch.bench"
local H = require "spec.hosts.harness"
H.root = root

local quick = B.quick

local function report(what, measured, goal, ok)
  print(("   => %-58s measured %6.2fx   goal %s %s"):format(what, measured, goal,
    ok == nil and "" or ok and "(met)" or "(NOT met)"))
end

-------------------------------------------------------------- nginx
print("== bench_hosts: " .. B.machine())
local why = H.missing_nginx()
if why then
  print("-- nginx: skipped: " .. why)
else
  local f = assert(io.open(root .. "/spec/hosts/fm_bench.lua"))
  local src = f:read("*a")
  f:close()
  local host = H.nginx({
    lua = { fm_bench = src },
    extra = [[
    location = /bench {
      content_by_lua_block { ngx.print(require("fm_bench").run(ngx.var.arg_quick == "1")) }
    }]],
  })
  local ok, err = pcall(function()
    assert(host.start(), host.failure)
    local body, code = host.get("/bench" .. (quick and "?quick=1" or ""), nil, 600)
    assert(code == 200, ("nginx answered %d:\n%s\n%s"):format(code, body, host.errors()))
    local kv, cases, order = {}, {}, {}
    for line in body:gmatch("[^\n]+") do
      local g, name, ns, count = line:match("^case (.-) | (.-) (%S+) (%d+)$")
      if g then
        if not cases[g] then cases[g] = {}; order[#order + 1] = g end
        cases[g][name] = { ns = tonumber(ns), count = tonumber(count) }
        cases[g][#cases[g] + 1] = name
      else
        local k, v = line:match("^(%S+) (.*)$")
        if k then kv[k] = v end
      end
    end
    print(("-- inside nginx %s (ngx_lua %s, %s): %s log lines, median of %s interleaved rounds")
      :format(kv.nginx, kv.ngx_lua, kv.jit, kv.lines, kv.rounds))
    print("   peer: ngx.re (PCRE JIT, options \"jo\": compiled once, cached); fastmatch's FFI path: " .. tostring(kv.ffi))
    for _, g in ipairs(order) do
      local c = cases[g]
      local peer = c[#c]
      print(("   %s:"):format(g))
      for _, name in ipairs(c) do
        local agree = c[name].count == c[peer].count and "" or ("  COUNT DIFFERS from " .. peer .. "!")
        print(("     %-24s %8.1f ns/line  (%d matching)%s"):format(name, c[name].ns, c[name].count, agree))
      end
    end
    local function ratio(g, a, b) return cases[g][b].ns / cases[g][a].ns end
    for _, g in ipairs({ "status find", "literal find", "request find" }) do
      local x = ratio(g, "fm.find", "ngx.re.find jo")
      report(("fm.find vs ngx.re.find jo (%s)"):format(g), x, ">= 1.5x", x >= 1.5)
      report(("fm.compile:find vs ngx.re.find jo (%s)"):format(g),
        ratio(g, "fm.compile:find", "ngx.re.find jo"), "(compiled object)")
      report(("fm.find C API vs ngx.re.find jo (%s)"):format(g),
        ratio(g, "fm.find C API", "ngx.re.find jo"), "(without the FFI path)")
    end
    local x = ratio("request match", "fm.match", "ngx.re.match jo")
    report("fm.match vs ngx.re.match jo (request match)", x, "(no goal)")
    report("fm.compile:match vs ngx.re.match jo",
      ratio("request match", "fm.compile:match", "ngx.re.match jo"), "(no goal)")
    report("fm.match C API vs ngx.re.match jo", ratio("request match", "fm.match C API", "ngx.re.match jo"),
      "(without the FFI path)")
    x = ratio("wildcard set", "fm.set:test", "ngx.re.find joi loop")
    report("fm.set (20 wildcards) vs a loop of 20 ngx.re.find joi", x, ">= 10x", x >= 10)
    report("fm.set:test C API vs the loop", ratio("wildcard set", "fm.set:test C API", "ngx.re.find joi loop"),
      "(without the FFI path)")
  end)
  host.stop()
  if not ok then print("-- nginx: FAILED: " .. tostring(err)) end
end

-------------------------------------------------------------- LuaJIT IO
if B.have("luajit") then
  local out = B.run(("env LUA_PATH=%s LUA_CPATH=%s luajit %s/examples/bench_luajit.lua%s 2>&1")
    :format(B.shq(root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;"),
      B.shq(root .. "/build/luajit/?.so;;"), B.shq(root), quick and " --quick" or ""))
  io.write(out)
else
  print("-- LuaJIT: skipped: luajit is not installed (make deps installs it)")
end

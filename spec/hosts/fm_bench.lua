-- The benchmark that runs inside an nginx worker (LuaJIT): fastmatch against
-- ngx.re (PCRE with JIT, options "jo": compiled once and cached) on the same
-- combined-log lines.  examples/bench_hosts.lua starts nginx and asks
-- /bench; the answer is one "key value" line per figure.
local fm = require "fastmatch"
local F = require "fastmatch.ffi" -- the FFI path (active under LuaJIT) and the C API functions

local M = {}

local function lines(n)
  math.randomseed(20261130)
  local ips = { "10.0.0.5", "192.168.1.20", "172.16.4.7", "203.0.113.9", "198.51.100.23" }
  local paths = { "/index.html", "/api/v1/items?id=", "/static/app.js", "/login", "/cgi-bin/view?f=",
                  "/search?q=", "/wp-login.php", "/images/logo.png" }
  local agents = { "Mozilla/5.0 (X11; Linux x86_64)", "curl/7.88.1", "python-requests/2.31",
                   "Mozilla/5.0 (Windows NT 10.0; Win64; x64)" }
  local codes = { 200, 200, 200, 200, 301, 304, 404, 500, 502 }
  local out = {}
  for i = 1, n do
    local path = paths[math.random(#paths)]
    if path:sub(-1) == "=" then
      path = path .. (math.random(50) == 1 and "../../etc/passwd" or tostring(math.random(99999)))
    end
    out[i] = ('%s - - [30/Nov/2026:05:%02d:%02d +0000] "%s %s HTTP/1.1" %d %d "-" "%s"'):format(
      ips[math.random(#ips)], math.random(0, 59), math.random(0, 59),
      math.random(4) == 1 and "POST" or "GET", path, codes[math.random(#codes)],
      math.random(100, 90000), agents[math.random(#agents)])
  end
  return out
end

-- log-line patterns: a match with captures, a find on the status, a literal
local P_MATCH = [=[^(\S+) \S+ \S+ \[([^\]]+)\] "(\w+) ([^ "]+)]=]
local P_STATUS = [[" (5\d\d) ]]
local P_LIT = [[etc/passwd]]
-- the request line without captures, for find: fm.find returns captures
-- as string.find does, ngx.re.find only positions
local P_FIND = [=[^\S+ \S+ \S+ \[[^\]]+\] "\w+ [^ "]+]=]

-- Sigma-style detection values (caseless wildcards) and, for ngx.re, the
-- same as regexes: a set of them against a loop of ngx.re.find calls
local WILD = { "*/etc/passwd*", "*union*select*", "*powershell*-enc*", "*sekurlsa::*", "*cmd.exe*",
  "*/wp-admin/*", "*.php?*=http*", "*<script*", "*nikto*", "*sqlmap*", "*/.git/*", "*/.env*",
  "*base64_decode*", "*eval(*", "*wget http*", "*curl http*", "*/bin/sh*", "*xp_cmdshell*",
  "*masscan*", "*/phpmyadmin*" }
local function to_regex(w)
  local body = w:sub(2, -2) -- every value is *...*: a contains test
  local parts = {}
  for lit in (body .. "*"):gmatch("([^*]*)%*") do parts[#parts + 1] = lit:gsub("%p", "\\%0") end
  return table.concat(parts, ".*")
end

local function median(t)
  table.sort(t)
  local n = #t
  if n % 2 == 1 then return t[(n + 1) / 2] end
  return (t[n / 2] + t[n / 2 + 1]) / 2
end

-- cases run interleaved, rounds times; each returns a count that must
-- agree with its peer's; median seconds per case
local function compare(cases, rounds)
  local times = {}
  for _, c in ipairs(cases) do times[c.name] = {}; c.fn() end -- warm-up: traces, caches
  for _ = 1, rounds do
    for _, c in ipairs(cases) do
      local t0 = fm.now()
      c.count = c.fn()
      local dt = fm.now() - t0
      local t = times[c.name]
      t[#t + 1] = dt
    end
  end
  for _, c in ipairs(cases) do c.seconds = median(times[c.name]) end
  return cases
end

function M.run(quick)
  local N = quick and 5000 or 100000
  local rounds = quick and 3 or 9
  local L = lines(N)
  local re_find, re_match = ngx.re.find, ngx.re.match
  local find, match = fm.find, fm.match
  local rx_match, rx_status, rx_lit = fm.compile(P_MATCH), fm.compile(P_STATUS), fm.compile(P_LIT)
  local rx_find = fm.compile(P_FIND)
  local set = fm.set(WILD)
  local rxs = {}
  for i, w in ipairs(WILD) do rxs[i] = to_regex(w) end
  local out = {}
  local function put(k, v) out[#out + 1] = k .. " " .. tostring(v) end
  put("lines", N)
  put("rounds", rounds)
  put("jit", jit.version)
  put("ngx_lua", ngx.config.ngx_lua_version)
  put("nginx", ngx.config.nginx_version)
  put("ffi", F.active and "active" or ("off (" .. tostring(F.reason) .. ")"))
  -- the C API path beside the FFI one (the same as fm.* when it is off)
  local cfind, cmatch = F.c.find or find, F.c.match or match
  local cset_test = F.c.set_test or function(st, s) return st:test(s) end
  -- what bounds fm.find: one FFI call of the match on the cached object
  -- (no lookup, no results), against the anchored request line
  local exec = F.active and F.lib.fm_ffi_exec
  find(L[1], P_FIND)
  local r_find = require("fastmatch.core")._ffi_cached(P_FIND)

  -- each case's loop is its own chunk: LuaJIT compiles one root trace per
  -- loop, so a case never runs as a side trace of another case's loop
  local LOOP = "local L, N, f = ... return function() local c = 0 " ..
    "for i = 1, N do if f(L[i]) then c = c + 1 end end return c end"
  local function loop(f) return assert(loadstring(LOOP, "=loop"))(L, N, f) end
  local groups = {
    { "status find", {
      { name = "fm.find", fn = loop(function(s) return find(s, P_STATUS) end) },
      { name = "fm.compile:find", fn = loop(function(s) return rx_status:find(s) end) },
      { name = "fm.find C API", fn = loop(function(s) return cfind(s, P_STATUS) end) },
      { name = "ngx.re.find jo", fn = loop(function(s) return re_find(s, P_STATUS, "jo") end) } } },
    { "literal find", {
      { name = "fm.find", fn = loop(function(s) return find(s, P_LIT) end) },
      { name = "fm.compile:find", fn = loop(function(s) return rx_lit:find(s) end) },
      { name = "fm.find C API", fn = loop(function(s) return cfind(s, P_LIT) end) },
      { name = "ngx.re.find jo", fn = loop(function(s) return re_find(s, P_LIT, "jo") end) } } },
    { "request match", {
      { name = "fm.match", fn = loop(function(s) return match(s, P_MATCH) end) },
      { name = "fm.compile:match", fn = loop(function(s) return rx_match:match(s) end) },
      { name = "fm.match C API", fn = loop(function(s) return cmatch(s, P_MATCH) end) },
      { name = "ngx.re.match jo", fn = loop(function(s) return re_match(s, P_MATCH, "jo") end) } } },
    { "request find", {
      { name = "fm.find", fn = loop(function(s) return find(s, P_FIND) end) },
      { name = "fm.compile:find", fn = loop(function(s) return rx_find:find(s) end) },
      { name = "fm.find C API", fn = loop(function(s) return cfind(s, P_FIND) end) },
      F.active and { name = "fm_ffi_exec alone", fn = loop(function(s) return exec(r_find, s, #s, 0, nil, 0) > 0 end) },
      { name = "ngx.re.find jo", fn = loop(function(s) return re_find(s, P_FIND, "jo") end) } } },
    { "wildcard set", {
      { name = "fm.set:test", fn = loop(function(s) return set:test(s) end) },
      { name = "fm.set:test C API", fn = loop(function(s) return cset_test(set, s) end) },
      { name = "ngx.re.find joi loop", fn = loop(function(s)
          for k = 1, #rxs do if re_find(s, rxs[k], "joi") then return true end end
          return false
        end) } } },
  }
  for _, g in ipairs(groups) do
    local list = {}
    for _, c in ipairs(g[2]) do if c then list[#list + 1] = c end end -- cases that exist here
    local cases = compare(list, rounds)
    for _, c in ipairs(cases) do
      put(("case %s | %s"):format(g[1], c.name), ("%.1f %d"):format(c.seconds / N * 1e9, c.count))
    end
  end
  return table.concat(out, "\n") .. "\n"
end

return M

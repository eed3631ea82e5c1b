-- Real hosts: nginx with its Lua module (LuaJIT: libnginx-mod-http-lua, the
-- OpenResty module) and HAProxy (Lua 5.3), each started on a free loopback
-- port in a temporary prefix, asked over HTTP, and stopped after (also when
-- a case fails).  Every wait is bounded.  The configurations are the ones
-- docs/every-lua.md shows (spec/hosts/ holds their Lua files).
local C = require "spec.compat"
local H = require "spec.hosts.harness"
local fm = require "fastmatch"

local suite = os.getenv("FM_SUITE") or "default"
local K = require "spec.clone"

-- The hosts run their own Lua whatever runs busted: once per make test.
if suite ~= "default" then
  describe("hosts", function()
    it("run once, in the default suite", function()
      C.skip("the host specs run in the default suite only (this run: " .. suite .. ")")
    end)
  end)
  return
end

local LOG = [[10.0.0.5 - - [25/Nov/2026:10:00:00 +0000] "GET /cgi-bin/view?f=../../etc/passwd HTTP/1.1" 200 12]]
local PS = [[10.0.0.7 - - [25/Nov/2026:10:00:01 +0000] "POST /run?c=powershell.exe%20-enc%20SQBFAFgA HTTP/1.1" 200 3]]
local OK = [[10.0.0.9 - - [25/Nov/2026:10:00:02 +0000] "GET /index.html HTTP/1.1" 200 512]]

describe("nginx + lua-nginx-module (LuaJIT)", function()
  local host, why = nil, H.missing_nginx()

  setup(function()
    if why then return end
    host = H.nginx()        -- records what to stop before anything can fail
    host.start()
  end)
  teardown(function() if host then host.stop() end end)

  local function need()
    if why then C.skip("nginx host: " .. why); return false end
    assert(host and host.ready, host and host.failure or "nginx did not start")
    return true
  end

  it("loads fastmatch in the worker and says why it keeps LuaJIT's allocator", function()
    if not need() then return end
    local body, code = host.get("/info")
    assert.equal(200, code, body)
    local ver, jitver, ok, reason = body:match("^fastmatch (%S+) on (LuaJIT %S+) use_mimalloc=(%a+) (.-)\n$")
    assert(ver, body)
    assert.equal(fm.version, ver)
    assert.equal("false", ok)
    assert.matches("LuaJIT does not allow switching the allocator", reason, 1, true)
  end)

  it("answers with what the pattern set and the regex matched", function()
    if not need() then return end
    local body, code = host.post("/match", LOG)
    assert.equal(200, code, body)
    assert.matches("^ip=10%.0%.0%.5 method=GET path=/cgi%-bin/view%?f=%.%./%.%./etc/passwd rule=passwd read set=", body)
    body = host.post("/match", PS)
    assert.matches("ip=10.0.0.7 method=POST path=/run?c=powershell.exe%20-enc%20SQBFAFgA rule=encoded powershell", body, 1, true)
    body = host.post("/match", OK)
    assert.matches("ip=10.0.0.9 method=GET path=/index.html rule=none", body, 1, true)
  end)

  it("compiles the set once per worker: every request sees the same set", function()
    if not need() then return end
    local seen, n = {}, 0
    for _ = 1, 40 do
      local body, code = host.post("/match", OK)
      assert.equal(200, code, body)
      local set = assert(body:match("set=(%S+)"), body)
      if not seen[set] then seen[set] = true; n = n + 1 end
    end
    assert.equal(1, n) -- worker_processes 1
  end)
end)

describe("HAProxy (Lua 5.3): a converter and a fetch on fm.set / fm.compile", function()
  local host, why = nil, H.missing_haproxy()

  setup(function()
    if why then return end
    host = H.haproxy()
    host.start()
  end)
  teardown(function() if host then host.stop() end end)

  local function need()
    if why then C.skip("HAProxy host: " .. why); return false end
    assert(host and host.ready, host and host.failure or "haproxy did not start")
    return true
  end

  it("runs fastmatch on HAProxy's Lua 5.3", function()
    if not need() then return end
    local body, code = host.get("/info")
    assert.equal(200, code, body)
    assert.matches("fastmatch " .. fm.version:gsub("%.", "%%.") .. " on Lua 5%.3", body)
  end)

  it("the converter names the rule a header matches (lua.fm_rule)", function()
    if not need() then return end
    local body = host.get("/x", { ["X-Line"] = "privilege::debug sekurlsa::logonpasswords" })
    assert.matches("rule=mimikatz ", body, 1, true)
    body = host.get("/x", { ["X-Line"] = "nothing to see" })
    assert.matches("rule=none ", body, 1, true)
  end)

  it("the fetch classifies the path with a regex and a wildcard (lua.fm_path)", function()
    if not need() then return end
    assert.matches("path=api-v2\n", host.get("/api/v2/users"), 1, true)
    assert.matches("path=static\n", host.get("/assets/site.CSS"), 1, true)
    assert.matches("path=other\n", host.get("/index.html"), 1, true)
  end)
end)

-- The same specs from a clone in a fresh 0700 directory (mktemp -d; /root,
-- where root clones by default, is one): a host whose workers run as
-- another user could not read lua/ and build/ there (nginx: `module
-- 'fastmatch' not found`, every path listed, none readable).  The clone runs
-- this file with FM_IN_CLONE set, so it does not clone again.
if not os.getenv("FM_IN_CLONE") then
  describe("the host specs from a clone in a 0700 directory", function()
    it("pass there as they pass here", function()
      local why = H.missing_nginx() or H.missing_haproxy()
      if why then return C.skip("hosts: " .. why) end
      local c, cwhy = K.make({ builds = { "5.4", "luajit", "5.3" } })
      if not c then return C.skip(cwhy) end
      local _, mode = C.sh("stat -c %a " .. K.shq(c.parent))
      local ok, out = C.sh(("cd %s && %s FM_IN_CLONE=1 make --no-print-directory test-one SPECS=spec/hosts_spec.lua")
        :format(K.shq(c.dir), K.CLEAN))
      K.remove(c)
      assert.equal("700", (mode:gsub("%s+$", "")))
      assert(ok, out:sub(-3000))
      -- every host case ran there (none skipped), and passed
      assert.is_nil(out:match("SKIP[^\n]*"), out:sub(-3000))
      assert.matches("6 successes / 0 failures / 0 errors", out)
    end)
  end)
end

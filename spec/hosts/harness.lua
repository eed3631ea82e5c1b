-- spec/hosts/harness.lua: start nginx (with its Lua module) or HAProxy on a
-- free loopback port in a temporary prefix, talk HTTP to it with curl, and
-- stop it.  Used by spec/hosts_spec.lua and examples/bench_hosts.lua.
-- Every wait is bounded; stop() is safe to call at any time, and again.
local C = require "spec.compat"

local H = {}
H.root = os.getenv("FM_ROOT") or os.getenv("PWD")
local here = H.root .. "/spec/hosts"

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function exists(p)
  local f = io.open(p)
  if f then f:close() return true end
  return false
end
local function slurp(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
local function write(p, s)
  local f = assert(io.open(p, "wb"))
  f:write(s)
  f:close()
end
local function sleep(s) os.execute("sleep " .. s) end
local function have(cmd) return (C.sh("command -v " .. cmd .. " >/dev/null")) end

-- A port nothing listens on: the kernel's pick (LuaSocket), else a random
-- high port that `ss` does not list.
function H.free_port()
  local ok, socket = pcall(require, "socket")
  if ok and socket.bind then
    local s = socket.bind("127.0.0.1", 0)
    if s then
      local _, port = s:getsockname()
      s:close()
      if port then return tonumber(port) end
    end
  end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
  for _ = 1, 50 do
    local port = math.random(20000, 60000)
    local _, out = C.sh("ss -ltn 2>/dev/null | grep -c ':" .. port .. " '")
    if tonumber(out) == 0 or not have("ss") then return port end
  end
  error("no free port found")
end

-- The module for a host's Lua, built when missing (make LUA=...).
local function module_for(lua)
  local so = H.root .. "/build/" .. lua .. "/fastmatch/core.so"
  if not exists(so) then
    local ok, out = C.sh(("cd %s && MAKEFLAGS= MAKELEVEL= make --no-print-directory LUA=%s all")
      :format(shq(H.root), lua))
    if not ok then return nil, "make LUA=" .. lua .. " failed:\n" .. out end
  end
  return so
end

local NGINX_MODULES = { "/usr/lib/nginx/modules/ndk_http_module.so",
                        "/usr/lib/nginx/modules/ngx_http_lua_module.so" }

-- nil when nginx with its Lua module can run here, else why not.
function H.missing_nginx()
  if not have("nginx") then return "nginx is not installed (make deps installs it)" end
  for _, m in ipairs(NGINX_MODULES) do
    if not exists(m) then return m .. " is missing (make deps installs libnginx-mod-http-lua)" end
  end
  if not exists("/usr/share/lua/5.1/resty/core.lua") then
    return "lua-resty-core is not installed (make deps installs it)"
  end
  if not have("curl") then return "curl is not installed (make deps installs it)" end
  if not exists("/usr/include/luajit-2.1/lua.h") then
    return "LuaJIT's headers are missing (make deps installs libluajit2-5.1-dev)"
  end
  return nil
end

function H.missing_haproxy()
  if not have("haproxy") then return "haproxy is not installed (make deps installs it)" end
  if not have("curl") then return "curl is not installed (make deps installs it)" end
  if not exists("/usr/include/lua5.3/lua.h") then
    return "Lua 5.3's headers are missing (make deps installs liblua5.3-dev)"
  end
  return nil
end

-- The common part of a host: prefix, port, HTTP, stop.
local function new_host(name)
  local h = { name = name, ready = false }
  local prefix = os.tmpname()
  os.remove(prefix)
  h.prefix = prefix .. "-" .. name
  assert(C.sh("mkdir -p " .. shq(h.prefix) .. "/conf " .. shq(h.prefix) .. "/logs "
    .. shq(h.prefix) .. "/tmp " .. shq(h.prefix) .. "/lua"))
  h.port = H.free_port()
  h.url = "http://127.0.0.1:" .. h.port

  -- curl with a bound time (default 10 s): body, HTTP status (0 if none)
  function h.request(path, body, headers, timeout)
    local args = { "curl -s -S --max-time " .. (timeout or 10) .. " -o", shq(h.prefix .. "/resp"), "-w '%{http_code}'" }
    for k, v in pairs(headers or {}) do args[#args + 1] = "-H " .. shq(k .. ": " .. v) end
    if body then
      write(h.prefix .. "/req", body)
      args[#args + 1] = "--data-binary @" .. shq(h.prefix .. "/req")
    end
    args[#args + 1] = shq(h.url .. path)
    local _, out = C.sh(table.concat(args, " "))
    return slurp(h.prefix .. "/resp") or "", tonumber(out:match("(%d%d%d)%s*$")) or 0
  end
  function h.get(path, headers) return h.request(path, nil, headers) end
  function h.post(path, body, headers) return h.request(path, body, headers) end

  -- wait (at most ~10 s) until path answers 200
  function h.wait(path)
    for _ = 1, 100 do
      local _, code = h.get(path)
      if code == 200 then h.ready = true return true end
      if h.pid() and not C.sh("kill -0 " .. h.pid()) then break end
      sleep(0.1)
    end
    return false
  end

  function h.pid()
    local s = slurp(h.pidfile)
    return s and tonumber(s:match("%d+"))
  end

  -- TERM, wait up to 5 s, then KILL; remove the prefix
  function h.stop()
    if h.stopped then return end
    h.stopped = true
    local pid = h.pid()
    if pid then
      C.sh("kill -TERM " .. pid)
      for _ = 1, 50 do
        if not C.sh("kill -0 " .. pid) then pid = nil break end
        sleep(0.1)
      end
      if pid then C.sh("kill -KILL " .. pid) end
    end
    if not os.getenv("FM_KEEP_HOST") then C.sh("rm -rf " .. shq(h.prefix)) end
  end
  return h
end

local function fill(template, vars)
  return (template:gsub("@(%u+)@", function(k) return vars[k] or ("@" .. k .. "@") end))
end

-- The workers' `user` line: nginx started by root runs its workers as
-- nobody (Debian's package: www-data in its own nginx.conf), and they could
-- not read the clone when it sits in a directory only its owner can enter
-- (/root, mktemp -d).  The workers run as the user running the suite, as a
-- deployment runs them as a user that can read what they load
-- (docs/hosts.md).  Not root: nginx ignores the directive (with a warning),
-- the workers are that user anyway.
function H.nginx_user()
  local _, uid = C.sh("id -u")
  if tonumber(uid) ~= 0 then return "" end
  local _, user = C.sh("id -un")
  local _, group = C.sh("id -gn")
  return ("user %s %s;"):format(user:gsub("%s+$", ""), group:gsub("%s+$", ""))
end

-- nginx with libnginx-mod-http-lua.  opts.extra: server-block text added to
-- the configuration; opts.lua: { [name] = source } modules for the worker.
function H.nginx(opts)
  opts = opts or {}
  local h = new_host("nginx")
  h.pidfile = h.prefix .. "/logs/nginx.pid"
  function h.start()
    local so, err = module_for("luajit")
    if not so then h.failure = err return false end
    local vars = { ROOT = H.root, PREFIX = h.prefix, PORT = tostring(h.port), EXTRA = opts.extra or "",
                   USER = H.nginx_user() }
    write(h.prefix .. "/conf/nginx.conf", fill(slurp(here .. "/nginx.conf"), vars))
    write(h.prefix .. "/lua/fm_rules.lua", slurp(here .. "/fm_rules.lua"))
    for name, src in pairs(opts.lua or {}) do write(h.prefix .. "/lua/" .. name .. ".lua", src) end
    local ok, out = C.sh(("nginx -p %s/ -c conf/nginx.conf -e logs/error.log"):format(shq(h.prefix)))
    if not ok then h.failure = "nginx did not start:\n" .. out return false end
    if not h.wait("/ping") then
      h.failure = "nginx did not answer on " .. h.url .. ":\n" .. (slurp(h.prefix .. "/logs/error.log") or "")
      return false
    end
    return true
  end
  function h.errors() return slurp(h.prefix .. "/logs/error.log") or "" end
  return h
end

-- HAProxy with lua-load.
function H.haproxy()
  local h = new_host("haproxy")
  h.pidfile = h.prefix .. "/haproxy.pid"
  function h.start()
    local so, err = module_for("5.3")
    if not so then h.failure = err return false end
    local vars = { ROOT = H.root, PREFIX = h.prefix, PORT = tostring(h.port) }
    write(h.prefix .. "/haproxy.cfg", fill(slurp(here .. "/haproxy.cfg"), vars))
    write(h.prefix .. "/fm_haproxy.lua", fill(slurp(here .. "/fm_haproxy.lua"), vars))
    local ok, out = C.sh(("haproxy -D -p %s -f %s"):format(shq(h.pidfile), shq(h.prefix .. "/haproxy.cfg")))
    if not ok then h.failure = "haproxy did not start:\n" .. out return false end
    if not h.wait("/info") then h.failure = "haproxy did not answer on " .. h.url .. ":\n" .. out return false end
    return true
  end
  return h
end

return H

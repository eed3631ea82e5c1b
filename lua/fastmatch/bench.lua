-- fastmatch.bench: the one timing harness for benchmarks and experiments.
-- Times with warm-up and the median of N runs, compares cases side by side
-- in one run (ratios of medians), and measures memory (fm.memstats, or the
-- peak RSS of a child process).  Never fails a build: it reports.
local fm = require "fastmatch"

local B = {}

-- This file loads on every Lua fastmatch builds for (5.1-5.4, LuaJIT): no
-- //, no bitwise operators; math.type where the version has one (before
-- 5.3, an integral number counts as an integer).
local mathtype = math.type or function(x)
  if type(x) ~= "number" then return nil end
  return (x == math.floor(x) and x > -math.huge and x < math.huge) and "integer" or "float"
end

-- `--quick` anywhere in the script's arguments selects the smoke-run sizes.
B.quick = false
for _, a in ipairs(arg or {}) do
  if a == "--quick" then B.quick = true end
end

B.now = fm.now

-- n unless quick, then q (default: n / 100, at least 1)
function B.size(n, q)
  if B.quick then return q or math.max(1, math.floor(n / 100)) end
  return n
end

local function median(xs)
  local t = {}
  for i, x in ipairs(xs) do t[i] = x end
  table.sort(t)
  local n = #t
  local h = math.floor(n / 2) -- (no // : this file loads on Lua 5.1 too)
  if n % 2 == 1 then return t[h + 1] end
  return (t[h] + t[h + 1]) / 2
end
B.median = median

-- B.time(fn [, opts]) -> median seconds of one call of fn, samples
-- opts.runs (default 5, quick 1), opts.warmup (default 1, quick 0).
-- fn does the whole loop; divide by the iteration count for per-op figures.
function B.time(fn, opts)
  opts = opts or {}
  local runs = opts.runs or (B.quick and 1 or 5)
  local warm = opts.warmup or (B.quick and 0 or 1)
  for _ = 1, warm do fn() end
  local samples = {}
  for i = 1, runs do
    collectgarbage()
    local t0 = fm.now()
    fn()
    samples[i] = fm.now() - t0
  end
  return median(samples), samples
end

-- B.compare(title, cases [, opts]) -> results
-- cases: array of { name = "...", fn = function() ... end, n = iterations }.
-- Cases are interleaved run by run, so a noisy moment hurts all of them
-- alike.  Prints ns/op (when n is given) and, for each later case, how many
-- times faster the first case is (this case's median / the first's).
-- Each result (res[i] and res[name]): name, seconds (median wall), samples,
-- n, ns_op, speedup, cpu (median os.clock seconds), cpu_ns_op, cpu_speedup.
-- opts: runs, warmup, silent.
function B.compare(title, cases, opts)
  opts = opts or {}
  local runs = opts.runs or (B.quick and 1 or 5)
  local warm = opts.warmup or (B.quick and 0 or 1)
  local samples = {}
  for i, c in ipairs(cases) do
    samples[i] = {}
    for _ = 1, warm do c.fn() end
  end
  local cpu = {}
  for i = 1, #cases do cpu[i] = {} end
  for r = 1, runs do
    for i, c in ipairs(cases) do
      collectgarbage()
      local c0, t0 = os.clock(), fm.now()
      c.fn()
      samples[i][r] = fm.now() - t0
      cpu[i][r] = os.clock() - c0
    end
  end
  local res = {}
  local base, cbase = median(samples[1]), median(cpu[1])
  if title then print(("-- %s"):format(title)) end
  for i, c in ipairs(cases) do
    local m = median(samples[i])
    local r = { name = c.name, seconds = m, samples = samples[i], n = c.n,
                ns_op = c.n and m / c.n * 1e9 or nil,
                speedup = base > 0 and m > 0 and m / base or nil }
    -- CPU time (os.clock) beside wall time: on a shared machine it is the
    -- steadier of the two for single-threaded work
    r.cpu = median(cpu[i])
    r.cpu_ns_op = c.n and r.cpu / c.n * 1e9 or nil
    r.cpu_speedup = cbase > 0 and r.cpu > 0 and r.cpu / cbase or nil
    res[i] = r
    res[c.name] = r
    if not opts.silent then
      print(("   %-52s %10.4f s%s%s"):format(c.name, m,
        r.ns_op and ("  %9.1f ns/op"):format(r.ns_op) or "",
        i > 1 and r.speedup and ("  baseline is %.2fx faster"):format(r.speedup) or "  (baseline)"))
    end
  end
  return res
end

-- B.memory(fn) -> bytes the Lua heap grew by while fn's result is alive
-- (full collections before and after), the result, and fm.memstats() taken
-- then (peak_rss etc.).  fn returns what to keep alive for the measurement.
function B.memory(fn)
  -- collect until nothing more is freed: an object finalized in one cycle
  -- is freed in the next, and its finalizer may leave more garbage
  local last
  repeat
    last = collectgarbage("count")
    collectgarbage()
  until collectgarbage("count") >= last
  local base = collectgarbage("count")
  local keep = fn()
  collectgarbage(); collectgarbage()
  local grown = (collectgarbage("count") - base) * 1024
  local m = fm.memstats()
  return grown, keep, m
end

-- The line experiments print about how B.compare timed them.
function B.cpu_note(runs)
  return ("timing: CPU time (os.clock) per op, median of %d interleaved runs"):format(runs or (B.quick and 1 or 3))
end

-- ratio of two medians (a / b); nil when b is 0
function B.ratio(a, b)
  if not b or b == 0 then return nil end
  return a / b
end

-- Run a shell command; return its stdout, and its peak RSS in bytes when
-- GNU time is available (/usr/bin/time -v), else nil; then ok, how, code
-- as io.popen's close gives them, and everything GNU time reported (the
-- child's getrusage: "Voluntary context switches" = 12, ...) as a table.
function B.run(cmd)
  local tmp = os.tmpname()
  local timed = io.open("/usr/bin/time", "r")
  if timed then timed:close() end
  local full = timed and ("/usr/bin/time -v -o %s %s"):format(tmp, cmd) or cmd
  -- 5.1 and LuaJIT's pclose gives no exit status: the shell prints it
  local nostatus = _VERSION == "Lua 5.1"
  if nostatus then full = "( " .. full .. " ); printf '\\n__fm_exit_status=%d' $?" end
  local p = assert(io.popen(full))
  local out = p:read("*a")
  local ok, how, code = p:close()
  if nostatus then
    local o, c = out:match("^(.*)\n__fm_exit_status=(%d+)$")
    if o then
      out, code = o, tonumber(c)
      ok, how = code == 0 or nil, "exit"
    end
  end
  local peak, usage
  local f = io.open(tmp, "r")
  if f then
    local t = f:read("*a")
    f:close()
    local kb = t:match("Maximum resident set size %(kbytes%): (%d+)")
    peak = kb and tonumber(kb) * 1024
    usage = {}
    for k, v in t:gmatch("\n%s*([^:\n]+): ([^\n]*)") do usage[k] = tonumber(v) or v end
  end
  os.remove(tmp)
  return out, peak, ok, how, code, usage
end

-- The Lua interpreter running this script, with the flags to reach the
-- tree's build in a child process (LUA_PATH_5_4 / LUA_CPATH_5_4 are
-- inherited from the environment make sets).
function B.lua()
  local i, exe = 0, nil
  while arg and arg[i] do exe = arg[i]; i = i - 1 end
  return exe or "lua5.4"
end

-- This Lua's name for reports ("Lua 5.4", "LuaJIT 2.1.0-beta3"), and the
-- environment variables its interpreter reads the module paths from.
B.lua_version = rawget(_G, "jit") and jit.version or _VERSION
B.path_var = _VERSION == "Lua 5.1" and "LUA_PATH" or "LUA_PATH_" .. _VERSION:match("%d+%.%d+"):gsub("%.", "_")
B.cpath_var = B.path_var:gsub("LUA_PATH", "LUA_CPATH")

-- Human-readable byte count.
function B.bytes(n)
  if not n then return "n/a" end
  local units = { "B", "KiB", "MiB", "GiB" }
  local u = 1
  while n >= 1024 and u < #units do n = n / 1024; u = u + 1 end
  return ("%.1f %s"):format(n, units[u])
end

-- A short description of the machine, for reports.
function B.machine()
  local cpu = "unknown CPU"
  local f = io.open("/proc/cpuinfo")
  if f then
    for line in f:lines() do
      local m = line:match("^model name%s*:%s*(.+)")
      if m then cpu = m; break end
    end
    f:close()
  end
  local cores = 0
  f = io.open("/proc/cpuinfo")
  if f then
    for line in f:lines() do if line:match("^processor") then cores = cores + 1 end end
    f:close()
  end
  return ("%s, %d cores, %s, fastmatch %s (%s)"):format(cpu, cores, B.lua_version,
    fm.version, fm.allocator)
end


-- ------------------------------------------------------------ experiments
-- What examples/NN_*.lua and examples/run_all.lua share: child processes,
-- verdicts, the result object, and the JSON / Markdown / SVG writers.

-- The clone this file was loaded from (it holds the Makefile), or nil when
-- fastmatch is installed elsewhere.
local function tree_root()
  local src = debug.getinfo(1, "S").source
  local dir = src:match("^@(.*)/lua/fastmatch/bench%.lua$")
  if not dir and src:match("^@lua/fastmatch/bench%.lua$") then dir = "." end
  if not dir then return nil end
  local f = io.open(dir .. "/Makefile")
  if not f then return nil end
  f:close()
  return dir
end
B.root = tree_root()

-- A string quoted for /bin/sh.
function B.shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Is `cmd` on PATH?
function B.have(cmd)
  local ok = os.execute("command -v " .. B.shq(cmd) .. " >/dev/null 2>&1")
  return ok == true or ok == 0 -- 0: 5.1 and LuaJIT
end

-- The "key=value" lines of a child's output, values converted to numbers
-- where they are numbers.
function B.kv(out)
  local t = {}
  for k, v in tostring(out or ""):gmatch("([%w_]+)=([^\t\n]*)") do
    t[k] = tonumber(v) or v
  end
  return t
end

-- B.child(code [, opts]) -> out, peak_rss, ok, kv, exitcode, usage
-- Runs Lua source `code` in a fresh interpreter that sees the same
-- package.path/cpath as this process (so it loads the same fastmatch), with
-- stdout and stderr together in `out`; peak_rss from /usr/bin/time when
-- installed.  opts.flags: interpreter flags ("-l fastmatch.mimalloc");
-- opts.cpath: a directory holding fastmatch/core.so to load instead (a
-- build variant); opts.args: arguments for the script; opts.prefix: a
-- command to run the interpreter under ("heaptrack -o x", "perf stat");
-- opts.timeout: seconds (default 600); opts.env: {NAME = value} for the
-- child's environment.  kv: the child's key=value lines;
-- usage: what GNU time reported (see B.run).
function B.child(code, opts)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(code)
  f:close()
  local out, peak, ok, kv, code_, usage = B.script(file, opts)
  os.remove(file)
  return out, peak, ok, kv, code_, usage
end

-- B.script(path [, opts]) -> the same as B.child, for a script file.
function B.script(file, opts)
  opts = opts or {}
  local cpath = package.cpath
  if opts.cpath then cpath = opts.cpath .. "/?.so;" .. cpath end
  local timeout = ""
  if B.have("timeout") then timeout = ("timeout %d "):format(opts.timeout or 600) end
  local env = ""
  if opts.env then
    local names = {}
    for k in pairs(opts.env) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do env = env .. ("%s=%s "):format(k, B.shq(opts.env[k])) end
  end
  local cmd = ("env %s%s=%s %s=%s %s%s%s %s %s %s 2>&1"):format(
    env, B.path_var, B.shq(package.path), B.cpath_var, B.shq(cpath), timeout, opts.prefix and (opts.prefix .. " ") or "",
    B.shq(B.lua()), opts.flags or "", B.shq(file), opts.args or "")
  local out, peak, ok, _, code, usage = B.run(cmd)
  return out, peak, ok, B.kv(out), code, usage
end

-- B.judge(measured, lo [, hi]) -> "confirmed" | "weaker" | "stronger"
-- A claim "lo..hi times better" is confirmed by a measurement within a
-- factor 3 of the range AND within half/double of its logarithm (so that
-- "20-30% faster" needs 1.10x-1.69x, "~100x" needs 33x-300x).
function B.judge(measured, lo, hi)
  hi = hi or lo
  local l = math.log
  local low = math.max(lo / 3, math.exp(l(lo) / 2))
  local high = math.min(hi * 3, math.exp(l(hi) * 2))
  if lo <= 1 then low = lo / 3 end
  if hi <= 1 then high = hi * 3 end
  if measured < low then return "weaker" end
  if measured > high then return "stronger" end
  return "confirmed"
end

-- B.judge_significant(measured, kind) -> verdict for a pull request that
-- claims a "significant" gain: confirmed by at least 2x the speed ("speed")
-- or 30% less memory ("memory": a ratio of 1/0.7); weaker below.
function B.judge_significant(measured, kind)
  local need = kind == "memory" and 1 / 0.7 or 2
  if measured >= need then return "confirmed" end
  return "weaker"
end

-- "not applicable here": the technique or the tool is missing here; "not
-- measured here": the data the claim is about is missing here (SigmaHQ's
-- rules, for an in-run result), and why says how to point at it.  Neither
-- is a verdict on the claim; neither carries numbers.
B.VERDICTS = { confirmed = true, weaker = true, stronger = true,
               ["not applicable here"] = true, ["not measured here"] = true }
B.NO_VERDICT = { ["not applicable here"] = true, ["not measured here"] = true }

-- Short number for tables: 3 significant figures, no exponent below 1e6.
function B.fmt(x)
  if type(x) ~= "number" then return "n/a" end
  if x ~= x then return "nan" end
  local a = math.abs(x)
  if a >= 1e6 then return ("%.3g"):format(x) end
  if a >= 100 then return ("%.0f"):format(x) end
  if a >= 10 then return ("%.1f"):format(x) end
  if a >= 0.01 or a == 0 then return ("%.2f"):format(x) end
  return ("%.2g"):format(x)
end

-- Serialise plain data (nil, booleans, numbers, strings, tables without
-- cycles) as one line of Lua source, for a parent process to load.
local function ser(v, out)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = '"' .. v:gsub('[%c"\\\128-\255]', function(c)
      return ("\\%03d"):format(c:byte())
    end) .. '"'
  elseif t == "number" then
    if v ~= v then out[#out + 1] = "(0/0)"
    elseif v == math.huge then out[#out + 1] = "(1/0)"
    elseif v == -math.huge then out[#out + 1] = "(-1/0)"
    elseif mathtype(v) == "integer" then out[#out + 1] = ("%d"):format(v)
    else out[#out + 1] = ("%.17g"):format(v) end
  elseif t == "boolean" or t == "nil" then
    out[#out + 1] = tostring(v)
  elseif t == "table" then
    out[#out + 1] = "{"
    local n = #v
    for i = 1, n do ser(v[i], out); out[#out + 1] = "," end
    local keys = {}
    for k in pairs(v) do
      if not (mathtype(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
      out[#out + 1] = "["; ser(k, out); out[#out + 1] = "]="; ser(v[k], out); out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  else
    error("cannot serialise a " .. t)
  end
  return out
end
function B.serialize(v) return table.concat(ser(v, {})) end

-- Load what B.serialize wrote (no environment: data only).
function B.deserialize(s)
  local f, err
  if setfenv then -- 5.1, LuaJIT
    f, err = loadstring("return " .. s, "=result")
    if f then setfenv(f, {}) end
  else
    f, err = load("return " .. s, "=result", "t", {})
  end
  if not f then return nil, err end
  local ok, v = pcall(f)
  if not ok then return nil, v end
  return v
end

-- JSON text of plain data; tables with only 1..n keys become arrays (an
-- empty table becomes []), NaN and infinities become null.
local function json(v, out, ind)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = '"' .. v:gsub('[%c"\\]', function(c)
      local m = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\t'] = '\\t', ['\r'] = '\\r' }
      return m[c] or ("\\u%04x"):format(c:byte())
    end) .. '"'
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then out[#out + 1] = "null"
    elseif mathtype(v) == "integer" then out[#out + 1] = ("%d"):format(v)
    else out[#out + 1] = ("%.17g"):format(v) end
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "nil" then out[#out + 1] = "null"
  elseif t == "table" then
    local n, count = #v, 0
    for _ in pairs(v) do count = count + 1 end
    local pad, pad2 = "\n" .. ind, "\n" .. ind .. "  "
    if count == n then
      if n == 0 then out[#out + 1] = "[]"; return out end
      out[#out + 1] = "["
      for i = 1, n do
        out[#out + 1] = pad2; json(v[i], out, ind .. "  ")
        if i < n then out[#out + 1] = "," end
      end
      out[#out + 1] = pad .. "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        out[#out + 1] = pad2; json(k, out, ""); out[#out + 1] = ": "; json(val, out, ind .. "  ")
        if i < #keys then out[#out + 1] = "," end
      end
      out[#out + 1] = pad .. "}"
    end
  else
    error("cannot write a " .. t .. " as JSON")
  end
  return out
end
function B.json(v) return table.concat(json(v, {}, "")) end

-- Versions of what the measurements depend on.
function B.versions()
  local v = { lua = B.lua_version, fastmatch = fm.version, allocator = fm.allocator }
  local cpu, cores = "unknown CPU", 0
  local f = io.open("/proc/cpuinfo")
  if f then
    for line in f:lines() do
      local m = line:match("^model name%s*:%s*(.+)")
      if m and cpu == "unknown CPU" then cpu = m end
      if line:match("^processor") then cores = cores + 1 end
    end
    f:close()
  end
  v.cpu, v.cores = cpu, cores
  local mv = fm.mimalloc_version
  if type(mv) == "number" then
    v.mimalloc = ("%d.%d.%d"):format(math.floor(mv / 100), math.floor(mv / 10) % 10, mv % 10)
  end
  -- the PCRE2 fastmatch links (its rex face reports it), else lrexlib's
  for _, name in ipairs({ "fastmatch.rex", "rex_pcre2" }) do
    local ok, rex = pcall(require, name)
    if ok and type(rex) == "table" and type(rex.version) == "function" then
      local good, ver = pcall(rex.version)
      if good and type(ver) == "string" then v.pcre2 = ver; break end
    end
  end
  if not v.pcre2 then
    local p = io.popen("pkg-config --modversion libpcre2-8 2>/dev/null")
    if p then v.pcre2 = p:read("*l"); p:close() end
  end
  v.pcre2 = v.pcre2 or "unknown"
  v.mimalloc = v.mimalloc or "none"
  return v
end

-- One line naming the machine and the versions.
function B.machine_line(v)
  v = v or B.versions()
  return ("%s, %d cores; %s; PCRE2 %s; mimalloc %s; fastmatch %s (%s)"):format(
    v.cpu, v.cores, v.lua, v.pcre2, v.mimalloc, v.fastmatch, v.allocator)
end

-- Does this build have fm.<name> for every name?  -> true | false, missing
function B.has(...)
  local missing = {}
  for _, name in ipairs({ ... }) do
    if fm[name] == nil then missing[#missing + 1] = "fastmatch." .. name end
  end
  if #missing > 0 then return false, table.concat(missing, ", ") end
  return true
end

-- The workspace's SigmaHQ-derived data ($FM_SHARED, else ../shared beside
-- the clone: data/sigma/NAME.lua), loaded with dofile: -> table, or nil and
-- why (a user's clone has none).
function B.sigma(name)
  local env = os.getenv("FM_SHARED")
  local base = env and env ~= "" and env or (B.root or ".") .. "/../shared"
  local path = base .. "/data/sigma/" .. name .. ".lua"
  local f = io.open(path)
  if not f then return nil, path .. " not found (only in the project's workspace)" end
  f:close()
  local ok, t = pcall(dofile, path)
  if not ok or type(t) ~= "table" then return nil, "cannot load " .. path .. ": " .. tostring(t) end
  return t
end

B.MARK = "@@fastmatch-result "

-- Check a result object; -> true | false, what is wrong.
function B.check_result(r)
  if type(r) ~= "table" then return false, "not a table" end
  if mathtype(r.id) ~= "integer" or r.id < 1 then return false, "id" end
  for _, k in ipairs({ "title", "claim", "verdict", "why" }) do
    if type(r[k]) ~= "string" or r[k] == "" then return false, k .. " is not a non-empty string" end
  end
  if not B.VERDICTS[r.verdict] then return false, "verdict " .. r.verdict end
  local na = B.NO_VERDICT[r.verdict]
  for _, side in ipairs({ "before", "after" }) do
    local s = r[side]
    if type(s) ~= "table" then return false, side .. " is not a table" end
    if type(s.unit) ~= "string" or type(s.what) ~= "string" then
      return false, side .. ".unit/what"
    end
    if not na and type(s.value) ~= "number" then return false, side .. ".value" end
  end
  if not na and type(r.ratio) ~= "number" then return false, "ratio" end
  if r.ratio ~= nil and type(r.ratio) ~= "number" then return false, "ratio" end
  if r.in_run ~= nil then
    if type(r.in_run) ~= "table" then return false, "in_run is not an array" end
    for i, x in ipairs(r.in_run) do
      if type(x) == "table" and x.in_run ~= nil then return false, "in_run nested" end
      local ok, what = B.check_result(x)
      if not ok then return false, ("in_run[%d]: %s"):format(i, what) end
      if type(x.pr) ~= "string" or x.pr == "" then return false, ("in_run[%d]: pr"):format(i) end
    end
  end
  return true
end

-- B.experiment(meta, body) -> result
-- meta: id, title, claim (the guide's words), claim_value (the claim as a
-- number in the unit of `metric`, nil for a method), metric (what
-- `measured` counts: "x faster", "x less memory", "MB saved"), needs (names
-- of fastmatch functions the "after" uses: when one is missing, the
-- verdict is "not applicable here" and body is not run).
-- body(B) returns before = {value=, unit=, what=}, after = {...}, ratio
-- (before / after: how many times better "after" is), measured (the figure
-- compared with claim_value; default ratio), verdict (default: B.judge),
-- why (one line), details (more lines, printed and kept).
-- Prints the result for a reader and, on one line after B.MARK, for
-- run_all.lua.  Numbers come only from body: nothing is written in.
function B.experiment(meta, body)
  local t0 = fm.now()
  local r = { id = meta.id, title = meta.title, claim = meta.claim,
              claim_value = meta.claim_value, metric = meta.metric or "x better",
              quick = B.quick }
  print(("== %02d %s (%s)"):format(meta.id, meta.title, B.quick and "quick" or "full"))
  print("   guide: " .. meta.claim)
  local ok, missing = B.has((table.unpack or unpack)(meta.needs or {}))
  local res
  if not ok then
    res = { verdict = "not applicable here", why = missing .. " not built yet",
            before = { unit = meta.unit or "s", what = meta.before or "before" },
            after = { unit = meta.unit or "s", what = meta.after or "after" } }
  else
    local good, err = pcall(body, B)
    if not good then
      res = { verdict = "not applicable here", why = "failed: " .. tostring(err):gsub("\n.*", ""),
              before = { unit = meta.unit or "s", what = meta.before or "before" },
              after = { unit = meta.unit or "s", what = meta.after or "after" } }
      io.stderr:write(("experiment %d failed: %s\n"):format(meta.id, tostring(err)))
    else
      res = err
    end
  end
  for k, v in pairs(res) do r[k] = v end
  if r.measured == nil then r.measured = r.ratio end
  if r.verdict == nil then
    if r.claim_value and r.measured then
      r.verdict = B.judge(r.measured, meta.claim_lo or r.claim_value, meta.claim_hi or r.claim_value)
    else
      r.verdict = "confirmed"
    end
  end
  r.why = r.why or ""
  r.seconds = fm.now() - t0
  for _, d in ipairs(r.details or {}) do print("   " .. d) end
  if r.before.value then
    print(("   before: %s %s  (%s)"):format(B.fmt(r.before.value), r.before.unit, r.before.what))
    print(("   after:  %s %s  (%s)"):format(B.fmt(r.after.value), r.after.unit, r.after.what))
  end
  print(("   measured: %s %s%s -> %s: %s"):format(B.fmt(r.measured), r.metric,
    r.claim_value and (" (claim " .. B.fmt(r.claim_value) .. ")") or "", r.verdict, r.why))
  if meta.in_run then
    io.stdout:flush()
    r.in_run = { B.in_run(meta, meta.in_run) }
  end
  print(B.MARK .. B.serialize(r))
  io.stdout:flush()
  return r
end

-- B.in_run(meta, ir) -> the in-run result: the pull request's claim
-- reproduced on a whole detection run (examples/inrun.lua).  ir: pr (the
-- pull request, "#777"), claim (its words), claim_value / claim_lo /
-- claim_hi and metric as in meta, or significant = "speed" | "memory" (a
-- "significant" claim: confirmed by 2x, or 30% less memory), needs, and
-- body(B) returning before, after, ratio, measured, why, details, and
-- optionally verdict (as for B.experiment).  Same fields as a result, plus
-- pr; a failure is "not applicable here", never a crash.
function B.in_run(meta, ir)
  local t0 = fm.now()
  local r = { id = meta.id, title = meta.title, pr = ir.pr, claim = ir.claim,
              claim_value = ir.claim_value, metric = ir.metric or meta.metric or "x better",
              quick = B.quick, significant = ir.significant }
  print(("-- in our run: %s, %s"):format(ir.pr, ir.claim))
  io.stdout:flush()
  local res
  local ok, missing = B.has(table.unpack(ir.needs or {}))
  if not ok then
    res = { verdict = "not applicable here", why = missing .. " not built yet" }
  else
    local good, err = pcall(ir.body, B)
    if not good then
      res = { verdict = "not applicable here", why = "failed: " .. tostring(err):gsub("\n.*", "") }
      io.stderr:write(("experiment %d, in-run result failed: %s\n"):format(meta.id, tostring(err)))
    else
      res = err
    end
  end
  res.before = res.before or { unit = "", what = "before" }
  res.after = res.after or { unit = "", what = "after" }
  for k, v in pairs(res) do r[k] = v end
  if r.measured == nil then r.measured = r.ratio end
  if r.verdict == nil then
    if type(r.measured) ~= "number" then
      r.verdict = "not applicable here"
      r.why = r.why or "nothing measured"
    elseif ir.significant then
      r.verdict = B.judge_significant(r.measured, ir.significant)
    elseif r.claim_value then
      r.verdict = B.judge(r.measured, ir.claim_lo or r.claim_value, ir.claim_hi or r.claim_value)
    else
      r.verdict = "confirmed"
    end
  end
  r.why = r.why or ""
  r.seconds = fm.now() - t0
  for _, d in ipairs(r.details or {}) do print("   " .. d) end
  if r.before.value then
    print(("   before: %s %s  (%s)"):format(B.fmt(r.before.value), r.before.unit, r.before.what))
    print(("   after:  %s %s  (%s)"):format(B.fmt(r.after.value), r.after.unit, r.after.what))
  end
  if B.NO_VERDICT[r.verdict] then
    print(("   in-run: %s (%s): %s"):format(r.verdict, r.pr, r.why))
    return r
  end
  print(("   in-run measured: %s %s (%s: %s) -> %s: %s"):format(B.fmt(r.measured), r.metric, r.pr,
    r.significant and ("significant, confirmed from " .. (r.significant == "memory" and "30% less memory" or "2x")) or
    (r.claim_value and ("claim " .. B.fmt(r.claim_value)) or "a method"), r.verdict, r.why))
  return r
end

-- The in-run result of an experiment (the first), or nil.
local function in_run_of(r)
  return type(r.in_run) == "table" and r.in_run[1] or nil
end
B.in_run_of = in_run_of

-- The result object in a child's output, or nil, why.
function B.find_result(out)
  local line = tostring(out or ""):match(B.MARK:gsub("%p", "%%%0") .. "([^\n]*)")
  if not line then return nil, "no result line" end
  return B.deserialize(line)
end

-- ------------------------------------------------------------ reports

local function esc_md(s)
  return (tostring(s):gsub("|", "\\|"):gsub("\n", " "))
end

-- A Markdown report: a table, one row per experiment, and the machine.
function B.markdown(results, versions, opts)
  opts = opts or {}
  local o = {}
  o[#o + 1] = "| # | experiment | guide's claim | before | after | measured | verdict | why | in our detection run: pull request's claim -> measured, verdict |"
  o[#o + 1] = "|---|---|---|---|---|---|---|---|---|"
  for _, r in ipairs(results) do
    local function side(s)
      if not s or s.value == nil then return "—" end
      return ("%s %s"):format(B.fmt(s.value), s.unit)
    end
    local name = esc_md(r.title)
    if opts.link and r.script then name = ("[%s](%s%s)"):format(name, opts.link, r.script) end
    local m = r.measured and ("%s %s"):format(B.fmt(r.measured), r.metric or "") or "—"
    local ir = in_run_of(r)
    local irs = "—"
    if ir then
      irs = ("%s %s -> %s: %s (%s -> %s; %s)"):format(ir.pr, esc_md(ir.claim),
        ir.measured and (B.fmt(ir.measured) .. " " .. (ir.metric or "")) or "n/a", ir.verdict,
        side(ir.before), side(ir.after), esc_md(ir.why or ""))
    end
    o[#o + 1] = ("| %d | %s | %s | %s | %s | %s | %s | %s | %s |"):format(r.id, name, esc_md(r.claim),
      side(r.before), side(r.after), m, r.verdict, esc_md(r.why or ""), irs)
  end
  if versions then
    o[#o + 1] = ""
    o[#o + 1] = "Machine: " .. B.machine_line(versions) .. "."
  end
  return table.concat(o, "\n") .. "\n"
end

-- The same table for a terminal.
function B.text_table(results)
  local o = {}
  o[#o + 1] = ("%-3s %-40s %-26s %-28s %-20s %s"):format("#", "experiment", "claim", "measured", "verdict", "why")
  local function irline(r)
    local ir = in_run_of(r)
    if not ir then return nil end
    local claim = ir.significant and ("significant (" .. ir.significant .. ")") or
      (ir.claim_value and (B.fmt(ir.claim_value) .. " " .. (ir.metric or "")) or "(a method)")
    local m = ir.measured and (B.fmt(ir.measured) .. " " .. (ir.metric or "")) or "n/a"
    return ("%-3s %-40s %-26s %-28s %-20s %s"):format("", ("  in our run (" .. ir.pr .. ")"):sub(1, 40),
      claim:sub(1, 26), m:sub(1, 28), ir.verdict, ir.why or "")
  end
  for _, r in ipairs(results) do
    local claim = r.claim_value and (B.fmt(r.claim_value) .. " " .. (r.metric or "")) or "(a method)"
    local m = r.measured and (B.fmt(r.measured) .. " " .. (r.metric or "")) or "n/a"
    o[#o + 1] = ("%-3d %-40s %-26s %-28s %-20s %s"):format(r.id, r.title:sub(1, 40), claim:sub(1, 26),
      m:sub(1, 28), r.verdict, r.why or "")
    o[#o + 1] = irline(r)
  end
  return table.concat(o, "\n")
end

local function xml(s)
  return (tostring(s):gsub("[<>&\"]", { ["<"] = "&lt;", [">"] = "&gt;", ["&"] = "&amp;", ['"'] = "&quot;" }))
end

-- An SVG bar chart, log scale: per experiment the guide's claim (grey) and
-- the measurement (coloured by verdict), each in the experiment's metric;
-- below them, when the experiment has an in-run result, the pull request's
-- claim (light grey; for a "significant" claim its threshold) and the
-- in-run measurement (the verdict's colour, lighter).  Titles are wrapped,
-- never cut.
function B.svg(results, versions)
  local function claim_of(ir)
    if ir.significant then return ir.significant == "memory" and 1 / 0.7 or 2 end
    return ir.claim_value
  end
  local lo, hi = math.huge, -math.huge
  for _, r in ipairs(results) do
    local vals = { r.claim_value, r.measured }
    local ir = in_run_of(r)
    if ir then vals[#vals + 1] = claim_of(ir); vals[#vals + 1] = ir.measured end
    for _, v in pairs(vals) do
      if type(v) == "number" and v > 0 and v < math.huge then
        lo = math.min(lo, v); hi = math.max(hi, v)
      end
    end
  end
  if lo == math.huge then lo, hi = 1, 10 end
  local d0 = math.floor(math.log(math.min(lo, 1), 10))
  local d1 = math.ceil(math.log(math.max(hi, 10), 10))
  if d1 <= d0 then d1 = d0 + 1 end
  local left, top, barh, width = 330, 50, 12, 560
  -- words wrapped into lines of at most `w` characters
  local function wrap(text, w)
    local lines, cur = {}, ""
    for word in tostring(text):gmatch("%S+") do
      if cur ~= "" and #cur + 1 + #word > w then lines[#lines + 1] = cur; cur = word
      else cur = cur == "" and word or (cur .. " " .. word) end
    end
    if cur ~= "" then lines[#lines + 1] = cur end
    return lines
  end
  local rows, h = {}, top
  for i, r in ipairs(results) do
    local title = wrap(("%02d %s"):format(r.id, r.title), 46)
    local bars = in_run_of(r) and 4 or 2
    local rh = math.max(bars * barh + 10, #title * 14 + 8)
    rows[i] = { y = h, title = title, rh = rh }
    h = h + rh
  end
  h = h + 75
  local W = left + width + 340
  local function x(v) return left + (math.log(v, 10) - d0) / (d1 - d0) * width end
  local colour = { confirmed = "#2e7d32", weaker = "#c62828", stronger = "#1565c0",
                   ["not applicable here"] = "#9e9e9e", ["not measured here"] = "#9e9e9e" }
  local o = {}
  o[#o + 1] = ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">'):format(W, h)
  o[#o + 1] = ('<rect width="%d" height="%d" fill="white"/>'):format(W, h)
  o[#o + 1] = ('<text x="10" y="20" font-size="15" font-weight="bold">fastmatch: the guide\'s claims (grey) vs measured here (colour), log scale</text>')
  if versions then
    o[#o + 1] = ('<text x="10" y="38" font-size="10" fill="#555">%s</text>'):format(xml(B.machine_line(versions)))
  end
  local bottom = h - 60
  for d = d0, d1 do
    local xx = x(10 ^ d)
    o[#o + 1] = ('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>'):format(xx, top - 5, xx, bottom)
    o[#o + 1] = ('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>'):format(xx, bottom + 15,
      10 ^ d >= 1 and ("%.0f"):format(10 ^ d) or ("%g"):format(10 ^ d))
  end
  local x1 = x(1)
  -- bars grow from 1 (no change): right for a gain, left for a loss
  local function bar(v, yy, fill, title, opacity)
    local xv = x(v)
    o[#o + 1] = ('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"%s><title>%s</title></rect>'):format(
      math.min(x1, xv) - (math.abs(xv - x1) < 2 and 1 or 0), yy, math.max(2, math.abs(xv - x1)), barh, fill,
      opacity and (' fill-opacity="%.2f"'):format(opacity) or "", xml(title))
    return math.max(x1, xv)
  end
  local function measured(r, y, opacity, label)
    if type(r.measured) == "number" and r.measured > 0 and r.measured < math.huge then
      local xm = bar(r.measured, y, colour[r.verdict] or "#000", r.why or "", opacity)
      o[#o + 1] = ('<text x="%.1f" y="%d" font-size="11">%s%s %s, %s%s</text>'):format(xm + 4, y + barh - 2,
        label, B.fmt(r.measured), xml(r.metric or ""), xml(r.verdict), (r.claim_value or r.significant) and "" or " (method)")
    else
      o[#o + 1] = ('<text x="%.1f" y="%d" font-size="11" fill="#555">%s%s</text>'):format(x1 + 4, y + barh - 2,
        label, xml(r.verdict .. ": " .. (r.why or "")))
    end
  end
  for i, r in ipairs(results) do
    local row = rows[i]
    local y = row.y
    for k, line in ipairs(row.title) do
      o[#o + 1] = ('<text x="%d" y="%d" text-anchor="end">%s</text>'):format(left - 8, y + 14 * k, xml(line))
    end
    if type(r.claim_value) == "number" and r.claim_value > 0 then
      bar(r.claim_value, y + 2, "#bdbdbd", "claim: " .. r.claim)
    end
    measured(r, y + 2 + barh, nil, "")
    local ir = in_run_of(r)
    if ir then
      local c = claim_of(ir)
      if type(c) == "number" and c > 0 then
        bar(c, y + 2 + 2 * barh, "#e0e0e0", ir.pr .. ": " .. ir.claim)
      end
      measured(ir, y + 2 + 3 * barh, 0.55, "in our run (" .. ir.pr .. "): ")
    end
  end
  o[#o + 1] = ('<text x="%d" y="%d" fill="#555">in each row\'s metric (times better, or MB saved), log scale, bars from 1 = no change. ' ..
    'Grey: the guide\'s claim; green confirmed, red weaker, blue stronger.</text>'):format(10, h - 30)
  o[#o + 1] = ('<text x="%d" y="%d" fill="#555">Lighter pair: the pull request\'s claim (light grey; a "significant" one as its threshold, 2x or 30%% less memory) ' ..
    'and the same technique off vs on in a whole detection run.</text>'):format(10, h - 14)
  o[#o + 1] = "</svg>"
  return table.concat(o, "\n") .. "\n"
end

return B

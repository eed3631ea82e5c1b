-- fastmatch.bench: the one timing harness for benchmarks and experiments.
-- Times with warm-up and the median of N runs, compares cases side by side
-- in one run (ratios of medians), and measures memory (fm.memstats, or the
-- peak RSS of a child process).  Never fails a build: it reports.
local fm = require "fastmatch"

local B = {}

-- `--quick` anywhere in the script's arguments selects the smoke-run sizes.
B.quick = false
for _, a in ipairs(arg or {}) do
  if a == "--quick" then B.quick = true end
end

B.now = fm.now

-- n unless quick, then q (default: n / 100, at least 1)
function B.size(n, q)
  if B.quick then return q or math.max(1, n // 100) end
  return n
end

local function median(xs)
  local t = {}
  for i, x in ipairs(xs) do t[i] = x end
  table.sort(t)
  local n = #t
  if n % 2 == 1 then return t[(n + 1) // 2] end
  return (t[n // 2] + t[n // 2 + 1]) / 2
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
function B.compare(title, cases, opts)
  opts = opts or {}
  local runs = opts.runs or (B.quick and 1 or 5)
  local warm = opts.warmup or (B.quick and 0 or 1)
  local samples = {}
  for i, c in ipairs(cases) do
    samples[i] = {}
    for _ = 1, warm do c.fn() end
  end
  for r = 1, runs do
    for i, c in ipairs(cases) do
      collectgarbage()
      local t0 = fm.now()
      c.fn()
      samples[i][r] = fm.now() - t0
    end
  end
  local res = {}
  local base = median(samples[1])
  if title then print(("-- %s"):format(title)) end
  for i, c in ipairs(cases) do
    local m = median(samples[i])
    local r = { name = c.name, seconds = m, samples = samples[i], n = c.n,
                ns_op = c.n and m / c.n * 1e9 or nil,
                speedup = base > 0 and m > 0 and m / base or nil }
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

-- ratio of two medians (a / b); nil when b is 0
function B.ratio(a, b)
  if not b or b == 0 then return nil end
  return a / b
end

-- Run a shell command; return its stdout, and its peak RSS in bytes when
-- GNU time is available (/usr/bin/time -v), else nil.
function B.run(cmd)
  local tmp = os.tmpname()
  local timed = io.open("/usr/bin/time", "r")
  if timed then timed:close() end
  local full = timed and ("/usr/bin/time -v -o %s %s"):format(tmp, cmd) or cmd
  local p = assert(io.popen(full))
  local out = p:read("a")
  local ok, how, code = p:close()
  local peak
  local f = io.open(tmp, "r")
  if f then
    local t = f:read("a")
    f:close()
    local kb = t:match("Maximum resident set size %(kbytes%): (%d+)")
    peak = kb and tonumber(kb) * 1024
  end
  os.remove(tmp)
  return out, peak, ok, how, code
end

-- The Lua interpreter running this script, with the flags to reach the
-- tree's build in a child process (LUA_PATH_5_4 / LUA_CPATH_5_4 are
-- inherited from the environment make sets).
function B.lua()
  local i, exe = 0, nil
  while arg and arg[i] do exe = arg[i]; i = i - 1 end
  return exe or "lua5.4"
end

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
  return ("%s, %d cores, %s, fastmatch %s (%s)"):format(cpu, cores, _VERSION,
    fm.version, fm.allocator)
end

return B

-- Benchmark: the whole Lua state on mimalloc (`lua5.4 -l fastmatch.mimalloc`)
-- against Lua's default allocator (glibc realloc/free), on three workloads run
-- as child processes side by side: allocation churn, string building, table
-- cloning.  Prints wall time (median of runs), the ratio, and peak RSS.
--
--   lua5.4 examples/bench_alloc.lua [--quick]
--   lua5.4 examples/bench_alloc.lua --workload churn|strings|clone [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local quick = false
local workload
for i, a in ipairs(arg) do
  if a == "--quick" then quick = true end
  if a == "--workload" then workload = arg[i + 1] end
end

local W = {}

-- Millions of short-lived small tables and strings, with a live set of ~50 k
-- that keeps being replaced (a detection pipeline's per-event records).
function W.churn(scale)
  local live, LIVE = {}, 50000
  local n = 1500000 * scale
  for i = 1, n do
    local rec = { id = i, name = "evt" .. (i % 977), tags = { i, i + 1 } }
    live[i % LIVE + 1] = rec
  end
  return #live
end

-- Build many strings piece by piece (log formatting).
function W.strings(scale)
  local total = 0
  for i = 1, 200000 * scale do
    local parts = {}
    for j = 1, 8 do parts[j] = "field" .. j .. "=" .. (i * j) end
    total = total + #table.concat(parts, " ")
  end
  return total
end

-- Clone tables of records (copying per use).
function W.clone(scale)
  local src = {}
  for i = 1, 1000 do src[i] = { i, tostring(i), { x = i } } end
  local sum = 0
  for _ = 1, 300 * scale do
    local copy = {}
    for i, r in ipairs(src) do copy[i] = { r[1], r[2], { x = r[3].x } } end
    sum = sum + #copy
  end
  return sum
end

if workload then
  local fm = require "fastmatch"
  local scale = quick and 0.02 or 1
  local t0 = fm.now()
  W[workload](scale)
  io.write(("%.6f %s\n"):format(fm.now() - t0, fm.memstats().lua_allocator))
  os.exit(0)
end

local B = require "fastmatch.bench"
local fm = require "fastmatch"
local lua = B.lua()
local me = arg[0]
print(("fastmatch allocator benchmark on %s"):format(B.machine()))
print(("mimalloc %s; default allocator: the libc realloc/free of Lua's lauxlib"):format(
  fm.mimalloc_version and tostring(fm.mimalloc_version) or "not built in"))
if not fm.mimalloc_version then
  print("SKIP: fastmatch was built with MIMALLOC=0; nothing to compare")
  return
end

local runs = quick and 1 or 5
local goals = { churn = "goal >= 2x", strings = "reported honestly", clone = "reported honestly" }
for _, name in ipairs { "churn", "strings", "clone" } do
  local t = { default = {}, mimalloc = {} }
  local rss = {}
  for _ = 1, runs do
    for _, v in ipairs { "default", "mimalloc" } do
      local flag = v == "mimalloc" and "-l fastmatch.mimalloc " or ""
      local out, peak = B.run(("env LUA_PATH_5_4=%s LUA_CPATH_5_4=%s %s %s%s --workload %s%s")
        :format(B.shq(package.path), B.shq(package.cpath), lua, flag, me, name,
          quick and " --quick" or ""))
      local secs, which = out:match("^(%S+) (%S+)")
      assert(which == v, "child reported allocator " .. tostring(which) .. ", wanted " .. v)
      t[v][#t[v] + 1] = tonumber(secs)
      rss[v] = math.max(rss[v] or 0, peak or 0)
    end
  end
  local d, m = B.median(t.default), B.median(t.mimalloc)
  print(("%-8s default %8.3f s  mimalloc %8.3f s  mimalloc is %.2fx faster (%s)   peak RSS %s vs %s")
    :format(name, d, m, d / m, goals[name], B.bytes(rss.default), B.bytes(rss.mimalloc)))
end

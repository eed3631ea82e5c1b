-- Experiment 1 -- "Change the memory allocator": the guide swapped Rust's
-- default allocator for mimalloc and got 20-30% more speed.  Here: the same
-- allocation-heavy Lua workload in two fresh interpreters, one on the
-- default allocator (glibc malloc through Lua's l_alloc) and one switched
-- to mimalloc with `lua5.4 -l fastmatch.mimalloc`; runs interleaved, median.
--   lua5.4 examples/01_allocator.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"

-- Churn: short-lived small tables and strings around a live set of 50 k
-- objects (an event pipeline's shape: parse, tag, drop).
local WORKLOAD = [[
local fm = require "fastmatch"
local n = tonumber(arg[1])
local live, LIVE = {}, 50000
local t0 = fm.now()
for i = 1, n do
  local rec = { id = i, host = "host" .. (i % 97), msg = "event " .. i, tags = { "a", "b" } }
  live[i % LIVE + 1] = rec
  if i % 3 == 0 then live[(i * 7) % LIVE + 1] = tostring(i) .. rec.host end
end
print(("seconds=%.6f"):format(fm.now() - t0))
print("lua_allocator=" .. tostring(fm.memstats().lua_allocator))
]]

local R = dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "inrun.lua")

-- In our run (#777): the whole hunt (load the rules, scan the stream, write
-- the timeline) in a fresh interpreter, default allocator vs mimalloc.
local function in_run()
  local fm = require "fastmatch"
  if fm.allocator ~= "mimalloc" then
    return { verdict = "not applicable here", why = "fastmatch built with MIMALLOC=0" }
  end
  local na = R.unavailable() -- no engine, or no SigmaHQ rules: no in-run result
  if na then return na end
  local path = R.stream()
  local rules, what = R.rules_dir()
  local hunt = R.here .. "../bin/fastmatch-hunt"
  local args = ("--rules %s -o /dev/null %s"):format(B.shq(rules), B.shq(path))
  local runs = B.quick and 1 or 2
  local t = { default = {}, mimalloc = {} }
  local peak, summary, loaded = {}, nil, nil
  for _ = 1, runs do
    for _, case in ipairs({ "default", "mimalloc" }) do
      local t0 = fm.now()
      local out, pk, good, _, code = B.script(hunt, { flags = case == "mimalloc" and "-l fastmatch.mimalloc" or "",
                                                       args = args })
      local dt = fm.now() - t0
      if not good then error(("hunt failed (exit %s): %s"):format(tostring(code), out:sub(-300))) end
      t[case][#t[case] + 1] = dt
      peak[case] = math.max(peak[case] or 0, pk or 0)
      summary = summary or out:match("Elapsed time: [^\n]*")
      loaded = loaded or out:match("Rules: ([%d,]+) loaded")
    end
  end
  local a, b = B.median(t.default), B.median(t.mimalloc)
  return {
    before = { value = a, unit = "s", what = "lua5.4 bin/fastmatch-hunt, Lua's default allocator" },
    after = { value = b, unit = "s", what = "lua5.4 -l fastmatch.mimalloc bin/fastmatch-hunt" },
    ratio = a / b,
    why = ("the whole hunt (rules loaded, stream scanned, timeline written) %.2fx the speed on mimalloc (peak RSS %s vs %s)"):format(
      a / b, B.bytes(peak.default ~= 0 and peak.default or nil), B.bytes(peak.mimalloc ~= 0 and peak.mimalloc or nil)),
    details = { R.describe(nil, (loaded and (loaded .. " rules, ") or "") .. what),
      ("%d runs each, interleaved, wall time of the child; medians %.2f s vs %.2f s"):format(runs, a, b),
      summary and ("hunt said: " .. summary) or nil },
  }
end

return B.experiment({
  id = 1, title = "Change the memory allocator",
  claim = "mimalloc instead of the default allocator: 20-30% faster",
  claim_value = 1.25, claim_lo = 1.2, claim_hi = 1.3, metric = "x faster",
  in_run = { pr = "#777", claim = "mimalloc for the whole process: 20-30% faster", claim_value = 1.25,
             claim_lo = 1.2, claim_hi = 1.3, metric = "x faster", body = in_run },
}, function()
  if not require("fastmatch.mimalloc") then error("fastmatch.mimalloc missing") end
  local fm = require "fastmatch"
  if fm.allocator ~= "mimalloc" then
    return { verdict = "not applicable here", why = "fastmatch built with MIMALLOC=0",
             before = { unit = "s", what = "default allocator" },
             after = { unit = "s", what = "mimalloc" } }
  end
  local n = B.size(300000, 60000)
  local runs = B.quick and 1 or 3
  local t = { default = {}, mimalloc = {} }
  local peak = {}
  local state
  for _ = 1, runs do
    for _, case in ipairs({ "default", "mimalloc" }) do
      local flags = case == "mimalloc" and "-l fastmatch.mimalloc" or ""
      local out, pk, ok, kv = B.child(WORKLOAD, { flags = flags, args = tostring(n) })
      if not ok or not kv.seconds then error("child failed: " .. out) end
      t[case][#t[case] + 1] = kv.seconds
      peak[case] = math.max(peak[case] or 0, pk or 0)
      if case == "mimalloc" then state = kv.lua_allocator end
    end
  end
  if state ~= "mimalloc" then error("the child's Lua state did not switch (" .. tostring(state) .. ")") end
  local a, b = B.median(t.default), B.median(t.mimalloc)
  local ratio = a / b
  return {
    before = { value = a, unit = "s", what = ("%d records of churn, default allocator"):format(n) },
    after = { value = b, unit = "s", what = "the same with lua5.4 -l fastmatch.mimalloc" },
    ratio = ratio,
    why = ("mimalloc %.2fx the speed of glibc malloc for Lua's own allocations (peak RSS %s vs %s)"):format(
      ratio, B.bytes(peak.default ~= 0 and peak.default or nil), B.bytes(peak.mimalloc ~= 0 and peak.mimalloc or nil)),
    details = { ("%d runs each, interleaved; medians %.3f s vs %.3f s"):format(runs, a, b) },
  }
end)

-- Experiment 8 -- "Avoid unnecessary clones": the guide stopped cloning
-- records that were only read, for up to 50% less memory.  Here: 
-- detections keep the event they fired on; before, each detection holds a
-- deep copy of the event (tables copied, long strings duplicated with
-- s:sub(1), as String::clone does); after, it holds a reference to the one
-- event.  Measured: the Lua heap (collectgarbage("count")) and build time.
-- Lua strings are immutable and passed by reference, so in Lua only an
-- explicit copy clones; tables are what Lua code usually copies "to be safe".
--   lua5.4 examples/08_clones.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"
local fm = require "fastmatch"

local function clone(v)
  if type(v) == "table" then
    local t = {}
    for k, x in pairs(v) do t[k] = clone(x) end
    return t
  elseif type(v) == "string" and #v > 40 then
    return v:sub(1) -- a new copy (short strings are interned: no copy is possible)
  end
  return v
end

-- events: real Sigma regression events when available, else generated
local function events()
  local ev, why = B.sigma("sigma_events")
  local out = {}
  if ev then
    local nf = 0
    for i, e in ipairs(ev) do
      local f = {}
      for k, v in pairs(e.fields) do f[k] = v; nf = nf + 1 end
      out[i] = f
    end
    return out, ("%d Sigma regression events (%.0f fields on average)"):format(#out, nf / #out)
  end
  for i = 1, 200 do
    out[i] = { Channel = "Security", EventID = tostring(4600 + i % 50), Computer = "host" .. i % 7,
               CommandLine = ("C:\\Windows\\system32\\cmd.exe /c echo %d %s"):format(i, ("x"):rep(120)),
               Image = "C:\\Windows\\system32\\cmd.exe", User = "CORP\\user" .. i }
  end
  return out, "200 generated events (" .. why .. ")"
end

local R = dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "inrun.lua")

-- In our run (#782): every detection of the run kept until the end (as a
-- timeline is sorted before it is written), each holding its event: before,
-- a deep copy of the decoded event per detection; after, a reference to it.
-- Measured: the Lua heap the detections hold once the scan is done.
local function in_run()
  local na = R.unavailable() -- no engine, or no SigmaHQ rules: no in-run result
  if na then return na end
  local eng, info = R.engine()
  local path = R.stream()
  R.warm(eng, path)
  local function run(copy)
    local st
    local grown, det = B.memory(function()
      local det = {}
      st = R.detect(eng, path, function(ev, rule, n)
        det[#det + 1] = { rule = rule, line = n, event = copy and clone(ev) or ev }
      end)
      return det
    end)
    return grown, #det, st
  end
  local mb, nb = run(true)
  local ma, na, st = run(false)
  assert(nb == na, "the two runs kept different detections")
  return {
    before = { value = mb / 2 ^ 20, unit = "MiB", what = ("%d detections, each with a deep copy of its event"):format(nb) },
    after = { value = ma / 2 ^ 20, unit = "MiB", what = "the same, each referencing its event" },
    ratio = mb / ma,
    why = ("%d detections on %d events (%.2f a firing event): %.0f vs %.0f bytes a detection, %.0f%% less"):format(
      na, st.fired, na / math.max(st.fired, 1), mb / na, ma / na, (1 - ma / mb) * 100),
    details = { R.describe(nil, info), "Lua heap (collectgarbage('count')) held by the detections after the scan" },
  }
end

return B.experiment({
  id = 8, title = "Avoid unnecessary clones",
  claim = "pass references instead of cloning: up to 50% less memory",
  claim_value = 2, claim_lo = 1.5, claim_hi = 2, metric = "x less memory",
  in_run = { pr = "#782", claim = "references instead of clones: \"significant\" memory", significant = "memory",
             metric = "x less memory", body = in_run },
}, function()
  local EV, src = events()
  local n = B.size(200000, 4000)
  local function build(copy)
    collectgarbage(); collectgarbage()
    local base = collectgarbage("count")
    local t0 = fm.now()
    local det = {}
    for i = 1, n do
      local e = EV[i % #EV + 1]
      det[i] = { rule = i % 500, level = "high", event = copy and clone(e) or e }
    end
    local dt = fm.now() - t0
    collectgarbage(); collectgarbage()
    local kb = collectgarbage("count") - base
    assert(#det == n)
    det = nil
    collectgarbage()
    return kb * 1024, dt
  end
  local mb_b, tb = build(true)
  local mb_a, ta = build(false)
  local ratio = mb_b / mb_a
  return {
    before = { value = mb_b / 2 ^ 20, unit = "MiB", what = ("%d detections, each with a deep copy of its event"):format(n) },
    after = { value = mb_a / 2 ^ 20, unit = "MiB", what = "the same, each referencing the shared event" },
    ratio = ratio,
    why = ("%.0f%% less Lua heap (building took %.2f s vs %.2f s); the guide's 50%% is what its mix of clones cost"):format(
      (1 - mb_a / mb_b) * 100, tb, ta),
    details = { "events: " .. src },
  }
end)

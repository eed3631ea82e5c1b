-- Experiment 2 -- "Reduce IO processing in loops": the guide moved a file
-- read out of a loop that ran once per record (~1000x faster).  Here: for
-- each record, check its user name against an allow-list file of 200 names;
-- before, the list is opened, read and parsed inside the loop; after, once
-- outside the loop, then only the lookup remains.  Per-record cost, medians.
--   lua5.4 examples/02_io_in_loop.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"

local R = dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "inrun.lua")

-- In our run (#858): every detection passes a level filter read from a
-- tuning file (min level, then "rule id,level" overrides for 300 rules, as
-- Hayabusa's level tuning); before, the file is opened, read and parsed per
-- detection; after, once before the scan.
local function in_run()
  local na = R.unavailable() -- no engine, or no SigmaHQ rules: no in-run result
  if na then return na end
  local H = R.hunt()
  local eng, info = R.engine()
  local path = R.stream()
  local tuning = R.workdir() .. "/level_tuning.txt"
  local f = assert(io.open(tuning, "w"))
  f:write("min_level,low\n")
  for i = 1, math.min(300, #eng.rules) do
    local r = eng.rules[(i * 7919) % #eng.rules + 1]
    f:write(("%s,%s\n"):format(tostring(r.id), H.LEVELS[i % 5 + 1]))
  end
  f:close()
  local function load_tuning(p)
    local t, min = {}, 1
    for line in io.lines(p) do
      local id, level = line:match("^([^,]*),(%a+)$")
      if id == "min_level" then min = H.RANK[level] or 1 elseif id then t[id] = level end
    end
    return t, min
  end
  local kept = {}
  local function keep(t, min, rule)
    local level = t[rule.id] or rule.level
    return (H.RANK[level] or 1) >= min
  end
  local stats = {}
  local res = B.compare(nil, {
    { name = "tuning file read per detection", fn = function()
      local n = 0
      stats[1] = R.detect(eng, path, function(_, rule)
        local t, min = load_tuning(tuning)
        if keep(t, min, rule) then n = n + 1 end
      end)
      kept[1] = n
    end },
    { name = "tuning file read once", fn = function()
      local n = 0
      local t, min = load_tuning(tuning)
      stats[2] = R.detect(eng, path, function(_, rule)
        if keep(t, min, rule) then n = n + 1 end
      end)
      kept[2] = n
    end },
  }, { silent = true, runs = B.quick and 1 or 3, warmup = 0 })
  assert(kept[1] == kept[2], "the two runs kept different detections")
  local b, a = res[1].cpu, res[2].cpu
  local st = stats[2]
  local _, sinfo = R.stream()
  return {
    before = { value = b, unit = "s", what = ("the detection run, level tuning file read per detection (%d detections)"):format(st.hits) },
    after = { value = a, unit = "s", what = "the same, file read once" },
    ratio = b / a,
    why = ("%d detections in %d events, %d kept: re-reading costs %.1f us a detection, %.0f%% of the run"):format(
      st.hits, sinfo.events, kept[2], (b - a) / math.max(st.hits, 1) * 1e6, (b - a) / b * 100),
    details = { R.describe(nil, info), B.cpu_note() },
  }
end

return B.experiment({
  id = 2, title = "Reduce IO processing in loops",
  claim = "read the file once outside the loop instead of once per iteration: ~1000x faster",
  claim_value = 1000, metric = "x faster",
  in_run = { pr = "#858", claim = "the file read once, not per detection: ~20% faster", claim_value = 1.2,
             metric = "x faster", body = in_run },
}, function()
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  for i = 1, 200 do f:write(("user%03d\n"):format(i * 7)) end
  f:close()

  local function load_list(p)
    local set = {}
    for line in io.lines(p) do set[line] = true end
    return set
  end

  local records = {}
  for i = 1, 1000 do records[i] = ("user%03d"):format(i) end

  local n_before = B.size(20000, 500)
  local n_after = B.size(2000000, 50000)
  local hits_b, hits_a = 0, 0
  local res = B.compare(nil, {
    { name = "open+read+parse per record", n = n_before, fn = function()
      local hits = 0
      for i = 1, n_before do
        local allowed = load_list(path)
        if allowed[records[i % 1000 + 1]] then hits = hits + 1 end
      end
      hits_b = hits
    end },
    { name = "read once, look up per record", n = n_after, fn = function()
      local allowed = load_list(path)
      local hits = 0
      for i = 1, n_after do
        if allowed[records[i % 1000 + 1]] then hits = hits + 1 end
      end
      hits_a = hits
    end },
  }, { silent = true, runs = B.quick and 1 or 3 })
  os.remove(path)
  assert(hits_b > 0 and hits_a > 0, "no allow-list hits: the loops did no lookups")
  local b, a = res[1].cpu_ns_op, res[2].cpu_ns_op
  return {
    before = { value = b / 1000, unit = "us/record", what = ("io.lines of a 200-line file inside the loop, %d records"):format(n_before) },
    after = { value = a / 1000, unit = "us/record", what = ("the file read once, %d records (load included)"):format(n_after) },
    ratio = b / a,
    why = ("a table lookup (%.0f ns) instead of open+read+parse (%.1f us) per record"):format(a, b / 1000),
    details = { B.cpu_note() },
  }
end)

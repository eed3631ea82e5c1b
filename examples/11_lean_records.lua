-- Experiment 11 -- "Delete unnecessary fields in long-lived structures":
-- the guide dropped a field that its 1.5 M detection records kept but
-- never used, saving ~300 MB.  Here: 1.5 M detection records (time, rule,
-- level, computer, channel, event id) built in a fresh interpreter with
-- and without the field such records tend to drag along: the event's
-- whole text (every field, "Name: value ¦ ..."), from the Sigma regression
-- events when available.  Measured: the Lua heap.  In Lua, a record's
-- table grows its hash part in powers of two, so removing one field saves
-- that field's value always, and the table's slot only across a boundary.
--   lua5.4 examples/11_lean_records.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"

local CHILD = [==[
local with, n, texts = arg[1] == "with", tonumber(arg[2]), dofile(arg[3])
local function heap() collectgarbage(); collectgarbage(); return collectgarbage("count") * 1024 end
local base = heap()
local recs = {}
for i = 1, n do
  local t = texts[i % #texts + 1]
  local r = { time = 1700000000 + i, rule = "rule-" .. i % 2000, level = "high",
              computer = t.computer, channel = t.channel, event_id = t.event_id }
  -- each record owns its copy, as a struct field does (Lua would share
  -- one string between records otherwise; the record number makes it own)
  if with then r.all_fields = i .. " " .. t.text end
  recs[i] = r
end
print("bytes=" .. (heap() - base))
]==]

local function texts()
  local ev, why = B.sigma("sigma_events")
  local out = {}
  if ev then
    for _, e in ipairs(ev) do
      local names = {}
      for k in pairs(e.fields) do names[#names + 1] = k end
      table.sort(names)
      local parts = {}
      for _, k in ipairs(names) do parts[#parts + 1] = k .. ": " .. tostring(e.fields[k]) end
      out[#out + 1] = { text = table.concat(parts, " ¦ "), computer = e.fields.Computer or "",
                        channel = e.fields.Channel or "", event_id = e.fields.EventID or "" }
    end
    return out, ("the %d Sigma regression events"):format(#out)
  end
  for i = 1, 200 do
    out[i] = { text = ("Channel: Security ¦ EventID: 4688 ¦ CommandLine: cmd.exe /c echo %d %s"):format(i, ("x"):rep(600)),
               computer = "host" .. i % 7, channel = "Security", event_id = "4688" }
  end
  return out, "200 generated events (" .. why .. ")"
end

local R = dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "inrun.lua")

-- In our run (#837, #894): the run's detection records (hunt's fields) kept
-- until the end, with vs without the event's full text (every field,
-- "Name: value ¦ ...", as Hayabusa's AllFieldInfo); each record owns its
-- text, as a struct field does.  Measured: the Lua heap; the saving a
-- record, scaled to 1.5 M detections.
local function in_run()
  local na = R.unavailable() -- no engine, or no SigmaHQ rules: no in-run result
  if na then return na end
  local H = R.hunt()
  local sigma = require "fastmatch.sigma"
  local flatten = sigma.flatten
  local eng, info = R.engine()
  local path = R.stream()
  local text_bytes = 0
  local function all_fields(f)
    local names = {}
    for k, v in pairs(f) do if type(v) == "string" then names[#names + 1] = k end end
    table.sort(names)
    local parts = {}
    for i, k in ipairs(names) do parts[i] = k .. ": " .. f[k] end
    return table.concat(parts, " ¦ ")
  end
  R.warm(eng, path)
  local function run(with)
    local last, f
    local grown, recs = B.memory(function()
      local recs = {}
      R.detect(eng, path, function(ev, rule)
        if ev ~= last then last, f = ev, flatten(ev) end
        local r = H.record(ev, f, rule)
        r.details = nil
        if with then
          local t = all_fields(f)
          -- the record's own copy (Lua would share one string between the
          -- detections of an event otherwise; a struct owns its String)
          r.all_fields = #recs .. " " .. t
          text_bytes = text_bytes + #t
        end
        recs[#recs + 1] = r
      end)
      return recs
    end)
    return grown, #recs
  end
  local mb, nb = run(true)
  local ma, na = run(false)
  assert(nb == na, "the two runs kept different records")
  local saved = (mb - ma) / na * 1.5e6
  return {
    before = { value = mb / 2 ^ 20, unit = "MiB", what = ("%d detection records with the event's full text"):format(nb) },
    after = { value = ma / 2 ^ 20, unit = "MiB", what = "the same records without it" },
    ratio = mb / ma,
    measured = saved / 1e6,
    why = ("%.0f bytes saved a record (the text averages %.0f bytes), %.0f MB on 1.5 M detections"):format(
      (mb - ma) / na, text_bytes / nb, saved / 1e6),
    details = { R.describe(nil, info), ("%d detections, scaled to 1.5 M"):format(na) },
  }
end

return B.experiment({
  id = 11, title = "Delete unnecessary fields in long-lived structures",
  in_run = { pr = "#837, #894", claim = "records without the event's full text: -300 MB on 1.5 M detections",
             claim_value = 300, metric = "MB saved on 1.5 M", body = in_run },
  claim = "dropping one unused field saved ~300 MB on 1.5 M records",
  claim_value = 300, metric = "MB saved on 1.5 M", unit = "MiB",
}, function()
  local T, src = texts()
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(B.serialize(T):gsub("^", "return "), "\n")
  f:close()
  local n = B.size(1500000, 15000)
  local got, avg = {}, 0
  for _, t in ipairs(T) do avg = avg + #t.text end
  avg = avg / #T
  for _, with in ipairs({ "with", "without" }) do
    local out, _, ok, kv = B.child(CHILD, { args = ("%s %d %s"):format(with, n, B.shq(file)) })
    if not ok or not kv.bytes then os.remove(file); error(with .. " failed: " .. out:sub(-300)) end
    got[with] = kv.bytes
  end
  os.remove(file)
  local saved = (got.with - got.without) * 1500000 / n
  return {
    before = { value = got.with / 2 ^ 20, unit = "MiB", what = ("%d records with the unused all_fields text"):format(n) },
    after = { value = got.without / 2 ^ 20, unit = "MiB", what = "the same records without it" },
    ratio = got.with / got.without,
    measured = saved / 1e6,
    why = ("%.0f bytes saved a record (the field's text averages %.0f bytes), %.0f MB on 1.5 M records"):format(
      (got.with - got.without) / n, avg, saved / 1e6),
    details = { "texts: " .. src, n ~= 1500000 and ("quick run: %d records, scaled to 1.5 M"):format(n) or nil },
  }
end)

-- Experiment 10 -- "compact_str for short strings": the guide stored short
-- strings inline (24 bytes, no heap block) for ~50% less memory.  Lua
-- already treats short strings specially: every string of up to 40 bytes
-- is interned (one copy per distinct value), but each distinct one is still
-- its own GC object (24-byte header + bytes + malloc's rounding), and a
-- table slot costs 16 bytes more.  The Lua analogue of an inline string is
-- a fixed-width column: all values packed into one Lua string, 24 bytes a
-- slot (length byte + up to 23 bytes; longer values go to a side table).
-- Measured: the Lua heap for 3 M distinct short strings each way (the
-- guide's 10 M scaled down to keep the whole run short: the cost per string
-- does not depend on the count), and for 3 M values drawn from 1000
-- distinct ones (where interning already wins).
--   lua5.4 examples/10_compact_strings.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"

-- Each representation is built in a fresh interpreter, so one measurement
-- never sees another's leftovers (Lua's string table shrinks lazily).
local CHILD = [==[
local W = 24
local kind, how, n = arg[1], arg[2], tonumber(arg[3])
local value
if kind == "distinct" then
  value = function(i) return ("user%07d@corp"):format(i) end
else
  value = function(i) return ("svc-%03d"):format(i % 1000) end
end
-- A column of short strings in one Lua string; get(i) returns value i.
local function column()
  local parts, chunk, long = {}, {}, {}
  local pad = ("\0"):rep(W)
  for i = 1, n do
    local v = value(i)
    if #v < W then
      chunk[#chunk + 1] = string.char(#v) .. v .. pad:sub(1, W - 1 - #v)
    else
      long[i] = v
      chunk[#chunk + 1] = "\255" .. pad:sub(1, W - 1)
    end
    if #chunk == 4096 then parts[#parts + 1] = table.concat(chunk); chunk = {} end
  end
  parts[#parts + 1] = table.concat(chunk)
  local data = table.concat(parts)
  local function get(i)
    local o = (i - 1) * W + 1
    local len = data:byte(o)
    if len == 255 then return long[i] end
    return data:sub(o + 1, o + len)
  end
  return { data = data, long = long, get = get }
end
local function heap() collectgarbage(); collectgarbage(); return collectgarbage("count") * 1024 end
local base = heap()
local keep
if how == "table" then
  keep = {}
  for i = 1, n do keep[i] = value(i) end
  assert(keep[n] == value(n))
else
  keep = column()
  assert(keep.get(1) == value(1) and keep.get(n) == value(n), "the column lost a value")
end
print("bytes=" .. (heap() - base), "len=" .. #value(1))
]==]

local R = dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "inrun.lua")

-- In our run (#793): the run's detection records (hunt's: timestamp,
-- computer, channel, event id, level, title, rule id, matched fields) kept
-- until the end; before, each a Lua table of Lua strings; after, each
-- packed into one Lua string (string.pack, length-prefixed fields), unpacked
-- when written.  Measured: the Lua heap the records hold.
local function in_run()
  local na = R.unavailable() -- no engine, or no SigmaHQ rules: no in-run result
  if na then return na end
  local H = R.hunt()
  local sigma = require "fastmatch.sigma"
  local flatten = sigma.flatten
  local eng, info = R.engine()
  local path = R.stream()
  local FMT = "s2s1s2s2s1s2s1s4"
  R.warm(eng, path)
  local function run(packed)
    local last, f
    local grown, recs = B.memory(function()
      local recs = {}
      R.detect(eng, path, function(ev, rule)
        if ev ~= last then last, f = ev, flatten(ev) end
        local r = H.record(ev, f, rule)
        local d = {}
        for i, kv in ipairs(r.details) do d[i] = kv[1] .. "=" .. tostring(kv[2]) end
        local ts, comp, ch, id, det = tostring(r.ts or ""), tostring(r.computer or ""), tostring(r.channel or ""),
          tostring(r.event_id or ""), table.concat(d, " ¦ ")
        if packed then
          recs[#recs + 1] = string.pack(FMT, ts, r.level, comp, ch, id, r.title, r.id, det)
        else
          recs[#recs + 1] = { ts = ts, level = r.level, computer = comp, channel = ch, event_id = id,
                              title = r.title, id = r.id, details = det }
        end
      end)
      return recs
    end)
    return grown, recs
  end
  local mb, rb = run(false)
  local ma, ra = run(true)
  assert(#rb == #ra, "the two runs kept different records")
  for i = 1, #ra, math.max(1, #ra // 50) do -- packing loses nothing
    local ts, level, _, _, _, title, id, det = string.unpack(FMT, ra[i])
    assert(ts == rb[i].ts and level == rb[i].level and title == rb[i].title and id == rb[i].id and det == rb[i].details,
      "a packed record differs")
  end
  local n = #ra
  return {
    before = { value = mb / 2 ^ 20, unit = "MiB", what = ("%d detection records as tables of Lua strings"):format(n) },
    after = { value = ma / 2 ^ 20, unit = "MiB", what = "the same records packed, one Lua string each" },
    ratio = mb / ma,
    why = ("%.0f vs %.0f bytes a record (%.0f%% less): the table and its slots go, and strings Lua interns (levels, channels, titles) are copied into each packed record"):format(
      mb / n, ma / n, (1 - ma / mb) * 100),
    details = { R.describe(nil, info), "Lua heap (collectgarbage('count')) held by the records after the scan" },
  }
end

return B.experiment({
  id = 10, title = "compact_str for short strings",
  claim = "inline short strings instead of heap strings: ~50% less memory",
  claim_value = 2, metric = "x less memory",
  in_run = { pr = "#793", claim = "compact strings in detection records: -20% memory", claim_value = 1.25,
             metric = "x less memory", body = in_run },
}, function()
  local n = B.size(3000000, 100000)
  local res, len, W = {}, nil, 24
  for _, kind in ipairs({ "distinct", "repeated" }) do
    res[kind] = {}
    for _, how in ipairs({ "table", "column" }) do
      local out, _, ok, kv = B.child(CHILD, { args = ("%s %s %d"):format(kind, how, n) })
      if not ok or not kv.bytes then error(kind .. "/" .. how .. " failed: " .. out:sub(-300)) end
      res[kind][how == "table" and "lua" or "col"] = kv.bytes
      if kind == "distinct" then len = kv.len end
    end
  end
  local d, r = res.distinct, res.repeated
  local ratio = d.lua / d.col
  return {
    before = { value = d.lua / 2 ^ 20, unit = "MiB", what = ("%d distinct %d-byte strings in a Lua table"):format(n, len) },
    after = { value = d.col / 2 ^ 20, unit = "MiB", what = ("the same in a %d-byte-slot column (one Lua string)"):format(W) },
    ratio = ratio,
    why = ("%.0f vs %.0f bytes a string; but for values repeating from 1000 distinct ones Lua's interning needs %.0f bytes a slot vs the column's %.0f"):format(
      d.lua / n, d.col / n, r.lua / n, r.col / n),
    details = { ("distinct: table %s, column %s; repeated (1000 distinct): table %s, column %s"):format(
      B.bytes(d.lua), B.bytes(d.col), B.bytes(r.lua), B.bytes(r.col)),
      "Lua heap from collectgarbage('count'): malloc's own per-block overhead comes on top for the table's strings" },
  }
end)

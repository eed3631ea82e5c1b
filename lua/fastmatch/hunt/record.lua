-- fastmatch.hunt.record: what one line of the timeline says, before it is
-- written in a format: a rule's hit on an event, or a correlation's.
--
-- A record is a plain table, so that hits made anywhere (one scan, several
-- workers, the correlation stage) are the same kind of thing:
--   kind      "event" | "correlation"
--   rule      the rule (title, id, level, tags, path, index)
--   input     the input's position on the command line (1, 2, ...), file its name
--   line      the event's line (or record number) in its input (0: none)
--   time      { sec, frac } (fastmatch.hunt.time) or nil; raw_time as written
--   computer, channel, event_id, record_id
--   details   { {name, value}, ... }  the fields the rule looks at
--   extra     { {name, value}, ... }  the event's other data fields
--   -- a correlation's record also has:
--   group     { {name, value}, ... }  its group-by values
--   first, last  times ({ sec, frac }) of its first and last event; count
-- The order of the timeline is R.key(rec): time, then input, line and rule,
-- so that the same hits give the same bytes whatever order they arrive in.

local time = require "fastmatch.hunt.time"

local R = {}

local type, pairs, ipairs, tostring, floor = type, pairs, ipairs, tostring, math.floor

-- JSON numbers come back as floats: 4688.0 is shown as 4688
local function norm(v)
  if type(v) == "number" and v == floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then
    return floor(v)  -- an integer where the Lua has them
  end
  return v
end
R.norm = norm

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  return keys
end

-- ---------------------------------------------------------------- rule fields
-- The field names a rule's detection looks at (its selections' keys before
-- any "|modifier"), in the order of first appearance, sorted within a
-- selection.  From the engine's compiled items when it has them, else from
-- the rule's detection table, else from its YAML file (read once).
local field_cache = setmetatable({}, { __mode = "k" })

local function selection_fields(sel, out, seen)
  if type(sel) ~= "table" then return end
  if #sel > 0 then
    for _, x in ipairs(sel) do selection_fields(x, out, seen) end
    return
  end
  for _, k in ipairs(sorted_keys(sel)) do
    local name = k:match("^([^|]*)")
    if name ~= "" and not seen[name] then seen[name] = true; out[#out + 1] = name end
  end
end

function R.rule_fields(rule)
  local c = field_cache[rule]
  if c then return c end
  local out = {}
  if type(rule.fields) == "table" then
    for i, f in ipairs(rule.fields) do out[i] = f end
  elseif type(rule.items) == "table" then
    -- fastmatch.sigma's compiled items: one per "Field|mods" key (a keyword has no field)
    local seen = {}
    for _, it in ipairs(rule.items) do
      local name = it.field
      if type(name) == "string" and name ~= "" and not seen[name] then seen[name] = true; out[#out + 1] = name end
    end
  else
    local det = rule.detection
    if type(det) ~= "table" and type(rule.path) == "string" then
      local okl, lyaml = pcall(require, "lyaml")
      local f = okl and io.open(rule.path)
      if f then
        local okd, doc = pcall(lyaml.load, f:read("*a"))
        f:close()
        det = okd and type(doc) == "table" and doc.detection or nil
      end
    end
    if type(det) == "table" then
      local seen = {}
      for _, k in ipairs(sorted_keys(det)) do
        if k ~= "condition" and k ~= "timeframe" then selection_fields(det[k], out, seen) end
      end
    end
  end
  field_cache[rule] = out
  return out
end

-- ---------------------------------------------------------------- events
-- The event's value of a rule's field: under its own name, or under the
-- name a logsource variant maps it to (Image is NewProcessName in 4688s).
local function lookup(f, rule, name)
  local v = f[name]
  if v ~= nil then return name, v end
  for _, var in ipairs(type(rule.variants) == "table" and rule.variants or {}) do
    local other = type(var.rename) == "table" and var.rename[name]
    if other and f[other] ~= nil then return other, f[other] end
  end
  return nil
end

-- The event's own value of a data field when it is a number (so that the
-- JSON timeline keeps 4688 a number), else the flattened text.
local function typed(data, name, v)
  local raw = data and data[name]
  if type(raw) == "number" then return norm(raw) end
  return v
end

local function scalar(v)
  local t = type(v)
  if t == "number" then return norm(v) end
  if t == "string" or t == "boolean" then return v end
  if t == "table" and v["#text"] ~= nil and type(v["#text"]) ~= "table" then return scalar(v["#text"]) end
  return nil
end

-- The data fields of an event: EventData (or UserData's one child), with
-- <Data Name="x">v</Data> lists named; a flat event's own top-level fields.
local function data_of(ev)
  local E = type(ev) == "table" and ev.Event
  if type(E) ~= "table" then return nil end
  local d = E.EventData
  if type(d) ~= "table" and type(E.UserData) == "table" then
    local _, only = next(E.UserData)
    d = only
  end
  return type(d) == "table" and d or nil
end

local function data_fields(d, out)
  for k, v in pairs(d) do
    if type(k) == "string" and k:byte(1) ~= 35 then -- '#': attributes, text
      local s = scalar(v)
      if s ~= nil then
        out[k] = s
      elseif type(v) == "table" and v[1] ~= nil then
        local named = false
        for _, x in ipairs(v) do
          local a = type(x) == "table" and x["#attributes"]
          if type(a) == "table" and a.Name ~= nil then
            named = true
            local s2 = scalar(x["#text"])
            if s2 ~= nil then out[tostring(a.Name)] = s2 end
          end
        end
        if not named then
          local parts = {}
          for _, x in ipairs(v) do
            local s2 = scalar(x)
            if s2 ~= nil then parts[#parts + 1] = tostring(s2) end
          end
          out[k] = table.concat(parts, ", ")
        end
      end
    end
  end
  return out
end

-- the columns of a flat event (no Event wrapper), not repeated in ExtraFieldInfo
local FLAT_COLUMNS = { Computer = true, Channel = true, EventID = true, EventRecordID = true,
  Timestamp = true, TimeCreated = true, SystemTime = true, ["@timestamp"] = true }

function R.timestamp(ev)
  local e = type(ev) == "table" and ev.Event
  if type(e) == "table" then
    local tc = type(e.System) == "table" and e.System.TimeCreated
    if type(tc) == "table" and type(tc["#attributes"]) == "table" then return tc["#attributes"].SystemTime end
  end
  if type(ev) ~= "table" then return nil end
  return ev.Timestamp or ev.TimeCreated or ev.SystemTime or ev["@timestamp"] or ev.UtcTime
end

-- R.event(ev, f, rule, input, file, line) -> record.  f: the flattened
-- event (fastmatch.sigma.flatten), shared by the hits of one event.
function R.event(ev, f, rule, input, file, line)
  local data = data_of(ev)
  local details, shown = {}, {}
  for _, name in ipairs(R.rule_fields(rule)) do
    local field, v = lookup(f, rule, name)
    if v ~= nil and not shown[field] then
      if type(v) == "table" then v = table.concat(v, ", ") end -- a list value, as the engine flattens one
      shown[field] = true
      details[#details + 1] = { field, typed(data, field, v) }
    end
  end
  local extra = {}
  local fields
  if data then
    fields = data_fields(data, {})
  elseif type(ev) == "table" and type(ev.Event) ~= "table" then
    fields = {}
    for k, v in pairs(ev) do
      if type(k) == "string" and not FLAT_COLUMNS[k] then
        local s = scalar(v)
        if s ~= nil then fields[k] = s end
      end
    end
  end
  if fields then
    for _, k in ipairs(sorted_keys(fields)) do
      if not shown[k] then extra[#extra + 1] = { k, fields[k] } end
    end
  end
  local sys = type(ev) == "table" and type(ev.Event) == "table" and type(ev.Event.System) == "table"
    and ev.Event.System or nil
  local id = sys and sys.EventID
  if type(id) == "table" then id = id["#text"] end
  if id == nil then id = f.EventID end
  local rid = sys and sys.EventRecordID
  if rid == nil then rid = f.EventRecordID end
  local raw = R.timestamp(ev)
  return {
    kind = "event", rule = rule, input = input, file = file, line = line or 0,
    time = time.parse(raw, 0), raw_time = raw,
    computer = f.Computer, channel = f.Channel, event_id = norm(tonumber(id) or id),
    record_id = norm(tonumber(rid) or rid),
    details = details, extra = extra,
  }
end

-- R.correlation{rule=, group={{name, value}...}, first=, last=, count=,
-- computer=, channel=, input=, file=} -> record.  first/last: times as
-- events write them (text) or { sec, frac }.  For the correlation stage:
-- its hit goes to the timeline as any other (timeline:add).
function R.correlation(c)
  local function t(x) return type(x) == "table" and x or time.parse(x, 0) end
  local first, last = t(c.first), t(c.last)
  local details = {}
  for i, kv in ipairs(c.group or {}) do details[i] = { kv[1], kv[2] } end
  details[#details + 1] = { "Count", c.count or 0 }
  return {
    kind = "correlation", rule = c.rule, input = c.input or 0, file = c.file, line = 0,
    time = last or first, raw_time = type(c.last) == "string" and c.last or nil,
    first = first, last = last, count = c.count or 0, group = c.group or {},
    computer = c.computer, channel = c.channel, event_id = c.event_id, record_id = nil,
    details = details, extra = {},
  }
end

-- R.key(rec) -> the text the timeline is sorted by (byte order): the time
-- (records without one after all others, then by their text), the input,
-- the line, the rule's place in the loaded rules, and a correlation's group.
function R.key(rec)
  local tk
  if rec.time then tk = time.key(rec.time)
  elseif rec.raw_time then tk = "~" .. tostring(rec.raw_time):gsub("[%z\1]", "")
  else tk = "~~" end
  local rule = rec.rule or {}
  local k = ("%s\1%06d%012d%08d%s"):format(tk, rec.input or 0, rec.line or 0,
    tonumber(rule.index) or 0, tostring(rule.id or ""))
  if rec.kind == "correlation" then
    local g = {}
    for i, kv in ipairs(rec.group) do g[i] = tostring(kv[1]) .. "=" .. tostring(kv[2]) end
    k = k .. "\1" .. table.concat(g, "\2"):gsub("%z", "")
  end
  return k
end

return R

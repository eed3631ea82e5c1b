-- fastmatch.hunt.summary: the results summary, counted as records come and
-- printed as Hayabusa prints its "Results Summary": first and last
-- timestamp, events with hits / total events (data reduction), total and
-- unique detections per level, the dates with most detections, the
-- computers with most unique detections and the top alerts, per level.
-- A summary can be merged into another (workers that each counted a part).

local time = require "fastmatch.hunt.time"

local Sm = {}
Sm.__index = Sm

-- most severe first, as Hayabusa lists them
Sm.LEVELS = { "critical", "high", "medium", "low", "informational" }
local KNOWN = {}
for _, l in ipairs(Sm.LEVELS) do KNOWN[l] = true end

local function level_of(rule)
  local l = type(rule) == "table" and type(rule.level) == "string" and rule.level:lower() or "informational"
  return KNOWN[l] and l or "informational"
end

-- Sm.new{time=, utc=} (how dates are written: the timeline's zone)
function Sm.new(opts)
  opts = opts or {}
  local s = setmetatable({ time = opts.time or "local", utc = opts.utc, events = 0, events_with_hits = 0,
    total = 0, level = {} }, Sm)
  for _, l in ipairs(Sm.LEVELS) do
    -- rules: rule -> {rule=, n=}; dates: date -> n; computers: name -> {rule -> true, n = unique}
    s.level[l] = { total = 0, unique = 0, rules = {}, dates = {}, computers = {} }
  end
  return s
end

-- sm:add(rec): one record of the timeline
function Sm:add(rec)
  local L = self.level[level_of(rec.rule)]
  self.total = self.total + 1
  L.total = L.total + 1
  local rule = rec.rule or {}
  local r = L.rules[rule]
  if not r then r = { rule = rule, n = 0 }; L.rules[rule] = r; L.unique = L.unique + 1 end
  r.n = r.n + 1
  if rec.time then
    local k = time.key(rec.time)
    if not self.first or k < self.first_key then self.first, self.first_key = rec.time, k end
    if not self.last or k > self.last_key then self.last, self.last_key = rec.time, k end
    local d = time.date(rec.time, self.time, self.utc)
    L.dates[d] = (L.dates[d] or 0) + 1
  end
  local c = rec.computer
  if c ~= nil and c ~= "" and c ~= "-" then
    c = tostring(c)
    local cr = L.computers[c]
    if not cr then cr = { rules = {}, n = 0 }; L.computers[c] = cr end
    if not cr.rules[rule] then cr.rules[rule] = true; cr.n = cr.n + 1 end
  end
end

-- sm:scanned(n, with_hits): n events read, with_hits of them had a record
function Sm:scanned(n, with_hits)
  self.events = self.events + (n or 0)
  self.events_with_hits = self.events_with_hits + (with_hits or 0)
end

-- sm:merge(other): add another summary's counts (of other events) to this one
function Sm:merge(o)
  self.events = self.events + o.events
  self.events_with_hits = self.events_with_hits + o.events_with_hits
  self.total = self.total + o.total
  if o.first and (not self.first or o.first_key < self.first_key) then self.first, self.first_key = o.first, o.first_key end
  if o.last and (not self.last or o.last_key > self.last_key) then self.last, self.last_key = o.last, o.last_key end
  for _, l in ipairs(Sm.LEVELS) do
    local A, B = self.level[l], o.level[l]
    A.total = A.total + B.total
    for rule, r in pairs(B.rules) do
      local a = A.rules[rule]
      if not a then a = { rule = rule, n = 0 }; A.rules[rule] = a; A.unique = A.unique + 1 end
      a.n = a.n + r.n
    end
    for d, n in pairs(B.dates) do A.dates[d] = (A.dates[d] or 0) + n end
    for c, cr in pairs(B.computers) do
      local a = A.computers[c]
      if not a then a = { rules = {}, n = 0 }; A.computers[c] = a end
      for rule in pairs(cr.rules) do
        if not a.rules[rule] then a.rules[rule] = true; a.n = a.n + 1 end
      end
    end
  end
end

-- ---------------------------------------------------------------- the numbers
-- sm:data() -> the summary as plain values (the text and the HTML page are
-- both written from it, so that they cannot disagree):
--   events, events_with_hits, reduction, reduction_pct, total, unique,
--   first, last (formatted), levels = { {name, total, total_pct, unique,
--   unique_pct, date, date_n, computers = {{name, n}...}, alerts = {{title, n, id, path}...}} }
function Sm:data()
  local d = { events = self.events, events_with_hits = self.events_with_hits, total = self.total, unique = 0 }
  d.reduction = math.max(0, self.events - self.events_with_hits)
  d.reduction_pct = self.events > 0 and d.reduction * 100 / self.events or 0
  d.first = self.first and time.format(self.first, self.time, self.utc) or nil
  d.last = self.last and time.format(self.last, self.time, self.utc) or nil
  for _, l in ipairs(Sm.LEVELS) do d.unique = d.unique + self.level[l].unique end
  d.levels = {}
  for _, l in ipairs(Sm.LEVELS) do
    local L = self.level[l]
    local e = { name = l, total = L.total, unique = L.unique,
      total_pct = self.total > 0 and L.total * 100 / self.total or 0,
      unique_pct = d.unique > 0 and L.unique * 100 / d.unique or 0 }
    -- the date with most detections (the earliest of equals)
    for date, n in pairs(L.dates) do
      if not e.date or n > e.date_n or (n == e.date_n and date < e.date) then e.date, e.date_n = date, n end
    end
    local comps = {}
    for name, cr in pairs(L.computers) do comps[#comps + 1] = { name, cr.n } end
    table.sort(comps, function(a, b) if a[2] ~= b[2] then return a[2] > b[2] end return a[1] < b[1] end)
    e.computers = comps
    local alerts = {}
    for _, r in pairs(L.rules) do
      alerts[#alerts + 1] = { tostring(r.rule.title or r.rule.id or "?"), r.n, r.rule.id, r.rule.path }
    end
    table.sort(alerts, function(a, b)
      if a[2] ~= b[2] then return a[2] > b[2] end
      if a[1] ~= b[1] then return a[1] < b[1] end
      return tostring(a[3]) < tostring(b[3])
    end)
    e.alerts = alerts
    d.levels[#d.levels + 1] = e
  end
  return d
end

-- 1234567 -> "1,234,567" (Hayabusa's numbers)
local function n(x)
  local s = ("%d"):format(x)
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (out:gsub("^,", ""))
end
Sm.number = n

-- sm:text() -> the lines of the summary
function Sm:text()
  local d = self:data()
  local out = { "Results Summary:", "" }
  if d.first then out[#out + 1] = "First Timestamp: " .. d.first end
  if d.last then out[#out + 1] = "Last Timestamp: " .. d.last; out[#out + 1] = "" end
  out[#out + 1] = ("Events with hits / Total events: %s / %s (Data reduction: %s events (%.2f%%))"):format(
    n(d.events_with_hits), n(d.events), n(d.reduction), d.reduction_pct)
  out[#out + 1] = ""
  out[#out + 1] = ("Total | Unique detections: %s | %s"):format(n(d.total), n(d.unique))
  for _, e in ipairs(d.levels) do
    out[#out + 1] = ("Total | Unique %s detections: %s (%.2f%%) | %s (%.2f%%)"):format(e.name,
      n(e.total), e.total_pct, n(e.unique), e.unique_pct)
  end
  out[#out + 1] = ""
  out[#out + 1] = "Dates with most total detections:"
  local parts = {}
  for _, e in ipairs(d.levels) do
    parts[#parts + 1] = ("%s: %s"):format(e.name, e.date and ("%s (%s)"):format(e.date, n(e.date_n)) or "n/a")
  end
  out[#out + 1] = table.concat(parts, ", ")
  out[#out + 1] = ""
  out[#out + 1] = "Top 5 computers with most unique detections:"
  for _, e in ipairs(d.levels) do
    local c = {}
    for i = 1, math.min(5, #e.computers) do c[i] = ("%s (%s)"):format(e.computers[i][1], n(e.computers[i][2])) end
    out[#out + 1] = ("%s: %s"):format(e.name, #c > 0 and table.concat(c, ", ") or "n/a")
  end
  for _, e in ipairs(d.levels) do
    out[#out + 1] = ""
    out[#out + 1] = ("Top %s alerts:"):format(e.name)
    local take = e.name == "informational" and 10 or 5
    for i = 1, math.min(take, #e.alerts) do
      out[#out + 1] = ("  %s (%s)"):format(e.alerts[i][1], n(e.alerts[i][2]))
    end
    if #e.alerts == 0 then out[#out + 1] = "  n/a" end
  end
  return out
end

return Sm

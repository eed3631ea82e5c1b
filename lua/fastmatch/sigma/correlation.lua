-- fastmatch.sigma.correlation: Sigma correlation rules (specification v2's
-- correlation document; pySigma's reading where it is silent), from their
-- YAML document to the stream stage that fires them.
--
-- What a correlation consumes is a record: (event time, the rules that fired,
-- the group-by values those rules' correlations read) -- never the event. A
-- record is made where the event is (stage:record, a pure function of the
-- event's fields and the hits) and pushed into the stage with the name of the
-- input it came from (stage:push). The stage releases records in time order:
--
--   * Each input is taken to be roughly in time order. A record waits in a
--     reorder buffer until every open input has gone `lag` seconds past it (the
--     watermark: the least, over the open inputs, of the latest time seen on
--     each), so records out of order by up to `lag` seconds within an input,
--     and records of several inputs read side by side, come out in one time
--     order. A record older than what was already released is late: counted
--     (stats.late) and dropped. Inputs declared ahead (stage:expect) hold the
--     watermark until they start or close: reading them one after the other
--     buffers the earlier ones' records (only records of correlated rules,
--     a few numbers and strings each) and merges them in time order.
--   * A multi-threaded hunt does the same with one input per worker: each
--     worker turns its events into records, the main thread pushes them as
--     they come, tagged by worker, and closes a worker's input when it ends;
--     the release is then a k-way merge by time, and the hits are those of
--     one thread reading everything in time order.
--
-- Windows (a group-by key's state), for a condition with lower bounds only
-- (gt, gte: the common case) slide: at each record the group's events of the
-- last `timespan` seconds are counted (an event exactly `timespan` before
-- still counts: the bound is inclusive), the correlation fires as soon as the
-- condition holds, and the group starts over (the next hit needs new events).
-- A condition with an upper bound (lt, lte, eq, neq, or a range) can only be
-- decided when the window is over: the window opens at the group's first
-- event, takes events up to `timespan` after it, and is decided when a later
-- record (any group's) passes its end, or at flush. Memory per group is
-- bounded by the condition (event times are kept only up to the count
-- needed; distinct values up to the bound + 1); a group's state expires
-- `timespan` after its last event; and the number of groups over all
-- correlations is capped (max_keys): past it the least recently active group
-- of the correlation at hand is dropped, and counted (stats.dropped).
--
-- A group-by field an event does not have is a value of its own ("absent"),
-- as Hayabusa groups them; a value_count field it does not have adds no value.

local condition_mod = require "fastmatch.sigma.condition"

local type, pairs, ipairs, tostring, tonumber = type, pairs, ipairs, tostring, tonumber
local floor, huge = math.floor, math.huge
local concat = table.concat

local M = {}

-- ---------------------------------------------------------------- time
local calendar = require "fastmatch.sigma.calendar"
local days_from_civil = calendar.days_from_civil

-- An event time -> seconds since 1970 (UTC), or nil. Numbers are taken as
-- seconds; text as ISO 8601 / RFC 3339 ("2021-05-20T12:49:53.3788096Z",
-- "2021-05-20 12:49:53", "+09:00" or "+0900" offsets; no offset is UTC).
function M.seconds(v)
  if type(v) == "number" then return v == v and v or nil end
  if type(v) ~= "string" then return nil end
  local y, mo, d, h, mi, s, rest = v:match("^%s*(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then
    y, mo, d = v:match("^%s*(%d%d%d%d)%-(%d%d)%-(%d%d)%s*$")
    if not y then return tonumber(v) end
    h, mi, s, rest = 0, 0, 0, ""
  end
  local t = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
  local frac, tz = rest:match("^[%.,](%d+)(.*)$")
  if frac then
    t = t + tonumber("0." .. frac)
  else
    tz = rest
  end
  tz = tz:match("^%s*(.-)%s*$")
  if tz ~= "" and tz ~= "Z" and tz ~= "z" then
    local sign, oh, om = tz:match("^([%+%-])(%d%d):?(%d%d)$")
    if not sign then
      sign, oh = tz:match("^([%+%-])(%d%d)$")
      om = "0"
    end
    if not sign then return nil end
    local off = tonumber(oh) * 3600 + tonumber(om) * 60
    if sign == "+" then t = t - off else t = t + off end
  end
  return t
end

-- seconds -> "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" (arithmetic: os.date differs by platform)
function M.iso(t)
  if type(t) ~= "number" or t ~= t or t == huge or t == -huge then return nil end
  local whole = floor(t)
  local micro = floor((t - whole) * 1e6 + 0.5)
  if micro >= 1000000 then whole, micro = whole + 1, 0 end
  local days = floor(whole / 86400)
  local sod = whole - days * 86400
  local y, m, d = calendar.civil_from_days(days)
  local s = ("%04d-%02d-%02dT%02d:%02d:%02d"):format(y, m, d, floor(sod / 3600), floor(sod / 60) % 60, sod % 60)
  if micro > 0 then s = s .. (".%06d"):format(micro) end
  return s .. "Z"
end

-- The fields an event's time is read from, in order (the engine's flattened
-- names: evtx_dump's Event.System.TimeCreated.#attributes.SystemTime is
-- TimeCreated_SystemTime).
M.TIME_FIELDS = { "TimeCreated_SystemTime", "Timestamp", "@timestamp", "timestamp", "TimeCreated",
  "SystemTime", "UtcTime", "EventTime", "time" }

-- ---------------------------------------------------------------- definitions
local TYPES = { event_count = true, value_count = true, temporal = true, temporal_ordered = true }
local UNIT = { s = 1, m = 60, h = 3600, d = 86400, w = 604800, M = 2629746, y = 31556952 }

-- "5m" -> 300 (pySigma's units: s m h d w M y), or nil, reason
function M.timespan(s)
  if type(s) == "number" then s = tostring(s) end
  if type(s) ~= "string" then return nil, "timespan is not a string" end
  local n, u = s:match("^(%d+)([smhdwMy])$")
  if not n then return nil, ("timespan '%s' is invalid (a count and one of s m h d w M y)"):format(s) end
  n = tonumber(n)
  if n <= 0 then return nil, ("timespan '%s' must be greater than zero"):format(s) end
  return n * UNIT[u]
end

local OPS = { gt = true, gte = true, lt = true, lte = true, eq = true, neq = true }
local UPPER = { lt = true, lte = true, eq = true, neq = true }

local function test_bound(op, n, v)
  if op == "gt" then return n > v elseif op == "gte" then return n >= v
  elseif op == "lt" then return n < v elseif op == "lte" then return n <= v
  elseif op == "eq" then return n == v end
  return n ~= v
end

-- A metric condition: a map of one or more of gt, gte, lt, lte, eq, neq (the
-- specification's range: several, ANDed; pySigma takes exactly one) and, for
-- value_count, field. -> {bounds, anchored, need, cap, field} or nil, reason
function M.metric(t)
  if type(t) ~= "table" then return nil, "condition is not a map" end
  local c = { bounds = {}, anchored = false, need = 1, cap = 1 }
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = t[k]
    if OPS[k] then
      v = tonumber(v)
      if not v or v ~= v or v == huge or v == -huge then
        return nil, ("'%s' is no valid correlation condition count"):format(tostring(t[k]))
      end
      c.bounds[#c.bounds + 1] = { k, v }
      if UPPER[k] then c.anchored = true end
      if k == "gte" then c.need = math.max(c.need, math.ceil(v))
      elseif k == "gt" then c.need = math.max(c.need, floor(v) + 1) end
      c.cap = math.max(c.cap, floor(v) + 2)
    elseif k == "field" then
      if type(v) ~= "string" then return nil, "condition field is not a string" end
      c.field = v
    else
      return nil, ("unknown item '%s' in the correlation condition"):format(k)
    end
  end
  if #c.bounds == 0 then return nil, "the correlation condition needs one of gt, gte, lt, lte, eq" end
  return c
end

local function metric_test(c, n)
  for _, b in ipairs(c.bounds) do
    if not test_bound(b[1], n, b[2]) then return false end
  end
  return true
end
M.metric_test = metric_test

local function strings(v, what)
  if v == nil then return {} end
  if type(v) == "string" then return { v } end
  if type(v) ~= "table" then return nil, what .. " must be a string or a list" end
  local out = {}
  for i, x in ipairs(v) do
    if type(x) ~= "string" and type(x) ~= "number" then return nil, what .. " must be a list of strings" end
    out[i] = tostring(x)
  end
  return out
end

-- A correlation's YAML document -> its rule (references not yet resolved), or nil, reason.
function M.define(doc, path)
  local cd = doc.correlation
  if type(cd) ~= "table" then return nil, "correlation is not a map" end
  local typ = cd.type
  if typ == nil then return nil, "correlation rule without type" end
  if not TYPES[typ] then
    return nil, ("correlation type '%s' is not supported (event_count, value_count, temporal, temporal_ordered)"):format(tostring(typ))
  end
  local refs, err = strings(cd.rules, "correlation rules")
  if not refs then return nil, err end
  local gb
  gb, err = strings(cd["group-by"], "group-by")
  if not gb then return nil, err end
  if cd.timespan == nil then return nil, "correlation rule without timespan" end
  local span
  span, err = M.timespan(cd.timespan)
  if not span then return nil, err end
  local gen = cd.generate
  if gen == nil then gen = doc.generate end  -- the specification puts it beside the correlation
  if gen ~= nil and type(gen) ~= "boolean" then return nil, "generate must be a boolean" end
  local aliases = {}
  if cd.aliases ~= nil then
    if type(cd.aliases) ~= "table" then return nil, "aliases must be a map" end
    for alias, map in pairs(cd.aliases) do
      if type(map) ~= "table" then return nil, "the alias '" .. tostring(alias) .. "' must map rule names to fields" end
      local m = {}
      for r, f in pairs(map) do m[tostring(r)] = tostring(f) end
      aliases[tostring(alias)] = m
    end
  end
  local def = { type = typ, refs = refs, group_by = gb, span = span, timespan = cd.timespan,
    generate = gen or false, aliases = aliases }
  local cond = cd.condition
  if type(cond) == "string" then
    if typ ~= "temporal" then
      return nil, "an extended (boolean) condition is supported for temporal correlations only"
    end
    local names = refs
    if #names == 0 then
      names = {}
      local seen = { ["and"] = true, ["or"] = true, ["not"] = true }
      for w in cond:gmatch("[^%s()]+") do
        if not seen[w:lower()] then seen[w:lower()] = true; names[#names + 1] = w end
      end
      def.refs = names
    end
    local tree, perr = condition_mod.parse(cond, names)
    if not tree then return nil, perr end
    local sels = {}
    for _, nm in ipairs(names) do sels[nm] = function(set) return set[nm] == true end end
    def.expr = condition_mod.compile(tree, sels)
    -- `not` makes the expression decidable only when the window is over
    def.metric = { bounds = {}, anchored = cond:lower():find("%f[%w]not%f[%W]") ~= nil, need = 1, cap = 1 }
  elseif cond == nil then
    if typ ~= "temporal" and typ ~= "temporal_ordered" then return nil, "correlation rule without condition" end
    def.metric = { bounds = { { "gte", #refs } }, anchored = false, need = math.max(#refs, 1), cap = #refs + 2 }
  else
    def.metric, err = M.metric(cond)
    if not def.metric then return nil, err end
  end
  if #def.refs == 0 then return nil, "correlation rule without rule references" end
  if typ == "value_count" and not def.metric.field then return nil, "value_count correlation without condition field" end
  def.field = def.metric.field
  local rule = {
    id = doc.id ~= nil and tostring(doc.id) or nil, title = doc.title, name = doc.name ~= nil and tostring(doc.name) or nil,
    level = doc.level, status = doc.status, description = doc.description,
    tags = type(doc.tags) == "table" and doc.tags or {}, path = path, logsource = {},
    correlation = def,
  }
  rule.hit_mt = { __index = { rule = rule } }
  return rule
end

-- ---------------------------------------------------------------- resolving
-- Each reference of correlation rule c -> rules, by find(ref) (a list, empty
-- when none). Fills def.members[k] = {ref, rules}. nil, reason when one is unknown.
function M.resolve(c, find)
  local def = c.correlation
  def.members = {}
  for k, ref in ipairs(def.refs) do
    local rules = find(ref)
    if #rules == 0 then return nil, ("names an unknown rule '%s'"):format(ref) end
    def.members[k] = { ref = ref, rules = rules }
  end
  return true
end

-- The field member k of c reads for a name (group-by or value field): its alias, or the name.
local function field_for(def, k, rule, name)
  local a = def.aliases[name]
  if not a then return name end
  local ref = def.members[k].ref
  return a[ref] or (rule.name and a[rule.name]) or (rule.id and a[rule.id]) or (rule.title and a[rule.title]) or name
end
M.field_for = field_for

-- ---------------------------------------------------------------- the stage
local Stage = {}
Stage.__index = Stage

local DEFAULT_INPUT = "\0default"

-- corrs: resolved correlation rules, a referenced one before those that refer
-- to it. opts: lag (seconds, default 60), max_keys (default 100000).
function M.stage(corrs, opts)
  opts = opts or {}
  local st = setmetatable({
    corrs = corrs, lag = opts.lag or 60, max_keys = opts.max_keys or 100000,
    buffered = 0, seq = 0, inputs = {}, now = -huge, deadline = huge, keys = 0, out = {},
    by_rule = {},  -- rule -> list of {c, k}: where a hit of that rule goes
    stats = { late = 0, dropped = 0, untimed = 0, hits = 0, records = 0, peak_keys = 0 },
  }, Stage)
  for i, c in ipairs(corrs) do
    local def = c.correlation
    def.order = i
    def.state = { map = {}, n = 0 }
    for k, m in ipairs(def.members) do
      for _, r in ipairs(m.rules) do
        local l = st.by_rule[r]
        if not l then l = {}; st.by_rule[r] = l end
        l[#l + 1] = { c, k }
      end
    end
  end
  return st
end

-- A record of one event: its time and, per (correlation, member) its hits go
-- to, the group key and values and the value_count value. get(name) -> the
-- event's value of a field (text, a list of texts, or nil). nil when none of
-- the hits is correlated.
local function item_order(a, b)
  local oa, ob = a[1].correlation.order, b[1].correlation.order
  if oa ~= ob then return oa < ob end
  return a[2] > b[2]
end

function Stage:record(t, hits, get)
  local items, seen
  local by_rule = self.by_rule
  for _, r in ipairs(hits) do
    local l = by_rule[r]
    if l then
      for j = 1, #l do
        local ck = l[j]
        local c, k = ck[1], ck[2]
        local def = c.correlation
        -- one event counts once per (correlation, member), though a reference
        -- by title may name several rules that all fired on it
        local sk = def.order * 4096 + k
        local dup = false
        if items then
          seen = seen or { [items[1].sk] = true }
          dup = seen[sk]
          seen[sk] = true
        end
        if not dup then
          local gb, vals, key = def.group_by, {}, nil
          if #gb == 1 then
            local v = get(field_for(def, k, r, gb[1]))
            if type(v) == "table" then v = concat(v, ", ") end
            if v == nil then key = "\1" else vals[1] = v; key = "\2" .. v end
          else
            local parts = {}
            for i = 1, #gb do
              local v = get(field_for(def, k, r, gb[i]))
              if type(v) == "table" then v = concat(v, ", ") end
              if v == nil then parts[i] = "\1" else vals[i] = v; parts[i] = "\2" .. v end
            end
            key = concat(parts, "\0")
          end
          local value
          if def.field then
            value = get(field_for(def, k, r, def.field))
            if type(value) == "table" then value = concat(value, ", ") end
          end
          if def.field == nil or value ~= nil then
            items = items or {}
            items[#items + 1] = { c, k, key, vals, value, sk = sk }
          end
        end
      end
    end
  end
  if not items then return nil end
  -- a temporal_ordered step at a time: one event cannot be step k and k+1
  if #items > 1 then table.sort(items, item_order) end
  return { t = t, items = items }
end

-- ---- the reorder buffers: per input a queue kept in time order (records
-- come nearly in order: one is put in place from the tail), released by
-- taking the earliest head of all inputs (a linear pass: inputs are few)
local function less(a, b) return a.t < b.t or (a.t == b.t and a.seq < b.seq) end

local function input_of(self, name)
  name = name or DEFAULT_INPUT
  local inp = self.inputs[name]
  if not inp then
    inp = { max = -huge, open = true, q = {}, h = 1, n = 0 }
    self.inputs[name] = inp
  end
  return inp
end

-- Inputs that will be pushed, named ahead: each holds the release until it
-- starts (or is closed), so inputs read one after another still merge by time.
function Stage:expect(names)
  for _, n in ipairs(names) do input_of(self, n) end
end

-- push(record, input): record from Stage:record (nil: nothing to do).
function Stage:push(rec, input)
  if rec == nil then return end
  local inp = input_of(self, input)
  local t = rec.t
  if type(t) ~= "number" then self.stats.untimed = self.stats.untimed + 1; return end
  if t > inp.max then inp.max = t end
  if t < self.now then self.stats.late = self.stats.late + 1; return end
  self.seq = self.seq + 1
  rec.seq = self.seq
  local q, i = inp.q, inp.n + 1
  while i > inp.h and less(rec, q[i - 1]) do q[i] = q[i - 1]; i = i - 1 end
  q[i] = rec
  inp.n = inp.n + 1
  self.buffered = self.buffered + 1
  self.stats.records = self.stats.records + 1
  self:release()
end

-- The input is over: it no longer holds the release.
function Stage:close(input)
  local inp = self.inputs[input or DEFAULT_INPUT]
  if inp then inp.open = false end
  self:release()
end

local process

function Stage:release(all)
  if self.buffered == 0 then return end
  local limit = huge
  if not all then
    for _, inp in pairs(self.inputs) do
      if inp.open and inp.max < limit then limit = inp.max end
    end
    limit = limit - self.lag
  end
  local inputs = self.inputs
  while self.buffered > 0 do
    local best
    for _, inp in pairs(inputs) do
      local r = inp.q[inp.h]
      if r and (not best or less(r, best.q[best.h])) then best = inp end
    end
    local r = best.q[best.h]
    if r.t > limit then break end
    best.q[best.h] = nil
    best.h = best.h + 1
    if best.h > best.n then best.h, best.n = 1, 0 end
    self.buffered = self.buffered - 1
    process(self, r)
  end
end

-- Hits released so far (and forgets them).
function Stage:take()
  local out = self.out
  self.out = {}
  return out
end

-- ---- group states: per correlation a map key -> state and a list ordered by
-- last activity (sliding) or by opening (anchored), to expire from its head.
local function unlink(S, s)
  if s.prev then s.prev.next = s.next else S.head = s.next end
  if s.next then s.next.prev = s.prev else S.tail = s.prev end
  s.prev, s.next = nil, nil
end

local function append(S, s)
  s.prev = S.tail
  if S.tail then S.tail.next = s else S.head = s end
  S.tail = s
end

local function remove(self, S, s)
  unlink(S, s)
  S.map[s.key] = nil
  S.n = S.n - 1
  self.keys = self.keys - 1
end

local function open(self, c, key, vals, t)
  local S = c.correlation.state
  if self.keys >= self.max_keys then
    -- the cap: drop the least recently active group (of this correlation if
    -- it has any, else of the one holding the most)
    local victim = S
    if not S.head then
      for _, o in ipairs(self.corrs) do
        local os_ = o.correlation.state
        if os_.n > victim.n then victim = os_ end
      end
    end
    if victim.head then
      remove(self, victim, victim.head)
      self.stats.dropped = self.stats.dropped + 1
    end
  end
  local s = { key = key, vals = vals, t0 = t, last = t }
  if not S.head and t + c.correlation.span < self.deadline then self.deadline = t + c.correlation.span end
  S.map[key] = s
  S.n = S.n + 1
  append(S, s)
  self.keys = self.keys + 1
  if self.keys > self.stats.peak_keys then self.stats.peak_keys = self.keys end
  return s
end

local emit

-- The count of an anchored window, at its close.
local function anchored_count(def, s)
  local typ = def.type
  if typ == "event_count" then return s.count or 0 end
  if typ == "value_count" then return s.nd or 0 end
  if typ == "temporal" then return s.nr or 0 end
  return s.best or 0
end

local function close_window(self, c, s)
  local def = c.correlation
  remove(self, def.state, s)
  local ok
  if def.expr then ok = def.expr(s.seen or {})
  else ok = metric_test(def.metric, anchored_count(def, s)) end
  if ok then emit(self, c, s, s.t0, s.last, anchored_count(def, s)) end
end

-- Close the anchored windows that end before t, expire sliding groups idle
-- for longer than the timespan.
-- self.deadline is at most the earliest time a group could end: before it
-- there is nothing to do (most records).
local function advance(self, t)
  if t <= self.deadline then return end
  local d = huge
  self.deadline = huge  -- (a group opened meanwhile, by a hit closing a window, lowers it)
  for _, c in ipairs(self.corrs) do
    local def = c.correlation
    local S, span = def.state, def.span
    if def.metric.anchored then
      while S.head and S.head.t0 + span < t do close_window(self, c, S.head) end
      if S.head and S.head.t0 + span < d then d = S.head.t0 + span end
    else
      while S.head and S.head.last + span < t do remove(self, S, S.head) end
      if S.head and S.head.last + span < d then d = S.head.last + span end
    end
  end
  if d < self.deadline then self.deadline = d end
end

-- ---- one item of a record: correlation c, member k, at time t
local update

local function fire_sliding(self, c, s, first, last, n)
  remove(self, c.correlation.state, s)
  emit(self, c, s, first, last, n)
end

local STALE = {}  -- a value no event has

local function sliding(self, c, k, s, value, t)
  local def = c.correlation
  local span, typ, need = def.span, def.type, def.metric.need
  local lo = t - span
  if typ == "event_count" then
    local q = s.q
    if not q then q = {}; s.q, s.h, s.n = q, 1, 0 end
    while s.h <= s.n and q[s.h] < lo do q[s.h] = nil; s.h = s.h + 1 end
    -- a time out of order (a nested correlation's hit) goes in its place
    local i = s.n + 1
    while i > s.h and q[i - 1] > t do q[i] = q[i - 1]; i = i - 1 end
    q[i] = t
    s.n = s.n + 1
    local cnt = s.n - s.h + 1
    if cnt >= need and metric_test(def.metric, cnt) then
      fire_sliding(self, c, s, q[s.h], t, cnt)
    end
  elseif typ == "value_count" then
    local vals = s.v
    if not vals then vals = {}; s.v, s.qv, s.qt, s.h, s.n, s.nd = vals, {}, {}, 1, 0, 0 end
    local qv, qt = s.qv, s.qt
    while s.h <= s.n and qt[s.h] < lo do
      local h = s.h
      if vals[qv[h]] == qt[h] then vals[qv[h]] = nil; s.nd = s.nd - 1 end
      qv[h], qt[h] = nil, nil
      s.h = h + 1
    end
    if vals[value] == nil then s.nd = s.nd + 1 end
    if not vals[value] or vals[value] < t then vals[value] = t end
    s.n = s.n + 1
    qv[s.n], qt[s.n] = value, t
    if s.n - s.h + 1 > 2 * s.nd + 32 then
      -- repeated values leave stale entries: rebuild the queue from the live
      -- ones, behind the oldest event's time (a value of none: the window's start)
      local live = {}
      for v, vt in pairs(vals) do live[#live + 1] = { v, vt } end
      table.sort(live, function(a, b) return a[2] < b[2] end)
      local oldest = qt[s.h]
      qv, qt = { STALE }, { oldest }
      for i, x in ipairs(live) do qv[i + 1], qt[i + 1] = x[1], x[2] end
      s.qv, s.qt, s.h, s.n = qv, qt, 1, #live + 1
    end
    if s.nd >= need and metric_test(def.metric, s.nd) then
      fire_sliding(self, c, s, qt[s.h], t, s.nd)
    end
  elseif typ == "temporal" then
    local seen = s.seen
    if not seen then seen = {}; s.seen = seen end
    if not seen[k] or seen[k] < t then seen[k] = t end
    local cnt, first, set = 0, t, def.expr and {} or nil
    for j, m in ipairs(def.members) do
      local at = seen[j]
      if at and at >= lo then
        cnt = cnt + 1
        if at < first then first = at end
        if set then set[m.ref] = true end
      end
    end
    local ok
    if set then ok = def.expr(set) else ok = cnt >= need and metric_test(def.metric, cnt) end
    if ok then fire_sliding(self, c, s, first, t, cnt) end
  else -- temporal_ordered: chain[p] = the latest start of the steps 1..p seen in order
    local chain = s.chain
    if not chain then chain = {}; s.chain = chain end
    if k == 1 then
      chain[1] = t
    else
      local a = chain[k - 1]
      if a and a >= lo and (not chain[k] or a > chain[k]) then chain[k] = a end
    end
    local st = chain[need]
    if st and st >= lo and metric_test(def.metric, need) then fire_sliding(self, c, s, st, t, need) end
  end
end

local function anchored(c, k, s, value, t)
  local def = c.correlation
  local typ = def.type
  if typ == "event_count" then
    s.count = (s.count or 0) + 1
  elseif typ == "value_count" then
    local vals = s.v
    if not vals then vals = {}; s.v, s.nd = vals, 0 end
    -- past the condition's largest bound + 1 the exact count no longer matters
    if not vals[value] and s.nd < def.metric.cap then vals[value] = true; s.nd = s.nd + 1 end
  elseif typ == "temporal" then
    local seen = s.seen
    if not seen then seen = {}; s.seen, s.nr = seen, 0 end
    local ref = def.members[k].ref
    if not seen[ref] then seen[ref] = true; s.nr = s.nr + 1 end
  else
    local chain = s.chain
    if not chain then chain = {}; s.chain, s.best = chain, 0 end
    if k == 1 then chain[1] = true
    elseif chain[k - 1] then chain[k] = true end
    if chain[k] and k > s.best then
      -- the longest run of steps 1..p seen in order
      local p = s.best
      while chain[p + 1] do p = p + 1 end
      s.best = p
    end
  end
  if t > s.last then s.last = t end
end

update = function(self, c, k, key, vals, value, t)
  local def = c.correlation
  local S = def.state
  local s = S.map[key]
  if def.metric.anchored then
    if s and t > s.t0 + def.span then close_window(self, c, s); s = nil end
    if not s then s = open(self, c, key, vals, t) end
    anchored(c, k, s, value, t)
  else
    if not s then s = open(self, c, key, vals, t)
    elseif S.tail ~= s then unlink(S, s); append(S, s) end
    if t > s.last then s.last = t end
    sliding(self, c, k, s, value, t)
  end
end

-- A hit of correlation c: out to the caller, and in to the correlations that refer to it.
emit = function(self, c, s, first, last, n)
  local def = c.correlation
  local group, by = {}, {}
  for i, g in ipairs(def.group_by) do
    local v = s.vals[i]
    group[i] = { g, v }
    if v ~= nil then by[g] = v end
  end
  local hit = setmetatable({ first = first, last = last, count = n, group = group, by = by,
    first_time = M.iso(first), last_time = M.iso(last) }, c.hit_mt)
  self.stats.hits = self.stats.hits + 1
  local out = self.out
  out[#out + 1] = hit
  local l = self.by_rule[c]
  if l then
    local rec = self:record(last, { c }, function(name) return by[name] end)
    if rec then
      for _, it in ipairs(rec.items) do update(self, it[1], it[2], it[3], it[4], it[5], last) end
    end
  end
end

process = function(self, rec)
  local t = rec.t
  advance(self, t)
  if t > self.now then self.now = t end
  local items = rec.items
  for i = 1, #items do
    local it = items[i]
    update(self, it[1], it[2], it[3], it[4], it[5], t)
  end
end

-- Every record released, every window decided; the stage starts over (no
-- state, no inputs). -> the hits released.
function Stage:flush()
  self:release(true)
  for _, c in ipairs(self.corrs) do
    local def = c.correlation
    local S = def.state
    if def.metric.anchored then
      while S.head do close_window(self, c, S.head) end
    else
      while S.head do remove(self, S, S.head) end
    end
  end
  self.inputs, self.now, self.deadline = {}, -huge, huge
  return self:take()
end

M.Stage = Stage
return M

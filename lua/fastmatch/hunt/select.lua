-- fastmatch.hunt.select: which rules and which events the hunt reports, as
-- Hayabusa's flags choose them (--min-level, --exact-level, --include-status,
-- --exclude-status, --include-tag, --exclude-tag, --include-category,
-- --exclude-category, --exclude-rules, --include-eid, --exclude-eid,
-- --include-computer, --exclude-computer, --timeline-start, --timeline-end).
--
-- The choice is made on hits: the engine keeps every rule it loaded (so one
-- compiled engine, cached or not, serves every choice of rules), and a hit of
-- a rule that is not chosen, or on an event that is not, is dropped before
-- it becomes a record.  A rule is judged once and the verdict remembered.

local time = require "fastmatch.hunt.time"

local S = {}

S.LEVELS = { "informational", "low", "medium", "high", "critical" }
S.RANK = {}
for i, l in ipairs(S.LEVELS) do S.RANK[l] = i end
S.STATUSES = { "stable", "test", "experimental", "deprecated", "unsupported" }
local STATUS = {}
for _, s in ipairs(S.STATUSES) do STATUS[s] = true end
-- not loaded unless asked for (Hayabusa: -D, -u, or named in --include-status)
S.DEFAULT_EXCLUDED = { "deprecated", "unsupported" }

-- "a,b" -> {"a", "b"} (values trimmed, empty ones dropped)
function S.list(s)
  local out = {}
  for v in tostring(s):gmatch("[^,]+") do
    v = v:match("^%s*(.-)%s*$")
    if v ~= "" then out[#out + 1] = v end
  end
  return out
end

local function set_of(values, lower)
  if values == nil or #values == 0 then return nil end
  local t = {}
  for _, v in ipairs(values) do t[lower and v:lower() or v] = true end
  return t
end

-- Read --exclude-rules FILE: rule ids, one a line; '#' starts a comment.
-- -> set of lowercased ids | nil, message
function S.read_ids(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local ids = {}
  for line in f:lines() do
    local id = line:gsub("#.*$", ""):match("^%s*(.-)%s*$")
    if id ~= "" then ids[id:lower()] = true end
  end
  f:close()
  return ids
end

-- S.new(o) -> selector | nil, message naming the value that is not known.
-- o: the parsed options (lists of strings; see hunt.lua parse_args).
function S.new(o)
  local sel = { verdict = setmetatable({}, { __mode = "k" }) }
  local function level(flag, v)
    if v == nil then return nil end
    local r = S.RANK[v:lower()]
    if not r then
      error(("unknown level '%s' for %s (one of %s)"):format(v, flag, table.concat(S.LEVELS, ", ")), 0)
    end
    return r
  end
  local function statuses(flag, list)
    for _, s in ipairs(list or {}) do
      if not STATUS[s:lower()] then
        error(("unknown status '%s' for %s (one of %s)"):format(s, flag, table.concat(S.STATUSES, ", ")), 0)
      end
    end
    return set_of(list, true)
  end
  local ok, err = pcall(function()
    sel.min = level("--min-level", o.min_level) or 1
    sel.exact = level("--exact-level", o.exact_level)
    sel.inc_status = statuses("--include-status", o.include_status)
    local exc = statuses("--exclude-status", o.exclude_status) or {}
    for _, s in ipairs(S.DEFAULT_EXCLUDED) do
      local enabled = (sel.inc_status and sel.inc_status[s])
        or (s == "deprecated" and o.enable_deprecated) or (s == "unsupported" and o.enable_unsupported)
      if not enabled and exc[s] == nil then exc[s] = "default" end
    end
    sel.exc_status = exc
    for _, eid in ipairs(o.include_eid or {}) do
      if not eid:match("^%d+$") then error(("not an event id '%s' for --include-eid"):format(eid), 0) end
    end
    for _, eid in ipairs(o.exclude_eid or {}) do
      if not eid:match("^%d+$") then error(("not an event id '%s' for --exclude-eid"):format(eid), 0) end
    end
    local function when(flag, v)
      if v == nil then return nil end
      local t = time.parse(v, "local")
      if not t then
        error(("not a time '%s' for %s (e.g. \"2026-11-01 00:00:00 +09:00\" or 2026-11-01T00:00:00Z)"):format(v, flag), 0)
      end
      return time.key(t)
    end
    sel.start = when("--timeline-start", o.timeline_start)
    sel.stop = when("--timeline-end", o.timeline_end)
    if sel.start and sel.stop and sel.start > sel.stop then
      error(("--timeline-start %s is after --timeline-end %s"):format(o.timeline_start, o.timeline_end), 0)
    end
  end)
  if not ok then return nil, tostring(err) end
  sel.inc_tag, sel.exc_tag = set_of(o.include_tag, true), set_of(o.exclude_tag, true)
  sel.inc_cat, sel.exc_cat = set_of(o.include_category, true), set_of(o.exclude_category, true)
  sel.inc_eid, sel.exc_eid = set_of(o.include_eid), set_of(o.exclude_eid)
  sel.inc_comp, sel.exc_comp = set_of(o.include_computer, true), set_of(o.exclude_computer, true)
  sel.exc_ids = o.exclude_ids
  sel.by_time = sel.start ~= nil or sel.stop ~= nil
  sel.by_event = sel.inc_eid or sel.exc_eid or sel.inc_comp or sel.exc_comp or sel.by_time
  return setmetatable(sel, { __index = S })
end

local function any_tag(rule, set)
  for _, t in ipairs(type(rule.tags) == "table" and rule.tags or {}) do
    if type(t) == "string" and set[t:lower()] then return true end
  end
  return false
end

-- sel:why_not(rule) -> nil when the rule is chosen, else the reason (a
-- word the summary counts by: "level", "status", "tag", "category", "id")
function S:why_not(rule)
  local v = self.verdict[rule]
  if v ~= nil then return v or nil end
  local why
  local lv = S.RANK[type(rule.level) == "string" and rule.level:lower() or "informational"] or 1
  local st = type(rule.status) == "string" and rule.status:lower() or nil
  local cat = type(rule.logsource) == "table" and type(rule.logsource.category) == "string"
    and rule.logsource.category:lower() or nil
  if (self.exact and lv ~= self.exact) or lv < self.min then why = "level"
  elseif self.inc_status and not (st and self.inc_status[st]) then why = "status"
  elseif st and self.exc_status[st] then why = "status"
  elseif self.inc_tag and not any_tag(rule, self.inc_tag) then why = "tag"
  elseif self.exc_tag and any_tag(rule, self.exc_tag) then why = "tag"
  elseif self.inc_cat and not (cat and self.inc_cat[cat]) then why = "category"
  elseif self.exc_cat and cat and self.exc_cat[cat] then why = "category"
  elseif self.exc_ids and type(rule.id) == "string" and self.exc_ids[rule.id:lower()] then why = "id"
  end
  self.verdict[rule] = why or false
  return why
end

function S:rule_ok(rule) return self:why_not(rule) == nil end

-- sel:event_ok(event_id, computer, tkey) -> boolean.  tkey: time.key of the
-- event's time, or nil when it has none (then a time window excludes it).
function S:event_ok(eid, computer, tkey)
  if not self.by_event then return true end
  if self.inc_eid or self.exc_eid then
    local e = eid ~= nil and tostring(eid) or nil
    if self.inc_eid and not (e and self.inc_eid[e]) then return false end
    if self.exc_eid and e and self.exc_eid[e] then return false end
  end
  if self.inc_comp or self.exc_comp then
    local c = type(computer) == "string" and computer:lower() or nil
    if self.inc_comp and not (c and self.inc_comp[c]) then return false end
    if self.exc_comp and c and self.exc_comp[c] then return false end
  end
  if self.by_time then
    if not tkey then return false end
    if self.start and tkey < self.start then return false end
    if self.stop and tkey > self.stop then return false end
  end
  return true
end

-- sel:tally(rules) -> { chosen = n, level = n, status = n, ... } and the
-- warnings: a tag or category that no loaded rule has (a typo, most often).
function S:tally(rules)
  local t, warn = { chosen = 0 }, {}
  local tags, cats = {}, {}
  for _, r in ipairs(rules) do
    local why = self:why_not(r)
    if why then t[why] = (t[why] or 0) + 1 else t.chosen = t.chosen + 1 end
    for _, tag in ipairs(type(r.tags) == "table" and r.tags or {}) do
      if type(tag) == "string" then tags[tag:lower()] = true end
    end
    local c = type(r.logsource) == "table" and r.logsource.category
    if type(c) == "string" then cats[c:lower()] = true end
  end
  local function check(set, have, flag)
    local names = {}
    for k in pairs(set or {}) do if not have[k] then names[#names + 1] = k end end
    table.sort(names)
    for _, k in ipairs(names) do warn[#warn + 1] = ("%s %s: no loaded rule has it"):format(flag, k) end
  end
  check(self.inc_tag, tags, "--include-tag")
  check(self.exc_tag, tags, "--exclude-tag")
  check(self.inc_cat, cats, "--include-category")
  check(self.exc_cat, cats, "--exclude-category")
  return t, warn
end

return S

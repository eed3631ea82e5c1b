-- fastmatch.sigma.collection: the documents of one YAML file, read as Sigma
-- reads a rule collection (pySigma's SigmaCollection.from_dicts):
--
--   * a plain document is a rule (sigma/rule.lua compiles it);
--   * `action: global` sets a template merged into the rules after it,
--     `action: reset` drops it, `action: repeat` is the previous rule with
--     this document merged over it (Sigma 1's collections);
--   * a document with `correlation:` is a correlation rule
--     (sigma/correlation.lua), one with `filter:` a filter (sigma/filter.lua);
--     they name other rules, which may be in other files: references are
--     resolved once every file is loaded (sigma/meta.lua), not here;
--   * a condition with an aggregation, Sigma 1's `sel | count(field) by f > n`
--     (with `timeframe:`, as Hayabusa's rules still write), is a hidden rule
--     (`sel`) and a correlation over it: count() an event_count, count(field)
--     a value_count, `by` the group-by, timeframe the timespan (none: the
--     whole stream, decided at flush for an upper bound);
--   * Hayabusa's readings: a detection without a condition and with one
--     selection is that selection; `details:` (its timeline template) and
--     `name:` are kept on the rule;
--   * a rule that writes its own Channel (and EventID) in a selection its
--     condition requires (Hayabusa's rules all do) is dispatched on those,
--     whatever its logsource says: it needs no mapping and runs when the
--     mapping does not know its logsource; another of Hayabusa's rules (they
--     say `ruletype:`) runs over every event, as Hayabusa runs it.

local rule_mod = require "fastmatch.sigma.rule"
local correlation = require "fastmatch.sigma.correlation"
local filter = require "fastmatch.sigma.filter"
local logsource = require "fastmatch.sigma.logsource"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local lower = string.lower

local M = {}

local function is_list(t) return type(t) == "table" and t[1] ~= nil end

local function copy(t)
  if type(t) ~= "table" then return t end
  local o = {}
  for k, v in pairs(t) do o[k] = copy(v) end
  return o
end

-- pySigma's deep_dict_update: src's maps merged into dest's, other values replace.
local function merge(dest, src)
  for k, v in pairs(src) do
    if type(v) == "table" and not is_list(v) and type(dest[k]) == "table" and not is_list(dest[k]) then
      merge(dest[k], v)
    else
      dest[k] = copy(v)
    end
  end
  return dest
end

-- ---------------------------------------------------------------- own Channel/EventID
-- A selection's plain values (no wildcard, no modifier) as the mapping
-- writes condition values (lowercased text), or nil.
local function plain(v)
  local list = is_list(v) and v or { v }
  local out = {}
  for _, x in ipairs(list) do
    if type(x) == "number" then out[#out + 1] = logsource.text(x)
    elseif type(x) == "string" and not x:find("[%*%?\\]") then out[#out + 1] = lower(x)
    else return nil end
  end
  return #out > 0 and out or nil
end

-- The variant of a rule whose condition requires plain Channel values (and
-- maybe EventID values) in selections it ANDs at its root, or nil.
local function own_variants(det, tree)
  local conj
  if tree.op == "and" then conj = tree
  elseif tree.op == "sel" then conj = { tree }
  elseif tree.op == "of" and tree.n == "all" then
    conj = {}
    for i, nm in ipairs(tree.names) do conj[i] = { op = "sel", name = nm } end
  else return nil end
  local ch, eid
  for _, n in ipairs(conj) do
    local sels = {}
    if n.op == "sel" then sels[1] = n.name
    elseif n.op == "of" and n.n == "all" then sels = n.names end
    for _, nm in ipairs(sels) do
      local sel = det[nm]
      if type(sel) == "table" and not is_list(sel) then
        if not ch and sel.Channel ~= nil then ch = plain(sel.Channel) end
        if not eid and sel.EventID ~= nil then eid = plain(sel.EventID) end
      end
    end
  end
  if not ch then return nil end
  local conds = { { field = "Channel", values = ch } }
  if eid then conds[2] = { field = "EventID", values = eid } end
  return { { conds = conds, rename = {}, key = logsource.variant_key(conds, {}) } }
end
M.own_variants = own_variants

-- every event (the engine's variant of the same key)
local ALL_EVENTS = { key = "*", conds = {}, rename = {} }

-- ---------------------------------------------------------------- aggregations
local AGG_OPS = { [">"] = "gt", [">="] = "gte", ["<"] = "lt", ["<="] = "lte", ["=="] = "eq", ["="] = "eq" }

-- "count(f) by a, b > 3" -> {field=, by={...}, op=, n=} or nil, reason
local function parse_aggregation(s)
  local fn, arg, rest = s:match("^%s*(%a+)%s*%(%s*([^%)]-)%s*%)(.*)$")
  if not fn then return nil, "aggregation '" .. s .. "' does not parse" end
  if fn:lower() ~= "count" then return nil, "aggregation '" .. fn .. "()' is not supported (count only)" end
  local by, op, n = rest:match("^%s*[Bb][Yy]%s+(.-)%s*([<>=]+)%s*([%d%.]+)%s*$")
  if not by then
    op, n = rest:match("^%s*([<>=]+)%s*([%d%.]+)%s*$")
  end
  if not op or not AGG_OPS[op] then return nil, "aggregation '" .. s .. "' does not parse" end
  local fields = {}
  for f in (by or ""):gmatch("[^,%s]+") do fields[#fields + 1] = f end
  return { field = arg ~= "" and arg or nil, by = fields, op = AGG_OPS[op], n = tonumber(n) }
end

-- ---------------------------------------------------------------- rules
-- One rule document -> its rule(s) adopted; or nil, reason.
local function add_rule(eng, doc, name, null, adopt)
  local det = doc.detection
  local agg, timeframe
  if type(det) == "table" and not is_list(det) then
    local cond = det.condition
    if (cond == nil or cond == null) then
      -- Hayabusa: no condition and one selection: that selection
      local only, n = nil, 0
      for k in pairs(det) do
        if k ~= "timeframe" and k ~= "condition" then only, n = k, n + 1 end
      end
      if n == 1 and type(only) == "string" then
        doc = copy(doc); det = doc.detection; det.condition = only
      end
    elseif type(cond) == "string" and cond:find("|", 1, true) then
      local left, right = cond:match("^(.-)|(.*)$")
      local err
      agg, err = parse_aggregation(right)
      if not agg then return nil, err end
      doc = copy(doc); det = doc.detection
      det.condition = left
      timeframe = det.timeframe
      det.timeframe = nil
    elseif det.timeframe ~= nil then
      -- a timeframe without an aggregation limits nothing: the rule as it reads
      doc = copy(doc); det = doc.detection
      det.timeframe = nil
    end
  end
  local rule, err = rule_mod.compile(eng, doc, name, null)
  if not rule then return nil, err end
  if doc.name ~= nil then rule.name = tostring(doc.name) end
  if type(doc.details) == "string" and doc.details ~= "" then rule.details = doc.details end
  if doc.ruletype ~= nil then rule.hayabusa = true end
  if rule.id ~= nil then rule.id = tostring(rule.id) end
  if type(det) == "table" then rule.variants_own = own_variants(det, rule.tree) end
  -- Hayabusa's rules (they say `ruletype:`) run on every event its logsource
  -- allows by their own fields, as Hayabusa runs them: no mapping
  if not rule.variants_own and doc.ruletype ~= nil then rule.variants_own = { ALL_EVENTS } end
  if not agg then
    adopt(eng, rule)
    return { rule }
  end
  -- the aggregation: a correlation over the rule, which it hides
  local span = math.huge
  if timeframe ~= nil then
    local e2
    span, e2 = correlation.timespan(timeframe)
    if not span then return nil, "timeframe: " .. e2 end
  end
  local cdoc = {
    id = doc.id, title = doc.title, name = doc.name, level = doc.level, status = doc.status,
    description = doc.description, tags = doc.tags,
    correlation = { type = agg.field and "value_count" or "event_count", rules = { "\0legacy" },
      ["group-by"] = agg.by, timespan = "1s", condition = { [agg.op] = agg.n, field = agg.field } },
  }
  local c, cerr = correlation.define(cdoc, name)
  if not c then return nil, cerr end
  c.correlation.span, c.correlation.timespan = span, timeframe
  c.correlation.legacy = rule
  c.details = rule.details
  rule.output = false
  rule.legacy_of = c
  adopt(eng, rule)
  eng.correlations = eng.correlations or {}
  eng.correlations[#eng.correlations + 1] = c
  return { rule, c }
end

-- eng:add's reading of the documents of one file. adopt(eng, rule) indexes
-- an event rule. -> number of documents loaded, skipped (array of {path, id, title, reason}).
function M.add(eng, docs, name, null, adopt)
  local skipped, n = {}, 0
  local global, prev = nil, nil
  local meta = false
  local function skip(d, reason)
    d = type(d) == "table" and d or {}
    skipped[#skipped + 1] = { path = name, id = d.id, title = d.title, reason = reason }
  end
  local function rule_doc(d)
    local got, err = add_rule(eng, d, name, null, adopt)
    if not got then return skip(d, err) end
    n = n + 1
    for _, r in ipairs(got) do
      if r.correlation or r.output == false then meta = true end
    end
  end
  local ndocs = 0
  for i = 1, #docs do
    local doc = docs[i]
    if doc == nil or doc == null then
      -- an empty document (a trailing ---): nothing
    elseif type(doc) ~= "table" or is_list(doc) then
      skip(nil, "not a rule (the document is not a map)")
      ndocs = ndocs + 1
    else
      ndocs = ndocs + 1
      local action = doc.action
      if action == "global" then
        global = copy(doc); global.action = nil
        prev = global
      elseif action == "reset" then
        global = nil
      elseif action == "repeat" then
        if not prev then
          skip(doc, "action: repeat with no rule before it")
        else
          local d = copy(doc); d.action = nil
          prev = merge(copy(prev), d)
          rule_doc(prev)
        end
      elseif action ~= nil then
        skip(doc, ("unknown collection action '%s'"):format(tostring(action)))
      elseif doc.correlation ~= nil then
        local c, err = correlation.define(doc, name)
        if c then
          eng.correlations = eng.correlations or {}
          eng.correlations[#eng.correlations + 1] = c
          n, meta = n + 1, true
        else
          skip(doc, err)
        end
      elseif doc.filter ~= nil then
        local f, err = filter.define(eng, doc, name, null)
        if f then
          eng.filters = eng.filters or {}
          eng.filters[#eng.filters + 1] = f
          n, meta = n + 1, true
        else
          skip(doc, err)
        end
      else
        local d = doc
        if global then d = merge(copy(doc), global) end
        prev = d
        rule_doc(d)
      end
    end
  end
  if ndocs == 0 then skip(nil, "no YAML document") end
  if n == 0 and #skipped == 0 then
    skip(global, global and "a collection's action: global with no rule after it" or "a rule collection with no rule")
  end
  return n, skipped, meta
end

return M

-- fastmatch.sigma.filter: Sigma filters (specification v2's filter document,
-- pySigma's sigma/filters.py where it is silent): a document that adds a
-- condition to the rules it names, so that a team tunes rules without forking them.
--
--   title: Filter out the admins
--   logsource: {category: process_creation, product: windows}
--   filter:
--     rules: [<id or name>, ...]     # or "any"/"all"/[] : every rule of the logsource
--     selection: {User|startswith: adm_}
--     condition: not selection
--
-- As pySigma does, a named rule's condition becomes `(its condition) and
-- (the filter's condition)`, for the rules whose logsource the filter's
-- covers (each of category, product, service the filter names is the
-- rule's); correlation rules are never filtered. Here the filter's
-- condition is compiled as a rule of its own and asked, on the events where
-- a named rule fired, under that rule's logsource variants (so its field
-- names are renamed as the rule's are): the hit stands only if every filter
-- of the rule holds. A reference is an id, then a name, then a title (as
-- Hayabusa reads correlation references); one that names no loaded rule is
-- reported by eng:problems().

local rule_mod = require "fastmatch.sigma.rule"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring

local M = {}

-- A filter's YAML document -> the filter (references not yet resolved), or nil, reason.
function M.define(eng, doc, path, null)
  local f = doc.filter
  if type(f) ~= "table" or f[1] ~= nil then return nil, "filter is not a map" end
  local cond = f.condition
  if type(cond) ~= "string" then return nil, "a filter needs one condition (a string)" end
  local refs
  local r = f.rules
  if r == nil then
    return nil, "a filter needs 'rules' (a rule id or name, a list of them, or any)"
  elseif type(r) == "string" then
    local l = r:lower()
    refs = (l == "any" or l == "all") and "any" or { r }
  elseif type(r) == "table" then
    refs = {}
    for i, x in ipairs(r) do
      if type(x) ~= "string" and type(x) ~= "number" then return nil, "filter rules must be strings" end
      refs[i] = tostring(x)
    end
    if #refs == 0 then refs = "any" end
  else
    return nil, "filter rules must be any, a rule id or name, or a list of them"
  end
  if doc.logsource ~= nil and type(doc.logsource) ~= "table" then return nil, "logsource is not a map" end
  local det = {}
  for k, v in pairs(f) do
    if k ~= "rules" then det[k] = v end
  end
  local check, err = rule_mod.compile(eng, { title = doc.title, detection = det, logsource = doc.logsource }, path, null)
  if not check then return nil, err end
  check.output = false
  return {
    id = doc.id ~= nil and tostring(doc.id) or nil, title = doc.title, path = path,
    logsource = type(doc.logsource) == "table" and doc.logsource or {},
    refs = refs, check = check,
  }
end

-- Does the filter's logsource cover the rule's? (pySigma: each field the
-- filter names is the rule's, caseless.)
local function covers(fls, rls)
  for _, k in ipairs { "category", "product", "service" } do
    local want = fls[k]
    if want ~= nil then
      local have = rls[k]
      if have == nil or tostring(have):lower() ~= tostring(want):lower() then return false end
    end
  end
  return true
end

-- Attach each filter to the rules it names: rule.filters = {check, ...}.
-- find(ref) -> rules. -> the problems found (a filter naming an unknown rule,
-- one whose logsource does not cover a rule it names), as {path, id, title, reason}.
function M.resolve(filters, rules, find)
  local problems = {}
  for _, r in ipairs(rules) do r.filters = nil end
  for _, f in ipairs(filters) do
    local targets = {}
    if f.refs == "any" then
      for _, r in ipairs(rules) do targets[#targets + 1] = r end
    else
      for _, ref in ipairs(f.refs) do
        local found = find(ref)
        if #found == 0 then
          problems[#problems + 1] = { path = f.path, id = f.id, title = f.title, kind = "filter",
            reason = ("filter names an unknown rule '%s'"):format(ref) }
        end
        for _, r in ipairs(found) do
          if not r.correlation then
            if covers(f.logsource, r.logsource or {}) then
              targets[#targets + 1] = r
            else
              problems[#problems + 1] = { path = f.path, id = f.id, title = f.title, kind = "filter",
                reason = ("filter's logsource does not cover rule '%s': not applied to it"):format(ref) }
            end
          end
        end
      end
    end
    for _, r in ipairs(targets) do
      if f.refs ~= "any" or covers(f.logsource, r.logsource or {}) then
        local l = r.filters
        if not l then l = {}; r.filters = l end
        local dup = false
        for _, x in ipairs(l) do if x == f.check then dup = true end end
        if not dup then l[#l + 1] = f.check end
      end
    end
  end
  return problems
end

-- The hits that stand: those of rules without filters, and those whose every
-- filter holds on the event. holds(check, rule, f) asks one; flat() gives the
-- event's fields (flattened once, when a filter is asked).
function M.apply(hits, holds, flat)
  local out, f
  for i, r in ipairs(hits) do
    local keep = true
    local fl = r.filters
    if fl then
      f = f or flat()
      for _, check in ipairs(fl) do
        if not holds(check, r, f) then keep = false; break end
      end
    end
    if keep then
      if out then out[#out + 1] = r end
    elseif not out then
      out = {}
      for j = 1, i - 1 do out[j] = hits[j] end
    end
  end
  return out or hits
end

return M

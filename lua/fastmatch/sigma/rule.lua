-- fastmatch.sigma.rule: one YAML document -> a compiled rule.
--
-- A rule is its metadata, its condition as a closure over selections (each
-- an and/or of items: a field, its modifiers and value groups), its items,
-- and what the index needs: the requirements of the condition (covers of
-- items one of which must have an indexed hit for the rule to fire; none when
-- it can fire with no hit: `always`) and the literals one of which a JSON
-- line must hold for it to fire (the scan's prefilter).

local condition = require "fastmatch.sigma.condition"
local modifiers = require "fastmatch.sigma.modifiers"
local unpack = table.unpack or unpack

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring

local M = {}

local function is_list(t) return type(t) == "table" and t[1] ~= nil end

local function split_key(key)
  local parts = {}
  for p in (key .. "|"):gmatch("([^|]*)|") do parts[#parts + 1] = p end
  local field = table.remove(parts, 1)
  return field, parts
end

-- One "Field|mods: value(s)" -> an item, or nil, reason.
local function compile_item(eng, key, v, null)
  local field, mods = split_key(key)
  local set, err = modifiers.check(mods)
  if not set then return nil, err end
  local item = { keyword = field == "", field = field ~= "" and field or nil, groups = {} }
  local vals = is_list(v) and v or { v }
  if type(v) == "table" and v ~= null and not is_list(v) then
    if next(v) == nil then return nil, "empty value list for '" .. key .. "'" end
    return nil, "a map as the value of '" .. key .. "'"
  end
  for _, x in ipairs(vals) do
    local ok, g, gerr = pcall(modifiers.value, x, mods, set, null, eng.opts)
    if not ok then return nil, tostring(g):gsub("^fastmatch%.sigma: ", "") end
    if not g then return nil, gerr end
    g.wc = true
    for _, alt in ipairs(g.alts) do
      if alt.kind == "wc" then
        if eng.cased then alt.cased = true end
        alt.key = nil  -- set below, once the pattern is final
        if item.keyword then
          -- a keyword is searched in any value of the event, as full-text search does
          alt.pattern = "*" .. alt.pattern .. "*"
          alt.parts = { modifiers.STAR, unpack(alt.parts) }
          alt.parts[#alt.parts + 1] = modifiers.STAR
        end
      else
        g.wc = false
      end
    end
    for _, alt in ipairs(g.alts) do
      if alt.kind == "wc" then alt.key = (alt.cased and "1" or "0") .. alt.pattern end
    end
    g.vi = #item.groups + 1
    item.groups[g.vi] = g
  end
  if item.keyword and not (set.all or #mods == 0 or set.cased or set.contains or set.wide
      or set.base64 or set.base64offset or set.windash or set.utf16le or set.utf16be or set.utf16) then
    return nil, "keyword with modifier '" .. table.concat(mods, "|") .. "'"
  end
  item.all = (set.all and #item.groups > 1) or false
  -- the keys of the wildcard values, for the indexed test (see wc_hit)
  item.keys, item.nkeys, item.wc_alts = {}, 0, {}
  for _, g in ipairs(item.groups) do
    if g.wc then
      g.keys = {}
      for _, alt in ipairs(g.alts) do
        g.keys[alt.key] = true
        if not item.keys[alt.key] then
          item.keys[alt.key] = true
          item.nkeys = item.nkeys + 1
          item.wc_alts[#item.wc_alts + 1] = alt
        end
      end
    end
  end
  local others = {}
  item.unguarded = 0
  for _, g in ipairs(item.groups) do
    if not g.wc then
      others[#others + 1] = g
      -- a regex waits behind its required literal: an indexed `*literal*`
      -- whose hit makes the rule a candidate (the regex still decides)
      local guards = {}
      for _, alt in ipairs(g.alts) do
        local lit = alt.kind == "re" and modifiers.regex_literal(alt.source)
        if not lit then guards = nil; break end
        guards[#guards + 1] = { lit = lit, pattern = "*" .. modifiers.render({ lit }) .. "*" }
      end
      g.guards = guards
      if not guards then item.unguarded = item.unguarded + 1 end
    end
  end
  item.others = #others > 0 and others or nil
  -- can the item hold with no indexed hit at all?
  if item.all then
    item.free = item.unguarded == #item.groups
  else
    item.free = item.unguarded > 0
  end
  return item
end

-- A selection -> {op="and"|"or", ...} of items (and of and-groups for a list of maps).
local function compile_selection(eng, sel, null)
  local function map_and(m)
    local node = { op = "and" }
    local keys = {}
    for k in pairs(m) do
      if type(k) ~= "string" then return nil, "a field name that is not a string" end
      keys[#keys + 1] = k
    end
    table.sort(keys)
    if #keys == 0 then return nil, "an empty map in a selection" end
    for _, k in ipairs(keys) do
      local item, err = compile_item(eng, k, m[k], null)
      if not item then return nil, err end
      node[#node + 1] = item
    end
    return node
  end
  if sel == nil or sel == null then return nil, "an empty selection" end
  if type(sel) ~= "table" then
    local item, err = compile_item(eng, "", sel, null)
    if not item then return nil, err end
    return { op = "and", item }
  end
  if not is_list(sel) then return map_and(sel) end
  local node, words = { op = "or" }, {}
  for _, x in ipairs(sel) do
    if type(x) == "table" and x ~= null then
      if is_list(x) then return nil, "a list inside a selection list" end
      local a, err = map_and(x)
      if not a then return nil, err end
      node[#node + 1] = a
    else
      words[#words + 1] = x
    end
  end
  if #words > 0 then
    local item, err = compile_item(eng, "", words, null)
    if not item then return nil, err end
    node[#node + 1] = { op = "and", item }
  end
  return node
end

-- Three-valued: can the selection hold with no indexed (wildcard) hit?
local function sel_kleene(node)
  if node.op == "or" then
    local r = false
    for _, sub in ipairs(node) do
      local x = sel_kleene(sub)
      if x == nil then r = nil end
    end
    return r
  end
  for _, item in ipairs(node) do
    if not item.free then return false end
  end
  return nil
end

-- JSON text of a literal, cut to the longest run that every JSON encoder
-- writes the same way ('/' may be '\/', non-ASCII and controls may be \u-escaped).
local function json_literal(parts)
  local best = ""
  for _, p in ipairs(parts) do
    if p ~= modifiers.STAR and p ~= modifiers.ONE then
      for run in p:gmatch("[^/%c\128-\255]+") do
        local j = run:gsub('[\\"]', "\\%0")
        if #j > #best then best = j end
      end
    end
  end
  return best
end

-- The shortest literal of a wildcard alternative (JSON text) decides how
-- rare its value is; "" when it has none.
local function alt_literal(alt)
  local l = alt.json
  if l == nil then l = json_literal(alt.parts); alt.json = l end
  return l
end

-- The literals of an item: one of them is in any line where it holds; nil if none.
local function item_literals(item)
  if item.free then return nil end
  local best, bw
  for _, g in ipairs(item.groups) do
    if g.wc or g.guards then
      local lits, m = {}, math.huge
      for _, alt in ipairs(g.guards or g.alts) do
        local l = g.guards and json_literal({ alt.lit }) or alt_literal(alt)
        if l == "" then lits = nil; break end
        lits[#lits + 1] = l
        if #l < m then m = #l end
      end
      if not item.all then
        if not lits then return nil end
        if not best then best, bw = {}, math.huge end
        for _, l in ipairs(lits) do best[#best + 1] = l end
        if m < bw then bw = m end
      elseif lits and (not best or m > bw) then
        best, bw = lits, m  -- every value must be there: the rarest one will do
      end
    end
  end
  return best, bw
end

-- Weight of a list of literals: its shortest one.
local function lits_weight(r)
  local m = math.huge
  for _, l in ipairs(r) do
    if #l < m then m = #l end
  end
  return m
end

-- The literals of a selection, one of which a line must hold for it to
-- hold: per `and` the rarest item's, per `or` the union; nil when none.
local function sel_literals(node)
  if node.op == "or" then
    local out = {}
    for _, sub in ipairs(node) do
      local r = sel_literals(sub)
      if not r then return nil end
      for _, l in ipairs(r) do out[#out + 1] = l end
    end
    return out
  end
  local best, bw
  for _, item in ipairs(node) do
    local lits, w = item_literals(item)
    if lits and (not best or w > bw) then best, bw = lits, w end
  end
  return best
end

-- How many requirements of a rule the index watches (see build).
M.GATES = 2
local GATES = M.GATES

-- How rare an item's values are: its shortest literal (0 when it has none).
local function item_weight(item)
  local w = item.weight
  if w == nil then
    local _, lw = item_literals(item)
    w = lw or 0
    if w == math.huge then w = 0 end
    item.weight = w
  end
  return w
end

local function cover_weight(cover)
  local m = math.huge
  for _, it in ipairs(cover) do
    local w = item_weight(it)
    if w < m then m = w end
  end
  return m
end

-- A selection's requirements: each item of an `and` that needs an indexed
-- hit is one; an `or` (list of maps) is one cover: the best of each branch.
local function sel_reqs(node)
  if node.op == "or" then
    local u = {}
    for _, sub in ipairs(node) do
      local r = sel_reqs(sub)
      if #r == 0 then return {} end
      local best, bw
      for _, c in ipairs(r) do
        local w = cover_weight(c)
        if not best or w > bw then best, bw = c, w end
      end
      for _, it in ipairs(best) do u[#u + 1] = it end
    end
    return { u }
  end
  local out = {}
  for _, item in ipairs(node) do
    if not item.free then out[#out + 1] = { item } end
  end
  return out
end

local function collect_items(node, out)
  for _, sub in ipairs(node) do
    if sub.op then collect_items(sub, out) else out[#out + 1] = sub end
  end
  return out
end

-- A selection's closure f(ctx) over its items (ctx.test decides an item).
local function sel_fn(node)
  if node.op == "or" then
    local fs = {}
    for i, sub in ipairs(node) do fs[i] = sel_fn(sub) end
    if #fs == 1 then return fs[1] end
    return function(ctx)
      for i = 1, #fs do if fs[i](ctx) then return true end end
      return false
    end
  end
  local its = {}
  for i, it in ipairs(node) do its[i] = it end
  if #its == 1 then
    local it = its[1]
    return function(ctx) return ctx.test(it, ctx) end
  end
  return function(ctx)
    local test = ctx.test
    for i = 1, #its do if not test(its[i], ctx) then return false end end
    return true
  end
end

-- rule.cond again from rule.tree and rule.nodes (the cache keeps the tree,
-- not closures: sigma/cache.lua)
function M.revive(rule)
  local sels = {}
  for nm, node in pairs(rule.nodes) do sels[nm] = sel_fn(node) end
  rule.cond = condition.compile(rule.tree, sels)
  return rule
end

-- One YAML document -> a rule, or nil, reason.
function M.compile(eng, doc, path, null)
  if type(doc) ~= "table" or is_list(doc) then return nil, "not a rule (the document is not a map)" end
  if doc.action ~= nil then return nil, "rule collections (action: " .. tostring(doc.action) .. ") are not supported" end
  if doc.correlation ~= nil then return nil, "correlation rules are not supported" end
  local det = doc.detection
  if type(det) ~= "table" then return nil, "no detection" end
  local cond = det.condition
  if cond == nil or cond == null then return nil, "no condition" end
  if is_list(cond) then
    local parts = {}
    for i, c in ipairs(cond) do
      if type(c) ~= "string" then return nil, "condition is not a string" end
      parts[i] = "(" .. c .. ")"
    end
    cond = table.concat(parts, " or ")
  end
  if det.timeframe ~= nil then return nil, "timeframe (aggregation) is not supported" end
  local names = {}
  for k in pairs(det) do
    if k ~= "condition" and k ~= "timeframe" then
      if type(k) ~= "string" then return nil, "a selection name that is not a string" end
      names[#names + 1] = k
    end
  end
  table.sort(names)
  local tree, err = condition.parse(cond, names)
  if not tree then return nil, err end
  if type(doc.logsource) == "table" then
    for _, k in ipairs { "category", "product", "service" } do
      local v = doc.logsource[k]
      if v ~= nil and type(v) ~= "string" then return nil, "logsource." .. k .. " is not a string" end
    end
  end
  local rule = {
    id = doc.id, title = doc.title, level = doc.level, status = doc.status,
    tags = type(doc.tags) == "table" and doc.tags or {}, path = path,
    logsource = type(doc.logsource) == "table" and doc.logsource or {},
    description = doc.description,
  }
  local sels, kl, nodes = {}, {}, {}
  local items = {}
  for _, nm in ipairs(names) do
    local node, serr = compile_selection(eng, det[nm], null)
    if not node then return nil, "selection '" .. nm .. "': " .. serr end
    nodes[nm] = node
    kl[nm] = sel_kleene(node)
    collect_items(node, items)
  end
  for _, it in ipairs(items) do it.rule = rule end
  for nm, node in pairs(nodes) do sels[nm] = sel_fn(node) end
  rule.cond = condition.compile(tree, sels)
  rule.tree, rule.nodes = tree, nodes  -- for the gate's program (sigma/program.lua)
  rule.items = items
  rule.always = condition.kleene(tree, kl) ~= false
  rule.literals = condition.cover(tree, function(nm) return sel_literals(nodes[nm]) end, lits_weight)
  -- Requirements: covers (lists of items) each of which must have a hit for
  -- the rule to fire. The index makes one of them the rule's gate (see build).
  rule.reqs = condition.requirements(tree, function(nm) return sel_reqs(nodes[nm]) end, item_weight)
  if #rule.reqs == 0 then rule.always = true end
  local full = 0  -- every watched gate's bit (2^n - 1, as an integer)
  for _ = 1, math.min(GATES, #rule.reqs) do full = full * 2 + 1 end
  rule.full = full
  return rule
end

M.json_literal = json_literal
return M

-- fastmatch.sigma: a Sigma detection engine on fastmatch's matchers.
--
-- Stages, as LPeg's: read rules (YAML, lyaml) -> compile (condition tree,
-- logsource variants, value modifiers: sigma/condition.lua, sigma/logsource.lua,
-- sigma/modifiers.lua) -> index (per logsource variant and event field, one
-- fm.set of every wildcard value of every rule) -> run (match one event, scan a
-- JSON-lines stream behind a literal prefilter).
--
-- The cost of an event does not grow with the number of rules: each field
-- value of the event goes once through its field's set (C), which names the
-- rule items it satisfies; only rules with a hit, and the few that can fire
-- without one (`not x`, null, regexes...), have their condition evaluated.

local fm = require "fastmatch"
local condition = require "fastmatch.sigma.condition"
local modifiers = require "fastmatch.sigma.modifiers"
local logsource = require "fastmatch.sigma.logsource"

local M = {}

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local lower, mtype, tointeger = string.lower, math.type, math.tointeger

local lyaml_mod, cjson_safe
local function lyaml()
  if not lyaml_mod then
    local ok, m = pcall(require, "lyaml")
    if not ok then error("fastmatch.sigma: needs lyaml to read rules (apt install lua-yaml, or luarocks install lyaml)", 3) end
    lyaml_mod = m
  end
  return lyaml_mod
end
local function cjson()
  if not cjson_safe then
    local ok, m = pcall(require, "cjson.safe")
    if not ok then error("fastmatch.sigma: needs lua-cjson to read JSON (apt install lua-cjson, or luarocks install lua-cjson)", 3) end
    cjson_safe = m
  end
  return cjson_safe
end

-- ---------------------------------------------------------------- events
-- Events are flattened once into name -> text (or an array of texts for list
-- values). The first writer wins, in the order the lookup rule gives: the
-- flat event's own fields, Event.EventData, Event.UserData.<any>, Event.System
-- (with `#attributes` as <element>_<attribute>, e.g. Provider_Name).

local function text(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    -- JSON numbers come as floats: 4688 must read "4688", as the rule wrote it
    local i = mtype(v) == "float" and tointeger(v) or nil
    if i then return ("%d"):format(i) end
    return tostring(v)
  end
  if t == "boolean" then return tostring(v) end
  return nil  -- JSON/YAML null, userdata: absent
end
M.text = text

-- name -> the name without spaces, or false: computed once per name
local despaced = setmetatable({}, { __mode = "k", __index = function(t, k)
  local k2 = k:find(" ", 1, true) and k:gsub(" ", "") or false
  t[k] = k2
  return k2
end })

local function put(f, k, v)
  if v == nil then return end
  if f[k] == nil then f[k] = v end
  -- Defender's "Threat Name" is the rule's ThreatName (as SigmaHQ's CI reads it)
  local k2 = despaced[k]
  if k2 and f[k2] == nil then f[k2] = v end
end

local function scalars(t)
  local out = {}
  for i = 1, #t do
    local s = text(t[i])
    if s == nil and type(t[i]) == "table" then s = text(t[i]["#text"]) end
    if s ~= nil then out[#out + 1] = s end
  end
  return out
end

-- EventData / UserData children: names -> values; nested maps by leaf names.
local function put_data(f, t)
  for k, v in pairs(t) do
    local tv = type(v)
    if type(k) ~= "string" or k:byte(1) == 35 then  -- '#': attributes, text
      -- not a field
    elseif tv == "string" and f[k] == nil and not despaced[k] then
      f[k] = v  -- the common case, inline
    else
      if tv ~= "table" then
        put(f, k, text(v))
      elseif v["#text"] ~= nil then
        put(f, k, text(v["#text"]))
      elseif v[1] ~= nil then
        -- <Data Name="x">v</Data> elements, or unnamed data as a list
        local named = false
        for _, d in ipairs(v) do
          local a = type(d) == "table" and d["#attributes"]
          if type(a) == "table" and a.Name then
            named = true
            put(f, tostring(a.Name), text(d["#text"]))
          end
        end
        if not named then put(f, k, scalars(v)) end
      else
        put_data(f, v)
      end
    end
  end
end

-- element -> attribute -> "<element>_<attribute>", made once
local attr_names = setmetatable({}, { __index = function(t, k)
  local v = {}
  t[k] = v
  return v
end })

local function put_system(f, t, prefix)
  for k, v in pairs(t) do
    if type(k) == "string" then
      local name = prefix == "" and k or prefix .. k
      if type(v) ~= "table" then
        put(f, name, text(v))
      else
        for ck, cv in pairs(v) do
          if ck == "#attributes" then
            if type(cv) == "table" then
              local names = attr_names[name]
              for ak, av in pairs(cv) do
                local an = names[ak]
                if not an then an = name .. "_" .. ak; names[ak] = an end
                put(f, an, text(av))
              end
            end
          elseif ck == "#text" then
            put(f, name, text(cv))
          elseif type(ck) == "string" then
            put_system(f, { [ck] = cv }, name .. "_")
          end
        end
      end
    end
  end
end

local function put_flat(f, t, prefix)
  for k, v in pairs(t) do
    if type(k) == "string" then
      local name = prefix .. k
      if type(v) == "table" then
        if v[1] ~= nil then put(f, name, scalars(v))
        elseif next(v) ~= nil then put_flat(f, v, name .. ".") end
      else
        put(f, name, text(v))
      end
    end
  end
end

local function flatten(event)
  local f = {}
  local E = event.Event
  if type(E) == "table" then
    for k, v in pairs(event) do
      if k ~= "Event" and type(k) == "string" then
        if type(v) == "table" then put_flat(f, v, k .. ".") else put(f, k, text(v)) end
      end
    end
    if type(E.EventData) == "table" then put_data(f, E.EventData) end
    if type(E.UserData) == "table" then
      for _, child in pairs(E.UserData) do
        if type(child) == "table" then put_data(f, child) end
      end
    end
    if type(E.System) == "table" then put_system(f, E.System, "") end
  else
    put_flat(f, event, "")
  end
  return f
end
M.flatten = flatten

-- ---------------------------------------------------------------- reading rules
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
          alt.parts = { modifiers.STAR, table.unpack(alt.parts) }
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

-- Weight of a list of literals (or of items): its shortest literal.
local function lits_weight(r)
  local m = math.huge
  for _, l in ipairs(r) do
    local n = type(l) == "string" and #l or l.weight
    if n < m then m = n end
  end
  return m
end

-- A selection's cover: per `and` one item (the rarest), per `or` the union.
-- kind "items" gives the items, else their literals.
local function sel_cover(node, kind)
  if node.op == "or" then
    local out = {}
    for _, sub in ipairs(node) do
      local r = sel_cover(sub, kind)
      if not r then return nil end
      for _, l in ipairs(r) do out[#out + 1] = l end
    end
    return out
  end
  local best, bw
  for _, item in ipairs(node) do
    local lits, w = item_literals(item)
    local r
    if kind == "items" then
      -- an item that needs an indexed hit to hold (keywords too)
      if not item.free then
        r = { item }
        w = lits and w or 0
        item.weight = w
      end
    else
      r = lits
    end
    if r and (not best or w > bw) then best, bw = r, w end
  end
  return best
end

-- How many requirements of a rule the index watches (see build).
local GATES = 2

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

-- One YAML document -> a rule, or nil, reason.
local function compile_rule(eng, doc, path, null)
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
  for nm, node in pairs(nodes) do sels[nm] = sel_fn(node) end
  rule.cond = condition.compile(tree, sels)
  rule.items = items
  rule.always = condition.kleene(tree, kl) ~= false
  rule.literals = condition.cover(tree, function(nm) return sel_cover(nodes[nm], "lits") end, lits_weight)
  -- Requirements: covers (lists of items) each of which must have a hit for
  -- the rule to fire. The index makes one of them the rule's gate (see build).
  rule.reqs = condition.requirements(tree, function(nm) return sel_reqs(nodes[nm]) end, item_weight)
  if #rule.reqs == 0 then rule.always = true end
  rule.full = (1 << math.min(GATES, #rule.reqs)) - 1
  return rule
end

-- ---------------------------------------------------------------- the engine
local Engine = {}
Engine.__index = Engine

local OPTS = { logsources = true, placeholders = true, cased = true, wildcards = true, unmapped = true }

function M.engine(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #1 to 'engine' (table expected, got %s)"):format(type(opts)), 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if not OPTS[k] then error(("bad argument #1 to 'engine' (unknown option '%s')"):format(tostring(k)), 2) end
  end
  local wc = opts.wildcards or "fast"
  if wc ~= "fast" and wc ~= "regex" then
    error("bad argument #1 to 'engine' (wildcards must be \"fast\" or \"regex\")", 2)
  end
  if opts.unmapped ~= nil and opts.unmapped ~= "all" and opts.unmapped ~= "skip" then
    error("bad argument #1 to 'engine' (unmapped must be \"all\" or \"skip\")", 2)
  end
  local mapping = opts.logsources
  if type(mapping) == "string" then
    local f, err = io.open(mapping)
    if not f then return nil, err end
    local s = f:read("a")
    f:close()
    local ok, t = pcall(lyaml().load, s)
    if not ok or type(t) ~= "table" then return nil, mapping .. ": not a logsource mapping (" .. tostring(t) .. ")" end
    mapping = t
  elseif mapping == nil then
    mapping = logsource.windows
  elseif type(mapping) ~= "table" then
    error(("bad argument #1 to 'engine' (logsources: path or table expected, got %s)"):format(type(mapping)), 2)
  end
  local eng = setmetatable({
    rules = {}, skipped = {}, opts = opts, cased = opts.cased and true or false,
    regex = wc == "regex", resolve = logsource.resolver(mapping),
    variants = {}, variant_list = {}, unmapped = {}, unmapped_rules = 0, dirty = true,
  }, Engine)
  return eng
end

local function variant_for(eng, v)
  local have = eng.variants[v.key]
  if have then return have end
  for _, c in ipairs(v.conds) do
    c.set = {}
    for _, x in ipairs(c.values) do c.set[x] = true end
  end
  v.rules = {}
  eng.variants[v.key] = v
  eng.variant_list[#eng.variant_list + 1] = v
  return v
end

local ALL_EVENTS = { key = "*", conds = {}, rename = {} }

local function adopt(eng, rule)
  rule.index = #eng.rules + 1
  eng.rules[rule.index] = rule
  local vs = eng.resolve(rule.logsource)
  rule.variants = {}
  if not vs then
    local ls = rule.logsource
    local key = ("%s/%s/%s"):format(ls.product or "-", ls.category or "-", ls.service or "-")
    eng.unmapped[key] = (eng.unmapped[key] or 0) + 1
    eng.unmapped_rules = eng.unmapped_rules + 1
    rule.unmapped = true
    if eng.opts.unmapped == "all" then vs = { ALL_EVENTS } else vs = {} end
  end
  for _, v in ipairs(vs) do
    local var = variant_for(eng, v)
    var.rules[#var.rules + 1] = rule
    rule.variants[#rule.variants + 1] = var
  end
  eng.dirty = true
end

-- eng:add(yaml_text [, name]) -> number loaded, skipped
function Engine:add(yaml_text, name)
  if type(yaml_text) ~= "string" then
    error(("bad argument #1 to 'add' (string expected, got %s)"):format(type(yaml_text)), 2)
  end
  if name ~= nil and type(name) ~= "string" then
    error(("bad argument #2 to 'add' (string expected, got %s)"):format(type(name)), 2)
  end
  local ly = lyaml()
  local skipped = {}
  local ok, docs = pcall(ly.load, yaml_text, { all = true })
  if not ok then
    skipped[1] = { path = name, reason = "YAML: " .. tostring(docs):gsub("^.-:%d+: ", "") }
  elseif type(docs) ~= "table" or #docs == 0 then
    skipped[1] = { path = name, reason = "no YAML document" }
  elseif #docs > 1 then
    local d = type(docs[1]) == "table" and docs[1] or {}
    skipped[1] = { path = name, id = d.id, title = d.title,
      reason = "multi-document rule collections are not supported" }
  else
    local doc = docs[1]
    local rule, err = compile_rule(self, doc, name, ly.null)
    if rule then
      adopt(self, rule)
      return 1, skipped
    end
    local d = type(doc) == "table" and doc or {}
    skipped[1] = { path = name, id = d.id, title = d.title, reason = err }
  end
  for _, s in ipairs(skipped) do self.skipped[#self.skipped + 1] = s end
  return 0, skipped
end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- eng:load(path) -> number loaded, skipped; nil, message when path cannot be read.
function Engine:load(path)
  if type(path) ~= "string" then
    error(("bad argument #1 to 'load' (string expected, got %s)"):format(type(path)), 2)
  end
  local f, err = io.open(path)
  if not f then return nil, err end
  local _, rerr, code = f:read(0)
  f:close()
  local files = {}
  if rerr and code == 21 then  -- EISDIR: walk it, in a stable order
    local p = io.popen("LC_ALL=C find " .. shell_quote(path) .. " -type f -name '*.yml' | LC_ALL=C sort")
    for line in p:lines() do files[#files + 1] = line end
    p:close()
  else
    files[1] = path
  end
  local n, skipped = 0, {}
  for _, file in ipairs(files) do
    local fh, ferr = io.open(file)
    if not fh then
      local s = { path = file, reason = ferr }
      skipped[#skipped + 1] = s
      self.skipped[#self.skipped + 1] = s
    else
      local s = fh:read("a")
      fh:close()
      local k, sk = self:add(s, file)
      n = n + k
      for _, x in ipairs(sk) do skipped[#skipped + 1] = x end
    end
  end
  return n, skipped
end

-- ---------------------------------------------------------------- the index
local KW = "\0keywords"  -- the index entry of field-less values

local function build(eng)
  eng.dispatch = { both = {}, chan = {}, eid = {}, none = {} }
  local d = eng.dispatch
  for _, v in ipairs(eng.variant_list) do
    v.fields, v.always = {}, {}
    -- name -> cased -> {list = patterns, trig = per pattern the rules it can start}
    local pats = {}
    -- trig[i]: pairs rule, bits: the gates of the rule that pattern i opens
    local function add(name, cased, alt, gate, rule)
      local byname = pats[name]
      if not byname then byname = {}; pats[name] = byname end
      local e = byname[cased]
      if not e then e = { list = {}, trig = {}, at = {}, seen = {} }; byname[cased] = e end
      local pat = alt.pattern
      local i = e.at[pat]
      if not i then
        i = #e.list + 1
        e.list[i], e.at[pat], e.trig[i], e.seen[i] = pat, i, {}, {}
      end
      if gate then
        local t = e.trig[i]
        local at = e.seen[i][rule]
        if at then
          t[at + 1] = t[at + 1] | gate
        else
          e.seen[i][rule] = #t + 1
          t[#t + 1], t[#t + 2] = rule, gate
        end
      end
    end
    local function field_of(item)
      return item.keyword and KW or (v.rename[item.field] or item.field)
    end
    local function each_pattern(item, f)
      local name = field_of(item)
      for _, g in ipairs(item.groups) do
        for _, alt in ipairs(g.wc and g.alts or g.guards or {}) do
          f(name .. "\0" .. (alt.cased and "1" or "0") .. alt.pattern)
        end
      end
    end
    -- The gate of a rule: the requirement whose patterns the fewest rules
    -- share. A pattern many rules need (\cmd.exe) is common in events too,
    -- and a hit on it would make hundreds of rules candidates.
    local gate = {}
    if not eng.regex then
      local pop = {}
      for _, rule in ipairs(v.rules) do
        if not rule.always then
          local seen = {}
          for _, cover in ipairs(rule.reqs) do
            for _, it in ipairs(cover) do
              each_pattern(it, function(k)
                if not seen[k] then seen[k] = true; pop[k] = (pop[k] or 0) + 1 end
              end)
            end
          end
        end
      end
      for _, rule in ipairs(v.rules) do
        if not rule.always then
          local order = {}
          for i, cover in ipairs(rule.reqs) do
            local c = 0
            for _, it in ipairs(cover) do each_pattern(it, function(k) c = c + pop[k] end) end
            order[i] = { cover = cover, cost = c, i = i }
          end
          table.sort(order, function(a, b)
            if a.cost ~= b.cost then return a.cost < b.cost end
            return a.i < b.i
          end)
          -- two gates: a rule is a candidate once both have a hit
          for k = 1, math.min(GATES, #order) do
            for _, it in ipairs(order[k].cover) do gate[it] = (gate[it] or 0) | (1 << (k - 1)) end
          end
        end
      end
    end
    for _, rule in ipairs(v.rules) do
      if eng.regex or rule.always then v.always[#v.always + 1] = rule end
      if not eng.regex then
        for _, item in ipairs(rule.items) do
          local name = field_of(item)
          local g8 = not rule.always and gate[item] or nil
          for _, g in ipairs(item.groups) do
            if g.wc then
              for _, alt in ipairs(g.alts) do add(name, alt.cased, alt, g8, rule) end
            elseif g.guards and g8 then
              for _, guard in ipairs(g.guards) do add(name, false, guard, g8, rule) end
            end
          end
        end
      end
    end
    for name, byname in pairs(pats) do
      local e = { patterns = 0 }
      for cased, p in pairs(byname) do
        local set = fm.set(p.list, { cased = cased })
        local keys = {}
        for i, pat in ipairs(p.list) do keys[i] = (cased and "1" or "0") .. pat end
        for i, t in ipairs(p.trig) do if #t == 0 then p.trig[i] = false end end
        -- the C methods, fetched once: a probe calls them directly
        if cased then e.cs, e.cs_keys, e.cs_trig, e.cs_test, e.cs_all = set, keys, p.trig, set.test, set.all
        else e.ci, e.ci_keys, e.ci_trig, e.ci_test, e.ci_all = set, keys, p.trig, set.test, set.all end
        e.patterns = e.patterns + #p.list
      end
      if name == KW then v.kw = e else v.fields[name] = e end
    end
    -- dispatch on Channel and EventID, then check every condition
    local ch, eid
    for _, c in ipairs(v.conds) do
      if c.field == "Channel" then ch = c.values elseif c.field == "EventID" then eid = c.values end
    end
    local function reg(tab, key)
      local l = tab[key]
      if not l then l = {}; tab[key] = l end
      l[#l + 1] = v
    end
    if ch and eid then
      for _, a in ipairs(ch) do for _, b in ipairs(eid) do reg(d.both, a .. "\0" .. b) end end
    elseif ch then
      for _, a in ipairs(ch) do reg(d.chan, a) end
    elseif eid then
      for _, b in ipairs(eid) do reg(d.eid, b) end
    else
      d.none[#d.none + 1] = v
    end
  end
  eng.prefilter_set, eng.prefilter_lits = nil, nil
  eng.dirty = false
end

local function cond_holds(v, f)
  for _, c in ipairs(v.conds) do
    local val = f[c.field]
    if type(val) == "string" then
      if not c.set[lower(val)] then return false end
    elseif type(val) == "table" then
      local any = false
      for _, s in ipairs(val) do if c.set[lower(s)] then any = true; break end end
      if not any then return false end
    else
      return false
    end
  end
  return true
end

local EMPTY = {}
local function applicable(eng, f)
  local d = eng.dispatch
  local ch, eid = f.Channel, f.EventID
  ch = type(ch) == "string" and lower(ch) or nil
  eid = type(eid) == "string" and eid or nil
  local out = {}
  local lists = {
    ch and eid and d.both[ch .. "\0" .. eid] or EMPTY,
    ch and d.chan[ch] or EMPTY, eid and d.eid[eid] or EMPTY, d.none,
  }
  for _, l in ipairs(lists) do
    for _, v in ipairs(l) do
      if cond_holds(v, f) then out[#out + 1] = v end
    end
  end
  return out
end

-- ---------------------------------------------------------------- evaluating items
local iequals, fcontains, fstarts, fends = fm.iequals, fm.contains, fm.startswith, fm.endswith

local function matcher(eng, alt)
  local m = alt.matcher
  if m then return m end
  if eng.regex then
    m = fm.compile(modifiers.to_regex(alt.parts), alt.cased and "s" or "is")
  else
    m = fm.wildcard(alt.pattern, { cased = alt.cased })
  end
  alt.matcher = m
  return m
end

local function alt_test(eng, alt, s, ctx)
  local k = alt.kind
  if k == "wc" then return matcher(eng, alt):test(s) end
  if k == "re" then return alt.regex:test(s) end
  if k == "cidr" then return modifiers.cidr_test(alt, s) end
  if k == "cmp" then
    local n = tonumber(s)
    if not n then return false end
    local op = alt.op
    if op == "gt" then return n > alt.num elseif op == "gte" then return n >= alt.num
    elseif op == "lt" then return n < alt.num else return n <= alt.num end
  end
  if k == "fieldref" then
    local o = ctx.f[ctx.rename[alt.field] or alt.field]
    if type(o) ~= "string" then return false end
    local how, cs = alt.how, alt.cased
    if how == "equals" then if cs then return s == o end return iequals(s, o) end
    if how == "contains" then return fcontains(s, o, not cs) ~= nil end
    if how == "startswith" then return fstarts(s, o, not cs) end
    return fends(s, o, not cs)
  end
  return false
end

-- Does one value group hold for a field value (string, array, or nil)?
local function group_test(eng, g, val, ctx)
  for _, alt in ipairs(g.alts) do
    local k = alt.kind
    if k == "null" then
      if val == nil or val == "" or (type(val) == "table" and val[1] == nil) then return true end
    elseif k == "exists" then
      if (val ~= nil) == alt.want then return true end
    elseif val == KW then
      for _, s in pairs(ctx.f) do
        if type(s) == "string" then
          if alt_test(eng, alt, s, ctx) then return true end
        else
          for _, x in ipairs(s) do if alt_test(eng, alt, x, ctx) then return true end end
        end
      end
    elseif type(val) == "string" then
      if alt_test(eng, alt, val, ctx) then return true end
    elseif type(val) == "table" then
      for _, s in ipairs(val) do
        if alt_test(eng, alt, s, ctx) then return true end
      end
    end
  end
  return false
end

-- The indexed path: wildcard groups answered by what the sets matched
-- (ctx.m[event field][alt.key]), other groups tested here.
local function wc_hit(keys, nkeys, alts, mt)
  -- loop over the smaller side: the patterns that matched, or the values
  if mt[1] < nkeys then
    for k in next, mt do
      if keys[k] then return true end
    end
    return false
  end
  for i = 1, #alts do
    if mt[alts[i].key] then return true end
  end
  return false
end

local function test_indexed(item, ctx)
  local name = item.keyword and KW or (ctx.rename[item.field] or item.field)
  local mt = ctx.m[name]
  if not item.all then
    if mt and item.nkeys > 0 and wc_hit(item.keys, item.nkeys, item.wc_alts, mt) then return true end
    local others = item.others
    if others then
      local val = item.keyword and KW or ctx.f[name]
      for i = 1, #others do
        if group_test(ctx.eng, others[i], val, ctx) then return true end
      end
    end
    return false
  end
  local groups = item.groups
  for i = 1, #groups do
    local g = groups[i]
    if g.wc then
      if not (mt and wc_hit(g.keys, #g.alts, g.alts, mt)) then return false end
    else
      local val = item.keyword and KW or ctx.f[name]
      if not group_test(ctx.eng, g, val, ctx) then return false end
    end
  end
  return true
end

-- The naive path: every value its own matcher.
local function test_naive(item, ctx)
  local val = item.keyword and KW or ctx.f[ctx.rename[item.field] or item.field]
  local eng = ctx.eng
  if not item.all then
    for _, g in ipairs(item.groups) do
      if group_test(eng, g, val, ctx) then return true end
    end
    return false
  end
  for _, g in ipairs(item.groups) do
    if not group_test(eng, g, val, ctx) then return false end
  end
  return true
end

-- One field value through its sets: what matched goes to mt, the rules whose
-- trigger matched to cands.
local function probe(e, s, m, name, cands, nc)
  local set, test, all = e.ci, e.ci_test, e.ci_all
  if set and test(set, s) then
    local idx, keys, trig = all(set, s), e.ci_keys, e.ci_trig
    local mt = m[name]
    if not mt then mt = { 0 }; m[name] = mt end
    mt[1] = mt[1] + #idx
    for i = 1, #idx do
      local k = idx[i]
      mt[keys[k]] = true
      local t = trig[k]
      if t then
        for j = 1, #t, 2 do
          local r = t[j]
          local old = cands[r] or 0
          local now = old | t[j + 1]
          if now ~= old then
            cands[r] = now
            if now == r.full then nc = nc + 1; cands[nc] = r end
          end
        end
      end
    end
  end
  set, test, all = e.cs, e.cs_test, e.cs_all
  if set and test(set, s) then
    local idx, keys, trig = all(set, s), e.cs_keys, e.cs_trig
    local mt = m[name]
    if not mt then mt = { 0 }; m[name] = mt end
    mt[1] = mt[1] + #idx
    for i = 1, #idx do
      local k = idx[i]
      mt[keys[k]] = true
      local t = trig[k]
      if t then
        for j = 1, #t, 2 do
          local r = t[j]
          local old = cands[r] or 0
          local now = old | t[j + 1]
          if now ~= old then
            cands[r] = now
            if now == r.full then nc = nc + 1; cands[nc] = r end
          end
        end
      end
    end
  end
  return nc
end

local function by_index(a, b) return a.index < b.index end

local function check_event(event, fname)
  if type(event) ~= "table" then
    error(("bad argument #1 to '%s' (table expected, got %s)"):format(fname, type(event)), 3)
  end
end

local function naive_flat(eng, f)
  local ctx = { eng = eng, f = f, test = test_naive, rename = EMPTY }
  local out = {}
  for _, rule in ipairs(eng.rules) do
    for _, v in ipairs(rule.variants) do
      if cond_holds(v, f) then
        ctx.rename = v.rename
        if rule.cond(ctx) then out[#out + 1] = rule; break end
      end
    end
  end
  return out
end

-- eng:match(event) -> array of the rules that fire, in load order
function Engine:match(event)
  check_event(event, "match")
  if self.dirty then build(self) end
  local f = flatten(event)
  if self.regex then return naive_flat(self, f) end
  local vs = applicable(self, f)
  local out, fired = {}, {}
  if #vs == 0 then return out end
  local ctx = { eng = self, f = f, test = test_indexed }
  local all_text
  for _, v in ipairs(vs) do
    local m, cands, nc = {}, {}, 0
    local fields = v.fields
    for name, val in pairs(f) do
      local e = fields[name]
      if e then
        if type(val) == "string" then
          nc = probe(e, val, m, name, cands, nc)
        else
          for i = 1, #val do nc = probe(e, val[i], m, name, cands, nc) end
        end
      end
    end
    local kw = v.kw
    -- keywords are `*value*`: one pass over all values joined says whether
    -- any value can hold one (a superset), before the per-value passes
    if kw and not all_text then
      local parts = {}
      for _, val in pairs(f) do
        if type(val) == "string" then parts[#parts + 1] = val
        else for i = 1, #val do parts[#parts + 1] = val[i] end end
      end
      all_text = table.concat(parts, "\n")
    end
    if kw and ((kw.ci and kw.ci:test(all_text)) or (kw.cs and kw.cs:test(all_text))) then
      for _, val in pairs(f) do
        if type(val) == "string" then
          nc = probe(kw, val, m, KW, cands, nc)
        else
          for i = 1, #val do nc = probe(kw, val[i], m, KW, cands, nc) end
        end
      end
    end
    ctx.m, ctx.rename = m, v.rename
    for i = 1, nc do
      local rule = cands[i]
      if not fired[rule] and rule.cond(ctx) then fired[rule] = true; out[#out + 1] = rule end
    end
    local always = v.always
    for i = 1, #always do
      local rule = always[i]
      if not fired[rule] and rule.cond(ctx) then fired[rule] = true; out[#out + 1] = rule end
    end
  end
  if #out > 1 then table.sort(out, by_index) end
  return out
end

-- The reference: loop over the rules, each value its own fm.wildcard (or
-- regex), no index, no prefilter. Same hits as eng:match.
function Engine:naive_match(event)
  check_event(event, "naive_match")
  if self.dirty then build(self) end
  return naive_flat(self, flatten(event))
end

function M.naive(eng)
  return function(event) return eng:naive_match(event) end
end

-- ---------------------------------------------------------------- scanning
local function variant_literals(v)
  for _, c in ipairs(v.conds) do
    if c.field == "Channel" then
      local out = {}
      for _, ch in ipairs(c.values) do
        local l = json_literal({ ch })
        if l == "" then return nil end
        out[#out + 1] = l
      end
      return out
    end
  end
  for _, c in ipairs(v.conds) do
    if c.field == "EventID" then return c.values end
  end
  return nil
end

-- The raw-line prefilter: a set of literals one of which every line that can
-- fire holds (JSON-escaped), or nil when some rule has none (every line passes).
function Engine:prefilter()
  if self.dirty then build(self) end
  if self.prefilter_lits ~= nil then return self.prefilter_set or nil, self.prefilter_lits end
  local lits, seen = {}, {}
  local function add(l)
    local k = lower(l)
    if not seen[k] then seen[k] = true; lits[#lits + 1] = l end
  end
  local ok = true
  for _, rule in ipairs(self.rules) do
    for _, v in ipairs(rule.variants) do
      local r = rule.literals or variant_literals(v)
      if not r then ok = false; break end
      for _, l in ipairs(r) do add(l) end
    end
    if not ok then break end
  end
  if not ok or #lits == 0 then
    self.prefilter_set, self.prefilter_lits = false, false
    return nil, false
  end
  local pats = {}
  for i, l in ipairs(lits) do pats[i] = "*" .. modifiers.render({ l }) .. "*" end
  self.prefilter_set, self.prefilter_lits = fm.set(pats), lits
  return self.prefilter_set, lits
end

local function warn_line(lineno, msg)
  io.stderr:write(("fastmatch.sigma: line %d: %s\n"):format(lineno, msg))
end

-- for event, hits, lineno in eng:scan(src [, opts]) do ... end
function Engine:scan(src, opts)
  if type(src) ~= "string" and io.type(src) ~= "file" then
    error(("bad argument #1 to 'scan' (path or file expected, got %s)"):format(type(src)), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #2 to 'scan' (table expected, got %s)"):format(type(opts)), 2)
  end
  opts = opts or {}
  local on_error = opts.on_error or warn_line
  if type(on_error) ~= "function" then
    error("bad argument #2 to 'scan' (on_error must be a function)", 2)
  end
  local filter = nil
  if opts.prefilter ~= false then filter = self:prefilter() end
  local decode = cjson().decode
  local it, st, c0, closer = fm.lines(src, { lineno = true, filter = filter })
  local function iter()
    while true do
      local line, n = it(st, c0)
      if line == nil then return nil end
      if line:find("%S") then
        local ev, err = decode(line)
        if type(ev) == "table" and ev[1] == nil then
          local hits = self:match(ev)
          if #hits > 0 then return ev, hits, n end
        else
          on_error(n, err or "not a JSON object", line)
        end
      end
    end
  end
  return iter, nil, nil, closer
end

-- ---------------------------------------------------------------- stats
function Engine:stats()
  if self.dirty then build(self) end
  local s = {
    rules = #self.rules, skipped = #self.skipped, variants = #self.variant_list,
    unmapped_rules = self.unmapped_rules, unmapped = {}, fields_indexed = 0,
    patterns = 0, sets = {}, always = 0, wildcards = self.regex and "regex" or "fast",
  }
  for k, n in pairs(self.unmapped) do s.unmapped[k] = n end
  for _, v in ipairs(self.variant_list) do
    s.always = s.always + #v.always
    local function one(name, e)
      s.fields_indexed = s.fields_indexed + 1
      s.patterns = s.patterns + e.patterns
      s.sets[#s.sets + 1] = { variant = v.key, field = name, patterns = e.patterns }
    end
    for name, e in pairs(v.fields or {}) do one(name, e) end
    if v.kw then one("(keywords)", v.kw) end
  end
  table.sort(s.sets, function(a, b)
    if a.patterns ~= b.patterns then return a.patterns > b.patterns end
    return a.variant .. a.field < b.variant .. b.field
  end)
  local _, lits = self:prefilter()
  s.prefilter_literals = lits and #lits or false
  return s
end

-- Consecutive JSON objects in one text (evtx_dump writes them one after
-- another, not one a line) -> array of decoded tables; nil, message on error.
function M.decode_objects(s)
  if type(s) ~= "string" then
    error(("bad argument #1 to 'decode_objects' (string expected, got %s)"):format(type(s)), 2)
  end
  local decode = cjson().decode
  local out, i, n = {}, 1, #s
  while true do
    local start = s:find("[{%[]", i)
    if not start then break end
    local depth, j, instr = 0, start, false
    while j <= n do
      local c = s:byte(j)
      if instr then
        if c == 92 then j = j + 1 elseif c == 34 then instr = false end
      elseif c == 34 then instr = true
      elseif c == 123 or c == 91 then depth = depth + 1
      elseif c == 125 or c == 93 then
        depth = depth - 1
        if depth == 0 then break end
      end
      j = j + 1
    end
    local obj, err = decode(s:sub(start, j))
    if obj == nil then return nil, ("object at byte %d: %s"):format(start, tostring(err)) end
    out[#out + 1] = obj
    i = j + 1
  end
  return out
end

M.Engine = Engine
return M

-- fastmatch.sigma: a Sigma detection engine on fastmatch's matchers.
--
-- Stages, as LPeg's: read rules (YAML: sigma/yaml.lua; here) -> compile (sigma/rule.lua:
-- conditions via sigma/condition.lua, values via sigma/modifiers.lua; logsource
-- variants via sigma/logsource.lua) -> index (here: per logsource variant and
-- event field, one fm.set of every wildcard value of every rule) -> run (here:
-- match one event (the stages below: the event model and the gate's VM in C,
-- csrc/evmodel.c and csrc/gatevm.c, their program from sigma/program.lua; the
-- Lua index; sigma/event.lua's flatten for what the model declines), scan a
-- JSON-lines stream behind the gate). A file's documents are read by
-- sigma/collection.lua; correlations and filters, rules over the hits of
-- other rules, are resolved and run by sigma/meta.lua (docs/sigma-v2.md).
--
-- The cost of an event does not grow with the number of rules: each field
-- value of the event goes once through its field's set (C), which names the
-- patterns it matches; a rule becomes a candidate when its two watched
-- requirements have a hit, and only candidates, and the few rules that can
-- fire without any hit (`not x`, null, exists...), have their condition evaluated.

local fm = require "fastmatch"
local modifiers = require "fastmatch.sigma.modifiers"
local logsource = require "fastmatch.sigma.logsource"
local event = require "fastmatch.sigma.event"
local rule_mod = require "fastmatch.sigma.rule"
local program = require "fastmatch.sigma.program"
local collection = require "fastmatch.sigma.collection"  -- correlations, filters, collections
local meta = require "fastmatch.sigma.meta"
local core = require "fastmatch.core"

local flatten, json_literal, GATES = event.flatten, rule_mod.json_literal, rule_mod.GATES

-- Gate masks (a bit per watched requirement) without bitwise operators, which
-- Lua 5.1 and LuaJIT lack: BIT[k] is gate k's bit, OR[a * NMASK + b + 1] is a | b.
local BIT, NMASK, OR = {}, 1, {}
for k = 1, GATES do BIT[k] = NMASK; NMASK = NMASK * 2 end
for a = 0, NMASK - 1 do
  for b = 0, NMASK - 1 do
    local r = 0
    for k = 1, GATES do
      local bit = BIT[k]
      if a % (bit * 2) >= bit or b % (bit * 2) >= bit then r = r + bit end
    end
    OR[a * NMASK + b + 1] = r
  end
end

local M = {}

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local lower = string.lower

local lyaml_mod, cjson_safe
-- the YAML reader, lyaml's interface: core._yaml (libyaml, in C) or lyaml
local function lyaml()
  if not lyaml_mod then
    local m = require "fastmatch.sigma.yaml"
    if not m.load then error("fastmatch.sigma: needs libyaml (build with libyaml-dev) or lyaml (apt install lua-yaml) to read rules", 3) end
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

-- ---------------------------------------------------------------- the engine
local Engine = {}
Engine.__index = Engine

local OPTS = { logsources = true, placeholders = true, cased = true, wildcards = true, unmapped = true,
  correlation = true }

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
  if opts.correlation ~= nil and type(opts.correlation) ~= "table" then
    error("bad argument #1 to 'engine' (correlation must be a table)", 2)
  end
  -- "none": no mapping, every rule over every event (a rule that writes its
  -- own Channel is still dispatched on it: sigma/collection.lua)
  local nomap = mapping == "none"
  if nomap then mapping = { logsources = {} } end
  if type(mapping) == "string" then
    local f, err = io.open(mapping)
    if not f then return nil, err end
    local s = f:read("*a")
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
    variants = {}, variant_list = {}, unmapped = {}, unmapped_rules = 0, dirty = true, nomap = nomap,
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
  -- a rule that names its own Channel (sigma/collection.lua) needs no mapping
  local vs = rule.variants_own or (eng.nomap and { ALL_EVENTS }) or eng.resolve(rule.logsource)
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
  local ok, docs = pcall(ly.load, yaml_text, { all = true })
  local n, skipped, metarules
  if not ok then
    n, skipped = 0, { { path = name, reason = "YAML: " .. tostring(docs):gsub("^.-:%d+: ", "") } }
  elseif type(docs) ~= "table" then
    n, skipped = 0, { { path = name, reason = "no YAML document" } }
  else
    -- rules, collections, correlations, filters: sigma/collection.lua
    n, skipped, metarules = collection.add(self, docs, name, ly.null, adopt)
    if metarules then meta.install(self) elseif self.meta_installed then self.meta_dirty = true end
  end
  for _, s in ipairs(skipped) do self.skipped[#self.skipped + 1] = s end
  return n, skipped
end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- The .yml files of a path (a directory walked in a stable order, or the
-- file itself); nil, message when it cannot be read.
local function rule_files(path)
  local f, err = io.open(path)
  if not f then return nil, err end
  local _, rerr, code = f:read(0)
  f:close()
  local files = {}
  if rerr and code == 21 then  -- EISDIR: walk it, in a stable order
    -- -L: through symbolic links too (a checkout whose rules/, or whose
    -- subdirectories, are links loads as the real one does)
    local p = io.popen("LC_ALL=C find -L " .. shell_quote(path) .. " -type f -name '*.yml' | LC_ALL=C sort")
    for line in p:lines() do files[#files + 1] = line end
    p:close()
  else
    files[1] = path
  end
  return files
end

-- Add each file (texts[i]: its text when already read) -> number loaded, skipped.
local function add_files(eng, files, texts)
  local n, skipped = 0, {}
  for i, file in ipairs(files) do
    local s = texts and texts[i]
    if not s then
      local fh, ferr = io.open(file)
      if not fh then
        s = { path = file, reason = ferr }
        skipped[#skipped + 1] = s
        eng.skipped[#eng.skipped + 1] = s
        s = nil
      else
        s = fh:read("*a")
        fh:close()
      end
    end
    if s then
      local k, sk = eng:add(s, file)
      n = n + k
      for _, x in ipairs(sk) do skipped[#skipped + 1] = x end
    end
  end
  return n, skipped
end

local LOAD_OPTS = { cache = true }

-- eng:load(path [, opts]) -> number loaded, skipped; nil, message when a path
-- cannot be read. path: a rule file, a directory of them, or a list of
-- either. opts.cache: false (the default), true (the cache directory,
-- $XDG_CACHE_HOME/fastmatch) or a directory: the compiled engine is kept
-- there and reused while the files, the options and fastmatch are the same
-- (sigma/cache.lua; docs/startup.md). The cache serves a fresh engine only.
function Engine:load(path, opts)
  local paths = path
  if type(path) == "string" then paths = { path }
  elseif type(path) ~= "table" then
    error(("bad argument #1 to 'load' (string or table expected, got %s)"):format(type(path)), 2)
  end
  for i, p in ipairs(paths) do
    if type(p) ~= "string" then
      error(("bad argument #1 to 'load' (path %d is a %s)"):format(i, type(p)), 2)
    end
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #2 to 'load' (table expected, got %s)"):format(type(opts)), 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if not LOAD_OPTS[k] then error(("bad argument #2 to 'load' (unknown option '%s')"):format(tostring(k)), 2) end
  end
  local cache = opts.cache
  if cache ~= nil and type(cache) ~= "boolean" and type(cache) ~= "string" then
    error("bad argument #2 to 'load' (cache must be a boolean or a directory)", 2)
  end
  local files = {}
  for _, p in ipairs(paths) do
    local fl, err = rule_files(p)
    if not fl then return nil, err end
    for _, x in ipairs(fl) do files[#files + 1] = x end
  end
  if cache then return require("fastmatch.sigma.cache").load(self, files, cache) end
  return add_files(self, files)
end

-- ---------------------------------------------------------------- the index
local KW = "\0keywords"  -- the index entry of field-less values

local function build(eng)
  eng.dispatch = { both = {}, chan = {}, eid = {}, none = {} }
  local d = eng.dispatch
  local sets_made = {}
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
          t[at + 1] = OR[t[at + 1] * NMASK + gate + 1]
        else
          e.seen[i][rule] = #t + 1
          t[#t + 1], t[#t + 2] = rule, gate
        end
      end
    end
    local function field_of(item)
      return item.keyword and KW or (v.rename[item.field] or item.field)
    end
    -- an item's pattern keys in this variant, made once (the loops below
    -- visit each item twice; building the strings was a third of build)
    local keys_of = {}
    local function item_keys(item)
      local ks = keys_of[item]
      if ks then return ks end
      ks = {}
      local name = field_of(item) .. "\0"
      for _, g in ipairs(item.groups) do
        for _, alt in ipairs(g.wc and g.alts or g.guards or {}) do
          ks[#ks + 1] = name .. (alt.cased and "1" or "0") .. alt.pattern
        end
      end
      keys_of[item] = ks
      return ks
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
              local ks = item_keys(it)
              for j = 1, #ks do
                local k = ks[j]
                if not seen[k] then seen[k] = true; pop[k] = (pop[k] or 0) + 1 end
              end
            end
          end
        end
      end
      for _, rule in ipairs(v.rules) do
        if not rule.always then
          local order = {}
          for i, cover in ipairs(rule.reqs) do
            local c = 0
            for _, it in ipairs(cover) do
              local ks = item_keys(it)
              for j = 1, #ks do c = c + pop[ks[j]] end
            end
            order[i] = { cover = cover, cost = c, i = i }
          end
          table.sort(order, function(a, b)
            if a.cost ~= b.cost then return a.cost < b.cost end
            return a.i < b.i
          end)
          -- two gates: a rule is a candidate once both have a hit
          for k = 1, math.min(GATES, #order) do
            for _, it in ipairs(order[k].cover) do gate[it] = OR[(gate[it] or 0) * NMASK + BIT[k] + 1] end
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
        -- one set for equal lists (a field two variants index alike: a
        -- quarter of SigmaHQ's patterns): a set's answer depends on the
        -- value alone, and the gate reads it at once
        local kp = { cased and "1" or "0" }
        for i, pat in ipairs(p.list) do kp[i + 1] = #pat .. ":" .. pat end
        local skey = table.concat(kp, "\0")
        local set = sets_made[skey]
        if not set then set = fm.set(p.list, { cased = cased }); sets_made[skey] = set end
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
  -- applicable() caches by (Channel, EventID)
  eng.vcache, eng.vcount = {}, 0
  for _, v in ipairs(eng.variant_list) do
    v.simple = true
    for _, c in ipairs(v.conds) do
      if c.field ~= "Channel" and c.field ~= "EventID" then v.simple = false end
    end
  end
  eng.prefilter_set, eng.prefilter_lits = nil, nil
  eng.gate_obj = nil
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
local function applicable_uncached(eng, f)
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

-- Events repeat their (Channel, EventID): the variants they select are looked
-- up once per pair. A variant whose conditions read those two fields alone
-- (most) is decided then; one that reads another (EventType) stays a
-- candidate, checked per event. The cache is emptied when it grows (hostile
-- input cannot fill it).
local NOKEY = "\0none"
local function applicable(eng, f)
  local ch, eid = f.Channel, f.EventID
  if ch == nil then ch = NOKEY elseif type(ch) ~= "string" then return applicable_uncached(eng, f) end
  if eid == nil then eid = NOKEY elseif type(eid) ~= "string" then return applicable_uncached(eng, f) end
  local cache = eng.vcache
  local byc = cache[ch]
  local e = byc and byc[eid]
  if not e then
    local d = eng.dispatch
    local lch = ch ~= NOKEY and lower(ch) or nil
    local leid = eid ~= NOKEY and eid or nil
    local lists = {
      lch and leid and d.both[lch .. "\0" .. leid] or EMPTY,
      lch and d.chan[lch] or EMPTY, leid and d.eid[leid] or EMPTY, d.none,
    }
    local probe_f = { Channel = ch ~= NOKEY and ch or nil, EventID = leid }
    local sure, maybe = {}, {}
    for _, l in ipairs(lists) do
      for _, v in ipairs(l) do
        if v.simple then
          if cond_holds(v, probe_f) then sure[#sure + 1] = v end
        else
          maybe[#maybe + 1] = v
        end
      end
    end
    e = { sure = sure, maybe = maybe[1] and maybe or nil }
    if eng.vcount >= 4096 then
      cache = {}
      eng.vcache, eng.vcount = cache, 0
    end
    byc = cache[ch]
    if not byc then byc = {}; cache[ch] = byc end
    byc[eid] = e
    eng.vcount = eng.vcount + 1
  end
  local maybe = e.maybe
  if not maybe then return e.sure end
  local out = {}
  for i, v in ipairs(e.sure) do out[i] = v end
  for i = 1, #maybe do
    if cond_holds(maybe[i], f) then out[#out + 1] = maybe[i] end
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
  if mt and mt[2] ~= ctx.base then mt = nil end  -- an earlier event's
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

-- One field value through its sets: what matched goes to mt (m[name]: [1] how
-- many, [2] the event's base, [key] true; kept from event to event and
-- refilled, tables being dearer to make than to empty), the rules whose
-- trigger matched to cands: cands[rule] = base + the rule's gate mask (a
-- value below base is an earlier event's, so cands is never emptied), and
-- cands[1 .. nc] the rules whose gates are all open.
local idx = {}  -- set:all's answer, one table refilled (see sets.c)

-- Record what one set matched of a field's value: its n pattern indexes in idx.
local function take(n, keys, trig, m, name, cands, nc, base)
  local mt = m[name]
  if not mt then
    mt = { 0, base }; m[name] = mt
  elseif mt[2] ~= base then  -- an earlier event's: refill it
    for k in next, mt do mt[k] = nil end
    mt[1], mt[2] = 0, base
  end
  mt[1] = mt[1] + n
  for i = 1, n do
    local k = idx[i]
    mt[keys[k]] = true
    local t = trig[k]
    if t then
      for j = 1, #t, 2 do
        local r, g = t[j], t[j + 1]
        local old = cands[r]
        if not old or old < base then
          cands[r] = base + g
          if g == r.full then nc = nc + 1; cands[nc] = r end
        else
          old = old - base
          if old ~= g then
            local now = OR[old * NMASK + g + 1]
            if now ~= old then
              cands[r] = base + now
              if now == r.full then nc = nc + 1; cands[nc] = r end
            end
          end
        end
      end
    end
  end
  return nc
end

-- One value through its field's sets: the caseless one and the cased one.
local function probe(e, s, m, name, cands, nc, base)
  local set = e.ci
  if set then
    local _, n = e.ci_all(set, s, idx)
    if n > 0 then nc = take(n, e.ci_keys, e.ci_trig, m, name, cands, nc, base) end
  end
  set = e.cs
  if set then
    local _, n = e.cs_all(set, s, idx)
    if n > 0 then nc = take(n, e.cs_keys, e.cs_trig, m, name, cands, nc, base) end
  end
  return nc
end

local function load_order(a, b) return a.index < b.index end

local function check_event(event, fname)
  if type(event) ~= "table" then
    error(("bad argument #1 to '%s' (table expected, got %s)"):format(fname, type(event)), 3)
  end
end

-- ---------------------------------------------------------------- matching, in stages
-- An event is matched one of these ways, each returning the rules that fire
-- in load order; match_event below says which, and why.
--   match_gate    the event table walked in C (csrc/evtable.c), its fields
--                 settled by the event model (csrc/evmodel.c), every rule's
--                 condition run by the gate's VM (csrc/gatevm.c); the rules
--                 it leaves unknown (a comparison, an IPv6 network...: the
--                 gate says why) are decided here on the same fields, pushed
--                 to Lua once. nil and the reason when the model declines
--                 the event (a list value, a metatable, a fraction...).
--   match_fields  the fields flattened in Lua (sigma/event.lua) run by the
--                 same VM: nil when one holds a list, which the VM does not read.
--   match_index   the Lua index: each value through its field's sets, the
--                 candidates' conditions evaluated in Lua (any fields).
--   match_naive   every rule, every value its own matcher (regex mode; the
--                 reference of eng:naive_match).

local function match_naive(eng, f)
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

-- The gate's answer (nt sure ids in s.sure, nu unknown (variant, id, why)
-- triples in s.unsure) as rules: the unknown ones decided on f.
local function gate_answer(eng, s, nt, nu, f)
  local out, rules, sure = {}, eng.rules, s.sure
  s.nu = nu
  if nt + nu == 0 then return out end
  if nt == 1 and nu == 0 then out[1] = rules[sure[1]]; return out end
  local seen = {}
  for i = 1, nt do
    local id = sure[i]
    if not seen[id] then seen[id] = true; out[#out + 1] = rules[id] end
  end
  if nu > 0 then
    local ctx, vl, unsure = s.nctx, eng.variant_list, s.unsure
    if not f then  -- the model's fields, pushed once
      f = s.f
      for k in next, f do f[k] = nil end
      eng.gate_obj:fields(f)
    end
    ctx.f = f
    for i = 1, nu do
      local id = unsure[3 * i - 1]
      if not seen[id] then
        ctx.rename = vl[unsure[3 * i - 2]].rename
        if rules[id].cond(ctx) then seen[id] = true; out[#out + 1] = rules[id] end
      end
    end
  end
  if #out > 1 then table.sort(out, load_order) end
  return out
end

local function match_gate(eng, event, s)
  local nt, nu = eng.gate_obj:match_event(event, s.sure, s.unsure)
  if not nt then return nil, nu end
  return gate_answer(eng, s, nt, nu, nil)
end

local function match_fields(eng, f, s)
  local nt, nu = eng.gate_obj:match_flat(f, s.sure, s.unsure)
  if not nt then return nil, nu end
  return gate_answer(eng, s, nt, nu, f)
end

local match_index

-- the per-event tables are the engine's, emptied and refilled: growing fresh
-- ones (and collecting them) cost more than the matching
local function scratch_of(eng)
  local s = eng.scratch
  if not s then
    s = { f = {}, m = {}, cands = {}, base = 0, ctx = { eng = eng, test = test_indexed },
      sure = {}, unsure = {}, nu = 0, nctx = { eng = eng, test = test_naive, rename = EMPTY } }
    eng.scratch = s
  end
  return s
end

-- The dispatcher: the gate when the event model takes the event; else its
-- fields flattened in Lua, through the gate when they are all text, else
-- through the Lua index. s.path and s.declined say which way it went, and
-- why (eng:explain).
local function match_event(eng, event)
  local s = scratch_of(eng)
  if eng.regex then  -- no sets, so no gate
    s.path, s.declined, s.nu = "naive", nil, 0
    return match_naive(eng, flatten(event))
  end
  if not eng.gate_obj then eng:gate() end
  local out, declined = match_gate(eng, event, s)
  if out then
    s.path, s.declined = "gate", nil
    return out
  end
  local f = s.f
  for k in next, f do f[k] = nil end
  flatten(event, f)
  s.declined = declined
  out = match_fields(eng, f, s)
  if out then
    s.path = "fields"
    return out
  end
  s.path, s.nu = "index", 0
  return match_index(eng, f, s)
end

-- eng:match(event) -> array of the rules that fire, in load order
function Engine:match(event)
  check_event(event, "match")
  if self.dirty then build(self) end
  return match_event(self, event)
end

-- eng:explain(event) -> the rules that fire (as eng:match), and how:
-- {path = "gate" | "fields" | "index" | "naive", declined = why the event
-- model did not take the event ("list", "metatable", "number", ...; nil
-- when it did), unknown = {{rule =, why = {"cmp", ...}}, ...}: the rules the
-- gate could not decide, and why (core.gate_codes.why), decided in Lua}
local WHY = {}
for name, bit in pairs(core.gate_codes.why) do WHY[#WHY + 1] = { bit = bit, name = name } end
table.sort(WHY, function(a, b) return a.bit < b.bit end)

function Engine:explain(event)
  check_event(event, "explain")
  if self.dirty then build(self) end
  local hits = match_event(self, event)
  local s = self.scratch
  local how = { path = s.path, declined = s.declined, unknown = {} }
  if s.path == "gate" or s.path == "fields" then
    for i = 1, s.nu do
      local bits, names = s.unsure[3 * i], {}
      for _, w in ipairs(WHY) do
        if bits % (2 * w.bit) >= w.bit then names[#names + 1] = w.name end
      end
      how.unknown[i] = { rule = self.rules[s.unsure[3 * i - 1]], why = names }
    end
  end
  return hits, how
end

-- match_index: the sets asked value by value, candidates' conditions
-- evaluated here (the fields of an event the gate cannot read).
match_index = function(self, f, scratch)
  local m, cands, ctx = scratch.m, scratch.cands, scratch.ctx
  ctx.f = f
  local vs = applicable(self, f)
  local out = {}
  if #vs == 0 then return out end
  -- a rule is a candidate at most once per variant: only several variants
  -- (Sysmon 1 and Security 4688 both apply?) can repeat one
  local fired = #vs > 1 and {} or nil
  local all_text
  for _, v in ipairs(vs) do
    local base = scratch.base + NMASK
    if base >= 2 ^ 52 then  -- (never, in practice) start over, exactly
      for k in next, cands do cands[k] = nil end
      for k in next, m do m[k] = nil end
      base = NMASK
    end
    scratch.base = base
    local nc = 0
    local fields = v.fields
    for name, val in pairs(f) do
      local e = fields[name]
      if e then
        if type(val) == "string" then
          nc = probe(e, val, m, name, cands, nc, base)
        else
          for i = 1, #val do nc = probe(e, val[i], m, name, cands, nc, base) end
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
          nc = probe(kw, val, m, KW, cands, nc, base)
        else
          for i = 1, #val do nc = probe(kw, val[i], m, KW, cands, nc, base) end
        end
      end
    end
    ctx.m, ctx.rename, ctx.base = m, v.rename, base
    local always = v.always
    if fired then
      for i = 1, nc do
        local rule = cands[i]
        if not fired[rule] and rule.cond(ctx) then fired[rule] = true; out[#out + 1] = rule end
      end
      for i = 1, #always do
        local rule = always[i]
        if not fired[rule] and rule.cond(ctx) then fired[rule] = true; out[#out + 1] = rule end
      end
    else
      for i = 1, nc do
        local rule = cands[i]
        if rule.cond(ctx) then out[#out + 1] = rule end
      end
      for i = 1, #always do
        local rule = always[i]
        if rule.cond(ctx) then out[#out + 1] = rule end
      end
    end
  end
  if #out > 1 then table.sort(out, load_order) end
  return out
end

-- The reference: loop over the rules, each value its own fm.wildcard (or
-- regex), no index, no prefilter. Same hits as eng:match.
function Engine:naive_match(event)
  check_event(event, "naive_match")
  if self.dirty then build(self) end
  return match_naive(self, flatten(event))
end

-- One compiled rule's condition on a flattened event, every value its own
-- matcher, under the given logsource variants (default: the rule's; none:
-- as it stands). Filters (sigma/filter.lua) ask this of the rules they name.
function Engine:holds(rule, f, variants)
  local ctx = { eng = self, f = f, test = test_naive, rename = EMPTY }
  variants = variants or rule.variants
  if not variants or #variants == 0 then return rule.cond(ctx) and true or false end
  for _, v in ipairs(variants) do
    if cond_holds(v, f) then
      ctx.rename = v.rename
      if rule.cond(ctx) then return true end
    end
  end
  return false
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

-- The literal prefilter (the scan's filter in regex mode, where there is no
-- gate; eng:stats() counts its literals): a set of literals one of which every line that can
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

-- The scan's gate (csrc/gate.c, its program from sigma/program.lua): a matcher
-- that says in C, from the raw JSON line, whether any rule can fire on it; a
-- line it drops is never decoded. nil in regex mode (no sets to ask).
function Engine:gate()
  if self.dirty then build(self) end
  if self.regex then return nil end
  if not self.gate_obj then self.gate_obj = core._sigma_gate(program.build(self, KW)) end
  return self.gate_obj
end

local function warn_line(lineno, msg)
  io.stderr:write(("fastmatch.sigma: line %d: %s\n"):format(lineno, msg))
end

-- (input and flush are the correlations', sigma/meta.lua: nothing without them)
local SCAN_OPTS = { prefilter = true, on_error = true, buffer = true, max_line = true, input = true, flush = true }

-- for event, hits, lineno in eng:scan(src [, opts]) do ... end
-- opts: prefilter (default true), on_error(lineno, message, line), and
-- fm.lines' buffer and max_line.
function Engine:scan(src, opts)
  if type(src) ~= "string" and io.type(src) ~= "file" then
    error(("bad argument #1 to 'scan' (path or file expected, got %s)"):format(type(src)), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #2 to 'scan' (table expected, got %s)"):format(type(opts)), 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if not SCAN_OPTS[k] then
      error(("bad argument #2 to 'scan' (unknown option '%s')"):format(tostring(k)), 2)
    end
  end
  local on_error = opts.on_error or warn_line
  if type(on_error) ~= "function" then
    error("bad argument #2 to 'scan' (on_error must be a function)", 2)
  end
  local filter = nil
  if opts.prefilter ~= false then filter = self:gate() or self:prefilter() end
  local decode = cjson().decode
  local it, st, c0, closer = fm.lines(src, { lineno = true, filter = filter,
    buffer = opts.buffer, max_line = opts.max_line })
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

M.text, M.flatten = event.text, flatten
meta.methods(Engine)  -- eng:feed, flush, inputs, problems, correlation_stats (sigma/meta.lua)
-- for sigma/cache.lua only: the stages it runs and restores
M._internal = {
  add_files = add_files, build = build,
  gate_spec = function(eng) return program.build(eng, KW) end,
}
M.Engine = Engine
return M

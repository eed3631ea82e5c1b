-- fastmatch.sigma.meta: Sigma's meta rules -- correlations
-- (sigma/correlation.lua) and filters (sigma/filter.lua) -- wired into an engine.
--
-- Once every file is loaded (at the first match, scan or feed after a load,
-- or when eng:problems() is asked), references are resolved: by id, then
-- name, then title (Hayabusa's reading; the specification says id or name).
-- A correlation whose reference names no rule, or that refers to itself
-- through others, is dropped and reported; a filter naming an unknown rule
-- still applies to the others, and is reported.
--
-- An engine that holds meta rules gets its own match, naive_match and scan
-- (instance fields over the Engine methods, so that engines without any
-- keep the plain ones):
--   * eng:match(event) -> the hits, filters applied; still per event, and
--     still every rule that fired, including those a correlation keeps for
--     itself (rule.output == false: pySigma's disable_output, when generate
--     is not set; the rule of a legacy `| count()`);
--   * eng:scan(src [, opts]) feeds the correlations and yields, besides the
--     events and their shown hits (rule.output ~= false), each correlation
--     hit as its own item: `hit, {correlation_rule}, lineno`, where hit is
--     {first, last, first_time, last_time, count, group = {{field, value}...},
--     by = {field = value}} (hit.rule is the rule). opts.input names the
--     input (default: the path), opts.flush = false keeps the state open for
--     another input (default: decided and emptied at the end);
--   * eng:feed(event, hits [, opts]) -> the correlation hits released
--     (opts.time: the event's time, seconds or ISO text, when it has no
--     field of correlation.TIME_FIELDS; opts.input); eng:flush() -> the
--     rest, the state emptied; eng:inputs(names) declares the inputs to
--     come (see sigma/correlation.lua: the merge in time order), and
--     eng:close_input(name) says one will not come (any more).
-- Options (sigma.engine{correlation = {...}}): lag (seconds of reordering
-- tolerated per input, default 60), max_keys (group states over all
-- correlations, default 100000), timestamp (a field name, or a function
-- (event, fields) -> time).

local correlation = require "fastmatch.sigma.correlation"
local filter = require "fastmatch.sigma.filter"
local event_mod = require "fastmatch.sigma.event"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local flatten = event_mod.flatten

local M = {}

-- ---------------------------------------------------------------- resolving
local function lookup(eng)
  local by_id, by_name, by_title = {}, {}, {}
  local function add(r)
    if r.id ~= nil then
      local k = tostring(r.id)
      by_id[k] = by_id[k] or {}
      table.insert(by_id[k], r)
    end
    if r.name ~= nil then
      local k = tostring(r.name)
      by_name[k] = by_name[k] or {}
      table.insert(by_name[k], r)
    end
    if r.title ~= nil then
      local k = tostring(r.title)
      by_title[k] = by_title[k] or {}
      table.insert(by_title[k], r)
    end
  end
  -- a legacy count()'s hidden rule shares its correlation's id and title:
  -- references find the correlation
  for _, c in ipairs(eng.correlations or {}) do add(c) end
  for _, r in ipairs(eng.rules) do
    if not r.legacy_of then add(r) end
  end
  return function(ref)
    return by_id[ref] or by_name[ref] or by_title[ref] or {}
  end, function(ref)  -- for filters: a legacy rule's events are filtered by its id too
    local l = by_id[ref] or by_name[ref] or by_title[ref] or {}
    local out = {}
    for _, r in ipairs(l) do
      if r.correlation and r.correlation.legacy then out[#out + 1] = r.correlation.legacy
      else out[#out + 1] = r end
    end
    return out
  end
end

-- Correlations in an order where each comes after those it refers to; those
-- in a cycle are returned apart.
local function topo(corrs)
  local order, state, cyclic = {}, {}, {}
  local function visit(c)
    if state[c] == 2 then return true end
    if state[c] == 1 then return false end
    state[c] = 1
    local ok = true
    for _, m in ipairs(c.correlation.members) do
      for _, r in ipairs(m.rules) do
        if r.correlation and not visit(r) then ok = false end
      end
    end
    state[c] = 2
    if ok then order[#order + 1] = c else cyclic[c] = true end
    return ok
  end
  for _, c in ipairs(corrs) do visit(c) end
  return order, cyclic
end

-- -> problems (array of {path, id, title, kind, reason}):
-- references resolved, filters attached, the stream stage made anew.
function M.resolve(eng)
  eng.meta_dirty = false
  local problems = {}
  local find, find_filtered = lookup(eng)
  for _, r in ipairs(eng.rules) do
    if not r.legacy_of then r.output = nil end
  end
  local ok_corrs = {}
  for _, c in ipairs(eng.correlations or {}) do
    c.output = nil
    local def = c.correlation
    local ok, why
    if def.legacy then
      def.members = { { ref = def.refs[1], rules = { def.legacy } } }
      ok = true
    else
      ok, why = correlation.resolve(c, find)
    end
    if ok then
      ok_corrs[#ok_corrs + 1] = c
    else
      def.members = nil
      problems[#problems + 1] = { path = c.path, id = c.id, title = c.title, kind = "correlation",
        reason = "correlation " .. why .. ": not run" }
    end
  end
  local order, cyclic = topo(ok_corrs)
  for _, c in ipairs(ok_corrs) do
    if cyclic[c] then
      problems[#problems + 1] = { path = c.path, id = c.id, title = c.title, kind = "correlation",
        reason = "correlation refers to itself (through its rules): not run" }
    end
  end
  -- generate: false (the default) keeps the referenced rules' hits for the correlation
  for _, c in ipairs(order) do
    if not c.correlation.generate then
      for _, m in ipairs(c.correlation.members) do
        for _, r in ipairs(m.rules) do r.output = false end
      end
    end
  end
  eng.active_correlations = order
  local fp = filter.resolve(eng.filters or {}, eng.rules, find_filtered)
  for _, p in ipairs(fp) do problems[#problems + 1] = p end
  local opts = eng.opts.correlation or {}
  eng.stage = #order > 0 and correlation.stage(order, { lag = opts.lag, max_keys = opts.max_keys }) or nil
  if eng.stage and eng.expected_inputs then eng.stage:expect(eng.expected_inputs) end
  eng.meta_problems = problems
  return problems
end

-- ---------------------------------------------------------------- the run
local TIME_FIELDS = correlation.TIME_FIELDS

local function time_of(eng, ev, f, given)
  if given ~= nil then return correlation.seconds(given) end
  local ts = eng.opts.correlation and eng.opts.correlation.timestamp
  if type(ts) == "function" then return correlation.seconds(ts(ev, f)) end
  if type(ts) == "string" then return correlation.seconds(f[ts]) end
  for _, k in ipairs(TIME_FIELDS) do
    local v = f[k]
    if v ~= nil then return correlation.seconds(v) end
  end
  return nil
end

-- The event's value of a field for a rule: its own name, or the name its
-- logsource variant renames it to (Image is NewProcessName in a 4688).
local function getter(f, hits)
  return function(name)
    local v = f[name]
    if v ~= nil then return v end
    for _, r in ipairs(hits) do
      for _, var in ipairs(r.variants or {}) do
        local o = var.rename and var.rename[name]
        if o and f[o] ~= nil then return f[o] end
      end
    end
    return nil
  end
end

local function correlated(stage, hits)
  for i = 1, #hits do
    if stage.by_rule[hits[i]] then return true end
  end
  return false
end

-- Feed one event's hits to the stage; f: its flattened fields, if at hand.
local function feed(eng, ev, hits, f, time, input)
  local stage = eng.stage
  if not stage or not correlated(stage, hits) then return end
  f = f or flatten(ev)
  local t = time_of(eng, ev, f, time)
  if t == nil then stage.stats.untimed = stage.stats.untimed + 1; return end
  stage:push(stage:record(t, hits, getter(f, hits)), input)
end

local function visible(hits)
  for i = 1, #hits do
    if hits[i].output == false then
      local out = {}
      for _, r in ipairs(hits) do
        if r.output ~= false then out[#out + 1] = r end
      end
      return out
    end
  end
  return hits
end
M.visible = visible

-- The correlation hits shown: not those of a correlation another one keeps
-- for itself (generate not set).
local function shown(list)
  for i = 1, #list do
    if list[i].rule.output == false then
      local out = {}
      for _, h in ipairs(list) do
        if h.rule.output ~= false then out[#out + 1] = h end
      end
      return out
    end
  end
  return list
end

-- ---------------------------------------------------------------- installing
-- An engine that got a meta rule (or a hidden rule): its own match, naive_match, scan.
function M.install(eng)
  eng.meta_dirty = true
  if eng.meta_installed then return end
  eng.meta_installed = true
  local cls = getmetatable(eng).__index
  local base_match, base_naive, base_scan = cls.match, cls.naive_match, cls.scan
  local function holds(check, rule, f) return eng:holds(check, f, rule.variants) end
  local function filtered(self, event, out)
    if self.filters and #out > 0 then
      out = filter.apply(out, holds, function() return flatten(event) end)
    end
    return out
  end
  local function check(event, fname)
    if type(event) ~= "table" then
      error(("bad argument #1 to '%s' (table expected, got %s)"):format(fname, type(event)), 3)
    end
  end
  eng.match = function(self, event)
    check(event, "match")
    if self.meta_dirty then M.resolve(self) end
    return filtered(self, event, base_match(self, event))
  end
  eng.naive_match = function(self, event)
    check(event, "naive_match")
    if self.meta_dirty then M.resolve(self) end
    return filtered(self, event, base_naive(self, event))
  end
  eng.scan = function(self, src, opts)
    if self.meta_dirty then M.resolve(self) end
    return M.scan(self, src, opts, base_scan)
  end
end

-- eng:scan with correlations: see the header.
function M.scan(eng, src, opts, base_scan)
  if type(src) ~= "string" and io.type(src) ~= "file" then
    error(("bad argument #1 to 'scan' (path or file expected, got %s)"):format(type(src)), 3)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #2 to 'scan' (table expected, got %s)"):format(type(opts)), 3)
  end
  local rest, input, flush = {}, nil, true
  for k, v in pairs(opts or {}) do
    if k == "input" then input = v
    elseif k == "flush" then flush = v ~= false
    else rest[k] = v end
  end
  if input == nil then input = type(src) == "string" and src or "scan" end
  local it, st, c0, closer = base_scan(eng, src, rest)
  local stage = eng.stage
  local queue, qh, qt = {}, 1, 0
  local done, lineno = false, 0
  local function enqueue(list)
    for _, h in ipairs(shown(list)) do qt = qt + 1; queue[qt] = h end
  end
  local function iter()
    while true do
      if qh <= qt then
        local h = queue[qh]
        queue[qh] = nil
        qh = qh + 1
        return h, { h.rule }, lineno
      end
      if done then return nil end
      local ev, hits, n = it(st, c0)
      if ev == nil then
        done = true
        if stage then
          if flush then enqueue(stage:flush()) else stage:close(input); enqueue(stage:take()) end
        end
      else
        lineno = n or lineno
        if stage then
          feed(eng, ev, hits, nil, nil, input)
          enqueue(stage:take())
        end
        local shown = visible(hits)
        if #shown > 0 then return ev, shown, n end
      end
    end
  end
  return iter, nil, nil, closer
end

-- ---------------------------------------------------------------- methods
local function check_hits(hits)
  if type(hits) ~= "table" then
    error(("bad argument #2 to 'feed' (table expected, got %s)"):format(type(hits)), 3)
  end
end

local Methods = {}

-- eng:problems() -> what resolving the meta rules' references found (see M.resolve)
function Methods:problems()
  if self.meta_dirty then M.resolve(self) end
  return self.meta_problems or {}
end

function Methods:feed(event, hits, opts)
  if type(event) ~= "table" then
    error(("bad argument #1 to 'feed' (table expected, got %s)"):format(type(event)), 2)
  end
  check_hits(hits)
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #3 to 'feed' (table expected, got %s)"):format(type(opts)), 2)
  end
  if self.meta_dirty then M.resolve(self) end
  local stage = self.stage
  if not stage then return {} end
  opts = opts or {}
  feed(self, event, hits, nil, opts.time, opts.input)
  return shown(stage:take())
end

function Methods:flush()
  if self.meta_dirty then M.resolve(self) end
  self.expected_inputs = nil
  local stage = self.stage
  if not stage then return {} end
  return shown(stage:flush())
end

function Methods:inputs(names)
  if type(names) ~= "table" then
    error(("bad argument #1 to 'inputs' (table expected, got %s)"):format(type(names)), 2)
  end
  self.expected_inputs = names
  if self.meta_dirty then M.resolve(self) end
  if self.stage then self.stage:expect(names) end
end

-- The input will not be fed any more (it no longer holds the release).
function Methods:close_input(name)
  if self.meta_dirty then M.resolve(self) end
  if self.stage then self.stage:close(name) end
end

-- eng:correlation_stats() -> {correlations, keys, peak_keys, max_keys,
-- dropped, late, untimed, hits, buffered, problems}
function Methods:correlation_stats()
  if self.meta_dirty then M.resolve(self) end
  local st = self.stage
  local s = { correlations = #(self.active_correlations or {}), filters = #(self.filters or {}),
    problems = self.meta_problems or {}, keys = 0, peak_keys = 0, dropped = 0, late = 0, untimed = 0, hits = 0,
    buffered = 0, max_keys = st and st.max_keys or nil }
  if st then
    for k, v in pairs(st.stats) do s[k] = v end
    s.keys, s.buffered = st.keys, st.buffered
  end
  return s
end

-- Engine methods (sigma.lua calls this once).
function M.methods(Engine)
  for k, f in pairs(Methods) do Engine[k] = f end
end

return M

-- fastmatch.sigma.timeline: what a hunt's timeline shows of Hayabusa's rules
-- and of the correlation stage -- the report stage's pieces that
-- fastmatch.hunt calls per hit and at the end (a correlation hit's record is
-- fastmatch.hunt.record's):
--
--   * T.details(rule, ev, f): a rule's Hayabusa `details:` template filled
--     from the event, as the Details column's name/value pairs (nil when the
--     rule has none; a Hayabusa rule without one takes its rule set's
--     config/default_details.txt entry for the event's provider and id, as
--     Hayabusa does). Placeholders are Hayabusa's: %Name% is the field that
--     Hayabusa's config/eventkey_alias.txt names (found beside the rules,
--     up to seven directories above a rule's file) or else the event field of
--     that name; %Name[N]% the Nth value of a list; a field the event lacks
--     is "n/a". Segments are " ¦ "-separated "Label: %Field%" pairs;
--   * T.summary(eng): the summary's lines on correlations and references.

local correlation = require "fastmatch.sigma.correlation"

local type, pairs, ipairs, tostring, floor = type, pairs, ipairs, tostring, math.floor

local T = {}


local function norm(v)
  if type(v) == "number" and v == floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return ("%d"):format(v) end
  return v
end

-- ------------------------------------------------------------ Hayabusa details
local config_cache = {}  -- directory -> {aliases =, defaults =} or false

-- config/eventkey_alias.txt: "Alias,Event.EventData.Field" lines;
-- config/default_details.txt: "Provider, EID, template" lines.
local function read_config(dir)
  local f = io.open(dir .. "/config/eventkey_alias.txt")
  if not f then return nil end
  local aliases = {}
  for line in f:lines() do
    local k, v = line:match("^%s*([^,#%s][^,]-)%s*,%s*(.-)%s*$")
    if k and v ~= "" then aliases[k] = v end
  end
  f:close()
  local defaults = {}
  f = io.open(dir .. "/config/default_details.txt")
  if f then
    for line in f:lines() do
      local p, e, tpl = line:match("^%s*([^,]-)%s*,%s*(%d+)%s*,%s*(.-)%s*$")
      if p then defaults[p .. "\0" .. e] = tpl end
    end
    f:close()
  end
  return { aliases = aliases, defaults = defaults }
end

-- The config of the Hayabusa rule set a rule file is in, or false.
local function config_for(path)
  if type(path) ~= "string" then return false end
  local dir = path:match("^(.*)/[^/]*$") or "."
  local hit = config_cache[dir]
  if hit ~= nil then return hit end
  local found, d = false, dir
  for _ = 1, 8 do
    local t = read_config(d)
    if t then found = t; break end
    local up = d:match("^(.*)/[^/]*$")
    if not up or up == d then
      if d == "." or d == "" then break end
      up = d .. "/.."
    end
    d = up
  end
  config_cache[dir] = found
  return found
end
T.config_for = config_for

local function walk(ev, path)
  local v = ev
  for part in path:gmatch("[^%.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  if type(v) == "table" and v["#text"] ~= nil then v = v["#text"] end
  return v
end

local function value_of(name, ev, f, aliases)
  local base, idx = name:match("^(.-)%[(%d+)%]$")
  local key = base or name
  local v
  local path = aliases and aliases[key]
  if path then
    v = walk(ev, path)
    if v == nil then v = f[path:match("([^%.]+)$")] end
  end
  if v == nil then v = f[key] end
  if idx then
    if type(v) == "table" then v = v[tonumber(idx)] elseif tonumber(idx) ~= 1 then v = nil end
  end
  if type(v) == "table" then
    if v[1] ~= nil then
      local parts = {}
      for i, x in ipairs(v) do parts[i] = tostring(norm(x)) end
      v = table.concat(parts, ", ")
    else
      v = nil
    end
  end
  if v == nil then return "n/a" end
  return tostring(norm(v))
end

local SEP = " \194\166 "  -- " ¦ "

function T.details(rule, ev, f)
  local tpl = rule.details
  local conf
  if type(tpl) ~= "string" or tpl == "" then
    -- Hayabusa's rule without its own: the rule set's default for the event's provider and id
    if not rule.hayabusa then return nil end
    conf = config_for(rule.path)
    tpl = conf and conf.defaults[tostring(f.Provider_Name) .. "\0" .. tostring(f.EventID)]
    if not tpl then return nil end
  end
  conf = conf or config_for(rule.path)
  local aliases = conf and conf.aliases
  local function fill(s)
    return (s:gsub("%%([%w_%.%-%[%]]+)%%", function(nm) return value_of(nm, ev, f, aliases) end))
  end
  local out = {}
  local s = tpl .. SEP
  for seg in s:gmatch("(.-)" .. SEP) do
    seg = seg:match("^%s*(.-)%s*$")
    if seg ~= "" then
      local label, rest = seg:match("^([^%%:]-)%s*:%s*(.*)$")
      if label and label ~= "" then
        out[#out + 1] = { label, fill(rest) }
      else
        local only = seg:match("^%%([%w_%.%-%[%]]+)%%$")
        out[#out + 1] = { only or "Details", fill(seg) }
      end
    end
  end
  return out
end

-- ------------------------------------------------------------ summary
function T.summary(eng)
  if type(eng.correlation_stats) ~= "function" then return {} end
  local st = eng:correlation_stats()
  local lines = {}
  if st.correlations > 0 then
    local l = ("correlations: %d rule(s), %d hit(s); group states: peak %d (cap %d)"):format(
      st.correlations, st.hits, st.peak_keys, st.max_keys or 0)
    if st.dropped > 0 then l = l .. (", %d dropped by the cap"):format(st.dropped) end
    if st.late > 0 then l = l .. (", %d late event(s) dropped (older than the reorder lag)"):format(st.late) end
    if st.untimed > 0 then l = l .. (", %d event(s) without a time not correlated"):format(st.untimed) end
    lines[#lines + 1] = l
  end
  if st.filters > 0 then lines[#lines + 1] = ("filters: %d"):format(st.filters) end
  local p = st.problems
  if #p > 0 then
    lines[#lines + 1] = ("rule references: %d problem(s)"):format(#p)
    for i = 1, math.min(5, #p) do
      lines[#lines + 1] = ("  %s (%s)"):format(p[i].reason, tostring(p[i].path or p[i].title or p[i].id))
    end
  end
  return lines
end

T.seconds, T.iso = correlation.seconds, correlation.iso
return T

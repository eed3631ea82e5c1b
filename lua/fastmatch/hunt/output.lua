-- fastmatch.hunt.output: records -> the timeline's text, in Hayabusa's
-- profiles (which columns) and formats (csv, json, jsonl).
--
--   minimal   Timestamp Computer Channel EventID Level RecordID RuleTitle Details
--   standard  ... + ExtraFieldInfo (the default)
--   verbose   standard + MitreTactics MitreTags OtherTags RuleID RuleFile EvtxFile
--
-- CSV: one header line, then a line per record; Details and ExtraFieldInfo
-- are "Name: value ¦ Name: value" ("-" when empty), tags " ¦ "-joined.
-- JSONL: one object per line; Details and ExtraFieldInfo are objects, the
-- tags arrays.  JSON: the same objects, indented, one after another (not in
-- an array: Hayabusa's json-timeline, which jq reads as a stream).

local time = require "fastmatch.hunt.time"

local O = {}

local type, ipairs, tostring, floor = type, ipairs, tostring, math.floor

O.PROFILES = {
  minimal = { "Timestamp", "Computer", "Channel", "EventID", "Level", "RecordID", "RuleTitle", "Details" },
  standard = { "Timestamp", "Computer", "Channel", "EventID", "Level", "RecordID", "RuleTitle", "Details",
    "ExtraFieldInfo" },
  verbose = { "Timestamp", "Computer", "Channel", "EventID", "Level", "MitreTactics", "MitreTags", "OtherTags",
    "RecordID", "RuleTitle", "RuleID", "Details", "ExtraFieldInfo", "RuleFile", "EvtxFile" },
}
O.PROFILE_NAMES = { "minimal", "standard", "verbose" }
O.FORMATS = { csv = true, json = true, jsonl = true }

-- ---------------------------------------------------------------- tags
-- MITRE ATT&CK tactics by the names Sigma tags them with
local TACTICS = {
  reconnaissance = "Reconnaissance", resource_development = "Resource Development",
  initial_access = "Initial Access", execution = "Execution", persistence = "Persistence",
  privilege_escalation = "Privilege Escalation", defense_evasion = "Defense Evasion",
  defense_impairment = "Defense Impairment", stealth = "Stealth",
  credential_access = "Credential Access", discovery = "Discovery", lateral_movement = "Lateral Movement",
  collection = "Collection", command_and_control = "Command and Control", exfiltration = "Exfiltration",
  impact = "Impact",
}

-- rule -> tactics, MITRE ids (techniques T1234.001, groups G0016, software
-- S0002), other tags: each a list, in the rule's order
local tag_cache = setmetatable({}, { __mode = "k" })
function O.tags(rule)
  local c = tag_cache[rule]
  if c then return c[1], c[2], c[3] end
  local tac, mit, oth = {}, {}, {}
  for _, t in ipairs(type(rule.tags) == "table" and rule.tags or {}) do
    if type(t) == "string" then
      local a = t:match("^[Aa][Tt][Tt][Aa][Cc][Kk]%.(.+)$")
      if a and TACTICS[a:lower():gsub("-", "_")] then
        tac[#tac + 1] = TACTICS[a:lower():gsub("-", "_")]
      elseif a and a:match("^[TtGgSs]%d%d%d%d") then
        mit[#mit + 1] = a:upper()
      else
        oth[#oth + 1] = t
      end
    end
  end
  tag_cache[rule] = { tac, mit, oth }
  return tac, mit, oth
end

-- ---------------------------------------------------------------- text
local function csv(s)
  s = tostring(s == nil and "" or s)
  if s:find('[,"\r\n]') or s:find("^%s") or s:find("%s$") then
    return '"' .. s:gsub('"', '""') .. '"'
  end
  return s
end
O.csv = csv

local JESC = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
local function jstr(s)
  return '"' .. tostring(s):gsub('[%c"\\]', function(c) return JESC[c] or ("\\u%04x"):format(c:byte()) end) .. '"'
end
local function jval(v)
  if v == nil then return "null" end
  if type(v) == "number" then
    if v == floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return ("%d"):format(v) end
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return ("%.17g"):format(v)
  end
  if type(v) == "boolean" then return tostring(v) end
  return jstr(v)
end
O.jstr, O.jval = jstr, jval

local function text(v)
  if type(v) == "number" and v == floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return ("%d"):format(v) end
  return tostring(v)
end

-- ---------------------------------------------------------------- columns
-- Each column: function(rec, ctx) -> a scalar, or a list {kind="pairs"|"list", ...}
local function when(rec, ctx, t)
  if t then return time.format(t, ctx.time, ctx.utc) end
  return rec.raw_time
end

local function file_name(p)
  if type(p) ~= "string" then return nil end
  return p:match("([^/\\]*)$")
end

local COLUMNS = {
  Timestamp = function(r, ctx) return when(r, ctx, r.time) end,
  Computer = function(r) return r.computer end,
  Channel = function(r) return r.channel end,
  EventID = function(r) return r.event_id end,
  Level = function(r) return r.rule and r.rule.level or "informational" end,
  RecordID = function(r) return r.record_id end,
  RuleTitle = function(r) return r.rule and r.rule.title or "" end,
  RuleID = function(r) return r.rule and r.rule.id or "" end,
  Details = function(r) return { kind = "pairs", items = r.details } end,
  ExtraFieldInfo = function(r, ctx)
    if r.kind == "correlation" then
      local e = {}
      if r.first then e[#e + 1] = { "FirstTimestamp", time.format(r.first, ctx.time, ctx.utc) } end
      if r.last then e[#e + 1] = { "LastTimestamp", time.format(r.last, ctx.time, ctx.utc) } end
      return { kind = "pairs", items = e }
    end
    return { kind = "pairs", items = r.extra }
  end,
  MitreTactics = function(r) local a = O.tags(r.rule or {}); return { kind = "list", items = a } end,
  MitreTags = function(r) local _, b = O.tags(r.rule or {}); return { kind = "list", items = b } end,
  OtherTags = function(r) local _, _, c = O.tags(r.rule or {}); return { kind = "list", items = c } end,
  RuleFile = function(r) return file_name(r.rule and r.rule.path) end,
  EvtxFile = function(r) return r.file end,
}

-- ---------------------------------------------------------------- formats
-- O.new{profile=, format=, time=, utc=} -> { header = text | nil,
--   line = function(rec) -> text (no final newline) }
function O.new(opts)
  local cols = assert(O.PROFILES[opts.profile or "standard"], "unknown profile")
  local format = opts.format or "csv"
  local ctx = { time = opts.time or "local", utc = opts.utc }
  local getters = {}
  for i, name in ipairs(cols) do getters[i] = COLUMNS[name] end
  local n = #cols

  if format == "csv" then
    local cells = {}
    return {
      header = table.concat(cols, ","),
      line = function(rec)
        for i = 1, n do
          local v = getters[i](rec, ctx)
          if type(v) == "table" then
            local parts = {}
            if v.kind == "pairs" then
              for j, kv in ipairs(v.items or {}) do parts[j] = tostring(kv[1]) .. ": " .. text(kv[2]) end
            else
              for j, x in ipairs(v.items or {}) do parts[j] = tostring(x) end
            end
            v = #parts > 0 and table.concat(parts, " ¦ ") or "-"
          elseif v == nil then
            v = "-"
          else
            v = text(v)
          end
          cells[i] = csv(v)
        end
        return table.concat(cells, ",", 1, n)
      end,
    }
  end

  local pretty = format == "json"
  local names = {}
  for i, name in ipairs(cols) do names[i] = jstr(name) end
  local sep, open, close, colon, ind2 = ",", "{", "}", ":", ""
  if pretty then sep, open, close, colon, ind2 = ",\n    ", "{\n    ", "\n}", ": ", "\n        " end
  local parts = {}
  return {
    header = nil,
    line = function(rec)
      for i = 1, n do
        local v = getters[i](rec, ctx)
        local s
        if type(v) == "table" then
          local items = {}
          if v.kind == "pairs" then
            for j, kv in ipairs(v.items or {}) do items[j] = jstr(kv[1]) .. colon .. jval(kv[2]) end
            if #items == 0 then s = "{}"
            elseif pretty then s = "{" .. ind2 .. table.concat(items, "," .. ind2) .. "\n    }"
            else s = "{" .. table.concat(items, ",") .. "}" end
          else
            for j, x in ipairs(v.items or {}) do items[j] = jstr(x) end
            s = "[" .. table.concat(items, pretty and ", " or ",") .. "]"
          end
        else
          s = jval(v)
        end
        parts[i] = names[i] .. colon .. s
      end
      return open .. table.concat(parts, sep, 1, n) .. close
    end,
  }
end

return O

-- fastmatch.hunt: the hunt behind the fastmatch-hunt command (bin/), Sigma
-- rules over JSONL event logs, a timeline out.
--   fastmatch-hunt [--rules DIR]... [--logsources FILE] [--min-level LEVEL]
--                  [--cache DIR | --no-cache] [-o OUT] [--format csv|jsonl] [--quiet] FILE...
-- FILE: evtx_dump JSON, one event a line ("-" for stdin).  The timeline
-- (stdout by default) has one record per rule that fired: timestamp,
-- computer, channel, event id, level, rule title, rule id, and the fields
-- the rule looks at that the event has (name=value).  The summary goes to
-- stderr.  Exit status 0, or 1 when an input could not be read (the others
-- are still hunted), 2 on a usage error.
-- Also a module: local H = require "fastmatch.hunt"; os.exit(H.main(argv)).
local fm = require "fastmatch"

local H = {}

H.LEVELS = { "informational", "low", "medium", "high", "critical" }
H.RANK = {}
for i, l in ipairs(H.LEVELS) do H.RANK[l] = i end

local USAGE = [[
usage: fastmatch-hunt [--rules DIR]... [--logsources FILE] [--min-level LEVEL]
                      [--cache DIR | --no-cache] [-o OUT] [--format csv|jsonl] [--quiet] FILE...
  --rules DIR        Sigma rules (a directory or a .yml file; repeatable);
                     default: ../shared/data/sigma/sigmahq/rules beside the clone
  --logsources FILE  logsource mapping (thor.yml format); default: the engine's
  --min-level LEVEL  informational < low < medium < high < critical (default informational)
  --cache DIR        keep the compiled rules in DIR (default $XDG_CACHE_HOME/fastmatch,
                     else ~/.cache/fastmatch): the next start with the same rules
                     and options skips compiling them (docs/startup.md)
  --no-cache         compile the rules every time, write no cache
  -o OUT             the timeline's file (default stdout)
  --format F         csv (default) or jsonl
  --quiet            no progress line and no summary
]]

-- The SigmaHQ rules beside the clone ($FM_SHARED overrides), or nil.
function H.default_rules()
  local dirs = {}
  local env = os.getenv("FM_SHARED")
  if env and env ~= "" then dirs[#dirs + 1] = env .. "/data/sigma/sigmahq/rules"; dirs[#dirs + 1] = env .. "/sigmahq/rules" end
  local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  if #dirs == 0 then dirs[1] = here .. "/../../shared/data/sigma/sigmahq/rules" end
  for _, d in ipairs(dirs) do
    local f = io.open(d .. "/windows")
    if f then f:close(); return d end
  end
  return nil
end

-- -> opts | nil, message
function H.parse_args(argv)
  local o = { rules = {}, inputs = {}, format = "csv", min_level = "informational", cache = true }
  local i = 1
  while argv[i] ~= nil do
    local a = argv[i]
    local function val()
      i = i + 1
      if argv[i] == nil then error({ msg = a .. " needs a value" }) end
      return argv[i]
    end
    local ok, err = pcall(function()
      if a == "--rules" or a == "-r" then o.rules[#o.rules + 1] = val()
      elseif a == "--logsources" then o.logsources = val()
      elseif a == "--min-level" or a == "-m" then o.min_level = val()
      elseif a == "--cache" then o.cache = val()
      elseif a == "--no-cache" then o.cache = false
      elseif a == "-o" or a == "--output" then o.output = val()
      elseif a == "--format" or a == "-f" then o.format = val()
      elseif a == "--quiet" or a == "-q" then o.quiet = true
      elseif a == "-h" or a == "--help" then o.help = true
      elseif a == "--" then
        for j = i + 1, #argv do o.inputs[#o.inputs + 1] = argv[j] end
        i = #argv
      elseif a:sub(1, 1) == "-" and a ~= "-" then error({ msg = "unknown option " .. a })
      else o.inputs[#o.inputs + 1] = a end
    end)
    if not ok then return nil, type(err) == "table" and err.msg or tostring(err) end
    i = i + 1
  end
  if o.help then return o end
  if not H.RANK[o.min_level] then
    return nil, ("unknown level '%s' (one of %s)"):format(o.min_level, table.concat(H.LEVELS, ", "))
  end
  if o.format ~= "csv" and o.format ~= "jsonl" then return nil, "--format is csv or jsonl" end
  if #o.inputs == 0 then return nil, "no input file" end
  if #o.rules == 0 then
    local d = H.default_rules()
    if not d then return nil, "no rules: pass --rules DIR (../shared/data/sigma/sigmahq/rules is not here)" end
    o.rules[1] = d
  end
  return o
end

-- ------------------------------------------------------------ events
-- The fields of an event as Sigma sees them: EventData (or UserData's one
-- child) over System's plain values; a flat table stays as it is.
function H.fields(ev)
  local e = type(ev) == "table" and ev.Event
  if type(e) ~= "table" then return ev end
  local f = {}
  local sys = e.System
  if type(sys) == "table" then
    for k, v in pairs(sys) do if type(v) ~= "table" then f[k] = v end end
    local id = sys.EventID
    if type(id) == "table" then f.EventID = id["#text"] end
    if type(sys.Provider) == "table" and type(sys.Provider["#attributes"]) == "table" then
      f.Provider_Name = sys.Provider["#attributes"].Name
    end
  end
  local data = e.EventData
  if type(data) ~= "table" and type(e.UserData) == "table" then
    local _, only = next(e.UserData)
    data = only
  end
  if type(data) == "table" then
    for k, v in pairs(data) do if type(v) ~= "table" then f[k] = v end end
  end
  return f
end

function H.timestamp(ev)
  local e = type(ev) == "table" and ev.Event
  if type(e) == "table" then
    local tc = type(e.System) == "table" and e.System.TimeCreated
    if type(tc) == "table" and type(tc["#attributes"]) == "table" then return tc["#attributes"].SystemTime end
  end
  return ev.Timestamp or ev.TimeCreated or ev.SystemTime or ev["@timestamp"] or ev.UtcTime
end

-- The field names a rule's detection looks at (its selections' keys before
-- any "|modifier"), in the order of first appearance, sorted within a
-- selection.  From rule.fields when the engine gives them, else from the
-- rule's detection table, else from its YAML file (read once).
local field_cache = setmetatable({}, { __mode = "k" })
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  return keys
end
-- a selection: a map {["Field|mods"] = value(s)}, or a list of maps (or of
-- keywords, which name no field)
local function selection_fields(sel, out, seen)
  if type(sel) ~= "table" then return end
  if #sel > 0 then
    for _, x in ipairs(sel) do selection_fields(x, out, seen) end
    return
  end
  for _, k in ipairs(sorted_keys(sel)) do
    local name = k:match("^([^|]*)")
    if name ~= "" and not seen[name] then seen[name] = true; out[#out + 1] = name end
  end
end
local function detection_fields(det, out, seen)
  if type(det) ~= "table" then return end
  for _, k in ipairs(sorted_keys(det)) do
    if k ~= "condition" and k ~= "timeframe" then selection_fields(det[k], out, seen) end
  end
end
function H.rule_fields(rule)
  local c = field_cache[rule]
  if c then return c end
  local out = {}
  if type(rule.fields) == "table" then
    for i, f in ipairs(rule.fields) do out[i] = f end
  elseif type(rule.items) == "table" then
    -- fastmatch.sigma's compiled items: one per "Field|mods" key (a keyword has no field)
    local seen = {}
    for _, it in ipairs(rule.items) do
      local name = it.field
      if type(name) == "string" and name ~= "" and not seen[name] then seen[name] = true; out[#out + 1] = name end
    end
  else
    local det = rule.detection
    if type(det) ~= "table" and type(rule.path) == "string" then
      local okl, lyaml = pcall(require, "lyaml")
      local f = okl and io.open(rule.path)
      if f then
        local okd, doc = pcall(lyaml.load, f:read("*a"))
        f:close()
        det = okd and type(doc) == "table" and doc.detection or nil
      end
    end
    detection_fields(det, out, {})
  end
  field_cache[rule] = out
  return out
end

-- ------------------------------------------------------------ output
local function csv(s)
  s = tostring(s == nil and "" or s)
  if s:find('[,"\r\n]') or s:find("^%s") or s:find("%s$") then
    return '"' .. s:gsub('"', '""') .. '"'
  end
  return s
end
H.csv = csv

local JESC = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
local function jstr(s)
  return '"' .. tostring(s):gsub('[%c"\\]', function(c) return JESC[c] or ("\\u%04x"):format(c:byte()) end) .. '"'
end
local function jnum_or_str(v)
  if type(v) == "number" and v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then
    return ("%d"):format(v)
  end
  if v == nil then return "null" end
  return jstr(v)
end

H.COLUMNS = { "Timestamp", "Computer", "Channel", "EventID", "Level", "RuleTitle", "RuleID", "Details" }

-- -> header line or nil, function(rec) -> line (without "\n").
-- rec: ts, computer, channel, event_id, level, title, id, details (array of {name, value})
function H.formatter(format)
  if format == "jsonl" then
    return nil, function(r)
      local d = {}
      for i, kv in ipairs(r.details) do d[i] = jstr(kv[1]) .. ":" .. jnum_or_str(kv[2]) end
      return ('{"Timestamp":%s,"Computer":%s,"Channel":%s,"EventID":%s,"Level":%s,"RuleTitle":%s,"RuleID":%s,"Details":{%s}}'):format(
        jnum_or_str(r.ts), jnum_or_str(r.computer), jnum_or_str(r.channel), jnum_or_str(r.event_id),
        jstr(r.level), jstr(r.title), jstr(r.id), table.concat(d, ","))
    end
  end
  return table.concat(H.COLUMNS, ","), function(r)
    local d = {}
    for i, kv in ipairs(r.details) do d[i] = kv[1] .. "=" .. tostring(kv[2]) end
    return table.concat({ csv(r.ts), csv(r.computer), csv(r.channel), csv(r.event_id), csv(r.level),
      csv(r.title), csv(r.id), csv(table.concat(d, " ¦ ")) }, ",")
  end
end

-- The record of one hit.
-- JSON numbers come back as floats: 4688.0 is shown as 4688
local function norm(v)
  if type(v) == "number" and v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then
    return math.floor(v)  -- an integer where the Lua has them
  end
  return v
end
-- The event's value of a rule's field: under its own name, or under the
-- name a logsource variant maps it to (Image is NewProcessName in 4688s).
local function lookup(f, rule, name)
  local v = f[name]
  if v ~= nil then return name, v end
  for _, var in ipairs(type(rule.variants) == "table" and rule.variants or {}) do
    local other = type(var.rename) == "table" and var.rename[name]
    if other and f[other] ~= nil then return other, f[other] end
  end
  return nil
end
function H.record(ev, f, rule)
  local details = {}
  for _, name in ipairs(H.rule_fields(rule)) do
    local shown, v = lookup(f, rule, name)
    if v ~= nil then
      if type(v) == "table" then v = table.concat(v, ", ") end -- a list value, as the engine flattens one
      details[#details + 1] = { shown, norm(v) }
    end
  end
  -- the event id as the event has it (a number in evtx_dump JSON)
  local id = type(ev.Event) == "table" and type(ev.Event.System) == "table" and ev.Event.System.EventID
  if type(id) == "table" then id = id["#text"] end
  if id == nil then id = f.EventID end
  return { ts = H.timestamp(ev), computer = f.Computer, channel = f.Channel, event_id = norm(id),
           level = rule.level or "informational", title = rule.title or "", id = rule.id or "", details = details }
end

-- ------------------------------------------------------------ the hunt
-- H.main(argv [, env]) -> exit status.  env.stderr: where messages go.
function H.main(argv, env)
  env = env or {}
  local err = env.stderr or io.stderr
  local o, why = H.parse_args(argv)
  if not o then err:write("fastmatch-hunt: ", why, "\n", USAGE); return 2 end
  if o.help then io.stdout:write(USAGE); return 0 end
  local ok, sigma = pcall(require, "fastmatch.sigma")
  if not ok then err:write("fastmatch-hunt: fastmatch.sigma is not available: ", tostring(sigma):match("[^\n]*"), "\n"); return 2 end

  local t_load = fm.now()
  local eng, eerr = sigma.engine({ logsources = o.logsources })
  if not eng then err:write("fastmatch-hunt: ", tostring(eerr), "\n"); return 2 end
  local fields_of = sigma.flatten or H.fields -- the engine's view of an event, when it shares it
  -- every rule path in one load: the cache keeps the engine they make
  local loaded, skipped = eng:load(o.rules, { cache = o.cache })
  if not loaded then err:write("fastmatch-hunt: cannot load rules: ", tostring(skipped), "\n"); return 2 end
  t_load = fm.now() - t_load

  local w, werr = fm.writer(o.output or "-")
  if not w then err:write("fastmatch-hunt: ", tostring(werr), "\n"); return 2 end
  local header, fmt = H.formatter(o.format)
  if header then w:write(header, "\n") end

  local min = H.RANK[o.min_level]
  local status = 0
  local events, hits, bad = 0, 0, 0
  local per_level, per_rule = {}, {}
  local t0 = fm.now()
  local next_progress = t0 + 3 -- a progress line only for inputs that take a few seconds
  local progressed = false
  for _, path in ipairs(o.inputs) do
    local bad_here = 0
    local good, e = pcall(function()
      if path ~= "-" then
        local f, msg = io.open(path, "rb")
        if not f then error({ msg = msg }) end
        f:close()
      end
      local function on_error(lineno, msg, _)
        bad, bad_here = bad + 1, bad_here + 1
        err:write(("fastmatch-hunt: %s:%d: bad event: %s\n"):format(path, lineno, tostring(msg)))
      end
      -- eng:scan yields only the events that fire (the others may never
      -- leave C, behind its prefilter): the lines are counted apart, in C
      local lines_in = path ~= "-" and fm.count_lines(path) or nil
      local last = 0
      for ev, evhits, lineno in eng:scan(path, { on_error = on_error }) do
        last = lineno or last
        if #evhits > 0 then
          local f
          for _, rule in ipairs(evhits) do
            local rank = H.RANK[rule.level] or 1
            if rank >= min then
              f = f or fields_of(ev)
              local line = fmt(H.record(ev, f, rule))
              local wok, wmsg = w:write(line, "\n")
              if not wok then error({ msg = "cannot write the timeline: " .. tostring(wmsg), fatal = true }) end
              hits = hits + 1
              local lv = rule.level or "informational"
              per_level[lv] = (per_level[lv] or 0) + 1
              local key = rule
              local pr = per_rule[key]
              if not pr then pr = { n = 0, rule = rule }; per_rule[key] = pr end
              pr.n = pr.n + 1
            end
          end
        end
        if not o.quiet then
          local now = fm.now()
          if now >= next_progress then
            local done = events + last
            err:write(("\rfastmatch-hunt: %s: %d%s events, %d hits, %.0f events/s   "):format(path, done,
              lines_in and ("/%d"):format(lines_in) or "", hits, done / (now - t0)))
            next_progress = now + 1
            progressed = true
          end
        end
      end
      events = events + (lines_in or last) - bad_here
    end)
    if not good then
      if type(e) == "table" and e.fatal then err:write("fastmatch-hunt: ", e.msg, "\n"); return 1 end
      if progressed then err:write("\n"); progressed = false end
      err:write(("fastmatch-hunt: cannot read '%s': %s\n"):format(path,
        type(e) == "table" and tostring(e.msg) or tostring(e):gsub("^fastmatch: ", "")))
      status = 1
    end
  end
  local cok, cerr = w:close()
  if not cok then err:write("fastmatch-hunt: cannot write the timeline: ", tostring(cerr), "\n"); return 1 end
  local dt = fm.now() - t0
  if progressed then err:write("\n") end

  if not o.quiet then
    local s = {}
    s[#s + 1] = ("fastmatch-hunt: %d events from %d input(s) in %.2f s (%.0f events/s, %.1f us/event)%s"):format(
      events, #o.inputs, dt, dt > 0 and events / dt or 0, events > 0 and dt / events * 1e6 or 0,
      bad > 0 and (", %d bad line(s) skipped"):format(bad) or "")
    local lv = {}
    for i = #H.LEVELS, 1, -1 do
      local l = H.LEVELS[i]
      lv[#lv + 1] = ("%s %d"):format(l, per_level[l] or 0)
    end
    s[#s + 1] = ("hits: %d (%s)"):format(hits, table.concat(lv, ", "))
    local top = {}
    for _, pr in pairs(per_rule) do top[#top + 1] = pr end
    table.sort(top, function(a, b)
      if a.n ~= b.n then return a.n > b.n end
      return tostring(a.rule.id) < tostring(b.rule.id)
    end)
    if #top > 0 then s[#s + 1] = "top rules:" end
    for i = 1, math.min(10, #top) do
      local r = top[i].rule
      s[#s + 1] = ("  %8d  %-13s %s (%s)"):format(top[i].n, tostring(r.level), tostring(r.title), tostring(r.id))
    end
    local reasons = {}
    for _, sk in ipairs(skipped) do
      local why_ = tostring(sk.reason or "?"):match("^[^:\n]*")
      reasons[why_] = (reasons[why_] or 0) + 1
    end
    local rl = {}
    for k, v in pairs(reasons) do rl[#rl + 1] = ("%s: %d"):format(k, v) end
    table.sort(rl)
    local c = eng.cache
    s[#s + 1] = ("rules: %d loaded in %.2f s%s, %d skipped%s"):format(loaded, t_load,
      not c and "" or c.hit and " (from the cache)" or c.error and (" (cache: " .. c.error .. ")") or " (cached)",
      #skipped, #rl > 0 and (" (" .. table.concat(rl, "; ") .. ")") or "")
    local st = type(eng.stats) == "function" and eng:stats() or {}
    local um = st.unmapped or st.unmapped_by_logsource
    if type(um) == "table" then
      local list, total = {}, 0
      for k, v in pairs(um) do
        if type(v) == "number" then list[#list + 1] = { tostring(k), v }; total = total + v
        elseif type(v) == "table" then
          local name = v.logsource or v[1]
          if type(name) == "table" then
            local parts = {}
            for _, key in ipairs({ "product", "category", "service" }) do
              if name[key] then parts[#parts + 1] = key .. "=" .. tostring(name[key]) end
            end
            name = table.concat(parts, " ")
          end
          local n = v.count or v.n or v[2] or 1
          list[#list + 1] = { tostring(name), n }
          total = total + n
        end
      end
      table.sort(list, function(a, b) if a[2] ~= b[2] then return a[2] > b[2] end return a[1] < b[1] end)
      local parts = {}
      for i = 1, math.min(8, #list) do parts[i] = ("%s %d"):format(list[i][1], list[i][2]) end
      s[#s + 1] = ("unmapped rules (no logsource mapping, never run): %d%s"):format(total,
        #parts > 0 and (": " .. table.concat(parts, ", ") .. (#list > 8 and ", ..." or "")) or "")
    end
    err:write(table.concat(s, "\n"), "\n")
  end
  return status
end

return H

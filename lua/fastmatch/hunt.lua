-- fastmatch.hunt: the hunt behind the fastmatch-hunt command (bin/), Sigma
-- rules over JSONL event logs, a timeline out -- with Hayabusa's flags and
-- conventions (docs/hunt.md):
--   fastmatch-hunt [--rules DIR]... [rule choice] [event choice]
--                  [-o OUT] [--format csv|json|jsonl] [--profile P]
--                  [--utc] [--iso-8601|--rfc-3339] [--no-sort]
--                  [--html-report FILE] [--quiet] FILE...
-- FILE: evtx_dump JSON, one event a line ("-" for stdin).  The timeline goes
-- to stdout (or -o OUT), the progress and the results summary to stderr.
-- Exit status 0, or 1 when an input could not be read (the others are
-- still hunted) or an output could not be written, 2 on a usage error.
-- Also a module: local H = require "fastmatch.hunt"; os.exit(H.main(argv)).
--
-- The pipeline, one stage a file under fastmatch/hunt/: the engine's scan
-- yields the events that fire -> select.lua drops the hits of rules and
-- events not chosen -> record.lua makes each hit a record -> timeline.lua
-- counts it (summary.lua), writes it in a profile and format (output.lua),
-- in time order (sort.lua: bounded memory, runs spilled to disk and merged);
-- then the summary as text and, asked for, as a page (html.lua); time.lua
-- reads and writes the times, progress.lua draws how far the scan is.
local fm = require "fastmatch"
local select_mod = require "fastmatch.hunt.select"
local record = require "fastmatch.hunt.record"
local time = require "fastmatch.hunt.time"
local output = require "fastmatch.hunt.output"
local TL = require "fastmatch.hunt.timeline"
local Sm = require "fastmatch.hunt.summary"
local html = require "fastmatch.hunt.html"
local progress = require "fastmatch.hunt.progress"
-- correlations and Hayabusa's details: templates (the engine's report stage)
local timeline_ok, sigma_tl = pcall(require, "fastmatch.sigma.timeline")

local H = {}

H.LEVELS, H.RANK = select_mod.LEVELS, select_mod.RANK
H.record, H.timeline, H.summary = record, TL, Sm  -- for the stages that add records (correlations)

local USAGE = [[
usage: fastmatch-hunt [options] FILE...        (FILE: JSON events, one a line; - for stdin)
Input:
  -r, --rules DIR|FILE       Sigma rules (repeatable); default: $SIGMA_DIR/rules, SIGMA_DIR a
                             checkout of https://github.com/SigmaHQ/sigma
      --logsources FILE      logsource mapping (thor.yml format), or none; default: the engine's
  -f, --file FILE            an input (as a FILE argument)
  -d, --directory DIR        every *.json / *.jsonl file under DIR
Rules (Hayabusa's filtering flags; LIST: comma-separated, flags repeatable):
  -m, --min-level LEVEL      informational < low < medium < high < critical (default informational)
  -e, --exact-level LEVEL    only rules of that level
      --include-status LIST  only rules of these statuses (stable, test, experimental, deprecated, unsupported)
      --exclude-status LIST  not these (deprecated and unsupported are excluded unless named or enabled)
  -D, --enable-deprecated-rules   -u, --enable-unsupported-rules
      --include-tag LIST     only rules with one of these tags (attack.execution, ...)
      --exclude-tag LIST     not rules with any of these tags
      --include-category LIST / --exclude-category LIST    by logsource category
      --exclude-rules FILE   rule ids not to use, one a line (# comments)
Events:
      --include-eid LIST / --exclude-eid LIST              by event id
      --include-computer LIST / --exclude-computer LIST    by computer name
      --timeline-start DATE / --timeline-end DATE          e.g. "2026-11-01 00:00:00 +09:00"
Output:
  -o, --output OUT           the timeline's file (default stdout)
  -t, --format, --output-type F   csv (default), jsonl or json
  -p, --profile P            minimal, standard (default) or verbose
  -U, --utc                  times in UTC (default: local time with its offset)
  -O, --iso-8601             times as 2026-11-01T10:00:00.1234567Z (always UTC)
      --rfc-3339             times as 2026-11-01 19:00:00.123456+09:00
  -s, --sort / --no-sort     the timeline in time order (default on)
      --sort-memory SIZE     records kept in memory while sorting (default 256M); past it
                             sorted runs go to temporary files ($TMPDIR) and are merged
  -H, --html-report FILE     the results summary as one HTML page too
Rules cache:
      --cache DIR            keep the compiled rules in DIR (default $XDG_CACHE_HOME/fastmatch,
                             else ~/.cache/fastmatch): the next start with the same rules and
                             options skips compiling them (docs/startup.md)
      --no-cache             compile the rules every time, write no cache
Display:
  -q, --quiet                no progress and no summary
  -N, --no-summary           no results summary
  -h, --help
]]

-- SigmaHQ's core rules: $SIGMA_DIR/rules (a checkout of SigmaHQ's
-- repository), else the workspace's ($FM_SHARED, ../shared beside the
-- clone); -> dir | nil, why (fastmatch.sigmahq says how to point at them).
function H.default_rules()
  local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  local t, why = require("fastmatch.sigmahq").find({ root = here .. "/.." })
  if not t then return nil, why end
  return t.rules
end

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- "256M" -> bytes | nil
function H.size(s)
  local num, unit = tostring(s):match("^%s*(%d+%.?%d*)%s*([kKmMgG]?)[iI]?[bB]?%s*$")
  if not num then return nil end
  local mult = ({ [""] = 1, k = 1024, m = 1024 ^ 2, g = 1024 ^ 3 })[unit:lower()]
  return math.floor(tonumber(num) * mult)
end

-- Options: name -> { key, kind } (kind: "value", "list" (comma-separated,
-- repeatable), "append", "true", "false", "noop")
local OPTIONS = {}
local function opt(names, key, kind)
  for _, n in ipairs(names) do OPTIONS[n] = { key = key, kind = kind } end
end
opt({ "--rules", "-r" }, "rules", "append")
opt({ "--logsources" }, "logsources", "value")
opt({ "--file", "-f" }, "inputs", "append")
opt({ "--directory", "-d" }, "directories", "append")
opt({ "--min-level", "-m" }, "min_level", "value")
opt({ "--exact-level", "-e" }, "exact_level", "value")
opt({ "--include-status" }, "include_status", "list")
opt({ "--exclude-status" }, "exclude_status", "list")
opt({ "--enable-deprecated-rules", "-D" }, "enable_deprecated", "true")
opt({ "--enable-unsupported-rules", "-u" }, "enable_unsupported", "true")
opt({ "--include-tag" }, "include_tag", "list")
opt({ "--exclude-tag" }, "exclude_tag", "list")
opt({ "--include-category" }, "include_category", "list")
opt({ "--exclude-category" }, "exclude_category", "list")
opt({ "--exclude-rules" }, "exclude_rules", "value")
opt({ "--include-eid" }, "include_eid", "list")
opt({ "--exclude-eid" }, "exclude_eid", "list")
opt({ "--include-computer" }, "include_computer", "list")
opt({ "--exclude-computer" }, "exclude_computer", "list")
opt({ "--timeline-start" }, "timeline_start", "value")
opt({ "--timeline-end" }, "timeline_end", "value")
opt({ "--output", "-o" }, "output", "value")
opt({ "--format", "--output-type", "-t" }, "format", "value")
opt({ "--profile", "-p" }, "profile", "value")
opt({ "--utc", "--UTC", "-U" }, "utc", "true")
opt({ "--iso-8601", "--ISO-8601", "-O" }, "iso8601", "true")
opt({ "--rfc-3339", "--RFC-3339" }, "rfc3339", "true")
opt({ "--sort", "-s" }, "sort", "true")
opt({ "--no-sort" }, "sort", "false")
opt({ "--sort-memory" }, "sort_memory", "value")
opt({ "--html-report", "-H" }, "html_report", "value")
opt({ "--quiet", "-q" }, "quiet", "true")
opt({ "--no-summary", "-N" }, "no_summary", "true")
opt({ "--cache" }, "cache", "value")
opt({ "--no-cache" }, "cache", "false")
opt({ "--help", "-h" }, "help", "true")
-- Hayabusa's, accepted so that its users' command lines work: there is no
-- scan wizard to skip, and the input is JSON already
opt({ "--no-wizard", "-w", "--json-input", "-J" }, nil, "noop")

-- -> opts | nil, message
function H.parse_args(argv)
  local o = { rules = {}, inputs = {}, directories = {}, format = "csv", profile = "standard", sort = true, cache = true }
  local i = 1
  while argv[i] ~= nil do
    local a = argv[i]
    local name, inline = a:match("^(%-%-[^=]+)=(.*)$")
    name = name or a
    local spec = OPTIONS[name]
    if a == "--" then
      for j = i + 1, #argv do o.inputs[#o.inputs + 1] = argv[j] end
      break
    elseif spec then
      local v
      if spec.kind == "value" or spec.kind == "list" or spec.kind == "append" then
        if inline then v = inline
        else
          i = i + 1
          v = argv[i]
          if v == nil then return nil, name .. " needs a value" end
        end
      elseif inline then
        return nil, name .. " takes no value"
      end
      if spec.kind == "value" then o[spec.key] = v
      elseif spec.kind == "append" then o[spec.key][#o[spec.key] + 1] = v
      elseif spec.kind == "list" then
        local l = o[spec.key] or {}
        for _, x in ipairs(select_mod.list(v)) do l[#l + 1] = x end
        o[spec.key] = l
      elseif spec.kind == "true" then o[spec.key] = true
      elseif spec.kind == "false" then o[spec.key] = false
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, "unknown option " .. a
    else
      o.inputs[#o.inputs + 1] = a
    end
    i = i + 1
  end
  if o.help then return o end

  o.format = o.format:lower()
  if not output.FORMATS[o.format] then
    return nil, ("unknown format '%s' (csv, jsonl or json)"):format(o.format)
  end
  if not output.PROFILES[o.profile] then
    return nil, ("unknown profile '%s' (one of %s)"):format(o.profile, table.concat(output.PROFILE_NAMES, ", "))
  end
  if o.iso8601 and o.rfc3339 then return nil, "--iso-8601 and --rfc-3339: choose one" end
  o.time = o.iso8601 and "iso8601" or o.rfc3339 and "rfc3339" or (o.utc and "utc" or "local")
  if o.sort_memory then
    o.sort_limit = H.size(o.sort_memory)
    if not o.sort_limit then return nil, ("not a size '%s' for --sort-memory (e.g. 64M)"):format(o.sort_memory) end
  end
  if o.exclude_rules then
    local ids, err = select_mod.read_ids(o.exclude_rules)
    if not ids then return nil, "--exclude-rules: " .. tostring(err) end
    o.exclude_ids = ids
  end
  local sel, serr = select_mod.new(o)
  if not sel then return nil, serr end
  o.selector = sel
  for _, d in ipairs(o.directories) do
    local f = io.open(d)
    if not f then return nil, ("--directory %s: no such directory"):format(d) end
    f:close()
    local p = io.popen("LC_ALL=C find " .. shell_quote(d)
      .. " -type f \\( -name '*.json' -o -name '*.jsonl' \\) | LC_ALL=C sort")
    for line in p:lines() do o.inputs[#o.inputs + 1] = line end
    p:close()
  end
  if #o.inputs == 0 then return nil, "no input file" end
  if #o.rules == 0 then
    local d, why = H.default_rules()
    if not d then return nil, "no rules: pass --rules DIR, or " .. tostring(why):gsub("^SigmaHQ rules not found: ", "") end
    o.rules[1] = d
  end
  return o
end

-- For the experiments (examples/04, 10, 11), which write or keep the
-- records hunt makes: H.record(ev, f, rule) -> a record with the rule's
-- level, title and id and the event's time as written (ts) beside it;
-- H.formatter(format) -> header | nil, function(rec) -> line, in the
-- standard profile, times in UTC.
function H.fields(ev) return require("fastmatch.sigma").flatten(ev) end
function H.record(ev, f, rule)
  local r = record.event(ev, f, rule, 1, nil, 0)
  r.ts, r.level, r.title, r.id = r.raw_time, rule.level or "informational", rule.title or "", rule.id or ""
  return r
end
function H.formatter(format)
  local out = output.new { format = format, profile = "standard", time = "utc" }
  return out.header, out.line
end

local function clock(s)
  return ("%02d:%02d:%06.3f"):format(math.floor(s / 3600), math.floor(s % 3600 / 60), s % 60)
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
  local started = os.date("%Y-%m-%d %H:%M:%S")
  local t_start = fm.now()

  local t_load = fm.now()
  local eng, eerr = sigma.engine({ logsources = o.logsources })
  if not eng then err:write("fastmatch-hunt: ", tostring(eerr), "\n"); return 2 end
  local fields_of = sigma.flatten -- the engine's view of an event
  -- every rule path in one load: the cache keeps the engine they make
  local loaded, skipped = eng:load(o.rules, { cache = o.cache })
  if not loaded then err:write("fastmatch-hunt: cannot load rules: ", tostring(skipped), "\n"); return 2 end
  -- the engine's index and gate are built on first use: here, so that the
  -- load time has them and the scan rate does not
  if type(eng.gate) == "function" then eng:gate() end
  t_load = fm.now() - t_load
  local sel = o.selector
  local tally, warnings = sel:tally(eng.rules)
  for _, w in ipairs(warnings) do err:write("fastmatch-hunt: warning: ", w, "\n") end

  local w, werr = fm.writer(o.output or "-")
  if not w then err:write("fastmatch-hunt: ", tostring(werr), "\n"); return 2 end
  local function write(text)
    local wok, wmsg = w:write(text, "\n")
    if not wok then return nil, wmsg end
    return true
  end
  local tl = TL.new { write = write, profile = o.profile, format = o.format, time = o.time, utc = o.utc,
    sort = o.sort, sort_limit = o.sort_limit }

  -- the events in each input, counted in C before the scan (the scan itself
  -- returns to Lua only for the events that fire): the summary's total and
  -- the progress's 100%
  local counts, total = {}, 0
  for i, path in ipairs(o.inputs) do
    if path ~= "-" then
      local cok, c = pcall(fm.count_lines, path)
      if cok and type(c) == "number" then counts[i] = c; total = total and total + c end
    else
      total = nil
    end
  end
  local mode = o.quiet and "off" or (progress.stderr_is_tty() and "bar" or "line")
  local bar = progress.new { mode = mode, out = err, total = total }

  local status = 0
  local events, bad, with_hits = 0, 0, 0
  local t0 = fm.now()
  local fatal
  -- a correlation hit (sigma/correlation.lua) as a timeline record
  local function add_correlation(hit, rule, i, path)
    if not sel:rule_ok(rule) then return end
    local computer
    for _, g in ipairs(hit.group or {}) do
      if (g[1] == "Computer" or g[1] == "ComputerName") and g[2] ~= nil then computer = g[2] end
    end
    local rec = record.correlation { rule = rule, group = hit.group, first = hit.first_time,
      last = hit.last_time, count = hit.count, input = i, file = path, computer = computer }
    local aok, aerr = tl:add(rec)
    if not aok then error({ msg = "cannot write the timeline: " .. tostring(aerr), fatal = true }) end
  end
  -- correlation state spans the inputs, merged in time order
  if type(eng.inputs) == "function" then eng:inputs(o.inputs) end
  for i, path in ipairs(o.inputs) do
    local bad_here = 0
    local good, e = pcall(function()
      if path ~= "-" then
        local f, msg = io.open(path, "rb")
        if not f then error({ msg = msg }) end
        f:close()
      end
      local function on_error(lineno, msg, _)
        bad, bad_here = bad + 1, bad_here + 1
        if bar.drawn then err:write("\n"); bar.drawn = false end
        err:write(("fastmatch-hunt: %s:%d: bad event: %s\n"):format(path, lineno, tostring(msg)))
      end
      local last = 0
      local scan_opts = { on_error = on_error }
      if type(eng.inputs) == "function" then scan_opts.input, scan_opts.flush = path, i == #o.inputs end
      for ev, evhits, lineno in eng:scan(path, scan_opts) do
        last = lineno or last
        local f, first, any
        if evhits[1] and evhits[1].correlation then
          for _, rule in ipairs(evhits) do add_correlation(ev, rule, i, path) end
          evhits = {}
        end
        for _, rule in ipairs(evhits) do
          if sel:rule_ok(rule) then
            f = f or fields_of(ev)
            local rec = record.event(ev, f, rule, i, path, lineno)
            local tdet = timeline_ok and sigma_tl.details(rule, ev, f)
            if tdet then rec.details = tdet end
            if not first then
              first = rec
              any = sel:event_ok(rec.event_id, rec.computer, rec.time and time.key(rec.time))
            end
            if not any then break end
            local aok, aerr = tl:add(rec)
            if not aok then error({ msg = "cannot write the timeline: " .. tostring(aerr), fatal = true }) end
          end
        end
        if any then with_hits = with_hits + 1 end
        bar:update(events + last, tl.count)
      end
      events = events + (counts[i] or last) - bad_here
      if type(eng.close_input) == "function" then eng:close_input(path) end
    end)
    if not good then
      if type(e) == "table" and e.fatal then fatal = e.msg; break end
      if bar.drawn then err:write("\n"); bar.drawn = false end
      err:write(("fastmatch-hunt: cannot read '%s': %s\n"):format(path,
        type(e) == "table" and tostring(e.msg) or tostring(e):gsub("^fastmatch: ", "")))
      status = 1
    end
  end
  -- correlation hits still held (the last input could not be read to its end)
  if not fatal and type(eng.flush) == "function" then
    local fok, ferr = pcall(function()
      for _, hit in ipairs(eng:flush()) do add_correlation(hit, hit.rule, #o.inputs, o.inputs[#o.inputs]) end
    end)
    if not fok then fatal = type(ferr) == "table" and ferr.msg or tostring(ferr) end
  end
  bar:finish(events, tl.count)
  local dt_scan = fm.now() - t0
  if not fatal then
    local fok, ferr = tl:finish()
    if not fok then fatal = "cannot write the timeline: " .. tostring(ferr) end
  else
    tl:close()
  end
  local cok, cerr = w:close()
  if not fatal and not cok then fatal = "cannot write the timeline: " .. tostring(cerr) end
  if fatal then err:write("fastmatch-hunt: ", fatal, "\n"); return 1 end
  local dt = fm.now() - t_start

  local sm = tl.summary
  sm:scanned(events, with_hits)
  if not o.quiet and not o.no_summary then
    local s = {}
    local reasons = {}
    for _, sk in ipairs(skipped) do
      local why_ = tostring(sk.reason or "?"):match("^[^:\n]*")
      reasons[why_] = (reasons[why_] or 0) + 1
    end
    local rl = {}
    for k, v in pairs(reasons) do rl[#rl + 1] = ("%s: %d"):format(k, v) end
    table.sort(rl)
    local c = eng.cache
    s[#s + 1] = ("Rules: %s loaded and compiled in %.2f s%s, %s skipped%s"):format(Sm.number(loaded), t_load,
      not c and "" or c.hit and " (from the cache)" or c.error and (" (cache: " .. c.error .. ")") or " (cached)",
      Sm.number(#skipped), #rl > 0 and (" (" .. table.concat(rl, "; ") .. ")") or "")
    local out_of = {}
    for _, k in ipairs({ "level", "status", "tag", "category", "id" }) do
      if tally[k] then out_of[#out_of + 1] = ("%s %s"):format(k, Sm.number(tally[k])) end
    end
    s[#s + 1] = ("Rules selected: %s%s"):format(Sm.number(tally.chosen),
      #out_of > 0 and (" (left out by " .. table.concat(out_of, ", ") .. ")") or "")
    local st = type(eng.stats) == "function" and eng:stats() or {}
    if type(st.unmapped) == "table" then
      local list, n = {}, 0
      for k, v in pairs(st.unmapped) do
        if type(v) == "number" then list[#list + 1] = { tostring(k), v }; n = n + v end
      end
      if n > 0 then
        table.sort(list, function(a, b) if a[2] ~= b[2] then return a[2] > b[2] end return a[1] < b[1] end)
        local parts = {}
        for i = 1, math.min(8, #list) do parts[i] = ("%s %d"):format(list[i][1], list[i][2]) end
        s[#s + 1] = ("Unmapped rules (no logsource mapping, never run): %d: %s%s"):format(n,
          table.concat(parts, ", "), #list > 8 and ", ..." or "")
      end
    end
    local ss = tl:sort_stats()
    s[#s + 1] = ("Timeline: %s records%s%s"):format(Sm.number(tl.count),
      not ss and ", as they came (--no-sort)" or ss.runs > 0 and
        (", sorted by time (%d runs spilled to disk, merged)"):format(ss.runs) or ", sorted by time in memory",
      bad > 0 and (", %d bad line(s) skipped"):format(bad) or "")
    if timeline_ok then for _, l in ipairs(sigma_tl.summary(eng)) do s[#s + 1] = l end end
    s[#s + 1] = ""
    for _, l in ipairs(sm:text()) do s[#s + 1] = l end
    s[#s + 1] = ""
    s[#s + 1] = ("Elapsed time: %s (%s events from %d input(s) scanned in %.2f s, %.0f events/s)"):format(
      clock(dt), Sm.number(events), #o.inputs, dt_scan, dt_scan > 0 and events / dt_scan or 0)
    if o.output then s[#s + 1] = "Saved file: " .. o.output end
    err:write(table.concat(s, "\n"), "\n")
  end

  if o.html_report then
    local page = html.page(sm:data(), {
      command = "fastmatch-hunt " .. table.concat(argv, " "), started = started, elapsed = clock(dt),
      inputs = o.inputs, rules_loaded = loaded, rules_chosen = tally.chosen, timeline = o.output or "stdout",
    })
    local f, ferr = io.open(o.html_report, "wb")
    local wok, wmsg
    if f then
      wok, wmsg = f:write(page)
      local closed, cmsg = f:close()
      if wok and not closed then wok, wmsg = nil, cmsg end
    end
    if not f or not wok then
      err:write("fastmatch-hunt: cannot write the HTML report: ", tostring(ferr or wmsg), "\n")
      return 1
    end
    if not o.quiet and not o.no_summary then err:write("HTML report: ", o.html_report, "\n") end
  end
  return status
end

return H

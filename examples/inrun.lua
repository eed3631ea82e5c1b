-- inrun.lua: what the experiments' in-run results share (issue 15): the
-- guide's pull-request results reproduced on a whole detection run, the
-- SigmaHQ rules over a generated JSONL event stream through fastmatch.sigma
-- (and hunt), with one technique off and then on.
--   local R = dofile(here .. "inrun.lua")
--   R.stream(n) -> path of the first n events of the run's stream
--   R.engine([opts]) -> an engine with the run's rules loaded
--   R.detect(eng, path, on_hit [, opts]) -> the detection loop (eng:scan)
-- The stream: examples/gen_events.lua, seed R.SEED, a share R.HITS of real
-- regression events (malicious) among benign ones; R.EVENTS events in a
-- full run, a smoke size with --quick.  It is generated once per
-- `make experiments` (run_all.lua passes the directory in FM_INRUN_DIR) or
-- once per script run alone, and deleted afterwards.  The rules: every
-- SigmaHQ rule (the core rules/ of the checkout fastmatch.sigmahq finds:
-- $SIGMA_DIR, else the workspace's $FM_SHARED or ../shared), in quick runs
-- too.  Without them there is no in-run result: a pull request's claim is
-- about a detection run over SigmaHQ's rules, and a handful of rules says
-- nothing about it; the result is "not measured here" and says how to
-- point at the rules.
local B = require "fastmatch.bench"
local fm = require "fastmatch"

local here = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/"
local G = dofile(here .. "gen_events.lua")

local R = { G = G, here = here }

R.SEED = 2026
R.HITS = 0.1
R.EVENTS = B.size(8000, 300)      -- the stream of the indexed runs
R.NAIVE = B.size(100, 20)          -- its first events, for the runs without the index

-- A small rule set of our own, for specs that need an engine when SigmaHQ's
-- rules are absent (R.builtin_rules_dir); never behind an in-run verdict.
R.BUILTIN = {
  ["whoami.yml"] = [[
title: Whoami Execution
id: 9a0b0001-0000-4000-8000-000000000001
level: medium
logsource: { category: process_creation, product: windows }
detection:
  selection:
    Image|endswith: '\whoami.exe'
  condition: selection
]],
  ["encoded.yml"] = [[
title: Encoded PowerShell Command Line
id: 9a0b0001-0000-4000-8000-000000000002
level: high
logsource: { category: process_creation, product: windows }
detection:
  selection:
    Image|endswith: '\powershell.exe'
    CommandLine|contains: [' -enc ', ' -encodedcommand ']
  condition: selection
]],
  ["encoded_re.yml"] = [[
title: Base64 Blob After -enc (regex)
id: 9a0b0001-0000-4000-8000-000000000003
level: high
logsource: { category: process_creation, product: windows }
detection:
  selection:
    CommandLine|re: '(?i)\s-e(nc|ncodedcommand)?\s+[A-Za-z0-9+/=]{40,}'
  condition: selection
]],
  ["mimikatz.yml"] = [[
title: Mimikatz Command Line
id: 9a0b0001-0000-4000-8000-000000000004
level: critical
logsource: { category: process_creation, product: windows }
detection:
  selection:
    CommandLine|contains: ['sekurlsa::', 'privilege::debug', 'lsadump::']
  condition: selection
]],
  ["minidump.yml"] = [[
title: LSASS Dump Via Comsvcs
id: 9a0b0001-0000-4000-8000-000000000005
level: high
logsource: { category: process_creation, product: windows }
detection:
  selection:
    CommandLine|contains|all: ['comsvcs', 'MiniDump']
  condition: selection
]],
  ["dumpfile.yml"] = [[
title: LSASS Dump File Created
id: 9a0b0001-0000-4000-8000-000000000006
level: high
logsource: { category: file_event, product: windows }
detection:
  selection:
    TargetFilename|endswith: '\lsass.dmp'
  condition: selection
]],
  ["runkey.yml"] = [[
title: Run Key Pointing To Public Folder
id: 9a0b0001-0000-4000-8000-000000000007
level: medium
logsource: { category: registry_set, product: windows }
detection:
  selection:
    TargetObject|contains: '\CurrentVersion\Run\'
    Details|contains: '\Users\Public\'
  condition: selection
]],
  ["exact.yml"] = [[
title: Known Tool Image
id: 9a0b0001-0000-4000-8000-000000000008
level: high
logsource: { category: process_creation, product: windows }
detection:
  selection:
    Image:
      - 'C:\Users\Public\mimikatz.exe'
      - 'C:\Users\Public\procdump.exe'
      - 'C:\Temp\psexec.exe'
  filter:
    ParentImage: 'C:\Windows\explorer.exe'
  condition: selection and not filter
]],
  ["office.yml"] = [[
title: Office Application Started
id: 9a0b0001-0000-4000-8000-000000000009
level: informational
logsource: { category: process_creation, product: windows }
detection:
  selection:
    Image|endswith: ['\WINWORD.EXE', '\EXCEL.EXE', '\OUTLOOK.EXE']
  condition: selection
]],
}

-- ------------------------------------------------------------ the work directory
-- FM_INRUN_DIR (run_all.lua's, shared by every script of a run) or our own,
-- removed when this interpreter closes.
local own_dir
function R.workdir()
  local d = os.getenv("FM_INRUN_DIR")
  if d and d ~= "" then
    os.execute("mkdir -p " .. B.shq(d))
    return d
  end
  if not own_dir then
    own_dir = os.tmpname()
    os.remove(own_dir)
    assert(os.execute("mkdir -p " .. B.shq(own_dir)), "cannot create " .. own_dir)
    R._cleanup = setmetatable({}, { __gc = function() os.execute("rm -rf " .. B.shq(own_dir)) end })
  end
  return own_dir
end

local function exists(p)
  local f = io.open(p)
  if f then f:close(); return true end
  return false
end

-- ------------------------------------------------------------ rules
-- The SigmaHQ checkout (fastmatch.sigmahq), or nil and why.
function R.sigmahq()
  return G.sigmahq()
end

-- -> directory of the run's rules (SigmaHQ's core rules), what they are,
-- true | nil, why (not found, and how to point at them)
function R.rules_dir()
  local t, why = R.sigmahq()
  if not t then return nil, why end
  return t.rules, ("all SigmaHQ rules (%s: %s)"):format(t.source, t.rules), true
end

-- -> directory holding R.BUILTIN's rules (written once per work directory)
function R.builtin_rules_dir()
  local d = R.workdir() .. "/builtin-rules"
  if not exists(d .. "/whoami.yml") then
    os.execute("mkdir -p " .. B.shq(d))
    for name, text in pairs(R.BUILTIN) do
      local f = assert(io.open(d .. "/" .. name, "w"))
      f:write(text)
      f:close()
    end
  end
  local n = 0
  for _ in pairs(R.BUILTIN) do n = n + 1 end
  return d, ("%d built-in rules"):format(n)
end

-- R.engine([opts]) -> engine, info {loaded=, skipped=, seconds=, what=}
function R.engine(opts)
  local sigma = require "fastmatch.sigma"
  local dir, what = R.rules_dir()
  if not dir then error(what) end
  local t0 = fm.now()
  local eng = assert(sigma.engine(opts))
  local n, skipped = eng:load(dir)
  if not n then error("cannot load rules from " .. dir .. ": " .. tostring(skipped)) end
  if n == 0 then error("no rule loaded from " .. dir .. " (" .. #skipped .. " skipped)") end
  eng:match({ Event = { System = { Channel = "-" } } }) -- build the index now, not in the first timing
  return eng, { loaded = n, skipped = #skipped, seconds = fm.now() - t0, what = what, dir = dir }
end

-- ------------------------------------------------------------ the stream
-- R.stream([n]) -> path of the run's stream cut to its first n events
-- (default R.EVENTS), info {events=, bytes=, real=, source=}.  The generator
-- is sequential: a shorter stream is the start of the longer one.
local stream_info = {}
function R.stream(n)
  n = n or R.EVENTS
  local t = R.sigmahq()
  local tag = t and t.regression and "sigmahq" or "builtin"
  local path = ("%s/stream-%d-s%d-h%g-%s.jsonl"):format(R.workdir(), n, R.SEED, R.HITS, tag)
  local meta = path .. ".meta"
  if not exists(meta) then
    local tmp = path .. (".tmp%d"):format(math.floor(fm.now() * 1e6) % 1000000)
    local st = assert(G.write(tmp, { events = n, seed = R.SEED, hits = R.HITS }))
    assert(os.rename(tmp, path))
    local f = assert(io.open(meta .. ".tmp", "w"))
    f:write(B.serialize({ events = st.events, bytes = st.bytes, real = st.malicious, source = st.source,
                          seconds = st.seconds }))
    f:close()
    assert(os.rename(meta .. ".tmp", meta))
  end
  if not stream_info[path] then
    local f = assert(io.open(meta))
    stream_info[path] = assert(B.deserialize(f:read("*a")))
    f:close()
  end
  return path, stream_info[path]
end

-- The first n events of the stream, decoded.
function R.events(n)
  local cjson = require "cjson"
  local path = R.stream(n)
  local out = {}
  for line in fm.lines(path) do out[#out + 1] = cjson.decode(line) end
  return out
end

-- One line saying what the run ran on; rules: a string, or an engine's info.
function R.describe(n, rules)
  local _, st = R.stream(n)
  if type(rules) == "table" then rules = ("%d rules loaded in %.1f s (%s)"):format(rules.loaded, rules.seconds, rules.what) end
  return ("stream: %d events, %.1f MB, seed %d, %d of them real regression events (malicious)%s"):format(
    st.events, st.bytes / 1e6, R.SEED, st.real, rules and ("; " .. rules) or "")
end

-- ------------------------------------------------------------ the detection loop
-- R.detect(eng, path, on_hit [, opts]) -> {fired=, hits=}
-- eng:scan over the stream; on_hit(ev, rule, lineno) for every detection.
-- opts.prefilter as eng:scan's.
function R.detect(eng, path, on_hit, opts)
  local fired, hits = 0, 0
  local sopts = { prefilter = opts and opts.prefilter, on_error = function(n, msg)
    error(("stream line %d: %s"):format(n, tostring(msg)))
  end }
  for ev, evhits, n in eng:scan(path, sopts) do
    if #evhits > 0 then
      fired = fired + 1
      for i = 1, #evhits do
        hits = hits + 1
        if on_hit then on_hit(ev, evhits[i], n) end
      end
    end
  end
  return { fired = fired, hits = hits }
end

-- One detection run whose results are thrown away: the engine builds some
-- of its matchers lazily, on first use; a memory measurement must not count
-- them in whichever case runs first.
function R.warm(eng, path)
  R.detect(eng, path)
  collectgarbage(); collectgarbage()
end

-- Every value alternative of every rule: fn(alt, group, item, rule).
function R.each_alt(eng, fn)
  for _, rule in ipairs(eng.rules) do
    for _, item in ipairs(rule.items or {}) do
      for _, g in ipairs(item.groups or {}) do
        for _, alt in ipairs(g.alts or {}) do fn(alt, g, item, rule) end
      end
    end
  end
end

-- hunt's own record and formatter, so the runs write what hunt writes
function R.hunt()
  if not R._hunt then R._hunt = require "fastmatch.hunt" end
  return R._hunt
end

-- The Lua heap a function's result holds: B.memory, in bytes.
function R.heap(fn)
  local grown, keep = B.memory(fn)
  return grown, keep
end

-- Can an in-run result be measured here?  -> true | false, why, verdict:
-- "not applicable here" without the engine or its libraries, "not measured
-- here" without SigmaHQ's rules (what to set is in why).
function R.available()
  local ok, err = pcall(require, "fastmatch.sigma")
  if not ok then return false, "fastmatch.sigma is not available (" .. tostring(err):match("[^\n]*") .. ")", "not applicable here" end
  if not pcall(require, "cjson") then return false, "lua-cjson is not installed", "not applicable here" end
  if not pcall(require, "lyaml") then return false, "lyaml is not installed", "not applicable here" end
  local dir, why = R.rules_dir()
  if not dir then return false, why, "not measured here" end
  return true
end

-- The result of an in-run body that cannot run here, or nil when it can:
--   local na = R.unavailable(); if na then return na end
function R.unavailable()
  local ok, why, verdict = R.available()
  if ok then return nil end
  return { verdict = verdict, why = why }
end

return R

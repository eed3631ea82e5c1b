-- Experiment 3 -- "Avoid regex compilation in loops": the guide compiled
-- a Regex once (lazy static) instead of per iteration (~100x faster).
-- Here, on a 110-byte web-log line: before, the pattern is compiled in the
-- loop as lrexlib users write it (rex_pcre2.new(p):find(s), which is also
-- what rex_pcre2.find(s, p) does); after, fm.compile once outside the
-- loop.  Also shown: the same-library effect in lrexlib, fm.compile in the
-- loop, and fm.find(s, p) whose cache makes the loop form cheap anyway.
--   lua5.4 examples/03_regex_in_loop.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"

local LINE = '203.0.113.9 - - [21/Mar/2016:19:19:25 +0100] "GET /index.php?Action=View HTTP/1.1" 404 151 "-" "curl/7.8"'
local PAT = [==[^(\S+) \S+ \S+ \[([^\]]+)\] "(\w+) ([^"]*)" (\d{3}) (\d+)]==]

local R = dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "inrun.lua")

-- In our run (#174): the rules' `re` values.  The engine compiles each once
-- (fm.compile at load); before, every test of a `re` value compiles it
-- afresh, as lrexlib's rex.find(s, p) does (rex_pcre2.new(p, cf):find(s);
-- fm.compile(p) when lrexlib is absent).  Script code over the engine: each
-- `re` alternative's compiled object is swapped for one that compiles per
-- call, and swapped back.  The engine's gate (csrc/gate.c) runs the
-- compiled regexes in C; a Lua object it cannot run leaves the regex's
-- rule to the engine's Lua side (unknown in C), which then calls it: the
-- gate is rebuilt in both runs (eng.gate_obj = nil), timed the same way.
local function in_run()
  local na = R.unavailable() -- no engine, or no SigmaHQ rules: no in-run result
  if na then return na end
  local fm = require "fastmatch"
  local okrex, rex = pcall(require, "rex_pcre2")
  local eng, info = R.engine()
  local path = R.stream()
  local alts, tests = {}, 0
  R.each_alt(eng, function(alt) if alt.kind == "re" and alt.regex then alts[#alts + 1] = alt end end)
  if #alts == 0 then return { verdict = "not applicable here", why = "no rule has a `re` value" } end
  local once, per_call = {}, {}
  for i, alt in ipairs(alts) do
    once[i] = alt.regex
    local src, flags = alt.source, alt.flags or ""
    if okrex then
      per_call[i] = { test = function(_, s) tests = tests + 1; return rex.new(src, flags):find(s) ~= nil end }
    else
      per_call[i] = { test = function(_, s) tests = tests + 1; return fm.compile(src, flags):test(s) end }
    end
  end
  local function use(t) for i, alt in ipairs(alts) do alt.regex = t[i] end end
  local stats = {}
  local res = B.compare(nil, {
    { name = "re compiled per test", fn = function()
      use(per_call)
      eng.gate_obj = nil -- rebuilt with these: a Lua object is unknown in C
      tests = 0
      local good, st = pcall(R.detect, eng, path)
      use(once)
      eng.gate_obj = nil
      if not good then error(st, 0) end
      stats[1] = st
    end },
    { name = "re compiled once (the engine)", fn = function()
      eng.gate_obj = nil -- rebuilt as in the other run
      stats[2] = R.detect(eng, path)
    end },
  }, { silent = true, runs = B.quick and 1 or 3, warmup = 0 })
  assert(stats[1].hits == stats[2].hits, "the two runs found different detections")
  local b, a = res[1].cpu, res[2].cpu
  local _, sinfo = R.stream()
  return {
    before = { value = b, unit = "s", what = ("the detection run, each `re` value compiled at each test (%s)"):format(
      okrex and "rex_pcre2.new(p, cf):find(s)" or "fm.compile(p):test(s); lrexlib not installed") },
    after = { value = a, unit = "s", what = "the same, compiled once at load" },
    ratio = b / a,
    why = ("%d `re` values in the rules, %d tests in %d events (%.1f a event): compiling them costs %.1f us a test, %.0f%% of the run"):format(
      #alts, tests, sinfo.events, tests / sinfo.events, (b - a) / math.max(tests, 1) * 1e6, (b - a) / b * 100),
    details = { R.describe(nil, info), B.cpu_note(), ("%d detections, the same both ways"):format(stats[2].hits) },
  }
end

return B.experiment({
  id = 3, title = "Avoid regex compilation in loops",
  claim = "compile the regex once, not in the loop: ~100x faster",
  claim_value = 100, metric = "x faster", needs = { "compile", "find" },
  in_run = { pr = "#174", claim = "regexes compiled once, not per event: \"significant\"", significant = "speed",
             metric = "x faster", body = in_run },
}, function()
  local fm = require "fastmatch"
  local okrex, rex = pcall(require, "rex_pcre2")
  local re = fm.compile(PAT)
  assert(select(7, re:find(LINE)) == "404", "fm.compile: wrong captures")
  local n_loop = B.size(50000, 1000)
  local n_once = B.size(500000, 10000)
  local cases = {}
  local function add(name, n, fn) cases[#cases + 1] = { name = name, n = n, fn = fn } end
  if okrex then
    add("rex_pcre2.new(p):find(s) in the loop", n_loop, function()
      for _ = 1, n_loop do rex.new(PAT):find(LINE) end
    end)
  end
  add("fm.compile(p):find(s) in the loop", n_loop, function()
    for _ = 1, n_loop do fm.compile(PAT):find(LINE) end
  end)
  add("fm.compile once, re:find(s) in the loop", n_once, function()
    for _ = 1, n_once do re:find(LINE) end
  end)
  add("fm.find(s, p) in the loop (cached)", n_once, function()
    for _ = 1, n_once do fm.find(LINE, PAT) end
  end)
  local rexonce
  if okrex then
    rexonce = rex.new(PAT)
    add("rex_pcre2.new once, r:find(s) in the loop", n_once, function()
      for _ = 1, n_once do rexonce:find(LINE) end
    end)
  end
  local res = B.compare(nil, cases, { silent = true, runs = B.quick and 1 or 3 })
  local details = { B.cpu_note() }
  for _, c in ipairs(res) do details[#details + 1] = ("%-44s %9.1f ns/op"):format(c.name, c.cpu_ns_op) end
  local before = okrex and res["rex_pcre2.new(p):find(s) in the loop"] or res["fm.compile(p):find(s) in the loop"]
  local after = res["fm.compile once, re:find(s) in the loop"]
  if okrex then
    details[#details + 1] = ("lrexlib alone, in the loop -> once: %.0fx; fastmatch alone: %.0fx; fm.find cached vs compiled once: %.2fx the time"):format(
      before.cpu_ns_op / res["rex_pcre2.new once, r:find(s) in the loop"].cpu_ns_op,
      res["fm.compile(p):find(s) in the loop"].cpu_ns_op / after.cpu_ns_op,
      res["fm.find(s, p) in the loop (cached)"].cpu_ns_op / after.cpu_ns_op)
  else
    details[#details + 1] = "rex_pcre2 (lua-rex-pcre2) is not installed: the before is fm.compile in the loop"
  end
  return {
    before = { value = before.cpu_ns_op / 1000, unit = "us/line", what = before.name },
    after = { value = after.cpu_ns_op / 1000, unit = "us/line", what = after.name },
    ratio = before.cpu_ns_op / after.cpu_ns_op,
    why = ("compiling in the loop: %.1f us a line (fm.compile, with its JIT compile: %.1f us); compiled once: %.0f ns a line%s"):format(
      before.cpu_ns_op / 1000, res["fm.compile(p):find(s) in the loop"].cpu_ns_op / 1000, after.cpu_ns_op,
      re.info and re:info().jit and " (JIT)" or ""),
    details = details,
  }
end)

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

return B.experiment({
  id = 3, title = "Avoid regex compilation in loops",
  claim = "compile the regex once, not in the loop: ~100x faster",
  claim_value = 100, metric = "x faster", needs = { "compile", "find" },
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

-- Experiment 5 -- "Use standard string methods instead of regex": the
-- guide replaced a regex like `.*abc` with ends_with (~10x faster).
-- Here, over process image paths: before, the regex compiled once
-- (fm.compile, PCRE2 JIT; lrexlib when fm.compile is not built); after,
-- fm.endswith.  Starts-with and contains are shown beside it, and Lua's
-- own allocating idiom s:sub(-#x) == x.
--   lua5.4 examples/05_string_methods.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"

-- Subjects: the Image / CommandLine values of the Sigma regression events
-- when ../shared is there, else generated paths of the same shape.
local function subjects()
  local out, src = {}, "generated paths"
  local ev = B.sigma("sigma_events")
  if ev then
    for _, e in ipairs(ev) do
      for _, k in ipairs({ "Image", "ParentImage", "CommandLine", "TargetFilename" }) do
        local v = e.fields and e.fields[k]
        if type(v) == "string" then out[#out + 1] = v end
      end
    end
    src = ("%d Image/CommandLine values of the Sigma regression events"):format(#out)
  end
  if #out < 100 then
    out = {}
    local dirs = { "C:\\Windows\\System32\\", "C:\\Users\\alice\\AppData\\Local\\Temp\\", "C:\\Program Files\\App\\" }
    local names = { "cmd.exe", "powershell.exe", "rundll32.exe", "notes.txt", "setup.dll", "svchost.exe" }
    for i = 1, 1000 do out[i] = dirs[i % #dirs + 1] .. names[i % #names + 1] end
  end
  return out, src
end

local R = dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "inrun.lua")

-- In our run (#890, #884): every Sigma value matched as a PCRE2 regex (the
-- engine's wildcards = "regex", what Hayabusa did before) vs the wildcard
-- fast paths (fm.wildcard: exact, prefix, suffix, contains...).  With
-- wildcards = "regex" the engine evaluates rule by rule, each value its own
-- matcher (no per-field index), so the "after" is the same evaluator with
-- fm.wildcard matchers (eng:naive_match): one technique changed.  The whole
-- indexed engine is shown beside it.  Over the stream's first R.NAIVE
-- events (rule-by-rule evaluation of every rule is slow), decoded first.
local function in_run()
  local na = R.unavailable() -- no engine, or no SigmaHQ rules: no in-run result
  if na then return na end
  local fast, info = R.engine()
  local slow = R.engine({ wildcards = "regex" })
  local evs = R.events(R.NAIVE)
  local n = #evs
  local h = {}
  local res = B.compare(nil, {
    { name = "regex per value (wildcards = regex)", n = n, fn = function()
      local c = 0
      for i = 1, n do c = c + #slow:match(evs[i]) end
      h[1] = c
    end },
    { name = "fast paths, rule by rule (naive_match)", n = n, fn = function()
      local c = 0
      for i = 1, n do c = c + #fast:naive_match(evs[i]) end
      h[2] = c
    end },
    { name = "fast paths, indexed (eng:match)", n = n, fn = function()
      local c = 0
      for i = 1, n do c = c + #fast:match(evs[i]) end
      h[3] = c
    end },
  }, { silent = true, runs = B.quick and 1 or 3, warmup = 0 })
  assert(h[1] == h[2] and h[2] == h[3], ("the evaluators disagree: %d, %d, %d detections"):format(h[1], h[2], h[3]))
  local b, a, idx = res[1].cpu_ns_op / 1000, res[2].cpu_ns_op / 1000, res[3].cpu_ns_op / 1000
  return {
    before = { value = b, unit = "us/event", what = "every value a PCRE2 regex (wildcards = \"regex\"), rule by rule" },
    after = { value = a, unit = "us/event", what = "every value an fm.wildcard fast path, rule by rule (eng:naive_match)" },
    ratio = b / a,
    why = ("rule by rule over %d rules: %.0f us an event with regexes, %.0f us with the fast paths; the indexed engine: %.0f us (%.0fx the regex run)"):format(
      info.loaded, b, a, idx, b / idx),
    details = { R.describe(R.NAIVE, info), B.cpu_note(), ("%d detections in %d events, the same by all three"):format(h[2], n) },
  }
end

return B.experiment({
  id = 5, title = "Standard string methods instead of regex",
  in_run = { pr = "#890, #884", claim = "string methods instead of regexes for rule values: ~15% faster",
             claim_value = 1.15, metric = "x faster", body = in_run },
  claim = "ends_with instead of a `.*abc` regex: ~10x faster",
  claim_value = 10, metric = "x faster", needs = { "endswith", "startswith", "contains" },
}, function()
  local fm = require "fastmatch"
  local S, src = subjects()
  local compile, engine
  if fm.compile then
    compile, engine = function(p) local re = fm.compile(p); return function(s) return re:test(s) end end, "fm.compile (PCRE2 JIT)"
  else
    local rex = require "rex_pcre2"
    compile, engine = function(p) local re = rex.new(p); return function(s) return re:find(s) ~= nil end end, "rex_pcre2 (fm.compile not built)"
  end
  local reps = B.size(2000, 40)
  local n = reps * #S
  local pairs_ = {
    { "ends with", [[.*\.exe$]], function(s) return fm.endswith(s, ".exe") end },
    { "starts with", [[^C:\\Windows\\]], function(s) return fm.startswith(s, "C:\\Windows\\") end },
    { "contains", [[.*powershell]], function(s) return fm.contains(s, "powershell") ~= nil end },
  }
  local details = { ("subjects: %s; regex engine: %s"):format(src, engine), B.cpu_note() }
  local main
  for i, p in ipairs(pairs_) do
    local name, pat, fast = p[1], p[2], p[3]
    local re = compile(pat)
    -- same answers on every subject, or the timing compares different work
    for _, s in ipairs(S) do
      assert(not re(s) == not fast(s), ("%s: regex and fm disagree on %q"):format(name, s))
    end
    local cases = {
      { name = "regex " .. pat, n = n, fn = function()
        for _ = 1, reps do for j = 1, #S do re(S[j]) end end end },
      { name = "fm." .. name:gsub(" ", ""), n = n, fn = function()
        for _ = 1, reps do for j = 1, #S do fast(S[j]) end end end },
    }
    if i == 1 then
      cases[3] = { name = "Lua s:sub(-4) == '.exe'", n = n, fn = function()
        for _ = 1, reps do for j = 1, #S do local _ = S[j]:sub(-4) == ".exe" end end end }
      local okrex, rex = pcall(require, "rex_pcre2")
      if okrex and fm.compile then -- what Lua code uses today: lrexlib, no JIT
        local r = rex.new(pat)
        cases[#cases + 1] = { name = "rex_pcre2 " .. pat, n = n, fn = function()
          for _ = 1, reps do for j = 1, #S do r:find(S[j]) end end end }
      end
      if fm.wildcard then -- the Sigma way: a "*.exe" wildcard is planned as a suffix test
        local w = fm.wildcard("*.exe", { cased = true })
        for _, s in ipairs(S) do assert(w:test(s) == fast(s), "fm.wildcard disagrees on " .. s) end
        cases[#cases + 1] = { name = "fm.wildcard('*.exe'):test", n = n, fn = function()
          for _ = 1, reps do for j = 1, #S do w:test(S[j]) end end end }
      end
    end
    local res = B.compare(nil, cases, { silent = true, runs = B.quick and 1 or 3 })
    details[#details + 1] = ("%-12s regex %6.1f ns, fm %6.1f ns: %.1fx%s"):format(name, res[1].cpu_ns_op, res[2].cpu_ns_op,
      res[1].cpu_ns_op / res[2].cpu_ns_op, "")
    for k = 3, #res do
      details[#details + 1] = ("%-12s %-30s %6.1f ns: %.1fx fm.%s's time"):format("", res[k].name, res[k].cpu_ns_op,
        res[k].cpu_ns_op / res[2].cpu_ns_op, (name:gsub(" ", "")))
    end
    if i == 1 then main = res end
  end
  local b, a = main[1].cpu_ns_op, main[2].cpu_ns_op
  local vs_rex = ""
  for k = 3, #main do
    if main[k].name:match("^rex_pcre2") then
      vs_rex = ("; against lrexlib's regex (no JIT, what Lua code uses today) %.1fx"):format(main[k].cpu_ns_op / a)
    end
  end
  return {
    before = { value = b, unit = "ns/test", what = "regex .*\\.exe$ compiled once, " .. engine },
    after = { value = a, unit = "ns/test", what = 'fm.endswith(s, ".exe")' },
    ratio = b / a,
    why = ("ends-with: %.0f ns by a JIT regex, %.0f ns by fm.endswith (a Lua call either way)%s"):format(b, a, vs_rex),
    details = details,
  }
end)

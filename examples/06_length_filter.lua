-- Experiment 6 -- "Filter by string length": the guide checked a string's
-- length before running a regex that can only match long strings (~20x
-- faster).  Here: a rule looking for base64 blobs of 100+ characters runs
-- over every field value of the Sigma regression events (most are short);
-- before, the regex on every value; after, `#s >= 100 and re:test(s)`.
-- Note that PCRE2 itself skips subjects shorter than the pattern's minimum
-- length, so what the check saves here is the call, not the scan.
--   lua5.4 examples/06_length_filter.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"

local PAT = "[A-Za-z0-9+/]{100,}={0,2}"
local MIN = 100

local function subjects()
  local out, src = {}, nil
  local ev = B.sigma("sigma_events")
  if ev then
    for _, e in ipairs(ev) do
      for _, v in pairs(e.fields or {}) do
        if type(v) == "string" then out[#out + 1] = v end
      end
    end
    table.sort(out) -- pairs() order varies from run to run; the data does not
    src = ("%d field values of the Sigma regression events"):format(#out)
  else
    -- generated: mostly short values, a few long command lines, 1% with a blob
    local blob = ("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="):rep(4)
    for i = 1, 5000 do
      if i % 100 == 0 then out[i] = "powershell -enc " .. blob
      elseif i % 10 == 0 then out[i] = ("C:\\Windows\\System32\\cmd.exe /c echo %d && dir C:\\Users\\Public\\Documents"):format(i)
      else out[i] = ("value-%d"):format(i) end
    end
    src = "5000 generated field values (../shared not found)"
  end
  return out, src
end

local R = dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "inrun.lua")

-- In our run (#883): the rules' exact values (no wildcard: "equals"),
-- compared caselessly as Hayabusa did, lowercasing the event's value:
-- before, `s:lower() == v` on every value; after, `#s == #v and
-- s:lower() == v`, the length test first.  Script code over the engine: the
-- exact alternatives' matchers are swapped for these two in turn (and back
-- to the engine's own fm.wildcard, shown beside).  Rule by rule
-- (eng:naive_match: the index would answer exact values in its trie), over
-- the stream's first R.NAIVE events, decoded first.
local function in_run()
  local na = R.unavailable() -- no engine, or no SigmaHQ rules: no in-run result
  if na then return na end
  local fm = require "fastmatch"
  local eng, info = R.engine()
  local evs = R.events(R.NAIVE)
  local n = #evs
  local alts, plain, before, after = {}, {}, {}, {}
  local compared, differ = 0, 0
  R.each_alt(eng, function(alt)
    if alt.kind == "wc" and not alt.cased and not alt.pattern:find("[\128-\255]") then
      local w = fm.wildcard(alt.pattern)
      if w.kind == "exact" then
        local v = alt.pattern:gsub("\\([*?\\])", "%1"):lower()
        local k = #alts + 1
        alts[k], plain[k] = alt, alt.matcher or false
        before[k] = { test = function(_, s) compared = compared + 1; return s:lower() == v end }
        after[k] = { test = function(_, s)
          compared = compared + 1
          if #s ~= #v then differ = differ + 1; return false end
          return s:lower() == v
        end }
      end
    end
  end)
  if #alts == 0 then return { verdict = "not applicable here", why = "no rule has an exact value" } end
  local function use(t) for i, alt in ipairs(alts) do alt.matcher = t[i] or nil end end
  local h, counts = {}, {}
  local function run(i, t)
    use(t)
    compared, differ = 0, 0
    local good, c = pcall(function()
      local c = 0
      for j = 1, n do c = c + #eng:naive_match(evs[j]) end
      return c
    end)
    use(plain)
    if not good then error(c, 0) end
    h[i], counts[i] = c, { compared, differ }
  end
  local res = B.compare(nil, {
    { name = "s:lower() == v", n = n, fn = function() run(1, before) end },
    { name = "#s == #v and s:lower() == v", n = n, fn = function() run(2, after) end },
    { name = "the engine's fm.wildcard (exact kind)", n = n, fn = function() run(3, plain) end },
  }, { silent = true, runs = B.quick and 1 or 3, warmup = 0 })
  assert(h[1] == h[2] and h[2] == h[3], ("the matchers disagree: %d, %d, %d detections"):format(h[1], h[2], h[3]))
  local b, a, own = res[1].cpu_ns_op / 1000, res[2].cpu_ns_op / 1000, res[3].cpu_ns_op / 1000
  local cmp, diff = counts[2][1], counts[2][2]
  return {
    before = { value = b, unit = "us/event", what = "exact values compared by s:lower() == v, rule by rule" },
    after = { value = a, unit = "us/event", what = "the same with #s == #v first" },
    ratio = b / a,
    why = ("%d exact values; %.0f comparisons an event, %.0f%% rejected by length: %.0f vs %.0f us an event (the engine's own exact wildcard: %.0f us)"):format(
      #alts, cmp / n, diff / math.max(cmp, 1) * 100, b, a, own),
    details = { R.describe(R.NAIVE, info), B.cpu_note(), ("%d detections in %d events, the same all three ways"):format(h[1], n) },
  }
end

return B.experiment({
  id = 6, title = "Filter by string length",
  in_run = { pr = "#883", claim = "the length compared before the value: ~15% faster", claim_value = 1.15,
             metric = "x faster", body = in_run },
  claim = "check the length before running the regex: ~20x faster",
  claim_value = 20, metric = "x faster", needs = { "compile" },
}, function()
  local fm = require "fastmatch"
  local S, src = subjects()
  local re = fm.compile(PAT)
  local long, hits = 0, 0
  for _, s in ipairs(S) do
    if #s >= MIN then long = long + 1 end
    if re:test(s) then hits = hits + 1 end
    assert(re:test(s) == (#s >= MIN and re:test(s)), "the length check changed an answer")
  end
  local reps = B.size(200, 4)
  local n = reps * #S
  local res = B.compare(nil, {
    { name = "re:test(s) on every value", n = n, fn = function()
      for _ = 1, reps do for j = 1, #S do re:test(S[j]) end end end },
    { name = "#s >= 100 and re:test(s)", n = n, fn = function()
      for _ = 1, reps do for j = 1, #S do local s = S[j]; local _ = #s >= MIN and re:test(s) end end end },
  }, { silent = true, runs = B.quick and 1 or 3 })
  local b, a = res[1].cpu_ns_op, res[2].cpu_ns_op
  local info = re.info and re:info() or {}
  return {
    before = { value = b, unit = "ns/value", what = "regex " .. PAT .. " on every value" },
    after = { value = a, unit = "ns/value", what = "length check first, regex on the long ones" },
    ratio = b / a,
    why = ("%d of %d values are long enough; the check replaces a regex call (PCRE2 minlength %s already rejects short ones)"):format(
      long, #S, tostring(info.minlength)),
    details = { ("subjects: %s; %d match"):format(src, hits), B.cpu_note() },
  }
end)

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

return B.experiment({
  id = 6, title = "Filter by string length",
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

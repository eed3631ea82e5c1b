-- Sigma wildcards: fm.wildcard (csrc/wildcard.c); sets and the string
-- helpers have their own specs (sets_spec.lua, text_spec.lua).  Reads as
-- the API's documentation: each case names a rule of the Sigma value
-- syntax; the differential specs compare with a reference matcher written
-- here (a dynamic program over characters, nothing shared with C).
local fm = require "fastmatch"

local SEED = tonumber(os.getenv("FM_SEED") or "") or 20260425

-- ----------------------------------------------------------------------
-- Reference matcher: the semantics, spelled out slowly.
-- ----------------------------------------------------------------------

-- Characters of s: one UTF-8 code point (strict: no overlongs, surrogates
-- or > U+10FFFF), or one byte that does not start a valid sequence.
local function chars(s)
  local out, i, n = {}, 1, #s
  while i <= n do
    local c, len = s:byte(i), 1
    if c >= 0xC2 and c <= 0xF4 and pcall(utf8.codepoint, s, i) then
      len = c < 0xE0 and 2 or c < 0xF0 and 3 or 4
    end
    out[#out + 1] = s:sub(i, i + len - 1)
    i = i + len
  end
  return out
end

-- Pattern tokens: {"*"}, {"?"}, or {"lit", char}.  Escapes act on bytes;
-- each run of literal bytes is then read as characters.
local function tokens(p)
  local toks, run = {}, {}
  local function flush()
    if #run > 0 then
      for _, ch in ipairs(chars(table.concat(run))) do toks[#toks + 1] = { "lit", ch } end
      run = {}
    end
  end
  local i = 1
  while i <= #p do
    local c = p:sub(i, i)
    if c == "*" or c == "?" then
      flush(); toks[#toks + 1] = { c }; i = i + 1
    elseif c == "\\" and i < #p and p:sub(i + 1, i + 1):match("^[*?\\]$") then
      run[#run + 1] = p:sub(i + 1, i + 1); i = i + 2
    else
      run[#run + 1] = c; i = i + 1
    end
  end
  flush()
  return toks
end

-- Case folding for the characters the random specs use.
local FOLD = { ["É"] = "é", ["Ä"] = "ä" }
local function fold(ch)
  if #ch == 1 then return ch:lower() end
  return FOLD[ch] or ch
end

-- whether the reference knows how to fold every letter of s
local KNOWN = { ["é"] = true, ["ä"] = true, ["É"] = true, ["Ä"] = true, ["€"] = true, ["😀"] = true }
local function ref_folds(s)
  for _, ch in ipairs(chars(s)) do
    if #ch > 1 and utf8.len(ch) and not KNOWN[ch] then return false end
  end
  return true
end

local function refmatch(p, s, cased)
  local toks, sc = tokens(p), chars(s)
  local f = cased and function(x) return x end or fold
  local S = #sc
  local nxt = {}
  for j = 1, S + 1 do nxt[j] = (j == S + 1) end
  for i = #toks, 1, -1 do
    local t, cur = toks[i], {}
    for j = S + 1, 1, -1 do
      if t[1] == "*" then cur[j] = nxt[j] or (j <= S and cur[j + 1])
      elseif j > S then cur[j] = false
      elseif t[1] == "?" then cur[j] = nxt[j + 1]
      else cur[j] = f(t[2]) == f(sc[j]) and nxt[j + 1] end
    end
    nxt = cur
  end
  return nxt[1] == true
end

-- PCRE2 translation (valid UTF-8 subjects only), when lrexlib is here.
local has_rex, rex = pcall(require, "rex_pcre2")
local function to_regex(p)
  local out = {}
  for _, t in ipairs(tokens(p)) do
    if t[1] == "*" then out[#out + 1] = ".*"
    elseif t[1] == "?" then out[#out + 1] = "."
    else
      local ok, cp = pcall(utf8.codepoint, t[2])
      if not ok then return nil end -- an invalid byte: PCRE2 UTF cannot say it
      out[#out + 1] = t[2]:match("^%w$") and t[2] or ("\\x{%x}"):format(cp)
    end
  end
  return "\\A(?:" .. table.concat(out) .. ")\\z"
end
local rex_cache = {}
local function rexmatch(p, s, cased)
  local key = (cased and "C" or "I") .. p
  local r = rex_cache[key]
  if r == nil then
    local src = to_regex(p)
    if not src then rex_cache[key] = false; return nil end
    local fl = rex.flags()
    local cf = fl.UTF | fl.UCP | fl.DOTALL | (cased and 0 or fl.CASELESS)
    r = rex.new(src, cf)
    rex_cache[key] = r
  end
  if not r then return nil end
  return r:exec(s) ~= nil
end

local function q(s) return ("%q"):format(s) end

-- ----------------------------------------------------------------------
describe("fastmatch.wildcard", function()
  -- { pattern, subject, matches?, kind (optional), opts (optional) }
  local cases = {
    -- whole-subject match and the strategies
    { "cmd.exe", "cmd.exe", true, "exact" },
    { "cmd.exe", "xcmd.exe", false, "exact" },
    { "cmd.exe", "CMD.EXE", true, "exact" },
    { "cmd*", "CMD.EXE /c dir", true, "prefix" },
    { "cmd*", "xcmd", false, "prefix" },
    { "*.exe", "C:\\X\\A.EXE", true, "suffix" },
    { "*.exe", ".exe ", false, "suffix" },
    { "*whoami*", "cmd /c WHOAMI /all", true, "contains" },
    { "*whoami*", "who am i", false, "contains" },
    { "C:\\\\*.exe", "c:\\tools\\x.exe", true, "prefix_suffix" },
    { "ab*ba", "aba", false, "prefix_suffix" },  -- the two ends may not overlap
    { "ab*ba", "abba", true, "prefix_suffix" },
    { "*a*b*", "xxAyyBzz", true, "glob" },
    { "*a*b*", "xxbyyazz", false, "glob" },
    { "a?c", "abc", true, "glob" },
    { "*", "", true, "contains" },
    { "*", "anything\nat all", true, "contains" },
    { "**", "x", true, "contains" },
    { "a**b", "ab", true, "prefix_suffix" },
    -- '*' and '?' cross newlines
    { "a*b", "a\nline\nb", true },
    { "a?b", "a\nb", true },
    -- escapes: \* \? \\ are literal
    { [[a\*b]], "a*b", true, "exact" },
    { [[a\*b]], "axxb", false },
    { [[a\?]], "a?", true, "exact" },
    { [[a\?]], "ab", false },
    { [[C:\Windows\?]], [[C:\Windows?]], true, "exact" },
    { [[a\\b]], [[a\b]], true, "exact" },
    { [[a\\b]], [[a\\b]], false },
    { [[a\\*]], [[a\anything]], true, "prefix" },
    { [[\\\*]], [[\*]], true, "exact" },
    { [[\\\\]], [[\\]], true, "exact" },
    { [[*\**]], "x*y", true, "contains" },
    { [[*\**]], "xy", false },
    { [[*\\netstat.exe]], [[C:\Windows\System32\NETSTAT.EXE]], true, "suffix" },
    -- a '\' before anything else is a literal backslash; the next char keeps its meaning
    { [[\a]], [[\a]], true, "exact" },
    { [[\a]], "a", false },
    { [[\x*]], [[\xyz]], true, "prefix" },
    { [[\x*]], "xyz", false },
    { [[C:\Windows\*]], [[C:\Windows*]], true, "exact" },  -- here \* is an escape: literal '*'
    { [[C:\Windows\*]], [[C:\Windows\x]], false },
    { [[C:\Windows\\*]], [[C:\Windows\x]], true, "prefix" }, -- \\ then the wildcard
    { [[C:\Windows\System32*]], [[c:\windows\system32\cmd.exe]], true, "prefix" },
    -- a trailing '\' is a literal backslash
    { [[C:\Windows\]], [[C:\Windows\]], true, "exact" },
    { [[*\]], [[dir\]], true, "suffix" },
    { [[\]], [[\]], true, "exact" },
    -- '?' is one character: one UTF-8 code point
    { "?", "é", true, "glob" },
    { "??", "é", false },
    { "?", "€", true },
    { "?", "😀", true },
    { "a?c", "a😀c", true },
    { "x??y", "xé€y", true },
    -- ... and a byte that is not valid UTF-8 is one character
    { "?", "\255", true },
    { "a?b", "a\255b", true },
    { "??", "\xC3(", true },           -- a lead byte without its continuation
    { "?", "\xE2\x82", false },        -- truncated sequence: two characters
    { "??", "\xE2\x82", true },
    { "?", "\xED\xA0\x80", false },    -- a surrogate is three invalid bytes
    { "???", "\xED\xA0\x80", true },
    { "?", "\xC0\x80", false },        -- overlong
    { "\xC3*", "é", false, "glob" },   -- a lone lead byte in the pattern is one character
    { "\xC3*", "\xC3x", true },
    { "*\xA9", "é", false },
    { "*\xA9", "x\xA9", true },
    -- caseless by default, for non-ASCII letters too
    { "ÄRGER", "ärger", true, "exact" },
    { "*ärger*", "VIEL ÄRGER HIER", true, "contains" },
    { "ПРИВЕТ*", "привет мир", true, "prefix" },
    { "*ΣΟΦΙΑ", "η σοφια", true, "suffix" },
    { "ΟΔΟΣ", "οδος", true },             -- final sigma folds with sigma
    { "Straße", "STRASSE", false },        -- simple folding: ß is one character
    { "ÄR?ER", "är€er", true, "glob" },
    { "*Ä*", "xäy", true, "contains" },
    { "*ä*", "xay", false },
    { "*😀*", "x😀y", true, "contains" },  -- no case variants: bytes
    { "k", "\u{212A}", false },            -- KELVIN SIGN: ASCII letters match only ASCII
    { "\u{1C4}", "\u{1C5}", true },         -- DŽ / Dž (titlecase) / dž fold together
    { "\u{386}ΘΗΝΑ", "άθηνα", true },       -- Greek with tonos
    { "*\u{FF21}\u{FF22}*", "x\u{FF41}\u{FF42}y", true }, -- fullwidth Ａ Ｂ
    { "\u{10400}?", "\u{10428}x", true },   -- Deseret: four-byte letters
    { "\u{13A0}", "\u{AB70}", true },       -- Cherokee folds to its capitals
    { "\u{130}", "i", false },              -- İ has no simple folding
    { "ǅ*", "\u{1C6}x", true, "prefix" },
    -- cased = true compares bytes
    { "Foo", "foo", false, "exact", { cased = true } },
    { "Foo", "Foo", true, "exact", { cased = true } },
    { "*Bar*", "xbarx", false, "contains", { cased = true } },
    { "ÄRGER", "ärger", false, "exact", { cased = true } },
    { "?r*", "ärger", true, "glob", { cased = true } },
    -- NUL bytes are ordinary bytes
    { "a\0b", "a\0b", true, "exact" },
    { "a\0b", "a\0c", false },
    { "a?b", "a\0b", true },
    { "*\0*", "x\0y", true, "contains" },
    { "*\0*", "xy", false },
    -- the empty pattern matches only the empty subject
    { "", "", true, "exact" },
    { "", "a", false, "exact" },
    { "?", "", false },
    { "a*", "", false },
    -- no backtracking blow-up
    { "*a*a*a*a*a*a*a*a*a*a", ("a"):rep(50) .. "b", false, "glob" },
    { "*a*a*a*a*a*a*a*a*a*a*b", ("a"):rep(50) .. "b", true, "glob" },
    { ("*a"):rep(200) .. "*b", ("a"):rep(100000), false, "glob" },
  }

  for _, c in ipairs(cases) do
    local p, s, want, kind, opts = c[1], c[2], c[3], c[4], c[5]
    local name = ("%s %s %s%s%s"):format(q(p), want and "matches" or "does not match", q(s),
      kind and (" (" .. kind .. ")") or "", opts and " cased" or "")
    it(name, function()
      local w = fm.wildcard(p, opts)
      assert.equal(want, w:test(s))
      assert.equal(want, w(s))
      if kind then assert.equal(kind, w.kind) end
      -- the reference agrees with the table (keeps the reference honest)
      if (opts and opts.cased) or (ref_folds(p) and ref_folds(s)) then
        assert.equal(want, refmatch(p, s, opts and opts.cased))
      end
    end)
  end

  it("searches a non-ASCII literal in one pass after a few false starts (no O(n*m))", function()
    local w = fm.wildcard("*" .. ("ä"):rep(500) .. "b*")
    assert.equal("contains", w.kind)
    assert.is_false(w:test(("Ä"):rep(200000)))
    assert.is_true(w:test(("Ä"):rep(200000) .. "B"))
    assert.is_true(fm.wildcard("*" .. ("ä"):rep(500) .. "b*y"):test(("Ä"):rep(200000) .. "By"))
  end)

  it("has pattern, cased and kind fields", function()
    local w = fm.wildcard("*.EXE")
    assert.equal("*.EXE", w.pattern)
    assert.is_false(w.cased)
    assert.equal("suffix", w.kind)
    assert.is_true(fm.wildcard("x", { cased = true }).cased)
    assert.matches("fastmatch.wildcard", tostring(w))
  end)

  it("is a matcher the line filter can call without Lua (metatable mark)", function()
    assert.is_true(getmetatable(fm.wildcard("a")).__fm_matcher)
  end)

  it("keeps each matcher's fields its own, and its test checks self", function()
    local a, b = fm.wildcard("abc*"), fm.wildcard("*XYZ", { cased = true })
    assert.same({ "prefix", "abc*", false }, { a.kind, a.pattern, a.cased })
    assert.same({ "suffix", "*XYZ", true }, { b.kind, b.pattern, b.cased })
    assert.is_true(a.test(a, "ABCd"))
    assert.is_true(a.test(b, "abcXYZ")) -- the method works on any wildcard: b's plan
    assert.is_true(b.test(b, "abcXYZ"))
    assert.has_error(function() a.test(fm.set({ "a" }), "a") end,
      "bad argument #1 to 'test' (fastmatch.wildcard expected, got fastmatch.set)")
    assert.has_error(function() a.test(io.stdout, "a") end)
    assert.has_error(function() a.test("abc", "a") end)
    assert.is_nil(a.nosuchfield)
  end)

  it("raises for a pattern that is not a string", function()
    assert.has_error(function() fm.wildcard(12) end,
      "bad argument #1 to 'wildcard' (string expected, got number)")
    assert.has_error(function() fm.wildcard() end,
      "bad argument #1 to 'wildcard' (string expected, got no value)")
  end)

  it("raises for opts that are not a table or name an unknown option", function()
    assert.has_error(function() fm.wildcard("a", 1) end)
    assert.has_error(function() fm.wildcard("a", { case = true }) end,
      "bad argument #2 to 'wildcard' (unknown option 'case')")
  end)

  it("tests strings only (numbers are converted, as string.find does)", function()
    assert.is_true(fm.wildcard("1?3"):test(123))
    assert.has_error(function() fm.wildcard("a"):test({}) end)
  end)
end)

-- ----------------------------------------------------------------------
describe("fastmatch.wildcard against a reference matcher", function()
  local P_ALPHA = { "a", "B", "*", "?", "\\", "é" }
  local S_ALPHA = { "a", "A", "b", "B", "é", "É", "\\", "*", "?", "\xC3", "\xA9", "x", "\n" }

  local function rnd_from(alpha, n)
    local t = {}
    for i = 1, n do t[i] = alpha[math.random(#alpha)] end
    return table.concat(t)
  end

  -- a subject built from the pattern, so that many cases match
  local function instance(p)
    local out = {}
    for _, t in ipairs(tokens(p)) do
      if t[1] == "*" then out[#out + 1] = rnd_from(S_ALPHA, math.random(0, 3))
      elseif t[1] == "?" then out[#out + 1] = S_ALPHA[math.random(#S_ALPHA)]
      else
        local ch = t[2]
        if math.random(2) == 1 then ch = ch == "é" and "É" or ch:upper() end
        out[#out + 1] = ch
      end
    end
    return table.concat(out)
  end

  local function run(alpha, npat, cased, label)
    it(("agrees on %d random patterns (%s, seed %d)"):format(npat, label, SEED), function()
      print(("wildcard differential: seed %d (%s); rerun with FM_SEED=%d"):format(SEED, label, SEED))
      math.randomseed(SEED)
      local opts = cased and { cased = true } or nil
      local checked, matched, rexed = 0, 0, 0
      for _ = 1, npat do
        local p = rnd_from(alpha, math.random(0, 8))
        local w = fm.wildcard(p, opts)
        for k = 1, 12 do
          local s = k <= 6 and instance(p) or rnd_from(S_ALPHA, math.random(0, 10))
          local want = refmatch(p, s, cased)
          local got = w:test(s)
          if got ~= want then
            error(("seed %d: fm.wildcard(%s%s) on %s: got %s, reference %s (kind %s)"):format(
              SEED, q(p), cased and ", cased" or "", q(s), tostring(got), tostring(want), w.kind))
          end
          if has_rex and utf8.len(s) then
            local r = rexmatch(p, s, cased)
            if r ~= nil then
              rexed = rexed + 1
              assert(r == want, ("seed %d: PCRE2 translation of %s on %s says %s"):format(
                SEED, q(p), q(s), tostring(r)))
            end
          end
          checked = checked + 1
          if want then matched = matched + 1 end
        end
      end
      assert.is_true(matched > checked // 10) -- the inputs do exercise matches
      if not has_rex then print("SKIP: rex_pcre2 not installed, no PCRE2 cross-check") end
      print(("  %d cases, %d matching, %d also checked with PCRE2"):format(checked, matched, rexed))
    end)
  end

  run(P_ALPHA, 3000, false, "caseless")
  run(P_ALPHA, 1500, true, "cased")
  -- raw bytes: lone lead and continuation bytes inside patterns
  run({ "a", "*", "?", "\\", "\xC3", "\xA9", "é" }, 1500, false, "invalid UTF-8 in patterns")

  it("agrees on subjects full of false starts for a non-ASCII literal (seed " .. SEED .. ")", function()
    -- many candidate starts: the search hands over to KMP after a few
    math.randomseed(SEED)
    local lits = { "ä", "Ä", "a", "A", "é", "É", "\xff", "?" }
    local subj = { "ä", "Ä", "a", "A", "é", "É", "\xff", "\xC3", "b" }
    for _ = 1, 1500 do
      local lit = rnd_from(lits, math.random(1, 6))
      local p = ({ "*" .. lit .. "*", "x*" .. lit .. "*", "*" .. lit .. "*" .. rnd_from(lits, 2) .. "*",
        "*" .. lit .. "*y" })[math.random(4)]
      local t = {}
      for i = 1, math.random(5, 30) do
        t[i] = ({ lit, rnd_from(subj, 1), rnd_from(subj, 2), lit:sub(1, -2) })[math.random(4)]
      end
      local s = ({ "", "x" })[math.random(2)] .. table.concat(t) .. ({ "", "y" })[math.random(2)]
      for _, cased in ipairs({ false, true }) do
        local want = refmatch(p, s, cased)
        assert(fm.wildcard(p, { cased = cased }):test(s) == want,
          ("seed %d: fm.wildcard(%s%s) on %s: reference says %s"):format(
            SEED, q(p), cased and ", cased" or "", q(s), tostring(want)))
      end
    end
  end)

  it("agrees with a regex translation through fm.compile, when the regex branch is here", function()
    if not fm.compile then
      print("SKIP: fm.compile not in this build; PCRE2 cross-check above uses rex_pcre2")
      return
    end
    math.randomseed(SEED)
    for _ = 1, 500 do
      local p = rnd_from({ "a", "B", "*", "?", "\\", "é" }, math.random(0, 8))
      local src = to_regex(p)
      local r = fm.compile(src, "isu")
      local w = fm.wildcard(p)
      for _ = 1, 5 do
        local s = instance(p)
        if utf8.len(s) then
          assert(r:test(s) == w:test(s), ("seed %d: %s on %s"):format(SEED, q(p), q(s)))
        end
      end
    end
  end)
end)


-- ----------------------------------------------------------------------
describe("fastmatch.wildcard on SigmaHQ values", function()
  local dir = "../shared/data/sigma/"
  local f = io.open(dir .. "sigma_values.lua")
  if not f then
    it("SKIP: ../shared/data/sigma is absent (a clone has no shared data)", function()
      print("SKIP: ../shared/data/sigma/sigma_values.lua not found")
    end)
    return
  end
  f:close()
  local values = dofile(dir .. "sigma_values.lua")
  local events = dofile(dir .. "sigma_events.lua")

  it("compiles every value that is a wildcard (the 're' ones are regexes)", function()
    local n, kinds = 0, {}
    for _, v in ipairs(values) do
      if not v[7] then
        local w = fm.wildcard(v[5], { cased = v[6] })
        kinds[w.kind] = (kinds[w.kind] or 0) + 1
        n = n + 1
      end
    end
    local t = {}
    for k, c in pairs(kinds) do t[#t + 1] = k .. "=" .. c end
    table.sort(t)
    print(("  %d values: %s"):format(n, table.concat(t, " ")))
    assert.is_true(n > 40000)
  end)

  it("agrees with the PCRE2 translation on the events' field values", function()
    if not has_rex then print("SKIP: rex_pcre2 not installed"); return end
    local byfield = {}
    for i, v in ipairs(values) do
      if not v[7] then
        local l = byfield[v[2]] or {}
        byfield[v[2]] = l
        l[#l + 1] = i
      end
    end
    -- every distinct (field, value) subject against a rotating ninth of the
    -- values of its field: ~400 000 pairs, every value used many times
    local checked, hits, wcache, seen, u = 0, 0, {}, {}, 0
    local STRIDE = 9
    for _, ev in ipairs(events) do
      local names = {}
      for field in pairs(ev.fields) do names[#names + 1] = field end
      table.sort(names) -- a fixed order: the same pairs on every run
      for _, field in ipairs(names) do
        local s = ev.fields[field]
        local key = field .. "\0" .. tostring(s)
        if type(s) == "string" and utf8.len(s) and not seen[key] then
          seen[key] = true
          u = u + 1
          local list = byfield[field] or {}
          for k = 1 + u % STRIDE, #list, STRIDE do
            local i = list[k]
            local v = values[i]
            local w = wcache[i]
            if not w then
              w = fm.wildcard(v[5], { cased = v[6] })
              wcache[i] = w
            end
            local r = rexmatch(v[5], s, v[6])
            if r ~= nil then
              local got = w:test(s)
              if got ~= r then
                error(("%s on %s: wildcard %s, PCRE2 %s"):format(q(v[5]), q(s), tostring(got), tostring(r)))
              end
              checked = checked + 1
              if got then hits = hits + 1 end
            end
          end
        end
      end
    end
    print(("  %d (value, event field) pairs agree, %d match"):format(checked, hits))
    assert.is_true(hits > 100)
  end)

  it("a set of all CommandLine values agrees with the individual matchers", function()
    local list, ws = {}, {}
    for _, v in ipairs(values) do
      if v[2] == "CommandLine" and not v[7] then
        list[#list + 1] = v[5]
        ws[#ws + 1] = fm.wildcard(v[5])
      end
    end
    local set = fm.set(list)
    assert.equal(#list, #set)
    local lines, any = 0, 0
    for _, ev in ipairs(events) do
      local s = ev.fields.CommandLine
      if s then
        local want = {}
        for i, w in ipairs(ws) do if w:test(s) then want[#want + 1] = i end end
        assert.same(want, set:all(s), s)
        assert.equal(want[1], set:first(s))
        assert.equal(#want > 0, set:test(s))
        lines = lines + 1
        if #want > 0 then any = any + 1 end
      end
    end
    print(("  %d patterns, %d command lines, %d with a match"):format(#list, lines, any))
    assert.is_true(any > 10)
  end)
end)

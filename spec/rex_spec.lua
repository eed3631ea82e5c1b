-- fastmatch.rex: a drop-in for lrexlib 2.9's rex_pcre2.  Where Debian's
-- lua-rex-pcre2 is installed it is the oracle: the same calls on both must
-- give the same results (values, positions, false for unset groups, tables,
-- error messages), over many generated patterns and subjects.
local rex = require "fastmatch.rex"
local has_oracle, oracle = pcall(require, "rex_pcre2")

local function pack(...) return { n = select("#", ...), ... } end

-- results of f(lib) as comparable data: ok flag, values, tables flattened
local function run(f, lib)
  local r = pack(pcall(f, lib))
  local out = { n = r.n }
  for i = 1, r.n do
    local v = r[i]
    if type(v) == "table" then
      local t = {}
      for k, x in pairs(v) do t[k] = x end
      out[i] = t
    elseif type(v) == "string" and not r[1] then
      out[i] = v:gsub("^[^:]*:%d+: ", "") -- drop the caller's position
    else
      out[i] = v
    end
  end
  return out
end

local function same(desc, f)
  local want = run(f, oracle)
  local got = run(f, rex)
  assert.same(want, got, desc)
end

local function collect(iter)
  local out = {}
  while true do
    local r = pack(iter())
    if r[1] == nil then break end
    out[#out + 1] = r
    if #out > 1000 then error("runaway iterator") end
  end
  return out
end

local PATTERNS = {
  "a", "ab", "a*", "a+", "a?", "a*?", "(a)", "(a)|(b)", "(a)?(b)", "[abc]+", "[^,]*", ",",
  "\\d+", "\\w+", "\\s*", "\\b", "^a", "a$", "^", "$", "", "x*", "(a*)(b*)", "(?<n>a)|(?<m>b)",
  "(?<k>\\w+)=(?<v>\\w*)", "a|b|", "(?:ab)+", "(a)(b)?(c)?", ".", ".*", "(.)\\1", "(?=a)",
  "(?<=a)b", "\\Qa.b\\E", "[a-c]{2,3}", "a{0}", "((a)|b)+", "needle", "c,1", "(?i)A",
}
local SUBJECTS = {
  "", "a", "b", "ab", "ba", "aaa", "abcab", "a,b,,c", "baaac", "k=v x=", "aa bb  cc", "1a22b333",
  "abc\nabc", "a.b", "needle in a needle", "c,1c,1", "AaA", "\0a\0", "x",
}

describe("fastmatch.rex", function()
  if not has_oracle then
    it("SKIP: lua-rex-pcre2 (rex_pcre2) is not installed; differential specs not run", function()
      print("SKIP: rex_pcre2 not installed")
    end)
  end

  describe("new", function()
    it("compiles with cf as a number or a string", function()
      local re = rex.new("a", "i")
      assert.same({ 1, 1, n = 2 }, pack(re:find("A")))
      re = rex.new("a", rex.flags().CASELESS)
      assert.same({ 1, 1, n = 2 }, pack(re:find("A")))
    end)
    it("raises lrexlib's message on a bad pattern", function()
      local ok, err = pcall(rex.new, "a(")
      assert.is_false(ok)
      assert.matches("missing closing parenthesis (pattern offset: 3)", err, 1, true)
    end)
    it("accepts maketables() and a locale as the last argument", function()
      local t = rex.maketables()
      assert.same({ 1, 1, n = 2 }, pack(rex.new("a", nil, t):find("a")))
      assert.same({ 1, 1, n = 2 }, pack(rex.find("a", "a", nil, nil, nil, t)))
      assert.same({ 1, 1, n = 2 }, pack(rex.new("a", nil, "C"):find("a")))
    end)
  end)

  describe("flags, config, version", function()
    it("give PCRE2's constants and build information", function()
      local f = rex.flags()
      assert.equal(8, f.CASELESS)
      assert.equal(-1, f.ERROR_NOMATCH)
      local t = {}
      assert.equal(t, rex.flags(t))
      assert.equal(8, t.CASELESS)
      assert.is_number(rex.config().PCRE2_CONFIG_JIT)
      assert.matches("^%d+%.%d+", rex.version())
    end)
    if has_oracle then
      it("match rex_pcre2's exactly", function()
        -- MAJOR/MINOR: the PCRE2 headers each was built against
        local a, b = oracle.flags(), rex.flags()
        a.MINOR, b.MINOR, a.MAJOR, b.MAJOR = nil, nil, nil, nil
        assert.same(a, b)
        assert.same(oracle.config(), rex.config())
        assert.equal(oracle.version(), rex.version())
      end)
    end
  end)

  describe("methods", function()
    it("exec returns offsets, tfind returns substrings, with named groups", function()
      local re = rex.new("(?<n>a)|(b)")
      local s, e, t = re:exec("b")
      assert.same({ 1, 1 }, { s, e })
      assert.same({ false, false, 1, 1, n = false }, t)
      s, e, t = re:tfind("b")
      assert.same({ false, "b", n = false }, t)
    end)
    it("jit_compile returns true", function()
      assert.is_true(rex.new("a+"):jit_compile())
    end)
    it("dfa_exec returns the start, the ends of the matches, their count", function()
      -- (without NO_AUTO_POSSESS PCRE2 makes a final a+ possessive)
      local s, ends, n = rex.new("a+", rex.flags().NO_AUTO_POSSESS):dfa_exec("xaaa")
      assert.equal(2, s)
      assert.same({ 4, 3, 2 }, ends)
      assert.equal(3, n)
    end)
    it("patterninfo (alias fullinfo) reports CAPTURECOUNT and MINLENGTH", function()
      local i = rex.new("(a)(b)c"):patterninfo()
      assert.equal(2, i.CAPTURECOUNT)
      assert.equal(3, i.MINLENGTH)
      assert.same(i, rex.new("(a)(b)c"):fullinfo())
    end)
  end)

  if not has_oracle then return end

  local seed = tonumber(os.getenv("FM_SEED")) or 20240501
  print(("rex differential seed: %d (set FM_SEED to change)"):format(seed))
  math.randomseed(seed)

  local function rnd_subject()
    local alpha = { "a", "b", "c", ",", " ", "1", "2", "=", "\n", "k", "v" }
    local t = {}
    for i = 1, math.random(0, 12) do t[i] = alpha[math.random(#alpha)] end
    return table.concat(t)
  end
  local function rnd_pattern()
    local atoms = { "a", "b", "c", ".", "\\d", "\\w", "[ab]", "[^,]", ",", " ", "(a)", "(b|c)", "(?<g>a)" }
    local quant = { "", "", "", "*", "+", "?", "*?", "{1,2}" }
    local t = {}
    for i = 1, math.random(1, 4) do t[i] = atoms[math.random(#atoms)] .. quant[math.random(#quant)] end
    if math.random() < 0.2 then t[1] = "^" .. t[1] end
    if math.random() < 0.2 then t[#t] = t[#t] .. "$" end
    return table.concat(t)
  end

  local pats, subs = {}, {}
  for _, p in ipairs(PATTERNS) do pats[#pats + 1] = p end
  for _ = 1, 40 do pats[#pats + 1] = rnd_pattern() end
  for _, s in ipairs(SUBJECTS) do subs[#subs + 1] = s end
  for _ = 1, 12 do subs[#subs + 1] = rnd_subject() end

  describe("against rex_pcre2 " .. oracle.version(), function()
    it("find, match and count agree (string patterns, init, cf)", function()
      for _, p in ipairs(pats) do
        for _, s in ipairs(subs) do
          local desc = ("pattern %q subject %q"):format(p, s)
          same(desc, function(L) return L.find(s, p) end)
          same(desc, function(L) return L.match(s, p) end)
          same(desc, function(L) return L.count(s, p) end)
          for _, init in ipairs { 2, -1, -3, 0, #s + 1, #s + 2 } do
            same(desc .. " init " .. init, function(L) return L.find(s, p, init) end)
          end
          same(desc .. " cf i", function(L) return L.match(s, p, 1, "i") end)
        end
      end
    end)

    it("gmatch and split agree", function()
      for _, p in ipairs(pats) do
        for _, s in ipairs(subs) do
          local desc = ("pattern %q subject %q"):format(p, s)
          same(desc, function(L) return collect(L.gmatch(s, p)) end)
          same(desc, function(L) return collect(L.split(s, p)) end)
        end
      end
    end)

    it("gsub agrees for string, table and function replacements and n", function()
      local tbl = { a = "A", b = false, ["1"] = "one" }
      local function fn(a, b) if a == "b" then return nil end return "<" .. tostring(a) .. tostring(b) .. ">" end
      for _, p in ipairs(pats) do
        for _, s in ipairs(subs) do
          local desc = ("pattern %q subject %q"):format(p, s)
          same(desc, function(L) return L.gsub(s, p, "[%0]") end)
          same(desc, function(L) return L.gsub(s, p, "%1-%%-%x%") end)
          same(desc, function(L) return L.gsub(s, p, tbl) end)
          same(desc, function(L) return L.gsub(s, p, fn) end)
          same(desc, function(L) return L.gsub(s, p, "X", 1) end)
          same(desc, function(L) return L.gsub(s, p, "X", -1) end)
        end
      end
    end)

    it("gsub's control-function form of n agrees", function()
      local ctls = {
        function(from, to, r) return true, false end,
        function(from, to, r) return false, 1 end,
        function(from, to, r) return "R" .. from .. "-" .. to, from > 3 end,
        function(from, to, r) return r == "X", nil end,
        function(from, to, r) return 12, true end,
      }
      for _, p in ipairs { "a", "a*", "(b)|(c)", "" } do
        for _, s in ipairs { "abcabc", "baaac", "" } do
          for ci, ctl in ipairs(ctls) do
            local desc = ("pattern %q subject %q ctl %d"):format(p, s, ci)
            local log = {}
            local function logged(L)
              local t = {}
              local res = pack(L.gsub(s, p, "X", function(...) t[#t + 1] = { ... }; return ctl(...) end))
              res.log = t
              return res
            end
            same(desc, logged)
            same(desc .. " fn", function(L)
              return L.gsub(s, p, function(x) return x and x:upper() end, ctl)
            end)
            same(desc .. " tbl", function(L) return L.gsub(s, p, { a = "Q" }, ctl) end)
            log = nil
          end
        end
      end
    end)

    it("methods agree: exec, tfind, find, match, dfa_exec, patterninfo", function()
      for _, p in ipairs(pats) do
        local ok1, r1 = pcall(oracle.new, p)
        local ok2, r2 = pcall(rex.new, p)
        assert.equal(ok1, ok2, p)
        if ok1 then
          local info1, info2 = r1:patterninfo(), r2:patterninfo()
          info1.JITSIZE, info2.JITSIZE = nil, nil -- ours is JIT-compiled already
          info1.SIZE, info2.SIZE = nil, nil
          assert.same(info1, info2, p)
          for _, s in ipairs(subs) do
            local desc = ("pattern %q subject %q"):format(p, s)
            for _, m in ipairs { "exec", "tfind", "find", "match" } do
              local a = run(function() return r1[m](r1, s) end)
              local b = run(function() return r2[m](r2, s) end)
              assert.same(a, b, desc .. " " .. m)
              a = run(function() return r1[m](r1, s, 2, oracle.flags().NOTBOL) end)
              b = run(function() return r2[m](r2, s, 2, rex.flags().NOTBOL) end)
              assert.same(a, b, desc .. " " .. m .. " NOTBOL")
            end
            -- a fresh oracle object: lrexlib's dfa_exec swaps the object's
            -- match data and leaves its ovector pointer stale for later calls
            local d1 = oracle.new(p)
            assert.same(run(function() return d1:dfa_exec(s) end),
              run(function() return r2:dfa_exec(s) end), desc .. " dfa_exec")
          end
        end
      end
    end)

    it("cf (number or string) and ef agree on every function", function()
      local F = oracle.flags()
      local cfs = { F.CASELESS, F.CASELESS + F.MULTILINE, "im", "sx", "U", "iq?" }
      for _, p in ipairs { "^a", "b$", "a.b", "a b", "a+", "(?<n>A)|b" } do
        for _, s in ipairs { "A\nb", "a\nb", "xab\nAaB", "" } do
          for _, cf in ipairs(cfs) do
            local desc = ("pattern %q subject %q cf %s"):format(p, s, tostring(cf))
            same(desc, function(L) return L.find(s, p, 1, cf, F.NOTBOL) end)
            same(desc, function(L) return L.match(s, p, 2, cf, 0) end)
            same(desc, function(L) return collect(L.gmatch(s, p, cf, F.NOTEOL)) end)
            same(desc, function(L) return collect(L.split(s, p, cf)) end)
            same(desc, function(L) return L.count(s, p, cf, F.NOTBOL) end)
            same(desc, function(L) return L.gsub(s, p, "<%0>", nil, cf, F.NOTEMPTY) end)
            same(desc, function(L) local r = L.new(p, cf); return r:tfind(s) end)
          end
        end
      end
      same("bad cf", function(L) return L.find("a", "a", 1, {}) end)
    end)

    it("compiled objects work as patterns of the functions", function()
      local r1, r2 = oracle.new("(\\w)(\\d)?"), rex.new("(\\w)(\\d)?")
      for _, s in ipairs(subs) do
        assert.same(run(function() return oracle.find(s, r1) end), run(function() return rex.find(s, r2) end))
        assert.same(run(function() return oracle.gsub(s, r1, "%2%1") end), run(function() return rex.gsub(s, r2, "%2%1") end))
      end
    end)

    it("errors agree", function()
      same("bad pattern", function(L) return L.find("a", "a(") end)
      same("bad pattern", function(L) return L.new("[z-a]") end)
      same("bad capture index", function(L) return L.gsub("a", "(a)", "%2") end)
      same("bad repl", function(L) return L.gsub("a", "a", true) end)
      same("bad repl value", function(L) return L.gsub("a", "a", function() return {} end) end)
      same("bad n", function(L) return L.gsub("a", "a", "b", {}) end)
      same("match limit", function(L) return L.find(("a"):rep(40) .. "!", "(a+)+$") end)
      same("UTF-8 error", function(L) return L.find("\255", "a", 1, L.flags().UTF) end)
    end)
  end)
end)

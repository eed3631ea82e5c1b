-- fastmatch's regex API: compiled PCRE2 objects (JIT by default), their
-- methods, the module-level functions with their transparent LRU cache,
-- errors and limits.  Positions are 1-based like Lua's string library.
local C = require "spec.compat"
local fm = require "fastmatch"

local function pack(...) return { n = select("#", ...), ... } end

describe("fm.compile", function()
  it("returns a regex object whose pattern and options read back", function()
    local re = fm.compile("(\\d+)-(\\d+)", "i")
    assert.equal("(\\d+)-(\\d+)", re.pattern)
    assert.equal("i", re.options)
    assert.equal("", fm.compile("x").options)
  end)

  it("is JIT-compiled where PCRE2 has a JIT", function()
    assert.is_boolean(fm.compile("a+b"):info().jit)
    assert.is_true(fm.compile("a+b"):info().jit)
  end)

  it("has a JIT stack big enough for deep patterns (PCRE2's default 32 KiB is not)", function()
    local s = ("ab"):rep(20000)
    assert.same({ 1, 40000, "b", n = 3 }, pack(fm.find(s, "^(a|b)*$")))
  end)

  it("accepts each option letter imsxuUaD", function()
    assert.is_true(fm.compile("abc", "i"):test("xABCx"))
    assert.is_false(fm.compile("abc"):test("xABCx"))
    assert.is_true(fm.compile("^b$", "m"):test("a\nb\nc"))
    assert.is_false(fm.compile("^b$"):test("a\nb\nc"))
    assert.is_true(fm.compile("a.b", "s"):test("a\nb"))
    assert.is_false(fm.compile("a.b"):test("a\nb"))
    assert.is_true(fm.compile("a b # comment", "x"):test("ab"))
    assert.equal("é", fm.compile(".", "u"):match("é"))
    assert.equal("\195", fm.compile("."):match("é"))
    assert.equal("a", fm.compile("a+", "U"):match("aaa"))
    assert.is_nil(fm.compile("b", "a"):find("ab"))
    assert.equal(2, (fm.compile("b", "a"):find("ab", 2)))
    assert.same({ false, "y", n = 2 }, pack(fm.compile("(?<n>x)|(?<n>y)", "D"):match("y")))
    assert.has_error(function() fm.compile("(?<n>x)|(?<n>y)") end)
  end)

  it("raises on an unknown option letter, naming it", function()
    local ok, err = pcall(fm.compile, "a", "iz")
    assert.is_false(ok)
    assert.matches("bad argument #2", err, 1, true)
    assert.matches("'z'", err, 1, true)
  end)

  it("raises on a bad pattern with offset, PCRE2's message and the pattern", function()
    local ok, err = pcall(fm.compile, "ab(c")
    assert.is_false(ok)
    assert.equal("fastmatch: bad pattern at offset 4: missing closing parenthesis: ab(c", err:match("fastmatch:.*"))
  end)

  it("cuts a long bad pattern to 60 bytes in the message", function()
    local p = ("x"):rep(100) .. "("
    local ok, err = pcall(fm.compile, p)
    assert.is_false(ok)
    assert.equal("fastmatch: bad pattern at offset 101: missing closing parenthesis: " .. ("x"):rep(60),
      err:match("fastmatch:.*"))
  end)

  it("raises on invalid UTF-8 in a pattern compiled with u, naming the offset", function()
    local ok, err = pcall(fm.compile, "ab\255c", "u")
    assert.is_false(ok)
    assert.matches("fastmatch: bad pattern at offset 2: ", err, 1, true)
  end)

  it("accepts any bytes without u", function()
    assert.is_true(fm.compile("ab\255c"):test("xxab\255c"))
  end)
end)

describe("re:test", function()
  it("returns true or false", function()
    local re = fm.compile("b+")
    assert.is_true(re:test("abbc"))
    assert.is_false(re:test("ac"))
  end)
  it("honours init", function()
    local re = fm.compile("a")
    assert.is_false(re:test("ab", 2))
    assert.is_true(re:test("ab", -2))
  end)
end)

describe("re:find", function()
  local re = fm.compile("(\\d+)-(\\d+)")
  it("returns start, end and the captures", function()
    assert.same({ 3, 7, "12", "34", n = 4 }, pack(re:find("x 12-34 y")))
  end)
  it("returns start and end only for a pattern without groups", function()
    assert.same({ 2, 3, n = 2 }, pack(fm.compile("bc"):find("abcd")))
  end)
  it("returns nil when there is no match", function()
    assert.same({ n = 1 }, pack(re:find("nothing")))
  end)
  it("raises when called on something that is not a fastmatch regex", function()
    assert.has_error(function() re.find("x", "x") end)
    assert.has_error(function() re.find({}, "x") end)
    assert.has_error(function() re.find(io.stdout, "x") end)
    assert.has_error(function() re.find(require("fastmatch.rex").new("x"), "x") end)
  end)
  it("starts at a positive init", function()
    assert.same({ 4, 4, n = 2 }, pack(fm.compile("a"):find("abcab", 2)))
  end)
  it("counts a negative init from the end, as string.find", function()
    assert.same({ 5, 5, n = 2 }, pack(fm.compile("b"):find("abcab", -1)))
    assert.same({ 2, 2, n = 2 }, pack(fm.compile("b"):find("abcab", -100)))
  end)
  it("treats init 0 as 1", function()
    assert.equal(1, (fm.compile("a"):find("abc", 0)))
  end)
  it("finds an empty match at len+1 and nothing past it", function()
    assert.same({ 4, 3, n = 2 }, pack(fm.compile(""):find("abc", 4)))
    assert.is_nil(fm.compile(""):find("abc", 5))
    assert.is_nil(fm.compile("x*"):find("abc", 10))
  end)
  it("returns false for a group that did not take part", function()
    assert.same({ 1, 1, false, "b", n = 4 }, pack(fm.compile("(a)?(b)"):find("b")))
  end)
  it("agrees with string.find on simple literal patterns", function()
    local s = "the quick brown fox jumps over the lazy dog"
    for _, p in ipairs { "the", "fox", "dog", "o", "z", " ", "lazy dog" } do
      for init = -5, 45, 5 do
        assert.same(pack(string.find(s, p, init, true)), pack(fm.compile(p):find(s, init)))
      end
    end
  end)
end)

describe("re:match", function()
  it("returns the captures", function()
    assert.same({ "k", "v", n = 2 }, pack(fm.compile("(\\w)=(\\w)"):match("k=v")))
  end)
  it("returns the whole match when the pattern has no groups", function()
    assert.same({ "123", n = 1 }, pack(fm.compile("\\d+"):match("ab123cd")))
  end)
  it("returns nil when there is no match", function()
    assert.is_nil(fm.compile("\\d"):match("abc"))
  end)
  it("honours init", function()
    assert.equal("c", fm.compile("[a-z]"):match("abc", 3))
  end)
end)

describe("re:exec", function()
  it("returns start, end and a table of numbered and named captures", function()
    local s, e, t = fm.compile("(?<key>\\w+)=(?<val>\\w+)?(x)?"):exec("a k=v;")
    assert.equal(3, s)
    assert.equal(5, e)
    assert.same({ "k", "v", false, key = "k", val = "v" }, t)
  end)
  it("marks an unset named group false", function()
    local _, _, t = fm.compile("(?<a>x)|(?<b>y)"):exec("y")
    assert.same({ false, "y", a = false, b = "y" }, t)
  end)
  it("with D, gives a duplicate name the group that matched", function()
    local re = fm.compile("(?<n>a)|(?<n>b)", "D")
    local _, _, t = re:exec("b")
    assert.equal("b", t.n)
    _, _, t = re:exec("a")
    assert.equal("a", t.n)
  end)
  it("returns nil when there is no match", function()
    assert.is_nil(fm.compile("x"):exec("abc"))
  end)
end)

describe("re:gmatch", function()
  local function all(re, s, init)
    local out = {}
    for a, b in re:gmatch(s, init) do out[#out + 1] = b and (a .. "|" .. tostring(b)) or a end
    return out
  end
  it("iterates over whole matches", function()
    assert.same({ "one", "two", "three" }, all(fm.compile("\\w+"), "one two  three"))
    local out = {}
    for w in fm.compile("\\d"):gmatch("a1b2") do out[#out + 1] = w end -- no init argument
    assert.same({ "1", "2" }, out)
  end)
  it("iterates over captures", function()
    assert.same({ "a|1", "b|2" }, all(fm.compile("(\\w)=(\\d)"), "a=1, b=2"))
  end)
  it("follows Lua 5.4's empty-match rule", function()
    local function lua(s, p)
      local out = {}
      for m in s:gmatch(p) do out[#out + 1] = m end
      return out
    end
    if C.num < 5.3 then -- string.gmatch's own rule is older there: 5.4's answers
      C.skip("string.gmatch has 5.4's empty-match rule from 5.3 on: comparing with 5.4's answers")
      lua = function(s, p)
        return ({ ["baaac a*"] = { "", "aaa", "" }, ["abc x*"] = { "", "", "", "" },
                  [" x*"] = { "" }, ["a,b,,c [^,]*"] = { "a", "b", "", "c" } })[s .. " " .. p]
      end
    end
    assert.same(lua("baaac", "a*"), all(fm.compile("a*"), "baaac"))
    assert.same(lua("abc", "x*"), all(fm.compile("x*"), "abc"))
    assert.same(lua("", "x*"), all(fm.compile("x*"), ""))
    assert.same(lua("a,b,,c", "[^,]*"), all(fm.compile("[^,]*"), "a,b,,c"))
  end)
  it("starts at init", function()
    assert.same({ "c", "d" }, all(fm.compile("\\w"), "abcd", 3))
    assert.same({ "d" }, all(fm.compile("\\w"), "abcd", -1))
    assert.same({}, all(fm.compile("\\w*"), "abcd", 6))
  end)
  it("steps over whole UTF-8 characters after an empty match with u", function()
    assert.same({ "", "", "" }, all(fm.compile("x*", "u"), "éa"))
  end)
end)

describe("re:gsub", function()
  it("expands %0-%9 and %% in a string replacement", function()
    assert.same({ "<k:v> 100%", 1, 1, n = 3 },
      pack(fm.compile("(\\w)=(\\w)"):gsub("k=v 100%", "<%1:%2>", nil)))
    assert.same({ "[ab][cd]", 2, 2, n = 3 }, pack(fm.compile("\\w\\w"):gsub("abcd", "[%0]")))
    assert.equal("a%b", (fm.compile("-"):gsub("a-b", "%%")))
  end)
  it("expands %{name} and %{N}", function()
    assert.equal("v=k", (fm.compile("(?<k>\\w)=(?<v>\\w)"):gsub("k=v", "%{v}=%{k}")))
    assert.equal("b", (fm.compile("(a)(b)"):gsub("ab", "%{2}")))
  end)
  it("treats %1 as the whole match when the pattern has no groups", function()
    assert.equal("<ab>", (fm.compile("ab"):gsub("ab", "<%1>")))
  end)
  it("expands an unset group to nothing", function()
    assert.equal("[]", (fm.compile("(x)?y"):gsub("y", "[%1]")))
  end)
  it("raises on a bad template", function()
    assert.has_error(function() fm.compile("a"):gsub("a", "%z") end)
    assert.has_error(function() fm.compile("a"):gsub("a", "50%") end)
    assert.has_error(function() fm.compile("(a)"):gsub("a", "%2") end)
    assert.has_error(function() fm.compile("(a)"):gsub("a", "%{nope}") end)
  end)
  it("looks the first capture up in a table replacement", function()
    assert.same({ "X-b-X", 3, 2, n = 3 }, pack(fm.compile("\\w"):gsub("a-b-a", { a = "X" })))
  end)
  it("calls a function replacement with the captures", function()
    assert.equal("3x4", (fm.compile("(\\d)\\+(\\d)"):gsub("1+2x2+2", function(a, b)
      return tostring(tonumber(a) + tonumber(b)) -- "1" + "2" is 3.0 on 5.3
    end)))
  end)
  it("keeps the match when a table or function gives false or nil", function()
    assert.same({ "abc", 3, 0, n = 3 }, pack(fm.compile("\\w"):gsub("abc", function() return nil end)))
    assert.same({ "abc", 3, 0, n = 3 }, pack(fm.compile("\\w"):gsub("abc", { a = false })))
  end)
  it("raises on a replacement value that is not a string", function()
    assert.has_error(function() fm.compile("a"):gsub("a", function() return {} end) end)
  end)
  it("stops after n matches", function()
    assert.same({ "XXa", 2, 2, n = 3 }, pack(fm.compile("a"):gsub("aaa", "X", 2)))
    assert.same({ "aaa", 0, 0, n = 3 }, pack(fm.compile("a"):gsub("aaa", "X", 0)))
    assert.same({ "aaa", 0, 0, n = 3 }, pack(fm.compile("a"):gsub("aaa", "X", -1)))
  end)
  it("follows Lua 5.4's rules for empty matches", function()
    local gsub = string.gsub
    if C.num < 5.3 then -- string.gsub's own rule is older there: 5.4's answers
      C.skip("string.gsub has 5.4's empty-match rule from 5.3 on: comparing with 5.4's answers")
      gsub = function(s, p)
        local t = ({ ["baaac a*"] = { "-b-c-", 3 }, ["abc x*"] = { "-a-b-c-", 4 }, [" x*"] = { "-", 1 },
                     ["abc "] = { "-a-b-c-", 4 } })[s .. " " .. p]
        return t[1], t[2]
      end
    end
    for _, c in ipairs { { "baaac", "a*" }, { "abc", "x*" }, { "", "x*" }, { "abc", "" } } do
      local want, wn = gsub(c[1], c[2], "-")
      local got, gn = fm.compile(c[2]):gsub(c[1], "-")
      assert.equal(want, got)
      assert.equal(wn, gn)
    end
  end)
  it("may call the same regex from a replacement function", function()
    local re = fm.compile("(\\w+)")
    local out = re:gsub("ab cd", function(w) return re:match(w .. "!") .. "?" end)
    assert.equal("ab? cd?", out)
  end)
end)

describe("re:split", function()
  local function all(re, s, max)
    local out = {}
    for p in re:split(s, max) do out[#out + 1] = p end
    return out
  end
  it("works without a max argument", function()
    local out = {}
    for p in fm.compile(","):split("x,y") do out[#out + 1] = p end
    assert.same({ "x", "y" }, out)
  end)
  it("yields the pieces between matches", function()
    assert.same({ "a", "b", "", "c" }, all(fm.compile(","), "a,b,,c"))
    assert.same({ "a", "b", "" }, all(fm.compile(","), "a,b,"))
    assert.same({ "abc" }, all(fm.compile(","), "abc"))
    assert.same({ "" }, all(fm.compile(","), ""))
  end)
  it("does not split at an empty match at the start or the end", function()
    assert.same({ "a", "b", "c" }, all(fm.compile(""), "abc"))
    assert.same({ "a", "b" }, all(fm.compile("\\s*"), "a b"))
  end)
  it("yields at most max pieces, the last holding the rest", function()
    assert.same({ "a", "b,c" }, all(fm.compile(","), "a,b,c", 2))
    assert.same({ "a,b,c" }, all(fm.compile(","), "a,b,c", 1))
  end)
end)

describe("re:count", function()
  it("counts the matches gmatch would give", function()
    assert.equal(3, fm.compile("a"):count("banana"))
    assert.equal(0, fm.compile("x"):count("banana"))
    assert.equal(3, fm.compile("a*"):count("baaac"))
  end)
end)

describe("re:info", function()
  it("reports captures, names, jit, literal and minlength", function()
    local i = fm.compile("(?<y>\\d{4})-(?<m>\\d\\d)-(\\d\\d)"):info()
    assert.equal(3, i.captures)
    assert.same({ "m", "y" }, i.names)
    assert.equal(10, i.minlength)
    assert.is_false(i.literal)
  end)
  it("marks metacharacter-free patterns as literal, cased or caseless (not u, x, a)", function()
    assert.is_true(fm.compile("GET /index.html"):info().literal == false)
    assert.is_true(fm.compile("GET /index"):info().literal)
    assert.is_true(fm.compile("get /index", "i"):info().literal)
    assert.is_false(fm.compile("get /index", "iu"):info().literal)
    assert.is_false(fm.compile("get /index", "x"):info().literal)
    assert.is_false(fm.compile("a+"):info().literal)
  end)
end)

describe("the literal fast path", function()
  it("gives the same results as PCRE2", function()
    local s = "xx needle yy needle\0zz needle"
    local lit = fm.compile("needle")
    local re = fm.compile("needl(?:e)")
    assert.is_true(lit:info().literal)
    assert.is_false(re:info().literal)
    for init = -35, 35 do
      assert.same(pack(re:find(s, init)), pack(lit:find(s, init)))
      assert.same(pack(re:find(s, init)), pack(fm.find(s, "needle", init)))
      assert.same(pack(fm.compile(""):find(s, init)), pack(fm.find(s, "", init)))
      assert.same(pack(string.find(s, "needle", init, true)), pack(fm.find(s, "needle", init)))
    end
    assert.same(pack(re:gsub(s, "N")), pack(lit:gsub(s, "N")))
    assert.equal(re:count(s), lit:count(s))
  end)
  it("finds caseless literals exactly where PCRE2 does (ASCII folding only)", function()
    local seed = 4242
    math.randomseed(seed)
    local alpha = { "a", "A", "b", "B", "\0", "\196", "\228", "-", "Z", "z" }
    local function rnd(n)
      local t = {}
      for i = 1, n do t[i] = alpha[math.random(#alpha)] end
      return table.concat(t)
    end
    for _ = 1, 2000 do
      local pat, subj = rnd(math.random(1, 4)), rnd(math.random(0, 40))
      local lit = fm.compile(pat, "i")
      local re = fm.compile("(?:" .. pat:gsub("%z", "\\x00") .. ")", "i")
      assert.is_true(lit:info().literal)
      assert.is_false(re:info().literal)
      for _, init in ipairs { 1, 3, -5 } do
        assert.same(pack(re:find(subj, init)), pack(lit:find(subj, init)),
          ("seed %d: %q in %q at %d"):format(seed, pat, subj, init))
      end
      assert.equal(re:count(subj), lit:count(subj))
      assert.same(pack(re:find(subj)), pack(fm.find(subj, pat, 1, "i")))
    end
  end)
  it("handles NUL bytes in pattern and subject", function()
    local re = fm.compile("a\0b")
    assert.is_true(re:info().literal)
    assert.same({ 3, 5, n = 2 }, pack(re:find("xxa\0b")))
    assert.is_nil(re:find("xxa\0c"))
  end)
end)

describe("NUL bytes", function()
  it("work in patterns and subjects", function()
    assert.same({ 2, 4, "\0", n = 3 }, pack(fm.compile("a(\\x00)b"):find("za\0b")))
    assert.equal("\0\0", fm.compile("\\x00+"):match("a\0\0b"))
    assert.equal("a-b", (fm.gsub("a\0b", "\0", "-")))
  end)
end)

describe("UTF-8 with u", function()
  it("matches characters, not bytes", function()
    assert.same({ 1, 2, n = 2 }, pack(fm.compile("^.$", "u"):find("é")))
    assert.is_true(fm.compile("^\\w$", "u"):test("é"))
  end)
  it("raises on invalid UTF-8 in the subject, naming the byte offset", function()
    local ok, err = pcall(fm.find, "ab\255c", "b", 1, "u")
    assert.is_false(ok)
    assert.matches("fastmatch: invalid UTF-8 in subject at byte offset 2", err, 1, true)
    assert.has_error(function() fm.compile("x", "u"):gmatch("\195") end)
  end)
end)

describe("fm.find, fm.match, fm.test, fm.exec", function()
  it("give the same results as the methods, with a string or an object", function()
    local p = "(\\w+)@(\\w+)"
    local re = fm.compile(p)
    local s = "mail bob@example now"
    assert.same(pack(re:find(s)), pack(fm.find(s, p)))
    assert.same(pack(re:find(s)), pack(fm.find(s, re)))
    assert.same(pack(re:match(s, 7)), pack(fm.match(s, p, 7)))
    assert.same(pack(re:test(s)), pack(fm.test(s, p)))
    assert.same(pack(re:exec(s)), pack(fm.exec(s, p)))
  end)
  it("take options after init", function()
    assert.same({ 2, 2, n = 2 }, pack(fm.find("aA", "a", 2, "i")))
    assert.is_nil(fm.find("aA", "a", 2))
  end)
  it("take a number as subject or pattern, as string.find does", function()
    assert.same(pack(string.find(12345, 34)), pack(fm.find(12345, 34)))
    assert.same(pack(string.find(12345, "3")), pack(fm.find(12345, "3")))
    assert.equal("23", fm.match(1234, "2\\d"))
    assert.is_true(fm.test(2.5, "\\.5"))
  end)
  it("reject a subject or pattern that is neither string nor number", function()
    assert.has_error(function() fm.find({}, "1") end)
    assert.has_error(function() fm.find(true, "1") end)
    assert.has_error(function() fm.find("x", {}) end)
    assert.has_error(function() fm.find("x", false) end)
  end)
end)

describe("fm.gmatch, fm.gsub, fm.split, fm.count", function()
  it("give the same results as the methods", function()
    local out = {}
    for w in fm.gmatch("a1b2", "\\d") do out[#out + 1] = w end
    assert.same({ "1", "2" }, out)
    out = {}
    for w in fm.gmatch("a1b2", "\\d", 3) do out[#out + 1] = w end
    assert.same({ "2" }, out)
    out = {}
    for w in fm.gmatch("aAa", "a", 1, "i") do out[#out + 1] = w end
    assert.same({ "a", "A", "a" }, out)
    assert.same({ "x-y-z", 2, 2, n = 3 }, pack(fm.gsub("x y z", " ", "-")))
    assert.same({ "x-y z", 1, 1, n = 3 }, pack(fm.gsub("x y z", " ", "-", 1)))
    assert.same({ "x-y-z", 2, 2, n = 3 }, pack(fm.gsub("xAyaz", "a", "-", nil, "i")))
    out = {}
    for p in fm.split("a1b22c", "\\d+") do out[#out + 1] = p end
    assert.same({ "a", "b", "c" }, out)
    assert.equal(2, fm.count("a1b22c", "\\d+"))
    assert.equal(2, fm.count("aA", "a", "i"))
  end)
end)

describe("the pattern cache", function()
  before_each(function()
    fm.cache_size(0)
    fm.cache_size(1024)
  end)

  it("starts with capacity 1024", function()
    assert.equal(1024, fm.cache_stats().capacity)
  end)

  it("counts as an LRU model predicts, over generated calls of both faces and capacity changes", function()
    local rex = require "fastmatch.rex"
    math.randomseed(20261125)
    local cap = 5
    fm.cache_size(0)
    fm.cache_size(cap)
    local st0 = fm.cache_stats()
    local lru, hits, misses, evictions = {}, st0.hits, st0.misses, st0.evictions
    local function touch(key) -- a lookup: hit moves to the front, miss inserts
      for i, k in ipairs(lru) do
        if k == key then
          table.insert(lru, 1, table.remove(lru, i))
          hits = hits + 1
          return
        end
      end
      misses = misses + 1
      if cap > 0 then table.insert(lru, 1, key) end
      while #lru > cap do table.remove(lru); evictions = evictions + 1 end
    end
    local PATS = { "m-a", "m-b+", "m-(c)", "m-d|e", "m-x*", "lit" }
    local s = "m-a m-bb m-c lit"
    for step = 1, 2000 do
      local p, o = PATS[math.random(#PATS)], ({ nil, "", "i", "m" })[math.random(4)]
      local key = "fm" .. p .. "\0" .. (o or "") -- nil and "" options share an entry
      local k = math.random(10)
      if k == 1 then fm.find(s, p); touch("fm" .. p .. "\0")
      elseif k == 2 then fm.test(s, p, nil, o); touch(key)
      elseif k == 3 then fm.gsub(s, p, "x", nil, o); touch(key)
      elseif k == 4 then for _ in fm.gmatch(s, p, 1, o) do end; touch(key)
      elseif k == 5 then fm.count(s, p, o); touch(key)
      elseif k == 6 then for _ in fm.split(s, p, nil, o) do end; touch(key)
      elseif k == 7 then -- the rex face shares the cache, keyed by cf
        local cf = ({ nil, 0, "i", 8 })[math.random(4)]
        rex.find(s, p, 1, cf)
        touch("rex" .. p .. "\0" .. ((cf == "i" or cf == 8) and 8 or 0))
      elseif k == 8 then fm.compile(p, o) -- compile never looks the cache up
      elseif k == 9 then fm.exec(s, p); touch("fm" .. p .. "\0")
      else
        cap = math.random(0, 6)
        fm.cache_size(cap)
        while #lru > cap do table.remove(lru); evictions = evictions + 1 end
      end
      assert.same({ size = #lru, capacity = cap, hits = hits, misses = misses, evictions = evictions },
        fm.cache_stats(), "step " .. step)
    end
  end)

  it("counts hits and misses", function()
    local st0 = fm.cache_stats()
    fm.find("abc", "spec-cache-b")
    fm.find("abc", "spec-cache-b")
    fm.test("abc", "spec-cache-b")
    fm.find("abc", "spec-cache-b", 1, "i") -- different options: another entry
    local st = fm.cache_stats()
    assert.equal(st0.misses + 2, st.misses)
    assert.equal(st0.hits + 2, st.hits)
    assert.equal(st0.size + 2, st.size)
  end)

  it("evicts the least recently used entry when full", function()
    fm.cache_size(2)
    local e0 = fm.cache_stats().evictions
    fm.test("x", "p1")
    fm.test("x", "p2")
    fm.test("x", "p1") -- p1 is now the most recent
    fm.test("x", "p3") -- evicts p2
    local st = fm.cache_stats()
    assert.equal(2, st.size)
    assert.equal(e0 + 1, st.evictions)
    local h = st.hits
    fm.test("x", "p1") -- still cached
    assert.equal(h + 1, fm.cache_stats().hits)
    local m = fm.cache_stats().misses
    fm.test("x", "p2") -- was evicted
    assert.equal(m + 1, fm.cache_stats().misses)
  end)

  it("shrinks when the capacity is lowered", function()
    for i = 1, 10 do fm.test("x", "shrink" .. i) end
    fm.cache_size(3)
    assert.equal(3, fm.cache_stats().size)
    assert.equal(3, fm.cache_size())
  end)

  it("is disabled by capacity 0 and still gives right answers", function()
    fm.cache_size(0)
    assert.equal(0, fm.cache_stats().size)
    assert.equal(2, (fm.find("abc", "b")))
    assert.equal(0, fm.cache_stats().size)
  end)

  it("never answers with an evicted pattern whose string's memory was reused", function()
    -- fm.find's front door is keyed by the address of the pattern string:
    -- with a tiny cache and the collector running, freed pattern strings'
    -- addresses come back for new patterns; every answer must stay right.
    fm.cache_size(3)
    for i = 1, 3000 do
      local p = "k" .. i .. "z"
      local s = "xx" .. p .. "yy"
      assert.same({ 3, 2 + #p, n = 2 }, pack(fm.find(s, p)), p)
      assert.is_nil(fm.find("xxk" .. (i + 1) .. "zyy", p), p)
      assert.equal(p, fm.match(s, p))
      assert.is_true(fm.test(s, "^xx" .. p))
      if i % 97 == 0 then collectgarbage() end
    end
  end)

  it("never answers with an evicted pattern or options string whose memory was reused", function()
    -- with options the front door is keyed by both addresses
    fm.cache_size(3)
    for i = 1, 3000 do
      local p, o = "K" .. i .. "z", ({ "i", "m", "im", "s" .. ("x"):rep(i % 3) })[i % 4 + 1]
      local s = "xx" .. p:lower() .. "yy"
      local want = o:find("i") and { 3, 2 + #p, n = 2 } or { n = 1 }
      assert.same(want, pack(fm.find(s, p, 1, o)), p .. " " .. o)
      assert.same(want, pack(fm.find(s, p, nil, o)), p .. " " .. o)
      assert.equal(o:find("i") ~= nil, fm.test(s, "^xx" .. p, 1, o))
      assert.same(pack(fm.compile(p, o):find(s, 2)), pack(fm.find(s, p, 2, o)))
      assert.same(pack(fm.compile(p, o):match(s, -4)), pack(fm.match(s, p, -4, o)))
      if i % 97 == 0 then collectgarbage() end
    end
  end)

  it("finds long patterns (not interned by Lua) through the cache", function()
    local a = ("long-pattern-"):rep(5) .. "end"
    local b = ("long-pattern-"):rep(5) .. ("end"):sub(1, 3) -- equal, another object
    local s = "<" .. a .. ">"
    assert.same({ 2, 1 + #a, n = 2 }, pack(fm.find(s, a)))
    local h = fm.cache_stats().hits
    assert.same({ 2, 1 + #a, n = 2 }, pack(fm.find(s, b)))
    assert.same({ 2, 1 + #a, n = 2 }, pack(fm.find(s, a)))
    assert.equal(h + 2, fm.cache_stats().hits)
    assert.equal(1, fm.cache_stats().size)
  end)

  it("counts a hit for every call that found its pattern cached", function()
    fm.find("abc", "hit-me")
    local h = fm.cache_stats().hits
    for _ = 1, 10 do fm.find("abc", "hit-me") end
    fm.match("abc", "hit-me"); fm.test("abc", "hit-me"); fm.exec("abc", "hit-me")
    assert.equal(h + 13, fm.cache_stats().hits)
  end)

  it("keeps a pattern evicted during gmatch working", function()
    fm.cache_size(1)
    local out = {}
    for w in fm.gmatch("a1 b2 c3", "(\\w)\\d") do
      out[#out + 1] = w
      fm.test("x", "evictor" .. #out) -- evicts the gmatch pattern
      collectgarbage()
      collectgarbage()
    end
    assert.same({ "a", "b", "c" }, out)
    assert.is_true(fm.cache_stats().evictions >= 3)
  end)

  it("keeps a pattern evicted during gsub working", function()
    fm.cache_size(1)
    local out = fm.gsub("a1 b2", "(\\w)(\\d)", function(a, d)
      fm.test("x", "evict-" .. a)
      collectgarbage()
      return d .. a
    end)
    assert.equal("1a 2b", out)
  end)
end)

describe("fm.limits", function()
  local saved
  before_each(function() saved = fm.limits() end)
  after_each(function() fm.limits(saved) end)

  it("reads the limits", function()
    local l = fm.limits()
    assert.is_number(l.match)
    assert.is_number(l.depth)
    assert.is_number(l.heap)
  end)

  it("stops catastrophic backtracking with a clear error", function()
    local s = ("a"):rep(30) .. "!"
    local ok, err = pcall(fm.find, s, "(a+)+$")
    assert.is_false(ok)
    assert.equal("fastmatch: match limit exceeded", err) -- the issue's words, exactly
    ok, err = pcall(function() return fm.compile("(a+)+$"):test(s) end)
    assert.equal("fastmatch: match limit exceeded", (err:gsub("^.-:%d+: ", "")))
  end)

  it("sets the match limit", function()
    fm.limits { match = 10 }
    assert.equal(10, fm.limits().match)
    assert.has_error(function() fm.find(("a"):rep(20) .. "!", "(a+)+$") end,
      nil)
    fm.limits { match = saved.match }
    assert.equal(saved.match, fm.limits().match)
  end)

  it("rejects a bad value", function()
    assert.has_error(function() fm.limits { match = 0 } end)
    assert.has_error(function() fm.limits { depth = "x" } end)
  end)
end)

describe("large subjects", function()
  it("work past 2 GiB (size_t offsets)", function()
    local mem = io.open("/proc/meminfo")
    local avail = 0
    if mem then
      local t = mem:read("*a")
      mem:close()
      avail = tonumber(t:match("MemAvailable:%s*(%d+)")) or 0
    end
    if avail < 6 * 1024 * 1024 then -- KiB
      print("SKIP: large subjects: less than 6 GiB of memory available")
      return
    end
    local suite = os.getenv("FM_SUITE")
    if suite and suite ~= "default" then -- allocator-independent; slow to build
      print("SKIP: large subjects: run in the default suite only (" .. suite .. ")")
      return
    end
    -- string.rep stops at 2 GiB - 1: concatenate two halves and a tail
    local half = string.rep("a", 1048576):rep(1024) -- 1 GiB, fast
    local s = half .. half .. string.rep("a", 1048576):rep(100):sub(7) .. "needle"
    half = nil
    local n = #s
    assert.is_true(n > 2 ^ 31)
    assert.same({ n - 5, n, n = 2 }, pack(fm.find(s, "needle", -100)))
    assert.same({ n - 5, n, n = 2 }, pack(fm.find(s, "ne+dle", n - 10)))
    s = nil
    collectgarbage()
    collectgarbage()
  end)
end)

describe("the matcher interface", function()
  it("marks compiled regexes as matchers", function()
    local mt = getmetatable(fm.compile("x"))
    assert.is_true(mt.__fm_matcher)
  end)
  it("keeps each object's pattern and options its own; methods check self", function()
    local a, b = fm.compile("a+", "i"), fm.compile("(b)")
    assert.same({ "a+", "i", "(b)", "" }, { a.pattern, a.options, b.pattern, b.options })
    assert.same({ 1, 1, "b" }, { a.find(b, "b") }) -- any fastmatch.regex is a valid self
    assert.has_error(function() a.find(fm.wildcard("x"), "x") end)
    assert.has_error(function() a.find({}, "x") end)
    assert.has_error(function() a.find(require("fastmatch.rex").new("x"), "x") end)
    assert.is_nil(a.nosuchfield)
    assert.same({ 2, 2 }, { fm.find("xab", fm.compile("a"), 2) })
  end)
end)

-- Where the issue says fm follows Lua (init as string.find, Lua 5.4's
-- empty-match rule in gmatch/gsub/count, %0-%9 and %% templates, table and
-- function replacements with false/nil keeping the match), compare with
-- Lua's own string library over generated Lua patterns and their PCRE2
-- translations (opts "s": Lua's '.' takes a newline; '$' becomes \z; an
-- anchoring '^' in find/match becomes \G, which holds at init as Lua's '^'
-- does).  Frontier patterns are left out: PCRE2 10.42's start-of-match
-- optimisation misses (?<!a)(?=a)([^a]*?)a, lrexlib and the JIT alike.
describe("fm against Lua's string library", function()
  local seed = tonumber(os.getenv("FM_SEED")) or 20261125
  print(("fm vs string library seed: %d (set FM_SEED to change)"):format(seed))
  math.randomseed(seed)
  local CLASSES = { { "a", "a" }, { "b", "b" }, { "x", "x" }, { ".", "." }, { "[a-c]", "[a-c]" },
    { "[^a]", "[^a]" }, { "%d", "[0-9]" }, { "%s", "[ \t\n\v\f\r]" },
    { C.num < 5.2 and "%z" or "\0", "\\x00" }, -- 5.1's patterns end at a NUL: %z { "\255", "\\xff" },
    { "%.", "\\." } }
  local QUANTS = { { "", "" }, { "", "" }, { "*", "*" }, { "+", "+" }, { "?", "?" }, { "-", "*?" } }
  local ALPHA = { "a", "b", "c", "x", "\n", "\0", "\255", " ", "1", "." }
  local function gen(anchor)
    local lua, pcre = {}, {}
    for i = 1, math.random(1, 3) do
      local c, q = CLASSES[math.random(#CLASSES)], QUANTS[math.random(#QUANTS)]
      lua[i], pcre[i] = c[1] .. q[1], c[2] .. q[2]
      if math.random() < 0.25 then lua[i], pcre[i] = "(" .. lua[i] .. ")", "(" .. pcre[i] .. ")" end
    end
    local l, p = table.concat(lua), table.concat(pcre)
    if anchor and math.random() < 0.3 then l, p = "^" .. l, "\\G" .. p end
    if math.random() < 0.2 then l, p = l .. "$", p .. "\\z" end
    return l, p
  end
  local function subject()
    local t = {}
    for i = 1, math.random(0, 8) do t[i] = ALPHA[math.random(#ALPHA)] end
    return table.concat(t)
  end
  local function all(iter)
    local out = {}
    for _ = 1, 100 do
      local r = pack(iter())
      if r[1] == nil then break end
      out[#out + 1] = r
    end
    return out
  end
  local function first2(a, b) return a, b end
  local cases = {}
  for i = 1, 600 do
    local s = subject()
    local inits = { 1, 0, -1, -2, -100, #s, #s + 1, #s + 2, 2, C.maxinteger, C.mininteger }
    local c = { s = s, init = inits[math.random(#inits)] }
    c.lfind, c.pfind = gen(true)
    c.lpat, c.ppat = gen(false)
    cases[i] = c
  end

  it("find, match and test read init as string.find does", function()
    if C.num < 5.2 then
      C.skip("5.1 and LuaJIT's string.find clamp an init past the end: comparing with 5.2+'s rule there")
    end
    local past = function() return nil end
    for _, c in ipairs(cases) do
      local s, l, p, init = c.s, c.lfind, c.pfind, c.init
      local sfind, smatch = string.find, string.match
      if C.num < 5.2 and init > #s + 1 then sfind, smatch = past, past end
      local d = ("lua %q pcre %q subject %q init %s"):format(l, p, s, init)
      assert.same(pack(sfind(s, l, init)), pack(fm.find(s, p, init, "s")), d)
      assert.same(pack(sfind(s, l, init)), pack(fm.compile(p, "s"):find(s, init)), d)
      assert.same(pack(smatch(s, l, init)), pack(fm.match(s, p, init, "s")), d)
      assert.equal(sfind(s, l, init) ~= nil, fm.test(s, p, init, "s"), d)
    end
  end)

  it("gmatch (with init) follows Lua 5.4's empty-match rule", function()
    if C.num < 5.4 then
      return C.skip("string.gmatch has an init argument and this empty-match rule from Lua 5.4 on")
    end
    for _, c in ipairs(cases) do
      local s, l, p, init = c.s, c.lpat, c.ppat, c.init
      local d = ("lua %q pcre %q subject %q init %s"):format(l, p, s, init)
      assert.same(all(s:gmatch(l, init)), all(fm.gmatch(s, p, init, "s")), d)
      assert.same(all(s:gmatch(l, init)), all(fm.compile(p, "s"):gmatch(s, init)), d)
    end
  end)

  it("gsub and count agree for %0-%9 and %% templates, n, tables and functions", function()
    if C.num < 5.3 then
      return C.skip("string.gsub has 5.4's empty-match rule (which fm follows) from 5.3 on")
    end
    local reps = { "[%0]", "%1", "<%1%1>", "%%", "x", "" }
    local tbl = { a = "A", b = false, x = 1 }
    local function fn(a, b)
      if a == "a" then return nil elseif a == "b" then return false end
      return "<" .. tostring(a) .. tostring(b) .. ">"
    end
    for _, c in ipairs(cases) do
      local s, l, p = c.s, c.lpat, c.ppat
      local d = ("lua %q pcre %q subject %q"):format(l, p, s)
      local rep = reps[math.random(#reps)]
      local n = ({ nil, 0, 1, 2, -1 })[math.random(5)]
      -- %1 with no group is the whole match in both
      assert.same(pack(s:gsub(l, rep, n)), pack(first2(fm.gsub(s, p, rep, n, "s"))), d .. " repl " .. rep)
      assert.same(pack(s:gsub(l, tbl)), pack(first2(fm.gsub(s, p, tbl, nil, "s"))), d .. " table")
      assert.same(pack(s:gsub(l, fn)), pack(first2(fm.gsub(s, p, fn, nil, "s"))), d .. " function")
      assert.equal(select(2, s:gsub(l, "")), fm.count(s, p, "s"), d)
    end
  end)

  it("gsub counts matches and substitutions apart: false/nil keeps the match", function()
    assert.same({ "aXc", 3, 1, n = 3 },
      pack(fm.gsub("abc", "\\w", function(x) if x == "b" then return "X" end end)))
    assert.same({ "aXc", 3, 1, n = 3 }, pack(fm.gsub("abc", "\\w", { a = false, b = "X" })))
  end)
end)

describe("UTF-8 init with u", function()
  it("raises in gmatch when init falls inside a character", function()
    local ok, err = pcall(fm.gmatch, "éa", ".", 2, "u")
    assert.is_false(ok)
    assert.matches("fastmatch: init (byte 2) is inside a UTF-8 character", err, 1, true)
    local out = {}
    for c in fm.gmatch("éa", ".", 3, "u") do out[#out + 1] = c end
    assert.same({ "a" }, out)
  end)
  it("raises in find, match, test and exec when init falls inside a character", function()
    for _, f in ipairs({ fm.find, fm.match, fm.test, fm.exec }) do
      local ok, err = pcall(f, "éa", ".", 2, "u")
      assert.is_false(ok)
      assert.matches("fastmatch: init (byte 2) is inside a UTF-8 character", err, 1, true)
    end
    assert.same({ 3, 3, n = 2 }, pack(fm.find("éa", ".", 3, "u")))
    local re = fm.compile("a", "u")
    assert.has_error(function() re:find("éa", 2) end)
    assert.same({ 3, 3, n = 2 }, pack(re:find("éa", 3)))
  end)
end)

describe("the fast paths of find, match and test", function()
  -- re:find/match/test and cached fm.find/match/test skip the generic code
  -- (rx_find_at) for objects without UTF checks; fastmatch.rex's methods and
  -- functions always take it.  Both must give the same answers.
  it("agree with the generic path over generated patterns, subjects and inits", function()
    local rex = require "fastmatch.rex"
    local seed = tonumber(os.getenv("FM_SEED")) or 20261125
    print(("fast-path differential seed: %d (set FM_SEED to change)"):format(seed))
    math.randomseed(seed)
    local ATOMS = { "a", "b", "\\d", "\\w+", "(a)", "(b)?", "(?<n>c)", "x*", "(a|b)", "\\s",
      "[ab]+", "(a*)", "\\b", "$", "^", "(?=b)", ".", "\\0", "\\\\" }
    local CH = { "a", "b", "c", "1", " ", "x", "\0", "\\" }
    local function gen(t, lo, hi)
      local o = {}
      for i = 1, math.random(lo, hi) do o[i] = t[math.random(#t)] end
      return table.concat(o)
    end
    for _ = 1, 3000 do
      local p = gen(ATOMS, 1, 4)
      local s = gen(CH, 0, 10)
      local init = ({ nil, 1, 2, -1, -3, 0, #s, #s + 1, #s + 2, C.mininteger })[math.random(10)]
      local okc, re = pcall(fm.compile, p)
      if okc then
        local r = rex.new(p)
        local d = ("pattern %q subject %q init %s"):format(p, s, tostring(init))
        local want = pack(r:find(s, init))
        assert.same(want, pack(re:find(s, init)), d)
        assert.same(want, pack(fm.find(s, p, init)), d)
        local wm = pack(r:match(s, init))
        assert.same(wm, pack(re:match(s, init)), d)
        assert.same(wm, pack(fm.match(s, p, init)), d)
        assert.equal(want[1] ~= nil, re:test(s, init), d)
        assert.equal(want[1] ~= nil, fm.test(s, p, init), d)
      end
    end
  end)
end)

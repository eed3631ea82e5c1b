-- The bad-input catalogue: what each public function does with hostile or
-- careless input.  Every case states its outcome, a result or an error whose
-- message matches a pattern; none may crash, hang, leak or touch freed
-- memory, which `make sanitize` (ASan+UBSan+LSan) and `make valgrind` check
-- by running this file with the rest of the suite.
--
-- The file grows with the API: a function that has not landed in this tree
-- is skipped with a printed reason.
local C = require "spec.compat"
local fm = require "fastmatch"

local SUITE = os.getenv("FM_SUITE") or "default"
-- Under sanitizers and valgrind every byte costs 2-50x: the big inputs shrink
-- there (they still cross every size boundary the code has).
local SLOW = SUITE == "asan" or SUITE == "valgrind"
local MB = 1048576
local HUGE = SLOW and 4 * MB or 64 * MB

-- describe() for fm.<name>, or a printed skip when it has not landed.
local function api(name, body)
  describe("fastmatch." .. name, function()
    if fm[name] == nil then
      it("is not in this tree yet", function()
        print("SKIP: fastmatch." .. name .. " has not landed in this tree")
      end)
      return
    end
    body(fm[name])
  end)
end

-- f() must raise an error whose message matches the Lua pattern pat.  An
-- error raised in C carries the Lua caller's "file:line: " in front.
-- (Call the function inside f, not as a tail call: Lua names the function
-- in `bad argument #n to 'name'` from the calling instruction.)
local function raises(pat, f)
  local ok, err = pcall(f)
  assert(not ok, "expected an error matching " .. pat)
  assert(type(err) == "string", "error value is a " .. type(err))
  assert(err:find(pat), ("error %q does not match %q"):format(err, pat))
  return err
end

-- f() either succeeds or raises an error matching pat; returns ok, results.
local function succeeds_or_raises(pat, f)
  local r = C.pack(pcall(f))
  if not r[1] then
    assert(type(r[2]) == "string" and r[2]:find(pat),
      ("error %q does not match %q"):format(tostring(r[2]), pat))
  end
  return C.unpack(r, 1, r.n)
end

-- An object finalized by the GC (its __gc ran) and then reached again: Lua
-- 5.4 lets a finalizer resurrect what it references.  Returns the object.
local function finalized(make)
  local saved
  do
    local obj = make()
    -- marked for finalization after obj: finalized before it, in the same
    -- cycle, storing obj where the code below finds it after its __gc
    -- (a table with __gc; on 5.1 and LuaJIT, whose tables have no __gc, a
    -- proxy userdata: finalized in reverse order of creation, so first too)
    C.finalizer(function() saved = obj end)
  end
  collectgarbage()
  collectgarbage()
  assert(saved ~= nil, "the resurrecting finalizer did not run")
  return saved
end

-- string.find with init, as Lua 5.2+ reads it, which fastmatch follows on
-- every version: 5.1 and LuaJIT clamp an init past the end to the end (and
-- LuaJIT's takes it as a 32-bit int), where 5.2+ find nothing.
local function sfind(s, p, init, plain)
  if C.num == 5.1 and init and init > #s + 1 then return nil end
  return s:find(p, init, plain)
end

local function tmpfile_with(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

-- ------------------------------------------------------------------ core

describe("fastmatch (the module table)", function()
  it("has a version string and ignores nothing it should not", function()
    assert.is_string(fm.version)
  end)
end)

api("now", function(now)
  it("ignores extra arguments and returns a number", function()
    assert.is_number(now(1, "x", {}))
  end)
end)

api("memstats", function(memstats)
  it("ignores extra arguments of any type", function()
    local m = memstats(nil, "x", {}, -1)
    assert.is_true(m.rss > 0)
  end)
end)

api("mi_stats_print", function(mi_stats_print)
  it("rejects a number: bad argument #1 (FILE* expected, got number)", function()
    raises("bad argument #1 to 'mi_stats_print' %(FILE%* expected, got number%)",
      function() mi_stats_print(1) end)
  end)
  it("rejects a string path: it takes an open file, not a name", function()
    raises("bad argument #1 to 'mi_stats_print' %(FILE%* expected, got string%)",
      function() mi_stats_print("/tmp/x") end)
  end)
  it("rejects a closed file", function()
    local f = io.tmpfile()
    f:close()
    raises("closed file", function() mi_stats_print(f) end)
  end)
  it("rejects a table that only looks like a file", function()
    raises("bad argument #1 to 'mi_stats_print' %(FILE%* expected",
      function() mi_stats_print(setmetatable({}, { __name = "FILE*" })) end)
  end)
end)

api("use_mimalloc", function(use_mimalloc)
  it("is harmless called again with junk arguments (in a child lua5.4)", function()
    -- a child: switching this suite's own state would change later specs
    local ok, out = C.sh(C.lua .. [[ -e 'local fm = require "fastmatch"
      local a = fm.use_mimalloc(); local b = fm.use_mimalloc(1, "x", {})
      local t = {} for i = 1, 1e5 do t[i] = tostring(i) end
      io.write(tostring(a == b), " ", fm.memstats().lua_allocator)']])
    assert(ok, out)
    local want = (fm.allocator == "mimalloc" and not C.jit) and "true mimalloc" or "true default"
    assert.equal(want, out)
  end)
end)

-- ------------------------------------------------------------------ regex

local PATTERN_ERR = "fastmatch: bad pattern at offset %d+: "
local LIMIT_ERR = "fastmatch: match limit exceeded"

api("compile", function(compile)
  it("rejects a non-string pattern: bad argument #1 (string expected, got table)", function()
    raises("bad argument #1 to 'compile' %(string expected, got table%)",
      function() compile({}) end)
    raises("bad argument #1 to 'compile' %(string expected, got no value%)",
      function() compile() end)
  end)
  it("rejects an unknown option letter, naming it: bad argument #2 ... 'Z'", function()
    raises("bad argument #2 to 'compile' .*'Z'", function() compile("a", "Z") end)
  end)
  it("raises 'bad pattern at offset N' for a malformed pattern", function()
    raises(PATTERN_ERR, function() compile("(") end)
    raises(PATTERN_ERR, function() compile("a{2,1}") end)
    raises(PATTERN_ERR, function() compile("[z-a]") end)
    raises(PATTERN_ERR, function() compile("\\") end)
  end)
  it("cuts the pattern in the error message to 60 characters", function()
    local err = raises(PATTERN_ERR, function() compile(("x"):rep(100000) .. "(") end)
    assert.is_true(#err < 300, #err)
  end)
  it("compiles a 1 MB literal pattern, or raises 'bad pattern' (too large)", function()
    local p = ("abcdefgh"):rep(C.idiv(MB, 8))
    local ok, re = succeeds_or_raises(PATTERN_ERR, function() return compile(p) end)
    if ok then
      assert.is_true(re:test("x" .. p .. "y"))
      assert.is_false(re:test(p:sub(2)))
    end
  end)
  it("keeps NUL bytes in the pattern and the subject", function()
    local re = compile("a\0b")
    assert.is_true(re:test("xa\0by"))
    assert.is_false(re:test("xa"))
    assert.same({ 2, 4 }, { re:find("xa\0by") })
  end)
  it("stops (a+)+$ on 30 a's and a '!' at the match limit", function()
    raises(LIMIT_ERR, function() compile("(a+)+$"):test(("a"):rep(30) .. "!") end)
  end)
  it("answers (a|a)*b on 30 a's: no match, or the match-limit error", function()
    local ok, r = succeeds_or_raises(LIMIT_ERR,
      function() return compile("(a|a)*b"):find(("a"):rep(30)) end)
    if ok then assert.is_nil(r) end
  end)
  it("with 'u', rejects an invalid UTF-8 pattern", function()
    raises("fastmatch: ", function() compile("\255", "u") end)
  end)
  it("with 'u', raises on an invalid UTF-8 subject, naming the offset", function()
    local re = compile("b", "u")
    raises("fastmatch: .*UTF%-8.*%d", function() re:find("a\255b") end)
    raises("fastmatch: .*UTF%-8", function() re:find("\237\160\128") end) -- a surrogate
  end)
  it("without 'u', matches any bytes", function()
    local re = compile("b")
    assert.same({ 3, 3 }, { re:find("a\255b") })
    assert.is_true(compile("\255"):test("\254\255"))
  end)
  it("treats init like string.find: 0, negative, past the end, C.mininteger/maxinteger", function()
    local s = "abcabc"
    for _, p in ipairs({ "b", "c", "", "abc", "x" }) do
      local re = compile(p)
      for _, init in ipairs({ -100, -7, -6, -1, 0, 1, 2, 6, 7, 8, 100,
                              C.mininteger, C.maxinteger }) do
        assert.same({ sfind(s, p, init, true) }, { re:find(s, init) },
          ("pattern %q init %d"):format(p, init))
      end
    end
  end)
  it("rejects a non-integer init: bad argument #2 to 'find'", function()
    local re = compile("a")
    raises("bad argument #2 to 'find'", function() re:find("a", "x") end)
    if C.has_integers then
      raises("bad argument #2 to 'find'", function() re:find("a", 1.5) end)
    else -- positions are numbers there: truncated, as string.find does
      C.skip("no integers on this Lua: init 1.5 is read as 1, as string.find reads it")
      assert.same({ ("a"):find("a", 1.5) }, { re:find("a", 1.5) })
    end
    raises("bad argument #1 to 'find' %(string expected, got nil%)", function() re:find(nil) end)
  end)
  it("rejects a method called on the wrong self", function()
    local re = compile("a")
    raises("bad argument #1 to 'test'", function() re.test({}, "a") end)
    raises("bad argument #1 to 'test'", function() re.test("a", "a") end)
  end)
  it("matches a huge subject", function()
    local s = ("x"):rep(HUGE) .. "needle"
    assert.same({ HUGE + 1, HUGE + 6 }, { compile("needle"):find(s) })
    assert.same({ HUGE + 1, HUGE + 6 }, { compile("ne+dle"):find(s) })
  end)
  it("survives use after the GC finalized it: an error or the right answer", function()
    local re = finalized(function() return compile("a+") end)
    local ok, r = succeeds_or_raises("fastmatch", function() return re:test("aa") end)
    if ok then assert.is_true(r) end
  end)
end)

-- The module-level functions take a pattern string (cached) or a compiled
-- regex; each rejects anything else at argument 2, and options at argument 4.
for _, name in ipairs({ "find", "match", "test", "exec", "count" }) do
  api(name, function(f)
    local call = C.load(("local fm = ... return function(...) fm.%s(...) end"):format(name))(fm)
    it("rejects a nil subject: bad argument #1 to '" .. name .. "' (string expected, got nil)", function()
      raises("bad argument #1 to '" .. name .. "' %(string expected, got nil%)", function() call(nil, "a") end)
    end)
    it("rejects a pattern that is neither a string nor a compiled regex, a wildcard included", function()
      raises("bad argument #2 to '" .. name .. "' %(string or compiled regex expected, got nil%)",
        function() call("a", nil) end)
      raises("bad argument #2 to '" .. name .. "' %(string or compiled regex expected, got fastmatch.wildcard%)",
        function() call("a", fm.wildcard and fm.wildcard("a") or {}) end)
    end)
    if name ~= "count" then
      it("rejects an unknown option letter at argument 4, naming it", function()
        raises("bad argument #4 to '" .. name .. "' %(unknown option letter 'Z'", function() call("a", "a", 1, "Z") end)
      end)
    end
    it("stops (a+)+$ on 30 a's and a '!' at the match limit, through the cache too", function()
      raises(LIMIT_ERR, function() call(("a"):rep(30) .. "!", "(a+)+$") end)
      raises(LIMIT_ERR, function() call(("a"):rep(30) .. "!", "(a+)+$") end) -- cached now
    end)
    it("raises on invalid UTF-8 with 'u', naming the byte offset, and takes it without", function()
      if name ~= "count" then
        raises("fastmatch: invalid UTF%-8 in subject at byte offset 1", function() call("a\255b", "b", 1, "u") end)
      end
      assert.is_truthy(f("a\255b", "b"))
    end)
  end)
end

describe("fastmatch.find (positions)", function()
  it("treats init exactly like string.find, for every init from -8 to 8 and the extremes", function()
    if not fm.find then print("SKIP: fastmatch.find has not landed in this tree") return end
    for _, s in ipairs({ "", "a", "abcabc", "a\0b\0" }) do
      for _, p in ipairs({ "", "a", "b", "\0", "abc", "zz" }) do
        for _, init in ipairs({ -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8,
                                C.mininteger, C.maxinteger }) do
          assert.same({ sfind(s, p, init, true) }, { fm.find(s, p, init) },
            ("subject %q pattern %q init %d"):format(s, p, init))
        end
      end
    end
  end)
  it("finds the empty pattern in the empty subject at 1, 0", function()
    if not fm.find then print("SKIP: fastmatch.find has not landed in this tree") return end
    assert.same({ 1, 0 }, { fm.find("", "") })
  end)
end)

api("exec", function(exec)
  it("reports an unset group as false", function()
    local s, e, caps = exec("b", "(a)?b")
    assert.same({ 1, 1 }, { s, e })
    assert.is_false(caps[1])
  end)
end)

api("split", function(split)
  it("terminates on an empty pattern, and with a negative or huge max", function()
    local n = 0
    for _ in split("abc", "") do n = n + 1 end
    assert.is_true(n >= 1 and n <= 4)
    for _, max in ipairs({ -1, 0, C.maxinteger }) do
      local k = 0
      for _ in split("a,b,c", ",", max) do k = k + 1 end
      assert.is_true(k >= 1 and k <= 3, ("max %d gave %d pieces"):format(max, k))
    end
  end)
  it("can be abandoned halfway and collected", function()
    for _ = 1, 100 do
      local it = split(("a,"):rep(100), ",")
      it()
    end
    collectgarbage()
  end)
end)

api("cache_stats", function(cache_stats)
  it("ignores extra arguments and returns the counters", function()
    local st = cache_stats(1, "x")
    assert.is_number(st.size)
    assert.is_number(st.capacity)
  end)
end)

api("gsub", function(gsub)
  it("rejects a bad replacement type: bad argument #3 to 'gsub'", function()
    raises("bad argument #3 to 'gsub'", function() gsub("abc", "b", true) end)
  end)
  it("rejects a template with a missing group or a dangling %", function()
    raises("fastmatch: .*", function() gsub("abc", "(b)", "%2") end)
    raises("fastmatch: .*", function() gsub("abc", "b", "x%") end)
    raises("fastmatch: .*", function() gsub("abc", "(?<n>b)", "%{nope}") end)
  end)
  it("lets the callback call fastmatch again", function()
    local r = gsub("abcabc", "b", function(m) return (gsub(m, "b", "X")) end)
    assert.equal("aXcaXc", r)
  end)
  it("propagates an error raised by the callback, and is usable after", function()
    raises("boom", function() gsub("abc", "b", function() error("boom") end) end)
    assert.equal("aXc", (gsub("abc", "b", "X")))
  end)
  it("propagates a non-string error value from the callback", function()
    local e = {}
    local ok, err = pcall(gsub, "abc", "b", function() error(e) end)
    assert.is_false(ok)
    assert.equal(e, err)
  end)
  it("inside a coroutine, a yielding callback either yields or raises", function()
    local co = coroutine.wrap(function()
      return gsub("abc", "b", function(m) return coroutine.yield(m) end)
    end)
    local ok, r = succeeds_or_raises("yield", function() return co() end)
    if ok then
      assert.equal("b", r)
      assert.equal("aYc", co("Y"))
    end
    assert.equal("aXc", (gsub("abc", "b", "X")))
  end)
  it("replaces a replacement of the wrong type from a function: raises", function()
    raises("invalid replacement value", function() gsub("abc", "b", function() return {} end) end)
  end)
  it("treats n: 0 replaces nothing, a negative n nothing, C.maxinteger everything", function()
    assert.equal("abab", (gsub("abab", "b", "X", 0)))
    assert.equal("abab", (gsub("abab", "b", "X", -1)))
    assert.equal("aXaX", (gsub("abab", "b", "X", C.maxinteger)))
  end)
end)

api("gmatch", function(gmatch)
  it("keeps an abandoned iterator's regex alive through cache eviction and GC", function()
    local old = fm.cache_size and fm.cache_size()
    if fm.cache_size then fm.cache_size(1) end
    local it = gmatch("a1 b2 c3", "(%w)(%d)")
    local it2 = gmatch("a1 b2 c3", "([a-z])(\\d)")
    local a, b = it2()
    assert.same({ "a", "1" }, { a, b })
    for i = 1, 20 do fm.find("x", "x" .. i) end -- evicts
    collectgarbage()
    assert.same({ "b", "2" }, { it2() })
    it, it2 = nil, nil
    collectgarbage()
    if fm.cache_size then fm.cache_size(old) end
  end)
  it("terminates on an empty pattern over a string with NULs", function()
    local n = 0
    for _ in gmatch("a\0b", "") do n = n + 1 end
    assert.equal(4, n)
  end)
end)

api("cache_size", function(cache_size)
  it("rejects a negative or non-integer size", function()
    raises("bad argument #1 to 'cache_size'", function() cache_size(-1) end)
    raises("bad argument #1 to 'cache_size'", function() cache_size("x") end)
  end)
  it("accepts 0 (cache off) and still matches", function()
    local old = cache_size()
    cache_size(0)
    assert.same({ 2, 2 }, { fm.find("abc", "b") })
    cache_size(old)
  end)
end)

api("limits", function(limits)
  it("rejects a non-table", function()
    raises("bad argument #1 to 'limits'", function() limits("x") end)
  end)
  it("rejects a zero, negative or non-integer limit, naming the field", function()
    raises("bad field 'match' to 'limits'", function() limits({ match = -1 }) end)
    raises("bad field 'match' to 'limits'", function() limits({ match = 0 }) end)
    raises("bad field 'heap' to 'limits'", function() limits({ heap = "x" }) end)
    raises("bad field 'depth' to 'limits'", function() limits({ depth = 2 ^ 40 }) end)
  end)
  it("with match = 1, raises the match-limit error where the default lets it finish", function()
    local old = limits()
    limits({ match = 1 })
    local ok, err = pcall(function() return fm.compile("(a+)+$"):find(("a"):rep(5) .. "!") end)
    limits({ match = old.match })
    assert.is_false(ok)
    assert.matches(LIMIT_ERR, err)
    assert.is_nil(fm.compile("(a+)+$"):find(("a"):rep(5) .. "!"))
  end)
end)

describe("fastmatch.rex (the lrexlib face)", function()
  local ok, rex = pcall(require, "fastmatch.rex")
  if not ok then
    it("is not in this tree yet", function() print("SKIP: fastmatch.rex has not landed") end)
    return
  end
  it("rejects a nil pattern: bad argument #1 to 'new'", function()
    raises("bad argument #1 to 'new' %(string expected, got nil%)", function() rex.new(nil) end)
  end)
  it("raises a malformed pattern with lrexlib's message", function()
    raises("missing closing parenthesis %(pattern offset: 2%)", function() rex.new("(") end)
  end)
  it("propagates an error from gsub's control function", function()
    raises("ctl boom", function() rex.gsub("abab", "b", "X", function() error("ctl boom") end) end)
  end)
  it("survives a gsub replacement function that calls rex again", function()
    local r = rex.gsub("abab", "b", function(m) return (rex.gsub(m, "b", "Y")) end)
    assert.equal("aYaY", r)
  end)
end)

-- ------------------------------------------------------------------ wildcards

api("wildcard", function(wildcard)
  it("rejects a non-string pattern: bad argument #1 to 'wildcard' (string expected, got nil)", function()
    raises("bad argument #1 to 'wildcard' %(string expected, got nil%)", function() wildcard(nil) end)
    raises("bad argument #1 to 'wildcard' %(string expected, got table%)", function() wildcard({}) end)
  end)
  it("rejects non-table options: bad argument #2 to 'wildcard'", function()
    raises("bad argument #2 to 'wildcard' %(table expected, got number%)", function() wildcard("a", 5) end)
  end)
  it("matches 10 000 '*' against anything, instantly", function()
    local w = wildcard(("*"):rep(10000))
    assert.is_true(w:test(""))
    assert.is_true(w:test(("z"):rep(100000)))
  end)
  it("matches '*a' x 5000 without backtracking blow-up", function()
    local w = wildcard(("*a"):rep(5000))
    assert.is_true(w:test(("a"):rep(5000)))
    assert.is_false(w:test(("a"):rep(4999)))
    assert.is_false(w:test(("a"):rep(20000) .. "b"))
  end)
  it("answers *a*a*a*a*a*a*a*a*a*a against 50 a's and a b: false", function()
    assert.is_false(wildcard("*a*a*a*a*a*a*a*a*a*a"):test(("a"):rep(50) .. "b"))
  end)
  it("compiles a 1 MB pattern of literals and '?'", function()
    local p = ("ab?"):rep(350000)
    local w = wildcard(p)
    assert.is_true(w:test(("abc"):rep(350000)))
    assert.is_false(w:test(("abc"):rep(349999)))
  end)
  it("takes a trailing backslash as a literal backslash", function()
    assert.is_true(wildcard("a\\"):test("a\\"))
  end)
  it("counts an invalid UTF-8 byte as one character for '?'", function()
    assert.is_true(wildcard("a?b"):test("a\255b"))
    assert.is_true(wildcard("?"):test("\195")) -- a truncated sequence
    assert.is_true(wildcard("*\255*"):test("x\255y"))
  end)
  it("keeps NUL bytes as ordinary bytes", function()
    assert.is_true(wildcard("a\0*"):test("a\0zz"))
    assert.is_false(wildcard("a\0*"):test("a"))
  end)
  it("survives use after the GC finalized it: an error or the right answer", function()
    local w = finalized(function() return wildcard("*x*") end)
    local ok, r = succeeds_or_raises("fastmatch", function() return w:test("axb") end)
    if ok then assert.is_true(r) end
  end)
end)

api("set", function(set)
  it("rejects a non-table: bad argument #1 to 'set'", function()
    raises("bad argument #1 to 'set'", function() set("a") end)
  end)
  it("rejects a non-string entry, naming its index", function()
    raises("3", function() set({ "a", "b", 42.5 }) end)
    raises("2", function() set({ "a", {} }) end)
  end)
  it("takes 10 000 '*' and NUL bytes among its patterns", function()
    local st = set({ ("*"):rep(10000) .. "x", "a\0b", "" })
    assert.same({ 1, 2 }, st:all("a\0bx") and { st:first("x"), st:first("a\0b") })
    assert.same({ 3 }, st:all(""))
  end)
  it("survives use after the GC finalized it: an error or the right answer", function()
    local st = finalized(function() return set({ "a*" }) end)
    local ok, r = succeeds_or_raises("fastmatch", function() return st:test("ab") end)
    if ok then assert.is_true(r) end
  end)
  it("handles an empty set: matches nothing", function()
    local s = set({})
    assert.is_false(s:test("a"))
    assert.is_nil(s:first("a"))
  end)
end)

for _, name in ipairs({ "startswith", "endswith", "contains" }) do
  api(name, function(f)
    it("rejects nil subject and needle: bad argument #1/#2 to '" .. name .. "'", function()
      -- a call written as fm.<name>(a, b), so Lua names the function
      local call = C.load(("local fm = ... return function(a, b) fm.%s(a, b) end"):format(name))(fm)
      local named = "to '" .. name .. "'"
      raises("bad argument #1 " .. named .. " %(string expected, got nil%)", function() call(nil, "a") end)
      raises("bad argument #2 " .. named .. " %(string expected, got nil%)", function() call("a", nil) end)
    end)
    it("agrees with plain string operations on empty strings, NULs and 0xFF", function()
      local cases = { { "", "" }, { "a", "" }, { "", "a" }, { "a\0b", "\0" }, { "a\0b", "b" },
        { "\255\254", "\255" }, { "\255\254", "\254" }, { ("x"):rep(1000) .. "y", "xy" } }
      for _, c in ipairs(cases) do
        local s, p = c[1], c[2]
        local want
        if name == "startswith" then want = s:sub(1, #p) == p
        elseif name == "endswith" then want = #p == 0 or s:sub(-#p) == p
        else want = s:find(p, 1, true) end
        local got = f(s, p)
        if name == "contains" then assert.equal(want, got, ("%q in %q"):format(p, s))
        else assert.equal(want, got, ("%q, %q"):format(s, p)) end
      end
    end)
  end)
end

api("iequals", function(iequals)
  it("rejects a nil argument", function()
    raises("bad argument #2 to 'iequals'", function() iequals("a", nil) end)
  end)
  it("compares NULs, empty strings and non-ASCII bytes", function()
    assert.is_true(iequals("", ""))
    assert.is_true(iequals("A\0B", "a\0b"))
    assert.is_false(iequals("a\0", "a"))
    assert.is_false(iequals("\255", "\254"))
  end)
end)

-- ------------------------------------------------------------------ lines

api("lines_of", function(lines_of)
  it("rejects a non-string source: bad argument #1 to 'lines_of'", function()
    raises("bad argument #1 to 'lines_of'", function() lines_of({}) end)
  end)
  it("rejects a zero, negative or non-integer buffer size", function()
    raises("bad argument #2 to 'lines_of'.*buffer", function() lines_of("a", { buffer = 0 }) end)
    raises("bad argument #2 to 'lines_of'.*buffer", function() lines_of("a", { buffer = -1 }) end)
    raises("bad argument #2 to 'lines_of'.*buffer", function() lines_of("a", { buffer = "x" }) end)
  end)
  it("rejects a negative max_line", function()
    raises("bad argument #2 to 'lines_of'.*max_line", function() lines_of("a", { max_line = -1 }) end)
  end)
  it("raises naming the line when a line is longer than max_line = 0", function()
    raises("line 2 longer than max_line", function()
      for _ in lines_of("\nx\n", { max_line = 0 }) do end
    end)
  end)
  it("yields nothing for an empty string, keeps NULs, and returns the last line", function()
    local got = {}
    for l in lines_of("") do got[#got + 1] = l end
    assert.same({}, got)
    for l in lines_of("a\0b\n\0\nlast") do got[#got + 1] = l end
    assert.same({ "a\0b", "\0", "last" }, got)
  end)
  it("splits a huge string with a huge buffer and max_line", function()
    local s = ("x"):rep(HUGE) .. "\ny"
    local n = 0
    for l in lines_of(s, { buffer = C.maxinteger, max_line = C.maxinteger }) do
      n = n + #l
    end
    assert.equal(HUGE + 1, n)
  end)
  it("lets a filter function call fastmatch again", function()
    local got = {}
    for l in lines_of("ab\ncd\nab", { filter = function(l) return fm.lines_of(l)() == "ab" end }) do
      got[#got + 1] = l
    end
    assert.same({ "ab", "ab" }, got)
  end)
  it("propagates an error raised by a filter function", function()
    raises("filter boom", function()
      for _ in lines_of("a\nb", { filter = function() error("filter boom") end }) do end
    end)
  end)
  it("inside a coroutine, a yielding filter either yields or raises", function()
    local co = coroutine.wrap(function()
      local got = {}
      for l in lines_of("a\nb", { filter = function(l) return coroutine.yield(l) end }) do
        got[#got + 1] = l
      end
      return got
    end)
    local ok, r = succeeds_or_raises("yield", function() return co() end)
    if ok then
      assert.equal("a", r)
      assert.equal("b", co(false))
      assert.same({ "b" }, co(true))
    end
  end)
  it("survives use after the GC finalized it: raises 'closed' or goes on", function()
    local it = finalized(function()
      local it = lines_of("a\nb\nc")
      it()
      return it
    end)
    local ok, r = succeeds_or_raises("fastmatch", function() return it() end)
    if ok then assert.is_true(r == nil or r == "b") end
  end)
  it("can be abandoned halfway and collected", function()
    for _ = 1, 100 do
      local it = lines_of(("line\n"):rep(100), { buffer = 7 })
      it()
      it()
    end
    collectgarbage()
    collectgarbage()
  end)
end)

api("lines", function(lines)
  it("raises 'cannot open' for a missing path, like io.lines", function()
    raises("fastmatch: cannot open '/nonexistent/x'", function() lines("/nonexistent/x") end)
  end)
  it("rejects a closed Lua file", function()
    local f = io.tmpfile()
    f:close()
    raises("closed file", function() lines(f) end)
  end)
  it("rejects a number or a table as the source", function()
    raises("bad argument #1 to 'lines'", function() lines({}) end)
  end)
  it("raises when iterated after an explicit close", function()
    local path = tmpfile_with("a\nb\n")
    local it, _, _, closer = lines(path)
    assert.equal("a", it())
    if closer then closer:close() else it:close() end
    raises("closed", function() it() end)
    os.remove(path)
  end)
  it("closes the file when a for loop breaks or errors, and after abandon + GC", function()
    local path = tmpfile_with(("x\n"):rep(1000))
    for _ = 1, 50 do
      for l in lines(path) do break end
      pcall(function() for l in lines(path) do error("stop") end end)
      local it = lines(path)
      it()
    end
    collectgarbage()
    collectgarbage()
    os.remove(path)
  end)
end)

api("count_lines", function(count_lines)
  it("raises 'cannot open' for a missing path", function()
    raises("fastmatch: cannot open", function() count_lines("/nonexistent/x") end)
  end)
  it("counts an empty file as 0 lines and a file without final newline", function()
    local p1, p2 = tmpfile_with(""), tmpfile_with("a\n\0\nb")
    assert.equal(0, count_lines(p1))
    assert.equal(3, count_lines(p2))
    os.remove(p1)
    os.remove(p2)
  end)
end)

-- ------------------------------------------------------------------ writer

api("writer", function(writer)
  it("returns nil, message, errno for a path that cannot be opened", function()
    local w, msg, errno = writer("/nonexistent/dir/x")
    assert.is_nil(w)
    assert.matches("/nonexistent/dir/x", msg)
    assert.is_number(errno)
  end)
  it("rejects a bad mode or buffer size", function()
    raises("bad argument #2 to 'writer'", function() writer(os.tmpname(), { mode = "r+" }) end)
    raises("bad argument #2 to 'writer'", function() writer(os.tmpname(), { buffer = 0 }) end)
  end)
  it("rejects values write cannot format: bad argument #n to 'write'", function()
    local path = os.tmpname()
    local w = writer(path)
    raises("bad argument #1 to 'write'", function() w:write(nil) end)
    raises("bad argument #2 to 'write'", function() w:write("a", {}) end)
    raises("bad argument #1 to 'write'", function() w:write(true) end)
    w:close()
    os.remove(path)
  end)
  it("raises 'writer is closed' when used after close", function()
    local path = os.tmpname()
    local w = writer(path)
    w:write("x")
    w:close()
    raises("fastmatch: writer is closed", function() w:write("y") end)
    os.remove(path)
  end)
  it("reports ENOSPC from /dev/full on flush, never swallowing it", function()
    local f = io.open("/dev/full", "w")
    if not f then print("SKIP: no /dev/full") return end
    f:close()
    local w = assert(writer("/dev/full"))
    w:write(("x"):rep(100))
    local ok, msg, errno = w:flush()
    assert.is_nil(ok)
    assert.matches("[Ss]pace", msg)
    assert.equal(28, errno)
    pcall(w.close, w)
  end)
  it("writes NULs, empty strings and a string larger than its buffer", function()
    local path = os.tmpname()
    local w = writer(path, { buffer = 16 })
    w:write("", "a\0b", "", ("z"):rep(1000), 12, 1.5)
    assert.is_true(w:close() ~= nil)
    local f = assert(io.open(path, "rb"))
    assert.equal("a\0b" .. ("z"):rep(1000) .. "121.5", f:read("*a"))
    f:close()
    os.remove(path)
  end)
  it("flushes what it holds when the GC finalizes it, and is closed after", function()
    local path = os.tmpname()
    local w = finalized(function()
      local w = writer(path)
      w:write("kept")
      return w
    end)
    raises("fastmatch: writer is closed", function() w:write("y") end)
    local f = assert(io.open(path, "rb"))
    assert.equal("kept", f:read("*a"))
    f:close()
    os.remove(path)
  end)
end)

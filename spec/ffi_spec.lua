-- The FFI path (lua/fastmatch/ffi.lua, csrc/ffi.c): under LuaJIT, fm.find,
-- fm.match, fm.test with string patterns and set:test call C through
-- LuaJIT's FFI.  Differential: over generated patterns, options, subjects
-- and inits (seeded, printed), the FFI functions give what the C API
-- functions give -- values, errors, and the cache's counters.  Elsewhere
-- (no LuaJIT, no ffi, FM_NO_FFI) every case is skipped with the reason.
local C = require "spec.compat"
local fm = require "fastmatch"
local F = require "fastmatch.ffi"

local SEED = tonumber(os.getenv("FM_SEED") or "") or 20261130
local ROUNDS = tonumber(os.getenv("FM_FFI_ROUNDS") or "") or 3000

local function skip()
  if F.active then return false end
  print(("SKIP (%s): no FFI path: %s"):format(C.name, tostring(F.reason)))
  return true
end

-- one call's outcome: its values (with their count) or its error
local function outcome(f, ...)
  local r = C.pack(pcall(f, ...))
  if not r[1] then return { err = tostring(r[2]) } end
  return { n = r.n - 1, C.unpack(r, 2, r.n) }
end

local PIECES = { "a", "b", "ab", "GET", "x", "A", " ", "\\d+", "\\w+", "[a-c]", "[^ ]+", ".", ".*",
  "(a)", "(b)?", "(\\w+)", "(?<n>a)", "(x)|(a)", "^", "$", "a|b", "\\K", "(", "\\S+ ", "é", "(.)",
  "(?:ab)+", "[", "\\", "*", "(\\d)(\\d)?", "(a)(b)(c)(d)(e)" }
local OPTS = { false, false, false, "", "i", "m", "s", "u", "a", "iU", "x", "z" }
local ALPHA = { "a", "b", "c", "A", "1", "2", " ", "\n", "é", "\255", "G", "E", "T", "\0", "x", "ab" }
local INITS = { false, false, false, 0, 1, 2, -1, -3, 1.5, "2", 2 ^ 60, -2 ^ 60, 100 }

local function gen(rand)
  local p = {}
  for _ = 1, rand(1, 3) do p[#p + 1] = PIECES[rand(#PIECES)] end
  local s = {}
  for _ = 1, rand(0, 12) do s[#s + 1] = ALPHA[rand(#ALPHA)] end
  local init = INITS[rand(#INITS)]
  if init == 100 then init = rand(-15, 15) end
  local opts = OPTS[rand(#OPTS)]
  local subj = table.concat(s)
  if rand(40) == 1 then subj = rand(0, 99999) end -- a number, as string.find takes it
  local pat = table.concat(p)
  if rand(60) == 1 then pat = rand(0, 99) end
  return subj, pat, init or nil, opts or nil
end

-- the arguments as the caller wrote them: trailing nils left out or kept
local function call(f, s, p, init, opts, k)
  if opts ~= nil then return outcome(f, s, p, init, opts) end
  if init ~= nil then return outcome(f, s, p, init) end
  if k == 1 then return outcome(f, s, p, nil) end
  return outcome(f, s, p)
end

-- a whole generated sequence on one set of functions, from an empty cache
-- of capacity 8 (so that patterns are evicted and come back)
local function run(fns, seed)
  math.randomseed(seed)
  local rand = math.random
  local cap0 = fm.cache_size()
  fm.cache_size(0)
  fm.cache_size(8)
  local st0 = fm.cache_stats()
  local out = {}
  for i = 1, ROUNDS do
    local s, p, init, opts = gen(rand)
    local which = rand(3)
    local f = which == 1 and fns.find or which == 2 and fns.match or fns.test
    local k = rand(2)
    -- a pattern asked several times in a row: the FFI path's hits
    for j = 1, rand(3) do out[#out + 1] = { i = i, j = j, call(f, s, p, init, opts, k) } end
  end
  local st = fm.cache_stats()
  fm.cache_size(0)
  fm.cache_size(cap0)
  out.stats = { hits = st.hits - st0.hits, misses = st.misses - st0.misses,
                evictions = st.evictions - st0.evictions, size = st.size }
  return out
end

describe("the FFI path (LuaJIT)", function()
  it("is active under LuaJIT with ffi, and says why not elsewhere", function()
    if not C.jit then
      print(("SKIP (%s): the FFI path is LuaJIT's (reason: %s)"):format(C.name, tostring(F.reason)))
      assert.is_false(F.active)
      return
    end
    if os.getenv("FM_NO_FFI") then assert.is_false(F.active); return end
    assert.is_true(F.active, tostring(F.reason))
    assert.are_not.equal(F.c.find, fm.find)
  end)

  it("fm.find, fm.match, fm.test give what the C API gives (values, errors, cache counters)", function()
    if skip() then return end
    print(("ffi_spec: random seed %d, %d rounds (set FM_SEED, FM_FFI_ROUNDS to change)"):format(SEED, ROUNDS))
    local got = run({ find = fm.find, match = fm.match, test = fm.test }, SEED)
    local want = run({ find = F.c.find, match = F.c.match, test = F.c.test }, SEED)
    assert.equal(#want, #got)
    for k = 1, #want do
      assert.same(want[k], got[k], ("seed %d, call %d (round %d)"):format(SEED, k, want[k].i))
    end
    assert.same(want.stats, got.stats, "cache counters")
  end)

  it("re:find, re:match, re:test give what the C methods give", function()
    if skip() then return end
    math.randomseed(SEED + 1)
    local rand = math.random
    local n = 0
    for _ = 1, ROUNDS do
      local s, p, init, opts = gen(rand)
      local ok, re = pcall(fm.compile, p, opts)
      local ok2, re2 = pcall(F.c.compile, p, opts)
      assert.equal(ok2, ok)
      if not ok then
        assert.equal(re2, re)
      else
        n = n + 1
        for _, m in ipairs({ "find", "match", "test" }) do
          local c = F.c["re_" .. m]
          local want = init == nil and outcome(c, re2, s) or outcome(c, re2, s, init)
          local got = init == nil and outcome(re[m], re, s) or outcome(re[m], re, s, init)
          assert.same(want, got, ("seed %d: %s(%q, %q, %s, %s)"):format(SEED + 1, m, tostring(s), tostring(p),
            tostring(init), tostring(opts)))
          -- self of another class, or no self: the C method's own error
          assert.same(outcome(c, fm.set({}), s), outcome(re[m], fm.set({}), s))
        end
      end
    end
    assert.is_true(n > ROUNDS / 4, "enough patterns compile")
  end)

  it("answers with the pattern's own object after evictions and a cache size of 0", function()
    if skip() then return end
    local cap0 = fm.cache_size()
    fm.cache_size(2)
    for i = 1, 50 do
      local p = "(k" .. (i % 5) .. ")"
      assert.equal("k" .. (i % 5), fm.match("xk" .. (i % 5) .. "y", p))
      assert.equal(2, fm.find("xk" .. (i % 5) .. "y", p))
    end
    fm.cache_size(0)
    assert.equal("k1", fm.match("k1", "(k1)"))
    assert.equal("k1", fm.match("k1", "(k1)"))
    assert.equal(0, fm.cache_stats().size)
    fm.cache_size(cap0)
    collectgarbage()
    assert.equal("k1", fm.match("k1", "(k1)"))
  end)

  it("captures: unset groups are false, up to 31 groups by FFI and more through C", function()
    if skip() then return end
    assert.same({ 1, 1, false, "a" }, { fm.find("a", "(x)?(a)") })
    local many = ("(a)"):rep(40)
    local s = ("a"):rep(40)
    assert.same({ F.c.match(s, many) }, { fm.match(s, many) })
    assert.same({ F.c.match(s, many) }, { fm.match(s, many) })
    local p31 = ("(a)"):rep(31)
    assert.same({ F.c.find(s, p31) }, { fm.find(s, p31) })
    assert.same({ F.c.find(s, p31) }, { fm.find(s, p31) })
  end)

  it("raises as the C API does, naming the function and the caller's line", function()
    if skip() then return end
    fm.find("aaaa", "(a+)+$") -- cached
    fm.limits({ match = 10 })
    local ok, e1 = pcall(fm.find, ("a"):rep(30) .. "!", "(a+)+$")
    local ok2, e2 = pcall(F.c.find, ("a"):rep(30) .. "!", "(a+)+$")
    fm.limits({ match = 1000000 })
    assert.is_false(ok)
    assert.is_false(ok2)
    assert.equal(e2, e1)
    fm.test("é", "é", 1, "u")
    local function where(f) local _, e = pcall(function() return f("\255", "é", 1, "u") end) return e end
    assert.equal(where(F.c.test), where(fm.test))
    assert.matches("invalid UTF%-8", where(fm.test))
  end)

  it("set:test gives what the C method gives, and raises as it does", function()
    if skip() then return end
    math.randomseed(SEED)
    local WC = { "*a*", "b*", "*c", "a?b", "*x*y*", "GET *", "*é*", "exact", "*" }
    for _ = 1, 300 do
      local list = {}
      for _ = 1, math.random(0, 4) do list[#list + 1] = WC[math.random(#WC)] end
      local set = fm.set(list, math.random(2) == 1 and { cased = true } or nil)
      for _ = 1, 5 do
        local s = {}
        for _ = 1, math.random(0, 8) do s[#s + 1] = ALPHA[math.random(#ALPHA)] end
        s = table.concat(s)
        assert.equal(F.c.set_test(set, s), set:test(s))
        assert.equal(F.c.set_test(set, s), set.test(set, s))
      end
    end
    local set = fm.set({ "*a*" })
    assert.same(outcome(F.c.set_test, set, {}), outcome(set.test, set, {}))
    assert.same(outcome(F.c.set_test, {}, "a"), outcome(set.test, {}, "a"))
    assert.same(outcome(F.c.set_test, fm.wildcard("a"), "a"), outcome(set.test, fm.wildcard("a"), "a"))
    assert.same(outcome(F.c.set_test, set, 12), outcome(set.test, set, 12))
    assert.same({ "*a*" }, set.patterns)
    assert.equal(2, fm.set({ "a", "b" }):first("b"))
  end)
end)

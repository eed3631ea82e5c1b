-- Pattern sets: fm.set (csrc/sets.c).  Many Sigma wildcards as one
-- matcher; every case compares the set with its patterns matched one by one
-- (fm.wildcard, whose own semantics wildcard_spec.lua documents).
local C = require "spec.compat"
local fm = require "fastmatch"

local SEED = tonumber(os.getenv("FM_SEED") or "") or 20260425
local function q(s) return ("%q"):format(s) end
-- ----------------------------------------------------------------------
describe("fastmatch.set", function()
  local pats = { "*foo*", "bar*", "*baz", "exact", "a*b", "*x?y*", "*", "FOO" }

  it("tests whether any pattern matches", function()
    local set = fm.set({ "*foo*", "bar*" })
    assert.is_true(set:test("a FOO b"))
    assert.is_true(set("barn"))
    assert.is_false(set:test("nothing"))
  end)

  it("gives the index of the first matching pattern in list order", function()
    local set = fm.set(pats)
    assert.equal(1, set:first("xxfooxx"))
    assert.equal(7, set:first("zzz"))
    assert.equal(1, set:first("foo"))
    assert.is_nil(fm.set({ "a", "b" }):first("c"))
  end)

  it("lists every matching index, ascending", function()
    local set = fm.set(pats)
    assert.same({ 1, 2, 7 }, set:all("barfoo"))
    assert.same({ 1, 6, 7 }, set:all("xAyfoo"))
    assert.same({ 1, 7, 8 }, set:all("FOO"))
    assert.same({}, fm.set({ "a" }):all("b"))
  end)

  it("reports every copy of a repeated pattern, and the first copy first", function()
    local set = fm.set({ "*x*", "a", "a", "A*", "*x*" })
    assert.same({ 2, 3, 4 }, set:all("a"))
    assert.equal(2, set:first("a"))
    assert.same({ 1, 5 }, set:all("xx"))
    assert.equal(1, set:first("xx"))
    assert.is_nil(fm.set({}):first("a"))
    assert.same({}, fm.set({}):all(""))
  end)

  it("has the pattern count as its length", function()
    assert.equal(8, #fm.set(pats))
    assert.equal(0, #fm.set({}))
    assert.is_false(fm.set({}):test(""))
  end)

  it("passes opts to every pattern", function()
    local set = fm.set({ "*Foo*" }, { cased = true })
    assert.is_false(set:test("foo"))
    assert.is_true(set:test("xFoox"))
  end)

  it("is a matcher the line filter can call without Lua (metatable mark)", function()
    assert.is_true(getmetatable(fm.set({ "a" })).__fm_matcher)
  end)

  it("raises naming the index of an entry that is not a string", function()
    assert.has_error(function() fm.set({ "a", 3 }) end,
      "bad argument #1 to 'set' (string expected at index 2, got number)")
    assert.has_error(function() fm.set("a") end)
  end)

  it("matches patterns without an ASCII literal only against subjects that have non-ASCII bytes", function()
    -- homoglyph patterns (Cyrillic and Greek capitals) beside ASCII ones
    local set = fm.set({ "*А*", "*Ο*", "*x*", "*", "?", "*\195*", "*ſ*", "*K*" })
    assert.same({ 3, 4, 5 }, set:all("x"))
    assert.same({ 4 }, set:all("yy"))
    assert.same({ 1, 4 }, set:all("pаypal")) -- Cyrillic а
    assert.same({ 2, 4, 5 }, set:all("ο")) -- Greek ο: one character
    assert.same({ 4, 5, 6 }, set:all("\195"))
    assert.same({ 4, 5 }, set:all("s")) -- LONG S folds to s, but ASCII does not fold to it
    assert.same({ 3, 4, 7 }, set:all("xſ"))
    assert.equal(1, set:first("АО")) -- Cyrillic А and О (not Greek Ο)
    assert.is_true(set:test("k"))
  end)

  it("agrees with the individual matchers on random sets and subjects (seed " .. SEED .. ")", function()
    math.randomseed(SEED)
    local alpha = { "a", "B", "*", "?", "\\", "é", "ab", "ba", "abba", "c" }
    local subj = { "a", "A", "b", "B", "é", "É", "\\", "*", "?", "\195", "c", "ab" }
    local function rnd(al, n)
      local t = {}
      for i = 1, n do t[i] = al[math.random(#al)] end
      return table.concat(t)
    end
    for round = 1, 300 do
      local list, ws = {}, {}
      local cased = round % 3 == 0
      for i = 1, math.random(1, 40) do
        list[i] = rnd(alpha, math.random(0, 5))
        ws[i] = fm.wildcard(list[i], { cased = cased })
      end
      local set = fm.set(list, { cased = cased })
      for _ = 1, 20 do
        local s = rnd(subj, math.random(0, 14))
        local all, first = {}, nil
        for i, w in ipairs(ws) do
          if w:test(s) then
            all[#all + 1] = i
            first = first or i
          end
        end
        local where = ("seed %d round %d subject %s"):format(SEED, round, q(s))
        assert.same(all, set:all(s), where)
        assert.equal(first, set:first(s), where)
        assert.equal(first ~= nil, set:test(s), where)
      end
    end
  end)
end)

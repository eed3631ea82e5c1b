-- The string helpers (csrc/text.c): fm.startswith, fm.endswith,
-- fm.contains, fm.iequals -- no pattern syntax, caseless as wildcards are.
-- The search kernels under them have their own spec (search_spec.lua).
local fm = require "fastmatch"

local SEED = tonumber(os.getenv("FM_SEED") or "") or 20260425
local function q(s) return ("%q"):format(s) end
-- ----------------------------------------------------------------------
describe("fastmatch.startswith", function()
  it("compares the start of a string, caseless on request", function()
    assert.is_true(fm.startswith("Hello world", "Hello"))
    assert.is_false(fm.startswith("Hello world", "hello"))
    assert.is_true(fm.startswith("Hello world", "hello", true))
    assert.is_true(fm.startswith("abc", ""))
    assert.is_false(fm.startswith("ab", "abc"))
    assert.is_true(fm.startswith("a\0b", "a\0"))
  end)
end)

describe("fastmatch.endswith", function()
  it("compares the end of a string, caseless on request", function()
    assert.is_true(fm.endswith("C:\\CMD.EXE", ".EXE"))
    assert.is_false(fm.endswith("C:\\CMD.EXE", ".exe"))
    assert.is_true(fm.endswith("C:\\CMD.EXE", ".exe", true))
    assert.is_true(fm.endswith("abc", ""))
    assert.is_false(fm.endswith("bc", "abc"))
  end)
end)

describe("fastmatch.contains", function()
  it("returns the 1-based position of the first occurrence, or nil", function()
    assert.equal(7, fm.contains("hello world", "world"))
    assert.is_nil(fm.contains("hello world", "WORLD"))
    assert.equal(7, fm.contains("hello WoRlD", "world", true))
    assert.equal(1, fm.contains("abc", ""))
    assert.is_nil(fm.contains("", "a"))
    assert.equal(3, fm.contains("a\0b\0", "b\0"))
  end)
  it("folds letters only when caseless (not the bytes beside A-Z and a-z)", function()
    assert.is_nil(fm.contains("[x]", "{X}", true))
    assert.is_nil(fm.contains("\xC1", "\xE1", true))
  end)
end)

describe("fastmatch.iequals", function()
  it("compares two strings caselessly", function()
    assert.is_true(fm.iequals("PowerShell.EXE", "powershell.exe"))
    assert.is_false(fm.iequals("abc", "abd"))
    assert.is_false(fm.iequals("abc", "abcd"))
    assert.is_true(fm.iequals("", ""))
    assert.is_false(fm.iequals("@", "`"))
  end)
end)

describe("fastmatch string helpers, caseless beyond ASCII", function()
  -- "caseless" means what it means for a wildcard: non-ASCII letters fold
  -- too (Unicode simple folding), compared character by character
  it("fold non-ASCII letters: German, Cyrillic, Greek, sharp s", function()
    assert.is_true(fm.iequals("ÄRGER", "ärger"))
    assert.is_true(fm.iequals("ärger", "ÄRGER"))
    assert.is_true(fm.iequals("ПРИВЕТ", "привет"))
    assert.is_true(fm.iequals("ΣΟΦΙΑ", "σοφια"))
    assert.is_true(fm.iequals("STRAẞE", "straße")) -- 3 bytes against 2
    assert.is_false(fm.iequals("ärger", "arger"))
    assert.is_true(fm.startswith("ÄRGER im Büro", "ärger", true))
    assert.is_false(fm.startswith("ÄRGER im Büro", "ärger"))
    assert.is_true(fm.endswith("im BÜRO", "büro", true))
    assert.is_true(fm.endswith("xß", "ẞ", true))
    assert.equal(9, fm.contains("Das ist ÄRGER", "ärger", true))
    assert.equal(14, fm.contains("привет МИР", "мир", true))
    assert.is_nil(fm.contains("Das ist ÄRGER", "ärger"))
  end)

  it("keep ASCII letters to ASCII (KELVIN SIGN, LONG S apart), as wildcards do", function()
    assert.is_false(fm.iequals("\u{212A}", "k"))
    assert.is_false(fm.iequals("k", "\u{212A}"))
    assert.is_false(fm.startswith("\u{17F}x", "s", true))
    assert.is_nil(fm.contains("\u{212A}", "K", true))
  end)

  it("find a non-ASCII needle in one pass after a few false starts", function()
    local s = ("Ä"):rep(200000)
    assert.is_nil(fm.contains(s, ("ä"):rep(500) .. "b", true))
    assert.equal(#s - 1000 + 1, fm.contains(s .. "B", ("ä"):rep(500) .. "b", true))
    assert.equal(2 * 40 + 1, fm.contains(("ää"):rep(20) .. "äb", "ÄB", true)) -- bytes
  end)

  it("agree with the equivalent wildcards on random strings (seed " .. SEED .. ")", function()
    math.randomseed(SEED)
    local alpha = { "a", "A", "b", "é", "É", "ß", "ẞ", "σ", "Σ", "ς", "ж", "Ж", "€", "\u{212A}", "k",
      "K", "*", "?", "\\", "\0", "ä", "Ä" }
    local function rnd(n)
      local t = {}
      for i = 1, n do t[i] = alpha[math.random(#alpha)] end
      return table.concat(t)
    end
    local function esc(p) return (p:gsub("[\\*?]", "\\%0")) end
    for _ = 1, 5000 do
      local p, s = rnd(math.random(0, 4)), rnd(math.random(0, 10))
      if math.random(3) == 1 then s = s .. "\xff" .. s end -- an invalid byte
      local where = ("seed %d: %s in %s"):format(SEED, q(p), q(s))
      assert.equal(fm.wildcard(esc(p) .. "*"):test(s), fm.startswith(s, p, true), where)
      assert.equal(fm.wildcard("*" .. esc(p)):test(s), fm.endswith(s, p, true), where)
      assert.equal(fm.wildcard(esc(p)):test(s), fm.iequals(s, p), where)
      assert.equal(fm.iequals(s, p), fm.iequals(p, s), where)
      local pos = fm.contains(s, p, true)
      assert.equal(fm.wildcard("*" .. esc(p) .. "*"):test(s), pos ~= nil, where)
      if pos then -- the first character boundary where p starts
        assert.is_true(fm.startswith(s:sub(pos), p, true), where)
        for j = 1, pos - 1 do
          local b = s:byte(j)
          if b < 0x80 or b >= 0xC2 then -- a character starts here
            assert.is_false(fm.startswith(s:sub(j), p, true), where)
          end
        end
      end
    end
  end)
end)

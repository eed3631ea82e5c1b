-- The substring search kernels behind fm.contains and the wildcard
-- matchers: exact (memchr/memmem) and ASCII-caseless (AVX2 / SSE2 / scalar,
-- each checked here against string.lower + string.find).
local C = require "spec.compat"
local fm = require "fastmatch"
local core = require "fastmatch.core" -- the private entry points (_search_impl)

local SEED = tonumber(os.getenv("FM_SEED") or "") or 424242

local function ref_ifind(h, n)
  return (h:lower():find(n:lower(), 1, true))
end

local current = core._search_impl()
local _, impls = core._search_impl()

describe("fastmatch.core._search_impl", function()
  it("names the caseless implementation in use and those this CPU has", function()
    assert.is_string(current)
    assert.is_table(impls)
    local has = {}
    for _, name in ipairs(impls) do has[name] = true end
    assert.is_true(has.scalar)
    assert.is_true(has[current])
    print(("  caseless search: %s (available: %s)"):format(current, table.concat(impls, ", ")))
  end)
  it("raises for an implementation this CPU or build lacks", function()
    assert.has_error(function() core._search_impl("neon-on-x86") end)
  end)
end)

describe("fastmatch.contains (caseless search kernels)", function()
  local ALPHA = { "a", "A", "b", "B", "z", "Z", "@", "[", "`", "{", "\0", "\193", "\225", " ", "x" }

  local function rnd(n)
    local t = {}
    for i = 1, n do t[i] = ALPHA[math.random(#ALPHA)] end
    return table.concat(t)
  end

  local function flip(s)
    return (s:gsub("%a", function(c)
      if math.random(2) == 1 then return c:upper() end
      return c:lower()
    end))
  end

  after_each(function() core._search_impl(current) end)

  for _, impl in ipairs(impls) do
    it(("agrees with string.lower + find (%s, seed %d)"):format(impl, SEED), function()
      core._search_impl(impl)
      math.randomseed(SEED)
      for round = 1, 3000 do
        local h = rnd(math.random(0, round % 10 == 0 and 300 or 80))
        local n
        if #h > 0 and math.random(3) > 1 then
          local i = math.random(#h)
          n = flip(h:sub(i, i + math.random(0, 40)))
        else
          n = rnd(math.random(1, 6))
        end
        local want = ref_ifind(h, n)
        local got = fm.contains(h, n, true)
        if got ~= want then
          error(("seed %d (%s): contains(%q, %q, true) = %s, want %s"):format(
            SEED, impl, h, n, tostring(got), tostring(want)))
        end
      end
    end)

    it(("finds needles at every offset around the vector widths (%s)"):format(impl), function()
      core._search_impl(impl)
      for len = 1, 70 do
        local needle = ("Ab"):rep(len):sub(1, len) .. "Q"
        for pos = 0, 70 do
          local h = ("x"):rep(pos) .. needle:upper() .. ("y"):rep(70 - pos)
          assert.equal(pos + 1, fm.contains(h, needle, true))
          -- the last byte of the haystack, and a needle that runs off the end
          assert.is_nil(fm.contains(h:sub(1, pos + #needle - 1), needle, true))
        end
      end
    end)

    it(("folds only ASCII letters (%s)"):format(impl), function()
      core._search_impl(impl)
      local pad = ("-"):rep(40)
      assert.is_nil(fm.contains(pad .. "[\\]^_" .. pad, "{|}~\127", true))
      assert.is_nil(fm.contains(pad .. "\193\194" .. pad, "\225\226", true))
      assert.is_nil(fm.contains(pad .. "@" .. pad, "`", true))
      assert.equal(42, fm.contains(pad .. "\0QZ\0" .. pad, "qz\0", true))
    end)
  end
end)

describe("fastmatch.contains (exact search)", function()
  it("agrees with string.find plain", function()
    math.randomseed(SEED)
    for _ = 1, 2000 do
      local h = {}
      for i = 1, math.random(0, 60) do h[i] = string.char(math.random(0, 3) + 97) end
      h = table.concat(h)
      local n = {}
      for i = 1, math.random(1, 4) do n[i] = string.char(math.random(0, 3) + 97) end
      n = table.concat(n)
      assert.equal(h:find(n, 1, true), fm.contains(h, n))
    end
  end)
end)

describe("fastmatch.iequals (ASCII folding; non-ASCII letters: text_spec)", function()
  it("folds exactly A-Z to a-z, for all byte pairs", function()
    for b = 0, 255 do
      local x = string.char(b)
      for c = 0, 255 do
        local y = string.char(c)
        if fm.iequals(x, y) ~= (x:lower() == y:lower()) then
          error(("iequals(%d, %d)"):format(b, c))
        end
      end
    end
  end)
  it("agrees with string.lower on long strings (eight bytes at a time)", function()
    math.randomseed(SEED)
    for _ = 1, 3000 do
      local t = {}
      for i = 1, math.random(0, 40) do t[i] = string.char(math.random(0, 255)) end
      local a = table.concat(t)
      local b = a:gsub("%a", function(c) return math.random(2) == 1 and c:upper() or c:lower() end)
      if math.random(4) == 1 and #b > 0 then
        -- a high byte becomes ASCII, never another high byte: that could turn
        -- a UTF-8 letter into its other case, which iequals folds too
        local i = math.random(#b)
        local r = b:byte(i) >= 0x80 and math.random(0, 127) or math.random(0, 255)
        b = b:sub(1, i - 1) .. string.char(r) .. b:sub(i + 1)
      end
      assert.equal(a:lower() == b:lower(), fm.iequals(a, b))
    end
  end)
end)

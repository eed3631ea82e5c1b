-- The block search: a line filter whose matcher requires a literal searches
-- whole buffers for it and tests only the lines around its hits.  Every
-- result must be what the per-line path gives (core._block_search(false)):
-- the lines, their numbers, keep_newline, crlf, and the max_line error
-- with its line number, even when no literal hits the long line.  And
-- fm.count_lines with threads must agree with one thread.
local fm = require "fastmatch"
local core = require "fastmatch.core" -- the private entry points (_block_search, _literals)

local SEED = tonumber(os.getenv("FM_SEED")) or 20261130
print(("blocksearch_spec: random seed %d (set FM_SEED to change)"):format(SEED))

local tmpfiles = {}
local function tmpfile(content)
  local p = os.tmpname()
  local f = assert(io.open(p, "wb"))
  f:write(content)
  f:close()
  tmpfiles[#tmpfiles + 1] = p
  return p
end
teardown(function()
  for _, p in ipairs(tmpfiles) do os.remove(p) end
  core._block_search(true)
end)

local function q(s) return ("%q"):format(s):gsub("\n", "n") end

-- Random input: short lines from pieces that make hits, near misses, CR,
-- NUL and invalid UTF-8; now and then a long line.
local pieces = { "mimikatz", "MIMIKATZ", "mImIkAtZ", "mimi", "katz", "mimikat", "x", "yy", " ",
  "\r", "\0", "\255", "\195\164", "ärger", "ÄRGER", "sekurlsa::", "a", "b", "ab", "\r\n", "\n",
  "\n", "\n", "\n", "error", "Error" }
local function gen(nlines)
  local out = {}
  for i = 1, nlines do
    local k = math.random(0, 6)
    if math.random(40) == 1 then k = math.random(50, 400) end
    local l = {}
    for j = 1, k do l[j] = pieces[math.random(#pieces)] end
    out[#out + 1] = table.concat(l)
    out[#out + 1] = "\n"
  end
  if math.random(2) == 1 then out[#out] = nil end -- last line without '\n'
  return table.concat(out)
end

-- Everything an iteration gives, the error included.
local function run(src, opts, lines_of)
  local out = {}
  local ok, err = pcall(function()
    for l, n in (lines_of and fm.lines_of or fm.lines)(src, opts) do
      out[#out + 1] = (n or "") .. ":" .. l
    end
  end)
  if not ok then out[#out + 1] = "error: " .. tostring(err):gsub("^.-fastmatch:", "fastmatch:") end
  return table.concat(out, "|")
end

local function count(src, opts)
  local ok, n = pcall(fm.count_lines, src, opts)
  return ok and n or ("error: " .. tostring(n):gsub("^.-fastmatch:", "fastmatch:"))
end

local function both(f)
  core._block_search(false)
  local a = f()
  core._block_search(true)
  local b = f()
  return a, b
end

local function matchers()
  return {
    ["*mimikatz*"] = fm.wildcard("*mimikatz*"),
    ["*mimikatz* cased"] = fm.wildcard("*mimikatz*", { cased = true }),
    ["mimi*"] = fm.wildcard("mimi*"),
    ["*katz"] = fm.wildcard("*katz"),
    ["mimikatz"] = fm.wildcard("mimikatz"),
    ["*a?b*"] = fm.wildcard("*a?b*"),
    ["*mimi*katz*"] = fm.wildcard("*mimi*katz*"),
    ["*ärger*"] = fm.wildcard("*ärger*"),
    ["*x\\nx*"] = fm.wildcard("*x\nx*"),
    ["*\\r*"] = fm.wildcard("*\r*"),
    ["*\\0*"] = fm.wildcard("*\0*"),
    ["*"] = fm.wildcard("*"),
    ["set"] = fm.set({ "*mimikatz*", "*sekurlsa::*", "ab" }),
    ["set with *"] = fm.set({ "*mimikatz*", "*" }),
    ["set cased"] = fm.set({ "*MIMI*", "*katz", "x?y*", "*ärger*" }, { cased = true }),
    ["set of 9"] = fm.set({ "*a*", "*b*", "*x*", "*yy*", "*mimi*", "*katz*", "*err*", "*\r*", "*z*" }),
    ["regex mimi.*katz i"] = fm.compile("mimi.*katz", "i"),
    ["regex literal"] = fm.compile("MIMIKATZ"),
    ["regex u"] = fm.compile("ärger", "iu"),
    ["regex alternation"] = fm.compile("mimikatz|sekurlsa", "i"),
    ["regex classes and groups"] = fm.compile("[mM]imi(k)?atz\\.?x*y+", ""),
    ["regex last code unit"] = fm.compile("\\d+z", "i"),
    ["regex first code unit"] = fm.compile("a\\d", ""),
    ["regex escapes"] = fm.compile("\\r\\x00|x", ""),
    ["regex inline options"] = fm.compile("(?i)MIMI\\w", ""),
    ["regex u, no letters"] = fm.compile("::\\w", "iu"),
    ["rex face"] = require("fastmatch.rex").new("mimi.katz", "i"),
  }
end

describe("the block search (fm.lines / fm.count_lines with a filter)", function()
  it("agrees with the per-line path on random files (seed " .. SEED .. ")", function()
    math.randomseed(SEED)
    local ms = matchers()
    local names = {}
    for k in pairs(ms) do names[#names + 1] = k end
    table.sort(names)
    for round = 1, 60 do
      local data = gen(math.random(0, 300))
      local path = tmpfile(data)
      for _, name in ipairs(names) do
        local opts = {
          filter = ms[name],
          buffer = ({ 1, 2, 3, 7, 64, 4096, 65536 })[math.random(7)],
          crlf = math.random(2) == 1,
          keep_newline = math.random(2) == 1,
          lineno = true,
          max_line = math.random(3) == 1 and math.random(0, 300) or nil,
        }
        local where = ("seed %d round %d matcher %s buffer %d crlf %s max_line %s"):format(
          SEED, round, name, opts.buffer, tostring(opts.crlf), tostring(opts.max_line))
        local a, b = both(function() return run(path, opts) end)
        assert(a == b, where .. ": fm.lines\nper line: " .. q(a) .. "\nblock:    " .. q(b))
        a, b = both(function() return run(data, opts, true) end)
        assert(a == b, where .. ": fm.lines_of\nper line: " .. q(a) .. "\nblock:    " .. q(b))
        local copts = { filter = opts.filter, buffer = opts.buffer, crlf = opts.crlf,
          max_line = opts.max_line }
        a, b = both(function() return count(path, copts) end)
        assert(a == b, where .. ": count_lines: per line " .. a .. ", block " .. b)
      end
    end
  end)

  it("finds hits at block edges and in lines longer than the block", function()
    local w = fm.wildcard("*needle*")
    for _, block in ipairs({ 1, 2, 5, 6, 7, 8, 13, 64 }) do
      for pad = 0, 20 do
        local data = ("x"):rep(pad) .. "\n" .. ("y"):rep(pad) .. "NEEDLE" .. ("z"):rep(pad) ..
            "\n" .. ("w"):rep(3 * block) .. "needle\nnone\nneedle"
        local a, b = both(function() return run(data, { filter = w, lineno = true, buffer = block }, true) end)
        assert.equal(a, b)
        assert.equal("2:" .. ("y"):rep(pad) .. "NEEDLE" .. ("z"):rep(pad) .. "|3:" ..
          ("w"):rep(3 * block) .. "needle|5:needle", b)
      end
    end
  end)

  it("raises max_line for a long line that no literal hits, naming it", function()
    local w = fm.wildcard("*needle*")
    local data = "needle 1\nshort\n" .. ("x"):rep(100) .. "\nneedle 4\n"
    for _, block in ipairs({ 1, 16, 65536 }) do
      local a, b = both(function() return run(data, { filter = w, lineno = true, max_line = 50, buffer = block }, true) end)
      assert.equal(a, b)
      assert.equal("1:needle 1|error: fastmatch: line 3 longer than max_line (50 bytes; raise opts.max_line)", b)
    end
  end)

  it("counts the same with threads as with one (regular files)", function()
    math.randomseed(SEED)
    local big = {}
    for i = 1, 20000 do
      big[i] = ("line %d %s"):format(i, math.random(50) == 1 and "MimiKatz" or ("x"):rep(math.random(0, 80)))
    end
    local path = tmpfile(table.concat(big, "\n"))
    local ms = matchers()
    for name, m in pairs(ms) do
      for _, threads in ipairs({ 0, 2, 3, 7 }) do
        for _, buffer in ipairs({ 1000, 65536 }) do
          local one = count(path, { filter = m, buffer = buffer })
          local many = count(path, { filter = m, buffer = buffer, threads = threads })
          assert(one == many, ("%s threads %d buffer %d: %s vs %s"):format(name, threads, buffer,
            tostring(one), tostring(many)))
        end
      end
    end
    -- an error found by a thread is reported as one thread reports it
    local m = fm.wildcard("*mimikatz*")
    local long = tmpfile(table.concat(big, "\n", 1, 15000) .. "\n" .. ("q"):rep(5000) .. "\n" ..
      table.concat(big, "\n", 15001))
    assert.equal(count(long, { filter = m, max_line = 1000, buffer = 1000 }),
      count(long, { filter = m, max_line = 1000, threads = 2, buffer = 1000 }))
    assert.matches("line 15001 longer", count(long, { filter = m, max_line = 1000, threads = 2 }))
  end)

  it("asks each matcher for the literal its matches need (core._literals)", function()
    local function lits(m)
      local t = {}
      for _, l in ipairs(core._literals(m)) do t[#t + 1] = l[1] .. (l[2] and "/i" or "") end
      return table.concat(t, " ")
    end
    assert.equal("mimikatz/i", lits(fm.wildcard("*mimikatz*")))
    assert.equal("MiMi", lits(fm.wildcard("*MiMi*", { cased = true })))
    assert.equal("rger/i", lits(fm.wildcard("*ÄRGER*"))) -- the ASCII run of a folded literal
    assert.equal("", lits(fm.wildcard("*?*")))
    assert.equal("a/i b/i cd/i", lits(fm.set({ "*a*", "b*", "*cd" })))
    assert.equal("", lits(fm.set({ "*a*", "*" })))
    assert.equal("mimikatz/i", lits(fm.compile("mimikatz.*sekurlsa", "i")))
    assert.equal("foo.bar", lits(fm.compile("foo\\.bar")))
    assert.equal("def", lits(fm.compile("a+bc?def")))     -- quantified atoms are not required
    assert.equal("yz", lits(fm.compile("x(abc)?yz")))
    assert.equal("z/i", lits(fm.compile("\\d+z", "i")))   -- PCRE2's last code unit
    assert.equal("", lits(fm.compile("mimikatz|sekurlsa")))
    assert.equal("", lits(fm.compile("(?i)abc")))        -- inline options: line by line
    assert.equal("", lits(fm.compile("abc", "u")))       -- UTF checks every line it tests
    assert.equal("", lits(fm.compile("a b c", "x")))
  end)

  it("takes from a regex only literals that every match contains (random patterns, seed " .. SEED .. ")", function()
    math.randomseed(SEED)
    local atoms = { "a", "b", "ab", "A", "\\.", ".", "\\d", "\\w", "[ab]", "[^a]", "(a|b)", "(ab)",
      "(?:ba)", "x", "\\\\", "\\x41", "\\Qa.b\\E", "^", "$", "\\b", "a{2}", "b{1,2}", "\\n", " ", "-",
      "\\-", "[]a]", "[[:alpha:]]", "\\K", "(?=a)", "(?i)a", "\\p{L}", "\\N", "#", "\\e", "\\t", "]", "}" }
    local quants = { "", "", "", "?", "*", "+", "{0,1}", "??", "*?", "+?", "?+", "{2}" }
    local subjects = { "a", "b", "ab", "ba", "A", "AB", "xab", "a.b", "ab-", "a b", "\\", "aab", "abab",
      "B.A", "x", "xx", "1a", "a1", "]a", "-ab" }
    local checked = 0
    for _ = 1, 4000 do
      local t = {}
      for i = 1, math.random(1, 5) do t[i] = atoms[math.random(#atoms)] .. quants[math.random(#quants)] end
      local p = table.concat(t)
      local flags = ({ "", "i", "m", "s", "U", "im" })[math.random(6)]
      local ok, re = pcall(fm.compile, p, flags)
      local lit = ok and core._literals(re)[1]
      if lit then
        for _ = 1, 20 do
          local u = {}
          for i = 1, math.random(0, 6) do u[i] = subjects[math.random(#subjects)] end
          local s = table.concat(u)
          if re:test(s) then
            checked = checked + 1
            assert(fm.contains(s, lit[1], lit[2]), ("seed %d: %q (%q) matches %q without its literal %q"):format(
              SEED, p, flags, s, lit[1]))
          end
        end
      end
    end
    assert.is_true(checked > 1000)
  end)

  it("takes threads = N only from count_lines, as an integer", function()
    local path = tmpfile("a\nb\n")
    assert.equal(2, fm.count_lines(path, { threads = 2 }))
    assert.has_error(function() fm.lines(path, { threads = 2 }) end,
      "bad argument #2 to 'lines' (unknown option 'threads')")
    assert.has_error(function() fm.count_lines(path, { threads = -1 }) end)
    assert.has_error(function() fm.count_lines(path, { threads = 1.5 }) end)
  end)

  it("takes the options third after a filter, as count_lines(src, m, {threads = N})", function()
    local lines = {}
    for i = 1, 30000 do lines[i] = (i % 7 == 0) and ("x mimikatz " .. i) or ("plain line " .. i) end
    local path = tmpfile(table.concat(lines, "\n") .. "\n")
    local m = fm.wildcard("*MIMIKATZ*")
    local want = fm.count_lines(path, m)
    assert.equal(math.floor(30000 / 7), want)
    for _, threads in ipairs({ 1, 2, 0 }) do
      assert.equal(want, fm.count_lines(path, m, { threads = threads, buffer = 4096 }))
    end
    assert.equal(want, fm.count_lines(path, nil, { filter = nil, threads = 2 }) - (30000 - want))
    -- the options are read, not ignored: a limit set there holds
    assert.has_error(function() fm.count_lines(path, m, { max_line = 5, threads = 2 }) end)
    local n = 0
    assert.equal(want, fm.count_lines(path, function(l) n = n + 1; return l:find("mimikatz", 1, true) ~= nil end, {}))
    assert.equal(30000, n)
    assert.has_error(function() fm.count_lines(path, m, { filter = m }) end,
      "bad argument #3 to 'count_lines' (unknown option 'filter')")
    assert.has_error(function() fm.count_lines(path, m, { thread = 2 }) end,
      "bad argument #3 to 'count_lines' (unknown option 'thread')")
    assert.has_error(function() fm.count_lines(path, m, 2) end)
    assert.has_error(function() fm.count_lines(path, { filter = m }, { threads = 2 }) end,
      "bad argument #2 to 'count_lines' (a filter expected when options follow)")
  end)
end)

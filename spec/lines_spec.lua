-- Streaming line input: fm.lines, fm.lines_of, fm.count_lines.
-- The reference is Lua's own io.lines (and its "L" format for keep_newline).
local C = require "spec.compat"
local fm = require "fastmatch"

local SEED = tonumber(os.getenv("FM_SEED")) or 20261125
print(("lines_spec: random seed %d (set FM_SEED to change)"):format(SEED))

local tmpfiles = {}
local function tmpfile(content)
  local p = os.tmpname()
  local f = assert(io.open(p, "wb"))
  f:write(content)
  f:close()
  tmpfiles[#tmpfiles + 1] = p
  return p
end

local function collect(iter, s, c, tbc)
  local out = {}
  for l in iter, s, c, tbc do out[#out + 1] = l end
  return out
end

-- a line-by-line reference splitter in Lua
local function split(s, keep)
  local out, pos = {}, 1
  while pos <= #s do
    local nl = s:find("\n", pos, true)
    if not nl then out[#out + 1] = s:sub(pos); break end
    out[#out + 1] = s:sub(pos, keep and nl or nl - 1)
    pos = nl + 1
  end
  return out
end

-- io.lines is the reference where it reads lines whole: 5.1, 5.2 and LuaJIT's
-- stop at a NUL byte (fgets + strlen) and take "*L", not "L", so
-- there the reference is the file read whole and split in Lua.
local IO_LINES_WHOLE = C.num >= 5.3
if not IO_LINES_WHOLE then
  C.skip("io.lines cuts lines at NUL bytes (and wants \"*L\" for \"L\"): the reference is the file split in Lua")
end
local function io_lines(p, fmt)
  if not IO_LINES_WHOLE then
    local f = assert(io.open(p, "rb"))
    local s = f:read("*a")
    f:close()
    return split(s, fmt == "L")
  end
  if fmt then return collect(io.lines(p, fmt)) end
  return collect(io.lines(p))
end

local function shq(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- the number of descriptors this process has open on the spec's temp files
-- (os.execute, not io.popen: a popen pipe would be counted, racily)
local TMPPREFIX
do
  local probe = os.tmpname()
  os.remove(probe)
  TMPPREFIX = probe:match("^(.*/lua_)") or probe:match("^(.*/)")
end
local function nfds(nocollect)
  if not nocollect then
    collectgarbage() -- files other tests left to the collector close now
    collectgarbage()
  end
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("*n")
  f:close()
  local out = os.tmpname()
  os.execute(("ls -l /proc/%d/fd | grep -c %s > %s"):format(pid, shq(TMPPREFIX), out))
  f = assert(io.open(out))
  local n = f:read("*n")
  f:close()
  os.remove(out)
  return n
end

local EDGE = {
  empty = "",
  one_line_no_newline = "hello",
  one_line = "hello\n",
  only_newlines = "\n\n\n\n",
  crlf = "a\r\nbb\r\n\r\nccc\r\n",
  nul_bytes = "a\0b\n\0\n\0\0\0\nlast\0",
  mixed = "x\n\nyy\r\n\r\rzzz\n" .. ("w"):rep(300) .. "\nend",
}

local HAVE_COMPILE = type(fm.compile) == "function"
local HAVE_WILDCARD = type(fm.wildcard) == "function"
local HAVE_SET = type(fm.set) == "function"

teardown(function()
  for _, p in ipairs(tmpfiles) do os.remove(p) end
end)

describe("fastmatch.lines", function()
  it("yields exactly what io.lines yields on edge files", function()
    for name, content in pairs(EDGE) do
      local p = tmpfile(content)
      assert.same(io_lines(p), collect(fm.lines(p)), name)
    end
  end)

  it("keeps the newline with keep_newline, like io.lines' \"L\"", function()
    for name, content in pairs(EDGE) do
      local p = tmpfile(content)
      assert.same(io_lines(p, "L"), collect(fm.lines(p, { keep_newline = true })), name)
    end
  end)

  it("splits lines that straddle every block boundary (tiny buffers)", function()
    -- line lengths 0..40 so that every offset of a newline in a block occurs
    local parts = {}
    for i = 0, 40 do parts[#parts + 1] = ("%s"):format(("abcdefghij"):rep(5):sub(1, i)) end
    local content = table.concat(parts, "\n") .. "\r\n\n" .. table.concat(parts, "\r\n")
    local p = tmpfile(content)
    local want, wantL = io_lines(p), io_lines(p, "L")
    for buffer = 1, 45 do
      assert.same(want, collect(fm.lines(p, { buffer = buffer })), "buffer " .. buffer)
      assert.same(wantL, collect(fm.lines(p, { buffer = buffer, keep_newline = true })),
        "buffer " .. buffer)
    end
  end)

  it("returns a 10 MB single line whole (the buffer grows)", function()
    local big = ("0123456789abcdef"):rep(C.idiv(10 * 1024 * 1024, 16))
    local p = tmpfile(big .. "\nafter\n" .. big)
    local got = collect(fm.lines(p))
    assert.equal(3, #got)
    assert.is_true(got[1] == big and got[3] == big)
    assert.equal("after", got[2])
    assert.same(io_lines(p), got)
  end)

  it("agrees with io.lines on random files with random buffer sizes", function()
    math.randomseed(SEED)
    local alphabet = { "a", "b", "\n", "\n", "\r", "\0", "xyz" }
    for round = 1, 200 do
      local t = {}
      for i = 1, math.random(0, 200) do t[i] = alphabet[math.random(#alphabet)] end
      local content = table.concat(t)
      local p = tmpfile(content)
      local buffer = math.random(1, 64)
      assert.same(io_lines(p), collect(fm.lines(p, { buffer = buffer })),
        ("seed %d round %d buffer %d"):format(SEED, round, buffer))
      assert.same(io_lines(p, "L"), collect(fm.lines(p, { buffer = buffer, keep_newline = true })),
        ("seed %d round %d buffer %d (L)"):format(SEED, round, buffer))
    end
  end)

  it("strips a \\r before the \\n with crlf (and only there)", function()
    local p = tmpfile("a\r\nb\n\r\n\rc\r\r\nlast\r")
    assert.same({ "a", "b", "", "\rc\r", "last\r" }, collect(fm.lines(p, { crlf = true })))
    -- with keep_newline too, "\r\n" comes out as "\n": crlf strips the \r in both modes
    assert.same({ "a\n", "b\n", "\n", "\rc\r\n", "last\r" },
      collect(fm.lines(p, { crlf = true, keep_newline = true })))
    assert.same({ "a\n", "b\n", "\n", "\rc\r\n", "last\r" },
      collect(fm.lines_of("a\r\nb\n\r\n\rc\r\r\nlast\r", { crlf = true, keep_newline = true })))
    assert.same({ "a\n", "b\n", "\n", "\rc\r\n", "last\r" },
      collect(fm.lines(p, { crlf = true, keep_newline = true, buffer = 1 })))
  end)

  it("returns line numbers with lineno", function()
    local p = tmpfile("a\n\nb\nc")
    local got = {}
    for l, n in fm.lines(p, { lineno = true }) do got[#got + 1] = n .. "=" .. l end
    assert.same({ "1=a", "2=", "3=b", "4=c" }, got)
  end)

  it("raises naming the line when a line is longer than max_line", function()
    local p = tmpfile("ab\nabc\nabcd\nabcde\n")
    assert.same({ "ab", "abc", "abcd", "abcde" }, collect(fm.lines(p, { max_line = 5 })))
    assert.has_error(function() collect(fm.lines(p, { max_line = 3 })) end,
      "fastmatch: line 3 longer than max_line (3 bytes; raise opts.max_line)")
    -- also when the long line is still being read (tiny buffer), and for the last line
    assert.has_error(function() collect(fm.lines(p, { max_line = 1, buffer = 1 })) end,
      "fastmatch: line 1 longer than max_line (1 bytes; raise opts.max_line)")
    local q = tmpfile("a\n" .. ("x"):rep(100))
    assert.has_error(function() collect(fm.lines(q, { max_line = 99 })) end,
      "fastmatch: line 2 longer than max_line (99 bytes; raise opts.max_line)")
    -- with crlf the \r of the terminator does not count
    local r = tmpfile("abc\r\n")
    assert.same({ "abc" }, collect(fm.lines(r, { max_line = 3, crlf = true, buffer = 1 })))
    assert.has_error(function() collect(fm.lines(r, { max_line = 3 })) end)
  end)

  it("reads an open Lua file, including what stdio has buffered already", function()
    local p = tmpfile("first\nsecond\nthird\n")
    local f = assert(io.open(p))
    assert.equal("fi", f:read(2)) -- stdio now holds the whole file
    assert.same({ "rst", "second", "third" }, collect(fm.lines(f)))
    assert.equal(nil, f:read(1)) -- at the end, and still open
    assert.equal("file", io.type(f))
    f:close()
  end)

  it("reads a pipe opened with io.popen", function()
    local h = assert(io.popen("printf 'a\\nbb\\n\\nlast'"))
    assert.same({ "a", "bb", "", "last" }, collect(fm.lines(h, { buffer = 2 })))
    assert.is_true(h:close())
  end)

  it("leaves an open Lua file right after the last line on break", function()
    local p = tmpfile("one\ntwo\nthree\nfour\n")
    local f = assert(io.open(p))
    if C.has_close then
      for l in fm.lines(f) do if l == "two" then break end end
    else
      -- before 5.4 a generic for closes nothing on break: the 4th value's
      -- close() gives the unread bytes back
      C.skip("a generic for closes its 4th value on break only from Lua 5.4 on: closing by hand")
      local iter, s, c, obj = fm.lines(f)
      for l in iter, s, c, obj do if l == "two" then break end end
      obj:close()
    end
    assert.equal("three\nfour\n", f:read("*a"))
    f:close()
  end)

  it("reads stdin for \"-\" (child process)", function()
    local p = tmpfile("a\r\n\nb\0c\nlast")
    local code = [[local fm = require "fastmatch"
      local function q(s) return '"' .. s:gsub("[%c\"\\]", function(c) return "\\" .. c:byte() end) .. '"' end
      for l, n in fm.lines("-", { lineno = true }) do io.write(n, ":", q(l), ";") end
      io.write(fm.count_lines("-"))]]
    local h = assert(io.popen(C.lua .. " -e " .. shq(code) .. " < " .. p))
    local out = h:read("*a")
    assert.is_true(h:close())
    assert.equal('1:"a\\13";2:"";3:"b\\0c";4:"last";0', out)
    -- a pipe: lines as they come, and what stdio already read is not lost
    code = [[local fm = require "fastmatch"
      io.write(io.read("*l"), "|")
      for l in fm.lines("-") do io.write(l, ";") end]]
    h = assert(io.popen("printf 'head\\nx\\ny\\n' | " .. C.lua .. " -e " .. shq(code)))
    out = h:read("*a")
    assert.is_true(h:close())
    assert.equal("head|x;y;", out)
  end)

  it("hands out lines from a pipe as they arrive, without waiting for a full block", function()
    -- the producer sends "b" only after the consumer has seen "a": a reader
    -- that waited for a whole block would see "a" only after the producer gave up
    local flag = os.tmpname()
    os.remove(flag)
    local producer = ("printf 'a\\n'; i=0; while [ ! -e %s ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done;"
      .. " if [ -e %s ]; then printf 'b\\n'; else printf 'late\\n'; fi"):format(flag, flag)
    local consumer = ([[local fm = require "fastmatch"
      for l in fm.lines("-") do
        io.write(l)
        if l == "a" then io.open(%q, "w"):close() end
      end]]):format(flag)
    local h = assert(io.popen("(" .. producer .. ") | " .. C.lua .. " -e " .. shq(consumer)))
    local out = h:read("*a")
    h:close()
    os.remove(flag)
    assert.equal("ab", out)
  end)

  it("closes a file opened from a path when the loop ends, breaks or errors", function()
    local p = tmpfile("a\nb\nc\n")
    local before = nfds()
    collectgarbage("stop") -- so that only the loops can close them
    if not C.has_close then
      C.skip("a generic for closes its 4th value on break or error only from Lua 5.4 on: "
        .. "checking the end of the loop, and close() after break and error")
    end
    for _ = 1, 20 do
      for _ in fm.lines(p) do end
      if C.has_close then
        for _ in fm.lines(p) do break end
        pcall(function() for _ in fm.lines(p) do error("boom") end end)
      else
        local iter, s, c, obj = fm.lines(p)
        for _ in iter, s, c, obj do break end
        obj:close()
        iter, s, c, obj = fm.lines(p)
        pcall(function() for _ in iter, s, c, obj do error("boom") end end)
        obj:close()
      end
    end
    local after = nfds(true)
    collectgarbage("restart")
    assert.equal(before, after)
    -- the 4th value is the to-be-closed object
    local iter, s, c, obj = fm.lines(p)
    assert.is_nil(s)
    assert.is_nil(c)
    assert.equal("fastmatch.lines", getmetatable(obj).__name)
    for _ in iter, s, c, obj do break end
    if not C.has_close then obj:close() end
    assert.matches("closed", tostring(obj))
  end)

  it("closes on garbage collection", function()
    local p = tmpfile("a\nb\n")
    collectgarbage()
    local before = nfds()
    for _ = 1, 20 do
      local iter = fm.lines(p)
      assert.equal("a", iter())
    end
    collectgarbage()
    collectgarbage()
    assert.equal(before, nfds())
  end)

  it("raises when iterated after close", function()
    local p = tmpfile("a\nb\n")
    local iter, _, _, obj = fm.lines(p)
    assert.equal("a", iter())
    obj:close()
    assert.has_error(iter, "fastmatch: line iterator is closed")
    iter = fm.lines(p)
    assert.same({ "a", "b" }, { iter(), iter() })
    assert.is_nil(iter()) -- end of input closes it, as io.lines
    assert.has_error(iter, "fastmatch: line iterator is closed")
  end)

  it("raises for a path that cannot be opened", function()
    assert.has_error(function() fm.lines("/nonexistent/x") end,
      "fastmatch: cannot open '/nonexistent/x': No such file or directory")
  end)

  it("raises a read error with the OS message", function()
    assert.has_error(function() collect(fm.lines("/")) end,
      "fastmatch: cannot read '/': Is a directory")
  end)

  it("raises when the Lua file is closed under it", function()
    local p = tmpfile(("x"):rep(100) .. "\n" .. ("y"):rep(100) .. "\n")
    local f = assert(io.open(p))
    local iter = fm.lines(f, { buffer = 16 })
    assert.equal(("x"):rep(100), iter())
    f:close()
    assert.has_error(iter, "fastmatch: attempt to use a closed file")
  end)

  it("rejects bad arguments", function()
    assert.has_error(function() fm.lines({}) end)
    assert.has_error(function() fm.lines(tmpfile("a"), { buffer = 0 }) end)
    assert.has_error(function() fm.lines(tmpfile("a"), { max_line = -1 }) end)
    assert.has_error(function() fm.lines(tmpfile("a"), { filter = 42 }) end,
      "bad argument #2 to 'lines' (filter must be a matcher or a function, got number)")
    assert.has_error(function() fm.lines(tmpfile("a") .. "\0x") end,
      "bad argument #1 to 'lines' (path contains a NUL byte)")
    local f = assert(io.open(tmpfile("a")))
    f:close()
    assert.has_error(function() fm.lines(f) end, "attempt to use a closed file")
  end)

  it("rejects an unknown option, so that a misspelt one is not ignored", function()
    local p = tmpfile("a\n")
    assert.has_error(function() fm.lines(p, { keep_newlines = true }) end,
      "bad argument #2 to 'lines' (unknown option 'keep_newlines')")
    assert.has_error(function() fm.lines_of("a", { line_no = true }) end,
      "bad argument #2 to 'lines_of' (unknown option 'line_no')")
    assert.has_error(function() fm.count_lines(p, { filters = fm.wildcard("a") }) end,
      "bad argument #2 to 'count_lines' (unknown option 'filters')")
    assert.has_error(function() fm.lines(p, { "a" }) end,
      "bad argument #2 to 'lines' (unknown option '1')")
    -- every documented one is accepted, by fm.count_lines too
    local all = { buffer = 8, max_line = 10, crlf = true, keep_newline = true, lineno = true,
      filter = function() return true end }
    assert.same({ "a\n" }, collect(fm.lines(p, all)))
    assert.equal(1, fm.count_lines(p, all))
  end)
end)

describe("fastmatch.lines filters", function()
  local content = table.concat({
    "GET /index.html 200", "POST /login 401", "get /ERROR 500", "", "GET /error.png 200",
    "DELETE /x 204", "error: disk full", "ok",
  }, "\n") .. "\n"

  -- the reference: lines (with their file line numbers) for which keep(line) is true
  local function reference(keep)
    local out = {}
    for i, l in ipairs(split(content)) do
      if keep(l) then out[#out + 1] = i .. ":" .. l end
    end
    return out
  end
  local function filtered(p, filter, opts)
    local out = {}
    opts = opts or {}
    opts.filter, opts.lineno = filter, true
    for l, n in fm.lines(p, opts) do out[#out + 1] = n .. ":" .. l end
    return out
  end
  local function has_error_ci(l) return l:lower():find("error", 1, true) ~= nil end

  it("keeps lines for which a Lua function returns true, with file line numbers", function()
    local p = tmpfile(content)
    local want = reference(has_error_ci)
    assert.same({ "3:get /ERROR 500", "5:GET /error.png 200", "7:error: disk full" }, want)
    assert.same(want, filtered(p, has_error_ci))
    assert.same(want, filtered(p, has_error_ci, { buffer = 3 }))
    assert.equal(#want, fm.count_lines(p, has_error_ci))
  end)

  it("passes the line without its newline to the filter, and the line number", function()
    local p = tmpfile("a\r\nb\n")
    local seen = {}
    for _ in fm.lines(p, { crlf = true, keep_newline = true,
      filter = function(l, n) seen[#seen + 1] = n .. "=" .. l; return true end }) do end
    assert.same({ "1=a", "2=b" }, seen)
    assert.same({ "a\n" }, collect(fm.lines(p, { keep_newline = true, crlf = true,
      filter = function(l) return l == "a" end })))
    assert.same({ "a\r\n" }, collect(fm.lines(p, { keep_newline = true,
      filter = function(l) return l == "a\r" end })))
  end)

  it("propagates an error raised by a Lua filter", function()
    local p = tmpfile("a\n")
    assert.has_error(function()
      collect(fm.lines(p, { filter = function() error("filter failed", 0) end }))
    end, "filter failed")
  end)

  it("filters with a compiled regex", function()
    if not HAVE_COMPILE then print("SKIP: fm.compile not in this build (regex branch not merged)") return end
    local p = tmpfile(content)
    local re = fm.compile("^(GET|POST) /\\w+\\.\\w+", "i")
    local want = reference(function(l) return re:test(l) end)
    assert.same({ "1:GET /index.html 200", "5:GET /error.png 200" }, want)
    assert.same(want, filtered(p, re))
    assert.same(want, filtered(p, re, { buffer = 5 }))
    assert.equal(#want, fm.count_lines(p, re))
  end)

  it("filters with a caseless wildcard", function()
    if not HAVE_WILDCARD then print("SKIP: fm.wildcard not in this build (wildcard branch not merged)") return end
    local p = tmpfile(content)
    local w = fm.wildcard("*error*")
    local want = reference(has_error_ci)
    assert.same(want, filtered(p, w))
    assert.same(want, filtered(p, w, { buffer = 2 }))
    assert.equal(3, fm.count_lines(p, w))
    assert.equal(3, fm.count_lines(p, { filter = w, buffer = 7 }))
  end)

  it("filters with a wildcard set", function()
    if not HAVE_SET then print("SKIP: fm.set not in this build (wildcard branch not merged)") return end
    local p = tmpfile(content)
    local set = fm.set({ "post *", "* 204", "ok" })
    local want = reference(function(l) return set:test(l) end)
    assert.same({ "2:POST /login 401", "6:DELETE /x 204", "8:ok" }, want)
    assert.same(want, filtered(p, set))
    assert.equal(3, fm.count_lines(p, set))
  end)

  it("creates no Lua string for lines a C matcher rejects", function()
    local m = (HAVE_WILDCARD and fm.wildcard("*needle*")) or (HAVE_COMPILE and fm.compile("needle"))
    if not m then print("SKIP: no C matcher in this build (regex/wildcard branches not merged)") return end
    local p = tmpfile(("a haystack line of some length\n"):rep(20000) .. "the needle\n")
    collectgarbage()
    collectgarbage("stop")
    local before = collectgarbage("count")
    local n = 0
    for _ in fm.lines(p, { filter = m }) do n = n + 1 end
    local grown = (collectgarbage("count") - before) * 1024
    collectgarbage("restart")
    assert.equal(1, n)
    -- 20000 strings would be over 600 KB; allow the iterator objects
    assert.is_true(grown < 16 * 1024, "Lua heap grew by " .. grown .. " bytes")
  end)

  it("raises for a matcher error (match limit)", function()
    if not HAVE_COMPILE then print("SKIP: fm.compile not in this build (regex branch not merged)") return end
    local p = tmpfile(("a"):rep(40) .. "!\n")
    local re = fm.compile("(a+)+$")
    assert.has_error(function() collect(fm.lines(p, { filter = re })) end)
    assert.has_error(function() fm.count_lines(p, re) end)
    local ok, err = pcall(collect, fm.lines(p, { filter = re }))
    assert.is_false(ok)
    assert.equal("fastmatch: match limit exceeded", (err:gsub("^.-:%d+: ", "")))
  end)

  it("takes filter = false as no filter (so `filter = cond and m` works)", function()
    assert.same({ "a", "b" }, collect(fm.lines_of("a\nb", { filter = false })))
    assert.equal(2, fm.count_lines(tmpfile("a\nb\n"), false))
    assert.equal(2, fm.count_lines(tmpfile("a\nb\n"), { filter = false }))
    assert.has_error(function() fm.lines_of("a", { filter = true }) end)
  end)

  it("names the line when a filter compiled with u meets invalid UTF-8", function()
    if not HAVE_COMPILE then print("SKIP: fm.compile not in this build (regex branch not merged)") return end
    local p = tmpfile("caf\195\169\nok\nbad \255 byte\nlast\n")
    local re = fm.compile("\\w+", "u")
    local got = {}
    local ok, err = pcall(function()
      for l in fm.lines(p, { filter = re }) do got[#got + 1] = l end
    end)
    assert.is_false(ok)
    assert.same({ "caf\195\169", "ok" }, got)
    assert.matches("fastmatch: invalid UTF-8 in subject (line 3)", err, 1, true)
    ok, err = pcall(fm.count_lines, p, re)
    assert.is_false(ok)
    assert.matches("fastmatch: invalid UTF-8 in subject (line 3)", err, 1, true)
  end)
end)

describe("fastmatch.count_lines", function()
  it("counts what fm.lines yields (final line without newline included)", function()
    for name, content in pairs(EDGE) do
      local p = tmpfile(content)
      assert.equal(#io_lines(p), fm.count_lines(p), name)
      assert.equal(#io_lines(p), fm.count_lines(p, { buffer = 3 }), name)
    end
  end)

  it("creates no Lua string", function()
    local p = tmpfile(("some line\n"):rep(50000))
    collectgarbage()
    collectgarbage("stop")
    local before = collectgarbage("count")
    local n = fm.count_lines(p)
    local grown = (collectgarbage("count") - before) * 1024
    collectgarbage("restart")
    assert.equal(50000, n)
    assert.is_true(grown < 4096, "Lua heap grew by " .. grown .. " bytes")
  end)

  it("counts an open Lua file and stdin", function()
    local p = tmpfile("a\nb\nc")
    local f = assert(io.open(p))
    assert.equal(3, fm.count_lines(f))
    f:close()
    local h = assert(io.popen("printf 'x\\ny\\n' | " .. C.lua .. " -e 'io.write(require\"fastmatch\".count_lines(\"-\"))'"))
    assert.equal("2", h:read("*a"))
    h:close()
  end)

  it("closes a file opened from a path when a Lua filter raises", function()
    local p = tmpfile("a\nb\n")
    local before = nfds()
    collectgarbage("stop") -- so that only count_lines can close them
    for _ = 1, 10 do
      assert.has_error(function() fm.count_lines(p, function() error("boom") end) end)
    end
    local after = nfds(true)
    collectgarbage("restart")
    assert.equal(before, after)
  end)

  it("raises like fm.lines for bad sources", function()
    assert.has_error(function() fm.count_lines("/nonexistent/x") end,
      "fastmatch: cannot open '/nonexistent/x': No such file or directory")
    assert.has_error(function() fm.count_lines("/") end,
      "fastmatch: cannot read '/': Is a directory")
    assert.has_error(function() fm.count_lines(tmpfile("a"), 42) end)
  end)
end)

describe("fastmatch.lines_of", function()
  it("yields what fm.lines yields for the same bytes in a file", function()
    for name, content in pairs(EDGE) do
      local p = tmpfile(content)
      assert.same(io_lines(p), collect(fm.lines_of(content)), name)
      assert.same(io_lines(p, "L"), collect(fm.lines_of(content, { keep_newline = true })), name)
    end
    math.randomseed(SEED)
    for round = 1, 200 do
      local t = {}
      for i = 1, math.random(0, 100) do t[i] = ({ "a", "\n", "\r", "\0" })[math.random(4)] end
      local s = table.concat(t)
      assert.same(split(s), collect(fm.lines_of(s)), ("seed %d round %d"):format(SEED, round))
      assert.same(split(s, true), collect(fm.lines_of(s, { keep_newline = true })))
    end
  end)

  it("supports the options of fm.lines", function()
    local got = {}
    for l, n in fm.lines_of("a\r\nbb\nccc\r\n", { crlf = true, lineno = true,
      filter = function(l) return #l ~= 2 end }) do
      got[#got + 1] = n .. l
    end
    assert.same({ "1a", "3ccc" }, got)
    assert.has_error(function() collect(fm.lines_of("abc\nabcd", { max_line = 3 })) end,
      "fastmatch: line 2 longer than max_line (3 bytes; raise opts.max_line)")
  end)

  it("keeps its string alive while iterating", function()
    local iter = fm.lines_of(("line %d\n"):rep(3):format(1, 2, 3))
    collectgarbage()
    collectgarbage()
    assert.same({ "line 1", "line 2", "line 3" }, { iter(), iter(), iter() })
  end)

  it("rejects a non-string", function()
    assert.has_error(function() fm.lines_of(io.stdin) end)
  end)
end)

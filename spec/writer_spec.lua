-- Buffered output: fm.writer.  The reference is Lua's own io.write.
local C = require "spec.compat"
local fm = require "fastmatch"

local SEED = tonumber(os.getenv("FM_SEED")) or 20261125
print(("writer_spec: random seed %d (set FM_SEED to change)"):format(SEED))

local tmpfiles = {}
local function tmpname()
  local p = os.tmpname()
  tmpfiles[#tmpfiles + 1] = p
  return p
end
local function slurp(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end
local function shq(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local ENOSPC, EBADF, EPIPE, ENOENT = 28, 9, 32, 2

teardown(function()
  for _, p in ipairs(tmpfiles) do os.remove(p) end
end)

-- random values of every kind io.write takes
local SPECIAL = { 0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 1e15, 1e16, 123456789012345.0, 2 ^ 53, 2 ^ 63,
  -2 ^ 63, 1e300, 1e-300, 4.9e-324, math.huge, -math.huge, 0 / 0, -(0 / 0), math.pi,
  C.maxinteger, C.mininteger, 0, -1, 42, 1099511627776 }
local function random_value()
  local k = math.random(6)
  if k == 1 then return SPECIAL[math.random(#SPECIAL)] end
  if k == 2 then
    if C.num >= 5.4 then return math.random(C.mininteger, C.maxinteger) end
    -- 5.3's math.random takes at most maxinteger wide; before, doubles
    local x = math.random(0, C.maxinteger)
    return math.random(2) == 1 and x or -x
  end
  if k == 3 then return (math.random() - 0.5) * 10 ^ math.random(-20, 20) end
  if k == 4 then return math.random(-1000, 1000) end
  local n = k == 5 and math.random(0, 20) or math.random(0, 300)
  local t = {}
  for i = 1, n do t[i] = string.char(math.random(0, 255)) end
  return table.concat(t)
end

describe("fastmatch.writer", function()
  it("writes exactly what io.write writes for random strings and numbers", function()
    math.randomseed(SEED)
    for round = 1, 60 do
      local calls = {}
      for i = 1, math.random(1, 80) do
        local args = {}
        for j = 1, math.random(0, 4) do args[j] = random_value() end
        calls[i] = args
      end
      local ref, mine = tmpname(), tmpname()
      io.output(ref)
      for _, args in ipairs(calls) do io.write(C.unpack(args)) end
      io.close()
      io.output(io.stdout)
      local buffer = ({ 1, 3, 16, 100, 4096 })[math.random(5)]
      local w = assert(fm.writer(mine, { buffer = buffer }))
      for _, args in ipairs(calls) do assert.equal(w, w:write(C.unpack(args))) end
      assert.is_true(w:close())
      local want = slurp(ref)
      assert.is_true(want == slurp(mine), ("seed %d round %d buffer %d"):format(SEED, round, buffer))
      assert.equal(#want, w:bytes())
    end
  end)

  it("formats numbers as io.write does (1.0 as 1, -0.0, inf, nan)", function()
    local p = tmpname()
    local w = assert(fm.writer(p))
    w:write(1.0, " ", -0.0, " ", math.huge, " ", -math.huge, " ", 2 ^ 63, " ", C.mininteger, " ", 0.1)
    w:close()
    -- mininteger: an integer from 5.3 on, before the float -2^53
    assert.equal("1 -0 inf -inf 9.2233720368548e+18 "
      .. (C.has_integers and "-9223372036854775808" or "-9.007199254741e+15") .. " 0.1", slurp(p))
  end)

  it("writeln adds a newline after its arguments", function()
    local p = tmpname()
    local w = assert(fm.writer(p))
    assert.equal(w, w:writeln("a", 1, 2.5))
    w:writeln()
    w:write("x"):writeln("y")
    w:close()
    assert.equal("a12.5\n\nxy\n", slurp(p))
  end)

  it("buffers until flush, and returns true from flush", function()
    local p = tmpname()
    local w = assert(fm.writer(p, { buffer = 8 }))
    w:write("12345")
    assert.equal("", slurp(p))
    assert.is_true(w:flush())
    assert.equal("12345", slurp(p))
    w:write("678901")
    assert.equal("12345", slurp(p))
    w:write("abc") -- does not fit: the buffer is flushed first, then takes it
    assert.equal("12345678901", slurp(p))
    w:close()
    assert.equal("12345678901abc", slurp(p))
  end)

  it("writes a string larger than the buffer straight through, after what is buffered", function()
    local p = tmpname()
    local w = assert(fm.writer(p, { buffer = 4 }))
    w:write("ab")
    w:write("0123456789")
    assert.equal("ab0123456789", slurp(p))
    w:close()
    assert.equal(12, w:bytes())
  end)

  it("truncates with mode \"w\" and appends with mode \"a\"", function()
    local p = tmpname()
    local w = assert(fm.writer(p))
    w:write("one\n")
    w:close()
    w = assert(fm.writer(p, { mode = "a" }))
    w:write("two\n")
    w:close()
    assert.equal("one\ntwo\n", slurp(p))
    w = assert(fm.writer(p, { mode = "w" }))
    w:close()
    assert.equal("", slurp(p))
  end)

  it("writes to an open Lua file after what the file has buffered, and leaves it open", function()
    local p = tmpname()
    local f = assert(io.open(p, "w"))
    f:write("head ")
    local w = assert(fm.writer(f))
    w:write("body")
    assert.is_true(w:close())
    f:write(" tail")
    assert.equal("file", io.type(f))
    f:close()
    assert.equal("head body tail", slurp(p))
  end)

  it("writes to stdout for \"-\", in order with io.write (child process)", function()
    local code = [[local fm = require "fastmatch"
      io.write("a")
      local w = fm.writer("-")
      w:write("b", 1, 2.0)
      w:close()
      io.write("c")]]
    local h = assert(io.popen(C.lua .. " -e " .. shq(code)))
    assert.equal("ab12c", h:read("*a"))
    assert.is_true(h:close())
  end)

  it("returns nil, \"path: message\", errno when the path cannot be opened", function()
    local w, msg, code = fm.writer("/nonexistent/dir/x")
    assert.is_nil(w)
    assert.equal("/nonexistent/dir/x: No such file or directory", msg)
    assert.equal(ENOENT, code)
    -- the same triple as io.open
    assert.same({ io.open("/nonexistent/dir/x", "w") }, { fm.writer("/nonexistent/dir/x") })
  end)

  it("reports ENOSPC from the write, flush or close that meets it (/dev/full)", function()
    local w = assert(fm.writer("/dev/full", { buffer = 16 }))
    assert.equal(w, w:write("fits"))
    assert.same({ nil, "No space left on device", ENOSPC }, { w:flush() })
    assert.same({ nil, "No space left on device", ENOSPC }, { w:write(("x"):rep(100)) })
    assert.same({ nil, "No space left on device", ENOSPC }, { w:close() })
    w = assert(fm.writer("/dev/full"))
    w:write("x")
    assert.same({ nil, "No space left on device", ENOSPC }, { w:close() })
  end)

  it("reports EBADF writing to a file open for reading", function()
    local p = tmpname()
    local f = assert(io.open(p, "r"))
    local w = assert(fm.writer(f))
    w:write("x")
    assert.same({ nil, "Bad file descriptor", EBADF }, { w:flush() })
    w:close()
    f:close()
  end)

  it("reports EPIPE when the reader is gone and SIGPIPE is ignored (child process)", function()
    local out = tmpname()
    local code = ([[local fm = require "fastmatch"
      local w = fm.writer("-")
      local r = { w:write("x") }
      for _ = 1, 1000 do
        r = { w:write(("x"):rep(65536)) }
        if not r[1] then break end
      end
      local f = io.open(%q, "w")
      f:write(tostring(r[2]), "|", tostring(r[3]))
      f:close()]]):format(out)
    local h = assert(io.popen("sh -c " .. shq("trap '' PIPE; " .. C.lua .. " -e " .. shq(code) .. " | true")))
    h:read("*a")
    h:close()
    assert.equal("Broken pipe|" .. EPIPE, slurp(out))
  end)

  it("flushes and closes on garbage collection", function()
    local p = tmpname()
    do
      local w = assert(fm.writer(p))
      w:write("kept by __gc")
    end
    collectgarbage()
    collectgarbage()
    assert.equal("kept by __gc", slurp(p))
  end)

  -- <close> is Lua 5.4 syntax: these cases are compiled from source there,
  -- and printed as skipped elsewhere (the file must parse on every Lua).
  local function with_close(name, src)
    it(name, function()
      if not C.has_close then return C.skip("<close> is Lua 5.4 syntax: " .. name) end
      assert(C.load(src, "=" .. name))(fm, tmpname, slurp, assert) -- busted's assert
    end)
  end

  with_close("closes a <close> variable at the end of its scope", [[
    local fm, tmpname, slurp, assert = ...
    local p = tmpname()
    local outer
    do
      local w <close> = assert(fm.writer(p))
      outer = w
      w:write("closed by __close")
    end
    assert.equal("closed by __close", slurp(p))
    assert.matches("closed", tostring(outer))
  ]])

  with_close("raises from a <close> variable whose close fails", [[
    local fm, _, _, assert = ...
    assert.has_error(function()
      local w <close> = assert(fm.writer("/dev/full"))
      w:write("x")
    end, "fastmatch: writer close failed: No space left on device")
  ]])

  it("raises on write, writeln and flush after close; close again is harmless", function()
    local p = tmpname()
    local w = assert(fm.writer(p))
    w:write("x")
    assert.is_true(w:close())
    assert.has_error(function() w:write("y") end, "fastmatch: writer is closed")
    assert.has_error(function() w:writeln("y") end, "fastmatch: writer is closed")
    assert.has_error(function() w:flush() end, "fastmatch: writer is closed")
    assert.is_true(w:close())
    assert.equal(1, w:bytes())
    assert.equal("x", slurp(p))
  end)

  it("counts bytes accepted", function()
    local w = assert(fm.writer(tmpname()))
    w:write("abc", 12, 1.5)
    w:writeln()
    assert.equal(9, w:bytes())
    w:close()
  end)

  it("syncs on flush and close with opts.sync", function()
    local p = tmpname()
    local w = assert(fm.writer(p, { sync = true }))
    w:write("synced")
    assert.is_true(w:flush())
    assert.is_true(w:close())
    assert.equal("synced", slurp(p))
  end)

  it("rejects bad arguments as io.write does", function()
    local w = assert(fm.writer(tmpname()))
    assert.has_error(function() w:write("a", {}) end,
      "bad argument #2 to 'write' (string expected, got table)")
    assert.has_error(function() w:write(nil) end,
      "bad argument #1 to 'write' (string expected, got nil)")
    assert.has_error(function() fm.writer({}) end)
    assert.has_error(function() fm.writer(tmpname() .. "\0x") end,
      "bad argument #1 to 'writer' (path contains a NUL byte)")
    assert.has_error(function() fm.writer(tmpname(), { mode = "r" }) end)
    assert.has_error(function() fm.writer(tmpname(), { buffer = 0 }) end)
    w:close()
  end)

  it("rejects an unknown option, so that a misspelt one is not ignored", function()
    local p = tmpname()
    assert.has_error(function() fm.writer(p, { bufsize = 10 }) end,
      "bad argument #2 to 'writer' (unknown option 'bufsize')")
    assert.has_error(function() fm.writer(p, { "a" }) end,
      "bad argument #2 to 'writer' (unknown option '1')")
    local w = assert(fm.writer(p, { buffer = 4, mode = "a", sync = false }))
    assert.is_true(w:close())
  end)
end)

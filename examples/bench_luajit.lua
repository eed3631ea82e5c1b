-- bench_luajit: under LuaJIT, fm.writer against LuaJIT's string.buffer
-- flushed with io.write (the idiomatic fast path there), and against plain
-- io.write; the same log lines to a file.  Ratios of medians; never fails.
--   luajit examples/bench_luajit.lua [--quick]   (bench_hosts.lua runs it)
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local fm = require "fastmatch"
local B = require "fastmatch.bench"

print("== bench_luajit: " .. B.machine())
if not rawget(_G, "jit") then
  print("-- a LuaJIT benchmark: bench_hosts.lua runs it under luajit (or: luajit examples/bench_luajit.lua)")
  return
end
local ok, buffer = pcall(require, "string.buffer")
if not ok then
  print("-- string.buffer: not in this LuaJIT (OpenResty's luajit2 and LuaJIT 2.1 after 2021 have it)")
  return
end

local N = B.size(1000000, 20000)
local line = '203.0.113.9 - - [30/Nov/2026:05:12:34 +0000] "GET /api/v1/items?id=4242 HTTP/1.1" 200 5120'
local path = os.tmpname()
local function size() local f = io.open(path) local n = f:seek("end") f:close() return n end

local r = B.compare(("%d lines of %d bytes to a file"):format(N, #line + 1), {
  { name = "fm.writer:writeln(line)", n = N, fn = function()
      local w = assert(fm.writer(path))
      for _ = 1, N do w:writeln(line) end
      assert(w:close())
    end },
  { name = "string.buffer:put + io.write per 64 KiB", n = N, fn = function()
      local f = assert(io.open(path, "w"))
      local buf = buffer.new()
      for _ = 1, N do
        buf:put(line, "\n")
        if #buf >= 65536 then f:write(buf:get()) end
      end
      f:write(buf:get())
      f:close()
    end },
  { name = "f:write(line, '\\n') (stdio buffered)", n = N, fn = function()
      local f = assert(io.open(path, "w"))
      for _ = 1, N do f:write(line, "\n") end
      f:close()
    end },
}, { runs = B.quick and 1 or 5, warmup = 1 })
assert(size() == N * (#line + 1))
os.remove(path)
print(("   => %-58s measured %6.2fx"):format("fm.writer vs string.buffer + io.write", r[2].speedup))
print(("   => %-58s measured %6.2fx"):format("fm.writer vs f:write", r[3].speedup))

-- Experiment 4 -- "Use buffer IO": the guide wrapped stdout in a BufWriter
-- (~50x faster for many small writes).  Here: 12-byte writes to a file;
-- before, a Lua file with setvbuf("no") (one write(2) per call, what
-- Rust's unbuffered File does); after, fm.writer (64 KiB buffer).  Lua's
-- own default-buffered io is shown beside them.
--   lua5.4 examples/04_buffered_io.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"

local MSG = "hello world\n"

local R = dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "inrun.lua")

-- In our run (#285): the timeline, hunt's CSV records, written to a file
-- with one write(2) per record (fm.writer with { buffer = 1 }: every record
-- is longer than the buffer, so it goes straight through; the writer has
-- no buffer = 0) vs fm.writer's 64 KiB buffer.
local function in_run()
  local na = R.unavailable() -- no engine, or no SigmaHQ rules: no in-run result
  if na then return na end
  local fm = require "fastmatch"
  local H = R.hunt()
  local eng, info = R.engine()
  local path = R.stream()
  local out = R.workdir() .. "/timeline.csv"
  local header, fmt = H.formatter("csv")
  local sigma = require "fastmatch.sigma"
  local flatten = sigma.flatten
  local sizes, stats = {}, {}
  local function run(i, wopts)
    local w = assert(fm.writer(out, wopts))
    w:write(header .. "\n")
    local last, f
    stats[i] = R.detect(eng, path, function(ev, rule)
      if ev ~= last then last, f = ev, flatten(ev) end
      w:write(fmt(H.record(ev, f, rule)) .. "\n")
    end)
    assert(w:close())
    sizes[i] = w:bytes()
  end
  local res = B.compare(nil, {
    { name = "one write(2) per record", fn = function() run(1, { buffer = 1 }) end },
    { name = "fm.writer (64 KiB buffer)", fn = function() run(2) end },
  }, { silent = true, runs = B.quick and 1 or 3, warmup = 0 })
  os.remove(out)
  assert(sizes[1] == sizes[2], "the two timelines differ in size")
  local b, a = res[1].cpu, res[2].cpu
  local n = stats[2].hits
  return {
    before = { value = b, unit = "s", what = ("the detection run writing its timeline one write(2) per record (%d records)"):format(n) },
    after = { value = a, unit = "s", what = "the same through fm.writer's buffer" },
    ratio = b / a,
    why = ("%d records, %s: the unbuffered writes cost %.1f us a record, %.1f%% of the run"):format(
      n, B.bytes(sizes[2]), (b - a) / math.max(n, 1) * 1e6, (b - a) / b * 100),
    details = { R.describe(nil, info), B.cpu_note(),
      "CPU time (os.clock) includes the kernel's share of each write(2)" },
  }
end

return B.experiment({
  id = 4, title = "Use buffer IO",
  claim = "buffered writes instead of one syscall per write: ~50x faster",
  claim_value = 50, metric = "x faster", needs = { "writer" },
  in_run = { pr = "#285", claim = "buffered output: \"significant\"", significant = "speed",
             metric = "x faster", needs = { "writer" }, body = in_run },
}, function()
  local fm = require "fastmatch"
  local path = os.tmpname()
  local n_unbuf = B.size(300000, 5000)
  local n = B.size(3000000, 50000)
  local function size_of(p)
    local f = assert(io.open(p, "rb"))
    local sz = f:seek("end")
    f:close()
    return sz
  end
  local sizes = {}
  local res = B.compare(nil, {
    { name = 'io file, setvbuf("no")', n = n_unbuf, fn = function()
      local f = assert(io.open(path, "wb"))
      f:setvbuf("no")
      for _ = 1, n_unbuf do f:write(MSG) end
      f:close()
      sizes[1] = size_of(path)
    end },
    { name = "fm.writer", n = n, fn = function()
      local w = assert(fm.writer(path))
      for _ = 1, n do w:write(MSG) end
      assert(w:close())
      sizes[2] = size_of(path)
    end },
    { name = "io file, default buffering", n = n, fn = function()
      local f = assert(io.open(path, "wb"))
      for _ = 1, n do f:write(MSG) end
      f:close()
      sizes[3] = size_of(path)
    end },
  }, { silent = true, runs = B.quick and 1 or 3 })
  os.remove(path)
  assert(sizes[1] == n_unbuf * #MSG and sizes[2] == n * #MSG and sizes[3] == n * #MSG,
    "a writer lost bytes")
  local b, a, lua = res[1].cpu_ns_op, res[2].cpu_ns_op, res[3].cpu_ns_op
  return {
    before = { value = b, unit = "ns/write", what = ('Lua file with setvbuf("no"), %d writes'):format(n_unbuf) },
    after = { value = a, unit = "ns/write", what = ("fm.writer, %d writes"):format(n) },
    ratio = b / a,
    why = ("one write(2) per call costs %.0f ns; buffered %.0f ns (Lua's buffered io: %.0f ns, fm.writer %.2fx its speed)"):format(
      b, a, lua, lua / a),
    details = { "every file checked: as many bytes as were written", B.cpu_note() },
  }
end)

-- Experiment 2 -- "Reduce IO processing in loops": the guide moved a file
-- read out of a loop that ran once per record (~1000x faster).  Here: for
-- each record, check its user name against an allow-list file of 200 names;
-- before, the list is opened, read and parsed inside the loop; after, once
-- outside the loop, then only the lookup remains.  Per-record cost, medians.
--   lua5.4 examples/02_io_in_loop.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"

return B.experiment({
  id = 2, title = "Reduce IO processing in loops",
  claim = "read the file once outside the loop instead of once per iteration: ~1000x faster",
  claim_value = 1000, metric = "x faster",
}, function()
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  for i = 1, 200 do f:write(("user%03d\n"):format(i * 7)) end
  f:close()

  local function load_list(p)
    local set = {}
    for line in io.lines(p) do set[line] = true end
    return set
  end

  local records = {}
  for i = 1, 1000 do records[i] = ("user%03d"):format(i) end

  local n_before = B.size(20000, 500)
  local n_after = B.size(2000000, 50000)
  local hits_b, hits_a = 0, 0
  local res = B.compare(nil, {
    { name = "open+read+parse per record", n = n_before, fn = function()
      local hits = 0
      for i = 1, n_before do
        local allowed = load_list(path)
        if allowed[records[i % 1000 + 1]] then hits = hits + 1 end
      end
      hits_b = hits
    end },
    { name = "read once, look up per record", n = n_after, fn = function()
      local allowed = load_list(path)
      local hits = 0
      for i = 1, n_after do
        if allowed[records[i % 1000 + 1]] then hits = hits + 1 end
      end
      hits_a = hits
    end },
  }, { silent = true, runs = B.quick and 1 or 3 })
  os.remove(path)
  assert(hits_b > 0 and hits_a > 0, "no allow-list hits: the loops did no lookups")
  local b, a = res[1].cpu_ns_op, res[2].cpu_ns_op
  return {
    before = { value = b / 1000, unit = "us/record", what = ("io.lines of a 200-line file inside the loop, %d records"):format(n_before) },
    after = { value = a / 1000, unit = "us/record", what = ("the file read once, %d records (load included)"):format(n_after) },
    ratio = b / a,
    why = ("a table lookup (%.0f ns) instead of open+read+parse (%.1f us) per record"):format(a, b / 1000),
    details = { B.cpu_note() },
  }
end)

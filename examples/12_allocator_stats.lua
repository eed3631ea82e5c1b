-- Experiment 12 -- "Use the allocator's statistics": the guide read
-- mimalloc's own statistics to find where memory went.  Here: the Lua
-- state is switched to mimalloc (fm.use_mimalloc), a workload builds and
-- drops about 100 MB of records (half with --quick), and fm.memstats()
-- (mimalloc's committed memory, the OS's RSS, Lua's heap) is read before,
-- at the peak and after, with
-- fm.mi_stats_print() captured to a file.  A method, not a speed claim:
-- confirmed when the figures show the workload's footprint.
--   lua5.4 examples/12_allocator_stats.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"

return B.experiment({
  id = 12, title = "Use the allocator's statistics",
  claim = "mimalloc's statistics (mi_stats_print) show where memory goes (a method)",
  metric = "x committed at peak", unit = "MiB", needs = { "memstats", "mi_stats_print", "use_mimalloc" },
}, function()
  local fm = require "fastmatch"
  local switched, why_not = fm.use_mimalloc()
  collectgarbage(); collectgarbage()
  local m0 = fm.memstats()
  local n = B.size(400000, 200000) -- past mimalloc's first 32 MiB segment even when quick
  local recs = {}
  for i = 1, n do recs[i] = { id = i, text = ("record %d: %s"):format(i, ("x"):rep(100)) } end
  local m1 = fm.memstats()
  recs = nil
  collectgarbage(); collectgarbage()
  local m2 = fm.memstats()
  local f = io.tmpfile()
  local ok, reason = fm.mi_stats_print(f)
  local text = ""
  if ok then f:seek("set"); text = f:read("a") end
  f:close()
  local lines, committed = 0, nil
  for l in text:gmatch("[^\n]+") do
    lines = lines + 1
    committed = committed or l:match("^%s*committed:?%s+(.-)%s*$")
  end
  local key = m0.commit and "commit" or "rss"
  local details = {
    ("memstats before: rss %s, %s lua heap %s"):format(B.bytes(m0.rss), m0.commit and ("commit " .. B.bytes(m0.commit) .. ",") or "", B.bytes(m0.lua_bytes)),
    ("at the peak:     rss %s, %s lua heap %s"):format(B.bytes(m1.rss), m1.commit and ("commit " .. B.bytes(m1.commit) .. ",") or "", B.bytes(m1.lua_bytes)),
    ("after freeing:   rss %s, %s lua heap %s (peak_commit %s, peak_rss %s)"):format(B.bytes(m2.rss),
      m2.commit and ("commit " .. B.bytes(m2.commit) .. ",") or "", B.bytes(m2.lua_bytes), B.bytes(m2.peak_commit), B.bytes(m2.peak_rss)),
    ok and ("mi_stats_print: %d lines; its 'committed' line: %s"):format(lines, committed or "(absent)")
       or ("mi_stats_print: " .. tostring(reason)),
  }
  if not switched then details[#details + 1] = "the Lua state stays on its allocator: " .. tostring(why_not) end
  local verdict, why
  if ok and m1.commit and m1.commit > m0.commit then
    verdict = "confirmed"
    why = ("committed memory %s -> %s at the peak -> %s after free; Debian's release mimalloc prints no per-size bins"):format(
      B.bytes(m0.commit), B.bytes(m1.commit), B.bytes(m2.commit))
  elseif not ok then
    verdict = "not applicable here"
    why = "MIMALLOC=0 build: " .. tostring(reason) .. "; memstats rss still shows " .. B.bytes(m1.rss - m0.rss)
  else
    verdict = "weaker"
    why = "mimalloc's committed figure did not move with the workload"
  end
  return {
    before = { value = m0[key] / 2 ^ 20, unit = "MiB " .. key, what = "before the workload" },
    after = { value = m1[key] / 2 ^ 20, unit = "MiB " .. key, what = ("%d records of ~120 bytes alive"):format(n) },
    ratio = m1[key] / m0[key], verdict = verdict, why = why, details = details,
  }
end)

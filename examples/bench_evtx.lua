-- Benchmark: EVTX.  fm.evtx to JSON text against libevtx's evtxexport -f xml
-- on the same files (the evtx crate's samples and the SigmaHQ regression
-- files), the reader into C consumers with no Lua per record (a sink that
-- does nothing, one that counts, the JSON writer), on one thread and two,
-- and the peak RSS of reading a 100 MB+ file built here (the samples'
-- clean chunks repeated, record ids renumbered, checksums recomputed;
-- deleted at the end).  Records/s and MB/s are printed for each; ratios
-- are of medians measured side by side in this run.
--
--   lua5.4 examples/bench_evtx.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build

local fm = require "fastmatch"
local B = require "fastmatch.bench"

print("== bench_evtx: " .. B.machine())

local function shared()
  local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  for _, d in ipairs { os.getenv("FM_SHARED") or false, here .. "/../../shared" } do
    if d then
      local f = io.open(d .. "/data/evtx/evtx-rs/REVISION")
      if f then
        f:close()
        -- an absolute path: evtxexport does not take "a/../b"
        local p = io.popen("cd " .. B.shq(d .. "/data") .. " && pwd")
        local abs = p:read("*l")
        p:close()
        return abs
      end
    end
  end
end
local DATA = shared()
if not DATA then
  print("   SKIP: the EVTX samples are not here (set FM_SHARED, or ../shared/data beside the repo)")
  return
end
local SAMPLES = DATA .. "/evtx/evtx-rs/samples"
local REGRESSION = DATA .. "/sigma/sigmahq/regression_data"

local function files(dir)
  local p = io.popen(("find '%s' -name '*.evtx' | LC_ALL=C sort"):format(dir))
  local t = {}
  for l in p:lines() do t[#t + 1] = l end
  p:close()
  return t
end
local function size_of(path)
  local f = io.open(path, "rb")
  local n = f:seek("end")
  f:close()
  return n
end

local RUNS = B.quick and 1 or 3

-- ----------------------------------------------------------------------
-- 1. fm.evtx to JSON text vs evtxexport -f xml
local function ours_json(set, threads)
  local n = 0
  for _, p in ipairs(set) do
    for _ in fm.evtx(p, { as = "json", threads = threads }) do n = n + 1 end
  end
  return n
end

-- evtxexport's CPU seconds (user + sys, GNU time) and wall seconds over
-- the set, one process a file as it is used.
local function export_cpu(set)
  local cpu, wall = 0, 0
  for _, p in ipairs(set) do
    local t0 = fm.now()
    local _, _, _, _, _, usage = B.run(("evtxexport -f xml %s > /dev/null 2>&1"):format(B.shq(p)))
    wall = wall + fm.now() - t0
    if usage then cpu = cpu + (usage["User time (seconds)"] or 0) + (usage["System time (seconds)"] or 0) end
  end
  return cpu, wall
end

local summary = {}
local function report(label, records, bytes, cpu, wall)
  print(("   %-44s %8d records %8s  CPU %7.3f s  %10.0f records/s %8.1f MB/s  (wall %.3f s)"):format(
    label, records, B.bytes(bytes), cpu, records / cpu, bytes / cpu / 1e6, wall))
end

if B.have("evtxexport") then
  for _, set in ipairs { { "the crate's samples", files(SAMPLES) }, { "the SigmaHQ regression files", files(REGRESSION) } } do
    local name, list = set[1], set[2]
    local bytes = 0
    for _, p in ipairs(list) do bytes = bytes + size_of(p) end
    print(("-- %s: %d files, %s"):format(name, #list, B.bytes(bytes)))
    local n_ours = ours_json(list, 1) -- warm the page cache
    local oc, ow, ec, ew = {}, {}, {}, {}
    for r = 1, RUNS do
      local c0, t0 = os.clock(), fm.now()
      ours_json(list, 1)
      oc[r], ow[r] = os.clock() - c0, fm.now() - t0
      ec[r], ew[r] = export_cpu(list)
    end
    -- evtxexport's record count: its XML's EventRecordID elements
    local p = io.popen("for f in " .. table.concat((function()
      local q = {}
      for i, f in ipairs(list) do q[i] = B.shq(f) end
      return q
    end)(), " ") .. "; do evtxexport -f xml \"$f\" 2>/dev/null; done | grep -c '<EventRecordID>'")
    local n_exp = tonumber(p:read("*a")) or 0
    p:close()
    local o_cpu, e_cpu = B.median(oc), B.median(ec)
    report("fm.evtx (as = \"json\")", n_ours, bytes, o_cpu, B.median(ow))
    report("evtxexport -f xml", n_exp, bytes, e_cpu, B.median(ew))
    local ratio = (n_ours / o_cpu) / (n_exp / e_cpu)
    print(("   fm.evtx reads %.1fx the records/s of evtxexport (CPU time; must >= 30x, goal >= 100x)%s"):format(
      ratio, n_exp < n_ours and (" -- evtxexport read %d of the %d records"):format(n_exp, n_ours) or ""))
    summary[#summary + 1] = ("%s: %.1fx"):format(name, ratio)
  end
else
  print("   SKIP the evtxexport comparison: no evtxexport (Debian libevtx-utils; make deps)")
end

-- ----------------------------------------------------------------------
-- 2. A 100 MB+ file: the samples' clean chunks, repeated
local function u32(s, at)
  local a, b, c, d = s:byte(at + 1, at + 4)
  return a + 256 * (b + 256 * (c + 256 * d))
end
local function le(n, k)
  local t = {}
  for i = 1, k do
    local b = n % 256
    t[i] = string.char(b)
    n = (n - b) / 256
  end
  return table.concat(t)
end

local function clean_chunks()
  local out = {}
  for _, name in ipairs { "security.evtx", "system.evtx", "sysmon.evtx",
    "E_Windows_system32_winevt_logs_Microsoft-Windows-Shell-Core%4Operational.evtx",
    "E_Windows_system32_winevt_logs_Microsoft-Windows-CAPI2%4Operational.evtx",
    "2-system-Microsoft-Windows-LiveId%4Operational.evtx" } do
    local f = assert(io.open(SAMPLES .. "/" .. name, "rb"))
    f:read(4096)
    while true do
      local c = f:read(65536)
      if not c or #c < 65536 then break end
      if c:sub(1, 8) == "ElfChnk\0" then out[#out + 1] = c end
    end
    f:close()
  end
  return out
end

-- One chunk with its records renumbered from id: the new chunk and the
-- next id.
local function renumber(c, id)
  local fso = u32(c, 48)
  local parts, pos, first = { "" }, 512, id
  while pos + 24 <= fso and c:sub(pos + 1, pos + 4) == "\42\42\0\0" do
    local size = u32(c, pos + 4)
    if size < 28 or pos + size > fso then break end
    parts[#parts + 1] = c:sub(pos + 1, pos + 8) .. le(id, 8) .. c:sub(pos + 17, pos + size)
    pos, id = pos + size, id + 1
  end
  parts[#parts + 1] = c:sub(pos + 1)
  local body = table.concat(parts)
  local last = id - 1
  local h = c:sub(1, 8) .. le(first, 8) .. le(last, 8) .. le(first, 8) .. le(last, 8)
    .. c:sub(41, 52) .. le(fm._evtx_crc(body:sub(1, fso - 512)), 4) .. c:sub(57, 512)
  h = h:sub(1, 124) .. le(fm._evtx_crc(h:sub(1, 120) .. h:sub(129, 512)), 4) .. h:sub(129)
  return h .. body, id
end

local BIG = os.tmpname() .. ".evtx"
local want = B.quick and 8 * 1024 * 1024 or 110 * 1024 * 1024
local t_build = fm.now()
local chunks = clean_chunks()
local w = assert(fm.writer(BIG))
local nchunks, id = 0, 1
w:write(("\0"):rep(4096)) -- the header, rewritten below
while nchunks * 65536 < want do
  for _, c in ipairs(chunks) do
    local nc
    nc, id = renumber(c, id)
    w:write(nc)
    nchunks = nchunks + 1
    if nchunks * 65536 >= want then break end
  end
end
assert(w:close())
do
  local h = "ElfFile\0" .. le(0, 8) .. le(nchunks - 1, 8) .. le(id, 8) .. le(128, 4) .. le(1, 2) .. le(3, 2)
    .. le(4096, 2) .. le(nchunks % 65536, 2)
  h = h .. ("\0"):rep(120 - #h) .. le(0, 4)
  h = h .. le(fm._evtx_crc(h:sub(1, 120)), 4)
  local f = assert(io.open(BIG, "r+b"))
  f:write(h)
  f:close()
end
local big_bytes = size_of(BIG)
print(("-- a %s file of %d chunks (%d records), built in %.1f s"):format(B.bytes(big_bytes), nchunks, id - 1,
  fm.now() - t_build))

local ok, err = pcall(function()
  -- the reader into C consumers: no Lua per record
  local cases = {}
  for _, c in ipairs { { "null", 1 }, { "count", 1 }, { "json", 1 }, { "null", 2 }, { "json", 2 } } do
    cases[#cases + 1] = { name = ("reader -> %s sink, %d thread%s"):format(c[1], c[2], c[2] > 1 and "s" or ""),
      fn = function() c.records, c.events, c.bytes = fm._evtx_scan(BIG, c[1], c[2]) end, c = c }
  end
  cases[#cases + 1] = { name = "fm.evtx as = \"json\" (Lua strings)", fn = function()
    local n = 0
    for _ in fm.evtx(BIG, { as = "json" }) do n = n + 1 end
  end }
  cases[#cases + 1] = { name = "fm.evtx as = \"table\" (Lua tables)", fn = function()
    local n = 0
    for _ in fm.evtx(BIG) do n = n + 1 end
  end }
  local r = B.compare("the big file: records/s (wall; CPU beside)", cases, { runs = RUNS })
  local nrec = id - 1
  for i, c in ipairs(cases) do
    local x = r[i]
    print(("   %-44s %10.0f records/s %8.1f MB/s   (CPU: %10.0f records/s)"):format(c.name, nrec / x.seconds,
      big_bytes / x.seconds / 1e6, nrec / x.cpu))
  end
  local null1 = nrec / r[1].cpu
  print(("   reader -> null sink, one core: %.0f records/s (goal >= 500 000)"):format(null1))
  summary[#summary + 1] = ("null sink %.0f records/s"):format(null1)
  summary[#summary + 1] = ("2 threads vs 1 (json): %.2fx wall"):format(r[4 + 1].seconds > 0 and r[3].seconds / r[5].seconds or 0)

  -- peak RSS of a child reading the big file
  print("-- peak RSS reading it (a child process; goal < 64 MB)")
  local lua = B.lua()
  local env = ("env %s=%s %s=%s "):format(B.path_var, B.shq(package.path), B.cpath_var, B.shq(package.cpath))
  for _, c in ipairs { { "json", 1 }, { "table", 1 }, { "json", 2 } } do
    local code = ("local fm = require 'fastmatch'; local n = 0; for _ in fm.evtx(%q, {as = %q, threads = %d}) do n = n + 1 end; io.write(n)")
      :format(BIG, c[1], c[2])
    local out, peak = B.run(env .. lua .. " -e " .. B.shq(code))
    print(("   fm.evtx as = %-8s threads = %d: %s records, peak RSS %s"):format(("%q"):format(c[1]), c[2], out, B.bytes(peak)))
    if c[1] == "json" and c[2] == 1 then summary[#summary + 1] = ("peak RSS %s"):format(B.bytes(peak)) end
  end
  local out, peak = B.run(env .. lua .. " -e " .. B.shq("io.write('0')"))
  print(("   (the interpreter alone: peak RSS %s)"):format(B.bytes(peak)))
end)
os.remove(BIG)
os.remove((BIG:gsub("%.evtx$", "")))
if not ok then error(err, 0) end
print("   summary: " .. table.concat(summary, "; "))

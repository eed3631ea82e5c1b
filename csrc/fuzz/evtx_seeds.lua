-- evtx_seeds.lua SAMPLES_DIR OUT_DIR: the seeds of fuzz_evtx -- each a
-- sample's file header and its first chunk cut after a few records (the
-- chunk's free space offset and last record id set to match; checksums
-- left as they were, so the reader reads on and warns).  The fuzz target
-- pads a short input with zeros to a whole chunk.  Small on purpose.
local dir, out = arg[1], arg[2]
local function u32(s, at) local a, b, c, d = s:byte(at + 1, at + 4); return a + 256 * (b + 256 * (c + 256 * d)) end
local function le(n, k) local t = {} for i = 1, k do t[i] = string.char(n % 256); n = math.floor(n / 256) end return table.concat(t) end
local SEEDS = {
  { "security.evtx", 3 }, { "sysmon.evtx", 2 }, { "system.evtx", 3 },
  { "E_Windows_system32_winevt_logs_Microsoft-Windows-CAPI2%4Operational.evtx", 2 },
  { "MSExchange_Management_wec.evtx", 1 }, { "2-system-Microsoft-Windows-LiveId%4Operational.evtx", 2 },
  { "sample-with-zero-data-size-event.evtx", 4 },
}
for _, s in ipairs(SEEDS) do
  local f = assert(io.open(dir .. "/" .. s[1], "rb"))
  local head, chunk = f:read(4096), f:read(65536)
  f:close()
  local pos, id = 512, 0
  for _ = 1, s[2] do
    local size = u32(chunk, pos + 4)
    if size < 28 then break end
    id = u32(chunk, pos + 8) + 4294967296 * u32(chunk, pos + 12)
    pos = pos + size
  end
  chunk = chunk:sub(1, 32) .. le(id, 8) .. chunk:sub(41, 48) .. le(pos, 4) .. chunk:sub(53, pos)
  local name = s[1]:gsub("%%", "_"):gsub("%.evtx$", "")
  local o = assert(io.open(out .. "/" .. name, "wb"))
  o:write(head, chunk)
  o:close()
end

-- fastmatch.evtx: the command behind bin/fastmatch-evtx -- Windows event log
-- files (.evtx) to JSON, as the Rust evtx crate's evtx_dump writes it.
--   fastmatch-evtx [-o OUT] [--format jsonl|json] [--threads N]
--                  [--checksums keep|skip] [--quiet] FILE|DIR...
-- A directory is searched (recursively) for *.evtx files.  Each record goes
-- out as one JSON line (jsonl, the default) or as evtx_dump's indented
-- document (json).  Damage in a file is reported on stderr (file, chunk,
-- offset, reason) and the rest is read; a progress line (for inputs that
-- take a few seconds) and a summary go to stderr too.  Exit status 0, 1
-- when an input could not be read (the others are still converted), 2 on a
-- usage error.  Also a module: os.exit(require("fastmatch.evtx").main(arg)).
local fm = require "fastmatch"

local M = {}

local USAGE = [[
usage: fastmatch-evtx [-o OUT] [--format jsonl|json] [--threads N]
                      [--checksums keep|skip] [--quiet] FILE|DIR...
  FILE               an .evtx file ("-": stdin); a DIR is searched for *.evtx
  -o OUT             the output file (default stdout)
  --format F         jsonl (default): a record a line; json: evtx_dump's
                     indented documents
  --threads N        read each file's chunks on N threads (0: one per core)
  --checksums C      keep (default): read a chunk whose checksum fails, with
                     a warning; skip: report it and skip it
  --quiet            no damage reports, no progress line, no summary
]]

-- -> opts | nil, message
function M.parse_args(argv)
  local o = { inputs = {}, format = "jsonl", threads = 1, checksums = "keep" }
  local i = 1
  while argv[i] ~= nil do
    local a = argv[i]
    local function val()
      i = i + 1
      if argv[i] == nil then error({ msg = a .. " needs a value" }) end
      return argv[i]
    end
    local ok, err = pcall(function()
      if a == "-o" or a == "--output" then o.output = val()
      elseif a == "--format" or a == "-f" then o.format = val()
      elseif a == "--threads" or a == "-t" then
        local v = val()
        o.threads = tonumber(v)
        if not o.threads or o.threads < 0 or o.threads % 1 ~= 0 then error({ msg = "--threads wants a number, got " .. v }) end
      elseif a == "--checksums" then o.checksums = val()
      elseif a == "--quiet" or a == "-q" then o.quiet = true
      elseif a == "-h" or a == "--help" then o.help = true
      elseif a == "--" then
        for j = i + 1, #argv do o.inputs[#o.inputs + 1] = argv[j] end
        i = #argv
      elseif a:sub(1, 1) == "-" and a ~= "-" then error({ msg = "unknown option " .. a })
      else o.inputs[#o.inputs + 1] = a end
    end)
    if not ok then return nil, type(err) == "table" and err.msg or tostring(err) end
    i = i + 1
  end
  if o.help then return o end
  if o.format ~= "jsonl" and o.format ~= "json" then return nil, "--format is jsonl or json" end
  if o.checksums ~= "keep" and o.checksums ~= "skip" then return nil, "--checksums is keep or skip" end
  if #o.inputs == 0 then return nil, "no input file" end
  return o
end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- The files to read: each FILE as it is, each DIR's *.evtx in name order.
function M.expand(inputs)
  local out = {}
  for _, p in ipairs(inputs) do
    local isdir = false
    if p ~= "-" then
      local h = io.popen("test -d " .. shell_quote(p) .. " && echo d")
      isdir = h:read("*l") == "d"
      h:close()
    end
    if isdir then
      local h = io.popen("find " .. shell_quote(p) .. " -type f -iname '*.evtx' 2>/dev/null | LC_ALL=C sort")
      for l in h:lines() do out[#out + 1] = l end
      h:close()
    else
      out[#out + 1] = p
    end
  end
  return out
end

local function filesize(path)
  if path == "-" then return nil end
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

function M.main(argv, env)
  env = env or {}
  local err = env.stderr or io.stderr
  local o, why = M.parse_args(argv)
  if not o then err:write("fastmatch-evtx: ", why, "\n", USAGE); return 2 end
  if o.help then io.stdout:write(USAGE); return 0 end
  local w, werr = fm.writer(o.output or "-")
  if not w then err:write("fastmatch-evtx: ", tostring(werr), "\n"); return 2 end

  local status = 0
  local total, bytes, nfiles = 0, 0, 0
  local damage = { chunk = 0, record = 0, warning = 0, file = 0 }
  local t0 = fm.now()
  local next_progress = t0 + 3
  local progressed = false
  local sep = "\n"
  local opts = { as = "json", indent = o.format == "json" and 2 or 0, threads = o.threads,
                 checksums = o.checksums }
  for _, path in ipairs(M.expand(o.inputs)) do
    opts.name = path
    opts.on_error = function(e)
      damage[e.kind] = (damage[e.kind] or 0) + 1
      if o.quiet then return end
      if progressed then err:write("\n"); progressed = false end
      local where = e.chunk >= 0 and ("chunk %d, offset %d"):format(e.chunk, e.offset) or "file header"
      if e.record_id then where = where .. (", record %d"):format(e.record_id) end
      err:write(("fastmatch-evtx: %s: %s: %s%s\n"):format(path, where, e.reason,
        e.kind == "chunk" and " (chunk skipped)" or e.kind == "record" and " (record skipped)" or ""))
    end
    local ok, e = pcall(function()
      local size = filesize(path)
      local n = 0
      for json in fm.evtx(path, opts) do
        n = n + 1
        local wok, wmsg = w:write(json, sep)
        if not wok then error({ msg = "cannot write: " .. tostring(wmsg), fatal = true }) end
        if not o.quiet and n % 1024 == 0 then
          local now = fm.now()
          if now >= next_progress then
            err:write(("\rfastmatch-evtx: %s: %d records, %.0f records/s   "):format(path, total + n,
              (total + n) / (now - t0)))
            next_progress, progressed = now + 1, true
          end
        end
      end
      total, bytes, nfiles = total + n, bytes + (size or 0), nfiles + 1
    end)
    if not ok then
      if progressed then err:write("\n"); progressed = false end
      if type(e) == "table" and e.fatal then err:write("fastmatch-evtx: ", e.msg, "\n"); w:close(); return 1 end
      err:write(("fastmatch-evtx: %s\n"):format((type(e) == "table" and tostring(e.msg) or tostring(e))
        :gsub("^.-fastmatch: ", "")))
      status = 1
    end
  end
  local cok, cerr = w:close()
  if not cok then err:write("fastmatch-evtx: cannot write: ", tostring(cerr), "\n"); return 1 end
  if progressed then err:write("\n") end
  if not o.quiet then
    local dt = fm.now() - t0
    err:write(("fastmatch-evtx: %d records from %d file(s) in %.2f s (%.0f records/s, %.1f MB/s); "
      .. "damage: %d chunk(s) and %d record(s) skipped, %d warning(s)%s\n"):format(
      total, nfiles, dt, dt > 0 and total / dt or 0, dt > 0 and bytes / dt / 1e6 or 0,
      damage.chunk, damage.record, damage.warning,
      damage.file > 0 and (", %d file header problem(s)"):format(damage.file) or ""))
  end
  return status
end

return M

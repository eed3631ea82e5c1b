-- Experiment 13 -- "OS performance counters": the guide read the OS's own
-- counters (Windows performance monitor) to see what a change did.  The
-- Linux analogue, on experiment 4's pair (12-byte writes unbuffered vs
-- buffered): /proc/self/io (write syscalls, bytes), /proc/self/status
-- (peak RSS, context switches), getrusage through GNU time, and `perf
-- stat` (task clock, page faults, context switches) when perf is there.
-- A method: confirmed when the counters show the difference (syscalls).
--   lua5.4 examples/13_os_counters.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"

local CHILD = [==[
local fm = require "fastmatch"
local how, n, path = arg[1], tonumber(arg[2]), arg[3]
local t0 = fm.now()
if how == "unbuffered" then
  local f = assert(io.open(path, "wb"))
  f:setvbuf("no")
  for _ = 1, n do f:write("hello world\n") end
  f:close()
elseif fm.writer then
  local w = assert(fm.writer(path))
  for _ = 1, n do w:write("hello world\n") end
  assert(w:close())
else
  local f = assert(io.open(path, "wb"))
  for _ = 1, n do f:write("hello world\n") end
  f:close()
end
print(("seconds=%.6f"):format(fm.now() - t0))
print("writer=" .. (how == "unbuffered" and 'io setvbuf("no")' or fm.writer and "fm.writer" or "io, default buffering"))
local function grab(file, keys)
  local f = io.open(file)
  if not f then return end
  for line in f:lines() do
    local k, v = line:match("^([%w_]+):%s*(%d+)")
    if k and keys[k] then print(k .. "=" .. v) end
  end
  f:close()
end
grab("/proc/self/io", { syscw = true, wchar = true, syscr = true })
grab("/proc/self/status", { VmHWM = true, voluntary_ctxt_switches = true, nonvoluntary_ctxt_switches = true })
]==]

local function perf_works()
  if not B.have("perf") then return false end
  return os.execute("perf stat -x, -e task-clock true >/dev/null 2>&1") == true
end

return B.experiment({
  id = 13, title = "OS performance counters",
  claim = "the OS's counters show what a change did (a method)",
  metric = "x fewer write syscalls", unit = "write syscalls",
}, function()
  local n = B.size(200000, 5000)
  local path = os.tmpname()
  local perf = perf_works()
  local got = {}
  for _, how in ipairs({ "unbuffered", "buffered" }) do
    local perffile = os.tmpname()
    local prefix = perf and ("perf stat -x, -o %s -e task-clock,page-faults,context-switches"):format(B.shq(perffile)) or nil
    local out, peak, ok, kv, _, usage = B.child(CHILD, { args = ("%s %d %s"):format(how, n, B.shq(path)), prefix = prefix })
    if not ok or not kv.seconds then os.remove(path); os.remove(perffile); error(how .. " failed: " .. out:sub(-300)) end
    kv.peak, kv.usage, kv.perf = peak, usage or {}, {}
    local f = io.open(perffile)
    if f then
      for line in f:lines() do
        local v, unit, ev = line:match("^([%d%.]+),([^,]*),([%w%-]+)")
        if v then kv.perf[ev] = tonumber(v) .. (unit ~= "" and (" " .. unit) or "") end
      end
      f:close()
    end
    os.remove(perffile)
    got[how] = kv
  end
  os.remove(path)
  local u, b = got.unbuffered, got.buffered
  if not u.syscw then
    return { verdict = "not applicable here", why = "/proc/self/io is not readable here",
             before = { unit = "write syscalls", what = "unbuffered" }, after = { unit = "write syscalls", what = "buffered" } }
  end
  local details = {}
  for _, how in ipairs({ "unbuffered", "buffered" }) do
    local k = got[how]
    details[#details + 1] = ("%-10s (%s) /proc/self/io: syscw %d, wchar %d; status: VmHWM %d kB, ctxt %d/%d; %.3f s"):format(
      how, k.writer, k.syscw, k.wchar, k.VmHWM or -1, k.voluntary_ctxt_switches or -1, k.nonvoluntary_ctxt_switches or -1, k.seconds)
    details[#details + 1] = ("%-10s getrusage (GNU time): user %s s, sys %s s, fs outputs %s, minor faults %s"):format("",
      tostring(k.usage["User time (seconds)"]), tostring(k.usage["System time (seconds)"]),
      tostring(k.usage["File system outputs"]), tostring(k.usage["Minor (reclaiming a frame) page faults"]))
    if perf then
      details[#details + 1] = ("%-10s perf stat: task-clock %s, page-faults %s, context-switches %s"):format("",
        tostring(k.perf["task-clock"]), tostring(k.perf["page-faults"]), tostring(k.perf["context-switches"]))
    end
  end
  if not perf then details[#details + 1] = "perf stat: not available here (perf missing or perf_event_paranoid forbids it)" end
  local ratio = u.syscw / math.max(1, b.syscw)
  return {
    before = { value = u.syscw, unit = "write syscalls", what = ("%d writes, unbuffered"):format(n) },
    after = { value = b.syscw, unit = "write syscalls", what = ("the same through %s"):format(b.writer) },
    ratio = ratio,
    verdict = ratio > 10 and "confirmed" or "weaker",
    why = ("/proc/self/io counted %d vs %d write syscalls; getrusage: %s vs %s s in the kernel%s"):format(u.syscw, b.syscw,
      tostring(u.usage["System time (seconds)"] or "?"), tostring(b.usage["System time (seconds)"] or "?"),
      perf and ("; perf task-clock %s vs %s"):format(tostring(u.perf["task-clock"]), tostring(b.perf["task-clock"])) or "; perf unavailable"),
    details = details,
  }
end)

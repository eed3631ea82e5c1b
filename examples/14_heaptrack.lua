-- Experiment 14 -- "heaptrack": the guide profiled heap use with
-- heaptrack to find what to shrink.  A recipe that runs here: build the
-- module on libc malloc (make MIMALLOC=0: heaptrack sees malloc, not
-- mimalloc's own pages), run experiment 8's two variants (deep-copied vs
-- shared events) under `heaptrack lua5.4 ...`, read the peak heap and the
-- allocation calls back with heaptrack_print, and say where to look.
-- Without heaptrack installed it says so (make experiments installs it).
--   lua5.4 examples/14_heaptrack.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"

local CHILD = [==[
local fm = require "fastmatch"
local copy, n = arg[1] == "clone", tonumber(arg[2])
local function clone(v)
  if type(v) == "table" then
    local t = {}
    for k, x in pairs(v) do t[k] = clone(x) end
    return t
  elseif type(v) == "string" and #v > 40 then
    return v:sub(1)
  end
  return v
end
local EV = {}
for i = 1, 200 do
  EV[i] = { Channel = "Security", EventID = tostring(4600 + i % 50), Computer = "host" .. i % 7,
            CommandLine = ("C:\\Windows\\system32\\cmd.exe /c echo %d %s"):format(i, ("x"):rep(120)),
            Image = "C:\\Windows\\system32\\cmd.exe", User = "CORP\\user" .. i }
end
local det = {}
for i = 1, n do
  local e = EV[i % #EV + 1]
  det[i] = { rule = i % 500, level = "high", event = copy and clone(e) or e }
end
print("allocator=" .. fm.allocator)
]==]

local NA = { before = { unit = "MB peak heap", what = "deep-copied events" },
             after = { unit = "MB peak heap", what = "shared events" } }

local function na(why)
  local r = { verdict = "not applicable here", why = why }
  for k, v in pairs(NA) do r[k] = v end
  return r
end

return B.experiment({
  id = 14, title = "heaptrack",
  claim = "heaptrack shows where the heap goes (a method)",
  metric = "x less peak heap", unit = "MB peak heap",
}, function()
  if not (B.have("heaptrack") and B.have("heaptrack_print")) then
    return na("heaptrack is not installed (apt-get install heaptrack; `make experiments` installs it)")
  end
  local cpath, build = nil, "the module found on package.cpath"
  if B.root then
    local p = assert(io.popen(("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C %s --no-print-directory MIMALLOC=0 all 2>&1"):format(B.shq(B.root))))
    local log = p:read("a")
    if not p:close() then error("make MIMALLOC=0 failed: " .. log:sub(-300)) end
    cpath, build = B.root .. "/build/libc", "build/libc (make MIMALLOC=0)"
  end
  local dir = (B.root or "/tmp") .. "/results/heaptrack"
  os.execute("mkdir -p " .. B.shq(dir))
  local n = B.size(100000, 3000)
  local got = {}
  for _, how in ipairs({ "clone", "share" }) do
    local base = dir .. "/" .. how
    os.remove(base .. ".zst"); os.remove(base .. ".gz")
    local out, _, ok, kv = B.child(CHILD, { cpath = cpath, args = ("%s %d"):format(how, n),
                                             prefix = "heaptrack -o " .. B.shq(base) })
    if not ok then error("heaptrack run failed: " .. out:sub(-300)) end
    local data = out:match('heaptrack %-%-analyze "([^"]+)"')
    if not data then return na("heaptrack wrote no data file here: " .. out:sub(-200):gsub("\n", " ")) end
    local p = assert(io.popen("heaptrack_print " .. B.shq(data) .. " 2>/dev/null"))
    local rep = p:read("a")
    p:close()
    local function size(s)
      local v, u = tostring(s):match("([%d%.]+)([KMGB]?)")
      if not v then return nil end
      return tonumber(v) * (({ K = 1e3, M = 1e6, G = 1e9 })[u] or 1)
    end
    got[how] = { data = data, allocator = kv.allocator,
                 peak = size(rep:match("peak heap memory consumption: (%S+)")),
                 calls = tonumber(rep:match("calls to allocation functions: (%d+)")),
                 temp = tonumber(rep:match("temporary memory allocations: (%d+)")) }
    if not got[how].peak then return na("heaptrack_print gave no peak figure") end
  end
  local c, s = got.clone, got.share
  return {
    before = { value = c.peak / 1e6, unit = "MB peak heap", what = ("%d detections with deep-copied events, under heaptrack"):format(n) },
    after = { value = s.peak / 1e6, unit = "MB peak heap", what = "the same sharing one event table" },
    ratio = c.peak / s.peak,
    verdict = "confirmed",
    why = ("heaptrack saw %.1f vs %.1f MB peak heap and %d vs %d allocation calls (module on %s)"):format(
      c.peak / 1e6, s.peak / 1e6, c.calls or -1, s.calls or -1, tostring(c.allocator)),
    details = {
      "recipe: make MIMALLOC=0; LUA_CPATH_5_4='build/libc/?.so;;' heaptrack lua5.4 your_script.lua",
      "look at: heaptrack_print " .. c.data .. " | less   (sections MOST CALLS TO ALLOCATION FUNCTIONS, PEAK MEMORY CONSUMERS)",
      "or, with a display: heaptrack_gui " .. c.data .. "   (flame graph, consumed-memory-over-time chart)",
      "module build: " .. build,
    },
  }
end)

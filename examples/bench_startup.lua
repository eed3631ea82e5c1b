-- bench_startup.lua: how soon every SigmaHQ rule is ready for the first
-- event, measured side by side in one run (docs/startup.md):
--   cold   a fresh interpreter: sigma.engine(), eng:load(dirs) with no
--          cache, the first eng:match (which builds the index and the
--          gate)                                      goal <= 3 s
--   write  the same with {cache = dir} and no cache file yet: cold plus
--          writing the cache
--   warm   a fresh interpreter, {cache = dir} with the file there: read,
--          checked, restored                          goal <= 0.5 s
--   hunt's cold and warm: the same, started as bin/fastmatch-hunt starts
--          (the Lua state on mimalloc, which asks for 2 MiB pages)
--   lyaml  lyaml.load alone over the same texts (read beforehand): the
--          peer, what reading the rules used to cost before anything was
--          compiled; and core._yaml (libyaml in C) over the same texts
-- Each start runs in its own interpreter and reports its CPU time (os.clock)
-- and wall time from before `require "fastmatch.sigma"` to the first match;
-- the medians of the runs are printed with their spread. Never fails a build.
--   lua5.4 examples/bench_startup.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"
local fm = require "fastmatch"
local here = (arg and arg[0] or ""):match("^(.-)[^/]*$")
local G = dofile(here .. "gen_events.lua")

local function say(...) print(string.format(...)); io.stdout:flush() end

local ok_sigma, sigma = pcall(require, "fastmatch.sigma")
local ok_lyaml, lyaml = pcall(require, "lyaml")
local core = require "fastmatch.core"
say("== bench_startup (%s)", B.quick and "quick" or "full")
say("peers: lyaml %s; YAML reader: %s; %s", ok_lyaml and tostring(lyaml._VERSION) or "not installed",
  core._yaml and "core._yaml (libyaml)" or "lyaml", B.machine_line())
if not ok_sigma then
  say("skipped: fastmatch.sigma is not available: %s", tostring(sigma):match("[^\n]*"))
  os.exit(0)
end

local shared = G.shared_dir()
local dirs, what
if shared then
  local d = shared .. "/sigmahq/"
  dirs, what = { d .. "rules", d .. "rules-emerging-threats", d .. "rules-threat-hunting" }, "all SigmaHQ rules"
else
  local R = dofile(here .. "inrun.lua")
  local d
  d, what = R.rules_dir()
  dirs = { d }
end

local files = {}
for _, d in ipairs(dirs) do
  local p = io.popen("LC_ALL=C find " .. B.shq(d) .. " -type f -name '*.yml' | LC_ALL=C sort")
  for f in p:lines() do files[#files + 1] = f end
  p:close()
end
local texts = {}
for i, f in ipairs(files) do
  local h = assert(io.open(f))
  texts[i] = h:read("*a")
  h:close()
end
say("rules: %s, %d files", what, #files)

local runs = B.quick and 2 or 5

-- ------------------------------------------------------------ the readers alone
local function cpu_median(fn)
  local t = {}
  for i = 1, runs do
    collectgarbage()
    local c = os.clock()
    fn()
    t[i] = os.clock() - c
  end
  table.sort(t)
  return B.median(t), t[1], t[#t]
end
local ly, ly_lo, ly_hi
if ok_lyaml then
  ly, ly_lo, ly_hi = cpu_median(function()
    for i = 1, #texts do pcall(lyaml.load, texts[i], { all = true }) end
  end)
  say("   lyaml.load alone          %6.2f s CPU  (%.2f-%.2f)", ly, ly_lo, ly_hi)
end
local cy
if core._yaml then
  local Y = require "fastmatch.sigma.yaml"
  local lo, hi
  cy, lo, hi = cpu_median(function()
    for i = 1, #texts do pcall(Y.load, texts[i], { all = true }) end
  end)
  say("   core._yaml alone          %6.2f s CPU  (%.2f-%.2f)%s", cy, lo, hi,
    ly and ("  %.1fx faster than lyaml"):format(ly / cy) or "")
end
texts = nil
collectgarbage()

-- ------------------------------------------------------------ starts
local cdir = os.tmpname()
os.remove(cdir)
local list = {}
for i, d in ipairs(dirs) do list[i] = ("%q"):format(d) end
local function start(cache, pages)
  local code = ([[
local c0, w0 = os.clock(), require("fastmatch").now()
if %s then  -- as bin/fastmatch-hunt starts
  local core = require "fastmatch.core"
  core.use_mimalloc()
  core._large_pages(true)
end
local sigma = require "fastmatch.sigma"
local eng = assert(sigma.engine())
local n = assert(eng:load({ %s }, { cache = %s }))
eng:match({ Event = { System = { Channel = "-", EventID = 1 } } })
local fm = require "fastmatch"
io.write(("cpu=%%.4f\twall=%%.4f\trules=%%d\thit=%%s\n"):format(os.clock() - c0, fm.now() - w0, n,
  tostring(eng.cache and eng.cache.hit)))
]]):format(pages and "true" or "false", table.concat(list, ", "), cache and ("%q"):format(cache) or "false")
  local out, _, ok, kv = B.child(code)
  if not ok or not kv.cpu then error("child failed: " .. tostring(out)) end
  return kv
end

local function series(name, prep, cache, want_hit, pages)
  local cpu, wall, kv = {}, {}, nil
  for i = 1, runs do
    if prep then prep() end
    kv = start(cache, pages)
    if want_hit ~= nil and tostring(want_hit) ~= kv.hit then
      say("   %s: the cache was %s (expected %s)", name, kv.hit == "true" and "used" or "not used",
        want_hit and "used" or "not used")
    end
    cpu[i], wall[i] = kv.cpu, kv.wall
  end
  table.sort(cpu); table.sort(wall)
  local c = B.median(cpu)
  say("   %-24s %6.2f s CPU  (%.2f-%.2f), %6.2f s wall (%.2f-%.2f); %d rules",
    name, c, cpu[1], cpu[#cpu], B.median(wall), wall[1], wall[#wall], kv.rules)
  return c
end

local ok, err = pcall(function()
  local cold = series("cold (no cache)", nil, false)
  local write = series("cold, writing the cache", function() os.execute("rm -rf " .. B.shq(cdir)) end, cdir, false)
  local warm = series("warm (from the cache)", nil, cdir, true)
  local f = io.popen("du -k " .. B.shq(cdir) .. " 2>/dev/null | tail -1")
  local kb = tonumber((f:read("*a") or ""):match("^(%d+)"))
  f:close()
  say("   cache file: %s", kb and B.bytes(kb * 1024) or "?")
  -- as fastmatch-hunt starts: the state on mimalloc, 2 MiB pages asked for
  local hcold, hwarm, hwrite
  if core.use_mimalloc and core._large_pages and not rawget(_G, "jit") then
    hcold = series("hunt's cold (huge pages)", nil, false, nil, true)
    hwrite = series("hunt's first, writing", function() os.execute("rm -rf " .. B.shq(cdir)) end,
      cdir, false, true)
    hwarm = series("hunt's warm (huge pages)", nil, cdir, true, true)
  end
  say("   ready for the first event: cold %.2f s (goal <= 3 s), warm %.2f s (goal <= 0.5 s);"
    .. " warm is %.1fx faster than cold", cold, warm, cold / warm)
  if hcold then
    say("   as fastmatch-hunt starts (Lua state on mimalloc, 2 MiB pages): cold %.2f s, first run"
      .. " (writing the cache) %.2f s, warm %.2f s", hcold, hwrite, hwarm)
  end
  if ly then
    say("   beside lyaml alone (%.2f s): cold %.2fx it, warm %.2fx it; writing the cache adds %.2f s",
      ly, cold / ly, warm / ly, write - cold)
  end
end)
os.execute("rm -rf " .. B.shq(cdir))
if not ok then say("   starts: failed: %s", tostring(err)) end

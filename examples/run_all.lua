-- run_all.lua: the main job and the benchmarks, each script in its own
-- interpreter (so a memory figure never includes another script's heap).
--   lua5.4 examples/run_all.lua --experiments [--quick] [--only 3,5] [--out DIR]
--       runs examples/NN_*.lua, prints a progress line each, the table and
--       the machine; writes results/experiments.json, .md and .svg (or
--       into DIR)
--   lua5.4 examples/run_all.lua --bench [--quick]
--       runs every examples/bench_*.lua, streaming their output
--   lua5.4 examples/run_all.lua --table
--       prints the last run's table (from results/logs) as Markdown with
--       links from the repository root, for the README
-- `make experiments` / `make bench` call this (QUICK=1 adds --quick).
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"
local fm = require "fastmatch"

local opts = { quick = false }
do
  local i = 1
  while arg[i] do
    local a = arg[i]
    if a == "--experiments" or a == "--bench" then opts[a:sub(3)] = true
    elseif a == "--quick" then opts.quick = true
    elseif a == "--out" then i = i + 1; opts.out = arg[i]
    elseif a == "--table" then opts.table = true
    elseif a == "--only" then i = i + 1; opts.only = {}
      for n in tostring(arg[i]):gmatch("%d+") do opts.only[tonumber(n)] = true end
    else
      io.stderr:write("usage: lua5.4 examples/run_all.lua --experiments|--bench|--table [--quick] [--only 3,5] [--out DIR]\n")
      os.exit(2)
    end
    i = i + 1
  end
  if not opts.experiments and not opts.bench and not opts.table then opts.experiments, opts.bench = true, true end
end

local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
local root = B.root or (here .. "/..")
local outdir = opts.out or (root .. "/results")

local function list(pattern)
  local p = assert(io.popen("ls -1 " .. B.shq(here) .. " 2>/dev/null"))
  local names = {}
  for name in p:lines() do
    if name:match(pattern) then names[#names + 1] = name end
  end
  p:close()
  table.sort(names)
  return names
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function mkdir(d) os.execute("mkdir -p " .. B.shq(d)) end

local failures = 0

local function experiments()
  local names = list("^%d%d_[%w_]+%.lua$")
  mkdir(outdir .. "/logs")
  local results = {}
  local t_all = fm.now()
  print(("fastmatch experiments (%s mode): %d scripts in %s"):format(opts.quick and "quick" or "full", #names, here))
  for i, name in ipairs(names) do
    local id = tonumber(name:sub(1, 2))
    if not opts.only or opts.only[id] then
      io.write(("[%2d/%d] %-24s running ...\n"):format(i, #names, name:gsub("%.lua$", "")))
      io.stdout:flush()
      local t0 = fm.now()
      local out, _, ok = B.script(here .. "/" .. name, { args = opts.quick and "--quick" or "" })
      local dt = fm.now() - t0
      write(outdir .. "/logs/" .. name:gsub("%.lua$", ".log"), out)
      local r, err = B.find_result(out)
      local good, what = B.check_result(r)
      if not r or not good then
        failures = failures + 1
        local last = out:gsub("%s+$", ""):match("([^\n]*)$") or ""
        r = { id = id, title = name, claim = "?", verdict = "not applicable here",
              why = ("the script failed (%s): %s"):format(tostring(err or what), last:sub(1, 120)),
              before = { unit = "", what = "" }, after = { unit = "", what = "" } }
      end
      if r.verdict == "not applicable here" and tostring(r.why):match("^failed:") then
        failures = failures + 1 -- the experiment crashed: reported, and the run exits non-zero
      end
      r.script = "examples/" .. name
      r.exit_ok = ok and true or false
      results[#results + 1] = r
      io.write(("[%2d/%d] %-24s done in %.1f s: %s%s -> %s\n"):format(i, #names, name:gsub("%.lua$", ""), dt,
        r.measured and (B.fmt(r.measured) .. " " .. (r.metric or "")) or "n/a",
        r.claim_value and (" (claim " .. B.fmt(r.claim_value) .. ")") or "", r.verdict))
      io.stdout:flush()
    end
  end
  local v = B.versions()
  print()
  print(B.text_table(results))
  print()
  print("Machine: " .. B.machine_line(v))
  print(("Total: %.1f s (%s mode)"):format(fm.now() - t_all, opts.quick and "quick" or "full"))
  write(outdir .. "/experiments.json", B.json(results) .. "\n")
  write(outdir .. "/experiments.md", ("# fastmatch experiments (%s run, %s)\n\n"):format(
    opts.quick and "quick" or "full", os.date("!%Y-%m-%d %H:%M UTC")) .. B.markdown(results, v, { link = "../" }))
  write(outdir .. "/experiments.svg", B.svg(results, v))
  print(("Wrote %s/experiments.json, experiments.md, experiments.svg; per-script logs in %s/logs/"):format(outdir, outdir))
end

local function bench()
  local names = list("^bench_[%w_]+%.lua$")
  mkdir(outdir .. "/bench")
  if #names == 0 then print("no examples/bench_*.lua yet: nothing to run"); return end
  for i, name in ipairs(names) do
    print(("[%d/%d] %s running ..."):format(i, #names, name))
    io.stdout:flush()
    local t0 = fm.now()
    local cmd = ("env LUA_PATH_5_4=%s LUA_CPATH_5_4=%s %s %s %s 2>&1"):format(B.shq(package.path), B.shq(package.cpath),
      B.shq(B.lua()), B.shq(here .. "/" .. name), opts.quick and "--quick" or "")
    local p = assert(io.popen(cmd))
    local log = {}
    for line in p:lines() do print("  " .. line); io.stdout:flush(); log[#log + 1] = line end
    local ok, _, code = p:close()
    write(outdir .. "/bench/" .. name:gsub("%.lua$", ".log"), table.concat(log, "\n") .. "\n")
    if not ok then failures = failures + 1 end
    print(("[%d/%d] %s done in %.1f s%s"):format(i, #names, name, fm.now() - t0, ok and "" or (" (exit " .. tostring(code) .. ")")))
  end
  print("Machine: " .. B.machine_line())
end

local function last_table()
  local results = {}
  local p = assert(io.popen("ls -1 " .. B.shq(outdir .. "/logs") .. " 2>/dev/null"))
  for name in p:lines() do
    local f = name:match("^%d%d_[%w_]+%.log$") and io.open(outdir .. "/logs/" .. name)
    if f then
      local r = B.find_result(f:read("a"))
      f:close()
      if r then r.script = "examples/" .. name:gsub("%.log$", ".lua"); results[#results + 1] = r end
    end
  end
  p:close()
  table.sort(results, function(a, b) return a.id < b.id end)
  io.write(B.markdown(results, B.versions(), { link = "" }))
end

if opts.table then last_table(); os.exit(0) end
mkdir(outdir)
if opts.experiments then experiments() end
if opts.bench then bench() end
if failures > 0 then
  io.stderr:write(("run_all: %d script(s) failed; see %s\n"):format(failures, outdir))
  os.exit(1)
end

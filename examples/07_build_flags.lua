-- Experiment 7 -- "Do not compile with codegen-units=1": the guide found
-- that Rust's most aggressive whole-program setting made Hayabusa no
-- faster (or slower).  The C analogue: build fastmatch with the default
-- -O2 and with -O3 -flto (and -O0 to show the scale flags can have), then
-- run the same workload on each build in a child interpreter, interleaved.
-- The builds go to build/<variant>/ (make VARIANT=o3lto CFLAGS='-O3 -flto').
--   lua5.4 examples/07_build_flags.lua [--quick]
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local B = require "fastmatch.bench"

local VARIANTS = {
  { name = "o2", cflags = "-O2 -g", label = "-O2 (default)" },
  { name = "o3lto", cflags = "-O3 -flto -g", label = "-O3 -flto" },
  { name = "o0", cflags = "-O0 -g", label = "-O0" },
}

-- The workload exercises the module's own C code, whichever capability is
-- built: wildcard matching, line splitting, regex calls, or (foundation
-- only) the Lua allocator hook under -l fastmatch.mimalloc.
local WORKLOAD = [==[
local fm = require "fastmatch"
local n = tonumber(arg[1])
print("so=" .. tostring(package.searchpath("fastmatch.core", package.cpath)))
local S = {}
for i = 1, 1000 do
  S[i] = ("C:\\Users\\user%d\\AppData\\Local\\Temp\\%s-%d.exe -NoProfile -EncodedCommand %x"):format(
    i % 17, i % 5 == 0 and "PowerShell" or "cmd", i, i * 7919)
end
local t0, c0, kind = fm.now(), os.clock(), nil
if fm.wildcard then
  kind = "fm.wildcard caseless contains + suffix over 1000 strings"
  local w1, w2 = fm.wildcard("*powershell*"), fm.wildcard("*.EXE")
  local hits = 0
  for _ = 1, n // 2500 do -- about as long as the other workloads
    for i = 1, #S do
      if w1:test(S[i]) then hits = hits + 1 end
      if w2:test(S[i]) then hits = hits + 1 end
    end
  end
elseif fm.lines_of then
  kind = "fm.lines_of over a 1000-line string"
  local text = table.concat(S, "\n")
  local c = 0
  for _ = 1, n // 1000 do for _ in fm.lines_of(text) do c = c + 1 end end
elseif fm.compile then
  kind = "fm.compile'd regex :test over 1000 strings"
  local re = fm.compile("powershell", "i")
  for _ = 1, n // 3000 do for i = 1, #S do re:test(S[i]) end end
else
  kind = "Lua allocation churn through the fastmatch.mimalloc hook"
  require "fastmatch.mimalloc"
  local live = {}
  for i = 1, n // 4 do live[i % 5000 + 1] = { i, S[i % 1000 + 1] .. i } end
end
print(("seconds=%.6f"):format(fm.now() - t0), ("cpu=%.6f"):format(os.clock() - c0))
print("kind=" .. kind)
]==]

return B.experiment({
  id = 7, title = "Do not compile with codegen-units=1",
  claim = "codegen-units=1 (the most aggressive build) brought no gain, or was slower",
  claim_value = 1, metric = "x faster with -O3 -flto", unit = "s",
  before = "-O2 build", after = "-O3 -flto build",
}, function()
  if not B.root then
    return { verdict = "not applicable here", why = "no Makefile beside fastmatch.bench (an installed copy cannot rebuild itself)",
             before = { unit = "s", what = "-O2 build" }, after = { unit = "s", what = "-O3 -flto build" } }
  end
  for _, v in ipairs(VARIANTS) do
    -- env -u: a surrounding make's command-line variables (MAKEFLAGS) must not leak in
    local cmd = ("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C %s --no-print-directory VARIANT=%s CFLAGS=%s all 2>&1"):format(
      B.shq(B.root), v.name, B.shq(v.cflags))
    local p = assert(io.popen(cmd))
    local log = p:read("a")
    if not p:close() then error("build " .. v.name .. " failed: " .. log:sub(-400)) end
    v.dir = B.root .. "/build/" .. v.name
    v.t = {}
  end
  local n = B.size(6000000, 200000)
  local runs = B.quick and 1 or 5
  local kind
  for _ = 1, runs do
    for _, v in ipairs(VARIANTS) do
      local out, _, ok, kv = B.child(WORKLOAD, { cpath = v.dir, args = tostring(n) })
      if not ok or not kv.seconds then error("workload on " .. v.name .. " failed: " .. out:sub(-300)) end
      if not tostring(kv.so):find("/build/" .. v.name .. "/", 1, true) then
        error("the child loaded " .. tostring(kv.so) .. ", not the " .. v.name .. " build")
      end
      v.t[#v.t + 1] = kv.cpu or kv.seconds
      kind = kv.kind
    end
  end
  -- the fastest run of each: noise from the other processes on a shared
  -- machine only ever adds time, and CPU time (os.clock) leaves out waiting
  for _, v in ipairs(VARIANTS) do v.m = math.min(table.unpack(v.t)) end
  local o2, o3, o0 = VARIANTS[1].m, VARIANTS[2].m, VARIANTS[3].m
  local ratio = o2 / o3
  local verdict, why
  local note = o0 < o2 * 1.10 and "-O0 no slower" or ""
  if ratio <= 1.10 then
    verdict = "confirmed"
    why = ("-O3 -flto ran at %.2fx the speed of -O2: %s"):format(ratio, ratio < 0.97 and "slower" or "no real gain")
  else
    verdict = "weaker"
    why = ("contradicted here: -O3 -flto ran %.0f%% faster than -O2 on this workload"):format((ratio - 1) * 100)
  end
  if note ~= "" then
    -- when even -O0 is as fast, the differences are noise: say so rather
    -- than judge the claim on them
    verdict = "not applicable here"
    why = ("-O0, -O2 and -O3 -flto within noise (%.2fx, 1, %.2fx): this workload runs too little of the module's own code to tell"):format(
      o2 / o0, ratio)
  end
  return {
    before = { value = o2, unit = "s CPU", what = "-O2 build: " .. kind },
    after = { value = o3, unit = "s CPU", what = "-O3 -flto build, same workload" },
    ratio = ratio, verdict = verdict, why = why,
    details = { ("workload: %s, %d ops, %d runs each, interleaved; fastest CPU time of each"):format(kind, n, runs),
                ("-O0 %.3f s, -O2 %.3f s, -O3 -flto %.3f s: -O0 is %.1fx slower than -O2"):format(o0, o2, o3, o0 / o2) },
  }
end)

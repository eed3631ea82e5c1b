-- bench_wildcard.lua: Sigma wildcards against what a Lua programmer would
-- otherwise write.  Ratios of medians, measured side by side in one run.
--   lua5.4 examples/bench_wildcard.lua [--quick]
-- Uses ../shared/data/sigma (SigmaHQ values and events) when present for
-- the big set; otherwise says so and uses synthetic patterns.
dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua") -- the tree's build
local fm = require "fastmatch"
local core = require "fastmatch.core" -- the private entry points
local B = require "fastmatch.bench"

local has_rex, rex = pcall(require, "rex_pcre2")

print("== bench_wildcard: " .. B.machine())
print(("   caseless search kernel: %s; peers: Lua %s string.lower/find, %s"):format(
  core._search_impl(), _VERSION,
  has_rex and (rex._VERSION .. ", PCRE2 " .. rex.version()) or "rex_pcre2 not installed"))

local function goal(what, ratio, want)
  print(("   => %s: %.2fx faster (goal >= %.1fx: %s)"):format(what, ratio, want,
    ratio >= want and "met" or "NOT met"))
end

-- r: B.compare results whose cases are {w(s), w:test(s), peer}
local function goal2(what, r, want)
  local peer = r[3].seconds
  goal(what .. ", w(s)", peer / r[1].seconds, want)
  goal(what .. ", w:test(s)", peer / r[2].seconds, want)
end

print("   (w(s) is __call: one C call; w:test(s) finds test in the wildcard's own __index table,")
print("    then calls it: one C call too, like lrexlib's r:find)")

-- ------------------------------------------------------------- log lines
local POOL = 10000
local words = { "svchost.exe", "-k", "netsvcs", "C:\\Windows\\System32\\cmd.exe", "/c", "dir",
  "explorer.exe", "rundll32.exe", "shell32.dll,Control_RunDLL", "HKLM\\Software\\Microsoft",
  "user=alice", "user=BOB", "GET", "/index.html", "200", "Mozilla/5.0", "sshd[812]:",
  "Accepted", "publickey", "for", "root", "from", "10.0.3.7", "port", "51234", "ERROR", "warn" }
local lines = {}
do
  local seed = 12345
  local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n + 1 end
  for i = 1, POOL do
    local t = { ("2024-05-%02d T%02d:%02d:%02d host-%d"):format(rnd(28), rnd(24) - 1, rnd(60) - 1,
      rnd(60) - 1, rnd(50)) }
    for k = 2, 6 + rnd(10) do t[k] = words[rnd(#words)] end
    if i % 97 == 0 then t[#t + 1] = "PowerShell.EXE -nop -w hidden" end
    lines[i] = table.concat(t, " ")
  end
end
local N = B.size(1000000, 20000)
local ROUNDS = N // POOL > 0 and N // POOL or 1
local TOTAL = ROUNDS * POOL
print(("   %d log lines (a pool of %d, %d rounds), mean length %.0f bytes"):format(TOTAL, POOL,
  ROUNDS, (function() local s = 0; for _, l in ipairs(lines) do s = s + #l end; return s / POOL end)()))

-- ------------------------------------------- 1. caseless contains vs lower()
do
  local w = fm.wildcard("*powershell*")
  local c1, c2 = 0, 0
  local r = B.compare("caseless contains: fm.wildcard('*powershell*') vs s:lower():find('powershell', 1, true)", {
    { name = "fm.wildcard w(s)", n = TOTAL, fn = function()
      local c = 0
      for _ = 1, ROUNDS do for i = 1, POOL do if w(lines[i]) then c = c + 1 end end end
      c1 = c
    end },
    { name = "fm.wildcard w:test(s)", n = TOTAL, fn = function()
      local c = 0
      for _ = 1, ROUNDS do for i = 1, POOL do if w:test(lines[i]) then c = c + 1 end end end
      c1 = c
    end },
    { name = "s:lower():find(p, 1, true)", n = TOTAL, fn = function()
      local c = 0
      for _ = 1, ROUNDS do
        for i = 1, POOL do if lines[i]:lower():find("powershell", 1, true) then c = c + 1 end end
      end
      c2 = c
    end },
  })
  assert(c1 == c2, "the two disagree")
  goal2("caseless contains vs lower+find", r, 2.5)
end

-- ------------------------------------ 2. exact / prefix / suffix vs PCRE2 JIT
do
  local paths = {}
  local dirs = { "C:\\Windows\\System32\\", "C:\\Program Files\\App\\", "C:\\Users\\alice\\AppData\\Local\\Temp\\" }
  local exes = { "cmd.exe", "powershell.exe", "svchost.exe", "rundll32.exe", "notepad.exe", "Setup.EXE" }
  for i = 1, POOL do paths[i] = dirs[i % #dirs + 1] .. exes[(i * 7) % #exes + 1] end
  local cases = {
    { "exact", "C:\\\\Windows\\\\System32\\\\cmd.exe", "^C:\\\\Windows\\\\System32\\\\cmd\\.exe$" },
    { "prefix", "C:\\\\Windows\\\\*", "^C:\\\\Windows\\\\" },
    { "suffix", "*\\\\powershell.exe", "\\\\powershell\\.exe$" },
  }
  for _, c in ipairs(cases) do
    local w = fm.wildcard(c[2])
    assert(w.kind == c[1])
    if not has_rex then
      print("-- " .. c[1] .. ": SKIP, rex_pcre2 (lrexlib) is not installed")
    else
      local re = rex.new(c[3], rex.flags().CASELESS)
      local jit = type(re.jit_compile) == "function" and re:jit_compile()
      local n1, n2 = 0, 0
      local r = B.compare(("%s: fm.wildcard(%q) vs PCRE2%s %q"):format(c[1], c[2],
        jit and " JIT" or " (no JIT: jit_compile unavailable)", c[3]), {
        { name = "fm.wildcard w(s) (" .. c[1] .. ")", n = TOTAL, fn = function()
          local k = 0
          for _ = 1, ROUNDS do for i = 1, POOL do if w(paths[i]) then k = k + 1 end end end
          n1 = k
        end },
        { name = "fm.wildcard w:test(s) (" .. c[1] .. ")", n = TOTAL, fn = function()
          local k = 0
          for _ = 1, ROUNDS do for i = 1, POOL do if w:test(paths[i]) then k = k + 1 end end end
          n1 = k
        end },
        { name = "rex_pcre2 r:find" .. (jit and " (JIT)" or ""), n = TOTAL, fn = function()
          local k = 0
          for _ = 1, ROUNDS do for i = 1, POOL do if re:find(paths[i]) then k = k + 1 end end end
          n2 = k
        end },
      })
      assert(n1 == n2, "the two disagree on " .. c[1])
      goal2(c[1] .. " vs PCRE2 JIT", r, 1.5)
    end
  end
end

-- --------------------------------------- 3. one set vs a loop over matchers
local function set_vs_loop(title, list, subjects, rounds, want)
  local set, ws = fm.set(list), {}
  for i, p in ipairs(list) do ws[i] = fm.wildcard(p) end
  local a, b = 0, 0
  local nsub = #subjects
  local r = B.compare(title, {
    { name = ("fm.set of %d :test"):format(#list), n = rounds * nsub, fn = function()
      local k = 0
      for _ = 1, rounds do for i = 1, nsub do if set:test(subjects[i]) then k = k + 1 end end end
      a = k
    end },
    { name = ("Lua loop over %d fm.wildcard, w:test(s)"):format(#list), n = rounds * nsub, fn = function()
      local k, nw = 0, #ws
      for _ = 1, rounds do
        for i = 1, nsub do
          local s = subjects[i]
          for j = 1, nw do if ws[j]:test(s) then k = k + 1; break end end
        end
      end
      b = k
    end },
    { name = ("Lua loop over %d fm.wildcard, w(s)"):format(#list), n = rounds * nsub, fn = function()
      local k, nw = 0, #ws
      for _ = 1, rounds do
        for i = 1, nsub do
          local s = subjects[i]
          for j = 1, nw do if ws[j](s) then k = k + 1; break end end
        end
      end
      assert(k == a)
    end },
  })
  assert(a == b, "set and loop disagree")
  goal(title .. ", loop of w:test(s)", r[2].speedup, want)
  goal(title .. ", loop of w(s)", r[3].speedup, want)
end

local values
do
  local f = io.open("../shared/data/sigma/sigma_values.lua")
  if f then
    f:close()
    values = dofile("../shared/data/sigma/sigma_values.lua")
  else
    print("   (../shared/data/sigma absent: synthetic patterns; SigmaHQ set benchmark SKIPPED)")
  end
end

do
  local list = {}
  if values then
    -- 100 CommandLine values, spread over the list (no "*" / "**" catch-alls)
    local cl = {}
    for _, v in ipairs(values) do
      if v[2] == "CommandLine" and not v[7] and v[5]:find("[^*]") then cl[#cl + 1] = v[5] end
    end
    for i = 1, 100 do list[i] = cl[(i * 149) % #cl + 1] end
  else
    for i = 1, 100 do
      list[i] = ({ "*%s*", "%s*", "*%s", "*%s*.exe*" })[i % 4 + 1]:format("tok" .. i .. "x")
    end
  end
  set_vs_loop("100 patterns: fm.set vs a Lua loop over 100 matchers (log lines)", list, lines,
    math.max(1, B.size(100000, 2000) // POOL), 5)
end

if values then
  local list, cmd = {}, {}
  for _, v in ipairs(values) do
    if v[2] == "CommandLine" and not v[7] then list[#list + 1] = v[5] end
  end
  for _, ev in ipairs(dofile("../shared/data/sigma/sigma_events.lua")) do
    if ev.fields.CommandLine then cmd[#cmd + 1] = ev.fields.CommandLine end
  end
  -- :test stops at the first hit; "**" would make that instant, so measure :all too
  local set = fm.set(list)
  local ws = {}
  for i, p in ipairs(list) do ws[i] = fm.wildcard(p) end
  local rounds = B.size(20, 1)
  local r = B.compare(("SigmaHQ: all %d CommandLine values as one set, :all over %d event command lines"):format(
    #list, #cmd), {
    { name = "fm.set :all", n = rounds * #cmd, fn = function()
      for _ = 1, rounds do for i = 1, #cmd do set:all(cmd[i]) end end
    end },
    { name = "Lua loop over every fm.wildcard", n = rounds * #cmd, fn = function()
      for _ = 1, rounds do
        for i = 1, #cmd do
          local s, t = cmd[i], {}
          for j = 1, #ws do if ws[j]:test(s) then t[#t + 1] = j end end
        end
      end
    end },
  })
  print(("   => %-56s measured %6.1fx (CPU time %.1fx)   goal >= 200x (%.2f us an event, %.1f matches an event)"):format(
    "fm.set :all vs a Lua loop over every matcher", r[2].speedup, r[2].cpu_speedup or 0 / 0,
    r[1].seconds / (rounds * #cmd) * 1e6,
    (function() local m = 0 for i = 1, #cmd do m = m + #set:all(cmd[i]) end return m / #cmd end)()))
end

-- ------------------------------------- 4. raw caseless search throughput
do
  local MB = B.size(100, 4)
  local chunk = table.concat(lines, "\n", 1, 200) .. "\n"
  local big = chunk:rep((MB * 1048576) // #chunk + 1):sub(1, MB * 1048576)
  chunk = nil
  local needle = "ZQXJ-not-there" -- a letter first, absent from the data
  assert(not fm.contains(big, needle, true))
  local cur = core._search_impl()
  local _, impls = core._search_impl()
  local cases = {
    { name = "memchr (fm.contains, one absent byte)", n = 1, fn = function() assert(not fm.contains(big, "\1")) end },
    { name = "memmem (fm.contains, exact)", n = 1, fn = function() assert(not fm.contains(big, needle)) end },
  }
  for _, impl in ipairs(impls) do
    cases[#cases + 1] = { name = "fm.contains caseless, " .. impl, n = 1, fn = function()
      core._search_impl(impl)
      assert(not fm.contains(big, needle, true))
      core._search_impl(cur)
    end }
  end
  cases[#cases + 1] = { name = "string.find(big, needle, 1, true)", n = 1, fn = function()
    assert(not big:find(needle, 1, true)) end }
  local r = B.compare(("raw search over %d MB (GB/s = bytes / median time)"):format(MB), cases,
    { runs = B.quick and 1 or 5 })
  for _, c in ipairs(r) do
    print(("   %-52s %6.2f GB/s"):format(c.name, #big / c.seconds / 1e9))
  end
  big = nil
  collectgarbage()
end

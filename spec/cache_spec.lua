-- The compiled-rule cache: eng:load(paths, {cache = dir}) (sigma/cache.lua
-- over csrc/pack.c). A cached engine must behave as a freshly compiled one,
-- and a cache must never serve a stale rule: each case below changes the
-- rules or the options and checks what fires, not only whether the cache
-- was used. Then SigmaHQ's regression events, every one matched by a cold
-- and a warm engine with the same hits; a corrupt or truncated file, a file
-- of another key, concurrent writers; fastmatch-hunt's --cache/--no-cache.
local C = require "spec.compat"
local ok_sigma, sigma = pcall(require, "fastmatch.sigma")
local core = require "fastmatch.core"
local ok_y, Y = pcall(require, "fastmatch.sigma.yaml")
if not (ok_sigma and ok_y and Y.load and pcall(require, "cjson")) then
  describe("sigma cache", function()
    pending("needs fastmatch.sigma with a YAML reader (libyaml or lyaml) and lua-cjson")
  end)
  return
end

local src = debug.getinfo(1, "S").source:match("^@(.*)$")
local root = src:match("^(.*)/spec/[^/]*$") or "."
if root:sub(1, 1) ~= "/" then
  local p = io.popen("pwd")
  root = p:read("*l") .. "/" .. root
  p:close()
end

local function shared_dir()
  for _, d in ipairs { os.getenv("FM_SHARED") or false, root .. "/../shared" } do
    if d then
      local f = io.open(d .. "/data/sigma/sigmahq/thor.yml")
      if f then f:close(); return d .. "/data/sigma/sigmahq/" end
    end
  end
end
local DATA = shared_dir()
local NODATA = "SigmaHQ data not found (set FM_SHARED, or ../shared/data/sigma beside the repo)"

local function sh(cmd) return os.execute(cmd) end
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  sh("mkdir -p " .. q(d))
  return d
end
local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end
local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
local function ls(dir)
  local out = {}
  local p = io.popen("ls -1A " .. q(dir) .. " 2>/dev/null")
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  table.sort(out)
  return out
end

local function rule(id, image, level)
  return ([[
title: rule %s
id: %s
status: test
level: %s
logsource:
  category: process_creation
  product: windows
detection:
  selection:
    Image|endswith: '%s'
  condition: selection
]]):format(id, id, level or "high", image)
end

local function event(image)
  return { Event = { System = { EventID = 1, Channel = "Microsoft-Windows-Sysmon/Operational" },
    EventData = { Image = image } } }
end

-- load dir with the cache in cdir -> engine, ids fired on each image
local function load(dir, cdir, opts)
  local eng = assert(sigma.engine(opts))
  local n, sk = eng:load(dir, { cache = cdir })
  assert(n, sk)
  return eng
end
local function fired(eng, image)
  local out = {}
  for _, r in ipairs(eng:match(event(image))) do out[#out + 1] = r.id end
  return table.concat(out, ",")
end

describe("sigma cache", function()
  local rules, cdir
  before_each(function()
    rules, cdir = tmpdir(), tmpdir()
    write(rules .. "/a.yml", rule("a", "\\whoami.exe"))
    write(rules .. "/b.yml", rule("b", "\\net.exe"))
  end)
  after_each(function()
    sh("rm -rf " .. q(rules) .. " " .. q(cdir))
  end)

  it("compiles and writes on the first load, reads it on the second, with the same engine", function()
    local e1 = load(rules, cdir)
    assert.is_false(e1.cache.hit)
    assert.is_nil(e1.cache.error)
    assert.equal(1, #ls(cdir))
    local e2 = load(rules, cdir)
    assert.is_true(e2.cache.hit)
    assert.equal(2, #e2.rules)
    for _, img in ipairs { [[C:\x\whoami.exe]], [[C:\x\NET.EXE]], [[C:\x\cmd.exe]] } do
      assert.equal(fired(e1, img), fired(e2, img))
    end
    assert.equal("a", fired(e2, [[C:\x\whoami.exe]]))
    assert.same(e1:stats(), e2:stats())
    -- the restored rules are whole: metadata, and the engine takes more rules
    assert.equal("rule a", e2.rules[1].title)
    assert.equal("high", e2.rules[1].level)
    e2:add(rule("c", "\\cmd.exe"), "c.yml")
    assert.equal("c", fired(e2, [[C:\x\cmd.exe]]))
  end)

  it("compiles a rule set with correlations or filters each time: never serves it without them", function()
    write(rules .. "/c.yml", [[
title: many whoami
id: c
correlation:
  type: event_count
  rules: [a]
  group-by: [Image]
  timespan: 5m
  condition: {gte: 2}
]])
    for _ = 1, 2 do
      local e = load(rules, cdir)
      assert.is_false(e.cache.hit)
      assert.matches("correlations or filters", e.cache.error, 1, true)
      assert.equal(1, #e.correlations)
      assert.equal(0, #ls(cdir))
    end
  end)

  it("never serves an edited rule, even of the same size and with its old mtime", function()
    load(rules, cdir)
    local old = read(rules .. "/a.yml")
    sh("touch -r " .. q(rules .. "/a.yml") .. " " .. q(cdir .. "/mtime"))
    write(rules .. "/a.yml", (old:gsub("whoami", "whoamj")))
    sh("touch -r " .. q(cdir .. "/mtime") .. " " .. q(rules .. "/a.yml"))
    os.remove(cdir .. "/mtime")
    local e = load(rules, cdir)
    assert.is_false(e.cache.hit)
    assert.equal("", fired(e, [[C:\x\whoami.exe]]))
    assert.equal("a", fired(e, [[C:\x\whoamj.exe]]))
    assert.is_true(load(rules, cdir).cache.hit)
  end)

  it("serves a touched rule (same content) as it is: the content decides", function()
    load(rules, cdir)
    sh("touch -d '2001-01-01' " .. q(rules .. "/a.yml"))
    local e = load(rules, cdir)
    assert.is_true(e.cache.hit)
    assert.equal("a", fired(e, [[C:\x\whoami.exe]]))
  end)

  it("drops a deleted rule and takes an added one", function()
    load(rules, cdir)
    os.remove(rules .. "/b.yml")
    local e = load(rules, cdir)
    assert.is_false(e.cache.hit)
    assert.equal(1, #e.rules)
    assert.equal("", fired(e, [[C:\x\net.exe]]))
    write(rules .. "/c.yml", rule("c", "\\net.exe"))
    e = load(rules, cdir)
    assert.is_false(e.cache.hit)
    assert.equal("c", fired(e, [[C:\x\net.exe]]))
  end)

  it("keys by the engine options: another option is another engine", function()
    load(rules, cdir)
    local e = load(rules, cdir, { cased = true })
    assert.is_false(e.cache.hit)
    assert.equal("", fired(e, [[C:\x\WHOAMI.EXE]]))
    assert.equal("a", fired(load(rules, cdir), [[C:\x\WHOAMI.EXE]]))
    assert.is_true(load(rules, cdir, { cased = true }).cache.hit)
    assert.is_false(load(rules, cdir, { wildcards = "regex" }).cache.hit)
    local r = load(rules, cdir, { wildcards = "regex" })
    assert.is_true(r.cache.hit)
    assert.equal("a", fired(r, [[C:\x\whoami.exe]]))
  end)

  it("keys by the paths loaded and a mapping file's content", function()
    load(rules, cdir)
    assert.is_false(load({ rules .. "/a.yml" }, cdir).cache.hit)
    if DATA then
      local map = cdir .. "/map.yml"
      write(map, read(DATA .. "thor.yml"))
      assert.is_false(load(rules, cdir, { logsources = map }).cache.hit)
      assert.is_true(load(rules, cdir, { logsources = map }).cache.hit)
      write(map, read(DATA .. "thor.yml") .. "\n# changed\n")
      assert.is_false(load(rules, cdir, { logsources = map }).cache.hit)
    end
  end)

  it("ignores a corrupt, truncated or foreign cache file, recompiles and rewrites it", function()
    load(rules, cdir)
    local name
    for _, f in ipairs(ls(cdir)) do if f:match("%.fmc$") then name = cdir .. "/" .. f end end
    local good = read(name)
    local bad = {
      good:sub(1, math.floor(#good / 2)), good:sub(1, 80), "", "garbage",
      good:sub(1, 100) .. string.char((good:byte(101) + 1) % 256) .. good:sub(102),
      good:sub(1, -2) .. string.char((good:byte(-1) + 1) % 256),
      "FMSC1\n" .. ("0"):rep(32) .. good:sub(39),  -- another key
    }
    for i, b in ipairs(bad) do
      write(name, b)
      local e = load(rules, cdir)
      assert.is_false(e.cache.hit, "case " .. i)
      assert.equal("a", fired(e, [[C:\x\whoami.exe]]))
      assert.is_true(load(rules, cdir).cache.hit, "rewritten, case " .. i)
    end
  end)

  it("leaves a whole file with concurrent writers (temporary file + rename)", function()
    local lua = C.lua
    local script = cdir .. "/w.lua"
    write(script, ([[
local sigma = require "fastmatch.sigma"
local eng = sigma.engine()
assert(eng:load(%q, { cache = %q }))
io.write(#eng.rules, eng.cache.hit and " hit" or " miss", "\n")
]]):format(rules, cdir .. "/c"))
    local env = ("%s=%q %s=%q"):format(C.pathvar, package.path, C.cpathvar, package.cpath)
    local cmd = {}
    for i = 1, 6 do cmd[i] = ("%s %s %s > %s/out%d 2>&1 &"):format(env, lua, q(script), q(cdir), i) end
    sh(table.concat(cmd, " ") .. " wait")
    for i = 1, 6 do assert.matches("^2 ", read(cdir .. "/out" .. i) or "") end
    local files = ls(cdir .. "/c")
    assert.equal(1, #files, table.concat(files, " "))  -- no temporary file left
    local again = load(rules, cdir .. "/c")
    assert.is_true(again.cache.hit, tostring(again.cache.missed))
  end)

  it("keys by the engine's own Lua code: a changed compiler never reads an old cache", function()
    local tree = cdir .. "/tree"
    sh("cp -r " .. q(root .. "/lua") .. " " .. q(tree))
    local script = cdir .. "/w.lua"
    write(script, ([[
local sigma = require "fastmatch.sigma"
local eng = sigma.engine()
assert(eng:load(%q, { cache = %q }))
io.write(eng.cache.hit and "hit" or "miss")
]]):format(rules, cdir .. "/c"))
    local path = tree .. "/?.lua;" .. tree .. "/?/init.lua;" .. package.path
    local function run()
      local p = io.popen(("%s=%q %s=%q %s %s 2>&1"):format(C.pathvar, path, C.cpathvar, package.cpath, C.lua, q(script)))
      local out = p:read("*a")
      p:close()
      return out
    end
    assert.equal("miss", run())
    assert.equal("hit", run())
    local f = assert(io.open(tree .. "/fastmatch/sigma/rule.lua", "a"))
    f:write("\n-- changed\n")
    f:close()
    assert.equal("miss", run())
    assert.equal("hit", run())
  end)

  it("loads the rules when the cache cannot be written, and says why", function()
    write(cdir .. "/file", "x")
    local e = load(rules, cdir .. "/file/sub")  -- a directory under a file: never made
    assert.is_false(e.cache.hit)
    assert.matches("not written", e.cache.error)
    assert.equal("a", fired(e, [[C:\x\whoami.exe]]))
  end)

  it("serves a fresh engine only; an engine with rules compiles as without a cache", function()
    local eng = assert(sigma.engine())
    eng:add(rule("x", "\\x.exe"), "x.yml")
    assert(eng:load(rules, { cache = cdir }))
    assert.is_false(eng.cache.hit)
    assert.matches("fresh", eng.cache.error)
    assert.equal(3, #eng.rules)
    assert.same({}, ls(cdir))
  end)

  it("takes cache = true as $XDG_CACHE_HOME/fastmatch, and refuses a bad option", function()
    local cache = require "fastmatch.sigma.cache"
    local d = cache.default_dir()
    local x = os.getenv("XDG_CACHE_HOME")
    if x and x ~= "" then assert.equal(x .. "/fastmatch", d) else assert.matches("/%.cache/fastmatch$", d) end
    local eng = sigma.engine()
    assert.has_error(function() eng:load(rules, { cache = 5 }) end,
      "bad argument #2 to 'load' (cache must be a boolean or a directory)")
    assert.has_error(function() eng:load(rules, { nope = 1 }) end,
      "bad argument #2 to 'load' (unknown option 'nope')")
    assert.has_error(function() eng:load({ 5 }) end, "bad argument #1 to 'load' (path 1 is a number)")
    local n, err = eng:load({ rules, rules .. "/none" }, { cache = cdir })
    assert.is_nil(n)
    assert.matches("none", err)
  end)

  it("fastmatch-hunt keeps the cache in --cache DIR and writes none with --no-cache", function()
    local ev = cdir .. "/ev.jsonl"
    write(ev, '{"Event":{"System":{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational"},'
      .. '"EventData":{"Image":"C:\\\\x\\\\whoami.exe"}}}\n')
    local env = ("%s=%q %s=%q"):format(C.pathvar, package.path, C.cpathvar, package.cpath)
    local function hunt(flags)
      local p = io.popen(("%s %s %s --rules %s %s %s 2>%s/err"):format(env, C.lua, q(root .. "/bin/fastmatch-hunt"),
        q(rules), flags, q(ev), q(cdir)))
      local out = p:read("*a")
      p:close()
      return out, read(cdir .. "/err")
    end
    local out1, err1 = hunt("--no-cache")
    assert.same({ "err", "ev.jsonl" }, ls(cdir))
    assert.matches("rule a", out1)
    local out2, err2 = hunt("--cache " .. q(cdir .. "/hc"))
    assert.equal(1, #ls(cdir .. "/hc"))
    local out3, err3 = hunt("--cache " .. q(cdir .. "/hc"))
    assert.equal(out1, out2)
    assert.equal(out1, out3)
    assert.not_matches("from the cache", err2 or "")
    assert.matches("from the cache", err3 or "")
    assert.not_matches("cache", err1 or "")
  end)

  describe("core._pack / core._unpack", function()
    local function rt(v, known)
      return core._unpack(core._pack(v, function() return nil end, known), 1, function(d) return d end, known)
    end
    it("keeps shared tables shared, cycles, subtypes, and known sentinels by identity", function()
      local star, shared = {}, { 1 }
      local t = { a = shared, b = shared, s = star, n = -3, f = 0.5, big = C.maxinteger, neg = C.mininteger,
        ["\0k"] = "v\0", [true] = false }
      t.self = t
      local u = rt(t, { star })
      assert.equal(u.a, u.b)
      assert.equal(u, u.self)
      assert.equal(star, u.s)
      assert.equal(-3, u.n)
      assert.equal(0.5, u.f)
      assert.equal(C.maxinteger, u.big)
      assert.equal(C.mininteger, u.neg)
      assert.equal("v\0", u["\0k"])
      assert.equal(false, u[true])
      if C.has_integers then assert.equal("integer", math.type(u.n)); assert.equal("float", math.type(u.f)) end
    end)
    it("asks the hook for userdata and functions, and leaves out what it declines", function()
      local fn = function() end
      local s = core._pack({ fn, x = fn, io.stdout, y = io.stdout }, function(x)
        if x == io.stdout then return { "out" } end
      end)
      local n = 0
      local u = core._unpack(s, 1, function(d) n = n + 1; return "revived " .. d[1] end)
      assert.equal(1, n)  -- the same object once
      assert.is_nil(u[1]); assert.is_nil(u.x)
      assert.equal("revived out", u[2]); assert.equal("revived out", u.y)
    end)
    it("raises, never crashes, on every truncation and on random bytes (seed 7)", function()
      local s = core._pack({ a = { 1, 2, "x" }, b = "x", c = { d = 1.5 } }, function() end)
      for i = 0, #s - 1 do
        assert.is_false(pcall(core._unpack, s:sub(1, i), 1, function() return 1 end))
      end
      local r = 7
      for _ = 1, 3000 do
        local t = {}
        for i = 1, r % 40 + 1 do r = (r * 1103515245 + 12345) % 2147483648; t[i] = string.char(r % 256) end
        pcall(core._unpack, table.concat(t), 1, function() return {} end)
      end
      local deep = string.rep("\7\1\0", 300) .. "\0"
      local ok, err = pcall(core._unpack, deep, 1, function() end)
      assert.is_false(ok)
      assert.matches("nested too deeply", err)
    end)
    it("hashes: 32 hex digits, from an offset", function()
      assert.matches("^%x+$", core._hash("abc"))
      assert.equal(32, #core._hash(""))
      assert.equal(core._hash("bc"), core._hash("abc", 2))
      assert.not_equal(core._hash("abc"), core._hash("abd"))
    end)
  end)

  describe("with every SigmaHQ rule", function()
    it("fires the same rules on every regression event from a cold and a warm engine", function()
      if not DATA then return pending(NODATA) end
      local dirs = { DATA .. "rules", DATA .. "rules-emerging-threats", DATA .. "rules-threat-hunting" }
      local cold = assert(sigma.engine())
      assert(cold:load(dirs))
      local e1 = assert(sigma.engine())
      assert(e1:load(dirs, { cache = cdir }))
      assert.is_false(e1.cache.hit)
      assert.is_nil(e1.cache.error)
      local warm = assert(sigma.engine())
      local n = assert(warm:load(dirs, { cache = cdir }))
      assert.is_true(warm.cache.hit)
      assert.equal(#cold.rules, n)
      local p = io.popen("LC_ALL=C find " .. DATA .. "regression_data -name info.yml | LC_ALL=C sort")
      local tests, events, fired_tests = 0, 0, 0
      local function ids(hits)
        local o = {}
        for i, r in ipairs(hits) do o[i] = r.id end
        return table.concat(o, ",")
      end
      for info in p:lines() do
        local y = Y.load(read(info))
        for _, t in ipairs(y.regression_tests_info or {}) do
          local text = read(DATA .. t.path:gsub("%.evtx$", ".json"))
          if text then
            tests = tests + 1
            local want, hit = y.rule_metadata[1].id, false
            for _, ev in ipairs(assert(sigma.decode_objects(text))) do
              events = events + 1
              local a, b = ids(cold:match(ev)), ids(warm:match(ev))
              assert.equal(a, b)
              if ("," .. b .. ","):find("," .. want .. ",", 1, true) then hit = true end
            end
            if hit then fired_tests = fired_tests + 1 end
          end
        end
      end
      p:close()
      print(("\ncache: %d regression tests, %d events: the same hits cold and warm; %d of %d tests fire through the cache")
        :format(tests, events, fired_tests, tests))
      assert.is_true(tests > 100)
      assert.equal(tests, fired_tests)
    end)
  end)
end)

-- The Sigma engine: fastmatch.sigma.
-- Reads as the API's documentation: small rules written to the Sigma
-- specification v2 (values, modifiers, conditions, logsources), then SigmaHQ's
-- own regression tests with every rule loaded, then differential checks of the
-- index against the naive evaluator (every value its own matcher, a loop over
-- rules) on those events and on events built from the rules' own values.
local has_deps = pcall(require, "lyaml") and pcall(require, "cjson")
if not has_deps then
  describe("fastmatch.sigma", function()
    pending("needs lyaml and lua-cjson (apt install lua-yaml lua-cjson)")
  end)
  return
end

local sigma = require "fastmatch.sigma"
local cjson = require "cjson"
local lyaml = require "lyaml"

local SEED = tonumber(os.getenv("FM_SEED") or "") or 20261130
local root = os.getenv("PWD")

-- SigmaHQ's checkout (fastmatch.sigmahq: $SIGMA_DIR as upstream lays it
-- out, else the workspace's $FM_SHARED or ../shared); a user's clone has
-- none: the specs that need it say so.
local SIGMAHQ, NODATA = require("fastmatch.sigmahq").find({ root = root })
local DATA = SIGMAHQ and SIGMAHQ.dir .. "/"

-- A rule with this detection (YAML text, indented by 4) over any event.
local n_rules = 0
local function rule_text(detection, logsource)
  n_rules = n_rules + 1
  return ("title: test rule %d\nid: test-%d\nstatus: test\nlevel: high\ntags:\n  - t\n"
    .. "logsource:\n%s\ndetection:\n%s\n"):format(n_rules, n_rules,
    logsource or "  product: test", detection)
end

local function engine_with(detection, opts, logsource)
  opts = opts or {}
  if opts.unmapped == nil and not logsource then opts.unmapped = "all" end
  local eng = assert(sigma.engine(opts))
  local n, skipped = eng:add(rule_text(detection, logsource), "test.yml")
  assert(n == 1, skipped[1] and skipped[1].reason)
  return eng
end

-- fires(detection, event [, opts]): does the rule fire on the event? Also
-- checks that the naive evaluator agrees.
local function fires(detection, event, opts, logsource)
  local eng = engine_with(detection, opts, logsource)
  local a, b = #eng:match(event) == 1, #eng:naive_match(event) == 1
  assert.equal(a, b, "index and naive evaluator disagree")
  return a
end

local function ids(hits)
  local out = {}
  for i, r in ipairs(hits) do out[i] = r.id or r.path end
  return table.concat(out, ",")
end

-- ----------------------------------------------------------------------
-- every rule of SigmaHQ, loaded once for the whole file
-- ----------------------------------------------------------------------
local ALL
local function all_rules()
  if ALL then return ALL end
  local t0 = os.clock()
  local eng = assert(sigma.engine())
  local n, skipped = 0, {}
  for _, d in ipairs { "rules", "rules-emerging-threats", "rules-threat-hunting" } do
    local k, s = eng:load(DATA .. d)
    n = n + k
    for _, x in ipairs(s) do skipped[#skipped + 1] = x end
  end
  eng:stats()  -- builds the index
  ALL = { eng = eng, n = n, skipped = skipped, seconds = os.clock() - t0 }
  return ALL
end

local REG
local function regression()
  if REG then return REG end
  local tests, events = {}, {}
  local p = io.popen("LC_ALL=C find -L " .. DATA .. "regression_data -name info.yml | LC_ALL=C sort")
  for info in p:lines() do
    local f = io.open(info)
    local y = lyaml.load(f:read("*a"))
    f:close()
    for _, t in ipairs(y.regression_tests_info or {}) do
      local path = DATA .. t.path:gsub("%.evtx$", ".json")
      local fh = io.open(path)
      if fh then
        local objs = assert(sigma.decode_objects(fh:read("*a")))
        fh:close()
        tests[#tests + 1] = { id = y.rule_metadata[1].id, path = path, events = objs,
          match_count = t.match_count }
        for _, e in ipairs(objs) do events[#events + 1] = e end
      end
    end
  end
  p:close()
  REG = { tests = tests, events = events }
  return REG
end

-- Everything below in one block, so that the loaded rules are let go at the
-- end: the specs that run after this file measure the Lua heap.
describe("fastmatch.sigma", function()
  teardown(function()
    ALL, REG = nil, nil
    collectgarbage()
    collectgarbage()
  end)

  -- ----------------------------------------------------------------------
  describe("sigma.engine", function()
    it("makes an engine with the built-in Windows mapping when given none", function()
      local eng = assert(sigma.engine())
      assert.same({}, eng.rules)
      assert.equal(0, eng:stats().rules)
    end)

    it("raises on options that are not what it takes", function()
      assert.has_error(function() sigma.engine(5) end,
        "bad argument #1 to 'engine' (table expected, got number)")
      assert.has_error(function() sigma.engine { nope = 1 } end,
        "bad argument #1 to 'engine' (unknown option 'nope')")
      assert.has_error(function() sigma.engine { wildcards = "slow" } end)
    end)

    it("returns nil, message for a mapping file that cannot be read", function()
      local eng, err = sigma.engine { logsources = "/nonexistent/thor.yml" }
      assert.is_nil(eng)
      assert.matches("nonexistent", err)
    end)

    it("reads a thor.yml mapping from a path, with the same results as the built-in one", function()
      if not DATA then return pending(NODATA) end
      if not SIGMAHQ.thor then return pending("no tests/thor.yml in " .. SIGMAHQ.dir) end
      local det = "    sel:\n        Image|endswith: '\\cmd.exe'\n    condition: sel"
      local ls = "  category: process_creation\n  product: windows"
      local ev = { Event = { System = { EventID = 1, Channel = "Microsoft-Windows-Sysmon/Operational" },
        EventData = { Image = [[C:\Windows\System32\cmd.exe]] } } }
      assert.is_true(fires(det, ev, { logsources = SIGMAHQ.thor }, ls))
      assert.is_true(fires(det, ev, nil, ls))
    end)

    it("with wildcards = 'regex' matches every value as a PCRE2 regex, with the same results", function()
      local det = "    sel:\n        CommandLine|contains: 'a?c'\n        Image: '*\\x.exe'\n    condition: sel"
      local yes = { CommandLine = "zzAbCzz", Image = [[C:\X.EXE]] }
      local no = { CommandLine = "zzAbbCzz", Image = [[C:\X.EXE]] }
      assert.is_true(fires(det, yes, { wildcards = "regex" }))
      assert.is_false(fires(det, no, { wildcards = "regex" }))
    end)
  end)

  -- ----------------------------------------------------------------------
  describe("eng:add", function()
    it("loads a rule from a string and returns 1 and no skipped rule", function()
      local eng = sigma.engine()
      local n, skipped = eng:add(rule_text("    sel:\n        a: b\n    condition: sel"), "x.yml")
      assert.equal(1, n)
      assert.same({}, skipped)
      local r = eng.rules[1]
      assert.equal("x.yml", r.path)
      assert.equal("high", r.level)
      assert.equal("test", r.status)
      assert.same({ "t" }, r.tags)
      assert.same({ product = "test" }, r.logsource)
    end)

    local function reason(text)
      local eng = sigma.engine()
      local n, skipped = eng:add(text, "bad.yml")
      assert.equal(0, n)
      assert.equal(1, #skipped)
      assert.equal("bad.yml", skipped[1].path)
      assert.equal(skipped[1], eng.skipped[#eng.skipped])
      return skipped[1].reason
    end

    it("skips a rule with an unsupported modifier, saying which", function()
      assert.matches("unsupported modifier 'frobnicate'",
        reason(rule_text("    sel:\n        a|frobnicate: b\n    condition: sel")))
    end)

    it("skips a rule whose condition does not parse, or names no selection", function()
      assert.matches("condition", reason(rule_text("    sel:\n        a: b\n    condition: sel and (")))
      assert.matches("unknown selection 'other'", reason(rule_text("    sel:\n        a: b\n    condition: other")))
      -- count() is read as a correlation (spec/correlation_spec.lua); the others are not
      assert.matches("aggregation 'max%(%)' is not supported", reason(rule_text("    sel:\n        a: b\n    condition: sel | max(a) > 5")))
    end)

    it("skips YAML that does not parse, and a collection with no rule", function()
      assert.matches("^YAML", reason("title: [unclosed\n"))
      assert.matches("action: global", reason("action: global\ntitle: x\n"))
    end)

    it("loads every rule of a multi-document collection", function()
      local eng = sigma.engine()
      local n, skipped = eng:add(rule_text("    sel:\n        a: b\n    condition: sel")
        .. "---\n" .. rule_text("    sel:\n        a: c\n    condition: sel"), "two.yml")
      assert.equal(2, n)
      assert.same({}, skipped)
      assert.equal(2, #eng.rules)
    end)

    it("keeps the skipped rule's id and title", function()
      local eng = sigma.engine()
      local _, skipped = eng:add("title: T\nid: I\ndetection:\n    sel:\n        a|nope: b\n    condition: sel\n")
      assert.equal("I", skipped[1].id)
      assert.equal("T", skipped[1].title)
    end)

    it("raises for a non-string argument", function()
      local eng = sigma.engine()
      assert.has_error(function() eng:add(42) end, "bad argument #1 to 'add' (string expected, got number)")
    end)

    it("never raises on mutated SigmaHQ rules: each loads or is skipped with a reason", function()
      if not DATA then return pending(NODATA) end
      local files = {}
      local p = io.popen("LC_ALL=C find -L " .. DATA .. "rules/windows -name '*.yml' | LC_ALL=C sort")
      for l in p:lines() do files[#files + 1] = l end
      p:close()
      print("sigma: mutated rules, seed " .. SEED)
      math.randomseed(SEED)
      local rnd = math.random
      local eng = sigma.engine { unmapped = "all" }
      local loaded, skipped = 0, 0
      for _ = 1, 400 do
        local f = io.open(files[rnd(#files)])
        local lines = {}
        for l in (f:read("*a") .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = l end
        f:close()
        local i, op = rnd(#lines), rnd(4)
        if op == 1 then table.remove(lines, i)
        elseif op == 2 then
          local mods = { "re", "cidr", "base64", "all", "exists", "gt", "fieldref", "windash", "expand", "wide" }
          lines[i] = lines[i]:gsub("|%w+", "|" .. mods[rnd(#mods)])
        elseif op == 3 then lines[i] = lines[i]:sub(1, rnd(#lines[i] + 1))
        else
          local conds = { "not", "1 of", "(sel", "all of them and", "sel or or", "x of y", "them" }
          lines[i] = lines[i]:gsub("condition: .*", "condition: " .. conds[rnd(#conds)])
        end
        local n, sk = eng:add(table.concat(lines, "\n"), "mutated.yml")
        if n == 1 then loaded = loaded + 1 else skipped = skipped + 1; assert.is_string(sk[1].reason) end
      end
      print(("sigma: %d mutated rules loaded, %d skipped"):format(loaded, skipped))
      -- and odd events do not upset what did load
      for _, e in ipairs { {}, { Event = 5 }, { Event = { System = 5, EventData = { 1, 2 } } },
          { a = { b = { c = {} } } }, { [1] = "x" }, { x = cjson.null, y = true, z = 1.5 },
          { Event = { EventData = { Data = { { ["#attributes"] = { Name = "CommandLine" }, ["#text"] = "x" } } } } } } do
        assert.same(ids(eng:naive_match(e)), ids(eng:match(e)))
      end
    end)
  end)

  -- ----------------------------------------------------------------------
  describe("eng:load", function()
    it("loads a directory recursively; a broken YAML file is skipped with its reason, the rest load", function()
      local dir = os.tmpname()
      os.remove(dir)
      os.execute("mkdir -p " .. dir .. "/sub")
      local function write(p, s) local f = assert(io.open(p, "w")); f:write(s); f:close() end
      write(dir .. "/a.yml", rule_text("    sel:\n        a: b\n    condition: sel"))
      write(dir .. "/sub/b.yml", rule_text("    sel:\n        a: c\n    condition: sel"))
      write(dir .. "/sub/broken.yml", "title: x\ndetection: [\n")
      write(dir .. "/sub/notes.txt", "not a rule")
      local eng = sigma.engine()
      local n, skipped = eng:load(dir)
      assert.equal(2, n)
      assert.equal(1, #skipped)
      assert.equal(dir .. "/sub/broken.yml", skipped[1].path)
      assert.matches("^YAML", skipped[1].reason)
      os.execute("rm -rf " .. dir)
    end)

    it("returns nil, message for a path that does not exist", function()
      local n, err = sigma.engine():load("/nonexistent/rules")
      assert.is_nil(n)
      assert.matches("nonexistent", err)
    end)

    it("loads at least 99% of SigmaHQ's product: windows rules", function()
      if not DATA then return pending(NODATA) end
      local A = all_rules()
      local win, win_loaded = 0, 0
      for _, r in ipairs(A.eng.rules) do
        if r.logsource.product == "windows" then win_loaded = win_loaded + 1 end
      end
      win = win_loaded
      for _, s in ipairs(A.skipped) do
        local f = io.open(s.path)
        local t = f and f:read("*a") or ""
        if f then f:close() end
        if t:match("\n%s*product:%s*windows") then win = win + 1 end
      end
      print(("sigma: loaded %d rules (%d skipped) in %.2f s; windows %d of %d (%.2f%%)")
        :format(A.n, #A.skipped, A.seconds, win_loaded, win, 100 * win_loaded / win))
      assert.is_true(win_loaded >= 0.99 * win)
    end)
  end)

  -- ----------------------------------------------------------------------
  describe("eng:match", function()
    it("returns {} when no rule fires, and raises for an event that is not a table", function()
      local eng = engine_with("    sel:\n        a: b\n    condition: sel")
      assert.same({}, eng:match { a = "c" })
      assert.has_error(function() eng:match("a=b") end, "bad argument #1 to 'match' (table expected, got string)")
      assert.has_error(function() eng:match() end, "bad argument #1 to 'match' (table expected, got nil)")
    end)

    it("decides a logsource that reads a third field (EventType) per event, though (Channel, EventID) repeats", function()
      local eng = sigma.engine()
      eng:add(rule_text("    sel:\n        TargetObject|contains: 'Run'\n    condition: sel",
        "  category: registry_add\n  product: windows"), "add.yml")
      local function ev(et)
        return { Event = { System = { Channel = "Microsoft-Windows-Sysmon/Operational", EventID = 12 },
          EventData = { EventType = et, TargetObject = [[HKLM\Software\Run]] } } }
      end
      -- the same pair, alternately: each answer is the event's own
      for _ = 1, 2 do
        assert.equal(1, #eng:match(ev("CreateKey")))
        assert.equal(0, #eng:match(ev("DeleteKey")))
      end
      -- other Channels and EventIDs in between, and a Channel that is not a string
      assert.equal(0, #eng:match { Event = { System = { Channel = "Security", EventID = 12 },
        EventData = { EventType = "CreateKey", TargetObject = "Run" } } })
      assert.equal(0, #eng:match { Channel = { "x" }, EventID = "12", EventType = "CreateKey", TargetObject = "Run" })
      assert.equal(1, #eng:match(ev("CreateKey")))
    end)

    it("returns the rules that fire in load order, with id, title, level, status, tags, path, logsource", function()
      local eng = sigma.engine { unmapped = "all" }
      eng:add(rule_text("    sel:\n        a: '*'\n    condition: sel"), "first.yml")
      eng:add(rule_text("    sel:\n        a: 'x*'\n    condition: sel"), "second.yml")
      eng:add(rule_text("    sel:\n        a: 'y'\n    condition: sel"), "third.yml")
      local hits = eng:match { a = "xyz" }
      assert.equal(2, #hits)
      assert.equal("first.yml", hits[1].path)
      assert.equal("second.yml", hits[2].path)
      for _, k in ipairs { "id", "title", "level", "status", "tags", "path", "logsource" } do
        assert.is_not_nil(hits[1][k], k)
      end
    end)

    describe("finds fields", function()
      local det = "    sel:\n        Name: 'v'\n    condition: sel"
      it("in a flat event", function()
        assert.is_true(fires(det, { Name = "v" }))
      end)
      it("in Event.EventData, Event.UserData.<any> and Event.System", function()
        assert.is_true(fires(det, { Event = { EventData = { Name = "v" } } }))
        assert.is_true(fires(det, { Event = { UserData = { EventXML = { Name = "v" } } } }))
        assert.is_true(fires(det, { Event = { System = { Name = "v" } } }))
        assert.is_false(fires(det, { Event = { EventData = { Other = "v" } } }))
      end)
      it("in EventData before System", function()
        assert.is_false(fires(det, { Event = { EventData = { Name = "x" }, System = { Name = "v" } } }))
      end)
      it("with System #attributes as <element>_<attribute>", function()
        assert.is_true(fires("    sel:\n        Provider_Name: 'Microsoft-Windows-Sysmon'\n    condition: sel",
          { Event = { System = { Provider = { ["#attributes"] = { Name = "Microsoft-Windows-Sysmon" } } } } }))
      end)
      it("whose event name has spaces under the rule's name without them", function()
        assert.is_true(fires("    sel:\n        ThreatName: 'HackTool*'\n    condition: sel",
          { Event = { EventData = { ["Threat Name"] = "HackTool:Win32/Mimikatz" } } }))
      end)
      it("with numbers compared as their decimal text", function()
        local d = "    sel:\n        EventID: 4688\n    condition: sel"
        assert.is_true(fires(d, { EventID = 4688 }))
        assert.is_true(fires(d, { EventID = 4688.0 }))
        assert.is_true(fires(d, { EventID = "4688" }))
        assert.is_true(fires("    sel:\n        EventID: '4688'\n    condition: sel", { EventID = 4688 }))
        assert.is_true(fires("    sel:\n        Enabled: true\n    condition: sel", { Enabled = "true" }))
      end)
      it("in nested maps of a flat event by dotted names", function()
        assert.is_true(fires("    sel:\n        user.name: 'root'\n    condition: sel", { user = { name = "root" } }))
      end)
      it("and treats JSON null as absent", function()
        assert.is_true(fires("    sel:\n        a: null\n    condition: sel", { a = cjson.null }))
      end)
    end)

    describe("applies a rule only to events of its logsource", function()
      local det = "    sel:\n        Image|endswith: '\\evil.exe'\n    condition: sel"
      local pc = "  category: process_creation\n  product: windows"
      local function ev(eid, channel, data)
        return { Event = { System = { EventID = eid, Channel = channel }, EventData = data } }
      end
      it("process_creation as Sysmon 1", function()
        assert.is_true(fires(det, ev(1, "Microsoft-Windows-Sysmon/Operational", { Image = [[C:\evil.exe]] }), nil, pc))
        assert.is_false(fires(det, ev(11, "Microsoft-Windows-Sysmon/Operational", { Image = [[C:\evil.exe]] }), nil, pc))
        assert.is_false(fires(det, ev(1, "Security", { Image = [[C:\evil.exe]] }), nil, pc))
      end)
      it("process_creation as Security 4688, with the rule's fields renamed (Image -> NewProcessName)", function()
        assert.is_true(fires(det, ev(4688, "Security", { NewProcessName = [[C:\evil.exe]] }), nil, pc))
        assert.is_false(fires(det, ev(4688, "Security", { Image = [[C:\evil.exe]] }), nil, pc))
      end)
      it("a service as its channel", function()
        local d = "    sel:\n        EventID: 1102\n    condition: sel"
        local ls = "  product: windows\n  service: security"
        assert.is_true(fires(d, ev(1102, "Security"), nil, ls))
        assert.is_false(fires(d, ev(1102, "System"), nil, ls))
      end)
      it("not at all when the mapping does not know the logsource, unless unmapped = 'all'", function()
        local ls = "  product: aws\n  service: cloudtrail"
        local e = { eventName = "x" }
        local d = "    sel:\n        eventName: x\n    condition: sel"
        assert.is_false(fires(d, e, {}, ls))
        assert.is_true(fires(d, e, { unmapped = "all" }, ls))
        local eng = engine_with(d, {}, ls)
        assert.equal(1, eng:stats().unmapped["aws/-/cloudtrail"])
      end)
    end)

    describe("reads values", function()
      it("as Sigma wildcards, caseless", function()
        local d = "    sel:\n        a: 'C:\\Win*\\\\?md.exe'\n    condition: sel"
        assert.is_true(fires(d, { a = [[c:\windows\system32\CMD.exe]] }))
        assert.is_false(fires(d, { a = [[c:\windows\system32\cmd.exe.bak]] }))
        assert.is_true(fires("    sel:\n        a: 'x\\*y'\n    condition: sel", { a = "x*y" }))
        assert.is_false(fires("    sel:\n        a: 'x\\*y'\n    condition: sel", { a = "xzy" }))
      end)
      it("a list as OR, a map as AND, a list of maps as OR", function()
        assert.is_true(fires("    sel:\n        a:\n            - x\n            - y\n    condition: sel", { a = "y" }))
        local m = "    sel:\n        a: x\n        b: y\n    condition: sel"
        assert.is_true(fires(m, { a = "x", b = "y" }))
        assert.is_false(fires(m, { a = "x", b = "z" }))
        local lm = "    sel:\n        - a: x\n        - b: y\n    condition: sel"
        assert.is_true(fires(lm, { b = "y" }))
        assert.is_false(fires(lm, { a = "y", b = "x" }))
      end)
      it("null as absent or empty", function()
        local d = "    sel:\n        a: null\n    condition: sel"
        assert.is_true(fires(d, {}))
        assert.is_true(fires(d, { a = "" }))
        assert.is_false(fires(d, { a = "x" }))
        assert.is_true(fires("    sel:\n        a: ''\n    condition: sel", { a = "" }))
        assert.is_false(fires("    sel:\n        a: ''\n    condition: sel", {}))
      end)
      it("keywords (field-less values) in any string value of the event", function()
        local d = "    keywords:\n        - 'sekurlsa::'\n        - 'mimikatz'\n    condition: keywords"
        assert.is_true(fires(d, { Event = { EventData = { CommandLine = "x sekurlsa::logonpasswords" } } }))
        assert.is_true(fires(d, { other = "MIMIKATZ.exe" }))
        assert.is_false(fires(d, { other = "notepad" }))
        assert.is_true(fires("    keywords: 'evil'\n    condition: keywords", { x = "so evil" }))
      end)
    end)

    describe("applies the modifier", function()
      local function mod(m, value, event, opts)
        return fires(("    sel:\n        f|%s: %s\n    condition: sel"):format(m, value), event, opts)
      end
      it("contains, startswith, endswith (wildcards in the value keep their meaning)", function()
        assert.is_true(mod("contains", "'b?d'", { f = "aBcDe" }))
        assert.is_false(mod("contains", "'b?d'", { f = "abde" }))
        assert.is_true(mod("startswith", "'ab'", { f = "abc" }))
        assert.is_false(mod("startswith", "'ab'", { f = "cab" }))
        assert.is_true(mod("endswith", "'\\x.exe'", { f = [[C:\X.exe]] }))
        assert.is_false(mod("endswith", "'\\x.exe'", { f = [[C:\X.exe ]] }))
        assert.is_true(mod("startswith", "'C:\\'", { f = [[C:\a]] }))  -- a trailing '\' stays literal
      end)
      it("all, turning a list into AND", function()
        local d = "    sel:\n        f|contains|all:\n            - a\n            - b\n    condition: sel"
        assert.is_true(fires(d, { f = "xaxbx" }))
        assert.is_false(fires(d, { f = "xaxx" }))
      end)
      it("re: PCRE2, unanchored, cased unless |i; m and s as PCRE2's", function()
        assert.is_true(mod("re", "'ab+c'", { f = "xxabbbcxx" }))
        assert.is_false(mod("re", "'ab+c'", { f = "xxABBCxx" }))
        assert.is_true(mod("re|i", "'ab+c'", { f = "xxABBCxx" }))
        assert.is_true(mod("re|m", "'^b$'", { f = "a\nb\nc" }))
        assert.is_false(mod("re", "'^b$'", { f = "a\nb\nc" }))
        assert.is_true(mod("re|s", "'a.b'", { f = "a\nb" }))
        assert.is_false(mod("re", "'a.b'", { f = "a\nb" }))
      end)
      it("windash: a leading dash or slash as any of - / en dash, em dash, horizontal bar", function()
        for _, dash in ipairs { "-", "/", "\226\128\147", "\226\128\148", "\226\128\149" } do
          assert.is_true(mod("contains|windash", "' -enc '", { f = "powershell " .. dash .. "enc x" }), dash)
        end
        assert.is_false(mod("contains|windash", "' -enc '", { f = "powershell +enc x" }))
      end)
      it("cidr, IPv4 and IPv6", function()
        assert.is_true(mod("cidr", "'10.0.0.0/8'", { f = "10.200.3.4" }))
        assert.is_false(mod("cidr", "'10.0.0.0/8'", { f = "11.0.0.1" }))
        assert.is_true(mod("cidr", "'192.168.1.0/24'", { f = "192.168.1.255" }))
        assert.is_true(mod("cidr", "'fe80::/10'", { f = "fe80::1c2:3" }))
        assert.is_false(mod("cidr", "'fe80::/10'", { f = "fec0::1" }))
        assert.is_true(mod("cidr", "'::1/128'", { f = "0:0:0:0:0:0:0:1" }))
        assert.is_false(mod("cidr", "'10.0.0.0/8'", { f = "not an ip" }))
      end)
      it("base64 and base64offset (with contains)", function()
        assert.is_true(mod("base64", "'hello'", { f = "aGVsbG8=" }))
        -- "hello" at each offset in a longer encoded text
        for _, plain in ipairs { "hello world", "xhello world", "xyhello world" } do
          local b64 = require("fastmatch.sigma.modifiers").b64(plain)
          assert.is_true(mod("base64offset|contains", "'hello'", { f = "data " .. b64 }), plain)
        end
        assert.is_false(mod("base64offset|contains", "'hello'", { f = "aGVsbA==" }))
      end)
      it("wide / utf16le, utf16be and utf16 (with BOM) before base64", function()
        assert.is_true(mod("wide|base64", "'ab'", { f = "YQBiAA==" }))
        assert.is_true(mod("utf16le|base64", "'ab'", { f = "YQBiAA==" }))
        assert.is_true(mod("utf16be|base64", "'ab'", { f = "AGEAYg==" }))
        assert.is_true(mod("utf16|base64", "'ab'", { f = "//5hAGIA" }))
        assert.is_true(mod("wide|base64offset|contains", "'ping'", { f = "x" .. require("fastmatch.sigma.modifiers").b64("p\0i\0n\0g\0") }))
      end)
      it("fieldref: equal to another field of the event", function()
        assert.is_true(mod("fieldref", "'g'", { f = "Same", g = "same" }))
        assert.is_false(mod("fieldref", "'g'", { f = "one", g = "other" }))
        assert.is_false(mod("fieldref", "'g'", { f = "one" }))
        assert.is_true(mod("fieldref|startswith", "'g'", { f = "prefix-rest", g = "prefix" }))
      end)
      it("expand: placeholders from opts.placeholders; an unknown one matches anything", function()
        local opts = { placeholders = { Admins = { "alice", "bob" } } }
        assert.is_true(mod("expand", "'%Admins%'", { f = "bob" }, opts))
        assert.is_false(mod("expand", "'%Admins%'", { f = "eve" }, opts))
        assert.is_true(mod("expand", "'x%Unknown%'", { f = "xyz" }))
        assert.is_false(mod("expand", "'x%Unknown%'", { f = "yz" }))
      end)
      it("exists: the field is there (true) or not (false)", function()
        assert.is_true(mod("exists", "true", { f = "" }))
        assert.is_false(mod("exists", "true", { g = "x" }))
        assert.is_true(mod("exists", "false", { g = "x" }))
        assert.is_false(mod("exists", "false", { f = "x" }))
      end)
      it("gt, gte, lt, lte on numbers", function()
        assert.is_true(mod("gt", "5", { f = "6" }))
        assert.is_false(mod("gt", "5", { f = 5 }))
        assert.is_true(mod("gte", "5", { f = 5 }))
        assert.is_true(mod("lt", "5", { f = "4.5" }))
        assert.is_true(mod("lte", "5", { f = "5" }))
        assert.is_false(mod("lt", "5", { f = "x" }))
      end)
      it("cased: compare bytes", function()
        assert.is_true(mod("cased", "'AbC'", { f = "AbC" }))
        assert.is_false(mod("cased", "'AbC'", { f = "abc" }))
        assert.is_true(mod("contains|cased", "'AbC'", { f = "xAbCx" }))
        assert.is_false(fires("    sel:\n        f: 'AbC'\n    condition: sel", { f = "abc" }, { cased = true }))
      end)
    end)

    describe("evaluates conditions", function()
      local det = "    a:\n        x: 1\n    b:\n        y: 1\n    c:\n        z: 1\n"
      local function cond(c, ev) return fires(det .. "    condition: " .. c, ev) end
      it("with and, or, not and the spec's precedence (not > and > or)", function()
        assert.is_true(cond("a or b and c", { x = 1 }))
        assert.is_false(cond("(a or b) and c", { x = 1 }))
        assert.is_true(cond("not a and b", { y = 1 }))
        assert.is_false(cond("not (a or b)", { y = 1 }))
        assert.is_true(cond("not a or b", { x = 1, y = 1 }))
        assert.is_true(cond("a AND NOT b", { x = 1 }))
      end)
      it("with 1 of / all of a pattern and of them", function()
        local d = "    sel_a:\n        x: 1\n    sel_b:\n        y: 1\n    filter:\n        z: 1\n"
        local function c(s, ev) return fires(d .. "    condition: " .. s, ev) end
        assert.is_true(c("1 of sel_*", { y = 1 }))
        assert.is_false(c("all of sel_*", { y = 1 }))
        assert.is_true(c("all of sel_* and not filter", { x = 1, y = 1 }))
        assert.is_false(c("all of sel_* and not filter", { x = 1, y = 1, z = 1 }))
        assert.is_true(c("1 of them", { z = 1 }))
        assert.is_false(c("all of them", { x = 1, z = 1 }))
        assert.is_true(c("all of them", { x = 1, y = 1, z = 1 }))
      end)
      it("a list of conditions as OR", function()
        assert.is_true(fires(det .. "    condition:\n        - a\n        - b", { y = 1 }))
      end)
    end)

    it("matches a rule with 10 000 values", function()
      local vals = {}
      for i = 1, 10000 do vals[i] = ("            - 'value%05d'"):format(i) end
      local d = "    sel:\n        f|contains:\n" .. table.concat(vals, "\n") .. "\n    condition: sel"
      local eng = engine_with(d)
      assert.equal(1, #eng:match { f = "xx value09999 yy" })
      assert.equal(0, #eng:match { f = "value1" })
    end)

    it("fires every rule on its SigmaHQ regression test events, with all rules loaded", function()
      if not DATA then return pending(NODATA) end
      local A, R = all_rules(), regression()
      local loaded = {}
      for _, r in ipairs(A.eng.rules) do loaded[r.id] = true end
      local pass, total, failed = 0, 0, {}
      for _, t in ipairs(R.tests) do
        if loaded[t.id] then
          total = total + 1
          local ok = false
          for _, e in ipairs(t.events) do
            for _, h in ipairs(A.eng:match(e)) do if h.id == t.id then ok = true end end
          end
          if ok then pass = pass + 1 else failed[#failed + 1] = t.id .. " " .. t.path end
        end
      end
      print(("sigma: regression tests %d/%d fire their rule (%d tests, %d events)")
        :format(pass, total, #R.tests, #R.events))
      assert.equal(total, pass, table.concat(failed, "\n"))
    end)
  end)

  -- ----------------------------------------------------------------------
  describe("eng:naive_match", function()
    it("gives the same hits as eng:match on every regression event, all rules loaded", function()
      if not DATA then return pending(NODATA) end
      local A, R = all_rules(), regression()
      local diff = {}
      for i, e in ipairs(R.events) do
        local a, b = ids(A.eng:match(e)), ids(A.eng:naive_match(e))
        if a ~= b then diff[#diff + 1] = ("event %d: %s vs %s"):format(i, a, b) end
      end
      assert.same({}, diff)
    end)

    -- An event from a rule's own values: the variant's Channel/EventID, and for
    -- each item a value instantiated from one of its wildcard patterns (random
    -- case, random text for '*' and '?'), sometimes left out or spoiled.
    local function instantiate(rnd, pattern)
      local out, i = {}, 1
      while i <= #pattern do
        local c = pattern:sub(i, i)
        if c == "\\" and pattern:sub(i + 1, i + 1):match("[\\*?]") then
          out[#out + 1] = pattern:sub(i + 1, i + 1); i = i + 2
        elseif c == "*" then
          out[#out + 1] = ({ "", "x", " -a ", "\\" })[rnd(4)]; i = i + 1
        elseif c == "?" then
          out[#out + 1] = ({ "q", "Z", "0" })[rnd(3)]; i = i + 1
        else
          out[#out + 1] = rnd(4) == 1 and c:upper() or c; i = i + 1
        end
      end
      return table.concat(out)
    end

    it("gives the same hits as eng:match on events built from the rules' own values", function()
      if not DATA then return pending(NODATA) end
      local A = all_rules()
      print("sigma: generated events, seed " .. SEED)
      math.randomseed(SEED)
      local rnd = math.random
      local rules = {}
      for _, r in ipairs(A.eng.rules) do if #r.variants > 0 then rules[#rules + 1] = r end end
      -- FM_SIGMA_EVENTS=all builds one event for every rule (slow: the naive
      -- evaluator takes ~15 ms an event with all rules loaded)
      local want = os.getenv("FM_SIGMA_EVENTS")
      local count = want == "all" and #rules or tonumber(want) or 300
      local diff, n, fired = {}, 0, 0
      for k = 1, count do
        local r = want == "all" and rules[k] or rules[rnd(#rules)]
        local v = r.variants[rnd(#r.variants)]
        local data, sys = {}, {}
        for _, c in ipairs(v.conds) do
          local val = c.values[rnd(#c.values)]
          if c.field == "Channel" then sys.Channel = val
          elseif c.field == "EventID" then sys.EventID = tonumber(val) or val
          else data[c.field] = val end
        end
        for _, item in ipairs(r.items) do
          if item.field and rnd(6) > 1 then
            local g = item.groups[rnd(#item.groups)]
            local alt = g.alts[rnd(#g.alts)]
            local name = v.rename[item.field] or item.field
            if alt.kind == "wc" then
              local s = instantiate(rnd, alt.pattern)
              if rnd(8) == 1 then s = s .. "!" end
              data[name] = s
            elseif alt.kind == "exists" then
              if alt.want then data[name] = "x" end
            end
          end
        end
        local e = { Event = { System = sys, EventData = data } }
        n = n + 1
        local a, b = ids(A.eng:match(e)), ids(A.eng:naive_match(e))
        if a ~= "" then fired = fired + 1 end
        if a ~= b then diff[#diff + 1] = ("rule %s: %s vs %s"):format(r.id, a, b) end
      end
      print(("sigma: %d generated events, %d fire some rule"):format(n, fired))
      assert.same({}, diff)
    end)

    it("and the regex engine (wildcards = 'regex') agrees with the fast one on the regression events", function()
      if not DATA then return pending(NODATA) end
      local R = regression()
      local eng = sigma.engine { wildcards = "regex" }
      local dirs = { "rules/windows/process_creation", "rules/windows/builtin", "rules/windows/file" }
      local fast = sigma.engine()
      for _, d in ipairs(dirs) do eng:load(DATA .. d); fast:load(DATA .. d) end
      local diff = {}
      for i, e in ipairs(R.events) do
        local a, b = ids(fast:match(e)), ids(eng:match(e))
        if a ~= b then diff[#diff + 1] = ("event %d: %s vs %s"):format(i, a, b) end
      end
      assert.same({}, diff)
    end)
  end)

  -- ----------------------------------------------------------------------
  describe("eng:scan", function()
    local function tmpfile(lines)
      local p = os.tmpname()
      local f = assert(io.open(p, "w"))
      f:write(table.concat(lines, "\n"), "\n")
      f:close()
      return p
    end

    it("yields only events that fire, with their hits and line numbers", function()
      local eng = engine_with("    sel:\n        a: 'x*'\n    condition: sel")
      local p = tmpfile { '{"a":"xy"}', '{"a":"no"}', "", '{"a":"x\\/z"}' }
      local got = {}
      for ev, hits, n in eng:scan(p) do got[#got + 1] = n .. ":" .. ev.a .. ":" .. #hits end
      assert.same({ "1:xy:1", "4:x/z:1" }, got)
      os.remove(p)
    end)

    it("reports a line that is not JSON to on_error with its number, and scans the lines after it", function()
      local eng = engine_with("    sel:\n        a: 'x*'\n    condition: sel")
      -- (with the prefilter, a line that cannot fire is not decoded: these can)
      local p = tmpfile { '{"a":"x1"}', '{"a": broken x', '["x"]', '{"a":"x2"}' }
      local errs, got = {}, {}
      for _, _, n in eng:scan(p, { on_error = function(n, msg, line) errs[#errs + 1] = { n, msg, line } end }) do
        got[#got + 1] = n
      end
      assert.same({ 1, 4 }, got)
      assert.equal(2, #errs)
      assert.equal(2, errs[1][1])
      assert.equal('{"a": broken x', errs[1][3])
      assert.equal(3, errs[2][1])
      os.remove(p)
    end)

    it("reads an open file too", function()
      local eng = engine_with("    sel:\n        a: 'x*'\n    condition: sel")
      local p = tmpfile { '{"a":"no"}', '{"a":"xy"}' }
      local f = assert(io.open(p))
      local got = {}
      for _, _, n in eng:scan(f) do got[#got + 1] = n end
      f:close()
      assert.same({ 2 }, got)
      os.remove(p)
    end)

    it("raises for a source that is neither a path nor a file", function()
      local eng = sigma.engine()
      assert.has_error(function() eng:scan(42) end, "bad argument #1 to 'scan' (path or file expected, got number)")
      assert.has_error(function() eng:scan("-", { prefiltre = false }) end,
        "bad argument #2 to 'scan' (unknown option 'prefiltre')")
    end)

    it("gives the same hits with and without the prefilter over the regression events as JSON lines", function()
      if not DATA then return pending(NODATA) end
      local A, R = all_rules(), regression()
      local lines = {}
      for i, e in ipairs(R.events) do lines[i] = cjson.encode(e) end  -- cjson writes '/' as '\/'
      lines[#lines + 1] = '{"Event":{"System":{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational"},'
        .. '"EventData":{"Image":"C:\\\\Windows\\\\notepad.exe"}}}'
      local p = tmpfile(lines)
      local function run(pre)
        local out = {}
        for _, hits, n in A.eng:scan(p, { prefilter = pre }) do out[#out + 1] = n .. "=" .. ids(hits) end
        return out
      end
      local gate = A.eng:gate()
      local st0 = gate:stats()
      local with, without = run(true), run(false)
      local st1 = gate:stats()
      print(("sigma: scan of %d lines: %d fire, the gate let %d through"):format(#lines, #with,
        st1.passed - st0.passed))
      assert.equal(#lines, st1.lines - st0.lines)
      assert.is_true(#with > 0)
      assert.same(without, with)
      os.remove(p)
    end)
  end)

  -- ----------------------------------------------------------------------
  describe("eng:stats", function()
    it("counts rules, indexed fields, patterns per set and unmapped rules by logsource", function()
      local eng = sigma.engine()
      eng:add(rule_text("    sel:\n        Image|endswith:\n            - '\\a.exe'\n            - '\\b.exe'\n    condition: sel",
        "  category: process_creation\n  product: windows"))
      eng:add(rule_text("    sel:\n        a: b\n    condition: sel", "  product: zeek\n  service: dns"))
      local s = eng:stats()
      assert.equal(2, s.rules)
      assert.equal(1, s.unmapped_rules)
      assert.equal(1, s.unmapped["zeek/-/dns"])
      assert.equal(2, s.variants)  -- Sysmon 1 and Security 4688
      assert.equal(2, s.fields_indexed)  -- Image, and NewProcessName for 4688
      assert.equal(4, s.patterns)
      assert.equal(2, s.sets[1].patterns)
    end)
  end)

  -- ----------------------------------------------------------------------
  describe("sigma.decode_objects", function()
    it("decodes consecutive JSON objects, as evtx_dump writes them", function()
      local objs = sigma.decode_objects('{"a": "}{"}\n{"b": [1, {"c": "\\""}]}{"d":1}')
      assert.equal(3, #objs)
      assert.equal("}{", objs[1].a)
      assert.equal('"', objs[2].b[2].c)
      assert.equal(1, objs[3].d)
    end)
  end)
end)

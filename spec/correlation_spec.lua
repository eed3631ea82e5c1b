-- Sigma correlation rules and filters in fastmatch.sigma (sigma/correlation.lua,
-- sigma/filter.lua, sigma/collection.lua, sigma/meta.lua): each correlation
-- type over crafted streams -- in order, out of order within the reorder lag,
-- late, a group-by field absent, several keys, an event exactly `timespan`
-- after the first -- correlations of correlations, generate, aliases,
-- filters by id, name and for any rule, a filter naming an unknown rule,
-- Hayabusa's legacy `| count()` with and without `timeframe`, rule
-- collections; the group states bounded under a million distinct keys; the
-- same answers through eng:scan, eng:feed/eng:flush and fastmatch-hunt; and
-- Hayabusa's rule set (../shared/data/hayabusa-rules): every file loads and
-- its correlation rules fire on a stream made for them.
local has_deps = pcall(require, "lyaml") and pcall(require, "cjson")
if not has_deps then
  describe("sigma correlations", function()
    pending("needs lyaml and lua-cjson (apt install lua-yaml lua-cjson)")
  end)
  return
end

local sigma = require "fastmatch.sigma"
local correlation = require "fastmatch.sigma.correlation"
local cjson = require "cjson"

local src = debug.getinfo(1, "S").source:match("^@(.*)$")
local root = src:match("^(.*)/spec/[^/]*$") or "."

-- ---------------------------------------------------------------- helpers
local BASE = [[
title: Failed login
id: 11111111-0000-4000-8000-000000000001
name: failed_login
logsource: {product: test}
detection:
  sel:
    EventID: 4625
  condition: sel
---
title: Successful login
id: 11111111-0000-4000-8000-000000000002
name: successful_login
logsource: {product: test}
detection:
  sel:
    EventID: 4624
  condition: sel
---
title: Recon A
name: recon_a
logsource: {product: test}
detection:
  sel:
    CommandLine: whoami
  condition: sel
---
title: Recon B
name: recon_b
logsource: {product: test}
detection:
  sel:
    CommandLine: ipconfig
  condition: sel
]]

local function engine(yaml, opts)
  opts = opts or {}
  if opts.unmapped == nil then opts.unmapped = "all" end
  local eng = assert(sigma.engine(opts))
  local n, skipped = eng:add(yaml, "t.yml")
  assert(#skipped == 0, skipped[1] and skipped[1].reason)
  assert(n > 0)
  return eng
end

local function corr_doc(body)
  return "---\ntitle: The correlation\nid: 22222222-0000-4000-8000-000000000001\nlevel: high\n" .. body
end

-- the hits of a stream: eng:match then eng:feed per event, eng:flush at the end
local function run(eng, events, feed_opts)
  local out = {}
  for _, ev in ipairs(events) do
    for _, h in ipairs(eng:feed(ev, eng:match(ev), feed_opts)) do out[#out + 1] = h end
  end
  for _, h in ipairs(eng:flush()) do out[#out + 1] = h end
  return out
end

-- a hit as text: title, group values, first, last, count
local function show(h)
  local g = {}
  for i, kv in ipairs(h.group) do g[i] = tostring(kv[1]) .. "=" .. tostring(kv[2]) end
  return ("%s [%s] %s..%s n=%d"):format(h.rule.title, table.concat(g, ","), tostring(h.first), tostring(h.last), h.count)
end
local function shown(hits)
  local t = {}
  for i, h in ipairs(hits) do t[i] = show(h) end
  table.sort(t)
  return t
end

local function fail(t, user, extra)
  local e = { EventID = 4625, Timestamp = t, User = user }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end
local function ok(t, user) return { EventID = 4624, Timestamp = t, User = user } end

-- a fixed-seed shuffle that moves each item by `reach` places at most: `reach`
-- rounds, each swapping some disjoint neighbours
local function jitter(list, reach, seed)
  local out = {}
  for i, x in ipairs(list) do out[i] = x end
  local s = seed
  for round = 1, reach do
    for i = 1 + (round + 1) % 2, #out - 1, 2 do
      s = (s * 1103515245 + 12345) % 2147483648
      if s % 3 ~= 0 then out[i], out[i + 1] = out[i + 1], out[i] end
    end
  end
  return out
end

local EVENT_COUNT = BASE .. corr_doc [[
correlation:
  type: event_count
  rules: failed_login
  group-by: [User]
  timespan: 60s
  condition:
    gte: 3
]]

-- ---------------------------------------------------------------- time
describe("sigma.correlation time", function()
  it("reads ISO 8601 times (fractions, Z, offsets, a space) and numbers as seconds since 1970", function()
    assert.equal(0, correlation.seconds("1970-01-01T00:00:00Z"))
    assert.equal(1621514993.3788, correlation.seconds("2021-05-20T12:49:53.3788Z"))
    assert.equal(1621514993, correlation.seconds("2021-05-20 12:49:53"))
    assert.equal(1621514993 - 9 * 3600, correlation.seconds("2021-05-20T12:49:53+09:00"))
    assert.equal(1621514993 + 3600 + 1800, correlation.seconds("2021-05-20T12:49:53-0130"))
    assert.equal(951782400, correlation.seconds("2000-02-29T00:00:00Z"))
    assert.equal(12.5, correlation.seconds(12.5))
    assert.is_nil(correlation.seconds("yesterday"))
    assert.is_nil(correlation.seconds({}))
  end)
  it("writes seconds back as ISO 8601 UTC, microseconds when there are any", function()
    assert.equal("2021-05-20T12:49:53Z", correlation.iso(1621514993))
    assert.equal("2021-05-20T12:49:53.378800Z", correlation.iso(1621514993.3788))
    assert.equal("2000-02-29T00:00:00Z", correlation.iso(951782400))
    for _, t in ipairs { 0, 86399, 86400, 951782399, 4102444800, 1700000000.25 } do
      assert.equal(t, correlation.seconds(correlation.iso(t)))
    end
  end)
  it("reads timespans with pySigma's units and refuses others", function()
    assert.equal(300, correlation.timespan("5m"))
    assert.equal(2 * 86400, correlation.timespan("2d"))
    assert.equal(604800, correlation.timespan("1w"))
    assert.is_nil(correlation.timespan("5 minutes"))
    assert.is_nil(correlation.timespan("0s"))
  end)
end)

-- ---------------------------------------------------------------- event_count
describe("event_count", function()
  local STREAM = {
    fail(0, "alice"), fail(10, "alice"), fail(15, "bob"), fail(20, "alice"),  -- alice: 3 in 20 s
    fail(25, "bob"), fail(100, "bob"),                                         -- bob: never 3 in 60 s
    fail(200, "alice"), fail(230, "alice"), fail(260, "alice"),                -- alice again: exactly 60 s
  }

  it("fires per group-by key when the count is reached within the timespan, then starts over", function()
    local eng = engine(EVENT_COUNT)
    assert.same({
      "The correlation [User=alice] 0..20 n=3",
      "The correlation [User=alice] 200..260 n=3",
    }, shown(run(eng, STREAM)))
  end)

  it("counts an event exactly `timespan` after the first (the bound is inclusive), not one a little later", function()
    local eng = engine(EVENT_COUNT)
    assert.equal(1, #run(eng, { fail(0, "a"), fail(30, "a"), fail(60, "a") }))
    assert.equal(0, #run(eng, { fail(0, "a"), fail(30, "a"), fail(60.001, "a") }))
  end)

  it("gives the same hits for a stream out of order by less than the lag", function()
    local want = shown(run(engine(EVENT_COUNT), STREAM))
    -- each event moved by up to 2 places: up to 160 s here, within a lag of 200 s
    local eng = engine(EVENT_COUNT, { correlation = { lag = 200 } })
    for seed = 1, 5 do
      local mixed = jitter(STREAM, 2, seed)
      assert.are_not.same(STREAM, mixed)
      assert.same(want, shown(run(eng, mixed)))
    end
    assert.equal(0, eng:correlation_stats().late)
  end)

  it("drops an event that comes later than the lag, counts it, and fires on the rest", function()
    local eng = engine(EVENT_COUNT, { correlation = { lag = 5 } })
    -- 2 comes after 100 was seen: 10 is out already (100 - 5 > 10), 2 is late
    local hits = run(eng, { fail(0, "a"), fail(10, "a"), fail(100, "b"), fail(2, "a"), fail(20, "a") })
    assert.equal(1, eng:correlation_stats().late)
    assert.same({ "The correlation [User=a] 0..20 n=3" }, shown(hits))
    -- within the lag it counts
    local eng2 = engine(EVENT_COUNT, { correlation = { lag = 5 } })
    local hits2 = run(eng2, { fail(0, "a"), fail(10, "a"), fail(2, "a"), fail(100, "b") })
    assert.equal(0, eng2:correlation_stats().late)
    assert.same({ "The correlation [User=a] 0..10 n=3" }, shown(hits2))
  end)

  it("makes an absent group-by field a value of its own", function()
    local eng = engine(EVENT_COUNT)
    local hits = run(eng, { fail(0), fail(1, "a"), fail(2), fail(3), fail(4, "a") })
    assert.same({ "The correlation [User=nil] 0..3 n=3" }, shown(hits))
    assert.is_nil(hits[1].by.User)
  end)

  it("keeps keys apart when there are several group-by fields", function()
    local eng = engine(BASE .. corr_doc [[
correlation:
  type: event_count
  rules: failed_login
  group-by: [User, Host]
  timespan: 1m
  condition:
    gt: 1
]])
    local hits = run(eng, { fail(0, "a", { Host = "h1" }), fail(1, "a", { Host = "h2" }), fail(2, "b", { Host = "h1" }),
      fail(3, "a", { Host = "h2" }) })
    assert.same({ "The correlation [User=a,Host=h2] 1..3 n=2" }, shown(hits))
    assert.same({ User = "a", Host = "h2" }, hits[1].by)
  end)

  it("decides an upper bound (lt) when the window is over: rare events fire, frequent ones do not", function()
    local eng = engine(BASE .. corr_doc [[
correlation:
  type: event_count
  rules: failed_login
  group-by: [User]
  timespan: 1h
  condition:
    lt: 3
]])
    local hits = run(eng, { fail(0, "rare"), fail(10, "often"), fail(20, "often"), fail(30, "often"), fail(4000, "late") })
    -- rare's and often's windows close when 4000 passes them; late's at flush
    assert.same({ "The correlation [User=late] 4000..4000 n=1", "The correlation [User=rare] 0..0 n=1" }, shown(hits))
  end)

  it("takes a range (gt and lte together, the specification's AND)", function()
    local eng = engine(BASE .. corr_doc [[
correlation:
  type: event_count
  rules: failed_login
  group-by: [User]
  timespan: 1h
  condition:
    gt: 1
    lte: 2
]])
    local hits = run(eng, { fail(0, "one"), fail(0, "two"), fail(1, "two"), fail(0, "three"), fail(1, "three"), fail(2, "three") })
    assert.same({ "The correlation [User=two] 0..1 n=2" }, shown(hits))
  end)

  it("counts events without a time apart and leaves them out", function()
    local eng = engine(EVENT_COUNT)
    local hits = run(eng, { { EventID = 4625, User = "a" }, fail(0, "a") })
    assert.equal(0, #hits)
    assert.equal(1, eng:correlation_stats().untimed)
    -- a time given to feed instead
    eng:flush()
    local out = {}
    for i = 1, 3 do
      local ev = { EventID = 4625, User = "a" }
      for _, h in ipairs(eng:feed(ev, eng:match(ev), { time = i })) do out[#out + 1] = h end
    end
    for _, h in ipairs(eng:flush()) do out[#out + 1] = h end
    assert.same({ "The correlation [User=a] 1..3 n=3" }, shown(out))
  end)

  it("reads evtx_dump's TimeCreated SystemTime", function()
    local eng = engine(EVENT_COUNT)
    local function ev(t)
      return { Event = { System = { EventID = 4625, TimeCreated = { ["#attributes"] = { SystemTime = t } } },
        EventData = { User = "x" } } }
    end
    local hits = run(eng, { ev("2021-05-20T12:00:00.1Z"), ev("2021-05-20T12:00:30Z"), ev("2021-05-20T12:01:00.1Z") })
    assert.equal(1, #hits)
    assert.equal("2021-05-20T12:00:00.100000Z", hits[1].first_time)
    assert.equal("2021-05-20T12:01:00.100000Z", hits[1].last_time)
  end)
end)

-- ---------------------------------------------------------------- value_count
describe("value_count", function()
  local VC = BASE .. corr_doc [[
correlation:
  type: value_count
  rules: failed_login
  group-by: [Source]
  timespan: 5m
  condition:
    field: User
    gte: 3
]]
  it("counts distinct values of the field per key; repeats and events without the field add none", function()
    local eng = engine(VC)
    local hits = run(eng, {
      fail(0, "a", { Source = "s1" }), fail(1, "a", { Source = "s1" }), fail(2, nil, { Source = "s1" }),
      fail(3, "b", { Source = "s1" }), fail(4, "a", { Source = "s2" }), fail(5, "c", { Source = "s1" }),
    })
    assert.same({ "The correlation [Source=s1] 0..5 n=3" }, shown(hits))
  end)
  it("forgets values older than the timespan (inclusive bound) and is the same out of order", function()
    local eng = engine(VC)
    local stream = { fail(0, "a", { Source = "s" }), fail(100, "b", { Source = "s" }), fail(300, "c", { Source = "s" }),
      fail(400, "d", { Source = "s" }), fail(800, "e", { Source = "s" }) }
    -- 0..300: a, b, c (300 is exactly 5 min after 0)
    assert.same({ "The correlation [Source=s] 0..300 n=3" }, shown(run(eng, stream)))
    stream[3].Timestamp = 300.5
    assert.same({ "The correlation [Source=s] 100..400 n=3" }, shown(run(eng, stream)))
    local lagged = engine(VC, { correlation = { lag = 1000 } })
    assert.same({ "The correlation [Source=s] 100..400 n=3" }, shown(run(lagged, jitter(stream, 1, 7))))
  end)
  it("stays exact when one value repeats many times in the window", function()
    local eng = engine(VC)
    local stream = {}
    for i = 1, 500 do stream[i] = fail(i * 0.1, "same", { Source = "s" }) end
    stream[#stream + 1] = fail(60, "other", { Source = "s" })
    stream[#stream + 1] = fail(61, "third", { Source = "s" })
    assert.same({ "The correlation [Source=s] 0.1..61 n=3" }, shown(run(eng, stream)))
  end)
  it("is skipped without a condition field, with the reason", function()
    local eng = sigma.engine { unmapped = "all" }
    local _, skipped = eng:add(BASE .. corr_doc [[
correlation:
  type: value_count
  rules: failed_login
  timespan: 5m
  condition:
    gte: 3
]])
    assert.equal(1, #skipped)
    assert.matches("value_count correlation without condition field", skipped[1].reason)
  end)
end)

-- ---------------------------------------------------------------- temporal
describe("temporal", function()
  local T = BASE .. corr_doc [[
correlation:
  type: temporal
  rules: [recon_a, recon_b]
  group-by: [Host]
  timespan: 10s
]]
  local function cmd(t, c, host) return { CommandLine = c, Timestamp = t, Host = host } end
  it("fires when every rule fired within the timespan, in any order, per key", function()
    local eng = engine(T)
    local hits = run(eng, { cmd(0, "ipconfig", "h1"), cmd(5, "whoami", "h2"), cmd(10, "whoami", "h1"),
      cmd(30, "whoami", "h2"), cmd(45, "ipconfig", "h2") })
    assert.same({ "The correlation [Host=h1] 0..10 n=2" }, shown(hits))
  end)
  it("takes a condition on the number of rules, and an extended (boolean) one", function()
    local eng = engine(BASE .. corr_doc [[
correlation:
  type: temporal
  rules: [recon_a, recon_b, failed_login]
  group-by: [Host]
  timespan: 10s
  condition:
    gte: 2
]])
    assert.same({ "The correlation [Host=h] 0..3 n=2" },
      shown(run(eng, { cmd(0, "whoami", "h"), { EventID = 4625, Host = "h", Timestamp = 3 } })))
    local ext = engine(BASE .. corr_doc [[
correlation:
  type: temporal
  rules: [recon_a, recon_b, failed_login]
  group-by: [Host]
  timespan: 10s
  condition: failed_login and (recon_a or recon_b)
]])
    assert.same({}, shown(run(ext, { cmd(0, "whoami", "h"), cmd(1, "ipconfig", "h") })))
    assert.same({ "The correlation [Host=h] 0..2 n=2" },
      shown(run(ext, { cmd(0, "whoami", "h"), { EventID = 4625, Host = "h", Timestamp = 2 } })))
  end)
  it("reads aliases: one group-by name, a different field per rule (the specification's example)", function()
    local eng = engine(BASE .. corr_doc [[
correlation:
  type: temporal
  rules: [recon_a, recon_b]
  group-by: [internal_ip]
  timespan: 10s
  aliases:
    internal_ip:
      recon_a: destination.ip
      recon_b: source.ip
]])
    local hits = run(eng, {
      { CommandLine = "whoami", destination = { ip = "10.0.0.1" }, source = { ip = "1.1.1.1" }, Timestamp = 0 },
      { CommandLine = "ipconfig", source = { ip = "10.0.0.1" }, destination = { ip = "2.2.2.2" }, Timestamp = 1 },
    })
    assert.same({ "The correlation [internal_ip=10.0.0.1] 0..1 n=2" }, shown(hits))
  end)
end)

describe("temporal_ordered", function()
  local TO = BASE .. corr_doc [[
correlation:
  type: temporal_ordered
  rules: [recon_a, recon_b]
  group-by: [Host]
  timespan: 10s
]]
  local function cmd(t, c, host) return { CommandLine = c, Timestamp = t, Host = host or "h" } end
  it("fires when the rules fired in their order within the timespan", function()
    local eng = engine(TO)
    assert.same({ "The correlation [Host=h] 0..10 n=2" }, shown(run(eng, { cmd(0, "whoami"), cmd(10, "ipconfig") })))
    assert.same({}, shown(run(eng, { cmd(0, "ipconfig"), cmd(5, "whoami") })))
    assert.same({}, shown(run(eng, { cmd(0, "whoami"), cmd(10.5, "ipconfig") })))
    -- a later start still counts: whoami at 0 is too old for ipconfig at 15, whoami at 8 is not
    assert.same({ "The correlation [Host=h] 8..15 n=2" },
      shown(run(eng, { cmd(0, "whoami"), cmd(8, "whoami"), cmd(15, "ipconfig") })))
  end)
  it("does not take one event as two steps", function()
    local eng = engine(BASE .. corr_doc [[
correlation:
  type: temporal_ordered
  rules: [recon_a, recon_a2]
  group-by: [Host]
  timespan: 10s
]] .. [[
---
title: Recon A2
name: recon_a2
logsource: {product: test}
detection:
  sel:
    CommandLine|contains: who
  condition: sel
]])
    assert.same({}, shown(run(eng, { cmd(0, "whoami") })))
    assert.same({ "The correlation [Host=h] 0..1 n=2" }, shown(run(eng, { cmd(0, "whoami"), cmd(1, "whoami") })))
  end)
end)

-- ---------------------------------------------------------------- chains, generate
describe("correlations of correlations", function()
  it("fire on the hits of the correlations they name (the specification's failed-then-successful login)", function()
    local eng = engine(BASE .. [[
---
title: Many failed logins
name: many_failed_logins
correlation:
  type: event_count
  rules: failed_login
  group-by: [User]
  timespan: 1m
  condition:
    gte: 3
]] .. corr_doc [[
correlation:
  type: temporal_ordered
  rules: [many_failed_logins, successful_login]
  group-by: [User]
  timespan: 5m
]])
    local hits = run(eng, { fail(0, "a"), fail(1, "a"), fail(2, "a"), ok(100, "a"), ok(100, "b"),
      fail(400, "b"), ok(401, "b") })
    -- many_failed_logins is hidden (generate is not set): only the outer correlation shows
    assert.same({ "The correlation [User=a] 2..100 n=2" }, shown(hits))
    assert.equal(0, #eng:problems())
  end)

  it("a correlation naming itself through another is reported and not run", function()
    local eng = engine(BASE .. [[
---
title: C1
name: c1
correlation:
  type: event_count
  rules: [c2]
  timespan: 1m
  condition: {gte: 1}
---
title: C2
name: c2
correlation:
  type: event_count
  rules: [c1]
  timespan: 1m
  condition: {gte: 1}
]])
    local p = eng:problems()
    assert.equal(2, #p)
    assert.matches("refers to itself", p[1].reason)
  end)

  it("a correlation naming an unknown rule is reported and not run", function()
    local eng = engine(BASE .. corr_doc [[
correlation:
  type: event_count
  rules: [no_such_rule]
  timespan: 1m
  condition: {gte: 1}
]])
    local p = eng:problems()
    assert.equal(1, #p)
    assert.matches("unknown rule 'no_such_rule'", p[1].reason)
    assert.equal(0, eng:correlation_stats().correlations)
  end)
end)

describe("generate", function()
  local function with(gen)
    return engine(BASE .. corr_doc(([[
correlation:
  type: event_count
  rules: failed_login
  group-by: [User]
  timespan: 1m
  generate: %s
  condition:
    gte: 2
]]):format(gen)))
  end
  it("is off by default: the named rule still matches (rule.output false) but eng:scan shows only the correlation", function()
    local eng = with("false")
    local hits = eng:match(fail(0, "a"))
    assert.equal(1, #hits)
    assert.is_false(hits[1].output)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(cjson.encode(fail(0, "a")), "\n", cjson.encode(fail(1, "a")), "\n")
    f:close()
    local titles = {}
    for _, h in eng:scan(path) do titles[#titles + 1] = h[1].title end
    os.remove(path)
    assert.same({ "The correlation" }, titles)
  end)
  it("generate: true shows the named rule's hits too", function()
    local eng = with("true")
    assert.is_nil(eng:match(fail(0, "a"))[1].output)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(cjson.encode(fail(0, "a")), "\n", cjson.encode(fail(1, "a")), "\n")
    f:close()
    local titles = {}
    for _, h in eng:scan(path) do titles[#titles + 1] = h[1].title end
    os.remove(path)
    assert.same({ "Failed login", "Failed login", "The correlation" }, titles)
  end)
end)

-- ---------------------------------------------------------------- filters
describe("filters", function()
  local function filt(rules, extra)
    return ([[
---
title: Not the admins
logsource: {product: test}
filter:
  rules: %s
  selection:
    User|startswith: adm_
  condition: not selection
]]):format(rules) .. (extra or "")
  end
  it("add their condition to the rules they name by id", function()
    local eng = engine(BASE .. filt("[11111111-0000-4000-8000-000000000001]"))
    assert.equal(0, #eng:match(fail(0, "adm_bob")))
    assert.equal(1, #eng:match(fail(0, "bob")))
    assert.equal(1, #eng:match(ok(0, "adm_bob")))  -- not named
    assert.equal(#eng:match(fail(0, "adm_bob")), #eng:naive_match(fail(0, "adm_bob")))
  end)
  it("by name, and by title", function()
    local eng = engine(BASE .. filt("successful_login"))
    assert.equal(0, #eng:match(ok(0, "adm_x")))
    assert.equal(1, #eng:match(fail(0, "adm_x")))
    local eng2 = engine(BASE .. filt("[Successful login]"))
    assert.equal(0, #eng2:match(ok(0, "adm_x")))
  end)
  it("any: every rule its logsource covers", function()
    local eng = engine(BASE .. filt("any"))
    assert.equal(0, #eng:match(ok(0, "adm_x")))
    assert.equal(0, #eng:match(fail(0, "adm_x")))
    assert.equal(1, #eng:match(fail(0, "x")))
  end)
  it("loaded from another file than the rules, before or after them", function()
    local eng = assert(sigma.engine { unmapped = "all" })
    eng:add(filt("failed_login"), "filter.yml")
    eng:add(BASE, "rules.yml")
    assert.equal(0, #eng:match(fail(0, "adm_x")))
    eng:add(filt("successful_login"), "filter2.yml")
    assert.equal(0, #eng:match(ok(0, "adm_x")))
  end)
  it("naming an unknown rule are reported, and still apply to the others", function()
    local eng = engine(BASE .. filt("[failed_login, nope]"))
    local p = eng:problems()
    assert.equal(1, #p)
    assert.matches("filter names an unknown rule 'nope'", p[1].reason)
    assert.equal("t.yml", p[1].path)
    assert.equal(0, #eng:match(fail(0, "adm_x")))
  end)
  it("act before correlations: a filtered event is not counted", function()
    local eng = engine(EVENT_COUNT .. filt("failed_login"))
    assert.same({}, shown(run(eng, { fail(0, "adm_a"), fail(1, "adm_a"), fail(2, "adm_a") })))
    assert.equal(1, #run(eng, { fail(0, "a"), fail(1, "a"), fail(2, "a") }))
  end)
  it("rename fields as the rule's logsource does (Image is NewProcessName in a 4688)", function()
    local eng = assert(sigma.engine())
    eng:add([[
title: Whoami
id: w
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image|endswith: \whoami.exe
  condition: sel
---
title: Not from the tools folder
logsource: {category: process_creation, product: windows}
filter:
  rules: w
  selection:
    Image|startswith: 'C:\Tools\'
  condition: not selection
]], "f.yml")
    local function sec(img) return { Channel = "Security", EventID = 4688, NewProcessName = img } end
    assert.equal(1, #eng:match(sec([[C:\Windows\whoami.exe]])))
    assert.equal(0, #eng:match(sec([[C:\Tools\whoami.exe]])))
  end)
end)

-- ---------------------------------------------------------------- legacy count()
describe("legacy aggregations (Sigma 1's `| count()`, as Hayabusa's rules write them)", function()
  local function legacy(cond, timeframe)
    return ([[
title: Legacy
id: 33333333-0000-4000-8000-000000000001
level: medium
logsource: {product: test}
detection:
  sel:
    EventID: 4625
  condition: %s
%s]]):format(cond, timeframe and ("  timeframe: " .. timeframe .. "\n") or "")
  end
  it("count() by field > n with timeframe: an event_count over the hidden rule", function()
    local eng = engine(legacy("sel | count() by User > 2", "1m"))
    assert.is_false(eng.rules[1].output)
    assert.same({ "Legacy [User=a] 0..20 n=3" }, shown(run(eng, { fail(0, "a"), fail(10, "a"), fail(15, "b"), fail(20, "a") })))
    assert.same({}, shown(run(eng, { fail(0, "a"), fail(10, "a"), fail(61, "a") })))
  end)
  it("count(field) by field >= n: a value_count", function()
    local eng = engine(legacy("sel | count(User) by Source >= 2", "5m"))
    assert.same({ "Legacy [Source=s] 0..1 n=2" },
      shown(run(eng, { fail(0, "a", { Source = "s" }), fail(0.5, "a", { Source = "s" }), fail(1, "b", { Source = "s" }) })))
  end)
  it("without timeframe: over the whole stream; an upper bound is decided at flush", function()
    local eng = engine(legacy("sel | count() by User < 2"))
    assert.same({ "Legacy [User=b] 1000000..1000000 n=1" },
      shown(run(eng, { fail(0, "a"), fail(500000, "a"), fail(1000000, "b") })))
    local eng2 = engine(legacy("sel | count() > 2"))
    assert.same({ "Legacy [] 0..3000000 n=3" }, shown(run(eng2, { fail(0, "a"), fail(1000000, "b"), fail(3000000, "c") })))
  end)
  it("an aggregation other than count() is skipped with its reason", function()
    local eng = sigma.engine { unmapped = "all" }
    local _, sk = eng:add(legacy("sel | max(Size) by User > 2"), "x.yml")
    assert.matches("aggregation 'max%(%)' is not supported", sk[1].reason)
  end)
end)

-- ---------------------------------------------------------------- collections
describe("rule collections", function()
  it("action: global merges into the rules after it, repeat repeats the previous one, reset ends it", function()
    local eng = engine([[
action: global
title: From the template
logsource: {product: test}
detection:
  a:
    EventID: 1
  condition: a and b
---
detection:
  b:
    User: x
---
action: repeat
detection:
  b:
    User: y
---
action: reset
---
title: Plain
logsource: {product: test}
detection:
  s:
    EventID: 9
  condition: s
]])
    assert.equal(3, #eng.rules)
    assert.equal("From the template", eng.rules[1].title)
    assert.equal(1, #eng:match { EventID = 1, User = "x" })
    assert.equal(1, #eng:match { EventID = 1, User = "y" })
    assert.equal(0, #eng:match { EventID = 2, User = "y" })
    assert.equal(1, #eng:match { EventID = 9 })
  end)
  it("skips a bad document and loads the others", function()
    local eng = sigma.engine { unmapped = "all" }
    local n, sk = eng:add(BASE .. "---\ntitle: Broken\ndetection:\n  s:\n    a|nope: 1\n  condition: s\n", "c.yml")
    assert.equal(4, n)
    assert.equal(1, #sk)
    assert.equal("Broken", sk[1].title)
  end)
  it("refuses a correlation of an unsupported type, with the reason", function()
    local eng = sigma.engine { unmapped = "all" }
    local _, sk = eng:add(BASE .. corr_doc "correlation:\n  type: value_avg\n  rules: [failed_login]\n  timespan: 1m\n  condition: {gt: 1, field: x}\n")
    assert.matches("correlation type 'value_avg' is not supported", sk[1].reason)
  end)
end)

-- ---------------------------------------------------------------- robustness
describe("malformed correlations and filters", function()
  it("never raise: each document loads or is skipped with a reason, and events still run (fixed seed)", function()
    local lyaml = require "lyaml"
    local SEED = tonumber(os.getenv("FM_SEED") or "") or 20261130
    local docs = lyaml.load(EVENT_COUNT .. [[
---
title: T
name: tt
correlation:
  type: temporal_ordered
  rules: [recon_a, recon_b]
  group-by: [Host]
  timespan: 10s
  aliases:
    Host:
      recon_a: H
---
title: V
correlation:
  type: value_count
  rules: [failed_login, tt]
  group-by: User
  timespan: 1h
  generate: true
  condition: {field: User, gt: 1, lte: 5}
---
title: F
logsource: {product: test}
filter:
  rules: [failed_login]
  selection: {User|startswith: adm_}
  condition: not selection
]], { all = true })
    local meta_docs = {}
    for i = 5, #docs do meta_docs[#meta_docs + 1] = docs[i] end
    local REPL = { "x", 7, -1, 0.5, true, lyaml.null, { "a", 1 }, { a = { b = 1 } }, {}, "1z", "gte" }
    local s = SEED
    local function rnd(n) s = (s * 1103515245 + 12345) % 2147483648; return s % n + 1 end
    local function deep(t)
      if type(t) ~= "table" then return t end
      local o = {}
      for k, v in pairs(t) do o[k] = deep(v) end
      return o
    end
    local function paths(t, prefix, out)
      for k, v in pairs(t) do
        local p = { unpack and unpack(prefix) or table.unpack(prefix) }
        p[#p + 1] = k
        out[#out + 1] = p
        if type(v) == "table" then paths(v, p, out) end
      end
      return out
    end
    local loaded, skipped = 0, 0
    for round = 1, 150 do
      local doc = deep(meta_docs[rnd(#meta_docs)])
      local all = paths(doc, {}, {})
      table.sort(all, function(a, b) return table.concat(a, ".", 1, #a) < table.concat(b, ".", 1, #b) end)
      local p = all[rnd(#all)]
      local t = doc
      for i = 1, #p - 1 do t = t[p[i]] end
      local r = rnd(#REPL + 1)
      if r > #REPL then t[p[#p]] = nil else t[p[#p]] = deep(REPL[r]) end
      local text = BASE .. "---\n" .. lyaml.dump({ doc }):gsub("^%-%-%-%s*\n", ""):gsub("%.%.%.%s*$", "")
      local eng = sigma.engine { unmapped = "all" }
      local ok, n, sk = pcall(eng.add, eng, text, "m.yml")
      assert(ok, ("round %d (seed %d): add raised %s"):format(round, SEED, tostring(n)))
      for _, x in ipairs(sk) do assert.is_string(x.reason) end
      if #sk > 0 then skipped = skipped + 1 else loaded = loaded + 1 end
      local ok2, err = pcall(function()
        eng:problems()
        for i = 1, 6 do
          local ev = fail(i, i % 2 == 0 and "adm_a" or "b", { Host = "h", CommandLine = i % 2 == 0 and "whoami" or "ipconfig" })
          eng:feed(ev, eng:match(ev))
        end
        eng:flush()
        eng:correlation_stats()
      end)
      assert(ok2, ("round %d (seed %d): running raised %s"):format(round, SEED, tostring(err)))
    end
    print(("\ncorrelation: 150 mutated meta rules, seed %d: %d loaded, %d skipped"):format(SEED, loaded, skipped))
  end)
end)

-- ---------------------------------------------------------------- bounded state
describe("the group states", function()
  it("stay bounded under a million distinct keys: the cap drops the oldest, and says so", function()
    local eng = engine(BASE .. corr_doc [[
correlation:
  type: event_count
  rules: failed_login
  group-by: [User]
  timespan: 30d
  condition:
    gte: 2
]], { correlation = { max_keys = 1000, lag = 0 } })
    local hits = { eng.rules[1] }
    local ev = { EventID = 4625, User = "" }
    local opts = { time = 0 }
    eng:feed(ev, hits, opts)
    collectgarbage()
    collectgarbage()
    local before = collectgarbage("count")
    local N = 1000000
    local peak = before
    for i = 1, N do
      ev.User = "u" .. i
      opts.time = i * 0.001
      eng:feed(ev, hits, opts)
      if i % 100000 == 0 then
        local m = collectgarbage("count")
        if m > peak then peak = m end
      end
    end
    collectgarbage()
    local st = eng:correlation_stats()
    assert.equal(1000, st.keys)
    assert.equal(1000, st.peak_keys)
    assert.equal(N + 1 - 1000, st.dropped)
    -- and still correct for what it keeps: the last key, seen again, fires
    ev.User = "u" .. N
    opts.time = N * 0.001 + 1
    assert.equal(1, #eng:feed(ev, hits, opts))
    print(("\ncorrelation: %d distinct keys, cap %d: %d dropped, memory %.1f MB more at most (%.1f MB after)")
      :format(N, st.max_keys, st.dropped, (peak - before) / 1024, (collectgarbage("count") - before) / 1024))
    assert.is_true((collectgarbage("count") - before) / 1024 < 16, "state grew with the keys")
    local lines = require("fastmatch.sigma.timeline").summary(eng)
    assert.matches("dropped by the cap", lines[1])
  end)
end)

-- ---------------------------------------------------------------- one answer three ways
describe("eng:scan, eng:feed/eng:flush and fastmatch-hunt", function()
  local RULES = EVENT_COUNT .. [[
---
title: Recon pair
id: 44444444-0000-4000-8000-000000000001
level: high
correlation:
  type: temporal
  rules: [recon_a, recon_b]
  group-by: [Host]
  timespan: 10s
]]
  local function stream()
    local out = {}
    local base = 1700000000
    for i = 0, 59 do
      local user = ({ "a", "b", "c" })[i % 3 + 1]
      out[#out + 1] = fail(base + i * 7, user, { Host = "h" .. (i % 2) })
      -- a recon pair on one host, 2 s apart, every 35 s; a lone whoami elsewhere
      if i % 5 == 0 then
        local host = "h" .. (i % 3)
        out[#out + 1] = { CommandLine = "whoami", Host = host, Timestamp = base + i * 7 + 1 }
        out[#out + 1] = { CommandLine = "ipconfig", Host = host, Timestamp = base + i * 7 + 3 }
        out[#out + 1] = { CommandLine = "whoami", Host = "lone", Timestamp = base + i * 7 + 4 }
      end
    end
    for _, e in ipairs(out) do e.Timestamp = correlation.iso(e.Timestamp) end
    return out
  end
  it("give the same correlation hits", function()
    local events = stream()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    local lines = {}
    for i, e in ipairs(events) do lines[i] = cjson.encode(e) end
    local f = assert(io.open(dir .. "/ev.jsonl", "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
    f = assert(io.open(dir .. "/rules.yml", "w"))
    f:write(RULES)
    f:close()

    -- times compared as instants (the hunt writes them in its own format)
    local T = require "fastmatch.hunt.time"
    local function at(s) local t = T.parse(s, 0); return t and T.key(t) or tostring(s) end
    local by_feed = {}
    for _, h in ipairs(run(engine(RULES), events)) do
      by_feed[#by_feed + 1] = ("%s|%s|%s|%d"):format(h.rule.title, at(h.first_time), at(h.last_time), h.count)
    end
    table.sort(by_feed)
    assert.is_true(#by_feed >= 4)

    local by_scan = {}
    for item, hits in engine(RULES):scan(dir .. "/ev.jsonl") do
      if hits[1].correlation then
        by_scan[#by_scan + 1] = ("%s|%s|%s|%d"):format(hits[1].title, at(item.first_time), at(item.last_time), item.count)
      end
    end
    table.sort(by_scan)
    assert.same(by_feed, by_scan)

    local H = require "fastmatch.hunt"
    local errbuf = {}
    local status = H.main({ "--rules", dir .. "/rules.yml", "--logsources", "none", "--format", "jsonl",
      "-o", dir .. "/out.jsonl", dir .. "/ev.jsonl" }, { stderr = { write = function(_, ...) errbuf[#errbuf + 1] = table.concat({ ... }) end } })
    assert.equal(0, status, table.concat(errbuf))
    local by_hunt = {}
    for line in io.lines(dir .. "/out.jsonl") do
      local r = cjson.decode(line)
      if r.RuleTitle ~= "Recon A" and r.RuleTitle ~= "Recon B" and r.RuleTitle ~= "Successful login" then
        by_hunt[#by_hunt + 1] = ("%s|%s|%s|%d"):format(r.RuleTitle, at(r.ExtraFieldInfo.FirstTimestamp),
          at(r.ExtraFieldInfo.LastTimestamp), r.Details.Count)
      end
    end
    table.sort(by_hunt)
    assert.same(by_feed, by_hunt)
    assert.matches("correlations: 2 rule%(s%), " .. #by_feed .. " hit", table.concat(errbuf))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("merge several inputs in time order (the hunt reads them one after the other)", function()
    local events = stream()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    -- the odd events in one file, the even in another
    local a, b = {}, {}
    for i, e in ipairs(events) do
      if i % 2 == 1 then a[#a + 1] = cjson.encode(e) else b[#b + 1] = cjson.encode(e) end
    end
    for name, l in pairs { ["a.jsonl"] = a, ["b.jsonl"] = b } do
      local f = assert(io.open(dir .. "/" .. name, "w"))
      f:write(table.concat(l, "\n"), "\n")
      f:close()
    end
    local want = {}
    for _, h in ipairs(run(engine(RULES), events)) do want[#want + 1] = show(h) end
    table.sort(want)
    local eng = engine(RULES)
    eng:inputs { "a", "b" }
    local got = {}
    for item, hits in eng:scan(dir .. "/a.jsonl", { input = "a", flush = false }) do
      if hits[1].correlation then got[#got + 1] = show(item) end
    end
    for item, hits in eng:scan(dir .. "/b.jsonl", { input = "b" }) do
      if hits[1].correlation then got[#got + 1] = show(item) end
    end
    table.sort(got)
    assert.same(want, got)
    assert.equal(0, eng:correlation_stats().late)
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)

-- ---------------------------------------------------------------- Hayabusa's rule set
local function hayabusa_dir()
  for _, d in ipairs { os.getenv("FM_SHARED") or false, root .. "/../shared" } do
    if d then
      local f = io.open(d .. "/data/hayabusa-rules/REVISION")
      if f then f:close(); return d .. "/data/hayabusa-rules" end
    end
  end
end
local HAYABUSA = hayabusa_dir()

describe("Hayabusa's rule set", function()
  if not HAYABUSA then
    pending("../shared/data/hayabusa-rules not found (set FM_SHARED): Hayabusa's rules not tried")
    return
  end

  local function sec_event(t, eid, data, computer)
    return { Event = { System = { Provider = { ["#attributes"] = { Name = "Microsoft-Windows-Security-Auditing" } },
      EventID = eid, Channel = "Security", Computer = computer or "fs01.offsec.lan",
      TimeCreated = { ["#attributes"] = { SystemTime = t } } }, EventData = data } }
  end
  local function ts(s) return correlation.iso(1621512000 + s) end
  -- password guessing, user guessing and a spray, as Hayabusa's correlations describe them
  local function attack()
    local out = {}
    for i = 0, 5 do
      out[#out + 1] = sec_event(ts(i * 20), 4625, { SubStatus = "0xc000006a", TargetUserName = "admin", TargetDomainName = "OFFSEC",
        IpAddress = "10.0.0.5", LogonType = 3, ProcessName = "-", LogonProcessName = "NtLmSsp", WorkstationName = "KALI" })
    end
    for i = 0, 4 do
      out[#out + 1] = sec_event(ts(200 + i * 10), 4625, { SubStatus = "0xc0000064", TargetUserName = "nouser" .. i,
        TargetDomainName = "OFFSEC", IpAddress = "10.0.0.6", LogonType = 3, ProcessName = "-", LogonProcessName = "NtLmSsp",
        WorkstationName = "KALI" })
    end
    for i = 0, 4 do
      out[#out + 1] = sec_event(ts(400 + i * 5), 4648, { TargetUserName = "user" .. i, SubjectUserName = "attacker",
        IpAddress = "10.0.0.7", ProcessName = [[C:\x.exe]], TargetInfo = "srv" })
    end
    return out
  end

  local eng, loaded, skipped
  local function all()
    if eng then return eng end
    local t0 = os.clock()
    eng = assert(sigma.engine())
    loaded, skipped = eng:load(HAYABUSA)
    print(("\nhayabusa-rules: %d documents loaded, %d skipped, in %.1f s"):format(loaded, #skipped, os.clock() - t0))
    return eng
  end

  it("loads every file (0 skipped), every rule runs without a mapping, no reference is left unresolved", function()
    local e = all()
    local reasons = {}
    for _, s in ipairs(skipped) do reasons[#reasons + 1] = s.path .. ": " .. s.reason end
    assert.same({}, reasons)
    local files = 0
    local p = io.popen("find '" .. HAYABUSA .. "' -name '*.yml' -type f | wc -l")
    files = tonumber(p:read("*l"))
    p:close()
    assert.is_true(loaded >= files, "fewer documents than files")
    assert.equal(0, e:stats().unmapped_rules)
    assert.same({}, e:problems())
    assert.is_true(e:correlation_stats().correlations >= 30)
  end)

  it("agrees with the naive evaluator on SigmaHQ's regression events (its curated SigmaHQ rules fire on them)", function()
    local reg = HAYABUSA:gsub("hayabusa%-rules$", "sigma/sigmahq/regression_data")
    local p = io.popen("find '" .. reg .. "' -name '*.json' 2>/dev/null | LC_ALL=C sort")
    local files = {}
    for l in p:lines() do files[#files + 1] = l end
    p:close()
    if #files == 0 then
      print("\nhayabusa-rules: SigmaHQ's regression data not found, not compared")
      return
    end
    local e = all()
    local n, fired = 0, 0
    for _, fn in ipairs(files) do
      local f = assert(io.open(fn))
      local text = f:read("*a")
      f:close()
      for _, ev in ipairs(sigma.decode_objects(text) or {}) do
        local a, b = e:match(ev), e:naive_match(ev)
        local sa, sb = {}, {}
        for i, r in ipairs(a) do sa[i] = r.path end
        for i, r in ipairs(b) do sb[i] = r.path end
        assert.same(sb, sa, fn)
        n = n + 1
        if #a > 0 then fired = fired + 1 end
      end
    end
    print(("\nhayabusa-rules on SigmaHQ's regression events: %d of %d fire some rule, eng:match == naive"):format(fired, n))
    assert.is_true(fired >= n * 0.9)
  end)

  it("fires its correlation rules on a stream made for them", function()
    local e = all()
    local titles = {}
    for _, h in ipairs(run(e, attack())) do titles[h.rule.title .. " " .. h.rule.id] = h.count end
    assert.equal(5, titles["PW Guessing 23179f25-6fce-4827-bae1-b219deaf563e"])      -- event_count gte 5
    assert.equal(4, titles["User Guessing 0ae09af3-f30f-47c2-a31c-83e0b918eeee"])    -- value_count gt 3
    assert.equal(5, titles["PW Spray 49d15187-4203-4e11-8acd-8736f25b6608"])         -- value_count gte 5
    -- the legacy (deprecated) count() versions of the same
    assert.equal(5, titles["PW Guessing 35e8a0fc-60c2-46d7-ba39-aafb15b9854e"])
    assert.equal(4, titles["User Guessing 4574194d-e7ca-4356-a95c-21b753a1787e"])
    assert.equal(5, titles["PW Spray ffd622af-d049-449f-af5a-0492fdcc3a58"])
  end)

  it("runs in fastmatch-hunt: correlation hits and details templates in the timeline, CSV and JSONL", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    local f = assert(io.open(dir .. "/sec.jsonl", "w"))
    for _, ev in ipairs(attack()) do f:write(cjson.encode(ev), "\n") end
    f:close()
    local H = require "fastmatch.hunt"
    local errbuf = {}
    local env = { stderr = { write = function(_, ...) errbuf[#errbuf + 1] = table.concat({ ... }) end } }
    -- a subset of the rules keeps this quick: the Security logon rules
    local rules = HAYABUSA .. "/hayabusa/builtin/Security/LogonLogoff"
    assert.equal(0, H.main({ "--rules", rules, "--utc", "-o", dir .. "/t.csv", dir .. "/sec.jsonl" }, env))
    local csv = {}
    for l in io.lines(dir .. "/t.csv") do csv[#csv + 1] = l end
    local text = table.concat(csv, "\n")
    -- the standard profile: Timestamp,Computer,Channel,EventID,Level,RecordID,RuleTitle,Details,ExtraFieldInfo;
    -- a correlation's record is timed at its last event, its first and last in ExtraFieldInfo
    assert.matches("\n2021%-05%-20 12:01:20%.000 %+00:00,%-,%-,%-,medium,%-,PW Guessing,TargetUserName: admin ¦ [^\n]*Count: 5,"
      .. "FirstTimestamp: 2021%-05%-20 12:00:00%.000 %+00:00 ¦ LastTimestamp: 2021%-05%-20 12:01:20%.000 %+00:00", text)
    assert.matches("\n[^\n]*,fs01%.offsec%.lan,%-,%-,medium,%-,PW Spray,IpAddress: 10%.0%.0%.7 ¦ Computer: fs01%.offsec%.lan ¦ Count: 5,", text)
    -- a rule's own details template (Logon Failure - Wrong Password: "Type: %LogonType% ¦ TgtUser: ...")
    assert.matches("Logon Failure %(Wrong Password%),Type: 3 ¦ TgtUser: admin ¦ SrcComp: KALI ¦ SrcIP: 10%.0%.0%.5", text)
    assert.matches("correlations: %d+ rule%(s%), %d+ hit", table.concat(errbuf))
    assert.equal(0, H.main({ "--rules", rules, "--logsources", "none", "--format", "jsonl", "-o", dir .. "/t.jsonl",
      dir .. "/sec.jsonl" }, env))
    local spray
    for l in io.lines(dir .. "/t.jsonl") do
      local r = cjson.decode(l)
      if r.RuleTitle == "PW Spray" and r.Details.Count then spray = r end
    end
    assert.is_table(spray)
    assert.equal(5, spray.Details.Count)
    assert.equal("10.0.0.7", spray.Details.IpAddress)
    assert.equal("fs01.offsec.lan", spray.Computer)
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)

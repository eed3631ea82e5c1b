-- The event model (csrc/evmodel.c): the one place that says how an event's
-- fields are named, fed by two front ends here, a Lua table
-- (core._event_fields: csrc/evtable.c, eng:match's C path) and JSON text
-- (core._jsonflat: csrc/jsonflat.c, the scan gate's). Each must give exactly
-- what sigma/event.lua's flatten() gives for that event, or decline with a
-- reason (then the engine flattens in Lua); so every table below is checked
-- against flatten(). Then eng:explain: which way an event was matched, and why.
local C = require "spec.compat"
local core = require "fastmatch.core"
local event = require "fastmatch.sigma.event"
local has_cjson, cjson = pcall(require, "cjson")

local SEED = tonumber(os.getenv("FM_SEED") or "") or 20261130
print(("evmodel_spec: random seed %d (set FM_SEED to change)"):format(SEED))

local function diff(a, b)
  for k, v in pairs(a) do
    if b[k] ~= v then return ("%q: model %q, flatten %s"):format(k, v, tostring(b[k])) end
  end
  for k, v in pairs(b) do
    if a[k] == nil then return ("%q: model absent, flatten %s"):format(k, tostring(v)) end
  end
end

-- The model's fields for an event table, checked against flatten(); nil
-- and the reason when it declines.
local function fields(ev)
  local t, why = core._event_fields(ev)
  if t == nil then return nil, why end
  local d = diff(t, event.flatten(ev))
  assert(d == nil, "the table front end and flatten() differ: " .. tostring(d))
  return t
end

-- The same event as JSON text (through lua-cjson), checked the same way.
local function json_fields(ev)
  if not has_cjson then return nil, "no lua-cjson" end
  local line = cjson.encode(ev)
  local t, what, why = core._jsonflat(line)
  if t == nil then return nil, why or what end
  local d = diff(t, event.flatten(cjson.decode(line)))
  assert(d == nil, "the JSON front end and flatten() differ: " .. tostring(d))
  return t
end

-- Both front ends: the same fields (and each flatten()'s).
local function both(ev)
  local t, why = fields(ev)
  if has_cjson then
    local j, jwhy = json_fields(ev)
    assert.same(t, j, "the two front ends differ (" .. tostring(why) .. " / " .. tostring(jwhy) .. ")")
  end
  return t, why
end

describe("the event model", function()
  local SYSMON = {
    Event = {
      ["#attributes"] = { xmlns = "http://schemas.microsoft.com/win/2004/08/events/event" },
      System = {
        Provider = { ["#attributes"] = { Name = "Microsoft-Windows-Sysmon", Guid = "{5770}" } },
        EventID = { ["#attributes"] = { Qualifiers = 0 }, ["#text"] = 1 },
        Channel = "Microsoft-Windows-Sysmon/Operational",
        Execution = { ["#attributes"] = { ProcessID = 2444, ThreadID = 3328 } },
        Security = { ["#attributes"] = { UserID = "S-1-5-18" } },
      },
      EventData = { Image = "C:\\Windows\\System32\\cmd.exe", CommandLine = "cmd /c whoami", ProcessId = 7 },
    },
  }

  it("names an element's attributes Element_Attr and its #text the element", function()
    assert.same({
      Provider_Name = "Microsoft-Windows-Sysmon", Provider_Guid = "{5770}", EventID = "1",
      EventID_Qualifiers = "0", Channel = "Microsoft-Windows-Sysmon/Operational",
      Execution_ProcessID = "2444", Execution_ThreadID = "3328", Security_UserID = "S-1-5-18",
      Image = "C:\\Windows\\System32\\cmd.exe", CommandLine = "cmd /c whoami", ProcessId = "7",
    }, both(SYSMON))
    assert.same({ Outer_Inner = "t", Outer_Inner_a = "b", Outer_Leaf = "l" },
      both({ Event = { System = { Outer = { Inner = { ["#text"] = "t", ["#attributes"] = { a = "b" } }, Leaf = "l" } } } }))
  end)

  it("lets the first section win a name: flat, EventData, UserData, System", function()
    assert.same({ f = "flat", d = "data", u = "user", s = "sys", Computer = "data" }, both({
      f = "flat",
      Event = {
        EventData = { f = "data", d = "data", Computer = "data" },
        UserData = { C = { f = "user", d = "user", u = "user" } },
        System = { f = "sys", d = "sys", u = "sys", s = "sys", Computer = "sys" },
      },
    }))
  end)

  it("within a section, lets the first in pairs() order win a table's name; JSON text declines", function()
    local ev = { Event = { EventData = { ["A B"] = "1", AB = "2" } } }
    local t = fields(ev) -- checked against flatten(), whichever pairs() visits first
    assert.is_not_nil(t.AB)
    if has_cjson then
      assert.same({ nil, "other", "duplicate" }, { core._jsonflat(cjson.encode(ev)) })
    end
  end)

  it("answers a name with spaces without them too, in every section", function()
    assert.same({ ["Threat Name"] = "x", ThreatName = "x", ["E_a b"] = "1", E_ab = "1", ["a b.c d"] = "2",
      ["ab.cd"] = "2", ["U V"] = "3", UV = "3" }, both({
      ["a b"] = { ["c d"] = 2 },
      Event = { EventData = { ["Threat Name"] = "x" }, System = { E = { ["#attributes"] = { ["a b"] = 1 } } },
        UserData = { C = { ["U V"] = 3 } } },
    }))
  end)

  it("writes integers below 2^53 as digits, booleans as text, and declines other numbers", function()
    assert.same({ a = "4624", b = "-5", c = "true" }, both({ a = 4624.0, b = -5, c = true }))
    assert.same({ d = "0" }, fields({ d = -0.0 })) -- Lua writes "0" (JSON's "-0" is declined)
    assert.same({ nil, "number" }, { fields({ a = 0.5 }) })
    assert.same({ nil, "number" }, { fields({ a = 2 ^ 53 }) })
    assert.same({ nil, "number" }, { fields({ Event = { EventData = { a = 1 / 0 } } }) })
    -- where no rule reads: not a reason
    assert.same({ x = "1" }, fields({ x = 1, Event = { RenderingInfo = { a = 0.5 } } }))
  end)

  it("reads an EventData element by its #text, a nested map by its members' names", function()
    assert.same({ Data = "v", x = "1" }, both({ Event = { EventData = {
      Data = { ["#text"] = "v", ["#attributes"] = { Name = "n" }, y = "unread" }, M = { x = 1 } } } }))
    -- what the #text leaves unread is no reason to decline
    assert.same({ D = "v" }, fields({ Event = { EventData = { D = { ["#text"] = "v", l = { 1, 2 }, f = 0.5 } } } }))
  end)

  it("caps composed names at core.event_maxname bytes, as flatten() does", function()
    local cap = core.event_maxname
    assert.equal(512, cap)
    local k = ("k"):rep(cap - 2)
    assert.same({ [k .. ".x"] = "1" }, both({ [k] = { x = 1 } }))     -- cap bytes: taken
    assert.same({ nil, "long name" }, { both({ [k] = { xy = 1 } }) })  -- one more
    local e = ("E"):rep(cap - 2)
    assert.same({ [e .. "_a"] = "1" }, both({ Event = { System = { [e] = { ["#attributes"] = { a = 1 } } } } }))
    assert.same({ nil, "long name" }, { both({ Event = { System = { [e] = { ["#attributes"] = { ab = 1 } } } } }) })
    local long = ("L"):rep(cap + 1)
    assert.same({ nil, "long name" }, { both({ [long] = "v" }) })                   -- a flat event spills it
    assert.same({ [long] = "v" }, both({ [long] = "v", Event = { System = {} } }))  -- beside an Event: not capped
    assert.same({ [long] = "v" }, both({ Event = { EventData = { [long] = "v" } } })) -- data names are not composed
  end)

  it("says why it declines an event", function()
    local loop = {}
    loop.again = loop
    for _, case in ipairs {
      { { a = { 1, 2 } }, "list" },
      { { Event = { EventData = { Data = { { ["#text"] = "x" } } } } }, "list" },
      { { Event = { EventData = setmetatable({ a = "1" }, {}) } }, "metatable" },
      { { a = "1", [5] = "x" }, "key" },
      { { Event = { System = { [2] = "x", y = "z" } } }, "key" },
      { { Event = { System = { [1] = "x", y = "z" } } }, "list" }, -- t[1]: a list
      { { a = 1.5 }, "number" },
      { { [("a"):rep(600)] = { b = 1 } }, "long name" },
      { { a = loop }, "nesting" },
      { { "x" }, "shape" },
    } do
      assert.same({ nil, case[2] }, { core._event_fields(case[1]) })
    end
    for _, case in ipairs {
      { [[{"a":1,"a":2}]], "duplicate key" },
      { [[{"s":"\ud83d\ude00"}]], "surrogate escape" },
      { [[{"Event":{"UserData":{"C1":{"x":"1"},"C2":{"x":"2"}}}}]], "duplicate" },
      { [[{"a":[1]}]], "list" },
      { ('{"a":'):rep(49) .. "1" .. ("}"):rep(49), "nesting" },
    } do
      assert.same({ nil, "other", case[2] }, { core._jsonflat(case[1]) })
    end
  end)

  -- random event tables over colliding names: whatever the table front end
  -- takes is flatten()'s answer (fields() checks it)
  it("gives flatten()'s fields on random event tables (seed printed above)", function()
    local x = SEED % 2147483646 + 1
    local function r(n) x = 16807 * x % 2147483647; return x % n + 1 end
    local NAMES = { "a", "b", "A B", "AB", "a.b", "A_B", "#text", "#attributes", "Name", "Event",
      "EventData", "System", "UserData", "x y", "xy", "" }
    local VALUES = { "v", "w x", "", 0, -5, 4624, true, false, 1.5, 2 ^ 53 } -- the last two declined
    local value
    local function object(depth)
      local o = {}
      for _ = 1, r(5) - 1 do o[NAMES[r(#NAMES)]] = value(depth + 1) end
      return o
    end
    function value(depth)
      local k = r(10)
      if depth < 4 and k <= 4 then return object(depth) end
      if depth < 4 and k == 5 and r(4) == 1 then return { VALUES[r(#VALUES)] } end
      local i = r(#VALUES)
      if i > 8 then i = r(#VALUES) end -- the declined ones less often
      return VALUES[i]
    end
    local taken, declined = 0, 0
    for _ = 1, 3000 do
      local ev = r(3) == 1 and object(0) or {
        Event = { System = object(1), EventData = object(1), UserData = { U = object(2) } },
        [NAMES[r(#NAMES)]] = value(1),
      }
      if fields(ev) then taken = taken + 1 else declined = declined + 1 end
    end
    print(("evmodel_spec: random tables: %d taken (each equal to flatten()), %d declined"):format(taken, declined))
    assert.is_true(taken >= 800, "too few taken: " .. taken)
  end)
end)

local has_deps = pcall(require, "lyaml") and has_cjson
describe("eng:explain", function()
  if not has_deps then
    C.skip("eng:explain needs lyaml and lua-cjson (apt install lua-yaml lua-cjson)")
    return pending("needs lyaml and lua-cjson")
  end
  local sigma = require "fastmatch.sigma"
  local function engine(opts, yaml)
    local eng = assert(sigma.engine(opts or { unmapped = "all" }))
    assert.equal(1, eng:add(yaml))
    return eng
  end
  local RULE = [[
title: cidr and gt
logsource:
  product: test
detection:
  sel:
    IpAddress|cidr: '10.0.0.0/8'
  v6:
    IpAddress|cidr: 'fe80::/10'
  filter:
    Port|gt: 1000
  condition: (sel or v6) and not filter
]]

  it("says the gate took the event, and which rules it left to Lua and why", function()
    local eng = engine(nil, RULE)
    local hits, how = eng:explain({ IpAddress = "10.1.2.3", Port = 80 })
    assert.equal(1, #hits)
    assert.same({ path = "gate", unknown = { { rule = hits[1], why = { "cmp" } } } }, how)
    hits, how = eng:explain({ IpAddress = "fe80::1", Port = 80 })
    assert.equal(1, #hits)
    table.sort(how.unknown[1].why)
    assert.same({ "cidr6", "cmp" }, how.unknown[1].why)
    hits, how = eng:explain({ IpAddress = "192.168.1.1", Port = 80 })
    assert.same({}, hits)
    assert.same({ path = "gate", unknown = {} }, how) -- false in C: nothing left to Lua
  end)

  it("says why the model declined an event, and which way it went then", function()
    local eng = engine(nil, RULE)
    local hits, how = eng:explain({ IpAddress = { "10.1.2.3", "x" }, Port = 80 })
    assert.equal(1, #hits)
    assert.same({ "index", "list" }, { how.path, how.declined })
    hits, how = eng:explain({ IpAddress = "10.1.2.3", Port = 80, Extra = setmetatable({}, {}) })
    assert.equal(1, #hits)
    assert.same({ "fields", "metatable" }, { how.path, how.declined })
    hits, how = eng:explain({ IpAddress = "10.1.2.3", Port = 80.5 })
    assert.equal(1, #hits)
    assert.same({ "fields", "number" }, { how.path, how.declined })
    local naive = engine({ unmapped = "all", wildcards = "regex" }, RULE)
    hits, how = naive:explain({ IpAddress = "10.1.2.3", Port = 80 })
    assert.equal(1, #hits)
    assert.equal("naive", how.path)
  end)

  it("fires as eng:match and eng:naive_match do, whichever way", function()
    local eng = engine(nil, RULE)
    for _, ev in ipairs {
      { IpAddress = "10.1.2.3", Port = 80 }, { IpAddress = "10.1.2.3", Port = 8080 },
      { IpAddress = { "10.1.2.3" }, Port = 80 }, { IpAddress = "fe80::2", Port = 1 },
      { IpAddress = "10.0.0.1", Port = "2000" }, { Event = { EventData = { IpAddress = "10.9.9.9", Port = 5 } } },
    } do
      local a = eng:explain(ev)
      assert.equal(#eng:naive_match(ev), #a)
      assert.equal(#eng:match(ev), #a)
    end
  end)
end)

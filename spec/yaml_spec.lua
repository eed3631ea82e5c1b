-- fastmatch.sigma.yaml: the rules' YAML reader. core._yaml (csrc/yaml.c,
-- libyaml) must give the tables lyaml gives on the same Lua, value for value
-- (integers and floats apart, nulls as each reader's null, shared tables
-- shared): over tricky scalars plain, quoted and tagged, over generated
-- scalars (fixed seed), over anchors, aliases, merges and several documents,
-- over texts that do not parse (both raise), and over every SigmaHQ file.
local core = require "fastmatch.core"
local Y = require "fastmatch.sigma.yaml"
local ok_lyaml, lyaml = pcall(require, "lyaml")

local SEED = tonumber(os.getenv("FM_SEED") or "") or 20261202
local root = os.getenv("PWD")

local function shared_dir()
  for _, d in ipairs { os.getenv("FM_SHARED") or false, root .. "/../shared" } do
    if d then
      local f = io.open(d .. "/data/sigma/sigmahq/thor.yml")
      if f then f:close(); return d .. "/data/sigma/sigmahq/" end
    end
  end
end

local mtype = math.type or function(x) return type(x) == "number" and "float" or nil end

-- a (ours) and b (lyaml's) the same: na and nb are the two nulls
local function same(a, b, na, nb, seen)
  if a == na or b == nb then return a == na and b == nb end
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then
    if mtype(a) ~= mtype(b) then return false end
    return a == b or (a ~= a and b ~= b)
  end
  if type(a) ~= "table" then return a == b end
  seen = seen or {}
  if seen[a] ~= nil then return seen[a] == b end
  seen[a] = b
  local n = 0
  for k, v in pairs(a) do
    n = n + 1
    local kb = k
    if k == na then
      kb = nb
    elseif type(k) == "table" then  -- a complex key: b's one table key
      kb = nil
      for k2 in pairs(b) do if type(k2) == "table" then kb = k2 end end
      if not same(k, kb, na, nb, seen) then return false end
    end
    if not same(v, b[kb], na, nb, seen) then return false end
  end
  for _ in pairs(b) do n = n - 1 end
  return n == 0
end

local function show(v)
  if type(v) == "number" then return ("%s(%s)"):format(mtype(v), tostring(v)) end
  return tostring(v)
end

describe("fastmatch.sigma.yaml", function()
  if not core._yaml then
    it("falls back to lyaml without libyaml", function()
      if not ok_lyaml then return pending("neither libyaml (core._yaml) nor lyaml") end
      assert.equal("lyaml", Y.reader)
      assert.equal(lyaml.null, Y.null)
    end)
    return
  end

  it("is served by core._yaml when the module has libyaml", function()
    assert.equal("libyaml", Y.reader)
    assert.same({ a = 1, b = { "x", "y" } }, Y.load("a: 1\nb: [x, y]\n"))
    assert.same({ { a = 1 }, { b = 2 } }, Y.load("a: 1\n---\nb: 2\n", { all = true }))
    assert.equal(Y.null, Y.load("a: ~\n").a)
  end)

  it("raises line:column: problem on text that does not parse", function()
    local ok, err = pcall(Y.load, "title: [unclosed\n")
    assert.is_false(ok)
    assert.matches("^%d+:%d+: ", err)
    assert.has_error(function() Y.load(5) end, "bad argument #1 to 'load' (string expected, got number)")
  end)

  it("keeps shared nodes shared and reads a self-referencing anchor", function()
    local d = Y.load("a: &x [1, 2]\nb: *x\nc: &m {k: v, self: *m}\n")
    assert.equal(d.a, d.b)
    assert.equal(d.c, d.c.self)
    assert.has_error(function() Y.load("a: *nope\n") end)
  end)

  it("refuses nesting past its depth limit instead of overflowing the C stack", function()
    assert.has_error(function() Y.load(("["):rep(5000)) end)
    assert.has_error(function() Y.load(("- "):rep(400) .. "x\n") end)
  end)

  if not ok_lyaml then
    it("agrees with lyaml", function() pending("lyaml is not installed (apt install lua-yaml)") end)
    return
  end

  local function agree(text, what)
    local ok1, a = pcall(Y.load, text, { all = true })
    local ok2, b = pcall(lyaml.load, text, { all = true })
    if ok1 ~= ok2 then
      error(("%s: %q: ours %s (%s), lyaml %s (%s)"):format(what or "text", text, tostring(ok1),
        show(a), tostring(ok2), show(b)), 2)
    end
    if ok1 and not same(a, b, Y.null, lyaml.null) then
      local x = type(a) == "table" and type(a[1]) == "table" and a[1].v
      local y = type(b) == "table" and type(b[1]) == "table" and b[1].v
      error(("%s: %q: ours %s, lyaml %s"):format(what or "text", text, show(x), show(y)), 2)
    end
  end

  local TRICKY = {
    "", "~", "null", "Null", "NULL", "nULL", "true", "True", "TRUE", "tRUE", "yes", "No", "on", "OFF",
    "y", "n", "0", "00", "007", "08", "0_7", "017_", "-017", "+017", "12", "-12", "+12", "_12", "1_2",
    "1__", "-0", "4688", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "99999999999999999999", "-99999999999999999999", "1.5", "-1.5", "1e5", "1E5", "1_0.5", ".5", "5.",
    "1.2.3", "0x1F", "-0x1f", "0x_1F", "0x1F_", "0xE", "0xffffffffffffffffff", "0x", "0b101", "-0b1_1",
    "0b1", "0b10_", "0b2", "1:30", "-1:30", "1:2:3", "1:99", "1::3", "1:30.5", "-1:30.25", "1:", ":1",
    "99999999999999999999:1", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "nan", "inf", "0o17",
    "1_000_000", "C:\\Windows\\*", "*.exe", "'quoted'", "a: b", "12 34", "0x1p4", "1e", "e5", "-",
    "+", ".", "_", "0.0", "-0.0", "1e400", "-1e400", "0.1e-400",
  }

  it("reads every tricky scalar as lyaml does: plain, quoted, and with each !!tag", function()
    for _, s in ipairs(TRICKY) do
      local q = "'" .. s:gsub("'", "''") .. "'"
      agree("v: " .. q .. "\n", "quoted")
      agree("v: " .. q .. "\nk: *a\n", "quoted, unknown alias")
      if not s:find("^['*]") and not s:find(": ") then agree("v: " .. s .. "\n", "plain") end
      for _, tag in ipairs { "str", "int", "float", "bool", "null", "merge", "binary" } do
        agree("v: !!" .. tag .. " " .. q .. "\n", "tagged " .. tag)
      end
      agree(q .. ": 1\n", "key")
    end
  end)

  it("reads generated scalars as lyaml does (seed " .. SEED .. ")", function()
    local alphabet = "0123456789+-._:xbeE~nulNyYtrOofaInN"
    local rnd = SEED
    local function rand(n) rnd = (rnd * 1103515245 + 12345) % 2147483648; return rnd % n end
    for _ = 1, 4000 do
      local t = {}
      for i = 1, rand(9) + 1 do
        local k = rand(#alphabet) + 1
        t[i] = alphabet:sub(k, k)
      end
      local s = table.concat(t)
      if not s:find("^[-:?]") and not s:find(":$") and not s:find("^%.%.%.") and not s:find("^~.") then
        agree("v: " .. s .. "\n", "generated")
      end
      agree("v: '" .. s .. "'\n", "generated, quoted")
    end
  end)

  it("reads anchors, aliases, merges and several documents as lyaml does", function()
    for _, text in ipairs {
      "a: &x 5\nb: *x\n",
      "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n",
      "d:\n  y: 0\n  <<: {x: 1, y: 2}\n",
      "a: &a {x: 1}\nb: &b {y: 2}\nd:\n  <<: [*a, *b]\n",
      "d:\n  !!merge x: {a: 1}\n",
      "d:\n  '<<': {a: 1}\n",
      "d:\n  <<: 5\n",
      "d:\n  <<: [5]\n",
      "d:\n  <<: [~]\n",
      "a: 1\n---\nb: &x 2\nc: *x\n---\nd: *x\n",
      "--- 5\n--- [1, 2]\n--- ~\n",
      "? [1, 2]\n: x\n",
      "a: 1\na: 2\n",
      "- a\n- - b\n  - {c: d}\n",
      "s: |\n  line 1\n  line 2\nf: >\n  folded\n  text\n",
      "t: !custom 12\nu: !custom '12'\n",
      "title: [unclosed\n",
      "a: b: c\n",
      "\239\187\191a: 1\n",
      "a: 1\n\t- b\n",
      "",
      "# only a comment\n",
      ".nan: 1\n",
    } do agree(text) end
  end)

  it("reads every SigmaHQ file as lyaml does", function()
    local data = shared_dir()
    if not data then return pending("SigmaHQ data not found (set FM_SHARED, or ../shared/data/sigma beside the repo)") end
    local p = io.popen("LC_ALL=C find " .. data .. " -name '*.yml' | LC_ALL=C sort")
    local n = 0
    for f in p:lines() do
      local h = io.open(f)
      local s = h:read("*a")
      h:close()
      agree(s, f)
      n = n + 1
    end
    p:close()
    assert.is_true(n > 3000, "found only " .. n .. " files")
  end)
end)

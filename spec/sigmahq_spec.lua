-- fastmatch.sigmahq: where SigmaHQ's rules are.  A checkout as upstream
-- lays it out at $SIGMA_DIR (rules*/, regression_data/, tests/thor.yml),
-- the workspace's ($FM_SHARED/data/sigma/sigmahq, thor.yml at its top), or
-- ../shared beside a clone; the first place set wins, a wrong one is
-- reported, and without any the message says how to point at the rules.
local S = require "fastmatch.sigmahq"
local C = require "spec.compat"

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function sh(cmd) assert(C.sh(cmd)) end
local function touch(p, text)
  local f = assert(io.open(p, "w"))
  f:write(text or "")
  f:close()
end
local function env(t) return function(name) return t[name] end end

local RULE = [[
title: Linked Whoami
id: 5e1f0000-0000-4000-8000-0000000000aa
level: high
logsource: { category: process_creation, product: windows }
detection:
  selection:
    Image|endswith: '\whoami.exe'
  condition: selection
]]

describe("fastmatch.sigmahq", function()
  local top
  setup(function()
    top = os.tmpname()
    os.remove(top)
    -- upstream: a checkout of SigmaHQ's repository
    sh(("mkdir -p %s/up/rules/windows %s/up/rules-emerging-threats %s/up/regression_data %s/up/tests")
      :format(shq(top), shq(top), shq(top), shq(top)))
    touch(top .. "/up/rules/windows/whoami.yml", RULE)
    touch(top .. "/up/tests/thor.yml", "logsources: {}\n")
    -- ours: the workspace, and a clone beside it
    sh(("mkdir -p %s/ws/shared/data/sigma/sigmahq/rules %s/ws/clone %s/bare/clone"):format(shq(top), shq(top), shq(top)))
    touch(top .. "/ws/shared/data/sigma/sigmahq/thor.yml", "logsources: {}\n")
    -- a checkout made of links (rules/ one, its subdirectory another)
    sh(("mkdir -p %s/linked/rules && ln -s %s/up/rules/windows %s/linked/rules/windows && ln -s %s/up/tests %s/linked/tests")
      :format(shq(top), shq(top), shq(top), shq(top), shq(top)))
    -- rules as a file, not a directory
    sh(("mkdir -p %s/bad && touch %s/bad/rules"):format(shq(top), shq(top)))
  end)
  teardown(function() sh("rm -rf " .. shq(top)) end)

  it("takes $SIGMA_DIR as upstream lays it out", function()
    local t = assert(S.find({ getenv = env { SIGMA_DIR = top .. "/up" } }))
    assert.equal("SIGMA_DIR", t.source)
    assert.equal(top .. "/up", t.dir)
    assert.equal(top .. "/up/rules", t.rules)
    assert.equal(top .. "/up/regression_data", t.regression)
    assert.equal(top .. "/up/tests/thor.yml", t.thor)
  end)

  it("takes the workspace's copy, from $FM_SHARED or beside a clone", function()
    local t = assert(S.find({ getenv = env { FM_SHARED = top .. "/ws/shared" } }))
    assert.equal("FM_SHARED", t.source)
    assert.equal(top .. "/ws/shared/data/sigma/sigmahq/rules", t.rules)
    assert.equal(top .. "/ws/shared/data/sigma/sigmahq/thor.yml", t.thor)
    assert.is_nil(t.regression)
    t = assert(S.find({ getenv = env {}, root = top .. "/ws/clone" }))
    assert.equal("../shared", t.source)
    assert.equal(top .. "/ws/clone/../shared/data/sigma/sigmahq/rules", t.rules)
  end)

  it("lets $SIGMA_DIR win, and reports a wrong one instead of passing it over", function()
    local t = assert(S.find({ getenv = env { SIGMA_DIR = top .. "/up", FM_SHARED = top .. "/ws/shared" },
                              root = top .. "/ws/clone" }))
    assert.equal("SIGMA_DIR", t.source)
    local none, why = S.find({ getenv = env { SIGMA_DIR = top .. "/bad", FM_SHARED = top .. "/ws/shared" },
                               root = top .. "/ws/clone" })
    assert.is_nil(none)
    assert.equal(("SigmaHQ rules not found: SIGMA_DIR=%s/bad: %s/bad has no rules/ directory (want a checkout of %s)")
      :format(top, top, S.URL), why)
    none, why = S.find({ getenv = env { FM_SHARED = top .. "/bare" }, root = top .. "/ws/clone" })
    assert.is_nil(none)
    assert.matches("FM_SHARED=" .. top .. "/bare holds no data/sigma/sigmahq/rules", why, 1, true)
  end)

  it("says how to point at the rules when there are none", function()
    local none, why = S.find({ getenv = env {}, root = top .. "/bare/clone" })
    assert.is_nil(none)
    assert.equal("SigmaHQ rules not found: set SIGMA_DIR to a checkout of https://github.com/SigmaHQ/sigma "
      .. "(git clone --depth 1 https://github.com/SigmaHQ/sigma)", why)
    assert.is_nil((S.find({ getenv = env { SIGMA_DIR = "" } , root = top .. "/bare/clone" })))
  end)

  it("takes a checkout made of symbolic links, and the engine loads its rules through them", function()
    local t = assert(S.find({ getenv = env { SIGMA_DIR = top .. "/linked" } }))
    assert.equal(top .. "/linked/tests/thor.yml", t.thor)
    if not (pcall(require, "lyaml") and pcall(require, "cjson")) then
      return C.skip("lyaml and lua-cjson are needed to load rules")
    end
    local eng = assert(require("fastmatch.sigma").engine())
    local n = eng:load(t.rules)
    assert.equal(1, n)
    assert.equal("Linked Whoami", eng.rules[1].title)
  end)
end)

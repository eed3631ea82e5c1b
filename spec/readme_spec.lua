-- The README and docs/*.md are the user's manual: every ```lua example in
-- them runs, as is, in a fresh interpreter against this tree's build.
local C = require "spec.compat"
local root = os.getenv("PWD")

-- README.md first, then docs/*.md in name order (paths from the root)
local function documents()
  local list = { "README.md" }
  local p = assert(io.popen("ls -1 " .. root .. "/docs 2>/dev/null"))
  local docs = {}
  for name in p:lines() do
    if name:match("%.md$") then docs[#docs + 1] = "docs/" .. name end
  end
  p:close()
  table.sort(docs)
  for _, d in ipairs(docs) do list[#list + 1] = d end
  return list
end

local function blocks(doc)
  local f = assert(io.open(root .. "/" .. doc))
  local text = f:read("*a")
  f:close()
  local list = {}
  for first, block in text:gmatch("()```lua\n(.-)```") do
    local line = select(2, text:sub(1, first):gsub("\n", "")) + 1
    list[#list + 1] = { line = line, code = block }
  end
  return list
end

local function run(doc, b)
  local where = ("%s line %d"):format(doc, b.line)
  if b.code:find("core.register_", 1, true) then
    return C.skip(where .. " runs inside HAProxy (spec/hosts_spec.lua runs it there)")
  end
  if not C.has_close and b.code:find("<close>", 1, true) then
    return C.skip(where .. " uses <close>, Lua 5.4 syntax")
  end
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(b.code)
  f:close()
  local ok, out = C.sh(C.lua .. " " .. path .. " </dev/null")
  os.remove(path)
  assert(ok, where .. ": " .. tostring(out))
end

local docs = documents()

describe("README.md", function()
  it("is the newcomer's page: the two commands, and a link to every docs/ file", function()
    local f = assert(io.open(root .. "/README.md"))
    local text = f:read("*a")
    f:close()
    assert.truthy(text:find("make experiments", 1, true), "README lost `make experiments`")
    assert.truthy(text:find("make test", 1, true), "README lost `make test`")
    for i = 2, #docs do
      assert.truthy(text:find("(" .. docs[i] .. ")", 1, true),
        docs[i] .. " is not linked from the README's Documentation list")
    end
  end)

  it("has runnable Lua examples", function()
    local n = #blocks("README.md")
    assert.is_true(n >= 3, "found " .. n .. " lua blocks")
  end)
end)

for _, doc in ipairs(docs) do
  describe(doc, function()
    for _, b in ipairs(blocks(doc)) do
      it(("example at line %d runs without error"):format(b.line), function() run(doc, b) end)
    end
  end)
end

describe("docs/*.md", function()
  it("hold runnable Lua examples too", function()
    local n = 0
    for i = 2, #docs do n = n + #blocks(docs[i]) end
    assert.is_true(n >= 5, "found " .. n .. " lua blocks in docs/")
  end)
end)

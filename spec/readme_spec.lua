-- The README is the user's manual: every ```lua example in it runs, as is,
-- in a fresh lua5.4 against this tree's build.
local C = require "spec.compat"
local root = os.getenv("PWD")

local function blocks()
  local f = assert(io.open(root .. "/README.md"))
  local text = f:read("*a")
  f:close()
  local list = {}
  for first, block in text:gmatch("()```lua\n(.-)```") do
    local line = select(2, text:sub(1, first):gsub("\n", "")) + 1
    list[#list + 1] = { line = line, code = block }
  end
  return list
end

describe("README.md", function()
  local list = blocks()

  it("has runnable Lua examples", function()
    assert.is_true(#list >= 5, "found " .. #list .. " lua blocks")
  end)

  for _, b in ipairs(list) do
    it(("example at line %d runs without error"):format(b.line), function()
      if b.code:find("core.register_", 1, true) then
        return C.skip(("README line %d runs inside HAProxy (spec/hosts_spec.lua runs it there)"):format(b.line))
      end
      if not C.has_close and b.code:find("<close>", 1, true) then
        return C.skip(("README line %d uses <close>, Lua 5.4 syntax"):format(b.line))
      end
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write(b.code)
      f:close()
      local ok, out = C.sh(C.lua .. " " .. path .. " </dev/null")
      os.remove(path)
      assert(ok, out)
    end)
  end
end)

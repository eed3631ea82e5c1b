-- spec/compat.lua: what the specs need to run on Lua 5.1, 5.2, 5.3, 5.4 and
-- LuaJIT from one source.  On 5.4 every name here is the 5.4 function
-- itself, so no 5.4 assertion gets weaker; where a version cannot have a
-- feature, a spec calls C.skip with the reason, and the reason is printed.
--   local C = require "spec.compat"
local C = {}

C.jit = rawget(_G, "jit") ~= nil
C.num = tonumber(_VERSION:match("%d+%.%d+"))      -- 5.1 for LuaJIT
C.name = C.jit and "LuaJIT" or _VERSION           -- for messages
-- the interpreter children are started with (make test sets FM_LUA)
C.lua = os.getenv("FM_LUA") or "lua5.4"
-- make's name for this Lua (make LUA=...), the module ABI (paths) and
-- the environment variables its interpreter reads the paths from
C.make_lua = C.jit and "luajit" or tostring(C.num)
C.abi = tostring(C.num)
C.pathvar = C.num == 5.1 and "LUA_PATH" or "LUA_PATH_" .. C.abi:gsub("%.", "_")
C.cpathvar = C.num == 5.1 and "LUA_CPATH" or "LUA_CPATH_" .. C.abi:gsub("%.", "_")
C.has_integers = math.type ~= nil                 -- 5.3+: an integer subtype
C.has_close = C.num >= 5.4                        -- <close> and __close
C.has_tablegc = C.num >= 5.2                      -- __gc on tables
C.has_goto = C.num >= 5.2 or C.jit

-- integer extremes: on versions without integers, the largest numbers
-- that are still exact (what positions and counts can be there)
C.maxinteger = math.maxinteger or 2 ^ 53
C.mininteger = math.mininteger or -2 ^ 53

C.unpack = table.unpack or unpack
C.pack = table.pack or function(...) return { n = select("#", ...), ... } end

-- load(string [, name, mode, env]) on every version
function C.load(s, name, mode, env)
  if C.num >= 5.2 then
    -- (an explicit nil env would be the chunk's _ENV)
    if env == nil then return load(s, name, mode) end
    return load(s, name, mode, env)
  end
  local f, err = loadstring(s, name)
  if f and env then setfenv(f, env) end
  return f, err
end

-- math.type as 5.3 has it; on versions without integers every number is
-- a float, but "integral" is what a count or position must be there
function C.mathtype(x)
  if math.type then return math.type(x) end
  return type(x) == "number" and "float" or nil
end

-- an integer as this version has one: 5.3+ the integer subtype; before,
-- a number with an integral value
function C.isinteger(x)
  if math.type then return math.type(x) == "integer" end
  return type(x) == "number" and x == math.floor(x) and x > -math.huge and x < math.huge
end

-- a // b for the specs' sizes and counts (an integer on 5.3+)
function C.idiv(a, b)
  local q = math.floor(a / b)
  if math.tointeger then return math.tointeger(q) or q end
  return q
end

function C.skip(reason)
  print(("SKIP (%s): %s"):format(C.name, reason))
end

-- An object whose finalizer calls fn: a table with __gc on 5.2+, a proxy
-- userdata (newproxy) on 5.1 and LuaJIT, where tables have no __gc.
function C.finalizer(fn)
  if C.has_tablegc then return setmetatable({}, { __gc = fn }) end
  local p = newproxy(true)
  getmetatable(p).__gc = fn
  return p
end

-- Run a shell command: ok (exit status 0), its output (stderr too), and
-- the exit status.  5.1 and LuaJIT's pclose do not report the status, so
-- the command echoes it on a last line of its own.
function C.sh(cmd)
  local p = assert(io.popen("( " .. cmd .. " ) 2>&1; printf '\\n__fm_exit_status=%d' $?"))
  local out = p:read("*a")
  p:close()
  local s, code = out:match("^(.*)\n__fm_exit_status=(%d+)$")
  code = tonumber(code)
  return code == 0, s or out, code
end

-- os.execute: true when the command exited 0, on every version
function C.execute(cmd)
  local a, _, c = os.execute(cmd)
  if type(a) == "number" then return a == 0 end -- 5.1, LuaJIT
  return a == true and (c == nil or c == 0)
end

-- A strict UTF-8 decoder as 5.4's utf8 library has it (5.3's accepts
-- surrogates and codes above 10FFFF; 5.1, 5.2 and LuaJIT have none):
-- utf8.len(s) -> n or nil, pos; utf8.codepoint(s, i) -> code of the
-- character at i (raises on an invalid one); utf8.char(c).
local U = {}
local function decode(s, i)
  local c = s:byte(i)
  if c == nil then return nil end
  if c < 0x80 then return c, 1 end
  local n, min, cp
  if c >= 0xC2 and c <= 0xDF then n, min, cp = 1, 0x80, c - 0xC0
  elseif c >= 0xE0 and c <= 0xEF then n, min, cp = 2, 0x800, c - 0xE0
  elseif c >= 0xF0 and c <= 0xF4 then n, min, cp = 3, 0x10000, c - 0xF0
  else return nil end
  for k = 1, n do
    local b = s:byte(i + k)
    if b == nil or b < 0x80 or b > 0xBF then return nil end
    cp = cp * 64 + (b - 0x80)
  end
  if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then return nil end
  return cp, n + 1
end
function U.len(s)
  local i, n = 1, 0
  while i <= #s do
    local cp, k = decode(s, i)
    if not cp then return nil, i end
    i, n = i + k, n + 1
  end
  return n
end
function U.codepoint(s, i)
  i = i or 1
  if i < 0 then i = #s + i + 1 end
  local cp = decode(s, i)
  if not cp then error("invalid UTF-8 code", 2) end
  return cp
end
function U.char(...)
  local out = {}
  for k = 1, select("#", ...) do
    local c = select(k, ...)
    if c < 0x80 then out[k] = string.char(c)
    elseif c < 0x800 then
      out[k] = string.char(0xC0 + math.floor(c / 64), 0x80 + c % 64)
    elseif c < 0x10000 then
      out[k] = string.char(0xE0 + math.floor(c / 4096), 0x80 + math.floor(c / 64) % 64, 0x80 + c % 64)
    else
      out[k] = string.char(0xF0 + math.floor(c / 262144), 0x80 + math.floor(c / 4096) % 64,
        0x80 + math.floor(c / 64) % 64, 0x80 + c % 64)
    end
  end
  return table.concat(out)
end
U.charpattern = "[\0-\127\194-\253][\128-\191]*"
C.utf8 = (C.num >= 5.4 and utf8) or U

return C

-- fastmatch: fast matching and IO for Lua 5.4 (and 5.1-5.3, LuaJIT).
-- The C core's functions are re-exported as they are (no Lua wrapper per
-- call); pure-Lua helpers are added here only where C would gain nothing.
-- Under LuaJIT, fastmatch.ffi replaces fm.find/match/test (string patterns)
-- and set:test with FFI calls, which a compiled trace makes without leaving.
local core = require "fastmatch.core"

local M = {}
for k, v in pairs(core) do
  M[k] = v
end

if rawget(_G, "jit") then
  local ok, F = pcall(require, "fastmatch.ffi")
  if ok then F.install(M, core) end
end

return M

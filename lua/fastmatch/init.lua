-- fastmatch: fast matching and IO for Lua 5.4 (and 5.1-5.3, LuaJIT).
-- The C core's functions are re-exported as they are (no Lua wrapper per
-- call); pure-Lua helpers are added here only where C would gain nothing.
-- Under LuaJIT, fastmatch.ffi replaces fm.find/match/test (string patterns)
-- and set:test with FFI calls, which a compiled trace makes without leaving.
local core = require "fastmatch.core"

-- Every public name of the core; the private entry points (a name starting
-- with "_": the faces' and the specs' hooks, such as core._rex for
-- fastmatch.rex or core._sigma_gate for fastmatch.sigma) stay on
-- fastmatch.core, where the faces take them.
local M = {}
for k, v in pairs(core) do
  if type(k) ~= "string" or k:sub(1, 1) ~= "_" then M[k] = v end
end

if rawget(_G, "jit") then
  local ok, F = pcall(require, "fastmatch.ffi")
  if ok then F.install(M, core) end
end

return M

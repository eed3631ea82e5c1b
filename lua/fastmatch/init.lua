-- fastmatch: fast matching and IO for Lua 5.4.
-- The C core's functions are re-exported as they are (no Lua wrapper per
-- call); pure-Lua helpers are added here only where C would gain nothing.
local core = require "fastmatch.core"

local M = {}
for k, v in pairs(core) do
  M[k] = v
end

return M

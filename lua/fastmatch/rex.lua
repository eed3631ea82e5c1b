-- fastmatch.rex: a drop-in for lrexlib 2.9's rex_pcre2, on fastmatch's
-- JIT-compiled, cached PCRE2 objects.  Every function is the C function
-- itself (no Lua wrapper per call):
--   package.preload.rex_pcre2 = function() return require "fastmatch.rex" end
local core = require "fastmatch.core"

local M = {}
for k, v in pairs(core._rex) do
  M[k] = v
end

return M

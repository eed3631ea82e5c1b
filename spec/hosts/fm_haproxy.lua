-- HAProxy (Lua 5.3): lua-load runs this once at startup; the set, regex and
-- wildcard are compiled here and shared by every request.
-- @ROOT@ is the fastmatch clone (the module built with make LUA=5.3).
package.path = "@ROOT@/lua/?.lua;@ROOT@/lua/?/init.lua;" .. package.path
package.cpath = "@ROOT@/build/5.3/?.so;" .. package.cpath
local fm = require "fastmatch"

local names = { "encoded powershell", "mimikatz", "passwd read" }
local rules = fm.set({ "*powershell*-enc*", "*sekurlsa::*", "*/etc/passwd*" })
local api = fm.compile([[^/api/v(\d+)/]])
local static = fm.wildcard("*.css")          -- Sigma wildcard: caseless

-- converter: req.hdr(x-line),lua.fm_rule -> the first rule's name or "none"
core.register_converters("fm_rule", function(s)
  local i = rules:first(s or "")
  return i and names[i] or "none"
end)

-- fetch: lua.fm_path -> "api-v<N>", "static" or "other"
core.register_fetches("fm_path", function(txn)
  local path = txn.sf:path() or ""
  local v = api:match(path)
  if v then return "api-v" .. v end
  if static:test(path) then return "static" end
  return "other"
end)

core.register_fetches("fm_info", function()
  return ("fastmatch %s on %s"):format(fm.version, _VERSION)
end)

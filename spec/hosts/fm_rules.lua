-- nginx: the rules, compiled once per worker.  require caches this module in
-- the worker's Lua VM, so every request reuses the set and the regex.
local fm = require "fastmatch"

local M = {}
M.names = { "encoded powershell", "mimikatz", "passwd read", "sql injection" }
M.rules = fm.set({ "*powershell*-enc*", "*sekurlsa::*", "*/etc/passwd*", "*union*select*" })
-- client, method and path of a combined-log line
M.request = fm.compile([=[^(\S+) \S+ \S+ \[[^\]]+\] "(\w+) ([^ "]+)]=])
return M

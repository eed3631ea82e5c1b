-- Run from a clone without `make`: put the tree's build and Lua files first
-- on the paths, unless the environment already says where they are (make
-- sets LUA_PATH_5_4 / LUA_CPATH_5_4, or this Lua's own: LUA_CPATH_5_3,
-- LUA_CPATH on 5.1 and LuaJIT).  Child interpreters get the same paths
-- from B.child (or by passing package.path / package.cpath in their
-- environment).  Every example starts with
--   dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua")
local v = _VERSION:match("%d+%.%d+")
if not os.getenv(v == "5.1" and "LUA_CPATH" or "LUA_CPATH_" .. v:gsub("%.", "_")) then
  local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  local root = dir .. "/.."
  -- 5.4's build is ./fastmatch/core.so, the others' build/<lua>/ (make LUA=...)
  local sodir = v == "5.4" and root or root .. "/build/" .. (rawget(_G, "jit") and "luajit" or v)
  package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
  package.cpath = sodir .. "/?.so;" .. package.cpath
end

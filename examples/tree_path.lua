-- Run from a clone without `make`: put the tree's build and Lua files first
-- on the paths, unless the environment already says where they are (make
-- sets LUA_PATH_5_4 / LUA_CPATH_5_4).  Child interpreters get the same
-- paths from B.child (or by passing package.path / package.cpath in their
-- environment).  Every example starts with
--   dofile((arg and arg[0] or ""):match("^(.-)[^/]*$") .. "tree_path.lua")
if not os.getenv("LUA_CPATH_5_4") then
  local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  local root = dir .. "/.."
  package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
  package.cpath = root .. "/?.so;" .. package.cpath
end

-- spec/clone.lua: this tree as a user's clone of it holds it, somewhere
-- else: the files git tracks (and new files it does not ignore), copied
-- into a fresh directory of mode 0700 (mktemp -d, as /root is), for the
-- specs that build, install or run the tree from outside the workspace
-- (no ../shared beside it).
--   local K = require "spec.clone"
--   local c, why = K.make({ builds = { "5.4", "luajit" } })
--   -- c.dir: the clone; c.parent: its 0700 directory; nil, why when this
--   -- tree is not a git checkout
--   K.remove(c)
-- builds: the modules already built here for those Luas (make LUA=...) are
-- copied with their objects and times, so that make finds them up to date
-- instead of compiling again: what a spec checks is the layout and the
-- permissions, not the compiler.
local C = require "spec.compat"

local K = {}
K.root = os.getenv("FM_ROOT") or os.getenv("PWD")

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
K.shq = shq

-- The environment of a user's shell: none of the paths make test sets (so
-- a child finds only what it was pointed at), and no make of ours above.
K.CLEAN = "env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_2 -u LUA_CPATH_5_2 -u LUA_PATH_5_3 "
  .. "-u LUA_CPATH_5_3 -u LUA_PATH_5_4 -u LUA_CPATH_5_4 -u FM_SODIR -u FM_SUITE -u FM_LUA "
  .. "-u FM_ROOT -u FM_MIMALLOC -u SIGMA_DIR -u FM_SHARED MAKEFLAGS= MAKELEVEL= MFLAGS="

-- where make keeps a Lua's default build (the 5.4 one is ./fastmatch/core.so)
local function build_paths(lua)
  if lua == "5.4" then return { "fastmatch", "build/default" } end
  return { "build/" .. lua }
end

function K.make(opts)
  opts = opts or {}
  if not C.sh("git -C " .. shq(K.root) .. " rev-parse --git-dir >/dev/null 2>&1") then
    return nil, "the tree is not a git checkout (" .. K.root .. "): no clone to make"
  end
  local ok, parent = C.sh("mktemp -d")
  if not ok then return nil, "mktemp -d failed: " .. parent end
  parent = parent:gsub("%s+$", "")
  local c = { parent = parent, dir = parent .. "/fastmatch", made = true }
  local cmd = ("cd %s && mkdir -p %s && git ls-files -z --cached --others --exclude-standard "
    .. "| tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C %s"):format(shq(K.root), shq(c.dir), shq(c.dir))
  local copied, out = C.sh(cmd)
  if not copied then K.remove(c); return nil, "copying the tree failed: " .. out end
  local have = {}
  for _, lua in ipairs(opts.builds or {}) do
    for _, p in ipairs(build_paths(lua)) do
      local f = io.open(K.root .. "/" .. p .. "/.")
      if f then f:close(); have[#have + 1] = shq(p) end
    end
  end
  if #have > 0 then
    local built, bout = C.sh(("cd %s && tar -cf - %s | tar -xf - -C %s"):format(shq(K.root), table.concat(have, " "), shq(c.dir)))
    if not built then K.remove(c); return nil, "copying the builds failed: " .. bout end
  end
  return c
end

-- remove a clone K.make made (its mktemp -d directory, nothing else)
function K.remove(c)
  if c and c.made and c.parent then C.sh("rm -rf " .. shq(c.parent)) end
end

return K

-- The tree as a user clones it: nothing in it names a directory of the
-- machine it was written on.  Data beside the clone is found through
-- $FM_SHARED or ../shared (the workspace's) and SigmaHQ's rules through
-- $SIGMA_DIR (fastmatch.sigmahq); an absolute path of ours would work here
-- and nowhere else.
local C = require "spec.compat"
local root = os.getenv("PWD")

-- The workspace's top and home directories, as absolute paths (written in
-- two pieces, so that this file does not name them itself).
local MACHINE = { "/" .. "work/", "/" .. "home/" }

describe("the tree", function()
  it("names no absolute path of the machine it was written on", function()
    if not C.sh("git -C '" .. root .. "' rev-parse --git-dir >/dev/null 2>&1") then
      return C.skip("not a git checkout: no list of the tree's files")
    end
    -- every file git tracks (and new ones it does not ignore); a path
    -- preceded by a word, a dot or a slash is part of something else (a URL)
    local pat = "(^|[^[:alnum:]_.~/-])(" .. table.concat(MACHINE, "|") .. ")"
    local ok, out = C.sh(("cd '%s' && git ls-files -z --cached --others --exclude-standard "
      .. "| xargs -0 grep -InE '%s' -- 2>/dev/null"):format(root, pat))
    local _, n = C.sh(("cd '%s' && git ls-files --cached --others --exclude-standard | wc -l"):format(root))
    assert.is_true(tonumber(n) > 50, "git listed " .. tostring(n) .. " files")
    -- grep exits 1 when nothing matched
    assert.is_false(ok, "absolute machine paths in the tree:\n" .. out)
    assert.equal("", out)
  end)

  it("finds the grep it relies on working (a planted path is found)", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("local d = \"" .. MACHINE[1] .. "shared\"\n")
    f:close()
    local pat = "(^|[^[:alnum:]_.~/-])(" .. table.concat(MACHINE, "|") .. ")"
    local ok, out = C.sh(("grep -InE '%s' -- '%s'"):format(pat, path))
    os.remove(path)
    assert.is_true(ok, out)
  end)

  -- make test ends with which Luas it ran and which it skipped, and why
  -- (make -n: the runs are only printed, the summary's shell still runs)
  it("make test ends with a summary: the Luas run, and each one skipped with the reason", function()
    local ok, out = C.sh(("cd '%s' && MAKEFLAGS= MAKELEVEL= make -n --no-print-directory test OTHER_LUAS='5.1 5.9'")
      :format(root))
    assert(ok, out:sub(-2000))
    assert.matches("   ran: Lua 5.4 (default build): passed", out, 1, true)
    assert.matches("   ran: Lua 5.4 (MIMALLOC=0 build): passed", out, 1, true)
    assert.matches("   skipped: Lua 5.9: no lua5.9 command, no /usr/include/lua5.9/lua.h; make deps installs lua5.9 liblua5.9-dev", out, 1, true)
    local have51 = C.sh("command -v lua5.1 >/dev/null && test -f /usr/include/lua5.1/lua.h")
    assert.matches("== Luas run: 5.4 (x3)" .. (have51 and ", 5.1" or "") .. "; skipped: "
      .. (have51 and "" or "5.1 (") , out, 1, true)
    assert.matches("5.9 (no lua5.9 command", out, 1, true)
  end)
end)

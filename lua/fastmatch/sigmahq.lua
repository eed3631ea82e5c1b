-- fastmatch.sigmahq: where SigmaHQ's rules are on this machine.
--   local S = require "fastmatch.sigmahq"
--   local t, why = S.find({ root = clone_dir })
--   t.rules       the core rules (<checkout>/rules): what fastmatch-hunt
--                 loads by default and the experiments and benchmarks run
--   t.dir         the checkout; t.regression its regression_data/ (or nil);
--                 t.thor its logsource mapping, tests/thor.yml (or nil);
--                 t.source: "SIGMA_DIR", "FM_SHARED" or "../shared"
-- Looked for, in this order, and the first that is set wins (a wrong
-- setting is reported, never passed over for another place):
--   $SIGMA_DIR   a plain checkout of https://github.com/SigmaHQ/sigma, as
--                upstream lays it out: rules*/, regression_data/,
--                tests/thor.yml
--   $FM_SHARED   the project's workspace data: data/sigma/sigmahq/ under
--                it (the same checkout, thor.yml at its top)
--   <root>/../shared/data/sigma/sigmahq   beside a clone (opts.root)
-- Without any, nil and a message saying how to point at the rules.
local S = {}

S.URL = "https://github.com/SigmaHQ/sigma"
S.HOW = "set SIGMA_DIR to a checkout of " .. S.URL .. " (git clone --depth 1 " .. S.URL .. ")"

-- a directory: "d/." opens only when d is one (fopen of a directory works
-- for reading on Linux; of a file's "/." it fails with ENOTDIR)
local function isdir(d)
  local f = io.open(d .. "/.")
  if f then f:close(); return true end
  return false
end
local function isfile(p)
  local f = io.open(p)
  if f then f:close(); return not isdir(p) end
  return false
end

-- S.at(dir [, source]) -> t | nil, why: dir taken as a checkout.
function S.at(dir, source)
  if not isdir(dir .. "/rules") then return nil, dir .. " has no rules/ directory" end
  local t = { dir = dir, source = source, rules = dir .. "/rules" }
  if isdir(dir .. "/regression_data") then t.regression = dir .. "/regression_data" end
  for _, p in ipairs({ dir .. "/tests/thor.yml", dir .. "/thor.yml" }) do
    if isfile(p) then t.thor = p; break end
  end
  return t
end

-- S.find([opts]) -> t | nil, why.  opts.root: a clone's directory (for
-- ../shared beside it); opts.getenv: os.getenv's stand-in (specs).
function S.find(opts)
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local sd = getenv("SIGMA_DIR")
  if sd and sd ~= "" then
    local t, why = S.at(sd, "SIGMA_DIR")
    if not t then return nil, ("SigmaHQ rules not found: SIGMA_DIR=%s: %s (want a checkout of %s)"):format(sd, why, S.URL) end
    return t
  end
  local fs = getenv("FM_SHARED")
  if fs and fs ~= "" then
    for _, d in ipairs({ fs .. "/data/sigma/sigmahq", fs .. "/sigmahq" }) do
      local t = S.at(d, "FM_SHARED")
      if t then return t end
    end
    return nil, ("SigmaHQ rules not found: FM_SHARED=%s holds no data/sigma/sigmahq/rules; or %s"):format(fs, S.HOW)
  end
  if opts.root then
    local t = S.at(opts.root .. "/../shared/data/sigma/sigmahq", "../shared")
    if t then return t end
  end
  return nil, "SigmaHQ rules not found: " .. S.HOW
end

return S

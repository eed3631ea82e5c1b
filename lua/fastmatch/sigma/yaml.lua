-- fastmatch.sigma.yaml: the rules' YAML reader, with lyaml's interface:
--   yaml.load(text [, {all = true}]) -> the first document (all: every one)
--   yaml.null                        -> what a YAML null reads as
-- Served by core._yaml (csrc/yaml.c: libyaml's parser and lyaml's reading of
-- scalars, in C) when the module was built with libyaml; else by lyaml
-- itself. The two give the same tables (spec/yaml_spec.lua); core._yaml is
-- about ten times faster over SigmaHQ (docs/startup.md). yaml.reader says
-- which one serves ("libyaml" or "lyaml").

local core = require "fastmatch.core"

local M = {}

if core._yaml then
  local cload = core._yaml
  -- a sentinel of our own (lyaml's, when it is installed, is a different
  -- table: rules compare with the null of the reader that read them)
  M.null = setmetatable({}, { _type = "LYAML null", __tostring = function() return "yaml.null" end })
  local null = M.null
  function M.load(s, opts)
    if type(s) ~= "string" then
      error(("bad argument #1 to 'load' (string expected, got %s)"):format(type(s)), 2)
    end
    local docs = cload(s, null)
    if opts == true or (type(opts) == "table" and opts.all) then return docs end
    return docs[1]
  end
  M.reader = "libyaml"
else
  local ok, lyaml = pcall(require, "lyaml")
  if not ok then
    return M  -- no load: fastmatch.sigma says what to install
  end
  M.null, M.load, M.reader = lyaml.null, lyaml.load, "lyaml"
end

return M

-- fastmatch.sigma.cache: the compiled engine kept on disk, so that a second
-- start with the same rules skips reading and compiling them.
--
-- eng:load(paths, {cache = true | dir}) comes here (sigma.lua). The key of a
-- cached engine is everything the compiled form depends on: each rule file's
-- name, size and content (a 128-bit hash: the content decides, so a touched
-- file is still served and an edited one never is, however fine or coarse
-- the clock), the engine options (a logsource mapping file by its content),
-- the Lua (_VERSION, LuaJIT's version: the bytes hold its integers), the
-- fastmatch version and the text of the engine's own Lua files. Any change
-- recompiles the whole (one cache file per set of paths and options) and
-- rewrites the file; it is written to a temporary name and renamed over the
-- old one, so concurrent writers and readers see a whole file or none.
--
-- The file: "FMSC1\n", the key (32 hex digits), "\n", the payload's hash,
-- "\n", then the payload: core._pack (csrc/pack.c) of the engine's rules,
-- logsource variants, index and gate program, with the regexes and sets
-- described by their sources and made again on load; closures (rule.cond)
-- are rebuilt from the condition trees. A file whose magic, key or hash does
-- not match is not read: the engine is compiled as without a cache.
--
-- eng.cache tells what happened: { hit = bool, path = file, error = why
-- not written or not read (nil when all went well) }.

local fm = require "fastmatch"
local core = require "fastmatch.core"
local sigma = require "fastmatch.sigma"
local rule_mod = require "fastmatch.sigma.rule"
local modifiers = require "fastmatch.sigma.modifiers"
local yaml = require "fastmatch.sigma.yaml"

local I = sigma._internal
-- tables compared by identity, the same on both sides of the file
local KNOWN = { modifiers.STAR, modifiers.ONE, yaml.null }
-- Fields only compiling a rule reads, left out of the file (a fifth of its
-- tables): a value alternative's parts (the "regex" mode's matchers are
-- made from them: kept there), its literals, an item's weight.
local COMPILE_ONLY = { parts = true, json = true, literal = true, weight = true }
local COMPILE_ONLY_REGEX = { json = true, literal = true, weight = true }
local hash, hash_file = core._hash, core._hash_file
local M = {}

local MAGIC = "FMSC1\n"

-- The default directory: $XDG_CACHE_HOME/fastmatch, else ~/.cache/fastmatch.
function M.default_dir()
  local x = os.getenv("XDG_CACHE_HOME")
  if x and x ~= "" then return x .. "/fastmatch" end
  local home = os.getenv("HOME")
  if home and home ~= "" then return home .. "/.cache/fastmatch" end
  return nil
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  -- one read of the known size: "*a" grows its buffer by doubling, copying
  -- the 10 MB of a cache file over and over
  local size = f:seek("end")
  f:seek("set")
  local s = size and size > 0 and f:read(size) or f:read("*a")
  f:close()
  return s
end

-- A value as text, tables with their keys sorted: the options in the key.
local function canon(v, out, depth)
  local t = type(v)
  if t == "table" then
    if depth > 20 then out[#out + 1] = "<deep>"; return end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      if type(a) ~= type(b) then return type(a) < type(b) end
      if type(a) == "number" or type(a) == "string" then return a < b end
      return tostring(a) < tostring(b)
    end)
    out[#out + 1] = "{"
    for _, k in ipairs(keys) do
      canon(k, out, depth + 1); out[#out + 1] = "="; canon(v[k], out, depth + 1); out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  elseif t == "string" then
    out[#out + 1] = ("%q"):format(v)
  elseif t == "number" then
    out[#out + 1] = (math.type and math.type(v) or "n") .. ("%.17g"):format(v)
  else
    out[#out + 1] = t .. ":" .. tostring(t == "boolean" and v or "")
  end
end

-- package.searchpath, which 5.1 and LuaJIT lack
local function searchpath(name)
  if package.searchpath then return package.searchpath(name, package.path) end
  local rel = name:gsub("%.", "/")
  for t in package.path:gmatch("[^;]+") do
    local f = t:gsub("%?", rel)
    local h = io.open(f)
    if h then h:close(); return f end
  end
end

-- The text of the engine's Lua files (sigma.lua and sigma/*.lua), hashed
-- once per process: a changed compiler never reads an old cache.
local code_digest
local function code()
  if code_digest then return code_digest end
  local parts = { tostring(core.version) }
  local main = searchpath("fastmatch.sigma")
  if main then
    parts[#parts + 1] = hash(read(main) or "")
    local dir = main:gsub("%.lua$", "")
    local p = io.popen("LC_ALL=C ls -1 '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null | LC_ALL=C sort")
    for name in p:lines() do
      if name:match("%.lua$") then parts[#parts + 1] = name .. "=" .. hash(read(dir .. "/" .. name) or "") end
    end
    p:close()
  end
  code_digest = hash(table.concat(parts, "\n"))
  return code_digest
end

local function lua_id()
  local j = rawget(_G, "jit")
  return _VERSION .. (j and (" " .. tostring(j.version)) or "") .. (math.type and " int" or "")
end

-- The options' part of the key (a mapping file by its content).
local function options_key(eng)
  local o = {}
  for k, v in pairs(eng.opts) do o[k] = v end
  if type(o.logsources) == "string" then o.logsources = "file:" .. hash(read(o.logsources) or "") end
  local out = {}
  canon(o, out, 0)
  return table.concat(out)
end

-- ---------------------------------------------------------------- saving
-- What a userdata is made from (nil: not kept; a wildcard made lazily).
local function descriptions(eng)
  local d = {}
  for _, rule in ipairs(eng.rules) do
    for _, item in ipairs(rule.items or {}) do
      for _, g in ipairs(item.groups) do
        for _, alt in ipairs(g.alts) do
          if alt.kind == "re" and alt.regex then d[alt.regex] = { "re", alt.source, alt.flags } end
        end
      end
    end
  end
  for _, v in ipairs(eng.variant_list) do
    local function sets(e)
      if e.ci then d[e.ci] = { "set", e.ci.patterns, false } end
      if e.cs then d[e.cs] = { "set", e.cs.patterns, true } end
    end
    for _, e in pairs(v.fields or {}) do sets(e) end
    if v.kw then sets(v.kw) end
  end
  return d
end

-- A rule's body: what only evaluating it in Lua (a rule the gate leaves
-- undecided, an event the gate declines, hunt's details of a hit) or
-- rebuilding the index reads. Each is packed apart and unpacked on first use
-- (see lazy below): most of the file's tables, few of them ever needed.
local BODY = { items = true, nodes = true, tree = true, reqs = true }
local OMIT_FAST, OMIT_REGEX = {}, {}
for k in pairs(COMPILE_ONLY) do OMIT_FAST[k] = true end
for k in pairs(COMPILE_ONLY_REGEX) do OMIT_REGEX[k] = true end
for k in pairs(BODY) do OMIT_FAST[k], OMIT_REGEX[k] = true, true end

local function snapshot(eng, n, skipped, spec, describe)
  local bodies, omit = {}, eng.regex and COMPILE_ONLY_REGEX or COMPILE_ONLY
  for i, r in ipairs(eng.rules) do
    bodies[i] = core._pack({ items = r.items, nodes = r.nodes, tree = r.tree, reqs = r.reqs }, describe,
      { KNOWN[1], KNOWN[2], KNOWN[3], r }, omit)
  end
  return {
    rules = eng.rules, skipped = eng.skipped, variants = eng.variants, variant_list = eng.variant_list,
    unmapped = eng.unmapped, unmapped_rules = eng.unmapped_rules, dispatch = eng.dispatch,
    gate_spec = spec, n = n, load_skipped = skipped, bodies = bodies,
  }
end

local function write(path, key, payload)
  local dir = path:match("^(.*)/[^/]*$") or "."
  -- a name no other writer picks: math.random is unseeded on 5.1 (every
  -- process the same), so the clocks and this process's addresses decide
  local salt = hash(table.concat({ tostring({}), tostring(write), ("%.9f"):format(fm.now()),
    tostring(os.clock()), tostring(os.time()) }, " "))
  local tmp = ("%s/.%s.%s.tmp"):format(dir, path:match("[^/]*$"), salt:sub(1, 16))
  local f = io.open(tmp, "wb")
  if not f then
    os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
    f = io.open(tmp, "wb")
  end
  if not f then return nil, "cannot write in " .. dir end
  local ok, err = f:write(MAGIC, key, "\n", hash(payload), "\n", payload)
  local ok2, err2 = f:close()
  if not ok or not ok2 then os.remove(tmp); return nil, tostring(err or err2) end
  local okr, errr = os.rename(tmp, path)
  if not okr then os.remove(tmp); return nil, errr end
  return true
end

-- ---------------------------------------------------------------- loading
local function revive_object(d)
  if type(d) ~= "table" then error("cache: bad object description") end
  if d[1] == "re" then return fm.compile(d[2], d[3]) end
  if d[1] == "set" then return fm.set(d[2], { cased = d[3] }) end
  error("cache: unknown object " .. tostring(d[1]))
end

-- Rules restored without their body: the first read of a body field (or of
-- cond) unpacks it into the rule, rebuilds rule.cond, and drops the
-- metatable; the rule is then as compiled.
local body_of = setmetatable({}, { __mode = "k" })
local LAZY = {}
function LAZY.__index(r, k)
  if not (BODY[k] or k == "cond") then return nil end
  local b = body_of[r]
  if not b then return nil end
  body_of[r] = nil
  setmetatable(r, nil)
  local body = core._unpack(b, 1, revive_object, { KNOWN[1], KNOWN[2], KNOWN[3], r })
  for f, v in pairs(body) do rawset(r, f, v) end
  rule_mod.revive(r)
  return rawget(r, k)
end

-- The engine from a cache file's text, or nil, why not.
local function restore(eng, s, key)
  if #s < 72 or s:sub(1, #MAGIC) ~= MAGIC then return nil, "not a cache file" end
  -- (the collector stays off while the engine is rebuilt: it would walk the
  -- growing graph again and again, a third of the time)
  local at = #MAGIC + 1
  if s:sub(at, at + 32) ~= key .. "\n" then return nil, "stale" end
  local sum = s:sub(at + 33, at + 64)
  if s:sub(at + 65, at + 65) ~= "\n" or hash(s, at + 66) ~= sum then return nil, "corrupt (hash)" end
  local okr, was = pcall(collectgarbage, "isrunning")  -- (5.1: no such option)
  collectgarbage("stop")
  local ok, snap = pcall(core._unpack, s, at + 66, revive_object, KNOWN)
  if ok and (type(snap) ~= "table" or type(snap.rules) ~= "table" or type(snap.variant_list) ~= "table"
      or type(snap.bodies) ~= "table") then
    ok, snap = false, "not an engine"
  end
  if not ok then
    if not okr or was then collectgarbage("restart") end
    return nil, "corrupt: " .. tostring(snap)
  end
  local gate
  ok, gate = pcall(function()
    local bodies = snap.bodies
    for i, rule in ipairs(snap.rules) do
      body_of[rule] = bodies[i]
      setmetatable(rule, LAZY)
    end
    for _, v in ipairs(snap.variant_list) do
      local function methods(e)
        if e.ci then e.ci_test, e.ci_all = e.ci.test, e.ci.all end
        if e.cs then e.cs_test, e.cs_all = e.cs.test, e.cs.all end
      end
      for _, e in pairs(v.fields or {}) do methods(e) end
      if v.kw then methods(v.kw) end
    end
    return snap.gate_spec and core._sigma_gate(snap.gate_spec) or nil
  end)
  if not okr or was then collectgarbage("restart") end
  if not ok then return nil, "corrupt: " .. tostring(gate) end
  eng.rules, eng.skipped, eng.variants, eng.variant_list = snap.rules, snap.skipped, snap.variants, snap.variant_list
  eng.unmapped, eng.unmapped_rules, eng.dispatch = snap.unmapped, snap.unmapped_rules, snap.dispatch
  eng.vcache, eng.vcount, eng.prefilter_set, eng.prefilter_lits = {}, 0, nil, nil
  eng.gate_obj, eng.scratch, eng.dirty = gate, nil, false
  return snap.n, snap.load_skipped
end

-- eng:load's path with a cache: files (in load order), dir (true: the default).
function M.load(eng, files, dir)
  if dir == true then dir = M.default_dir() end
  if not dir or #eng.rules > 0 or #eng.skipped > 0 then
    eng.cache = { hit = false, error = not dir and "no cache directory ($XDG_CACHE_HOME, $HOME)"
      or "the engine already has rules: the cache serves a fresh engine" }
    return I.add_files(eng, files)
  end
  -- the key: every file's name, size and content, the options, the code
  local parts = { MAGIC, lua_id(), code(), options_key(eng) }
  local readable = true
  for _, f in ipairs(files) do
    local h, size = hash_file(f)  -- (in C: no Lua string of each rule)
    if not h then readable = false end
    parts[#parts + 1] = f .. "\0" .. (h and (size .. "\0" .. h) or "unreadable")
  end
  local key = hash(table.concat(parts, "\n"))
  local name = hash(table.concat({ lua_id(), options_key(eng), table.concat(files, "\0") }, "\n"))
  local path = dir .. "/sigma-" .. name:sub(1, 20) .. ".fmc"
  local s = readable and read(path)
  local why = "no cache file"
  if s then
    local n, skipped = restore(eng, s, key)
    s = nil
    if n then
      eng.cache = { hit = true, path = path }
      return n, skipped
    end
    why = skipped
    -- a failed restore left the engine as it was: compile below
  end
  local n, skipped = I.add_files(eng, files)
  if not readable then
    eng.cache = { hit = false, path = path, error = "a rule file could not be read: not cached" }
    return n, skipped
  end
  -- Correlations and filters (sigma/meta.lua) hold compiled checks and
  -- references across rules that the snapshot does not restore: such a rule
  -- set is compiled each time, never served half (its correlations lost).
  if (eng.correlations and #eng.correlations > 0) or (eng.filters and #eng.filters > 0) then
    eng.cache = { hit = false, path = path, missed = why,
      error = "not cached: the rules hold correlations or filters (compiled each time)" }
    return n, skipped
  end
  -- the index and the gate program now, as the first event would, and saved
  I.build(eng)
  local spec = not eng.regex and I.gate_spec(eng) or nil
  if spec then eng.gate_obj = core._sigma_gate(spec) end
  local d = descriptions(eng)
  local function describe(x) return d[x] end
  local ok, payload = pcall(function()
    return core._pack(snapshot(eng, n, skipped, spec, describe), describe, KNOWN, eng.regex and OMIT_REGEX or OMIT_FAST)
  end)
  spec, d = nil, nil
  local err
  if ok then
    ok, err = write(path, key, payload)
  else
    err = payload
  end
  eng.cache = { hit = false, path = path, error = not ok and ("not written: " .. tostring(err)) or nil,
    missed = why }
  return n, skipped
end

return M

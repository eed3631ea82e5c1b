-- fastmatch.ffi: under LuaJIT, fm.find, fm.match and fm.test with a string
-- pattern, and set:test, call the C entry points of csrc/ffi.c through
-- LuaJIT's FFI (as lua-resty-core does for ngx.re): a JIT-compiled loop then
-- calls straight into C, where a classic Lua C API call leaves the trace.
--
-- Semantics are the C API path's, because that path does everything but the
-- plain case: the first call of a pattern goes through the C function (which
-- compiles and caches it, counting a miss), then the cached object is
-- remembered here, in a weak table keyed by (options, pattern), and later
-- calls run its match through fm_ffi_exec, which counts a hit and touches
-- the LRU list exactly as a cached C call does.  Anything else -- a subject
-- or pattern that is not a string, an init that is not an integral number
-- or lies past the end, options that are not a string, a 'u' pattern (UTF-8
-- checks), an object the cache has evicted, an engine error (the C path
-- raises it) -- is passed, with the caller's very arguments, to the C
-- function, as a tail call (so LuaJIT names it as the caller called it in
-- error messages).
--
-- init.lua installs it when `jit` and `ffi` exist and the loaded core.so
-- exports the entry points; FM_NO_FFI=1 in the environment keeps the C API
-- path (for comparisons).  The table returned says whether it is active and
-- why not, and keeps the C functions (spec/ffi_spec.lua compares the two).
local M = { active = false, reason = "not LuaJIT (init.lua installs it under LuaJIT only)", c = {} }

local OVN = 32 -- offset pairs the FFI path returns: patterns with up to 31 groups
local UNSET = 2 ^ 53 -- an offset above this is PCRE2_UNSET (SIZE_MAX)
local FALLBACK = -100 -- FM_FFI_FALLBACK in csrc/ffi.c

local CDEF = [[
int fm_ffi_exec(void *ud, const char *s, size_t n, size_t off, size_t *ov, int ovn);
int fm_ffi_oexec(void *ud, const char *s, size_t n, size_t off, size_t *ov, int ovn);
int fm_ffi_mtest(void *ud, const char *s, size_t n);
const void *fm_ffi_id(void);
]]

function M.install(fm, core)
  if M.active then return true end
  if not rawget(_G, "jit") then M.reason = "not LuaJIT"; return false, M.reason end
  if os.getenv("FM_NO_FFI") then M.reason = "FM_NO_FFI is set"; return false, M.reason end
  local ok, ffi = pcall(require, "ffi")
  if not ok then M.reason = "no ffi module"; return false, M.reason end
  if not core._ffi_path then M.reason = "core.so has no FFI entry points"; return false, M.reason end
  local path = core._ffi_path()
  if not path then M.reason = "dladdr cannot name core.so"; return false, M.reason end
  local err
  ok, err = pcall(ffi.cdef, CDEF)
  if not ok and not tostring(err):find("redefine", 1, true) then
    M.reason = "ffi.cdef: " .. tostring(err); return false, M.reason
  end
  local lib
  ok, lib = pcall(ffi.load, path)
  if not ok then M.reason = "ffi.load: " .. tostring(lib); return false, M.reason end
  -- the same copy of the code as the one Lua loaded (one set of globals)
  if ffi.cast("const void *", lib.fm_ffi_id()) ~= ffi.cast("const void *", core._ffi_id) then
    M.reason = "ffi.load found another copy of core.so"; return false, M.reason
  end

  local type, tonumber, floor, sub = type, tonumber, math.floor, string.sub
  local setmetatable, getmetatable = setmetatable, getmetatable
  local exec, mtest, cached = lib.fm_ffi_exec, lib.fm_ffi_mtest, core._ffi_cached
  local ov = ffi.new("size_t[?]", 2 * OVN)
  -- the C functions keep their API names: an error raised in them names
  -- 'find', 'match' or 'test' whichever way they are called from here
  local find, match, test = core.find, core.match, core.test
  M.c.find, M.c.match, M.c.test = find, match, test

  local WEAK = { __mode = "v" }
  local plain = setmetatable({}, WEAK) -- pattern -> object (no options)
  local by_opts = {}                    -- options -> {pattern -> object}

  -- Patterns the cache holds that this path cannot serve ('u', too many
  -- groups): remembered as such (a bounded strong table), so that their
  -- calls go straight to C.
  local never, nnever = {}, 0

  -- the object for (p, opts): remembered, or asked of the cache (which
  -- holds it after the C function's first call of the pattern), or nil
  local function get(p, opts)
    local t = plain
    if opts ~= nil then t = by_opts[opts] end
    local r
    if t ~= nil then
      r = t[p]
      if r ~= nil then return r end
    end
    if type(p) ~= "string" or (opts ~= nil and type(opts) ~= "string") then return nil end
    local nt = never[opts or ""]
    if nt ~= nil and nt[p] then return nil end
    r = cached(p, opts, OVN - 1)
    if r ~= nil then
      if t == nil then t = setmetatable({}, WEAK); by_opts[opts] = t end -- options the cache knows
      t[p] = r
    elseif cached(p, opts) ~= nil then -- cached, but not for this path
      if nnever >= 4096 then never, nnever = {}, 0 end
      nt = never[opts or ""]
      if nt == nil then nt = {}; never[opts or ""] = nt end
      nt[p] = true
      nnever = nnever + 1
    end
    return r
  end
  local function forget(p, opts)
    if opts == nil then plain[p] = nil else by_opts[opts][p] = nil end
  end

  -- init (1-based, negative from the end) as a byte offset, or nil when
  -- the C path must read it
  local function offset(init, n)
    if init == nil then return 0 end
    if type(init) ~= "number" or init ~= floor(init) or init > UNSET or init < -UNSET then return nil end
    if init > 0 then
      if init - 1 > n then return nil end -- past the end: nil, counted by C
      return init - 1
    elseif init == 0 or -init > n then
      return 0
    end
    return n + init
  end

  -- capture i of the last match in s: its text, or false when unset
  local function cap(s, i)
    local a = tonumber(ov[2 * i])
    if a > UNSET then return false end
    return sub(s, a + 1, tonumber(ov[2 * i + 1]))
  end
  local function caps(s, i, k)
    if i == k then return cap(s, i) end
    return cap(s, i), caps(s, i + 1, k)
  end

  -- the values of a match (rc > 0: ncap + 1) as find and match return them
  local function find_values(s, rc)
    local a, b = tonumber(ov[0]) + 1, tonumber(ov[1])
    if rc == 1 then return a, b end
    if rc == 2 then return a, b, cap(s, 1) end
    if rc == 3 then return a, b, cap(s, 1), cap(s, 2) end
    return a, b, caps(s, 1, rc - 1)
  end
  local function match_values(s, rc)
    if rc == 1 then return cap(s, 0) end
    if rc == 2 then return cap(s, 1) end
    if rc == 3 then return cap(s, 1), cap(s, 2) end
    if rc == 5 then return cap(s, 1), cap(s, 2), cap(s, 3), cap(s, 4) end
    return caps(s, 1, rc - 1)
  end

  -- fm.find, fm.match, fm.test: one FFI call and the values made in Lua;
  -- anything else goes to the C function as a tail call with the caller's
  -- own arguments (its errors then name the same function and line).
  -- values == nil makes test (a boolean, no captures).
  local function cached(c_fn, values)
    return function(...)
      local s, p, init, opts = ...
      local r = get(p, opts)
      if r == nil then return c_fn(...) end
      if type(s) == "string" then
        local n = #s
        local off = offset(init, n)
        if off ~= nil then
          local rc
          if values then
            rc = exec(r, s, n, off, ov, OVN)
            if rc == 0 then return nil end
            if rc > 0 then return values(s, rc) end
          else
            rc = exec(r, s, n, off, nil, 0)
            if rc >= 0 then return rc > 0 end
          end
          if rc == FALLBACK then forget(p, opts) end
        end
      end
      return c_fn(...)
    end
  end
  fm.find, fm.match, fm.test = cached(find, find_values), cached(match, match_values), cached(test, nil)

  -- re:find, re:match, re:test on objects of fm.compile: the class's
  -- __methods table, which each new object's __index table copies, gets
  -- FFI versions; they serve objects this fm.compile made (a weak set), and
  -- pass anything else to the C method.  fm.compile checks in Lua what
  -- would raise with a position, so that those errors come from a tail call.
  local reg = debug and debug.getregistry and debug.getregistry()
  local rmt = reg and reg["fastmatch.regex"]
  local meths = type(rmt) == "table" and rawget(rmt, "__methods")
  if type(meths) == "table" then
    local oexec, compile = lib.fm_ffi_oexec, core.compile
    local c_find, c_match, c_test = rawget(rmt, "__fm_c_find") or meths.find,
      rawget(rmt, "__fm_c_match") or meths.match, rawget(rmt, "__fm_c_test") or meths.test
    rawset(rmt, "__fm_c_find", c_find)
    rawset(rmt, "__fm_c_match", c_match)
    rawset(rmt, "__fm_c_test", c_test)
    M.c.re_find, M.c.re_match, M.c.re_test, M.c.compile = c_find, c_match, c_test, compile
    local objs = setmetatable({}, { __mode = "k" })
    fm.compile = function(...)
      local p, opts = ...
      if type(p) ~= "string" or (opts ~= nil and (type(opts) ~= "string" or opts:find("[^imsxuUaD]"))) then
        return compile(...)
      end
      local r = compile(...) -- what raises now says no position (a bad pattern)
      objs[r] = true
      return r
    end
    -- the same for the methods of the objects this fm.compile made
    local function method(c_fn, values)
      return function(...)
        local self, s, init = ...
        if objs[self] and type(s) == "string" then
          local n = #s
          local off = offset(init, n)
          if off ~= nil then
            if values then
              local rc = oexec(self, s, n, off, ov, OVN)
              if rc == 0 then return nil end
              if rc > 0 then return values(s, rc) end
            else
              local rc = oexec(self, s, n, off, nil, 0)
              if rc >= 0 then return rc > 0 end
            end
          end
        end
        return c_fn(...)
      end
    end
    meths.find, meths.match = method(c_find, find_values), method(c_match, match_values)
    meths.test = method(c_test, nil)
  end

  -- set:test(s): the set class's __index becomes a Lua function (compiled
  -- into the caller's trace, where the C one was a call of its own) whose
  -- test goes through fm_ffi_mtest; other keys go to the C __index
  local sample = fm.set({})
  local set_mt = getmetatable(sample)
  local c_index = rawget(set_mt, "__fm_c_index") or set_mt.__index
  local set_test = sample.test
  M.c.set_test = set_test
  local methods = { first = sample.first, all = sample.all }
  methods.test = function(self, s)
    if type(s) == "string" and getmetatable(self) == set_mt then
      local rc = mtest(self, s, #s)
      if rc >= 0 then return rc ~= 0 end
    end
    return set_test(self, s)
  end
  rawset(set_mt, "__fm_c_index", c_index)
  set_mt.__index = function(self, k)
    local m = methods[k]
    if m ~= nil then return m end
    return c_index(self, k)
  end

  M.lib = lib -- the entry points (bench_hosts times fm_ffi_exec alone)
  M.active, M.reason = true, nil
  return true
end

return M

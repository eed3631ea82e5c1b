-- api_driver.lua -- the interpreter behind fuzz_api: it reads the fuzzer's
-- bytes as a little program of calls into fastmatch.core (every public
-- function but those that touch files, stdin/stdout or process-wide limits),
-- with fuzzed strings, integers, option tables, callbacks that re-enter,
-- error or yield, objects closed or finalized and then used again, iterators
-- abandoned halfway.  Every call is protected: an error is a fine outcome,
-- a crash, leak, hang or sanitizer report is not.  Files: only anonymous
-- temporary files (io.tmpfile), never a fuzzed path.  No knowledge of any one
-- capability lives here, so each function that lands is fuzzed as it lands.
local data, fm, trace = ...

-- Never called: they print, switch the allocator, or raise limits (a raised
-- match limit makes `(a+)+$` legitimately slow).
-- _search_impl switches a process-wide implementation: a crash found after
-- it would not reproduce from its input alone (fuzz_search covers each).
-- _evtx_scan reads a path (fuzz_evtx covers its reader; fm.evtx below
-- reads the fuzzed bytes from a temporary file).
local DENY = { mi_stats_print = true, use_mimalloc = true, limits = true,
               _search_impl = true, _evtx_scan = true }
-- Called with their first argument replaced by an anonymous temporary file
-- (holding the fuzzed string, for readers): a fuzzed path would create files
-- or read stdin.
local FILEARG = { lines = "r", count_lines = "r", writer = "w", evtx = "r" }
-- The module's functions, and those of its sub-tables (fm._rex: the C face
-- of fastmatch.rex), flattened under dotted names.
local FUNCS, FN = {}, {}
for k, v in pairs(fm) do
  if type(v) == "function" and not DENY[k] then
    FUNCS[#FUNCS + 1], FN[k] = k, v
  elseif type(v) == "table" then
    for k2, v2 in pairs(v) do
      if type(v2) == "function" then
        FUNCS[#FUNCS + 1], FN[k .. "." .. k2] = k .. "." .. k2, v2
      end
    end
  end
end
table.sort(FUNCS)
local FNAME = {} -- for the trace
for _, k in ipairs(FUNCS) do FNAME[FN[k]] = "fm." .. k end
if #FUNCS == 0 then return end

local METHODS = { "test", "find", "match", "exec", "gmatch", "gsub", "split", "count",
  "info", "first", "all", "close", "next", "kind", "pattern", "options", "cased",
  "write", "writeln", "flush", "bytes", "tfind", "dfa_exec", "fullinfo", "patterninfo",
  "jit_compile" }
local OPTKEYS = { "cased", "buffer", "max_line", "keep_newline", "crlf", "lineno", "filter",
  "mode", "sync", "n", "init", "max", "u", "i", "match", "depth", "heap", 1, 2, 3 }
local INTS = { 0, 1, 2, 3, 4, 5, 7, 8, 10, 16, 64, 255, 256, 4096, 65536, -1, -2, -3, -10,
  -4096, math.maxinteger, math.mininteger, math.maxinteger - 1, math.mininteger + 1,
  2 ^ 31, 2 ^ 31 - 1, -2 ^ 31, 2 ^ 32, 2 ^ 53, 2 ^ 63, 1e300, -1e300, 0.5, -0.0,
  1 / 0, -1 / 0, 0 / 0, "10", "-1", "0x10" }
local REPS = { 2, 3, 10, 100, 1000, 10000, 100000, 1 << 20 }
local MAXLEN = 1 << 20 -- no string the driver builds is longer

local pos, n = 1, #data
local function byte()
  if pos > n then return 0 end
  local b = data:byte(pos)
  pos = pos + 1
  return b
end
local function pick(t) return t[byte() % #t + 1] end

local vals, objs = {}, {}
local NIL = {} -- stands for nil in the pool
local function push(v)
  if v == nil then v = NIL end
  -- Results grow: gsub's output fed back in as the next subject multiplies
  -- again (a CI run reached a 2 GB request in 12 calls).  Nothing longer
  -- than MAXLEN enters the pool.
  if type(v) == "string" and #v > MAXLEN then v = v:sub(1, MAXLEN) end
  if #vals >= 64 then table.remove(vals, 1) end
  vals[#vals + 1] = v
  local t = type(v)
  if t == "userdata" or t == "function" or t == "thread" then
    if #objs >= 32 then table.remove(objs, 1) end
    objs[#objs + 1] = v
  end
end
local function top(k) return vals[#vals - k] end
local function laststring()
  for i = #vals, 1, -1 do
    if type(vals[i]) == "string" then return vals[i] end
  end
  return "a"
end
local function args(k) -- the k values on top of the pool, oldest first
  local a = {}
  for i = k - 1, 0, -1 do
    local v = top(i)
    if v == NIL then v = nil end
    a[k - i] = v
  end
  return a, k
end

local function fileize(name, a, k)
  local mode = FILEARG[name]
  if not mode then return a, k end
  local f = io.tmpfile()
  if mode == "r" and type(a[1]) == "string" then
    f:write(a[1])
    f:seek("set")
  end
  a[1] = f
  return a, math.max(k, 1)
end

local function show(v)
  if type(v) == "string" then
    return #v > 60 and ("%q..(%d bytes)"):format(v:sub(1, 60), #v) or ("%q"):format(v)
  end
  local ok, str = pcall(tostring, v) -- __tostring may raise
  return ok and str or "?"
end
local function log(what, a, k)
  if not trace then return end
  if type(what) ~= "string" then what = FNAME[what] or show(what) end
  local t = {}
  for i = 1, k do t[i] = show(a[i]) end
  print(("fuzz_api: %s(%s)"):format(what, table.concat(t, ", ")))
end

-- An options table with a key the function does not know is rejected before
-- anything else runs ("unknown option 'x'"): drop that key from the tables
-- among the arguments and call again, so the fuzzed option values still
-- reach the code behind the check.
local function dropkey(a, k, err)
  local key = type(err) == "string" and err:match("unknown option '(.-)'%)")
  if not key then return false end
  local dropped = false
  for i = 1, k do
    if type(a[i]) == "table" then
      for tk in pairs(a[i]) do
        local ok, ts = pcall(tostring, tk) -- a key's __tostring may raise
        if ok and ts == key then a[i][tk] = nil; dropped = true; break end
      end
    end
  end
  return dropped
end

-- gsub's output is (matches x replacement): a 160 KB subject and a 480 KB
-- template legitimately ask for tens of GB, which libFuzzer's malloc limit
-- reports as a crash.  Keep every string after the subject of a gsub short,
-- so the output stays within a few dozen MB (a long template adds nothing
-- the short ones do not cover).
local TEMPLATE_MAX = 64
local function tame(name, a, k)
  if not name:match("gsub$") then return a end
  local seen = false
  for i = 1, k do
    if type(a[i]) == "string" then
      if seen and #a[i] > TEMPLATE_MAX then a[i] = a[i]:sub(1, TEMPLATE_MAX) end
      seen = true
    end
  end
  return a
end

local function call(f, a, k)
  log(f, a, k)
  local r = table.pack(pcall(f, table.unpack(a, 1, k)))
  for _ = 1, 4 do
    if r[1] or not dropkey(a, k, r[2]) then break end
    log(f, a, k)
    r = table.pack(pcall(f, table.unpack(a, 1, k)))
  end
  if r[1] then
    for i = 2, math.min(r.n, 5) do push(r[i]) end
  else
    push(r[2]) -- the error value: a string, usually, to be fed back in
  end
end

local function reenter(s) -- a callback that calls fastmatch again
  local name = FUNCS[#s % #FUNCS + 1]
  return FN[name](table.unpack((fileize(name, { s, s }, 2))))
end
local CALLBACKS = {
  function(...) return ... end,
  function() return nil end,
  function() return false end,
  function() return "x" end,
  function() return 42 end,
  function() return {} end,
  function() error("fuzz: callback error") end,
  function() error({}) end,
  function() collectgarbage() return "gc" end,
  function(s) if type(s) == "string" then pcall(reenter, s) end return s end,
  function(s) if type(s) == "string" then return reenter(s) end end,
  function(...) return coroutine.yield(...) end,
}

local steps = 0
while pos <= n and steps < 256 do
  steps = steps + 1
  local op = byte() % 16
  if op <= 2 then -- a string from the input: length byte, then bytes
    local len = byte()
    push(data:sub(pos, pos + len - 1))
    pos = pos + len
  elseif op == 3 then -- a long string: the last one repeated
    local s = laststring()
    local r = pick(REPS)
    if #s * r > MAXLEN then r = MAXLEN // math.max(#s, 1) end
    push(s:rep(r))
  elseif op == 4 then
    push(pick(INTS))
  elseif op == 5 then
    push(pick({ NIL, true, false, {}, "", "\0", "-", "*", "\xff", "é" }))
  elseif op == 6 then -- an array of the top k values
    local a, k = args(byte() % 9)
    push(table.move(a, 1, k, 1, {}))
  elseif op == 7 then -- an options table
    local t = {}
    for _ = 1, byte() % 4 + 1 do
      local v = top(byte() % 4)
      if v ~= NIL then t[pick(OPTKEYS)] = v end
    end
    push(t)
  elseif op == 8 then
    push(pick(CALLBACKS))
  elseif op <= 10 then -- call a module function with the top k values
    local name = pick(FUNCS)
    local a, k = fileize(name, args(byte() % 5))
    call(FN[name], tame(name, a, k), k)
  elseif op == 11 then -- a method of an object, or call it (iterators, w(s))
    local o = #objs > 0 and pick(objs)
    if o then
      local a, k = args(byte() % 4)
      if type(o) == "function" then
        log("iterate", a, k)
        for _ = 1, byte() % 64 + 1 do
          local ok, v = pcall(o, table.unpack(a, 1, k))
          if not ok or v == nil then break end
        end
      elseif type(o) == "thread" then
        if coroutine.status(o) == "suspended" then pcall(coroutine.resume, o, table.unpack(a, 1, k)) end
      else
        local m = pick(METHODS)
        local ok, f = pcall(function() return o[m] end)
        if ok and type(f) == "function" then
          FNAME[f] = FNAME[f] or ("method " .. m)
          call(f, tame(m, { o, table.unpack(a, 1, k) }, k + 1), k + 1)
        else
          push(f)
          call(o, a, k) -- __call, when the object has one
        end
        pcall(function() return #o, tostring(o) end)
      end
    end
  elseif op == 12 then -- close or finalize an object by hand, keep using it
    local o = #objs > 0 and pick(objs)
    local mt = o and debug.getmetatable(o)
    if type(mt) == "table" then
      local f = byte() % 2 == 0 and mt.__close or mt.__gc
      if type(f) == "function" then
        log(f == mt.__gc and "__gc" or "__close", { o }, 1)
        pcall(f, o)
      end
    end
  elseif op == 13 then -- a call inside a coroutine: callbacks may yield
    local name = pick(FUNCS)
    local a, k = fileize(name, args(byte() % 5))
    a = tame(name, a, k) -- as for a direct call (op 9, 10)
    log("coroutine fm." .. name, a, k)
    local co = coroutine.create(function() return FN[name](table.unpack(a, 1, k)) end)
    local ok, v = coroutine.resume(co)
    push(v)
    if coroutine.status(co) == "suspended" then
      push(co) -- resumed later by op 11, or abandoned and collected
    end
  elseif op == 14 then
    collectgarbage(byte() % 2 == 0 and "collect" or "step")
  else -- drop references: objects and half-run iterators become garbage
    if byte() % 2 == 0 then objs = {} else vals = {} end
  end
end

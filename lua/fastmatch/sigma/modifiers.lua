-- fastmatch.sigma.modifiers: a detection value and its modifiers -> matchers.
--
-- A value becomes a "group" (one per value the rule wrote, so that `|all`
-- counts values, not their expansions) of alternatives. An alternative is one
-- of:
--   {kind="wc", pattern=, cased=, literal=}   a Sigma wildcard (fm.wildcard syntax)
--   {kind="re", regex=, source=, flags=}      PCRE2, unanchored
--   {kind="cidr", v=4|6, net=, bits=}         an address range
--   {kind="cmp", op=, num=}                   gt/gte/lt/lte
--   {kind="fieldref", field=, how=, cased=}   compare with another field
--   {kind="exists", want=}                    field presence
--   {kind="null"}                             absent or empty
-- Strings are kept as parts while modifiers run (literal strings and the two
-- wildcard markers), as pySigma's SigmaString does, so that encodings apply to
-- the literal bytes only and wildcards keep their meaning through them.

local fm = require "fastmatch"
local event = require "fastmatch.sigma.event"

-- Arithmetic instead of bitwise operators and utf8.*, so that the stages
-- load on Lua 5.1-5.4 and LuaJIT alike.
local floor = math.floor
local unpack = table.unpack or unpack

local M = {}

local STAR, ONE = { "*" }, { "?" }
M.STAR, M.ONE = STAR, ONE

-- Sigma string syntax -> parts. `\*`, `\?`, `\\` are literals; a `\` before
-- anything else is itself (fm.wildcard's reading, and pySigma's). Jumps
-- from special byte to special byte: the loader parses every value of
-- every rule (docs/startup.md).
local find, sub, byte, char, concat = string.find, string.sub, string.byte, string.char, table.concat
local function parse(s)
  local parts, n = {}, #s
  if not find(s, "[\\*?]") then
    if n > 0 then parts[1] = s end
    return parts
  end
  -- cur: the literal's pieces; s[start .. ] the raw run not yet in them (a
  -- lone '\' stays in the run: paths are cut only at escapes and wildcards)
  local cur, nc, i, start = {}, 0, 1, 1
  while true do
    local j = find(s, "[\\*?]", i)
    if not j then break end
    local c = byte(s, j)
    if c == 92 then
      local d = byte(s, j + 1)
      if d == 42 or d == 63 or d == 92 then
        if j > start then nc = nc + 1; cur[nc] = sub(s, start, j - 1) end
        nc = nc + 1; cur[nc] = char(d)
        start = j + 2
      end
      i = j + (start == j + 2 and 2 or 1)
    else
      if j > start then nc = nc + 1; cur[nc] = sub(s, start, j - 1) end
      if nc > 0 then parts[#parts + 1] = concat(cur, "", 1, nc); nc = 0 end
      parts[#parts + 1] = c == 42 and STAR or ONE
      start, i = j + 1, j + 1
    end
  end
  if start <= n then nc = nc + 1; cur[nc] = sub(s, start) end
  if nc > 0 then parts[#parts + 1] = concat(cur, "", 1, nc) end
  return parts
end
M.parse = parse

-- parts -> fm.wildcard pattern; literals always escaped, so the result is
-- unambiguous whatever the bytes (a trailing `\` before an added `*`).
local function render(parts)
  local out = {}
  for i, p in ipairs(parts) do
    if p == STAR then out[i] = "*"
    elseif p == ONE then out[i] = "?"
    else out[i] = (p:gsub("[\\*?]", "\\%0")) end
  end
  return table.concat(out)
end
M.render = render

-- parts -> an anchored PCRE2 pattern (the "regex" way of matching a value).
function M.to_regex(parts)
  local out = { "^(?:" }
  for _, p in ipairs(parts) do
    if p == STAR then out[#out + 1] = ".*"
    elseif p == ONE then out[#out + 1] = "."
    else out[#out + 1] = (p:gsub("[%p ]", "\\%0")) end
  end
  out[#out + 1] = ")\\z"
  return table.concat(out)
end

local function plain(parts)
  for _, p in ipairs(parts) do
    if p == STAR or p == ONE then return nil end
  end
  return table.concat(parts)
end

-- The longest literal run of a value: what the line prefilter can require.
local function longest_literal(parts)
  local best, cur = "", ""
  for i = 1, #parts do
    local p = parts[i]
    if p == STAR or p == ONE then
      if #cur > #best then best = cur end
      cur = ""
    else
      cur = cur .. p
    end
  end
  if #cur > #best then best = cur end
  return best
end
M.longest_literal = longest_literal

-- The longest literal that every match of a regex holds (nil when it cannot
-- say: alternation at the top, extended mode, or nothing longer than 2 bytes).
-- It lets a regex value wait behind an indexed `*literal*` (caseless, so a
-- superset) instead of running on every event.
function M.regex_literal(src)
  if src:find("(?x", 1, true) or src:find("\\Q", 1, true) then return nil end
  local runs, cur = {}, {}
  local function close()
    if #cur > 0 then runs[#runs + 1] = table.concat(cur); cur = {} end
  end
  local i, n = 1, #src
  while i <= n do
    local c = src:sub(i, i)
    local lit = nil
    if c == "\\" then
      local d = src:sub(i + 1, i + 1)
      if d:match("%p") then lit = d end
      i = i + 2
      if not lit then close() end
    elseif c == "[" then
      -- skip the class: a ']' right after '[' or '[^' is literal
      local j = i + 1
      if src:sub(j, j) == "^" then j = j + 1 end
      if src:sub(j, j) == "]" then j = j + 1 end
      while j <= n and src:sub(j, j) ~= "]" do
        if src:sub(j, j) == "\\" then j = j + 1 end
        j = j + 1
      end
      i = j + 1
      close()
    elseif c == "(" then
      if src:sub(i, i + 1) == "(?" and src:sub(i + 2, i + 2):match("[imsn%-]") then
        local j = src:find(")", i, true)
        if not j then return nil end
        local body = src:sub(i + 2, j - 1)
        if body:match("^[imsn%-]+$") then i = j + 1 else return nil end
      else
        -- a group may be optional or alternate: skip it whole
        local depth, j = 0, i
        while j <= n do
          local d = src:sub(j, j)
          if d == "\\" then j = j + 1
          elseif d == "(" then depth = depth + 1
          elseif d == ")" then depth = depth - 1; if depth == 0 then break end end
          j = j + 1
        end
        if j > n then return nil end
        i = j + 1
        close()
      end
    elseif c == "|" then
      return nil
    elseif c:match("[.^$)]") then
      i = i + 1
      close()
    elseif c == "*" or c == "?" or c == "+" or c == "{" then
      -- the quantifier of a class, group or escape (the run is already closed)
      if c == "{" then
        local j = src:find("}", i, true)
        if not j then return nil end
        i = j + 1
      else
        i = i + 1
      end
      if src:sub(i, i) == "?" or src:sub(i, i) == "+" then i = i + 1 end
    else
      lit = c
      i = i + 1
    end
    if lit then
      -- a quantifier after it: optional (drop it) or repeated (keep one)
      local q = src:sub(i, i)
      if q == "*" or q == "?" or (q == "{" and src:match("^{0", i)) then
        close()
      elseif q == "+" or q == "{" then
        cur[#cur + 1] = lit
        close()
      else
        cur[#cur + 1] = lit
      end
      if q == "*" or q == "?" or q == "+" then
        i = i + 1
        if src:sub(i, i) == "?" or src:sub(i, i) == "+" then i = i + 1 end
      elseif q == "{" then
        local j = src:find("}", i, true)
        if not j then return nil end
        i = j + 1
      end
    end
  end
  close()
  local best = ""
  for _, r in ipairs(runs) do if #r > #best then best = r end end
  if #best < 3 then return nil end
  return best
end

-- ---------------------------------------------------------------- encodings
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {}
    for k = 1, 4 do
      local idx = floor(n / 64 ^ (4 - k)) % 64
      q[k] = b64chars:sub(idx + 1, idx + 1)
    end
    if not b then q[3], q[4] = "=", "=" elseif not c then q[4] = "=" end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end
M.b64 = b64

-- The code point at s[i] and its length; a byte that does not start a valid
-- UTF-8 sequence (overlong, surrogate, past U+10FFFF, truncated) is itself.
local function u8decode(s, i)
  local c = s:byte(i)
  local n, min, cp
  if c < 0x80 then return c, 1
  elseif c >= 0xC2 and c <= 0xDF then n, min, cp = 1, 0x80, c - 0xC0
  elseif c >= 0xE0 and c <= 0xEF then n, min, cp = 2, 0x800, c - 0xE0
  elseif c >= 0xF0 and c <= 0xF4 then n, min, cp = 3, 0x10000, c - 0xF0
  else return c, 1 end
  for k = 1, n do
    local d = s:byte(i + k)
    if not d or d < 0x80 or d > 0xBF then return c, 1 end
    cp = cp * 64 + (d - 0x80)
  end
  if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then return c, 1 end
  return cp, n + 1
end

-- UTF-8 -> UTF-16 code units; invalid bytes pass as themselves (U+00xx).
local function utf16(s, big)
  local out = {}
  local function unit(u)
    local hi, lo = floor(u / 256), u % 256
    if big then out[#out + 1] = string.char(hi, lo)
    else out[#out + 1] = string.char(lo, hi) end
  end
  local i, n = 1, #s
  while i <= n do
    local cp, len = u8decode(s, i)
    if cp >= 0x10000 then
      cp = cp - 0x10000
      unit(0xD800 + floor(cp / 1024)); unit(0xDC00 + cp % 1024)
    else
      unit(cp)
    end
    i = i + len
  end
  return table.concat(out)
end

-- Every combination of the alternatives f gives for each literal part.
local function per_literal(parts, f)
  local outs = { {} }
  for _, p in ipairs(parts) do
    local choices
    if p == STAR or p == ONE then choices = { { p } } else choices = f(p) end
    local nx = {}
    for _, o in ipairs(outs) do
      for _, c in ipairs(choices) do
        local r = { unpack(o) }
        for _, x in ipairs(c) do r[#r + 1] = x end
        nx[#nx + 1] = r
      end
    end
    outs = nx
    if #outs > 4096 then error("fastmatch.sigma: too many expansions of one value") end
  end
  return outs
end

local function map_literals(parts, f)
  local out = {}
  for i, p in ipairs(parts) do
    if p == STAR or p == ONE then out[i] = p else out[i] = f(p) end
  end
  return out
end

-- windash: a dash or slash that starts an option (after a non-word character,
-- before a word character) may be any of Windows' option dashes (pySigma's
-- `\B[-/]\b`); every combination is an alternative.
local DASHES = { "-", "/", "\226\128\147", "\226\128\148", "\226\128\149" } -- U+2013..2015
local function windash(s)
  local pos = {}
  local i = 1
  while true do
    local j = s:find("[-/]", i)
    if not j then break end
    local prev = j > 1 and s:sub(j - 1, j - 1) or ""
    local nxt = s:sub(j + 1, j + 1)
    if not prev:match("[%w_]") and nxt:match("[%w_]") then pos[#pos + 1] = j end
    i = j + 1
  end
  local outs = { s }
  if #pos == 0 or #pos > 6 then return outs end
  outs = { "" }
  local last = 1
  for _, p in ipairs(pos) do
    local seg = s:sub(last, p - 1)
    local nx = {}
    for _, o in ipairs(outs) do
      for _, d in ipairs(DASHES) do nx[#nx + 1] = o .. seg .. d end
    end
    outs, last = nx, p + 1
  end
  for k, o in ipairs(outs) do outs[k] = o .. s:sub(last) end
  return outs
end

-- ---------------------------------------------------------------- ip ranges
local function parse_ipv4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  a, b, c, d = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
  if a > 255 or b > 255 or c > 255 or d > 255 then return nil end
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- IPv6 text -> 8 groups (an embedded IPv4 tail and `::` allowed).
local function parse_ipv6(s)
  s = s:gsub("%%.*$", "")  -- zone index
  if not s:find(":", 1, true) then return nil end
  local tail4 = s:match(":(%d+%.%d+%.%d+%.%d+)$")
  if tail4 then
    local v = parse_ipv4(tail4)
    if not v then return nil end
    s = s:sub(1, #s - #tail4) .. ("%x:%x"):format(floor(v / 65536), v % 65536)
  end
  local head, rest = s:match("^(.-)::(.*)$")
  local function groups(t)
    local g = {}
    if t == "" then return g end
    for x in (t .. ":"):gmatch("([^:]*):") do
      if not x:match("^%x%x?%x?%x?$") then return nil end
      g[#g + 1] = tonumber(x, 16)
    end
    return g
  end
  local out
  if head then
    local h, r = groups(head), groups(rest)
    if not h or not r or #h + #r > 7 then return nil end
    out = {}
    for _, x in ipairs(h) do out[#out + 1] = x end
    for _ = 1, 8 - #h - #r do out[#out + 1] = 0 end
    for _, x in ipairs(r) do out[#out + 1] = x end
  else
    out = groups(s)
    if not out or #out ~= 8 then return nil end
  end
  return out
end

local function cidr_spec(v)
  local addr, bits = tostring(v):match("^%s*([^/%s]+)/?(%d*)%s*$")
  if not addr then return nil, "cidr: bad network '" .. tostring(v) .. "'" end
  local v4 = parse_ipv4(addr)
  if v4 then
    bits = tonumber(bits) or 32
    if bits > 32 then return nil, "cidr: bad prefix '" .. tostring(v) .. "'" end
    -- the network as its top `bits` bits: an address is in it when its own
    -- top bits (the address divided by 2^(32 - bits), rounded down) agree
    local unit = 2 ^ (32 - bits)
    return { kind = "cidr", v = 4, net = floor(v4 / unit), unit = unit }
  end
  local v6 = parse_ipv6(addr)
  if v6 then
    bits = tonumber(bits) or 128
    if bits > 128 then return nil, "cidr: bad prefix '" .. tostring(v) .. "'" end
    return { kind = "cidr", v = 6, net = v6, bits = bits }
  end
  return nil, "cidr: bad network '" .. tostring(v) .. "'"
end

function M.cidr_test(spec, s)
  if spec.v == 4 then
    local a = parse_ipv4(s)
    return a ~= nil and floor(a / spec.unit) == spec.net
  end
  local a = parse_ipv6(s)
  if not a then return false end
  local bits = spec.bits
  for g = 1, 8 do
    if bits <= 0 then return true end
    local take = bits >= 16 and 16 or bits
    local unit = 2 ^ (16 - take)  -- compare the group's top `take` bits
    if floor(a[g] / unit) ~= floor(spec.net[g] / unit) then return false end
    bits = bits - take
  end
  return true
end

-- ---------------------------------------------------------------- the pipeline
local KNOWN = {
  contains = true, startswith = true, endswith = true, all = true, re = true,
  windash = true, cidr = true, base64 = true, base64offset = true, wide = true,
  utf16le = true, utf16be = true, utf16 = true, fieldref = true, expand = true,
  exists = true, gt = true, gte = true, lt = true, lte = true, cased = true,
  i = true, m = true, s = true, ignorecase = true, multiline = true, dotall = true,
}

-- Checks a modifier chain; returns the set of modifiers or nil, reason.
function M.check(mods)
  local set = {}
  for _, m in ipairs(mods) do
    if not KNOWN[m] then return nil, "unsupported modifier '" .. m .. "'" end
    set[m] = true
  end
  if (set.i or set.m or set.s) and not set.re then
    return nil, "regex flag modifier without 're'"
  end
  return set
end

-- Text of a YAML scalar as an event would carry it.
local function scalar_text(v)
  if type(v) == "number" then return event.number_text(v) end
  return tostring(v)
end
M.scalar_text = scalar_text

local CMP = { "gt", "gte", "lt", "lte" }
-- modifiers that leave one alternative and only add '*' at its ends (or
-- nothing): the common chains, done without the general pipeline's tables
local SIMPLE = { contains = true, startswith = true, endswith = true, cased = true, all = true }

-- One detection value with its modifiers -> a group {alts = {...}}, or nil, reason.
-- `null` is the YAML null sentinel; opts.placeholders feeds `|expand`.
function M.value(v, mods, set, null, opts)
  if v == nil or v == null then
    if set.exists then return nil, "exists needs true or false" end
    return { alts = { { kind = "null" } } }
  end
  if set.exists then
    if type(v) ~= "boolean" then
      local t = scalar_text(v):lower()
      if t == "true" or t == "yes" then v = true elseif t == "false" or t == "no" then v = false
      else return nil, "exists needs true or false" end
    end
    return { alts = { { kind = "exists", want = v } } }
  end
  if type(v) == "table" then return nil, "a value is a nested list or map" end
  local s = scalar_text(v)
  if set.re then
    local flags = ""
    if set.i or set.ignorecase then flags = flags .. "i" end
    if set.m or set.multiline then flags = flags .. "m" end
    if set.s or set.dotall then flags = flags .. "s" end
    local ok, rx = pcall(fm.compile, s, flags)
    if not ok then return nil, "re: " .. tostring(rx) end
    return { alts = { { kind = "re", regex = rx, source = s, flags = flags } } }
  end
  if set.cidr then
    local spec, err = cidr_spec(s)
    if not spec then return nil, err end
    return { alts = { spec } }
  end
  for _, op in ipairs(CMP) do
    if set[op] then
      local num = tonumber(s)
      if not num then return nil, op .. ": not a number '" .. s .. "'" end
      return { alts = { { kind = "cmp", op = op, num = num } } }
    end
  end
  if set.fieldref then
    local how = set.contains and "contains" or set.startswith and "startswith"
      or set.endswith and "endswith" or "equals"
    return { alts = { { kind = "fieldref", field = s, how = how, cased = set.cased or false } } }
  end

  local simple = true
  for i = 1, #mods do
    if not SIMPLE[mods[i]] then simple = false; break end
  end
  if simple then
    local p = parse(s)
    for i = 1, #mods do
      local m = mods[i]
      if m == "contains" then
        table.insert(p, 1, STAR); p[#p + 1] = STAR
      elseif m == "startswith" then
        p[#p + 1] = STAR
      elseif m == "endswith" then
        table.insert(p, 1, STAR)
      end
    end
    return { alts = { {
      kind = "wc", parts = p, pattern = render(p), cased = set.cased or false, literal = longest_literal(p),
    } } }
  end

  -- string transforms, in the order the rule wrote them, over parts
  local alts = { parse(s) }
  local function each(f)
    local out = {}
    for _, p in ipairs(alts) do
      for _, q in ipairs(f(p)) do out[#out + 1] = q end
    end
    alts = out
  end
  for _, m in ipairs(mods) do
    if m == "expand" then
      each(function(p)
        return per_literal(p, function(lit)
          -- an unknown placeholder matches anything (pySigma's wildcard placeholder)
          local list, last = { {} }, 1
          for a, name, b in lit:gmatch("()%%([%w_%-%.]+)%%()") do
            local seg = lit:sub(last, a - 1)
            local vals = opts.placeholders and opts.placeholders[name]
            if vals ~= nil and type(vals) ~= "table" then vals = { vals } end
            local nx = {}
            for _, o in ipairs(list) do
              if vals == nil then
                local r = { unpack(o) }
                if seg ~= "" then r[#r + 1] = seg end
                r[#r + 1] = STAR
                nx[#nx + 1] = r
              else
                for _, pv in ipairs(vals) do
                  local r = { unpack(o) }
                  if seg ~= "" then r[#r + 1] = seg end
                  for _, x in ipairs(parse(scalar_text(pv))) do r[#r + 1] = x end
                  nx[#nx + 1] = r
                end
              end
            end
            list, last = nx, b
          end
          local tail = lit:sub(last)
          if tail ~= "" then
            for _, o in ipairs(list) do o[#o + 1] = tail end
          end
          return list
        end)
      end)
    elseif m == "windash" then
      each(function(p)
        return per_literal(p, function(lit)
          local out = {}
          for _, w in ipairs(windash(lit)) do out[#out + 1] = { w } end
          return out
        end)
      end)
    elseif m == "wide" or m == "utf16le" or m == "utf16be" or m == "utf16" then
      each(function(p)
        local big = m == "utf16be"
        local r = map_literals(p, function(x) return utf16(x, big) end)
        if m == "utf16" then table.insert(r, 1, "\255\254") end
        return { r }
      end)
    elseif m == "base64" then
      local err
      each(function(p)
        local t = plain(p)
        if not t then err = "base64 of a value with wildcards"; return {} end
        return { { b64(t) } }
      end)
      if err then return nil, err end
    elseif m == "base64offset" then
      local err
      each(function(p)
        local t = plain(p)
        if not t then err = "base64offset of a value with wildcards"; return {} end
        -- pySigma's three offsets: the bytes shared by every encoding of t
        -- wherever it starts in the encoded text
        local starts, ends = { 0, 2, 3 }, { 0, -3, -2 }
        local r = {}
        for k = 0, 2 do
          local e = b64((" "):rep(k) .. t)
          local stop = ends[((#t + k) % 3) + 1]
          e = e:sub(starts[k + 1] + 1, stop == 0 and #e or #e + stop)
          r[#r + 1] = { e }
        end
        return r
      end)
      if err then return nil, err end
    elseif m == "contains" then
      each(function(p)
        local r = { STAR }
        for _, x in ipairs(p) do r[#r + 1] = x end
        r[#r + 1] = STAR
        return { r }
      end)
    elseif m == "startswith" then
      each(function(p)
        local r = { unpack(p) }
        r[#r + 1] = STAR
        return { r }
      end)
    elseif m == "endswith" then
      each(function(p)
        local r = { STAR, unpack(p) }
        return { r }
      end)
    end
  end
  local group = { alts = {} }
  local seen = {}
  for _, p in ipairs(alts) do
    local pat = render(p)
    if not seen[pat] then
      seen[pat] = true
      group.alts[#group.alts + 1] = {
        kind = "wc", parts = p, pattern = pat, cased = set.cased or false,
        literal = longest_literal(p),
      }
    end
  end
  return group
end

return M

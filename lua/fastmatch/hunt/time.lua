-- fastmatch.hunt.time: the timeline's times -- read an event's or a flag's
-- time, order times, write them as Hayabusa does (local time with its
-- offset by default; --utc, --iso-8601, --rfc-3339).
--
-- A time is { sec = whole seconds since 1970-01-01 UTC, frac = the digits
-- after the second, as written (kept as text: EVTX has 100 ns, 7 digits,
-- which a double cannot carry next to the seconds) }.  The calendar is done
-- here in arithmetic (days from the civil date and back), not with os.time,
-- which reads its argument as local time; only the local offset of an
-- instant comes from the C library (TZ), once per minute of the timeline.

local floor = math.floor

local T = {}

-- ---------------------------------------------------------------- calendar
local calendar = require "fastmatch.sigma.calendar"
local days_from_civil, civil_from_days = calendar.days_from_civil, calendar.civil_from_days
T.days_from_civil, T.civil_from_days = days_from_civil, civil_from_days

local MDAYS = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- ---------------------------------------------------------------- reading
-- T.parse(s [, default_offset]) -> time | nil
-- "2026-11-01T10:00:00.1234567Z", "2026-11-01 10:00:00.123 +09:00",
-- "2026-11-01 19:00:00+0900", "2026-11-01" (midnight).  Without a zone the
-- time is read at default_offset seconds east of UTC: 0 (UTC) for events
-- (EVTX SystemTime and Sysmon's UtcTime are UTC), or "local" (the local
-- offset at that wall time) for what a user types.
function T.parse(s, default_offset)
  if type(s) ~= "string" then return nil end
  local y, mo, d, rest = s:match("^%s*(%d%d%d%d)-(%d%d)-(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 or d < 1 or d > MDAYS[mo] then return nil end
  if mo == 2 and d == 29 and not (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) then return nil end
  local h, mi, se, frac = 0, 0, 0, ""
  local hh, mm, tail = rest:match("^[T ](%d%d):(%d%d)(.*)$")
  if hh then
    h, mi, rest = tonumber(hh), tonumber(mm), tail
    local ss, tail2 = rest:match("^:(%d%d)(.*)$")
    if ss then
      se, rest = tonumber(ss), tail2
      local f, tail3 = rest:match("^[.,](%d+)(.*)$")
      if f then frac, rest = f, tail3 end
    end
    if h > 23 or mi > 59 or se > 60 then return nil end
  end
  local off
  rest = rest:gsub("^ ", "")
  if rest == "Z" or rest == "z" then
    off = 0
  elseif rest ~= "" then
    local sign, oh, om = rest:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then
      sign, oh = rest:match("^([+-])(%d%d)$")
      om = "00"
    end
    if not sign then return nil end
    off = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
  end
  local wall = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se
  if off == nil then
    if default_offset == "local" then
      -- the offset in force at that wall time: try the offset at the wall
      -- time read as UTC, then the offset at the instant that gives
      off = T.offset(wall)
      off = T.offset(wall - off)
    else
      off = default_offset or 0
    end
  end
  return { sec = wall - off, frac = frac }
end

-- ---------------------------------------------------------------- order
-- A text that sorts as the times do (byte order), fixed width: seconds
-- from year 0 (so never negative) and nine fractional digits.
local BIAS = 62167219200 -- seconds from 0000-01-01 to 1970-01-01
function T.key(t)
  return ("%013d.%s"):format(t.sec + BIAS, (t.frac .. "000000000"):sub(1, 9))
end

-- ---------------------------------------------------------------- offsets
-- The local offset (seconds east of UTC) at an instant: both broken-down
-- times read back by os.time as standard time, so that their difference is
-- the wall-clock difference, DST included.  Cached per minute (offsets
-- change on whole minutes).
local cache, ncache = {}, 0
function T.offset(sec)
  local m = floor(sec / 60)
  local o = cache[m]
  if o then return o end
  local okl, l = pcall(os.date, "*t", sec)
  local oku, u = pcall(os.date, "!*t", sec)
  if not (okl and oku and type(l) == "table" and type(u) == "table") then return 0 end
  l.isdst, u.isdst = false, false
  local tl, tu = os.time(l), os.time(u)
  o = (tl and tu) and floor(os.difftime(tl, tu) + 0.5) or 0
  if ncache >= 4096 then cache, ncache = {}, 0 end
  cache[m], ncache = o, ncache + 1
  return o
end
-- forget the cached offsets (a spec that changes TZ in-process; not needed
-- by the command, whose TZ is fixed for the run)
function T.reset() cache, ncache = {}, 0 end

-- ---------------------------------------------------------------- writing
-- T.MODES: how the timeline writes a time (Hayabusa's names)
--   local    2026-11-01 19:00:00.123 +09:00   (the default)
--   utc      2026-11-01 10:00:00.123 +00:00   (--utc)
--   iso8601  2026-11-01T10:00:00.1234567Z    (--iso-8601: always UTC, the digits as written)
--   rfc3339  2026-11-01 19:00:00.123456+09:00 (--rfc-3339; UTC with --utc)
T.MODES = { ["local"] = true, utc = true, iso8601 = true, rfc3339 = true }

local function zone(off, colon)
  local sign = off < 0 and "-" or "+"
  off = off < 0 and -off or off
  return ("%s%02d%s%02d"):format(sign, floor(off / 3600), colon, floor(off % 3600 / 60))
end

-- -> y, m, d, H, M, S of an instant at an offset
local function broken(sec, off)
  local wall = sec + off
  local days = floor(wall / 86400)
  local s = wall - days * 86400
  local y, m, d = civil_from_days(days)
  return y, m, d, floor(s / 3600), floor(s % 3600 / 60), s % 60
end

local function digits(frac, n) return (frac .. ("0"):rep(n)):sub(1, n) end

-- T.format(t, mode, utc) -> text.  utc: --utc given (for rfc3339).
function T.format(t, mode, utc)
  if mode == "iso8601" then
    local y, m, d, H, M, S = broken(t.sec, 0)
    return ("%04d-%02d-%02dT%02d:%02d:%02d%s%sZ"):format(y, m, d, H, M, S, t.frac ~= "" and "." or "", t.frac)
  end
  local off = (mode == "utc" or utc) and 0 or T.offset(t.sec)
  local y, m, d, H, M, S = broken(t.sec, off)
  if mode == "rfc3339" then
    return ("%04d-%02d-%02d %02d:%02d:%02d.%s%s"):format(y, m, d, H, M, S, digits(t.frac, 6), zone(off, ":"))
  end
  return ("%04d-%02d-%02d %02d:%02d:%02d.%s %s"):format(y, m, d, H, M, S, digits(t.frac, 3), zone(off, ":"))
end

-- T.date(t, mode, utc) -> "YYYY-MM-DD" in the zone the timeline is written in
function T.date(t, mode, utc)
  local off = (mode == "utc" or mode == "iso8601" or utc) and 0 or T.offset(t.sec)
  local y, m, d = broken(t.sec, off)
  return ("%04d-%02d-%02d"):format(y, m, d)
end

return T

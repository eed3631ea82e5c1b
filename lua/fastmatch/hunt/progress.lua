-- fastmatch.hunt.progress: how far the hunt is.  On a terminal a bar
-- redrawn in place (percent, events, events/s, ETA); otherwise a plain line
-- now and then (a log file gets no carriage returns); nothing with --quiet.
--
--   local p = P.new{ mode = "bar"|"line"|"off", out = io.stderr, total = events }
--   p:update(done, detections) ... p:finish(done, detections)

local fm = require "fastmatch"

local P = {}
P.__index = P

-- Is stderr a terminal?  (A shell's `test -t 2` sees our stderr: it is
-- inherited.)  5.1 returns the status, 5.2+ true/nil.
function P.stderr_is_tty()
  local r = os.execute("test -t 2")
  return r == true or r == 0
end

-- P.new{mode=, out=, total=, interval=}: interval, the seconds between two
-- plain lines (10) -- a bar is redrawn at most 5 times a second
function P.new(opts)
  local mode = opts.mode or "line"
  return setmetatable({ mode = mode, out = opts.out or io.stderr, total = opts.total,
    t0 = fm.now(), next = 0, interval = opts.interval or (mode == "bar" and 0.2 or 10),
    width = 30, drawn = false }, P)
end

local function clock(s)
  s = math.floor(s + 0.5)
  return ("%02d:%02d:%02d"):format(math.floor(s / 3600), math.floor(s % 3600 / 60), s % 60)
end

function P:render(done, hits, final)
  local now = fm.now()
  local dt = now - self.t0
  local rate = dt > 0 and done / dt or 0
  local total = self.total
  local pct = final and 100 or ((total and total > 0) and math.min(100, done * 100 / total) or nil)
  if final then total = nil end -- the end: the events read (the total counted lines, bad ones too)
  local eta
  if final then eta = 0
  elseif pct and rate > 0 and total then eta = math.max(0, (total - done) / rate) end
  if self.mode == "bar" then
    local fill = pct and math.floor(pct / 100 * self.width + 0.5) or 0
    local bar = ("="):rep(fill) .. (fill < self.width and ">" or "") .. (" "):rep(math.max(0, self.width - fill - 1))
    self.out:write(("\r[%s] %s %d%s events, %d detections, %.0f events/s, ETA %s  "):format(
      bar, pct and ("%3d%%"):format(math.floor(pct)) or "  ?%", done, total and ("/" .. total) or "",
      hits or 0, rate, eta and clock(eta) or "--:--:--"))
    if final then self.out:write("\n") end
    self.drawn = true
  else
    self.out:write(("fastmatch-hunt: %s %d%s events, %d detections, %.0f events/s, ETA %s\n"):format(
      pct and ("%d%%"):format(math.floor(pct)) or "?%", done, total and ("/" .. total) or "",
      hits or 0, rate, eta and clock(eta) or "unknown"))
  end
end

-- p:update(done, hits): maybe redraw (cheap when it does not)
function P:update(done, hits)
  if self.mode == "off" then return end
  local now = fm.now()
  if now < self.next then return end
  if self.mode == "line" and self.next == 0 then
    -- the first plain line only after an interval: short runs print just the last
    self.next = now + self.interval
    return
  end
  self.next = now + self.interval
  self:render(done, hits, false)
end

-- p:finish(done, hits): the last state (100%), and the line ended
function P:finish(done, hits)
  if self.mode == "off" then return end
  self:render(done, hits, true)
end

return P

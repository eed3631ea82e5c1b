-- fastmatch.hunt.timeline: where records go -- counted into the summary,
-- written in the profile and format chosen, in time order through a
-- bounded-memory sort (or as they come, with --no-sort).
--
--   local tl = TL.new{ write = function(text) -> ok, err end, profile=, format=,
--                      time=, utc=, sort = true, sort_limit = bytes }
--   tl:add(record) ...        -- from the scan, the correlation stage, workers
--   ok, err = tl:finish()     -- the sorted records written
-- Records are fastmatch.hunt.record tables; their order is record.key, which
-- does not depend on the order tl:add sees them in.

local output = require "fastmatch.hunt.output"
local record = require "fastmatch.hunt.record"
local Sort = require "fastmatch.hunt.sort"
local Sm = require "fastmatch.hunt.summary"

local TL = {}
TL.__index = TL

function TL.new(opts)
  local out = output.new(opts)
  local tl = setmetatable({
    write = opts.write, out = out, sort = opts.sort ~= false, count = 0,
    summary = opts.summary or Sm.new { time = opts.time, utc = opts.utc },
  }, TL)
  if tl.sort then tl.sorter = Sort.new { limit = opts.sort_limit, fanin = opts.fanin, tmpdir = opts.tmpdir } end
  if out.header then
    local ok, err = tl.write(out.header)
    if not ok then tl.err = err end
  end
  return tl
end

-- tl:add(rec) -> true | nil, err
function TL:add(rec)
  if self.err then return nil, self.err end
  self.count = self.count + 1
  self.summary:add(rec)
  local text = self.out.line(rec)
  local ok, err
  if self.sorter then ok, err = self.sorter:add(record.key(rec), text)
  else ok, err = self.write(text) end
  if not ok then self.err = err; return nil, err end
  return true
end

-- tl:finish() -> true | nil, err
function TL:finish()
  if self.err then
    if self.sorter then self.sorter:close() end
    return nil, self.err
  end
  if not self.sorter then return true end
  return self.sorter:finish(self.write)
end

-- what the sort did: records, runs spilled to disk, merge passes before the last
function TL:sort_stats()
  local s = self.sorter
  if not s then return nil end
  return { records = s.count, runs = s.spilled, passes = s.passes or 0 }
end

-- abandon: remove what the sort left on disk
function TL:close()
  if self.sorter then self.sorter:close() end
end

return TL

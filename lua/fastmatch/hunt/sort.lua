-- fastmatch.hunt.sort: the timeline's order in bounded memory.  Records are
-- kept as (key, text) until their bytes pass a limit; then the kept ones are
-- sorted and written to a temporary file (a run), and at the end the runs
-- are merged (a heap over one reader per run; more runs than `fanin` are
-- merged in passes).  The output is the same bytes as one in-memory sort:
-- an item is key .. "\0" .. text, compared as a whole (keys hold no NUL).
--
--   local s = Sort.new{ limit = bytes, fanin = 64 }
--   s:add(key, text) ... ; ok, err = s:finish(function(text) ... end)

local Sort = {}
Sort.__index = Sort

local PER_ITEM = 40 -- what a kept item costs beyond its bytes (table slot, string header)

-- Sort.new{limit=, fanin=, tmpdir=} (limit in bytes, default 256 MiB;
-- tmpdir: where runs go, default $TMPDIR or the C library's)
function Sort.new(opts)
  opts = opts or {}
  local dir = opts.tmpdir or os.getenv("TMPDIR")
  if dir == "" then dir = nil end
  return setmetatable({
    limit = opts.limit or 256 * 1024 * 1024, fanin = math.max(2, opts.fanin or 64), tmpdir = dir,
    buf = {}, n = 0, bytes = 0, runs = {}, spilled = 0, files = {}, count = 0,
  }, Sort)
end

local function tmpname(self)
  local p = os.tmpname()
  if self.tmpdir then
    os.remove(p)
    p = self.tmpdir .. "/" .. p:match("([^/]*)$")
  end
  self.files[#self.files + 1] = p
  return p
end

-- write items (sorted) to a new run file -> path | nil, err
local function write_run(self, items, n, iter)
  local path = tmpname(self)
  local f, err = io.open(path, "wb")
  if not f then return nil, "cannot write a sort run: " .. tostring(err) end
  local chunk, c = {}, 0
  local function put(item)
    c = c + 1
    chunk[c] = #item .. "\n" .. item
    if c >= 512 then
      local ok, werr = f:write(table.concat(chunk, "", 1, c))
      c = 0
      if not ok then return werr end
    end
  end
  local werr
  if items then
    for i = 1, n do werr = put(items[i]); if werr then break end end
  else
    for item in iter do werr = put(item); if werr then break end end
  end
  if not werr and c > 0 then
    local ok, e = f:write(table.concat(chunk, "", 1, c))
    if not ok then werr = e end
  end
  local cok, cerr = f:close()
  if werr or not cok then return nil, "cannot write a sort run: " .. tostring(werr or cerr) end
  return path
end

local function spill(self)
  local buf, n = self.buf, self.n
  table.sort(buf)
  local path, err = write_run(self, buf, n)
  if not path then return nil, err end
  self.runs[#self.runs + 1] = path
  self.spilled = self.spilled + 1
  self.buf, self.n, self.bytes = {}, 0, 0
  return true
end

-- s:add(key, text) -> true | nil, err (a run could not be written)
function Sort:add(key, text)
  local item = key .. "\0" .. text
  local n = self.n + 1
  self.buf[n], self.n = item, n
  self.count = self.count + 1
  self.bytes = self.bytes + #item + PER_ITEM
  if self.bytes > self.limit then return spill(self) end
  return true
end

-- A run's reader: -> function() -> item | nil
local function reader(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  return function()
    if not f then return nil end
    local len = f:read("*l")
    if not len then f:close(); f = nil; return nil end
    local item = f:read(tonumber(len))
    return item
  end
end

-- items of several runs, in order: -> iterator | nil, err
local function merged(paths)
  local heap, hn = {}, 0
  local function up(i)
    while i > 1 do
      local p = (i - i % 2) / 2
      if heap[p][1] <= heap[i][1] then break end
      heap[p], heap[i] = heap[i], heap[p]
      i = p
    end
  end
  local function down(i)
    while true do
      local l = 2 * i
      if l > hn then break end
      local m = l
      if l + 1 <= hn and heap[l + 1][1] < heap[l][1] then m = l + 1 end
      if heap[i][1] <= heap[m][1] then break end
      heap[i], heap[m] = heap[m], heap[i]
      i = m
    end
  end
  for _, p in ipairs(paths) do
    local rd, err = reader(p)
    if not rd then return nil, "cannot read a sort run: " .. tostring(err) end
    local first = rd()
    if first then
      hn = hn + 1
      heap[hn] = { first, rd }
      up(hn)
    end
  end
  return function()
    if hn == 0 then return nil end
    local top = heap[1]
    local item = top[1]
    local nxt = top[2]()
    if nxt then
      top[1] = nxt
    else
      heap[1] = heap[hn]
      heap[hn] = nil
      hn = hn - 1
    end
    if hn > 0 then down(1) end
    return item
  end
end

-- s:finish(emit) -> true | nil, err.  emit(text) for every text in order;
-- emit may return nil, err to stop (a write that failed).
function Sort:finish(emit)
  local ok, err = self:_finish(emit)
  self:close()
  if not ok then return nil, err end
  return true
end

local function text_of(item)
  return item:sub((item:find("\0", 1, true) or 0) + 1)
end

function Sort:_finish(emit)
  if #self.runs == 0 then
    local buf = self.buf
    table.sort(buf)
    for i = 1, self.n do
      local ok, err = emit(text_of(buf[i]))
      if ok == nil and err then return nil, err end
    end
    self.buf, self.n = {}, 0
    return true
  end
  if self.n > 0 then
    local ok, err = spill(self)
    if not ok then return nil, err end
  end
  -- merge passes until one heap can take every run
  local runs = self.runs
  while #runs > self.fanin do
    local batch, rest = {}, {}
    for i, p in ipairs(runs) do
      if i <= self.fanin then batch[#batch + 1] = p else rest[#rest + 1] = p end
    end
    local it, err = merged(batch)
    if not it then return nil, err end
    local path, werr = write_run(self, nil, nil, it)
    if not path then return nil, werr end
    for _, p in ipairs(batch) do os.remove(p) end
    rest[#rest + 1] = path
    runs = rest
    self.passes = (self.passes or 0) + 1
  end
  self.runs = runs
  local it, err = merged(runs)
  if not it then return nil, err end
  for item in it do
    local ok, eerr = emit(text_of(item))
    if ok == nil and eerr then return nil, eerr end
  end
  return true
end

-- remove the run files (finish does; call it when giving up early)
function Sort:close()
  for _, p in ipairs(self.files) do os.remove(p) end
  self.files, self.runs = {}, {}
end

return Sort

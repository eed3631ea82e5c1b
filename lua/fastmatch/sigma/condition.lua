-- fastmatch.sigma.condition: a rule's condition -> a tree, once.
--
-- Grammar (Sigma specification v2, precedence low to high: or, and, not):
--   expr    := and ('or' and)*
--   and     := unary ('and' unary)*
--   unary   := 'not' unary | '(' expr ')' | quant | name
--   quant   := ('1' | 'any' | 'all' | N) 'of' (pattern | 'them')
-- Keywords are caseless. Names may hold `*` in `x of` patterns. Aggregations
-- (`| count() > 5`) and `near` are not part of v2's core and are refused.
-- Tree nodes: {op="or"|"and", ...}, {op="not", x}, {op="sel", name=},
-- {op="of", n=<integer>|"all", names={...}}.

local M = {}

local function tokenize(s)
  local toks, i, n = {}, 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif c == "(" or c == ")" then
      toks[#toks + 1] = c; i = i + 1
    elseif c == "|" then
      return nil, "aggregation ('|') in the condition is not supported"
    else
      local w = s:match("^[^%s()|]+", i)
      toks[#toks + 1] = w; i = i + #w
    end
  end
  return toks
end

-- Sigma identifier pattern (`*` only) -> Lua pattern.
local function name_pattern(p)
  return "^" .. p:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*") .. "$"
end

-- names: the detection's selection names (sorted), for `of` and checks.
function M.parse(src, names)
  if type(src) ~= "string" then return nil, "condition is not a string" end
  local toks, err = tokenize(src)
  if not toks then return nil, err end
  local known = {}
  for _, nm in ipairs(names) do known[nm] = true end
  local pos = 1
  local function peek() local t = toks[pos]; return t and t:lower(), t end
  local function fail(msg) error({ msg = msg }, 0) end
  local expr

  local function unary()
    local t, raw = peek()
    if t == nil then fail("condition ends early") end
    if t == "not" then
      pos = pos + 1
      return { op = "not", unary() }
    elseif t == "(" then
      pos = pos + 1
      local e = expr()
      if peek() ~= ")" then fail("missing ')'") end
      pos = pos + 1
      return e
    elseif t == ")" then
      fail("unexpected ')'")
    elseif t == "and" or t == "or" or t == "of" then
      fail("unexpected '" .. raw .. "'")
    elseif t == "near" then
      fail("'near' is not supported")
    end
    local nxt = toks[pos + 1] and toks[pos + 1]:lower()
    if nxt == "of" then
      local n
      if t == "all" then n = "all"
      elseif t == "any" then n = 1
      else
        n = tonumber(t)
        if n and n ~= math.floor(n) then n = nil end
      end
      if not n or (n ~= "all" and n < 1) then fail("bad quantifier '" .. raw .. "'") end
      pos = pos + 2
      local _, target = peek()
      if not target or target == "(" or target == ")" then fail("'of' needs a name pattern or 'them'") end
      pos = pos + 1
      local sel = {}
      if target:lower() == "them" then
        -- pySigma leaves out names starting with '_' from 'them'
        for _, nm in ipairs(names) do
          if nm:sub(1, 1) ~= "_" then sel[#sel + 1] = nm end
        end
      else
        local lp = name_pattern(target)
        for _, nm in ipairs(names) do
          if nm:match(lp) then sel[#sel + 1] = nm end
        end
      end
      if #sel == 0 then fail("'" .. target .. "' names no selection") end
      return { op = "of", n = n, names = sel }
    end
    pos = pos + 1
    if not known[raw] then fail("unknown selection '" .. raw .. "'") end
    return { op = "sel", name = raw }
  end

  local function conj()
    local node = unary()
    while peek() == "and" do
      pos = pos + 1
      if node.op ~= "and" then node = { op = "and", node } end
      node[#node + 1] = unary()
    end
    return node
  end

  function expr()
    local node = conj()
    while peek() == "or" do
      pos = pos + 1
      if node.op ~= "or" then node = { op = "or", node } end
      node[#node + 1] = conj()
    end
    return node
  end

  local ok, tree = pcall(function()
    local t = expr()
    if pos <= #toks then fail("unexpected '" .. toks[pos] .. "'") end
    return t
  end)
  if not ok then
    if type(tree) == "table" then return nil, "condition: " .. tree.msg end
    error(tree, 0)
  end
  return tree
end

-- tree -> a Lua closure f(ctx); sels[name] is a closure f(ctx) -> boolean.
function M.compile(tree, sels)
  local op = tree.op
  if op == "sel" then
    return sels[tree.name]
  elseif op == "not" then
    local x = M.compile(tree[1], sels)
    return function(ctx) return not x(ctx) end
  elseif op == "and" or op == "or" then
    local fs = {}
    for i, sub in ipairs(tree) do fs[i] = M.compile(sub, sels) end
    if #fs == 2 then
      local a, b = fs[1], fs[2]
      if op == "and" then return function(ctx) return a(ctx) and b(ctx) end end
      return function(ctx) return a(ctx) or b(ctx) end
    end
    if op == "and" then
      return function(ctx)
        for i = 1, #fs do if not fs[i](ctx) then return false end end
        return true
      end
    end
    return function(ctx)
      for i = 1, #fs do if fs[i](ctx) then return true end end
      return false
    end
  elseif op == "of" then
    local fs = {}
    for i, nm in ipairs(tree.names) do fs[i] = sels[nm] end
    local n = tree.n
    if n == "all" then
      return function(ctx)
        for i = 1, #fs do if not fs[i](ctx) then return false end end
        return true
      end
    end
    return function(ctx)
      local c = 0
      for i = 1, #fs do
        if fs[i](ctx) then
          c = c + 1
          if c >= n then return true end
        end
      end
      return false
    end
  end
  error("fastmatch.sigma: bad condition node " .. tostring(op))
end

-- Kleene evaluation of the tree with each selection's value given (true,
-- false or nil for unknown): can the condition hold? Used to find rules that
-- may fire with no indexed value hit.
function M.kleene(tree, val)
  local op = tree.op
  if op == "sel" then return val[tree.name] end
  if op == "not" then
    local x = M.kleene(tree[1], val)
    if x == nil then return nil end
    return not x
  end
  local list, need
  if op == "of" then
    list = {}
    for i, nm in ipairs(tree.names) do list[i] = { op = "sel", name = nm } end
    need = tree.n == "all" and #list or tree.n
  else
    list = tree
    need = op == "and" and #list or 1
  end
  local t, u = 0, 0
  for _, sub in ipairs(list) do
    local x = M.kleene(sub, val)
    if x == true then t = t + 1 elseif x == nil then u = u + 1 end
  end
  if t >= need then return true end
  if t + u >= need then return nil end
  return false
end

-- A cover of the condition: a list of leaves one of which must hold for the
-- condition to hold, or nil when it cannot say (a `not`, a regex...).
-- leaf(name) gives a selection's cover; weight(list) rates a cover (higher is
-- better: rarer), to choose among the children of an `and`. Used for the
-- literals a line must hold and for the items that make a rule a candidate.
function M.cover(tree, leaf, weight)
  local op = tree.op
  if op == "sel" then return leaf(tree.name) end
  if op == "not" then return nil end
  local list, all
  if op == "of" then
    list = {}
    for i, nm in ipairs(tree.names) do list[i] = { op = "sel", name = nm } end
    -- `all of`: any one suffices; `n of` (n > 1) is covered by the union
    all = tree.n == "all"
  else
    list, all = tree, op == "and"
  end
  if all then
    local best, bw
    for _, sub in ipairs(list) do
      local r = M.cover(sub, leaf, weight)
      if r then
        local w = weight(r)
        if not best or w > bw then best, bw = r, w end
      end
    end
    return best
  end
  local out = {}
  for _, sub in ipairs(list) do
    local r = M.cover(sub, leaf, weight)
    if not r then return nil end
    for _, l in ipairs(r) do out[#out + 1] = l end
  end
  return out
end

-- Requirements of the condition: a list of covers (lists of leaves), each of
-- which must have a leaf that holds for the condition to hold. leaf(name)
-- gives a selection's; weight(leaf) rates a leaf (higher: rarer) to choose,
-- for an `or`, each branch's best cover, whose union is then one cover.
function M.requirements(tree, leaf, weight)
  local function cw(cover)
    local m = math.huge
    for _, l in ipairs(cover) do
      local w = weight(l)
      if w < m then m = w end
    end
    return m
  end
  local op = tree.op
  if op == "sel" then return leaf(tree.name) end
  if op == "not" then return {} end
  local list, all
  if op == "of" then
    list = {}
    for i, nm in ipairs(tree.names) do list[i] = { op = "sel", name = nm } end
    all = tree.n == "all"
  else
    list, all = tree, op == "and"
  end
  if all then
    local out = {}
    for _, sub in ipairs(list) do
      for _, c in ipairs(M.requirements(sub, leaf, weight)) do out[#out + 1] = c end
    end
    return out
  end
  local u = {}
  for _, sub in ipairs(list) do
    local r = M.requirements(sub, leaf, weight)
    if #r == 0 then return {} end
    local best, bw
    for _, c in ipairs(r) do
      local w = cw(c)
      if not best or w > bw then best, bw = c, w end
    end
    for _, l in ipairs(best) do u[#u + 1] = l end
  end
  return { u }
end

return M

-- fastmatch.sigma.event: one event -> its fields, as a rule reads them.
--
-- The reference, in Lua, of what the event model (csrc/evmodel.c) settles
-- in C for eng:match and the scan gate: what the model declines (a list
-- value, a table with a metatable, a number that is not an integer below
-- 2^53...) is flattened here, and the specs check the two agree.
--
-- Events are flattened once into name -> text (or an array of texts for list
-- values). The first writer wins, in the order the lookup rule gives: the
-- flat event's own fields, Event.EventData, Event.UserData.<any>, Event.System
-- (with `#attributes` as <element>_<attribute>, e.g. Provider_Name).

local type, pairs, ipairs, tostring, floor = type, pairs, ipairs, tostring, math.floor

local M = {}

-- A number as a rule or an event writes it: integral values as decimal
-- digits (JSON numbers arrive as floats: 4688 must read "4688"), others as
-- tostring has them.  Arithmetic only, so that it means the same on Lua
-- 5.1-5.4 and LuaJIT (no math.type / math.tointeger before 5.3).
local function number_text(v)
  if v == floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return ("%d"):format(v) end
  return tostring(v)
end
M.number_text = number_text

-- number -> text, remembered: events repeat their numbers (EventID, Level,
-- Version...); emptied when it grows, so varying ones (record ids) cannot fill it
local numtext, nnum = {}, 0

local function text(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    local s = numtext[v]
    if s then return s end
    s = number_text(v)
    if v == v then  -- not NaN
      if nnum >= 4096 then numtext, nnum = {}, 0 end
      numtext[v], nnum = s, nnum + 1
    end
    return s
  end
  if t == "boolean" then return tostring(v) end
  return nil  -- JSON/YAML null, userdata: absent
end
M.text = text

-- name -> the name without spaces, or false: computed once per name
local despaced = setmetatable({}, { __mode = "k", __index = function(t, k)
  local k2 = k:find(" ", 1, true) and k:gsub(" ", "") or false
  t[k] = k2
  return k2
end })

local function put(f, k, v)
  if v == nil then return end
  if f[k] == nil then f[k] = v end
  -- Defender's "Threat Name" is the rule's ThreatName (as SigmaHQ's CI reads it)
  local k2 = despaced[k]
  if k2 and f[k2] == nil then f[k2] = v end
end

-- A composed name (a.b, Element_Attr) repeats its prefix for every field
-- under it: one long key over nested objects would make names far longer
-- than the line (a 2 MB line, 26 GB of names). No rule reads a field named
-- that long: past MAXNAME (the event model's cap, csrc/evmodel.h) the
-- values still count for keywords, as the list f[LONG], and no longer name
-- is made.
local MAXNAME, LONG = require("fastmatch.core").event_maxname, "\0long" -- csrc/evmodel.h's
M.MAXNAME, M.LONG = MAXNAME, LONG

local function spill(f, v, depth)
  local l = f[LONG]
  if type(l) ~= "table" then l = {}; f[LONG] = l end
  if type(v) ~= "table" then
    local s = text(v)
    if s ~= nil then l[#l + 1] = s end
  elseif depth < 64 then
    for _, x in pairs(v) do spill(f, x, depth + 1) end
  end
end

local function scalars(t)
  local out = {}
  for i = 1, #t do
    local s = text(t[i])
    if s == nil and type(t[i]) == "table" then s = text(t[i]["#text"]) end
    if s ~= nil then out[#out + 1] = s end
  end
  return out
end

-- EventData / UserData children: names -> values; nested maps by leaf names.
local function put_data(f, t)
  for k, v in pairs(t) do
    local tv = type(v)
    if type(k) ~= "string" or k:byte(1) == 35 then  -- '#': attributes, text
      -- not a field
    elseif tv == "string" and f[k] == nil and not despaced[k] then
      f[k] = v  -- the common case, inline
    else
      if tv ~= "table" then
        put(f, k, text(v))
      elseif v["#text"] ~= nil then
        put(f, k, text(v["#text"]))
      elseif v[1] ~= nil then
        -- <Data Name="x">v</Data> elements, or unnamed data as a list
        local named = false
        for _, d in ipairs(v) do
          local a = type(d) == "table" and d["#attributes"]
          if type(a) == "table" and a.Name then
            named = true
            put(f, tostring(a.Name), text(d["#text"]))
          end
        end
        if not named then put(f, k, scalars(v)) end
      else
        put_data(f, v)
      end
    end
  end
end

-- element -> attribute -> "<element>_<attribute>", made once
local attr_names = setmetatable({}, { __index = function(t, k)
  local v = {}
  t[k] = v
  return v
end })

local function put_system(f, t, prefix)
  for k, v in pairs(t) do
    if type(k) == "string" and #prefix + #k > MAXNAME then
      spill(f, v, 0)
    elseif type(k) == "string" then
      local name = prefix == "" and k or prefix .. k
      if type(v) ~= "table" then
        put(f, name, text(v))
      else
        for ck, cv in pairs(v) do
          if ck == "#attributes" then
            if type(cv) == "table" then
              local names = attr_names[name]
              for ak, av in pairs(cv) do
                local an = names[ak]
                if not an then
                  if #name + #tostring(ak) >= MAXNAME then an = false
                  else an = name .. "_" .. ak end
                  names[ak] = an
                end
                if an then put(f, an, text(av)) else spill(f, av, 0) end
              end
            end
          elseif ck == "#text" then
            put(f, name, text(cv))
          elseif type(ck) == "string" then
            put_system(f, { [ck] = cv }, name .. "_")
          end
        end
      end
    end
  end
end

local function put_flat(f, t, prefix)
  for k, v in pairs(t) do
    if type(k) == "string" and #prefix + #k > MAXNAME then
      spill(f, v, 0)
    elseif type(k) == "string" then
      local name = prefix .. k
      if type(v) == "table" then
        if v[1] ~= nil then put(f, name, scalars(v))
        elseif next(v) ~= nil then put_flat(f, v, name .. ".") end
      else
        put(f, name, text(v))
      end
    end
  end
end

-- f: a table to fill (empty), or nil for a new one
local function flatten(event, f)
  f = f or {}
  local E = event.Event
  if type(E) == "table" then
    for k, v in pairs(event) do
      if k ~= "Event" and type(k) == "string" then
        if type(v) == "table" then put_flat(f, v, k .. ".") else put(f, k, text(v)) end
      end
    end
    if type(E.EventData) == "table" then put_data(f, E.EventData) end
    if type(E.UserData) == "table" then
      for _, child in pairs(E.UserData) do
        if type(child) == "table" then put_data(f, child) end
      end
    end
    if type(E.System) == "table" then put_system(f, E.System, "") end
  else
    put_flat(f, event, "")
  end
  return f
end
M.flatten = flatten
return M

-- fastmatch.sigma.program: the engine's index and its rules' conditions
-- compiled to the gate's program (the VM in csrc/gatevm.c, loaded by
-- csrc/gateload.c): which rules can an event fire, decided in C, for a
-- JSON line before it is decoded (the scan gate) and for an event table
-- (eng:match).
--
-- The program reuses what eng:match builds per variant (a logsource mapping):
-- the pattern sets of each event field, and for each pattern the rules whose
-- gates it opens. It adds, per rule, its condition in postfix over its
-- items, evaluated in three-valued logic: a wildcard value is decided by the
-- sets' hits, null and exists by the field's presence, a regex by running it
-- (not run when its required literal, its guard, did not match), a fieldref
-- by comparing the two fields, an IPv4 network by the address; anything else
-- (comparisons, an IPv6 network, a wildcard no set holds) is unknown unless
-- another value of its group decided it. A line passes when some rule's
-- condition is true or unknown, so the gate never drops a line that
-- eng:match would fire on.
--
-- The opcodes, flags and limits are csrc/gatevm.h's, read from the binding
-- (core.gate_codes): written once, in C.

local lower = string.lower
local type, pairs, ipairs = type, pairs, ipairs
local core = require "fastmatch.core"

local M = {}

local C = core.gate_codes
local OP, G, HOW, K = C.ops, C.flags, C.refs, C.kleene
local OP_END, OP_ITEM, OP_NOT, OP_ATLEAST, OP_CONST = OP.END, OP.ITEM, OP.NOT, OP.ATLEAST, OP.CONST
local G_NULL, G_EXISTS, G_ABSENT, G_OTHER, G_GUARDS, G_CIDR6, G_CMP =
  G.NULL, G.EXISTS, G.ABSENT, G.OTHER, G.GUARDS, G.CIDR6, G.CMP
-- flags | f, without 5.3's operators (this file runs on 5.1 and LuaJIT too)
local function with(flags, f)
  if flags % (2 * f) < f then return flags + f end
  return flags
end
local K_U = K.U
local MAXSTACK = C.maxstack

-- eng: a built engine (not in regex mode); KW: its keyword field name.
-- Returns the table core._sigma_gate takes.
function M.build(eng, KW)
  local names, id = {}, {}
  local function fid(name)
    if name == KW then return 0 end
    local i = id[name]
    if not i then
      i = #names + 1
      names[i], id[name] = name, i
    end
    return i
  end
  local variants, regexes, rx_at = {}, {}, {}
  local function rx_index(rx)
    local i = rx_at[rx]
    if not i then
      regexes[#regexes + 1] = rx
      i = #regexes - 1
      rx_at[rx] = i
    end
    return i
  end
  for _, v in ipairs(eng.variant_list) do
    local spec = { conds = {}, probes = {}, trig = {}, full = {}, always = {}, prog = {}, code = {},
      ids = {} }
    for _, c in ipairs(v.conds) do
      local cc = { fid(c.field) }
      for _, x in ipairs(c.values) do cc[#cc + 1] = lower(tostring(x)) end
      spec.conds[#spec.conds + 1] = cc
    end
    local slot = {}
    for i, rule in ipairs(v.rules) do slot[rule] = i end
    -- bits: every pattern of every set of the variant; bit[name][key]
    local nbits, bit = 0, {}
    local function add_sets(name, e)
      local byname = bit[name] or {}
      bit[name] = byname
      for _, side in ipairs { "ci", "cs" } do
        local set, keys, trig = e[side], e[side .. "_keys"], e[side .. "_trig"]
        if set then
          spec.probes[#spec.probes + 1] = { fid(name), set, nbits }
          for i, key in ipairs(keys) do
            local b = nbits + i - 1
            byname[key] = b
            local t = trig[i]
            if t then
              for j = 1, #t, 2 do
                local s = slot[t[j]]
                if s then
                  local tr = spec.trig
                  tr[#tr + 1], tr[#tr + 2], tr[#tr + 3] = b, s, t[j + 1]
                end
              end
            end
          end
          nbits = nbits + #keys
        end
      end
    end
    for name, e in pairs(v.fields) do add_sets(name, e) end
    if v.kw then add_sets(KW, v.kw) end
    spec.nbits = nbits

    local code = spec.code
    local ncode = 0  -- #code, kept: the length operator is a search each time
    local function emit(x) ncode = ncode + 1; code[ncode] = x end
    local function item_code(item)
      local name = item.keyword and KW or (v.rename[item.field] or item.field)
      local byname = bit[name] or {}
      emit(OP_ITEM); emit(fid(name)); emit(item.all and 1 or 0); emit(#item.groups)
      for _, g in ipairs(item.groups) do
       if g.wc then
        -- the common group, wildcards only: their bits written as found (a
        -- wildcard no set holds makes the group unknown), no tables made
        local alts = g.alts
        local at = ncode
        emit(0); emit(0)
        local nb, flags = 0, 0
        for i = 1, #alts do
          local b = byname[alts[i].key]
          if b then nb = nb + 1; emit(b) else flags = G_OTHER end
        end
        code[at + 1], code[at + 2] = flags, nb
        emit(0); emit(0); emit(0)
       else
        local flags, bits, res, refs, cidrs = 0, {}, {}, {}, {}
        local guards = g.guards
        if guards then
          -- regexes each behind a literal: not run unless a guard matched
          for _, gd in ipairs(guards) do
            local b = byname["0" .. gd.pattern]
            if not b then guards = nil; break end
            bits[#bits + 1] = b
          end
          if guards then flags = G_GUARDS else bits = {} end
        end
        for _, alt in ipairs(g.alts) do
          local k = alt.kind
          if k == "wc" and not guards and alt.key and byname[alt.key] then
            bits[#bits + 1] = byname[alt.key]
          elseif k == "null" then
            flags = with(flags, G_NULL)
          elseif k == "exists" then
            flags = with(flags, alt.want and G_EXISTS or G_ABSENT)
          elseif k == "re" and not item.keyword and type(alt.regex) == "userdata" then
            res[#res + 1] = rx_index(alt.regex)
          elseif k == "fieldref" and not item.keyword and HOW[alt.how] then
            refs[#refs + 1] = { fid(v.rename[alt.field] or alt.field), HOW[alt.how], alt.cased and 1 or 0 }
          elseif k == "cidr" and alt.v == 4 and not item.keyword then
            -- the network's top bits: net = floor(address / unit), unit = 2^(32 - bits)
            local nb, u = 32, alt.unit
            while u > 1 do u = u / 2; nb = nb - 1 end
            cidrs[#cidrs + 1] = { math.floor(alt.net / 65536), alt.net % 65536, nb }
          elseif k == "cidr" and alt.v == 6 and not item.keyword then
            flags = with(flags, G_CIDR6)
          elseif k == "cmp" then
            flags = with(flags, G_CMP)
          else
            flags = with(flags, G_OTHER)
          end
        end
        emit(flags); emit(#bits)
        for _, b in ipairs(bits) do emit(b) end
        emit(#res)
        for _, r in ipairs(res) do emit(r) end
        emit(#refs)
        for _, r in ipairs(refs) do emit(r[1]); emit(r[2]); emit(r[3]) end
        emit(#cidrs)
        for _, c in ipairs(cidrs) do emit(c[1]); emit(c[2]); emit(c[3]) end
       end
      end
    end
    -- returns the stack depth the code needs
    local function sel_code(node)
      if node.op == "or" then
        local d = 0
        for i, sub in ipairs(node) do
          local sd = sel_code(sub)
          if i - 1 + sd > d then d = i - 1 + sd end
        end
        if #node ~= 1 then emit(OP_ATLEAST); emit(1); emit(#node) end
        return d
      end
      for _, item in ipairs(node) do item_code(item) end
      if #node ~= 1 then emit(OP_ATLEAST); emit(#node); emit(#node) end
      return #node
    end
    local function tree_code(t, nodes)
      local op = t.op
      if op == "sel" then return sel_code(nodes[t.name]) end
      if op == "not" then
        local d = tree_code(t[1], nodes)
        emit(OP_NOT)
        return d
      end
      local list, need
      if op == "of" then
        list = {}
        for i, nm in ipairs(t.names) do list[i] = { op = "sel", name = nm } end
        need = t.n == "all" and #list or t.n
      else
        list = t
        need = op == "and" and #list or 1
      end
      if #list == 0 then emit(OP_CONST); emit(K_U); return 1 end
      local d = 0
      for i, sub in ipairs(list) do
        local sd = tree_code(sub, nodes)
        if i - 1 + sd > d then d = i - 1 + sd end
      end
      emit(OP_ATLEAST); emit(need); emit(#list)
      return d
    end
    for i, rule in ipairs(v.rules) do
      local at = ncode + 1
      spec.prog[i] = at
      spec.full[i] = rule.full or 0
      spec.ids[i] = rule.index
      spec.always[i] = (rule.always or eng.regex) and 1 or 0
      local ok, depth = false, MAXSTACK + 1
      if rule.tree and rule.nodes then ok, depth = pcall(tree_code, rule.tree, rule.nodes) end
      if not ok or depth > MAXSTACK then
        -- (never for SigmaHQ) a condition too deep: always unknown
        for k = ncode, at, -1 do code[k] = nil end
        ncode = at - 1
        emit(OP_CONST); emit(K_U)
        spec.always[i] = 1
      end
      emit(OP_END)
    end
    variants[#variants + 1] = spec
  end
  return { names = names, variants = variants, regexes = regexes }
end

return M

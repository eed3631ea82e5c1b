-- require "fastmatch.mimalloc" switches the running Lua state's allocator to
-- mimalloc, so `lua5.4 -l fastmatch.mimalloc script.lua` runs any script on
-- it.  Returns what fastmatch.use_mimalloc() returned: true, or false and the
-- reason (a MIMALLOC=0 build).
-- Where the VM itself forbids the switch (LuaJIT), it says so on stderr
-- and the script runs on its own allocator.
local core = require "fastmatch.core"
local ok, why = core.use_mimalloc()
if not ok and rawget(_G, "jit") then
  io.stderr:write("fastmatch.mimalloc: ", why, "; running on LuaJIT's own allocator\n")
end
return { ok = ok, reason = why }

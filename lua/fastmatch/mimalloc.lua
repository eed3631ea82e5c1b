-- require "fastmatch.mimalloc" switches the running Lua state's allocator to
-- mimalloc, so `lua5.4 -l fastmatch.mimalloc script.lua` runs any script on
-- it.  Returns what fastmatch.use_mimalloc() returned: true, or false and the
-- reason (a MIMALLOC=0 build).
local core = require "fastmatch.core"
local ok, why = core.use_mimalloc()
return { ok = ok, reason = why }

rockspec_format = "3.0"
package = "fastmatch"
version = "scm-1"
source = {
   url = "git+file://./",
}
description = {
   summary = "Fast matching and IO for Lua 5.1-5.4 and LuaJIT: cached JIT PCRE2, Sigma wildcards, streaming lines, mimalloc",
   detailed = [[
fastmatch makes the fast way of matching and IO the easy way: cached,
JIT-compiled PCRE2 regexes (and a drop-in for lrexlib's rex_pcre2), Sigma-rule
wildcards that never touch a regex engine, line iterators that filter in C,
buffered writers, and mimalloc underneath.
]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.1, < 5.5",
}
external_dependencies = {
   PCRE2 = { header = "pcre2.h", library = "pcre2-8" },
   MIMALLOC = { header = "mimalloc.h", library = "mimalloc" },
}
-- The Makefile is the one build definition; luarocks passes it the paths it
-- found (multiarch lib dirs included), its interpreter (LUA: which Lua to
-- build for, so a 5.1 build goes to build/5.1/ and never over the clone's
-- 5.4 module) and where to install.
build = {
   type = "make",
   build_target = "all",
   build_variables = {
      LUA = "$(LUA)",
      CFLAGS = "$(CFLAGS)",
      LUA_INCDIR = "$(LUA_INCDIR)",
      PCRE2_INCDIR = "$(PCRE2_INCDIR)",
      PCRE2_LIBDIR = "$(PCRE2_LIBDIR)",
      MIMALLOC_INCDIR = "$(MIMALLOC_INCDIR)",
      MIMALLOC_LIBDIR = "$(MIMALLOC_LIBDIR)",
   },
   install_target = "install",
   -- The Makefile installs lua/fastmatch/*.lua; the Sigma engine's stages
   -- live one level down. It reads rules with libyaml when the Makefile finds
   -- yaml.h (libyaml-dev; core._yaml), else with lyaml; it needs lua-cjson at
   -- run time (loaded
   -- only by fastmatch.sigma); they are not listed as dependencies so that
   -- `luarocks make` keeps working offline with the distribution's packages.
   -- The command-line hunter is installed as fastmatch-hunt (luarocks wraps
   -- it to run on this Lua).
   install = {
      lua = {
         ["fastmatch.sigma.cache"] = "lua/fastmatch/sigma/cache.lua",
         ["fastmatch.sigma.condition"] = "lua/fastmatch/sigma/condition.lua",
         ["fastmatch.sigma.event"] = "lua/fastmatch/sigma/event.lua",
         ["fastmatch.sigma.gate"] = "lua/fastmatch/sigma/gate.lua",
         ["fastmatch.sigma.logsource"] = "lua/fastmatch/sigma/logsource.lua",
         ["fastmatch.sigma.modifiers"] = "lua/fastmatch/sigma/modifiers.lua",
         ["fastmatch.sigma.rule"] = "lua/fastmatch/sigma/rule.lua",
         ["fastmatch.sigma.yaml"] = "lua/fastmatch/sigma/yaml.lua",
      },
      bin = { ["fastmatch-hunt"] = "bin/fastmatch-hunt" },
   },
   install_variables = {
      LUA = "$(LUA)",
      INST_LIBDIR = "$(LIBDIR)",
      INST_LUADIR = "$(LUADIR)",
      LUA_INCDIR = "$(LUA_INCDIR)",
   },
}

# fastmatch -- the one entry point: build, test, bench, experiments.
#
#   make                  build fastmatch/core.so (mimalloc underneath)
#   make MIMALLOC=0       the same module on libc malloc (for valgrind/heaptrack)
#   make test             install what is missing, build, run the whole suite
#   make experiments      the main job: the guide's experiments (QUICK=1: smoke run)
#   make bench            the benchmarks (ratios measured side by side)
#   make deps             apt-get install what is missing (Debian/Ubuntu)
#   make install          copy the module into INST_LIBDIR / INST_LUADIR (luarocks)
#
# Always run Lua 5.4 explicitly: on Debian, installing busted makes
# /usr/bin/lua Lua 5.1.

LUA        ?= lua5.4
BUSTED     ?= /usr/bin/busted
PKG_CONFIG ?= pkg-config
CC         ?= cc
MIMALLOC   ?= 1
CFLAGS     ?= -O2 -g
QUICK      ?=

LUA_INCDIR    ?= $(patsubst -I%,%,$(firstword $(shell $(PKG_CONFIG) --cflags-only-I lua5.4 2>/dev/null)))
LUA_INCDIR    := $(if $(LUA_INCDIR),$(LUA_INCDIR),/usr/include/lua5.4)
PCRE2_CFLAGS  ?= $(shell $(PKG_CONFIG) --cflags libpcre2-8 2>/dev/null)
PCRE2_LIBS    ?= $(or $(shell $(PKG_CONFIG) --libs libpcre2-8 2>/dev/null),-lpcre2-8)
# luarocks passes these (external_dependencies); empty in a plain build
PCRE2_INCDIR  ?=
PCRE2_LIBDIR  ?=
MIMALLOC_INCDIR ?=
MIMALLOC_LIBDIR ?=

# One build directory per variant, so MIMALLOC=0 and sanitizer builds never
# overwrite the default module; the default one is ./fastmatch/core.so.
VARIANT ?= $(if $(filter 0,$(MIMALLOC)),libc,default)
SODIR   := $(if $(filter default,$(VARIANT)),.,build/$(VARIANT))
OBJDIR  := build/$(VARIANT)/obj
SO      := $(SODIR)/fastmatch/core.so

SRCS := $(wildcard csrc/*.c)
HDRS := $(wildcard csrc/*.h)
OBJS := $(patsubst csrc/%.c,$(OBJDIR)/%.o,$(SRCS))

FM_CPPFLAGS := -I$(LUA_INCDIR) $(PCRE2_CFLAGS) $(if $(PCRE2_INCDIR),-I$(PCRE2_INCDIR)) \
               -DFM_MIMALLOC=$(if $(filter 0,$(MIMALLOC)),0,1) -D_GNU_SOURCE
FM_CFLAGS   := -std=gnu11 -fPIC -Wall -Wextra $(CFLAGS)
# -z nodelete: Lua 5.4 dlcloses C modules while closing a state, before its
# last frees; a state switched to our allocator still needs our code then.
FM_LDFLAGS  := -shared -Wl,-z,nodelete $(LDFLAGS) $(if $(PCRE2_LIBDIR),-L$(PCRE2_LIBDIR))
FM_LIBS     := $(PCRE2_LIBS)
ifneq ($(MIMALLOC),0)
FM_CPPFLAGS += $(if $(MIMALLOC_INCDIR),-I$(MIMALLOC_INCDIR))
FM_LDFLAGS  += $(if $(MIMALLOC_LIBDIR),-L$(MIMALLOC_LIBDIR))
FM_LIBS     += -lmimalloc
endif

# Rebuild when the flags change, not only when sources do.
FLAGS_STAMP := build/$(VARIANT)/flags
FLAGS_NOW   := $(CC) $(FM_CPPFLAGS) $(FM_CFLAGS) $(FM_LDFLAGS) $(FM_LIBS)

.PHONY: all deps deps-experiments test test-one bench experiments install clean FORCE
all: $(SO)

$(FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(FLAGS_NOW)' | cmp -s - $@ || echo '$(FLAGS_NOW)' > $@

$(OBJDIR)/%.o: csrc/%.c $(HDRS) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(FM_CPPFLAGS) $(FM_CFLAGS) -c -o $@ $<

$(SO): $(OBJS) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(FM_CFLAGS) $(FM_LDFLAGS) -o $@ $(OBJS) $(FM_LIBS)

# ---------------------------------------------------------------- deps
DEB_BUILD := make gcc pkg-config lua5.4 liblua5.4-dev libpcre2-dev libmimalloc-dev
DEB_TEST  := lua-busted luarocks lua-rex-pcre2 lua-lpeg valgrind
DEB_MORE  := time
DEB_PKGS  ?= $(DEB_BUILD) $(DEB_TEST) $(DEB_MORE)

deps:
	@missing=""; \
	if ! command -v dpkg-query >/dev/null 2>&1; then \
	  echo "fastmatch: no apt/dpkg here; install: Lua 5.4 + headers, PCRE2 (8-bit) + headers, mimalloc + headers, busted (for Lua 5.4), luarocks"; exit 1; fi; \
	for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if ! command -v apt-get >/dev/null 2>&1; then echo "fastmatch: missing packages:$$missing"; exit 1; fi; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "fastmatch: installing$$missing"; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing; \
	fi

# ---------------------------------------------------------------- tests
# The tree's build first on the paths; LUA_PATH_5_4 wins over LUA_PATH in
# lua5.4, so set the versioned names.
RUNENV = LUA_PATH_5_4='$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;' \
         LUA_CPATH_5_4='$(CURDIR)/$(SODIR)/?.so;;' FM_SODIR='$(CURDIR)/$(SODIR)' \
         FM_MIMALLOC=$(MIMALLOC)
SPECS ?= spec
BUSTED_FLAGS ?=

# The whole suite three ways: on the default build, with the Lua state itself
# switched to mimalloc (-l fastmatch.mimalloc), and on the MIMALLOC=0 build.
test: deps
	$(MAKE) --no-print-directory test-one
	$(MAKE) --no-print-directory test-one LUAFLAGS='-l fastmatch.mimalloc' FM_SUITE=mimalloc-state
	$(MAKE) --no-print-directory test-one MIMALLOC=0

test-one: all
	@echo "== fastmatch suite: variant=$(VARIANT) $(LUAFLAGS)"
	$(RUNENV) FM_SUITE=$(or $(FM_SUITE),$(VARIANT)) $(LUA) $(LUAFLAGS) $(BUSTED) $(BUSTED_FLAGS) $(SPECS)

bench: deps all
	$(RUNENV) $(LUA) examples/run_all.lua --bench $(if $(QUICK),--quick)

# The experiments also use heaptrack (experiment 14); it is optional: when it
# cannot be installed, the experiment says so and the rest runs.
DEB_EXPERIMENTS ?= heaptrack
deps-experiments: deps
	@if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  for p in $(DEB_EXPERIMENTS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' && continue; \
	    echo "fastmatch: installing $$p (optional, for the experiments)"; \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$p >/dev/null 2>&1 || \
	    { $$sudo apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$p >/dev/null 2>&1; } || \
	    echo "fastmatch: could not install $$p; the experiment that uses it will say so"; \
	  done; \
	fi

experiments: deps-experiments all
	$(RUNENV) $(LUA) examples/run_all.lua --experiments $(if $(QUICK),--quick)

# ---------------------------------------------------------------- install
INST_LIBDIR ?= $(DESTDIR)/usr/local/lib/lua/5.4
INST_LUADIR ?= $(DESTDIR)/usr/local/share/lua/5.4
install: all
	mkdir -p $(INST_LIBDIR)/fastmatch $(INST_LUADIR)/fastmatch
	cp $(SO) $(INST_LIBDIR)/fastmatch/core.so
	cp lua/fastmatch/*.lua $(INST_LUADIR)/fastmatch/

clean:
	rm -rf build fastmatch results

# fastmatch -- the one entry point: build, test, bench, experiments.
#
#   make                  build fastmatch/core.so (mimalloc underneath)
#   make MIMALLOC=0       the same module on libc malloc (for valgrind/heaptrack)
#   make LUA=5.1|5.2|5.3|5.4|luajit
#                         the module for that Lua, into build/<lua>/ (5.4 is
#                         the default build, ./fastmatch/core.so)
#   make test             install what is missing, build, run the whole suite
#                         (5.4 three ways, every other installed Lua once),
#                         then say which Luas ran and which were skipped, why
#   make test-hosts       the nginx (LuaJIT) and HAProxy (Lua 5.3) host specs
#   make experiments      the main job: the guide's experiments (QUICK=1: smoke run)
#   make bench            the benchmarks (ratios measured side by side)
#   make deps             apt-get install what is missing (Debian/Ubuntu)
#   make deps-browser     Chromium, for the hunt's HTML report spec (optional)
#   make install          the module and the commands of bin/ into PREFIX
#                         (/usr/local; DESTDIR= stages; luarocks: INST_*DIR)
#   make sanitize         the suite on an ASan+UBSan build (zero reports or fail)
#   make valgrind         the suite under valgrind on the MIMALLOC=0 build
#   make fuzz             every csrc/fuzz/fuzz_*.c for FUZZ_SECONDS each (libFuzzer)
#
# Always run Lua 5.4 explicitly: on Debian, installing busted makes
# /usr/bin/lua Lua 5.1.

# LUA names the Lua to build for: 5.1, 5.2, 5.3, 5.4 (default) or luajit.
# An interpreter name or path is accepted too (lua5.3, /usr/bin/lua5.1,
# luajit): luarocks passes its interpreter's path as LUA.
LUA        ?= 5.4
LUAV       := $(notdir $(LUA))
LUAV       := $(if $(filter luajit%,$(LUAV)),luajit,$(patsubst lua%,%,$(LUAV)))
ifeq ($(filter 5.1 5.2 5.3 5.4 luajit,$(LUAV)),)
$(error LUA=$(LUA): want one of 5.1 5.2 5.3 5.4 luajit)
endif
# the interpreter, the pkg-config name, the ABI (the 5.1 paths for LuaJIT)
LUA_BIN    := $(if $(filter luajit,$(LUAV)),luajit,lua$(LUAV))
LUA_PC     := $(LUA_BIN)
LUA_ABI    := $(if $(filter luajit,$(LUAV)),5.1,$(LUAV))
# the versioned path variables a lua5.N reads first (5.1 and LuaJIT: none)
LUA_PATHVAR  := $(if $(filter 5.1,$(LUA_ABI)),LUA_PATH,LUA_PATH_$(subst .,_,$(LUA_ABI)))
LUA_CPATHVAR := $(if $(filter 5.1,$(LUA_ABI)),LUA_CPATH,LUA_CPATH_$(subst .,_,$(LUA_ABI)))
BUSTED     ?= /usr/bin/busted
PKG_CONFIG ?= pkg-config
CC         ?= cc
MIMALLOC   ?= 1
CFLAGS     ?= -O2 -g
QUICK      ?=

LUA_INCDIR    ?= $(patsubst -I%,%,$(firstword $(shell $(PKG_CONFIG) --cflags-only-I $(LUA_PC) 2>/dev/null)))
LUA_INCDIR    := $(if $(LUA_INCDIR),$(LUA_INCDIR),$(if $(filter luajit,$(LUAV)),/usr/include/luajit-2.1,/usr/include/lua$(LUAV)))
PCRE2_CFLAGS  ?= $(shell $(PKG_CONFIG) --cflags libpcre2-8 2>/dev/null)
PCRE2_LIBS    ?= $(or $(shell $(PKG_CONFIG) --libs libpcre2-8 2>/dev/null),-lpcre2-8)
# libyaml (optional): core._yaml, the rule reader (csrc/yaml.c); without it
# fastmatch.sigma reads rules with lyaml. YAML=0 builds without it.
YAML_INCDIR   ?=
YAML_LIBDIR   ?=
YAML          ?= $(if $(wildcard $(or $(YAML_INCDIR),/usr/include)/yaml.h),1,$(if $(shell $(PKG_CONFIG) --exists yaml-0.1 2>/dev/null && echo y),1,0))
YAML_CFLAGS   := $(if $(filter 1,$(YAML)),-DFM_YAML=1 $(if $(YAML_INCDIR),-I$(YAML_INCDIR)) $(shell $(PKG_CONFIG) --cflags yaml-0.1 2>/dev/null),-DFM_YAML=0)
YAML_LIBS     := $(if $(filter 1,$(YAML)),$(if $(YAML_LIBDIR),-L$(YAML_LIBDIR)) -lyaml)
# luarocks passes these (external_dependencies); empty in a plain build
PCRE2_INCDIR  ?=
PCRE2_LIBDIR  ?=
MIMALLOC_INCDIR ?=
MIMALLOC_LIBDIR ?=

# One build directory per variant, so MIMALLOC=0, sanitizer and other-Lua
# builds never overwrite the default module; the default one (Lua 5.4) is
# ./fastmatch/core.so, the others build/<lua>/ (build/<lua>-libc/ with
# MIMALLOC=0).
ifeq ($(LUAV),5.4)
VARIANT ?= $(if $(filter 0,$(MIMALLOC)),libc,default)
else
VARIANT ?= $(LUAV)$(if $(filter 0,$(MIMALLOC)),-libc)
endif
SODIR   := $(if $(filter default,$(VARIANT)),.,build/$(VARIANT))
OBJDIR  := build/$(VARIANT)/obj
SO      := $(SODIR)/fastmatch/core.so

SRCS := $(wildcard csrc/*.c)
HDRS := $(wildcard csrc/*.h)
OBJS := $(patsubst csrc/%.c,$(OBJDIR)/%.o,$(SRCS))

FM_CPPFLAGS := -I$(LUA_INCDIR) $(PCRE2_CFLAGS) $(if $(PCRE2_INCDIR),-I$(PCRE2_INCDIR)) \
               -DFM_MIMALLOC=$(if $(filter 0,$(MIMALLOC)),0,1) -D_GNU_SOURCE $(YAML_CFLAGS)
FM_CFLAGS   := -std=gnu11 -fPIC -Wall -Wextra $(CFLAGS)
# -z nodelete: Lua 5.4 dlcloses C modules while closing a state, before its
# last frees; a state switched to our allocator still needs our code then.
FM_LDFLAGS  := -shared -Wl,-z,nodelete $(LDFLAGS) $(if $(PCRE2_LIBDIR),-L$(PCRE2_LIBDIR))
FM_LIBS     := $(PCRE2_LIBS) $(YAML_LIBS) -pthread
ifneq ($(MIMALLOC),0)
FM_CPPFLAGS += $(if $(MIMALLOC_INCDIR),-I$(MIMALLOC_INCDIR))
FM_LDFLAGS  += $(if $(MIMALLOC_LIBDIR),-L$(MIMALLOC_LIBDIR))
FM_LIBS     += -lmimalloc
endif

# Rebuild when the flags change, not only when sources do.
FLAGS_STAMP := build/$(VARIANT)/flags
FLAGS_NOW   := $(CC) $(FM_CPPFLAGS) $(FM_CFLAGS) $(FM_LDFLAGS) $(FM_LIBS)

.PHONY: all deps deps-harden deps-experiments deps-browser test test-one test-others test-hosts bench bench-one \
        experiments install clean FORCE sanitize valgrind fuzz fuzz-build
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
DEB_BUILD := make gcc pkg-config lua5.4 liblua5.4-dev libpcre2-dev libmimalloc-dev libyaml-dev
# every other Lua the module builds for: Debian's busted, lrexlib, LPeg,
# cjson and lyaml packages carry modules for 5.1-5.4 (LuaJIT uses the 5.1
# ones).  LuaJIT is OpenResty's luajit2: nginx's Lua module needs its
# library (lua-resty-core depends on it), and it conflicts with Debian's
# luajit; the module builds against either (same C API).
DEB_LUAS  := lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev \
             luajit2 libluajit2-5.1-dev
DEB_TEST  := lua-busted luarocks lua-rex-pcre2 lua-lpeg lua-cjson lua-yaml valgrind
# the hosts of spec/hosts_spec.lua: nginx + its Lua module (LuaJIT), HAProxy
# (Lua 5.3); policy-rc.d on Debian images keeps them from starting as services
DEB_HOSTS := nginx libnginx-mod-http-lua lua-resty-core lua-resty-lrucache haproxy curl
DEB_MORE  := time
# the EVTX specs' oracles (test dependencies only): libevtx's evtxexport,
# python-evtx's evtx_dump.py
DEB_EVTX  := libevtx-utils python3-evtx
DEB_PKGS  ?= $(DEB_BUILD) $(DEB_LUAS) $(DEB_TEST) $(DEB_HOSTS) $(DEB_MORE) $(DEB_EVTX)

# Debian's luajit is no alternative to luajit2: lua-resty-core (DEB_HOSTS)
# depends on OpenResty's library, and installing it makes apt remove
# Debian's luajit and its headers.  A check that took luajit for luajit2
# before that swap ended with neither (no luajit command, no LuaJIT suite).
# So luajit2 is asked for by name, and after the install the command and the
# headers are checked, luajit2 reinstalled when they are gone.
deps:
	@missing=""; \
	if ! command -v dpkg-query >/dev/null 2>&1; then \
	  echo "fastmatch: no apt/dpkg here; install: Lua 5.4 + headers, PCRE2 (8-bit) + headers, mimalloc + headers, busted (for Lua 5.4), luarocks"; exit 1; fi; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' && continue; \
	  missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if ! command -v apt-get >/dev/null 2>&1; then echo "fastmatch: missing packages:$$missing"; exit 1; fi; \
	  echo "fastmatch: installing$$missing"; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing || exit 1; \
	fi; \
	case " $(DEB_PKGS) " in *" luajit2 "*) \
	  if ! command -v luajit >/dev/null 2>&1 || [ ! -f /usr/include/luajit-2.1/lua.h ]; then \
	    echo "fastmatch: the luajit command or its headers are gone (Debian's luajit swapped out?): reinstalling luajit2"; \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --reinstall luajit2 libluajit2-5.1-dev || exit 1; \
	  fi; \
	  command -v luajit >/dev/null 2>&1 && [ -f /usr/include/luajit-2.1/lua.h ] || \
	    { echo "fastmatch: no working luajit + headers after make deps (apt-get install luajit2 libluajit2-5.1-dev)"; exit 1; }; \
	  luajit -e 'assert(jit and jit.version)' || { echo "fastmatch: luajit does not run"; exit 1; };; \
	esac

# A browser for spec/hunt_spec.lua, which opens the hunt's --html-report in
# headless Chromium (a screenshot, the page's numbers).  Optional: when it
# cannot be installed, that part of the spec says so and skips; nothing else
# needs it.
DEB_BROWSER ?= chromium
deps-browser:
	@if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	  for p in $(DEB_BROWSER); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' && continue; \
	    echo "fastmatch: installing $$p (optional, for the hunt's HTML report spec)"; \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$p >/dev/null 2>&1 || \
	    { $$sudo apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$p >/dev/null 2>&1; } || \
	    echo "fastmatch: could not install $$p; the HTML report spec will skip its browser part"; \
	  done; \
	fi

# ---------------------------------------------------------------- tests
# The tree's build first on the paths; LUA_PATH_5_4 wins over LUA_PATH in
# lua5.4, so set the versioned names (5.1 and LuaJIT read LUA_PATH).
# FM_LUA is the interpreter the specs start children with.
RUNENV = $(LUA_PATHVAR)='$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;' \
         $(LUA_CPATHVAR)='$(CURDIR)/$(SODIR)/?.so;;' FM_SODIR='$(CURDIR)/$(SODIR)' \
         FM_MIMALLOC=$(MIMALLOC) FM_LUA=$(LUA_BIN)
SPECS ?= spec
BUSTED_FLAGS ?=
# the other Luas `make test` runs the suite on, when installed
OTHER_LUAS ?= 5.1 5.2 5.3 luajit

# A Lua counts as installed with its interpreter and headers; busted runs
# on each (LuaJIT runs /usr/bin/busted with the 5.1 modules).  In sh, for
# Lua $$v: why= what is missing (empty when it can run the suite).
LUA_WHY = bin=lua$$v; inc=/usr/include/lua$$v/lua.h; pkgs="lua$$v liblua$$v-dev"; \
  if [ $$v = luajit ]; then bin=luajit; inc=/usr/include/luajit-2.1/lua.h; pkgs="luajit2 libluajit2-5.1-dev"; fi; \
  why=""; command -v $$bin >/dev/null 2>&1 || why="no $$bin command"; \
  [ -f $$inc ] || why="$${why:+$$why, }no $$inc"; \
  [ -z "$$why" ] || why="$$why; make deps installs $$pkgs"

# The whole suite three ways on Lua 5.4: on the default build, with the Lua
# state itself switched to mimalloc (-l fastmatch.mimalloc), and on the
# MIMALLOC=0 build; then once on every other Lua found installed.  Every
# run goes on after a failure; the summary at the end names each Lua run
# (and how it went) and each Lua skipped, with the reason.
test: deps deps-browser
	@ran=""; failed=""; skipped=""; report=""; n54=0; \
	one() { what=$$1; name=$$2; shift 2; \
	  if $(MAKE) --no-print-directory test-one "$$@"; then res=passed; else res=FAILED; failed="$$failed$${failed:+, }$$what"; fi; \
	  report="$$report   ran: Lua $$what: $$res\n"; \
	  if [ "$$name" = 5.4 ]; then n54=$$((n54 + 1)); else ran="$$ran, $$name"; fi; }; \
	one "5.4 (default build)" 5.4; \
	one "5.4 (the Lua state on mimalloc)" 5.4 LUAFLAGS='-l fastmatch.mimalloc' FM_SUITE=mimalloc-state; \
	one "5.4 (MIMALLOC=0 build)" 5.4 MIMALLOC=0; \
	for v in $(OTHER_LUAS); do \
	  $(LUA_WHY); \
	  if [ -n "$$why" ]; then \
	    echo "== fastmatch suite: SKIP Lua $$v ($$why)"; \
	    report="$$report   skipped: Lua $$v: $$why\n"; skipped="$$skipped$${skipped:+, }$$v ($$why)"; continue; fi; \
	  one "$$v" "$$v" LUA=$$v; \
	done; \
	echo; echo "== fastmatch suite summary"; printf '%b' "$$report"; \
	echo "== Luas run: 5.4 (x$$n54)$$ran; skipped: $${skipped:-none}; failed: $${failed:-none}"; \
	[ -z "$$failed" ]

# The suite on each other installed Lua alone (make test runs these too).
test-others:
	@rc=0; for v in $(OTHER_LUAS); do \
	  $(LUA_WHY); \
	  if [ -n "$$why" ]; then echo "== fastmatch suite: SKIP Lua $$v ($$why)"; continue; fi; \
	  $(MAKE) --no-print-directory test-one LUA=$$v || rc=1; \
	done; exit $$rc

# The suite's hunts keep their compiled-rule cache under build/ (a fresh one
# per run), never in the user's ~/.cache.
test-one: all
	@echo "== fastmatch suite: Lua $(LUAV), variant=$(VARIANT) $(LUAFLAGS)"
	@rm -rf build/$(VARIANT)/cache
	$(RUNENV) XDG_CACHE_HOME='$(CURDIR)/build/$(VARIANT)/cache' FM_SUITE=$(or $(FM_SUITE),$(VARIANT)) $(LUA_BIN) $(LUAFLAGS) $(BUSTED) $(BUSTED_FLAGS) $(SPECS)

# The host specs alone (they are part of the suite too): nginx with its Lua
# module (LuaJIT) and HAProxy (Lua 5.3), each on a loopback port.
test-hosts: deps
	$(MAKE) --no-print-directory LUA=luajit all
	$(MAKE) --no-print-directory LUA=5.3 all
	$(MAKE) --no-print-directory test-one SPECS=spec/hosts_spec.lua

# make bench: the benchmarks on Lua 5.4 (run_all runs every bench_*.lua:
# bench_hosts.lua starts nginx for fm vs ngx.re, and runs bench_luajit.lua
# under luajit), then on each other installed Lua the regex and IO ratios.
bench: deps all
	@if command -v luajit >/dev/null 2>&1 && [ -f /usr/include/luajit-2.1/lua.h ]; then \
	  $(MAKE) --no-print-directory LUA=luajit all; fi
	$(RUNENV) $(LUA_BIN) examples/run_all.lua --bench $(if $(QUICK),--quick)
	@for v in $(OTHER_LUAS); do \
	  bin=lua$$v; [ $$v = luajit ] && bin=luajit; \
	  command -v $$bin >/dev/null 2>&1 || continue; \
	  $(MAKE) --no-print-directory bench-one LUA=$$v || exit 1; done

bench-one: all
	@echo "== fastmatch bench: Lua $(LUAV) (regex and IO ratios)"
	$(RUNENV) $(LUA_BIN) examples/bench_regex.lua $(if $(QUICK),--quick)
	$(RUNENV) $(LUA_BIN) examples/bench_io.lua $(if $(QUICK),--quick)

# The experiments also use heaptrack (experiment 14); it is optional: when it
# cannot be installed (no apt, no root and no password-less sudo), the
# experiment says so and the rest runs.
DEB_EXPERIMENTS ?= heaptrack
deps-experiments: deps
	@if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	  for p in $(DEB_EXPERIMENTS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' && continue; \
	    echo "fastmatch: installing $$p (optional, for the experiments)"; \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$p >/dev/null 2>&1 || \
	    { $$sudo apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$p >/dev/null 2>&1; } || \
	    echo "fastmatch: could not install $$p; the experiment that uses it will say so"; \
	  done; \
	fi

experiments: deps-experiments all
	$(RUNENV) $(LUA_BIN) examples/run_all.lua --experiments $(if $(QUICK),--quick)

# ---------------------------------------------------------------- hardening
# make sanitize / valgrind / fuzz.  They need clang and its sanitizer and
# libFuzzer runtimes (and valgrind); `make test` does not, so they have their
# own deps step.  Debian 12's clang is 14; elsewhere pass
# DEB_HARDEN='clang libclang-rt-NN-dev valgrind' with your clang's NN.
DEB_HARDEN ?= clang libclang-rt-14-dev valgrind
SAN_CC     ?= clang
ARCH       := $(shell uname -m)
LUA_LIBS   ?= $(or $(shell $(PKG_CONFIG) --libs lua5.4 2>/dev/null),-llua5.4)
# Halt on the first report of either sanitizer (UBSan would otherwise print
# and go on); frame pointers for whole stack traces.
SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_DIR    := build/asan
SAN_SUPP   := $(CURDIR)/csrc/sanitize
# Every spec-run env var the suite reads, and no MAKEFLAGS: specs that run
# `make` in a copy of the tree must not inherit VARIANT=asan from us.
SUITE_ENV   = MAKEFLAGS= MAKELEVEL= MFLAGS= XDG_CACHE_HOME='$(CURDIR)/$(1)/cache' \
              LUA_PATH_5_4='$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;' \
              LUA_CPATH_5_4='$(CURDIR)/$(1)/?.so;;' FM_SODIR='$(CURDIR)/$(1)' FM_MIMALLOC=0

deps-harden:
	@$(MAKE) --no-print-directory deps DEB_PKGS='$(DEB_HARDEN)'

# The module built with ASan+UBSan and MIMALLOC=0: mimalloc serves memory from
# its own segments, so ASan would see neither its allocations nor their
# overflows or leaks; on libc malloc every fm_malloc goes through ASan's
# allocator.  clang's shared ASan runtime is preloaded into lua5.4 (a plain
# binary) by csrc/sanitize/bin/lua5.4.  Reports go to files, so that one in a
# child lua5.4 whose exit status a spec ignores still fails the run.
# allocator_may_return_null: a huge request returns NULL as libc's would, so
# the "not enough memory" paths are tested instead of aborting in ASan.
# Leaks: detect_leaks is on; csrc/sanitize/lsan.supp lists the leaks that are
# not ours (busted closes the state on exit, so Lua's own are freed).
# fast_unwind_on_malloc=0: libpcre2 has no frame pointers, and a suppression
# needs the whole stack to tell lrexlib's leaks (an oracle) from ours.
sanitize: deps deps-harden
	$(MAKE) --no-print-directory VARIANT=asan MIMALLOC=0 CC=$(SAN_CC) \
	  CFLAGS='-O1 -g $(SAN_FLAGS)' LDFLAGS='$(SAN_FLAGS) -shared-libasan' all
	@rt="$$($(SAN_CC) -print-file-name=libclang_rt.asan-$(ARCH).so)"; \
	  [ -f "$$rt" ] || { echo "fastmatch: no ASan runtime for $(SAN_CC) ($$rt); make deps-harden installs it"; exit 1; }
	$(SAN_CC) -shared -fPIC -O1 -o $(SAN_DIR)/preload.so csrc/sanitize/preload.c
	@rm -rf $(SAN_DIR)/reports && mkdir -p $(SAN_DIR)/reports
	@echo "== fastmatch suite: variant=asan (ASan+UBSan+LSan, MIMALLOC=0)"
	@rt="$$($(SAN_CC) -print-file-name=libclang_rt.asan-$(ARCH).so)"; \
	env $(call SUITE_ENV,$(SAN_DIR)) FM_SUITE=asan \
	  PATH='$(SAN_SUPP)/bin':"$$PATH" FM_REAL_LUA="$$(command -v $(LUA_BIN))" \
	  FM_SAN_PRELOAD="$$rt:$(CURDIR)/$(SAN_DIR)/preload.so" \
	  ASAN_OPTIONS='detect_leaks=1:halt_on_error=1:allocator_may_return_null=1:fast_unwind_on_malloc=0:detect_stack_use_after_return=1:strict_string_checks=1:log_path=$(CURDIR)/$(SAN_DIR)/reports/asan' \
	  LSAN_OPTIONS='suppressions=$(SAN_SUPP)/lsan.supp:print_suppressions=0' \
	  UBSAN_OPTIONS='halt_on_error=1:print_stacktrace=1:log_path=$(CURDIR)/$(SAN_DIR)/reports/ubsan' \
	  lua5.4 $(BUSTED) $(BUSTED_FLAGS) $(SPECS); rc=$$?; \
	if ls $(SAN_DIR)/reports/* >/dev/null 2>&1; then \
	  echo "== sanitizer reports (from $(SAN_DIR)/reports):"; cat $(SAN_DIR)/reports/*; rc=1; \
	elif [ $$rc = 0 ]; then echo "sanitize: 0 ASan/UBSan/LSan reports"; fi; exit $$rc

# The suite under valgrind (memcheck) on the MIMALLOC=0 build: valgrind cannot
# see inside mimalloc either.  Definite leaks fail, possible/reachable ones
# (Lua's and busted's static state) do not.  Children are not traced.
VALGRIND       ?= valgrind
VALGRIND_FLAGS ?= -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
                  --show-leak-kinds=definite --num-callers=40 --suppressions=$(SAN_SUPP)/valgrind.supp
valgrind: deps deps-harden
	$(MAKE) --no-print-directory MIMALLOC=0 all
	@echo "== fastmatch suite: variant=libc under valgrind"
	env $(call SUITE_ENV,build/libc) FM_SUITE=valgrind \
	  $(VALGRIND) $(VALGRIND_FLAGS) $(LUA_BIN) $(BUSTED) $(BUSTED_FLAGS) $(SPECS) && echo "valgrind: 0 errors, 0 definite leaks"

# libFuzzer targets: every csrc/fuzz/fuzz_<name>.c (see csrc/fuzz/README.md)
# linked with all of csrc/*.c built for fuzzing (coverage + ASan + UBSan, on
# libc malloc), seeds from csrc/fuzz/corpus/<name>/.  make fuzz runs each for
# FUZZ_SECONDS and fails on any crash, leak, timeout or sanitizer report.
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_SRCS    := $(wildcard csrc/fuzz/fuzz_*.c)
FUZZ_BINS    := $(patsubst csrc/fuzz/%.c,$(FUZZ_DIR)/%,$(FUZZ_SRCS))
FUZZ_OBJS    := $(patsubst csrc/%.c,$(FUZZ_DIR)/obj/%.o,$(SRCS))
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -Wall -Wextra $(SAN_FLAGS) -Icsrc -I$(LUA_INCDIR) $(PCRE2_CFLAGS) \
                -DFM_MIMALLOC=0 -D_GNU_SOURCE -DFM_SRCDIR='"$(CURDIR)"' $(YAML_CFLAGS)

$(FUZZ_DIR)/obj/%.o: csrc/%.c $(HDRS)
	@mkdir -p $(@D)
	$(SAN_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: csrc/fuzz/fuzz_%.c $(FUZZ_OBJS) $(wildcard csrc/fuzz/*.h)
	$(SAN_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(LUA_LIBS) $(PCRE2_LIBS) $(YAML_LIBS) -pthread

# keep the objects: they are shared by every target
.SECONDARY: $(FUZZ_OBJS)
fuzz-build: $(FUZZ_BINS)

fuzz: deps-harden
	$(MAKE) --no-print-directory fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash csrc/fuzz/run.sh $(FUZZ_BINS)

# ---------------------------------------------------------------- install
# What users install: the module (core.so and every lua/fastmatch/**/*.lua
# but what only our experiments need, EXPERIMENT_ONLY) and every command of
# bin/, its first line naming the Lua it was built for.  luarocks runs this
# same target with its own directories (rockspec/: INST_*DIR), so both
# install the same set.  DESTDIR stages a package; PREFIX is where it lives.
PREFIX      ?= /usr/local
INST_LIBDIR ?= $(DESTDIR)$(PREFIX)/lib/lua/$(LUA_ABI)
INST_LUADIR ?= $(DESTDIR)$(PREFIX)/share/lua/$(LUA_ABI)
INST_BINDIR ?= $(DESTDIR)$(PREFIX)/bin
# fastmatch.bench: the experiments' and benchmarks' harness (SVG/JSON
# reports, a reader of ../shared); no installed module requires it
EXPERIMENT_ONLY := lua/fastmatch/bench.lua
INSTALL_LUA := $(filter-out $(EXPERIMENT_ONLY),$(sort $(shell find lua/fastmatch -name '*.lua')))
INSTALL_BIN := $(sort $(wildcard bin/*))
# the interpreter of the commands: luarocks passes its own path as LUA
LUA_SHEBANG := $(if $(findstring /,$(LUA)),$(LUA),/usr/bin/env $(LUA_BIN))
install: all
	install -d '$(INST_LIBDIR)/fastmatch' '$(INST_LUADIR)' '$(INST_BINDIR)'
	install -m 0755 $(SO) '$(INST_LIBDIR)/fastmatch/core.so'
	@set -e; for f in $(INSTALL_LUA); do \
	  d='$(INST_LUADIR)'/$${f#lua/}; install -d "$${d%/*}"; install -m 0644 "$$f" "$$d"; echo "install $$f $$d"; \
	done
	@set -e; for f in $(INSTALL_BIN); do \
	  d='$(INST_BINDIR)'/$${f#bin/}; sed '1s|^#!.*|#!$(LUA_SHEBANG)|' "$$f" > "$$d"; chmod 0755 "$$d"; \
	  echo "install $$f $$d (#!$(LUA_SHEBANG))"; \
	done

clean:
	rm -rf build fastmatch results

/*
** preload_once.c -- preloaded with the ASan runtime into the sanitized
** lua5.4 (see `make sanitize`): it removes LD_PRELOAD from the environment
** as the process starts, so that the tools a spec runs (sh, cp, make, gcc,
** grep...) run as they are, and LeakSanitizer does not report their leaks
** as ours.  A child `lua5.4` found on PATH goes through the wrapper script
** build/asan/bin/lua5.4 again, which preloads the runtime again: every
** Lua process that loads the sanitized module is checked.
*/
#include <stdlib.h>

__attribute__((constructor)) static void fm_preload_once(void) {
  unsetenv("LD_PRELOAD");
}

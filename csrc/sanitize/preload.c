/*
** preload.c -- preloaded with the ASan runtime into the sanitized lua5.4
** (see `make sanitize` and csrc/sanitize/bin/lua5.4).  Two jobs:
**
** 1. It removes LD_PRELOAD from the environment as the process starts, so
**    that the tools a spec runs (sh, cp, make, gcc...) run as they are, and
**    LeakSanitizer does not report their leaks as ours.  A child `lua5.4`
**    found on PATH goes through the wrapper again, which preloads again:
**    every Lua process that loads the sanitized module is checked.
**
** 2. dlclose does nothing.  Lua unloads C modules when the state closes,
**    before LeakSanitizer looks; a leak made by an unloaded module (e.g.
**    lrexlib's rex_pcre2, a test oracle) would then show an "<unknown
**    module>" stack that no suppression can name.  Kept loaded, it is
**    symbolized and csrc/sanitize/lsan.supp can suppress it by name.
*/
#include <stdlib.h>

__attribute__((constructor)) static void fm_preload_once(void) {
  unsetenv("LD_PRELOAD");
}

int dlclose(void *handle) {
  (void)handle;
  return 0;
}

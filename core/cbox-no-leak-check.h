/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Included by the one source file of a small program that LeakSanitizer
 * cannot check: it turns the leak check off in address-sanitizer builds
 * (and does nothing in others). LeakSanitizer's check at exit stops the
 * world with a tracer process, which spins for ever in a process that has
 * entered another pid namespace (cbox-enter) and refuses to run in a
 * setuid one (the loader tests' helper). */
#if defined(__SANITIZE_ADDRESS__)
const char *__asan_default_options (void);
const char *
__asan_default_options (void)
{
  return "detect_leaks=0";
}
#endif

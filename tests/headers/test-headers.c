/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The real test is that every generated header-*.c (and .cpp) compiled: each includes
 * exactly one public header. This only makes the result a test that shows
 * up in `meson test`. */

#include <glib.h>

static void
test_compiled (void)
{
  g_assert_cmpint (CBOX_PUBLIC_HEADER_COUNT, >, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/abi/headers/compile-alone", test_compiled);
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The suite's own isolation (tests/util/isolated-home.sh, the default
 * `meson test` setup): every test sees a HOME and XDG base folders that are
 * fresh, under the temporary folder, and not the user's own, so no test
 * reads the user's configuration or writes into ~/.local/state or ~/.cache. */

#include <pwd.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

static void
test_home (void)
{
  const char *home = g_getenv ("HOME");
  const char *scratch = g_getenv ("CBOX_TEST_SCRATCH_HOME");
  struct passwd *pw = getpwuid (getuid ());
  g_autoptr (GDir) dir = NULL;

  g_assert_nonnull (home);
  g_assert_cmpstr (home, ==, scratch);
  g_assert_true (g_str_has_prefix (home, g_get_tmp_dir ()));
  if (pw != NULL)
    g_assert_cmpstr (home, !=, pw->pw_dir);
  /* Fresh: nothing a previous test (or the user) left there. */
  dir = g_dir_open (home, 0, NULL);
  g_assert_nonnull (dir);
  g_assert_null (g_dir_read_name (dir));
}

static void
test_xdg (void)
{
  const char *home = g_getenv ("HOME");
  const char *names[] = { "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      const char *value = g_getenv (names[i]);
      g_autofree char *prefix = g_strconcat (home, "/", NULL);

      g_test_message ("%s=%s", names[i], value);
      g_assert_nonnull (value);
      g_assert_true (g_str_has_prefix (value, prefix));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/suite/isolated-home/home", test_home);
  g_test_add_func ("/suite/isolated-home/xdg", test_xdg);
  return g_test_run ();
}

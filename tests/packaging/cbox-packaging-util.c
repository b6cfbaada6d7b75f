/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cbox-packaging-util.h"

#include <gio/gio.h>

char *
cbox_packaging_source_root (void)
{
  const char *tests = g_getenv ("G_TEST_SRCDIR");

  if (tests == NULL)
    g_error ("G_TEST_SRCDIR is not set: run the tests with meson test");
  return g_canonicalize_filename ("..", tests);
}

char *
cbox_packaging_build_root (void)
{
  const char *tests = g_getenv ("G_TEST_BUILDDIR");

  if (tests == NULL)
    g_error ("G_TEST_BUILDDIR is not set: run the tests with meson test");
  return g_canonicalize_filename ("..", tests);
}

GPtrArray *
cbox_packaging_feature_options (void)
{
  g_autofree char *root = cbox_packaging_source_root ();
  g_autofree char *path = g_build_filename (root, "meson_options.txt", NULL);
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GRegex) regex = NULL;
  g_autoptr (GMatchInfo) match = NULL;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  regex = g_regex_new ("^option\\('([a-z0-9_-]+)',\\s*type:\\s*'feature'", G_REGEX_MULTILINE, 0,
                       &error);
  g_assert_no_error (error);
  for (g_regex_match (regex, text, 0, &match); g_match_info_matches (match);
       g_match_info_next (match, NULL))
    g_ptr_array_add (names, g_match_info_fetch (match, 1));
  /* A parser that found nothing would make every comparison vacuous. */
  g_assert_cmpuint (names->len, >, 0);
  return names;
}

/* Empty output is "" (g_strndup of an empty GBytes' NULL data is NULL). */
static char *
cbox_packaging_bytes_to_string (GBytes *bytes)
{
  gsize size = 0;
  const char *data = g_bytes_get_data (bytes, &size);

  return size > 0 ? g_strndup (data, size) : g_strdup ("");
}

int
cbox_packaging_run (const char *const *argv, const char *const *envp, char **ret_out,
                    char **ret_err)
{
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GBytes) out = NULL;
  g_autoptr (GBytes) err = NULL;
  g_autoptr (GError) error = NULL;

  /* stdin is /dev/null: no tool here may wait for input. */
  launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  if (envp != NULL)
    g_subprocess_launcher_set_environ (launcher, (char **)envp);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  if (proc == NULL || !g_subprocess_communicate (proc, NULL, NULL, &out, &err, &error))
    {
      g_test_message ("cannot run %s: %s", argv[0], error->message);
      g_test_fail ();
      return -1;
    }
  if (ret_out != NULL)
    *ret_out = cbox_packaging_bytes_to_string (out);
  if (ret_err != NULL)
    *ret_err = cbox_packaging_bytes_to_string (err);
  if (g_subprocess_get_if_exited (proc))
    return g_subprocess_get_exit_status (proc);
  return 128 + g_subprocess_get_term_sig (proc);
}

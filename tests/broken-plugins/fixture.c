/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <cbox/cbox-plugin.h>
#include "cbox-test-util.h"
#include "fixture.h"

const BrokenPluginCase broken_plugin_cases[] = {
  { "libcbox-good-forwarder.so", "good-forwarder", BROKEN_PLUGIN_ACCEPTED },
  { "libcbox-good-backend.so", "good-backend", BROKEN_PLUGIN_ACCEPTED },
  { "libcbox-short-vtable.so", "short-vtable", BROKEN_PLUGIN_ACCEPTED },
  { "libcbox-desc-1-0.so", "desc-1-0", BROKEN_PLUGIN_ACCEPTED },
  { "libcbox-abi-major-older.so", "abi-major-older", CBOX_PLUGIN_ERROR_ABI_MAJOR },
  { "libcbox-abi-major-newer.so", "abi-major-newer", CBOX_PLUGIN_ERROR_ABI_MAJOR },
  { "libcbox-abi-minor-newer.so", "abi-minor-newer", CBOX_PLUGIN_ERROR_ABI_MINOR },
  { "libcbox-no-entry-point.so", "no-entry-point", CBOX_PLUGIN_ERROR_NO_ENTRY_POINT },
  { "libcbox-null-descriptor.so", "null-descriptor", CBOX_PLUGIN_ERROR_NULL_DESCRIPTOR },
  { "libcbox-struct-size.so", "struct-size", CBOX_PLUGIN_ERROR_STRUCT_SIZE },
  { "libcbox-vtable-size.so", "vtable-size", CBOX_PLUGIN_ERROR_STRUCT_SIZE },
  { "libcbox-no-name.so", "no-name", CBOX_PLUGIN_ERROR_MISSING_FIELD },
  { "libcbox-bad-name.so", "bad-name", CBOX_PLUGIN_ERROR_MISSING_FIELD },
  { "libcbox-empty-name.so", "empty-name", CBOX_PLUGIN_ERROR_MISSING_FIELD },
  { "libcbox-bad-kind.so", "bad-kind", CBOX_PLUGIN_ERROR_MISSING_FIELD },
  { "libcbox-bad-alias.so", "bad-alias", CBOX_PLUGIN_ERROR_MISSING_FIELD },
  { "libcbox-missing-vtable.so", "missing-vtable", CBOX_PLUGIN_ERROR_MISSING_VTABLE },
  { "libcbox-missing-vfunc.so", "missing-vfunc", CBOX_PLUGIN_ERROR_MISSING_VTABLE },
  { "libcbox-undefined-symbol.so", "undefined-symbol", CBOX_PLUGIN_ERROR_OPEN },
  /* Made by broken_plugins_make_odd_dir(). */
  { "libcbox-x.so", "x", CBOX_PLUGIN_ERROR_BAD_ELF },
  { "libcbox-empty.so", "empty", CBOX_PLUGIN_ERROR_BAD_ELF },
  { "libcbox-cut-1000.so", "cut-1000", CBOX_PLUGIN_ERROR_BAD_ELF },
  { "libcbox-cut-4096.so", "cut-4096", CBOX_PLUGIN_ERROR_BAD_ELF },
  { "libcbox-cut-16384.so", "cut-16384", CBOX_PLUGIN_ERROR_BAD_ELF },
  { "libcbox-y.so", "y", CBOX_PLUGIN_ERROR_NOT_REGULAR_FILE },
  { "libcbox-fifo.so", "fifo", CBOX_PLUGIN_ERROR_NOT_REGULAR_FILE },
  { "libcbox-dangling.so", "dangling", CBOX_PLUGIN_ERROR_OPEN },
  { "libcbox-unreadable.so", "unreadable", CBOX_PLUGIN_ERROR_OPEN },
  /* In second/, searched last. */
  /* Holds a plugin named good-forwarder: a file must be named after its
   * plugin (two files in two folders with one name are the duplicates of
   * /failclosed/plugins/names). */
  { "libcbox-duplicate.so", "duplicate", CBOX_PLUGIN_ERROR_BAD_FILE_NAME },
};
const gsize broken_plugin_n_cases = G_N_ELEMENTS (broken_plugin_cases);

char *
broken_plugins_dir (void)
{
  return g_test_build_filename (G_TEST_BUILT, "broken-plugins", NULL);
}

char *
broken_plugins_second_dir (void)
{
  return g_test_build_filename (G_TEST_BUILT, "broken-plugins", "second", NULL);
}

void
broken_plugins_write_file (const char *dir, const char *name, const char *contents, gssize len)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, contents, len, &error);
  g_assert_no_error (error);
}

/* Files named like plugins that are not plugins. The unreadable one is
 * only unreadable when not root: root reads any file, so as root it is
 * replaced by a copy of the undefined-symbol plugin, which fails dlopen for
 * root too (test_unreadable() says which case ran). */
char *
broken_plugins_make_odd_dir (void)
{
  g_autofree char *dir = cbox_test_make_dir ("odd plugins");
  g_autofree char *fifo = g_build_filename (dir, "libcbox-fifo.so", NULL);
  g_autofree char *subdir = g_build_filename (dir, "libcbox-y.so", NULL);
  g_autofree char *dangling = g_build_filename (dir, "libcbox-dangling.so", NULL);
  g_autofree char *unreadable = g_build_filename (dir, "libcbox-unreadable.so", NULL);
  g_autofree char *bdir = broken_plugins_dir ();
  g_autofree char *source = NULL;
  g_autofree char *contents = NULL;
  gsize len;
  g_autoptr (GError) error = NULL;

  broken_plugins_write_file (dir, "libcbox-x.so", "this is a text file, not a plugin\n", -1);
  /* A good plugin cut short, as a failed copy leaves it: dlopen would map
   * its segments past the end of the file (SIGBUS). */
  {
    g_autofree char *good = g_build_filename (bdir, "libcbox-good-forwarder.so", NULL);
    g_autofree char *whole = NULL;
    gsize whole_len;

    g_file_get_contents (good, &whole, &whole_len, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (whole_len, >, 16384);
    broken_plugins_write_file (dir, "libcbox-cut-1000.so", whole, 1000);
    broken_plugins_write_file (dir, "libcbox-cut-4096.so", whole, 4096);
    broken_plugins_write_file (dir, "libcbox-cut-16384.so", whole, 16384);
  }
  broken_plugins_write_file (dir, "libcbox-empty.so", "", 0);
  /* Not named like a plugin: never looked at. */
  broken_plugins_write_file (dir, "libcbox-z.so.txt", "ignored\n", -1);
  broken_plugins_write_file (dir, "README", "ignored\n", -1);
  g_assert_cmpint (g_mkdir (subdir, 0755), ==, 0);
  g_assert_cmpint (mkfifo (fifo, 0644), ==, 0);
  g_assert_cmpint (symlink ("no-such-file.so", dangling), ==, 0);

  source = g_build_filename (
      bdir, cbox_test_is_root () ? "libcbox-undefined-symbol.so" : "libcbox-good-forwarder.so",
      NULL);
  g_file_get_contents (source, &contents, &len, &error);
  g_assert_no_error (error);
  g_file_set_contents (unreadable, contents, (gssize)len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (unreadable, 0), ==, 0);
  return g_steal_pointer (&dir);
}

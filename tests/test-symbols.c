/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libcbox is the plugin API and nothing else (issue 20): core/libcbox.symbols
 * lists the API; these tests prove that the list names exactly the
 * functions include/cbox/ declares and exactly what the built libcbox
 * exports, and that the soname follows the ABI major. A core function that
 * leaks into the library's exports, or a public one that goes missing,
 * fails here. */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include <glib/gstdio.h>

#include <glib.h>

#include "cbox/cbox-version.h"

/* nm and objdump, from the command line (tests/meson.build). */
static const char *nm_path;
static const char *objdump_path;

static const char *
require_env (const char *name)
{
  const char *value = g_getenv (name);

  if (value == NULL || value[0] == '\0')
    g_error ("%s is not set (meson test sets it; see tests/meson.build)", name);
  return value;
}

static char *
source_path (const char *first, ...)
{
  g_autofree char *root = g_build_filename (g_test_get_dir (G_TEST_DIST), "..", NULL);
  g_autofree char *rest = NULL;
  va_list args;

  va_start (args, first);
  rest = g_build_filename_valist (first, &args);
  va_end (args);
  return g_build_filename (root, rest, NULL);
}

/* The libcbox of this build, beside the cbox executable. */
static char *
libcbox_path (void)
{
  return g_build_filename (require_env ("CBOX_LIBEXEC_DIR"), "libcbox.so.1", NULL);
}

/* The names of a list file: one a line, '#' comments and empty lines
 * skipped. */
static GHashTable *
read_list (const char *path)
{
  GHashTable *names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = g_strstrip (lines[i]);
      if (line[0] == '\0' || line[0] == '#')
        continue;
      g_assert_true (g_hash_table_add (names, g_strdup (line)));
    }
  return names;
}

/* Every function the public headers declare (one line each, as
 * clang-format writes them: "TYPE cbox_name (ARGS);"); static inline
 * helpers and the entry point that plugins define
 * (CBOX_PLUGIN_DEFINE's cbox_plugin_describe, inside a macro) are not
 * declarations of libcbox's. */
static GHashTable *
header_declarations (void)
{
  GHashTable *names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *dir_path = source_path ("include", "cbox", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, &error);
  g_autoptr (GRegex) regex
      = g_regex_new ("^(?!static|typedef|G_)[A-Za-z][^(;{}=\\n]*?\\b(cbox_[a-z0-9_]+) \\(",
                     G_REGEX_MULTILINE, 0, &error);
  const char *name;
  guint n_headers = 0;

  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *text = NULL;
      g_autoptr (GMatchInfo) match = NULL;

      if (!g_str_has_suffix (name, ".h"))
        continue;
      path = g_build_filename (dir_path, name, NULL);
      g_file_get_contents (path, &text, NULL, &error);
      g_assert_no_error (error);
      n_headers++;
      for (g_regex_match (regex, text, 0, &match); g_match_info_matches (match);
           g_match_info_next (match, NULL))
        g_hash_table_add (names, g_match_info_fetch (match, 1));
    }
  g_assert_cmpuint (n_headers, >=, 4);
  return names;
}

/* Runs @argv and returns its standard output; it must exit 0. */
static char *
run_tool (const char *const *argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  char *out = NULL;
  int status;

  g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                &error);
  g_assert_no_error (error);
  g_test_message ("%s: %s", argv[0], err);
  g_spawn_check_wait_status (status, &error);
  g_assert_no_error (error);
  return out;
}

/* What the built libcbox exports: its defined dynamic symbols. */
static GHashTable *
exported_symbols (void)
{
  GHashTable *names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *lib = libcbox_path ();
  const char *argv[] = { nm_path, "-D", "--defined-only", lib, NULL };
  g_autofree char *out = run_tool (argv);
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = g_strsplit_set (g_strstrip (lines[i]), " \t", -1);
      guint n = g_strv_length (fields);

      /* "ADDRESS TYPE NAME"; an absolute symbol (A) would be a version
       * node's name, not code or data. */
      if (n < 3 || g_str_equal (fields[n - 2], "A"))
        continue;
      g_hash_table_add (names, g_strdup (fields[n - 1]));
    }
  return names;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

/* The names in @a that are not in @b, sorted, separated by spaces. */
static char *
missing_from (GHashTable *a, GHashTable *b)
{
  g_autoptr (GPtrArray) missing = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, a);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (b, key))
      g_ptr_array_add (missing, key);
  g_ptr_array_sort (missing, compare_names);
  g_ptr_array_add (missing, NULL);
  return g_strjoinv (" ", (char **)missing->pdata);
}

static GHashTable *
symbol_list (void)
{
  g_autofree char *path = source_path ("core", "libcbox.symbols", NULL);
  return read_list (path);
}

/* The list is the API the headers declare, no more and no less. */
static void
test_list_is_headers (void)
{
  g_autoptr (GHashTable) list = symbol_list ();
  g_autoptr (GHashTable) declared = header_declarations ();
  g_autofree char *undeclared = missing_from (list, declared);
  g_autofree char *unlisted = missing_from (declared, list);

  g_test_message ("declared: %u, listed: %u", g_hash_table_size (declared),
                  g_hash_table_size (list));
  g_test_message ("listed in core/libcbox.symbols, declared by no public header: '%s'", undeclared);
  g_assert_cmpstr (undeclared, ==, "");
  g_test_message ("declared in include/cbox/, missing from core/libcbox.symbols: '%s'", unlisted);
  g_assert_cmpstr (unlisted, ==, "");
  g_assert_cmpuint (g_hash_table_size (list), >=, 100);
}

/* The built library exports the list, no more and no less. */
static void
test_exports_are_list (void)
{
  g_autoptr (GHashTable) list = symbol_list ();
  g_autoptr (GHashTable) exported = exported_symbols ();
  g_autofree char *leaked = missing_from (exported, list);
  g_autofree char *absent = missing_from (list, exported);

  g_test_message ("exported: %u, listed: %u", g_hash_table_size (exported),
                  g_hash_table_size (list));
  g_test_message ("exported by libcbox, not in core/libcbox.symbols: '%s'", leaked);
  g_assert_cmpstr (leaked, ==, "");
  g_test_message ("in core/libcbox.symbols, not exported by libcbox: '%s'", absent);
  g_assert_cmpstr (absent, ==, "");
}

/* libcbox.so.MAJOR: a plugin built for ABI 1 needs libcbox.so.1. */
static void
test_soname (void)
{
  g_autofree char *lib = libcbox_path ();
  const char *argv[] = { objdump_path, "-p", lib, NULL };
  g_autofree char *out = run_tool (argv);
  g_autofree char *expected = g_strdup_printf ("libcbox.so.%d", CBOX_ABI_MAJOR);
  g_autoptr (GRegex) regex = g_regex_new ("^\\s*SONAME\\s+(\\S+)$", G_REGEX_MULTILINE, 0, NULL);
  g_autoptr (GMatchInfo) match = NULL;
  g_autofree char *soname = NULL;

  g_assert_true (g_regex_match (regex, out, 0, &match));
  soname = g_match_info_fetch (match, 1);
  g_assert_cmpstr (soname, ==, expected);
}

/* One core per process: in a cbox run, the plugins (and libcbox-json)
 * call the cbox executable's copy of the core, never libcbox.so.1's,
 * which they load only because they link it. Two copies would each keep
 * their own state. The dynamic linker's own account (LD_DEBUG=bindings)
 * of `cbox plan --json` with the test backend and a forwarder says where
 * each cbox_ symbol was bound. */
static void
test_one_core (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *project = g_dir_make_tmp ("cbox-symbols-XXXXXX", &error);
  g_autofree char *project_arg = g_strconcat ("--project=", project, NULL);
  const char *argv[] = { require_env ("CBOX"),
                         "--backend=test",
                         "--forward=hostconf",
                         project_arg,
                         "plan",
                         "--json",
                         NULL };
  g_auto (GStrv) env = g_environ_setenv (g_get_environ (), "LD_DEBUG", "bindings", TRUE);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto (GStrv) lines = NULL;
  guint to_cbox = 0, from_plugins = 0, from_json = 0;
  int status;

  g_assert_no_error (error);
  g_spawn_sync (NULL, (char **)argv, env, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  g_spawn_check_wait_status (status, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_rmdir (project), ==, 0);

  lines = g_strsplit (err, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      const char *to = strstr (line, " to ");
      const char *symbol = strstr (line, "symbol `cbox_");

      if (strstr (line, "binding file ") == NULL || to == NULL || symbol == NULL)
        continue;
      if (strstr (to, "libcbox.so") != NULL)
        g_error ("bound to libcbox.so, not to the cbox executable: %s", line);
      if (g_str_has_prefix (to, " to ") && strstr (to, "/core/cbox [") != NULL)
        {
          to_cbox++;
          if (strstr (line, "/libcbox-hostconf.so") != NULL
              || strstr (line, "/libcbox-test.so") != NULL)
            from_plugins++;
          if (strstr (line, "/libcbox-json.so") != NULL)
            from_json++;
        }
    }
  g_test_message ("cbox_ bindings to the executable: %u (plugins %u, libcbox-json %u)", to_cbox,
                  from_plugins, from_json);
  g_assert_cmpuint (from_plugins, >, 10);
  g_assert_cmpuint (from_json, >, 10);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (argc != 3)
    g_error ("usage: test-symbols NM OBJDUMP (tests/meson.build)");
  nm_path = argv[1];
  objdump_path = argv[2];
  g_test_add_func ("/abi/symbols/list-is-headers", test_list_is_headers);
  g_test_add_func ("/abi/symbols/exports-are-list", test_exports_are_list);
  g_test_add_func ("/abi/symbols/soname", test_soname);
  g_test_add_func ("/abi/symbols/one-core", test_one_core);
  return g_test_run ();
}

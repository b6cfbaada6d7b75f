/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The broken plugins through the built cbox: `cbox plugins` and
 * `cbox plugins --json` list every one with its reason and still exit 0,
 * and the good ones work in a real `cbox plan` / `cbox run` beside them. */

#include <json-glib/json-glib.h>
#include <string.h>

#include <glib/gstdio.h>

#include <cbox/cbox-plugin.h>

#include "cbox-test-util.h"
#include "fixture.h"

/* CBOX_PLUGIN_PATH: the broken plugins, the odd files, the second folder,
 * then the test backend. */
static char **
broken_environ (void)
{
  g_autofree char *bdir = broken_plugins_dir ();
  g_autofree char *odd = broken_plugins_make_odd_dir ();
  g_autofree char *second = broken_plugins_second_dir ();
  g_autofree char *backend = g_test_build_filename (G_TEST_BUILT, "backend-test", NULL);
  g_autofree char *path = g_strjoin (":", bdir, odd, second, backend, NULL);
  g_autofree char *setting = g_strconcat ("CBOX_PLUGIN_PATH=", path, NULL);
  const char *extra[] = { setting, NULL };

  return cbox_test_environ (extra);
}

static const BrokenPluginCase *
find_case (const char *path)
{
  g_autofree char *base = g_path_get_basename (path);

  for (gsize i = 0; i < broken_plugin_n_cases; i++)
    {
      if (g_str_equal (broken_plugin_cases[i].file, base))
        return &broken_plugin_cases[i];
    }
  return NULL;
}

static void
test_json (void)
{
  g_auto (GStrv) envp = broken_environ ();
  const char *args[] = { "plugins", "--json", NULL };
  g_auto (CboxTestResult) result = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *root;
  JsonArray *plugins;
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  g_assert_true (cbox_test_run (args, NULL, (const char *const *)envp, NULL, &result));
  /* Rejected plugins are a finding, not a failure of cbox. */
  cbox_test_assert_status (&result, 0);
  json_parser_load_from_data (parser, result.out, -1, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (root, "schema"), ==, "cbox-plugins");
  plugins = json_object_get_array_member (root, "plugins");

  for (guint i = 0; i < json_array_get_length (plugins); i++)
    {
      JsonObject *plugin = json_array_get_object_element (plugins, i);
      const char *path = json_object_get_string_member (plugin, "path");
      const BrokenPluginCase *c = find_case (path);

      if (c == NULL)
        {
          /* The test backend, or anything installed system-wide. */
          g_test_message ("not one of ours: %s", path);
          continue;
        }
      g_hash_table_add (seen, (gpointer)c->file);
      g_assert_cmpstr (json_object_get_string_member (plugin, "name"), ==, c->name);
      if (c->expected == BROKEN_PLUGIN_ACCEPTED)
        {
          g_assert_true (json_object_get_boolean_member (plugin, "accepted"));
          g_assert_false (json_object_has_member (plugin, "error"));
          g_assert_false (json_object_has_member (plugin, "overrides"));
        }
      else
        {
          const char *message = json_object_get_string_member (plugin, "error");

          g_assert_false (json_object_get_boolean_member (plugin, "accepted"));
          g_assert_cmpint (json_object_get_int_member (plugin, "error_code"), ==, c->expected);
          g_assert_nonnull (message);
          g_assert_nonnull (strstr (message, path));
        }
    }
  g_assert_cmpuint (g_hash_table_size (seen), ==, broken_plugin_n_cases);
}

/* A plugin on CBOX_PLUGIN_PATH that replaces one of the same name found
 * later: `cbox plugins --json` names the replaced file in `overrides`, as
 * the text output's "note: replaces" does, and lists that file rejected
 * as a duplicate. */
static void
test_json_override (void)
{
  g_autofree char *bdir = broken_plugins_dir ();
  g_autofree char *good = g_build_filename (bdir, "libcbox-good-forwarder.so", NULL);
  g_autofree char *first = cbox_test_make_dir ("override-first");
  g_autofree char *later = cbox_test_make_dir ("override-later");
  g_autofree char *first_copy = g_build_filename (first, "libcbox-good-forwarder.so", NULL);
  g_autofree char *later_copy = g_build_filename (later, "libcbox-good-forwarder.so", NULL);
  g_autofree char *backend = g_test_build_filename (G_TEST_BUILT, "backend-test", NULL);
  g_autofree char *path = g_strjoin (":", first, later, backend, NULL);
  g_autofree char *setting = g_strconcat ("CBOX_PLUGIN_PATH=", path, NULL);
  g_auto (GStrv) envp = cbox_test_environ ((const char *const[]){ setting, NULL });
  const char *args[] = { "plugins", "--json", NULL };
  g_auto (CboxTestResult) result = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len = 0;
  JsonArray *plugins;
  guint found = 0;

  g_assert_true (g_file_get_contents (good, &contents, &len, NULL));
  g_assert_true (g_file_set_contents (first_copy, contents, (gssize)len, NULL));
  g_assert_true (g_file_set_contents (later_copy, contents, (gssize)len, NULL));
  g_assert_true (cbox_test_run (args, NULL, (const char *const *)envp, NULL, &result));
  cbox_test_assert_status (&result, 0);
  json_parser_load_from_data (parser, result.out, -1, &error);
  g_assert_no_error (error);
  plugins = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                          "plugins");
  for (guint i = 0; i < json_array_get_length (plugins); i++)
    {
      JsonObject *plugin = json_array_get_object_element (plugins, i);
      const char *file = json_object_get_string_member (plugin, "path");

      if (g_str_equal (file, first_copy))
        {
          g_assert_true (json_object_get_boolean_member (plugin, "accepted"));
          g_assert_cmpstr (json_object_get_string_member (plugin, "overrides"), ==, later_copy);
          found++;
        }
      else if (g_str_equal (file, later_copy))
        {
          g_assert_false (json_object_get_boolean_member (plugin, "accepted"));
          g_assert_cmpstr (json_object_get_string_member (plugin, "error_kind"), ==,
                           "duplicate-name");
          g_assert_false (json_object_has_member (plugin, "overrides"));
          found++;
        }
      else
        g_assert_false (json_object_has_member (plugin, "overrides"));
    }
  g_assert_cmpuint (found, ==, 2);
  g_unlink (first_copy);
  g_unlink (later_copy);
}

static void
test_text (void)
{
  g_auto (GStrv) envp = broken_environ ();
  const char *args[] = { "plugins", NULL };
  g_auto (CboxTestResult) result = { 0 };

  g_assert_true (cbox_test_run (args, NULL, (const char *const *)envp, NULL, &result));
  cbox_test_assert_status (&result, 0);
  for (gsize i = 0; i < broken_plugin_n_cases; i++)
    {
      const BrokenPluginCase *c = &broken_plugin_cases[i];

      if (strstr (result.out, c->file) == NULL)
        g_error ("%s missing from `cbox plugins`:\n%s", c->file, result.out);
    }
  /* A few reasons, as a user reads them. */
  g_assert_nonnull (strstr (result.out, "built for cbox plugin ABI 2"));
  g_assert_nonnull (strstr (result.out, "not a regular file"));
  g_assert_nonnull (strstr (result.out, "no cbox_plugin_describe symbol"));
  g_assert_nonnull (strstr (result.out, "whose file must be named libcbox-good-forwarder.so"));
}

/* The good plugins are used for real next to the broken ones: the good
 * forwarder's variable is in the plan the test backend writes, and the good
 * backend renders the command line. */
static void
test_good_ones_work (void)
{
  g_auto (GStrv) envp = broken_environ ();
  const char *run_args[] = { "--backend=test", "--forward=good-alias", "run", "--", "true", NULL };
  const char *plan_args[]
      = { "--backend=good-backend", "--forward=none", "plan", "--json", "--", "true", NULL };
  g_auto (CboxTestResult) run = { 0 };
  g_auto (CboxTestResult) plan = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *root;
  JsonArray *environment;
  JsonArray *command_line;
  gboolean found = FALSE;

  g_assert_true (cbox_test_run (run_args, NULL, (const char *const *)envp, NULL, &run));
  cbox_test_assert_status (&run, 0);
  json_parser_load_from_data (parser, run.out, -1, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  environment = json_object_get_array_member (root, "environment");
  for (guint i = 0; i < json_array_get_length (environment); i++)
    {
      JsonObject *var = json_array_get_object_element (environment, i);
      if (g_str_equal (json_object_get_string_member (var, "name"), "CBOX_TEST_PLUGIN"))
        {
          g_assert_cmpstr (json_object_get_string_member (var, "value"), ==, "good-forwarder");
          g_assert_cmpstr (json_object_get_string_member (var, "origin"), ==, "good-forwarder");
          found = TRUE;
        }
    }
  g_assert_true (found);

  g_assert_true (cbox_test_run (plan_args, NULL, (const char *const *)envp, NULL, &plan));
  cbox_test_assert_status (&plan, 0);
  json_parser_load_from_data (parser, plan.out, -1, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (
      json_object_get_string_member (json_object_get_object_member (root, "backend"), "name"), ==,
      "good-backend");
  command_line = json_object_get_array_member (root, "command_line");
  g_assert_cmpuint (json_array_get_length (command_line), ==, 2);
  g_assert_cmpstr (json_array_get_string_element (command_line, 0), ==, "/bin/true");
  g_assert_cmpstr (json_array_get_string_element (command_line, 1), ==, "good-backend");
}

/* A rejected plugin asked for by name is an error a user understands, with
 * cbox's own exit status. */
static void
test_rejected_requested (void)
{
  g_auto (GStrv) envp = broken_environ ();
  const char *args[] = { "--backend=test", "--forward=abi-major-newer", "plan", NULL };
  g_auto (CboxTestResult) result = { 0 };

  g_assert_true (cbox_test_run (args, NULL, (const char *const *)envp, NULL, &result));
  cbox_test_assert_status (&result, CBOX_EXIT_FAILURE);
  g_assert_nonnull (strstr (result.err, "abi-major-newer"));
  g_assert_nonnull (strstr (result.err, "built for cbox plugin ABI 2"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/loader/cli/plugins-json", test_json);
  g_test_add_func ("/loader/cli/plugins-json-override", test_json_override);
  g_test_add_func ("/loader/cli/plugins-text", test_text);
  g_test_add_func ("/loader/cli/good-ones-work", test_good_ones_work);
  g_test_add_func ("/loader/cli/rejected-requested", test_rejected_requested);
  return g_test_run ();
}

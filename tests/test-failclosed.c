/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Configuration fails closed (issue 17): a byte a configuration file
 * cannot hold, or a name no plugin answers to, stops the built cbox with
 * exit status 125 and a message naming where, and no sandbox runs. The
 * test backend writes its plan to CBOX_TEST_OUTPUT when it runs: that
 * file's absence is the proof that nothing ran. */

#include "config.h"

#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-registry.h"
#include "cbox-test-util.h"

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

typedef struct
{
  char *dir;
  char *output;
  char **env;
} Fixture;

static void
fixture_init (Fixture *f)
{
  g_autofree char *out_env = NULL;

  f->dir = cbox_test_make_dir ("failclosed");
  f->output = g_build_filename (f->dir, "ran.json", NULL);
  out_env = g_strconcat ("CBOX_TEST_OUTPUT=", f->output, NULL);
  f->env = cbox_test_environ (ARGS (out_env));
}

static void
fixture_clear (Fixture *f)
{
  g_free (f->dir);
  g_free (f->output);
  g_strfreev (f->env);
}

/* Runs `cbox --backend=test ARGS... run -- true`; asserts 125, @expected in
 * the message, and that the sandbox never ran. */
static void
assert_refused (Fixture *f, const char *const *args, const char *expected)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_auto (CboxTestResult) result = { 0 };

  g_ptr_array_add (argv, (gpointer) "--backend=test");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer)args[i]);
  g_ptr_array_add (argv, (gpointer) "run");
  g_ptr_array_add (argv, (gpointer) "--");
  g_ptr_array_add (argv, (gpointer) "true");
  g_ptr_array_add (argv, NULL);

  g_unlink (f->output);
  cbox_test_run ((const char *const *)argv->pdata, f->dir, (const char *const *)f->env, NULL,
                 &result);
  g_test_message ("%s", result.err);
  cbox_test_assert_status (&result, 125);
  if (strstr (result.err, expected) == NULL)
    g_error ("expected '%s' in the message, got '%s'", expected, result.err);
  g_assert_false (g_file_test (f->output, G_FILE_TEST_EXISTS));
}

/* The same arguments with the bad part left out run: the refusal above is
 * for the bad part, not for something else in the setup. */
static void
assert_runs (Fixture *f, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_auto (CboxTestResult) result = { 0 };

  g_ptr_array_add (argv, (gpointer) "--backend=test");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer)args[i]);
  g_ptr_array_add (argv, (gpointer) "run");
  g_ptr_array_add (argv, (gpointer) "--");
  g_ptr_array_add (argv, (gpointer) "true");
  g_ptr_array_add (argv, NULL);

  g_unlink (f->output);
  cbox_test_run ((const char *const *)argv->pdata, f->dir, (const char *const *)f->env, NULL,
                 &result);
  cbox_test_assert_status (&result, 0);
  g_assert_true (g_file_test (f->output, G_FILE_TEST_EXISTS));
}

static char *
write_conf (Fixture *f, const char *name, const char *data, gssize len)
{
  char *path = g_build_filename (f->dir, name, NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, data, len, &error);
  g_assert_no_error (error);
  return path;
}

/* A NUL byte used to end the file for GKeyFile: the `network=off` after it
 * was dropped and the sandbox got the network. */
static void
test_bytes_nul (void)
{
  Fixture f;
  static const char data[] = "[cbox]\nnetwork=on\n\0network=off\n";
  g_autofree char *path = NULL;
  g_autofree char *arg = NULL;
  g_autofree char *expected = NULL;

  fixture_init (&f);
  path = write_conf (&f, "nul.conf", data, sizeof data - 1);
  arg = g_strconcat ("--config=", path, NULL);
  expected = g_strconcat (path, ":3: a NUL byte (0x00) at column 1", NULL);
  assert_refused (&f, ARGS (arg), expected);
  fixture_clear (&f);
}

static void
test_bytes_bom (void)
{
  Fixture f;
  g_autofree char *path = NULL;
  g_autofree char *arg = NULL;
  g_autofree char *expected = NULL;

  fixture_init (&f);
  path = write_conf (&f, "bom.conf", "\xef\xbb\xbf[cbox]\nnetwork=off\n", -1);
  arg = g_strconcat ("--config=", path, NULL);
  expected = g_strconcat (path, ":1: the file starts with a byte order mark (bytes EF BB BF", NULL);
  assert_refused (&f, ARGS (arg), expected);
  fixture_clear (&f);
}

static void
test_bytes_not_utf8 (void)
{
  Fixture f;
  g_autofree char *path = NULL;
  g_autofree char *arg = NULL;
  g_autofree char *expected = NULL;

  fixture_init (&f);
  /* Latin-1 "é" in a value, and a UTF-8 sequence cut short. */
  path = write_conf (&f, "latin1.conf", "[cbox]\n# ok\ndescription=caf\xe9 noir\n", -1);
  arg = g_strconcat ("--config=", path, NULL);
  expected
      = g_strconcat (path, ":3: byte 0xE9 at column 16 is not UTF-8 (bytes E9 20 6E 6F)", NULL);
  assert_refused (&f, ARGS (arg), expected);
  g_free (path);
  g_free (arg);
  g_free (expected);
  path = write_conf (&f, "cut.conf", "[cbox]\ndescription=\xe2\x82", -1);
  arg = g_strconcat ("--config=", path, NULL);
  expected = g_strconcat (path, ":2: byte 0xE2 at column 13 is not UTF-8 (bytes E2 82)", NULL);
  assert_refused (&f, ARGS (arg), expected);
  /* The same file, fixed, is read. */
  g_free (path);
  path = write_conf (&f, "cut.conf", "[cbox]\ndescription=\xe2\x82\xac\n", -1);
  assert_runs (&f, ARGS (arg));
  fixture_clear (&f);
}

/* A profile is checked the same way (it is read by the same code). */
static void
test_bytes_profile (void)
{
  Fixture f;
  g_autofree char *data_dir = NULL;
  g_autofree char *path = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *data_env = NULL;
  g_auto (CboxTestResult) result = { 0 };
  g_auto (GStrv) env = NULL;

  fixture_init (&f);
  data_dir = g_build_filename (f.dir, "data", NULL);
  g_assert_cmpint (g_mkdir_with_parents (data_dir, 0755), ==, 0);
  g_free (write_conf (&f, "data/cbox.conf", "[cbox]\nbackend=test\n", -1));
  g_assert_cmpint (g_mkdir_with_parents (data_dir, 0755), ==, 0);
  {
    g_autofree char *profiles = g_build_filename (data_dir, "profiles", NULL);
    g_assert_cmpint (g_mkdir_with_parents (profiles, 0755), ==, 0);
  }
  path = write_conf (&f, "data/profiles/p.conf", "[cbox]\nnetwork=off\0\n", 20);
  data_env = g_strconcat ("CBOX_DATA_DIR=", data_dir, NULL);
  env = g_strdupv (f.env);
  for (guint i = 0; env[i] != NULL; i++)
    if (g_str_has_prefix (env[i], "CBOX_DATA_DIR="))
      {
        g_free (env[i]);
        env[i] = g_strdup (data_env);
      }
  expected = g_strconcat (path, ":2: a NUL byte", NULL);
  cbox_test_run (ARGS ("--profile=p", "run", "--", "true"), f.dir, (const char *const *)env, NULL,
                 &result);
  cbox_test_assert_status (&result, 125);
  g_assert_nonnull (strstr (result.err, expected));
  g_assert_false (g_file_test (f.output, G_FILE_TEST_EXISTS));
  fixture_clear (&f);
}

/* Forwarder names no plugin answers to, wherever they are: an error with
 * the nearest name. A shipped plugin this build lacks is no typo. */
static void
test_unknown_forwarders (void)
{
  Fixture f;
  g_autofree char *path = NULL;
  g_autofree char *arg = NULL;

  fixture_init (&f);
  assert_refused (&f, ARGS ("--no-forward=gti"), "Unknown forwarder 'gti' (to leave out");
  assert_refused (&f, ARGS ("--no-forward=gti"), "did you mean 'git'?");
  assert_refused (&f, ARGS ("--forward=hostconf,lcoale"), "did you mean 'locale'?");
  assert_refused (&f, ARGS ("--set=cbox.forward-optional=nosuch"), "Unknown forwarder 'nosuch'");
  assert_refused (&f, ARGS ("--set=cbox.no-forward=dispaly"), "did you mean 'display'?");
  path = write_conf (&f, "fwd.conf", "[cbox]\nforward-optional=hostconf;nosuch\n", -1);
  arg = g_strconcat ("--config=", path, NULL);
  assert_refused (&f, ARGS (arg), "Unknown forwarder 'nosuch' (optional or default, from config)");
  g_free (path);
  path = write_conf (&f, "fwd.conf", "[cbox]\nforward=hostconf;nosuch\n", -1);
  assert_refused (&f, ARGS (arg), "Unknown forwarder 'nosuch'");

  /* The same without the typo runs; so does leaving out a name or alias
   * of a plugin shipped with cbox, or a real one. */
  assert_runs (&f, ARGS ("--no-forward=git,display,gpu"));
  g_free (path);
  path = write_conf (&f, "fwd.conf", "[cbox]\nforward-optional=hostconf;audio\n", -1);
  assert_runs (&f, ARGS (arg));
  fixture_clear (&f);
}

/* The core's list of the shipped plugins' names and aliases (what a
 * configuration may name without the plugin being there) is the built
 * plugins' own: every name and alias of a plugin built in plugins/ is on
 * it. */
static void
test_shipped_names (void)
{
  g_autoptr (CboxRegistry) registry = cbox_registry_new ();
  const char *const *shipped = cbox_registry_get_shipped_names ();
  guint n_checked = 0;

  cbox_registry_load_default (registry);
  for (guint i = 0; i < cbox_registry_get_n_plugins (registry); i++)
    {
      CboxPluginInfo *info = cbox_registry_get_plugin (registry, i);
      const CboxPluginDesc *desc = cbox_plugin_info_get_desc (info);

      if (strstr (cbox_plugin_info_get_path (info), "/plugins/") == NULL)
        continue;
      g_assert_nonnull (desc);
      if (!g_strv_contains (shipped, desc->name))
        g_error ("plugin '%s' is not in cbox_registry_shipped_names", desc->name);
      for (guint j = 0; desc->aliases != NULL && desc->aliases[j] != NULL; j++)
        if (!g_strv_contains (shipped, desc->aliases[j]))
          g_error ("alias '%s' of '%s' is not in cbox_registry_shipped_names", desc->aliases[j],
                   desc->name);
      n_checked++;
    }
  g_assert_cmpuint (n_checked, >, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/failclosed/bytes/nul", test_bytes_nul);
  g_test_add_func ("/failclosed/bytes/bom", test_bytes_bom);
  g_test_add_func ("/failclosed/bytes/not-utf8", test_bytes_not_utf8);
  g_test_add_func ("/failclosed/bytes/profile", test_bytes_profile);
  g_test_add_func ("/failclosed/names/unknown-forwarders", test_unknown_forwarders);
  g_test_add_func ("/failclosed/names/shipped", test_shipped_names);
  return g_test_run ();
}

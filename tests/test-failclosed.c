/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Configuration fails closed (issue 17): a byte a configuration file
 * cannot hold, or a name no plugin answers to, stops the built cbox with
 * exit status 125 and a message naming where, and no sandbox runs. The
 * test backend writes its plan to CBOX_TEST_OUTPUT when it runs: that
 * file's absence is the proof that nothing ran. */

#include "config.h"

#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-config.h"
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

  /* A backend's name is no forwarder's: leaving it out or wanting it
   * optionally did nothing, unseen. */
  assert_refused (&f, ARGS ("--no-forward=test"),
                  "'test' (to leave out, from cli) is a backend, not a forwarder; a backend is "
                  "chosen with --backend=test");
  assert_refused (&f, ARGS ("--set=cbox.forward-optional=hostconf;test"),
                  "'test' (optional or default, from cli) is a backend, not a forwarder");
  assert_refused (&f, ARGS ("--forward=test"), "'test' (asked for, from cli) is a backend");

  /* The same without the typo runs; so does leaving out a name or alias
   * of a plugin shipped with cbox, or a real one. */
  assert_runs (&f, ARGS ("--no-forward=git,display,gpu"));
  g_free (path);
  path = write_conf (&f, "fwd.conf", "[cbox]\nforward-optional=hostconf;audio\n", -1);
  assert_runs (&f, ARGS (arg));

  /* The same keys in a profile (the user's own profile folder). */
  {
    g_autofree char *profiles
        = g_build_filename (g_environ_getenv (f.env, "XDG_CONFIG_HOME"), "cbox", "profiles", NULL);
    g_autofree char *profile = g_build_filename (profiles, "typo.conf", NULL);
    static const struct
    {
      const char *contents;
      const char *expected;
    } cases[] = {
      { "[cbox]\nforward-optional=hostconf;lcoale\n",
        "Unknown forwarder 'lcoale' (optional or default, from profile): no plugin has that name "
        "or alias; did you mean 'locale'?" },
      { "[cbox]\nno-forward=gti\n",
        "Unknown forwarder 'gti' (to leave out, from profile): no plugin has that name or alias; "
        "did you mean 'git'?" },
      { "[cbox]\nforward=hostconf;nosuch\n",
        "Unknown forwarder 'nosuch' (asked for, from profile)" },
    };
    g_autoptr (GError) error = NULL;

    g_assert_cmpint (g_mkdir_with_parents (profiles, 0755), ==, 0);
    for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        g_file_set_contents (profile, cases[i].contents, -1, &error);
        g_assert_no_error (error);
        assert_refused (&f, ARGS ("--profile=typo"), cases[i].expected);
      }
    g_file_set_contents (
        profile, "[cbox]\nforward-optional=hostconf;locale;audio\nno-forward=git\n", -1, &error);
    g_assert_no_error (error);
    assert_runs (&f, ARGS ("--profile=typo"));
  }
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

/* Every plugin built in plugins/ (and the test backend), accepted, with
 * its descriptor. */
static GPtrArray *
load_shipped_plugins (CboxRegistry *registry)
{
  GPtrArray *descs = g_ptr_array_new ();

  cbox_registry_load_default (registry);
  for (guint i = 0; i < cbox_registry_get_n_plugins (registry); i++)
    {
      CboxPluginInfo *info = cbox_registry_get_plugin (registry, i);
      const CboxPluginDesc *desc = cbox_plugin_info_get_desc (info);

      g_assert_nonnull (desc);
      g_ptr_array_add (descs, (gpointer)desc);
    }
  g_assert_cmpuint (descs->len, >, 1);
  return descs;
}

/* "keys" -> "kyes": two different neighbours swapped, one edit away. */
static char *
typo_of (const char *name)
{
  char *typo = g_strdup (name);
  gsize len = strlen (typo);

  for (gsize i = len > 3 ? 1 : 0; i + 1 < len; i++)
    if (typo[i] != typo[i + 1])
      {
        char c = typo[i];
        typo[i] = typo[i + 1];
        typo[i + 1] = c;
        return typo;
      }
  g_free (typo);
  return g_strconcat (name, "x", NULL);
}

/* A typo of every key of every plugin, by --set and in a file: exit 125,
 * the place, group and key, and the key meant; no sandbox. */
static void
test_keys_typos (void)
{
  g_autoptr (CboxRegistry) registry = cbox_registry_new ();
  g_autoptr (GPtrArray) descs = load_shipped_plugins (registry);
  Fixture f;
  guint n_keys = 0;

  fixture_init (&f);
  for (guint i = 0; i < descs->len; i++)
    {
      const CboxPluginDesc *desc = g_ptr_array_index (descs, i);

      /* A plugin that reads no key: any key in its group is refused. */
      if (desc->keys == NULL)
        {
          g_autofree char *set = g_strdup_printf ("--set=%s.trusted=false", desc->name);
          g_autofree char *expected = g_strdup_printf ("(known keys of %s: none;", desc->name);
          assert_refused (&f, ARGS (set), expected);
          continue;
        }
      for (guint k = 0; desc->keys[k].name != NULL; k++)
        {
          const char *key = desc->keys[k].name;
          g_autofree char *typo = typo_of (key);
          g_autofree char *set = g_strdup_printf ("--set=%s.%s=true", desc->name, typo);
          g_autofree char *expected
              = g_strdup_printf ("--set=%s.%s: key '%s' in [%s]: unknown key; did you mean '%s'?",
                                 desc->name, typo, typo, desc->name, key);
          g_autofree char *contents
              = g_strdup_printf ("[cbox]\n# a comment\n[%s]\n%s=true\n", desc->name, typo);
          g_autofree char *path = write_conf (&f, "typo.conf", contents, -1);
          g_autofree char *config = g_strconcat ("--config=", path, NULL);
          g_autofree char *in_file
              = g_strdup_printf ("%s:4: key '%s' in [%s]: unknown key; did you mean '%s'?", path,
                                 typo, desc->name, key);

          assert_refused (&f, ARGS (set), expected);
          assert_refused (&f, ARGS (config), in_file);
          n_keys++;
        }
    }
  /* Every shipped plugin reads a key but hostconf, locale and x11. */
  g_assert_cmpuint (n_keys, >=, 30);
  /* The case of the issue, and the key itself is accepted. */
  assert_refused (&f, ARGS ("--set=ssh.kyes=false"), "did you mean 'keys'?");
  assert_runs (&f, ARGS ("--set=ssh.keys=false"));
  fixture_clear (&f);
}

/* --accel, --memory and --cpus are the qemu backend's keys
 * (docs/config.md, "Backend settings are the backend's keys"): the old
 * spellings still run, each with a warning naming the --set to write; the
 * --set spelling runs without one; a bad value is still refused. */
static void
test_options_deprecated_qemu (void)
{
  Fixture f;
  g_auto (CboxTestResult) result = { 0 };
  g_auto (CboxTestResult) plain = { 0 };

  fixture_init (&f);
  cbox_test_run (
      ARGS ("--backend=test", "--accel=tcg", "run", "--memory=4G", "--cpus=3", "--", "true"), f.dir,
      (const char *const *)f.env, NULL, &result);
  g_test_message ("%s", result.err);
  cbox_test_assert_status (&result, 0);
  g_assert_true (g_file_test (f.output, G_FILE_TEST_EXISTS));
  g_assert_nonnull (strstr (result.err, "cbox: warning: --accel is deprecated and will be "
                                        "removed: it sets the qemu backend's key accel; write "
                                        "--set=qemu.accel=tcg"));
  g_assert_nonnull (strstr (result.err, "cbox: warning: --memory is deprecated"));
  g_assert_nonnull (strstr (result.err, "write --set=qemu.memory=4G"));
  g_assert_nonnull (strstr (result.err, "cbox: warning: --cpus is deprecated"));
  g_assert_nonnull (strstr (result.err, "write --set=qemu.cpus=3"));

  g_unlink (f.output);
  cbox_test_run (ARGS ("--backend=test", "--set=qemu.accel=tcg", "--set=qemu.memory=4G",
                       "--set=qemu.cpus=3", "run", "--", "true"),
                 f.dir, (const char *const *)f.env, NULL, &plain);
  cbox_test_assert_status (&plain, 0);
  g_assert_null (strstr (plain.err, "deprecated"));

  assert_refused (&f, ARGS ("--accel=hvf"), "Bad value for --accel: 'hvf'");
  assert_refused (&f, ARGS ("--set=qemu.accel=hvf"), "'hvf' is not one of auto, kvm, tcg");
  fixture_clear (&f);
}

/* Values that do not fit the declared type; the same key with a value that
 * does runs. */
static void
test_keys_values (void)
{
  Fixture f;
  g_autofree char *path = NULL;
  g_autofree char *arg = NULL;
  g_autofree char *expected = NULL;

  fixture_init (&f);
  assert_refused (&f, ARGS ("--set=ssh.keys=flase"),
                  "--set=ssh.keys: key 'keys' in [ssh]: 'flase' is not a boolean");
  assert_refused (&f, ARGS ("--set=qemu.cpus=999"), "'999' is not a whole number from 1 to 256");
  assert_refused (&f, ARGS ("--cpus=0"), "Bad value for --cpus: '0'");
  assert_refused (&f, ARGS ("--set=dbus.mode=ful"), "'ful' is not one of filtered, full, none");
  assert_runs (&f, ARGS ("--set=ssh.keys=false", "--set=qemu.cpus=256", "--set=dbus.mode= full ",
                         "--set=pipewire.connect-timeout-ms=5"));

  /* In a profile's way: a file, with the line. */
  path = write_conf (&f, "values.conf", "[dbus]\ntalk=org.a;org.b\n\n[ssh]\nagent=maybe\n", -1);
  arg = g_strconcat ("--config=", path, NULL);
  expected = g_strconcat (path, ":5: key 'agent' in [ssh]: 'maybe' is not a boolean", NULL);
  assert_refused (&f, ARGS (arg), expected);
  g_free (path);
  g_free (expected);
  path = write_conf (&f, "values.conf", "[nix]\nsocket=/run/\\q\n", -1);
  expected = g_strconcat (path, ":2: key 'socket' in [nix]: the value cannot be read", NULL);
  assert_refused (&f, ARGS (arg), expected);
  fixture_clear (&f);
}

/* A translated key (GKeyFile's KEY[LOCALE]) is read by nothing: it used to
 * be dropped without a word ("network[de]=off" left the network on), in
 * [cbox] and in a plugin's group, in a file and in a profile. */
static void
test_keys_translated (void)
{
  Fixture f;
  g_autofree char *path = NULL;
  g_autofree char *arg = NULL;
  g_autofree char *expected = NULL;

  fixture_init (&f);
  path = write_conf (&f, "translated.conf", "[cbox]\nnetwork=on\nnetwork[de]=off\n", -1);
  arg = g_strconcat ("--config=", path, NULL);
  expected = g_strconcat (path,
                          ":3: key 'network[de]' in [cbox]: a translated key (KEY[LOCALE]), which "
                          "cbox never reads; write the key without brackets",
                          NULL);
  assert_refused (&f, ARGS (arg), expected);
  g_free (path);
  g_free (expected);
  path = write_conf (&f, "translated.conf", "[ssh]\n  keys[C] = false\n", -1);
  expected = g_strconcat (path, ":2: key 'keys[C]' in [ssh]: a translated key", NULL);
  assert_refused (&f, ARGS (arg), expected);
  g_free (path);
  path = write_conf (&f, "translated.conf", "[cbox]\nnetwork=on\n[ssh]\nkeys=false\n", -1);
  assert_runs (&f, ARGS (arg));

  /* A profile is read by the same code. */
  {
    g_autofree char *profiles
        = g_build_filename (g_environ_getenv (f.env, "XDG_CONFIG_HOME"), "cbox", "profiles", NULL);
    g_autofree char *profile = g_build_filename (profiles, "translated.conf", NULL);
    g_autofree char *in_profile = NULL;
    g_autoptr (GError) error = NULL;

    g_assert_cmpint (g_mkdir_with_parents (profiles, 0755), ==, 0);
    g_file_set_contents (profile, "[cbox]\nnetwork[fr]=off\n", -1, &error);
    g_assert_no_error (error);
    in_profile = g_strconcat (profile, ":2: key 'network[fr]' in [cbox]: a translated key", NULL);
    assert_refused (&f, ARGS ("--profile=translated"), in_profile);
  }
  fixture_clear (&f);
}

/* A group no plugin reads: a typo of a plugin's name, or an alias. A group
 * of a shipped plugin this build may lack is accepted. */
static void
test_keys_groups (void)
{
  Fixture f;
  g_autofree char *path = NULL;
  g_autofree char *arg = NULL;
  g_autofree char *expected = NULL;

  fixture_init (&f);
  path = write_conf (&f, "group.conf", "[cbox]\n[shh]\nkeys=false\n", -1);
  arg = g_strconcat ("--config=", path, NULL);
  expected = g_strconcat (
      path, ":3: unknown group [shh]: no plugin of that name; did you mean [ssh]?", NULL);
  assert_refused (&f, ARGS (arg), expected);
  g_free (path);
  path = write_conf (&f, "group.conf", "[cbox]\n[ssh]\n[frobnicator]\n", -1);
  g_free (expected);
  expected = g_strconcat (path, ":3: unknown group [frobnicator]", NULL);
  assert_refused (&f, ARGS (arg), expected);
  assert_refused (&f, ARGS ("--set=gpu.card-nodes=false"),
                  "[gpu] is an alias; a plugin reads the group of its own name ([dri])");
  assert_refused (&f, ARGS ("--set=dri.card-nodes=false", "--profile=nosuch"), "No profile");
  assert_runs (&f, ARGS ("--set=dri.card-nodes=false"));
  fixture_clear (&f);
}

/* docs/config.md's tables of plugin keys are the declarations' own: each
 * built plugin's table is in it, as cbox_config_format_plugin_keys()
 * writes it from the descriptor. */
static void
test_keys_docs (void)
{
  g_autoptr (CboxRegistry) registry = cbox_registry_new ();
  g_autoptr (GPtrArray) descs = load_shipped_plugins (registry);
  g_autofree char *doc_path
      = g_build_filename (g_getenv ("G_TEST_SRCDIR"), "..", "docs", "config.md", NULL);
  g_autofree char *doc = NULL;
  g_autoptr (GError) error = NULL;

  g_file_get_contents (doc_path, &doc, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < descs->len; i++)
    {
      const CboxPluginDesc *desc = g_ptr_array_index (descs, i);
      g_autofree char *table = NULL;

      if (g_str_equal (desc->name, "test"))
        continue;
      table = cbox_config_format_plugin_keys (desc, TRUE);
      /* To write the tables anew: CBOX_PRINT_KEY_TABLES=1 meson test -C build
       * core-failclosed --test-args='-p /failclosed/keys/docs' -v */
      if (g_getenv ("CBOX_PRINT_KEY_TABLES") != NULL)
        {
          g_print ("%s\n", table);
          continue;
        }
      if (strstr (doc, table) == NULL)
        g_error ("docs/config.md lacks this table of [%s], or has another (write it from the "
                 "declarations, as here):\n%s",
                 desc->name, table);
    }
}

/* `cbox help NAME` and `cbox help plugins` list the keys. */
static void
test_keys_help (void)
{
  g_auto (CboxTestResult) result = { 0 };

  cbox_test_run (ARGS ("help", "ssh"), NULL, NULL, NULL, &result);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "Keys of [ssh]"));
  g_assert_nonnull (strstr (result.out, "  keys  "));
  g_assert_nonnull (strstr (result.out, "  agent  "));
  cbox_test_run (ARGS ("help", "gpu"), NULL, NULL, NULL, &result);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "card-nodes"));
  cbox_test_run (ARGS ("help", "plugins"), NULL, NULL, NULL, &result);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "Usage: cbox plugins"));
  g_assert_nonnull (strstr (result.out, "Keys of [qemu]"));
  g_assert_nonnull (strstr (result.out, "whole number, 1 to 256"));
  cbox_test_run (ARGS ("help", "nosuch"), NULL, NULL, NULL, &result);
  cbox_test_assert_status (&result, 125);
}

/* ---- plugins that crash, hang or break the contract ------------------------ */

/* A folder holding only the crashing plugin @name (a copy), first on the
 * plugin path, and the environment that puts it there. */
static char **
crashing_env (Fixture *f, const char *name, const char *const *extra)
{
  g_autofree char *source_dir
      = g_test_build_filename (G_TEST_BUILT, "broken-plugins", "crashing", NULL);
  g_autofree char *file = g_strdup_printf ("libcbox-%s.so", name);
  g_autofree char *source = g_build_filename (source_dir, file, NULL);
  g_autofree char *dir = g_build_filename (f->dir, name, NULL);
  g_autofree char *copy = g_build_filename (dir, file, NULL);
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  gsize len;
  char **env;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_file_get_contents (source, &contents, &len, &error);
  g_assert_no_error (error);
  g_file_set_contents (copy, contents, (gssize)len, &error);
  g_assert_no_error (error);
  env = g_strdupv (f->env);
  for (guint i = 0; env[i] != NULL; i++)
    if (g_str_has_prefix (env[i], "CBOX_PLUGIN_PATH="))
      {
        char *old = env[i];
        env[i]
            = g_strdup_printf ("CBOX_PLUGIN_PATH=%s:%s", dir, old + strlen ("CBOX_PLUGIN_PATH="));
        g_free (old);
      }
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    env = g_environ_setenv (env, "CBOX_PLUGIN_TIMEOUT_S", strchr (extra[i], '=') + 1, TRUE);
  return env;
}

typedef struct
{
  const char *name;
  const char *run_message;     /* what `cbox run` says */
  const char *plugins_message; /* what `cbox plugins` says of it, or NULL: accepted */
  const char *doctor_message;  /* what `cbox doctor` says of it */
} CrashCase;

static const CrashCase crash_cases[] = {
  { "crash-constructor",
    "plugin 'crash-constructor' crashed in loading (its constructors) (signal 11, SIGSEGV",
    "it crashed while loaded (its constructors or describe()): signal 11, SIGSEGV",
    "it crashed while loaded" },
  { "crash-describe", "plugin 'crash-describe' crashed in its describe() (signal 11, SIGSEGV",
    "it crashed while loaded (its constructors or describe()): signal 11",
    "it crashed while loaded" },
  { "hang-constructor",
    "plugin 'hang-constructor' did not return from loading (its constructors) within 1 s (it "
    "hangs)",
    "it hangs: loading it (its constructors and describe()) did not end within 1 s",
    "it hangs: loading it" },
  { "hang-describe",
    "plugin 'hang-describe' did not return from its describe() within 1 s (it hangs)",
    "it hangs: loading it (its constructors and describe()) did not end within 1 s",
    "it hangs: loading it" },
  { "crash-probe", "plugin 'crash-probe' crashed in its probe (signal 11, SIGSEGV", NULL,
    "crashed in its probe: signal 11, SIGSEGV" },
  { "hang-probe", "plugin 'hang-probe' did not return from its probe within 1 s (it hangs)", NULL,
    "hangs: its probe did not return within 1 s" },
  { "probe-false",
    "Forwarder 'probe-false' broke the plugin contract in its probe: it returned FALSE without "
    "setting an error",
    NULL, "broke the plugin contract in its probe: it returned FALSE without setting an error" },
  { "crash-contribute", "plugin 'crash-contribute' crashed in its contribute (signal 11, SIGSEGV",
    NULL, "available" },
  { "gerror-contribute", "plugin 'gerror-contribute' crashed in its contribute (signal 5, SIGTRAP",
    NULL, "available" },
  { "relative-dest",
    "Forwarder 'relative-dest' broke the plugin contract in its contribute: "
    "cbox_plan_add_bind_ro: destination 'etc/hostname' is not an absolute normalized path",
    NULL, "available" },
};

/* Each broken plugin, asked for: `cbox run` stops with 125 naming it and
 * what it did, never 134, 135 or 139 or a hang (a hang in the constructor
 * or describe() too: the case), and no sandbox ran; `cbox
 * plugins` and `cbox doctor` survive it and say what is wrong with it. */
static void
test_plugins_crash (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (crash_cases); i++)
    {
      const CrashCase *c = &crash_cases[i];
      Fixture f;
      g_auto (GStrv) env = NULL;
      g_autofree char *forward = g_strconcat ("--forward=", c->name, NULL);
      g_auto (CboxTestResult) result = { 0 };

      fixture_init (&f);
      env = crashing_env (&f, c->name, ARGS ("CBOX_PLUGIN_TIMEOUT_S=1"));
      g_test_message ("case %s", c->name);

      for (guint plan = 0; plan < 2; plan++)
        {
          cbox_test_run (plan ? ARGS ("--backend=test", forward, "plan")
                              : ARGS ("--backend=test", forward, "run", "--", "true"),
                         f.dir, (const char *const *)env, NULL, &result);
          g_test_message ("%s", result.err);
          cbox_test_assert_status (&result, 125);
          if (strstr (result.err, c->run_message) == NULL)
            g_error ("expected '%s' in '%s'", c->run_message, result.err);
          g_assert_false (g_file_test (f.output, G_FILE_TEST_EXISTS));
        }

      cbox_test_run (ARGS ("plugins"), f.dir, (const char *const *)env, NULL, &result);
      cbox_test_assert_status (&result, 0);
      g_assert_nonnull (strstr (result.out, "hostconf"));
      if (c->plugins_message != NULL && strstr (result.out, c->plugins_message) == NULL)
        g_error ("expected '%s' in 'cbox plugins': %s", c->plugins_message, result.out);

      cbox_test_run (ARGS ("--backend=test", "doctor"), f.dir, (const char *const *)env, NULL,
                     &result);
      cbox_test_assert_status (&result, 0);
      g_assert_nonnull (strstr (result.out, "hostconf"));
      if (strstr (result.out, c->doctor_message) == NULL)
        g_error ("expected '%s' in 'cbox doctor': %s", c->doctor_message, result.out);
      fixture_clear (&f);
    }
}

/* A broken plugin not asked for does not stop a run that does not use it,
 * unless loading it is what crashes (every run loads every file the cache
 * does not describe); one that breaks the contract as a default is left
 * out. */
static void
test_plugins_crash_unused (void)
{
  Fixture f;
  g_auto (GStrv) env = NULL;
  g_auto (CboxTestResult) result = { 0 };

  fixture_init (&f);
  env = crashing_env (&f, "crash-probe", NULL);
  cbox_test_run (ARGS ("--backend=test", "run", "--", "true"), f.dir, (const char *const *)env,
                 NULL, &result);
  cbox_test_assert_status (&result, 0);
  g_assert_true (g_file_test (f.output, G_FILE_TEST_EXISTS));
  fixture_clear (&f);

  /* Not asked for (forward-optional), a plugin that breaks the contract in
   * its probe or contribute is left out with the reason, and nothing it
   * added stays in the plan. */
  for (guint i = 0; i < 2; i++)
    {
      const char *name = i == 0 ? "probe-false" : "relative-dest";
      g_autofree char *optional = g_strconcat ("--set=cbox.forward-optional=", name, NULL);
      g_autofree char *contents = NULL;

      fixture_init (&f);
      g_strfreev (env);
      env = crashing_env (&f, name, NULL);
      cbox_test_run (ARGS ("--backend=test", optional, "plan"), f.dir, (const char *const *)env,
                     NULL, &result);
      cbox_test_assert_status (&result, 0);
      g_assert_nonnull (strstr (result.out, "broke the plugin contract"));
      g_assert_null (strstr (result.out, "CBOX_CRASHING_PLUGIN"));
      cbox_test_run (ARGS ("--backend=test", optional, "run", "--", "true"), f.dir,
                     (const char *const *)env, NULL, &result);
      cbox_test_assert_status (&result, 0);
      g_assert_true (g_file_get_contents (f.output, &contents, NULL, NULL));
      g_assert_null (strstr (contents, "CBOX_CRASHING_PLUGIN"));
      g_assert_null (strstr (contents, "etc/hostname\""));
      fixture_clear (&f);
    }
}

/* A plugin that loaded fine when a run cached its descriptor, and crashes
 * in its constructor now (as one whose library changed would: the cache's
 * stamp is the plugin file's only). `cbox doctor` and `cbox plugins` load
 * it in a child all the same and report it; a run stops with 125 naming
 * it. */
static void
test_plugins_crash_after_cached (void)
{
  Fixture f;
  g_auto (GStrv) env = NULL;
  g_auto (GStrv) crash_env = NULL;
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *cache = NULL;
  g_autofree char *contents = NULL;

  fixture_init (&f);
  env = crashing_env (&f, "crash-constructor-later", NULL);
  cbox_test_run (ARGS ("--backend=test", "run", "--", "true"), f.dir, (const char *const *)env,
                 NULL, &result);
  cbox_test_assert_status (&result, 0);
  /* The run described it in the cache (else this tests nothing new). */
  cache
      = g_build_filename (g_environ_getenv (env, "XDG_CACHE_HOME"), "cbox", "plugins.cache", NULL);
  g_assert_true (g_file_get_contents (cache, &contents, NULL, NULL));
  g_assert_nonnull (strstr (contents, "libcbox-crash-constructor-later.so"));

  crash_env = g_environ_setenv (g_strdupv (env), "CBOX_TEST_CRASH_ON_LOAD", "1", TRUE);
  cbox_test_run (ARGS ("--backend=test", "doctor"), f.dir, (const char *const *)crash_env, NULL,
                 &result);
  g_test_message ("%s%s", result.out, result.err);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "hostconf"));
  g_assert_nonnull (strstr (result.out, "crash-constructor-later"));
  g_assert_nonnull (strstr (result.out, "it crashed while loaded (its constructors or describe()): "
                                        "signal 11, SIGSEGV"));
  cbox_test_run (ARGS ("plugins"), f.dir, (const char *const *)crash_env, NULL, &result);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "it crashed while loaded"));
  g_unlink (f.output);
  cbox_test_run (ARGS ("--backend=test", "--forward=crash-constructor-later", "run", "--", "true"),
                 f.dir, (const char *const *)crash_env, NULL, &result);
  cbox_test_assert_status (&result, 125);
  g_assert_nonnull (strstr (result.err, "plugin 'crash-constructor-later' crashed in loading"));
  g_assert_false (g_file_test (f.output, G_FILE_TEST_EXISTS));
  fixture_clear (&f);
}

/* A plugin cut short is refused with the reason, by every command, instead
 * of SIGBUS inside dlopen. */
static void
test_plugins_truncated (void)
{
  Fixture f;
  g_autofree char *dir = NULL;
  g_autofree char *whole = NULL;
  g_autofree char *git = NULL;
  g_autofree char *path_env = NULL;
  g_auto (GStrv) env = NULL;
  g_autoptr (GError) error = NULL;
  const char *paths = NULL;
  gsize len;

  fixture_init (&f);
  paths = g_environ_getenv (f.env, "CBOX_PLUGIN_PATH");
  {
    g_auto (GStrv) dirs = g_strsplit (paths, ":", -1);
    for (guint i = 0; dirs[i] != NULL && git == NULL; i++)
      {
        g_autofree char *candidate = g_build_filename (dirs[i], "libcbox-git.so", NULL);
        if (g_file_test (candidate, G_FILE_TEST_EXISTS))
          git = g_steal_pointer (&candidate);
      }
  }
  if (git == NULL)
    {
      g_test_skip ("the git plugin is not built");
      fixture_clear (&f);
      return;
    }
  g_file_get_contents (git, &whole, &len, &error);
  g_assert_no_error (error);
  dir = g_build_filename (f.dir, "cut", NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  path_env = g_strdup_printf ("%s:%s", dir, paths);
  env = g_environ_setenv (g_strdupv (f.env), "CBOX_PLUGIN_PATH", path_env, TRUE);
  for (gsize cut = 1000; cut <= 16384; cut *= 4)
    {
      g_autofree char *file = g_strdup_printf ("%s/libcbox-cut.so", dir);
      g_auto (CboxTestResult) result = { 0 };

      g_assert_cmpuint (len, >, cut);
      g_file_set_contents (file, whole, (gssize)cut, &error);
      g_assert_no_error (error);
      cbox_test_run (ARGS ("plugins"), f.dir, (const char *const *)env, NULL, &result);
      cbox_test_assert_status (&result, 0);
      g_assert_nonnull (strstr (result.out, "not a plugin this cbox can load"));
      g_assert_nonnull (strstr (result.out, "cut short?"));
      cbox_test_run (ARGS ("--backend=test", "run", "--", "true"), f.dir, (const char *const *)env,
                     NULL, &result);
      cbox_test_assert_status (&result, 0);
      g_assert_true (g_file_test (f.output, G_FILE_TEST_EXISTS));
      g_unlink (f.output);
      cbox_test_run (ARGS ("--backend=test", "--forward=cut", "run", "--", "true"), f.dir,
                     (const char *const *)env, NULL, &result);
      cbox_test_assert_status (&result, 125);
      g_assert_nonnull (strstr (result.err, "cut short?"));
      g_assert_false (g_file_test (f.output, G_FILE_TEST_EXISTS));
    }
  fixture_clear (&f);
}

/* ---- privileged loading, names ------------------------------------------ */

/* A copy of tests/broken-plugins' good forwarder as @dir/libcbox-good-forwarder.so
 * (made with @dir_mode), the file with @file_mode. Returns the path. */
static char *
place_good_plugin (const char *dir, guint dir_mode, guint file_mode, const char *file_name)
{
  g_autofree char *source
      = g_test_build_filename (G_TEST_BUILT, "broken-plugins", "libcbox-good-forwarder.so", NULL);
  char *copy = g_build_filename (dir, file_name, NULL);
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  gsize len;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_file_get_contents (source, &contents, &len, &error);
  g_assert_no_error (error);
  g_file_set_contents (copy, contents, (gssize)len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (copy, file_mode), ==, 0);
  g_assert_cmpint (g_chmod (dir, dir_mode), ==, 0);
  return copy;
}

static void
run_plugins_with_path (Fixture *f, const char *dir, CboxTestResult *result)
{
  g_auto (GStrv) env = g_environ_setenv (g_strdupv (f->env), "CBOX_PLUGIN_PATH", dir, TRUE);

  cbox_test_run (ARGS ("plugins"), f->dir, (const char *const *)env, NULL, result);
  cbox_test_assert_status (result, 0);
}

/* As root, a plugin in a world-writable folder, one others may write, or
 * one that is not root's, or a link to a plugin in a folder others may
 * write, is refused with the reason (the folders are made here, under a
 * temporary folder: no system folder is touched). As a user,
 * the same files load: only a privileged cbox must refuse them. */
static void
test_privileged_loading (void)
{
  Fixture f;
  gboolean root = geteuid () == 0;
  const struct
  {
    const char *name;
    guint dir_mode;
    guint file_mode;
    gboolean chown_nobody;
    const char *why;
  } cases[] = {
    { "world-writable-folder", 0777, 0644, FALSE, "others may write the folder" },
    { "group-writable-folder", 0775, 0644, FALSE, "others may write the folder" },
    { "world-writable-file", 0755, 0666, FALSE, "others may write it (mode 0666)" },
    { "group-writable-file", 0755, 0664, FALSE, "others may write it (mode 0664)" },
    { "not-roots", 0755, 0644, TRUE, "belongs to uid 65534, not root" },
    { "fine", 0755, 0644, FALSE, NULL },
  };

  fixture_init (&f);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *dir = g_build_filename (f.dir, cases[i].name, NULL);
      g_autofree char *plugin = place_good_plugin (dir, cases[i].dir_mode, cases[i].file_mode,
                                                   "libcbox-good-forwarder.so");
      g_auto (CboxTestResult) result = { 0 };
      gboolean refused;

      if (cases[i].chown_nobody)
        {
          if (!root)
            continue;
          g_assert_no_errno (chown (plugin, 65534, 65534));
        }
      run_plugins_with_path (&f, dir, &result);
      g_test_message ("%s: %s", cases[i].name, result.out);
      refused = strstr (result.out, "Rejected:") != NULL;
      if (root && cases[i].why != NULL)
        {
          g_assert_true (refused);
          g_assert_nonnull (strstr (result.out, "cbox runs privileged"));
          g_assert_nonnull (strstr (result.out, cases[i].why));
        }
      else
        g_assert_false (refused);

      /* Asked for by a run: as root, exit 125 with the reason before any
       * sandbox; as a user, it runs. */
      {
        g_autofree char *path
            = g_strdup_printf ("%s:%s", dir, g_environ_getenv (f.env, "CBOX_PLUGIN_PATH"));
        g_auto (GStrv) env = g_environ_setenv (g_strdupv (f.env), "CBOX_PLUGIN_PATH", path, TRUE);
        g_auto (CboxTestResult) run = { 0 };

        g_unlink (f.output);
        cbox_test_run (ARGS ("--backend=test", "--forward=good-forwarder", "run", "--", "true"),
                       f.dir, (const char *const *)env, NULL, &run);
        if (root && cases[i].why != NULL)
          {
            cbox_test_assert_status (&run, 125);
            g_assert_nonnull (strstr (run.err, cases[i].why));
            g_assert_false (g_file_test (f.output, G_FILE_TEST_EXISTS));
          }
        else
          {
            cbox_test_assert_status (&run, 0);
            g_assert_true (g_file_test (f.output, G_FILE_TEST_EXISTS));
          }
      }
    }

  /* A folder others may write, holding only a link to a plugin in a safe
   * folder: whoever may write it can point the link elsewhere, so as root
   * it is refused all the same (the folders were checked only after the
   * links were resolved). A link in a safe folder to a safe file loads. */
  for (guint writable = 0; writable < 2; writable++)
    {
      g_autofree char *target_dir = g_build_filename (f.dir, "link-target", NULL);
      g_autofree char *target
          = place_good_plugin (target_dir, 0755, 0644, "libcbox-good-forwarder.so");
      g_autofree char *dir = g_build_filename (
          f.dir, writable ? "link-in-writable-folder" : "link-in-safe-folder", NULL);
      g_autofree char *link = g_build_filename (dir, "libcbox-good-forwarder.so", NULL);
      g_autofree char *why = g_strdup_printf ("others may write the folder %s (mode 0777)", dir);
      g_auto (CboxTestResult) result = { 0 };
      gboolean refused;

      g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
      g_assert_no_errno (symlink (target, link));
      g_assert_cmpint (g_chmod (dir, writable ? 0777 : 0755), ==, 0);
      run_plugins_with_path (&f, dir, &result);
      g_test_message ("link, %s: %s", writable ? "writable folder" : "safe folder", result.out);
      refused = strstr (result.out, "Rejected:") != NULL;
      if (root && writable)
        {
          g_assert_true (refused);
          g_assert_nonnull (strstr (result.out, why));
        }
      else
        g_assert_false (refused);
    }
  fixture_clear (&f);
}

/* A file must be named after the plugin it holds; a plugin of the plugin
 * path that replaces another is shown as such. */
static void
test_names (void)
{
  Fixture f;
  g_autofree char *misnamed_dir = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autofree char *path = NULL;
  g_auto (CboxTestResult) result = { 0 };
  g_auto (GStrv) env = NULL;

  fixture_init (&f);
  misnamed_dir = g_build_filename (f.dir, "misnamed", NULL);
  g_free (place_good_plugin (misnamed_dir, 0755, 0644, "libcbox-x11.so"));
  run_plugins_with_path (&f, misnamed_dir, &result);
  g_assert_nonnull (strstr (result.out, "the file holds plugin 'good-forwarder', whose file must "
                                        "be named libcbox-good-forwarder.so"));

  /* Two folders with the same plugin: the first wins, visibly. */
  first = g_build_filename (f.dir, "first", NULL);
  second = g_build_filename (f.dir, "second", NULL);
  g_free (place_good_plugin (first, 0755, 0644, "libcbox-good-forwarder.so"));
  g_free (place_good_plugin (second, 0755, 0644, "libcbox-good-forwarder.so"));
  path = g_strdup_printf ("%s:%s", first, second);
  run_plugins_with_path (&f, path, &result);
  g_assert_nonnull (strstr (result.out, "note: replaces "));
  g_assert_nonnull (strstr (result.out, "second/libcbox-good-forwarder.so (found first, on "
                                        "CBOX_PLUGIN_PATH)"));

  env = g_environ_setenv (g_strdupv (f.env), "CBOX_PLUGIN_PATH",
                          g_environ_getenv (f.env, "CBOX_PLUGIN_PATH"), TRUE);
  {
    g_autofree char *with
        = g_strdup_printf ("%s:%s:%s", first, g_environ_getenv (f.env, "CBOX_PLUGIN_PATH"), second);
    g_strfreev (env);
    env = g_environ_setenv (g_strdupv (f.env), "CBOX_PLUGIN_PATH", with, TRUE);
  }
  /* An alias that is another plugin's name: that plugin is refused. */
  {
    g_auto (GStrv) clash_env = crashing_env (&f, "alias-clash", NULL);
    g_auto (CboxTestResult) clash = { 0 };

    cbox_test_run (ARGS ("plugins"), f.dir, (const char *const *)clash_env, NULL, &clash);
    cbox_test_assert_status (&clash, 0);
    g_assert_nonnull (strstr (clash.out, "its alias 'hostconf' is the name of another plugin"));
    cbox_test_run (ARGS ("--backend=test", "--forward=hostconf", "plan"), f.dir,
                   (const char *const *)clash_env, NULL, &clash);
    cbox_test_assert_status (&clash, 0);
    g_assert_nonnull (strstr (clash.out, "forwarders:  hostconf"));
  }

  cbox_test_run (ARGS ("-v", "--backend=test", "--forward=good-forwarder", "plan"), f.dir,
                 (const char *const *)env, NULL, &result);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.err, "cbox: note: plugin 'good-forwarder' from "));
  g_assert_nonnull (strstr (result.out, "forwarder 'good-forwarder' comes from "));
  fixture_clear (&f);
}

/* A low soft limit of open files: cbox raises its own (every plugin
 * loads, none is "broken"), and the command gets the limit it was started
 * with. */
static void
test_nofile_limit (void)
{
  Fixture f;
  struct rlimit old;
  struct rlimit low;
  g_auto (CboxTestResult) result = { 0 };

  g_assert_no_errno (getrlimit (RLIMIT_NOFILE, &old));
  if (old.rlim_max != RLIM_INFINITY && old.rlim_max < 1024)
    {
      g_test_skip ("the hard limit of open files is too low to raise anything");
      return;
    }
  fixture_init (&f);
  low = old;
  low.rlim_cur = 20;
  g_assert_no_errno (setrlimit (RLIMIT_NOFILE, &low));
  cbox_test_run (ARGS ("plugins"), f.dir, (const char *const *)f.env, NULL, &result);
  if (cbox_test_backend_is_built ("bwrap"))
    {
      g_auto (CboxTestResult) run = { 0 };
      cbox_test_run (ARGS ("--forward=none", "run", "--", "sh", "-c", "ulimit -Sn"), f.dir,
                     (const char *const *)f.env, NULL, &run);
      g_assert_no_errno (setrlimit (RLIMIT_NOFILE, &old));
      cbox_test_assert_status (&run, 0);
      g_assert_cmpstr (run.out, ==, "20\n");
    }
  g_assert_no_errno (setrlimit (RLIMIT_NOFILE, &old));
  cbox_test_assert_status (&result, 0);
  g_assert_null (strstr (result.out, "Rejected:"));
  g_assert_null (strstr (result.out, "Rebuild"));
  fixture_clear (&f);
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
  g_test_add_func ("/failclosed/keys/typos", test_keys_typos);
  g_test_add_func ("/failclosed/keys/values", test_keys_values);
  g_test_add_func ("/failclosed/options/deprecated-qemu", test_options_deprecated_qemu);
  g_test_add_func ("/failclosed/keys/groups", test_keys_groups);
  g_test_add_func ("/failclosed/keys/translated", test_keys_translated);
  g_test_add_func ("/failclosed/keys/docs", test_keys_docs);
  g_test_add_func ("/failclosed/keys/help", test_keys_help);
  g_test_add_func ("/failclosed/plugins/crash", test_plugins_crash);
  g_test_add_func ("/failclosed/plugins/crash-unused", test_plugins_crash_unused);
  g_test_add_func ("/failclosed/plugins/crash-after-cached", test_plugins_crash_after_cached);
  g_test_add_func ("/failclosed/plugins/truncated", test_plugins_truncated);
  g_test_add_func ("/failclosed/plugins/privileged", test_privileged_loading);
  g_test_add_func ("/failclosed/plugins/names", test_names);
  g_test_add_func ("/failclosed/resources/nofile", test_nofile_limit);
  return g_test_run ();
}

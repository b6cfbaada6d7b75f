/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Configuration: files, search order, profiles, and errors naming file,
 * line and key. */

#include "config.h"

#include <string.h>

#include <sys/stat.h>

#include <glib/gstdio.h>

#include "cbox-config.h"
#include "cbox-test-util.h"

static char *
write_file (const char *dir, const char *name, const char *contents)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autofree char *parent = g_path_get_dirname (path);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  return path;
}

static void
assert_config_error (const char *contents, const char *expected_line_key)
{
  g_autofree char *dir = cbox_test_make_dir ("bad");
  g_autofree char *path = write_file (dir, "cbox.conf", contents);
  g_autoptr (CboxConfig) config = cbox_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *where = g_strconcat (path, expected_line_key, NULL);

  g_assert_false (cbox_config_load_file (config, CBOX_CONFIG_LAYER_FILES, path, FALSE, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
  g_test_message ("%s", error->message);
  if (!g_str_has_prefix (error->message, where))
    g_error ("expected the message to start with '%s', got '%s'", where, error->message);
}

static void
test_bad_unknown_key (void)
{
  assert_config_error ("# comment\n[cbox]\nbackend=bwrap\n\nbogus=1\n",
                       ":5: key 'bogus' in [cbox]");
}

static void
test_bad_network (void)
{
  assert_config_error ("[cbox]\nnetwork=maybe\n", ":2: key 'network' in [cbox]");
}

/* network-keep: seconds, digits only, 0 to a day. */
static void
test_bad_network_keep (void)
{
  static const char *const bad[] = { "-1", "1.5", "60s", " ", "86401", "0x10", "1e3" };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *text = g_strdup_printf ("[cbox]\nnetwork-keep=%s\n", bad[i]);
      assert_config_error (text, ":2: key 'network-keep' in [cbox]");
    }
  g_assert_cmpint (cbox_config_parse_seconds ("0"), ==, 0);
  g_assert_cmpint (cbox_config_parse_seconds ("86400"), ==, 86400);
  g_assert_cmpint (cbox_config_parse_seconds ("007"), ==, 7);
  g_assert_cmpint (cbox_config_parse_seconds ("86401"), ==, -1);
  g_assert_cmpint (cbox_config_parse_seconds (""), ==, -1);
}

static void
test_bad_backend_name (void)
{
  assert_config_error ("[x11]\ntrusted=false\n[cbox]\n  backend = Bad/Name\n",
                       ":4: key 'backend' in [cbox]");
}

static void
test_bad_syntax (void)
{
  assert_config_error ("[cbox]\nbackend=bwrap\nthis line is not a pair\n", ":3:");
}

static void
test_bad_no_group (void)
{
  assert_config_error ("backend=bwrap\n", ":1:");
}

static void
test_bad_bind (void)
{
  assert_config_error ("[cbox]\nbind=relative/path\n", ":2: key 'bind' in [cbox]");
  assert_config_error ("[cbox]\nro-bind=/a:\n", ":2: key 'ro-bind' in [cbox]");
}

static void
test_bad_escape (void)
{
  /* A colon in a path is "\:" for cbox, and the key file wants the
   * backslash itself escaped: "\\:". A bare "\:" is a key-file error. */
  assert_config_error ("[cbox]\nbind=/a\\:b\n", ":2: key 'bind' in [cbox]");
}

static void
test_bad_command (void)
{
  assert_config_error ("[cbox]\ncommand=claude 'unterminated\n", ":2: key 'command' in [cbox]");
}

static void
test_bad_profile_in_profile (void)
{
  g_autofree char *dir = cbox_test_make_dir ("profile-in-profile");
  g_autoptr (CboxConfig) config = cbox_config_new ();
  g_autoptr (GError) error = NULL;
  const char *dirs[] = { dir, NULL };

  g_free (write_file (dir, "profiles/p.conf", "[cbox]\nprofile=other\n"));
  g_assert_false (cbox_config_load_profile (config, dirs, "p", &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, ":2: key 'profile'"));
}

static void
test_missing_file (void)
{
  g_autoptr (CboxConfig) config = cbox_config_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (cbox_config_load_file (config, CBOX_CONFIG_LAYER_FILES, "/nonexistent/cbox.conf",
                                        TRUE, &error));
  g_assert_no_error (error);
  g_assert_false (cbox_config_load_file (config, CBOX_CONFIG_LAYER_FILES, "/nonexistent/cbox.conf",
                                         FALSE, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "/nonexistent/cbox.conf"));
}

static void
test_fifo_file (void)
{
  g_autoptr (CboxConfig) config = cbox_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = cbox_test_make_dir ("fifo");
  g_autofree char *fifo = g_build_filename (dir, "cbox.conf", NULL);

  /* Nobody writes the fifo: reading it would block forever. */
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_false (cbox_config_load_file (config, CBOX_CONFIG_LAYER_FILES, fifo, FALSE, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, fifo));
  g_clear_error (&error);
  /* Not even a missing-file pass: it exists, it is just not a file. */
  g_assert_false (cbox_config_load_file (config, CBOX_CONFIG_LAYER_FILES, fifo, TRUE, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
}

static void
test_search_order (void)
{
  g_autofree char *data = cbox_test_make_dir ("data");
  g_autofree char *sys = cbox_test_make_dir ("sys");
  g_autofree char *user = cbox_test_make_dir ("user");
  g_autofree char *extra_dir = cbox_test_make_dir ("extra");
  g_autofree char *extra = write_file (extra_dir, "my.conf", "[cbox]\nnetwork=off\n");
  const char *dirs[] = { data, sys, user, NULL };
  g_autoptr (CboxConfig) config = cbox_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *backend = NULL;
  g_autofree char *network = NULL;
  g_autofree char *k = NULL;
  g_autofree char *only = NULL;
  g_auto (GStrv) forward = NULL;

  g_free (write_file (data, "cbox.conf",
                      "[cbox]\nbackend=one\nnetwork=on\nforward=a;b\n[x11]\nk=data\n"));
  g_free (write_file (sys, "cbox.conf", "[cbox]\nbackend=two\n[x11]\nk=sys\nonly=sys\n"));
  g_free (write_file (user, "cbox.conf", "[cbox]\nbackend=three\n"));
  g_assert_true (cbox_config_load_files (config, dirs, extra, &error));
  g_assert_no_error (error);
  backend = cbox_config_get_core_string (config, "backend");
  network = cbox_config_get_core_string (config, "network");
  g_assert_cmpstr (backend, ==, "three");
  g_assert_cmpstr (network, ==, "off");
  k = g_key_file_get_string (cbox_config_get_merged (config), "x11", "k", NULL);
  only = g_key_file_get_string (cbox_config_get_merged (config), "x11", "only", NULL);
  g_assert_cmpstr (k, ==, "sys");
  g_assert_cmpstr (only, ==, "sys");
  /* Keys nobody replaced stay. */
  forward
      = g_key_file_get_string_list (cbox_config_get_merged (config), "cbox", "forward", NULL, NULL);
  g_assert_cmpstrv (forward, ((const char *const[]){ "a", "b", NULL }));

  /* The command line wins over every file. */
  g_assert_true (cbox_config_set (config, "cbox", "backend", "four", &error));
  g_assert_no_error (error);
  g_clear_pointer (&backend, g_free);
  backend = cbox_config_get_core_string (config, "backend");
  g_assert_cmpstr (backend, ==, "four");

  /* --config must exist. */
  {
    g_autoptr (CboxConfig) other = cbox_config_new ();
    g_assert_false (cbox_config_load_files (other, dirs, "/nonexistent.conf", &error));
    g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
  }
}

static void
test_search_dirs_env (void)
{
  g_autofree char *data = cbox_test_make_dir ("env-data");
  g_autofree char *sys = cbox_test_make_dir ("env-sys");
  g_autofree char *xdg = cbox_test_make_dir ("env-xdg");
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_auto (GStrv) dirs = NULL;
  g_autofree char *expected_user = g_build_filename (xdg, "cbox", NULL);

  cbox_host_set_user (host, 1000, 1000, "u", "/home/u", "/bin/sh");
  cbox_host_set_caller_uid (host, 1000);
  g_setenv ("CBOX_DATA_DIR", data, TRUE);
  g_setenv ("CBOX_SYSCONF_DIR", sys, TRUE);
  g_setenv ("XDG_CONFIG_HOME", xdg, TRUE);
  dirs = cbox_config_get_search_dirs (host);
  g_assert_cmpstrv (dirs, ((const char *const[]){ data, sys, expected_user, NULL }));

  /* Not the caller's own: the target user's folder, not the caller's
   * XDG_CONFIG_HOME. */
  g_clear_pointer (&dirs, g_strfreev);
  cbox_host_set_caller_uid (host, 0);
  dirs = cbox_config_get_search_dirs (host);
  g_assert_cmpstr (dirs[2], ==, "/home/u/.config/cbox");

  g_unsetenv ("CBOX_DATA_DIR");
  g_unsetenv ("CBOX_SYSCONF_DIR");
  g_clear_pointer (&dirs, g_strfreev);
  dirs = cbox_config_get_search_dirs (host);
  g_assert_cmpstr (dirs[0], ==, CBOX_DATA_DIR);
  g_assert_cmpstr (dirs[1], ==, CBOX_SYSCONF_DIR);
}

static void
test_profile (void)
{
  g_autofree char *data = cbox_test_make_dir ("p-data");
  g_autofree char *user = cbox_test_make_dir ("p-user");
  const char *dirs[] = { data, user, NULL };
  g_autoptr (CboxConfig) config = cbox_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *command = NULL;
  g_autofree char *keys = NULL;
  g_auto (GStrv) profile_forward = NULL;

  g_free (write_file (data, "profiles/dev.conf",
                      "[cbox]\ncommand=make\nforward=git\n[ssh]\nkeys=false\n"));
  g_free (write_file (user, "profiles/dev.conf", "[cbox]\ncommand=make test\n"));
  g_free (write_file (data, "cbox.conf", "[cbox]\ncommand=ignored\nprofile=dev\n"));
  g_assert_true (cbox_config_load_files (config, dirs, NULL, &error));
  g_assert_true (cbox_config_load_profile (config, dirs, "dev", &error));
  g_assert_no_error (error);
  g_assert_cmpstr (cbox_config_get_profile (config), ==, "dev");
  command = cbox_config_get_core_string (config, "command");
  g_assert_cmpstr (command, ==, "make test");
  keys = g_key_file_get_string (cbox_config_get_merged (config), "ssh", "keys", NULL);
  g_assert_cmpstr (keys, ==, "false");
  profile_forward = g_key_file_get_string_list (
      cbox_config_get_layer (config, CBOX_CONFIG_LAYER_PROFILE), "cbox", "forward", NULL, NULL);
  g_assert_cmpstrv (profile_forward, ((const char *const[]){ "git", NULL }));

  g_assert_false (cbox_config_load_profile (config, dirs, "nope", &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "nope"));
  g_clear_error (&error);
  g_assert_false (cbox_config_load_profile (config, dirs, "../etc/passwd", &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
}

static void
test_set (void)
{
  g_autoptr (CboxConfig) config = cbox_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *value = NULL;

  g_assert_true (cbox_config_set (config, "x11", "trusted", "false", &error));
  value = g_key_file_get_string (cbox_config_get_merged (config), "x11", "trusted", NULL);
  g_assert_cmpstr (value, ==, "false");
  g_assert_false (cbox_config_set (config, "cbox", "bogus", "1", &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (cbox_config_set (config, "cbox", "network", "maybe", &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (cbox_config_set (config, "x11", "k", "\xff\xfe", &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (cbox_config_set (config, "X11!", "k", "v", &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
}

static void
test_split_bind (void)
{
  static const struct
  {
    const char *spec;
    const char *src;
    const char *dest;
  } good[] = {
    { "/a", "/a", NULL },
    { "/a:/b", "/a", "/b" },
    { "/a\\:b:/c", "/a:b", "/c" },
    { "/a\\\\:/c", "/a\\", "/c" },
    { "/with space/x:/y z", "/with space/x", "/y z" },
    { "/a:/b:c", "/a", "/b:c" },
    { "/a\\b", "/a\\b", NULL },
  };
  static const char *const bad[] = { "", ":/b", "/a:" };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autofree char *src = NULL;
      g_autofree char *dest = NULL;
      g_autoptr (GError) error = NULL;
      g_assert_true (cbox_config_split_bind (good[i].spec, &src, &dest, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (src, ==, good[i].src);
      g_assert_cmpstr (dest, ==, good[i].dest);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *src = NULL;
      g_autofree char *dest = NULL;
      g_autoptr (GError) error = NULL;
      g_assert_false (cbox_config_split_bind (bad[i], &src, &dest, &error));
      g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
    }
}

static void
test_find_line (void)
{
  const char *text = "[a]\nk=1\n[b]\n  k = 2\n#k=3\n[a]\nk=4\n";

  g_assert_cmpuint (cbox_config_find_line (text, "a", "k"), ==, 7);
  g_assert_cmpuint (cbox_config_find_line (text, "b", "k"), ==, 4);
  g_assert_cmpuint (cbox_config_find_line (text, "c", "k"), ==, 0);
}

static void
test_booleans_and_names (void)
{
  gboolean value = FALSE;

  g_assert_true (cbox_config_parse_boolean ("on", &value) && value);
  g_assert_true (cbox_config_parse_boolean ("OFF", &value) && !value);
  g_assert_true (cbox_config_parse_boolean ("yes", &value) && value);
  g_assert_true (cbox_config_parse_boolean ("0", &value) && !value);
  g_assert_false (cbox_config_parse_boolean ("maybe", &value));
  g_assert_false (cbox_config_parse_boolean ("", &value));
  g_assert_true (cbox_config_name_is_valid ("x11"));
  g_assert_true (cbox_config_name_is_valid ("host-conf_2"));
  g_assert_false (cbox_config_name_is_valid ("X11"));
  g_assert_false (cbox_config_name_is_valid ("a/b"));
  g_assert_false (cbox_config_name_is_valid (""));
  g_assert_true (cbox_config_profile_name_is_valid ("Claude.v2"));
  g_assert_false (cbox_config_profile_name_is_valid (".hidden"));
  g_assert_false (cbox_config_profile_name_is_valid ("a/b"));
}

static void
test_shipped_files (void)
{
  /* The shipped defaults and profiles load without error. */
  g_autofree char *data = g_test_build_filename (G_TEST_DIST, "..", "data", NULL);
  const char *dirs[] = { data, NULL };
  const char *profiles[] = { "claude", "shell", "browser" };

  for (gsize i = 0; i < G_N_ELEMENTS (profiles); i++)
    {
      g_autoptr (CboxConfig) config = cbox_config_new ();
      g_autoptr (GError) error = NULL;
      g_autofree char *backend = NULL;

      g_assert_true (cbox_config_load_files (config, dirs, NULL, &error));
      g_assert_no_error (error);
      g_assert_true (cbox_config_load_profile (config, dirs, profiles[i], &error));
      g_assert_no_error (error);
      backend = cbox_config_get_core_string (config, "backend");
      g_assert_cmpstr (backend, ==, "bwrap");
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/core/config/bad/unknown-key", test_bad_unknown_key);
  g_test_add_func ("/core/config/bad/network", test_bad_network);
  g_test_add_func ("/core/config/bad/network-keep", test_bad_network_keep);
  g_test_add_func ("/core/config/bad/backend-name", test_bad_backend_name);
  g_test_add_func ("/core/config/bad/syntax", test_bad_syntax);
  g_test_add_func ("/core/config/bad/no-group", test_bad_no_group);
  g_test_add_func ("/core/config/bad/bind", test_bad_bind);
  g_test_add_func ("/core/config/bad/escape", test_bad_escape);
  g_test_add_func ("/core/config/bad/command", test_bad_command);
  g_test_add_func ("/core/config/bad/profile-in-profile", test_bad_profile_in_profile);
  g_test_add_func ("/core/config/missing-file", test_missing_file);
  g_test_add_func ("/core/config/fifo-file", test_fifo_file);
  g_test_add_func ("/core/config/search-order", test_search_order);
  g_test_add_func ("/core/config/search-dirs-env", test_search_dirs_env);
  g_test_add_func ("/core/config/profile", test_profile);
  g_test_add_func ("/core/config/set", test_set);
  g_test_add_func ("/core/config/split-bind", test_split_bind);
  g_test_add_func ("/core/config/find-line", test_find_line);
  g_test_add_func ("/core/config/booleans-and-names", test_booleans_and_names);
  g_test_add_func ("/core/config/shipped-files", test_shipped_files);
  return g_test_run ();
}

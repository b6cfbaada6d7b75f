/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the dbus forwarder: address parsing, rules, the plan it
 * contributes in each mode, and the per-run directory. The buses here are
 * socket files made with mknod(S_IFSOCK) under a fake root: nothing
 * listens; test-dbus-proxy talks to a real bus. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-private.h"
#include "cbox-test-util.h"
#include "cbox-dbus-plugin.h"

G_MODULE_EXPORT const CboxPluginDesc *cbox_plugin_describe (void);

/* ---- addresses and rules --------------------------------------------------- */

static void
assert_parsed (const char *address, const char *expected, const char *expected_skipped)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) skipped = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) entries = cbox_dbus_parse_address (address, skipped, &error);
  g_autoptr (GString) got = g_string_new (NULL);
  g_autoptr (GString) got_skipped = g_string_new (NULL);

  g_assert_no_error (error);
  g_assert_nonnull (entries);
  for (guint i = 0; i < entries->len; i++)
    {
      CboxDbusAddress *entry = g_ptr_array_index (entries, i);
      g_string_append_printf (got, "%s%s %s", i > 0 ? "|" : "",
                              entry->kind == CBOX_DBUS_UNIX_PATH ? "path" : "abstract",
                              entry->value);
    }
  for (guint i = 0; i < skipped->len; i++)
    g_string_append_printf (got_skipped, "%s%s", i > 0 ? "|" : "",
                            (const char *)g_ptr_array_index (skipped, i));
  g_assert_cmpstr (got->str, ==, expected);
  g_assert_cmpstr (got_skipped->str, ==, expected_skipped);
}

static void
test_address_parse (void)
{
  assert_parsed ("unix:path=/run/user/1000/bus", "path /run/user/1000/bus", "");
  assert_parsed ("unix:abstract=/tmp/dbus-AbC,guid=0123456789abcdef", "abstract /tmp/dbus-AbC", "");
  assert_parsed ("unix:path=/tmp/a%20b%3bc/bus;unix:abstract=x", "path /tmp/a b;c/bus|abstract x",
                 "");
  assert_parsed ("tcp:host=localhost,port=1234;unix:path=/x/bus", "path /x/bus",
                 "tcp:host=localhost,port=1234");
  assert_parsed ("unix:tmpdir=/tmp;;autolaunch:", "", "unix:tmpdir=/tmp|autolaunch:");
  assert_parsed ("", "", "");
}

static void
test_address_parse_errors (void)
{
  const char *bad[] = {
    "nocolon",   "unix:path=/x,abstract=y", "unix:path=%zz", "unix:path=relative/bus",
    "unix:path", "unix:path=/a%00b",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) entries = cbox_dbus_parse_address (bad[i], NULL, &error);
      g_test_message ("%s", bad[i]);
      g_assert_null (entries);
      g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
    }
}

static void
test_address_escape (void)
{
  g_autofree char *a = cbox_dbus_address_to_string (CBOX_DBUS_UNIX_PATH, "/run/user/1000/bus");
  g_autofree char *b = cbox_dbus_address_to_string (CBOX_DBUS_UNIX_PATH, "/tmp/a b;c,d=e/bus");
  g_autofree char *c = cbox_dbus_address_to_string (CBOX_DBUS_UNIX_ABSTRACT, "/tmp/dbus-x");
  g_autoptr (GPtrArray) back = NULL;

  g_assert_cmpstr (a, ==, "unix:path=/run/user/1000/bus");
  g_assert_cmpstr (b, ==, "unix:path=/tmp/a%20b%3bc%2cd%3de/bus");
  g_assert_cmpstr (c, ==, "unix:abstract=/tmp/dbus-x");
  back = cbox_dbus_parse_address (b, NULL, NULL);
  g_assert_nonnull (back);
  g_assert_cmpuint (back->len, ==, 1);
  g_assert_cmpstr (((CboxDbusAddress *)g_ptr_array_index (back, 0))->value, ==,
                   "/tmp/a b;c,d=e/bus");
}

static void
test_rule_validation (void)
{
  g_assert_true (cbox_dbus_rule_name_is_valid ("org.freedesktop.Notifications"));
  g_assert_true (cbox_dbus_rule_name_is_valid ("org.freedesktop.portal.*"));
  g_assert_true (cbox_dbus_rule_name_is_valid ("org.*"));
  g_assert_false (cbox_dbus_rule_name_is_valid (""));
  g_assert_false (cbox_dbus_rule_name_is_valid ("*"));
  g_assert_false (cbox_dbus_rule_name_is_valid (":1.42"));
  g_assert_false (cbox_dbus_rule_name_is_valid ("org"));
  g_assert_false (cbox_dbus_rule_name_is_valid ("org..x"));
  g_assert_false (cbox_dbus_rule_name_is_valid ("--log"));
  g_assert_false (cbox_dbus_rule_name_is_valid ("org.x y"));
  g_assert_true (cbox_dbus_rule_name_is_valid ("org.foo-bar_baz.x9"));
  g_assert_false (cbox_dbus_rule_name_is_valid ("org.1x"));
  g_assert_false (cbox_dbus_rule_name_is_valid ("org.x."));
  {
    /* 256 bytes: one more than the specification allows. */
    g_autofree char *tail = g_strnfill (252, 'a');
    g_autofree char *too_long = g_strconcat ("org.", tail, NULL);
    g_assert_false (cbox_dbus_rule_name_is_valid (too_long));
    too_long[255] = '\0';
    g_assert_true (cbox_dbus_rule_name_is_valid (too_long));
  }

  g_assert_true (cbox_dbus_call_rule_is_valid ("org.freedesktop.portal.*=*"));
  g_assert_true (cbox_dbus_call_rule_is_valid ("org.example.App=org.example.App.Do@/org/example"));
  g_assert_true (cbox_dbus_call_rule_is_valid ("org.example.App=@/org/example/*"));
  g_assert_false (cbox_dbus_call_rule_is_valid ("org.example.App"));
  g_assert_false (cbox_dbus_call_rule_is_valid ("org.example.App="));
  g_assert_false (cbox_dbus_call_rule_is_valid ("org.example.App=Do@relative"));
  g_assert_false (cbox_dbus_call_rule_is_valid ("bad=*"));
}

/* ---- the plugin under a fake root ------------------------------------------- */

typedef struct
{
  char *root;
  CboxHost *host;
  GKeyFile *config;
  char *proxy;
} Fixture;

static void
make_socket_file (const char *root, const char *path)
{
  g_autofree char *full = g_build_filename (root, path, NULL);
  g_autofree char *dir = g_path_get_dirname (full);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_cmpint (mknod (full, S_IFSOCK | 0600, 0), ==, 0);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fx->root = cbox_test_make_dir ("fake root");
  fx->host = cbox_host_new ();
  cbox_host_set_root (fx->host, fx->root);
  cbox_host_set_user (fx->host, 1000, 1000, "alice", "/home/alice", "/bin/sh");
  cbox_host_set_runtime_dir (fx->host, "/run/user/1000");
  {
    g_autofree char *rt = g_build_filename (fx->root, "run/user/1000", NULL);
    g_assert_cmpint (g_mkdir_with_parents (rt, 0700), ==, 0);
  }
  fx->config = g_key_file_new ();
  /* A fixed proxy path keeps the expected argv independent of PATH. */
  fx->proxy = g_strdup ("/bin/true");
  g_key_file_set_string (fx->config, "dbus", "proxy", fx->proxy);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_free (fx->root);
  cbox_host_unref (fx->host);
  g_key_file_unref (fx->config);
  g_free (fx->proxy);
}

typedef struct
{
  CboxContext *ctx;
  CboxProbeResult *result;
  CboxPlan *plan;
  GError *error; /* of contribute */
} Run;

static void
run_clear (Run *run)
{
  g_clear_pointer (&run->plan, cbox_plan_free);
  g_clear_pointer (&run->ctx, cbox_context_free);
  g_clear_pointer (&run->result, cbox_probe_result_free);
  g_clear_error (&run->error);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Run, run_clear)

static void
run_plugin (Fixture *fx, CboxFeatures backend_features, CboxNetworkMode network, Run *run)
{
  const CboxPluginDesc *desc = cbox_plugin_describe ();
  g_autoptr (GError) error = NULL;

  g_assert_cmpstr (desc->name, ==, "dbus");
  run->ctx = cbox_context_new (fx->host, fx->config, "dbus");
  cbox_context_set_instance_id (run->ctx, "id42");
  cbox_context_set_backend (run->ctx, "test", backend_features);
  cbox_context_set_network (run->ctx, network);
  run->result = cbox_probe_result_new ();
  g_assert_true (desc->forwarder->probe (run->ctx, run->result, &error));
  g_assert_no_error (error);
  run->plan = cbox_plan_new ();
  cbox_plan_set_user (run->plan, 1000, 1000, "alice", "/home/alice");
  cbox_plan_set_origin (run->plan, "dbus");
  if (cbox_probe_result_get_status (run->result) == CBOX_PROBE_AVAILABLE
      || cbox_probe_result_get_status (run->result) == CBOX_PROBE_DEGRADED)
    desc->forwarder->contribute (run->ctx, run->plan, &run->error);
}

/* The helper's argv with the fake root written as "@", one word a line. */
static char *
dump_helper (Fixture *fx, CboxPlan *plan)
{
  g_autoptr (GString) out = g_string_new (NULL);
  const CboxHelper *helper;

  g_assert_cmpuint (cbox_plan_get_n_helpers (plan), ==, 1);
  helper = cbox_plan_get_helper (plan, 0);
  g_assert_cmpint (helper->ready, ==, CBOX_HELPER_READY_SYNC_FD);
  g_assert_cmpstr (helper->origin, ==, "dbus");
  for (guint i = 0; helper->argv[i] != NULL; i++)
    {
      g_autofree char *word = g_strdup (helper->argv[i]);
      g_autofree char *escaped = cbox_dbus_address_to_string (CBOX_DBUS_UNIX_PATH, fx->root);
      const char *escaped_root = escaped + strlen ("unix:path=");
      char *at = strstr (word, fx->root);
      gsize root_len = strlen (fx->root);

      /* In D-Bus addresses the root is escaped ("fake%20root"). */
      if (at == NULL && (at = strstr (word, escaped_root)) != NULL)
        root_len = strlen (escaped_root);
      if (at != NULL)
        {
          g_autofree char *rest = g_strdup (at + root_len);
          *at = '\0';
          g_string_append_printf (out, "%s@%s\n", word, rest);
        }
      else
        g_string_append_printf (out, "%s\n", word);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
assert_socket_mount (Fixture *fx, CboxPlan *plan, const char *dest, const char *expected_src)
{
  const CboxMount *mount = cbox_plan_find_mount (plan, dest);
  g_autofree char *src = NULL;

  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_SOCKET);
  g_assert_true (g_str_has_prefix (mount->src, fx->root));
  src = g_strdup_printf ("@%s", mount->src + strlen (fx->root));
  g_assert_cmpstr (src, ==, expected_src);
}

static void
test_filtered_default (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };
  g_autofree char *argv = NULL;

  make_socket_file (fx->root, "/run/user/1000/bus");
  run_plugin (fx, CBOX_FEATURE_ALL, FALSE, &run);
  g_assert_no_error (run.error);
  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "mode"), ==, "filtered");
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "system-bus"), ==, "none");
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "session-rules"), ==,
                   "none (the bus driver only)");
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "proxy"), ==, "/bin/true");

  argv = dump_helper (fx, run.plan);
  g_assert_cmpstr (argv, ==,
                   "/bin/true\n"
                   "--fd={sync-fd}\n"
                   "unix:path=@/run/user/1000/bus\n"
                   "@/run/user/1000/cbox-dbus-1000-id42/bus\n"
                   "--filter\n");
  assert_socket_mount (fx, run.plan, "/run/user/1000/bus",
                       "@/run/user/1000/cbox-dbus-1000-id42/bus");
  g_assert_cmpuint (cbox_plan_get_n_mounts (run.plan), ==, 1);
  g_assert_cmpstr (cbox_plan_get_env (run.plan, "DBUS_SESSION_BUS_ADDRESS"), ==,
                   "unix:path=/run/user/1000/bus");
  g_assert_null (cbox_plan_get_env (run.plan, "DBUS_SYSTEM_BUS_ADDRESS"));
  /* contribute has no side effect: the directory comes with prepare. */
  {
    g_autofree char *dir = g_build_filename (fx->root, "/run/user/1000/cbox-dbus-1000-id42", NULL);
    g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  }
}

static void
test_filtered_rules (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };
  g_autofree char *argv = NULL;
  const char *talk[] = { "org.cboxtest.Allowed", "org.example.*" };
  const char *call[] = { "org.example.App=org.example.App.Do@/org/example" };

  make_socket_file (fx->root, "/run/user/1000/bus");
  make_socket_file (fx->root, "/run/dbus/system_bus_socket");
  g_key_file_set_string_list (fx->config, "dbus", "talk", talk, G_N_ELEMENTS (talk));
  g_key_file_set_string (fx->config, "dbus", "own", "org.cboxtest.Mine");
  g_key_file_set_string (fx->config, "dbus", "see", "org.cboxtest.Seen");
  g_key_file_set_string_list (fx->config, "dbus", "call", call, G_N_ELEMENTS (call));
  g_key_file_set_string (fx->config, "dbus", "broadcast", "org.example.App=@/org/example/*");
  g_key_file_set_string (fx->config, "dbus", "system-talk", "org.freedesktop.UPower");
  g_key_file_set_string (fx->config, "dbus", "rules", "notifications");
  g_key_file_set_boolean (fx->config, "dbus", "log", TRUE);
  run_plugin (fx, CBOX_FEATURE_ALL, FALSE, &run);
  g_assert_no_error (run.error);
  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_AVAILABLE);
  {
    g_autofree char *socket = g_build_filename (fx->root, "run/dbus/system_bus_socket", NULL);
    g_autofree char *address = cbox_dbus_address_to_string (CBOX_DBUS_UNIX_PATH, socket);
    g_autofree char *expected = g_strdup_printf ("filtered: %s", address);
    g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "system-bus"), ==, expected);
  }

  argv = dump_helper (fx, run.plan);
  g_assert_cmpstr (argv, ==,
                   "/bin/true\n"
                   "--fd={sync-fd}\n"
                   "--log\n"
                   "unix:path=@/run/user/1000/bus\n"
                   "@/run/user/1000/cbox-dbus-1000-id42/bus\n"
                   "--filter\n"
                   "--talk=org.cboxtest.Allowed\n"
                   "--talk=org.example.*\n"
                   "--talk=org.freedesktop.Notifications\n"
                   "--own=org.cboxtest.Mine\n"
                   "--see=org.cboxtest.Seen\n"
                   "--call=org.example.App=org.example.App.Do@/org/example\n"
                   "--broadcast=org.example.App=@/org/example/*\n"
                   "unix:path=@/run/dbus/system_bus_socket\n"
                   "@/run/user/1000/cbox-dbus-1000-id42/system_bus_socket\n"
                   "--filter\n"
                   "--talk=org.freedesktop.UPower\n");
  assert_socket_mount (fx, run.plan, "/run/user/1000/bus",
                       "@/run/user/1000/cbox-dbus-1000-id42/bus");
  assert_socket_mount (fx, run.plan, "/run/dbus/system_bus_socket",
                       "@/run/user/1000/cbox-dbus-1000-id42/system_bus_socket");
  g_assert_cmpstr (cbox_plan_get_env (run.plan, "DBUS_SYSTEM_BUS_ADDRESS"), ==,
                   "unix:path=/run/dbus/system_bus_socket");
}

/* Root acting for a user: the proxy runs as that user. */
static void
test_filtered_setpriv (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };
  g_autofree char *argv = NULL;

  make_socket_file (fx->root, "/run/user/1000/bus");
  cbox_host_set_caller_uid (fx->host, 0);
  run_plugin (fx, CBOX_FEATURE_ALL, FALSE, &run);
  g_assert_no_error (run.error);
  argv = dump_helper (fx, run.plan);
  g_assert_true (g_str_has_prefix (argv, "setpriv\n--reuid=1000\n--regid=1000\n--clear-groups\n--\n"
                                         "/bin/true\n--fd={sync-fd}\n"));
}

static void
test_shipped_rule_sets (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };
  g_autofree char *argv = NULL;

  make_socket_file (fx->root, "/run/user/1000/bus");
  g_key_file_set_string (fx->config, "dbus", "rules", "notifications;portals;secrets");
  run_plugin (fx, CBOX_FEATURE_ALL, FALSE, &run);
  g_assert_no_error (run.error);
  argv = dump_helper (fx, run.plan);
  g_assert_nonnull (strstr (argv, "--talk=org.freedesktop.Notifications\n"));
  g_assert_nonnull (strstr (argv, "--talk=org.freedesktop.portal.*\n"));
  g_assert_nonnull (strstr (argv, "--call=org.freedesktop.portal.*=*\n"));
  g_assert_nonnull (
      strstr (argv, "--broadcast=org.freedesktop.portal.*=@/org/freedesktop/portal/*\n"));
  g_assert_nonnull (strstr (argv, "--talk=org.freedesktop.secrets\n"));
}

/* A user's own rule set in ~/.config/cbox/dbus-rules wins over a shipped
 * one of the same name. */
static void
test_user_rule_set (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };
  g_autofree char *argv = NULL;
  g_autofree char *config_home = cbox_test_make_dir ("config home");
  g_autofree char *dir = g_build_filename (config_home, "cbox", "dbus-rules", NULL);
  g_autofree char *file = g_build_filename (dir, "notifications.conf", NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_true (g_file_set_contents (file, "[session]\nsee=org.cboxtest.Mine\n", -1, NULL));
  cbox_host_setenv (fx->host, "XDG_CONFIG_HOME", config_home);
  make_socket_file (fx->root, "/run/user/1000/bus");
  g_key_file_set_string (fx->config, "dbus", "rules", "notifications");
  run_plugin (fx, CBOX_FEATURE_ALL, FALSE, &run);
  argv = dump_helper (fx, run.plan);
  g_assert_nonnull (strstr (argv, "--see=org.cboxtest.Mine\n"));
  g_assert_null (strstr (argv, "Notifications"));
}

/* A user's rule set that is a fifo nobody writes to, or a directory, is
 * refused at once with an error that names it, like an unreadable one;
 * read with g_key_file_load_from_file(), the fifo would block the probe
 * for good (the test would hang). */
static void
test_user_rule_set_not_regular (Fixture *fx, gconstpointer data)
{
  g_autofree char *config_home = cbox_test_make_dir ("config home");
  g_autofree char *dir = g_build_filename (config_home, "cbox", "dbus-rules", NULL);
  g_autofree char *fifo = g_build_filename (dir, "notifications.conf", NULL);
  g_autofree char *subdir = g_build_filename (dir, "portals.conf", NULL);
  const char *const names[] = { "notifications", "portals" };
  const char *const paths[] = { fifo, subdir };

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_cmpint (g_mkdir (subdir, 0700), ==, 0);
  cbox_host_setenv (fx->host, "XDG_CONFIG_HOME", config_home);
  make_socket_file (fx->root, "/run/user/1000/bus");

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr (CboxContext) ctx = NULL;
      g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
      g_autoptr (GError) error = NULL;
      g_autofree char *expected = g_strdup_printf ("%s is not a regular file", paths[i]);

      g_key_file_set_string (fx->config, "dbus", "rules", names[i]);
      ctx = cbox_context_new (fx->host, fx->config, "dbus");
      g_assert_false (cbox_plugin_describe ()->forwarder->probe (ctx, result, &error));
      g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
      g_test_message ("%s", error->message);
      g_assert_true (g_str_has_prefix (error->message, "dbus: "));
      g_assert_nonnull (strstr (error->message, expected));
    }
}

/* A rule set is a configuration file like the others: a NUL byte (after
 * which GKeyFile would silently drop the rest of the file), bytes that
 * are not UTF-8 and a byte order mark are refused, naming the file, the
 * line and the column. */
static void
test_user_rule_set_not_text (Fixture *fx, gconstpointer data)
{
  g_autofree char *config_home = cbox_test_make_dir ("config home");
  g_autofree char *dir = g_build_filename (config_home, "cbox", "dbus-rules", NULL);
  static const struct
  {
    const char *contents;
    gsize len;
    const char *expected;
  } cases[] = {
#define TEXT(literal) literal, sizeof (literal) - 1
    { TEXT ("[session]\nsee=org.cboxtest.A\n\0talk=org.freedesktop.secrets\n"),
      ":3: a NUL byte (0x00) at column 1" },
    { TEXT ("[session]\nsee=org.cboxtest.\xe9\n"), ":2: byte 0xE9 at column 18 is not UTF-8" },
    { TEXT ("\xef\xbb\xbf[session]\nsee=org.cboxtest.A\n"),
      ":1: the file starts with a byte order mark" },
#undef TEXT
  };

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  cbox_host_setenv (fx->host, "XDG_CONFIG_HOME", config_home);
  make_socket_file (fx->root, "/run/user/1000/bus");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("bad%u", i);
      g_autofree char *file_name = g_strconcat (name, ".conf", NULL);
      g_autofree char *file = g_build_filename (dir, file_name, NULL);
      g_autofree char *expected = g_strconcat (file, cases[i].expected, NULL);
      g_autoptr (CboxContext) ctx = NULL;
      g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
      g_autoptr (GError) error = NULL;

      g_assert_true (g_file_set_contents (file, cases[i].contents, (gssize)cases[i].len, NULL));
      g_key_file_set_string (fx->config, "dbus", "rules", name);
      ctx = cbox_context_new (fx->host, fx->config, "dbus");
      g_assert_false (cbox_plugin_describe ()->forwarder->probe (ctx, result, &error));
      g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
      g_test_message ("%s", error->message);
      g_assert_true (g_str_has_prefix (error->message, "dbus: "));
      g_assert_nonnull (strstr (error->message, expected));
    }
}

static void
test_full (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };

  make_socket_file (fx->root, "/run/user/1000/bus");
  g_key_file_set_string (fx->config, "dbus", "mode", "full");
  run_plugin (fx, CBOX_FEATURE_ALL, FALSE, &run);
  g_assert_no_error (run.error);
  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_null (cbox_probe_result_get_detail (run.result, "proxy"));
  g_assert_cmpuint (cbox_plan_get_n_helpers (run.plan), ==, 0);
  assert_socket_mount (fx, run.plan, "/run/user/1000/bus", "@/run/user/1000/bus");
  g_assert_cmpstr (cbox_plan_get_env (run.plan, "DBUS_SESSION_BUS_ADDRESS"), ==,
                   "unix:path=/run/user/1000/bus");
}

static void
test_full_system (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };

  make_socket_file (fx->root, "/run/user/1000/bus");
  make_socket_file (fx->root, "/run/dbus/system_bus_socket");
  g_key_file_set_string (fx->config, "dbus", "mode", "none");
  g_key_file_set_string (fx->config, "dbus", "system", "full");
  run_plugin (fx, CBOX_FEATURE_ALL, FALSE, &run);
  g_assert_no_error (run.error);
  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_cmpuint (cbox_plan_get_n_mounts (run.plan), ==, 1);
  assert_socket_mount (fx, run.plan, "/run/dbus/system_bus_socket", "@/run/dbus/system_bus_socket");
  g_assert_null (cbox_plan_get_env (run.plan, "DBUS_SESSION_BUS_ADDRESS"));
}

static void
test_none (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };

  make_socket_file (fx->root, "/run/user/1000/bus");
  g_key_file_set_string (fx->config, "dbus", "mode", "none");
  run_plugin (fx, CBOX_FEATURE_ALL, FALSE, &run);
  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (run.result), "mode=none"));
  g_assert_cmpuint (cbox_plan_get_n_mounts (run.plan), ==, 0);
}

static void
test_no_bus (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };

  run_plugin (fx, CBOX_FEATURE_ALL, FALSE, &run);
  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (run.result), "no session bus"));
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (run.result), "/run/user/1000/bus"));
}

/* The first entry of a list that exists wins. */
static void
test_address_list (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };

  make_socket_file (fx->root, "/tmp/second/bus");
  cbox_host_setenv (fx->host, "DBUS_SESSION_BUS_ADDRESS",
                    "tcp:host=localhost,port=1;unix:path=/tmp/first/bus;unix:path=/tmp/second/bus");
  g_key_file_set_string (fx->config, "dbus", "mode", "full");
  run_plugin (fx, CBOX_FEATURE_ALL, FALSE, &run);
  g_assert_no_error (run.error);
  assert_socket_mount (fx, run.plan, "/run/user/1000/bus", "@/tmp/second/bus");
}

static void
test_abstract (Fixture *fx, gconstpointer data)
{
  cbox_host_setenv (fx->host, "DBUS_SESSION_BUS_ADDRESS", "unix:abstract=/tmp/dbus-XYZ,guid=00ff");

  /* Filtered: the proxy connects to it on the host, the sandbox gets a file. */
  {
    g_auto (Run) run = { 0 };
    g_autofree char *argv = NULL;

    run_plugin (fx, CBOX_FEATURE_ALL & ~CBOX_FEATURE_HOST_NET, FALSE, &run);
    g_assert_no_error (run.error);
    g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_AVAILABLE);
    argv = dump_helper (fx, run.plan);
    g_assert_nonnull (strstr (argv, "\nunix:abstract=/tmp/dbus-XYZ\n"));
  }
  /* Full, private network: cannot be bound. */
  g_key_file_set_string (fx->config, "dbus", "mode", "full");
  {
    g_auto (Run) run = { 0 };

    run_plugin (fx, CBOX_FEATURE_ALL, FALSE, &run);
    g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_UNAVAILABLE);
    g_assert_nonnull (strstr (cbox_probe_result_get_reason (run.result), "abstract socket"));
    g_assert_nonnull (strstr (cbox_probe_result_get_reason (run.result), "mode=filtered"));
  }
  /* Full, the default network (a namespace of the sandbox's own): the
   * host's abstract socket does not exist there. */
  {
    g_auto (Run) run = { 0 };

    run_plugin (fx, CBOX_FEATURE_ALL, CBOX_NETWORK_OWN, &run);
    g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_UNAVAILABLE);
    g_assert_nonnull (strstr (cbox_probe_result_get_reason (run.result), "--network=host"));
  }
  /* Full, host network shared (--network=host): reachable as it is. */
  {
    g_auto (Run) run = { 0 };

    run_plugin (fx, CBOX_FEATURE_ALL, CBOX_NETWORK_HOST, &run);
    g_assert_no_error (run.error);
    g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_AVAILABLE);
    g_assert_cmpuint (cbox_plan_get_n_mounts (run.plan), ==, 0);
    g_assert_cmpstr (cbox_plan_get_env (run.plan, "DBUS_SESSION_BUS_ADDRESS"), ==,
                     "unix:abstract=/tmp/dbus-XYZ");
  }
}

static void
test_proxy_missing (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };

  make_socket_file (fx->root, "/run/user/1000/bus");
  g_key_file_set_string (fx->config, "dbus", "proxy", "/nonexistent/xdg-dbus-proxy");
  run_plugin (fx, CBOX_FEATURE_ALL, FALSE, &run);
  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (run.result), "xdg-dbus-proxy"));
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (run.result), "mode=full"));
}

static void
test_bad_config (Fixture *fx, gconstpointer data)
{
  const char *const cases[][3] = {
    { "mode", "open", "[dbus] mode: 'open'" },
    { "system", "yes", "[dbus] system: 'yes'" },
    { "talk", "not a name", "'not a name' is not a valid talk rule" },
    { "call", "org.example.App", "not a valid call rule" },
    { "system-own", ":1.5", "system-own" },
    { "rules", "nonexistent", "no rule set 'nonexistent'" },
    { "rules", "../etc/passwd", "not a rule set name" },
    { "log", "perhaps", "'log'" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GKeyFile) config = g_key_file_new ();
      g_autoptr (CboxContext) ctx = NULL;
      g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
      g_autoptr (GError) error = NULL;

      g_key_file_set_string (config, "dbus", cases[i][0], cases[i][1]);
      ctx = cbox_context_new (fx->host, config, "dbus");
      g_assert_false (cbox_plugin_describe ()->forwarder->probe (ctx, result, &error));
      g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
      g_test_message ("%s", error->message);
      g_assert_true (g_str_has_prefix (error->message, "dbus: "));
      g_assert_nonnull (strstr (error->message, cases[i][2]));
    }
}

/* ---- the per-run directory -------------------------------------------------- */

static void
test_prepare_and_cleanup (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_build_filename (fx->root, "/run/user/1000/cbox-dbus-1000-id42", NULL);
  g_autofree char *stale = g_build_filename (fx->root, "/run/user/1000/cbox-dbus-1000-old", NULL);
  g_autofree char *live = g_build_filename (fx->root, "/run/user/1000/cbox-dbus-1000-live", NULL);
  g_autofree char *other = g_build_filename (fx->root, "/run/user/1000/something-else", NULL);
  g_autofree char *live_lock = g_build_filename (live, ".lock", NULL);
  int live_fd;
  struct stat st;

  make_socket_file (fx->root, "/run/user/1000/bus");
  /* Left behind by a run killed with SIGKILL: unlocked. */
  make_socket_file (fx->root, "/run/user/1000/cbox-dbus-1000-old/bus");
  {
    g_autofree char *lock = g_build_filename (stale, ".lock", NULL);
    g_assert_true (g_file_set_contents (lock, "", 0, NULL));
  }
  /* A run still going: its lock is held. */
  make_socket_file (fx->root, "/run/user/1000/cbox-dbus-1000-live/bus");
  live_fd = open (live_lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  g_assert_cmpint (live_fd, >=, 0);
  g_assert_cmpint (flock (live_fd, LOCK_EX), ==, 0);
  make_socket_file (fx->root, "/run/user/1000/something-else/bus");

  run_plugin (fx, CBOX_FEATURE_ALL, FALSE, &run);
  g_assert_no_error (run.error);
  g_assert_true (cbox_plugin_describe ()->forwarder->prepare (run.ctx, run.plan, &error));
  g_assert_no_error (error);

  g_assert_cmpint (stat (dir, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
  g_assert_false (g_file_test (stale, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (live, G_FILE_TEST_IS_DIR));
  g_assert_true (g_file_test (other, G_FILE_TEST_IS_DIR));

  /* A second prepare of the same instance must not reuse the directory. */
  {
    g_autoptr (GError) again = NULL;
    g_assert_false (cbox_plugin_describe ()->forwarder->prepare (run.ctx, run.plan, &again));
    g_assert_error (again, CBOX_ERROR, CBOX_ERROR_FAILED);
  }

  cbox_plan_run_cleanups (run.plan);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  close (live_fd);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dbus/address/parse", test_address_parse);
  g_test_add_func ("/dbus/address/parse-errors", test_address_parse_errors);
  g_test_add_func ("/dbus/address/escape", test_address_escape);
  g_test_add_func ("/dbus/rules/validation", test_rule_validation);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/dbus/filtered/default", test_filtered_default);
  ADD ("/dbus/filtered/rules", test_filtered_rules);
  ADD ("/dbus/filtered/setpriv", test_filtered_setpriv);
  ADD ("/dbus/filtered/shipped-rule-sets", test_shipped_rule_sets);
  ADD ("/dbus/filtered/user-rule-set", test_user_rule_set);
  ADD ("/dbus/filtered/user-rule-set-not-regular", test_user_rule_set_not_regular);
  ADD ("/dbus/filtered/user-rule-set-not-text", test_user_rule_set_not_text);
  ADD ("/dbus/full/session", test_full);
  ADD ("/dbus/full/system", test_full_system);
  ADD ("/dbus/none", test_none);
  ADD ("/dbus/no-bus", test_no_bus);
  ADD ("/dbus/address-list", test_address_list);
  ADD ("/dbus/abstract", test_abstract);
  ADD ("/dbus/proxy-missing", test_proxy_missing);
  ADD ("/dbus/bad-config", test_bad_config);
  ADD ("/dbus/prepare-and-cleanup", test_prepare_and_cleanup);
#undef ADD
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration test of the nix forwarder with the built cbox and a real
 * nix-daemon (Debian's nix-bin). The daemon runs on a scratch store: its
 * store, state, log and configuration directories and its socket all live
 * in a test directory (NIX_STORE_DIR, NIX_STATE_DIR, NIX_LOG_DIR,
 * NIX_CONF_DIR, NIX_DAEMON_SOCKET_PATH), so the host's /nix is neither
 * needed nor touched. The daemon runs as the test's own user; as root it
 * accepts every client, as a user it serves that user. */
#include "config.h"

#include <glib/gstdio.h>

#include "cbox-devtools-test.h"

#define NIX_PING "nix --extra-experimental-features nix-command store ping"

typedef struct
{
  char **env;
  char *project;
  char *socket;
  char *log;
  GSubprocess *daemon;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autofree char *daemon = cbox_test_require_program ("nix-daemon");
  g_autofree char *nix = daemon != NULL ? cbox_test_require_program ("nix") : NULL;
  g_autofree char *dir = NULL;
  g_autofree char *conf_dir = NULL;
  g_autofree char *conf = NULL;
  g_autofree char *store = NULL;
  g_autofree char *state = NULL;
  g_autofree char *logs = NULL;
  g_auto (GStrv) daemon_env = NULL;

  if (nix == NULL)
    return;
  dir = cbox_test_make_dir ("nix");
  f->socket = g_build_filename (dir, "daemon.sock", NULL);
  f->log = g_build_filename (dir, "daemon.log", NULL);
  conf_dir = g_build_filename (dir, "etc", NULL);
  conf = g_build_filename (conf_dir, "nix.conf", NULL);
  store = g_build_filename (dir, "store", NULL);
  state = g_build_filename (dir, "var", NULL);
  logs = g_build_filename (dir, "log", NULL);
  g_assert_cmpint (g_mkdir_with_parents (conf_dir, 0755), ==, 0);
  /* No build users (a test has none) and no build sandbox; nothing is
   * built anyway. */
  g_assert_true (g_file_set_contents (conf,
                                      "build-users-group =\n"
                                      "sandbox = false\n"
                                      "experimental-features = nix-command\n",
                                      -1, NULL));

  daemon_env = g_get_environ ();
  daemon_env = g_environ_setenv (daemon_env, "NIX_STORE_DIR", store, TRUE);
  daemon_env = g_environ_setenv (daemon_env, "NIX_STATE_DIR", state, TRUE);
  daemon_env = g_environ_setenv (daemon_env, "NIX_LOG_DIR", logs, TRUE);
  daemon_env = g_environ_setenv (daemon_env, "NIX_CONF_DIR", conf_dir, TRUE);
  daemon_env = g_environ_setenv (daemon_env, "NIX_DAEMON_SOCKET_PATH", f->socket, TRUE);
  {
    const char *argv[] = { daemon, NULL };
    f->daemon = devtools_test_spawn (daemon_env, f->log, argv);
  }
  g_assert_true (cbox_test_wait_for_path (f->socket, 30));

  /* cbox finds the daemon as nix would: through NIX_DAEMON_SOCKET_PATH. */
  {
    g_autofree char *var = g_strdup_printf ("NIX_DAEMON_SOCKET_PATH=%s", f->socket);
    const char *extra[] = { var, NULL };
    f->env = cbox_test_environ (extra);
  }
  f->project = cbox_test_make_dir ("project");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  devtools_test_stop (f->daemon);
  g_strfreev (f->env);
  g_free (f->project);
  g_free (f->socket);
  g_free (f->log);
}

static guint
count_connections (Fixture *f)
{
  g_autofree char *log = NULL;
  guint n = 0;

  if (!g_file_get_contents (f->log, &log, NULL, NULL))
    return 0;
  for (const char *p = log; (p = strstr (p, "accepted connection")) != NULL; p++)
    n++;
  return n;
}

static void
test_store_ping (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  const char *forward[] = { "--forward=nix", NULL };
  const char *no_forward[] = { "--no-forward=nix", "--env=NIX_DAEMON_SOCKET_PATH", NULL };
  g_auto (CboxTestResult) with = { 0 };
  g_auto (CboxTestResult) without = { 0 };
  guint before;

  if (f->env == NULL || !devtools_test_require_backend (backend, FALSE))
    return;

  before = count_connections (f);
  devtools_test_sh (&with, backend, forward, f->project, f->env,
                    "set -e; test \"$NIX_REMOTE\" = daemon; " NIX_PING " 2>&1");
  cbox_test_assert_status (&with, 0);
  devtools_test_assert_contains (with.out, "daemon");
  /* The daemon saw the sandbox's client (and the probe's). */
  g_assert_cmpuint (count_connections (f), >=, before + 2);

  /* Without the forward nothing reaches it, even with the socket's host
   * path passed in by name. */
  devtools_test_sh (&without, backend, no_forward, f->project, f->env,
                    "NIX_REMOTE=daemon " NIX_PING);
  g_assert_cmpint (without.status, !=, 0);
}

static void
test_configured_socket (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  g_autofree char *set = NULL;
  const char *forward[] = { "--forward=nix", NULL, NULL };
  g_auto (CboxTestResult) result = { 0 };
  char **env;

  if (f->env == NULL || !devtools_test_require_backend (backend, FALSE))
    return;
  /* [nix] socket instead of the variable. */
  set = g_strdup_printf ("--set=nix.socket=%s", f->socket);
  forward[1] = set;
  env = g_environ_unsetenv (g_strdupv (f->env), "NIX_DAEMON_SOCKET_PATH");
  devtools_test_sh (&result, backend, forward, f->project, env, NIX_PING " 2>&1");
  g_strfreev (env);
  cbox_test_assert_status (&result, 0);
}

static void
test_requested_without_daemon (Fixture *f, gconstpointer data)
{
  const char *forward[] = { "--forward=nix", "--set=nix.socket=/nonexistent/nix.sock", NULL };
  g_auto (CboxTestResult) result = { 0 };

  if (f->env == NULL || !devtools_test_require_backend ("bwrap", FALSE))
    return;
  /* Asked for and not there: cbox's own error, with the probe's reason. */
  devtools_test_sh (&result, "bwrap", forward, f->project, f->env, "true");
  cbox_test_assert_status (&result, 125);
  devtools_test_assert_contains (result.err, "/nonexistent/nix.sock");
}

int
main (int argc, char **argv)
{
  static const char *const backends[] = { DEVTOOLS_TEST_BACKENDS };

  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (backends); i++)
    {
      g_autofree char *ping = g_strdup_printf ("/nix/integration/%s/store-ping", backends[i]);
      g_autofree char *socket
          = g_strdup_printf ("/nix/integration/%s/configured-socket", backends[i]);

      g_test_add (ping, Fixture, backends[i], fixture_setup, test_store_ping, fixture_teardown);
      g_test_add (socket, Fixture, backends[i], fixture_setup, test_configured_socket,
                  fixture_teardown);
    }
  g_test_add ("/nix/integration/requested-without-daemon", Fixture, NULL, fixture_setup,
              test_requested_without_daemon, fixture_teardown);
  return g_test_run ();
}

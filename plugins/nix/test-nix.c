/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the nix forwarder against a fake root, with an in-process
 * daemon that speaks the greeting of the worker protocol (the integration
 * test uses the real nix-daemon). */
#include "config.h"

#include "cbox-nix-plugin.c"

#include "cbox-private.h"
#include "cbox-test-util.h"

typedef struct
{
  char *root;
  CboxHost *host;
  GKeyFile *config;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autofree char *home = NULL;

  f->root = cbox_test_make_dir ("root");
  home = g_build_filename (f->root, "home/u", NULL);
  g_assert_cmpint (g_mkdir_with_parents (home, 0700), ==, 0);
  f->host = cbox_host_new ();
  cbox_host_set_root (f->host, f->root);
  cbox_host_set_user (f->host, 1000, 1000, "u", "/home/u", "/bin/sh");
  cbox_host_setenv (f->host, "PATH", "/usr/local/bin:/usr/bin:/bin");
  f->config = g_key_file_new ();
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_free (f->root);
  cbox_host_unref (f->host);
  g_key_file_unref (f->config);
}

typedef struct
{
  int fd;
  GThread *thread;
  guint64 client_version; /* what the probe sent */
  gboolean saw_eof;       /* the probe closed after the handshake */
} FakeDaemon;

static guint64
read_u64 (int fd, gboolean *eof)
{
  guint8 buf[8];
  gsize got = 0;
  guint64 value = 0;

  while (got < sizeof buf)
    {
      ssize_t n = read (fd, buf + got, sizeof buf - got);
      if (n <= 0)
        {
          *eof = TRUE;
          return 0;
        }
      got += (gsize)n;
    }
  for (int i = 7; i >= 0; i--)
    value = (value << 8) | buf[i];
  return value;
}

static void
write_u64 (int fd, guint64 value)
{
  guint8 buf[8];

  for (int i = 0; i < 8; i++)
    buf[i] = (guint8)(value >> (8 * i));
  g_assert_cmpint (write (fd, buf, sizeof buf), ==, sizeof buf);
}

static gpointer
fake_daemon_thread (gpointer user_data)
{
  FakeDaemon *daemon = user_data;
  int client = accept (daemon->fd, NULL, NULL);
  gboolean eof = FALSE;

  g_assert_cmpint (client, >=, 0);
  g_assert_cmphex (read_u64 (client, &eof), ==, NIX_WORKER_MAGIC_1);
  write_u64 (client, NIX_WORKER_MAGIC_2);
  write_u64 (client, 0x122); /* Nix 2.8 */
  daemon->client_version = read_u64 (client, &eof);
  g_assert_cmpuint (read_u64 (client, &eof), ==, 0); /* cpu affinity: none */
  g_assert_cmpuint (read_u64 (client, &eof), ==, 0); /* reserve space */
  write_u64 (client, NIX_STDERR_LAST);
  read_u64 (client, &daemon->saw_eof);
  close (client);
  return NULL;
}

static FakeDaemon *
fake_daemon_start (Fixture *f, const char *path, gboolean answer)
{
  FakeDaemon *daemon = g_new0 (FakeDaemon, 1);
  g_autofree char *full = g_build_filename (f->root, path, NULL);
  g_autofree char *dir = g_path_get_dirname (full);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  daemon->fd = cbox_test_listen_unix (full);
  if (answer)
    daemon->thread = g_thread_new ("fake-daemon", fake_daemon_thread, daemon);
  return daemon;
}

static void
fake_daemon_stop (FakeDaemon *daemon)
{
  if (daemon->thread != NULL)
    g_thread_join (daemon->thread);
  close (daemon->fd);
  g_free (daemon);
}

static CboxProbeStatus
probe (CboxContext *ctx, CboxProbeResult *result)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (nix_probe (ctx, result, &error));
  g_assert_no_error (error);
  return cbox_probe_result_get_status (result);
}

static void
test_probe_no_socket (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = cbox_context_new (f->host, f->config, "nix");
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();

  g_assert_cmpint (probe (ctx, result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), NIX_DEFAULT_SOCKET));
}

static void
test_probe_hung_daemon (Fixture *f, gconstpointer data)
{
  FakeDaemon *daemon = fake_daemon_start (f, NIX_DEFAULT_SOCKET, FALSE);
  g_autoptr (CboxContext) ctx = cbox_context_new (f->host, f->config, "nix");
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();

  g_assert_cmpint (probe (ctx, result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "greeting"));
  fake_daemon_stop (daemon);
}

static void
test_probe_bad_socket_config (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (GError) error = NULL;

  g_key_file_set_string (f->config, "nix", "socket", "relative/socket");
  ctx = cbox_context_new (f->host, f->config, "nix");
  g_assert_false (nix_probe (ctx, result, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
}

static void
test_available_and_contribute (Fixture *f, gconstpointer data)
{
  FakeDaemon *daemon = fake_daemon_start (f, "/srv/nix.sock", TRUE);
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *sock = g_build_filename (f->root, "srv/nix.sock", NULL);
  g_autofree char *store_path = g_build_filename (f->root, "nix/store/abc-profile", NULL);
  g_autofree char *link = g_build_filename (f->root, "home/u/.nix-profile", NULL);
  const CboxMount *mount;

  /* nix from the installer's default profile, and a user profile. */
  cbox_test_write_file_mode (f->root, "nix/var/nix/profiles/default/bin/nix-store", "#!/bin/sh\n",
                             0755, 0755);
  cbox_test_write_file_mode (f->root, "nix/store/abc-profile/bin/nix-store", "#!/bin/sh\n", 0755,
                             0755);
  g_assert_cmpint (symlink (store_path, link), ==, 0);
  cbox_host_setenv (f->host, "NIX_DAEMON_SOCKET_PATH", "/srv/nix.sock");
  cbox_host_setenv (f->host, "NIX_PATH", "nixpkgs=/nix/var/nix/profiles/per-user/root/channels");

  ctx = cbox_context_new (f->host, f->config, "nix");
  g_assert_cmpint (probe (ctx, result), ==, CBOX_PROBE_AVAILABLE);
  fake_daemon_stop (daemon);
  g_assert_cmpstr (cbox_probe_result_get_detail (result, "daemon-protocol"), ==, "1.34");

  cbox_plan_set_user (plan, 1000, 1000, "u", "/home/u");
  cbox_plan_set_env (plan, "PATH", "/usr/local/bin:/usr/bin:/bin");
  g_assert_true (nix_contribute (ctx, plan, &error));
  g_assert_no_error (error);

  mount = cbox_plan_find_mount (plan, NIX_DEFAULT_SOCKET);
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_SOCKET);
  g_assert_cmpstr (mount->src, ==, sock);
  g_assert_cmpint (cbox_plan_find_mount (plan, "/nix/store")->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpint (cbox_plan_find_mount (plan, "/nix/var/nix/db")->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpint (cbox_plan_find_mount (plan, "/etc/nix")->kind, ==, CBOX_MOUNT_RO);
  mount = cbox_plan_find_mount (plan, "/home/u/.nix-profile");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_SYMLINK);
  g_assert_cmpstr (mount->src, ==, "/nix/store/abc-profile");
  g_assert_cmpstr (cbox_plan_get_env (plan, "NIX_REMOTE"), ==, "daemon");
  g_assert_cmpstr (cbox_plan_get_env (plan, "NIX_PATH"), ==,
                   "nixpkgs=/nix/var/nix/profiles/per-user/root/channels");
  g_assert_cmpstr (cbox_plan_get_env (plan, "PATH"), ==,
                   "/usr/local/bin:/usr/bin:/bin:/nix/var/nix/profiles/default/bin:"
                   "/home/u/.nix-profile/bin");
  /* No NIX_DAEMON_SOCKET_PATH inside: the socket is at the default path. */
  g_assert_null (cbox_plan_get_env (plan, "NIX_DAEMON_SOCKET_PATH"));
}

static void
test_handshake_closes_cleanly (Fixture *f, gconstpointer data)
{
  FakeDaemon *daemon = fake_daemon_start (f, "/d.sock", TRUE);
  g_autofree char *sock = g_build_filename (f->root, "d.sock", NULL);
  g_autoptr (GError) error = NULL;
  guint64 version = 0;

  g_assert_true (nix_daemon_ping (sock, &version, &error));
  g_assert_no_error (error);
  g_assert_cmphex (version, ==, 0x122);
  g_thread_join (g_steal_pointer (&daemon->thread));
  g_assert_cmphex (daemon->client_version, ==, NIX_CLIENT_PROTOCOL);
  g_assert_true (daemon->saw_eof);
  fake_daemon_stop (daemon);
}

static void
test_path_append (void)
{
  g_autofree char *a = nix_path_append ("/usr/bin:/bin", "/usr/bin");
  g_autofree char *b = nix_path_append ("/usr/bin", "/x/bin");
  g_autofree char *c = nix_path_append ("", "/x/bin");

  g_assert_cmpstr (a, ==, "/usr/bin:/bin");
  g_assert_cmpstr (b, ==, "/usr/bin:/x/bin");
  g_assert_cmpstr (c, ==, "/x/bin");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nix/path-append", test_path_append);
  g_test_add ("/nix/probe/no-socket", Fixture, NULL, fixture_setup, test_probe_no_socket,
              fixture_teardown);
  g_test_add ("/nix/probe/hung-daemon", Fixture, NULL, fixture_setup, test_probe_hung_daemon,
              fixture_teardown);
  g_test_add ("/nix/probe/bad-socket-config", Fixture, NULL, fixture_setup,
              test_probe_bad_socket_config, fixture_teardown);
  g_test_add ("/nix/probe/handshake-closes-cleanly", Fixture, NULL, fixture_setup,
              test_handshake_closes_cleanly, fixture_teardown);
  g_test_add ("/nix/contribute/available", Fixture, NULL, fixture_setup,
              test_available_and_contribute, fixture_teardown);
  return g_test_run ();
}

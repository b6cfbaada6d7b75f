/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the pipewire forwarder: socket discovery (PIPEWIRE_REMOTE,
 * PULSE_SERVER, client.conf, the runtime dir) and the plan under a fake
 * root, where sockets are mknod(S_IFSOCK) files; then the probe against a
 * real `pipewire` and `pipewire-pulse` started by the test in a private
 * runtime directory, a socket nobody answers on, and the lazy loading of
 * libpipewire. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cbox-private.h"
#include "cbox-test-util.h"

G_MODULE_EXPORT const CboxPluginDesc *cbox_plugin_describe (void);

typedef struct
{
  char *root;
  CboxHost *host;
  GKeyFile *config;
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
  fx->config = g_key_file_new ();
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_free (fx->root);
  cbox_host_unref (fx->host);
  g_key_file_unref (fx->config);
}

typedef struct
{
  CboxContext *ctx;
  CboxProbeResult *result;
  CboxPlan *plan;
} Run;

static void
run_clear (Run *run)
{
  g_clear_pointer (&run->plan, cbox_plan_free);
  g_clear_pointer (&run->ctx, cbox_context_free);
  g_clear_pointer (&run->result, cbox_probe_result_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Run, run_clear)

static void
run_plugin (CboxHost *host, GKeyFile *config, gboolean base_env, Run *run)
{
  const CboxPluginDesc *desc = cbox_plugin_describe ();
  g_autoptr (GError) error = NULL;

  g_assert_cmpstr (desc->name, ==, "pipewire");
  g_assert_true (g_strv_contains ((const char *const *)desc->aliases, "audio"));
  run->ctx = cbox_context_new (host, config, "pipewire");
  run->result = cbox_probe_result_new ();
  g_assert_true (desc->forwarder->probe (run->ctx, run->result, &error));
  g_assert_no_error (error);
  run->plan = cbox_plan_new ();
  cbox_plan_set_user (run->plan, 1000, 1000, "alice", "/home/alice");
  /* As the base plan sets it. */
  if (base_env)
    cbox_plan_set_env (run->plan, "XDG_RUNTIME_DIR", "/run/user/1000");
  cbox_plan_set_origin (run->plan, "pipewire");
  if (cbox_probe_result_get_status (run->result) != CBOX_PROBE_UNAVAILABLE)
    {
      g_assert_true (desc->forwarder->contribute (run->ctx, run->plan, &error));
      g_assert_no_error (error);
    }
}

static char *
dump_mounts (const char *root, CboxPlan *plan)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
    {
      const CboxMount *mount = cbox_plan_get_mount (plan, i);
      const char *src = mount->src != NULL ? mount->src : "-";

      g_string_append_printf (out, "%s ", cbox_mount_kind_to_string (mount->kind));
      if (root != NULL && g_str_has_prefix (src, root))
        g_string_append_printf (out, "@%s", src + strlen (root));
      else
        g_string_append (out, src);
      g_string_append_printf (out, " %s\n", mount->dest);
      g_assert_cmpstr (mount->origin, ==, "pipewire");
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static char *
read_data_mount (const CboxMount *mount)
{
  g_autofree char *path = g_strdup_printf ("/proc/self/fd/%d", mount->fd);
  char *contents = NULL;

  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DATA);
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  return contents;
}

static void
test_both_sockets (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };
  g_autofree char *mounts = NULL;
  g_autofree char *conf = NULL;

  make_socket_file (fx->root, "/run/user/1000/pipewire-0");
  make_socket_file (fx->root, "/run/user/1000/pulse/native");
  run_plugin (fx->host, fx->config, TRUE, &run);

  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "pipewire-socket"), ==,
                   "/run/user/1000/pipewire-0");
  g_assert_true (g_str_has_prefix (cbox_probe_result_get_detail (run.result, "pipewire"),
                                   "not contacted (host root "));
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "pulse-socket"), ==,
                   "/run/user/1000/pulse/native (from XDG_RUNTIME_DIR)");

  mounts = dump_mounts (fx->root, run.plan);
  g_assert_cmpstr (mounts, ==,
                   "socket @/run/user/1000/pipewire-0 /run/user/1000/pipewire-0\n"
                   "socket @/run/user/1000/pulse/native /run/user/1000/pulse/native\n"
                   "data - /run/user/1000/pulse/client.conf\n");
  conf = read_data_mount (cbox_plan_find_mount (run.plan, "/run/user/1000/pulse/client.conf"));
  g_assert_nonnull (strstr (conf, "\nautospawn = no\n"));
  g_assert_nonnull (strstr (conf, "\nenable-shm = no\n"));
  g_assert_nonnull (strstr (conf, "\ndefault-server = unix:/run/user/1000/pulse/native\n"));
  g_assert_cmpstr (cbox_plan_get_env (run.plan, "PULSE_SERVER"), ==,
                   "unix:/run/user/1000/pulse/native");
  g_assert_cmpstr (cbox_plan_get_env (run.plan, "PULSE_CLIENTCONFIG"), ==,
                   "/run/user/1000/pulse/client.conf");
  /* Found by default in $XDG_RUNTIME_DIR: no variable needed. */
  g_assert_null (cbox_plan_get_env (run.plan, "PIPEWIRE_REMOTE"));
}

/* With the runtime dir variable not (yet) the private one, the remote is
 * named explicitly. */
static void
test_pipewire_remote_needed (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };

  make_socket_file (fx->root, "/run/user/1000/pipewire-0");
  run_plugin (fx->host, fx->config, FALSE, &run);
  g_assert_cmpstr (cbox_plan_get_env (run.plan, "PIPEWIRE_REMOTE"), ==,
                   "/run/user/1000/pipewire-0");
  g_assert_null (cbox_plan_find_mount (run.plan, "/run/user/1000/pulse/native"));
  g_assert_null (cbox_plan_get_env (run.plan, "PULSE_SERVER"));
}

static void
test_host_variables (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };
  g_autofree char *mounts = NULL;

  make_socket_file (fx->root, "/srv/audio/pw-socket");
  make_socket_file (fx->root, "/tmp/pulse-abc/native");
  make_socket_file (fx->root, "/run/user/1000/pulse/native"); /* not this one */
  cbox_host_setenv (fx->host, "PIPEWIRE_REMOTE", "/srv/audio/pw-socket");
  cbox_host_setenv (fx->host, "PULSE_SERVER", "{abc}tcp:soundhost:4713 unix:/tmp/pulse-abc/native");
  run_plugin (fx->host, fx->config, TRUE, &run);

  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "pulse-socket"), ==,
                   "/tmp/pulse-abc/native (from PULSE_SERVER)");
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "pulse-not-forwarded"), ==,
                   "tcp:soundhost:4713 (not a unix socket)");
  mounts = dump_mounts (fx->root, run.plan);
  g_assert_cmpstr (mounts, ==,
                   "socket @/srv/audio/pw-socket /run/user/1000/pipewire-0\n"
                   "socket @/tmp/pulse-abc/native /run/user/1000/pulse/native\n"
                   "data - /run/user/1000/pulse/client.conf\n");
}

static void
test_client_conf (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };

  make_socket_file (fx->root, "/srv/pulse/first");
  make_socket_file (fx->root, "/srv/pulse/second");
  cbox_test_write_file (fx->root, "/etc/pulse/client.conf",
                        "; system\ndefault-server = /srv/pulse/none\n");
  cbox_test_write_file (fx->root, "/home/alice/.config/pulse/client.conf",
                        "# mine\n  default-server = unix:/srv/pulse/first  \nautospawn = yes\n");
  run_plugin (fx->host, fx->config, TRUE, &run);
  g_assert_cmpstr (
      cbox_probe_result_get_detail (run.result, "pulse-socket"), ==,
      "/srv/pulse/first (from default-server in /home/alice/.config/pulse/client.conf)");
  run_clear (&run);

  /* client.conf.d files override, in name order. */
  cbox_test_write_file (fx->root, "/home/alice/.config/pulse/client.conf.d/10-a.conf",
                        "default-server = /srv/pulse/none\n");
  cbox_test_write_file (fx->root, "/home/alice/.config/pulse/client.conf.d/20-b.conf",
                        "default-server = /srv/pulse/second\n");
  run_plugin (fx->host, fx->config, TRUE, &run);
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "pulse-socket"), ==,
                   "/srv/pulse/second (from default-server in "
                   "/home/alice/.config/pulse/client.conf.d/20-b.conf)");
}

static void
make_fifo (const char *root, const char *path)
{
  g_autofree char *full = g_build_filename (root, path, NULL);
  g_autofree char *dir = g_path_get_dirname (full);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_cmpint (mkfifo (full, 0600), ==, 0);
}

/* A client.conf that is a fifo nobody writes to, or a directory, is
 * skipped like an unreadable file and named in the probe's details. Read
 * with g_file_get_contents(), the fifo would block the probe for good (the
 * test would hang). */
static void
test_client_conf_not_regular (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };
  const char *skipped;

  make_socket_file (fx->root, "/run/user/1000/pulse/native");
  make_socket_file (fx->root, "/srv/pulse/second");
  make_fifo (fx->root, "/home/alice/pulse.fifo");
  cbox_host_setenv (fx->host, "PULSE_CLIENTCONFIG", "/home/alice/pulse.fifo");
  run_plugin (fx->host, fx->config, TRUE, &run);
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "pulse-socket"), ==,
                   "/run/user/1000/pulse/native (from XDG_RUNTIME_DIR)");
  skipped = cbox_probe_result_get_detail (run.result, "pulse-config-skipped");
  g_assert_nonnull (skipped);
  g_assert_nonnull (strstr (skipped, "/home/alice/pulse.fifo is not a regular file"));
  g_assert_null (strstr (skipped, ".d"));
  run_clear (&run);

  /* In client.conf.d: a fifo and a directory are passed over, a regular
   * file after them still counts. */
  make_fifo (fx->root, "/home/alice/pulse.fifo.d/10-fifo.conf");
  {
    g_autofree char *dir
        = g_build_filename (fx->root, "/home/alice/pulse.fifo.d/15-dir.conf", NULL);
    g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  }
  cbox_test_write_file (fx->root, "/home/alice/pulse.fifo.d/20-b.conf",
                        "default-server = /srv/pulse/second\n");
  run_plugin (fx->host, fx->config, TRUE, &run);
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "pulse-socket"), ==,
                   "/srv/pulse/second (from default-server in /home/alice/pulse.fifo.d/20-b.conf)");
  skipped = cbox_probe_result_get_detail (run.result, "pulse-config-skipped");
  g_assert_nonnull (skipped);
  g_assert_nonnull (strstr (skipped, "/home/alice/pulse.fifo is not a regular file"));
  g_assert_nonnull (
      strstr (skipped, "/home/alice/pulse.fifo.d/10-fifo.conf is not a regular file"));
  g_assert_nonnull (strstr (skipped, "/home/alice/pulse.fifo.d/15-dir.conf is not a regular file"));
  g_assert_null (strstr (skipped, "20-b.conf"));
  run_clear (&run);

  /* A missing file is not worth a mention, as before. */
  cbox_host_setenv (fx->host, "PULSE_CLIENTCONFIG", "/home/alice/missing.conf");
  run_plugin (fx->host, fx->config, TRUE, &run);
  g_assert_null (cbox_probe_result_get_detail (run.result, "pulse-config-skipped"));
}

static void
test_alsa (Fixture *fx, gconstpointer data)
{
  make_socket_file (fx->root, "/run/user/1000/pipewire-0");
  g_key_file_set_boolean (fx->config, "pipewire", "alsa", TRUE);
  {
    g_auto (Run) run = { 0 };

    run_plugin (fx->host, fx->config, TRUE, &run);
    g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_DEGRADED);
    g_assert_null (cbox_plan_find_mount (run.plan, "/dev/snd"));
  }
  cbox_test_write_file (fx->root, "/dev/snd/controlC0", "");
  {
    g_auto (Run) run = { 0 };
    const CboxMount *mount;
    g_autofree char *src = NULL;

    run_plugin (fx->host, fx->config, TRUE, &run);
    g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_AVAILABLE);
    mount = cbox_plan_find_mount (run.plan, "/dev/snd");
    g_assert_nonnull (mount);
    g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DEV);
    src = g_build_filename (fx->root, "/dev/snd", NULL);
    g_assert_cmpstr (mount->src, ==, src);
  }
  /* Off by default. */
  g_key_file_remove_key (fx->config, "pipewire", "alsa", NULL);
  {
    g_auto (Run) run = { 0 };
    run_plugin (fx->host, fx->config, TRUE, &run);
    g_assert_null (cbox_plan_find_mount (run.plan, "/dev/snd"));
  }
}

static void
test_nothing (Fixture *fx, gconstpointer data)
{
  g_auto (Run) run = { 0 };
  const char *reason;

  run_plugin (fx->host, fx->config, TRUE, &run);
  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_UNAVAILABLE);
  reason = cbox_probe_result_get_reason (run.result);
  g_assert_nonnull (strstr (reason, "no PipeWire socket at /run/user/1000/pipewire-0"));
  g_assert_nonnull (strstr (reason, "no PulseAudio socket at /run/user/1000/pulse/native"));
  g_assert_cmpuint (cbox_plan_get_n_mounts (run.plan), ==, 0);
}

static void
test_bad_config (Fixture *fx, gconstpointer data)
{
  const char *const cases[][3] = {
    { "alsa", "maybe", "alsa" },
    { "pulse", "2", "pulse" },
    { "connect-timeout-ms", "0", "connect-timeout-ms" },
    { "connect-timeout-ms", "soon", "connect-timeout-ms" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GKeyFile) config = g_key_file_new ();
      g_autoptr (CboxContext) ctx = NULL;
      g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
      g_autoptr (GError) error = NULL;

      g_key_file_set_string (config, "pipewire", cases[i][0], cases[i][1]);
      ctx = cbox_context_new (fx->host, config, "pipewire");
      g_assert_false (cbox_plugin_describe ()->forwarder->probe (ctx, result, &error));
      g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
      g_assert_true (g_str_has_prefix (error->message, "pipewire: "));
      g_assert_nonnull (strstr (error->message, cases[i][2]));
    }
}

/* ---- a real daemon ----------------------------------------------------------- */

static gboolean
maps_contain (const char *needle)
{
  g_autofree char *maps = NULL;

  g_assert_true (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL));
  return strstr (maps, needle) != NULL;
}

/* A failing test aborts: its daemons must not outlive it (the test runner
 * would wait for them). */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *
start_daemon (const char *program, const char *runtime_dir, const char *socket)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
      G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autoptr (GError) error = NULL;
  GSubprocess *process;
  const char *argv[] = { program, NULL };

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", runtime_dir, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "PIPEWIRE_REMOTE");
  g_subprocess_launcher_unsetenv (launcher, "DBUS_SESSION_BUS_ADDRESS");
  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_assert_true (cbox_test_wait_for_path (socket, 20));
  return process;
}

static void
test_real_daemon (void)
{
  g_autofree char *pipewire = cbox_test_require_program ("pipewire");
  g_autofree char *pipewire_pulse
      = pipewire != NULL ? cbox_test_require_program ("pipewire-pulse") : NULL;
  g_autofree char *runtime_dir = NULL;
  g_autofree char *pw_socket = NULL;
  g_autofree char *pulse_socket = NULL;
  g_autoptr (GSubprocess) daemon = NULL;
  g_autoptr (GSubprocess) pulse = NULL;
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_auto (Run) run = { 0 };
  const char *detail;

  if (pipewire_pulse == NULL)
    return;

  /* Loading the plugin and probing fake trees never mapped libpipewire:
   * only this probe of a real socket does. */
  g_assert_false (maps_contain ("libpipewire-0.3"));

  runtime_dir = cbox_test_make_dir ("runtime");
  g_assert_cmpint (chmod (runtime_dir, 0700), ==, 0);
  pw_socket = g_build_filename (runtime_dir, "pipewire-0", NULL);
  pulse_socket = g_build_filename (runtime_dir, "pulse", "native", NULL);
  daemon = start_daemon (pipewire, runtime_dir, pw_socket);
  pulse = start_daemon (pipewire_pulse, runtime_dir, pulse_socket);

  cbox_host_set_user (host, getuid (), getgid (), "tester", "/nonexistent", "/bin/sh");
  cbox_host_set_runtime_dir (host, runtime_dir);
  run_plugin (host, NULL, TRUE, &run);
  g_test_message ("pipewire: %s", cbox_probe_result_get_detail (run.result, "pipewire"));
  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_AVAILABLE);
  detail = cbox_probe_result_get_detail (run.result, "pipewire");
  g_assert_true (g_str_has_prefix (detail, "server "));
  g_assert_nonnull (strstr (detail, ", library "));
  g_assert_true (maps_contain ("libpipewire-0.3"));
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "pipewire-socket"), ==, pw_socket);
  {
    g_autofree char *expected = g_strdup_printf ("%s (from XDG_RUNTIME_DIR)", pulse_socket);
    g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "pulse-socket"), ==, expected);
  }
  g_assert_cmpstr (cbox_plan_find_mount (run.plan, "/run/user/1000/pipewire-0")->src, ==,
                   pw_socket);

  g_subprocess_force_exit (pulse);
  g_subprocess_force_exit (daemon);
}

/* A socket that accepts but never answers: the probe gives up within its
 * bound and says so. */
static void
test_silent_socket (void)
{
  g_autofree char *runtime_dir = cbox_test_make_dir ("silent");
  g_autofree char *path = g_build_filename (runtime_dir, "pipewire-0", NULL);
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_auto (Run) run = { 0 };
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpuint (strlen (path), <, sizeof addr.sun_path);
  strcpy (addr.sun_path, path);
  g_assert_cmpint (bind (fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (fd, 4), ==, 0);

  cbox_host_set_user (host, getuid (), getgid (), "tester", "/nonexistent", "/bin/sh");
  cbox_host_set_runtime_dir (host, runtime_dir);
  g_key_file_set_string (config, "pipewire", "connect-timeout-ms", "300");
  run_plugin (host, config, TRUE, &run);
  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_DEGRADED);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (run.result), "no answer within 300 ms"));
  close (fd);
}

/* A socket file nobody listens on: refused at once. */
static void
test_dead_socket (void)
{
  g_autofree char *runtime_dir = cbox_test_make_dir ("dead");
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_auto (Run) run = { 0 };

  make_socket_file (runtime_dir, "pipewire-0");
  cbox_host_set_user (host, getuid (), getgid (), "tester", "/nonexistent", "/bin/sh");
  cbox_host_set_runtime_dir (host, runtime_dir);
  run_plugin (host, NULL, TRUE, &run);
  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_DEGRADED);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (run.result), "PipeWire does not answer"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/pipewire/fake/both-sockets", test_both_sockets);
  ADD ("/pipewire/fake/pipewire-remote-needed", test_pipewire_remote_needed);
  ADD ("/pipewire/fake/host-variables", test_host_variables);
  ADD ("/pipewire/fake/client-conf", test_client_conf);
  ADD ("/pipewire/fake/client-conf-not-regular", test_client_conf_not_regular);
  ADD ("/pipewire/fake/alsa", test_alsa);
  ADD ("/pipewire/fake/nothing", test_nothing);
  ADD ("/pipewire/fake/bad-config", test_bad_config);
#undef ADD
  /* After the fake-root tests: the first one asserts libpipewire was not
   * loaded until then. */
  g_test_add_func ("/pipewire/real/daemon", test_real_daemon);
  g_test_add_func ("/pipewire/real/silent-socket", test_silent_socket);
  g_test_add_func ("/pipewire/real/dead-socket", test_dead_socket);
  return g_test_run ();
}

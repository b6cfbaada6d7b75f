/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dbus forwarder in real sandboxes, with the built cbox: a private
 * dbus-daemon (config file in a temp dir) with org.cboxtest.Allowed and
 * org.cboxtest.Denied; filtered with a rule for the first, dbus-send inside
 * reaches it and not the other; mode=full reaches both; without the
 * forwarder no bus is reachable; and no xdg-dbus-proxy is left after the
 * run, nor after cbox is killed with SIGKILL. Each test runs with the
 * bwrap and the nspawn backend (nspawn only as root). */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cbox-test-util.h"
#include "cbox-dbus-address.h"
#include "dbus-test-bus.h"

#define PING(dest)                                                                                 \
  "dbus-send --session --dest=" dest " --print-reply / org.freedesktop.DBus.Peer.Ping"

typedef struct
{
  TestBus bus;
  char *runtime_dir;
  char *project;
  char *proxy_needle; /* what a proxy of this test's bus has on its command line */
  char **env;
} Fixture;

static gboolean
fixture_start (Fixture *fx, const char *backend)
{
  g_autofree char *socket = NULL;
  g_autofree char *address_env = NULL;
  g_autofree char *runtime_env = NULL;
  g_autofree char *proxy = NULL;
  g_autofree char *dbus_send = NULL;

  if (!cbox_test_require_backend (backend, NULL)
      || (proxy = cbox_test_require_program ("xdg-dbus-proxy")) == NULL
      || (dbus_send = cbox_test_require_program ("dbus-send")) == NULL)
    return FALSE;
  test_bus_start (&fx->bus);
  if (fx->bus.address == NULL)
    return FALSE;
  fx->runtime_dir = cbox_test_make_dir ("runtime");
  g_assert_cmpint (chmod (fx->runtime_dir, 0700), ==, 0);
  fx->project = cbox_test_make_dir ("project");
  socket = g_build_filename (fx->bus.dir, "bus", NULL);
  fx->proxy_needle = cbox_dbus_address_to_string (CBOX_DBUS_UNIX_PATH, socket);
  address_env = g_strconcat ("DBUS_SESSION_BUS_ADDRESS=", fx->bus.address, NULL);
  runtime_env = g_strconcat ("XDG_RUNTIME_DIR=", fx->runtime_dir, NULL);
  fx->env = cbox_test_environ (
      (const char *const[]){ address_env, runtime_env, "DBUS_SYSTEM_BUS_ADDRESS", NULL });
  return TRUE;
}

static void
fixture_stop (Fixture *fx)
{
  test_bus_stop (&fx->bus);
  g_free (fx->runtime_dir);
  g_free (fx->project);
  g_free (fx->proxy_needle);
  g_strfreev (fx->env);
}

static void
run_cbox (Fixture *fx, const char *const *args, CboxTestResult *result)
{
  g_assert_true (cbox_test_run (args, fx->project, (const char *const *)fx->env, NULL, result));
}

static guint
count_proxies (Fixture *fx)
{
  g_autoptr (GArray) pids = test_find_processes (fx->proxy_needle);
  return pids->len;
}

static gboolean
proxies_gone (Fixture *fx, guint seconds)
{
  for (guint i = 0; i < seconds * 20; i++)
    {
      if (count_proxies (fx) == 0)
        return TRUE;
      g_usleep (50000);
    }
  return FALSE;
}

/* No per-run directory of the proxy is left in the runtime dir. */
static void
assert_no_run_dirs (Fixture *fx)
{
  g_autoptr (GDir) dir = g_dir_open (fx->runtime_dir, 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, "cbox-dbus-"))
      g_error ("%s/%s was left behind", fx->runtime_dir, name);
}

static void
test_filtered (gconstpointer data)
{
  const char *backend = data;
  Fixture fx = { 0 };
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *backend_arg = g_strconcat ("--backend=", backend, NULL);
  g_autofree char *expected_address
      = g_strdup_printf ("ADDR=unix:path=/run/user/%u/bus\n", getuid ());

  if (!fixture_start (&fx, backend))
    return;
  run_cbox (&fx,
            (const char *const[]){
                "run", backend_arg, "--forward=dbus", "--set=dbus.talk=org.cboxtest.Allowed", "--",
                "sh", "-c",
                PING ("org.cboxtest.Allowed") " >/dev/null || exit 10\n"
                                              "if " PING (
                                                  "org.cboxtest.Denied") " 2>&1; then exit 11; fi\n"
                                                                         "echo "
                                                                         "\"ADDR=$DBUS_SESSION_BUS_"
                                                                         "ADDRESS\"\n",
                NULL },
            &result);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "org.freedesktop.DBus.Error.ServiceUnknown"));
  g_assert_nonnull (strstr (result.out, expected_address));

  /* The proxy went with the sandbox, and its directory with cbox. */
  g_assert_true (proxies_gone (&fx, 10));
  assert_no_run_dirs (&fx);
  fixture_stop (&fx);
}

static void
test_full (gconstpointer data)
{
  const char *backend = data;
  Fixture fx = { 0 };
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *backend_arg = g_strconcat ("--backend=", backend, NULL);

  if (!fixture_start (&fx, backend))
    return;
  run_cbox (&fx,
            (const char *const[]){ "run", backend_arg, "--forward=dbus", "--set=dbus.mode=full",
                                   "--", "sh", "-c",
                                   PING ("org.cboxtest.Allowed") " >/dev/null || exit 10\n" PING (
                                       "org.cboxtest.Denied") " >/dev/null || exit 11\n",
                                   NULL },
            &result);
  cbox_test_assert_status (&result, 0);
  g_assert_cmpuint (count_proxies (&fx), ==, 0);
  fixture_stop (&fx);
}

static void
test_no_forward (gconstpointer data)
{
  const char *backend = data;
  Fixture fx = { 0 };
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *backend_arg = g_strconcat ("--backend=", backend, NULL);
  g_autofree char *host_bus = NULL;
  g_autofree char *script = NULL;

  if (!fixture_start (&fx, backend))
    return;
  host_bus = g_build_filename (fx.bus.dir, "bus", NULL);
  /* Neither the variable, nor the usual socket, nor the host's own path. */
  script = g_strdup_printf (
      "test -z \"$DBUS_SESSION_BUS_ADDRESS\" || exit 10\n"
      "test -e \"$XDG_RUNTIME_DIR/bus\" && exit 11\n"
      "test -e '%s' && exit 12\n"
      "if " PING ("org.cboxtest.Allowed") " 2>&1; then exit 13; fi\n"
                                          "if dbus-send --bus='%s' --dest=org.cboxtest.Allowed "
                                          "--print-reply / "
                                          "org.freedesktop.DBus.Peer.Ping 2>&1; then exit 14; fi\n"
                                          "exit 0\n",
      host_bus, fx.proxy_needle);
  run_cbox (&fx, (const char *const[]){ "run", backend_arg, "--", "sh", "-c", script, NULL },
            &result);
  cbox_test_assert_status (&result, 0);
  fixture_stop (&fx);
}

static void
test_kill_9 (gconstpointer data)
{
  const char *backend = data;
  Fixture fx = { 0 };
  g_autofree char *backend_arg = g_strconcat ("--backend=", backend, NULL);
  g_autofree char *started = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) cbox = NULL;
  g_autoptr (GError) error = NULL;

  if (!fixture_start (&fx, backend))
    return;
  started = g_build_filename (fx.project, "started", NULL);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE
                                        | G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_child_setup (launcher, test_die_with_parent, NULL, NULL);
  g_subprocess_launcher_set_environ (launcher, fx.env);
  g_subprocess_launcher_set_cwd (launcher, fx.project);
  cbox = g_subprocess_launcher_spawnv (
      launcher,
      (const char *const[]){ cbox_test_cbox_path (), "run", backend_arg, "--forward=dbus", "--",
                             "sh", "-c", "touch started; exec sleep 300", NULL },
      &error);
  g_assert_no_error (error);
  g_assert_true (cbox_test_wait_for_path (started, 60));
  g_assert_cmpuint (count_proxies (&fx), ==, 1);

  g_subprocess_force_exit (cbox); /* SIGKILL: cbox runs no cleanup */
  g_subprocess_wait (cbox, NULL, NULL);
  /* The proxy watched the sync fd, which the kernel closed with cbox. */
  g_assert_true (proxies_gone (&fx, 10));

  /* Its directory stayed (nobody was left to remove it); the next run
   * sweeps it. */
  {
    g_auto (CboxTestResult) result = { 0 };
    run_cbox (&fx,
              (const char *const[]){ "run", backend_arg, "--forward=dbus", "--", "true", NULL },
              &result);
    cbox_test_assert_status (&result, 0);
  }
  assert_no_run_dirs (&fx);
  g_assert_true (proxies_gone (&fx, 10));
  fixture_stop (&fx);
}

int
main (int argc, char **argv)
{
  const char *backends[] = { "bwrap", "nspawn" };

  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (backends); i++)
    {
      g_autofree char *filtered = g_strdup_printf ("/dbus/integration/%s/filtered", backends[i]);
      g_autofree char *full = g_strdup_printf ("/dbus/integration/%s/full", backends[i]);
      g_autofree char *none = g_strdup_printf ("/dbus/integration/%s/no-forward", backends[i]);
      g_autofree char *kill = g_strdup_printf ("/dbus/integration/%s/kill-9", backends[i]);

      g_test_add_data_func (filtered, backends[i], test_filtered);
      g_test_add_data_func (full, backends[i], test_full);
      g_test_add_data_func (none, backends[i], test_no_forward);
      g_test_add_data_func (kill, backends[i], test_kill_9);
    }
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dbus plugin's helper with real tools, without a sandbox: a private
 * dbus-daemon started by the test, two services (org.cboxtest.Allowed,
 * org.cboxtest.Denied), the xdg-dbus-proxy argv exactly as the plugin
 * puts it in the plan, started the way the core starts a SYNC_FD helper,
 * and dbus-send through the proxy socket. The same checks run inside real
 * sandboxes in test-dbus-integration.c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "cbox-private.h"
#include "cbox-test-util.h"
#include "cbox-dbus-plugin.h"

G_MODULE_EXPORT const CboxPluginDesc *cbox_plugin_describe (void);

#include "dbus-test-bus.h"

/* dbus-send's exit status for a ping of @dest on @address. */
static int
ping (const char *address, const char *dest, char **ret_err)
{
  g_autofree char *bus_arg = g_strconcat ("--bus=", address, NULL);
  g_autofree char *dest_arg = g_strconcat ("--dest=", dest, NULL);
  const char *argv[] = { "timeout",   "10",
                         "dbus-send", bus_arg,
                         dest_arg,    "--print-reply",
                         "/",         "org.freedesktop.DBus.Peer.Ping",
                         NULL };
  g_autoptr (GError) error = NULL;
  int wait_status = 0;

  g_assert_true (g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
                               ret_err, &wait_status, &error));
  g_assert_no_error (error);
  return WIFEXITED (wait_status) ? WEXITSTATUS (wait_status) : 128 + WTERMSIG (wait_status);
}

static gboolean
process_gone (GPid pid, guint seconds)
{
  for (guint i = 0; i < seconds * 20; i++)
    {
      int status;
      pid_t got = waitpid (pid, &status, WNOHANG);
      if (got == pid || (got < 0 && errno == ECHILD))
        return TRUE;
      g_usleep (50000);
    }
  return FALSE;
}

static void
test_proxy_rules (void)
{
  g_autofree char *proxy = cbox_test_require_program ("xdg-dbus-proxy");
  g_autofree char *dbus_send = proxy != NULL ? cbox_test_require_program ("dbus-send") : NULL;
  TestBus bus = { 0 };
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *runtime_dir = NULL;
  g_autofree char *proxy_address = NULL;
  g_autofree char *err = NULL;
  const CboxPluginDesc *desc = cbox_plugin_describe ();
  const CboxHelper *helper;
  const CboxMount *mount;
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  int sync_fds[2];
  GPid pid;
  char byte;

  if (dbus_send == NULL)
    return;
  test_bus_start (&bus);
  if (bus.address == NULL)
    return;

  runtime_dir = cbox_test_make_dir ("runtime dir");
  cbox_host_set_user (host, getuid (), getgid (), "tester", "/nonexistent", "/bin/sh");
  cbox_host_set_runtime_dir (host, runtime_dir);
  cbox_host_setenv (host, "DBUS_SESSION_BUS_ADDRESS", bus.address);
  g_key_file_set_string (config, "dbus", "talk", "org.cboxtest.Allowed");
  ctx = cbox_context_new (host, config, "dbus");
  cbox_context_set_instance_id (ctx, "proxytest");
  g_assert_true (desc->forwarder->probe (ctx, result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cbox_probe_result_get_status (result), ==, CBOX_PROBE_AVAILABLE);
  cbox_plan_set_user (plan, getuid (), getgid (), "tester", "/nonexistent");
  cbox_plan_set_origin (plan, "dbus");
  g_assert_true (desc->forwarder->contribute (ctx, plan, &error));
  g_assert_no_error (error);
  g_assert_true (desc->forwarder->prepare (ctx, plan, &error));
  g_assert_no_error (error);

  /* Start the helper as the core does: the helper gets the write end of a
   * pipe, the core waits for a byte and keeps the read end open. */
  helper = cbox_plan_get_helper (plan, 0);
  g_assert_cmpint (helper->ready, ==, CBOX_HELPER_READY_SYNC_FD);
  g_assert_cmpint (pipe2 (sync_fds, O_CLOEXEC), ==, 0);
  for (guint i = 0; helper->argv[i] != NULL; i++)
    {
      g_auto (GStrv) parts = g_strsplit (helper->argv[i], "{sync-fd}", -1);
      g_autofree char *number = g_strdup_printf ("%d", sync_fds[1]);
      g_ptr_array_add (argv, g_strjoinv (number, parts));
    }
  g_ptr_array_add (argv, NULL);
  g_assert_cmpint (fcntl (sync_fds[1], F_SETFD, 0), ==, 0);
  g_assert_true (g_spawn_async (NULL, (char **)argv->pdata, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_LEAVE_DESCRIPTORS_OPEN, NULL,
                                NULL, &pid, &error));
  g_assert_no_error (error);
  close (sync_fds[1]);
  g_assert_cmpint (read (sync_fds[0], &byte, 1), ==, 1);

  {
    g_autofree char *dest = g_strdup_printf ("%s/bus", cbox_plan_get_runtime_dir (plan));
    mount = cbox_plan_find_mount (plan, dest);
  }
  g_assert_nonnull (mount);
  proxy_address = cbox_dbus_address_to_string (CBOX_DBUS_UNIX_PATH, mount->src);

  g_assert_cmpint (ping (proxy_address, "org.cboxtest.Allowed", NULL), ==, 0);
  g_assert_cmpint (ping (proxy_address, "org.cboxtest.Denied", &err), !=, 0);
  g_test_message ("denied: %s", err);
  g_assert_nonnull (strstr (err, "ServiceUnknown"));
  /* Without the proxy, both answer: the denial is the proxy's. */
  g_assert_cmpint (ping (bus.address, "org.cboxtest.Denied", NULL), ==, 0);

  /* Closing the core's end ends the proxy: the same happens when the
   * kernel closes it after cbox was killed. */
  close (sync_fds[0]);
  g_assert_true (process_gone (pid, 10));
  g_spawn_close_pid (pid);

  cbox_plan_run_cleanups (plan);
  {
    g_autofree char *dir = g_path_get_dirname (mount->src);
    g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  }
  test_bus_stop (&bus);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dbus/proxy/rules", test_proxy_rules);
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>

#include "cbox-test-util.h"
#include "cbox-dbus-address.h"
#include "dbus-test-bus.h"

void
test_die_with_parent (gpointer user_data)
{
  /* A test that fails aborts: its daemons must not outlive it (they hold
   * the test runner's output pipe open, and the runner waits for them). */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static char *
test_service_path (void)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = g_path_get_dirname (self);
  return g_build_filename (dir, "test-dbus-service", NULL);
}

/* Reads one line from @stream, within a bound so a broken daemon fails
 * the test instead of hanging it. */
char *
test_read_line_bounded (GInputStream *stream, guint seconds)
{
  int fd = g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (stream));
  g_autoptr (GString) line = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;

  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      char c;

      if (left <= 0 || poll (&pfd, 1, (int)left) <= 0)
        return NULL;
      if (read (fd, &c, 1) != 1)
        return NULL;
      if (c == '\n')
        return g_string_free (g_steal_pointer (&line), FALSE);
      g_string_append_c (line, c);
    }
}

/* A private session bus with the two test services. */
void
test_bus_start (TestBus *bus)
{
  g_autofree char *daemon = cbox_test_require_program ("dbus-daemon");
  g_autofree char *config = NULL;
  g_autofree char *config_text = NULL;
  g_autofree char *socket = NULL;
  g_autofree char *listen = NULL;
  g_autofree char *service = test_service_path ();
  g_autofree char *ready = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;

  if (daemon == NULL)
    return;
  bus->dir = cbox_test_make_dir ("dbus test bus");
  socket = g_build_filename (bus->dir, "bus", NULL);
  /* The directory name has a space: D-Bus addresses escape it. */
  listen = cbox_dbus_address_to_string (CBOX_DBUS_UNIX_PATH, socket);
  config = g_build_filename (bus->dir, "session.conf", NULL);
  config_text = g_markup_printf_escaped (
      "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
      " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
      "<busconfig>\n"
      "  <type>session</type>\n"
      "  <listen>%s</listen>\n"
      "  <auth>EXTERNAL</auth>\n"
      "  <policy context=\"default\">\n"
      "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
      "    <allow eavesdrop=\"true\"/>\n"
      "    <allow own=\"*\"/>\n"
      "  </policy>\n"
      "</busconfig>\n",
      listen);
  g_assert_true (g_file_set_contents (config, config_text, -1, NULL));

  {
    g_autofree char *config_arg = g_strconcat ("--config-file=", config, NULL);
    const char *argv[] = { daemon, "--nofork", "--print-address=1", config_arg, NULL };
    g_autoptr (GSubprocessLauncher) daemon_launcher
        = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_subprocess_launcher_set_child_setup (daemon_launcher, test_die_with_parent, NULL, NULL);
    bus->daemon = g_subprocess_launcher_spawnv (daemon_launcher, argv, &error);
    g_assert_no_error (error);
  }
  bus->address = test_read_line_bounded (g_subprocess_get_stdout_pipe (bus->daemon), 10);
  g_assert_nonnull (bus->address);
  g_assert_true (g_str_has_prefix (bus->address, "unix:path="));

  launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, test_die_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", bus->address, TRUE);
  {
    const char *argv[] = { service, "org.cboxtest.Allowed", "org.cboxtest.Denied", NULL };
    bus->service = g_subprocess_launcher_spawnv (launcher, argv, &error);
    g_assert_no_error (error);
  }
  ready = test_read_line_bounded (g_subprocess_get_stdout_pipe (bus->service), 10);
  g_assert_cmpstr (ready, ==, "ready");
}

void
test_bus_stop (TestBus *bus)
{
  if (bus->service != NULL)
    g_subprocess_force_exit (bus->service);
  if (bus->daemon != NULL)
    g_subprocess_force_exit (bus->daemon);
  g_clear_object (&bus->service);
  g_clear_object (&bus->daemon);
  g_clear_pointer (&bus->address, g_free);
  g_clear_pointer (&bus->dir, g_free);
}

GArray *
test_find_processes (const char *needle)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *cmdline = NULL;
      gsize len;
      guint64 pid;

      if (!g_ascii_string_to_unsigned (name, 10, 1, G_MAXINT, &pid, NULL))
        continue;
      path = g_strdup_printf ("/proc/%s/cmdline", name);
      if (!g_file_get_contents (path, &cmdline, &len, NULL) || len == 0)
        continue;
      for (gsize i = 0; i + 1 < len; i++)
        if (cmdline[i] == '\0')
          cmdline[i] = ' ';
      if (strstr (cmdline, needle) != NULL && (int)pid != getpid ())
        {
          int value = (int)pid;
          g_array_append_val (pids, value);
        }
    }
  return pids;
}

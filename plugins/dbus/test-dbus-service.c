/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A D-Bus service for the dbus tests: connects to the bus in
 * DBUS_SESSION_BUS_ADDRESS, owns every name given on the command line,
 * prints "ready" once it holds them all, and exits when its stdin closes.
 * GDBus answers org.freedesktop.DBus.Peer.Ping on every connection, which
 * is what the tests call. */
#include <stdio.h>
#include <stdlib.h>

#include <gio/gio.h>
#include <glib-unix.h>

static gboolean
on_stdin (int fd, GIOCondition condition, gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (bus == NULL)
    {
      g_printerr ("test-dbus-service: %s\n", error->message);
      return 1;
    }
  for (int i = 1; i < argc; i++)
    {
      g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
          bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
          "RequestName", g_variant_new ("(su)", argv[i], 4 /* DO_NOT_QUEUE */),
          G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
      guint32 result = 0;

      if (reply == NULL)
        {
          g_printerr ("test-dbus-service: RequestName %s: %s\n", argv[i], error->message);
          return 1;
        }
      g_variant_get (reply, "(u)", &result);
      if (result != 1 /* PRIMARY_OWNER */)
        {
          g_printerr ("test-dbus-service: could not own %s (%u)\n", argv[i], result);
          return 1;
        }
    }
  printf ("ready\n");
  fflush (stdout);
  g_unix_fd_add (0, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, loop);
  g_main_loop_run (loop);
  return 0;
}

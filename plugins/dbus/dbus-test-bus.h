/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A private session bus for the dbus tests: dbus-daemon with a config file
 * in a temp dir, and test-dbus-service owning org.cboxtest.Allowed and
 * org.cboxtest.Denied. */

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  char *dir;
  char *address;
  GSubprocess *daemon;
  GSubprocess *service;
} TestBus;

/* Starts the bus; skips the test (fails under CI) when dbus-daemon is
 * missing, leaving @bus->address NULL. */
void test_bus_start (TestBus *bus);
void test_bus_stop (TestBus *bus);
/* Reads one line from @stream within @seconds, or NULL. */
char *test_read_line_bounded (GInputStream *stream, guint seconds);
/* For g_subprocess_launcher_set_child_setup(): SIGKILL when the test dies. */
void test_die_with_parent (gpointer user_data);
/* PIDs (int) of processes whose command line contains @needle. */
GArray *test_find_processes (const char *needle);

G_END_DECLS

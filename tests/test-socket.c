/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the bounded unix-socket helpers probes use. */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>

#include "cbox-private.h"
#include "cbox-test-util.h"

static gint64
soon (void)
{
  /* A bound, not a speed assertion: long enough for a loaded machine. */
  return g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
}

static void
test_socket_exchange (void)
{
  g_autofree char *dir = cbox_test_make_dir ("sock");
  g_autofree char *path = g_build_filename (dir, "s", NULL);
  g_autoptr (GError) error = NULL;
  cbox_autofd int server = cbox_test_listen_unix (path);
  cbox_autofd int client = -1;
  cbox_autofd int peer = -1;
  char buf[5] = "";

  client = cbox_unix_connect (path, soon (), &error);
  g_assert_no_error (error);
  g_assert_cmpint (client, >=, 0);
  /* Never inherited by the sandbox or a helper. */
  g_assert_cmpint (fcntl (client, F_GETFD) & FD_CLOEXEC, ==, FD_CLOEXEC);
  peer = accept4 (server, NULL, NULL, SOCK_CLOEXEC);
  g_assert_cmpint (peer, >=, 0);

  g_assert_true (cbox_fd_write_all (client, "ping", 4, soon (), &error));
  g_assert_no_error (error);
  g_assert_cmpint (read (peer, buf, 4), ==, 4);
  g_assert_cmpstr (buf, ==, "ping");

  g_assert_cmpint (write (peer, "pong", 4), ==, 4);
  memset (buf, 0, sizeof buf);
  g_assert_true (cbox_fd_read_exact (client, buf, 4, soon (), &error));
  g_assert_no_error (error);
  g_assert_cmpstr (buf, ==, "pong");

  /* The server closes early: an error, not a short read. */
  g_assert_cmpint (write (peer, "x", 1), ==, 1);
  close (cbox_steal_fd (&peer));
  g_assert_false (cbox_fd_read_exact (client, buf, 4, soon (), &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_PIPE);
}

static void
test_socket_silent_server_times_out (void)
{
  g_autofree char *dir = cbox_test_make_dir ("sock");
  g_autofree char *path = g_build_filename (dir, "s", NULL);
  g_autoptr (GError) error = NULL;
  cbox_autofd int server = cbox_test_listen_unix (path);
  cbox_autofd int client = cbox_unix_connect (path, soon (), &error);
  char c;

  g_assert_cmpint (server, >=, 0);
  g_assert_no_error (error);
  /* Accepted by the kernel, never answered: the deadline ends the wait. */
  g_assert_false (cbox_fd_read_exact (client, &c, 1, g_get_monotonic_time () + 50 * 1000, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_TIMED_OUT);
}

static void
test_socket_connect_errors (void)
{
  g_autofree char *dir = cbox_test_make_dir ("sock");
  g_autofree char *missing = g_build_filename (dir, "missing", NULL);
  g_autofree char *plain = g_build_filename (dir, "plain file", NULL);
  g_autofree char *long_path = g_strnfill (200, 'a');
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (cbox_unix_connect (missing, soon (), &error), ==, -1);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (plain, "", 0, NULL));
  g_assert_cmpint (cbox_unix_connect (plain, soon (), &error), ==, -1);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, plain));
  g_clear_error (&error);

  g_assert_cmpint (cbox_unix_connect (long_path, soon (), &error), ==, -1);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/socket/exchange", test_socket_exchange);
  g_test_add_func ("/socket/silent-server-times-out", test_socket_silent_server_times_out);
  g_test_add_func ("/socket/connect-errors", test_socket_connect_errors);
  return g_test_run ();
}

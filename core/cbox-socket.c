/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "cbox-private.h"
#include <cbox/cbox-socket.h>

/* Waits for @events on @fd until @deadline. */
static gboolean
cbox_fd_wait (int fd, short events, gint64 deadline, GError **error)
{
  struct pollfd pfd = { .fd = fd, .events = events };

  for (;;)
    {
      gint64 left_ms = (deadline - g_get_monotonic_time ()) / 1000;
      int r = poll (&pfd, 1, (int)CLAMP (left_ms, 0, G_MAXINT));

      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          int saved_errno = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "poll: %s",
                       g_strerror (saved_errno));
          return FALSE;
        }
      if (r == 0)
        {
          g_set_error_literal (error, CBOX_ERROR, CBOX_ERROR_TIMED_OUT, "no answer in time");
          return FALSE;
        }
      /* POLLHUP/POLLERR: let the read or write that follows say what. */
      return TRUE;
    }
}

int
cbox_unix_connect (const char *path, gint64 deadline, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cbox_autofd int fd = -1;
  int so_error = 0;
  socklen_t so_len = sizeof so_error;

  g_return_val_if_fail (path != NULL, -1);

  if (strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG,
                   "the socket path %s is too long to connect to", path);
      return -1;
    }
  memcpy (addr.sun_path, path, strlen (path) + 1);

  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "cannot make a socket: %s", g_strerror (saved_errno));
      return -1;
    }
  if (connect (fd, (struct sockaddr *)&addr, sizeof addr) == 0)
    return cbox_steal_fd (&fd);
  if (errno != EINPROGRESS && errno != EAGAIN)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "cannot connect to %s: %s", path, g_strerror (saved_errno));
      return -1;
    }
  /* A listener with a full backlog: wait for it, within the deadline. */
  if (!cbox_fd_wait (fd, POLLOUT, deadline, error))
    {
      g_prefix_error (error, "cannot connect to %s: ", path);
      return -1;
    }
  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len) < 0 || so_error != 0)
    {
      int saved_errno = so_error != 0 ? so_error : errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "cannot connect to %s: %s", path, g_strerror (saved_errno));
      return -1;
    }
  return cbox_steal_fd (&fd);
}

gboolean
cbox_fd_write_all (int fd, const void *buf, gsize len, gint64 deadline, GError **error)
{
  gsize done = 0;

  while (done < len)
    {
      ssize_t n;

      if (!cbox_fd_wait (fd, POLLOUT, deadline, error))
        return FALSE;
      n = send (fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        continue;
      if (n < 0)
        {
          int saved_errno = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "write: %s",
                       g_strerror (saved_errno));
          return FALSE;
        }
      done += (gsize)n;
    }
  return TRUE;
}

gboolean
cbox_fd_read_exact (int fd, void *buf, gsize len, gint64 deadline, GError **error)
{
  gsize done = 0;

  while (done < len)
    {
      ssize_t n;

      if (!cbox_fd_wait (fd, POLLIN, deadline, error))
        return FALSE;
      n = recv (fd, (char *)buf + done, len - done, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        continue;
      if (n < 0)
        {
          int saved_errno = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "read: %s",
                       g_strerror (saved_errno));
          return FALSE;
        }
      if (n == 0)
        {
          g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_PIPE,
                               "the server closed the connection");
          return FALSE;
        }
      done += (gsize)n;
    }
  return TRUE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-private.h"

gboolean
cbox_write_file_atomic (const char *path, const void *data, gsize len, int mode, GError **error)
{
  g_autofree char *tmp_path = g_strconcat (path, ".XXXXXX", NULL);
  gsize done = 0;
  int saved_errno;
  int fd;

  fd = g_mkstemp_full (tmp_path, O_RDWR | O_CLOEXEC, mode);
  if (fd < 0)
    goto fail;
  while (done < len)
    {
      ssize_t n = write (fd, (const char *)data + done, len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          saved_errno = n < 0 ? errno : EIO;
          close (fd);
          g_unlink (tmp_path);
          errno = saved_errno;
          goto fail;
        }
      done += (gsize)n;
    }
  if (close (fd) < 0 || rename (tmp_path, path) < 0)
    {
      saved_errno = errno;
      g_unlink (tmp_path);
      errno = saved_errno;
      goto fail;
    }
  return TRUE;

fail:
  saved_errno = errno;
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "Failed to write %s: %s",
               path, g_strerror (saved_errno));
  return FALSE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif

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

/* openat2() came with Linux 5.6 and its header with the same kernel
 * headers; older ones get the one-component O_NOFOLLOW walk below. */
#ifndef RESOLVE_NO_SYMLINKS
struct open_how
{
  guint64 flags;
  guint64 mode;
  guint64 resolve;
};
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

int
cbox_open_beneath (int dir_fd, const char *path, int flags)
{
  struct open_how how = {
    .flags = (guint64)(flags | O_NOFOLLOW | O_CLOEXEC),
    .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
  };
  g_auto (GStrv) parts = NULL;
  cbox_autofd int current = -1;
  int fd;

  fd = (int)syscall (SYS_openat2, dir_fd, path, &how, sizeof how);
  if (fd >= 0 || errno != ENOSYS)
    return fd;

  /* No openat2: one component at a time, never following a link. */
  if (path[0] == '/')
    {
      errno = EXDEV;
      return -1;
    }
  parts = g_strsplit (path, "/", -1);
  current = fcntl (dir_fd, F_DUPFD_CLOEXEC, 3);
  if (current < 0)
    return -1;
  for (guint i = 0; parts[i] != NULL; i++)
    {
      gboolean last = parts[i + 1] == NULL;
      int next;

      if (parts[i][0] == '\0' || g_str_equal (parts[i], "."))
        {
          if (!last)
            continue;
          parts[i][0] = '.';
          parts[i][1] = '\0';
        }
      if (g_str_equal (parts[i], ".."))
        {
          errno = EXDEV;
          return -1;
        }
      next = openat (current, parts[i],
                     last ? (flags | O_NOFOLLOW | O_CLOEXEC)
                          : (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (next < 0)
        {
          /* A link in the middle: ELOOP, as openat2 says it. */
          if (errno == ENOTDIR && !last)
            {
              struct stat st;
              if (fstatat (current, parts[i], &st, AT_SYMLINK_NOFOLLOW) == 0
                  && S_ISLNK (st.st_mode))
                errno = ELOOP;
            }
          return -1;
        }
      close (current);
      current = next;
    }
  fd = current;
  current = -1;
  return fd;
}

int
cbox_open_resolve_beneath (int dir_fd, const char *path, int flags)
{
  struct open_how how = {
    .flags = (guint64)(flags | O_CLOEXEC),
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
  };

  return (int)syscall (SYS_openat2, dir_fd, path, &how, sizeof how);
}

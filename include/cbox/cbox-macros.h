/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <glib.h>
#include <unistd.h>

G_BEGIN_DECLS

/* g_autofd arrived in GLib 2.76; Debian 12 ships 2.74. The same thing,
 * under our own name, so plugins built against either GLib read alike. */
static inline void
cbox_close_fdp (int *fdp)
{
  if (*fdp >= 0)
    {
      int saved_errno = errno;
      close (*fdp);
      errno = saved_errno;
    }
}
#define cbox_autofd __attribute__ ((cleanup (cbox_close_fdp)))

/* Returns *fdp and sets it to -1, as g_steal_fd() does in newer GLib. */
static inline int
cbox_steal_fd (int *fdp)
{
  int fd = *fdp;
  *fdp = -1;
  return fd;
}

G_END_DECLS

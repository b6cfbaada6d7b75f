/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Bounded talk with a unix-socket server, for probes ("is the agent
 * answering?"). Every call takes a deadline on the monotonic clock
 * (g_get_monotonic_time() microseconds), so a server that accepts and
 * then hangs cannot hang cbox. */

/* Connects to the stream socket at @path. Returns a non-blocking
 * O_CLOEXEC fd, or -1 with @error set naming the path. */
int cbox_unix_connect (const char *path, gint64 deadline, GError **error);
/* Writes all of @buf (MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE). */
gboolean cbox_fd_write_all (int fd, const void *buf, gsize len, gint64 deadline, GError **error);
/* Reads exactly @len bytes; end of file before that is an error. */
gboolean cbox_fd_read_exact (int fd, void *buf, gsize len, gint64 deadline, GError **error);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Connects to the PipeWire daemon listening on @socket_path (absolute) and
 * waits at most @timeout_ms for its core info. Loads libpipewire on first
 * use. On success @ret_server_version gets the daemon's version; on
 * failure @ret_error says why. @ret_library_version is set whenever the
 * library could be loaded. */
gboolean cbox_pipewire_probe_connect (const char *socket_path, guint timeout_ms,
                                      char **ret_server_version, char **ret_library_version,
                                      char **ret_error);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The host socket of WAYLAND_DISPLAY @display: an absolute path as is, a
 * name under @runtime_dir. Refuses names with '/', "." and "..", paths
 * that are not normalized or too long for a unix socket, and a name when
 * @runtime_dir is NULL. */
char *cbox_wayland_display_resolve (const char *display, const char *runtime_dir, GError **error);

/* WAYLAND_DISPLAY inside: the same name, or "wayland-0" for an absolute
 * path (the socket is bound into the private runtime directory). */
char *cbox_wayland_display_inside_name (const char *display);

/* TRUE when the helper's "probe" output lists global @interface. */
gboolean cbox_wayland_globals_have (const char *globals, const char *interface);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Display numbers above this cannot be a TCP port (6000 + N). */
#define CBOX_X11_MAX_DISPLAY_NUMBER 59535

/* A parsed DISPLAY: either local (a unix socket in /tmp/.X11-unix) or TCP
 * to a host. */
typedef struct
{
  gboolean local;
  /* TCP: the host without brackets ("::1", "localhost"); NULL when local. */
  char *host;
  /* TCP: TRUE when the host was written as an IPv6 literal "[...]". */
  gboolean ipv6_literal;
  /* The display number as text ("0", "10") and as a number. */
  char *number;
  guint display;
  /* The screen, as text ("1"), or NULL. */
  char *screen;
} CboxX11Display;

void cbox_x11_display_free (CboxX11Display *display);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxX11Display, cbox_x11_display_free)

/* Parses ":0", ":0.1", "unix:0", "unix/:0", "host:0", "tcp/host:0",
 * "[::1]:0", "localhost:10". Refuses DECnet ("host::0"), socket paths
 * ("/path:0") and anything else, naming what is wrong. */
CboxX11Display *cbox_x11_display_parse (const char *display, GError **error);

/* "/tmp/.X11-unix/X0" for a local display; NULL for TCP. */
char *cbox_x11_display_get_socket_path (const CboxX11Display *display);

/* TRUE when a TCP display's host is the loopback ("localhost", 127.x,
 * "::1"): reachable only through the host's own network namespace. */
gboolean cbox_x11_display_is_loopback (const CboxX11Display *display);

G_END_DECLS

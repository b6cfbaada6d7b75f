/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cbox-x11-display.h"

#include <arpa/inet.h>
#include <string.h>

#include <cbox/cbox-plugin.h>

void
cbox_x11_display_free (CboxX11Display *display)
{
  if (display == NULL)
    return;
  g_free (display->host);
  g_free (display->number);
  g_free (display->screen);
  g_free (display);
}

static gboolean
x11_is_digits (const char *start, const char *end)
{
  if (start == end)
    return FALSE;
  for (const char *p = start; p < end; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  return TRUE;
}

static gboolean
x11_is_host_name (const char *host)
{
  for (const char *p = host; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '.' && *p != '-' && *p != '_')
      return FALSE;
  return host[0] != '\0' && host[0] != '-' && host[0] != '.';
}

CboxX11Display *
cbox_x11_display_parse (const char *display, GError **error)
{
  g_autoptr (CboxX11Display) parsed = g_new0 (CboxX11Display, 1);
  g_autofree char *host = NULL;
  const char *colon, *number, *number_end, *dot;
  guint64 value = 0;

  g_return_val_if_fail (display != NULL, NULL);

  if (!g_utf8_validate (display, -1, NULL) || strlen (display) > 255)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "DISPLAY is not a display name (too long or not text)");
      return NULL;
    }
  if (display[0] == '/')
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "DISPLAY=%s is a socket path, which cbox does not forward (use :N)", display);
      return NULL;
    }

  /* The last ':' separates host and display: an IPv6 host has colons of
   * its own and must be in brackets. */
  colon = strrchr (display, ':');
  if (colon == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "DISPLAY=%s has no ':' (expected HOST:N or :N)", display);
      return NULL;
    }

  number = colon + 1;
  dot = strchr (number, '.');
  number_end = dot != NULL ? dot : number + strlen (number);
  if (!x11_is_digits (number, number_end) || number_end - number > 5
      || (dot != NULL && (!x11_is_digits (dot + 1, dot + strlen (dot)) || strlen (dot + 1) > 5)))
    {
      g_set_error (
          error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
          "DISPLAY=%s: expected a display number (and optionally .SCREEN) after the last ':'",
          display);
      return NULL;
    }
  value = g_ascii_strtoull (number, NULL, 10);
  if (value > CBOX_X11_MAX_DISPLAY_NUMBER)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "DISPLAY=%s: display number %" G_GUINT64_FORMAT " is out of range (0-%d)",
                   display, value, CBOX_X11_MAX_DISPLAY_NUMBER);
      return NULL;
    }
  parsed->display = (guint)value;
  parsed->number = g_strdup_printf ("%u", parsed->display);
  if (dot != NULL)
    parsed->screen = g_strdup_printf ("%u", (guint)g_ascii_strtoull (dot + 1, NULL, 10));

  host = g_strndup (display, (gsize)(colon - display));

  if (host[0] != '\0' && host[strlen (host) - 1] == ':')
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "DISPLAY=%s is a DECnet display (HOST::N), which cbox does not forward",
                   display);
      return NULL;
    }

  /* XCB's protocol prefixes. */
  if (g_str_has_prefix (host, "unix/"))
    {
      if (host[5] != '\0')
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "DISPLAY=%s: a unix display names no host", display);
          return NULL;
        }
      host[0] = '\0';
    }
  else if (g_str_has_prefix (host, "tcp/") || g_str_has_prefix (host, "inet/")
           || g_str_has_prefix (host, "inet6/"))
    {
      char *rest = g_strdup (strchr (host, '/') + 1);
      g_free (host);
      host = rest;
      if (host[0] == '\0')
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "DISPLAY=%s: a TCP display needs a host", display);
          return NULL;
        }
    }

  if (host[0] == '\0' || g_str_equal (host, "unix"))
    {
      parsed->local = TRUE;
      return g_steal_pointer (&parsed);
    }

  if (host[0] == '[')
    {
      gsize len = strlen (host);
      struct in6_addr addr;
      g_autofree char *inner = NULL;

      if (len < 3 || host[len - 1] != ']')
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "DISPLAY=%s: unbalanced '[' in the host", display);
          return NULL;
        }
      inner = g_strndup (host + 1, len - 2);
      if (inet_pton (AF_INET6, inner, &addr) != 1)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "DISPLAY=%s: '%s' is not an IPv6 address", display, inner);
          return NULL;
        }
      parsed->host = g_steal_pointer (&inner);
      parsed->ipv6_literal = TRUE;
      return g_steal_pointer (&parsed);
    }

  if (strchr (host, ':') != NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "DISPLAY=%s: write an IPv6 host in brackets ([::1]:0)", display);
      return NULL;
    }
  if (!x11_is_host_name (host))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "DISPLAY=%s: '%s' is not a host name", display, host);
      return NULL;
    }
  parsed->host = g_steal_pointer (&host);
  return g_steal_pointer (&parsed);
}

char *
cbox_x11_display_get_socket_path (const CboxX11Display *display)
{
  g_return_val_if_fail (display != NULL, NULL);
  if (!display->local)
    return NULL;
  return g_strdup_printf ("/tmp/.X11-unix/X%u", display->display);
}

gboolean
cbox_x11_display_is_loopback (const CboxX11Display *display)
{
  struct in_addr addr4;
  struct in6_addr addr6;

  g_return_val_if_fail (display != NULL, FALSE);
  if (display->local)
    return FALSE;
  if (g_ascii_strcasecmp (display->host, "localhost") == 0
      || g_str_has_suffix (display->host, ".localhost"))
    return TRUE;
  if (inet_pton (AF_INET, display->host, &addr4) == 1)
    return (ntohl (addr4.s_addr) >> 24) == 127;
  if (inet_pton (AF_INET6, display->host, &addr6) == 1)
    return IN6_IS_ADDR_LOOPBACK (&addr6)
           || (IN6_IS_ADDR_V4MAPPED (&addr6) && addr6.s6_addr[12] == 127);
  return FALSE;
}

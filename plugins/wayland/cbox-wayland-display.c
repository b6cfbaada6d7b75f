/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cbox-wayland-display.h"

#include <string.h>
#include <sys/un.h>

#include <cbox/cbox-plugin.h>

static gboolean
wayland_is_normalized_path (const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path + 1, "/", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] == '\0' || g_str_equal (parts[i], ".") || g_str_equal (parts[i], ".."))
      return FALSE;
  return TRUE;
}

char *
cbox_wayland_display_resolve (const char *display, const char *runtime_dir, GError **error)
{
  struct sockaddr_un addr;
  g_autofree char *path = NULL;

  g_return_val_if_fail (display != NULL, NULL);

  if (display[0] == '\0' || !g_utf8_validate (display, -1, NULL))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "WAYLAND_DISPLAY is empty or not text");
      return NULL;
    }
  for (const char *p = display; *p != '\0'; p++)
    if (g_ascii_iscntrl (*p))
      {
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                     "WAYLAND_DISPLAY contains control characters");
        return NULL;
      }

  if (display[0] == '/')
    {
      if (!wayland_is_normalized_path (display))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "WAYLAND_DISPLAY=%s is not a normalized absolute path", display);
          return NULL;
        }
      path = g_strdup (display);
    }
  else
    {
      if (strchr (display, '/') != NULL || g_str_equal (display, ".")
          || g_str_equal (display, ".."))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "WAYLAND_DISPLAY=%s is neither a socket name nor an absolute path", display);
          return NULL;
        }
      if (runtime_dir == NULL || runtime_dir[0] != '/')
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "XDG_RUNTIME_DIR is not set, so WAYLAND_DISPLAY=%s cannot be found",
                       display);
          return NULL;
        }
      path = g_build_filename (runtime_dir, display, NULL);
    }

  if (strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "Wayland socket path %s is too long for a unix socket", path);
      return NULL;
    }
  return g_steal_pointer (&path);
}

char *
cbox_wayland_display_inside_name (const char *display)
{
  g_return_val_if_fail (display != NULL, NULL);
  if (display[0] == '/')
    return g_strdup ("wayland-0");
  return g_strdup (display);
}

gboolean
cbox_wayland_globals_have (const char *globals, const char *interface)
{
  g_auto (GStrv) lines = NULL;

  g_return_val_if_fail (globals != NULL && interface != NULL, FALSE);
  lines = g_strsplit (globals, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) words = g_strsplit (lines[i], " ", 3);
      if (g_strv_length (words) >= 2 && g_str_equal (words[0], "global")
          && g_str_equal (words[1], interface))
        return TRUE;
    }
  return FALSE;
}

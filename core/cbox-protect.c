/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "cbox-protect.h"

gboolean
cbox_protect_entry_is_valid (const char *entry)
{
  g_auto (GStrv) parts = NULL;

  if (entry == NULL)
    return FALSE;
  if (g_str_has_prefix (entry, "~/"))
    entry += 2;
  if (entry[0] == '\0' || entry[0] == '/')
    return FALSE;
  parts = g_strsplit (entry, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] == '\0' || g_str_equal (parts[i], ".") || g_str_equal (parts[i], ".."))
      return FALSE;
  return TRUE;
}

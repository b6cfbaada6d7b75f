/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the Xauthority parser and filter: any input either
 * parses, and then survives a serialize/parse round trip unchanged, or is
 * refused with an error; never a crash, a leak or a read out of bounds. */
#include <string.h>

#include "cbox-x11-xauth.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) entries = cbox_xauth_parse (data, size, &error);
  g_autoptr (GBytes) again = NULL;
  g_autoptr (GPtrArray) filtered = NULL;
  g_autoptr (GPtrArray) remote = NULL;
  const char *hostnames[] = { "host", "", NULL };
  static const guint8 loopback[4] = { 127, 0, 0, 1 };
  CboxXauthMatch match = { .number = "0", .local_hostnames = hostnames };

  if (entries == NULL)
    {
      if (error == NULL)
        __builtin_trap ();
      return 0;
    }

  again = cbox_xauth_serialize (entries);
  if (g_bytes_get_size (again) != size
      || (size > 0 && memcmp (g_bytes_get_data (again, NULL), data, size) != 0))
    __builtin_trap ();

  remote = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  g_ptr_array_add (remote, g_bytes_new_static (loopback, sizeof loopback));
  match.remote_addresses = remote;
  filtered = cbox_xauth_filter (entries, &match);
  for (guint i = 0; i < filtered->len; i++)
    {
      const CboxXauthEntry *entry = g_ptr_array_index (filtered, i);
      if (entry->family != CBOX_XAUTH_FAMILY_WILD || g_bytes_get_size (entry->address) != 0)
        __builtin_trap ();
    }
  g_bytes_unref (cbox_xauth_serialize (filtered));
  return 0;
}

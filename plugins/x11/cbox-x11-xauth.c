/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cbox-x11-xauth.h"

#include <string.h>

#include <cbox/cbox-plugin.h>

/*
 * The Xauthority format (libXau's XauReadAuth/XauWriteAuth): a sequence of
 * entries, each
 *
 *   uint16 family                 big-endian
 *   uint16 length, then bytes     address
 *   uint16 length, then bytes     display number, as decimal text
 *   uint16 length, then bytes     authorization name ("MIT-MAGIC-COOKIE-1")
 *   uint16 length, then bytes     authorization data (the cookie)
 *
 * and nothing else: no header, no count. Every length is checked against
 * what is left before anything is read.
 */

CboxXauthEntry *
cbox_xauth_entry_new (guint16 family, const void *address, gsize address_len, const char *number,
                      const char *name, const void *data, gsize data_len)
{
  CboxXauthEntry *entry;

  /* Every field is written with a 16-bit length. */
  g_return_val_if_fail (address_len <= G_MAXUINT16 && data_len <= G_MAXUINT16, NULL);
  g_return_val_if_fail (number == NULL || strlen (number) <= G_MAXUINT16, NULL);
  g_return_val_if_fail (name == NULL || strlen (name) <= G_MAXUINT16, NULL);

  entry = g_new0 (CboxXauthEntry, 1);

  entry->family = family;
  entry->address = g_bytes_new (address, address_len);
  entry->number = g_bytes_new (number, number != NULL ? strlen (number) : 0);
  entry->name = g_bytes_new (name, name != NULL ? strlen (name) : 0);
  entry->data = g_bytes_new (data, data_len);
  return entry;
}

void
cbox_xauth_entry_free (CboxXauthEntry *entry)
{
  if (entry == NULL)
    return;
  g_clear_pointer (&entry->address, g_bytes_unref);
  g_clear_pointer (&entry->number, g_bytes_unref);
  g_clear_pointer (&entry->name, g_bytes_unref);
  g_clear_pointer (&entry->data, g_bytes_unref);
  g_free (entry);
}

typedef struct
{
  const guint8 *buf;
  gsize len;
  gsize pos;
  guint index; /* entry number, from 1, for messages */
} XauthReader;

static gboolean
xauth_read_u16 (XauthReader *reader, const char *what, guint16 *ret_value, GError **error)
{
  if (reader->len - reader->pos < 2)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "truncated at byte %" G_GSIZE_FORMAT ": entry %u ends inside its %s",
                   reader->pos, reader->index, what);
      return FALSE;
    }
  *ret_value = (guint16)((reader->buf[reader->pos] << 8) | reader->buf[reader->pos + 1]);
  reader->pos += 2;
  return TRUE;
}

static gboolean
xauth_read_counted (XauthReader *reader, const char *what, GBytes **ret_bytes, GError **error)
{
  guint16 length = 0;

  if (!xauth_read_u16 (reader, what, &length, error))
    return FALSE;
  if (reader->len - reader->pos < length)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "truncated at byte %" G_GSIZE_FORMAT ": entry %u says its %s has %u bytes, "
                   "only %" G_GSIZE_FORMAT " are left",
                   reader->pos, reader->index, what, (unsigned)length, reader->len - reader->pos);
      return FALSE;
    }
  *ret_bytes = g_bytes_new (reader->buf + reader->pos, length);
  reader->pos += length;
  return TRUE;
}

GPtrArray *
cbox_xauth_parse (const guint8 *buf, gsize len, GError **error)
{
  g_autoptr (GPtrArray) entries
      = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_xauth_entry_free);
  XauthReader reader = { buf, len, 0, 0 };

  g_return_val_if_fail (buf != NULL || len == 0, NULL);

  if (len > CBOX_XAUTH_MAX_FILE_SIZE)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "%" G_GSIZE_FORMAT " bytes is too large for an Xauthority file (at most %d)",
                   len, CBOX_XAUTH_MAX_FILE_SIZE);
      return NULL;
    }

  while (reader.pos < reader.len)
    {
      g_autoptr (CboxXauthEntry) entry = g_new0 (CboxXauthEntry, 1);

      reader.index++;
      if (!xauth_read_u16 (&reader, "family", &entry->family, error)
          || !xauth_read_counted (&reader, "address", &entry->address, error)
          || !xauth_read_counted (&reader, "display number", &entry->number, error)
          || !xauth_read_counted (&reader, "authorization name", &entry->name, error)
          || !xauth_read_counted (&reader, "authorization data", &entry->data, error))
        return NULL;
      g_ptr_array_add (entries, g_steal_pointer (&entry));
    }
  return g_steal_pointer (&entries);
}

static void
xauth_append_counted (GByteArray *out, GBytes *bytes)
{
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  guint8 length[2];

  g_return_if_fail (size <= G_MAXUINT16);
  length[0] = (guint8)(size >> 8);
  length[1] = (guint8)(size & 0xff);
  g_byte_array_append (out, length, 2);
  if (size > 0)
    g_byte_array_append (out, data, (guint)size);
}

GBytes *
cbox_xauth_serialize (GPtrArray *entries)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();

  for (guint i = 0; i < entries->len; i++)
    {
      const CboxXauthEntry *entry = g_ptr_array_index (entries, i);
      guint8 family[2] = { (guint8)(entry->family >> 8), (guint8)(entry->family & 0xff) };

      g_byte_array_append (out, family, 2);
      xauth_append_counted (out, entry->address);
      xauth_append_counted (out, entry->number);
      xauth_append_counted (out, entry->name);
      xauth_append_counted (out, entry->data);
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

static gboolean
xauth_bytes_equal_str (GBytes *bytes, const char *str)
{
  gsize size = 0;
  const void *data = g_bytes_get_data (bytes, &size);

  return size == strlen (str) && (size == 0 || memcmp (data, str, size) == 0);
}

static gboolean
xauth_entry_matches (const CboxXauthEntry *entry, const CboxXauthMatch *match)
{
  /* An entry without a display number matches every display of its
   * address (libXau's rule), so it is one for our display too. Any other
   * number is another display's cookie: never handed in. */
  if (g_bytes_get_size (entry->number) != 0
      && !xauth_bytes_equal_str (entry->number, match->number))
    return FALSE;

  switch (entry->family)
    {
    case CBOX_XAUTH_FAMILY_WILD:
      return TRUE;

    case CBOX_XAUTH_FAMILY_LOCAL:
      /* Local entries are keyed by host name: only this host's. Entries of
       * other machines (a copied home directory, an NFS home) stay out. */
      for (guint i = 0; match->local_hostnames != NULL && match->local_hostnames[i] != NULL; i++)
        if (match->local_hostnames[i][0] != '\0'
            && xauth_bytes_equal_str (entry->address, match->local_hostnames[i]))
          return TRUE;
      return FALSE;

    case CBOX_XAUTH_FAMILY_INTERNET:
    case CBOX_XAUTH_FAMILY_INTERNET6:
      for (guint i = 0; match->remote_addresses != NULL && i < match->remote_addresses->len; i++)
        if (g_bytes_equal (entry->address, g_ptr_array_index (match->remote_addresses, i)))
          return TRUE;
      return FALSE;

    default:
      /* Kerberos, DECnet, server-interpreted, ...: not for a display we
       * can forward. */
      return FALSE;
    }
}

GPtrArray *
cbox_xauth_filter (GPtrArray *entries, const CboxXauthMatch *match)
{
  g_autoptr (GPtrArray) kept
      = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_xauth_entry_free);

  g_return_val_if_fail (entries != NULL, NULL);
  g_return_val_if_fail (match != NULL && match->number != NULL, NULL);

  for (guint i = 0; i < entries->len; i++)
    {
      const CboxXauthEntry *entry = g_ptr_array_index (entries, i);
      CboxXauthEntry *wild;
      gboolean duplicate = FALSE;

      if (!xauth_entry_matches (entry, match))
        continue;

      /* Inside, the host name is the sandbox's and the connection may look
       * like another family to the client library; a wild entry for our
       * display number matches whatever it is, and since the sandbox sees
       * only this one display it cannot match anything else. */
      wild = g_new0 (CboxXauthEntry, 1);
      wild->family = CBOX_XAUTH_FAMILY_WILD;
      wild->address = g_bytes_new (NULL, 0);
      wild->number = g_bytes_new (match->number, strlen (match->number));
      wild->name = g_bytes_ref (entry->name);
      wild->data = g_bytes_ref (entry->data);

      for (guint j = 0; j < kept->len && !duplicate; j++)
        {
          const CboxXauthEntry *other = g_ptr_array_index (kept, j);
          duplicate
              = g_bytes_equal (other->name, wild->name) && g_bytes_equal (other->data, wild->data);
        }
      if (duplicate)
        cbox_xauth_entry_free (wild);
      else
        g_ptr_array_add (kept, wild);
    }
  return g_steal_pointer (&kept);
}

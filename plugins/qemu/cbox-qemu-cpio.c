/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cbox-qemu-cpio.h"

#include <string.h>
#include <sys/stat.h>

struct _CboxCpio
{
  GByteArray *buf;
  guint32 next_ino;
};

CboxCpio *
cbox_cpio_new (void)
{
  CboxCpio *cpio = g_new0 (CboxCpio, 1);
  cpio->buf = g_byte_array_new ();
  cpio->next_ino = 1;
  return cpio;
}

void
cbox_cpio_free (CboxCpio *cpio)
{
  if (cpio == NULL)
    return;
  if (cpio->buf != NULL)
    g_byte_array_unref (cpio->buf);
  g_free (cpio);
}

static void
cbox_cpio_pad (CboxCpio *cpio)
{
  static const guint8 zeros[4] = { 0 };
  guint rest = cpio->buf->len % 4;

  if (rest != 0)
    g_byte_array_append (cpio->buf, zeros, 4 - rest);
}

static void
cbox_cpio_add_entry (CboxCpio *cpio, const char *name, guint32 mode, const void *data, gsize len)
{
  char header[111];
  gsize name_size = strlen (name) + 1;

  g_return_if_fail (cpio->buf != NULL);
  g_return_if_fail (len <= G_MAXUINT32);

  /* Reproducible: every entry is root's, dated 0; only the inode numbers
   * count up (the kernel uses them to detect hard links, and there are
   * none). */
  g_snprintf (header, sizeof header, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
              cpio->next_ino++, mode, 0u, 0u, S_ISDIR (mode) ? 2u : 1u, 0u, (guint32)len, 0u, 0u,
              0u, 0u, (guint32)name_size, 0u);
  g_byte_array_append (cpio->buf, (const guint8 *)header, 110);
  g_byte_array_append (cpio->buf, (const guint8 *)name, name_size);
  cbox_cpio_pad (cpio);
  if (len > 0)
    g_byte_array_append (cpio->buf, data, len);
  cbox_cpio_pad (cpio);
}

void
cbox_cpio_add_dir (CboxCpio *cpio, const char *name, guint32 mode)
{
  cbox_cpio_add_entry (cpio, name, S_IFDIR | (mode & 07777), NULL, 0);
}

void
cbox_cpio_add_file (CboxCpio *cpio, const char *name, guint32 mode, const void *data, gsize len)
{
  cbox_cpio_add_entry (cpio, name, S_IFREG | (mode & 07777), data, len);
}

void
cbox_cpio_add_symlink (CboxCpio *cpio, const char *name, const char *target)
{
  cbox_cpio_add_entry (cpio, name, S_IFLNK | 0777, target, strlen (target));
}

GBytes *
cbox_cpio_finish (CboxCpio *cpio)
{
  g_return_val_if_fail (cpio->buf != NULL, NULL);

  cpio->next_ino = 0;
  cbox_cpio_add_entry (cpio, "TRAILER!!!", 0, NULL, 0);
  return g_byte_array_free_to_bytes (g_steal_pointer (&cpio->buf));
}

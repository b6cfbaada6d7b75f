/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A writer of the "newc" cpio format (the one the kernel unpacks as an
 * initramfs, see Documentation/driver-api/early-userspace/buffer-format.rst):
 * a 110-byte ASCII header per entry, name and data each padded to 4 bytes,
 * and a TRAILER!!! entry at the end. The archive is built in memory. */
typedef struct _CboxCpio CboxCpio;

CboxCpio *cbox_cpio_new (void);
void cbox_cpio_free (CboxCpio *cpio);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxCpio, cbox_cpio_free)

/* @name is relative ("cbox/lib"), without a leading slash; the parents of
 * an entry must be added before it. @mode holds the permission bits only. */
void cbox_cpio_add_dir (CboxCpio *cpio, const char *name, guint32 mode);
void cbox_cpio_add_file (CboxCpio *cpio, const char *name, guint32 mode, const void *data,
                         gsize len);
void cbox_cpio_add_symlink (CboxCpio *cpio, const char *name, const char *target);
/* Appends the trailer and returns the archive (the writer is spent). */
GBytes *cbox_cpio_finish (CboxCpio *cpio);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The Xauthority file format and the filter that keeps one display's
 * entries. No libXau: the format is small, and a parser of our own can be
 * fuzzed on its own and bounds-checked the way we want. */

#include <glib.h>

G_BEGIN_DECLS

/* Address families of the X protocol (X.h, Xauth.h). */
#define CBOX_XAUTH_FAMILY_INTERNET 0
#define CBOX_XAUTH_FAMILY_INTERNET6 6
#define CBOX_XAUTH_FAMILY_LOCAL 256
#define CBOX_XAUTH_FAMILY_WILD 65535

/* A file bigger than this is refused: a real one holds a few entries of
 * some dozen bytes each. */
#define CBOX_XAUTH_MAX_FILE_SIZE (1024 * 1024)

/* One entry. Every field is counted bytes (not NUL-terminated in the
 * file); the GBytes hold exactly those bytes. */
typedef struct
{
  guint16 family;
  GBytes *address;
  GBytes *number;
  GBytes *name;
  GBytes *data;
} CboxXauthEntry;

CboxXauthEntry *cbox_xauth_entry_new (guint16 family, const void *address, gsize address_len,
                                      const char *number, const char *name, const void *data,
                                      gsize data_len);
void cbox_xauth_entry_free (CboxXauthEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxXauthEntry, cbox_xauth_entry_free)

/* Parses a whole file. A truncated or oversized file is an error naming
 * the entry and the byte offset: nothing of a damaged file is used.
 * Returns a GPtrArray of CboxXauthEntry (free function set). */
GPtrArray *cbox_xauth_parse (const guint8 *buf, gsize len, GError **error);

/* The file format of @entries. */
GBytes *cbox_xauth_serialize (GPtrArray *entries);

/* Which entries belong to the display being forwarded. */
typedef struct
{
  /* The display number as written in DISPLAY ("0", "10"). */
  const char *number;
  /* FamilyLocal entries whose address is one of these are kept: the host
   * name (and $XAUTHLOCALHOSTNAME). NULL or empty: none are. */
  const char *const *local_hostnames;
  /* FamilyInternet/Internet6 entries whose address is one of these (raw
   * 4- or 16-byte addresses) are kept: the addresses of a TCP display's
   * host. NULL or empty: none are. */
  GPtrArray *remote_addresses; /* GBytes */
} CboxXauthMatch;

/* The entries of @entries that match, rewritten as FamilyWild (empty
 * address) with @match->number as display number, so that they match
 * inside a sandbox whatever its host name; duplicates dropped, order kept.
 * Always returns an array (possibly empty). */
GPtrArray *cbox_xauth_filter (GPtrArray *entries, const CboxXauthMatch *match);

G_END_DECLS

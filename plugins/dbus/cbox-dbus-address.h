/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* D-Bus address and rule handling of the dbus plugin, shared with its unit
 * tests. */

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  CBOX_DBUS_UNIX_PATH,
  CBOX_DBUS_UNIX_ABSTRACT,
} CboxDbusAddressKind;

typedef struct
{
  CboxDbusAddressKind kind;
  char *value; /* unescaped path or abstract name */
} CboxDbusAddress;

void cbox_dbus_address_free (CboxDbusAddress *address);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxDbusAddress, cbox_dbus_address_free)

/* Every unix:path= and unix:abstract= entry of a ';'-separated D-Bus
 * address list, in order. Other transports (tcp:, unixexec:,
 * autolaunch:, unix:tmpdir= which only servers listen on) are skipped and
 * named in @ret_skipped (nullable). Fails on a malformed entry. */
GPtrArray *cbox_dbus_parse_address (const char *address, GPtrArray *ret_skipped, GError **error);

/* "unix:path=/run/user/1000/bus", with the D-Bus escaping of values. */
char *cbox_dbus_address_to_string (CboxDbusAddressKind kind, const char *value);

/* TRUE for a policy name xdg-dbus-proxy accepts: a well-known bus name,
 * optionally ending in ".*" (the name and every name below it). */
gboolean cbox_dbus_rule_name_is_valid (const char *name);
/* TRUE for "NAME=RULE" where RULE is [METHOD][@PATH], '*' as wildcard. */
gboolean cbox_dbus_call_rule_is_valid (const char *rule);

G_END_DECLS

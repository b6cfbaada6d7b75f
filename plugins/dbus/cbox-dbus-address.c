/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <cbox/cbox-plugin.h>

#include "cbox-dbus-address.h"

void
cbox_dbus_address_free (CboxDbusAddress *address)
{
  if (address == NULL)
    return;
  g_free (address->value);
  g_free (address);
}

/* The D-Bus specification's value escaping: %XX for every byte outside
 * [-0-9A-Za-z_/.*]. */
static char *
cbox_dbus_unescape (const char *value, GError **error)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (const char *p = value; *p != '\0'; p++)
    {
      if (*p == '%')
        {
          int high = g_ascii_xdigit_value (p[1]);
          int low = high >= 0 ? g_ascii_xdigit_value (p[2]) : -1;
          if (high < 0 || low < 0)
            {
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                           "bad %%-escape in D-Bus address value '%s'", value);
              return NULL;
            }
          g_string_append_c (out, (char)(high * 16 + low));
          p += 2;
        }
      else
        g_string_append_c (out, *p);
    }
  if (strlen (out->str) != out->len)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "NUL byte in D-Bus address value '%s'", value);
      return NULL;
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

char *
cbox_dbus_address_to_string (CboxDbusAddressKind kind, const char *value)
{
  GString *out = g_string_new (kind == CBOX_DBUS_UNIX_PATH ? "unix:path=" : "unix:abstract=");

  for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++)
    {
      if (g_ascii_isalnum (*p) || strchr ("-_/.*", *p) != NULL)
        g_string_append_c (out, (char)*p);
      else
        g_string_append_printf (out, "%%%02x", *p);
    }
  return g_string_free (out, FALSE);
}

GPtrArray *
cbox_dbus_parse_address (const char *address, GPtrArray *ret_skipped, GError **error)
{
  g_autoptr (GPtrArray) result
      = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_dbus_address_free);
  g_auto (GStrv) entries = NULL;

  g_return_val_if_fail (address != NULL, NULL);

  entries = g_strsplit (address, ";", -1);
  for (guint i = 0; entries[i] != NULL; i++)
    {
      const char *entry = entries[i];
      const char *colon = strchr (entry, ':');
      g_auto (GStrv) pairs = NULL;
      g_autofree char *path = NULL;
      g_autofree char *abstract = NULL;
      gboolean other_key = FALSE;

      if (entry[0] == '\0')
        continue;
      if (colon == NULL)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "D-Bus address '%s' has no transport (expected e.g. unix:path=...)", entry);
          return NULL;
        }
      if (colon - entry != 4 || strncmp (entry, "unix", 4) != 0)
        {
          if (ret_skipped != NULL)
            g_ptr_array_add (ret_skipped, g_strdup (entry));
          continue;
        }

      pairs = g_strsplit (colon + 1, ",", -1);
      for (guint j = 0; pairs[j] != NULL; j++)
        {
          const char *eq = strchr (pairs[j], '=');
          g_autofree char *key = NULL;
          char *value;

          if (pairs[j][0] == '\0')
            continue;
          if (eq == NULL)
            {
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                           "D-Bus address '%s': '%s' is not key=value", entry, pairs[j]);
              return NULL;
            }
          key = g_strndup (pairs[j], eq - pairs[j]);
          value = cbox_dbus_unescape (eq + 1, error);
          if (value == NULL)
            return NULL;
          if (g_str_equal (key, "path") && path == NULL)
            path = value;
          else if (g_str_equal (key, "abstract") && abstract == NULL)
            abstract = value;
          else
            {
              /* guid= is fine; tmpdir=, dir=, runtime= only make sense to
               * a server listening, not to a client connecting. */
              if (!g_str_equal (key, "guid"))
                other_key = TRUE;
              g_free (value);
            }
        }

      if (path != NULL && abstract == NULL && path[0] == '/')
        {
          CboxDbusAddress *item = g_new0 (CboxDbusAddress, 1);
          item->kind = CBOX_DBUS_UNIX_PATH;
          item->value = g_steal_pointer (&path);
          g_ptr_array_add (result, item);
        }
      else if (abstract != NULL && path == NULL && abstract[0] != '\0')
        {
          CboxDbusAddress *item = g_new0 (CboxDbusAddress, 1);
          item->kind = CBOX_DBUS_UNIX_ABSTRACT;
          item->value = g_steal_pointer (&abstract);
          g_ptr_array_add (result, item);
        }
      else if (path != NULL || abstract != NULL || !other_key)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "D-Bus address '%s' needs exactly one of path=/absolute/path or "
                       "abstract=NAME",
                       entry);
          return NULL;
        }
      else if (ret_skipped != NULL)
        g_ptr_array_add (ret_skipped, g_strdup (entry));
    }
  return g_steal_pointer (&result);
}

/* A well-known bus name as the D-Bus specification defines it: at most 255
 * bytes, two or more elements separated by '.', each non-empty, of
 * [A-Za-z0-9_-] and not starting with a digit. Checked here rather than with
 * GIO's g_dbus_is_name(): GIO would be loaded into every run that merely
 * has this plugin installed. */
static gboolean
cbox_dbus_well_known_name_is_valid (const char *name)
{
  g_auto (GStrv) elements = NULL;

  if (name[0] == ':' || strlen (name) > 255)
    return FALSE;
  elements = g_strsplit (name, ".", -1);
  if (g_strv_length (elements) < 2)
    return FALSE;
  for (guint i = 0; elements[i] != NULL; i++)
    {
      const char *element = elements[i];
      if (element[0] == '\0' || g_ascii_isdigit (element[0]))
        return FALSE;
      for (const char *c = element; *c != '\0'; c++)
        if (!g_ascii_isalnum (*c) && *c != '_' && *c != '-')
          return FALSE;
    }
  return TRUE;
}

gboolean
cbox_dbus_rule_name_is_valid (const char *name)
{
  g_autofree char *prefix = NULL;

  if (name == NULL || name[0] == '\0')
    return FALSE;
  if (g_str_has_suffix (name, ".*"))
    prefix = g_strndup (name, strlen (name) - 2);
  else
    prefix = g_strdup (name);
  /* A wildcard prefix may be a single element ("org.*" gives "org"),
   * which is not a bus name by itself. */
  if (g_str_has_suffix (name, ".*") && strchr (prefix, '.') == NULL)
    {
      g_autofree char *padded = g_strconcat (prefix, ".x", NULL);
      return cbox_dbus_well_known_name_is_valid (padded);
    }
  return cbox_dbus_well_known_name_is_valid (prefix);
}

gboolean
cbox_dbus_call_rule_is_valid (const char *rule)
{
  const char *eq;
  const char *at;
  g_autofree char *name = NULL;

  if (rule == NULL || (eq = strchr (rule, '=')) == NULL)
    return FALSE;
  name = g_strndup (rule, eq - rule);
  if (!cbox_dbus_rule_name_is_valid (name))
    return FALSE;
  rule = eq + 1;
  if (rule[0] == '\0')
    return FALSE;
  at = strchr (rule, '@');
  for (const char *p = rule; *p != '\0' && p != at; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '.' && *p != '*')
      return FALSE;
  if (at != NULL)
    {
      if (at[1] != '/')
        return FALSE;
      for (const char *p = at + 1; *p != '\0'; p++)
        if (!g_ascii_isalnum (*p) && *p != '_' && *p != '/' && *p != '*')
          return FALSE;
    }
  return TRUE;
}

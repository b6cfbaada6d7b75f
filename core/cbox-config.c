/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cbox-config.h"
#include "cbox-netproxy-rules.h"
#include "cbox-protect.h"
#include "cbox-private.h"
#include "cbox-registry.h"

struct _CboxConfig
{
  GKeyFile *layers[CBOX_CONFIG_N_LAYERS];
  char *profile;
  GKeyFile *merged;
  /* Every key of a plugin group, as it was read, in order: checked once
   * the plugins are known (cbox_config_check_plugin_keys()). */
  GPtrArray *plugin_keys; /* CboxConfigKeyOrigin */
};

static void
cbox_config_key_origin_free (CboxConfigKeyOrigin *origin)
{
  g_free (origin->group);
  g_free (origin->key);
  g_free (origin->value);
  g_free (origin->where);
  g_free (origin);
}

typedef enum
{
  CBOX_KEY_NAME,    /* a plugin name */
  CBOX_KEY_PROFILE, /* a profile name */
  CBOX_KEY_BOOLEAN, /* on/off */
  CBOX_KEY_NETWORK, /* on/off/host/allow/deny */
  /* Hosts of the network allowlist (cbox-netproxy-rules.c), separated by
   * ';', ',' or spaces */
  CBOX_KEY_HOST_LIST,
  CBOX_KEY_NAME_LIST, /* plugin names or aliases */
  CBOX_KEY_WORDS,     /* a command line split like a shell does, never run by one */
  CBOX_KEY_STRING,
  CBOX_KEY_PATH, /* absolute, or starting with ~ or $XDG_RUNTIME_DIR */
  CBOX_KEY_PATH_LIST,
  CBOX_KEY_BIND_LIST, /* SRC[:DEST] */
  CBOX_KEY_ENV_LIST,  /* NAME[=VALUE] */
  /* Paths relative to a writable bind (".git/hooks"), or "~/..." */
  CBOX_KEY_PROTECT_LIST,
  CBOX_KEY_PUBLISH_LIST, /* HOSTPORT[:SANDBOXPORT] */
  CBOX_KEY_SECONDS,      /* 0 to CBOX_NET_KEEP_MAX_S, decimal digits */
} CboxKeyType;

typedef struct
{
  const char *key;
  CboxKeyType type;
  gboolean files_only; /* not allowed in a profile */
} CboxCoreKey;

/* Every key of [cbox]; docs/config.md documents each one. */
static const CboxCoreKey cbox_core_keys[] = {
  { "backend", CBOX_KEY_NAME, FALSE },
  { "profile", CBOX_KEY_PROFILE, TRUE },
  { "network", CBOX_KEY_NETWORK, FALSE },
  { "publish", CBOX_KEY_PUBLISH_LIST, FALSE },
  { "network-allow", CBOX_KEY_HOST_LIST, FALSE },
  { "network-deny", CBOX_KEY_HOST_LIST, FALSE },
  { "network-keep", CBOX_KEY_SECONDS, FALSE },
  { "allow-userns", CBOX_KEY_BOOLEAN, FALSE },
  { "forward", CBOX_KEY_NAME_LIST, FALSE },
  { "forward-optional", CBOX_KEY_NAME_LIST, FALSE },
  { "no-forward", CBOX_KEY_NAME_LIST, FALSE },
  { "command", CBOX_KEY_WORDS, FALSE },
  { "shell", CBOX_KEY_WORDS, FALSE },
  { "bind", CBOX_KEY_BIND_LIST, FALSE },
  { "ro-bind", CBOX_KEY_BIND_LIST, FALSE },
  { "copy", CBOX_KEY_BIND_LIST, FALSE },
  { "mkdir", CBOX_KEY_PATH_LIST, FALSE },
  /* Not in a profile: a profile must not widen what a project may be. */
  { "allow-project", CBOX_KEY_PATH_LIST, TRUE },
  { "protect", CBOX_KEY_PROTECT_LIST, FALSE },
  { "unprotect", CBOX_KEY_PROTECT_LIST, FALSE },
  { "persist", CBOX_KEY_NAME_LIST, FALSE },
  { "persist-file", CBOX_KEY_PATH_LIST, FALSE },
  { "project-folder", CBOX_KEY_PATH_LIST, FALSE },
  { "env", CBOX_KEY_ENV_LIST, FALSE },
  { "usr", CBOX_KEY_PATH, FALSE },
  { "verbose", CBOX_KEY_BOOLEAN, FALSE },
  { "description", CBOX_KEY_STRING, FALSE },
};

CboxConfig *
cbox_config_new (void)
{
  CboxConfig *config = g_new0 (CboxConfig, 1);

  for (guint i = 0; i < CBOX_CONFIG_N_LAYERS; i++)
    config->layers[i] = g_key_file_new ();
  config->plugin_keys
      = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_config_key_origin_free);
  return config;
}

void
cbox_config_free (CboxConfig *config)
{
  if (config == NULL)
    return;
  for (guint i = 0; i < CBOX_CONFIG_N_LAYERS; i++)
    g_key_file_unref (config->layers[i]);
  g_clear_pointer (&config->merged, g_key_file_unref);
  g_clear_pointer (&config->plugin_keys, g_ptr_array_unref);
  g_free (config->profile);
  g_free (config);
}

/* Environment overrides change which files cbox trusts, so a setuid or
 * otherwise AT_SECURE process ignores them (secure_getenv). */
static const char *
cbox_config_secure_dir (const char *variable)
{
  const char *value = secure_getenv (variable);

  return value != NULL && value[0] == '/' ? value : NULL;
}

char **
cbox_config_get_search_dirs (const CboxHost *host)
{
  g_autoptr (GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  const char *data_dir = cbox_config_secure_dir ("CBOX_DATA_DIR");
  const char *sysconf_dir = cbox_config_secure_dir ("CBOX_SYSCONF_DIR");
  const char *xdg_config = cbox_config_secure_dir ("XDG_CONFIG_HOME");

  g_ptr_array_add (dirs, g_strdup (data_dir != NULL ? data_dir : CBOX_DATA_DIR));
  g_ptr_array_add (dirs, g_strdup (sysconf_dir != NULL ? sysconf_dir : CBOX_SYSCONF_DIR));
  /* On somebody's behalf (sudo), the user folder is theirs, not the
   * caller's: $XDG_CONFIG_HOME belongs to the caller then. */
  if (xdg_config != NULL && host != NULL
      && cbox_host_get_uid (host) == cbox_host_get_caller_uid (host))
    g_ptr_array_add (dirs, g_build_filename (xdg_config, "cbox", NULL));
  else if (host != NULL && cbox_host_get_home_dir (host) != NULL)
    g_ptr_array_add (dirs,
                     g_build_filename (cbox_host_get_home_dir (host), ".config", "cbox", NULL));
  else if (xdg_config != NULL)
    g_ptr_array_add (dirs, g_build_filename (xdg_config, "cbox", NULL));
  g_ptr_array_add (dirs, NULL);
  return (char **)g_ptr_array_free (g_steal_pointer (&dirs), FALSE);
}

gboolean
cbox_config_parse_boolean (const char *value, gboolean *ret_value)
{
  static const char *const true_words[] = { "on", "true", "yes", "1" };
  static const char *const false_words[] = { "off", "false", "no", "0" };

  if (value == NULL)
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (true_words); i++)
    {
      if (g_ascii_strcasecmp (value, true_words[i]) == 0)
        {
          *ret_value = TRUE;
          return TRUE;
        }
      if (g_ascii_strcasecmp (value, false_words[i]) == 0)
        {
          *ret_value = FALSE;
          return TRUE;
        }
    }
  return FALSE;
}

gboolean
cbox_config_name_is_valid (const char *name)
{
  if (name == NULL || name[0] == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '_' || *p == '-'))
      return FALSE;
  return TRUE;
}

gboolean
cbox_config_profile_name_is_valid (const char *name)
{
  /* The name becomes part of a path: no '/', no leading '.'. */
  if (name == NULL || name[0] == '\0' || name[0] == '.')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!(g_ascii_isalnum (*p) || *p == '_' || *p == '-' || *p == '.'))
      return FALSE;
  return TRUE;
}

gboolean
cbox_config_split_bind (const char *spec, char **ret_src, char **ret_dest, GError **error)
{
  g_autoptr (GString) src = g_string_new (NULL);
  g_autoptr (GString) dest = NULL;
  GString *current = src;

  for (const char *p = spec; *p != '\0'; p++)
    {
      if (*p == '\\' && (p[1] == ':' || p[1] == '\\'))
        {
          g_string_append_c (current, p[1]);
          p++;
        }
      else if (*p == ':' && dest == NULL)
        {
          dest = g_string_new (NULL);
          current = dest;
        }
      else
        g_string_append_c (current, *p);
    }
  if (src->len == 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "'%s' has no source path: write SRC or SRC:DEST", spec);
      return FALSE;
    }
  if (dest != NULL && dest->len == 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "'%s' has an empty destination after ':' (write a colon inside a path as "
                   "'\\:')",
                   spec);
      return FALSE;
    }
  *ret_src = g_string_free (g_steal_pointer (&src), FALSE);
  *ret_dest = dest != NULL ? g_string_free (g_steal_pointer (&dest), FALSE) : NULL;
  return TRUE;
}

guint
cbox_config_find_line (const char *contents, const char *group, const char *key)
{
  g_auto (GStrv) lines = g_strsplit (contents, "\n", -1);
  g_autofree char *current_group = NULL;
  guint found = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      const char *eq;

      while (*line == ' ' || *line == '\t')
        line++;
      if (*line == '#' || *line == '\0')
        continue;
      if (*line == '[')
        {
          const char *end = strchr (line, ']');
          g_free (current_group);
          current_group = end != NULL ? g_strndup (line + 1, (gsize)(end - line - 1)) : NULL;
          continue;
        }
      eq = strchr (line, '=');
      if (eq == NULL || g_strcmp0 (current_group, group) != 0)
        continue;
      {
        g_autofree char *name = g_strndup (line, (gsize)(eq - line));
        g_strchomp (name);
        if (key == NULL || g_str_equal (name, key))
          found = i + 1;
      }
    }
  return found;
}

/* The 1-based line of the last [@group] header; 0 when not found. */
static guint
cbox_config_find_group_line (const char *contents, const char *group)
{
  g_auto (GStrv) lines = g_strsplit (contents, "\n", -1);
  guint found = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      const char *end;

      while (*line == ' ' || *line == '\t')
        line++;
      end = *line == '[' ? strchr (line, ']') : NULL;
      if (end != NULL && (gsize)(end - line - 1) == strlen (group)
          && strncmp (line + 1, group, strlen (group)) == 0)
        found = i + 1;
    }
  return found;
}

/* GKeyFile says a line is bad but not which: find the first line that is
 * neither blank, a comment, a group header nor a key=value pair. */
static guint
cbox_config_find_bad_line (const char *contents)
{
  g_auto (GStrv) lines = g_strsplit (contents, "\n", -1);
  gboolean seen_group = FALSE;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];

      while (*line == ' ' || *line == '\t')
        line++;
      if (*line == '#' || *line == '\0' || (*line == '\r' && line[1] == '\0'))
        continue;
      if (*line == '[')
        {
          if (strchr (line, ']') == NULL)
            return i + 1;
          seen_group = TRUE;
          continue;
        }
      if (!seen_group || strchr (line, '=') == NULL || *line == '=')
        return i + 1;
      if (!g_utf8_validate (line, -1, NULL))
        return i + 1;
    }
  return 0;
}

static const CboxCoreKey *
cbox_config_lookup_core_key (const char *key)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_core_keys); i++)
    if (g_str_equal (cbox_core_keys[i].key, key))
      return &cbox_core_keys[i];
  return NULL;
}

static gboolean
cbox_config_check_path (const char *path, GError **error)
{
  if (path[0] == '/' || path[0] == '~' || g_str_has_prefix (path, "$XDG_RUNTIME_DIR/"))
    return TRUE;
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
               "'%s' is not an absolute path (start it with '/', '~/' or '$XDG_RUNTIME_DIR/')",
               path);
  return FALSE;
}

/* Checks one [cbox] key of @key_file; the message says what is wrong with
 * the value, the caller adds where it is. */
static gboolean
cbox_config_check_core_key (GKeyFile *key_file, const char *key, CboxConfigLayer layer,
                            GError **error)
{
  const CboxCoreKey *core_key = cbox_config_lookup_core_key (key);
  g_autoptr (GError) local_error = NULL;
  g_autofree char *value = NULL;
  g_auto (GStrv) list = NULL;

  if (core_key == NULL)
    {
      g_autoptr (GString) known = g_string_new (NULL);
      const char *names[G_N_ELEMENTS (cbox_core_keys) + 1];
      const char *nearest;

      for (gsize i = 0; i < G_N_ELEMENTS (cbox_core_keys); i++)
        {
          g_string_append_printf (known, "%s%s", i > 0 ? ", " : "", cbox_core_keys[i].key);
          names[i] = cbox_core_keys[i].key;
        }
      names[G_N_ELEMENTS (cbox_core_keys)] = NULL;
      nearest = cbox_config_nearest (key, names);
      if (nearest != NULL)
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                     "unknown key; did you mean '%s'? (known keys: %s)", nearest, known->str);
      else
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG, "unknown key (known keys: %s)",
                     known->str);
      return FALSE;
    }
  if (core_key->files_only && layer == CBOX_CONFIG_LAYER_PROFILE)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "not allowed in a profile (a profile cannot name another profile)");
      return FALSE;
    }

  switch (core_key->type)
    {
    case CBOX_KEY_NAME_LIST:
    case CBOX_KEY_PATH_LIST:
    case CBOX_KEY_BIND_LIST:
    case CBOX_KEY_ENV_LIST:
    case CBOX_KEY_PROTECT_LIST:
    case CBOX_KEY_PUBLISH_LIST:
      list = g_key_file_get_string_list (key_file, "cbox", key, NULL, &local_error);
      break;
    default:
      value = g_key_file_get_string (key_file, "cbox", key, &local_error);
      break;
    }
  if (local_error != NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "the value cannot be read (not UTF-8, or a bad escape: write a backslash as "
                   "'\\\\')");
      return FALSE;
    }

  switch (core_key->type)
    {
    case CBOX_KEY_NAME:
      if (!cbox_config_name_is_valid (value))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "'%s' is not a plugin name (lower-case letters, digits, '-', '_')", value);
          return FALSE;
        }
      return TRUE;
    case CBOX_KEY_PROFILE:
      if (value[0] != '\0' && !cbox_config_profile_name_is_valid (value))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "'%s' is not a profile name (letters, digits, '-', '_', '.')", value);
          return FALSE;
        }
      return TRUE;
    case CBOX_KEY_BOOLEAN:
      {
        gboolean unused;
        if (!cbox_config_parse_boolean (value, &unused))
          {
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                         "'%s' is not a boolean (use on or off)", value);
            return FALSE;
          }
        return TRUE;
      }
    case CBOX_KEY_NETWORK:
      {
        CboxNetworkMode unused;
        if (!cbox_network_mode_from_string (value, &unused))
          {
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                         "'%s' is not a network mode (use on, off, host, allow or deny)", value);
            return FALSE;
          }
        return TRUE;
      }
    case CBOX_KEY_HOST_LIST:
      {
        g_autoptr (GError) rule_error = NULL;
        g_auto (GStrv) rules = cbox_net_rules_split (value, &rule_error);

        if (rules == NULL)
          {
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                         "%s (a rule is a host name, '*.domain', an address, each with an "
                         "optional ':port')",
                         rule_error->message);
            return FALSE;
          }
        return TRUE;
      }
    case CBOX_KEY_NAME_LIST:
      for (guint i = 0; list[i] != NULL; i++)
        if (!g_str_equal (list[i], "none") && !cbox_config_name_is_valid (list[i]))
          {
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                         "'%s' is not a plugin name or alias (lower-case letters, digits, '-', "
                         "'_'; separate names with ';')",
                         list[i]);
            return FALSE;
          }
      return TRUE;
    case CBOX_KEY_WORDS:
      {
        g_auto (GStrv) argv = NULL;
        if (!g_shell_parse_argv (value, NULL, &argv, &local_error))
          {
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG, "'%s' is not a command line: %s",
                         value, local_error->message);
            return FALSE;
          }
        return TRUE;
      }
    case CBOX_KEY_STRING:
      return TRUE;
    case CBOX_KEY_PATH:
      return cbox_config_check_path (value, error);
    case CBOX_KEY_PATH_LIST:
      for (guint i = 0; list[i] != NULL; i++)
        if (!cbox_config_check_path (list[i], error))
          return FALSE;
      return TRUE;
    case CBOX_KEY_BIND_LIST:
      for (guint i = 0; list[i] != NULL; i++)
        {
          g_autofree char *src = NULL;
          g_autofree char *dest = NULL;
          if (!cbox_config_split_bind (list[i], &src, &dest, error)
              || !cbox_config_check_path (src, error)
              || (dest != NULL && !cbox_config_check_path (dest, error)))
            {
              if (error != NULL && *error != NULL)
                (*error)->code = CBOX_ERROR_CONFIG;
              return FALSE;
            }
        }
      return TRUE;
    case CBOX_KEY_ENV_LIST:
      for (guint i = 0; list[i] != NULL; i++)
        {
          const char *eq = strchr (list[i], '=');
          g_autofree char *name
              = eq != NULL ? g_strndup (list[i], (gsize)(eq - list[i])) : g_strdup (list[i]);
          if (name[0] == '\0')
            {
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                           "'%s' has no variable name: write NAME or NAME=VALUE", list[i]);
              return FALSE;
            }
        }
      return TRUE;
    case CBOX_KEY_PROTECT_LIST:
      for (guint i = 0; list[i] != NULL; i++)
        if (!cbox_protect_entry_is_valid (list[i]))
          {
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                         "'%s' is not a protected path: give a path relative to the project "
                         "(.git/hooks) or one under the home (~/.bashrc), without '.' or '..'",
                         list[i]);
            return FALSE;
          }
      return TRUE;
    case CBOX_KEY_SECONDS:
      if (cbox_config_parse_seconds (value) < 0)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "'%s' is not a number of seconds (0 to %d, digits only)", value,
                       CBOX_NET_KEEP_MAX_S);
          return FALSE;
        }
      return TRUE;
    case CBOX_KEY_PUBLISH_LIST:
      for (guint i = 0; list[i] != NULL; i++)
        {
          guint16 host_port, sandbox_port;
          if (!cbox_net_parse_publish (list[i], &host_port, &sandbox_port, error))
            {
              if (error != NULL && *error != NULL)
                (*error)->code = CBOX_ERROR_CONFIG;
              return FALSE;
            }
        }
      return TRUE;
    default:
      g_assert_not_reached ();
    }
}

int
cbox_config_parse_seconds (const char *value)
{
  guint64 seconds;

  if (value == NULL || value[0] == '\0' || strspn (value, "0123456789") != strlen (value)
      || strlen (value) > 6)
    return -1;
  seconds = g_ascii_strtoull (value, NULL, 10);
  return seconds <= CBOX_NET_KEEP_MAX_S ? (int)seconds : -1;
}

static void
cbox_config_overlay (GKeyFile *dest, GKeyFile *src)
{
  g_auto (GStrv) groups = g_key_file_get_groups (src, NULL);

  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_auto (GStrv) keys = g_key_file_get_keys (src, groups[i], NULL, NULL);
      for (guint j = 0; keys != NULL && keys[j] != NULL; j++)
        {
          g_autofree char *value = g_key_file_get_value (src, groups[i], keys[j], NULL);
          if (value != NULL)
            g_key_file_set_value (dest, groups[i], keys[j], value);
        }
    }
}

/* Far more than any configuration file needs; a bound so a huge file given
 * by mistake is an error, not a memory hog. */
#define CBOX_CONFIG_MAX_SIZE (1024 * 1024)

/* Security: GKeyFile reads a file as a C string, so a NUL byte silently
 * ends it (a `network=off` after one would be dropped and the sandbox get
 * the network), and bytes that are not UTF-8 or a byte order mark give
 * messages that show nothing a user can see. A configuration file is
 * UTF-8 text: anything else is refused here, before GKeyFile sees it, with
 * the line, the column and the byte written out. */
gboolean
cbox_config_check_text (const char *path, const char *data, gsize len, GError **error)
{
  const char *bad = NULL;
  const char *line_start = data;
  guint line = 1;

  if (len >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "%s:1: the file starts with a byte order mark (bytes EF BB BF, U+FEFF); save "
                   "it as UTF-8 without a BOM",
                   path);
      return FALSE;
    }
  if (len == 0 || g_utf8_validate_len (data, len, &bad))
    return TRUE;

  for (const char *p = data; p < bad; p++)
    if (*p == '\n')
      {
        line++;
        line_start = p + 1;
      }
  if (*bad == '\0')
    g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                 "%s:%u: a NUL byte (0x00) at column %u; a configuration file is text: remove it",
                 path, line, (guint)(bad - line_start) + 1);
  else
    {
      g_autoptr (GString) bytes = g_string_new (NULL);
      const char *end = data + len;

      /* The byte and what follows it on the line, at most 4, so the
       * sequence can be recognised (a Latin-1 "é" is E9). */
      for (const char *p = bad; p < end && p < bad + 4 && *p != '\n'; p++)
        g_string_append_printf (bytes, "%s%02X", p > bad ? " " : "", (guint)(guchar)*p);
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "%s:%u: byte 0x%02X at column %u is not UTF-8 (bytes %s); save the file as "
                   "UTF-8",
                   path, line, (guint)(guchar)*bad, (guint)(bad - line_start) + 1, bytes->str);
    }
  return FALSE;
}

static void
cbox_config_record_plugin_keys (CboxConfig *config, GKeyFile *key_file, const char *contents,
                                const char *path, CboxConfigLayer layer)
{
  g_auto (GStrv) groups = g_key_file_get_groups (key_file, NULL);

  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_auto (GStrv) keys = NULL;

      if (g_str_equal (groups[i], "cbox"))
        continue;
      keys = g_key_file_get_keys (key_file, groups[i], NULL, NULL);
      /* A group with no keys still names a plugin: a typo there counts. */
      if (keys == NULL || keys[0] == NULL)
        {
          CboxConfigKeyOrigin *origin = g_new0 (CboxConfigKeyOrigin, 1);
          origin->group = g_strdup (groups[i]);
          origin->where
              = g_strdup_printf ("%s:%u", path, cbox_config_find_group_line (contents, groups[i]));
          origin->layer = layer;
          g_ptr_array_add (config->plugin_keys, origin);
        }
      for (guint j = 0; keys != NULL && keys[j] != NULL; j++)
        {
          CboxConfigKeyOrigin *origin = g_new0 (CboxConfigKeyOrigin, 1);
          origin->group = g_strdup (groups[i]);
          origin->key = g_strdup (keys[j]);
          origin->value = g_key_file_get_value (key_file, groups[i], keys[j], NULL);
          origin->where = g_strdup_printf ("%s:%u", path,
                                           cbox_config_find_line (contents, groups[i], keys[j]));
          origin->layer = layer;
          g_ptr_array_add (config->plugin_keys, origin);
        }
    }
}

gboolean
cbox_config_load_data (CboxConfig *config, CboxConfigLayer layer, const char *path,
                       const char *data, gsize len, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GKeyFile) key_file = g_key_file_new ();
  g_autofree char *contents = NULL;
  g_auto (GStrv) keys = NULL;

  g_return_val_if_fail (config != NULL && path != NULL && (data != NULL || len == 0), FALSE);
  g_return_val_if_fail (layer < CBOX_CONFIG_N_LAYERS, FALSE);

  if (!cbox_config_check_text (path, data, len, error))
    return FALSE;
  contents = g_strndup (len > 0 ? data : "", len);
  /* KEEP_TRANSLATIONS: a translated key ("network[de]=off") is kept, so
   * that it is refused below instead of dropped unseen. */
  if (!g_key_file_load_from_data (key_file, contents, len, G_KEY_FILE_KEEP_TRANSLATIONS,
                                  &local_error))
    {
      guint line = cbox_config_find_bad_line (contents);
      if (line > 0)
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                     "%s:%u: not a [group] header, a key=value line or a #comment (%s)", path, line,
                     local_error->message);
      else
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG, "%s: %s", path, local_error->message);
      return FALSE;
    }

  /* Security: GKeyFile reads "network[de]=off" as the German translation
   * of network, which cbox never reads (it reads the plain key whatever
   * the locale): loaded without KEEP_TRANSLATIONS it was dropped without
   * a word, a typo that changed the sandbox. A key is one name here. */
  {
    g_auto (GStrv) groups = g_key_file_get_groups (key_file, NULL);
    for (guint i = 0; groups[i] != NULL; i++)
      {
        g_auto (GStrv) group_keys = g_key_file_get_keys (key_file, groups[i], NULL, NULL);
        for (guint j = 0; group_keys != NULL && group_keys[j] != NULL; j++)
          if (strchr (group_keys[j], '[') != NULL)
            {
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                           "%s:%u: key '%s' in [%s]: a translated key (KEY[LOCALE]), which cbox "
                           "never reads; write the key without brackets",
                           path, cbox_config_find_line (contents, groups[i], group_keys[j]),
                           group_keys[j], groups[i]);
              return FALSE;
            }
      }
  }

  keys = g_key_file_get_keys (key_file, "cbox", NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      if (!cbox_config_check_core_key (key_file, keys[i], layer, &local_error))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG, "%s:%u: key '%s' in [cbox]: %s", path,
                       cbox_config_find_line (contents, "cbox", keys[i]), keys[i],
                       local_error->message);
          return FALSE;
        }
    }

  cbox_config_record_plugin_keys (config, key_file, contents, path, layer);
  cbox_config_overlay (config->layers[layer], key_file);
  g_clear_pointer (&config->merged, g_key_file_unref);
  return TRUE;
}

gboolean
cbox_config_load_file (CboxConfig *config, CboxConfigLayer layer, const char *path,
                       gboolean allow_missing, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (CboxHost) root = cbox_host_new ();
  g_autoptr (GBytes) bytes = NULL;

  g_return_val_if_fail (config != NULL && path != NULL, FALSE);
  g_return_val_if_fail (layer < CBOX_CONFIG_N_LAYERS, FALSE);

  /* Read through cbox_host_read_file(): a fifo or a device given as
   * --config must be refused at once, not read forever. */
  bytes = cbox_host_read_file (root, path, CBOX_CONFIG_MAX_SIZE, &local_error);
  if (bytes == NULL)
    {
      if (allow_missing && g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "Cannot read configuration file: %s (give a regular file)",
                   local_error->message);
      return FALSE;
    }
  return cbox_config_load_data (config, layer, path, g_bytes_get_data (bytes, NULL),
                                g_bytes_get_size (bytes), error);
}

gboolean
cbox_config_load_files (CboxConfig *config, const char *const *dirs, const char *extra_file,
                        GError **error)
{
  for (guint i = 0; dirs != NULL && dirs[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (dirs[i], "cbox.conf", NULL);
      if (!cbox_config_load_file (config, CBOX_CONFIG_LAYER_FILES, path, TRUE, error))
        return FALSE;
    }
  if (extra_file != NULL
      && !cbox_config_load_file (config, CBOX_CONFIG_LAYER_FILES, extra_file, FALSE, error))
    return FALSE;
  return TRUE;
}

gboolean
cbox_config_load_profile (CboxConfig *config, const char *const *dirs, const char *name,
                          GError **error)
{
  g_autoptr (GString) searched = g_string_new (NULL);
  gboolean found = FALSE;

  if (!cbox_config_profile_name_is_valid (name))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "'%s' is not a profile name (letters, digits, '-', '_', '.')", name);
      return FALSE;
    }
  for (guint i = 0; dirs != NULL && dirs[i] != NULL; i++)
    {
      g_autofree char *file = g_strconcat (name, ".conf", NULL);
      g_autofree char *path = g_build_filename (dirs[i], "profiles", file, NULL);

      g_string_append_printf (searched, "%s%s", searched->len > 0 ? ", " : "", path);
      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        continue;
      if (!cbox_config_load_file (config, CBOX_CONFIG_LAYER_PROFILE, path, FALSE, error))
        return FALSE;
      found = TRUE;
    }
  if (!found)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "No profile '%s' (looked for %s; 'cbox help profiles' lists them)", name,
                   searched->str);
      return FALSE;
    }
  g_free (config->profile);
  config->profile = g_strdup (name);
  return TRUE;
}

gboolean
cbox_config_set (CboxConfig *config, const char *group, const char *key, const char *value,
                 GError **error)
{
  g_autoptr (GKeyFile) key_file = g_key_file_new ();
  g_autoptr (GError) local_error = NULL;

  g_return_val_if_fail (config != NULL && group != NULL && key != NULL && value != NULL, FALSE);

  if (!cbox_config_name_is_valid (group) || key[0] == '\0' || strpbrk (key, "=[]\n") != NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "'%s.%s' is not GROUP.KEY (a plugin name, a dot, a key)", group, key);
      return FALSE;
    }
  if (!g_utf8_validate (value, -1, NULL))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "The value of %s.%s is not UTF-8", group, key);
      return FALSE;
    }
  g_key_file_set_string (key_file, group, key, value);
  if (g_str_equal (group, "cbox")
      && !cbox_config_check_core_key (key_file, key, CBOX_CONFIG_LAYER_CLI, &local_error))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT, "cbox.%s: %s", key,
                   local_error->message);
      return FALSE;
    }
  if (!g_str_equal (group, "cbox"))
    {
      CboxConfigKeyOrigin *origin = g_new0 (CboxConfigKeyOrigin, 1);
      origin->group = g_strdup (group);
      origin->key = g_strdup (key);
      origin->value = g_key_file_get_value (key_file, group, key, NULL);
      origin->where = g_strdup_printf ("--set=%s.%s", group, key);
      origin->layer = CBOX_CONFIG_LAYER_CLI;
      g_ptr_array_add (config->plugin_keys, origin);
    }
  cbox_config_overlay (config->layers[CBOX_CONFIG_LAYER_CLI], key_file);
  g_clear_pointer (&config->merged, g_key_file_unref);
  return TRUE;
}

const GPtrArray *
cbox_config_get_plugin_keys (CboxConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);
  return config->plugin_keys;
}

guint
cbox_config_distance (const char *a, const char *b)
{
  /* Optimal string alignment: insertions, deletions, substitutions and
   * swaps of two neighbours ("gti" is one edit from "git") each count 1. */
  gsize la = strlen (a), lb = strlen (b);
  g_autofree guint *d = g_new (guint, (la + 1) * (lb + 1));
#define D(i, j) d[(i) * (lb + 1) + (j)]

  for (gsize i = 0; i <= la; i++)
    D (i, 0) = (guint)i;
  for (gsize j = 0; j <= lb; j++)
    D (0, j) = (guint)j;
  for (gsize i = 1; i <= la; i++)
    for (gsize j = 1; j <= lb; j++)
      {
        guint cost = a[i - 1] == b[j - 1] ? 0 : 1;
        guint best = MIN (MIN (D (i - 1, j) + 1, D (i, j - 1) + 1), D (i - 1, j - 1) + cost);
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
          best = MIN (best, D (i - 2, j - 2) + 1);
        D (i, j) = best;
      }
  return D (la, lb);
#undef D
}

const char *
cbox_config_nearest (const char *word, const char *const *candidates)
{
  const char *best = NULL;
  /* At most two edits, and fewer than half the word's letters: "kyes"
   * finds "keys", "gti" finds "git", "x" finds nothing. */
  guint best_distance = MIN (3, ((guint)strlen (word) + 1) / 2);

  for (guint i = 0; candidates != NULL && candidates[i] != NULL; i++)
    {
      guint distance = cbox_config_distance (word, candidates[i]);
      if (distance < best_distance)
        {
          best_distance = distance;
          best = candidates[i];
        }
    }
  return best;
}

GKeyFile *
cbox_config_get_layer (CboxConfig *config, CboxConfigLayer layer)
{
  g_return_val_if_fail (config != NULL && layer < CBOX_CONFIG_N_LAYERS, NULL);
  return config->layers[layer];
}

const char *
cbox_config_get_profile (CboxConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);
  return config->profile;
}

GKeyFile *
cbox_config_get_merged (CboxConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);
  if (config->merged == NULL)
    {
      config->merged = g_key_file_new ();
      for (guint i = 0; i < CBOX_CONFIG_N_LAYERS; i++)
        cbox_config_overlay (config->merged, config->layers[i]);
    }
  return config->merged;
}

char *
cbox_config_get_core_string (CboxConfig *config, const char *key)
{
  g_return_val_if_fail (config != NULL && key != NULL, NULL);
  for (int i = CBOX_CONFIG_N_LAYERS - 1; i >= 0; i--)
    {
      char *value = g_key_file_get_string (config->layers[i], "cbox", key, NULL);
      if (value != NULL)
        return value;
    }
  return NULL;
}

/* Reads @value as @key's type, as the plugin will (GKeyFile's readers,
 * which cbox_context_get_*() use): what passes here, the plugin can read. */
static gboolean
cbox_config_check_plugin_value (const CboxPluginKey *key, const char *value, GError **error)
{
  g_autoptr (GKeyFile) key_file = g_key_file_new ();
  g_autoptr (GError) local_error = NULL;
  g_autofree char *text = NULL;
  g_auto (GStrv) list = NULL;

  g_key_file_set_value (key_file, "g", "k", value);
  switch (key->type)
    {
    case CBOX_PLUGIN_KEY_BOOLEAN:
      g_key_file_get_boolean (key_file, "g", "k", &local_error);
      if (local_error != NULL)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "'%s' is not a boolean (write true or false)", value);
          return FALSE;
        }
      return TRUE;
    case CBOX_PLUGIN_KEY_STRING_LIST:
      list = g_key_file_get_string_list (key_file, "g", "k", NULL, &local_error);
      break;
    default:
      text = g_key_file_get_string (key_file, "g", "k", &local_error);
      break;
    }
  if (local_error != NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "the value cannot be read (a bad escape: write a backslash as '\\\\')");
      return FALSE;
    }
  if (key->type == CBOX_PLUGIN_KEY_CHOICE)
    {
      g_autofree char *choices = g_strjoinv (", ", (char **)key->choices);
      g_strstrip (text);
      if (!g_strv_contains (key->choices, text))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG, "'%s' is not one of %s", text,
                       choices);
          return FALSE;
        }
    }
  if (key->type == CBOX_PLUGIN_KEY_INTEGER)
    {
      gint64 number;
      g_strstrip (text);
      if (!g_ascii_string_to_signed (text, 10, key->min, key->max, &number, NULL))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "'%s' is not a whole number from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT,
                       text, key->min, key->max);
          return FALSE;
        }
    }
  return TRUE;
}

/* Why a group of the configuration is not one plugin's: NULL when it is
 * (*ret_desc set, or NULL when its keys cannot be checked). */
static char *
cbox_config_check_group (CboxRegistry *registry, const char *group, const CboxPluginDesc **ret_desc)
{
  CboxPluginInfo *info = cbox_registry_lookup (registry, group);
  g_autoptr (GPtrArray) owners = NULL;

  *ret_desc = NULL;
  if (info != NULL)
    {
      /* A plugin the descriptor cache described is opened now (the keys
       * are not cached): only a plugin whose group the configuration
       * has, usually one the run uses anyway. A plugin that turns out
       * broken is the planner's to report, if the run needs it. */
      const CboxPluginDesc *desc = cbox_plugin_info_get_desc (info);
      if (desc != NULL && desc->abi_minor >= 4)
        *ret_desc = desc;
      return NULL;
    }
  owners = cbox_registry_resolve (registry, group, 0);
  if (owners->len > 0)
    return g_strdup_printf ("[%s] is an alias; a plugin reads the group of its own name ([%s])",
                            group, cbox_plugin_info_get_name (g_ptr_array_index (owners, 0)));
  /* A rejected plugin's group, or one of a plugin shipped with cbox that
   * this build or machine lacks (a profile may set it): nothing reads it
   * here, and nothing can check it. */
  if (cbox_registry_name_is_known (registry, group))
    return NULL;
  {
    g_auto (GStrv) known = cbox_registry_get_known_names (registry, 0);
    g_autoptr (GStrvBuilder) names = g_strv_builder_new ();
    g_auto (GStrv) plugin_names = NULL;
    const char *nearest;

    for (guint i = 0; known[i] != NULL; i++)
      if (cbox_registry_lookup (registry, known[i]) != NULL)
        g_strv_builder_add (names, known[i]);
    plugin_names = g_strv_builder_end (names);
    nearest = cbox_config_nearest (group, (const char *const *)plugin_names);
    if (nearest != NULL)
      return g_strdup_printf ("unknown group [%s]: no plugin of that name; did you mean [%s]?",
                              group, nearest);
    return g_strdup_printf ("unknown group [%s]: no plugin of that name ('cbox plugins' lists "
                            "them; [cbox] is cbox's own)",
                            group);
  }
}

gboolean
cbox_config_check_plugin_keys (const GPtrArray *origins, CboxRegistry *registry, GError **error)
{
  g_return_val_if_fail (origins != NULL && registry != NULL, FALSE);

  for (guint i = 0; i < origins->len; i++)
    {
      const CboxConfigKeyOrigin *origin = g_ptr_array_index (origins, i);
      const CboxPluginDesc *desc = NULL;
      const CboxPluginKey *key = NULL;
      g_autofree char *why = cbox_config_check_group (registry, origin->group, &desc);
      g_autoptr (GError) local_error = NULL;

      if (why != NULL)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG, "%s: %s", origin->where, why);
          return FALSE;
        }
      if (desc == NULL || origin->key == NULL)
        continue;
      for (guint k = 0; desc->keys != NULL && desc->keys[k].name != NULL; k++)
        if (g_str_equal (desc->keys[k].name, origin->key))
          key = &desc->keys[k];
      if (key == NULL)
        {
          g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
          g_auto (GStrv) names = NULL;
          g_autofree char *list = NULL;
          const char *nearest;

          for (guint k = 0; desc->keys != NULL && desc->keys[k].name != NULL; k++)
            g_strv_builder_add (builder, desc->keys[k].name);
          names = g_strv_builder_end (builder);
          nearest = cbox_config_nearest (origin->key, (const char *const *)names);
          list = g_strjoinv (", ", names);
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "%s: key '%s' in [%s]: unknown key; %s%s%s(known keys of %s: %s; 'cbox help "
                       "%s' describes them)",
                       origin->where, origin->key, origin->group,
                       nearest != NULL ? "did you mean '" : "", nearest != NULL ? nearest : "",
                       nearest != NULL ? "'? " : "", desc->name, names[0] != NULL ? list : "none",
                       desc->name);
          return FALSE;
        }
      if (!cbox_config_check_plugin_value (key, origin->value, &local_error))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG, "%s: key '%s' in [%s]: %s",
                       origin->where, origin->key, origin->group, local_error->message);
          return FALSE;
        }
    }
  return TRUE;
}

/* What a value of @key looks like, for help (@markdown FALSE) and for
 * docs/config.md (TRUE: names in backticks). */
static char *
cbox_config_describe_key_value (const CboxPluginKey *key, gboolean markdown)
{
  const char *quote = markdown ? "`" : "";

  switch (key->type)
    {
    case CBOX_PLUGIN_KEY_BOOLEAN:
      return g_strdup_printf ("%strue%s or %sfalse%s", quote, quote, quote, quote);
    case CBOX_PLUGIN_KEY_STRING_LIST:
      return g_strdup_printf ("list (%s;%s-separated)", quote, quote);
    case CBOX_PLUGIN_KEY_INTEGER:
      return g_strdup_printf ("whole number, %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT, key->min,
                              key->max);
    case CBOX_PLUGIN_KEY_CHOICE:
      {
        g_autoptr (GString) out = g_string_new (NULL);
        for (guint i = 0; key->choices[i] != NULL; i++)
          g_string_append_printf (out, "%s%s%s%s", i > 0 ? ", " : "", quote, key->choices[i],
                                  quote);
        return g_string_free (g_steal_pointer (&out), FALSE);
      }
    default:
      return g_strdup ("text");
    }
}

char *
cbox_config_format_plugin_keys (const CboxPluginDesc *desc, gboolean markdown)
{
  g_autoptr (GString) out = g_string_new (NULL);

  g_return_val_if_fail (desc != NULL, NULL);

  if (markdown)
    g_string_append_printf (out,
                            "### `[%s]`\n\n"
                            "| key | value | default | meaning |\n"
                            "|---|---|---|---|\n",
                            desc->name);
  for (guint i = 0; desc->keys != NULL && desc->keys[i].name != NULL; i++)
    {
      const CboxPluginKey *key = &desc->keys[i];
      g_autofree char *value = cbox_config_describe_key_value (key, markdown);

      if (markdown)
        g_string_append_printf (out, "| `%s` | %s | %s%s%s | %s |\n", key->name, value,
                                key->default_value != NULL ? "`" : "",
                                key->default_value != NULL ? key->default_value : "none",
                                key->default_value != NULL ? "`" : "", key->description);
      else
        g_string_append_printf (out, "  %-24s %s\n  %-24s %s; default: %s\n", key->name,
                                key->description, "", value,
                                key->default_value != NULL ? key->default_value : "none");
    }
  if (desc->keys == NULL || desc->keys[0].name == NULL)
    g_string_append (out, markdown ? "No keys.\n" : "  (no keys)\n");
  return g_string_free (g_steal_pointer (&out), FALSE);
}

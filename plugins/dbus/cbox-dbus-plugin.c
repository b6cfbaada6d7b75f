/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forwarder "dbus": the session bus (and, when asked, the system bus),
 * filtered by xdg-dbus-proxy by default.
 *
 * mode=filtered (default): xdg-dbus-proxy runs on the host as a plan
 * helper, listening on a socket in a private per-run directory (0700) that
 * is bound at $XDG_RUNTIME_DIR/bus inside. It forwards only what the rules
 * allow (talk, own, see, call, broadcast, from [dbus] keys and from named
 * rule sets). It watches the sync fd the core keeps open for the sandbox's
 * lifetime (--fd), so it ends with the sandbox, also when cbox is killed
 * with SIGKILL. mode=full binds the bus socket itself. mode=none leaves the
 * session bus out. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <cbox/cbox-plugin.h>

#include "cbox-dbus-address.h"
#include "cbox-dbus-plugin.h"

#define DBUS_SYSTEM_SOCKET "/run/dbus/system_bus_socket"
#define DBUS_RUN_DIR_PREFIX "cbox-dbus-"
/* A rule set is a few dozen lines; anything larger is not one. */
#define DBUS_RULE_SET_MAX_SIZE (1024 * 1024)

static const char *const dbus_policy_keys[] = { "talk", "own", "see", "call", "broadcast", NULL };

/* ---- configuration ------------------------------------------------------ */

static void
cbox_dbus_rules_clear (CboxDbusRules *rules)
{
  for (guint i = 0; i < CBOX_DBUS_N_POLICIES; i++)
    g_clear_pointer (&rules->lists[i], g_ptr_array_unref);
}

static void
cbox_dbus_rules_init (CboxDbusRules *rules)
{
  for (guint i = 0; i < CBOX_DBUS_N_POLICIES; i++)
    rules->lists[i] = g_ptr_array_new_with_free_func (g_free);
}

static gboolean
cbox_dbus_rules_is_empty (const CboxDbusRules *rules)
{
  for (guint i = 0; i < CBOX_DBUS_N_POLICIES; i++)
    if (rules->lists[i]->len > 0)
      return FALSE;
  return TRUE;
}

void
cbox_dbus_state_free (CboxDbusState *state)
{
  if (state == NULL)
    return;
  cbox_dbus_rules_clear (&state->session_rules);
  cbox_dbus_rules_clear (&state->system_rules);
  g_clear_pointer (&state->rule_sets, g_strfreev);
  g_free (state->proxy);
  g_clear_pointer (&state->session, cbox_dbus_address_free);
  g_free (state->session_src);
  g_free (state->session_address);
  g_clear_pointer (&state->system, cbox_dbus_address_free);
  g_free (state->system_src);
  g_free (state->system_address);
  g_free (state->session_problem);
  g_free (state->system_problem);
  g_free (state->instance);
  g_free (state->run_dir);
  g_free (state);
}

static gboolean
dbus_parse_mode (const char *value, gboolean allow_auto, CboxDbusMode *ret_mode)
{
  if (g_strcmp0 (value, "filtered") == 0)
    *ret_mode = CBOX_DBUS_MODE_FILTERED;
  else if (g_strcmp0 (value, "full") == 0)
    *ret_mode = CBOX_DBUS_MODE_FULL;
  else if (g_strcmp0 (value, "none") == 0)
    *ret_mode = CBOX_DBUS_MODE_NONE;
  else if (allow_auto && g_strcmp0 (value, "auto") == 0)
    *ret_mode = CBOX_DBUS_MODE_AUTO;
  else
    return FALSE;
  return TRUE;
}

const char *
cbox_dbus_mode_to_string (CboxDbusMode mode)
{
  switch (mode)
    {
    case CBOX_DBUS_MODE_NONE:
      return "none";
    case CBOX_DBUS_MODE_FILTERED:
      return "filtered";
    case CBOX_DBUS_MODE_FULL:
      return "full";
    case CBOX_DBUS_MODE_AUTO:
      return "auto";
    default:
      return "?";
    }
}

/* Adds one policy value, checked so that a typo is a clear error instead
 * of a rule xdg-dbus-proxy silently ignores. @where names the source. */
static gboolean
dbus_add_rule (CboxDbusRules *rules, guint policy, const char *value, const char *where,
               GError **error)
{
  gboolean valid = policy >= CBOX_DBUS_POLICY_CALL ? cbox_dbus_call_rule_is_valid (value)
                                                   : cbox_dbus_rule_name_is_valid (value);
  if (!valid)
    {
      g_set_error (
          error, CBOX_ERROR, CBOX_ERROR_CONFIG, "%s: '%s' is not a valid %s rule (expected %s)",
          where, value, dbus_policy_keys[policy],
          policy >= CBOX_DBUS_POLICY_CALL
              ? "NAME=[METHOD][@PATH], e.g. org.example.App=org.example.App.Do@/org/example"
              : "a well-known bus name, optionally ending in .*");
      return FALSE;
    }
  if (!g_ptr_array_find_with_equal_func (rules->lists[policy], value, g_str_equal, NULL))
    g_ptr_array_add (rules->lists[policy], g_strdup (value));
  return TRUE;
}

static gboolean
dbus_load_rules_from_keyfile (GKeyFile *keyfile, const char *group, const char *key_prefix,
                              CboxDbusRules *rules, const char *where, GError **error)
{
  for (guint policy = 0; policy < CBOX_DBUS_N_POLICIES; policy++)
    {
      g_autofree char *key = g_strconcat (key_prefix, dbus_policy_keys[policy], NULL);
      g_auto (GStrv) values = g_key_file_get_string_list (keyfile, group, key, NULL, NULL);
      g_autofree char *source = g_strdup_printf ("%s [%s] %s", where, group, key);

      for (guint i = 0; values != NULL && values[i] != NULL; i++)
        {
          g_strstrip (values[i]);
          if (values[i][0] == '\0')
            continue;
          if (!dbus_add_rule (rules, policy, values[i], source, error))
            return FALSE;
        }
    }
  return TRUE;
}

/* Where rule sets are looked for, first match wins: the user's, the
 * administrator's, the shipped ones. */
static GPtrArray *
dbus_rule_set_dirs (const CboxHost *host)
{
  GPtrArray *dirs = g_ptr_array_new_with_free_func (g_free);
  const char *config_home = cbox_host_getenv_nonempty (host, "XDG_CONFIG_HOME");
  const char *home = cbox_host_get_home_dir (host);
  const char *data_dir = secure_getenv ("CBOX_DATA_DIR");

  if (config_home != NULL && config_home[0] == '/')
    g_ptr_array_add (dirs, g_build_filename (config_home, "cbox", "dbus-rules", NULL));
  else if (home != NULL)
    g_ptr_array_add (dirs, g_build_filename (home, ".config", "cbox", "dbus-rules", NULL));
  g_ptr_array_add (dirs, g_build_filename (CBOX_SYSCONF_DIR, "dbus-rules", NULL));
  g_ptr_array_add (
      dirs, g_build_filename (data_dir != NULL && data_dir[0] == '/' ? data_dir : CBOX_DATA_DIR,
                              "dbus-rules", NULL));
  return dirs;
}

static gboolean
dbus_rule_set_name_is_valid (const char *name)
{
  if (name[0] == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

static gboolean
dbus_load_rule_set (CboxDbusState *state, const CboxHost *host, const char *name, GError **error)
{
  g_autoptr (GPtrArray) dirs = dbus_rule_set_dirs (host);
  g_autofree char *file_name = g_strconcat (name, ".conf", NULL);
  g_autoptr (GString) searched = g_string_new (NULL);

  if (!dbus_rule_set_name_is_valid (name))
    {
      g_set_error (
          error, CBOX_ERROR, CBOX_ERROR_CONFIG,
          "[dbus] rules: '%s' is not a rule set name (lower-case letters, digits, - and _)", name);
      return FALSE;
    }

  for (guint i = 0; i < dirs->len; i++)
    {
      g_autofree char *path = g_build_filename (g_ptr_array_index (dirs, i), file_name, NULL);
      g_autoptr (GKeyFile) keyfile = g_key_file_new ();
      g_autoptr (GError) local_error = NULL;
      g_autoptr (GBytes) bytes = NULL;
      g_auto (GStrv) groups = NULL;

      g_string_append_printf (searched, "%s%s", searched->len > 0 ? ", " : "",
                              (const char *)g_ptr_array_index (dirs, i));
      if (!g_path_is_absolute (path))
        continue; /* a home that is not an absolute path has no rule sets */
      /* The user's rule sets are in $XDG_CONFIG_HOME, wherever that
       * points: read through cbox_host_read_file(), which refuses a fifo
       * (g_key_file_load_from_file() would block on it for good) or a
       * device without reading it, as the core reads configuration files.
       * Like those, rule sets are cbox's own files, not host files under a
       * test's root prefix: the host given is the real "/". A rule set
       * that exists but cannot be read is an error, as it always was. */
      {
        g_autoptr (CboxHost) real_root = cbox_host_new ();
        bytes = cbox_host_read_file (real_root, path, DBUS_RULE_SET_MAX_SIZE, &local_error);
      }
      if (bytes == NULL)
        {
          if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            continue;
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG, "D-Bus rule set '%s': %s", name,
                       local_error->message);
          return FALSE;
        }
      /* As every configuration file: a NUL byte would end the rule set
       * for GKeyFile without a word (the rules after it silently gone). */
      if (!cbox_config_check_text (path, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                   &local_error))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG, "D-Bus rule set '%s': %s", name,
                       local_error->message);
          return FALSE;
        }
      if (!g_key_file_load_from_data (keyfile, g_bytes_get_data (bytes, NULL),
                                      g_bytes_get_size (bytes), G_KEY_FILE_NONE, &local_error))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG, "D-Bus rule set %s: %s", path,
                       local_error->message);
          return FALSE;
        }

      groups = g_key_file_get_groups (keyfile, NULL);
      for (guint g = 0; groups[g] != NULL; g++)
        {
          g_auto (GStrv) keys = NULL;

          if (!g_str_equal (groups[g], "session") && !g_str_equal (groups[g], "system"))
            {
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                           "D-Bus rule set %s: unknown group [%s] (expected [session] or "
                           "[system])",
                           path, groups[g]);
              return FALSE;
            }
          keys = g_key_file_get_keys (keyfile, groups[g], NULL, NULL);
          for (guint k = 0; keys != NULL && keys[k] != NULL; k++)
            if (!g_strv_contains (dbus_policy_keys, keys[k]))
              {
                g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                             "D-Bus rule set %s: unknown key '%s' in [%s] (expected talk, own, "
                             "see, call or broadcast)",
                             path, keys[k], groups[g]);
                return FALSE;
              }
        }
      if (!dbus_load_rules_from_keyfile (keyfile, "session", "", &state->session_rules, path, error)
          || !dbus_load_rules_from_keyfile (keyfile, "system", "", &state->system_rules, path,
                                            error))
        return FALSE;
      return TRUE;
    }

  g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
               "[dbus] rules: no rule set '%s' (looked for %s in %s)", name, file_name,
               searched->str);
  return FALSE;
}

static gboolean
dbus_load_config (CboxContext *ctx, CboxDbusState *state, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  GKeyFile *config = cbox_context_get_config (ctx);
  g_autofree char *mode = cbox_context_get_string (ctx, "mode");
  g_autofree char *system = cbox_context_get_string (ctx, "system");
  g_autofree char *proxy = cbox_context_get_string (ctx, "proxy");

  if (mode != NULL)
    g_strstrip (mode);
  if (system != NULL)
    g_strstrip (system);
  if (mode != NULL && !dbus_parse_mode (mode, FALSE, &state->session_mode))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "[dbus] mode: '%s' is not one of filtered, full, none", mode);
      return FALSE;
    }
  if (system != NULL && !dbus_parse_mode (system, TRUE, &state->system_mode))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "[dbus] system: '%s' is not one of auto, filtered, full, none", system);
      return FALSE;
    }
  if (!cbox_context_get_boolean (ctx, "log", FALSE, &state->log, error))
    return FALSE;

  if (!dbus_load_rules_from_keyfile (config, "dbus", "", &state->session_rules, "configuration",
                                     error)
      || !dbus_load_rules_from_keyfile (config, "dbus", "system-", &state->system_rules,
                                        "configuration", error))
    return FALSE;

  state->rule_sets = cbox_context_get_string_list (ctx, "rules");
  for (guint i = 0; state->rule_sets != NULL && state->rule_sets[i] != NULL; i++)
    {
      g_strstrip (state->rule_sets[i]);
      if (state->rule_sets[i][0] == '\0')
        continue;
      if (!dbus_load_rule_set (state, host, state->rule_sets[i], error))
        return FALSE;
    }

  /* The system bus is the machine's (NetworkManager, systemd, udisks,
   * polkit): it stays out unless asked for, by a mode or by rules. */
  if (state->system_mode == CBOX_DBUS_MODE_AUTO)
    state->system_mode = cbox_dbus_rules_is_empty (&state->system_rules) ? CBOX_DBUS_MODE_NONE
                                                                         : CBOX_DBUS_MODE_FILTERED;

  if (proxy != NULL && proxy[0] != '\0')
    state->proxy = g_steal_pointer (&proxy);
  return TRUE;
}

/* ---- discovery ------------------------------------------------------------ */

static gboolean
dbus_path_is_socket (const CboxHost *host, const char *path, char **ret_resolved)
{
  if (!cbox_host_is_socket (host, path))
    return FALSE;
  *ret_resolved = cbox_host_resolve (host, path);
  return TRUE;
}

/* Picks the first usable entry of @address: a unix:path= whose socket
 * exists, else an abstract socket. FALSE with @ret_problem set when there
 * is none. */
static gboolean
dbus_choose_address (const CboxHost *host, const char *address, CboxDbusAddress **ret_address,
                     char **ret_src, char **ret_problem)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GPtrArray) skipped = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) entries = cbox_dbus_parse_address (address, skipped, &local_error);
  g_autoptr (GString) missing = g_string_new (NULL);
  gint abstract_index = -1;

  if (entries == NULL)
    {
      *ret_problem = g_strdup (local_error->message);
      return FALSE;
    }
  for (guint i = 0; i < entries->len; i++)
    {
      CboxDbusAddress *entry = g_ptr_array_index (entries, i);
      g_autofree char *src = NULL;

      if (entry->kind == CBOX_DBUS_UNIX_ABSTRACT)
        {
          if (abstract_index < 0)
            abstract_index = (gint)i;
          continue;
        }
      if (dbus_path_is_socket (host, entry->value, &src))
        {
          *ret_address = g_ptr_array_steal_index (entries, i);
          *ret_src = g_steal_pointer (&src);
          return TRUE;
        }
      g_string_append_printf (missing, "%s%s", missing->len > 0 ? ", " : "", entry->value);
    }
  if (abstract_index >= 0)
    {
      *ret_address = g_ptr_array_steal_index (entries, (guint)abstract_index);
      *ret_src = NULL;
      return TRUE;
    }
  if (missing->len > 0)
    *ret_problem = g_strdup_printf ("no socket at %s", missing->str);
  else if (skipped->len > 0)
    *ret_problem = g_strdup_printf ("address '%s' has no unix:path= or unix:abstract= entry "
                                    "(only unix sockets can be forwarded)",
                                    address);
  else
    *ret_problem = g_strdup_printf ("empty address '%s'", address);
  return FALSE;
}

static void
dbus_discover (CboxContext *ctx, CboxDbusState *state)
{
  const CboxHost *host = cbox_context_get_host (ctx);

  if (state->session_mode != CBOX_DBUS_MODE_NONE)
    {
      const char *address = cbox_host_getenv_nonempty (host, "DBUS_SESSION_BUS_ADDRESS");
      const char *runtime_dir = cbox_host_get_runtime_dir (host);
      g_autofree char *fallback = NULL;

      if (address == NULL && runtime_dir != NULL)
        {
          g_autofree char *path = g_build_filename (runtime_dir, "bus", NULL);
          address = fallback = cbox_dbus_address_to_string (CBOX_DBUS_UNIX_PATH, path);
        }
      if (address == NULL)
        state->session_problem = g_strdup ("DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR are "
                                           "not set");
      else if (dbus_choose_address (host, address, &state->session, &state->session_src,
                                    &state->session_problem))
        state->session_address = cbox_dbus_address_to_string (
            state->session->kind, state->session->kind == CBOX_DBUS_UNIX_PATH
                                      ? state->session_src
                                      : state->session->value);
    }

  if (state->system_mode != CBOX_DBUS_MODE_NONE)
    {
      const char *address = cbox_host_getenv_nonempty (host, "DBUS_SYSTEM_BUS_ADDRESS");

      if (address == NULL)
        address = "unix:path=" DBUS_SYSTEM_SOCKET;
      if (dbus_choose_address (host, address, &state->system, &state->system_src,
                               &state->system_problem))
        state->system_address = cbox_dbus_address_to_string (
            state->system->kind,
            state->system->kind == CBOX_DBUS_UNIX_PATH ? state->system_src : state->system->value);
    }

  if ((state->session_mode == CBOX_DBUS_MODE_FILTERED && state->session != NULL)
      || (state->system_mode == CBOX_DBUS_MODE_FILTERED && state->system != NULL))
    {
      if (state->proxy == NULL)
        state->proxy = g_find_program_in_path ("xdg-dbus-proxy");
      else if (!g_file_test (state->proxy, G_FILE_TEST_IS_EXECUTABLE))
        g_clear_pointer (&state->proxy, g_free);
      state->needs_proxy = TRUE;
    }
}

/* An abstract socket lives in the network namespace, not the file system:
 * nothing can be bound, and a sandbox reaches it only when it shares the
 * host's network namespace (--network=host). The default network is a
 * namespace of the sandbox's own, where the host's abstract sockets do
 * not exist. */
static gboolean
dbus_abstract_reachable (CboxContext *ctx)
{
  return (cbox_context_get_backend_features (ctx) & CBOX_FEATURE_HOST_NET) != 0
         && cbox_context_get_network_mode (ctx) == CBOX_NETWORK_HOST;
}

static CboxDbusState *
dbus_state_new (CboxContext *ctx, GError **error)
{
  g_autoptr (CboxDbusState) state = g_new0 (CboxDbusState, 1);

  state->session_mode = CBOX_DBUS_MODE_FILTERED;
  state->system_mode = CBOX_DBUS_MODE_AUTO;
  cbox_dbus_rules_init (&state->session_rules);
  cbox_dbus_rules_init (&state->system_rules);
  if (!dbus_load_config (ctx, state, error))
    {
      g_prefix_error (error, "dbus: ");
      return NULL;
    }
  dbus_discover (ctx, state);
  return g_steal_pointer (&state);
}

static char *
dbus_rules_summary (const CboxDbusRules *rules)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint policy = 0; policy < CBOX_DBUS_N_POLICIES; policy++)
    {
      GPtrArray *list = rules->lists[policy];
      if (list->len == 0)
        continue;
      g_string_append_printf (out, "%s%s ", out->len > 0 ? "; " : "", dbus_policy_keys[policy]);
      for (guint i = 0; i < list->len; i++)
        g_string_append_printf (out, "%s%s", i > 0 ? "," : "",
                                (const char *)g_ptr_array_index (list, i));
    }
  if (out->len == 0)
    g_string_append (out, "none (the bus driver only)");
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
dbus_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  g_autoptr (CboxDbusState) state = dbus_state_new (ctx, error);
  gboolean session_ok, system_ok;

  if (state == NULL)
    return FALSE;

  cbox_probe_result_add_detail (result, "mode", "%s",
                                cbox_dbus_mode_to_string (state->session_mode));
  if (state->session_mode != CBOX_DBUS_MODE_NONE)
    cbox_probe_result_add_detail (result, "session-bus", "%s",
                                  state->session != NULL ? state->session_address
                                                         : state->session_problem);
  cbox_probe_result_add_detail (result, "system-bus", "%s%s%s",
                                cbox_dbus_mode_to_string (state->system_mode),
                                state->system_mode == CBOX_DBUS_MODE_NONE ? "" : ": ",
                                state->system_mode == CBOX_DBUS_MODE_NONE ? ""
                                : state->system != NULL                   ? state->system_address
                                                                          : state->system_problem);
  if (state->needs_proxy)
    cbox_probe_result_add_detail (result, "proxy", "%s",
                                  state->proxy != NULL ? state->proxy : "xdg-dbus-proxy not found");
  if (state->session_mode == CBOX_DBUS_MODE_FILTERED)
    {
      g_autofree char *summary = dbus_rules_summary (&state->session_rules);
      cbox_probe_result_add_detail (result, "session-rules", "%s", summary);
    }
  if (state->system_mode == CBOX_DBUS_MODE_FILTERED)
    {
      g_autofree char *summary = dbus_rules_summary (&state->system_rules);
      cbox_probe_result_add_detail (result, "system-rules", "%s", summary);
    }

  if (state->needs_proxy && state->proxy == NULL)
    {
      cbox_probe_result_set_status (
          result, CBOX_PROBE_UNAVAILABLE,
          "xdg-dbus-proxy not found in PATH (install the xdg-dbus-proxy package, or set "
          "[dbus] mode=full to give the whole bus unfiltered)");
      return TRUE;
    }
  if (state->session_mode == CBOX_DBUS_MODE_FULL && state->session != NULL
      && state->session->kind == CBOX_DBUS_UNIX_ABSTRACT && !dbus_abstract_reachable (ctx))
    {
      cbox_probe_result_set_status (
          result, CBOX_PROBE_UNAVAILABLE,
          "the session bus listens on an abstract socket (%s), which cannot be bound into a "
          "sandbox and is reachable only with the host's network namespace; use [dbus] "
          "mode=filtered (xdg-dbus-proxy gives the sandbox a socket file) or --network=host",
          state->session_address);
      return TRUE;
    }

  session_ok = state->session_mode != CBOX_DBUS_MODE_NONE && state->session != NULL;
  system_ok = state->system_mode != CBOX_DBUS_MODE_NONE && state->system != NULL;
  if (state->session_mode == CBOX_DBUS_MODE_NONE && state->system_mode == CBOX_DBUS_MODE_NONE)
    cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                  "[dbus] mode=none and no system bus asked for: nothing to "
                                  "forward");
  else if (state->session_mode != CBOX_DBUS_MODE_NONE && !session_ok && !system_ok)
    cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                  "no session bus: %s (is a D-Bus session running? "
                                  "dbus-run-session starts one)",
                                  state->session_problem);
  else if (state->session_mode != CBOX_DBUS_MODE_NONE && !session_ok)
    cbox_probe_result_set_status (result, CBOX_PROBE_DEGRADED,
                                  "no session bus (%s): the system bus only",
                                  state->session_problem);
  else if (state->system_mode != CBOX_DBUS_MODE_NONE && !system_ok)
    {
      if (!session_ok)
        cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE, "no system bus: %s",
                                      state->system_problem);
      else
        cbox_probe_result_set_status (result, CBOX_PROBE_DEGRADED,
                                      "no system bus (%s): the session bus only",
                                      state->system_problem);
    }
  else
    cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);

  cbox_context_set_data (ctx, g_steal_pointer (&state), (GDestroyNotify)cbox_dbus_state_free);
  return TRUE;
}

/* ---- contribution --------------------------------------------------------- */

static void
dbus_add_proxy_rules (GPtrArray *argv, const CboxDbusRules *rules)
{
  /* --filter first: without it xdg-dbus-proxy forwards everything. */
  g_ptr_array_add (argv, g_strdup ("--filter"));
  for (guint policy = 0; policy < CBOX_DBUS_N_POLICIES; policy++)
    {
      GPtrArray *list = rules->lists[policy];
      for (guint i = 0; i < list->len; i++)
        g_ptr_array_add (argv, g_strdup_printf ("--%s=%s", dbus_policy_keys[policy],
                                                (const char *)g_ptr_array_index (list, i)));
    }
}

static char *
dbus_run_dir_base (const CboxHost *host)
{
  const char *runtime_dir = cbox_host_get_runtime_dir (host);

  if (runtime_dir != NULL)
    {
      g_autofree char *resolved = cbox_host_resolve (host, runtime_dir);
      if (g_file_test (resolved, G_FILE_TEST_IS_DIR))
        return g_steal_pointer (&resolved);
    }
  return g_strdup (g_get_tmp_dir ());
}

static gboolean
dbus_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  CboxDbusState *state = cbox_context_get_data (ctx);
  const char *runtime_dir = cbox_plan_get_runtime_dir (plan);
  g_autofree char *session_dest = g_build_filename (runtime_dir, "bus", NULL);
  g_autofree char *session_env = cbox_dbus_address_to_string (CBOX_DBUS_UNIX_PATH, session_dest);
  g_autofree char *system_env
      = cbox_dbus_address_to_string (CBOX_DBUS_UNIX_PATH, DBUS_SYSTEM_SOCKET);
  gboolean session_filtered, system_filtered;

  if (state == NULL)
    {
      state = dbus_state_new (ctx, error);
      if (state == NULL)
        return FALSE;
      cbox_context_set_data (ctx, state, (GDestroyNotify)cbox_dbus_state_free);
    }

  session_filtered = state->session_mode == CBOX_DBUS_MODE_FILTERED && state->session != NULL;
  system_filtered = state->system_mode == CBOX_DBUS_MODE_FILTERED && state->system != NULL;

  if (session_filtered || system_filtered)
    {
      g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
      g_autofree char *base = dbus_run_dir_base (host);
      uid_t uid = cbox_host_get_uid (host);
      gid_t gid = cbox_host_get_gid (host);
      g_autoptr (GString) what = g_string_new (NULL);

      if (state->proxy == NULL)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                       "dbus: xdg-dbus-proxy not found in PATH (install the xdg-dbus-proxy "
                       "package)");
          return FALSE;
        }

      if (state->instance == NULL)
        {
          const char *instance = cbox_context_get_instance_id (ctx);
          state->instance
              = instance != NULL ? g_strdup (instance) : g_strdup_printf ("%08x", g_random_int ());
        }
      state->run_dir = g_strdup_printf ("%s/" DBUS_RUN_DIR_PREFIX "%u-%s", base, (unsigned)uid,
                                        state->instance);

      /* cbox runs as root for somebody else (sudo, the nspawn backend): the
       * proxy runs as that user, so the bus sees the user it serves (a
       * session bus refuses other users) and the sockets it creates are the
       * user's to connect to. */
      if (cbox_host_get_caller_uid (host) == 0 && uid != 0 && uid != (uid_t)-1)
        {
          g_ptr_array_add (argv, g_strdup ("setpriv"));
          g_ptr_array_add (argv, g_strdup_printf ("--reuid=%u", (unsigned)uid));
          g_ptr_array_add (argv, g_strdup_printf ("--regid=%u", (unsigned)gid));
          g_ptr_array_add (argv, g_strdup ("--clear-groups"));
          g_ptr_array_add (argv, g_strdup ("--"));
        }
      g_ptr_array_add (argv, g_strdup (state->proxy));
      g_ptr_array_add (argv, g_strdup ("--fd={sync-fd}"));
      if (state->log)
        g_ptr_array_add (argv, g_strdup ("--log"));

      /* Filtering is the point: the session bus is where the user's
       * keyring, the screen shot and screen cast portals, the desktop's
       * settings daemon and every application's remote-control interface
       * listen. A sandbox that can talk to all of them can read secrets,
       * record the screen, or ask another application to run commands. So
       * the default is a proxy that shows the sandbox only the bus driver,
       * and each name it may reach is listed in the configuration. */
      if (session_filtered)
        {
          g_autofree char *socket = g_build_filename (state->run_dir, "bus", NULL);
          g_ptr_array_add (argv, g_strdup (state->session_address));
          g_ptr_array_add (argv, g_strdup (socket));
          dbus_add_proxy_rules (argv, &state->session_rules);
          cbox_plan_add_bind_socket (plan, socket, session_dest, CBOX_MOUNT_FLAG_NONE);
          cbox_plan_set_env (plan, "DBUS_SESSION_BUS_ADDRESS", session_env);
          g_string_append (what, "session bus");
        }
      if (system_filtered)
        {
          g_autofree char *socket = g_build_filename (state->run_dir, "system_bus_socket", NULL);
          g_ptr_array_add (argv, g_strdup (state->system_address));
          g_ptr_array_add (argv, g_strdup (socket));
          dbus_add_proxy_rules (argv, &state->system_rules);
          cbox_plan_add_bind_socket (plan, socket, DBUS_SYSTEM_SOCKET, CBOX_MOUNT_FLAG_NONE);
          cbox_plan_set_env (plan, "DBUS_SYSTEM_BUS_ADDRESS", system_env);
          g_string_append_printf (what, "%ssystem bus", what->len > 0 ? ", " : "");
        }
      g_ptr_array_add (argv, NULL);
      {
        g_autofree char *name = g_strdup_printf ("xdg-dbus-proxy (%s)", what->str);
        cbox_plan_take_helper (plan, name,
                               (char **)g_ptr_array_free (g_steal_pointer (&argv), FALSE),
                               CBOX_HELPER_READY_SYNC_FD, NULL);
      }
    }

  if (session_filtered)
    {
      g_autofree char *summary = dbus_rules_summary (&state->session_rules);
      cbox_plan_add_note (plan, "session bus: filtered by xdg-dbus-proxy: %s", summary);
    }
  else if (state->session_mode == CBOX_DBUS_MODE_FULL && state->session != NULL)
    {
      /* The user asked for the whole bus: everything on it is reachable. */
      if (state->session->kind == CBOX_DBUS_UNIX_PATH)
        {
          cbox_plan_add_bind_socket (plan, state->session_src, session_dest, CBOX_MOUNT_FLAG_NONE);
          cbox_plan_set_env (plan, "DBUS_SESSION_BUS_ADDRESS", session_env);
          cbox_plan_add_note (plan, "session bus: full access (mode=full), %s", state->session_src);
        }
      else if (dbus_abstract_reachable (ctx))
        {
          cbox_plan_set_env (plan, "DBUS_SESSION_BUS_ADDRESS", state->session_address);
          cbox_plan_add_note (plan,
                              "session bus: full access through the shared network namespace "
                              "(abstract socket %s)",
                              state->session->value);
        }
      else
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                       "dbus: the session bus listens on an abstract socket (%s), which cannot "
                       "be bound into a sandbox; use [dbus] mode=filtered or --network with a "
                       "backend that shares the host network",
                       state->session_address);
          return FALSE;
        }
    }
  else if (state->session_mode == CBOX_DBUS_MODE_NONE)
    cbox_plan_add_note (plan, "session bus: not forwarded (mode=none)");
  else
    cbox_plan_add_note (plan, "session bus: not forwarded (%s)", state->session_problem);

  if (system_filtered)
    {
      g_autofree char *summary = dbus_rules_summary (&state->system_rules);
      cbox_plan_add_note (plan, "system bus: filtered by xdg-dbus-proxy: %s", summary);
    }
  else if (state->system_mode == CBOX_DBUS_MODE_FULL && state->system != NULL)
    {
      if (state->system->kind != CBOX_DBUS_UNIX_PATH)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                       "dbus: the system bus listens on an abstract socket (%s), which cannot "
                       "be bound; use [dbus] system=filtered",
                       state->system_address);
          return FALSE;
        }
      cbox_plan_add_bind_socket (plan, state->system_src, DBUS_SYSTEM_SOCKET, CBOX_MOUNT_FLAG_NONE);
      cbox_plan_set_env (plan, "DBUS_SYSTEM_BUS_ADDRESS", system_env);
      cbox_plan_add_note (plan, "system bus: full access (system=full)");
    }
  else if (state->system_mode == CBOX_DBUS_MODE_NONE)
    cbox_plan_add_note (plan, "system bus: not forwarded (no [dbus] system-* rules)");
  else
    cbox_plan_add_note (plan, "system bus: not forwarded (%s)", state->system_problem);

  return TRUE;
}

/* ---- the per-run directory ------------------------------------------------ */

static gboolean
dbus_prepare (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  CboxDbusState *state = cbox_context_get_data (ctx);

  if (state == NULL || state->run_dir == NULL)
    return TRUE;

  if (!cbox_plan_make_run_dir (plan, state->run_dir, DBUS_RUN_DIR_PREFIX, cbox_host_get_uid (host),
                               cbox_host_get_gid (host), error))
    {
      g_prefix_error (error, "dbus: ");
      return FALSE;
    }
  return TRUE;
}

static const CboxForwarderVTable dbus_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = dbus_probe,
  .contribute = dbus_contribute,
  .prepare = dbus_prepare,
};

/* Every key of [dbus] (docs/config.md lists them from here). */
static const CboxPluginKey dbus_config_keys[] = {
  { .name = "mode",
    .type = CBOX_PLUGIN_KEY_CHOICE,
    .description = "session bus: filtered by xdg-dbus-proxy, the full bus, or none",
    .default_value = "filtered",
    .choices = CBOX_STRV ("filtered", "full", "none") },
  { .name = "system",
    .type = CBOX_PLUGIN_KEY_CHOICE,
    .description
    = "system bus: auto (filtered when it has rules, else none), filtered, full or none",
    .default_value = "auto",
    .choices = CBOX_STRV ("auto", "filtered", "full", "none") },
  { .name = "talk",
    .type = CBOX_PLUGIN_KEY_STRING_LIST,
    .description = "session bus names the sandbox may talk to (a trailing .* for a subtree)" },
  { .name = "own",
    .type = CBOX_PLUGIN_KEY_STRING_LIST,
    .description = "session bus names the sandbox may own" },
  { .name = "see",
    .type = CBOX_PLUGIN_KEY_STRING_LIST,
    .description = "session bus names the sandbox may see" },
  { .name = "call",
    .type = CBOX_PLUGIN_KEY_STRING_LIST,
    .description = "single method calls allowed: NAME=[METHOD][@PATH]" },
  { .name = "broadcast",
    .type = CBOX_PLUGIN_KEY_STRING_LIST,
    .description = "signals received: NAME=[METHOD][@PATH]" },
  { .name = "system-talk",
    .type = CBOX_PLUGIN_KEY_STRING_LIST,
    .description = "as talk, for the system bus" },
  { .name = "system-own",
    .type = CBOX_PLUGIN_KEY_STRING_LIST,
    .description = "as own, for the system bus" },
  { .name = "system-see",
    .type = CBOX_PLUGIN_KEY_STRING_LIST,
    .description = "as see, for the system bus" },
  { .name = "system-call",
    .type = CBOX_PLUGIN_KEY_STRING_LIST,
    .description = "as call, for the system bus" },
  { .name = "system-broadcast",
    .type = CBOX_PLUGIN_KEY_STRING_LIST,
    .description = "as broadcast, for the system bus" },
  { .name = "rules",
    .type = CBOX_PLUGIN_KEY_STRING_LIST,
    .description = "rule sets to add (notifications, portals, secrets, or your own)" },
  { .name = "log",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "xdg-dbus-proxy logs every message on its stderr",
    .default_value = "false" },
  { .name = "proxy",
    .type = CBOX_PLUGIN_KEY_STRING,
    .description = "path of xdg-dbus-proxy",
    .default_value = "xdg-dbus-proxy in PATH" },
  { NULL },
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "dbus", .version = "1.0",
                    .description = "D-Bus session bus (and system bus when asked), filtered by "
                                   "xdg-dbus-proxy",
                    .features = CBOX_FEATURE_SOCKET | CBOX_FEATURE_HELPER,
                    .forwarder = &dbus_vtable, .keys = dbus_config_keys)

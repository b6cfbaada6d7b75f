/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-config.h"
#include "cbox-planner.h"
#include "cbox-planner-private.h"
#include "cbox-net-plan.h"
#include "cbox-project.h"
#include "cbox-protect.h"

char *
cbox_planner_project_folder_name (const char *project_dir)
{
  GString *name = g_string_new (NULL);

  if (g_utf8_validate (project_dir, -1, NULL))
    for (const char *p = project_dir; *p != '\0'; p = g_utf8_next_char (p))
      {
        gunichar c = g_utf8_get_char (p);
        if (c < 0x80 && g_ascii_isalnum ((char)c))
          g_string_append_c (name, (char)c);
        else
          g_string_append (name, c > 0xffff ? "--" : "-");
      }
  else
    for (const char *p = project_dir; *p != '\0'; p++)
      g_string_append_c (name, g_ascii_isalnum (*p) ? *p : '-');
  if (name->len > 200)
    {
      g_string_free (name, TRUE);
      return NULL;
    }
  return g_string_free (name, FALSE);
}

/* ---- the planner ---------------------------------------------------------- */

static void
cbox_chosen_free (CboxChosen *chosen)
{
  g_ptr_array_unref (chosen->aliases);
  g_free (chosen->origin);
  cbox_context_free (chosen->ctx);
  cbox_probe_result_free (chosen->probe);
  g_free (chosen);
}

static void
cbox_string_free (gpointer string)
{
  g_string_free (string, TRUE);
}

static char *
cbox_planner_new_instance_id (void)
{
  guint8 bytes[8];

  /* One getrandom(); GLib's generator would open /dev/urandom and seed
   * itself first. */
  if (getrandom (bytes, sizeof bytes, GRND_NONBLOCK) != (ssize_t)sizeof bytes)
    for (gsize i = 0; i < sizeof bytes; i++)
      bytes[i] = (guint8)g_random_int_range (0, 256);
  return g_strdup_printf ("%02x%02x%02x%02x%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2],
                          bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]);
}

static char *
cbox_planner_get_libexec_dir (void)
{
  /* Which helper binaries run inside the sandbox is security-relevant:
   * under AT_SECURE the environment cannot change it. */
  const char *dir = secure_getenv ("CBOX_LIBEXEC_DIR");

  return g_strdup (dir != NULL && dir[0] == '/' ? dir : CBOX_LIBEXEC_DIR);
}

CboxPlanner *
cbox_planner_new (CboxRegistry *registry, CboxHost *host, CboxRequest *request)
{
  CboxPlanner *planner;

  g_return_val_if_fail (registry != NULL && host != NULL && request != NULL, NULL);

  planner = g_new0 (CboxPlanner, 1);
  planner->registry = registry;
  planner->host = cbox_host_ref (host);
  planner->request = request;
  planner->instance_id = cbox_planner_new_instance_id ();
  planner->libexec_dir = cbox_planner_get_libexec_dir ();
  planner->start_time = g_get_monotonic_time ();
  planner->alias_reasons
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, cbox_string_free);
  planner->chosen = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_chosen_free);
  planner->plan = cbox_plan_new ();
  planner->launch = cbox_launch_new ();
  return planner;
}

void
cbox_planner_free (CboxPlanner *planner)
{
  if (planner == NULL)
    return;
  g_clear_pointer (&planner->instance, cbox_instance_free);
  g_ptr_array_unref (planner->chosen);
  g_hash_table_unref (planner->alias_reasons);
  cbox_launch_free (planner->launch);
  cbox_plan_free (planner->plan);
  cbox_context_free (planner->backend_ctx);
  cbox_probe_result_free (planner->backend_probe);
  cbox_host_unref (planner->host);
  g_free (planner->instance_id);
  cbox_protect_free (planner->protect);
  g_free (planner->libexec_dir);
  g_free (planner);
}

CboxPlan *
cbox_planner_get_plan (CboxPlanner *planner)
{
  return planner->plan;
}

CboxLaunch *
cbox_planner_get_launch (CboxPlanner *planner)
{
  return planner->launch;
}

CboxContext *
cbox_planner_get_backend_context (CboxPlanner *planner)
{
  return planner->backend_ctx;
}

void
cbox_planner_log (CboxPlanner *planner, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  if (!planner->request->verbose)
    return;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("cbox: [%.1f ms] %s\n", (g_get_monotonic_time () - planner->start_time) / 1000.0,
              message);
}

/* ---- calls into plugin code ----------------------------------------------- */

/* The first critical message logged while plugin code ran: how GLib and
 * the plan API report a broken contract (a relative destination, a NULL
 * where a value is required). */
static char *cbox_planner_breach;
static GLogFunc cbox_planner_old_log_func;
static gpointer cbox_planner_old_log_data;
static GLogLevelFlags cbox_planner_old_fatal;

static void
cbox_planner_log_handler (const char *domain, GLogLevelFlags level, const char *message,
                          gpointer user_data)
{
  if ((level & G_LOG_LEVEL_CRITICAL) != 0 && cbox_planner_breach == NULL)
    cbox_planner_breach = g_strdup (message);
  g_log_default_handler (domain, level, message, user_data);
}

/* Around every call into a plugin: the guard (a crash or hang ends cbox
 * with 125, naming the plugin), and criticals caught as contract breaches
 * instead of aborting under G_DEBUG=fatal-criticals or passing unseen. */
void
cbox_planner_enter_plugin (const char *plugin, const char *what, guint timeout_s)
{
  g_clear_pointer (&cbox_planner_breach, g_free);
  cbox_planner_old_log_func = g_log_set_default_handler (cbox_planner_log_handler, NULL);
  (void)cbox_planner_old_log_data;
  cbox_planner_old_fatal = g_log_set_always_fatal (G_LOG_LEVEL_ERROR);
  cbox_plugin_guard_enter (plugin, what, timeout_s);
}

/* Security: a plugin that breaks the ABI's contract is refused, never
 * half-trusted: FALSE without an error (GLib would abort on it, naming
 * nobody), TRUE with one, or a critical (the plan API refusing what it was
 * given: the item is missing from the plan, and the plugin does not know).
 * Returns @ok, or FALSE with @error set naming @plugin and @what (and the
 * plugin's own error prefixed with "@kind '@plugin': ", unless @kind is
 * NULL). */
static gboolean cbox_planner_leave_plugin_full (const char *kind, const char *plugin,
                                                const char *what, gboolean ok, GError **local_error,
                                                gboolean *ret_breach, GError **error);

gboolean
cbox_planner_leave_plugin (const char *kind, const char *plugin, const char *what, gboolean ok,
                           GError **local_error, GError **error)
{
  return cbox_planner_leave_plugin_full (kind, plugin, what, ok, local_error, NULL, error);
}

/* The same, and *@ret_breach says whether a FALSE is a contract breach
 * (not the plugin's own error). */
static gboolean
cbox_planner_leave_plugin_full (const char *kind, const char *plugin, const char *what, gboolean ok,
                                GError **local_error, gboolean *ret_breach, GError **error)
{
  g_autofree char *breach = NULL;

  cbox_plugin_guard_leave ();
  g_log_set_always_fatal (cbox_planner_old_fatal);
  g_log_set_default_handler (cbox_planner_old_log_func, NULL);
  breach = g_steal_pointer (&cbox_planner_breach);

  if (breach == NULL && ok && *local_error == NULL)
    return TRUE;
  if (breach == NULL && !ok && *local_error != NULL)
    {
      if (kind != NULL)
        g_propagate_prefixed_error (error, g_steal_pointer (local_error), "%s '%s': ", kind,
                                    plugin);
      else
        g_propagate_error (error, g_steal_pointer (local_error));
      return FALSE;
    }
  g_clear_error (local_error);
  if (ret_breach != NULL)
    *ret_breach = TRUE;
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
               "%s '%s' broke the plugin contract in %s: %s; cbox refuses what it gave (fix or "
               "remove the plugin, or leave it out with --no-forward)",
               kind != NULL ? kind : "Plugin", plugin, what,
               breach != NULL ? breach
               : ok           ? "it returned TRUE and set an error"
                              : "it returned FALSE without setting an error");
  return FALSE;
}

CboxContext *
cbox_planner_make_context (CboxPlanner *planner, const char *name, gboolean requested)
{
  CboxContext *ctx = cbox_context_new (planner->host, planner->request->config, name);

  cbox_context_set_profile (ctx, planner->request->profile);
  cbox_context_set_instance_id (ctx, planner->instance_id);
  cbox_context_set_network (ctx, planner->request->network);
  cbox_context_set_verbose (ctx, planner->request->verbose);
  cbox_context_set_requested (ctx, requested);
  cbox_context_set_libexec_dir (ctx, planner->libexec_dir);
  cbox_context_set_project_dir (ctx, planner->request->project_dir);
  if (planner->backend_desc != NULL)
    cbox_context_set_backend (ctx, planner->backend_desc->name, planner->backend_desc->features);
  return ctx;
}

/* "device binds and unix-socket binds" for the bits of @features. */
char *
cbox_features_describe_all (CboxFeatures features)
{
  g_autoptr (GString) out = g_string_new (NULL);
  guint n = 0, i = 0;

  for (guint bit = 0; bit < 32; bit++)
    if (features & (1u << bit))
      n++;
  for (guint bit = 0; bit < 32; bit++)
    {
      CboxFeatures feature = (CboxFeatures)(1u << bit);
      const char *text;

      if (!(features & feature))
        continue;
      text = cbox_feature_describe (feature);
      if (i > 0)
        g_string_append (out, i + 1 == n ? " and " : ", ");
      if (text != NULL)
        g_string_append (out, text);
      else
        g_string_append_printf (out, "feature 0x%x", (unsigned)feature);
      i++;
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
cbox_planner_select_backend (CboxPlanner *planner, GError **error)
{
  const char *name = planner->request->backend != NULL ? planner->request->backend : "bwrap";
  CboxPluginInfo *info = cbox_registry_lookup (planner->registry, name);
  g_autoptr (GError) local_error = NULL;

  if (info == NULL || cbox_plugin_info_get_meta (info)->kind != CBOX_PLUGIN_KIND_BACKEND)
    {
      g_autoptr (GString) known = g_string_new (NULL);

      for (guint i = 0; i < cbox_registry_get_n_plugins (planner->registry); i++)
        {
          CboxPluginInfo *other = cbox_registry_get_plugin (planner->registry, i);
          if (g_strcmp0 (cbox_plugin_info_get_name (other), name) == 0
              && !cbox_plugin_info_is_accepted (other))
            {
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                           "Backend '%s' cannot be used: %s", name,
                           cbox_plugin_info_get_error (other)->message);
              return FALSE;
            }
          if (cbox_plugin_info_is_accepted (other)
              && cbox_plugin_info_get_meta (other)->kind == CBOX_PLUGIN_KIND_BACKEND)
            g_string_append_printf (known, "%s%s", known->len > 0 ? ", " : "",
                                    cbox_plugin_info_get_name (other));
        }
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "No backend named '%s' (backends found: %s; 'cbox plugins' lists them)", name,
                   known->len > 0 ? known->str : "none");
      return FALSE;
    }

  /* Only now is the backend's file opened (when the cache described it). */
  planner->backend_desc = cbox_plugin_info_get_desc (info);
  if (planner->backend_desc == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE, "Backend '%s' cannot be used: %s",
                   name, cbox_plugin_info_get_error (info)->message);
      return FALSE;
    }
  planner->backend_ctx = cbox_planner_make_context (planner, name, TRUE);
  planner->backend_probe = cbox_probe_result_new ();
  {
    gboolean ok;
    cbox_planner_enter_plugin (name, "its probe", CBOX_PLUGIN_GUARD_TIMEOUT_S);
    ok = planner->backend_desc->backend->probe (planner->backend_ctx, planner->backend_probe,
                                                &local_error);
    if (!cbox_planner_leave_plugin ("Backend", name, "its probe", ok, &local_error, error))
      return FALSE;
  }
  switch (cbox_probe_result_get_status (planner->backend_probe))
    {
    case CBOX_PROBE_AVAILABLE:
      break;
    case CBOX_PROBE_DEGRADED:
      cbox_plan_set_origin (planner->plan, name);
      cbox_plan_add_note (planner->plan, "degraded: %s",
                          cbox_probe_result_get_reason (planner->backend_probe));
      break;
    default:
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "Backend '%s' is unavailable: %s (see 'cbox doctor'; pick another with "
                   "--backend)",
                   name,
                   cbox_probe_result_get_reason (planner->backend_probe) != NULL
                       ? cbox_probe_result_get_reason (planner->backend_probe)
                       : "its probe gave no reason");
      return FALSE;
    }
  cbox_planner_log (
      planner, "backend %s: %s", name,
      cbox_probe_status_to_string (cbox_probe_result_get_status (planner->backend_probe)));
  return TRUE;
}

/* For a run, the backend may start its tool now, so that the tool's own
 * start overlaps with the rest of the planning (bwrap: about 0.5 ms of
 * every run, docs/benchmarks.md). Never for `cbox plan` or `doctor`: those
 * must not start anything. Only an optimisation: when it fails, the run
 * starts the tool as usual, and says why with --verbose. */
static void
cbox_planner_prestart (CboxPlanner *planner)
{
  const CboxBackendVTable *backend = planner->backend_desc->backend;
  g_autoptr (GError) local_error = NULL;
  gboolean ok;

  if (!planner->request->will_run || !CBOX_VTABLE_HAS (backend, CboxBackendVTable, prestart)
      || backend->prestart == NULL)
    return;
  cbox_plugin_guard_enter (planner->backend_desc->name, "its prestart",
                           CBOX_PLUGIN_GUARD_TIMEOUT_S);
  ok = backend->prestart (planner->backend_ctx, &local_error);
  cbox_plugin_guard_leave ();
  if (!ok)
    cbox_planner_log (planner, "backend %s: not started early: %s", planner->backend_desc->name,
                      local_error != NULL ? local_error->message : "(no reason given)");
  else
    cbox_planner_log (planner, "backend %s: started early", planner->backend_desc->name);
}

static CboxChosen *
cbox_planner_find_chosen (CboxPlanner *planner, CboxPluginInfo *info)
{
  for (guint i = 0; i < planner->chosen->len; i++)
    {
      CboxChosen *chosen = g_ptr_array_index (planner->chosen, i);
      if (chosen->info == info)
        return chosen;
    }
  return NULL;
}

/* Why @name names no usable forwarder: rejected, or not there at all. */
static char *
cbox_planner_explain_unknown (CboxPlanner *planner, const char *name)
{
  for (guint i = 0; i < cbox_registry_get_n_plugins (planner->registry); i++)
    {
      CboxPluginInfo *info = cbox_registry_get_plugin (planner->registry, i);
      if (g_strcmp0 (cbox_plugin_info_get_name (info), name) != 0)
        continue;
      if (!cbox_plugin_info_is_accepted (info))
        return g_strdup_printf ("its plugin was rejected: %s",
                                cbox_plugin_info_get_error (info)->message);
      return g_strdup_printf ("'%s' is a backend, not a forwarder", name);
    }
  return g_strdup ("no forwarder or alias of that name was found ('cbox plugins' lists them)");
}

static gboolean
cbox_planner_resolve_forwarders (CboxPlanner *planner, GError **error)
{
  g_autoptr (GPtrArray) ops = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_forward_op_free);

  /* Without a configured default list (no shipped cbox.conf, say), the
   * plugins' own defaults apply. */
  if (!planner->request->has_default_forwards)
    for (guint i = 0; i < cbox_registry_get_n_plugins (planner->registry); i++)
      {
        CboxPluginInfo *info = cbox_registry_get_plugin (planner->registry, i);
        const CboxPluginDesc *desc = cbox_plugin_info_get_meta (info);
        CboxForwardOp *op;

        if (desc == NULL || desc->kind != CBOX_PLUGIN_KIND_FORWARDER || !desc->default_enabled)
          continue;
        op = g_new0 (CboxForwardOp, 1);
        op->kind = CBOX_FORWARD_OP_ADD;
        op->name = g_strdup (desc->name);
        op->origin = g_strdup ("plugin default");
        g_ptr_array_add (ops, op);
      }
  for (guint i = 0; i < planner->request->forward_ops->len; i++)
    {
      CboxForwardOp *op = g_ptr_array_index (planner->request->forward_ops, i);
      cbox_request_add_forward_op_to (ops, op->kind, op->name, op->requested, op->origin);
    }

  for (guint i = 0; i < ops->len; i++)
    {
      CboxForwardOp *op = g_ptr_array_index (ops, i);
      g_autoptr (GPtrArray) members = NULL;

      if (op->kind == CBOX_FORWARD_OP_CLEAR)
        {
          g_ptr_array_set_size (planner->chosen, 0);
          continue;
        }
      /* Security: a name no plugin answers to is a typo (--no-forward=gti
       * would otherwise leave git in, forward-optional=nosuch do nothing),
       * wherever it is. A plugin of cbox this machine lacks is no typo: it
       * is skipped below, or an error when asked for. */
      if (!cbox_registry_name_is_known (planner->registry, op->name))
        {
          g_auto (GStrv) known
              = cbox_registry_get_known_names (planner->registry, CBOX_PLUGIN_KIND_FORWARDER);
          const char *nearest = cbox_config_nearest (op->name, (const char *const *)known);
          g_autofree char *list = g_strjoinv (", ", known);
          g_autofree char *hint
              = nearest != NULL ? g_strdup_printf ("did you mean '%s'? ", nearest) : g_strdup ("");

          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "Unknown forwarder '%s' (%s, from %s): no plugin has that name or alias; "
                       "%sknown: %s ('cbox plugins' lists them)",
                       op->name,
                       op->kind == CBOX_FORWARD_OP_REMOVE ? "to leave out"
                       : op->requested                    ? "asked for"
                                                          : "optional or default",
                       op->origin, hint, list);
          return FALSE;
        }
      members = cbox_registry_resolve (planner->registry, op->name, CBOX_PLUGIN_KIND_FORWARDER);
      /* A backend's name is no forwarder's either: left out or optional it
       * would do nothing, unseen (--no-forward=nspawn), so it is an error
       * wherever it is, as an unknown name is. */
      if (members->len == 0)
        {
          CboxPluginInfo *named = cbox_registry_lookup (planner->registry, op->name);
          const CboxPluginDesc *named_desc
              = named != NULL ? cbox_plugin_info_get_meta (named) : NULL;

          if (named_desc != NULL && named_desc->kind == CBOX_PLUGIN_KIND_BACKEND)
            {
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                           "'%s' (%s, from %s) is a backend, not a forwarder; a backend is chosen "
                           "with --backend=%s (or backend=%s in [cbox])",
                           op->name,
                           op->kind == CBOX_FORWARD_OP_REMOVE ? "to leave out"
                           : op->requested                    ? "asked for"
                                                              : "optional or default",
                           op->origin, op->name, op->name);
              return FALSE;
            }
        }
      if (op->kind == CBOX_FORWARD_OP_REMOVE)
        {
          /* Removing what is not there is not an error: the plugin may not
           * be built on this machine. */
          for (guint j = 0; j < members->len; j++)
            {
              CboxChosen *chosen
                  = cbox_planner_find_chosen (planner, g_ptr_array_index (members, j));
              if (chosen != NULL)
                g_ptr_array_remove (planner->chosen, chosen);
            }
          continue;
        }
      if (members->len == 0)
        {
          g_autofree char *why = cbox_planner_explain_unknown (planner, op->name);
          if (op->requested)
            {
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                           "Forwarder '%s' (from %s) cannot be used: %s", op->name, op->origin,
                           why);
              return FALSE;
            }
          cbox_plan_add_skipped (planner->plan, op->name, why);
          continue;
        }
      for (guint j = 0; j < members->len; j++)
        {
          CboxPluginInfo *info = g_ptr_array_index (members, j);
          CboxChosen *chosen = cbox_planner_find_chosen (planner, info);

          if (chosen == NULL)
            {
              chosen = g_new0 (CboxChosen, 1);
              chosen->info = info;
              chosen->desc = cbox_plugin_info_get_meta (info);
              chosen->aliases = g_ptr_array_new_with_free_func (g_free);
              chosen->origin = g_strdup (op->origin);
              g_ptr_array_add (planner->chosen, chosen);
            }
          if (op->requested)
            {
              if (members->len == 1)
                chosen->requested = TRUE;
              else if (!g_ptr_array_find_with_equal_func (chosen->aliases, op->name, g_str_equal,
                                                          NULL))
                g_ptr_array_add (chosen->aliases, g_strdup (op->name));
              g_free (chosen->origin);
              chosen->origin = g_strdup (op->origin);
            }
        }
    }
  return TRUE;
}

static gboolean
cbox_chosen_is_requested (CboxChosen *chosen)
{
  return chosen->requested || chosen->aliases->len > 0;
}

static gboolean
cbox_strv_contains0 (const char *const *strv, const char *str)
{
  return strv != NULL && g_strv_contains (strv, str);
}

static void
cbox_planner_drop (CboxPlanner *planner, CboxChosen *chosen, const char *reason)
{
  cbox_planner_log (planner, "forwarder %s skipped: %s", chosen->desc->name, reason);
  cbox_plan_add_skipped (planner->plan, chosen->desc->name, reason);
  chosen->dropped = TRUE;
  for (guint a = 0; a < chosen->aliases->len; a++)
    {
      const char *alias = g_ptr_array_index (chosen->aliases, a);
      GString *reasons = g_hash_table_lookup (planner->alias_reasons, alias);

      if (reasons == NULL)
        {
          reasons = g_string_new (NULL);
          g_hash_table_insert (planner->alias_reasons, g_strdup (alias), reasons);
        }
      g_string_append_printf (reasons, "\n  %s: %s", chosen->desc->name, reason);
    }
}

/* An alias of several plugins that was asked for fails when every member
 * the user did not leave out was dropped. */
static gboolean
cbox_planner_check_aliases (CboxPlanner *planner, CboxError code, GError **error)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, planner->alias_reasons);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const char *alias = key;
      gboolean any = FALSE;

      for (guint j = 0; j < planner->chosen->len && !any; j++)
        {
          CboxChosen *other = g_ptr_array_index (planner->chosen, j);
          if (!other->dropped
              && g_ptr_array_find_with_equal_func (other->aliases, alias, g_str_equal, NULL))
            any = TRUE;
        }
      if (!any)
        {
          g_set_error (error, CBOX_ERROR, code,
                       "Forwarder '%s' cannot be used, none of its plugins works here:%s", alias,
                       ((GString *)value)->str);
          return FALSE;
        }
    }
  return TRUE;
}

static void
cbox_planner_remove_dropped (CboxPlanner *planner)
{
  for (guint i = planner->chosen->len; i > 0; i--)
    {
      CboxChosen *chosen = g_ptr_array_index (planner->chosen, i - 1);
      if (chosen->dropped)
        g_ptr_array_remove_index (planner->chosen, i - 1);
    }
}

static gboolean
cbox_planner_check_conflicts (CboxPlanner *planner, GError **error)
{
  for (guint i = 0; i < planner->chosen->len; i++)
    for (guint j = i + 1; j < planner->chosen->len; j++)
      {
        CboxChosen *a = g_ptr_array_index (planner->chosen, i);
        CboxChosen *b = g_ptr_array_index (planner->chosen, j);
        g_autofree char *reason = NULL;

        if (a->dropped || b->dropped)
          continue;
        if (!cbox_strv_contains0 (a->desc->conflicts, b->desc->name)
            && !cbox_strv_contains0 (b->desc->conflicts, a->desc->name))
          continue;
        if (cbox_chosen_is_requested (a) && cbox_chosen_is_requested (b))
          {
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                         "Forwarders '%s' and '%s' cannot be used together; drop one with "
                         "--no-forward",
                         a->desc->name, b->desc->name);
            return FALSE;
          }
        /* Keep the one asked for; between two defaults, the first. */
        if (cbox_chosen_is_requested (b))
          {
            reason = g_strdup_printf ("conflicts with '%s'", b->desc->name);
            cbox_planner_drop (planner, a, reason);
          }
        else
          {
            reason = g_strdup_printf ("conflicts with '%s'", a->desc->name);
            cbox_planner_drop (planner, b, reason);
          }
      }
  cbox_planner_remove_dropped (planner);
  return TRUE;
}

static gboolean
cbox_planner_check_features (CboxPlanner *planner, GError **error)
{
  CboxFeatures offered = planner->backend_desc->features;

  for (guint i = 0; i < planner->chosen->len; i++)
    {
      CboxChosen *chosen = g_ptr_array_index (planner->chosen, i);
      CboxFeatures missing = chosen->desc->features & ~offered;
      g_autofree char *what = NULL;
      g_autofree char *reason = NULL;

      if (missing == 0)
        continue;
      what = cbox_features_describe_all (missing);
      reason = g_strdup_printf ("%s needs %s; backend %s cannot provide them", chosen->desc->name,
                                what, planner->backend_desc->name);
      if (chosen->requested)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                       "%s (pick another backend with --backend, or leave it out with "
                       "--no-forward=%s)",
                       reason, chosen->desc->name);
          return FALSE;
        }
      cbox_planner_drop (planner, chosen, reason);
    }
  if (!cbox_planner_check_aliases (planner, CBOX_ERROR_NOT_SUPPORTED, error))
    return FALSE;
  cbox_planner_remove_dropped (planner);
  return TRUE;
}

static gboolean
cbox_planner_probe_forwarders (CboxPlanner *planner, GError **error)
{
  for (guint i = 0; i < planner->chosen->len; i++)
    {
      CboxChosen *chosen = g_ptr_array_index (planner->chosen, i);
      g_autoptr (GError) local_error = NULL;
      CboxProbeStatus status;
      /* Chosen by what the descriptor says; loaded only now, so a run opens
       * just the plugins it uses (the rest stay described by the cache). */
      const CboxPluginDesc *desc = cbox_plugin_info_get_desc (chosen->info);

      if (desc == NULL)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                       "Forwarder '%s' cannot be used: %s",
                       cbox_plugin_info_get_name (chosen->info),
                       cbox_plugin_info_get_error (chosen->info)->message);
          return FALSE;
        }
      chosen->desc = desc;
      chosen->ctx = cbox_planner_make_context (planner, chosen->desc->name,
                                               cbox_chosen_is_requested (chosen));
      chosen->probe = cbox_probe_result_new ();
      {
        g_autoptr (GError) breach_error = NULL;
        gboolean breach = FALSE;
        gboolean ok;

        cbox_planner_enter_plugin (chosen->desc->name, "its probe", CBOX_PLUGIN_GUARD_TIMEOUT_S);
        ok = chosen->desc->forwarder->probe (chosen->ctx, chosen->probe, &local_error);
        if (!cbox_planner_leave_plugin_full ("Forwarder", chosen->desc->name, "its probe", ok,
                                             &local_error, &breach, &breach_error))
          {
            if (!breach)
              {
                g_propagate_error (error, g_steal_pointer (&breach_error));
                return FALSE;
              }
            /* A broken probe makes the forwarder unavailable: an error
             * below when it was asked for, left out when a default. */
            cbox_probe_result_set_status (chosen->probe, CBOX_PROBE_UNAVAILABLE, "%s",
                                          breach_error->message);
          }
      }
      status = cbox_probe_result_get_status (chosen->probe);
      chosen->available = status == CBOX_PROBE_AVAILABLE || status == CBOX_PROBE_DEGRADED;
      cbox_planner_log (planner, "forwarder %s: %s%s%s", chosen->desc->name,
                        cbox_probe_status_to_string (status),
                        cbox_probe_result_get_reason (chosen->probe) != NULL ? ": " : "",
                        cbox_probe_result_get_reason (chosen->probe) != NULL
                            ? cbox_probe_result_get_reason (chosen->probe)
                            : "");
    }

  for (guint i = 0; i < planner->chosen->len; i++)
    {
      CboxChosen *chosen = g_ptr_array_index (planner->chosen, i);
      const char *reason = cbox_probe_result_get_reason (chosen->probe);

      if (reason == NULL)
        reason = "its probe gave no reason";
      if (chosen->available)
        {
          if (cbox_probe_result_get_status (chosen->probe) == CBOX_PROBE_DEGRADED)
            {
              cbox_plan_set_origin (planner->plan, chosen->desc->name);
              cbox_plan_add_note (planner->plan, "degraded: %s", reason);
            }
          continue;
        }
      if (chosen->requested)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                       "Forwarder '%s' is unavailable: %s", chosen->desc->name, reason);
          return FALSE;
        }
      /* Asked for through an alias of several plugins ("display"): fine as
       * long as one of them works (checked below). */
      cbox_planner_drop (planner, chosen, reason);
    }
  if (!cbox_planner_check_aliases (planner, CBOX_ERROR_UNAVAILABLE, error))
    return FALSE;
  cbox_planner_remove_dropped (planner);
  return TRUE;
}

/* Stable topological order by the `after` hints: among the forwarders
 * whose predecessors are placed, the one that came first goes next. A
 * cycle is broken at the first forwarder left, with a note. */
static void
cbox_planner_order (CboxPlanner *planner)
{
  guint n = planner->chosen->len;
  g_autofree gboolean *placed = g_new0 (gboolean, n);
  g_autoptr (GPtrArray) order = g_ptr_array_new ();

  while (order->len < n)
    {
      guint pick = n;

      for (guint i = 0; i < n && pick == n; i++)
        {
          CboxChosen *chosen = g_ptr_array_index (planner->chosen, i);
          gboolean ready = TRUE;

          if (placed[i])
            continue;
          for (guint j = 0; j < n && ready; j++)
            {
              CboxChosen *other = g_ptr_array_index (planner->chosen, j);
              if (!placed[j] && j != i
                  && cbox_strv_contains0 (chosen->desc->after, other->desc->name))
                ready = FALSE;
            }
          if (ready)
            pick = i;
        }
      if (pick == n)
        {
          for (guint i = 0; i < n && pick == n; i++)
            if (!placed[i])
              pick = i;
          cbox_plan_set_origin (planner->plan, "core");
          cbox_plan_add_note (
              planner->plan, "the 'after' hints of %s form a cycle; kept the given order",
              ((CboxChosen *)g_ptr_array_index (planner->chosen, pick))->desc->name);
        }
      placed[pick] = TRUE;
      g_ptr_array_add (order, g_ptr_array_index (planner->chosen, pick));
    }

  /* Move the entries over without freeing them. */
  g_ptr_array_set_free_func (planner->chosen, NULL);
  g_ptr_array_set_size (planner->chosen, 0);
  g_ptr_array_set_free_func (planner->chosen, (GDestroyNotify)cbox_chosen_free);
  for (guint i = 0; i < order->len; i++)
    g_ptr_array_add (planner->chosen, g_ptr_array_index (order, i));
}

static gboolean
cbox_planner_add_user_items (CboxPlanner *planner, GError **error)
{
  CboxRequest *request = planner->request;

  for (guint i = 0; i < request->binds->len; i++)
    {
      CboxBindRequest *bind = g_ptr_array_index (request->binds, i);
      CboxMountFlags flags
          = bind->allow_missing ? CBOX_MOUNT_FLAG_ALLOW_MISSING : CBOX_MOUNT_FLAG_NONE;

      cbox_plan_set_origin (planner->plan, bind->origin);
      if (bind->link != NULL)
        {
          g_autofree char *link = g_strescape (bind->link, NULL);
          g_autofree char *target = g_strescape (bind->src, NULL);
          cbox_plan_add_note (planner->plan, "%s: %s is a symbolic link to %s, which is bound",
                              bind->kind == CBOX_BIND_RO   ? "ro-bind"
                              : bind->kind == CBOX_BIND_RW ? "bind"
                                                           : "copy",
                              link, target);
        }
      switch (bind->kind)
        {
        case CBOX_BIND_RO:
          cbox_plan_add_bind_ro (planner->plan, bind->src, bind->dest, flags);
          break;
        case CBOX_BIND_RW:
          cbox_plan_add_bind_rw (planner->plan, bind->src, bind->dest, flags);
          break;
        case CBOX_BIND_COPY:
          if (!cbox_plan_add_copy (planner->plan, bind->src, bind->dest, flags, error))
            {
              /* A copy is of one file; a folder is what --ro-bind is for. */
              if (error != NULL && *error != NULL && g_file_test (bind->src, G_FILE_TEST_IS_DIR))
                {
                  g_autofree char *message = g_strdup ((*error)->message);
                  g_clear_error (error);
                  g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                               "%s; --copy takes a file: for a folder use --ro-bind=%s (read-only) "
                               "or --bind=%s",
                               message, bind->src, bind->src);
                }
              g_prefix_error (error, "--copy (from %s): ", bind->origin);
              if (error != NULL && *error != NULL && (*error)->domain != CBOX_ERROR)
                {
                  (*error)->domain = CBOX_ERROR;
                  (*error)->code = CBOX_ERROR_INVALID_ARGUMENT;
                }
              return FALSE;
            }
          break;
        default:
          g_assert_not_reached ();
        }
    }

  /* A folder of which the sandbox sees only this project's entry: the
   * transcripts of the user's other projects under ~/.claude/projects
   * stay out of reach (and out of an injected prompt's reach). */
  for (guint i = 0; i < request->project_folders->len; i++)
    {
      CboxPathRequest *folder = g_ptr_array_index (request->project_folders, i);
      g_autofree char *name = cbox_planner_project_folder_name (request->project_dir);

      cbox_plan_set_origin (planner->plan, folder->origin);
      cbox_plan_add_tmpfs (planner->plan, folder->path, 0700);
      if (name != NULL)
        {
          g_autofree char *own = g_build_filename (folder->path, name, NULL);
          cbox_plan_add_bind_rw (planner->plan, own, own, CBOX_MOUNT_FLAG_ALLOW_MISSING);
        }
      else
        cbox_plan_add_note (planner->plan,
                            "%s: this project's name there would be over 200 characters; "
                            "nothing of it is kept",
                            folder->path);
    }

  for (guint i = 0; i < request->env->len; i++)
    {
      CboxEnvRequest *env = g_ptr_array_index (request->env, i);
      const char *value = env->value;

      cbox_plan_set_origin (planner->plan, env->origin);
      if (value == NULL)
        value = cbox_host_getenv_nonempty (planner->host, env->name);
      if (value != NULL)
        cbox_plan_set_env (planner->plan, env->name, value);
    }
  return TRUE;
}

/* The first item from mount @first_mount and helper @first_helper on that
 * the backend cannot realize, as a reason ("ssh needs unix-socket binds
 * (socket /run/user/1000/ssh-agent); backend qemu cannot provide them"),
 * or NULL. */
static char *
cbox_planner_check_items (CboxPlanner *planner, guint first_mount, guint first_helper)
{
  CboxFeatures offered = planner->backend_desc->features;

  for (guint i = first_mount; i < cbox_plan_get_n_mounts (planner->plan); i++)
    {
      const CboxMount *mount = cbox_plan_get_mount (planner->plan, i);
      CboxFeatures needed = cbox_mount_kind_feature (mount->kind);

      if ((needed & ~offered) != 0)
        return g_strdup_printf ("%s needs %s (%s %s); backend %s cannot provide them",
                                mount->origin, cbox_feature_describe (needed),
                                cbox_mount_kind_to_string (mount->kind), mount->dest,
                                planner->backend_desc->name);
    }
  for (guint i = first_helper; i < cbox_plan_get_n_helpers (planner->plan); i++)
    {
      const CboxHelper *helper = cbox_plan_get_helper (planner->plan, i);
      if (!(offered & CBOX_FEATURE_HELPER))
        return g_strdup_printf ("%s needs %s (%s); backend %s cannot provide them", helper->origin,
                                cbox_feature_describe (CBOX_FEATURE_HELPER), helper->name,
                                planner->backend_desc->name);
    }
  return NULL;
}

/* Every item of the finished plan once more against what the backend can
 * realize: a forwarder may add more than it declared. */
static gboolean
cbox_planner_check_plan (CboxPlanner *planner, GError **error)
{
  g_autofree char *cannot = NULL;

  /* --network=host only where the backend can share the host's network
   * namespace; never a quiet change to another mode. */
  if (cbox_plan_get_network_mode (planner->plan) == CBOX_NETWORK_HOST
      && !(planner->backend_desc->features & CBOX_FEATURE_HOST_NET))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                   "--network=host: backend %s cannot share the host's network namespace; use "
                   "--network=on or --network=off",
                   planner->backend_desc->name);
      return FALSE;
    }
  cannot = cbox_planner_check_items (planner, 0, 0);
  if (cannot != NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED, "%s", cannot);
      return FALSE;
    }
  return TRUE;
}

gboolean
cbox_planner_build (CboxPlanner *planner, GError **error)
{
  CboxRequest *request = planner->request;
  g_autoptr (GError) local_error = NULL;

  g_return_val_if_fail (planner != NULL && !planner->built, FALSE);
  g_return_val_if_fail (request->command != NULL && request->project_dir != NULL, FALSE);

  /* Before anything starts: a refused project stops here. */
  cbox_plan_set_origin (planner->plan, "core");
  if (!cbox_project_check_allowed (planner->host, request->project_dir, request->allow_projects,
                                   planner->plan, error))
    return FALSE;
  if (!cbox_planner_select_backend (planner, error))
    return FALSE;
  cbox_planner_prestart (planner);
  if (!cbox_planner_resolve_forwarders (planner, error)
      || !cbox_planner_check_conflicts (planner, error)
      || !cbox_planner_check_features (planner, error)
      || !cbox_planner_probe_forwarders (planner, error))
    return FALSE;
  cbox_planner_order (planner);

  /* A plugin of CBOX_PLUGIN_PATH that replaces an installed one is
   * allowed (a developer's build), never silent. */
  cbox_plan_set_origin (planner->plan, "core");
  {
    CboxPluginInfo *backend_info
        = cbox_registry_lookup (planner->registry, planner->backend_desc->name);
    if (backend_info != NULL && cbox_plugin_info_get_overrides (backend_info) != NULL)
      cbox_plan_add_note (planner->plan, "backend '%s' comes from %s, in place of %s",
                          planner->backend_desc->name, cbox_plugin_info_get_path (backend_info),
                          cbox_plugin_info_get_overrides (backend_info));
  }
  for (guint i = 0; i < planner->chosen->len; i++)
    {
      CboxChosen *chosen = g_ptr_array_index (planner->chosen, i);
      if (cbox_plugin_info_get_overrides (chosen->info) != NULL)
        cbox_plan_add_note (planner->plan, "forwarder '%s' comes from %s, in place of %s",
                            chosen->desc->name, cbox_plugin_info_get_path (chosen->info),
                            cbox_plugin_info_get_overrides (chosen->info));
    }

  cbox_plan_set_origin (planner->plan, "core");
  cbox_plan_set_command (planner->plan, (const char *const *)request->command);
  cbox_plan_set_network_mode (planner->plan, request->network);
  if (!cbox_net_plan_publish (planner->plan,
                              (const CboxPublishedPort *)(gpointer)request->publish->data,
                              request->publish->len, error))
    return FALSE;
  if (!cbox_net_plan_fill (planner->plan, request->config, planner->host, request->project_dir,
                           error))
    return FALSE;
  cbox_plan_set_allow_userns (planner->plan, request->allow_userns);
  if (!cbox_base_plan_fill_system (planner->plan, planner->host, request->usr_dir, error))
    return FALSE;
  /* The project's persisted folders: over the base plan, under what
   * forwarders and the user add. */
  cbox_plan_set_origin (planner->plan, "project");
  if (!cbox_project_add_to_plan (planner->plan, planner->host, request->config,
                                 request->project_dir, error))
    return FALSE;

  for (guint i = 0; i < planner->chosen->len; i++)
    {
      CboxChosen *chosen = g_ptr_array_index (planner->chosen, i);
      g_auto (CboxPlanMark) mark = { 0 };
      g_autofree char *cannot = NULL;

      cbox_plan_mark (planner->plan, &mark);
      cbox_plan_set_origin (planner->plan, chosen->desc->name);
      {
        gboolean ok;
        cbox_planner_enter_plugin (chosen->desc->name, "its contribute",
                                   CBOX_PLUGIN_GUARD_TIMEOUT_S);
        g_autoptr (GError) breach_error = NULL;
        gboolean breach = FALSE;

        ok = chosen->desc->forwarder->contribute (chosen->ctx, planner->plan, &local_error);
        /* A contribute that broke the contract (the plan API refused part
         * of what it gave): what it added is taken back out, and it is
         * left out as an unavailable forwarder is; asked for, the plan
         * stops. */
        if (!cbox_planner_leave_plugin_full ("Forwarder", chosen->desc->name, "its contribute", ok,
                                             &local_error, &breach, &breach_error))
          {
            if (!breach || cbox_chosen_is_requested (chosen))
              {
                g_propagate_error (error, g_steal_pointer (&breach_error));
                return FALSE;
              }
            cbox_plan_rollback (planner->plan, &mark);
            cbox_planner_drop (planner, chosen, breach_error->message);
            continue;
          }
      }
      /* Optional means optional: a forwarder that was not asked for (a
       * default, forward-optional) and added what the backend cannot
       * carry (the ssh agent's socket, for qemu) is left out with the
       * reason, as an unavailable one is, whatever its declared features
       * promised. One that was asked for fails in cbox_planner_check_plan()
       * below with the same sentence. */
      cannot = cbox_planner_check_items (planner, mark.n_mounts, mark.n_helpers);
      if (cannot != NULL && !chosen->requested)
        {
          cbox_plan_rollback (planner->plan, &mark);
          cbox_planner_drop (planner, chosen, cannot);
          continue;
        }
      cbox_plan_add_forwarder (planner->plan, chosen->desc->name);
    }
  if (!cbox_planner_check_aliases (planner, CBOX_ERROR_NOT_SUPPORTED, error))
    return FALSE;
  cbox_planner_remove_dropped (planner);

  if (!cbox_planner_add_user_items (planner, error))
    return FALSE;
  cbox_plan_set_origin (planner->plan, "core");
  if (!cbox_base_plan_add_project (planner->plan, planner->host, request->project_dir, error))
    return FALSE;
  /* Last: what host tools run from the writable binds stays read-only
   * over them (docs/security.md, "Protected paths"). */
  if (request->will_run && !cbox_planner_make_dirs (planner, error))
    return FALSE;
  planner->protect = cbox_protect_apply (planner->plan, planner->host, request->protect_ops, error);
  if (planner->protect == NULL)
    return FALSE;
  if (!cbox_project_check_persisted (planner->plan, error))
    return FALSE;
  if (!cbox_planner_check_plan (planner, error))
    return FALSE;

  cbox_plan_set_origin (planner->plan, planner->backend_desc->name);
  {
    gboolean ok;
    cbox_planner_enter_plugin (planner->backend_desc->name, "its realize",
                               CBOX_PLUGIN_GUARD_TIMEOUT_S);
    ok = planner->backend_desc->backend->realize (planner->backend_ctx, planner->plan,
                                                  planner->launch, &local_error);
    if (!cbox_planner_leave_plugin ("Backend", planner->backend_desc->name, "its realize", ok,
                                    &local_error, error))
      return FALSE;
  }
  planner->built = TRUE;
  cbox_planner_log (planner, "plan ready: %u mounts, %u variables, %u helpers",
                    cbox_plan_get_n_mounts (planner->plan), cbox_plan_get_n_env (planner->plan),
                    cbox_plan_get_n_helpers (planner->plan));
  return TRUE;
}

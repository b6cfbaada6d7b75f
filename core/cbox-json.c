/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "cbox-json.h"

/* Adds member @name with @value; a value that is not UTF-8 gets its invalid
 * bytes replaced by U+FFFD and the exact bytes in "@name_base64". */
static void
cbox_json_add_string (JsonBuilder *builder, const char *name, const char *value)
{
  json_builder_set_member_name (builder, name);
  if (value == NULL)
    {
      json_builder_add_null_value (builder);
      return;
    }
  if (g_utf8_validate (value, -1, NULL))
    {
      json_builder_add_string_value (builder, value);
      return;
    }
  /* JSON text is UTF-8; paths need not be. A reader gets a readable
   * string and, beside it, the exact bytes. */
  {
    g_autofree char *valid = g_utf8_make_valid (value, -1);
    g_autofree char *encoded = g_base64_encode ((const guchar *)value, strlen (value));
    g_autofree char *name_base64 = g_strconcat (name, "_base64", NULL);

    json_builder_add_string_value (builder, valid);
    json_builder_set_member_name (builder, name_base64);
    json_builder_add_string_value (builder, encoded);
  }
}

static void
cbox_json_add_strv (JsonBuilder *builder, const char *name, const char *const *strv)
{
  gboolean all_valid = TRUE;

  json_builder_set_member_name (builder, name);
  if (strv == NULL)
    {
      json_builder_add_null_value (builder);
      return;
    }
  json_builder_begin_array (builder);
  for (guint i = 0; strv[i] != NULL; i++)
    {
      if (g_utf8_validate (strv[i], -1, NULL))
        json_builder_add_string_value (builder, strv[i]);
      else
        {
          g_autofree char *valid = g_utf8_make_valid (strv[i], -1);
          json_builder_add_string_value (builder, valid);
          all_valid = FALSE;
        }
    }
  json_builder_end_array (builder);
  if (!all_valid)
    {
      g_autofree char *name_base64 = g_strconcat (name, "_base64", NULL);
      json_builder_set_member_name (builder, name_base64);
      json_builder_begin_array (builder);
      for (guint i = 0; strv[i] != NULL; i++)
        {
          g_autofree char *encoded = g_base64_encode ((const guchar *)strv[i], strlen (strv[i]));
          json_builder_add_string_value (builder, encoded);
        }
      json_builder_end_array (builder);
    }
}

static void
cbox_json_add_features (JsonBuilder *builder, const char *name, CboxFeatures features)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_array (builder);
  for (guint bit = 0; bit < 32; bit++)
    {
      const char *text;
      if (!(features & (1u << bit)))
        continue;
      text = cbox_feature_to_string ((CboxFeatures)(1u << bit));
      if (text != NULL)
        json_builder_add_string_value (builder, text);
    }
  json_builder_end_array (builder);
}

/* The builder's document as text, pretty-printed, with a final newline. */
static char *
cbox_json_finish (JsonBuilder *builder)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  g_autofree char *text = NULL;

  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, NULL);
  return g_strconcat (text, "\n", NULL);
}

static void
cbox_json_add_mount (JsonBuilder *builder, const CboxMount *mount, CboxJsonFlags flags)
{
  json_builder_begin_object (builder);
  cbox_json_add_string (builder, "kind", cbox_mount_kind_to_string (mount->kind));
  cbox_json_add_string (builder, "dest", mount->dest);
  if (mount->src != NULL)
    cbox_json_add_string (builder, "src", mount->src);
  if (mount->kind == CBOX_MOUNT_TMPFS || mount->kind == CBOX_MOUNT_DIR
      || mount->kind == CBOX_MOUNT_DATA)
    {
      g_autofree char *mode = g_strdup_printf ("%04o", (unsigned)mount->mode);
      cbox_json_add_string (builder, "mode", mode);
    }
  json_builder_set_member_name (builder, "flags");
  json_builder_begin_array (builder);
  if (mount->flags & CBOX_MOUNT_FLAG_ALLOW_MISSING)
    json_builder_add_string_value (builder, "allow-missing");
  if (mount->flags & CBOX_MOUNT_FLAG_WRITABLE)
    json_builder_add_string_value (builder, "writable");
  json_builder_end_array (builder);
  if (mount->kind == CBOX_MOUNT_DATA && mount->fd >= 0)
    {
      g_autoptr (GBytes) content = cbox_memfd_read (mount->fd, NULL);
      gsize len;

      /* Unreadable (it never is, being the plan's own memfd): shown empty. */
      if (content == NULL)
        content = g_bytes_new (NULL, 0);
      const char *data = g_bytes_get_data (content, &len);

      json_builder_set_member_name (builder, "size");
      json_builder_add_int_value (builder, (gint64)len);
      if (flags & CBOX_JSON_DATA)
        {
          if (len == 0
              || (g_utf8_validate (data, (gssize)len, NULL) && memchr (data, 0, len) == NULL))
            {
              g_autofree char *text = g_strndup (data != NULL ? data : "", len);
              cbox_json_add_string (builder, "content", text);
            }
          else
            {
              g_autofree char *encoded = g_base64_encode ((const guchar *)data, len);
              cbox_json_add_string (builder, "content_base64", encoded);
            }
        }
    }
  cbox_json_add_string (builder, "origin", mount->origin);
  json_builder_end_object (builder);
}

static const char *
cbox_helper_ready_to_string (CboxHelperReady ready)
{
  switch (ready)
    {
    case CBOX_HELPER_READY_PATH:
      return "path";
    case CBOX_HELPER_READY_SYNC_FD:
      return "sync-fd";
    case CBOX_HELPER_READY_NONE:
    default:
      return "none";
    }
}

char *
cbox_json_plan (CboxPlan *plan, CboxContext *backend_ctx, CboxLaunch *launch, CboxJsonFlags flags)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  cbox_json_add_string (builder, "schema", "cbox-plan");
  json_builder_set_member_name (builder, "version");
  json_builder_add_int_value (builder, CBOX_JSON_VERSION);
  cbox_json_add_string (builder, "cbox_version", PACKAGE_VERSION);

  json_builder_set_member_name (builder, "backend");
  json_builder_begin_object (builder);
  cbox_json_add_string (builder, "name",
                        backend_ctx != NULL ? cbox_context_get_backend (backend_ctx) : NULL);
  cbox_json_add_features (builder, "features",
                          backend_ctx != NULL ? cbox_context_get_backend_features (backend_ctx)
                                              : 0);
  json_builder_end_object (builder);

  cbox_json_add_string (builder, "profile",
                        backend_ctx != NULL ? cbox_context_get_profile (backend_ctx) : NULL);
  cbox_json_add_string (builder, "instance_id",
                        backend_ctx != NULL ? cbox_context_get_instance_id (backend_ctx) : NULL);
  json_builder_set_member_name (builder, "network");
  json_builder_add_boolean_value (builder, cbox_plan_get_network (plan));
  json_builder_set_member_name (builder, "network_mode");
  json_builder_add_string_value (builder,
                                 cbox_network_mode_to_string (cbox_plan_get_network_mode (plan)));
  json_builder_set_member_name (builder, "publish");
  json_builder_begin_array (builder);
  {
    guint n_ports = 0;
    const CboxPublishedPort *ports = cbox_plan_get_published_ports (plan, &n_ports);
    for (guint i = 0; i < n_ports; i++)
      {
        json_builder_begin_object (builder);
        cbox_json_add_string (builder, "protocol", "tcp");
        cbox_json_add_string (builder, "host_address", "127.0.0.1");
        json_builder_set_member_name (builder, "host_port");
        json_builder_add_int_value (builder, ports[i].host_port);
        json_builder_set_member_name (builder, "sandbox_port");
        json_builder_add_int_value (builder, ports[i].sandbox_port);
        json_builder_end_object (builder);
      }
  }
  json_builder_end_array (builder);
  cbox_json_add_strv (builder, "network_allow", cbox_plan_get_network_allow (plan));
  cbox_json_add_strv (builder, "network_deny", cbox_plan_get_network_deny (plan));
  json_builder_set_member_name (builder, "seccomp");
  json_builder_begin_object (builder);
  cbox_json_add_string (builder, "filter", CBOX_SECCOMP_FILTER_NAME);
  cbox_json_add_string (builder, "refuses", CBOX_SECCOMP_FILTER_SUMMARY);
  json_builder_set_member_name (builder, "allow_userns");
  json_builder_add_boolean_value (builder, cbox_plan_get_allow_userns (plan));
  cbox_json_add_strv (builder, "exceptions", cbox_plan_get_seccomp_exceptions (plan));
  json_builder_end_object (builder);
  cbox_json_add_strv (builder, "command", cbox_plan_get_command (plan));
  cbox_json_add_string (builder, "cwd", cbox_plan_get_cwd (plan));
  cbox_json_add_string (builder, "hostname", cbox_plan_get_hostname (plan));

  json_builder_set_member_name (builder, "user");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "uid");
  json_builder_add_int_value (builder, cbox_plan_get_uid (plan));
  json_builder_set_member_name (builder, "gid");
  json_builder_add_int_value (builder, cbox_plan_get_gid (plan));
  cbox_json_add_string (builder, "name", cbox_plan_get_user_name (plan));
  cbox_json_add_string (builder, "home", cbox_plan_get_home_dir (plan));
  cbox_json_add_string (builder, "runtime_dir", cbox_plan_get_runtime_dir (plan));
  json_builder_end_object (builder);

  cbox_json_add_strv (builder, "forwarders", cbox_plan_get_forwarders (plan));

  json_builder_set_member_name (builder, "skipped");
  json_builder_begin_array (builder);
  for (guint i = 0; i < cbox_plan_get_n_skipped (plan); i++)
    {
      const char *reason = NULL;
      const char *name = cbox_plan_get_skipped (plan, i, &reason);
      json_builder_begin_object (builder);
      cbox_json_add_string (builder, "name", name);
      cbox_json_add_string (builder, "reason", reason);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  json_builder_set_member_name (builder, "mounts");
  json_builder_begin_array (builder);
  for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
    cbox_json_add_mount (builder, cbox_plan_get_mount (plan, i), flags);
  json_builder_end_array (builder);

  json_builder_set_member_name (builder, "protected");
  json_builder_begin_array (builder);
  for (guint i = 0; i < cbox_plan_get_n_protected_paths (plan); i++)
    {
      const CboxProtectedPath *item = cbox_plan_get_protected_path (plan, i);
      json_builder_begin_object (builder);
      cbox_json_add_string (builder, "path", item->path);
      cbox_json_add_string (builder, "host_path", item->host_path);
      cbox_json_add_string (builder, "entry", item->entry);
      cbox_json_add_string (builder, "how", cbox_protected_how_to_string (item->how));
      cbox_json_add_string (builder, "origin", item->origin);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  json_builder_set_member_name (builder, "environment");
  json_builder_begin_array (builder);
  for (guint i = 0; i < cbox_plan_get_n_env (plan); i++)
    {
      const CboxEnvVar *var = cbox_plan_get_env_var (plan, i);
      json_builder_begin_object (builder);
      cbox_json_add_string (builder, "name", var->name);
      cbox_json_add_string (builder, "value", var->value);
      cbox_json_add_string (builder, "origin", var->origin);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  json_builder_set_member_name (builder, "helpers");
  json_builder_begin_array (builder);
  for (guint i = 0; i < cbox_plan_get_n_helpers (plan); i++)
    {
      const CboxHelper *helper = cbox_plan_get_helper (plan, i);
      json_builder_begin_object (builder);
      cbox_json_add_string (builder, "name", helper->name);
      cbox_json_add_strv (builder, "argv", (const char *const *)helper->argv);
      cbox_json_add_string (builder, "ready", cbox_helper_ready_to_string (helper->ready));
      cbox_json_add_string (builder, "ready_path", helper->ready_path);
      cbox_json_add_string (builder, "origin", helper->origin);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  json_builder_set_member_name (builder, "notes");
  json_builder_begin_array (builder);
  for (guint i = 0; i < cbox_plan_get_n_notes (plan); i++)
    {
      const char *origin = NULL;
      const char *text = cbox_plan_get_note (plan, i, &origin);
      json_builder_begin_object (builder);
      cbox_json_add_string (builder, "origin", origin);
      cbox_json_add_string (builder, "text", text);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  cbox_json_add_strv (builder, "command_line",
                      launch != NULL ? cbox_launch_get_argv (launch) : NULL);
  json_builder_end_object (builder);
  return cbox_json_finish (builder);
}

char *
cbox_json_plugins (CboxRegistry *registry)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  cbox_json_add_string (builder, "schema", "cbox-plugins");
  json_builder_set_member_name (builder, "version");
  json_builder_add_int_value (builder, CBOX_JSON_VERSION);
  json_builder_set_member_name (builder, "plugins");
  json_builder_begin_array (builder);
  for (guint i = 0; i < cbox_registry_get_n_plugins (registry); i++)
    {
      CboxPluginInfo *info = cbox_registry_get_plugin (registry, i);
      const CboxPluginDesc *desc = cbox_plugin_info_get_desc (info);
      gboolean accepted = cbox_plugin_info_is_accepted (info);

      json_builder_begin_object (builder);
      cbox_json_add_string (builder, "name", cbox_plugin_info_get_name (info));
      cbox_json_add_string (builder, "path", cbox_plugin_info_get_path (info));
      json_builder_set_member_name (builder, "accepted");
      json_builder_add_boolean_value (builder, accepted);
      if (accepted && desc != NULL)
        {
          const char *const *lists[] = { desc->aliases, desc->after, desc->conflicts };
          const char *names[] = { "aliases", "after", "conflicts" };

          cbox_json_add_string (builder, "kind", cbox_plugin_kind_to_string (desc->kind));
          cbox_json_add_string (builder, "version", desc->version);
          cbox_json_add_string (builder, "description", desc->description);
          for (guint l = 0; l < G_N_ELEMENTS (lists); l++)
            cbox_json_add_strv (builder, names[l],
                                lists[l] != NULL ? lists[l] : (const char *const[]){ NULL });
          cbox_json_add_features (builder, "features", desc->features);
          if (desc->kind == CBOX_PLUGIN_KIND_FORWARDER)
            {
              json_builder_set_member_name (builder, "default_enabled");
              json_builder_add_boolean_value (builder, desc->default_enabled);
            }
          /* The file this one replaces (the same name later on the search
           * path), as the text output's "note: replaces". */
          if (cbox_plugin_info_get_overrides (info) != NULL)
            cbox_json_add_string (builder, "overrides", cbox_plugin_info_get_overrides (info));
        }
      else
        {
          const GError *plugin_error = cbox_plugin_info_get_error (info);
          int code = plugin_error != NULL ? plugin_error->code : -1;

          cbox_json_add_string (builder, "error",
                                plugin_error != NULL ? plugin_error->message : NULL);
          json_builder_set_member_name (builder, "error_code");
          json_builder_add_int_value (builder, code);
          cbox_json_add_string (builder, "error_kind", cbox_plugin_error_code_to_string (code));
        }
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  return cbox_json_finish (builder);
}

char *
cbox_json_doctor (CboxDoctorReport *report, const CboxHost *host)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  cbox_json_add_string (builder, "schema", "cbox-doctor");
  json_builder_set_member_name (builder, "version");
  json_builder_add_int_value (builder, CBOX_JSON_VERSION);
  cbox_json_add_string (builder, "cbox_version", PACKAGE_VERSION);

  json_builder_set_member_name (builder, "host");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "uid");
  json_builder_add_int_value (builder, cbox_host_get_uid (host));
  json_builder_set_member_name (builder, "gid");
  json_builder_add_int_value (builder, cbox_host_get_gid (host));
  cbox_json_add_string (builder, "user", cbox_host_get_user_name (host));
  cbox_json_add_string (builder, "home", cbox_host_get_home_dir (host));
  cbox_json_add_string (builder, "runtime_dir", cbox_host_get_runtime_dir (host));
  json_builder_set_member_name (builder, "nixos");
  json_builder_add_boolean_value (builder, cbox_host_is_nixos (host));
  json_builder_end_object (builder);

  cbox_json_add_string (builder, "backend", report->backend);
  cbox_json_add_string (builder, "profile", report->profile);
  cbox_json_add_string (builder, "network", cbox_network_mode_to_string (report->network));
  cbox_json_add_string (builder, "network_problem", report->network_problem);
  json_builder_set_member_name (builder, "landlock_abi");
  json_builder_add_int_value (builder, report->landlock_abi);
  json_builder_set_member_name (builder, "abstract_socket_scope");
  json_builder_add_boolean_value (builder, report->landlock_abi >= 6);
  /* Seconds the project's shared network outlives its last run; 0: a
   * helper per run; null: no shared network (another mode or backend). */
  json_builder_set_member_name (builder, "network_keep");
  if (report->network_keep >= 0)
    json_builder_add_int_value (builder, report->network_keep);
  else
    json_builder_add_null_value (builder);

  json_builder_set_member_name (builder, "plugins");
  json_builder_begin_array (builder);
  for (guint i = 0; i < report->entries->len; i++)
    {
      CboxDoctorEntry *entry = g_ptr_array_index (report->entries, i);

      json_builder_begin_object (builder);
      cbox_json_add_string (builder, "name", entry->name);
      cbox_json_add_string (builder, "kind", cbox_plugin_kind_to_string (entry->kind));
      cbox_json_add_string (builder, "version", entry->version);
      cbox_json_add_string (builder, "status", cbox_probe_status_to_string (entry->status));
      cbox_json_add_string (builder, "reason", entry->reason);
      json_builder_set_member_name (builder, "rejected");
      json_builder_add_boolean_value (builder, entry->rejected);
      json_builder_set_member_name (builder, "details");
      json_builder_begin_object (builder);
      for (guint d = 0; entry->details[d] != NULL && entry->details[d + 1] != NULL; d += 2)
        cbox_json_add_string (builder, entry->details[d], entry->details[d + 1]);
      json_builder_end_object (builder);
      if (entry->checked_backend)
        {
          json_builder_set_member_name (builder, "backend_compatible");
          json_builder_add_boolean_value (builder, entry->backend_compatible);
          cbox_json_add_string (builder, "backend_incompatibility", entry->incompatibility);
        }
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  return cbox_json_finish (builder);
}

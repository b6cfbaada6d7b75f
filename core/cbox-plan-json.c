/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cbox-planner.h"

void
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
    g_autofree char *encoded = g_base64_encode ((const guchar *) value, strlen (value));
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
          g_autofree char *encoded = g_base64_encode ((const guchar *) strv[i], strlen (strv[i]));
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
      text = cbox_feature_to_string ((CboxFeatures) (1u << bit));
      if (text != NULL)
        json_builder_add_string_value (builder, text);
    }
  json_builder_end_array (builder);
}

/* The content of a sealed memfd, read without moving its offset. */
static GBytes *
cbox_json_read_fd (int fd)
{
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  guint8 buffer[8192];
  off_t offset = 0;

  for (;;)
    {
      ssize_t n = pread (fd, buffer, sizeof buffer, offset);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      g_byte_array_append (bytes, buffer, (guint) n);
      offset += n;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&bytes));
}

static void
cbox_json_add_mount (JsonBuilder *builder, const CboxMount *mount, CboxPlanJsonFlags flags)
{
  json_builder_begin_object (builder);
  cbox_json_add_string (builder, "kind", cbox_mount_kind_to_string (mount->kind));
  cbox_json_add_string (builder, "dest", mount->dest);
  if (mount->src != NULL)
    cbox_json_add_string (builder, "src", mount->src);
  if (mount->kind == CBOX_MOUNT_TMPFS || mount->kind == CBOX_MOUNT_DIR || mount->kind == CBOX_MOUNT_DATA)
    {
      g_autofree char *mode = g_strdup_printf ("%04o", (unsigned) mount->mode);
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
      g_autoptr (GBytes) content = cbox_json_read_fd (mount->fd);
      gsize len;
      const char *data = g_bytes_get_data (content, &len);

      json_builder_set_member_name (builder, "size");
      json_builder_add_int_value (builder, (gint64) len);
      if (flags & CBOX_PLAN_JSON_DATA)
        {
          if (len == 0 || (g_utf8_validate (data, (gssize) len, NULL) && memchr (data, 0, len) == NULL))
            {
              g_autofree char *text = g_strndup (data != NULL ? data : "", len);
              cbox_json_add_string (builder, "content", text);
            }
          else
            {
              g_autofree char *encoded = g_base64_encode ((const guchar *) data, len);
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

JsonNode *
cbox_plan_to_json (CboxPlan *plan, CboxContext *backend_ctx, CboxLaunch *launch,
                   CboxPlanJsonFlags flags)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  cbox_json_add_string (builder, "schema", "cbox-plan");
  json_builder_set_member_name (builder, "version");
  json_builder_add_int_value (builder, CBOX_PLAN_JSON_VERSION);
  cbox_json_add_string (builder, "cbox_version", PACKAGE_VERSION);

  json_builder_set_member_name (builder, "backend");
  json_builder_begin_object (builder);
  cbox_json_add_string (builder, "name", backend_ctx != NULL ? cbox_context_get_backend (backend_ctx) : NULL);
  cbox_json_add_features (builder, "features",
                          backend_ctx != NULL ? cbox_context_get_backend_features (backend_ctx) : 0);
  json_builder_end_object (builder);

  cbox_json_add_string (builder, "profile", backend_ctx != NULL ? cbox_context_get_profile (backend_ctx) : NULL);
  cbox_json_add_string (builder, "instance_id",
                        backend_ctx != NULL ? cbox_context_get_instance_id (backend_ctx) : NULL);
  json_builder_set_member_name (builder, "network");
  json_builder_add_boolean_value (builder, cbox_plan_get_network (plan));
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
      cbox_json_add_strv (builder, "argv", (const char *const *) helper->argv);
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

  cbox_json_add_strv (builder, "command_line", launch != NULL ? cbox_launch_get_argv (launch) : NULL);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

char *
cbox_json_to_string (JsonNode *node)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  json_generator_set_root (generator, node);
  text = json_generator_to_data (generator, NULL);
  return g_strconcat (text, "\n", NULL);
}

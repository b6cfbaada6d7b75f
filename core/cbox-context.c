/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "cbox-private.h"

struct _CboxContext
{
  CboxHost *host;
  GKeyFile *config;
  char *plugin_name;
  char *profile;
  char *instance_id;
  char *backend;
  CboxFeatures backend_features;
  CboxNetworkMode network;
  gboolean verbose;
  gboolean requested;
  char *libexec_dir;
  char *project_dir;
  gpointer data;
  GDestroyNotify data_destroy;
  pid_t sandbox_pid;
  CboxContextSandboxPidFunc sandbox_pid_func;
  gpointer sandbox_pid_data;
  CboxContextStartedFunc started_func;
  gpointer started_data;
};

G_DEFINE_QUARK (cbox - error - quark, cbox_error)
G_DEFINE_QUARK (cbox - plugin - error - quark, cbox_plugin_error)

CboxContext *
cbox_context_new (CboxHost *host, GKeyFile *config, const char *plugin_name)
{
  CboxContext *ctx;

  g_return_val_if_fail (host != NULL, NULL);
  g_return_val_if_fail (plugin_name != NULL, NULL);

  ctx = g_new0 (CboxContext, 1);
  ctx->host = cbox_host_ref (host);
  ctx->config = config != NULL ? g_key_file_ref (config) : g_key_file_new ();
  ctx->plugin_name = g_strdup (plugin_name);
  ctx->network = CBOX_NETWORK_OWN;
  ctx->libexec_dir = g_strdup (CBOX_LIBEXEC_DIR);
  return ctx;
}

void
cbox_context_free (CboxContext *ctx)
{
  if (ctx == NULL)
    return;
  if (ctx->data_destroy != NULL)
    ctx->data_destroy (ctx->data);
  cbox_host_unref (ctx->host);
  g_key_file_unref (ctx->config);
  g_free (ctx->plugin_name);
  g_free (ctx->profile);
  g_free (ctx->instance_id);
  g_free (ctx->backend);
  g_free (ctx->libexec_dir);
  g_free (ctx->project_dir);
  g_free (ctx);
}

void
cbox_context_set_profile (CboxContext *ctx, const char *profile)
{
  g_return_if_fail (ctx != NULL);
  g_free (ctx->profile);
  ctx->profile = g_strdup (profile);
}

void
cbox_context_set_project_dir (CboxContext *ctx, const char *project_dir)
{
  g_return_if_fail (ctx != NULL);
  g_free (ctx->project_dir);
  ctx->project_dir = g_strdup (project_dir);
}

const char *
cbox_context_get_project_dir (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  return ctx->project_dir;
}

void
cbox_context_set_instance_id (CboxContext *ctx, const char *instance_id)
{
  g_return_if_fail (ctx != NULL);
  g_free (ctx->instance_id);
  ctx->instance_id = g_strdup (instance_id);
}

void
cbox_context_set_backend (CboxContext *ctx, const char *backend, CboxFeatures features)
{
  g_return_if_fail (ctx != NULL);
  g_free (ctx->backend);
  ctx->backend = g_strdup (backend);
  ctx->backend_features = features;
}

void
cbox_context_set_network (CboxContext *ctx, CboxNetworkMode network)
{
  g_return_if_fail (ctx != NULL);
  ctx->network = network;
}

void
cbox_context_set_verbose (CboxContext *ctx, gboolean verbose)
{
  g_return_if_fail (ctx != NULL);
  ctx->verbose = !!verbose;
}

void
cbox_context_set_requested (CboxContext *ctx, gboolean requested)
{
  g_return_if_fail (ctx != NULL);
  ctx->requested = !!requested;
}

void
cbox_context_set_libexec_dir (CboxContext *ctx, const char *libexec_dir)
{
  g_return_if_fail (ctx != NULL && libexec_dir != NULL);
  g_free (ctx->libexec_dir);
  ctx->libexec_dir = g_strdup (libexec_dir);
}

const CboxHost *
cbox_context_get_host (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  return ctx->host;
}

const char *
cbox_context_get_plugin_name (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  return ctx->plugin_name;
}

GKeyFile *
cbox_context_get_config (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  return ctx->config;
}

char *
cbox_context_get_string (CboxContext *ctx, const char *key)
{
  g_return_val_if_fail (ctx != NULL && key != NULL, NULL);
  return g_key_file_get_string (ctx->config, ctx->plugin_name, key, NULL);
}

char **
cbox_context_get_string_list (CboxContext *ctx, const char *key)
{
  g_return_val_if_fail (ctx != NULL && key != NULL, NULL);
  return g_key_file_get_string_list (ctx->config, ctx->plugin_name, key, NULL, NULL);
}

gboolean
cbox_context_get_boolean (CboxContext *ctx, const char *key, gboolean default_value,
                          gboolean *ret_value, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  gboolean value;

  g_return_val_if_fail (ctx != NULL && key != NULL && ret_value != NULL, FALSE);

  if (!g_key_file_has_key (ctx->config, ctx->plugin_name, key, NULL))
    {
      *ret_value = default_value;
      return TRUE;
    }
  value = g_key_file_get_boolean (ctx->config, ctx->plugin_name, key, &local_error);
  if (local_error != NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "Configuration key '%s' in group [%s] must be true or false: %s", key,
                   ctx->plugin_name, local_error->message);
      return FALSE;
    }
  *ret_value = value;
  return TRUE;
}

const char *
cbox_context_get_profile (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  return ctx->profile;
}

const char *
cbox_context_get_instance_id (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  return ctx->instance_id;
}

const char *
cbox_context_get_backend (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  return ctx->backend;
}

CboxFeatures
cbox_context_get_backend_features (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, CBOX_FEATURE_NONE);
  return ctx->backend_features;
}

gboolean
cbox_context_get_network (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, FALSE);
  return ctx->network != CBOX_NETWORK_OFF;
}

CboxNetworkMode
cbox_context_get_network_mode (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, CBOX_NETWORK_OFF);
  return ctx->network;
}

gboolean
cbox_context_get_verbose (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, FALSE);
  return ctx->verbose;
}

gboolean
cbox_context_get_requested (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, FALSE);
  return ctx->requested;
}

const char *
cbox_context_get_libexec_dir (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  return ctx->libexec_dir;
}

void
cbox_context_set_data (CboxContext *ctx, gpointer data, GDestroyNotify destroy)
{
  g_return_if_fail (ctx != NULL);
  if (ctx->data_destroy != NULL)
    ctx->data_destroy (ctx->data);
  ctx->data = data;
  ctx->data_destroy = destroy;
}

gpointer
cbox_context_get_data (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  return ctx->data;
}

void
cbox_context_set_sandbox_pid (CboxContext *ctx, pid_t pid)
{
  g_return_if_fail (ctx != NULL && pid >= 0);
  if (ctx->sandbox_pid == pid)
    return;
  ctx->sandbox_pid = pid;
  if (ctx->sandbox_pid_func != NULL)
    ctx->sandbox_pid_func (ctx, pid, ctx->sandbox_pid_data);
}

pid_t
cbox_context_get_sandbox_pid (CboxContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, 0);
  return ctx->sandbox_pid;
}

void
cbox_context_notify_tool_started (CboxContext *ctx)
{
  CboxContextStartedFunc func;

  g_return_if_fail (ctx != NULL);
  func = ctx->started_func;
  ctx->started_func = NULL;
  if (func != NULL)
    func (ctx->started_data);
}

void
cbox_context_set_started_func (CboxContext *ctx, CboxContextStartedFunc func, gpointer user_data)
{
  g_return_if_fail (ctx != NULL);
  ctx->started_func = func;
  ctx->started_data = user_data;
}

void
cbox_context_set_sandbox_pid_func (CboxContext *ctx, CboxContextSandboxPidFunc func,
                                   gpointer user_data)
{
  g_return_if_fail (ctx != NULL);
  ctx->sandbox_pid_func = func;
  ctx->sandbox_pid_data = user_data;
}

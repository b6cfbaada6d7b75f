/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "cbox-cli.h"
#include "cbox-project.h"
#include "cbox-request.h"

/* ---- requests ------------------------------------------------------------ */

void
cbox_forward_op_free (CboxForwardOp *op)
{
  g_free (op->name);
  g_free (op->origin);
  g_free (op);
}

static void
cbox_bind_request_free (CboxBindRequest *bind)
{
  g_free (bind->src);
  g_free (bind->dest);
  g_free (bind->origin);
  g_free (bind->link);
  g_free (bind);
}

static void
cbox_env_request_free (CboxEnvRequest *env)
{
  g_free (env->name);
  g_free (env->value);
  g_free (env->origin);
  g_free (env);
}

static void
cbox_path_request_free (CboxPathRequest *path)
{
  g_free (path->path);
  g_free (path->origin);
  g_free (path);
}

void
cbox_request_add_path (GPtrArray *list, const char *path, gboolean remove, const char *origin)
{
  CboxPathRequest *item = g_new0 (CboxPathRequest, 1);

  item->path = g_strdup (path);
  item->remove = remove;
  item->origin = g_strdup (origin);
  g_ptr_array_add (list, item);
}

CboxRequest *
cbox_request_new (void)
{
  CboxRequest *request = g_new0 (CboxRequest, 1);

  request->forward_ops = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_forward_op_free);
  request->binds = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_bind_request_free);
  request->env = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_env_request_free);
  request->allow_projects = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_path_request_free);
  request->protect_ops = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_path_request_free);
  request->project_folders
      = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_path_request_free);
  request->network = CBOX_NETWORK_OWN;
  request->publish = g_array_new (FALSE, FALSE, sizeof (CboxPublishedPort));
  request->config = g_key_file_new ();
  return request;
}

void
cbox_request_free (CboxRequest *request)
{
  if (request == NULL)
    return;
  g_free (request->backend);
  g_ptr_array_unref (request->forward_ops);
  g_strfreev (request->command);
  g_free (request->project_dir);
  g_ptr_array_unref (request->binds);
  g_ptr_array_unref (request->env);
  g_array_unref (request->publish);
  g_strfreev (request->mkdirs);
  g_ptr_array_unref (request->allow_projects);
  g_ptr_array_unref (request->protect_ops);
  g_ptr_array_unref (request->project_folders);
  g_free (request->usr_dir);
  g_free (request->profile);
  g_key_file_unref (request->config);
  g_clear_pointer (&request->config_keys, g_ptr_array_unref);
  g_free (request);
}

void
cbox_request_add_forward_op_to (GPtrArray *ops, CboxForwardOpKind kind, const char *name,
                                gboolean requested, const char *origin)
{
  CboxForwardOp *op = g_new0 (CboxForwardOp, 1);

  op->kind = kind;
  op->name = g_strdup (name);
  op->requested = requested;
  op->origin = g_strdup (origin);
  g_ptr_array_add (ops, op);
}

void
cbox_request_add_forward_op (CboxRequest *request, CboxForwardOpKind kind, const char *name,
                             gboolean requested, const char *origin)
{
  cbox_request_add_forward_op_to (request->forward_ops, kind, name, requested, origin);
}

void
cbox_request_add_bind (CboxRequest *request, CboxBindKind kind, const char *src, const char *dest,
                       gboolean allow_missing, const char *origin)
{
  CboxBindRequest *bind = g_new0 (CboxBindRequest, 1);

  bind->kind = kind;
  bind->src = g_strdup (src);
  bind->dest = g_strdup (dest);
  bind->allow_missing = allow_missing;
  bind->origin = g_strdup (origin);
  g_ptr_array_add (request->binds, bind);
}

void
cbox_request_add_env (CboxRequest *request, const char *name, const char *value, const char *origin)
{
  CboxEnvRequest *env = g_new0 (CboxEnvRequest, 1);

  env->name = g_strdup (name);
  env->value = g_strdup (value);
  env->origin = g_strdup (origin);
  g_ptr_array_add (request->env, env);
}

/* ---- the request -------------------------------------------------------------- */

static const char *
cbox_cli_layer_origin (CboxConfigLayer layer)
{
  switch (layer)
    {
    case CBOX_CONFIG_LAYER_FILES:
      return "config";
    case CBOX_CONFIG_LAYER_PROFILE:
      return "profile";
    default:
      return "cli";
    }
}

/* @path from a file or option as an absolute, normalized host path:
 * "~/" and "$XDG_RUNTIME_DIR/" expanded, a relative path taken from @cwd. */
char *
cbox_cli_absolute_path (CboxHost *host, const char *path, const char *cwd, GError **error)
{
  g_autofree char *expanded = cbox_host_expand_path (host, path, error);

  if (expanded == NULL)
    return NULL;
  return g_canonicalize_filename (expanded, cwd);
}

static gboolean
cbox_cli_add_bind (CboxRequest *request, CboxHost *host, CboxBindKind kind, const char *spec_src,
                   const char *spec_dest, const char *cwd, const char *origin, GError **error)
{
  static const char *const option_names[] = { "ro-bind", "bind", "copy" };
  const char *option = option_names[kind == CBOX_BIND_RO ? 0 : kind == CBOX_BIND_RW ? 1 : 2];
  gboolean from_cli = g_str_equal (origin, "cli");
  g_autofree char *src = NULL;
  g_autofree char *dest = NULL;
  g_autoptr (GError) local_error = NULL;

  src = cbox_cli_absolute_path (host, spec_src, cwd, &local_error);
  if (src == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT, "--%s: %s", option,
                   local_error->message);
      return FALSE;
    }
  if (spec_dest != NULL)
    {
      g_autofree char *expanded = cbox_host_expand_path (host, spec_dest, &local_error);
      if (expanded == NULL || !g_path_is_absolute (expanded))
        {
          g_autofree char *quoted = cbox_cli_quote (spec_dest);
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "--%s: the destination '%s' must be an absolute path inside the sandbox",
                       option, quoted);
          return FALSE;
        }
      dest = g_canonicalize_filename (expanded, "/");
    }
  else
    dest = g_strdup (src);

  /* A path named on the command line must be there: a typo should not
   * silently give an empty sandbox. Files and profiles may name paths
   * that exist on some machines only. */
  if (from_cli)
    {
      GStatBuf st;
      if (g_lstat (src, &st) < 0)
        {
          int saved_errno = errno;
          g_autofree char *quoted = cbox_cli_quote (src);
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT, "--%s: '%s': %s", option,
                       quoted, g_strerror (saved_errno));
          return FALSE;
        }
    }
  /* The source is resolved here, once: the plan shows (and the backend
   * binds) the folder that is really given, not a link whose target the
   * plan would hide, and the rules below see the real path. A link
   * planted by an earlier sandbox (`proj/data -> ~`) must not turn a
   * harmless-looking --bind into the home. */
  {
    g_autofree char *real = realpath (src, NULL);
    gboolean can_allow;
    const char *rule = real != NULL ? cbox_project_refusal (host, real, &can_allow) : NULL;
    const char *advice = "bind the folder inside it that the command needs";

    /* Writable only: reading ~/bin's tools is harmless, changing them is
     * not. */
    if (rule == NULL && real != NULL && kind == CBOX_BIND_RW)
      {
        rule = cbox_project_path_refusal (real);
        advice = "--ro-bind lets the command use its programs";
      }

    if (rule != NULL)
      {
        g_autofree char *quoted = cbox_cli_quote (src);
        g_autofree char *quoted_real = cbox_cli_quote (real);
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                     "--%s (from %s): refusing '%s'%s%s%s: it is %s, which cbox does not bind "
                     "whole (%s)",
                     option, origin, quoted, g_str_equal (src, real) ? "" : " (a link to '",
                     g_str_equal (src, real) ? "" : quoted_real,
                     g_str_equal (src, real) ? "" : "')", rule, advice);
        return FALSE;
      }
    cbox_request_add_bind (request, kind, real != NULL ? real : src, dest, !from_cli, origin);
    if (real != NULL && !g_str_equal (real, src))
      {
        CboxBindRequest *bind = g_ptr_array_index (request->binds, request->binds->len - 1);
        bind->link = g_strdup (src);
      }
  }
  return TRUE;
}

static gboolean
cbox_cli_add_layer_binds (CboxRequest *request, CboxHost *host, GKeyFile *layer_file,
                          const char *origin, const char *cwd, GError **error)
{
  static const struct
  {
    const char *key;
    CboxBindKind kind;
  } keys[] = { { "bind", CBOX_BIND_RW }, { "ro-bind", CBOX_BIND_RO }, { "copy", CBOX_BIND_COPY } };

  for (gsize k = 0; k < G_N_ELEMENTS (keys); k++)
    {
      g_auto (GStrv) specs
          = g_key_file_get_string_list (layer_file, "cbox", keys[k].key, NULL, NULL);
      for (guint i = 0; specs != NULL && specs[i] != NULL; i++)
        {
          g_autofree char *src = NULL;
          g_autofree char *dest = NULL;
          if (!cbox_config_split_bind (specs[i], &src, &dest, error)
              || !cbox_cli_add_bind (request, host, keys[k].kind, src, dest, cwd, origin, error))
            return FALSE;
        }
    }
  return TRUE;
}

/* An allow-project path, resolved as the project is (a link to the home
 * is the home). One that does not resolve allows nothing. */
static gboolean
cbox_cli_add_allow_project (CboxRequest *request, CboxHost *host, const char *path, const char *cwd,
                            const char *origin, GError **error)
{
  g_autofree char *absolute = cbox_cli_absolute_path (host, path, cwd, error);
  g_autofree char *real = NULL;

  if (absolute == NULL)
    {
      g_prefix_error (error, "allow-project: ");
      return FALSE;
    }
  real = realpath (absolute, NULL);
  if (real != NULL)
    cbox_request_add_path (request->allow_projects, real, FALSE, origin);
  return TRUE;
}

static char **
cbox_cli_parse_words (const char *value)
{
  char **argv = NULL;

  if (value == NULL || !g_shell_parse_argv (value, NULL, &argv, NULL))
    return NULL;
  return argv;
}

gboolean
cbox_cli_make_request (CboxCliOptions *options, CboxHost *host, const char *cwd,
                       CboxRequest **ret_request, GError **error)
{
  g_autoptr (CboxRequest) request = cbox_request_new ();
  g_autoptr (CboxConfig) config = cbox_config_new ();
  g_autoptr (GPtrArray) mkdirs = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) dirs = cbox_config_get_search_dirs (host);
  g_autofree char *profile = NULL;
  g_autofree char *value = NULL;
  g_autofree char *config_file = NULL;
  gboolean flag;

  if (options->config_file != NULL)
    config_file = g_canonicalize_filename (options->config_file, cwd);
  if (!cbox_config_load_files (config, (const char *const *)dirs, config_file, error))
    return FALSE;
  for (guint i = 0; i < options->settings->len; i++)
    {
      CboxCliSetting *setting = g_ptr_array_index (options->settings, i);
      if (!cbox_config_set (config, setting->group, setting->key, setting->value, error))
        return FALSE;
    }

  profile = options->profile != NULL ? g_strdup (options->profile)
                                     : cbox_config_get_core_string (config, "profile");
  if (profile != NULL && profile[0] != '\0' && !g_str_equal (profile, "none")
      && !cbox_config_load_profile (config, (const char *const *)dirs, profile, error))
    return FALSE;
  request->profile = g_strdup (cbox_config_get_profile (config));

  g_key_file_unref (request->config);
  request->config = g_key_file_ref (cbox_config_get_merged (config));
  request->config_keys = g_ptr_array_ref ((GPtrArray *)cbox_config_get_plugin_keys (config));

  request->backend = cbox_config_get_core_string (config, "backend");
  value = cbox_config_get_core_string (config, "network");
  /* The configuration was checked when it was read; a value that does not
   * parse here cannot come, and would mean the default, never the host's
   * network. */
  if (value == NULL || !cbox_network_mode_from_string (value, &request->network))
    request->network = CBOX_NETWORK_OWN;
  g_clear_pointer (&value, g_free);
  /* New user namespaces: refused unless a profile or file asks (see
   * docs/security.md, "seccomp"). `[bwrap] allow-userns` is the older
   * spelling, from when only bwrap could refuse them; it still counts. */
  value = cbox_config_get_core_string (config, "allow-userns");
  request->allow_userns = value != NULL && cbox_config_parse_boolean (value, &flag) && flag;
  g_clear_pointer (&value, g_free);
  if (!request->allow_userns && g_key_file_has_key (request->config, "bwrap", "allow-userns", NULL))
    request->allow_userns = g_key_file_get_boolean (request->config, "bwrap", "allow-userns", NULL);
  value = cbox_config_get_core_string (config, "verbose");
  request->verbose
      = options->verbose || (value != NULL && cbox_config_parse_boolean (value, &flag) && flag);
  g_clear_pointer (&value, g_free);

  /* Forwarders: each layer's lists in turn (a file's `forward` gives
   * defaults, a profile's asks for them), then the options in order. */
  for (CboxConfigLayer layer = 0; layer < CBOX_CONFIG_N_LAYERS; layer++)
    {
      GKeyFile *layer_file = cbox_config_get_layer (config, layer);
      const char *origin = cbox_cli_layer_origin (layer);
      g_auto (GStrv) forward
          = g_key_file_get_string_list (layer_file, "cbox", "forward", NULL, NULL);
      g_auto (GStrv) optional
          = g_key_file_get_string_list (layer_file, "cbox", "forward-optional", NULL, NULL);
      g_auto (GStrv) no_forward
          = g_key_file_get_string_list (layer_file, "cbox", "no-forward", NULL, NULL);
      g_auto (GStrv) env = g_key_file_get_string_list (layer_file, "cbox", "env", NULL, NULL);
      g_auto (GStrv) publish
          = g_key_file_get_string_list (layer_file, "cbox", "publish", NULL, NULL);
      g_auto (GStrv) dirs_to_make
          = g_key_file_get_string_list (layer_file, "cbox", "mkdir", NULL, NULL);
      g_auto (GStrv) allow_projects
          = g_key_file_get_string_list (layer_file, "cbox", "allow-project", NULL, NULL);
      g_auto (GStrv) protect
          = g_key_file_get_string_list (layer_file, "cbox", "protect", NULL, NULL);
      g_auto (GStrv) unprotect
          = g_key_file_get_string_list (layer_file, "cbox", "unprotect", NULL, NULL);
      g_auto (GStrv) project_folders
          = g_key_file_get_string_list (layer_file, "cbox", "project-folder", NULL, NULL);

      if (layer == CBOX_CONFIG_LAYER_FILES && forward != NULL)
        request->has_default_forwards = TRUE;
      for (guint i = 0; forward != NULL && forward[i] != NULL; i++)
        {
          if (g_str_equal (forward[i], "none"))
            cbox_request_add_forward_op (request, CBOX_FORWARD_OP_CLEAR, NULL, FALSE, origin);
          else
            cbox_request_add_forward_op (request, CBOX_FORWARD_OP_ADD, forward[i],
                                         layer != CBOX_CONFIG_LAYER_FILES, origin);
        }
      for (guint i = 0; optional != NULL && optional[i] != NULL; i++)
        cbox_request_add_forward_op (request, CBOX_FORWARD_OP_ADD, optional[i], FALSE, origin);
      for (guint i = 0; no_forward != NULL && no_forward[i] != NULL; i++)
        cbox_request_add_forward_op (request, CBOX_FORWARD_OP_REMOVE, no_forward[i], FALSE, origin);

      if (!cbox_cli_add_layer_binds (request, host, layer_file, origin, cwd, error))
        return FALSE;

      for (guint i = 0; env != NULL && env[i] != NULL; i++)
        {
          const char *eq = strchr (env[i], '=');
          g_autofree char *name
              = eq != NULL ? g_strndup (env[i], (gsize)(eq - env[i])) : g_strdup (env[i]);
          cbox_request_add_env (request, name, eq != NULL ? eq + 1 : NULL, origin);
        }
      /* Each layer adds its ports (checked when the file was read). */
      for (guint i = 0; publish != NULL && publish[i] != NULL; i++)
        {
          CboxPublishedPort port;
          if (!cbox_net_parse_publish (publish[i], &port.host_port, &port.sandbox_port, error))
            return FALSE;
          g_array_append_val (request->publish, port);
        }
      for (guint i = 0; dirs_to_make != NULL && dirs_to_make[i] != NULL; i++)
        {
          char *dir = cbox_cli_absolute_path (host, dirs_to_make[i], "/", error);
          if (dir == NULL)
            return FALSE;
          g_ptr_array_add (mkdirs, dir);
        }
      for (guint i = 0; allow_projects != NULL && allow_projects[i] != NULL; i++)
        if (!cbox_cli_add_allow_project (request, host, allow_projects[i], cwd, origin, error))
          return FALSE;
      /* Each layer adds its own entries and removes what an earlier one
       * added, as forward / no-forward do. */
      for (guint i = 0; protect != NULL && protect[i] != NULL; i++)
        cbox_request_add_path (request->protect_ops, protect[i], FALSE, origin);
      for (guint i = 0; unprotect != NULL && unprotect[i] != NULL; i++)
        cbox_request_add_path (request->protect_ops, unprotect[i], TRUE, origin);
      for (guint i = 0; project_folders != NULL && project_folders[i] != NULL; i++)
        {
          g_autofree char *dir = cbox_cli_absolute_path (host, project_folders[i], "/", error);
          if (dir == NULL)
            return FALSE;
          cbox_request_add_path (request->project_folders, dir, FALSE, origin);
        }
    }
  for (guint i = 0; i < options->cli->allow_projects->len; i++)
    {
      CboxPathRequest *allow = g_ptr_array_index (options->cli->allow_projects, i);
      if (!cbox_cli_add_allow_project (request, host, allow->path, cwd, "cli", error))
        return FALSE;
    }
  for (guint i = 0; i < options->cli->forward_ops->len; i++)
    {
      CboxForwardOp *op = g_ptr_array_index (options->cli->forward_ops, i);
      cbox_request_add_forward_op (request, op->kind, op->name, op->requested, op->origin);
    }
  for (guint i = 0; i < options->cli->binds->len; i++)
    {
      CboxBindRequest *bind = g_ptr_array_index (options->cli->binds, i);
      if (!cbox_cli_add_bind (request, host, bind->kind, bind->src, bind->dest, cwd, "cli", error))
        return FALSE;
    }
  for (guint i = 0; i < options->cli->env->len; i++)
    {
      CboxEnvRequest *env = g_ptr_array_index (options->cli->env, i);
      cbox_request_add_env (request, env->name, env->value, "cli");
    }
  g_array_append_vals (request->publish, options->cli->publish->data, options->cli->publish->len);
  g_ptr_array_add (mkdirs, NULL);
  request->mkdirs = (char **)g_ptr_array_free (g_steal_pointer (&mkdirs), FALSE);

  /* The command: the one given, else the shell for --shell, else the
   * profile's or configuration's, else the user's shell. */
  if (options->command_argv != NULL)
    request->command = g_strdupv (options->command_argv);
  else
    {
      g_autofree char *shell = cbox_config_get_core_string (config, "shell");
      g_autofree char *command = cbox_config_get_core_string (config, "command");

      if (!options->shell && command != NULL)
        request->command = cbox_cli_parse_words (command);
      if (request->command == NULL && shell != NULL)
        request->command = cbox_cli_parse_words (shell);
      if (request->command == NULL)
        request->command = g_strdupv ((char *[]){ (char *)cbox_host_get_shell (host), NULL });
    }

  value = cbox_config_get_core_string (config, "usr");
  if (value != NULL)
    {
      request->usr_dir = cbox_cli_absolute_path (host, value, "/", error);
      if (request->usr_dir == NULL)
        return FALSE;
    }

  /* The project: bound at its real path, so symlinks are resolved. */
  {
    g_autofree char *given = cbox_cli_absolute_path (
        host, options->project != NULL ? options->project : ".", cwd, error);
    g_autofree char *real = NULL;
    GStatBuf st;

    if (given == NULL)
      return FALSE;
    real = realpath (given, NULL);
    if (real == NULL || g_stat (real, &st) < 0 || !S_ISDIR (st.st_mode))
      {
        int saved_errno = real == NULL ? errno : ENOTDIR;
        g_autofree char *quoted = cbox_cli_quote (given);
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                     "The project directory '%s' cannot be used: %s (give one with --project=DIR)",
                     quoted, g_strerror (saved_errno));
        return FALSE;
      }
    request->project_dir = g_steal_pointer (&real);
  }

  *ret_request = g_steal_pointer (&request);
  return TRUE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forwarder "claude": the Claude Code the user installed, wherever that
 * is, read-only at the same path inside. See README.md. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

#include <cbox/cbox-plugin.h>

/* npm installs Claude Code as this package; its `claude` is a link to the
 * package's cli.js (npm, nvm, a prefix in ~/.npm-global, a store path). */
#define CLAUDE_NPM_PACKAGE "/node_modules/@anthropic-ai/claude-code"

typedef struct
{
  char *launcher; /* the `claude` found on PATH, as PATH names it */
  char *target;   /* what it resolves to (cli.js, the native binary) */
  char *install;  /* the folder made visible: an npm prefix, a package, a folder */
  char *how;      /* "npm prefix", "npm package", "folder" for cbox plan */
} ClaudeData;

static void
claude_data_free (ClaudeData *data)
{
  if (data == NULL)
    return;
  g_free (data->launcher);
  g_free (data->target);
  g_free (data->install);
  g_free (data->how);
  g_free (data);
}

static char *
claude_realpath (const char *path)
{
  char *real = realpath (path, NULL);
  char *copy = g_strdup (real);

  free (real);
  return copy;
}

/* TRUE when @path is @dir or below it. */
static gboolean
claude_is_under (const char *path, const char *dir)
{
  gsize len = strlen (dir);

  if (g_str_equal (dir, "/"))
    return TRUE;
  return strncmp (path, dir, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

/* The sandbox sees the base plan's system tree anyway. */
static gboolean
claude_is_system (const char *path)
{
  return claude_is_under (path, "/usr") || claude_is_under (path, "/nix/store")
         || claude_is_under (path, "/run/current-system/sw");
}

/* The first executable `claude` on the host's PATH (relative entries are
 * skipped: they mean another file in another folder). */
static char *
claude_find_launcher (const CboxHost *host)
{
  const char *path = cbox_host_getenv_nonempty (host, "PATH");
  g_auto (GStrv) dirs = g_strsplit (path != NULL ? path : "/usr/local/bin:/usr/bin:/bin", ":", -1);

  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *launcher = NULL;
      g_autofree char *resolved = NULL;

      if (!g_path_is_absolute (dirs[i]))
        continue;
      launcher = g_build_filename (dirs[i], "claude", NULL);
      resolved = cbox_host_resolve (host, launcher);
      if (g_file_test (resolved, G_FILE_TEST_IS_EXECUTABLE)
          && !g_file_test (resolved, G_FILE_TEST_IS_DIR))
        return g_steal_pointer (&launcher);
    }
  return NULL;
}

/* The folder that holds the whole install of @target, which @launcher
 * leads to. An npm install lives in PREFIX/lib/node_modules/PACKAGE with
 * its launcher in PREFIX/bin, and under nvm the node that runs it in
 * PREFIX/bin too: the prefix, when it is a folder of its own. A prefix
 * that is the home itself (npm's prefix=~) or above it would show the
 * whole home: then only the package. A native install (one binary under
 * ~/.local/share/claude/versions): that folder. */
static void
claude_find_install (const char *home, const char *launcher, const char *target, char **ret_install,
                     char **ret_how)
{
  const char *package = strstr (target, CLAUDE_NPM_PACKAGE "/");

  if (package != NULL)
    {
      g_autofree char *package_dir
          = g_strndup (target, (gsize)(package - target) + strlen (CLAUDE_NPM_PACKAGE));
      const char *lib = strstr (target, "/lib" CLAUDE_NPM_PACKAGE "/");

      if (lib != NULL)
        {
          g_autofree char *prefix = g_strndup (target, (gsize)(lib - target));
          if (prefix[0] != '\0' && !g_str_equal (prefix, "/")
              && (home == NULL || !claude_is_under (home, prefix))
              && claude_is_under (launcher, prefix))
            {
              *ret_install = g_steal_pointer (&prefix);
              *ret_how = g_strdup ("npm prefix");
              return;
            }
        }
      *ret_install = g_steal_pointer (&package_dir);
      *ret_how = g_strdup ("npm package");
      return;
    }
  {
    g_autofree char *dir = g_path_get_dirname (target);
    const char *versions = g_strrstr (dir, "/versions");

    /* ~/.local/share/claude/versions/1.2.3 -> ~/.local/share/claude */
    if (versions != NULL && versions[strlen ("/versions")] == '\0')
      {
        *ret_install = g_strndup (dir, (gsize)(versions - dir));
        *ret_how = g_strdup ("native install");
        return;
      }
    *ret_install = g_steal_pointer (&dir);
    *ret_how = g_strdup ("folder");
  }
}

static gboolean
claude_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  const char *root = cbox_host_get_root (host);
  g_autofree char *launcher = claude_find_launcher (host);
  g_autofree char *resolved = NULL;
  g_autofree char *real = NULL;
  ClaudeData *data;

  if (launcher == NULL)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                    "no claude on PATH (install Claude Code: npm install -g "
                                    "@anthropic-ai/claude-code)");
      return TRUE;
    }
  resolved = cbox_host_resolve (host, launcher);
  real = claude_realpath (resolved);
  if (real == NULL)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE, "%s cannot be resolved",
                                    launcher);
      return TRUE;
    }
  data = g_new0 (ClaudeData, 1);
  data->launcher = g_steal_pointer (&launcher);
  /* The path as the host names it (a test's root prefix stripped). */
  if (!g_str_equal (root, "/"))
    {
      g_autofree char *real_root = claude_realpath (root);
      if (real_root != NULL && g_str_has_prefix (real, real_root)
          && real[strlen (real_root)] == '/')
        data->target = g_strdup (real + strlen (real_root));
    }
  if (data->target == NULL)
    data->target = g_steal_pointer (&real);
  claude_find_install (cbox_host_get_home_dir (host), data->launcher, data->target, &data->install,
                       &data->how);
  cbox_context_set_data (ctx, data, (GDestroyNotify)claude_data_free);
  cbox_probe_result_add_detail (result, "launcher", "%s", data->launcher);
  cbox_probe_result_add_detail (result, "target", "%s", data->target);
  cbox_probe_result_add_detail (result, "install", "%s (%s)", data->install, data->how);
  cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);
  return TRUE;
}

/* The launcher's folder first in PATH: the `claude` the host would run is
 * the one the sandbox runs, before one installed inside (~/.local/bin is
 * the project's own there) or elsewhere on PATH. */
static void
claude_put_first_on_path (CboxPlan *plan, const char *dir)
{
  const char *path = cbox_plan_get_env (plan, "PATH");
  g_autoptr (GString) out = g_string_new (dir);
  g_auto (GStrv) parts = g_strsplit (path != NULL ? path : "", ":", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] != '\0' && !g_str_equal (parts[i], dir))
      g_string_append_printf (out, ":%s", parts[i]);
  cbox_plan_set_env (plan, "PATH", out->str);
}

static gboolean
claude_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  ClaudeData *data = cbox_context_get_data (ctx);
  g_autofree char *launcher_dir = NULL;

  if (data == NULL)
    return TRUE;
  launcher_dir = g_path_get_dirname (data->launcher);

  /* Read-only: a sandbox that could write the install would change what
   * the host runs the next time, outside the sandbox. */
  if (!claude_is_system (data->install))
    {
      g_autofree char *src = cbox_host_resolve (host, data->install);
      cbox_plan_add_bind_ro (plan, src, data->install, CBOX_MOUNT_FLAG_NONE);
    }
  /* A launcher outside the install (npm's bin of a prefix that is the
   * home, ~/.local/bin/claude of the native installer): the link again,
   * as the host has it, so the program finds its own folder through it. */
  if (!claude_is_system (data->launcher) && !claude_is_under (data->launcher, data->install))
    {
      g_autofree char *resolved = cbox_host_resolve (host, data->launcher);
      g_autofree char *text = g_file_read_link (resolved, NULL);

      if (text != NULL)
        cbox_plan_add_symlink (plan, text, data->launcher);
      else
        cbox_plan_add_bind_ro (plan, resolved, data->launcher, CBOX_MOUNT_FLAG_NONE);
    }
  claude_put_first_on_path (plan, launcher_dir);
  cbox_plan_add_note (plan, "claude: %s -> %s (%s %s, read-only)", data->launcher, data->target,
                      data->how, data->install);
  return TRUE;
}

static const CboxForwarderVTable claude_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = claude_probe,
  .contribute = claude_contribute,
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "claude", .version = "1.0",
                    .description = "the host's Claude Code install, read-only at its path",
                    .features = CBOX_FEATURE_BIND | CBOX_FEATURE_SYMLINK,
                    .forwarder = &claude_vtable)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forwarder "locale": the user's language settings. See README.md. */
#include <string.h>

#include <glib.h>

#include <cbox/cbox-plugin.h>

/* System locale configuration read by login shells and some programs. */
static const char *const locale_files[] = { "/etc/locale.conf", "/etc/default/locale" };

static gboolean
locale_is_variable (const char *name)
{
  return g_str_equal (name, "LANG") || g_str_equal (name, "LANGUAGE")
         || (g_str_has_prefix (name, "LC_") && name[3] != '\0');
}

/* TRUE when the sandbox sees @path anyway: the system tree the base plan
 * provides. */
static gboolean
locale_is_system_path (const char *path)
{
  return g_str_has_prefix (path, "/usr/") || g_str_has_prefix (path, "/nix/store/")
         || g_str_has_prefix (path, "/run/current-system/sw/");
}

static gboolean
locale_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  const char *lang = cbox_host_getenv_nonempty (host, "LANG");
  const char *lc_all = cbox_host_getenv_nonempty (host, "LC_ALL");

  cbox_probe_result_add_detail (result, "LANG", "%s", lang != NULL ? lang : "(unset)");
  if (lc_all != NULL)
    cbox_probe_result_add_detail (result, "LC_ALL", "%s", lc_all);
  for (gsize i = 0; i < G_N_ELEMENTS (locale_files); i++)
    {
      g_autofree char *path = cbox_host_resolve (host, locale_files[i]);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        cbox_probe_result_add_detail (result, locale_files[i], "present");
    }
  cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);
  return TRUE;
}

/* Binds @path (a file or directory given by LOCALE_ARCHIVE or LOCPATH)
 * read-only at the same place, unless the system tree has it already. */
static void
locale_bind_data (CboxPlan *plan, const CboxHost *host, const char *path)
{
  g_autofree char *canonical = NULL;
  g_autofree char *src = NULL;

  if (!g_path_is_absolute (path))
    return;
  canonical = g_canonicalize_filename (path, "/");
  if (locale_is_system_path (canonical) || cbox_plan_find_mount (plan, canonical) != NULL)
    return;
  src = cbox_host_resolve (host, canonical);
  cbox_plan_add_bind_ro (plan, src, canonical, CBOX_MOUNT_FLAG_ALLOW_MISSING);
}

static gboolean
locale_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  const char *const *envp = cbox_host_get_environ (host);
  const char *archive;
  const char *locpath;

  /* Only the locale variables, each only when non-empty: an empty LC_ALL
   * means "unset" to glibc, but "" would override LANG for some tools. */
  for (guint i = 0; envp != NULL && envp[i] != NULL; i++)
    {
      const char *eq = strchr (envp[i], '=');
      g_autofree char *name = NULL;

      if (eq == NULL || eq[1] == '\0')
        continue;
      name = g_strndup (envp[i], eq - envp[i]);
      if (locale_is_variable (name))
        cbox_plan_set_env (plan, name, eq + 1);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (locale_files); i++)
    {
      g_autofree char *src = cbox_host_resolve (host, locale_files[i]);
      cbox_plan_add_bind_ro (plan, src, locale_files[i], CBOX_MOUNT_FLAG_ALLOW_MISSING);
    }

  /* glibc's compiled locales: /usr/lib/locale comes with /usr; a NixOS or
   * custom archive is named by LOCALE_ARCHIVE, extra locale trees by
   * LOCPATH. Both are passed on and their files made visible. */
  archive = cbox_host_getenv_nonempty (host, "LOCALE_ARCHIVE");
  if (archive != NULL)
    {
      locale_bind_data (plan, host, archive);
      cbox_plan_set_env (plan, "LOCALE_ARCHIVE", archive);
    }
  locpath = cbox_host_getenv_nonempty (host, "LOCPATH");
  if (locpath != NULL)
    {
      g_auto (GStrv) dirs = g_strsplit (locpath, ":", -1);
      for (guint i = 0; dirs[i] != NULL; i++)
        locale_bind_data (plan, host, dirs[i]);
      cbox_plan_set_env (plan, "LOCPATH", locpath);
    }
  return TRUE;
}

static const CboxForwarderVTable locale_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = locale_probe,
  .contribute = locale_contribute,
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "locale", .version = "1.0",
                    .description = "language settings (LANG, LC_*, locale files)",
                    .features = CBOX_FEATURE_BIND, .forwarder = &locale_vtable,
                    .default_enabled = TRUE)

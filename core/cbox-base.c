/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "cbox-private.h"

/* The top-level entries a merged-/usr system links into /usr. */
static const char *const cbox_usr_links[] = { "bin", "sbin", "lib", "lib64", "lib32", "libx32" };

static gboolean
cbox_base_add_system (CboxPlan *plan, const CboxHost *host, const char *usr_dir, GError **error)
{
  if (usr_dir != NULL)
    {
      g_autofree char *resolved = cbox_host_resolve (host, usr_dir);
      if (!g_file_test (resolved, G_FILE_TEST_IS_DIR))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "The configured system tree %s is not a directory (key 'usr' in [cbox])",
                       usr_dir);
          return FALSE;
        }
      cbox_plan_add_bind_ro (plan, resolved, "/usr", CBOX_MOUNT_FLAG_NONE);
    }
  else if (cbox_host_is_nixos (host))
    {
      /* NixOS keeps everything in the store; /usr holds only /usr/bin/env. */
      g_autofree char *store = cbox_host_resolve (host, "/nix/store");
      g_autofree char *sw = cbox_host_resolve (host, "/run/current-system/sw");
      g_autofree char *env = cbox_host_resolve (host, "/usr/bin/env");

      cbox_plan_add_bind_ro (plan, store, "/nix/store", CBOX_MOUNT_FLAG_NONE);
      cbox_plan_add_bind_ro (plan, sw, "/run/current-system/sw", CBOX_MOUNT_FLAG_NONE);
      cbox_plan_add_bind_ro (plan, env, "/usr/bin/env", CBOX_MOUNT_FLAG_ALLOW_MISSING);
      cbox_plan_add_symlink (plan, "/run/current-system/sw/bin", "/bin");
      return TRUE;
    }
  else
    {
      g_autofree char *usr = cbox_host_resolve (host, "/usr");
      cbox_plan_add_bind_ro (plan, usr, "/usr", CBOX_MOUNT_FLAG_NONE);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (cbox_usr_links); i++)
    {
      g_autofree char *dest = g_strconcat ("/", cbox_usr_links[i], NULL);
      g_autofree char *path = cbox_host_resolve (host, dest);
      GStatBuf st;

      if (g_lstat (path, &st) < 0)
        continue;
      if (S_ISLNK (st.st_mode))
        {
          /* Merged /usr: recreate the link as the host has it ("usr/bin"),
           * so it points into the /usr the sandbox sees. */
          g_autofree char *target = g_file_read_link (path, NULL);
          if (target != NULL)
            cbox_plan_add_symlink (plan, target, dest);
        }
      else if (S_ISDIR (st.st_mode))
        cbox_plan_add_bind_ro (plan, path, dest, CBOX_MOUNT_FLAG_NONE);
    }
  return TRUE;
}

/* A field of passwd(5) or group(5) cannot hold ':' or a newline; a name or
 * path that does would forge extra fields or lines. */
static gboolean
cbox_base_field_is_safe (const char *field)
{
  return field != NULL && strpbrk (field, ":\n") == NULL;
}

static gboolean
cbox_base_add_identity_files (CboxPlan *plan, const CboxHost *host, GError **error)
{
  uid_t uid = cbox_host_get_uid (host);
  gid_t gid = cbox_host_get_gid (host);
  const char *user = cbox_host_get_user_name (host);
  const char *home = cbox_host_get_home_dir (host);
  const char *shell = cbox_host_get_shell (host);
  g_autoptr (GString) passwd = g_string_new (NULL);
  g_autoptr (GString) group = g_string_new (NULL);

  if (!cbox_base_field_is_safe (user) || !cbox_base_field_is_safe (home)
      || !cbox_base_field_is_safe (shell))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "The user name, home directory or shell of uid %u contains ':' or a newline; "
                   "cbox cannot write a password entry for it",
                   (unsigned)uid);
      return FALSE;
    }

  cbox_plan_add_dir (plan, "/etc", 0755);
  /* Only root and the user: the sandbox has no use for the host's other
   * accounts, and listing them would tell it who else uses this machine. */
  if (uid != 0)
    g_string_append (passwd, "root:x:0:0:root:/root:/bin/sh\n");
  g_string_append_printf (passwd, "%s:x:%u:%u::%s:%s\n", user, (unsigned)uid, (unsigned)gid, home,
                          shell);
  g_string_append_printf (passwd, "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  if (gid != 0)
    g_string_append (group, "root:x:0:\n");
  g_string_append_printf (group, "%s:x:%u:%s\n", uid == 0 ? "root" : user, (unsigned)gid,
                          uid == 0 ? "" : user);
  g_string_append (group, "nogroup:x:65534:\n");

  if (!cbox_plan_add_data (plan, "/etc/passwd", passwd->str, passwd->len, 0644,
                           CBOX_MOUNT_FLAG_NONE, error)
      || !cbox_plan_add_data (plan, "/etc/group", group->str, group->len, 0644,
                              CBOX_MOUNT_FLAG_NONE, error))
    return FALSE;
  return TRUE;
}

gboolean
cbox_base_plan_fill_system (CboxPlan *plan, const CboxHost *host, const char *usr_dir,
                            GError **error)
{
  const char *home;
  const char *path;
  const char *term;
  g_autofree char *runtime_dir = NULL;

  g_return_val_if_fail (plan != NULL && host != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  home = cbox_host_get_home_dir (host);
  if (home == NULL || home[0] != '/' || g_str_equal (home, "/"))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "The home directory '%s' cannot be used: cbox puts a private, empty home at "
                   "that path (set HOME to an absolute path other than /)",
                   home != NULL ? home : "");
      return FALSE;
    }

  cbox_plan_set_origin (plan, "core");
  cbox_plan_set_user (plan, cbox_host_get_uid (host), cbox_host_get_gid (host),
                      cbox_host_get_user_name (host), home);

  /* Private scratch space first: later items may sit under these paths (a
   * project in /tmp) and must be applied over them, not hidden by them. */
  cbox_plan_add_tmpfs (plan, "/tmp", 01777);
  cbox_plan_add_tmpfs (plan, "/var/tmp", 01777);
  cbox_plan_add_tmpfs (plan, "/run", 0755);
  cbox_plan_add_dir (plan, "/run/user", 0755);
  cbox_plan_add_dir (plan, cbox_plan_get_runtime_dir (plan), 0700);

  if (!cbox_base_add_system (plan, host, usr_dir, error))
    return FALSE;
  if (!cbox_base_add_identity_files (plan, host, error))
    return FALSE;

  /* The user's real home path, empty: programs find their dot-directories
   * where they expect them, and nothing of the host home is there unless a
   * forwarder or a --bind puts it there. */
  {
    static const char *const subdirs[]
        = { ".config", ".cache", ".local", ".local/share", ".local/state" };
    g_autofree char *canonical = g_canonicalize_filename (home, "/");

    cbox_plan_add_tmpfs (plan, canonical, 0700);
    for (gsize i = 0; i < G_N_ELEMENTS (subdirs); i++)
      {
        g_autofree char *dir = g_build_filename (canonical, subdirs[i], NULL);
        cbox_plan_add_dir (plan, dir, 0755);
      }
  }

  /* The environment starts empty; only these are set for every sandbox. */
  cbox_plan_set_env (plan, "HOME", home);
  cbox_plan_set_env (plan, "USER", cbox_host_get_user_name (host));
  cbox_plan_set_env (plan, "LOGNAME", cbox_host_get_user_name (host));
  cbox_plan_set_env (plan, "SHELL", cbox_host_get_shell (host));
  path = cbox_host_getenv_nonempty (host, "PATH");
  cbox_plan_set_env (plan, "PATH", path != NULL ? path : "/usr/local/bin:/usr/bin:/bin");
  term = cbox_host_getenv_nonempty (host, "TERM");
  if (term != NULL)
    cbox_plan_set_env (plan, "TERM", term);
  cbox_plan_set_env (plan, "XDG_RUNTIME_DIR", cbox_plan_get_runtime_dir (plan));
  return TRUE;
}

gboolean
cbox_base_plan_add_project (CboxPlan *plan, const CboxHost *host, const char *project_dir,
                            GError **error)
{
  g_autofree char *absolute = NULL;
  g_autofree char *real = NULL;

  g_return_val_if_fail (plan != NULL && host != NULL && project_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  absolute = g_canonicalize_filename (project_dir, NULL);
  real = realpath (absolute, NULL);
  if (real == NULL)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "Project directory %s: %s (give an existing directory with --project)", absolute,
                   g_strerror (saved_errno));
      return FALSE;
    }
  if (!g_file_test (real, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR,
                   "Project directory %s is not a directory (give a directory with --project)",
                   real);
      return FALSE;
    }
  if (g_str_equal (real, "/"))
    {
      /* Binding / read-write would hand the whole host to the sandbox. */
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "The project directory cannot be / (give a project folder with --project)");
      return FALSE;
    }

  cbox_plan_set_origin (plan, "core");
  cbox_plan_add_bind_rw (plan, real, real, CBOX_MOUNT_FLAG_NONE);
  cbox_plan_set_cwd (plan, real);
  return TRUE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-project.h"

#define CBOX_PROJECT_NAME_MAX 40
#define CBOX_PROJECT_HASH_LEN 12
/* How long `cbox stop` waits for a sandbox to end after SIGTERM, then
 * after SIGKILL. */
#define CBOX_STOP_TERM_TIMEOUT_MS 10000
#define CBOX_STOP_KILL_TIMEOUT_MS 5000
/* A half-made registry lock (".ID.lock") older than this is a leftover. */
#define CBOX_REGISTRY_TMP_AGE_S 60

#define CBOX_ENTRY_GROUP "sandbox"

/* ---- file system access as the target user ---------------------------- */

/* Run as root on somebody's behalf (sudo), cbox makes and removes state
 * in that user's home. With the file-system uid and gid switched to the
 * user, every path is resolved with the user's rights only (a symlink the
 * user planted cannot send root's mkdir or unlink elsewhere) and what is
 * made belongs to the user. */
typedef struct
{
  gboolean active;
  uid_t old_uid;
  gid_t old_gid;
} CboxFsUser;

/* TRUE when root runs cbox for another user (sudo): see cbox-host.c. */
static gboolean
cbox_project_acts_for_user (const CboxHost *host)
{
  return geteuid () == 0 && cbox_host_get_caller_uid (host) == 0 && cbox_host_get_uid (host) != 0;
}

static void
cbox_fs_user_enter (gboolean active, uid_t uid, gid_t gid, CboxFsUser *saved)
{
  saved->active = active;
  saved->old_uid = 0;
  saved->old_gid = 0;
  if (!saved->active)
    return;
  saved->old_gid = (gid_t)setfsgid (gid);
  saved->old_uid = (uid_t)setfsuid (uid);
}

static void
cbox_fs_user_leave (CboxFsUser *saved)
{
  if (!saved->active)
    return;
  setfsuid (saved->old_uid);
  setfsgid (saved->old_gid);
  saved->active = FALSE;
}

/* ---- names and folders ---------------------------------------------------- */

char *
cbox_project_state_name (const char *project_dir)
{
  g_autofree char *base = NULL;
  g_autofree char *hash = NULL;
  GString *name = g_string_new (NULL);

  g_return_val_if_fail (project_dir != NULL, NULL);

  base = g_path_get_basename (project_dir);
  /* Any byte may be in a path; the folder name keeps a readable, portable
   * part only. The hash of the whole path keeps names apart. */
  for (const char *p = base; *p != '\0' && name->len < CBOX_PROJECT_NAME_MAX; p++)
    {
      gboolean keep
          = g_ascii_isalnum (*p) || *p == '-' || *p == '_' || (*p == '.' && name->len > 0);
      g_string_append_c (name, keep ? *p : '_');
    }
  if (g_str_equal (base, "/") || g_str_equal (base, "."))
    g_string_assign (name, "root");
  hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, project_dir, -1);
  g_string_append_printf (name, "-%.*s", CBOX_PROJECT_HASH_LEN, hash);
  return g_string_free (name, FALSE);
}

char *
cbox_project_state_root (const CboxHost *host)
{
  const char *state_home = cbox_host_getenv (host, "XDG_STATE_HOME");

  /* Under sudo the environment is the caller's, not the target user's. */
  if (state_home != NULL && g_path_is_absolute (state_home)
      && cbox_host_get_caller_uid (host) == cbox_host_get_uid (host))
    return g_build_filename (state_home, "cbox", "projects", NULL);
  return g_build_filename (cbox_host_get_home_dir (host), ".local", "state", "cbox", "projects",
                           NULL);
}

char *
cbox_project_state_dir (const CboxHost *host, const char *project_dir)
{
  g_autofree char *root = cbox_project_state_root (host);
  g_autofree char *name = cbox_project_state_name (project_dir);

  return g_build_filename (root, name, NULL);
}

char *
cbox_project_resolve_dir (const char *given, const char *cwd, GError **error)
{
  g_autofree char *path = g_canonicalize_filename (given != NULL ? given : ".", cwd);
  char *real = realpath (path, NULL);
  GStatBuf st;

  if (real == NULL || g_stat (real, &st) < 0 || !S_ISDIR (st.st_mode))
    {
      int saved_errno = real == NULL ? errno : ENOTDIR;
      g_autofree char *quoted = g_strescape (path, NULL);
      g_free (real);
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "The project directory '%s' cannot be used: %s (give one with --project=DIR)",
                   quoted, g_strerror (saved_errno));
      return NULL;
    }
  return real;
}

/* A project is bound read-write whole, so a project folder that holds far
 * more than a project hands the sandbox all of it: the home (every
 * dotfile the host later runs: .bashrc, .gitconfig, ~/.config/autostart),
 * a folder above the home, or a system folder. A sandbox can plant
 * `proj/x -> ~` and wait for the user to `cd proj/x && cbox run`, so the
 * decision is made on the real path (links resolved), never on the path
 * as given. Only `/` cannot be allowed at all. */
static const char *const cbox_project_system_dirs[] = {
  "/etc",  "/usr", "/var", "/boot", "/home",    "/root", "/run",
  "/proc", "/sys", "/dev", "/tmp",  "/var/tmp", "/opt",  "/srv",
};

static gboolean
cbox_project_same_dir (const char *real, const char *path)
{
  g_autofree char *resolved = NULL;

  if (g_str_equal (real, path))
    return TRUE;
  resolved = realpath (path, NULL);
  return resolved != NULL && g_str_equal (real, resolved);
}

const char *
cbox_project_path_refusal (const char *real)
{
  const char *path = g_getenv ("PATH");
  gsize real_len = strlen (real);
  g_auto (GStrv) dirs = NULL;

  /* A folder on the caller's PATH (~/bin, ~/.local/bin, ~/.cargo/bin,
   * /usr/local/bin), or one that holds such a folder (~/.cargo, ~/.local):
   * what the sandbox writes there, the host's shell runs later under a
   * common command's name (a delayed escape, like a git hook). Decided on
   * the entries' real paths. Relative entries are left out: they name no
   * fixed folder. */
  if (path == NULL)
    return NULL;
  dirs = g_strsplit (path, ":", -1);
  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *dir = NULL;

      if (!g_path_is_absolute (dirs[i]))
        continue;
      dir = realpath (dirs[i], NULL);
      if (dir == NULL)
        continue;
      if (g_str_equal (dir, real))
        return "a folder on your PATH, whose programs the host's shell runs";
      if (g_str_has_prefix (dir, real) && (dir[real_len] == '/' || g_str_equal (real, "/")))
        return "a folder that holds a folder on your PATH, whose programs the host's shell "
               "runs";
    }
  return NULL;
}

const char *
cbox_project_refusal (const CboxHost *host, const char *real, gboolean *ret_can_allow)
{
  const char *home = cbox_host_get_home_dir (host);
  g_autofree char *real_home = home != NULL ? realpath (home, NULL) : NULL;

  if (ret_can_allow != NULL)
    *ret_can_allow = TRUE;
  if (g_str_equal (real, "/"))
    {
      if (ret_can_allow != NULL)
        *ret_can_allow = FALSE;
      return "the root of the file system";
    }
  if (real_home != NULL && g_str_equal (real, real_home))
    return "your home folder";
  if (real_home != NULL && g_str_has_prefix (real_home, real) && real_home[strlen (real)] == '/')
    return "a folder that holds your home folder";
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_project_system_dirs); i++)
    if (cbox_project_same_dir (real, cbox_project_system_dirs[i]))
      return "a system folder";
  return NULL;
}

gboolean
cbox_project_check_allowed (const CboxHost *host, const char *real, GPtrArray *allow_projects,
                            CboxPlan *plan, GError **error)
{
  gboolean can_allow = TRUE;
  const char *rule = cbox_project_refusal (host, real, &can_allow);
  g_autofree char *quoted = NULL;

  if (rule == NULL)
    rule = cbox_project_path_refusal (real);

  if (rule == NULL)
    return TRUE;
  quoted = g_strescape (real, NULL);
  for (guint i = 0; can_allow && allow_projects != NULL && i < allow_projects->len; i++)
    {
      CboxPathRequest *allow = g_ptr_array_index (allow_projects, i);
      if (g_str_equal (allow->path, real))
        {
          if (plan != NULL)
            cbox_plan_add_note (plan,
                                "warning: the project %s is %s, bound read-write whole; "
                                "allowed by allow-project (from %s)",
                                quoted, rule, allow->origin);
          return TRUE;
        }
    }
  if (!can_allow)
    g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                 "The project directory cannot be / (the root of the file system; the sandbox "
                 "would get the whole host read-write): give a project folder with --project=DIR");
  else
    g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                 "Refusing the project directory '%s': it is %s, and the sandbox would get all of "
                 "it read-write (run cbox in a project folder or give one with --project=DIR; to "
                 "allow this folder anyway: --allow-project=%s, or allow-project=%s in [cbox] of "
                 "your cbox.conf)",
                 quoted, rule, quoted, quoted);
  return FALSE;
}

gboolean
cbox_project_get_persist (GKeyFile *config, CboxPersist *ret_persist, GError **error)
{
  g_auto (GStrv) items = NULL;
  CboxPersist persist = CBOX_PERSIST_NONE;

  /* Default: ~/.local only. Tools installed for the user (a coding agent's
   * native install, pip --user, npm's prefix) live there and should
   * survive the run, as in the launchers cbox replaces. /tmp stays private
   * to each run unless asked for: a shared, growing /tmp would also carry
   * sockets and locks from one run into the next. */
  if (!g_key_file_has_key (config, "cbox", "persist", NULL))
    {
      *ret_persist = CBOX_PERSIST_LOCAL;
      return TRUE;
    }
  items = g_key_file_get_string_list (config, "cbox", "persist", NULL, NULL);
  for (guint i = 0; items != NULL && items[i] != NULL; i++)
    {
      g_strstrip (items[i]);
      if (g_str_equal (items[i], "local"))
        persist |= CBOX_PERSIST_LOCAL;
      else if (g_str_equal (items[i], "tmp"))
        persist |= CBOX_PERSIST_TMP;
      else if (items[i][0] != '\0' && !g_str_equal (items[i], "none"))
        {
          g_autofree char *quoted = g_strescape (items[i], NULL);
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "Unknown item '%s' in [cbox] persist (use local, tmp, or none)", quoted);
          return FALSE;
        }
    }
  *ret_persist = persist;
  return TRUE;
}

/* `cbox run` makes the folders before planning (cbox_project_prepare());
 * `cbox plan` makes nothing, and a folder that could not be made is
 * skipped (the sandbox's folder then starts empty, as with --no-persist). */
static CboxMountFlags
cbox_project_source_flags (const char *src)
{
  return g_file_test (src, G_FILE_TEST_IS_DIR) ? CBOX_MOUNT_FLAG_NONE
                                               : CBOX_MOUNT_FLAG_ALLOW_MISSING;
}

static gboolean cbox_project_mkdir (const CboxHost *host, const char *path, GError **error);

/* ---- files kept per project: [cbox] persist-file ------------------------- */

#define CBOX_PROJECT_FILES_INSIDE "/run/cbox-files"
/* A seed larger than this is not copied (~/.claude.json is kilobytes). */
#define CBOX_PROJECT_FILE_MAX (16 * 1024 * 1024)

/* The host paths of [cbox] persist-file, expanded; NULL-terminated. */
static char **
cbox_project_get_files (const CboxHost *host, GKeyFile *config, GError **error)
{
  g_auto (GStrv) items = g_key_file_get_string_list (config, "cbox", "persist-file", NULL, NULL);
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; items != NULL && items[i] != NULL; i++)
    {
      g_autofree char *expanded = cbox_host_expand_path (host, items[i], error);
      g_autofree char *path = NULL;
      g_autofree char *name = NULL;

      if (expanded == NULL)
        return NULL;
      path = g_canonicalize_filename (expanded, "/");
      name = g_path_get_basename (path);
      if (g_str_equal (path, "/") || g_str_equal (name, ".") || g_str_equal (name, ".."))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "[cbox] persist-file: '%s' is not a file path", items[i]);
          return NULL;
        }
      for (guint j = 0; j < files->len; j++)
        {
          g_autofree char *other = g_path_get_basename (g_ptr_array_index (files, j));
          if (g_str_equal (other, name))
            {
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                           "[cbox] persist-file: two files named '%s' (each is kept under its "
                           "name)",
                           name);
              return NULL;
            }
        }
      g_ptr_array_add (files, g_steal_pointer (&path));
    }
  g_ptr_array_add (files, NULL);
  return (char **)g_ptr_array_free (g_steal_pointer (&files), FALSE);
}

/* A file the command rewrites and that should be remembered per project,
 * never written back to the host's (Claude Code's ~/.claude.json: the
 * trust dialog, the API-key answer, `claude mcp add`). It lives in
 * state/files/NAME, seeded from the host's file on the first run
 * (cbox_project_prepare()). Claude rewrites it by writing a temporary file
 * beside it and renaming it over it, which a bind of the single file
 * cannot take (the rename fails on a mount point). So the state folder
 * `files` is bound at /run/cbox-files and the path is a symlink to it:
 * Claude writes through one level of link, so its temporary file and the
 * rename land in the bound folder. Were a save to replace the link
 * instead, that save would stay in the run's private home and be lost, the
 * host's file untouched either way. Without persistence (persist=none) it
 * is a copy, as before. */
static gboolean
cbox_project_add_files (CboxPlan *plan, const CboxHost *host, GKeyFile *config,
                        const char *project_dir, CboxPersist persist, GError **error)
{
  g_auto (GStrv) files = cbox_project_get_files (host, config, error);
  g_autofree char *state_dir = NULL;
  g_autofree char *src = NULL;

  if (files == NULL)
    return FALSE;
  if (files[0] == NULL)
    return TRUE;
  if (persist == CBOX_PERSIST_NONE)
    {
      for (guint i = 0; files[i] != NULL; i++)
        if (!cbox_plan_add_copy (plan, files[i], files[i], CBOX_MOUNT_FLAG_ALLOW_MISSING, error))
          return FALSE;
      return TRUE;
    }
  state_dir = cbox_project_state_dir (host, project_dir);
  src = g_build_filename (state_dir, "files", NULL);
  cbox_plan_add_bind_rw (plan, src, CBOX_PROJECT_FILES_INSIDE, cbox_project_source_flags (src));
  for (guint i = 0; files[i] != NULL; i++)
    {
      g_autofree char *name = g_path_get_basename (files[i]);
      g_autofree char *target = g_build_filename (CBOX_PROJECT_FILES_INSIDE, name, NULL);
      cbox_plan_add_symlink (plan, target, files[i]);
    }
  return TRUE;
}

/* Seeds state/files/NAME from the host's file once. The folder is written
 * by the sandbox, so nothing in it is followed: the file is made with
 * O_CREAT | O_EXCL | O_NOFOLLOW through the folder's descriptor (a link
 * the sandbox left there stays as it is, pointing nowhere on the host). */
static gboolean
cbox_project_seed_files (const CboxHost *host, GKeyFile *config, const char *state_dir,
                         GError **error)
{
  g_auto (GStrv) files = cbox_project_get_files (host, config, error);
  g_autofree char *dir = NULL;
  cbox_autofd int dir_fd = -1;

  if (files == NULL)
    return FALSE;
  if (files[0] == NULL)
    return TRUE;
  dir = g_build_filename (state_dir, "files", NULL);
  if (!cbox_project_mkdir (host, dir, error))
    return FALSE;
  dir_fd = open (dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0)
    {
      int saved_errno = errno;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "Cannot open %s: %s", dir,
                   g_strerror (saved_errno));
      return FALSE;
    }
  for (guint i = 0; files[i] != NULL; i++)
    {
      g_autofree char *name = g_path_get_basename (files[i]);
      g_autoptr (GBytes) content = NULL;
      g_autoptr (GError) local_error = NULL;
      cbox_autofd int fd = -1;
      struct stat st;
      CboxFsUser fs_user;
      const guint8 *data;
      gsize len;
      gsize done = 0;

      if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        continue; /* kept from an earlier run */
      content = cbox_host_read_file (host, files[i], CBOX_PROJECT_FILE_MAX, &local_error);
      if (content == NULL)
        continue; /* none on the host: the command makes it inside */
      cbox_fs_user_enter (cbox_project_acts_for_user (host), cbox_host_get_uid (host),
                          cbox_host_get_gid (host), &fs_user);
      fd = openat (dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      cbox_fs_user_leave (&fs_user);
      if (fd < 0)
        {
          int saved_errno = errno;
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "Cannot create %s/%s: %s", dir, name,
                       g_strerror (saved_errno));
          return FALSE;
        }
      data = g_bytes_get_data (content, &len);
      while (done < len)
        {
          ssize_t n = write (fd, data + done, len - done);
          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            {
              int saved_errno = n < 0 ? errno : EIO;
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "Cannot write %s/%s: %s", dir,
                           name, g_strerror (saved_errno));
              return FALSE;
            }
          done += (gsize)n;
        }
    }
  return TRUE;
}

gboolean
cbox_project_add_to_plan (CboxPlan *plan, const CboxHost *host, GKeyFile *config,
                          const char *project_dir, GError **error)
{
  g_autofree char *state_dir = NULL;
  CboxPersist persist;

  if (!cbox_project_get_persist (config, &persist, error))
    return FALSE;
  if (!cbox_project_add_files (plan, host, config, project_dir, persist, error))
    return FALSE;
  if (persist == CBOX_PERSIST_NONE)
    return TRUE;

  state_dir = cbox_project_state_dir (host, project_dir);
  if (persist & CBOX_PERSIST_LOCAL)
    {
      const char *home = cbox_plan_get_home_dir (plan);
      g_autofree char *src = g_build_filename (state_dir, "local", NULL);
      g_autofree char *dest = g_build_filename (home, ".local", NULL);
      g_autofree char *share = g_build_filename (dest, "share", NULL);
      g_autofree char *state = g_build_filename (dest, "state", NULL);

      cbox_plan_add_bind_rw (plan, src, dest, cbox_project_source_flags (src));
      /* The base plan made these inside the tmpfs home; the bind hid them. */
      cbox_plan_add_dir (plan, share, 0755);
      cbox_plan_add_dir (plan, state, 0755);
    }
  if (persist & CBOX_PERSIST_TMP)
    {
      g_autofree char *src = g_build_filename (state_dir, "tmp", NULL);
      cbox_plan_add_bind_rw (plan, src, "/tmp", cbox_project_source_flags (src));
    }
  return TRUE;
}

/* A mount whose destination is a folder that later items go into. */
static gboolean
cbox_project_mount_is_container (const CboxMount *mount)
{
  return mount->kind == CBOX_MOUNT_RO || mount->kind == CBOX_MOUNT_RW
         || mount->kind == CBOX_MOUNT_TMPFS || mount->kind == CBOX_MOUNT_DEV;
}

static gboolean
cbox_project_is_below (const char *path, const char *dir)
{
  gsize len = strlen (dir);

  if (g_str_equal (dir, "/"))
    return path[0] == '/' && path[1] != '\0';
  return strncmp (path, dir, len) == 0 && path[len] == '/';
}

gboolean
cbox_project_check_persisted (const CboxPlan *plan, GError **error)
{
  guint n_mounts = cbox_plan_get_n_mounts (plan);

  /* The persisted folders are written by the sandbox and read again by the
   * backend of the next run, which makes the mount points of later plan
   * items (--dir ~/.local/share, a ro-bind of ~/.local/bin/claude) inside
   * them. A backend follows links while it does (mount(2) does), so a
   * link planted by an earlier run (~/.local/share -> the project's .git)
   * would make the backend create folders and files wherever it points:
   * flatpak's CVE-2024-42472. Every path a later item needs inside a
   * persisted folder is therefore looked up without following any link
   * (openat2 RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH), before any backend
   * runs; a link on the way stops the run. Done in the core on the plan,
   * so it holds for every backend. */
  for (guint i = 0; i < n_mounts; i++)
    {
      const CboxMount *persisted = cbox_plan_get_mount (plan, i);
      cbox_autofd int root_fd = -1;

      if (persisted->kind != CBOX_MOUNT_RW || g_strcmp0 (persisted->origin, "project") != 0)
        continue;
      root_fd = open (persisted->src, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (root_fd < 0)
        continue; /* not made yet: the backend skips it (allow-missing) */
      for (guint j = i + 1; j < n_mounts; j++)
        {
          const CboxMount *item = cbox_plan_get_mount (plan, j);
          const char *rel;
          gboolean covered = FALSE;
          cbox_autofd int fd = -1;
          struct stat st;

          if (!cbox_project_is_below (item->dest, persisted->dest))
            continue;
          for (guint k = i + 1; k < j && !covered; k++)
            {
              const CboxMount *other = cbox_plan_get_mount (plan, k);
              covered = cbox_project_mount_is_container (other)
                        && (g_str_equal (other->dest, item->dest)
                            || cbox_project_is_below (item->dest, other->dest));
            }
          if (covered)
            continue;
          rel = item->dest + strlen (persisted->dest)
                + (g_str_equal (persisted->dest, "/") ? 0 : 1);
          fd = cbox_open_beneath (root_fd, rel, O_PATH);
          if (fd >= 0 && (fstat (fd, &st) < 0 || !S_ISLNK (st.st_mode)))
            continue;
          if (fd < 0 && errno != ELOOP && errno != EXDEV)
            continue; /* missing (the backend makes it, in the folder) */
          {
            g_auto (GStrv) parts = g_strsplit (rel, "/", -1);
            g_autoptr (GString) prefix = g_string_new (NULL);
            g_autofree char *link = NULL;
            g_autofree char *quoted = NULL;
            g_autofree char *inside = g_strescape (persisted->dest, NULL);

            /* Name the first link on the way: every folder before it is
             * a real one, so fstatat() follows none. */
            for (guint p = 0; parts[p] != NULL; p++)
              {
                g_string_append_printf (prefix, "%s%s", p > 0 ? "/" : "", parts[p]);
                if (fstatat (root_fd, prefix->str, &st, AT_SYMLINK_NOFOLLOW) == 0
                    && S_ISLNK (st.st_mode))
                  break;
              }
            link = g_build_filename (persisted->src, prefix->str, NULL);
            quoted = g_strescape (link, NULL);
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                         "The persisted folder behind the sandbox's %s holds a symbolic link, "
                         "'%s', that an earlier run made: cbox follows no link in a persisted "
                         "folder (the backend would make %s through it, outside the folder; "
                         "flatpak's CVE-2024-42472). Remove the link (rm '%s') or run with "
                         "--no-persist",
                         inside, quoted, item->dest, quoted);
            return FALSE;
          }
        }
    }
  return TRUE;
}

static gboolean
cbox_project_mkdir (const CboxHost *host, const char *path, GError **error)
{
  CboxFsUser fs_user;
  int saved_errno = 0;

  cbox_fs_user_enter (cbox_project_acts_for_user (host), cbox_host_get_uid (host),
                      cbox_host_get_gid (host), &fs_user);
  if (g_mkdir_with_parents (path, 0700) < 0)
    saved_errno = errno;
  cbox_fs_user_leave (&fs_user);
  if (saved_errno != 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "Cannot create the project state folder %s: %s", path, g_strerror (saved_errno));
      return FALSE;
    }
  return TRUE;
}

gboolean
cbox_project_prepare (const CboxHost *host, GKeyFile *config, const char *project_dir,
                      GError **error)
{
  g_autofree char *state_dir = cbox_project_state_dir (host, project_dir);
  CboxPersist persist;

  if (!cbox_project_get_persist (config, &persist, error))
    return FALSE;
  if (persist & CBOX_PERSIST_LOCAL)
    {
      g_autofree char *dir = g_build_filename (state_dir, "local", NULL);
      if (!cbox_project_mkdir (host, dir, error))
        return FALSE;
    }
  if (persist & CBOX_PERSIST_TMP)
    {
      g_autofree char *dir = g_build_filename (state_dir, "tmp", NULL);
      if (!cbox_project_mkdir (host, dir, error))
        return FALSE;
    }
  if (persist != CBOX_PERSIST_NONE && !cbox_project_seed_files (host, config, state_dir, error))
    return FALSE;
  return TRUE;
}

/* ---- processes -------------------------------------------------------------- */

guint64
cbox_proc_get_start_time (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int)pid);
  g_autofree char *contents = NULL;
  g_auto (GStrv) fields = NULL;
  const char *p;

  if (pid <= 0 || !g_file_get_contents (path, &contents, NULL, NULL))
    return 0;
  /* The command name, in parentheses, may hold spaces and ')'. */
  p = strrchr (contents, ')');
  if (p == NULL)
    return 0;
  fields = g_strsplit (p + 2, " ", 0);
  /* Field 22 of stat(5); fields[0] is field 3. */
  if (g_strv_length (fields) < 20)
    return 0;
  return g_ascii_strtoull (fields[19], NULL, 10);
}

static pid_t
cbox_proc_get_parent (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int)pid);
  g_autofree char *contents = NULL;
  const char *p;

  if (!g_file_get_contents (path, &contents, NULL, NULL) || (p = strrchr (contents, ')')) == NULL)
    return 0;
  /* ") S PPID ..." */
  p += 2;
  p = strchr (p, ' ');
  return p != NULL ? (pid_t)g_ascii_strtoll (p + 1, NULL, 10) : 0;
}

static gboolean
cbox_proc_same_ns (pid_t a, pid_t b, const char *ns)
{
  g_autofree char *path_a = g_strdup_printf ("/proc/%d/ns/%s", (int)a, ns);
  g_autofree char *path_b = g_strdup_printf ("/proc/%d/ns/%s", (int)b, ns);
  GStatBuf st_a, st_b;

  if (g_stat (path_a, &st_a) < 0 || g_stat (path_b, &st_b) < 0)
    return TRUE;
  return st_a.st_ino == st_b.st_ino && st_a.st_dev == st_b.st_dev;
}

/* For a backend that does not report its sandbox's pid: the first
 * descendant of @cbox_pid, breadth first, in another pid namespace than
 * cbox's (the sandbox's init: nspawn's container leader, bwrap's pid 1). */
static pid_t
cbox_project_find_sandbox_process (pid_t cbox_pid)
{
  g_autoptr (GHashTable) children
      = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify)g_array_unref);
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  g_autoptr (GArray) queue = g_array_new (FALSE, FALSE, sizeof (pid_t));
  const char *name;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      guint64 value;
      pid_t pid, parent;
      GArray *list;

      if (!g_ascii_string_to_unsigned (name, 10, 1, G_MAXINT, &value, NULL))
        continue;
      pid = (pid_t)value;
      parent = cbox_proc_get_parent (pid);
      if (parent <= 0)
        continue;
      list = g_hash_table_lookup (children, GINT_TO_POINTER (parent));
      if (list == NULL)
        {
          list = g_array_new (FALSE, FALSE, sizeof (pid_t));
          g_hash_table_insert (children, GINT_TO_POINTER (parent), list);
        }
      g_array_append_val (list, pid);
    }
  g_array_append_val (queue, cbox_pid);
  for (guint i = 0; i < queue->len && i < 4096; i++)
    {
      pid_t pid = g_array_index (queue, pid_t, i);
      GArray *list = g_hash_table_lookup (children, GINT_TO_POINTER (pid));

      if (pid != cbox_pid && !cbox_proc_same_ns (pid, cbox_pid, "pid"))
        return pid;
      if (list != NULL)
        g_array_append_vals (queue, list->data, list->len);
    }
  return 0;
}

static int
cbox_pidfd_open (pid_t pid)
{
  return (int)syscall (SYS_pidfd_open, pid, 0);
}

static int
cbox_pidfd_send_signal (int pidfd, int sig)
{
  return (int)syscall (SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* A pidfd of @pid when it is still the process that started at
 * @start_time, else -1 (errno ESRCH). */
static int
cbox_pidfd_open_verified (pid_t pid, guint64 start_time)
{
  int pidfd;

  if (pid <= 0)
    {
      errno = ESRCH;
      return -1;
    }
  pidfd = cbox_pidfd_open (pid);
  if (pidfd < 0)
    return -1;
  /* Read after the pidfd exists: a pid reused in between shows another
   * start time. */
  if (cbox_proc_get_start_time (pid) != start_time)
    {
      close (pidfd);
      errno = ESRCH;
      return -1;
    }
  return pidfd;
}

/* TRUE when the process of @pidfd ended within @timeout_ms. */
static gboolean
cbox_pidfd_wait (int pidfd, int timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * 1000;

  for (;;)
    {
      struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      int r;

      if (left < 0)
        left = 0;
      r = poll (&pfd, 1, (int)left);
      if (r > 0)
        return TRUE;
      if (r == 0)
        return FALSE;
      if (errno != EINTR)
        return FALSE;
    }
}

/* ---- the registry ------------------------------------------------------------ */

struct _CboxInstance
{
  gboolean for_user;
  uid_t uid;
  gid_t gid;
  char *entry_path;
  char *lock_path;
  int lock_fd;
  gboolean pid_written;
  GKeyFile *key_file;
};

static gboolean
cbox_instance_write (CboxInstance *instance, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  CboxFsUser fs_user;
  gboolean ok;

  data = g_key_file_to_data (instance->key_file, &len, NULL);
  cbox_fs_user_enter (instance->for_user, instance->uid, instance->gid, &fs_user);
  /* Whole or not at all: `cbox ps` never reads half an entry. */
  ok = cbox_write_file_atomic (instance->entry_path, data, len, 0600, error);
  cbox_fs_user_leave (&fs_user);
  return ok;
}

static char *
cbox_instance_now_iso8601 (void)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  return g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
}

CboxInstance *
cbox_instance_register (const CboxHost *host, const char *project_dir, const char *id,
                        const char *backend, const char *profile, const char *const *command,
                        gboolean allow_userns, GError **error)
{
  g_autoptr (CboxInstance) instance = g_new0 (CboxInstance, 1);
  g_autofree char *state_dir = cbox_project_state_dir (host, project_dir);
  g_autofree char *running_dir = g_build_filename (state_dir, "running", NULL);
  g_autofree char *tmp_name = g_strdup_printf (".%s.lock", id);
  g_autofree char *lock_name = g_strdup_printf ("%s.lock", id);
  g_autofree char *tmp_path = g_build_filename (running_dir, tmp_name, NULL);
  g_autofree char *escaped_project = g_strescape (project_dir, NULL);
  g_autofree char *started = cbox_instance_now_iso8601 ();
  g_autoptr (GPtrArray) escaped_command = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) stale = NULL;
  CboxFsUser fs_user;
  int saved_errno = 0;

  instance->lock_fd = -1;
  instance->for_user = cbox_project_acts_for_user (host);
  instance->uid = cbox_host_get_uid (host);
  instance->gid = cbox_host_get_gid (host);
  if (!cbox_project_mkdir (host, running_dir, error))
    return NULL;
  /* The next run sweeps what a killed one left. */
  stale = cbox_instance_list (host, project_dir);

  /* The lock is made under a hidden name, locked, then renamed into place:
   * a lock file under its real name is always held by a live run or
   * free because that run is gone. */
  cbox_fs_user_enter (instance->for_user, instance->uid, instance->gid, &fs_user);
  instance->lock_fd = open (tmp_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (instance->lock_fd < 0 || flock (instance->lock_fd, LOCK_EX | LOCK_NB) < 0)
    saved_errno = errno;
  else
    {
      instance->lock_path = g_build_filename (running_dir, lock_name, NULL);
      if (rename (tmp_path, instance->lock_path) < 0)
        {
          saved_errno = errno;
          unlink (tmp_path);
          g_clear_pointer (&instance->lock_path, g_free);
        }
    }
  cbox_fs_user_leave (&fs_user);
  if (saved_errno != 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "Cannot make the registry entry %s: %s",
                   tmp_path, g_strerror (saved_errno));
      return NULL;
    }

  instance->entry_path = g_build_filename (running_dir, id, NULL);
  instance->key_file = g_key_file_new ();
  for (guint i = 0; command != NULL && command[i] != NULL; i++)
    g_ptr_array_add (escaped_command, g_strescape (command[i], NULL));
  g_key_file_set_string (instance->key_file, CBOX_ENTRY_GROUP, "id", id);
  g_key_file_set_string (instance->key_file, CBOX_ENTRY_GROUP, "backend", backend);
  g_key_file_set_string (instance->key_file, CBOX_ENTRY_GROUP, "project", escaped_project);
  if (profile != NULL)
    g_key_file_set_string (instance->key_file, CBOX_ENTRY_GROUP, "profile", profile);
  g_key_file_set_string_list (instance->key_file, CBOX_ENTRY_GROUP, "command",
                              (const char *const *)escaped_command->pdata, escaped_command->len);
  g_key_file_set_string (instance->key_file, CBOX_ENTRY_GROUP, "started", started);
  g_key_file_set_int64 (instance->key_file, CBOX_ENTRY_GROUP, "cbox-pid", getpid ());
  g_key_file_set_uint64 (instance->key_file, CBOX_ENTRY_GROUP, "cbox-start-time",
                         cbox_proc_get_start_time (getpid ()));
  g_key_file_set_int64 (instance->key_file, CBOX_ENTRY_GROUP, "sandbox-pid", 0);
  /* For `cbox enter`: what it runs gets the run's own seccomp filter. */
  g_key_file_set_boolean (instance->key_file, CBOX_ENTRY_GROUP, "allow-userns", allow_userns);
  if (!cbox_instance_write (instance, error))
    return NULL;
  return g_steal_pointer (&instance);
}

/* The sandbox's pid goes into the lock file, written once through the fd
 * the run holds, rather than into a new entry renamed over the old one:
 * ext4 (auto_da_alloc) starts writing a file renamed over another to disk
 * at once, and removing it at the end of the run then waited for that I/O,
 * 0.4 to 2.5 ms of every run on this project's machine
 * (docs/benchmarks.md). A reader sees the lock file empty (the sandbox is
 * still starting) or whole: the size grows only once the bytes are in. */
void
cbox_instance_set_sandbox_pid (CboxInstance *instance, pid_t pid)
{
  g_autofree char *line = NULL;
  guint64 start_time;
  gsize len;
  gsize done = 0;

  g_return_if_fail (instance != NULL);
  if (instance->lock_fd < 0 || instance->pid_written)
    return;
  start_time = cbox_proc_get_start_time (pid);
  line = g_strdup_printf ("sandbox-pid=%d\nsandbox-start-time=%" G_GUINT64_FORMAT "\n", (int)pid,
                          start_time);
  len = strlen (line);
  while (done < len)
    {
      ssize_t n = pwrite (instance->lock_fd, line + done, len - done, (off_t)done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          /* The sandbox runs on without it; only `cbox enter` will not find it. */
          g_printerr ("cbox: warning: cannot record the sandbox's pid in %s: %s\n",
                      instance->lock_path, g_strerror (n < 0 ? errno : EIO));
          return;
        }
      done += (gsize)n;
    }
  instance->pid_written = TRUE;
}

/* The sandbox's pid and start time from a lock file's content, if its run
 * wrote them. */
static void
cbox_instance_info_load_pid (CboxInstanceInfo *info, const char *lock_path)
{
  char buf[256];
  ssize_t n;
  int fd = open (lock_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  g_auto (GStrv) lines = NULL;
  gint64 pid = 0;
  guint64 start_time = 0;

  if (fd < 0)
    return;
  do
    n = read (fd, buf, sizeof buf - 1);
  while (n < 0 && errno == EINTR);
  close (fd);
  if (n <= 0)
    return;
  buf[n] = '\0';
  lines = g_strsplit (buf, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (g_str_has_prefix (lines[i], "sandbox-pid="))
        g_ascii_string_to_signed (lines[i] + strlen ("sandbox-pid="), 10, 1, G_MAXINT32, &pid,
                                  NULL);
      else if (g_str_has_prefix (lines[i], "sandbox-start-time="))
        g_ascii_string_to_unsigned (lines[i] + strlen ("sandbox-start-time="), 10, 1, G_MAXUINT64,
                                    &start_time, NULL);
    }
  if (pid > 0 && start_time > 0)
    {
      info->sandbox_pid = (pid_t)pid;
      info->sandbox_start_time = start_time;
    }
}

void
cbox_instance_free (CboxInstance *instance)
{
  CboxFsUser fs_user;

  if (instance == NULL)
    return;
  cbox_fs_user_enter (instance->for_user, instance->uid, instance->gid, &fs_user);
  /* The entry first: an entry never outlives its lock file. */
  if (instance->entry_path != NULL)
    unlink (instance->entry_path);
  if (instance->lock_path != NULL)
    unlink (instance->lock_path);
  cbox_fs_user_leave (&fs_user);
  if (instance->lock_fd >= 0)
    close (instance->lock_fd);
  g_free (instance->entry_path);
  g_free (instance->lock_path);
  g_clear_pointer (&instance->key_file, g_key_file_unref);
  g_free (instance);
}

void
cbox_instance_info_free (CboxInstanceInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->id);
  g_free (info->backend);
  g_free (info->project);
  g_free (info->profile);
  g_strfreev (info->command);
  g_free (info->started);
  g_free (info->running_dir);
  g_free (info);
}

static CboxInstanceInfo *
cbox_instance_info_load (const char *running_dir, const char *id)
{
  g_autofree char *path = g_build_filename (running_dir, id, NULL);
  g_autofree char *lock_path = g_strconcat (path, ".lock", NULL);
  g_autoptr (GKeyFile) key_file = g_key_file_new ();
  g_autoptr (CboxInstanceInfo) info = g_new0 (CboxInstanceInfo, 1);
  g_autofree char *project = NULL;
  g_auto (GStrv) command = NULL;

  if (!g_key_file_load_from_file (key_file, path, G_KEY_FILE_NONE, NULL))
    return NULL;
  info->id = g_strdup (id);
  info->running_dir = g_strdup (running_dir);
  info->backend = g_key_file_get_string (key_file, CBOX_ENTRY_GROUP, "backend", NULL);
  project = g_key_file_get_string (key_file, CBOX_ENTRY_GROUP, "project", NULL);
  info->project = project != NULL ? g_strcompress (project) : NULL;
  info->profile = g_key_file_get_string (key_file, CBOX_ENTRY_GROUP, "profile", NULL);
  command = g_key_file_get_string_list (key_file, CBOX_ENTRY_GROUP, "command", NULL, NULL);
  info->command = g_new0 (char *, command != NULL ? g_strv_length (command) + 1 : 1);
  for (guint i = 0; command != NULL && command[i] != NULL; i++)
    info->command[i] = g_strcompress (command[i]);
  info->started = g_key_file_get_string (key_file, CBOX_ENTRY_GROUP, "started", NULL);
  info->cbox_pid = (pid_t)g_key_file_get_int64 (key_file, CBOX_ENTRY_GROUP, "cbox-pid", NULL);
  info->cbox_start_time
      = g_key_file_get_uint64 (key_file, CBOX_ENTRY_GROUP, "cbox-start-time", NULL);
  info->sandbox_pid = (pid_t)g_key_file_get_int64 (key_file, CBOX_ENTRY_GROUP, "sandbox-pid", NULL);
  info->sandbox_start_time
      = g_key_file_get_uint64 (key_file, CBOX_ENTRY_GROUP, "sandbox-start-time", NULL);
  /* Missing (an entry of an older cbox): FALSE, the stricter filter. */
  info->allow_userns = g_key_file_get_boolean (key_file, CBOX_ENTRY_GROUP, "allow-userns", NULL);
  cbox_instance_info_load_pid (info, lock_path);
  if (info->backend == NULL || info->project == NULL || info->cbox_pid <= 0)
    return NULL;
  return g_steal_pointer (&info);
}

static gboolean
cbox_registry_name_is_id (const char *name)
{
  if (name[0] == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p))
      return FALSE;
  return TRUE;
}

/* Adds the live entries of one running/ folder to @list; removes stale ones. */
static void
cbox_registry_scan (const char *running_dir, GPtrArray *list)
{
  g_autoptr (GDir) dir = g_dir_open (running_dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (running_dir, name, NULL);
      g_autofree char *id = NULL;
      g_autofree char *entry_path = NULL;
      cbox_autofd int fd = -1;
      gboolean hidden = name[0] == '.';

      if (!g_str_has_suffix (name, ".lock"))
        {
          /* An entry whose lock is gone is a leftover (a run removes its
           * entry before its lock). */
          g_autofree char *lock_path = g_strconcat (path, ".lock", NULL);
          if (cbox_registry_name_is_id (name) && !g_file_test (lock_path, G_FILE_TEST_EXISTS))
            unlink (path);
          continue;
        }
      id = g_strndup (name + (hidden ? 1 : 0), strlen (name) - 5 - (hidden ? 1 : 0));
      if (!cbox_registry_name_is_id (id))
        continue;
      fd = open (path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        continue;
      if (flock (fd, LOCK_EX | LOCK_NB) == 0)
        {
          /* Free: its run is gone. A hidden one may be a run that has not
           * locked it yet; only old ones are leftovers. */
          GStatBuf st;
          if (hidden
              && (g_stat (path, &st) < 0 || time (NULL) - st.st_mtime < CBOX_REGISTRY_TMP_AGE_S))
            continue;
          entry_path = g_build_filename (running_dir, id, NULL);
          unlink (entry_path);
          unlink (path);
          continue;
        }
      if (!hidden)
        {
          CboxInstanceInfo *info = cbox_instance_info_load (running_dir, id);
          if (info != NULL)
            g_ptr_array_add (list, info);
        }
    }
}

static int
cbox_instance_info_compare (gconstpointer a, gconstpointer b)
{
  const CboxInstanceInfo *ia = *(const CboxInstanceInfo *const *)a;
  const CboxInstanceInfo *ib = *(const CboxInstanceInfo *const *)b;
  int r = g_strcmp0 (ia->started, ib->started);

  return r != 0 ? r : g_strcmp0 (ia->id, ib->id);
}

GPtrArray *
cbox_instance_list (const CboxHost *host, const char *project_dir)
{
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_instance_info_free);
  CboxFsUser fs_user;

  cbox_fs_user_enter (cbox_project_acts_for_user (host), cbox_host_get_uid (host),
                      cbox_host_get_gid (host), &fs_user);
  if (project_dir != NULL)
    {
      g_autofree char *state_dir = cbox_project_state_dir (host, project_dir);
      g_autofree char *running_dir = g_build_filename (state_dir, "running", NULL);
      cbox_registry_scan (running_dir, list);
    }
  else
    {
      g_autofree char *root = cbox_project_state_root (host);
      g_autoptr (GDir) dir = g_dir_open (root, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *running_dir = g_build_filename (root, name, "running", NULL);
          cbox_registry_scan (running_dir, list);
        }
    }
  cbox_fs_user_leave (&fs_user);
  g_ptr_array_sort (list, cbox_instance_info_compare);
  return list;
}

char *
cbox_project_find_running (const CboxHost *host, const char *dir)
{
  g_autofree char *current = g_strdup (dir);

  for (;;)
    {
      g_autoptr (GPtrArray) list = cbox_instance_list (host, current);
      g_autofree char *parent = NULL;

      if (list->len > 0)
        return g_steal_pointer (&current);
      parent = g_path_get_dirname (current);
      if (g_str_equal (parent, current))
        return NULL;
      g_free (current);
      current = g_steal_pointer (&parent);
    }
}

/* ---- commands --------------------------------------------------------------- */

static char *
cbox_project_printable (const char *text)
{
  if (text == NULL)
    return g_strdup ("-");
  if (g_utf8_validate (text, -1, NULL) && strpbrk (text, "\n\t\r") == NULL)
    return g_strdup (text);
  return g_strescape (text, NULL);
}

static char *
cbox_project_command_line (char **command)
{
  g_autoptr (GString) line = g_string_new (NULL);

  for (guint i = 0; command != NULL && command[i] != NULL; i++)
    {
      g_autofree char *quoted = g_shell_quote (command[i]);
      g_autofree char *printable = cbox_project_printable (quoted);
      g_string_append_printf (line, "%s%s", i > 0 ? " " : "", printable);
    }
  return g_string_free (g_steal_pointer (&line), FALSE);
}

static void
cbox_json_append_string (GString *out, const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text != NULL ? text : "", -1);

  g_string_append_c (out, '"');
  for (const char *p = valid; *p != '\0'; p++)
    {
      guchar c = (guchar)*p;
      if (c == '"' || c == '\\')
        g_string_append_printf (out, "\\%c", c);
      else if (c < 0x20)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_c (out, (char)c);
    }
  g_string_append_c (out, '"');
}

int
cbox_project_cli_ps (const CboxHost *host, const char *project_dir, gboolean all, gboolean json)
{
  g_autoptr (GPtrArray) list = cbox_instance_list (host, all ? NULL : project_dir);
  g_autoptr (GString) out = g_string_new (NULL);

  if (json)
    {
      g_string_append (out, "[");
      for (guint i = 0; i < list->len; i++)
        {
          CboxInstanceInfo *info = g_ptr_array_index (list, i);

          g_string_append (out, i > 0 ? ",\n  {" : "\n  {");
          g_string_append (out, "\"id\": ");
          cbox_json_append_string (out, info->id);
          g_string_append (out, ", \"backend\": ");
          cbox_json_append_string (out, info->backend);
          g_string_append (out, ", \"project\": ");
          cbox_json_append_string (out, info->project);
          g_string_append (out, ", \"profile\": ");
          if (info->profile != NULL)
            cbox_json_append_string (out, info->profile);
          else
            g_string_append (out, "null");
          g_string_append (out, ", \"command\": [");
          for (guint c = 0; info->command[c] != NULL; c++)
            {
              if (c > 0)
                g_string_append (out, ", ");
              cbox_json_append_string (out, info->command[c]);
            }
          g_string_append (out, "], \"started\": ");
          cbox_json_append_string (out, info->started);
          g_string_append_printf (out,
                                  ", \"cbox_pid\": %d, \"sandbox_pid\": ", (int)info->cbox_pid);
          if (info->sandbox_pid > 0)
            g_string_append_printf (out, "%d}", (int)info->sandbox_pid);
          else
            g_string_append (out, "null}");
        }
      g_string_append (out, list->len > 0 ? "\n]\n" : "]\n");
    }
  else
    {
      g_string_append_printf (out, "%-16s %-7s %-8s %-20s %s%s\n", "ID", "BACKEND", "PID",
                              "STARTED", all ? "PROJECT  " : "", "COMMAND");
      for (guint i = 0; i < list->len; i++)
        {
          CboxInstanceInfo *info = g_ptr_array_index (list, i);
          g_autofree char *pid = info->sandbox_pid > 0
                                     ? g_strdup_printf ("%d", (int)info->sandbox_pid)
                                     : g_strdup ("-");
          g_autofree char *project = all ? cbox_project_printable (info->project) : NULL;
          g_autofree char *command = cbox_project_command_line (info->command);

          g_string_append_printf (out, "%-16s %-7s %-8s %-20s %s%s%s\n", info->id, info->backend,
                                  pid, info->started != NULL ? info->started : "-",
                                  all ? project : "", all ? "  " : "", command);
        }
    }
  fputs (out->str, stdout);
  fflush (stdout);
  return 0;
}

/* The entries @instance_id names (an id or a unique prefix of one, looked
 * for in the project first, then everywhere), or the project's. */
static GPtrArray *
cbox_project_select (const CboxHost *host, const char *project_dir, const char *instance_id,
                     gboolean all, GError **error)
{
  g_autoptr (GPtrArray) list
      = cbox_instance_list (host, all || instance_id != NULL ? NULL : project_dir);
  g_autoptr (GPtrArray) chosen
      = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_instance_info_free);

  if (instance_id == NULL)
    return g_steal_pointer (&list);
  for (guint i = 0; i < list->len; i++)
    {
      CboxInstanceInfo *info = g_ptr_array_index (list, i);
      if (g_str_has_prefix (info->id, instance_id))
        g_ptr_array_add (chosen, g_ptr_array_steal_index (list, i--));
    }
  if (chosen->len == 0)
    {
      g_autofree char *quoted = g_strescape (instance_id, NULL);
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "No running sandbox has the id '%s' (see 'cbox ps --all')", quoted);
      return NULL;
    }
  if (chosen->len > 1)
    {
      g_autofree char *quoted = g_strescape (instance_id, NULL);
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "'%s' is the start of %u sandboxes' ids; give more of it (see 'cbox ps --all')",
                   quoted, chosen->len);
      return NULL;
    }
  return g_steal_pointer (&chosen);
}

static int cbox_project_fail (const char *format, ...) G_GNUC_PRINTF (1, 2);

static int
cbox_project_fail (const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("cbox: %s\n", message);
  return CBOX_EXIT_FAILURE;
}

static char *
cbox_project_libexec_dir (void)
{
  /* Which program joins the sandbox is security-relevant: under
   * AT_SECURE the environment cannot change it. */
  const char *dir = secure_getenv ("CBOX_LIBEXEC_DIR");

  return g_strdup (dir != NULL && dir[0] == '/' ? dir : CBOX_LIBEXEC_DIR);
}

int
cbox_project_cli_enter (const CboxHost *host, const char *project_dir, const char *instance_id,
                        const char *const *command)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) list = cbox_project_select (host, project_dir, instance_id, FALSE, &error);
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *libexec_dir = cbox_project_libexec_dir ();
  g_autofree char *helper = g_build_filename (libexec_dir, "cbox-enter", NULL);
  g_autofree char *printable = cbox_project_printable (project_dir);
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *real_cwd = realpath (cwd, NULL);
  g_autofree char *inside_cwd = NULL;
  CboxInstanceInfo *info;

  if (list == NULL)
    return cbox_project_fail ("%s", error->message);
  if (list->len == 0)
    return cbox_project_fail ("No sandbox is running for the project %s (start one with 'cbox "
                              "run'; 'cbox ps --all' lists every project's)",
                              printable);
  if (list->len > 1)
    return cbox_project_fail ("%u sandboxes are running for the project %s; choose one with "
                              "--instance=ID (see 'cbox ps')",
                              list->len, printable);
  info = g_ptr_array_index (list, 0);

  /* A VM runs its own kernel: there are no namespaces on this host to
   * join, and its console is the first run's terminal. */
  if (g_str_equal (info->backend, "qemu"))
    return cbox_project_fail ("Cannot enter sandbox %s: backend qemu runs a virtual machine with "
                              "its own kernel, whose processes cbox cannot join (open a second "
                              "shell from inside the VM instead; 'cbox stop' works)",
                              info->id);
  if (info->sandbox_pid <= 0 && cbox_proc_get_start_time (info->cbox_pid) == info->cbox_start_time)
    {
      /* The backend did not say (an older or third-party backend): look
       * for the sandbox among the run's processes. */
      info->sandbox_pid = cbox_project_find_sandbox_process (info->cbox_pid);
      info->sandbox_start_time = cbox_proc_get_start_time (info->sandbox_pid);
    }
  if (info->sandbox_pid <= 0 || info->sandbox_start_time == 0)
    return cbox_project_fail ("Cannot enter sandbox %s: backend %s did not report a process "
                              "inside it (it may still be starting; try again)",
                              info->id, info->backend);
  if (cbox_proc_get_start_time (info->sandbox_pid) != info->sandbox_start_time)
    return cbox_project_fail ("Sandbox %s has ended", info->id);

  /* In the project, or in the same subfolder of it the caller is in. */
  if (real_cwd != NULL && info->project != NULL
      && (g_str_equal (real_cwd, info->project)
          || (g_str_has_prefix (real_cwd, info->project)
              && real_cwd[strlen (info->project)] == '/')))
    inside_cwd = g_strdup (real_cwd);
  else
    inside_cwd = g_strdup (info->project);

  g_ptr_array_add (argv, g_strdup (helper));
  if (info->allow_userns)
    g_ptr_array_add (argv, g_strdup ("--allow-userns"));
  g_ptr_array_add (argv, g_strdup_printf ("%d", (int)info->sandbox_pid));
  g_ptr_array_add (argv, g_strdup_printf ("%" G_GUINT64_FORMAT, info->sandbox_start_time));
  g_ptr_array_add (argv, g_strdup_printf ("%u", (unsigned)cbox_host_get_uid (host)));
  g_ptr_array_add (argv, g_strdup_printf ("%u", (unsigned)cbox_host_get_gid (host)));
  g_ptr_array_add (argv, g_strdup (inside_cwd));
  g_ptr_array_add (argv, g_strdup ("--"));
  for (guint i = 0; command != NULL && command[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (command[i]));
  g_ptr_array_add (argv, NULL);

  fflush (stdout);
  execv (helper, (char **)argv->pdata);
  {
    int saved_errno = errno;
    return cbox_project_fail ("Cannot run %s: %s (is cbox installed completely?)", helper,
                              g_strerror (saved_errno));
  }
}

/* Waits (bounded) until the run of @info let go of its lock. */
static gboolean
cbox_project_wait_unlocked (CboxInstanceInfo *info, int timeout_ms)
{
  g_autofree char *lock_name = g_strdup_printf ("%s.lock", info->id);
  g_autofree char *lock_path = g_build_filename (info->running_dir, lock_name, NULL);
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * 1000;

  for (;;)
    {
      cbox_autofd int fd = open (lock_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

      if (fd < 0 || flock (fd, LOCK_SH | LOCK_NB) == 0)
        return TRUE;
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_usleep (20 * 1000);
    }
}

static gboolean
cbox_project_stop_one (const CboxHost *host, CboxInstanceInfo *info, GError **error)
{
  cbox_autofd int cbox_fd = cbox_pidfd_open_verified (info->cbox_pid, info->cbox_start_time);
  cbox_autofd int sandbox_fd = -1;

  if (cbox_fd < 0)
    return TRUE; /* ended by itself */
  /* SIGTERM goes to `cbox run`, which passes it to the command as it does
   * with any signal sent to it; the command's 128+15 becomes its status and
   * it cleans up (helpers, registry) as after any run. */
  if (cbox_pidfd_send_signal (cbox_fd, SIGTERM) < 0)
    {
      int saved_errno = errno;
      if (saved_errno == ESRCH)
        return TRUE;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "Cannot stop sandbox %s (cbox pid %d): %s%s", info->id, (int)info->cbox_pid,
                   g_strerror (saved_errno),
                   saved_errno == EPERM ? " (was it started by another user, or with sudo?)" : "");
      return FALSE;
    }
  if (cbox_pidfd_wait (cbox_fd, CBOX_STOP_TERM_TIMEOUT_MS))
    return TRUE;

  g_printerr ("cbox: sandbox %s did not end %d s after SIGTERM; sending SIGKILL\n", info->id,
              CBOX_STOP_TERM_TIMEOUT_MS / 1000);
  sandbox_fd = cbox_pidfd_open_verified (info->sandbox_pid, info->sandbox_start_time);
  if (sandbox_fd >= 0)
    cbox_pidfd_send_signal (sandbox_fd, SIGKILL);
  cbox_pidfd_send_signal (cbox_fd, SIGKILL);
  if (!cbox_pidfd_wait (cbox_fd, CBOX_STOP_KILL_TIMEOUT_MS))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "Sandbox %s (cbox pid %d) is still running after SIGKILL", info->id,
                   (int)info->cbox_pid);
      return FALSE;
    }
  return TRUE;
}

int
cbox_project_cli_stop (const CboxHost *host, const char *project_dir, const char *instance_id,
                       gboolean all)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) list = cbox_project_select (host, project_dir, instance_id, all, &error);
  int status = 0;

  if (list == NULL)
    return cbox_project_fail ("%s", error->message);
  if (list->len == 0)
    {
      g_autofree char *printable = cbox_project_printable (project_dir);
      if (all)
        g_printerr ("cbox: no sandbox is running\n");
      else
        g_printerr ("cbox: no sandbox is running for the project %s\n", printable);
      return 0;
    }
  for (guint i = 0; i < list->len; i++)
    {
      CboxInstanceInfo *info = g_ptr_array_index (list, i);
      g_autoptr (GError) local_error = NULL;

      if (!cbox_project_stop_one (host, info, &local_error))
        {
          g_printerr ("cbox: %s\n", local_error->message);
          status = CBOX_EXIT_FAILURE;
          continue;
        }
      /* The run removes its entry on the way out; after SIGKILL the sweep
       * below does. */
      cbox_project_wait_unlocked (info, 2000);
      g_print ("stopped %s\n", info->id);
    }
  g_ptr_array_unref (cbox_instance_list (host, all || instance_id != NULL ? NULL : project_dir));
  fflush (stdout);
  return status;
}

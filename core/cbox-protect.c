/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cbox-protect.h"

/* What host tools run from a folder they trust: git (hooks, config with
 * core.fsmonitor / core.hooksPath / filters, info/attributes, a commondir
 * or config.worktree that redirects the config, submodule URLs), direnv,
 * editors' tasks and settings, Claude Code's settings, hooks, commands,
 * agents, skills (instructions and scripts its model follows) and MCP
 * servers, dev containers, husky, and shell start-up files (relative:
 * where a writable bind is a home-like folder). At least what
 * Claude Code's own sandbox denies, and what it calls dangerous. */
static const char *const cbox_protect_defaults[] = {
  ".git/hooks",
  ".git/config",
  ".git/info",
  ".git/commondir",
  ".git/config.worktree",
  ".gitmodules",
  ".envrc",
  ".vscode",
  ".idea",
  ".mcp.json",
  ".claude/settings.json",
  ".claude/settings.local.json",
  ".claude/commands",
  ".claude/agents",
  ".claude/hooks",
  ".claude/skills",
  ".devcontainer",
  ".husky",
  ".bashrc",
  ".bash_profile",
  ".bash_login",
  ".bash_logout",
  ".profile",
  ".zshrc",
  ".zprofile",
  ".zshenv",
  ".zlogin",
  ".zlogout",
  ".gitconfig",
  ".ripgreprc",
  "~/.config/git",
  "~/.config/fish",
  "~/.config/autostart",
  "~/.config/systemd",
  "~/.config/environment.d",
  "~/.ssh",
  NULL,
};

const char *const *
cbox_protect_get_defaults (void)
{
  return cbox_protect_defaults;
}

gboolean
cbox_protect_entry_is_valid (const char *entry)
{
  g_auto (GStrv) parts = NULL;

  if (entry == NULL)
    return FALSE;
  if (g_str_has_prefix (entry, "~/"))
    entry += 2;
  if (entry[0] == '\0' || entry[0] == '/')
    return FALSE;
  parts = g_strsplit (entry, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] == '\0' || g_str_equal (parts[i], ".") || g_str_equal (parts[i], ".."))
      return FALSE;
  return TRUE;
}

/* ---- the snapshot ---------------------------------------------------------- */

typedef struct
{
  mode_t type; /* S_IFMT bits; 0: missing */
  dev_t dev;
  ino_t ino;
} CboxProtectId;

/* One path watched after the run: @rel below the host folder @root. */
typedef struct
{
  char *root;
  int root_fd;  /* its CboxProtectRoot's, not owned */
  char **parts; /* @rel split */
  char *entry;
  const char *origin;
  GArray *before; /* CboxProtectId, one per part, up to the first missing */
  /* The path itself when it was a regular file of at most
   * CBOX_PROTECT_COPY_MAX bytes: its content, to put back. */
  GBytes *content;
  struct stat st;
} CboxProtectWatch;

#define CBOX_PROTECT_COPY_MAX (1024 * 1024)

/* A writable bind's host folder, held open from before the run to after
 * it. A bind nested in another writable bind (`--bind=proj/sub:/data`)
 * is not a mount point at its own path inside, so the sandbox can rename
 * it and put a link in its place (`proj/sub -> ~`): looked up by path
 * after the run, the check would rename, and put back a snapshot into,
 * whatever the link leads to (the host's ~/.bashrc). The descriptor is
 * the folder itself, wherever it went. */
typedef struct
{
  char *path;
  int fd;
  dev_t dev;
  ino_t ino;
} CboxProtectRoot;

static void
cbox_protect_root_free (CboxProtectRoot *root)
{
  g_free (root->path);
  if (root->fd >= 0)
    close (root->fd);
  g_free (root);
}

struct _CboxProtect
{
  GPtrArray *watches; /* CboxProtectWatch* */
  /* CboxProtectRoot*: the writable binds' host folders, whose protected
   * paths and repositories are looked at after the run. */
  GPtrArray *roots;
  /* When the protected paths were applied, read from the clock the kernel
   * stamps ctime with (the coarse real-time clock; a fine-grained ctime is
   * never behind it): whatever changes after it has a ctime at least this. */
  struct timespec start;
  /* What could not be moved aside after the run. */
  guint n_failed;
};

static void
cbox_protect_watch_free (CboxProtectWatch *watch)
{
  g_free (watch->root);
  g_strfreev (watch->parts);
  g_free (watch->entry);
  g_array_unref (watch->before);
  g_clear_pointer (&watch->content, g_bytes_unref);
  g_free (watch);
}

void
cbox_protect_free (CboxProtect *protect)
{
  if (protect == NULL)
    return;
  g_ptr_array_unref (protect->watches);
  g_clear_pointer (&protect->roots, g_ptr_array_unref);
  g_free (protect);
}

static CboxProtectId
cbox_protect_id_at (int dir_fd, const char *name)
{
  CboxProtectId id = { 0 };
  struct stat st;

  if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      id.type = st.st_mode & S_IFMT;
      id.dev = st.st_dev;
      id.ino = st.st_ino;
    }
  return id;
}

static gboolean
cbox_protect_id_equal (const CboxProtectId *a, const CboxProtectId *b)
{
  return a->type == b->type && a->dev == b->dev && a->ino == b->ino;
}

/* The identity of each component of @parts below @root_fd, walking real
 * folders only (no link is followed): up to the first that is missing or
 * is not a folder. */
static void
cbox_protect_snapshot (int root_fd, CboxProtectWatch *watch)
{
  char **parts = watch->parts;
  GArray *ids = g_array_new (FALSE, TRUE, sizeof (CboxProtectId));
  cbox_autofd int dir_fd = fcntl (root_fd, F_DUPFD_CLOEXEC, 3);

  watch->before = ids;
  for (guint i = 0; dir_fd >= 0 && parts[i] != NULL; i++)
    {
      CboxProtectId id = cbox_protect_id_at (dir_fd, parts[i]);
      int next;

      if (id.type == 0)
        break;
      g_array_append_val (ids, id);
      if (id.type == S_IFREG && parts[i + 1] == NULL)
        {
          /* Kept to put it back should it be replaced all the same
           * (a backend whose read-only bind did not hold). */
          cbox_autofd int fd
              = openat (dir_fd, parts[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
          if (fd >= 0 && fstat (fd, &watch->st) == 0 && S_ISREG (watch->st.st_mode)
              && watch->st.st_size <= CBOX_PROTECT_COPY_MAX)
            {
              g_autofree char *data = g_malloc (watch->st.st_size + 1);
              ssize_t n = pread (fd, data, watch->st.st_size + 1, 0);
              if (n == watch->st.st_size)
                watch->content = g_bytes_new (data, (gsize)n);
            }
        }
      if (id.type != S_IFDIR || parts[i + 1] == NULL)
        break;
      next = openat (dir_fd, parts[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      close (dir_fd);
      dir_fd = next;
    }
}

/* ---- planning ----------------------------------------------------------------- */

typedef struct
{
  char *entry;
  char *origin;
} CboxProtectEntry;

static void
cbox_protect_entry_free (CboxProtectEntry *entry)
{
  g_free (entry->entry);
  g_free (entry->origin);
  g_free (entry);
}

static GPtrArray *
cbox_protect_collect_entries (GPtrArray *ops)
{
  GPtrArray *entries = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_protect_entry_free);

  for (guint i = 0; cbox_protect_defaults[i] != NULL; i++)
    {
      CboxProtectEntry *entry = g_new0 (CboxProtectEntry, 1);
      entry->entry = g_strdup (cbox_protect_defaults[i]);
      entry->origin = g_strdup ("default");
      g_ptr_array_add (entries, entry);
    }
  for (guint i = 0; ops != NULL && i < ops->len; i++)
    {
      CboxPathRequest *op = g_ptr_array_index (ops, i);
      gboolean found = FALSE;

      for (guint j = entries->len; j > 0; j--)
        {
          CboxProtectEntry *entry = g_ptr_array_index (entries, j - 1);
          if (!g_str_equal (entry->entry, op->path))
            continue;
          found = TRUE;
          if (op->remove)
            g_ptr_array_remove_index (entries, j - 1);
        }
      if (!op->remove && !found)
        {
          CboxProtectEntry *entry = g_new0 (CboxProtectEntry, 1);
          entry->entry = g_strdup (op->path);
          entry->origin = g_strdup (op->origin);
          g_ptr_array_add (entries, entry);
        }
    }
  return entries;
}

/* What one entry protects under one writable bind. */
typedef struct
{
  char *rel; /* below the bind's root */
  CboxProtectedHow how;
  const CboxProtectEntry *entry;
} CboxProtectFound;

static void
cbox_protect_found_free (CboxProtectFound *found)
{
  g_free (found->rel);
  g_free (found);
}

static void
cbox_protect_add_found (GPtrArray *found, const char *rel, CboxProtectedHow how,
                        const CboxProtectEntry *entry)
{
  CboxProtectFound *item;

  for (guint i = 0; i < found->len; i++)
    {
      item = g_ptr_array_index (found, i);
      if (g_str_equal (item->rel, rel))
        {
          /* A folder on the way of one entry may be protected by another
           * (.claude pinned, .claude itself listed): read-only wins. */
          if (how == CBOX_PROTECTED_READ_ONLY && item->how == CBOX_PROTECTED_PINNED)
            {
              item->how = how;
              item->entry = entry;
            }
          return;
        }
    }
  item = g_new0 (CboxProtectFound, 1);
  item->rel = g_strdup (rel);
  item->how = how;
  item->entry = entry;
  g_ptr_array_add (found, item);
}

/* The real path of the O_PATH @fd, for a link resolved beneath a root. */
static char *
cbox_protect_fd_path (int fd)
{
  g_autofree char *proc = g_strdup_printf ("/proc/self/fd/%d", fd);
  return g_file_read_link (proc, NULL);
}

/* Walks @rel below @root (no link followed) and records what it finds in
 * @found: the folders on the way (pinned), a file on the way (a `.git`
 * file that names the git folder elsewhere: read-only), the path itself
 * (read-only) or, missing, a path to check after the run. A link on the
 * way is protected where it leads when that is inside @root too (the link
 * itself is watched after the run). */
static void
cbox_protect_resolve (const char *root, int root_fd, const char *rel, const CboxProtectEntry *entry,
                      GPtrArray *found, guint depth)
{
  g_auto (GStrv) parts = g_strsplit (rel, "/", -1);
  g_autoptr (GString) prefix = g_string_new (NULL);
  cbox_autofd int dir_fd = fcntl (root_fd, F_DUPFD_CLOEXEC, 3);

  for (guint i = 0; dir_fd >= 0 && parts[i] != NULL; i++)
    {
      gboolean last = parts[i + 1] == NULL;
      CboxProtectId id = cbox_protect_id_at (dir_fd, parts[i]);
      int next;

      g_string_append_printf (prefix, "%s%s", i > 0 ? "/" : "", parts[i]);
      if (id.type == 0)
        {
          cbox_protect_add_found (found, rel, CBOX_PROTECTED_CHECKED, entry);
          return;
        }
      if (id.type == S_IFLNK)
        {
          cbox_autofd int target_fd = -1;
          g_autofree char *target = NULL;

          cbox_protect_add_found (found, rel, CBOX_PROTECTED_CHECKED, entry);
          if (depth >= 8)
            return;
          /* Where it leads, if that stays inside the writable bind. */
          target_fd = cbox_open_resolve_beneath (root_fd, prefix->str, O_PATH);
          if (target_fd < 0)
            return;
          target = cbox_protect_fd_path (target_fd);
          if (target != NULL && g_str_has_prefix (target, root) && target[strlen (root)] == '/')
            {
              g_autoptr (GString) rest = g_string_new (target + strlen (root) + 1);
              for (guint j = i + 1; parts[j] != NULL; j++)
                g_string_append_printf (rest, "/%s", parts[j]);
              cbox_protect_resolve (root, root_fd, rest->str, entry, found, depth + 1);
            }
          return;
        }
      if (last)
        {
          cbox_protect_add_found (found, rel, CBOX_PROTECTED_READ_ONLY, entry);
          return;
        }
      if (id.type != S_IFDIR)
        {
          /* `.git` as a file: "gitdir: PATH" says where the repository
           * is; rewritten, it would send the host's git to a config the
           * sandbox wrote. */
          cbox_protect_add_found (found, prefix->str, CBOX_PROTECTED_READ_ONLY, entry);
          return;
        }
      cbox_protect_add_found (found, prefix->str, CBOX_PROTECTED_PINNED, entry);
      next = openat (dir_fd, parts[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      close (dir_fd);
      dir_fd = next;
    }
}

static gboolean
cbox_protect_path_is_at_or_below (const char *path, const char *dir)
{
  gsize len = strlen (dir);
  return strncmp (path, dir, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

static int
cbox_protect_found_compare (gconstpointer a, gconstpointer b)
{
  const CboxProtectFound *fa = *(const CboxProtectFound *const *)a;
  const CboxProtectFound *fb = *(const CboxProtectFound *const *)b;

  /* Folders first (shorter paths), so a pinned folder's bind does not
   * cover the read-only binds inside it. */
  return strcmp (fa->rel, fb->rel);
}

/* The relative paths @entry protects under the writable bind @src (for
 * "~/x": x below the home, when it is under @src; for a relative entry:
 * at the root of the bind, and its rest when the bind is itself a leading
 * part of it: a bind of some project's `.git` protects its `hooks`).
 * FALSE with @error when @src is at or inside the protected path. */
static gboolean
cbox_protect_entry_rels (const CboxProtectEntry *entry, const char *src, const char *home,
                         const char *mount_origin, GPtrArray *rels, GError **error)
{
  if (g_str_has_prefix (entry->entry, "~/"))
    {
      g_autofree char *absolute = NULL;

      if (home == NULL)
        return TRUE;
      absolute = g_build_filename (home, entry->entry + 2, NULL);
      if (cbox_protect_path_is_at_or_below (src, absolute))
        goto inside;
      if (cbox_protect_path_is_at_or_below (absolute, src))
        g_ptr_array_add (rels, g_strdup (absolute + strlen (src) + 1));
      return TRUE;
    }
  else
    {
      g_auto (GStrv) e = g_strsplit (entry->entry, "/", -1);
      g_auto (GStrv) s = g_strsplit (src, "/", -1);
      guint n_e = g_strv_length (e);
      guint n_s = g_strv_length (s);

      /* @src holds the entry as consecutive components: inside it. */
      for (guint j = 0; j + n_e <= n_s; j++)
        {
          gboolean match = TRUE;
          for (guint k = 0; k < n_e && match; k++)
            match = g_str_equal (s[j + k], e[k]);
          if (match)
            goto inside;
        }
      g_ptr_array_add (rels, g_strdup (entry->entry));
      for (guint k = 1; k < n_e && k <= n_s; k++)
        {
          gboolean match = TRUE;
          for (guint m = 0; m < k && match; m++)
            match = g_str_equal (s[n_s - k + m], e[m]);
          if (match)
            g_ptr_array_add (rels, g_strjoinv ("/", e + k));
        }
      return TRUE;
    }

inside:
  {
    g_autofree char *quoted = g_strescape (src, NULL);
    g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                 "Refusing the writable bind of '%s' (from %s): it is at or inside the protected "
                 "path %s (from %s), which stays read-only in the sandbox because the host runs "
                 "what is there. Bind it read-only, or, if you mean it, take the entry out with "
                 "unprotect=%s in [cbox] (docs/security.md)",
                 quoted, mount_origin, entry->entry, entry->origin, entry->entry);
    return FALSE;
  }
}

CboxProtect *
cbox_protect_apply (CboxPlan *plan, const CboxHost *host, GPtrArray *ops, GError **error)
{
  g_autoptr (GPtrArray) entries = cbox_protect_collect_entries (ops);
  g_autoptr (CboxProtect) protect = g_new0 (CboxProtect, 1);
  const char *home = cbox_host_get_home_dir (host);
  g_autofree char *real_home = home != NULL ? realpath (home, NULL) : NULL;
  guint n_mounts = cbox_plan_get_n_mounts (plan);
  g_autoptr (GPtrArray) binds = g_ptr_array_new ();
  const char *saved_origin = cbox_plan_get_origin (plan);

  protect->watches = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_protect_watch_free);
  protect->roots = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_protect_root_free);
  clock_gettime (CLOCK_REALTIME_COARSE, &protect->start);

  for (guint i = 0; i < n_mounts; i++)
    {
      const CboxMount *mount = cbox_plan_get_mount (plan, i);
      gboolean seen = FALSE;

      /* The persisted folders are the sandbox's own state, never read by
       * a host tool. */
      if (mount->kind != CBOX_MOUNT_RW || mount->src == NULL
          || g_strcmp0 (mount->origin, "project") == 0)
        continue;
      for (guint j = 0; j < binds->len && !seen; j++)
        {
          const CboxMount *other = g_ptr_array_index (binds, j);
          seen = g_str_equal (other->src, mount->src) && g_str_equal (other->dest, mount->dest);
        }
      if (!seen)
        g_ptr_array_add (binds, (gpointer)mount);
    }

  for (guint b = 0; b < binds->len; b++)
    {
      const CboxMount *bind = g_ptr_array_index (binds, b);
      g_autoptr (GPtrArray) found
          = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_protect_found_free);
      cbox_autofd int root_fd = -1;
      CboxProtectRoot *watch_root = NULL;
      g_autofree char *dest_copy = g_strdup (bind->dest);
      g_autofree char *src_copy = g_strdup (bind->src);
      g_autofree char *origin_copy = g_strdup (bind->origin);

      for (guint e = 0; e < entries->len; e++)
        {
          const CboxProtectEntry *entry = g_ptr_array_index (entries, e);
          g_autoptr (GPtrArray) rels = g_ptr_array_new_with_free_func (g_free);

          /* "~/x" is compared with the real home: binds are real paths. */
          if (!cbox_protect_entry_rels (entry, src_copy, real_home != NULL ? real_home : home,
                                        origin_copy, rels, error))
            return NULL;
          if (rels->len == 0)
            continue;
          if (root_fd < 0)
            root_fd = open (src_copy, O_PATH | O_DIRECTORY | O_CLOEXEC);
          if (root_fd < 0)
            break; /* a missing or single-file bind: nothing below it */
          for (guint r = 0; r < rels->len; r++)
            cbox_protect_resolve (src_copy, root_fd, g_ptr_array_index (rels, r), entry, found, 0);
        }
      if (root_fd < 0)
        root_fd = open (src_copy, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (root_fd < 0)
        continue;
      {
        CboxProtectRoot *root = g_new0 (CboxProtectRoot, 1);
        struct stat st;
        root->path = g_strdup (src_copy);
        root->fd = fcntl (root_fd, F_DUPFD_CLOEXEC, 3);
        if (root->fd >= 0 && fstat (root->fd, &st) == 0)
          {
            root->dev = st.st_dev;
            root->ino = st.st_ino;
          }
        watch_root = root;
        g_ptr_array_add (protect->roots, root);
      }
      if (fstatat (root_fd, ".git", &(struct stat){ 0 }, AT_SYMLINK_NOFOLLOW) == 0)
        {
          g_autofree char *quoted = g_strescape (src_copy, NULL);
          cbox_plan_set_origin (plan, "protect");
          cbox_plan_add_note (plan,
                              "the repository in %s: after the run, its submodules and linked "
                              "worktrees whose configuration or hooks the run changed are moved "
                              "aside (docs/security.md)",
                              quoted);
        }
      g_ptr_array_sort (found, cbox_protect_found_compare);
      for (guint f = 0; f < found->len; f++)
        {
          CboxProtectFound *item = g_ptr_array_index (found, f);
          g_autofree char *host_path = g_build_filename (src_copy, item->rel, NULL);
          g_autofree char *inside = g_build_filename (dest_copy, item->rel, NULL);
          CboxProtectWatch *watch;

          cbox_plan_set_origin (plan, item->entry->origin);
          cbox_plan_add_protected_path (plan, inside, host_path, item->entry->entry, item->how);
          cbox_plan_set_origin (plan, "protect");
          if (item->how == CBOX_PROTECTED_READ_ONLY)
            cbox_plan_add_bind_ro (plan, host_path, inside, CBOX_MOUNT_FLAG_NONE);
          else if (item->how == CBOX_PROTECTED_PINNED)
            cbox_plan_add_bind_rw (plan, host_path, inside, CBOX_MOUNT_FLAG_NONE);
          if (item->how == CBOX_PROTECTED_PINNED)
            continue;
          watch = g_new0 (CboxProtectWatch, 1);
          watch->root = g_strdup (src_copy);
          watch->root_fd = watch_root->fd;
          watch->parts = g_strsplit (item->rel, "/", -1);
          watch->entry = g_strdup (item->entry->entry);
          watch->origin = g_intern_string (item->entry->origin);
          cbox_protect_snapshot (root_fd, watch);
          g_ptr_array_add (protect->watches, watch);
        }
    }
  cbox_plan_set_origin (plan, saved_origin);
  return g_steal_pointer (&protect);
}

/* ---- moving aside ----------------------------------------------------------- */

/* A folder cbox made writable to move something out of it, to be put back. */
typedef struct
{
  int fd;
  mode_t mode;
} CboxProtectDirMode;

static void
cbox_protect_dir_mode_restore (CboxProtectDirMode *changed)
{
  if (changed->fd < 0)
    return;
  if (fchmod (changed->fd, changed->mode) < 0)
    g_printerr ("cbox: could not give a folder its mode %04o back: %s\n", (unsigned)changed->mode,
                g_strerror (errno));
  close (changed->fd);
  changed->fd = -1;
}

/* Renames @name in @dir_fd to @aside, never over something. The sandbox
 * can take the write permission off a folder the user owns (`chmod 555 .`
 * after making .envrc) so that cbox, run by that user, cannot rename
 * anything in it: then cbox, the owner too, adds it back for the rename
 * and @changed says what to put back once done (after a restore). */
static int
cbox_protect_rename_aside (int dir_fd, const char *name, const char *aside,
                           CboxProtectDirMode *changed)
{
  cbox_autofd int fd = -1;
  struct stat st;

  changed->fd = -1;
  if (renameat2 (dir_fd, name, dir_fd, aside, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno != EACCES && errno != EPERM)
    return -1;
  fd = openat (dir_fd, ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || fstat (fd, &st) < 0 || st.st_uid != geteuid ()
      || (st.st_mode & (S_IWUSR | S_IXUSR)) == (S_IWUSR | S_IXUSR)
      || fchmod (fd, (st.st_mode & 07777) | S_IWUSR | S_IXUSR) < 0)
    {
      errno = EACCES;
      return -1;
    }
  changed->fd = g_steal_fd (&fd);
  changed->mode = st.st_mode & 07777;
  if (renameat2 (dir_fd, name, dir_fd, aside, RENAME_NOREPLACE) == 0)
    return 0;
  {
    int saved_errno = errno;
    cbox_protect_dir_mode_restore (changed);
    errno = saved_errno;
  }
  return -1;
}

/* ---- repositories inside the repository: submodules -------------------------- */

/* The host's `git status` in the project does not stop at the project's
 * own repository: for every gitlink (a submodule entry, mode 160000) in its
 * index whose folder holds a `.git`, it runs git in that folder, which
 * reads that repository's configuration (core.fsmonitor runs a command).
 * The sandbox can make such a folder and `git add` it (an "embedded
 * repository"), or change the configuration of one that was there. The
 * folders cannot be known before the run without reading every index on
 * the hot path, so after the run the index is read and each gitlink's
 * `.git` whose configuration or hooks changed during the run (ctime) is
 * moved aside: the host's git then sees a submodule that is not checked
 * out, and enters nothing. */

#define CBOX_PROTECT_INDEX_MAX (512 * 1024 * 1024)
#define CBOX_PROTECT_NESTED_MAX_DEPTH 4
#define CBOX_PROTECT_NESTED_MAX_REPOS 256

/* The whole of the regular file @name below @dir_fd (no link followed),
 * at most @max bytes; NULL otherwise. Never mapped in place: a file another
 * sandbox of the same project truncates under a mapping would kill cbox
 * with SIGBUS before it has checked everything. A large one (an index is
 * megabytes) is copied in the kernel into a memfd of cbox's own, which is
 * mapped: a read() of a 7 MB index took 21 ms on the build machine, this
 * 6 ms. */
static GBytes *
cbox_protect_read_at (int dir_fd, const char *name, gsize max)
{
  cbox_autofd int fd = openat (dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  gsize size;
  gsize done = 0;

  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || (guint64)st.st_size > max)
    return NULL;
  size = (gsize)st.st_size;
  if (size > 64 * 1024)
    {
      cbox_autofd int copy = memfd_create ("cbox-protect-read", MFD_CLOEXEC);
      g_autoptr (GMappedFile) mapped = NULL;
      off_t offset = 0;

      if (copy < 0)
        return NULL;
      while (done < size)
        {
          ssize_t n = sendfile (copy, fd, &offset, size - done);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            return NULL;
          if (n == 0)
            break; /* shorter than it was: what there is */
          done += (gsize)n;
        }
      if (done == 0)
        return g_bytes_new (NULL, 0);
      mapped = g_mapped_file_new_from_fd (copy, FALSE, NULL);
      return mapped != NULL ? g_mapped_file_get_bytes (mapped) : NULL;
    }
  {
    g_autofree char *data = g_malloc (size + 1);
    while (done < size)
      {
        ssize_t n = read (fd, data + done, size - done);
        if (n < 0 && errno == EINTR)
          continue;
        if (n < 0)
          return NULL;
        if (n == 0)
          break;
        done += (gsize)n;
      }
    data[done] = '\0';
    return g_bytes_new_take (g_steal_pointer (&data), done);
  }
}

static guint32
cbox_protect_be32 (const guint8 *p)
{
  return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) | p[3];
}

/* Adds the paths of the gitlinks in the index @data (versions 2 to 4,
 * object names of @hash_len bytes) to @links; a split index's shared
 * part is named in @ret_shared (hex). FALSE when it is not an index this
 * reads. */
static gboolean
cbox_protect_parse_index (GBytes *data, gsize hash_len, GPtrArray *links, char **ret_shared)
{
  gsize len;
  const guint8 *p = g_bytes_get_data (data, &len);
  const guint8 *end = p + len;
  const guint8 *at;
  guint32 version;
  guint32 n_entries;
  g_autoptr (GString) path = g_string_new (NULL);

  if (len < 12 + hash_len || memcmp (p, "DIRC", 4) != 0)
    return FALSE;
  version = cbox_protect_be32 (p + 4);
  n_entries = cbox_protect_be32 (p + 8);
  if (version < 2 || version > 4)
    return FALSE;
  end -= hash_len; /* the checksum */
  at = p + 12;
  for (guint32 i = 0; i < n_entries; i++)
    {
      const guint8 *entry = at;
      gsize fixed = 40 + hash_len + 2;
      guint32 mode;
      guint16 flags;
      const guint8 *name;
      const guint8 *nul;

      if ((gsize)(end - at) < fixed)
        return FALSE;
      mode = cbox_protect_be32 (at + 24);
      flags = (guint16)((at[40 + hash_len] << 8) | at[40 + hash_len + 1]);
      if (flags & 0x4000)
        {
          if (version < 3)
            return FALSE;
          fixed += 2;
          if ((gsize)(end - at) < fixed)
            return FALSE;
        }
      name = at + fixed;
      if (version == 4)
        {
          /* The number of bytes to drop from the previous path (git's
           * offset varint), then the rest of this one. */
          guint64 strip = 0;
          const guint8 *q = name;
          if (q >= end)
            return FALSE;
          strip = *q & 0x7f;
          while (*q & 0x80)
            {
              q++;
              if (q >= end || strip > G_MAXUINT32)
                return FALSE;
              strip = ((strip + 1) << 7) | (*q & 0x7f);
            }
          q++;
          if (strip > path->len)
            return FALSE;
          nul = memchr (q, '\0', (gsize)(end - q));
          if (nul == NULL)
            return FALSE;
          g_string_truncate (path, path->len - (gsize)strip);
          g_string_append_len (path, (const char *)q, (gssize)(nul - q));
          at = nul + 1;
        }
      else
        {
          nul = memchr (name, '\0', (gsize)(end - name));
          if (nul == NULL)
            return FALSE;
          if ((mode & 0170000) == 0160000)
            {
              g_string_assign (path, "");
              g_string_append_len (path, (const char *)name, (gssize)(nul - name));
            }
          /* Padded with NULs to a multiple of 8 bytes. */
          at = entry + ((fixed + (gsize)(nul - name) + 8) & ~(gsize)7);
          if (at > end)
            return FALSE;
        }
      if ((mode & 0170000) == 0160000)
        g_ptr_array_add (links, g_strdup (path->str));
    }
  /* Extensions: a split index ("link") keeps most entries in
   * sharedindex.HASH beside it. */
  while ((gsize)(end - at) >= 8)
    {
      guint32 size = cbox_protect_be32 (at + 4);
      if ((gsize)(end - at - 8) < size)
        return FALSE;
      if (memcmp (at, "link", 4) == 0 && size >= hash_len && ret_shared != NULL)
        {
          GString *hex = g_string_new (NULL);
          for (gsize k = 0; k < hash_len; k++)
            g_string_append_printf (hex, "%02x", at[8 + k]);
          g_free (*ret_shared);
          *ret_shared = g_string_free (hex, FALSE);
        }
      at += 8 + size;
    }
  return TRUE;
}

/* The gitlinks of the repository whose git folder is @git_fd; FALSE when
 * its index cannot be read as one (no index: TRUE, none). */
static gboolean
cbox_protect_read_gitlinks (int git_fd, GPtrArray *links)
{
  g_autoptr (GBytes) index = NULL;
  g_autoptr (GBytes) config = cbox_protect_read_at (git_fd, "config", 1024 * 1024);
  gsize hash_len = 20;
  struct stat st;

  if (fstatat (git_fd, "index", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
    return TRUE;
  index = cbox_protect_read_at (git_fd, "index", CBOX_PROTECT_INDEX_MAX);
  if (index == NULL)
    return FALSE;
  /* extensions.objectFormat = sha256: 32-byte object names. */
  if (config != NULL)
    {
      g_autofree char *text
          = g_ascii_strdown (g_bytes_get_data (config, NULL), (gssize)g_bytes_get_size (config));
      if (strstr (text, "sha256") != NULL)
        hash_len = 32;
    }
  for (guint attempt = 0; attempt < 2; attempt++)
    {
      g_autofree char *shared = NULL;
      guint n_before = links->len;

      if (cbox_protect_parse_index (index, hash_len, links, &shared))
        {
          if (shared != NULL)
            {
              g_autofree char *name = g_strdup_printf ("sharedindex.%s", shared);
              g_autoptr (GBytes) base = cbox_protect_read_at (git_fd, name, CBOX_PROTECT_INDEX_MAX);
              if (base == NULL || !cbox_protect_parse_index (base, hash_len, links, NULL))
                return FALSE;
            }
          return TRUE;
        }
      g_ptr_array_set_size (links, n_before);
      hash_len = hash_len == 20 ? 32 : 20;
    }
  return FALSE;
}

static gboolean
cbox_protect_changed_since (const struct stat *st, const struct timespec *start)
{
  return st->st_ctim.tv_sec > start->tv_sec
         || (st->st_ctim.tv_sec == start->tv_sec && st->st_ctim.tv_nsec >= start->tv_nsec);
}

static gboolean
cbox_protect_changed_at (int dir_fd, const char *name, const struct timespec *start)
{
  struct stat st;
  return fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
         && cbox_protect_changed_since (&st, start);
}

/* Whether what git runs or obeys in the git folder @git_fd (its
 * configuration, what redirects it, its hooks, its info) changed since
 * @start. Not the rest: commits, branches and fetches in a submodule
 * are ordinary work. */
static gboolean
cbox_protect_gitdir_changed (int git_fd, const struct timespec *start)
{
  static const char *const files[] = { "config", "config.worktree", "commondir", "hooks", "info" };
  static const char *const folders[] = { "hooks", "info" };

  for (gsize i = 0; i < G_N_ELEMENTS (files); i++)
    if (cbox_protect_changed_at (git_fd, files[i], start))
      return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS (folders); i++)
    {
      cbox_autofd int fd
          = openat (git_fd, folders[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      DIR *dir;
      struct dirent *entry;

      if (fd < 0)
        continue;
      dir = fdopendir (g_steal_fd (&fd));
      if (dir == NULL)
        continue;
      while ((entry = readdir (dir)) != NULL)
        if (entry->d_name[0] != '.' && cbox_protect_changed_at (dirfd (dir), entry->d_name, start))
          {
            closedir (dir);
            return TRUE;
          }
      closedir (dir);
    }
  return FALSE;
}

typedef struct
{
  CboxProtect *protect;
  const char *root; /* the writable bind's host root */
  int root_fd;
  const char *run_id;
  guint n_repos;
  guint *n_moved;
} CboxProtectNested;

static void cbox_protect_check_repo (CboxProtectNested *nested, const char *rel, int git_fd,
                                     guint depth);

/* The gitlink @link (relative to the bind's root) of a repository: its
 * `.git`, if the run made or changed it or what it leads to, is moved
 * aside; else the repository it is is looked at in turn. */
static void
cbox_protect_check_gitlink (CboxProtectNested *nested, const char *link, guint depth)
{
  cbox_autofd int dir_fd = -1;
  cbox_autofd int git_fd = -1;
  g_autofree char *host_path = NULL;
  gboolean changed = FALSE;
  struct stat st;

  /* git refuses such paths itself; a crafted index is not followed. */
  if (!cbox_protect_entry_is_valid (link) || link[0] == '~')
    return;
  dir_fd = cbox_open_beneath (nested->root_fd, link, O_PATH | O_DIRECTORY);
  if (dir_fd < 0 || fstatat (dir_fd, ".git", &st, AT_SYMLINK_NOFOLLOW) < 0)
    return; /* not checked out (or behind a link, which git does not enter) */
  if (S_ISDIR (st.st_mode))
    git_fd = openat (dir_fd, ".git", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  else if (cbox_protect_changed_since (&st, &nested->protect->start))
    changed = TRUE; /* a new pointer to a repository */
  else
    {
      /* A link, or a "gitdir: PATH" file (an absorbed submodule's, into
       * the project's .git/modules): where it leads, within this bind. */
      g_autofree char *target = NULL;
      g_autofree char *rel = NULL;

      if (S_ISLNK (st.st_mode))
        {
          g_autofree char *lnk = g_strdup_printf ("%s/.git", link);
          git_fd = cbox_open_resolve_beneath (nested->root_fd, lnk, O_PATH | O_DIRECTORY);
        }
      else if (S_ISREG (st.st_mode))
        {
          g_autoptr (GBytes) content = cbox_protect_read_at (dir_fd, ".git", 64 * 1024);
          const char *text = content != NULL ? g_bytes_get_data (content, NULL) : NULL;
          gsize len = content != NULL ? g_bytes_get_size (content) : 0;

          if (text != NULL && len > 8 && strncmp (text, "gitdir: ", 8) == 0)
            {
              target = g_strndup (text + 8, len - 8);
              g_strchomp (target);
            }
          if (target != NULL && target[0] == '/')
            {
              if (g_str_has_prefix (target, nested->root) && target[strlen (nested->root)] == '/')
                rel = g_strdup (target + strlen (nested->root) + 1);
            }
          else if (target != NULL)
            rel = g_build_filename (link, target, NULL);
          if (rel != NULL)
            git_fd = cbox_open_resolve_beneath (nested->root_fd, rel, O_PATH | O_DIRECTORY);
        }
    }
  if (!changed && git_fd >= 0 && cbox_protect_gitdir_changed (git_fd, &nested->protect->start))
    changed = TRUE;
  host_path = g_strdup_printf ("%s/%s/.git", nested->root, link);
  if (changed)
    {
      g_autofree char *aside = g_strdup_printf (".git.cbox-quarantine-%s", nested->run_id);
      g_autofree char *quoted = g_strescape (host_path, NULL);
      CboxProtectDirMode changed_mode;

      if (cbox_protect_rename_aside (dir_fd, ".git", aside, &changed_mode) < 0)
        {
          int saved_errno = errno;
          nested->protect->n_failed++;
          g_printerr ("cbox: %s, a repository the host's git enters from the project's "
                      "(a submodule), was made or changed during the run, and could not be "
                      "moved aside: %s. Remove it before you run git in the project\n",
                      quoted, g_strerror (saved_errno));
          return;
        }
      g_printerr ("cbox: %s, a repository the host's git enters from the project's (a "
                  "submodule), was made or changed during the run; moved aside to %s.cbox-"
                  "quarantine-%s, so the host's git runs nothing from it. Look at its "
                  "config and hooks, and move it back only if you trust them\n",
                  quoted, quoted, nested->run_id);
      (*nested->n_moved)++;
      cbox_protect_dir_mode_restore (&changed_mode);
      return;
    }
  if (git_fd >= 0)
    cbox_protect_check_repo (nested, link, git_fd, depth + 1);
}

/* The submodules of the repository whose git folder is @git_fd and whose
 * work tree is @rel below the bind's root ("" for the root). */
static void
cbox_protect_check_repo (CboxProtectNested *nested, const char *rel, int git_fd, guint depth)
{
  g_autoptr (GPtrArray) links = g_ptr_array_new_with_free_func (g_free);

  if (depth > CBOX_PROTECT_NESTED_MAX_DEPTH || ++nested->n_repos > CBOX_PROTECT_NESTED_MAX_REPOS)
    {
      g_printerr ("cbox: %s/%s: submodules nested deeper than cbox looks (%d levels, %d "
                  "repositories); check them before you run git there\n",
                  nested->root, rel, CBOX_PROTECT_NESTED_MAX_DEPTH, CBOX_PROTECT_NESTED_MAX_REPOS);
      return;
    }
  if (!cbox_protect_read_gitlinks (git_fd, links))
    {
      g_printerr ("cbox: %s/%s: cannot read the git index to look for submodules the run "
                  "made; check them (git submodule status) before you run git there\n",
                  nested->root, rel);
      return;
    }
  for (guint i = 0; i < links->len; i++)
    {
      const char *link = g_ptr_array_index (links, i);
      g_autofree char *path = rel[0] != '\0' ? g_build_filename (rel, link, NULL) : g_strdup (link);
      cbox_protect_check_gitlink (nested, path, depth);
    }
}

/* Moves @name below @dir_fd (@shown, for the message) aside: something
 * the host's git would obey that the run made or changed. */
static void
cbox_protect_move_aside (CboxProtectNested *nested, int dir_fd, const char *name, const char *shown,
                         const char *why)
{
  g_autofree char *aside = g_strdup_printf ("%s.cbox-quarantine-%s", name, nested->run_id);
  g_autofree char *quoted = g_strescape (shown, NULL);
  CboxProtectDirMode changed_mode;

  if (cbox_protect_rename_aside (dir_fd, name, aside, &changed_mode) < 0)
    {
      int saved_errno = errno;
      nested->protect->n_failed++;
      g_printerr ("cbox: %s, %s, was made or changed during the run, and could not be moved "
                  "aside: %s. Remove it before you run git there\n",
                  quoted, why, g_strerror (saved_errno));
      return;
    }
  g_printerr ("cbox: %s, %s, was made or changed during the run; moved aside to "
              "%s.cbox-quarantine-%s, so the host's git runs nothing from it. Look at it, and "
              "move it back only if you trust it\n",
              quoted, why, quoted, nested->run_id);
  (*nested->n_moved)++;
  cbox_protect_dir_mode_restore (&changed_mode);
}

/* Linked worktrees (`git worktree add ../elsewhere`) keep what git reads
 * for them in .git/worktrees/NAME, inside the writable `.git`: its
 * `commondir` says where the configuration and hooks are, and its
 * `config.worktree` is read when extensions.worktreeConfig is on. Pointed
 * at a folder the sandbox wrote, the host's git in that worktree (outside
 * the project) would run that folder's core.fsmonitor. What the run made
 * or changed there is moved aside, but a `commondir` saying "../..", which
 * is what `git worktree add` writes and leads back to this `.git`. */
static void
cbox_protect_check_worktrees (CboxProtectNested *nested, int git_fd)
{
  const struct timespec *start = &nested->protect->start;
  g_autofree char *shown_root = g_strdup_printf ("%s/.git/worktrees", nested->root);
  cbox_autofd int fd = -1;
  struct stat st;
  DIR *dir;
  struct dirent *entry;

  if (fstatat (git_fd, "worktrees", &st, AT_SYMLINK_NOFOLLOW) < 0)
    return;
  if (!S_ISDIR (st.st_mode))
    {
      if (cbox_protect_changed_since (&st, start))
        cbox_protect_move_aside (nested, git_fd, "worktrees", shown_root,
                                 "where git looks for linked worktrees");
      return;
    }
  fd = openat (git_fd, "worktrees", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || (dir = fdopendir (fd)) == NULL)
    return;
  fd = -1; /* the DIR owns it */
  while ((entry = readdir (dir)) != NULL)
    {
      g_autofree char *shown = NULL;
      cbox_autofd int wt_fd = -1;

      if (g_str_equal (entry->d_name, ".") || g_str_equal (entry->d_name, "..")
          || fstatat (dirfd (dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      shown = g_strdup_printf ("%s/%s", shown_root, entry->d_name);
      if (!S_ISDIR (st.st_mode))
        {
          if (cbox_protect_changed_since (&st, start))
            cbox_protect_move_aside (nested, dirfd (dir), entry->d_name, shown,
                                     "what git reads for a linked worktree");
          continue;
        }
      wt_fd = openat (dirfd (dir), entry->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (wt_fd < 0)
        continue;
      if (cbox_protect_changed_at (wt_fd, "commondir", start))
        {
          g_autoptr (GBytes) content = cbox_protect_read_at (wt_fd, "commondir", 4096);
          g_autofree char *text = content != NULL ? g_strndup (g_bytes_get_data (content, NULL),
                                                               g_bytes_get_size (content))
                                                  : NULL;
          if (text == NULL || !g_str_equal (g_strchomp (text), "../.."))
            {
              g_autofree char *path = g_strdup_printf ("%s/commondir", shown);
              cbox_protect_move_aside (nested, wt_fd, "commondir", path,
                                       "where a linked worktree's git finds its configuration");
            }
        }
      if (cbox_protect_changed_at (wt_fd, "config.worktree", start))
        {
          g_autofree char *path = g_strdup_printf ("%s/config.worktree", shown);
          cbox_protect_move_aside (nested, wt_fd, "config.worktree", path,
                                   "a linked worktree's own configuration");
        }
    }
  closedir (dir);
}

static void
cbox_protect_check_nested (CboxProtect *protect, const char *root, int held_root_fd,
                           const char *run_id, guint *n_moved)
{
  cbox_autofd int root_fd = held_root_fd >= 0 ? fcntl (held_root_fd, F_DUPFD_CLOEXEC, 3) : -1;
  cbox_autofd int git_fd = -1;
  CboxProtectNested nested = { protect, root, root_fd, run_id, 0, n_moved };

  if (root_fd < 0)
    return;
  git_fd = openat (root_fd, ".git", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (git_fd < 0)
    return; /* a `.git` file points outside this bind, or none */
  cbox_protect_check_repo (&nested, "", git_fd, 0);
  cbox_protect_check_worktrees (&nested, git_fd);
}

/* ---- after the run ------------------------------------------------------------- */

/* Puts the snapshot's content back at @name (just moved aside), made anew
 * without following anything, with the old owner and mode. */
static gboolean
cbox_protect_restore (CboxProtectWatch *watch, int dir_fd, const char *name)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (watch->content, &len);
  gsize done = 0;
  cbox_autofd int fd = openat (dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                               watch->st.st_mode & 07777);

  if (fd < 0)
    return FALSE;
  while (done < len)
    {
      ssize_t n = write (fd, data + done, len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      done += (gsize)n;
    }
  /* Root acting for a user: the file stays the user's. */
  if (geteuid () == 0 && fchown (fd, watch->st.st_uid, watch->st.st_gid) < 0)
    return FALSE;
  return fchmod (fd, watch->st.st_mode & 07777) == 0;
}

static void
cbox_protect_quarantine (CboxProtect *protect, CboxProtectWatch *watch, int dir_fd, guint index,
                         const char *why, const char *run_id, guint *n_moved)
{
  CboxProtectDirMode changed_mode;
  g_autofree char *aside = g_strdup_printf ("%s.cbox-quarantine-%s", watch->parts[index], run_id);
  g_autoptr (GString) path = g_string_new (watch->root);
  g_autofree char *quoted = NULL;
  g_autofree char *quoted_aside = NULL;

  for (guint i = 0; i <= index; i++)
    g_string_append_printf (path, "/%s", watch->parts[i]);
  quoted = g_strescape (path->str, NULL);
  if (cbox_protect_rename_aside (dir_fd, watch->parts[index], aside, &changed_mode) < 0)
    {
      int saved_errno = errno;
      protect->n_failed++;
      g_printerr ("cbox: protected path %s %s during the run, and could not be moved aside: %s. "
                  "Remove it before a host tool (git, your editor, direnv) runs it\n",
                  quoted, why, g_strerror (saved_errno));
      return;
    }
  g_string_append (path, ".cbox-quarantine-");
  g_string_append (path, run_id);
  quoted_aside = g_strescape (path->str, NULL);
  g_printerr ("cbox: protected path %s %s during the run (entry %s, from %s); moved aside to %s, "
              "so no host tool runs it. Look at it, and move it back only if you trust it\n",
              quoted, why, watch->entry, watch->origin, quoted_aside);
  (*n_moved)++;
  if (watch->content != NULL && watch->parts[index + 1] == NULL)
    {
      if (cbox_protect_restore (watch, dir_fd, watch->parts[index]))
        g_printerr ("cbox: %s is back as it was before the run\n", quoted);
      else
        g_printerr ("cbox: %s could not be put back as it was before the run: %s\n", quoted,
                    g_strerror (errno));
    }
  cbox_protect_dir_mode_restore (&changed_mode);
}

guint
cbox_protect_get_n_failed (CboxProtect *protect)
{
  return protect != NULL ? protect->n_failed : 0;
}

guint
cbox_protect_check (CboxProtect *protect, const char *run_id)
{
  guint n_moved = 0;

  if (protect == NULL)
    return 0;
  for (guint r = 0; r < protect->roots->len; r++)
    {
      CboxProtectRoot *root = g_ptr_array_index (protect->roots, r);
      struct stat st;

      if (stat (root->path, &st) < 0 || st.st_dev != root->dev || st.st_ino != root->ino)
        {
          g_autofree char *quoted = g_strescape (root->path, NULL);
          g_printerr ("cbox: %s, a folder bound writable, was moved or replaced during the run "
                      "(what is at its path now was not bound); its protected paths were "
                      "checked in the folder itself, wherever it is now\n",
                      quoted);
        }
    }
  for (guint w = 0; w < protect->watches->len; w++)
    {
      CboxProtectWatch *watch = g_ptr_array_index (protect->watches, w);
      cbox_autofd int dir_fd
          = watch->root_fd >= 0 ? fcntl (watch->root_fd, F_DUPFD_CLOEXEC, 3) : -1;

      for (guint i = 0; dir_fd >= 0 && watch->parts[i] != NULL; i++)
        {
          gboolean last = watch->parts[i + 1] == NULL;
          CboxProtectId now = cbox_protect_id_at (dir_fd, watch->parts[i]);
          int next;

          if (now.type == 0)
            break; /* gone, or still missing: nothing runs from nothing */
          if (i < watch->before->len)
            {
              const CboxProtectId *before = &g_array_index (watch->before, CboxProtectId, i);
              if (!cbox_protect_id_equal (before, &now))
                {
                  cbox_protect_quarantine (protect, watch, dir_fd, i, "was replaced", run_id,
                                           &n_moved);
                  break;
                }
              if (now.type != S_IFDIR)
                break; /* the same link or file as before */
            }
          else if (last)
            {
              cbox_protect_quarantine (protect, watch, dir_fd, i, "appeared", run_id, &n_moved);
              break;
            }
          else if (now.type != S_IFDIR)
            {
              /* A link or file on the way that was not there: it would
               * lead host tools elsewhere (.claude -> a folder of
               * settings, .git as a "gitdir:" file). */
              cbox_protect_quarantine (protect, watch, dir_fd, i, "appeared on the way to it",
                                       run_id, &n_moved);
              break;
            }
          if (last)
            break;
          next = openat (dir_fd, watch->parts[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          close (dir_fd);
          dir_fd = next;
        }
    }
  /* After the protected paths: a `.git` the run made at the root has had
   * its configuration and hooks moved aside, its index is still read. */
  for (guint r = 0; r < protect->roots->len; r++)
    {
      CboxProtectRoot *root = g_ptr_array_index (protect->roots, r);
      cbox_protect_check_nested (protect, root->path, root->fd, run_id, &n_moved);
    }
  return n_moved;
}

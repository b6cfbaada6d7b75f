/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-nspawn-private.h"

/* ---- the layout: decided before anything exists --------------------------- */

static gboolean
cbox_nspawn_path_is_at_or_under (const char *path, const char *prefix)
{
  gsize len = strlen (prefix);

  if (g_str_equal (prefix, "/"))
    return TRUE;
  return strncmp (path, prefix, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

static gboolean
cbox_nspawn_path_is_under (const char *path, const char *prefix)
{
  return !g_str_equal (path, prefix) && cbox_nspawn_path_is_at_or_under (path, prefix);
}

static gboolean
cbox_nspawn_kind_is_bind (CboxMountKind kind)
{
  return kind == CBOX_MOUNT_RO || kind == CBOX_MOUNT_RW || kind == CBOX_MOUNT_SOCKET
         || kind == CBOX_MOUNT_DEV;
}

/* Does the later item @later hide the earlier item @earlier? The plan says
 * later items are applied over earlier ones. nspawn, however, sorts its
 * mounts by destination, parents first, so an item that a later one covers
 * must be left out here or nspawn would put it back on top. */
static gboolean
cbox_nspawn_hides (const CboxMount *later, const CboxMount *earlier)
{
  if (g_str_equal (later->dest, earlier->dest))
    /* A directory over a directory or a tmpfs is a no-op, not a cover. */
    return later->kind != CBOX_MOUNT_DIR;
  return later->kind != CBOX_MOUNT_DIR && cbox_nspawn_path_is_under (earlier->dest, later->dest);
}

char *
cbox_nspawn_escape_path (const char *path)
{
  GString *out = g_string_sized_new (strlen (path) + 8);

  for (const char *p = path; *p != '\0'; p++)
    {
      if (*p == '\\' || *p == ':')
        g_string_append_c (out, '\\');
      g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

/* Who owns what the backend makes at @dest: the user inside their home and
 * runtime directory, root elsewhere (/etc, /tmp, /run, /home), as on a
 * host. */
static gboolean
cbox_nspawn_layout_is_users (const CboxNspawnLayout *layout, const char *dest)
{
  return (layout->home_dir != NULL && cbox_nspawn_path_is_at_or_under (dest, layout->home_dir))
         || (layout->runtime_dir != NULL
             && cbox_nspawn_path_is_at_or_under (dest, layout->runtime_dir));
}

static void
cbox_nspawn_op_clear (gpointer data)
{
  CboxNspawnOp *op = data;

  g_free (op->stage_path);
  g_free (op->note);
}

void
cbox_nspawn_layout_free (CboxNspawnLayout *layout)
{
  if (layout == NULL)
    return;
  cbox_nspawn_root_destroy (layout);
  g_free (layout->state_dir);
  g_free (layout->instance);
  g_free (layout->machine);
  g_free (layout->lock_path);
  g_free (layout->entry_dir);
  g_free (layout->fs_dir);
  g_free (layout->root_dir);
  g_free (layout->stage_dir);
  g_free (layout->status_dir);
  g_free (layout->home_dir);
  g_free (layout->runtime_dir);
  if (layout->ops != NULL)
    g_array_unref (layout->ops);
  if (layout->rebind != NULL)
    g_ptr_array_unref (layout->rebind);
  g_free (layout);
}

CboxNspawnLayout *
cbox_nspawn_layout_new (CboxPlan *plan, const char *state_dir, const char *instance, GError **error)
{
  g_autoptr (CboxNspawnLayout) layout = g_new0 (CboxNspawnLayout, 1);
  g_autofree char *lock_name = NULL;
  const char *home = cbox_plan_get_home_dir (plan);
  const char *runtime_dir = cbox_plan_get_runtime_dir (plan);
  guint n = cbox_plan_get_n_mounts (plan);
  guint staged = 0;

  g_return_val_if_fail (plan != NULL && state_dir != NULL && instance != NULL, NULL);

  layout->lock_fd = -1;
  if (instance[0] == '\0'
      || strspn (instance, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen (instance))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "nspawn: instance id '%s' is not made of [a-z0-9-]", instance);
      return NULL;
    }
  layout->state_dir = g_strdup (state_dir);
  layout->instance = g_strdup (instance);
  /* Machine names are host names: at most 64 characters. */
  layout->machine = g_strdup_printf ("cbox-%.59s", instance);
  lock_name = g_strconcat (instance, ".lock", NULL);
  layout->lock_path = g_build_filename (state_dir, lock_name, NULL);
  layout->entry_dir = g_build_filename (state_dir, instance, NULL);
  layout->fs_dir = g_build_filename (layout->entry_dir, "fs", NULL);
  layout->root_dir = g_build_filename (layout->fs_dir, "root", NULL);
  layout->stage_dir = g_build_filename (layout->fs_dir, "stage", NULL);
  layout->status_dir = g_build_filename (layout->fs_dir, "status", NULL);
  layout->uid = cbox_plan_get_uid (plan);
  layout->gid = cbox_plan_get_gid (plan);
  layout->home_dir = g_strdup (home);
  layout->runtime_dir = g_strdup (runtime_dir);
  layout->ops = g_array_sized_new (FALSE, TRUE, sizeof (CboxNspawnOp), n);
  g_array_set_clear_func (layout->ops, cbox_nspawn_op_clear);

  for (guint i = 0; i < n; i++)
    {
      const CboxMount *mount = cbox_plan_get_mount (plan, i);
      CboxNspawnOp op = { .mount = mount, .op = CBOX_NSPAWN_OP_SKIP, .uid = 0, .gid = 0 };
      gboolean hidden = FALSE;
      gboolean inside_mount = FALSE;
      gboolean users = FALSE;

      for (guint j = i + 1; j < n && !hidden; j++)
        hidden = cbox_nspawn_hides (cbox_plan_get_mount (plan, j), mount);
      if (hidden)
        {
          op.note = g_strdup_printf ("%s is covered by a later item", mount->dest);
          g_array_append_val (layout->ops, op);
          continue;
        }

      /* A socket may not exist yet: a helper (xdg-dbus-proxy, a Wayland
       * security context) makes it after realize, before nspawn starts;
       * nspawn itself then says if it is still missing. */
      if (cbox_nspawn_kind_is_bind (mount->kind)
          && (mount->kind != CBOX_MOUNT_SOCKET || (mount->flags & CBOX_MOUNT_FLAG_ALLOW_MISSING)))
        {
          struct stat st;
          if (lstat (mount->src, &st) < 0)
            {
              if (mount->flags & CBOX_MOUNT_FLAG_ALLOW_MISSING)
                {
                  op.note = g_strdup_printf ("%s is missing on the host", mount->src);
                  g_array_append_val (layout->ops, op);
                  continue;
                }
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                           "nspawn: cannot bind %s at %s: %s (added by %s)", mount->src,
                           mount->dest, g_strerror (errno),
                           mount->origin != NULL ? mount->origin : "?");
              return NULL;
            }
        }

      /* Is it inside something nspawn mounts (a bind, or a tmpfs inside a
       * bind)? Then it cannot be made in the root beforehand: nspawn's
       * mount would cover it. */
      for (guint k = 0; k < i && !inside_mount; k++)
        {
          const CboxNspawnOp *before = &g_array_index (layout->ops, CboxNspawnOp, k);
          inside_mount = (before->op == CBOX_NSPAWN_OP_BIND || before->op == CBOX_NSPAWN_OP_BIND_RO
                          || before->op == CBOX_NSPAWN_OP_TMPFS)
                         && cbox_nspawn_path_is_under (mount->dest, before->mount->dest);
        }

      /* A writable generated file is the user's wherever it is. */
      users = cbox_nspawn_layout_is_users (layout, mount->dest)
              || (mount->kind == CBOX_MOUNT_DATA && (mount->flags & CBOX_MOUNT_FLAG_WRITABLE));
      if (users)
        {
          op.uid = layout->uid;
          op.gid = layout->gid;
        }

      switch (mount->kind)
        {
        case CBOX_MOUNT_RO:
          op.op = CBOX_NSPAWN_OP_BIND_RO;
          break;
        case CBOX_MOUNT_RW:
        case CBOX_MOUNT_SOCKET: /* connect() needs a writable mount */
        case CBOX_MOUNT_DEV:
          op.op = CBOX_NSPAWN_OP_BIND;
          break;
        case CBOX_MOUNT_TMPFS:
          /* The whole root is a tmpfs of its own, made for this run and
           * removed after it: a plan tmpfs is an empty directory in it,
           * which also lets later items be created inside it. */
          op.op = inside_mount ? CBOX_NSPAWN_OP_TMPFS : CBOX_NSPAWN_OP_MKDIR;
          break;
        case CBOX_MOUNT_DIR:
          op.op = inside_mount ? CBOX_NSPAWN_OP_SKIP : CBOX_NSPAWN_OP_MKDIR;
          if (inside_mount)
            op.note = g_strdup_printf ("directory %s is inside a bind mount", mount->dest);
          break;
        case CBOX_MOUNT_SYMLINK:
          op.op = inside_mount ? CBOX_NSPAWN_OP_SKIP : CBOX_NSPAWN_OP_SYMLINK;
          if (inside_mount)
            op.note = g_strdup_printf ("symlink %s is inside a bind mount", mount->dest);
          break;
        case CBOX_MOUNT_DATA:
          if (inside_mount)
            {
              op.op = CBOX_NSPAWN_OP_STAGE;
              op.stage_path = g_strdup_printf ("%s/%u", layout->stage_dir, staged++);
            }
          else if (users && !(mount->flags & CBOX_MOUNT_FLAG_WRITABLE))
            /* The user owns it (an Xauthority must be readable by them)
             * but must not change it: bound read-only over itself. */
            op.op = CBOX_NSPAWN_OP_WRITE_RO;
          else
            op.op = CBOX_NSPAWN_OP_WRITE;
          break;
        default:
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                       "nspawn: unknown mount kind %d at %s", (int)mount->kind, mount->dest);
          return NULL;
        }
      g_array_append_val (layout->ops, op);
    }

  /* nspawn always mounts a fresh tmpfs on /run (and on /tmp unless a mount
   * is there), over whatever the root holds at that path. What the plan puts
   * there is made beside the root (fs/run, fs/tmp) and bound over nspawn's:
   * a bind source inside the root would be nspawn's tmpfs by then. */
  layout->rebind = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < layout->ops->len; i++)
    {
      const CboxNspawnOp *op = &g_array_index (layout->ops, CboxNspawnOp, i);
      g_autofree char *rebound = NULL;

      if (op->op != CBOX_NSPAWN_OP_MKDIR && op->op != CBOX_NSPAWN_OP_SYMLINK
          && op->op != CBOX_NSPAWN_OP_WRITE && op->op != CBOX_NSPAWN_OP_WRITE_RO)
        continue;
      if (cbox_nspawn_path_is_at_or_under (op->mount->dest, "/tmp"))
        rebound = g_strdup ("/tmp");
      /* nspawn keeps /run/host in its /run and remounts it later, so its
       * /run stays and each top directory the plan fills is bound into it. */
      else if (cbox_nspawn_path_is_under (op->mount->dest, "/run"))
        rebound = g_strndup (op->mount->dest, strcspn (op->mount->dest + 5, "/") + 5);
      else
        continue;
      if (!g_ptr_array_find_with_equal_func (layout->rebind, rebound, g_str_equal, NULL))
        g_ptr_array_add (layout->rebind, g_steal_pointer (&rebound));
    }
  return g_steal_pointer (&layout);
}

/* The rebound directory @dest falls in, or NULL. */
static const char *
cbox_nspawn_layout_rebound (const CboxNspawnLayout *layout, const char *dest)
{
  for (guint i = 0; i < layout->rebind->len; i++)
    if (cbox_nspawn_path_is_at_or_under (dest, g_ptr_array_index (layout->rebind, i)))
      return g_ptr_array_index (layout->rebind, i);
  return NULL;
}

char *
cbox_nspawn_layout_host_path (const CboxNspawnLayout *layout, const char *dest)
{
  const char *rebound = cbox_nspawn_layout_rebound (layout, dest);

  if (rebound != NULL)
    return g_strconcat (layout->fs_dir, dest, NULL);
  return g_strconcat (layout->root_dir, dest, NULL);
}

/* ---- creating the root ----------------------------------------------------- */

static gboolean
cbox_nspawn_ensure_state_dir (const char *state_dir, GError **error)
{
  g_autofree char *parent = g_path_get_dirname (state_dir);
  struct stat st;

  if (g_mkdir_with_parents (parent, 0755) < 0 || (mkdir (state_dir, 0700) < 0 && errno != EEXIST))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot create %s: %s", state_dir,
                   g_strerror (errno));
      return FALSE;
    }
  /* Roots of live runs hold the users' files: nobody else may look in, and
   * a directory somebody else prepared is not trusted. */
  if (lstat (state_dir, &st) < 0 || !S_ISDIR (st.st_mode) || st.st_uid != geteuid ()
      || (st.st_mode & 0077) != 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                   "nspawn: %s must be a directory owned by uid %u with mode 0700; remove it",
                   state_dir, (unsigned)geteuid ());
      return FALSE;
    }
  return TRUE;
}

/* Born locked: an O_TMPFILE is locked before it gets its name, so a
 * sweeper never sees the lock of a live run unheld. */
static int
cbox_nspawn_create_lock (const char *state_dir, const char *lock_path, GError **error)
{
  cbox_nspawn_autofd int fd = open (state_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

  if (fd >= 0)
    {
      if (flock (fd, LOCK_EX) < 0 || linkat (fd, "", AT_FDCWD, lock_path, AT_EMPTY_PATH) < 0)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot create %s: %s",
                       lock_path, g_strerror (errno));
          return -1;
        }
      return g_steal_fd (&fd);
    }
  fd = open (lock_path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 || flock (fd, LOCK_EX) < 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot create %s: %s", lock_path,
                   g_strerror (errno));
      return -1;
    }
  return g_steal_fd (&fd);
}

/* Opens the parent directory of @dest inside the root at @root_fd, making
 * missing directories on the way (owned like what they lead to). Never
 * follows a symlink: a symlink the plan put in the root may point at an
 * absolute host path, and following it here would write on the host. */
static int
cbox_nspawn_open_parent (const CboxNspawnLayout *layout, int root_fd, const char *dest,
                         char **ret_name, GError **error)
{
  g_autoptr (GString) walked = g_string_new (NULL);
  g_auto (GStrv) parts = g_strsplit (dest + 1, "/", -1);
  cbox_nspawn_autofd int dir_fd = fcntl (root_fd, F_DUPFD_CLOEXEC, 3);
  guint n = g_strv_length (parts);

  if (n == 0 || parts[n - 1][0] == '\0')
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT, "nspawn: bad destination %s",
                   dest);
      return -1;
    }
  for (guint i = 0; i + 1 < n; i++)
    {
      int next;

      if (parts[i][0] == '\0' || g_str_equal (parts[i], ".") || g_str_equal (parts[i], ".."))
        continue;
      g_string_append_printf (walked, "/%s", parts[i]);
      next = openat (dir_fd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0 && errno == ENOENT)
        {
          gboolean users = cbox_nspawn_layout_is_users (layout, walked->str);
          if (mkdirat (dir_fd, parts[i], 0755) < 0 && errno != EEXIST)
            goto fail;
          if (fchownat (dir_fd, parts[i], users ? layout->uid : 0, users ? layout->gid : 0,
                        AT_SYMLINK_NOFOLLOW)
              < 0)
            goto fail;
          next = openat (dir_fd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
      if (next < 0)
        goto fail;
      cbox_nspawn_close_fd (&dir_fd);
      dir_fd = next;
    }
  *ret_name = g_strdup (parts[n - 1]);
  return g_steal_fd (&dir_fd);

fail:
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
               "nspawn: cannot create the parents of %s in the root: %s%s", dest,
               g_strerror (errno),
               errno == ELOOP || errno == ENOTDIR ? " (a symlink is in the way)" : "");
  return -1;
}

static gboolean
cbox_nspawn_copy_fd (int from_fd, int to_fd, const char *what, GError **error)
{
  char buffer[16384];
  off_t offset = 0;

  for (;;)
    {
      ssize_t got = pread (from_fd, buffer, sizeof buffer, offset);
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        break;
      if (got == 0)
        return TRUE;
      for (ssize_t done = 0; done < got;)
        {
          ssize_t put = write (to_fd, buffer + done, (size_t)(got - done));
          if (put < 0 && errno == EINTR)
            continue;
          if (put < 0)
            goto fail;
          done += put;
        }
      offset += got;
    }
fail:
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot write %s: %s", what,
               g_strerror (errno));
  return FALSE;
}

static gboolean
cbox_nspawn_write_file (int dir_fd, const char *name, const char *what, int content_fd,
                        const void *content, gsize len, guint32 mode, uid_t uid, gid_t gid,
                        GError **error)
{
  cbox_nspawn_autofd int fd = -1;

  (void)unlinkat (dir_fd, name, 0);
  fd = openat (dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot create %s: %s", what,
                   g_strerror (errno));
      return FALSE;
    }
  if (content_fd >= 0)
    {
      if (!cbox_nspawn_copy_fd (content_fd, fd, what, error))
        return FALSE;
    }
  else if (len > 0 && write (fd, content, len) != (ssize_t)len)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot write %s: %s", what,
                   g_strerror (errno));
      return FALSE;
    }
  if (fchown (fd, uid, gid) < 0 || fchmod (fd, mode & 07777) < 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot set owner of %s: %s",
                   what, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

/* Files nspawn and the programs inside expect in /etc, before the plan's
 * own items (which may replace them). */
static gboolean
cbox_nspawn_write_skeleton (int root_fd, GError **error)
{
  static const char nsswitch[] = "# Written by cbox: the sandbox's accounts are in /etc/passwd.\n"
                                 "passwd:         files\n"
                                 "group:          files\n"
                                 "shadow:         files\n"
                                 "hosts:          files dns\n"
                                 "networks:       files\n"
                                 "protocols:      files\n"
                                 "services:       files\n"
                                 "ethers:         files\n"
                                 "rpc:            files\n";
  g_autofree char *machine_id = NULL;
  cbox_nspawn_autofd int etc_fd = -1;

  for (const char *const *dir = (const char *const[]){ "usr", "etc", NULL }; *dir != NULL; dir++)
    if (mkdirat (root_fd, *dir, 0755) < 0 && errno != EEXIST)
      {
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot create /%s: %s", *dir,
                     g_strerror (errno));
        return FALSE;
      }
  etc_fd = openat (root_fd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (etc_fd < 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot open /etc: %s",
                   g_strerror (errno));
      return FALSE;
    }

  /* A fresh machine id per run: nothing ties two runs (or a run and the
   * host) together. */
  {
    g_autofree char *uuid = g_uuid_string_random ();
    g_autoptr (GString) hex = g_string_new (NULL);
    for (const char *p = uuid; *p != '\0'; p++)
      if (*p != '-')
        g_string_append_c (hex, *p);
    g_string_append_c (hex, '\n');
    machine_id = g_string_free (g_steal_pointer (&hex), FALSE);
  }
  if (!cbox_nspawn_write_file (etc_fd, "machine-id", "/etc/machine-id", -1, machine_id,
                               strlen (machine_id), 0444, 0, 0, error)
      || !cbox_nspawn_write_file (etc_fd, "nsswitch.conf", "/etc/nsswitch.conf", -1, nsswitch,
                                  sizeof nsswitch - 1, 0644, 0, 0, error))
    return FALSE;

  /* os-release: the host's, as /usr carries it. */
  if (symlinkat ("../usr/lib/os-release", etc_fd, "os-release") < 0 && errno != EEXIST)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                   "nspawn: cannot create /etc/os-release: %s", g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

static gboolean
cbox_nspawn_apply_op (CboxNspawnLayout *layout, int root_fd, int fs_fd, const CboxNspawnOp *op,
                      GError **error)
{
  const CboxMount *mount = op->mount;
  g_autofree char *name = NULL;
  cbox_nspawn_autofd int dir_fd = -1;
  const char *dest;
  int base_fd = root_fd;

  switch (op->op)
    {
    case CBOX_NSPAWN_OP_SKIP:
    case CBOX_NSPAWN_OP_BIND:
    case CBOX_NSPAWN_OP_BIND_RO:
    case CBOX_NSPAWN_OP_TMPFS:
      return TRUE;

    case CBOX_NSPAWN_OP_STAGE:
      {
        g_autofree char *base = g_path_get_basename (op->stage_path);
        cbox_nspawn_autofd int stage_fd = -1;

        if (mkdir (layout->stage_dir, 0700) < 0 && errno != EEXIST)
          {
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot create %s: %s",
                         layout->stage_dir, g_strerror (errno));
            return FALSE;
          }
        stage_fd = open (layout->stage_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (stage_fd < 0)
          {
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot open %s: %s",
                         layout->stage_dir, g_strerror (errno));
            return FALSE;
          }
        return cbox_nspawn_write_file (stage_fd, base, mount->dest, mount->fd, NULL, 0, mount->mode,
                                       op->uid, op->gid, error);
      }

    case CBOX_NSPAWN_OP_MKDIR:
    case CBOX_NSPAWN_OP_SYMLINK:
    case CBOX_NSPAWN_OP_WRITE:
    case CBOX_NSPAWN_OP_WRITE_RO:
    default:
      break;
    }

  dest = mount->dest;
  /* What is bound over nspawn's own tmpfs is made beside the root. */
  if (cbox_nspawn_layout_rebound (layout, dest) != NULL)
    base_fd = fs_fd;
  if (g_str_equal (dest, "/"))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                   "nspawn: cannot put a %s at / (added by %s)",
                   cbox_mount_kind_to_string (mount->kind), mount->origin);
      return FALSE;
    }
  dir_fd = cbox_nspawn_open_parent (layout, base_fd, dest, &name, error);
  if (dir_fd < 0)
    return FALSE;

  switch (op->op)
    {
    case CBOX_NSPAWN_OP_MKDIR:
      if (mkdirat (dir_fd, name, 0700) < 0 && errno != EEXIST)
        break;
      /* Set explicitly: mkdir() obeys the umask and drops the sticky bit. */
      if (fchownat (dir_fd, name, op->uid, op->gid, AT_SYMLINK_NOFOLLOW) < 0
          || fchmodat (dir_fd, name, mount->mode & 07777, 0) < 0)
        break;
      return TRUE;

    case CBOX_NSPAWN_OP_SYMLINK:
      if (unlinkat (dir_fd, name, 0) < 0 && errno == EISDIR)
        (void)unlinkat (dir_fd, name, AT_REMOVEDIR);
      if (symlinkat (mount->src, dir_fd, name) < 0
          || fchownat (dir_fd, name, op->uid, op->gid, AT_SYMLINK_NOFOLLOW) < 0)
        break;
      return TRUE;

    case CBOX_NSPAWN_OP_WRITE:
    case CBOX_NSPAWN_OP_WRITE_RO:
      return cbox_nspawn_write_file (dir_fd, name, mount->dest, mount->fd, NULL, 0, mount->mode,
                                     op->uid, op->gid, error);

    default:
      g_assert_not_reached ();
    }

  g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot create %s %s: %s",
               cbox_mount_kind_to_string (mount->kind), mount->dest, g_strerror (errno));
  return FALSE;
}

gboolean
cbox_nspawn_root_create (CboxNspawnLayout *layout, CboxPlan *plan, GError **error)
{
  cbox_nspawn_autofd int root_fd = -1;
  cbox_nspawn_autofd int fs_fd = -1;

  g_return_val_if_fail (layout != NULL && layout->lock_fd < 0, FALSE);

  if (!cbox_nspawn_ensure_state_dir (layout->state_dir, error))
    return FALSE;
  (void)cbox_nspawn_sweep (layout->state_dir);

  layout->lock_fd = cbox_nspawn_create_lock (layout->state_dir, layout->lock_path, error);
  if (layout->lock_fd < 0)
    return FALSE;
  if (mkdir (layout->entry_dir, 0700) < 0 || mkdir (layout->fs_dir, 0700) < 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot create %s: %s",
                   layout->fs_dir, g_strerror (errno));
      return FALSE;
    }
  /* Everything of the run is on one tmpfs of its own: the plan's scratch
   * directories (/tmp, the home) live in it without filling the host's
   * /run, and removing the run is one unmount, never a recursive delete
   * on the host. nosuid: nothing in it may raise privileges. Private, so
   * that nothing mounted below it shows up elsewhere. */
  if (mount ("cbox-nspawn", layout->fs_dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot mount a tmpfs on %s: %s",
                   layout->fs_dir, g_strerror (errno));
      return FALSE;
    }
  layout->mounted = TRUE;
  (void)mount (NULL, layout->fs_dir, NULL, MS_PRIVATE, NULL);

  fs_fd = open (layout->fs_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fs_fd < 0 || mkdirat (fs_fd, "root", 0755) < 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot create %s: %s",
                   layout->root_dir, g_strerror (errno));
      return FALSE;
    }
  root_fd = openat (fs_fd, "root", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root_fd < 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot open %s: %s",
                   layout->root_dir, g_strerror (errno));
      return FALSE;
    }
  if (!cbox_nspawn_write_skeleton (root_fd, error))
    return FALSE;
  for (guint i = 0; i < layout->ops->len; i++)
    if (!cbox_nspawn_apply_op (layout, root_fd, fs_fd,
                               &g_array_index (layout->ops, CboxNspawnOp, i), error))
      return FALSE;
  return TRUE;
}

static void
cbox_nspawn_remove_entry (const char *entry_dir, const char *lock_path)
{
  g_autofree char *fs_dir = g_build_filename (entry_dir, "fs", NULL);

  /* Everything of the run is in its tmpfs: unmounting removes it, and no
   * recursive delete ever runs on the host. The loop covers a tmpfs
   * mounted twice by hand. */
  for (int i = 0; i < 8 && umount2 (fs_dir, MNT_DETACH | UMOUNT_NOFOLLOW) == 0; i++)
    ;
  (void)rmdir (fs_dir);
  (void)rmdir (entry_dir);
  (void)unlink (lock_path);
}

void
cbox_nspawn_root_destroy (CboxNspawnLayout *layout)
{
  if (layout == NULL || (layout->lock_fd < 0 && !layout->mounted))
    return;
  cbox_nspawn_remove_entry (layout->entry_dir, layout->lock_path);
  layout->mounted = FALSE;
  cbox_nspawn_close_fd (&layout->lock_fd);
}

guint
cbox_nspawn_sweep (const char *state_dir)
{
  g_autoptr (GDir) dir = g_dir_open (state_dir, 0, NULL);
  const char *name;
  guint removed = 0;

  if (dir == NULL)
    return 0;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *instance = NULL;
      g_autofree char *lock_path = NULL;
      g_autofree char *entry_dir = NULL;
      cbox_nspawn_autofd int fd = -1;

      if (!g_str_has_suffix (name, ".lock"))
        continue;
      instance = g_strndup (name, strlen (name) - strlen (".lock"));
      if (instance[0] == '\0'
          || strspn (instance, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen (instance))
        continue;
      lock_path = g_build_filename (state_dir, name, NULL);
      fd = open (lock_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
      /* Held: a live run (cbox, or the systemd-nspawn it started, which
       * inherits the lock) uses it. */
      if (fd < 0 || flock (fd, LOCK_EX | LOCK_NB) < 0)
        continue;
      entry_dir = g_build_filename (state_dir, instance, NULL);
      cbox_nspawn_remove_entry (entry_dir, lock_path);
      /* The propagation link of that run (cbox-nspawn-plugin.c), which
       * pointed into the tmpfs just removed. */
      if (g_str_equal (state_dir, CBOX_NSPAWN_STATE_DIR))
        {
          g_autofree char *machine = g_strdup_printf ("cbox-%.59s", instance);
          g_autofree char *link = g_build_filename (CBOX_NSPAWN_PROPAGATE_DIR, machine, NULL);
          struct stat st;
          if (lstat (link, &st) == 0 && S_ISLNK (st.st_mode))
            unlink (link);
        }
      removed++;
    }
  return removed;
}

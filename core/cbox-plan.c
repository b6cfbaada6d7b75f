/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cbox-config.h"
#include "cbox-private.h"

typedef struct
{
  CboxCleanupFunc func;
  gpointer user_data;
  GDestroyNotify destroy;
} CboxCleanup;

typedef struct
{
  char *text;
  const char *origin;
} CboxNote;

typedef struct
{
  char *name;
  char *reason;
} CboxSkipped;

struct _CboxPlan
{
  /* Interned strings: provenance is compared and printed, never freed. */
  const char *origin;
  GPtrArray *mounts;  /* CboxMount* */
  GPtrArray *env;     /* CboxEnvVar*, one per name, in first-set order */
  GArray *fds;        /* int */
  GPtrArray *helpers; /* CboxHelper* */
  char **command;
  char *cwd;
  CboxNetworkMode network_mode;
  GArray *published; /* CboxPublishedPort, host ports unique */
  gboolean allow_userns;
  uid_t uid;
  gid_t gid;
  char *user_name;
  char *home_dir;
  char *runtime_dir;
  char *hostname;
  GPtrArray *notes;           /* CboxNote* */
  GPtrArray *skipped;         /* CboxSkipped* */
  GPtrArray *forwarders;      /* char*, NULL-terminated */
  GArray *cleanups;           /* CboxCleanup */
  GPtrArray *protected_paths; /* CboxProtectedPath* */
  CboxPlanSpawnedFunc spawned_func;
  gpointer spawned_data;
  pid_t tool_to_reap; /* 0: none */
};

static void
cbox_mount_free (CboxMount *mount)
{
  if (mount == NULL)
    return;
  g_free (mount->src);
  g_free (mount->dest);
  if (mount->fd >= 0)
    close (mount->fd);
  g_free (mount);
}

static void
cbox_protected_path_free (CboxProtectedPath *item)
{
  g_free (item->path);
  g_free (item->host_path);
  g_free (item->entry);
  g_free (item);
}

static void
cbox_env_var_free (CboxEnvVar *var)
{
  if (var == NULL)
    return;
  g_free (var->name);
  g_free (var->value);
  g_free (var);
}

static void
cbox_helper_free (CboxHelper *helper)
{
  if (helper == NULL)
    return;
  g_free (helper->name);
  g_strfreev (helper->argv);
  g_free (helper->ready_path);
  g_free (helper);
}

static void
cbox_note_free (CboxNote *note)
{
  g_free (note->text);
  g_free (note);
}

static void
cbox_skipped_free (CboxSkipped *skipped)
{
  g_free (skipped->name);
  g_free (skipped->reason);
  g_free (skipped);
}

CboxPlan *
cbox_plan_new (void)
{
  CboxPlan *plan = g_new0 (CboxPlan, 1);

  plan->origin = g_intern_static_string ("core");
  plan->mounts = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_mount_free);
  plan->env = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_env_var_free);
  plan->fds = g_array_new (FALSE, FALSE, sizeof (int));
  plan->helpers = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_helper_free);
  plan->notes = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_note_free);
  plan->skipped = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_skipped_free);
  plan->forwarders = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (plan->forwarders, NULL);
  plan->protected_paths = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_protected_path_free);
  plan->cleanups = g_array_new (FALSE, FALSE, sizeof (CboxCleanup));
  plan->network_mode = CBOX_NETWORK_OWN;
  plan->published = g_array_new (FALSE, FALSE, sizeof (CboxPublishedPort));
  plan->uid = (uid_t)-1;
  plan->gid = (gid_t)-1;
  return plan;
}

void
cbox_plan_free (CboxPlan *plan)
{
  if (plan == NULL)
    return;
  cbox_plan_run_cleanups (plan);
  cbox_plan_reap_tool (plan);
  cbox_plan_close_fds (plan);
  g_ptr_array_unref (plan->mounts);
  g_ptr_array_unref (plan->protected_paths);
  g_ptr_array_unref (plan->env);
  g_array_unref (plan->fds);
  g_ptr_array_unref (plan->helpers);
  g_array_unref (plan->published);
  g_strfreev (plan->command);
  g_free (plan->cwd);
  g_free (plan->user_name);
  g_free (plan->home_dir);
  g_free (plan->runtime_dir);
  g_free (plan->hostname);
  g_ptr_array_unref (plan->notes);
  g_ptr_array_unref (plan->skipped);
  g_ptr_array_unref (plan->forwarders);
  g_array_unref (plan->cleanups);
  g_free (plan);
}

void
cbox_plan_set_origin (CboxPlan *plan, const char *origin)
{
  g_return_if_fail (plan != NULL);
  g_return_if_fail (origin != NULL);
  plan->origin = g_intern_string (origin);
}

const char *
cbox_plan_get_origin (CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, NULL);
  return plan->origin;
}

/* Destinations are compared as strings by every backend, so they must be
 * absolute and in one canonical spelling. */
static gboolean
cbox_plan_dest_is_valid (const char *dest)
{
  if (dest == NULL || dest[0] != '/')
    return FALSE;
  if (strstr (dest, "//") != NULL)
    return FALSE;
  if (dest[1] != '\0' && g_str_has_suffix (dest, "/"))
    return FALSE;
  g_auto (GStrv) parts = g_strsplit (dest, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (g_str_equal (parts[i], ".") || g_str_equal (parts[i], ".."))
      return FALSE;
  return TRUE;
}

static gboolean
cbox_plan_check_dest (const char *dest, GError **error)
{
  if (!cbox_plan_dest_is_valid (dest))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "'%s' is not an absolute path without '.', '..', '//' or a trailing '/'; "
                   "give the destination inside the sandbox in that form",
                   dest != NULL ? dest : "");
      return FALSE;
    }
  return TRUE;
}

static CboxMount *
cbox_plan_add_mount (CboxPlan *plan, CboxMountKind kind, const char *src, const char *dest,
                     CboxMountFlags flags, guint32 mode, int fd)
{
  CboxMount *mount = g_new0 (CboxMount, 1);

  mount->kind = kind;
  mount->flags = flags;
  mount->src = g_strdup (src);
  mount->dest = g_strdup (dest);
  mount->mode = mode;
  mount->fd = fd;
  mount->origin = plan->origin;
  g_ptr_array_add (plan->mounts, mount);
  return mount;
}

#define CBOX_PLAN_CHECK_DEST(dest)                                                                 \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (!cbox_plan_dest_is_valid (dest))                                                           \
      {                                                                                            \
        g_critical ("%s: destination '%s' is not an absolute normalized path", G_STRFUNC,          \
                    (dest) ? (dest) : "(null)");                                                   \
        return;                                                                                    \
      }                                                                                            \
  }                                                                                                \
  G_STMT_END

void
cbox_plan_add_bind_ro (CboxPlan *plan, const char *src, const char *dest, CboxMountFlags flags)
{
  g_return_if_fail (plan != NULL && src != NULL);
  CBOX_PLAN_CHECK_DEST (dest);
  cbox_plan_add_mount (plan, CBOX_MOUNT_RO, src, dest, flags, 0, -1);
}

void
cbox_plan_add_bind_rw (CboxPlan *plan, const char *src, const char *dest, CboxMountFlags flags)
{
  g_return_if_fail (plan != NULL && src != NULL);
  CBOX_PLAN_CHECK_DEST (dest);
  cbox_plan_add_mount (plan, CBOX_MOUNT_RW, src, dest, flags, 0, -1);
}

void
cbox_plan_add_bind_socket (CboxPlan *plan, const char *src, const char *dest, CboxMountFlags flags)
{
  g_return_if_fail (plan != NULL && src != NULL);
  CBOX_PLAN_CHECK_DEST (dest);
  cbox_plan_add_mount (plan, CBOX_MOUNT_SOCKET, src, dest, flags, 0, -1);
}

void
cbox_plan_add_bind_dev (CboxPlan *plan, const char *src, const char *dest, CboxMountFlags flags)
{
  g_return_if_fail (plan != NULL && src != NULL);
  CBOX_PLAN_CHECK_DEST (dest);
  cbox_plan_add_mount (plan, CBOX_MOUNT_DEV, src, dest, flags, 0, -1);
}

void
cbox_plan_add_tmpfs (CboxPlan *plan, const char *dest, guint32 mode)
{
  g_return_if_fail (plan != NULL);
  CBOX_PLAN_CHECK_DEST (dest);
  cbox_plan_add_mount (plan, CBOX_MOUNT_TMPFS, NULL, dest, CBOX_MOUNT_FLAG_NONE, mode, -1);
}

void
cbox_plan_add_dir (CboxPlan *plan, const char *dest, guint32 mode)
{
  g_return_if_fail (plan != NULL);
  CBOX_PLAN_CHECK_DEST (dest);
  cbox_plan_add_mount (plan, CBOX_MOUNT_DIR, NULL, dest, CBOX_MOUNT_FLAG_NONE, mode, -1);
}

void
cbox_plan_add_symlink (CboxPlan *plan, const char *target, const char *dest)
{
  g_return_if_fail (plan != NULL && target != NULL && target[0] != '\0');
  CBOX_PLAN_CHECK_DEST (dest);
  cbox_plan_add_mount (plan, CBOX_MOUNT_SYMLINK, target, dest, CBOX_MOUNT_FLAG_NONE, 0, -1);
}

gboolean
cbox_memfd_fill_sealed (int fd, const char *name, const void *data, gsize len, GError **error)
{
  gsize done = 0;

  g_return_val_if_fail (fd >= 0 && name != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);

  /* pwrite() keeps the offset at 0, where the reader starts. */
  while (done < len)
    {
      ssize_t n = pwrite (fd, (const char *)data + done, len - done, (off_t)done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved_errno = n < 0 ? errno : EIO;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                       "Cannot write memfd '%s': %s", name, g_strerror (saved_errno));
          return FALSE;
        }
      done += (gsize)n;
    }
  /* Sealed, so that whoever reads it (bwrap, a backend writing it into a
   * root) sees exactly what the plan showed, however long it keeps it. */
  if (fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "Cannot seal memfd '%s': %s", name, g_strerror (saved_errno));
      return FALSE;
    }
  return TRUE;
}

int
cbox_memfd_new_sealed (const char *name, const void *data, gsize len, GError **error)
{
  cbox_autofd int fd = -1;

  g_return_val_if_fail (name != NULL, -1);
  g_return_val_if_fail (data != NULL || len == 0, -1);

  fd = memfd_create (name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "Cannot create memfd '%s': %s", name, g_strerror (saved_errno));
      return -1;
    }
  if (!cbox_memfd_fill_sealed (fd, name, data, len, error))
    return -1;
  return cbox_steal_fd (&fd);
}

GBytes *
cbox_memfd_read (int fd, GError **error)
{
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  guint8 buffer[16384];

  g_return_val_if_fail (fd >= 0, NULL);

  for (;;)
    {
      ssize_t n = pread (fd, buffer, sizeof buffer, (off_t)bytes->len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                       "Cannot read memfd: %s", g_strerror (saved_errno));
          return NULL;
        }
      if (n == 0)
        return g_byte_array_free_to_bytes (g_steal_pointer (&bytes));
      g_byte_array_append (bytes, buffer, (guint)n);
    }
}

gboolean
cbox_plan_add_data (CboxPlan *plan, const char *dest, const void *data, gsize len, guint32 mode,
                    CboxMountFlags flags, GError **error)
{
  int fd;

  g_return_val_if_fail (plan != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* A GError, not a g_return: the destination may come from a profile or
   * a plugin's config key, and FALSE must always come with a reason. */
  if (!cbox_plan_check_dest (dest, error))
    return FALSE;

  fd = cbox_memfd_new_sealed ("cbox-data", data, len, error);
  if (fd < 0)
    return FALSE;
  cbox_plan_add_mount (plan, CBOX_MOUNT_DATA, NULL, dest, flags, mode & 07777, fd);
  return TRUE;
}

gboolean
cbox_plan_add_copy (CboxPlan *plan, const char *src, const char *dest, CboxMountFlags flags,
                    GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GBytes) contents = NULL;
  struct stat st;

  g_return_val_if_fail (plan != NULL && src != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!cbox_plan_check_dest (dest, error))
    return FALSE;

  /* One open, checked and read through the same fd: a file swapped for a
   * fifo or a device cannot hang cbox or be read as the file checked. */
  contents = cbox_read_regular_file (src, 0, &st, &local_error);
  if (contents == NULL)
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT)
          && (flags & CBOX_MOUNT_FLAG_ALLOW_MISSING))
        return TRUE;
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                  "Cannot copy into the sandbox: ");
      return FALSE;
    }
  return cbox_plan_add_data (plan, dest, g_bytes_get_data (contents, NULL),
                             g_bytes_get_size (contents), st.st_mode & 0777,
                             flags | CBOX_MOUNT_FLAG_WRITABLE, error);
}

guint
cbox_plan_get_n_mounts (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, 0);
  return plan->mounts->len;
}

const CboxMount *
cbox_plan_get_mount (const CboxPlan *plan, guint index)
{
  g_return_val_if_fail (plan != NULL, NULL);
  g_return_val_if_fail (index < plan->mounts->len, NULL);
  return g_ptr_array_index (plan->mounts, index);
}

const CboxMount *
cbox_plan_find_mount (const CboxPlan *plan, const char *dest)
{
  g_return_val_if_fail (plan != NULL && dest != NULL, NULL);
  for (guint i = plan->mounts->len; i > 0; i--)
    {
      const CboxMount *mount = g_ptr_array_index (plan->mounts, i - 1);
      if (g_str_equal (mount->dest, dest))
        return mount;
    }
  return NULL;
}

/* ---- environment ------------------------------------------------------- */

static CboxEnvVar *
cbox_plan_lookup_env (const CboxPlan *plan, const char *name)
{
  for (guint i = 0; i < plan->env->len; i++)
    {
      CboxEnvVar *var = g_ptr_array_index (plan->env, i);
      if (g_str_equal (var->name, name))
        return var;
    }
  return NULL;
}

static gboolean
cbox_env_name_is_valid (const char *name)
{
  return name != NULL && name[0] != '\0' && strchr (name, '=') == NULL;
}

static void
cbox_plan_store_env (CboxPlan *plan, const char *name, const char *value)
{
  CboxEnvVar *var = cbox_plan_lookup_env (plan, name);

  if (var == NULL)
    {
      var = g_new0 (CboxEnvVar, 1);
      var->name = g_strdup (name);
      g_ptr_array_add (plan->env, var);
    }
  g_free (var->value);
  var->value = g_strdup (value);
  var->origin = plan->origin;
}

void
cbox_plan_set_env (CboxPlan *plan, const char *name, const char *value)
{
  g_return_if_fail (plan != NULL);
  g_return_if_fail (cbox_env_name_is_valid (name));
  g_return_if_fail (value != NULL);
  cbox_plan_store_env (plan, name, value);
}

void
cbox_plan_unset_env (CboxPlan *plan, const char *name)
{
  g_return_if_fail (plan != NULL);
  g_return_if_fail (cbox_env_name_is_valid (name));
  cbox_plan_store_env (plan, name, NULL);
}

const char *
cbox_plan_get_env (const CboxPlan *plan, const char *name)
{
  g_return_val_if_fail (plan != NULL && name != NULL, NULL);
  CboxEnvVar *var = cbox_plan_lookup_env (plan, name);
  return var != NULL ? var->value : NULL;
}

guint
cbox_plan_get_n_env (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, 0);
  return plan->env->len;
}

const CboxEnvVar *
cbox_plan_get_env_var (const CboxPlan *plan, guint index)
{
  g_return_val_if_fail (plan != NULL, NULL);
  g_return_val_if_fail (index < plan->env->len, NULL);
  return g_ptr_array_index (plan->env, index);
}

static int
cbox_compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

char **
cbox_plan_get_environ (const CboxPlan *plan)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);

  g_return_val_if_fail (plan != NULL, NULL);
  for (guint i = 0; i < plan->env->len; i++)
    {
      const CboxEnvVar *var = g_ptr_array_index (plan->env, i);
      if (var->value != NULL)
        g_ptr_array_add (out, g_strconcat (var->name, "=", var->value, NULL));
    }
  g_ptr_array_sort (out, cbox_compare_strings);
  g_ptr_array_add (out, NULL);
  return (char **)g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

/* ---- fds --------------------------------------------------------------- */

int
cbox_plan_take_fd (CboxPlan *plan, int fd)
{
  g_return_val_if_fail (plan != NULL, -1);
  g_return_val_if_fail (fd >= 0, -1);
  g_array_append_val (plan->fds, fd);
  return fd;
}

void
cbox_plan_close_fds (CboxPlan *plan)
{
  g_return_if_fail (plan != NULL);
  for (guint i = 0; i < plan->fds->len; i++)
    close (g_array_index (plan->fds, int, i));
  g_array_set_size (plan->fds, 0);
}

/* ---- helpers ----------------------------------------------------------- */

void
cbox_plan_take_helper (CboxPlan *plan, const char *name, char **argv, CboxHelperReady ready,
                       const char *ready_path)
{
  CboxHelper *helper;

  g_return_if_fail (plan != NULL && name != NULL);
  g_return_if_fail (argv != NULL && argv[0] != NULL);
  g_return_if_fail (ready != CBOX_HELPER_READY_PATH || ready_path != NULL);

  helper = g_new0 (CboxHelper, 1);
  helper->name = g_strdup (name);
  helper->argv = argv;
  helper->ready = ready;
  helper->ready_path = g_strdup (ready_path);
  helper->origin = plan->origin;
  g_ptr_array_add (plan->helpers, helper);
}

guint
cbox_plan_get_n_helpers (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, 0);
  return plan->helpers->len;
}

const CboxHelper *
cbox_plan_get_helper (const CboxPlan *plan, guint index)
{
  g_return_val_if_fail (plan != NULL, NULL);
  g_return_val_if_fail (index < plan->helpers->len, NULL);
  return g_ptr_array_index (plan->helpers, index);
}

/* ---- command and identity ------------------------------------------------ */

void
cbox_plan_set_command (CboxPlan *plan, const char *const *argv)
{
  g_return_if_fail (plan != NULL);
  g_return_if_fail (argv != NULL && argv[0] != NULL);
  g_strfreev (plan->command);
  plan->command = g_strdupv ((char **)argv);
}

const char *const *
cbox_plan_get_command (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, NULL);
  return (const char *const *)plan->command;
}

void
cbox_plan_set_cwd (CboxPlan *plan, const char *cwd)
{
  g_return_if_fail (plan != NULL);
  g_return_if_fail (cwd != NULL && cwd[0] == '/');
  g_free (plan->cwd);
  plan->cwd = g_strdup (cwd);
}

const char *
cbox_plan_get_cwd (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, NULL);
  return plan->cwd;
}

void
cbox_plan_set_network (CboxPlan *plan, gboolean enabled)
{
  g_return_if_fail (plan != NULL);
  plan->network_mode = enabled ? CBOX_NETWORK_OWN : CBOX_NETWORK_OFF;
}

gboolean
cbox_plan_get_network (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, FALSE);
  return plan->network_mode != CBOX_NETWORK_OFF;
}

void
cbox_plan_set_network_mode (CboxPlan *plan, CboxNetworkMode mode)
{
  g_return_if_fail (plan != NULL);
  g_return_if_fail (cbox_network_mode_to_string (mode) != NULL);
  plan->network_mode = mode;
}

CboxNetworkMode
cbox_plan_get_network_mode (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, CBOX_NETWORK_OFF);
  return plan->network_mode;
}

gboolean
cbox_plan_add_published_port (CboxPlan *plan, guint16 host_port, guint16 sandbox_port,
                              GError **error)
{
  CboxPublishedPort port = { host_port, sandbox_port };

  g_return_val_if_fail (plan != NULL, FALSE);
  if (host_port == 0 || sandbox_port == 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "--publish: port 0 is not a port (use 1 to 65535)");
      return FALSE;
    }
  for (guint i = 0; i < plan->published->len; i++)
    {
      const CboxPublishedPort *other = &g_array_index (plan->published, CboxPublishedPort, i);

      if (other->host_port != host_port)
        continue;
      /* The same pair twice (a profile and the command line): once. */
      if (other->sandbox_port == sandbox_port)
        return TRUE;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "--publish: host port %u is published twice (to %u and to %u inside); "
                   "one host port reaches one port inside",
                   host_port, other->sandbox_port, sandbox_port);
      return FALSE;
    }
  g_array_append_val (plan->published, port);
  return TRUE;
}

const CboxPublishedPort *
cbox_plan_get_published_ports (const CboxPlan *plan, guint *ret_n_ports)
{
  g_return_val_if_fail (plan != NULL, NULL);
  g_return_val_if_fail (ret_n_ports != NULL, NULL);
  *ret_n_ports = plan->published->len;
  return (const CboxPublishedPort *)(gpointer)plan->published->data;
}

static const struct
{
  CboxNetworkMode mode;
  const char *name;
  const char *description;
} cbox_network_modes[] = {
  { CBOX_NETWORK_OFF, "off", "no network: only a loopback of the sandbox's own" },
  { CBOX_NETWORK_OWN, "on",
    "a network namespace of the sandbox's own with user-mode networking: outbound TCP, UDP "
    "and DNS; the host's localhost (127.0.0.1, ::1) and its abstract unix sockets are out of "
    "reach" },
  { CBOX_NETWORK_HOST, "host",
    "the host's network namespace, shared: the host's localhost services (127.0.0.1, ::1) and "
    "its abstract unix sockets (X11, D-Bus) are reachable" },
};

const char *
cbox_network_mode_to_string (CboxNetworkMode mode)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_network_modes); i++)
    if (cbox_network_modes[i].mode == mode)
      return cbox_network_modes[i].name;
  return NULL;
}

const char *
cbox_network_mode_describe (CboxNetworkMode mode)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_network_modes); i++)
    if (cbox_network_modes[i].mode == mode)
      return cbox_network_modes[i].description;
  return NULL;
}

gboolean
cbox_network_mode_from_string (const char *text, CboxNetworkMode *ret_mode)
{
  gboolean flag;

  g_return_val_if_fail (ret_mode != NULL, FALSE);
  if (text == NULL)
    return FALSE;
  if (g_ascii_strcasecmp (text, "host") == 0)
    {
      *ret_mode = CBOX_NETWORK_HOST;
      return TRUE;
    }
  if (!cbox_config_parse_boolean (text, &flag))
    return FALSE;
  *ret_mode = flag ? CBOX_NETWORK_OWN : CBOX_NETWORK_OFF;
  return TRUE;
}

const char *const *
cbox_plan_get_seccomp_exceptions (const CboxPlan *plan)
{
  static const char *const none[] = { NULL };
  static const char *const userns[]
      = { "new user namespaces, and the mount and namespace calls used in them (allow-userns)",
          NULL };

  g_return_val_if_fail (plan != NULL, none);
  return plan->allow_userns ? userns : none;
}

void
cbox_plan_set_allow_userns (CboxPlan *plan, gboolean allow)
{
  g_return_if_fail (plan != NULL);
  plan->allow_userns = !!allow;
}

gboolean
cbox_plan_get_allow_userns (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, FALSE);
  return plan->allow_userns;
}

void
cbox_plan_set_user (CboxPlan *plan, uid_t uid, gid_t gid, const char *user_name,
                    const char *home_dir)
{
  g_return_if_fail (plan != NULL);
  g_return_if_fail (user_name != NULL);
  g_return_if_fail (home_dir != NULL && home_dir[0] == '/');
  plan->uid = uid;
  plan->gid = gid;
  g_free (plan->user_name);
  plan->user_name = g_strdup (user_name);
  g_free (plan->home_dir);
  plan->home_dir = g_strdup (home_dir);
  g_free (plan->runtime_dir);
  plan->runtime_dir = g_strdup_printf ("/run/user/%u", (unsigned)uid);
}

uid_t
cbox_plan_get_uid (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, (uid_t)-1);
  return plan->uid;
}

gid_t
cbox_plan_get_gid (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, (gid_t)-1);
  return plan->gid;
}

const char *
cbox_plan_get_user_name (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, NULL);
  return plan->user_name;
}

const char *
cbox_plan_get_home_dir (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, NULL);
  return plan->home_dir;
}

const char *
cbox_plan_get_runtime_dir (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, NULL);
  return plan->runtime_dir;
}

void
cbox_plan_set_hostname (CboxPlan *plan, const char *hostname)
{
  g_return_if_fail (plan != NULL);
  g_free (plan->hostname);
  plan->hostname = g_strdup (hostname);
}

const char *
cbox_plan_get_hostname (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, NULL);
  return plan->hostname;
}

/* ---- explanations --------------------------------------------------------- */

void
cbox_plan_add_note (CboxPlan *plan, const char *format, ...)
{
  CboxNote *note;
  va_list args;

  g_return_if_fail (plan != NULL && format != NULL);
  note = g_new0 (CboxNote, 1);
  va_start (args, format);
  note->text = g_strdup_vprintf (format, args);
  va_end (args);
  note->origin = plan->origin;
  g_ptr_array_add (plan->notes, note);
}

guint
cbox_plan_get_n_notes (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, 0);
  return plan->notes->len;
}

const char *
cbox_plan_get_note (const CboxPlan *plan, guint index, const char **ret_origin)
{
  g_return_val_if_fail (plan != NULL, NULL);
  g_return_val_if_fail (index < plan->notes->len, NULL);
  const CboxNote *note = g_ptr_array_index (plan->notes, index);
  if (ret_origin != NULL)
    *ret_origin = note->origin;
  return note->text;
}

void
cbox_plan_add_skipped (CboxPlan *plan, const char *name, const char *reason)
{
  CboxSkipped *skipped;

  g_return_if_fail (plan != NULL && name != NULL && reason != NULL);
  skipped = g_new0 (CboxSkipped, 1);
  skipped->name = g_strdup (name);
  skipped->reason = g_strdup (reason);
  g_ptr_array_add (plan->skipped, skipped);
}

guint
cbox_plan_get_n_skipped (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, 0);
  return plan->skipped->len;
}

const char *
cbox_plan_get_skipped (const CboxPlan *plan, guint index, const char **ret_reason)
{
  g_return_val_if_fail (plan != NULL, NULL);
  g_return_val_if_fail (index < plan->skipped->len, NULL);
  const CboxSkipped *skipped = g_ptr_array_index (plan->skipped, index);
  if (ret_reason != NULL)
    *ret_reason = skipped->reason;
  return skipped->name;
}

void
cbox_plan_add_forwarder (CboxPlan *plan, const char *name)
{
  g_return_if_fail (plan != NULL && name != NULL);
  /* Keep the array NULL-terminated for cbox_plan_get_forwarders(). */
  g_ptr_array_insert (plan->forwarders, (int)plan->forwarders->len - 1, g_strdup (name));
}

const char *const *
cbox_plan_get_forwarders (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, NULL);
  return (const char *const *)plan->forwarders->pdata;
}

/* ---- cleanup ----------------------------------------------------------------- */

void
cbox_plan_add_cleanup (CboxPlan *plan, CboxCleanupFunc func, gpointer user_data,
                       GDestroyNotify destroy)
{
  CboxCleanup cleanup = { func, user_data, destroy };

  g_return_if_fail (plan != NULL && func != NULL);
  g_array_append_val (plan->cleanups, cleanup);
}

void
cbox_plan_run_cleanups (CboxPlan *plan)
{
  g_return_if_fail (plan != NULL);
  /* Last in, first out; each is removed before it runs, so a cleanup that
   * adds another, or a second call, never runs one twice. */
  while (plan->cleanups->len > 0)
    {
      CboxCleanup cleanup = g_array_index (plan->cleanups, CboxCleanup, plan->cleanups->len - 1);
      g_array_set_size (plan->cleanups, plan->cleanups->len - 1);
      cleanup.func (cleanup.user_data);
      if (cleanup.destroy != NULL)
        cleanup.destroy (cleanup.user_data);
    }
}

/* ---- per-run folders ---------------------------------------------------- */

typedef struct
{
  char *dir;
  int lock_fd;
} CboxRunDir;

static void
cbox_run_dir_free (gpointer user_data)
{
  CboxRunDir *run_dir = user_data;

  if (run_dir->lock_fd >= 0)
    close (run_dir->lock_fd);
  g_free (run_dir->dir);
  g_free (run_dir);
}

/* Removes the sockets and files in @dir (the lock among them), then @dir.
 * Never recurses and never follows a link: only what a run puts there
 * goes, and a folder with anything else in it stays. */
static void
cbox_run_dir_remove (const char *dir)
{
  g_autoptr (GDir) listing = g_dir_open (dir, 0, NULL);
  const char *name;

  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      struct stat st;

      if (lstat (path, &st) == 0 && (S_ISSOCK (st.st_mode) || S_ISREG (st.st_mode)))
        (void)unlink (path);
    }
  (void)rmdir (dir);
}

static void
cbox_run_dir_cleanup (gpointer user_data)
{
  CboxRunDir *run_dir = user_data;
  cbox_run_dir_remove (run_dir->dir);
}

/* A run killed with SIGKILL cannot remove its folder (its helper is gone:
 * it watched the sync fd, but the socket stays). The lock a live run
 * holds says which folders are in use; the others are swept. */
static void
cbox_run_dir_sweep (const char *base, const char *prefix, uid_t uid)
{
  g_autoptr (GDir) listing = g_dir_open (base, 0, NULL);
  const char *name;

  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *dir = NULL;
      g_autofree char *lock = NULL;
      struct stat st;
      int fd;

      if (!g_str_has_prefix (name, prefix))
        continue;
      dir = g_build_filename (base, name, NULL);
      /* Only our own folders: /tmp is shared with other users. */
      if (lstat (dir, &st) != 0 || !S_ISDIR (st.st_mode)
          || (st.st_uid != geteuid () && st.st_uid != uid))
        continue;
      lock = g_build_filename (dir, ".lock", NULL);
      /* O_NONBLOCK: a fifo put there must not hang the sweep. */
      fd = open (lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
      if (fd < 0)
        continue; /* being created right now, or not ours */
      if (flock (fd, LOCK_EX | LOCK_NB) == 0)
        cbox_run_dir_remove (dir);
      close (fd);
    }
}

gboolean
cbox_plan_make_run_dir (CboxPlan *plan, const char *dir, const char *prefix, uid_t uid, gid_t gid,
                        GError **error)
{
  g_autofree char *base = NULL;
  g_autofree char *name = NULL;
  g_autofree char *lock = NULL;
  g_autofree char *lock_new = NULL;
  CboxRunDir *run_dir;

  g_return_val_if_fail (plan != NULL, FALSE);
  g_return_val_if_fail (dir != NULL && g_path_is_absolute (dir), FALSE);
  g_return_val_if_fail (prefix != NULL && *prefix != '\0', FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  base = g_path_get_dirname (dir);
  name = g_path_get_basename (dir);
  g_return_val_if_fail (g_str_has_prefix (name, prefix), FALSE);
  cbox_run_dir_sweep (base, prefix, uid);

  /* Private to the user: nobody else may connect to a socket in it, nor
   * put one of their own where the sandbox's will be bound from. mkdir()
   * fails if the name is taken, so a folder planted in /tmp is never
   * used. */
  if (mkdir (dir, 0700) != 0)
    {
      int saved_errno = errno;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "cannot create %s: %s", dir,
                   g_strerror (saved_errno));
      return FALSE;
    }
  run_dir = g_new0 (CboxRunDir, 1);
  run_dir->dir = g_strdup (dir);
  run_dir->lock_fd = -1;
  cbox_plan_add_cleanup (plan, cbox_run_dir_cleanup, run_dir, cbox_run_dir_free);

  /* Locked under a temporary name, then renamed: a concurrent run's sweep
   * never sees an unlocked ".lock" of a live folder. */
  lock = g_build_filename (dir, ".lock", NULL);
  lock_new = g_build_filename (dir, ".lock.new", NULL);
  run_dir->lock_fd = open (lock_new, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (run_dir->lock_fd < 0 || flock (run_dir->lock_fd, LOCK_EX) != 0
      || rename (lock_new, lock) != 0)
    {
      int saved_errno = errno;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "cannot lock %s: %s", lock,
                   g_strerror (saved_errno));
      return FALSE;
    }
  /* Root planning for a user: the helpers that make sockets here run as
   * that user. */
  if (geteuid () == 0 && uid != 0 && uid != (uid_t)-1 && chown (dir, uid, gid) != 0)
    {
      int saved_errno = errno;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "cannot give %s to uid %u: %s", dir,
                   (unsigned)uid, g_strerror (saved_errno));
      return FALSE;
    }
  return TRUE;
}

void
cbox_plan_set_spawned_func (CboxPlan *plan, CboxPlanSpawnedFunc func, gpointer user_data)
{
  g_return_if_fail (plan != NULL);
  plan->spawned_func = func;
  plan->spawned_data = user_data;
}

void
cbox_plan_notify_spawned (CboxPlan *plan)
{
  CboxPlanSpawnedFunc func;

  g_return_if_fail (plan != NULL);
  func = plan->spawned_func;
  plan->spawned_func = NULL;
  if (func != NULL)
    func (plan->spawned_data);
}

void
cbox_plan_set_tool_to_reap (CboxPlan *plan, pid_t pid)
{
  g_return_if_fail (plan != NULL);
  g_return_if_fail (plan->tool_to_reap == 0);
  plan->tool_to_reap = pid;
}

void
cbox_plan_reap_tool (CboxPlan *plan)
{
  g_return_if_fail (plan != NULL);
  if (plan->tool_to_reap <= 0)
    return;
  /* The command inside ended already: this is the tool's own last bit of
   * exit, not a wait on the sandbox. */
  while (waitpid (plan->tool_to_reap, NULL, 0) < 0 && errno == EINTR)
    ;
  plan->tool_to_reap = 0;
}

/* ---- features -------------------------------------------------------------- */

static const struct
{
  CboxFeatures feature;
  const char *name;
  const char *description;
} cbox_features[] = {
  { CBOX_FEATURE_BIND, "bind", "file and directory binds" },
  { CBOX_FEATURE_SOCKET, "socket", "unix-socket binds" },
  { CBOX_FEATURE_DEVICE, "device", "device binds" },
  { CBOX_FEATURE_DATA, "data", "generated files" },
  { CBOX_FEATURE_HELPER, "helper", "host helper processes" },
  { CBOX_FEATURE_TMPFS, "tmpfs", "private tmpfs mounts" },
  { CBOX_FEATURE_SYMLINK, "symlink", "symlinks" },
  { CBOX_FEATURE_HOST_NET, "host-net", "access to the host's loopback network" },
};

const char *
cbox_feature_to_string (CboxFeatures feature)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_features); i++)
    if (cbox_features[i].feature == feature)
      return cbox_features[i].name;
  return NULL;
}

const char *
cbox_feature_describe (CboxFeatures feature)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_features); i++)
    if (cbox_features[i].feature == feature)
      return cbox_features[i].description;
  return NULL;
}

CboxFeatures
cbox_mount_kind_feature (CboxMountKind kind)
{
  switch (kind)
    {
    case CBOX_MOUNT_RO:
    case CBOX_MOUNT_RW:
      return CBOX_FEATURE_BIND;
    case CBOX_MOUNT_SOCKET:
      return CBOX_FEATURE_SOCKET;
    case CBOX_MOUNT_DEV:
      return CBOX_FEATURE_DEVICE;
    case CBOX_MOUNT_TMPFS:
    case CBOX_MOUNT_DIR:
      return CBOX_FEATURE_TMPFS;
    case CBOX_MOUNT_SYMLINK:
      return CBOX_FEATURE_SYMLINK;
    case CBOX_MOUNT_DATA:
      return CBOX_FEATURE_DATA;
    default:
      return CBOX_FEATURE_NONE;
    }
}

const char *
cbox_mount_kind_to_string (CboxMountKind kind)
{
  switch (kind)
    {
    case CBOX_MOUNT_RO:
      return "ro";
    case CBOX_MOUNT_RW:
      return "rw";
    case CBOX_MOUNT_SOCKET:
      return "socket";
    case CBOX_MOUNT_DEV:
      return "dev";
    case CBOX_MOUNT_TMPFS:
      return "tmpfs";
    case CBOX_MOUNT_DIR:
      return "dir";
    case CBOX_MOUNT_SYMLINK:
      return "symlink";
    case CBOX_MOUNT_DATA:
      return "data";
    default:
      return "unknown";
    }
}

void
cbox_plan_mark (CboxPlan *plan, CboxPlanMark *ret_mark)
{
  g_return_if_fail (plan != NULL && ret_mark != NULL);

  ret_mark->n_mounts = plan->mounts->len;
  ret_mark->n_helpers = plan->helpers->len;
  ret_mark->n_notes = plan->notes->len;
  ret_mark->env = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_env_var_free);
  for (guint i = 0; i < plan->env->len; i++)
    {
      const CboxEnvVar *var = g_ptr_array_index (plan->env, i);
      CboxEnvVar *copy = g_new0 (CboxEnvVar, 1);

      copy->name = g_strdup (var->name);
      copy->value = g_strdup (var->value);
      copy->origin = var->origin;
      g_ptr_array_add (ret_mark->env, copy);
    }
}

void
cbox_plan_rollback (CboxPlan *plan, CboxPlanMark *mark)
{
  g_return_if_fail (plan != NULL && mark != NULL && mark->env != NULL);
  g_return_if_fail (mark->n_mounts <= plan->mounts->len);

  g_ptr_array_set_size (plan->mounts, mark->n_mounts);
  g_ptr_array_set_size (plan->helpers, mark->n_helpers);
  g_ptr_array_set_size (plan->notes, mark->n_notes);
  g_ptr_array_unref (plan->env);
  plan->env = g_steal_pointer (&mark->env);
}

void
cbox_plan_mark_clear (CboxPlanMark *mark)
{
  if (mark != NULL)
    g_clear_pointer (&mark->env, g_ptr_array_unref);
}

/* ---- protected paths ---------------------------------------------------- */

const char *
cbox_protected_how_to_string (CboxProtectedHow how)
{
  switch (how)
    {
    case CBOX_PROTECTED_READ_ONLY:
      return "read-only";
    case CBOX_PROTECTED_PINNED:
      return "pinned";
    case CBOX_PROTECTED_CHECKED:
      return "checked";
    default:
      return NULL;
    }
}

void
cbox_plan_add_protected_path (CboxPlan *plan, const char *path, const char *host_path,
                              const char *entry, CboxProtectedHow how)
{
  CboxProtectedPath *item;

  g_return_if_fail (plan != NULL && path != NULL && host_path != NULL && entry != NULL);
  item = g_new0 (CboxProtectedPath, 1);
  item->path = g_strdup (path);
  item->host_path = g_strdup (host_path);
  item->entry = g_strdup (entry);
  item->how = how;
  item->origin = plan->origin;
  g_ptr_array_add (plan->protected_paths, item);
}

guint
cbox_plan_get_n_protected_paths (const CboxPlan *plan)
{
  g_return_val_if_fail (plan != NULL, 0);
  return plan->protected_paths->len;
}

const CboxProtectedPath *
cbox_plan_get_protected_path (const CboxPlan *plan, guint index)
{
  g_return_val_if_fail (plan != NULL && index < plan->protected_paths->len, NULL);
  return g_ptr_array_index (plan->protected_paths, index);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbox-private.h"

struct _CboxHost
{
  gatomicrefcount ref_count;
  char *root;
  char **environ;
  uid_t uid;
  gid_t gid;
  uid_t caller_uid;
  char *user_name;
  char *home_dir;
  char *shell;
  char *runtime_dir;
  char *hostname;
};

CboxHost *
cbox_host_new (void)
{
  CboxHost *host = g_new0 (CboxHost, 1);

  g_atomic_ref_count_init (&host->ref_count);
  host->root = g_strdup ("/");
  host->environ = g_new0 (char *, 1);
  host->uid = (uid_t)-1;
  host->gid = (gid_t)-1;
  host->caller_uid = (uid_t)-1;
  host->shell = g_strdup ("/bin/sh");
  host->hostname = g_strdup ("localhost");
  return host;
}

CboxHost *
cbox_host_ref (CboxHost *host)
{
  g_return_val_if_fail (host != NULL, NULL);
  g_atomic_ref_count_inc (&host->ref_count);
  return host;
}

void
cbox_host_unref (CboxHost *host)
{
  if (host == NULL || !g_atomic_ref_count_dec (&host->ref_count))
    return;
  g_free (host->root);
  g_strfreev (host->environ);
  g_free (host->user_name);
  g_free (host->home_dir);
  g_free (host->shell);
  g_free (host->runtime_dir);
  g_free (host->hostname);
  g_free (host);
}

/* Parses a decimal id from SUDO_UID and friends; FALSE for anything else. */
static gboolean
cbox_parse_id (const char *text, guint32 *ret_id)
{
  guint64 value;

  if (text == NULL || !g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32 - 1, &value, NULL))
    return FALSE;
  *ret_id = (guint32)value;
  return TRUE;
}

CboxHost *
cbox_host_new_from_system (GError **error)
{
  g_autoptr (CboxHost) host = cbox_host_new ();
  struct passwd *pw;
  uid_t uid = getuid ();
  gid_t gid = getgid ();
  guint32 id;

  g_strfreev (host->environ);
  host->environ = g_get_environ ();
  host->caller_uid = uid;

  /* Run as root on somebody's behalf (sudo, pkexec), the sandboxed command
   * belongs to that somebody: its files in the project must be theirs, its
   * home theirs. Only root may claim this, so the variables are trusted
   * only when the real uid is 0. */
  if (uid == 0)
    {
      const char *sudo_uid = g_environ_getenv (host->environ, "SUDO_UID");
      const char *pkexec_uid = g_environ_getenv (host->environ, "PKEXEC_UID");

      if (cbox_parse_id (sudo_uid, &id) || cbox_parse_id (pkexec_uid, &id))
        {
          uid = id;
          pw = getpwuid (uid);
          gid = pw != NULL ? pw->pw_gid : uid;
          if (cbox_parse_id (g_environ_getenv (host->environ, "SUDO_GID"), &id))
            gid = id;
        }
    }

  pw = getpwuid (uid);
  host->uid = uid;
  host->gid = gid;
  if (pw != NULL)
    {
      host->user_name = g_strdup (pw->pw_name);
      /* "/home/alice/" happens in password databases; every plan path and
       * HOME inside are built from this one, in one spelling. */
      if (pw->pw_dir != NULL && pw->pw_dir[0] == '/')
        host->home_dir = g_canonicalize_filename (pw->pw_dir, "/");
      if (pw->pw_shell != NULL && pw->pw_shell[0] == '/')
        {
          g_free (host->shell);
          host->shell = g_strdup (pw->pw_shell);
        }
    }
  else
    {
      const char *sudo_user = g_environ_getenv (host->environ, "SUDO_USER");
      host->user_name = g_strdup (sudo_user != NULL && uid != getuid () ? sudo_user : NULL);
      if (host->user_name == NULL)
        host->user_name = g_strdup_printf ("user%u", (unsigned)uid);
    }

  /* For the user cbox runs as, $HOME wins over the password database, as it
   * does for every other program; on somebody's behalf, their entry wins. */
  if (uid == getuid ())
    {
      const char *home = g_environ_getenv (host->environ, "HOME");
      if (home != NULL && home[0] == '/')
        {
          g_free (host->home_dir);
          host->home_dir = g_canonicalize_filename (home, "/");
        }
    }
  if (host->home_dir == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "No home directory for uid %u: set HOME or add the user to the password "
                   "database",
                   (unsigned)uid);
      return NULL;
    }

  {
    const char *runtime_dir = g_environ_getenv (host->environ, "XDG_RUNTIME_DIR");
    struct stat st;

    if (uid == getuid () && runtime_dir != NULL && runtime_dir[0] == '/')
      host->runtime_dir = g_strdup (runtime_dir);
    /* Root acting for a user (sudo keeps XDG_RUNTIME_DIR for the nspawn
     * backend): the user's own runtime folder, wherever their session put
     * it, when it is a real folder of that user that nobody else may
     * write. The sockets forwarders then find there are the user's, as
     * in /run/user/UID, which the user owns as much. */
    else if (runtime_dir != NULL && runtime_dir[0] == '/' && lstat (runtime_dir, &st) == 0
             && S_ISDIR (st.st_mode) && st.st_uid == uid && (st.st_mode & 022) == 0)
      host->runtime_dir = g_strdup (runtime_dir);
    else
      {
        g_autofree char *guess = g_strdup_printf ("/run/user/%u", (unsigned)uid);
        if (g_file_test (guess, G_FILE_TEST_IS_DIR))
          host->runtime_dir = g_steal_pointer (&guess);
      }
  }

  {
    char name[256] = "";
    if (gethostname (name, sizeof name - 1) == 0 && name[0] != '\0')
      {
        g_free (host->hostname);
        host->hostname = g_strdup (name);
      }
  }

  return g_steal_pointer (&host);
}

void
cbox_host_set_root (CboxHost *host, const char *root)
{
  g_return_if_fail (host != NULL);
  g_return_if_fail (root != NULL && root[0] == '/');
  g_free (host->root);
  host->root = g_canonicalize_filename (root, "/");
}

void
cbox_host_set_environ (CboxHost *host, const char *const *envp)
{
  g_return_if_fail (host != NULL);
  g_strfreev (host->environ);
  host->environ = envp != NULL ? g_strdupv ((char **)envp) : g_new0 (char *, 1);
}

void
cbox_host_setenv (CboxHost *host, const char *name, const char *value)
{
  g_return_if_fail (host != NULL && name != NULL);
  if (value != NULL)
    host->environ = g_environ_setenv (host->environ, name, value, TRUE);
  else
    host->environ = g_environ_unsetenv (host->environ, name);
}

void
cbox_host_set_user (CboxHost *host, uid_t uid, gid_t gid, const char *user_name,
                    const char *home_dir, const char *shell)
{
  g_return_if_fail (host != NULL);
  g_return_if_fail (user_name != NULL);
  g_return_if_fail (home_dir != NULL && home_dir[0] == '/');
  host->uid = uid;
  host->gid = gid;
  g_free (host->user_name);
  host->user_name = g_strdup (user_name);
  g_free (host->home_dir);
  host->home_dir = g_canonicalize_filename (home_dir, "/");
  g_free (host->shell);
  host->shell = g_strdup (shell != NULL ? shell : "/bin/sh");
  if (host->caller_uid == (uid_t)-1)
    host->caller_uid = uid;
}

void
cbox_host_set_caller_uid (CboxHost *host, uid_t uid)
{
  g_return_if_fail (host != NULL);
  host->caller_uid = uid;
}

void
cbox_host_set_runtime_dir (CboxHost *host, const char *runtime_dir)
{
  g_return_if_fail (host != NULL);
  g_free (host->runtime_dir);
  host->runtime_dir = g_strdup (runtime_dir);
}

void
cbox_host_set_hostname (CboxHost *host, const char *hostname)
{
  g_return_if_fail (host != NULL && hostname != NULL);
  g_free (host->hostname);
  host->hostname = g_strdup (hostname);
}

const char *
cbox_host_getenv (const CboxHost *host, const char *name)
{
  g_return_val_if_fail (host != NULL && name != NULL, NULL);
  return g_environ_getenv (host->environ, name);
}

const char *
cbox_host_getenv_nonempty (const CboxHost *host, const char *name)
{
  const char *value = cbox_host_getenv (host, name);
  return value != NULL && value[0] != '\0' ? value : NULL;
}

const char *const *
cbox_host_get_environ (const CboxHost *host)
{
  g_return_val_if_fail (host != NULL, NULL);
  return (const char *const *)host->environ;
}

uid_t
cbox_host_get_uid (const CboxHost *host)
{
  g_return_val_if_fail (host != NULL, (uid_t)-1);
  return host->uid;
}

gid_t
cbox_host_get_gid (const CboxHost *host)
{
  g_return_val_if_fail (host != NULL, (gid_t)-1);
  return host->gid;
}

const char *
cbox_host_get_user_name (const CboxHost *host)
{
  g_return_val_if_fail (host != NULL, NULL);
  return host->user_name;
}

const char *
cbox_host_get_home_dir (const CboxHost *host)
{
  g_return_val_if_fail (host != NULL, NULL);
  return host->home_dir;
}

const char *
cbox_host_get_shell (const CboxHost *host)
{
  g_return_val_if_fail (host != NULL, NULL);
  return host->shell;
}

uid_t
cbox_host_get_caller_uid (const CboxHost *host)
{
  g_return_val_if_fail (host != NULL, (uid_t)-1);
  return host->caller_uid;
}

const char *
cbox_host_get_runtime_dir (const CboxHost *host)
{
  g_return_val_if_fail (host != NULL, NULL);
  return host->runtime_dir;
}

const char *
cbox_host_get_hostname (const CboxHost *host)
{
  g_return_val_if_fail (host != NULL, NULL);
  return host->hostname;
}

const char *
cbox_host_get_root (const CboxHost *host)
{
  g_return_val_if_fail (host != NULL, NULL);
  return host->root;
}

char *
cbox_host_resolve (const CboxHost *host, const char *path)
{
  g_return_val_if_fail (host != NULL, NULL);
  g_return_val_if_fail (path != NULL && path[0] == '/', NULL);
  if (g_str_equal (host->root, "/"))
    return g_strdup (path);
  return g_build_filename (host->root, path, NULL);
}

gboolean
cbox_host_is_nixos (const CboxHost *host)
{
  g_autofree char *marker = cbox_host_resolve (host, "/etc/NIXOS");
  g_autofree char *system = cbox_host_resolve (host, "/run/current-system");

  return g_file_test (marker, G_FILE_TEST_EXISTS) || g_file_test (system, G_FILE_TEST_IS_DIR);
}

gboolean
cbox_host_is_socket (const CboxHost *host, const char *path)
{
  g_autofree char *resolved = NULL;
  struct stat st;

  g_return_val_if_fail (host != NULL, FALSE);
  g_return_val_if_fail (path != NULL && path[0] == '/', FALSE);
  resolved = cbox_host_resolve (host, path);
  /* stat, not lstat: a display or bus socket is often reached through a
   * link (/tmp/.X11-unix/X0 on some hosts, $XDG_RUNTIME_DIR/bus), and the
   * plan binds what the link points at. */
  return stat (resolved, &st) == 0 && S_ISSOCK (st.st_mode);
}

char *
cbox_host_expand_path (const CboxHost *host, const char *path, GError **error)
{
  g_return_val_if_fail (host != NULL && path != NULL, NULL);

  if (g_str_equal (path, "~"))
    return g_strdup (host->home_dir);
  if (g_str_has_prefix (path, "~/"))
    return g_build_filename (host->home_dir, path + 2, NULL);
  if (g_str_has_prefix (path, "$XDG_RUNTIME_DIR/") || g_str_equal (path, "$XDG_RUNTIME_DIR"))
    {
      if (host->runtime_dir == NULL)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                       "Cannot expand '%s': XDG_RUNTIME_DIR is not set", path);
          return NULL;
        }
      return g_build_filename (host->runtime_dir, path + strlen ("$XDG_RUNTIME_DIR"), NULL);
    }
  return g_strdup (path);
}

GBytes *
cbox_read_regular_file (const char *path, gsize max_size, struct stat *ret_st, GError **error)
{
  g_autoptr (GByteArray) contents = NULL;
  cbox_autofd int fd = -1;
  struct stat st;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* Opened once, then checked and read through the same fd, so that what
   * is checked is what is read; O_NONBLOCK so that opening a fifo returns
   * at once (fstat then refuses it). */
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    {
      int saved_errno = errno;
      /* A missing file is the common case (configuration files that may
       * exist) and its error is mostly dropped: it gets its message without
       * g_strerror(), whose first call loads the locale's charset tables. */
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "cannot open %s: %s",
                   path,
                   saved_errno == ENOENT ? "No such file or directory" : g_strerror (saved_errno));
      return NULL;
    }
  if (fstat (fd, &st) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "cannot read %s: %s",
                   path, g_strerror (saved_errno));
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT, "%s is not a regular file",
                   path);
      return NULL;
    }
  if (max_size == 0)
    max_size = G_MAXUINT;
  if ((guint64)st.st_size > max_size)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "%s is too large (%" G_GUINT64_FORMAT " bytes, at most %" G_GSIZE_FORMAT ")",
                   path, (guint64)st.st_size, max_size);
      return NULL;
    }

  contents = g_byte_array_sized_new ((guint)st.st_size);
  for (;;)
    {
      guint8 buf[16384];
      ssize_t n = read (fd, buf, sizeof buf);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                       "cannot read %s: %s", path, g_strerror (saved_errno));
          return NULL;
        }
      if (n == 0)
        break;
      /* It grew while it was read. */
      if ((gsize)contents->len + (gsize)n > max_size)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "%s is too large (more than %" G_GSIZE_FORMAT " bytes)", path, max_size);
          return NULL;
        }
      g_byte_array_append (contents, buf, (guint)n);
    }
  if (ret_st != NULL)
    *ret_st = st;
  return g_byte_array_free_to_bytes (g_steal_pointer (&contents));
}

GBytes *
cbox_host_read_file (const CboxHost *host, const char *path, gsize max_size, GError **error)
{
  g_autofree char *resolved = NULL;

  g_return_val_if_fail (host != NULL, NULL);
  g_return_val_if_fail (path != NULL && path[0] == '/', NULL);

  resolved = cbox_host_resolve (host, path);
  return cbox_read_regular_file (resolved, max_size, NULL, error);
}

/* ---- probe results ------------------------------------------------------ */

struct _CboxProbeResult
{
  CboxProbeStatus status;
  char *reason;
  GPtrArray *details; /* alternating key, value; NULL-terminated */
};

CboxProbeResult *
cbox_probe_result_new (void)
{
  CboxProbeResult *result = g_new0 (CboxProbeResult, 1);

  result->details = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (result->details, NULL);
  return result;
}

void
cbox_probe_result_free (CboxProbeResult *result)
{
  if (result == NULL)
    return;
  g_free (result->reason);
  g_ptr_array_unref (result->details);
  g_free (result);
}

void
cbox_probe_result_set_status (CboxProbeResult *result, CboxProbeStatus status,
                              const char *reason_format, ...)
{
  g_return_if_fail (result != NULL);
  g_clear_pointer (&result->reason, g_free);
  result->status = status;
  if (reason_format != NULL)
    {
      va_list args;
      va_start (args, reason_format);
      result->reason = g_strdup_vprintf (reason_format, args);
      va_end (args);
    }
}

void
cbox_probe_result_add_detail (CboxProbeResult *result, const char *key, const char *value_format,
                              ...)
{
  va_list args;
  guint at;

  g_return_if_fail (result != NULL && key != NULL && value_format != NULL);
  at = result->details->len - 1;
  g_ptr_array_insert (result->details, (int)at, g_strdup (key));
  va_start (args, value_format);
  g_ptr_array_insert (result->details, (int)at + 1, g_strdup_vprintf (value_format, args));
  va_end (args);
}

CboxProbeStatus
cbox_probe_result_get_status (const CboxProbeResult *result)
{
  g_return_val_if_fail (result != NULL, CBOX_PROBE_UNKNOWN);
  return result->status;
}

const char *
cbox_probe_result_get_reason (const CboxProbeResult *result)
{
  g_return_val_if_fail (result != NULL, NULL);
  return result->reason;
}

const char *const *
cbox_probe_result_get_details (const CboxProbeResult *result)
{
  g_return_val_if_fail (result != NULL, NULL);
  return (const char *const *)result->details->pdata;
}

const char *
cbox_probe_result_get_detail (const CboxProbeResult *result, const char *key)
{
  g_return_val_if_fail (result != NULL && key != NULL, NULL);
  for (guint i = 0; i + 1 < result->details->len; i += 2)
    if (g_str_equal (g_ptr_array_index (result->details, i), key))
      return g_ptr_array_index (result->details, i + 1);
  return NULL;
}

const char *
cbox_probe_status_to_string (CboxProbeStatus status)
{
  switch (status)
    {
    case CBOX_PROBE_AVAILABLE:
      return "available";
    case CBOX_PROBE_DEGRADED:
      return "degraded";
    case CBOX_PROBE_UNAVAILABLE:
      return "unavailable";
    case CBOX_PROBE_UNKNOWN:
    default:
      return "unknown";
    }
}

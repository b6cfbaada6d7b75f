/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Running the VM: the per-run directory (metadata share, virtiofs sockets,
 * the lock that tells a live run from a dead one), virtiofsd, QEMU, and
 * the relay between the user's terminal or pipes and the guest's ports. */

#include "cbox-qemu-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <glib-unix.h>

#include "cbox-qemu.h"

/* g_clear_fd() is GLib 2.76; Debian 12 has 2.74. */
static void
cbox_qemu_close_fd (int *fdp)
{
  if (*fdp >= 0)
    close (*fdp);
  *fdp = -1;
}

/* ---- the run directory --------------------------------------------------------- */

/* Removes @name under @dirfd and everything below it without ever following
 * a symlink: a sweep must not be turned against files outside. */
static void
cbox_qemu_remove_at (int parent_fd, const char *name)
{
  int fd = openat (parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (fd >= 0)
    {
      DIR *dir = fdopendir (fd);
      struct dirent *de;

      if (dir == NULL)
        {
          close (fd);
          return;
        }
      while ((de = readdir (dir)) != NULL)
        {
          if (g_str_equal (de->d_name, ".") || g_str_equal (de->d_name, ".."))
            continue;
          cbox_qemu_remove_at (dirfd (dir), de->d_name);
        }
      closedir (dir);
      unlinkat (parent_fd, name, AT_REMOVEDIR);
    }
  else
    unlinkat (parent_fd, name, 0);
}

void
cbox_qemu_run_dir_remove (const char *run_dir)
{
  g_autofree char *parent = g_path_get_dirname (run_dir);
  g_autofree char *base = g_path_get_basename (run_dir);
  int fd = open (parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return;
  cbox_qemu_remove_at (fd, base);
  close (fd);
}

/* A run holds an exclusive flock on RUN_DIR/lock for its whole life; the
 * kernel drops it when the process dies, however it dies. A directory whose
 * lock can be taken belongs to nobody and goes. One without a lock file is
 * either being created right now or was abandoned in that instant: it is
 * left alone unless it is older than ten minutes. */
void
cbox_qemu_sweep_stale (const char *run_base)
{
  g_autoptr (GDir) dir = g_dir_open (run_base, 0, NULL);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (run_base, name, NULL);
      g_autofree char *lock_path = g_build_filename (path, "lock", NULL);
      int lock_fd = open (lock_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
      struct stat st;

      if (lock_fd < 0)
        {
          if (lstat (path, &st) == 0 && S_ISDIR (st.st_mode)
              && st.st_mtime + 600 < g_get_real_time () / G_USEC_PER_SEC)
            cbox_qemu_run_dir_remove (path);
          continue;
        }
      if (flock (lock_fd, LOCK_EX | LOCK_NB) == 0)
        cbox_qemu_run_dir_remove (path);
      close (lock_fd);
    }
}

static gboolean
cbox_qemu_mkdir_private (const char *path, GError **error)
{
  struct stat st;

  if (mkdir (path, 0700) < 0 && errno != EEXIST)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "qemu: cannot create %s: %s", path, g_strerror (saved_errno));
      return FALSE;
    }
  /* In /tmp somebody else could have made it first. */
  if (lstat (path, &st) < 0 || !S_ISDIR (st.st_mode) || st.st_uid != geteuid ()
      || (st.st_mode & 0077) != 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "qemu: %s is not a private directory of this user (remove it)", path);
      return FALSE;
    }
  return TRUE;
}

gboolean
cbox_qemu_run_dir_create (CboxQemuState *state, int *ret_lock_fd, GError **error)
{
  g_autofree char *lock_path = g_build_filename (state->run_dir, "lock", NULL);
  g_autofree char *meta_dir = g_build_filename (state->run_dir, "meta", NULL);
  g_autofree char *plan_path = NULL;
  cbox_autofd int lock_fd = -1;

  cbox_autofd int base_fd = -1;

  if (!cbox_qemu_mkdir_private (state->run_base, error))
    return FALSE;
  /* The sweep and the birth of a run directory (mkdir, then its lock file,
   * then the flock) happen under an exclusive lock on the base directory:
   * otherwise a concurrent run's sweep could find a newborn run's lock file
   * before it is locked, take it, and remove the directory under it. */
  base_fd = open (state->run_base, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (base_fd < 0 || flock (base_fd, LOCK_EX) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "qemu: cannot lock %s: %s", state->run_base, g_strerror (saved_errno));
      return FALSE;
    }
  cbox_qemu_sweep_stale (state->run_base);
  if (mkdir (state->run_dir, 0700) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "qemu: cannot create the run directory %s: %s", state->run_dir,
                   g_strerror (saved_errno));
      return FALSE;
    }
  lock_fd = open (lock_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd < 0 || flock (lock_fd, LOCK_EX | LOCK_NB) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "qemu: cannot lock %s: %s", lock_path, g_strerror (saved_errno));
      cbox_qemu_run_dir_remove (state->run_dir);
      return FALSE;
    }
  /* Born locked: other runs may sweep again. */
  flock (base_fd, LOCK_UN);
  if (mkdir (meta_dir, 0700) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "qemu: cannot create %s: %s", meta_dir, g_strerror (saved_errno));
      cbox_qemu_run_dir_remove (state->run_dir);
      return FALSE;
    }
  /* The staging exports' mount points, empty here (and after the run: the
   * binds live only in QEMU's and virtiofsd's mount namespace). */
  for (guint i = 0; i < state->shares->len; i++)
    {
      CboxQemuShare *share = g_ptr_array_index (state->shares, i);
      gboolean ok = share->staged == NULL || mkdir (share->path, 0700) == 0;
      for (guint j = 0; ok && share->staged != NULL && j < share->staged->len; j++)
        {
          CboxQemuStaged *staged = g_ptr_array_index (share->staged, j);
          int fd;
          if (staged->is_dir)
            ok = mkdir (staged->target, 0700) == 0;
          else if ((fd = open (staged->target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) >= 0)
            close (fd);
          else
            ok = FALSE;
        }
      if (!ok)
        {
          int saved_errno = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                       "qemu: cannot create the staging directory %s: %s", share->path,
                       g_strerror (saved_errno));
          cbox_qemu_run_dir_remove (state->run_dir);
          return FALSE;
        }
    }
  /* Data files leave their sealed memfds only into this private
   * directory, which the guest sees read-only and which goes with the run. */
  for (guint i = 0; i < state->data->len; i++)
    {
      CboxQemuData *data = g_ptr_array_index (state->data, i);
      g_autofree char *path = g_build_filename (meta_dir, data->name, NULL);
      g_autoptr (GMappedFile) mapped = NULL;
      g_autofree char *fd_path
          = data->fd >= 0 ? g_strdup_printf ("/proc/self/fd/%d", data->fd) : g_strdup (data->path);
      struct stat st;
      gboolean ok;

      if (stat (fd_path, &st) < 0)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "qemu: bad data fd for %s",
                       data->name);
          cbox_qemu_run_dir_remove (state->run_dir);
          return FALSE;
        }
      if (st.st_size == 0)
        ok = g_file_set_contents_full (path, "", 0, G_FILE_SET_CONTENTS_NONE, 0600, error);
      else
        {
          mapped = g_mapped_file_new (fd_path, FALSE, error);
          ok = mapped != NULL
               && g_file_set_contents_full (path, g_mapped_file_get_contents (mapped),
                                            (gssize)g_mapped_file_get_length (mapped),
                                            G_FILE_SET_CONTENTS_NONE, 0600, error);
        }
      if (!ok)
        {
          g_prefix_error (error, "qemu: ");
          cbox_qemu_run_dir_remove (state->run_dir);
          return FALSE;
        }
    }
  /* What QEMU sees in place of a covered host file (cbox_qemu_hide_covered()). */
  if (state->empty_file != NULL
      && !g_file_set_contents_full (state->empty_file, "", 0, G_FILE_SET_CONTENTS_NONE, 0400,
                                    error))
    {
      g_prefix_error (error, "qemu: ");
      cbox_qemu_run_dir_remove (state->run_dir);
      return FALSE;
    }
  plan_path = g_build_filename (meta_dir, "plan", NULL);
  if (!g_file_set_contents_full (plan_path, state->meta->str, (gssize)state->meta->len,
                                 G_FILE_SET_CONTENTS_NONE, 0600, error))
    {
      g_prefix_error (error, "qemu: ");
      cbox_qemu_run_dir_remove (state->run_dir);
      return FALSE;
    }
  *ret_lock_fd = cbox_steal_fd (&lock_fd);
  return TRUE;
}

/* ---- signals ----------------------------------------------------------------- */

static int cbox_qemu_signal_pipe[2] = { -1, -1 };

static void
cbox_qemu_on_signal (int signum)
{
  int saved_errno = errno;
  unsigned char byte = (unsigned char)signum;
  if (write (cbox_qemu_signal_pipe[1], &byte, 1) < 0)
    {
      /* The pipe is full: the loop is behind anyway. */
    }
  errno = saved_errno;
}

/* SIGPIPE too: when the reader of cbox's stdout goes away, the command
 * inside gets the SIGPIPE it would get outside (and cbox does not die of
 * it, leaving the VM behind). */
static const int cbox_qemu_signals[]
    = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD, SIGPIPE };

typedef struct
{
  struct sigaction old[G_N_ELEMENTS (cbox_qemu_signals)];
} CboxQemuSignals;

static gboolean
cbox_qemu_signals_install (CboxQemuSignals *saved, GError **error)
{
  struct sigaction sa = { 0 };

  if (pipe2 (cbox_qemu_signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "qemu: pipe: %s",
                   g_strerror (saved_errno));
      return FALSE;
    }
  sa.sa_handler = cbox_qemu_on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset (&sa.sa_mask);
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_qemu_signals); i++)
    sigaction (cbox_qemu_signals[i], &sa, &saved->old[i]);
  return TRUE;
}

static void
cbox_qemu_signals_restore (CboxQemuSignals *saved)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_qemu_signals); i++)
    sigaction (cbox_qemu_signals[i], &saved->old[i], NULL);
  cbox_qemu_close_fd (&cbox_qemu_signal_pipe[0]);
  cbox_qemu_close_fd (&cbox_qemu_signal_pipe[1]);
}

/* ---- helpers: spawning ------------------------------------------------------------ */

static void
cbox_qemu_child_die (const char *what, const char *path)
{
  /* Between fork and exec: write(2) only. QEMU's stderr is cbox's log,
   * shown with the failure. */
  const char *parts[] = { "cbox: qemu: staging: ", what, " ", path, "\n" };
  for (gsize i = 0; i < G_N_ELEMENTS (parts); i++)
    if (write (STDERR_FILENO, parts[i], strlen (parts[i])) < 0)
      break;
  _exit (125);
}

/* Formats @n in @buf (at least 12 bytes) without the C library's stdio:
 * between fork and exec. */
static const char *
cbox_qemu_child_itoa (int n, char *buf)
{
  char *p = buf + 11;

  *p = '\0';
  do
    {
      *--p = (char)('0' + n % 10);
      n /= 10;
    }
  while (n > 0 && p > buf);
  return p;
}

/* Writes @text to /proc/self/@file; between fork and exec. */
static gboolean
cbox_qemu_child_write_proc (const char *file, const char *text)
{
  char path[64] = "/proc/self/";
  int fd;
  gboolean ok;

  memcpy (path + strlen (path), file, strlen (file) + 1);
  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return FALSE;
  ok = write (fd, text, strlen (text)) == (ssize_t)strlen (text);
  close (fd);
  return ok;
}

/* "ID ID 1\n" in @buf (at least 40 bytes): a user namespace mapping the
 * caller's own id to itself. */
static const char *
cbox_qemu_child_id_map (unsigned id, char *buf)
{
  char number[12];
  const char *digits = cbox_qemu_child_itoa ((int)id, number);
  gsize len = strlen (digits);

  memcpy (buf, digits, len);
  buf[len] = ' ';
  memcpy (buf + len + 1, digits, len);
  memcpy (buf + 2 * len + 1, " 1\n", 4);
  return buf;
}

void
cbox_qemu_enter_mounts (const CboxQemuState *state)
{
  gboolean covers = state->hidden != NULL && state->hidden[0] != NULL;

  if (state->userns)
    {
      /* Not root: a user namespace of its own, mapping only the user to
       * itself, gives the capabilities to bind and cover in a mount
       * namespace it owns; exec (the user is not root inside) drops them
       * again, so QEMU runs with the user's rights and no more. Files of
       * other users (root's /usr) look like the overflow id (nobody) in
       * it, and so in the guest, as in an unprivileged bwrap sandbox. */
      uid_t uid = getuid ();
      gid_t gid = getgid ();
      char map[40];

      if (unshare (CLONE_NEWUSER | CLONE_NEWNS) < 0)
        cbox_qemu_child_die ("unshare(CLONE_NEWUSER | CLONE_NEWNS) failed", "");
      if (!cbox_qemu_child_write_proc ("setgroups", "deny")
          || !cbox_qemu_child_write_proc ("uid_map", cbox_qemu_child_id_map (uid, map))
          || !cbox_qemu_child_write_proc ("gid_map", cbox_qemu_child_id_map (gid, map)))
        cbox_qemu_child_die ("cannot map the user in its namespace", "");
    }
  else if (geteuid () != 0 || (!state->staging && !covers))
    return;
  /* A mount namespace of this process's own, private, so nothing bound
   * or covered here propagates back to the host's view (nor the host's
   * later mounts into the exports: they hold what was bound at start). */
  else if (unshare (CLONE_NEWNS) < 0)
    cbox_qemu_child_die ("unshare(CLONE_NEWNS) failed", "");
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    cbox_qemu_child_die ("cannot make the mounts private", "/");
  /* Each staged source is taken (O_PATH) before the covers go up: a bind
   * that comes after a cover in the plan (this project's folder under
   * the claude profile's tmpfs over ~/.claude/projects) has its source
   * under that cover, and must still reach the guest, as on bwrap. The
   * covers still apply inside a staged folder: its bind, made after them
   * with MS_REC, carries the cover mounted below it. */
  for (guint i = 0; state->staging && i < state->shares->len; i++)
    {
      const CboxQemuShare *share = g_ptr_array_index (state->shares, i);
      for (guint j = 0; share->staged != NULL && j < share->staged->len; j++)
        {
          CboxQemuStaged *staged = g_ptr_array_index (share->staged, j);
          staged->fd = open (staged->source, O_PATH | O_CLOEXEC);
          if (staged->fd < 0)
            cbox_qemu_child_die ("cannot open", staged->source);
        }
    }
  /* Run by root, QEMU and virtiofsd read the shares as root: what the plan
   * covers inside a shared folder is covered for them too, or the guest's
   * kernel could read it through the share. */
  if (cbox_qemu_apply_covers (state) < 0)
    cbox_qemu_child_die ("cannot hide covered host paths from QEMU", "");
  for (guint i = 0; state->staging && i < state->shares->len; i++)
    {
      const CboxQemuShare *share = g_ptr_array_index (state->shares, i);
      for (guint j = 0; share->staged != NULL && j < share->staged->len; j++)
        {
          CboxQemuStaged *staged = g_ptr_array_index (share->staged, j);
          char number[12];
          char fd_path[32] = "/proc/self/fd/";
          const char *digits = cbox_qemu_child_itoa (staged->fd, number);

          memcpy (fd_path + strlen (fd_path), digits, strlen (digits) + 1);
          /* MS_REC: what is mounted below a source is shared with it, as a
           * 9p share of the folder itself would. */
          if (mount (fd_path, staged->target, NULL, MS_BIND | MS_REC, NULL) < 0)
            cbox_qemu_child_die ("cannot bind", staged->source);
          close (staged->fd);
          staged->fd = -1;
        }
    }
}

static void
cbox_qemu_child_setup (gpointer user_data)
{
  /* The VM and its daemons die with cbox, even with `kill -9`. Their own
   * process group keeps a terminal's ^C for cbox, which passes it on to
   * the command inside. */
  const CboxQemuState *state = user_data;

  prctl (PR_SET_PDEATHSIG, SIGKILL);
  setpgid (0, 0);
  /* A child that cannot set its mounts up does not start. */
  if (state != NULL)
    cbox_qemu_enter_mounts (state);
}

static void
cbox_qemu_log_append (GString *log, const char *data, gsize len)
{
  g_string_append_len (log, data, (gssize)len);
  if (log->len > 32768)
    g_string_erase (log, 0, (gssize)(log->len - 16384));
}

static void
cbox_qemu_write_all (int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          struct pollfd pfd = { fd, POLLOUT, 0 };
          poll (&pfd, 1, -1);
          continue;
        }
      if (n <= 0)
        return; /* the reader went away: drop, as a closed pipe would */
      data += n;
      len -= (gsize)n;
    }
}

static void
cbox_qemu_kill_wait (GPid pid)
{
  if (pid <= 0)
    return;
  kill (pid, SIGKILL);
  while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
    ;
}

typedef struct
{
  GArray *pids; /* GPid */
} CboxQemuDaemons;

static void
cbox_qemu_daemons_stop (CboxQemuDaemons *daemons)
{
  if (daemons->pids == NULL)
    return;
  for (guint i = 0; i < daemons->pids->len; i++)
    {
      GPid pid = g_array_index (daemons->pids, GPid, i);
      kill (pid, SIGTERM);
    }
  for (guint i = 0; i < daemons->pids->len; i++)
    {
      GPid pid = g_array_index (daemons->pids, GPid, i);
      /* A bounded wait, then the hard way. */
      for (int tries = 0; tries < 100; tries++)
        {
          pid_t r = waitpid (pid, NULL, WNOHANG);
          if (r == pid || (r < 0 && errno != EINTR))
            {
              pid = 0;
              break;
            }
          g_usleep (10000);
        }
      cbox_qemu_kill_wait (pid);
    }
  g_clear_pointer (&daemons->pids, g_array_unref);
}

/* The allowlist's proxy on a unix socket in the run directory, which
 * QEMU's guestfwd reaches through `cbox-netproxy --relay` for each guest
 * connection. Run as cbox (QEMU's user); the plan's cleanups end it. */
static gboolean
cbox_qemu_start_proxy (CboxQemuState *state, CboxPlan *plan, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cbox_autofd int fd = -1;
  CboxNetProxy *proxy;

  if (strlen (state->proxy_socket) >= sizeof addr.sun_path)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "qemu: socket path %s is too long (set XDG_RUNTIME_DIR to a shorter directory)",
                   state->proxy_socket);
      return FALSE;
    }
  strcpy (addr.sun_path, state->proxy_socket);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind (fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen (fd, 128) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "qemu: cannot listen on %s: %s",
                   state->proxy_socket, g_strerror (saved_errno));
      return FALSE;
    }
  proxy = cbox_net_proxy_start_on (plan, fd, 0, 0, error);
  return proxy != NULL && cbox_net_proxy_wait_ready (proxy, error);
}

/* A listening unix socket at @path, for a virtiofsd to accept on. */
static int
cbox_qemu_listen_at (const char *path, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cbox_autofd int fd = -1;

  if (strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "qemu: socket path %s is too long (set XDG_RUNTIME_DIR to a shorter directory)",
                   path);
      return -1;
    }
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind (fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen (fd, 1) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "qemu: cannot listen on %s: %s", path, g_strerror (saved_errno));
      return -1;
    }
  return cbox_steal_fd (&fd);
}

static gboolean
cbox_qemu_start_virtiofsd (CboxQemuState *state, CboxQemuDaemons *daemons, GError **error)
{
  daemons->pids = g_array_new (FALSE, FALSE, sizeof (GPid));
  for (guint i = 0; i < state->shares->len; i++)
    {
      CboxQemuShare *share = g_ptr_array_index (state->shares, i);
      g_autofree char *source_arg = NULL;
      const char *envp[] = { NULL };
      cbox_autofd int listen_fd = -1;
      GPid pid;
      int devnull;

      if (!share->virtiofs)
        continue;
      unlink (share->socket);
      /* cbox listens and virtiofsd accepts on the inherited socket (--fd):
       * the socket is ready before QEMU starts, with no wait, and virtiofsd
       * writes no pid file (with --socket-path it leaves one per run in
       * /run/virtiofsd, never removed). The socket lives in the run
       * directory, whose name is the run's own. */
      listen_fd = cbox_qemu_listen_at (share->socket, error);
      if (listen_fd < 0)
        return FALSE;
      /* virtiofsd parses -o lists at commas: a path holding one is passed
       * escaped as its option parser (fuse_opt) expects. */
      {
        g_autofree char *escaped = NULL;
        g_auto (GStrv) parts = g_strsplit (share->path, ",", -1);
        escaped = g_strjoinv ("\\,", parts);
        source_arg = g_strdup_printf ("source=%s", escaped);
      }
      {
        const char *argv[]
            = { state->virtiofsd, "--fd=3", "-o", source_arg, "-o", "cache=auto", "-o",
                "log_level=err",  NULL };
        devnull = state->verbose ? STDERR_FILENO : open ("/dev/null", O_WRONLY | O_CLOEXEC);
        {
          int source_fds[] = { devnull, listen_fd };
          int target_fds[] = { STDERR_FILENO, 3 };
          gboolean ok = g_spawn_async_with_pipes_and_fds (
              NULL, argv, envp,
              G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_STDOUT_TO_DEV_NULL,
              cbox_qemu_child_setup, state, -1, -1, -1, source_fds, target_fds, 2, &pid, NULL, NULL,
              NULL, error);
          if (devnull != STDERR_FILENO)
            close (devnull);
          if (!ok)
            {
              g_prefix_error (error, "qemu: cannot start %s: ", state->virtiofsd);
              return FALSE;
            }
        }
      }
      g_array_append_val (daemons->pids, pid);
    }
  return TRUE;
}

static void
cbox_qemu_passt_child_setup (gpointer user_data)
{
  (void)user_data;
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  setpgid (0, 0);
}

/* The network of --network=on: passt on one end of a socket pair, QEMU's
 * -netdev stream on the other (@ret_qemu_end, for CBOX_QEMU_FD_NET). No
 * socket file, nothing to clean up but the process.
 *
 * Why passt and not QEMU's user network: libslirp maps the gateway
 * (10.0.2.2) to the host's 127.0.0.1, and QEMU 7.2 cannot turn that off;
 * every service on the host's loopback was reachable from the guest.
 * passt --no-map-gw never maps the gateway to the host: 10.0.2.2 is just
 * an address on the host's network. IPv4 only (-4: no ::1 question), no
 * port forwarded in (-t none -u none) but the published ones (-t
 * 127.0.0.1/HOST:GUEST each, the host's loopback only), the guest's fixed addresses of
 * cbox-qemu-init (10.0.2.15/24, gateway 10.0.2.2) and DNS at 10.0.2.3
 * forwarded to the host's resolver. As root passt drops to nobody itself
 * and sandboxes itself (namespaces, seccomp); it needs nothing of the
 * host's files with -F. */
/* Whether the host's 127.0.0.1:@port can be bound now; else why not, in
 * words that say what to do (the port is checked before passt starts, so
 * the common failure gets its reason rather than passt's exit status). */
static gboolean
cbox_qemu_publish_port_free (guint16 port, GError **error)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (port) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int bind_errno = 0;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd >= 0 && bind (fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    bind_errno = errno;
  if (fd >= 0)
    close (fd);
  if (bind_errno == 0)
    return TRUE;
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE, "qemu: --publish=%u: %s", port,
               bind_errno == EADDRINUSE
                   ? "the port is already in use on the host (pick another host port: "
                     "--publish=OTHER:PORT)"
               : bind_errno == EACCES ? "ports below 1024 need privileges on the host (pick a "
                                        "host port of 1024 or more)"
                                      : g_strerror (bind_errno));
  return FALSE;
}

/* Whether something listens on the host's 127.0.0.1:@port (TCP), from
 * /proc/net/tcp: state 0A is LISTEN, the address little-endian hex. */
static gboolean
cbox_qemu_port_listens (guint16 port)
{
  g_autofree char *table = NULL;
  g_autofree char *needle = g_strdup_printf (" 0100007F:%04X 00000000:0000 0A ", port);

  if (!g_file_get_contents ("/proc/net/tcp", &table, NULL, NULL))
    return FALSE;
  return strstr (table, needle) != NULL;
}

/* Waits until passt listens on every published port, or fails if it
 * exits first (it exits when it cannot bind one: "Failed to bind any
 * port"). QEMU is not started before, so a run never goes on with a port
 * that is not published. */
static gboolean
cbox_qemu_passt_wait_published (CboxQemuState *state, GPid pid, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  for (;;)
    {
      int status;
      guint i;

      if (waitpid (pid, &status, WNOHANG) == pid)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                       "qemu: passt exited (%s %d) before it listened on the published ports "
                       "(a host port taken meanwhile?); 'cbox -v run' shows passt's own message",
                       WIFEXITED (status) ? "status" : "signal",
                       WIFEXITED (status) ? WEXITSTATUS (status) : WTERMSIG (status));
          return FALSE;
        }
      for (i = 0; i < state->publish_ports->len; i++)
        if (!cbox_qemu_port_listens (g_array_index (state->publish_ports, guint16, i)))
          break;
      if (i == state->publish_ports->len)
        return TRUE;
      if (g_get_monotonic_time () > deadline)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                       "qemu: passt did not listen on 127.0.0.1:%u within 10 s",
                       g_array_index (state->publish_ports, guint16, i));
          return FALSE;
        }
      g_usleep (2000);
    }
}

static gboolean
cbox_qemu_start_passt (CboxQemuState *state, CboxQemuDaemons *daemons, int *ret_qemu_end,
                       GError **error)
{
  static const char *const fixed[] = { "--foreground",
                                       "--quiet",
                                       "--ipv4-only",
                                       "--no-map-gw",
                                       "-u",
                                       "none",
                                       "--address",
                                       "10.0.2.15",
                                       "--netmask",
                                       "24",
                                       "--gateway",
                                       "10.0.2.2",
                                       "--dns-forward",
                                       "10.0.2.3",
                                       "--fd",
                                       "3" };
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  const char *envp[] = { NULL };
  int pair[2];
  int devnull;
  gboolean ok;
  GPid pid;

  if (state->passt == NULL)
    {
      /* Fail closed: never QEMU's own user network instead. */
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "qemu: --network=on gives the VM its network through passt, which is not "
                   "installed (apt install passt); or run with --network=off (no network)");
      return FALSE;
    }
  g_ptr_array_add (argv, state->passt);
  for (guint i = 0; i < G_N_ELEMENTS (fixed); i++)
    g_ptr_array_add (argv, (gpointer)fixed[i]);
  /* Nothing forwarded in but the published ports, each bound by passt
   * on 127.0.0.1 only (cbox_qemu_prepare() wrote the address into it). */
  if (state->publish == NULL || state->publish->len == 0)
    {
      g_ptr_array_add (argv, "-t");
      g_ptr_array_add (argv, "none");
    }
  for (guint i = 0; state->publish != NULL && i < state->publish->len; i++)
    {
      if (!cbox_qemu_publish_port_free (g_array_index (state->publish_ports, guint16, i), error))
        return FALSE;
      g_ptr_array_add (argv, "-t");
      g_ptr_array_add (argv, g_ptr_array_index (state->publish, i));
    }
  g_ptr_array_add (argv, NULL);
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "qemu: socketpair: %s", g_strerror (saved_errno));
      return FALSE;
    }
  devnull = state->verbose ? STDERR_FILENO : open ("/dev/null", O_WRONLY | O_CLOEXEC);
  {
    int source_fds[] = { devnull, pair[0] };
    int target_fds[] = { STDERR_FILENO, 3 };
    ok = g_spawn_async_with_pipes_and_fds (
        NULL, (const char *const *)argv->pdata, envp,
        G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_STDOUT_TO_DEV_NULL,
        cbox_qemu_passt_child_setup, NULL, -1, -1, -1, source_fds, target_fds, 2, &pid, NULL, NULL,
        NULL, error);
  }
  if (devnull != STDERR_FILENO)
    close (devnull);
  close (pair[0]);
  if (!ok)
    {
      close (pair[1]);
      g_prefix_error (error, "qemu: cannot start %s: ", state->passt);
      return FALSE;
    }
  if (state->publish_ports != NULL && state->publish_ports->len > 0
      && !cbox_qemu_passt_wait_published (state, pid, error))
    {
      /* Exited: reaped above; else it is stopped with the daemons. */
      if (kill (pid, 0) == 0)
        g_array_append_val (daemons->pids, pid);
      close (pair[1]);
      return FALSE;
    }
  g_array_append_val (daemons->pids, pid);
  *ret_qemu_end = pair[1];
  return TRUE;
}

/* ---- one boot --------------------------------------------------------------------- */

typedef enum
{
  CBOX_QEMU_BOOT_DONE,    /* the command ran: status set */
  CBOX_QEMU_BOOT_NO_LIFE, /* no "alive" in time under KVM: try TCG */
  CBOX_QEMU_BOOT_FAILED,  /* error set */
} CboxQemuBootResult;

typedef struct
{
  int fd;     /* our end */
  int out_fd; /* where what arrives goes: 1, 2, or -1 (log) */
} CboxQemuStream;

static void cbox_qemu_send_control (int control_fd, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
cbox_qemu_send_control (int control_fd, const char *format, ...)
{
  va_list ap;
  g_autofree char *line = NULL;

  va_start (ap, format);
  line = g_strdup_vprintf (format, ap);
  va_end (ap);
  cbox_qemu_write_all (control_fd, line, strlen (line));
}

/* ---- progress ---------------------------------------------------------------- */

/* One line on stderr, rewritten in place, while the VM boots: only when
 * stderr is a terminal and --verbose is off (which shows the whole log
 * instead); erased before the command's first byte can reach the terminal. */
typedef struct
{
  gboolean on;
  gboolean shown;
  gint64 start;
  const char *accel;
  char *stage;
  int drawn_s; /* the seconds last shown */
} CboxQemuProgress;

static void
cbox_qemu_progress_draw (CboxQemuProgress *progress)
{
  g_autofree char *line = NULL;
  int seconds = (int)((g_get_monotonic_time () - progress->start) / G_USEC_PER_SEC);

  if (!progress->on || progress->stage == NULL)
    return;
  progress->drawn_s = seconds;
  line = g_strdup_printf ("\r\033[Kcbox: qemu: %s (%s, %d s)", progress->stage,
                          progress->accel != NULL ? progress->accel : "?", seconds);
  cbox_qemu_write_all (STDERR_FILENO, line, strlen (line));
  progress->shown = TRUE;
}

static void
cbox_qemu_progress_set (CboxQemuProgress *progress, const char *stage)
{
  if (!progress->on || g_strcmp0 (progress->stage, stage) == 0)
    return;
  g_free (progress->stage);
  progress->stage = g_strdup (stage);
  cbox_qemu_progress_draw (progress);
}

static void
cbox_qemu_progress_clear (CboxQemuProgress *progress)
{
  if (progress->shown)
    cbox_qemu_write_all (STDERR_FILENO, "\r\033[K", 4);
  progress->shown = FALSE;
  g_clear_pointer (&progress->stage, g_free);
}

/* The command runs: the line goes for good. Called on the init's "ready"
 * and before any byte of the command's output, whichever comes first: the
 * VM's ports are separate sockets, and under load the command's first
 * output can reach cbox before the control port's "ready" does. A kernel
 * mark read after that must not draw the line again between the
 * command's bytes. */
static void
cbox_qemu_progress_end (CboxQemuProgress *progress)
{
  cbox_qemu_progress_clear (progress);
  progress->on = FALSE;
}

/* What the user typed during the boot, while the terminal was still in
 * canonical mode: complete lines, and end-of-file marks. Switched to raw
 * mode as it is, the line discipline would hand each ^D typed as a NUL
 * byte (its internal end-of-file marker), which the guest's tty echoes as
 * a stray "^@". Read in canonical mode first, a ^D is a read of 0 bytes and
 * goes in as the ^D it was; an unfinished line stays for raw mode. */
static void
cbox_qemu_take_cooked_input (GByteArray *pending)
{
  for (int i = 0; i < 256; i++)
    {
      struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
      char buf[4096];
      ssize_t got;

      if (poll (&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN))
        return;
      got = read (STDIN_FILENO, buf, sizeof buf);
      if (got > 0)
        g_byte_array_append (pending, (const guint8 *)buf, (guint)got);
      else if (got == 0)
        g_byte_array_append (pending, (const guint8 *)"\004", 1);
      else
        return;
    }
}

/* The last complete "cbox-qemu-init: WHAT" mark in the serial log, or NULL:
 * how far the guest got. */
static char *
cbox_qemu_last_mark (GString *log)
{
  static const char prefix[] = "cbox-qemu-init: ";
  const char *found = NULL;

  for (const char *p = log->str; (p = strstr (p, prefix)) != NULL; p += sizeof prefix - 1)
    if (strchr (p, '\n') != NULL)
      found = p + sizeof prefix - 1;
  if (found == NULL)
    return NULL;
  return g_strndup (found, strcspn (found, "\r\n"));
}

/* The init's marks, as the progress line says them. */
static const char *
cbox_qemu_mark_to_stage (const char *mark)
{
  if (g_str_equal (mark, "started"))
    return "loading kernel modules";
  if (g_str_has_prefix (mark, "modules loaded") || g_str_has_prefix (mark, "alive"))
    return "mounting shares";
  if (g_str_equal (mark, "plan applied"))
    return "starting the command";
  return NULL;
}

/* The reason a VM ended without an exit status, from its kernel log. */
static char *
cbox_qemu_failure_reason (GString *log)
{
  g_auto (GStrv) lines = g_strsplit (log->str, "\n", -1);
  g_autoptr (GString) tail = g_string_new (NULL);
  guint n = g_strv_length (lines);

  for (guint i = 0; i < n; i++)
    {
      char *panic = strstr (lines[i], "Kernel panic - not syncing:");
      if (panic != NULL)
        return g_strdup_printf ("the guest kernel panicked: %s",
                                g_strstrip (panic + strlen ("Kernel panic - not syncing:")));
    }
  for (guint i = n > 6 ? n - 6 : 0; i < n; i++)
    {
      g_strstrip (lines[i]);
      if (lines[i][0] == '\0')
        continue;
      if (tail->len > 0)
        g_string_append (tail, " | ");
      g_string_append (tail, lines[i]);
    }
  return g_string_free (g_steal_pointer (&tail), FALSE);
}

/* The channels between cbox and QEMU, socket pairs whose other end QEMU
 * inherits at the CBOX_QEMU_FD_* numbers. */
enum
{
  CBOX_QEMU_CH_CONTROL,
  CBOX_QEMU_CH_LOG,
  CBOX_QEMU_CH_CONSOLE,
  CBOX_QEMU_CH_STDIN,
  CBOX_QEMU_CH_STDOUT,
  CBOX_QEMU_CH_STDERR,
};

/* What arrives from QEMU on channel @channel (not control). */
static void
cbox_qemu_channel_output (CboxQemuState *state, GString *log, CboxQemuProgress *progress,
                          int channel, int console_out, const char *buf, gsize len)
{
  if (channel == CBOX_QEMU_CH_LOG)
    {
      cbox_qemu_log_append (log, buf, len);
      if (state->verbose)
        cbox_qemu_write_all (STDERR_FILENO, buf, len);
      else if (progress != NULL && progress->on
               && g_strstr_len (buf, (gssize)len, "cbox-qemu-init: "))
        {
          g_autofree char *mark = cbox_qemu_last_mark (log);
          const char *stage = mark != NULL ? cbox_qemu_mark_to_stage (mark) : NULL;
          if (stage != NULL)
            cbox_qemu_progress_set (progress, stage);
        }
      return;
    }

  /* The command's own bytes. */
  if (progress != NULL)
    cbox_qemu_progress_end (progress);
  switch (channel)
    {
    case CBOX_QEMU_CH_CONSOLE:
      if (console_out >= 0)
        cbox_qemu_write_all (console_out, buf, len);
      break;
    case CBOX_QEMU_CH_STDOUT:
      cbox_qemu_write_all (STDOUT_FILENO, buf, len);
      break;
    case CBOX_QEMU_CH_STDERR:
      cbox_qemu_write_all (STDERR_FILENO, buf, len);
      break;
    default:
      break;
    }
}

/* ---- relayed unix sockets ----------------------------------------------------- */

/* One relayed socket: the guest's init listens at its destination and
 * sends each connection's bytes in frames over the port "cbox.sock.N";
 * cbox opens a connection of its own to the host socket for each, as the
 * command's process would on bwrap, and frames the replies back.
 *
 * Nothing here blocks: this loop also carries the command's stdio, its
 * exit status and the signals, and neither a host server that stops
 * reading nor a guest that stops reading its port may freeze it. Every
 * write is non-blocking, with what is left kept per direction (per
 * connection towards the host, per port towards the guest), and a side
 * whose buffer is full is not read from until it drains (backpressure):
 * - a host connection's buffer past CBOX_QEMU_RELAY_BUFFER: this socket's
 *   port is not read, so the guest's relay of this socket waits (other
 *   connections of the same socket with it: they share the port; other
 *   sockets have ports and guest processes of their own and go on);
 * - a port's buffer past it: the host connections of this socket are not
 *   read, so their servers wait.
 * Memory stays bounded at about two buffers and a frame per direction. */
#define CBOX_QEMU_RELAY_MAX_CONNS 64
#define CBOX_QEMU_RELAY_BUFFER (256 * 1024)

typedef struct
{
  guint32 id;
  int fd;
  GByteArray *out;  /* from the guest, not yet taken by the host server */
  gboolean closing; /* the guest closed it: closed once @out is written */
} CboxQemuRelayConn;

typedef struct
{
  const CboxQemuState *state;
  const char *path; /* the host socket */
  int port;         /* our end of the port's socket pair, -1 once it closed */
  int qemu_end;     /* QEMU's end until it started */
  GByteArray *in;   /* from the guest: frames not yet whole */
  GByteArray *out;  /* to the guest: frames not yet taken by QEMU */
  GArray *conns;    /* CboxQemuRelayConn */
} CboxQemuRelay;

static void
cbox_qemu_relay_conn_clear (CboxQemuRelayConn *conn)
{
  cbox_qemu_close_fd (&conn->fd);
  g_clear_pointer (&conn->out, g_byte_array_unref);
}

static void
cbox_qemu_relay_free (CboxQemuRelay *relay)
{
  g_array_unref (relay->conns);
  g_byte_array_unref (relay->in);
  g_byte_array_unref (relay->out);
  cbox_qemu_close_fd (&relay->port);
  cbox_qemu_close_fd (&relay->qemu_end);
  g_free (relay);
}

static void
cbox_qemu_relay_drop (CboxQemuRelay *relay, guint index)
{
  g_array_remove_index_fast (relay->conns, index); /* clears it */
}

/* The guest is gone (or broke the protocol): no more relaying for it. */
static void
cbox_qemu_relay_stop (CboxQemuRelay *relay)
{
  cbox_qemu_close_fd (&relay->port);
  g_byte_array_set_size (relay->out, 0);
  while (relay->conns->len > 0)
    cbox_qemu_relay_drop (relay, 0);
}

/* Writes what it can of @buf to @fd without blocking and removes it from
 * @buf. FALSE when @fd is broken (not merely full). */
static gboolean
cbox_qemu_flush (int fd, GByteArray *buf)
{
  while (buf->len > 0)
    {
      ssize_t n = write (fd, buf->data, buf->len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return TRUE;
      if (n <= 0)
        return FALSE;
      g_byte_array_remove_range (buf, 0, (guint)n);
    }
  return TRUE;
}

static void
cbox_qemu_relay_flush (CboxQemuRelay *relay)
{
  if (relay->port >= 0 && !cbox_qemu_flush (relay->port, relay->out))
    cbox_qemu_relay_stop (relay);
}

static void
cbox_qemu_relay_frame (CboxQemuRelay *relay, guint32 id, guint32 len, const char *data)
{
  guint32 header[2] = { id, len };

  if (relay->port < 0)
    return;
  g_byte_array_append (relay->out, (const guint8 *)header, sizeof header);
  if (len > 0 && len != CBOX_QEMU_FRAME_OPEN)
    g_byte_array_append (relay->out, (const guint8 *)data, len);
  cbox_qemu_relay_flush (relay);
}

/* Writes what connection @index has for its host server; FALSE when it
 * was dropped (written out after the guest closed it, or broken). */
static gboolean
cbox_qemu_relay_conn_flush (CboxQemuRelay *relay, guint index)
{
  CboxQemuRelayConn *conn = &g_array_index (relay->conns, CboxQemuRelayConn, index);

  if (!cbox_qemu_flush (conn->fd, conn->out))
    {
      /* The server went away: the guest's connection ends too. */
      if (!conn->closing)
        cbox_qemu_relay_frame (relay, conn->id, 0, NULL);
      cbox_qemu_relay_drop (relay, index);
      return FALSE;
    }
  if (conn->closing && conn->out->len == 0)
    {
      cbox_qemu_relay_drop (relay, index);
      return FALSE;
    }
  return TRUE;
}

/* Whether the guest's frames for this socket may be read: not while a
 * host server has a full buffer waiting. */
static gboolean
cbox_qemu_relay_port_readable (const CboxQemuRelay *relay)
{
  for (guint i = 0; i < relay->conns->len; i++)
    if (g_array_index (relay->conns, CboxQemuRelayConn, i).out->len >= CBOX_QEMU_RELAY_BUFFER)
      return FALSE;
  return TRUE;
}

/* A connection of cbox's own to the host socket, made as the command's
 * process would make it on bwrap: as the plan's user. The server decides
 * by the peer's credentials (nix-daemon's trusted-users, ssh-agent's uid
 * check), which the kernel takes from the effective ids at connect(); cbox
 * running as root for a user (sudo) must not lend root's to the guest. The
 * socket file's permissions are checked against the same ids. */
static int
cbox_qemu_relay_connect (const CboxQemuState *state, const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  gboolean switch_ids = geteuid () == 0 && state->uid != 0;
  int fd, r, saved_errno;

  if (strlen (path) >= sizeof addr.sun_path)
    return -1;
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (switch_ids && (setegid (state->gid) < 0 || seteuid (state->uid) < 0))
    {
      if (setegid (0) < 0)
        g_error ("qemu: cannot take back gid 0");
      close (fd);
      return -1;
    }
  r = connect (fd, (struct sockaddr *)&addr, sizeof addr);
  saved_errno = errno;
  if (switch_ids && (seteuid (0) < 0 || setegid (0) < 0))
    g_error ("qemu: cannot take back uid 0 after connecting to %s", path); /* never half root */
  if (r < 0)
    {
      close (fd);
      errno = saved_errno;
      return -1;
    }
  /* Connected (blocking, as a client would); from now on nothing waits. */
  g_unix_set_fd_nonblocking (fd, TRUE, NULL);
  return fd;
}

/* The whole frames the guest sent are acted on, as long as no host
 * server holds them back. */
static void
cbox_qemu_relay_process (CboxQemuRelay *relay)
{
  while (relay->port >= 0 && relay->in->len >= 8 && cbox_qemu_relay_port_readable (relay))
    {
      guint32 header[2];
      gsize need;

      memcpy (header, relay->in->data, sizeof header);
      if (header[1] > CBOX_QEMU_FRAME_MAX && header[1] != CBOX_QEMU_FRAME_OPEN)
        {
          /* Not what the init sends: the guest is not to be trusted with
           * more than bytes, so the relay stops. */
          cbox_qemu_relay_stop (relay);
          return;
        }
      need = sizeof header + (header[1] == CBOX_QEMU_FRAME_OPEN ? 0 : header[1]);
      if (relay->in->len < need)
        return;
      if (header[1] == CBOX_QEMU_FRAME_OPEN)
        {
          int fd = relay->conns->len < CBOX_QEMU_RELAY_MAX_CONNS
                       ? cbox_qemu_relay_connect (relay->state, relay->path)
                       : -1;
          if (fd < 0)
            cbox_qemu_relay_frame (relay, header[0], 0, NULL); /* refused: closed at once */
          else
            {
              CboxQemuRelayConn conn = { header[0], fd, g_byte_array_new (), FALSE };
              g_array_append_val (relay->conns, conn);
            }
        }
      else
        for (guint i = 0; i < relay->conns->len; i++)
          {
            CboxQemuRelayConn *conn = &g_array_index (relay->conns, CboxQemuRelayConn, i);
            if (conn->id != header[0] || conn->closing)
              continue;
            if (header[1] == 0)
              conn->closing = TRUE; /* after what it still has to write */
            else
              g_byte_array_append (conn->out, relay->in->data + sizeof header, header[1]);
            cbox_qemu_relay_conn_flush (relay, i);
            break;
          }
      g_byte_array_remove_range (relay->in, 0, (guint)need);
    }
}

/* Bytes from the guest. */
static void
cbox_qemu_relay_port_input (CboxQemuRelay *relay)
{
  char buf[65536];
  ssize_t got = read (relay->port, buf, sizeof buf);

  if (got < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (got <= 0)
    {
      cbox_qemu_relay_stop (relay);
      return;
    }
  g_byte_array_append (relay->in, (const guint8 *)buf, (guint)got);
  cbox_qemu_relay_process (relay);
}

/* Bytes from the host socket of connection @index. */
static void
cbox_qemu_relay_conn_input (CboxQemuRelay *relay, guint index)
{
  CboxQemuRelayConn *conn = &g_array_index (relay->conns, CboxQemuRelayConn, index);
  char buf[CBOX_QEMU_FRAME_MAX];
  ssize_t got = read (conn->fd, buf, sizeof buf);

  if (got > 0)
    cbox_qemu_relay_frame (relay, conn->id, (guint32)got, buf);
  else if (got == 0 || (errno != EAGAIN && errno != EINTR))
    {
      cbox_qemu_relay_frame (relay, conn->id, 0, NULL);
      cbox_qemu_relay_drop (relay, index);
    }
}

/* What one boot holds; cleared (QEMU killed, daemons stopped, sockets
 * closed) however the boot ends. */
typedef struct
{
  int pairs[CBOX_QEMU_N_CHANNELS][2];
  GPid pid;
  int qemu_stderr;
  CboxQemuDaemons daemons;
  GPtrArray *relays; /* CboxQemuRelay */
} CboxQemuVm;

static void
cbox_qemu_vm_clear (CboxQemuVm *vm)
{
  cbox_qemu_kill_wait (vm->pid);
  vm->pid = 0;
  for (int i = 0; i < CBOX_QEMU_N_CHANNELS; i++)
    {
      cbox_qemu_close_fd (&vm->pairs[i][0]);
      cbox_qemu_close_fd (&vm->pairs[i][1]);
    }
  cbox_qemu_close_fd (&vm->qemu_stderr);
  cbox_qemu_daemons_stop (&vm->daemons);
  g_clear_pointer (&vm->relays, g_ptr_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CboxQemuVm, cbox_qemu_vm_clear)

static CboxQemuBootResult
cbox_qemu_boot (CboxQemuState *state, char **argv, CboxQemuAccel accel, CboxQemuProgress *progress,
                gboolean *terminal_raw, struct termios *saved_termios, int *ret_status,
                GError **error)
{
  g_auto (CboxQemuVm) vm
      = { { { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 } },
          0,
          -1,
          { NULL },
          NULL };
  static const int channel_fds[CBOX_QEMU_N_CHANNELS]
      = { CBOX_QEMU_FD_CONTROL, CBOX_QEMU_FD_LOG,    CBOX_QEMU_FD_CONSOLE,
          CBOX_QEMU_FD_STDIN,   CBOX_QEMU_FD_STDOUT, CBOX_QEMU_FD_STDERR };
  gboolean wanted[CBOX_QEMU_N_CHANNELS] = { TRUE,
                                            TRUE,
                                            state->tty,
                                            state->stdio[0] == CBOX_QEMU_STDIO_PORT,
                                            state->stdio[1] == CBOX_QEMU_STDIO_PORT,
                                            state->stdio[2] == CBOX_QEMU_STDIO_PORT };
  /* Where the user's input goes (a terminal: the console; else its port),
   * and where the console's output goes: the first stream that is a
   * terminal (stdout, else stderr, else stdin's terminal itself, so that
   * what is typed is echoed). */
  int input_channel = state->stdio[0] == CBOX_QEMU_STDIO_TTY    ? CBOX_QEMU_CH_CONSOLE
                      : state->stdio[0] == CBOX_QEMU_STDIO_PORT ? CBOX_QEMU_CH_STDIN
                                                                : -1;
  int console_out = state->stdio[1] == CBOX_QEMU_STDIO_TTY   ? STDOUT_FILENO
                    : state->stdio[2] == CBOX_QEMU_STDIO_TTY ? STDERR_FILENO
                    : state->stdio[0] == CBOX_QEMU_STDIO_TTY ? STDIN_FILENO
                                                             : -1;
  int sources[CBOX_QEMU_N_CHANNELS + CBOX_QEMU_MAX_SOCKETS + 1];
  int targets[CBOX_QEMU_N_CHANNELS + CBOX_QEMU_MAX_SOCKETS + 1];
  cbox_autofd int net_qemu_end = -1;
  int n_pairs = 0;
  const char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
  g_autoptr (GString) log = g_string_new (NULL);
  g_autoptr (GString) control_in = g_string_new (NULL);
  g_autoptr (GByteArray) stdin_pending = g_byte_array_new ();
  g_autofree char *fail_message = NULL;
  int exit_status = -1;
  gboolean pipe_forwarded = FALSE;
  gboolean alive = FALSE, ready = FALSE, qemu_exited = FALSE, stdin_open = TRUE;
  int qemu_wait_status = 0;
  gint64 deadline;
  int pending_signal = 0;

  deadline = g_get_monotonic_time ()
             + (gint64)(accel == CBOX_QEMU_ACCEL_KVM && state->accel_config == CBOX_QEMU_ACCEL_AUTO
                            ? state->kvm_timeout_s
                            : state->boot_timeout_s)
                   * G_USEC_PER_SEC;

  if (!cbox_qemu_start_virtiofsd (state, &vm.daemons, error))
    return CBOX_QEMU_BOOT_FAILED;
  /* --network=allow/deny: QEMU's restricted user network, no passt. */
  if (state->network && state->proxy_relay == NULL
      && !cbox_qemu_start_passt (state, &vm.daemons, &net_qemu_end, error))
    return CBOX_QEMU_BOOT_FAILED;
  if (net_qemu_end >= 0)
    {
      sources[n_pairs] = net_qemu_end;
      targets[n_pairs++] = CBOX_QEMU_FD_NET;
    }

  for (int i = 0; i < CBOX_QEMU_N_CHANNELS; i++)
    {
      if (!wanted[i])
        continue;
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, vm.pairs[i]) < 0)
        {
          int saved_errno = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                       "qemu: socketpair: %s", g_strerror (saved_errno));
          return CBOX_QEMU_BOOT_FAILED;
        }
      sources[n_pairs] = vm.pairs[i][1];
      targets[n_pairs++] = channel_fds[i];
      g_unix_set_fd_nonblocking (vm.pairs[i][0], TRUE, NULL);
    }

  vm.relays = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_qemu_relay_free);
  for (guint i = 0; state->sockets != NULL && i < state->sockets->len; i++)
    {
      CboxQemuRelay *relay = g_new0 (CboxQemuRelay, 1);
      int pair[2];

      relay->state = state;
      relay->path = g_ptr_array_index (state->sockets, i);
      relay->port = relay->qemu_end = -1;
      relay->in = g_byte_array_new ();
      relay->out = g_byte_array_new ();
      relay->conns = g_array_new (FALSE, FALSE, sizeof (CboxQemuRelayConn));
      g_array_set_clear_func (relay->conns, (GDestroyNotify)cbox_qemu_relay_conn_clear);
      g_ptr_array_add (vm.relays, relay);
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        {
          int saved_errno = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                       "qemu: socketpair: %s", g_strerror (saved_errno));
          return CBOX_QEMU_BOOT_FAILED;
        }
      relay->port = pair[0];
      relay->qemu_end = pair[1];
      g_unix_set_fd_nonblocking (relay->port, TRUE, NULL);
      sources[n_pairs] = relay->qemu_end;
      targets[n_pairs++] = CBOX_QEMU_FD_SOCKET0 + (int)i;
    }

  if (!g_spawn_async_with_pipes_and_fds (
          NULL, (const char *const *)argv,
          state->qemu_env != NULL ? (const char *const *)state->qemu_env : envp,
          G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_STDOUT_TO_DEV_NULL,
          cbox_qemu_child_setup, state, -1, -1, -1, sources, targets, (gsize)n_pairs, &vm.pid, NULL,
          NULL, &vm.qemu_stderr, error))
    {
      g_prefix_error (error, "qemu: cannot start %s: ", argv[0]);
      return CBOX_QEMU_BOOT_FAILED;
    }
  for (int i = 0; i < CBOX_QEMU_N_CHANNELS; i++)
    cbox_qemu_close_fd (&vm.pairs[i][1]);
  cbox_qemu_close_fd (&net_qemu_end);
  for (guint i = 0; i < vm.relays->len; i++)
    cbox_qemu_close_fd (&((CboxQemuRelay *)g_ptr_array_index (vm.relays, i))->qemu_end);
  cbox_qemu_progress_set (progress, "booting the kernel");
  g_unix_set_fd_nonblocking (vm.qemu_stderr, TRUE, NULL);

  for (;;)
    {
      struct pollfd
          pfd[CBOX_QEMU_N_CHANNELS + 4 + CBOX_QEMU_MAX_SOCKETS * (1 + CBOX_QEMU_RELAY_MAX_CONNS)];
      int relay_base[CBOX_QEMU_MAX_SOCKETS];
      guint relay_conns[CBOX_QEMU_MAX_SOCKETS];
      int n = 0, idx_sig, idx_stderr = -1, idx_stdin = -1, idx_pending = -1;
      int idx_pair[CBOX_QEMU_N_CHANNELS] = { -1, -1, -1, -1, -1, -1 };
      int timeout = -1;
      gint64 now = g_get_monotonic_time ();

      if (qemu_exited)
        break;
      if (deadline > 0)
        {
          if (now >= deadline)
            {
              if (!alive && accel == CBOX_QEMU_ACCEL_KVM
                  && state->accel_config == CBOX_QEMU_ACCEL_AUTO)
                {
                  g_free (state->kvm_failure);
                  state->kvm_failure
                      = g_strdup_printf ("no sign of life within %u s", state->kvm_timeout_s);
                  return CBOX_QEMU_BOOT_NO_LIFE;
                }
              if (!alive)
                {
                  g_autofree char *reason = cbox_qemu_failure_reason (log);
                  g_autofree char *mark = cbox_qemu_last_mark (log);
                  /* What was asked, what was used, how far the guest got,
                   * and its last words: enough to tell a slow host (TCG,
                   * loaded) from a kernel that never reached the init. */
                  g_set_error (
                      error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                      "qemu: no sign of life from the VM within %u s under %s (last init mark: "
                      "%s); serial log: %s. Under TCG on a loaded host raise [qemu] "
                      "boot-timeout; --verbose shows the whole boot",
                      accel == CBOX_QEMU_ACCEL_KVM ? state->kvm_timeout_s : state->boot_timeout_s,
                      accel == CBOX_QEMU_ACCEL_KVM ? "KVM" : "TCG",
                      mark != NULL ? mark : "none, the kernel did not start the init",
                      reason[0] ? reason : "(empty)");
                  return CBOX_QEMU_BOOT_FAILED;
                }
              /* The command ended (or was signalled) and QEMU lingers. */
              kill (vm.pid, SIGKILL);
              deadline = 0;
            }
          else
            timeout = (int)((deadline - now) / 1000) + 1;
        }
      /* The progress line counts seconds. */
      if (progress->on && !ready && (timeout < 0 || timeout > 1000))
        timeout = 1000;
      if (progress->on && !ready
          && (g_get_monotonic_time () - progress->start) / G_USEC_PER_SEC != progress->drawn_s)
        cbox_qemu_progress_draw (progress);

      idx_sig = n;
      pfd[n++] = (struct pollfd){ cbox_qemu_signal_pipe[0], POLLIN, 0 };
      if (vm.qemu_stderr >= 0)
        {
          idx_stderr = n;
          pfd[n++] = (struct pollfd){ vm.qemu_stderr, POLLIN, 0 };
        }
      for (int i = 0; i < CBOX_QEMU_N_CHANNELS; i++)
        {
          /* The stdin port only ever receives. */
          if (vm.pairs[i][0] < 0 || i == CBOX_QEMU_CH_STDIN)
            continue;
          idx_pair[i] = n;
          pfd[n++] = (struct pollfd){ vm.pairs[i][0], POLLIN, 0 };
        }
      /* The user's input goes in only once the command's ports are open:
       * a VM given up under KVM must not have eaten any of it, and what
       * reaches a port nobody opened yet is lost. */
      if (ready && stdin_open && input_channel >= 0 && vm.pairs[input_channel][0] >= 0)
        {
          if (stdin_pending->len > 0)
            {
              idx_pending = n;
              pfd[n++] = (struct pollfd){ vm.pairs[input_channel][0], POLLOUT, 0 };
            }
          else
            {
              idx_stdin = n;
              pfd[n++] = (struct pollfd){ STDIN_FILENO, POLLIN, 0 };
            }
        }

      /* Each side is read only while the other has room for what it
       * sends (see CBOX_QEMU_RELAY_BUFFER), and watched for room while
       * something waits for it. */
      for (guint r = 0; r < vm.relays->len; r++)
        {
          CboxQemuRelay *relay = g_ptr_array_index (vm.relays, r);
          gboolean host_readable = relay->out->len < CBOX_QEMU_RELAY_BUFFER;

          relay_base[r] = n;
          relay_conns[r] = relay->conns->len;
          pfd[n++] = (struct pollfd){ relay->port,
                                      (cbox_qemu_relay_port_readable (relay) ? POLLIN : 0)
                                          | (relay->out->len > 0 ? POLLOUT : 0),
                                      0 };
          for (guint c = 0; c < relay->conns->len; c++)
            {
              const CboxQemuRelayConn *conn = &g_array_index (relay->conns, CboxQemuRelayConn, c);
              pfd[n++] = (struct pollfd){ conn->fd,
                                          (host_readable && !conn->closing ? POLLIN : 0)
                                              | (conn->out->len > 0 ? POLLOUT : 0),
                                          0 };
            }
        }

      if (poll (pfd, (nfds_t)n, timeout) < 0)
        {
          if (errno == EINTR)
            continue;
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "qemu: poll: %s", g_strerror (errno));
          return CBOX_QEMU_BOOT_FAILED;
        }

      if (pfd[idx_sig].revents & POLLIN)
        {
          unsigned char signals[64];
          ssize_t got = read (cbox_qemu_signal_pipe[0], signals, sizeof signals);
          for (ssize_t i = 0; i < got; i++)
            {
              int signum = signals[i];
              if (signum == SIGCHLD)
                {
                  if (waitpid (vm.pid, &qemu_wait_status, WNOHANG) == vm.pid)
                    qemu_exited = TRUE;
                }
              else if (signum == SIGWINCH)
                {
                  struct winsize ws;
                  if (alive && console_out >= 0 && ioctl (console_out, TIOCGWINSZ, &ws) == 0)
                    cbox_qemu_send_control (vm.pairs[0][0], "winch %u %u\n", ws.ws_row, ws.ws_col);
                }
              else if (signum == SIGPIPE)
                {
                  if (ready && !pipe_forwarded)
                    cbox_qemu_send_control (vm.pairs[0][0], "signal %d\n", SIGPIPE);
                  pipe_forwarded = TRUE;
                }
              else if (!alive)
                {
                  /* Nothing to pass it to yet: the run ends here. */
                  kill (vm.pid, SIGKILL);
                  *ret_status = 128 + signum;
                  pending_signal = signum;
                }
              else
                {
                  cbox_qemu_send_control (vm.pairs[0][0], "signal %d\n", signum);
                  /* A guest that ignores it gets some time, then the VM goes. */
                  if (deadline == 0 && signum != SIGUSR1 && signum != SIGUSR2)
                    {
                      pending_signal = signum;
                      deadline = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;
                    }
                }
            }
        }

      if (idx_stderr >= 0 && (pfd[idx_stderr].revents & (POLLIN | POLLHUP)))
        {
          char buf[4096];
          ssize_t got = read (vm.qemu_stderr, buf, sizeof buf);
          if (got > 0)
            {
              cbox_qemu_log_append (log, buf, (gsize)got);
              if (state->verbose)
                cbox_qemu_write_all (STDERR_FILENO, buf, (gsize)got);
            }
          else if (got == 0)
            cbox_qemu_close_fd (&vm.qemu_stderr);
        }

      for (int i = 0; i < CBOX_QEMU_N_CHANNELS; i++)
        {
          char buf[65536];
          ssize_t got;

          if (idx_pair[i] < 0 || !(pfd[idx_pair[i]].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
          got = read (vm.pairs[i][0], buf, sizeof buf);
          if (got < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
          if (got <= 0)
            {
              cbox_qemu_close_fd (&vm.pairs[i][0]);
              continue;
            }
          if (i == 0) /* control */
            {
              char *nl;
              g_string_append_len (control_in, buf, got);
              while ((nl = strchr (control_in->str, '\n')) != NULL)
                {
                  *nl = '\0';
                  if (g_str_equal (control_in->str, "alive"))
                    {
                      alive = TRUE;
                      deadline = 0;
                      cbox_qemu_progress_set (progress, "mounting shares");
                    }
                  else if (g_str_equal (control_in->str, "ready"))
                    {
                      ready = TRUE;
                      cbox_qemu_progress_end (progress);
                      if (state->stdio[0] == CBOX_QEMU_STDIO_TTY)
                        cbox_qemu_take_cooked_input (stdin_pending);
                      /* Raw only when the user types into the console: a
                       * terminal that is merely stdout keeps its ^C for cbox. */
                      if (state->stdio[0] == CBOX_QEMU_STDIO_TTY && !*terminal_raw
                          && tcgetattr (STDIN_FILENO, saved_termios) == 0)
                        {
                          struct termios raw = *saved_termios;
                          cfmakeraw (&raw);
                          if (tcsetattr (STDIN_FILENO, TCSADRAIN, &raw) == 0)
                            *terminal_raw = TRUE;
                        }
                    }
                  else if (g_str_has_prefix (control_in->str, "exit "))
                    {
                      exit_status = atoi (control_in->str + 5);
                      if (deadline == 0 || pending_signal != 0)
                        deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
                    }
                  else if (g_str_has_prefix (control_in->str, "fail "))
                    {
                      g_free (fail_message);
                      fail_message = g_strdup (control_in->str + 5);
                      deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
                    }
                  g_string_erase (control_in, 0, (nl - control_in->str) + 1);
                }
            }
          else
            cbox_qemu_channel_output (state, log, progress, i, console_out, buf, (gsize)got);
        }

      /* Each relay: its host connections first, from the last (one that
       * ends takes the last one's place, already seen), then the port,
       * which may open or close connections. */
      for (guint r = 0; r < vm.relays->len; r++)
        {
          CboxQemuRelay *relay = g_ptr_array_index (vm.relays, r);
          short port_events = pfd[relay_base[r]].revents;

          for (guint c = relay_conns[r]; c-- > 0;)
            {
              short events = pfd[relay_base[r] + 1 + (int)c].revents;
              if ((events & (POLLOUT | POLLERR)) && !cbox_qemu_relay_conn_flush (relay, c))
                continue;
              if (events & (POLLIN | POLLHUP | POLLERR))
                cbox_qemu_relay_conn_input (relay, c);
            }
          if (port_events & (POLLOUT | POLLERR))
            cbox_qemu_relay_flush (relay);
          if (relay->port >= 0 && (port_events & POLLIN))
            cbox_qemu_relay_port_input (relay);
          else if (relay->port >= 0 && (port_events & (POLLHUP | POLLERR)))
            cbox_qemu_relay_stop (relay); /* QEMU closed it: the VM is going */
          else
            /* Frames held back by a server that has caught up now. */
            cbox_qemu_relay_process (relay);
        }

      if (idx_pending >= 0 && (pfd[idx_pending].revents & (POLLOUT | POLLERR | POLLHUP)))
        {
          ssize_t put = write (vm.pairs[input_channel][0], stdin_pending->data, stdin_pending->len);
          if (put > 0)
            g_byte_array_remove_range (stdin_pending, 0, (guint)put);
          else if (put < 0 && errno != EAGAIN && errno != EINTR)
            stdin_open = FALSE;
        }
      if (idx_stdin >= 0 && (pfd[idx_stdin].revents & (POLLIN | POLLHUP | POLLERR)))
        {
          char buf[65536];
          ssize_t got = read (STDIN_FILENO, buf, sizeof buf);
          if (got > 0)
            g_byte_array_append (stdin_pending, (const guint8 *)buf, (guint)got);
          else if (got == 0 || (errno != EAGAIN && errno != EINTR))
            {
              stdin_open = FALSE;
              /* End of file reaches the command: QEMU sees this socket close
               * and the guest's port reads end. */
              if (input_channel == CBOX_QEMU_CH_STDIN)
                cbox_qemu_close_fd (&vm.pairs[CBOX_QEMU_CH_STDIN][0]);
            }
        }
    }

  /* QEMU is gone: what its ports wrote is in our sockets; take the rest. */
  for (int i = CBOX_QEMU_CH_LOG; i < CBOX_QEMU_N_CHANNELS; i++)
    {
      char buf[65536];
      ssize_t got;
      if (vm.pairs[i][0] < 0 || i == CBOX_QEMU_CH_STDIN)
        continue;
      while ((got = read (vm.pairs[i][0], buf, sizeof buf)) > 0)
        cbox_qemu_channel_output (state, log, progress, i, console_out, buf, (gsize)got);
    }
  if (vm.qemu_stderr >= 0)
    {
      char buf[4096];
      ssize_t got;
      while ((got = read (vm.qemu_stderr, buf, sizeof buf)) > 0)
        {
          cbox_qemu_log_append (log, buf, (gsize)got);
          if (state->verbose)
            cbox_qemu_write_all (STDERR_FILENO, buf, (gsize)got);
        }
    }
  vm.pid = 0; /* reaped */

  /* QEMU that dies under KVM before the init said a word (a CPU model the
   * host's KVM refuses, say) is the same verdict as a hang. */
  if (!alive && accel == CBOX_QEMU_ACCEL_KVM && state->accel_config == CBOX_QEMU_ACCEL_AUTO
      && pending_signal == 0)
    {
      g_free (state->kvm_failure);
      state->kvm_failure = cbox_qemu_failure_reason (log);
      return CBOX_QEMU_BOOT_NO_LIFE;
    }

  if (exit_status >= 0)
    {
      *ret_status = exit_status;
      return CBOX_QEMU_BOOT_DONE;
    }
  if (fail_message != NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "qemu: the VM's init failed: %s",
                   fail_message);
      return CBOX_QEMU_BOOT_FAILED;
    }
  if (pending_signal != 0)
    {
      *ret_status = 128 + pending_signal;
      return CBOX_QEMU_BOOT_DONE;
    }
  {
    g_autofree char *reason = cbox_qemu_failure_reason (log);
    g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                 "qemu: the VM ended before the command did (QEMU %s %d)%s%s",
                 WIFSIGNALED (qemu_wait_status) ? "killed by signal" : "exit status",
                 WIFSIGNALED (qemu_wait_status) ? WTERMSIG (qemu_wait_status)
                                                : WEXITSTATUS (qemu_wait_status),
                 reason[0] ? ": " : "", reason);
    return CBOX_QEMU_BOOT_FAILED;
  }
}

gboolean
cbox_qemu_run (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, int *ret_status,
               GError **error)
{
  CboxQemuState *state = cbox_context_get_data (ctx);
  CboxQemuSignals signals;
  cbox_autofd int lock_fd = -1;
  g_auto (GStrv) argv = NULL;
  struct termios saved_termios;
  gboolean terminal_raw = FALSE;
  CboxQemuAccel accel;
  CboxQemuBootResult result;
  int status = CBOX_EXIT_FAILURE;
  CboxQemuProgress progress = { 0 };
  CboxHelpers *helpers;

  g_return_val_if_fail (state != NULL && state->run_dir != NULL, FALSE);

  progress.on = !state->verbose && state->stdio[2] == CBOX_QEMU_STDIO_TTY;
  progress.start = g_get_monotonic_time ();
  if (!g_file_test (state->initramfs, G_FILE_TEST_IS_REGULAR))
    cbox_qemu_progress_set (&progress, "building the initramfs (once per kernel)");
  if (!cbox_qemu_initramfs_ensure (state->kernel, state->init_path, state->display != NULL,
                                   state->initramfs, error))
    {
      cbox_qemu_progress_clear (&progress);
      g_prefix_error (error, "qemu: ");
      cbox_plan_run_cleanups (plan);
      return FALSE;
    }
  if (!cbox_qemu_signals_install (&signals, error))
    {
      cbox_plan_run_cleanups (plan);
      return FALSE;
    }
  if (!cbox_qemu_run_dir_create (state, &lock_fd, error))
    {
      cbox_qemu_signals_restore (&signals);
      cbox_plan_run_cleanups (plan);
      return FALSE;
    }
  /* The plan's host helpers (the ssh agent's filtering relay) run beside
   * the VM as beside bwrap: ready before QEMU starts, so a guest
   * connection relayed to a helper's socket always finds it listening
   * (they take milliseconds, the boot seconds). */
  helpers = cbox_plan_start_helpers (plan, error);
  if (helpers == NULL)
    {
      cbox_qemu_signals_restore (&signals);
      cbox_qemu_run_dir_remove (state->run_dir);
      cbox_plan_run_cleanups (plan);
      return FALSE;
    }

  /* --network=allow/deny: the proxy listens before QEMU starts. */
  if (state->proxy_socket != NULL && !cbox_qemu_start_proxy (state, plan, error))
    {
      cbox_qemu_run_dir_remove (state->run_dir);
      cbox_qemu_signals_restore (&signals);
      cbox_plan_run_cleanups (plan);
      return FALSE;
    }

  argv = g_strdupv ((char **)cbox_launch_get_argv (launch));
  accel = g_strv_contains ((const char *const *)argv, "kvm") ? CBOX_QEMU_ACCEL_KVM
                                                             : CBOX_QEMU_ACCEL_TCG;
  /* QEMU is started here, not by the generic run: the core registers the
   * run for `cbox ps` on this word. */
  cbox_context_notify_tool_started (ctx);
  progress.accel = accel == CBOX_QEMU_ACCEL_KVM ? "KVM" : "TCG";
  cbox_qemu_progress_set (&progress, "starting QEMU");
  result = cbox_qemu_boot (state, argv, accel, &progress, &terminal_raw, &saved_termios, &status,
                           error);
  if (result == CBOX_QEMU_BOOT_NO_LIFE)
    {
      g_autoptr (GError) local_error = NULL;
      /* /dev/kvm opened, yet the guest never reached its init: nested
       * virtualization that hangs Linux early in boot does exactly this.
       * Remember it, so the next run goes straight to TCG. */
      cbox_qemu_progress_clear (&progress);
      g_printerr ("cbox: qemu: the VM did not come up under KVM (%s); falling back to TCG "
                  "(slow). This host is now marked so in %s (delete it to try KVM again).\n",
                  state->kvm_failure, state->kvm_verdict_path);
      if (!cbox_qemu_kvm_verdict_write_broken (state->kvm_verdict_path, &local_error))
        g_printerr ("cbox: qemu: could not record the KVM verdict: %s\n", local_error->message);
      state->kvm_broken = TRUE;
      g_strfreev (argv);
      argv = cbox_qemu_build_argv (state, CBOX_QEMU_ACCEL_TCG);
      progress.accel = "TCG";
      cbox_qemu_progress_set (&progress, "starting QEMU");
      result = cbox_qemu_boot (state, argv, CBOX_QEMU_ACCEL_TCG, &progress, &terminal_raw,
                               &saved_termios, &status, error);
    }
  cbox_qemu_progress_clear (&progress);
  if (terminal_raw)
    tcsetattr (STDIN_FILENO, TCSADRAIN, &saved_termios);

  cbox_helpers_stop (helpers);
  cbox_qemu_signals_restore (&signals);
  cbox_qemu_run_dir_remove (state->run_dir);
  cbox_plan_run_cleanups (plan);
  if (result != CBOX_QEMU_BOOT_DONE)
    {
      if (result == CBOX_QEMU_BOOT_NO_LIFE)
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                     "qemu: no sign of life from the VM under TCG either");
      return FALSE;
    }
  *ret_status = status;
  return TRUE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Running the VM: the per-run directory (metadata share, virtiofs sockets,
 * the lock that tells a live run from a dead one), virtiofsd, QEMU, and
 * the relay between the user's terminal or pipes and the guest's ports. */

#include "cbox-qemu-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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

  if (!cbox_qemu_mkdir_private (state->run_base, error))
    return FALSE;
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
  if (mkdir (meta_dir, 0700) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "qemu: cannot create %s: %s", meta_dir, g_strerror (saved_errno));
      cbox_qemu_run_dir_remove (state->run_dir);
      return FALSE;
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
cbox_qemu_child_setup (gpointer user_data)
{
  /* The VM and its daemons die with cbox, even with `kill -9`. Their own
   * process group keeps a terminal's ^C for cbox, which passes it on to
   * the command inside. */
  const CboxQemuState *state = user_data;
  int r;

  prctl (PR_SET_PDEATHSIG, SIGKILL);
  setpgid (0, 0);
  /* Run by root, QEMU and virtiofsd read the shares as root: what the plan
   * covers inside a shared folder is covered for them too, or the guest's
   * kernel could read it through the share. A child that cannot do it
   * does not start. */
  r = state != NULL ? cbox_qemu_hide_covered (state) : 0;
  if (r < 0)
    {
      static const char message[] = "cbox: qemu: cannot hide covered host paths from QEMU\n";
      if (write (STDERR_FILENO, message, sizeof message - 1) < 0)
        (void)0;
      _exit (125);
    }
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

static gboolean
cbox_qemu_start_virtiofsd (CboxQemuState *state, CboxQemuDaemons *daemons, GError **error)
{
  daemons->pids = g_array_new (FALSE, FALSE, sizeof (GPid));
  for (guint i = 0; i < state->shares->len; i++)
    {
      CboxQemuShare *share = g_ptr_array_index (state->shares, i);
      g_autofree char *socket_arg = NULL;
      g_autofree char *source_arg = NULL;
      const char *envp[] = { NULL };
      GPid pid;
      int devnull;

      if (!share->virtiofs)
        continue;
      unlink (share->socket);
      socket_arg = g_strdup_printf ("--socket-path=%s", share->socket);
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
            = { state->virtiofsd, socket_arg, "-o", source_arg, "-o", "cache=auto", "-o",
                "log_level=err",  NULL };
        devnull = state->verbose ? STDERR_FILENO : open ("/dev/null", O_WRONLY | O_CLOEXEC);
        {
          int source_fds[] = { devnull };
          int target_fds[] = { STDERR_FILENO };
          gboolean ok = g_spawn_async_with_pipes_and_fds (
              NULL, argv, envp,
              G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_STDOUT_TO_DEV_NULL,
              cbox_qemu_child_setup, state, -1, -1, -1, source_fds, target_fds, 1, &pid, NULL, NULL,
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
      /* Ready when its socket is there; a daemon that dies says why. */
      for (int waited = 0;; waited += 10)
        {
          int status;
          if (g_file_test (share->socket, G_FILE_TEST_EXISTS))
            break;
          if (waitpid (pid, &status, WNOHANG) == pid)
            {
              g_array_remove_index (daemons->pids, daemons->pids->len - 1);
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                           "qemu: virtiofsd for %s exited before it was ready (run with "
                           "--verbose to see why)",
                           share->path);
              return FALSE;
            }
          if (waited > 10000)
            {
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                           "qemu: virtiofsd for %s did not create %s within 10 s", share->path,
                           share->socket);
              return FALSE;
            }
          g_usleep (10000);
        }
    }
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

/* What one boot holds; cleared (QEMU killed, daemons stopped, sockets
 * closed) however the boot ends. */
typedef struct
{
  int pairs[5][2];
  GPid pid;
  int qemu_stderr;
  CboxQemuDaemons daemons;
} CboxQemuVm;

static void
cbox_qemu_vm_clear (CboxQemuVm *vm)
{
  cbox_qemu_kill_wait (vm->pid);
  vm->pid = 0;
  for (int i = 0; i < 5; i++)
    {
      cbox_qemu_close_fd (&vm->pairs[i][0]);
      cbox_qemu_close_fd (&vm->pairs[i][1]);
    }
  cbox_qemu_close_fd (&vm->qemu_stderr);
  cbox_qemu_daemons_stop (&vm->daemons);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CboxQemuVm, cbox_qemu_vm_clear)

static CboxQemuBootResult
cbox_qemu_boot (CboxQemuState *state, char **argv, CboxQemuAccel accel, gboolean *terminal_raw,
                struct termios *saved_termios, int *ret_status, GError **error)
{
  g_auto (CboxQemuVm) vm
      = { { { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 } }, 0, -1, { NULL } };
  int targets[5] = { CBOX_QEMU_FD_CONTROL, CBOX_QEMU_FD_LOG, CBOX_QEMU_FD_CONSOLE,
                     CBOX_QEMU_FD_STDOUT, CBOX_QEMU_FD_STDERR };
  int n_pairs = state->tty ? 3 : 5;
  int sources[5];
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

  for (int i = 0; i < n_pairs; i++)
    {
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, vm.pairs[i]) < 0)
        {
          int saved_errno = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                       "qemu: socketpair: %s", g_strerror (saved_errno));
          return CBOX_QEMU_BOOT_FAILED;
        }
      sources[i] = vm.pairs[i][1];
      g_unix_set_fd_nonblocking (vm.pairs[i][0], TRUE, NULL);
    }

  if (!g_spawn_async_with_pipes_and_fds (
          NULL, (const char *const *)argv, envp,
          G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_STDOUT_TO_DEV_NULL,
          cbox_qemu_child_setup, state, -1, -1, -1, sources, targets, (gsize)n_pairs, &vm.pid, NULL,
          NULL, &vm.qemu_stderr, error))
    {
      g_prefix_error (error, "qemu: cannot start %s: ", argv[0]);
      return CBOX_QEMU_BOOT_FAILED;
    }
  for (int i = 0; i < n_pairs; i++)
    cbox_qemu_close_fd (&vm.pairs[i][1]);
  g_unix_set_fd_nonblocking (vm.qemu_stderr, TRUE, NULL);

  for (;;)
    {
      struct pollfd pfd[9];
      int n = 0, idx_sig, idx_stderr = -1, idx_stdin = -1, idx_pending = -1;
      int idx_pair[5] = { -1, -1, -1, -1, -1 };
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
                  g_set_error (
                      error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                      "qemu: no sign of life from the VM within %u s under %s%s%s",
                      accel == CBOX_QEMU_ACCEL_KVM ? state->kvm_timeout_s : state->boot_timeout_s,
                      accel == CBOX_QEMU_ACCEL_KVM ? "KVM" : "TCG", reason[0] ? ": " : "", reason);
                  return CBOX_QEMU_BOOT_FAILED;
                }
              /* The command ended (or was signalled) and QEMU lingers. */
              kill (vm.pid, SIGKILL);
              deadline = 0;
            }
          else
            timeout = (int)((deadline - now) / 1000) + 1;
        }

      idx_sig = n;
      pfd[n++] = (struct pollfd){ cbox_qemu_signal_pipe[0], POLLIN, 0 };
      if (vm.qemu_stderr >= 0)
        {
          idx_stderr = n;
          pfd[n++] = (struct pollfd){ vm.qemu_stderr, POLLIN, 0 };
        }
      for (int i = 0; i < n_pairs; i++)
        {
          /* The stdin port (stream mode) only ever receives. */
          if (vm.pairs[i][0] < 0 || (!state->tty && i == 2))
            continue;
          idx_pair[i] = n;
          pfd[n++] = (struct pollfd){ vm.pairs[i][0], POLLIN, 0 };
        }
      /* The user's input goes in only once the command's ports are open:
       * a VM given up under KVM must not have eaten any of it, and what
       * reaches a port nobody opened yet is lost. */
      if (ready && stdin_open)
        {
          if (stdin_pending->len > 0)
            {
              idx_pending = n;
              pfd[n++] = (struct pollfd){ vm.pairs[2][0], POLLOUT, 0 };
            }
          else
            {
              idx_stdin = n;
              pfd[n++] = (struct pollfd){ STDIN_FILENO, POLLIN, 0 };
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
                  if (alive && state->tty && ioctl (STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
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

      for (int i = 0; i < n_pairs; i++)
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
                    }
                  else if (g_str_equal (control_in->str, "ready"))
                    {
                      ready = TRUE;
                      if (state->tty && !*terminal_raw
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
          else if (i == 1) /* the kernel's console */
            {
              cbox_qemu_log_append (log, buf, (gsize)got);
              if (state->verbose)
                cbox_qemu_write_all (STDERR_FILENO, buf, (gsize)got);
            }
          else
            cbox_qemu_write_all (i == 4 ? STDERR_FILENO : STDOUT_FILENO, buf, (gsize)got);
        }

      if (idx_pending >= 0 && (pfd[idx_pending].revents & (POLLOUT | POLLERR | POLLHUP)))
        {
          ssize_t put = write (vm.pairs[2][0], stdin_pending->data, stdin_pending->len);
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
              if (!state->tty)
                cbox_qemu_close_fd (&vm.pairs[2][0]);
            }
        }
    }

  /* QEMU is gone: what its ports wrote is in our sockets; take the rest. */
  for (int i = 1; i < n_pairs; i++)
    {
      char buf[65536];
      ssize_t got;
      if (vm.pairs[i][0] < 0 || (!state->tty && i == 2))
        continue;
      while ((got = read (vm.pairs[i][0], buf, sizeof buf)) > 0)
        {
          if (i == 1)
            {
              cbox_qemu_log_append (log, buf, (gsize)got);
              if (state->verbose)
                cbox_qemu_write_all (STDERR_FILENO, buf, (gsize)got);
            }
          else
            cbox_qemu_write_all (i == 4 ? STDERR_FILENO : STDOUT_FILENO, buf, (gsize)got);
        }
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

  g_return_val_if_fail (state != NULL && state->run_dir != NULL, FALSE);

  if (!cbox_qemu_initramfs_ensure (state->kernel, state->init_path, state->initramfs, error))
    {
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

  argv = g_strdupv ((char **)cbox_launch_get_argv (launch));
  accel = g_strv_contains ((const char *const *)argv, "kvm") ? CBOX_QEMU_ACCEL_KVM
                                                             : CBOX_QEMU_ACCEL_TCG;
  /* QEMU is started here, not by the generic run: the core registers the
   * run for `cbox ps` on this word. */
  cbox_context_notify_tool_started (ctx);
  result = cbox_qemu_boot (state, argv, accel, &terminal_raw, &saved_termios, &status, error);
  if (result == CBOX_QEMU_BOOT_NO_LIFE)
    {
      g_autoptr (GError) local_error = NULL;
      /* /dev/kvm opened, yet the guest never reached its init: nested
       * virtualization that hangs Linux early in boot does exactly this.
       * Remember it, so the next run goes straight to TCG. */
      g_printerr ("cbox: qemu: the VM did not come up under KVM (%s); falling back to TCG "
                  "(slow). This host is now marked so in %s (delete it to try KVM again).\n",
                  state->kvm_failure, state->kvm_verdict_path);
      if (!cbox_qemu_kvm_verdict_write_broken (state->kvm_verdict_path, &local_error))
        g_printerr ("cbox: qemu: could not record the KVM verdict: %s\n", local_error->message);
      state->kvm_broken = TRUE;
      g_strfreev (argv);
      argv = cbox_qemu_build_argv (state, CBOX_QEMU_ACCEL_TCG);
      result = cbox_qemu_boot (state, argv, CBOX_QEMU_ACCEL_TCG, &terminal_raw, &saved_termios,
                               &status, error);
    }
  if (terminal_raw)
    tcsetattr (STDIN_FILENO, TCSADRAIN, &saved_termios);

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

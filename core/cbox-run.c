/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <linux/close_range.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cbox-private.h"

/* The generic run shared by the backends: helpers, the tool, signals, exit
 * status. One thread, no main loop: every signal it cares about is blocked
 * and taken with sigwaitinfo() (or read from a signalfd, when a backend
 * also has a descriptor to watch), so nothing runs in a signal handler and
 * no signal is lost between fork() and the wait. */

/* How long a helper may take to become ready. */
#define CBOX_HELPER_READY_TIMEOUT_MS 10000
/* How long a helper gets between SIGTERM and SIGKILL. */
#define CBOX_HELPER_STOP_TIMEOUT_MS 1000

/* Waits for a child that is known to be ending; a signal arriving meanwhile
 * must not leave it a zombie. */
static void
cbox_run_wait_ended (pid_t pid)
{
  while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
    ;
}

/* The children of @pid, from /proc/PID/task/TID/children (every thread's:
 * a child belongs to the thread that made it). */
static GArray *
cbox_run_children_of (pid_t pid)
{
  GArray *children = g_array_new (FALSE, FALSE, sizeof (pid_t));
  g_autofree char *tasks = g_strdup_printf ("/proc/%d/task", (int)pid);
  g_autoptr (GDir) dir = g_dir_open (tasks, 0, NULL);
  const char *tid;

  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (tasks, tid, "children", NULL);
      g_autofree char *text = NULL;
      g_auto (GStrv) words = NULL;

      if (!g_file_get_contents (path, &text, NULL, NULL))
        continue;
      words = g_strsplit_set (text, " \n", -1);
      for (guint i = 0; words[i] != NULL; i++)
        {
          gint64 child = g_ascii_strtoll (words[i], NULL, 10);
          if (child > 0)
            {
              pid_t c = (pid_t)child;
              g_array_append_val (children, c);
            }
        }
    }
  return children;
}

/* Waits until @pid has stopped (or ended, or is gone): SIGSTOP takes
 * effect only on the way back to user space, so a process caught inside
 * clone() makes its child first. Polled through /proc: @pid need not be a
 * child of cbox. */
static void
cbox_run_wait_stopped (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int)pid);

  for (;;)
    {
      g_autofree char *stat = NULL;
      const char *paren;

      if (!g_file_get_contents (path, &stat, NULL, NULL))
        return;
      /* "PID (COMM) STATE ...": COMM may hold anything, so from the last
       * parenthesis. */
      paren = strrchr (stat, ')');
      if (paren == NULL || paren[1] == '\0' || strchr ("TtZX", paren[2]) != NULL)
        return;
      g_usleep (100);
    }
}

void
cbox_run_kill_tree (pid_t pid)
{
  g_autoptr (GArray) children = NULL;

  /* Stopped first (and waited for), so it can neither make another child
   * nor reap one while its children are listed; then each child's tree
   * the same way;
   * then killed. Killing bwrap alone once it had cloned left its child,
   * reparented, blocked for ever on the eventfd through which bwrap tells
   * it the uid map is written, holding cbox's output pipe open (the
   * caller of cbox then never saw the end of the output). SIGSTOP and
   * SIGKILL reach a pid namespace's init from outside it. */
  if (kill (pid, SIGSTOP) < 0)
    return;
  cbox_run_wait_stopped (pid);
  children = cbox_run_children_of (pid);
  for (guint i = 0; i < children->len; i++)
    cbox_run_kill_tree (g_array_index (children, pid_t, i));
  kill (pid, SIGKILL);
}

/* cbox run is the subreaper of everything it starts. bwrap's parent, killed
 * (or dying) between its clone() and the write that lets its child go on,
 * leaves that child blocked for ever on an eventfd, with no parent-death
 * signal yet (bwrap sets it later), holding whatever cbox's caller gave
 * it: seen as a run whose output never ended. As the subreaper, cbox gets
 * such an orphan as its own child, and cbox_run_kill_leftovers() ends it
 * before cbox exits, whatever path killed its parent. One prctl(). */
void
cbox_run_adopt_orphans (void)
{
  prctl (PR_SET_CHILD_SUBREAPER, 1);
}

/* Helpers ended by cbox_run_end_helper() and not reaped yet. */
static GArray *cbox_run_ended_helpers;

void
cbox_run_end_helper (pid_t *pid)
{
  if (*pid <= 0)
    return;
  /* The sandbox has ended: the helper has nothing left to do or save. A
   * process that got SIGKILL never runs its own code again, but the
   * kernel's part of its exit can take long: the network helper's last
   * close of its tap device unregisters the device, which waits for RCU
   * grace periods (15 to 25 ms here, more than the whole rest of a run;
   * docs/benchmarks.md). cbox does not wait for that: reaped now if it is
   * already gone, else left to whoever reaps after cbox (init), and
   * cbox_run_kill_leftovers() knows it as ended. */
  kill (*pid, SIGKILL);
  if (waitpid (*pid, NULL, WNOHANG) != *pid)
    {
      if (cbox_run_ended_helpers == NULL)
        cbox_run_ended_helpers = g_array_new (FALSE, FALSE, sizeof (pid_t));
      g_array_append_val (cbox_run_ended_helpers, *pid);
    }
  *pid = 0;
}

static gboolean
cbox_run_helper_was_ended (pid_t pid)
{
  for (guint i = 0; cbox_run_ended_helpers != NULL && i < cbox_run_ended_helpers->len; i++)
    if (g_array_index (cbox_run_ended_helpers, pid_t, i) == pid)
      return TRUE;
  return FALSE;
}

guint
cbox_run_kill_leftovers (void)
{
  g_autoptr (GArray) children = cbox_run_children_of (getpid ());
  guint n_left = 0;

  for (guint i = 0; i < children->len; i++)
    {
      pid_t child = g_array_index (children, pid_t, i);

      if (cbox_run_helper_was_ended (child))
        continue;
      n_left++;
      cbox_run_kill_tree (child);
      cbox_run_wait_ended (child);
    }
  return n_left;
}

static const int cbox_forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

/* ---- stop signals: SIGINT, SIGTERM, SIGHUP from the first instruction ----
 *
 * main() blocks them before anything else; for `cbox run` the handler
 * below is put in place and they are let through, so a stop that comes
 * while the run is being planned or started is kept (not the default
 * action, which would leave the early bwrap's state, helper folders or a
 * registry entry behind) and ends the run at the next point that checks
 * it, with 128+N and the whole clean-up. During the run's wait they are
 * blocked again and taken with sigwaitinfo(), as before. */
static const int cbox_stop_signals[] = { SIGINT, SIGTERM, SIGHUP };
static volatile sig_atomic_t cbox_stop_signal;
/* Whether cbox's main() handed the stops to this file (a program using
 * libcbox for several runs, a test, does not): only then does a stop
 * recorded before a run mean that the run must not start. */
static gboolean cbox_stops_caught;

static void
cbox_on_stop_signal (int signum)
{
  cbox_stop_signal = signum;
}

void
cbox_signals_block_stops (void)
{
  sigset_t set;

  sigemptyset (&set);
  for (guint i = 0; i < G_N_ELEMENTS (cbox_stop_signals); i++)
    sigaddset (&set, cbox_stop_signals[i]);
  sigprocmask (SIG_BLOCK, &set, NULL);
}

void
cbox_signals_catch_stops (gboolean catch_them)
{
  struct sigaction sa = { .sa_handler = cbox_on_stop_signal, .sa_flags = SA_RESTART };
  sigset_t set;

  sigemptyset (&sa.sa_mask);
  sigemptyset (&set);
  cbox_stops_caught = catch_them;
  for (guint i = 0; i < G_N_ELEMENTS (cbox_stop_signals); i++)
    {
      if (catch_them)
        sigaction (cbox_stop_signals[i], &sa, NULL);
      sigaddset (&set, cbox_stop_signals[i]);
    }
  /* A signal that came while they were blocked is delivered now: to the
   * handler, or (not catching) with its default action. */
  sigprocmask (SIG_UNBLOCK, &set, NULL);
}

int
cbox_signals_get_stop (void)
{
  return cbox_stop_signal;
}

void
cbox_signals_note_stop (int signum)
{
  cbox_stop_signal = signum;
}

typedef struct
{
  const CboxHelper *helper;
  pid_t pid;   /* 0 once reaped */
  int sync_fd; /* READY_SYNC_FD: cbox's end, kept open while the sandbox runs */
} CboxRunningHelper;

static gint64
cbox_run_now_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

/* Who the tool runs as, when cbox drops privileges for it: worked out
 * before fork (the group database is not async-signal-safe). */
typedef struct
{
  uid_t uid; /* 0: no change */
  gid_t gid;
  gid_t *groups;
  int n_groups;
} CboxRunCredentials;

/* In the child, between clone() and exec: the state a program expects at
 * exec. The child shares cbox's memory (see cbox_run_spawn()), so only
 * async-signal-safe calls, nothing allocated, and the credentials by raw
 * system calls: glibc's setresuid() and friends would signal every thread
 * of the process they believe they are in. FALSE with errno set when the
 * credentials cannot be taken. */
static gboolean
cbox_run_child_reset (const sigset_t *mask, gboolean ignore_forwarded,
                      const CboxRunCredentials *creds, pid_t parent)
{
  struct sigaction sa = { .sa_handler = SIG_DFL };

  /* Every handler cbox set goes back to the default before any signal is
   * let through: a handler must never run on this shared memory. */
  for (int sig = 1; sig < NSIG; sig++)
    {
      struct sigaction old;
      if (sig != SIGKILL && sig != SIGSTOP && sigaction (sig, NULL, &old) == 0
          && old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)
        sigaction (sig, &sa, NULL);
    }
  /* A tool that must not act on the forwarded signals gets them blocked,
   * not ignored: an ignored signal is thrown away, also when it is sent
   * to the sandbox's pid 1 before cbox-exec runs there (a stop in the
   * first milliseconds), while a blocked one stays pending across exec
   * until cbox-exec, which blocks and waits for them, takes it. */
  sigset_t child_mask = *mask;
  for (guint i = 0; i < G_N_ELEMENTS (cbox_forwarded_signals); i++)
    {
      sigaction (cbox_forwarded_signals[i], &sa, NULL);
      if (ignore_forwarded)
        sigaddset (&child_mask, cbox_forwarded_signals[i]);
      else
        sigdelset (&child_mask, cbox_forwarded_signals[i]);
    }
  sigaction (SIGCHLD, &sa, NULL);
  sigaction (SIGPIPE, &sa, NULL);
  sigprocmask (SIG_SETMASK, &child_mask, NULL);
  /* Groups, then gid, then uid: each step needs the privileges the next
   * one drops. */
  if (creds != NULL && creds->uid != 0
      && (syscall (SYS_setgroups, (size_t)creds->n_groups, creds->groups) < 0
          || syscall (SYS_setresgid, creds->gid, creds->gid, creds->gid) < 0
          || syscall (SYS_setresuid, creds->uid, creds->uid, creds->uid) < 0))
    return FALSE;
  /* Nothing outlives cbox, even after kill -9: the kernel kills the child
   * when cbox goes. If cbox died before the prctl took effect, go now.
   * (After the change of credentials, which would clear it.) */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != parent)
    _exit (CBOX_EXIT_FAILURE);
  return TRUE;
}

/* The soft limit of open files cbox started with, given back to every
 * program it starts (cbox_run_raise_nofile_limit()). */
static struct rlimit cbox_run_nofile_original;
static gboolean cbox_run_nofile_raised;

/* A soft limit of open files far enough below what cbox needs (a plugin
 * per file, its libraries, the plan's fds) turns into a dlopen() failure
 * that reads like a broken plugin. As systemd does for itself, cbox raises
 * its own soft limit towards the hard one (up to 65536, plenty, and a
 * bound for the loops that go over every fd), and every program it starts
 * gets the limit cbox was started with back: the command sees the limit
 * its user set. */
void
cbox_run_raise_nofile_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
    return;
  cbox_run_nofile_original = limit;
  if (limit.rlim_cur == RLIM_INFINITY
      || (limit.rlim_max != RLIM_INFINITY && limit.rlim_cur >= limit.rlim_max)
      || limit.rlim_cur >= 65536)
    return;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? 65536 : MIN (limit.rlim_max, 65536);
  if (setrlimit (RLIMIT_NOFILE, &limit) == 0)
    cbox_run_nofile_raised = TRUE;
}

/* Marks every fd from @lowest up close-on-exec. Async-signal-safe. */
static void
cbox_run_child_cloexec_from (int lowest)
{
  long max;

  if (close_range ((unsigned)lowest, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
    return;
  /* Kernels before 5.11: one by one, up to the limit. */
  max = sysconf (_SC_OPEN_MAX);
  if (max < 0 || max > 65536)
    max = 65536;
  for (int fd = lowest; fd < max; fd++)
    fcntl (fd, F_SETFD, FD_CLOEXEC);
}

typedef struct
{
  const char *path;
  const char *const *argv;
  const char *const *envp;
  const int *keep_fds;
  guint n_keep_fds;
  gboolean null_stdin;
  const sigset_t *child_mask;
  gboolean ignore_forwarded;
  const CboxRunCredentials *creds;
  int output_fd;      /* stdout and stderr go there when >= 0 */
  gboolean root_cwd;  /* a helper: it runs in /, not in the caller's folder */
  int join_userns_fd; /* namespaces to start in, -1 for none */
  int join_netns_fd;
  pid_t parent;
  /* Written by the child when it cannot exec; read once clone() returned. */
  int child_errno;
} CboxRunSpawn;

static int
cbox_run_child (void *data)
{
  CboxRunSpawn *spawn = data;

  if (!cbox_run_child_reset (spawn->child_mask, spawn->ignore_forwarded, spawn->creds,
                             spawn->parent))
    goto fail;
  /* The project's shared network (cbox_launch_set_namespaces()): its
   * owner first, whose capabilities joining the network namespace needs.
   * Failing either is failing to start: never the host's network
   * instead. */
  if (spawn->join_userns_fd >= 0 && setns (spawn->join_userns_fd, CLONE_NEWUSER) < 0)
    goto fail;
  if (spawn->join_netns_fd >= 0 && setns (spawn->join_netns_fd, CLONE_NEWNET) < 0)
    goto fail;
  /* Only stdio and the fds the launch names go on: an fd cbox itself
   * inherited (a directory its parent left open, say) would be a way out
   * of the sandbox, as bwrap passes every open fd to the command. */
  cbox_run_child_cloexec_from (3);
  for (guint i = 0; i < spawn->n_keep_fds; i++)
    if (fcntl (spawn->keep_fds[i], F_SETFD, 0) < 0)
      goto fail;
  if (spawn->null_stdin)
    {
      int null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
      if (null_fd < 0 || dup2 (null_fd, STDIN_FILENO) < 0)
        goto fail;
    }
  if (spawn->output_fd >= 0
      && (dup2 (spawn->output_fd, STDOUT_FILENO) < 0 || dup2 (spawn->output_fd, STDERR_FILENO) < 0))
    goto fail;
  /* A helper has no business in the project (cbox's folder): it would
   * keep it busy (an unmount of the project's file system fails) for as
   * long as it runs, and the kernel's part of its exit may end after
   * cbox's (cbox_run_end_helper()). */
  if (spawn->root_cwd && chdir ("/") < 0)
    goto fail;
  /* Async-signal-safe: setrlimit() is a system call. */
  if (cbox_run_nofile_raised && setrlimit (RLIMIT_NOFILE, &cbox_run_nofile_original) != 0)
    goto fail;
  execve (spawn->path, (char *const *)spawn->argv, (char *const *)spawn->envp);
fail:
  spawn->child_errno = errno != 0 ? errno : EINVAL;
  _exit (CBOX_EXIT_FAILURE);
}

/* The child's stack: execve() needs little, the fallback of
 * cbox_run_child_cloexec_from() a few calls more. */
#define CBOX_RUN_CHILD_STACK_SIZE (256 * 1024)

/* Starts @path as posix_spawn() does: clone() with CLONE_VM | CLONE_VFORK,
 * so the kernel copies none of cbox's page tables and cbox waits only
 * until the child has exec'd (measured in docs/benchmarks.md: a fork()
 * cost every run a few hundred microseconds). @keep_fds are made
 * inheritable in the child; a failed exec comes back as @error. */
static pid_t
cbox_run_spawn (const char *what, const char *path, const char *const *argv,
                const char *const *envp, const int *keep_fds, guint n_keep_fds, gboolean null_stdin,
                const sigset_t *child_mask, gboolean ignore_forwarded,
                const CboxRunCredentials *creds, int output_fd, gboolean root_cwd,
                const int *join_ns, GError **error)
{
  CboxRunSpawn spawn = { path,
                         argv,
                         envp,
                         keep_fds,
                         n_keep_fds,
                         null_stdin,
                         child_mask,
                         ignore_forwarded,
                         creds,
                         output_fd,
                         root_cwd,
                         join_ns != NULL ? join_ns[0] : -1,
                         join_ns != NULL ? join_ns[1] : -1,
                         getpid (),
                         0 };
  sigset_t all, old_mask;
  void *stack;
  pid_t pid;
  int saved_errno;

  stack = mmap (NULL, CBOX_RUN_CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED)
    {
      saved_errno = errno;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "%s: mmap: %s", what,
                   g_strerror (saved_errno));
      return -1;
    }
  /* No signal handler may run in the child before it reset them. */
  sigfillset (&all);
  sigprocmask (SIG_SETMASK, &all, &old_mask);
  pid = clone (cbox_run_child, (char *)stack + CBOX_RUN_CHILD_STACK_SIZE,
               CLONE_VM | CLONE_VFORK | SIGCHLD, &spawn);
  saved_errno = errno;
  sigprocmask (SIG_SETMASK, &old_mask, NULL);
  munmap (stack, CBOX_RUN_CHILD_STACK_SIZE);
  if (pid < 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "%s: clone: %s", what,
                   g_strerror (saved_errno));
      return -1;
    }
  if (spawn.child_errno != 0)
    {
      cbox_run_wait_ended (pid);
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "%s: cannot run %s: %s", what, path,
                   g_strerror (spawn.child_errno));
      return -1;
    }
  return pid;
}

/* The program a helper or tool argv[0] names: as given with a '/', else
 * looked up in cbox's own PATH (the tool's environment may be empty). */
static char *
cbox_run_find_program (const char *what, const char *argv0, GError **error)
{
  char *path;

  if (strchr (argv0, '/') != NULL)
    return g_strdup (argv0);
  path = g_find_program_in_path (argv0);
  if (path == NULL)
    g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE, "%s: '%s' not found in PATH", what,
                 argv0);
  return path;
}

/* Reaps @pid if it ended; TRUE when it did (and @ret_wstatus, nullable,
 * gets its wait status). */
static gboolean
cbox_run_reap (pid_t pid, int *ret_wstatus)
{
  int wstatus = 0;
  pid_t r;

  do
    r = waitpid (pid, &wstatus, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == pid || (r < 0 && errno == ECHILD))
    {
      if (ret_wstatus != NULL)
        *ret_wstatus = wstatus;
      return TRUE;
    }
  return FALSE;
}

static void
cbox_run_stop_helpers (GArray *running, const sigset_t *wait_set)
{
  gint64 deadline;
  gboolean any = FALSE;

  /* Closing cbox's end of a sync pipe is the polite stop for helpers that
   * watch it; SIGTERM for the others; SIGKILL for whoever is left. */
  for (guint i = 0; i < running->len; i++)
    {
      CboxRunningHelper *h = &g_array_index (running, CboxRunningHelper, i);
      if (h->sync_fd >= 0)
        {
          close (h->sync_fd);
          h->sync_fd = -1;
        }
      if (h->pid > 0 && cbox_run_reap (h->pid, NULL))
        h->pid = 0;
      if (h->pid > 0)
        {
          kill (h->pid, SIGTERM);
          any = TRUE;
        }
    }
  if (!any)
    return;

  deadline = cbox_run_now_ms () + CBOX_HELPER_STOP_TIMEOUT_MS;
  for (;;)
    {
      gboolean alive = FALSE;
      gint64 left;
      struct timespec ts;

      for (guint i = 0; i < running->len; i++)
        {
          CboxRunningHelper *h = &g_array_index (running, CboxRunningHelper, i);
          if (h->pid > 0 && cbox_run_reap (h->pid, NULL))
            h->pid = 0;
          alive |= h->pid > 0;
        }
      left = deadline - cbox_run_now_ms ();
      if (!alive || left <= 0)
        break;
      ts.tv_sec = left / 1000;
      ts.tv_nsec = (left % 1000) * 1000000;
      /* SIGCHLD is blocked: wait for it (or any forwarded signal, which
       * has nothing left to reach now). */
      sigtimedwait (wait_set, NULL, &ts);
    }

  for (guint i = 0; i < running->len; i++)
    {
      CboxRunningHelper *h = &g_array_index (running, CboxRunningHelper, i);
      if (h->pid > 0)
        {
          g_debug ("helper '%s' ignored SIGTERM; killing it", h->helper->name);
          kill (h->pid, SIGKILL);
          cbox_run_wait_ended (h->pid);
          h->pid = 0;
        }
    }
}

static gboolean
cbox_run_wait_helper_ready (CboxRunningHelper *h, gint64 deadline, GError **error)
{
  const CboxHelper *helper = h->helper;

  switch (helper->ready)
    {
    case CBOX_HELPER_READY_NONE:
      return TRUE;

    case CBOX_HELPER_READY_SYNC_FD:
      {
        struct pollfd pfd = { .fd = h->sync_fd, .events = POLLIN };
        char byte;
        ssize_t n;
        int r;

        do
          {
            gint64 left = MAX (deadline - cbox_run_now_ms (), 0);
            r = poll (&pfd, 1, (int)left);
          }
        while (r < 0 && errno == EINTR);
        if (r == 0)
          {
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                         "helper '%s' was not ready after %d s", helper->name,
                         CBOX_HELPER_READY_TIMEOUT_MS / 1000);
            return FALSE;
          }
        do
          n = read (h->sync_fd, &byte, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
          {
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                         "helper '%s' exited before it was ready (see its messages above)",
                         helper->name);
            return FALSE;
          }
        return TRUE;
      }

    case CBOX_HELPER_READY_PATH:
      {
        int wstatus = 0;

        for (;;)
          {
            struct stat st;

            if (helper->ready_path == NULL || lstat (helper->ready_path, &st) == 0)
              return TRUE;
            if (cbox_run_reap (h->pid, &wstatus))
              {
                h->pid = 0;
                g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                             "helper '%s' exited before it created %s (see its messages above)",
                             helper->name, helper->ready_path);
                return FALSE;
              }
            if (cbox_run_now_ms () >= deadline)
              {
                g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                             "helper '%s' was not ready after %d s (no %s)", helper->name,
                             CBOX_HELPER_READY_TIMEOUT_MS / 1000, helper->ready_path);
                return FALSE;
              }
            g_usleep (5000);
          }
      }

    default:
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "helper '%s': unknown readiness %d",
                   helper->name, (int)helper->ready);
      return FALSE;
    }
}

static gboolean
cbox_run_start_helper (const CboxHelper *helper, const sigset_t *child_mask,
                       CboxRunningHelper *ret_running, GError **error)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *path = NULL;
  g_autofree char *what = g_strdup_printf ("helper '%s'", helper->name);
  int sync_pipe[2] = { -1, -1 };
  g_autofree char *fd_str = NULL;
  pid_t pid;

  if (helper->argv == NULL || helper->argv[0] == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "%s has no command", what);
      return FALSE;
    }
  path = cbox_run_find_program (what, helper->argv[0], error);
  if (path == NULL)
    return FALSE;

  if (helper->ready == CBOX_HELPER_READY_SYNC_FD)
    {
      if (pipe2 (sync_pipe, O_CLOEXEC) < 0)
        {
          int saved_errno = errno;
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "%s: pipe: %s", what,
                       g_strerror (saved_errno));
          return FALSE;
        }
      fd_str = g_strdup_printf ("%d", sync_pipe[1]);
    }

  for (guint i = 0; helper->argv[i] != NULL; i++)
    {
      const char *arg = helper->argv[i];
      if (fd_str != NULL && strstr (arg, "{sync-fd}") != NULL)
        {
          g_auto (GStrv) parts = g_strsplit (arg, "{sync-fd}", -1);
          g_ptr_array_add (argv, g_strjoinv (fd_str, parts));
        }
      else
        g_ptr_array_add (argv, g_strdup (arg));
    }
  g_ptr_array_add (argv, NULL);

  /* Helpers run on the host, as cbox does, with cbox's environment; stdin
   * is /dev/null so they never read the user's terminal. */
  pid = cbox_run_spawn (what, path, (const char *const *)argv->pdata, (const char *const *)environ,
                        sync_pipe[1] >= 0 ? &sync_pipe[1] : NULL, sync_pipe[1] >= 0 ? 1 : 0, TRUE,
                        child_mask, FALSE, NULL, -1, FALSE, NULL, error);
  if (sync_pipe[1] >= 0)
    close (sync_pipe[1]);
  if (pid < 0)
    {
      if (sync_pipe[0] >= 0)
        close (sync_pipe[0]);
      return FALSE;
    }
  ret_running->helper = helper;
  ret_running->pid = pid;
  ret_running->sync_fd = sync_pipe[0];
  return TRUE;
}

/* The credentials of user @uid (0: no change) with the supplementary
 * groups the group database gives them; free @creds->groups. */
static void
cbox_run_credentials_init (CboxRunCredentials *creds, uid_t uid, gid_t gid)
{
  struct passwd *pw;
  int n = 64;

  if (uid == 0)
    return;
  pw = getpwuid (uid);
  creds->uid = uid;
  creds->gid = gid;
  creds->groups = g_new (gid_t, n);
  if (pw == NULL)
    {
      creds->groups[0] = creds->gid;
      n = 1;
    }
  else if (getgrouplist (pw->pw_name, creds->gid, creds->groups, &n) < 0)
    {
      creds->groups = g_renew (gid_t, creds->groups, n);
      if (getgrouplist (pw->pw_name, creds->gid, creds->groups, &n) < 0)
        n = 0;
    }
  creds->n_groups = n;
}

pid_t
cbox_run_spawn_helper (const char *what, const char *const *argv, const int *keep_fds,
                       guint n_keep_fds, uid_t uid, gid_t gid, int output_fd, GError **error)
{
  CboxRunCredentials creds = { 0, 0, NULL, 0 };
  g_autofree char *path = NULL;
  sigset_t mask;
  pid_t pid;

  path = cbox_run_find_program (what, argv[0], error);
  if (path == NULL)
    return -1;
  cbox_run_credentials_init (&creds, uid, gid);
  sigprocmask (SIG_SETMASK, NULL, &mask);
  /* The forwarded signals ignored, as for the tool: a terminal's ^C is the
   * command's to handle, not a reason for its network to go. */
  pid = cbox_run_spawn (what, path, argv, (const char *const[]){ NULL }, keep_fds, n_keep_fds, TRUE,
                        &mask, TRUE, &creds, output_fd, TRUE, NULL, error);
  g_free (creds.groups);
  return pid;
}

gboolean
cbox_run_spawn_detached (const char *what, const char *path, const char *const *argv,
                         const int *keep_fds, guint n_keep_fds, GError **error)
{
  sigset_t all, old_mask;
  int wstatus = 0;
  int subreaper = 0;
  pid_t pid;
  int saved_errno;

  /* Not a child of this run: cbox is the subreaper of what it starts
   * (cbox_run_adopt_orphans()) and would adopt, then kill, the process
   * left by the intermediate child. No other process of this run exists
   * yet (the backend's prestart calls this before it starts its tool). */
  prctl (PR_GET_CHILD_SUBREAPER, &subreaper);
  prctl (PR_SET_CHILD_SUBREAPER, 0);
  sigfillset (&all);
  sigprocmask (SIG_SETMASK, &all, &old_mask);
  pid = fork ();
  if (pid == 0)
    {
      /* Async-signal-safe calls only from here on. */
      pid_t grandchild;
      int null_fd;

      if (setsid () < 0)
        _exit (CBOX_EXIT_FAILURE);
      grandchild = fork ();
      if (grandchild != 0)
        _exit (grandchild < 0 ? CBOX_EXIT_FAILURE : 0);
      for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
          signal (sig, SIG_DFL);
      null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
      if (null_fd < 0 || dup2 (null_fd, STDIN_FILENO) < 0 || dup2 (null_fd, STDOUT_FILENO) < 0
          || dup2 (null_fd, STDERR_FILENO) < 0 || chdir ("/") < 0)
        _exit (CBOX_EXIT_FAILURE);
      cbox_run_child_cloexec_from (3);
      for (guint i = 0; i < n_keep_fds; i++)
        if (fcntl (keep_fds[i], F_SETFD, 0) < 0)
          _exit (CBOX_EXIT_FAILURE);
      if (cbox_run_nofile_raised)
        setrlimit (RLIMIT_NOFILE, &cbox_run_nofile_original);
      sigemptyset (&all);
      sigprocmask (SIG_SETMASK, &all, NULL);
      execve (path, (char *const *)argv, (char *const[]){ NULL });
      _exit (CBOX_EXIT_FAILURE);
    }
  saved_errno = errno;
  sigprocmask (SIG_SETMASK, &old_mask, NULL);
  if (pid > 0)
    while (waitpid (pid, &wstatus, 0) < 0 && errno == EINTR)
      ;
  prctl (PR_SET_CHILD_SUBREAPER, subreaper);
  if (pid < 0 || !WIFEXITED (wstatus) || WEXITSTATUS (wstatus) != 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "%s: cannot start %s: %s", what, path,
                   pid < 0 ? g_strerror (saved_errno) : "its first fork failed");
      return FALSE;
    }
  return TRUE;
}

/* The launch's argv as the tool, with @options' credentials and signals. */
static pid_t
cbox_run_spawn_launch (CboxLaunch *launch, const CboxLaunchRunOptions *options,
                       const sigset_t *child_mask, GError **error)
{
  const char *const *argv = cbox_launch_get_argv (launch);
  g_autofree char *path = NULL;
  const int *fds;
  guint n_fds = 0;
  CboxRunCredentials creds = { 0, 0, NULL, 0 };
  int join_ns[2];
  pid_t pid;

  path = cbox_run_find_program (argv[0], argv[0], error);
  if (path == NULL)
    return -1;
  cbox_run_credentials_init (&creds, options->run_as_uid, options->run_as_gid);
  fds = cbox_launch_get_fds (launch, &n_fds);
  cbox_launch_get_namespaces (launch, &join_ns[0], &join_ns[1]);
  pid = cbox_run_spawn (argv[0], path, argv, cbox_launch_get_environ (launch), fds, n_fds, FALSE,
                        child_mask, options->tool_ignores_signals, &creds, -1, FALSE, join_ns,
                        error);
  g_free (creds.groups);
  return pid;
}

pid_t
cbox_launch_spawn (CboxLaunch *launch, const CboxLaunchRunOptions *options, GError **error)
{
  static const CboxLaunchRunOptions no_options = { sizeof (CboxLaunchRunOptions) };
  CboxLaunchRunOptions opts = no_options;
  const char *const *argv;
  sigset_t mask;

  g_return_val_if_fail (launch != NULL, -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);
  argv = cbox_launch_get_argv (launch);
  g_return_val_if_fail (argv != NULL && argv[0] != NULL, -1);

  if (options != NULL)
    memcpy (&opts, options, MIN (options->struct_size, sizeof opts));
  /* The child starts with the mask cbox has now, as it would get it from
   * cbox_launch_run_full(). */
  sigprocmask (SIG_SETMASK, NULL, &mask);
  return cbox_run_spawn_launch (launch, &opts, &mask, error);
}

static int
cbox_run_status_from_wait (int wstatus)
{
  if (WIFEXITED (wstatus))
    return WEXITSTATUS (wstatus);
  if (WIFSIGNALED (wstatus))
    return 128 + WTERMSIG (wstatus);
  return CBOX_EXIT_FAILURE;
}

/* Waits for a signal of the set @sfd (a signalfd) was made for, or for
 * *@ended_fd to become readable: the signal's number (and @ret_code its
 * si_code), 0 for the descriptor, -1 when poll() itself fails. A
 * descriptor at its end without data is watched no more (*@ended_fd
 * becomes -1). */
static int
cbox_run_wait_signal_or_fd (int sfd, int *ended_fd, int *ret_code)
{
  for (;;)
    {
      struct pollfd pfds[2]
          = { { .fd = sfd, .events = POLLIN }, { .fd = *ended_fd, .events = POLLIN } };
      struct signalfd_siginfo si;

      if (poll (pfds, *ended_fd >= 0 ? 2 : 1, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          return -1;
        }
      if ((pfds[0].revents & POLLIN) && read (sfd, &si, sizeof si) == (ssize_t)sizeof si)
        {
          *ret_code = si.ssi_code;
          return (int)si.ssi_signo;
        }
      if (*ended_fd >= 0 && (pfds[1].revents & POLLIN))
        return 0;
      if (*ended_fd >= 0 && (pfds[1].revents & (POLLHUP | POLLERR | POLLNVAL)))
        {
          *ended_fd = -1;
          return 0;
        }
    }
}

/* TRUE when a stop signal came before the tool was let go (caught during
 * planning, or pending now, blocked): the prestarted tool is killed, the
 * command never starts, and the run's status is 128+N. */
static gboolean
cbox_run_stop_pending (const CboxLaunchRunOptions *options, int *ret_status)
{
  int sig = cbox_stops_caught ? cbox_signals_get_stop () : 0;

  if (sig == 0)
    {
      sigset_t set;
      struct timespec zero = { 0, 0 };

      sigemptyset (&set);
      for (guint i = 0; i < G_N_ELEMENTS (cbox_stop_signals); i++)
        sigaddset (&set, cbox_stop_signals[i]);
      sig = sigtimedwait (&set, NULL, &zero);
      if (sig <= 0)
        return FALSE;
      cbox_signals_note_stop (sig);
    }
  if (options->tool_pid > 0)
    {
      /* It may have begun to make the sandbox (bwrap's clone): its
       * children go too. */
      cbox_run_kill_tree (options->tool_pid);
      cbox_run_wait_ended (options->tool_pid);
    }
  *ret_status = 128 + sig;
  return TRUE;
}

static gboolean
cbox_run_main (CboxLaunch *launch, CboxPlan *plan, const CboxLaunchRunOptions *options,
               const sigset_t *wait_set, const sigset_t *child_mask, GArray *running,
               int *ret_status, GError **error)
{
  const char *const *argv = cbox_launch_get_argv (launch);
  gint64 deadline;
  pid_t pid;
  int wstatus = 0;
  gboolean ended = FALSE;
  int ended_status = CBOX_EXIT_FAILURE;
  int ended_fd = -1;
  int sfd = -1;

  g_return_val_if_fail (options->tool_pid > 0 || (argv != NULL && argv[0] != NULL), FALSE);

  if (cbox_run_stop_pending (options, ret_status))
    return TRUE;
  for (guint i = 0; i < cbox_plan_get_n_helpers (plan); i++)
    {
      CboxRunningHelper h = { NULL, 0, -1 };
      if (!cbox_run_start_helper (cbox_plan_get_helper (plan, i), child_mask, &h, error))
        return FALSE;
      g_array_append_val (running, h);
    }
  /* All helpers start at once, then the slowest sets the pace. */
  deadline = cbox_run_now_ms () + CBOX_HELPER_READY_TIMEOUT_MS;
  for (guint i = 0; i < running->len; i++)
    if (!cbox_run_wait_helper_ready (&g_array_index (running, CboxRunningHelper, i), deadline,
                                     error))
      return FALSE;
  /* A stop that came while the helpers started: the command never starts. */
  if (cbox_run_stop_pending (options, ret_status))
    return TRUE;

  if (options->tool_pid > 0)
    {
      /* Started early (cbox_launch_spawn()) and waiting: let it go on. It
       * may have ended meanwhile, its SIGCHLD lost while it was not yet
       * blocked: look once before waiting for it. */
      pid = options->tool_pid;
      if (options->release != NULL)
        options->release (options->user_data);
      if (cbox_run_reap (pid, &wstatus))
        {
          *ret_status = cbox_run_status_from_wait (wstatus);
          return TRUE;
        }
    }
  else
    {
      pid = cbox_run_spawn_launch (launch, options, child_mask, error);
      if (pid < 0)
        return FALSE;
    }
  cbox_plan_notify_spawned (plan);
  if (options->started != NULL)
    options->started (pid, options->user_data);
  if (options->ended != NULL)
    {
      if (options->ended (options->user_data, &ended_status))
        ended = TRUE;
      else if (options->ended_fd >= 0)
        {
          ended_fd = options->ended_fd;
          /* No signalfd (an old kernel, no descriptors left): the run
           * simply waits for the tool's exit. */
          sfd = signalfd (-1, wait_set, SFD_CLOEXEC | SFD_NONBLOCK);
        }
    }

  while (!ended)
    {
      int sig;
      int code;

      if (sfd >= 0)
        {
          sig = cbox_run_wait_signal_or_fd (sfd, &ended_fd, &code);
          if (sig == 0)
            {
              ended = options->ended (options->user_data, &ended_status);
              continue;
            }
          if (sig < 0)
            {
              /* Back to waiting for the tool's exit alone. */
              close (sfd);
              sfd = -1;
              continue;
            }
        }
      else
        {
          siginfo_t info;

          sig = sigwaitinfo (wait_set, &info);
          if (sig < 0)
            continue; /* EINTR: a signal outside the set, with a handler */
          code = info.si_code;
        }
      if (sig == SIGCHLD)
        {
          if (cbox_run_reap (pid, &wstatus))
            break;
          /* A helper ended early: reap it, the sandbox decides whether it
           * still works without it. */
          for (guint i = 0; i < running->len; i++)
            {
              CboxRunningHelper *h = &g_array_index (running, CboxRunningHelper, i);
              if (h->pid > 0 && cbox_run_reap (h->pid, NULL))
                {
                  g_debug ("helper '%s' exited while the sandbox runs", h->helper->name);
                  h->pid = 0;
                }
            }
          continue;
        }
      {
        pid_t target = options->get_signal_target != NULL
                           ? options->get_signal_target (options->user_data)
                           : 0;

        if (target <= 0)
          target = pid;
        /* Kernel-sent signals (a terminal's ^C, ^\, hangup) reached the
         * whole foreground process group already, the command included;
         * passing them on would deliver them twice. Not so when the
         * target is in another process group (nspawn's container runs in
         * a session of its own): it missed them. */
        if (code > 0 && getpgid (target) == getpgrp ())
          continue;
        /* A stop passed on is a stop of the run: should the backend then
         * fail (its tool ended before the command had a status), the run
         * ends with 128+N all the same (cbox_planner_run()). */
        for (guint i = 0; i < G_N_ELEMENTS (cbox_stop_signals); i++)
          if (sig == cbox_stop_signals[i])
            cbox_signals_note_stop (sig);
        kill (target, sig);
      }
    }
  if (sfd >= 0)
    close (sfd);

  if (ended)
    {
      /* The command ended; what is left of the tool is its own exit, which
       * overlaps cbox's cleanup (about 0.1 ms of a short run here). It is
       * reaped after the cleanup, before cbox exits. */
      cbox_plan_set_tool_to_reap (plan, pid);
      *ret_status = ended_status;
      return TRUE;
    }
  *ret_status = cbox_run_status_from_wait (wstatus);
  return TRUE;
}

gboolean
cbox_launch_run_full (CboxLaunch *launch, CboxPlan *plan, const CboxLaunchRunOptions *options,
                      int *ret_status, GError **error)
{
  static const CboxLaunchRunOptions no_options = { sizeof (CboxLaunchRunOptions) };
  CboxLaunchRunOptions opts = no_options;
  g_autoptr (GArray) running = g_array_new (FALSE, TRUE, sizeof (CboxRunningHelper));
  struct sigaction sa_chld = { .sa_handler = SIG_DFL }, old_sa_chld;
  sigset_t wait_set, old_mask;
  gboolean ok;
  gboolean foreground;
  int status = CBOX_EXIT_FAILURE;

  g_return_val_if_fail (launch != NULL, FALSE);
  g_return_val_if_fail (plan != NULL, FALSE);
  g_return_val_if_fail (ret_status != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* A caller built against an older, shorter struct gets zeros for the rest. */
  if (options != NULL)
    memcpy (&opts, options, MIN (options->struct_size, sizeof opts));

  sigemptyset (&wait_set);
  sigaddset (&wait_set, SIGCHLD);
  for (guint i = 0; i < G_N_ELEMENTS (cbox_forwarded_signals); i++)
    sigaddset (&wait_set, cbox_forwarded_signals[i]);
  sigprocmask (SIG_BLOCK, &wait_set, &old_mask);
  /* SIGCHLD ignored would reap our children behind our back. */
  sigaction (SIGCHLD, &sa_chld, &old_sa_chld);

  /* Whether cbox's group has the terminal: cbox-exec may give it to the
   * command's own group inside (core/cbox-exec.c), and it comes back. */
  foreground = isatty (STDIN_FILENO) && tcgetpgrp (STDIN_FILENO) == getpgrp ();
  ok = cbox_run_main (launch, plan, &opts, &wait_set, &old_mask, running, &status, error);
  if (foreground && tcgetpgrp (STDIN_FILENO) != getpgrp ())
    {
      /* From a group that is not in the foreground: SIGTTOU must not stop
       * cbox for it. */
      struct sigaction ignore = { .sa_handler = SIG_IGN }, old;
      sigaction (SIGTTOU, &ignore, &old);
      tcsetpgrp (STDIN_FILENO, getpgrp ());
      sigaction (SIGTTOU, &old, NULL);
    }

  cbox_run_stop_helpers (running, &wait_set);
  cbox_plan_run_cleanups (plan);

  /* A signal that came after the command ended has nothing left to reach;
   * drop it rather than let its default action end cbox on unblock. */
  {
    struct timespec zero = { 0, 0 };
    while (sigtimedwait (&wait_set, NULL, &zero) > 0)
      ;
  }
  sigaction (SIGCHLD, &old_sa_chld, NULL);
  sigprocmask (SIG_SETMASK, &old_mask, NULL);

  if (ok)
    *ret_status = status;
  return ok;
}

gboolean
cbox_launch_run (CboxLaunch *launch, CboxPlan *plan, int *ret_status, GError **error)
{
  return cbox_launch_run_full (launch, plan, NULL, ret_status, error);
}

struct _CboxHelpers
{
  GArray *running; /* CboxRunningHelper */
};

/* The helpers' stop waits for SIGCHLD with sigtimedwait(), which needs it
 * blocked; the caller's mask and handler are back when this returns. */
void
cbox_helpers_stop (CboxHelpers *helpers)
{
  sigset_t chld, old_mask;

  if (helpers == NULL)
    return;
  sigemptyset (&chld);
  sigaddset (&chld, SIGCHLD);
  sigprocmask (SIG_BLOCK, &chld, &old_mask);
  cbox_run_stop_helpers (helpers->running, &chld);
  sigprocmask (SIG_SETMASK, &old_mask, NULL);
  g_array_unref (helpers->running);
  g_free (helpers);
}

CboxHelpers *
cbox_plan_start_helpers (CboxPlan *plan, GError **error)
{
  CboxHelpers *helpers;
  sigset_t mask;
  gint64 deadline;

  g_return_val_if_fail (plan != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  helpers = g_new0 (CboxHelpers, 1);
  helpers->running = g_array_new (FALSE, TRUE, sizeof (CboxRunningHelper));
  /* The helpers start with the mask cbox has now, as they would from
   * cbox_launch_run_full() (which gives them the mask it found). */
  sigprocmask (SIG_SETMASK, NULL, &mask);
  for (guint i = 0; i < cbox_plan_get_n_helpers (plan); i++)
    {
      CboxRunningHelper h = { NULL, 0, -1 };
      if (!cbox_run_start_helper (cbox_plan_get_helper (plan, i), &mask, &h, error))
        {
          cbox_helpers_stop (helpers);
          return NULL;
        }
      g_array_append_val (helpers->running, h);
    }
  deadline = cbox_run_now_ms () + CBOX_HELPER_READY_TIMEOUT_MS;
  for (guint i = 0; i < helpers->running->len; i++)
    if (!cbox_run_wait_helper_ready (&g_array_index (helpers->running, CboxRunningHelper, i),
                                     deadline, error))
      {
        cbox_helpers_stop (helpers);
        return NULL;
      }
  return helpers;
}

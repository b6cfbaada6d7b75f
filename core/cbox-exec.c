/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cbox-exec: the command wrapper that runs inside a sandbox.
 *
 *   cbox-exec [--init] [--allow-userns] [--status-fd FD] [--] COMMAND [ARG...]
 *   cbox-exec [--init] [--allow-userns] [--status-fd FD] --args-fd FD
 *
 * Without options it execs COMMAND (looked up in the PATH of its own
 * environment, which is the sandbox's) and turns a failure into the
 * statuses of env(1): 127 and "cbox: COMMAND: not found" when there is no
 * such command, 126 when it cannot be executed.
 *
 * --init  Stay as the parent of COMMAND: pass SIGINT, SIGTERM, SIGHUP,
 *         SIGQUIT, SIGUSR1 and SIGUSR2 sent to cbox-exec by a process (cbox,
 *         outside the sandbox) on to COMMAND, reap every orphan, and exit
 *         with COMMAND's status (128+N after signal N) as soon as COMMAND
 *         ends. Meant to be pid 1 of the sandbox's pid namespace (bwrap
 *         --as-pid-1); elsewhere it makes itself a child subreaper.
 *
 * --status-fd FD  With --init: once COMMAND has ended, write its status
 *         (as cbox-exec exits with it) to FD as one line,
 *         `{ "cbox-exec-status": N }`, right before exiting. The bwrap
 *         backend learns from it that the command has ended as soon as
 *         it has, while the sandbox is still being taken down, rather than
 *         from bwrap once that is done. COMMAND never has FD.
 *
 * --status-file PATH  As --status-fd, to the file PATH, which cbox-exec
 *         creates (or empties) before it starts COMMAND: its existence says
 *         that COMMAND was started, its line how COMMAND ended. The nspawn
 *         backend reads it after systemd-nspawn has exited, to tell the
 *         command's status from nspawn's own failures.
 *
 * --args-fd FD  Read COMMAND and its arguments from FD instead, and close
 *         FD: the number of words in decimal, then the words, each ended
 *         by a NUL byte. The bwrap backend passes them this way, as
 *         bubblewrap takes at most 9000 arguments of its own. FD may be a
 *         socket the backend writes while cbox-exec reads: a command that
 *         ends early (the writer died) is refused, never run cut short.
 *
 * --scope-abstract  Confine COMMAND to the abstract unix sockets made
 *         inside its own Landlock domain (LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET,
 *         where the kernel has Landlock ABI 6): a second layer behind the
 *         sandbox's own network namespace, given by the backends for every
 *         network mode but host (see cbox-confine.c).
 *
 * --allow-userns  Load the variant of the seccomp filter that lets the
 *         command make new user namespaces (the plan's allow-userns, for
 *         programs that sandbox themselves).
 *
 * Right before it execs COMMAND, cbox-exec confines it as every backend's
 * sandbox does (cbox-confine.c): a fresh session keyring, no capability,
 * no_new_privs and cbox's seccomp filter (cbox-seccomp.c). With --init it
 * confines itself so before it starts COMMAND, which inherits it: COMMAND
 * could otherwise write the memory of its unconfined parent. If any of it
 * fails, COMMAND does not run and cbox-exec exits 125.
 *
 * The forwarded signals are reset to their default action for COMMAND:
 * the backend starts its tool with them ignored (see cbox-run.c). COMMAND
 * gets stdin, stdout and stderr and no other descriptor: everything above
 * is marked close-on-exec first.
 *
 * Plain libc, no GLib, linked statically where possible: the sandbox's
 * /usr may not be the host's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cbox-confine.h"

#define EXIT_CANNOT_EXECUTE 126
#define EXIT_NOT_FOUND 127
#define EXIT_USAGE 125

/* --scope-abstract: the Landlock scopes for COMMAND. */
static unsigned int landlock_scopes;

static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
#define N_FORWARDED (sizeof forwarded_signals / sizeof forwarded_signals[0])

#define USAGE                                                                                      \
  "usage: cbox-exec [--init] [--allow-userns] [--scope-abstract] [--status-fd FD | "               \
  "--status-file PATH] [--] COMMAND [ARG...]\n"                                                    \
  "       cbox-exec [--init] [--allow-userns] [--scope-abstract] [--status-fd FD | --status-file " \
  "PATH] --args-fd FD\n"

static void
usage (void)
{
  fputs (USAGE, stderr);
  exit (EXIT_USAGE);
}

static void
fail (const char *what)
{
  fprintf (stderr, "cbox-exec: %s: %s\n", what, strerror (errno));
  exit (EXIT_USAGE);
}

/* The words in @fd (their number, then the NUL-ended words) as a
 * NULL-terminated argv; @ret_buf gets the buffer they live in. */
static char **
read_args (int fd, char **ret_buf)
{
  size_t size = 0, cap = 65536, n = 0;
  char *buf = malloc (cap);
  char **args;
  char *end;
  unsigned long count;

  if (buf == NULL)
    fail ("malloc");
  for (;;)
    {
      ssize_t r;

      if (size == cap)
        {
          cap *= 2;
          buf = realloc (buf, cap);
          if (buf == NULL)
            fail ("realloc");
        }
      r = read (fd, buf + size, cap - size);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        fail ("--args-fd");
      if (r == 0)
        break;
      size += (size_t)r;
    }
  close (fd);
  /* Nothing at all: cbox stopped the run before the command could start
   * (its network helper failed, say) and says why itself. */
  if (size == 0)
    exit (EXIT_USAGE);
  if (buf[size - 1] != '\0')
    {
      fputs ("cbox-exec: --args-fd: no command, or not NUL-terminated\n", stderr);
      exit (EXIT_USAGE);
    }
  for (size_t k = 0; k < size; k++)
    n += buf[k] == '\0';
  /* The count first: a command cut short at a word's end would otherwise
   * run as another, shorter one. */
  errno = 0;
  count = strtoul (buf, &end, 10);
  if (errno != 0 || end == buf || *end != '\0' || count == 0 || count != n - 1)
    {
      fprintf (stderr, "cbox-exec: --args-fd: incomplete command (%zu words, not %s)\n",
               n > 0 ? n - 1 : 0, buf);
      exit (EXIT_USAGE);
    }
  args = calloc (n, sizeof (char *));
  if (args == NULL)
    fail ("calloc");
  n = 0;
  for (size_t k = strlen (buf) + 1; k < size; k += strlen (buf + k) + 1)
    args[n++] = buf + k;
  *ret_buf = buf;
  return args;
}

static void
reset_signals (const sigset_t *mask)
{
  struct sigaction sa;

  memset (&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (size_t i = 0; i < N_FORWARDED; i++)
    sigaction (forwarded_signals[i], &sa, NULL);
  sigaction (SIGCHLD, &sa, NULL);
  sigprocmask (SIG_SETMASK, mask, NULL);
}

/* Never returns: COMMAND runs, or the reason it cannot is printed.
 * @confined: this process is confined already (--init, see run_init()). */
static void
exec_command (char **argv, CboxSeccompVariant variant, int confined)
{
  const char *what = NULL;
  int saved;
  int r;

  /* The command gets stdin, stdout and stderr, nothing else: a descriptor
   * the backend's tool was handed and did not use (bwrap started early
   * gets a few spare memfds) must not reach it. */
  if (close_range (3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    for (int fd = 3; fd < 1024; fd++)
      fcntl (fd, F_SETFD, FD_CLOEXEC);
  /* Last, so nothing above needs what it takes away. */
  r = confined ? 0 : cbox_confine_scoped (variant, landlock_scopes, &what);
  if (r < 0)
    {
      fprintf (stderr, "cbox-exec: %s: %s\n", what, strerror (-r));
      _exit (EXIT_USAGE);
    }
  execvp (argv[0], argv);
  saved = errno;
  if (saved == ENOENT || saved == ENOTDIR)
    {
      fprintf (stderr, "cbox: %s: not found\n", argv[0]);
      _exit (EXIT_NOT_FOUND);
    }
  fprintf (stderr, "cbox: %s: cannot execute: %s\n", argv[0], strerror (saved));
  _exit (EXIT_CANNOT_EXECUTE);
}

static void
ignore_signal (int sig)
{
  (void)sig;
}

static int
run_init (char **argv, const sigset_t *orig_mask, CboxSeccompVariant variant)
{
  sigset_t set;
  struct sigaction sa;
  pid_t child;

  /* Outside a pid namespace, orphans of COMMAND still come to us. */
  if (getpid () != 1)
    prctl (PR_SET_CHILD_SUBREAPER, 1);

  /* On a terminal, in its foreground: COMMAND gets a foreground process
   * group that exists in the sandbox. The one cbox runs in belongs to
   * the host's pid namespace, where the sandbox sees it as 0, and an
   * interactive shell that saves the terminal's group at start and gives
   * it back at exit (dash) then fails with "Cannot set tty process group
   * (No such process)" and the wrong status. The group is cbox-exec's own
   * (COMMAND inherits it); cbox gives the terminal back to its group when
   * the run ends (core/cbox-run.c). */
  if (isatty (STDIN_FILENO) && tcgetpgrp (STDIN_FILENO) == getpgrp () && getpgrp () != getpid ()
      && setpgid (0, 0) == 0)
    {
      struct sigaction ignore, old;

      memset (&ignore, 0, sizeof ignore);
      ignore.sa_handler = SIG_IGN;
      sigaction (SIGTTOU, &ignore, &old);
      if (tcsetpgrp (STDIN_FILENO, getpgrp ()) < 0)
        (void)0; /* then as before: the command runs in the background group */
      sigaction (SIGTTOU, &old, NULL);
    }

  sigemptyset (&set);
  sigaddset (&set, SIGCHLD);
  for (size_t i = 0; i < N_FORWARDED; i++)
    sigaddset (&set, forwarded_signals[i]);
  sigprocmask (SIG_BLOCK, &set, NULL);
  /* pid 1 only gets the signals it has a handler for; the handler never
   * runs (the signals are blocked and taken by sigwaitinfo). */
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = ignore_signal;
  for (size_t i = 0; i < N_FORWARDED; i++)
    sigaction (forwarded_signals[i], &sa, NULL);

  /* Confined as COMMAND will be, before COMMAND exists. COMMAND runs as
   * our uid and, for a user's command, with the same (no) capabilities,
   * so the kernel lets it open our /proc/PID/mem for writing (no ptrace
   * call, which the filter refuses, needed) and run code of its own here:
   * an unconfined cbox-exec would be the way around the seccomp filter,
   * the fresh keyring and the Landlock scopes. It was, under nspawn run
   * for a user and under bwrap with --network=host (elsewhere only the
   * Landlock scope held it). Made non-dumpable instead, cbox-exec would
   * be out of reach of `cbox enter` too, which reads its /proc entries as
   * the user. What stays here that COMMAND has not is the status it
   * reports, which COMMAND decides anyway. The child inherits all of it
   * (the same keyring, filter and Landlock domain: it is no more confined
   * than we are, so no process of the sandbox is less confined than it). */
  {
    const char *what = NULL;
    int r = cbox_confine_scoped (variant, landlock_scopes, &what);

    if (r < 0)
      {
        fprintf (stderr, "cbox-exec: %s: %s\n", what, strerror (-r));
        return EXIT_USAGE;
      }
  }

  child = fork ();
  if (child < 0)
    {
      fprintf (stderr, "cbox: cannot fork: %s\n", strerror (errno));
      return EXIT_USAGE;
    }
  if (child == 0)
    {
      reset_signals (orig_mask);
      exec_command (argv, variant, 1);
    }

  for (;;)
    {
      siginfo_t info;
      int sig = sigwaitinfo (&set, &info);

      if (sig < 0)
        continue;
      if (sig != SIGCHLD)
        {
          /* Kernel-sent signals (a terminal's ^C) reached COMMAND's
           * process group already; only pass on what a process sent. */
          if (info.si_code <= 0)
            kill (child, sig);
          continue;
        }
      for (;;)
        {
          int wstatus;
          pid_t pid = waitpid (-1, &wstatus, WNOHANG);

          if (pid <= 0)
            break;
          if (pid != child)
            continue;
          /* COMMAND ended: so does the sandbox (the kernel kills what is
           * left in the pid namespace when its pid 1 exits). */
          if (WIFEXITED (wstatus))
            return WEXITSTATUS (wstatus);
          if (WIFSIGNALED (wstatus))
            return 128 + WTERMSIG (wstatus);
        }
    }
}

int
main (int argc, char **argv)
{
  sigset_t orig_mask;
  char **command;
  int args_fd = -1;
  int status_fd = -1;
  char *args_buf = NULL;
  CboxSeccompVariant variant = CBOX_SECCOMP_DEFAULT;
  int init = 0;
  int status;
  int i;

  for (i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--init") == 0)
        init = 1;
      else if (strcmp (argv[i], "--scope-abstract") == 0)
        landlock_scopes |= CBOX_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET;
      else if (strcmp (argv[i], "--allow-userns") == 0)
        variant = CBOX_SECCOMP_ALLOW_USERNS;
      else if (strcmp (argv[i], "--") == 0)
        {
          i++;
          break;
        }
      else if (strcmp (argv[i], "--args-fd") == 0 && i + 1 < argc)
        args_fd = atoi (argv[++i]);
      else if (strcmp (argv[i], "--status-fd") == 0 && i + 1 < argc)
        status_fd = atoi (argv[++i]);
      else if (strcmp (argv[i], "--status-file") == 0 && i + 1 < argc)
        {
          status_fd = open (argv[++i], O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
          if (status_fd < 0)
            fail ("--status-file");
        }
      else if (strcmp (argv[i], "--help") == 0)
        {
          fputs (USAGE, stdout);
          return 0;
        }
      else if (argv[i][0] == '-')
        usage ();
      else
        break;
    }
  if (args_fd >= 0)
    command = read_args (args_fd, &args_buf);
  else if (i < argc)
    command = argv + i;
  else
    usage ();

  sigprocmask (SIG_SETMASK, NULL, &orig_mask);
  for (size_t s = 0; s < N_FORWARDED; s++)
    sigdelset (&orig_mask, forwarded_signals[s]);
  if (!init)
    {
      reset_signals (&orig_mask);
      exec_command (command, variant, 0);
    }
  status = run_init (command, &orig_mask, variant);
  /* The words read from --args-fd live in one buffer. */
  if (args_fd >= 0)
    {
      free (args_buf);
      free (command);
    }
  if (status_fd >= 0)
    {
      char line[64];
      int len = snprintf (line, sizeof line, "{ \"cbox-exec-status\": %d }\n", status);

      /* One write below PIPE_BUF: atomic among bwrap's own status lines
       * on the same pipe. Nobody reading is no reason to fail. */
      signal (SIGPIPE, SIG_IGN);
      if (write (status_fd, line, (size_t)len) < 0)
        (void)0;
    }
  return status;
}

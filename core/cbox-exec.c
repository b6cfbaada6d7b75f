/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cbox-exec: the command wrapper that runs inside a sandbox.
 *
 *   cbox-exec [--init] [--] COMMAND [ARG...]
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
 * The forwarded signals are reset to their default action for COMMAND:
 * the backend starts its tool with them ignored (see cbox-run.c).
 *
 * Plain libc, no GLib, linked statically where possible: the sandbox's
 * /usr may not be the host's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_CANNOT_EXECUTE 126
#define EXIT_NOT_FOUND 127
#define EXIT_USAGE 125

static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
#define N_FORWARDED (sizeof forwarded_signals / sizeof forwarded_signals[0])

static void
usage (void)
{
  fputs ("usage: cbox-exec [--init] [--] COMMAND [ARG...]\n", stderr);
  exit (EXIT_USAGE);
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

/* Never returns: COMMAND runs, or the reason it cannot is printed. */
static void
exec_command (char **argv)
{
  int saved;

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
run_init (char **argv, const sigset_t *orig_mask)
{
  sigset_t set;
  struct sigaction sa;
  pid_t child;

  /* Outside a pid namespace, orphans of COMMAND still come to us. */
  if (getpid () != 1)
    prctl (PR_SET_CHILD_SUBREAPER, 1);

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

  child = fork ();
  if (child < 0)
    {
      fprintf (stderr, "cbox: cannot fork: %s\n", strerror (errno));
      return EXIT_USAGE;
    }
  if (child == 0)
    {
      reset_signals (orig_mask);
      exec_command (argv);
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
  int init = 0;
  int i;

  for (i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--init") == 0)
        init = 1;
      else if (strcmp (argv[i], "--") == 0)
        {
          i++;
          break;
        }
      else if (strcmp (argv[i], "--help") == 0)
        {
          fputs ("usage: cbox-exec [--init] [--] COMMAND [ARG...]\n", stdout);
          return 0;
        }
      else if (argv[i][0] == '-')
        usage ();
      else
        break;
    }
  if (i >= argc)
    usage ();

  sigprocmask (SIG_SETMASK, NULL, &orig_mask);
  for (size_t s = 0; s < N_FORWARDED; s++)
    sigdelset (&orig_mask, forwarded_signals[s]);
  if (!init)
    {
      reset_signals (&orig_mask);
      exec_command (argv + i);
    }
  return run_init (argv + i, &orig_mask);
}

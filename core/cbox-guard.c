/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cbox-private.h"

/* A plugin is trusted code in cbox's own process; a broken one (a bug, a
 * library it pulls in that crashes, a probe that waits for ever) used to
 * take `cbox plan` and `cbox run` down with 134, 135 or 139 and no word,
 * or hang them. While plugin code runs (loading, describe(), probe,
 * contribute, realize, prepare), this guard turns a crash into exit status
 * 125 with a line naming the plugin, what it was doing and the signal, and
 * a hang (no return within the bound) into the same with the time. It is
 * armed and disarmed around each call: two sigaction()s on first use and
 * an alarm() per call, nothing measurable. A crash outside plugin code is
 * cbox's own and stays a crash (the default action runs), so a core dump
 * still shows it.
 *
 * Why not a child process per plugin, as `cbox plugins` and `cbox doctor`
 * use (cbox-registry.c, cbox-doctor.c)? A run must not pay a fork per
 * plugin, and its plugins' probes keep state for contribute in the same
 * process. The guard cannot undo what the plugin did before it crashed,
 * so it does not try to go on: it names the culprit and exits. Nothing is
 * left behind: no sandbox or helper has started yet when plugins probe and
 * contribute, and what a backend started early dies with cbox (its
 * parent-death signal). */

#define CBOX_GUARD_NAME_MAX 96

static volatile sig_atomic_t cbox_guard_active;
static char cbox_guard_plugin[CBOX_GUARD_NAME_MAX];
static char cbox_guard_what[CBOX_GUARD_NAME_MAX];
static unsigned cbox_guard_timeout_s;
static gboolean cbox_guard_installed;
static gboolean cbox_guard_disabled;

static const int cbox_guard_signals[]
    = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS };

static void
guard_append (char *buf, gsize *len, gsize size, const char *text)
{
  for (; *text != '\0' && *len + 1 < size; text++)
    buf[(*len)++] = *text;
  buf[*len] = '\0';
}

static void
guard_append_number (char *buf, gsize *len, gsize size, unsigned value)
{
  char digits[16];
  int n = 0;

  do
    {
      digits[n++] = (char)('0' + value % 10);
      value /= 10;
    }
  while (value > 0 && n < (int)sizeof digits);
  while (n > 0 && *len + 1 < size)
    buf[(*len)++] = digits[--n];
  buf[*len] = '\0';
}

const char *
cbox_plugin_guard_signal_name (int sig)
{
  switch (sig)
    {
    case SIGSEGV:
      return "SIGSEGV, a bad memory access";
    case SIGBUS:
      return "SIGBUS, a bad memory access";
    case SIGILL:
      return "SIGILL, an illegal instruction";
    case SIGFPE:
      return "SIGFPE, an arithmetic error";
    case SIGABRT:
      return "SIGABRT, it aborted";
    case SIGTRAP:
      return "SIGTRAP, a g_error() or a breakpoint";
    case SIGSYS:
      return "SIGSYS, a bad system call";
    default:
      return "a fatal signal";
    }
}

/* Async-signal-safe: only write() and _exit(). */
static void
guard_handler (int sig)
{
  char message[512];
  gsize len = 0;

  if (!cbox_guard_active)
    {
      /* cbox's own crash (or an alarm nobody armed): as if there were no
       * handler. */
      signal (sig, SIG_DFL);
      raise (sig);
      return;
    }
  guard_append (message, &len, sizeof message, "cbox: plugin '");
  guard_append (message, &len, sizeof message, cbox_guard_plugin);
  if (sig == SIGALRM)
    {
      guard_append (message, &len, sizeof message, "' did not return from ");
      guard_append (message, &len, sizeof message, cbox_guard_what);
      guard_append (message, &len, sizeof message, " within ");
      guard_append_number (message, &len, sizeof message, cbox_guard_timeout_s);
      guard_append (message, &len, sizeof message, " s (it hangs)");
    }
  else
    {
      guard_append (message, &len, sizeof message, "' crashed in ");
      guard_append (message, &len, sizeof message, cbox_guard_what);
      guard_append (message, &len, sizeof message, " (signal ");
      guard_append_number (message, &len, sizeof message, (unsigned)sig);
      guard_append (message, &len, sizeof message, ", ");
      guard_append (message, &len, sizeof message, cbox_plugin_guard_signal_name (sig));
      guard_append (message, &len, sizeof message, ")");
    }
  guard_append (message, &len, sizeof message,
                "; cbox stopped, nothing ran. 'cbox plugins' shows its file: fix or remove it, "
                "or leave it out with --no-forward\n");
  if (write (STDERR_FILENO, message, len) < 0)
    {
      /* Nothing else to do. */
    }
  _exit (CBOX_EXIT_FAILURE);
}

static void
guard_install (void)
{
  static char alt_stack[64 * 1024];
  stack_t ss = { .ss_sp = alt_stack, .ss_size = sizeof alt_stack, .ss_flags = 0 };
  struct sigaction sa;

  /* A plugin that overflows its stack still gets its message. */
  sigaltstack (&ss, NULL);
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = guard_handler;
  sa.sa_flags = SA_ONSTACK;
  sigemptyset (&sa.sa_mask);
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_guard_signals); i++)
    sigaction (cbox_guard_signals[i], &sa, NULL);
  sigaction (SIGALRM, &sa, NULL);
  cbox_guard_installed = TRUE;
}

void
cbox_plugin_guard_set_enabled (gboolean enabled)
{
  cbox_guard_disabled = !enabled;
}

guint
cbox_plugin_guard_get_timeout (void)
{
  /* For tests, which cannot wait two minutes for a hang: a shorter (or
   * longer) bound. Ignored by a privileged cbox (secure_getenv). */
  const char *text = secure_getenv ("CBOX_PLUGIN_TIMEOUT_S");
  guint64 value;

  if (text != NULL && g_ascii_string_to_unsigned (text, 10, 1, 3600, &value, NULL))
    return (guint)value;
  return CBOX_PLUGIN_GUARD_TIMEOUT_S;
}

void
cbox_plugin_guard_enter (const char *plugin, const char *what, guint timeout_s)
{
  if (cbox_guard_disabled)
    return;
  if (timeout_s > 0)
    timeout_s = cbox_plugin_guard_get_timeout ();
  if (!cbox_guard_installed)
    guard_install ();
  g_strlcpy (cbox_guard_plugin, plugin != NULL ? plugin : "?", sizeof cbox_guard_plugin);
  g_strlcpy (cbox_guard_what, what, sizeof cbox_guard_what);
  cbox_guard_timeout_s = timeout_s;
  cbox_guard_active = 1;
  alarm (timeout_s);
}

void
cbox_plugin_guard_leave (void)
{
  if (cbox_guard_disabled || !cbox_guard_active)
    return;
  alarm (0);
  cbox_guard_active = 0;
}

/* ---- isolated calls: `cbox plugins` and `cbox doctor` ----------------------- */

/* A diagnosis must survive the plugin it diagnoses: `cbox plugins` loads
 * and describes each file, and `cbox doctor` probes each plugin, in a child
 * process of its own, with a time bound, and reports a crash or a hang as
 * that plugin's. What the child learnt comes back through a pipe. */
gboolean
cbox_plugin_run_isolated (CboxIsolatedFunc func, gpointer data, guint timeout_s, GByteArray *output,
                          int *ret_wait_status, gboolean *ret_timed_out)
{
  int fds[2];
  pid_t pid;
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_s * G_USEC_PER_SEC;
  gboolean timed_out = FALSE;
  int wait_status = 0;

  if (pipe2 (fds, O_CLOEXEC) != 0)
    return FALSE;
  fflush (stdout);
  fflush (stderr);
  pid = fork ();
  if (pid < 0)
    {
      close (fds[0]);
      close (fds[1]);
      return FALSE;
    }
  if (pid == 0)
    {
      /* The child dies of what the plugin does: the parent reports it. */
      close (fds[0]);
      cbox_plugin_guard_set_enabled (FALSE);
      for (gsize i = 0; i < G_N_ELEMENTS (cbox_guard_signals); i++)
        signal (cbox_guard_signals[i], SIG_DFL);
      signal (SIGALRM, SIG_DFL);
      func (data, fds[1]);
      _exit (0);
    }
  close (fds[1]);
  for (;;)
    {
      struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
      gint64 left_ms = (deadline - g_get_monotonic_time ()) / 1000;
      guint8 buf[4096];
      ssize_t n;
      int ready;

      if (left_ms <= 0)
        {
          timed_out = TRUE;
          break;
        }
      ready = poll (&pfd, 1, (int)MIN (left_ms, G_MAXINT));
      if (ready < 0 && errno == EINTR)
        continue;
      if (ready == 0)
        continue;
      n = read (fds[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      g_byte_array_append (output, buf, (guint)n);
    }
  close (fds[0]);
  if (timed_out)
    kill (pid, SIGKILL);
  while (waitpid (pid, &wait_status, 0) < 0 && errno == EINTR)
    ;
  *ret_wait_status = wait_status;
  *ret_timed_out = timed_out;
  return TRUE;
}

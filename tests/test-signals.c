/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Signals at any moment (issue 18): SIGTERM, SIGINT and SIGHUP sent to a
 * `cbox run` at many points of its start-up, from its first instruction
 * (planning, the early bwrap, nspawn's root, the command's start) to the
 * command running. Every time the run must end with 128+N, cbox must not
 * die of the signal's default action, and nothing may be left: no process
 * of the run, no registry entry, no nspawn root. With the real bwrap (as
 * root and, through run-as-user.sh, as an unprivileged user) and the real
 * systemd-nspawn (root only: it needs root). qemu is left out: each run
 * boots a VM, and 41 boots under TCG would take most of CI's time; its
 * signal handling before the command starts is in plugins/qemu's tests. */

#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-test-util.h"

/* From 0 to 20 ms after the start, every 0.5 ms. */
#define STEP_US 500
#define LAST_US 20000

typedef struct
{
  const char *backend;
  char *top;
  char *project;
  char **env;
  char *nspawn_state;
  guint runs;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->backend = data;
  f->top = cbox_test_make_dir ("signals");
  f->project = g_build_filename (f->top, "project", NULL);
  g_assert_cmpint (g_mkdir (f->project, 0755), ==, 0);
  f->env = cbox_test_environ (NULL);
  f->nspawn_state = g_build_filename (f->top, "nspawn-state", NULL);
  g_assert_cmpint (g_mkdir (f->nspawn_state, 0700), ==, 0);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_free (f->top);
  g_free (f->project);
  g_free (f->nspawn_state);
  g_strfreev (f->env);
}

/* Everything @fd gives until its end. */
static char *
read_all (int fd)
{
  g_autoptr (GString) out = g_string_new (NULL);
  char buf[4096];
  ssize_t n;

  while ((n = read (fd, buf, sizeof buf)) != 0)
    {
      if (n < 0)
        {
          g_assert_cmpint (errno, ==, EINTR);
          continue;
        }
      g_string_append_len (out, buf, n);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Whether any process runs the word @marker or works in @dir. */
static gboolean
some_process_left (const char *marker, const char *dir, char **ret_what)
{
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *cmdline_path = NULL;
      g_autofree char *cwd_path = NULL;
      g_autofree char *cmdline = NULL;
      g_autofree char *cwd = NULL;
      gsize len = 0;

      if (!g_ascii_isdigit (name[0]) || atoi (name) == getpid ())
        continue;
      cmdline_path = g_strdup_printf ("/proc/%s/cmdline", name);
      cwd_path = g_strdup_printf ("/proc/%s/cwd", name);
      if (g_file_get_contents (cmdline_path, &cmdline, &len, NULL))
        for (gsize at = 0; at < len; at += strlen (cmdline + at) + 1)
          if (g_str_equal (cmdline + at, marker))
            {
              *ret_what = g_strdup_printf ("process %s runs %s", name, marker);
              return TRUE;
            }
      cwd = g_file_read_link (cwd_path, NULL);
      if (cwd != NULL && g_str_equal (cwd, dir))
        {
          *ret_what = g_strdup_printf ("process %s works in %s", name, dir);
          return TRUE;
        }
    }
  return FALSE;
}

/* The registry entries of every project under the fixture's state folder. */
static guint
count_registry_entries (Fixture *f)
{
  const char *state = g_environ_getenv (f->env, "XDG_STATE_HOME");
  g_autofree char *projects = g_build_filename (state, "cbox", "projects", NULL);
  g_autoptr (GDir) dir = g_dir_open (projects, 0, NULL);
  const char *name;
  guint n = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *running = g_build_filename (projects, name, "running", NULL);
      g_autoptr (GDir) entries = g_dir_open (running, 0, NULL);
      while (entries != NULL && g_dir_read_name (entries) != NULL)
        n++;
    }
  return n;
}

/* nspawn's per-run roots (and their locks), in the state folder of this
 * test's own (other suites may run nspawn at the same time). */
static guint
count_nspawn_roots (Fixture *f)
{
  g_autoptr (GDir) dir = g_dir_open (f->nspawn_state, 0, NULL);
  guint n = 0;

  while (dir != NULL && g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* The bit of @sig in one of /proc/PID/status's signal masks. */
static gboolean
mask_has (const char *status, const char *field, int sig)
{
  const char *line = strstr (status, field);
  guint64 mask;

  if (line == NULL)
    return FALSE;
  mask = g_ascii_strtoull (line + strlen (field), NULL, 16);
  return (mask >> (sig - 1)) & 1;
}

/* Until @pid blocks or catches SIGTERM (cbox's main() ran its first
 * instruction), or has ended. */
static void
wait_for_main (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int)pid);

  for (;;)
    {
      g_autofree char *status = NULL;

      if (!g_file_get_contents (path, &status, NULL, NULL) || strstr (status, "State:\tZ") != NULL)
        return;
      if (mask_has (status, "SigBlk:\t", SIGTERM) || mask_has (status, "SigCgt:\t", SIGTERM))
        return;
    }
}

static void
stop_at (Fixture *f, int sig, guint delay_us)
{
  g_autofree char *marker = g_strdup_printf ("29.%06u", ++f->runs);
  g_autofree char *backend_arg = g_strconcat ("--backend=", f->backend, NULL);
  g_autofree char *project_arg = g_strconcat ("--project=", f->project, NULL);
  const char *cbox = g_getenv ("CBOX");
  g_autofree char *state_arg = g_strconcat ("--set=nspawn.state-dir=", f->nspawn_state, NULL);
  const char *argv[]
      = { cbox, backend_arg, state_arg, "run", project_arg, "--", "sleep", marker, NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *what = NULL;
  int err_fd = -1;
  g_autofree char *err = NULL;
  int wstatus = 0;
  GPid pid;

  g_assert_true (g_spawn_async_with_pipes (f->project, (char **)argv, f->env,
                                           G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, NULL, NULL,
                                           &err_fd, &error));
  g_assert_no_error (error);
  /* The clock starts at cbox's first instruction: main() blocks the stop
   * signals first thing (then a run catches them). Before that the
   * dynamic loader runs, where a signal has its default action in any
   * program, with nothing made yet to clean up. */
  wait_for_main (pid);
  if (delay_us > 0)
    g_usleep (delay_us);
  g_assert_cmpint (kill (pid, sig), ==, 0);
  err = read_all (err_fd);
  close (err_fd);
  while (waitpid (pid, &wstatus, 0) < 0)
    g_assert_cmpint (errno, ==, EINTR);

  if (WIFSIGNALED (wstatus))
    g_error ("%s: cbox died of signal %d %u us after its start (the default action: no "
             "clean-up); stderr: %s",
             f->backend, WTERMSIG (wstatus), delay_us, err);
  if (!WIFEXITED (wstatus) || WEXITSTATUS (wstatus) != 128 + sig)
    g_error ("%s: signal %d %u us after the start: exit status %d, expected %d; stderr: %s",
             f->backend, sig, delay_us, WIFEXITED (wstatus) ? WEXITSTATUS (wstatus) : -1, 128 + sig,
             err);
  /* Stopped, not failed: no error of cbox's own. */
  if (strstr (err, "cbox: ") != NULL)
    g_error ("%s: signal %d %u us after the start: cbox printed an error: %s", f->backend, sig,
             delay_us, err);
  if (some_process_left (marker, f->project, &what))
    g_error ("%s: signal %d %u us after the start: left behind: %s", f->backend, sig, delay_us,
             what);
  g_assert_cmpuint (count_registry_entries (f), ==, 0);
  g_assert_cmpuint (count_nspawn_roots (f), ==, 0);
}

static gboolean
backend_usable (Fixture *f)
{
  if (!cbox_test_backend_is_built (f->backend))
    {
      g_test_skip ("backend not built");
      return FALSE;
    }
  if (g_str_equal (f->backend, "bwrap") && g_find_program_in_path ("bwrap") == NULL)
    {
      cbox_test_skip_or_fail ("bwrap is not installed (apt install bubblewrap)");
      return FALSE;
    }
  if (g_str_equal (f->backend, "nspawn"))
    {
      g_autofree char *nspawn = g_find_program_in_path ("systemd-nspawn");
      if (geteuid () != 0)
        {
          g_test_skip ("nspawn needs root (this run is an unprivileged user's)");
          return FALSE;
        }
      if (nspawn == NULL)
        {
          cbox_test_skip_or_fail ("systemd-nspawn is not installed (apt install "
                                  "systemd-container)");
          return FALSE;
        }
    }
  return TRUE;
}

static void
test_term_everywhere (Fixture *f, gconstpointer data)
{
  if (!backend_usable (f))
    return;
  for (guint us = 0; us <= LAST_US; us += STEP_US)
    stop_at (f, SIGTERM, us);
}

static void
test_int_hup (Fixture *f, gconstpointer data)
{
  if (!backend_usable (f))
    return;
  for (guint us = 0; us <= LAST_US; us += 8 * STEP_US)
    {
      stop_at (f, SIGINT, us);
      stop_at (f, SIGHUP, us);
    }
}

int
main (int argc, char **argv)
{
  static const char *const backends[] = { "bwrap", "nspawn" };

  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (backends); i++)
    {
      g_autofree char *term = g_strdup_printf ("/signals/%s/term-during-start-up", backends[i]);
      g_autofree char *int_hup
          = g_strdup_printf ("/signals/%s/int-hup-during-start-up", backends[i]);
      g_test_add (term, Fixture, backends[i], fixture_setup, test_term_everywhere,
                  fixture_teardown);
      g_test_add (int_hup, Fixture, backends[i], fixture_setup, test_int_hup, fixture_teardown);
    }
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the generic run (core/cbox-run.c), which the bwrap and
 * nspawn backends share: exit statuses, signals, helpers, fds, cleanups.
 * The "tool" is /bin/sh, so these need no sandbox. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-private.h"

static int
run_sh (CboxPlan *plan, const char *script, GError **error)
{
  g_autoptr (CboxLaunch) launch = cbox_launch_new ();
  int status = -1;

  cbox_launch_add_args (launch, "/bin/sh", "-c", script, NULL);
  if (!cbox_launch_run (launch, plan, &status, error))
    return -1;
  return status;
}

static void
test_status (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (run_sh (plan, "exit 0", &error), ==, 0);
  g_assert_no_error (error);
  g_assert_cmpint (run_sh (plan, "exit 3", &error), ==, 3);
  g_assert_no_error (error);
  g_assert_cmpint (run_sh (plan, "kill -9 $$", &error), ==, 128 + SIGKILL);
  g_assert_no_error (error);
}

static void
test_tool_missing (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (CboxLaunch) launch = cbox_launch_new ();
  g_autoptr (GError) error = NULL;
  int status = -1;

  cbox_launch_add_arg (launch, "/nonexistent/cbox-tool");
  g_assert_false (cbox_launch_run (launch, plan, &status, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND);
  g_assert_nonnull (strstr (error->message, "/nonexistent/cbox-tool"));
  g_assert_cmpint (status, ==, -1);
}

static void
test_environ_and_fds (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (CboxLaunch) launch = cbox_launch_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *script = NULL;
  const char *const envp[] = { "CBOX_TEST_VAR=value", NULL };
  int fd, status = -1;

  fd = cbox_memfd_new_sealed ("test", "hello", 5, &error);
  g_assert_no_error (error);
  cbox_launch_take_fd (launch, fd);
  cbox_launch_set_environ (launch, envp);
  /* Only the launch's environment; the fd inherited at its number. */
  script = g_strdup_printf ("test \"$CBOX_TEST_VAR\" = value && test -z \"${HOME+x}\" && "
                            "test \"$(cat /proc/self/fd/%d)\" = hello",
                            fd);
  cbox_launch_add_args (launch, "/bin/sh", "-c", script, NULL);
  g_assert_true (cbox_launch_run (launch, plan, &status, &error));
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
}

/* An fd cbox inherited without close-on-exec does not reach the tool;
 * the launch's own fds do. */
static void
test_stray_fd_closed (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (CboxLaunch) launch = cbox_launch_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *script = NULL;
  int stray = open ("/", O_RDONLY | O_DIRECTORY); /* no O_CLOEXEC, on purpose */
  int kept, status = -1;

  g_assert_cmpint (stray, >=, 0);
  kept = cbox_memfd_new_sealed ("kept", "k", 1, &error);
  g_assert_no_error (error);
  cbox_launch_take_fd (launch, kept);
  script = g_strdup_printf ("test ! -e /proc/self/fd/%d && test -e /proc/self/fd/%d", stray, kept);
  cbox_launch_add_args (launch, "/bin/sh", "-c", script, NULL);
  g_assert_true (cbox_launch_run (launch, plan, &status, &error));
  g_assert_no_error (error);
  close (stray);
  g_assert_cmpint (status, ==, 0);
}

static void
count_cleanup (gpointer user_data)
{
  int *order = user_data;
  *order = *order * 10 + 1;
}

static void
count_cleanup2 (gpointer user_data)
{
  int *order = user_data;
  *order = *order * 10 + 2;
}

static void
test_cleanups (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  int order = 0;

  cbox_plan_add_cleanup (plan, count_cleanup, &order, NULL);
  cbox_plan_add_cleanup (plan, count_cleanup2, &order, NULL);
  g_assert_cmpint (run_sh (plan, "exit 0", &error), ==, 0);
  /* Last in, first out, before run returns. */
  g_assert_cmpint (order, ==, 21);
}

/* Sends @sig to this process once @ready_path exists, from a child process
 * (a thread would take the signal itself: only the run's thread blocks it). */
static pid_t
signal_when_ready (const char *ready_path, int sig)
{
  pid_t parent = getpid ();
  pid_t pid = fork ();

  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      for (int i = 0; i < 1000 && !g_file_test (ready_path, G_FILE_TEST_EXISTS); i++)
        g_usleep (10000);
      kill (parent, sig);
      _exit (0);
    }
  return pid;
}

typedef struct
{
  int ended_fd;
  pid_t tool;
} EndedData;

static void
ended_started (pid_t pid, gpointer user_data)
{
  ((EndedData *)user_data)->tool = pid;
}

/* The tool's "ended N" line: its command ended with status N. */
static gboolean
ended_read (gpointer user_data, int *ret_status)
{
  EndedData *d = user_data;
  char buf[64];
  ssize_t n = read (d->ended_fd, buf, sizeof buf - 1);

  if (n <= 0)
    return FALSE;
  buf[n] = '\0';
  return sscanf (buf, "ended %d", ret_status) == 1;
}

/* CboxLaunchRunOptions.ended: the run returns once the tool says its
 * command ended, with that status, while the tool itself still runs; the
 * plan reaps it afterwards. Without the line, the run waits for the tool
 * as usual. */
static void
test_ended (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  EndedData d = { -1, 0 };
  CboxLaunchRunOptions options = {
    .struct_size = sizeof (CboxLaunchRunOptions),
    .user_data = &d,
    .started = ended_started,
    .ended = ended_read,
  };
  int ended_pipe[2], hold_pipe[2];
  int status = -1;

  g_assert_no_errno (pipe2 (ended_pipe, O_CLOEXEC));
  g_assert_no_errno (pipe2 (hold_pipe, O_CLOEXEC));
  g_assert_no_errno (fcntl (ended_pipe[0], F_SETFL, O_NONBLOCK));
  d.ended_fd = options.ended_fd = ended_pipe[0];

  {
    g_autoptr (CboxLaunch) launch = cbox_launch_new ();
    g_autofree char *script
        = g_strdup_printf ("echo 'ended 7' >&%d; read x <&%d; exit 0", ended_pipe[1], hold_pipe[0]);

    cbox_launch_take_fd (launch, ended_pipe[1]);
    cbox_launch_take_fd (launch, hold_pipe[0]);
    cbox_launch_add_args (launch, "/bin/sh", "-c", script, NULL);
    g_assert_true (cbox_launch_run_full (launch, plan, &options, &status, &error));
    g_assert_no_error (error);
  }
  g_assert_cmpint (status, ==, 7);
  g_assert_cmpint (d.tool, >, 0);
  /* Returned while the tool waits for the test: not reaped, still there. */
  g_assert_cmpint (waitpid (d.tool, NULL, WNOHANG), ==, 0);
  close (hold_pipe[1]);
  cbox_plan_reap_tool (plan);
  g_assert_cmpint (waitpid (d.tool, NULL, WNOHANG), ==, -1);
  g_assert_cmpint (errno, ==, ECHILD);

  /* No line: the tool's own exit status, nothing left to reap. */
  {
    g_autoptr (CboxLaunch) launch = cbox_launch_new ();

    cbox_launch_add_args (launch, "/bin/sh", "-c", "exit 4", NULL);
    d.tool = 0;
    g_assert_true (cbox_launch_run_full (launch, plan, &options, &status, &error));
    g_assert_no_error (error);
    g_assert_cmpint (status, ==, 4);
    g_assert_cmpint (waitpid (d.tool, NULL, WNOHANG), ==, -1);
    g_assert_cmpint (errno, ==, ECHILD);
  }
  close (ended_pipe[0]);
}

static void
test_signal_forwarded (gconstpointer data)
{
  int sig = GPOINTER_TO_INT (data);
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-launch-run-XXXXXX", NULL);
  g_autofree char *ready = g_build_filename (dir, "ready", NULL);
  g_autofree char *script = NULL;
  pid_t killer;
  int status;

  /* The command traps the signal and exits 40 + N: it got the signal
   * itself, not cbox's death. */
  script = g_strdup_printf ("trap 'exit %d' %d; touch '%s'; i=0; "
                            "while [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; exit 99",
                            40 + sig, sig, ready);
  killer = signal_when_ready (ready, sig);
  status = run_sh (plan, script, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 40 + sig);
  waitpid (killer, NULL, 0);
  g_unlink (ready);
  g_rmdir (dir);
}

static void
test_signal_default_action (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-launch-run-XXXXXX", NULL);
  g_autofree char *ready = g_build_filename (dir, "ready", NULL);
  g_autofree char *script = NULL;
  pid_t killer;
  int status;

  /* exec: the shell becomes sleep, which dies of SIGTERM: 128 + 15. */
  script = g_strdup_printf ("touch '%s'; exec sleep 100", ready);
  killer = signal_when_ready (ready, SIGTERM);
  status = run_sh (plan, script, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 128 + SIGTERM);
  waitpid (killer, NULL, 0);
  g_unlink (ready);
  g_rmdir (dir);
}

static gboolean
pid_alive (const char *pid_file)
{
  g_autofree char *contents = NULL;
  pid_t pid;

  g_assert_true (g_file_get_contents (pid_file, &contents, NULL, NULL));
  pid = (pid_t)g_ascii_strtoll (contents, NULL, 10);
  g_assert_cmpint (pid, >, 1);
  return kill (pid, 0) == 0;
}

static void
test_helper_sync_fd (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-launch-run-XXXXXX", NULL);
  g_autofree char *marker = g_build_filename (dir, "started", NULL);
  g_autofree char *pid_file = g_build_filename (dir, "pid", NULL);
  g_autofree char *helper_script = NULL;
  g_autofree char *script = NULL;
  char **argv;

  /* The helper is slow to start; the command must only run once it wrote
   * its byte, and the helper must be gone when run returns. */
  helper_script = g_strdup_printf ("sleep 0.3; echo $$ > '%s'; touch '%s'; "
                                   "printf x > /proc/self/fd/{sync-fd}; exec sleep 100",
                                   pid_file, marker);
  argv = g_new0 (char *, 4);
  argv[0] = g_strdup ("sh");
  argv[1] = g_strdup ("-c");
  argv[2] = g_steal_pointer (&helper_script);
  cbox_plan_take_helper (plan, "test helper", argv, CBOX_HELPER_READY_SYNC_FD, NULL);
  script = g_strdup_printf ("test -e '%s'", marker);
  g_assert_cmpint (run_sh (plan, script, &error), ==, 0);
  g_assert_no_error (error);
  g_assert_false (pid_alive (pid_file));
  g_unlink (marker);
  g_unlink (pid_file);
  g_rmdir (dir);
}

static void
test_helper_path (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-launch-run-XXXXXX", NULL);
  g_autofree char *socket_path = g_build_filename (dir, "socket", NULL);
  g_autofree char *pid_file = g_build_filename (dir, "pid", NULL);
  g_autofree char *script = NULL;
  char **argv;

  argv = g_new0 (char *, 4);
  argv[0] = g_strdup ("/bin/sh");
  argv[1] = g_strdup ("-c");
  /* Ignores SIGTERM: the run must still end it (SIGKILL). */
  argv[2] = g_strdup_printf ("trap '' TERM; echo $$ > '%s'; sleep 0.2; touch '%s'; "
                             "while :; do sleep 0.05; done",
                             pid_file, socket_path);
  cbox_plan_take_helper (plan, "stubborn helper", argv, CBOX_HELPER_READY_PATH, socket_path);
  script = g_strdup_printf ("test -e '%s'", socket_path);
  g_assert_cmpint (run_sh (plan, script, &error), ==, 0);
  g_assert_no_error (error);
  g_assert_false (pid_alive (pid_file));
  g_unlink (socket_path);
  g_unlink (pid_file);
  g_rmdir (dir);
}

static void
test_helper_dies (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  char **argv;
  int cleaned = 0;

  argv = g_new0 (char *, 4);
  argv[0] = g_strdup ("sh");
  argv[1] = g_strdup ("-c");
  argv[2] = g_strdup ("exit 1");
  cbox_plan_take_helper (plan, "dying helper", argv, CBOX_HELPER_READY_SYNC_FD, NULL);
  cbox_plan_add_cleanup (plan, count_cleanup, &cleaned, NULL);
  g_assert_cmpint (run_sh (plan, "exit 0", &error), ==, -1);
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND);
  g_assert_nonnull (strstr (error->message, "dying helper"));
  /* Cleanups run on the error path too. */
  g_assert_cmpint (cleaned, ==, 1);
}

static void
test_helper_missing (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  char **argv = g_new0 (char *, 2);

  argv[0] = g_strdup ("cbox-no-such-helper-program");
  cbox_plan_take_helper (plan, "absent helper", argv, CBOX_HELPER_READY_NONE, NULL);
  g_assert_cmpint (run_sh (plan, "exit 0", &error), ==, -1);
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "absent helper"));
  g_assert_nonnull (strstr (error->message, "cbox-no-such-helper-program"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/run/status", test_status);
  g_test_add_func ("/run/tool-missing", test_tool_missing);
  g_test_add_func ("/run/environ-and-fds", test_environ_and_fds);
  g_test_add_func ("/run/cleanups", test_cleanups);
  g_test_add_func ("/run/ended", test_ended);
  g_test_add_func ("/run/stray-fd-closed", test_stray_fd_closed);
  g_test_add_data_func ("/run/signal/int", GINT_TO_POINTER (SIGINT), test_signal_forwarded);
  g_test_add_data_func ("/run/signal/term", GINT_TO_POINTER (SIGTERM), test_signal_forwarded);
  g_test_add_data_func ("/run/signal/hup", GINT_TO_POINTER (SIGHUP), test_signal_forwarded);
  g_test_add_data_func ("/run/signal/usr1", GINT_TO_POINTER (SIGUSR1), test_signal_forwarded);
  g_test_add_func ("/run/signal/default-action", test_signal_default_action);
  g_test_add_func ("/run/helper/sync-fd", test_helper_sync_fd);
  g_test_add_func ("/run/helper/path-and-sigkill", test_helper_path);
  g_test_add_func ("/run/helper/dies-before-ready", test_helper_dies);
  g_test_add_func ("/run/helper/missing", test_helper_missing);
  return g_test_run ();
}

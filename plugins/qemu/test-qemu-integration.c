/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The qemu backend booting real VMs through the built cbox. Each boot costs
 * seconds under TCG (CI has no KVM), so each test checks several things in
 * one boot; six boots in all. */

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cbox-test-util.h"

static const char *panic_init_path;

/* Skips (fails under CI) when this host cannot boot a VM at all. */
static gboolean
require_qemu (void)
{
  g_autofree char *qemu = cbox_test_require_program ("qemu-system-x86_64");
  g_autoptr (GDir) boot = NULL;
  const char *name;

  if (qemu == NULL)
    return FALSE;
  boot = g_dir_open ("/boot", 0, NULL);
  while (boot != NULL && (name = g_dir_read_name (boot)) != NULL)
    if (g_str_has_prefix (name, "vmlinuz-"))
      return TRUE;
  cbox_test_skip_or_fail ("no kernel image in /boot (apt install linux-image-amd64)");
  return FALSE;
}

static gboolean
has_line (const char *text, const char *line)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  return g_strv_contains ((const char *const *)lines, line);
}

/* Runs cbox with @args through sh, with the shell redirections
 * @redirections applied to cbox itself ("<&- >&-", "</dev/null"); what
 * cbox writes to the streams left as pipes is captured. */
static void
run_redirected (const char *redirections, const char *const *args, const char *cwd,
                const char *const *envp, CboxTestResult *result)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *script = g_strdup_printf ("exec \"$@\" %s", redirections);
  g_autoptr (GError) error = NULL;
  int status;

  cbox_test_result_clear (result);
  g_ptr_array_add (argv, (gpointer) "/bin/sh");
  g_ptr_array_add (argv, (gpointer) "-c");
  g_ptr_array_add (argv, script);
  g_ptr_array_add (argv, (gpointer) "sh");
  g_ptr_array_add (argv, (gpointer)cbox_test_cbox_path ());
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer)args[i]);
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (cwd, (char **)argv->pdata, (char **)envp, G_SPAWN_DEFAULT, NULL, NULL, &result->out,
                &result->err, &status, &error);
  g_assert_no_error (error);
  result->out_len = strlen (result->out);
  result->status = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
  g_test_message ("cbox exited %d\n--- stdout\n%s--- stderr\n%s", result->status, result->out,
                  result->err);
}

/* Output, exit status 7, isolation (home, environment, network) and a
 * SQLite database in WAL mode in the project, in one boot. */
static void
test_run_isolated (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *project = NULL;
  g_autofree char *written = NULL;
  g_autofree char *sqlite = cbox_test_require_program ("sqlite3");
  g_auto (GStrv) envp = NULL;
  g_autofree char *marker = NULL;
  g_autoptr (GError) error = NULL;
  const char *script
      = "echo hello-from-vm\n"
        "echo secret=${CBOX_QEMU_TEST_SECRET-unset}\n"
        "if test -e \"$HOME/host-home-marker\"; then echo home-visible; else echo home-hidden; fi\n"
        "echo net: $(ls /sys/class/net)\n"
        "sqlite3 db.sqlite 'PRAGMA journal_mode=WAL;' 'CREATE TABLE t (x);' "
        "'INSERT INTO t VALUES (42);' 'SELECT x FROM t;'\n"
        "echo written > from-vm.txt\n"
        "echo to-stderr >&2\n"
        "cat; echo cat-rc=$?\n"
        "echo stdin=$(readlink /proc/self/fd/0)\n"
        "exit 7\n";

  if (!require_qemu () || sqlite == NULL)
    return;
  envp = cbox_test_environ ((const char *const[]){ "CBOX_QEMU_TEST_SECRET=leaked", NULL });
  marker = g_build_filename (g_environ_getenv (envp, "HOME"), "host-home-marker", NULL);
  g_file_set_contents (marker, "x", -1, &error);
  g_assert_no_error (error);
  project = cbox_test_make_dir ("project with space");

  /* stdin is the host's /dev/null: the guest's /dev/null, end of file at
   * once (not a port that waits). */
  run_redirected ("</dev/null",
                  (const char *const[]){ "run", "--backend=qemu", "--set=qemu.accel=tcg",
                                         "--network=off", "--", "sh", "-c", script, NULL },
                  project, (const char *const *)envp, &result);
  cbox_test_assert_status (&result, 7);
  g_assert_true (has_line (result.out, "cat-rc=0"));
  g_assert_true (has_line (result.out, "stdin=/dev/null"));
  /* stderr is not a terminal: no progress line. */
  g_assert_null (strstr (result.err, "cbox: qemu:"));
  g_assert_null (strstr (result.err, "\033[K"));
  g_assert_true (has_line (result.out, "hello-from-vm"));
  g_assert_true (has_line (result.out, "secret=unset"));
  g_assert_true (has_line (result.out, "home-hidden"));
  /* Network off: no card, loopback only. */
  g_assert_true (has_line (result.out, "net: lo"));
  g_assert_true (has_line (result.out, "wal"));
  g_assert_true (has_line (result.out, "42"));
  /* stderr stays apart from stdout. */
  g_assert_null (strstr (result.out, "to-stderr"));
  g_assert_nonnull (strstr (result.err, "to-stderr"));

  {
    g_autofree char *path = g_build_filename (project, "from-vm.txt", NULL);
    g_file_get_contents (path, &written, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (written, ==, "written\n");
  }
  /* The database the VM wrote is whole on the host. */
  {
    g_autofree char *db = g_build_filename (project, "db.sqlite", NULL);
    g_autofree char *out = NULL;
    int status;
    const char *argv[] = { sqlite, db, "SELECT x FROM t;", NULL };
    g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL, &status,
                  &error);
    g_assert_no_error (error);
    g_assert_cmpstr (out, ==, "42\n");
  }
}

/* cbox started with stdin and stdout closed: the command's are closed too
 * (EBADF), never one of cbox's own files reused at that number (it used to
 * read the generated /etc/passwd as its input). */
static void
test_stdio_closed (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *project = NULL;
  g_auto (GStrv) envp = NULL;
  const char *script
      = "cat >&2; echo cat-in=$? >&2\n"
        "cat /proc/version; echo cat-out=$? >&2\n"
        "if test -e /proc/self/fd/0; then echo fd0-open; else echo fd0-closed; fi >&2\n"
        "if test -e /proc/self/fd/1; then echo fd1-open >&2; else echo fd1-closed >&2; fi\n"
        "exit 4\n";

  if (!require_qemu ())
    return;
  envp = cbox_test_environ (NULL);
  project = cbox_test_make_dir ("project");
  run_redirected ("<&- >&-",
                  (const char *const[]){ "run", "--backend=qemu", "--set=qemu.accel=tcg",
                                         "--network=off", "--", "sh", "-c", script, NULL },
                  project, (const char *const *)envp, &result);
  cbox_test_assert_status (&result, 4);
  g_assert_true (has_line (result.err, "cat: -: Bad file descriptor"));
  g_assert_true (has_line (result.err, "cat: standard output: Bad file descriptor"));
  g_assert_true (has_line (result.err, "cat-in=1"));
  g_assert_true (has_line (result.err, "cat-out=1"));
  g_assert_true (has_line (result.err, "fd0-closed"));
  g_assert_true (has_line (result.err, "fd1-closed"));
  g_assert_null (strstr (result.err, "root:"));
}

/* 200 binds of separate folders, half read-only, and one writable single
 * file: all in place inside, writes reach the host where allowed, and the
 * guest has a bounded number of devices (serial ports, metadata, one
 * read-only and one read-write export). As root, and (qemu-integration-user)
 * as an unprivileged user, whose binds are staged in a user namespace of
 * QEMU's own. */
static void
test_many_binds (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *project = NULL;
  g_autofree char *sources = NULL;
  g_autofree char *single = NULL;
  g_autofree char *written = NULL;
  g_autoptr (GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) envp = NULL;
  g_autoptr (GError) error = NULL;
  const char *script = "cat /b/d0/f /b/d199/f /b/single\n"
                       "echo from-vm > /b/d1/new\n"
                       "if echo x 2>/dev/null > /b/d0/new; then echo ro-writable; fi\n"
                       "echo binds=$(ls /b | wc -l)\n"
                       "echo devices=$(ls /sys/bus/virtio/devices | wc -l)\n";

  if (!require_qemu ())
    return;
  envp = cbox_test_environ (NULL);
  project = cbox_test_make_dir ("project");
  sources = cbox_test_make_dir ("sources");

  g_ptr_array_add (args, g_strdup ("run"));
  g_ptr_array_add (args, g_strdup ("--backend=qemu"));
  g_ptr_array_add (args, g_strdup ("--set=qemu.accel=tcg"));
  g_ptr_array_add (args, g_strdup ("--network=off"));
  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *dir = g_strdup_printf ("%s/d%u", sources, i);
      g_autofree char *file = g_build_filename (dir, "f", NULL);
      g_autofree char *content = g_strdup_printf ("%u\n", i);
      g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
      g_file_set_contents (file, content, -1, &error);
      g_assert_no_error (error);
      g_ptr_array_add (args,
                       g_strdup_printf ("--%s=%s:/b/d%u", i % 2 ? "bind" : "ro-bind", dir, i));
    }
  single = g_build_filename (sources, "single", NULL);
  g_file_set_contents (single, "single\n", -1, &error);
  g_assert_no_error (error);
  g_ptr_array_add (args, g_strdup_printf ("--bind=%s:/b/single", single));
  g_ptr_array_add (args, g_strdup ("--"));
  g_ptr_array_add (args, g_strdup ("sh"));
  g_ptr_array_add (args, g_strdup ("-c"));
  g_ptr_array_add (args, g_strdup (script));
  g_ptr_array_add (args, NULL);

  run_redirected ("</dev/null", (const char *const *)args->pdata, project,
                  (const char *const *)envp, &result);
  cbox_test_assert_status (&result, 0);
  g_assert_cmpstr (result.out, ==, "0\n199\nsingle\nbinds=201\ndevices=4\n");
  {
    g_autofree char *path = g_build_filename (sources, "d1", "new", NULL);
    g_autofree char *ro_path = g_build_filename (sources, "d0", "new", NULL);
    g_file_get_contents (path, &written, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (written, ==, "from-vm\n");
    g_assert_false (g_file_test (ro_path, G_FILE_TEST_EXISTS));
  }
}

/* As another user (root acting for uid 65534, as under sudo): a pipe on
 * stdin reaches the command whole with its end of file, the file it writes
 * in the project is that user's on the host, and exit status 0. */
static void
test_run_as_user_with_pipe (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *project = NULL;
  g_autofree char *path = NULL;
  g_auto (GStrv) envp = NULL;
  struct stat st;
  const char *input = "line one\nline two, no newline at the end";

  if (!require_qemu ())
    return;
  if (!cbox_test_is_root ())
    {
      cbox_test_skip_or_fail ("acting for another user needs root");
      return;
    }
  envp = cbox_test_environ (
      (const char *const[]){ "SUDO_UID=65534", "SUDO_GID=65534", "SUDO_USER=nobody", NULL });
  project = cbox_test_make_dir ("project");
  g_assert_cmpint (chown (project, 65534, 65534), ==, 0);

  g_assert_true (
      cbox_test_run ((const char *const[]){ "run", "--backend=qemu", "--set=qemu.accel=tcg", "--",
                                            "sh", "-c", "cat; id -u > owned.txt", NULL },
                     project, (const char *const *)envp, input, &result));
  cbox_test_assert_status (&result, 0);
  g_assert_cmpstr (result.out, ==, input);
  path = g_build_filename (project, "owned.txt", NULL);
  g_assert_cmpint (stat (path, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, 65534);
  g_assert_cmpuint (st.st_gid, ==, 65534);
}

/* Without --accel: KVM when it works; where /dev/kvm opens but a guest
 * does not come up (nested virtualization), cbox says so, boots with TCG
 * and caches the verdict. */
static void
test_accel_auto (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *project = NULL;
  g_autofree char *config = NULL;
  g_autofree char *verdict = NULL;
  g_auto (GStrv) envp = NULL;
  g_autoptr (GError) error = NULL;

  if (!require_qemu ())
    return;
  envp = cbox_test_environ (NULL);
  project = cbox_test_make_dir ("project");
  config = g_build_filename (project, "..", "qemu-auto.conf", NULL);
  /* qemu64 under nested KVM is what hangs a guest early in boot on the
   * machines this was written on (cpu=host makes QEMU abort instead: the same
   * verdict, by another path). Elsewhere it boots under KVM or TCG. */
  g_file_set_contents (config, "[qemu]\nkvm-timeout=15\ncpu=qemu64\n", -1, &error);
  g_assert_no_error (error);
  {
    g_autofree char *config_arg = g_strconcat ("--config=", config, NULL);
    g_assert_true (cbox_test_run (
        (const char *const[]){ "run", config_arg, "--backend=qemu", "--", "cat", NULL }, project,
        (const char *const *)envp, "kept across the retry\n", &result));
  }
  g_test_message ("cbox said: %s", result.err);
  cbox_test_assert_status (&result, 0);
  /* Not a byte of stdin went to a VM that was given up. */
  g_assert_cmpstr (result.out, ==, "kept across the retry\n");
  verdict = g_build_filename (g_environ_getenv (envp, "XDG_CACHE_HOME"), "cbox", "qemu",
                              "kvm-verdict", NULL);
  if (strstr (result.err, "falling back to TCG") != NULL)
    g_assert_true (g_file_test (verdict, G_FILE_TEST_IS_REGULAR));
  else
    g_assert_false (g_file_test (verdict, G_FILE_TEST_EXISTS));
}

/* A guest kernel panic is cbox's failure (125) with the reason. */
static void
test_kernel_panic (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *project = NULL;
  g_autofree char *config = NULL;
  g_autofree char *content = NULL;
  g_autofree char *config_arg = NULL;
  g_auto (GStrv) envp = NULL;
  g_autoptr (GError) error = NULL;

  if (!require_qemu ())
    return;
  envp = cbox_test_environ (NULL);
  project = cbox_test_make_dir ("project");
  config = g_build_filename (project, "..", "qemu-panic.conf", NULL);
  /* An init that exits at once: "Attempted to kill init!" */
  content = g_strdup_printf ("[qemu]\ninit=%s\n", panic_init_path);
  g_file_set_contents (config, content, -1, &error);
  g_assert_no_error (error);
  config_arg = g_strconcat ("--config=", config, NULL);
  g_assert_true (cbox_test_run ((const char *const[]){ "run", config_arg, "--backend=qemu",
                                                       "--set=qemu.accel=tcg", "--", "true", NULL },
                                project, (const char *const *)envp, NULL, &result));
  g_test_message ("cbox said: %s", result.err);
  cbox_test_assert_status (&result, 125);
  g_assert_nonnull (strstr (result.err, "the guest kernel panicked: Attempted to kill init"));
}

/* A VM that does not come up in time (boot-timeout=1: under TCG no kernel
 * reaches the init in a second) is 125 with why: the accelerator, how far
 * the init got, the serial log's tail. */
static void
test_no_sign_of_life (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *project = NULL;
  g_autofree char *config = NULL;
  g_autofree char *config_arg = NULL;
  g_auto (GStrv) envp = NULL;
  g_autoptr (GError) error = NULL;

  if (!require_qemu ())
    return;
  envp = cbox_test_environ (NULL);
  project = cbox_test_make_dir ("project");
  config = g_build_filename (project, "..", "qemu-timeout.conf", NULL);
  g_file_set_contents (config, "[qemu]\nboot-timeout=1\n", -1, &error);
  g_assert_no_error (error);
  config_arg = g_strconcat ("--config=", config, NULL);
  g_assert_true (cbox_test_run ((const char *const[]){ "run", config_arg, "--backend=qemu",
                                                       "--set=qemu.accel=tcg", "--", "true", NULL },
                                project, (const char *const *)envp, NULL, &result));
  g_test_message ("cbox said: %s", result.err);
  cbox_test_assert_status (&result, 125);
  g_assert_nonnull (strstr (result.err, "no sign of life from the VM within 1 s under TCG"));
  g_assert_nonnull (strstr (result.err, "last init mark: "));
  g_assert_nonnull (strstr (result.err, "serial log: "));
  g_assert_nonnull (strstr (result.err, "boot-timeout"));
}

/* SIGTERM to cbox reaches the command inside (128+15 comes back), and the
 * run leaves nothing in its runtime directory. */
static void
test_signal_and_cleanup (void)
{
  g_autofree char *project = NULL;
  g_autofree char *runtime = NULL;
  g_autofree char *started = NULL;
  g_autofree char *run_base = NULL;
  g_auto (GStrv) envp = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = NULL;
  GPid pid;
  int status;
  const char *argv[] = {
    cbox_test_cbox_path (),     "run", "--backend=qemu", "--set=qemu.accel=tcg", "--", "sh", "-c",
    "touch started; sleep 600", NULL
  };

  if (!require_qemu ())
    return;
  runtime = cbox_test_make_dir ("runtime");
  g_assert_cmpint (g_chmod (runtime, 0700), ==, 0);
  {
    g_autofree char *runtime_env = g_strconcat ("XDG_RUNTIME_DIR=", runtime, NULL);
    envp = cbox_test_environ ((const char *const[]){ runtime_env, NULL });
  }
  project = cbox_test_make_dir ("project");
  started = g_build_filename (project, "started", NULL);
  g_spawn_async (project, (char **)argv, envp,
                 G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL, &pid, &error);
  g_assert_no_error (error);
  if (!cbox_test_wait_for_path (started, 300))
    {
      kill (pid, SIGKILL);
      waitpid (pid, NULL, 0);
      g_error ("the command did not start within 300 s");
    }
  run_base = g_build_filename (runtime, "cbox-qemu", NULL);
  g_assert_true (g_file_test (run_base, G_FILE_TEST_IS_DIR));
  kill (pid, SIGTERM);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 128 + SIGTERM);

  dir = g_dir_open (run_base, 0, &error);
  g_assert_no_error (error);
  g_assert_null (g_dir_read_name (dir));
}

/* The entries of @path whose name holds @part (all with NULL). */
static guint
count_entries (const char *path, const char *part)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  guint n = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (part == NULL || strstr (name, part) != NULL)
      n++;
  return n;
}

/* A run killed with SIGKILL (its VM goes with it; its directory stays until
 * the next run sweeps it), then four runs at once in the same project: all
 * exit 0 with their own output, the killed run's directory is swept, and
 * nothing is left in the runtime directory nor, as root (virtiofs for the
 * project), in /run/virtiofsd. */
static void
test_concurrent_and_killed (void)
{
  g_autofree char *project = NULL;
  g_autofree char *runtime = NULL;
  g_autofree char *run_base = NULL;
  g_autofree char *started = NULL;
  g_auto (GStrv) envp = NULL;
  g_autoptr (GError) error = NULL;
  GPid pid;
  const char *killed_argv[] = {
    cbox_test_cbox_path (),     "run", "--backend=qemu", "--set=qemu.accel=tcg", "--", "sh", "-c",
    "touch started; sleep 600", NULL
  };
  GSubprocess *runs[4];

  if (!require_qemu ())
    return;
  runtime = cbox_test_make_dir ("runtime");
  g_assert_cmpint (g_chmod (runtime, 0700), ==, 0);
  {
    g_autofree char *runtime_env = g_strconcat ("XDG_RUNTIME_DIR=", runtime, NULL);
    envp = cbox_test_environ ((const char *const[]){ runtime_env, NULL });
  }
  project = cbox_test_make_dir ("project");
  run_base = g_build_filename (runtime, "cbox-qemu", NULL);
  started = g_build_filename (project, "started", NULL);

  g_spawn_async (project, (char **)killed_argv, envp,
                 G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL, &pid, &error);
  g_assert_no_error (error);
  while (!g_file_test (started, G_FILE_TEST_EXISTS))
    {
      int status;
      if (waitpid (pid, &status, WNOHANG) == pid)
        g_error ("cbox ended (status %d) before the command started", status);
      g_usleep (50 * 1000);
    }
  kill (pid, SIGKILL);
  g_assert_cmpint (waitpid (pid, NULL, 0), ==, pid);
  g_assert_cmpuint (count_entries (run_base, NULL), ==, 1);

  for (guint i = 0; i < G_N_ELEMENTS (runs); i++)
    {
      g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
          G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
      g_autofree char *command
          = g_strdup_printf ("echo run-%u; echo stdin=$(readlink /proc/self/fd/0)", i);

      g_subprocess_launcher_set_environ (launcher, envp);
      g_subprocess_launcher_set_cwd (launcher, project);
      g_subprocess_launcher_set_stdin_file_path (launcher, "/dev/null");
      runs[i] = g_subprocess_launcher_spawn (launcher, &error, cbox_test_cbox_path (), "run",
                                             "--backend=qemu", "--set=qemu.accel=tcg", "--", "sh",
                                             "-c", command, NULL);
      g_assert_no_error (error);
    }
  for (guint i = 0; i < G_N_ELEMENTS (runs); i++)
    {
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;
      g_autofree char *expected = g_strdup_printf ("run-%u\nstdin=/dev/null\n", i);

      g_subprocess_communicate_utf8 (runs[i], NULL, NULL, &out, &err, &error);
      g_assert_no_error (error);
      g_test_message ("run %u said: %s", i, err);
      g_assert_true (g_subprocess_get_if_exited (runs[i]));
      g_assert_cmpint (g_subprocess_get_exit_status (runs[i]), ==, 0);
      g_assert_cmpstr (out, ==, expected);
      g_object_unref (runs[i]);
    }
  g_assert_cmpuint (count_entries (run_base, NULL), ==, 0);
  /* virtiofsd names its pid files after its socket's path, '/' written
   * '.'; other suites' runs may leave theirs there meanwhile. */
  {
    g_autofree char *escaped = g_strdup (runtime);
    g_strdelimit (escaped, "/", '.');
    g_assert_cmpuint (count_entries ("/run/virtiofsd", escaped), ==, 0);
  }
}

/* The user's terminal is the VM's console: inside, the command's stdio is a
 * real tty (hvc0) of the terminal's size, and the status comes back. The
 * terminal is a pty from script(1). */
static void
test_terminal (void)
{
  g_autofree char *script = cbox_test_require_program ("script");
  g_autofree char *project = NULL;
  g_autofree char *cbox_quoted = NULL;
  g_autofree char *line = NULL;
  g_autofree char *out = NULL;
  g_auto (GStrv) envp = NULL;
  g_autoptr (GError) error = NULL;
  int status;

  if (script == NULL || !require_qemu ())
    return;
  envp = cbox_test_environ (NULL);
  project = cbox_test_make_dir ("project");
  cbox_quoted = g_shell_quote (cbox_test_cbox_path ());
  line = g_strdup_printf (
      "stty rows 21 cols 77; %s run --backend=qemu --set=qemu.accel=tcg -- sh -c "
      "'echo tty=$(tty); echo size=$(stty size); exit 3'",
      cbox_quoted);
  /* script(1) turns the end of its stdin (/dev/null: at once, during the
   * boot) into a ^D typed on the terminal: the line discipline keeps it as
   * a NUL marker, which used to reach the guest as a stray "^@". */
  {
    g_autoptr (GSubprocessLauncher) launcher
        = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_autoptr (GSubprocess) proc = NULL;
    g_autoptr (GBytes) stdout_bytes = NULL;
    g_autoptr (GOutputStream) memory = g_memory_output_stream_new_resizable ();

    g_subprocess_launcher_set_environ (launcher, envp);
    g_subprocess_launcher_set_cwd (launcher, project);
    g_subprocess_launcher_set_stdin_file_path (launcher, "/dev/null");
    proc = g_subprocess_launcher_spawn (launcher, &error, script, "-qec", line, "/dev/null", NULL);
    g_assert_no_error (error);
    g_output_stream_splice (memory, g_subprocess_get_stdout_pipe (proc),
                            G_OUTPUT_STREAM_SPLICE_NONE, NULL, &error);
    g_assert_no_error (error);
    g_subprocess_wait (proc, NULL, &error);
    g_assert_no_error (error);
    status = g_subprocess_get_status (proc);
    g_output_stream_write (memory, "", 1, NULL, NULL);
    g_output_stream_close (memory, NULL, NULL);
    stdout_bytes = g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (memory));
    out = g_strdup (g_bytes_get_data (stdout_bytes, NULL));
    /* No NUL byte came through. */
    g_assert_cmpuint (strlen (out), ==, g_bytes_get_size (stdout_bytes) - 1);
  }
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 3);
  /* Through a pty: lines end in CR LF. stderr is the terminal too, so the
   * boot showed its progress line, erased before the command's first
   * byte; nothing else precedes. */
  g_assert_nonnull (strstr (out, "tty=/dev/hvc0\r\n"));
  g_assert_nonnull (strstr (out, "size=21 77\r\n"));
  g_assert_null (strstr (out, "^@"));
  g_assert_true (g_str_has_prefix (out, "\r\033[Kcbox: qemu: "));
  {
    const char *command_output = strstr (out, "tty=");
    g_assert_nonnull (command_output);
    g_assert_true (command_output - out >= 4);
    g_assert_cmpmem (command_output - 4, 4, "\r\033[K", 4);
    g_assert_null (strstr (command_output, "cbox: qemu:"));
  }
}

/* Starts @argv (a daemon) and waits until it made @path; fails when it
 * ends first. */
static GSubprocess *
start_daemon (const char *const *argv, char **envp, const char *path)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
      G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autoptr (GError) error = NULL;
  GSubprocess *proc;

  g_subprocess_launcher_set_environ (launcher, envp);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  while (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      if (g_subprocess_get_identifier (proc) == NULL)
        g_error ("%s ended before it made %s", argv[0], path);
      g_usleep (20 * 1000);
    }
  return proc;
}

static void
stop_daemon (GSubprocess *proc)
{
  if (proc == NULL)
    return;
  g_subprocess_force_exit (proc);
  g_subprocess_wait (proc, NULL, NULL);
  g_object_unref (proc);
}

/* Unix-socket binds over the relay, in one boot: a real nix-daemon on a
 * scratch store (nix store ping inside reaches it, and the daemon logs the
 * connection). The SSH agent through its filter, a plan helper, is
 * /ssh/integration/qemu/agent-filtered. */
static void
test_sockets (void)
{
  g_autofree char *nix_daemon = cbox_test_require_program ("nix-daemon");
  g_autofree char *dir = NULL;
  g_autofree char *nix_sock = NULL;
  g_autofree char *conf_dir = NULL;
  g_autofree char *project = NULL;
  g_auto (GStrv) envp = NULL;
  g_auto (GStrv) daemon_env = NULL;
  g_auto (CboxTestResult) result = { 0 };
  g_autoptr (GError) error = NULL;
  GSubprocess *nix_proc;

  if (nix_daemon == NULL || !require_qemu ())
    return;
  dir = cbox_test_make_dir ("sockets");
  project = cbox_test_make_dir ("project");
  envp = cbox_test_environ (NULL);

  /* nix-daemon on a scratch store, as in the nix forwarder's own test. */
  nix_sock = g_build_filename (dir, "nix.sock", NULL);
  conf_dir = g_build_filename (dir, "etc", NULL);
  g_assert_cmpint (g_mkdir_with_parents (conf_dir, 0755), ==, 0);
  {
    g_autofree char *conf = g_build_filename (conf_dir, "nix.conf", NULL);
    g_autofree char *store = g_build_filename (dir, "store", NULL);
    g_autofree char *state = g_build_filename (dir, "var", NULL);
    g_autofree char *logs = g_build_filename (dir, "log", NULL);
    g_file_set_contents (conf,
                         "build-users-group =\nsandbox = false\n"
                         "experimental-features = nix-command\n",
                         -1, &error);
    g_assert_no_error (error);
    daemon_env = g_get_environ ();
    daemon_env = g_environ_setenv (daemon_env, "NIX_STORE_DIR", store, TRUE);
    daemon_env = g_environ_setenv (daemon_env, "NIX_STATE_DIR", state, TRUE);
    daemon_env = g_environ_setenv (daemon_env, "NIX_LOG_DIR", logs, TRUE);
    daemon_env = g_environ_setenv (daemon_env, "NIX_CONF_DIR", conf_dir, TRUE);
    daemon_env = g_environ_setenv (daemon_env, "NIX_DAEMON_SOCKET_PATH", nix_sock, TRUE);
  }
  nix_proc = start_daemon ((const char *const[]){ nix_daemon, NULL }, daemon_env, nix_sock);
  envp = g_environ_setenv (envp, "NIX_DAEMON_SOCKET_PATH", nix_sock, TRUE);

  run_redirected ("</dev/null",
                  (const char *const[]){ "run", "--backend=qemu", "--set=qemu.accel=tcg",
                                         "--network=off", "--forward=nix", "--", "sh", "-c",
                                         "nix --extra-experimental-features nix-command store "
                                         "ping 2>&1; echo ping=$?",
                                         NULL },
                  project, (const char *const *)envp, &result);
  stop_daemon (nix_proc);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "daemon"));
  g_assert_true (has_line (result.out, "ping=0"));
}

/* ---- a host server that stops reading ---------------------------------------- */

typedef struct
{
  int stalled_listener; /* never reads what it is sent */
  int echo_listener;    /* answers one line, once the other is full */
  GMutex lock;
  GCond cond;
  gboolean stalled;  /* the stalled server's queue is full and stays so */
  gboolean finished; /* the test is over: the threads let go */
  gsize queued;      /* what the stalled server holds unread */
  gboolean echoed;
} StallServers;

static int
listen_unix (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpuint (strlen (path), <, sizeof addr.sun_path);
  strcpy (addr.sun_path, path);
  g_assert_cmpint (bind (fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (fd, 8), ==, 0);
  return fd;
}

/* Accepts every connection (the pipewire forwarder's probe makes one
 * too) and never reads from any; says "stalled" once the guest's flood
 * (the connection whose bytes start with FLOOD) has a queue that has
 * stopped growing, which is when whoever writes to it (cbox's relay) can
 * write no more. */
static gpointer
stalled_server (gpointer data)
{
  StallServers *servers = data;
  g_autoptr (GArray) conns = g_array_new (FALSE, FALSE, sizeof (int));
  int flood = -1;
  int last = -1;
  guint same = 0;

  for (;;)
    {
      struct pollfd pfd = { servers->stalled_listener, POLLIN, 0 };
      int queued = 0;

      g_mutex_lock (&servers->lock);
      if (servers->finished)
        {
          g_mutex_unlock (&servers->lock);
          break;
        }
      g_mutex_unlock (&servers->lock);
      if (poll (&pfd, 1, 10) > 0 && (pfd.revents & POLLIN))
        {
          int fd = accept4 (servers->stalled_listener, NULL, NULL, SOCK_CLOEXEC);
          if (fd >= 0)
            g_array_append_val (conns, fd);
        }
      for (guint i = 0; flood < 0 && i < conns->len; i++)
        {
          char head[5];
          int fd = g_array_index (conns, int, i);
          if (recv (fd, head, sizeof head, MSG_PEEK | MSG_DONTWAIT) == (ssize_t)sizeof head
              && memcmp (head, "FLOOD", sizeof head) == 0)
            flood = fd;
        }
      if (flood < 0)
        continue;
      g_assert_cmpint (ioctl (flood, FIONREAD, &queued), ==, 0);
      same = queued == last ? same + 1 : 0;
      last = queued;
      /* Queued bytes that have not moved for a second, with 64 MiB still
       * to come: the writer can write no more. (The kernel counts a unix
       * socket's limit in buffer overhead too, so the count of bytes says
       * little.) */
      if (same >= 100)
        {
          g_mutex_lock (&servers->lock);
          servers->stalled = TRUE;
          servers->queued = (gsize)queued;
          g_cond_broadcast (&servers->cond);
          g_mutex_unlock (&servers->lock);
        }
    }
  for (guint i = 0; i < conns->len; i++)
    close (g_array_index (conns, int, i));
  return NULL;
}

/* Reads one line, waits until the other server is stalled, answers. */
static gpointer
echo_server (gpointer data)
{
  StallServers *servers = data;
  int fd = accept4 (servers->echo_listener, NULL, NULL, SOCK_CLOEXEC);
  char line[256];
  gsize len = 0;

  if (fd < 0)
    return NULL;
  while (len < sizeof line - 1)
    {
      ssize_t got = read (fd, line + len, 1);
      if (got <= 0)
        break;
      len++;
      if (line[len - 1] == '\n')
        break;
    }
  line[len] = '\0';
  g_mutex_lock (&servers->lock);
  while (!servers->stalled && !servers->finished)
    g_cond_wait (&servers->cond, &servers->lock);
  g_mutex_unlock (&servers->lock);
  {
    g_autofree char *answer = g_strdup_printf ("echo:%s", line);
    g_assert_cmpint (write (fd, answer, strlen (answer)), ==, (gssize)strlen (answer));
  }
  g_mutex_lock (&servers->lock);
  servers->echoed = TRUE;
  g_mutex_unlock (&servers->lock);
  close (fd);
  return NULL;
}

/* A host server that stops reading stalls nothing but its own socket: in
 * one boot, the guest floods one relayed socket (its server never reads:
 * everything between them fills up) while a round trip on another relayed
 * socket must still complete, and the run must still end with the
 * command's status. The two sockets are the pipewire forwarder's
 * (PIPEWIRE_REMOTE and PULSE_SERVER name any socket; their probes look
 * for a socket, not for a server that talks). The echo server answers
 * only once the stalled one's queue is full and stays so: a relay whose
 * writes block is stuck by then and never carries the answer back. */
static void
test_relay_stall (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *stalled_path = NULL;
  g_autofree char *echo_path = NULL;
  g_autofree char *pulse = NULL;
  g_autofree char *project = NULL;
  g_auto (GStrv) envp = NULL;
  g_auto (CboxTestResult) result = { 0 };
  StallServers servers = { -1, -1 };
  GThread *threads[2];

  if (!require_qemu ())
    return;
  dir = cbox_test_make_dir ("stall");
  project = cbox_test_make_dir ("project");
  stalled_path = g_build_filename (dir, "stalled.sock", NULL);
  echo_path = g_build_filename (dir, "echo.sock", NULL);
  g_mutex_init (&servers.lock);
  g_cond_init (&servers.cond);
  servers.stalled_listener = listen_unix (stalled_path);
  servers.echo_listener = listen_unix (echo_path);
  threads[0] = g_thread_new ("stalled", stalled_server, &servers);
  threads[1] = g_thread_new ("echo", echo_server, &servers);

  pulse = g_strconcat ("unix:", echo_path, NULL);
  envp = cbox_test_environ (NULL);
  envp = g_environ_setenv (envp, "PIPEWIRE_REMOTE", stalled_path, TRUE);
  envp = g_environ_setenv (envp, "PULSE_SERVER", pulse, TRUE);
  run_redirected ("</dev/null",
                  (const char *const[]){ "run", "--backend=qemu", "--set=qemu.accel=tcg",
                                         "--network=off", "--forward=pipewire", "--", "sh", "-c",
                                         "a=${PIPEWIRE_REMOTE:-$XDG_RUNTIME_DIR/pipewire-0}\n"
                                         "b=${PULSE_SERVER#unix:}\n"
                                         "python3 -c 'import socket, sys\n"
                                         "s = socket.socket(socket.AF_UNIX)\n"
                                         "s.connect(sys.argv[1])\n"
                                         "s.sendall(b\"FLOOD\" + bytes(64 << 20))' \"$a\" &\n"
                                         "echo ping | nc.openbsd -U \"$b\"; echo nc=$?\n"
                                         "exit 7",
                                         NULL },
                  project, (const char *const *)envp, &result);

  g_mutex_lock (&servers.lock);
  servers.finished = TRUE;
  g_cond_broadcast (&servers.cond);
  g_mutex_unlock (&servers.lock);
  /* The echo server may still wait in accept() when the run failed early. */
  shutdown (servers.echo_listener, SHUT_RDWR);
  shutdown (servers.stalled_listener, SHUT_RDWR);
  g_thread_join (threads[0]);
  g_thread_join (threads[1]);
  close (servers.stalled_listener);
  close (servers.echo_listener);

  cbox_test_assert_status (&result, 7);
  g_assert_true (has_line (result.out, "echo:ping"));
  g_assert_true (has_line (result.out, "nc=0"));
  g_assert_true (servers.stalled);
  g_assert_true (servers.echoed);
  g_test_message ("the stalled server held %zu bytes unread", servers.queued);
}

/* No boot: a forwarder that needs device nodes is refused with a sentence
 * (unix sockets are relayed; a device cannot cross into another kernel). */
static void
test_plan_refuses_dri (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *project = cbox_test_make_dir ("project");

  g_assert_true (
      cbox_test_run ((const char *const[]){ "plan", "--backend=qemu", "--forward=dri", NULL },
                     project, NULL, NULL, &result));
  cbox_test_assert_status (&result, 125);
  g_assert_nonnull (strstr (result.err, "dri"));
  g_assert_nonnull (strstr (result.err, "qemu"));
}

/* ---- a window (issue 19, item 5) ------------------------------------------ */

/* An Xvfb on a display number it picks itself (-displayfd), 1280x1024,
 * no TCP; NULL (skipped, or failed under CI) when Xvfb is missing. */
static GSubprocess *
window_start_xvfb (guint *ret_display)
{
  g_autofree char *xvfb = cbox_test_require_program ("Xvfb");
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) number = g_string_new (NULL);
  GSubprocess *proc;
  int fds[2];
  char c;

  if (xvfb == NULL)
    return NULL;
  g_assert_cmpint (pipe2 (fds, O_CLOEXEC), ==, 0);
  launcher = cbox_test_server_launcher_new (G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_take_fd (launcher, fds[1], 3);
  proc = g_subprocess_launcher_spawn (launcher, &error, xvfb, "-displayfd", "3", "-screen", "0",
                                      "1280x1024x24", "-nolisten", "tcp", NULL);
  g_assert_no_error (error);
  g_clear_object (&launcher);
  while (read (fds[0], &c, 1) == 1 && c != '\n')
    g_string_append_c (number, c);
  close (fds[0]);
  g_assert_cmpuint (number->len, >, 0);
  *ret_display = (guint)g_ascii_strtoull (number->str, NULL, 10);
  return proc;
}

static void
window_stop_xvfb (GSubprocess *proc)
{
  g_subprocess_send_signal (proc, SIGTERM);
  g_subprocess_wait (proc, NULL, NULL);
  g_object_unref (proc);
}

/* The share of the host screen's pixels that are pure red (#ff0000), from
 * a screenshot of the whole root window taken by xwd (XWD format: a
 * big-endian header, then a colour map, then ZPixmap rows). */
static double
window_red_share (guint display)
{
  g_autofree char *display_arg = g_strdup_printf (":%u", display);
  const char *argv[] = { "xwd", "-root", "-silent", "-display", display_arg, NULL };
  g_autofree char *out = NULL;
  gsize len = 0;
  g_autoptr (GError) error = NULL;
  int status = 0;
  guint32 header[25];
  guint32 width, height, bpp, bpl, ncolors, byte_order;
  gsize offset, red = 0;

  g_assert_true (g_spawn_sync (NULL, (char **)argv, NULL,
                               G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                               NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  /* g_spawn_sync's output is text: the length is taken from the header. */
  for (gsize i = 0; i < G_N_ELEMENTS (header); i++)
    {
      guint32 v;
      memcpy (&v, out + i * 4, 4);
      header[i] = GUINT32_FROM_BE (v);
    }
  width = header[4];
  height = header[5];
  byte_order = header[7];
  bpp = header[11];
  bpl = header[12];
  ncolors = header[19];
  g_assert_cmpuint (bpp, >=, 24);
  offset = header[0] + (gsize)ncolors * 12;
  len = offset + (gsize)bpl * height;
  for (guint32 y = 0; y < height; y++)
    for (guint32 x = 0; x < width; x++)
      {
        const guint8 *p = (const guint8 *)out + offset + (gsize)y * bpl + (gsize)x * (bpp / 8);
        guint32 pixel
            = byte_order == 0
                  ? (guint32)(p[0] | p[1] << 8 | p[2] << 16)
                  : (guint32)(p[bpp / 8 - 3] << 16 | p[bpp / 8 - 2] << 8 | p[bpp / 8 - 1]);
        if (pixel == 0xff0000)
          red++;
      }
  (void)len;
  return (double)red / ((double)width * height);
}

/* --forward=x11 on qemu: the guest gets a virtio-gpu and an X server of
 * its own (Xorg from the host's /usr), shown in QEMU's window on the
 * host's display (an Xvfb here). A client inside paints the guest's root
 * window red; the host's screenshot then shows red where QEMU's window
 * is, and only there: the guest drew on its own server, not on the
 * host's (whose socket and cookies it never gets). Then the input: a key
 * and pointer motion sent to QEMU's window on the host (xdotool) reach a
 * client of the guest's server (xev) as the key "a" and motion events,
 * through the virtio keyboard and tablet. One boot. */
static void
test_window (void)
{
  g_autofree char *xwd = cbox_test_require_program ("xwd");
  g_autofree char *xsetroot = cbox_test_require_program ("xsetroot");
  g_autoptr (GSubprocess) cbox = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *project = NULL;
  g_autofree char *display_env = NULL;
  g_autofree char *err_text = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_auto (GStrv) envp = NULL;
  GSubprocess *xvfb;
  guint display = 0;
  double share = 0;
  gboolean drawn = FALSE;
  const char *script = "echo display=$DISPLAY xauthority=${XAUTHORITY-unset}\n"
                       "echo sockets=$(ls /tmp/.X11-unix)\n"
                       "xsetroot -solid '#ff0000' && echo drawn\n"
                       /* Then the input: the host's keys and pointer through QEMU's
         * window, seen by a client of the guest's server. */
                       "read line\n"
                       "xev -root -event keyboard -event mouse >/tmp/xev.log 2>&1 &\n"
                       "sleep 2; touch listening\n"
                       "i=0; while [ $i -lt 1200 ]; do grep -q KeyPress /tmp/xev.log && "
                       "grep -q MotionNotify /tmp/xev.log && break; sleep 0.1; i=$((i+1)); done\n"
                       "touch got\n"
                       "grep -o 'keysym 0x61, a' /tmp/xev.log | head -n 1\n"
                       "echo motion=$(grep -c MotionNotify /tmp/xev.log)\n"
                       "kill $!\n"
                       "cat\n"
                       "echo done\n";
  /* On the host: once the guest listens, the QEMU window gets the focus,
   * the pointer and the key "a", again each second until the guest saw
   * them (TCG is slow to start a client). */
  const char *sender
      = "i=0; while [ $i -lt 1200 ] && [ ! -e listening ]; do sleep 0.5; i=$((i+1)); done\n"
        "w=$(xdotool search --name QEMU | tail -n 1)\n"
        "k=0; while [ $k -lt 300 ] && [ ! -e got ]; do xdotool windowfocus \"$w\"; "
        "xdotool mousemove --window \"$w\" 200 200 key a; sleep 1; "
        "xdotool mousemove --window \"$w\" 300 250; k=$((k+1)); done\n"
        "echo window=$w tries=$k\n";
  g_autofree char *xdotool = cbox_test_require_program ("xdotool");
  g_autofree char *xev = cbox_test_require_program ("xev");
  g_autoptr (GSubprocess) input = NULL;
  g_autoptr (GSubprocessLauncher) input_launcher = NULL;
  g_autofree char *input_out = NULL;

  if (!require_qemu () || xwd == NULL || xsetroot == NULL || xdotool == NULL || xev == NULL)
    return;
  if (!g_file_test ("/usr/lib/xorg/modules/input/evdev_drv.so", G_FILE_TEST_IS_REGULAR))
    {
      cbox_test_skip_or_fail ("no input driver for the guest's X server (apt install "
                              "xserver-xorg-input-evdev)");
      return;
    }
  if (!g_file_test ("/usr/lib/xorg/Xorg", G_FILE_TEST_IS_REGULAR)
      && !g_file_test ("/usr/libexec/Xorg", G_FILE_TEST_IS_REGULAR))
    {
      cbox_test_skip_or_fail ("no Xorg for the guest (apt install xserver-xorg-core)");
      return;
    }
  xvfb = window_start_xvfb (&display);
  if (xvfb == NULL)
    return;
  /* Before the run: nothing red on the host's screen. */
  g_assert_cmpfloat (window_red_share (display), <, 0.01);

  display_env = g_strdup_printf ("DISPLAY=:%u", display);
  envp = cbox_test_environ (
      (const char *const[]){ display_env, "XAUTHORITY", "WAYLAND_DISPLAY", NULL });
  project = cbox_test_make_dir ("project");
  launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                   | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_environ (launcher, envp);
  g_subprocess_launcher_set_cwd (launcher, project);
  cbox = g_subprocess_launcher_spawn (launcher, &error, cbox_test_cbox_path (), "run",
                                      "--backend=qemu", "--set=qemu.accel=tcg", "--network=off",
                                      "--forward=x11", "--", "sh", "-c", script, NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (cbox));
  for (;;)
    {
      g_autofree char *line = g_data_input_stream_read_line (out, NULL, NULL, &error);
      g_assert_no_error (error);
      if (line == NULL)
        break;
      g_string_append_printf (seen, "%s\n", line);
      if (g_str_equal (line, "drawn"))
        {
          drawn = TRUE;
          break;
        }
    }
  if (!drawn)
    {
      g_subprocess_communicate_utf8 (cbox, NULL, NULL, NULL, &err_text, NULL);
      g_test_message ("cbox said: %s\n%s", seen->str, err_text);
    }
  g_assert_true (drawn);
  g_test_message ("inside: %s", seen->str);
  /* The guest's own server, no host cookie, no host socket. */
  g_assert_true (has_line (seen->str, "display=:0 xauthority=unset"));
  g_assert_true (has_line (seen->str, "sockets=X0"));

  /* QEMU refreshes its window on a timer: the red shows within a few
   * frames. Up to 100 screenshots, then the test fails. */
  for (int i = 0; i < 100 && share < 0.25; i++)
    {
      if (i > 0)
        g_usleep (100 * 1000);
      share = window_red_share (display);
    }
  g_test_message ("red: %.1f %% of the host's screen", share * 100);
  /* A large share of the screen (QEMU's 1280x800 window, partly off the
   * 1280x1024 screen: about 55 %), and not all of it: the host's root
   * window outside QEMU's stays black. */
  g_assert_cmpfloat (share, >=, 0.25);
  g_assert_cmpfloat (share, <, 0.95);

  input_launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_environ (input_launcher, envp);
  g_subprocess_launcher_set_cwd (input_launcher, project);
  input = g_subprocess_launcher_spawn (input_launcher, &error, "sh", "-c", sender, NULL);
  g_assert_no_error (error);
  {
    g_autofree char *rest = NULL;
    /* One line lets the guest go on to the input; the end of file then
     * ends cat inside, and the run. */
    g_subprocess_communicate_utf8 (cbox, "input\n", NULL, &rest, &err_text, &error);
    g_assert_no_error (error);
    g_subprocess_communicate_utf8 (input, NULL, NULL, &input_out, NULL, &error);
    g_assert_no_error (error);
    g_test_message ("then: %s\ncbox said: %s\ninput: %s", rest, err_text, input_out);
    g_assert_nonnull (strstr (rest, "done"));
    /* The key and the pointer reached the guest's own server. */
    g_assert_true (has_line (rest, "keysym 0x61, a"));
    g_assert_false (has_line (rest, "motion=0"));
    g_assert_true (g_regex_match_simple ("^motion=[1-9]", rest, G_REGEX_MULTILINE, 0));
  }
  g_assert_true (g_subprocess_get_if_exited (cbox));
  g_assert_cmpint (g_subprocess_get_exit_status (cbox), ==, 0);
  window_stop_xvfb (xvfb);
}

/* No window without a place to show it: without a host display the x11
 * forwarder refuses (DISPLAY is not set), and a QEMU without a GTK or SDL
 * display is refused with what to install. No boot. */
static void
test_window_refused (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *project = NULL;
  g_autofree char *fake = NULL;
  g_autofree char *config = NULL;
  g_autofree char *config_arg = NULL;
  g_autofree char *display_env = NULL;
  g_auto (GStrv) envp = NULL;
  g_autoptr (GError) error = NULL;
  GSubprocess *xvfb;
  guint display = 0;

  if (!require_qemu ())
    return;
  project = cbox_test_make_dir ("project");
  envp = cbox_test_environ ((const char *const[]){ "DISPLAY", "WAYLAND_DISPLAY", NULL });
  g_assert_true (
      cbox_test_run ((const char *const[]){ "plan", "--backend=qemu", "--forward=x11", NULL },
                     project, (const char *const *)envp, NULL, &result));
  cbox_test_assert_status (&result, 125);
  g_assert_nonnull (strstr (result.err, "DISPLAY is not set"));

  xvfb = window_start_xvfb (&display);
  if (xvfb == NULL)
    return;
  display_env = g_strdup_printf ("DISPLAY=:%u", display);
  g_strfreev (envp);
  envp = cbox_test_environ ((const char *const[]){ display_env, "WAYLAND_DISPLAY", NULL });
  /* A QEMU built without a window (Debian's qemu-system-x86 without
   * qemu-system-gui): its -display help lists none of them. */
  fake = g_build_filename (project, "..", "qemu-without-gui", NULL);
  g_file_set_contents (fake,
                       "#!/bin/sh\n"
                       "printf 'Available display backend types:\\nnone\\ncurses\\ndbus\\n'\n",
                       -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (fake, 0755), ==, 0);
  config = g_build_filename (project, "..", "qemu-without-gui.conf", NULL);
  {
    g_autofree char *text = g_strdup_printf ("[qemu]\nqemu=%s\n", fake);
    g_file_set_contents (config, text, -1, &error);
    g_assert_no_error (error);
  }
  config_arg = g_strconcat ("--config=", config, NULL);
  g_assert_true (cbox_test_run (
      (const char *const[]){ "plan", config_arg, "--backend=qemu", "--forward=x11", NULL }, project,
      (const char *const *)envp, NULL, &result));
  g_test_message ("cbox said: %s", result.err);
  cbox_test_assert_status (&result, 125);
  g_assert_nonnull (strstr (result.err, "no GTK or SDL display"));
  g_assert_nonnull (strstr (result.err, "qemu-system-gui"));

  /* The real QEMU has one: the plan says where the window goes. */
  g_assert_true (
      cbox_test_run ((const char *const[]){ "plan", "--backend=qemu", "--forward=x11", NULL },
                     project, (const char *const *)envp, NULL, &result));
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "a window (x11)"));
  window_stop_xvfb (xvfb);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  panic_init_path = argc > 1 ? argv[1] : "";
  g_test_add_func ("/qemu/integration/plan-refuses-dri", test_plan_refuses_dri);
  g_test_add_func ("/qemu/integration/isolated", test_run_isolated);
  g_test_add_func ("/qemu/integration/stdio-closed", test_stdio_closed);
  g_test_add_func ("/qemu/integration/sockets", test_sockets);
  g_test_add_func ("/qemu/integration/relay-stall", test_relay_stall);
  g_test_add_func ("/qemu/integration/many-binds", test_many_binds);
  g_test_add_func ("/qemu/integration/as-user-with-pipe", test_run_as_user_with_pipe);
  g_test_add_func ("/qemu/integration/accel-auto", test_accel_auto);
  g_test_add_func ("/qemu/integration/kernel-panic", test_kernel_panic);
  g_test_add_func ("/qemu/integration/no-sign-of-life", test_no_sign_of_life);
  g_test_add_func ("/qemu/integration/signal-and-cleanup", test_signal_and_cleanup);
  g_test_add_func ("/qemu/integration/terminal", test_terminal);
  g_test_add_func ("/qemu/integration/concurrent-and-killed", test_concurrent_and_killed);
  g_test_add_func ("/qemu/integration/window-refused", test_window_refused);
  g_test_add_func ("/qemu/integration/window", test_window);
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The nspawn backend for real: the built cbox runs systemd-nspawn as root.
 * The command runs as an unprivileged test user ("cboxtest", made here when
 * missing) that cbox is told about through SUDO_UID/SUDO_GID/SUDO_USER, as
 * sudo would. Skips (fails under CI=true) when not root or without
 * systemd-nspawn. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-test-util.h"

#define TEST_USER "cboxtest"
/* Enough descriptors for cbox, too few for systemd-nspawn's socket pairs
 * (measured with systemd 252: at 8 cbox itself fails, at 12 to 20 nspawn
 * does, from 24 on the run works). */
#define NSPAWN_TOO_FEW_FDS "16"
#define STATE_DIR "/run/cbox/nspawn"

static int wait_status (GPid pid);

static uid_t test_uid;
static gid_t test_gid;

/* Root, systemd-nspawn and the test user; FALSE (test skipped or failed)
 * otherwise. */
static gboolean
require_nspawn (void)
{
  g_autofree char *nspawn = NULL;
  struct passwd *pw;

  if (!cbox_test_is_root ())
    {
      cbox_test_skip_or_fail ("the nspawn backend needs root");
      return FALSE;
    }
  nspawn = cbox_test_require_program ("systemd-nspawn");
  if (nspawn == NULL)
    return FALSE;
  pw = getpwnam (TEST_USER);
  if (pw == NULL)
    {
      const char *argv[] = { "useradd",          "--no-create-home", "--home-dir",
                             "/home/" TEST_USER, "--shell",          "/bin/sh",
                             "--user-group",     TEST_USER,          NULL };
      int status = -1;
      g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status,
                    NULL);
      pw = getpwnam (TEST_USER);
    }
  if (pw == NULL)
    {
      cbox_test_skip_or_fail ("cannot create the test user " TEST_USER " (useradd)");
      return FALSE;
    }
  test_uid = pw->pw_uid;
  test_gid = pw->pw_gid;
  return TRUE;
}

/* Waits for the test to create "go" in the project, at most 90 s, so that a
 * failed test leaves no run behind (it would hold the test's output open). */
#define WAIT_FOR_GO "i=0; while ! test -e go && test $i -lt 900; do sleep 0.1; i=$((i+1)); done"

/* cbox-exec (built by the core) stays the command's parent inside and
 * reports a signal death as 128+N; without it those checks cannot pass. */
static gboolean
require_exec_helper (void)
{
  const char *dir = g_getenv ("CBOX_LIBEXEC_DIR");
  g_autofree char *path = g_build_filename (dir != NULL ? dir : "/nonexistent", "cbox-exec", NULL);

  if (!g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_autofree char *reason = g_strdup_printf ("%s is not built", path);
      cbox_test_skip_or_fail (reason);
      return FALSE;
    }
  return TRUE;
}

/* An environment that says "cbox runs under sudo for cboxtest". */
static char **
sudo_environ (const char *const *extra)
{
  g_autofree char *uid = g_strdup_printf ("SUDO_UID=%u", (unsigned)test_uid);
  g_autofree char *gid = g_strdup_printf ("SUDO_GID=%u", (unsigned)test_gid);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) all = NULL;

  /* sudo's secure_path: the caller's PATH (root's here) may name
   * directories the user cannot search. */
  g_strv_builder_add_many (builder, uid, gid, "SUDO_USER=" TEST_USER,
                           "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                           NULL);
  if (extra != NULL)
    g_strv_builder_addv (builder, (const char **)extra);
  all = g_strv_builder_end (builder);
  return cbox_test_environ ((const char *const *)all);
}

/* A project directory the test user owns. */
static char *
make_project (const char *name)
{
  char *dir = cbox_test_make_dir (name);

  g_assert_no_errno (chown (dir, test_uid, test_gid));
  return dir;
}

/* cbox run --backend=nspawn --project=PROJECT [OPTIONS] -- sh -c SCRIPT,
 * stdin a pipe carrying @input. */
static void
run_script (CboxTestResult *result, char **envp, const char *project, const char *option,
            const char *script, const char *input)
{
  g_autofree char *project_arg = g_strconcat ("--project=", project, NULL);
  const char *args[] = { "run",       "--backend=nspawn",
                         project_arg, option != NULL ? option : "--network=on",
                         "--",        "sh",
                         "-c",        script,
                         NULL };

  g_assert_true (
      cbox_test_run (args, project, (const char *const *)envp, input != NULL ? input : "", result));
}

static void
test_environment (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;

  if (!require_nspawn ())
    return;
  env = sudo_environ ((const char *const[]){ "CBOX_SECRET=hunter2", NULL });
  project = make_project ("env");
  run_script (&result, env, project, NULL, "env", NULL);
  cbox_test_assert_status (&result, 0);
  /* Nothing of the host's environment, nothing of nspawn's own. */
  g_assert_null (strstr (result.out, "CBOX_SECRET"));
  g_assert_null (strstr (result.out, "hunter2"));
  g_assert_null (strstr (result.out, "container="));
  g_assert_null (strstr (result.out, "container_uuid="));
  g_assert_null (strstr (result.out, "NOTIFY_SOCKET="));
  g_assert_null (strstr (result.out, "SUDO_"));
  g_assert_nonnull (strstr (result.out, "HOME=/home/" TEST_USER "\n"));
  g_assert_nonnull (strstr (result.out, "USER=" TEST_USER "\n"));
}

static void
test_identity (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *made = NULL;
  struct stat st;

  if (!require_nspawn ())
    return;
  env = sudo_environ (NULL);
  project = make_project ("identity");
  run_script (&result, env, project, NULL,
              "echo \"$(id -u) $(id -g) $(id -un)\"; echo data > made-inside; "
              "mkdir dir-inside; test -w \"$HOME\" && test -O \"$HOME\" && echo home-ok",
              NULL);
  cbox_test_assert_status (&result, 0);
  expected
      = g_strdup_printf ("%u %u " TEST_USER "\nhome-ok\n", (unsigned)test_uid, (unsigned)test_gid);
  g_assert_cmpstr (result.out, ==, expected);

  /* What the command made in the project belongs to the invoking user. */
  made = g_build_filename (project, "made-inside", NULL);
  g_assert_no_errno (lstat (made, &st));
  g_assert_cmpuint (st.st_uid, ==, test_uid);
  g_assert_cmpuint (st.st_gid, ==, test_gid);
  g_free (made);
  made = g_build_filename (project, "dir-inside", NULL);
  g_assert_no_errno (lstat (made, &st));
  g_assert_cmpuint (st.st_uid, ==, test_uid);
}

static void
test_host_home_and_tmp_absent (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;
  g_autofree char *home_marker = NULL;
  g_autofree char *tmp_marker = NULL;
  g_autofree char *script = NULL;
  g_autofree char *contents = NULL;

  if (!require_nspawn ())
    return;
  /* As root itself (no SUDO_*): the home is the test's scratch $HOME. */
  env = cbox_test_environ (NULL);
  project = cbox_test_make_dir ("home-tmp");
  home_marker = g_build_filename (g_environ_getenv (env, "HOME"), "host-home-marker", NULL);
  g_assert_true (g_file_set_contents (home_marker, "x", 1, NULL));
  tmp_marker = g_strdup_printf ("/tmp/cbox-nspawn-marker-%d", (int)getpid ());
  g_assert_true (g_file_set_contents (tmp_marker, "x", 1, NULL));
  script = g_strdup_printf ("test -d \"$HOME\" || exit 10; test -e '%s' && exit 11; "
                            "test -e '%s' && exit 12; ls -A \"$HOME\"; ls -A /tmp; exit 0",
                            home_marker, tmp_marker);
  run_script (&result, env, project, NULL, script, NULL);
  g_unlink (tmp_marker);
  cbox_test_assert_status (&result, 0);
  g_assert_null (strstr (result.out, "host-home-marker"));
  g_assert_null (strstr (result.out, "cbox-nspawn-marker"));
  /* The project stays reachable at its real path, read-write. */
  cbox_test_result_clear (&result);
  run_script (&result, env, project, NULL, "echo written > \"$PWD/rw-check\"", NULL);
  cbox_test_assert_status (&result, 0);
  g_free (home_marker);
  home_marker = g_build_filename (project, "rw-check", NULL);
  g_assert_true (g_file_get_contents (home_marker, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "written\n");
}

static void
test_network_off (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;

  if (!require_nspawn ())
    return;
  env = sudo_environ (NULL);
  project = make_project ("net");
  run_script (&result, env, project, "--network=off", "ls /sys/class/net", NULL);
  cbox_test_assert_status (&result, 0);
  g_assert_cmpstr (result.out, ==, "lo\n");
}

/* The default network is a namespace of the container's own with the
 * helper's interface: a service on the host's loopback is out of reach,
 * also through the helper's gateway; --network=host reaches it (so the
 * probe can tell). */
/* --publish: a server inside on port 8000 is reached from the host's
 * 127.0.0.1:PORT; the host listens on 127.0.0.1 only and nothing answers
 * on its other address. */
static void
test_network_publish (void)
{
  g_autofree char *project = NULL;
  g_autofree char *project_arg = NULL;
  g_autofree char *publish_arg = NULL;
  g_autofree char *server = NULL;
  g_autofree char *python = NULL;
  g_autofree char *ready_path = NULL;
  g_auto (CboxTestResult) result = { 0 };
  g_auto (GStrv) env = NULL;
  CboxTestPublishProbe *probe;
  guint16 host_port;

  if (!require_nspawn ())
    return;
  python = cbox_test_require_program ("python3");
  if (python == NULL)
    return;
  env = sudo_environ (NULL);
  project = make_project ("publish");
  project_arg = g_strconcat ("--project=", project, NULL);
  host_port = cbox_test_free_port ();
  ready_path = g_build_filename (project, "published-ready", NULL);
  publish_arg = g_strdup_printf ("--publish=%u:8000", host_port);
  server = cbox_test_publish_server (8000);
  probe = cbox_test_publish_probe_start (host_port, ready_path);
  g_assert_true (
      cbox_test_run ((const char *const[]){ "run", "--backend=nspawn", project_arg, publish_arg,
                                            "--", "sh", "-c", server, NULL },
                     project, (const char *const *)env, "", &result));
  cbox_test_assert_status (&result, 0);
  cbox_test_publish_probe_finish (probe);
}

static void
test_network_modes (gconstpointer data)
{
  gboolean host = GPOINTER_TO_INT (data);
  g_autoptr (GSocketListener) listener = g_socket_listener_new ();
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (CboxTestResult) result = { 0 };
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;
  g_autofree char *script = NULL;
  g_autofree char *python = NULL;
  guint16 port;

  if (!require_nspawn ())
    return;
  python = cbox_test_require_program ("python3");
  if (python == NULL)
    return;
  g_assert_true (g_socket_listener_add_address (listener, address, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error));
  g_assert_no_error (error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  /* The interfaces (from /proc/net/dev: nspawn's /sys shows the host's
   * when it joins a namespace), then whether 127.0.0.1:PORT and
   * 10.0.2.2:PORT answer (the listener's backlog accepts without a main
   * loop). */
  script = g_strdup_printf (
      "sed -n 's/^ *\\([^:]*\\):.*/\\1/p' /proc/net/dev | tr '\\n' ' '; echo; "
      "python3 -c 'import socket\n"
      "for h in (\"127.0.0.1\", \"10.0.2.2\"):\n"
      " try:\n  socket.create_connection((h, %u), timeout=5); print(h, \"connected\")\n"
      " except OSError as e: print(h, \"refused\", e)'",
      port);
  env = sudo_environ (NULL);
  project = make_project ("net");
  run_script (&result, env, project, host ? "--network=host" : "--network=on", script, NULL);
  cbox_test_assert_status (&result, 0);
  g_test_message ("%s", result.out);
  if (host)
    g_assert_nonnull (strstr (result.out, "127.0.0.1 connected"));
  else
    {
      g_assert_true (g_str_has_prefix (result.out, "lo tap0 \n"));
      g_assert_nonnull (strstr (result.out, "127.0.0.1 refused"));
      g_assert_nonnull (strstr (result.out, "10.0.2.2 refused"));
    }
}

/* Landlock reaches the container: nspawn's own seccomp filter refused its
 * calls (EPERM), so cbox-exec's --scope-abstract (the second layer
 * against the abstract sockets of a namespace shared by mistake; tested
 * for what it does in /bwrap/network/landlock/abstract-scope) silently
 * did nothing under nspawn. The command sees the host kernel's Landlock
 * ABI, as under bwrap. */
static void
test_landlock_reaches_container (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;
  g_autofree char *python = NULL;
  g_autofree char *expected = NULL;
  long host_abi = -1;

  if (!require_nspawn ())
    return;
  python = cbox_test_require_program ("python3");
  if (python == NULL)
    return;
#ifdef SYS_landlock_create_ruleset
  host_abi = syscall (SYS_landlock_create_ruleset, NULL, 0, 1u << 0);
#endif
  if (host_abi < 1)
    {
      g_test_skip ("this kernel has no Landlock");
      return;
    }
  env = sudo_environ (NULL);
  project = make_project ("landlock");
  run_script (&result, env, project, "--network=on",
              "python3 -c 'import ctypes; l = ctypes.CDLL(None, use_errno=True); "
              "r = l.syscall(444, None, 0, 1); "
              "print(\"abi\", r if r >= 0 else -ctypes.get_errno())'",
              NULL);
  cbox_test_assert_status (&result, 0);
  expected = g_strdup_printf ("abi %ld\n", host_abi);
  g_assert_cmpstr (result.out, ==, expected);
}

static void
test_exit_status (void)
{
  static const struct
  {
    const char *script;
    int status;
  } cases[] = {
    { "exit 0", 0 },
    { "exit 3", 3 },
    { "kill -9 $$", 128 + SIGKILL },
    { "kill -TERM $$", 128 + SIGTERM },
  };
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;
  g_autofree char *project_arg = NULL;
  g_autofree char *not_executable = NULL;

  if (!require_nspawn () || !require_exec_helper ())
    return;
  env = sudo_environ (NULL);
  project = make_project ("status");
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto (CboxTestResult) result = { 0 };
      run_script (&result, env, project, NULL, cases[i].script, NULL);
      cbox_test_assert_status (&result, cases[i].status);
    }

  /* 126 and 127 for the command itself, not a shell inside. */
  project_arg = g_strconcat ("--project=", project, NULL);
  not_executable = g_build_filename (project, "not-executable", NULL);
  g_assert_true (g_file_set_contents (not_executable, "#!/bin/sh\n", -1, NULL));
  g_assert_no_errno (chmod (not_executable, 0644));
  {
    g_auto (CboxTestResult) result = { 0 };
    const char *args[] = { "run", "--backend=nspawn", project_arg, "--", not_executable, NULL };
    g_assert_true (cbox_test_run (args, project, (const char *const *)env, "", &result));
    cbox_test_assert_status (&result, 126);
  }
  {
    g_auto (CboxTestResult) result = { 0 };
    const char *args[]
        = { "run", "--backend=nspawn", project_arg, "--", "cbox-no-such-command", NULL };
    g_assert_true (cbox_test_run (args, project, (const char *const *)env, "", &result));
    cbox_test_assert_status (&result, 127);
  }
}

static void
test_awkward_paths (void)
{
  static const char *const names[] = {
    "with space",         "with:colon", "with\\backslash:and\\:escapes",
    "quote's \"double\"", "new\nline",  "not-utf8-\xff\xfe",
    "all: of 'it'\n\\",
  };
  g_auto (GStrv) env = NULL;

  if (!require_nspawn ())
    return;
  env = sudo_environ (NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_auto (CboxTestResult) result = { 0 };
      g_autofree char *project = make_project (names[i]);
      g_autofree char *made = g_build_filename (project, "made", NULL);
      g_autofree char *expected = g_strconcat (project, "|", NULL);

      /* The working directory and the project are the real path, byte for
       * byte, and writable. */
      run_script (&result, env, project, NULL, "printf '%s|' \"$PWD\"; touch \"$PWD/made\"", NULL);
      cbox_test_assert_status (&result, 0);
      g_assert_cmpmem (result.out, result.out_len, expected, strlen (expected));
      g_assert_true (g_file_test (made, G_FILE_TEST_EXISTS));
    }
}

static void
test_stdin_pipe (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;

  if (!require_nspawn ())
    return;
  env = sudo_environ (NULL);
  project = make_project ("pipe");
  run_script (&result, env, project, NULL, "test -t 0 && echo tty; tr a-z A-Z",
              "hello through a pipe\n");
  cbox_test_assert_status (&result, 0);
  g_assert_cmpstr (result.out, ==, "HELLO THROUGH A PIPE\n");
}

/* Reads @fd until EOF or error (a pty master reports EIO once the last
 * slave is closed). No clock: a leaked writer that keeps it open is the
 * test runner's timeout to catch (and the test's failure). */
static char *
read_all (int fd)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      char buffer[4096];
      ssize_t got;
      int ready;

      ready = poll (&pfd, 1, -1);
      if (ready < 0 && errno == EINTR)
        continue;
      if (ready < 0)
        break;
      got = read (fd, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        break;
      g_string_append_len (out, buffer, got);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
test_stdin_pty (void)
{
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;
  g_autofree char *project_arg = NULL;
  g_autofree char *out = NULL;
  int master, status = -1;
  pid_t pid;

  if (!require_nspawn ())
    return;
  env = sudo_environ (NULL);
  project = make_project ("pty");
  project_arg = g_strconcat ("--project=", project, NULL);

  master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (master, >=, 0);
  g_assert_no_errno (grantpt (master));
  g_assert_no_errno (unlockpt (master));
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      /* A terminal session as a user's shell has it: the pty is stdin,
       * stdout, stderr and the controlling terminal. */
      const char *argv[] = { cbox_test_cbox_path (),
                             "run",
                             "--backend=nspawn",
                             project_arg,
                             "--",
                             "sh",
                             "-c",
                             "test -t 0 && test -t 1 && echo tty-ok; read line; "
                             "echo \"got:$line\"",
                             NULL };
      int slave;
      setsid ();
      slave = open (ptsname (master), O_RDWR);
      if (slave < 0)
        _exit (120);
      ioctl (slave, TIOCSCTTY, 0);
      dup2 (slave, 0);
      dup2 (slave, 1);
      dup2 (slave, 2);
      if (slave > 2)
        close (slave);
      execve (argv[0], (char **)argv, env);
      _exit (121);
    }
  /* Typed ahead: the terminal keeps it until the command reads. */
  g_assert_cmpint (write (master, "typed\n", 6), ==, 6);
  out = read_all (master);
  status = wait_status (pid);
  close (master);
  if (status != 0)
    g_error ("cbox on a pty: status %d, output:\n%s", status, out);
  g_assert_nonnull (strstr (out, "tty-ok"));
  g_assert_nonnull (strstr (out, "got:typed"));
}

/* The --machine= names of the systemd-nspawn processes running now. */
static GHashTable *
running_machines (void)
{
  GHashTable *machines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%s/cmdline", name);
      g_autofree char *cmdline = NULL;
      gsize len = 0;

      if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &cmdline, &len, NULL))
        continue;
      if (strstr (cmdline, "systemd-nspawn") == NULL)
        continue;
      for (gsize at = 0; at < len; at += strlen (cmdline + at) + 1)
        if (g_str_has_prefix (cmdline + at, "--machine=cbox-"))
          g_hash_table_add (machines, g_strdup (cmdline + at + strlen ("--machine=")));
    }
  return machines;
}

static GPid
spawn_cbox (char **envp, const char *project, const char *script, int *ret_stdout)
{
  g_autofree char *project_arg = g_strconcat ("--project=", project, NULL);
  const char *argv[] = {
    cbox_test_cbox_path (), "run", "--backend=nspawn", project_arg, "--", "sh", "-c", script, NULL
  };
  g_autoptr (GError) error = NULL;
  GPid pid = 0;
  int in_fd = -1;

  g_assert_true (g_spawn_async_with_pipes (project, (char **)argv, envp, G_SPAWN_DO_NOT_REAP_CHILD,
                                           NULL, NULL, &pid, &in_fd, ret_stdout, NULL, &error));
  g_assert_no_error (error);
  close (in_fd); /* stdin: an empty pipe */
  return pid;
}

/* The exit status of @pid as a shell reports it. */
static int
wait_status (GPid pid)
{
  int status = -1;

  while (waitpid (pid, &status, 0) < 0)
    g_assert_cmpint (errno, ==, EINTR);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

/* Fails the test when one of the @n runs in @pids has ended already. */
static void
assert_all_running (const GPid *pids, guint n, const char *waiting_for)
{
  for (guint i = 0; i < n; i++)
    if (cbox_test_process_ended (pids[i]))
      g_error ("run %u (pid %d) ended while waiting for %s", i, (int)pids[i], waiting_for);
}

static void
test_concurrent (void)
{
  enum
  {
    N_RUNS = 10
  };
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;
  g_autofree char *go = NULL;
  g_autofree char *script = NULL;
  g_autofree char *machine_id = NULL;
  g_autoptr (GHashTable) ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GPid pids[N_RUNS];
  int outs[N_RUNS];
  guint seen = 0;

  if (!require_nspawn ())
    return;
  env = sudo_environ (NULL);
  project = make_project ("concurrent");
  go = g_build_filename (project, "go", NULL);
  /* Every run waits for the others: all ten live at the same time. */
  /* The root's device (a fresh tmpfs per run), then the machine id (the
   * project's, the same in every run). */
  script = g_strdup ("stat -c %d /; cat /etc/machine-id; " WAIT_FOR_GO);
  for (guint i = 0; i < N_RUNS; i++)
    pids[i] = spawn_cbox (env, project, script, &outs[i]);

  /* Until all ten are up; each is waiting for "go", so one that ended
   * failed. */
  while (seen < N_RUNS)
    {
      g_autoptr (GHashTable) machines = running_machines ();
      seen = g_hash_table_size (machines);
      if (seen < N_RUNS)
        {
          assert_all_running (pids, N_RUNS, "ten machines");
          g_usleep (100 * 1000);
        }
    }
  g_assert_true (g_file_set_contents (go, "", 0, NULL));
  /* Ten distinct machines were up at once (other suites run no nspawn). */
  g_assert_cmpuint (seen, >=, N_RUNS);

  for (guint i = 0; i < N_RUNS; i++)
    {
      g_autofree char *out = read_all (outs[i]);
      close (outs[i]);
      g_auto (GStrv) lines = g_strsplit (out, "\n", -1);

      g_assert_cmpint (wait_status (pids[i]), ==, 0);
      g_assert_cmpuint (g_strv_length (lines), ==, 3);
      g_assert_cmpuint (strlen (lines[1]), ==, 32);
      if (machine_id == NULL)
        machine_id = g_strdup (lines[1]);
      g_assert_cmpstr (lines[1], ==, machine_id);
      g_hash_table_add (ids, g_strdup (lines[0]));
    }
  /* Each run had its own root; all had the project's machine id. */
  g_assert_cmpuint (g_hash_table_size (ids), ==, N_RUNS);
}

/* The instance entries (the names without .lock) under the state dir. */
static GHashTable *
state_entries (void)
{
  GHashTable *entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GDir) dir = g_dir_open (STATE_DIR, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (!g_str_has_suffix (name, ".lock"))
      g_hash_table_add (entries, g_strdup (name));
  return entries;
}

/* The entry that is not in @before, waiting for it to appear while the
 * run @pid lives (NULL if it ended first). */
static char *
wait_new_entry (GHashTable *before, GPid pid)
{
  for (;;)
    {
      g_autoptr (GHashTable) now = state_entries ();
      GHashTableIter iter;
      gpointer key;

      g_hash_table_iter_init (&iter, now);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        if (!g_hash_table_contains (before, key))
          return g_strdup (key);
      if (cbox_test_process_ended (pid))
        return NULL;
      g_usleep (50 * 1000);
    }
}

static gboolean
is_mounted (const char *entry)
{
  g_autofree char *mountinfo = NULL;
  g_autofree char *needle = g_strdup_printf (" " STATE_DIR "/%s/", entry);

  g_assert_true (g_file_get_contents ("/proc/self/mountinfo", &mountinfo, NULL, NULL));
  return strstr (mountinfo, needle) != NULL;
}

static void
test_kill9_swept (void)
{
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;
  g_autofree char *live_entry = NULL;
  g_autofree char *killed_entry = NULL;
  g_autofree char *go = NULL;
  g_autoptr (GHashTable) before = NULL;
  g_autofree char *killed_lock = NULL;
  g_autofree char *live_lock = NULL;
  GPid live, killed;
  int live_out, killed_out;

  if (!require_nspawn ())
    return;
  env = sudo_environ (NULL);
  project = make_project ("kill9");
  go = g_build_filename (project, "go", NULL);

  /* A live run that must survive the sweep... */
  before = state_entries ();
  live = spawn_cbox (env, project, WAIT_FOR_GO "; echo live-done", &live_out);
  live_entry = wait_new_entry (before, live);
  g_assert_nonnull (live_entry);

  /* ...and one whose cbox is killed outright. */
  g_hash_table_unref (before);
  before = state_entries ();
  killed = spawn_cbox (env, project, "sleep 300", &killed_out);
  killed_entry = wait_new_entry (before, killed);
  g_assert_nonnull (killed_entry);
  g_usleep (500 * 1000);
  g_assert_no_errno (kill (killed, SIGKILL));
  g_assert_cmpint (wait_status (killed), ==, 128 + SIGKILL);
  /* The container goes with cbox: nspawn gets SIGTERM when cbox dies and
   * ends the command, which closes the output pipe. */
  g_free (read_all (killed_out));
  close (killed_out);

  /* The killed run's state is still there: nobody cleaned it yet. */
  killed_lock = g_strdup_printf (STATE_DIR "/%s.lock", killed_entry);
  g_assert_true (g_file_test (killed_lock, G_FILE_TEST_EXISTS));
  /* nspawn still holds the lock while it shuts down; wait until it is
   * free (taken and at once released, as a sweep would): nspawn ends
   * once the command has (its output closed above). */
  {
    gboolean free_now = FALSE;
    while (!free_now)
      {
        int fd = open (killed_lock, O_RDWR | O_CLOEXEC);
        g_assert_cmpint (fd, >=, 0);
        free_now = flock (fd, LOCK_EX | LOCK_NB) == 0;
        close (fd);
        if (!free_now)
          g_usleep (50 * 1000);
      }
    g_assert_true (free_now);
  }

  /* The next run sweeps it, and only it. */
  {
    g_auto (CboxTestResult) result = { 0 };
    run_script (&result, env, project, NULL, "true", NULL);
    cbox_test_assert_status (&result, 0);
  }
  g_assert_false (g_file_test (killed_lock, G_FILE_TEST_EXISTS));
  {
    g_autofree char *dir = g_build_filename (STATE_DIR, killed_entry, NULL);
    g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  }
  g_assert_false (is_mounted (killed_entry));

  live_lock = g_strdup_printf (STATE_DIR "/%s.lock", live_entry);
  g_assert_true (g_file_test (live_lock, G_FILE_TEST_EXISTS));
  g_assert_true (is_mounted (live_entry));
  g_assert_true (g_file_set_contents (go, "", 0, NULL));
  {
    g_autofree char *out = read_all (live_out);
    close (live_out);
    g_assert_cmpint (wait_status (live), ==, 0);
    g_assert_cmpstr (out, ==, "live-done\n");
  }
  /* A run that ends cleans up after itself. */
  g_assert_false (g_file_test (live_lock, G_FILE_TEST_EXISTS));
  g_assert_false (is_mounted (live_entry));
}

static void
test_signal_forwarded (void)
{
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;
  g_autofree char *ready = NULL;
  static const int signals[] = { SIGTERM, SIGINT, SIGUSR1 };

  if (!require_nspawn () || !require_exec_helper ())
    return;
  env = sudo_environ (NULL);
  project = make_project ("signals");
  ready = g_build_filename (project, "ready", NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (signals); i++)
    {
      int out;
      GPid pid;

      g_unlink (ready);
      pid = spawn_cbox (env, project, "touch ready; exec sleep 1000", &out);
      g_assert_true (cbox_test_wait_for_path_while (ready, pid));
      /* The command execs sleep right after: let it. */
      g_usleep (300 * 1000);
      g_assert_no_errno (kill (pid, signals[i]));
      g_assert_cmpint (wait_status (pid), ==, 128 + signals[i]);
      close (out);
    }
}

/* `cbox ps` and `cbox enter` find the container through the leader the
 * backend reports; what is entered is the running container itself. */
static void
test_enter (void)
{
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;
  g_autofree char *go = NULL;
  g_autofree char *project_arg = NULL;
  gboolean listed = FALSE;
  GPid pid;
  int out;

  if (!require_nspawn () || !require_exec_helper ())
    return;
  /* As root itself: the run registry lives in the scratch home. */
  env = cbox_test_environ (NULL);
  project = cbox_test_make_dir ("enter");
  project_arg = g_strconcat ("--project=", project, NULL);
  go = g_build_filename (project, "go", NULL);
  pid = spawn_cbox (env, project, "echo inside > /tmp/cbox-enter-marker; " WAIT_FOR_GO, &out);

  while (!listed)
    {
      g_auto (CboxTestResult) result = { 0 };
      const char *args[] = { "ps", project_arg, NULL };
      g_assert_true (cbox_test_run (args, project, (const char *const *)env, "", &result));
      /* A row with the backend and a pid, not "-". */
      listed = result.status == 0 && strstr (result.out, " nspawn ") != NULL
               && strstr (result.out, " nspawn  -") == NULL;
      if (!listed && cbox_test_process_ended (pid))
        g_error ("the run ended before 'cbox ps' listed it");
      if (!listed)
        g_usleep (100 * 1000);
    }
  g_assert_true (listed);
  {
    g_auto (CboxTestResult) result = { 0 };
    const char *args[]
        = { "enter", project_arg,
            "--",    "sh",
            "-c",    "cat /tmp/cbox-enter-marker && test -d /run/host && echo in-container",
            NULL };
    g_assert_true (cbox_test_run (args, project, (const char *const *)env, "", &result));
    cbox_test_assert_status (&result, 0);
    g_assert_cmpstr (result.out, ==, "inside\nin-container\n");
  }
  /* The marker is in the container's private /tmp, not on the host. */
  g_assert_false (g_file_test ("/tmp/cbox-enter-marker", G_FILE_TEST_EXISTS));
  g_assert_true (g_file_set_contents (go, "", 0, NULL));
  g_assert_cmpint (wait_status (pid), ==, 0);
  close (out);
}

static void
test_not_root (void)
{
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;
  g_autofree char *uid = NULL;
  g_autofree char *gid = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = -1;

  if (!require_nspawn ())
    return;
  env = cbox_test_environ ((const char *const[]){ "SUDO_UID", "SUDO_GID", "SUDO_USER", NULL });
  project = make_project ("not-root");
  uid = g_strdup_printf ("--reuid=%u", (unsigned)test_uid);
  gid = g_strdup_printf ("--regid=%u", (unsigned)test_gid);
  {
    g_autofree char *project_arg = g_strconcat ("--project=", project, NULL);
    const char *argv[] = {
      "setpriv",          uid,         gid,  "--clear-groups", "--", cbox_test_cbox_path (), "run",
      "--backend=nspawn", project_arg, "--", "true",           NULL
    };
    g_autoptr (GError) error = NULL;
    g_assert_true (g_spawn_sync (project, (char **)argv, env, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                                 &err, &status, &error));
    g_assert_no_error (error);
  }
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 125);
  g_assert_nonnull (strstr (err, "backend nspawn needs root: run it with sudo"));
}

static void
new_process_group (gpointer user_data)
{
  setpgid (0, 0);
}

/* A Ctrl-C (SIGINT) or a SIGTERM to the whole process group of a run
 * whose stdin is not a terminal: the command gets that very signal (130,
 * 143), not a shutdown of the container that nspawn reported as 0. */
static void
test_process_group_signals (void)
{
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;
  g_autofree char *ready = NULL;
  static const int signals[] = { SIGINT, SIGTERM };

  if (!require_nspawn () || !require_exec_helper ())
    return;
  env = sudo_environ (NULL);
  project = make_project ("group-signals");
  ready = g_build_filename (project, "ready", NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (signals); i++)
    {
      g_autofree char *project_arg = g_strconcat ("--project=", project, NULL);
      const char *argv[] = {
        cbox_test_cbox_path (),         "run", "--backend=nspawn", project_arg, "--", "sh", "-c",
        "touch ready; exec sleep 1000", NULL
      };
      g_autoptr (GError) error = NULL;
      GPid pid = 0;
      int in_fd = -1;
      int out_fd = -1;

      g_unlink (ready);
      g_assert_true (g_spawn_async_with_pipes (project, (char **)argv, env,
                                               G_SPAWN_DO_NOT_REAP_CHILD, new_process_group, NULL,
                                               &pid, &in_fd, &out_fd, NULL, &error));
      g_assert_no_error (error);
      close (in_fd);
      g_assert_true (cbox_test_wait_for_path_while (ready, pid));
      g_usleep (300 * 1000);
      g_assert_no_errno (kill (-pid, signals[i]));
      g_assert_cmpint (wait_status (pid), ==, 128 + signals[i]);
      close (out_fd);
    }
}

/* A failure of systemd-nspawn itself (here: too few descriptors for its
 * console and sockets) is cbox's 125 with nspawn's message, not a status
 * passed off as the command's. */
static void
test_nspawn_own_failure (void)
{
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;
  g_autofree char *project_arg = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  int status = -1;

  if (!require_nspawn () || !require_exec_helper ())
    return;
  env = sudo_environ (NULL);
  project = make_project ("own-failure");
  project_arg = g_strconcat ("--project=", project, NULL);
  {
    const char *argv[] = { "prlimit",   "--nofile=" NSPAWN_TOO_FEW_FDS,
                           "--",        cbox_test_cbox_path (),
                           "run",       "--backend=nspawn",
                           project_arg, "--",
                           "true",      NULL };
    g_assert_true (g_spawn_sync (project, (char **)argv, env, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
                                 &err, &status, &error));
    g_assert_no_error (error);
  }
  g_assert_true (WIFEXITED (status));
  if (WEXITSTATUS (status) != 125
      || strstr (err, "systemd-nspawn failed before the command") == NULL)
    g_error ("expected 125 and nspawn's failure, got %d:\n%s", WEXITSTATUS (status), err);
}

/* [nspawn] sudo=true with no terminal for sudo to ask a password on: a
 * clear 125, not sudo's "a password is required" and exit 1. The test user
 * has no sudo rule (and so would need a password). */
static void
test_sudo_no_terminal (void)
{
  g_auto (GStrv) env = NULL;
  g_autofree char *project = NULL;
  g_autofree char *uid = NULL;
  g_autofree char *gid = NULL;
  g_autofree char *err = NULL;
  int status = -1;

  if (!require_nspawn ())
    return;
  if (!g_file_test ("/usr/bin/sudo", G_FILE_TEST_IS_EXECUTABLE))
    {
      cbox_test_skip_or_fail ("sudo is not installed");
      return;
    }
  env = cbox_test_environ ((const char *const[]){ "SUDO_UID", "SUDO_GID", "SUDO_USER", NULL });
  project = make_project ("sudo-no-terminal");
  uid = g_strdup_printf ("--reuid=%u", (unsigned)test_uid);
  gid = g_strdup_printf ("--regid=%u", (unsigned)test_gid);
  {
    g_autofree char *project_arg = g_strconcat ("--project=", project, NULL);
    const char *argv[] = { "setsid",
                           "setpriv",
                           uid,
                           gid,
                           "--clear-groups",
                           "--",
                           cbox_test_cbox_path (),
                           "--set=nspawn.sudo=true",
                           "run",
                           "--backend=nspawn",
                           project_arg,
                           "--",
                           "true",
                           NULL };
    g_autoptr (GError) error = NULL;
    g_assert_true (g_spawn_sync (project, (char **)argv, env, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
                                 &err, &status, &error));
    g_assert_no_error (error);
  }
  g_assert_true (WIFEXITED (status));
  if (WEXITSTATUS (status) != 125 || strstr (err, "no terminal to ask for it") == NULL)
    g_error ("expected 125 and the reason, got %d:\n%s", WEXITSTATUS (status), err);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nspawn/environment", test_environment);
  g_test_add_func ("/nspawn/identity", test_identity);
  g_test_add_func ("/nspawn/host-home-and-tmp-absent", test_host_home_and_tmp_absent);
  g_test_add_func ("/nspawn/network-off", test_network_off);
  g_test_add_data_func ("/nspawn/network-on/host-loopback-unreachable", GINT_TO_POINTER (FALSE),
                        test_network_modes);
  g_test_add_data_func ("/nspawn/network-host/host-loopback-reachable", GINT_TO_POINTER (TRUE),
                        test_network_modes);
  g_test_add_func ("/nspawn/network-on/publish", test_network_publish);
  g_test_add_func ("/nspawn/landlock-reaches-container", test_landlock_reaches_container);
  g_test_add_func ("/nspawn/exit-status", test_exit_status);
  g_test_add_func ("/nspawn/awkward-paths", test_awkward_paths);
  g_test_add_func ("/nspawn/stdin-pipe", test_stdin_pipe);
  g_test_add_func ("/nspawn/stdin-pty", test_stdin_pty);
  g_test_add_func ("/nspawn/signals", test_signal_forwarded);
  g_test_add_func ("/nspawn/concurrent", test_concurrent);
  g_test_add_func ("/nspawn/kill9-swept", test_kill9_swept);
  g_test_add_func ("/nspawn/enter", test_enter);
  g_test_add_func ("/nspawn/not-root", test_not_root);
  g_test_add_func ("/nspawn/process-group-signals", test_process_group_signals);
  g_test_add_func ("/nspawn/own-failure", test_nspawn_own_failure);
  g_test_add_func ("/nspawn/sudo-no-terminal", test_sudo_no_terminal);
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests of the bwrap backend: real bubblewrap, the built cbox
 * (`cbox run --backend=bwrap --forward=none`). Each test proves the
 * absence of a leak, or a behaviour a user relies on, and fails when it
 * breaks. The same suite runs as root and, through run-as-user.sh, as an
 * unprivileged user. */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cbox-test-util.h"

#define STRV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static char *bwrap_path;

/* cbox run --backend=bwrap --forward=none --network=NET --project=DIR -- ARGV,
 * NET off (0), on (1) or host (2). */
static GPtrArray *
run_args (const char *project, int network, const char *const *command)
{
  GPtrArray *args = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (args, g_strdup ("run"));
  g_ptr_array_add (args, g_strdup ("--backend=bwrap"));
  g_ptr_array_add (args, g_strdup ("--forward=none"));
  g_ptr_array_add (args, g_strdup (network == 2   ? "--network=host"
                                   : network == 1 ? "--network=on"
                                                  : "--network=off"));
  if (project != NULL)
    g_ptr_array_add (args, g_strconcat ("--project=", project, NULL));
  g_ptr_array_add (args, g_strdup ("--"));
  for (guint i = 0; command[i] != NULL; i++)
    g_ptr_array_add (args, g_strdup (command[i]));
  g_ptr_array_add (args, NULL);
  return args;
}

static gboolean
setup (void)
{
  if (bwrap_path == NULL)
    bwrap_path = cbox_test_require_program ("bwrap");
  return bwrap_path != NULL;
}

/* Runs `sh -c SCRIPT` in a sandbox on a fresh project; returns the project. */
static char *
run_sh (CboxTestResult *result, int network, const char *const *extra_env, const char *script)
{
  char *project = cbox_test_make_dir ("project");
  const char *command[] = { "sh", "-c", script, NULL };
  g_autoptr (GPtrArray) args = run_args (project, network, command);
  g_auto (GStrv) env = cbox_test_environ (extra_env);

  g_assert_true (cbox_test_run ((const char *const *)args->pdata, project, (const char *const *)env,
                                NULL, result));
  return project;
}

/* Starts `cbox run ... -- sh -c SCRIPT` in @project without waiting. */
static GSubprocess *
spawn_sh (const char *project, const char *script, GSubprocessFlags flags)
{
  g_autoptr (GPtrArray) args
      = run_args (project, FALSE, (const char *const[]){ "sh", "-c", script, NULL });
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);
  g_auto (GStrv) env = cbox_test_environ (NULL);
  g_autoptr (GError) error = NULL;
  GSubprocess *proc;

  g_ptr_array_insert (args, 0, g_strdup (cbox_test_cbox_path ()));
  g_subprocess_launcher_set_environ (launcher, env);
  g_subprocess_launcher_set_cwd (launcher, project);
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *)args->pdata, &error);
  g_assert_no_error (error);
  return proc;
}

static void
test_env_secret (void)
{
  g_auto (CboxTestResult) r = { 0 };
  const char *extra[] = { "CBOX_SECRET=x", NULL };
  g_autofree char *project = NULL;

  if (!setup ())
    return;
  project = run_sh (&r, FALSE, extra, "env");
  cbox_test_assert_status (&r, 0);
  /* The control: the base environment is there. */
  g_assert_nonnull (strstr (r.out, "HOME="));
  g_assert_null (strstr (r.out, "CBOX_SECRET"));
}

static void
test_home_file_absent (void)
{
  g_auto (CboxTestResult) r = { 0 };
  g_auto (GStrv) env = cbox_test_environ (NULL);
  const char *home = g_environ_getenv (env, "HOME");
  g_autofree char *secret = g_build_filename (home, "cbox-secret-file", NULL);
  g_autofree char *script = NULL;
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autofree char *quoted = NULL;
  const char *command[3] = { "sh", "-c", NULL };
  g_autoptr (GPtrArray) args = NULL;

  if (!setup ())
    return;
  g_assert_true (g_file_set_contents (secret, "secret", -1, NULL));
  quoted = g_shell_quote (secret);
  /* The home exists inside (a tmpfs at the same path), the file does not. */
  script
      = g_strdup_printf ("test -d \"$HOME\" && test \"$HOME\" = %s && test ! -e %s", home, quoted);
  command[2] = script;
  args = run_args (project, FALSE,
                   (const char *const[]){ command[0], command[1], command[2], NULL });
  g_assert_true (cbox_test_run ((const char *const *)args->pdata, project, (const char *const *)env,
                                NULL, &r));
  cbox_test_assert_status (&r, 0);
  g_unlink (secret);
}

/* A host directory fd that cbox's parent left open (no close-on-exec) must
 * not reach the command: openat() on it would be a way out. */
static void
test_inherited_fd_absent (void)
{
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autoptr (GPtrArray) args = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) env = cbox_test_environ (NULL);
  int dir_fd;

  if (!setup ())
    return;
  dir_fd = open ("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (dir_fd, >=, 0);
  /* The control, inside: the sandbox's own fds 0-2 are there. */
  args = run_args (project, FALSE,
                   (const char *const[]){
                       "sh", "-c", "test -e /proc/self/fd/2 && test ! -e /proc/self/fd/9", NULL });
  g_ptr_array_insert (args, 0, g_strdup (cbox_test_cbox_path ()));
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_environ (launcher, env);
  g_subprocess_launcher_set_cwd (launcher, project);
  g_subprocess_launcher_take_fd (launcher, dir_fd, 9);
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *)args->pdata, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_wait (proc, NULL, &error));
  g_assert_true (g_subprocess_get_if_exited (proc));
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 0);
}

static void
test_tmp_file_absent (void)
{
  g_auto (CboxTestResult) r = { 0 };
  g_autofree char *secret = NULL;
  g_autofree char *script = NULL;
  g_autofree char *project = NULL;
  int fd;

  if (!setup ())
    return;
  fd = g_file_open_tmp ("cbox-secret-XXXXXX", &secret, NULL);
  g_assert_cmpint (fd, >=, 0);
  close (fd);
  g_assert_true (g_str_has_prefix (secret, "/tmp/"));
  script = g_strdup_printf ("test -d /tmp && test ! -e '%s'", secret);
  project = run_sh (&r, FALSE, NULL, script);
  cbox_test_assert_status (&r, 0);
  g_unlink (secret);
}

static void
test_project_write (void)
{
  g_auto (CboxTestResult) r = { 0 };
  g_autofree char *project = NULL;
  g_autofree char *file = NULL;
  g_autofree char *contents = NULL;
  struct stat st;

  if (!setup ())
    return;
  project = run_sh (&r, FALSE, NULL, "echo written > out.txt");
  cbox_test_assert_status (&r, 0);
  file = g_build_filename (project, "out.txt", NULL);
  g_assert_true (g_file_get_contents (file, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "written\n");
  g_assert_cmpint (g_stat (file, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, getuid ());
  g_assert_cmpuint (st.st_gid, ==, getgid ());
}

static void
test_write_outside_fails (void)
{
  g_auto (CboxTestResult) r = { 0 };
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autofree char *parent = g_path_get_dirname (project);
  g_autofree char *escape = g_build_filename (parent, "cbox-escape", NULL);
  g_autofree char *script = NULL;
  g_autofree char *home_escape = NULL;
  const char *command[] = { "sh", "-c", NULL, NULL };
  g_autoptr (GPtrArray) args = NULL;

  if (!setup ())
    return;
  home_escape = g_build_filename (g_get_home_dir (), "cbox-escape", NULL);
  /* /usr is read-only; the project's parent and the home are the
   * sandbox's own tmpfs: writable inside, never reaching the host. */
  script = g_strdup_printf ("if touch /usr/cbox-escape 2>/dev/null; then exit 10; fi; "
                            "touch '%s' '%s' 2>/dev/null; exit 0",
                            escape, home_escape);
  command[2] = script;
  args = run_args (project, FALSE, command);
  g_assert_true (cbox_test_run ((const char *const *)args->pdata, project, NULL, NULL, &r));
  cbox_test_assert_status (&r, 0);
  g_assert_false (g_file_test ("/usr/cbox-escape", G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (escape, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (home_escape, G_FILE_TEST_EXISTS));
}

static void
test_host_processes_invisible (void)
{
  g_auto (CboxTestResult) r = { 0 };
  g_autoptr (GSubprocess) sleeper = NULL;
  g_autofree char *script = NULL;
  g_autofree char *project = NULL;
  const char *pid;

  if (!setup ())
    return;
  sleeper = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, NULL, "sleep", "100", NULL);
  g_assert_nonnull (sleeper);
  pid = g_subprocess_get_identifier (sleeper);
  /* The control: the command sees itself in its /proc. */
  script = g_strdup_printf ("test -d /proc/$$ && test ! -e /proc/%s && ls /proc | grep -c '^[0-9]'",
                            pid);
  project = run_sh (&r, FALSE, NULL, script);
  g_subprocess_force_exit (sleeper);
  cbox_test_assert_status (&r, 0);
  /* cbox-exec, sh, ls, grep: a handful, not the host's hundreds. */
  g_assert_cmpint (atoi (r.out), <=, 5);
}

/* Off: only a loopback. On: a network namespace of its own, with the
 * helper's interface and never the host's loopback. Host: the host's. */
static void
test_network (gconstpointer data)
{
  int network = GPOINTER_TO_INT (data);
  g_autoptr (GSocketListener) listener = g_socket_listener_new ();
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (CboxTestResult) r = { 0 };
  g_autofree char *python = NULL;
  g_autofree char *script = NULL;
  g_autofree char *project = NULL;
  guint16 port;

  if (!setup ())
    return;
  python = cbox_test_require_program ("python3");
  if (python == NULL)
    return;
  g_assert_true (g_socket_listener_add_address (listener, address, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error));
  g_assert_no_error (error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  /* Prints the interfaces, then whether 127.0.0.1:PORT answered. The
   * listener's backlog accepts the connection without a main loop. */
  script = g_strdup_printf (
      "sed -n 's/^ *\\([^:]*\\):.*/\\1/p' /proc/net/dev | tr '\\n' ' '; echo; "
      "python3 -c 'import socket,sys\n"
      "try:\n socket.create_connection((\"127.0.0.1\", %u), timeout=5); print(\"connected\")\n"
      "except OSError as e: print(\"refused\", e)'",
      port);
  project = run_sh (&r, network, NULL, script);
  cbox_test_assert_status (&r, 0);
  if (network == 2)
    {
      g_assert_nonnull (strstr (r.out, "connected"));
    }
  else if (network == 1)
    {
      g_assert_true (g_str_has_prefix (r.out, "lo tap0 \n"));
      g_assert_nonnull (strstr (r.out, "refused"));
    }
  else
    {
      g_assert_true (g_str_has_prefix (r.out, "lo \n"));
      g_assert_nonnull (strstr (r.out, "refused"));
    }
}

typedef struct
{
  const char *const *command;
  int status;
  const char *message;
} StatusCase;

static void
test_status (gconstpointer data)
{
  const StatusCase *c = data;
  g_auto (CboxTestResult) r = { 0 };
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autoptr (GPtrArray) args = run_args (project, FALSE, c->command);

  if (!setup ())
    return;
  g_assert_true (cbox_test_run ((const char *const *)args->pdata, project, NULL, NULL, &r));
  cbox_test_assert_status (&r, c->status);
  if (c->message != NULL)
    g_assert_nonnull (strstr (r.err, c->message));
}

static const StatusCase status_0 = { STRV ("true"), 0, NULL };
static const StatusCase status_3 = { STRV ("sh", "-c", "exit 3"), 3, NULL };
/* /etc/passwd exists inside (generated, mode 0644) but is not executable. */
/* bwrap starts before the forwarders are planned (prestart) and waits for
 * its arguments; the run hands them over. The command still sees only its
 * stdin, stdout and stderr: none of the spare descriptors the early bwrap
 * was given. */
static void
test_early_used (void)
{
  g_auto (CboxTestResult) r = { 0 };
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autoptr (GPtrArray) args = NULL;
  g_auto (GStrv) env = cbox_test_environ (NULL);

  if (!setup ())
    return;
  args = run_args (
      project, FALSE,
      (const char *const[]){ "sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '", NULL });
  g_ptr_array_insert (args, 1, g_strdup ("--verbose"));
  g_assert_true (cbox_test_run ((const char *const *)args->pdata, project, (const char *const *)env,
                                NULL, &r));
  cbox_test_assert_status (&r, 0);
  g_assert_nonnull (strstr (r.err, "backend bwrap: started early"));
  g_assert_nonnull (strstr (r.err, "the early bwrap gets its arguments"));
  g_assert_null (strstr (r.err, "does not fit"));
  /* 0-2, and 3: ls's own handle on /proc/self/fd. */
  g_assert_cmpstr (r.out, ==, "0 1 2 3 ");
}

/* More generated files than the early bwrap has spare descriptors for:
 * the run stops it and starts bwrap as usual, and every file is there. */
static void
test_early_fallback (void)
{
  g_auto (CboxTestResult) r = { 0 };
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autoptr (GPtrArray) args = NULL;
  g_auto (GStrv) env = cbox_test_environ (NULL);
  g_autoptr (GPtrArray) copies = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) script = g_string_new ("cat");

  if (!setup ())
    return;
  for (guint i = 0; i < 12; i++)
    {
      g_autofree char *name = g_strdup_printf ("f%u", i);
      g_autofree char *path = g_build_filename (project, name, NULL);
      g_autofree char *content = g_strdup_printf ("%u\n", i);

      g_assert_true (g_file_set_contents (path, content, -1, NULL));
      g_ptr_array_add (copies, g_strdup_printf ("--copy=%s:/run/copies/%s", path, name));
      g_string_append_printf (script, " /run/copies/%s", name);
    }
  g_string_append (script, " | tr '\\n' ' '");
  args = run_args (project, FALSE, (const char *const[]){ "sh", "-c", script->str, NULL });
  g_ptr_array_insert (args, 1, g_strdup ("--verbose"));
  for (guint i = 0; i < copies->len; i++)
    g_ptr_array_insert (args, 1, g_strdup (g_ptr_array_index (copies, i)));
  g_assert_true (cbox_test_run ((const char *const *)args->pdata, project, (const char *const *)env,
                                NULL, &r));
  cbox_test_assert_status (&r, 0);
  g_assert_nonnull (strstr (r.err, "does not fit"));
  g_assert_null (strstr (r.err, "the early bwrap gets its arguments"));
  g_assert_cmpstr (r.out, ==, "0 1 2 3 4 5 6 7 8 9 10 11 ");
}

/* Planning fails after bwrap was started early (a forwarder that is not
 * available): cbox stops and reaps that bwrap itself. The test is the
 * subreaper of everything cbox starts, so a bwrap left to the parent-death
 * signal would come back to it as a child; none may, and bwrap may not
 * have complained about arguments it never got. */
static void
test_early_planning_fails (void)
{
  g_auto (CboxTestResult) r = { 0 };
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autoptr (GPtrArray) args = NULL;
  const char *const env_extra[] = { "DISPLAY=", "WAYLAND_DISPLAY=", NULL };
  g_auto (GStrv) env = cbox_test_environ (env_extra);
  int wstatus;

  if (!setup ())
    return;
  g_assert_cmpint (prctl (PR_SET_CHILD_SUBREAPER, 1), ==, 0);
  args = run_args (project, FALSE, (const char *const[]){ "true", NULL });
  /* After run_args()'s --forward=none, which would clear it. */
  g_assert_cmpstr (g_ptr_array_index (args, 2), ==, "--forward=none");
  g_ptr_array_insert (args, 3, g_strdup ("--forward=x11"));
  g_ptr_array_insert (args, 1, g_strdup ("--verbose"));
  g_assert_true (cbox_test_run ((const char *const *)args->pdata, project, (const char *const *)env,
                                NULL, &r));
  g_assert_cmpint (prctl (PR_SET_CHILD_SUBREAPER, 0), ==, 0);
  cbox_test_assert_status (&r, 125);
  g_assert_nonnull (strstr (r.err, "backend bwrap: started early"));
  /* bwrap's own messages start "bwrap:", cbox's about bwrap "cbox: bwrap:". */
  g_assert_null (strstr (r.err, "\nbwrap:"));
  g_assert_false (g_str_has_prefix (r.err, "bwrap:"));
  g_assert_cmpint (waitpid (-1, &wstatus, WNOHANG), <=, 0);
}

/* `cbox plan` shows what a run would do and starts nothing: bwrap is not
 * started early for it. The fake bwrap leaves a mark when it runs; a real
 * run (the control) leaves it, a plan must not. */
static void
test_early_not_for_plan (void)
{
  g_auto (CboxTestResult) r = { 0 };
  g_autofree char *dir = cbox_test_make_dir ("fake-bwrap");
  g_autofree char *fake = g_build_filename (dir, "bwrap", NULL);
  g_autofree char *mark = g_build_filename (dir, "ran", NULL);
  g_autofree char *config = g_build_filename (dir, "cbox.conf", NULL);
  g_autofree char *script = NULL;
  g_autofree char *config_text = NULL;
  g_autofree char *config_opt = NULL;

  if (!setup ())
    return;
  script = g_strdup_printf ("#!/bin/sh\n"
                            "[ \"$1\" = --version ] && { echo bubblewrap 0.8.0; exit 0; }\n"
                            "touch '%s'\n"
                            "exit 1\n",
                            mark);
  g_assert_true (g_file_set_contents (fake, script, -1, NULL));
  g_assert_cmpint (g_chmod (fake, 0755), ==, 0);
  config_text = g_strdup_printf ("[bwrap]\npath=%s\n", fake);
  g_assert_true (g_file_set_contents (config, config_text, -1, NULL));
  config_opt = g_strconcat ("--config=", config, NULL);

  g_assert_true (cbox_test_runv (&r, config_opt, "plan", "--backend=bwrap", "--forward=none",
                                 "--print-command", "--", "true", NULL));
  cbox_test_assert_status (&r, 0);
  g_assert_false (g_file_test (mark, G_FILE_TEST_EXISTS));

  cbox_test_result_clear (&r);
  g_assert_true (cbox_test_runv (&r, config_opt, "run", "--backend=bwrap", "--forward=none", "--",
                                 "true", NULL));
  cbox_test_assert_status (&r, 125);
  g_assert_true (g_file_test (mark, G_FILE_TEST_EXISTS));
}

static const StatusCase status_126 = { STRV ("/etc/passwd"), 126, "/etc/passwd" };
static const StatusCase status_127
    = { STRV ("cbox-no-such-command"), 127, "cbox: cbox-no-such-command: not found" };
static const StatusCase status_137 = { STRV ("sh", "-c", "kill -9 $$"), 137, NULL };

static void
test_weird_project_path (void)
{
  g_auto (CboxTestResult) r = { 0 };
  g_autofree char *project = cbox_test_make_dir ("sp ace 'q\" dq\nnl \xff\xfe end");
  g_autofree char *file = g_build_filename (project, "made-inside", NULL);
  const char *command[] = { "sh", "-c", "pwd; touch made-inside", NULL };
  g_autoptr (GPtrArray) args = run_args (project, FALSE, command);

  if (!setup ())
    return;
  g_assert_true (cbox_test_run ((const char *const *)args->pdata, project, NULL, NULL, &r));
  cbox_test_assert_status (&r, 0);
  g_assert_true (g_file_test (file, G_FILE_TEST_EXISTS));
  g_assert_true (g_str_has_prefix (r.out, project));
  g_assert_cmpstr (r.out + strlen (project), ==, "\n");
}

static void
test_many_args (void)
{
  g_auto (CboxTestResult) r = { 0 };
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autoptr (GPtrArray) command = g_ptr_array_new ();
  g_autoptr (GPtrArray) args = NULL;

  if (!setup ())
    return;
  g_ptr_array_add (command, (gpointer) "sh");
  g_ptr_array_add (command, (gpointer) "-c");
  g_ptr_array_add (command, (gpointer) "echo $# \"$1\" \"${100000}\"");
  g_ptr_array_add (command, (gpointer) "sh");
  for (guint i = 0; i < 100000; i++)
    g_ptr_array_add (command, (gpointer)(i == 0 ? "first" : i == 99999 ? "last" : "a"));
  g_ptr_array_add (command, NULL);
  args = run_args (project, FALSE, (const char *const *)command->pdata);
  g_assert_true (cbox_test_run ((const char *const *)args->pdata, project, NULL, NULL, &r));
  cbox_test_assert_status (&r, 0);
  g_assert_cmpstr (r.out, ==, "100000 first last\n");
}

static void
test_tiocsti (void)
{
  g_auto (CboxTestResult) r = { 0 };
  const char *program = g_getenv ("CBOX_TEST_TIOCSTI");
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autofree char *copy = g_build_filename (project, "test-tiocsti", NULL);
  g_autofree char *contents = NULL;
  gsize len;
  const char *command[] = { "./test-tiocsti", NULL };
  g_autoptr (GPtrArray) args = run_args (project, FALSE, command);

  if (!setup ())
    return;
  g_assert_nonnull (program);
  /* Into the project, so it is inside whatever the build directory is. */
  g_assert_true (g_file_get_contents (program, &contents, &len, NULL));
  g_assert_true (g_file_set_contents (copy, contents, (gssize)len, NULL));
  g_assert_cmpint (g_chmod (copy, 0755), ==, 0);
  g_assert_true (cbox_test_run ((const char *const *)args->pdata, project, NULL, NULL, &r));
  cbox_test_assert_status (&r, 0);
  /* TIOCSTI, TIOCSTI with the high bits set, TIOCLINUX. */
  g_assert_cmpstr (r.out, ==, "EPERM EPERM EPERM\n");
}

static void
test_concurrent (void)
{
  GSubprocess *procs[20];
  g_autoptr (GError) error = NULL;

  if (!setup ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (procs); i++)
    {
      g_autofree char *project = cbox_test_make_dir ("project");
      g_autofree char *script = g_strdup_printf ("echo %u > run.txt; sleep 0.2; cat run.txt", i);

      procs[i] = spawn_sh (project, script, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    }
  for (guint i = 0; i < G_N_ELEMENTS (procs); i++)
    {
      g_autofree char *out = NULL;
      g_autofree char *expected = g_strdup_printf ("%u\n", i);

      g_assert_true (g_subprocess_communicate_utf8 (procs[i], NULL, NULL, &out, NULL, &error));
      g_assert_no_error (error);
      g_assert_true (g_subprocess_get_if_exited (procs[i]));
      g_assert_cmpint (g_subprocess_get_exit_status (procs[i]), ==, 0);
      g_assert_cmpstr (out, ==, expected);
      g_object_unref (procs[i]);
    }
}

/* Processes running `sleep ...@token...`. */
static guint
count_processes_with (const char *token)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;
  guint n = 0;

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc", name, "cmdline", NULL);
      g_autofree char *cmdline = NULL;
      gsize len;

      if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &cmdline, &len, NULL))
        continue;
      for (gsize i = 0; i + 1 < len; i++)
        if (cmdline[i] == '\0')
          cmdline[i] = ' ';
      if (g_str_has_prefix (cmdline, "sleep ") && strstr (cmdline, token) != NULL)
        n++;
    }
  return n;
}

static GHashTable *
list_dir (const char *path)
{
  GHashTable *names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    g_hash_table_add (names, g_strdup (name));
  return names;
}

static void
test_kill9 (void)
{
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autofree char *token = g_strdup_printf ("%u", g_random_int_range (1000000, 9999999));
  g_autofree char *script = NULL;
  g_autofree char *mounts_before = NULL;
  g_autofree char *mounts_after = NULL;
  g_autoptr (GHashTable) tmp_before = list_dir ("/tmp");
  g_autoptr (GHashTable) tmp_after = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  GHashTableIter iter;
  const char *name;
  guint left = 1;

  if (!setup ())
    return;
  g_assert_true (g_file_get_contents ("/proc/self/mountinfo", &mounts_before, NULL, NULL));
  /* A child and a grandchild, both carrying the token on their command line. */
  /* (100 s at most even when the test fails and leaves them.) */
  script = g_strdup_printf ("sleep 100.%s & exec sleep 99.%s", token, token);
  proc = spawn_sh (project, script, G_SUBPROCESS_FLAGS_NONE);
  for (guint i = 0; i < 3000 && count_processes_with (token) < 2; i++)
    g_usleep (10000);
  g_assert_cmpuint (count_processes_with (token), ==, 2);

  g_subprocess_send_signal (proc, SIGKILL);
  g_assert_true (g_subprocess_wait (proc, NULL, &error));
  /* The kernel takes the sandbox down right after (parent-death signals,
   * then the pid namespace); a bounded wait for that. */
  for (guint i = 0; i < 500 && (left = count_processes_with (token)) > 0; i++)
    g_usleep (10000);
  g_assert_cmpuint (left, ==, 0);

  g_assert_true (g_file_get_contents ("/proc/self/mountinfo", &mounts_after, NULL, NULL));
  g_assert_null (strstr (mounts_after, project));
  /* New files in /tmp that look like bwrap's or cbox's (other tests of
   * the tree run at the same time, so only those names count). */
  tmp_after = list_dir ("/tmp");
  g_hash_table_iter_init (&iter, tmp_after);
  while (g_hash_table_iter_next (&iter, (gpointer *)&name, NULL))
    if (!g_hash_table_contains (tmp_before, name)
        && (strstr (name, "bwrap") != NULL || g_str_has_prefix (name, "cbox-run")))
      g_error ("left behind in /tmp: %s", name);
}

static void
test_signal (gconstpointer data)
{
  int sig = GPOINTER_TO_INT (data);
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autofree char *ready = g_build_filename (project, "ready", NULL);
  g_autofree char *script = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;

  if (!setup ())
    return;
  /* The command's own trap must run: exit 40+N, not 128+N. */
  script = g_strdup_printf ("trap 'exit %d' %d; touch ready; i=0; "
                            "while [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; exit 99",
                            40 + sig, sig);
  proc = spawn_sh (project, script, G_SUBPROCESS_FLAGS_NONE);
  g_assert_true (cbox_test_wait_for_path (ready, 30));
  g_subprocess_send_signal (proc, sig);
  g_assert_true (g_subprocess_wait (proc, NULL, &error));
  g_assert_true (g_subprocess_get_if_exited (proc));
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 40 + sig);
}

typedef struct
{
  int slave;
} PtyChild;

static void
pty_child_setup (gpointer user_data)
{
  PtyChild *c = user_data;

  setsid ();
  ioctl (c->slave, TIOCSCTTY, 0);
  dup2 (c->slave, 0);
  dup2 (c->slave, 1);
  dup2 (c->slave, 2);
}

/* Reads from @fd into @buf until @needle shows up (bounded). */
static gboolean
pty_read_until (int fd, GString *buf, const char *needle)
{
  for (guint i = 0; i < 3000; i++)
    {
      char chunk[512];
      ssize_t n;

      if (strstr (buf->str, needle) != NULL)
        return TRUE;
      n = read (fd, chunk, sizeof chunk);
      if (n > 0)
        g_string_append_len (buf, chunk, n);
      else if (n < 0 && errno == EAGAIN)
        g_usleep (10000);
      else
        return strstr (buf->str, needle) != NULL;
    }
  return FALSE;
}

static void
test_pty (void)
{
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autofree char *bash = cbox_test_require_program ("bash");
  g_autoptr (GPtrArray) args = NULL;
  g_autoptr (GString) buf = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) env = NULL;
  struct winsize ws = { .ws_row = 33, .ws_col = 77 };
  const char *input;
  PtyChild child;
  GPid pid;
  int master, wstatus;

  if (!setup () || bash == NULL)
    return;
  g_assert_cmpint (openpty (&master, &child.slave, NULL, NULL, &ws), ==, 0);
  g_assert_cmpint (fcntl (master, F_SETFL, O_NONBLOCK), ==, 0);
  args = run_args (project, FALSE, (const char *const[]){ "bash", "--norc", "-i", NULL });
  g_ptr_array_insert (args, 0, g_strdup (cbox_test_cbox_path ()));
  env = cbox_test_environ ((const char *const[]){ "TERM=dumb", "PS1=cbox$ ", NULL });
  g_assert_true (g_spawn_async (project, (char **)args->pdata, env,
                                G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_LEAVE_DESCRIPTORS_OPEN,
                                pty_child_setup, &child, &pid, &error));
  g_assert_no_error (error);
  close (child.slave);

  /* Job control: bash inside owns the terminal's foreground group (it
   * says "no job control" otherwise); the window size came through; a
   * background job and `fg` work. */
  input = "stty size; echo A$((6*7))B; sleep 0.1 & fg; echo jobs-$((2+3))\n";
  g_assert_cmpint (write (master, input, strlen (input)), ==, (gssize)strlen (input));
  if (!pty_read_until (master, buf, "jobs-5\r\n"))
    g_error ("no answer from the shell: %s", buf->str);
  g_assert_nonnull (strstr (buf->str, "33 77"));
  g_assert_nonnull (strstr (buf->str, "A42B"));
  g_assert_null (strstr (buf->str, "no job control"));
  g_assert_null (strstr (buf->str, "cannot set terminal process group"));

  /* ^C ends the foreground job, not the shell nor the sandbox; the shell's
   * next command runs long before the sleep would have ended. */
  input = "sleep 100\n";
  g_assert_cmpint (write (master, input, strlen (input)), ==, (gssize)strlen (input));
  g_assert_true (pty_read_until (master, buf, "sleep 100\r\n"));
  g_usleep (300000);
  g_assert_cmpint (write (master, "\003", 1), ==, 1);
  input = "echo int-$?-$((1+1))\n";
  g_assert_cmpint (write (master, input, strlen (input)), ==, (gssize)strlen (input));
  if (!pty_read_until (master, buf, "int-130-2\r\n"))
    g_error ("^C did not end the foreground job: %s", buf->str);

  input = "exit 5\n";
  g_assert_cmpint (write (master, input, strlen (input)), ==, (gssize)strlen (input));
  g_assert_cmpint (waitpid (pid, &wstatus, 0), ==, pid);
  g_assert_true (WIFEXITED (wstatus));
  g_assert_cmpint (WEXITSTATUS (wstatus), ==, 5);
  close (master);
}

static void
test_pipe (void)
{
  g_auto (CboxTestResult) r = { 0 };
  g_autofree char *project = cbox_test_make_dir ("project");
  const char *command[] = { "tr", "a-z", "A-Z", NULL };
  g_autoptr (GPtrArray) args = run_args (project, FALSE, command);

  if (!setup ())
    return;
  g_assert_true (
      cbox_test_run ((const char *const *)args->pdata, project, NULL, "through a pipe\n", &r));
  cbox_test_assert_status (&r, 0);
  g_assert_cmpstr (r.out, ==, "THROUGH A PIPE\n");
}

/* bwrap's own failure (here a stand-in that fails like bwrap does, before
 * any command runs) is cbox's exit 125 with bwrap's message; a command
 * exiting 1, as bwrap does, stays 1 (the status-fd tells them apart). */
static void
test_bwrap_failure (void)
{
  g_auto (CboxTestResult) r = { 0 };
  g_autofree char *dir = cbox_test_make_dir ("fake-bwrap");
  g_autofree char *fake = g_build_filename (dir, "bwrap", NULL);
  g_autofree char *config = g_build_filename (dir, "cbox.conf", NULL);
  g_autofree char *config_text = NULL;
  g_autofree char *config_opt = NULL;
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autoptr (GPtrArray) args = NULL;

  if (!setup ())
    return;
  g_assert_true (
      g_file_set_contents (fake,
                           "#!/bin/sh\n"
                           "[ \"$1\" = --version ] && { echo bubblewrap 0.8.0; exit 0; }\n"
                           "echo 'bwrap: Can'\\''t mount tmpfs on /newroot: fake' >&2\n"
                           "exit 1\n",
                           -1, NULL));
  g_assert_cmpint (g_chmod (fake, 0755), ==, 0);
  config_text = g_strdup_printf ("[bwrap]\npath=%s\n", fake);
  g_assert_true (g_file_set_contents (config, config_text, -1, NULL));
  config_opt = g_strconcat ("--config=", config, NULL);
  args = run_args (project, FALSE, (const char *const[]){ "true", NULL });
  g_ptr_array_insert (args, 0, g_strdup (config_opt));
  g_assert_true (cbox_test_run ((const char *const *)args->pdata, project, NULL, NULL, &r));
  cbox_test_assert_status (&r, 125);
  g_assert_nonnull (strstr (r.err, "bwrap: Can't mount tmpfs on /newroot: fake"));
  g_assert_nonnull (strstr (r.err, "bwrap failed before the command started"));
}

static const StatusCase status_1 = { STRV ("sh", "-c", "echo inside; exit 1"), 1, NULL };

/* sudo cbox: root acting for a user starts bwrap as that user, so the
 * command is the user (no --uid mapping onto host root) and its files in
 * the project are the user's. */
static void
test_sudo_drops_root (void)
{
  const char *user = g_getenv ("CBOX_TEST_USER") != NULL ? g_getenv ("CBOX_TEST_USER") : "cboxtest";
  g_auto (CboxTestResult) r = { 0 };
  g_autofree char *project = NULL;
  g_autofree char *file = NULL;
  g_autofree char *sudo_uid = NULL, *sudo_gid = NULL, *expected = NULL;
  g_auto (GStrv) env = NULL;
  g_autoptr (GPtrArray) args = NULL;
  struct passwd *pw;
  struct stat st;

  if (!setup ())
    return;
  if (getuid () != 0)
    {
      g_test_skip ("needs root (sudo)");
      return;
    }
  pw = getpwnam (user);
  if (pw == NULL)
    {
      cbox_test_skip_or_fail ("no user cboxtest (tools/install-deps makes it)");
      return;
    }
  /* A project the user owns, where the user can reach it. */
  project = g_dir_make_tmp ("cbox-sudo-XXXXXX", NULL);
  g_assert_nonnull (project);
  g_assert_cmpint (chown (project, pw->pw_uid, pw->pw_gid), ==, 0);
  sudo_uid = g_strdup_printf ("SUDO_UID=%u", (unsigned)pw->pw_uid);
  sudo_gid = g_strdup_printf ("SUDO_GID=%u", (unsigned)pw->pw_gid);
  env = cbox_test_environ ((const char *const[]){ sudo_uid, sudo_gid, NULL });
  args = run_args (project, FALSE,
                   (const char *const[]){ "sh", "-c", "id -u; touch made-by-user", NULL });
  g_assert_true (cbox_test_run ((const char *const *)args->pdata, project, (const char *const *)env,
                                NULL, &r));
  file = g_build_filename (project, "made-by-user", NULL);
  g_assert_cmpint (g_stat (file, &st), ==, 0);
  g_unlink (file);
  g_rmdir (project);
  cbox_test_assert_status (&r, 0);
  expected = g_strdup_printf ("%u\n", (unsigned)pw->pw_uid);
  g_assert_cmpstr (r.out, ==, expected);
  g_assert_cmpuint (st.st_uid, ==, pw->pw_uid);
  g_assert_cmpuint (st.st_gid, ==, pw->pw_gid);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/bwrap/env/host-variable-absent", test_env_secret);
  g_test_add_func ("/bwrap/fs/host-home-file-absent", test_home_file_absent);
  g_test_add_func ("/bwrap/fs/host-tmp-file-absent", test_tmp_file_absent);
  g_test_add_func ("/bwrap/fs/inherited-fd-absent", test_inherited_fd_absent);
  g_test_add_func ("/bwrap/fs/project-write-owned-by-user", test_project_write);
  g_test_add_func ("/bwrap/fs/write-outside-project-fails", test_write_outside_fails);
  g_test_add_func ("/bwrap/fs/weird-project-path", test_weird_project_path);
  g_test_add_func ("/bwrap/pid/host-processes-invisible", test_host_processes_invisible);
  g_test_add_data_func ("/bwrap/net/off", GINT_TO_POINTER (0), test_network);
  g_test_add_data_func ("/bwrap/net/on", GINT_TO_POINTER (1), test_network);
  g_test_add_data_func ("/bwrap/net/host", GINT_TO_POINTER (2), test_network);
  g_test_add_data_func ("/bwrap/status/0", &status_0, test_status);
  g_test_add_data_func ("/bwrap/status/3", &status_3, test_status);
  g_test_add_data_func ("/bwrap/status/126-not-executable", &status_126, test_status);
  g_test_add_data_func ("/bwrap/status/127-not-found", &status_127, test_status);
  g_test_add_data_func ("/bwrap/status/137-killed", &status_137, test_status);
  g_test_add_func ("/bwrap/args/100000", test_many_args);
  g_test_add_func ("/bwrap/seccomp/tiocsti-eperm", test_tiocsti);
  g_test_add_func ("/bwrap/concurrent/20", test_concurrent);
  g_test_add_func ("/bwrap/kill9/nothing-left", test_kill9);
  g_test_add_data_func ("/bwrap/signal/int", GINT_TO_POINTER (SIGINT), test_signal);
  g_test_add_data_func ("/bwrap/signal/term", GINT_TO_POINTER (SIGTERM), test_signal);
  g_test_add_data_func ("/bwrap/signal/hup", GINT_TO_POINTER (SIGHUP), test_signal);
  g_test_add_func ("/bwrap/tty/interactive-shell", test_pty);
  g_test_add_func ("/bwrap/pipe", test_pipe);
  g_test_add_func ("/bwrap/status/125-bwrap-failed", test_bwrap_failure);
  g_test_add_data_func ("/bwrap/status/1-not-bwrap", &status_1, test_status);
  g_test_add_func ("/bwrap/sudo/runs-as-the-user", test_sudo_drops_root);
  g_test_add_func ("/bwrap/early/used", test_early_used);
  g_test_add_func ("/bwrap/early/fallback-many-files", test_early_fallback);
  g_test_add_func ("/bwrap/early/planning-fails-nothing-left", test_early_planning_fails);
  g_test_add_func ("/bwrap/early/not-for-plan", test_early_not_for_plan);
  return g_test_run ();
}

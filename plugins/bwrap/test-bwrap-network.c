/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sandbox's network on bwrap, tried as an attacker inside would: real
 * host services on the host's loopback and on abstract unix sockets (an
 * Xvfb, a dbus-daemon on an abstract address, HTTP on 127.0.0.1 and ::1,
 * a UDP echo on 127.0.0.1), none of them forwarded. With the default
 * network (a namespace of the sandbox's own) none is reachable, not even
 * through the helper's gateway address; with --network=host all are (so
 * the probe can tell). The run fails closed when the network helper is
 * missing or fails. Runs as root and, through run-as-user.sh, as an
 * unprivileged user. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cbox-test-util.h"

typedef struct
{
  GSubprocess *services; /* net-services.py */
  guint http4, http6, udp;
  GSubprocess *xvfb;
  guint display;
  GSubprocess *dbus;
  char *dbus_abstract; /* the path of the bus's abstract socket */
} HostServices;

static HostServices host;

static gboolean
have_programs (void)
{
  static const char *const programs[]
      = { "bwrap", "python3", "Xvfb", "dbus-daemon", "slirp4netns" };

  for (gsize i = 0; i < G_N_ELEMENTS (programs); i++)
    {
      g_autofree char *path = cbox_test_require_program (programs[i]);
      if (path == NULL)
        return FALSE;
    }
  return TRUE;
}

static guint
read_port (GDataInputStream *in, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_autofree char *prefix = g_strconcat (name, " ", NULL);

  g_assert_no_error (error);
  g_assert_nonnull (line);
  g_assert_true (g_str_has_prefix (line, prefix));
  return (guint)g_ascii_strtoull (line + strlen (prefix), NULL, 10);
}

static void
start_services (void)
{
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "net", "net-services.py", NULL);
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GDataInputStream) in = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *ready = NULL;
  g_autofree char *number = NULL;
  g_autofree char *address = NULL;
  int fds[2];
  char c;
  GString *text;

  /* HTTP on 127.0.0.1 and ::1, UDP echo on 127.0.0.1. */
  launcher = cbox_test_server_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE
                                            | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  host.services = g_subprocess_launcher_spawn (launcher, &error, "python3", script, NULL);
  g_assert_no_error (error);
  in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (host.services));
  host.http4 = read_port (in, "http4");
  host.http6 = read_port (in, "http6");
  host.udp = read_port (in, "udp");
  ready = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ready, ==, "ready");
  g_clear_object (&launcher);

  /* An X server on its path socket and its abstract one
   * (@/tmp/.X11-unix/XN, which X servers on Linux open as well); the
   * display number is the server's pick, so parallel tests never meet. */
  g_assert_cmpint (pipe2 (fds, O_CLOEXEC), ==, 0);
  launcher = cbox_test_server_launcher_new (G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_take_fd (launcher, fds[1], 3);
  host.xvfb = g_subprocess_launcher_spawn (launcher, &error, "Xvfb", "-displayfd", "3", "-nolisten",
                                           "tcp", NULL);
  g_assert_no_error (error);
  g_clear_object (&launcher);
  text = g_string_new (NULL);
  while (read (fds[0], &c, 1) == 1 && c != '\n')
    g_string_append_c (text, c);
  close (fds[0]);
  number = g_string_free (text, FALSE);
  g_assert_cmpuint (strlen (number), >, 0);
  host.display = (guint)g_ascii_strtoull (number, NULL, 10);

  /* A session bus that listens on an abstract address only. */
  host.dbus_abstract
      = g_strdup_printf ("/tmp/cbox-test-net-bus-%d-%u", (int)getpid (), g_random_int ());
  address = g_strdup_printf ("--address=unix:abstract=%s", host.dbus_abstract);
  launcher = cbox_test_server_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  host.dbus = g_subprocess_launcher_spawn (launcher, &error, "dbus-daemon", "--session", "--nofork",
                                           "--print-address=1", address, NULL);
  g_assert_no_error (error);
  g_clear_object (&in);
  in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (host.dbus));
  {
    g_autofree char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_nonnull (line);
    /* Listening once it printed its address. */
    g_assert_true (g_str_has_prefix (line, "unix:abstract="));
  }
}

/* The probe's targets; @gateway adds the helper's gateway address, which
 * slirp4netns would map to the host's loopback without
 * --disable-host-loopback. */
static GPtrArray *
probe_targets (gboolean gateway)
{
  GPtrArray *t = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (t, g_strdup_printf ("http:http4:127.0.0.1:%u", host.http4));
  g_ptr_array_add (t, g_strdup_printf ("http:http6:::1:%u", host.http6));
  g_ptr_array_add (t, g_strdup_printf ("udp:udp4:127.0.0.1:%u", host.udp));
  g_ptr_array_add (t, g_strdup_printf ("abstract:x11:/tmp/.X11-unix/X%u", host.display));
  g_ptr_array_add (t, g_strdup_printf ("abstract:dbus:%s", host.dbus_abstract));
  g_ptr_array_add (t, g_strdup_printf ("own:own:cbox-test-own-%d", (int)getpid ()));
  if (gateway)
    {
      g_ptr_array_add (t, g_strdup_printf ("http:gw-http4:10.0.2.2:%u", host.http4));
      g_ptr_array_add (t, g_strdup_printf ("udp:gw-udp4:10.0.2.2:%u", host.udp));
    }
  return t;
}

/* Runs the probe inside with @network ("on", "host", or NULL for the
 * default) on @backend; returns its output. */
static char *
run_probe_on (const char *backend, const char *network, GPtrArray *targets)
{
  g_autofree char *probe_src = g_test_build_filename (G_TEST_DIST, "net", "net-probe.py", NULL);
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autofree char *probe = g_build_filename (project, "net-probe.py", NULL);
  g_autofree char *content = NULL;
  g_autoptr (GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_auto (CboxTestResult) r = { 0 };

  g_assert_true (g_file_get_contents (probe_src, &content, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (probe, content, -1, &error));
  g_assert_no_error (error);
  g_ptr_array_add (args, g_strdup ("run"));
  g_ptr_array_add (args, g_strconcat ("--backend=", backend, NULL));
  if (g_str_equal (backend, "qemu"))
    g_ptr_array_add (args, g_strdup ("--set=qemu.accel=tcg"));
  g_ptr_array_add (args, g_strdup ("--forward=none"));
  if (network != NULL)
    g_ptr_array_add (args, g_strconcat ("--network=", network, NULL));
  g_ptr_array_add (args, g_strconcat ("--project=", project, NULL));
  g_ptr_array_add (args, g_strdup ("--"));
  g_ptr_array_add (args, g_strdup ("python3"));
  g_ptr_array_add (args, g_strdup ("net-probe.py"));
  for (guint i = 0; i < targets->len; i++)
    g_ptr_array_add (args, g_strdup (g_ptr_array_index (targets, i)));
  g_ptr_array_add (args, NULL);
  g_assert_true (cbox_test_run ((const char *const *)args->pdata, project, NULL, NULL, &r));
  cbox_test_assert_status (&r, 0);
  g_test_message ("probe (--network=%s):\n%s", network != NULL ? network : "(default)", r.out);
  return g_strdup (r.out);
}

static char *
run_probe (const char *network, GPtrArray *targets)
{
  return run_probe_on ("bwrap", network, targets);
}

static gboolean
line_is (const char *out, const char *name, const char *verdict)
{
  g_autofree char *line = g_strdup_printf ("%s %s", name, verdict);
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], line))
      return TRUE;
  return FALSE;
}

/* The kernel's Landlock ABI (0: none). */
static int
landlock_abi (void)
{
  long abi = syscall (SYS_landlock_create_ruleset, NULL, 0, 1u << 0);
  return abi > 0 ? (int)abi : 0;
}

static const char *const probe_names[] = { "http4", "http6", "udp4", "x11", "dbus" };

/* The default network: nothing of the host's loopback or abstract
 * sockets, not even through the gateway. */
static void
test_default_isolated (gconstpointer data)
{
  const char *network = data;
  g_autoptr (GPtrArray) targets = NULL;
  g_autofree char *out = NULL;

  if (!have_programs ())
    return;
  targets = probe_targets (TRUE);
  out = run_probe (network, targets);
  for (gsize i = 0; i < G_N_ELEMENTS (probe_names); i++)
    if (!line_is (out, probe_names[i], "unreachable"))
      g_error ("%s is reachable from inside with --network=%s:\n%s", probe_names[i],
               network != NULL ? network : "(default)", out);
  g_assert_true (line_is (out, "gw-http4", "unreachable"));
  g_assert_true (line_is (out, "gw-udp4", "unreachable"));
  /* The sandbox's own abstract sockets work (cbox-exec's Landlock scope
   * lets the command's processes reach each other). */
  if (!line_is (out, "own", "reached"))
    g_error ("an abstract socket made inside is not reachable inside:\n%s", out);
}

/* --network=host: the same services are all reached (the probe works). */
static void
test_host_shares (void)
{
  g_autoptr (GPtrArray) targets = NULL;
  g_autofree char *out = NULL;

  if (!have_programs ())
    return;
  targets = probe_targets (FALSE);
  out = run_probe ("host", targets);
  for (gsize i = 0; i < G_N_ELEMENTS (probe_names); i++)
    if (!line_is (out, probe_names[i], "reached"))
      g_error ("%s is not reached with --network=host:\n%s", probe_names[i], out);
}

/* Runs `touch ran` in a sandbox with the default network and @path_env as
 * PATH; the result in @r, the project returned. */
static char *
run_marker (const char *path_env, CboxTestResult *r)
{
  char *project = cbox_test_make_dir ("project");
  g_autofree char *project_arg = g_strconcat ("--project=", project, NULL);
  g_autofree char *path_var = g_strconcat ("PATH=", path_env, NULL);
  g_auto (GStrv) env = cbox_test_environ ((const char *const[]){ path_var, NULL });
  const char *args[] = {
    "run", "--backend=bwrap", "--forward=none", project_arg, "--", "/bin/sh", "-c", "touch ran",
    NULL
  };

  g_assert_true (cbox_test_run (args, project, (const char *const *)env, NULL, r));
  return project;
}

/* No slirp4netns: exit 125 naming the package and both alternatives, and
 * the command never ran (no fallback to the host's network). */
static void
test_helper_missing (void)
{
  g_autofree char *bwrap = NULL;
  g_autofree char *bin = NULL;
  g_autofree char *link = NULL;
  g_autofree char *project = NULL;
  g_autofree char *marker = NULL;
  g_auto (CboxTestResult) r = { 0 };

  if (!have_programs ())
    return;
  bwrap = g_find_program_in_path ("bwrap");
  bin = cbox_test_make_dir ("bin");
  link = g_build_filename (bin, "bwrap", NULL);
  g_assert_cmpint (symlink (bwrap, link), ==, 0);
  project = run_marker (bin, &r);
  cbox_test_assert_status (&r, 125);
  g_assert_nonnull (strstr (r.err, "slirp4netns"));
  g_assert_nonnull (strstr (r.err, "--network=off"));
  g_assert_nonnull (strstr (r.err, "--network=host"));
  marker = g_build_filename (project, "ran", NULL);
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
}

/* A helper that fails (a stand-in slirp4netns that exits at once, the
 * only way to make the real one fail on purpose): exit 125, its message
 * shown, the command never ran. */
static void
test_helper_fails (void)
{
  g_autofree char *bin = NULL;
  g_autofree char *fake = NULL;
  g_autofree char *path = NULL;
  g_autofree char *project = NULL;
  g_autofree char *marker = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (CboxTestResult) r = { 0 };

  if (!have_programs ())
    return;
  bin = cbox_test_make_dir ("bin");
  fake = g_build_filename (bin, "slirp4netns", NULL);
  g_assert_true (g_file_set_contents (
      fake, "#!/bin/sh\necho 'stand-in helper: refusing' >&2\nexit 1\n", -1, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (fake, 0755), ==, 0);
  path = g_strconcat (bin, ":", g_getenv ("PATH"), NULL);
  project = run_marker (path, &r);
  cbox_test_assert_status (&r, 125);
  g_assert_nonnull (strstr (r.err, "slirp4netns failed"));
  g_assert_nonnull (strstr (r.err, "stand-in helper: refusing"));
  marker = g_build_filename (project, "ran", NULL);
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
}

/* ---- the project's shared network ------------------------------------- */

/* An environment whose XDG_RUNTIME_DIR is a fresh folder of the test's:
 * the keepers' sockets are in $XDG_RUNTIME_DIR/cbox-net, apart from other
 * tests'. */
static char **
shared_environ (char **ret_runtime)
{
  g_autofree char *runtime = cbox_test_make_dir ("runtime");
  g_autofree char *var = g_strconcat ("XDG_RUNTIME_DIR=", runtime, NULL);

  g_assert_cmpint (g_chmod (runtime, 0700), ==, 0);
  *ret_runtime = g_steal_pointer (&runtime);
  return cbox_test_environ ((const char *const[]){ var, NULL });
}

/* Runs `sh -c SCRIPT` in @project with the default network and @extra
 * (one option or NULL); asserts exit 0 and returns stdout. */
static char *
run_sh (char **env, const char *project, const char *extra, const char *script)
{
  g_autofree char *project_arg = g_strconcat ("--project=", project, NULL);
  const char *args[] = {
    "run", "--backend=bwrap", "--forward=none", project_arg, "--", "sh", "-c", script, NULL, NULL,
    NULL
  };
  g_auto (CboxTestResult) r = { 0 };

  if (extra != NULL)
    {
      /* Before "--". */
      memmove (&args[5], &args[4], 4 * sizeof (char *));
      args[4] = extra;
    }
  g_assert_true (cbox_test_run (args, project, (const char *const *)env, NULL, &r));
  if (r.status != 0)
    g_error ("run in %s (%s) failed: %s", project, script, r.err);
  return g_strdup (r.out);
}

static char *
sandbox_netns (char **env, const char *project, const char *extra)
{
  return run_sh (env, project, extra, "readlink /proc/self/ns/net");
}

/* The pids of the processes whose command line mentions @text (keepers
 * name their socket's folder), this test's process excluded. */
static GArray *
processes_mentioning (const char *text)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (GPid));
  g_autoptr (GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc", name, "cmdline", NULL);
      g_autofree char *cmdline = NULL;
      gsize len = 0;
      GPid pid;

      if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &cmdline, &len, NULL))
        continue;
      pid = (GPid)g_ascii_strtoll (name, NULL, 10);
      if (pid == getpid ())
        continue;
      for (gsize i = 0; i + 1 < len; i++)
        if (cmdline[i] == '\0')
          cmdline[i] = ' ';
      if (strstr (cmdline, text) != NULL)
        g_array_append_val (pids, pid);
    }
  return pids;
}

/* Whether @pid (not a child of the test's) still runs. */
static gboolean
keeper_runs (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int)pid);
  g_autofree char *stat = NULL;
  const char *end;

  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return FALSE;
  end = strrchr (stat, ')');
  return end != NULL && end[1] == ' ' && end[2] != 'Z';
}

static guint
count_sockets (const char *folder)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  const char *name;
  guint n = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".sock"))
      n++;
  return n;
}

/* Ends the keepers of @runtime (a test's own): they would otherwise stay
 * network-keep seconds after the test. */
static void
end_keepers (const char *runtime)
{
  g_autoptr (GArray) pids = processes_mentioning (runtime);

  for (guint i = 0; i < pids->len; i++)
    kill (g_array_index (pids, GPid, i), SIGKILL);
}

/* The slirp4netns that serves the network namespace @netns ("net:[N]"):
 * the one with that namespace open (a helper per run and a keeper's both
 * name it /proc/self/fd/N on their command line). Its /proc status, or
 * NULL. */
static char *
helper_status_for (const char *netns)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc", name, "status", NULL);
      g_autofree char *text = NULL;
      g_autofree char *fds = g_build_filename ("/proc", name, "fd", NULL);
      g_autoptr (GDir) fd_dir = NULL;
      const char *fd;

      if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &text, NULL, NULL)
          || !g_str_has_prefix (text, "Name:\tslirp4netns\n"))
        continue;
      fd_dir = g_dir_open (fds, 0, NULL);
      while (fd_dir != NULL && (fd = g_dir_read_name (fd_dir)) != NULL)
        {
          g_autofree char *link_path = g_build_filename (fds, fd, NULL);
          g_autofree char *target = g_file_read_link (link_path, NULL);
          if (target != NULL && g_str_equal (target, netns))
            return g_steal_pointer (&text);
        }
    }
  return NULL;
}

/* The helper parses what the sandbox sends: it runs under its own seccomp
 * filter, and as root also in its sandbox (no capability but
 * CAP_NET_BIND_SERVICE, a mount namespace of its own). Checked on the
 * live helper of a run: its own (@data "per-run", network-keep=0) or the
 * project's shared one ("shared"). */
static void
test_helper_confined (gconstpointer data)
{
  gboolean shared = g_str_equal (data, "shared");
  g_autofree char *project = NULL;
  g_autofree char *project_arg = NULL;
  g_autofree char *started = NULL;
  g_autofree char *stop = NULL;
  g_autofree char *status = NULL;
  g_autofree char *netns = NULL;
  g_autofree char *runtime = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) env = NULL;

  if (!have_programs ())
    return;
  project = cbox_test_make_dir ("project");
  project_arg = g_strconcat ("--project=", project, NULL);
  started = g_build_filename (project, "started", NULL);
  stop = g_build_filename (project, "stop", NULL);
  env = shared_environ (&runtime);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_environ (launcher, env);
  g_subprocess_launcher_set_cwd (launcher, project);
  proc = g_subprocess_launcher_spawn (
      launcher, &error, cbox_test_cbox_path (), "run", "--backend=bwrap", "--forward=none",
      shared ? "--set=cbox.network-keep=60" : "--set=cbox.network-keep=0", project_arg, "--", "sh",
      "-c",
      "readlink /proc/self/ns/net > started.new; mv started.new started; "
      "while [ ! -e stop ]; do sleep 0.05; done",
      NULL);
  g_assert_no_error (error);
  g_assert_true (cbox_test_wait_for_path (started, 600));
  g_assert_true (g_file_get_contents (started, &netns, NULL, &error));
  g_assert_no_error (error);
  g_strchomp (netns);
  status = helper_status_for (netns);
  g_assert_true (g_file_set_contents (stop, "", 0, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_wait_check (proc, NULL, &error));
  g_assert_no_error (error);
  end_keepers (runtime);
  if (status == NULL)
    g_error ("no slirp4netns serves the sandbox's namespace %s", netns);
  g_test_message ("the helper's status:\n%s", status);
  g_assert_nonnull (strstr (status, "\nSeccomp:\t2\n"));
  if (geteuid () == 0)
    {
      /* Root's helper: sandboxed. (The helper of a run by a user is that
       * user's process, without capabilities anyway.) */
      g_assert_nonnull (strstr (status, "\nCapEff:\t0000000000000400\n"));
      g_assert_nonnull (strstr (status, "\nCapBnd:\t0000000000000400\n"));
    }
}

/* `cbox plan` says in words what each mode lets through. */
static void
test_plan_words (void)
{
  g_auto (CboxTestResult) on = { 0 };
  g_auto (CboxTestResult) shared = { 0 };

  if (!have_programs ())
    return;
  g_assert_true (
      cbox_test_runv (&on, "plan", "--backend=bwrap", "--forward=none", "--", "true", NULL));
  cbox_test_assert_status (&on, 0);
  g_assert_nonnull (strstr (on.out, "network:     on: "));
  g_assert_nonnull (strstr (on.out, "localhost (127.0.0.1, ::1) and its abstract unix sockets "
                                    "are out of reach"));
  /* Shared with the project's other runs, and for how long. */
  g_assert_nonnull (strstr (on.out, "shared with this project's other runs (their localhost "
                                    "servers reach each other), kept 60 s after the last"));
  {
    g_auto (CboxTestResult) own = { 0 };

    g_assert_true (cbox_test_runv (&own, "plan", "--backend=bwrap", "--forward=none",
                                   "--set=cbox.network-keep=0", "--", "true", NULL));
    cbox_test_assert_status (&own, 0);
    g_assert_null (strstr (own.out, "shared with this project's other runs"));
  }
  /* cbox doctor says it too, in words and in JSON. */
  {
    g_auto (CboxTestResult) doctor = { 0 };
    g_auto (CboxTestResult) doctor_own = { 0 };
    g_auto (CboxTestResult) json = { 0 };

    g_assert_true (cbox_test_runv (&doctor, "doctor", "--backend=bwrap", NULL));
    g_assert_nonnull (strstr (doctor.out, "  shared: the runs of a project share this network, "
                                          "kept 60 s after the last"));
    g_assert_true (cbox_test_runv (&doctor_own, "doctor", "--backend=bwrap",
                                   "--set=cbox.network-keep=0", NULL));
    g_assert_nonnull (strstr (doctor_own.out, "  shared: no (network-keep=0)"));
    g_assert_true (cbox_test_runv (&json, "doctor", "--json", "--backend=bwrap",
                                   "--set=cbox.network-keep=7", NULL));
    g_assert_nonnull (strstr (json.out, "\"network_keep\" : 7,"));
  }
  g_assert_true (cbox_test_runv (&shared, "plan", "--backend=bwrap", "--forward=none",
                                 "--network=host", "--", "true", NULL));
  cbox_test_assert_status (&shared, 0);
  g_assert_nonnull (strstr (shared.out, "network:     host: "));
  g_assert_nonnull (strstr (shared.out, "abstract unix sockets (X11, D-Bus) are reachable"));
}

/* qemu: the guest's network is passt's (--no-map-gw), not QEMU's own
 * user network, which maps the gateway 10.0.2.2 to the host's 127.0.0.1:
 * the host's HTTP server and UDP echo on 127.0.0.1 are not reached
 * through the gateway (nor on the guest's own 127.0.0.1 and abstract
 * sockets, which are the guest kernel's). The probe checks the reply's
 * body, so a machine whose network answers every address (a transparent
 * proxy) does not count as a reach. --network=host is refused: a VM
 * cannot share the host's namespace. Under TCG. */
static void
test_qemu_default_isolated (void)
{
  g_autoptr (GPtrArray) targets = NULL;
  g_autofree char *out = NULL;
  g_auto (CboxTestResult) r = { 0 };

  if (!have_programs () || !cbox_test_require_backend ("qemu", NULL))
    return;
  if (!g_file_test ("/dev/kvm", G_FILE_TEST_EXISTS))
    g_test_message ("no /dev/kvm: TCG");
  targets = probe_targets (TRUE);
  out = run_probe_on ("qemu", NULL, targets);
  for (gsize i = 0; i < G_N_ELEMENTS (probe_names); i++)
    if (!line_is (out, probe_names[i], "unreachable"))
      g_error ("%s is reachable from the qemu guest:\n%s", probe_names[i], out);
  if (!line_is (out, "gw-http4", "unreachable") || !line_is (out, "gw-udp4", "unreachable"))
    g_error ("the host's loopback is reachable through the gateway from the qemu guest:\n%s", out);
  g_assert_true (cbox_test_runv (&r, "plan", "--backend=qemu", "--forward=none", "--network=host",
                                 "--", "true", NULL));
  cbox_test_assert_status (&r, 125);
  g_assert_nonnull (strstr (r.err, "cannot share the host's network namespace"));
}

/* The second layer alone (cbox-exec --scope-abstract, Landlock ABI 6):
 * cbox-exec run directly on the host, in the host's network namespace,
 * as a sandbox that shared it by mistake would be. The host's abstract X
 * and D-Bus sockets are refused with the scope and reached without it
 * (so the probe can tell); abstract sockets the command makes itself
 * still work. Backends give the option for every mode but host (`cbox
 * plan --print-command` shows it). */
static void
test_landlock_scope (void)
{
  g_autofree char *probe = g_test_build_filename (G_TEST_DIST, "net", "net-probe.py", NULL);
  g_autofree char *exec = NULL;
  g_autofree char *x11 = g_strdup_printf ("abstract:x11:/tmp/.X11-unix/X%u", host.display);
  g_autofree char *dbus = g_strdup_printf ("abstract:dbus:%s", host.dbus_abstract);
  g_autofree char *own = g_strdup_printf ("own:own:cbox-test-scope-%d", (int)getpid ());
  g_auto (CboxTestResult) r = { 0 };
  const char *libexec = g_getenv ("CBOX_LIBEXEC_DIR");

  if (!have_programs ())
    return;
  g_assert_nonnull (libexec);
  exec = g_build_filename (libexec, "cbox-exec", NULL);
  for (guint scoped = 0; scoped < 2; scoped++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;
      int status = 0;
      const char *scoped_argv[]
          = { exec, "--scope-abstract", "--", "python3", probe, x11, dbus, own, NULL };
      const char *plain_argv[] = { exec, "--", "python3", probe, x11, dbus, own, NULL };
      const char **argv = scoped ? scoped_argv : plain_argv;

      g_assert_true (g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                                   &err, &status, &error));
      g_assert_no_error (error);
      g_test_message ("cbox-exec %s:\n%s%s", scoped ? "--scope-abstract" : "(no scope)", out, err);
      g_assert_true (g_spawn_check_wait_status (status, NULL));
      g_assert_true (line_is (out, "own", "reached"));
      if (!scoped)
        {
          g_assert_true (line_is (out, "x11", "reached"));
          g_assert_true (line_is (out, "dbus", "reached"));
        }
      else if (landlock_abi () < 6)
        g_test_message ("Landlock ABI %d < 6: the scope is not applied here (nothing to check)",
                        landlock_abi ());
      else
        {
          if (!line_is (out, "x11", "unreachable: [Errno 1]")
              || !line_is (out, "dbus", "unreachable: [Errno 1]"))
            g_error ("the host's abstract sockets are reachable under the Landlock scope:\n%s",
                     out);
        }
    }
  /* The backends ask for it in every mode but host. */
  for (guint i = 0; i < 3; i++)
    {
      const char *mode
          = (const char *const[]){ "--network=on", "--network=off", "--network=host" }[i];
      g_assert_true (cbox_test_runv (&r, "plan", "--backend=bwrap", "--forward=none", mode,
                                     "--print-command", "--", "true", NULL));
      cbox_test_assert_status (&r, 0);
      if ((strstr (r.out, " --scope-abstract ") != NULL) != (i < 2))
        g_error ("%s: --scope-abstract %s in:\n%s", mode, i < 2 ? "missing" : "present", r.out);
    }
}

/* ---- --publish ------------------------------------------------------------ */

/* The options that run @backend here: qemu under TCG (CI has no KVM). */
static const char *
backend_option (const char *backend)
{
  return g_str_equal (backend, "qemu") ? "--set=qemu.accel=tcg" : "--network=on";
}

/* A server inside on port 8000, published as a free host port: reached
 * from the host's 127.0.0.1, not on the host's other address. bwrap
 * through slirp4netns; qemu through passt, which binds the port itself
 * (-t 127.0.0.1/PORT:8000) and forwards it to the guest. */
static void
test_publish_reaches_server (gconstpointer data)
{
  const char *backend = data;
  g_autofree char *backend_arg = g_strconcat ("--backend=", backend, NULL);
  g_autofree char *project = NULL;
  g_autofree char *project_arg = NULL;
  g_autofree char *publish_arg = NULL;
  g_autofree char *server = NULL;
  g_autofree char *ready_path = NULL;
  g_auto (CboxTestResult) r = { 0 };
  CboxTestPublishProbe *probe;
  guint16 host_port;

  if (!have_programs () || !cbox_test_require_backend (backend, NULL))
    return;
  project = cbox_test_make_dir ("project");
  project_arg = g_strconcat ("--project=", project, NULL);
  host_port = cbox_test_free_port ();
  ready_path = g_build_filename (project, "published-ready", NULL);
  publish_arg = g_strdup_printf ("--publish=%u:8000", host_port);
  server = cbox_test_publish_server (8000);
  probe = cbox_test_publish_probe_start (host_port, ready_path);
  g_assert_true (cbox_test_run ((const char *const[]){ "run", backend_arg, backend_option (backend),
                                                       "--forward=none", project_arg, publish_arg,
                                                       "--", "sh", "-c", server, NULL },
                                project, NULL, NULL, &r));
  cbox_test_assert_status (&r, 0);
  cbox_test_publish_probe_finish (probe);
}

/* A host port already in use: exit 125 saying so, the command never ran
 * (on qemu: before any VM booted). */
static void
test_publish_port_in_use (gconstpointer data)
{
  const char *backend = data;
  g_autofree char *backend_arg = g_strconcat ("--backend=", backend, NULL);
  g_autoptr (GSocketListener) listener = g_socket_listener_new ();
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *project = NULL;
  g_autofree char *project_arg = NULL;
  g_autofree char *publish_arg = NULL;
  g_autofree char *marker = NULL;
  g_auto (CboxTestResult) r = { 0 };
  guint16 port;

  if (!have_programs () || !cbox_test_require_backend (backend, NULL))
    return;
  g_assert_true (g_socket_listener_add_address (listener, address, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error));
  g_assert_no_error (error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  project = cbox_test_make_dir ("project");
  project_arg = g_strconcat ("--project=", project, NULL);
  publish_arg = g_strdup_printf ("--publish=%u", port);
  g_assert_true (cbox_test_run ((const char *const[]){ "run", backend_arg, backend_option (backend),
                                                       "--forward=none", project_arg, publish_arg,
                                                       "--", "touch", "ran", NULL },
                                project, NULL, NULL, &r));
  cbox_test_assert_status (&r, 125);
  g_assert_nonnull (strstr (r.err, "already in use on the host"));
  marker = g_build_filename (project, "ran", NULL);
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
}

/* Bad values and modes without a network of the sandbox's own: exit 125
 * with the reason; `cbox plan` (text and JSON) lists the ports, from the
 * configuration and the command line. */
static void
test_publish_plan (void)
{
  static const struct
  {
    const char *arg;
    const char *message;
  } bad[] = {
    { "--publish=0", "port 0 is not a port" },
    { "--publish=65536", "port 65536 is not a port" },
    { "--publish=8080:0", "port 0 is not a port" },
    { "--publish=http", "is not a published port" },
    { "--publish=8080:", "is not a published port" },
    { "--publish=127.0.0.1:8080:80", "is not a published port" },
    { "--publish=-1", "is not a published port" },
  };
  g_autofree char *dir = cbox_test_make_dir ("config");
  g_autofree char *config = g_build_filename (dir, "cbox.conf", NULL);
  g_autofree char *config_arg = g_strconcat ("--config=", config, NULL);
  g_autoptr (GError) error = NULL;
  g_auto (CboxTestResult) r = { 0 };

  if (!have_programs ())
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_true (cbox_test_runv (&r, "plan", "--backend=bwrap", "--forward=none", bad[i].arg,
                                     "--", "true", NULL));
      cbox_test_assert_status (&r, 125);
      if (strstr (r.err, bad[i].message) == NULL)
        g_error ("%s: expected '%s' in:\n%s", bad[i].arg, bad[i].message, r.err);
    }
  g_assert_true (cbox_test_runv (&r, "plan", "--backend=bwrap", "--forward=none",
                                 "--publish=8080:1", "--publish=8080:2", "--", "true", NULL));
  cbox_test_assert_status (&r, 125);
  g_assert_nonnull (strstr (r.err, "host port 8080 is published twice"));
  g_assert_true (cbox_test_runv (&r, "plan", "--backend=bwrap", "--forward=none", "--network=off",
                                 "--publish=8080", "--", "true", NULL));
  cbox_test_assert_status (&r, 125);
  g_assert_nonnull (strstr (r.err, "no network with --network=off"));
  g_assert_true (cbox_test_runv (&r, "plan", "--backend=bwrap", "--forward=none", "--network=host",
                                 "--publish=8080", "--", "true", NULL));
  cbox_test_assert_status (&r, 125);
  g_assert_nonnull (strstr (r.err, "with --network=host the sandbox shares the host's network"));

  g_assert_true (g_file_set_contents (config, "[cbox]\npublish=9001;9002:3000\n", -1, &error));
  g_assert_no_error (error);
  g_assert_true (cbox_test_runv (&r, "plan", config_arg, "--backend=bwrap", "--forward=none",
                                 "--publish=9003", "--publish=9001", "--", "true", NULL));
  cbox_test_assert_status (&r, 0);
  g_assert_nonnull (strstr (r.out, "publish:     host 127.0.0.1:9001 -> port 9001 inside (TCP)\n"
                                   "publish:     host 127.0.0.1:9002 -> port 3000 inside (TCP)\n"
                                   "publish:     host 127.0.0.1:9003 -> port 9003 inside (TCP)\n"));
  g_assert_true (cbox_test_runv (&r, "plan", "--json", config_arg, "--backend=bwrap",
                                 "--forward=none", "--", "true", NULL));
  cbox_test_assert_status (&r, 0);
  g_assert_nonnull (strstr (r.out,
                            "\"publish\" : [\n    {\n      \"protocol\" : \"tcp\",\n      "
                            "\"host_address\" : \"127.0.0.1\",\n      \"host_port\" : 9001,"));
  g_assert_true (g_file_set_contents (config, "[cbox]\npublish=9001;99999\n", -1, &error));
  g_assert_no_error (error);
  g_assert_true (cbox_test_runv (&r, "plan", config_arg, "--backend=bwrap", "--", "true", NULL));
  cbox_test_assert_status (&r, 125);
  g_assert_nonnull (strstr (r.err, "port 99999 is not a port"));
}

/* One network per project: two runs of a project are in the same
 * namespace (kept by one keeper, one socket), a run of another project in
 * another; network-keep=0 and a run that publishes a port get one of their
 * own. The second run of a project joins the running keeper: the host's
 * loopback and abstract sockets stay out of its reach as the first's. */
static void
test_shared_per_project (void)
{
  g_autofree char *runtime = NULL;
  g_auto (GStrv) env = NULL;
  g_autofree char *one = cbox_test_make_dir ("project-one");
  g_autofree char *two = cbox_test_make_dir ("project-two");
  g_autofree char *folder = NULL;
  g_autofree char *a1 = NULL, *a2 = NULL, *b = NULL, *own = NULL, *published = NULL;
  g_autofree char *publish_arg = NULL;
  g_autoptr (GPtrArray) targets = NULL;
  g_autoptr (GString) script = g_string_new ("python3 net-probe.py");
  g_autofree char *probe_src = g_test_build_filename (G_TEST_DIST, "net", "net-probe.py", NULL);
  g_autofree char *content = NULL;
  g_autofree char *out = NULL;

  if (!have_programs ())
    return;
  env = shared_environ (&runtime);
  folder = g_build_filename (runtime, "cbox-net", NULL);
  a1 = sandbox_netns (env, one, NULL);
  a2 = sandbox_netns (env, one, NULL);
  b = sandbox_netns (env, two, NULL);
  own = sandbox_netns (env, one, "--set=cbox.network-keep=0");
  publish_arg = g_strdup_printf ("--publish=%u", cbox_test_free_port ());
  published = sandbox_netns (env, one, publish_arg);
  g_test_message ("one: %s, %s; two: %s; keep=0: %s; published: %s", a1, a2, b, own, published);
  g_assert_true (g_str_has_prefix (a1, "net:["));
  g_assert_cmpstr (a1, ==, a2);
  g_assert_cmpstr (a1, !=, b);
  g_assert_cmpstr (a1, !=, own);
  g_assert_cmpstr (a1, !=, published);
  g_assert_cmpuint (count_sockets (folder), ==, 2);
  {
    GStatBuf st;
    g_assert_cmpint (g_stat (folder, &st), ==, 0);
    g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  }

  /* The probe in the project's network, joined. */
  g_assert_true (g_file_get_contents (probe_src, &content, NULL, NULL));
  cbox_test_write_file (one, "net-probe.py", content);
  targets = probe_targets (TRUE);
  for (guint i = 0; i < targets->len; i++)
    {
      g_autofree char *quoted = g_shell_quote (g_ptr_array_index (targets, i));
      g_string_append_printf (script, " %s", quoted);
    }
  out = run_sh (env, one, NULL, script->str);
  g_test_message ("probe in the shared network:\n%s", out);
  for (gsize i = 0; i < G_N_ELEMENTS (probe_names); i++)
    if (!line_is (out, probe_names[i], "unreachable"))
      g_error ("%s is reachable from a run that joined the project's network:\n%s", probe_names[i],
               out);
  g_assert_true (line_is (out, "gw-http4", "unreachable"));
  g_assert_true (line_is (out, "gw-udp4", "unreachable"));
  g_assert_true (line_is (out, "own", "reached"));
  end_keepers (runtime);
}

/* What sharing means: a server on 127.0.0.1 in one run is reached by a
 * second run of the same project while both run, and not by a run of
 * another project (docs/security.md, "Network"). */
static void
test_shared_runs_meet (void)
{
  g_autofree char *runtime = NULL;
  g_auto (GStrv) env = NULL;
  g_autofree char *one = cbox_test_make_dir ("project-one");
  g_autofree char *two = cbox_test_make_dir ("project-two");
  g_autofree char *one_arg = g_strconcat ("--project=", one, NULL);
  g_autofree char *ready = g_build_filename (one, "ready", NULL);
  g_autofree char *stop = g_build_filename (one, "stop", NULL);
  g_autofree char *same = NULL, *other = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) server = NULL;
  g_autoptr (GError) error = NULL;
  static const char *client
      = "python3 -c 'import socket,sys\n"
        "s=socket.socket()\n"
        "s.settimeout(5)\n"
        "try:\n"
        "    s.connect((\"127.0.0.1\",18765)); print(\"reached\", s.recv(16).decode())\n"
        "except OSError as e: print(\"unreachable\", e)'";

  if (!have_programs ())
    return;
  env = shared_environ (&runtime);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_environ (launcher, env);
  g_subprocess_launcher_set_cwd (launcher, one);
  server = g_subprocess_launcher_spawn (
      launcher, &error, cbox_test_cbox_path (), "run", "--backend=bwrap", "--forward=none", one_arg,
      "--", "python3", "-c",
      "import socket,os\n"
      "s=socket.socket(); s.bind(('127.0.0.1',18765)); s.listen(4)\n"
      "open('ready','w').close()\n"
      "while not os.path.exists('stop'):\n"
      "    s.settimeout(0.1)\n"
      "    try: c,_=s.accept(); c.sendall(b'hello'); c.close()\n"
      "    except OSError: pass\n",
      NULL);
  g_assert_no_error (error);
  g_assert_true (cbox_test_wait_for_path_while (
      ready, (GPid)g_ascii_strtoll (g_subprocess_get_identifier (server), NULL, 10)));
  same = run_sh (env, one, NULL, client);
  other = run_sh (env, two, NULL, client);
  g_assert_true (g_file_set_contents (stop, "", 0, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_wait_check (server, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("same project: %s; other project: %s", same, other);
  g_assert_true (g_str_has_prefix (same, "reached hello"));
  g_assert_true (g_str_has_prefix (other, "unreachable"));
  end_keepers (runtime);
}

/* The keeper ends network-keep seconds after the last run, its socket
 * removed with it; the next run starts a new one. A keeper killed (or
 * crashed) leaves its socket: the next run replaces it and has its
 * network. */
static void
test_shared_keeper_lifetime (void)
{
  g_autofree char *runtime = NULL;
  g_auto (GStrv) env = NULL;
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autofree char *folder = NULL;
  g_autofree char *out = NULL;
  g_autoptr (GArray) keepers = NULL;
  g_autoptr (GArray) after = NULL;
  guint i;

  if (!have_programs ())
    return;
  env = shared_environ (&runtime);
  folder = g_build_filename (runtime, "cbox-net", NULL);
  g_free (run_sh (env, project, "--set=cbox.network-keep=1", "true"));
  g_assert_cmpuint (count_sockets (folder), ==, 1);
  keepers = processes_mentioning (folder);
  /* The keeper (its command line names the folder; slirp4netns's does not). */
  g_assert_cmpuint (keepers->len, ==, 1);
  /* Bounded: a second of keep, a minute for a loaded machine. */
  for (i = 0;
       i < 600 && (count_sockets (folder) > 0 || keeper_runs (g_array_index (keepers, GPid, 0)));
       i++)
    g_usleep (100 * 1000);
  g_assert_cmpuint (count_sockets (folder), ==, 0);
  g_assert_false (keeper_runs (g_array_index (keepers, GPid, 0)));

  /* Killed: the socket stays behind, dead. */
  g_free (run_sh (env, project, NULL, "true"));
  g_clear_pointer (&keepers, g_array_unref);
  keepers = processes_mentioning (folder);
  g_assert_cmpuint (keepers->len, ==, 1);
  g_assert_cmpint (kill (g_array_index (keepers, GPid, 0), SIGKILL), ==, 0);
  for (i = 0; i < 600 && keeper_runs (g_array_index (keepers, GPid, 0)); i++)
    g_usleep (100 * 1000);
  g_assert_cmpuint (count_sockets (folder), ==, 1);
  out = run_sh (env, project, NULL, "grep -c tap0 /proc/net/dev");
  g_assert_cmpstr (out, ==, "1\n");
  after = processes_mentioning (folder);
  g_assert_cmpuint (after->len, ==, 1);
  g_assert_cmpint (g_array_index (after, GPid, 0), !=, g_array_index (keepers, GPid, 0));
  end_keepers (runtime);
}

/* The keepers' folder must be the user's alone: one that others may enter
 * (planted in a shared /tmp, or loosened) is not used; each run then has
 * a network of its own, and -v says why. */
static void
test_shared_folder_refused (void)
{
  g_autofree char *runtime = NULL;
  g_auto (GStrv) env = NULL;
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autofree char *project_arg = g_strconcat ("--project=", project, NULL);
  g_autofree char *folder = NULL;
  g_autofree char *first = NULL;
  const char *args[] = { "-v",        "run", "--backend=bwrap", "--forward=none",
                         project_arg, "--",  "readlink",        "/proc/self/ns/net",
                         NULL };
  g_auto (CboxTestResult) r = { 0 };

  if (!have_programs ())
    return;
  env = shared_environ (&runtime);
  folder = g_build_filename (runtime, "cbox-net", NULL);
  g_assert_cmpint (g_mkdir (folder, 0700), ==, 0);
  g_assert_cmpint (g_chmod (folder, 0777), ==, 0);
  for (guint i = 0; i < 2; i++)
    {
      cbox_test_result_clear (&r);
      g_assert_true (cbox_test_run (args, project, (const char *const *)env, NULL, &r));
      cbox_test_assert_status (&r, 0);
      g_assert_nonnull (strstr (r.err, "is not a folder of yours that only you can enter"));
      g_assert_nonnull (strstr (r.err, "this run gets a network of its own"));
      if (first == NULL)
        first = g_strdup (r.out);
      else
        g_assert_cmpstr (first, !=, r.out);
    }
  g_assert_cmpuint (count_sockets (folder), ==, 0);
}

/* What answers at the keeper's socket is checked: a process of a sandbox
 * given the folder (--bind) could put a listener there that hands the
 * next run namespaces below its own, where it would hold capabilities
 * over that run. Played by a listener two user namespaces down (unshare
 * -Ur twice: the second's parent is not the caller's namespace): its
 * namespaces are refused, the run gets a network of its own and says why. */
static void
test_shared_fake_keeper (void)
{
  g_autofree char *runtime = NULL;
  g_auto (GStrv) env = NULL;
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autofree char *project_arg = g_strconcat ("--project=", project, NULL);
  g_autofree char *folder = NULL;
  g_autofree char *socket_path = NULL;
  g_autofree char *unshare = cbox_test_require_program ("unshare");
  g_autoptr (GArray) keepers = NULL;
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) fake = NULL;
  g_autoptr (GDataInputStream) in = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *fake_netns = NULL;
  const char *name;
  const char *args[] = { "-v",        "run", "--backend=bwrap", "--forward=none",
                         project_arg, "--",  "readlink",        "/proc/self/ns/net",
                         NULL };
  g_auto (CboxTestResult) r = { 0 };
  static const char *fake_py = "import os, socket, sys\n"
                               "path = sys.argv[1]\n"
                               "os.unlink(path)\n"
                               "s = socket.socket(socket.AF_UNIX)\n"
                               "s.bind(path)\n"
                               "s.listen(8)\n"
                               "fds = [os.open('/proc/self/ns/net', os.O_RDONLY)]\n"
                               "if sys.argv[2] == 'user':\n"
                               "    fds.append(os.open('/proc/self/ns/user', os.O_RDONLY))\n"
                               "print(os.readlink('/proc/self/ns/net'), flush=True)\n"
                               "conns = []\n"
                               "while True:\n"
                               "    c, _ = s.accept()\n"
                               "    socket.send_fds(c, [b'N'], fds)\n"
                               "    c.send(b'R')\n"
                               "    conns.append(c)\n";

  if (!have_programs () || unshare == NULL)
    return;
  env = shared_environ (&runtime);
  folder = g_build_filename (runtime, "cbox-net", NULL);
  /* A keeper's socket, left behind dead. */
  g_free (run_sh (env, project, NULL, "true"));
  keepers = processes_mentioning (folder);
  g_assert_cmpuint (keepers->len, ==, 1);
  g_assert_cmpint (kill (g_array_index (keepers, GPid, 0), SIGKILL), ==, 0);
  for (guint i = 0; i < 600 && keeper_runs (g_array_index (keepers, GPid, 0)); i++)
    g_usleep (100 * 1000);
  dir = g_dir_open (folder, 0, NULL);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".sock"))
      socket_path = g_build_filename (folder, name, NULL);
  g_assert_nonnull (socket_path);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_environ (launcher, env);
  fake = g_subprocess_launcher_spawn (launcher, &error, unshare, "-Ur", unshare, "-Urn", "python3",
                                      "-c", fake_py, socket_path, geteuid () == 0 ? "root" : "user",
                                      NULL);
  g_assert_no_error (error);
  in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (fake));
  fake_netns = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fake_netns);
  g_assert_true (g_str_has_prefix (fake_netns, "net:["));

  g_assert_true (cbox_test_run (args, project, (const char *const *)env, NULL, &r));
  g_subprocess_force_exit (fake);
  g_subprocess_wait (fake, NULL, NULL);
  g_test_message ("the fake's namespace: %s; the run's: %s; it said: %s", fake_netns, r.out, r.err);
  cbox_test_assert_status (&r, 0);
  g_assert_nonnull (strstr (r.err, "namespaces that a keeper of yours does not make; refused"));
  g_assert_nonnull (strstr (r.err, "this run gets a network of its own"));
  g_assert_true (g_str_has_prefix (r.out, "net:["));
  g_assert_false (g_str_has_prefix (r.out, fake_netns));
  end_keepers (runtime);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  {
    g_autofree char *xvfb = g_find_program_in_path ("Xvfb");
    g_autofree char *dbus = g_find_program_in_path ("dbus-daemon");
    g_autofree char *python = g_find_program_in_path ("python3");

    /* Without them every test skips (or fails under CI) in have_programs(). */
    if (xvfb != NULL && dbus != NULL && python != NULL)
      start_services ();
  }
  g_test_add_data_func ("/bwrap/network/default/host-services-unreachable", NULL,
                        test_default_isolated);
  g_test_add_data_func ("/bwrap/network/on/host-services-unreachable", "on", test_default_isolated);
  g_test_add_func ("/bwrap/network/host/host-services-reachable", test_host_shares);
  g_test_add_func ("/bwrap/network/on/helper-missing-fails-closed", test_helper_missing);
  g_test_add_func ("/bwrap/network/on/helper-fails-closed", test_helper_fails);
  g_test_add_data_func ("/bwrap/network/on/helper-confined", "per-run", test_helper_confined);
  g_test_add_data_func ("/bwrap/network/shared/helper-confined", "shared", test_helper_confined);
  g_test_add_func ("/bwrap/network/plan-says-what-passes", test_plan_words);
  g_test_add_func ("/bwrap/network/shared/one-per-project", test_shared_per_project);
  g_test_add_func ("/bwrap/network/shared/runs-of-a-project-meet", test_shared_runs_meet);
  g_test_add_func ("/bwrap/network/shared/keeper-lifetime", test_shared_keeper_lifetime);
  g_test_add_func ("/bwrap/network/shared/folder-refused", test_shared_folder_refused);
  g_test_add_func ("/bwrap/network/shared/fake-keeper-refused", test_shared_fake_keeper);
  g_test_add_func ("/bwrap/network/landlock/abstract-scope", test_landlock_scope);
  g_test_add_func ("/qemu/network/default/host-loopback-unreachable", test_qemu_default_isolated);
  g_test_add_data_func ("/bwrap/network/publish/reaches-server-inside", "bwrap",
                        test_publish_reaches_server);
  g_test_add_data_func ("/bwrap/network/publish/port-in-use-fails", "bwrap",
                        test_publish_port_in_use);
  g_test_add_func ("/bwrap/network/publish/plan-and-bad-values", test_publish_plan);
  g_test_add_data_func ("/qemu/network/publish/reaches-server-inside", "qemu",
                        test_publish_reaches_server);
  g_test_add_data_func ("/qemu/network/publish/port-in-use-fails", "qemu",
                        test_publish_port_in_use);
  status = g_test_run ();
  g_clear_object (&host.services);
  g_clear_object (&host.xvfb);
  g_clear_object (&host.dbus);
  g_free (host.dbus_abstract);
  return status;
}

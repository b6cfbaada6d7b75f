/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Per-project state and the running-sandbox registry: the state folder's
 * name, persisted ~/.local and /tmp, `cbox ps`, `cbox enter`, `cbox stop`,
 * with the real bwrap (and a registry entry made here for qemu's refusal). */

#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cbox-project.h"
#include "cbox-test-util.h"

/* ---- the state folder's name --------------------------------------------- */

static void
assert_name_is_safe (const char *name)
{
  g_assert_nonnull (name);
  g_assert_cmpuint (strlen (name), >, 13);
  g_assert_cmpint (name[0], !=, '.');
  for (const char *p = name; *p != '\0'; p++)
    g_assert_true (g_ascii_isalnum (*p) || *p == '-' || *p == '_' || *p == '.');
}

static void
test_state_name (void)
{
  g_autofree char *spaces = cbox_project_state_name ("/home/u/my proj");
  g_autofree char *other = cbox_project_state_name ("/srv/my proj");
  g_autofree char *newline = cbox_project_state_name ("/home/u/a\nb");
  g_autofree char *bytes = cbox_project_state_name ("/home/u/caf\xe9\xff");
  g_autofree char *hidden = cbox_project_state_name ("/home/u/..");
  g_autofree char *root = cbox_project_state_name ("/");
  g_autofree char *longer = cbox_project_state_name (
      "/p/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

  assert_name_is_safe (spaces);
  assert_name_is_safe (other);
  assert_name_is_safe (newline);
  assert_name_is_safe (bytes);
  assert_name_is_safe (hidden);
  assert_name_is_safe (root);
  assert_name_is_safe (longer);
  g_assert_true (g_str_has_prefix (spaces, "my_proj-"));
  g_assert_true (g_str_has_prefix (newline, "a_b-"));
  g_assert_true (g_str_has_prefix (bytes, "caf__-"));
  g_assert_true (g_str_has_prefix (root, "root-"));
  g_assert_true (g_str_has_prefix (hidden, "_.-"));
  g_assert_cmpuint (strlen (longer), ==, 40 + 1 + 12);
  /* The same basename elsewhere is another project. */
  g_assert_cmpstr (spaces, !=, other);
  g_assert_cmpuint (strlen (spaces), ==, strlen ("my_proj-") + 12);
}

/* ---- helpers -------------------------------------------------------------- */

typedef struct
{
  char *project;
  char **env;
  char *state_root;
} Fixture;

static gboolean
require_bwrap (void)
{
  g_autofree char *bwrap = cbox_test_require_program ("bwrap");
  return bwrap != NULL;
}

static void
fixture_init (Fixture *f, const char *project_name)
{
  g_autofree char *made = cbox_test_make_dir (project_name);

  /* As cbox names it: the real path. */
  f->project = realpath (made, NULL);
  g_assert_nonnull (f->project);
  f->env = cbox_test_environ (NULL);
  f->state_root
      = g_build_filename (g_environ_getenv (f->env, "XDG_STATE_HOME"), "cbox", "projects", NULL);
}

static void
fixture_clear (Fixture *f)
{
  g_free (f->project);
  g_strfreev (f->env);
  g_free (f->state_root);
}

static void run_cbox (Fixture *f, CboxTestResult *result, const char *first,
                      ...) G_GNUC_NULL_TERMINATED;

static void
run_cbox (Fixture *f, CboxTestResult *result, const char *first, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  va_list ap;

  g_ptr_array_add (args, (gpointer) "--project");
  g_ptr_array_add (args, f->project);
  va_start (ap, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer)arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  g_assert_true (cbox_test_run ((const char *const *)args->pdata, "/", (const char *const *)f->env,
                                NULL, result));
}

static void
assert_dir_is_empty (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);

  g_assert_nonnull (dir);
  g_assert_null (g_dir_read_name (dir));
}

/* ---- persisted folders ------------------------------------------------------ */

static void
test_persist (void)
{
  g_auto (CboxTestResult) first = { 0 };
  g_auto (CboxTestResult) second = { 0 };
  g_auto (CboxTestResult) third = { 0 };
  g_auto (CboxTestResult) fourth = { 0 };
  g_autofree char *name = NULL;
  g_autofree char *state_dir = NULL;
  g_autofree char *local = NULL;
  Fixture f;
  GStatBuf st;

  if (!require_bwrap ())
    return;
  /* A project path with a space and a newline. */
  fixture_init (&f, "my project\nwith newline");

  /* Default: ~/.local persists, /tmp does not. */
  run_cbox (&f, &first, "--profile=none", "run", "--", "sh", "-c",
            "echo kept > ~/.local/share/marker && echo gone > /tmp/marker", NULL);
  cbox_test_assert_status (&first, 0);
  run_cbox (&f, &second, "--profile=none", "run", "--", "sh", "-c",
            "cat ~/.local/share/marker; test ! -e /tmp/marker && echo no-tmp", NULL);
  cbox_test_assert_status (&second, 0);
  g_assert_cmpstr (second.out, ==, "kept\nno-tmp\n");

  /* The folder: <sanitized basename>-<hash>, 0700, nothing else written. */
  name = cbox_project_state_name (f.project);
  {
    /* cbox_test_make_dir() puts "N-" in front. */
    const char *dash = strchr (name, '-');
    g_assert_nonnull (dash);
    g_assert_true (g_str_has_prefix (dash + 1, "my_project_with_newline-"));
  }
  state_dir = g_build_filename (f.state_root, name, NULL);
  local = g_build_filename (state_dir, "local", "share", "marker", NULL);
  g_assert_true (g_file_test (local, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpint (g_stat (state_dir, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 07777, ==, 0700);
  assert_dir_is_empty (f.project);

  /* Asked for: /tmp too. */
  run_cbox (&f, &third, "--profile=none", "--persist=local,tmp", "run", "--", "sh", "-c",
            "echo kept > /tmp/marker", NULL);
  cbox_test_assert_status (&third, 0);
  /* --no-persist: neither. */
  run_cbox (&f, &fourth, "--profile=none", "--no-persist", "run", "--", "sh", "-c",
            "test ! -e ~/.local/share/marker && test ! -e /tmp/marker && echo clean", NULL);
  cbox_test_assert_status (&fourth, 0);
  g_assert_cmpstr (fourth.out, ==, "clean\n");
  {
    g_auto (CboxTestResult) fifth = { 0 };
    run_cbox (&f, &fifth, "--profile=none", "--persist=tmp", "run", "--", "cat", "/tmp/marker",
              NULL);
    cbox_test_assert_status (&fifth, 0);
    g_assert_cmpstr (fifth.out, ==, "kept\n");
  }
  assert_dir_is_empty (f.project);
  fixture_clear (&f);
}

static void
test_persist_bad_value (void)
{
  g_auto (CboxTestResult) result = { 0 };
  Fixture f;

  fixture_init (&f, "bad");
  run_cbox (&f, &result, "--persist=home", "plan", NULL);
  cbox_test_assert_status (&result, 125);
  g_assert_nonnull (strstr (result.err, "--persist"));
  fixture_clear (&f);
}

/* ---- a sandbox in the background ------------------------------------------- */

/* cbox --project P --profile=none OPTIONS... run -- sh -c @script. */
static GSubprocess *
start_background_options (Fixture *f, const char *const *options, const char *script)
{
  /* Killed with the test (a failed assertion must not leave a sandbox
   * that sleeps on, holding the test runner's output open). */
  g_autoptr (GSubprocessLauncher) launcher
      = cbox_test_server_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  GSubprocess *process;

  g_ptr_array_add (argv, (gpointer)cbox_test_cbox_path ());
  g_ptr_array_add (argv, (gpointer) "--project");
  g_ptr_array_add (argv, f->project);
  g_ptr_array_add (argv, (gpointer) "--profile=none");
  for (guint i = 0; options[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer)options[i]);
  g_ptr_array_add (argv, (gpointer) "run");
  g_ptr_array_add (argv, (gpointer) "--");
  g_ptr_array_add (argv, (gpointer) "sh");
  g_ptr_array_add (argv, (gpointer) "-c");
  g_ptr_array_add (argv, (gpointer)script);
  g_ptr_array_add (argv, NULL);
  g_subprocess_launcher_set_environ (launcher, f->env);
  g_subprocess_launcher_set_cwd (launcher, "/");
  process = g_subprocess_launcher_spawnv (launcher, (const char *const *)argv->pdata, &error);
  g_assert_no_error (error);
  return process;
}

static GSubprocess *
start_background_with (Fixture *f, const char *backend, const char *script)
{
  return start_background_options (f, (const char *const[]){ backend, NULL }, script);
}

static GSubprocess *
start_background (Fixture *f, const char *script)
{
  return start_background_with (f, "--backend=bwrap", script);
}

/* Whether the background run has ended (reaped or not). */
static gboolean
background_ended (GSubprocess *run)
{
  const char *id = g_subprocess_get_identifier (run);

  return id == NULL || cbox_test_process_ended ((GPid)g_ascii_strtoll (id, NULL, 10));
}

/* The id of the project's running sandbox once it has a sandbox pid (or
 * any entry, when @need_pid is FALSE), waiting while the background run
 * @run lives: it runs until stopped, so its end fails the test. */
static char *
wait_for_entry_full (Fixture *f, GSubprocess *run, gboolean need_pid, pid_t *ret_cbox_pid)
{
  for (;;)
    {
      g_auto (CboxTestResult) ps = { 0 };
      const char *p;

      run_cbox (f, &ps, "ps", "--json", NULL);
      cbox_test_assert_status (&ps, 0);
      p = strstr (ps.out, "\"id\": \"");
      if (p != NULL && (!need_pid || strstr (ps.out, "\"sandbox_pid\": null") == NULL))
        {
          const char *q = strstr (ps.out, "\"cbox_pid\": ");
          g_assert_nonnull (q);
          if (ret_cbox_pid != NULL)
            *ret_cbox_pid = (pid_t)g_ascii_strtoll (q + strlen ("\"cbox_pid\": "), NULL, 10);
          return g_strndup (p + strlen ("\"id\": \""), 16);
        }
      if (background_ended (run))
        g_error ("the background sandbox ended before 'cbox ps' listed it");
      g_usleep (100 * 1000);
    }
}

static char *
wait_for_entry (Fixture *f, GSubprocess *run, pid_t *ret_cbox_pid)
{
  return wait_for_entry_full (f, run, TRUE, ret_cbox_pid);
}

static void
test_ps_enter_stop (void)
{
  g_autoptr (GSubprocess) run = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *id = NULL;
  g_autofree char *marker = g_strdup_printf ("cbox-projects-marker-%08x", g_random_int ());
  g_autofree char *script = g_strdup_printf ("echo inside > /tmp/%s && exec sleep 300", marker);
  g_autofree char *host_marker = g_build_filename ("/tmp", marker, NULL);
  g_autofree char *cat_marker = g_strdup_printf ("/tmp/%s", marker);
  g_autofree char *entry = NULL;
  Fixture f;

  if (!require_bwrap ())
    return;
  fixture_init (&f, "running project");
  run = start_background (&f, script);
  id = wait_for_entry (&f, run, NULL);

  {
    g_auto (CboxTestResult) ps = { 0 };
    g_auto (CboxTestResult) ps_all = { 0 };
    run_cbox (&f, &ps, "ps", NULL);
    cbox_test_assert_status (&ps, 0);
    g_assert_nonnull (strstr (ps.out, id));
    g_assert_nonnull (strstr (ps.out, "bwrap"));
    g_assert_nonnull (strstr (ps.out, "sleep"));
    run_cbox (&f, &ps_all, "ps", "--all", NULL);
    cbox_test_assert_status (&ps_all, 0);
    g_assert_nonnull (strstr (ps_all.out, id));
    g_assert_nonnull (strstr (ps_all.out, "running project"));
  }

  /* The marker is in the first sandbox's private /tmp: enter sees it,
   * the host does not. */
  {
    g_auto (CboxTestResult) cat = { 0 };
    g_auto (CboxTestResult) init = { 0 };
    g_auto (CboxTestResult) where = { 0 };
    g_auto (CboxTestResult) tty = { 0 };

    /* The sandbox's pid is known once cbox-exec runs, a moment before
     * the command wrote the marker: again while the run lives. */
    for (guint i = 0; i < 600; i++)
      {
        cbox_test_result_clear (&cat);
        run_cbox (&f, &cat, "enter", "--", "cat", cat_marker, NULL);
        if (cat.status == 0 || background_ended (run))
          break;
        g_usleep (100 * 1000);
      }
    if (cat.status != 0)
      g_test_message ("cbox enter said: %s", cat.err);
    cbox_test_assert_status (&cat, 0);
    g_assert_cmpstr (cat.out, ==, "inside\n");
    g_assert_false (g_file_test (host_marker, G_FILE_TEST_EXISTS));

    run_cbox (&f, &init, "enter", "--instance", id, "--", "cat", "/proc/1/cmdline", NULL);
    cbox_test_assert_status (&init, 0);
    g_assert_nonnull (strstr (init.out, "cbox-exec"));

    /* The project directory, no capabilities, no_new_privs, a filter. */
    run_cbox (&f, &where, "enter", "--", "sh", "-c",
              "pwd; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status", NULL);
    cbox_test_assert_status (&where, 0);
    g_assert_true (g_str_has_prefix (where.out, f.project));
    g_assert_nonnull (strstr (where.out, "CapEff:\t0000000000000000"));
    g_assert_nonnull (strstr (where.out, "CapBnd:\t0000000000000000"));
    g_assert_nonnull (strstr (where.out, "NoNewPrivs:\t1"));
    g_assert_nonnull (strstr (where.out, "Seccomp:\t2"));

    /* From a subfolder of the project: the same sandbox, in that subfolder. */
    {
      g_auto (CboxTestResult) sub = { 0 };
      g_autofree char *subdir = g_build_filename (f.project, "sub dir", NULL);
      g_autofree char *expected = g_strconcat (subdir, "\ninside\n", NULL);
      g_assert_cmpint (g_mkdir (subdir, 0755), ==, 0);
      g_assert_true (cbox_test_run (
          CBOX_STRV ("enter", "--", "sh", "-c", "pwd; cat /tmp/\"$1\"", "sh", marker), subdir,
          (const char *const *)f.env, NULL, &sub));
      cbox_test_assert_status (&sub, 0);
      g_assert_cmpstr (sub.out, ==, expected);
      g_rmdir (subdir);
    }

    /* The sandbox's network, which is the project's shared one here (its
     * namespace owned by the keeper's user namespace, or root's, not by
     * bwrap's: enter joins it before bwrap's user namespace). */
    {
      g_auto (CboxTestResult) net = { 0 };
      run_cbox (&f, &net, "enter", "--", "sh", "-c",
                "readlink /proc/self/ns/net /proc/1/ns/net | uniq | wc -l; grep -c tap0 "
                "/proc/net/dev",
                NULL);
      cbox_test_assert_status (&net, 0);
      g_assert_cmpstr (net.out, ==, "1\n1\n");
    }

    /* The exit status is the command's. */
    run_cbox (&f, &tty, "enter", "--", "sh", "-c", "exit 7", NULL);
    cbox_test_assert_status (&tty, 7);
  }

  {
    g_auto (CboxTestResult) stop = { 0 };
    g_auto (CboxTestResult) ps = { 0 };
    g_autofree char *name = cbox_project_state_name (f.project);

    run_cbox (&f, &stop, "stop", NULL);
    cbox_test_assert_status (&stop, 0);
    g_assert_nonnull (strstr (stop.out, id));
    g_subprocess_wait (run, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (g_subprocess_get_if_exited (run));
    g_assert_cmpint (g_subprocess_get_exit_status (run), ==, 143);

    run_cbox (&f, &ps, "ps", NULL);
    g_assert_null (strstr (ps.out, id));
    entry = g_build_filename (f.state_root, name, "running", id, NULL);
    g_assert_false (g_file_test (entry, G_FILE_TEST_EXISTS));
  }
  fixture_clear (&f);
}

/* nspawn (root): the backend may not report its pid; enter finds the
 * container's init among the run's processes. */
static void
test_nspawn_enter_stop (void)
{
  g_autoptr (GSubprocess) run = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (CboxTestResult) probe = { 0 };
  g_autofree char *id = NULL;
  Fixture f;

  if (!cbox_test_is_root ())
    {
      g_test_skip ("nspawn needs root");
      return;
    }
  fixture_init (&f, "nspawn project");
  run_cbox (&f, &probe, "--backend=nspawn", "--profile=none", "plan", NULL);
  if (probe.status != 0)
    {
      g_test_skip ("no usable nspawn backend here");
      fixture_clear (&f);
      return;
    }
  run = start_background_with (&f, "--backend=nspawn",
                               "echo in-container > /tmp/marker && exec sleep 300");
  id = wait_for_entry_full (&f, run, FALSE, NULL);
  {
    g_auto (CboxTestResult) cat = { 0 };
    /* The container may still be starting: retry while the run lives. */
    for (;;)
      {
        cbox_test_result_clear (&cat);
        run_cbox (&f, &cat, "enter", "--", "cat", "/tmp/marker", NULL);
        if (cat.status == 0 || background_ended (run))
          break;
        g_usleep (200 * 1000);
      }
    cbox_test_assert_status (&cat, 0);
    g_assert_cmpstr (cat.out, ==, "in-container\n");
  }
  {
    g_auto (CboxTestResult) stop = { 0 };
    run_cbox (&f, &stop, "stop", "--instance", id, NULL);
    cbox_test_assert_status (&stop, 0);
    g_subprocess_wait (run, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (g_subprocess_get_if_exited (run));
    g_assert_cmpint (g_subprocess_get_exit_status (run), ==, 143);
  }
  fixture_clear (&f);
}

static void
test_stale_entry (void)
{
  g_autoptr (GSubprocess) run = NULL;
  g_autofree char *id = NULL;
  g_autofree char *name = NULL;
  g_autofree char *entry = NULL;
  g_autofree char *lock = NULL;
  pid_t cbox_pid = 0;
  Fixture f;

  if (!require_bwrap ())
    return;
  fixture_init (&f, "killed");
  run = start_background (&f, "exec sleep 300");
  id = wait_for_entry (&f, run, &cbox_pid);
  g_assert_cmpint (cbox_pid, ==, atoi (g_subprocess_get_identifier (run)));

  name = cbox_project_state_name (f.project);
  entry = g_build_filename (f.state_root, name, "running", id, NULL);
  lock = g_strconcat (entry, ".lock", NULL);
  g_subprocess_force_exit (run);
  g_subprocess_wait (run, NULL, NULL);
  g_assert_true (g_file_test (entry, G_FILE_TEST_EXISTS));

  {
    g_auto (CboxTestResult) ps = { 0 };
    run_cbox (&f, &ps, "ps", NULL);
    cbox_test_assert_status (&ps, 0);
    g_assert_null (strstr (ps.out, id));
    g_assert_false (g_file_test (entry, G_FILE_TEST_EXISTS));
    g_assert_false (g_file_test (lock, G_FILE_TEST_EXISTS));
  }
  fixture_clear (&f);
}

static void
test_enter_nothing_running (void)
{
  g_auto (CboxTestResult) enter = { 0 };
  g_auto (CboxTestResult) stop = { 0 };
  g_auto (CboxTestResult) unknown = { 0 };
  Fixture f;

  fixture_init (&f, "idle");
  run_cbox (&f, &enter, "enter", "--", "true", NULL);
  cbox_test_assert_status (&enter, 125);
  g_assert_nonnull (strstr (enter.err, "No sandbox is running for the project"));
  /* Nothing to stop is no error; an unknown id is. */
  run_cbox (&f, &stop, "stop", NULL);
  cbox_test_assert_status (&stop, 0);
  run_cbox (&f, &unknown, "stop", "--instance=abcdef", NULL);
  cbox_test_assert_status (&unknown, 125);
  g_assert_nonnull (strstr (unknown.err, "abcdef"));
  fixture_clear (&f);
}

/* A qemu run's entry, made by this process (it holds the lock): enter is
 * refused with the reason, ps lists it. */
static void
test_enter_qemu_refused (void)
{
  g_auto (CboxTestResult) enter = { 0 };
  g_auto (CboxTestResult) ps = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxHost) host = NULL;
  g_autoptr (CboxInstance) instance = NULL;
  g_autofree char *real = NULL;
  Fixture f;

  fixture_init (&f, "vm project");
  host = cbox_host_new ();
  cbox_host_set_environ (host, (const char *const *)f.env);
  cbox_host_set_user (host, getuid (), getgid (), g_get_user_name (),
                      g_environ_getenv (f.env, "HOME"), "/bin/sh");
  cbox_host_set_caller_uid (host, getuid ());
  real = realpath (f.project, NULL);
  instance = cbox_instance_register (host, real, "0123456789abcdef", "qemu", NULL,
                                     CBOX_STRV ("sleep", "1"), FALSE, &error);
  g_assert_no_error (error);
  cbox_instance_set_sandbox_pid (instance, getpid ());

  run_cbox (&f, &ps, "ps", NULL);
  cbox_test_assert_status (&ps, 0);
  g_assert_nonnull (strstr (ps.out, "0123456789abcdef"));
  g_assert_nonnull (strstr (ps.out, "qemu"));
  run_cbox (&f, &enter, "enter", NULL);
  cbox_test_assert_status (&enter, 125);
  g_assert_nonnull (strstr (enter.err, "qemu"));
  fixture_clear (&f);
}

/* What `cbox enter` runs gets the run's own seccomp filter: a new user
 * namespace works in an entered shell when the run allows them
 * (allow-userns: Claude Code's sandbox in a second shell), and is refused
 * when it does not; for a command that is the host's root never (the
 * backends give root none). It used to be the default filter always. */
static void
test_enter_filter_follows_run (void)
{
  if (!require_bwrap ())
    return;
  for (int allow = 0; allow <= 1; allow++)
    {
      g_autoptr (GSubprocess) run = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *id = NULL;
      g_autofree char *config = NULL;
      g_autofree char *config_arg = NULL;
      g_auto (CboxTestResult) own = { 0 };
      g_auto (CboxTestResult) stop = { 0 };
      const char *expected = allow && geteuid () != 0 ? "userns-ok" : "userns-refused";
      Fixture f;

      fixture_init (&f, allow ? "enter-userns" : "enter-default");
      config = g_strconcat (f.project, ".conf", NULL);
      g_assert_true (g_file_set_contents (
          config, allow ? "[cbox]\nallow-userns=true\n" : "[cbox]\n", -1, NULL));
      config_arg = g_strconcat ("--config=", config, NULL);
      run = start_background_options (
          &f, (const char *const[]){ "--backend=bwrap", config_arg, NULL }, "exec sleep 300");
      id = wait_for_entry (&f, run, NULL);
      run_cbox (&f, &own, "enter", "--", "sh", "-c",
                "if unshare -U true 2>/dev/null; then echo userns-ok; else echo userns-refused; fi",
                NULL);
      cbox_test_assert_status (&own, 0);
      g_assert_cmpstr (g_strstrip (own.out), ==, expected);
      run_cbox (&f, &stop, "stop", "--instance", id, NULL);
      cbox_test_assert_status (&stop, 0);
      g_subprocess_wait (run, NULL, &error);
      g_assert_no_error (error);
      g_unlink (config);
      fixture_clear (&f);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/projects/state-name", test_state_name);
  g_test_add_func ("/projects/persist/local-and-tmp", test_persist);
  g_test_add_func ("/projects/persist/bad-value", test_persist_bad_value);
  g_test_add_func ("/projects/enter/nothing-running", test_enter_nothing_running);
  g_test_add_func ("/projects/enter/qemu-refused", test_enter_qemu_refused);
  g_test_add_func ("/projects/ps-enter-stop", test_ps_enter_stop);
  g_test_add_func ("/projects/enter/filter-follows-run", test_enter_filter_follows_run);
  g_test_add_func ("/projects/stale-entry", test_stale_entry);
  g_test_add_func ("/projects/nspawn/enter-stop", test_nspawn_enter_stop);
  return g_test_run ();
}

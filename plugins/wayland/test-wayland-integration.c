/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wayland with real compositors and real sandboxes, for each backend
 * (bwrap; nspawn when running as root), each compositor on a test socket in
 * a private XDG_RUNTIME_DIR:
 *
 * - weston --backend=headless-backend.so (no security contexts in Debian 12):
 *   `wayland-info` inside lists wl_compositor with --forward=wayland and
 *   fails without;
 * - test-compositor (libwayland-server, advertises
 *   wp_security_context_manager_v1): the client inside connects through the
 *   context's listener (the compositor logs a context connection with engine
 *   "cbox", the profile's app id and an instance id, and the client does not
 *   see the manager), the context is closed and its directory gone after the
 *   run, `cbox plan` creates no context, and a compositor that refuses the
 *   context makes the run fail (fail closed).
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cbox-test-util.h"

typedef struct
{
  char *runtime_dir;
  char *socket_name;
  char *socket_path;
  char *log_path;
  GSubprocess *proc;
} Compositor;

static const char *only_backend;

static char *
build_file (const char *name)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = g_path_get_dirname (exe);

  return g_build_filename (dir, name, NULL);
}

static void
compositor_stop (Compositor *c)
{
  if (c->proc != NULL)
    {
      g_subprocess_send_signal (c->proc, SIGTERM);
      g_subprocess_wait (c->proc, NULL, NULL);
      g_clear_object (&c->proc);
    }
  g_free (c->runtime_dir);
  g_free (c->socket_name);
  g_free (c->socket_path);
  g_free (c->log_path);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Compositor, compositor_stop)

static void
compositor_init (Compositor *c, const char *socket_name)
{
  c->runtime_dir = cbox_test_make_dir ("runtime");
  g_assert_cmpint (g_chmod (c->runtime_dir, 0700), ==, 0);
  c->socket_name = g_strdup (socket_name);
  c->socket_path = g_build_filename (c->runtime_dir, socket_name, NULL);
  c->log_path = g_build_filename (c->runtime_dir, "compositor.log", NULL);
}

static gboolean
start_weston (Compositor *c)
{
  g_autofree char *weston = cbox_test_require_program ("weston");
  g_autofree char *socket_arg = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GError) error = NULL;

  if (weston == NULL)
    return FALSE;
  compositor_init (c, "wl-cbox-weston");
  socket_arg = g_strdup_printf ("--socket=%s", c->socket_name);
  launcher = cbox_test_server_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                                            | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", c->runtime_dir, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "WAYLAND_DISPLAY");
  g_subprocess_launcher_unsetenv (launcher, "DISPLAY");
  c->proc = g_subprocess_launcher_spawn (launcher, &error, weston, "--backend=headless-backend.so",
                                         socket_arg, "--idle-time=0", NULL);
  g_assert_no_error (error);
  if (!cbox_test_wait_for_path (c->socket_path, 30))
    {
      cbox_test_skip_or_fail ("weston did not start");
      return FALSE;
    }
  return TRUE;
}

static gboolean
start_test_compositor (Compositor *c, const char *mode)
{
  g_autofree char *program = build_file ("test-compositor");
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GError) error = NULL;

  if (!g_file_test (program, G_FILE_TEST_IS_EXECUTABLE))
    {
      cbox_test_skip_or_fail ("test-compositor was not built (libwayland-server missing)");
      return FALSE;
    }
  compositor_init (c, "wl-cbox-test");
  launcher = cbox_test_server_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  c->proc = g_subprocess_launcher_spawn (launcher, &error, program, c->socket_path, c->log_path,
                                         mode, NULL);
  g_assert_no_error (error);
  g_assert_true (cbox_test_wait_for_path (c->socket_path, 30));
  return TRUE;
}

static char *
read_log (Compositor *c)
{
  char *contents = NULL;

  if (!g_file_get_contents (c->log_path, &contents, NULL, NULL))
    return g_strdup ("");
  return contents;
}

/* Waits (bounded) for a log line starting with @prefix. */
static gboolean
wait_for_log (Compositor *c, const char *prefix)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  g_autofree char *needle = g_strconcat ("\n", prefix, NULL);

  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *log = read_log (c);
      g_autofree char *with_newline = g_strconcat ("\n", log, NULL);
      if (strstr (with_newline, needle) != NULL)
        return TRUE;
      g_usleep (20 * 1000);
    }
  return FALSE;
}

static gboolean
has_private_dirs (Compositor *c)
{
  g_autoptr (GDir) dir = g_dir_open (c->runtime_dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, "cbox-wayland-"))
      return TRUE;
  return FALSE;
}

/* Runs cbox with the compositor's environment and a profile "wltest"
 * (app id) in the scratch configuration. */
static void
run_cbox (Compositor *c, const char *command, const char *backend, gboolean forward,
          const char *script, CboxTestResult *result)
{
  g_autofree char *runtime = g_strdup_printf ("XDG_RUNTIME_DIR=%s", c->runtime_dir);
  g_autofree char *display = g_strdup_printf ("WAYLAND_DISPLAY=%s", c->socket_name);
  g_auto (GStrv) env
      = cbox_test_environ ((const char *const[]){ runtime, display, "DISPLAY", NULL });
  g_autofree char *profiles
      = g_build_filename (g_environ_getenv (env, "XDG_CONFIG_HOME"), "cbox", "profiles", NULL);
  g_autofree char *profile = g_build_filename (profiles, "wltest.conf", NULL);
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autofree char *backend_arg = g_strdup_printf ("--backend=%s", backend);
  g_autofree char *project_arg = g_strdup_printf ("--project=%s", project);
  const char *args[] = { command,
                         backend_arg,
                         project_arg,
                         "--profile=wltest",
                         "--network=off",
                         forward ? "--forward=wayland" : "--no-forward=wayland",
                         "--",
                         "/bin/sh",
                         "-c",
                         script,
                         NULL };

  g_assert_cmpint (g_mkdir_with_parents (profiles, 0755), ==, 0);
  g_assert_true (g_file_set_contents (profile, "[cbox]\ndescription=wayland test\n", -1, NULL));
  cbox_test_run (args, NULL, (const char *const *)env, NULL, result);
}

static void
test_weston (gconstpointer data)
{
  const char *backend = data;
  g_auto (Compositor) c = { 0 };
  g_auto (CboxTestResult) with = { 0 };
  g_auto (CboxTestResult) without = { 0 };
  g_autofree char *info = NULL;

  if (!cbox_test_require_backend (backend, only_backend)
      || (info = cbox_test_require_program ("wayland-info")) == NULL || !start_weston (&c))
    return;

  run_cbox (&c, "run", backend, TRUE, "wayland-info", &with);
  cbox_test_assert_status (&with, 0);
  g_assert_nonnull (strstr (with.out, "'wl_compositor'"));

  run_cbox (&c, "run", backend, FALSE, "wayland-info", &without);
  g_assert_cmpint (without.status, !=, 0);
  /* (out is NULL, not "", when cbox printed nothing.) */
  g_assert_true (without.out == NULL || strstr (without.out, "wl_compositor") == NULL);
}

static void
test_security_context (gconstpointer data)
{
  const char *backend = data;
  g_auto (Compositor) c = { 0 };
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *info = NULL;
  g_autofree char *log = NULL;

  if (!cbox_test_require_backend (backend, only_backend)
      || (info = cbox_test_require_program ("wayland-info")) == NULL
      || !start_test_compositor (&c, NULL))
    return;

  run_cbox (&c, "run", backend, TRUE, "echo \"$WAYLAND_DISPLAY\"; wayland-info", &result);
  cbox_test_assert_status (&result, 0);
  g_assert_true (g_str_has_prefix (result.out, "wl-cbox-test\n"));
  g_assert_nonnull (strstr (result.out, "'wl_compositor'"));
  /* A context client: the compositor hides the manager from it. A client
   * on the compositor's own socket would see it. */
  g_assert_null (strstr (result.out, "wp_security_context_manager_v1"));

  g_assert_true (wait_for_log (&c, "connect context engine=cbox app_id=wltest instance_id="));
  g_assert_true (wait_for_log (&c, "context closed engine=cbox"));
  log = read_log (&c);
  g_test_message ("compositor log:\n%s", log);
  g_assert_nonnull (strstr (log, "\ncontext engine=cbox app_id=wltest instance_id="));
  g_assert_false (has_private_dirs (&c));
}

static void
test_plan_creates_nothing (gconstpointer data)
{
  const char *backend = data;
  g_auto (Compositor) c = { 0 };
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *log = NULL;

  if (!cbox_test_require_backend (backend, only_backend) || !start_test_compositor (&c, NULL))
    return;
  run_cbox (&c, "plan", backend, TRUE, "true", &result);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "security context: yes"));
  log = read_log (&c);
  g_assert_null (strstr (log, "context engine="));
  g_assert_false (has_private_dirs (&c));
}

static void
test_fail_closed (gconstpointer data)
{
  const char *backend = data;
  g_auto (Compositor) c = { 0 };
  g_auto (CboxTestResult) result = { 0 };

  if (!cbox_test_require_backend (backend, only_backend)
      || !start_test_compositor (&c, "--refuse-contexts"))
    return;
  run_cbox (&c, "run", backend, TRUE, "echo ran", &result);
  cbox_test_assert_status (&result, 125);
  g_assert_true (result.out == NULL || strstr (result.out, "ran") == NULL);
  g_assert_nonnull (strstr (result.err, "setting one up failed"));
  g_assert_false (has_private_dirs (&c));
}

int
main (int argc, char **argv)
{
  static const char *const backends[] = { "bwrap", "nspawn" };

  g_test_init (&argc, &argv, NULL);
  /* --only=BACKEND: the unprivileged run (run-as-user.sh) tests only what
   * works without root; the run as root covers nspawn. */
  for (int i = 1; i < argc; i++)
    if (g_str_has_prefix (argv[i], "--only="))
      only_backend = argv[i] + strlen ("--only=");
  for (gsize i = 0; i < G_N_ELEMENTS (backends); i++)
    {
      static const struct
      {
        const char *name;
        GTestDataFunc func;
      } tests[] = {
        { "weston", test_weston },
        { "security-context", test_security_context },
        { "plan-creates-nothing", test_plan_creates_nothing },
        { "fail-closed", test_fail_closed },
      };
      for (gsize j = 0; j < G_N_ELEMENTS (tests); j++)
        {
          g_autofree char *path
              = g_strdup_printf ("/wayland/integration/%s/%s", backends[i], tests[j].name);
          g_test_add_data_func (path, backends[i], tests[j].func);
        }
    }
  return g_test_run ();
}

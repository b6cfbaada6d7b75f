/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the wayland forwarder: WAYLAND_DISPLAY validation, and the
 * plugin's probe, contribute and prepare against the test compositor (a
 * real libwayland-server compositor, with and without security contexts). */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cbox-private.h"
#include "cbox-test-util.h"
#include "cbox-wayland-display.h"

extern const CboxPluginDesc *cbox_plugin_describe (void);

static const CboxForwarderVTable *
wayland_vtable (void)
{
  const CboxPluginDesc *desc = cbox_plugin_describe ();

  g_assert_cmpstr (desc->name, ==, "wayland");
  return desc->forwarder;
}

static char *
build_file (const char *name)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = g_path_get_dirname (exe);

  return g_build_filename (dir, name, NULL);
}

/* ---- WAYLAND_DISPLAY ---------------------------------------------------- */

static void
test_display_resolve (void)
{
  static const struct
  {
    const char *display;
    const char *runtime_dir;
    const char *path; /* NULL: refused */
    const char *inside;
  } cases[] = {
    { "wayland-0", "/run/user/1000", "/run/user/1000/wayland-0", "wayland-0" },
    { "wayland-1", "/run/user/1000", "/run/user/1000/wayland-1", "wayland-1" },
    { "my display", "/run/user/5", "/run/user/5/my display", "my display" },
    { "/tmp/wl/sock", NULL, "/tmp/wl/sock", "wayland-0" },
    { "/run/user/1000/wayland-0", "/run/user/1000", "/run/user/1000/wayland-0", "wayland-0" },
    { "wayland-0", NULL, NULL, NULL },
    { "sub/wayland-0", "/run/user/1000", NULL, NULL },
    { "..", "/run/user/1000", NULL, NULL },
    { ".", "/run/user/1000", NULL, NULL },
    { "/tmp/../etc/sock", NULL, NULL, NULL },
    { "/tmp//sock", NULL, NULL, NULL },
    { "/tmp/sock/", NULL, NULL, NULL },
    { "wl\nx", "/run/user/1000", NULL, NULL },
    { "", "/run/user/1000", NULL, NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *path
          = cbox_wayland_display_resolve (cases[i].display, cases[i].runtime_dir, &error);

      g_test_message ("WAYLAND_DISPLAY=%s", cases[i].display);
      g_assert_cmpstr (path, ==, cases[i].path);
      if (cases[i].path == NULL)
        g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
      else
        {
          g_autofree char *inside = cbox_wayland_display_inside_name (cases[i].display);
          g_assert_no_error (error);
          g_assert_cmpstr (inside, ==, cases[i].inside);
        }
    }

  {
    /* Longer than a sockaddr_un can hold. */
    g_autofree char *long_name = g_strnfill (120, 'w');
    g_autoptr (GError) error = NULL;
    g_autofree char *path = cbox_wayland_display_resolve (long_name, "/run/user/1", &error);
    g_assert_null (path);
    g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
  }
}

static void
test_globals_have (void)
{
  const char *out = "global wl_compositor 4\nglobal wp_security_context_manager_v1 1\n";

  g_assert_true (cbox_wayland_globals_have (out, "wl_compositor"));
  g_assert_true (cbox_wayland_globals_have (out, "wp_security_context_manager_v1"));
  g_assert_false (cbox_wayland_globals_have (out, "wp_security_context"));
  g_assert_false (cbox_wayland_globals_have ("global wl_compositorx 1\n", "wl_compositor"));
  g_assert_false (cbox_wayland_globals_have ("", "wl_compositor"));
}

/* ---- the plugin against the test compositor ------------------------------- */

typedef struct
{
  char *runtime_dir;
  char *socket_path;
  char *log_path;
  GSubprocess *compositor;
  CboxHost *host;
} Fixture;

static gboolean
start_compositor (Fixture *fx, const char *mode)
{
  g_autofree char *program = build_file ("test-compositor");
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GError) error = NULL;

  if (!g_file_test (program, G_FILE_TEST_IS_EXECUTABLE))
    {
      cbox_test_skip_or_fail ("test-compositor was not built (libwayland-server missing)");
      return FALSE;
    }
  launcher = cbox_test_server_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  fx->compositor = g_subprocess_launcher_spawn (launcher, &error, program, fx->socket_path,
                                                fx->log_path, mode, NULL);
  g_assert_no_error (error);
  g_assert_true (cbox_test_wait_for_path (fx->socket_path, 20));
  return TRUE;
}

static void
fixture_set_up (Fixture *fx, gconstpointer data)
{
  fx->runtime_dir = cbox_test_make_dir ("runtime");
  g_assert_cmpint (g_chmod (fx->runtime_dir, 0700), ==, 0);
  fx->socket_path = g_build_filename (fx->runtime_dir, "wl-test", NULL);
  fx->log_path = g_build_filename (fx->runtime_dir, "compositor.log", NULL);

  fx->host = cbox_host_new ();
  cbox_host_set_user (fx->host, geteuid (), getegid (), "me", "/home/me", "/bin/sh");
  cbox_host_set_runtime_dir (fx->host, fx->runtime_dir);
  cbox_host_set_environ (fx->host, (const char *const[]){ "WAYLAND_DISPLAY=wl-test", NULL });
}

static void
fixture_tear_down (Fixture *fx, gconstpointer data)
{
  if (fx->compositor != NULL)
    {
      g_subprocess_send_signal (fx->compositor, SIGTERM);
      g_subprocess_wait (fx->compositor, NULL, NULL);
      g_object_unref (fx->compositor);
    }
  cbox_host_unref (fx->host);
  g_free (fx->runtime_dir);
  g_free (fx->socket_path);
  g_free (fx->log_path);
}

/* Waits (bounded) until the compositor's log has a line starting with @prefix. */
static char *
wait_for_log_line (Fixture *fx, const char *prefix)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *contents = NULL;

      if (g_file_get_contents (fx->log_path, &contents, NULL, NULL))
        {
          g_auto (GStrv) lines = g_strsplit (contents, "\n", -1);
          for (guint i = 0; lines[i] != NULL; i++)
            if (g_str_has_prefix (lines[i], prefix))
              return g_strdup (lines[i]);
        }
      g_usleep (20 * 1000);
    }
  return NULL;
}

static CboxContext *
new_context (Fixture *fx, GKeyFile *config)
{
  CboxContext *ctx = cbox_context_new (fx->host, config, "wayland");

  cbox_context_set_profile (ctx, "my-profile");
  cbox_context_set_instance_id (ctx, "0123abcd");
  return ctx;
}

static CboxProbeStatus
run_probe (CboxContext *ctx, CboxProbeResult *result)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (wayland_vtable ()->probe (ctx, result, &error));
  g_assert_no_error (error);
  g_test_message ("probe: %s: %s",
                  cbox_probe_status_to_string (cbox_probe_result_get_status (result)),
                  cbox_probe_result_get_reason (result));
  return cbox_probe_result_get_status (result);
}

static void
test_plugin_unavailable (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = new_context (fx, NULL);
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxProbeResult) result2 = cbox_probe_result_new ();
  g_autoptr (CboxContext) ctx2 = NULL;

  /* No compositor: no socket. */
  g_assert_cmpint (run_probe (ctx, result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "no socket at"));

  cbox_host_setenv (fx->host, "WAYLAND_DISPLAY", "");
  ctx2 = new_context (fx, NULL);
  g_assert_cmpint (run_probe (ctx2, result2), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result2), "WAYLAND_DISPLAY is not set"));
}

static void
test_plugin_dead_socket (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = new_context (fx, NULL);
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  /* A socket file nobody listens on (a crashed compositor's). */
  strcpy (addr.sun_path, fx->socket_path);
  g_assert_cmpint (bind (fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  close (fd);
  g_assert_cmpint (run_probe (ctx, result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "cannot list the globals"));
}

/* A compositor that accepts connections and never answers: the helper's
 * 10 second alarm ends the probe, which says so. */
static void
test_plugin_hung_compositor (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = new_context (fx, NULL);
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  cbox_autofd int fd = cbox_test_listen_unix (fx->socket_path);

  /* Listening for the whole probe, never answering. */
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (run_probe (ctx, result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "did not answer"));
}

static void
test_plugin_plain (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = new_context (fx, NULL);
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  const CboxMount *mount;

  if (!start_compositor (fx, "--no-security-context"))
    return;
  g_assert_cmpint (run_probe (ctx, result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_cmpstr (cbox_probe_result_get_detail (result, "security-context"), ==, "no");

  cbox_plan_set_user (plan, 1000, 1000, "me", "/home/me");
  g_assert_true (wayland_vtable ()->contribute (ctx, plan, &error));
  g_assert_no_error (error);
  mount = cbox_plan_find_mount (plan, "/run/user/1000/wl-test");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_SOCKET);
  g_assert_cmpstr (mount->src, ==, fx->socket_path);
  g_assert_cmpstr (cbox_plan_get_env (plan, "WAYLAND_DISPLAY"), ==, "wl-test");
  g_assert_cmpstr (cbox_plan_get_env (plan, "XDG_RUNTIME_DIR"), ==, "/run/user/1000");
  g_assert_nonnull (strstr (cbox_plan_get_note (plan, 0, NULL), "security context: no"));

  /* prepare has nothing to do. */
  g_assert_true (wayland_vtable ()->prepare (ctx, plan, &error));
  g_assert_no_error (error);
}

static void
test_plugin_require_context (Fixture *fx, gconstpointer data)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();

  if (!start_compositor (fx, "--no-security-context"))
    return;
  g_key_file_set_boolean (config, "wayland", "require-security-context", TRUE);
  ctx = new_context (fx, config);
  g_assert_cmpint (run_probe (ctx, result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "require-security-context"));
}

/* Lists the globals through @socket_path with the helper, as a client. */
static char *
list_globals (const char *socket_path)
{
  g_autofree char *helper = build_file ("cbox-wayland-helper");
  const char *argv[] = { helper, "probe", socket_path, NULL };
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  int status = 0;

  g_assert_true (g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL,
                               &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return g_steal_pointer (&out);
}

static void
test_plugin_security_context (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = new_context (fx, NULL);
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *private_dir = g_build_filename (fx->runtime_dir, "cbox-wayland-0123abcd", NULL);
  g_autofree char *context_socket = g_build_filename (private_dir, "socket", NULL);
  g_autofree char *line = NULL;
  g_autofree char *globals = NULL;
  g_autofree char *direct_globals = NULL;
  const CboxMount *mount;
  struct stat st;

  if (!start_compositor (fx, NULL))
    return;
  g_assert_cmpint (run_probe (ctx, result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_cmpstr (cbox_probe_result_get_detail (result, "security-context"), ==, "yes");
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "security context: yes"));

  cbox_plan_set_user (plan, 1000, 1000, "me", "/home/me");
  g_assert_true (wayland_vtable ()->contribute (ctx, plan, &error));
  g_assert_no_error (error);

  /* contribute makes the listening socket (a backend may check the
   * sources when it realizes), but tells the compositor nothing. */
  g_assert_true (g_file_test (context_socket, G_FILE_TEST_EXISTS));
  mount = cbox_plan_find_mount (plan, "/run/user/1000/wl-test");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_SOCKET);
  g_assert_cmpstr (mount->src, ==, context_socket);
  g_assert_nonnull (strstr (cbox_plan_get_note (plan, 0, NULL), "security context: yes"));
  g_assert_nonnull (strstr (cbox_plan_get_note (plan, 0, NULL), "app id my-profile"));
  /* The compositor's own socket is bound nowhere. */
  for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
    g_assert_cmpstr (cbox_plan_get_mount (plan, i)->src, !=, fx->socket_path);

  {
    g_autofree char *log = NULL;
    g_file_get_contents (fx->log_path, &log, NULL, NULL);
    g_assert_null (strstr (log, "context engine="));
  }

  g_assert_true (wayland_vtable ()->prepare (ctx, plan, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stat (private_dir, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 07777, ==, 0700);
  g_assert_cmpint (stat (context_socket, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));

  line = wait_for_log_line (fx, "context engine=");
  g_assert_cmpstr (line, ==, "context engine=cbox app_id=my-profile instance_id=0123abcd");
  g_clear_pointer (&line, g_free);

  /* A client through the context's socket is a context client: the
   * compositor says so, and hides the manager from it. */
  globals = list_globals (context_socket);
  g_assert_nonnull (strstr (globals, "global wl_compositor "));
  g_assert_null (strstr (globals, "wp_security_context_manager_v1"));
  line = wait_for_log_line (fx, "connect context ");
  g_assert_cmpstr (line, ==, "connect context engine=cbox app_id=my-profile instance_id=0123abcd");
  g_clear_pointer (&line, g_free);
  direct_globals = list_globals (fx->socket_path);
  g_assert_nonnull (strstr (direct_globals, "wp_security_context_manager_v1"));

  /* The run ends: the plan closes the close fd and removes the directory. */
  g_clear_pointer (&plan, cbox_plan_free);
  line = wait_for_log_line (fx, "context closed");
  g_assert_cmpstr (line, ==, "context closed engine=cbox");
  g_assert_false (g_file_test (private_dir, G_FILE_TEST_EXISTS));
}

static void
test_plugin_plan_only (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = new_context (fx, NULL);
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *private_dir = g_build_filename (fx->runtime_dir, "cbox-wayland-0123abcd", NULL);
  g_autofree char *log = NULL;
  g_autofree char *globals = NULL;

  if (!start_compositor (fx, NULL))
    return;
  /* What `cbox plan` does: probe, contribute, free; no prepare. */
  g_assert_cmpint (run_probe (ctx, result), ==, CBOX_PROBE_AVAILABLE);
  cbox_plan_set_user (plan, 1000, 1000, "me", "/home/me");
  g_assert_true (wayland_vtable ()->contribute (ctx, plan, &error));
  g_assert_no_error (error);
  g_clear_pointer (&plan, cbox_plan_free);
  g_clear_pointer (&ctx, cbox_context_free);
  g_assert_false (g_file_test (private_dir, G_FILE_TEST_EXISTS));
  /* A later client's roundtrip orders the log after anything before it. */
  globals = list_globals (fx->socket_path);
  g_assert_true (g_file_get_contents (fx->log_path, &log, NULL, NULL));
  g_assert_null (strstr (log, "context engine="));
}

static void
test_plugin_fail_closed (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = new_context (fx, NULL);
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *private_dir = g_build_filename (fx->runtime_dir, "cbox-wayland-0123abcd", NULL);

  if (!start_compositor (fx, "--refuse-contexts"))
    return;
  g_assert_cmpint (run_probe (ctx, result), ==, CBOX_PROBE_AVAILABLE);
  cbox_plan_set_user (plan, 1000, 1000, "me", "/home/me");
  g_assert_true (wayland_vtable ()->contribute (ctx, plan, &error));
  g_assert_no_error (error);
  g_assert_false (wayland_vtable ()->prepare (ctx, plan, &error));
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "setting one up failed"));
  g_assert_nonnull (strstr (error->message, "protocol error"));
  g_clear_pointer (&plan, cbox_plan_free);
  g_assert_false (g_file_test (private_dir, G_FILE_TEST_EXISTS));
}

static void
test_plugin_stale_sweep (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = new_context (fx, NULL);
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *stale = g_build_filename (fx->runtime_dir, "cbox-wayland-stale", NULL);
  g_autofree char *alive = g_build_filename (fx->runtime_dir, "cbox-wayland-alive", NULL);
  g_autofree char *stale_lock = g_build_filename (stale, "lock", NULL);
  g_autofree char *alive_lock = g_build_filename (alive, "lock", NULL);
  g_autofree char *other = g_build_filename (fx->runtime_dir, "not-ours", NULL);
  int alive_fd;

  if (!start_compositor (fx, NULL))
    return;
  /* A killed run's directory (lock free), a living run's (lock held), and
   * something that is not ours. */
  g_assert_cmpint (g_mkdir (stale, 0700), ==, 0);
  g_assert_true (g_file_set_contents (stale_lock, "", 0, NULL));
  g_assert_cmpint (g_mkdir (alive, 0700), ==, 0);
  g_assert_true (g_file_set_contents (alive_lock, "", 0, NULL));
  alive_fd = open (alive_lock, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (flock (alive_fd, LOCK_EX), ==, 0);
  g_assert_cmpint (g_mkdir (other, 0700), ==, 0);

  g_assert_cmpint (run_probe (ctx, result), ==, CBOX_PROBE_AVAILABLE);
  cbox_plan_set_user (plan, 1000, 1000, "me", "/home/me");
  g_assert_true (wayland_vtable ()->contribute (ctx, plan, &error));
  g_assert_true (wayland_vtable ()->prepare (ctx, plan, &error));
  g_assert_no_error (error);

  g_assert_false (g_file_test (stale, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (alive_lock, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (other, G_FILE_TEST_IS_DIR));
  close (alive_fd);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/wayland/display/resolve", test_display_resolve);
  g_test_add_func ("/wayland/display/globals-have", test_globals_have);
#define ADD(path, func)                                                                            \
  g_test_add ("/wayland/plugin/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("unavailable", test_plugin_unavailable);
  ADD ("dead-socket", test_plugin_dead_socket);
  ADD ("hung-compositor", test_plugin_hung_compositor);
  ADD ("plain", test_plugin_plain);
  ADD ("require-security-context", test_plugin_require_context);
  ADD ("security-context", test_plugin_security_context);
  ADD ("plan-only", test_plugin_plan_only);
  ADD ("fail-closed", test_plugin_fail_closed);
  ADD ("stale-sweep", test_plugin_stale_sweep);
#undef ADD
  return g_test_run ();
}

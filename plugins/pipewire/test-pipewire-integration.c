/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pipewire forwarder in real sandboxes, with the built cbox: a real
 * `pipewire` and `pipewire-pulse` started by the test in a private runtime
 * directory; `pw-cli info 0` and `pactl info` inside succeed with the
 * forwarder and fail without it. With the bwrap and the nspawn backend
 * (nspawn only as root). */
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cbox-test-util.h"

typedef struct
{
  char *runtime_dir;
  char *project;
  GSubprocess *pipewire;
  GSubprocess *pulse;
  char **env;
} Fixture;

/* A failing test aborts: its daemons must not outlive it (the test runner
 * would wait for them). */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *
start_daemon (const char *program, const char *runtime_dir, const char *socket)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
      G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autoptr (GError) error = NULL;
  GSubprocess *process;

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", runtime_dir, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "PIPEWIRE_REMOTE");
  g_subprocess_launcher_unsetenv (launcher, "DBUS_SESSION_BUS_ADDRESS");
  process = g_subprocess_launcher_spawnv (launcher, (const char *const[]){ program, NULL }, &error);
  g_assert_no_error (error);
  g_assert_true (cbox_test_wait_for_path (socket, 20));
  return process;
}

static gboolean
fixture_start (Fixture *fx, const char *backend)
{
  const char *programs[] = { "pipewire", "pipewire-pulse", "pw-cli", "pactl" };
  g_autofree char *pw_socket = NULL;
  g_autofree char *pulse_socket = NULL;
  g_autofree char *pipewire = NULL;
  g_autofree char *pipewire_pulse = NULL;
  g_autofree char *runtime_env = NULL;

  if (!cbox_test_require_backend (backend, NULL))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (programs); i++)
    {
      g_autofree char *path = cbox_test_require_program (programs[i]);
      if (path == NULL)
        return FALSE;
    }
  pipewire = g_find_program_in_path ("pipewire");
  pipewire_pulse = g_find_program_in_path ("pipewire-pulse");
  fx->runtime_dir = cbox_test_make_dir ("runtime");
  g_assert_cmpint (chmod (fx->runtime_dir, 0700), ==, 0);
  fx->project = cbox_test_make_dir ("project");
  pw_socket = g_build_filename (fx->runtime_dir, "pipewire-0", NULL);
  pulse_socket = g_build_filename (fx->runtime_dir, "pulse", "native", NULL);
  fx->pipewire = start_daemon (pipewire, fx->runtime_dir, pw_socket);
  fx->pulse = start_daemon (pipewire_pulse, fx->runtime_dir, pulse_socket);
  runtime_env = g_strconcat ("XDG_RUNTIME_DIR=", fx->runtime_dir, NULL);
  fx->env = cbox_test_environ ((const char *const[]){ runtime_env, "PIPEWIRE_REMOTE",
                                                      "PULSE_SERVER", "PULSE_CLIENTCONFIG", NULL });
  return TRUE;
}

static void
fixture_stop (Fixture *fx)
{
  if (fx->pulse != NULL)
    g_subprocess_force_exit (fx->pulse);
  if (fx->pipewire != NULL)
    g_subprocess_force_exit (fx->pipewire);
  g_clear_object (&fx->pulse);
  g_clear_object (&fx->pipewire);
  g_free (fx->runtime_dir);
  g_free (fx->project);
  g_strfreev (fx->env);
}

static void
run_in_sandbox (Fixture *fx, const char *backend, gboolean forward, const char *script,
                CboxTestResult *result)
{
  g_autofree char *backend_arg = g_strconcat ("--backend=", backend, NULL);
  const char *args[]
      = { "run",  backend_arg, forward ? "--forward=audio" : "--no-forward=audio", "--", "sh", "-c",
          script, NULL };

  g_assert_true (cbox_test_run (args, fx->project, (const char *const *)fx->env, NULL, result));
}

static void
test_pipewire (gconstpointer data)
{
  const char *backend = data;
  Fixture fx = { 0 };
  g_auto (CboxTestResult) result = { 0 };

  if (!fixture_start (&fx, backend))
    return;
  run_in_sandbox (&fx, backend, TRUE, "timeout 20 pw-cli info 0", &result);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "PipeWire:Interface:Core"));

  run_in_sandbox (&fx, backend, FALSE, "timeout 20 pw-cli info 0 2>&1", &result);
  g_assert_cmpint (result.status, !=, 0);
  g_assert_null (strstr (result.out, "PipeWire:Interface:Core"));
  fixture_stop (&fx);
}

static void
test_pulse (gconstpointer data)
{
  const char *backend = data;
  Fixture fx = { 0 };
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *expected
      = g_strdup_printf ("Server String: unix:/run/user/%u/pulse/native", getuid ());

  if (!fixture_start (&fx, backend))
    return;
  run_in_sandbox (&fx, backend, TRUE,
                  "timeout 20 pactl info && grep -qx 'autospawn = no' \"$PULSE_CLIENTCONFIG\"",
                  &result);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, expected));
  g_assert_nonnull (strstr (result.out, "PulseAudio (on PipeWire"));

  run_in_sandbox (&fx, backend, FALSE, "timeout 20 pactl info 2>&1", &result);
  g_assert_cmpint (result.status, !=, 0);
  g_assert_null (strstr (result.out, "Server Name"));
  fixture_stop (&fx);
}

int
main (int argc, char **argv)
{
  const char *backends[] = { "bwrap", "nspawn" };

  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (backends); i++)
    {
      g_autofree char *pw = g_strdup_printf ("/pipewire/integration/%s/pw-cli", backends[i]);
      g_autofree char *pulse = g_strdup_printf ("/pipewire/integration/%s/pactl", backends[i]);

      g_test_add_data_func (pw, backends[i], test_pipewire);
      g_test_add_data_func (pulse, backends[i], test_pulse);
    }
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the integration tests of the ssh, git, nix, locale and
 * hostconf forwarders: which backends can run here, and running a command
 * in a sandbox with the built cbox. Header-only: each test is one file. */

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "cbox-test-util.h"

/* The backends every forwarder is tested with, and qemu for the directory
 * forwards. */
#define DEVTOOLS_TEST_BACKENDS "bwrap", "nspawn"

/* TRUE when @backend can run here. Otherwise the test is skipped: nspawn
 * needs root (never a failure: CI may run as a user); a backend that was
 * not built or is unavailable on this host skips, and fails under CI=true
 * unless @optional (a backend whose host needs — KVM, a kernel image —
 * CI may lack). */
static inline gboolean
devtools_test_require_backend (const char *backend, gboolean optional)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *arg = g_strdup_printf ("--backend=%s", backend);
  g_autofree char *reason = NULL;
  JsonArray *plugins;

  if (g_str_equal (backend, "nspawn") && !cbox_test_is_root ())
    {
      g_test_skip ("the nspawn backend needs root");
      return FALSE;
    }
  if (!cbox_test_runv (&result, arg, "doctor", "--json", NULL))
    return FALSE;
  if (!json_parser_load_from_data (parser, result.out, -1, NULL)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_test_message ("cbox doctor --json printed no JSON:\n%s\n%s", result.out, result.err);
      g_test_fail ();
      return FALSE;
    }
  plugins = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                          "plugins");
  for (guint i = 0; plugins != NULL && i < json_array_get_length (plugins); i++)
    {
      JsonObject *plugin = json_array_get_object_element (plugins, i);
      const char *status;

      if (!g_str_equal (json_object_get_string_member (plugin, "name"), backend))
        continue;
      status = json_object_get_string_member (plugin, "status");
      if (g_str_equal (status, "available") || g_str_equal (status, "degraded"))
        return TRUE;
      reason = g_strdup_printf (
          "backend %s is %s here: %s", backend, status,
          json_object_get_string_member_with_default (plugin, "reason", "(no reason)"));
      break;
    }
  if (reason == NULL)
    reason = g_strdup_printf ("backend %s was not built", backend);
  if (optional)
    g_test_skip (reason);
  else
    cbox_test_skip_or_fail (reason);
  return FALSE;
}

/* The value of @name in @envp (a cbox_test_environ()). */
static inline const char *
devtools_test_env_get (char **envp, const char *name)
{
  return g_environ_getenv (envp, name);
}

/* Runs `cbox --backend=BACKEND ARGS... run -- sh -c SCRIPT` in @project
 * with @envp, and fills @result. @args is NULL-terminated (may be NULL). */
static inline void
devtools_test_sh (CboxTestResult *result, const char *backend, const char *const *args,
                  const char *project, char **envp, const char *script)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_strdup_printf ("--backend=%s", backend));
  g_ptr_array_add (argv, g_strdup_printf ("--project=%s", project));
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, g_strdup ("run"));
  g_ptr_array_add (argv, g_strdup ("--"));
  g_ptr_array_add (argv, g_strdup ("sh"));
  g_ptr_array_add (argv, g_strdup ("-c"));
  g_ptr_array_add (argv, g_strdup (script));
  g_ptr_array_add (argv, NULL);
  cbox_test_run ((const char *const *)argv->pdata, project, (const char *const *)envp, NULL,
                 result);
}

/* Runs a host tool (ssh-keygen, git) and returns its stdout; fails the
 * test when it exits non-zero. */
static inline char *
devtools_test_host (char **envp, const char *cwd, const char *const *argv)
{
  g_autoptr (GSubprocessLauncher) launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  g_subprocess_launcher_set_environ (launcher, envp);
  if (cwd != NULL)
    g_subprocess_launcher_set_cwd (launcher, cwd);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  if (!g_subprocess_get_if_exited (proc) || g_subprocess_get_exit_status (proc) != 0)
    g_error ("%s failed:\n%s\n%s", argv[0], out, err);
  return g_steal_pointer (&out);
}

static void
devtools_test_die_with_parent (gpointer data)
{
  /* A server a test starts must not outlive a test that crashes. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* Starts @argv on the host, its output to @log_path (NULL: discarded). It
 * gets SIGTERM when the test process dies. */
static inline GSubprocess *
devtools_test_spawn (char **envp, const char *log_path, const char *const *argv)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
      log_path != NULL ? G_SUBPROCESS_FLAGS_NONE
                       : G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autoptr (GError) error = NULL;
  GSubprocess *proc;

  g_subprocess_launcher_set_environ (launcher, envp);
  g_subprocess_launcher_set_child_setup (launcher, devtools_test_die_with_parent, NULL, NULL);
  if (log_path != NULL)
    {
      g_subprocess_launcher_set_stdout_file_path (launcher, log_path);
      g_subprocess_launcher_set_stderr_file_path (launcher, log_path);
    }
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  return proc;
}

static inline void
devtools_test_stop (GSubprocess *proc)
{
  if (proc == NULL)
    return;
  g_subprocess_force_exit (proc);
  g_subprocess_wait (proc, NULL, NULL);
  g_object_unref (proc);
}

#define devtools_test_assert_contains(haystack, needle)                                            \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if ((haystack) == NULL || strstr ((haystack), (needle)) == NULL)                               \
      g_error ("%s:%d: expected '%s' in:\n%s", __FILE__, __LINE__, (needle), (haystack));          \
  }                                                                                                \
  G_STMT_END

/* TRUE when @haystack (may be NULL: no output) contains @needle. */
static inline gboolean
devtools_test_contains (const char *haystack, const char *needle)
{
  return haystack != NULL && strstr (haystack, needle) != NULL;
}

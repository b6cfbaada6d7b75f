/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cbox-test-util.h"

#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

void
cbox_test_result_clear (CboxTestResult *result)
{
  g_clear_pointer (&result->out, g_free);
  g_clear_pointer (&result->err, g_free);
  result->out_len = 0;
  result->status = -1;
}

gboolean
cbox_test_in_ci (void)
{
  return g_strcmp0 (g_getenv ("CI"), "true") == 0;
}

void
cbox_test_skip_or_fail (const char *reason)
{
  if (cbox_test_in_ci ())
    {
      g_test_message ("CI=true, so a missing prerequisite is a failure: %s", reason);
      g_test_fail ();
    }
  else
    g_test_skip (reason);
}

char *
cbox_test_require_program (const char *program)
{
  g_autofree char *path = NULL;

  if (g_path_is_absolute (program))
    path = g_file_test (program, G_FILE_TEST_IS_EXECUTABLE) ? g_strdup (program) : NULL;
  else
    path = g_find_program_in_path (program);
  if (path == NULL)
    {
      g_autofree char *reason
          = g_strdup_printf ("%s is not installed (tools/install-deps installs it)", program);
      cbox_test_skip_or_fail (reason);
    }
  return g_steal_pointer (&path);
}

gboolean
cbox_test_is_root (void)
{
  return geteuid () == 0;
}

const char *
cbox_test_cbox_path (void)
{
  const char *path = g_getenv ("CBOX");

  if (path == NULL)
    g_error ("CBOX is not set: run the tests with meson test");
  return path;
}

static void
cbox_test_remove_tree (gpointer data)
{
  g_autofree char *path = data;
  const char *argv[] = { "rm", "-rf", "--one-file-system", "--", path, NULL };
  g_autoptr (GError) error = NULL;
  int status = 0;

  /* Files made inside a sandbox may be read-only; rm -rf handles that, and
   * --one-file-system keeps a mount left by a broken run from being
   * emptied through. */
  if (!g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                     &status, &error))
    g_printerr ("cannot remove %s: %s\n", path, error->message);
}

static char *cbox_test_root;
static pid_t cbox_test_root_owner;

/* The root is made once per test program, so no test's queued destroy can
 * remove it: it goes at exit, with whatever a failed cleanup left in it.
 * Only by the process that made it: a forked child calling exit() must not
 * remove the folder its parent is still using. */
static void
cbox_test_remove_root (void)
{
  if (cbox_test_root != NULL && getpid () == cbox_test_root_owner)
    cbox_test_remove_tree (g_steal_pointer (&cbox_test_root));
}

static const char *
cbox_test_tmp_root (void)
{
  if (cbox_test_root == NULL)
    {
      g_autoptr (GError) error = NULL;
      cbox_test_root = g_dir_make_tmp ("cbox-test-XXXXXX", &error);
      g_assert_no_error (error);
      /* Readable by the unprivileged user some tests run cbox as. */
      g_chmod (cbox_test_root, 0755);
      cbox_test_root_owner = getpid ();
      atexit (cbox_test_remove_root);
    }
  return cbox_test_root;
}

char *
cbox_test_make_dir (const char *name)
{
  static guint counter;
  g_autofree char *unique = g_strdup_printf ("%u-%s", ++counter, name);
  char *path = g_build_filename (cbox_test_tmp_root (), unique, NULL);

  if (g_mkdir_with_parents (path, 0755) < 0)
    g_error ("cannot make %s: %s", path, g_strerror (errno));
  g_test_queue_destroy (cbox_test_remove_tree, g_strdup (path));
  return path;
}

char **
cbox_test_environ (const char *const *extra)
{
  g_auto (GStrv) env = g_get_environ ();
  g_autofree char *home = cbox_test_make_dir ("home");
  g_autofree char *config = g_build_filename (home, ".config", NULL);
  g_autofree char *state = g_build_filename (home, ".local", "state", NULL);
  g_autofree char *cache = g_build_filename (home, ".cache", NULL);

  env = g_environ_setenv (env, "HOME", home, TRUE);
  env = g_environ_setenv (env, "XDG_CONFIG_HOME", config, TRUE);
  env = g_environ_setenv (env, "XDG_STATE_HOME", state, TRUE);
  env = g_environ_setenv (env, "XDG_CACHE_HOME", cache, TRUE);
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    {
      const char *eq = strchr (extra[i], '=');
      if (eq == NULL)
        env = g_environ_unsetenv (env, extra[i]);
      else
        {
          g_autofree char *name = g_strndup (extra[i], (gsize)(eq - extra[i]));
          env = g_environ_setenv (env, name, eq + 1, TRUE);
        }
    }
  return g_steal_pointer (&env);
}

gboolean
cbox_test_run (const char *const *args, const char *cwd, const char *const *envp, const char *input,
               CboxTestResult *result)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_auto (GStrv) default_env = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GBytes) out = NULL;
  g_autoptr (GBytes) err = NULL;
  g_autoptr (GBytes) in = NULL;
  g_autoptr (GError) error = NULL;

  cbox_test_result_clear (result);
  g_ptr_array_add (argv, (gpointer)cbox_test_cbox_path ());
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer)args[i]);
  g_ptr_array_add (argv, NULL);

  if (envp == NULL)
    envp = (const char *const *)(default_env = cbox_test_environ (NULL));

  launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE
                                   | (input != NULL ? G_SUBPROCESS_FLAGS_STDIN_PIPE : 0));
  g_subprocess_launcher_set_environ (launcher, (char **)envp);
  if (cwd != NULL)
    g_subprocess_launcher_set_cwd (launcher, cwd);
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *)argv->pdata, &error);
  if (proc == NULL)
    {
      g_test_message ("cannot run %s: %s", cbox_test_cbox_path (), error->message);
      g_test_fail ();
      return FALSE;
    }
  if (input != NULL)
    in = g_bytes_new (input, strlen (input));
  if (!g_subprocess_communicate (proc, in, NULL, &out, &err, &error))
    {
      g_test_message ("cannot talk to cbox: %s", error->message);
      g_test_fail ();
      return FALSE;
    }
  /* An empty stream gives a GBytes with no data: still "" here, so tests can
   * compare and search output without a NULL check. */
  result->out_len = g_bytes_get_size (out);
  result->out = g_malloc (result->out_len + 1);
  if (result->out_len > 0)
    memcpy (result->out, g_bytes_get_data (out, NULL), result->out_len);
  result->out[result->out_len] = '\0';
  result->err = g_strndup (g_bytes_get_size (err) > 0 ? g_bytes_get_data (err, NULL) : "",
                           g_bytes_get_size (err));
  if (g_subprocess_get_if_exited (proc))
    result->status = g_subprocess_get_exit_status (proc);
  else
    result->status = 128 + g_subprocess_get_term_sig (proc);
  if (g_test_verbose ())
    g_printerr ("cbox exited %d\n--- stdout\n%s--- stderr\n%s", result->status, result->out,
                result->err);
  return TRUE;
}

gboolean
cbox_test_runv (CboxTestResult *result, const char *first_arg, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  va_list ap;

  va_start (ap, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer)arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  return cbox_test_run ((const char *const *)args->pdata, NULL, NULL, NULL, result);
}

gboolean
cbox_test_wait_for_path (const char *path, guint timeout_seconds)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_seconds * G_USEC_PER_SEC;

  while (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_usleep (20 * 1000);
    }
  return TRUE;
}

gboolean
cbox_test_backend_is_built (const char *backend)
{
  g_auto (GStrv) dirs = g_strsplit (
      g_getenv ("CBOX_PLUGIN_PATH") != NULL ? g_getenv ("CBOX_PLUGIN_PATH") : "", ":", -1);
  g_autofree char *file = g_strdup_printf ("libcbox-%s.so", backend);

  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *path = NULL;

      if (dirs[i][0] == '\0')
        continue;
      path = g_build_filename (dirs[i], file, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        return TRUE;
    }
  return FALSE;
}

void
cbox_test_write_file_mode (const char *root, const char *path, const char *content, int dir_mode,
                           int file_mode)
{
  g_autofree char *full = g_build_filename (root, path, NULL);
  g_autofree char *dir = g_path_get_dirname (full);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, dir_mode), ==, 0);
  g_file_set_contents (full, content, -1, &error);
  g_assert_no_error (error);
  if (file_mode != -1)
    g_assert_cmpint (g_chmod (full, file_mode), ==, 0);
}

void
cbox_test_write_file (const char *root, const char *path, const char *content)
{
  cbox_test_write_file_mode (root, path, content, 0755, -1);
}

int
cbox_test_listen_unix (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  g_assert_cmpuint (strlen (path), <, sizeof addr.sun_path);
  memcpy (addr.sun_path, path, strlen (path) + 1);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (fd, 16), ==, 0);
  return fd;
}

gboolean
cbox_test_require_backend (const char *backend, const char *only)
{
  if (only != NULL && !g_str_equal (backend, only))
    {
      g_test_skip ("another backend is tested in this run");
      return FALSE;
    }
  if (!cbox_test_backend_is_built (backend))
    {
      g_autofree char *reason = g_strdup_printf ("backend plugin %s is not built", backend);
      g_test_skip (reason);
      return FALSE;
    }
  /* systemd-nspawn runs only as root, so in the unprivileged-user run of a
   * test this is not a missing prerequisite but a case that cannot apply:
   * the root run of the same test covers nspawn. A skip, even under CI. */
  if (g_str_equal (backend, "nspawn") && !cbox_test_is_root ())
    {
      g_test_skip ("the nspawn backend needs root (this run is an unprivileged user's)");
      return FALSE;
    }
  return TRUE;
}

static void
cbox_test_die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

GSubprocessLauncher *
cbox_test_server_launcher_new (GSubprocessFlags flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);

  g_subprocess_launcher_set_child_setup (launcher, cbox_test_die_with_parent, NULL, NULL);
  return launcher;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cbox-test-util.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
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
cbox_test_process_ended (GPid pid)
{
  siginfo_t info = { 0 };

  /* WNOWAIT: looked at, left for the caller's own wait. */
  if (waitid (P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
    return errno == ECHILD;
  return info.si_pid == pid;
}

gboolean
cbox_test_wait_for_path_while (const char *path, GPid pid)
{
  while (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      if (cbox_test_process_ended (pid))
        return g_file_test (path, G_FILE_TEST_EXISTS);
      g_usleep (20 * 1000);
    }
  return TRUE;
}

GSubprocess *
cbox_test_start_ssh_agent (char **envp, const char *const *prefix, const char *sock)
{
  /* ssh-agent is set-group-id on Debian, and exec'ing it (or its own
   * setegid) clears a parent-death signal: PR_SET_PDEATHSIG in the child
   * does not tie it to the test, and agents of tests killed on a timeout
   * stayed. Its command mode does: the agent forks, the parent execs the
   * command, and the agent ends once that parent is gone (it checks every
   * 10 s). The command is cat on a pipe whose writing end only this test
   * holds: it reads EOF, and ends, when the test ends in any way. */
  g_autoptr (GSubprocessLauncher) launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                                   | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  GSubprocess *agent;

  for (guint i = 0; prefix != NULL && prefix[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer)prefix[i]);
  g_ptr_array_add (argv, (gpointer) "ssh-agent");
  g_ptr_array_add (argv, (gpointer) "-a");
  g_ptr_array_add (argv, (gpointer)sock);
  g_ptr_array_add (argv, (gpointer) "--");
  g_ptr_array_add (argv, (gpointer) "cat");
  g_ptr_array_add (argv, NULL);
  g_subprocess_launcher_set_environ (launcher, envp);
  agent = g_subprocess_launcher_spawnv (launcher, (const char *const *)argv->pdata, &error);
  g_assert_no_error (error);
  return agent;
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

char *
cbox_test_publish_server (guint16 sandbox_port)
{
  /* handle_request() with a bound: a forward that never comes must end
   * the run (the test then fails on the probe's report), not hang it. */
  return g_strdup_printf ("exec python3 -c '\n"
                          "import http.server\n"
                          "class H(http.server.BaseHTTPRequestHandler):\n"
                          "    def do_GET(self):\n"
                          "        body = b\"cbox-published\\n\"\n"
                          "        self.send_response(200)\n"
                          "        self.send_header(\"Content-Length\", str(len(body)))\n"
                          "        self.end_headers()\n"
                          "        self.wfile.write(body)\n"
                          "    def log_message(self, *args):\n"
                          "        pass\n"
                          "server = http.server.HTTPServer((\"0.0.0.0\", %u), H)\n"
                          "server.timeout = 600\n"
                          "open(\"published-ready\", \"w\").close()\n"
                          "server.handle_request()\n"
                          "'",
                          sandbox_port);
}

guint16
cbox_test_free_port (void)
{
  struct sockaddr_in addr = { .sin_family = AF_INET };
  socklen_t len = sizeof addr;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (fd, >=, 0);
  g_assert_no_errno (bind (fd, (struct sockaddr *)&addr, sizeof addr));
  g_assert_no_errno (getsockname (fd, (struct sockaddr *)&addr, &len));
  close (fd);
  return ntohs (addr.sin_port);
}

/* "refused", "connected" or the error of a TCP connection to @addr. */
static char *
cbox_test_try_connect (struct sockaddr_in *addr, char **ret_body)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  GString *body = g_string_new (NULL);
  const char request[] = "GET / HTTP/1.0\r\nHost: x\r\n\r\n";
  char buf[512];
  ssize_t n;

  if (connect (fd, (struct sockaddr *)addr, sizeof *addr) < 0)
    {
      int saved_errno = errno;
      close (fd);
      g_string_free (body, TRUE);
      return g_strdup (saved_errno == ECONNREFUSED ? "refused" : g_strerror (saved_errno));
    }
  if (ret_body != NULL)
    {
      if (write (fd, request, sizeof request - 1) == (ssize_t)(sizeof request - 1))
        while ((n = read (fd, buf, sizeof buf)) > 0)
          g_string_append_len (body, buf, n);
      /* The body only: after the blank line. */
      {
        const char *end = strstr (body->str, "\r\n\r\n");
        *ret_body = g_strstrip (g_strdup (end != NULL ? end + 4 : body->str));
      }
    }
  close (fd);
  g_string_free (body, TRUE);
  return g_strdup ("connected");
}

char *
cbox_test_publish_probe (guint16 host_port, const char *ready_path)
{
  GString *report = g_string_new (NULL);
  struct ifaddrs *ifaddrs = NULL;
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (host_port) };
  gboolean other = FALSE;
  g_autofree char *body = NULL;
  g_autofree char *verdict = NULL;

  if (!cbox_test_wait_for_path (ready_path, 600))
    {
      g_string_append (report, "never ready\n");
      return g_string_free (report, FALSE);
    }
  /* The host's listening sockets on the port (state 0A: LISTEN). */
  for (guint t = 0; t < 2; t++)
    {
      g_autofree char *table = NULL;
      g_auto (GStrv) lines = NULL;

      if (!g_file_get_contents (t == 0 ? "/proc/net/tcp" : "/proc/net/tcp6", &table, NULL, NULL))
        continue;
      lines = g_strsplit (table, "\n", -1);
      for (guint i = 1; lines[i] != NULL; i++)
        {
          g_auto (GStrv) f = g_strsplit_set (g_strstrip (lines[i]), " ", -1);
          g_autoptr (GPtrArray) fields = g_ptr_array_new ();

          for (guint j = 0; f[j] != NULL; j++)
            if (f[j][0] != '\0')
              g_ptr_array_add (fields, f[j]);
          if (fields->len > 3 && g_str_equal (g_ptr_array_index (fields, 3), "0A"))
            {
              const char *local = g_ptr_array_index (fields, 1);
              const char *colon = strrchr (local, ':');
              if (colon != NULL && g_ascii_strtoull (colon + 1, NULL, 16) == host_port)
                g_string_append_printf (report, "listen %.*s\n", (int)(colon - local), local);
            }
        }
    }
  /* A non-loopback IPv4 address of the host: nothing may answer there. */
  if (getifaddrs (&ifaddrs) == 0)
    {
      for (struct ifaddrs *ifa = ifaddrs; ifa != NULL && !other; ifa = ifa->ifa_next)
        {
          struct sockaddr_in other_addr = addr;
          char text[INET_ADDRSTRLEN];
          g_autofree char *result = NULL;

          if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET
              || (ifa->ifa_flags & IFF_LOOPBACK) || !(ifa->ifa_flags & IFF_UP))
            continue;
          other_addr.sin_addr = ((struct sockaddr_in *)ifa->ifa_addr)->sin_addr;
          inet_ntop (AF_INET, &other_addr.sin_addr, text, sizeof text);
          result = cbox_test_try_connect (&other_addr, NULL);
          g_string_append_printf (report, "other %s %s\n", text, result);
          other = TRUE;
        }
      freeifaddrs (ifaddrs);
    }
  if (!other)
    g_string_append (report, "other none\n");
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  verdict = cbox_test_try_connect (&addr, &body);
  if (body != NULL)
    g_string_append_printf (report, "loopback %s\n", body);
  else
    g_string_append_printf (report, "loopback failed: %s\n", verdict);
  return g_string_free (report, FALSE);
}

struct _CboxTestPublishProbe
{
  guint16 host_port;
  char *ready_path;
  char *report;
  GThread *thread;
};

static gpointer
cbox_test_publish_probe_thread (gpointer data)
{
  CboxTestPublishProbe *probe = data;

  probe->report = cbox_test_publish_probe (probe->host_port, probe->ready_path);
  return NULL;
}

CboxTestPublishProbe *
cbox_test_publish_probe_start (guint16 host_port, const char *ready_path)
{
  CboxTestPublishProbe *probe = g_new0 (CboxTestPublishProbe, 1);

  probe->host_port = host_port;
  probe->ready_path = g_strdup (ready_path);
  probe->thread = g_thread_new ("publish-probe", cbox_test_publish_probe_thread, probe);
  return probe;
}

void
cbox_test_publish_probe_finish (CboxTestPublishProbe *probe)
{
  g_auto (GStrv) lines = NULL;
  guint n_listen = 0;

  g_thread_join (probe->thread);
  g_test_message ("publish probe:\n%s", probe->report);
  lines = g_strsplit (probe->report, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "listen "))
      {
        n_listen++;
        /* 0100007F: 127.0.0.1 as /proc/net/tcp writes it. */
        if (!g_str_equal (lines[i], "listen 0100007F"))
          g_error ("the published port listens on another address than 127.0.0.1:\n%s",
                   probe->report);
      }
  g_assert_cmpuint (n_listen, ==, 1);
  if (strstr (probe->report, "other none") != NULL)
    g_test_message ("the host has no other IPv4 address: only the listening address is checked");
  else if (!g_regex_match_simple ("^other [0-9.]+ refused$", probe->report, G_REGEX_MULTILINE, 0))
    g_error ("the published port answers on the host's non-loopback address:\n%s", probe->report);
  g_assert_nonnull (strstr (probe->report, "loopback cbox-published\n"));
  g_free (probe->ready_path);
  g_free (probe->report);
  g_free (probe);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the integration tests: run the built cbox, find the real tools
 * a test needs, make and remove scratch directories. */

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  char *out; /* stdout, NUL-terminated (may hold other NULs) */
  gsize out_len;
  char *err;  /* stderr */
  int status; /* exit code, or 128+N after signal N, as a shell reports it */
} CboxTestResult;

void cbox_test_result_clear (CboxTestResult *result);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CboxTestResult, cbox_test_result_clear)

/* TRUE when CI=true: a test that needs a missing tool fails instead of
 * skipping, so a missing install step cannot hide. */
gboolean cbox_test_in_ci (void);

/* Full path of @program in PATH (or an absolute path that is executable).
 * When missing: skips the test (fails it under CI) and returns NULL; the
 * caller returns at once. */
char *cbox_test_require_program (const char *program);
/* The same verdict for any other missing prerequisite, with a reason. */
void cbox_test_skip_or_fail (const char *reason);
/* TRUE when running as root; a test that needs root calls
 * cbox_test_skip_or_fail() otherwise. */
gboolean cbox_test_is_root (void);

/* Path of the built cbox ($CBOX). */
const char *cbox_test_cbox_path (void);

/* A fresh directory under the test's temp root, removed with everything in
 * it when the test ends. @name may contain anything (spaces, newlines). */
char *cbox_test_make_dir (const char *name);

/* An environment for cbox: the test's own environment with HOME,
 * XDG_CONFIG_HOME and XDG_STATE_HOME and XDG_CACHE_HOME pointed at a scratch
 * home (so the host user's config never leaks into a test), plus @extra
 * ("NAME=VALUE" strings, or "NAME" to unset). */
char **cbox_test_environ (const char *const *extra);

/* Runs cbox with @args (NULL-terminated, without argv[0]) in @cwd (NULL:
 * current) with @envp (NULL: cbox_test_environ (NULL)), feeding @input (NULL:
 * /dev/null) on stdin. Fills @result; returns FALSE only when cbox could not
 * be spawned at all (the test is failed then). */
gboolean cbox_test_run (const char *const *args, const char *cwd, const char *const *envp,
                        const char *input, CboxTestResult *result);
/* The same, with the args given as a NULL-terminated list. */
gboolean cbox_test_runv (CboxTestResult *result, const char *first_arg, ...) G_GNUC_NULL_TERMINATED;

/* TRUE when the plugin of backend @backend (libcbox-BACKEND.so) is in one
 * of the folders of $CBOX_PLUGIN_PATH: an integration test skips (not
 * fails) a backend whose plugin this build does not have. */
gboolean cbox_test_backend_is_built (const char *backend);

/* For integration tests that run one backend at a time: FALSE (the test
 * skipped) when @only is set and names another backend, when the backend's
 * plugin is not built (another helper's plugin: a skip, not a failure),
 * or when it is nspawn and the test is not root (skip, or fail under CI). */
gboolean cbox_test_require_backend (const char *backend, const char *only);

/* A launcher for servers a test starts (Xvfb, a compositor): each child
 * gets SIGTERM when the test process dies, even when an assertion aborts
 * it, so no server outlives its test. */
GSubprocessLauncher *cbox_test_server_launcher_new (GSubprocessFlags flags);

/* Writes @content at @path under @root (a fake host tree), making the
 * folders on the way (mode 0755). */
void cbox_test_write_file (const char *root, const char *path, const char *content);
/* The same, making the folders with @dir_mode, and the file with
 * @file_mode unless that is -1. */
void cbox_test_write_file_mode (const char *root, const char *path, const char *content,
                                int dir_mode, int file_mode);

/* A listening unix stream socket (close-on-exec) at @path, for probes that
 * look for a server there; the caller closes it. */
int cbox_test_listen_unix (const char *path);

/* Waits until @path exists, polling, for at most @timeout_seconds (a bound
 * so that a broken server fails the test instead of hanging it). */
gboolean cbox_test_wait_for_path (const char *path, guint timeout_seconds);

/* --publish from the host's side. cbox_test_publish_server() is a shell
 * command for inside: a Python HTTP server on @sandbox_port (every address
 * of the sandbox) that creates the file "published-ready" in the current
 * folder (the project) once it listens, answers one GET with
 * "cbox-published" and exits. cbox_test_publish_probe() (in a thread while
 * cbox runs it) waits for @ready_path, then reports one line each:
 *   "listen ADDR" per listening TCP socket of the host on @host_port
 *     (/proc/net/tcp and tcp6, the address as the kernel writes it:
 *     0100007F is 127.0.0.1);
 *   "other ADDR refused|connected|ERROR" for a non-loopback IPv4 address
 *     of the host, if it has one ("other none" otherwise);
 *   "loopback BODY" (or "loopback failed: WHY") for 127.0.0.1:@host_port,
 *     last, which ends the server. */
char *cbox_test_publish_server (guint16 sandbox_port);
char *cbox_test_publish_probe (guint16 host_port, const char *ready_path);
/* cbox_test_publish_probe() in a thread, started before cbox runs the
 * server; _finish() joins it and asserts its report: exactly one
 * listening socket on the port, on 127.0.0.1; nothing answers on the
 * host's other address; the server answered on 127.0.0.1. */
typedef struct _CboxTestPublishProbe CboxTestPublishProbe;
CboxTestPublishProbe *cbox_test_publish_probe_start (guint16 host_port, const char *ready_path);
void cbox_test_publish_probe_finish (CboxTestPublishProbe *probe);
/* A TCP port free on the host's 127.0.0.1 right now. */
guint16 cbox_test_free_port (void);

/* TRUE once process @pid (a child of this process) has ended; it is not
 * reaped, so whoever waits for it still gets its status. */
gboolean cbox_test_process_ended (GPid pid);

/* Waits until @path exists while process @pid (a child) lives: TRUE when
 * the path appeared, FALSE when the process ended first. No clock: a
 * process that neither ends nor makes the path is the test runner's
 * timeout to catch. */
gboolean cbox_test_wait_for_path_while (const char *path, GPid pid);

/* Starts a real ssh-agent listening on @sock, after @prefix (argv words
 * before it, such as setpriv's to run it as another user; NULL: none),
 * with @envp, so that it ends when this test does, even when the test is
 * killed (see the comment in cbox-test-util.c). Stop it with
 * g_subprocess_force_exit() and g_subprocess_wait(); the agent follows
 * within ssh-agent's 10 s check. */
GSubprocess *cbox_test_start_ssh_agent (char **envp, const char *const *prefix, const char *sock);

/* Asserts a process result, printing stdout and stderr on mismatch. */
#define cbox_test_assert_status(result, expected)                                                  \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if ((result)->status != (expected))                                                            \
      g_error ("%s:%d: cbox exited %d, expected %d\n--- stdout:\n%s\n--- stderr:\n%s", __FILE__,   \
               __LINE__, (result)->status, (expected), (result)->out, (result)->err);              \
  }                                                                                                \
  G_STMT_END

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the launch plan, the host snapshot and the base plan. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-private.h"
#include "cbox-test-util.h"

static void
test_plan_env_starts_empty (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_auto (GStrv) env = cbox_plan_get_environ (plan);

  g_assert_cmpuint (g_strv_length (env), ==, 0);
}

static void
test_plan_env_set_unset_sorted (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_auto (GStrv) env = NULL;

  cbox_plan_set_origin (plan, "x11");
  cbox_plan_set_env (plan, "ZED", "1");
  cbox_plan_set_env (plan, "ALPHA", "a=b");
  cbox_plan_set_env (plan, "GONE", "x");
  cbox_plan_set_origin (plan, "cli");
  cbox_plan_unset_env (plan, "GONE");
  cbox_plan_set_env (plan, "ZED", "2");

  env = cbox_plan_get_environ (plan);
  g_assert_cmpuint (g_strv_length (env), ==, 2);
  g_assert_cmpstr (env[0], ==, "ALPHA=a=b");
  g_assert_cmpstr (env[1], ==, "ZED=2");
  g_assert_null (cbox_plan_get_env (plan, "GONE"));
  /* The last writer is the origin shown by `cbox plan`. */
  for (guint i = 0; i < cbox_plan_get_n_env (plan); i++)
    {
      const CboxEnvVar *var = cbox_plan_get_env_var (plan, i);
      if (g_str_equal (var->name, "ZED") || g_str_equal (var->name, "GONE"))
        g_assert_cmpstr (var->origin, ==, "cli");
      else
        g_assert_cmpstr (var->origin, ==, "x11");
    }
}

static void
test_plan_mounts_order_and_origin (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  const CboxMount *mount;

  cbox_plan_set_origin (plan, "core");
  cbox_plan_add_tmpfs (plan, "/tmp", 01777);
  cbox_plan_set_origin (plan, "x11");
  cbox_plan_add_bind_socket (plan, "/tmp/.X11-unix/X3", "/tmp/.X11-unix/X3", CBOX_MOUNT_FLAG_NONE);
  cbox_plan_add_bind_ro (plan, "/a b", "/tmp", CBOX_MOUNT_FLAG_ALLOW_MISSING);

  g_assert_cmpuint (cbox_plan_get_n_mounts (plan), ==, 3);
  mount = cbox_plan_get_mount (plan, 0);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_TMPFS);
  g_assert_cmpuint (mount->mode, ==, 01777);
  g_assert_cmpstr (mount->origin, ==, "core");
  mount = cbox_plan_get_mount (plan, 1);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_SOCKET);
  g_assert_cmpstr (mount->origin, ==, "x11");
  /* find_mount returns the last item at a destination: the one that wins. */
  mount = cbox_plan_find_mount (plan, "/tmp");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpstr (mount->src, ==, "/a b");
  g_assert_true (mount->flags & CBOX_MOUNT_FLAG_ALLOW_MISSING);
  g_assert_null (cbox_plan_find_mount (plan, "/nowhere"));
}

static void
test_plan_dest_must_be_normalized (void)
{
  static const char *const bad[] = { "relative", "/a//b", "/a/../b", "/a/./b", "/a/" };

  if (g_test_subprocess ())
    {
      g_autoptr (CboxPlan) plan = cbox_plan_new ();
      cbox_plan_add_tmpfs (plan, g_getenv ("CBOX_TEST_DEST"), 0755);
      return;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *arg = g_strdup (bad[i]);
      g_setenv ("CBOX_TEST_DEST", arg, TRUE);
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_failed ();
      g_test_trap_assert_stderr ("*not an absolute normalized path*");
    }
}

static char *
read_fd (int fd)
{
  char buf[256] = "";
  ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
  g_assert_cmpint (n, >=, 0);
  return g_strndup (buf, (gsize)n);
}

static void
test_plan_data_is_sealed_memfd (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *content = NULL;
  const CboxMount *mount;
  int seals;

  g_assert_true (
      cbox_plan_add_data (plan, "/etc/hello", "hi\n", 3, 0640, CBOX_MOUNT_FLAG_NONE, &error));
  g_assert_no_error (error);
  mount = cbox_plan_find_mount (plan, "/etc/hello");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DATA);
  g_assert_cmpuint (mount->mode, ==, 0640);
  content = read_fd (mount->fd);
  g_assert_cmpstr (content, ==, "hi\n");
  seals = fcntl (mount->fd, F_GET_SEALS);
  g_assert_cmpint (seals & F_SEAL_WRITE, ==, F_SEAL_WRITE);
  g_assert_cmpint (seals & F_SEAL_SEAL, ==, F_SEAL_SEAL);
  /* A bad destination is an error with a reason, not a bare FALSE. */
  g_assert_false (cbox_plan_add_data (plan, "/etc/../x", "", 0, 0644, 0, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "/etc/../x"));
  g_clear_error (&error);
  /* Nobody can change what the plan showed. */
  g_assert_cmpint (write (mount->fd, "x", 1), ==, -1);
  g_assert_cmpint (fcntl (mount->fd, F_GETFD) & FD_CLOEXEC, ==, FD_CLOEXEC);
}

static void
test_plan_copy (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = cbox_test_make_dir ("copy");
  g_autofree char *src = g_build_filename (dir, "claude .json", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing", NULL);
  g_autofree char *fifo = g_build_filename (dir, "fifo", NULL);
  g_autofree char *content = NULL;
  const CboxMount *mount;

  g_assert_true (g_file_set_contents (src, "{\"a\":1}", -1, &error));
  g_assert_true (cbox_plan_add_copy (plan, src, "/home/u/.claude.json", 0, &error));
  g_assert_no_error (error);
  mount = cbox_plan_find_mount (plan, "/home/u/.claude.json");
  g_assert_nonnull (mount);
  g_assert_true (mount->flags & CBOX_MOUNT_FLAG_WRITABLE);
  content = read_fd (mount->fd);
  g_assert_cmpstr (content, ==, "{\"a\":1}");

  /* Missing and allowed: nothing added, no error. */
  g_assert_true (cbox_plan_add_copy (plan, missing, "/x", CBOX_MOUNT_FLAG_ALLOW_MISSING, &error));
  g_assert_null (cbox_plan_find_mount (plan, "/x"));
  /* Missing and required: an error naming the file. */
  g_assert_false (cbox_plan_add_copy (plan, missing, "/x", 0, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);
  /* A directory is refused. */
  g_assert_false (cbox_plan_add_copy (plan, dir, "/x", 0, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* So is a fifo, without blocking on it (nobody writes to it). */
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_false (cbox_plan_add_copy (plan, fifo, "/x", 0, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
  g_assert_null (cbox_plan_find_mount (plan, "/x"));
}

/* The copy keeps the file's permission bits, and its whole content
 * (bigger than one read, with NUL bytes). */
static void
test_plan_copy_mode_and_size (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = cbox_test_make_dir ("copy-big");
  g_autofree char *src = g_build_filename (dir, "big", NULL);
  g_autofree char *data = g_malloc (100000);
  g_autofree char *back = g_malloc (100001);
  const CboxMount *mount;

  for (gsize i = 0; i < 100000; i++)
    data[i] = (char)(i % 251);
  g_assert_true (g_file_set_contents (src, data, 100000, &error));
  g_assert_cmpint (g_chmod (src, 0640), ==, 0);
  g_assert_true (cbox_plan_add_copy (plan, src, "/big", 0, &error));
  g_assert_no_error (error);
  mount = cbox_plan_find_mount (plan, "/big");
  g_assert_nonnull (mount);
  g_assert_cmpuint (mount->mode, ==, 0640);
  g_assert_cmpint (pread (mount->fd, back, 100001, 0), ==, 100000);
  g_assert_cmpmem (back, 100000, data, 100000);
}

static int cleanup_log[4];
static int cleanup_count;

static void
record_cleanup (gpointer data)
{
  cleanup_log[cleanup_count++] = GPOINTER_TO_INT (data);
}

static void
test_plan_cleanups_lifo_once (void)
{
  CboxPlan *plan = cbox_plan_new ();

  cleanup_count = 0;
  cbox_plan_add_cleanup (plan, record_cleanup, GINT_TO_POINTER (1), NULL);
  cbox_plan_add_cleanup (plan, record_cleanup, GINT_TO_POINTER (2), NULL);
  cbox_plan_add_cleanup (plan, record_cleanup, GINT_TO_POINTER (3), NULL);
  cbox_plan_run_cleanups (plan);
  cbox_plan_run_cleanups (plan);
  cbox_plan_free (plan);
  g_assert_cmpint (cleanup_count, ==, 3);
  g_assert_cmpint (cleanup_log[0], ==, 3);
  g_assert_cmpint (cleanup_log[1], ==, 2);
  g_assert_cmpint (cleanup_log[2], ==, 1);

  /* Freeing a plan whose cleanups never ran runs them. */
  cleanup_count = 0;
  plan = cbox_plan_new ();
  cbox_plan_add_cleanup (plan, record_cleanup, GINT_TO_POINTER (7), NULL);
  cbox_plan_free (plan);
  g_assert_cmpint (cleanup_count, ==, 1);
}

/* cbox_plan_make_run_dir(): a private folder, removed by the plan's
 * cleanups with the sockets and files in it; a taken name is refused;
 * the sweep removes what a killed run left (no lock held) and keeps a
 * live run's folder, and never follows a link. */
static void
test_plan_run_dir (void)
{
  g_autofree char *base = cbox_test_make_dir ("run-dirs");
  g_autofree char *dir = g_build_filename (base, "cbox-test-1", NULL);
  g_autofree char *stale = g_build_filename (base, "cbox-test-stale", NULL);
  g_autofree char *stale_sock = g_build_filename (stale, "sock", NULL);
  g_autofree char *stale_lock = g_build_filename (stale, ".lock", NULL);
  g_autofree char *other = g_build_filename (base, "other-stale", NULL);
  g_autofree char *victim = cbox_test_make_dir ("run-dir-victim");
  g_autofree char *victim_file = g_build_filename (victim, "keep", NULL);
  g_autofree char *link_dir = g_build_filename (base, "cbox-test-link", NULL);
  g_autofree char *socket_path = g_build_filename (dir, "sock", NULL);
  g_autofree char *live = g_build_filename (base, "cbox-test-2", NULL);
  g_autoptr (GError) error = NULL;
  CboxPlan *plan = cbox_plan_new ();
  CboxPlan *live_plan = cbox_plan_new ();
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  GStatBuf st;
  int fd;

  /* A live run's folder (its lock held) and a killed run's (lock free). */
  g_assert_true (
      cbox_plan_make_run_dir (live_plan, live, "cbox-test-", getuid (), getgid (), &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_mkdir (stale, 0700), ==, 0);
  g_assert_true (g_file_set_contents (stale_sock, "", 0, NULL));
  g_assert_true (g_file_set_contents (stale_lock, "", 0, NULL));
  /* Not of this prefix; a link named like one, to a folder with a file. */
  g_assert_cmpint (g_mkdir (other, 0700), ==, 0);
  g_assert_true (g_file_set_contents (victim_file, "x", -1, NULL));
  g_assert_cmpint (symlink (victim, link_dir), ==, 0);

  g_assert_true (cbox_plan_make_run_dir (plan, dir, "cbox-test-", getuid (), getgid (), &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_lstat (dir, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
  g_assert_false (g_file_test (stale, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (live, G_FILE_TEST_IS_DIR));
  g_assert_true (g_file_test (other, G_FILE_TEST_IS_DIR));
  g_assert_true (g_file_test (victim_file, G_FILE_TEST_EXISTS));

  /* A socket in it, as a helper would make. */
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (addr.sun_path, socket_path, sizeof addr.sun_path);
  g_assert_cmpint (bind (fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  close (fd);

  /* The name is taken now: refused, naming the path. */
  {
    CboxPlan *again = cbox_plan_new ();
    g_assert_false (
        cbox_plan_make_run_dir (again, dir, "cbox-test-", getuid (), getgid (), &error));
    g_assert_error (error, CBOX_ERROR, CBOX_ERROR_FAILED);
    g_assert_nonnull (strstr (error->message, dir));
    g_clear_error (&error);
    cbox_plan_free (again);
  }
  g_assert_true (g_file_test (socket_path, G_FILE_TEST_EXISTS));

  cbox_plan_run_cleanups (plan);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  cbox_plan_free (plan);
  cbox_plan_free (live_plan);
  g_assert_false (g_file_test (live, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (victim_file, G_FILE_TEST_EXISTS));
  g_unlink (link_dir);
  g_unlink (victim_file);
  g_rmdir (victim);
  g_rmdir (other);
  g_rmdir (base);
}

/* cbox_run_kill_tree(): the tool and everything below it, even a child
 * that a plain SIGKILL of the tool would orphan (bwrap's child, blocked
 * on an eventfd). This test is a subreaper, so the orphans come back to
 * it and their end can be checked. */
static void
test_run_kill_tree (void)
{
  int ready[2];
  pid_t tool;
  char buf[2];
  int status;
  guint killed = 0;

  g_assert_no_errno (prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
  g_assert_no_errno (pipe2 (ready, O_CLOEXEC));
  tool = fork ();
  g_assert_cmpint (tool, >=, 0);
  if (tool == 0)
    {
      /* A tool with a child, which has a child of its own; all wait. */
      for (int level = 0; level < 2; level++)
        {
          pid_t child = fork ();
          if (child < 0)
            _exit (1);
          if (child > 0)
            break;
          if (level == 1)
            {
              if (write (ready[1], "x", 1) != 1)
                _exit (1);
            }
        }
      for (;;)
        pause ();
    }
  close (ready[1]);
  g_assert_cmpint (read (ready[0], buf, 1), ==, 1);
  close (ready[0]);
  /* The grandchild is up; the child made it, so it is up too. */
  cbox_run_kill_tree (tool);
  /* The tool, then the two orphans that came back to this subreaper: all
   * three killed, none left. */
  while (killed < 3)
    {
      pid_t got = waitpid (-1, &status, 0);
      if (got < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (got, >, 0);
      g_assert_true (WIFSIGNALED (status));
      g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);
      killed++;
    }
  g_assert_cmpint (waitpid (-1, &status, WNOHANG), ==, -1);
  g_assert_cmpint (errno, ==, ECHILD);
  g_assert_no_errno (prctl (PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0));
}

static void
test_plan_fds_closed_on_free (void)
{
  CboxPlan *plan = cbox_plan_new ();
  int fds[2];

  g_assert_cmpint (pipe2 (fds, O_CLOEXEC), ==, 0);
  cbox_plan_take_fd (plan, fds[1]);
  cbox_plan_free (plan);
  /* The write end is closed: reading sees end of file at once. */
  char c;
  g_assert_cmpint (read (fds[0], &c, 1), ==, 0);
  close (fds[0]);
}

static void
test_plan_forwarders_and_skipped (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  const char *reason = NULL;

  g_assert_cmpuint (g_strv_length ((char **)cbox_plan_get_forwarders (plan)), ==, 0);
  cbox_plan_add_forwarder (plan, "hostconf");
  cbox_plan_add_forwarder (plan, "x11");
  g_assert_cmpstr (cbox_plan_get_forwarders (plan)[0], ==, "hostconf");
  g_assert_cmpstr (cbox_plan_get_forwarders (plan)[1], ==, "x11");
  g_assert_null (cbox_plan_get_forwarders (plan)[2]);
  cbox_plan_add_skipped (plan, "wayland", "WAYLAND_DISPLAY is not set");
  g_assert_cmpuint (cbox_plan_get_n_skipped (plan), ==, 1);
  g_assert_cmpstr (cbox_plan_get_skipped (plan, 0, &reason), ==, "wayland");
  g_assert_cmpstr (reason, ==, "WAYLAND_DISPLAY is not set");
}

static void
test_launch_shell_string (void)
{
  g_autoptr (CboxLaunch) launch = cbox_launch_new ();
  g_autofree char *line = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) parsed = NULL;
  const char *const words[] = { "bwrap", "--bind", "/a b/it's", "/x\ny", "", "plain-1.0", NULL };

  for (guint i = 0; words[i] != NULL; i++)
    cbox_launch_add_arg (launch, words[i]);
  line = cbox_launch_to_shell_string (launch);
  g_assert_true (g_str_has_prefix (line, "bwrap --bind "));
  /* A shell reads the line back as exactly the same words. */
  g_assert_true (g_shell_parse_argv (line, NULL, &parsed, &error));
  g_assert_no_error (error);
  g_assert_cmpstrv (parsed, words);
}

/* ---- host --------------------------------------------------------------- */

static void
test_host_resolve_and_expand (void)
{
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autofree char *real = NULL;
  g_autofree char *fake = NULL;
  g_autofree char *tilde = NULL;
  g_autofree char *runtime = NULL;
  g_autoptr (GError) error = NULL;

  cbox_host_set_user (host, 1234, 1235, "alice", "/home/alice", "/bin/bash");
  real = cbox_host_resolve (host, "/dev/dri");
  g_assert_cmpstr (real, ==, "/dev/dri");
  cbox_host_set_root (host, "/tmp/fake/");
  fake = cbox_host_resolve (host, "/dev/dri");
  g_assert_cmpstr (fake, ==, "/tmp/fake/dev/dri");

  tilde = cbox_host_expand_path (host, "~/.ssh", &error);
  g_assert_cmpstr (tilde, ==, "/home/alice/.ssh");
  g_assert_null (cbox_host_expand_path (host, "$XDG_RUNTIME_DIR/bus", &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
  g_clear_error (&error);
  cbox_host_set_runtime_dir (host, "/run/user/1234");
  runtime = cbox_host_expand_path (host, "$XDG_RUNTIME_DIR/bus", &error);
  g_assert_cmpstr (runtime, ==, "/run/user/1234/bus");
}

/* Host files are read under the root prefix, whole, and only when they are
 * regular files of bounded size. */
static void
test_host_read_file (void)
{
  g_autofree char *root = cbox_test_make_dir ("read root");
  g_autofree char *fifo = g_build_filename (root, "fifo", NULL);
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;

  cbox_host_set_root (host, root);
  cbox_test_write_file (root, "etc/some file", "0123456789");
  bytes = cbox_host_read_file (host, "/etc/some file", 10, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), "0123456789", 10);

  g_assert_null (cbox_host_read_file (host, "/etc/some file", 9, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "too large"));
  g_clear_error (&error);

  g_assert_null (cbox_host_read_file (host, "/etc/missing", 0, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_nonnull (strstr (error->message, "/etc/missing"));
  g_clear_error (&error);

  /* Nobody writes to the fifo: refused at once, not waited on. */
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_null (cbox_host_read_file (host, "/fifo", 0, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "not a regular file"));
  g_clear_error (&error);
  g_assert_null (cbox_host_read_file (host, "/etc", 0, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
}

/* cbox_host_is_socket(): a listening socket (also through a link) under the
 * root prefix is one; a regular file, a folder, a fifo, a missing path and
 * the same socket outside the root prefix are not. */
static void
test_host_is_socket (void)
{
  g_autofree char *root = cbox_test_make_dir ("socket root");
  g_autofree char *run = g_build_filename (root, "run", NULL);
  g_autofree char *sock_path = g_build_filename (run, "server.sock", NULL);
  g_autofree char *link_path = g_build_filename (run, "link.sock", NULL);
  g_autofree char *fifo = g_build_filename (run, "fifo", NULL);
  g_autoptr (CboxHost) host = cbox_host_new ();
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cbox_autofd int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  cbox_host_set_root (host, root);
  g_assert_cmpint (g_mkdir_with_parents (run, 0700), ==, 0);
  g_assert_cmpuint (strlen (sock_path), <, sizeof addr.sun_path);
  strcpy (addr.sun_path, sock_path);
  g_assert_cmpint (fd, >=, 0);
  g_assert_no_errno (bind (fd, (struct sockaddr *)&addr, sizeof addr));
  g_assert_no_errno (symlink (sock_path, link_path));
  g_assert_no_errno (mkfifo (fifo, 0600));
  cbox_test_write_file (root, "run/plain", "not a socket");

  g_assert_true (cbox_host_is_socket (host, "/run/server.sock"));
  g_assert_true (cbox_host_is_socket (host, "/run/link.sock"));
  g_assert_false (cbox_host_is_socket (host, "/run/plain"));
  g_assert_false (cbox_host_is_socket (host, "/run"));
  g_assert_false (cbox_host_is_socket (host, "/run/fifo"));
  g_assert_false (cbox_host_is_socket (host, "/run/missing.sock"));
  /* The path is the host's, under the root prefix: the socket's real path
   * is not found under it. */
  g_assert_false (cbox_host_is_socket (host, sock_path));

  g_unlink (link_path);
  g_unlink (sock_path);
  g_unlink (fifo);
}

static void
test_host_getenv_nonempty (void)
{
  g_autoptr (CboxHost) host = cbox_host_new ();
  const char *const env[] = { "LANG=C.UTF-8", "EMPTY=", NULL };

  cbox_host_set_environ (host, env);
  g_assert_cmpstr (cbox_host_getenv (host, "LANG"), ==, "C.UTF-8");
  g_assert_cmpstr (cbox_host_getenv (host, "EMPTY"), ==, "");
  g_assert_null (cbox_host_getenv_nonempty (host, "EMPTY"));
  g_assert_null (cbox_host_getenv (host, "MISSING"));
  cbox_host_setenv (host, "LANG", NULL);
  g_assert_null (cbox_host_getenv (host, "LANG"));
}

static void
test_host_from_system_under_sudo (void)
{
  /* Only root may claim to act for somebody: as a normal user SUDO_UID
   * must change nothing. As root, the target becomes that uid. */
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxHost) host = NULL;

  if (g_test_subprocess ())
    {
      g_autofree char *runtime = cbox_test_make_dir ("sudo-runtime");
      g_autofree char *others = cbox_test_make_dir ("sudo-runtime-root");

      g_setenv ("SUDO_UID", "65534", TRUE);
      g_setenv ("SUDO_GID", "65534", TRUE);
      if (getuid () == 0)
        {
          /* The user's runtime folder from the environment sudo kept: used
           * when it is a folder of that user's that only they may write. */
          g_assert_cmpint (chown (runtime, 65534, 65534), ==, 0);
          g_assert_cmpint (g_chmod (runtime, 0700), ==, 0);
          g_setenv ("XDG_RUNTIME_DIR", runtime, TRUE);
          host = cbox_host_new_from_system (&error);
          g_assert_no_error (error);
          g_assert_cmpstr (cbox_host_get_runtime_dir (host), ==, runtime);
          g_clear_pointer (&host, cbox_host_unref);
          /* Root's own folder, or the user's open to others: not used. */
          g_setenv ("XDG_RUNTIME_DIR", others, TRUE);
          host = cbox_host_new_from_system (&error);
          g_assert_cmpstr (cbox_host_get_runtime_dir (host), !=, others);
          g_clear_pointer (&host, cbox_host_unref);
          g_assert_cmpint (g_chmod (runtime, 0722), ==, 0);
          g_setenv ("XDG_RUNTIME_DIR", runtime, TRUE);
          host = cbox_host_new_from_system (&error);
          g_assert_cmpstr (cbox_host_get_runtime_dir (host), !=, runtime);
          g_clear_pointer (&host, cbox_host_unref);
        }
      host = cbox_host_new_from_system (&error);
      g_assert_no_error (error);
      if (getuid () == 0)
        {
          g_assert_cmpuint (cbox_host_get_uid (host), ==, 65534);
          g_assert_cmpuint (cbox_host_get_gid (host), ==, 65534);
          g_assert_cmpuint (cbox_host_get_caller_uid (host), ==, 0);
          /* The same process once it is not root any more (this is a
           * subprocess of its own): SUDO_UID=0 must not make it root's. */
          g_clear_pointer (&host, cbox_host_unref);
          g_assert_cmpint (setgroups (0, NULL), ==, 0);
          g_assert_cmpint (setresgid (65534, 65534, 65534), ==, 0);
          g_assert_cmpint (setresuid (65534, 65534, 65534), ==, 0);
          g_setenv ("SUDO_UID", "0", TRUE);
          g_setenv ("SUDO_GID", "0", TRUE);
          g_setenv ("PKEXEC_UID", "0", TRUE);
          host = cbox_host_new_from_system (&error);
          g_assert_no_error (error);
          g_assert_cmpuint (cbox_host_get_uid (host), ==, 65534);
          g_assert_cmpuint (cbox_host_get_gid (host), ==, 65534);
          g_assert_cmpuint (cbox_host_get_caller_uid (host), ==, 65534);
        }
      else
        g_assert_cmpuint (cbox_host_get_uid (host), ==, getuid ());
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* ---- base plan ------------------------------------------------------------ */

static CboxHost *
make_fake_host (const char *root, gboolean merged_usr)
{
  CboxHost *host = cbox_host_new ();
  g_autofree char *usr = g_build_filename (root, "usr", "bin", NULL);
  g_autofree char *bin = g_build_filename (root, "bin", NULL);
  g_autofree char *lib = g_build_filename (root, "lib", NULL);
  const char *const env[] = { "PATH=/usr/bin:/bin", "TERM=xterm", "CBOX_SECRET=x", NULL };

  g_assert_cmpint (g_mkdir_with_parents (usr, 0755), ==, 0);
  if (merged_usr)
    {
      g_assert_cmpint (symlink ("usr/bin", bin), ==, 0);
      g_assert_cmpint (symlink ("usr/lib", lib), ==, 0);
    }
  else
    {
      g_assert_cmpint (g_mkdir_with_parents (bin, 0755), ==, 0);
    }
  cbox_host_set_root (host, root);
  cbox_host_set_environ (host, env);
  cbox_host_set_user (host, 1000, 100, "alice", "/home/alice", "/bin/bash");
  return host;
}

static void
test_base_plan_merged_usr (void)
{
  g_autofree char *root = cbox_test_make_dir ("root");
  g_autoptr (CboxHost) host = make_fake_host (root, TRUE);
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *usr = g_build_filename (root, "usr", NULL);
  g_autofree char *passwd = NULL;
  g_auto (GStrv) env = NULL;
  const CboxMount *mount;
  const char *const expected_env[] = { "HOME=/home/alice",
                                       "LOGNAME=alice",
                                       "PATH=/usr/bin:/bin",
                                       "SHELL=/bin/bash",
                                       "TERM=xterm",
                                       "USER=alice",
                                       "XDG_RUNTIME_DIR=/run/user/1000",
                                       NULL };

  g_assert_true (cbox_base_plan_fill_system (plan, host, NULL, &error));
  g_assert_no_error (error);

  mount = cbox_plan_find_mount (plan, "/usr");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpstr (mount->src, ==, usr);
  mount = cbox_plan_find_mount (plan, "/bin");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_SYMLINK);
  g_assert_cmpstr (mount->src, ==, "usr/bin");
  g_assert_nonnull (cbox_plan_find_mount (plan, "/lib"));
  g_assert_null (cbox_plan_find_mount (plan, "/lib64"));
  mount = cbox_plan_find_mount (plan, "/home/alice");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_TMPFS);
  g_assert_nonnull (cbox_plan_find_mount (plan, "/home/alice/.config"));
  mount = cbox_plan_find_mount (plan, "/run/user/1000");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DIR);
  g_assert_cmpuint (mount->mode, ==, 0700);

  mount = cbox_plan_find_mount (plan, "/etc/passwd");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DATA);
  passwd = read_fd (mount->fd);
  g_assert_nonnull (strstr (passwd, "alice:x:1000:100::/home/alice:/bin/bash\n"));

  /* Nothing of the host environment but what the base plan names. */
  env = cbox_plan_get_environ (plan);
  g_assert_cmpstrv (env, expected_env);
}

/* The whole of /etc/passwd and /etc/group: root, the user, nobody; no
 * other account of the host. */
static void
test_base_plan_identity_files (void)
{
  g_autofree char *root = cbox_test_make_dir ("root");
  g_autoptr (CboxHost) host = make_fake_host (root, TRUE);
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (CboxPlan) root_plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *passwd = NULL;
  g_autofree char *group = NULL;

  g_assert_true (cbox_base_plan_fill_system (plan, host, NULL, &error));
  g_assert_no_error (error);
  passwd = read_fd (cbox_plan_find_mount (plan, "/etc/passwd")->fd);
  group = read_fd (cbox_plan_find_mount (plan, "/etc/group")->fd);
  g_assert_cmpstr (passwd, ==,
                   "root:x:0:0:root:/root:/bin/sh\n"
                   "alice:x:1000:100::/home/alice:/bin/bash\n"
                   "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  g_assert_cmpstr (group, ==, "root:x:0:\nalice:x:100:alice\nnogroup:x:65534:\n");
  g_clear_pointer (&passwd, g_free);
  g_clear_pointer (&group, g_free);

  /* Root once, not twice. */
  cbox_host_set_user (host, 0, 0, "root", "/root", "/bin/sh");
  g_assert_true (cbox_base_plan_fill_system (root_plan, host, NULL, &error));
  g_assert_no_error (error);
  passwd = read_fd (cbox_plan_find_mount (root_plan, "/etc/passwd")->fd);
  group = read_fd (cbox_plan_find_mount (root_plan, "/etc/group")->fd);
  g_assert_cmpstr (passwd, ==,
                   "root:x:0:0::/root:/bin/sh\n"
                   "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  g_assert_cmpstr (group, ==, "root:x:0:\nnogroup:x:65534:\n");
  g_assert_cmpstr (cbox_plan_get_runtime_dir (root_plan), ==, "/run/user/0");
}

/* A home written "/home/alice/" (it happens in password databases) is
 * one spelling everywhere: HOME, the plan's home, the private tmpfs. */
static void
test_base_plan_home_spelling (void)
{
  g_autofree char *root = cbox_test_make_dir ("root");
  g_autoptr (CboxHost) host = make_fake_host (root, TRUE);
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;

  cbox_host_set_user (host, 1000, 100, "alice", "/home//alice/", "/bin/sh");
  g_assert_cmpstr (cbox_host_get_home_dir (host), ==, "/home/alice");
  g_assert_true (cbox_base_plan_fill_system (plan, host, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (cbox_plan_get_env (plan, "HOME"), ==, "/home/alice");
  g_assert_cmpstr (cbox_plan_get_home_dir (plan), ==, "/home/alice");
  g_assert_nonnull (cbox_plan_find_mount (plan, "/home/alice"));
}

/* [cbox] usr=DIR replaces the host's /usr; a DIR that is not a directory is
 * a configuration error naming the key. */
static void
test_base_plan_usr_config (void)
{
  g_autofree char *root = cbox_test_make_dir ("root");
  g_autoptr (CboxHost) host = make_fake_host (root, TRUE);
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (CboxPlan) bad_plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *other = g_build_filename (root, "opt", "usr", NULL);
  const CboxMount *mount;

  g_assert_cmpint (g_mkdir_with_parents (other, 0755), ==, 0);
  g_assert_true (cbox_base_plan_fill_system (plan, host, "/opt/usr", &error));
  g_assert_no_error (error);
  mount = cbox_plan_find_mount (plan, "/usr");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpstr (mount->src, ==, other);

  g_assert_false (cbox_base_plan_fill_system (bad_plan, host, "/opt/missing", &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "/opt/missing"));
  g_assert_nonnull (strstr (error->message, "'usr'"));
}

/* NixOS: the store and the current system instead of /usr. */
static void
test_base_plan_nixos (void)
{
  g_autofree char *root = cbox_test_make_dir ("nixos root");
  g_autoptr (CboxHost) host = make_fake_host (root, TRUE);
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *store = g_build_filename (root, "nix", "store", NULL);
  const CboxMount *mount;

  g_assert_cmpint (g_mkdir_with_parents (store, 0755), ==, 0);
  cbox_test_write_file (root, "etc/NIXOS", "");
  g_assert_true (cbox_base_plan_fill_system (plan, host, NULL, &error));
  g_assert_no_error (error);
  mount = cbox_plan_find_mount (plan, "/nix/store");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpstr (mount->src, ==, store);
  g_assert_nonnull (cbox_plan_find_mount (plan, "/run/current-system/sw"));
  g_assert_null (cbox_plan_find_mount (plan, "/usr"));
  mount = cbox_plan_find_mount (plan, "/bin");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_SYMLINK);
  g_assert_cmpstr (mount->src, ==, "/run/current-system/sw/bin");
}

static void
test_base_plan_split_usr (void)
{
  g_autofree char *root = cbox_test_make_dir ("split root");
  g_autoptr (CboxHost) host = make_fake_host (root, FALSE);
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *bin = g_build_filename (root, "bin", NULL);
  const CboxMount *mount;

  g_assert_true (cbox_base_plan_fill_system (plan, host, NULL, &error));
  mount = cbox_plan_find_mount (plan, "/bin");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpstr (mount->src, ==, bin);
}

static void
test_base_plan_bad_identity (void)
{
  g_autofree char *root = cbox_test_make_dir ("root");
  g_autoptr (CboxHost) host = make_fake_host (root, TRUE);
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;

  cbox_host_set_user (host, 1000, 100, "al:ice", "/home/alice", "/bin/sh");
  g_assert_false (cbox_base_plan_fill_system (plan, host, NULL, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_FAILED);
  g_clear_error (&error);

  cbox_host_set_user (host, 1000, 100, "alice", "/", "/bin/sh");
  g_assert_false (cbox_base_plan_fill_system (plan, host, NULL, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_FAILED);
}

static void
test_base_plan_project (void)
{
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = cbox_test_make_dir ("my project\nwith 'odd' \xff name");
  g_autofree char *link = g_strconcat (dir, "-link", NULL);
  g_autofree char *file = g_build_filename (dir, "file", NULL);
  const CboxMount *mount;

  g_assert_cmpint (symlink (dir, link), ==, 0);
  g_assert_true (cbox_base_plan_add_project (plan, host, link, &error));
  g_assert_no_error (error);
  /* Bound at its real path, not the symlink's. */
  mount = cbox_plan_find_mount (plan, dir);
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RW);
  g_assert_cmpstr (mount->src, ==, dir);
  g_assert_cmpstr (cbox_plan_get_cwd (plan), ==, dir);
  g_unlink (link);

  g_assert_true (g_file_set_contents (file, "", 0, NULL));
  g_assert_false (cbox_base_plan_add_project (plan, host, file, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR);
  g_clear_error (&error);
  g_assert_false (cbox_base_plan_add_project (plan, host, "/nonexistent/project", &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_nonnull (strstr (error->message, "/nonexistent/project"));
  g_clear_error (&error);
  g_assert_false (cbox_base_plan_add_project (plan, host, "/", &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
}

/* The host's /etc, read-only, with the generated files over it and the
 * secrets hidden: root-only top-level entries by their mode, the listed
 * ones wherever they are and whatever their mode. */
static void
test_base_plan_etc_policy (void)
{
  g_autofree char *root = cbox_test_make_dir ("root");
  g_autoptr (CboxHost) host = make_fake_host (root, TRUE);
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *etc = g_build_filename (root, "etc", NULL);
  g_autofree char *sudoers_d = g_build_filename (root, "etc", "sudoers.d", NULL);
  g_autofree char *private_dir = g_build_filename (root, "etc", "ssl", "private", NULL);
  g_autofree char *alternatives = g_build_filename (root, "etc", "alternatives", NULL);
  g_autofree char *awk = g_build_filename (alternatives, "awk", NULL);
  const CboxMount *mount;

  cbox_test_write_file (root, "etc/passwd", "root:x:0:0::/root:/bin/sh\nbob:x:1001:1001::/:/\n");
  cbox_test_write_file (root, "etc/group", "root:x:0:\n");
  cbox_test_write_file_mode (root, "etc/shadow", "root:$6$secret:1::::::\n", 0755, 0640);
  cbox_test_write_file_mode (root, "etc/sudoers.d/admins", "bob ALL=(ALL) ALL\n", 0755, 0440);
  g_assert_cmpint (g_chmod (sudoers_d, 0750), ==, 0);
  cbox_test_write_file_mode (root, "etc/ssl/private/server.key", "KEY", 0755, 0600);
  g_assert_cmpint (g_chmod (private_dir, 0710), ==, 0);
  cbox_test_write_file (root, "etc/ssl/certs/ca.pem", "CERT");
  cbox_test_write_file_mode (root, "etc/ssh/ssh_host_ed25519_key", "KEY", 0755, 0600);
  cbox_test_write_file (root, "etc/ssh/ssh_host_ed25519_key.pub", "PUB");
  /* World-readable, still secret. */
  cbox_test_write_file (root, "etc/pip.conf", "[global]\nindex-url = https://u:token@x/\n");
  cbox_test_write_file (root, "etc/nixos/configuration.nix", "hashedPassword = \"$6$x\";\n");
  cbox_test_write_file (root, "etc/NetworkManager/system-connections/wifi", "psk=secret\n");
  /* Public, and needed: Debian's /usr/bin links go through it. */
  g_assert_cmpint (g_mkdir_with_parents (alternatives, 0755), ==, 0);
  g_assert_cmpint (symlink ("/usr/bin/mawk", awk), ==, 0);

  /* Root-only and named nowhere: hidden by its mode, for root. */
  cbox_test_write_file_mode (root, "etc/site-secret", "token\n", 0755, 0600);
  {
    g_autoptr (CboxPlan) root_plan = cbox_plan_new ();
    g_autoptr (CboxPlan) user_plan = cbox_plan_new ();

    cbox_host_set_user (host, 0, 0, "root", "/root", "/bin/sh");
    g_assert_true (cbox_base_plan_fill_system (root_plan, host, NULL, &error));
    g_assert_no_error (error);
    g_assert_cmpstr (cbox_plan_find_mount (root_plan, "/etc/site-secret")->src, ==, "/dev/null");
    /* Another user cannot read it inside either: no scan, no item. */
    cbox_host_set_user (host, 1000, 100, "alice", "/home/alice", "/bin/bash");
    g_assert_true (cbox_base_plan_fill_system (user_plan, host, NULL, &error));
    g_assert_no_error (error);
    g_assert_null (cbox_plan_find_mount (user_plan, "/etc/site-secret"));
  }
  cbox_host_set_user (host, 0, 0, "root", "/root", "/bin/sh");

  g_assert_true (cbox_base_plan_fill_system (plan, host, NULL, &error));
  g_assert_no_error (error);

  mount = cbox_plan_find_mount (plan, "/etc");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpstr (mount->src, ==, etc);
  /* Root-only at the top: hidden by its mode. */
  mount = cbox_plan_find_mount (plan, "/etc/shadow");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpstr (mount->src, ==, "/dev/null");
  mount = cbox_plan_find_mount (plan, "/etc/sudoers.d");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_TMPFS);
  /* Listed, deeper or readable by all. */
  g_assert_cmpint (cbox_plan_find_mount (plan, "/etc/ssl/private")->kind, ==, CBOX_MOUNT_TMPFS);
  g_assert_cmpstr (cbox_plan_find_mount (plan, "/etc/ssh/ssh_host_ed25519_key")->src, ==,
                   "/dev/null");
  g_assert_cmpstr (cbox_plan_find_mount (plan, "/etc/pip.conf")->src, ==, "/dev/null");
  g_assert_cmpint (cbox_plan_find_mount (plan, "/etc/nixos")->kind, ==, CBOX_MOUNT_TMPFS);
  g_assert_cmpint (cbox_plan_find_mount (plan, "/etc/NetworkManager/system-connections")->kind, ==,
                   CBOX_MOUNT_TMPFS);
  /* Public entries come through /etc itself, unchanged. */
  g_assert_null (cbox_plan_find_mount (plan, "/etc/alternatives"));
  g_assert_null (cbox_plan_find_mount (plan, "/etc/ssl/certs"));
  g_assert_null (cbox_plan_find_mount (plan, "/etc/ssh/ssh_host_ed25519_key.pub"));
  g_assert_null (cbox_plan_find_mount (plan, "/etc/ssh"));
  /* The generated files go over the host's, after /etc. */
  g_assert_cmpint (cbox_plan_find_mount (plan, "/etc/passwd")->kind, ==, CBOX_MOUNT_DATA);
  g_assert_cmpint (cbox_plan_find_mount (plan, "/etc/group")->kind, ==, CBOX_MOUNT_DATA);
  {
    guint etc_index = G_MAXUINT, passwd_index = G_MAXUINT;
    for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
      {
        const char *dest = cbox_plan_get_mount (plan, i)->dest;
        if (g_str_equal (dest, "/etc"))
          etc_index = i;
        else if (g_str_equal (dest, "/etc/passwd"))
          passwd_index = i;
      }
    g_assert_cmpuint (etc_index, <, passwd_index);
  }
}

/* A generated file needs a host file to go over (nothing can be made in
 * the read-only /etc): without one it is left out, with a note. Without
 * a host /etc at all, /etc is a folder of cbox's with its files. */
static void
test_base_plan_etc_missing (void)
{
  g_autofree char *root = cbox_test_make_dir ("root");
  g_autofree char *bare = cbox_test_make_dir ("bare");
  g_autoptr (CboxHost) host = make_fake_host (root, TRUE);
  g_autoptr (CboxHost) bare_host = make_fake_host (bare, TRUE);
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (CboxPlan) bare_plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  gboolean noted = FALSE;

  cbox_test_write_file (root, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  g_assert_true (cbox_base_plan_fill_system (plan, host, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cbox_plan_find_mount (plan, "/etc/passwd")->kind, ==, CBOX_MOUNT_DATA);
  g_assert_null (cbox_plan_find_mount (plan, "/etc/group"));
  for (guint i = 0; i < cbox_plan_get_n_notes (plan); i++)
    noted = noted || strstr (cbox_plan_get_note (plan, i, NULL), "/etc/group") != NULL;
  g_assert_true (noted);

  g_assert_true (cbox_base_plan_fill_system (bare_plan, bare_host, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cbox_plan_find_mount (bare_plan, "/etc")->kind, ==, CBOX_MOUNT_DIR);
  g_assert_cmpint (cbox_plan_find_mount (bare_plan, "/etc/passwd")->kind, ==, CBOX_MOUNT_DATA);
  g_assert_cmpint (cbox_plan_find_mount (bare_plan, "/etc/group")->kind, ==, CBOX_MOUNT_DATA);
}

static char *
machine_id_of (CboxHost *host, const char *project, uid_t uid)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  const CboxMount *mount;

  cbox_host_set_user (host, uid, uid, "alice", "/home/alice", "/bin/sh");
  g_assert_true (cbox_base_plan_fill_system (plan, host, NULL, &error));
  g_assert_true (cbox_base_plan_add_project (plan, host, project, &error));
  g_assert_no_error (error);
  mount = cbox_plan_find_mount (plan, "/etc/machine-id");
  if (mount == NULL)
    return NULL;
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DATA);
  return read_fd (mount->fd);
}

/* /etc/machine-id: the project's own, stable from run to run, different
 * for another project or user, never the host's. */
static void
test_base_plan_machine_id (void)
{
  static const char host_id[] = "0123456789abcdef0123456789abcdef\n";
  g_autofree char *root = cbox_test_make_dir ("root");
  g_autofree char *none = cbox_test_make_dir ("no-machine-id");
  g_autofree char *one = cbox_test_make_dir ("project-one");
  g_autofree char *two = cbox_test_make_dir ("project-two");
  g_autofree char *id = NULL;
  g_autofree char *again = NULL;
  g_autofree char *other = NULL;
  g_autofree char *other_user = NULL;
  g_autofree char *missing = NULL;
  g_autoptr (CboxHost) host = NULL;
  g_autoptr (CboxHost) none_host = NULL;

  cbox_test_write_file (root, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  cbox_test_write_file (root, "etc/group", "root:x:0:\n");
  cbox_test_write_file (root, "etc/machine-id", host_id);
  cbox_test_write_file (none, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  host = make_fake_host (root, TRUE);
  none_host = make_fake_host (none, TRUE);

  id = machine_id_of (host, one, 1000);
  g_assert_nonnull (id);
  g_assert_cmpuint (strlen (id), ==, 33);
  g_assert_cmpint (id[32], ==, '\n');
  for (guint i = 0; i < 32; i++)
    g_assert_true (g_ascii_isxdigit (id[i]) && !g_ascii_isupper (id[i]));
  g_assert_cmpint (id[12], ==, '4'); /* a version 4 UUID */
  g_assert_cmpstr (id, !=, host_id);
  again = machine_id_of (host, one, 1000);
  g_assert_cmpstr (again, ==, id);
  other = machine_id_of (host, two, 1000);
  g_assert_cmpstr (other, !=, id);
  other_user = machine_id_of (host, one, 1001);
  g_assert_cmpstr (other_user, !=, id);
  /* No host file to go over: none inside. */
  missing = machine_id_of (none_host, one, 1000);
  g_assert_null (missing);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/plan/env/starts-empty", test_plan_env_starts_empty);
  g_test_add_func ("/plan/env/set-unset-sorted", test_plan_env_set_unset_sorted);
  g_test_add_func ("/plan/mounts/order-and-origin", test_plan_mounts_order_and_origin);
  g_test_add_func ("/plan/mounts/dest-must-be-normalized", test_plan_dest_must_be_normalized);
  g_test_add_func ("/plan/data/sealed-memfd", test_plan_data_is_sealed_memfd);
  g_test_add_func ("/plan/data/copy", test_plan_copy);
  g_test_add_func ("/plan/data/copy-mode-and-size", test_plan_copy_mode_and_size);
  g_test_add_func ("/plan/cleanups/lifo-once", test_plan_cleanups_lifo_once);
  g_test_add_func ("/plan/fds/closed-on-free", test_plan_fds_closed_on_free);
  g_test_add_func ("/plan/run-dir/make-sweep-remove", test_plan_run_dir);
  g_test_add_func ("/run/kill-tree", test_run_kill_tree);
  g_test_add_func ("/plan/forwarders-and-skipped", test_plan_forwarders_and_skipped);
  g_test_add_func ("/launch/shell-string", test_launch_shell_string);
  g_test_add_func ("/host/resolve-and-expand", test_host_resolve_and_expand);
  g_test_add_func ("/host/getenv-nonempty", test_host_getenv_nonempty);
  g_test_add_func ("/host/read-file", test_host_read_file);
  g_test_add_func ("/host/is-socket", test_host_is_socket);
  g_test_add_func ("/host/from-system-under-sudo", test_host_from_system_under_sudo);
  g_test_add_func ("/base/merged-usr", test_base_plan_merged_usr);
  g_test_add_func ("/base/identity-files", test_base_plan_identity_files);
  g_test_add_func ("/base/home-spelling", test_base_plan_home_spelling);
  g_test_add_func ("/base/usr-config", test_base_plan_usr_config);
  g_test_add_func ("/base/nixos", test_base_plan_nixos);
  g_test_add_func ("/base/split-usr", test_base_plan_split_usr);
  g_test_add_func ("/base/bad-identity", test_base_plan_bad_identity);
  g_test_add_func ("/base/project", test_base_plan_project);
  g_test_add_func ("/base/etc/policy", test_base_plan_etc_policy);
  g_test_add_func ("/base/etc/missing", test_base_plan_etc_missing);
  g_test_add_func ("/base/etc/machine-id", test_base_plan_machine_id);
  return g_test_run ();
}

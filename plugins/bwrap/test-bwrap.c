/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the bwrap backend: the argv realize() makes from a plan,
 * the probe's verdicts, the small parsers. No sandbox runs here (see
 * test-bwrap-integration.c). */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <sys/mman.h>
#include <sys/stat.h>

#include "cbox-bwrap-private.h"
#include "cbox-private.h"

extern const CboxPluginDesc *cbox_plugin_describe (void);

typedef struct
{
  CboxHost *host;
  GKeyFile *config;
  CboxContext *ctx;
  CboxPlan *plan;
  CboxLaunch *launch;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autofree char *bwrap = g_find_program_in_path ("bwrap");

  fx->host = cbox_host_new ();
  cbox_host_set_user (fx->host, getuid (), getgid (), "user", "/home/user", "/bin/sh");
  fx->config = g_key_file_new ();
  /* The bwrap of this machine, or a stand-in: realize only names it. */
  if (bwrap == NULL)
    g_key_file_set_string (fx->config, "bwrap", "path", "/bin/true");
  fx->ctx = cbox_context_new (fx->host, fx->config, "bwrap");
  cbox_context_set_libexec_dir (fx->ctx, g_getenv ("CBOX_LIBEXEC_DIR"));
  fx->plan = cbox_plan_new ();
  cbox_plan_set_user (fx->plan, getuid (), getgid (), "user", "/home/user");
  cbox_plan_set_command (fx->plan, (const char *const[]){ "echo", "a b", NULL });
  fx->launch = cbox_launch_new ();
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  cbox_launch_free (fx->launch);
  cbox_plan_free (fx->plan);
  cbox_context_free (fx->ctx);
  g_key_file_unref (fx->config);
  cbox_host_unref (fx->host);
}

/* Index of the sequence @first, ... (NULL-terminated) in the argv, or -1. */
static int
find_seq (CboxLaunch *launch, const char *first, ...)
{
  const char *const *argv = cbox_launch_get_argv (launch);
  g_autoptr (GPtrArray) want = g_ptr_array_new ();
  va_list ap;

  va_start (ap, first);
  for (const char *s = first; s != NULL; s = va_arg (ap, const char *))
    g_ptr_array_add (want, (gpointer)s);
  va_end (ap);
  for (int i = 0; argv[i] != NULL; i++)
    {
      guint k;
      for (k = 0; k < want->len && argv[i + k] != NULL; k++)
        if (g_strcmp0 (want->pdata[k], "*") != 0 && strcmp (want->pdata[k], argv[i + k]) != 0)
          break;
      if (k == want->len)
        return i;
    }
  return -1;
}

static void
test_realize_plan_order (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  const char *const *argv;
  int prev = -1;
  int idx[10];
  guint n;

  cbox_plan_add_tmpfs (fx->plan, "/tmp", 01777);
  cbox_plan_add_bind_ro (fx->plan, "/usr", "/usr", CBOX_MOUNT_FLAG_NONE);
  cbox_plan_add_symlink (fx->plan, "usr/bin", "/bin");
  cbox_plan_add_dir (fx->plan, "/etc", 0755);
  g_assert_true (
      cbox_plan_add_data (fx->plan, "/etc/passwd", "x", 1, 0644, CBOX_MOUNT_FLAG_NONE, &error));
  g_assert_true (cbox_plan_add_data (fx->plan, "/home/user/.seed", "y", 1, 0600,
                                     CBOX_MOUNT_FLAG_WRITABLE, &error));
  cbox_plan_add_bind_socket (fx->plan, "/run/user/1/bus", "/run/user/1/bus", CBOX_MOUNT_FLAG_NONE);
  cbox_plan_add_bind_dev (fx->plan, "/dev/dri", "/dev/dri", CBOX_MOUNT_FLAG_ALLOW_MISSING);
  cbox_plan_add_bind_rw (fx->plan, "/srv/p", "/srv/p", CBOX_MOUNT_FLAG_NONE);
  cbox_plan_add_bind_ro (fx->plan, "/opt/maybe", "/opt/maybe", CBOX_MOUNT_FLAG_ALLOW_MISSING);
  cbox_plan_set_env (fx->plan, "HOME", "/home/user");
  cbox_plan_set_cwd (fx->plan, "/srv/p");
  cbox_plan_set_network (fx->plan, FALSE);
  g_assert_no_error (error);

  g_assert_true (cbox_bwrap_realize (fx->ctx, fx->plan, fx->launch, &error));
  g_assert_no_error (error);

  idx[0] = find_seq (fx->launch, "--perms", "1777", "--tmpfs", "/tmp", NULL);
  idx[1] = find_seq (fx->launch, "--ro-bind", "/usr", "/usr", NULL);
  idx[2] = find_seq (fx->launch, "--symlink", "usr/bin", "/bin", NULL);
  idx[3] = find_seq (fx->launch, "--perms", "0755", "--dir", "/etc", NULL);
  idx[4] = find_seq (fx->launch, "--perms", "0644", "--ro-bind-data", "*", "/etc/passwd", NULL);
  idx[5] = find_seq (fx->launch, "--perms", "0600", "--file", "*", "/home/user/.seed", NULL);
  idx[6] = find_seq (fx->launch, "--bind", "/run/user/1/bus", "/run/user/1/bus", NULL);
  idx[7] = find_seq (fx->launch, "--dev-bind-try", "/dev/dri", "/dev/dri", NULL);
  idx[8] = find_seq (fx->launch, "--bind", "/srv/p", "/srv/p", NULL);
  idx[9] = find_seq (fx->launch, "--ro-bind-try", "/opt/maybe", "/opt/maybe", NULL);
  /* In plan order, after bwrap's own /proc and /dev. */
  prev = find_seq (fx->launch, "--proc", "/proc", "--dev", "/dev", NULL);
  g_assert_cmpint (prev, >, 0);
  for (guint i = 0; i < G_N_ELEMENTS (idx); i++)
    {
      g_assert_cmpint (idx[i], >, prev);
      prev = idx[i];
    }

  g_assert_cmpint (find_seq (fx->launch, "--unshare-net", NULL), >, 0);
  g_assert_cmpint (find_seq (fx->launch, "--unshare-user", "--unshare-pid", "--unshare-ipc",
                             "--unshare-uts", "--unshare-cgroup-try", NULL),
                   >, 0);
  g_assert_cmpint (find_seq (fx->launch, "--die-with-parent", "--as-pid-1", NULL), >, 0);
  g_assert_cmpint (find_seq (fx->launch, "--disable-userns", "--assert-userns-disabled", NULL), >,
                   0);
  /* No filter of bwrap's own: cbox-exec loads cbox's; no capability,
   * whoever runs bwrap (root would keep them for uid 0 inside). */
  g_assert_cmpint (find_seq (fx->launch, "--seccomp", NULL), ==, -1);
  g_assert_cmpint (find_seq (fx->launch, "--cap-drop", "ALL", NULL), >, 0);
  g_assert_cmpint (find_seq (fx->launch, "--new-session", NULL), ==, -1);
  g_assert_cmpint (find_seq (fx->launch, "--clearenv", NULL), >, 0);
  g_assert_cmpint (find_seq (fx->launch, "--setenv", "HOME", "/home/user", NULL), >,
                   find_seq (fx->launch, "--clearenv", NULL));
  g_assert_cmpint (find_seq (fx->launch, "--chdir", "/srv/p", NULL), >, 0);

  /* The command last, behind cbox-exec, word for word. */
  argv = cbox_launch_get_argv (fx->launch);
  n = g_strv_length ((char **)argv);
  g_assert_cmpstr (argv[n - 1], ==, "a b");
  g_assert_cmpstr (argv[n - 2], ==, "echo");
  g_assert_cmpstr (argv[n - 3], ==, "--");
  /* The network is not the host's: abstract sockets scoped (Landlock). */
  g_assert_cmpstr (argv[n - 4], ==, "--scope-abstract");
  g_assert_cmpstr (argv[n - 5], ==, "--init");
  g_assert_cmpstr (argv[n - 6], ==, "/run/cbox-exec");
  g_assert_cmpint (find_seq (fx->launch, "--allow-userns", NULL), ==, -1);
  /* bwrap itself gets only the plan's environment. */
  g_assert_cmpstr (cbox_launch_get_environ (fx->launch)[0], ==, "HOME=/home/user");
  g_assert_null (cbox_launch_get_environ (fx->launch)[1]);
}

/* On (the default) is a network namespace of the sandbox's own: bwrap
 * unshares it, and the helper attaches to it at run time. */
static void
test_realize_network_on (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  cbox_plan_set_network (fx->plan, TRUE);
  g_assert_cmpint (cbox_plan_get_network_mode (fx->plan), ==, CBOX_NETWORK_OWN);
  g_assert_true (cbox_bwrap_realize (fx->ctx, fx->plan, fx->launch, &error));
  g_assert_no_error (error);
  g_assert_cmpint (find_seq (fx->launch, "--unshare-net", NULL), >=, 0);
}

/* Only --network=host shares the host's network namespace. */
static void
test_realize_network_host (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  cbox_plan_set_network_mode (fx->plan, CBOX_NETWORK_HOST);
  g_assert_true (cbox_bwrap_realize (fx->ctx, fx->plan, fx->launch, &error));
  g_assert_no_error (error);
  g_assert_cmpint (find_seq (fx->launch, "--unshare-net", NULL), ==, -1);
}

static void
test_realize_allow_userns (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  g_key_file_set_boolean (fx->config, "bwrap", "allow-userns", TRUE);
  /* Root's command gets none (/bwrap/realize/allow-userns-root). */
  if (getuid () == 0)
    cbox_plan_set_user (fx->plan, 1000, 1000, "user", "/home/user");
  g_assert_true (cbox_bwrap_realize (fx->ctx, fx->plan, fx->launch, &error));
  g_assert_no_error (error);
  g_assert_cmpint (find_seq (fx->launch, "--disable-userns", NULL), ==, -1);
  /* cbox-exec loads the filter's variant that allows them. */
  g_assert_cmpint (find_seq (fx->launch, "/run/cbox-exec", "--init", "--allow-userns",
                             "--scope-abstract", "--", NULL),
                   >, 0);
}

/* The plan's setting ([cbox] allow-userns, from a profile) is what counts. */
static void
test_realize_plan_allow_userns (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  cbox_plan_set_allow_userns (fx->plan, TRUE);
  if (getuid () == 0)
    cbox_plan_set_user (fx->plan, 1000, 1000, "user", "/home/user");
  g_assert_true (cbox_bwrap_realize (fx->ctx, fx->plan, fx->launch, &error));
  g_assert_no_error (error);
  g_assert_cmpint (find_seq (fx->launch, "--disable-userns", NULL), ==, -1);
  g_assert_cmpint (find_seq (fx->launch, "/run/cbox-exec", "--init", "--allow-userns",
                             "--scope-abstract", "--", NULL),
                   >, 0);
  /* No covers over /proc, so a nested sandbox can mount its own. */
  g_assert_cmpint (find_seq (fx->launch, "--ro-bind", "/proc/sys", "/proc/sys", NULL), ==, -1);
}

/* A command that is the host's root gets no new user namespace even with
 * allow-userns (it would keep the host's uid 0 for sysctl writes in one),
 * and keeps the covers over /proc. */
static void
test_realize_allow_userns_root (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  if (getuid () != 0)
    {
      g_test_skip ("only root runs a command as the host's root");
      return;
    }
  cbox_plan_set_allow_userns (fx->plan, TRUE);
  cbox_plan_set_user (fx->plan, 0, 0, "root", "/root");
  g_assert_true (cbox_bwrap_realize (fx->ctx, fx->plan, fx->launch, &error));
  g_assert_no_error (error);
  g_assert_cmpint (find_seq (fx->launch, "/run/cbox-exec", "--init", "--allow-userns", NULL), ==,
                   -1);
  g_assert_cmpint (find_seq (fx->launch, "--ro-bind", "/proc/sys", "/proc/sys", NULL), >, 0);
  /* The plan says so (`cbox plan` names no exception, the registry
   * records the filter loaded). */
  g_assert_false (cbox_plan_get_allow_userns (fx->plan));
  if (find_seq (fx->launch, "--disable-userns", NULL) < 0)
    g_assert_cmpint (find_seq (fx->launch, "/run/cbox-exec", "--init", "--", NULL), >, 0);
}

static void
test_realize_bad_config (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  g_key_file_set_string (fx->config, "bwrap", "allow-userns", "perhaps");
  g_assert_false (cbox_bwrap_realize (fx->ctx, fx->plan, fx->launch, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "allow-userns"));
}

static void
test_probe_missing (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (GError) error = NULL;

  g_key_file_set_string (fx->config, "bwrap", "path", "/nonexistent/bwrap");
  g_assert_true (cbox_plugin_describe ()->backend->probe (fx->ctx, result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cbox_probe_result_get_status (result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "/nonexistent/bwrap"));
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "'path' in [bwrap]"));
}

static void
test_userns_problem (void)
{
  g_autofree char *root = g_dir_make_tmp ("cbox-bwrap-XXXXXX", NULL);
  g_autofree char *sys = g_build_filename (root, "proc", "sys", "user", NULL);
  g_autofree char *kernel = g_build_filename (root, "proc", "sys", "kernel", NULL);
  g_autofree char *max = g_build_filename (sys, "max_user_namespaces", NULL);
  g_autofree char *clone = g_build_filename (kernel, "unprivileged_userns_clone", NULL);
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autofree char *p1 = NULL, *p2 = NULL, *p3 = NULL, *p4 = NULL;

  g_assert_cmpint (g_mkdir_with_parents (sys, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (kernel, 0755), ==, 0);
  cbox_host_set_root (host, root);

  /* Nothing there (not Debian's sysctl): fine. */
  p1 = cbox_bwrap_userns_problem (host, 1000);
  g_assert_null (p1);
  g_assert_true (g_file_set_contents (clone, "0\n", -1, NULL));
  p2 = cbox_bwrap_userns_problem (host, 1000);
  g_assert_nonnull (p2);
  g_assert_nonnull (strstr (p2, "kernel.unprivileged_userns_clone=0"));
  /* root needs no unprivileged namespaces. */
  p3 = cbox_bwrap_userns_problem (host, 0);
  g_assert_null (p3);
  g_assert_true (g_file_set_contents (max, "0\n", -1, NULL));
  p4 = cbox_bwrap_userns_problem (host, 0);
  g_assert_nonnull (p4);
  g_assert_nonnull (strstr (p4, "user.max_user_namespaces=0"));

  g_unlink (max);
  g_unlink (clone);
  g_rmdir (sys);
  g_rmdir (kernel);
  g_autofree char *proc_sys = g_build_filename (root, "proc", "sys", NULL);
  g_autofree char *proc = g_build_filename (root, "proc", NULL);
  g_rmdir (proc_sys);
  g_rmdir (proc);
  g_rmdir (root);
}

static void
test_version (void)
{
  g_assert_true (cbox_bwrap_version_at_least ("0.8.0", 0, 8, 0));
  g_assert_true (cbox_bwrap_version_at_least ("0.10.0", 0, 8, 0));
  g_assert_true (cbox_bwrap_version_at_least ("1.0", 0, 8, 0));
  g_assert_false (cbox_bwrap_version_at_least ("0.7.99", 0, 8, 0));
  g_assert_false (cbox_bwrap_version_at_least ("0.6.2", 0, 8, 0));
  g_assert_false (cbox_bwrap_version_at_least (NULL, 0, 8, 0));
}

static void
test_version_from_binary (void)
{
  g_autofree char *path = g_find_program_in_path ("bwrap");
  g_autofree char *out = NULL;
  g_autofree char *found = NULL;
  g_autofree char *dir = g_dir_make_tmp ("cbox-bwrap-XXXXXX", NULL);
  g_autofree char *fake = g_build_filename (dir, "bwrap", NULL);
  g_autofree char *none = NULL;
  const char content[] = "\x7f"
                         "ELF junk\0bubblewrap \0bubblewrap 1.2.3\0more";

  /* A fake binary: the string as bwrap's own --version prints it. */
  g_assert_true (g_file_set_contents (fake, content, sizeof content, NULL));
  found = cbox_bwrap_version_from_binary (fake);
  g_assert_cmpstr (found, ==, "1.2.3");
  g_assert_true (g_file_set_contents (fake, "#!/bin/sh\nexec bwrap \"$@\"\n", -1, NULL));
  none = cbox_bwrap_version_from_binary (fake);
  g_assert_null (none);
  g_unlink (fake);
  /* A fifo named as the binary (`[bwrap] path`) is no version, at once:
   * opening it to read would wait for a writer that never comes. */
  g_assert_cmpint (mkfifo (fake, 0755), ==, 0);
  g_clear_pointer (&none, g_free);
  none = cbox_bwrap_version_from_binary (fake);
  g_assert_null (none);
  g_unlink (fake);
  g_rmdir (dir);

  /* The real one agrees with `bwrap --version`. */
  if (path != NULL)
    {
      g_autofree char *real = cbox_bwrap_version_from_binary (path);
      g_assert_true (g_spawn_command_line_sync ("bwrap --version", &out, NULL, NULL, NULL));
      g_assert_nonnull (real);
      g_assert_cmpstr (g_strstrip (out) + strlen ("bubblewrap "), ==, real);
    }
}

static void
test_status_parse (void)
{
  const char *status = "{ \"child-pid\": 4570, \"mnt-namespace\": 4026532178 }\n"
                       "{ \"exit-code\": 3 }\n";

  g_assert_cmpint (cbox_bwrap_status_get (status, "child-pid"), ==, 4570);
  g_assert_cmpint (cbox_bwrap_status_get (status, "exit-code"), ==, 3);
  g_assert_cmpint (cbox_bwrap_status_get ("{ \"child-pid\": 12 }", "exit-code"), ==, -1);
  g_assert_cmpint (cbox_bwrap_status_get ("", "child-pid"), ==, -1);
}

static void
test_args_blob (void)
{
  gsize len = 0;
  g_autofree char *blob
      = cbox_bwrap_args_blob ((const char *const[]){ "a", "", "b c", NULL }, &len);

  g_assert_cmpuint (len, ==, 7);
  g_assert_cmpmem (blob, len, "a\0\0b c\0", 7);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/bwrap/realize/plan-order", test_realize_plan_order);
  ADD ("/bwrap/realize/network-on", test_realize_network_on);
  ADD ("/bwrap/realize/network-host", test_realize_network_host);
  ADD ("/bwrap/realize/allow-userns", test_realize_allow_userns);
  ADD ("/bwrap/realize/plan-allow-userns", test_realize_plan_allow_userns);
  ADD ("/bwrap/realize/allow-userns-root", test_realize_allow_userns_root);
  ADD ("/bwrap/realize/bad-config", test_realize_bad_config);
  ADD ("/bwrap/probe/missing-bwrap", test_probe_missing);
  g_test_add_func ("/bwrap/probe/userns-problem", test_userns_problem);
  g_test_add_func ("/bwrap/version", test_version);
  g_test_add_func ("/bwrap/version-from-binary", test_version_from_binary);
  g_test_add_func ("/bwrap/json-status", test_status_parse);
  g_test_add_func ("/bwrap/args-blob", test_args_blob);
  return g_test_run ();
}

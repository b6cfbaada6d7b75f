/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the nspawn backend: what it decides for each plan item,
 * its escaping, its command line and its sudo re-exec. No root needed. */
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-private.h"
#include "cbox-nspawn-private.h"

const CboxPluginDesc *cbox_plugin_describe (void);

static void
test_escape (void)
{
  static const struct
  {
    const char *in, *out;
  } cases[] = {
    { "/plain", "/plain" },     { "/with space", "/with space" },
    { "/a:b", "/a\\:b" },       { "/back\\slash", "/back\\\\slash" },
    { "/x\\:y", "/x\\\\\\:y" }, { "/new\nline", "/new\nline" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *escaped = cbox_nspawn_escape_path (cases[i].in);
      g_assert_cmpstr (escaped, ==, cases[i].out);
    }
}

static const CboxNspawnOp *
find_op (CboxNspawnLayout *layout, const char *dest, CboxMountKind kind)
{
  for (guint i = 0; i < layout->ops->len; i++)
    {
      const CboxNspawnOp *op = &g_array_index (layout->ops, CboxNspawnOp, i);
      if (g_str_equal (op->mount->dest, dest) && op->mount->kind == kind)
        return op;
    }
  g_error ("no %s item at %s", cbox_mount_kind_to_string (kind), dest);
  return NULL;
}

static CboxPlan *
make_plan (const char *project)
{
  CboxPlan *plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;

  cbox_plan_set_user (plan, 1000, 1001, "user", "/home/user");
  cbox_plan_add_tmpfs (plan, "/tmp", 01777);
  cbox_plan_add_tmpfs (plan, "/run", 0755);
  cbox_plan_add_dir (plan, "/run/user", 0755);
  cbox_plan_add_dir (plan, "/run/user/1000", 0700);
  cbox_plan_add_bind_ro (plan, "/usr", "/usr", CBOX_MOUNT_FLAG_NONE);
  cbox_plan_add_symlink (plan, "usr/bin", "/bin");
  cbox_plan_add_dir (plan, "/etc", 0755);
  g_assert_true (
      cbox_plan_add_data (plan, "/etc/passwd", "x", 1, 0644, CBOX_MOUNT_FLAG_NONE, &error));
  cbox_plan_add_tmpfs (plan, "/home/user", 0700);
  cbox_plan_add_dir (plan, "/home/user/.config", 0755);
  g_assert_true (cbox_plan_add_data (plan, "/home/user/.Xauthority", "c", 1, 0600,
                                     CBOX_MOUNT_FLAG_NONE, &error));
  g_assert_true (cbox_plan_add_data (plan, "/home/user/.claude.json", "{}", 2, 0600,
                                     CBOX_MOUNT_FLAG_WRITABLE, &error));
  cbox_plan_add_bind_ro (plan, "/nonexistent/cbox-test", "/opt/missing",
                         CBOX_MOUNT_FLAG_ALLOW_MISSING);
  /* Covered by the later /srv bind. */
  cbox_plan_add_bind_ro (plan, "/usr/share", "/srv/share", CBOX_MOUNT_FLAG_NONE);
  cbox_plan_add_bind_rw (plan, project, "/srv", CBOX_MOUNT_FLAG_NONE);
  /* Inside a bind: staged, or left out. */
  g_assert_true (
      cbox_plan_add_data (plan, "/srv/generated", "g", 1, 0644, CBOX_MOUNT_FLAG_NONE, &error));
  cbox_plan_add_dir (plan, "/srv/subdir", 0755);
  cbox_plan_add_tmpfs (plan, "/srv/scratch", 0700);
  g_assert_no_error (error);
  return plan;
}

static void
test_layout (void)
{
  g_autoptr (CboxPlan) plan = make_plan ("/");
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxNspawnLayout) layout = NULL;
  const CboxNspawnOp *op;
  g_autofree char *host_path = NULL;

  layout = cbox_nspawn_layout_new (plan, "/run/cbox-test/state", "abc123", &error);
  g_assert_no_error (error);
  g_assert_nonnull (layout);
  g_assert_cmpstr (layout->machine, ==, "cbox-abc123");
  g_assert_cmpstr (layout->lock_path, ==, "/run/cbox-test/state/abc123.lock");
  g_assert_cmpstr (layout->root_dir, ==, "/run/cbox-test/state/abc123/fs/root");

  g_assert_cmpint (find_op (layout, "/tmp", CBOX_MOUNT_TMPFS)->op, ==, CBOX_NSPAWN_OP_MKDIR);
  g_assert_cmpint (find_op (layout, "/usr", CBOX_MOUNT_RO)->op, ==, CBOX_NSPAWN_OP_BIND_RO);
  g_assert_cmpint (find_op (layout, "/bin", CBOX_MOUNT_SYMLINK)->op, ==, CBOX_NSPAWN_OP_SYMLINK);
  op = find_op (layout, "/etc/passwd", CBOX_MOUNT_DATA);
  g_assert_cmpint (op->op, ==, CBOX_NSPAWN_OP_WRITE);
  g_assert_cmpuint (op->uid, ==, 0);

  /* The user's own: the home, its directories, the runtime directory. */
  op = find_op (layout, "/home/user", CBOX_MOUNT_TMPFS);
  g_assert_cmpint (op->op, ==, CBOX_NSPAWN_OP_MKDIR);
  g_assert_cmpuint (op->uid, ==, 1000);
  g_assert_cmpuint (op->gid, ==, 1001);
  g_assert_cmpuint (find_op (layout, "/home/user/.config", CBOX_MOUNT_DIR)->uid, ==, 1000);
  g_assert_cmpuint (find_op (layout, "/run/user/1000", CBOX_MOUNT_DIR)->uid, ==, 1000);
  g_assert_cmpuint (find_op (layout, "/run/user", CBOX_MOUNT_DIR)->uid, ==, 0);
  /* Read-only for the user although theirs; a writable copy is plain. */
  g_assert_cmpint (find_op (layout, "/home/user/.Xauthority", CBOX_MOUNT_DATA)->op, ==,
                   CBOX_NSPAWN_OP_WRITE_RO);
  g_assert_cmpint (find_op (layout, "/home/user/.claude.json", CBOX_MOUNT_DATA)->op, ==,
                   CBOX_NSPAWN_OP_WRITE);

  g_assert_cmpint (find_op (layout, "/opt/missing", CBOX_MOUNT_RO)->op, ==, CBOX_NSPAWN_OP_SKIP);
  g_assert_cmpint (find_op (layout, "/srv/share", CBOX_MOUNT_RO)->op, ==, CBOX_NSPAWN_OP_SKIP);
  g_assert_cmpint (find_op (layout, "/srv", CBOX_MOUNT_RW)->op, ==, CBOX_NSPAWN_OP_BIND);
  op = find_op (layout, "/srv/generated", CBOX_MOUNT_DATA);
  g_assert_cmpint (op->op, ==, CBOX_NSPAWN_OP_STAGE);
  g_assert_true (g_str_has_prefix (op->stage_path, layout->stage_dir));
  g_assert_cmpint (find_op (layout, "/srv/subdir", CBOX_MOUNT_DIR)->op, ==, CBOX_NSPAWN_OP_SKIP);
  g_assert_cmpint (find_op (layout, "/srv/scratch", CBOX_MOUNT_TMPFS)->op, ==,
                   CBOX_NSPAWN_OP_TMPFS);

  /* nspawn's own /run and /tmp: what the plan puts there is bound over. */
  g_assert_cmpuint (layout->rebind->len, ==, 2);
  g_assert_true (g_ptr_array_find_with_equal_func (layout->rebind, "/tmp", g_str_equal, NULL));
  g_assert_true (g_ptr_array_find_with_equal_func (layout->rebind, "/run/user", g_str_equal, NULL));
  host_path = cbox_nspawn_layout_host_path (layout, "/run/user/1000");
  g_assert_cmpstr (host_path, ==, "/run/cbox-test/state/abc123/fs/run/user/1000");
  g_free (host_path);
  host_path = cbox_nspawn_layout_host_path (layout, "/etc/passwd");
  g_assert_cmpstr (host_path, ==, "/run/cbox-test/state/abc123/fs/root/etc/passwd");
}

static void
test_layout_errors (void)
{
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxNspawnLayout) layout = NULL;

  cbox_plan_set_user (plan, 1000, 1000, "user", "/home/user");
  layout = cbox_nspawn_layout_new (plan, "/run/x", "Bad/Id", &error);
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
  g_assert_null (layout);
  g_clear_error (&error);

  /* A socket a helper makes later is fine... */
  cbox_plan_add_bind_socket (plan, "/nonexistent/cbox-helper.sock", "/run/user/1000/bus",
                             CBOX_MOUNT_FLAG_NONE);
  layout = cbox_nspawn_layout_new (plan, "/run/x", "id", &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_array_index (layout->ops, CboxNspawnOp, 0).op, ==, CBOX_NSPAWN_OP_BIND);
  g_clear_pointer (&layout, cbox_nspawn_layout_free);

  /* ...a missing file or directory is not. */
  cbox_plan_add_bind_ro (plan, "/nonexistent/cbox-source", "/x", CBOX_MOUNT_FLAG_NONE);
  layout = cbox_nspawn_layout_new (plan, "/run/x", "id", &error);
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND);
  g_assert_nonnull (strstr (error->message, "/nonexistent/cbox-source"));
  g_assert_null (layout);
}

static gboolean
strv_has (const char *const *strv, const char *value)
{
  return g_strv_contains (strv, value);
}

static void
test_realize (void)
{
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (CboxLaunch) launch = cbox_launch_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autofree char *nspawn = g_find_program_in_path ("systemd-nspawn");
  const CboxBackendVTable *vtable = cbox_plugin_describe ()->backend;
  const char *const command[] = { "my-command", "arg with space", NULL };
  g_autofree char *project = g_dir_make_tmp ("cbox-nspawn-a:b XXXXXX", NULL);
  g_autofree char *project_bind = NULL;
  const char *const *argv;
  guint separator = 0;

  if (nspawn == NULL)
    {
      g_test_skip ("systemd-nspawn is not installed");
      return;
    }
  cbox_host_set_user (host, 1000, 1000, "user", "/home/user", "/bin/sh");
  cbox_host_set_hostname (host, "hosty");
  ctx = cbox_context_new (host, NULL, "nspawn");
  cbox_context_set_instance_id (ctx, "0123abcd");
  cbox_context_set_libexec_dir (ctx, g_getenv ("CBOX_LIBEXEC_DIR"));
  cbox_plan_set_user (plan, 1000, 1000, "user", "/home/user");
  cbox_plan_add_bind_rw (plan, project, project, CBOX_MOUNT_FLAG_NONE);
  cbox_plan_set_cwd (plan, project);
  cbox_plan_set_env (plan, "HOME", "/home/user");
  cbox_plan_set_env (plan, "ODD", "not-utf8-\xff");
  cbox_plan_set_network (plan, FALSE);
  cbox_plan_set_command (plan, command);

  g_assert_true (vtable->probe (ctx, result, &error));
  g_assert_no_error (error);
  g_assert_nonnull (cbox_probe_result_get_detail (result, "register"));
  g_assert_true (vtable->realize (ctx, plan, launch, &error));
  g_assert_no_error (error);
  argv = cbox_launch_get_argv (launch);

  g_assert_true (strv_has (argv, "--machine=cbox-0123abcd"));
  g_assert_true (strv_has (argv, "--hostname=hosty"));
  g_assert_true (strv_has (argv, "--as-pid2"));
  g_assert_true (strv_has (argv, "--private-network"));
  g_assert_true (strv_has (argv, "--user=user"));
  g_assert_true (strv_has (argv, "--no-new-privileges=yes"));
  g_assert_true (strv_has (argv, isatty (0) ? "--console=interactive" : "--console=pipe"));
  {
    g_autofree char *escaped = cbox_nspawn_escape_path (project);
    project_bind = g_strdup_printf ("--bind=%s:%s", escaped, escaped);
  }
  g_assert_true (strv_has (argv, project_bind));

  /* After "--": the plan's environment through env -i, then the command. */
  for (guint i = 0; argv[i] != NULL && argv[i + 1] != NULL && separator == 0; i++)
    if (g_str_equal (argv[i], "--") && g_str_equal (argv[i + 1], "/usr/bin/env"))
      separator = i;
  g_assert_cmpuint (separator, >, 0);
  g_assert_cmpstr (argv[separator + 1], ==, "/usr/bin/env");
  g_assert_cmpstr (argv[separator + 2], ==, "-i");
  g_assert_true (strv_has (argv + separator, "ODD=not-utf8-\xff"));
  g_assert_true (strv_has (argv + separator, "HOME=/home/user"));
  g_assert_cmpuint (g_strv_length ((char **)argv), >=, 2);
  /* cbox-exec confines the command; the default filter (no --allow-userns);
   * it writes the command's status to the run's status file. */
  g_assert_cmpstr (argv[g_strv_length ((char **)argv) - 8], ==, "/run/cbox/cbox-exec");
  g_assert_cmpstr (argv[g_strv_length ((char **)argv) - 7], ==, "--init");
  g_assert_cmpstr (argv[g_strv_length ((char **)argv) - 6], ==, "--status-file");
  g_assert_cmpstr (argv[g_strv_length ((char **)argv) - 5], ==, "/run/cbox/status/exit");
  /* The network is not the host's: abstract sockets scoped (Landlock). */
  g_assert_cmpstr (argv[g_strv_length ((char **)argv) - 4], ==, "--scope-abstract");
  g_assert_cmpstr (argv[g_strv_length ((char **)argv) - 3], ==, "--");
  g_assert_cmpstr (argv[g_strv_length ((char **)argv) - 2], ==, "my-command");
  g_assert_cmpstr (argv[g_strv_length ((char **)argv) - 1], ==, "arg with space");
  g_rmdir (project);
}

/* Without cbox-exec nothing would drop the capabilities nspawn gives a
 * root command, or load the seccomp filter: no run at all. */
static void
test_realize_needs_cbox_exec (void)
{
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (CboxLaunch) launch = cbox_launch_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *nspawn = g_find_program_in_path ("systemd-nspawn");
  const CboxBackendVTable *vtable = cbox_plugin_describe ()->backend;
  const char *const command[] = { "true", NULL };

  if (nspawn == NULL)
    {
      g_test_skip ("systemd-nspawn is not installed");
      return;
    }
  cbox_host_set_user (host, 1000, 1000, "user", "/home/user", "/bin/sh");
  ctx = cbox_context_new (host, NULL, "nspawn");
  cbox_context_set_libexec_dir (ctx, "/nonexistent/libexec");
  cbox_plan_set_user (plan, 1000, 1000, "user", "/home/user");
  cbox_plan_set_command (plan, command);
  g_assert_false (vtable->realize (ctx, plan, launch, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "cbox-exec"));
}

static void
test_sudo_argv (void)
{
  const char *const envp[] = {
    "DISPLAY=:0",
    "CBOX_PLUGIN_PATH=/tmp/evil",
    "LD_PRELOAD=/tmp/evil.so",
    "LC_ALL=C.UTF-8",
    "SSH_AUTH_SOCK=/run/user/1000/ssh",
    "HOME=/home/user",
    "WEIRD,NAME=x",
    NULL,
  };
  const char *const args[] = { "run", "--backend=nspawn", "--", "sh", NULL };
  g_auto (GStrv) argv = cbox_nspawn_sudo_argv ("/usr/bin/sudo", "/usr/bin/cbox", args, envp);
  const char *const expected[] = { "/usr/bin/sudo",
                                   "--preserve-env=DISPLAY,LC_ALL,SSH_AUTH_SOCK",
                                   "--",
                                   "/usr/bin/cbox",
                                   "run",
                                   "--backend=nspawn",
                                   "--",
                                   "sh",
                                   NULL };

  g_assert_cmpstrv (argv, expected);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nspawn/escape", test_escape);
  g_test_add_func ("/nspawn/layout/ops", test_layout);
  g_test_add_func ("/nspawn/layout/errors", test_layout_errors);
  g_test_add_func ("/nspawn/realize", test_realize);
  g_test_add_func ("/nspawn/realize/needs-cbox-exec", test_realize_needs_cbox_exec);
  g_test_add_func ("/nspawn/sudo-argv", test_sudo_argv);
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel surface a hostile command reaches, against the real backends
 * (docs/security.md, "Kernel surface": each row of its table is a test
 * here). cbox-attack (tests/cbox-attack.c) makes the attempts inside the
 * sandbox and prints what each got; these tests say what it must get.
 *
 * Callers, as the machine allows:
 *   root   cbox run by root itself (the command is root inside),
 *   sudo   root acting for the user cboxtest (SUDO_UID and friends, as
 *          sudo sets them),
 *   user   an unprivileged user running cbox (run-as-user.sh runs this
 *          test as cboxtest for that).
 * CBOX_TEST_ONLY names the backend a registration tests (meson.build).
 *
 * Nothing here changes the host even when cbox fails: core_pattern gets
 * its own value back, mounts and device nodes are attempted only on the
 * sandbox's own mounts and in the test's temporary folder, and the
 * keyring tests use an anonymous session keyring of this test process.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-test-util.h"

typedef struct
{
  const char *backend;
  const char *mode; /* "root", "sudo", "user" */
} Case;

static const char *attack_program;
static uid_t test_uid; /* cboxtest's, for the sudo mode */
static gid_t test_gid;

static gboolean
setup (const Case *c)
{
  if (!cbox_test_require_backend (c->backend, g_getenv ("CBOX_TEST_ONLY")))
    return FALSE;
  if (g_str_equal (c->backend, "bwrap") && cbox_test_require_program ("bwrap") == NULL)
    return FALSE;
  if (g_str_equal (c->backend, "qemu") && cbox_test_require_program ("qemu-system-x86_64") == NULL)
    return FALSE;
  if (g_str_equal (c->mode, "sudo") && test_uid == 0)
    {
      cbox_test_skip_or_fail ("no user cboxtest (tools/install-deps makes it)");
      return FALSE;
    }
  return TRUE;
}

/* A project with cbox-attack in it, belonging to whoever the command
 * runs as. */
static char *
make_project (const Case *c)
{
  char *project = cbox_test_make_dir ("project");
  g_autofree char *copy = g_build_filename (project, "cbox-attack", NULL);
  g_autofree char *contents = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (attack_program, &contents, &len, NULL));
  g_assert_true (g_file_set_contents (copy, contents, (gssize)len, NULL));
  g_assert_cmpint (g_chmod (copy, 0755), ==, 0);
  if (g_str_equal (c->mode, "sudo"))
    {
      g_assert_cmpint (chown (project, test_uid, test_gid), ==, 0);
      g_assert_cmpint (chown (copy, test_uid, test_gid), ==, 0);
    }
  return project;
}

static char **
make_environ (const Case *c, const char *const *extra)
{
  g_auto (GStrv) env = cbox_test_environ (extra);

  if (g_str_equal (c->mode, "sudo"))
    {
      g_autofree char *uid = g_strdup_printf ("%u", (unsigned)test_uid);
      g_autofree char *gid = g_strdup_printf ("%u", (unsigned)test_gid);
      env = g_environ_setenv (env, "SUDO_UID", uid, TRUE);
      env = g_environ_setenv (env, "SUDO_GID", gid, TRUE);
      env = g_environ_setenv (env, "SUDO_USER", "cboxtest", TRUE);
    }
  else
    {
      env = g_environ_unsetenv (env, "SUDO_UID");
      env = g_environ_unsetenv (env, "SUDO_GID");
      env = g_environ_unsetenv (env, "SUDO_USER");
    }
  return g_steal_pointer (&env);
}

/* Run as root (root and sudo modes), cbox runs in a mount namespace of
 * its own where the covered /etc/ssl/private holds a key file, so that a
 * cover that fails shows it even on a host whose folder is empty (as on
 * most test machines). Folder and file are readable by everybody, so that
 * for a sandbox run for a user (sudo) too only the cover hides the key.
 * Nothing of it reaches the host: the namespace's mounts are private and
 * go with cbox. */
#define PLANTED_KEY "cbox-test-planted-key"
static const char plant_private_key[]
    = "mount -t tmpfs -o mode=0755 cbox-test /etc/ssl/private && "
      "echo secret > /etc/ssl/private/" PLANTED_KEY " && "
      "chmod 0644 /etc/ssl/private/" PLANTED_KEY " && exec \"$0\" \"$@\"";

/* cbox run --backend=B [--config=CONFIG] --forward=FORWARD
 * --network=NETWORK (NULL: off) -- sh -c SCRIPT, in @project; returns the
 * command's stdout. With
 * @planted (as root only), in a mount namespace whose /etc/ssl/private
 * holds PLANTED_KEY. */
static char *
run_script_full (const Case *c, const char *project, const char *config, const char *forward,
                 const char *network, const char *script, gboolean planted)
{
  g_auto (CboxTestResult) r = { 0 };
  g_auto (GStrv) env = make_environ (c, NULL);
  g_autofree char *backend = g_strconcat ("--backend=", c->backend, NULL);
  g_autofree char *forward_arg = g_strconcat ("--forward=", forward, NULL);
  g_autofree char *config_arg = config != NULL ? g_strconcat ("--config=", config, NULL) : NULL;
  g_autofree char *network_arg
      = g_strconcat ("--network=", network != NULL ? network : "off", NULL);
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  int wait_status = 0;

  if (planted)
    {
      g_assert_cmpuint (getuid (), ==, 0);
      g_ptr_array_add (args, (gpointer) "unshare");
      g_ptr_array_add (args, (gpointer) "--mount");
      g_ptr_array_add (args, (gpointer) "--propagation=private");
      g_ptr_array_add (args, (gpointer) "--");
      g_ptr_array_add (args, (gpointer) "sh");
      g_ptr_array_add (args, (gpointer) "-c");
      g_ptr_array_add (args, (gpointer)plant_private_key);
      g_ptr_array_add (args, (gpointer)cbox_test_cbox_path ());
    }
  g_ptr_array_add (args, (gpointer) "run");
  if (config_arg != NULL)
    g_ptr_array_add (args, config_arg);
  g_ptr_array_add (args, backend);
  if (g_str_equal (c->backend, "qemu"))
    g_ptr_array_add (args, (gpointer) "--set=qemu.accel=tcg");
  g_ptr_array_add (args, forward_arg);
  g_ptr_array_add (args, network_arg);
  g_ptr_array_add (args, (gpointer) "--");
  g_ptr_array_add (args, (gpointer) "sh");
  g_ptr_array_add (args, (gpointer) "-c");
  g_ptr_array_add (args, (gpointer)script);
  g_ptr_array_add (args, NULL);
  if (!planted)
    g_assert_true (cbox_test_run ((const char *const *)args->pdata, project,
                                  (const char *const *)env, NULL, &r));
  else
    {
      g_assert_true (g_spawn_sync (project, (char **)args->pdata, env,
                                   G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL,
                                   &r.out, &r.err, &wait_status, &error));
      g_assert_no_error (error);
      r.status = WIFEXITED (wait_status) ? WEXITSTATUS (wait_status) : 128 + WTERMSIG (wait_status);
    }
  if (r.status != 0)
    g_test_message ("stderr: %s", r.err);
  g_assert_cmpint (r.status, ==, 0);
  return g_strdup (r.out);
}

static char *
run_script (const Case *c, const char *project, const char *config, const char *forward,
            const char *script)
{
  return run_script_full (c, project, config, forward, NULL, script, FALSE);
}

/* The line NAME=... of cbox-attack's output, its value. */
static char *
result_of (const char *out, const char *name)
{
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], name) && lines[i][strlen (name)] == '=')
      return g_strdup (lines[i] + strlen (name) + 1);
  g_test_message ("no %s in:\n%s", name, out);
  g_assert_not_reached ();
}

#define assert_result(out, name, expected)                                                         \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_autofree char *value_ = result_of (out, name);                                               \
    g_assert_cmpstr (value_, ==, expected);                                                        \
  }                                                                                                \
  G_STMT_END

#define assert_refused(out, name)                                                                  \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_autofree char *value_ = result_of (out, name);                                               \
    g_assert_cmpstr (value_, !=, "ok");                                                            \
  }                                                                                                \
  G_STMT_END

/* Root's power over the host: core_pattern (a program the host's kernel
 * runs as root on the next crash), /usr made writable, a device node, any
 * capability at all; and a way around the filter: the memory of a process
 * of the sandbox that runs outside it (cbox-exec), opened for writing. Files the command makes still belong to whoever it
 * runs as (root, for root). */
static void
test_root_power (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *project = NULL;
  g_autofree char *out = NULL;
  g_autofree char *script = NULL;
  g_autofree char *node = NULL;
  g_autofree char *made = NULL;
  GStatBuf st;

  if (!setup (c))
    return;
  project = make_project (c);
  node = g_build_filename (project, "dev-null", NULL);
  made = g_build_filename (project, "made-inside", NULL);
  script = g_strdup_printf (
      "./cbox-attack core-pattern remount:/usr 'mknod:%s' caps unconfined-mem; touch '%s'", node,
      made);
  out = run_script (c, project, NULL, "none", script);
  assert_refused (out, "core-pattern");
  assert_refused (out, "remount");
  assert_refused (out, "mknod");
  assert_result (out, "caps", "none");
  /* No process of the sandbox that is less confined than the command
   * (cbox-exec was, under nspawn run for a user) has memory the command
   * may write. Once more with the host's network: bwrap then gives no
   * Landlock scope, which alone held cbox-exec out of reach there. */
  assert_refused (out, "unconfined-mem");
  {
    g_autofree char *host_net
        = run_script_full (c, project, NULL, "none", "host", "./cbox-attack unconfined-mem", FALSE);
    assert_refused (host_net, "unconfined-mem");
  }
  g_assert_false (g_file_test (node, G_FILE_TEST_EXISTS));
  g_assert_cmpint (g_stat (made, &st), ==, 0);
  if (g_str_equal (c->mode, "root"))
    g_assert_cmpuint (st.st_uid, ==, 0);
  else if (g_str_equal (c->mode, "sudo"))
    g_assert_cmpuint (st.st_uid, ==, test_uid);
  else
    g_assert_cmpuint (st.st_uid, ==, getuid ());
}

/* The tmpfs hostconf puts over /etc/ssl/private (the host's TLS server
 * keys) stays: it cannot be unmounted, and nothing of the folder below
 * shows (a key file is planted below it where the test is root, see
 * plant_private_key). For a root command, the same for the empty file
 * over /etc/shadow, which the host has with content. */
static void
test_covers (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *project = NULL;
  g_autofree char *out = NULL;
  gboolean planted = getuid () == 0;

  if (!setup (c))
    return;
  if (!g_file_test ("/etc/ssl/private", G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("the host has no /etc/ssl/private");
      return;
    }
  project = make_project (c);
  out = run_script_full (c, project, NULL, "hostconf", NULL,
                         "./cbox-attack umount:/etc/ssl/private; "
                         "echo entries=$(ls -A /etc/ssl/private | wc -l); "
                         "echo key=$(cat /etc/ssl/private/" PLANTED_KEY " 2>/dev/null); "
                         "./cbox-attack umount:/etc/shadow | sed s/^umount=/umount-shadow=/; "
                         "echo shadow=$(cat /etc/shadow 2>/dev/null | wc -c)",
                         planted);
  g_test_message ("%s", out);
  assert_refused (out, "umount");
  assert_result (out, "entries", "0");
  assert_result (out, "key", "");
  assert_refused (out, "umount-shadow");
  assert_result (out, "shadow", "0");
  /* The shadow check means something: the host's has content. */
  if (g_str_equal (c->mode, "root"))
    {
      GStatBuf st;
      g_assert_cmpint (g_stat ("/etc/shadow", &st), ==, 0);
      g_assert_cmpint (st.st_size, >, 0);
    }
  /* Nothing planted reached the host. */
  g_assert_false (g_file_test ("/etc/ssl/private/" PLANTED_KEY, G_FILE_TEST_EXISTS));
}

/* TIOCSTI (and TIOCLINUX) on a terminal the command was handed while its
 * stdin is a pipe: nspawn passes such a terminal through as is
 * (--console=pipe), and root's CAP_SYS_ADMIN let TIOCSTI push a command
 * into the host shell that owns it. The terminal here is a pty of the
 * test's; nothing may arrive in its input. */
static void
test_tiocsti_pipe (gconstpointer data)
{
  const Case *c = data;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *project = NULL;
  g_autofree char *backend = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto (GStrv) env = NULL;
  int master, slave, queued = -1;

  if (!setup (c))
    return;
  project = make_project (c);
  master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (master, >=, 0);
  g_assert_cmpint (grantpt (master), ==, 0);
  g_assert_cmpint (unlockpt (master), ==, 0);
  slave = open (ptsname (master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (slave, >=, 0);

  env = make_environ (c, NULL);
  backend = g_strconcat ("--backend=", c->backend, NULL);
  launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_environ (launcher, env);
  g_subprocess_launcher_set_cwd (launcher, project);
  g_subprocess_launcher_take_stdout_fd (launcher, dup (slave));
  {
    const char *argv[] = { cbox_test_cbox_path (), "run", backend, "--forward=none",
                           "--network=off", "--", "sh", "-c",
                           /* The attempts on the terminal (fd 3), the
                            * results to stderr. */
                           "exec 3>&1 1>&2; ./cbox-attack tiocsti:3", NULL };
    proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  }
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (proc, "", NULL, &out, &err, &error));
  g_assert_no_error (error);
  g_test_message ("stderr: %s", err);
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 0);
  assert_result (err, "tiocsti", "EPERM");
  assert_result (err, "tiocsti-high", "EPERM");
  assert_result (err, "tioclinux", "EPERM");
  /* Nothing was pushed into the terminal's input. */
  g_assert_cmpint (ioctl (slave, FIONREAD, &queued), ==, 0);
  g_assert_cmpint (queued, ==, 0);
  close (slave);
  close (master);
}

/* The kernel keyrings are not namespaced: the command must neither read
 * a key of the caller's session keyring nor plant one there. The caller
 * here is this test, in an anonymous session keyring of its own (so the
 * real session's keyring is never touched) holding one key. */
static void
test_keyring (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *project = NULL;
  g_autofree char *out = NULL;
  g_autofree char *description = NULL;
  g_autofree char *script = NULL;
  char payload[64] = { 0 };
  long key, read_len;

  if (!setup (c))
    return;
  g_assert_cmpint (syscall (SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL, 0, 0, 0), >=, 0);
  description = g_strdup_printf ("cbox-test-host-key-%d", (int)getpid ());
  key = syscall (SYS_add_key, "user", description, "host-secret", strlen ("host-secret"),
                 KEY_SPEC_SESSION_KEYRING);
  g_assert_cmpint (key, >, 0);

  project = make_project (c);
  script = g_strdup_printf ("./cbox-attack keyctl add-key 'proc-keys:%s'", description);
  out = run_script (c, project, NULL, "none", script);
  assert_result (out, "keyctl", "EPERM");
  assert_result (out, "add-key", "EPERM");
  assert_result (out, "proc-keys", "hidden");

  /* The host's keyring as it was: its key still there and unchanged,
   * nothing planted. */
  read_len = syscall (SYS_keyctl, KEYCTL_READ, key, payload, sizeof payload - 1, 0);
  g_assert_cmpint (read_len, ==, (long)strlen ("host-secret"));
  g_assert_cmpstr (payload, ==, "host-secret");
  errno = 0;
  g_assert_cmpint (
      syscall (SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", "cbox-attack", 0, 0), <,
      0);
  g_assert_cmpint (errno, ==, ENOKEY);
  syscall (SYS_keyctl, KEYCTL_UNLINK, key, KEY_SPEC_SESSION_KEYRING, 0, 0);
}

/* New user namespaces: refused unless the configuration allows them
 * ([cbox] allow-userns, which the browser and claude profiles set). */
static void
test_userns (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *project = NULL;
  g_autofree char *out = NULL;
  g_autofree char *allowed = NULL;
  g_autofree char *config = NULL;
  g_autoptr (GError) error = NULL;

  if (!setup (c))
    return;
  project = make_project (c);
  /* Each attempt in a process of its own: after a successful unshare the
   * next attempt would start from the new namespace. */
  out = run_script (c, project, NULL, "none", "./cbox-attack userns; ./cbox-attack clone-userns");
  assert_result (out, "userns", "EPERM");
  assert_result (out, "clone-userns", "EPERM");

  config = g_build_filename (project, "..", "allow-userns.conf", NULL);
  g_assert_true (g_file_set_contents (config, "[cbox]\nallow-userns=true\n", -1, &error));
  g_assert_no_error (error);
  allowed
      = run_script (c, project, config, "none", "./cbox-attack userns; ./cbox-attack clone-userns");
  /* Except for a command that is the host's root: in a namespace of its
   * own it would keep the host's uid 0 for sysctl writes (see
   * /kernel-surface/.../nested-proc). */
  assert_result (allowed, "userns", g_str_equal (c->mode, "root") ? "EPERM" : "ok");
  assert_result (allowed, "clone-userns", g_str_equal (c->mode, "root") ? "EPERM" : "ok");
}

/* A nested sandbox under allow-userns (Claude Code's, bwrap's): it must
 * be able to mount a proc of its own, except where the command is the
 * host's root; and through that proc nothing the covers of the sandbox's
 * /proc hold back is writable (core_pattern, sysrq-trigger). For bwrap,
 * a real nested `bwrap --proc /proc` too. */
static void
test_nested_proc (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *project = NULL;
  g_autofree char *out = NULL;
  g_autofree char *config = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *mounted = NULL;
  const char *script = "./cbox-attack fresh-proc; "
                       "if command -v bwrap >/dev/null; then "
                       "bwrap --proc /proc --dev /dev --ro-bind / / true 2>&1; echo nested=$?; "
                       "else echo nested=absent; fi";

  if (!setup (c))
    return;
  project = make_project (c);
  config = g_build_filename (project, "..", "allow-userns.conf", NULL);
  g_assert_true (g_file_set_contents (config, "[cbox]\nallow-userns=true\n", -1, &error));
  g_assert_no_error (error);
  out = run_script (c, project, config, "none", script);
  g_test_message ("%s", out);
  mounted = result_of (out, "fresh-proc");
  if (g_str_equal (c->mode, "root"))
    {
      /* A user namespace keeps the host's uid 0 for sysctl writes: a
       * fresh proc would be writable to it. */
      g_assert_cmpstr (mounted, ==, "EPERM");
      assert_result (out, "nested",
                     g_str_equal (c->backend, "bwrap") ? "1" : result_of (out, "nested"));
      return;
    }
  if (g_str_equal (c->backend, "bwrap"))
    {
      g_assert_cmpstr (mounted, ==, "ok");
      assert_result (out, "nested", "0");
    }
  if (g_str_equal (mounted, "ok"))
    {
      assert_refused (out, "fresh-proc-core-pattern");
      assert_refused (out, "fresh-proc-sysrq");
    }
}

/* The mount family, old and new API (CVE-2021-41133: flatpak's filter
 * missed the new one), and the rest of the filter's list. */
static void
test_syscalls (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *project = NULL;
  g_autofree char *out = NULL;

  if (!setup (c))
    return;
  project = make_project (c);
  out = run_script (c, project, NULL, "none",
                    "./cbox-attack mount fsopen open-tree umount:/usr ptrace perf socket-packet "
                    "socket-alg socket-unix personality");
  assert_result (out, "mount", "EPERM");
  assert_result (out, "fsopen", "ENOSYS");
  assert_result (out, "open-tree", "ENOSYS");
  assert_result (out, "umount", "EPERM");
  assert_result (out, "ptrace", "EPERM");
  assert_result (out, "perf", "EPERM");
  assert_result (out, "socket-packet", "EAFNOSUPPORT");
  assert_result (out, "socket-alg", "EAFNOSUPPORT");
  assert_result (out, "socket-unix", "ok");
  assert_result (out, "personality", "EPERM");
}

/* `cbox plan` names the filter the command will run under, and an
 * exception (allow-userns) exactly where the command gets it: not for a
 * command that is the host's root under bwrap or nspawn (see
 * /kernel-surface/.../userns for what it gets), in the text and in
 * --json; and of the shipped profiles, browser and claude ask for it. */
static void
test_plan (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *project = NULL;
  g_autofree char *config = NULL;
  g_autofree char *backend = NULL;
  g_autofree char *config_arg = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) env = NULL;
  gboolean excepted = !g_str_equal (c->mode, "root") || g_str_equal (c->backend, "qemu");

  if (!setup (c))
    return;
  project = make_project (c);
  env = make_environ (c, NULL);
  config = g_build_filename (project, "..", "allow-userns.conf", NULL);
  g_assert_true (g_file_set_contents (config, "[cbox]\nallow-userns=true\n", -1, &error));
  g_assert_no_error (error);
  backend = g_strconcat ("--backend=", c->backend, NULL);
  config_arg = g_strconcat ("--config=", config, NULL);

  for (guint allow = 0; allow < 2; allow++)
    for (guint json = 0; json < 2; json++)
      {
        g_auto (CboxTestResult) r = { 0 };
        const char *args[] = { "plan",
                               backend,
                               "--set=qemu.accel=tcg",
                               "--forward=none",
                               json ? "--json" : "--network=off",
                               allow ? config_arg : "--network=off",
                               "--",
                               "true",
                               NULL };
        g_autofree char *flat = NULL;

        g_assert_true (cbox_test_run (args, project, (const char *const *)env, NULL, &r));
        cbox_test_assert_status (&r, 0);
        g_test_message ("%s", r.out);
        if (!json)
          {
            g_assert_nonnull (strstr (r.out, "\nseccomp:     cbox-default (refuses "));
            g_assert_nonnull (strstr (r.out, "new user namespaces)\n"));
            if (allow && excepted)
              g_assert_nonnull (strstr (r.out,
                                        "\n  except:    new user namespaces, and the mount "
                                        "and namespace calls used in them (allow-userns)\n"));
            else
              g_assert_null (strstr (r.out, "except:"));
            if (allow && !excepted)
              g_assert_nonnull (
                  strstr (r.out, "allow-userns is not applied to a command that runs as root"));
            continue;
          }
        /* The JSON without its layout. */
        flat = g_strdup (r.out);
        g_strdelimit (flat, "\n", ' ');
        {
          g_auto (GStrv) words = g_strsplit (flat, " ", -1);
          g_free (flat);
          flat = g_strjoinv ("", words);
        }
        g_assert_nonnull (strstr (flat, "\"seccomp\":{\"filter\":\"cbox-default\""));
        if (allow && excepted)
          g_assert_nonnull (strstr (flat, "\"allow_userns\":true,\"exceptions\":[\"new"));
        else
          g_assert_nonnull (strstr (flat, "\"allow_userns\":false,\"exceptions\":[]"));
      }

  /* The shipped profiles: browser and claude ask for the exception
   * (Chromium's, Firefox's and Claude Code's own sandboxes), no other. */
  {
    static const char *const profiles[] = { "browser", "claude", "shell" };

    for (gsize i = 0; i < G_N_ELEMENTS (profiles); i++)
      {
        g_auto (CboxTestResult) r = { 0 };
        g_autofree char *profile = g_strconcat ("--profile=", profiles[i], NULL);
        const char *args[]
            = { "plan", backend, "--set=qemu.accel=tcg", profile, "--", "true", NULL };
        gboolean asks = !g_str_equal (profiles[i], "shell");

        g_assert_true (cbox_test_run (args, project, (const char *const *)env, NULL, &r));
        cbox_test_assert_status (&r, 0);
        if (asks && excepted)
          g_assert_nonnull (strstr (r.out, "\n  except:    new user namespaces"));
        else
          g_assert_null (strstr (r.out, "except:"));
      }
  }
}

/* Every case in one VM boot, for qemu (a boot under TCG is slow). */
static void
test_qemu_all (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *project = NULL;
  g_autofree char *out = NULL;
  g_autofree char *script = NULL;
  g_autofree char *node = NULL;

  if (!setup (c))
    return;
  project = make_project (c);
  node = g_build_filename (project, "dev-null", NULL);
  /* The guest's stdout is not a terminal: without the filter TIOCSTI
   * would fail with ENOTTY, with it EPERM. */
  script = g_strdup_printf (
      "./cbox-attack core-pattern remount:/usr 'mknod:%s' caps unconfined-mem keyctl add-key mount "
      "fsopen "
      "open-tree umount:/usr ptrace perf socket-alg personality tiocsti:1; "
      "./cbox-attack umount:/etc/ssl/private | sed s/^umount=/umount-cover=/; echo entries=$(ls -A "
      "/etc/ssl/private 2>/dev/null | wc -l); "
      "echo key=$(cat /etc/ssl/private/" PLANTED_KEY " 2>/dev/null); "
      "echo shadow=$(cat /etc/shadow 2>/dev/null | wc -c); "
      "./cbox-attack userns; ./cbox-attack clone-userns",
      node);
  /* Where the test is root, with a key file below the cover (see
   * plant_private_key): the guest must not see it, whoever it runs as. */
  out = run_script_full (c, project, NULL, "hostconf", NULL, script, getuid () == 0);
  g_test_message ("%s", out);
  assert_refused (out, "core-pattern");
  assert_refused (out, "remount");
  assert_refused (out, "mknod");
  assert_result (out, "caps", "none");
  assert_refused (out, "unconfined-mem");
  assert_result (out, "keyctl", "EPERM");
  assert_result (out, "add-key", "EPERM");
  assert_result (out, "mount", "EPERM");
  assert_result (out, "fsopen", "ENOSYS");
  assert_result (out, "open-tree", "ENOSYS");
  assert_result (out, "umount", "EPERM");
  assert_result (out, "ptrace", "EPERM");
  assert_result (out, "perf", "EPERM");
  assert_result (out, "socket-alg", "EAFNOSUPPORT");
  assert_result (out, "personality", "EPERM");
  assert_result (out, "tiocsti", "EPERM");
  assert_result (out, "umount", "EPERM");
  assert_result (out, "umount-cover", "EPERM");
  assert_result (out, "entries", "0");
  assert_result (out, "key", "");
  assert_result (out, "shadow", "0");
  assert_result (out, "userns", "EPERM");
  assert_result (out, "clone-userns", "EPERM");
  g_assert_false (g_file_test (node, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test ("/etc/ssl/private/" PLANTED_KEY, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  static const char *const backends[] = { "bwrap", "nspawn", "qemu" };
  static const char *const modes[] = { "root", "sudo", "user" };
  struct passwd *pw = getpwnam ("cboxtest");

  g_test_init (&argc, &argv, NULL);
  attack_program = g_getenv ("CBOX_TEST_ATTACK");
  g_assert_nonnull (attack_program);
  if (pw != NULL)
    {
      test_uid = pw->pw_uid;
      test_gid = pw->pw_gid;
    }

  for (gsize b = 0; b < G_N_ELEMENTS (backends); b++)
    for (gsize m = 0; m < G_N_ELEMENTS (modes); m++)
      {
        Case *c = g_new0 (Case, 1);
        /* root and sudo need root; an unprivileged user has only
         * itself (and nspawn needs root). */
        if ((getuid () == 0) == g_str_equal (modes[m], "user"))
          continue;
        if (g_str_equal (backends[b], "nspawn") && g_str_equal (modes[m], "user"))
          continue;
        c->backend = backends[b];
        c->mode = modes[m];
#define ADD(name, func)                                                                            \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_autofree char *path_ = g_strdup_printf ("/kernel-surface/%s/%s/" name, c->backend, c->mode); \
    g_test_add_data_func (path_, c, func);                                                         \
  }                                                                                                \
  G_STMT_END
        ADD ("plan", test_plan);
        if (g_str_equal (c->backend, "qemu"))
          {
            /* Every case in one boot. */
            ADD ("all", test_qemu_all);
            continue;
          }
        ADD ("root-power", test_root_power);
        ADD ("covers", test_covers);
        ADD ("tiocsti-pipe", test_tiocsti_pipe);
        ADD ("keyring", test_keyring);
        ADD ("userns", test_userns);
        ADD ("syscalls", test_syscalls);
        ADD ("nested-proc", test_nested_proc);
      }
  return g_test_run ();
}

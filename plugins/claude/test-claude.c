/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the claude forwarder against fake roots. */
#include "config.h"

#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-claude-plugin.c"

#include "cbox-private.h"
#include "cbox-test-util.h"

typedef struct
{
  char *root;
  CboxHost *host;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->root = cbox_test_make_dir ("root");
  f->host = cbox_host_new ();
  cbox_host_set_root (f->host, f->root);
  cbox_host_set_user (f->host, 1000, 1000, "u", "/home/u", "/bin/sh");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_free (f->root);
  cbox_host_unref (f->host);
}

static void
set_path (Fixture *f, const char *path)
{
  g_autofree char *entry = g_strconcat ("PATH=", path, NULL);
  const char *env[] = { entry, NULL };
  cbox_host_set_environ (f->host, env);
}

/* An executable file at @path under the root. */
static void
make_program (Fixture *f, const char *path)
{
  g_autofree char *full = g_build_filename (f->root, path, NULL);
  cbox_test_write_file (f->root, path, "#!/usr/bin/env node\n");
  g_assert_cmpint (g_chmod (full, 0755), ==, 0);
}

/* A relative symlink at @path (under the root) with the text @text. */
static void
make_link (Fixture *f, const char *text, const char *path)
{
  g_autofree char *full = g_build_filename (f->root, path, NULL);
  g_autofree char *dir = g_path_get_dirname (full);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_cmpint (symlink (text, full), ==, 0);
}

/* Probe and contribute; NULL when the probe says unavailable (@ret_reason
 * gets why). */
static CboxPlan *
run (Fixture *f, char **ret_reason)
{
  g_autoptr (CboxContext) ctx = cbox_context_new (f->host, NULL, "claude");
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;

  cbox_context_set_backend (ctx, "bwrap", CBOX_FEATURE_ALL);
  cbox_plan_set_user (plan, 1000, 1000, "u", "/home/u");
  cbox_plan_set_env (plan, "PATH", cbox_host_getenv_nonempty (f->host, "PATH"));
  g_assert_true (claude_probe (ctx, result, &error));
  g_assert_no_error (error);
  if (cbox_probe_result_get_status (result) != CBOX_PROBE_AVAILABLE)
    {
      if (ret_reason != NULL)
        *ret_reason = g_strdup (cbox_probe_result_get_reason (result));
      return NULL;
    }
  g_assert_true (claude_contribute (ctx, plan, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&plan);
}

static gboolean
has_note (CboxPlan *plan, const char *text)
{
  for (guint i = 0; i < cbox_plan_get_n_notes (plan); i++)
    if (strstr (cbox_plan_get_note (plan, i, NULL), text) != NULL)
      return TRUE;
  return FALSE;
}

static void
test_none (Fixture *f, gconstpointer data)
{
  g_autofree char *reason = NULL;

  set_path (f, "/usr/bin:/bin");
  g_assert_null (run (f, &reason));
  g_assert_nonnull (strstr (reason, "no claude on PATH"));
  g_assert_nonnull (strstr (reason, "npm install -g @anthropic-ai/claude-code"));
}

/* npm's global prefix /usr: visible anyway, nothing to bind; named. */
static void
test_npm_in_usr (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;

  make_program (f, "usr/lib/node_modules/@anthropic-ai/claude-code/cli.js");
  make_link (f, "../lib/node_modules/@anthropic-ai/claude-code/cli.js", "usr/bin/claude");
  set_path (f, "/usr/bin:/bin");
  plan = run (f, NULL);
  g_assert_nonnull (plan);
  g_assert_cmpuint (cbox_plan_get_n_mounts (plan), ==, 0);
  g_assert_true (has_note (plan, "claude: /usr/bin/claude -> "
                                 "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"));
  g_assert_cmpstr (cbox_plan_get_env (plan, "PATH"), ==, "/usr/bin:/bin");
}

/* A prefix of its own in the home (~/.npm-global, nvm's version folder):
 * the whole prefix read-only (launcher, package, nvm's node), its bin
 * first on PATH, before a system copy. */
static void
test_npm_home_prefix (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autofree char *prefix = g_build_filename (f->root, "home/u/.nvm/versions/node/v20", NULL);
  g_autofree char *real_prefix = NULL;
  const CboxMount *mount;

  make_program (f, "home/u/.nvm/versions/node/v20/bin/node");
  make_program (f, "home/u/.nvm/versions/node/v20/lib/node_modules/@anthropic-ai/claude-code/"
                   "cli.js");
  make_link (f, "../lib/node_modules/@anthropic-ai/claude-code/cli.js",
             "home/u/.nvm/versions/node/v20/bin/claude");
  /* A system copy later on PATH, and one earlier only inside. */
  make_program (f, "usr/bin/claude");
  set_path (f, "/home/u/.local/bin:/home/u/.nvm/versions/node/v20/bin:/usr/bin");
  plan = run (f, NULL);
  g_assert_nonnull (plan);
  real_prefix = realpath (prefix, NULL);
  mount = cbox_plan_find_mount (plan, "/home/u/.nvm/versions/node/v20");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpstr (mount->src, ==, real_prefix);
  /* The launcher is inside the prefix: no link of its own. */
  g_assert_null (cbox_plan_find_mount (plan, "/home/u/.nvm/versions/node/v20/bin/claude"));
  g_assert_cmpstr (cbox_plan_get_env (plan, "PATH"), ==,
                   "/home/u/.nvm/versions/node/v20/bin:/home/u/.local/bin:/usr/bin");
  g_assert_true (has_note (plan, "npm prefix /home/u/.nvm/versions/node/v20"));
}

/* npm's prefix=~: the prefix is the home, which must not be shown whole:
 * the package only, and the launcher as the same link. */
static void
test_npm_prefix_is_home (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  const CboxMount *mount;

  make_program (f, "home/u/lib/node_modules/@anthropic-ai/claude-code/cli.js");
  make_link (f, "../lib/node_modules/@anthropic-ai/claude-code/cli.js", "home/u/bin/claude");
  cbox_test_write_file (f->root, "home/u/.bash_history", "secret\n");
  set_path (f, "/home/u/bin:/usr/bin");
  plan = run (f, NULL);
  g_assert_nonnull (plan);
  g_assert_null (cbox_plan_find_mount (plan, "/home/u"));
  mount = cbox_plan_find_mount (plan, "/home/u/lib/node_modules/@anthropic-ai/claude-code");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  mount = cbox_plan_find_mount (plan, "/home/u/bin/claude");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_SYMLINK);
  g_assert_cmpstr (mount->src, ==, "../lib/node_modules/@anthropic-ai/claude-code/cli.js");
  for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
    g_assert_false (g_str_equal (cbox_plan_get_mount (plan, i)->dest, "/home/u"));
}

/* The native installer: ~/.local/share/claude read-only, the launcher
 * link again. */
static void
test_native (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  const CboxMount *mount;

  make_program (f, "home/u/.local/share/claude/versions/2.1.0");
  make_link (f, "../share/claude/versions/2.1.0", "home/u/.local/bin/claude");
  set_path (f, "/home/u/.local/bin:/usr/bin");
  plan = run (f, NULL);
  g_assert_nonnull (plan);
  mount = cbox_plan_find_mount (plan, "/home/u/.local/share/claude");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  mount = cbox_plan_find_mount (plan, "/home/u/.local/bin/claude");
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_SYMLINK);
  g_assert_true (has_note (plan, "native install /home/u/.local/share/claude"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/claude/none", Fixture, NULL, fixture_setup, test_none, fixture_teardown);
  g_test_add ("/claude/npm-in-usr", Fixture, NULL, fixture_setup, test_npm_in_usr,
              fixture_teardown);
  g_test_add ("/claude/npm-home-prefix", Fixture, NULL, fixture_setup, test_npm_home_prefix,
              fixture_teardown);
  g_test_add ("/claude/npm-prefix-is-home", Fixture, NULL, fixture_setup, test_npm_prefix_is_home,
              fixture_teardown);
  g_test_add ("/claude/native", Fixture, NULL, fixture_setup, test_native, fixture_teardown);
  return g_test_run ();
}

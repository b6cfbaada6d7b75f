/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the git forwarder: the config parser, and probe plus
 * contribute against a fake root. */
#include "config.h"

#include "cbox-git-plugin.c"

#include "cbox-private.h"
#include "cbox-test-util.h"

typedef struct
{
  char *root;
  CboxHost *host;
  GKeyFile *config;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autofree char *home = NULL;

  f->root = cbox_test_make_dir ("root");
  home = g_build_filename (f->root, "home/u", NULL);
  g_assert_cmpint (g_mkdir_with_parents (home, 0700), ==, 0);
  f->host = cbox_host_new ();
  cbox_host_set_root (f->host, f->root);
  cbox_host_set_user (f->host, 1000, 1000, "u", "/home/u", "/bin/sh");
  f->config = g_key_file_new ();
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_free (f->root);
  cbox_host_unref (f->host);
  g_key_file_unref (f->config);
}

static void
test_parse_value (void)
{
  static const struct
  {
    const char *in;
    const char *out;
  } cases[] = {
    { " plain", "plain" },
    { " a b  ", "a b" },
    { " \"quoted # not a comment \" ; comment", "quoted # not a comment " },
    { " x # comment", "x" },
    { " x;y", "x" },
    { " a\\\\b\\\"c\\td", "a\\b\"c\td" },
    { " ~/with space/file\n", "~/with space/file" },
    { "", "" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *value = git_parse_value (cases[i].in);
      g_assert_cmpstr (value, ==, cases[i].out);
    }
}

static void
test_parse_include_paths (void)
{
  const char *config = "[user]\n"
                       "\tname = U\n"
                       "\tpath = not-an-include\n"
                       "[Include]\n"
                       "\tPath = one\n"
                       "# path = commented\n"
                       "[includeIf \"gitdir:~/work/\"]\n"
                       "  path = \"two words\"\n"
                       "  pathological = no\n"
                       "[include] path = three\n"
                       "[core]\n"
                       "\tpath = four\n";
  g_autoptr (GPtrArray) paths = git_parse_include_paths (config);

  g_assert_cmpuint (paths->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (paths, 0), ==, "one");
  g_assert_cmpstr (g_ptr_array_index (paths, 1), ==, "two words");
  g_assert_cmpstr (g_ptr_array_index (paths, 2), ==, "three");
}

static const CboxMount *
find_ro (CboxPlan *plan, const char *dest)
{
  const CboxMount *mount = cbox_plan_find_mount (plan, dest);

  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  return mount;
}

/* Probes and contributes; @ret_detail gets the probe's @key detail (or
 * NULL) when @key is not NULL. */
static CboxPlan *
probe_with_detail (Fixture *f, CboxProbeStatus expected, const char *key, char **ret_detail)
{
  g_autoptr (CboxContext) ctx = cbox_context_new (f->host, f->config, "git");
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;

  cbox_context_set_backend (ctx, "bwrap", CBOX_FEATURE_ALL);
  cbox_plan_set_user (plan, 1000, 1000, "u", "/home/u");
  g_assert_true (git_probe (ctx, result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cbox_probe_result_get_status (result), ==, expected);
  if (key != NULL)
    *ret_detail = g_strdup (cbox_probe_result_get_detail (result, key));
  g_assert_true (git_contribute (ctx, plan, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&plan);
}

static CboxPlan *
probe_and_contribute (Fixture *f, CboxProbeStatus expected)
{
  return probe_with_detail (f, expected, NULL, NULL);
}

static gboolean
plan_has_src_containing (CboxPlan *plan, const char *needle)
{
  for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
    {
      const CboxMount *mount = cbox_plan_get_mount (plan, i);
      if ((mount->src != NULL && strstr (mount->src, needle) != NULL)
          || strstr (mount->dest, needle) != NULL)
        return TRUE;
    }
  return FALSE;
}

static void
test_includes (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autofree char *escape = g_build_filename (f->root, "home/u/.gitconfig.d/escape", NULL);
  g_autofree char *outside = g_build_filename (f->root, "outside/secret", NULL);
  gboolean noted = FALSE;

  cbox_test_write_file (f->root, "home/u/.gitconfig",
                        "[user]\n\temail = u@example.org\n"
                        "[include]\n\tpath = ~/.gitconfig.d/work\n"
                        "[includeIf \"gitdir:~/oss/\"]\n\tpath = oss.inc\n"
                        "[include]\n\tpath = /etc/team.gitconfig\n"
                        "\tpath = .gitconfig.d/escape\n"
                        "\tpath = ~/missing\n"
                        "\tpath = ~/.gitconfig\n"
                        "\tpath = ~root/.gitconfig\n");
  cbox_test_write_file (f->root, "home/u/.gitconfig.d/work", "[include]\n\tpath = nested\n");
  cbox_test_write_file (f->root, "home/u/.gitconfig.d/nested", "[user]\n\tname = Nested\n");
  cbox_test_write_file (f->root, "home/u/oss.inc", "[user]\n\tname = Oss\n");
  cbox_test_write_file (f->root, "etc/team.gitconfig", "[user]\n\tname = Team\n");
  cbox_test_write_file (f->root, "outside/secret", "[user]\n\tname = Secret\n");
  g_assert_cmpint (symlink (outside, escape), ==, 0);

  plan = probe_and_contribute (f, CBOX_PROBE_AVAILABLE);
  find_ro (plan, "/home/u/.gitconfig");
  find_ro (plan, "/home/u/.gitconfig.d/work");
  find_ro (plan, "/home/u/.gitconfig.d/nested");
  find_ro (plan, "/home/u/oss.inc");
  /* Not followed out of the home: neither an absolute path elsewhere nor a
   * symlink under the home that leads out of it. */
  g_assert_false (plan_has_src_containing (plan, "team.gitconfig"));
  g_assert_false (plan_has_src_containing (plan, "secret"));
  g_assert_false (plan_has_src_containing (plan, "escape"));
  g_assert_false (plan_has_src_containing (plan, "missing"));
  g_assert_null (cbox_plan_find_mount (plan, "/root/.gitconfig"));
  for (guint i = 0; i < cbox_plan_get_n_notes (plan); i++)
    noted |= strstr (cbox_plan_get_note (plan, i, NULL), "/etc/team.gitconfig") != NULL;
  g_assert_true (noted);
}

static void
test_config_dir_and_credentials (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autofree char *dir = g_build_filename (f->root, "home/u/.config/git", NULL);
  const CboxMount *mount;

  cbox_test_write_file (f->root, "home/u/.config/git/config", "[include]\n\tpath = local\n");
  cbox_test_write_file (f->root, "home/u/.config/git/local", "[user]\n\tname = L\n");
  cbox_test_write_file (f->root, "home/u/.config/git/credentials", "https://u:token@example.org\n");

  plan = probe_and_contribute (f, CBOX_PROBE_AVAILABLE);
  mount = find_ro (plan, "/home/u/.config/git");
  g_assert_cmpstr (mount->src, ==, dir);
  /* Covered by the directory: no second bind. */
  g_assert_null (cbox_plan_find_mount (plan, "/home/u/.config/git/local"));
  mount = cbox_plan_find_mount (plan, "/home/u/.config/git/credentials");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DATA);
  g_assert_null (cbox_plan_find_mount (plan, "/home/u/.gitconfig"));
}

static void
test_credentials_forwarded (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;

  cbox_test_write_file (f->root, "home/u/.config/git/credentials", "https://u:token@example.org\n");
  g_key_file_set_boolean (f->config, "git", "credentials", TRUE);
  plan = probe_and_contribute (f, CBOX_PROBE_AVAILABLE);
  g_assert_null (cbox_plan_find_mount (plan, "/home/u/.config/git/credentials"));
  g_assert_nonnull (cbox_plan_find_mount (plan, "/home/u/.git-credentials"));
}

static void
test_xdg_config_home (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;

  /* The host's configuration directory lands where git looks inside. */
  cbox_test_write_file (f->root, "home/u/cfg/git/config",
                        "[user]\n\tname = X\n[include]\n\tpath = extra\n");
  cbox_test_write_file (f->root, "home/u/cfg/git/extra", "[user]\n\temail = x@example.org\n");
  cbox_host_setenv (f->host, "XDG_CONFIG_HOME", "/home/u/cfg");
  cbox_host_setenv (f->host, "GIT_AUTHOR_EMAIL", "a@example.org");
  cbox_host_setenv (f->host, "GIT_COMMITTER_EMAIL", "");
  plan = probe_and_contribute (f, CBOX_PROBE_AVAILABLE);
  find_ro (plan, "/home/u/.config/git");
  g_assert_null (cbox_plan_find_mount (plan, "/home/u/cfg/git"));
  /* An include named by its host path is found there inside too. */
  find_ro (plan, "/home/u/cfg/git/extra");
  g_assert_cmpstr (cbox_plan_get_env (plan, "GIT_AUTHOR_EMAIL"), ==, "a@example.org");
  g_assert_null (cbox_plan_get_env (plan, "GIT_COMMITTER_EMAIL"));
}

static void
test_nothing (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = probe_and_contribute (f, CBOX_PROBE_DEGRADED);

  g_assert_cmpuint (cbox_plan_get_n_mounts (plan), ==, 0);
}

static void
test_include_loop (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;

  cbox_test_write_file (f->root, "home/u/.gitconfig", "[include]\n\tpath = a\n");
  cbox_test_write_file (f->root, "home/u/a", "[include]\n\tpath = b\n");
  cbox_test_write_file (f->root, "home/u/b", "[include]\n\tpath = a\n\tpath = .gitconfig\n");
  plan = probe_and_contribute (f, CBOX_PROBE_AVAILABLE);
  g_assert_cmpuint (cbox_plan_get_n_mounts (plan), ==, 3);
}

static void
make_fifo (Fixture *f, const char *path)
{
  g_autofree char *full = g_build_filename (f->root, path, NULL);
  g_autofree char *dir = g_path_get_dirname (full);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_cmpint (mkfifo (full, 0600), ==, 0);
}

static gboolean
plan_has_note (CboxPlan *plan, const char *text)
{
  for (guint i = 0; i < cbox_plan_get_n_notes (plan); i++)
    if (g_str_equal (cbox_plan_get_note (plan, i, NULL), text))
      return TRUE;
  return FALSE;
}

/* Include targets that are a fifo nobody writes to or a directory are
 * neither bound nor read (git would block on the fifo; so would the probe
 * if it read it): they are named as not forwarded, and the rest of the
 * configuration is forwarded as usual. */
static void
test_not_regular (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autofree char *not_forwarded = NULL;
  g_autofree char *dir = g_build_filename (f->root, "home/u/dir.inc", NULL);

  cbox_test_write_file (f->root, "home/u/.gitconfig",
                        "[include]\n\tpath = fifo.inc\n\tpath = dir.inc\n\tpath = ok.inc\n");
  make_fifo (f, "home/u/fifo.inc");
  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  cbox_test_write_file (f->root, "home/u/ok.inc", "[user]\n\tname = Ok\n");

  plan = probe_with_detail (f, CBOX_PROBE_AVAILABLE, "not-forwarded", &not_forwarded);
  g_assert_cmpstr (not_forwarded, ==,
                   "/home/u/fifo.inc (not a regular file), /home/u/dir.inc (not a regular file)");
  find_ro (plan, "/home/u/.gitconfig");
  find_ro (plan, "/home/u/ok.inc");
  g_assert_null (cbox_plan_find_mount (plan, "/home/u/fifo.inc"));
  g_assert_null (cbox_plan_find_mount (plan, "/home/u/dir.inc"));
  g_assert_cmpuint (cbox_plan_get_n_mounts (plan), ==, 2);
  g_assert_true (plan_has_note (plan, "/home/u/fifo.inc is not a regular file: not forwarded"));
  g_assert_true (plan_has_note (plan, "/home/u/dir.inc is not a regular file: not forwarded"));
}

/* ~/.gitconfig itself a fifo: nothing to forward, and said so. */
static void
test_gitconfig_fifo (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autofree char *not_forwarded = NULL;

  make_fifo (f, "home/u/.gitconfig");
  plan = probe_with_detail (f, CBOX_PROBE_DEGRADED, "not-forwarded", &not_forwarded);
  g_assert_cmpstr (not_forwarded, ==, "/home/u/.gitconfig (not a regular file)");
  g_assert_cmpuint (cbox_plan_get_n_mounts (plan), ==, 0);
  g_assert_true (plan_has_note (plan, "/home/u/.gitconfig is not a regular file: not forwarded"));
}

/* A configuration file over the size limit is forwarded, but not read:
 * its includes are not followed, and the probe says so. */
static void
test_too_large (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxPlan) plan = NULL;
  g_autofree char *not_read = NULL;
  g_autoptr (GString) large = g_string_new ("[include]\n\tpath = ~/inc\n");

  while (large->len <= GIT_MAX_CONFIG_SIZE)
    g_string_append (large, "# padding padding padding padding padding padding padding\n");
  cbox_test_write_file (f->root, "home/u/.gitconfig", large->str);
  cbox_test_write_file (f->root, "home/u/inc", "[user]\n\tname = Inc\n");

  plan = probe_with_detail (f, CBOX_PROBE_AVAILABLE, "includes-not-read", &not_read);
  g_assert_cmpstr (not_read, ==, "/home/u/.gitconfig (larger than 1 MiB)");
  find_ro (plan, "/home/u/.gitconfig");
  g_assert_null (cbox_plan_find_mount (plan, "/home/u/inc"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/git/parse/value", test_parse_value);
  g_test_add_func ("/git/parse/include-paths", test_parse_include_paths);
  g_test_add ("/git/probe/includes", Fixture, NULL, fixture_setup, test_includes, fixture_teardown);
  g_test_add ("/git/probe/config-dir-credentials", Fixture, NULL, fixture_setup,
              test_config_dir_and_credentials, fixture_teardown);
  g_test_add ("/git/probe/credentials-forwarded", Fixture, NULL, fixture_setup,
              test_credentials_forwarded, fixture_teardown);
  g_test_add ("/git/probe/xdg-config-home", Fixture, NULL, fixture_setup, test_xdg_config_home,
              fixture_teardown);
  g_test_add ("/git/probe/nothing", Fixture, NULL, fixture_setup, test_nothing, fixture_teardown);
  g_test_add ("/git/probe/include-loop", Fixture, NULL, fixture_setup, test_include_loop,
              fixture_teardown);
  g_test_add ("/git/probe/not-regular", Fixture, NULL, fixture_setup, test_not_regular,
              fixture_teardown);
  g_test_add ("/git/probe/gitconfig-fifo", Fixture, NULL, fixture_setup, test_gitconfig_fifo,
              fixture_teardown);
  g_test_add ("/git/probe/too-large", Fixture, NULL, fixture_setup, test_too_large,
              fixture_teardown);
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration test of the git forwarder with the built cbox and the real
 * git: the user's identity inside, a commit made inside seen on the host,
 * includes followed only inside the home. */
#include "config.h"

#include <glib/gstdio.h>

#include "cbox-devtools-test.h"

typedef struct
{
  char **env;
  char *home;
  char *project;
  char *outside; /* a config file outside the home, included by ~/.gitconfig */
  char *git;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autofree char *gitconfig = NULL;
  g_autofree char *included = NULL;
  g_autofree char *outside_dir = NULL;
  g_autofree char *content = NULL;

  f->git = cbox_test_require_program ("git");
  if (f->git == NULL)
    return;
  f->env = cbox_test_environ (NULL);
  f->home = g_strdup (devtools_test_env_get (f->env, "HOME"));
  f->project = cbox_test_make_dir ("project with space");
  outside_dir = cbox_test_make_dir ("outside");
  f->outside = g_build_filename (outside_dir, "team.gitconfig", NULL);
  cbox_test_write_file ("/", f->outside, "[user]\n\tname = Outside The Home\n");

  gitconfig = g_build_filename (f->home, ".gitconfig", NULL);
  included = g_build_filename (f->home, ".config", "git", "work.inc", NULL);
  content = g_strdup_printf ("[user]\n"
                             "\temail = host-user@example.org\n"
                             "\tname = Host User\n"
                             "[include]\n"
                             "\tpath = %s\n"
                             "[includeIf \"gitdir:/\"]\n"
                             "\tpath = ~/.gitconfig.d/extra\n"
                             "[init]\n"
                             "\tdefaultBranch = main\n",
                             f->outside);
  cbox_test_write_file ("/", gitconfig, content);
  {
    g_autofree char *extra = g_build_filename (f->home, ".gitconfig.d", "extra", NULL);
    cbox_test_write_file ("/", extra, "[cbox]\n\tmarker = from-the-home\n");
  }
  (void)included;

  {
    const char *argv[] = { f->git, "init", "-q", f->project, NULL };
    g_free (devtools_test_host (f->env, NULL, argv));
  }
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_strfreev (f->env);
  g_free (f->home);
  g_free (f->project);
  g_free (f->outside);
  g_free (f->git);
}

static char *
host_git (Fixture *f, const char *first, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  va_list args;

  g_ptr_array_add (argv, f->git);
  va_start (args, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer)arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  return devtools_test_host (f->env, f->project, (const char *const *)argv->pdata);
}

static void
test_config_and_commit (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  gboolean qemu = g_str_equal (backend, "qemu");
  const char *forward[] = { "--forward=git", NULL };
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *email = NULL;
  g_autofree char *subject = NULL;
  g_autofree char *author = NULL;

  if (f->git == NULL || !devtools_test_require_backend (backend, qemu))
    return;
  email = host_git (f, "config", "user.email", NULL);

  devtools_test_sh (&result, backend, forward, f->project, f->env,
                    "set -e; git config user.email; "
                    "echo hello > file.txt; git add file.txt; "
                    "git commit -q -m made-inside; echo COMMITTED");
  cbox_test_assert_status (&result, 0);
  devtools_test_assert_contains (result.out, email);
  devtools_test_assert_contains (result.out, "COMMITTED");

  /* The commit is in the project on the host, with the host's identity. */
  subject = host_git (f, "log", "-1", "--format=%s", NULL);
  author = host_git (f, "log", "-1", "--format=%ae", NULL);
  g_assert_cmpstr (g_strstrip (subject), ==, "made-inside");
  g_assert_cmpstr (g_strstrip (author), ==, g_strstrip (email));
}

static void
test_includes_stay_in_home (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  const char *forward[] = { "--forward=git", NULL };
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *host_name = NULL;

  if (f->git == NULL || !devtools_test_require_backend (backend, FALSE))
    return;
  /* On the host the include outside the home wins (it comes later). */
  host_name = host_git (f, "config", "user.name", NULL);
  g_assert_cmpstr (g_strstrip (host_name), ==, "Outside The Home");

  devtools_test_sh (&result, backend, forward, f->project, f->env,
                    "git config user.name; git config cbox.marker; "
                    "if git config --get-all --show-origin user.name | grep -q team.gitconfig; "
                    "then echo LEAKED; fi");
  cbox_test_assert_status (&result, 0);
  devtools_test_assert_contains (result.out, "Host User");
  devtools_test_assert_contains (result.out, "from-the-home");
  g_assert_false (devtools_test_contains (result.out, "Outside The Home"));
  g_assert_false (devtools_test_contains (result.out, "LEAKED"));
}

static void
test_without_forward (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  const char *no_forward[] = { "--no-forward=git", NULL };
  g_auto (CboxTestResult) result = { 0 };

  if (f->git == NULL || !devtools_test_require_backend (backend, FALSE))
    return;
  devtools_test_sh (&result, backend, no_forward, f->project, f->env,
                    "git config user.email || echo NO-EMAIL");
  cbox_test_assert_status (&result, 0);
  devtools_test_assert_contains (result.out, "NO-EMAIL");
  g_assert_false (devtools_test_contains (result.out, "host-user@example.org"));
}

int
main (int argc, char **argv)
{
  static const char *const backends[] = { DEVTOOLS_TEST_BACKENDS };

  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (backends); i++)
    {
      g_autofree char *commit
          = g_strdup_printf ("/git/integration/%s/config-and-commit", backends[i]);
      g_autofree char *includes
          = g_strdup_printf ("/git/integration/%s/includes-stay-in-home", backends[i]);
      g_autofree char *without
          = g_strdup_printf ("/git/integration/%s/without-forward", backends[i]);

      g_test_add (commit, Fixture, backends[i], fixture_setup, test_config_and_commit,
                  fixture_teardown);
      g_test_add (includes, Fixture, backends[i], fixture_setup, test_includes_stay_in_home,
                  fixture_teardown);
      g_test_add (without, Fixture, backends[i], fixture_setup, test_without_forward,
                  fixture_teardown);
    }
  g_test_add ("/git/integration/qemu/config-and-commit", Fixture, "qemu", fixture_setup,
              test_config_and_commit, fixture_teardown);
  return g_test_run ();
}

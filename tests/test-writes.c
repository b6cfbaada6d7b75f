/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Nothing the sandbox writes can run later on the host (docs/security.md,
 * "Writes that outlive the run"): refused projects, binds of symlinks,
 * links planted in persisted folders, protected paths, the claude
 * profile's ~/.claude. Integration tests with the real bwrap (and nspawn,
 * qemu where said), run as root and, through run-as-user.sh, as an
 * unprivileged user. Every payload is planted inside a sandbox and then
 * looked for on the host; the host itself (outside the test's scratch
 * folders) is never written. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-planner.h"
#include "cbox-project.h"
#include "cbox-test-util.h"

typedef struct
{
  char *home; /* the scratch home cbox sees as HOME */
  char *project;
  char **env;
} Fixture;

static void
fixture_init (Fixture *f, const char *project_name)
{
  g_autofree char *made = NULL;

  f->env = cbox_test_environ (NULL);
  f->home = g_strdup (g_environ_getenv (f->env, "HOME"));
  made = g_build_filename (f->home, project_name, NULL);
  g_assert_cmpint (g_mkdir_with_parents (made, 0755), ==, 0);
  f->project = realpath (made, NULL);
  g_assert_nonnull (f->project);
}

static void
fixture_clear (Fixture *f)
{
  g_free (f->home);
  g_free (f->project);
  g_strfreev (f->env);
}

/* cbox ARGS... with the fixture's environment, from the project. */
static void run_cbox (Fixture *f, CboxTestResult *result, const char *first,
                      ...) G_GNUC_NULL_TERMINATED;

static void
run_cbox (Fixture *f, CboxTestResult *result, const char *first, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  va_list ap;

  va_start (ap, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer)arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  g_assert_true (cbox_test_run ((const char *const *)args->pdata, f->project,
                                (const char *const *)f->env, NULL, result));
}

static gboolean
require_bwrap (void)
{
  g_autofree char *bwrap = cbox_test_require_program ("bwrap");
  return bwrap != NULL;
}

static void
assert_refused (CboxTestResult *result, const char *rule, const char *override)
{
  cbox_test_assert_status (result, 125);
  if (strstr (result->err, rule) == NULL
      || (override != NULL && strstr (result->err, override) == NULL))
    g_error ("expected '%s' and '%s' in:\n%s", rule, override != NULL ? override : "", result->err);
}

/* ---- item 4: projects that are not projects --------------------------------- */

static void
test_refuse_home (void)
{
  g_auto (CboxTestResult) direct = { 0 };
  g_auto (CboxTestResult) through_link = { 0 };
  g_auto (CboxTestResult) above = { 0 };
  g_autofree char *link = NULL;
  g_autofree char *parent = NULL;
  g_autofree char *option = NULL;
  Fixture f;

  fixture_init (&f, "proj");
  option = g_strdup_printf ("--project=%s", f.home);
  run_cbox (&f, &direct, option, "plan", NULL);
  assert_refused (&direct, "it is your home folder", "--allow-project=");

  /* A link planted in the project by an earlier sandbox: proj/x -> ~. */
  link = g_build_filename (f.project, "x", NULL);
  g_assert_cmpint (symlink (f.home, link), ==, 0);
  g_free (option);
  option = g_strdup_printf ("--project=%s", link);
  run_cbox (&f, &through_link, option, "plan", NULL);
  assert_refused (&through_link, "it is your home folder", "--allow-project=");

  /* A folder above the home. */
  parent = g_path_get_dirname (f.home);
  g_free (option);
  option = g_strdup_printf ("--project=%s", parent);
  run_cbox (&f, &above, option, "plan", NULL);
  assert_refused (&above, "a folder that holds your home folder", "--allow-project=");
  fixture_clear (&f);
}

static void
test_refuse_system (void)
{
  static const char *const dirs[] = { "/etc",  "/usr", "/var",  "/tmp", "/var/tmp", "/home",
                                      "/root", "/dev", "/proc", "/sys", "/run",     "/boot" };
  Fixture f;

  fixture_init (&f, "proj");
  for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++)
    {
      g_auto (CboxTestResult) result = { 0 };
      g_autofree char *option = g_strdup_printf ("--project=%s", dirs[i]);

      if (!g_file_test (dirs[i], G_FILE_TEST_IS_DIR))
        continue;
      run_cbox (&f, &result, option, "plan", NULL);
      /* /tmp may hold the scratch home: then it is refused as above it. */
      cbox_test_assert_status (&result, 125);
      if (strstr (result.err, "a system folder") == NULL
          && strstr (result.err, "a folder that holds your home folder") == NULL)
        g_error ("%s: %s", dirs[i], result.err);
      g_assert_nonnull (strstr (result.err, "--allow-project="));
    }
  {
    /* The root: no override. */
    g_auto (CboxTestResult) result = { 0 };
    g_auto (CboxTestResult) allowed = { 0 };
    run_cbox (&f, &result, "--project=/", "plan", NULL);
    assert_refused (&result, "cannot be /", NULL);
    run_cbox (&f, &allowed, "--project=/", "--allow-project=/", "plan", NULL);
    assert_refused (&allowed, "cannot be /", NULL);
  }
  fixture_clear (&f);
}

/* A folder on the caller's PATH (here ~/bin, put first on PATH), or one
 * that holds such a folder: what a sandbox writes there the host's shell
 * runs later under a command's name. Refused as the project (with the
 * override) and as a writable bind (directly and through a link); a
 * read-only bind of it is fine. */
static void
test_refuse_path_dir (void)
{
  g_auto (CboxTestResult) project = { 0 };
  g_auto (CboxTestResult) allowed = { 0 };
  g_auto (CboxTestResult) bind = { 0 };
  g_auto (CboxTestResult) link_bind = { 0 };
  g_auto (CboxTestResult) ro_bind = { 0 };
  g_auto (CboxTestResult) off_path = { 0 };
  g_autofree char *bin = NULL;
  g_autofree char *link = NULL;
  g_autofree char *path = NULL;
  g_autofree char *project_arg = NULL;
  g_autofree char *allow_arg = NULL;
  g_autofree char *bind_arg = NULL;
  g_autofree char *link_arg = NULL;
  g_autofree char *ro_arg = NULL;
  Fixture f;

  fixture_init (&f, "proj");
  bin = g_build_filename (f.home, "bin", NULL);
  g_assert_cmpint (g_mkdir_with_parents (bin, 0755), ==, 0);
  link = g_build_filename (f.project, "tools", NULL);
  g_assert_cmpint (symlink (bin, link), ==, 0);
  project_arg = g_strconcat ("--project=", bin, NULL);
  allow_arg = g_strconcat ("--allow-project=", bin, NULL);
  bind_arg = g_strconcat ("--bind=", bin, ":/data", NULL);
  link_arg = g_strconcat ("--bind=", link, ":/data", NULL);
  ro_arg = g_strconcat ("--ro-bind=", bin, ":/data", NULL);

  /* Not on PATH: an ordinary folder. */
  run_cbox (&f, &off_path, project_arg, "plan", NULL);
  cbox_test_assert_status (&off_path, 0);

  path = g_strconcat (bin, ":", g_environ_getenv (f.env, "PATH"), NULL);
  f.env = g_environ_setenv (f.env, "PATH", path, TRUE);
  run_cbox (&f, &project, project_arg, "plan", NULL);
  assert_refused (&project, "a folder on your PATH", "--allow-project=");
  run_cbox (&f, &allowed, project_arg, allow_arg, "plan", NULL);
  cbox_test_assert_status (&allowed, 0);
  g_assert_nonnull (strstr (allowed.out, "a folder on your PATH"));
  run_cbox (&f, &bind, bind_arg, "plan", NULL);
  assert_refused (&bind, "a folder on your PATH", "--ro-bind");
  run_cbox (&f, &link_bind, link_arg, "plan", NULL);
  assert_refused (&link_bind, "a folder on your PATH", "--ro-bind");
  run_cbox (&f, &ro_bind, ro_arg, "plan", NULL);
  cbox_test_assert_status (&ro_bind, 0);
  /* A folder that holds one on PATH (as ~/.cargo holds ~/.cargo/bin). */
  {
    g_auto (CboxTestResult) holder = { 0 };
    g_auto (CboxTestResult) holder_bind = { 0 };
    g_autofree char *tools = g_build_filename (f.home, "tools", NULL);
    g_autofree char *tools_bin = g_build_filename (tools, "bin", NULL);
    g_autofree char *holder_arg = g_strconcat ("--project=", tools, NULL);
    g_autofree char *holder_bind_arg = g_strconcat ("--bind=", tools, ":/data", NULL);
    g_autofree char *more_path = NULL;

    g_assert_cmpint (g_mkdir_with_parents (tools_bin, 0755), ==, 0);
    more_path = g_strconcat (tools_bin, ":", g_environ_getenv (f.env, "PATH"), NULL);
    f.env = g_environ_setenv (f.env, "PATH", more_path, TRUE);
    run_cbox (&f, &holder, holder_arg, "plan", NULL);
    assert_refused (&holder, "holds a folder on your PATH", "--allow-project=");
    run_cbox (&f, &holder_bind, holder_bind_arg, "plan", NULL);
    assert_refused (&holder_bind, "holds a folder on your PATH", "--ro-bind");
  }
  fixture_clear (&f);
}

static void
test_refuse_override (void)
{
  g_auto (CboxTestResult) cli = { 0 };
  g_auto (CboxTestResult) other = { 0 };
  g_auto (CboxTestResult) file = { 0 };
  g_autofree char *project = NULL;
  g_autofree char *allow = NULL;
  g_autofree char *conf = NULL;
  g_autofree char *conf_text = NULL;
  Fixture f;

  fixture_init (&f, "proj");
  project = g_strdup_printf ("--project=%s", f.home);
  allow = g_strdup_printf ("--allow-project=%s", f.home);
  run_cbox (&f, &cli, project, allow, "plan", NULL);
  cbox_test_assert_status (&cli, 0);
  g_assert_nonnull (strstr (cli.out, "warning: the project"));
  g_assert_nonnull (strstr (cli.out, "allowed by allow-project (from cli)"));

  /* Allowing another folder allows nothing here. */
  g_free (allow);
  allow = g_strdup_printf ("--allow-project=%s", f.project);
  run_cbox (&f, &other, project, allow, "plan", NULL);
  assert_refused (&other, "it is your home folder", NULL);

  /* The configuration key, from the user's file. */
  conf = g_build_filename (g_environ_getenv (f.env, "XDG_CONFIG_HOME"), "cbox", NULL);
  conf_text = g_strdup_printf ("[cbox]\nallow-project=~\n");
  cbox_test_write_file (conf, "cbox.conf", conf_text);
  run_cbox (&f, &file, project, "plan", NULL);
  cbox_test_assert_status (&file, 0);
  g_assert_nonnull (strstr (file.out, "allowed by allow-project (from config)"));
  fixture_clear (&f);
}

static void
test_refuse_override_not_in_profile (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *profiles = NULL;
  g_autofree char *project = NULL;
  Fixture f;

  fixture_init (&f, "proj");
  profiles
      = g_build_filename (g_environ_getenv (f.env, "XDG_CONFIG_HOME"), "cbox", "profiles", NULL);
  cbox_test_write_file (profiles, "wide.conf", "[cbox]\nallow-project=~\n");
  project = g_strdup_printf ("--project=%s", f.home);
  run_cbox (&f, &result, "--profile=wide", project, "plan", NULL);
  cbox_test_assert_status (&result, 125);
  g_assert_nonnull (strstr (result.err, "not allowed in a profile"));
  fixture_clear (&f);
}

/* ---- item 5: symlinks ------------------------------------------------------------ */

static void
test_bind_symlink_shown (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *target = NULL;
  g_autofree char *link = NULL;
  g_autofree char *option = NULL;
  g_autofree char *line = NULL;
  g_autofree char *note = NULL;
  Fixture f;

  fixture_init (&f, "proj");
  target = g_build_filename (f.home, "data", NULL);
  g_assert_cmpint (g_mkdir (target, 0755), ==, 0);
  link = g_build_filename (f.project, "data-link", NULL);
  g_assert_cmpint (symlink (target, link), ==, 0);
  option = g_strdup_printf ("--bind=%s", link);
  run_cbox (&f, &result, option, "plan", NULL);
  cbox_test_assert_status (&result, 0);
  /* The plan binds the target, at the link's path, and says so. */
  line = g_strdup_printf ("%s <- %s", link, target);
  g_assert_nonnull (strstr (result.out, line));
  note = g_strdup_printf ("%s is a symbolic link to %s, which is bound", link, target);
  g_assert_nonnull (strstr (result.out, note));
  fixture_clear (&f);
}

static void
test_bind_symlink_refused (void)
{
  static const char *const options[] = { "--bind", "--ro-bind", "--copy" };
  g_autofree char *link = NULL;
  Fixture f;

  fixture_init (&f, "proj");
  link = g_build_filename (f.project, "innocent", NULL);
  g_assert_cmpint (symlink (f.home, link), ==, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (options); i++)
    {
      g_auto (CboxTestResult) result = { 0 };
      g_autofree char *option = g_strdup_printf ("%s=%s", options[i], link);
      run_cbox (&f, &result, option, "plan", NULL);
      assert_refused (&result, "it is your home folder, which cbox does not bind whole",
                      "a link to");
    }
  {
    /* From a configuration file as well. */
    g_auto (CboxTestResult) result = { 0 };
    g_autofree char *conf
        = g_build_filename (g_environ_getenv (f.env, "XDG_CONFIG_HOME"), "cbox", NULL);
    g_autofree char *text = g_strdup_printf ("[cbox]\nbind=%s\n", link);
    cbox_test_write_file (conf, "cbox.conf", text);
    run_cbox (&f, &result, "plan", NULL);
    assert_refused (&result, "--bind (from config): refusing", "your home folder");
  }
  {
    /* And from a profile. */
    g_auto (CboxTestResult) result = { 0 };
    g_autofree char *profiles
        = g_build_filename (g_environ_getenv (f.env, "XDG_CONFIG_HOME"), "cbox", "profiles", NULL);
    g_autofree char *text = g_strdup_printf ("[cbox]\nbind=%s\n", link);
    g_autofree char *conf
        = g_build_filename (g_environ_getenv (f.env, "XDG_CONFIG_HOME"), "cbox", "cbox.conf", NULL);
    g_assert_cmpint (g_unlink (conf), ==, 0);
    cbox_test_write_file (profiles, "linked.conf", text);
    run_cbox (&f, &result, "--profile=linked", "plan", NULL);
    assert_refused (&result, "--bind (from profile): refusing", "your home folder");
  }
  fixture_clear (&f);
}

/* An earlier run plants ~/.local/share -> a folder of the project; the
 * next run must not let the backend make its --dir through it. */
static void
test_persisted_planted_link (gconstpointer data)
{
  const char *backend = data;
  g_auto (CboxTestResult) plant = { 0 };
  g_auto (CboxTestResult) next = { 0 };
  g_autofree char *backend_option = g_strdup_printf ("--backend=%s", backend);
  g_autofree char *evil = NULL;
  g_autofree char *script = NULL;
  Fixture f;

  if (!cbox_test_require_backend (backend, NULL)
      || (g_str_equal (backend, "bwrap") && !require_bwrap ()))
    return;
  fixture_init (&f, "proj");
  evil = g_build_filename (f.project, "evil", NULL);
  script = g_strdup_printf ("rm -rf ~/.local/share && ln -s '%s' ~/.local/share", evil);
  run_cbox (&f, &plant, backend_option, "--profile=none", "run", "--", "sh", "-c", script, NULL);
  cbox_test_assert_status (&plant, 0);

  run_cbox (&f, &next, backend_option, "--profile=none", "run", "--", "true", NULL);
  assert_refused (&next, "holds a symbolic link", "--no-persist");
  g_assert_nonnull (strstr (next.err, "CVE-2024-42472"));
  /* Nothing was made through the link. */
  g_assert_false (g_file_test (evil, G_FILE_TEST_EXISTS));
  fixture_clear (&f);
}

/* ---- items 1 and 2: protected paths ----------------------------------------- */

/* Runs host git in @dir with a scratch environment (the fixture's home, no
 * system config); returns its exit status. */
static int host_git (Fixture *f, const char *dir, const char *first, ...) G_GNUC_NULL_TERMINATED;

static int
host_git (Fixture *f, const char *dir, const char *first, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_auto (GStrv) env = g_strdupv (f->env);
  g_autofree char *parent = g_path_get_dirname (f->project);
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int wait_status = 0;
  va_list ap;

  g_ptr_array_add (argv, (gpointer) "git");
  va_start (ap, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (argv, (gpointer)arg);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  env = g_environ_setenv (env, "GIT_CONFIG_NOSYSTEM", "1", TRUE);
  env = g_environ_setenv (env, "GIT_CEILING_DIRECTORIES", parent, TRUE);
  env = g_environ_setenv (env, "GIT_AUTHOR_NAME", "t", TRUE);
  env = g_environ_setenv (env, "GIT_AUTHOR_EMAIL", "t@example.invalid", TRUE);
  env = g_environ_setenv (env, "GIT_COMMITTER_NAME", "t", TRUE);
  env = g_environ_setenv (env, "GIT_COMMITTER_EMAIL", "t@example.invalid", TRUE);
  g_assert_true (g_spawn_sync (dir, (char **)argv->pdata, env, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               &out, &err, &wait_status, &error));
  g_test_message ("host git %s: %s%s", first, out, err);
  return WIFEXITED (wait_status) ? WEXITSTATUS (wait_status) : 128;
}

static char *
read_file (const char *path)
{
  char *content = NULL;
  g_assert_true (g_file_get_contents (path, &content, NULL, NULL));
  return content;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

/* The names in @dir, sorted, one per line. */
static char *
list_dir (const char *dir)
{
  g_autoptr (GDir) handle = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (handle);
  while ((name = g_dir_read_name (handle)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv ("\n", (char **)names->pdata);
}

static void
assert_in (const char *haystack, const char *needle)
{
  if (strstr (haystack, needle) == NULL)
    g_error ("expected '%s' in:\n%s", needle, haystack);
}

/* Every git payload of the issue, tried inside a real repository; normal
 * git work must keep working, and afterwards the host's git runs nothing
 * new. */
static void
test_protect_git (gconstpointer data)
{
  const char *backend = data;
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *backend_option = g_strdup_printf ("--backend=%s", backend);
  g_autofree char *marker = NULL;
  g_autofree char *config = NULL;
  g_autofree char *config_before = NULL;
  g_autofree char *config_after = NULL;
  g_autofree char *hooks = NULL;
  g_autofree char *hooks_before = NULL;
  g_autofree char *hooks_after = NULL;
  g_autofree char *info_before = NULL;
  g_autofree char *info_after = NULL;
  g_autofree char *info = NULL;
  g_autofree char *script = NULL;
  g_autofree char *git = NULL;
  Fixture f;

  if (!cbox_test_require_backend (backend, NULL)
      || (g_str_equal (backend, "bwrap") && !require_bwrap ()))
    return;
  git = cbox_test_require_program ("git");
  if (git == NULL)
    return;
  fixture_init (&f, "repo");
  marker = g_build_filename (f.home, "PWNED", NULL);
  g_assert_cmpint (host_git (&f, f.project, "init", "-q", "-b", "main", ".", NULL), ==, 0);
  cbox_test_write_file (f.project, "file", "one\n");
  g_assert_cmpint (host_git (&f, f.project, "add", "file", NULL), ==, 0);
  g_assert_cmpint (host_git (&f, f.project, "commit", "-q", "-m", "one", NULL), ==, 0);
  config = g_build_filename (f.project, ".git", "config", NULL);
  hooks = g_build_filename (f.project, ".git", "hooks", NULL);
  info = g_build_filename (f.project, ".git", "info", NULL);
  config_before = read_file (config);
  hooks_before = list_dir (hooks);
  info_before = list_dir (info);

  /* Each line an attack; `|| true` so that one refused does not stop the
   * next. Then the work an agent does with git, which must succeed. */
  script = g_strdup_printf (
      "export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t "
      "GIT_COMMITTER_EMAIL=t@example.invalid\n"
      "echo two >> file && git commit -q -am two && git branch side && git checkout -q side "
      "&& git checkout -q main && git log --oneline | wc -l && git diff HEAD~1 --stat | tail -1 "
      "|| exit 9\n"
      "git config core.fsmonitor 'touch %s' || true\n"
      "git config core.hooksPath .evil-hooks || true\n"
      "printf '#!/bin/sh\\ntouch %s\\n' > .git/hooks/post-checkout || true\n"
      "chmod +x .git/hooks/post-checkout || true\n"
      "echo '* filter=evil' > .git/info/attributes || true\n"
      "rm -rf .git/hooks || true\n"
      "mv .git .git-moved || true\n"
      "mv .git/hooks .git/hooks-moved || true\n"
      "mkdir -p .evil && printf '[core]\\n\\tfsmonitor = touch %s\\n' > .evil/config\n"
      "echo ../.evil > .git/commondir || true\n"
      "echo '[submodule \"x\"] path = x url = ext::sh' > .gitmodules || true\n",
      marker, marker, marker);
  run_cbox (&f, &result, backend_option, "--profile=none", "run", "--", "sh", "-c", script, NULL);
  cbox_test_assert_status (&result, 0);
  /* Normal work went through. */
  assert_in (result.out, "2\n");
  assert_in (result.out, "1 file changed");
  /* git's own message for the refused configuration write. */
  assert_in (result.err, "could not write config file .git/config");
  /* What could not be refused inside was moved aside after. */
  assert_in (result.err, ".git/commondir appeared during the run");
  assert_in (result.err, ".gitmodules appeared during the run");
  assert_in (result.err, "protected paths were moved aside");

  /* On the host: the same configuration, the same hooks, no redirection. */
  config_after = read_file (config);
  g_assert_cmpstr (config_after, ==, config_before);
  hooks_after = list_dir (hooks);
  g_assert_cmpstr (hooks_after, ==, hooks_before);
  info_after = list_dir (info);
  g_assert_cmpstr (info_after, ==, info_before);
  {
    g_autofree char *commondir = g_build_filename (f.project, ".git", "commondir", NULL);
    g_autofree char *gitmodules = g_build_filename (f.project, ".gitmodules", NULL);
    g_autofree char *moved = g_build_filename (f.project, ".git-moved", NULL);
    g_assert_false (g_file_test (commondir, G_FILE_TEST_EXISTS));
    g_assert_false (g_file_test (gitmodules, G_FILE_TEST_EXISTS));
    g_assert_false (g_file_test (moved, G_FILE_TEST_EXISTS));
  }
  /* The host's git runs nothing new: status (fsmonitor), checkout (the
   * post-checkout hook), and the hook path itself. */
  g_assert_cmpint (host_git (&f, f.project, "status", "--short", NULL), ==, 0);
  g_assert_cmpint (host_git (&f, f.project, "checkout", "-q", "side", NULL), ==, 0);
  g_assert_cmpint (host_git (&f, f.project, "checkout", "-q", "main", NULL), ==, 0);
  {
    g_autofree char *hook = g_build_filename (hooks, "post-checkout", NULL);
    g_assert_false (g_file_test (hook, G_FILE_TEST_EXISTS));
  }
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
  fixture_clear (&f);
}

/* The host's `git status` in the project also runs git in every submodule
 * that is checked out, with that repository's configuration: a repository
 * made inside and added (an embedded one), or a submodule's configuration
 * changed inside, would run its core.fsmonitor on the host. */
static void
test_protect_submodule (gconstpointer data)
{
  const char *backend = data;
  g_auto (CboxTestResult) attack = { 0 };
  g_auto (CboxTestResult) work = { 0 };
  g_autofree char *backend_option = g_strdup_printf ("--backend=%s", backend);
  g_autofree char *upstream = NULL;
  g_autofree char *marker = NULL;
  g_autofree char *script = NULL;
  g_autofree char *git = NULL;
  Fixture f;

  if (!cbox_test_require_backend (backend, NULL)
      || (g_str_equal (backend, "bwrap") && !require_bwrap ()))
    return;
  git = cbox_test_require_program ("git");
  if (git == NULL)
    return;
  fixture_init (&f, "repo");
  marker = g_build_filename (f.home, "PWNED", NULL);
  upstream = g_build_filename (f.home, "upstream", NULL);
  g_assert_cmpint (g_mkdir (upstream, 0755), ==, 0);
  g_assert_cmpint (host_git (&f, upstream, "init", "-q", "-b", "main", ".", NULL), ==, 0);
  cbox_test_write_file (upstream, "u", "u\n");
  g_assert_cmpint (host_git (&f, upstream, "add", "u", NULL), ==, 0);
  g_assert_cmpint (host_git (&f, upstream, "commit", "-q", "-m", "u", NULL), ==, 0);
  g_assert_cmpint (host_git (&f, f.project, "init", "-q", "-b", "main", ".", NULL), ==, 0);
  /* Two submodules checked out as git does it (.git/modules/NAME). */
  g_assert_cmpint (host_git (&f, f.project, "-c", "protocol.file.allow=always", "submodule", "-q",
                             "add", upstream, "attacked", NULL),
                   ==, 0);
  g_assert_cmpint (host_git (&f, f.project, "-c", "protocol.file.allow=always", "submodule", "-q",
                             "add", upstream, "worked", NULL),
                   ==, 0);
  g_assert_cmpint (host_git (&f, f.project, "commit", "-q", "-m", "subs", NULL), ==, 0);
  {
    /* cbox plan says so. */
    g_auto (CboxTestResult) plan = { 0 };
    run_cbox (&f, &plan, backend_option, "--profile=none", "plan", NULL);
    cbox_test_assert_status (&plan, 0);
    assert_in (plan.out, "after the run, its submodules and linked worktrees");
  }

  script = g_strdup_printf (
      "export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t "
      "GIT_COMMITTER_EMAIL=t@example.invalid\n"
      "mkdir embedded && cd embedded && git init -q && echo e > e && git add e "
      "&& git commit -q -m e && git config core.fsmonitor 'touch %s; false' && cd .. "
      "&& git add embedded 2>/dev/null && git commit -q -m embedded || exit 9\n"
      "printf '[core]\\n\\tfsmonitor = touch %s; false\\n' >> .git/modules/attacked/config "
      "|| exit 8\n",
      marker, marker);
  run_cbox (&f, &attack, backend_option, "--profile=none", "run", "--", "sh", "-c", script, NULL);
  cbox_test_assert_status (&attack, 0);
  assert_in (attack.err, "/embedded/.git, a repository the host's git enters");
  assert_in (attack.err, "/attacked/.git, a repository the host's git enters");
  assert_in (attack.err, "2 protected paths were moved aside");
  {
    g_autofree char *embedded = g_build_filename (f.project, "embedded", ".git", NULL);
    g_autofree char *attacked = g_build_filename (f.project, "attacked", ".git", NULL);
    g_assert_false (g_file_test (embedded, G_FILE_TEST_EXISTS));
    g_assert_false (g_file_test (attacked, G_FILE_TEST_EXISTS));
  }
  /* The host's git, in the project, enters neither. */
  g_assert_cmpint (host_git (&f, f.project, "status", NULL), ==, 0);
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));

  /* Ordinary work in a submodule is left as it is. */
  run_cbox (&f, &work, backend_option, "--profile=none", "run", "--", "sh", "-c",
            "export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t "
            "GIT_COMMITTER_EMAIL=t@example.invalid\n"
            "cd worked && echo v >> u && git commit -q -a -m work && git log --oneline | wc -l",
            NULL);
  cbox_test_assert_status (&work, 0);
  g_assert_cmpstr (work.out, ==, "2\n");
  g_assert_null (strstr (work.err, "moved aside"));
  {
    g_autofree char *worked = g_build_filename (f.project, "worked", ".git", NULL);
    g_assert_true (g_file_test (worked, G_FILE_TEST_IS_REGULAR));
  }
  fixture_clear (&f);
}

/* A linked worktree outside the project (`git worktree add ../wt`) reads
 * .git/worktrees/wt/commondir, inside the writable `.git`, to find its
 * configuration: pointed at a folder the sandbox wrote, the host's git in
 * ../wt would run that folder's core.fsmonitor. */
static void
test_protect_worktree (gconstpointer data)
{
  const char *backend = data;
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *backend_option = g_strdup_printf ("--backend=%s", backend);
  g_autofree char *linked = NULL;
  g_autofree char *inner = NULL;
  g_autofree char *marker = NULL;
  g_autofree char *script = NULL;
  g_autofree char *git = NULL;
  Fixture f;

  if (!cbox_test_require_backend (backend, NULL)
      || (g_str_equal (backend, "bwrap") && !require_bwrap ()))
    return;
  git = cbox_test_require_program ("git");
  if (git == NULL)
    return;
  fixture_init (&f, "repo");
  marker = g_build_filename (f.home, "PWNED", NULL);
  linked = g_build_filename (f.home, "linked", NULL);
  inner = g_build_filename (f.project, "inner", NULL);
  g_assert_cmpint (host_git (&f, f.project, "init", "-q", "-b", "main", ".", NULL), ==, 0);
  cbox_test_write_file (f.project, "file", "one\n");
  g_assert_cmpint (host_git (&f, f.project, "add", "file", NULL), ==, 0);
  g_assert_cmpint (host_git (&f, f.project, "commit", "-q", "-m", "one", NULL), ==, 0);
  g_assert_cmpint (host_git (&f, f.project, "worktree", "add", "-q", "-b", "side", linked, NULL),
                   ==, 0);

  script = g_strdup_printf (
      "export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t "
      "GIT_COMMITTER_EMAIL=t@example.invalid\n"
      "mkdir -p .evil && cp -r .git/objects .git/refs .git/HEAD .evil/ "
      "&& printf '[core]\\n\\tfsmonitor = touch %s; false\\n' > .evil/config "
      "&& echo ../../../.evil > .git/worktrees/linked/commondir || exit 9\n"
      /* A worktree made inside, as git makes it, is ordinary work. */
      "git worktree add -q -b inner inner || exit 8\n",
      marker);
  run_cbox (&f, &result, backend_option, "--profile=none", "run", "--", "sh", "-c", script, NULL);
  cbox_test_assert_status (&result, 0);
  assert_in (result.err, "/.git/worktrees/linked/commondir, where a linked worktree's git");
  assert_in (result.err, "1 protected path was moved aside");
  /* The host's git in the linked worktree runs nothing (it finds no
   * repository until the user puts commondir back); the worktree made
   * inside works on the host. */
  host_git (&f, linked, "status", NULL);
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
  g_assert_cmpint (host_git (&f, inner, "status", "--short", NULL), ==, 0);
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
  fixture_clear (&f);
}

/* The names below @dir, recursively, sorted, one per line. */
static void
list_tree_into (const char *dir, const char *prefix, GPtrArray *names)
{
  g_autoptr (GDir) handle = g_dir_open (dir, 0, NULL);
  const char *name;

  g_assert_nonnull (handle);
  while ((name = g_dir_read_name (handle)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *shown = g_strconcat (prefix, name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
        {
          g_autofree char *sub = g_strconcat (shown, "/", NULL);
          list_tree_into (path, sub, names);
        }
      g_ptr_array_add (names, g_steal_pointer (&shown));
    }
}

static char *
list_tree (const char *dir)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  list_tree_into (dir, "", names);
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv ("\n", (char **)names->pdata);
}

/* Protected paths that do not exist are checked after the run, never
 * mounted: a run that writes nothing leaves nothing (a mount point made
 * on the host would be an empty .envrc or .git/hooks). The folders on
 * their way (.git, .claude) exist and are pinned. */
static void
test_protect_no_litter (gconstpointer data)
{
  const char *backend = data;
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *backend_option = g_strdup_printf ("--backend=%s", backend);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  Fixture f;

  if (!cbox_test_require_backend (backend, NULL)
      || (g_str_equal (backend, "bwrap") && !require_bwrap ()))
    return;
  fixture_init (&f, "proj");
  cbox_test_write_file (f.project, ".git/HEAD", "ref: refs/heads/main\n");
  cbox_test_write_file (f.project, ".claude/notes", "mine\n");
  cbox_test_write_file (f.project, "file", "one\n");
  before = list_tree (f.project);
  run_cbox (&f, &result, backend_option, "--profile=none", "run", "--", "true", NULL);
  cbox_test_assert_status (&result, 0);
  g_assert_null (strstr (result.err, "moved aside"));
  after = list_tree (f.project);
  g_assert_cmpstr (after, ==, before);
  fixture_clear (&f);
}

/* The sandbox takes the write permission off the folders it wrote in
 * (the user owns them), so that cbox, run by that user, could not rename
 * anything there: cbox gives it back for the rename, and the mode after. */
static void
test_protect_read_only_folder (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *claude = NULL;
  g_autofree char *envrc = NULL;
  g_autofree char *settings = NULL;
  struct stat st;
  Fixture f;

  if (!require_bwrap ())
    return;
  fixture_init (&f, "proj");
  claude = g_build_filename (f.project, ".claude", NULL);
  envrc = g_build_filename (f.project, ".envrc", NULL);
  settings = g_build_filename (claude, "settings.json", NULL);
  run_cbox (&f, &result, "--profile=none", "run", "--", "sh", "-c",
            "echo 'touch $HOME/PWNED' > .envrc && mkdir .claude && echo '{}' > "
            ".claude/settings.json && chmod 555 .claude . && echo planted",
            NULL);
  cbox_test_assert_status (&result, 0);
  assert_in (result.out, "planted");
  assert_in (result.err, "the run ended (status 0); 2 protected paths were moved aside");
  g_assert_null (strstr (result.err, "could NOT be"));
  g_assert_false (g_file_test (envrc, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (settings, G_FILE_TEST_EXISTS));
  /* The folders keep the mode the run gave them. */
  g_assert_cmpint (stat (f.project, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0555);
  g_assert_cmpint (stat (claude, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0555);
  g_assert_cmpint (g_chmod (claude, 0755), ==, 0);
  g_assert_cmpint (g_chmod (f.project, 0755), ==, 0);
  fixture_clear (&f);
}

/* A writable bind nested in another (--bind=proj/sub:/data) is no mount
 * point at its own path inside: the sandbox renames it and leaves a link
 * to the home there. The check after the run must look at the folder that
 * was bound, never where the link leads: else it would move the host's
 * ~/.bashrc aside and put the bind's (planted by an earlier run) there. */
static void
test_protect_bind_moved (void)
{
  g_auto (CboxTestResult) plant = { 0 };
  g_auto (CboxTestResult) swap = { 0 };
  g_autofree char *bashrc = NULL;
  g_autofree char *bashrc_after = NULL;
  g_autofree char *listing = NULL;
  g_autofree char *bind = NULL;
  g_autofree char *script = NULL;
  Fixture f;

  if (!require_bwrap ())
    return;
  fixture_init (&f, "proj");
  cbox_test_write_file (f.home, ".bashrc", "# the user's own\n");
  bashrc = g_build_filename (f.home, ".bashrc", NULL);
  run_cbox (&f, &plant, "--profile=none", "run", "--", "sh", "-c",
            "mkdir sub && echo 'touch $HOME/PWNED' > sub/.bashrc", NULL);
  cbox_test_assert_status (&plant, 0);

  bind = g_strdup_printf ("--bind=%s/sub:/data", f.project);
  script = g_strdup_printf (
      "mv sub sub.old && ln -s '%s' sub && echo '# replaced' > sub.old/.envrc", f.home);
  run_cbox (&f, &swap, bind, "--profile=none", "run", "--", "sh", "-c", script, NULL);
  cbox_test_assert_status (&swap, 0);
  assert_in (swap.err, "/sub, a folder bound writable, was moved or replaced during the run");
  /* The host's file is as it was; nothing was moved aside in the home. */
  bashrc_after = read_file (bashrc);
  g_assert_cmpstr (bashrc_after, ==, "# the user's own\n");
  listing = list_dir (f.home);
  g_assert_null (strstr (listing, "cbox-quarantine"));
  /* What appeared in the bound folder itself was still moved aside. */
  assert_in (swap.err, "/sub/.envrc appeared during the run");
  {
    g_autofree char *old = g_build_filename (f.project, "sub.old", NULL);
    g_autofree char *old_listing = list_dir (old);
    assert_in (old_listing, ".envrc.cbox-quarantine-");
  }
  fixture_clear (&f);
}

/* Files that do not exist yet: made inside, gone from their names after,
 * and the user told. */
static void
test_protect_created (gconstpointer data)
{
  const char *backend = data;
  static const char *const paths[]
      = { ".envrc",         ".vscode", ".mcp.json", ".claude/settings.json",
          ".claude/skills", ".idea",   ".husky" };
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *backend_option = g_strdup_printf ("--backend=%s", backend);
  Fixture f;

  if (!cbox_test_require_backend (backend, NULL)
      || (g_str_equal (backend, "bwrap") && !require_bwrap ()))
    return;
  fixture_init (&f, "proj");
  run_cbox (&f, &result, backend_option, "--profile=none", "run", "--", "sh", "-c",
            "echo 'touch $HOME/PWNED' > .envrc && mkdir -p .vscode .claude .idea .husky "
            "&& echo '{}' > .vscode/settings.json && echo '{}' > .mcp.json "
            "&& echo '{\"hooks\":{}}' > .claude/settings.json && mkdir -p .claude/skills/x "
            "&& echo x > .claude/skills/x/SKILL.md && echo ok > kept && exit 3",
            NULL);
  /* The command's status stays the run's. */
  cbox_test_assert_status (&result, 3);
  assert_in (result.err, "the run ended (status 3); 7 protected paths were moved aside");
  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autofree char *path = g_build_filename (f.project, paths[i], NULL);
      g_autofree char *message = g_strdup_printf ("%s appeared during the run", path);
      g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
      assert_in (result.err, message);
    }
  {
    /* Moved aside, not deleted: the user can look; other files stay. */
    g_autofree char *listing = list_dir (f.project);
    g_autofree char *claude = g_build_filename (f.project, ".claude", NULL);
    g_autofree char *claude_listing = list_dir (claude);
    assert_in (listing, ".envrc.cbox-quarantine-");
    assert_in (listing, ".vscode.cbox-quarantine-");
    assert_in (listing, "kept");
    assert_in (claude_listing, "settings.json.cbox-quarantine-");
  }
  fixture_clear (&f);
}

/* A link or file put on the way: `.claude -> folder with settings`, `.git`
 * as a "gitdir:" file pointing at a configuration the sandbox wrote. */
static void
test_protect_redirect (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *marker = NULL;
  g_autofree char *script = NULL;
  g_autofree char *git = NULL;
  Fixture f;

  if (!require_bwrap ())
    return;
  git = cbox_test_require_program ("git");
  if (git == NULL)
    return;
  fixture_init (&f, "proj");
  marker = g_build_filename (f.home, "PWNED", NULL);
  script = g_strdup_printf (
      "mkdir -p evil/hooks evil/objects evil/refs && echo 'ref: refs/heads/main' > evil/HEAD "
      "&& printf '[core]\\n\\trepositoryformatversion = 0\\n\\tfsmonitor = touch %s\\n' > "
      "evil/config && echo 'gitdir: evil' > .git "
      "&& mkdir -p settings && echo '{}' > settings/settings.json && ln -s settings .claude",
      marker);
  run_cbox (&f, &result, "--profile=none", "run", "--", "sh", "-c", script, NULL);
  cbox_test_assert_status (&result, 0);
  assert_in (result.err, "/.git appeared on the way to it");
  assert_in (result.err, "/.claude appeared on the way to it");
  {
    g_autofree char *dot_git = g_build_filename (f.project, ".git", NULL);
    g_autofree char *dot_claude = g_build_filename (f.project, ".claude", NULL);
    g_assert_false (g_file_test (dot_git, G_FILE_TEST_EXISTS));
    g_assert_false (g_file_test (dot_claude, G_FILE_TEST_EXISTS));
  }
  /* Not a repository any more: the host's git finds nothing to run. */
  g_assert_cmpint (host_git (&f, f.project, "status", NULL), !=, 0);
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
  fixture_clear (&f);
}

/* protect= and unprotect= from files and profiles; the plan shows who. */
static void
test_protect_config (void)
{
  g_auto (CboxTestResult) plan = { 0 };
  g_auto (CboxTestResult) json = { 0 };
  g_autofree char *conf = NULL;
  g_autofree char *profiles = NULL;
  g_autofree char *line = NULL;
  Fixture f;

  fixture_init (&f, "proj");
  cbox_test_write_file (f.project, "secret-tool.sh", "true\n");
  conf = g_build_filename (g_environ_getenv (f.env, "XDG_CONFIG_HOME"), "cbox", NULL);
  cbox_test_write_file (conf, "cbox.conf", "[cbox]\nprotect=secret-tool.sh\nunprotect=.idea\n");
  profiles = g_build_filename (conf, "profiles", NULL);
  cbox_test_write_file (profiles, "p.conf", "[cbox]\nprotect=Makefile\nunprotect=.envrc\n");
  run_cbox (&f, &plan, "--profile=p", "plan", NULL);
  cbox_test_assert_status (&plan, 0);
  line = g_strdup_printf ("read-only %s/secret-tool.sh", f.project);
  assert_in (plan.out, line);
  assert_in (plan.out, "[config: secret-tool.sh]");
  assert_in (plan.out, "[profile: Makefile]");
  /* Missing built-in entries are counted in the text, listed in JSON. */
  assert_in (plan.out, "more of the built-in list, missing");

  run_cbox (&f, &json, "--profile=p", "plan", "--json", NULL);
  cbox_test_assert_status (&json, 0);
  assert_in (json.out, "\"protected\"");
  assert_in (json.out, "\"entry\" : \"secret-tool.sh\"");
  assert_in (json.out, "\"how\" : \"read-only\"");
  assert_in (json.out, "\"how\" : \"checked\"");
  assert_in (json.out, "\"origin\" : \"config\"");
  assert_in (json.out, "\"origin\" : \"profile\"");
  assert_in (json.out, "\"origin\" : \"default\"");
  assert_in (json.out, "\"entry\" : \".vscode\"");
  assert_in (json.out, "\"entry\" : \"Makefile\"");
  /* Taken out by unprotect, in a file and in a profile. */
  g_assert_null (strstr (json.out, "\"entry\" : \".idea\""));
  g_assert_null (strstr (json.out, "\"entry\" : \".envrc\""));

  {
    g_auto (CboxTestResult) bad = { 0 };
    cbox_test_write_file (conf, "cbox.conf", "[cbox]\nprotect=../outside\n");
    run_cbox (&f, &bad, "plan", NULL);
    cbox_test_assert_status (&bad, 125);
    assert_in (bad.err, "is not a protected path");
  }
  fixture_clear (&f);
}

/* A writable bind at or inside a protected path would undo it. */
static void
test_protect_bind_inside (void)
{
  g_autofree char *hooks = NULL;
  g_autofree char *other = NULL;
  Fixture f;

  fixture_init (&f, "proj");
  hooks = g_build_filename (f.project, ".git", "hooks", NULL);
  g_assert_cmpint (g_mkdir_with_parents (hooks, 0755), ==, 0);
  other = g_strdup_printf ("--bind=%s:/elsewhere", hooks);
  {
    g_auto (CboxTestResult) result = { 0 };
    run_cbox (&f, &result, other, "plan", NULL);
    assert_refused (&result, "inside the protected path .git/hooks (from default)",
                    "unprotect=.git/hooks");
  }
  {
    /* Through a link planted in the project: the resolved source counts. */
    g_auto (CboxTestResult) result = { 0 };
    g_autofree char *link = g_build_filename (f.project, "tools", NULL);
    g_autofree char *option = NULL;
    g_assert_cmpint (symlink (".git/hooks", link), ==, 0);
    option = g_strdup_printf ("--bind=%s:/elsewhere", link);
    run_cbox (&f, &result, option, "plan", NULL);
    assert_refused (&result, "inside the protected path .git/hooks (from default)",
                    "unprotect=.git/hooks");
  }
  {
    /* Read-only, it is harmless. */
    g_auto (CboxTestResult) result = { 0 };
    g_autofree char *ro = g_strdup_printf ("--ro-bind=%s:/elsewhere", hooks);
    run_cbox (&f, &result, ro, "plan", NULL);
    cbox_test_assert_status (&result, 0);
  }
  fixture_clear (&f);
}

/* ---- item 3: the claude profile's ~/.claude and ~/.claude.json ----------- */

/* What the host's claude obeys stays as it was; the login is writable;
 * only this project's transcripts are there; ~/.claude.json is kept per
 * project and never written back. The command stands in for claude: it
 * writes ~/.claude.json the way claude does (a temporary file beside the
 * file the link leads to, renamed over it). */
static void
test_claude_home (gconstpointer data)
{
  const char *backend = data;
  g_autofree char *backend_option = g_strdup_printf ("--backend=%s", backend);
  g_auto (CboxTestResult) first = { 0 };
  g_auto (CboxTestResult) second = { 0 };
  g_auto (CboxTestResult) other = { 0 };
  g_autofree char *claude = NULL;
  g_autofree char *settings = NULL;
  g_autofree char *settings_before = NULL;
  g_autofree char *settings_after = NULL;
  g_autofree char *json = NULL;
  g_autofree char *json_after = NULL;
  g_autofree char *other_project = NULL;
  g_autofree char *other_option = NULL;
  g_autofree char *own_name = NULL;
  g_autofree char *listing = NULL;
  Fixture f;

  if (!cbox_test_require_backend (backend, NULL)
      || (g_str_equal (backend, "bwrap") && !require_bwrap ()))
    return;
  fixture_init (&f, "my_proj.x");
  claude = g_build_filename (f.home, ".claude", NULL);
  cbox_test_write_file (claude, "settings.json", "{\"model\":\"opus\"}\n");
  cbox_test_write_file (claude, "projects/-elsewhere-secret/t.jsonl", "other project\n");
  cbox_test_write_file (f.home, ".claude.json", "{\"numStartups\":1}\n");
  settings = g_build_filename (claude, "settings.json", NULL);
  json = g_build_filename (f.home, ".claude.json", NULL);
  settings_before = read_file (settings);

  run_cbox (
      &f, &first, backend_option, "--profile=claude", "run", "--", "sh", "-c",
      "ls ~/.claude/projects; "
      "echo '{\"hooks\":{\"SessionStart\":[{\"hooks\":[{\"type\":\"command\",\"command\":\"touch "
      "/tmp/x\"}]}]}}' > ~/.claude/settings.json || echo settings-refused; "
      "echo evil > ~/.claude/commands/x.md || echo commands-refused; "
      "mkdir ~/.claude/hooks/x || echo hooks-refused; "
      "mkdir -p ~/.claude/skills/x || echo skills-refused; "
      "echo login > ~/.claude/.credentials.json && echo login-written; "
      "echo mine > ~/.claude/CLAUDE.md; "
      "cat ~/.claude.json; target=$(readlink -f ~/.claude.json); "
      "echo '{\"numStartups\":2,\"projects\":{\"trusted\":true}}' > \"$target.tmp.1\" "
      "&& mv \"$target.tmp.1\" \"$target\" && echo saved",
      NULL);
  cbox_test_assert_status (&first, 0);
  own_name = cbox_planner_project_folder_name (f.project);
  g_assert_nonnull (own_name);
  {
    /* Only this project's folder of projects/. */
    g_autofree char *expected = g_strdup_printf ("%s\n", own_name);
    g_assert_true (g_str_has_prefix (first.out, expected));
  }
  assert_in (first.out, "settings-refused");
  assert_in (first.out, "commands-refused");
  assert_in (first.out, "hooks-refused");
  assert_in (first.out, "skills-refused");
  assert_in (first.out, "login-written");
  assert_in (first.out, "{\"numStartups\":1}\nsaved");
  assert_in (first.err, "CLAUDE.md appeared during the run");

  /* The host's settings are byte-identical; the login went through;
   * the other project's transcripts were never shown (their folder is
   * there, untouched), this project's folder was made. */
  settings_after = read_file (settings);
  g_assert_cmpstr (settings_after, ==, settings_before);
  {
    g_autofree char *creds = g_build_filename (claude, ".credentials.json", NULL);
    g_autofree char *creds_text = read_file (creds);
    g_autofree char *commands = g_build_filename (claude, "commands", NULL);
    g_autofree char *commands_listing = list_dir (commands);
    g_autofree char *projects = g_build_filename (claude, "projects", NULL);
    g_assert_cmpstr (creds_text, ==, "login\n");
    g_assert_cmpstr (commands_listing, ==, "");
    listing = list_dir (projects);
    g_assert_nonnull (strstr (listing, own_name));
    g_assert_nonnull (strstr (listing, "-elsewhere-secret"));
  }
  /* ~/.claude.json: the host's is untouched ... */
  json_after = read_file (json);
  g_assert_cmpstr (json_after, ==, "{\"numStartups\":1}\n");
  /* ... the next run of the same project has what the first saved ... */
  run_cbox (&f, &second, backend_option, "--profile=claude", "run", "--", "cat", json, NULL);
  cbox_test_assert_status (&second, 0);
  g_assert_cmpstr (second.out, ==, "{\"numStartups\":2,\"projects\":{\"trusted\":true}}\n");
  /* ... and another project starts from the host's. */
  other_project = g_build_filename (f.home, "other", NULL);
  g_assert_cmpint (g_mkdir (other_project, 0755), ==, 0);
  other_option = g_strdup_printf ("--project=%s", other_project);
  run_cbox (&f, &other, backend_option, other_option, "--profile=claude", "run", "--", "cat", json,
            NULL);
  cbox_test_assert_status (&other, 0);
  g_assert_cmpstr (other.out, ==, "{\"numStartups\":1}\n");
  fixture_clear (&f);
}

static void
test_claude_folder_name (void)
{
  g_autofree char *plain = cbox_planner_project_folder_name ("/home/ada/my_proj.v2");
  g_autofree char *wide = cbox_planner_project_folder_name ("/h/\xc3\xa9\xf0\x9f\x98\x80");
  g_autofree char *longer = g_strnfill (201, 'a');
  g_autofree char *too_long = cbox_planner_project_folder_name (longer);

  g_assert_cmpstr (plain, ==, "-home-ada-my-proj-v2");
  /* One '-' per UTF-16 unit: é is one, an emoji two. */
  g_assert_cmpstr (wide, ==, "-h----");
  g_assert_null (too_long);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/writes/project/refuse-home", test_refuse_home);
  g_test_add_func ("/writes/project/refuse-system", test_refuse_system);
  g_test_add_func ("/writes/project/override", test_refuse_override);
  g_test_add_func ("/writes/project/refuse-path-dir", test_refuse_path_dir);
  g_test_add_func ("/writes/project/override-not-in-profile", test_refuse_override_not_in_profile);
  g_test_add_func ("/writes/bind/symlink-shown", test_bind_symlink_shown);
  g_test_add_func ("/writes/bind/symlink-to-home-refused", test_bind_symlink_refused);
  g_test_add_data_func ("/writes/persisted/planted-link/bwrap", "bwrap",
                        test_persisted_planted_link);
  g_test_add_data_func ("/writes/persisted/planted-link/nspawn", "nspawn",
                        test_persisted_planted_link);
  g_test_add_data_func ("/writes/persisted/planted-link/qemu", "qemu", test_persisted_planted_link);
  g_test_add_data_func ("/writes/protect/git/bwrap", "bwrap", test_protect_git);
  g_test_add_data_func ("/writes/protect/git/nspawn", "nspawn", test_protect_git);
  /* Under TCG a VM takes a while (about 10 s a run here): qemu gets the
   * tests whose realization differs (shares, bound copies, the link to
   * /run/cbox-files), not the plan-only ones. */
  g_test_add_data_func ("/writes/protect/git/qemu", "qemu", test_protect_git);
  g_test_add_data_func ("/writes/protect/submodule/bwrap", "bwrap", test_protect_submodule);
  g_test_add_data_func ("/writes/protect/submodule/nspawn", "nspawn", test_protect_submodule);
  g_test_add_data_func ("/writes/protect/worktree/bwrap", "bwrap", test_protect_worktree);
  g_test_add_data_func ("/writes/protect/worktree/nspawn", "nspawn", test_protect_worktree);
  g_test_add_data_func ("/writes/protect/no-litter/bwrap", "bwrap", test_protect_no_litter);
  g_test_add_data_func ("/writes/protect/no-litter/nspawn", "nspawn", test_protect_no_litter);
  g_test_add_data_func ("/writes/protect/no-litter/qemu", "qemu", test_protect_no_litter);
  g_test_add_data_func ("/writes/protect/created/bwrap", "bwrap", test_protect_created);
  g_test_add_data_func ("/writes/protect/created/nspawn", "nspawn", test_protect_created);
  g_test_add_data_func ("/writes/protect/created/qemu", "qemu", test_protect_created);
  g_test_add_func ("/writes/protect/redirect", test_protect_redirect);
  g_test_add_func ("/writes/protect/bind-moved", test_protect_bind_moved);
  g_test_add_func ("/writes/protect/read-only-folder", test_protect_read_only_folder);
  g_test_add_func ("/writes/protect/config", test_protect_config);
  g_test_add_func ("/writes/protect/bind-inside-refused", test_protect_bind_inside);
  g_test_add_data_func ("/writes/claude/home/bwrap", "bwrap", test_claude_home);
  g_test_add_data_func ("/writes/claude/home/nspawn", "nspawn", test_claude_home);
  g_test_add_data_func ("/writes/claude/home/qemu", "qemu", test_claude_home);
  g_test_add_func ("/writes/claude/folder-name", test_claude_folder_name);
  return g_test_run ();
}

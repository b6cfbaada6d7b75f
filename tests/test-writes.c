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
#include <unistd.h>

#include <glib/gstdio.h>

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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/writes/project/refuse-home", test_refuse_home);
  g_test_add_func ("/writes/project/refuse-system", test_refuse_system);
  g_test_add_func ("/writes/project/override", test_refuse_override);
  g_test_add_func ("/writes/project/override-not-in-profile", test_refuse_override_not_in_profile);
  g_test_add_func ("/writes/bind/symlink-shown", test_bind_symlink_shown);
  g_test_add_func ("/writes/bind/symlink-to-home-refused", test_bind_symlink_refused);
  g_test_add_data_func ("/writes/persisted/planted-link/bwrap", "bwrap",
                        test_persisted_planted_link);
  g_test_add_data_func ("/writes/persisted/planted-link/nspawn", "nspawn",
                        test_persisted_planted_link);
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* What a third party gets: cbox-plugin.pc, the installed headers, and the
 * example plugin in examples/hello-forwarder/ built out of tree with meson
 * (against the uninstalled .pc), with plain cc + pkg-config, and against a
 * `meson install --destdir` staging of this build. Each resulting .so is
 * loaded by the registry and called. */

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "cbox-private.h"
#include "cbox-registry.h"
#include "cbox-test-util.h"

static char *
build_root (void)
{
  return g_test_build_filename (G_TEST_BUILT, "..", NULL);
}

static char *
source_root (void)
{
  return g_test_build_filename (G_TEST_DIST, "..", NULL);
}

static char *
example_dir (void)
{
  g_autofree char *src = source_root ();
  return g_build_filename (src, "examples", "hello-forwarder", NULL);
}

/* Runs @argv with @envp (NULL: inherited) and fails the test, showing
 * the output, when it does not exit 0. */
static void
run_ok (const char *const *argv, const char *const *envp, char **ret_stdout)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  int status;

  g_spawn_sync (NULL, (char **)argv, (char **)envp, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed (status %d)\n--- stdout:\n%s\n--- stderr:\n%s", argv[0], status, out, err);
  if (ret_stdout != NULL)
    *ret_stdout = g_strchomp (g_steal_pointer (&out));
}

/* Loads @dir and checks that the hello forwarder found there works. */
static void
assert_hello_works (const char *dir)
{
  g_autoptr (CboxRegistry) registry = cbox_registry_new ();
  CboxPluginInfo *info;
  const CboxPluginDesc *desc;
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxContext) empty_ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxProbeResult) empty_result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  const CboxMount *mount;

  cbox_registry_load_dir (registry, dir);
  g_assert_cmpuint (cbox_registry_get_n_plugins (registry), ==, 1);
  info = cbox_registry_get_plugin (registry, 0);
  g_assert_no_error (cbox_plugin_info_get_error (info));
  desc = cbox_plugin_info_get_desc (info);
  g_assert_cmpstr (desc->name, ==, "hello");
  g_assert_cmpint (desc->kind, ==, CBOX_PLUGIN_KIND_FORWARDER);
  g_assert_cmpuint (desc->abi_major, ==, CBOX_ABI_MAJOR);

  g_key_file_set_string (config, "hello", "greeting", "hi there");
  ctx = cbox_context_new (host, config, "hello");
  g_assert_true (desc->forwarder->probe (ctx, result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cbox_probe_result_get_status (result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_true (desc->forwarder->contribute (ctx, plan, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (cbox_plan_get_env (plan, "CBOX_HELLO"), ==, "hi there");
  mount = cbox_plan_find_mount (plan, "/etc/cbox-hello");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DATA);

  g_key_file_set_string (config, "hello", "greeting", "");
  empty_ctx = cbox_context_new (host, config, "hello");
  g_assert_true (desc->forwarder->probe (empty_ctx, empty_result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cbox_probe_result_get_status (empty_result), ==, CBOX_PROBE_UNAVAILABLE);
}

static char **
pkg_config_environ (const char *path_var, const char *path)
{
  char **envp = g_get_environ ();

  envp = g_environ_setenv (envp, path_var, path, TRUE);
  return envp;
}

/* meson setup + ninja in a scratch folder, with PKG_CONFIG_PATH at this
 * build's meson-uninstalled/. */
static void
test_meson_uninstalled (void)
{
  g_autofree char *meson = cbox_test_require_program ("meson");
  g_autofree char *ninja = NULL;
  g_autofree char *root = build_root ();
  g_autofree char *pc_dir = g_build_filename (root, "meson-uninstalled", NULL);
  g_autofree char *scratch = cbox_test_make_dir ("hello meson");
  g_autofree char *builddir = g_build_filename (scratch, "build", NULL);
  g_autofree char *src = example_dir ();
  g_auto (GStrv) envp = pkg_config_environ ("PKG_CONFIG_PATH", pc_dir);

  if (meson == NULL)
    return;
  ninja = cbox_test_require_program ("ninja");
  if (ninja == NULL)
    return;
  {
    const char *setup[] = { meson, "setup", "-Dwerror=true", builddir, src, NULL };
    const char *compile[] = { ninja, "-C", builddir, NULL };
    run_ok (setup, (const char *const *)envp, NULL);
    run_ok (compile, (const char *const *)envp, NULL);
  }
  assert_hello_works (builddir);

  /* The example's own `meson test`: this build's cbox (first on PATH) with
   * the test backend from testpluginsdir of the uninstalled .pc. */
  {
    g_autofree char *core = g_build_filename (root, "core", NULL);
    g_autofree char *path = g_strconcat (core, ":", g_environ_getenv (envp, "PATH"), NULL);
    g_autofree char *list = NULL;
    const char *setup[] = { meson, "setup", "--reconfigure", builddir, src, NULL };
    const char *list_tests[] = { meson, "test", "-C", builddir, "--list", NULL };
    const char *test[] = { meson, "test", "-C", builddir, "--print-errorlogs", NULL };

    envp = g_environ_setenv (envp, "PATH", path, TRUE);
    run_ok (setup, (const char *const *)envp, NULL);
    run_ok (list_tests, (const char *const *)envp, &list);
    g_assert_nonnull (strstr (list, "hello"));
    run_ok (test, (const char *const *)envp, NULL);
  }
}

/* The smallest build a plugin can have: one cc line. */
static void
test_cc_uninstalled (void)
{
  g_autofree char *cc = cbox_test_require_program ("cc");
  g_autofree char *pkg_config = NULL;
  g_autofree char *root = build_root ();
  g_autofree char *pc_dir = g_build_filename (root, "meson-uninstalled", NULL);
  g_autofree char *scratch = cbox_test_make_dir ("hello cc");
  g_autofree char *src = example_dir ();
  g_autofree char *source = g_build_filename (src, "cbox-hello-plugin.c", NULL);
  g_autofree char *output = g_build_filename (scratch, "libcbox-hello.so", NULL);
  g_autofree char *flags = NULL;
  g_auto (GStrv) envp = pkg_config_environ ("PKG_CONFIG_PATH", pc_dir);
  g_auto (GStrv) flag_words = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;

  if (cc == NULL)
    return;
  pkg_config = cbox_test_require_program ("pkg-config");
  if (pkg_config == NULL)
    return;
  {
    const char *query[] = { pkg_config, "--cflags", "--libs", "cbox-plugin", NULL };
    run_ok (query, (const char *const *)envp, &flags);
  }
  /* pkg-config quotes as a shell would (the scratch path has a space). */
  g_shell_parse_argv (flags, NULL, &flag_words, &error);
  g_assert_no_error (error);
  g_ptr_array_add (argv, cc);
  g_ptr_array_add (argv, (char *)"-shared");
  g_ptr_array_add (argv, (char *)"-fPIC");
  g_ptr_array_add (argv, (char *)"-Wall");
  g_ptr_array_add (argv, (char *)"-Werror");
  g_ptr_array_add (argv, (char *)"-o");
  g_ptr_array_add (argv, output);
  g_ptr_array_add (argv, source);
  for (gsize i = 0; flag_words[i] != NULL; i++)
    {
      if (flag_words[i][0] != '\0')
        g_ptr_array_add (argv, flag_words[i]);
    }
  g_ptr_array_add (argv, NULL);
  run_ok ((const char *const *)argv->pdata, NULL, NULL);
  assert_hello_works (scratch);
}

/* Against an installed cbox: `meson install --destdir` of this build, then
 * pkg-config with a sysroot pointing into the staging. Proves the installed
 * .pc, the header layout (cbox-1/cbox/, with the generated cbox-version.h) and the
 * pluginsdir variable. */
static void
test_cc_installed (void)
{
  g_autofree char *meson = cbox_test_require_program ("meson");
  g_autofree char *cc = NULL;
  g_autofree char *pkg_config = NULL;
  g_autofree char *root = build_root ();
  g_autofree char *scratch = cbox_test_make_dir ("hello-installed");
  g_autofree char *destdir = g_build_filename (scratch, "stage", NULL);
  g_autofree char *plugins = g_build_filename (scratch, "plugins", NULL);
  g_autofree char *pc_dir = NULL;
  g_autofree char *src = example_dir ();
  g_autofree char *source = g_build_filename (src, "cbox-hello-plugin.c", NULL);
  g_autofree char *output = g_build_filename (plugins, "libcbox-hello.so", NULL);
  g_autofree char *flags = NULL;
  g_autofree char *pluginsdir = NULL;
  g_autofree char *staged_pc = NULL;
  g_autofree char *pc = NULL;
  g_autofree char *relocated_pc = NULL;
  g_autofree char *relocated = NULL;
  g_autofree char *expected_pluginsdir = NULL;
  g_auto (GStrv) envp = NULL;
  g_auto (GStrv) flag_words = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;

  if (meson == NULL)
    return;
  cc = cbox_test_require_program ("cc");
  pkg_config = cbox_test_require_program ("pkg-config");
  if (cc == NULL || pkg_config == NULL)
    return;
  {
    const char *install[]
        = { meson, "install", "-C", root, "--no-rebuild", "--quiet", "--destdir", destdir, NULL };
    run_ok (install, NULL, NULL);
  }
  /* The staged .pc still says prefix=/usr/local: rewrite that line, as if
   * cbox had been installed to the staging folder (PKG_CONFIG_SYSROOT_DIR
   * would move glib's paths too). */
  staged_pc = g_build_filename (destdir, CBOX_PLUGIN_DIR, "..", "..", "pkgconfig", "cbox-plugin.pc",
                                NULL);
  g_file_get_contents (staged_pc, &pc, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (pc, "prefix=/"));
  pc_dir = g_build_filename (scratch, "pkgconfig", NULL);
  g_assert_cmpint (g_mkdir (pc_dir, 0755), ==, 0);
  relocated_pc = g_build_filename (pc_dir, "cbox-plugin.pc", NULL);
  relocated = g_strconcat ("prefix=", destdir, pc + strlen ("prefix="), NULL);
  g_file_set_contents (relocated_pc, relocated, -1, &error);
  g_assert_no_error (error);
  envp = pkg_config_environ ("PKG_CONFIG_PATH", pc_dir);
  {
    const char *query[] = { pkg_config, "--variable=pluginsdir", "cbox-plugin", NULL };
    run_ok (query, (const char *const *)envp, &pluginsdir);
  }
  expected_pluginsdir = g_strconcat (destdir, CBOX_PLUGIN_DIR, NULL);
  g_assert_cmpstr (pluginsdir, ==, expected_pluginsdir);
  {
    const char *query[] = { pkg_config, "--cflags", "--libs", "cbox-plugin", NULL };
    run_ok (query, (const char *const *)envp, &flags);
  }
  /* Only the staged headers: nothing of the source or build tree. */
  g_assert_null (strstr (flags, "/core"));
  g_assert_nonnull (strstr (flags, "/cbox-1"));

  g_assert_cmpint (g_mkdir (plugins, 0755), ==, 0);
  /* pkg-config quotes as a shell would (the scratch path has a space). */
  g_shell_parse_argv (flags, NULL, &flag_words, &error);
  g_assert_no_error (error);
  g_ptr_array_add (argv, cc);
  g_ptr_array_add (argv, (char *)"-shared");
  g_ptr_array_add (argv, (char *)"-fPIC");
  g_ptr_array_add (argv, (char *)"-Wall");
  g_ptr_array_add (argv, (char *)"-Werror");
  g_ptr_array_add (argv, (char *)"-o");
  g_ptr_array_add (argv, output);
  g_ptr_array_add (argv, source);
  for (gsize i = 0; flag_words[i] != NULL; i++)
    {
      if (flag_words[i][0] != '\0')
        g_ptr_array_add (argv, flag_words[i]);
    }
  g_ptr_array_add (argv, NULL);
  run_ok ((const char *const *)argv->pdata, NULL, NULL);
  assert_hello_works (plugins);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/plugin-sdk/example/meson-uninstalled", test_meson_uninstalled);
  g_test_add_func ("/plugin-sdk/example/cc-uninstalled", test_cc_uninstalled);
  g_test_add_func ("/plugin-sdk/example/cc-installed", test_cc_installed);
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The Nix files (flake.nix, nix/): nixpkgs cannot be fetched where these
 * tests run, so they check what can be checked without it, with the real
 * nix-instantiate and the real cbox:
 * - every .nix file parses (which in Nix also catches undefined names);
 * - nix/plugins.nix names exactly the plugins of meson_options.txt;
 * - nix/package.nix and nix/module.nix, evaluated with a stand-in nixpkgs
 *   (nix-harness.nix), give the meson flags, wrapper and version expected,
 *   and the module's /etc/cbox/cbox.conf is one the built cbox accepts and
 *   reads back as the options said (network, PATH, escaped list items).
 * What needs nixpkgs (the build itself, the NixOS test) is `nix flake
 * check`'s: docs/nix.md. */

#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "cbox-packaging-util.h"
#include "cbox-test-util.h"

#define FAKE_STORE "/nix/store/00000000000000000000000000000000-"

static void
find_nix_files (const char *dir, GPtrArray *files)
{
  g_autoptr (GDir) listing = g_dir_open (dir, 0, NULL);
  const char *name;

  if (listing == NULL)
    return;
  while ((name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
        find_nix_files (path, files);
      else if (g_str_has_suffix (name, ".nix"))
        g_ptr_array_add (files, g_steal_pointer (&path));
    }
}

/* nix-instantiate as the test runs it: its state (which it makes even to
 * evaluate, and which a user other than root cannot make under /nix/var)
 * and cache in scratch folders, never the user's or the system's. */
static char **
nix_environ (void)
{
  g_autofree char *state = cbox_test_make_dir ("nix state");
  g_autofree char *state_var = g_strconcat ("NIX_STATE_DIR=", state, NULL);

  return cbox_test_environ ((const char *const[]){ "NIX_PATH", state_var, NULL });
}

/* Evaluates tests/packaging/@harness_name, with the module option values
 * @values (a Nix expression; NULL: none) and the rest of the system's
 * configuration @system (NULL: none), and returns its JSON. */
static JsonObject *
eval_json_system (const char *nix_instantiate, const char *harness_name, const char *values,
                  const char *system, JsonParser *parser)
{
  g_autofree char *root = cbox_packaging_source_root ();
  g_autofree char *harness = g_build_filename (root, "tests", "packaging", harness_name, NULL);
  g_auto (GStrv) env = nix_environ ();
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  int status;

  status = cbox_packaging_run (
      (const char *const[]){ nix_instantiate, "--eval", "--strict", "--json", harness, "--argstr",
                             "root", root, values != NULL ? "--arg" : NULL, "values", values,
                             system != NULL ? "--arg" : NULL, "system", system, NULL },
      (const char *const *)env, &out, &err);
  if (status != 0)
    g_error ("nix-instantiate exited %d evaluating %s with %s:\n%s", status, harness,
             values != NULL ? values : "no values", err);
  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  return json_node_get_object (json_parser_get_root (parser));
}

static JsonObject *
eval_json (const char *nix_instantiate, const char *harness_name, const char *values,
           JsonParser *parser)
{
  return eval_json_system (nix_instantiate, harness_name, values, NULL, parser);
}

/* nix-harness.nix: package.nix and module.nix with module option @values. */
static JsonObject *
harness_eval (const char *nix_instantiate, const char *values, JsonParser *parser)
{
  return eval_json (nix_instantiate, "nix-harness.nix", values, parser);
}

static gboolean
array_has_string (JsonArray *array, const char *value)
{
  for (guint i = 0; i < json_array_get_length (array); i++)
    if (g_str_equal (json_array_get_string_element (array, i), value))
      return TRUE;
  return FALSE;
}

static void
test_parse (void)
{
  g_autofree char *nix_instantiate = cbox_test_require_program ("nix-instantiate");
  g_autofree char *root = cbox_packaging_source_root ();
  g_autofree char *nix_dir = g_build_filename (root, "nix", NULL);
  g_autofree char *tests_dir = g_build_filename (root, "tests", "packaging", NULL);
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) env = NULL;

  if (nix_instantiate == NULL)
    return;
  env = nix_environ ();
  g_ptr_array_add (files, g_build_filename (root, "flake.nix", NULL));
  find_nix_files (nix_dir, files);
  find_nix_files (tests_dir, files);
  /* flake.nix, package, module, config, plugins, the VM test, the
   * harnesses. */
  g_assert_cmpuint (files->len, >=, 9);
  for (guint i = 0; i < files->len; i++)
    {
      const char *file = g_ptr_array_index (files, i);
      g_autofree char *err = NULL;
      int status;

      g_test_message ("parsing %s", file);
      status = cbox_packaging_run ((const char *const[]){ nix_instantiate, "--parse", file, NULL },
                                   (const char *const *)env, NULL, &err);
      if (status != 0)
        g_test_message ("%s", err);
      g_assert_cmpint (status, ==, 0);
    }
}

/* The parse check must be able to fail: an undefined name is a parse
 * error in Nix. */
static void
test_parse_rejects (void)
{
  g_autofree char *nix_instantiate = cbox_test_require_program ("nix-instantiate");
  g_autofree char *dir = NULL;
  g_autofree char *file = NULL;
  g_autofree char *err = NULL;
  g_auto (GStrv) env = NULL;
  g_autoptr (GError) error = NULL;
  int status;

  if (nix_instantiate == NULL)
    return;
  env = nix_environ ();
  dir = cbox_test_make_dir ("nix parse");
  file = g_build_filename (dir, "broken.nix", NULL);
  g_file_set_contents (file, "{ lib, ... }: { x = lib.mkIf cfg.enable { }; }\n", -1, &error);
  g_assert_no_error (error);
  status = cbox_packaging_run ((const char *const[]){ nix_instantiate, "--parse", file, NULL },
                               (const char *const *)env, NULL, &err);
  g_assert_cmpint (status, !=, 0);
  g_assert_nonnull (strstr (err, "cfg"));
}

static void
test_plugins_match_meson_options (void)
{
  g_autofree char *nix_instantiate = cbox_test_require_program ("nix-instantiate");
  g_autoptr (GPtrArray) options = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *result;
  JsonArray *plugins;
  JsonArray *flags;

  if (nix_instantiate == NULL)
    return;
  options = cbox_packaging_feature_options ();
  result = harness_eval (nix_instantiate, "{ }", parser);
  plugins = json_object_get_array_member (result, "plugins");
  flags = json_object_get_array_member (json_object_get_object_member (result, "package"),
                                        "mesonFlags");
  g_assert_cmpuint (json_array_get_length (plugins), ==, options->len);
  for (guint i = 0; i < options->len; i++)
    {
      const char *name = g_ptr_array_index (options, i);
      g_autofree char *enabled = g_strdup_printf ("-D%s=enabled", name);

      g_test_message ("plugin %s", name);
      g_assert_true (array_has_string (plugins, name));
      /* The package's default: every plugin, each one required. */
      g_assert_true (array_has_string (flags, enabled));
    }
  g_assert_true (array_has_string (flags, "--sysconfdir=/etc"));
}

/* nix/package.nix reads the version from meson.build: the one cbox prints. */
static void
test_package_version (void)
{
  g_autofree char *nix_instantiate = cbox_test_require_program ("nix-instantiate");
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *expected = NULL;
  JsonObject *eval;

  if (nix_instantiate == NULL)
    return;
  eval = harness_eval (nix_instantiate, "{ }", parser);
  cbox_test_runv (&result, "version", NULL);
  cbox_test_assert_status (&result, 0);
  g_assert_cmpstr (
      PACKAGE_VERSION, ==,
      json_object_get_string_member (json_object_get_object_member (eval, "package"), "version"));
  expected = g_strdup_printf ("cbox %s", PACKAGE_VERSION);
  g_assert_true (g_str_has_prefix (result.out, expected));
}

/* Backends chosen in the module → meson flags and the tools on the
 * wrapper's PATH; a default backend that is not enabled is refused. */
static void
test_module_backends (void)
{
  g_autofree char *nix_instantiate = cbox_test_require_program ("nix-instantiate");

  if (nix_instantiate == NULL)
    return;

  {
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *eval = harness_eval (nix_instantiate, "{ enable = true; }", parser);
    JsonObject *final = json_object_get_object_member (eval, "final");
    JsonArray *flags = json_object_get_array_member (final, "mesonFlags");
    const char *wrapper = json_object_get_string_member (final, "postInstall");

    g_assert_cmpuint (
        json_array_get_length (json_object_get_array_member (eval, "failedAssertions")), ==, 0);
    g_assert_true (
        array_has_string (json_object_get_array_member (eval, "systemPackages"), "cbox"));
    /* Default: bwrap only, every forwarder. */
    g_assert_true (array_has_string (flags, "-Dbwrap=enabled"));
    g_assert_true (array_has_string (flags, "-Dnspawn=disabled"));
    g_assert_true (array_has_string (flags, "-Dqemu=disabled"));
    g_assert_true (array_has_string (flags, "-Dx11=enabled"));
    g_assert_true (array_has_string (flags, "-Ddbus=enabled"));
    g_assert_nonnull (strstr (wrapper, "--suffix PATH : "));
    g_assert_nonnull (strstr (wrapper, FAKE_STORE "bubblewrap/bin"));
    g_assert_nonnull (strstr (wrapper, FAKE_STORE "xdg-dbus-proxy/bin"));
    g_assert_null (strstr (wrapper, "qemu"));
    g_assert_null (strstr (wrapper, "CBOX_PLUGIN_PATH"));
    /* cbox-exec links statically, whichever backends are built. */
    g_assert_true (
        array_has_string (json_object_get_array_member (final, "buildInputs"), "glibc-static"));
  }
  {
    /* Third-party plugins: their folders on the wrapper's CBOX_PLUGIN_PATH. */
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *eval = harness_eval (
        nix_instantiate, "pkgs: { enable = true; extraPlugins = [ pkgs.hello pkgs.ripgrep ]; }",
        parser);
    JsonObject *final = json_object_get_object_member (eval, "final");
    const char *wrapper = json_object_get_string_member (final, "postInstall");

    g_assert_cmpuint (
        json_array_get_length (json_object_get_array_member (eval, "failedAssertions")), ==, 0);
    g_assert_nonnull (strstr (wrapper,
                              "--suffix CBOX_PLUGIN_PATH : " FAKE_STORE
                              "hello/lib/cbox/plugins-1:" FAKE_STORE "ripgrep/lib/cbox/plugins-1"));
  }
  /* Unprivileged user namespaces turned off: bwrap refused, in each way
   * NixOS can say it; another backend alone is fine. */
  for (const char *const *system
       = (const char
              *const[]){ "{ security.allowUserNamespaces = false; }",
                         "{ boot.kernel.sysctl.\"user.max_user_namespaces\" = 0; }",
                         "{ boot.kernel.sysctl.\"kernel.unprivileged_userns_clone\" = false; }",
                         NULL };
       *system != NULL; system++)
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (JsonParser) other_parser = json_parser_new ();
      JsonObject *eval = eval_json_system (nix_instantiate, "nix-harness.nix", "{ enable = true; }",
                                           *system, parser);
      JsonArray *failed = json_object_get_array_member (eval, "failedAssertions");
      JsonObject *other = eval_json_system (
          nix_instantiate, "nix-harness.nix",
          "{ enable = true; backend = \"nspawn\"; backends = { bwrap.enable = false; "
          "nspawn.enable = true; }; }",
          *system, other_parser);

      g_test_message ("system %s", *system);
      g_assert_cmpuint (json_array_get_length (failed), ==, 1);
      g_assert_nonnull (
          strstr (json_array_get_string_element (failed, 0), "unprivileged user namespaces"));
      g_assert_cmpuint (
          json_array_get_length (json_object_get_array_member (other, "failedAssertions")), ==, 0);
    }
  {
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *eval
        = harness_eval (nix_instantiate,
                        "{ enable = true; backend = \"qemu\"; backends = { bwrap.enable = false; "
                        "nspawn.enable = true; qemu.enable = true; }; }",
                        parser);
    JsonObject *final = json_object_get_object_member (eval, "final");
    JsonArray *flags = json_object_get_array_member (final, "mesonFlags");
    const char *wrapper = json_object_get_string_member (final, "postInstall");

    g_assert_cmpuint (
        json_array_get_length (json_object_get_array_member (eval, "failedAssertions")), ==, 0);
    g_assert_true (array_has_string (flags, "-Dbwrap=disabled"));
    g_assert_true (array_has_string (flags, "-Dnspawn=enabled"));
    g_assert_true (array_has_string (flags, "-Dqemu=enabled"));
    g_assert_null (strstr (wrapper, "bubblewrap"));
    g_assert_nonnull (strstr (wrapper, FAKE_STORE "qemu_kvm/bin"));
    g_assert_nonnull (strstr (wrapper, FAKE_STORE "systemd/bin"));
    g_assert_nonnull (strstr (wrapper, FAKE_STORE "util-linux/bin"));
    /* The VM's init links statically. */
    g_assert_true (
        array_has_string (json_object_get_array_member (final, "buildInputs"), "glibc-static"));
    g_assert_nonnull (strstr (json_object_get_string_member (eval, "conf"), "\nbackend=qemu\n"));
  }
  {
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *eval
        = harness_eval (nix_instantiate, "{ enable = true; backend = \"qemu\"; }", parser);
    JsonArray *failed = json_object_get_array_member (eval, "failedAssertions");

    g_assert_cmpuint (json_array_get_length (failed), ==, 1);
    g_assert_nonnull (strstr (json_array_get_string_element (failed, 0), "backends.qemu.enable"));
  }
  {
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *eval = harness_eval (nix_instantiate, "{ }", parser);

    /* Not enabled: the module adds nothing. */
    g_assert_false (json_object_get_boolean_member (eval, "enabled"));
    g_assert_true (json_object_get_null_member (eval, "conf"));
  }
}

static const char *
plan_env (JsonObject *plan, const char *name)
{
  JsonArray *environment = json_object_get_array_member (plan, "environment");
  const char *value = NULL;

  for (guint i = 0; i < json_array_get_length (environment); i++)
    {
      JsonObject *var = json_array_get_object_element (environment, i);
      if (g_str_equal (json_object_get_string_member (var, "name"), name))
        value = json_object_get_string_member (var, "value");
    }
  return value;
}

/* The module's /etc/cbox/cbox.conf, read by the built cbox: accepted by
 * `cbox doctor` (an unknown [cbox] key would be exit 125), and the plan
 * shows what the options said. */
static void
test_module_config_read_by_cbox (void)
{
  g_autofree char *nix_instantiate = cbox_test_require_program ("nix-instantiate");
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (JsonParser) plan_parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *etc = NULL;
  g_autofree char *conf_path = NULL;
  g_autofree char *sysconf_env = NULL;
  g_auto (GStrv) env = NULL;
  const char *conf;
  JsonObject *eval;
  JsonObject *plan;

  if (nix_instantiate == NULL)
    return;
  eval = harness_eval (nix_instantiate,
                       "pkgs: { enable = true; network = false; extraPackages = [ pkgs.hello "
                       "pkgs.ripgrep ]; settings = { cbox.env = [ \"A=x;y\" \"B=back\\\\slash\" "
                       "]; cbox.forward-optional = [ \"display\" ]; ssh.keys = false; "
                       "test.reason = \" two\\nlines\"; }; }",
                       parser);
  conf = json_object_get_string_member (eval, "conf");
  g_test_message ("cbox.conf:\n%s", conf);
  g_assert_nonnull (strstr (conf, "\n[cbox]\n"));
  g_assert_nonnull (strstr (conf, "\nnetwork=off\n"));
  g_assert_nonnull (strstr (conf, "\n[ssh]\nkeys=false\n"));
  /* A leading space and a newline, escaped as GKeyFile reads them back. */
  g_assert_nonnull (strstr (conf, "\n[test]\nreason=\\stwo\\nlines\n"));

  etc = cbox_test_make_dir ("etc cbox");
  conf_path = g_build_filename (etc, "cbox.conf", NULL);
  g_file_set_contents (conf_path, conf, -1, &error);
  g_assert_no_error (error);
  sysconf_env = g_strconcat ("CBOX_SYSCONF_DIR=", etc, NULL);
  env = cbox_test_environ ((const char *const[]){ sysconf_env, NULL });

  cbox_test_run ((const char *const[]){ "doctor", NULL }, NULL, (const char *const *)env, NULL,
                 &result);
  cbox_test_assert_status (&result, 0);

  cbox_test_run ((const char *const[]){ "--backend=test", "plan", "--json", NULL }, NULL,
                 (const char *const *)env, NULL, &result);
  cbox_test_assert_status (&result, 0);
  json_parser_load_from_data (plan_parser, result.out, -1, &error);
  g_assert_no_error (error);
  plan = json_node_get_object (json_parser_get_root (plan_parser));
  g_assert_false (json_object_get_boolean_member (plan, "network"));
  g_assert_cmpstr (plan_env (plan, "PATH"), ==,
                   FAKE_STORE "hello/bin:" FAKE_STORE "ripgrep/bin:/run/current-system/sw/bin");
  /* List items with ';' and '\' arrive whole. */
  g_assert_cmpstr (plan_env (plan, "A"), ==, "x;y");
  g_assert_cmpstr (plan_env (plan, "B"), ==, "back\\slash");
}

/* flake.nix's outputs, with a stand-in nixpkgs input: the attribute paths
 * between packages, overlay, module and checks hold together. */
static void
test_flake_outputs (void)
{
  g_autofree char *nix_instantiate = cbox_test_require_program ("nix-instantiate");
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *eval;
  JsonObject *packages;
  JsonObject *checks;
  JsonObject *module;
  JsonObject *bwrap_only;
  JsonArray *bwrap_only_flags;
  const char *const systems[] = { "x86_64-linux", "aarch64-linux" };
  const char *const outputs[] = { "packages", "overlays", "nixosModules", "checks", "devShells" };
  const char *const check_names[] = { "package", "bwrap-only", "module-config", "vm" };

  if (nix_instantiate == NULL)
    return;
  eval = eval_json (nix_instantiate, "flake-harness.nix", NULL, parser);
  g_assert_nonnull (strstr (json_object_get_string_member (eval, "nixpkgsUrl"), "NixOS/nixpkgs"));
  for (gsize i = 0; i < G_N_ELEMENTS (outputs); i++)
    g_assert_true (array_has_string (json_object_get_array_member (eval, "outputs"), outputs[i]));

  packages = json_object_get_object_member (eval, "packages");
  checks = json_object_get_object_member (eval, "checks");
  for (gsize i = 0; i < G_N_ELEMENTS (systems); i++)
    {
      JsonObject *system = json_object_get_object_member (packages, systems[i]);
      JsonArray *names = json_object_get_array_member (system, "names");
      JsonArray *flags = json_object_get_array_member (system, "mesonFlags");
      JsonArray *system_checks = json_object_get_array_member (checks, systems[i]);

      g_test_message ("system %s", systems[i]);
      g_assert_true (array_has_string (names, "cbox"));
      g_assert_true (array_has_string (names, "default"));
      g_assert_cmpstr (json_object_get_string_member (system, "version"), ==, PACKAGE_VERSION);
      /* The qemu backend runs qemu-system-x86_64 only. */
      g_assert_true (array_has_string (flags, i == 0 ? "-Dqemu=enabled" : "-Dqemu=disabled"));
      for (gsize j = 0; j < G_N_ELEMENTS (check_names); j++)
        g_assert_true (array_has_string (system_checks, check_names[j]));
    }
  g_assert_cmpstr (json_object_get_string_member (eval, "overlayVersion"), ==, PACKAGE_VERSION);
  g_assert_cmpstr (json_object_get_string_member (eval, "checkPackageVersion"), ==,
                   PACKAGE_VERSION);
  g_assert_cmpstr (json_object_get_string_member (eval, "vmTestName"), ==, "cbox");

  bwrap_only = json_object_get_object_member (eval, "bwrapOnly");
  bwrap_only_flags = json_object_get_array_member (bwrap_only, "mesonFlags");
  g_assert_true (json_object_get_boolean_member (bwrap_only, "doInstallCheck"));
  g_assert_true (array_has_string (bwrap_only_flags, "-Dbwrap=enabled"));
  g_assert_true (array_has_string (bwrap_only_flags, "-Dqemu=disabled"));
  g_assert_true (array_has_string (bwrap_only_flags, "-Dx11=disabled"));

  module = json_object_get_object_member (eval, "module");
  g_assert_true (g_str_has_suffix (
      json_array_get_string_element (json_object_get_array_member (module, "imports"), 0),
      "/nix/module.nix"));
  g_assert_cmpstr (json_object_get_string_member (module, "packageVersion"), ==, PACKAGE_VERSION);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nix-files/parse", test_parse);
  g_test_add_func ("/nix-files/parse-rejects", test_parse_rejects);
  g_test_add_func ("/nix-files/plugins-match-meson-options", test_plugins_match_meson_options);
  g_test_add_func ("/nix-files/package-version", test_package_version);
  g_test_add_func ("/nix-files/module/backends", test_module_backends);
  g_test_add_func ("/nix-files/module/config-read-by-cbox", test_module_config_read_by_cbox);
  g_test_add_func ("/nix-files/flake-outputs", test_flake_outputs);
  return g_test_run ();
}

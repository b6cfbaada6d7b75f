/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The loader against the deliberately broken plugins of tests/broken-plugins/
 * and a few things that only look like plugins (a text file, a directory, a
 * fifo, an unreadable file, a dangling link), made in a scratch folder. */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-loader.h"
#include "cbox-private.h"
#include "cbox-registry.h"
#include "cbox-test-util.h"
#include "fixture.h"

/* The registry every case looks at: the broken plugins, the odd files, the
 * second folder, in that order. */
static CboxRegistry *
load_all (void)
{
  CboxRegistry *registry = cbox_registry_new ();
  g_autofree char *bdir = broken_plugins_dir ();
  g_autofree char *odd = broken_plugins_make_odd_dir ();
  g_autofree char *second = broken_plugins_second_dir ();

  cbox_registry_load_dir (registry, bdir);
  cbox_registry_load_dir (registry, odd);
  cbox_registry_load_dir (registry, second);
  return registry;
}

static CboxPluginInfo *
find_file (CboxRegistry *registry, const char *file)
{
  for (guint i = 0; i < cbox_registry_get_n_plugins (registry); i++)
    {
      CboxPluginInfo *info = cbox_registry_get_plugin (registry, i);
      g_autofree char *base = g_path_get_basename (cbox_plugin_info_get_path (info));

      if (g_str_equal (base, file))
        return info;
    }
  return NULL;
}

static void
test_case (gconstpointer data)
{
  const BrokenPluginCase *c = data;
  g_autoptr (CboxRegistry) registry = load_all ();
  CboxPluginInfo *info = find_file (registry, c->file);
  const GError *error;

  g_assert_nonnull (info);
  g_assert_cmpstr (cbox_plugin_info_get_name (info), ==, c->name);
  error = cbox_plugin_info_get_error (info);
  if (c->expected == BROKEN_PLUGIN_ACCEPTED)
    {
      g_assert_no_error (error);
      g_assert_true (cbox_plugin_info_is_accepted (info));
      g_assert_nonnull (cbox_plugin_info_get_desc (info));
      g_assert_true (cbox_registry_lookup (registry, c->name) == info);
      return;
    }

  g_assert_error (error, CBOX_PLUGIN_ERROR, c->expected);
  g_assert_false (cbox_plugin_info_is_accepted (info));
  g_assert_null (cbox_plugin_info_get_desc (info));
  /* The message names the file, so a user knows which one to remove. */
  g_assert_true (g_str_has_prefix (error->message, cbox_plugin_info_get_path (info)));
  g_assert_cmpuint (strlen (error->message), >, strlen (cbox_plugin_info_get_path (info)) + 20);
  if (c->expected != CBOX_PLUGIN_ERROR_DUPLICATE_NAME)
    g_assert_null (cbox_registry_lookup (registry, c->name));
}

/* Every file found is one of the broken_plugin_cases, in the order of the folders and by
 * name within each: nothing extra (README, .so.txt, meson's .p folders),
 * nothing missing. */
static void
test_all_listed (void)
{
  g_autoptr (CboxRegistry) registry = load_all ();
  g_autofree char *last_dir = NULL;
  g_autofree char *last_base = NULL;

  g_assert_cmpuint (cbox_registry_get_n_plugins (registry), ==, broken_plugin_n_cases);
  for (guint i = 0; i < cbox_registry_get_n_plugins (registry); i++)
    {
      const char *path = cbox_plugin_info_get_path (cbox_registry_get_plugin (registry, i));
      g_autofree char *dir = g_path_get_dirname (path);
      g_autofree char *base = g_path_get_basename (path);
      gboolean known = FALSE;

      for (gsize j = 0; j < broken_plugin_n_cases; j++)
        known = known || g_str_equal (broken_plugin_cases[j].file, base);
      g_assert_true (known);
      if (last_dir != NULL && g_str_equal (last_dir, dir))
        g_assert_cmpstr (last_base, <, base);
      g_free (last_dir);
      g_free (last_base);
      last_dir = g_steal_pointer (&dir);
      last_base = g_steal_pointer (&base);
    }
}

static void
test_unreadable (void)
{
  if (cbox_test_is_root ())
    g_test_message ("running as root, which reads any file: libcbox-unreadable.so is a "
                    "copy of the undefined-symbol plugin here, failing dlopen for root too");
  for (gsize i = 0; i < broken_plugin_n_cases; i++)
    {
      if (g_str_equal (broken_plugin_cases[i].file, "libcbox-unreadable.so"))
        test_case (&broken_plugin_cases[i]);
    }
  if (!cbox_test_is_root ())
    {
      g_autoptr (CboxRegistry) registry = load_all ();
      CboxPluginInfo *info = find_file (registry, "libcbox-unreadable.so");

      g_assert_nonnull (strstr (cbox_plugin_info_get_error (info)->message, "make it readable"));
    }
}

static void
test_good_forwarder_works (void)
{
  g_autoptr (CboxRegistry) registry = load_all ();
  CboxPluginInfo *info = cbox_registry_lookup (registry, "good-forwarder");
  const CboxPluginDesc *desc;
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GPtrArray) by_alias = NULL;
  g_autoptr (GPtrArray) as_backend = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_nonnull (info);
  desc = cbox_plugin_info_get_desc (info);
  g_assert_cmpint (desc->kind, ==, CBOX_PLUGIN_KIND_FORWARDER);
  g_assert_cmpstr (desc->name, ==, "good-forwarder");
  g_assert_cmpstr (desc->version, ==, "1.0");
  g_assert_cmpstr (desc->description, ==, "a forwarder that works");
  g_assert_cmpuint (desc->abi_major, ==, CBOX_ABI_MAJOR);
  g_assert_cmpuint (desc->features, ==, CBOX_FEATURE_DATA);
  g_assert_nonnull (desc->forwarder);
  g_assert_null (desc->backend);
  /* The one found first, not the duplicate in second/. */
  g_assert_true (g_str_has_suffix (cbox_plugin_info_get_path (info), "/libcbox-good-forwarder.so"));

  by_alias = cbox_registry_resolve (registry, "good-alias", CBOX_PLUGIN_KIND_FORWARDER);
  g_assert_cmpuint (by_alias->len, ==, 1);
  g_assert_true (g_ptr_array_index (by_alias, 0) == info);
  as_backend = cbox_registry_resolve (registry, "good-alias", CBOX_PLUGIN_KIND_BACKEND);
  g_assert_cmpuint (as_backend->len, ==, 0);

  ctx = cbox_context_new (host, NULL, desc->name);
  g_assert_true (desc->forwarder->probe (ctx, result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cbox_probe_result_get_status (result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_cmpstr (cbox_probe_result_get_detail (result, "plugin"), ==, "good-forwarder");
  g_assert_true (desc->forwarder->contribute (ctx, plan, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (cbox_plan_get_env (plan, "CBOX_TEST_PLUGIN"), ==, "good-forwarder");
}

static void
test_good_backend_works (void)
{
  g_autoptr (CboxRegistry) registry = load_all ();
  g_autoptr (GPtrArray) found = cbox_registry_resolve (registry, "good-backend", 0);
  const CboxPluginDesc *desc;
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (CboxLaunch) launch = cbox_launch_new ();
  g_autoptr (GError) error = NULL;
  const char *const *argv;

  g_assert_cmpuint (found->len, ==, 1);
  desc = cbox_plugin_info_get_desc (g_ptr_array_index (found, 0));
  g_assert_cmpint (desc->kind, ==, CBOX_PLUGIN_KIND_BACKEND);
  g_assert_null (desc->forwarder);
  g_assert_nonnull (desc->backend);
  g_assert_null (desc->backend->run);

  ctx = cbox_context_new (host, NULL, desc->name);
  g_assert_true (desc->backend->probe (ctx, result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cbox_probe_result_get_status (result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_true (desc->backend->realize (ctx, plan, launch, &error));
  g_assert_no_error (error);
  argv = cbox_launch_get_argv (launch);
  g_assert_cmpstr (argv[0], ==, "/bin/true");
  g_assert_cmpstr (argv[1], ==, "good-backend");
  g_assert_null (argv[2]);
}

/* A plugin whose vtable ends early (built for an older minor) reads as
 * NULL past its struct_size, whatever lies there in its memory. */
static void
test_short_vtable (void)
{
  g_autoptr (CboxRegistry) registry = load_all ();
  CboxPluginInfo *info = cbox_registry_lookup (registry, "short-vtable");
  const CboxForwarderVTable *vtable;

  g_assert_nonnull (info);
  vtable = cbox_plugin_info_get_desc (info)->forwarder;
  g_assert_cmpuint (vtable->struct_size, ==,
                    G_STRUCT_OFFSET (CboxForwarderVTable, contribute) + sizeof (gpointer));
  g_assert_nonnull (vtable->probe);
  g_assert_nonnull (vtable->contribute);
  g_assert_null (vtable->prepare);
  g_assert_null (vtable->cleanup);
}

/* The same folder twice (CBOX_PLUGIN_PATH naming the installed folder, or
 * a link to it) is searched once, not reported as duplicates of itself. */
static void
test_same_dir_twice (void)
{
  g_autoptr (CboxRegistry) registry = cbox_registry_new ();
  g_autofree char *bdir = broken_plugins_dir ();
  g_autofree char *scratch = cbox_test_make_dir ("link");
  g_autofree char *link = g_build_filename (scratch, "plugins", NULL);
  guint n;

  cbox_registry_load_dir (registry, bdir);
  n = cbox_registry_get_n_plugins (registry);
  g_assert_cmpuint (n, >, 0);
  cbox_registry_load_dir (registry, bdir);
  g_assert_cmpint (symlink (bdir, link), ==, 0);
  cbox_registry_load_dir (registry, link);
  g_assert_cmpuint (cbox_registry_get_n_plugins (registry), ==, n);
}

/* A rejected file does not claim its name: a broken plugin early in the
 * path leaves a good one of the same name later usable. */
static void
test_broken_override (void)
{
  g_autoptr (CboxRegistry) registry = cbox_registry_new ();
  g_autofree char *first = cbox_test_make_dir ("override");
  g_autofree char *second = cbox_test_make_dir ("override later");
  g_autofree char *bdir = broken_plugins_dir ();
  g_autofree char *good = g_build_filename (bdir, "libcbox-good-forwarder.so", NULL);
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  CboxPluginInfo *info;
  gsize len;

  broken_plugins_write_file (first, "libcbox-good-forwarder.so", "not a plugin\n", -1);
  g_file_get_contents (good, &contents, &len, &error);
  g_assert_no_error (error);
  broken_plugins_write_file (second, "libcbox-good-forwarder.so", contents, (gssize)len);
  cbox_registry_load_dir (registry, first);
  cbox_registry_load_dir (registry, second);
  g_assert_cmpuint (cbox_registry_get_n_plugins (registry), ==, 2);
  g_assert_false (cbox_plugin_info_is_accepted (cbox_registry_get_plugin (registry, 0)));
  info = cbox_registry_lookup (registry, "good-forwarder");
  g_assert_nonnull (info);
  g_assert_true (info == cbox_registry_get_plugin (registry, 1));
  g_assert_cmpstr (cbox_plugin_info_get_desc (info)->version, ==, "1.0");
}

static void
test_missing_dir (void)
{
  g_autoptr (CboxRegistry) registry = cbox_registry_new ();
  g_autofree char *scratch = cbox_test_make_dir ("missing");
  g_autofree char *missing = g_build_filename (scratch, "no-such-folder", NULL);
  g_autofree char *file = g_build_filename (scratch, "file", NULL);

  broken_plugins_write_file (scratch, "file", "", 0);
  cbox_registry_load_dir (registry, missing);
  cbox_registry_load_dir (registry, file);
  g_assert_cmpuint (cbox_registry_get_n_plugins (registry), ==, 0);
}

static void
test_default_path (void)
{
  g_auto (GStrv) path = NULL;

  g_setenv ("CBOX_PLUGIN_PATH", ":/first::relative/second:", TRUE);
  path = cbox_registry_get_default_path ();
  g_assert_cmpuint (g_strv_length (path), ==, 3);
  g_assert_cmpstr (path[0], ==, "/first");
  g_assert_cmpstr (path[1], ==, "relative/second");
  g_assert_cmpstr (path[2], ==, CBOX_PLUGIN_DIR);
  g_clear_pointer (&path, g_strfreev);

  g_unsetenv ("CBOX_PLUGIN_PATH");
  path = cbox_registry_get_default_path ();
  g_assert_cmpuint (g_strv_length (path), ==, 1);
  g_assert_cmpstr (path[0], ==, CBOX_PLUGIN_DIR);
}

/* load_default() really searches CBOX_PLUGIN_PATH first. */
static void
test_load_default (void)
{
  g_autoptr (CboxRegistry) registry = cbox_registry_new ();
  g_autofree char *bdir = broken_plugins_dir ();
  g_autofree char *second = cbox_test_make_dir ("first on the path");
  g_autofree char *env = g_strconcat (second, ":", bdir, NULL);
  g_autofree char *good = g_build_filename (bdir, "libcbox-good-forwarder.so", NULL);
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  CboxPluginInfo *info;
  gsize len;

  /* A copy of the good forwarder, in a folder named first. */
  g_file_get_contents (good, &contents, &len, &error);
  g_assert_no_error (error);
  broken_plugins_write_file (second, "libcbox-good-forwarder.so", contents, (gssize)len);
  g_setenv ("CBOX_PLUGIN_PATH", env, TRUE);
  cbox_registry_load_default (registry);
  g_unsetenv ("CBOX_PLUGIN_PATH");
  /* That folder comes first, so its copy is the good-forwarder. */
  info = cbox_registry_lookup (registry, "good-forwarder");
  g_assert_nonnull (info);
  g_assert_true (g_str_has_prefix (cbox_plugin_info_get_path (info), second));
  info = NULL;
  for (guint i = 0; i < cbox_registry_get_n_plugins (registry); i++)
    {
      CboxPluginInfo *other = cbox_registry_get_plugin (registry, i);
      g_autofree char *dir = g_path_get_dirname (cbox_plugin_info_get_path (other));
      if (g_str_equal (dir, bdir)
          && g_str_has_suffix (cbox_plugin_info_get_path (other), "/libcbox-good-forwarder.so"))
        info = other;
    }
  g_assert_nonnull (info);
  g_assert_error (cbox_plugin_info_get_error (info), CBOX_PLUGIN_ERROR,
                  CBOX_PLUGIN_ERROR_DUPLICATE_NAME);
  /* Allowed, and said: the first one notes what it replaces. */
  g_assert_nonnull (
      cbox_plugin_info_get_overrides (cbox_registry_lookup (registry, "good-forwarder")));
}

/* A copy of test-loader-secure-helper at @copy, mode 0755, which the
 * caller then makes setuid. FALSE (the test skipped) where that cannot
 * work: not root, or a nosuid temporary folder. */
static gboolean
copy_secure_helper (const char *dir, const char *copy)
{
  g_autofree char *helper = g_test_build_filename (G_TEST_BUILT, "test-loader-secure-helper", NULL);
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  struct statvfs vfs;
  gsize len;

  if (!cbox_test_is_root ())
    {
      g_test_skip ("making a setuid helper of another user needs root");
      return FALSE;
    }
  g_assert_cmpint (statvfs (dir, &vfs), ==, 0);
  if (vfs.f_flag & ST_NOSUID)
    {
      g_test_skip ("the temporary folder is mounted nosuid");
      return FALSE;
    }
  g_file_get_contents (helper, &contents, &len, &error);
  g_assert_no_error (error);
  g_file_set_contents (copy, contents, (gssize)len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (copy, 0755), ==, 0);
  return TRUE;
}

/* A setuid cbox ignores CBOX_PLUGIN_PATH: the helper prints the search path,
 * once as it is and once setuid to nobody (AT_SECURE). Needs root to make a
 * setuid file of another user. */
static void
test_secure (void)
{
  g_autofree char *dir = cbox_test_make_dir ("secure");
  g_autofree char *copy = g_build_filename (dir, "helper", NULL);
  g_autofree char *out = NULL;
  g_autofree char *out_secure = NULL;
  const char *argv[] = { copy, NULL };
  g_auto (GStrv) envp
      = g_environ_setenv (g_get_environ (), "CBOX_PLUGIN_PATH", "/evil/plugins", TRUE);
  g_autoptr (GError) error = NULL;
  int status;

  if (!copy_secure_helper (dir, copy))
    return;

  g_spawn_sync (NULL, (char **)argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL, &status,
                &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_cmpstr (out, ==, "/evil/plugins\n" CBOX_PLUGIN_DIR "\n");

  g_assert_cmpint (chown (copy, 65534, 65534), ==, 0);
  g_assert_cmpint (g_chmod (copy, 04755), ==, 0);
  g_spawn_sync (NULL, (char **)argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &out_secure, NULL, &status,
                &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_cmpstr (out_secure, ==, CBOX_PLUGIN_DIR "\n");
}

/* Nor does it use the descriptor cache the caller's environment names
 * (core/cbox-plugin-cache.c would read and write one in a folder of the
 * effective user): the helper, given a cache file in a folder of `nobody`,
 * writes it when run as root and not when setuid to nobody. */
static void
test_secure_cache (void)
{
  g_autofree char *dir = cbox_test_make_dir ("secure-cache");
  g_autofree char *copy = g_build_filename (dir, "helper", NULL);
  g_autofree char *root_dir = g_build_filename (dir, "root-cache", NULL);
  g_autofree char *root_cache = g_build_filename (root_dir, "plugins.cache", NULL);
  g_autofree char *nobody_dir = g_build_filename (dir, "nobody-cache", NULL);
  g_autofree char *nobody_cache = g_build_filename (nobody_dir, "plugins.cache", NULL);
  g_autoptr (GError) error = NULL;
  int status;

  if (!copy_secure_helper (dir, copy))
    return;
  g_assert_cmpint (g_mkdir (root_dir, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (nobody_dir, 0700), ==, 0);
  g_assert_cmpint (chown (nobody_dir, 65534, 65534), ==, 0);

  /* As root, the helper writes root's cache. */
  g_spawn_sync (NULL, (char *[]){ copy, (char *)"--cache", root_cache, NULL }, NULL,
                G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_true (g_file_test (root_cache, G_FILE_TEST_IS_REGULAR));

  /* Setuid to nobody, it would write nobody's, were the cache used. */
  g_assert_cmpint (chown (copy, 65534, 65534), ==, 0);
  g_assert_cmpint (g_chmod (copy, 04755), ==, 0);
  g_spawn_sync (NULL, (char *[]){ copy, (char *)"--cache", nobody_cache, NULL }, NULL,
                G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_false (g_file_test (nobody_cache, G_FILE_TEST_EXISTS));
}

/* Out of file descriptors (issue 17: with RLIMIT_NOFILE=20 a plugin's
 * dlopen failed with EMFILE, and the message said "Rebuild or remove it"):
 * the loader names what ran out and what to do, and does not blame the
 * plugin. Every fd below a low soft limit is taken here, in this process;
 * the fds and the limit are given back before anything is asserted. */
static void
test_emfile (void)
{
  g_autofree char *bdir = broken_plugins_dir ();
  g_autofree char *path = g_build_filename (bdir, "libcbox-good-forwarder.so", NULL);
  g_autoptr (GArray) taken = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (CboxPluginInfo) info = NULL;
  struct rlimit old;
  struct rlimit low;
  const GError *error;
  int open_errno;
  int fd;

  g_assert_no_errno (getrlimit (RLIMIT_NOFILE, &old));
  fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  g_assert_no_errno (close (fd));
  low = old;
  low.rlim_cur = (rlim_t)fd + 8;
  g_assert_no_errno (setrlimit (RLIMIT_NOFILE, &low));
  while ((fd = open ("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
    g_array_append_val (taken, fd);
  open_errno = errno;
  info = cbox_loader_load_file (path);
  for (guint i = 0; i < taken->len; i++)
    close (g_array_index (taken, int, i));
  g_assert_no_errno (setrlimit (RLIMIT_NOFILE, &old));

  g_assert_cmpint (open_errno, ==, EMFILE);
  g_assert_cmpuint (taken->len, >, 0);
  error = cbox_plugin_info_get_error (info);
  g_assert_error (error, CBOX_PLUGIN_ERROR, CBOX_PLUGIN_ERROR_OPEN);
  g_assert_false (cbox_plugin_info_is_accepted (info));
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, path));
  g_assert_nonnull (strstr (error->message, "too many open files in cbox; raise the limit with "
                                            "ulimit -n"));
  g_assert_null (strstr (error->message, "ebuild"));

  /* With the fds back, the same file loads. */
  g_clear_pointer (&info, cbox_plugin_info_free);
  info = cbox_loader_load_file (path);
  g_assert_no_error (cbox_plugin_info_get_error (info));
  g_assert_true (cbox_plugin_info_is_accepted (info));
}

static void
test_error_code_strings (void)
{
  g_assert_cmpstr (cbox_plugin_error_code_to_string (CBOX_PLUGIN_ERROR_NOT_REGULAR_FILE), ==,
                   "not-regular-file");
  g_assert_cmpstr (cbox_plugin_error_code_to_string (CBOX_PLUGIN_ERROR_ABI_MAJOR), ==, "abi-major");
  g_assert_cmpstr (cbox_plugin_error_code_to_string (CBOX_PLUGIN_ERROR_DUPLICATE_NAME), ==,
                   "duplicate-name");
  g_assert_cmpstr (cbox_plugin_error_code_to_string (CBOX_PLUGIN_ERROR_CHANGED), ==, "changed");
  /* ABI 1.4 */
  g_assert_cmpstr (cbox_plugin_error_code_to_string (CBOX_PLUGIN_ERROR_BAD_ELF), ==, "bad-elf");
  g_assert_cmpstr (cbox_plugin_error_code_to_string (CBOX_PLUGIN_ERROR_UNSAFE), ==, "unsafe");
  g_assert_cmpstr (cbox_plugin_error_code_to_string (CBOX_PLUGIN_ERROR_BAD_FILE_NAME), ==,
                   "bad-file-name");
  g_assert_cmpstr (cbox_plugin_error_code_to_string (CBOX_PLUGIN_ERROR_CRASHED), ==, "crashed");
  g_assert_cmpstr (cbox_plugin_error_code_to_string (CBOX_PLUGIN_ERROR_CRASHED + 1), ==, "unknown");
  /* Every code has its own word. */
  for (int i = CBOX_PLUGIN_ERROR_NOT_REGULAR_FILE; i <= CBOX_PLUGIN_ERROR_CRASHED; i++)
    for (int j = 0; j < i; j++)
      g_assert_cmpstr (cbox_plugin_error_code_to_string (i), !=,
                       cbox_plugin_error_code_to_string (j));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < broken_plugin_n_cases; i++)
    {
      g_autofree char *name
          = g_strndup (broken_plugin_cases[i].file + strlen ("libcbox-"),
                       strlen (broken_plugin_cases[i].file) - strlen ("libcbox-.so"));
      g_autofree char *test_path = NULL;

      if (g_str_equal (name, "unreadable"))
        {
          g_test_add_func ("/loader/reject/unreadable", test_unreadable);
          continue;
        }
      test_path = g_strdup_printf (
          "/loader/%s/%s",
          broken_plugin_cases[i].expected == BROKEN_PLUGIN_ACCEPTED ? "accept" : "reject", name);
      g_test_add_data_func (test_path, &broken_plugin_cases[i], test_case);
    }
  g_test_add_func ("/loader/all-listed-in-order", test_all_listed);
  g_test_add_func ("/loader/good-forwarder-works", test_good_forwarder_works);
  g_test_add_func ("/loader/good-backend-works", test_good_backend_works);
  g_test_add_func ("/loader/short-vtable-reads-null", test_short_vtable);
  g_test_add_func ("/loader/same-dir-twice", test_same_dir_twice);
  g_test_add_func ("/loader/broken-override-falls-back", test_broken_override);
  g_test_add_func ("/loader/missing-dir", test_missing_dir);
  g_test_add_func ("/loader/error-code-strings", test_error_code_strings);
  g_test_add_func ("/loader/resources/emfile", test_emfile);
  g_test_add_func ("/loader/path/env", test_default_path);
  g_test_add_func ("/loader/path/load-default", test_load_default);
  g_test_add_func ("/loader/path/ignored-when-setuid", test_secure);
  g_test_add_func ("/loader/cache/ignored-when-setuid", test_secure_cache);
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the locale forwarder against a fake root. */
#include "config.h"

#include "cbox-locale-plugin.c"

#include <glib/gstdio.h>

#include "cbox-private.h"
#include "cbox-test-util.h"

static CboxPlan *
run (CboxHost *host)
{
  g_autoptr (CboxContext) ctx = cbox_context_new (host, NULL, "locale");
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (locale_probe (ctx, result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cbox_probe_result_get_status (result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_true (locale_contribute (ctx, plan, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&plan);
}

static void
test_variables (void)
{
  g_autofree char *root = cbox_test_make_dir ("root");
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autoptr (CboxPlan) plan = NULL;
  const char *envp[] = { "LANG=de_DE.UTF-8",
                         "LANGUAGE=de:en",
                         "LC_TIME=en_GB.UTF-8",
                         "LC_ALL=",
                         "LC_=x",
                         "LCX=y",
                         "HOME=/home/u",
                         "SECRET_TOKEN=abc",
                         NULL };

  cbox_host_set_root (host, root);
  cbox_host_set_environ (host, envp);
  plan = run (host);
  g_assert_cmpstr (cbox_plan_get_env (plan, "LANG"), ==, "de_DE.UTF-8");
  g_assert_cmpstr (cbox_plan_get_env (plan, "LANGUAGE"), ==, "de:en");
  g_assert_cmpstr (cbox_plan_get_env (plan, "LC_TIME"), ==, "en_GB.UTF-8");
  /* Empty on the host: not set inside. Not a locale variable: not set. */
  g_assert_null (cbox_plan_get_env (plan, "LC_ALL"));
  g_assert_null (cbox_plan_get_env (plan, "LC_"));
  g_assert_null (cbox_plan_get_env (plan, "LCX"));
  g_assert_null (cbox_plan_get_env (plan, "HOME"));
  g_assert_null (cbox_plan_get_env (plan, "SECRET_TOKEN"));
  g_assert_cmpuint (cbox_plan_get_n_env (plan), ==, 3);
}

static void
test_files_and_archive (void)
{
  g_autofree char *root = cbox_test_make_dir ("root");
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autoptr (CboxPlan) plan = NULL;
  g_autofree char *conf = g_build_filename (root, "etc/locale.conf", NULL);
  const CboxMount *mount;

  cbox_test_write_file (root, "etc/locale.conf", "LANG=C.UTF-8\n");
  cbox_test_write_file (root, "opt/locales/locale-archive", "");
  cbox_host_set_root (host, root);
  cbox_host_setenv (host, "LOCALE_ARCHIVE", "/opt/locales/locale-archive");
  cbox_host_setenv (host, "LOCPATH", "/usr/lib/locale:/opt/../opt/more");
  plan = run (host);

  mount = cbox_plan_find_mount (plan, "/etc/locale.conf");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpstr (mount->src, ==, conf);
  /* Optional: skipped at launch when missing. */
  g_assert_true (cbox_plan_find_mount (plan, "/etc/default/locale")->flags
                 & CBOX_MOUNT_FLAG_ALLOW_MISSING);
  g_assert_nonnull (cbox_plan_find_mount (plan, "/opt/locales/locale-archive"));
  g_assert_nonnull (cbox_plan_find_mount (plan, "/opt/more"));
  /* In /usr: the system tree has it already. */
  g_assert_null (cbox_plan_find_mount (plan, "/usr/lib/locale"));
  g_assert_cmpstr (cbox_plan_get_env (plan, "LOCALE_ARCHIVE"), ==, "/opt/locales/locale-archive");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/locale/variables", test_variables);
  g_test_add_func ("/locale/files-and-archive", test_files_and_archive);
  return g_test_run ();
}

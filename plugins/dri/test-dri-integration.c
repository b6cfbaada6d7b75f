/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dri forwarder through the built cbox, with the bwrap and the nspawn
 * backend (nspawn only as root). This CI machine has no GPU: asking for
 * `gpu` must fail with exit 125 and the probe's reason, and `cbox doctor`
 * must say why. On a machine with a GPU the same tests check instead that
 * the nodes are there inside with the forwarder and absent without it.
 * The exact plan for GPUs of each kind is asserted by test-dri against fake
 * /dev and /sys trees; bench/gpu-check.sh checks a real GPU by hand. */
#include <string.h>

#include <gio/gio.h>

#include "cbox-test-util.h"

static gboolean
host_has_gpu (void)
{
  return g_file_test ("/dev/dri", G_FILE_TEST_IS_DIR)
         || g_file_test ("/dev/nvidiactl", G_FILE_TEST_EXISTS)
         || g_file_test ("/dev/kfd", G_FILE_TEST_EXISTS);
}

static void
test_gpu (gconstpointer data)
{
  const char *backend = data;
  g_autofree char *backend_arg = g_strconcat ("--backend=", backend, NULL);
  g_autofree char *project = NULL;
  g_auto (CboxTestResult) result = { 0 };

  if (!cbox_test_require_backend (backend, NULL))
    return;
  project = cbox_test_make_dir ("project");

  if (!host_has_gpu ())
    {
      const char *run_args[] = { "run", backend_arg, "--forward=gpu", "--", "true", NULL };
      const char *plan_args[] = { "plan", backend_arg, "--forward=gpu", NULL };

      g_assert_true (cbox_test_run (run_args, project, NULL, NULL, &result));
      cbox_test_assert_status (&result, 125);
      g_assert_nonnull (strstr (result.err, "dri"));
      g_assert_nonnull (strstr (result.err, "no GPU device nodes"));
      g_assert_nonnull (strstr (result.err, "(is a GPU driver loaded?)"));

      g_assert_true (cbox_test_run (plan_args, project, NULL, NULL, &result));
      cbox_test_assert_status (&result, 125);
      g_assert_nonnull (strstr (result.err, "no GPU device nodes"));
    }
  else
    {
      const char *run_args[] = { "run",
                                 backend_arg,
                                 "--forward=gpu",
                                 "--",
                                 "sh",
                                 "-c",
                                 "ls /dev/dri /dev/nvidiactl /dev/kfd 2>/dev/null",
                                 NULL };
      g_assert_true (cbox_test_run (run_args, project, NULL, NULL, &result));
      g_assert_true (result.out[0] != '\0');
    }

  /* Without the forwarder there is no GPU node inside. */
  {
    const char *args[]
        = { "run", backend_arg,
            "--",  "sh",
            "-c",  "test ! -e /dev/dri && test ! -e /dev/nvidiactl && test ! -e /dev/kfd",
            NULL };
    g_assert_true (cbox_test_run (args, project, NULL, NULL, &result));
    cbox_test_assert_status (&result, 0);
  }
}

static void
test_doctor (void)
{
  g_auto (CboxTestResult) result = { 0 };

  cbox_test_runv (&result, "doctor", NULL);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "dri"));
  if (!host_has_gpu ())
    g_assert_nonnull (strstr (result.out, "no GPU device nodes"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dri/integration/doctor", test_doctor);
  g_test_add_data_func ("/dri/integration/bwrap/gpu", "bwrap", test_gpu);
  g_test_add_data_func ("/dri/integration/nspawn/gpu", "nspawn", test_gpu);
  return g_test_run ();
}

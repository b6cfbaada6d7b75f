/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration test of the hostconf and locale forwarders (both on by
 * default) with the built cbox: the language, name resolution, TLS roots,
 * and what network off takes away. */
#include "config.h"

#include <glib/gstdio.h>

#include "cbox-devtools-test.h"

typedef struct
{
  char **env;
  char *project;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  /* A language the host really has (glibc ships C.UTF-8 built in), and a
   * second variable to tell the locale forwarder's work from chance. */
  const char *extra[] = { "LANG=C.UTF-8", "LC_TIME=C.UTF-8", "LC_ALL", "LANGUAGE=", NULL };

  f->env = cbox_test_environ (extra);
  f->project = cbox_test_make_dir ("project");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_strfreev (f->env);
  g_free (f->project);
}

static void
test_defaults (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  g_auto (CboxTestResult) result = { 0 };

  if (!devtools_test_require_backend (backend, FALSE))
    return;
  if (!g_file_test ("/etc/ssl/certs", G_FILE_TEST_IS_DIR))
    {
      cbox_test_skip_or_fail ("no /etc/ssl/certs on this host (install ca-certificates)");
      return;
    }
  devtools_test_sh (&result, backend, NULL, f->project, f->env,
                    "set -e; echo \"LANG=$LANG LC_TIME=$LC_TIME LANGUAGE=${LANGUAGE-unset}\"; "
                    "getent hosts localhost; "
                    "ls /etc/ssl/certs | head -n 1 >/dev/null; "
                    "test -r /etc/ssl/certs/ca-certificates.crt; "
                    "test -e /etc/resolv.conf; "
                    "test ! -w /etc/hosts || ! touch /etc/hosts 2>/dev/null; "
                    "echo DEFAULTS-OK");
  cbox_test_assert_status (&result, 0);
  devtools_test_assert_contains (result.out, "LANG=C.UTF-8 LC_TIME=C.UTF-8 LANGUAGE=unset");
  devtools_test_assert_contains (result.out, "DEFAULTS-OK");
}

static void
test_network_off (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  const char *args[] = { "--network=off", NULL };
  g_auto (CboxTestResult) result = { 0 };

  if (!devtools_test_require_backend (backend, FALSE))
    return;
  devtools_test_sh (&result, backend, args, f->project, f->env,
                    /* No name server can be read: the host's
                     * resolv.conf is hidden (or a link that dangles). */
                    "set -e; ! grep -qs nameserver /etc/resolv.conf; "
                    "getent hosts localhost; "
                    "test -r /etc/ssl/certs/ca-certificates.crt; "
                    "echo OFFLINE-OK");
  cbox_test_assert_status (&result, 0);
  devtools_test_assert_contains (result.out, "OFFLINE-OK");
}

static void
test_without_forwarders (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  const char *args[] = { "--no-forward=hostconf,locale", NULL };
  g_auto (CboxTestResult) result = { 0 };

  if (!devtools_test_require_backend (backend, FALSE))
    return;
  /* What locale brings is absent without it; the host's /etc (TLS roots
   * included) comes from the base plan, not from hostconf. */
  devtools_test_sh (&result, backend, args, f->project, f->env,
                    "echo \"LANG=${LANG-unset}\"; "
                    "test -e /etc/ssl/certs && echo HAS-CERTS; "
                    "true");
  cbox_test_assert_status (&result, 0);
  devtools_test_assert_contains (result.out, "LANG=unset");
  g_assert_true (devtools_test_contains (result.out, "HAS-CERTS"));
}

int
main (int argc, char **argv)
{
  static const char *const backends[] = { DEVTOOLS_TEST_BACKENDS };

  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (backends); i++)
    {
      g_autofree char *defaults
          = g_strdup_printf ("/hostconf/integration/%s/defaults", backends[i]);
      g_autofree char *offline
          = g_strdup_printf ("/hostconf/integration/%s/network-off", backends[i]);
      g_autofree char *without
          = g_strdup_printf ("/hostconf/integration/%s/without-forwarders", backends[i]);

      g_test_add (defaults, Fixture, backends[i], fixture_setup, test_defaults, fixture_teardown);
      g_test_add (offline, Fixture, backends[i], fixture_setup, test_network_off, fixture_teardown);
      g_test_add (without, Fixture, backends[i], fixture_setup, test_without_forwarders,
                  fixture_teardown);
    }
  return g_test_run ();
}

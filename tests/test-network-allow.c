/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* --network=allow:LIST and deny:LIST from the command line and the
 * configuration, through the real cbox: a bad list is a usage error (125)
 * naming the rule, before anything starts; `cbox plan` lists the rules
 * and the proxy variables the command gets; a backend without a way to
 * the proxy (qemu) refuses rather than giving the guest the full
 * network. The proxy itself is tested by test-netproxy.c, the runs by
 * plugins/bwrap/net/test-allowlist.sh. */
#include <string.h>

#include <glib/gstdio.h>

#include "cbox-test-util.h"

static char *
environ_value (char **envp, const char *name)
{
  const char *value = g_environ_getenv (envp, name);

  g_assert_nonnull (value);
  return g_strdup (value);
}

/* Runs `cbox plan --backend=bwrap ARGS -- true` with @config as the
 * user's cbox.conf (NULL: none). */
static void
plan (CboxTestResult *result, const char *config, const char *const *args)
{
  g_auto (GStrv) envp = cbox_test_environ (NULL);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *config_home = environ_value (envp, "XDG_CONFIG_HOME");
  g_autofree char *dir = g_build_filename (config_home, "cbox", NULL);
  g_autofree char *path = g_build_filename (dir, "cbox.conf", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  if (config != NULL)
    g_assert_true (g_file_set_contents (path, config, -1, &error));
  else
    g_unlink (path);
  g_assert_no_error (error);
  g_ptr_array_add (argv, (char *)"plan");
  g_ptr_array_add (argv, (char *)"--backend=bwrap");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *)args[i]);
  g_ptr_array_add (argv, (char *)"--");
  g_ptr_array_add (argv, (char *)"true");
  g_ptr_array_add (argv, NULL);
  g_assert_true (cbox_test_run ((const char *const *)argv->pdata, NULL, (const char *const *)envp,
                                NULL, result));
}

static void
test_cli_lists (void)
{
  g_auto (CboxTestResult) result = { 0 };

  plan (&result, NULL,
        (const char *const[]){ "--network=allow:GitHub.com:22,*.Example.org registry.npmjs.org",
                               NULL });
  g_assert_cmpstr (result.err, ==, "");
  g_assert_cmpint (result.status, ==, 0);
  g_assert_nonnull (strstr (result.out, "network:     allow: only the hosts"));
  /* Canonical, one per line, in order. */
  g_assert_nonnull (strstr (result.out, "  allow:     github.com:22\n"
                                        "  allow:     *.example.org\n"
                                        "  allow:     registry.npmjs.org\n"));
  g_assert_nonnull (strstr (result.out, "http_proxy=http://127.0.0.1:3128"));
  g_assert_nonnull (strstr (result.out, "HTTPS_PROXY=http://127.0.0.1:3128"));
  g_assert_nonnull (strstr (result.out, "ALL_PROXY=socks5h://127.0.0.1:3128"));
  g_assert_nonnull (strstr (result.out, "no_proxy=localhost,127.0.0.1,::1"));
  g_assert_nonnull (strstr (result.out, "GIT_SSH_COMMAND=ssh -o ProxyCommand='nc -X 5"));
  cbox_test_result_clear (&result);

  plan (&result, NULL, (const char *const[]){ "--network=deny:evil.test", NULL });
  g_assert_cmpint (result.status, ==, 0);
  g_assert_nonnull (strstr (result.out, "network:     deny: every host but"));
  g_assert_nonnull (strstr (result.out, "  deny:      evil.test\n"));
  g_assert_null (strstr (result.out, "  allow:  "));
  cbox_test_result_clear (&result);

  /* --network=on: no proxy, no variables. */
  plan (&result, NULL, (const char *const[]){ "--network=on", NULL });
  g_assert_cmpint (result.status, ==, 0);
  g_assert_null (strstr (result.out, "http_proxy"));
  g_assert_null (strstr (result.out, "  allow:  "));
}

static void
test_cli_bad_lists (void)
{
  static const struct
  {
    const char *arg, *named;
  } bad[] = {
    { "--network=allow:a..b", "'a..b'" },
    { "--network=allow:ok.test,*", "'*'" },
    { "--network=allow:git*.com", "'git*.com'" },
    { "--network=allow:a.test:99999", "a.test:99999" },
    { "--network=allow:127.1", "'127.1'" },
    { "--network=deny:", NULL },
    { "--network=on:a.test", "on:a.test" },
    { "--network=bogus:a.test", "bogus:a.test" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_auto (CboxTestResult) result = { 0 };

      g_test_message ("%s", bad[i].arg);
      plan (&result, NULL, (const char *const[]){ bad[i].arg, NULL });
      if (bad[i].named == NULL)
        {
          /* An empty deny list is a list: nothing denied. */
          g_assert_cmpint (result.status, ==, 0);
          continue;
        }
      g_assert_cmpint (result.status, ==, 125);
      g_assert_nonnull (strstr (result.err, bad[i].named));
      g_assert_cmpstr (result.out, ==, "");
    }
}

static void
test_config_lists (void)
{
  g_auto (CboxTestResult) result = { 0 };

  /* A list in the configuration does nothing until the mode is allow. */
  plan (&result, "[cbox]\nnetwork-allow=a.test;*.b.test\n", (const char *const[]){ NULL });
  g_assert_cmpint (result.status, ==, 0);
  g_assert_nonnull (strstr (result.out, "network:     on:"));
  g_assert_nonnull (strstr (result.out, "network-allow/network-deny are set but unused"));
  cbox_test_result_clear (&result);

  /* One key turns it on. */
  plan (&result, "[cbox]\nnetwork=allow\nnetwork-allow=a.test;*.b.test\nnetwork-deny=x.b.test\n",
        (const char *const[]){ NULL });
  g_assert_cmpint (result.status, ==, 0);
  g_assert_nonnull (strstr (result.out, "  allow:     a.test\n  allow:     *.b.test\n"
                                        "  deny:      x.b.test\n"));
  cbox_test_result_clear (&result);

  /* The command line's list replaces the configuration's. */
  plan (&result, "[cbox]\nnetwork=allow\nnetwork-allow=a.test\n",
        (const char *const[]){ "--network=allow:c.test", NULL });
  g_assert_cmpint (result.status, ==, 0);
  g_assert_nonnull (strstr (result.out, "  allow:     c.test\n"));
  g_assert_null (strstr (result.out, "a.test"));
  cbox_test_result_clear (&result);

  /* Empty: everything refused, and said so. */
  plan (&result, "[cbox]\nnetwork=allow\n", (const char *const[]){ NULL });
  g_assert_cmpint (result.status, ==, 0);
  g_assert_nonnull (strstr (result.out, "the network allowlist is empty"));
  cbox_test_result_clear (&result);

  /* A bad rule in a file: 125, the file, the key and the rule named. */
  plan (&result, "[cbox]\nnetwork=allow\nnetwork-allow=a.test;-bad.test\n",
        (const char *const[]){ NULL });
  g_assert_cmpint (result.status, ==, 125);
  g_assert_nonnull (strstr (result.err, "cbox.conf"));
  g_assert_nonnull (strstr (result.err, "network-allow"));
  g_assert_nonnull (strstr (result.err, "'-bad.test'"));
  cbox_test_result_clear (&result);
  plan (&result, "[cbox]\nnetwork=allowed\n", (const char *const[]){ NULL });
  g_assert_cmpint (result.status, ==, 125);
  g_assert_nonnull (strstr (result.err, "allow or deny"));
}

/* The claude profile ships an allowlist that one key turns on. */
static void
test_claude_profile (void)
{
  g_auto (CboxTestResult) result = { 0 };
  static const char *const hosts[]
      = { "api.anthropic.com", "statsig.anthropic.com", "github.com", "registry.npmjs.org",
          "pypi.org",          "files.pythonhosted.org" };

  plan (&result, NULL, (const char *const[]){ "--profile=claude", NULL });
  g_assert_cmpint (result.status, ==, 0);
  g_assert_nonnull (strstr (result.out, "network:     on:"));
  g_assert_null (strstr (result.out, "  allow:     api.anthropic.com"));
  cbox_test_result_clear (&result);

  plan (&result, "[cbox]\nnetwork=allow\n", (const char *const[]){ "--profile=claude", NULL });
  g_assert_cmpint (result.status, ==, 0);
  g_assert_nonnull (strstr (result.out, "network:     allow:"));
  for (gsize i = 0; i < G_N_ELEMENTS (hosts); i++)
    {
      g_autofree char *line = g_strdup_printf ("  allow:     %s\n", hosts[i]);
      g_assert_nonnull (strstr (result.out, line));
    }
}

static void
test_json (void)
{
  g_auto (CboxTestResult) result = { 0 };

  plan (&result, NULL, (const char *const[]){ "--json", "--network=allow:a.test:443", NULL });
  g_assert_cmpint (result.status, ==, 0);
  g_assert_nonnull (strstr (result.out, "\"network_mode\" : \"allow\""));
  g_assert_nonnull (strstr (result.out, "\"network_allow\" : [\n    \"a.test:443\"\n  ]"));
}

/* qemu: the guest's network is QEMU's user network restricted to the one
 * address forwarded to the proxy, never its full user-mode network. */
static void
test_qemu_restricted (void)
{
  g_auto (CboxTestResult) result = { 0 };

  if (!cbox_test_backend_is_built ("qemu"))
    {
      g_test_skip ("the qemu backend is not built");
      return;
    }
  g_assert_true (cbox_test_runv (&result, "plan", "--backend=qemu", "--print-command",
                                 "--network=allow:a.test", "--", "true", NULL));
  g_test_message ("%s%s", result.out, result.err);
  g_assert_cmpint (result.status, ==, 0);
  g_assert_nonnull (
      strstr (result.out, "user,id=net0,restrict=on,guestfwd=tcp:10.0.2.100:3128-cmd:"));
  g_assert_nonnull (strstr (result.out, "cbox-netproxy --relay="));
  g_assert_null (strstr (result.out, "user,id=net0 "));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/network-allow/cli/lists-in-plan", test_cli_lists);
  g_test_add_func ("/network-allow/cli/bad-lists-125", test_cli_bad_lists);
  g_test_add_func ("/network-allow/config/lists", test_config_lists);
  g_test_add_func ("/network-allow/profile/claude-one-key", test_claude_profile);
  g_test_add_func ("/network-allow/plan/json", test_json);
  g_test_add_func ("/network-allow/qemu/restricted-to-the-proxy", test_qemu_restricted);
  return g_test_run ();
}

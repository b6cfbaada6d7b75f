/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration test of the ssh forwarder with the built cbox and real
 * tools: a real ssh-agent holding a key made by ssh-keygen. */
#include "config.h"

#include <glib/gstdio.h>

#include "cbox-devtools-test.h"

typedef struct
{
  char **env; /* cbox's environment: scratch HOME, SSH_AUTH_SOCK */
  char *home;
  char *project;
  char *key;         /* ~/.ssh/id_test */
  char *fingerprint; /* SHA256:... */
  GSubprocess *agent;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autofree char *keygen = cbox_test_require_program ("ssh-keygen");
  g_autofree char *agent = keygen != NULL ? cbox_test_require_program ("ssh-agent") : NULL;
  g_autofree char *add = agent != NULL ? cbox_test_require_program ("ssh-add") : NULL;
  g_autofree char *dir = NULL;
  g_autofree char *ssh_dir = NULL;
  g_autofree char *sock = NULL;
  g_autofree char *known_hosts = NULL;
  g_autofree char *out = NULL;
  g_auto (GStrv) words = NULL;

  if (add == NULL)
    return;
  f->env = cbox_test_environ (NULL);
  f->home = g_strdup (devtools_test_env_get (f->env, "HOME"));
  f->project = cbox_test_make_dir ("project");
  ssh_dir = g_build_filename (f->home, ".ssh", NULL);
  g_assert_cmpint (g_mkdir_with_parents (ssh_dir, 0700), ==, 0);
  f->key = g_build_filename (ssh_dir, "id_test", NULL);
  {
    const char *argv[]
        = { keygen, "-q", "-t", "ed25519", "-N", "", "-C", "cbox-test", "-f", f->key, NULL };
    g_free (devtools_test_host (f->env, NULL, argv));
  }
  {
    g_autofree char *pub = g_strconcat (f->key, ".pub", NULL);
    const char *argv[] = { keygen, "-l", "-f", pub, NULL };
    out = devtools_test_host (f->env, NULL, argv);
  }
  words = g_strsplit (out, " ", -1);
  f->fingerprint = g_strdup (words[1]);
  g_assert_true (g_str_has_prefix (f->fingerprint, "SHA256:"));
  known_hosts = g_build_filename (ssh_dir, "known_hosts", NULL);
  g_assert_true (g_file_set_contents (known_hosts, "host.example ssh-ed25519 AAAA\n", -1, NULL));

  /* The agent's socket in its own directory (a short path: sun_path). */
  dir = cbox_test_make_dir ("agent");
  sock = g_build_filename (dir, "agent.sock", NULL);
  {
    const char *argv[] = { agent, "-D", "-a", sock, NULL };
    f->agent = devtools_test_spawn (f->env, NULL, argv);
  }
  g_assert_true (cbox_test_wait_for_path (sock, 10));
  f->env = g_environ_setenv (f->env, "SSH_AUTH_SOCK", sock, TRUE);
  {
    const char *argv[] = { add, "-q", f->key, NULL };
    g_free (devtools_test_host (f->env, NULL, argv));
  }
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  devtools_test_stop (f->agent);
  g_strfreev (f->env);
  g_free (f->home);
  g_free (f->project);
  g_free (f->key);
  g_free (f->fingerprint);
}

static void
test_agent (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  const char *forward[] = { "--forward=ssh", NULL };
  /* Without the forward, even an SSH_AUTH_SOCK passed by name leads
   * nowhere: the host's socket is not there. */
  const char *no_forward[] = { "--no-forward=ssh", "--env=SSH_AUTH_SOCK", NULL };
  g_auto (CboxTestResult) with = { 0 };
  g_auto (CboxTestResult) without = { 0 };

  if (f->env == NULL || !devtools_test_require_backend (backend, FALSE))
    return;
  devtools_test_sh (&with, backend, forward, f->project, f->env, "ssh-add -l");
  cbox_test_assert_status (&with, 0);
  devtools_test_assert_contains (with.out, f->fingerprint);

  devtools_test_sh (&without, backend, no_forward, f->project, f->env, "ssh-add -l");
  g_assert_cmpint (without.status, !=, 0);
  g_assert_false (devtools_test_contains (without.out, f->fingerprint));
}

static void
test_keys_read_only (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  gboolean qemu = g_str_equal (backend, "qemu");
  const char *forward[] = { "--forward=ssh", NULL };
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *script = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *known_hosts = g_build_filename (f->home, ".ssh", "known_hosts", NULL);
  g_autofree char *known_after = NULL;

  if (f->env == NULL || !devtools_test_require_backend (backend, qemu))
    return;
  g_assert_true (g_file_get_contents (f->key, &before, NULL, NULL));
  /* Readable, not writable; known_hosts writable, as a copy; nothing
   * written in ~/.ssh inside reaches the host. The qemu backend carries a
   * read-only file into the VM as a copy the guest can change (the host's
   * file is safe, which is checked below), so there only the host side is
   * asserted. */
  script = g_strdup_printf ("set -e; grep -q 'OPENSSH PRIVATE KEY' ~/.ssh/id_test; "
                            "%s"
                            "touch ~/.ssh/planted 2>/dev/null || true; "
                            "echo 'new.example ssh-ed25519 BBBB' >> ~/.ssh/known_hosts; "
                            "grep -q new.example ~/.ssh/known_hosts; "
                            "echo OK",
                            qemu ? "echo x >> ~/.ssh/id_test 2>/dev/null || true; "
                                 : "if echo x >> ~/.ssh/id_test; then echo KEY-WRITABLE; exit 1; "
                                   "fi; ");
  devtools_test_sh (&result, backend, forward, f->project, f->env, script);
  cbox_test_assert_status (&result, 0);
  devtools_test_assert_contains (result.out, "OK");
  g_assert_true (g_file_get_contents (f->key, &after, NULL, NULL));
  g_assert_cmpstr (before, ==, after);
  g_assert_true (g_file_get_contents (known_hosts, &known_after, NULL, NULL));
  g_assert_false (devtools_test_contains (known_after, "new.example"));
  {
    g_autofree char *planted = g_build_filename (f->home, ".ssh", "planted", NULL);
    g_assert_false (g_file_test (planted, G_FILE_TEST_EXISTS));
  }
}

static void
test_agent_only (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  const char *forward[] = { "--forward=ssh", "--set=ssh.keys=false", NULL };
  g_auto (CboxTestResult) result = { 0 };

  if (f->env == NULL || !devtools_test_require_backend (backend, FALSE))
    return;
  devtools_test_sh (&result, backend, forward, f->project, f->env,
                    "set -e; ssh-add -l; test ! -e ~/.ssh/id_test; test -r ~/.ssh/id_test.pub; "
                    "test -r ~/.ssh/known_hosts; echo AGENT-ONLY-OK");
  cbox_test_assert_status (&result, 0);
  devtools_test_assert_contains (result.out, f->fingerprint);
  devtools_test_assert_contains (result.out, "AGENT-ONLY-OK");
}

int
main (int argc, char **argv)
{
  static const char *const backends[] = { DEVTOOLS_TEST_BACKENDS };

  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (backends); i++)
    {
      g_autofree char *agent = g_strdup_printf ("/ssh/integration/%s/agent", backends[i]);
      g_autofree char *keys = g_strdup_printf ("/ssh/integration/%s/keys-read-only", backends[i]);
      g_autofree char *only = g_strdup_printf ("/ssh/integration/%s/agent-only", backends[i]);

      g_test_add (agent, Fixture, backends[i], fixture_setup, test_agent, fixture_teardown);
      g_test_add (keys, Fixture, backends[i], fixture_setup, test_keys_read_only, fixture_teardown);
      g_test_add (only, Fixture, backends[i], fixture_setup, test_agent_only, fixture_teardown);
    }
  g_test_add ("/ssh/integration/qemu/keys-read-only", Fixture, "qemu", fixture_setup,
              test_keys_read_only, fixture_teardown);
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration test of the ssh forwarder with the built cbox and real
 * tools: a real ssh-agent holding a key made by ssh-keygen, reached inside
 * through cbox-ssh-agent-filter. Listing and signing work inside; removing,
 * adding and locking fail and the host agent keeps its key, unlocked; an
 * allowlist hides the other key; no private key file is inside by default;
 * a malformed message harms neither the relay nor the agent; the relay and
 * its folder are gone after the run, and after cbox is killed with SIGKILL
 * (the folder swept by the next run). bwrap and nspawn as root; the suite
 * runs again as an unprivileged user (bwrap). */
#include "config.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-devtools-test.h"

typedef struct
{
  char **env; /* cbox's environment: scratch HOME, SSH_AUTH_SOCK */
  char *home;
  char *project;
  char *runtime_dir; /* XDG_RUNTIME_DIR: where the relay's folder goes */
  char *agent_sock;
  char *key;         /* ~/.ssh/id_test */
  char *fingerprint; /* SHA256:... */
  char *other_pub;   /* a second key in the agent, outside ~/.ssh */
  char *other_fingerprint;
  GSubprocess *agent;
} Fixture;

/* Makes a key pair at @path with ssh-keygen; returns its fingerprint. */
static char *
make_key (Fixture *f, const char *keygen, const char *path, const char *comment)
{
  g_autofree char *pub = g_strconcat (path, ".pub", NULL);
  g_autofree char *out = NULL;
  g_auto (GStrv) words = NULL;

  {
    const char *argv[]
        = { keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path, NULL };
    g_free (devtools_test_host (f->env, NULL, argv));
  }
  {
    const char *argv[] = { keygen, "-l", "-f", pub, NULL };
    out = devtools_test_host (f->env, NULL, argv);
  }
  words = g_strsplit (out, " ", -1);
  g_assert_true (g_str_has_prefix (words[1], "SHA256:"));
  return g_strdup (words[1]);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autofree char *keygen = cbox_test_require_program ("ssh-keygen");
  g_autofree char *agent = keygen != NULL ? cbox_test_require_program ("ssh-agent") : NULL;
  g_autofree char *add = agent != NULL ? cbox_test_require_program ("ssh-add") : NULL;
  g_autofree char *dir = NULL;
  g_autofree char *ssh_dir = NULL;
  g_autofree char *known_hosts = NULL;
  g_autofree char *other = NULL;
  g_autofree char *runtime_env = NULL;

  if (add == NULL)
    return;
  f->runtime_dir = cbox_test_make_dir ("runtime");
  g_assert_cmpint (g_chmod (f->runtime_dir, 0700), ==, 0);
  runtime_env = g_strconcat ("XDG_RUNTIME_DIR=", f->runtime_dir, NULL);
  f->env = cbox_test_environ ((const char *const[]){ runtime_env, NULL });
  f->home = g_strdup (devtools_test_env_get (f->env, "HOME"));
  f->project = cbox_test_make_dir ("project");
  ssh_dir = g_build_filename (f->home, ".ssh", NULL);
  g_assert_cmpint (g_mkdir_with_parents (ssh_dir, 0700), ==, 0);
  f->key = g_build_filename (ssh_dir, "id_test", NULL);
  f->fingerprint = make_key (f, keygen, f->key, "cbox-test");
  known_hosts = g_build_filename (ssh_dir, "known_hosts", NULL);
  g_assert_true (g_file_set_contents (known_hosts, "host.example ssh-ed25519 AAAA\n", -1, NULL));

  /* The agent's socket in its own directory (a short path: sun_path). */
  dir = cbox_test_make_dir ("agent");
  f->agent_sock = g_build_filename (dir, "agent.sock", NULL);
  f->agent = cbox_test_start_ssh_agent (f->env, NULL, f->agent_sock);
  g_assert_true (cbox_test_wait_for_path (f->agent_sock, 10));
  f->env = g_environ_setenv (f->env, "SSH_AUTH_SOCK", f->agent_sock, TRUE);
  /* A second key, in the agent only: its private file is removed. */
  other = g_build_filename (dir, "id_other", NULL);
  f->other_fingerprint = make_key (f, keygen, other, "cbox-test-other");
  f->other_pub = g_strconcat (other, ".pub", NULL);
  {
    const char *argv[] = { add, "-q", f->key, other, NULL };
    g_free (devtools_test_host (f->env, NULL, argv));
  }
  g_assert_cmpint (g_unlink (other), ==, 0);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  devtools_test_stop (f->agent);
  g_strfreev (f->env);
  g_free (f->home);
  g_free (f->project);
  g_free (f->runtime_dir);
  g_free (f->agent_sock);
  g_free (f->key);
  g_free (f->fingerprint);
  g_free (f->other_pub);
  g_free (f->other_fingerprint);
}

/* Processes whose command line holds @needle. */
static guint
count_processes (const char *needle)
{
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  guint n = 0;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *cmdline = NULL;
      gsize len;

      if (!g_ascii_isdigit (name[0]))
        continue;
      path = g_strdup_printf ("/proc/%s/cmdline", name);
      if (!g_file_get_contents (path, &cmdline, &len, NULL) || len == 0)
        continue;
      for (gsize i = 0; i + 1 < len; i++)
        if (cmdline[i] == '\0')
          cmdline[i] = ' ';
      if (strstr (cmdline, needle) != NULL)
        n++;
    }
  return n;
}

/* The relays of this fixture's agent: every one has --agent=ITS-SOCKET. */
static guint
count_relays (Fixture *f)
{
  g_autofree char *needle = g_strdup_printf ("cbox-ssh-agent-filter --agent=%s", f->agent_sock);
  return count_processes (needle);
}

/* A process that got SIGKILL or lost its pipe is reaped by its parent
 * shortly after; wait for that, within a bound that fails the test
 * rather than hang it. */
static gboolean
relays_gone (Fixture *f)
{
  for (guint i = 0; i < 200; i++)
    {
      if (count_relays (f) == 0)
        return TRUE;
      g_usleep (50000);
    }
  return FALSE;
}

static void
assert_no_run_dirs (Fixture *f)
{
  g_autoptr (GDir) dir = g_dir_open (f->runtime_dir, 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, "cbox-ssh-"))
      g_error ("%s/%s was left behind", f->runtime_dir, name);
}

/* The host agent holds exactly its two keys and is not locked (a locked
 * agent lists none). */
static void
assert_agent_intact (Fixture *f)
{
  const char *argv[] = { "ssh-add", "-l", NULL };
  g_autofree char *list = devtools_test_host (f->env, NULL, argv);
  g_auto (GStrv) lines = g_strsplit (g_strstrip (list), "\n", -1);

  g_assert_cmpuint (g_strv_length (lines), ==, 2);
  devtools_test_assert_contains (list, f->fingerprint);
  devtools_test_assert_contains (list, f->other_fingerprint);
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
  devtools_test_assert_contains (with.out, f->other_fingerprint);
  /* The relay went with the run, and its folder with it. */
  g_assert_true (relays_gone (f));
  assert_no_run_dirs (f);

  devtools_test_sh (&without, backend, no_forward, f->project, f->env, "ssh-add -l");
  g_assert_cmpint (without.status, !=, 0);
  g_assert_false (devtools_test_contains (without.out, f->fingerprint));
}

static void
test_keys_read_only (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  gboolean qemu = g_str_equal (backend, "qemu");
  const char *forward[] = { "--forward=ssh", "--set=ssh.keys=true", NULL };
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

static void
test_default_no_private_keys (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  const char *forward[] = { "--forward=ssh", NULL };
  g_auto (CboxTestResult) result = { 0 };

  if (f->env == NULL || !devtools_test_require_backend (backend, FALSE))
    return;
  /* [ssh] keys defaults to false: no private key anywhere under ~/.ssh,
   * while the public files are there. */
  devtools_test_sh (&result, backend, forward, f->project, f->env,
                    "test -r ~/.ssh/id_test.pub || exit 10; test -r ~/.ssh/known_hosts || exit 11; "
                    "test ! -e ~/.ssh/id_test || exit 12; "
                    "if grep -rq 'PRIVATE KEY' ~/.ssh; then exit 13; fi; echo NO-KEYS");
  cbox_test_assert_status (&result, 0);
  devtools_test_assert_contains (result.out, "NO-KEYS");
}

static void
test_sign (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  const char *forward[] = { "--forward=ssh", NULL };
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *msg = g_build_filename (f->project, "msg", NULL);
  g_autofree char *sig = g_build_filename (f->project, "msg.sig", NULL);
  g_autofree char *signers = g_build_filename (f->project, "signers", NULL);
  g_autofree char *pub = g_strconcat (f->key, ".pub", NULL);
  g_autofree char *pub_text = NULL;
  g_autofree char *signers_text = NULL;

  if (f->env == NULL || !devtools_test_require_backend (backend, FALSE))
    return;
  g_assert_true (g_file_set_contents (msg, "signed inside the sandbox\n", -1, NULL));
  /* The private key is not inside: only the agent can make this. */
  devtools_test_sh (&result, backend, forward, f->project, f->env,
                    "ssh-keygen -Y sign -f ~/.ssh/id_test.pub -n file msg");
  cbox_test_assert_status (&result, 0);

  g_assert_true (g_file_get_contents (pub, &pub_text, NULL, NULL));
  signers_text = g_strconcat ("signer ", pub_text, NULL);
  g_assert_true (g_file_set_contents (signers, signers_text, -1, NULL));
  {
    g_autofree char *script = g_strdup_printf (
        "ssh-keygen -Y verify -f '%s' -I signer -n file -s '%s' < '%s'", signers, sig, msg);
    const char *argv[] = { "sh", "-c", script, NULL };
    g_autofree char *out = devtools_test_host (f->env, NULL, argv);
    devtools_test_assert_contains (out, "Good");
  }
}

static void
test_refuses_changes (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  const char *forward[] = { "--forward=ssh", NULL };
  g_auto (CboxTestResult) result = { 0 };

  if (f->env == NULL || !devtools_test_require_backend (backend, FALSE))
    return;
  /* What an attacker inside would try: empty the agent, remove one key,
   * plant a key of its own, lock the agent with its own password. Each
   * must fail; the script goes on after a failure and says which one
   * worked. */
  devtools_test_sh (
      &result, backend, forward, f->project, f->env,
      "printf '#!/bin/sh\\necho sandbox-password\\n' > /tmp/askpass; chmod +x /tmp/askpass\n"
      "export SSH_ASKPASS=/tmp/askpass SSH_ASKPASS_REQUIRE=force\n"
      "ssh-keygen -q -t ed25519 -N '' -C planted -f /tmp/planted || exit 20\n"
      "ssh-add -D </dev/null && echo REMOVED-ALL\n"
      "ssh-add -d ~/.ssh/id_test.pub </dev/null && echo REMOVED-ONE\n"
      "ssh-add /tmp/planted </dev/null && echo ADDED\n"
      "ssh-add -x </dev/null && echo LOCKED\n"
      "ssh-add -X </dev/null && echo UNLOCKED\n"
      "ssh-add -l && echo STILL-LISTS\n");
  cbox_test_assert_status (&result, 0);
  g_assert_false (devtools_test_contains (result.out, "REMOVED-ALL"));
  g_assert_false (devtools_test_contains (result.out, "REMOVED-ONE"));
  g_assert_false (devtools_test_contains (result.out, "ADDED"));
  g_assert_false (devtools_test_contains (result.out, "LOCKED"));
  g_assert_false (devtools_test_contains (result.out, "UNLOCKED"));
  devtools_test_assert_contains (result.out, "STILL-LISTS");
  assert_agent_intact (f);
}

static void
test_allowlist (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  g_autofree char *allow = g_strdup_printf ("--set=ssh.agent-keys=%s", f->fingerprint);
  const char *forward[] = { "--forward=ssh", allow, NULL };
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *other_copy = g_build_filename (f->project, "other.pub", NULL);
  g_autofree char *other_text = NULL;

  if (f->env == NULL || !devtools_test_require_backend (backend, FALSE))
    return;
  g_assert_true (g_file_get_contents (f->other_pub, &other_text, NULL, NULL));
  g_assert_true (g_file_set_contents (other_copy, other_text, -1, NULL));
  devtools_test_sh (&result, backend, forward, f->project, f->env,
                    "echo data > msg; ssh-add -l || exit 10\n"
                    "ssh-keygen -Y sign -f other.pub -n file msg && echo OTHER-SIGNED\n"
                    "ssh-keygen -Y sign -f ~/.ssh/id_test.pub -n file msg || exit 11\n"
                    "echo ALLOWLIST-OK\n");
  cbox_test_assert_status (&result, 0);
  devtools_test_assert_contains (result.out, f->fingerprint);
  g_assert_false (devtools_test_contains (result.out, f->other_fingerprint));
  g_assert_false (devtools_test_contains (result.out, "OTHER-SIGNED"));
  devtools_test_assert_contains (result.out, "ALLOWLIST-OK");
  assert_agent_intact (f);
}

static void
test_malformed (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  const char *forward[] = { "--forward=ssh", NULL };
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *python = NULL;

  if (f->env == NULL || !devtools_test_require_backend (backend, FALSE)
      || (python = cbox_test_require_program ("python3")) == NULL)
    return;
  /* Raw bytes on the socket inside: a length of 1 MiB with data behind
   * it, a zero length, a sign request cut short. Each connection is
   * closed without an answer (EOF); afterwards ssh-add still lists the
   * key through the same relay. */
  devtools_test_sh (&result, backend, forward, f->project, f->env,
                    "python3 -c '\n"
                    "import os, socket, struct\n"
                    "def send(data):\n"
                    "    s = socket.socket(socket.AF_UNIX)\n"
                    "    s.connect(os.environ[\"SSH_AUTH_SOCK\"])\n"
                    "    try:\n"
                    "        s.sendall(data)\n"
                    "    except OSError:\n"
                    "        pass\n"
                    "    try:\n"
                    "        got = s.recv(100)\n"
                    "    except OSError:\n"
                    "        got = b\"\"\n"
                    "    s.close()\n"
                    "    return got\n"
                    "big = 1024 * 1024\n"
                    "assert send(struct.pack(\">I\", big) + b\"\\x0b\" * big) == b\"\"\n"
                    "assert send(struct.pack(\">I\", 0)) == b\"\"\n"
                    "cut = b\"\\x0d\" + struct.pack(\">I\", 100) + b\"short\"\n"
                    "assert send(struct.pack(\">I\", len(cut)) + cut) == b\"\"\n"
                    "assert send(struct.pack(\">IB\", 1, 19)) == struct.pack(\">IB\", 1, 5)\n"
                    "print(\"RAW-OK\")\n"
                    "' || exit 10\n"
                    "ssh-add -l || exit 11\n");
  cbox_test_assert_status (&result, 0);
  devtools_test_assert_contains (result.out, "RAW-OK");
  devtools_test_assert_contains (result.out, f->fingerprint);
  assert_agent_intact (f);
}

static void
test_kill_9 (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  g_autofree char *backend_arg = g_strconcat ("--backend=", backend, NULL);
  g_autofree char *project_arg = g_strconcat ("--project=", f->project, NULL);
  g_autofree char *started = g_build_filename (f->project, "started", NULL);
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) cbox = NULL;
  g_autoptr (GError) error = NULL;
  guint n_dirs = 0;

  if (f->env == NULL || !devtools_test_require_backend (backend, FALSE))
    return;
  launcher = cbox_test_server_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_environ (launcher, f->env);
  g_subprocess_launcher_set_cwd (launcher, f->project);
  cbox = g_subprocess_launcher_spawnv (
      launcher,
      (const char *const[]){ cbox_test_cbox_path (), backend_arg, project_arg, "--forward=ssh",
                             "run", "--", "sh", "-c",
                             "ssh-add -l >/dev/null && touch started; exec sleep 300", NULL },
      &error);
  g_assert_no_error (error);
  g_assert_true (cbox_test_wait_for_path (started, 120));
  g_assert_cmpuint (count_relays (f), ==, 1);

  g_subprocess_send_signal (cbox, SIGKILL); /* cbox runs no cleanup */
  g_subprocess_wait (cbox, NULL, NULL);
  /* The relay watched its sync pipe, which the kernel closed with cbox. */
  g_assert_true (relays_gone (f));
  /* Its folder stayed (nobody was left to remove it)... */
  {
    g_autoptr (GDir) dir = g_dir_open (f->runtime_dir, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name (dir)) != NULL)
      n_dirs += g_str_has_prefix (name, "cbox-ssh-");
  }
  g_assert_cmpuint (n_dirs, ==, 1);
  /* ...and the next run sweeps it. */
  {
    g_auto (CboxTestResult) result = { 0 };
    const char *forward[] = { "--forward=ssh", NULL };
    devtools_test_sh (&result, backend, forward, f->project, f->env, "ssh-add -l");
    cbox_test_assert_status (&result, 0);
  }
  assert_no_run_dirs (f);
  g_assert_true (relays_gone (f));
  assert_agent_intact (f);
}

/* The pid of this fixture's relay, or 0. */
static int
find_relay (const char *agent_sock, char **ret_cmdline)
{
  g_autofree char *needle = g_strdup_printf ("cbox-ssh-agent-filter --agent=%s", agent_sock);
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *cmdline = NULL;
      gsize len;

      if (!g_ascii_isdigit (name[0]))
        continue;
      path = g_strdup_printf ("/proc/%s/cmdline", name);
      if (!g_file_get_contents (path, &cmdline, &len, NULL) || len == 0)
        continue;
      for (gsize i = 0; i + 1 < len; i++)
        if (cmdline[i] == '\0')
          cmdline[i] = ' ';
      if (strstr (cmdline, needle) != NULL)
        {
          *ret_cmdline = g_steal_pointer (&cmdline);
          return atoi (name);
        }
    }
  return 0;
}

/* Runs @argv as @pw's user (setpriv), with SSH_AUTH_SOCK=@sock. */
static char *
run_as (const struct passwd *pw, const char *sock, const char *const *argv)
{
  g_autoptr (GPtrArray) full = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) env = g_get_environ ();

  g_ptr_array_add (full, g_strdup ("setpriv"));
  g_ptr_array_add (full, g_strdup_printf ("--reuid=%u", (unsigned)pw->pw_uid));
  g_ptr_array_add (full, g_strdup_printf ("--regid=%u", (unsigned)pw->pw_gid));
  g_ptr_array_add (full, g_strdup ("--clear-groups"));
  g_ptr_array_add (full, g_strdup ("--"));
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, g_strdup (argv[i]));
  g_ptr_array_add (full, NULL);
  env = g_environ_setenv (env, "SSH_AUTH_SOCK", sock, TRUE);
  env = g_environ_setenv (env, "HOME", "/nonexistent", TRUE);
  return devtools_test_host (env, "/", (const char *const *)full->pdata);
}

/* cbox run as root for cboxtest (SUDO_UID, as sudo sets it): the relay runs
 * as cboxtest, reaches cboxtest's agent, and still goes when cbox is
 * killed with SIGKILL, although the change of user cleared the
 * parent-death signal cbox gave it: it watches its sync pipe. The folder
 * is swept by the next run. The sandbox's ssh-add -D fails and the user's
 * agent keeps its key. */
static void
test_sudo_kill_9 (Fixture *f, gconstpointer data)
{
  const char *backend = data;
  const char *user = g_getenv ("CBOX_TEST_USER") != NULL ? g_getenv ("CBOX_TEST_USER") : "cboxtest";
  struct passwd *pw = getpwnam (user);
  g_autofree char *dir = NULL;
  g_autofree char *sock = NULL;
  g_autofree char *key = NULL;
  g_autofree char *project = NULL;
  g_autofree char *started = NULL;
  g_autofree char *listed = NULL;
  g_autofree char *listed_text = NULL;
  g_autofree char *cmdline = NULL;
  g_autofree char *status_path = NULL;
  g_autofree char *status = NULL;
  g_autofree char *uid_line = NULL;
  g_autofree char *run_dir = NULL;
  g_autofree char *backend_arg = g_strconcat ("--backend=", backend, NULL);
  g_autofree char *project_arg = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) agent = NULL;
  g_autoptr (GSubprocess) cbox = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) env = NULL;
  int pid;

  if (f->env == NULL)
    return;
  if (!cbox_test_is_root ())
    {
      g_test_skip ("running cbox as root for another user needs root");
      return;
    }
  if (pw == NULL)
    {
      cbox_test_skip_or_fail ("no test user (tools/install-deps makes cboxtest)");
      return;
    }
  if (!devtools_test_require_backend (backend, FALSE))
    return;

  /* The user's own agent, key and project. */
  dir = cbox_test_make_dir ("sudo-agent");
  g_assert_no_errno (chown (dir, pw->pw_uid, pw->pw_gid));
  sock = g_build_filename (dir, "agent.sock", NULL);
  key = g_build_filename (dir, "id_user", NULL);
  {
    const char *argv[]
        = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "user", "-f", key, NULL };
    g_free (run_as (pw, sock, argv));
  }
  {
    g_autofree char *uid_arg = g_strdup_printf ("--reuid=%u", (unsigned)pw->pw_uid);
    g_autofree char *gid_arg = g_strdup_printf ("--regid=%u", (unsigned)pw->pw_gid);
    const char *prefix[] = { "setpriv", uid_arg, gid_arg, "--clear-groups", "--", NULL };
    agent = cbox_test_start_ssh_agent (f->env, prefix, sock);
  }
  g_assert_true (cbox_test_wait_for_path (sock, 10));
  {
    const char *argv[] = { "ssh-add", "-q", key, NULL };
    g_free (run_as (pw, sock, argv));
  }
  project = cbox_test_make_dir ("sudo-project");
  g_assert_no_errno (chown (project, pw->pw_uid, pw->pw_gid));
  project_arg = g_strconcat ("--project=", project, NULL);
  started = g_build_filename (project, "started", NULL);
  listed = g_build_filename (project, "listed", NULL);

  {
    g_autofree char *uid = g_strdup_printf ("SUDO_UID=%u", (unsigned)pw->pw_uid);
    g_autofree char *gid = g_strdup_printf ("SUDO_GID=%u", (unsigned)pw->pw_gid);
    g_autofree char *name = g_strdup_printf ("SUDO_USER=%s", user);
    g_autofree char *auth = g_strdup_printf ("SSH_AUTH_SOCK=%s", sock);
    env = cbox_test_environ ((const char *const[]){
        uid, gid, name, auth, "XDG_RUNTIME_DIR",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL });
  }
  launcher = cbox_test_server_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_environ (launcher, env);
  g_subprocess_launcher_set_cwd (launcher, project);
  cbox = g_subprocess_launcher_spawnv (
      launcher,
      (const char *const[]){ cbox_test_cbox_path (), backend_arg, project_arg, "--forward=ssh",
                             "run", "--", "sh", "-c",
                             "ssh-add -D </dev/null && touch removed-all; "
                             "ssh-add -l > listed; touch started; exec sleep 300",
                             NULL },
      &error);
  g_assert_no_error (error);
  g_assert_true (cbox_test_wait_for_path (started, 120));
  g_assert_true (g_file_get_contents (listed, &listed_text, NULL, NULL));
  devtools_test_assert_contains (listed_text, "user (ED25519)");
  /* The filter refuses a sudo user's sandbox what it refuses any other
   * (the agent still listed the key after ssh-add -D, above). */
  {
    g_autofree char *removed = g_build_filename (project, "removed-all", NULL);
    g_assert_false (g_file_test (removed, G_FILE_TEST_EXISTS));
  }

  /* The relay runs as the user, every uid of it. */
  pid = find_relay (sock, &cmdline);
  g_assert_cmpint (pid, >, 0);
  status_path = g_strdup_printf ("/proc/%d/status", pid);
  g_assert_true (g_file_get_contents (status_path, &status, NULL, NULL));
  uid_line = g_strdup_printf ("\nUid:\t%u\t%u\t%u\t%u\n", (unsigned)pw->pw_uid,
                              (unsigned)pw->pw_uid, (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
  devtools_test_assert_contains (status, uid_line);
  {
    const char *listen = strstr (cmdline, "--listen=");
    g_autofree char *path = NULL;
    g_assert_nonnull (listen);
    path = g_strndup (listen + strlen ("--listen="), strcspn (listen + strlen ("--listen="), " "));
    run_dir = g_path_get_dirname (path);
  }
  g_assert_true (g_file_test (run_dir, G_FILE_TEST_IS_DIR));

  g_subprocess_send_signal (cbox, SIGKILL);
  g_subprocess_wait (cbox, NULL, NULL);
  for (guint i = 0; i < 200 && find_relay (sock, &cmdline) != 0; i++)
    g_usleep (50000);
  g_assert_cmpint (find_relay (sock, &cmdline), ==, 0);
  g_assert_true (g_file_test (run_dir, G_FILE_TEST_IS_DIR));

  /* The next run sweeps the folder. */
  {
    g_auto (CboxTestResult) result = { 0 };
    const char *args[] = { backend_arg, project_arg, "--forward=ssh", "run", "--", "true", NULL };
    cbox_test_run (args, project, (const char *const *)env, NULL, &result);
    cbox_test_assert_status (&result, 0);
  }
  g_assert_false (g_file_test (run_dir, G_FILE_TEST_EXISTS));
  /* The user's agent, seen from the host, still has its key. */
  {
    const char *argv[] = { "ssh-add", "-l", NULL };
    g_autofree char *still = run_as (pw, sock, argv);
    devtools_test_assert_contains (still, "user (ED25519)");
  }
  devtools_test_stop (g_steal_pointer (&agent));
}

/* The qemu backend runs the filter as a plan helper beside the VM and
 * relays its socket over a virtio-serial port: in one boot (each costs
 * seconds under TCG), with an allowlist naming one of the agent's two
 * keys, the guest lists and signs with that key only, cannot empty the
 * agent, add a key to it or lock it, and the filter and its folder are
 * gone after the run. */
static void
test_qemu_agent_filtered (Fixture *f, gconstpointer data)
{
  g_autofree char *allow = NULL;
  const char *forward[] = { "--forward=ssh", NULL, NULL };
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *other_copy = NULL;
  g_autofree char *other_text = NULL;
  g_autofree char *msg = NULL;
  g_autofree char *sig = NULL;

  if (f->env == NULL || !devtools_test_require_backend ("qemu", TRUE))
    return;
  allow = g_strdup_printf ("--set=ssh.agent-keys=%s", f->fingerprint);
  forward[1] = allow;
  other_copy = g_build_filename (f->project, "other.pub", NULL);
  g_assert_true (g_file_get_contents (f->other_pub, &other_text, NULL, NULL));
  g_assert_true (g_file_set_contents (other_copy, other_text, -1, NULL));
  devtools_test_sh (
      &result, "qemu", forward, f->project, f->env,
      "echo data > msg; ssh-add -l || exit 10\n"
      "ssh-keygen -Y sign -f other.pub -n file msg </dev/null && echo OTHER-SIGNED\n"
      "rm -f msg.sig; ssh-keygen -Y sign -f ~/.ssh/id_test.pub -n file msg || exit 11\n"
      "ssh-add -D </dev/null && echo REMOVED-ALL\n"
      "printf '#!/bin/sh\\necho sandbox-password\\n' > /tmp/askpass; chmod +x /tmp/askpass\n"
      "export SSH_ASKPASS=/tmp/askpass SSH_ASKPASS_REQUIRE=force\n"
      "ssh-keygen -q -t ed25519 -N '' -C planted -f /tmp/planted || exit 13\n"
      "ssh-add /tmp/planted </dev/null && echo ADDED\n"
      "ssh-add -x </dev/null && echo LOCKED\n"
      "test ! -e ~/.ssh/id_test || exit 12\n"
      "echo QEMU-AGENT-OK\n");
  cbox_test_assert_status (&result, 0);
  devtools_test_assert_contains (result.out, f->fingerprint);
  g_assert_false (devtools_test_contains (result.out, f->other_fingerprint));
  g_assert_false (devtools_test_contains (result.out, "OTHER-SIGNED"));
  g_assert_false (devtools_test_contains (result.out, "REMOVED-ALL"));
  g_assert_false (devtools_test_contains (result.out, "ADDED"));
  g_assert_false (devtools_test_contains (result.out, "LOCKED"));
  devtools_test_assert_contains (result.out, "QEMU-AGENT-OK");
  /* The signature the guest made through the agent is good on the host. */
  msg = g_build_filename (f->project, "msg", NULL);
  sig = g_build_filename (f->project, "msg.sig", NULL);
  {
    g_autofree char *pub = g_strconcat (f->key, ".pub", NULL);
    g_autofree char *pub_text = NULL;
    g_autofree char *signers = g_build_filename (f->project, "signers", NULL);
    g_autofree char *signers_text = NULL;
    g_autofree char *script = NULL;
    g_autofree char *out = NULL;

    g_assert_true (g_file_get_contents (pub, &pub_text, NULL, NULL));
    signers_text = g_strconcat ("signer ", pub_text, NULL);
    g_assert_true (g_file_set_contents (signers, signers_text, -1, NULL));
    script = g_strdup_printf ("ssh-keygen -Y verify -f '%s' -I signer -n file -s '%s' < '%s'",
                              signers, sig, msg);
    out = devtools_test_host (f->env, NULL, (const char *const[]){ "sh", "-c", script, NULL });
    devtools_test_assert_contains (out, "Good");
  }
  assert_agent_intact (f);
  g_assert_true (relays_gone (f));
  assert_no_run_dirs (f);
}

static void
add_test (const char *backend, const char *name, void (*func) (Fixture *, gconstpointer))
{
  g_autofree char *path = g_strdup_printf ("/ssh/integration/%s/%s", backend, name);
  g_test_add (path, Fixture, backend, fixture_setup, func, fixture_teardown);
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
      add_test (backends[i], "default-no-private-keys", test_default_no_private_keys);
      add_test (backends[i], "sign", test_sign);
      add_test (backends[i], "refuses-changes", test_refuses_changes);
      add_test (backends[i], "allowlist", test_allowlist);
      add_test (backends[i], "malformed", test_malformed);
      add_test (backends[i], "kill-9", test_kill_9);
      add_test (backends[i], "sudo-kill-9", test_sudo_kill_9);
    }
  g_test_add ("/ssh/integration/qemu/keys-read-only", Fixture, "qemu", fixture_setup,
              test_keys_read_only, fixture_teardown);
  g_test_add ("/ssh/integration/qemu/agent-filtered", Fixture, "qemu", fixture_setup,
              test_qemu_agent_filtered, fixture_teardown);
  return g_test_run ();
}

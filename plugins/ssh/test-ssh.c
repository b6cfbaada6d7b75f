/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the ssh forwarder: probe and contribute against a fake root
 * with a small in-process agent (the integration test uses the real
 * ssh-agent). */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cbox-private.h"
#include "cbox-test-util.h"

/* The plugin's source is compiled into this test. */
const CboxPluginDesc *cbox_plugin_describe (void);

typedef struct
{
  char *root;
  CboxHost *host;
  GKeyFile *config;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autofree char *ssh = NULL;

  f->root = cbox_test_make_dir ("root");
  ssh = g_build_filename (f->root, "home/u/.ssh", NULL);
  g_assert_cmpint (g_mkdir_with_parents (ssh, 0700), ==, 0);
  f->host = cbox_host_new ();
  cbox_host_set_root (f->host, f->root);
  cbox_host_set_user (f->host, 1000, 1000, "u", "/home/u", "/bin/sh");
  f->config = g_key_file_new ();
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_free (f->root);
  cbox_host_unref (f->host);
  g_key_file_unref (f->config);
}

/* A listening socket under the fake root at @path. With @answer, a thread
 * accepts one client and answers its identities request with 2 keys;
 * without, nobody ever accepts (a hung agent). */
typedef struct
{
  int fd;
  GThread *thread;
} FakeAgent;

static gpointer
fake_agent_thread (gpointer data)
{
  FakeAgent *agent = data;
  static const guint8 reply[] = { 0, 0, 0, 5, 12, 0, 0, 0, 2 };
  guint8 request[5];
  int client = accept (agent->fd, NULL, NULL);
  gsize got = 0;

  g_assert_cmpint (client, >=, 0);
  while (got < sizeof request)
    {
      ssize_t n = read (client, request + got, sizeof request - got);
      g_assert_cmpint (n, >, 0);
      got += (gsize)n;
    }
  g_assert_cmpint (request[4], ==, 11);
  g_assert_cmpint (write (client, reply, sizeof reply), ==, sizeof reply);
  close (client);
  return NULL;
}

static FakeAgent *
fake_agent_start (Fixture *f, const char *path, gboolean answer)
{
  FakeAgent *agent = g_new0 (FakeAgent, 1);
  g_autofree char *full = g_build_filename (f->root, path, NULL);

  agent->fd = cbox_test_listen_unix (full);
  if (answer)
    agent->thread = g_thread_new ("fake-agent", fake_agent_thread, agent);
  return agent;
}

static void
fake_agent_stop (FakeAgent *agent)
{
  if (agent->thread != NULL)
    g_thread_join (agent->thread);
  close (agent->fd);
  g_free (agent);
}

static const CboxForwarderVTable *
ssh_vtable (void)
{
  const CboxPluginDesc *desc = cbox_plugin_describe ();

  g_assert_cmpstr (desc->name, ==, "ssh");
  g_assert_cmpint (desc->kind, ==, CBOX_PLUGIN_KIND_FORWARDER);
  return desc->forwarder;
}

/* The fingerprint of the ed25519 key whose 32 bytes are all 0x11. */
#define FINGERPRINT_11 "SHA256:SQfC+vTbLURn9cTkVxIS8fGQ3FKNAJWeB0o139+gV4M"

static gboolean
plan_has_note (CboxPlan *plan, const char *needle)
{
  for (guint i = 0; i < cbox_plan_get_n_notes (plan); i++)
    if (strstr (cbox_plan_get_note (plan, i, NULL), needle) != NULL)
      return TRUE;
  return FALSE;
}

static CboxProbeStatus
probe (CboxContext *ctx, CboxProbeResult *result)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (ssh_vtable ()->probe (ctx, result, &error));
  g_assert_no_error (error);
  return cbox_probe_result_get_status (result);
}

static CboxPlan *
new_plan (void)
{
  CboxPlan *plan = cbox_plan_new ();

  cbox_plan_set_user (plan, 1000, 1000, "u", "/home/u");
  cbox_plan_set_origin (plan, "ssh");
  return plan;
}

static void
test_probe_nothing (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autofree char *ssh = g_build_filename (f->root, "home/u/.ssh", NULL);

  g_assert_cmpint (g_rmdir (ssh), ==, 0);
  ctx = cbox_context_new (f->host, f->config, "ssh");
  g_assert_cmpint (probe (ctx, result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "SSH_AUTH_SOCK"));
}

static void
test_probe_agent_answers (Fixture *f, gconstpointer data)
{
  FakeAgent *agent = fake_agent_start (f, "agent.sock", TRUE);
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();

  cbox_host_setenv (f->host, "SSH_AUTH_SOCK", "/agent.sock");
  ctx = cbox_context_new (f->host, f->config, "ssh");
  g_assert_cmpint (probe (ctx, result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_cmpstr (cbox_probe_result_get_detail (result, "agent-identities"), ==, "2");
  g_assert_cmpstr (cbox_probe_result_get_detail (result, "keys-dir"), ==, "/home/u/.ssh");
  fake_agent_stop (agent);
}

static void
test_probe_agent_hangs (Fixture *f, gconstpointer data)
{
  /* Listening but never accepting: the probe must give up (bounded) and,
   * with keys=true, fall back to the keys. */
  FakeAgent *agent = fake_agent_start (f, "agent.sock", FALSE);
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();

  cbox_host_setenv (f->host, "SSH_AUTH_SOCK", "/agent.sock");
  g_key_file_set_boolean (f->config, "ssh", "keys", TRUE);
  ctx = cbox_context_new (f->host, f->config, "ssh");
  g_assert_cmpint (probe (ctx, result), ==, CBOX_PROBE_DEGRADED);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "did not answer"));
  fake_agent_stop (agent);
}

static void
test_probe_default_agent_only (Fixture *f, gconstpointer data)
{
  /* keys=false is the default: without an agent there is nothing to
   * forward, and the key files are no fallback. */
  FakeAgent *agent = fake_agent_start (f, "agent.sock", FALSE);
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();

  cbox_host_setenv (f->host, "SSH_AUTH_SOCK", "/agent.sock");
  ctx = cbox_context_new (f->host, f->config, "ssh");
  g_assert_cmpint (probe (ctx, result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_cmpstr (cbox_probe_result_get_detail (result, "mode"), ==, "agent only");
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "agent only"));
  fake_agent_stop (agent);
}

static void
test_probe_agent_keys (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (GError) error = NULL;
  static const char line[]
      = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBERERERERERERERERERERERERERERERERERERERERER c";
  const char *good[]
      = { "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", line, "~/.ssh/work.pub", NULL };
  static const char *const bad[] = {
    "SHA256:short",
    "MD5:12:34",
    "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIBERERERERERERERERERERERERERERERERERERERERER",
    "~/.ssh/missing.pub",
  };

  cbox_test_write_file_mode (f->root, "home/u/.ssh/work.pub", "  ", 0700, -1);
  {
    g_autofree char *path = g_build_filename (f->root, "home/u/.ssh/work.pub", NULL);
    g_autofree char *text = g_strconcat (line, "\n", NULL);
    g_assert_true (g_file_set_contents (path, text, -1, NULL));
  }
  g_key_file_set_string_list (f->config, "ssh", "agent-keys", good, 3);
  ctx = cbox_context_new (f->host, f->config, "ssh");
  probe (ctx, result);
  /* The line and the file are the same key: two fingerprints. */
  g_assert_cmpstr (cbox_probe_result_get_detail (result, "agent-keys"), ==,
                   "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU, " FINGERPRINT_11);

  /* Root for user 1000 (sudo): a file only root may read is refused
   * without being read; the user's own file is fine. */
  {
    g_autoptr (CboxContext) sudo_ctx = NULL;
    g_autoptr (CboxProbeResult) sudo_result = cbox_probe_result_new ();
    g_autofree char *secret = g_build_filename (f->root, "secret.pub", NULL);

    g_assert_true (g_file_set_contents (secret, line, -1, NULL));
    g_assert_cmpint (g_chmod (secret, 0600), ==, 0);
    cbox_host_set_caller_uid (f->host, 0);
    g_key_file_set_string (f->config, "ssh", "agent-keys", "/secret.pub");
    sudo_ctx = cbox_context_new (f->host, f->config, "ssh");
    /* The file belongs to whoever runs the test: root only when root. */
    if (geteuid () == 0)
      {
        g_assert_false (ssh_vtable ()->probe (sudo_ctx, sudo_result, &error));
        g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
        g_assert_nonnull (strstr (error->message, "not a file user 1000 may read"));
      }
    cbox_host_set_caller_uid (f->host, 1000);
  }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (CboxContext) bad_ctx = NULL;
      g_autoptr (CboxProbeResult) bad_result = cbox_probe_result_new ();

      g_clear_error (&error);
      g_key_file_set_string (f->config, "ssh", "agent-keys", bad[i]);
      bad_ctx = cbox_context_new (f->host, f->config, "ssh");
      g_assert_false (ssh_vtable ()->probe (bad_ctx, bad_result, &error));
      g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
      g_assert_nonnull (strstr (error->message, "agent-keys"));
    }
}

static void
test_probe_stale_socket (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();

  /* A leftover file where the agent was: ECONNREFUSED, not a hang. */
  cbox_test_write_file_mode (f->root, "agent.sock", "", 0700, -1);
  cbox_host_setenv (f->host, "SSH_AUTH_SOCK", "/agent.sock");
  g_key_file_set_boolean (f->config, "ssh", "keys", FALSE);
  ctx = cbox_context_new (f->host, f->config, "ssh");
  g_assert_cmpint (probe (ctx, result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "agent only"));
}

static void
test_probe_bad_config (Fixture *f, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (GError) error = NULL;

  g_key_file_set_string (f->config, "ssh", "keys", "maybe");
  ctx = cbox_context_new (f->host, f->config, "ssh");
  g_assert_false (ssh_vtable ()->probe (ctx, result, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "[ssh]"));
}

static CboxPlan *
probe_and_contribute (Fixture *f, gboolean keys, const char *backend, CboxFeatures features,
                      GError **error)
{
  FakeAgent *agent = fake_agent_start (f, "agent.sock", TRUE);
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = new_plan ();

  cbox_test_write_file_mode (f->root, "home/u/.ssh/id_ed25519", "PRIVATE", 0700, -1);
  cbox_test_write_file_mode (f->root, "home/u/.ssh/id_ed25519.pub", "ssh-ed25519 AAAA u@h", 0700,
                             -1);
  cbox_test_write_file_mode (f->root, "home/u/.ssh/known_hosts", "host ssh-ed25519 AAAA\n", 0700,
                             -1);
  cbox_test_write_file_mode (f->root, "home/u/.ssh/config", "Host *\n", 0700, -1);
  cbox_test_write_file_mode (f->root, "home/u/.ssh/config.d/work", "Host work\n", 0700, -1);
  fake_agent_stop (fake_agent_start (f, "home/u/.ssh/cm-socket", FALSE));
  cbox_host_setenv (f->host, "SSH_AUTH_SOCK", "/agent.sock");
  g_key_file_set_boolean (f->config, "ssh", "keys", keys);
  ctx = cbox_context_new (f->host, f->config, "ssh");
  cbox_context_set_backend (ctx, backend, features);
  cbox_context_set_instance_id (ctx, "0123abcd");
  g_assert_cmpint (probe (ctx, result), ==, CBOX_PROBE_AVAILABLE);
  fake_agent_stop (agent);
  if (!ssh_vtable ()->contribute (ctx, plan, error))
    return NULL;
  return g_steal_pointer (&plan);
}

static const CboxHelper *
find_filter_helper (CboxPlan *plan)
{
  for (guint i = 0; i < cbox_plan_get_n_helpers (plan); i++)
    if (g_str_equal (cbox_plan_get_helper (plan, i)->name, "cbox-ssh-agent-filter"))
      return cbox_plan_get_helper (plan, i);
  return NULL;
}

static gboolean
argv_has (const CboxHelper *helper, const char *arg)
{
  return g_strv_contains ((const char *const *)helper->argv, arg);
}

/* The agent's socket itself is never in the plan: the relay's is. */
static void
assert_agent_filtered (Fixture *f, CboxPlan *plan)
{
  g_autofree char *sock = g_build_filename (f->root, "agent.sock", NULL);
  g_autofree char *agent_arg = g_strconcat ("--agent=", sock, NULL);
  const CboxHelper *helper = find_filter_helper (plan);
  const CboxMount *mount = cbox_plan_find_mount (plan, "/run/user/1000/ssh-agent.socket");
  g_autofree char *listen_arg = NULL;

  g_assert_nonnull (helper);
  g_assert_cmpint (helper->ready, ==, CBOX_HELPER_READY_SYNC_FD);
  g_assert_true (g_str_has_suffix (helper->argv[0], "/cbox-ssh-agent-filter"));
  g_assert_true (argv_has (helper, agent_arg));
  g_assert_true (argv_has (helper, "--sync-fd={sync-fd}"));
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_SOCKET);
  g_assert_cmpstr (mount->src, !=, sock);
  g_assert_true (g_str_has_suffix (mount->src, "/cbox-ssh-1000-0123abcd/agent"));
  listen_arg = g_strconcat ("--listen=", mount->src, NULL);
  g_assert_true (argv_has (helper, listen_arg));
  for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
    g_assert_cmpstr (cbox_plan_get_mount (plan, i)->src, !=, sock);
  g_assert_cmpstr (cbox_plan_get_env (plan, "SSH_AUTH_SOCK"), ==,
                   "/run/user/1000/ssh-agent.socket");
}

static void
test_contribute_keys (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxPlan) plan = probe_and_contribute (f, TRUE, "bwrap", CBOX_FEATURE_ALL, &error);
  g_autofree char *ssh = g_build_filename (f->root, "home/u/.ssh", NULL);
  const CboxMount *mount;

  g_assert_no_error (error);
  assert_agent_filtered (f, plan);
  /* keys=true is a choice with a warning in `cbox plan`. */
  g_assert_true (plan_has_note (plan, "warning: private key files"));

  /* A private directory with the host's entries bound in read-only. */
  mount = cbox_plan_find_mount (plan, "/home/u/.ssh");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DIR);
  mount = cbox_plan_find_mount (plan, "/home/u/.ssh/id_ed25519");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  g_assert_true (g_str_has_prefix (mount->src, ssh));
  g_assert_cmpint (cbox_plan_find_mount (plan, "/home/u/.ssh/config.d")->kind, ==, CBOX_MOUNT_RO);
  /* A ControlMaster socket is an open door to a host: left out. */
  g_assert_null (cbox_plan_find_mount (plan, "/home/u/.ssh/cm-socket"));
  /* known_hosts: a writable copy. */
  mount = cbox_plan_find_mount (plan, "/home/u/.ssh/known_hosts");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DATA);
  g_assert_true (mount->flags & CBOX_MOUNT_FLAG_WRITABLE);
}

static void
test_contribute_agent_only (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxPlan) plan = NULL;
  const CboxMount *mount;

  cbox_host_set_caller_uid (f->host, 1000);
  plan = probe_and_contribute (f, FALSE, "bwrap", CBOX_FEATURE_ALL, &error);

  g_assert_no_error (error);
  assert_agent_filtered (f, plan);
  g_assert_false (plan_has_note (plan, "warning"));
  /* No sudo: the relay runs as cbox does, and with every key. */
  {
    const CboxHelper *helper = find_filter_helper (plan);
    for (guint i = 0; helper->argv[i] != NULL; i++)
      g_assert_false (g_str_has_prefix (helper->argv[i], "--allow"));
    g_assert_true (g_path_is_absolute (helper->argv[0]));
  }
  mount = cbox_plan_find_mount (plan, "/home/u/.ssh");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DIR);
  /* The private key is not anywhere in the plan; public files are. */
  for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
    {
      mount = cbox_plan_get_mount (plan, i);
      g_assert_false (mount->src != NULL && g_str_has_suffix (mount->src, "/id_ed25519"));
    }
  g_assert_cmpint (cbox_plan_find_mount (plan, "/home/u/.ssh/id_ed25519.pub")->kind, ==,
                   CBOX_MOUNT_RO);
  g_assert_cmpint (cbox_plan_find_mount (plan, "/home/u/.ssh/config")->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpint (cbox_plan_find_mount (plan, "/home/u/.ssh/known_hosts")->kind, ==,
                   CBOX_MOUNT_DATA);
  g_assert_null (cbox_plan_find_mount (plan, "/home/u/.ssh/id_ed25519"));
  g_assert_null (cbox_plan_find_mount (plan, "/home/u/.ssh/config.d"));
  g_assert_null (cbox_plan_find_mount (plan, "/home/u/.ssh/cm-socket"));
}

static void
test_contribute_agent_keys (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxPlan) plan = NULL;
  const char *keys[] = { FINGERPRINT_11, NULL };
  const CboxHelper *helper;

  g_key_file_set_string_list (f->config, "ssh", "agent-keys", keys, 1);
  plan = probe_and_contribute (f, FALSE, "bwrap", CBOX_FEATURE_ALL, &error);
  g_assert_no_error (error);
  helper = find_filter_helper (plan);
  g_assert_nonnull (helper);
  g_assert_true (argv_has (helper, "--allow=" FINGERPRINT_11));
  g_assert_true (plan_has_note (plan, "keys: " FINGERPRINT_11));
}

static void
test_contribute_sudo (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxPlan) plan = NULL;
  const CboxHelper *helper;

  /* Root acting for uid 1000: the relay becomes that user first. */
  cbox_host_set_caller_uid (f->host, 0);
  plan = probe_and_contribute (f, FALSE, "nspawn", CBOX_FEATURE_ALL, &error);
  g_assert_no_error (error);
  helper = find_filter_helper (plan);
  g_assert_nonnull (helper);
  g_assert_cmpstr (helper->argv[0], ==, "setpriv");
  g_assert_true (argv_has (helper, "--reuid=1000"));
  g_assert_true (argv_has (helper, "--regid=1000"));
  g_assert_true (argv_has (helper, "--clear-groups"));
}

static void
test_contribute_no_socket_keys (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxPlan) plan = probe_and_contribute (
      f, TRUE, "qemu", CBOX_FEATURE_BIND | CBOX_FEATURE_DATA | CBOX_FEATURE_TMPFS, &error);
  gboolean noted = FALSE;

  g_assert_no_error (error);
  g_assert_null (cbox_plan_find_mount (plan, "/run/user/1000/ssh-agent.socket"));
  g_assert_null (cbox_plan_get_env (plan, "SSH_AUTH_SOCK"));
  g_assert_null (find_filter_helper (plan));
  g_assert_cmpint (cbox_plan_find_mount (plan, "/home/u/.ssh/id_ed25519")->kind, ==, CBOX_MOUNT_RO);
  for (guint i = 0; i < cbox_plan_get_n_notes (plan); i++)
    noted |= strstr (cbox_plan_get_note (plan, i, NULL), "cannot bind unix sockets") != NULL;
  g_assert_true (noted);
}

/* Agent only, on a backend without unix-socket binds: unavailable with
 * the reason (so forward-optional skips it, --forward=ssh fails with it),
 * even while an agent runs. */
static void
test_contribute_no_socket_agent_only (Fixture *f, gconstpointer data)
{
  FakeAgent *agent = fake_agent_start (f, "agent.sock", TRUE);
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  const char *reason;

  cbox_host_setenv (f->host, "SSH_AUTH_SOCK", "/agent.sock");
  g_key_file_set_boolean (f->config, "ssh", "keys", FALSE);
  ctx = cbox_context_new (f->host, f->config, "ssh");
  cbox_context_set_backend (ctx, "qemu",
                            CBOX_FEATURE_BIND | CBOX_FEATURE_DATA | CBOX_FEATURE_TMPFS);
  g_assert_cmpint (probe (ctx, result), ==, CBOX_PROBE_UNAVAILABLE);
  reason = cbox_probe_result_get_reason (result);
  g_assert_nonnull (strstr (reason, "keys=false"));
  g_assert_nonnull (strstr (reason, "backend 'qemu' cannot do"));
  fake_agent_stop (agent);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/ssh/probe/nothing", Fixture, NULL, fixture_setup, test_probe_nothing,
              fixture_teardown);
  g_test_add ("/ssh/probe/agent-answers", Fixture, NULL, fixture_setup, test_probe_agent_answers,
              fixture_teardown);
  g_test_add ("/ssh/probe/agent-hangs", Fixture, NULL, fixture_setup, test_probe_agent_hangs,
              fixture_teardown);
  g_test_add ("/ssh/probe/default-agent-only", Fixture, NULL, fixture_setup,
              test_probe_default_agent_only, fixture_teardown);
  g_test_add ("/ssh/probe/agent-keys", Fixture, NULL, fixture_setup, test_probe_agent_keys,
              fixture_teardown);
  g_test_add ("/ssh/probe/stale-socket", Fixture, NULL, fixture_setup, test_probe_stale_socket,
              fixture_teardown);
  g_test_add ("/ssh/probe/bad-config", Fixture, NULL, fixture_setup, test_probe_bad_config,
              fixture_teardown);
  g_test_add ("/ssh/contribute/keys", Fixture, NULL, fixture_setup, test_contribute_keys,
              fixture_teardown);
  g_test_add ("/ssh/contribute/agent-only", Fixture, NULL, fixture_setup,
              test_contribute_agent_only, fixture_teardown);
  g_test_add ("/ssh/contribute/agent-keys", Fixture, NULL, fixture_setup,
              test_contribute_agent_keys, fixture_teardown);
  g_test_add ("/ssh/contribute/sudo", Fixture, NULL, fixture_setup, test_contribute_sudo,
              fixture_teardown);
  g_test_add ("/ssh/contribute/no-socket-keys", Fixture, NULL, fixture_setup,
              test_contribute_no_socket_keys, fixture_teardown);
  g_test_add ("/ssh/contribute/no-socket-agent-only", Fixture, NULL, fixture_setup,
              test_contribute_no_socket_agent_only, fixture_teardown);
  return g_test_run ();
}

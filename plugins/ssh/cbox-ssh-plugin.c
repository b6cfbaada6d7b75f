/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forwarder "ssh": the SSH agent and, unless agent-only was chosen, the
 * keys directory ~/.ssh (read-only). See README.md for the configuration. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include <cbox/cbox-plugin.h>

/* How long the probe waits for the agent, in total. An agent that does not
 * answer within this is treated as absent rather than hanging cbox. */
#define SSH_AGENT_TIMEOUT_MS 1000

/* From the SSH agent protocol (draft-miller-ssh-agent). */
#define SSH_AGENTC_REQUEST_IDENTITIES 11
#define SSH_AGENT_IDENTITIES_ANSWER 12

typedef struct
{
  gboolean want_agent;
  gboolean want_keys;
  char *agent_socket; /* host path (under the root prefix) when answering */
  char *ssh_dir;      /* host path of ~/.ssh when it is a directory */
} SshData;

static void
ssh_data_free (SshData *data)
{
  if (data == NULL)
    return;
  g_free (data->agent_socket);
  g_free (data->ssh_dir);
  g_free (data);
}

static gboolean
ssh_read_config (CboxContext *ctx, gboolean *ret_agent, gboolean *ret_keys, GError **error)
{
  if (!cbox_context_get_boolean (ctx, "agent", TRUE, ret_agent, error)
      || !cbox_context_get_boolean (ctx, "keys", TRUE, ret_keys, error))
    {
      g_prefix_error (error, "ssh: ");
      return FALSE;
    }
  return TRUE;
}

/* Connects to the agent at @path, asks for its identities and reads the
 * answer's header, all within SSH_AGENT_TIMEOUT_MS. Sets @ret_n_keys. */
static gboolean
ssh_agent_ping (const char *path, guint32 *ret_n_keys, GError **error)
{
  static const guint8 request[] = { 0, 0, 0, 1, SSH_AGENTC_REQUEST_IDENTITIES };
  gint64 deadline = g_get_monotonic_time () + SSH_AGENT_TIMEOUT_MS * 1000;
  cbox_autofd int fd = -1;
  guint8 answer[9];
  guint32 left;

  fd = cbox_unix_connect (path, deadline, error);
  if (fd < 0)
    return FALSE;
  if (!cbox_fd_write_all (fd, request, sizeof request, deadline, NULL)
      || !cbox_fd_read_exact (fd, answer, sizeof answer, deadline, NULL)
      || answer[4] != SSH_AGENT_IDENTITIES_ANSWER)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_TIMED_OUT,
                   "the agent at %s did not answer a request for identities within %d ms", path,
                   SSH_AGENT_TIMEOUT_MS);
      return FALSE;
    }
  *ret_n_keys = ((guint32)answer[5] << 24) | ((guint32)answer[6] << 16) | ((guint32)answer[7] << 8)
                | (guint32)answer[8];

  /* Read the rest of the answer (the keys) before closing, within the same
   * bound: closing with unread data resets the connection, which the agent
   * reports as an error. Best effort: the agent has answered already. */
  left = ((guint32)answer[0] << 24) | ((guint32)answer[1] << 16) | ((guint32)answer[2] << 8)
         | (guint32)answer[3];
  left = left > 5 ? left - 5 : 0;
  while (left > 0)
    {
      guint8 sink[4096];
      gsize chunk = MIN (sizeof sink, left);
      if (!cbox_fd_read_exact (fd, sink, chunk, deadline, NULL))
        break;
      left -= (guint32)chunk;
    }
  return TRUE;
}

/* The features of the backend of this run; all of them when none is known
 * yet (a plan computed without a backend). */
static CboxFeatures
ssh_backend_features (CboxContext *ctx)
{
  if (cbox_context_get_backend (ctx) == NULL)
    return CBOX_FEATURE_ALL;
  return cbox_context_get_backend_features (ctx);
}

static gboolean
ssh_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  g_autoptr (GError) agent_error = NULL;
  g_autofree char *agent_problem = NULL;
  g_autofree char *keys_problem = NULL;
  const char *sock;
  SshData *data;
  gboolean agent_ok = FALSE;
  gboolean keys_ok = FALSE;

  data = g_new0 (SshData, 1);
  cbox_context_set_data (ctx, data, (GDestroyNotify)ssh_data_free);
  if (!ssh_read_config (ctx, &data->want_agent, &data->want_keys, error))
    return FALSE;
  cbox_probe_result_add_detail (result, "mode", "%s",
                                data->want_keys ? "agent and keys" : "agent only");

  sock = cbox_host_getenv_nonempty (host, "SSH_AUTH_SOCK");
  if (!data->want_agent)
    cbox_probe_result_add_detail (result, "agent", "off ([ssh] agent=false)");
  else if (sock == NULL || !g_path_is_absolute (sock))
    agent_problem = g_strdup ("SSH_AUTH_SOCK is not set to a socket path (start ssh-agent and "
                              "add your keys with ssh-add)");
  else
    {
      g_autofree char *path = cbox_host_resolve (host, sock);
      guint32 n_keys = 0;

      if (!ssh_agent_ping (path, &n_keys, &agent_error))
        agent_problem
            = g_strdup_printf ("SSH agent: %s (is ssh-agent running?)", agent_error->message);
      else
        {
          agent_ok = TRUE;
          data->agent_socket = g_steal_pointer (&path);
          cbox_probe_result_add_detail (result, "agent", "%s", sock);
          cbox_probe_result_add_detail (result, "agent-identities", "%u", n_keys);
        }
    }

  {
    const char *home = cbox_host_get_home_dir (host);
    g_autofree char *ssh_dir = home != NULL ? g_build_filename (home, ".ssh", NULL) : NULL;
    g_autofree char *path = ssh_dir != NULL ? cbox_host_resolve (host, ssh_dir) : NULL;

    if (path != NULL && g_file_test (path, G_FILE_TEST_IS_DIR))
      {
        keys_ok = TRUE;
        data->ssh_dir = g_steal_pointer (&path);
        cbox_probe_result_add_detail (result, "keys-dir", "%s", ssh_dir);
      }
    else if (data->want_keys)
      keys_problem = g_strdup_printf ("no directory %s", ssh_dir != NULL ? ssh_dir : "~/.ssh");
  }

  if (!data->want_keys && data->want_agent && !(ssh_backend_features (ctx) & CBOX_FEATURE_SOCKET))
    /* Agent only on a backend that cannot bind the agent's socket would
     * forward nothing: unavailable, so a profile's forward-optional
     * skips it with this reason and --forward=ssh fails with it. */
    cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                  "agent only ([ssh] keys=false) needs unix-socket binds, which "
                                  "backend '%s' cannot do; use the bwrap or nspawn backend, or "
                                  "set [ssh] keys=true to forward ~/.ssh read-only instead",
                                  cbox_context_get_backend (ctx));
  else if (!data->want_keys && !data->want_agent)
    cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                  "both the agent and the keys are turned off ([ssh] agent=false "
                                  "and keys=false)");
  else if (!data->want_keys && !agent_ok)
    cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE, "agent only: %s",
                                  agent_problem != NULL ? agent_problem : "no agent");
  else if (!agent_ok && !keys_ok)
    cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE, "%s; %s",
                                  agent_problem != NULL ? agent_problem : "agent off",
                                  keys_problem != NULL ? keys_problem : "no ~/.ssh");
  else if (agent_problem != NULL)
    cbox_probe_result_set_status (result, CBOX_PROBE_DEGRADED, "keys only: %s", agent_problem);
  else if (keys_problem != NULL)
    cbox_probe_result_set_status (result, CBOX_PROBE_DEGRADED, "agent only: %s", keys_problem);
  else
    cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);
  return TRUE;
}

static gboolean
ssh_contribute_agent (CboxContext *ctx, CboxPlan *plan, SshData *data, GError **error)
{
  g_autofree char *dest = NULL;

  if (!(ssh_backend_features (ctx) & CBOX_FEATURE_SOCKET))
    {
      /* Without the agent, agent-only mode would forward nothing at all:
       * refuse instead of starting a sandbox the user believes can push. */
      if (!data->want_keys)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                       "ssh: agent only ([ssh] keys=false) needs unix-socket binds, which backend "
                       "'%s' cannot do; use the bwrap or nspawn backend, or set [ssh] keys=true "
                       "to forward ~/.ssh read-only instead",
                       cbox_context_get_backend (ctx));
          return FALSE;
        }
      cbox_plan_add_note (plan, "agent not forwarded: backend '%s' cannot bind unix sockets",
                          cbox_context_get_backend (ctx));
      return TRUE;
    }

  /* A fixed private name under the sandbox's own runtime directory: the
   * host path (often /tmp/ssh-XXXX/agent.PID) says nothing useful inside
   * and would need its parent directories recreated. */
  dest = g_build_filename (cbox_plan_get_runtime_dir (plan), "ssh-agent.socket", NULL);
  cbox_plan_add_bind_socket (plan, data->agent_socket, dest, CBOX_MOUNT_FLAG_NONE);
  cbox_plan_set_env (plan, "SSH_AUTH_SOCK", dest);
  cbox_plan_add_note (plan, "agent: SSH_AUTH_SOCK=%s", dest);
  return TRUE;
}

static gboolean
ssh_is_public_file (const char *name)
{
  /* Nothing in these is secret; with them ssh inside finds its host keys,
   * its options and which agent key a host's IdentityFile means. */
  return g_str_equal (name, "config") || g_str_has_suffix (name, ".pub")
         || g_str_equal (name, "known_hosts") || g_str_equal (name, "known_hosts2");
}

static int
ssh_compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

static gboolean
ssh_contribute_keys_dir (CboxContext *ctx, CboxPlan *plan, SshData *data, GError **error)
{
  gboolean can_copy = (ssh_backend_features (ctx) & CBOX_FEATURE_DATA) != 0;
  gboolean read_only_known_hosts = FALSE;
  g_autofree char *dest_dir = g_build_filename (cbox_plan_get_home_dir (plan), ".ssh", NULL);
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  /* ~/.ssh itself is a private directory inside, with the host's entries
   * bound into it one by one, read-only: the sandbox may use the keys but
   * not plant a key, an authorized_keys entry or a ProxyCommand in the
   * user's config. (Binding the whole directory read-only would leave no
   * way to put a writable known_hosts copy over one of its files.) What
   * the sandbox creates in it stays inside. */
  cbox_plan_add_dir (plan, dest_dir, 0700);

  dir = g_dir_open (data->ssh_dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc)ssh_compare_names);

  for (guint i = 0; i < names->len; i++)
    {
      const char *file = g_ptr_array_index (names, i);
      g_autofree char *src = g_build_filename (data->ssh_dir, file, NULL);
      g_autofree char *dest = g_build_filename (dest_dir, file, NULL);
      gboolean known_hosts = g_str_has_prefix (file, "known_hosts");
      gboolean is_file = g_file_test (src, G_FILE_TEST_IS_REGULAR);
      gboolean is_dir = g_file_test (src, G_FILE_TEST_IS_DIR);

      /* Only files and directories: a socket here is an OpenSSH
       * ControlMaster connection, already authenticated to some host, and
       * handing it over would skip the agent entirely. Agent only: only
       * what holds no secret. */
      if ((!is_file && !is_dir) || (!data->want_keys && !ssh_is_public_file (file)))
        continue;
      if (known_hosts && is_file && can_copy)
        {
          /* A writable copy: ssh inside may record new host keys, and they
           * never reach the host's file (the sandbox cannot vouch for a
           * host key on the user's behalf). */
          if (!cbox_plan_add_copy (plan, src, dest, CBOX_MOUNT_FLAG_ALLOW_MISSING, error))
            {
              g_prefix_error (error, "ssh: ");
              return FALSE;
            }
          continue;
        }
      read_only_known_hosts |= known_hosts;
      cbox_plan_add_bind_ro (plan, src, dest, CBOX_MOUNT_FLAG_ALLOW_MISSING);
    }
  if (read_only_known_hosts)
    cbox_plan_add_note (plan,
                        "known_hosts is read-only inside: backend '%s' cannot add "
                        "generated files",
                        cbox_context_get_backend (ctx));
  cbox_plan_add_note (plan, "%s",
                      data->want_keys ? "~/.ssh entries read-only (private keys readable)"
                                      : "agent only: no private keys inside");
  return TRUE;
}

static gboolean
ssh_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  SshData *data = cbox_context_get_data (ctx);

  g_return_val_if_fail (data != NULL, FALSE);

  if (data->want_agent && data->agent_socket != NULL
      && !ssh_contribute_agent (ctx, plan, data, error))
    return FALSE;
  if (data->ssh_dir != NULL && !ssh_contribute_keys_dir (ctx, plan, data, error))
    return FALSE;
  return TRUE;
}

static const CboxForwarderVTable ssh_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = ssh_probe,
  .contribute = ssh_contribute,
};

/* Every key of [ssh] (docs/config.md lists them from here). */
static const CboxPluginKey ssh_config_keys[] = {
  { .name = "keys",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "~/.ssh read-only, private keys included; false: agent only",
    .default_value = "true" },
  { .name = "agent",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "forward the SSH agent",
    .default_value = "true" },
  { NULL },
};

/* Needs only binds: the socket is optional (a backend without it gets the
 * keys directory only), so the planner does not refuse ssh on qemu. */
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "ssh", .version = "1.0",
                    .description = "SSH agent and keys (~/.ssh read-only, or agent only)",
                    .features = CBOX_FEATURE_BIND, .forwarder = &ssh_vtable,
                    .default_enabled = FALSE, .keys = ssh_config_keys)

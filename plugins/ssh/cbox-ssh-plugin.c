/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forwarder "ssh": the SSH agent, through cbox-ssh-agent-filter (list and
 * sign only), and the public files of ~/.ssh; the private key files only
 * when [ssh] keys=true. See README.md for the configuration. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include <cbox/cbox-plugin.h>

#include "cbox-ssh-agent-msg.h"

/* How long the probe waits for the agent, in total. An agent that does not
 * answer within this is treated as absent rather than hanging cbox. */
#define SSH_AGENT_TIMEOUT_MS 1000

/* From the SSH agent protocol (draft-miller-ssh-agent). */
#define SSH_AGENTC_REQUEST_IDENTITIES 11
#define SSH_AGENT_IDENTITIES_ANSWER 12

#define SSH_FILTER_NAME "cbox-ssh-agent-filter"
#define SSH_RUN_DIR_PREFIX "cbox-ssh-"
/* A .pub file is one line; anything larger is not one. */
#define SSH_PUBLIC_KEY_MAX_SIZE (64 * 1024)

typedef struct
{
  gboolean want_agent;
  gboolean want_keys;
  GPtrArray *agent_keys; /* SHA256 fingerprints of [ssh] agent-keys, or NULL: all */
  char *filter;          /* cbox-ssh-agent-filter, or NULL when not found */
  char *agent_socket;    /* host path (under the root prefix) when answering */
  char *ssh_dir;         /* host path of ~/.ssh when it is a directory */
  char *run_dir;         /* the relay's private folder, once planned */
} SshData;

static void
ssh_data_free (SshData *data)
{
  if (data == NULL)
    return;
  g_clear_pointer (&data->agent_keys, g_ptr_array_unref);
  g_free (data->filter);
  g_free (data->agent_socket);
  g_free (data->ssh_dir);
  g_free (data->run_dir);
  g_free (data);
}

/* One [ssh] agent-keys entry as a fingerprint: "SHA256:..." as it is, a
 * public key line ("ssh-ed25519 AAAA... comment"), or the path of a .pub
 * file (absolute, or ~/ for the home). */
static char *
ssh_agent_key_fingerprint (const CboxHost *host, const char *entry, GError **error)
{
  const char *problem = NULL;
  g_autoptr (GBytes) blob = NULL;

  if (g_str_has_prefix (entry, "SHA256:"))
    {
      if (cbox_ssh_agent_fingerprint_is_valid (entry))
        return g_strdup (entry);
      problem = "not a SHA256 fingerprint as ssh-add -l prints it";
    }
  else if (g_str_has_prefix (entry, "MD5:"))
    problem = "MD5 fingerprints are not accepted; use the SHA256 one (ssh-add -l)";
  else if (entry[0] == '/' || g_str_has_prefix (entry, "~/"))
    {
      const char *home = cbox_host_get_home_dir (host);
      g_autofree char *path = entry[0] == '/' || home == NULL
                                  ? g_strdup (entry)
                                  : g_build_filename (home, entry + 2, NULL);
      g_autoptr (GError) local_error = NULL;
      g_autoptr (GBytes) bytes = NULL;
      g_autofree char *text = NULL;
      char *newline;
      uid_t uid = cbox_host_get_uid (host);

      /* Root acting for a user (sudo) reads only what that user could:
       * a file of the user's or one everybody may read. Otherwise the
       * user's configuration could have root read, say, the first line
       * of a root-only file and answer whether it is a key. */
      if (cbox_host_get_caller_uid (host) == 0 && uid != 0)
        {
          g_autofree char *resolved = cbox_host_resolve (host, path);
          struct stat st;

          if (stat (resolved, &st) != 0
              || !((st.st_uid == uid && (st.st_mode & S_IRUSR)) || (st.st_mode & S_IROTH)))
            {
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                           "[ssh] agent-keys: %s: not a file user %u may read", entry,
                           (unsigned)uid);
              return NULL;
            }
        }
      /* Read without blocking: a fifo named here must not hang cbox. */
      bytes = cbox_host_read_file (host, path, SSH_PUBLIC_KEY_MAX_SIZE, &local_error);
      if (bytes == NULL)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG, "[ssh] agent-keys: %s: %s", entry,
                       local_error->message);
          return NULL;
        }
      text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
      newline = strchr (text, '\n');
      if (newline != NULL)
        *newline = '\0';
      blob = cbox_ssh_agent_parse_public_key (g_strstrip (text), &problem);
    }
  else
    blob = cbox_ssh_agent_parse_public_key (entry, &problem);

  if (blob == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "[ssh] agent-keys: '%s': %s (give a SHA256 fingerprint, a public key line "
                   "or the path of a .pub file)",
                   entry, problem != NULL ? problem : "not a key");
      return NULL;
    }
  return cbox_ssh_agent_fingerprint (g_bytes_get_data (blob, NULL), g_bytes_get_size (blob));
}

static gboolean
ssh_read_config (CboxContext *ctx, SshData *data, GError **error)
{
  g_auto (GStrv) keys = NULL;

  /* keys=false by default: a private key file inside can be copied out
   * and used anywhere, for ever; through the agent the sandbox can only
   * ask for signatures while it runs. */
  if (!cbox_context_get_boolean (ctx, "agent", TRUE, &data->want_agent, error)
      || !cbox_context_get_boolean (ctx, "keys", FALSE, &data->want_keys, error))
    {
      g_prefix_error (error, "ssh: ");
      return FALSE;
    }
  keys = cbox_context_get_string_list (ctx, "agent-keys");
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      g_autofree char *fingerprint = NULL;

      g_strstrip (keys[i]);
      if (keys[i][0] == '\0')
        continue;
      fingerprint = ssh_agent_key_fingerprint (cbox_context_get_host (ctx), keys[i], error);
      if (fingerprint == NULL)
        {
          g_prefix_error (error, "ssh: ");
          return FALSE;
        }
      if (data->agent_keys == NULL)
        data->agent_keys = g_ptr_array_new_with_free_func (g_free);
      if (!g_ptr_array_find_with_equal_func (data->agent_keys, fingerprint, g_str_equal, NULL))
        g_ptr_array_add (data->agent_keys, g_steal_pointer (&fingerprint));
    }
  return TRUE;
}

/* The allowed keys, for messages: "SHA256:a, SHA256:b". */
static char *
ssh_agent_keys_summary (const SshData *data)
{
  g_autoptr (GString) list = g_string_new (NULL);

  for (guint i = 0; data->agent_keys != NULL && i < data->agent_keys->len; i++)
    g_string_append_printf (list, "%s%s", i > 0 ? ", " : "",
                            (const char *)g_ptr_array_index (data->agent_keys, i));
  return g_string_free (g_steal_pointer (&list), FALSE);
}

/* The relay: in cbox's libexec dir when installed, beside this plugin in
 * the build tree. NULL when it is in neither. */
static char *
ssh_find_filter (CboxContext *ctx)
{
  const char *libexec_dir = cbox_context_get_libexec_dir (ctx);
  Dl_info info;

  if (libexec_dir != NULL)
    {
      g_autofree char *path = g_build_filename (libexec_dir, SSH_FILTER_NAME, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
        return g_steal_pointer (&path);
    }
  if (dladdr ((void *)ssh_find_filter, &info) != 0 && info.dli_fname != NULL)
    {
      /* Absolute: the helper's argv[0] is looked up in PATH otherwise. */
      g_autofree char *file = g_canonicalize_filename (info.dli_fname, NULL);
      g_autofree char *dir = g_path_get_dirname (file);
      g_autofree char *path = g_build_filename (dir, SSH_FILTER_NAME, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
        return g_steal_pointer (&path);
    }
  return NULL;
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

/* The agent needs the filter's socket bound in and the filter running
 * beside the sandbox. */
static gboolean
ssh_backend_can_agent (CboxContext *ctx)
{
  CboxFeatures features = ssh_backend_features (ctx);
  return (features & CBOX_FEATURE_SOCKET) && (features & CBOX_FEATURE_HELPER);
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
  if (!ssh_read_config (ctx, data, error))
    return FALSE;
  cbox_probe_result_add_detail (result, "mode", "%s",
                                data->want_keys ? "agent and keys" : "agent only");
  if (data->agent_keys != NULL)
    {
      g_autofree char *list = ssh_agent_keys_summary (data);
      cbox_probe_result_add_detail (result, "agent-keys", "%s", list);
    }

  sock = cbox_host_getenv_nonempty (host, "SSH_AUTH_SOCK");
  if (data->want_agent)
    data->filter = ssh_find_filter (ctx);
  if (!data->want_agent)
    cbox_probe_result_add_detail (result, "agent", "off ([ssh] agent=false)");
  else if (data->filter == NULL)
    /* Never the agent's own socket instead: that would give the sandbox
     * ssh-add -D, -x and the rest. */
    agent_problem = g_strdup_printf ("%s not found in %s (is cbox installed completely?)",
                                     SSH_FILTER_NAME, cbox_context_get_libexec_dir (ctx));
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

  if (!data->want_keys && data->want_agent && !ssh_backend_can_agent (ctx))
    /* Agent only on a backend that cannot bind the filter's socket would
     * forward nothing: unavailable, so a profile's forward-optional
     * skips it with this reason and --forward=ssh fails with it. */
    cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                  "agent only ([ssh] keys=false, the default) needs unix-socket "
                                  "binds and a host helper, which backend '%s' cannot do; use the "
                                  "bwrap or nspawn backend, or set [ssh] keys=true to forward "
                                  "~/.ssh read-only, private keys included",
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

/* Where the relay's private folder goes: the user's runtime directory,
 * else the temporary directory. */
static char *
ssh_run_dir_base (const CboxHost *host)
{
  const char *runtime_dir = cbox_host_get_runtime_dir (host);

  if (runtime_dir != NULL)
    {
      g_autofree char *resolved = cbox_host_resolve (host, runtime_dir);
      if (g_file_test (resolved, G_FILE_TEST_IS_DIR))
        return g_steal_pointer (&resolved);
    }
  return g_strdup (g_get_tmp_dir ());
}

static gboolean
ssh_contribute_agent (CboxContext *ctx, CboxPlan *plan, SshData *data, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  g_autofree char *dest = NULL;
  g_autofree char *base = NULL;
  g_autofree char *socket = NULL;
  g_autofree char *keys = NULL;
  g_autoptr (GPtrArray) argv = NULL;
  const char *instance = cbox_context_get_instance_id (ctx);
  uid_t uid = cbox_host_get_uid (host);
  gid_t gid = cbox_host_get_gid (host);

  if (!ssh_backend_can_agent (ctx))
    {
      /* Without the agent, agent-only mode would forward nothing at all:
       * refuse instead of starting a sandbox the user believes can push. */
      if (!data->want_keys)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                       "ssh: the agent needs unix-socket binds and a host helper, which backend "
                       "'%s' cannot do, and [ssh] keys=false (the default) forwards no key "
                       "file; use the bwrap or nspawn backend, or set [ssh] keys=true to forward "
                       "~/.ssh read-only, private keys included",
                       cbox_context_get_backend (ctx));
          return FALSE;
        }
      cbox_plan_add_note (plan, "agent not forwarded: backend '%s' cannot bind unix sockets",
                          cbox_context_get_backend (ctx));
      return TRUE;
    }

  /* The agent's own socket never enters the sandbox: with it, the sandbox
   * could remove the user's keys (ssh-add -D), add its own, or lock the
   * agent with a password of its choosing. cbox-ssh-agent-filter runs on
   * the host beside the sandbox and lets only listing and signing through,
   * with the keys of [ssh] agent-keys when that is set. Its socket is in a
   * private folder (0700, made in prepare) bound at a fixed path inside;
   * the host path (often /tmp/ssh-XXXX/agent.PID) says nothing useful
   * inside and would need its parent directories recreated. */
  base = ssh_run_dir_base (host);
  g_free (data->run_dir);
  data->run_dir = g_strdup_printf ("%s/" SSH_RUN_DIR_PREFIX "%u-%s", base, (unsigned)uid,
                                   instance != NULL ? instance : "plan");
  socket = g_build_filename (data->run_dir, "agent", NULL);
  dest = g_build_filename (cbox_plan_get_runtime_dir (plan), "ssh-agent.socket", NULL);

  argv = g_ptr_array_new_with_free_func (g_free);
  /* cbox runs as root for somebody else (sudo, the nspawn backend): the
   * relay runs as that user, as the D-Bus proxy does, so the agent sees
   * the user it serves (ssh-agent refuses peers of another uid) and root's
   * privileges never stand behind the sandbox's socket. */
  if (cbox_host_get_caller_uid (host) == 0 && uid != 0 && uid != (uid_t)-1)
    {
      g_ptr_array_add (argv, g_strdup ("setpriv"));
      g_ptr_array_add (argv, g_strdup_printf ("--reuid=%u", (unsigned)uid));
      g_ptr_array_add (argv, g_strdup_printf ("--regid=%u", (unsigned)gid));
      g_ptr_array_add (argv, g_strdup ("--clear-groups"));
      g_ptr_array_add (argv, g_strdup ("--"));
    }
  g_ptr_array_add (argv, g_strdup (data->filter));
  g_ptr_array_add (argv, g_strdup_printf ("--agent=%s", data->agent_socket));
  g_ptr_array_add (argv, g_strdup_printf ("--listen=%s", socket));
  /* Readiness and lifetime: the relay writes a byte once it listens, and
   * exits when cbox's end of this pipe closes, also when cbox is killed. */
  g_ptr_array_add (argv, g_strdup ("--sync-fd={sync-fd}"));
  for (guint i = 0; data->agent_keys != NULL && i < data->agent_keys->len; i++)
    g_ptr_array_add (argv, g_strdup_printf ("--allow=%s",
                                            (const char *)g_ptr_array_index (data->agent_keys, i)));
  if (cbox_context_get_verbose (ctx))
    g_ptr_array_add (argv, g_strdup ("--verbose"));
  g_ptr_array_add (argv, NULL);
  cbox_plan_take_helper (plan, SSH_FILTER_NAME,
                         (char **)g_ptr_array_free (g_steal_pointer (&argv), FALSE),
                         CBOX_HELPER_READY_SYNC_FD, NULL);

  cbox_plan_add_bind_socket (plan, socket, dest, CBOX_MOUNT_FLAG_NONE);
  cbox_plan_set_env (plan, "SSH_AUTH_SOCK", dest);
  keys = ssh_agent_keys_summary (data);
  cbox_plan_add_note (plan,
                      "agent: SSH_AUTH_SOCK=%s, filtered by %s: list and sign only (never add, "
                      "remove, lock or unlock), keys: %s",
                      dest, SSH_FILTER_NAME,
                      data->agent_keys != NULL ? keys : "all of the agent's");
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
  if (data->want_keys)
    cbox_plan_add_note (plan, "warning: private key files of ~/.ssh are readable inside ([ssh] "
                              "keys=true): the command can copy them and use them anywhere, for "
                              "ever; the agent alone (keys=false, the default) keeps them on the "
                              "host");
  else
    cbox_plan_add_note (plan, "agent only: no private key file inside (~/.ssh: config, *.pub, "
                              "known_hosts)");
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

/* ---- the relay's private folder -------------------------------------------- */

static gboolean
ssh_prepare (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  SshData *data = cbox_context_get_data (ctx);

  if (data == NULL || data->run_dir == NULL)
    return TRUE;

  /* The relay runs as the user (see ssh_contribute_agent()) and makes its
   * socket here: the folder is theirs. */
  if (!cbox_plan_make_run_dir (plan, data->run_dir, SSH_RUN_DIR_PREFIX, cbox_host_get_uid (host),
                               cbox_host_get_gid (host), error))
    {
      g_prefix_error (error, "ssh: ");
      return FALSE;
    }
  return TRUE;
}

static const CboxForwarderVTable ssh_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = ssh_probe,
  .contribute = ssh_contribute,
  .prepare = ssh_prepare,
};

/* Every key of [ssh] (docs/config.md lists them from here). */
static const CboxPluginKey ssh_config_keys[] = {
  { .name = "keys",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "~/.ssh read-only, private keys included; false: the filtered agent only",
    .default_value = "false" },
  { .name = "agent",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "forward the SSH agent (through the filter: list and sign only)",
    .default_value = "true" },
  { .name = "agent-keys",
    .type = CBOX_PLUGIN_KEY_STRING_LIST,
    .description = "only these keys are listed and may sign (SHA256 fingerprints, public key "
                   "lines or .pub files)",
    .default_value = NULL },
  { NULL },
};

/* Needs only binds: the socket and the helper are optional (a backend
 * without them gets the keys directory only, with keys=true), so the
 * planner does not refuse ssh on qemu before the plugin can say why. */
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "ssh", .version = "1.1",
                    .description = "SSH agent, filtered (list and sign only), and ~/.ssh's "
                                   "public files (private keys with keys=true)",
                    .features = CBOX_FEATURE_BIND, .forwarder = &ssh_vtable,
                    .default_enabled = FALSE, .keys = ssh_config_keys)

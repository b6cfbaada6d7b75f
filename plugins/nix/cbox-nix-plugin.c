/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forwarder "nix": the Nix store read-only and the nix-daemon socket, so
 * that nix inside builds through the host's daemon. See README.md. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include <cbox/cbox-plugin.h>

#define NIX_DEFAULT_SOCKET "/nix/var/nix/daemon-socket/socket"

/* How long the probe waits for the daemon, in total. */
#define NIX_DAEMON_TIMEOUT_MS 2000

/* From the Nix worker protocol (src/libstore/worker-protocol.hh). */
#define NIX_WORKER_MAGIC_1 0x6e697863
#define NIX_WORKER_MAGIC_2 0x6478696f
#define NIX_STDERR_LAST 0x616c7473
/* The version this probe speaks: old enough for every daemon since Nix 2.0,
 * and before the daemon sends its version string (1.33). */
#define NIX_CLIENT_PROTOCOL 0x115
#define NIX_PROTOCOL_MINOR(v) ((v)&0x00ff)
#define NIX_PROTOCOL_MAJOR(v) ((v)&0xff00)

typedef struct
{
  char *socket;        /* host path under the root prefix */
  GPtrArray *bin_dirs; /* directories holding nix, as the sandbox sees them */
  char *profile;       /* canonical target of ~/.nix-profile, or NULL */
} NixData;

static void
nix_data_free (NixData *data)
{
  if (data == NULL)
    return;
  g_free (data->socket);
  g_ptr_array_unref (data->bin_dirs);
  g_free (data->profile);
  g_free (data);
}

/* ---- talking to the daemon -------------------------------------------- */

/* The worker protocol's numbers: 64-bit little-endian. */
static gboolean
nix_send_u64 (int fd, guint64 value, gint64 deadline)
{
  guint8 buf[8];

  for (int i = 0; i < 8; i++)
    buf[i] = (guint8)(value >> (8 * i));
  return cbox_fd_write_all (fd, buf, sizeof buf, deadline, NULL);
}

static gboolean
nix_recv_u64 (int fd, guint64 *ret_value, gint64 deadline)
{
  guint8 buf[8];
  guint64 value = 0;

  if (!cbox_fd_read_exact (fd, buf, sizeof buf, deadline, NULL))
    return FALSE;
  for (int i = 7; i >= 0; i--)
    value = (value << 8) | buf[i];
  *ret_value = value;
  return TRUE;
}

/* Connects to the daemon at @path and exchanges the worker protocol's
 * greeting, bounded by NIX_DAEMON_TIMEOUT_MS. The handshake is finished
 * (client version, the two obsolete fields, the daemon's STDERR_LAST) so
 * that closing afterwards is an ordinary end of session for the daemon,
 * not an error in its log. */
static gboolean
nix_daemon_ping (const char *path, guint64 *ret_version, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + NIX_DAEMON_TIMEOUT_MS * 1000;
  cbox_autofd int fd = -1;
  guint64 magic = 0;
  guint64 version = 0;
  guint64 client;
  guint64 last = 0;

  fd = cbox_unix_connect (path, deadline, error);
  if (fd < 0)
    return FALSE;
  if (!nix_send_u64 (fd, NIX_WORKER_MAGIC_1, deadline) || !nix_recv_u64 (fd, &magic, deadline)
      || !nix_recv_u64 (fd, &version, deadline) || magic != NIX_WORKER_MAGIC_2)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_TIMED_OUT,
                   "no nix-daemon greeting from %s within %d ms", path, NIX_DAEMON_TIMEOUT_MS);
      return FALSE;
    }
  *ret_version = version;

  /* Best effort from here: the daemon answered, which is what counts. */
  client = NIX_PROTOCOL_MAJOR (version) == NIX_PROTOCOL_MAJOR (NIX_CLIENT_PROTOCOL)
                   && version < NIX_CLIENT_PROTOCOL
               ? version
               : NIX_CLIENT_PROTOCOL;
  if (nix_send_u64 (fd, client, deadline)
      && (NIX_PROTOCOL_MINOR (client) < 14 || nix_send_u64 (fd, 0, deadline))
      && (NIX_PROTOCOL_MINOR (client) < 11 || nix_send_u64 (fd, 0, deadline)))
    nix_recv_u64 (fd, &last, deadline);
  return TRUE;
}

/* ---- probe ------------------------------------------------------------- */

static char *
nix_realpath (const char *path)
{
  char *real = realpath (path, NULL);
  char *copy = g_strdup (real);

  free (real);
  return copy;
}

static void
nix_add_bin_dir (NixData *data, const CboxHost *host, const char *dir)
{
  g_autofree char *nix = g_build_filename (dir, "nix-store", NULL);
  g_autofree char *resolved = cbox_host_resolve (host, nix);

  if (!g_file_test (resolved, G_FILE_TEST_IS_EXECUTABLE))
    return;
  for (guint i = 0; i < data->bin_dirs->len; i++)
    if (g_str_equal (g_ptr_array_index (data->bin_dirs, i), dir))
      return;
  g_ptr_array_add (data->bin_dirs, g_strdup (dir));
}

static gboolean
nix_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  const char *home = cbox_host_get_home_dir (host);
  g_autofree char *configured = cbox_context_get_string (ctx, "socket");
  g_autofree char *socket_path = NULL;
  g_autofree char *resolved = NULL;
  g_autoptr (GError) ping_error = NULL;
  g_autofree char *store = cbox_host_resolve (host, "/nix/store");
  guint64 version = 0;
  NixData *data;

  data = g_new0 (NixData, 1);
  data->bin_dirs = g_ptr_array_new_with_free_func (g_free);
  cbox_context_set_data (ctx, data, (GDestroyNotify)nix_data_free);

  /* NIX_DAEMON_SOCKET_PATH is how nix itself is pointed at another socket. */
  if (configured != NULL && configured[0] != '\0')
    socket_path = g_steal_pointer (&configured);
  else if (cbox_host_getenv_nonempty (host, "NIX_DAEMON_SOCKET_PATH") != NULL)
    socket_path = g_strdup (cbox_host_getenv_nonempty (host, "NIX_DAEMON_SOCKET_PATH"));
  else
    socket_path = g_strdup (NIX_DEFAULT_SOCKET);
  if (!g_path_is_absolute (socket_path))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "nix: the daemon socket '%s' ([nix] socket or NIX_DAEMON_SOCKET_PATH) must be "
                   "an absolute path",
                   socket_path);
      return FALSE;
    }
  resolved = cbox_host_resolve (host, socket_path);
  cbox_probe_result_add_detail (result, "socket", "%s", socket_path);

  if (!g_file_test (resolved, G_FILE_TEST_EXISTS))
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                    "no nix-daemon socket at %s (is the Nix daemon installed and "
                                    "running? systemctl start nix-daemon.socket)",
                                    socket_path);
      return TRUE;
    }
  if (!nix_daemon_ping (resolved, &version, &ping_error))
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                    "nix-daemon: %s (is nix-daemon running?)", ping_error->message);
      return TRUE;
    }
  data->socket = g_steal_pointer (&resolved);
  cbox_probe_result_add_detail (result, "daemon-protocol", "%u.%u",
                                (unsigned)(NIX_PROTOCOL_MAJOR (version) >> 8),
                                (unsigned)NIX_PROTOCOL_MINOR (version));
  cbox_probe_result_add_detail (
      result, "store", "%s", g_file_test (store, G_FILE_TEST_IS_DIR) ? "/nix/store" : "(none yet)");

  /* Where the nix commands are: distribution packages (nix-bin: /usr/bin),
   * NixOS, the multi-user installer's default profile, the user's profile. */
  nix_add_bin_dir (data, host, "/usr/bin");
  if (cbox_host_is_nixos (host))
    nix_add_bin_dir (data, host, "/run/current-system/sw/bin");
  nix_add_bin_dir (data, host, "/nix/var/nix/profiles/default/bin");
  if (home != NULL && g_path_is_absolute (home))
    {
      g_autofree char *link = g_build_filename (home, ".nix-profile", NULL);
      g_autofree char *link_resolved = cbox_host_resolve (host, link);
      g_autofree char *target = nix_realpath (link_resolved);
      g_autofree char *real_store = nix_realpath (store);
      g_autofree char *store_prefix
          = g_strconcat (real_store != NULL ? real_store : store, "/", NULL);

      /* Only a profile that ends in the store is visible inside. */
      if (target != NULL && g_str_has_prefix (target, store_prefix))
        {
          g_autofree char *bin = g_build_filename (target, "bin", "nix-store", NULL);
          g_autofree char *inside
              = g_strconcat ("/nix/store/", target + strlen (store_prefix), NULL);
          data->profile = g_steal_pointer (&inside);
          if (g_file_test (bin, G_FILE_TEST_IS_EXECUTABLE))
            {
              g_autofree char *dir = g_build_filename (home, ".nix-profile", "bin", NULL);
              g_ptr_array_add (data->bin_dirs, g_steal_pointer (&dir));
            }
        }
    }
  if (data->bin_dirs->len == 0)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_DEGRADED,
                                    "the daemon answers, but no nix commands were found (/usr/bin, "
                                    "/nix/var/nix/profiles/default/bin, ~/.nix-profile/bin)");
      return TRUE;
    }
  {
    g_autoptr (GString) dirs = g_string_new (NULL);
    for (guint i = 0; i < data->bin_dirs->len; i++)
      g_string_append_printf (dirs, "%s%s", i > 0 ? ":" : "",
                              (const char *)g_ptr_array_index (data->bin_dirs, i));
    cbox_probe_result_add_detail (result, "bin", "%s", dirs->str);
  }
  cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);
  return TRUE;
}

/* ---- contribute ---------------------------------------------------------- */

/* @path with @dir appended unless it is already one of its entries. */
static char *
nix_path_append (const char *path, const char *dir)
{
  g_auto (GStrv) entries = g_strsplit (path != NULL ? path : "", ":", -1);

  if (g_strv_contains ((const char *const *)entries, dir))
    return g_strdup (path);
  if (path == NULL || path[0] == '\0')
    return g_strdup (dir);
  return g_strconcat (path, ":", dir, NULL);
}

/* Host directories bound read-only at the same path. */
static void
nix_bind_ro (CboxPlan *plan, const CboxHost *host, const char *path)
{
  g_autofree char *src = cbox_host_resolve (host, path);

  if (cbox_plan_find_mount (plan, path) == NULL)
    cbox_plan_add_bind_ro (plan, src, path, CBOX_MOUNT_FLAG_ALLOW_MISSING);
}

static gboolean
nix_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  NixData *data = cbox_context_get_data (ctx);
  g_autofree char *path = NULL;
  const char *nix_path;
  const char *cert_file;

  g_return_val_if_fail (data != NULL && data->socket != NULL, FALSE);

  /* The store and the database read-only: builds happen in the daemon,
   * which alone writes them; a sandbox that could write the store could
   * plant a trojan in every later build. On NixOS the base plan already
   * has the store. */
  nix_bind_ro (plan, host, "/nix/store");
  nix_bind_ro (plan, host, "/nix/var/nix/db");
  /* Profiles are symlinks into the store (the installer's default profile
   * holds nix itself on non-NixOS systems); nothing secret. */
  nix_bind_ro (plan, host, "/nix/var/nix/profiles");
  nix_bind_ro (plan, host, "/etc/nix");
  /* NixOS links /etc/nix/nix.conf through /etc/static into the store. */
  if (cbox_host_is_nixos (host))
    nix_bind_ro (plan, host, "/etc/static");

  /* The daemon decides what a client may do (allowed-users, trusted-users)
   * by the peer's uid, which is the user's own inside as outside. Inside
   * the socket sits at the default path, so nix finds it without
   * NIX_DAEMON_SOCKET_PATH. */
  cbox_plan_add_bind_socket (plan, data->socket, NIX_DEFAULT_SOCKET, CBOX_MOUNT_FLAG_NONE);
  cbox_plan_set_env (plan, "NIX_REMOTE", "daemon");

  if (data->profile != NULL)
    {
      g_autofree char *link
          = g_build_filename (cbox_plan_get_home_dir (plan), ".nix-profile", NULL);
      /* Pinned to the generation current at launch: inside the profile
       * cannot change anyway (the store is read-only). */
      cbox_plan_add_symlink (plan, data->profile, link);
    }

  path = g_strdup (cbox_plan_get_env (plan, "PATH"));
  for (guint i = 0; i < data->bin_dirs->len; i++)
    {
      g_autofree char *next = nix_path_append (path, g_ptr_array_index (data->bin_dirs, i));
      g_free (path);
      path = g_steal_pointer (&next);
    }
  if (path != NULL)
    cbox_plan_set_env (plan, "PATH", path);

  nix_path = cbox_host_getenv_nonempty (host, "NIX_PATH");
  if (nix_path != NULL)
    cbox_plan_set_env (plan, "NIX_PATH", nix_path);
  cert_file = cbox_host_getenv_nonempty (host, "NIX_SSL_CERT_FILE");
  if (cert_file != NULL && g_path_is_absolute (cert_file))
    {
      g_autofree char *canonical = g_canonicalize_filename (cert_file, "/");
      if (!g_str_has_prefix (canonical, "/nix/store/") && !g_str_has_prefix (canonical, "/usr/"))
        nix_bind_ro (plan, host, canonical);
      cbox_plan_set_env (plan, "NIX_SSL_CERT_FILE", canonical);
    }
  cbox_plan_add_note (plan, "nix-daemon socket at %s, NIX_REMOTE=daemon", NIX_DEFAULT_SOCKET);
  return TRUE;
}

static const CboxForwarderVTable nix_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = nix_probe,
  .contribute = nix_contribute,
};

/* Every key of [nix] (docs/config.md lists them from here). */
static const CboxPluginKey nix_config_keys[] = {
  { .name = "socket",
    .type = CBOX_PLUGIN_KEY_STRING,
    .description = "host path of the nix-daemon socket",
    .default_value = "$NIX_DAEMON_SOCKET_PATH, else /nix/var/nix/daemon-socket/socket" },
  { NULL },
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "nix", .version = "1.0",
                    .description = "Nix store (read-only) and the nix-daemon socket",
                    .features = CBOX_FEATURE_BIND | CBOX_FEATURE_SOCKET | CBOX_FEATURE_SYMLINK,
                    .forwarder = &nix_vtable, .default_enabled = FALSE, .keys = nix_config_keys)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forwarder "x11": one X11 display in, with only that display's cookies. */
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cbox/cbox-plugin.h>

#include "cbox-x11-display.h"
#include "cbox-x11-xauth.h"

/* What probe found, reused by contribute. */
typedef struct
{
  char *display_env;       /* DISPLAY as the host has it */
  CboxX11Display *display; /* parsed */
  char *socket_path;       /* local: the host socket, "/tmp/.X11-unix/X0" */
  char *xauth_path;        /* the host Xauthority file looked at */
  GPtrArray *entries;      /* the filtered entries (FamilyWild), maybe empty */
  char *xauth_note;        /* why there are none, when there are none */
} X11State;

static void
x11_state_free (X11State *state)
{
  if (state == NULL)
    return;
  g_free (state->display_env);
  cbox_x11_display_free (state->display);
  g_free (state->socket_path);
  g_free (state->xauth_path);
  g_clear_pointer (&state->entries, g_ptr_array_unref);
  g_free (state->xauth_note);
  g_free (state);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (X11State, x11_state_free)

/* The raw addresses a TCP display's host has, for FamilyInternet(6)
 * entries. A name is resolved as the X client inside will resolve it. */
static GPtrArray *
x11_remote_addresses (const CboxX11Display *display)
{
  GPtrArray *addresses = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
  struct addrinfo *res = NULL;

  if (getaddrinfo (display->host, NULL, &hints, &res) != 0)
    return addresses;
  for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
    {
      GBytes *bytes = NULL;
      if (ai->ai_family == AF_INET)
        bytes = g_bytes_new (&((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
      else if (ai->ai_family == AF_INET6)
        bytes = g_bytes_new (&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
      if (bytes != NULL)
        g_ptr_array_add (addresses, bytes);
    }
  freeaddrinfo (res);
  return addresses;
}

/* Looks at DISPLAY, the socket and the Xauthority. Errors (domain
 * CBOX_ERROR, code UNAVAILABLE) say why the display cannot be forwarded. */
static X11State *
x11_inspect (CboxContext *ctx, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  g_autoptr (X11State) state = g_new0 (X11State, 1);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GBytes) contents = NULL;
  g_autoptr (GPtrArray) all = NULL;
  g_autoptr (GPtrArray) remote = NULL;
  const char *env_xauth;
  const char *hostnames[3] = { NULL, NULL, NULL };
  CboxXauthMatch match = { 0 };

  state->display_env = g_strdup (cbox_host_getenv_nonempty (host, "DISPLAY"));
  if (state->display_env == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "DISPLAY is not set (no X11 display to forward)");
      return NULL;
    }
  state->display = cbox_x11_display_parse (state->display_env, &local_error);
  if (state->display == NULL)
    {
      g_set_error_literal (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE, local_error->message);
      return NULL;
    }

  if (state->display->local)
    {
      g_autofree char *resolved = NULL;

      state->socket_path = cbox_x11_display_get_socket_path (state->display);
      resolved = cbox_host_resolve (host, state->socket_path);
      if (!g_file_test (resolved, G_FILE_TEST_EXISTS))
        {
          /* Without the socket file only the abstract socket or TCP could
           * reach the server, both through the host's network namespace,
           * which the sandbox does not share by default; cbox does not
           * relay them, it asks for a display it can bind. */
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                       "no socket at %s (is an X server running on DISPLAY=%s?)",
                       state->socket_path, state->display_env);
          return NULL;
        }
      if (!cbox_host_is_socket (host, state->socket_path))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE, "%s is not a socket (DISPLAY=%s)",
                       state->socket_path, state->display_env);
          return NULL;
        }
    }
  else
    {
      /* A TCP display is reached over the network: with the network off the
       * sandbox has only its own loopback and no route anywhere. */
      if (!cbox_context_get_network (ctx))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                       "DISPLAY=%s is a TCP display; it needs the network on", state->display_env);
          return NULL;
        }
      /* The host's loopback is reached only through the host's network
       * namespace, which the sandbox shares only with --network=host. */
      if (cbox_x11_display_is_loopback (state->display) && cbox_context_get_backend (ctx) != NULL
          && (cbox_context_get_backend_features (ctx) & CBOX_FEATURE_HOST_NET) == 0)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                       "DISPLAY=%s is on the host's loopback, which backend '%s' does not reach",
                       state->display_env, cbox_context_get_backend (ctx));
          return NULL;
        }
      if (cbox_x11_display_is_loopback (state->display)
          && cbox_context_get_network_mode (ctx) != CBOX_NETWORK_HOST)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                       "DISPLAY=%s is on the host's loopback, which the sandbox's own network "
                       "does not reach (--network=host shares the host's network, localhost "
                       "and abstract sockets included)",
                       state->display_env);
          return NULL;
        }
    }

  env_xauth = cbox_host_getenv_nonempty (host, "XAUTHORITY");
  if (env_xauth != NULL && !g_path_is_absolute (env_xauth))
    {
      /* Relative to which directory? cbox's cwd is not the X session's. */
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "XAUTHORITY=%s is not an absolute path; set it to the file's full path",
                   env_xauth);
      return NULL;
    }
  if (env_xauth != NULL)
    state->xauth_path = g_strdup (env_xauth);
  else if (cbox_host_get_home_dir (host) != NULL)
    state->xauth_path = g_build_filename (cbox_host_get_home_dir (host), ".Xauthority", NULL);
  state->entries = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_xauth_entry_free);

  if (state->xauth_path == NULL)
    {
      state->xauth_note = g_strdup ("no XAUTHORITY and no home directory");
      return g_steal_pointer (&state);
    }

  /* A fifo or a device named by $XAUTHORITY must not hang or flood cbox. */
  contents = cbox_host_read_file (host, state->xauth_path, CBOX_XAUTH_MAX_FILE_SIZE, &local_error);
  if (contents == NULL && g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    {
      state->xauth_note = g_strdup_printf ("%s does not exist", state->xauth_path);
      return g_steal_pointer (&state);
    }
  if (contents == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE, "Xauthority: %s",
                   local_error->message);
      return NULL;
    }
  all = cbox_xauth_parse (g_bytes_get_data (contents, NULL), g_bytes_get_size (contents),
                          &local_error);
  if (all == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "Xauthority file %s is damaged: %s (fix it with xauth, or remove it)",
                   state->xauth_path, local_error->message);
      return NULL;
    }

  /* Local connections, and TCP connections to the loopback (libxcb treats
   * those as local too), use FamilyLocal entries named after this host.
   * openSUSE keeps the host name of the first boot in XAUTHLOCALHOSTNAME. */
  match.number = state->display->number;
  if (state->display->local || cbox_x11_display_is_loopback (state->display))
    {
      hostnames[0] = cbox_host_get_hostname (host);
      hostnames[1] = cbox_host_getenv_nonempty (host, "XAUTHLOCALHOSTNAME");
      match.local_hostnames = hostnames;
    }
  if (!state->display->local)
    match.remote_addresses = remote = x11_remote_addresses (state->display);

  g_clear_pointer (&state->entries, g_ptr_array_unref);
  state->entries = cbox_xauth_filter (all, &match);
  if (state->entries->len == 0)
    state->xauth_note = g_strdup_printf ("%s has no entry for display %s of this host",
                                         state->xauth_path, state->display->number);
  return g_steal_pointer (&state);
}

static gboolean
x11_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (X11State) state = x11_inspect (ctx, &local_error);

  if (state == NULL)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE, "%s", local_error->message);
      return TRUE;
    }

  cbox_probe_result_add_detail (result, "display", "%s", state->display_env);
  if (state->display->local)
    cbox_probe_result_add_detail (result, "socket", "%s", state->socket_path);
  else
    cbox_probe_result_add_detail (result, "tcp-host", "%s", state->display->host);
  if (state->xauth_path != NULL)
    cbox_probe_result_add_detail (result, "xauthority", "%s", state->xauth_path);
  cbox_probe_result_add_detail (result, "xauthority-entries", "%u", state->entries->len);

  if (state->entries->len == 0)
    /* Servers started with -ac or without -auth accept anyone who can reach
     * the socket; whether this one does cannot be seen without talking X to
     * it, so the probe only warns. */
    cbox_probe_result_set_status (result, CBOX_PROBE_DEGRADED,
                                  "%s: works only if the X server needs no authorization",
                                  state->xauth_note);
  else
    cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, "display %s", state->display_env);

  cbox_context_set_data (ctx, g_steal_pointer (&state), (GDestroyNotify)x11_state_free);
  return TRUE;
}

static gboolean
x11_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  X11State *state = cbox_context_get_data (ctx);
  g_autoptr (X11State) fresh = NULL;
  g_autofree char *xauth_dest = NULL;

  if (state == NULL)
    {
      fresh = x11_inspect (ctx, error);
      if (fresh == NULL)
        {
          g_prefix_error (error, "x11: ");
          return FALSE;
        }
      state = fresh;
    }

  if (state->display->local)
    {
      g_autofree char *value = NULL;

      /* A private, empty /tmp/.X11-unix with only this display's socket:
       * the command cannot reach another X server of the host through the
       * file system. Its abstract socket (@/tmp/.X11-unix/XN) lives in the
       * host's network namespace, out of reach unless --network=host (see
       * docs/security.md, "Network"). */
      cbox_plan_add_tmpfs (plan, "/tmp/.X11-unix", 01777);
      cbox_plan_add_bind_socket (plan, state->socket_path, state->socket_path,
                                 CBOX_MOUNT_FLAG_NONE);
      if (state->display->screen != NULL)
        value = g_strdup_printf (":%s.%s", state->display->number, state->display->screen);
      else
        value = g_strdup_printf (":%s", state->display->number);
      cbox_plan_set_env (plan, "DISPLAY", value);
      cbox_plan_add_note (plan, "display %s through %s", state->display_env, state->socket_path);
    }
  else
    {
      cbox_plan_set_env (plan, "DISPLAY", state->display_env);
      cbox_plan_add_note (plan, "display %s over TCP (network on)", state->display_env);
    }

  if (state->entries->len == 0)
    {
      cbox_plan_unset_env (plan, "XAUTHORITY");
      cbox_plan_add_note (plan, "no Xauthority handed in: %s", state->xauth_note);
      return TRUE;
    }

  /* Never the user's whole file: it holds the cookies of every display and
   * host the user ever used, and a bind would also let the command add its
   * own entries. Only this display's, as a sealed data file. */
  {
    g_autoptr (GBytes) bytes = cbox_xauth_serialize (state->entries);

    xauth_dest = g_build_filename (cbox_plan_get_runtime_dir (plan), "Xauthority", NULL);
    if (!cbox_plan_add_data (plan, xauth_dest, g_bytes_get_data (bytes, NULL),
                             g_bytes_get_size (bytes), 0600, CBOX_MOUNT_FLAG_NONE, error))
      {
        g_prefix_error (error, "x11: ");
        return FALSE;
      }
  }
  cbox_plan_set_env (plan, "XAUTHORITY", xauth_dest);
  cbox_plan_add_note (plan, "Xauthority: %u of the entries in %s (display %s only, as wild)",
                      state->entries->len, state->xauth_path, state->display->number);
  return TRUE;
}

static const CboxForwarderVTable x11_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = x11_probe,
  .contribute = x11_contribute,
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "x11", .version = "1.0",
                    .description = "one X11 display, with only its own Xauthority entries",
                    .aliases = CBOX_STRV ("display"),
                    .features = CBOX_FEATURE_SOCKET | CBOX_FEATURE_DATA | CBOX_FEATURE_TMPFS,
                    .forwarder = &x11_vtable, .default_enabled = FALSE)

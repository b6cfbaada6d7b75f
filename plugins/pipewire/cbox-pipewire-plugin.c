/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forwarder "pipewire" (alias "audio"): the user's PipeWire socket and
 * PulseAudio socket (PipeWire's pipewire-pulse, or a real PulseAudio), in
 * the sandbox's private runtime directory, with a generated pulse
 * client.conf; ALSA devices only when configured. */
#include <string.h>
#include <sys/stat.h>

#include <cbox/cbox-plugin.h>

#include "cbox-pipewire-probe.h"

/* A PulseAudio client.conf is a few lines; anything larger is not one. */
#define PIPEWIRE_CLIENT_CONF_MAX_SIZE (1024 * 1024)

typedef struct
{
  gboolean want_pipewire;
  gboolean want_pulse;
  gboolean alsa;
  guint timeout_ms;
  char *pw_socket; /* host path (without the root prefix) */
  char *pw_how;
  char *pw_problem;
  char *pulse_socket;
  char *pulse_how;
  char *pulse_problem;
  char *pulse_note;         /* a PULSE_SERVER entry that cannot be forwarded */
  char *pulse_conf_skipped; /* client.conf files that exist but were not read */
  char *server_version;
  char *library_version;
  char *connect_error;
  gboolean snd_present;
} PipewireState;

static void
pipewire_state_free (PipewireState *state)
{
  if (state == NULL)
    return;
  g_free (state->pw_socket);
  g_free (state->pw_how);
  g_free (state->pw_problem);
  g_free (state->pulse_socket);
  g_free (state->pulse_how);
  g_free (state->pulse_problem);
  g_free (state->pulse_note);
  g_free (state->pulse_conf_skipped);
  g_free (state->server_version);
  g_free (state->library_version);
  g_free (state->connect_error);
  g_free (state);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PipewireState, pipewire_state_free)

static gboolean
pipewire_is_socket (const CboxHost *host, const char *path)
{
  return cbox_host_is_socket (host, path);
}

/* ---- PipeWire ----------------------------------------------------------- */

/* As libpipewire finds it: PIPEWIRE_REMOTE (a name, or an absolute path),
 * in PIPEWIRE_RUNTIME_DIR, else XDG_RUNTIME_DIR. */
static void
pipewire_find_socket (const CboxHost *host, PipewireState *state)
{
  const char *remote = cbox_host_getenv_nonempty (host, "PIPEWIRE_REMOTE");
  const char *dir = cbox_host_getenv_nonempty (host, "PIPEWIRE_RUNTIME_DIR");
  g_autofree char *path = NULL;

  if (remote == NULL)
    remote = "pipewire-0";
  if (remote[0] == '/')
    path = g_strdup (remote);
  else
    {
      if (dir == NULL)
        dir = cbox_host_get_runtime_dir (host);
      if (dir == NULL)
        {
          state->pw_problem = g_strdup ("XDG_RUNTIME_DIR is not set");
          return;
        }
      path = g_build_filename (dir, remote, NULL);
    }
  if (!pipewire_is_socket (host, path))
    {
      state->pw_problem = g_strdup_printf ("no PipeWire socket at %s", path);
      return;
    }
  state->pw_socket = g_steal_pointer (&path);
  state->pw_how = g_strdup (
      cbox_host_getenv_nonempty (host, "PIPEWIRE_REMOTE") != NULL        ? "PIPEWIRE_REMOTE"
      : cbox_host_getenv_nonempty (host, "PIPEWIRE_RUNTIME_DIR") != NULL ? "PIPEWIRE_RUNTIME_DIR"
                                                                         : "XDG_RUNTIME_DIR");
}

/* ---- PulseAudio ----------------------------------------------------------- */

/* The first unix socket of a PulseAudio server list ("{id}unix:/path
 * tcp:host /path"), or NULL; @ret_other gets the first entry that is not
 * a unix socket. */
static char *
pulse_server_first_unix (const char *list, char **ret_other)
{
  g_auto (GStrv) entries = g_strsplit_set (list, " \t\n", -1);

  for (guint i = 0; entries[i] != NULL; i++)
    {
      const char *entry = entries[i];

      if (entry[0] == '\0')
        continue;
      if (entry[0] == '{')
        {
          const char *end = strchr (entry, '}');
          if (end == NULL)
            continue;
          entry = end + 1;
        }
      if (g_str_has_prefix (entry, "unix:"))
        entry += strlen ("unix:");
      if (entry[0] == '/')
        return g_strdup (entry);
      if (ret_other != NULL && *ret_other == NULL)
        *ret_other = g_strdup (entry);
    }
  return NULL;
}

/* default-server from the client.conf at host path @path ("key = value",
 * '#' and ';' comments).
 *
 * The file is read with cbox_host_read_file(), never g_file_get_contents():
 * $PULSE_CLIENTCONFIG and the client.conf.d entries are whatever the user
 * put there, and a fifo would block the probe forever (nobody writes to
 * it) and a device such as /dev/zero would be read without end. A missing
 * file is not mentioned, as before; one that exists but is not a readable
 * regular file of at most PIPEWIRE_CLIENT_CONF_MAX_SIZE is skipped like an
 * unreadable one, and named in @skipped so that `cbox doctor` shows why
 * its default-server was not used. */
static char *
pulse_conf_default_server (const CboxHost *host, const char *path, GString *skipped)
{
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  const char *data;
  gsize size;
  char *value = NULL;

  bytes = cbox_host_read_file (host, path, PIPEWIRE_CLIENT_CONF_MAX_SIZE, &local_error);
  if (bytes == NULL)
    {
      if (!g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_string_append_printf (skipped, "%s%s", skipped->len > 0 ? "; " : "",
                                local_error->message);
      return NULL;
    }
  data = g_bytes_get_data (bytes, &size);
  contents = size > 0 ? g_strndup (data, size) : g_strdup ("");
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = g_strstrip (lines[i]);
      char *eq;

      if (line[0] == '#' || line[0] == ';' || (eq = strchr (line, '=')) == NULL)
        continue;
      *eq = '\0';
      if (g_str_equal (g_strstrip (line), "default-server"))
        {
          g_free (value);
          value = g_strdup (g_strstrip (eq + 1));
        }
    }
  return value;
}

static int
pulse_compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *)a, *(const char *const *)b);
}

/* As libpulse reads it: $PULSE_CLIENTCONFIG, else the user's
 * ~/.config/pulse/client.conf, else /etc/pulse/client.conf; then the
 * matching client.conf.d/ *.conf, later files winning. */
static char *
pulse_client_conf_server (const CboxHost *host, char **ret_file, GString *skipped)
{
  const char *env = cbox_host_getenv_nonempty (host, "PULSE_CLIENTCONFIG");
  const char *config_home = cbox_host_getenv_nonempty (host, "XDG_CONFIG_HOME");
  g_autofree char *user = NULL;
  g_autofree char *file = NULL;
  g_autofree char *dot_d = NULL;
  g_autofree char *dot_d_resolved = NULL;
  g_autofree char *server = NULL;
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (config_home != NULL && config_home[0] == '/')
    user = g_build_filename (config_home, "pulse", "client.conf", NULL);
  else if (cbox_host_get_home_dir (host) != NULL
           && g_path_is_absolute (cbox_host_get_home_dir (host)))
    user
        = g_build_filename (cbox_host_get_home_dir (host), ".config", "pulse", "client.conf", NULL);

  if (env != NULL && env[0] == '/')
    file = g_strdup (env);
  else
    {
      g_autofree char *user_resolved = user != NULL ? cbox_host_resolve (host, user) : NULL;
      if (user_resolved != NULL && g_file_test (user_resolved, G_FILE_TEST_IS_REGULAR))
        file = g_steal_pointer (&user);
      else
        file = g_strdup ("/etc/pulse/client.conf");
    }

  server = pulse_conf_default_server (host, file, skipped);
  *ret_file = g_strdup (file);
  dot_d = g_strconcat (file, ".d", NULL);
  dot_d_resolved = cbox_host_resolve (host, dot_d);
  dir = g_dir_open (dot_d_resolved, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".conf"))
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, pulse_compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (dot_d, g_ptr_array_index (names, i), NULL);
      g_autofree char *value = pulse_conf_default_server (host, path, skipped);
      if (value != NULL)
        {
          g_free (server);
          server = g_steal_pointer (&value);
          g_free (*ret_file);
          *ret_file = g_strconcat (file, ".d/", (const char *)g_ptr_array_index (names, i), NULL);
        }
    }
  return g_steal_pointer (&server);
}

static void
pulse_find_socket (const CboxHost *host, PipewireState *state)
{
  const char *env = cbox_host_getenv_nonempty (host, "PULSE_SERVER");
  const char *runtime_dir = cbox_host_get_runtime_dir (host);
  g_autofree char *conf_file = NULL;
  g_autofree char *conf_server = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GString) looked = g_string_new (NULL);
  g_autoptr (GString) skipped = g_string_new (NULL);

  if (env != NULL)
    {
      path = pulse_server_first_unix (env, &state->pulse_note);
      if (path != NULL)
        {
          if (pipewire_is_socket (host, path))
            {
              state->pulse_socket = g_steal_pointer (&path);
              state->pulse_how = g_strdup ("PULSE_SERVER");
              return;
            }
          g_string_append_printf (looked, "%s (PULSE_SERVER)", path);
          g_clear_pointer (&path, g_free);
        }
    }

  conf_server = pulse_client_conf_server (host, &conf_file, skipped);
  if (skipped->len > 0)
    state->pulse_conf_skipped = g_strdup (skipped->str);
  if (conf_server != NULL)
    {
      path = pulse_server_first_unix (conf_server,
                                      state->pulse_note == NULL ? &state->pulse_note : NULL);
      if (path != NULL)
        {
          if (pipewire_is_socket (host, path))
            {
              state->pulse_socket = g_steal_pointer (&path);
              state->pulse_how = g_strdup_printf ("default-server in %s", conf_file);
              return;
            }
          g_string_append_printf (looked, "%s%s (%s)", looked->len > 0 ? ", " : "", path,
                                  conf_file);
          g_clear_pointer (&path, g_free);
        }
    }

  if (runtime_dir != NULL)
    {
      path = g_build_filename (runtime_dir, "pulse", "native", NULL);
      if (pipewire_is_socket (host, path))
        {
          state->pulse_socket = g_steal_pointer (&path);
          state->pulse_how = g_strdup ("XDG_RUNTIME_DIR");
          return;
        }
      g_string_append_printf (looked, "%s%s", looked->len > 0 ? ", " : "", path);
    }
  state->pulse_problem = looked->len > 0
                             ? g_strdup_printf ("no PulseAudio socket at %s", looked->str)
                             : g_strdup ("no PulseAudio socket (XDG_RUNTIME_DIR is not set)");
}

/* ---- the plugin ----------------------------------------------------------- */

static PipewireState *
pipewire_state_new (CboxContext *ctx, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  g_autoptr (PipewireState) state = g_new0 (PipewireState, 1);
  g_autofree char *timeout = cbox_context_get_string (ctx, "connect-timeout-ms");

  if (!cbox_context_get_boolean (ctx, "pipewire", TRUE, &state->want_pipewire, error)
      || !cbox_context_get_boolean (ctx, "pulse", TRUE, &state->want_pulse, error)
      || !cbox_context_get_boolean (ctx, "alsa", FALSE, &state->alsa, error))
    {
      g_prefix_error (error, "pipewire: ");
      return NULL;
    }
  state->timeout_ms = 1000;
  if (timeout != NULL)
    {
      guint64 value;
      if (!g_ascii_string_to_unsigned (g_strstrip (timeout), 10, 1, 60000, &value, NULL))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "pipewire: [pipewire] connect-timeout-ms: '%s' is not a number of "
                       "milliseconds from 1 to 60000",
                       timeout);
          return NULL;
        }
      state->timeout_ms = (guint)value;
    }

  if (state->want_pipewire)
    pipewire_find_socket (host, state);
  if (state->want_pulse)
    pulse_find_socket (host, state);
  if (state->alsa)
    {
      g_autofree char *snd = cbox_host_resolve (host, "/dev/snd");
      state->snd_present = g_file_test (snd, G_FILE_TEST_IS_DIR);
    }
  return g_steal_pointer (&state);
}

static gboolean
pipewire_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  g_autoptr (PipewireState) state = pipewire_state_new (ctx, error);

  if (state == NULL)
    return FALSE;

  if (state->want_pipewire)
    cbox_probe_result_add_detail (result, "pipewire-socket", "%s",
                                  state->pw_socket != NULL ? state->pw_socket : state->pw_problem);
  if (state->pw_socket != NULL)
    {
      /* libpipewire only sees the real file system: under a fake root
       * (tests) the socket is looked at, not connected to. */
      if (g_str_equal (cbox_host_get_root (host), "/"))
        {
          if (cbox_pipewire_probe_connect (state->pw_socket, state->timeout_ms,
                                           &state->server_version, &state->library_version,
                                           &state->connect_error))
            cbox_probe_result_add_detail (result, "pipewire", "server %s, library %s",
                                          state->server_version, state->library_version);
          else
            cbox_probe_result_add_detail (result, "pipewire", "%s", state->connect_error);
        }
      else
        cbox_probe_result_add_detail (result, "pipewire", "not contacted (host root %s)",
                                      cbox_host_get_root (host));
    }
  if (state->want_pulse)
    {
      if (state->pulse_socket != NULL)
        cbox_probe_result_add_detail (result, "pulse-socket", "%s (from %s)", state->pulse_socket,
                                      state->pulse_how);
      else
        cbox_probe_result_add_detail (result, "pulse-socket", "%s", state->pulse_problem);
      if (state->pulse_note != NULL)
        cbox_probe_result_add_detail (result, "pulse-not-forwarded", "%s (not a unix socket)",
                                      state->pulse_note);
      if (state->pulse_conf_skipped != NULL)
        cbox_probe_result_add_detail (result, "pulse-config-skipped", "%s",
                                      state->pulse_conf_skipped);
    }
  if (state->alsa)
    cbox_probe_result_add_detail (result, "alsa", "%s",
                                  state->snd_present ? "/dev/snd" : "no /dev/snd");

  if (state->pw_socket == NULL && state->pulse_socket == NULL)
    {
      if (!state->want_pipewire && !state->want_pulse)
        cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                      "[pipewire] pipewire=false and pulse=false: nothing to "
                                      "forward");
      else
        cbox_probe_result_set_status (
            result, CBOX_PROBE_UNAVAILABLE,
            "%s%s%s (is PipeWire or PulseAudio running for this user?)",
            state->pw_problem != NULL ? state->pw_problem : "",
            state->pw_problem != NULL && state->pulse_problem != NULL ? "; " : "",
            state->pulse_problem != NULL ? state->pulse_problem : "");
    }
  else if (state->connect_error != NULL)
    cbox_probe_result_set_status (result, CBOX_PROBE_DEGRADED, "PipeWire does not answer: %s",
                                  state->connect_error);
  else if (state->alsa && !state->snd_present)
    cbox_probe_result_set_status (result, CBOX_PROBE_DEGRADED,
                                  "alsa=true but the host has no /dev/snd");
  else
    cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);

  cbox_context_set_data (ctx, g_steal_pointer (&state), (GDestroyNotify)pipewire_state_free);
  return TRUE;
}

static gboolean
pipewire_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  PipewireState *state = cbox_context_get_data (ctx);
  const char *runtime_dir = cbox_plan_get_runtime_dir (plan);

  if (state == NULL)
    {
      state = pipewire_state_new (ctx, error);
      if (state == NULL)
        return FALSE;
      cbox_context_set_data (ctx, state, (GDestroyNotify)pipewire_state_free);
    }

  /* Both sockets give the whole audio (and video) graph of the user's
   * session: play, record from every microphone, capture other streams,
   * reach cameras and screen casts that were shared with PipeWire. The
   * daemon's access module grants less only to clients it recognises as
   * flatpak or portal-managed, which a cbox sandbox is not. Asking for
   * audio is asking for that; no other file of the runtime dir comes. */
  if (state->pw_socket != NULL)
    {
      g_autofree char *src = cbox_host_resolve (host, state->pw_socket);
      g_autofree char *dest = g_build_filename (runtime_dir, "pipewire-0", NULL);
      const char *inside_runtime = cbox_plan_get_env (plan, "XDG_RUNTIME_DIR");

      cbox_plan_add_bind_socket (plan, src, dest, CBOX_MOUNT_FLAG_NONE);
      /* libpipewire looks for $XDG_RUNTIME_DIR/pipewire-0 by itself; only
       * a runtime dir moved elsewhere needs the explicit remote. */
      if (g_strcmp0 (inside_runtime, runtime_dir) != 0)
        cbox_plan_set_env (plan, "PIPEWIRE_REMOTE", dest);
      cbox_plan_add_note (plan, "PipeWire: %s%s%s", state->pw_socket,
                          state->server_version != NULL ? ", server " : "",
                          state->server_version != NULL ? state->server_version : "");
    }
  else if (state->want_pipewire)
    cbox_plan_add_note (plan, "PipeWire: not forwarded (%s)", state->pw_problem);

  if (state->pulse_socket != NULL)
    {
      g_autofree char *src = cbox_host_resolve (host, state->pulse_socket);
      g_autofree char *dest = g_build_filename (runtime_dir, "pulse", "native", NULL);
      g_autofree char *conf_dest = g_build_filename (runtime_dir, "pulse", "client.conf", NULL);
      g_autofree char *server = g_strconcat ("unix:", dest, NULL);
      /* autospawn off: a client that fails to connect must not start a
       * daemon of its own inside. enable-shm off: the sandbox's /dev/shm
       * is its own, so the server could not open a client's POSIX shm
       * segment (flatpak decides the same). */
      g_autofree char *conf = g_strdup_printf ("# Generated by cbox (forwarder pipewire)\n"
                                               "autospawn = no\n"
                                               "enable-shm = no\n"
                                               "default-server = %s\n",
                                               server);

      cbox_plan_add_bind_socket (plan, src, dest, CBOX_MOUNT_FLAG_NONE);
      if (!cbox_plan_add_data (plan, conf_dest, conf, strlen (conf), 0644, CBOX_MOUNT_FLAG_NONE,
                               error))
        {
          g_prefix_error (error, "pipewire: ");
          return FALSE;
        }
      cbox_plan_set_env (plan, "PULSE_SERVER", server);
      cbox_plan_set_env (plan, "PULSE_CLIENTCONFIG", conf_dest);
      cbox_plan_add_note (plan, "PulseAudio: %s (from %s)", state->pulse_socket, state->pulse_how);
    }
  else if (state->want_pulse)
    cbox_plan_add_note (plan, "PulseAudio: not forwarded (%s)", state->pulse_problem);

  /* Raw ALSA devices bypass the sound server: any program can then grab a
   * card exclusively or record from it unseen, so only on request. */
  if (state->alsa && state->snd_present)
    {
      g_autofree char *src = cbox_host_resolve (host, "/dev/snd");
      cbox_plan_add_bind_dev (plan, src, "/dev/snd", CBOX_MOUNT_FLAG_NONE);
      cbox_plan_add_note (plan, "ALSA: /dev/snd (alsa=true)");
    }
  else if (state->alsa)
    cbox_plan_add_note (plan, "ALSA: alsa=true but the host has no /dev/snd");
  return TRUE;
}

static const CboxForwarderVTable pipewire_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = pipewire_probe,
  .contribute = pipewire_contribute,
};

/* Every key of [pipewire] (docs/config.md lists them from here). */
static const CboxPluginKey pipewire_config_keys[] = {
  { .name = "pipewire",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "forward the PipeWire socket",
    .default_value = "true" },
  { .name = "pulse",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "forward the PulseAudio socket and write its client.conf",
    .default_value = "true" },
  { .name = "alsa",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "also bind /dev/snd (raw ALSA devices)",
    .default_value = "false" },
  { .name = "connect-timeout-ms",
    .type = CBOX_PLUGIN_KEY_INTEGER,
    .description = "how long the probe waits for the daemon, in milliseconds",
    .default_value = "1000",
    .min = 1,
    .max = 60000 },
  { NULL },
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "pipewire", .version = "1.0",
                    .description
                    = "audio: PipeWire and PulseAudio sockets (ALSA devices on request)",
                    .aliases = CBOX_STRV ("audio"),
                    /* Device binds only with alsa=true: the planner checks the
                     * finished plan against the backend once more. */
                    .features = CBOX_FEATURE_SOCKET | CBOX_FEATURE_DATA,
                    .forwarder = &pipewire_vtable, .keys = pipewire_config_keys)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Connecting to the user's PipeWire daemon, with libpipewire opened only
 * here, by g_module_open(): the plugin does not link libpipewire, so a
 * `cbox run` without audio never maps it (nor the SPA plugins, threads and
 * configuration parsing it brings along). Every libpipewire function is
 * called through a pointer looked up here; what the headers offer as
 * inline functions and macros (listeners, timers) needs no symbol. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <gmodule.h>
#include <pipewire/pipewire.h>

#include "cbox-pipewire-probe.h"

typedef struct
{
  void (*init) (int *argc, char **argv[]);
  const char *(*get_library_version) (void);
  struct pw_main_loop *(*main_loop_new) (const struct spa_dict *props);
  struct pw_loop *(*main_loop_get_loop) (struct pw_main_loop *loop);
  int (*main_loop_run) (struct pw_main_loop *loop);
  int (*main_loop_quit) (struct pw_main_loop *loop);
  void (*main_loop_destroy) (struct pw_main_loop *loop);
  struct pw_context *(*context_new) (struct pw_loop *loop, struct pw_properties *props,
                                     size_t user_data_size);
  void (*context_destroy) (struct pw_context *context);
  struct pw_core *(*context_connect) (struct pw_context *context, struct pw_properties *props,
                                      size_t user_data_size);
  int (*core_disconnect) (struct pw_core *core);
  struct pw_properties *(*properties_new) (const char *key, ...);
} PwApi;

typedef struct
{
  const PwApi *api;
  struct pw_main_loop *loop;
  char *server_version;
  char *server_name;
  char *error;
  gboolean timed_out;
} PwProbe;

static const PwApi *
pw_api_load (char **ret_error)
{
  static PwApi api;
  static gsize loaded;
  static char *load_error;

  if (g_once_init_enter (&loaded))
    {
      /* Resident: libpipewire starts threads and registers atexit work,
       * unloading it is never safe. */
      GModule *module
          = g_module_open ("libpipewire-0.3.so.0", G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
      gboolean ok = module != NULL;

      if (module == NULL)
        load_error = g_strdup_printf ("cannot load libpipewire: %s", g_module_error ());
      else
        {
          g_module_make_resident (module);
#define PW_SYM(field, name) ok = ok && g_module_symbol (module, name, (gpointer *)&api.field)
          PW_SYM (init, "pw_init");
          PW_SYM (get_library_version, "pw_get_library_version");
          PW_SYM (main_loop_new, "pw_main_loop_new");
          PW_SYM (main_loop_get_loop, "pw_main_loop_get_loop");
          PW_SYM (main_loop_run, "pw_main_loop_run");
          PW_SYM (main_loop_quit, "pw_main_loop_quit");
          PW_SYM (main_loop_destroy, "pw_main_loop_destroy");
          PW_SYM (context_new, "pw_context_new");
          PW_SYM (context_destroy, "pw_context_destroy");
          PW_SYM (context_connect, "pw_context_connect");
          PW_SYM (core_disconnect, "pw_core_disconnect");
          PW_SYM (properties_new, "pw_properties_new");
#undef PW_SYM
          if (!ok)
            load_error = g_strdup ("libpipewire lacks a function cbox uses (too old?)");
          else
            api.init (NULL, NULL);
        }
      g_once_init_leave (&loaded, ok ? 1 : 2);
    }
  if (loaded != 1)
    {
      *ret_error = g_strdup (load_error);
      return NULL;
    }
  return &api;
}

static void
pw_probe_on_info (void *data, const struct pw_core_info *info)
{
  PwProbe *probe = data;

  if (probe->server_version == NULL)
    {
      probe->server_version = g_strdup (info->version);
      probe->server_name = g_strdup (info->name);
    }
  probe->api->main_loop_quit (probe->loop);
}

static void
pw_probe_on_error (void *data, uint32_t id, int seq, int res, const char *message)
{
  PwProbe *probe = data;

  if (id == PW_ID_CORE && probe->error == NULL)
    probe->error = g_strdup_printf ("%s (%s)", message, g_strerror (-res));
  probe->api->main_loop_quit (probe->loop);
}

static void
pw_probe_on_timeout (void *data, uint64_t expirations)
{
  PwProbe *probe = data;

  probe->timed_out = TRUE;
  probe->api->main_loop_quit (probe->loop);
}

static const struct pw_core_events pw_probe_core_events = {
  PW_VERSION_CORE_EVENTS,
  .info = pw_probe_on_info,
  .error = pw_probe_on_error,
};

gboolean
cbox_pipewire_probe_connect (const char *socket_path, guint timeout_ms, char **ret_server_version,
                             char **ret_library_version, char **ret_error)
{
  const PwApi *api;
  g_autofree char *load_error = NULL;
  PwProbe probe = { 0 };
  struct pw_context *context = NULL;
  struct pw_core *core = NULL;
  struct spa_hook listener;
  struct spa_source *timer;
  struct timespec value;
  gboolean ok;

  api = pw_api_load (&load_error);
  if (api == NULL)
    {
      *ret_error = g_steal_pointer (&load_error);
      return FALSE;
    }
  *ret_library_version = g_strdup (api->get_library_version ());

  probe.api = api;
  probe.loop = api->main_loop_new (NULL);
  if (probe.loop == NULL)
    {
      *ret_error = g_strdup_printf ("pw_main_loop_new failed: %s", g_strerror (errno));
      return FALSE;
    }
  context = api->context_new (api->main_loop_get_loop (probe.loop), NULL, 0);
  if (context == NULL)
    {
      *ret_error = g_strdup_printf ("pw_context_new failed: %s", g_strerror (errno));
      api->main_loop_destroy (probe.loop);
      return FALSE;
    }
  /* An absolute remote name is a socket path; the host's PIPEWIRE_REMOTE
   * and runtime directory were already taken into account. */
  core = api->context_connect (context, api->properties_new (PW_KEY_REMOTE_NAME, socket_path, NULL),
                               0);
  if (core == NULL)
    {
      *ret_error = g_strdup_printf ("cannot connect to %s: %s", socket_path, g_strerror (errno));
      api->context_destroy (context);
      api->main_loop_destroy (probe.loop);
      return FALSE;
    }

  spa_zero (listener);
  pw_core_add_listener (core, &listener, &pw_probe_core_events, &probe);
  timer = pw_loop_add_timer (api->main_loop_get_loop (probe.loop), pw_probe_on_timeout, &probe);
  value.tv_sec = timeout_ms / 1000;
  value.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
  pw_loop_update_timer (api->main_loop_get_loop (probe.loop), timer, &value, NULL, false);

  api->main_loop_run (probe.loop);

  pw_loop_destroy_source (api->main_loop_get_loop (probe.loop), timer);
  spa_hook_remove (&listener);
  api->core_disconnect (core);
  api->context_destroy (context);
  api->main_loop_destroy (probe.loop);

  ok = probe.server_version != NULL;
  if (ok)
    *ret_server_version = g_strdup (probe.server_version);
  else if (probe.error != NULL)
    *ret_error = g_strdup_printf ("%s: %s", socket_path, probe.error);
  else
    *ret_error = g_strdup_printf ("%s: no answer within %u ms", socket_path, timeout_ms);
  g_free (probe.server_version);
  g_free (probe.server_name);
  g_free (probe.error);
  return ok;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Fake plugins for the planner's tests, one source built several times
 * (see meson.build): a forwarder whose name, aliases, ordering hints,
 * conflicts and declared features come from macros, or (FAKE_BACKEND) a
 * backend offering only FAKE_FEATURES.
 *
 * Forwarder behaviour, from its own configuration group:
 *   available=false   probe says unavailable, reason "NAME is switched off"
 *   socket=true       contribute adds a unix-socket bind it did not declare
 *   trace=FILE        prepare and cleanup append "prepare NAME" and
 *                     "cleanup NAME" lines to FILE
 *   raise=N           prepare sends signal N to its own process (as a
 *                     Ctrl-C during start-up would)
 * Contribute appends its name to the variable FAKE_ORDER (so tests see the
 * order) and sets FAKE_<NAME>=1.
 *
 * Every fake (backend or forwarder), when the file is opened: if the
 * environment variable FAKE_LOAD_LOG names a file, an ELF constructor
 * appends "loaded NAME\n" to it, so a test sees which plugin files a run
 * really dlopen()ed (test-plugin-cache.c). It runs inside dlopen(), before
 * cbox has checked anything, so it keeps to plain libc: one O_APPEND
 * write. */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cbox/cbox-plugin.h>

#ifndef FAKE_ALIASES
#define FAKE_ALIASES NULL
#endif
#ifndef FAKE_AFTER
#define FAKE_AFTER NULL
#endif
#ifndef FAKE_CONFLICTS
#define FAKE_CONFLICTS NULL
#endif

__attribute__ ((constructor)) static void
fake_log_load (void)
{
  static const char line[] = "loaded " FAKE_NAME "\n";
  const char *log = getenv ("FAKE_LOAD_LOG");
  int fd;

  if (log == NULL || log[0] == '\0')
    return;
  fd = open (log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  /* One short O_APPEND write: lines never interleave. A failed one shows
   * as a missing line, which fails the test that reads it. */
  if (write (fd, line, sizeof (line) - 1) < 0)
    {
    }
  close (fd);
}

#ifdef FAKE_BACKEND

static gboolean
fake_backend_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);
  return TRUE;
}

/* Run on the host: prints what a test of the plugin cache checks, in the
 * words `cbox plan` uses (only `cbox run` writes the cache). */
static gboolean
fake_backend_realize (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, GError **error)
{
  const char *const *forwarders = cbox_plan_get_forwarders (plan);
  g_autofree char *joined = forwarders != NULL ? g_strjoinv (" ", (char **)forwarders) : NULL;
  g_autoptr (GString) text = g_string_new (NULL);

  g_string_append_printf (text, "backend:     %s\nforwarders:  %s\n", FAKE_NAME,
                          joined != NULL ? joined : "");
  for (guint i = 0; i < cbox_plan_get_n_env (plan); i++)
    {
      const CboxEnvVar *var = cbox_plan_get_env_var (plan, i);
      if (g_str_has_prefix (var->name, "FAKE_") && var->value != NULL)
        g_string_append_printf (text, "%s=%s \n", var->name, var->value);
    }
  cbox_launch_add_args (launch, "printf", "%s", text->str, NULL);
  return TRUE;
}

static const CboxBackendVTable fake_backend_vtable = {
  .struct_size = sizeof (CboxBackendVTable),
  .probe = fake_backend_probe,
  .realize = fake_backend_realize,
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_BACKEND, .name = FAKE_NAME, .version = "1.0",
                    .description = "Fake backend for the planner's tests",
                    .features = FAKE_FEATURES, .backend = &fake_backend_vtable,
                    .keys = CBOX_KEYS ({ .name = "unused",
                                         .type = CBOX_PLUGIN_KEY_BOOLEAN,
                                         .description = "read by nothing (a key to set)" }))

#else

static void
fake_trace (CboxContext *ctx, const char *what)
{
  g_autofree char *trace = cbox_context_get_string (ctx, "trace");
  FILE *file;

  if (trace == NULL)
    return;
  file = fopen (trace, "ae");
  if (file == NULL)
    return;
  fprintf (file, "%s %s\n", what, FAKE_NAME);
  fclose (file);
}

static gboolean
fake_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  gboolean available;

  if (!cbox_context_get_boolean (ctx, "available", TRUE, &available, error))
    return FALSE;
  if (available)
    cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);
  else
    cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE, "%s is switched off", FAKE_NAME);
  return TRUE;
}

static gboolean
fake_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  const char *order = cbox_plan_get_env (plan, "FAKE_ORDER");
  g_autofree char *new_order
      = order != NULL ? g_strconcat (order, ",", FAKE_NAME, NULL) : g_strdup (FAKE_NAME);
  g_autofree char *variable = g_ascii_strup ("FAKE_" FAKE_NAME, -1);
  gboolean socket;

  cbox_plan_set_env (plan, "FAKE_ORDER", new_order);
  cbox_plan_set_env (plan, variable, "1");
  if (!cbox_context_get_boolean (ctx, "socket", FALSE, &socket, error))
    return FALSE;
  if (socket)
    cbox_plan_add_bind_socket (plan, "/run/fake.sock", "/run/fake.sock",
                               CBOX_MOUNT_FLAG_ALLOW_MISSING);
  return TRUE;
}

static gboolean
fake_prepare (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  g_autofree char *signal_text = cbox_context_get_string (ctx, "raise");

  fake_trace (ctx, "prepare");
  if (signal_text != NULL)
    raise ((int)g_ascii_strtoll (signal_text, NULL, 10));
  return TRUE;
}

static void
fake_cleanup (CboxContext *ctx)
{
  fake_trace (ctx, "cleanup");
}

static const CboxPluginKey fake_keys[] = {
  { .name = "trace", .type = CBOX_PLUGIN_KEY_STRING, .description = "file each call is logged to" },
  { .name = "available", .type = CBOX_PLUGIN_KEY_BOOLEAN, .description = "what the probe says" },
  { .name = "socket", .type = CBOX_PLUGIN_KEY_BOOLEAN, .description = "contribute adds a socket" },
  { .name = "raise", .type = CBOX_PLUGIN_KEY_STRING, .description = "signal prepare raises" },
  { NULL },
};

static const CboxForwarderVTable fake_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = fake_probe,
  .contribute = fake_contribute,
  .prepare = fake_prepare,
  .cleanup = fake_cleanup,
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = FAKE_NAME, .version = "1.0",
                    .description = "Fake forwarder for the planner's tests",
                    .aliases = FAKE_ALIASES, .after = FAKE_AFTER, .conflicts = FAKE_CONFLICTS,
                    .features = FAKE_FEATURES, .forwarder = &fake_vtable, .keys = fake_keys)

#endif

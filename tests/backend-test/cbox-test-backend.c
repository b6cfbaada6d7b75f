/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The `test` backend: realizes nothing and runs nothing. Its run writes
 * the realized plan as JSON (the schema of `cbox plan --json`, plus the
 * content of generated files) to the file named by `[test] output=` or by
 * $CBOX_TEST_OUTPUT, else to stdout, and returns `[test] exit-status`
 * (default 0). Planner and forwarder tests use it to check plans without
 * a sandbox. `[test] available=false` (with `[test] reason=`) makes its
 * probe say unavailable; `[test] fail-run=true` makes its run fail as a
 * backend whose tool broke would, `[test] fail-message=TEXT` with TEXT as
 * the message. `[test] announce=true` makes its run
 * announce itself as started (cbox_context_notify_tool_started()), as a
 * backend that starts its own tool does, and `[test] ps-output=FILE` makes
 * it write what `$CBOX ps --json` says while it runs to FILE. It has a
 * prestart that starts nothing; `[test] fail-prestart=true` makes it fail,
 * which a run must survive. */

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cbox-json.h"

static gboolean
test_backend_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  g_autofree char *reason = cbox_context_get_string (ctx, "reason");
  gboolean available;

  if (!cbox_context_get_boolean (ctx, "available", TRUE, &available, error))
    return FALSE;
  if (!available)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE, "%s",
                                    reason != NULL ? reason
                                                   : "made unavailable by [test] available");
      return TRUE;
    }
  cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);
  cbox_probe_result_add_detail (result, "writes", "the realized plan as JSON");
  return TRUE;
}

static gboolean
test_backend_realize (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, GError **error)
{
  const char *const *command = cbox_plan_get_command (plan);

  cbox_launch_add_args (launch, "cbox-test-backend", "--", NULL);
  for (guint i = 0; command != NULL && command[i] != NULL; i++)
    cbox_launch_add_arg (launch, command[i]);
  return TRUE;
}

static gboolean
test_backend_run (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, int *ret_status,
                  GError **error)
{
  g_autofree char *output = cbox_context_get_string (ctx, "output");
  g_autofree char *status_text = cbox_context_get_string (ctx, "exit-status");
  g_autofree char *text = NULL;
  g_autofree char *ps_output = cbox_context_get_string (ctx, "ps-output");
  g_autofree char *fail_message = cbox_context_get_string (ctx, "fail-message");
  guint64 status = 0;
  CboxJsonFuncs json;
  gboolean announce;
  gboolean fail;

  if (!cbox_context_get_boolean (ctx, "fail-run", FALSE, &fail, error))
    return FALSE;
  if (fail)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "failed as [test] fail-run asked");
      return FALSE;
    }
  if (fail_message != NULL)
    {
      g_set_error_literal (error, CBOX_ERROR, CBOX_ERROR_BACKEND, fail_message);
      return FALSE;
    }

  if (!cbox_context_get_boolean (ctx, "announce", FALSE, &announce, error))
    return FALSE;
  if (announce)
    cbox_context_notify_tool_started (ctx);
  if (ps_output != NULL)
    {
      const char *cbox = cbox_host_getenv (cbox_context_get_host (ctx), "CBOX");
      g_autofree char *ps = NULL;
      struct stat st;
      int wait_status = 0;

      if (stat (ps_output, &st) == 0 && !S_ISREG (st.st_mode))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "[test] ps-output %s is not a regular file; name a file", ps_output);
          return FALSE;
        }
      if (cbox == NULL
          || !g_spawn_sync (NULL, (char *[]){ (char *)cbox, (char *)"ps", (char *)"--json", NULL },
                            NULL, G_SPAWN_DEFAULT, NULL, NULL, &ps, NULL, &wait_status, error)
          || !g_file_set_contents (ps_output, ps, -1, error))
        {
          if (error != NULL && *error == NULL)
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "[test] ps-output needs $CBOX");
          return FALSE;
        }
    }

  if (output == NULL && cbox_host_getenv (cbox_context_get_host (ctx), "CBOX_TEST_OUTPUT") != NULL)
    output = g_strdup (cbox_host_getenv (cbox_context_get_host (ctx), "CBOX_TEST_OUTPUT"));
  if (status_text != NULL && !g_ascii_string_to_unsigned (status_text, 10, 0, 255, &status, NULL))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "[test] exit-status must be a number from 0 to 255, not '%s'", status_text);
      return FALSE;
    }
  /* Opened only now, as cbox does, so that merely loading this plugin
   * costs nothing. */
  if (!cbox_json_load (&json, error))
    return FALSE;
  text = json.plan (plan, ctx, launch, CBOX_JSON_DATA);
  if (output != NULL)
    {
      /* g_file_set_contents() renames a new file over the old one: named
       * /dev/null or /dev/stdout, it would replace the device node. Only a
       * regular file (or none yet) is written that way. */
      struct stat st;

      if (stat (output, &st) == 0 && !S_ISREG (st.st_mode))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "[test] output %s is not a regular file; name a file", output);
          return FALSE;
        }
      if (!g_file_set_contents (output, text, -1, error))
        return FALSE;
    }
  else
    {
      fputs (text, stdout);
      fflush (stdout);
    }
  cbox_plan_run_cleanups (plan);
  *ret_status = (int)status;
  return TRUE;
}

static gboolean
test_backend_prestart (CboxContext *ctx, GError **error)
{
  gboolean fail;

  if (!cbox_context_get_boolean (ctx, "fail-prestart", FALSE, &fail, error))
    return FALSE;
  if (fail)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "test: prestart failed, as [test] fail-prestart asks");
      return FALSE;
    }
  return TRUE;
}

static const CboxBackendVTable test_backend_vtable = {
  .struct_size = sizeof (CboxBackendVTable),
  .probe = test_backend_probe,
  .realize = test_backend_realize,
  .run = test_backend_run,
  .prestart = test_backend_prestart,
};

/* Every key of [test] (docs/config.md lists them from here). */
static const CboxPluginKey test_config_keys[] = {
  { .name = "output",
    .type = CBOX_PLUGIN_KEY_STRING,
    .description = "file the realized plan is written to as JSON",
    .default_value = "$CBOX_TEST_OUTPUT, else stdout" },
  { .name = "exit-status",
    .type = CBOX_PLUGIN_KEY_STRING,
    .description = "exit status of the run (0-255)",
    .default_value = "0" },
  { .name = "available",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "what the probe says",
    .default_value = "true" },
  { .name = "reason", .type = CBOX_PLUGIN_KEY_STRING, .description = "the probe's reason" },
  { .name = "fail-run",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "run() fails",
    .default_value = "false" },
  { .name = "fail-message",
    .type = CBOX_PLUGIN_KEY_STRING,
    .description = "run()'s error message" },
  { .name = "fail-prestart",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "prestart() fails",
    .default_value = "false" },
  { .name = "announce",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "run() announces its start itself",
    .default_value = "false" },
  { .name = "ps-output",
    .type = CBOX_PLUGIN_KEY_STRING,
    .description = "file the output of cbox ps --json is written to, from inside the run" },
  { NULL },
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_BACKEND, .name = "test", .version = "1.0",
                    .description = "Test backend: writes the realized plan as JSON, runs nothing",
                    .features = CBOX_FEATURE_ALL, .backend = &test_backend_vtable,
                    .keys = test_config_keys)

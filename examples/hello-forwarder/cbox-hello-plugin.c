/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The smallest useful forwarder: it puts a greeting into the sandbox, as
 * the environment variable CBOX_HELLO and as the file /etc/cbox-hello.
 * The greeting comes from the configuration:
 *
 *   [hello]
 *   greeting=Hello from the host
 */

#include <string.h>

#include <cbox/cbox-plugin.h>

#define HELLO_DEFAULT_GREETING "hello from cbox"

/* probe looks at the host and the configuration only: no side effects. It
 * keeps what it found for contribute in the context's data. */
static gboolean
hello_probe (CboxContext *ctx, CboxProbeResult *result, G_GNUC_UNUSED GError **error)
{
  char *greeting = cbox_context_get_string (ctx, "greeting");

  if (greeting == NULL)
    greeting = g_strdup (HELLO_DEFAULT_GREETING);
  if (greeting[0] == '\0')
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                    "[hello] greeting is empty (set it to some text in cbox.conf)");
      g_free (greeting);
      return TRUE;
    }
  cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, "greeting: %s", greeting);
  cbox_probe_result_add_detail (result, "greeting", "%s", greeting);
  cbox_context_set_data (ctx, greeting, g_free);
  return TRUE;
}

/* contribute only fills the plan; the backend makes it real. */
static gboolean
hello_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  const char *greeting = cbox_context_get_data (ctx);
  g_autofree char *line = g_strconcat (greeting, "\n", NULL);

  cbox_plan_set_env (plan, "CBOX_HELLO", greeting);
  if (!cbox_plan_add_data (plan, "/etc/cbox-hello", line, strlen (line), 0644, CBOX_MOUNT_FLAG_NONE,
                           error))
    {
      g_prefix_error (error, "hello: ");
      return FALSE;
    }
  cbox_plan_add_note (plan, "greeting: %s", greeting);
  return TRUE;
}

static const CboxForwarderVTable hello_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = hello_probe,
  .contribute = hello_contribute,
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "hello", .version = "1.0",
                    .description = "a greeting in CBOX_HELLO and /etc/cbox-hello",
                    .aliases = CBOX_STRV ("greeting"), .features = CBOX_FEATURE_DATA,
                    .forwarder = &hello_vtable,
                    /* Every key of [hello]: cbox refuses any other there. */
                    .keys = CBOX_KEYS ({ .name = "greeting",
                                         .type = CBOX_PLUGIN_KEY_STRING,
                                         .description = "the greeting",
                                         .default_value = "hello" }))

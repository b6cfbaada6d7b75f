/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Drives the nspawn backend without the cbox executable: a small base
 * plan, realize, run. For development and the backend's own tests. */
#include <stdio.h>

#include "cbox-private.h"
#include "cbox-nspawn-private.h"

const CboxPluginDesc *cbox_plugin_describe (void);

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxHost) host = NULL;
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxLaunch) launch = cbox_launch_new ();
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  const CboxBackendVTable *vtable = cbox_plugin_describe ()->backend;
  gboolean network = TRUE;
  gboolean print = FALSE;
  int status = 125;
  int i = 1;

  for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2] != '\0'; i++)
    if (g_str_equal (argv[i], "--no-network"))
      network = FALSE;
    else if (g_str_equal (argv[i], "--print"))
      print = TRUE;
  if (argc - i < 2)
    {
      g_printerr ("usage: %s [--no-network] [--print] PROJECT COMMAND...\n", argv[0]);
      return 2;
    }

  host = cbox_host_new_from_system (&error);
  g_assert_no_error (error);
  ctx = cbox_context_new (host, NULL, "nspawn");
  if (!cbox_base_plan_fill_system (plan, host, NULL, &error)
      || !cbox_base_plan_add_project (plan, host, argv[i], &error))
    {
      g_printerr ("%s\n", error->message);
      return 125;
    }
  cbox_plan_set_network (plan, network);
  cbox_plan_set_command (plan, (const char *const *)argv + i + 1);

  if (!vtable->probe (ctx, result, &error))
    g_error ("%s", error->message);
  if (cbox_probe_result_get_status (result) != CBOX_PROBE_AVAILABLE)
    {
      g_printerr ("nspawn unavailable: %s\n", cbox_probe_result_get_reason (result));
      return 125;
    }
  if (!vtable->realize (ctx, plan, launch, &error))
    {
      g_printerr ("%s\n", error->message);
      return 125;
    }
  if (print)
    {
      g_autofree char *line = cbox_launch_to_shell_string (launch);
      g_printerr ("%s\n", line);
    }
  if (!vtable->run (ctx, plan, launch, &status, &error))
    {
      g_printerr ("%s\n", error->message);
      return 125;
    }
  return status;
}

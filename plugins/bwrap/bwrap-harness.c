/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A stand-in for `cbox run --backend=bwrap --forward=none` for the
 * integration tests while the cbox executable is not built: base plan,
 * project, command, then probe/realize/run of the bwrap backend, exit
 * status as cbox returns it. Accepts the same words:
 *   bwrap-harness run [--backend=bwrap] [--forward=none] [--network=on|off]
 *                     [--project=DIR] [--print-command] -- COMMAND...    */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cbox-bwrap-private.h"
#include "cbox-private.h"

extern const CboxPluginDesc *cbox_plugin_describe (void);

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxHost) host = NULL;
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (CboxLaunch) launch = cbox_launch_new ();
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) probe = cbox_probe_result_new ();
  g_autofree char *cwd = g_get_current_dir ();
  const char *project = cwd;
  const char *libexec = g_getenv ("CBOX_LIBEXEC_DIR");
  gboolean network = TRUE, print = FALSE;
  const CboxBackendVTable *vt = cbox_plugin_describe ()->backend;
  int i, status = CBOX_EXIT_FAILURE;

  for (i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--") == 0)
        {
          i++;
          break;
        }
      if (strcmp (argv[i], "--network=off") == 0)
        network = FALSE;
      else if (g_str_has_prefix (argv[i], "--project="))
        project = argv[i] + strlen ("--project=");
      else if (strcmp (argv[i], "--print-command") == 0)
        print = TRUE;
    }
  host = cbox_host_new_from_system (&error);
  if (host == NULL)
    goto fail;
  ctx = cbox_context_new (host, NULL, "bwrap");
  if (libexec != NULL)
    cbox_context_set_libexec_dir (ctx, libexec);
  cbox_context_set_network (ctx, network);
  if (!vt->probe (ctx, probe, &error))
    goto fail;
  if (cbox_probe_result_get_status (probe) == CBOX_PROBE_UNAVAILABLE)
    {
      fprintf (stderr, "cbox: backend 'bwrap' unavailable: %s\n",
               cbox_probe_result_get_reason (probe));
      return CBOX_EXIT_FAILURE;
    }
  if (!cbox_base_plan_fill_system (plan, host, NULL, &error))
    goto fail;
  if (!cbox_base_plan_add_project (plan, host, project, &error))
    goto fail;
  cbox_plan_set_network (plan, network);
  if (i < argc)
    cbox_plan_set_command (plan, (const char *const *)argv + i);
  else
    cbox_plan_set_command (plan, (const char *const[]){ "sh", NULL });
  if (!vt->realize (ctx, plan, launch, &error))
    goto fail;
  if (print)
    {
      g_autofree char *line = cbox_launch_to_shell_string (launch);
      printf ("%s\n", line);
      return 0;
    }
  if (!vt->run (ctx, plan, launch, &status, &error))
    goto fail;
  return status;

fail:
  fprintf (stderr, "cbox: %s\n", error->message);
  return CBOX_EXIT_FAILURE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Prints the plugin search path, one folder a line. test-loader.c runs it
 * setuid to prove that CBOX_PLUGIN_PATH is ignored then. It is built from
 * the registry's sources rather than linked to libcbox: a setuid program
 * ignores the $ORIGIN-relative RUNPATH of the build tree. */

#include "config.h"

#include <stdio.h>

#include "cbox-registry.h"

G_DEFINE_QUARK (cbox - plugin - error - quark, cbox_plugin_error)

int
main (void)
{
  g_auto (GStrv) path = cbox_registry_get_default_path ();

  for (gsize i = 0; path[i] != NULL; i++)
    printf ("%s\n", path[i]);
  return 0;
}

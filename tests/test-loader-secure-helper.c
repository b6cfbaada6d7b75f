/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Prints the plugin search path, one folder a line; with `--cache FILE`,
 * loads the plugins with FILE as the descriptor cache instead.
 * test-loader.c runs it setuid to prove that CBOX_PLUGIN_PATH and the
 * cache are ignored then. It is built from the registry's sources rather
 * than linked to libcbox: a setuid program ignores the $ORIGIN-relative
 * RUNPATH of the build tree. */

#include "config.h"

#include <stdio.h>

#include "cbox-registry.h"

G_DEFINE_QUARK (cbox - plugin - error - quark, cbox_plugin_error)

/* Run setuid: no leak check ("does not work under ptrace"). */
#include "cbox-no-leak-check.h"

int
main (int argc, char **argv)
{
  g_auto (GStrv) path = cbox_registry_get_default_path ();

  if (argc == 3 && g_str_equal (argv[1], "--cache"))
    {
      g_autoptr (CboxRegistry) registry = cbox_registry_new ();

      cbox_registry_set_cache_file (registry, argv[2]);
      cbox_registry_load_default (registry);
      return 0;
    }
  for (gsize i = 0; path[i] != NULL; i++)
    printf ("%s\n", path[i]);
  return 0;
}

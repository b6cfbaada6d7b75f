/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "cbox-cli.h"
#include "cbox-private.h"

int
main (int argc, char **argv)
{
  /* First: SIGINT, SIGTERM and SIGHUP wait until cbox knows what it runs
   * and has its handlers (cbox_cli_main()), so that a stop in the first
   * milliseconds cleans up as a later one does. */
  cbox_signals_block_stops ();
  return cbox_cli_main (argc, argv);
}

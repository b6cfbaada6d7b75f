/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "cbox-cli.h"

int
main (int argc, char **argv)
{
  return cbox_cli_main (argc, argv);
}

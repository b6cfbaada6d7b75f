/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The benchmark's floor: an init that powers the machine off at once, so
 * that `bench/qemu.sh` can compare a cbox run with the bare cost of QEMU
 * booting the same kernel. */

#include <sys/reboot.h>
#include <unistd.h>

int
main (void)
{
  sync ();
  reboot (RB_POWER_OFF);
  reboot (RB_AUTOBOOT);
  return 0;
}

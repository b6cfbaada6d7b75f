/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* For test-qemu-integration: an init that exits at once, so that the guest
 * kernel panics ("Attempted to kill init!") and cbox must report it. */

int
main (void)
{
  return 3;
}

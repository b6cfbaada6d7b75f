/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Not installed: writes initramfs files the way the qemu backend does, for
 * the benchmark and for looking at them by hand.
 *
 *   cbox-qemu-tool minimal INIT OUT       an initramfs holding INIT only
 *   cbox-qemu-tool full INIT OUT          INIT and the modules of the kernel
 *                                         cbox would pick on this host
 *   cbox-qemu-tool kernel                 prints that kernel's image path
 *   cbox-qemu-tool cmdline                prints the guest kernel command line
 */

#include <sys/utsname.h>

#include "cbox-private.h"
#include "cbox-qemu-initramfs.h"

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxHost) host = NULL;
  g_autoptr (CboxQemuKernel) kernel = NULL;
  struct utsname u;

  if (argc == 2 && g_str_equal (argv[1], "cmdline"))
    {
      g_print ("%s\n", CBOX_QEMU_KERNEL_CMDLINE_QUIET);
      return 0;
    }
  if (argc == 4 && g_str_equal (argv[1], "minimal"))
    {
      if (!cbox_qemu_initramfs_write_minimal (argv[2], argv[3], &error))
        {
          g_printerr ("cbox-qemu-tool: %s\n", error->message);
          return 1;
        }
      return 0;
    }
  if ((argc == 4 && g_str_equal (argv[1], "full"))
      || (argc == 2 && g_str_equal (argv[1], "kernel")))
    {
      host = cbox_host_new_from_system (&error);
      uname (&u);
      if (host == NULL
          || !cbox_qemu_find_kernel (host, g_getenv ("CBOX_QEMU_KERNEL"), u.release, &kernel,
                                     &error))
        {
          g_printerr ("cbox-qemu-tool: %s\n", error->message);
          return 1;
        }
      if (argc == 2)
        {
          g_print ("%s\n", kernel->image);
          return 0;
        }
      if (!cbox_qemu_initramfs_ensure (kernel, argv[2], FALSE, argv[3], &error))
        {
          g_printerr ("cbox-qemu-tool: %s\n", error->message);
          return 1;
        }
      return 0;
    }
  g_printerr ("usage: cbox-qemu-tool minimal|full INIT OUT | kernel | cmdline\n");
  return 2;
}

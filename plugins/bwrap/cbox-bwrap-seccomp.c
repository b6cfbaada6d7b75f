/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The terminal-injection filter, built with libseccomp. The bwrap plugin
 * does not call this at run time where the build could run it: meson runs
 * cbox-bwrap-seccomp-gen at build time and the plugin embeds the BPF it
 * printed (cbox-bwrap-seccomp-filter.h), so a run neither loads libseccomp
 * nor compiles the filter (measured in docs/benchmarks.md). Cross builds
 * that cannot run the generator link libseccomp and call this instead.
 * test-bwrap checks that the embedded filter is what this exports.
 */
#include <errno.h>
#include <stddef.h>
#include <sys/ioctl.h>

#include <seccomp.h>

#include "cbox-bwrap-seccomp.h"

/* TIOCSTI pushes bytes into a terminal's input queue and TIOCLINUX (on a
 * virtual console) can paste its selection: either lets the command type
 * into the host shell that owns the terminal once the sandbox ends. Both
 * fail with EPERM, everything else is allowed. This is a filter, not
 * --new-session: a new session would take the terminal away from an
 * interactive shell (no job control, no ^C).
 *
 * The rule compares only the low 32 bits of the request, since the kernel
 * truncates it to an int (a caller could set the high bits to dodge an
 * exact 64-bit match). The 32-bit ABIs get the same rule, so an i386 or
 * x32 binary cannot go around it, and are not killed for being foreign. */
int
cbox_bwrap_seccomp_export (int fd, const char **ret_what)
{
  static const unsigned int extra_arches[] = { SCMP_ARCH_X86, SCMP_ARCH_X32 };
  scmp_filter_ctx filter = seccomp_init (SCMP_ACT_ALLOW);
  int r = 0;

  *ret_what = "seccomp_init";
  if (filter == NULL)
    return -ENOMEM;
  if (seccomp_arch_native () == SCMP_ARCH_X86_64)
    for (unsigned int i = 0; i < sizeof extra_arches / sizeof extra_arches[0]; i++)
      {
        r = seccomp_arch_add (filter, extra_arches[i]);
        if (r == -EEXIST)
          r = 0;
        if (r < 0)
          {
            *ret_what = "seccomp_arch_add";
            goto out;
          }
      }
  *ret_what = "seccomp_rule_add";
  r = seccomp_rule_add (filter, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (ioctl), 1,
                        SCMP_A1 (SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)TIOCSTI));
  if (r == 0)
    r = seccomp_rule_add (filter, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (ioctl), 1,
                          SCMP_A1 (SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)TIOCLINUX));
  if (r < 0)
    goto out;
  *ret_what = "seccomp_export_bpf";
  r = seccomp_export_bpf (filter, fd);
out:
  seccomp_release (filter);
  return r;
}

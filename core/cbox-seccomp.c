/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The seccomp filter of every backend, built with libseccomp.
 *
 * cbox-exec (pid 1 of bwrap's and nspawn's sandboxes) and the qemu guest's
 * init load it right before they exec the command, so the three backends
 * refuse the same kernel surface; cbox-enter loads it for what it runs in
 * a sandbox. Nobody calls this at run time where the build could run it:
 * meson runs cbox-seccomp-gen at build time and the programs embed the BPF
 * it printed (cbox-seccomp-filter.h), so a run neither loads libseccomp
 * nor compiles a filter.
 *
 * The list starts from flatpak's (common/flatpak-run.c, setup_seccomp,
 * itself from linux-user-chroot and Sandstorm) with its developer
 * exceptions off: whatever a sandboxed command has no business doing and
 * a kernel exploit or an escape often starts with. Everything else is
 * allowed: this is a deny list, as flatpak's and bubblewrap's are, so a
 * new system call the list does not know is allowed; the new mount API is
 * the lesson of CVE-2021-41133 (flatpak's list missed it).
 *
 * The system call numbers are compared for x86_64 and, on x86_64, for the
 * i386 and x32 ABIs too (a 32-bit binary must not go around a rule, and
 * is not killed for being foreign); ioctl requests on their low 32 bits,
 * as the kernel truncates them.
 */
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/socket.h>

#include <seccomp.h>

#include "cbox-seccomp.h"

typedef struct
{
  int syscall;
  int errnum;
  /* Refused only when the argument matches; NULL: always. */
  const struct scmp_arg_cmp *arg;
} CboxSeccompRule;

/* Allowed socket families, in numerical order: local, IP, netlink (which
 * glibc's getaddrinfo and `ip` use). Every other family (packet, raw
 * Bluetooth, AF_ALG's crypto API, vsock, ...) is kernel code the
 * command has no use for. */
static const int allowed_families[] = { AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6, AF_NETLINK };

static int
add_rule (scmp_filter_ctx filter, const CboxSeccompRule *rule)
{
  int r;

  if (rule->arg != NULL)
    r = seccomp_rule_add (filter, SCMP_ACT_ERRNO (rule->errnum), rule->syscall, 1, *rule->arg);
  else
    r = seccomp_rule_add (filter, SCMP_ACT_ERRNO (rule->errnum), rule->syscall, 0);
  /* A call one of the ABIs does not have (libseccomp knows it by name
   * but not there): nothing to refuse. */
  if (r == -EFAULT)
    r = 0;
  return r;
}

int
cbox_seccomp_export (int fd, CboxSeccompVariant variant, const char **ret_what)
{
  static const unsigned int extra_arches[] = { SCMP_ARCH_X86, SCMP_ARCH_X32 };
  /* Always refused. */
  const CboxSeccompRule rules[] = {
    /* The kernel log (addresses that defeat KASLR). */
    { SCMP_SYS (syslog), EPERM, NULL },
    /* Obsolete, or root's business; the root-only ones are refused even
     * though no capability reaches the command, in case one does. */
    { SCMP_SYS (uselib), EPERM, NULL },
    { SCMP_SYS (acct), EPERM, NULL },
    { SCMP_SYS (quotactl), EPERM, NULL },
    { SCMP_SYS (init_module), EPERM, NULL },
    { SCMP_SYS (finit_module), EPERM, NULL },
    { SCMP_SYS (delete_module), EPERM, NULL },
    { SCMP_SYS (kexec_load), EPERM, NULL },
    { SCMP_SYS (kexec_file_load), EPERM, NULL },
    { SCMP_SYS (swapon), EPERM, NULL },
    { SCMP_SYS (swapoff), EPERM, NULL },
    /* Opens any file of a file system by its handle, past the sandbox's
     * mounts (the "shocker" escape from Docker). */
    { SCMP_SYS (open_by_handle_at), EPERM, NULL },
    /* 16-bit segments: an old source of information leaks. */
    { SCMP_SYS (modify_ldt), EPERM, NULL },
    /* The kernel keyrings are not namespaced: a key of the host's
     * session or user keyring would be readable, and a key planted there
     * would stay after the run. cbox-exec also joins a fresh anonymous
     * session keyring first (cbox-confine.c). */
    { SCMP_SYS (add_key), EPERM, NULL },
    { SCMP_SYS (keyctl), EPERM, NULL },
    { SCMP_SYS (request_key), EPERM, NULL },
    /* NUMA and page migration: rarely needed, often buggy. */
    { SCMP_SYS (move_pages), EPERM, NULL },
    { SCMP_SYS (mbind), EPERM, NULL },
    { SCMP_SYS (get_mempolicy), EPERM, NULL },
    { SCMP_SYS (set_mempolicy), EPERM, NULL },
    { SCMP_SYS (migrate_pages), EPERM, NULL },
    /* Pushing bytes into a terminal's input (TIOCSTI, CVE-2017-5226) or
     * pasting a virtual console's selection (TIOCLINUX, CVE-2023-28100):
     * either types into the host shell that owns the terminal once the
     * sandbox ends. A filter, not a new session: that would take the
     * terminal from an interactive shell (no job control, no ^C). */
    { SCMP_SYS (ioctl), EPERM, &SCMP_A1 (SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI) },
    { SCMP_SYS (ioctl), EPERM, &SCMP_A1 (SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX) },
    /* Debugging and profiling belong outside the sandbox: ptrace would
     * reach pid 1 (cbox-exec) and every process of the sandbox, perf is
     * a long list of CVEs. */
    { SCMP_SYS (ptrace), EPERM, NULL },
    { SCMP_SYS (process_vm_readv), EPERM, NULL },
    { SCMP_SYS (process_vm_writev), EPERM, NULL },
    { SCMP_SYS (perf_event_open), EPERM, NULL },
    /* eBPF programs and userfaultfd: kernel surface that exploits use
     * (Docker's default profile refuses both too). */
    { SCMP_SYS (bpf), EPERM, NULL },
    { SCMP_SYS (userfaultfd), EPERM, NULL },
  };
  /* Refused unless the profile allows new user namespaces. Without a
   * user namespace of its own none of these does anything for a command
   * without capabilities, and with one they are the way in to the
   * kernel's root-only code: a new user namespace gives every capability
   * over the namespaces it owns. clone3() passes its flags in memory,
   * which a filter cannot read, so it fails with ENOSYS and glibc falls
   * back to clone(), whose flags it can. The new mount API (fsopen,
   * fsmount, move_mount, open_tree, mount_setattr, fspick, fsconfig)
   * fails with ENOSYS too, as flatpak does since CVE-2021-41133. */
  const CboxSeccompRule userns_rules[] = {
    { SCMP_SYS (unshare), EPERM, NULL },
    { SCMP_SYS (setns), EPERM, NULL },
    { SCMP_SYS (clone), EPERM, &SCMP_A0 (SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER) },
    { SCMP_SYS (clone3), ENOSYS, NULL },
    { SCMP_SYS (mount), EPERM, NULL },
    { SCMP_SYS (umount), EPERM, NULL },
    { SCMP_SYS (umount2), EPERM, NULL },
    { SCMP_SYS (pivot_root), EPERM, NULL },
    { SCMP_SYS (chroot), EPERM, NULL },
    { SCMP_SYS (open_tree), ENOSYS, NULL },
    { SCMP_SYS (move_mount), ENOSYS, NULL },
    { SCMP_SYS (fsopen), ENOSYS, NULL },
    { SCMP_SYS (fsconfig), ENOSYS, NULL },
    { SCMP_SYS (fsmount), ENOSYS, NULL },
    { SCMP_SYS (fspick), ENOSYS, NULL },
    { SCMP_SYS (mount_setattr), ENOSYS, NULL },
  };
  scmp_filter_ctx filter = seccomp_init (SCMP_ACT_ALLOW);
  int last_allowed = -1;
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
  for (unsigned int i = 0; r == 0 && i < sizeof rules / sizeof rules[0]; i++)
    r = add_rule (filter, &rules[i]);
  if (variant != CBOX_SECCOMP_ALLOW_USERNS)
    for (unsigned int i = 0; r == 0 && i < sizeof userns_rules / sizeof userns_rules[0]; i++)
      r = add_rule (filter, &userns_rules[i]);

  /* personality(): only the plain Linux personality, as flatpak allows.
   * Anything else switches to another ABI's emulation or turns address
   * randomisation off (ADDR_NO_RANDOMIZE), an exploit's first step; the
   * query (0xffffffff) is refused too, since a deny rule compares one
   * value (libseccomp takes one comparison per argument). */
  if (r == 0)
    r = seccomp_rule_add (filter, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (personality), 1,
                          SCMP_A0 (SCMP_CMP_NE, PER_LINUX));

  /* socket(): EAFNOSUPPORT for every family between and after the
   * allowed ones, as a kernel without them would answer. */
  for (unsigned int i = 0; r == 0 && i < sizeof allowed_families / sizeof allowed_families[0]; i++)
    {
      for (int family = last_allowed + 1; r == 0 && family < allowed_families[i]; family++)
        r = seccomp_rule_add (filter, SCMP_ACT_ERRNO (EAFNOSUPPORT), SCMP_SYS (socket), 1,
                              SCMP_A0 (SCMP_CMP_EQ, (scmp_datum_t)family));
      last_allowed = allowed_families[i];
    }
  if (r == 0)
    r = seccomp_rule_add (filter, SCMP_ACT_ERRNO (EAFNOSUPPORT), SCMP_SYS (socket), 1,
                          SCMP_A0 (SCMP_CMP_GE, (scmp_datum_t)(last_allowed + 1)));
  if (r < 0)
    goto out;

  *ret_what = "seccomp_export_bpf";
  r = seccomp_export_bpf (filter, fd);
out:
  seccomp_release (filter);
  return r;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The last steps before the command, the same for every backend.
 *
 * The backends differ in what their tool leaves the command: bwrap run by
 * root keeps every capability of the sandbox's user namespace for uid 0
 * (the host's uid 0), systemd-nspawn run by root gives a root command
 * CAP_SYS_ADMIN over mounts that hold the host's /usr, a qemu guest's root
 * is root of its kernel. So cbox-exec (pid 1 of bwrap and nspawn) and the
 * qemu guest's init finish the job themselves, in this order:
 *
 *  1. A fresh anonymous session keyring. Keyrings are not namespaced: the
 *     session keyring the command would inherit is the caller's (root's
 *     or the user's login one), and /proc/keys lists the keys it can
 *     view. After this the command possesses nothing of the host's, and
 *     the filter refuses every keyring call anyway. A kernel without
 *     keyrings (ENOSYS) has nothing to leak; an outer filter that refuses
 *     keyctl (systemd-nspawn's) has already done it (EPERM).
 *  2. No capability: the bounding set emptied where we may (CAP_SETPCAP,
 *     i.e. root's), the ambient set cleared, then permitted, effective and
 *     inheritable set to nothing. Root stays uid 0 (files made in the
 *     project belong to root, as the caller expects) but holds no power
 *     over mounts, devices, /proc/sys, modules or other users' files.
 *  3. no_new_privs: no setuid binary or file capability gives anything
 *     back, and for uid 0, exec can no longer refill the permitted set
 *     from the bounding set.
 *  4. Landlock scopes, when the caller asks (cbox-exec --scope-abstract, for
 *     every network mode but host): LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET,
 *     so the command and everything it starts can connect only to
 *     abstract unix sockets made inside that same Landlock domain. The
 *     sandbox's own network namespace already keeps the host's abstract
 *     sockets (an X server's @/tmp/.X11-unix/X0, a bus on an abstract
 *     address) out of reach; this holds even where the namespace were
 *     shared by mistake. Path sockets (what forwarders bind) are not
 *     affected, nor the command's own abstract sockets (its children are
 *     in its domain). A second layer only: on a kernel without ABI 6
 *     (before Linux 6.12) it is skipped, and `cbox doctor` says so.
 *     LANDLOCK_SCOPE_SIGNAL is not used: the sandbox's pid namespace
 *     already hides every host process, and it would refuse signals to
 *     processes `cbox enter` starts (another domain) for nothing.
 *  5. The seccomp filter (cbox-seccomp.c), embedded at build time.
 *
 * Each step that fails stops the run (the caller exits 125): a command is
 * never run less confined than the plan says.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cbox-confine.h"

#ifdef CBOX_SECCOMP_RUNTIME
#include <stdlib.h>
#include <sys/mman.h>
#else
#include "cbox-seccomp-filter.h"
#endif

static int
join_fresh_session_keyring (void)
{
  /* NULL name: a new anonymous keyring, not a named one another
   * process of the same user could join. */
  if (syscall (SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL, 0, 0, 0) >= 0)
    return 0;
  if (errno == ENOSYS || errno == EPERM)
    return 0;
  return -errno;
}

static int
drop_capabilities (void)
{
  struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2] = { { 0, 0, 0 }, { 0, 0, 0 } };

  if (syscall (SYS_capget, &header, data) < 0)
    return -errno;
  /* Without CAP_SETPCAP (an unprivileged user, or a uid already changed)
   * the bounding set cannot shrink; with no permitted capability and
   * no_new_privs it can give nothing back either, so the loop (some 100
   * system calls) is only for those who can. */
  if (data[CAP_SETPCAP / 32].effective & (1u << (CAP_SETPCAP % 32)))
    for (int cap = 0; cap <= 63; cap++)
      {
        int r = prctl (PR_CAPBSET_READ, cap, 0, 0, 0);

        if (r < 0)
          break; /* past the kernel's last capability */
        if (r == 1 && prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
          return -errno;
      }
  memset (data, 0, sizeof data);
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return -errno;
  if (syscall (SYS_capset, &header, data) < 0)
    return -errno;
  /* Read back: the point is that nothing is left. */
  if (syscall (SYS_capget, &header, data) < 0)
    return -errno;
  if (data[0].permitted | data[0].effective | data[0].inheritable | data[1].permitted
      | data[1].effective | data[1].inheritable)
    return -EPERM;
  return 0;
}

int
cbox_confine_load_seccomp (CboxSeccompVariant variant, const char **ret_what)
{
  struct sock_fprog prog;
#ifdef CBOX_SECCOMP_RUNTIME
  /* A cross build: the generator could not run, make it now. */
  static unsigned char buf[65536];
  ssize_t len;
  int fd = memfd_create ("cbox-seccomp", MFD_CLOEXEC);
  int r;

  *ret_what = "memfd_create";
  if (fd < 0)
    return -errno;
  r = cbox_seccomp_export (fd, variant, ret_what);
  len = r < 0 ? -1 : pread (fd, buf, sizeof buf, 0);
  close (fd);
  if (r < 0)
    return r;
  *ret_what = "reading the filter";
  if (len <= 0 || len % sizeof (struct sock_filter) != 0)
    return -EIO;
  prog.len = (unsigned short)(len / sizeof (struct sock_filter));
  prog.filter = (struct sock_filter *)buf;
#else
  const unsigned char *bpf = variant == CBOX_SECCOMP_ALLOW_USERNS ? cbox_seccomp_filter_allow_userns
                                                                  : cbox_seccomp_filter_default;
  size_t size = variant == CBOX_SECCOMP_ALLOW_USERNS ? sizeof cbox_seccomp_filter_allow_userns
                                                     : sizeof cbox_seccomp_filter_default;

  prog.len = (unsigned short)(size / sizeof (struct sock_filter));
  prog.filter = (struct sock_filter *)bpf;
#endif
  *ret_what = "loading the seccomp filter";
  if (prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
    return -errno;
  return 0;
}

/* struct landlock_ruleset_attr as of Landlock ABI 6. */
struct cbox_landlock_ruleset_attr
{
  unsigned long long handled_access_fs;
  unsigned long long handled_access_net;
  unsigned long long scoped;
};

int
cbox_confine_landlock_abi (void)
{
#ifdef SYS_landlock_create_ruleset
  /* LANDLOCK_CREATE_RULESET_VERSION (1 << 0) */
  long abi = syscall (SYS_landlock_create_ruleset, NULL, 0, 1u << 0);
  return abi > 0 ? (int)abi : 0;
#else
  return 0;
#endif
}

static int
restrict_landlock_scopes (unsigned int scopes)
{
#ifdef SYS_landlock_create_ruleset
  struct cbox_landlock_ruleset_attr attr = { 0, 0, scopes };
  int fd;

  if (scopes == 0 || cbox_confine_landlock_abi () < 6)
    return 0;
  /* Nothing handled but the scopes: every file and port stays as the
   * rest of the sandbox makes it. */
  fd = (int)syscall (SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
  if (fd < 0)
    return -errno;
  if (syscall (SYS_landlock_restrict_self, fd, 0) < 0)
    {
      int saved = errno;
      close (fd);
      return -saved;
    }
  close (fd);
  return 0;
#else
  (void)scopes;
  return 0;
#endif
}

int
cbox_confine (CboxSeccompVariant variant, const char **ret_what)
{
  return cbox_confine_scoped (variant, 0, ret_what);
}

int
cbox_confine_scoped (CboxSeccompVariant variant, unsigned int scopes, const char **ret_what)
{
  int r;

  *ret_what = "joining a new session keyring";
  if ((r = join_fresh_session_keyring ()) < 0)
    return r;
  *ret_what = "dropping capabilities";
  if ((r = drop_capabilities ()) < 0)
    return r;
  *ret_what = "PR_SET_NO_NEW_PRIVS";
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return -errno;
  *ret_what = "Landlock scopes";
  if ((r = restrict_landlock_scopes (scopes)) < 0)
    return r;
  return cbox_confine_load_seccomp (variant, ret_what);
}

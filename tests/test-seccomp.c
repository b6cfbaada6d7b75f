/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The seccomp filter every backend loads (core/cbox-seccomp.c): what
 * cbox-exec embeds is, byte for byte, what libseccomp makes from the
 * source now, for each variant, so the two cannot drift apart; and the
 * variants differ. Every rule of the list refuses what it names, with the
 * errno it names, and the allow-userns variant lets through exactly the
 * calls it names (/seccomp/rules/...). That the filter is loaded in front
 * of the command, test-kernel-surface shows in real sandboxes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "cbox-seccomp.h"
#include "cbox-seccomp-filter.h"

static GBytes *export(CboxSeccompVariant variant)
{
  GByteArray *bytes = g_byte_array_new ();
  const char *what = NULL;
  int fd = memfd_create ("fresh", MFD_CLOEXEC);
  guint8 buf[4096];
  ssize_t n;

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (cbox_seccomp_export (fd, variant, &what), ==, 0);
  while ((n = pread (fd, buf, sizeof buf, (off_t)bytes->len)) > 0)
    g_byte_array_append (bytes, buf, (guint)n);
  g_assert_cmpint (n, ==, 0);
  close (fd);
  return g_byte_array_free_to_bytes (bytes);
}

static void
test_embedded (void)
{
  g_autoptr (GBytes) made_default = export(CBOX_SECCOMP_DEFAULT);
  g_autoptr (GBytes) made_userns = export(CBOX_SECCOMP_ALLOW_USERNS);
  g_autoptr (GBytes) embedded_default
      = g_bytes_new_static (cbox_seccomp_filter_default, sizeof cbox_seccomp_filter_default);
  g_autoptr (GBytes) embedded_userns = g_bytes_new_static (cbox_seccomp_filter_allow_userns,
                                                           sizeof cbox_seccomp_filter_allow_userns);

  /* Classic BPF: 8 bytes an instruction, and filters that do something. */
  g_assert_cmpuint (g_bytes_get_size (made_default) % 8, ==, 0);
  g_assert_cmpuint (g_bytes_get_size (made_default), >, 8 * 40);
  g_assert_true (g_bytes_equal (made_default, embedded_default));
  g_assert_true (g_bytes_equal (made_userns, embedded_userns));
  /* The exception lets something through: fewer rules. */
  g_assert_cmpuint (g_bytes_get_size (made_userns), <, g_bytes_get_size (made_default));
}

/* Every rule of the filter, tried in a child that loaded the embedded
 * filter (as cbox-exec does) with arguments that make the call fail
 * harmlessly (EBADF, EFAULT, ENOENT, EINVAL) or do nothing when the
 * filter lets it through, so a missing rule shows as a wrong errno and
 * never changes the host, even run as root. */
typedef struct
{
  const char *name;
  /* errno under the default filter, and under the allow-userns one (0:
   * not the filter's errno, whatever the kernel then answers). */
  int refused;
  int refused_userns;
} CboxSeccompCase;

static const CboxSeccompCase seccomp_cases[] = {
  { "syslog", EPERM, EPERM },
  { "uselib", EPERM, EPERM },
  { "acct", EPERM, EPERM },
  { "quotactl", EPERM, EPERM },
  { "init_module", EPERM, EPERM },
  { "finit_module", EPERM, EPERM },
  { "delete_module", EPERM, EPERM },
  { "kexec_load", EPERM, EPERM },
  { "kexec_file_load", EPERM, EPERM },
  { "swapon", EPERM, EPERM },
  { "swapoff", EPERM, EPERM },
  { "open_by_handle_at", EPERM, EPERM },
  { "modify_ldt", EPERM, EPERM },
  { "add_key", EPERM, EPERM },
  { "keyctl", EPERM, EPERM },
  { "request_key", EPERM, EPERM },
  { "move_pages", EPERM, EPERM },
  { "mbind", EPERM, EPERM },
  { "get_mempolicy", EPERM, EPERM },
  { "set_mempolicy", EPERM, EPERM },
  { "migrate_pages", EPERM, EPERM },
  { "tiocsti", EPERM, EPERM },
  { "tiocsti-high-bits", EPERM, EPERM },
  { "tioclinux", EPERM, EPERM },
  { "ptrace", EPERM, EPERM },
  { "process_vm_readv", EPERM, EPERM },
  { "process_vm_writev", EPERM, EPERM },
  { "perf_event_open", EPERM, EPERM },
  { "bpf", EPERM, EPERM },
  { "userfaultfd", EPERM, EPERM },
  { "personality-bsd", EPERM, EPERM },
  { "personality-no-aslr", EPERM, EPERM },
  { "socket-packet", EAFNOSUPPORT, EAFNOSUPPORT },
  { "socket-alg", EAFNOSUPPORT, EAFNOSUPPORT },
  { "socket-vsock", EAFNOSUPPORT, EAFNOSUPPORT },
  { "socket-bluetooth", EAFNOSUPPORT, EAFNOSUPPORT },
  { "socket-key", EAFNOSUPPORT, EAFNOSUPPORT },
  { "unshare", EPERM, 0 },
  { "setns", EPERM, 0 },
  { "clone-newuser", EPERM, 0 },
  { "clone3", ENOSYS, 0 },
  { "mount", EPERM, 0 },
  { "umount2", EPERM, 0 },
  { "pivot_root", EPERM, 0 },
  { "chroot", EPERM, 0 },
  { "open_tree", ENOSYS, 0 },
  { "move_mount", ENOSYS, 0 },
  { "fsopen", ENOSYS, 0 },
  { "fsconfig", ENOSYS, 0 },
  { "fsmount", ENOSYS, 0 },
  { "fspick", ENOSYS, 0 },
  { "mount_setattr", ENOSYS, 0 },
#ifdef __x86_64__
  /* The same rules for the x32 ABI (the syscall number's x32 bit). */
  { "x32-keyctl", EPERM, EPERM },
#endif
};

/* A path that does not exist: a call the filter lets through fails
 * with ENOENT before it does anything. */
static const char no_such_path[] = "/nonexistent/cbox-test-seccomp";

/* Makes the attempt @name; 0 if it worked, else the errno. -1: no such
 * system call on this architecture (nothing to test). */
static int
attempt (const char *name)
{
  char c = '#';
  char linux_arg[2] = { 3, 0 }; /* TIOCL_PASTESEL */
  long r = -1;
  int fd;

#define CALL(label, nr, ...)                                                                       \
  if (strcmp (name, label) == 0)                                                                   \
    {                                                                                              \
      errno = 0;                                                                                   \
      r = syscall (nr, __VA_ARGS__);                                                               \
      return r >= 0 ? 0 : errno;                                                                   \
    }
#ifdef SYS_uselib
  CALL ("uselib", SYS_uselib, no_such_path)
#else
  if (strcmp (name, "uselib") == 0)
    return -1;
#endif
#ifdef SYS_modify_ldt
  /* Reads no bytes of the LDT. */
  CALL ("modify_ldt", SYS_modify_ldt, 0, NULL, 0)
#else
  if (strcmp (name, "modify_ldt") == 0)
    return -1;
#endif
  /* SYSLOG_ACTION_SIZE_BUFFER: reads the log's size. */
  CALL ("syslog", SYS_syslog, 10, NULL, 0)
  CALL ("acct", SYS_acct, no_such_path)
  CALL ("quotactl", SYS_quotactl, 0x800007 /* Q_GETFMT */, no_such_path, 0, NULL)
  CALL ("init_module", SYS_init_module, NULL, 0, "")
  CALL ("finit_module", SYS_finit_module, -1, "", 0)
  CALL ("delete_module", SYS_delete_module, "cbox_test_no_such_module", O_NONBLOCK)
  /* Flags no kernel knows: EINVAL once past the filter. */
  CALL ("kexec_load", SYS_kexec_load, 0, 0, NULL, 0xffff0000ul)
  CALL ("kexec_file_load", SYS_kexec_file_load, -1, -1, 0, NULL, 0xfffffff0ul)
  CALL ("swapon", SYS_swapon, no_such_path, 0)
  CALL ("swapoff", SYS_swapoff, no_such_path)
  CALL ("open_by_handle_at", SYS_open_by_handle_at, -1, NULL, 0)
  CALL ("add_key", SYS_add_key, "user", NULL, NULL, 0, 0)
  CALL ("keyctl", SYS_keyctl, -1, 0, 0, 0, 0)
  CALL ("request_key", SYS_request_key, "user", NULL, NULL, 0)
  /* The NUMA calls with nothing to move or set (this child's policy to
   * the default it has). */
  CALL ("move_pages", SYS_move_pages, 0, 0, NULL, NULL, NULL, 0)
  CALL ("mbind", SYS_mbind, NULL, 0, 0, NULL, 0, 0)
  CALL ("get_mempolicy", SYS_get_mempolicy, NULL, NULL, 0, NULL, 0)
  CALL ("set_mempolicy", SYS_set_mempolicy, 0, NULL, 0)
  CALL ("migrate_pages", SYS_migrate_pages, 0, 0, NULL, NULL)
  CALL ("tiocsti", SYS_ioctl, -1, TIOCSTI, &c)
  CALL ("tiocsti-high-bits", SYS_ioctl, -1, 0x100000000ul | TIOCSTI, &c)
  CALL ("tioclinux", SYS_ioctl, -1, TIOCLINUX, linux_arg)
  CALL ("ioctl-other", SYS_ioctl, -1, TIOCGWINSZ, NULL)
  /* PTRACE_PEEKDATA on no process: ESRCH. */
  CALL ("ptrace", SYS_ptrace, 2, -1, NULL, NULL)
  CALL ("process_vm_readv", SYS_process_vm_readv, getpid (), NULL, 0, NULL, 0, 0)
  CALL ("process_vm_writev", SYS_process_vm_writev, getpid (), NULL, 0, NULL, 0, 0)
  CALL ("perf_event_open", SYS_perf_event_open, NULL, 0, -1, -1, 0)
  CALL ("bpf", SYS_bpf, -1, NULL, 0)
  CALL ("userfaultfd", SYS_userfaultfd, -1)
  /* Changes this child's personality only. */
  CALL ("personality-bsd", SYS_personality, PER_BSD)
  CALL ("personality-no-aslr", SYS_personality, PER_LINUX | ADDR_NO_RANDOMIZE)
  CALL ("personality-linux", SYS_personality, PER_LINUX)
  /* A no-op, and a namespace file that is not open. */
  CALL ("unshare", SYS_unshare, 0)
  CALL ("setns", SYS_setns, -1, 0)
  /* An argument structure too small for any kernel: EINVAL. */
  CALL ("clone3", SYS_clone3, NULL, 0)
  CALL ("mount", SYS_mount, no_such_path, no_such_path, NULL, MS_BIND, NULL)
  CALL ("umount2", SYS_umount2, no_such_path, 0)
  CALL ("pivot_root", SYS_pivot_root, no_such_path, no_such_path)
  CALL ("chroot", SYS_chroot, no_such_path)
  CALL ("open_tree", SYS_open_tree, AT_FDCWD, no_such_path, 0)
  CALL ("move_mount", SYS_move_mount, AT_FDCWD, no_such_path, AT_FDCWD, no_such_path, 0)
  CALL ("fsopen", SYS_fsopen, NULL, 0)
  CALL ("fsconfig", SYS_fsconfig, -1, 0, NULL, NULL, 0)
  CALL ("fsmount", SYS_fsmount, -1, 0, 0)
  CALL ("fspick", SYS_fspick, AT_FDCWD, no_such_path, 0)
  CALL ("mount_setattr", SYS_mount_setattr, AT_FDCWD, no_such_path, 0, NULL, 0)
#ifdef __x86_64__
  /* keyctl is 250 for x32 as for x86_64; with the x32 bit the kernel
   * without x32 support answers ENOSYS, the filter EPERM. */
  CALL ("x32-keyctl", 0x40000000 | SYS_keyctl, -1, 0, 0, 0, 0)
#endif
#undef CALL
  if (strcmp (name, "clone-newuser") == 0)
    {
      /* The new process, if any, exits at once. */
      errno = 0;
      r = syscall (SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
      if (r == 0)
        _exit (0);
      if (r > 0)
        waitpid ((pid_t)r, NULL, 0);
      return r >= 0 ? 0 : errno;
    }
  if (g_str_has_prefix (name, "socket-"))
    {
      int family = -1, type = SOCK_RAW;

      if (strcmp (name, "socket-packet") == 0)
        family = AF_PACKET;
      else if (strcmp (name, "socket-alg") == 0)
        family = AF_ALG, type = SOCK_SEQPACKET;
      else if (strcmp (name, "socket-vsock") == 0)
        family = AF_VSOCK, type = SOCK_STREAM;
      else if (strcmp (name, "socket-bluetooth") == 0)
        family = AF_BLUETOOTH, type = SOCK_SEQPACKET;
      else if (strcmp (name, "socket-key") == 0)
        family = AF_KEY, type = SOCK_RAW;
      else if (strcmp (name, "socket-unix") == 0)
        family = AF_UNIX, type = SOCK_STREAM;
      else if (strcmp (name, "socket-netlink") == 0)
        family = AF_NETLINK, type = SOCK_DGRAM;
      g_assert_cmpint (family, >=, 0);
      errno = 0;
      fd = socket (family, type | SOCK_CLOEXEC, 0);
      if (fd >= 0)
        close (fd);
      return fd >= 0 ? 0 : errno;
    }
  g_error ("no attempt %s", name);
}

/* @name's outcome in a child of its own (a call the filter lets through
 * changes nothing of this process), under @variant, or under no filter at
 * all when @variant is -1. */
static int
attempt_in_child (const char *name, int variant)
{
  int fds[2];
  int result = -2;
  int status = 0;
  pid_t pid;

  g_assert_cmpint (pipe2 (fds, O_CLOEXEC), ==, 0);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      int got;

      close (fds[0]);
      if (variant >= 0)
        {
          const unsigned char *bpf = variant == CBOX_SECCOMP_ALLOW_USERNS
                                         ? cbox_seccomp_filter_allow_userns
                                         : cbox_seccomp_filter_default;
          size_t size = variant == CBOX_SECCOMP_ALLOW_USERNS
                            ? sizeof cbox_seccomp_filter_allow_userns
                            : sizeof cbox_seccomp_filter_default;
          struct sock_fprog prog = { .len = (unsigned short)(size / sizeof (struct sock_filter)),
                                     .filter = (struct sock_filter *)bpf };

          if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0
              || prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
            _exit (2);
        }
      got = attempt (name);
      if (write (fds[1], &got, sizeof got) != sizeof got)
        _exit (3);
      _exit (0);
    }
  close (fds[1]);
  g_assert_cmpint (read (fds[0], &result, sizeof result), ==, sizeof result);
  close (fds[0]);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  return result;
}

/* Each case under @variant against the same attempt under no filter:
 * a refused call must get the filter's errno where the kernel alone
 * answers something else (a rule missing from the filter then fails the
 * test); a call let through must get what the kernel alone answers. Run
 * as root (as CI runs it), the kernel alone refuses almost none of them;
 * an attempt the kernel alone already answers with the filter's errno
 * (a root-only call for a user, an address family this kernel lacks)
 * proves nothing and is only reported. */
static void
test_rules (gconstpointer data)
{
  CboxSeccompVariant variant = GPOINTER_TO_INT (data);
  static const CboxSeccompCase allowed[] = {
    { "ioctl-other", 0, 0 },
    { "personality-linux", 0, 0 },
    { "socket-unix", 0, 0 },
    { "socket-netlink", 0, 0 },
  };
  guint checked = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (seccomp_cases) + G_N_ELEMENTS (allowed); i++)
    {
      const CboxSeccompCase *c = i < G_N_ELEMENTS (seccomp_cases)
                                     ? &seccomp_cases[i]
                                     : &allowed[i - G_N_ELEMENTS (seccomp_cases)];
      int expected = variant == CBOX_SECCOMP_ALLOW_USERNS ? c->refused_userns : c->refused;
      int alone = attempt_in_child (c->name, -1);
      int filtered;

      if (alone == -1)
        {
          g_test_message ("%s: not on this architecture", c->name);
          continue;
        }
      filtered = attempt_in_child (c->name, (int)variant);
      g_test_message ("%s: %s alone, %s under the filter", c->name,
                      alone == 0 ? "ok" : g_strerror (alone),
                      filtered == 0 ? "ok" : g_strerror (filtered));
      if (expected == 0)
        {
          g_assert_cmpint (filtered, ==, alone);
          checked++;
        }
      else if (alone == expected)
        g_test_message ("%s: the kernel alone answers %s here: not checked", c->name,
                        g_strerror (expected));
      else
        {
          if (filtered != expected)
            g_test_message ("%s: expected %s", c->name, g_strerror (expected));
          g_assert_cmpint (filtered, ==, expected);
          checked++;
        }
    }
  /* The test checked something on this machine. */
  g_assert_cmpuint (checked, >=, G_N_ELEMENTS (seccomp_cases) / 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/seccomp/embedded-is-current", test_embedded);
  g_test_add_data_func ("/seccomp/rules/default", GINT_TO_POINTER (CBOX_SECCOMP_DEFAULT),
                        test_rules);
  g_test_add_data_func ("/seccomp/rules/allow-userns", GINT_TO_POINTER (CBOX_SECCOMP_ALLOW_USERNS),
                        test_rules);
  return g_test_run ();
}

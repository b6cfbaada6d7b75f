/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cbox-attack: what a hostile command inside a sandbox would try against
 * the host's kernel, one attempt per argument, for test-kernel-surface.
 * Prints one `NAME=RESULT` line per attempt: "ok" when the attempt worked
 * (the sandbox failed), otherwise the errno's name. Never changes the
 * host when an attempt works: core_pattern gets back the value it has,
 * the mount attempts target the sandbox's own mounts, a device node is
 * made only in the folder the test names and is the harmless null device.
 *
 * Linked statically: it runs in every backend, the qemu guest included.
 *
 *   keyctl                 read the session keyring's id (keyctl)
 *   add-key                add a key to the session keyring
 *   proc-keys:TEXT         "visible" if /proc/keys lists TEXT, else "hidden"
 *   userns                 unshare(CLONE_NEWUSER)
 *   clone-userns           clone(CLONE_NEWUSER)
 *   mount                  mount a tmpfs on /tmp
 *   fsopen, open-tree      the new mount API
 *   remount:PATH           make the mount at PATH writable
 *   umount:PATH            detach the mount at PATH (a cover)
 *   mknod:PATH             make a character device (1:3, null) at PATH
 *   core-pattern           write /proc/sys/kernel/core_pattern (its own value)
 *   fresh-proc             in new user, mount and pid namespaces (uid 0 mapped
 *                          to the caller's when the kernel lets it), mount a
 *                          proc of its own; where that works, the same
 *                          through it: fresh-proc-core-pattern (its own
 *                          value), fresh-proc-sysrq (opened for writing,
 *                          never written), and fresh-proc-keys:TEXT as
 *                          proc-keys (given before fresh-proc)
 *   tiocsti:FD             TIOCSTI on FD, then TIOCSTI with high bits, TIOCLINUX
 *   ptrace                 PTRACE_ATTACH to pid 1 of the sandbox
 *   perf                   perf_event_open
 *   socket-packet, socket-alg, socket-unix
 *   personality            personality(ADDR_NO_RANDOMIZE)
 *   unconfined-mem         open for writing the memory (/proc/PID/mem) of each
 *                          process under fewer seccomp filters than this
 *                          one (cbox-exec, the guest's init, nspawn's stub
 *                          init): "ok" if any opened (code written there
 *                          would run outside the filter), "none-found" if
 *                          there is no such process, else the last errno
 *   caps                   "none" when no capability is left and none can be
 *                          gained (else the set that is not empty)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif

static void
report (const char *name, long r)
{
  printf ("%s=%s\n", name, r >= 0 ? "ok" : strerrorname_np (errno));
}

static char *
read_all (const char *path)
{
  static char buf[1 << 16];
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n, len = 0;

  if (fd < 0)
    return NULL;
  while ((n = read (fd, buf + len, sizeof buf - 1 - (size_t)len)) > 0)
    len += n;
  close (fd);
  buf[len] = '\0';
  return buf;
}

static long
try_core_pattern (void)
{
  char *value = read_all ("/proc/sys/kernel/core_pattern");
  char copy[4096];
  int fd;
  long r;

  if (value == NULL)
    return -1;
  /* The value already there, so the host is unchanged even if this
   * works (the test then fails). */
  snprintf (copy, sizeof copy, "%s", value);
  fd = open ("/proc/sys/kernel/core_pattern", O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  r = write (fd, copy, strlen (copy));
  close (fd);
  return r;
}

/* Writes @text to @path; -1 with errno on failure. */
static long
write_file (const char *path, const char *text)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  long r;

  if (fd < 0)
    return -1;
  r = write (fd, text, strlen (text));
  close (fd);
  return r;
}

/* What a nested sandbox does first: new namespaces, a proc of its own.
 * The attempts on the host's kernel through that proc are made in a
 * grandchild (pid 1 of the new pid namespace), which prints them. */
static void
try_fresh_proc (const char *keys_text)
{
  uid_t uid = getuid ();
  gid_t gid = getgid ();
  pid_t child;

  fflush (stdout);
  child = fork ();
  if (child < 0)
    {
      report ("fresh-proc", -1);
      return;
    }
  if (child == 0)
    {
      char map[64];
      pid_t pid1;

      if (unshare (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID) < 0)
        {
          report ("fresh-proc", -1);
          fflush (stdout);
          _exit (0);
        }
      /* Root of the new namespace where the kernel allows it (for the
       * host's root it does not: that takes CAP_SETFCAP); unmapped
       * otherwise, which keeps the caller's own uid for every check. */
      write_file ("/proc/self/setgroups", "deny");
      snprintf (map, sizeof map, "0 %u 1", (unsigned)uid);
      write_file ("/proc/self/uid_map", map);
      snprintf (map, sizeof map, "0 %u 1", (unsigned)gid);
      write_file ("/proc/self/gid_map", map);
      pid1 = fork ();
      if (pid1 == 0)
        {
          mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
          errno = 0;
          if (mount ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            {
              report ("fresh-proc", -1);
              fflush (stdout);
              _exit (0);
            }
          report ("fresh-proc", 0);
          report ("fresh-proc-core-pattern", try_core_pattern ());
          {
            int fd = open ("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
            report ("fresh-proc-sysrq", fd);
            if (fd >= 0)
              close (fd);
          }
          if (keys_text != NULL)
            {
              char *keys = read_all ("/proc/keys");
              printf ("fresh-proc-keys=%s\n",
                      keys != NULL && strstr (keys, keys_text) ? "visible" : "hidden");
            }
          fflush (stdout);
          _exit (0);
        }
      if (pid1 < 0)
        report ("fresh-proc", -1);
      else
        waitpid (pid1, NULL, 0);
      fflush (stdout);
      _exit (0);
    }
  waitpid (child, NULL, 0);
}

static long
try_clone_userns (void)
{
  long pid = syscall (SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);

  if (pid == 0)
    _exit (0);
  if (pid > 0)
    waitpid ((pid_t)pid, NULL, 0);
  return pid;
}

static void
try_tiocsti (const char *arg)
{
  int fd = atoi (arg);
  char c = '#';
  char linux_arg[2] = { 3, 0 }; /* TIOCL_PASTESEL */
  unsigned long high = 0x100000000ul | TIOCSTI;

  report ("tiocsti", ioctl (fd, TIOCSTI, &c));
  report ("tiocsti-high", ioctl (fd, high, &c));
  report ("tioclinux", ioctl (fd, TIOCLINUX, linux_arg));
}

/* The number of seccomp filters of /proc/@pid (status is readable for
 * every process); -1 if unknown. */
static int
seccomp_filters_of (const char *pid)
{
  char path[64];
  char *status, *field;

  snprintf (path, sizeof path, "/proc/%s/status", pid);
  status = read_all (path);
  field = status != NULL ? strstr (status, "Seccomp_filters:\t") : NULL;
  return field != NULL ? atoi (field + strlen ("Seccomp_filters:\t")) : -1;
}

static void
try_unconfined_mem (void)
{
  char self[32];
  int own = -1, found = 0, last_errno = 0, opened = 0;
  DIR *proc = opendir ("/proc");
  struct dirent *e;

  snprintf (self, sizeof self, "%d", (int)getpid ());
  own = seccomp_filters_of (self);
  while (proc != NULL && (e = readdir (proc)) != NULL)
    {
      char path[300];
      int n, fd;

      if (e->d_name[0] < '1' || e->d_name[0] > '9' || strcmp (e->d_name, self) == 0)
        continue;
      n = seccomp_filters_of (e->d_name);
      if (n < 0 || n >= own)
        continue;
      /* A kernel thread (the guest's) has no memory to open. */
      snprintf (path, sizeof path, "/proc/%s/cmdline", e->d_name);
      if (read_all (path) == NULL || read_all (path)[0] == '\0')
        continue;
      found = 1;
      snprintf (path, sizeof path, "/proc/%s/mem", e->d_name);
      fd = open (path, O_RDWR | O_CLOEXEC);
      if (fd >= 0)
        {
          opened = 1;
          close (fd);
        }
      else
        last_errno = errno;
    }
  if (proc != NULL)
    closedir (proc);
  if (opened)
    printf ("unconfined-mem=ok\n");
  else if (!found)
    printf ("unconfined-mem=none-found\n");
  else
    printf ("unconfined-mem=%s\n", strerrorname_np (last_errno));
}

/* "none" when the command holds no capability and cannot gain one: the
 * effective, permitted, inheritable and ambient sets empty, no_new_privs
 * set (no set-user-id or file capability gives any back), and, for uid
 * 0, the bounding set empty too (cbox-exec empties it where it may).
 * Otherwise the first of these that is not so. */
static void
report_caps (void)
{
  static const char *const sets[]
      = { "CapEff:\t", "CapPrm:\t", "CapInh:\t", "CapAmb:\t", "CapBnd:\t" };
  char *status = read_all ("/proc/self/status");
  char *nnp = status != NULL ? strstr (status, "NoNewPrivs:\t") : NULL;

  if (status == NULL || nnp == NULL)
    {
      printf ("caps=unknown\n");
      return;
    }
  for (unsigned int i = 0; i < sizeof sets / sizeof sets[0]; i++)
    {
      char *value = strstr (status, sets[i]);

      if (i == 4 && getuid () != 0)
        break;
      if (value == NULL)
        {
          printf ("caps=unknown\n");
          return;
        }
      value += strlen (sets[i]);
      if (strncmp (value, "0000000000000000", 16) != 0)
        {
          printf ("caps=%.6s%.16s\n", sets[i], value);
          return;
        }
    }
  if (strncmp (nnp + strlen ("NoNewPrivs:\t"), "1", 1) != 0)
    {
      printf ("caps=no-new-privs-unset\n");
      return;
    }
  printf ("caps=none\n");
}

int
main (int argc, char **argv)
{
  const char *fresh_keys = NULL;

  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      const char *colon = strchr (a, ':');
      const char *param = colon != NULL ? colon + 1 : "";

      errno = 0;
      if (strcmp (a, "keyctl") == 0)
        report (a, syscall (SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
      else if (strcmp (a, "add-key") == 0)
        report (a, syscall (SYS_add_key, "user", "cbox-attack", "x", 1, KEY_SPEC_SESSION_KEYRING));
      else if (strncmp (a, "proc-keys:", 10) == 0)
        {
          char *keys = read_all ("/proc/keys");
          printf ("proc-keys=%s\n", keys != NULL && strstr (keys, param) ? "visible" : "hidden");
        }
      else if (strcmp (a, "userns") == 0)
        report (a, unshare (CLONE_NEWUSER));
      else if (strcmp (a, "clone-userns") == 0)
        report (a, try_clone_userns ());
      else if (strcmp (a, "mount") == 0)
        report (a, mount ("none", "/tmp", "tmpfs", 0, NULL));
      else if (strcmp (a, "fsopen") == 0)
        report (a, syscall (SYS_fsopen, "tmpfs", 0));
      else if (strcmp (a, "open-tree") == 0)
        report (a, syscall (SYS_open_tree, AT_FDCWD, "/usr", 1 /* OPEN_TREE_CLONE */));
      else if (strncmp (a, "remount:", 8) == 0)
        report ("remount", mount (NULL, param, NULL, MS_REMOUNT | MS_BIND, NULL));
      else if (strncmp (a, "umount:", 7) == 0)
        report ("umount", umount2 (param, MNT_DETACH));
      else if (strncmp (a, "mknod:", 6) == 0)
        report ("mknod", mknod (param, S_IFCHR | 0600, makedev (1, 3)));
      else if (strcmp (a, "core-pattern") == 0)
        report (a, try_core_pattern ());
      else if (strncmp (a, "fresh-proc-keys:", 16) == 0)
        fresh_keys = param;
      else if (strcmp (a, "fresh-proc") == 0)
        try_fresh_proc (fresh_keys);
      else if (strncmp (a, "tiocsti:", 8) == 0)
        try_tiocsti (param);
      else if (strcmp (a, "ptrace") == 0)
        report (a, ptrace (PTRACE_ATTACH, 1, NULL, NULL));
      else if (strcmp (a, "perf") == 0)
        {
          struct perf_event_attr attr;
          memset (&attr, 0, sizeof attr);
          attr.size = sizeof attr;
          attr.type = PERF_TYPE_SOFTWARE;
          attr.config = PERF_COUNT_SW_CPU_CLOCK;
          attr.exclude_kernel = 1;
          report (a, syscall (SYS_perf_event_open, &attr, 0, -1, -1, 0));
        }
      else if (strcmp (a, "socket-packet") == 0)
        report (a, socket (AF_PACKET, SOCK_RAW, 0));
      else if (strcmp (a, "socket-alg") == 0)
        report (a, socket (AF_ALG, SOCK_SEQPACKET, 0));
      else if (strcmp (a, "socket-unix") == 0)
        report (a, socket (AF_UNIX, SOCK_STREAM, 0));
      else if (strcmp (a, "personality") == 0)
        report (a, personality (ADDR_NO_RANDOMIZE));
      else if (strcmp (a, "caps") == 0)
        report_caps ();
      else if (strcmp (a, "unconfined-mem") == 0)
        try_unconfined_mem ();
      else
        {
          fprintf (stderr, "cbox-attack: unknown attempt %s\n", a);
          return 2;
        }
      fflush (stdout);
    }
  return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* cbox-enter: runs a command inside a running sandbox (`cbox enter`).
 *
 *   cbox-enter [--allow-userns] PID START-TIME UID GID CWD -- [COMMAND [ARG...]]
 *
 * PID is a process inside the sandbox (the backend reported it; START-TIME
 * from /proc/PID/stat makes sure it is still that process). cbox-enter
 * joins its user, cgroup, ipc, uts, net, pid and mount namespaces (those
 * that differ from its own), takes its root, goes to CWD, and runs
 * COMMAND (default: the sandbox's $SHELL, else /bin/sh) as UID:GID with
 * the sandbox's environment, no capabilities, no_new_privs and the same
 * seccomp filter as the sandbox's own command (--allow-userns: the run
 * allowed new user namespaces, and so does what is entered, except for
 * uid 0, as the backends do). It waits for
 * the command, passes signals sent to it on, and exits with its status
 * (128+N after signal N; 126 not executable, 127 not found; 125 for its
 * own errors).
 *
 * Its own program, not part of cbox: setns() into a user namespace needs
 * a single-threaded process.
 * Plain libc. */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cbox-confine.h"

/* This helper enters another pid namespace: no leak check (seen spinning
 * in nspawn's enter test). */
#include "cbox-no-leak-check.h"

#define EXIT_OWN 125

/* Each namespace is joined from the user namespace that owns it (where
 * joining gives the capabilities setns() needs), and the process's own
 * user namespace last: bwrap --disable-userns puts the command in a user
 * namespace nested in the one that owns the others, and capabilities in
 * a child namespace are worth nothing in its parent. The mount namespace
 * comes after the others: after it, /proc is the sandbox's. */
#define USER_NS 6
static const struct
{
  const char *name;
  int type;
} namespaces[] = {
  { "cgroup", CLONE_NEWCGROUP }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
  { "net", CLONE_NEWNET },       { "pid", CLONE_NEWPID }, { "mnt", CLONE_NEWNS },
  { "user", CLONE_NEWUSER },
};
#define N_NAMESPACES (sizeof namespaces / sizeof namespaces[0])

static const int forwarded_signals[] = { SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGINT, SIGQUIT };
#define N_FORWARDED (sizeof forwarded_signals / sizeof forwarded_signals[0])

static void
die (const char *what)
{
  fprintf (stderr, "cbox enter: %s: %s\n", what, strerror (errno));
  exit (EXIT_OWN);
}

static unsigned long long
start_time_of (pid_t pid)
{
  char path[64], buf[4096];
  const char *p;
  ssize_t n;
  int fd;

  snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  p = strrchr (buf, ')');
  if (p == NULL)
    return 0;
  p += 2;
  /* fields 3..21, then the start time (field 22) */
  for (int field = 3; field < 22; field++)
    {
      p = strchr (p, ' ');
      if (p == NULL)
        return 0;
      p++;
    }
  return strtoull (p, NULL, 10);
}

/* /proc/PID/environ as a NULL-terminated array, or NULL. */
static char **
read_environ (pid_t pid)
{
  char path[64];
  char *data = NULL;
  size_t len = 0, cap = 0, count = 0;
  char **env;
  int fd;

  snprintf (path, sizeof path, "/proc/%d/environ", (int)pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  for (;;)
    {
      ssize_t n;
      if (len + 4096 + 1 > cap)
        {
          cap = (len + 4096 + 1) * 2;
          data = realloc (data, cap);
          if (data == NULL)
            die ("memory");
        }
      n = read (fd, data + len, 4096);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      len += (size_t)n;
    }
  close (fd);
  if (data == NULL)
    return NULL;
  data[len] = '\0';
  for (size_t i = 0; i < len; i++)
    if (data[i] == '\0')
      count++;
  env = calloc (count + 2, sizeof (char *));
  if (env == NULL)
    die ("memory");
  count = 0;
  for (size_t i = 0; i < len; i += strlen (data + i) + 1)
    if (data[i] != '\0')
      env[count++] = data + i;
  return env;
}

static const char *
env_get (char **env, const char *name)
{
  size_t len = strlen (name);

  for (size_t i = 0; env != NULL && env[i] != NULL; i++)
    if (strncmp (env[i], name, len) == 0 && env[i][len] == '=')
      return env[i] + len + 1;
  return NULL;
}

/* What every backend does last for its command (core/cbox-confine.c): a
 * fresh session keyring (not the caller's), no capability, no_new_privs,
 * the seccomp filter (core/cbox-seccomp.c, embedded at build time): what
 * runs through `cbox enter` is refused what the sandbox's own command is
 * (TIOCSTI into the terminal of the shell that ran `cbox enter`, keyrings,
 * mounts, ...). The variant is the run's: with allow-userns, a command
 * entered later may make user namespaces as the sandbox's own command may
 * (Claude Code's sandbox in a second shell), except as uid 0, which the
 * backends refuse them (plugins/bwrap, plugins/nspawn: the host's root in
 * a user namespace of its own keeps uid 0 for sysctl writes). */
static void
apply_seccomp (int allow_userns, uid_t uid)
{
  const char *what = NULL;
  int r = cbox_confine (allow_userns && uid != 0 ? CBOX_SECCOMP_ALLOW_USERNS : CBOX_SECCOMP_DEFAULT,
                        &what);

  if (r < 0)
    {
      fprintf (stderr, "cbox enter: %s: %s\n", what, strerror (-r));
      exit (EXIT_OWN);
    }
}

/* In the child, after the namespaces: the identity and the limits of the
 * sandbox's own command. Joining the user namespace gave every capability
 * in it; none of them may reach the command. */
static void
drop_privileges (uid_t uid, gid_t gid, int allow_userns)
{
  struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2] = { { 0, 0, 0 }, { 0, 0, 0 } };

  for (int cap = 0; cap <= 63; cap++)
    if (prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
      die ("dropping the capability bounding set");
  if (getgid () != gid || getegid () != gid)
    {
      /* Only root gets here (cbox run as root on a user's behalf). */
      if (setgroups (0, NULL) < 0 && errno != EPERM)
        die ("setgroups");
      if (setresgid (gid, gid, gid) < 0)
        die ("setresgid");
    }
  if (getuid () != uid || geteuid () != uid)
    if (setresuid (uid, uid, uid) < 0)
      die ("setresuid");
  prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (syscall (SYS_capset, &header, data) < 0)
    die ("capset");
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    die ("PR_SET_NO_NEW_PRIVS");
  apply_seccomp (allow_userns, uid);
}

static ino_t
inode_of_fd (int fd)
{
  struct stat st;

  if (fstat (fd, &st) < 0)
    die ("fstat of a namespace");
  return st.st_ino;
}

static void
join_user_namespace (int fd, ino_t *current)
{
  ino_t ino = inode_of_fd (fd);

  if (ino == *current)
    return;
  if (setns (fd, CLONE_NEWUSER) < 0)
    die ("joining the sandbox's user namespace");
  *current = ino;
}

/* How many user namespaces @fd is below the outermost one this process
 * can see (its parents' chain, NS_GET_PARENT, which stops with EPERM at
 * the edge of what the caller may see). */
static int
userns_depth (int fd)
{
  int current = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  int depth = 0;

  while (current >= 0 && depth < 64)
    {
      int parent = ioctl (current, NS_GET_PARENT);

      close (current);
      current = parent;
      if (parent >= 0)
        depth++;
    }
  if (current >= 0)
    close (current);
  return depth;
}

int
main (int argc, char **argv)
{
  int ns_fds[N_NAMESPACES], owner_fds[N_NAMESPACES];
  struct stat st_self_user;
  ino_t current_user;
  char **env, **command;
  char *default_command[2] = { NULL, NULL };
  unsigned long long start_time;
  sigset_t mask, old_mask;
  pid_t pid, child;
  uid_t uid;
  gid_t gid;
  const char *cwd;
  int pidfd, root_fd, wstatus;
  int allow_userns = 0;

  if (argc > 1 && strcmp (argv[1], "--allow-userns") == 0)
    {
      allow_userns = 1;
      argv++;
      argc--;
    }
  if (argc < 7 || strcmp (argv[6], "--") != 0)
    {
      fprintf (stderr, "usage: cbox-enter [--allow-userns] PID START-TIME UID GID CWD -- [COMMAND "
                       "[ARG...]]\n"
                       "(run by 'cbox enter'; see cbox(1))\n");
      return EXIT_OWN;
    }
  pid = (pid_t)strtol (argv[1], NULL, 10);
  start_time = strtoull (argv[2], NULL, 10);
  uid = (uid_t)strtoul (argv[3], NULL, 10);
  gid = (gid_t)strtoul (argv[4], NULL, 10);
  cwd = argv[5];
  command = argv + 7;

  /* Everything of the process is opened while a pidfd holds it and its
   * start time says it is the one cbox recorded; it is alive at the end,
   * so nothing opened belongs to a process that reused its pid. */
  pidfd = (int)syscall (SYS_pidfd_open, pid, 0);
  if (pidfd < 0 || start_time == 0 || start_time_of (pid) != start_time)
    {
      fprintf (stderr, "cbox enter: the sandbox (pid %d) has ended\n", (int)pid);
      return EXIT_OWN;
    }
  for (size_t i = 0; i < N_NAMESPACES; i++)
    {
      char theirs[64], ours[64];
      struct stat st_theirs, st_ours;

      snprintf (theirs, sizeof theirs, "/proc/%d/ns/%s", (int)pid, namespaces[i].name);
      snprintf (ours, sizeof ours, "/proc/self/ns/%s", namespaces[i].name);
      ns_fds[i] = -1;
      owner_fds[i] = -1;
      if (stat (theirs, &st_theirs) < 0)
        {
          if (errno == ENOENT)
            continue; /* a kernel without this namespace type */
          die (theirs);
        }
      /* The same namespace as ours (the host network when the sandbox has
       * network): nothing to join, and setns() would refuse it without
       * privileges over the host's. */
      if (stat (ours, &st_ours) == 0 && st_ours.st_ino == st_theirs.st_ino
          && st_ours.st_dev == st_theirs.st_dev)
        continue;
      ns_fds[i] = open (theirs, O_RDONLY | O_CLOEXEC);
      if (ns_fds[i] < 0)
        die (theirs);
      if (namespaces[i].type != CLONE_NEWUSER)
        {
          owner_fds[i] = ioctl (ns_fds[i], NS_GET_USERNS);
          if (owner_fds[i] < 0)
            die ("finding the owner of a namespace");
        }
    }
  if (stat ("/proc/self/ns/user", &st_self_user) < 0)
    die ("/proc/self/ns/user");
  current_user = st_self_user.st_ino;
  {
    char root[64];
    snprintf (root, sizeof root, "/proc/%d/root", (int)pid);
    root_fd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0)
      die (root);
  }
  env = read_environ (pid);
  if (env == NULL)
    die ("reading the sandbox's environment");
  if (syscall (SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0 || start_time_of (pid) != start_time)
    {
      fprintf (stderr, "cbox enter: the sandbox (pid %d) has ended\n", (int)pid);
      return EXIT_OWN;
    }

  /* Root acting for a user (sudo) enters a sandbox the user owns as that
   * user: its user namespace maps no other uid, and root's groups would
   * stay with the command. (A sandbox of root's own, nspawn's, is joined
   * as root; the command drops to the user below.) */
  if (geteuid () == 0 && uid != 0 && ns_fds[USER_NS] >= 0)
    {
      if (setgroups (1, &gid) < 0 || setresgid (gid, gid, gid) < 0 || setresuid (uid, uid, uid) < 0)
        die ("becoming the sandbox's user");
    }

  /* Outer owners first: a user namespace, once joined, is never left for
   * its parent. A sandbox in the project's shared network (bwrap) has its
   * network namespace owned by the keeper's user namespace (or, for root,
   * by the host's) and the rest by bwrap's, nested inside: the network
   * namespace is joined before bwrap's user namespace. Within one owner
   * the order of the table (mount last). */
  {
    int depth[N_NAMESPACES];
    int max_depth = 0;

    for (size_t i = 0; i < N_NAMESPACES; i++)
      {
        depth[i] = owner_fds[i] >= 0 ? userns_depth (owner_fds[i]) : 0;
        if (depth[i] > max_depth)
          max_depth = depth[i];
      }
    for (int d = 0; d <= max_depth; d++)
      for (size_t i = 0; i < N_NAMESPACES; i++)
        if (ns_fds[i] >= 0 && namespaces[i].type != CLONE_NEWUSER && depth[i] == d)
          {
            join_user_namespace (owner_fds[i], &current_user);
            close (owner_fds[i]);
            if (setns (ns_fds[i], namespaces[i].type) < 0)
              {
                char what[64];
                snprintf (what, sizeof what, "joining the sandbox's %s namespace",
                          namespaces[i].name);
                die (what);
              }
            close (ns_fds[i]);
          }
  }
  if (ns_fds[USER_NS] >= 0)
    {
      join_user_namespace (ns_fds[USER_NS], &current_user);
      close (ns_fds[USER_NS]);
    }
  if (fchdir (root_fd) < 0 || chroot (".") < 0)
    die ("taking the sandbox's root");
  close (root_fd);
  if (chdir (cwd) < 0)
    {
      fprintf (stderr, "cbox enter: cannot go to %s inside the sandbox (%s); staying in /\n", cwd,
               strerror (errno));
      if (chdir ("/") < 0)
        die ("chdir /");
    }

  if (command[0] == NULL)
    {
      const char *shell = env_get (env, "SHELL");
      default_command[0] = (char *)(shell != NULL && shell[0] == '/' ? shell : "/bin/sh");
      command = default_command;
    }

  /* Signals sent to cbox enter go to the command; the terminal's reach it
   * directly (same process group). */
  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  for (size_t i = 0; i < N_FORWARDED; i++)
    sigaddset (&mask, forwarded_signals[i]);
  sigprocmask (SIG_BLOCK, &mask, &old_mask);

  /* The pid namespace applies to children only. */
  child = fork ();
  if (child < 0)
    die ("fork");
  if (child == 0)
    {
      extern char **environ;

      sigprocmask (SIG_SETMASK, &old_mask, NULL);
      prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      drop_privileges (uid, gid, allow_userns);
      environ = env;
      execvp (command[0], command);
      fprintf (stderr, "cbox enter: %s: %s\n", command[0], strerror (errno));
      _exit (errno == ENOENT ? 127 : 126);
    }

  for (;;)
    {
      siginfo_t info;
      int sig = sigwaitinfo (&mask, &info);

      if (sig < 0)
        continue;
      if (sig == SIGCHLD)
        {
          pid_t r = waitpid (child, &wstatus, WNOHANG);
          if (r == child)
            break;
          continue;
        }
      /* A terminal's ^C reached the command already. */
      if (info.si_code > 0)
        continue;
      kill (child, sig);
    }
  if (WIFEXITED (wstatus))
    return WEXITSTATUS (wstatus);
  if (WIFSIGNALED (wstatus))
    return 128 + WTERMSIG (wstatus);
  return EXIT_OWN;
}

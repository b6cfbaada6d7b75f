/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cbox-netkeep: keeps one project's network (a network namespace and the
 * slirp4netns that gives it its user-mode network) for the runs of that
 * project, and for a while after the last one (core/cbox-net.c, "the
 * project's network, shared").
 *
 *   cbox-netkeep LISTEN_FD LOCK SOCKET KEEP_S USERNS HELPER [ARG...]
 *
 * LISTEN_FD is the listening socket cbox bound at SOCKET (in a folder only
 * the user can enter); LOCK the file cbox holds while it connects or
 * replaces a keeper. USERNS is 1 for a caller that is not root: the
 * namespace then belongs to a user namespace of its own that maps only the
 * caller's uid and gid. HELPER and its ARGs are slirp4netns's command
 * line as cbox built it, with the namespace at fd 3, its user namespace at
 * fd 4, the readiness pipe at fd 5 and the exit pipe at fd 6.
 *
 * Each connection is one run: it gets 'N' with the namespaces' fds, then
 * 'R' once the helper is ready, or 'F' and the helper's last words. The
 * run keeps its connection open for as long as it lives. KEEP_S seconds
 * after the last connection closed, the keeper removes its socket (under
 * the lock, so that no run is between connecting and its answer) and ends
 * with the helper. When the helper dies, the keeper ends too: a run that
 * comes later makes a new one.
 *
 * Plain libc, single-threaded; started detached by cbox (its own session,
 * stdio on /dev/null), as the user who runs cbox.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define READY_TIMEOUT_MS 10000
/* A lock held by a run that is connecting: try again this soon. */
#define LOCK_RETRY_MS 50

static long long
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
write_file (const char *path, const char *text)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  ssize_t n;

  if (fd < 0)
    return -1;
  n = write (fd, text, strlen (text));
  close (fd);
  return n == (ssize_t)strlen (text) ? 0 : -1;
}

/* The child that makes the namespaces: a user namespace mapping only the
 * caller (unless root), a network namespace with its loopback up. It
 * says '1' on @ready_w and waits to be killed: the keeper holds the
 * namespaces by their fds from then on. */
static void
make_namespaces_child (int ready_w, int userns, uid_t uid, gid_t gid)
{
  struct ifreq ifr;
  char map[64];
  int sock;

  if (unshare (userns ? CLONE_NEWUSER | CLONE_NEWNET : CLONE_NEWNET) < 0)
    _exit (1);
  if (userns)
    {
      /* Only the caller's own ids: nothing of the host's other users or
       * of root exists in it. setgroups must be denied before an
       * unprivileged process may write its gid map. */
      snprintf (map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
      if (write_file ("/proc/self/uid_map", map) < 0
          || write_file ("/proc/self/setgroups", "deny") < 0)
        _exit (1);
      snprintf (map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
      if (write_file ("/proc/self/gid_map", map) < 0)
        _exit (1);
    }
  sock = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  memset (&ifr, 0, sizeof ifr);
  memcpy (ifr.ifr_name, "lo", 3);
  if (sock < 0 || ioctl (sock, SIOCGIFFLAGS, &ifr) < 0)
    _exit (1);
  ifr.ifr_flags |= IFF_UP;
  if (ioctl (sock, SIOCSIFFLAGS, &ifr) < 0)
    _exit (1);
  if (write (ready_w, "1", 1) != 1)
    _exit (1);
  for (;;)
    pause ();
}

/* Makes the namespaces; their fds in @netns_fd and @userns_fd (-1 when
 * root). */
static int
make_namespaces (int userns, int *netns_fd, int *userns_fd)
{
  int pipefd[2];
  char path[64], byte = 0;
  pid_t pid;
  ssize_t n;

  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    return -1;
  pid = fork ();
  if (pid < 0)
    return -1;
  if (pid == 0)
    {
      close (pipefd[0]);
      make_namespaces_child (pipefd[1], userns, getuid (), getgid ());
    }
  close (pipefd[1]);
  do
    n = read (pipefd[0], &byte, 1);
  while (n < 0 && errno == EINTR);
  close (pipefd[0]);
  *netns_fd = *userns_fd = -1;
  if (n == 1 && byte == '1')
    {
      snprintf (path, sizeof path, "/proc/%d/ns/net", (int)pid);
      *netns_fd = open (path, O_RDONLY | O_CLOEXEC);
      if (userns)
        {
          snprintf (path, sizeof path, "/proc/%d/ns/user", (int)pid);
          *userns_fd = open (path, O_RDONLY | O_CLOEXEC);
        }
    }
  kill (pid, SIGKILL);
  while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
    ;
  if (*netns_fd < 0 || (userns && *userns_fd < 0))
    return -1;
  return 0;
}

/* Moves @fd to @target in the helper's child (dup2, no close-on-exec). */
static void
place_fd (int fd, int target)
{
  if (fd < 0)
    return;
  if (fd == target)
    fcntl (fd, F_SETFD, 0);
  else if (dup2 (fd, target) < 0)
    _exit (127);
}

static pid_t
start_helper (char **argv, int netns_fd, int userns_fd, int ready_w, int exit_r, int log_fd)
{
  pid_t pid = fork ();

  if (pid != 0)
    return pid;
  {
    int high[4];
    int null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);

    /* Out of the way of 3 to 6 first, then into place. */
    high[0] = fcntl (netns_fd, F_DUPFD_CLOEXEC, 10);
    high[1] = userns_fd >= 0 ? fcntl (userns_fd, F_DUPFD_CLOEXEC, 10) : -1;
    high[2] = fcntl (ready_w, F_DUPFD_CLOEXEC, 10);
    high[3] = fcntl (exit_r, F_DUPFD_CLOEXEC, 10);
    if (null_fd < 0 || dup2 (null_fd, 0) < 0 || dup2 (log_fd, 1) < 0 || dup2 (log_fd, 2) < 0)
      _exit (127);
    for (int i = 0; i < 4; i++)
      place_fd (high[i], 3 + i);
    syscall (SYS_close_range, 7, ~0U, 0);
    signal (SIGPIPE, SIG_DFL);
    execv (argv[0], argv);
    _exit (127);
  }
}

/* Sends 'N' and the namespaces' fds on @conn. */
static int
send_namespaces (int conn, int netns_fd, int userns_fd)
{
  int fds[2] = { netns_fd, userns_fd };
  int n_fds = userns_fd >= 0 ? 2 : 1;
  char control[CMSG_SPACE (sizeof fds)];
  char byte = 'N';
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  struct msghdr msg = { .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control,
                        .msg_controllen = CMSG_SPACE (n_fds * sizeof (int)) };
  struct cmsghdr *cmsg;

  memset (control, 0, sizeof control);
  cmsg = CMSG_FIRSTHDR (&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN (n_fds * sizeof (int));
  memcpy (CMSG_DATA (cmsg), fds, n_fds * sizeof (int));
  return sendmsg (conn, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) == 1 ? 0 : -1;
}

static void
send_text (int conn, const char *text, size_t len)
{
  if (send (conn, text, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
    {
      /* A run that went away: its POLLHUP ends it. */
    }
}

/* The helper's last words (its log memfd), as one "F..." message. */
static size_t
failure_message (int log_fd, const char *what, char *buf, size_t size)
{
  off_t end = lseek (log_fd, 0, SEEK_END);
  size_t len = (size_t)snprintf (buf, size, "F%s", what);
  off_t start;
  ssize_t n;

  if (end <= 0 || len + 2 >= size)
    return len;
  start = end > (off_t)(size - len - 3) ? end - (off_t)(size - len - 3) : 0;
  memcpy (buf + len, ": ", 2);
  len += 2;
  n = pread (log_fd, buf + len, size - len - 1, start);
  if (n > 0)
    len += (size_t)n;
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
    len--;
  return len;
}

/* Removes the socket at @path if it is still the one this keeper was
 * given (inode @ino): a run that took this keeper for dead (no answer in
 * time) put a new keeper's socket there, which stays. Called with the
 * lock held, when nobody replaces it meanwhile. */
static void
remove_own_socket (const char *path, ino_t ino)
{
  struct stat st;

  if (lstat (path, &st) == 0 && S_ISSOCK (st.st_mode) && st.st_ino == ino)
    unlink (path);
}

/* The helper cannot serve: every run connected, and every one waiting in
 * the listening socket's queue, is told why; then the keeper ends. */
static void
fail_all (int listen_fd, int *conns, int n_conns, const char *failure, size_t failure_len)
{
  int conn;

  for (int c = 0; c < n_conns; c++)
    {
      send_text (conns[c], failure, failure_len);
      close (conns[c]);
    }
  if (listen_fd < 0)
    return;
  fcntl (listen_fd, F_SETFL, O_NONBLOCK);
  while ((conn = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
    {
      send_text (conn, failure, failure_len);
      close (conn);
    }
}

int
main (int argc, char **argv)
{
  static int conns[MAX_CONNS];
  int n_conns = 0;
  int listen_fd, lock_fd, keep_s, userns;
  const char *socket_path;
  ino_t socket_ino;
  int netns_fd = -1, userns_fd = -1;
  int ready_pipe[2] = { -1, -1 }, exit_pipe[2] = { -1, -1 }, log_fd = -1;
  int helper_pidfd;
  pid_t helper;
  int ready = 0; /* 1 ready, -1 failed */
  char failure[1200];
  size_t failure_len = 0;
  long long ready_deadline, keep_deadline = -1;

  if (argc < 7)
    {
      fprintf (stderr, "usage: cbox-netkeep LISTEN_FD LOCK SOCKET KEEP_S USERNS HELPER [ARG...]\n");
      return 2;
    }
  listen_fd = atoi (argv[1]);
  socket_path = argv[3];
  keep_s = atoi (argv[4]);
  userns = atoi (argv[5]) != 0;
  if (fcntl (listen_fd, F_SETFD, FD_CLOEXEC) < 0 || keep_s < 0)
    return 2;
  lock_fd = open (argv[2], O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (lock_fd < 0)
    return 1;
  /* cbox bound the socket there just before, holding the lock. */
  {
    struct stat st;

    if (lstat (socket_path, &st) < 0)
      return 1;
    socket_ino = st.st_ino;
  }

  /* A ^C in the terminal of the run that started it, or that terminal
   * closing, is not the end of the project's other runs. */
  signal (SIGPIPE, SIG_IGN);
  signal (SIGHUP, SIG_IGN);
  signal (SIGINT, SIG_IGN);
  signal (SIGQUIT, SIG_IGN);

  if (make_namespaces (userns, &netns_fd, &userns_fd) < 0)
    {
      failure_len = (size_t)snprintf (failure, sizeof failure,
                                      "Fcannot make the network namespace: %s", strerror (errno));
      ready = -1;
    }
  if (ready == 0
      && (pipe2 (ready_pipe, O_CLOEXEC) < 0 || pipe2 (exit_pipe, O_CLOEXEC) < 0
          || (log_fd = memfd_create ("cbox-netkeep-log", MFD_CLOEXEC)) < 0))
    {
      failure_len = (size_t)snprintf (failure, sizeof failure, "Fpipe: %s", strerror (errno));
      ready = -1;
    }
  helper = -1;
  helper_pidfd = -1;
  if (ready == 0)
    {
      helper = start_helper (argv + 6, netns_fd, userns_fd, ready_pipe[1], exit_pipe[0], log_fd);
      close (ready_pipe[1]);
      close (exit_pipe[0]);
      if (helper > 0)
        helper_pidfd = (int)syscall (SYS_pidfd_open, helper, 0);
      if (helper < 0 || helper_pidfd < 0)
        {
          failure_len = (size_t)snprintf (failure, sizeof failure, "Fcannot start %s: %s", argv[6],
                                          strerror (errno));
          ready = -1;
        }
    }
  ready_deadline = now_ms () + READY_TIMEOUT_MS;

  for (;;)
    {
      struct pollfd pfds[3 + MAX_CONNS];
      int n = 0, i_listen = -1, i_ready = -1, i_helper = -1;
      long long now = now_ms ();
      long long wake = -1;

      if (ready < 0)
        {
          fail_all (listen_fd, conns, n_conns, failure, failure_len);
          if (flock (lock_fd, LOCK_EX | LOCK_NB) == 0)
            remove_own_socket (socket_path, socket_ino);
          break;
        }
      if (n_conns == 0 && ready > 0 && keep_deadline < 0)
        keep_deadline = now + (long long)keep_s * 1000;
      if (keep_deadline >= 0 && now >= keep_deadline)
        {
          /* Nobody connects while cbox holds the lock: taken, the socket
           * goes, and a run that comes now makes a new keeper. */
          if (flock (lock_fd, LOCK_EX | LOCK_NB) == 0)
            {
              remove_own_socket (socket_path, socket_ino);
              close (listen_fd);
              listen_fd = -1;
              break;
            }
          keep_deadline = now + LOCK_RETRY_MS;
        }
      if (listen_fd >= 0)
        {
          i_listen = n;
          pfds[n++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
        }
      if (ready == 0)
        {
          i_ready = n;
          pfds[n++] = (struct pollfd){ .fd = ready_pipe[0], .events = POLLIN };
          wake = ready_deadline;
        }
      if (helper_pidfd >= 0)
        {
          i_helper = n;
          pfds[n++] = (struct pollfd){ .fd = helper_pidfd, .events = POLLIN };
        }
      for (int c = 0; c < n_conns; c++)
        pfds[n++] = (struct pollfd){ .fd = conns[c], .events = POLLIN };
      if (keep_deadline >= 0 && (wake < 0 || keep_deadline < wake))
        wake = keep_deadline;

      if (poll (pfds, (nfds_t)n, wake < 0 ? -1 : (int)(wake > now ? wake - now : 0)) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }

      if (i_ready >= 0 && (pfds[i_ready].revents || now_ms () >= ready_deadline))
        {
          char byte = 0;
          ssize_t got = pfds[i_ready].revents ? read (ready_pipe[0], &byte, 1) : -1;

          if (got == 1 && byte == '1')
            ready = 1;
          else
            {
              failure_len = failure_message (
                  log_fd, got < 0 ? "slirp4netns was not ready in time" : "slirp4netns failed",
                  failure, sizeof failure);
              ready = -1;
              continue;
            }
          for (int c = 0; c < n_conns; c++)
            send_text (conns[c], "R", 1);
        }
      if (i_helper >= 0 && pfds[i_helper].revents)
        {
          /* The helper died: the runs that use it have lost their
           * network; none may join it. The socket goes if cbox is not
           * between a connect and its answer (then that run finds the
           * socket dead and replaces it). */
          if (ready == 0)
            {
              failure_len = failure_message (log_fd, "slirp4netns failed", failure, sizeof failure);
              ready = -1;
              continue;
            }
          if (flock (lock_fd, LOCK_EX | LOCK_NB) == 0)
            remove_own_socket (socket_path, socket_ino);
          break;
        }
      /* The connections' entries were the last n_conns of pfds; the base is
       * taken before any is removed (a removal moves the last one down). */
      for (int c = n_conns, base = n - n_conns; c-- > 0;)
        {
          short revents = pfds[base + c].revents;
          char buf[64];

          if (!revents)
            continue;
          /* A run sends nothing: readable means it ended. */
          if ((revents & POLLIN) && recv (conns[c], buf, sizeof buf, MSG_DONTWAIT) > 0)
            continue;
          close (conns[c]);
          conns[c] = conns[--n_conns];
        }
      if (i_listen >= 0 && (pfds[i_listen].revents & POLLIN))
        {
          int conn = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
          struct ucred cred;
          socklen_t cred_len = sizeof cred;

          if (conn < 0)
            continue;
          /* The folder is the user's alone; the peer's uid is checked all
           * the same: the namespaces are nobody else's to join. */
          if (n_conns >= MAX_CONNS
              || getsockopt (conn, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0
              || (cred.uid != getuid () && cred.uid != 0)
              || send_namespaces (conn, netns_fd, userns_fd) < 0)
            {
              close (conn);
              continue;
            }
          if (ready > 0)
            send_text (conn, "R", 1);
          conns[n_conns++] = conn;
          keep_deadline = -1;
        }
    }

  /* The helper goes with the keeper: its exit pipe closes, and it is
   * killed for good measure. */
  if (helper > 0)
    kill (helper, SIGKILL);
  return 0;
}

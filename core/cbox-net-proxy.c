/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The network allowlist's proxy for a run (--network=allow:LIST and
 * deny:LIST), for every backend whose sandbox has a network namespace of
 * its own (bwrap, nspawn).
 *
 * The sandbox's namespace keeps only its loopback, as with
 * --network=off: no route, no DNS, nothing to reach but what listens
 * inside. cbox makes one listening socket there, 127.0.0.1:3128
 * (CBOX_NET_PROXY_PORT): a forked child enters the namespace (its user
 * namespace first when cbox is not root: setns() into a network namespace
 * needs privileges over its owner), makes the socket, hands it back over
 * a unix socket pair and exits. A socket belongs to the namespace it was
 * made in for good, so the proxy (cbox-netproxy, libexec), started on the
 * host with that socket, accepts the sandbox's connections on the
 * sandbox's own loopback and connects out from the host's namespace.
 *
 * Why not a unix socket bound into the sandbox and a relay inside
 * (Anthropic's sandbox-runtime does that): the relay would be a process
 * inside, which the command can kill or replace, on every backend a
 * different way (a bind mount of the socket, socat in the sandbox's PATH);
 * the socket made inside needs neither and works the same for bwrap and
 * nspawn. Nothing else of the namespace is touched: no interface, no
 * route, no address.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cbox-private.h"

/* How long the proxy may take to start (exec and its rules). */
#define CBOX_NET_PROXY_READY_TIMEOUT_MS 10000

#define CBOX_NET_PROXY_PROGRAM "cbox-netproxy"

struct _CboxNetProxy
{
  pid_t pid;
  int ready_r; /* the proxy writes "1" once it accepts */
  int exit_w;  /* closed by cbox: the proxy's signal to stop */
  gboolean ready;
};

static char *
cbox_net_proxy_path (void)
{
  /* Which program decides on the sandbox's connections is
   * security-relevant: under AT_SECURE the environment cannot change it. */
  const char *dir = secure_getenv ("CBOX_LIBEXEC_DIR");

  return g_build_filename (dir != NULL && dir[0] == '/' ? dir : CBOX_LIBEXEC_DIR,
                           CBOX_NET_PROXY_PROGRAM, NULL);
}

gboolean
cbox_net_proxy_check (GError **error)
{
  g_autofree char *path = cbox_net_proxy_path ();

  if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
    return TRUE;
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
               "--network=allow/deny: the proxy %s is missing (is cbox installed completely?); "
               "the command did not start",
               path);
  return FALSE;
}

static void
cbox_net_proxy_stop (CboxNetProxy *proxy)
{
  if (proxy == NULL)
    return;
  if (proxy->exit_w >= 0)
    {
      close (proxy->exit_w);
      proxy->exit_w = -1;
    }
  /* Nothing of the proxy's is worth waiting for (the log is written
   * line by line). */
  cbox_run_end_helper (&proxy->pid);
}

static void
cbox_net_proxy_free (CboxNetProxy *proxy)
{
  if (proxy == NULL)
    return;
  cbox_net_proxy_stop (proxy);
  if (proxy->ready_r >= 0)
    close (proxy->ready_r);
  g_free (proxy);
}

static gboolean
cbox_net_proxy_errno (const char *what, GError **error)
{
  int saved_errno = errno;

  g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "network proxy: %s: %s", what,
               g_strerror (saved_errno));
  return FALSE;
}

/* In the forked child: only async-signal-safe calls. Enters the
 * namespace, makes the listening socket and sends it on @channel; on
 * failure sends the step and errno instead. */
G_GNUC_NORETURN static void
cbox_net_proxy_listen_child (int channel, int userns_fd, int netns_fd)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (CBOX_NET_PROXY_PORT) };
  int report[2] = { 0, 0 };
  int one = 1;
  int fd;

  prctl (PR_SET_PDEATHSIG, SIGKILL);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (userns_fd >= 0 && setns (userns_fd, CLONE_NEWUSER) < 0)
    report[0] = 1;
  else if (setns (netns_fd, CLONE_NEWNET) < 0)
    report[0] = 2;
  else if ((fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
    report[0] = 3;
  else if (setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
           || bind (fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    report[0] = 4;
  else if (listen (fd, 128) < 0)
    report[0] = 5;
  else
    {
      char control[CMSG_SPACE (sizeof (int))];
      struct iovec iov = { .iov_base = report, .iov_len = sizeof report };
      struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control
      };
      struct cmsghdr *cmsg = CMSG_FIRSTHDR (&msg);

      memset (control, 0, sizeof control);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (cmsg), &fd, sizeof (int));
      _exit (sendmsg (channel, &msg, MSG_NOSIGNAL) < 0 ? 1 : 0);
    }
  report[1] = errno;
  _exit (send (channel, report, sizeof report, MSG_NOSIGNAL) < 0 ? 1 : 1);
}

/* The listening socket on 127.0.0.1:CBOX_NET_PROXY_PORT inside the network
 * namespace @netns_fd, or -1 with @error. */
static int
cbox_net_proxy_listen_in (int netns_fd, GError **error)
{
  static const char *const steps[] = { "",
                                       "entering the sandbox's user namespace",
                                       "entering the sandbox's network namespace",
                                       "socket",
                                       "binding 127.0.0.1:" G_STRINGIFY (CBOX_NET_PROXY_PORT),
                                       "listen" };
  cbox_autofd int userns_fd = -1;
  int channel[2];
  int report[2] = { 0, 0 };
  char control[CMSG_SPACE (sizeof (int))];
  struct iovec iov = { .iov_base = report, .iov_len = sizeof report };
  struct msghdr msg = {
    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control
  };
  struct cmsghdr *cmsg;
  struct stat ours, theirs;
  ssize_t n;
  pid_t pid;
  int fd = -1;

  /* The owner of the network namespace (bwrap may have made a second user
   * namespace inside it); not needed when it is cbox's own. */
  userns_fd = ioctl (netns_fd, NS_GET_USERNS);
  if (userns_fd < 0 && errno != EPERM)
    {
      cbox_net_proxy_errno ("the network namespace's owner", error);
      return -1;
    }
  if (userns_fd >= 0 && stat ("/proc/self/ns/user", &ours) == 0 && fstat (userns_fd, &theirs) == 0
      && ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino)
    {
      close (userns_fd);
      userns_fd = -1;
    }
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) < 0)
    {
      cbox_net_proxy_errno ("socketpair", error);
      return -1;
    }
  pid = fork ();
  if (pid == 0)
    {
      close (channel[0]);
      cbox_net_proxy_listen_child (channel[1], userns_fd, netns_fd);
    }
  close (channel[1]);
  if (pid < 0)
    {
      close (channel[0]);
      cbox_net_proxy_errno ("fork", error);
      return -1;
    }
  memset (control, 0, sizeof control);
  do
    n = recvmsg (channel[0], &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  close (channel[0]);
  while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
    ;
  for (cmsg = n > 0 ? CMSG_FIRSTHDR (&msg) : NULL; cmsg != NULL; cmsg = CMSG_NXTHDR (&msg, cmsg))
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
      memcpy (&fd, CMSG_DATA (cmsg), sizeof (int));
  if (fd >= 0)
    return fd;
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
               "network proxy: cannot listen inside the sandbox: %s: %s; the command did not "
               "start",
               n == (ssize_t)sizeof report && report[0] > 0 && report[0] < 6 ? steps[report[0]]
                                                                             : "the child failed",
               g_strerror (n == (ssize_t)sizeof report ? report[1] : EIO));
  return -1;
}

/* The log file in the project's state, opened for appending (owned by the
 * user when cbox runs as root on their behalf); -1 when there is none. */
static int
cbox_net_proxy_open_log (CboxPlan *plan, uid_t uid, gid_t gid)
{
  const char *path = cbox_plan_get_network_log (plan);
  int fd;

  if (path == NULL)
    return -1;
  fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
  if (fd < 0)
    {
      /* Denials still go to stderr; a read-only state is not a reason to
       * refuse the run. */
      int saved_errno = errno;
      g_printerr ("cbox: warning: the network log %s cannot be opened (%s); denied "
                  "connections are shown here only\n",
                  path, g_strerror (saved_errno));
      return -1;
    }
  if (uid != 0 && fchown (fd, uid, gid) < 0)
    {
    }
  return fd;
}

CboxNetProxy *
cbox_net_proxy_start (CboxPlan *plan, int netns_fd, uid_t uid, gid_t gid, GError **error)
{
  cbox_autofd int listen_fd = -1;

  g_return_val_if_fail (plan != NULL, NULL);
  g_return_val_if_fail (netns_fd >= 0, NULL);

  listen_fd = cbox_net_proxy_listen_in (netns_fd, error);
  if (listen_fd < 0)
    return NULL;
  return cbox_net_proxy_start_on (plan, listen_fd, uid, gid, error);
}

CboxNetProxy *
cbox_net_proxy_start_on (CboxPlan *plan, int listen_fd, uid_t uid, gid_t gid, GError **error)
{
  CboxNetProxy *proxy;
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *path = cbox_net_proxy_path ();
  g_autofree char *allow = NULL;
  g_autofree char *deny = NULL;
  cbox_autofd int log_fd = -1;
  CboxNetworkMode mode;
  int ready_pipe[2], exit_pipe[2];
  int keep[4];
  guint n_keep = 0;

  g_return_val_if_fail (plan != NULL, NULL);
  g_return_val_if_fail (listen_fd >= 0, NULL);
  mode = cbox_plan_get_network_mode (plan);
  g_return_val_if_fail (cbox_network_mode_uses_proxy (mode), NULL);

  proxy = g_new0 (CboxNetProxy, 1);
  proxy->ready_r = proxy->exit_w = -1;
  /* Owned by the plan: its cleanups stop the proxy after the sandbox, on
   * every path. */
  cbox_plan_add_cleanup (plan, (CboxCleanupFunc)cbox_net_proxy_stop, proxy,
                         (GDestroyNotify)cbox_net_proxy_free);

  log_fd = cbox_net_proxy_open_log (plan, uid, gid);
  if (pipe2 (ready_pipe, O_CLOEXEC) < 0)
    {
      cbox_net_proxy_errno ("pipe", error);
      return NULL;
    }
  proxy->ready_r = ready_pipe[0];
  if (pipe2 (exit_pipe, O_CLOEXEC) < 0)
    {
      close (ready_pipe[1]);
      cbox_net_proxy_errno ("pipe", error);
      return NULL;
    }
  proxy->exit_w = exit_pipe[1];

  allow = g_strjoinv (",", (char **)cbox_plan_get_network_allow (plan));
  deny = g_strjoinv (",", (char **)cbox_plan_get_network_deny (plan));
  g_ptr_array_add (argv, g_strdup (path));
  g_ptr_array_add (argv, g_strdup_printf ("--mode=%s", cbox_network_mode_to_string (mode)));
  g_ptr_array_add (argv, g_strdup_printf ("--listen-fd=%d", listen_fd));
  g_ptr_array_add (argv, g_strdup_printf ("--ready-fd=%d", ready_pipe[1]));
  g_ptr_array_add (argv, g_strdup_printf ("--exit-fd=%d", exit_pipe[0]));
  keep[n_keep++] = listen_fd;
  keep[n_keep++] = ready_pipe[1];
  keep[n_keep++] = exit_pipe[0];
  if (log_fd >= 0)
    {
      g_ptr_array_add (argv, g_strdup_printf ("--log-fd=%d", log_fd));
      keep[n_keep++] = log_fd;
    }
  if (allow[0] != '\0')
    g_ptr_array_add (argv, g_strdup_printf ("--allow=%s", allow));
  if (deny[0] != '\0')
    g_ptr_array_add (argv, g_strdup_printf ("--deny=%s", deny));
  g_ptr_array_add (argv, NULL);

  /* Its stderr is cbox's: a denied connection is seen as it happens. */
  proxy->pid
      = cbox_run_spawn_helper ("network proxy " CBOX_NET_PROXY_PROGRAM,
                               (const char *const *)argv->pdata, keep, n_keep, uid, gid, -1, error);
  close (ready_pipe[1]);
  close (exit_pipe[0]);
  if (proxy->pid < 0)
    {
      proxy->pid = 0;
      return NULL;
    }
  return proxy;
}

gboolean
cbox_net_proxy_wait_ready (CboxNetProxy *proxy, GError **error)
{
  gint64 deadline;
  char byte = 0;
  ssize_t n = -1;

  g_return_val_if_fail (proxy != NULL, FALSE);
  if (proxy->ready)
    return TRUE;
  deadline = g_get_monotonic_time () / 1000 + CBOX_NET_PROXY_READY_TIMEOUT_MS;
  n = cbox_read_by (proxy->ready_r, &byte, 1, deadline);
  if (n == 1 && byte == '1')
    {
      proxy->ready = TRUE;
      return TRUE;
    }
  cbox_net_proxy_stop (proxy);
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
               "the network proxy " CBOX_NET_PROXY_PROGRAM " %s (its message is above); the "
               "command did not start",
               n < 0 ? "was not ready in time" : "failed");
  return FALSE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The network helper: gives a network namespace of the sandbox's own
 * (CBOX_NETWORK_OWN) its user-mode network, for every backend that makes
 * such a namespace (bwrap, nspawn). One host process per run,
 * slirp4netns, attached to the namespace once it exists, ended with the
 * plan's cleanups.
 *
 * Why a namespace of its own: sharing the host's (what --network=on did
 * before, and what flatpak's --share=network does) puts every service on
 * the host's loopback and every abstract unix socket within reach of the
 * command: an X server that trusts local users, a session bus on an
 * abstract address (which bypasses the D-Bus filter), dev servers,
 * databases, a Docker API. A namespace of its own has neither: abstract
 * sockets belong to the network namespace, and the helper is told never
 * to map an address inside to the host's loopback.
 *
 * Why slirp4netns and not pasta: pasta (Debian 12's 2023-03 snapshot),
 * started as root, switches to nobody before it opens the namespace and
 * then cannot enter it (podman attaches it to a namespace mounted under
 * /run/netns, which cbox would have to create and clean up); slirp4netns
 * runs as the user who owns the sandbox, root included, and reports
 * readiness and stops on descriptors. Measured in docs/benchmarks.md.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cbox-private.h"

/* How long the helper may take to configure the namespace. */
#define CBOX_NET_READY_TIMEOUT_MS 10000

#define CBOX_NET_HELPER "slirp4netns"

struct _CboxNetHelper
{
  pid_t pid;
  int ready_r; /* the helper writes "1" once the namespace has its network */
  int exit_w;  /* closed by cbox: the helper's signal to stop */
  int log_fd;  /* a memfd with the helper's stdout and stderr */
  gboolean ready;
  /* Published ports: the helper's API socket, in a folder of its own
   * (mode 0700, the helper's user's), both removed once the ports are
   * added, so nobody can ask the helper for more later. */
  CboxPlan *plan;
  char *api_dir;
  char *api_socket;
};

gboolean
cbox_net_parse_publish (const char *text, guint16 *ret_host_port, guint16 *ret_sandbox_port,
                        GError **error)
{
  g_auto (GStrv) parts = g_strsplit (text, ":", -1);
  guint n = g_strv_length (parts);
  guint16 ports[2] = { 0, 0 };

  for (guint i = 0; i < n && n <= 2; i++)
    {
      guint64 value = 0;

      /* Decimal digits only: no sign, no space, no "0x", no address
       * (the host side is always 127.0.0.1). */
      if (parts[i][0] == '\0' || strspn (parts[i], "0123456789") != strlen (parts[i])
          || strlen (parts[i]) > 5)
        break;
      value = g_ascii_strtoull (parts[i], NULL, 10);
      if (value == 0 || value > 65535)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "'%s': port %s is not a port (use 1 to 65535)", text, parts[i]);
          return FALSE;
        }
      ports[i] = (guint16)value;
    }
  if (ports[0] == 0 || (n == 2 && ports[1] == 0) || n > 2)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "'%s' is not a published port: write HOSTPORT or HOSTPORT:SANDBOXPORT, "
                   "ports 1 to 65535 (8080 or 8080:3000); the host side is always 127.0.0.1",
                   text);
      return FALSE;
    }
  *ret_host_port = ports[0];
  *ret_sandbox_port = n == 2 ? ports[1] : ports[0];
  return TRUE;
}

gboolean
cbox_net_helper_check (GError **error)
{
  g_autofree char *path = g_find_program_in_path (CBOX_NET_HELPER);

  if (path != NULL)
    return TRUE;
  /* Fail closed: never fall back to the host's network namespace. */
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
               "--network=on gives the sandbox a network of its own through " CBOX_NET_HELPER
               ", which is not installed (apt install " CBOX_NET_HELPER "); or run with "
               "--network=off (no network) or --network=host (the host's network, its "
               "localhost services and abstract sockets included)");
  return FALSE;
}

/* The helper's messages, for an error. */
static char *
cbox_net_helper_log (CboxNetHelper *helper)
{
  g_autoptr (GBytes) bytes = NULL;
  const char *data;
  gsize len;

  if (helper->log_fd < 0 || (bytes = cbox_memfd_read (helper->log_fd, NULL)) == NULL)
    return g_strdup ("");
  data = g_bytes_get_data (bytes, &len);
  /* The last lines say what failed. */
  if (len > 1000)
    {
      data += len - 1000;
      len = 1000;
    }
  return g_strstrip (g_strndup (data, len));
}

int
cbox_net_landlock_abi (void)
{
  /* LANDLOCK_CREATE_RULESET_VERSION (1 << 0) */
  long abi = syscall (SYS_landlock_create_ruleset, NULL, 0, 1u << 0);

  return abi > 0 ? (int)abi : 0;
}

gboolean
cbox_net_plan_publish (CboxPlan *plan, const CboxPublishedPort *ports, guint n_ports,
                       GError **error)
{
  if (n_ports == 0)
    return TRUE;
  switch (cbox_plan_get_network_mode (plan))
    {
    case CBOX_NETWORK_OWN:
      break;
    case CBOX_NETWORK_HOST:
      /* Refused, not ignored: with the host's network a server inside
       * listens on the host itself, on the address it chose (often every
       * address, where --publish promises 127.0.0.1 only). */
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "--publish=%u: with --network=host the sandbox shares the host's network, so "
                   "a server inside already listens on the host itself (on the address it "
                   "binds); drop --publish, or use --network=on to publish on 127.0.0.1 only",
                   ports[0].host_port);
      return FALSE;
    default:
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "--publish=%u: the sandbox has no network with --network=%s, so nothing "
                   "can be published; use --network=on",
                   ports[0].host_port,
                   cbox_network_mode_to_string (cbox_plan_get_network_mode (plan)));
      return FALSE;
    }
  for (guint i = 0; i < n_ports; i++)
    if (!cbox_plan_add_published_port (plan, ports[i].host_port, ports[i].sandbox_port, error))
      return FALSE;
  return TRUE;
}

static void
cbox_net_helper_remove_api (CboxNetHelper *helper)
{
  if (helper->api_socket != NULL)
    {
      unlink (helper->api_socket);
      g_clear_pointer (&helper->api_socket, g_free);
    }
  if (helper->api_dir != NULL)
    {
      rmdir (helper->api_dir);
      g_clear_pointer (&helper->api_dir, g_free);
    }
}

static void
cbox_net_helper_stop (CboxNetHelper *helper)
{
  if (helper == NULL)
    return;
  cbox_net_helper_remove_api (helper);
  if (helper->exit_w >= 0)
    {
      close (helper->exit_w);
      helper->exit_w = -1;
    }
  /* A SIGKILL ends it at once, where waiting for it to notice its exit
   * descriptor would hold up cbox's exit. (The exit descriptor is for
   * cbox's own death.) */
  cbox_run_end_helper (&helper->pid);
}

static void
cbox_net_helper_free (CboxNetHelper *helper)
{
  if (helper == NULL)
    return;
  cbox_net_helper_stop (helper);
  if (helper->ready_r >= 0)
    close (helper->ready_r);
  if (helper->log_fd >= 0)
    close (helper->log_fd);
  g_free (helper);
}

static gboolean
cbox_net_errno (const char *what, GError **error)
{
  int saved_errno = errno;

  g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "network helper: %s: %s", what,
               g_strerror (saved_errno));
  return FALSE;
}

/* TRUE when @ns_fd is the user namespace cbox itself is in. */
static gboolean
cbox_net_is_own_userns (int ns_fd)
{
  struct stat ours, theirs;

  return stat ("/proc/self/ns/user", &ours) == 0 && fstat (ns_fd, &theirs) == 0
         && ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino;
}

/* With published ports: the helper's API socket (--api-socket), in a
 * fresh folder only the helper's user can enter. */
static gboolean
cbox_net_helper_add_api (CboxNetHelper *helper, GPtrArray *argv, uid_t uid, gid_t gid,
                         GError **error)
{
  g_autofree char *template = NULL;
  guint n_ports = 0;

  cbox_plan_get_published_ports (helper->plan, &n_ports);
  if (n_ports == 0)
    return TRUE;
  template = g_build_filename (g_get_tmp_dir (), "cbox-net-XXXXXX", NULL);
  helper->api_dir = g_mkdtemp_full (template, 0700);
  if (helper->api_dir == NULL)
    return cbox_net_errno (template, error);
  g_steal_pointer (&template);
  if (uid != 0 && chown (helper->api_dir, uid, gid) < 0)
    return cbox_net_errno (helper->api_dir, error);
  helper->api_socket = g_build_filename (helper->api_dir, "api.sock", NULL);
  if (strlen (helper->api_socket) >= sizeof (((struct sockaddr_un *)NULL)->sun_path))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                   "network helper: the socket path %s is too long (set TMPDIR to a shorter "
                   "folder)",
                   helper->api_socket);
      return FALSE;
    }
  g_ptr_array_add (argv, g_strconcat ("--api-socket=", helper->api_socket, NULL));
  return TRUE;
}

/* One request to the helper's API (one connection each: it answers and
 * closes); its answer, or NULL with @error. */
static char *
cbox_net_helper_request (CboxNetHelper *helper, const char *request, gint64 deadline_ms,
                         GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cbox_autofd int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  GString *reply = g_string_new (NULL);

  g_strlcpy (addr.sun_path, helper->api_socket, sizeof addr.sun_path);
  if (fd < 0 || connect (fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    {
      g_string_free (reply, TRUE);
      cbox_net_errno ("its API socket", error);
      return NULL;
    }
  /* The helper reads a request in a single read(): one write. */
  if (write (fd, request, strlen (request)) != (ssize_t)strlen (request))
    {
      g_string_free (reply, TRUE);
      cbox_net_errno ("its API socket", error);
      return NULL;
    }
  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      gint64 left = deadline_ms - g_get_monotonic_time () / 1000;
      char buf[512];
      ssize_t n;

      if (left <= 0 || (poll (&pfd, 1, (int)left) < 0 && errno != EINTR))
        {
          g_string_free (reply, TRUE);
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                       "network helper: no answer on its API socket in time");
          return NULL;
        }
      n = read (fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0 || reply->len > 4096)
        break;
      g_string_append_len (reply, buf, n);
    }
  return g_string_free (reply, FALSE);
}

/* Why the host's 127.0.0.1:@port cannot be bound, in words, when cbox
 * can tell (it is in use, or below the unprivileged port start). */
static char *
cbox_net_port_problem (guint16 port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (port) };
  cbox_autofd int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd < 0)
    return g_strdup ("");
  if (bind (fd, (struct sockaddr *)&addr, sizeof addr) == 0)
    return g_strdup ("");
  if (errno == EADDRINUSE)
    return g_strdup_printf (": port %u is already in use on the host (pick another host port: "
                            "--publish=OTHER:%u)",
                            port, port);
  if (errno == EACCES)
    return g_strdup_printf (": ports below 1024 need privileges on the host (pick a host port "
                            "of 1024 or more)");
  return g_strdup_printf (": %s", g_strerror (errno));
}

/* Asks the helper to publish the plan's ports on the host's 127.0.0.1,
 * then removes its API socket. */
static gboolean
cbox_net_helper_publish (CboxNetHelper *helper, gint64 deadline_ms, GError **error)
{
  guint n_ports = 0;
  const CboxPublishedPort *ports = cbox_plan_get_published_ports (helper->plan, &n_ports);

  for (guint i = 0; i < n_ports; i++)
    {
      /* host_addr 127.0.0.1: the port is bound on the host's loopback
       * only (the helper's default would be 0.0.0.0, every address the
       * host has: the LAN). No guest_addr: the sandbox's own address. */
      g_autofree char *request = g_strdup_printf (
          "{\"execute\":\"add_hostfwd\",\"arguments\":{\"proto\":\"tcp\",\"host_addr\":"
          "\"127.0.0.1\",\"host_port\":%u,\"guest_port\":%u}}",
          ports[i].host_port, ports[i].sandbox_port);
      g_autofree char *reply = cbox_net_helper_request (helper, request, deadline_ms, error);

      if (reply == NULL)
        return FALSE;
      if (strstr (reply, "\"return\"") == NULL)
        {
          g_autofree char *problem = cbox_net_port_problem (ports[i].host_port);
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                       "--publish=%u:%u: the host's 127.0.0.1:%u could not be published%s "
                       "(the helper said: %s); the command did not start",
                       ports[i].host_port, ports[i].sandbox_port, ports[i].host_port, problem,
                       g_strstrip (reply));
          return FALSE;
        }
    }
  cbox_net_helper_remove_api (helper);
  return TRUE;
}

CboxNetHelper *
cbox_net_helper_start (CboxPlan *plan, int netns_fd, uid_t uid, gid_t gid, GError **error)
{
  CboxNetHelper *helper;
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  cbox_autofd int userns_fd = -1;
  int ready_pipe[2], exit_pipe[2];
  int keep[4];
  guint n_keep = 0;

  g_return_val_if_fail (plan != NULL, NULL);
  g_return_val_if_fail (netns_fd >= 0, NULL);

  helper = g_new0 (CboxNetHelper, 1);
  helper->ready_r = helper->exit_w = helper->log_fd = -1;
  helper->plan = plan;
  /* Owned by the plan from here on: its cleanups stop the helper after the
   * sandbox, on every path. */
  cbox_plan_add_cleanup (plan, (CboxCleanupFunc)cbox_net_helper_stop, helper,
                         (GDestroyNotify)cbox_net_helper_free);

  /* The user namespace that owns the network namespace: entering the
   * network namespace needs its privileges. bwrap may have made a second
   * user namespace inside it (--disable-userns), so the sandbox's own
   * /proc/PID/ns/user would be the wrong one. */
  userns_fd = ioctl (netns_fd, NS_GET_USERNS);
  if (userns_fd < 0 && errno != EPERM)
    {
      cbox_net_errno ("the network namespace's owner", error);
      return NULL;
    }
  if (userns_fd >= 0 && cbox_net_is_own_userns (userns_fd))
    {
      close (userns_fd);
      userns_fd = -1;
    }
  if (fcntl (netns_fd, F_GETFD) < 0)
    {
      cbox_net_errno ("the network namespace", error);
      return NULL;
    }

  if (pipe2 (ready_pipe, O_CLOEXEC) < 0)
    {
      cbox_net_errno ("pipe", error);
      return NULL;
    }
  helper->ready_r = ready_pipe[0];
  if (pipe2 (exit_pipe, O_CLOEXEC) < 0)
    {
      close (ready_pipe[1]);
      cbox_net_errno ("pipe", error);
      return NULL;
    }
  helper->exit_w = exit_pipe[1];
  helper->log_fd = memfd_create ("cbox-net-log", MFD_CLOEXEC);

  g_ptr_array_add (argv, g_strdup (CBOX_NET_HELPER));
  /* --disable-host-loopback: 10.0.2.2 (the gateway) is never the host's
   * 127.0.0.1. No --enable-ipv6: with it the helper would need the same
   * promise for ::1, which this version does not make in writing; IPv6
   * stays off inside. DNS goes to CBOX_NET_DNS_ADDRESS, which the helper
   * forwards to the host's resolver (that one may be on the host's
   * loopback: only port 53 of the resolvers the host lists, not a way to
   * the rest). */
  g_ptr_array_add (argv, g_strdup ("--configure"));
  g_ptr_array_add (argv, g_strdup ("--mtu=65520"));
  g_ptr_array_add (argv, g_strdup ("--disable-host-loopback"));
  /* The helper parses every packet the sandbox sends (libslirp has had
   * memory-safety bugs): its own seccomp filter always, and, when it runs
   * as root (nspawn, a root run), its sandbox too (an empty root of its
   * own, every capability dropped but CAP_NET_BIND_SERVICE). As another
   * user --enable-sandbox cannot work here (it would join the target's
   * user namespace by pid; cbox names the namespace by path), and that
   * user has nothing of root's to lose. Both cost nothing measurable
   * against the helper's start (docs/benchmarks.md). */
  g_ptr_array_add (argv, g_strdup ("--enable-seccomp"));
  if (uid == 0 && geteuid () == 0)
    g_ptr_array_add (argv, g_strdup ("--enable-sandbox"));
  g_ptr_array_add (argv, g_strdup_printf ("--ready-fd=%d", ready_pipe[1]));
  g_ptr_array_add (argv, g_strdup_printf ("--exit-fd=%d", exit_pipe[0]));
  g_ptr_array_add (argv, g_strdup ("--netns-type=path"));
  if (!cbox_net_helper_add_api (helper, argv, uid, gid, error))
    {
      close (ready_pipe[1]);
      close (exit_pipe[0]);
      return NULL;
    }
  keep[n_keep++] = ready_pipe[1];
  keep[n_keep++] = exit_pipe[0];
  keep[n_keep++] = netns_fd;
  if (userns_fd >= 0)
    {
      g_ptr_array_add (argv, g_strdup_printf ("--userns-path=/proc/self/fd/%d", userns_fd));
      keep[n_keep++] = userns_fd;
    }
  g_ptr_array_add (argv, g_strdup_printf ("/proc/self/fd/%d", netns_fd));
  g_ptr_array_add (argv, g_strdup ("tap0"));
  g_ptr_array_add (argv, NULL);

  helper->pid
      = cbox_run_spawn_helper ("network helper " CBOX_NET_HELPER, (const char *const *)argv->pdata,
                               keep, n_keep, uid, gid, helper->log_fd, error);
  close (ready_pipe[1]);
  close (exit_pipe[0]);
  if (helper->pid < 0)
    {
      helper->pid = 0;
      return NULL;
    }
  return helper;
}

gboolean
cbox_net_helper_wait_ready (CboxNetHelper *helper, GError **error)
{
  g_autofree char *log = NULL;
  gint64 deadline;
  char byte = 0;
  ssize_t n = -1;

  g_return_val_if_fail (helper != NULL, FALSE);
  if (helper->ready)
    return TRUE;
  deadline = g_get_monotonic_time () / 1000 + CBOX_NET_READY_TIMEOUT_MS;
  for (;;)
    {
      struct pollfd pfd = { .fd = helper->ready_r, .events = POLLIN };
      gint64 left = deadline - g_get_monotonic_time () / 1000;
      int r;

      if (left <= 0)
        break;
      r = poll (&pfd, 1, (int)left);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      do
        n = read (helper->ready_r, &byte, 1);
      while (n < 0 && errno == EINTR);
      break;
    }
  if (n == 1 && byte == '1')
    {
      if (!cbox_net_helper_publish (helper, deadline, error))
        {
          cbox_net_helper_stop (helper);
          return FALSE;
        }
      helper->ready = TRUE;
      return TRUE;
    }
  cbox_net_helper_stop (helper);
  log = cbox_net_helper_log (helper);
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
               "the network helper " CBOX_NET_HELPER " %s%s%s; the command did not start "
               "(--network=off runs without network, --network=host shares the host's)",
               n < 0 ? "was not ready in time" : "failed", log[0] != '\0' ? ": " : "", log);
  return FALSE;
}

/* ---- a namespace made on the host, for backends that join one ---------- */

/* The process that holds the namespace: it made it and only waits. */
typedef struct
{
  pid_t pid;
  char *path; /* /proc/PID/ns/net */
} CboxNetHolder;

static void
cbox_net_holder_stop (CboxNetHolder *holder)
{
  cbox_run_end_helper (&holder->pid);
}

static void
cbox_net_holder_free (CboxNetHolder *holder)
{
  cbox_net_holder_stop (holder);
  g_free (holder->path);
  g_free (holder);
}

/* In the forked child: only async-signal-safe calls. Makes the network
 * namespace, brings its loopback up, says so on @ready_w and waits to be
 * killed (by cbox, or by the kernel when cbox dies). */
G_GNUC_NORETURN static void
cbox_net_holder_child (int ready_w, pid_t parent)
{
  struct ifreq ifr;
  int sock;
  char ok = '1';

  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != parent)
    _exit (1);
  /* It holds nothing of cbox's: no lock (nspawn's root lock), no socket,
   * no pipe keeps anything alive or busy that cbox's death should end. */
  if (ready_w > 3)
    syscall (SYS_close_range, 3, ready_w - 1, 0);
  syscall (SYS_close_range, ready_w + 1, ~0U, 0);
  if (unshare (CLONE_NEWNET) < 0)
    _exit (1);
  sock = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  memset (&ifr, 0, sizeof ifr);
  memcpy (ifr.ifr_name, "lo", 3);
  if (sock < 0 || ioctl (sock, SIOCGIFFLAGS, &ifr) < 0)
    _exit (1);
  ifr.ifr_flags |= IFF_UP;
  if (ioctl (sock, SIOCSIFFLAGS, &ifr) < 0)
    _exit (1);
  close (sock);
  if (write (ready_w, &ok, 1) != 1)
    _exit (1);
  close (ready_w);
  for (;;)
    pause ();
}

char *
cbox_net_namespace_prepare (CboxPlan *plan, GError **error)
{
  CboxNetHolder *holder;
  CboxNetHelper *helper;
  gboolean use_proxy;
  cbox_autofd int netns_fd = -1;
  int ready_pipe[2];
  pid_t parent = getpid ();
  char byte = 0;
  ssize_t n;

  g_return_val_if_fail (plan != NULL, NULL);
  use_proxy = cbox_network_mode_uses_proxy (cbox_plan_get_network_mode (plan));
  if (use_proxy ? !cbox_net_proxy_check (error) : !cbox_net_helper_check (error))
    return NULL;
  if (pipe2 (ready_pipe, O_CLOEXEC) < 0)
    {
      cbox_net_errno ("pipe", error);
      return NULL;
    }
  holder = g_new0 (CboxNetHolder, 1);
  /* Added first, so the plan's cleanups (last in, first out) stop the
   * helper before the namespace goes. */
  cbox_plan_add_cleanup (plan, (CboxCleanupFunc)cbox_net_holder_stop, holder,
                         (GDestroyNotify)cbox_net_holder_free);
  holder->pid = fork ();
  if (holder->pid == 0)
    cbox_net_holder_child (ready_pipe[1], parent);
  close (ready_pipe[1]);
  if (holder->pid < 0)
    {
      holder->pid = 0;
      close (ready_pipe[0]);
      cbox_net_errno ("fork", error);
      return NULL;
    }
  do
    n = read (ready_pipe[0], &byte, 1);
  while (n < 0 && errno == EINTR);
  close (ready_pipe[0]);
  if (n != 1 || byte != '1')
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                   "network helper: cannot make a network namespace (are you root?); the "
                   "command did not start");
      return NULL;
    }
  holder->path = g_strdup_printf ("/proc/%d/ns/net", (int)holder->pid);
  netns_fd = open (holder->path, O_RDONLY | O_CLOEXEC);
  if (netns_fd < 0)
    {
      cbox_net_errno (holder->path, error);
      return NULL;
    }
  /* --network=allow/deny: only the proxy's socket in the namespace, no
   * user-mode network (cbox-net-proxy.c). */
  if (use_proxy)
    {
      CboxNetProxy *proxy = cbox_net_proxy_start (plan, netns_fd, 0, 0, error);

      if (proxy == NULL || !cbox_net_proxy_wait_ready (proxy, error))
        return NULL;
      return g_strdup (holder->path);
    }
  helper = cbox_net_helper_start (plan, netns_fd, 0, 0, error);
  if (helper == NULL || !cbox_net_helper_wait_ready (helper, error))
    return NULL;
  return g_strdup (holder->path);
}

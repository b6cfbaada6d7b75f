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
#include <sys/file.h>
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

#include "cbox-config.h"
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

ssize_t
cbox_read_by (int fd, void *buf, gsize len, gint64 deadline_ms)
{
  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      gint64 left = deadline_ms - g_get_monotonic_time () / 1000;
      ssize_t n;
      int r;

      if (left <= 0)
        return -1;
      r = poll (&pfd, 1, (int)left);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return -1;
      do
        n = read (fd, buf, len);
      while (n < 0 && errno == EINTR);
      return n;
    }
}

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

/* The helper's options that every namespace it serves gets, per run or
 * shared. */
static void
cbox_net_helper_add_options (GPtrArray *argv, gboolean as_root)
{
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
  if (as_root)
    g_ptr_array_add (argv, g_strdup ("--enable-sandbox"));
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
  cbox_net_helper_add_options (argv, uid == 0 && geteuid () == 0);
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
  n = cbox_read_by (helper->ready_r, &byte, 1, deadline);
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

/* ---- the project's network, shared --------------------------------------
 *
 * One slirp4netns per run costs a default run about a third of its time
 * (its start: exec, libraries, the tap device; docs/benchmarks.md), more
 * than everything a --network=off run does. So the runs of one project
 * share one network: a keeper process (cbox-netkeep) holds the network
 * namespace and its helper, every run of the project joins it, and it
 * ends network-keep seconds after the last run has ended.
 *
 * Why sharing within a project is no new door: every run of a project
 * already shares its writable folder, so what one run could do to another
 * through their common loopback (reach a server the other started), it
 * can already do by changing the files the other runs. Different
 * projects, different users and root never share a keeper (its socket is
 * in a folder of the user's, named after the project). Runs that publish
 * ports, other network modes, other backends and root acting for a user
 * get a network of their own, as before. The host's loopback and abstract
 * sockets stay out of reach exactly as with a helper per run: the same
 * helper, the same options. Abstract sockets between two runs of the
 * project are scoped apart by Landlock where the kernel has it (ABI 6). */

#define CBOX_NET_KEEPER "cbox-netkeep"
/* How long a run waits for a keeper's first answer (the namespace). */
#define CBOX_NET_SHARE_ANSWER_TIMEOUT_MS 5000

struct _CboxNetShare
{
  int conn; /* open for as long as the run lives: the keeper counts it */
  int netns_fd;
  int userns_fd;
  gboolean ready;
};

guint
cbox_net_share_keep_seconds (CboxContext *ctx)
{
  GKeyFile *config;
  g_autofree char *value = NULL;
  int keep = CBOX_NET_KEEP_DEFAULT_S;

  g_return_val_if_fail (ctx != NULL, 0);
  if (cbox_context_get_network_mode (ctx) != CBOX_NETWORK_OWN
      || cbox_context_get_project_dir (ctx) == NULL)
    return 0;
  /* Only for a caller acting as itself: root running a sandbox for a
   * user (sudo) starts that user's helper per run, and a setuid cbox
   * shares nothing. */
  if (getuid () != geteuid ()
      || (geteuid () == 0 && cbox_host_get_uid (cbox_context_get_host (ctx)) != 0))
    return 0;
  config = cbox_context_get_config (ctx);
  value = config != NULL ? g_key_file_get_string (config, "cbox", "network-keep", NULL) : NULL;
  if (value != NULL)
    keep = cbox_config_parse_seconds (g_strstrip (value));
  return keep > 0 ? (guint)keep : 0;
}

static gboolean
cbox_net_share_errno (const char *what, GError **error)
{
  int saved_errno = errno;

  g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "the project's network: %s: %s", what,
               g_strerror (saved_errno));
  return FALSE;
}

/* The user's folder for keeper sockets, made if missing. */
static char *
cbox_net_share_dir (const CboxHost *host, GError **error)
{
  const char *runtime = cbox_host_get_runtime_dir (host);
  g_autofree char *dir = NULL;
  struct stat st;

  if (runtime != NULL && runtime[0] == '/' && geteuid () == cbox_host_get_uid (host))
    dir = g_build_filename (runtime, "cbox-net", NULL);
  else
    dir = g_strdup_printf ("%s/cbox-net-%u", g_get_tmp_dir (), (unsigned)geteuid ());
  if (mkdir (dir, 0700) < 0 && errno != EEXIST)
    {
      cbox_net_share_errno (dir, error);
      return NULL;
    }
  /* Security: whoever can enter the folder can connect to the keeper and
   * put a socket of their own where cbox looks for it. A folder of
   * somebody else's (/tmp is everybody's), or a link, is refused. */
  if (lstat (dir, &st) < 0)
    {
      cbox_net_share_errno (dir, error);
      return NULL;
    }
  if (!S_ISDIR (st.st_mode) || st.st_uid != geteuid () || (st.st_mode & 077) != 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                   "the project's network: %s is not a folder of yours that only you can enter "
                   "(mode 0700); remove it",
                   dir);
      return NULL;
    }
  return g_steal_pointer (&dir);
}

/* TRUE when @fd_a and @fd_b are the same namespace. */
static gboolean
cbox_net_same_ns (int fd_a, int fd_b)
{
  struct stat a, b;

  return fstat (fd_a, &a) == 0 && fstat (fd_b, &b) == 0 && a.st_dev == b.st_dev
         && a.st_ino == b.st_ino;
}

/* Security: the namespaces a keeper hands over are checked before any
 * process starts in them. A keeper makes them from the user's own user
 * namespace: a network namespace owned by a user namespace whose parent
 * is cbox's own (root: owned by cbox's own user namespace). Whatever else
 * answered at the socket (a process of a sandbox that was given the
 * folder with --bind, say) can only make namespaces below its own
 * sandbox's, where it would hold capabilities over the next run's: those
 * are refused, and the run gets a network of its own. */
static gboolean
cbox_net_share_check_namespaces (int netns_fd, int userns_fd)
{
  cbox_autofd int own = open ("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
  cbox_autofd int owner = -1;
  cbox_autofd int parent = -1;

  if (own < 0 || ioctl (netns_fd, NS_GET_NSTYPE) != CLONE_NEWNET)
    return FALSE;
  owner = ioctl (netns_fd, NS_GET_USERNS);
  if (owner < 0)
    return FALSE;
  if (userns_fd < 0)
    return cbox_net_same_ns (owner, own);
  if (ioctl (userns_fd, NS_GET_NSTYPE) != CLONE_NEWUSER || !cbox_net_same_ns (owner, userns_fd))
    return FALSE;
  parent = ioctl (userns_fd, NS_GET_PARENT);
  return parent >= 0 && cbox_net_same_ns (parent, own);
}

/* Waits (bounded) for the keeper's first answer on @share->conn: 'N' and
 * the namespaces. FALSE with no @error when the keeper said nothing (a
 * dead one: the caller replaces it). */
static gboolean
cbox_net_share_receive (CboxNetShare *share, GError **error)
{
  struct pollfd pfd = { .fd = share->conn, .events = POLLIN };
  char control[CMSG_SPACE (2 * sizeof (int))];
  char byte = 0;
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  struct msghdr msg = {
    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control
  };
  struct cmsghdr *cmsg;
  int fds[2] = { -1, -1 };
  ssize_t n;
  int r;

  do
    r = poll (&pfd, 1, CBOX_NET_SHARE_ANSWER_TIMEOUT_MS);
  while (r < 0 && errno == EINTR);
  if (r <= 0)
    return FALSE;
  do
    n = recvmsg (share->conn, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  for (cmsg = CMSG_FIRSTHDR (&msg); cmsg != NULL; cmsg = CMSG_NXTHDR (&msg, cmsg))
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
      memcpy (fds, CMSG_DATA (cmsg), MIN (sizeof fds, cmsg->cmsg_len - CMSG_LEN (0)));
  if (n == 1 && byte == 'N' && fds[0] >= 0 && (geteuid () == 0) == (fds[1] < 0)
      && !cbox_net_share_check_namespaces (fds[0], fds[1]))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                   "the project's network: what answered at the keeper's socket handed over "
                   "namespaces that a keeper of yours does not make; refused");
      n = -1;
    }
  if (n == 1 && byte == 'N' && fds[0] >= 0 && (geteuid () == 0) == (fds[1] < 0))
    {
      share->netns_fd = fds[0];
      share->userns_fd = fds[1];
      return TRUE;
    }
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    if (fds[i] >= 0)
      close (fds[i]);
  if (n == 1 && byte == 'F')
    {
      char text[1200];
      ssize_t len = recv (share->conn, text, sizeof text - 1, MSG_DONTWAIT);

      text[MAX (len, 0)] = '\0';
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                   "the network helper %s; the command did not start (--network=off runs "
                   "without network, --network=host shares the host's)",
                   g_strstrip (text));
    }
  return FALSE;
}

static int
cbox_net_share_connect (const char *socket_path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_strlcpy (addr.sun_path, socket_path, sizeof addr.sun_path);
  if (fd >= 0 && connect (fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    {
      close (fd);
      fd = -1;
    }
  return fd;
}

/* A new keeper at @socket_path (the caller holds the lock): cbox binds
 * its socket and connects first, so the keeper finds this run waiting. */
static gboolean
cbox_net_share_start_keeper (CboxContext *ctx, CboxNetShare *share, const char *lock_path,
                             const char *socket_path, guint keep_s, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  g_autofree char *keeper
      = g_build_filename (cbox_context_get_libexec_dir (ctx), CBOX_NET_KEEPER, NULL);
  g_autofree char *helper = g_find_program_in_path (CBOX_NET_HELPER);
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  cbox_autofd int listen_fd = -1;
  gboolean as_root = geteuid () == 0;

  if (!g_file_test (keeper, G_FILE_TEST_IS_EXECUTABLE) || helper == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "the project's network: %s is missing (is cbox installed completely?)",
                   helper == NULL ? CBOX_NET_HELPER : keeper);
      return FALSE;
    }
  if (unlink (socket_path) < 0 && errno != ENOENT)
    return cbox_net_share_errno (socket_path, error);
  g_strlcpy (addr.sun_path, socket_path, sizeof addr.sun_path);
  listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd < 0 || bind (listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0
      || listen (listen_fd, 64) < 0)
    return cbox_net_share_errno (socket_path, error);
  share->conn = cbox_net_share_connect (socket_path);
  if (share->conn < 0)
    return cbox_net_share_errno (socket_path, error);

  g_ptr_array_add (argv, g_strdup (keeper));
  g_ptr_array_add (argv, g_strdup_printf ("%d", listen_fd));
  g_ptr_array_add (argv, g_strdup (lock_path));
  g_ptr_array_add (argv, g_strdup (socket_path));
  g_ptr_array_add (argv, g_strdup_printf ("%u", keep_s));
  g_ptr_array_add (argv, g_strdup (as_root ? "0" : "1"));
  /* The helper's command line, at the fds cbox-netkeep puts them at. */
  g_ptr_array_add (argv, g_steal_pointer (&helper));
  cbox_net_helper_add_options (argv, as_root);
  g_ptr_array_add (argv, g_strdup ("--ready-fd=5"));
  g_ptr_array_add (argv, g_strdup ("--exit-fd=6"));
  g_ptr_array_add (argv, g_strdup ("--netns-type=path"));
  if (!as_root)
    g_ptr_array_add (argv, g_strdup ("--userns-path=/proc/self/fd/4"));
  g_ptr_array_add (argv, g_strdup ("/proc/self/fd/3"));
  g_ptr_array_add (argv, g_strdup ("tap0"));
  g_ptr_array_add (argv, NULL);
  return cbox_run_spawn_detached ("the project's network keeper", keeper,
                                  (const char *const *)argv->pdata, &listen_fd, 1, error);
}

CboxNetShare *
cbox_net_share_join (CboxContext *ctx, GError **error)
{
  guint keep_s = cbox_net_share_keep_seconds (ctx);
  g_autofree char *dir = NULL;
  g_autofree char *key = NULL;
  g_autofree char *lock_path = NULL;
  g_autofree char *socket_path = NULL;
  g_autofree char *what = NULL;
  cbox_autofd int lock_fd = -1;
  CboxNetShare *share;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (keep_s == 0)
    return NULL;
  dir = cbox_net_share_dir (cbox_context_get_host (ctx), error);
  if (dir == NULL)
    return NULL;
  /* One keeper per project (its real path) and cbox version. */
  what = g_strconcat (CBOX_VERSION, "\n", cbox_context_get_project_dir (ctx), NULL);
  key = g_compute_checksum_for_string (G_CHECKSUM_SHA256, what, -1);
  key[32] = '\0';
  lock_path = g_strdup_printf ("%s/%s.lock", dir, key);
  socket_path = g_strdup_printf ("%s/%s.sock", dir, key);
  if (strlen (socket_path) >= sizeof (((struct sockaddr_un *)NULL)->sun_path))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                   "the project's network: the socket path %s is too long", socket_path);
      return NULL;
    }
  /* The lock is held from the connect to the answer: the keeper removes
   * its socket only while nobody holds it, so a run never joins a keeper
   * that is ending. */
  lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd < 0)
    {
      cbox_net_share_errno (lock_path, error);
      return NULL;
    }
  /* Bounded: runs and keepers hold it for milliseconds; a lock held for
   * longer (a stuck process) costs this run its sharing, not its start. */
  for (gint64 deadline = g_get_monotonic_time () + CBOX_NET_SHARE_ANSWER_TIMEOUT_MS * 1000;
       flock (lock_fd, LOCK_EX | LOCK_NB) < 0;)
    {
      if (errno != EWOULDBLOCK && errno != EINTR)
        {
          cbox_net_share_errno (lock_path, error);
          return NULL;
        }
      if (g_get_monotonic_time () > deadline)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                       "the project's network: %s stayed locked", lock_path);
          return NULL;
        }
      g_usleep (2000);
    }

  share = g_new0 (CboxNetShare, 1);
  share->conn = share->netns_fd = share->userns_fd = -1;
  share->conn = cbox_net_share_connect (socket_path);
  if (share->conn >= 0 && cbox_net_share_receive (share, error))
    return share;
  if (error != NULL && *error != NULL)
    {
      cbox_net_share_free (share);
      return NULL;
    }
  /* None, or a dead one (its socket left behind): a new keeper. */
  if (share->conn >= 0)
    close (share->conn);
  share->conn = -1;
  if (!cbox_net_share_start_keeper (ctx, share, lock_path, socket_path, keep_s, error))
    {
      cbox_net_share_free (share);
      return NULL;
    }
  if (!cbox_net_share_receive (share, error))
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                     "the project's network keeper %s did not answer", CBOX_NET_KEEPER);
      cbox_net_share_free (share);
      return NULL;
    }
  return share;
}

int
cbox_net_share_get_netns_fd (CboxNetShare *share)
{
  g_return_val_if_fail (share != NULL, -1);
  return share->netns_fd;
}

int
cbox_net_share_get_userns_fd (CboxNetShare *share)
{
  g_return_val_if_fail (share != NULL, -1);
  return share->userns_fd;
}

gboolean
cbox_net_share_wait_ready (CboxNetShare *share, GError **error)
{
  gint64 deadline;
  char text[1200];
  ssize_t n = -1;

  g_return_val_if_fail (share != NULL, FALSE);
  if (share->ready)
    return TRUE;
  deadline = g_get_monotonic_time () / 1000 + CBOX_NET_READY_TIMEOUT_MS;
  n = cbox_read_by (share->conn, text, sizeof text - 1, deadline);
  if (n >= 1 && text[0] == 'R')
    {
      share->ready = TRUE;
      return TRUE;
    }
  text[MAX (n, 0)] = '\0';
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
               "the network helper %s; the command did not start (--network=off runs without "
               "network, --network=host shares the host's)",
               n > 1 && text[0] == 'F' ? g_strstrip (text + 1)
               : n < 0                 ? CBOX_NET_HELPER " was not ready in time"
                                       : CBOX_NET_HELPER " ended (its keeper is gone)");
  return FALSE;
}

void
cbox_net_share_free (CboxNetShare *share)
{
  if (share == NULL)
    return;
  if (share->conn >= 0)
    close (share->conn);
  if (share->netns_fd >= 0)
    close (share->netns_fd);
  if (share->userns_fd >= 0)
    close (share->userns_fd);
  g_free (share);
}

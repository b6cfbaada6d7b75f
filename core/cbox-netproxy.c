/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cbox-netproxy: the host side of --network=allow:LIST and deny:LIST.
 *
 * The sandbox has a network namespace with only its loopback: no route
 * anywhere. cbox makes a listening TCP socket on 127.0.0.1:3128 *inside*
 * that namespace (a short-lived child enters it, makes the socket and
 * hands it back; a socket stays in the namespace it was made in) and
 * starts this program on the host with it. So the command reaches the
 * proxy on its own loopback, and the proxy's connections leave from the
 * host's namespace, after the proxy decided on them: nothing inside
 * relays, and no unix socket is bound in.
 *
 * One port speaks both protocols, told apart by the first byte (5:
 * SOCKS5, a letter: HTTP): HTTP proxy requests (CONNECT host:port for
 * TLS, which is never decrypted: the decision is on the name the client
 * asks for; GET http://... forwarded) and SOCKS5 CONNECT (other TCP: git
 * over ssh). Names are resolved here, with the host's resolver: the
 * sandbox needs no DNS and has none. Every decision is on the name the
 * client asked for, then on every address it resolves to
 * (cbox-netproxy-rules.c says what is refused and why).
 *
 * Why a small program of cbox's own and not tinyproxy or dante: neither
 * speaks both protocols, neither decides on the name for SOCKS and for
 * CONNECT with the same rules, neither refuses an allowed name that
 * resolves to the host's loopback, and both are daemons with
 * configuration files to write and clean up. This one is a few hundred
 * lines, a thread per connection (blocking name resolution must not stall
 * the others), and its parsing is fuzzed.
 *
 * Its lifetime is the run's: cbox kills it after the sandbox, and it
 * exits when cbox's end of --exit-fd closes (cbox died).
 *
 * Usage: cbox-netproxy --mode=allow|deny --listen-fd=N [--listen-fd=N]
 *          [--allow=LIST]... [--deny=LIST]... [--ready-fd=N] [--exit-fd=N]
 *          [--log-fd=N]
 *        cbox-netproxy --relay=PATH
 *
 * --relay=PATH is the other end for qemu: QEMU's user-mode network starts
 * it for each guest connection to the proxy's address (guestfwd=...-cmd:)
 * with the connection on its stdin and stdout, and it only copies bytes
 * between them and the proxy's unix socket at PATH, where the decisions
 * are made. It writes nothing else: its stderr is the connection too.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cbox-netproxy-proto.h"
#include "cbox-netproxy-rules.h"

/* A server that does not answer a connection within this is unreachable. */
#define CONNECT_TIMEOUT_MS 30000
/* Connections at once: a command that opens more gets the rest refused,
 * so it cannot make the host run out of threads. */
#define MAX_CONNECTIONS 512
#define RELAY_BUFFER (64 * 1024)

static CboxNetRules *rules;
static int log_fd = -1;
static GMutex log_lock;
static gint n_connections;

typedef enum
{
  PROTO_HTTP,
  PROTO_CONNECT,
  PROTO_SOCKS,
} Proto;

static const char *const proto_names[] = { "http", "connect", "socks5" };

/* One line in the log file (every decision) and, for a denial, on
 * stderr, where the user sees it as it happens. */
typedef enum
{
  VERDICT_ALLOWED,
  VERDICT_DENIED,
  VERDICT_FAILED, /* allowed, but the name does not resolve */
} Verdict;

static const char *const verdict_names[] = { "allowed", "denied", "failed" };

static void
log_decision (Verdict verdict, Proto proto, const CboxNetHost *host, guint16 port,
              const char *address, const char *rule)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
  g_autofree char *target = NULL;
  g_autofree char *line = NULL;

  target = host->kind == CBOX_NET_HOST_IPV6 ? g_strdup_printf ("[%s]:%u", host->name, port)
                                            : g_strdup_printf ("%s:%u", host->name, port);
  line = g_strdup_printf ("%s %s %s %s%s%s (%s)\n", stamp, verdict_names[verdict],
                          proto_names[proto], target, address != NULL ? " at " : "",
                          address != NULL ? address : "", rule != NULL ? rule : "allowed");
  g_mutex_lock (&log_lock);
  if (log_fd >= 0 && write (log_fd, line, strlen (line)) < 0)
    {
      /* The log is for the user; a full disk must not stop the run. */
    }
  if (verdict != VERDICT_ALLOWED)
    {
      g_autofree char *message
          = g_strdup_printf ("cbox: network: %s %s%s%s (%s)\n",
                             verdict == VERDICT_DENIED ? "denied" : "cannot resolve", target,
                             address != NULL ? " at " : "", address != NULL ? address : "", rule);
      if (write (STDERR_FILENO, message, strlen (message)) < 0)
        {
        }
    }
  g_mutex_unlock (&log_lock);
}

static void
log_refused_request (const char *what, const char *why)
{
  g_autofree char *line = g_strdup_printf ("cbox: network: refused a %s request: %s\n", what, why);

  g_mutex_lock (&log_lock);
  if (log_fd >= 0
      && write (log_fd, line + strlen ("cbox: network: "),
                strlen (line) - strlen ("cbox: network: "))
             < 0)
    {
    }
  if (write (STDERR_FILENO, line, strlen (line)) < 0)
    {
    }
  g_mutex_unlock (&log_lock);
}

static gboolean
write_all (int fd, const void *data, gsize len)
{
  const char *p = data;

  while (len > 0)
    {
      ssize_t n = send (fd, p, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          struct pollfd pfd = { .fd = fd, .events = POLLOUT };

          poll (&pfd, 1, -1);
          continue;
        }
      if (n <= 0)
        return FALSE;
      p += n;
      len -= (gsize)n;
    }
  return TRUE;
}

/* The host's interface addresses, each a GBytes of 4 or 16 bytes: an
 * allowed name that resolves to one of them would reach the host's own
 * services. Read for each connection: interfaces come and go. */
static GPtrArray *
local_addresses (void)
{
  GPtrArray *local = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  struct ifaddrs *list = NULL;

  if (getifaddrs (&list) < 0)
    return local;
  for (struct ifaddrs *i = list; i != NULL; i = i->ifa_next)
    {
      if (i->ifa_addr == NULL)
        continue;
      if (i->ifa_addr->sa_family == AF_INET)
        g_ptr_array_add (local, g_bytes_new (&((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4));
      else if (i->ifa_addr->sa_family == AF_INET6)
        g_ptr_array_add (local, g_bytes_new (&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16));
    }
  freeifaddrs (list);
  return local;
}

static int
connect_one (const struct sockaddr *addr, socklen_t addr_len)
{
  int fd = socket (addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct pollfd pfd;
  int err = 0;
  socklen_t err_len = sizeof err;
  int r;

  if (fd < 0)
    return -1;
  if (connect (fd, addr, addr_len) == 0)
    return fd;
  if (errno != EINPROGRESS)
    {
      close (fd);
      return -1;
    }
  pfd.fd = fd;
  pfd.events = POLLOUT;
  do
    r = poll (&pfd, 1, CONNECT_TIMEOUT_MS);
  while (r < 0 && errno == EINTR);
  if (r <= 0 || getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0 || err != 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

typedef enum
{
  OUTCOME_CONNECTED,
  OUTCOME_DENIED,
  OUTCOME_UNRESOLVED,
  OUTCOME_UNREACHABLE,
} Outcome;

/* Decides on @host:@port and connects to it; logs the decision. */
static Outcome
connect_upstream (Proto proto, const CboxNetHost *host, guint16 port, int *ret_fd)
{
  g_autoptr (GPtrArray) local = local_addresses ();
  const char *rule = NULL;
  struct addrinfo hints = { 0 };
  struct addrinfo *results = NULL;
  char port_text[8];
  char denied_address[INET6_ADDRSTRLEN] = "";
  const char *denied_rule = NULL;
  gboolean any_allowed = FALSE;
  int fd = -1;
  int r;

  if (!cbox_net_rules_check_host (rules, host, port, &rule))
    {
      log_decision (VERDICT_DENIED, proto, host, port, NULL, rule);
      return OUTCOME_DENIED;
    }
  g_snprintf (port_text, sizeof port_text, "%u", port);
  hints.ai_socktype = SOCK_STREAM;
  /* An address the client named is taken as such, never looked up. */
  hints.ai_flags = host->kind == CBOX_NET_HOST_NAME ? AI_ADDRCONFIG : AI_NUMERICHOST;
  r = getaddrinfo (host->name, port_text, &hints, &results);
  if (r != 0)
    {
      log_decision (VERDICT_FAILED, proto, host, port, NULL, gai_strerror (r));
      return OUTCOME_UNRESOLVED;
    }
  for (struct addrinfo *ai = results; ai != NULL && fd < 0; ai = ai->ai_next)
    {
      const char *address_rule = NULL;

      if (!cbox_net_rules_check_address (rules, ai->ai_addr, port, local, &address_rule))
        {
          void *raw = ai->ai_family == AF_INET
                          ? (void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                          : (void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;

          inet_ntop (ai->ai_family, raw, denied_address, sizeof denied_address);
          denied_rule = address_rule;
          continue;
        }
      any_allowed = TRUE;
      fd = connect_one (ai->ai_addr, ai->ai_addrlen);
    }
  freeaddrinfo (results);
  if (!any_allowed && denied_rule != NULL)
    {
      log_decision (VERDICT_DENIED, proto, host, port, denied_address, denied_rule);
      return OUTCOME_DENIED;
    }
  log_decision (VERDICT_ALLOWED, proto, host, port, NULL, rule);
  if (fd < 0)
    return OUTCOME_UNREACHABLE;
  *ret_fd = fd;
  return OUTCOME_CONNECTED;
}

typedef struct
{
  int from, to;
  char *buf;
  gsize start, end;
  gboolean eof, shut;
} Direction;

/* Copies both ways until both sides have ended theirs. */
static void
relay (int client, int server)
{
  Direction dirs[2] = { { client, server, NULL, 0, 0, FALSE, FALSE },
                        { server, client, NULL, 0, 0, FALSE, FALSE } };

  fcntl (client, F_SETFL, fcntl (client, F_GETFL) | O_NONBLOCK);
  fcntl (server, F_SETFL, fcntl (server, F_GETFL) | O_NONBLOCK);
  dirs[0].buf = g_malloc (RELAY_BUFFER);
  dirs[1].buf = g_malloc (RELAY_BUFFER);
  for (;;)
    {
      struct pollfd pfds[2] = { { .fd = client }, { .fd = server } };
      gboolean failed = FALSE;

      for (guint i = 0; i < 2; i++)
        {
          Direction *d = &dirs[i];

          if (!d->eof && d->start == d->end)
            pfds[i].events |= POLLIN;
          if (d->start < d->end)
            pfds[1 - i].events |= POLLOUT;
        }
      if (pfds[0].events == 0 && pfds[1].events == 0)
        break;
      if (poll (pfds, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      for (guint i = 0; i < 2 && !failed; i++)
        {
          Direction *d = &dirs[i];

          if (!d->eof && d->start == d->end && pfds[i].revents != 0)
            {
              ssize_t n = read (d->from, d->buf, RELAY_BUFFER);

              if (n > 0)
                {
                  d->start = 0;
                  d->end = (gsize)n;
                }
              else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                d->eof = TRUE;
            }
          if (d->start < d->end && (pfds[1 - i].revents & (POLLOUT | POLLERR | POLLHUP)) != 0)
            {
              /* write(), not send(): in --relay mode one side is a pipe
               * or socket QEMU gave (SIGPIPE is ignored). */
              ssize_t n = write (d->to, d->buf + d->start, d->end - d->start);

              if (n > 0)
                d->start += (gsize)n;
              else if (n < 0 && errno != EAGAIN && errno != EINTR)
                failed = TRUE;
            }
          if (d->eof && d->start == d->end && !d->shut)
            {
              shutdown (d->to, SHUT_WR);
              d->shut = TRUE;
            }
        }
      if (failed)
        break;
    }
  g_free (dirs[0].buf);
  g_free (dirs[1].buf);
}

static void
http_reply (int client, const char *status, const char *body)
{
  g_autofree char *reply
      = g_strdup_printf ("HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                         "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                         status, strlen (body), body);

  write_all (client, reply, strlen (reply));
}

static void
serve_http (int client, char *buf, gsize len)
{
  g_auto (CboxNetHttpRequest) request = { 0 };
  g_autoptr (GError) error = NULL;
  CboxNetParse state;
  int server = -1;
  Outcome outcome;

  while ((state = cbox_net_http_request_parse (buf, len, &request, &error)) == CBOX_NET_PARSE_MORE)
    {
      ssize_t n = read (client, buf + len, CBOX_NET_HTTP_HEAD_MAX - len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      len += (gsize)n;
    }
  if (state == CBOX_NET_PARSE_ERROR)
    {
      g_autofree char *body
          = g_strdup_printf ("cbox: the proxy refused the request: %s\n", error->message);
      log_refused_request ("HTTP", error->message);
      http_reply (client, "400 Bad Request", body);
      return;
    }
  outcome = connect_upstream (request.connect ? PROTO_CONNECT : PROTO_HTTP, &request.host,
                              request.port, &server);
  switch (outcome)
    {
    case OUTCOME_DENIED:
      {
        g_autofree char *body
            = g_strdup_printf ("cbox: %s:%u is not allowed by the sandbox's network rules\n",
                               request.host.name, request.port);
        http_reply (client, "403 Forbidden", body);
        return;
      }
    case OUTCOME_UNRESOLVED:
      http_reply (client, "502 Bad Gateway", "cbox: the proxy cannot resolve that name\n");
      return;
    case OUTCOME_UNREACHABLE:
      http_reply (client, "502 Bad Gateway", "cbox: the proxy cannot connect to that host\n");
      return;
    case OUTCOME_CONNECTED:
    default:
      break;
    }
  if (request.connect)
    {
      static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";

      if (!write_all (client, established, strlen (established)))
        {
          close (server);
          return;
        }
    }
  else if (!write_all (server, request.forward, strlen (request.forward)))
    {
      close (server);
      return;
    }
  /* What the client sent after the head (a body, the TLS hello) goes on. */
  if (len > request.head_len && !write_all (server, buf + request.head_len, len - request.head_len))
    {
      close (server);
      return;
    }
  relay (client, server);
  close (server);
}

static gboolean
read_more (int client, guint8 *buf, gsize *len, gsize max)
{
  for (;;)
    {
      ssize_t n = read (client, buf + *len, max - *len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      *len += (gsize)n;
      return TRUE;
    }
}

static void
socks_reply (int client, guint8 code)
{
  const guint8 reply[10] = { 5, code, 0, 1, 0, 0, 0, 0, 0, 0 };

  write_all (client, reply, sizeof reply);
}

static void
serve_socks (int client, guint8 *buf, gsize len)
{
  g_autoptr (GError) error = NULL;
  CboxNetHost host;
  gboolean no_auth = FALSE;
  guint16 port = 0;
  guint8 code = 0;
  gsize used = 0;
  CboxNetParse state;
  int server = -1;

  while ((state = cbox_net_socks_greeting_parse (buf, len, &used, &no_auth, &error))
         == CBOX_NET_PARSE_MORE)
    if (!read_more (client, buf, &len, 512))
      return;
  if (state == CBOX_NET_PARSE_ERROR)
    {
      log_refused_request ("SOCKS", error->message);
      return;
    }
  if (!no_auth)
    {
      log_refused_request ("SOCKS", "the client offers no method without authentication");
      write_all (client, (const guint8[]){ 5, 0xff }, 2);
      return;
    }
  if (!write_all (client, (const guint8[]){ 5, 0 }, 2))
    return;
  memmove (buf, buf + used, len - used);
  len -= used;
  while ((state = cbox_net_socks_request_parse (buf, len, &used, &host, &port, &code, &error))
         == CBOX_NET_PARSE_MORE)
    if (!read_more (client, buf, &len, 512))
      return;
  if (state == CBOX_NET_PARSE_ERROR)
    {
      log_refused_request ("SOCKS", error->message);
      socks_reply (client, code);
      return;
    }
  switch (connect_upstream (PROTO_SOCKS, &host, port, &server))
    {
    case OUTCOME_DENIED:
      socks_reply (client, CBOX_NET_SOCKS_NOT_ALLOWED);
      return;
    case OUTCOME_UNRESOLVED:
      socks_reply (client, CBOX_NET_SOCKS_HOST_UNREACHABLE);
      return;
    case OUTCOME_UNREACHABLE:
      socks_reply (client, CBOX_NET_SOCKS_REFUSED);
      return;
    case OUTCOME_CONNECTED:
    default:
      break;
    }
  socks_reply (client, CBOX_NET_SOCKS_OK);
  if (len > used && !write_all (server, buf + used, len - used))
    {
      close (server);
      return;
    }
  relay (client, server);
  close (server);
}

static gpointer
serve (gpointer data)
{
  int client = GPOINTER_TO_INT (data);
  g_autofree char *buf = g_malloc (CBOX_NET_HTTP_HEAD_MAX);
  gsize len = 0;

  if (read_more (client, (guint8 *)buf, &len, CBOX_NET_HTTP_HEAD_MAX))
    {
      if (buf[0] == 5)
        serve_socks (client, (guint8 *)buf, len);
      else if (buf[0] == 4)
        log_refused_request ("SOCKS4", "only SOCKS5 is spoken (use socks5h://)");
      else
        serve_http (client, buf, len);
    }
  close (client);
  g_atomic_int_add (&n_connections, -1);
  return NULL;
}

static gboolean
parse_fd (const char *value, int *ret_fd)
{
  guint64 n;

  if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXINT, &n, NULL) || fcntl ((int)n, F_GETFD) < 0)
    return FALSE;
  *ret_fd = (int)n;
  fcntl (*ret_fd, F_SETFD, FD_CLOEXEC);
  return TRUE;
}

static int
usage (const char *why)
{
  g_printerr ("cbox-netproxy: %s\nusage: cbox-netproxy --mode=allow|deny --listen-fd=N "
              "[--allow=LIST] [--deny=LIST] [--ready-fd=N] [--exit-fd=N] [--log-fd=N]\n"
              "(started by cbox for --network=allow:LIST and deny:LIST)\n",
              why);
  return 2;
}

/* --relay=PATH: stdin/stdout (one socket, as QEMU gives it) to PATH. */
static int
relay_to (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof addr.sun_path)
    return 1;
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    return 1;
  relay (STDIN_FILENO, fd);
  return 0;
}

int
main (int argc, char **argv)
{
  g_autoptr (GArray) listeners = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GPtrArray) allow = g_ptr_array_new ();
  g_autoptr (GPtrArray) deny = g_ptr_array_new ();
  const char *mode = NULL;
  int ready_fd = -1, exit_fd = -1;

  prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  signal (SIGPIPE, SIG_IGN);
  /* No parent-death signal for a relay: QEMU starts it through GLib's
   * double fork, whose intermediate process exits at once, which would
   * kill the relay now and then (a connection reset in the guest). It
   * ends with its connection. */
  if (argc == 2 && g_str_has_prefix (argv[1], "--relay="))
    return relay_to (argv[1] + strlen ("--relay="));
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  for (int i = 1; i < argc; i++)
    {
      const char *arg = argv[i];
      int fd;

      if (g_str_has_prefix (arg, "--mode="))
        mode = arg + strlen ("--mode=");
      else if (g_str_has_prefix (arg, "--allow="))
        g_ptr_array_add (allow, (char *)arg + strlen ("--allow="));
      else if (g_str_has_prefix (arg, "--deny="))
        g_ptr_array_add (deny, (char *)arg + strlen ("--deny="));
      else if (g_str_has_prefix (arg, "--listen-fd=") && parse_fd (arg + 12, &fd))
        g_array_append_val (listeners, fd);
      else if (g_str_has_prefix (arg, "--ready-fd=") && parse_fd (arg + 11, &fd))
        ready_fd = fd;
      else if (g_str_has_prefix (arg, "--exit-fd=") && parse_fd (arg + 10, &fd))
        exit_fd = fd;
      else if (g_str_has_prefix (arg, "--log-fd=") && parse_fd (arg + 9, &fd))
        log_fd = fd;
      else
        return usage (g_strdup_printf ("'%s': not an option (or not an open descriptor)", arg));
    }
  if (g_strcmp0 (mode, "allow") != 0 && g_strcmp0 (mode, "deny") != 0)
    return usage ("--mode=allow or --mode=deny is needed");
  if (listeners->len == 0)
    return usage ("--listen-fd=N is needed");
  rules = cbox_net_rules_new (strcmp (mode, "deny") == 0);
  for (guint pass = 0; pass < 2; pass++)
    {
      GPtrArray *lists = pass == 0 ? allow : deny;

      for (guint i = 0; i < lists->len; i++)
        {
          g_autoptr (GError) error = NULL;

          if (!cbox_net_rules_add_list (rules, pass == 0, g_ptr_array_index (lists, i), &error))
            {
              g_printerr ("cbox-netproxy: %s %s\n", pass == 0 ? "--allow" : "--deny",
                          error->message);
              return 2;
            }
        }
    }

  if (ready_fd >= 0)
    {
      if (write (ready_fd, "1", 1) != 1)
        return 1;
      close (ready_fd);
    }

  for (;;)
    {
      g_autofree struct pollfd *pfds = g_new0 (struct pollfd, listeners->len + 1);
      guint n = 0;

      for (guint i = 0; i < listeners->len; i++)
        {
          pfds[n].fd = g_array_index (listeners, int, i);
          pfds[n++].events = POLLIN;
        }
      if (exit_fd >= 0)
        {
          pfds[n].fd = exit_fd;
          pfds[n++].events = POLLIN;
        }
      if (poll (pfds, n, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          return 1;
        }
      /* cbox closed its end, or died: the run is over. */
      if (exit_fd >= 0 && pfds[n - 1].revents != 0)
        _exit (0);
      for (guint i = 0; i < listeners->len; i++)
        {
          GThread *thread;
          int client;

          if (pfds[i].revents == 0)
            continue;
          client = accept4 (pfds[i].fd, NULL, NULL, SOCK_CLOEXEC);
          if (client < 0)
            continue;
          if (g_atomic_int_add (&n_connections, 1) >= MAX_CONNECTIONS)
            {
              g_atomic_int_add (&n_connections, -1);
              close (client);
              continue;
            }
          thread = g_thread_try_new ("connection", serve, GINT_TO_POINTER (client), NULL);
          if (thread == NULL)
            {
              g_atomic_int_add (&n_connections, -1);
              close (client);
              continue;
            }
          g_thread_unref (thread);
        }
    }
}

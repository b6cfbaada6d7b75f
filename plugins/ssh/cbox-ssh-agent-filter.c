/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cbox-ssh-agent-filter: the SSH agent as a sandbox sees it. A host helper
 * of the ssh forwarder (a plan helper, as xdg-dbus-proxy is for D-Bus): it
 * listens on a socket that is bound into the sandbox and, for each client,
 * opens one connection to the user's agent and relays only two requests:
 * listing the identities (the answer rebuilt with only the allowed keys)
 * and signing with an allowed key. Everything else the protocol has (add
 * or remove keys, remove all, lock and unlock with a password, smartcard
 * keys, extensions) gets SSH_AGENT_FAILURE from here and never reaches the
 * agent: a sandbox that could run `ssh-add -D` would empty the user's
 * agent, one that could add a key would make the user's ssh offer it, and
 * `ssh-add -x` would lock the agent with a password of the sandbox's
 * choosing. A message that is not one of the protocol (a length over 256
 * KiB, a request cut short or with bytes after its end) closes that client
 * only; the agent never sees it.
 *
 *   cbox-ssh-agent-filter --agent=PATH --listen=PATH --sync-fd=N
 *                         [--allow=SHA256:...]... [--verbose]
 *
 * --sync-fd is the plan helper's pipe: one byte is written there once the
 * socket listens, and when its other end closes (the run is over, or cbox
 * was killed, even with SIGKILL) the relay removes its socket and exits.
 *
 * One process, one poll() loop, non-blocking sockets: a client that stops
 * reading or writing holds only its own connection. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

#include "cbox-ssh-agent-msg.h"

/* Clients at once; more wait in the listen backlog. Each holds at most two
 * messages of CBOX_SSH_AGENT_MAX_MESSAGE. */
#define FILTER_MAX_CLIENTS 64

typedef enum
{
  CONN_READ_REQUEST,
  CONN_WRITE_AGENT,
  CONN_READ_AGENT,
  CONN_WRITE_CLIENT,
} ConnState;

/* One message being read: the 4-byte length, then the body. */
typedef struct
{
  guint8 header[4];
  gsize header_got;
  guint8 *body;
  guint32 body_len;
  gsize body_got;
} Incoming;

typedef struct
{
  int client_fd;
  int agent_fd;
  ConnState state;
  CboxSshAgentVerdict verdict;
  Incoming in;
  GBytes *out;
  gsize out_done;
} Conn;

static gboolean filter_verbose;

static void G_GNUC_PRINTF (1, 2) filter_log (const char *format, ...)
{
  va_list args;

  if (!filter_verbose)
    return;
  va_start (args, format);
  fputs ("cbox-ssh-agent-filter: ", stderr);
  vfprintf (stderr, format, args);
  fputc ('\n', stderr);
  va_end (args);
}

static void
incoming_reset (Incoming *in)
{
  g_clear_pointer (&in->body, g_free);
  in->header_got = 0;
  in->body_len = 0;
  in->body_got = 0;
}

static void
conn_free (Conn *conn)
{
  if (conn->client_fd >= 0)
    close (conn->client_fd);
  if (conn->agent_fd >= 0)
    close (conn->agent_fd);
  incoming_reset (&conn->in);
  g_clear_pointer (&conn->out, g_bytes_unref);
  g_free (conn);
}

/* Reads what is there of the message in @in from @fd. 1: complete; 0:
 * more to come; -1: the peer closed, failed, or sent a length that is no
 * message (0, or over CBOX_SSH_AGENT_MAX_MESSAGE). */
static int
incoming_read (Incoming *in, int fd, const char *who)
{
  for (;;)
    {
      guint8 *dest;
      gsize want;
      ssize_t n;

      if (in->header_got < sizeof in->header)
        {
          dest = in->header + in->header_got;
          want = sizeof in->header - in->header_got;
        }
      else
        {
          if (in->body == NULL)
            {
              in->body_len = ((guint32)in->header[0] << 24) | ((guint32)in->header[1] << 16)
                             | ((guint32)in->header[2] << 8) | (guint32)in->header[3];
              /* Checked before anything is allocated: the length is the
               * peer's word. */
              if (in->body_len == 0 || in->body_len > CBOX_SSH_AGENT_MAX_MESSAGE)
                {
                  filter_log ("%s sent a message of %u bytes: closing the connection", who,
                              in->body_len);
                  return -1;
                }
              in->body = g_malloc (in->body_len);
            }
          if (in->body_got == in->body_len)
            return 1;
          dest = in->body + in->body_got;
          want = in->body_len - in->body_got;
        }

      n = recv (fd, dest, want, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
      if (n <= 0)
        return -1;
      if (in->header_got < sizeof in->header)
        in->header_got += (gsize)n;
      else
        in->body_got += (gsize)n;
    }
}

/* Writes what it can of @conn->out to @fd. 1: all written; 0: more to
 * write; -1: failed. */
static int
conn_write (Conn *conn, int fd)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (conn->out, &len);

  while (conn->out_done < len)
    {
      ssize_t n = send (fd, data + conn->out_done, len - conn->out_done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
      if (n < 0)
        return -1;
      conn->out_done += (gsize)n;
    }
  g_clear_pointer (&conn->out, g_bytes_unref);
  conn->out_done = 0;
  return 1;
}

static GBytes *
filter_failure_message (void)
{
  static const guint8 failure[] = { 0, 0, 0, 1, CBOX_SSH_AGENT_FAILURE };
  return g_bytes_new_static (failure, sizeof failure);
}

/* A whole request from the client: decide, then answer it here or pass it
 * on. FALSE: close the client. */
static gboolean
conn_handle_request (Conn *conn, const char *const *allowed)
{
  const char *what = NULL;
  GByteArray *forward;

  conn->verdict = cbox_ssh_agent_check_request (conn->in.body, conn->in.body_len, allowed, &what);
  switch (conn->verdict)
    {
    case CBOX_SSH_AGENT_FORWARD_LIST:
    case CBOX_SSH_AGENT_FORWARD_SIGN:
      /* Exactly the bytes that were checked, nothing more. */
      forward = g_byte_array_sized_new (conn->in.body_len + 4);
      g_byte_array_append (forward, conn->in.header, sizeof conn->in.header);
      g_byte_array_append (forward, conn->in.body, conn->in.body_len);
      conn->out = g_byte_array_free_to_bytes (forward);
      conn->state = CONN_WRITE_AGENT;
      break;
    case CBOX_SSH_AGENT_REFUSE:
      filter_log ("refused: %s", what);
      conn->out = filter_failure_message ();
      conn->state = CONN_WRITE_CLIENT;
      break;
    case CBOX_SSH_AGENT_MALFORMED:
    default:
      filter_log ("malformed %s: closing the connection", what);
      return FALSE;
    }
  incoming_reset (&conn->in);
  return TRUE;
}

/* Moves @conn on as far as its sockets allow. FALSE: close it. */
static gboolean
conn_step (Conn *conn, short client_revents, short agent_revents, const char *const *allowed)
{
  int r;

  for (;;)
    {
      switch (conn->state)
        {
        case CONN_READ_REQUEST:
          if ((agent_revents & (POLLHUP | POLLERR | POLLNVAL)) != 0)
            return FALSE; /* the agent went away */
          if ((client_revents & (POLLIN | POLLHUP | POLLERR)) == 0)
            return TRUE;
          r = incoming_read (&conn->in, conn->client_fd, "a client");
          if (r <= 0)
            return r == 0;
          if (!conn_handle_request (conn, allowed))
            return FALSE;
          client_revents = 0;
          agent_revents = POLLOUT; /* try at once */
          break;

        case CONN_WRITE_AGENT:
          if ((agent_revents & (POLLOUT | POLLHUP | POLLERR)) == 0)
            return TRUE;
          r = conn_write (conn, conn->agent_fd);
          if (r <= 0)
            return r == 0;
          conn->state = CONN_READ_AGENT;
          agent_revents = POLLIN;
          break;

        case CONN_READ_AGENT:
          if ((client_revents & (POLLHUP | POLLERR | POLLNVAL)) != 0)
            return FALSE; /* nobody is left to answer */
          if ((agent_revents & (POLLIN | POLLHUP | POLLERR)) == 0)
            return TRUE;
          r = incoming_read (&conn->in, conn->agent_fd, "the agent");
          if (r <= 0)
            return r == 0;
          conn->out = cbox_ssh_agent_filter_answer (conn->verdict, conn->in.body, conn->in.body_len,
                                                    allowed);
          incoming_reset (&conn->in);
          if (conn->out == NULL)
            {
              filter_log ("the agent's answer does not fit the request: closing the connection");
              return FALSE;
            }
          conn->state = CONN_WRITE_CLIENT;
          client_revents = POLLOUT;
          agent_revents = 0;
          break;

        case CONN_WRITE_CLIENT:
        default:
          if ((client_revents & (POLLOUT | POLLHUP | POLLERR)) == 0)
            return TRUE;
          r = conn_write (conn, conn->client_fd);
          if (r <= 0)
            return r == 0;
          conn->state = CONN_READ_REQUEST;
          client_revents = POLLIN; /* a request may be waiting already */
          agent_revents = 0;
          break;
        }
    }
}

static short
conn_client_events (const Conn *conn)
{
  switch (conn->state)
    {
    case CONN_READ_REQUEST:
      return POLLIN;
    case CONN_WRITE_CLIENT:
      return POLLOUT;
    default:
      return 0; /* POLLHUP and POLLERR come anyway */
    }
}

static short
conn_agent_events (const Conn *conn)
{
  switch (conn->state)
    {
    case CONN_WRITE_AGENT:
      return POLLOUT;
    case CONN_READ_AGENT:
      return POLLIN;
    default:
      return 0;
    }
}

static int
filter_unix_socket (const char *path, struct sockaddr_un *ret_addr)
{
  memset (ret_addr, 0, sizeof *ret_addr);
  ret_addr->sun_family = AF_UNIX;
  if (strlen (path) >= sizeof ret_addr->sun_path)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  strcpy (ret_addr->sun_path, path);
  return socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
}

/* A new connection to the agent for one client: requests of different
 * clients never share a connection, as they would not with the agent
 * itself. -1 when the agent does not take it now. */
static int
filter_connect_agent (const char *agent_path)
{
  struct sockaddr_un addr;
  int fd = filter_unix_socket (agent_path, &addr);

  if (fd < 0)
    return -1;
  /* A unix socket connects at once or not at all (EAGAIN: the agent's
   * backlog is full); never wait for it here. */
  if (connect (fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    {
      int saved_errno = errno;
      close (fd);
      errno = saved_errno;
      return -1;
    }
  return fd;
}

static int
filter_listen (const char *path)
{
  struct sockaddr_un addr;
  int fd = filter_unix_socket (path, &addr);
  mode_t old_umask;
  int r;

  if (fd < 0)
    return -1;
  /* 0600: the folder is private to the user already, and inside the
   * sandbox only the user's processes need it. */
  old_umask = umask (0077);
  r = bind (fd, (struct sockaddr *)&addr, sizeof addr);
  umask (old_umask);
  if (r < 0 || listen (fd, 16) < 0)
    {
      int saved_errno = errno;
      close (fd);
      errno = saved_errno;
      return -1;
    }
  return fd;
}

static gboolean
filter_parse_fd (const char *value, int *ret_fd)
{
  char *end = NULL;
  long v;

  errno = 0;
  v = strtol (value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || v < 0 || v > G_MAXINT)
    return FALSE;
  *ret_fd = (int)v;
  return TRUE;
}

static void
filter_usage (const char *problem)
{
  fprintf (stderr,
           "cbox-ssh-agent-filter: %s\n"
           "usage: cbox-ssh-agent-filter --agent=PATH --listen=PATH --sync-fd=N "
           "[--allow=SHA256:...]... [--verbose]\n",
           problem);
}

int
main (int argc, char **argv)
{
  const char *agent_path = NULL;
  const char *listen_path = NULL;
  int sync_fd = -1;
  g_autoptr (GPtrArray) allowed = NULL;
  gboolean allow_all = TRUE;
  g_autoptr (GPtrArray) conns = g_ptr_array_new_with_free_func ((GDestroyNotify)conn_free);
  g_autofree struct pollfd *pfds = g_new0 (struct pollfd, 3 + 2 * FILTER_MAX_CLIENTS);
  const char *const *allowed_keys;
  sigset_t mask;
  int listen_fd, signal_fd;
  int status = 0;

  allowed = g_ptr_array_new_with_free_func (g_free);
  for (int i = 1; i < argc; i++)
    {
      const char *arg = argv[i];

      if (g_str_has_prefix (arg, "--agent="))
        agent_path = arg + strlen ("--agent=");
      else if (g_str_has_prefix (arg, "--listen="))
        listen_path = arg + strlen ("--listen=");
      else if (g_str_has_prefix (arg, "--sync-fd="))
        {
          if (!filter_parse_fd (arg + strlen ("--sync-fd="), &sync_fd))
            {
              filter_usage ("--sync-fd needs a file descriptor number");
              return 2;
            }
        }
      else if (g_str_has_prefix (arg, "--allow="))
        {
          const char *fingerprint = arg + strlen ("--allow=");
          if (!cbox_ssh_agent_fingerprint_is_valid (fingerprint))
            {
              g_autofree char *problem
                  = g_strdup_printf ("--allow: '%s' is not a SHA256 fingerprint", fingerprint);
              filter_usage (problem);
              return 2;
            }
          g_ptr_array_add (allowed, g_strdup (fingerprint));
          allow_all = FALSE;
        }
      else if (g_str_equal (arg, "--verbose"))
        filter_verbose = TRUE;
      else
        {
          g_autofree char *problem = g_strdup_printf ("unknown argument '%s'", arg);
          filter_usage (problem);
          return 2;
        }
    }
  if (agent_path == NULL || listen_path == NULL || agent_path[0] != '/' || listen_path[0] != '/')
    {
      filter_usage ("--agent and --listen need absolute paths");
      return 2;
    }
  g_ptr_array_add (allowed, NULL);
  allowed_keys = allow_all ? NULL : (const char *const *)allowed->pdata;

  /* SIGTERM, SIGINT, SIGHUP end the loop through a signalfd, so the
   * socket is removed on the way out; SIGPIPE never comes (MSG_NOSIGNAL),
   * and is ignored for good measure. */
  signal (SIGPIPE, SIG_IGN);
  sigemptyset (&mask);
  sigaddset (&mask, SIGTERM);
  sigaddset (&mask, SIGINT);
  sigaddset (&mask, SIGHUP);
  sigprocmask (SIG_BLOCK, &mask, NULL);
  signal_fd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd < 0)
    {
      fprintf (stderr, "cbox-ssh-agent-filter: signalfd: %s\n", g_strerror (errno));
      return 1;
    }
  if (sync_fd >= 0 && fcntl (sync_fd, F_SETFD, FD_CLOEXEC) < 0)
    {
      fprintf (stderr, "cbox-ssh-agent-filter: --sync-fd=%d: %s\n", sync_fd, g_strerror (errno));
      return 1;
    }

  listen_fd = filter_listen (listen_path);
  if (listen_fd < 0)
    {
      fprintf (stderr, "cbox-ssh-agent-filter: cannot listen on %s: %s\n", listen_path,
               g_strerror (errno));
      return 1;
    }
  if (sync_fd >= 0)
    {
      ssize_t n;
      do
        n = write (sync_fd, "x", 1);
      while (n < 0 && errno == EINTR);
      if (n != 1)
        {
          unlink (listen_path);
          return 1; /* cbox is gone already */
        }
    }

  for (;;)
    {
      nfds_t n = 0;
      int r;

      pfds[n++] = (struct pollfd){ .fd = signal_fd, .events = POLLIN };
      /* A pipe's write end reports POLLERR once its read end is closed. */
      pfds[n++] = (struct pollfd){ .fd = sync_fd, .events = 0 };
      pfds[n++] = (struct pollfd){ .fd = conns->len < FILTER_MAX_CLIENTS ? listen_fd : -1,
                                   .events = POLLIN };
      for (guint i = 0; i < conns->len; i++)
        {
          Conn *conn = g_ptr_array_index (conns, i);
          pfds[n++] = (struct pollfd){ .fd = conn->client_fd, .events = conn_client_events (conn) };
          pfds[n++] = (struct pollfd){ .fd = conn->agent_fd, .events = conn_agent_events (conn) };
        }

      r = poll (pfds, n, -1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          fprintf (stderr, "cbox-ssh-agent-filter: poll: %s\n", g_strerror (errno));
          status = 1;
          break;
        }
      if (pfds[0].revents != 0 || pfds[1].revents != 0)
        break;

      /* Connections first, in the order polled; then new clients. */
      for (guint i = conns->len; i > 0; i--)
        {
          Conn *conn = g_ptr_array_index (conns, i - 1);
          if (!conn_step (conn, pfds[3 + 2 * (i - 1)].revents, pfds[4 + 2 * (i - 1)].revents,
                          allowed_keys))
            g_ptr_array_remove_index (conns, i - 1);
        }

      if ((pfds[2].revents & POLLIN) != 0)
        {
          int client_fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
          int agent_fd;
          Conn *conn;

          if (client_fd < 0)
            continue;
          agent_fd = filter_connect_agent (agent_path);
          if (agent_fd < 0)
            {
              filter_log ("cannot connect to the agent at %s: %s", agent_path, g_strerror (errno));
              close (client_fd);
              continue;
            }
          conn = g_new0 (Conn, 1);
          conn->client_fd = client_fd;
          conn->agent_fd = agent_fd;
          conn->state = CONN_READ_REQUEST;
          g_ptr_array_add (conns, conn);
        }
    }

  unlink (listen_path);
  close (listen_fd);
  return status;
}

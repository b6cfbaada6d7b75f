/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The proxy's request parsing (cbox-netproxy-proto.h).
 *
 * Why a forwarded request is rewritten rather than passed on: the host
 * the proxy decides on is the one in the request line's URL, and the
 * server must see that same host. So the request line becomes
 * origin-form, every Host header is replaced by the URL's, and the
 * hop-by-hop headers (Connection, Proxy-Connection, Keep-Alive,
 * Proxy-Authorization) are dropped for one "Connection: close": the
 * proxy makes one server connection per client connection and then only
 * copies bytes, so whatever else the client sends on it (a body, a
 * second request) reaches the same, already allowed, server and nothing
 * else. Anything ambiguous (bare LF, folded headers, control bytes, two
 * spaces) is refused rather than guessed at.
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>

#include "cbox-netproxy-proto.h"

void
cbox_net_http_request_clear (CboxNetHttpRequest *request)
{
  if (request == NULL)
    return;
  g_clear_pointer (&request->method, g_free);
  g_clear_pointer (&request->forward, g_free);
  memset (request, 0, sizeof *request);
}

static CboxNetParse parse_error (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static CboxNetParse
parse_error (GError **error, const char *format, ...)
{
  va_list args;

  if (error == NULL)
    return CBOX_NET_PARSE_ERROR;
  g_return_val_if_fail (*error == NULL, CBOX_NET_PARSE_ERROR);
  va_start (args, format);
  *error = g_error_new_valist (CBOX_NET_RULES_ERROR, 0, format, args);
  va_end (args);
  return CBOX_NET_PARSE_ERROR;
}

/* RFC 9110's tchar: what a method or a header name is made of. */
static gboolean
is_tchar (char c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$%&'*+-.^_`|~", c) != NULL);
}

static gboolean
is_token (const char *text, gsize len)
{
  if (len == 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!is_tchar (text[i]))
      return FALSE;
  return TRUE;
}

static gboolean
header_is_dropped (const char *name, gsize len)
{
  static const char *const dropped[]
      = { "host", "connection", "proxy-connection", "keep-alive", "proxy-authorization" };

  for (gsize i = 0; i < G_N_ELEMENTS (dropped); i++)
    if (strlen (dropped[i]) == len && g_ascii_strncasecmp (name, dropped[i], len) == 0)
      return TRUE;
  return FALSE;
}

/* "http://authority/path": the host, port and origin-form target. */
static CboxNetParse
parse_absolute_target (const char *target, gsize len, CboxNetHttpRequest *request, char **ret_path,
                       GError **error)
{
  const char *authority, *end;
  g_autoptr (GError) local_error = NULL;

  if (len >= 8 && g_ascii_strncasecmp (target, "https://", 8) == 0)
    return parse_error (error, "https:// URLs go through CONNECT (set HTTPS_PROXY), the proxy "
                               "does not speak TLS");
  if (len < 7 || g_ascii_strncasecmp (target, "http://", 7) != 0)
    return parse_error (error, "the request's target is not an http:// URL (is the client "
                               "using the proxy as a server?)");
  authority = target + 7;
  end = authority;
  while (end < target + len && *end != '/' && *end != '?' && *end != '#')
    end++;
  if (memchr (authority, '@', (gsize)(end - authority)) != NULL)
    return parse_error (error, "credentials in the URL are refused");
  if (!cbox_net_host_port_parse (authority, (gsize)(end - authority), 80, &request->host,
                                 &request->port, &local_error))
    return parse_error (error, "the URL's host: %s", local_error->message);
  if (end == target + len || *end == '#')
    *ret_path = g_strdup ("/");
  else
    {
      const char *hash = memchr (end, '#', (gsize)(target + len - end));
      gsize path_len = (gsize)((hash != NULL ? hash : target + len) - end);

      *ret_path
          = *end == '?' ? g_strdup_printf ("/%.*s", (int)path_len, end) : g_strndup (end, path_len);
    }
  return CBOX_NET_PARSE_DONE;
}

CboxNetParse
cbox_net_http_request_parse (const char *data, gsize len, CboxNetHttpRequest *ret_request,
                             GError **error)
{
  g_auto (CboxNetHttpRequest) request = { 0 };
  g_autoptr (GString) forward = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GError) local_error = NULL;
  const char *head_end, *line, *end, *sp1, *sp2, *version;
  gsize head_len;

  g_return_val_if_fail (data != NULL || len == 0, CBOX_NET_PARSE_ERROR);
  g_return_val_if_fail (ret_request != NULL, CBOX_NET_PARSE_ERROR);

  if (memchr (data, '\0', MIN (len, CBOX_NET_HTTP_HEAD_MAX)) != NULL)
    return parse_error (error, "a NUL byte in the request head");
  head_end = g_strstr_len (data, (gssize)MIN (len, CBOX_NET_HTTP_HEAD_MAX), "\r\n\r\n");
  if (head_end == NULL)
    {
      if (len >= CBOX_NET_HTTP_HEAD_MAX)
        return parse_error (error, "a request head longer than %d bytes", CBOX_NET_HTTP_HEAD_MAX);
      return CBOX_NET_PARSE_MORE;
    }
  head_len = (gsize)(head_end - data) + 4;

  /* The request line: METHOD SP TARGET SP HTTP/1.x CRLF. */
  end = g_strstr_len (data, (gssize)head_len, "\r\n");
  sp1 = memchr (data, ' ', (gsize)(end - data));
  if (sp1 == NULL)
    return parse_error (error, "not an HTTP request line");
  sp2 = memchr (sp1 + 1, ' ', (gsize)(end - sp1 - 1));
  if (sp2 == NULL || memchr (sp2 + 1, ' ', (gsize)(end - sp2 - 1)) != NULL)
    return parse_error (error, "not an HTTP request line");
  if (!is_token (data, (gsize)(sp1 - data)) || sp1 - data > 32)
    return parse_error (error, "not an HTTP method");
  for (const char *p = sp1 + 1; p < sp2; p++)
    if (*p <= 0x20 || *p >= 0x7f)
      return parse_error (error, "a control byte, space or non-ASCII byte in the target");
  if (sp2 == sp1 + 1)
    return parse_error (error, "an empty request target");
  version = sp2 + 1;
  if (end - version != 8
      || (strncmp (version, "HTTP/1.1", 8) != 0 && strncmp (version, "HTTP/1.0", 8) != 0))
    return parse_error (error, "only HTTP/1.0 and HTTP/1.1 are spoken");
  request.method = g_strndup (data, (gsize)(sp1 - data));
  request.connect = strcmp (request.method, "CONNECT") == 0;

  if (request.connect)
    {
      if (!cbox_net_host_port_parse (sp1 + 1, (gsize)(sp2 - sp1 - 1), 0, &request.host,
                                     &request.port, &local_error))
        return parse_error (error, "CONNECT's target: %s", local_error->message);
    }
  else if (parse_absolute_target (sp1 + 1, (gsize)(sp2 - sp1 - 1), &request, &path, error)
           != CBOX_NET_PARSE_DONE)
    return CBOX_NET_PARSE_ERROR;

  forward = g_string_new (NULL);
  if (!request.connect)
    {
      g_string_append_printf (forward, "%s %s %.8s\r\nHost: ", request.method, path, version);
      if (request.host.kind == CBOX_NET_HOST_IPV6)
        g_string_append_printf (forward, "[%s]", request.host.name);
      else
        g_string_append (forward, request.host.name);
      if (request.port != 80)
        g_string_append_printf (forward, ":%u", request.port);
      g_string_append (forward, "\r\n");
    }

  /* The headers: NAME ":" VALUE CRLF each, checked even for CONNECT
   * (whose headers go nowhere) so that nothing odd is ever accepted. */
  for (line = end + 2; line < head_end + 2; line = end + 2)
    {
      const char *colon;

      end = g_strstr_len (line, (gssize)(head_end + 2 - line), "\r\n");
      if (line[0] == ' ' || line[0] == '\t')
        return parse_error (error, "a folded header line");
      colon = memchr (line, ':', (gsize)(end - line));
      if (colon == NULL || !is_token (line, (gsize)(colon - line)))
        return parse_error (error, "a header line without a valid name");
      for (const char *p = colon + 1; p < end; p++)
        if ((guchar)*p < 0x20 && *p != '\t')
          return parse_error (error, "a control byte in a header's value");
      if (*(colon - 1) == ' ')
        return parse_error (error, "white space before a header's ':'");
      if (!request.connect && !header_is_dropped (line, (gsize)(colon - line)))
        {
          g_string_append_len (forward, line, end - line);
          g_string_append (forward, "\r\n");
        }
    }
  if (!request.connect)
    {
      g_string_append (forward, "Connection: close\r\n\r\n");
      request.forward = g_string_free (g_steal_pointer (&forward), FALSE);
    }
  request.head_len = head_len;
  *ret_request = request;
  memset (&request, 0, sizeof request);
  return CBOX_NET_PARSE_DONE;
}

CboxNetParse
cbox_net_socks_greeting_parse (const guint8 *data, gsize len, gsize *ret_used,
                               gboolean *ret_no_auth, GError **error)
{
  gsize n;

  g_return_val_if_fail (data != NULL || len == 0, CBOX_NET_PARSE_ERROR);
  if (len < 2)
    return CBOX_NET_PARSE_MORE;
  if (data[0] != 5)
    return parse_error (error, "SOCKS version %u (only SOCKS5 is spoken)", data[0]);
  n = data[1];
  if (n == 0)
    return parse_error (error, "a SOCKS5 greeting without methods");
  if (len < 2 + n)
    return CBOX_NET_PARSE_MORE;
  *ret_no_auth = memchr (data + 2, 0, n) != NULL;
  *ret_used = 2 + n;
  return CBOX_NET_PARSE_DONE;
}

CboxNetParse
cbox_net_socks_request_parse (const guint8 *data, gsize len, gsize *ret_used, CboxNetHost *ret_host,
                              guint16 *ret_port, guint8 *ret_reply, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  gsize addr_len, used;
  const guint8 *addr;

  g_return_val_if_fail (data != NULL || len == 0, CBOX_NET_PARSE_ERROR);
  *ret_reply = CBOX_NET_SOCKS_FAILURE;
  if (len < 4)
    return CBOX_NET_PARSE_MORE;
  if (data[0] != 5 || data[2] != 0)
    return parse_error (error, "not a SOCKS5 request");
  if (data[1] != 1)
    {
      *ret_reply = CBOX_NET_SOCKS_COMMAND_UNSUPPORTED;
      return parse_error (error, "SOCKS5 command %u (only CONNECT: no BIND, no UDP)", data[1]);
    }
  switch (data[3])
    {
    case 1:
      addr = data + 4;
      addr_len = 4;
      break;
    case 4:
      addr = data + 4;
      addr_len = 16;
      break;
    case 3:
      if (len < 5)
        return CBOX_NET_PARSE_MORE;
      addr = data + 5;
      addr_len = data[4];
      if (addr_len == 0)
        {
          *ret_reply = CBOX_NET_SOCKS_HOST_UNREACHABLE;
          return parse_error (error, "an empty SOCKS5 domain name");
        }
      break;
    default:
      *ret_reply = CBOX_NET_SOCKS_ADDRESS_UNSUPPORTED;
      return parse_error (error, "SOCKS5 address type %u", data[3]);
    }
  used = (gsize)(addr - data) + addr_len + 2;
  if (len < used)
    return CBOX_NET_PARSE_MORE;
  *ret_port = (guint16)((addr[addr_len] << 8) | addr[addr_len + 1]);
  if (*ret_port == 0)
    {
      *ret_reply = CBOX_NET_SOCKS_HOST_UNREACHABLE;
      return parse_error (error, "port 0");
    }
  if (data[3] == 3)
    {
      if (!cbox_net_host_parse ((const char *)addr, addr_len, ret_host, &local_error))
        {
          *ret_reply = CBOX_NET_SOCKS_HOST_UNREACHABLE;
          return parse_error (error, "the SOCKS5 domain name: %s", local_error->message);
        }
    }
  else
    {
      memset (ret_host, 0, sizeof *ret_host);
      ret_host->kind = data[3] == 1 ? CBOX_NET_HOST_IPV4 : CBOX_NET_HOST_IPV6;
      memcpy (ret_host->addr, addr, addr_len);
      inet_ntop (data[3] == 1 ? AF_INET : AF_INET6, addr, ret_host->name, sizeof ret_host->name);
    }
  *ret_reply = CBOX_NET_SOCKS_OK;
  *ret_used = used;
  return CBOX_NET_PARSE_DONE;
}

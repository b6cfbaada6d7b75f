/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for what cbox-netproxy reads from a possibly hostile
 * sandbox and from the user's lists: the first byte picks the parser, the
 * rest is its input.
 *   0: an HTTP proxy request head; when accepted, the host is canonical
 *      (it reads back as itself), the port is not 0, the head ends with
 *      its blank line inside the input, and a forwarded head has exactly
 *      one blank line, at its end, and no NUL: nothing the client wrote
 *      can add a request or a header line of its own.
 *   1: a SOCKS5 greeting and CONNECT request, the same checks.
 *   2: an allowlist (--network=allow:LIST): when accepted, the canonical
 *      rules read back as themselves; the decision for a host never
 *      crashes.
 *   3: a host with an optional port.
 * Never a crash, a leak or a read out of bounds. */
#include <string.h>

#include "cbox-netproxy-proto.h"
#include "cbox-netproxy-rules.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
fuzz_check_host (const CboxNetHost *host)
{
  CboxNetHost again;

  if (!cbox_net_host_parse (host->name, strlen (host->name), &again, NULL)
      || strcmp (again.name, host->name) != 0 || again.kind != host->kind)
    __builtin_trap ();
}

static void
fuzz_http (const guint8 *data, size_t size)
{
  g_auto (CboxNetHttpRequest) request = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxNetRules) rules = cbox_net_rules_new (FALSE);
  CboxNetParse state = cbox_net_http_request_parse ((const char *)data, size, &request, &error);
  const char *blank;

  if (state == CBOX_NET_PARSE_ERROR)
    {
      if (error == NULL || !g_utf8_validate (error->message, -1, NULL))
        __builtin_trap ();
      return;
    }
  if (error != NULL)
    __builtin_trap ();
  if (state == CBOX_NET_PARSE_MORE)
    return;
  if (request.head_len < 4 || request.head_len > size
      || memcmp (data + request.head_len - 4, "\r\n\r\n", 4) != 0 || request.port == 0)
    __builtin_trap ();
  fuzz_check_host (&request.host);
  if (request.connect != (request.forward == NULL))
    __builtin_trap ();
  if (request.forward != NULL)
    {
      blank = strstr (request.forward, "\r\n\r\n");
      if (blank == NULL || blank[4] != '\0')
        __builtin_trap ();
      for (const char *p = request.forward; *p != '\0'; p++)
        if ((*p == '\r' && p[1] != '\n') || (*p == '\n' && (p == request.forward || p[-1] != '\r')))
          __builtin_trap ();
    }
  cbox_net_rules_add (rules, TRUE, "*.example.com", NULL);
  cbox_net_rules_check_host (rules, &request.host, request.port, NULL);
}

static void
fuzz_socks (const guint8 *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  CboxNetHost host;
  gboolean no_auth;
  guint16 port = 0;
  guint8 reply;
  gsize used = 0;

  if (cbox_net_socks_greeting_parse (data, size, &used, &no_auth, &error) != CBOX_NET_PARSE_DONE)
    return;
  if (used > size)
    __builtin_trap ();
  data += used;
  size -= used;
  if (cbox_net_socks_request_parse (data, size, &used, &host, &port, &reply, &error)
      != CBOX_NET_PARSE_DONE)
    return;
  if (used > size || port == 0 || reply != CBOX_NET_SOCKS_OK)
    __builtin_trap ();
  if (host.kind == CBOX_NET_HOST_NAME)
    fuzz_check_host (&host);
}

static void
fuzz_rules (const guint8 *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *)data, size);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) rules = cbox_net_rules_split (text, &error);
  g_autoptr (CboxNetRules) parsed = cbox_net_rules_new (FALSE);
  g_autofree char *joined = NULL;
  g_auto (GStrv) again = NULL;
  CboxNetHost host;

  if (rules == NULL)
    return;
  joined = g_strjoinv (",", rules);
  again = cbox_net_rules_split (joined, &error);
  if (again == NULL || !g_strv_equal ((const char *const *)rules, (const char *const *)again))
    __builtin_trap ();
  if (!cbox_net_rules_add_list (parsed, TRUE, joined, NULL))
    __builtin_trap ();
  if (cbox_net_host_parse ("a.example.com", 13, &host, NULL))
    cbox_net_rules_check_host (parsed, &host, 443, NULL);
}

static void
fuzz_host_port (const guint8 *data, size_t size)
{
  CboxNetHost host;
  guint16 port = 0;

  if (!cbox_net_host_port_parse ((const char *)data, size, 80, &host, &port, NULL))
    return;
  if (port == 0)
    __builtin_trap ();
  fuzz_check_host (&host);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  if (size == 0)
    return 0;
  switch (data[0] % 4)
    {
    case 0:
      fuzz_http (data + 1, size - 1);
      break;
    case 1:
      fuzz_socks (data + 1, size - 1);
      break;
    case 2:
      fuzz_rules (data + 1, size - 1);
      break;
    default:
      fuzz_host_port (data + 1, size - 1);
      break;
    }
  return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The network allowlist's proxy, cbox-netproxy: its host and rule parsing
 * and decisions, its HTTP and SOCKS5 request parsing (what a hostile
 * command sends), and the real program on a loopback port with a real
 * server behind it: allowed by address, denied with the rule logged, a
 * name that resolves to the host's loopback refused although allowed.
 * The same program inside a sandbox, against servers reached only through
 * it, is tested with each backend (plugins/bwrap/net/test-allowlist.sh). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "cbox-netproxy-proto.h"
#include "cbox-netproxy-rules.h"

/* ---- hosts -------------------------------------------------------------- */

static void
test_host_names (void)
{
  static const struct
  {
    const char *text, *canonical;
  } good[] = {
    { "example.com", "example.com" },
    { "Example.COM.", "example.com" },
    { "a_b.example-1.org", "a_b.example-1.org" },
    { "localhost", "localhost" },
    { "xn--bcher-kva.example", "xn--bcher-kva.example" },
  };
  static const char *const bad[] = {
    "",
    ".",
    "a..b",
    "-a.com",
    "a-.com",
    "ex ample.com",
    "a/b",
    "a@b.com",
    "exa*mple.com",
    /* Spellings the C library reads as 127.0.0.1 and friends. */
    "127.1",
    "0x7f000001",
    "2130706433",
    "0177.0.0.1",
    "foo.123",
    /* A label of 64 characters. */
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (GError) error = NULL;
      CboxNetHost host;

      g_assert_true (cbox_net_host_parse (good[i].text, strlen (good[i].text), &host, &error));
      g_assert_no_error (error);
      g_assert_cmpint (host.kind, ==, CBOX_NET_HOST_NAME);
      g_assert_cmpstr (host.name, ==, good[i].canonical);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      CboxNetHost host;

      g_test_message ("%s", bad[i]);
      g_assert_false (cbox_net_host_parse (bad[i], strlen (bad[i]), &host, &error));
      g_assert_error (error, CBOX_NET_RULES_ERROR, 0);
    }
  {
    g_autoptr (GError) error = NULL;
    GString *name = g_string_new (NULL);
    CboxNetHost host;

    /* 254 characters: one too many. */
    while (name->len < 254)
      g_string_append (name, "abcdefgh.");
    g_string_truncate (name, 250);
    g_string_append (name, ".com");
    g_assert_cmpuint (name->len, ==, 254);
    g_assert_false (cbox_net_host_parse (name->str, name->len, &host, &error));
    g_string_free (name, TRUE);
    /* A NUL inside. */
    g_clear_error (&error);
    g_assert_false (cbox_net_host_parse ("a.com\0.evil", 11, &host, &error));
    g_assert_error (error, CBOX_NET_RULES_ERROR, 0);
  }
}

static void
test_host_addresses (void)
{
  g_autoptr (GError) error = NULL;
  CboxNetHost host;
  guint16 port = 0;

  g_assert_true (cbox_net_host_parse ("192.0.2.1", 9, &host, &error));
  g_assert_cmpint (host.kind, ==, CBOX_NET_HOST_IPV4);
  g_assert_cmpstr (host.name, ==, "192.0.2.1");
  g_assert_true (cbox_net_host_parse ("[::1]", 5, &host, &error));
  g_assert_cmpint (host.kind, ==, CBOX_NET_HOST_IPV6);
  g_assert_cmpstr (host.name, ==, "::1");
  g_assert_true (cbox_net_host_parse ("2001:DB8::1", 11, &host, &error));
  g_assert_cmpstr (host.name, ==, "2001:db8::1");
  g_assert_false (cbox_net_host_parse ("[::1", 4, &host, &error));
  g_clear_error (&error);
  g_assert_false (cbox_net_host_parse ("fe80::1%eth0", 12, &host, &error));
  g_clear_error (&error);

  g_assert_true (cbox_net_host_port_parse ("a.com:22", 8, 80, &host, &port, &error));
  g_assert_cmpuint (port, ==, 22);
  g_assert_true (cbox_net_host_port_parse ("a.com", 5, 80, &host, &port, &error));
  g_assert_cmpuint (port, ==, 80);
  g_assert_true (cbox_net_host_port_parse ("[::1]:443", 9, 80, &host, &port, &error));
  g_assert_cmpint (host.kind, ==, CBOX_NET_HOST_IPV6);
  g_assert_cmpuint (port, ==, 443);
  g_assert_true (cbox_net_host_port_parse ("::1", 3, 80, &host, &port, &error));
  g_assert_cmpuint (port, ==, 80);
  g_assert_no_error (error);
  /* CONNECT needs its port. */
  g_assert_false (cbox_net_host_port_parse ("a.com", 5, 0, &host, &port, &error));
  g_clear_error (&error);
  for (guint i = 0; i < 5; i++)
    {
      static const char *const ports[]
          = { "a.com:0", "a.com:65536", "a.com:x", "a.com:", "a.com:+80" };

      g_assert_false (
          cbox_net_host_port_parse (ports[i], strlen (ports[i]), 80, &host, &port, &error));
      g_assert_error (error, CBOX_NET_RULES_ERROR, 0);
      g_clear_error (&error);
    }
}

/* ---- rules -------------------------------------------------------------- */

static void
test_rules_parse (void)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) split = NULL;
  static const char *const bad[] = { "*",    "git*.com", "*.192.0.2.1", "a.com:0", "a.com:99999",
                                     "[::1", "*.",       "a..com",      "127.1" };

  split = cbox_net_rules_split (" GitHub.com:22, *.Example.org\n192.0.2.7 [2001:db8::1]:443 ::1",
                                &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (split), ==, 5);
  g_assert_cmpstr (split[0], ==, "github.com:22");
  g_assert_cmpstr (split[1], ==, "*.example.org");
  g_assert_cmpstr (split[2], ==, "192.0.2.7");
  g_assert_cmpstr (split[3], ==, "[2001:db8::1]:443");
  g_assert_cmpstr (split[4], ==, "::1");
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_auto (GStrv) none = cbox_net_rules_split (bad[i], &error);

      g_test_message ("%s", bad[i]);
      g_assert_null (none);
      g_assert_error (error, CBOX_NET_RULES_ERROR, 0);
      /* The message names the rule. */
      g_assert_nonnull (strstr (error->message, bad[i]));
      g_clear_error (&error);
    }
  g_clear_pointer (&split, g_strfreev);
  split = cbox_net_rules_split ("  ", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (split), ==, 0);
}

static gboolean
check (CboxNetRules *rules, const char *host_text, guint16 port, const char **ret_rule)
{
  g_autoptr (GError) error = NULL;
  CboxNetHost host;

  g_assert_true (cbox_net_host_parse (host_text, strlen (host_text), &host, &error));
  g_assert_no_error (error);
  return cbox_net_rules_check_host (rules, &host, port, ret_rule);
}

static void
test_rules_match (void)
{
  g_autoptr (CboxNetRules) rules = cbox_net_rules_new (FALSE);
  g_autoptr (CboxNetRules) deny = cbox_net_rules_new (TRUE);
  g_autoptr (GError) error = NULL;
  const char *rule = NULL;

  g_assert_true (cbox_net_rules_add_list (
      rules, TRUE, "example.com *.github.com github.com:22 192.0.2.7 *.corp.test:8080", &error));
  g_assert_true (cbox_net_rules_add_list (rules, FALSE, "evil.github.com", &error));
  g_assert_no_error (error);

  g_assert_true (check (rules, "example.com", 443, &rule));
  g_assert_cmpstr (rule, ==, "allow:example.com");
  g_assert_true (check (rules, "EXAMPLE.com.", 80, &rule));
  /* An exact rule is that name only. */
  g_assert_false (check (rules, "www.example.com", 443, &rule));
  g_assert_cmpstr (rule, ==, "not in the allowlist");
  g_assert_false (check (rules, "notexample.com", 443, NULL));
  /* A wildcard is every name below, not the name itself... */
  g_assert_true (check (rules, "api.github.com", 443, &rule));
  g_assert_cmpstr (rule, ==, "allow:*.github.com");
  g_assert_true (check (rules, "a.b.github.com", 443, NULL));
  g_assert_false (check (rules, "xgithub.com", 443, NULL));
  g_assert_false (check (rules, "github.com.evil.test", 443, NULL));
  /* ...which github.com:22 allows on that port only. */
  g_assert_true (check (rules, "github.com", 22, &rule));
  g_assert_cmpstr (rule, ==, "allow:github.com:22");
  g_assert_false (check (rules, "github.com", 443, NULL));
  g_assert_true (check (rules, "x.corp.test", 8080, NULL));
  g_assert_false (check (rules, "x.corp.test", 80, NULL));
  /* Deny rules come first. */
  g_assert_false (check (rules, "evil.github.com", 443, &rule));
  g_assert_cmpstr (rule, ==, "deny:evil.github.com");
  /* An address only by an address rule. */
  g_assert_true (check (rules, "192.0.2.7", 443, &rule));
  g_assert_cmpstr (rule, ==, "allow:192.0.2.7");
  g_assert_false (check (rules, "192.0.2.8", 443, NULL));
  g_assert_false (check (rules, "::1", 443, NULL));

  /* deny:LIST: everything but. */
  g_assert_true (cbox_net_rules_add_list (deny, FALSE, "*.evil.test 198.51.100.1", &error));
  g_assert_true (check (deny, "example.com", 443, &rule));
  g_assert_cmpstr (rule, ==, "default (every host not denied)");
  g_assert_false (check (deny, "a.evil.test", 443, &rule));
  g_assert_cmpstr (rule, ==, "deny:*.evil.test");
  g_assert_false (check (deny, "198.51.100.1", 80, NULL));
  g_assert_true (check (deny, "evil.test", 80, NULL));
}

static gboolean
check_address (CboxNetRules *rules, const char *text, GPtrArray *local, const char **ret_rule)
{
  struct sockaddr_storage ss = { 0 };

  if (strchr (text, ':') != NULL)
    {
      struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

      a6->sin6_family = AF_INET6;
      g_assert_cmpint (inet_pton (AF_INET6, text, &a6->sin6_addr), ==, 1);
    }
  else
    {
      struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

      a4->sin_family = AF_INET;
      g_assert_cmpint (inet_pton (AF_INET, text, &a4->sin_addr), ==, 1);
    }
  return cbox_net_rules_check_address (rules, (struct sockaddr *)&ss, 443, local, ret_rule);
}

static void
test_rules_addresses (void)
{
  g_autoptr (CboxNetRules) rules = cbox_net_rules_new (FALSE);
  g_autoptr (GPtrArray) local = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  g_autoptr (GError) error = NULL;
  static const char *const host_local[]
      = { "127.0.0.1",       "127.3.4.5", "0.0.0.0", "169.254.169.254", "224.0.0.1",
          "255.255.255.255", "::1",       "::",      "fe80::1",         "ff02::1",
          "::ffff:127.0.0.1" };
  const guint8 own[4] = { 192, 0, 2, 99 };
  const char *rule = NULL;

  g_assert_true (cbox_net_rules_add_list (rules, TRUE, "127.0.0.2 a.test", &error));
  g_assert_true (cbox_net_rules_add_list (rules, FALSE, "198.51.100.1", &error));
  g_assert_no_error (error);
  g_ptr_array_add (local, g_bytes_new (own, 4));

  /* DNS rebinding: an allowed name that resolves to the host itself. */
  for (gsize i = 0; i < G_N_ELEMENTS (host_local); i++)
    {
      g_test_message ("%s", host_local[i]);
      g_assert_false (check_address (rules, host_local[i], local, &rule));
      g_assert_nonnull (strstr (rule, "the host's own address"));
    }
  g_assert_false (check_address (rules, "192.0.2.99", local, &rule));
  g_assert_nonnull (strstr (rule, "the host's own address"));
  g_assert_true (check_address (rules, "192.0.2.99", NULL, NULL));
  /* Listed by address: then it is the user's choice. */
  g_assert_true (check_address (rules, "127.0.0.2", local, &rule));
  g_assert_cmpstr (rule, ==, "allow:127.0.0.2");
  /* Private networks pass (the name had to be allowed first). */
  g_assert_true (check_address (rules, "10.1.2.3", local, &rule));
  g_assert_null (rule);
  g_assert_true (check_address (rules, "2001:db8::5", local, NULL));
  /* A denied address is denied whatever name led to it. */
  g_assert_false (check_address (rules, "198.51.100.1", local, &rule));
  g_assert_cmpstr (rule, ==, "deny:198.51.100.1");
}

/* ---- HTTP --------------------------------------------------------------- */

static CboxNetParse
parse_http (const char *text, CboxNetHttpRequest *request, GError **error)
{
  return cbox_net_http_request_parse (text, strlen (text), request, error);
}

static void
test_http_connect (void)
{
  g_auto (CboxNetHttpRequest) request = { 0 };
  g_autoptr (GError) error = NULL;
  const char *text = "CONNECT GitHub.com:443 HTTP/1.1\r\nHost: github.com:443\r\n"
                     "User-Agent: curl\r\n\r\n\x16\x03\x01";

  g_assert_cmpint (parse_http (text, &request, &error), ==, CBOX_NET_PARSE_DONE);
  g_assert_no_error (error);
  g_assert_true (request.connect);
  g_assert_cmpstr (request.host.name, ==, "github.com");
  g_assert_cmpuint (request.port, ==, 443);
  g_assert_null (request.forward);
  /* The TLS hello after the head is not part of it. */
  g_assert_cmpuint (request.head_len, ==, strlen (text) - 3);
}

static void
test_http_forward (void)
{
  g_auto (CboxNetHttpRequest) request = { 0 };
  g_autoptr (GError) error = NULL;
  const char *text = "GET http://Example.com:8080/a/b?c=d#frag HTTP/1.1\r\n"
                     "Host: evil.test\r\nProxy-Connection: keep-alive\r\n"
                     "Proxy-Authorization: Basic eA==\r\nAccept: */*\r\nconnection: Upgrade\r\n"
                     "Content-Length: 3\r\n\r\nabc";

  g_assert_cmpint (parse_http (text, &request, &error), ==, CBOX_NET_PARSE_DONE);
  g_assert_no_error (error);
  g_assert_false (request.connect);
  g_assert_cmpstr (request.method, ==, "GET");
  g_assert_cmpstr (request.host.name, ==, "example.com");
  g_assert_cmpuint (request.port, ==, 8080);
  /* Origin-form, the URL's host as Host, hop-by-hop headers gone. */
  g_assert_cmpstr (request.forward, ==,
                   "GET /a/b?c=d HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n"
                   "Content-Length: 3\r\nConnection: close\r\n\r\n");
  g_assert_cmpuint (request.head_len, ==, strlen (text) - 3);
  cbox_net_http_request_clear (&request);

  g_assert_cmpint (parse_http ("POST http://a.test?x HTTP/1.0\r\n\r\n", &request, &error), ==,
                   CBOX_NET_PARSE_DONE);
  g_assert_cmpstr (request.forward, ==,
                   "POST /?x HTTP/1.0\r\nHost: a.test\r\nConnection: close\r\n\r\n");
  cbox_net_http_request_clear (&request);
  g_assert_cmpint (parse_http ("GET http://[2001:db8::1]:81 HTTP/1.1\r\n\r\n", &request, &error),
                   ==, CBOX_NET_PARSE_DONE);
  g_assert_cmpint (request.host.kind, ==, CBOX_NET_HOST_IPV6);
  g_assert_true (
      g_str_has_prefix (request.forward, "GET / HTTP/1.1\r\nHost: [2001:db8::1]:81\r\n"));
  g_assert_no_error (error);
}

static void
test_http_incomplete (void)
{
  g_auto (CboxNetHttpRequest) request = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *huge = NULL;

  g_assert_cmpint (parse_http ("", &request, &error), ==, CBOX_NET_PARSE_MORE);
  g_assert_cmpint (parse_http ("CONNECT a.test:443 HTTP/1.1\r\n", &request, &error), ==,
                   CBOX_NET_PARSE_MORE);
  g_assert_cmpint (parse_http ("CONNECT a.test:443 HTTP/1.1\r\n\r", &request, &error), ==,
                   CBOX_NET_PARSE_MORE);
  g_assert_no_error (error);
  /* A head that never ends is cut off at the bound. */
  huge = g_strnfill (CBOX_NET_HTTP_HEAD_MAX, 'a');
  g_assert_cmpint (parse_http (huge, &request, &error), ==, CBOX_NET_PARSE_ERROR);
  g_assert_nonnull (strstr (error->message, "longer than"));
}

static void
test_http_bad (void)
{
  static const char *const bad[] = {
    "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",            /* not a proxy request */
    "GET https://a.test/ HTTP/1.1\r\n\r\n",              /* TLS without CONNECT */
    "GET ftp://a.test/ HTTP/1.1\r\n\r\n",                /* another scheme */
    "GET http://user:pw@a.test/ HTTP/1.1\r\n\r\n",       /* credentials */
    "GET http://127.1/ HTTP/1.1\r\n\r\n",                /* a disguised address */
    "CONNECT a.test HTTP/1.1\r\n\r\n",                   /* no port */
    "CONNECT a.test:0 HTTP/1.1\r\n\r\n",                 /* port 0 */
    "CONNECT a.test:443 HTTP/2.0\r\n\r\n",               /* another version */
    "CONNECT  a.test:443 HTTP/1.1\r\n\r\n",              /* two spaces */
    "CONNECT a.test:443 HTTP/1.1 x\r\n\r\n",             /* a fourth part */
    "CONNECT a.test:443\r\n\r\n",                        /* no version */
    "GET http://a.test/\x01 HTTP/1.1\r\n\r\n",           /* control byte in the target */
    "CONNECT a.test:443 HTTP/1.1\r\nX: a\r\n b\r\n\r\n", /* folded header */
    "CONNECT a.test:443 HTTP/1.1\r\nX : a\r\n\r\n",      /* space before ':' */
    "CONNECT a.test:443 HTTP/1.1\r\nno colon\r\n\r\n",   /* not a header */
    "CONNECT a.test:443 HTTP/1.1\r\nX: a\rb\r\n\r\n",    /* bare CR */
    "CONNECT a.test:443 HTTP/1.1\r\nX: a\nY: b\r\n\r\n", /* bare LF */
    "GET http://a.test:80:81/ HTTP/1.1\r\n\r\n",         /* two ports */
    "G(T http://a.test/ HTTP/1.1\r\n\r\n",               /* not a method */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_auto (CboxNetHttpRequest) request = { 0 };
      g_autoptr (GError) error = NULL;

      g_test_message ("%s", bad[i]);
      g_assert_cmpint (parse_http (bad[i], &request, &error), ==, CBOX_NET_PARSE_ERROR);
      g_assert_error (error, CBOX_NET_RULES_ERROR, 0);
      g_assert_null (request.method);
    }
  {
    g_auto (CboxNetHttpRequest) request = { 0 };
    g_autoptr (GError) error = NULL;

    g_assert_cmpint (
        cbox_net_http_request_parse ("CONNECT a\0b:443 HTTP/1.1\r\n\r\n", 27, &request, &error), ==,
        CBOX_NET_PARSE_ERROR);
    g_assert_error (error, CBOX_NET_RULES_ERROR, 0);
  }
}

/* ---- SOCKS5 ------------------------------------------------------------- */

static void
test_socks (void)
{
  g_autoptr (GError) error = NULL;
  CboxNetHost host;
  gboolean no_auth = FALSE;
  guint16 port = 0;
  guint8 reply = 0;
  gsize used = 0;
  const guint8 greeting[] = { 5, 2, 2, 0 };
  const guint8 auth_only[] = { 5, 1, 2 };
  const guint8 domain[]
      = { 5, 1, 0, 3, 10, 'G', 'i', 't', 'H', 'u', 'b', '.', 'c', 'o', 'm', 0, 22, 'x' };
  const guint8 ipv4[] = { 5, 1, 0, 1, 192, 0, 2, 7, 1, 187 };
  const guint8 ipv6[]
      = { 5, 1, 0, 4, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80 };
  const guint8 bind[] = { 5, 2, 0, 1, 192, 0, 2, 7, 1, 187 };
  const guint8 udp[] = { 5, 3, 0, 1, 192, 0, 2, 7, 1, 187 };
  const guint8 bad_name[] = { 5, 1, 0, 3, 5, '1', '2', '7', '.', '1', 0, 80 };
  const guint8 nul_name[] = { 5, 1, 0, 3, 3, 'a', 0, 'b', 0, 80 };
  const guint8 port0[] = { 5, 1, 0, 1, 192, 0, 2, 7, 0, 0 };
  const guint8 atyp[] = { 5, 1, 0, 9, 1, 2 };
  const guint8 socks4[] = { 4, 1, 0, 80, 1, 2, 3, 4, 0 };

  g_assert_cmpint (cbox_net_socks_greeting_parse (greeting, 1, &used, &no_auth, &error), ==,
                   CBOX_NET_PARSE_MORE);
  g_assert_cmpint (cbox_net_socks_greeting_parse (greeting, 3, &used, &no_auth, &error), ==,
                   CBOX_NET_PARSE_MORE);
  g_assert_cmpint (cbox_net_socks_greeting_parse (greeting, 4, &used, &no_auth, &error), ==,
                   CBOX_NET_PARSE_DONE);
  g_assert_true (no_auth);
  g_assert_cmpuint (used, ==, 4);
  g_assert_cmpint (cbox_net_socks_greeting_parse (auth_only, 3, &used, &no_auth, &error), ==,
                   CBOX_NET_PARSE_DONE);
  g_assert_false (no_auth);
  g_assert_cmpint (cbox_net_socks_greeting_parse (socks4, sizeof socks4, &used, &no_auth, &error),
                   ==, CBOX_NET_PARSE_ERROR);
  g_clear_error (&error);

  for (gsize n = 0; n < sizeof domain - 1; n++)
    g_assert_cmpint (cbox_net_socks_request_parse (domain, n, &used, &host, &port, &reply, &error),
                     ==, n < sizeof domain - 1 ? CBOX_NET_PARSE_MORE : CBOX_NET_PARSE_DONE);
  g_assert_cmpint (
      cbox_net_socks_request_parse (domain, sizeof domain, &used, &host, &port, &reply, &error), ==,
      CBOX_NET_PARSE_DONE);
  g_assert_no_error (error);
  g_assert_cmpint (host.kind, ==, CBOX_NET_HOST_NAME);
  g_assert_cmpstr (host.name, ==, "github.com");
  g_assert_cmpuint (port, ==, 22);
  g_assert_cmpuint (used, ==, sizeof domain - 1);
  g_assert_cmpint (
      cbox_net_socks_request_parse (ipv4, sizeof ipv4, &used, &host, &port, &reply, &error), ==,
      CBOX_NET_PARSE_DONE);
  g_assert_cmpint (host.kind, ==, CBOX_NET_HOST_IPV4);
  g_assert_cmpstr (host.name, ==, "192.0.2.7");
  g_assert_cmpuint (port, ==, 443);
  g_assert_cmpint (
      cbox_net_socks_request_parse (ipv6, sizeof ipv6, &used, &host, &port, &reply, &error), ==,
      CBOX_NET_PARSE_DONE);
  g_assert_cmpstr (host.name, ==, "2001:db8::1");

  {
    const struct
    {
      const guint8 *data;
      gsize len;
      guint8 reply;
    } bad[] = {
      { bind, sizeof bind, CBOX_NET_SOCKS_COMMAND_UNSUPPORTED },
      { udp, sizeof udp, CBOX_NET_SOCKS_COMMAND_UNSUPPORTED },
      { bad_name, sizeof bad_name, CBOX_NET_SOCKS_HOST_UNREACHABLE },
      { nul_name, sizeof nul_name, CBOX_NET_SOCKS_HOST_UNREACHABLE },
      { port0, sizeof port0, CBOX_NET_SOCKS_HOST_UNREACHABLE },
      { atyp, sizeof atyp, CBOX_NET_SOCKS_ADDRESS_UNSUPPORTED },
    };
    for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_clear_error (&error);
        g_assert_cmpint (cbox_net_socks_request_parse (bad[i].data, bad[i].len, &used, &host, &port,
                                                       &reply, &error),
                         ==, CBOX_NET_PARSE_ERROR);
        g_assert_error (error, CBOX_NET_RULES_ERROR, 0);
        g_assert_cmpuint (reply, ==, bad[i].reply);
      }
  }
}

/* ---- the program -------------------------------------------------------- */

/* A server on 127.0.0.1 that answers every connection with one line after
 * reading a request head, and keeps the last head it read. */
typedef struct
{
  int fd;
  guint16 port;
  GMutex lock;
  char *last_head;
} Server;

static gpointer
server_thread (gpointer data)
{
  Server *server = data;

  for (;;)
    {
      GString *head = g_string_new (NULL);
      int client = accept4 (server->fd, NULL, NULL, SOCK_CLOEXEC);
      static const char reply[] = "HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\r\ncbox-server-ok\n";
      char buf[4096];

      if (client < 0)
        {
          g_string_free (head, TRUE);
          return NULL;
        }
      while (strstr (head->str, "\r\n\r\n") == NULL)
        {
          ssize_t n = read (client, buf, sizeof buf);

          if (n <= 0)
            break;
          g_string_append_len (head, buf, n);
        }
      g_mutex_lock (&server->lock);
      g_free (server->last_head);
      server->last_head = g_string_free (head, FALSE);
      g_mutex_unlock (&server->lock);
      g_assert_cmpint (write (client, reply, strlen (reply)), ==, (gssize)strlen (reply));
      close (client);
    }
}

static int
listen_loopback (guint16 *ret_port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET };
  socklen_t len = sizeof addr;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (bind (fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (fd, 16), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *)&addr, &len), ==, 0);
  *ret_port = ntohs (addr.sin_port);
  return fd;
}

typedef struct
{
  GSubprocess *proxy;
  guint16 port;
  int log_fd;
} Proxy;

static void
proxy_start (Proxy *proxy, const char *mode, const char *allow, const char *deny)
{
  g_autofree char *path = g_build_filename (g_getenv ("CBOX_LIBEXEC_DIR"), "cbox-netproxy", NULL);
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  int ready[2];
  int listen_fd = listen_loopback (&proxy->port);
  char byte = 0;

  g_assert_true (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE));
  g_assert_cmpint (pipe2 (ready, O_CLOEXEC), ==, 0);
  proxy->log_fd = memfd_create ("log", MFD_CLOEXEC);
  g_assert_cmpint (proxy->log_fd, >=, 0);
  g_subprocess_launcher_take_fd (launcher, listen_fd, 3);
  g_subprocess_launcher_take_fd (launcher, ready[1], 4);
  g_subprocess_launcher_take_fd (launcher, dup (proxy->log_fd), 5);
  g_ptr_array_add (argv, g_strdup (path));
  g_ptr_array_add (argv, g_strdup_printf ("--mode=%s", mode));
  g_ptr_array_add (argv, g_strdup ("--listen-fd=3"));
  g_ptr_array_add (argv, g_strdup ("--ready-fd=4"));
  g_ptr_array_add (argv, g_strdup ("--log-fd=5"));
  if (allow != NULL)
    g_ptr_array_add (argv, g_strdup_printf ("--allow=%s", allow));
  if (deny != NULL)
    g_ptr_array_add (argv, g_strdup_printf ("--deny=%s", deny));
  g_ptr_array_add (argv, NULL);
  proxy->proxy = g_subprocess_launcher_spawnv (launcher, (const char *const *)argv->pdata, &error);
  g_assert_no_error (error);
  g_assert_cmpint (read (ready[0], &byte, 1), ==, 1);
  g_assert_cmpint (byte, ==, '1');
  close (ready[0]);
}

static char *
proxy_log (Proxy *proxy)
{
  GString *text = g_string_new (NULL);
  char buf[4096];
  ssize_t n;

  lseek (proxy->log_fd, 0, SEEK_SET);
  while ((n = read (proxy->log_fd, buf, sizeof buf)) > 0)
    g_string_append_len (text, buf, n);
  return g_string_free (text, FALSE);
}

static void
proxy_stop (Proxy *proxy)
{
  g_subprocess_force_exit (proxy->proxy);
  g_subprocess_wait (proxy->proxy, NULL, NULL);
  g_clear_object (&proxy->proxy);
  close (proxy->log_fd);
}

/* Sends @request to the proxy (and, when @then is not NULL, @then once
 * the first reply came), returns everything it answered until it closed. */
static char *
exchange (Proxy *proxy, const void *request, gsize len, const char *then)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (proxy->port) };
  GString *reply = g_string_new (NULL);
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  char buf[4096];
  ssize_t n;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (connect (fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  g_assert_cmpint (write (fd, request, len), ==, (gssize)len);
  if (then != NULL)
    {
      n = read (fd, buf, sizeof buf);
      g_assert_cmpint (n, >, 0);
      g_string_append_len (reply, buf, n);
      g_string_append (reply, "|");
      g_assert_cmpint (write (fd, then, strlen (then)), ==, (gssize)strlen (then));
    }
  while ((n = read (fd, buf, sizeof buf)) > 0)
    g_string_append_len (reply, buf, n);
  close (fd);
  /* SOCKS5 replies hold NUL bytes: shown as '@', so that the reply is a
   * string. */
  for (gsize i = 0; i < reply->len; i++)
    if (reply->str[i] == '\0')
      reply->str[i] = '@';
  return g_string_free (reply, FALSE);
}

static void
test_program (void)
{
  Server server = { 0 };
  Proxy proxy = { 0 };
  g_autofree char *allow = NULL;
  g_autofree char *request = NULL;
  g_autofree char *reply = NULL;
  g_autofree char *log = NULL;
  GThread *thread;

  server.fd = listen_loopback (&server.port);
  g_mutex_init (&server.lock);
  thread = g_thread_new ("server", server_thread, &server);
  /* The server's address, allowed as an address; and the name localhost,
   * allowed as a name, which resolves to the host's loopback. */
  allow = g_strdup_printf ("127.0.0.1:%u localhost", server.port);
  proxy_start (&proxy, "allow", allow, "127.0.0.1:1");

  /* Forwarded, with the head rewritten. */
  request = g_strdup_printf ("GET http://127.0.0.1:%u/x HTTP/1.1\r\nHost: evil.test\r\n"
                             "Proxy-Connection: keep-alive\r\n\r\n",
                             server.port);
  reply = exchange (&proxy, request, strlen (request), NULL);
  g_assert_true (g_str_has_suffix (reply, "cbox-server-ok\n"));
  g_mutex_lock (&server.lock);
  g_assert_true (g_str_has_prefix (server.last_head, "GET /x HTTP/1.1\r\nHost: 127.0.0.1:"));
  g_assert_null (strstr (server.last_head, "evil.test"));
  g_assert_null (strstr (server.last_head, "Proxy-Connection"));
  g_mutex_unlock (&server.lock);
  g_clear_pointer (&reply, g_free);
  g_clear_pointer (&request, g_free);

  /* A tunnel: what goes through it reaches the server unchanged. */
  request = g_strdup_printf ("CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n", server.port);
  reply = exchange (&proxy, request, strlen (request), "TUNNELED /y HTTP/1.0\r\n\r\n");
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 200 Connection established\r\n\r\n|"));
  g_assert_true (g_str_has_suffix (reply, "cbox-server-ok\n"));
  g_mutex_lock (&server.lock);
  g_assert_cmpstr (server.last_head, ==, "TUNNELED /y HTTP/1.0\r\n\r\n");
  g_mutex_unlock (&server.lock);
  g_clear_pointer (&reply, g_free);
  g_clear_pointer (&request, g_free);

  /* Not listed: 403, and the log says which host and why. */
  reply = exchange (&proxy, "CONNECT 192.0.2.1:443 HTTP/1.1\r\n\r\n",
                    strlen ("CONNECT 192.0.2.1:443 HTTP/1.1\r\n\r\n"), NULL);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 403 Forbidden\r\n"));
  g_clear_pointer (&reply, g_free);
  /* Allowed by name, but it resolves to the host's loopback (on another
   * port than the one allowed by address: a 403, not a failed connection). */
  request = g_strdup_printf ("GET http://localhost:%u/ HTTP/1.1\r\n\r\n", 9u);
  reply = exchange (&proxy, request, strlen (request), NULL);
  g_test_message ("%s", reply);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 403 Forbidden\r\n"));
  g_clear_pointer (&reply, g_free);
  g_clear_pointer (&request, g_free);
  /* Denied on top of allowed. */
  reply = exchange (&proxy, "CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n",
                    strlen ("CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n"), NULL);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 403 Forbidden\r\n"));
  g_clear_pointer (&reply, g_free);
  /* Nonsense gets a 400. */
  reply = exchange (&proxy, "GET / HTTP/1.1\r\n\r\n", strlen ("GET / HTTP/1.1\r\n\r\n"), NULL);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 400 Bad Request\r\n"));
  g_clear_pointer (&reply, g_free);

  /* SOCKS5 to the allowed address, and to a denied name. */
  {
    guint8 req[] = { 5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, server.port >> 8, server.port & 0xff };
    const guint8 denied[]
        = { 5, 1, 0, 5, 1, 0, 3, 8, 'e', 'v', 'i', 'l', '.', 'c', 'o', 'm', 0, 22 };

    reply = exchange (&proxy, req, sizeof req, "SOCKS /z HTTP/1.0\r\n\r\n");
    /* The greeting's answer (no authentication), then success. */
    g_assert_cmpint (reply[0], ==, 5);
    g_assert_cmpint (reply[1], ==, '@');
    g_assert_true (g_str_has_suffix (reply, "cbox-server-ok\n"));
    g_clear_pointer (&reply, g_free);
    reply = exchange (&proxy, denied, sizeof denied, NULL);
    g_assert_cmpint (reply[0], ==, 5);
    g_assert_cmpint (reply[1], ==, '@');
    g_assert_cmpint (reply[2], ==, 5);
    g_assert_cmpint (reply[3], ==, CBOX_NET_SOCKS_NOT_ALLOWED);
    g_clear_pointer (&reply, g_free);
  }

  log = proxy_log (&proxy);
  g_test_message ("%s", log);
  g_assert_nonnull (strstr (log, "denied connect 192.0.2.1:443 (not in the allowlist)"));
  g_assert_nonnull (strstr (log, "denied http localhost:"));
  g_assert_nonnull (strstr (log, "the host's own address"));
  g_assert_nonnull (strstr (log, "denied connect 127.0.0.1:1 (deny:127.0.0.1:1)"));
  g_assert_nonnull (strstr (log, "denied socks5 evil.com:22 (not in the allowlist)"));
  g_assert_nonnull (strstr (log, "allowed socks5 127.0.0.1:"));
  g_assert_nonnull (strstr (log, "refused a HTTP request"));
  proxy_stop (&proxy);

  shutdown (server.fd, SHUT_RDWR);
  close (server.fd);
  g_thread_join (thread);
  g_free (server.last_head);
}

/* deny:LIST lets everything else through, but still not the host's own
 * addresses. */
static void
test_program_deny_mode (void)
{
  Server server = { 0 };
  Proxy proxy = { 0 };
  g_autofree char *request = NULL;
  g_autofree char *reply = NULL;
  g_autofree char *log = NULL;
  GThread *thread;

  server.fd = listen_loopback (&server.port);
  g_mutex_init (&server.lock);
  thread = g_thread_new ("server", server_thread, &server);
  proxy_start (&proxy, "deny", NULL, "evil.test");
  request = g_strdup_printf ("CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n", server.port);
  reply = exchange (&proxy, request, strlen (request), NULL);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 403 Forbidden\r\n"));
  g_clear_pointer (&reply, g_free);
  reply = exchange (&proxy, "CONNECT evil.test:443 HTTP/1.1\r\n\r\n",
                    strlen ("CONNECT evil.test:443 HTTP/1.1\r\n\r\n"), NULL);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 403 Forbidden\r\n"));
  log = proxy_log (&proxy);
  g_assert_nonnull (strstr (log, "denied connect 127.0.0.1:"));
  g_assert_nonnull (strstr (log, "denied connect evil.test:443 (deny:evil.test)"));
  proxy_stop (&proxy);
  shutdown (server.fd, SHUT_RDWR);
  close (server.fd);
  g_thread_join (thread);
  g_free (server.last_head);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/netproxy/host/names", test_host_names);
  g_test_add_func ("/netproxy/host/addresses", test_host_addresses);
  g_test_add_func ("/netproxy/rules/parse", test_rules_parse);
  g_test_add_func ("/netproxy/rules/match", test_rules_match);
  g_test_add_func ("/netproxy/rules/host-local-addresses", test_rules_addresses);
  g_test_add_func ("/netproxy/http/connect", test_http_connect);
  g_test_add_func ("/netproxy/http/forward-rewritten", test_http_forward);
  g_test_add_func ("/netproxy/http/incomplete", test_http_incomplete);
  g_test_add_func ("/netproxy/http/bad-requests", test_http_bad);
  g_test_add_func ("/netproxy/socks5/requests", test_socks);
  g_test_add_func ("/netproxy/program/allow", test_program);
  g_test_add_func ("/netproxy/program/deny-mode", test_program_deny_mode);
  return g_test_run ();
}

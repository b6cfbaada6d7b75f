/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The allowlist's rules and the decision (cbox-netproxy-rules.h).
 *
 * What a rule means, decided here and summed up in docs/security.md:
 *
 * - "example.com" is that name only; "*.example.com" is every name below
 *   it and NOT example.com itself (as Anthropic's sandbox-runtime and
 *   TLS certificates read a wildcard): list both for both. A rule without
 *   a port allows every port of the host; "github.com:22" only that port.
 * - Names are compared in one canonical form (lower case, no final dot),
 *   and a name is refused outright when the C library would read it as an
 *   address ("127.1", "0x7f000001", "2130706433"): otherwise a deny rule
 *   for an address could be passed by spelling it as a name.
 * - An address (a client connecting to 192.0.2.7, or SOCKS5 with an IPv4
 *   field) is allowed only by a rule naming that address: a name rule
 *   never allows an address, whatever the name resolves to.
 * - Deny rules come first: a host both lists name is denied.
 * - Every address a name resolves to is checked again: the host's own
 *   addresses (loopback, link-local, including 169.254.169.254 of cloud
 *   metadata, unspecified, multicast, the host's interfaces) are refused
 *   unless a rule names that very address. An allowed name whose DNS an
 *   attacker controls could otherwise point at 127.0.0.1 (DNS
 *   rebinding) and reach the host's own services, which --network=on
 *   keeps out of reach too. Private networks (10/8, 192.168/16, ...) are
 *   not refused: an allowed internal git server is a normal use, and the
 *   name had to be allowed first.
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>

#include "cbox-netproxy-rules.h"

G_DEFINE_QUARK (cbox - net - rules - error - quark, cbox_net_rules_error)

typedef enum
{
  RULE_NAME = 1, /* exactly this name */
  RULE_SUFFIX,   /* every name below this one */
  RULE_ADDRESS,  /* exactly this address */
} RuleKind;

typedef struct
{
  RuleKind kind;
  gboolean allow;
  guint16 port; /* 0: every port */
  CboxNetHost host;
  char *text; /* "allow:RULE" or "deny:RULE", canonical */
} Rule;

struct _CboxNetRules
{
  gboolean default_allow;
  GArray *rules; /* of Rule */
};

static void
rule_clear (gpointer data)
{
  Rule *rule = data;

  g_free (rule->text);
}

CboxNetRules *
cbox_net_rules_new (gboolean default_allow)
{
  CboxNetRules *rules = g_new0 (CboxNetRules, 1);

  rules->default_allow = default_allow;
  rules->rules = g_array_new (FALSE, TRUE, sizeof (Rule));
  g_array_set_clear_func (rules->rules, rule_clear);
  return rules;
}

void
cbox_net_rules_free (CboxNetRules *rules)
{
  if (rules == NULL)
    return;
  g_array_unref (rules->rules);
  g_free (rules);
}

gboolean
cbox_net_rules_get_default_allow (const CboxNetRules *rules)
{
  return rules->default_allow;
}

static gboolean
host_error (GError **error, const char *text, gsize len, const char *why)
{
  g_autofree char *shown = g_utf8_make_valid (text, (gssize)MIN (len, (gsize)300));

  g_strdelimit (shown, "\r\n\t", ' ');
  g_set_error (error, CBOX_NET_RULES_ERROR, 0, "'%s': %s", shown, why);
  return FALSE;
}

static gboolean
is_name_byte (char c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '_' || c == '.';
}

gboolean
cbox_net_host_parse (const char *text, gsize len, CboxNetHost *ret_host, GError **error)
{
  char buf[CBOX_NET_HOST_MAX + 2];
  struct in_addr v4;
  const char *label;
  gboolean all_digits = TRUE;
  gsize label_len = 0;

  g_return_val_if_fail (text != NULL || len == 0, FALSE);
  g_return_val_if_fail (ret_host != NULL, FALSE);

  memset (ret_host, 0, sizeof *ret_host);
  if (len == 0)
    return host_error (error, "", 0, "an empty host name");
  if (memchr (text, '\0', len) != NULL)
    return host_error (error, text, len, "a host name with a NUL byte");

  /* An IPv6 address, in brackets (URLs, rules with a port) or not
   * (SOCKS5 domain fields, rules without a port). */
  if (text[0] == '[' || memchr (text, ':', len) != NULL)
    {
      const char *start = text;
      gsize n = len;
      char v6buf[INET6_ADDRSTRLEN + 1];

      if (text[0] == '[')
        {
          if (len < 2 || text[len - 1] != ']')
            return host_error (error, text, len, "an IPv6 address without its ']'");
          start++;
          n -= 2;
        }
      if (n == 0 || n >= sizeof v6buf)
        return host_error (error, text, len, "not an IPv6 address");
      memcpy (v6buf, start, n);
      v6buf[n] = '\0';
      /* inet_pton() takes no zone ("%eth0") and no other spelling. */
      if (inet_pton (AF_INET6, v6buf, ret_host->addr) != 1)
        return host_error (error, text, len, "not an IPv6 address");
      ret_host->kind = CBOX_NET_HOST_IPV6;
      inet_ntop (AF_INET6, ret_host->addr, ret_host->name, sizeof ret_host->name);
      return TRUE;
    }

  if (len > CBOX_NET_HOST_MAX + 1)
    return host_error (error, text, len, "a host name longer than 253 characters");
  memcpy (buf, text, len);
  buf[len] = '\0';
  /* The root's dot goes first, so that "0x7f000001." or "127.1." is judged
   * as the address spelling it is (and a name reads back as itself: the
   * fuzzer found "0x7f000001." accepted as a name whose canonical form,
   * without the dot, was refused). */
  if (buf[len - 1] == '.')
    buf[--len] = '\0';
  if (len == 0)
    return host_error (error, text, len + 1, "not a host name");
  /* A dotted quad, strictly (inet_pton: four decimal parts). */
  if (inet_pton (AF_INET, buf, ret_host->addr) == 1)
    {
      ret_host->kind = CBOX_NET_HOST_IPV4;
      inet_ntop (AF_INET, ret_host->addr, ret_host->name, sizeof ret_host->name);
      return TRUE;
    }
  /* Any other spelling the resolver reads as an address is refused. */
  if (inet_aton (buf, &v4) != 0)
    return host_error (error, text, len,
                       "an address in a form other than a dotted quad (write it as a.b.c.d)");

  if (len > CBOX_NET_HOST_MAX)
    return host_error (error, text, len, "not a host name");
  label = buf;
  for (gsize i = 0; i <= len; i++)
    {
      char c = buf[i];

      if (c == '.' || c == '\0')
        {
          if (label_len == 0)
            return host_error (error, text, len, "a host name with an empty label");
          if (label_len > 63)
            return host_error (error, text, len, "a host name with a label over 63 characters");
          if (label[0] == '-' || label[label_len - 1] == '-')
            return host_error (error, text, len, "a label that begins or ends with '-'");
          if (c == '\0' && all_digits)
            return host_error (error, text, len, "a host name whose last label is a number");
          label = buf + i + 1;
          label_len = 0;
          all_digits = TRUE;
          continue;
        }
      if (!is_name_byte (c))
        return host_error (error, text, len,
                           "a host name may hold only letters, digits, '-', '_' and '.'");
      if (!g_ascii_isdigit (c))
        all_digits = FALSE;
      label_len++;
    }
  ret_host->kind = CBOX_NET_HOST_NAME;
  for (gsize i = 0; i <= len; i++)
    ret_host->name[i] = g_ascii_tolower (buf[i]);
  return TRUE;
}

static gboolean
port_parse (const char *text, gsize len, guint16 *ret_port, GError **error)
{
  guint value = 0;

  if (len == 0 || len > 5)
    return host_error (error, text, len, "not a port (1 to 65535)");
  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isdigit (text[i]))
        return host_error (error, text, len, "not a port (1 to 65535)");
      value = value * 10 + (guint)(text[i] - '0');
    }
  if (value == 0 || value > 65535)
    return host_error (error, text, len, "not a port (1 to 65535)");
  *ret_port = (guint16)value;
  return TRUE;
}

/* @ret_port: 0 when no port is given. */
static gboolean
host_port_parse (const char *text, gsize len, CboxNetHost *ret_host, guint16 *ret_port,
                 GError **error)
{
  const char *colon = NULL;
  gsize host_len = len;
  guint n_colons = 0;

  if (len > 0 && text[0] == '[')
    {
      const char *close = memchr (text, ']', len);

      if (close == NULL)
        return host_error (error, text, len, "an IPv6 address without its ']'");
      host_len = (gsize)(close - text) + 1;
      if (host_len < len)
        {
          if (text[host_len] != ':')
            return host_error (error, text, len, "text after the IPv6 address's ']'");
          colon = text + host_len;
        }
    }
  else
    {
      for (gsize i = 0; i < len; i++)
        if (text[i] == ':')
          {
            n_colons++;
            colon = text + i;
          }
      /* Two colons or more: an IPv6 address without a port. */
      if (n_colons != 1)
        colon = NULL;
      if (colon != NULL)
        host_len = (gsize)(colon - text);
    }
  if (!cbox_net_host_parse (text, host_len, ret_host, error))
    return FALSE;
  *ret_port = 0;
  if (colon != NULL)
    return port_parse (colon + 1, len - (gsize)(colon + 1 - text), ret_port, error);
  return TRUE;
}

gboolean
cbox_net_host_port_parse (const char *text, gsize len, guint16 default_port, CboxNetHost *ret_host,
                          guint16 *ret_port, GError **error)
{
  g_return_val_if_fail (text != NULL || len == 0, FALSE);
  g_return_val_if_fail (ret_host != NULL && ret_port != NULL, FALSE);

  if (!host_port_parse (text, len, ret_host, ret_port, error))
    return FALSE;
  if (*ret_port != 0)
    return TRUE;
  if (default_port == 0)
    return host_error (error, text, len, "a host without its port");
  *ret_port = default_port;
  return TRUE;
}

static gboolean
rule_parse (const char *text, gboolean allow, Rule *ret_rule, GError **error)
{
  const char *host_text = text;
  gsize len = strlen (text);
  g_autoptr (GError) local_error = NULL;
  GString *canonical;

  memset (ret_rule, 0, sizeof *ret_rule);
  ret_rule->allow = allow;
  if (g_str_has_prefix (text, "*."))
    {
      ret_rule->kind = RULE_SUFFIX;
      host_text += 2;
      len -= 2;
    }
  else if (strcmp (text, "*") == 0)
    {
      g_set_error (error, CBOX_NET_RULES_ERROR, 0,
                   "'*': a rule for every host (--network=deny:LIST allows every host but "
                   "those listed)");
      return FALSE;
    }
  if (!host_port_parse (host_text, len, &ret_rule->host, &ret_rule->port, &local_error))
    {
      if (strchr (text + (ret_rule->kind == RULE_SUFFIX ? 2 : 0), '*') != NULL)
        g_set_error (error, CBOX_NET_RULES_ERROR, 0,
                     "'%s': '*' only as a whole first label ('*.example.com')", text);
      else
        {
          g_autofree char *start = g_strdup_printf ("'%s'", text);

          /* The message names the whole rule. */
          if (!g_str_has_prefix (local_error->message, start))
            g_prefix_error (&local_error, "in '%s': ", text);
          g_propagate_error (error, g_steal_pointer (&local_error));
        }
      return FALSE;
    }
  if (ret_rule->kind == RULE_SUFFIX && ret_rule->host.kind != CBOX_NET_HOST_NAME)
    {
      g_set_error (error, CBOX_NET_RULES_ERROR, 0,
                   "'%s': a wildcard takes a domain name, not an address", text);
      return FALSE;
    }
  if (ret_rule->kind == 0)
    ret_rule->kind = ret_rule->host.kind == CBOX_NET_HOST_NAME ? RULE_NAME : RULE_ADDRESS;

  canonical = g_string_new (allow ? "allow:" : "deny:");
  if (ret_rule->kind == RULE_SUFFIX)
    g_string_append (canonical, "*.");
  if (ret_rule->host.kind == CBOX_NET_HOST_IPV6 && ret_rule->port != 0)
    g_string_append_printf (canonical, "[%s]", ret_rule->host.name);
  else
    g_string_append (canonical, ret_rule->host.name);
  if (ret_rule->port != 0)
    g_string_append_printf (canonical, ":%u", ret_rule->port);
  ret_rule->text = g_string_free (canonical, FALSE);
  return TRUE;
}

gboolean
cbox_net_rules_add (CboxNetRules *rules, gboolean allow, const char *rule, GError **error)
{
  Rule parsed;

  g_return_val_if_fail (rules != NULL, FALSE);
  g_return_val_if_fail (rule != NULL, FALSE);
  if (!rule_parse (rule, allow, &parsed, error))
    return FALSE;
  g_array_append_val (rules->rules, parsed);
  return TRUE;
}

static GStrv
split_list (const char *list)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) parts = g_strsplit_set (list, ",; \t\n", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] != '\0')
      g_strv_builder_add (builder, parts[i]);
  return g_strv_builder_end (builder);
}

gboolean
cbox_net_rules_add_list (CboxNetRules *rules, gboolean allow, const char *list, GError **error)
{
  g_auto (GStrv) parts = NULL;

  g_return_val_if_fail (list != NULL, FALSE);
  parts = split_list (list);
  for (guint i = 0; parts[i] != NULL; i++)
    if (!cbox_net_rules_add (rules, allow, parts[i], error))
      return FALSE;
  return TRUE;
}

GStrv
cbox_net_rules_split (const char *list, GError **error)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) parts = NULL;

  g_return_val_if_fail (list != NULL, NULL);
  parts = split_list (list);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      Rule parsed;

      if (!rule_parse (parts[i], TRUE, &parsed, error))
        return NULL;
      /* Without the "allow:" the parse put in front. */
      g_strv_builder_add (builder, parsed.text + strlen ("allow:"));
      rule_clear (&parsed);
    }
  return g_strv_builder_end (builder);
}

static gboolean
rule_matches_host (const Rule *rule, const CboxNetHost *host, guint16 port)
{
  gsize n, m;

  if (rule->port != 0 && rule->port != port)
    return FALSE;
  switch (rule->kind)
    {
    case RULE_NAME:
      return host->kind == CBOX_NET_HOST_NAME && strcmp (host->name, rule->host.name) == 0;
    case RULE_SUFFIX:
      if (host->kind != CBOX_NET_HOST_NAME)
        return FALSE;
      n = strlen (host->name);
      m = strlen (rule->host.name);
      return n > m + 1 && host->name[n - m - 1] == '.'
             && strcmp (host->name + n - m, rule->host.name) == 0;
    case RULE_ADDRESS:
      if (host->kind != rule->host.kind)
        return FALSE;
      return memcmp (host->addr, rule->host.addr, host->kind == CBOX_NET_HOST_IPV4 ? 4 : 16) == 0;
    default:
      return FALSE;
    }
}

gboolean
cbox_net_rules_check_host (const CboxNetRules *rules, const CboxNetHost *host, guint16 port,
                           const char **ret_rule)
{
  const char *unused;

  g_return_val_if_fail (rules != NULL && host != NULL, FALSE);
  if (ret_rule == NULL)
    ret_rule = &unused;
  /* Deny rules first, whatever their order in the lists. */
  for (guint pass = 0; pass < 2; pass++)
    for (guint i = 0; i < rules->rules->len; i++)
      {
        const Rule *rule = &g_array_index (rules->rules, Rule, i);

        if (rule->allow == (pass == 0))
          continue;
        if (rule_matches_host (rule, host, port))
          {
            *ret_rule = rule->text;
            return rule->allow;
          }
      }
  *ret_rule = rules->default_allow ? "default (every host not denied)" : "not in the allowlist";
  return rules->default_allow;
}

/* The address of @addr as a host (IPv4-mapped IPv6 as IPv4). */
static gboolean
address_to_host (const struct sockaddr *addr, CboxNetHost *ret_host)
{
  memset (ret_host, 0, sizeof *ret_host);
  if (addr->sa_family == AF_INET)
    {
      memcpy (ret_host->addr, &((const struct sockaddr_in *)addr)->sin_addr, 4);
      ret_host->kind = CBOX_NET_HOST_IPV4;
    }
  else if (addr->sa_family == AF_INET6)
    {
      const struct in6_addr *a6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;

      if (IN6_IS_ADDR_V4MAPPED (a6))
        {
          memcpy (ret_host->addr, a6->s6_addr + 12, 4);
          ret_host->kind = CBOX_NET_HOST_IPV4;
        }
      else
        {
          memcpy (ret_host->addr, a6->s6_addr, 16);
          ret_host->kind = CBOX_NET_HOST_IPV6;
        }
    }
  else
    return FALSE;
  inet_ntop (ret_host->kind == CBOX_NET_HOST_IPV4 ? AF_INET : AF_INET6, ret_host->addr,
             ret_host->name, sizeof ret_host->name);
  return TRUE;
}

static gboolean
host_is_host_local (const CboxNetHost *host)
{
  const guint8 *a = host->addr;

  if (host->kind == CBOX_NET_HOST_IPV4)
    return a[0] == 0                       /* 0.0.0.0/8: "this host" */
           || a[0] == 127                  /* loopback */
           || (a[0] == 169 && a[1] == 254) /* link-local, cloud metadata */
           || a[0] >= 224;                 /* multicast, reserved, broadcast */
  if (host->kind == CBOX_NET_HOST_IPV6)
    {
      static const guint8 zero[15] = { 0 };

      return (memcmp (a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1)) /* ::, ::1 */
             || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)                /* fe80::/10 */
             || a[0] == 0xff;                                          /* multicast */
    }
  return TRUE;
}

gboolean
cbox_net_address_is_host_local (const struct sockaddr *addr)
{
  CboxNetHost host;

  return !address_to_host (addr, &host) || host_is_host_local (&host);
}

gboolean
cbox_net_rules_check_address (const CboxNetRules *rules, const struct sockaddr *addr, guint16 port,
                              GPtrArray *local, const char **ret_rule)
{
  CboxNetHost host;
  gboolean is_local;
  const char *unused;

  g_return_val_if_fail (rules != NULL && addr != NULL, FALSE);
  if (ret_rule == NULL)
    ret_rule = &unused;
  if (!address_to_host (addr, &host))
    {
      *ret_rule = "not an internet address";
      return FALSE;
    }
  for (guint i = 0; i < rules->rules->len; i++)
    {
      const Rule *rule = &g_array_index (rules->rules, Rule, i);

      if (!rule->allow && rule->kind == RULE_ADDRESS && rule_matches_host (rule, &host, port))
        {
          *ret_rule = rule->text;
          return FALSE;
        }
    }
  is_local = host_is_host_local (&host);
  for (guint i = 0; !is_local && local != NULL && i < local->len; i++)
    {
      GBytes *bytes = g_ptr_array_index (local, i);
      gsize size;
      const guint8 *data = g_bytes_get_data (bytes, &size);

      is_local = size == (host.kind == CBOX_NET_HOST_IPV4 ? 4u : 16u)
                 && memcmp (data, host.addr, size) == 0;
    }
  if (!is_local)
    {
      *ret_rule = NULL;
      return TRUE;
    }
  /* The host's own address: only when a rule names it. */
  for (guint i = 0; i < rules->rules->len; i++)
    {
      const Rule *rule = &g_array_index (rules->rules, Rule, i);

      if (rule->allow && rule->kind == RULE_ADDRESS && rule_matches_host (rule, &host, port))
        {
          *ret_rule = rule->text;
          return TRUE;
        }
    }
  *ret_rule = "the host's own address (loopback, link-local or an interface's), not listed "
              "by address";
  return FALSE;
}

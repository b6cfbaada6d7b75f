/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The network allowlist (--network=allow:LIST, --network=deny:LIST): its
 * rules, the host names and addresses they are matched against, and the
 * decision. Pure code on GLib and libc, shared by the planner (which
 * refuses a bad list before anything starts) and cbox-netproxy (which
 * decides every connection); fuzzed by tests/fuzz-netproxy.c. */
#pragma once

#include <glib.h>
#include <netinet/in.h>
#include <sys/socket.h>

G_BEGIN_DECLS

/* The domain of every error here (one code, 0): a refused host, rule or
 * request; the message says what and why. */
#define CBOX_NET_RULES_ERROR (cbox_net_rules_error_quark ())
GQuark cbox_net_rules_error_quark (void);

/* The longest host name (RFC 1035 without the final dot). */
#define CBOX_NET_HOST_MAX 253

typedef enum
{
  CBOX_NET_HOST_NAME = 1, /* a DNS name, lower case, no final dot */
  CBOX_NET_HOST_IPV4,
  CBOX_NET_HOST_IPV6,
} CboxNetHostKind;

/* A host as a client named it, checked and in one canonical form. */
typedef struct
{
  CboxNetHostKind kind;
  char name[CBOX_NET_HOST_MAX + 1]; /* NAME: the name; IPV4/IPV6: the address as text */
  guint8 addr[16];                  /* IPV4: 4 bytes, IPV6: 16 bytes */
} CboxNetHost;

/* Reads the host @text (@len bytes, not necessarily NUL-terminated; an
 * IPv6 address in brackets or not). FALSE with @error for anything that
 * is neither a valid DNS name nor a strict address: bytes outside
 * [A-Za-z0-9._-], empty or long labels, a numeric last label, and every
 * form the C library would read as an address although it is not a
 * dotted quad ("127.1", "0x7f000001", "2130706433"), so that no name
 * check can be passed by a spelling that resolves to an address. */
gboolean cbox_net_host_parse (const char *text, gsize len, CboxNetHost *ret_host, GError **error);

/* Reads "HOST", "HOST:PORT", "[V6]:PORT" (@default_port when no port is
 * given; 0 there makes the port mandatory). */
gboolean cbox_net_host_port_parse (const char *text, gsize len, guint16 default_port,
                                   CboxNetHost *ret_host, guint16 *ret_port, GError **error);

typedef struct _CboxNetRules CboxNetRules;

/* @default_allow: what a host no rule names gets (FALSE: --network=allow,
 * TRUE: --network=deny). */
CboxNetRules *cbox_net_rules_new (gboolean default_allow);
void cbox_net_rules_free (CboxNetRules *rules);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxNetRules, cbox_net_rules_free)

/* Adds one rule: "example.com", "*.example.com", "github.com:22",
 * "192.0.2.7", "[2001:db8::1]:443", "*.example.com:8080". FALSE with
 * @error naming the rule and what is wrong with it. */
gboolean cbox_net_rules_add (CboxNetRules *rules, gboolean allow, const char *rule, GError **error);
/* Adds every rule of @list (separated by commas, semicolons or white
 * space). */
gboolean cbox_net_rules_add_list (CboxNetRules *rules, gboolean allow, const char *list,
                                  GError **error);
/* The rules of @list, each checked, in a canonical spelling; NULL with
 * @error at the first bad one. */
GStrv cbox_net_rules_split (const char *list, GError **error);

gboolean cbox_net_rules_get_default_allow (const CboxNetRules *rules);

/* The decision for a host as the client named it: TRUE when it may be
 * connected to; @ret_rule (nullable) gets what decided (a rule as
 * "allow:RULE" or "deny:RULE", or "default"; owned by @rules). A name
 * that passes still has each of its addresses checked with
 * cbox_net_rules_check_address(). */
gboolean cbox_net_rules_check_host (const CboxNetRules *rules, const CboxNetHost *host,
                                    guint16 port, const char **ret_rule);

/* The decision for one address a name resolved to (or an address the
 * client named: then cbox_net_rules_check_host() came first): denied when
 * a deny rule names it, and when it is the host's own (loopback,
 * link-local, unspecified, multicast, one of @local addresses: the
 * host's interfaces, IPv4 in 4 bytes and IPv6 in 16) unless an allow rule
 * names that very address. */
gboolean cbox_net_rules_check_address (const CboxNetRules *rules, const struct sockaddr *addr,
                                       guint16 port, GPtrArray *local, const char **ret_rule);

/* TRUE for addresses that lead to the host itself or its link whatever
 * the network: loopback, link-local, unspecified, multicast, broadcast,
 * and the same inside IPv4-mapped IPv6. */
gboolean cbox_net_address_is_host_local (const struct sockaddr *addr);

G_END_DECLS

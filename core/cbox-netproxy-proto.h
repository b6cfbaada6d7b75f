/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What cbox-netproxy reads from the sandbox: an HTTP proxy request's head
 * (CONNECT host:port, or GET http://host/... to forward) and SOCKS5's
 * greeting and CONNECT request. Everything here is read from a possibly
 * hostile command, so it is strict, bounded and fuzzed
 * (tests/fuzz-netproxy.c). */
#pragma once

#include <glib.h>

#include "cbox-netproxy-rules.h"

G_BEGIN_DECLS

/* The longest request head the proxy reads: request line and headers. */
#define CBOX_NET_HTTP_HEAD_MAX (32 * 1024)

typedef enum
{
  CBOX_NET_PARSE_MORE = 0, /* incomplete: read more and call again */
  CBOX_NET_PARSE_DONE,     /* complete */
  CBOX_NET_PARSE_ERROR,    /* refused: @error says why */
} CboxNetParse;

typedef struct
{
  char *method;
  gboolean connect; /* CONNECT host:port: a tunnel; otherwise a request to forward */
  CboxNetHost host;
  guint16 port;
  char *forward;  /* not CONNECT: the head to send to the server (origin-form target,
                      its own Host, Connection: close); NULL for CONNECT */
  gsize head_len; /* the bytes of the input the head took, final blank line included */
} CboxNetHttpRequest;

void cbox_net_http_request_clear (CboxNetHttpRequest *request);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CboxNetHttpRequest, cbox_net_http_request_clear)

/* Reads the head of a proxy request from the first @len bytes of what the
 * client sent. Only HTTP/1.0 and 1.1, lines ending in CRLF, no folded
 * headers, no NUL or other control bytes, no credentials in the URL, only
 * http:// to forward (https:// goes through CONNECT). */
CboxNetParse cbox_net_http_request_parse (const char *data, gsize len,
                                          CboxNetHttpRequest *ret_request, GError **error);

/* SOCKS5 (RFC 1928) reply codes the proxy sends. */
#define CBOX_NET_SOCKS_OK 0x00
#define CBOX_NET_SOCKS_FAILURE 0x01
#define CBOX_NET_SOCKS_NOT_ALLOWED 0x02
#define CBOX_NET_SOCKS_HOST_UNREACHABLE 0x04
#define CBOX_NET_SOCKS_REFUSED 0x05
#define CBOX_NET_SOCKS_COMMAND_UNSUPPORTED 0x07
#define CBOX_NET_SOCKS_ADDRESS_UNSUPPORTED 0x08

/* The greeting: version 5 and the methods the client offers.
 * @ret_no_auth: whether it offers "no authentication" (the only one the
 * proxy speaks). */
CboxNetParse cbox_net_socks_greeting_parse (const guint8 *data, gsize len, gsize *ret_used,
                                            gboolean *ret_no_auth, GError **error);
/* The request: only CONNECT, to an IPv4 or IPv6 address or a domain name.
 * On CBOX_NET_PARSE_ERROR, @ret_reply has the reply code to send. */
CboxNetParse cbox_net_socks_request_parse (const guint8 *data, gsize len, gsize *ret_used,
                                           CboxNetHost *ret_host, guint16 *ret_port,
                                           guint8 *ret_reply, GError **error);

G_END_DECLS

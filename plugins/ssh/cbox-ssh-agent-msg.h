/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The part of the SSH agent protocol (draft-miller-ssh-agent) that
 * cbox-ssh-agent-filter speaks: which client requests may reach the host's
 * agent, and the agent's answers rebuilt for the client. Pure functions on
 * bytes, shared by the relay, its tests and its fuzz target. */

#include <glib.h>

G_BEGIN_DECLS

/* A message longer than this is refused (OpenSSH's ssh-agent and
 * ssh-agent-filter use the same bound): with it, a client cannot make the
 * relay hold more than this per connection. */
#define CBOX_SSH_AGENT_MAX_MESSAGE (256 * 1024)

#define CBOX_SSH_AGENT_FAILURE 5
#define CBOX_SSH_AGENT_SUCCESS 6
#define CBOX_SSH_AGENTC_REQUEST_IDENTITIES 11
#define CBOX_SSH_AGENT_IDENTITIES_ANSWER 12
#define CBOX_SSH_AGENTC_SIGN_REQUEST 13
#define CBOX_SSH_AGENT_SIGN_RESPONSE 14

typedef enum
{
  /* A request for the identities: forward it, filter the answer. */
  CBOX_SSH_AGENT_FORWARD_LIST,
  /* A signature with a key the sandbox may use: forward it. */
  CBOX_SSH_AGENT_FORWARD_SIGN,
  /* Well formed, not allowed: answer SSH_AGENT_FAILURE, keep the client. */
  CBOX_SSH_AGENT_REFUSE,
  /* Not a message of the protocol: close the client. */
  CBOX_SSH_AGENT_MALFORMED,
} CboxSshAgentVerdict;

/* "SHA256:" and the unpadded base64 of the SHA-256 of @blob, as
 * `ssh-keygen -l` and `ssh-add -l` print it. */
char *cbox_ssh_agent_fingerprint (const guint8 *blob, gsize len);

/* TRUE when @fingerprint looks like one cbox_ssh_agent_fingerprint()
 * makes ("SHA256:" and 43 base64 characters). */
gboolean cbox_ssh_agent_fingerprint_is_valid (const char *fingerprint);

/* The verdict on one client message (@body: without its 4-byte length,
 * at most CBOX_SSH_AGENT_MAX_MESSAGE). @allowed: the fingerprints of the
 * keys the sandbox may sign with, or NULL for every key of the agent.
 * @ret_what (nullable) gets a static description for the relay's log. */
CboxSshAgentVerdict cbox_ssh_agent_check_request (const guint8 *body, gsize len,
                                                  const char *const *allowed,
                                                  const char **ret_what);

/* The agent's answer (@body, without its length) to a request that got
 * verdict @verdict, checked and rebuilt: an identities answer with only
 * the @allowed keys (NULL: all), a signature or a failure as it is. The
 * result is a whole message, its length first. NULL when the answer is not
 * one the request can have (the relay then fails the client). */
GBytes *cbox_ssh_agent_filter_answer (CboxSshAgentVerdict verdict, const guint8 *body, gsize len,
                                      const char *const *allowed);

/* The key blob of a public key line ("ssh-ed25519 AAAA... comment", as in
 * a .pub file or authorized_keys without options); NULL when it is not one
 * (the type before the base64 must be the one inside it), and then
 * @ret_problem (nullable) says why. */
GBytes *cbox_ssh_agent_parse_public_key (const char *line, const char **ret_problem);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SSH agent messages cbox-ssh-agent-filter reads: every length is
 * checked against what is left before anything is read, nothing is kept
 * past the call, and a message with bytes left over is as malformed as one
 * cut short (a relay that forwarded the original bytes after parsing only a
 * prefix would let a request mean one thing here and another to the agent;
 * so nothing unparsed is forwarded). */
#include <string.h>

#include "cbox-ssh-agent-msg.h"

typedef struct
{
  const guint8 *p;
  gsize left;
} AgentReader;

static gboolean
agent_read_u32 (AgentReader *r, guint32 *ret_value)
{
  if (r->left < 4)
    return FALSE;
  *ret_value = ((guint32)r->p[0] << 24) | ((guint32)r->p[1] << 16) | ((guint32)r->p[2] << 8)
               | (guint32)r->p[3];
  r->p += 4;
  r->left -= 4;
  return TRUE;
}

/* An RFC 4251 string: a 4-byte length and that many bytes. */
static gboolean
agent_read_string (AgentReader *r, const guint8 **ret_data, guint32 *ret_len)
{
  guint32 len;

  if (!agent_read_u32 (r, &len) || len > r->left)
    return FALSE;
  *ret_data = r->p;
  *ret_len = len;
  r->p += len;
  r->left -= len;
  return TRUE;
}

static void
agent_put_u32 (GByteArray *out, guint32 value)
{
  guint8 bytes[4] = { value >> 24, value >> 16, value >> 8, value };
  g_byte_array_append (out, bytes, sizeof bytes);
}

static void
agent_put_string (GByteArray *out, const guint8 *data, guint32 len)
{
  agent_put_u32 (out, len);
  g_byte_array_append (out, data, len);
}

char *
cbox_ssh_agent_fingerprint (const guint8 *blob, gsize len)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize digest_len = sizeof digest;
  g_autofree char *base64 = NULL;
  char *end;

  g_checksum_update (checksum, blob, (gssize)len);
  g_checksum_get_digest (checksum, digest, &digest_len);
  base64 = g_base64_encode (digest, digest_len);
  /* OpenSSH prints it without the padding. */
  end = strchr (base64, '=');
  if (end != NULL)
    *end = '\0';
  return g_strconcat ("SHA256:", base64, NULL);
}

static gboolean
agent_is_base64_char (char c)
{
  return g_ascii_isalnum (c) || c == '+' || c == '/';
}

gboolean
cbox_ssh_agent_fingerprint_is_valid (const char *fingerprint)
{
  if (fingerprint == NULL || !g_str_has_prefix (fingerprint, "SHA256:"))
    return FALSE;
  fingerprint += strlen ("SHA256:");
  for (guint i = 0; i < 43; i++)
    if (!agent_is_base64_char (fingerprint[i]))
      return FALSE;
  return fingerprint[43] == '\0';
}

static gboolean
agent_key_is_allowed (const guint8 *blob, guint32 len, const char *const *allowed)
{
  g_autofree char *fingerprint = NULL;

  /* The fingerprint is a SHA-256 of the whole blob: the same key, and
   * nothing else, for as long as SHA-256 has no second preimages. */
  if (allowed == NULL)
    return TRUE;
  fingerprint = cbox_ssh_agent_fingerprint (blob, len);
  return g_strv_contains (allowed, fingerprint);
}

/* A key blob starts with its type, a non-empty string. */
static gboolean
agent_key_blob_is_valid (const guint8 *blob, guint32 len)
{
  AgentReader r = { blob, len };
  const guint8 *type;
  guint32 type_len;

  return agent_read_string (&r, &type, &type_len) && type_len > 0;
}

static const char *
agent_refused_what (guint8 type)
{
  /* The requests a sandbox must never make: each would change the host
   * agent (its keys, its lock) or reach beyond signing. */
  switch (type)
    {
    case 1: /* SSH_AGENTC_REQUEST_RSA_IDENTITIES */
    case 3: /* SSH_AGENTC_RSA_CHALLENGE */
      return "SSH protocol 1 request";
    case 7:  /* SSH_AGENTC_ADD_RSA_IDENTITY */
    case 17: /* SSH2_AGENTC_ADD_IDENTITY */
    case 24: /* SSH_AGENTC_ADD_RSA_ID_CONSTRAINED */
    case 25: /* SSH2_AGENTC_ADD_ID_CONSTRAINED */
      return "add identity";
    case 8:  /* SSH_AGENTC_REMOVE_RSA_IDENTITY */
    case 18: /* SSH2_AGENTC_REMOVE_IDENTITY */
      return "remove identity";
    case 9:  /* SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES */
    case 19: /* SSH2_AGENTC_REMOVE_ALL_IDENTITIES */
      return "remove all identities";
    case 20: /* SSH_AGENTC_ADD_SMARTCARD_KEY */
    case 26: /* SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED */
      return "add smartcard key";
    case 21: /* SSH_AGENTC_REMOVE_SMARTCARD_KEY */
      return "remove smartcard key";
    case 22: /* SSH_AGENTC_LOCK */
      return "lock";
    case 23: /* SSH_AGENTC_UNLOCK */
      return "unlock";
    case 27: /* SSH_AGENTC_EXTENSION (session-bind@openssh.com, query, ...) */
      return "extension";
    default:
      return "unknown request";
    }
}

CboxSshAgentVerdict
cbox_ssh_agent_check_request (const guint8 *body, gsize len, const char *const *allowed,
                              const char **ret_what)
{
  AgentReader r = { body, len };
  const char *what = "empty message";
  CboxSshAgentVerdict verdict = CBOX_SSH_AGENT_MALFORMED;

  if (len > 0 && len <= CBOX_SSH_AGENT_MAX_MESSAGE)
    {
      guint8 type = body[0];

      r.p++;
      r.left--;
      if (type == CBOX_SSH_AGENTC_REQUEST_IDENTITIES)
        {
          what = "request identities";
          verdict = r.left == 0 ? CBOX_SSH_AGENT_FORWARD_LIST : CBOX_SSH_AGENT_MALFORMED;
        }
      else if (type == CBOX_SSH_AGENTC_SIGN_REQUEST)
        {
          const guint8 *key, *data;
          guint32 key_len, data_len, flags;

          what = "sign request";
          if (!agent_read_string (&r, &key, &key_len) || !agent_key_blob_is_valid (key, key_len)
              || !agent_read_string (&r, &data, &data_len) || !agent_read_u32 (&r, &flags)
              || r.left != 0)
            verdict = CBOX_SSH_AGENT_MALFORMED;
          else if (!agent_key_is_allowed (key, key_len, allowed))
            {
              what = "sign request with a key not allowed";
              verdict = CBOX_SSH_AGENT_REFUSE;
            }
          else
            verdict = CBOX_SSH_AGENT_FORWARD_SIGN;
        }
      else
        {
          /* Refused as a whole, whatever follows the type: the agent never
           * sees it, so nothing in it needs to be understood. */
          what = agent_refused_what (type);
          verdict = CBOX_SSH_AGENT_REFUSE;
        }
    }
  else if (len > CBOX_SSH_AGENT_MAX_MESSAGE)
    what = "message too long";

  if (ret_what != NULL)
    *ret_what = what;
  return verdict;
}

static GBytes *
agent_frame (GByteArray *body)
{
  GByteArray *out = g_byte_array_sized_new (body->len + 4);

  agent_put_u32 (out, body->len);
  g_byte_array_append (out, body->data, body->len);
  return g_byte_array_free_to_bytes (out);
}

GBytes *
cbox_ssh_agent_filter_answer (CboxSshAgentVerdict verdict, const guint8 *body, gsize len,
                              const char *const *allowed)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  AgentReader r = { body, len };
  guint8 type;

  if (len == 0 || len > CBOX_SSH_AGENT_MAX_MESSAGE)
    return NULL;
  type = body[0];
  r.p++;
  r.left--;

  if (type == CBOX_SSH_AGENT_FAILURE)
    {
      if (r.left != 0)
        return NULL;
      g_byte_array_append (out, &type, 1);
      return agent_frame (out);
    }

  if (verdict == CBOX_SSH_AGENT_FORWARD_LIST && type == CBOX_SSH_AGENT_IDENTITIES_ANSWER)
    {
      guint32 n_keys, n_kept = 0;
      g_autoptr (GByteArray) keys = g_byte_array_new ();

      if (!agent_read_u32 (&r, &n_keys))
        return NULL;
      /* Each entry takes at least 8 bytes, so a count larger than what
       * is left fails at the first missing entry, without allocating. */
      for (guint32 i = 0; i < n_keys; i++)
        {
          const guint8 *key, *comment;
          guint32 key_len, comment_len;

          if (!agent_read_string (&r, &key, &key_len)
              || !agent_read_string (&r, &comment, &comment_len))
            return NULL;
          if (!agent_key_is_allowed (key, key_len, allowed))
            continue;
          agent_put_string (keys, key, key_len);
          agent_put_string (keys, comment, comment_len);
          n_kept++;
        }
      if (r.left != 0)
        return NULL;
      g_byte_array_append (out, &type, 1);
      agent_put_u32 (out, n_kept);
      g_byte_array_append (out, keys->data, keys->len);
      return agent_frame (out);
    }

  if (verdict == CBOX_SSH_AGENT_FORWARD_SIGN && type == CBOX_SSH_AGENT_SIGN_RESPONSE)
    {
      const guint8 *signature;
      guint32 signature_len;

      if (!agent_read_string (&r, &signature, &signature_len) || r.left != 0)
        return NULL;
      g_byte_array_append (out, body, (guint)len);
      return agent_frame (out);
    }
  return NULL;
}

GBytes *
cbox_ssh_agent_parse_public_key (const char *line, const char **ret_problem)
{
  g_auto (GStrv) words = NULL;
  g_autofree guint8 *blob = NULL;
  gsize blob_len = 0;
  gsize b64_len;
  AgentReader r;
  const guint8 *type;
  guint32 type_len;
  const char *problem = NULL;

  words = g_strsplit_set (line, " \t", 3);
  if (words[0] == NULL || words[1] == NULL || words[0][0] == '\0')
    problem = "not a public key line (expected TYPE BASE64 [COMMENT])";
  else
    {
      b64_len = strlen (words[1]);
      /* g_base64_decode() skips what is not base64; a key must be only that. */
      for (gsize i = 0; problem == NULL && i < b64_len; i++)
        if (!agent_is_base64_char (words[1][i]) && !(words[1][i] == '=' && i + 2 >= b64_len))
          problem = "the key is not base64";
      if (problem == NULL && (b64_len == 0 || b64_len % 4 != 0))
        problem = "the key is not base64";
    }
  if (problem == NULL)
    {
      blob = g_base64_decode (words[1], &blob_len);
      r = (AgentReader){ blob, blob_len };
      if (!agent_read_string (&r, &type, &type_len) || type_len != strlen (words[0])
          || memcmp (type, words[0], type_len) != 0)
        problem = "the key's type does not match the type before it";
    }
  if (problem != NULL)
    {
      if (ret_problem != NULL)
        *ret_problem = problem;
      return NULL;
    }
  return g_bytes_new_take (g_steal_pointer (&blob), blob_len);
}

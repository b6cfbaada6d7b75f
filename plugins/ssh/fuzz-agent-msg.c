/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the SSH agent messages cbox-ssh-agent-filter reads:
 * any input, taken as a client's request and as the agent's answer to
 * each kind of forwarded request, with and without a key allowlist, gets
 * a verdict or a rebuilt answer, never a crash, a leak or a read out of
 * bounds; and what the relay would send on is itself a well-formed
 * message that the same checks accept again. */
#include <string.h>

#include "cbox-ssh-agent-msg.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
fuzz_check_answer (CboxSshAgentVerdict verdict, const guint8 *data, size_t size,
                   const char *const *allowed)
{
  g_autoptr (GBytes) answer = cbox_ssh_agent_filter_answer (verdict, data, size, allowed);
  g_autoptr (GBytes) again = NULL;
  const guint8 *bytes;
  gsize len;
  guint32 framed;

  if (answer == NULL)
    return;
  bytes = g_bytes_get_data (answer, &len);
  if (len < 5)
    __builtin_trap ();
  framed = ((guint32)bytes[0] << 24) | ((guint32)bytes[1] << 16) | ((guint32)bytes[2] << 8)
           | (guint32)bytes[3];
  if (framed != len - 4)
    __builtin_trap ();
  /* Filtering what was filtered changes nothing. */
  again = cbox_ssh_agent_filter_answer (verdict, bytes + 4, len - 4, allowed);
  if (again == NULL || !g_bytes_equal (again, answer))
    __builtin_trap ();
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  /* The SHA-256 of nothing: a key no agent has, so an allowlist that
   * drops every key. */
  static const char *const allowed[]
      = { "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", NULL };
  const char *what = NULL;
  CboxSshAgentVerdict verdict;

  if (size > CBOX_SSH_AGENT_MAX_MESSAGE + 1)
    return 0;

  verdict = cbox_ssh_agent_check_request (data, size, NULL, &what);
  if (what == NULL)
    __builtin_trap ();
  if (verdict == CBOX_SSH_AGENT_FORWARD_LIST
      && (size != 1 || data[0] != CBOX_SSH_AGENTC_REQUEST_IDENTITIES))
    __builtin_trap ();
  if (verdict == CBOX_SSH_AGENT_FORWARD_SIGN && data[0] != CBOX_SSH_AGENTC_SIGN_REQUEST)
    __builtin_trap ();
  /* An allowlist can only take away. */
  if (cbox_ssh_agent_check_request (data, size, allowed, NULL) == CBOX_SSH_AGENT_FORWARD_SIGN
      && verdict != CBOX_SSH_AGENT_FORWARD_SIGN)
    __builtin_trap ();

  fuzz_check_answer (CBOX_SSH_AGENT_FORWARD_LIST, data, size, NULL);
  fuzz_check_answer (CBOX_SSH_AGENT_FORWARD_LIST, data, size, allowed);
  fuzz_check_answer (CBOX_SSH_AGENT_FORWARD_SIGN, data, size, NULL);

  /* A public key line, as [ssh] agent-keys takes it. */
  if (size < 4096 && memchr (data, '\0', size) == NULL)
    {
      g_autofree char *line = g_strndup ((const char *)data, size);
      g_autoptr (GBytes) blob = cbox_ssh_agent_parse_public_key (line, NULL);
      if (blob != NULL)
        g_free (
            cbox_ssh_agent_fingerprint (g_bytes_get_data (blob, NULL), g_bytes_get_size (blob)));
    }
  return 0;
}

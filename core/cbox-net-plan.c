/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The network allowlist in the plan: --network=allow:LIST / deny:LIST
 * read, the rules checked before anything starts (a bad rule is a usage
 * error, 125), and what the command needs to use the proxy.
 *
 * The command is told about the proxy through the variables every HTTP
 * client reads (http_proxy, https_proxy, all_proxy, no_proxy, in both
 * cases: curl reads only the lower-case http_proxy, other tools only the
 * upper-case ones), and git's ssh through GIT_SSH_COMMAND with
 * ProxyCommand `nc -X 5` (SOCKS5). A program that ignores them simply
 * gets no connection: there is no other route, so nothing depends on the
 * command's cooperation but its own success.
 */
#include "config.h"

#include <string.h>

#include "cbox-net-plan.h"
#include "cbox-netproxy-rules.h"
#include "cbox-private.h"
#include "cbox-project.h"

#define CBOX_NET_PROXY_HTTP "http://127.0.0.1:" G_STRINGIFY (CBOX_NET_PROXY_PORT)
#define CBOX_NET_PROXY_SOCKS "socks5h://127.0.0.1:" G_STRINGIFY (CBOX_NET_PROXY_PORT)

gboolean
cbox_net_plan_parse_option (const char *value, CboxNetworkMode *ret_mode, char **ret_list,
                            GError **error)
{
  const char *colon;
  g_autofree char *word = NULL;
  g_autoptr (GError) rule_error = NULL;
  g_auto (GStrv) rules = NULL;

  g_return_val_if_fail (value != NULL, FALSE);
  *ret_list = NULL;
  colon = strchr (value, ':');
  word = colon != NULL ? g_strndup (value, (gsize)(colon - value)) : g_strdup (value);
  if (!cbox_network_mode_from_string (word, ret_mode)
      || (colon != NULL && !cbox_network_mode_uses_proxy (*ret_mode)))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "use on, off, host, allow:HOSTS or deny:HOSTS");
      return FALSE;
    }
  if (colon == NULL)
    return TRUE;
  rules = cbox_net_rules_split (colon + 1, &rule_error);
  if (rules == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "%s; a rule is a host name, '*.domain', an address, each with an optional "
                   "':port', separated by ','",
                   rule_error->message);
      return FALSE;
    }
  *ret_list = g_strjoinv (",", rules);
  return TRUE;
}

static GStrv
cbox_net_plan_get_rules (GKeyFile *config, const char *key, GError **error)
{
  g_autofree char *text = g_key_file_get_string (config, "cbox", key, NULL);
  g_autoptr (GError) rule_error = NULL;
  GStrv rules;

  rules = cbox_net_rules_split (text != NULL ? text : "", &rule_error);
  if (rules == NULL)
    g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT, "[cbox] %s: %s", key,
                 rule_error->message);
  return rules;
}

gboolean
cbox_net_plan_fill (CboxPlan *plan, GKeyFile *config, const CboxHost *host, const char *project_dir,
                    GError **error)
{
  static const char *const http_names[]
      = { "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY" };
  CboxNetworkMode mode = cbox_plan_get_network_mode (plan);
  g_auto (GStrv) allow = NULL;
  g_auto (GStrv) deny = NULL;

  allow = cbox_net_plan_get_rules (config, "network-allow", error);
  if (allow == NULL)
    return FALSE;
  deny = cbox_net_plan_get_rules (config, "network-deny", error);
  if (deny == NULL)
    return FALSE;
  if (!cbox_network_mode_uses_proxy (mode))
    {
      /* A profile may carry a list a user turns on with network=allow;
       * until then it does nothing, and says so. */
      if (allow[0] != NULL || deny[0] != NULL)
        cbox_plan_add_note (plan,
                            "network-allow/network-deny are set but unused: --network=%s "
                            "(--network=allow or deny uses them)",
                            cbox_network_mode_to_string (mode));
      return TRUE;
    }
  /* deny:LIST allows every other host: an allow list there is moot. */
  if (mode == CBOX_NETWORK_DENY && allow[0] != NULL)
    cbox_plan_add_note (plan, "network-allow is unused with --network=deny (every host but "
                              "those denied is allowed)");
  cbox_plan_set_network_rules (plan, mode == CBOX_NETWORK_ALLOW ? (const char *const *)allow : NULL,
                               (const char *const *)deny);
  if (mode == CBOX_NETWORK_ALLOW && allow[0] == NULL)
    cbox_plan_add_note (plan, "the network allowlist is empty: every connection is refused "
                              "(list hosts with --network=allow:HOST,... or [cbox] "
                              "network-allow)");
  if (project_dir != NULL)
    {
      g_autofree char *state = cbox_project_state_dir (host, project_dir);
      g_autofree char *log = g_build_filename (state, "network.log", NULL);

      cbox_plan_set_network_log (plan, log);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (http_names); i++)
    cbox_plan_set_env (plan, http_names[i], CBOX_NET_PROXY_HTTP);
  cbox_plan_set_env (plan, "all_proxy", CBOX_NET_PROXY_SOCKS);
  cbox_plan_set_env (plan, "ALL_PROXY", CBOX_NET_PROXY_SOCKS);
  /* The sandbox's own loopback is its own: no proxy for it. */
  cbox_plan_set_env (plan, "no_proxy", "localhost,127.0.0.1,::1");
  cbox_plan_set_env (plan, "NO_PROXY", "localhost,127.0.0.1,::1");
  /* git over ssh through SOCKS5 (netcat-openbsd's nc). */
  cbox_plan_set_env (
      plan, "GIT_SSH_COMMAND",
      "ssh -o ProxyCommand='nc -X 5 -x 127.0.0.1:" G_STRINGIFY (CBOX_NET_PROXY_PORT) " %h %p'");
  return TRUE;
}

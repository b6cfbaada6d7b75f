/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The network allowlist's part of a plan (cbox-net-plan.c). */
#pragma once

#include <cbox/cbox-host.h>
#include <cbox/cbox-plan.h>

G_BEGIN_DECLS

/* Splits --network=allow:LIST and deny:LIST into the mode word and its
 * list (@ret_list NULL for a plain mode word). FALSE with @error (a hint
 * for the option's message, naming the bad rule) when it does not read. */
gboolean cbox_net_plan_parse_option (const char *value, CboxNetworkMode *ret_mode, char **ret_list,
                                     GError **error);

/* For CBOX_NETWORK_ALLOW and CBOX_NETWORK_DENY (the plan's mode must be
 * set): the rules from [cbox] network-allow and network-deny, the log in
 * the project's state, the proxy variables for the command, and notes.
 * Other modes: a note when lists are set but unused. FALSE with @error
 * for a list that does not read. */
gboolean cbox_net_plan_fill (CboxPlan *plan, GKeyFile *config, const CboxHost *host,
                             const char *project_dir, GError **error);

G_END_DECLS

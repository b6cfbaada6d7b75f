/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The bwrap plugin's pieces its unit tests call directly. */

#include <cbox/cbox-plugin.h>

G_BEGIN_DECLS

gboolean cbox_bwrap_version_at_least (const char *version, guint major, guint minor, guint micro);
char *cbox_bwrap_version_from_binary (const char *path);
char *cbox_bwrap_userns_problem (const CboxHost *host, uid_t uid);
gint64 cbox_bwrap_status_get (const char *status, const char *key);
char *cbox_bwrap_args_blob (const char *const *argv, gsize *ret_len);
gboolean cbox_bwrap_realize (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, GError **error);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* libcbox's internal API: shared by the core's own files and the cbox
 * executable, never installed. */

#include <cbox/cbox-plugin.h>

G_BEGIN_DECLS

/* ---- contexts (cbox-context.c) ----------------------------------------- */
CboxContext *cbox_context_new (CboxHost *host, GKeyFile *config, const char *plugin_name);
void cbox_context_free (CboxContext *ctx);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxContext, cbox_context_free)
void cbox_context_set_profile (CboxContext *ctx, const char *profile);
void cbox_context_set_instance_id (CboxContext *ctx, const char *instance_id);
void cbox_context_set_backend (CboxContext *ctx, const char *backend, CboxFeatures features);
void cbox_context_set_network (CboxContext *ctx, gboolean network);
void cbox_context_set_verbose (CboxContext *ctx, gboolean verbose);
void cbox_context_set_requested (CboxContext *ctx, gboolean requested);
void cbox_context_set_libexec_dir (CboxContext *ctx, const char *libexec_dir);

G_END_DECLS

G_BEGIN_DECLS
/* ---- launches (cbox-launch.c) -------------------------------------------- */
const int *cbox_launch_get_fds (CboxLaunch *launch, guint *ret_n_fds);
G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Text output: what cbox prints for plan, plugins, help on plugins and
 * doctor without --json; the twin of cbox-json.h. */

#include "cbox-doctor.h"
#include "cbox-planner.h"

G_BEGIN_DECLS

/* The plan as text, with the origin of each item. */
char *cbox_text_plan (CboxPlan *plan, CboxContext *backend_ctx);
/* Every plugin found, rejected ones with the reason. */
char *cbox_text_plugins (CboxRegistry *registry);
/* Help on every accepted plugin (@name NULL), or on the plugins that
 * answer to @name; NULL when none does. */
char *cbox_text_plugin_help (CboxRegistry *registry, const char *name);
/* `cbox doctor`'s report. */
char *cbox_text_doctor (CboxDoctorReport *report, const CboxHost *host);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The planner: the one path shared by `cbox run`, `cbox plan` and
 * `cbox doctor` (see docs/architecture.md). */

#include "cbox-private.h"
#include "cbox-registry.h"
#include "cbox-request.h"

G_BEGIN_DECLS

typedef struct _CboxPlanner CboxPlanner;

/* The name Claude Code gives the folder of @project_dir under
 * ~/.claude/projects: every character but A-Z a-z 0-9 becomes '-' (one per
 * UTF-16 unit, as JavaScript counts). NULL when that is over 200
 * characters (Claude then cuts it and adds a hash cbox cannot compute). */
char *cbox_planner_project_folder_name (const char *project_dir);

CboxPlanner *cbox_planner_new (CboxRegistry *registry, CboxHost *host, CboxRequest *request);
void cbox_planner_free (CboxPlanner *planner);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxPlanner, cbox_planner_free)

/* Selects and probes the backend and the forwarders, fills the plan and
 * realizes it with the backend: everything `cbox plan` shows. No side
 * effects on the host. Errors are CBOX_ERROR_*: the caller exits 125. */
gboolean cbox_planner_build (CboxPlanner *planner, GError **error);
/* After cbox_planner_build(): makes the [cbox] mkdir folders, runs the
 * forwarders' prepare, the backend's run (or cbox_launch_run()) and the
 * forwarders' cleanup (also on failure). @ret_status: the command's exit
 * status as cbox returns it. */
gboolean cbox_planner_run (CboxPlanner *planner, int *ret_status, GError **error);

CboxPlan *cbox_planner_get_plan (CboxPlanner *planner);
CboxLaunch *cbox_planner_get_launch (CboxPlanner *planner);
CboxContext *cbox_planner_get_backend_context (CboxPlanner *planner);

/* "device binds and unix-socket binds". */
char *cbox_features_describe_all (CboxFeatures features);

G_END_DECLS

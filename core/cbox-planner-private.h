/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The planner's state, shared by the files that make up the planner:
 * cbox-planner.c (the plan), cbox-session.c (the run), cbox-doctor.c. */

#include "cbox-planner.h"
#include "cbox-project.h"
#include "cbox-protect.h"

G_BEGIN_DECLS

/* A vtable member exists when the plugin's table is long enough to hold it. */
#define CBOX_VTABLE_HAS(vtable, type, member)                                                      \
  ((vtable)->struct_size >= G_STRUCT_OFFSET (type, member) + sizeof ((vtable)->member)             \
   && (vtable)->member != NULL)

typedef struct
{
  CboxPluginInfo *info;
  const CboxPluginDesc *desc;
  gboolean requested; /* named directly, or through an alias with one member */
  GPtrArray *aliases; /* aliases of several members it was requested through */
  char *origin;
  CboxContext *ctx;
  CboxProbeResult *probe;
  gboolean available;
  gboolean dropped;
} CboxChosen;

struct _CboxPlanner
{
  CboxRegistry *registry;
  CboxHost *host;
  CboxRequest *request;
  char *instance_id;
  CboxProtect *protect; /* the protected paths' snapshot, for after the run */
  char *libexec_dir;
  const CboxPluginDesc *backend_desc;
  CboxContext *backend_ctx;
  CboxProbeResult *backend_probe;
  GPtrArray *chosen; /* CboxChosen, in contribute order */
  CboxPlan *plan;
  CboxLaunch *launch;
  gboolean built;
  gint64 start_time; /* for the times -v prints */
  /* Aliases of several plugins asked for ("display") -> why members were
   * dropped ("\n  x11: DISPLAY is not set"): an alias fails only when none
   * of its members is left. */
  GHashTable *alias_reasons;
  /* This run's entry for `cbox ps`, made once the tool was spawned. */
  CboxInstance *instance;
  gboolean registered;
};

void cbox_planner_log (CboxPlanner *planner, const char *format, ...) G_GNUC_PRINTF (2, 3);
void cbox_planner_enter_plugin (const char *plugin, const char *what, guint timeout_s);
gboolean cbox_planner_leave_plugin (const char *kind, const char *plugin, const char *what,
                                    gboolean ok, GError **local_error, GError **error);
CboxContext *cbox_planner_make_context (CboxPlanner *planner, const char *name, gboolean requested);
/* cbox-session.c */
gboolean cbox_planner_make_dirs (CboxPlanner *planner, GError **error);

G_END_DECLS

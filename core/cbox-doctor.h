/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* `cbox doctor`: every plugin probed, each in a child process of its own
 * (cbox-doctor.c); printed by cbox-text.c or cbox-json.c. */

#include "cbox-planner.h"

G_BEGIN_DECLS

/* `cbox doctor`: what one plugin's probe found. */
typedef struct
{
  char *name;
  CboxPluginKind kind;
  char *version;
  CboxProbeStatus status;
  char *reason;
  char **details;           /* alternating keys and values */
  gboolean checked_backend; /* forwarder, and the backend is known */
  gboolean backend_compatible;
  char *incompatibility; /* the sentence a run would print, or NULL */
  gboolean rejected;     /* the loader refused it; reason says why */
} CboxDoctorEntry;

typedef struct
{
  char *backend;
  char *profile;
  GPtrArray *entries; /* CboxDoctorEntry, in registry order */
  CboxNetworkMode network;
  char *network_problem; /* why the network mode cannot work here, or NULL */
  int landlock_abi;      /* the kernel's Landlock ABI, 0 without Landlock */
  /* bwrap's shared network: network-keep's seconds, 0 for a helper per
   * run, -1 where no network is shared (another mode or backend). */
  int network_keep;
} CboxDoctorReport;

void cbox_doctor_report_free (CboxDoctorReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxDoctorReport, cbox_doctor_report_free)

/* Probes every accepted plugin (no plan is made). Never fails: a probe
 * that fails is reported as unavailable with its error. */
CboxDoctorReport *cbox_planner_doctor (CboxRegistry *registry, CboxHost *host,
                                       CboxRequest *request);

const char *cbox_plugin_kind_to_string (CboxPluginKind kind);

G_END_DECLS

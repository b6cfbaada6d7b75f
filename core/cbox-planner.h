/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The planner: the one path shared by `cbox run`, `cbox plan` and
 * `cbox doctor` (see docs/architecture.md). */

#include "cbox-private.h"
#include "cbox-registry.h"

G_BEGIN_DECLS

typedef enum
{
  CBOX_FORWARD_OP_ADD,    /* add a name or alias */
  CBOX_FORWARD_OP_REMOVE, /* --no-forward */
  CBOX_FORWARD_OP_CLEAR,  /* --forward=none */
} CboxForwardOpKind;

typedef struct
{
  CboxForwardOpKind kind;
  char *name;
  /* ADD: TRUE when unavailability is an error (option, profile), FALSE for
   * defaults and forward-optional (skipped when unavailable). */
  gboolean requested;
  char *origin; /* "config", "profile", "cli" */
} CboxForwardOp;

typedef enum
{
  CBOX_BIND_RO,
  CBOX_BIND_RW,
  CBOX_BIND_COPY,
} CboxBindKind;

typedef struct
{
  CboxBindKind kind;
  char *src;  /* absolute host path */
  char *dest; /* absolute, normalized path inside */
  gboolean allow_missing;
  char *origin;
  char *link; /* the path as given, when it led to @src through symlinks */
} CboxBindRequest;

typedef struct
{
  char *name;
  char *value; /* NULL: pass the host's value, when set and not empty */
  char *origin;
} CboxEnvRequest;

/* An --allow-project path, or a protect / unprotect entry. */
typedef struct
{
  char *path;
  gboolean remove; /* unprotect */
  char *origin;
} CboxPathRequest;

/**
 * CboxRequest:
 *
 * What the user asked for, from configuration, profile and command line
 * together (built by cbox-cli.c).
 */
typedef struct
{
  char *backend;
  GPtrArray *forward_ops; /* CboxForwardOp, in the order given */
  CboxNetworkMode network;
  GArray *publish; /* CboxPublishedPort: --publish, [cbox] publish, in order */
  /* [cbox] allow-userns (or the older [bwrap] one) */
  gboolean allow_userns;
  char **command;    /* the command; never NULL when planning */
  char *project_dir; /* canonical, real */
  GPtrArray *binds;  /* CboxBindRequest */
  GPtrArray *env;    /* CboxEnvRequest */
  char **mkdirs;     /* host directories made before a run (~/.claude) */
  /* CboxPathRequest: real paths a project may be although the rule of
   * cbox_project_refusal() refuses them (--allow-project). */
  GPtrArray *allow_projects;
  /* CboxPathRequest: [cbox] protect / unprotect entries, in order. */
  GPtrArray *protect_ops;
  /* CboxPathRequest: [cbox] project-folder, absolute host folders of
   * which only this project's entry is shown (~/.claude/projects). */
  GPtrArray *project_folders;
  char *usr_dir; /* [cbox] usr, or NULL */
  char *profile; /* or NULL */
  gboolean verbose;
  GKeyFile *config; /* merged, what plugins see */
  /* Where each key of a plugin group was set (CboxConfigKeyOrigin), for
   * cbox_config_check_plugin_keys() once the plugins are known; or NULL. */
  GPtrArray *config_keys;
  /* FALSE when no configuration file has a `forward` key: the forwarders
   * whose descriptor says default_enabled are the defaults then. */
  gboolean has_default_forwards;
  /* TRUE for `cbox run`: the backend may start its tool early
   * (CboxBackendVTable.prestart). */
  gboolean will_run;
} CboxRequest;

CboxRequest *cbox_request_new (void);
void cbox_request_free (CboxRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxRequest, cbox_request_free)
void cbox_request_add_forward_op (CboxRequest *request, CboxForwardOpKind kind, const char *name,
                                  gboolean requested, const char *origin);
void cbox_request_add_bind (CboxRequest *request, CboxBindKind kind, const char *src,
                            const char *dest, gboolean allow_missing, const char *origin);
void cbox_request_add_env (CboxRequest *request, const char *name, const char *value,
                           const char *origin);
void cbox_request_add_path (GPtrArray *list, const char *path, gboolean remove, const char *origin);

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
} CboxDoctorReport;

void cbox_doctor_report_free (CboxDoctorReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxDoctorReport, cbox_doctor_report_free)

/* Probes every accepted plugin (no plan is made). Never fails: a probe
 * that fails is reported as unavailable with its error. */
CboxDoctorReport *cbox_planner_doctor (CboxRegistry *registry, CboxHost *host,
                                       CboxRequest *request);

const char *cbox_plugin_kind_to_string (CboxPluginKind kind);
/* "device binds and unix-socket binds". */
char *cbox_features_describe_all (CboxFeatures features);

G_END_DECLS

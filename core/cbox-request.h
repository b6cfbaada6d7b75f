/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The request: what the user asked for, from configuration, profile and
 * command line together, and how cbox-request.c builds it; the planner
 * (cbox-planner.h) turns it into a plan. */

#include "cbox-private.h"

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
 * together (built by cbox_cli_make_request(), in cbox-request.c).
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
/* For the planner, which applies the operations to a list of its own. */
void cbox_forward_op_free (CboxForwardOp *op);
void cbox_request_add_forward_op_to (GPtrArray *ops, CboxForwardOpKind kind, const char *name,
                                     gboolean requested, const char *origin);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Per-project state and the running-sandbox registry (docs/projects.md).
 *
 * Each project (its canonical path) has a folder
 * $XDG_STATE_HOME/cbox/projects/<basename>-<hash>: `local` and `tmp` back
 * the sandbox's ~/.local and /tmp when [cbox] persist asks for them, and
 * `running/` holds one entry per `cbox run` of the project, for `cbox ps`,
 * `cbox enter` and `cbox stop`. */

#include "cbox-request.h"
#include "cbox-private.h"

G_BEGIN_DECLS

typedef enum
{
  CBOX_PERSIST_NONE = 0,
  CBOX_PERSIST_LOCAL = 1 << 0, /* ~/.local <- state/local */
  CBOX_PERSIST_TMP = 1 << 1,   /* /tmp <- state/tmp */
} CboxPersist;

/* "<basename>-<12 hex of SHA-256 of the path>", the basename reduced to
 * [A-Za-z0-9._-] (any other byte becomes '_', no leading '.'), at most 40
 * bytes of it. */
char *cbox_project_state_name (const char *project_dir);
/* $XDG_STATE_HOME/cbox/projects (~/.local/state/... when unset, relative,
 * or when cbox runs as root on somebody's behalf). */
char *cbox_project_state_root (const CboxHost *host);
char *cbox_project_state_dir (const CboxHost *host, const char *project_dir);

/* The project directory of `--project=DIR` (@given, may be NULL: @cwd),
 * canonical and real, as `cbox run` finds it. */
char *cbox_project_resolve_dir (const char *given, const char *cwd, GError **error);

/* The rule that refuses @real (a real path) as a project, or NULL when it
 * may be one: the root, the home, a folder above the home, a system
 * folder. @ret_can_allow (nullable): FALSE when no allow-project can
 * override it (the root). */
const char *cbox_project_refusal (const CboxHost *host, const char *real, gboolean *ret_can_allow);
/* Why @real (resolved) may not be written whole by a sandbox because it is
 * a folder on the caller's PATH; NULL when it is not one. Read-only binds
 * of such a folder are fine. */
const char *cbox_project_path_refusal (const char *real);
/* TRUE when @real may be the project: not refused, or allowed by an entry
 * of @allow_projects (CboxPathRequest, real paths), which then adds a
 * warning note to @plan (nullable). Else CBOX_ERROR_INVALID_ARGUMENT with
 * the rule and the override. */
gboolean cbox_project_check_allowed (const CboxHost *host, const char *real,
                                     GPtrArray *allow_projects, CboxPlan *plan, GError **error);

/* @dir, or the nearest folder above it, that has a running sandbox; NULL
 * when none has (`cbox enter` from a subfolder of the project). */
char *cbox_project_find_running (const CboxHost *host, const char *dir);

/* [cbox] persist of @config: local, tmp; absent means local. */
gboolean cbox_project_get_persist (GKeyFile *config, CboxPersist *ret_persist, GError **error);

/* Adds the persisted directories to @plan (origin "project"): call after
 * the base plan's system part, before forwarders and user binds. No side
 * effects: cbox_project_prepare() makes the folders. */
gboolean cbox_project_add_to_plan (CboxPlan *plan, const CboxHost *host, GKeyFile *config,
                                   const char *project_dir, GError **error);
/* Refuses a plan whose items would be made through a symlink inside a
 * persisted folder (one an earlier run planted): see the comment inside. */
gboolean cbox_project_check_persisted (const CboxPlan *plan, GError **error);
/* Makes the state folders a run needs (0700, owned by the target user).
 * `cbox run` calls it before planning; when it fails the run goes on
 * without them (with a warning). */
gboolean cbox_project_prepare (const CboxHost *host, GKeyFile *config, const char *project_dir,
                               GError **error);

/* ---- the running-sandbox registry ---------------------------------------- */

/* One `cbox run` while it runs: state/running/<id> (a key file) beside
 * <id>.lock, flock'ed by the run for its whole life. Freeing it removes
 * both. */
typedef struct _CboxInstance CboxInstance;

/* @allow_userns: the plan's (cbox enter loads the same seccomp filter). */
CboxInstance *cbox_instance_register (const CboxHost *host, const char *project_dir, const char *id,
                                      const char *backend, const char *profile,
                                      const char *const *command, gboolean allow_userns,
                                      GError **error);
void cbox_instance_set_sandbox_pid (CboxInstance *instance, pid_t pid);
void cbox_instance_free (CboxInstance *instance);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxInstance, cbox_instance_free)

/* What `cbox ps` shows of one entry. */
typedef struct
{
  char *id;
  char *backend;
  char *project; /* the canonical project path (any bytes) */
  char *profile; /* or NULL */
  char **command;
  char *started;  /* ISO 8601, UTC */
  pid_t cbox_pid; /* the `cbox run` process */
  guint64 cbox_start_time;
  pid_t sandbox_pid; /* 0: the backend did not say */
  guint64 sandbox_start_time;
  char *running_dir;
  gboolean allow_userns; /* the run's [cbox] allow-userns */
} CboxInstanceInfo;

void cbox_instance_info_free (CboxInstanceInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxInstanceInfo, cbox_instance_info_free)

/* The live entries of @project_dir (NULL: of every project), oldest
 * first; stale ones (their lock is free: the run was killed) are removed
 * on the way. */
GPtrArray *cbox_instance_list (const CboxHost *host, const char *project_dir);

/* The start time of @pid in clock ticks after boot (/proc/PID/stat), 0
 * when it is gone: a pid plus its start time names one process. */
guint64 cbox_proc_get_start_time (pid_t pid);

/* `cbox ps`, `cbox enter`, `cbox stop`: return the exit status. */
int cbox_project_cli_ps (const CboxHost *host, const char *project_dir, gboolean all,
                         gboolean json);
int cbox_project_cli_enter (const CboxHost *host, const char *project_dir, const char *instance_id,
                            const char *const *command);
int cbox_project_cli_stop (const CboxHost *host, const char *project_dir, const char *instance_id,
                           gboolean all);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The nspawn backend's pieces, shared by the plugin and its tests. */

#include <unistd.h>

#include <cbox/cbox-plugin.h>

G_BEGIN_DECLS

/* g_autofd and g_clear_fd are GLib 2.76; cbox builds with 2.74. */
static inline void
cbox_nspawn_close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}
#define cbox_nspawn_autofd __attribute__ ((cleanup (cbox_nspawn_close_fd)))

/* Where each run keeps its ephemeral root: private to root (0700). */
#define CBOX_NSPAWN_STATE_DIR "/run/cbox/nspawn"
/* Where systemd-nspawn keeps each machine's folder for `machinectl bind`. */
#define CBOX_NSPAWN_PROPAGATE_DIR "/run/systemd/nspawn/propagate"

/* What the backend does with one mount of the plan. */
typedef enum
{
  CBOX_NSPAWN_OP_SKIP,     /* hidden by a later item, or a missing optional source */
  CBOX_NSPAWN_OP_BIND,     /* --bind=SRC:DEST */
  CBOX_NSPAWN_OP_BIND_RO,  /* --bind-ro=SRC:DEST */
  CBOX_NSPAWN_OP_TMPFS,    /* --tmpfs=DEST:mode=... (a tmpfs inside a bind) */
  CBOX_NSPAWN_OP_MKDIR,    /* a directory in the ephemeral root (also plan tmpfs) */
  CBOX_NSPAWN_OP_SYMLINK,  /* a symlink in the ephemeral root */
  CBOX_NSPAWN_OP_WRITE,    /* a file in the ephemeral root */
  CBOX_NSPAWN_OP_WRITE_RO, /* a file in the root, bound read-only over itself */
  CBOX_NSPAWN_OP_STAGE,    /* a file staged beside the root and bound (inside a bind) */
} CboxNspawnOpKind;

typedef struct
{
  const CboxMount *mount;
  CboxNspawnOpKind op;
  uid_t uid; /* owner of what the backend creates */
  gid_t gid;
  char *stage_path; /* OP_STAGE: host path of the staged copy */
  char *note;       /* why it was skipped, for `cbox plan` */
} CboxNspawnOp;

/**
 * CboxNspawnLayout:
 *
 * Everything about one run that is decided before anything is created:
 * the paths of its state, the machine name, and what happens to each mount
 * of the plan. realize() computes it without touching the host; run()
 * creates what it describes.
 */
typedef struct
{
  char *state_dir;  /* CBOX_NSPAWN_STATE_DIR, or another for tests */
  char *instance;   /* unique per run */
  char *machine;    /* "cbox-" + instance, a valid machine name */
  char *lock_path;  /* STATE/INSTANCE.lock, held by the live run */
  char *entry_dir;  /* STATE/INSTANCE */
  char *fs_dir;     /* STATE/INSTANCE/fs: a tmpfs while the run lives, holding: */
  char *root_dir;   /* fs/root: the container's root directory */
  char *stage_dir;  /* fs/stage: generated files bound inside bind mounts */
  char *status_dir; /* fs/status: the user's; cbox-exec writes the command's status there */
  uid_t uid;
  gid_t gid;
  char *home_dir;    /* the user's home inside */
  char *runtime_dir; /* the user's XDG_RUNTIME_DIR inside */
  GArray *ops;       /* CboxNspawnOp, one per plan mount, in plan order */
  /* Directories nspawn mounts a tmpfs of its own on (/run, /tmp) in which
   * the plan puts items: the root's own copy is bound over nspawn's. */
  GPtrArray *rebind;
  int lock_fd; /* -1 until created */
  gboolean mounted;
} CboxNspawnLayout;

CboxNspawnLayout *cbox_nspawn_layout_new (CboxPlan *plan, const char *state_dir,
                                          const char *instance, GError **error);
void cbox_nspawn_layout_free (CboxNspawnLayout *layout);
/* The host path at which the run's item @dest is made: under the root, or
 * under fs/run or fs/tmp for what is bound over nspawn's own tmpfs. */
char *cbox_nspawn_layout_host_path (const CboxNspawnLayout *layout, const char *dest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxNspawnLayout, cbox_nspawn_layout_free)

/* "a\:b" for "a:b": nspawn splits --bind and --tmpfs values at colons and
 * reads backslash escapes. */
char *cbox_nspawn_escape_path (const char *path);

/* Creates the ephemeral root the layout describes (after sweeping the
 * state of dead runs), holding the run's lock. */
gboolean cbox_nspawn_root_create (CboxNspawnLayout *layout, CboxPlan *plan, GError **error);
/* Unmounts and removes it; safe on a half-built one and twice. */
void cbox_nspawn_root_destroy (CboxNspawnLayout *layout);
/* Removes what runs that no longer live left under @state_dir (a run killed
 * with SIGKILL): an entry whose lock nobody holds. Live runs are never
 * touched. Returns how many were removed. */
guint cbox_nspawn_sweep (const char *state_dir);

/* The argv that re-executes this cbox through sudo, preserving only the
 * variables of @envp that cbox needs (see README.md). */
char **cbox_nspawn_sudo_argv (const char *sudo, const char *exe, const char *const *args,
                              const char *const *envp);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>

#include <cbox/cbox-macros.h>

G_BEGIN_DECLS

/**
 * CboxFeatures:
 *
 * Plan features. A forwarder declares the ones it needs, a backend the ones
 * it can realize; the planner refuses a forwarder whose needs the chosen
 * backend does not cover, and checks every item of the finished plan
 * against the backend's features once more.
 */
typedef enum
{
  CBOX_FEATURE_NONE = 0,
  CBOX_FEATURE_BIND = 1 << 0,    /* ro/rw binds of host files and directories */
  CBOX_FEATURE_SOCKET = 1 << 1,  /* binds of host unix sockets that stay connectable */
  CBOX_FEATURE_DEVICE = 1 << 2,  /* host device nodes (and their /sys entries) */
  CBOX_FEATURE_DATA = 1 << 3,    /* generated files (memfd content) */
  CBOX_FEATURE_HELPER = 1 << 4,  /* host helper processes running beside the sandbox */
  CBOX_FEATURE_TMPFS = 1 << 5,   /* private tmpfs mounts */
  CBOX_FEATURE_SYMLINK = 1 << 6, /* symlinks */
  /* Can share the host's network namespace (--network=host): the host's
   * loopback and abstract unix sockets are then reachable. */
  CBOX_FEATURE_HOST_NET = 1 << 7,
} CboxFeatures;

#define CBOX_FEATURE_ALL ((CboxFeatures)0xff)

/* "bind", "socket", "device", ...; NULL for an unknown single bit. */
const char *cbox_feature_to_string (CboxFeatures feature);
/* A sentence fragment for messages: "unix-socket binds", "device binds". */
const char *cbox_feature_describe (CboxFeatures feature);

/**
 * CboxNetworkMode:
 *
 * ABI 1.4. The sandbox's network, a plan item every backend realizes the
 * same way. New modes (an allowlist through a host-side proxy) may be
 * added at the end: a backend refuses a mode it does not know.
 */
typedef enum
{
  /* Only a loopback of its own: no route anywhere. */
  CBOX_NETWORK_OFF = 0,
  /* A network namespace of its own with user-mode networking (the host
   * helper cbox_net_helper_start() gives it): outbound TCP, UDP and DNS
   * as the host has them, but never the host's loopback (127.0.0.0/8,
   * ::1) nor its abstract unix sockets. The default. */
  CBOX_NETWORK_OWN = 1,
  /* The host's network namespace, shared: everything the host reaches,
   * its loopback services and abstract unix sockets (X11, D-Bus)
   * included. Only on explicit request. */
  CBOX_NETWORK_HOST = 2,
} CboxNetworkMode;

/* ABI 1.4. "off", "on", "host" (the words of --network); NULL for an
 * unknown mode. */
const char *cbox_network_mode_to_string (CboxNetworkMode mode);
/* ABI 1.4. FALSE when @text names no mode. Accepts on/off, the boolean
 * words of the configuration (true, yes, 1, ...) and host. */
gboolean cbox_network_mode_from_string (const char *text, CboxNetworkMode *ret_mode);
/* ABI 1.4. A sentence: what the mode lets through. */
const char *cbox_network_mode_describe (CboxNetworkMode mode);

typedef enum
{
  CBOX_MOUNT_RO = 1,  /* read-only bind of host src at dest */
  CBOX_MOUNT_RW,      /* read-write bind of host src at dest */
  CBOX_MOUNT_SOCKET,  /* bind of the unix socket src at dest (connectable) */
  CBOX_MOUNT_DEV,     /* bind of the device node (or directory of nodes) src */
  CBOX_MOUNT_TMPFS,   /* empty tmpfs at dest, mode */
  CBOX_MOUNT_DIR,     /* directory created at dest, mode */
  CBOX_MOUNT_SYMLINK, /* symlink at dest pointing at src (src is the target text) */
  CBOX_MOUNT_DATA,    /* file at dest with the content of fd (sealed memfd), mode */
} CboxMountKind;

/* "ro", "rw", "socket", "dev", "tmpfs", "dir", "symlink", "data". */
const char *cbox_mount_kind_to_string (CboxMountKind kind);
/* The plan feature a backend needs to realize a mount of @kind. */
CboxFeatures cbox_mount_kind_feature (CboxMountKind kind);

typedef enum
{
  CBOX_MOUNT_FLAG_NONE = 0,
  /* The source may be missing on the host at launch; skip it then. Without
   * it a missing source is an error. */
  CBOX_MOUNT_FLAG_ALLOW_MISSING = 1 << 0,
  /* DATA: the file inside is writable (seeded by copy: changes stay inside). */
  CBOX_MOUNT_FLAG_WRITABLE = 1 << 1,
} CboxMountFlags;

/**
 * CboxMount:
 *
 * One filesystem item of the plan, read-only for backends. Items are kept
 * in the order they were added; a later item at or under the same
 * destination is applied after (and so over) an earlier one.
 */
typedef struct
{
  CboxMountKind kind;
  CboxMountFlags flags;
  char *src;          /* host path (RO, RW, SOCKET, DEV), link target (SYMLINK), else NULL */
  char *dest;         /* absolute path inside the sandbox */
  int fd;             /* DATA: a sealed memfd, owned by the plan; -1 otherwise */
  guint32 mode;       /* TMPFS, DIR, DATA: permission bits */
  const char *origin; /* the plugin (or "core", "config", "cli") that added it */
} CboxMount;

typedef struct
{
  char *name;
  char *value; /* NULL: explicitly unset (so a later default cannot set it) */
  const char *origin;
} CboxEnvVar;

typedef enum
{
  /* Started; nothing waited for. */
  CBOX_HELPER_READY_NONE = 0,
  /* Ready when ready_path exists (a listening socket, say). */
  CBOX_HELPER_READY_PATH,
  /* Ready when the helper writes one byte to its sync fd. Every argv
   * element equal to or containing "{sync-fd}" gets the fd number. The
   * helper's end of the pipe is also its lifetime: the core keeps the
   * other end open while the sandbox runs and closes it afterwards, and
   * since the kernel closes it when cbox dies, even `kill -9` of cbox ends
   * a helper that watches it (as xdg-dbus-proxy --fd does). */
  CBOX_HELPER_READY_SYNC_FD,
} CboxHelperReady;

typedef struct
{
  char *name;  /* for messages: "xdg-dbus-proxy (session bus)" */
  char **argv; /* argv[0] is looked up in PATH when it has no '/' */
  CboxHelperReady ready;
  char *ready_path;
  const char *origin;
} CboxHelper;

typedef void (*CboxCleanupFunc) (gpointer user_data);

/**
 * CboxPlan:
 *
 * The backend-neutral launch plan: mounts, environment (starting from
 * empty: nothing of the host's environment enters unless something asked
 * for it), file descriptors, host helper processes, the command, the
 * working directory, network on or off, cleanup actions, and which plugin
 * added each item.
 *
 * `add_` functions copy their arguments, `take_` functions steal them.
 */
typedef struct _CboxPlan CboxPlan;

CboxPlan *cbox_plan_new (void);
void cbox_plan_free (CboxPlan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxPlan, cbox_plan_free)

/* The name recorded as origin of every item added from now on. The core
 * sets it before it calls each plugin; plugins need not touch it. */
void cbox_plan_set_origin (CboxPlan *plan, const char *origin);
const char *cbox_plan_get_origin (CboxPlan *plan);

/* ---- mounts: @dest must be absolute and normalized ---------------------- */
void cbox_plan_add_bind_ro (CboxPlan *plan, const char *src, const char *dest,
                            CboxMountFlags flags);
void cbox_plan_add_bind_rw (CboxPlan *plan, const char *src, const char *dest,
                            CboxMountFlags flags);
void cbox_plan_add_bind_socket (CboxPlan *plan, const char *src, const char *dest,
                                CboxMountFlags flags);
void cbox_plan_add_bind_dev (CboxPlan *plan, const char *src, const char *dest,
                             CboxMountFlags flags);
void cbox_plan_add_tmpfs (CboxPlan *plan, const char *dest, guint32 mode);
void cbox_plan_add_dir (CboxPlan *plan, const char *dest, guint32 mode);
void cbox_plan_add_symlink (CboxPlan *plan, const char *target, const char *dest);
/* Generated content, kept in a sealed memfd (never a temporary file). */
gboolean cbox_plan_add_data (CboxPlan *plan, const char *dest, const void *data, gsize len,
                             guint32 mode, CboxMountFlags flags, GError **error);
/* A writable file inside, seeded with the current content of host file @src
 * (like ~/.claude.json, which its owner rewrites by atomic rename, so a
 * live bind would break). Changes stay inside. */
gboolean cbox_plan_add_copy (CboxPlan *plan, const char *src, const char *dest,
                             CboxMountFlags flags, GError **error);

guint cbox_plan_get_n_mounts (const CboxPlan *plan);
const CboxMount *cbox_plan_get_mount (const CboxPlan *plan, guint index);
/* The last mount whose dest equals @dest, or NULL. */
const CboxMount *cbox_plan_find_mount (const CboxPlan *plan, const char *dest);

/* ---- environment ------------------------------------------------------ */
void cbox_plan_set_env (CboxPlan *plan, const char *name, const char *value);
void cbox_plan_unset_env (CboxPlan *plan, const char *name);
/* NULL when unset. */
const char *cbox_plan_get_env (const CboxPlan *plan, const char *name);
guint cbox_plan_get_n_env (const CboxPlan *plan);
const CboxEnvVar *cbox_plan_get_env_var (const CboxPlan *plan, guint index);
/* The final environment of the command as "NAME=VALUE" strings, sorted. */
char **cbox_plan_get_environ (const CboxPlan *plan);

/* ---- file descriptors --------------------------------------------------- */
/* The plan owns @fd from now on and closes it when freed. Use it for fds
 * whose lifetime is the sandbox's (a Wayland security context's close fd).
 * Returns @fd. */
int cbox_plan_take_fd (CboxPlan *plan, int fd);
/* Closes the fds the plan holds, now. */
void cbox_plan_close_fds (CboxPlan *plan);

/* ---- host helper processes -------------------------------------------- */
/* Steals @argv (NULL-terminated). */
void cbox_plan_take_helper (CboxPlan *plan, const char *name, char **argv, CboxHelperReady ready,
                            const char *ready_path);
guint cbox_plan_get_n_helpers (const CboxPlan *plan);
const CboxHelper *cbox_plan_get_helper (const CboxPlan *plan, guint index);

/* ---- command, working directory, identity, network -------------------- */
void cbox_plan_set_command (CboxPlan *plan, const char *const *argv);
const char *const *cbox_plan_get_command (const CboxPlan *plan);
void cbox_plan_set_cwd (CboxPlan *plan, const char *cwd);
const char *cbox_plan_get_cwd (const CboxPlan *plan);
/* TRUE for any mode with a network (own or host), FALSE for off. Setting
 * TRUE gives CBOX_NETWORK_OWN. */
void cbox_plan_set_network (CboxPlan *plan, gboolean enabled);
gboolean cbox_plan_get_network (const CboxPlan *plan);
/* ABI 1.4. Whether the command may make new user namespaces (`[cbox]
 * allow-userns`, for programs that sandbox themselves: browsers, Claude
 * Code). Every backend honours it: cbox's seccomp filter (loaded by
 * cbox-exec, or the qemu guest's init) refuses them otherwise, and bwrap
 * adds --disable-userns. Default FALSE. */
void cbox_plan_set_allow_userns (CboxPlan *plan, gboolean allow);
gboolean cbox_plan_get_allow_userns (const CboxPlan *plan);
/* ABI 1.4. What the sandbox's network is; see CboxNetworkMode. */
void cbox_plan_set_network_mode (CboxPlan *plan, CboxNetworkMode mode);
CboxNetworkMode cbox_plan_get_network_mode (const CboxPlan *plan);

/**
 * CboxPublishedPort:
 *
 * ABI 1.4. A port of the sandbox's own network (CBOX_NETWORK_OWN)
 * published on the host (--publish=HOST[:SANDBOX]): a connection to
 * 127.0.0.1:host_port on the host reaches sandbox_port inside. Only the
 * host's IPv4 loopback, never its other addresses.
 */
typedef struct
{
  guint16 host_port;
  guint16 sandbox_port;
} CboxPublishedPort;

/* ABI 1.4. Adds a published port. The same pair twice counts once; a
 * host port published to two different ports inside, or port 0, is an
 * error (CBOX_ERROR_INVALID_ARGUMENT). */
gboolean cbox_plan_add_published_port (CboxPlan *plan, guint16 host_port, guint16 sandbox_port,
                                       GError **error);
/* ABI 1.4. The published ports, in the order added; @ret_n_ports gets
 * their number (the array is NULL or empty when there are none). */
const CboxPublishedPort *cbox_plan_get_published_ports (const CboxPlan *plan, guint *ret_n_ports);
/* The uid/gid/home the command runs with inside (the host's target user). */
void cbox_plan_set_user (CboxPlan *plan, uid_t uid, gid_t gid, const char *user_name,
                         const char *home_dir);
uid_t cbox_plan_get_uid (const CboxPlan *plan);
gid_t cbox_plan_get_gid (const CboxPlan *plan);
const char *cbox_plan_get_user_name (const CboxPlan *plan);
const char *cbox_plan_get_home_dir (const CboxPlan *plan);
/* The private XDG_RUNTIME_DIR inside: "/run/user/UID". Sockets that live in
 * the runtime directory on the host go under it. */
const char *cbox_plan_get_runtime_dir (const CboxPlan *plan);
void cbox_plan_set_hostname (CboxPlan *plan, const char *hostname);
/* NULL: the backend's default. */
const char *cbox_plan_get_hostname (const CboxPlan *plan);

/* ---- explanations -------------------------------------------------------- */
/* A line `cbox plan` shows under the current origin ("security context: yes"). */
void cbox_plan_add_note (CboxPlan *plan, const char *format, ...) G_GNUC_PRINTF (2, 3);
guint cbox_plan_get_n_notes (const CboxPlan *plan);
/* Returns the text; @ret_origin (nullable) gets the origin. */
const char *cbox_plan_get_note (const CboxPlan *plan, guint index, const char **ret_origin);
/* A forwarder that was not used, and why ("x11: DISPLAY is not set"). */
void cbox_plan_add_skipped (CboxPlan *plan, const char *name, const char *reason);
guint cbox_plan_get_n_skipped (const CboxPlan *plan);
const char *cbox_plan_get_skipped (const CboxPlan *plan, guint index, const char **ret_reason);
/* Forwarders that contributed, in order. */
void cbox_plan_add_forwarder (CboxPlan *plan, const char *name);
const char *const *cbox_plan_get_forwarders (const CboxPlan *plan);

/* ---- cleanup ---------------------------------------------------------- */
/* Run last-in first-out by cbox_plan_run_cleanups() or, failing that, by
 * cbox_plan_free(); each runs once. */
void cbox_plan_add_cleanup (CboxPlan *plan, CboxCleanupFunc func, gpointer user_data,
                            GDestroyNotify destroy);
void cbox_plan_run_cleanups (CboxPlan *plan);

/* ---- per-run folders (ABI 1.5) ---------------------------------------- */
/* Makes @dir (absolute; its parent exists, its name starts with @prefix),
 * mode 0700, for the sockets of this run's host helpers (a proxy, a
 * relay), and removes it with what is in it by a cleanup of the plan.
 * First sweeps the folders named @prefix... in the same parent that a run
 * killed with SIGKILL left (owned by cbox's euid or @uid, no live run
 * holding their lock). Fails if @dir exists (a planted folder is never
 * used). Run as root for another @uid, gives it to @uid:@gid. Only
 * sockets and regular files are ever removed, never through a link. The
 * error says what failed on which path; prefix it with the plugin's
 * name. */
gboolean cbox_plan_make_run_dir (CboxPlan *plan, const char *dir, const char *prefix, uid_t uid,
                                 gid_t gid, GError **error);

/* ---- protected paths (ABI 1.4) -------------------------------------------- */

typedef enum
{
  /* It exists: bound read-only over itself, after the writable bind. */
  CBOX_PROTECTED_READ_ONLY = 1,
  /* A folder on the way to a protected path (.git): bound over itself,
   * still writable, so it cannot be renamed away or replaced. */
  CBOX_PROTECTED_PINNED,
  /* It does not exist yet: it cannot be bound without making it on the
   * host, so the core looks after the run and moves aside whatever
   * appeared there. */
  CBOX_PROTECTED_CHECKED,
} CboxProtectedHow;

/* "read-only", "pinned", "checked". */
const char *cbox_protected_how_to_string (CboxProtectedHow how);

/**
 * CboxProtectedPath:
 *
 * A path inside a writable bind that host tools trust and run (.git/hooks,
 * .envrc, .vscode): the core adds one per entry of [cbox] protect and
 * writable bind, and realizes READ_ONLY and PINNED ones as plain mounts of
 * the plan (origin "protect"), so every backend applies them the same way.
 */
typedef struct
{
  char *path;      /* inside the sandbox */
  char *host_path; /* the same on the host */
  char *entry;     /* the list entry it comes from: ".git/hooks", "~/.bashrc" */
  CboxProtectedHow how;
  const char *origin; /* who listed the entry: "default", "config", "profile", "cli" */
} CboxProtectedPath;

void cbox_plan_add_protected_path (CboxPlan *plan, const char *path, const char *host_path,
                                   const char *entry, CboxProtectedHow how);
guint cbox_plan_get_n_protected_paths (const CboxPlan *plan);
const CboxProtectedPath *cbox_plan_get_protected_path (const CboxPlan *plan, guint index);

/* ---- sealed memfds ------------------------------------------------------ */
/* A memfd holding @data, sealed against any change; O_CLOEXEC. */
int cbox_memfd_new_sealed (const char *name, const void *data, gsize len, GError **error);
/* ABI 1.3. Writes @data at offset 0 of the empty memfd @fd (made with
 * MFD_ALLOW_SEALING; @name for messages) and seals it as
 * cbox_memfd_new_sealed() does: for a memfd handed out before its content
 * was known. The offset stays at 0. */
gboolean cbox_memfd_fill_sealed (int fd, const char *name, const void *data, gsize len,
                                 GError **error);
/* ABI 1.3. The whole content of the memfd (or regular file) @fd, read
 * without moving its offset; NULL with @error set when it cannot be read. */
GBytes *cbox_memfd_read (int fd, GError **error);

G_END_DECLS

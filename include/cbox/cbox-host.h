/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>

#include <cbox/cbox-macros.h>

G_BEGIN_DECLS

/**
 * CboxHost:
 *
 * A snapshot of what the host offers, taken once per cbox invocation:
 * the environment, the identity the sandboxed command runs as, and a root
 * prefix under which every probe looks (normally "/"; tests point it at a
 * fake tree holding /dev, /sys and /run).
 *
 * The identity is the *target* user: when cbox runs as root on behalf of
 * somebody (SUDO_UID/SUDO_GID/SUDO_USER, or PKEXEC_UID), it is that user,
 * with the home directory and shell of the password database. The caller's
 * own real uid is kept apart (cbox_host_get_caller_uid()).
 */
typedef struct _CboxHost CboxHost;

CboxHost *cbox_host_new (void);
CboxHost *cbox_host_new_from_system (GError **error);
CboxHost *cbox_host_ref (CboxHost *host);
void cbox_host_unref (CboxHost *host);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxHost, cbox_host_unref)

/* Setters, for cbox_host_new() in tests. Each copies its arguments. */
void cbox_host_set_root (CboxHost *host, const char *root);
void cbox_host_set_environ (CboxHost *host, const char *const *envp);
void cbox_host_setenv (CboxHost *host, const char *name, const char *value);
void cbox_host_set_user (CboxHost *host, uid_t uid, gid_t gid, const char *user_name,
                         const char *home_dir, const char *shell);
void cbox_host_set_caller_uid (CboxHost *host, uid_t uid);
void cbox_host_set_runtime_dir (CboxHost *host, const char *runtime_dir);
void cbox_host_set_hostname (CboxHost *host, const char *hostname);

/* The host's environment, as cbox was started with it. Returns NULL when
 * the variable is unset. */
const char *cbox_host_getenv (const CboxHost *host, const char *name);
/* Like cbox_host_getenv(), but NULL for a variable that is set and empty:
 * "set only when non-empty on the host" is the rule for forwarded variables. */
const char *cbox_host_getenv_nonempty (const CboxHost *host, const char *name);
const char *const *cbox_host_get_environ (const CboxHost *host);

uid_t cbox_host_get_uid (const CboxHost *host);
gid_t cbox_host_get_gid (const CboxHost *host);
const char *cbox_host_get_user_name (const CboxHost *host);
const char *cbox_host_get_home_dir (const CboxHost *host);
const char *cbox_host_get_shell (const CboxHost *host);
uid_t cbox_host_get_caller_uid (const CboxHost *host);
/* $XDG_RUNTIME_DIR of the target user on the host, or NULL. */
const char *cbox_host_get_runtime_dir (const CboxHost *host);
const char *cbox_host_get_hostname (const CboxHost *host);
/* "/" on a real host. */
const char *cbox_host_get_root (const CboxHost *host);
/* TRUE when the host is NixOS (/etc/NIXOS or /run/current-system exists
 * under the root). */
gboolean cbox_host_is_nixos (const CboxHost *host);

/* TRUE when host path @path (resolved under the root prefix, symbolic links
 * followed) is a unix socket; FALSE when it is missing, unreadable or
 * anything else. The check a probe makes before forwarding a server's
 * socket: it looks at the file only, so it neither connects nor blocks
 * (cbox-socket.h talks to the server, when a probe must). ABI 1.4. */
gboolean cbox_host_is_socket (const CboxHost *host, const char *path);

/* The path at which host path @path is found under the root prefix:
 * "/dev/dri" stays "/dev/dri" on a real host and becomes
 * "/tmp/fake/dev/dri" when the root is "/tmp/fake". Probes must look at
 * host paths only through this. Free with g_free(). */
char *cbox_host_resolve (const CboxHost *host, const char *path);

/* Expands a leading "~/" (or "~" alone) to the target user's home
 * directory and "$XDG_RUNTIME_DIR/" to the runtime directory. Other paths
 * are returned unchanged. Returns NULL with @error set when a variable it
 * needs is not available. */
char *cbox_host_expand_path (const CboxHost *host, const char *path, GError **error);

/* Reads the whole regular file at host path @path (resolved under the root
 * prefix), at most @max_size bytes (0: no limit). Anything but a regular
 * file is refused without blocking: a fifo or a device named by an
 * environment variable must not hang or flood cbox. Errors name the path:
 * G_FILE_ERROR from open() (G_FILE_ERROR_NOENT when it does not exist),
 * CBOX_ERROR_INVALID_ARGUMENT when it is not a regular file or too large. */
GBytes *cbox_host_read_file (const CboxHost *host, const char *path, gsize max_size,
                             GError **error);

/* ---- probe results ---------------------------------------------------- */

typedef enum
{
  CBOX_PROBE_UNKNOWN = 0,
  CBOX_PROBE_AVAILABLE,
  CBOX_PROBE_DEGRADED,    /* usable, with a reason (e.g. "no KVM, slow") */
  CBOX_PROBE_UNAVAILABLE, /* not usable, reason says why and what to do */
} CboxProbeStatus;

/**
 * CboxProbeResult:
 *
 * What one plugin found. A probe sets a status with a reason a user
 * understands ("no socket at /tmp/.X11-unix/X0 (is an X server running?)")
 * and adds details (key/value pairs shown by `cbox doctor`, e.g.
 * "version" = "0.8.0").
 */
typedef struct _CboxProbeResult CboxProbeResult;

CboxProbeResult *cbox_probe_result_new (void);
void cbox_probe_result_free (CboxProbeResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxProbeResult, cbox_probe_result_free)

void cbox_probe_result_set_status (CboxProbeResult *result, CboxProbeStatus status,
                                   const char *reason_format, ...) G_GNUC_PRINTF (3, 4);
void cbox_probe_result_add_detail (CboxProbeResult *result, const char *key,
                                   const char *value_format, ...) G_GNUC_PRINTF (3, 4);
CboxProbeStatus cbox_probe_result_get_status (const CboxProbeResult *result);
/* NULL when no reason was given. */
const char *cbox_probe_result_get_reason (const CboxProbeResult *result);
/* Details in the order they were added: a NULL-terminated array of
 * alternating keys and values. */
const char *const *cbox_probe_result_get_details (const CboxProbeResult *result);
const char *cbox_probe_result_get_detail (const CboxProbeResult *result, const char *key);

const char *cbox_probe_status_to_string (CboxProbeStatus status);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* libcbox's internal API: shared by the core's own files and the cbox
 * executable, never installed. */

#include <sys/stat.h>

#include <cbox/cbox-plugin.h>

G_BEGIN_DECLS

/* ---- contexts (cbox-context.c) ----------------------------------------- */
CboxContext *cbox_context_new (CboxHost *host, GKeyFile *config, const char *plugin_name);
void cbox_context_free (CboxContext *ctx);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxContext, cbox_context_free)
void cbox_context_set_profile (CboxContext *ctx, const char *profile);
void cbox_context_set_instance_id (CboxContext *ctx, const char *instance_id);
void cbox_context_set_backend (CboxContext *ctx, const char *backend, CboxFeatures features);
void cbox_context_set_network (CboxContext *ctx, CboxNetworkMode network);
void cbox_context_set_verbose (CboxContext *ctx, gboolean verbose);
void cbox_context_set_requested (CboxContext *ctx, gboolean requested);
void cbox_context_set_libexec_dir (CboxContext *ctx, const char *libexec_dir);
/* The project's real path (NULL outside a run or plan). */
void cbox_context_set_project_dir (CboxContext *ctx, const char *project_dir);
const char *cbox_context_get_project_dir (CboxContext *ctx);
/* Called when the backend reports its sandbox's pid (the core records it
 * in the running-sandbox registry). */
typedef void (*CboxContextSandboxPidFunc) (CboxContext *ctx, pid_t pid, gpointer user_data);
void cbox_context_set_sandbox_pid_func (CboxContext *ctx, CboxContextSandboxPidFunc func,
                                        gpointer user_data);
/* Called once by cbox_context_notify_tool_started() (the core registers
 * the run for `cbox ps` there). */
typedef void (*CboxContextStartedFunc) (gpointer user_data);
void cbox_context_set_started_func (CboxContext *ctx, CboxContextStartedFunc func,
                                    gpointer user_data);

/* ---- the seccomp filter, as `cbox plan` names it (cbox-plan.c) --------- */
/* The filter every backend's command runs under (core/cbox-seccomp.c) and
 * what it refuses, in a few words. */
#define CBOX_SECCOMP_FILTER_NAME "cbox-default"
#define CBOX_SECCOMP_FILTER_SUMMARY                                                                \
  "keyrings, TIOCSTI/TIOCLINUX, ptrace, perf, bpf, kernel log, modules, personality "              \
  "flags, uncommon socket families, mount and namespace calls, new user namespaces"
/* The exceptions the plan asks for (NULL-terminated, static strings). */
const char *const *cbox_plan_get_seccomp_exceptions (const CboxPlan *plan);
/* The network allowlist's log in the project's state (the planner sets
 * it; cbox_net_proxy_start() appends every decision to it). */
void cbox_plan_set_network_log (CboxPlan *plan, const char *path);
const char *cbox_plan_get_network_log (const CboxPlan *plan);

G_END_DECLS

G_BEGIN_DECLS
/* ---- files (cbox-host.c) ----------------------------------------------------- */
/* cbox_host_read_file() of an already resolved path; @ret_st (nullable)
 * gets the fstat() of the file that was read. */
GBytes *cbox_read_regular_file (const char *path, gsize max_size, struct stat *ret_st,
                                GError **error);
/* (cbox-file.c) Writes @path whole or not at all: a temporary file beside
 * it (mode @mode) renamed over it, so a reader sees the old content or the
 * new one. No fsync: what cbox keeps this way (the run registry, the
 * plugin cache) means nothing after a crash and is rebuilt, while an fsync
 * of file and folder cost every run 1 to 2 ms (docs/benchmarks.md). */
gboolean cbox_write_file_atomic (const char *path, const void *data, gsize len, int mode,
                                 GError **error);
/* (cbox-file.c) openat(@dir_fd, @path, @flags) that follows no symlink on
 * the way, the last component included, and never leaves @dir_fd (no "..",
 * no absolute path): openat2() with RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH,
 * or one O_NOFOLLOW component at a time without openat2. A link on the
 * way fails with ELOOP (a last one: ELOOP, or an O_PATH fd of the link
 * with O_PATH). O_CLOEXEC always. */
int cbox_open_beneath (int dir_fd, const char *path, int flags);
/* (cbox-file.c) The same, following links as long as they stay below
 * @dir_fd (openat2 RESOLVE_BENEATH); -1 with ENOSYS without openat2. */
int cbox_open_resolve_beneath (int dir_fd, const char *path, int flags);
G_END_DECLS

G_BEGIN_DECLS
/* ---- helper processes (cbox-run.c) ---------------------------------------- */
/* Starts @argv (argv[0] looked up in PATH) as a host helper: empty
 * environment, stdin from /dev/null, stdout and stderr to @output_fd
 * (when >= 0), only @keep_fds inherited, the forwarded signals ignored,
 * dying with cbox; as @uid/@gid when @uid is not 0. Reaping it is the
 * caller's. */
pid_t cbox_run_spawn_helper (const char *what, const char *const *argv, const int *keep_fds,
                             guint n_keep_fds, uid_t uid, gid_t gid, int output_fd, GError **error);

/* Starts @path (@argv, empty environment, stdio on /dev/null, only
 * @keep_fds inherited, in /) in a session of its own, as nobody's child:
 * it outlives cbox (the project's network keeper). FALSE with @error when
 * it could not be forked; a failed exec is not seen here. Call it before
 * the run has started anything else (it turns off cbox's subreaper role
 * for a moment). */
gboolean cbox_run_spawn_detached (const char *what, const char *path, const char *const *argv,
                                  const int *keep_fds, guint n_keep_fds, GError **error);

/* SIGKILL for @pid and every process below it (each stopped before its
 * children are listed, so none escapes by forking); reaping @pid is the
 * caller's. For a tool that may have started to make the sandbox. */
void cbox_run_kill_tree (pid_t pid);
/* `cbox run` adopts what its children leave behind (PR_SET_CHILD_SUBREAPER),
 * and kills and reaps whatever of it is left once the run has cleaned up;
 * returns how many it found. */
void cbox_run_adopt_orphans (void);
guint cbox_run_kill_leftovers (void);
/* Ends a helper of the run (network helper, proxy, namespace holder) once
 * the sandbox is gone: SIGKILL, without waiting for the kernel to finish
 * its exit; *@pid is set to 0. */
void cbox_run_end_helper (pid_t *pid);

/* ---- the network helper (cbox-net.c) ------------------------------------- */
/* One read(2) of up to @len bytes from @fd once it is readable, waiting
 * until the monotonic @deadline_ms at most (EINTR retried): what read()
 * returned, or -1 when the time ran out or poll() failed. */
ssize_t cbox_read_by (int fd, void *buf, gsize len, gint64 deadline_ms);
/* Parses a --publish / `[cbox] publish` entry: HOSTPORT or
 * HOSTPORT:SANDBOXPORT, each 1 to 65535 in decimal. FALSE with a message
 * saying what is wrong (CBOX_ERROR_INVALID_ARGUMENT). */
gboolean cbox_net_parse_publish (const char *text, guint16 *ret_host_port,
                                 guint16 *ret_sandbox_port, GError **error);
/* The kernel's Landlock ABI version (0: none), as cbox-confine.c asks it:
 * 6 and later scope abstract unix sockets, cbox-exec's second layer. */
int cbox_net_landlock_abi (void);
/* Puts the requested published ports in @plan, whose network mode is
 * set: refused (with the reason) unless the mode is CBOX_NETWORK_OWN. */
gboolean cbox_net_plan_publish (CboxPlan *plan, const CboxPublishedPort *ports, guint n_ports,
                                GError **error);

/* ---- launches (cbox-launch.c) -------------------------------------------- */
/* What cbox_launch_set_namespaces() set: -1 for none. */
void cbox_launch_get_namespaces (CboxLaunch *launch, int *ret_userns_fd, int *ret_netns_fd);

/* ---- the plan's spawn hook (cbox-plan.c) ---------------------------------- */
/* Called once by cbox_launch_run_full() right after it spawned the tool,
 * before the backend's own started callback: where the core registers the
 * run for `cbox ps` while the tool sets the sandbox up, instead of before
 * (docs/benchmarks.md). */
typedef void (*CboxPlanSpawnedFunc) (gpointer user_data);
void cbox_plan_set_spawned_func (CboxPlan *plan, CboxPlanSpawnedFunc func, gpointer user_data);
void cbox_plan_notify_spawned (CboxPlan *plan);
/* A tool whose command ended and whose own exit the run did not wait for
 * (CboxLaunchRunOptions.ended): reaped by cbox_plan_reap_tool(), which
 * the planner calls after its cleanup, else by cbox_plan_free(). */
void cbox_plan_set_tool_to_reap (CboxPlan *plan, pid_t pid);
void cbox_plan_reap_tool (CboxPlan *plan);
/* Stop signals (SIGINT, SIGTERM, SIGHUP), cbox-run.c. main() blocks them
 * first thing; cbox_signals_catch_stops (TRUE) then puts a handler in
 * place that records them (for `cbox run`), FALSE leaves their default
 * action; either way they are unblocked. cbox_signals_get_stop() is the
 * last one recorded, 0 for none. */
void cbox_signals_block_stops (void);
void cbox_signals_catch_stops (gboolean catch_them);
int cbox_signals_get_stop (void);
void cbox_signals_note_stop (int signum);
/* What a plan held at one moment: cbox_plan_rollback() takes back the
 * mounts, helpers, notes and environment added since (the fds, cleanups
 * and skipped entries stay: a cleanup must still run). For a forwarder
 * whose contribution the backend cannot carry and that was not asked for:
 * it is left out as if unavailable. */
typedef struct
{
  guint n_mounts;
  guint n_helpers;
  guint n_notes;
  GPtrArray *env; /* a copy of the environment */
} CboxPlanMark;
void cbox_plan_mark (CboxPlan *plan, CboxPlanMark *ret_mark);
void cbox_plan_rollback (CboxPlan *plan, CboxPlanMark *mark);
void cbox_plan_mark_clear (CboxPlanMark *mark);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CboxPlanMark, cbox_plan_mark_clear)
G_END_DECLS

G_BEGIN_DECLS
/* ---- the base plan (cbox-base.c) ------------------------------------------ */
/* Steps 1-3 of the base plan: tmpfs /tmp, /run, /var/tmp, /run/user/UID;
 * the system (/usr and its merged-/usr links, or NixOS' store; @usr_dir
 * replaces host /usr when not NULL); /etc with passwd and group of the
 * target user; a tmpfs home with ~/.config, ~/.cache, ~/.local; the user
 * identity and the base environment. Origin "core". */
gboolean cbox_base_plan_fill_system (CboxPlan *plan, const CboxHost *host, const char *usr_dir,
                                     GError **error);
/* The project directory read-write at its real path and the working
 * directory. Call after every other mount, so nothing hides it. Fails with a
 * clear message when @project_dir does not exist or is not a directory. */
gboolean cbox_base_plan_add_project (CboxPlan *plan, const CboxHost *host, const char *project_dir,
                                     GError **error);
/* ---- the generic run (cbox-run.c) --------------------------------------- */
/* Raises cbox's own soft limit of open files (cbox-run.c says why); the
 * programs cbox starts get the original back. */
void cbox_run_raise_nofile_limit (void);

/* ---- the plugin guard (cbox-guard.c) ------------------------------------ */
/* How long a plugin's load, describe(), probe, contribute or realize may
 * take before it counts as hung: far more than any does (pipewire's probe
 * waits up to its connect-timeout-ms, at most 60 s). */
#define CBOX_PLUGIN_GUARD_TIMEOUT_S 120
/* Around each call into plugin code: a crash in it, or no return within
 * @timeout_s (0: no bound), ends cbox with 125 and a line naming @plugin and
 * @what ("its probe"). */
void cbox_plugin_guard_enter (const char *plugin, const char *what, guint timeout_s);
void cbox_plugin_guard_leave (void);
/* CBOX_PLUGIN_GUARD_TIMEOUT_S, or $CBOX_PLUGIN_TIMEOUT_S (1-3600) when set
 * and the process is not privileged. */
guint cbox_plugin_guard_get_timeout (void);
/* "SIGSEGV, a bad memory access": for messages. */
const char *cbox_plugin_guard_signal_name (int sig);
/* Runs @func in a child process (the guard off: it dies of a crash) that
 * writes what it learnt to @fd, and collects that into @output, for at most
 * @timeout_s seconds (then the child is killed: *@ret_timed_out). FALSE
 * when no child could be started. */
typedef void (*CboxIsolatedFunc) (gpointer data, int fd);
gboolean cbox_plugin_run_isolated (CboxIsolatedFunc func, gpointer data, guint timeout_s,
                                   GByteArray *output, int *ret_wait_status,
                                   gboolean *ret_timed_out);
/* Off in a child that reports a crash to its parent by dying of it. */
void cbox_plugin_guard_set_enabled (gboolean enabled);

G_END_DECLS

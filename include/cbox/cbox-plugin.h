/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gmodule.h>

#include <cbox/cbox-host.h>
#include <cbox/cbox-plan.h>
#include <cbox/cbox-socket.h>
#include <cbox/cbox-version.h>

G_BEGIN_DECLS

/* ---- errors ------------------------------------------------------------ */

#define CBOX_ERROR (cbox_error_quark ())
GQuark cbox_error_quark (void);

typedef enum
{
  CBOX_ERROR_FAILED,
  CBOX_ERROR_INVALID_ARGUMENT, /* bad usage, bad option value */
  CBOX_ERROR_CONFIG,           /* bad configuration or profile file */
  CBOX_ERROR_UNAVAILABLE,      /* a requested forwarder or backend cannot be used here */
  CBOX_ERROR_NOT_SUPPORTED,    /* backend cannot realize what a forwarder needs */
  CBOX_ERROR_BACKEND,          /* the backend's tool failed before the command ran */
  CBOX_ERROR_TIMED_OUT,        /* a host service did not answer within its bound */
} CboxError;

#define CBOX_PLUGIN_ERROR (cbox_plugin_error_quark ())
GQuark cbox_plugin_error_quark (void);

/* Why the loader refused a plugin, in the order it checks. */
typedef enum
{
  CBOX_PLUGIN_ERROR_NOT_REGULAR_FILE, /* a directory, fifo, ... named libcbox-*.so */
  CBOX_PLUGIN_ERROR_OPEN, /* g_module_open failed (not ELF, unreadable, undefined symbol) */
  CBOX_PLUGIN_ERROR_NO_ENTRY_POINT,  /* no cbox_plugin_describe symbol */
  CBOX_PLUGIN_ERROR_NULL_DESCRIPTOR, /* cbox_plugin_describe() returned NULL */
  CBOX_PLUGIN_ERROR_ABI_MAJOR,       /* built for another ABI major */
  CBOX_PLUGIN_ERROR_ABI_MINOR,       /* built for a newer ABI minor than this core */
  CBOX_PLUGIN_ERROR_STRUCT_SIZE,     /* descriptor or vtable smaller than the fields used */
  CBOX_PLUGIN_ERROR_MISSING_FIELD,   /* no name, bad kind, bad name characters */
  CBOX_PLUGIN_ERROR_MISSING_VTABLE,  /* no vtable (or required vfunc) for its kind */
  CBOX_PLUGIN_ERROR_DUPLICATE_NAME,  /* a plugin of that name was found earlier */
  CBOX_PLUGIN_ERROR_CHANGED,         /* ABI 1.1: the file changed since the plugin cache
                                        described it */
  CBOX_PLUGIN_ERROR_BAD_ELF,         /* ABI 1.4: not an ELF shared object for this machine, or cut
                                 short (checked before dlopen) */
  CBOX_PLUGIN_ERROR_UNSAFE,          /* ABI 1.4: a privileged cbox refuses it: the file or a folder
                                 above it is not root's, or others may write it */
  CBOX_PLUGIN_ERROR_BAD_FILE_NAME,   /* ABI 1.4: the file is not named libcbox-NAME.so after its
                                      .name, or an alias is another plugin's name */
  CBOX_PLUGIN_ERROR_CRASHED,         /* ABI 1.4: it crashed or hung while loaded or described
                                      (cbox plugins, cbox doctor) */
} CboxPluginError;

/* Exit statuses of cbox itself, as env(1) and container runtimes use them. */
#define CBOX_EXIT_FAILURE 125
#define CBOX_EXIT_CANNOT_EXECUTE 126
#define CBOX_EXIT_NOT_FOUND 127

/* ---- the context a plugin is called with ---------------------------------- */

/**
 * CboxContext:
 *
 * What the core hands to each plugin call: the host snapshot, the merged
 * configuration (defaults, files, profile, command line), and a place for
 * the plugin's own data between probe and contribute. One context per
 * plugin per invocation.
 */
typedef struct _CboxContext CboxContext;

const CboxHost *cbox_context_get_host (CboxContext *ctx);
/* The plugin's own name ("x11"). */
const char *cbox_context_get_plugin_name (CboxContext *ctx);
/* The merged configuration. Core keys are in group "cbox", each plugin's in
 * the group named after it ("[x11]", "[bwrap]"). */
GKeyFile *cbox_context_get_config (CboxContext *ctx);
/* Keys of the plugin's own group; NULL / @default_value when unset. A value
 * that does not parse is reported through @error, naming group and key. */
char *cbox_context_get_string (CboxContext *ctx, const char *key);
char **cbox_context_get_string_list (CboxContext *ctx, const char *key);
gboolean cbox_context_get_boolean (CboxContext *ctx, const char *key, gboolean default_value,
                                   gboolean *ret_value, GError **error);
/* ABI 1.5. What every configuration file of cbox must be, for a plugin's
 * own (the dbus rule sets): UTF-8 text with no NUL byte (GKeyFile would
 * silently stop reading at one, dropping what follows) and no byte order
 * mark. FALSE with CBOX_ERROR_CONFIG naming @path, the line, the column
 * and the bytes; call it on what you read before GKeyFile sees it. */
gboolean cbox_config_check_text (const char *path, const char *data, gsize len, GError **error);
/* The profile in use, or NULL. */
const char *cbox_context_get_profile (CboxContext *ctx);
/* Unique per run ("3f2a..."), for names of per-run things. */
const char *cbox_context_get_instance_id (CboxContext *ctx);
/* The backend this run uses, and the plan features it offers. */
const char *cbox_context_get_backend (CboxContext *ctx);
CboxFeatures cbox_context_get_backend_features (CboxContext *ctx);
/* TRUE when the sandbox has a network (own or host). */
gboolean cbox_context_get_network (CboxContext *ctx);
/* ABI 1.4. Which network: off, its own namespace, or the host's. Only
 * CBOX_NETWORK_HOST reaches the host's loopback and abstract sockets. */
CboxNetworkMode cbox_context_get_network_mode (CboxContext *ctx);
gboolean cbox_context_get_verbose (CboxContext *ctx);
/* TRUE when the user asked for this forwarder (option, profile or config),
 * FALSE when it is only a default. */
gboolean cbox_context_get_requested (CboxContext *ctx);
/* Directory of cbox's helper programs (cbox-exec, ...). */
const char *cbox_context_get_libexec_dir (CboxContext *ctx);
/* Backends: a process inside the running sandbox, whose namespaces
 * `cbox enter` joins (bwrap: the sandbox's pid 1; nspawn: the container's
 * leader). Call it from run() as soon as it is known; the core records it
 * for `cbox ps`, `cbox enter` and `cbox stop`. 0 until then. */
void cbox_context_set_sandbox_pid (CboxContext *ctx, pid_t pid);
pid_t cbox_context_get_sandbox_pid (CboxContext *ctx);
/* ABI 1.1. Backends whose run() starts its tool itself, not through
 * cbox_launch_run() or cbox_launch_run_full() (which do it for them): call
 * it once the tool is about to start or has started. The core registers
 * the run for `cbox ps`, `cbox enter` and `cbox stop` then; a run never
 * announced is not listed. Later calls do nothing. */
void cbox_context_notify_tool_started (CboxContext *ctx);
/* Plugin-private data, kept from probe to contribute and freed with the context. */
void cbox_context_set_data (CboxContext *ctx, gpointer data, GDestroyNotify destroy);
gpointer cbox_context_get_data (CboxContext *ctx);

/* ---- what a backend produces ---------------------------------------------- */

/**
 * CboxLaunch:
 *
 * A plan realized in one tool's syntax: the argv of bwrap,
 * systemd-nspawn or qemu, the fds that tool inherits, and its own
 * environment (empty unless set).
 */
typedef struct _CboxLaunch CboxLaunch;

CboxLaunch *cbox_launch_new (void);
void cbox_launch_free (CboxLaunch *launch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxLaunch, cbox_launch_free)

void cbox_launch_add_arg (CboxLaunch *launch, const char *arg);
void cbox_launch_take_arg (CboxLaunch *launch, char *arg);
void cbox_launch_add_args (CboxLaunch *launch, const char *first, ...) G_GNUC_NULL_TERMINATED;
void cbox_launch_add_argf (CboxLaunch *launch, const char *format, ...) G_GNUC_PRINTF (2, 3);
const char *const *cbox_launch_get_argv (CboxLaunch *launch);
/* Replaces the argument list with @argv (steals it). */
void cbox_launch_take_argv (CboxLaunch *launch, char **argv);
/* The launched tool inherits @fd at the same number; the launch owns it.
 * Returns @fd. */
int cbox_launch_take_fd (CboxLaunch *launch, int fd);
/* ABI 1.3. The fds taken so far, in order; @ret_n_fds gets their number. */
const int *cbox_launch_get_fds (CboxLaunch *launch, guint *ret_n_fds);
void cbox_launch_set_environ (CboxLaunch *launch, const char *const *envp);
const char *const *cbox_launch_get_environ (CboxLaunch *launch);
/* The argv as one line a POSIX shell reads back as the same words. */
char *cbox_launch_to_shell_string (CboxLaunch *launch);

/* The generic run: starts the plan's helpers and waits until they are
 * ready, spawns the launch's argv with its fds, passes SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 on to it, waits, then stops the
 * helpers and runs the plan's cleanups. @ret_status gets the exit status
 * as cbox returns it: the code, or 128+N after signal N. */
gboolean cbox_launch_run (CboxLaunch *launch, CboxPlan *plan, int *ret_status, GError **error);

/**
 * CboxLaunchRunOptions:
 *
 * What a backend may tell the generic run about its tool; all-zero
 * behaves as cbox_launch_run().
 *
 * Signals are forwarded only when a process sent them (kill(2) and
 * friends): a terminal's SIGINT or SIGQUIT already reaches the whole
 * foreground process group, the command inside included.
 */
typedef struct
{
  gsize struct_size;
  /* The tool starts with the forwarded signals ignored (SIG_IGN survives
   * exec), so a signal from the terminal cannot end the tool before the
   * command inside sees it. The backend must then deliver them itself
   * through @get_signal_target (bwrap: to cbox-exec, pid 1 inside, which
   * resets them for the command). */
  gboolean tool_ignores_signals;
  /* The pid a forwarded signal goes to, asked for each signal; 0 (or a
   * NULL function) means the tool itself. */
  pid_t (*get_signal_target) (gpointer user_data);
  gpointer user_data;
  /* When not 0: the tool runs as this uid and gid, with the supplementary
   * groups the group database gives that user (set by cbox running as root
   * on somebody's behalf, for a tool that needs no privileges: bwrap). */
  uid_t run_as_uid;
  gid_t run_as_gid;
  /* Called once, right after the tool was spawned, with its pid (signals
   * are held until it returns): where a backend learns its sandbox's pid
   * (cbox_context_set_sandbox_pid()). Keep it short and bounded. */
  void (*started) (pid_t tool_pid, gpointer user_data);
  /* ABI 1.2, optional. @ended_fd becomes readable when the command inside
   * has ended, and @ended (called then, and once after @started) says
   * whether it has, with its exit status as cbox returns it (bwrap: its
   * --json-status-fd and "exit-code"). The generic run then returns at
   * once: the tool's own exit (taking down its namespaces) goes on while
   * cbox cleans up, and cbox reaps the tool after its cleanup, before it
   * exits. Until @ended says so, the run waits for the tool as usual.
   * @ended_fd is used only when @ended is set. */
  int ended_fd;
  gboolean (*ended) (gpointer user_data, int *ret_status);
  /* ABI 1.3. When not 0: the tool is already running (started early with
   * cbox_launch_spawn(), and waiting for something the backend gives it in
   * @release); the run adopts it instead of spawning the launch's argv. */
  pid_t tool_pid;
  /* ABI 1.3. With @tool_pid: called once the plan's helpers are ready,
   * before @started: hand the waiting tool what it waits for (bwrap: its
   * arguments). */
  void (*release) (gpointer user_data);
} CboxLaunchRunOptions;

/* cbox_launch_run() with @options (nullable). */
gboolean cbox_launch_run_full (CboxLaunch *launch, CboxPlan *plan,
                               const CboxLaunchRunOptions *options, int *ret_status,
                               GError **error);

/* ABI 1.3. Starts the launch's argv now, with its fds and environment and
 * the child state cbox_launch_run_full() gives a tool (@options: signals
 * ignored or not, the user to run as; nullable), and returns its pid
 * without waiting; -1 with @error set when it cannot be started. For a
 * backend's prestart(): the run adopts the process through
 * CboxLaunchRunOptions.tool_pid. The process dies with cbox (parent-death
 * signal); until it is adopted, killing and reaping it is the caller's. */
pid_t cbox_launch_spawn (CboxLaunch *launch, const CboxLaunchRunOptions *options, GError **error);

/* ---- plan helpers, for a backend that runs its tool itself (ABI 1.4) -------- */

/**
 * CboxHelpers:
 *
 * The plan's host helper processes, running. cbox_launch_run() and
 * cbox_launch_run_full() start and stop them for a backend; a backend
 * whose run() starts its tool without them (qemu) uses these two, with
 * the same child state, readiness wait and stop.
 */
typedef struct _CboxHelpers CboxHelpers;

/* Starts every helper of @plan and waits (at most 10 s) until each is
 * ready. NULL with @error naming the helper when one cannot be started or
 * is not ready; those already started are stopped then. The command must
 * not start before this returned. */
CboxHelpers *cbox_plan_start_helpers (CboxPlan *plan, GError **error);
/* Stops them (a sync pipe closed, then SIGTERM, SIGKILL after a second)
 * and reaps them; frees @helpers. NULL does nothing. Before the plan's
 * cleanups, which may remove what a helper still uses. */
void cbox_helpers_stop (CboxHelpers *helpers);

/* ---- the network helper (ABI 1.4) ------------------------------------------ */

/**
 * CboxNetHelper:
 *
 * The host helper that gives a network namespace of the sandbox's own
 * (CBOX_NETWORK_OWN) its user-mode network: outbound TCP, UDP and DNS,
 * never the host's loopback. Shared by every backend that makes such a
 * namespace. Owned by the plan it was started for: the plan's cleanups
 * stop it (after the sandbox, also on error paths), and it dies with cbox.
 */
typedef struct _CboxNetHelper CboxNetHelper;

/* Where the helper answers DNS inside the namespace (forwarding to the
 * host's resolvers), for a resolv.conf when the host's lists only
 * loopback servers. */
#define CBOX_NET_DNS_ADDRESS "10.0.2.3"

/* Is the helper installed? FALSE with @error naming the package and the
 * two alternatives (--network=off, --network=host): a backend calls it
 * before it starts anything, and fails closed. */
gboolean cbox_net_helper_check (GError **error);
/* Starts the helper for the network namespace @netns_fd (an open
 * /proc/PID/ns/net of the sandbox; the helper inherits it), as @uid/@gid
 * when @uid is not 0 (cbox as root on a user's behalf). Returns at once:
 * the helper configures the namespace while the sandbox is set up. The
 * plan owns the result. */
CboxNetHelper *cbox_net_helper_start (CboxPlan *plan, int netns_fd, uid_t uid, gid_t gid,
                                      GError **error);
/* Waits (bounded) until the namespace has its network. FALSE with @error
 * (the helper's own message in it) when it failed: the command must not
 * start. */
gboolean cbox_net_helper_wait_ready (CboxNetHelper *helper, GError **error);
/* For a backend that joins a namespace instead of making one (nspawn's
 * --network-namespace-path=): makes a network namespace on the host
 * (needs CAP_SYS_ADMIN: root), gives it its network and waits until it is
 * ready. Returns its path (/proc/PID/ns/net of the process holding it,
 * valid while the plan runs; free it), or NULL with @error: then the
 * sandbox must not start. The plan's cleanups end both processes. */
char *cbox_net_namespace_prepare (CboxPlan *plan, GError **error);

/* ---- the project's network, shared (ABI 1.6) -------------------------------- */

/**
 * CboxNetShare:
 *
 * A network namespace with its helper (CBOX_NETWORK_OWN) that the runs of
 * one project share, kept by a process of its own (cbox-netkeep) from the
 * first run until `[cbox] network-keep` seconds after the last: a run that
 * joins it starts no helper. The joining run holds it (keep it until the
 * sandbox has ended; freeing it is the run's end for the keeper).
 */
typedef struct _CboxNetShare CboxNetShare;

/* How long the shared network outlives its last run for this context's
 * run; 0 when the run does not share (network-keep=0, a mode other than
 * CBOX_NETWORK_OWN, root acting for a user). */
guint cbox_net_share_keep_seconds (CboxContext *ctx);
/* Joins the project's shared network, starting its keeper if there is
 * none. NULL without @error when the run does not share (see above); NULL
 * with @error when the keeper could not be reached or started. Returns as
 * soon as the namespace exists; the helper may still be getting ready. */
CboxNetShare *cbox_net_share_join (CboxContext *ctx, GError **error);
/* The namespace to start the sandbox in, and the user namespace that owns
 * it (-1 for root's, which is the host's); the share keeps both open. */
int cbox_net_share_get_netns_fd (CboxNetShare *share);
int cbox_net_share_get_userns_fd (CboxNetShare *share);
/* Waits (bounded) until the helper is ready. FALSE with @error (the
 * helper's words) when it failed: the command must not start. */
gboolean cbox_net_share_wait_ready (CboxNetShare *share, GError **error);
void cbox_net_share_free (CboxNetShare *share);
/* The launch's tool starts in these namespaces: the child joins
 * @userns_fd (when not -1), then @netns_fd, before its exec; a failure to
 * join is a failure to start. The fds stay the caller's, open until the
 * tool has started. */
void cbox_launch_set_namespaces (CboxLaunch *launch, int userns_fd, int netns_fd);

/* ---- the network allowlist's proxy (ABI 1.5) -------------------------------- */

/**
 * CboxNetProxy:
 *
 * The host-side proxy of CBOX_NETWORK_ALLOW and CBOX_NETWORK_DENY
 * (cbox-netproxy): HTTP (CONNECT and forwarding) and SOCKS5 on
 * 127.0.0.1:CBOX_NET_PROXY_PORT *inside* the sandbox's network namespace,
 * connecting from the host's to the hosts the plan's rules allow. Owned
 * by the plan it was started for: the plan's cleanups stop it, and it
 * dies with cbox.
 */
typedef struct _CboxNetProxy CboxNetProxy;

/* Where the proxy listens inside, for HTTP and SOCKS5 alike; the command
 * gets http_proxy, https_proxy, all_proxy (both cases) pointing there. */
#define CBOX_NET_PROXY_PORT 3128

/* Is the proxy program installed? FALSE with @error: a backend calls it
 * before it starts anything, and fails closed. */
gboolean cbox_net_proxy_check (GError **error);
/* Makes the listening socket inside the network namespace @netns_fd (an
 * open /proc/PID/ns/net of the sandbox, whose loopback must be up) and
 * starts the proxy with it and the plan's rules, as @uid/@gid when @uid
 * is not 0. Returns at once; the plan owns the result. */
CboxNetProxy *cbox_net_proxy_start (CboxPlan *plan, int netns_fd, uid_t uid, gid_t gid,
                                    GError **error);
/* The same with a listening stream socket of the caller's (@listen_fd,
 * still the caller's to close): a backend whose sandbox reaches the proxy
 * another way (qemu: a unix socket QEMU's user-mode network forwards one
 * address of the guest to, through `cbox-netproxy --relay=PATH`). */
CboxNetProxy *cbox_net_proxy_start_on (CboxPlan *plan, int listen_fd, uid_t uid, gid_t gid,
                                       GError **error);
/* Waits (bounded) until the proxy accepts. FALSE with @error when it
 * failed: the command must not start. */
gboolean cbox_net_proxy_wait_ready (CboxNetProxy *proxy, GError **error);

/* ---- the plugin ABI ------------------------------------------------------- */

typedef enum
{
  CBOX_PLUGIN_KIND_BACKEND = 1,
  CBOX_PLUGIN_KIND_FORWARDER = 2,
} CboxPluginKind;

/* Every vtable begins with its own size, so a newer core calls only the
 * members an older plugin has. */
typedef struct
{
  gsize struct_size;
  /* Required. Looks at the host only; no side effects. */
  gboolean (*probe) (CboxContext *ctx, CboxProbeResult *result, GError **error);
  /* Required. Fills the plan; called only after an available probe. */
  gboolean (*contribute) (CboxContext *ctx, CboxPlan *plan, GError **error);
  /* Optional. Called after every forwarder contributed, right before the
   * backend launches (not for `cbox plan`): start what must exist on the
   * host while the sandbox runs. */
  gboolean (*prepare) (CboxContext *ctx, CboxPlan *plan, GError **error);
  /* Optional. After the sandbox ended, also after a failed launch. */
  void (*cleanup) (CboxContext *ctx);
} CboxForwarderVTable;

typedef struct
{
  gsize struct_size;
  /* Required. Is the tool there and usable on this host? */
  gboolean (*probe) (CboxContext *ctx, CboxProbeResult *result, GError **error);
  /* Required. Renders the plan into @launch. No side effects on the host:
   * `cbox plan` calls it to show the command line. */
  gboolean (*realize) (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, GError **error);
  /* Optional. Runs the realized launch; NULL means cbox_launch_run(). */
  gboolean (*run) (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, int *ret_status,
                   GError **error);
  /* Optional, ABI 1.3. Called for `cbox run` only (never for `cbox plan`
   * or `cbox doctor`), right after an available probe and before the
   * forwarders are probed: start now what takes time and needs nothing of
   * the plan, so that it overlaps with planning (bwrap starts bwrap, which
   * waits for its arguments on a socket). Keep what it started in the
   * context's data; the data's destroy function must stop it when the run
   * never comes (a forwarder unavailable, an error, a signal). FALSE with
   * @error set is not fatal: the run goes on and run() starts the tool as
   * usual. */
  gboolean (*prestart) (CboxContext *ctx, GError **error);
} CboxBackendVTable;

/* ABI 1.4. The type of a configuration key, which the core checks a value
 * against before any plugin runs. */
typedef enum
{
  CBOX_PLUGIN_KEY_STRING = 1,  /* any text (the plugin checks more itself) */
  CBOX_PLUGIN_KEY_BOOLEAN,     /* true or false (also 1 or 0), as cbox_context_get_boolean() */
  CBOX_PLUGIN_KEY_STRING_LIST, /* values separated by ';', as cbox_context_get_string_list() */
  CBOX_PLUGIN_KEY_CHOICE,      /* one of .choices (spaces around it ignored) */
  CBOX_PLUGIN_KEY_INTEGER,     /* a whole number from .min to .max */
} CboxPluginKeyType;

/**
 * CboxPluginKey:
 *
 * ABI 1.4. One key of a plugin's configuration group ("[ssh] keys"): the
 * core refuses a key the plugin does not declare, and a value that does not
 * fit its type, in files, profiles and --set, naming file, line, group and
 * key; `cbox help NAME` lists them. Arrays of it end with an entry whose
 * name is NULL. Its layout is fixed for ABI major 1 (arrays have no
 * struct_size): what a later minor needs goes into the reserved members.
 */
typedef struct
{
  const char *name; /* [a-z0-9_-]+ */
  CboxPluginKeyType type;
  const char *description;    /* one line */
  const char *default_value;  /* as shown by help and docs; NULL: none */
  const char *const *choices; /* CBOX_PLUGIN_KEY_CHOICE: NULL-terminated */
  gint64 min;                 /* CBOX_PLUGIN_KEY_INTEGER */
  gint64 max;
  gpointer reserved[2];
} CboxPluginKey;

typedef struct
{
  guint32 abi_major;
  guint32 abi_minor;
  gsize struct_size;
  CboxPluginKind kind;
  const char *name; /* [a-z0-9_-]+, unique */
  const char *version;
  const char *description;      /* one line */
  const char *const *aliases;   /* NULL-terminated or NULL: "gpu", "display" */
  const char *const *after;     /* contribute after these plugins, when chosen */
  const char *const *conflicts; /* never together with these */
  /* Forwarder: the features it needs. Backend: the features it offers. */
  CboxFeatures features;
  const CboxForwarderVTable *forwarder; /* kind FORWARDER */
  const CboxBackendVTable *backend;     /* kind BACKEND */
  /* Forwarder: TRUE to be on by default (when the configuration names no
   * default list). */
  gboolean default_enabled;
  /* ABI 1.4. Every key the plugin reads from its group ([NAME]); NULL:
   * none. Any other key there is an error. Not checked for a plugin built
   * for an older minor, which cannot declare them. */
  const CboxPluginKey *keys;
} CboxPluginDesc;

#define CBOX_PLUGIN_ENTRY_POINT "cbox_plugin_describe"

typedef const CboxPluginDesc *(*CboxPluginDescribeFunc) (void);

/**
 * CBOX_PLUGIN_DEFINE:
 *
 * Defines the one exported symbol of a plugin. The ABI numbers and the
 * descriptor size are filled in; give the rest as designated initializers:
 *
 *   static const CboxForwarderVTable x11_vtable = {
 *     .struct_size = sizeof (CboxForwarderVTable),
 *     .probe = x11_probe,
 *     .contribute = x11_contribute,
 *   };
 *   CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER,
 *                       .name = "x11",
 *                       .version = "1.0",
 *                       .description = "X11 display",
 *                       .aliases = CBOX_STRV ("display"),
 *                       .features = CBOX_FEATURE_SOCKET | CBOX_FEATURE_DATA,
 *                       .forwarder = &x11_vtable)
 */
#define CBOX_STRV(...) ((const char *const[]){ __VA_ARGS__, NULL })
/* ABI 1.4. .keys = CBOX_KEYS ({ .name = "agent", .type = CBOX_PLUGIN_KEY_BOOLEAN,
 *                              .description = "...", .default_value = "true" }, ...) */
#define CBOX_KEYS(...) ((const CboxPluginKey[]){ __VA_ARGS__, { NULL } })

#define CBOX_PLUGIN_DEFINE(...)                                                                    \
  static const CboxPluginDesc cbox_plugin_desc_ = { .abi_major = CBOX_ABI_MAJOR,                   \
                                                    .abi_minor = CBOX_ABI_MINOR,                   \
                                                    .struct_size = sizeof (CboxPluginDesc),        \
                                                    __VA_ARGS__ };                                 \
  G_MODULE_EXPORT const CboxPluginDesc *cbox_plugin_describe (void);                               \
  G_MODULE_EXPORT const CboxPluginDesc *cbox_plugin_describe (void)                                \
  {                                                                                                \
    return &cbox_plugin_desc_;                                                                     \
  }

G_END_DECLS

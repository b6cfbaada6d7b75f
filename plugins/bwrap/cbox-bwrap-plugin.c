/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bwrap backend: renders a CboxPlan into a bubblewrap command line and
 * runs it. realize() builds the plain argv (what `cbox plan --print-command`
 * shows); run() moves every argument into a sealed memfd read by
 * `bwrap --args FD`, adds a --json-status-fd pipe, and hands over to the
 * generic run.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cbox/cbox-plugin.h>

#include "cbox-bwrap-private.h"

/* Where cbox-exec is bound inside; /run is the sandbox's own tmpfs. */
#define CBOX_BWRAP_EXEC_DEST "/run/cbox-exec"

/* Spare memfds a bwrap started early gets for the files the plan generates
 * (passwd, group, copies): a run that needs more starts bwrap late. */
#define CBOX_BWRAP_PRE_POOL 8

/* bwrap started before the plan exists (prestart), waiting for its
 * arguments on a socket. Every descriptor it needs is made now: the
 * arguments' socket, the status pipe, the command's socket and a pool for generated files, filled in by run. */
typedef struct
{
  pid_t pid;
  uid_t uid;          /* who it runs as (0: cbox's own user) */
  CboxLaunch *launch; /* owns the descriptors bwrap has, at the same numbers */
  int args_w;         /* cbox's end of the arguments' socket */
  int status_r;       /* cbox's end of --json-status-fd, non-blocking */
  int status_w;
  int exec_status_w; /* the same pipe, for cbox-exec --status-fd */
  /* cbox-exec was given --allow-userns: the plan must say the same. */
  gboolean allow_userns;
  /* cbox-exec was given --scope-abstract (the network is not the host's):
   * the plan must say the same. */
  gboolean scope_abstract;
  /* The command for cbox-exec (--args-fd), a socket too: it is written
   * only after every option, so a bwrap that got part of its options (cbox
   * killed while writing them) runs no command: cbox-exec reads an empty
   * command and exits. */
  int command_r;
  int command_w;
  int pool[CBOX_BWRAP_PRE_POOL];
  guint pool_used;
} CboxBwrapEarly;

typedef struct
{
  char *path;    /* the bwrap binary */
  char *version; /* "0.8.0", NULL when unknown */
  gboolean setuid;
  /* Set by realize: where the command part ("--", cbox-exec, ...) of the
   * argv begins, for run to keep it out of the --args memfd, and where
   * the command itself begins (after cbox-exec's options and "--"). */
  guint command_index;
  guint exec_command_index;
  gboolean allow_userns;   /* the plan's: cbox-exec --allow-userns */
  gboolean scope_abstract; /* network not the host's: cbox-exec --scope-abstract */
  CboxBwrapEarly *early;   /* NULL unless started early and not yet run */
  /* The project's shared network, joined in prestart (the early bwrap
   * starts in it); net_shared once realize decided the run uses it. */
  CboxNetShare *net_share;
  gboolean net_join_tried; /* a run: prestart tried to join */
  gboolean net_shared;
} CboxBwrapInfo;

/* Stops a bwrap started early that will not run (planning failed, a
 * signal, or run found the pool too small): it is still waiting for its
 * arguments, so nothing of a sandbox exists yet. */
static void
cbox_bwrap_early_free (CboxBwrapEarly *early)
{
  if (early == NULL)
    return;
  if (early->pid > 0)
    {
      kill (early->pid, SIGKILL);
      while (waitpid (early->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    }
  if (early->args_w >= 0)
    close (early->args_w);
  if (early->command_w >= 0)
    close (early->command_w);
  if (early->status_r >= 0)
    close (early->status_r);
  cbox_launch_free (early->launch);
  g_free (early);
}

static void
cbox_bwrap_info_free (CboxBwrapInfo *info)
{
  if (info == NULL)
    return;
  cbox_bwrap_early_free (info->early);
  cbox_net_share_free (info->net_share);
  g_free (info->path);
  g_free (info->version);
  g_free (info);
}

/* ---- probe ---------------------------------------------------------------- */

/* "0.8.0" from the "bubblewrap 0.8.0" string bwrap prints for --version,
 * found in its binary: a run pays for reading 70 KiB instead of a fork and
 * exec of bwrap (its dynamic loading, too), which is a good part of what
 * plain bwrap costs. NULL when not found (a wrapper script, say). */
char *
cbox_bwrap_version_from_binary (const char *path)
{
  static const char needle[] = "\0bubblewrap ";
  g_autoptr (GMappedFile) map = NULL;
  const char *data, *end, *p;
  struct stat st;
  int fd;

  /* O_NONBLOCK and a regular file only: `[bwrap] path` naming a fifo must
   * not hang the probe (the version then comes from `bwrap --version`,
   * which fails and says so). */
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return NULL;
  if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode))
    map = g_mapped_file_new_from_fd (fd, FALSE, NULL);
  close (fd);
  if (map == NULL)
    return NULL;
  data = g_mapped_file_get_contents (map);
  end = data + g_mapped_file_get_length (map);
  for (p = data; p != NULL && p < end;)
    {
      const char *hit = memmem (p, (gsize)(end - p), needle, sizeof needle - 1);
      const char *v, *q;

      if (hit == NULL)
        break;
      v = hit + sizeof needle - 1;
      for (q = v; q < end && (g_ascii_isdigit (*q) || *q == '.'); q++)
        ;
      if (q > v && q < end && *q == '\0' && g_ascii_isdigit (*v))
        return g_strndup (v, (gsize)(q - v));
      p = hit + 1;
    }
  return NULL;
}

/* "0.8.0" from "bubblewrap 0.8.0\n"; NULL when bwrap does not answer. */
static char *
cbox_bwrap_query_version (const char *path)
{
  const char *argv[] = { path, "--version", NULL };
  g_autofree char *out = NULL;
  int wait_status = 0;
  const char *space;

  if (!g_spawn_sync (NULL, (char **)argv, (char *[]){ NULL }, G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                     NULL, &out, NULL, &wait_status, NULL)
      || !g_spawn_check_wait_status (wait_status, NULL))
    return NULL;
  space = strrchr (g_strstrip (out), ' ');
  return g_strdup (space != NULL ? space + 1 : out);
}

/* The first integer in /proc/sys file @path, or @missing when unreadable. */
static gint64
cbox_bwrap_read_sysctl (const CboxHost *host, const char *path, gint64 missing)
{
  g_autofree char *resolved = cbox_host_resolve (host, path);
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (resolved, &contents, NULL, NULL))
    return missing;
  return g_ascii_strtoll (contents, NULL, 10);
}

static char *
cbox_bwrap_find (CboxContext *ctx, GError **error)
{
  g_autofree char *configured = cbox_context_get_string (ctx, "path");
  char *path;

  if (configured != NULL)
    {
      if (!g_file_test (configured, G_FILE_TEST_IS_EXECUTABLE)
          || g_file_test (configured, G_FILE_TEST_IS_DIR))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                       "%s is not an executable (key 'path' in [bwrap])", configured);
          return NULL;
        }
      return g_steal_pointer (&configured);
    }
  path = g_find_program_in_path ("bwrap");
  if (path == NULL)
    g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                 "bwrap not installed: apt install bubblewrap (or set 'path' in [bwrap])");
  return path;
}

gboolean
cbox_bwrap_version_at_least (const char *version, guint major, guint minor, guint micro)
{
  guint64 have[3] = { 0, 0, 0 };
  const guint64 want[3] = { major, minor, micro };
  const char *p = version;

  if (version == NULL)
    return FALSE;
  for (guint i = 0; i < 3 && *p != '\0'; i++)
    {
      char *end = NULL;
      have[i] = g_ascii_strtoull (p, &end, 10);
      if (end == p)
        break;
      p = *end == '.' ? end + 1 : end;
    }
  for (guint i = 0; i < 3; i++)
    if (have[i] != want[i])
      return have[i] > want[i];
  return TRUE;
}

/* Why unprivileged user namespaces do not work here, or NULL when they do
 * (as far as the kernel's switches tell: trying costs a fork, and a run
 * that fails shows bwrap's own message anyway). */
char *
cbox_bwrap_userns_problem (const CboxHost *host, uid_t uid)
{
  if (cbox_bwrap_read_sysctl (host, "/proc/sys/user/max_user_namespaces", 1) == 0)
    return g_strdup ("user.max_user_namespaces=0: user namespaces are disabled");
  if (uid != 0
      && cbox_bwrap_read_sysctl (host, "/proc/sys/kernel/unprivileged_userns_clone", 1) == 0)
    return g_strdup ("kernel.unprivileged_userns_clone=0: unprivileged user namespaces are "
                     "disabled (sysctl -w kernel.unprivileged_userns_clone=1, or a setuid bwrap)");
  return NULL;
}

static gboolean
cbox_bwrap_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  g_autoptr (GError) local_error = NULL;
  CboxBwrapInfo *info;
  g_autofree char *problem = NULL;
  g_autofree char *path = NULL;
  struct stat st;

  path = cbox_bwrap_find (ctx, &local_error);
  if (path == NULL)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE, "%s", local_error->message);
      return TRUE;
    }

  info = g_new0 (CboxBwrapInfo, 1);
  info->path = g_steal_pointer (&path);
  info->setuid = stat (info->path, &st) == 0 && (st.st_mode & S_ISUID) != 0 && st.st_uid == 0;
  info->version = cbox_bwrap_version_from_binary (info->path);
  if (info->version == NULL)
    info->version = cbox_bwrap_query_version (info->path);
  cbox_context_set_data (ctx, info, (GDestroyNotify)cbox_bwrap_info_free);

  cbox_probe_result_add_detail (result, "path", "%s", info->path);
  cbox_probe_result_add_detail (result, "version", "%s",
                                info->version != NULL ? info->version : "unknown");
  cbox_probe_result_add_detail (result, "setuid", "%s", info->setuid ? "yes" : "no");

  if (info->version == NULL)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                    "%s --version failed: not a working bubblewrap", info->path);
      return TRUE;
    }
  problem = cbox_bwrap_userns_problem (host, getuid ());
  cbox_probe_result_add_detail (result, "user namespaces", "%s",
                                problem == NULL ? "usable" : problem);
  if (problem != NULL && !info->setuid)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE, "%s", problem);
      return TRUE;
    }
  if (!cbox_bwrap_version_at_least (info->version, 0, 8, 0))
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_DEGRADED,
                                    "bubblewrap %s cannot forbid nested user namespaces "
                                    "(--disable-userns needs 0.8.0)",
                                    info->version);
      return TRUE;
    }
  cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);
  return TRUE;
}

/* ---- prestart -------------------------------------------------------------- */

/* @fd, or -1 with @error set from errno when @what failed. */
static int
cbox_bwrap_fd_or_error (int fd, const char *what, GError **error)
{
  if (fd < 0)
    {
      int saved_errno = errno;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "bwrap: %s: %s", what,
                   g_strerror (saved_errno));
    }
  return fd;
}

static int
cbox_bwrap_memfd (const char *name, GError **error)
{
  return cbox_bwrap_fd_or_error (memfd_create (name, MFD_CLOEXEC | MFD_ALLOW_SEALING),
                                 "memfd_create", error);
}

/* A second descriptor for the status pipe's write end @fd, for cbox-exec
 * (--status-fd): bwrap closes its own --json-status-fd in the sandbox, but
 * leaves one it does not know about to pid 1. Close-on-exec in cbox; the
 * launch hands it on. */
static int
cbox_bwrap_dup_fd (int fd, GError **error)
{
  return cbox_bwrap_fd_or_error (fcntl (fd, F_DUPFD_CLOEXEC, 3), "dup", error);
}

/* What the plan's allow-userns will be, from the configuration (as
 * cbox-request.c reads it: [cbox] allow-userns, or the older [bwrap] one). */
static gboolean
cbox_bwrap_config_allows_userns (CboxContext *ctx)
{
  GKeyFile *config = cbox_context_get_config (ctx);
  static const char *const groups[] = { "cbox", "bwrap" };

  for (gsize i = 0; i < G_N_ELEMENTS (groups); i++)
    if (config != NULL && g_key_file_get_boolean (config, groups[i], "allow-userns", NULL))
      return TRUE;
  return FALSE;
}

/* What the plan's network mode will say about abstract sockets, from the
 * configuration (--network is in it too): cbox-exec scopes them for every
 * mode but host. */
static gboolean
cbox_bwrap_config_scopes_abstract (CboxContext *ctx)
{
  GKeyFile *config = cbox_context_get_config (ctx);
  g_autofree char *value
      = config != NULL ? g_key_file_get_string (config, "cbox", "network", NULL) : NULL;
  CboxNetworkMode mode = CBOX_NETWORK_OWN;

  if (value != NULL && !cbox_network_mode_from_string (value, &mode))
    mode = CBOX_NETWORK_OWN;
  return mode != CBOX_NETWORK_HOST;
}

/* Whether the command's uid is the host's 0: root runs bwrap (no user
 * namespace) for a command that runs as root. */
static gboolean
cbox_bwrap_command_is_host_root (CboxPlan *plan)
{
  return getuid () == 0 && cbox_plan_get_uid (plan) == 0;
}

/* Starts bwrap before the plan exists: `bwrap --args FD -- cbox-exec
 * --init --args-fd FD2`, blocked reading its arguments from a socket that
 * run fills in. bwrap's own start (exec, libraries, about 1 ms) then
 * overlaps with the rest of the planning instead of following it. The
 * sandbox is made only once the arguments came: until then a bwrap that
 * is killed (planning failed) leaves nothing behind. */
static gboolean
cbox_bwrap_prestart (CboxContext *ctx, GError **error)
{
  CboxBwrapInfo *info = cbox_context_get_data (ctx);
  const CboxHost *host = cbox_context_get_host (ctx);
  CboxLaunchRunOptions options = {
    .struct_size = sizeof (CboxLaunchRunOptions),
    .tool_ignores_signals = TRUE,
  };
  CboxBwrapEarly *early;
  int args_pair[2];
  int command_pair[2];
  int status_pipe[2];
  int fd;

  if (info == NULL || info->early != NULL)
    return TRUE;
  early = g_new0 (CboxBwrapEarly, 1);
  early->args_w = early->status_r = early->status_w = early->exec_status_w = -1;
  early->command_r = early->command_w = -1;
  early->launch = cbox_launch_new ();

  /* Sockets, not pipes: run writes with MSG_NOSIGNAL, so a bwrap that
   * died meanwhile is an error, not a SIGPIPE that kills cbox. */
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, args_pair) < 0)
    {
      cbox_bwrap_fd_or_error (-1, "socketpair", error);
      cbox_bwrap_early_free (early);
      return FALSE;
    }
  early->args_w = args_pair[1];
  cbox_launch_take_fd (early->launch, args_pair[0]);
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, command_pair) < 0
      || pipe2 (status_pipe, O_CLOEXEC) < 0)
    {
      cbox_bwrap_fd_or_error (-1, "socketpair", error);
      cbox_bwrap_early_free (early);
      return FALSE;
    }
  early->command_w = command_pair[1];
  early->command_r = cbox_launch_take_fd (early->launch, command_pair[0]);
  early->status_r = status_pipe[0];
  fcntl (early->status_r, F_SETFL, O_NONBLOCK);
  early->status_w = cbox_launch_take_fd (early->launch, status_pipe[1]);
  if ((fd = cbox_bwrap_dup_fd (status_pipe[1], error)) < 0)
    {
      cbox_bwrap_early_free (early);
      return FALSE;
    }
  early->exec_status_w = cbox_launch_take_fd (early->launch, fd);
  for (guint i = 0; i < CBOX_BWRAP_PRE_POOL; i++)
    {
      if ((fd = cbox_bwrap_memfd ("cbox-data", error)) < 0)
        {
          cbox_bwrap_early_free (early);
          return FALSE;
        }
      early->pool[i] = cbox_launch_take_fd (early->launch, fd);
    }

  cbox_launch_add_args (early->launch, info->path, "--args", NULL);
  cbox_launch_add_argf (early->launch, "%d", args_pair[0]);
  cbox_launch_add_args (early->launch, "--", CBOX_BWRAP_EXEC_DEST, "--init", "--status-fd", NULL);
  cbox_launch_add_argf (early->launch, "%d", early->exec_status_w);
  /* The plan does not exist yet: what the configuration says now is what
   * it will say (run starts bwrap late if not), as realize decides it (a
   * root command gets no user namespace). */
  early->allow_userns
      = cbox_bwrap_config_allows_userns (ctx) && !(getuid () == 0 && cbox_host_get_uid (host) == 0);
  if (early->allow_userns)
    cbox_launch_add_arg (early->launch, "--allow-userns");
  early->scope_abstract = cbox_bwrap_config_scopes_abstract (ctx);
  if (early->scope_abstract)
    cbox_launch_add_arg (early->launch, "--scope-abstract");
  cbox_launch_add_arg (early->launch, "--args-fd");
  cbox_launch_add_argf (early->launch, "%d", early->command_r);
  /* bwrap's own environment: nothing (the sandbox's comes with
   * --clearenv and --setenv in the arguments, as in a late start). */
  cbox_launch_set_environ (early->launch, (const char *const[]){ NULL });
  /* As root on somebody's behalf, the user's bwrap (see
   * cbox_bwrap_run_as()); run checks the plan agrees. */
  if (getuid () == 0 && cbox_host_get_uid (host) != 0)
    {
      early->uid = cbox_host_get_uid (host);
      options.run_as_uid = early->uid;
      options.run_as_gid = cbox_host_get_gid (host);
    }
  /* The project's shared network: bwrap starts in it and makes no
   * network namespace of its own (realize leaves --unshare-net out). Not
   * joined, the run gets a namespace and helper of its own, as isolated.
   * Not with a setuid bwrap: inside the keeper's user namespace, which
   * maps no root, the kernel would not honour its setuid bit. */
  if (info->net_share == NULL && !info->setuid && cbox_net_share_keep_seconds (ctx) > 0)
    {
      g_autoptr (GError) share_error = NULL;

      info->net_join_tried = TRUE;
      info->net_share = cbox_net_share_join (ctx, &share_error);
      if (info->net_share == NULL && share_error != NULL && cbox_context_get_verbose (ctx))
        g_printerr ("cbox: bwrap: %s; this run gets a network of its own\n", share_error->message);
    }
  if (info->net_share != NULL)
    cbox_launch_set_namespaces (early->launch, cbox_net_share_get_userns_fd (info->net_share),
                                cbox_net_share_get_netns_fd (info->net_share));
  early->pid = cbox_launch_spawn (early->launch, &options, error);
  if (early->pid < 0)
    {
      early->pid = 0;
      cbox_bwrap_early_free (early);
      return FALSE;
    }
  info->early = early;
  return TRUE;
}

/* ---- realize ------------------------------------------------------------- */

/* Run as root on somebody's behalf (sudo), cbox starts bwrap as that user:
 * an unprivileged sandbox as the user would have had without sudo, files
 * in the project theirs, and no host root behind the sandbox's uid mapping
 * if it were ever escaped. 0 when bwrap runs as cbox does. */
static uid_t
cbox_bwrap_run_as (CboxPlan *plan)
{
  return getuid () == 0 && cbox_plan_get_uid (plan) != 0 ? cbox_plan_get_uid (plan) : 0;
}

/* A new fd at offset 0 for the launch to own, reading the content of the
 * plan's memfd @fd (the plan keeps its own). */
static int
cbox_bwrap_reopen_data (int fd, const char *dest, GError **error)
{
  g_autofree char *proc_path = g_strdup_printf ("/proc/self/fd/%d", fd);
  int copy = open (proc_path, O_RDONLY | O_CLOEXEC);

  /* Opening /proc/self/fd gives an independent offset; without /proc,
   * share the plan's description and rewind it. */
  if (copy < 0)
    {
      copy = fcntl (fd, F_DUPFD_CLOEXEC, 3);
      if (copy >= 0)
        lseek (copy, 0, SEEK_SET);
    }
  if (copy < 0)
    {
      int saved_errno = errno;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "bwrap: data for %s: %s", dest,
                   g_strerror (saved_errno));
    }
  return copy;
}

static void
cbox_bwrap_add_perms (CboxLaunch *launch, guint32 mode)
{
  cbox_launch_add_arg (launch, "--perms");
  cbox_launch_add_argf (launch, "%04o", (unsigned)(mode & 07777));
}

static gboolean
cbox_bwrap_add_mount (CboxLaunch *launch, const CboxMount *mount, GError **error)
{
  gboolean try = (mount->flags & CBOX_MOUNT_FLAG_ALLOW_MISSING) != 0;

  switch (mount->kind)
    {
    case CBOX_MOUNT_RO:
      cbox_launch_add_args (launch, try ? "--ro-bind-try" : "--ro-bind", mount->src, mount->dest,
                            NULL);
      return TRUE;
    case CBOX_MOUNT_RW:
    case CBOX_MOUNT_SOCKET:
      /* A socket must be writable to connect(2) to it. */
      cbox_launch_add_args (launch, try ? "--bind-try" : "--bind", mount->src, mount->dest, NULL);
      return TRUE;
    case CBOX_MOUNT_DEV:
      cbox_launch_add_args (launch, try ? "--dev-bind-try" : "--dev-bind", mount->src, mount->dest,
                            NULL);
      return TRUE;
    case CBOX_MOUNT_TMPFS:
      cbox_bwrap_add_perms (launch, mount->mode);
      cbox_launch_add_args (launch, "--tmpfs", mount->dest, NULL);
      return TRUE;
    case CBOX_MOUNT_DIR:
      cbox_bwrap_add_perms (launch, mount->mode);
      cbox_launch_add_args (launch, "--dir", mount->dest, NULL);
      return TRUE;
    case CBOX_MOUNT_SYMLINK:
      cbox_launch_add_args (launch, "--symlink", mount->src, mount->dest, NULL);
      return TRUE;
    case CBOX_MOUNT_DATA:
      {
        int fd = cbox_bwrap_reopen_data (mount->fd, mount->dest, error);
        if (fd < 0)
          return FALSE;
        cbox_launch_take_fd (launch, fd);
        cbox_bwrap_add_perms (launch, mount->mode);
        /* --file: a copy in the sandbox's tmpfs the command may change;
         * --ro-bind-data: the same, mounted read-only. */
        cbox_launch_add_arg (
            launch, (mount->flags & CBOX_MOUNT_FLAG_WRITABLE) != 0 ? "--file" : "--ro-bind-data");
        cbox_launch_add_argf (launch, "%d", fd);
        cbox_launch_add_arg (launch, mount->dest);
        return TRUE;
      }
    default:
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                   "bwrap: mount kind %d at %s is not supported", (int)mount->kind, mount->dest);
      return FALSE;
    }
}

gboolean
cbox_bwrap_realize (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, GError **error)
{
  CboxBwrapInfo *info = cbox_context_get_data (ctx);
  const char *const *command = cbox_plan_get_command (plan);
  g_autofree char *path = NULL;
  g_autofree char *exec_path = NULL;
  g_auto (GStrv) env = NULL;
  gboolean allow_userns = FALSE;

  if (command == NULL || command[0] == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "bwrap: the plan has no command");
      return FALSE;
    }
  /* The plan's setting; [bwrap] allow-userns is its older spelling (the
   * core counts it too), still checked here for a bad value. */
  if (!cbox_context_get_boolean (ctx, "allow-userns", FALSE, &allow_userns, error))
    return FALSE;
  allow_userns = allow_userns || cbox_plan_get_allow_userns (plan);
  /* Not for a command that is the host's root, as nspawn does (see
   * there): in a user namespace of its own it keeps the host's uid 0 for
   * the kernel's sysctl checks, so it is one fresh proc mount away from
   * core_pattern, which only the covers below and bwrap's own hold back;
   * and it gains nothing, since mapping uid 0 into a new user namespace
   * takes CAP_SETFCAP: bwrap, Firefox's and Chromium's sandboxes fail for
   * root anyway (Firefox falls back to its sandbox without namespaces when
   * it cannot make one, and loops on crashing tabs when it can but then
   * cannot map its uid). docs/security.md, "bwrap". */
  if (allow_userns && cbox_bwrap_command_is_host_root (plan))
    {
      allow_userns = FALSE;
      /* The plan says what the command gets: `cbox plan` names no
       * exception to the filter that is not made, and cbox enter's
       * registry entry records the filter loaded. */
      cbox_plan_set_allow_userns (plan, FALSE);
      cbox_plan_add_note (plan, "allow-userns is not applied to a command that runs as root "
                                "(the host's uid 0 in a user namespace of its own could write "
                                "/proc/sys): new user namespaces stay refused");
    }

  if (info == NULL)
    {
      /* Realized without a probe first (a unit test): find bwrap now. */
      if ((path = cbox_bwrap_find (ctx, error)) == NULL)
        return FALSE;
      info = g_new0 (CboxBwrapInfo, 1);
      info->path = g_steal_pointer (&path);
      cbox_context_set_data (ctx, info, (GDestroyNotify)cbox_bwrap_info_free);
    }

  exec_path = g_build_filename (cbox_context_get_libexec_dir (ctx), "cbox-exec", NULL);
  if (!g_file_test (exec_path, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "bwrap: %s is missing (is cbox installed completely?)", exec_path);
      return FALSE;
    }

  cbox_launch_add_arg (launch, info->path);

  /* Namespaces: everything but the network, which goes only when off.
   * --as-pid-1: cbox-exec is the pid namespace's init, so cbox can signal
   * it (bwrap's own init would not pass signals on). --die-with-parent:
   * the sandbox ends when bwrap does, bwrap when cbox does. No
   * --new-session: cbox's seccomp filter refuses TIOCSTI instead (see
   * core/cbox-seccomp.c). */
  cbox_launch_add_args (launch, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                        "--unshare-cgroup-try", NULL);
  /* The network: a namespace of the sandbox's own unless the host's was
   * asked for by name. With the mode on, the namespace is made here, by
   * bwrap, and given its network by the helper run attaches to it: if the
   * helper is missing or fails, the command does not start, and if
   * anything went wrong in between the sandbox would have no network at
   * all, never the host's (docs/security.md, "Network"). */
  switch (cbox_plan_get_network_mode (plan))
    {
    case CBOX_NETWORK_OFF:
      cbox_launch_add_arg (launch, "--unshare-net");
      break;
    case CBOX_NETWORK_OWN:
      {
        guint n_ports = 0;
        guint keep_s = cbox_net_share_keep_seconds (ctx);

        cbox_plan_get_published_ports (plan, &n_ports);
        /* Published ports are this run's alone: a namespace and helper of
         * its own, whose API takes them. */
        info->net_shared = info->net_share != NULL && n_ports == 0;
        /* What this run does: no sharing with a setuid bwrap, nor when
         * its prestart could not join (-v said why). */
        if (info->setuid || (info->net_join_tried && info->net_share == NULL))
          keep_s = 0;
        if (!info->net_shared)
          cbox_launch_add_arg (launch, "--unshare-net");
        if (keep_s > 0 && n_ports == 0)
          cbox_plan_add_note (plan,
                              "network of its own: outbound through slirp4netns, the host's "
                              "localhost and abstract sockets out of reach; shared with this "
                              "project's other runs (their localhost servers reach each other), "
                              "kept %u s after the last ([cbox] network-keep)",
                              keep_s);
        else
          cbox_plan_add_note (plan, "network of its own: outbound through slirp4netns, the "
                                    "host's localhost and abstract sockets out of reach");
      }
      break;
    case CBOX_NETWORK_HOST:
      cbox_plan_add_note (plan, "the host's network namespace: its localhost services and "
                                "abstract unix sockets are reachable");
      break;
    case CBOX_NETWORK_ALLOW:
    case CBOX_NETWORK_DENY:
      /* Only the loopback, where the proxy's socket is made once the
       * namespace exists (cbox_bwrap_started()): no route, no DNS. */
      cbox_launch_add_arg (launch, "--unshare-net");
      cbox_plan_add_note (plan, "network through the allowlist's proxy only (127.0.0.1:3128 "
                                "inside): no other route, no DNS");
      break;
    default:
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                   "bwrap: network mode %d is not supported",
                   (int)cbox_plan_get_network_mode (plan));
      return FALSE;
    }
  cbox_launch_add_args (launch, "--die-with-parent", "--as-pid-1", NULL);

  /* Nested user namespaces are the kernel's widest attack surface an
   * unprivileged process can reach, and a way to get capabilities over a
   * new mount namespace: forbid them unless the configuration says the
   * program sandboxes itself (Chromium, Firefox need them for their own
   * sandbox). See docs/security.md, "bwrap". */
  if (!allow_userns && info->version != NULL
      && !cbox_bwrap_version_at_least (info->version, 0, 8, 0))
    cbox_plan_add_note (plan,
                        "bubblewrap %s has no --disable-userns: only the seccomp filter "
                        "refuses nested user namespaces",
                        info->version);
  else if (!allow_userns)
    cbox_launch_add_args (launch, "--disable-userns", "--assert-userns-disabled", NULL);

  if (cbox_bwrap_run_as (plan) != 0)
    cbox_plan_add_note (plan, "bwrap runs as uid %u, not root", (unsigned)cbox_bwrap_run_as (plan));
  else if (cbox_plan_get_uid (plan) != getuid ())
    {
      cbox_launch_add_arg (launch, "--uid");
      cbox_launch_add_argf (launch, "%u", (unsigned)cbox_plan_get_uid (plan));
    }
  if (cbox_bwrap_run_as (plan) == 0 && cbox_plan_get_gid (plan) != getgid ())
    {
      cbox_launch_add_arg (launch, "--gid");
      cbox_launch_add_argf (launch, "%u", (unsigned)cbox_plan_get_gid (plan));
    }
  if (cbox_plan_get_hostname (plan) != NULL)
    cbox_launch_add_args (launch, "--hostname", cbox_plan_get_hostname (plan), NULL);

  /* No capability, whoever runs bwrap. bwrap keeps every capability of
   * the sandbox's user namespace for a command whose uid inside is 0, and
   * when root runs bwrap that uid 0 is the host's: its capabilities over
   * the sandbox's own mounts let it remount /proc/sys or a read-only bind
   * writable, and then write /proc/sys/kernel/core_pattern (a helper the
   * host's kernel runs as root) or the host's /usr, with the DAC override
   * root has over files of the host's uids. Dropped here, and again by
   * cbox-exec (core/cbox-confine.c) for every backend. Files the command
   * makes still belong to the uid it runs as (root's, for root). The
   * seccomp filter is cbox-exec's too (no --seccomp): one filter for
   * every backend. */
  cbox_launch_add_args (launch, "--cap-drop", "ALL", NULL);

  /* bwrap's own mechanics first, so the plan can put things under them
   * (/dev/dri). */
  cbox_launch_add_args (launch, "--proc", "/proc", "--dev", "/dev", NULL);
  /* What bwrap's /proc leaves writable to the host's root. The kernel lets
   * a writer whose uid is the host's 0 write /proc/sys (core_pattern: a
   * program the host's kernel runs as root at the next crash) and
   * /proc/sysrq-trigger (reboot, crash the host) with no capability at
   * all, and bwrap covers them only where its own access() check says
   * they are writable, which it does not for root in a user namespace.
   * So: /proc/sys read-only (the host's tree, bound from outside: the
   * same values, but no writes), the trigger under /dev/null's read-only
   * bind. /proc/keys and /proc/key-users list every key (and keyring
   * user) the caller may view, the host's included: empty inside.
   *
   * Those covers also stop a nested sandbox from mounting a /proc of its
   * own: the kernel allows a new proc mount in a user namespace only
   * where a proc already visible there has no locked mount over anything
   * but an empty directory (fs/namespace.c, mount_too_revealing), and
   * every mount of this sandbox is locked in a namespace the command
   * makes. Where the command's uid is the host's 0 that refusal is what
   * keeps core_pattern out of reach (a user namespace keeps the host's
   * kuid 0 whatever its map), so root keeps the covers; it gets no
   * allow-userns either (above).
   *
   * Anybody else who may make user namespaces (allow-userns: Claude
   * Code's sandbox, bwrap or flatpak inside) gets /proc without covers,
   * so the nested sandbox can mount its own. Nothing it held back is
   * reachable then: /proc/sys and /proc/sysrq-trigger belong to the
   * host's root, and a user namespace gives no capability over files
   * whose owner it does not map (the sysctls check the writer's uid
   * against the host's 0, not a capability). What shows is /proc/keys:
   * the descriptions (never the payloads: keyctl is refused) of the
   * caller's own keys that the key's owner may view, written down in
   * docs/security.md, "bwrap". */
  if (!allow_userns || cbox_bwrap_command_is_host_root (plan))
    {
      cbox_launch_add_args (launch, "--ro-bind", "/proc/sys", "/proc/sys", NULL);
      /* Each only where this kernel has it (no CONFIG_MAGIC_SYSRQ, no
       * CONFIG_KEYS): the sandbox's /proc is the same kernel's. */
      static const char *const covered[]
          = { "/proc/sysrq-trigger", "/proc/keys", "/proc/key-users" };
      for (gsize i = 0; i < G_N_ELEMENTS (covered); i++)
        if (access (covered[i], F_OK) == 0)
          cbox_launch_add_args (launch, "--ro-bind", "/dev/null", covered[i], NULL);
    }
  else
    cbox_plan_add_note (plan, "/proc without covers, so that a nested sandbox can mount its "
                              "own (allow-userns, and the command is not the host's root)");

  /* The plan in its order: later items go over earlier ones. */
  for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
    if (!cbox_bwrap_add_mount (launch, cbox_plan_get_mount (plan, i), error))
      return FALSE;

  /* Last, so no tmpfs of the plan hides it. */
  cbox_launch_add_args (launch, "--ro-bind", exec_path, CBOX_BWRAP_EXEC_DEST, NULL);

  /* The environment starts empty: --clearenv drops whatever bwrap got
   * (nothing: it is spawned with the plan's environment only), and every
   * variable is on the command line, so the printed command is complete. */
  cbox_launch_add_arg (launch, "--clearenv");
  env = cbox_plan_get_environ (plan);
  for (guint i = 0; env[i] != NULL; i++)
    {
      const char *eq = strchr (env[i], '=');
      if (eq == NULL)
        continue;
      cbox_launch_add_arg (launch, "--setenv");
      cbox_launch_take_arg (launch, g_strndup (env[i], (gsize)(eq - env[i])));
      cbox_launch_add_arg (launch, eq + 1);
    }
  cbox_launch_set_environ (launch, (const char *const *)env);

  if (cbox_plan_get_cwd (plan) != NULL)
    cbox_launch_add_args (launch, "--chdir", cbox_plan_get_cwd (plan), NULL);

  for (info->command_index = 0; cbox_launch_get_argv (launch)[info->command_index] != NULL;
       info->command_index++)
    ;
  cbox_launch_add_args (launch, "--", CBOX_BWRAP_EXEC_DEST, "--init", NULL);
  info->allow_userns = allow_userns;
  if (allow_userns)
    cbox_launch_add_arg (launch, "--allow-userns");
  /* A second layer behind the namespace of its own (core/cbox-confine.c):
   * abstract unix sockets made outside the command's Landlock domain stay
   * closed, except with the host's network, where they are meant to be
   * reachable. */
  info->scope_abstract = cbox_plan_get_network_mode (plan) != CBOX_NETWORK_HOST;
  if (info->scope_abstract)
    cbox_launch_add_arg (launch, "--scope-abstract");
  cbox_launch_add_arg (launch, "--");
  info->exec_command_index
      = info->command_index + 4 + (allow_userns ? 1 : 0) + (info->scope_abstract ? 1 : 0);
  for (guint i = 0; command[i] != NULL; i++)
    cbox_launch_add_arg (launch, command[i]);
  return TRUE;
}

/* ---- run ------------------------------------------------------------------ */

typedef struct
{
  int status_fd; /* read end of --json-status-fd, non-blocking */
  GString *status;
  pid_t child_pid; /* cbox-exec, pid 1 inside; 0 until bwrap said */
  CboxContext *ctx;
  /* A bwrap started early: its options and cbox-exec's command, given in
   * release. */
  int args_w;
  GBytes *args;
  int command_w;
  GBytes *command;
  /* Network of its own: the command is written only once the network
   * helper said the namespace is ready (both starts). */
  CboxPlan *plan;
  gboolean own_net;
  uid_t net_uid;
  gid_t net_gid;
  GError *net_error;
} CboxBwrapRun;

static void
cbox_bwrap_run_read_status (CboxBwrapRun *run, int timeout_ms)
{
  for (;;)
    {
      char buf[512];
      ssize_t n = read (run->status_fd, buf, sizeof buf);

      if (n > 0)
        {
          g_string_append_len (run->status, buf, n);
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN && timeout_ms > 0)
        {
          struct pollfd pfd = { .fd = run->status_fd, .events = POLLIN };
          if (poll (&pfd, 1, timeout_ms) > 0)
            {
              timeout_ms = 0;
              continue;
            }
        }
      return;
    }
}

/* The value of "key": N in bwrap's JSON status lines, or -1. */
gint64
cbox_bwrap_status_get (const char *status, const char *key)
{
  g_autofree char *quoted = g_strdup_printf ("\"%s\"", key);
  const char *p = strstr (status, quoted);

  if (p == NULL)
    return -1;
  p += strlen (quoted);
  while (*p == ' ' || *p == ':')
    p++;
  if (!g_ascii_isdigit (*p))
    return -1;
  return g_ascii_strtoll (p, NULL, 10);
}

static pid_t
cbox_bwrap_signal_target (gpointer user_data)
{
  CboxBwrapRun *run = user_data;

  /* bwrap writes the pid right after clone(); a signal that comes even
   * earlier waits that long. */
  if (run->child_pid <= 0)
    {
      cbox_bwrap_run_read_status (run, 2000);
      run->child_pid = (pid_t)cbox_bwrap_status_get (run->status->str, "child-pid");
    }
  return run->child_pid > 0 ? run->child_pid : 0;
}

/* TRUE once @pid no longer runs bwrap's code: it set the sandbox up and
 * exec'd cbox-exec. */
static gboolean
cbox_bwrap_child_is_ready (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/comm", (int)pid);
  g_autofree char *comm = NULL;

  if (!g_file_get_contents (path, &comm, NULL, NULL))
    return FALSE;
  return !g_str_equal (g_strchomp (comm), "bwrap");
}

/* TRUE once the loopback of @pid's network namespace is up: it has ::1,
 * which the kernel gives lo when lo comes up (IPv6 on). */
static gboolean
cbox_bwrap_loopback_is_up (pid_t pid)
{
  char path[64];
  char buf[1024];
  cbox_autofd int fd = -1;
  ssize_t n;

  g_snprintf (path, sizeof path, "/proc/%d/net/if_inet6", (int)pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return FALSE;
  n = read (fd, buf, sizeof buf - 1);
  if (n <= 0)
    return FALSE;
  buf[n] = '\0';
  /* "00000000000000000000000000000001 01 80 10 80       lo" */
  return strstr (buf, "00000000000000000000000000000001 ") != NULL
         && (strstr (buf, " lo\n") != NULL);
}

static void cbox_bwrap_send_and_close (int *fd, GBytes *bytes);

/* Tells the core the sandbox's pid 1 (for `cbox ps`, `cbox enter`), which
 * bwrap writes right after clone(), once the sandbox is set up (before,
 * its user namespace may have no uid map yet and its root be the host's).
 * Waits a bounded time, and no longer once bwrap has ended. */
static void
cbox_bwrap_started (pid_t tool_pid, gpointer user_data)
{
  CboxBwrapRun *run = user_data;
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  cbox_autofd int tool_fd = (int)syscall (SYS_pidfd_open, tool_pid, 0);
  CboxNetHelper *net = NULL;
  CboxNetProxy *proxy = NULL;
  gboolean use_proxy = cbox_network_mode_uses_proxy (cbox_plan_get_network_mode (run->plan));
  CboxBwrapInfo *info = cbox_context_get_data (run->ctx);
  /* The project's shared network: the sandbox is in it from its start,
   * and its helper runs already (or is getting ready for the first run). */
  gboolean shared = info != NULL && info->net_shared && !use_proxy;
  gint64 net_started = 0;

  while (run->child_pid <= 0 && g_get_monotonic_time () < deadline)
    {
      struct pollfd pfds[2]
          = { { .fd = run->status_fd, .events = POLLIN }, { .fd = tool_fd, .events = POLLIN } };

      if (poll (pfds, tool_fd >= 0 ? 2 : 1, 100) < 0 && errno != EINTR)
        break;
      cbox_bwrap_run_read_status (run, 0);
      run->child_pid = (pid_t)MAX (cbox_bwrap_status_get (run->status->str, "child-pid"), 0);
      if (run->child_pid <= 0 && (pfds[1].revents & POLLIN))
        break;
    }
  /* The helper attaches to the sandbox's network namespace once bwrap has
   * configured the namespace's loopback itself: attached earlier (right
   * after clone()), slirp4netns --configure brought lo up first (the
   * kernel then gives it 127.0.0.1) and bwrap's own RTM_NEWADDR failed now
   * and then ("loopback: Failed RTM_NEWADDR"), failing the run. bwrap
   * adds the address, then brings lo up, and only then does ::1 appear on
   * it, so ::1 on lo means bwrap is done with the network and is still
   * setting the mounts up: the helper starts in parallel with that. Where
   * IPv6 is off (no ::1 ever), it starts once bwrap's child has exec'd
   * cbox-exec, as before. Only the command waits for the helper. */
  while (run->child_pid > 0 && !cbox_bwrap_child_is_ready (run->child_pid)
         && !(run->own_net && cbox_bwrap_loopback_is_up (run->child_pid))
         && g_get_monotonic_time () < deadline)
    {
      struct pollfd pfd = { .fd = tool_fd, .events = POLLIN };
      if (tool_fd >= 0 && poll (&pfd, 1, 1) > 0)
        return;
      if (tool_fd < 0)
        g_usleep (1000);
    }
  if (run->own_net && run->child_pid > 0
      && (cbox_bwrap_child_is_ready (run->child_pid) || cbox_bwrap_loopback_is_up (run->child_pid)))
    {
      g_autofree char *ns_path = g_strdup_printf ("/proc/%d/ns/net", (int)run->child_pid);
      cbox_autofd int netns_fd = open (ns_path, O_RDONLY | O_CLOEXEC);

      if (netns_fd < 0)
        {
          int saved_errno = errno;
          g_set_error (&run->net_error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                       "bwrap: the sandbox's network namespace (%s): %s; the command did not "
                       "start",
                       ns_path, g_strerror (saved_errno));
        }
      else if (use_proxy)
        proxy = cbox_net_proxy_start (run->plan, netns_fd, run->net_uid, run->net_gid,
                                      &run->net_error);
      else if (!shared)
        net = cbox_net_helper_start (run->plan, netns_fd, run->net_uid, run->net_gid,
                                     &run->net_error);
      net_started = g_get_monotonic_time ();
    }
  else if (run->own_net && run->child_pid > 0)
    g_set_error (&run->net_error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                 "bwrap: the sandbox was not set up within 5 s, so its network was not "
                 "started; the command did not start");
  /* Then the rest of the sandbox's set-up. */
  while (run->child_pid > 0 && !cbox_bwrap_child_is_ready (run->child_pid)
         && g_get_monotonic_time () < deadline)
    {
      struct pollfd pfd = { .fd = tool_fd, .events = POLLIN };
      if (tool_fd >= 0 && poll (&pfd, 1, 1) > 0)
        return;
      if (tool_fd < 0)
        g_usleep (1000);
    }
  if (run->child_pid > 0 && cbox_bwrap_child_is_ready (run->child_pid))
    cbox_context_set_sandbox_pid (run->ctx, run->child_pid);
  if (net != NULL && run->net_error == NULL)
    {
      gint64 sandbox_ready = g_get_monotonic_time ();

      if (cbox_net_helper_wait_ready (net, &run->net_error))
        {
          cbox_bwrap_send_and_close (&run->command_w, run->command);
          /* What the network costs a run: the part of the helper's start
           * the sandbox's own set-up did not hide. */
          if (cbox_context_get_verbose (run->ctx))
            g_printerr ("cbox: bwrap: network helper ready %.1f ms after it started; the "
                        "command waited %.1f ms for it\n",
                        (g_get_monotonic_time () - net_started) / 1000.0,
                        (g_get_monotonic_time () - sandbox_ready) / 1000.0);
        }
    }
  if (shared && run->net_error == NULL)
    {
      gint64 sandbox_ready = g_get_monotonic_time ();

      if (cbox_net_share_wait_ready (info->net_share, &run->net_error))
        {
          cbox_bwrap_send_and_close (&run->command_w, run->command);
          if (cbox_context_get_verbose (run->ctx))
            g_printerr ("cbox: bwrap: the project's shared network; the command waited %.1f ms "
                        "for it\n",
                        (g_get_monotonic_time () - sandbox_ready) / 1000.0);
        }
    }
  if (proxy != NULL && run->net_error == NULL && cbox_net_proxy_wait_ready (proxy, &run->net_error))
    {
      cbox_bwrap_send_and_close (&run->command_w, run->command);
      if (cbox_context_get_verbose (run->ctx))
        g_printerr ("cbox: bwrap: network proxy ready %.1f ms after it started\n",
                    (g_get_monotonic_time () - net_started) / 1000.0);
    }
  /* Without a ready network the command socket closes empty: cbox-exec
   * exits without running anything, and run reports why. */
  if (run->own_net && run->command_w >= 0)
    {
      close (run->command_w);
      run->command_w = -1;
    }
}

/* bwrap writes "exit-code" once the command (cbox-exec, pid 1 inside) has
 * been reaped: every process of the sandbox is gone then, and what is left
 * is bwrap's own exit. */
/* The value of "key" in @status if its line is complete, or -1. */
static gint64
cbox_bwrap_status_get_line (const char *status, const char *key)
{
  g_autofree char *quoted = g_strdup_printf ("\"%s\"", key);
  const char *p = strstr (status, quoted);

  if (p == NULL || strchr (p, '\n') == NULL)
    return -1;
  return cbox_bwrap_status_get (p, key);
}

/* The command's exit status from the status pipe, or -1 while it runs.
 * cbox-exec (pid 1 inside, --status-fd) writes it the moment the command
 * has ended, before the kernel takes the sandbox's namespaces down; bwrap
 * writes the same as "exit-code" once that is done (and alone when pid 1
 * never got to write, killed from outside). */
static gint64
cbox_bwrap_command_status (const char *status)
{
  gint64 code = cbox_bwrap_status_get_line (status, "cbox-exec-status");

  return code >= 0 ? code : cbox_bwrap_status_get_line (status, "exit-code");
}

static gboolean
cbox_bwrap_ended (gpointer user_data, int *ret_status)
{
  CboxBwrapRun *run = user_data;
  gint64 exit_code;

  cbox_bwrap_run_read_status (run, 0);
  exit_code = cbox_bwrap_command_status (run->status->str);
  if (exit_code < 0)
    return FALSE;
  *ret_status = (int)exit_code;
  return TRUE;
}

char *
cbox_bwrap_args_blob (const char *const *argv, gsize *ret_len)
{
  GString *blob = g_string_new (NULL);

  for (guint i = 0; argv[i] != NULL; i++)
    g_string_append_len (blob, argv[i], (gssize)strlen (argv[i]) + 1);
  *ret_len = blob->len;
  return g_string_free (blob, FALSE);
}

/* cbox-exec's --args-fd content: the number of words, then the words. */
static char *
cbox_bwrap_command_blob (const char *const *argv, gsize *ret_len)
{
  g_autofree char *words = NULL;
  g_autofree char *count = g_strdup_printf ("%u", g_strv_length ((char **)argv));
  gsize words_len;
  GString *blob;

  words = cbox_bwrap_args_blob (argv, &words_len);
  blob = g_string_new_len (count, (gssize)strlen (count) + 1);
  g_string_append_len (blob, words, (gssize)words_len);
  *ret_len = blob->len;
  return g_string_free (blob, FALSE);
}

/* The run's outcome once cbox_launch_run_full() returned @ok and @status:
 * the command's own status from the status pipe, or bwrap's failure. */
static gboolean
cbox_bwrap_run_result (CboxBwrapRun *run, gboolean ok, int status, int *ret_status, GError **error)
{
  gint64 exit_code;

  cbox_bwrap_run_read_status (run, 0);
  exit_code = cbox_bwrap_command_status (run->status->str);
  g_string_free (g_steal_pointer (&run->status), TRUE);
  if (!ok)
    {
      g_clear_error (&run->net_error);
      return FALSE;
    }
  /* The network helper failed: the command never ran (cbox-exec got no
   * command), and that is the run's outcome, not cbox-exec's 125. */
  if (run->net_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&run->net_error));
      return FALSE;
    }

  /* The status comes only once the command ran; without it, bwrap itself
   * failed (a missing mount source, no user namespaces) and printed why. A
   * bwrap killed by a signal still gets its 128+N. */
  if (exit_code < 0 && status < 128)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                   "bwrap failed before the command started (exit status %d); "
                   "its message is above",
                   status);
      return FALSE;
    }
  *ret_status = exit_code >= 0 ? (int)exit_code : status;
  return TRUE;
}

/* The early bwrap's arguments from the realized @argv: the same options,
 * with its own descriptors for the filter and the generated files (their
 * content copied into its pool), and in @ret_command the command for
 * cbox-exec. FALSE with no error when the pool is too small: run starts
 * bwrap late. */
static gboolean
cbox_bwrap_early_fill (CboxBwrapEarly *early, const char *const *argv, guint command_index,
                       guint exec_command_index, guint n_launch_fds, GPtrArray *args,
                       GBytes **ret_command, GError **error)
{
  g_autofree char *blob = NULL;
  guint n_fds_used = 0;
  gsize blob_len;

  g_ptr_array_add (args, g_strdup ("--json-status-fd"));
  g_ptr_array_add (args, g_strdup_printf ("%d", early->status_w));
  for (guint i = 1; i < command_index; i++)
    {
      const char *arg = argv[i];

      if ((g_str_equal (arg, "--ro-bind-data") || g_str_equal (arg, "--file"))
          && i + 2 < command_index)
        {
          g_autoptr (GBytes) content = NULL;
          int fd;

          if (early->pool_used == CBOX_BWRAP_PRE_POOL)
            return FALSE;
          content = cbox_memfd_read ((int)g_ascii_strtoll (argv[i + 1], NULL, 10), error);
          if (content == NULL)
            return FALSE;
          /* bwrap shares the descriptor, and its offset, which stays at 0. */
          fd = early->pool[early->pool_used++];
          if (!cbox_memfd_fill_sealed (fd, argv[i + 2], g_bytes_get_data (content, NULL),
                                       g_bytes_get_size (content), error))
            return FALSE;
          g_ptr_array_add (args, g_strdup (arg));
          g_ptr_array_add (args, g_strdup_printf ("%d", fd));
          g_ptr_array_add (args, g_strdup (argv[i + 2]));
          n_fds_used++;
          i += 2;
        }
      else
        g_ptr_array_add (args, g_strdup (arg));
    }
  g_ptr_array_add (args, NULL);
  /* Every descriptor the realized launch hands bwrap must have its
   * counterpart in the early one; one it does not know (a later option)
   * means starting late. */
  if (n_fds_used != n_launch_fds)
    return FALSE;

  /* argv ends with "--", cbox-exec, its options, "--", COMMAND... */
  blob = cbox_bwrap_command_blob (argv + exec_command_index, &blob_len);
  *ret_command = g_bytes_new_take (g_steal_pointer (&blob), blob_len);
  return TRUE;
}

/* All of @bytes into the socket @fd, then closes it (and sets it to -1).
 * A reader that is gone (bwrap died) ends it early: bwrap's exit status
 * tells the rest. */
static void
cbox_bwrap_send_and_close (int *fd, GBytes *bytes)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  gsize done = 0;

  while (done < len)
    {
      ssize_t n = send (*fd, data + done, len - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      done += (gsize)n;
    }
  close (*fd);
  *fd = -1;
}

/* The early bwrap gets its options, once the plan's helpers are ready,
 * and cbox-exec its command, only after every option is written. */
static void
cbox_bwrap_early_release (gpointer user_data)
{
  CboxBwrapRun *run = user_data;

  cbox_bwrap_send_and_close (&run->args_w, run->args);
  /* With a network of its own, the command waits for the network
   * (cbox_bwrap_started()). */
  if (!run->own_net)
    cbox_bwrap_send_and_close (&run->command_w, run->command);
}

/* Runs the bwrap started early with the realized @argv. FALSE with no
 * error when it does not fit (the caller starts bwrap late). */
static gboolean
cbox_bwrap_run_early (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, CboxBwrapInfo *info,
                      int *ret_status, gboolean *ret_ran, GError **error)
{
  const char *const *argv = cbox_launch_get_argv (launch);
  CboxBwrapEarly *early = info->early;
  CboxBwrapRun run = { early->status_r,
                       NULL,
                       0,
                       ctx,
                       early->args_w,
                       NULL,
                       early->command_w,
                       NULL,
                       plan,
                       cbox_plan_get_network_mode (plan) == CBOX_NETWORK_OWN
                           || cbox_network_mode_uses_proxy (cbox_plan_get_network_mode (plan)),
                       early->uid,
                       early->uid != 0 ? cbox_plan_get_gid (plan) : 0,
                       NULL };
  CboxLaunchRunOptions options = {
    .struct_size = sizeof (CboxLaunchRunOptions),
    .tool_ignores_signals = TRUE,
    .get_signal_target = cbox_bwrap_signal_target,
    .user_data = &run,
    .started = cbox_bwrap_started,
    .ended_fd = early->status_r,
    .ended = cbox_bwrap_ended,
    .tool_pid = early->pid,
    .release = cbox_bwrap_early_release,
  };
  g_autoptr (GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *blob = NULL;
  guint n_launch_fds = 0;
  gsize blob_len;
  int status = CBOX_EXIT_FAILURE;
  gboolean ok;

  *ret_ran = FALSE;
  /* Started as the user the plan names, or not at all. */
  if (cbox_bwrap_run_as (plan) != early->uid || info->allow_userns != early->allow_userns
      || info->scope_abstract != early->scope_abstract)
    return FALSE;
  cbox_launch_get_fds (launch, &n_launch_fds);
  if (!cbox_bwrap_early_fill (early, argv, info->command_index, info->exec_command_index,
                              n_launch_fds, args, &run.command, error))
    return FALSE;
  blob = cbox_bwrap_args_blob ((const char *const *)args->pdata, &blob_len);
  run.args = g_bytes_new_take (g_steal_pointer (&blob), blob_len);

  *ret_ran = TRUE;
  if (cbox_context_get_verbose (ctx))
    g_printerr ("cbox: bwrap: the early bwrap gets its arguments\n");
  /* The run adopts the process: from here on it is reaped there. */
  early->pid = 0;
  early->args_w = early->command_w = -1;
  run.status = g_string_new (NULL);
  ok = cbox_launch_run_full (launch, plan, &options, &status, error);
  if (run.args_w >= 0)
    close (run.args_w);
  if (run.command_w >= 0)
    close (run.command_w);
  g_bytes_unref (run.args);
  g_bytes_unref (run.command);
  ok = cbox_bwrap_run_result (&run, ok, status, ret_status, error);
  g_clear_pointer (&info->early, cbox_bwrap_early_free);
  return ok;
}

static gboolean
cbox_bwrap_run (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, int *ret_status,
                GError **error)
{
  const char *const *argv = cbox_launch_get_argv (launch);
  CboxBwrapInfo *info = cbox_context_get_data (ctx);
  guint argc = g_strv_length ((char **)argv);
  CboxBwrapRun run = { -1,
                       NULL,
                       0,
                       ctx,
                       -1,
                       NULL,
                       -1,
                       NULL,
                       plan,
                       cbox_plan_get_network_mode (plan) == CBOX_NETWORK_OWN
                           || cbox_network_mode_uses_proxy (cbox_plan_get_network_mode (plan)),
                       cbox_bwrap_run_as (plan),
                       cbox_bwrap_run_as (plan) != 0 ? cbox_plan_get_gid (plan) : 0,
                       NULL };
  CboxLaunchRunOptions options = {
    .struct_size = sizeof (CboxLaunchRunOptions),
    .tool_ignores_signals = TRUE,
    .get_signal_target = cbox_bwrap_signal_target,
    .user_data = &run,
    .run_as_uid = cbox_bwrap_run_as (plan),
    .run_as_gid = cbox_plan_get_gid (plan),
    .started = cbox_bwrap_started,
    .ended = cbox_bwrap_ended,
  };
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_autofree char *blob = NULL;
  g_autofree char *status_fd_str = NULL;
  char **new_argv;
  gsize blob_len;
  int status_pipe[2];
  int args_fd;
  int status = CBOX_EXIT_FAILURE;
  int command_fd;
  int exec_status_fd;
  gboolean ok;

  if (info == NULL || info->command_index == 0 || info->exec_command_index >= argc
      || strcmp (argv[info->command_index], "--") != 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "bwrap: run without realize");
      return FALSE;
    }
  /* Fail closed, before anything starts: no helper, no run (and never the
   * host's network instead). */
  if (run.own_net && cbox_network_mode_uses_proxy (cbox_plan_get_network_mode (plan)))
    {
      if (!cbox_net_proxy_check (error))
        return FALSE;
    }
  else if (run.own_net && !cbox_net_helper_check (error))
    return FALSE;
  if (info->early != NULL)
    {
      gboolean ran = FALSE;
      g_autoptr (GError) local_error = NULL;
      gboolean ok = cbox_bwrap_run_early (ctx, plan, launch, info, ret_status, &ran, &local_error);

      if (ran || local_error != NULL)
        {
          g_clear_pointer (&info->early, cbox_bwrap_early_free);
          if (!ok)
            g_propagate_error (error, g_steal_pointer (&local_error));
          return ok;
        }
      /* It does not fit (more generated files than its pool, another
       * user): stop it, start bwrap late as below. */
      if (cbox_context_get_verbose (ctx))
        g_printerr ("cbox: bwrap: the early bwrap does not fit this plan; starting it again\n");
      g_clear_pointer (&info->early, cbox_bwrap_early_free);
    }
  if (pipe2 (status_pipe, O_CLOEXEC) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "bwrap: pipe: %s",
                   g_strerror (saved_errno));
      return FALSE;
    }
  fcntl (status_pipe[0], F_SETFL, O_NONBLOCK);
  cbox_launch_take_fd (launch, status_pipe[1]);
  status_fd_str = g_strdup_printf ("%d", status_pipe[1]);
  exec_status_fd = cbox_bwrap_dup_fd (status_pipe[1], error);
  if (exec_status_fd < 0)
    {
      close (status_pipe[0]);
      return FALSE;
    }
  cbox_launch_take_fd (launch, exec_status_fd);

  /* Every argument through sealed memfds: nothing of the sandbox's
   * description (paths, variables) in /proc/PID/cmdline, and no limit but
   * the command's own exec. bwrap reads only options from --args (and
   * takes 9000 at most), so the command and its arguments go to cbox-exec
   * in a second memfd. */
  g_ptr_array_add (args, (gpointer) "--json-status-fd");
  g_ptr_array_add (args, status_fd_str);
  for (guint i = 1; i < info->command_index; i++)
    g_ptr_array_add (args, (gpointer)argv[i]);
  g_ptr_array_add (args, NULL);
  blob = cbox_bwrap_args_blob ((const char *const *)args->pdata, &blob_len);
  args_fd = cbox_memfd_new_sealed ("cbox-bwrap-args", blob, blob_len, error);
  if (args_fd < 0)
    {
      close (status_pipe[0]);
      return FALSE;
    }
  cbox_launch_take_fd (launch, args_fd);

  /* argv ends with "--", cbox-exec, its options, "--", COMMAND... */
  g_free (blob);
  blob = cbox_bwrap_command_blob (argv + info->exec_command_index, &blob_len);
  if (run.own_net)
    {
      /* A socket written once the network is ready, as in an early start. */
      int command_pair[2];

      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, command_pair) < 0)
        {
          int saved_errno = errno;
          close (status_pipe[0]);
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "bwrap: socketpair: %s",
                       g_strerror (saved_errno));
          return FALSE;
        }
      command_fd = command_pair[0];
      run.command_w = command_pair[1];
      run.command = g_bytes_new_take (g_steal_pointer (&blob), blob_len);
    }
  else
    command_fd = cbox_memfd_new_sealed ("cbox-command", blob, blob_len, error);
  if (command_fd < 0)
    {
      close (status_pipe[0]);
      return FALSE;
    }
  cbox_launch_take_fd (launch, command_fd);

  new_argv = g_new0 (char *, 13);
  new_argv[0] = g_strdup (argv[0]);
  new_argv[1] = g_strdup ("--args");
  new_argv[2] = g_strdup_printf ("%d", args_fd);
  new_argv[3] = g_strdup ("--");
  new_argv[4] = g_strdup (CBOX_BWRAP_EXEC_DEST);
  new_argv[5] = g_strdup ("--init");
  new_argv[6] = g_strdup ("--status-fd");
  new_argv[7] = g_strdup_printf ("%d", exec_status_fd);
  new_argv[8] = g_strdup ("--args-fd");
  new_argv[9] = g_strdup_printf ("%d", command_fd);
  {
    guint n = 10;
    if (info->allow_userns)
      new_argv[n++] = g_strdup ("--allow-userns");
    if (info->scope_abstract)
      new_argv[n++] = g_strdup ("--scope-abstract");
  }
  cbox_launch_take_argv (launch, new_argv);

  /* Started late in the project's shared network as the early bwrap
   * would have been: realize left --unshare-net out for it. */
  if (info->net_shared)
    cbox_launch_set_namespaces (launch, cbox_net_share_get_userns_fd (info->net_share),
                                cbox_net_share_get_netns_fd (info->net_share));
  run.status_fd = status_pipe[0];
  run.status = g_string_new (NULL);
  options.ended_fd = run.status_fd;
  ok = cbox_launch_run_full (launch, plan, &options, &status, error);
  if (run.command_w >= 0)
    close (run.command_w);
  g_clear_pointer (&run.command, g_bytes_unref);
  ok = cbox_bwrap_run_result (&run, ok, status, ret_status, error);
  close (run.status_fd);
  return ok;
}

static const CboxBackendVTable cbox_bwrap_vtable = {
  .struct_size = sizeof (CboxBackendVTable),
  .probe = cbox_bwrap_probe,
  .realize = cbox_bwrap_realize,
  .run = cbox_bwrap_run,
  .prestart = cbox_bwrap_prestart,
};

/* Every key of [bwrap] (docs/config.md lists them from here). */
static const CboxPluginKey bwrap_config_keys[] = {
  { .name = "path",
    .type = CBOX_PLUGIN_KEY_STRING,
    .description = "the bubblewrap binary to use",
    .default_value = "bwrap in PATH" },
  { .name = "allow-userns",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description
    = "let the command create user namespaces of its own (Chromium, Firefox sandboxes)",
    .default_value = "false" },
  { NULL },
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_BACKEND, .name = "bwrap",
                    .version = CBOX_BWRAP_VERSION,
                    .description = "bubblewrap: unprivileged namespaces on the host kernel",
                    .features = CBOX_FEATURE_BIND | CBOX_FEATURE_SOCKET | CBOX_FEATURE_DEVICE
                                | CBOX_FEATURE_DATA | CBOX_FEATURE_HELPER | CBOX_FEATURE_TMPFS
                                | CBOX_FEATURE_SYMLINK | CBOX_FEATURE_HOST_NET,
                    .backend = &cbox_bwrap_vtable, .keys = bwrap_config_keys)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cbox-nspawn-private.h"

/* Where cbox-exec is bound inside: nspawn makes the mount point in its
 * own /run tmpfs. */
#define CBOX_NSPAWN_EXEC_PATH "/run/cbox/cbox-exec"
/* Where the run's status folder is bound inside, and the file cbox-exec
 * writes the command's status to (--status-file). */
#define CBOX_NSPAWN_STATUS_DIR "/run/cbox/status"
#define CBOX_NSPAWN_STATUS_FILE CBOX_NSPAWN_STATUS_DIR "/exit"

static const char *const cbox_nspawn_hidden_proc[] = { "/proc/keys", "/proc/key-users" };

/* What probe() found, kept for realize() and run() of the same run. */
typedef struct
{
  char *nspawn;              /* absolute path of systemd-nspawn */
  char *setpriv;             /* absolute path of setpriv, or NULL */
  char *setsid;              /* absolute path of setsid, or NULL */
  char *sudo;                /* absolute path of sudo, or NULL */
  char *exec_helper;         /* cbox-exec on the host, or NULL */
  gboolean root;             /* running as root */
  gboolean use_sudo;         /* [nspawn] sudo=true and not root */
  gboolean register_machine; /* systemd is PID 1: register with machined */
  CboxNspawnLayout *layout;  /* made by realize() */
} CboxNspawnState;

static void
cbox_nspawn_state_free (gpointer data)
{
  CboxNspawnState *state = data;

  if (state == NULL)
    return;
  g_free (state->nspawn);
  g_free (state->setpriv);
  g_free (state->setsid);
  g_free (state->sudo);
  g_free (state->exec_helper);
  cbox_nspawn_layout_free (state->layout);
  g_free (state);
}

/* The version in the name of the library every systemd tool links,
 * libsystemd-shared-VERSION.so, next to the binary's prefix: reading a
 * directory costs far less than running `systemd-nspawn --version`, which
 * every `cbox run` would pay for. */
static char *
cbox_nspawn_version_from_library (const char *nspawn)
{
  g_autofree char *real = g_canonicalize_filename (nspawn, NULL);
  g_autofree char *resolved = realpath (nspawn, NULL);
  g_autofree char *bin_dir = g_path_get_dirname (resolved != NULL ? resolved : real);
  g_autofree char *prefix = g_path_get_dirname (bin_dir);
  g_autoptr (GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *lib = g_build_filename (prefix, "lib", NULL);
  g_autoptr (GDir) lib_dir = g_dir_open (lib, 0, NULL);
  const char *name;

  g_ptr_array_add (dirs, g_build_filename (prefix, "lib", "systemd", NULL));
  g_ptr_array_add (dirs, g_build_filename (prefix, "lib64", "systemd", NULL));
  /* Debian's multiarch: /usr/lib/x86_64-linux-gnu/systemd */
  while (lib_dir != NULL && (name = g_dir_read_name (lib_dir)) != NULL)
    if (strstr (name, "-linux-") != NULL)
      g_ptr_array_add (dirs, g_build_filename (lib, name, "systemd", NULL));

  for (guint i = 0; i < dirs->len; i++)
    {
      g_autoptr (GDir) dir = g_dir_open (g_ptr_array_index (dirs, i), 0, NULL);
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        if (g_str_has_prefix (name, "libsystemd-shared-") && g_str_has_suffix (name, ".so"))
          return g_strndup (name + strlen ("libsystemd-shared-"),
                            strlen (name) - strlen ("libsystemd-shared-") - strlen (".so"));
    }
  return NULL;
}

/* "systemd 252 (252.39-1~deb12u2)" -> "252 (252.39-1~deb12u2)" */
static char *
cbox_nspawn_read_version (const char *nspawn)
{
  const char *argv[] = { nspawn, "--version", NULL };
  g_autofree char *out = NULL;
  int status = 0;
  char *eol;

  if (!g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                     &status, NULL)
      || !g_spawn_check_wait_status (status, NULL) || out == NULL)
    return NULL;
  eol = strchr (out, '\n');
  if (eol != NULL)
    *eol = '\0';
  return g_strdup (g_str_has_prefix (out, "systemd ") ? out + strlen ("systemd ") : out);
}

static CboxNspawnState *
cbox_nspawn_get_state (CboxContext *ctx, GError **error)
{
  CboxNspawnState *state = cbox_context_get_data (ctx);
  const CboxHost *host = cbox_context_get_host (ctx);
  g_autofree char *booted = NULL;
  gboolean use_sudo = FALSE;

  if (state != NULL)
    return state;
  if (!cbox_context_get_boolean (ctx, "sudo", FALSE, &use_sudo, error))
    return NULL;

  state = g_new0 (CboxNspawnState, 1);
  state->nspawn = g_find_program_in_path ("systemd-nspawn");
  state->setpriv = g_find_program_in_path ("setpriv");
  state->setsid = g_find_program_in_path ("setsid");
  state->sudo = g_find_program_in_path ("sudo");
  {
    const char *libexec = cbox_context_get_libexec_dir (ctx);
    g_autofree char *helper
        = libexec != NULL ? g_build_filename (libexec, "cbox-exec", NULL) : NULL;
    if (helper != NULL && g_file_test (helper, G_FILE_TEST_IS_EXECUTABLE))
      state->exec_helper = g_steal_pointer (&helper);
  }
  state->root = geteuid () == 0;
  state->use_sudo = !state->root && use_sudo;
  /* As sd_booted() decides: with systemd as PID 1 nspawn registers the
   * machine with machined and runs it in a scope of its own; without it,
   * registering fails, so the run stays in cbox's own cgroup. */
  booted = cbox_host_resolve (host, "/run/systemd/system");
  state->register_machine = g_file_test (booted, G_FILE_TEST_IS_DIR);
  cbox_context_set_data (ctx, state, cbox_nspawn_state_free);
  return state;
}

static gboolean
cbox_nspawn_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  CboxNspawnState *state = cbox_nspawn_get_state (ctx, error);
  g_autofree char *version = NULL;

  if (state == NULL)
    return FALSE;
  if (state->nspawn == NULL)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                    "systemd-nspawn is not installed (Debian and Ubuntu: apt "
                                    "install systemd-container)");
      return TRUE;
    }
  cbox_probe_result_add_detail (result, "path", "%s", state->nspawn);
  version = cbox_nspawn_version_from_library (state->nspawn);
  if (version == NULL)
    version = cbox_nspawn_read_version (state->nspawn);
  if (version != NULL)
    cbox_probe_result_add_detail (result, "version", "%s", version);
  cbox_probe_result_add_detail (result, "register",
                                state->register_machine
                                    ? "yes (systemd is PID 1: machines are registered)"
                                    : "no (systemd is not PID 1: --register=no --keep-unit)");
  if (state->root)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);
      return TRUE;
    }
  if (state->use_sudo)
    {
      if (state->sudo == NULL)
        {
          cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                        "backend nspawn needs root and [nspawn] sudo=true is set, "
                                        "but sudo is not installed");
          return TRUE;
        }
      cbox_probe_result_add_detail (result, "via", "%s", state->sudo);
      cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);
      return TRUE;
    }
  cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                "backend nspawn needs root: run it with sudo (or set sudo=true "
                                "in the [nspawn] group of the configuration)");
  return TRUE;
}

static void
cbox_nspawn_add_path_pair (CboxLaunch *launch, const char *option, const char *src,
                           const char *dest)
{
  g_autofree char *src_escaped = cbox_nspawn_escape_path (src);
  g_autofree char *dest_escaped = cbox_nspawn_escape_path (dest);

  cbox_launch_add_argf (launch, "%s=%s:%s", option, src_escaped, dest_escaped);
}

/* DeviceAllow= for the scope of a registered machine: nspawn's device
 * policy admits only its own few nodes, so a bound GPU node would be
 * refused at open() without it. */
static void
cbox_nspawn_add_device_allow (CboxLaunch *launch, const char *src)
{
  g_autoptr (GDir) dir = NULL;
  const char *name;

  if (!g_file_test (src, G_FILE_TEST_IS_DIR))
    {
      cbox_launch_add_argf (launch, "--property=DeviceAllow=%s rwm", src);
      return;
    }
  dir = g_dir_open (src, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (src, name, NULL);
      if (!g_file_test (path, G_FILE_TEST_IS_DIR))
        cbox_launch_add_argf (launch, "--property=DeviceAllow=%s rwm", path);
    }
}

static gboolean
cbox_nspawn_realize (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, GError **error)
{
  CboxNspawnState *state = cbox_nspawn_get_state (ctx, error);
  const CboxHost *host = cbox_context_get_host (ctx);
  const char *const *command = cbox_plan_get_command (plan);
  g_autofree char *instance = NULL;
  g_autofree char *state_dir = NULL;
  g_auto (GStrv) environ = NULL;
  const char *hostname;
  const char *cwd;
  CboxNspawnLayout *layout;

  if (state == NULL)
    return FALSE;
  if (state->nspawn == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "systemd-nspawn is not installed (Debian and Ubuntu: apt install "
                   "systemd-container)");
      return FALSE;
    }
  if (command == NULL || command[0] == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT, "nspawn: no command to run");
      return FALSE;
    }
  /* cbox-exec is what confines the command (core/cbox-confine.c): no
   * capability, no_new_privs, a fresh keyring, the seccomp filter. nspawn
   * run by root gives a root command CAP_SYS_ADMIN, CAP_MKNOD and the rest
   * of its default set, over mounts that hold the host's /usr: without
   * cbox-exec there is no run. */
  if (state->exec_helper == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "nspawn: cbox-exec is missing from %s (is cbox installed completely?)",
                   cbox_context_get_libexec_dir (ctx) != NULL ? cbox_context_get_libexec_dir (ctx)
                                                              : "the helper folder");
      return FALSE;
    }

  if (cbox_context_get_instance_id (ctx) != NULL)
    instance = g_ascii_strdown (cbox_context_get_instance_id (ctx), -1);
  else
    {
      g_autofree char *uuid = g_uuid_string_random ();
      instance = g_strndup (uuid, 8);
    }
  state_dir = cbox_context_get_string (ctx, "state-dir");
  layout = cbox_nspawn_layout_new (plan, state_dir != NULL ? state_dir : CBOX_NSPAWN_STATE_DIR,
                                   instance, error);
  if (layout == NULL)
    return FALSE;
  cbox_nspawn_layout_free (state->layout);
  state->layout = layout;

  /* Without a terminal, nspawn runs in a session of its own: a Ctrl-C or
   * a SIGTERM to cbox's process group would otherwise reach nspawn too,
   * which shuts the container down (the command gets SIGTERM, whatever
   * the signal was, and nspawn reports 0). This way only cbox gets them
   * and passes each on to cbox-exec, which gives it to the command: the
   * run ends with 128+N of the signal sent. With a terminal nspawn must
   * stay in the foreground to read it, and ^C is a character on the
   * container's pty. */
  if (state->setsid != NULL && !isatty (STDIN_FILENO))
    cbox_launch_add_args (launch, state->setsid, "--", NULL);
  /* If cbox dies (even of SIGKILL), nspawn gets SIGTERM and shuts the
   * container down in order, instead of running on unwatched. */
  if (state->setpriv != NULL)
    cbox_launch_add_args (launch, state->setpriv, "--pdeathsig", "TERM", "--", NULL);
  cbox_launch_add_args (launch, state->nspawn, "--quiet", NULL);
  if (!state->register_machine)
    cbox_launch_add_args (launch, "--register=no", "--keep-unit", NULL);
  cbox_launch_add_argf (launch, "--directory=%s", layout->root_dir);
  cbox_launch_add_argf (launch, "--machine=%s", layout->machine);
  /* The host's name unless the plan names one: X11 cookies are keyed by
   * host name, and bwrap keeps it too. */
  hostname = cbox_plan_get_hostname (plan);
  cbox_launch_add_argf (launch, "--hostname=%s",
                        hostname != NULL ? hostname : cbox_host_get_hostname (host));
  /* A stub init as PID 1 reaps orphans and turns nspawn's shutdown signal
   * into SIGTERM+SIGHUP for the command. */
  cbox_launch_add_arg (launch, "--as-pid2");
  cbox_launch_add_arg (launch, isatty (STDIN_FILENO) ? "--console=interactive" : "--console=pipe");
  /* The network: the host's only when asked for by name. The default is a
   * namespace of its own that cbox makes and gives its network before
   * nspawn starts (run() puts --network-namespace-path= in place of
   * --private-network): nspawn joins it ready, and if it cannot be made,
   * nspawn never starts (docs/security.md, "Network"). */
  switch (cbox_plan_get_network_mode (plan))
    {
    case CBOX_NETWORK_HOST:
      cbox_plan_add_note (plan, "the host's network namespace: its localhost services and "
                                "abstract unix sockets are reachable");
      break;
    case CBOX_NETWORK_OWN:
      cbox_plan_add_note (plan, "network of its own: outbound through slirp4netns, the host's "
                                "localhost and abstract sockets out of reach");
      cbox_launch_add_arg (launch, "--private-network");
      break;
    case CBOX_NETWORK_ALLOW:
    case CBOX_NETWORK_DENY:
      /* A namespace with only its loopback and the proxy's socket in it,
       * made before nspawn starts as for CBOX_NETWORK_OWN. */
      cbox_plan_add_note (plan, "network through the allowlist's proxy only (127.0.0.1:3128 "
                                "inside): no other route, no DNS");
      cbox_launch_add_arg (launch, "--private-network");
      break;
    case CBOX_NETWORK_OFF:
      cbox_launch_add_arg (launch, "--private-network");
      break;
    default:
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                   "nspawn: network mode %d is not supported",
                   (int)cbox_plan_get_network_mode (plan));
      return FALSE;
    }
  /* Nothing of the host enters unless the plan says so: no resolv.conf, no
   * time zone, no journal link. No setuid binary may raise privileges. On
   * SIGTERM or SIGINT, nspawn asks the stub init to end the command. */
  cbox_launch_add_args (launch, "--resolv-conf=off", "--timezone=off", "--link-journal=no",
                        "--no-new-privileges=yes", "--kill-signal=SIGRTMIN+3", NULL);
  /* nspawn's own seccomp filter refuses Landlock (EPERM), which turned
   * cbox-exec's second layer against abstract sockets
   * (--scope-abstract) into a silent no-op under nspawn. Landlock only
   * ever takes rights away from its caller, so allowing its three calls
   * gives the command nothing; cbox's own filter comes after it. */
  cbox_launch_add_arg (launch, "--system-call-filter=landlock_create_ruleset landlock_add_rule "
                               "landlock_restrict_self");
  /* /proc/keys and /proc/key-users list every key (and keyring user) the
   * reader may view, the host's included (keyrings are not namespaced):
   * nothing of them inside. nspawn already makes /proc/sys and
   * /proc/sysrq-trigger read-only. */
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_nspawn_hidden_proc); i++)
    if (access (cbox_nspawn_hidden_proc[i], F_OK) == 0)
      /* Not --inaccessible=: it needs /run/systemd/inaccessible, which
       * only a host booted with systemd has. */
      cbox_launch_add_argf (launch, "--bind-ro=/dev/null:%s", cbox_nspawn_hidden_proc[i]);
  /* Privileges are dropped by nspawn itself: it looks the user up in the
   * container's /etc/passwd and /etc/group (which the plan wrote) and
   * changes uid, gid and groups before the command starts; no PAM, so no
   * su or runuser. */
  cbox_launch_add_argf (launch, "--user=%s", cbox_plan_get_user_name (plan));
  cwd = cbox_plan_get_cwd (plan);
  if (cwd != NULL)
    cbox_launch_add_argf (launch, "--chdir=%s", cwd);

  for (guint i = 0; i < layout->rebind->len; i++)
    {
      const char *dest = g_ptr_array_index (layout->rebind, i);
      g_autofree char *inside = cbox_nspawn_layout_host_path (layout, dest);
      cbox_nspawn_add_path_pair (launch, "--bind", inside, dest);
    }
  for (guint i = 0; i < layout->ops->len; i++)
    {
      const CboxNspawnOp *op = &g_array_index (layout->ops, CboxNspawnOp, i);
      const CboxMount *mount = op->mount;

      switch (op->op)
        {
        case CBOX_NSPAWN_OP_BIND:
          cbox_nspawn_add_path_pair (launch, "--bind", mount->src, mount->dest);
          if (mount->kind == CBOX_MOUNT_DEV && state->register_machine)
            cbox_nspawn_add_device_allow (launch, mount->src);
          break;
        case CBOX_NSPAWN_OP_BIND_RO:
          cbox_nspawn_add_path_pair (launch, "--bind-ro", mount->src, mount->dest);
          break;
        case CBOX_NSPAWN_OP_TMPFS:
          {
            g_autofree char *dest = cbox_nspawn_escape_path (mount->dest);
            cbox_launch_add_argf (launch, "--tmpfs=%s:mode=%04o,uid=%u,gid=%u", dest,
                                  (unsigned)(mount->mode & 07777), (unsigned)op->uid,
                                  (unsigned)op->gid);
          }
          break;
        case CBOX_NSPAWN_OP_WRITE_RO:
          {
            g_autofree char *inside = cbox_nspawn_layout_host_path (layout, mount->dest);
            cbox_nspawn_add_path_pair (launch, "--bind-ro", inside, mount->dest);
          }
          break;
        case CBOX_NSPAWN_OP_STAGE:
          cbox_nspawn_add_path_pair (
              launch, (mount->flags & CBOX_MOUNT_FLAG_WRITABLE) ? "--bind" : "--bind-ro",
              op->stage_path, mount->dest);
          break;
        case CBOX_NSPAWN_OP_SKIP:
          if (op->note != NULL && cbox_context_get_verbose (ctx))
            g_printerr ("cbox: nspawn: left out: %s\n", op->note);
          break;
        case CBOX_NSPAWN_OP_MKDIR:
        case CBOX_NSPAWN_OP_SYMLINK:
        case CBOX_NSPAWN_OP_WRITE:
        default:
          break;
        }
    }

  cbox_nspawn_add_path_pair (launch, "--bind-ro", state->exec_helper, CBOX_NSPAWN_EXEC_PATH);
  cbox_nspawn_add_path_pair (launch, "--bind", layout->status_dir, CBOX_NSPAWN_STATUS_DIR);

  cbox_launch_add_arg (launch, "--");
  /* The environment: nspawn sets its own (container=, container_uuid=,
   * container_host_*=, NOTIFY_SOCKET=, LANG=, TERM=, PATH=, HOME=, ...)
   * and --setenv= refuses values that are not UTF-8. So env(1) starts the
   * command with exactly the plan's environment. */
  cbox_launch_add_args (launch, "/usr/bin/env", "-i", NULL);
  environ = cbox_plan_get_environ (plan);
  for (guint i = 0; environ[i] != NULL; i++)
    cbox_launch_add_arg (launch, environ[i]);
  /* cbox-exec stays the command's parent: nspawn's stub init reports a
   * command killed by a signal as 255, cbox-exec as 128+N; it also takes
   * the signals cbox forwards (see cbox_nspawn_signal_target()). It
   * reports 126 and 127 as env(1) does, and confines the command last
   * (the plan's allow-userns picks the seccomp filter's variant). It
   * writes the command's status to the run's status file
   * (cbox_nspawn_run_result()). */
  cbox_launch_add_args (launch, CBOX_NSPAWN_EXEC_PATH, "--init", "--status-file",
                        CBOX_NSPAWN_STATUS_FILE, NULL);
  /* allow-userns, except for a command that is the host's root (nspawn
   * maps no uids: root inside is root outside). In a user namespace of
   * its own such a command keeps the host's uid 0, the one the kernel's
   * sysctls check for writes, and gets every capability over a mount
   * namespace that still holds the host's mounts below the container's
   * (nspawn moves the container's tree over / and chroots): a fresh proc
   * mount passes the kernel's mount_too_revealing check through the
   * host's /proc, and its /proc/sys/kernel/core_pattern is writable (a
   * program the host's kernel runs as root). Nothing is lost by refusing:
   * mapping uid 0 into a new user namespace takes CAP_SETFCAP, which the
   * command has not, so the sandboxes that want one (bwrap, Firefox's,
   * Chromium's) fail for root anyway. docs/security.md, "nspawn". */
  if (cbox_plan_get_allow_userns (plan) && cbox_plan_get_uid (plan) == 0)
    {
      /* The plan says what the command gets (`cbox plan`'s exceptions,
       * cbox enter's registry entry). */
      cbox_plan_set_allow_userns (plan, FALSE);
      cbox_plan_add_note (plan, "allow-userns is not applied to a command that runs as root "
                                "(the host's uid 0 in a user namespace of its own could write "
                                "/proc/sys): new user namespaces stay refused");
    }
  else if (cbox_plan_get_allow_userns (plan))
    cbox_launch_add_arg (launch, "--allow-userns");
  /* Every network mode but host: abstract unix sockets outside the
   * command's Landlock domain stay closed (core/cbox-confine.c). */
  if (cbox_plan_get_network_mode (plan) != CBOX_NETWORK_HOST)
    cbox_launch_add_arg (launch, "--scope-abstract");
  cbox_launch_add_arg (launch, "--");
  for (guint i = 0; command[i] != NULL; i++)
    cbox_launch_add_arg (launch, command[i]);
  return TRUE;
}

static const char *const cbox_nspawn_sudo_keep[] = {
  "TERM",
  "COLORTERM",
  "NO_COLOR",
  "LANG",
  "LANGUAGE",
  "TZ",
  "DISPLAY",
  "XAUTHORITY",
  "WAYLAND_DISPLAY",
  "XDG_RUNTIME_DIR",
  "XDG_SESSION_TYPE",
  "XDG_CURRENT_DESKTOP",
  "DBUS_SESSION_BUS_ADDRESS",
  "SSH_AUTH_SOCK",
  "PULSE_SERVER",
  "PIPEWIRE_REMOTE",
  "XDG_CONFIG_HOME",
  "XDG_CONFIG_DIRS",
  "XDG_DATA_HOME",
  "XDG_DATA_DIRS",
  "XDG_STATE_HOME",
  "XDG_CACHE_HOME",
  "NIX_REMOTE",
};

char **
cbox_nspawn_sudo_argv (const char *sudo, const char *exe, const char *const *args,
                       const char *const *envp)
{
  g_autoptr (GStrvBuilder) argv = g_strv_builder_new ();
  g_autoptr (GString) keep = g_string_new (NULL);

  /* Only what forwarders read from the caller's environment, and never
   * what chooses code that root would run (CBOX_PLUGIN_PATH,
   * CBOX_LIBEXEC_DIR, LD_*): sudo's own env_reset drops the rest. */
  for (guint i = 0; envp != NULL && envp[i] != NULL; i++)
    {
      const char *eq = strchr (envp[i], '=');
      g_autofree char *name = eq != NULL ? g_strndup (envp[i], (gsize)(eq - envp[i])) : NULL;
      gboolean wanted = FALSE;

      if (name == NULL || strchr (name, ',') != NULL)
        continue;
      wanted = g_str_has_prefix (name, "LC_");
      for (gsize k = 0; k < G_N_ELEMENTS (cbox_nspawn_sudo_keep) && !wanted; k++)
        wanted = g_str_equal (name, cbox_nspawn_sudo_keep[k]);
      if (!wanted)
        continue;
      if (keep->len > 0)
        g_string_append_c (keep, ',');
      g_string_append (keep, name);
    }

  g_strv_builder_add (argv, sudo);
  if (keep->len > 0)
    {
      g_autofree char *option = g_strdup_printf ("--preserve-env=%s", keep->str);
      g_strv_builder_add (argv, option);
    }
  g_strv_builder_add_many (argv, "--", exe, NULL);
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_strv_builder_add (argv, args[i]);
  return g_strv_builder_end (argv);
}

/* Replaces this process with `sudo cbox ARGS...`; returns only on error. */
static gboolean
cbox_nspawn_exec_sudo (CboxNspawnState *state, CboxPlan *plan, GError **error)
{
  g_autofree char *exe = NULL;
  g_autofree char *cmdline = NULL;
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_auto (GStrv) environ = g_get_environ ();
  g_auto (GStrv) argv = NULL;
  gsize len = 0;

  exe = g_file_read_link ("/proc/self/exe", error);
  if (exe == NULL || !g_file_get_contents ("/proc/self/cmdline", &cmdline, &len, error))
    {
      g_prefix_error (error, "nspawn: cannot re-run cbox through sudo: ");
      return FALSE;
    }
  /* NUL-separated; skip argv[0] (exe replaces it). */
  for (gsize at = strlen (cmdline) + 1; at < len; at += strlen (cmdline + at) + 1)
    g_ptr_array_add (args, cmdline + at);
  g_ptr_array_add (args, NULL);

  /* Without a terminal sudo cannot ask for a password: it would print "a
   * password is required" and exit 1, which reads as the command's own
   * status. Ask first whether it would need one. */
  {
    int tty = open ("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (tty >= 0)
      close (tty);
    else
      {
        const char *check[] = { state->sudo, "-n", "-l", "--", exe, NULL };
        int wait_status = 0;

        if (!g_spawn_sync (NULL, (char **)check, NULL,
                           G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                           NULL, NULL, &wait_status, NULL)
            || !g_spawn_check_wait_status (wait_status, NULL))
          {
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                         "backend nspawn needs root, and sudo needs a password to run %s but "
                         "there is no terminal to ask for it: run cbox from a terminal, or let "
                         "sudo run it without a password",
                         exe);
            return FALSE;
          }
      }
  }
  argv = cbox_nspawn_sudo_argv (state->sudo, exe, (const char *const *)args->pdata,
                                (const char *const *)environ);
  /* What this process set up for the run is undone first: the new cbox
   * makes its own. */
  cbox_plan_run_cleanups (plan);
  execv (state->sudo, argv);
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot run %s: %s", state->sudo,
               g_strerror (errno));
  return FALSE;
}

/* The first child of @pid whose name is @comm (any child when NULL), or 0. */
static pid_t
cbox_nspawn_child_of (pid_t pid, const char *comm)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/task/%d/children", (int)pid, (int)pid);
  g_autofree char *children = NULL;
  g_auto (GStrv) pids = NULL;

  if (!g_file_get_contents (path, &children, NULL, NULL))
    return 0;
  pids = g_strsplit (g_strstrip (children), " ", -1);
  for (guint i = 0; pids[i] != NULL; i++)
    {
      guint64 child;
      g_autofree char *comm_path = NULL;
      g_autofree char *name = NULL;

      if (!g_ascii_string_to_unsigned (pids[i], 10, 1, G_MAXINT32, &child, NULL))
        continue;
      if (comm == NULL)
        return (pid_t)child;
      comm_path = g_strdup_printf ("/proc/%d/comm", (int)child);
      if (g_file_get_contents (comm_path, &name, NULL, NULL)
          && g_str_equal (g_strstrip (name), comm))
        return (pid_t)child;
    }
  return 0;
}

/* One run, for the callbacks of the generic run. */
typedef struct
{
  CboxContext *ctx;
  CboxNspawnState *state;
  pid_t leader; /* the command's parent inside, once known */
} CboxNspawnRun;

/* The container's leader: the child of nspawn's stub init
 * (systemd-nspawn -> (sd-stubinit) -> cbox-exec -> command), once it runs
 * the plan's program (cbox-exec, or the command without it) with the
 * plan's environment; 0 before. */
static pid_t
cbox_nspawn_find_leader (pid_t tool_pid, gboolean exec_helper)
{
  pid_t stub = cbox_nspawn_child_of (tool_pid, "(sd-stubinit)");
  pid_t leader = stub > 0 ? cbox_nspawn_child_of (stub, NULL) : 0;
  g_autofree char *comm_path = NULL;
  g_autofree char *comm = NULL;

  if (leader <= 0)
    return 0;
  comm_path = g_strdup_printf ("/proc/%d/comm", (int)leader);
  if (!g_file_get_contents (comm_path, &comm, NULL, NULL))
    return 0;
  g_strstrip (comm);
  if (exec_helper ? !g_str_equal (comm, "cbox-exec")
                  : (g_str_equal (comm, "(sd-stubinit)") || g_str_equal (comm, "env")))
    return 0;
  return leader;
}

/* Tells the core the container's leader (`cbox ps`, `cbox enter`, `cbox
 * stop`): its namespaces and root are the container's, its environment the
 * plan's. Waits a bounded time, and no longer once nspawn has ended. */
static void
cbox_nspawn_started (pid_t tool_pid, gpointer user_data)
{
  CboxNspawnRun *run = user_data;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  int tool_fd = (int)syscall (SYS_pidfd_open, tool_pid, 0);

  while (g_get_monotonic_time () < deadline)
    {
      struct pollfd pfd = { .fd = tool_fd, .events = POLLIN };

      run->leader = cbox_nspawn_find_leader (tool_pid, run->state->exec_helper != NULL);
      if (run->leader > 0)
        break;
      /* Readable once nspawn has exited. */
      if (tool_fd >= 0 ? poll (&pfd, 1, 2) > 0 : (g_usleep (2000), FALSE))
        break;
    }
  if (tool_fd >= 0)
    close (tool_fd);
  if (run->leader > 0)
    cbox_context_set_sandbox_pid (run->ctx, run->leader);
}

/* Signals cbox forwards go to cbox-exec, the command's parent inside,
 * which passes them on unchanged: a SIGUSR1 would kill nspawn itself, and
 * nspawn turns SIGINT into SIGTERM. Until cbox-exec runs, nspawn gets them
 * (0). */
static pid_t
cbox_nspawn_signal_target (gpointer user_data)
{
  CboxNspawnRun *run = user_data;

  if (run->leader <= 0)
    {
      pid_t nspawn = cbox_nspawn_child_of (getpid (), "systemd-nspawn");
      if (nspawn > 0)
        run->leader = cbox_nspawn_find_leader (nspawn, TRUE);
    }
  return run->leader;
}

/* The run's status from what cbox-exec wrote (core/cbox-exec.c,
 * --status-file) and systemd-nspawn's own @status: cbox-exec's line is the
 * command's status, whatever nspawn makes of it (255 for a command it saw
 * killed, 0 after a shutdown it was asked for). Without the file the
 * command never started, so a status below 128 is nspawn's own failure
 * (too few descriptors for its console, a bind it refused), printed by
 * nspawn above: 125 with that said. A signal's 128+N stays (cbox stopped
 * nspawn). */
static gboolean
cbox_nspawn_run_result (CboxNspawnState *state, int status, int *ret_status, GError **error)
{
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  const char *number;

  if (state->exec_helper == NULL)
    {
      *ret_status = status;
      return TRUE;
    }
  path = g_build_filename (state->layout->status_dir, "exit", NULL);
  if (!g_file_get_contents (path, &contents, NULL, NULL))
    {
      /* 255: nspawn's own "the container failed", also when it was
       * stopped while starting (cbox then makes it 128+N). */
      if (status >= 128 && status != 255)
        {
          *ret_status = status;
          return TRUE;
        }
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
                   "systemd-nspawn failed before the command started (exit status %d); its "
                   "message is above",
                   status);
      return FALSE;
    }
  number = strstr (contents, "\"cbox-exec-status\":");
  if (number != NULL)
    {
      guint64 value;
      g_autofree char *digits = g_strstrip (g_strdup (number + strlen ("\"cbox-exec-status\":")));
      char *end = strchr (digits, ' ');

      if (end != NULL)
        *end = '\0';
      if (g_ascii_string_to_unsigned (digits, 10, 0, 255, &value, NULL))
        {
          *ret_status = (int)value;
          return TRUE;
        }
    }
  /* cbox-exec started the command but never said how it ended: it was
   * killed with the container. A signal's status is what there is;
   * anything else would pass for the command's. */
  if (status >= 128 && status != 255)
    {
      *ret_status = status;
      return TRUE;
    }
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND,
               "the container ended before the command's status was known (systemd-nspawn exit "
               "status %d)",
               status);
  return FALSE;
}

/* systemd-nspawn makes /run/systemd/nspawn/propagate/MACHINE for
 * `machinectl bind` and removes it at exit, but only from a tmpfs: where
 * /run is a disk (a container host without systemd), every run printed
 * "Attempted to remove disk file system under ..., and we can't allow
 * that" and left the folder. There the path is a link, made before nspawn
 * starts, to a folder in the run's own tmpfs: nspawn finds a tmpfs behind
 * it and removes the link itself; cbox removes a link that is left (and
 * the sweep, after a kill -9, those of runs that are gone). Returns the
 * link made, or NULL. */
static char *
cbox_nspawn_propagate_link (const CboxNspawnLayout *layout)
{
  g_autofree char *link = g_build_filename (CBOX_NSPAWN_PROPAGATE_DIR, layout->machine, NULL);
  g_autofree char *target = g_build_filename (layout->fs_dir, "propagate", NULL);
  struct statfs sf;

  if (g_mkdir_with_parents (CBOX_NSPAWN_PROPAGATE_DIR, 0755) < 0
      || statfs (CBOX_NSPAWN_PROPAGATE_DIR, &sf) < 0 || sf.f_type == TMPFS_MAGIC
      || sf.f_type == RAMFS_MAGIC)
    return NULL;
  if (mkdir (target, 0700) < 0 || symlink (target, link) < 0)
    return NULL;
  return g_steal_pointer (&link);
}

static gboolean
cbox_nspawn_run (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, int *ret_status,
                 GError **error)
{
  CboxNspawnState *state = cbox_nspawn_get_state (ctx, error);
  g_autofree char *propagate_link = NULL;
  gboolean ok;
  int status = CBOX_EXIT_FAILURE;
  int lock_fd;

  if (state == NULL)
    return FALSE;
  if (!state->root)
    {
      if (state->use_sudo && state->sudo != NULL)
        return cbox_nspawn_exec_sudo (state, plan, error);
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "backend nspawn needs root: run it with sudo (or set sudo=true in the "
                   "[nspawn] group of the configuration)");
      return FALSE;
    }
  if (state->layout == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "nspawn: run before realize");
      return FALSE;
    }

  /* The sandbox's own network, ready before nspawn starts; nothing starts
   * without it. */
  if (cbox_plan_get_network_mode (plan) == CBOX_NETWORK_OWN
      || cbox_network_mode_uses_proxy (cbox_plan_get_network_mode (plan)))
    {
      g_autofree char *netns = cbox_net_namespace_prepare (plan, error);
      const char *const *argv = cbox_launch_get_argv (launch);
      GPtrArray *new_argv;
      gboolean replaced = FALSE;

      if (netns == NULL)
        return FALSE;
      new_argv = g_ptr_array_new ();
      for (guint i = 0; argv[i] != NULL; i++)
        if (!replaced && g_str_equal (argv[i], "--private-network"))
          {
            g_ptr_array_add (new_argv, g_strconcat ("--network-namespace-path=", netns, NULL));
            replaced = TRUE;
          }
        else
          g_ptr_array_add (new_argv, g_strdup (argv[i]));
      g_ptr_array_add (new_argv, NULL);
      if (!replaced)
        {
          g_strfreev ((char **)g_ptr_array_free (new_argv, FALSE));
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                       "nspawn: no --private-network in the realized command");
          return FALSE;
        }
      cbox_launch_take_argv (launch, (char **)g_ptr_array_free (new_argv, FALSE));
    }

  if (!cbox_nspawn_root_create (state->layout, plan, error))
    {
      cbox_nspawn_root_destroy (state->layout);
      return FALSE;
    }
  /* The folder cbox-exec writes the command's status to, the user's
   * (cbox-exec runs as the user), inside the run's own tmpfs. */
  if (mkdir (state->layout->status_dir, 0700) < 0
      || chown (state->layout->status_dir, state->layout->uid, state->layout->gid) < 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND, "nspawn: cannot create %s: %s",
                   state->layout->status_dir, g_strerror (errno));
      cbox_nspawn_root_destroy (state->layout);
      return FALSE;
    }
  propagate_link = cbox_nspawn_propagate_link (state->layout);
  /* systemd-nspawn inherits the run's lock, so the root counts as in use
   * for as long as nspawn lives, even if cbox itself was killed. */
  lock_fd = fcntl (state->layout->lock_fd, F_DUPFD_CLOEXEC, 3);
  if (lock_fd >= 0)
    cbox_launch_take_fd (launch, lock_fd);

  {
    CboxNspawnRun run = { .ctx = ctx, .state = state, .leader = 0 };
    CboxLaunchRunOptions options = {
      .struct_size = sizeof options,
      .get_signal_target = state->exec_helper != NULL ? cbox_nspawn_signal_target : NULL,
      .user_data = &run,
      .started = cbox_nspawn_started,
    };
    ok = cbox_launch_run_full (launch, plan, &options, &status, error);
  }
  if (ok)
    ok = cbox_nspawn_run_result (state, status, ret_status, error);
  if (propagate_link != NULL)
    {
      struct stat st;
      if (lstat (propagate_link, &st) == 0 && S_ISLNK (st.st_mode))
        unlink (propagate_link);
    }
  cbox_nspawn_root_destroy (state->layout);
  return ok;
}

static const CboxBackendVTable cbox_nspawn_vtable = {
  .struct_size = sizeof (CboxBackendVTable),
  .probe = cbox_nspawn_probe,
  .realize = cbox_nspawn_realize,
  .run = cbox_nspawn_run,
};

/* Every key of [nspawn] (docs/config.md lists them from here). */
static const CboxPluginKey nspawn_config_keys[] = {
  { .name = "sudo",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "when not root, run cbox again through sudo",
    .default_value = "false" },
  { .name = "state-dir",
    .type = CBOX_PLUGIN_KEY_STRING,
    .description = "where each run's ephemeral root lives (root's, 0700)",
    .default_value = "/run/cbox/nspawn" },
  { NULL },
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_BACKEND, .name = "nspawn", .version = "1.0",
                    .description = "systemd-nspawn container (root) as the invoking user",
                    .features = CBOX_FEATURE_BIND | CBOX_FEATURE_SOCKET | CBOX_FEATURE_DEVICE
                                | CBOX_FEATURE_DATA | CBOX_FEATURE_HELPER | CBOX_FEATURE_TMPFS
                                | CBOX_FEATURE_SYMLINK | CBOX_FEATURE_HOST_NET,
                    .backend = &cbox_nspawn_vtable, .keys = nspawn_config_keys)

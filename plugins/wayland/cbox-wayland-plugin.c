/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forwarder "wayland": the user's Wayland display, through a security
 * context when the compositor offers one.
 *
 * The plugin does not link libwayland-client: it is loaded by every run,
 * used by few. What needs the library (listing the compositor's globals,
 * registering a security context) is done by cbox-wayland-helper, run only
 * when this forwarder is used. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cbox/cbox-plugin.h>

#include "cbox-wayland-display.h"

#define WAYLAND_HELPER_NAME "cbox-wayland-helper"
#define WAYLAND_ENGINE "cbox"
#define WAYLAND_PRIVATE_PREFIX "cbox-wayland-"
#define WAYLAND_CONTEXT_SOCKET "socket"
#define WAYLAND_CONTEXT_LOCK "lock"

typedef struct
{
  char *display_env; /* WAYLAND_DISPLAY on the host */
  char *socket_path; /* the host socket (a host path) */
  char *inside_name; /* WAYLAND_DISPLAY inside */
  gboolean security_context;
  char *app_id;
  char *instance_id;
  char *private_dir; /* security context: host dir of the listening socket */
  int listen_fd;     /* security context: the listening socket, until prepare */
} WaylandState;

static void
wayland_state_free (WaylandState *state)
{
  if (state == NULL)
    return;
  g_free (state->display_env);
  g_free (state->socket_path);
  g_free (state->inside_name);
  g_free (state->app_id);
  g_free (state->instance_id);
  g_free (state->private_dir);
  cbox_close_fdp (&state->listen_fd);
  g_free (state);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WaylandState, wayland_state_free)

/* The helper: in cbox's libexec dir when installed, beside this plugin in
 * the build tree. */
static char *
wayland_find_helper (CboxContext *ctx, GError **error)
{
  const char *libexec_dir = cbox_context_get_libexec_dir (ctx);
  Dl_info info;

  if (libexec_dir != NULL)
    {
      g_autofree char *path = g_build_filename (libexec_dir, WAYLAND_HELPER_NAME, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
        return g_steal_pointer (&path);
    }
  if (dladdr ((void *)wayland_find_helper, &info) != 0 && info.dli_fname != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (info.dli_fname);
      g_autofree char *path = g_build_filename (dir, WAYLAND_HELPER_NAME, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
        return g_steal_pointer (&path);
    }
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
               "%s not found in %s (is cbox installed completely?)", WAYLAND_HELPER_NAME,
               libexec_dir != NULL ? libexec_dir : "the libexec directory");
  return NULL;
}

typedef struct
{
  const int *fds;
  guint n_fds;
} WaylandHelperFds;

/* In the child, between fork and exec: the fds become 3, 4, ... without
 * O_CLOEXEC. They were moved above that range first, so no dup2() here
 * overwrites one still to be moved. */
static void
wayland_helper_child_setup (gpointer user_data)
{
  const WaylandHelperFds *helper_fds = user_data;

  for (guint i = 0; i < helper_fds->n_fds; i++)
    if (dup2 (helper_fds->fds[i], 3 + (int)i) < 0)
      _exit (127);
}

/* Runs the helper; fds in @fds (may be NULL) are given to it as 3, 4, ...
 * and stolen. Returns its stdout. GLib's spawn rather than GSubprocess: GIO
 * would load GObject and friends into every run that has this plugin. */
static char *
wayland_run_helper (CboxContext *ctx, const char *const *args, int *fds, guint n_fds,
                    GError **error)
{
  g_autofree char *helper = wayland_find_helper (ctx, error);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GArray) moved = g_array_new (FALSE, FALSE, sizeof (int));
  /* Only what the helper needs; the host's WAYLAND_* must not redirect it. */
  char *envp[] = { (char *)"LC_ALL=C.UTF-8", NULL };
  WaylandHelperFds helper_fds;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) wait_error = NULL;
  int wait_status = 0;
  gboolean spawned;

  for (guint i = 0; i < n_fds; i++)
    {
      int high = helper != NULL ? fcntl (fds[i], F_DUPFD_CLOEXEC, 3 + (int)n_fds) : -1;
      cbox_close_fdp (&fds[i]);
      fds[i] = -1;
      if (high >= 0)
        g_array_append_val (moved, high);
    }
  if (helper == NULL)
    return NULL;
  if (moved->len != n_fds)
    {
      for (guint i = 0; i < moved->len; i++)
        close (g_array_index (moved, int, i));
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "cannot pass fds to %s: %s",
                   WAYLAND_HELPER_NAME, g_strerror (errno));
      return NULL;
    }
  g_ptr_array_add (argv, helper);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer)args[i]);
  g_ptr_array_add (argv, NULL);

  helper_fds.fds = (const int *)(gpointer)moved->data;
  helper_fds.n_fds = moved->len;
  /* Descriptors stay open through the spawn so the child setup can move
   * them; everything else cbox holds is O_CLOEXEC from birth. */
  spawned = g_spawn_sync (NULL, (char **)argv->pdata, envp, G_SPAWN_LEAVE_DESCRIPTORS_OPEN,
                          wayland_helper_child_setup, &helper_fds, &out, &err, &wait_status, error);
  for (guint i = 0; i < moved->len; i++)
    close (g_array_index (moved, int, i));
  if (!spawned)
    return NULL;
  if (WIFSIGNALED (wait_status) && WTERMSIG (wait_status) == SIGALRM)
    {
      /* The helper's own alarm: a compositor that accepts and never answers. */
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "the compositor did not answer within 10 seconds (is it hung?)");
      return NULL;
    }
  if (!g_spawn_check_wait_status (wait_status, &wait_error))
    {
      /* libwayland prints its own line before ours: one message of both. */
      g_strstrip (err);
      g_strdelimit (err, "\n", ';');
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE, "%s",
                   err[0] != '\0' ? err : "cbox-wayland-helper failed");
      return NULL;
    }
  return g_steal_pointer (&out);
}

static WaylandState *
wayland_inspect (CboxContext *ctx, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  g_autoptr (WaylandState) state = g_new0 (WaylandState, 1);
  g_autoptr (GError) local_error = NULL;
  g_autofree char *resolved = NULL;
  g_autofree char *globals = NULL;
  gboolean require_context = FALSE;

  state->listen_fd = -1;
  if (!cbox_context_get_boolean (ctx, "require-security-context", FALSE, &require_context, error))
    return NULL;

  state->display_env = g_strdup (cbox_host_getenv_nonempty (host, "WAYLAND_DISPLAY"));
  if (state->display_env == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "WAYLAND_DISPLAY is not set (no Wayland compositor to forward)");
      return NULL;
    }
  state->socket_path = cbox_wayland_display_resolve (
      state->display_env, cbox_host_get_runtime_dir (host), &local_error);
  if (state->socket_path == NULL)
    {
      g_set_error_literal (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE, local_error->message);
      return NULL;
    }
  state->inside_name = cbox_wayland_display_inside_name (state->display_env);

  if (!cbox_host_is_socket (host, state->socket_path))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "no socket at %s (is a Wayland compositor running on WAYLAND_DISPLAY=%s?)",
                   state->socket_path, state->display_env);
      return NULL;
    }
  resolved = cbox_host_resolve (host, state->socket_path);

  /* Whether the compositor offers security contexts decides what is bound,
   * so it is asked, not guessed. A compositor that cannot be asked is not
   * forwarded. */
  globals = wayland_run_helper (ctx, (const char *const[]){ "probe", resolved, NULL }, NULL, 0,
                                &local_error);
  if (globals == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "cannot list the globals of the compositor at %s: %s", state->socket_path,
                   local_error->message);
      return NULL;
    }
  state->security_context = cbox_wayland_globals_have (globals, "wp_security_context_manager_v1");
  if (!state->security_context && require_context)
    {
      g_set_error (
          error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
          "the compositor at %s offers no security context "
          "(wp_security_context_manager_v1), and [wayland] require-security-context is set",
          state->socket_path);
      return NULL;
    }

  state->app_id = g_strdup (cbox_context_get_profile (ctx) != NULL ? cbox_context_get_profile (ctx)
                                                                   : WAYLAND_ENGINE);
  state->instance_id = g_strdup (cbox_context_get_instance_id (ctx));
  if (state->instance_id == NULL)
    {
      g_autofree char *uuid = g_uuid_string_random ();
      state->instance_id = g_strdelimit (g_steal_pointer (&uuid), "-", 'x');
    }
  return g_steal_pointer (&state);
}

static gboolean
wayland_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (WaylandState) state = wayland_inspect (ctx, &local_error);

  if (state == NULL)
    {
      if (g_error_matches (local_error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE))
        {
          cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE, "%s", local_error->message);
          return TRUE;
        }
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  cbox_probe_result_add_detail (result, "display", "%s", state->display_env);
  cbox_probe_result_add_detail (result, "socket", "%s", state->socket_path);
  cbox_probe_result_add_detail (result, "security-context", "%s",
                                state->security_context ? "yes" : "no");
  cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE,
                                "compositor at %s, security context: %s", state->socket_path,
                                state->security_context ? "yes" : "no");
  cbox_context_set_data (ctx, g_steal_pointer (&state), (GDestroyNotify)wayland_state_free);
  return TRUE;
}

/* Where the listening socket of a security context lives on the host: a
 * directory of our own in the user's runtime directory (or /tmp when cbox
 * runs for another user), named after the run. */
static char *
wayland_private_base (const CboxHost *host)
{
  const char *runtime_dir = cbox_host_get_runtime_dir (host);
  struct stat st;

  if (runtime_dir != NULL && stat (runtime_dir, &st) == 0 && S_ISDIR (st.st_mode)
      && st.st_uid == geteuid ())
    return g_strdup (runtime_dir);
  return g_strdup (g_get_tmp_dir ());
}

static void
wayland_remove_private_dir (gpointer data)
{
  const char *dir = data;
  g_autofree char *socket_path = g_build_filename (dir, WAYLAND_CONTEXT_SOCKET, NULL);
  g_autofree char *lock_path = g_build_filename (dir, WAYLAND_CONTEXT_LOCK, NULL);

  unlink (socket_path);
  unlink (lock_path);
  rmdir (dir);
}

/* A run killed with SIGKILL leaves its private directory behind. Its lock
 * file is flock()ed as long as its cbox lives, so a directory whose lock
 * can be taken is stale and is removed. Only our own directories, only
 * the two files we make in them. */
static void
wayland_sweep_stale (const char *base)
{
  g_autoptr (GDir) dir = g_dir_open (base, 0, NULL);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *lock_path = NULL;
      cbox_autofd int lock_fd = -1;
      struct stat st;

      if (!g_str_has_prefix (name, WAYLAND_PRIVATE_PREFIX))
        continue;
      path = g_build_filename (base, name, NULL);
      if (lstat (path, &st) < 0 || !S_ISDIR (st.st_mode) || st.st_uid != geteuid ())
        continue;
      lock_path = g_build_filename (path, WAYLAND_CONTEXT_LOCK, NULL);
      /* O_NONBLOCK: a fifo put there must not hang the sweep. */
      lock_fd = open (lock_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
      if (lock_fd < 0 || flock (lock_fd, LOCK_EX | LOCK_NB) < 0)
        continue;
      wayland_remove_private_dir (path);
    }
}

/* The private directory and the listening socket of the security context.
 * Made in contribute, so that a backend may check its sources when it
 * realizes the plan (before prepare); it is only a socket nobody serves
 * yet, and the plan's cleanup removes it also after `cbox plan`. The
 * compositor hears of it only in prepare. */
static gboolean
wayland_make_listener (WaylandState *state, CboxPlan *plan, GError **error)
{
  g_autofree char *base = g_path_get_dirname (state->private_dir);
  g_autofree char *socket_path = NULL;
  g_autofree char *lock_path = NULL;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cbox_autofd int lock_fd = -1;
  cbox_autofd int listen_fd = -1;

  wayland_sweep_stale (base);

  if (mkdir (state->private_dir, 0700) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "cannot make %s for the security context: %s", state->private_dir,
                   g_strerror (saved_errno));
      return FALSE;
    }
  cbox_plan_add_cleanup (plan, wayland_remove_private_dir, g_strdup (state->private_dir), g_free);

  lock_path = g_build_filename (state->private_dir, WAYLAND_CONTEXT_LOCK, NULL);
  lock_fd = open (lock_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd < 0 || flock (lock_fd, LOCK_EX) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "cannot lock %s: %s", lock_path,
                   g_strerror (saved_errno));
      return FALSE;
    }
  cbox_plan_take_fd (plan, cbox_steal_fd (&lock_fd));

  socket_path = g_build_filename (state->private_dir, WAYLAND_CONTEXT_SOCKET, NULL);
  if (strlen (socket_path) >= sizeof addr.sun_path)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "socket path %s is too long", socket_path);
      return FALSE;
    }
  strcpy (addr.sun_path, socket_path);
  listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd < 0 || bind (listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0
      || listen (listen_fd, 128) < 0 ||
      /* The sandboxed user may differ from the one making the socket (root
       * runs nspawn for somebody); the 0700 directory keeps it private on
       * the host, and inside only the socket itself is bound. */
      chmod (socket_path, 0666) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "cannot listen on %s: %s", socket_path,
                   g_strerror (saved_errno));
      return FALSE;
    }
  cbox_close_fdp (&state->listen_fd);
  state->listen_fd = cbox_steal_fd (&listen_fd);
  return TRUE;
}

static gboolean
wayland_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  WaylandState *state = cbox_context_get_data (ctx);
  g_autofree char *dest = NULL;

  if (state == NULL)
    {
      WaylandState *fresh = wayland_inspect (ctx, error);
      if (fresh == NULL)
        {
          g_prefix_error (error, "wayland: ");
          return FALSE;
        }
      cbox_context_set_data (ctx, fresh, (GDestroyNotify)wayland_state_free);
      state = fresh;
    }

  dest = g_build_filename (cbox_plan_get_runtime_dir (plan), state->inside_name, NULL);
  if (state->security_context)
    {
      g_autofree char *base = wayland_private_base (cbox_context_get_host (ctx));
      g_autofree char *dir_name = g_strconcat (WAYLAND_PRIVATE_PREFIX, state->instance_id, NULL);
      g_autofree char *src = NULL;

      /* The instance id names a host directory: nothing in it may climb. */
      g_strcanon (dir_name, G_CSET_a_2_z G_CSET_A_2_Z G_CSET_DIGITS "-_", '_');

      g_free (state->private_dir);
      state->private_dir = g_build_filename (base, dir_name, NULL);
      if (!wayland_make_listener (state, plan, error))
        {
          g_prefix_error (error, "wayland: ");
          return FALSE;
        }
      src = g_build_filename (state->private_dir, WAYLAND_CONTEXT_SOCKET, NULL);
      cbox_plan_add_bind_socket (plan, src, dest, CBOX_MOUNT_FLAG_NONE);
      cbox_plan_add_note (plan,
                          "security context: yes (engine %s, app id %s, instance %s); the "
                          "compositor's own socket %s is not bound",
                          WAYLAND_ENGINE, state->app_id, state->instance_id, state->socket_path);
    }
  else
    {
      cbox_plan_add_bind_socket (plan, state->socket_path, dest, CBOX_MOUNT_FLAG_NONE);
      cbox_plan_add_note (plan,
                          "security context: no (the compositor does not offer "
                          "wp_security_context_manager_v1); %s bound as is",
                          state->socket_path);
    }
  cbox_plan_set_env (plan, "WAYLAND_DISPLAY", state->inside_name);
  cbox_plan_set_env (plan, "XDG_RUNTIME_DIR", cbox_plan_get_runtime_dir (plan));
  return TRUE;
}

/* Registers the security context with the compositor: only for `cbox run`
 * (prepare is not called by `cbox plan`). */
static gboolean
wayland_prepare (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  WaylandState *state = cbox_context_get_data (ctx);
  const CboxHost *host = cbox_context_get_host (ctx);
  g_autofree char *resolved = NULL;
  g_autofree char *out = NULL;
  int pipe_fds[2] = { -1, -1 };
  int helper_fds[2];

  if (state == NULL || !state->security_context)
    return TRUE;
  g_return_val_if_fail (state->listen_fd >= 0, FALSE);

  if (pipe2 (pipe_fds, O_CLOEXEC) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "wayland: pipe: %s",
                   g_strerror (saved_errno));
      return FALSE;
    }
  /* The write end stays with the plan: when the run ends and the plan is
   * freed (or cbox dies), it closes, and the compositor stops accepting on
   * the listener. The read end goes to the compositor. */
  cbox_plan_take_fd (plan, pipe_fds[1]);

  resolved = cbox_host_resolve (host, state->socket_path);
  helper_fds[0] = cbox_steal_fd (&state->listen_fd);
  helper_fds[1] = pipe_fds[0];
  out = wayland_run_helper (ctx,
                            (const char *const[]){ "security-context", resolved, "3", "4",
                                                   WAYLAND_ENGINE, state->app_id,
                                                   state->instance_id, NULL },
                            helper_fds, 2, error);
  if (out == NULL)
    {
      /* The compositor offers security contexts, so a sandbox without one
       * would get more than the compositor means sandboxes to get: fail
       * closed rather than fall back to the unrestricted socket. */
      g_prefix_error (error, "wayland: the compositor offers security contexts, but setting one "
                             "up failed: ");
      return FALSE;
    }
  return TRUE;
}

static const CboxForwarderVTable wayland_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = wayland_probe,
  .contribute = wayland_contribute,
  .prepare = wayland_prepare,
};

/* Every key of [wayland] (docs/config.md lists them from here). */
static const CboxPluginKey wayland_config_keys[] = {
  { .name = "require-security-context",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "refuse compositors without wp_security_context_manager_v1",
    .default_value = "false" },
  { NULL },
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "wayland", .version = "1.0",
                    .description = "the Wayland display, through a security context when offered",
                    .aliases = CBOX_STRV ("display"), .features = CBOX_FEATURE_SOCKET,
                    .forwarder = &wayland_vtable, .default_enabled = FALSE,
                    .keys = wayland_config_keys)

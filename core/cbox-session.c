/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-planner-private.h"
#include "cbox-project.h"
#include "cbox-protect.h"

/* ---- the run: prepare, run, clean up ---------------------------------------- */

static void
cbox_planner_cleanup_forwarders (CboxPlanner *planner, guint n_prepared)
{
  for (guint i = n_prepared; i > 0; i--)
    {
      CboxChosen *chosen = g_ptr_array_index (planner->chosen, i - 1);
      const CboxForwarderVTable *vtable = chosen->desc->forwarder;

      if (CBOX_VTABLE_HAS (vtable, CboxForwarderVTable, cleanup))
        vtable->cleanup (chosen->ctx);
    }
}

/* Makes @path (and its missing parents) for the target user. Run by root
 * on somebody's behalf, the folders are made inside that user's home one
 * component at a time without following symlinks (the user controls the
 * home and could point a link anywhere) and given to the user. */
static gboolean
cbox_planner_make_dir (const CboxHost *host, const char *path, GError **error)
{
  const char *home = cbox_host_get_home_dir (host);
  uid_t uid = cbox_host_get_uid (host);
  gid_t gid = cbox_host_get_gid (host);
  g_auto (GStrv) parts = NULL;
  cbox_autofd int dir_fd = -1;
  gsize home_len;

  if (geteuid () != 0 || uid == 0 || home == NULL || !g_str_has_prefix (path, home)
      || (path[strlen (home)] != '/' && path[strlen (home)] != '\0'))
    {
      if (g_mkdir_with_parents (path, 0700) < 0)
        {
          int saved_errno = errno;
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                       "Cannot create %s (from the mkdir key): %s", path, g_strerror (saved_errno));
          return FALSE;
        }
      return TRUE;
    }

  dir_fd = open (home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    {
      int saved_errno = errno;
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "Cannot open the home %s: %s", home,
                   g_strerror (saved_errno));
      return FALSE;
    }
  home_len = strlen (home);
  parts = g_strsplit (path + home_len, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      int next_fd;

      if (parts[i][0] == '\0')
        continue;
      if (mkdirat (dir_fd, parts[i], 0700) == 0)
        {
          next_fd = openat (dir_fd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (next_fd >= 0 && fchown (next_fd, uid, gid) < 0)
            {
              int saved_errno = errno;
              close (next_fd);
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "Cannot give %s to uid %u: %s",
                           path, (unsigned)uid, g_strerror (saved_errno));
              return FALSE;
            }
        }
      else if (errno == EEXIST)
        next_fd = openat (dir_fd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      else
        next_fd = -1;
      if (next_fd < 0)
        {
          int saved_errno = errno;
          struct stat st;
          gboolean is_link
              = fstatat (dir_fd, parts[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK (st.st_mode);

          g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                       "Cannot create %s (from the mkdir key) at '%s': %s", path, parts[i],
                       is_link ? "a symlink, not followed when running for another user"
                               : g_strerror (saved_errno));
          return FALSE;
        }
      close (dir_fd);
      dir_fd = next_fd;
    }
  return TRUE;
}

/* The [cbox] mkdir folders and this project's entry of each
 * project-folder, made for `cbox run` before the plan is finished: the
 * protected paths are decided on what exists, so a folder made later
 * would look as if the sandbox had made it. */
gboolean
cbox_planner_make_dirs (CboxPlanner *planner, GError **error)
{
  CboxRequest *request = planner->request;
  g_autofree char *name = cbox_planner_project_folder_name (request->project_dir);

  for (guint i = 0; request->mkdirs != NULL && request->mkdirs[i] != NULL; i++)
    if (!cbox_planner_make_dir (planner->host, request->mkdirs[i], error))
      return FALSE;
  for (guint i = 0; name != NULL && i < request->project_folders->len; i++)
    {
      CboxPathRequest *folder = g_ptr_array_index (request->project_folders, i);
      g_autofree char *own = g_build_filename (folder->path, name, NULL);
      if (!cbox_planner_make_dir (planner->host, own, error))
        return FALSE;
    }
  return TRUE;
}

/* Before the command runs (prepare) and after it ended (cleanup), a
 * SIGINT, SIGTERM or SIGHUP to cbox must not kill it halfway: the
 * forwarders' host state would be left behind. It is noted instead; the
 * command is not started then, and cbox exits 128+N after cleaning up.
 * While the command runs, cbox_launch_run() forwards these signals. */
static const int cbox_planner_signals[] = { SIGINT, SIGTERM, SIGHUP };

/* Recorded where every stop is (cbox_signals_get_stop()): one caught while
 * the run was planned counts here too. */
static void
cbox_planner_on_signal (int signum)
{
  cbox_signals_note_stop (signum);
}

static void
cbox_planner_hold_signals (struct sigaction *old_actions)
{
  struct sigaction action = { .sa_handler = cbox_planner_on_signal };

  /* No SA_RESTART: a prepare blocked in a system call gets EINTR. */
  sigemptyset (&action.sa_mask);
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_planner_signals); i++)
    sigaction (cbox_planner_signals[i], &action, &old_actions[i]);
}

static void
cbox_planner_release_signals (const struct sigaction *old_actions)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_planner_signals); i++)
    sigaction (cbox_planner_signals[i], &old_actions[i], NULL);
}

static void
cbox_planner_sandbox_pid_changed (CboxContext *ctx, pid_t pid, gpointer user_data)
{
  cbox_instance_set_sandbox_pid (user_data, pid);
}

/* For `cbox ps`, `cbox enter` and `cbox stop`: registered right after the
 * backend spawned its tool, so the files are written while the tool sets
 * the sandbox up rather than before it starts (about 0.3 ms of every run
 * on this project's machine). A run killed before that leaves nothing to
 * sweep (the tool dies with cbox). A backend that starts its tool itself
 * announces it (cbox_context_notify_tool_started()). Without an entry the
 * sandbox still works, so a registry that cannot be written is only a
 * warning. */
static void
cbox_planner_register (gpointer user_data)
{
  CboxPlanner *planner = user_data;
  g_autoptr (GError) error = NULL;
  pid_t pid;

  /* Through the generic run's spawn or the backend's own announcement,
   * whichever comes first. */
  if (planner->registered)
    return;
  planner->registered = TRUE;
  planner->instance
      = cbox_instance_register (planner->host, planner->request->project_dir, planner->instance_id,
                                planner->backend_desc->name, planner->request->profile,
                                (const char *const *)planner->request->command,
                                cbox_plan_get_allow_userns (planner->plan), &error);
  if (planner->instance == NULL)
    {
      g_printerr ("cbox: warning: %s ('cbox ps', 'enter' and 'stop' will not see this sandbox)\n",
                  error->message);
      return;
    }
  cbox_context_set_sandbox_pid_func (planner->backend_ctx, cbox_planner_sandbox_pid_changed,
                                     planner->instance);
  pid = cbox_context_get_sandbox_pid (planner->backend_ctx);
  if (pid > 0)
    cbox_instance_set_sandbox_pid (planner->instance, pid);
}

gboolean
cbox_planner_run (CboxPlanner *planner, int *ret_status, GError **error)
{
  const CboxBackendVTable *backend;
  struct sigaction old_actions[G_N_ELEMENTS (cbox_planner_signals)];
  g_autoptr (GError) local_error = NULL;
  gboolean ok;
  guint n_prepared = 0;
  int status = CBOX_EXIT_FAILURE;
  int caught;

  g_return_val_if_fail (planner != NULL && planner->built, FALSE);

  if (!planner->request->will_run && !cbox_planner_make_dirs (planner, error))
    return FALSE;
  cbox_plan_set_spawned_func (planner->plan, cbox_planner_register, planner);
  cbox_context_set_started_func (planner->backend_ctx, cbox_planner_register, planner);
  cbox_planner_hold_signals (old_actions);
  ok = TRUE;
  for (guint i = 0; ok && i < planner->chosen->len && cbox_signals_get_stop () == 0; i++)
    {
      CboxChosen *chosen = g_ptr_array_index (planner->chosen, i);
      const CboxForwarderVTable *vtable = chosen->desc->forwarder;

      n_prepared = i + 1;
      if (!CBOX_VTABLE_HAS (vtable, CboxForwarderVTable, prepare))
        continue;
      cbox_plan_set_origin (planner->plan, chosen->desc->name);
      cbox_plugin_guard_enter (chosen->desc->name, "its prepare", 0);
      if (!vtable->prepare (chosen->ctx, planner->plan, &local_error))
        {
          if (local_error == NULL)
            g_set_error (&local_error, CBOX_ERROR, CBOX_ERROR_FAILED,
                         "broke the plugin contract in its prepare: it returned FALSE without "
                         "setting an error");
          g_prefix_error (&local_error, "Forwarder '%s': ", chosen->desc->name);
          ok = FALSE;
        }
      cbox_plugin_guard_leave ();
    }
  cbox_planner_release_signals (old_actions);

  if (ok && cbox_signals_get_stop () == 0)
    {
      backend = planner->backend_desc->backend;
      cbox_planner_log (planner, "running with %s", planner->backend_desc->name);
      if (CBOX_VTABLE_HAS (backend, CboxBackendVTable, run))
        ok = backend->run (planner->backend_ctx, planner->plan, planner->launch, &status,
                           &local_error);
      else
        ok = cbox_launch_run (planner->launch, planner->plan, &status, &local_error);
      if (!ok)
        g_prefix_error (&local_error, "Backend '%s': ", planner->backend_desc->name);
    }
  cbox_context_set_sandbox_pid_func (planner->backend_ctx, NULL, NULL);
  cbox_plan_set_spawned_func (planner->plan, NULL, NULL);
  cbox_context_set_started_func (planner->backend_ctx, NULL, NULL);

  cbox_planner_hold_signals (old_actions);
  cbox_planner_cleanup_forwarders (planner, n_prepared);
  cbox_plan_run_cleanups (planner->plan);
  /* The entry goes once everything it describes is gone. */
  g_clear_pointer (&planner->instance, cbox_instance_free);
  /* A tool still finishing its own exit (CboxLaunchRunOptions.ended) is
   * waited for last: cbox never returns before it is gone. */
  cbox_plan_reap_tool (planner->plan);
  /* What the tool left behind when it died abnormally came to cbox, the
   * subreaper (cbox_run_adopt_orphans()): nothing of the run outlives it. */
  if (cbox_run_kill_leftovers () > 0 && planner->request->verbose)
    g_printerr ("cbox: killed what the run's tool left behind\n");
  /* Every process of the sandbox is gone: what it left at a protected
   * path that could not be bound read-only is moved aside now, before
   * any host tool can run it. */
  {
    guint n_moved = cbox_protect_check (planner->protect, planner->instance_id);
    guint n_failed = cbox_protect_get_n_failed (planner->protect);
    if (n_failed > 0)
      g_printerr ("cbox: the run ended (status %d); %u protected path%s moved aside, and %u "
                  "could NOT be: remove %s before a host tool runs %s, see above\n",
                  status, n_moved, n_moved == 1 ? " was" : "s were", n_failed,
                  n_failed == 1 ? "it" : "them", n_failed == 1 ? "it" : "them");
    else if (n_moved > 0)
      g_printerr ("cbox: the run ended (status %d); %u protected path%s moved aside, see above\n",
                  status, n_moved, n_moved == 1 ? " was" : "s were");
  }
  cbox_planner_release_signals (old_actions);

  caught = cbox_signals_get_stop ();
  if (caught != 0 && (!ok || status == CBOX_EXIT_FAILURE))
    {
      /* Stopped before the command ran, or the backend failed once it was
       * stopped (nspawn shut down before the command had a status), or
       * while cleaning up after a failure: as if cbox had died of the
       * signal, cleanly. */
      cbox_planner_log (planner, "stopped by signal %d", caught);
      *ret_status = 128 + caught;
      return TRUE;
    }
  if (!ok)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  *ret_status = status;
  return TRUE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A tiny Wayland compositor for the tests: Debian's weston does not offer
 * wp_security_context_manager_v1, this does. It advertises wl_compositor
 * (enough for wayland-info) and the security context manager, serves the
 * listeners registered through it, and logs what happens, one line each:
 *
 *   ready
 *   connect direct
 *   context engine=E app_id=A instance_id=I
 *   connect context engine=E app_id=A instance_id=I
 *   context closed engine=E
 *
 * Clients of a context do not see the manager (no nesting), as the
 * protocol asks of compositors.
 *
 *   test-compositor SOCKET_PATH LOG_PATH [--refuse-contexts | --no-security-context]
 *
 * --refuse-contexts advertises the manager but answers create_listener
 * with a protocol error, to test that cbox then fails closed;
 * --no-security-context does not advertise it, as Debian's weston.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <wayland-server.h>

#include "security-context-v1-server-protocol.h"

typedef struct Context
{
  struct wl_display *display;
  char *engine;
  char *app_id;
  char *instance_id;
  int listen_fd;
  int close_fd;
  struct wl_event_source *listen_source;
  struct wl_event_source *close_source;
  int committed;
} Context;

static FILE *log_file;
static int refuse_contexts;
static int no_security_context;
/* Clients that came in through a context's listener. */
static struct wl_list context_clients;

typedef struct
{
  struct wl_list link;
  struct wl_client *client;
  struct wl_listener destroy;
} ContextClient;

static void log_line (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static void
log_line (const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  vfprintf (log_file, format, ap);
  va_end (ap);
  fputc ('\n', log_file);
  fflush (log_file);
}

static const char *
or_none (const char *s)
{
  return s != NULL ? s : "(none)";
}

static int
client_is_in_context (const struct wl_client *client)
{
  ContextClient *cc;

  wl_list_for_each (cc, &context_clients, link) if (cc->client == client) return 1;
  return 0;
}

/* ---- wl_compositor (empty) ------------------------------------------------ */

static void
compositor_create_surface (struct wl_client *client, struct wl_resource *resource, uint32_t id)
{
  wl_resource_post_no_memory (resource);
}

static void
compositor_create_region (struct wl_client *client, struct wl_resource *resource, uint32_t id)
{
  wl_resource_post_no_memory (resource);
}

static const struct wl_compositor_interface compositor_impl = {
  .create_surface = compositor_create_surface,
  .create_region = compositor_create_region,
};

static void
compositor_bind (struct wl_client *client, void *data, uint32_t version, uint32_t id)
{
  struct wl_resource *resource
      = wl_resource_create (client, &wl_compositor_interface, (int)version, id);

  if (resource == NULL)
    {
      wl_client_post_no_memory (client);
      return;
    }
  wl_resource_set_implementation (resource, &compositor_impl, NULL, NULL);
}

/* ---- security contexts ------------------------------------------------------ */

static void
context_client_destroyed (struct wl_listener *listener, void *data)
{
  ContextClient *cc = wl_container_of (listener, cc, destroy);

  wl_list_remove (&cc->link);
  free (cc);
}

static int
context_accept (int fd, uint32_t mask, void *data)
{
  Context *ctx = data;
  int client_fd = accept4 (fd, NULL, NULL, SOCK_CLOEXEC);
  struct wl_client *client;
  ContextClient *cc;

  if (client_fd < 0)
    return 0;
  client = wl_client_create (ctx->display, client_fd);
  if (client == NULL)
    return 0;
  cc = calloc (1, sizeof *cc);
  cc->client = client;
  cc->destroy.notify = context_client_destroyed;
  wl_client_add_destroy_listener (client, &cc->destroy);
  wl_list_insert (&context_clients, &cc->link);
  log_line ("connect context engine=%s app_id=%s instance_id=%s", or_none (ctx->engine),
            or_none (ctx->app_id), or_none (ctx->instance_id));
  return 0;
}

static void
context_free (Context *ctx)
{
  if (ctx->listen_source != NULL)
    wl_event_source_remove (ctx->listen_source);
  if (ctx->close_source != NULL)
    wl_event_source_remove (ctx->close_source);
  if (ctx->listen_fd >= 0)
    close (ctx->listen_fd);
  if (ctx->close_fd >= 0)
    close (ctx->close_fd);
  free (ctx->engine);
  free (ctx->app_id);
  free (ctx->instance_id);
  free (ctx);
}

static int
context_close (int fd, uint32_t mask, void *data)
{
  Context *ctx = data;

  log_line ("context closed engine=%s", or_none (ctx->engine));
  context_free (ctx);
  return 0;
}

static void
context_resource_destroyed (struct wl_resource *resource)
{
  Context *ctx = wl_resource_get_user_data (resource);

  /* A committed context lives on (until its close fd closes). */
  if (ctx != NULL && !ctx->committed)
    context_free (ctx);
}

static void
context_destroy (struct wl_client *client, struct wl_resource *resource)
{
  wl_resource_destroy (resource);
}

static void
set_once (struct wl_resource *resource, char **field, const char *value)
{
  Context *ctx = wl_resource_get_user_data (resource);

  if (ctx->committed)
    {
      wl_resource_post_error (resource, WP_SECURITY_CONTEXT_V1_ERROR_ALREADY_USED, "committed");
      return;
    }
  if (*field != NULL)
    {
      wl_resource_post_error (resource, WP_SECURITY_CONTEXT_V1_ERROR_ALREADY_SET, "already set");
      return;
    }
  *field = strdup (value);
}

static void
context_set_sandbox_engine (struct wl_client *client, struct wl_resource *resource,
                            const char *name)
{
  set_once (resource, &((Context *)wl_resource_get_user_data (resource))->engine, name);
}

static void
context_set_app_id (struct wl_client *client, struct wl_resource *resource, const char *app_id)
{
  set_once (resource, &((Context *)wl_resource_get_user_data (resource))->app_id, app_id);
}

static void
context_set_instance_id (struct wl_client *client, struct wl_resource *resource,
                         const char *instance_id)
{
  set_once (resource, &((Context *)wl_resource_get_user_data (resource))->instance_id, instance_id);
}

static void
context_commit (struct wl_client *client, struct wl_resource *resource)
{
  Context *ctx = wl_resource_get_user_data (resource);
  struct wl_event_loop *loop = wl_display_get_event_loop (ctx->display);

  if (ctx->committed)
    {
      wl_resource_post_error (resource, WP_SECURITY_CONTEXT_V1_ERROR_ALREADY_USED, "committed");
      return;
    }
  ctx->committed = 1;
  ctx->listen_source
      = wl_event_loop_add_fd (loop, ctx->listen_fd, WL_EVENT_READABLE, context_accept, ctx);
  ctx->close_source = wl_event_loop_add_fd (loop, ctx->close_fd, 0, context_close, ctx);
  log_line ("context engine=%s app_id=%s instance_id=%s", or_none (ctx->engine),
            or_none (ctx->app_id), or_none (ctx->instance_id));
}

static const struct wp_security_context_v1_interface context_impl = {
  .destroy = context_destroy,
  .set_sandbox_engine = context_set_sandbox_engine,
  .set_app_id = context_set_app_id,
  .set_instance_id = context_set_instance_id,
  .commit = context_commit,
};

static void
manager_destroy (struct wl_client *client, struct wl_resource *resource)
{
  wl_resource_destroy (resource);
}

static void
manager_create_listener (struct wl_client *client, struct wl_resource *resource, uint32_t id,
                         int32_t listen_fd, int32_t close_fd)
{
  struct wl_resource *context_resource;
  Context *ctx;

  if (refuse_contexts)
    {
      close (listen_fd);
      close (close_fd);
      wl_resource_post_error (resource, WP_SECURITY_CONTEXT_MANAGER_V1_ERROR_INVALID_LISTEN_FD,
                              "refused for the test");
      return;
    }
  ctx = calloc (1, sizeof *ctx);
  ctx->display = wl_client_get_display (client);
  ctx->listen_fd = listen_fd;
  ctx->close_fd = close_fd;
  context_resource = wl_resource_create (client, &wp_security_context_v1_interface,
                                         wl_resource_get_version (resource), id);
  wl_resource_set_implementation (context_resource, &context_impl, ctx, context_resource_destroyed);
}

static const struct wp_security_context_manager_v1_interface manager_impl = {
  .destroy = manager_destroy,
  .create_listener = manager_create_listener,
};

static void
manager_bind (struct wl_client *client, void *data, uint32_t version, uint32_t id)
{
  struct wl_resource *resource
      = wl_resource_create (client, &wp_security_context_manager_v1_interface, (int)version, id);

  wl_resource_set_implementation (resource, &manager_impl, NULL, NULL);
}

static bool
global_filter (const struct wl_client *client, const struct wl_global *global, void *data)
{
  if (wl_global_get_interface (global) == &wp_security_context_manager_v1_interface)
    return !client_is_in_context (client);
  return true;
}

static int
on_term (int signal_number, void *data)
{
  wl_display_terminate (data);
  return 0;
}

static int direct_listen_fd = -1;

static int
direct_accept (int fd, uint32_t mask, void *data)
{
  struct wl_display *display = data;
  int client_fd = accept4 (fd, NULL, NULL, SOCK_CLOEXEC);

  if (client_fd < 0)
    return 0;
  if (wl_client_create (display, client_fd) != NULL)
    log_line ("connect direct");
  return 0;
}

int
main (int argc, char **argv)
{
  struct wl_display *display;
  struct wl_event_loop *loop;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  char tmp_path[sizeof addr.sun_path + 8];

  if (argc < 3 || argc > 4
      || (argc == 4 && strcmp (argv[3], "--refuse-contexts") != 0
          && strcmp (argv[3], "--no-security-context") != 0))
    {
      fprintf (stderr,
               "usage: %s SOCKET_PATH LOG_PATH [--refuse-contexts | --no-security-context]\n",
               argv[0]);
      return 2;
    }
  refuse_contexts = argc == 4 && strcmp (argv[3], "--refuse-contexts") == 0;
  no_security_context = argc == 4 && strcmp (argv[3], "--no-security-context") == 0;
  log_file = fopen (argv[2], "a");
  if (log_file == NULL)
    {
      perror (argv[2]);
      return 1;
    }
  wl_list_init (&context_clients);

  display = wl_display_create ();
  loop = wl_display_get_event_loop (display);
  wl_global_create (display, &wl_compositor_interface, 4, NULL, compositor_bind);
  if (!no_security_context)
    wl_global_create (display, &wp_security_context_manager_v1_interface, 1, NULL, manager_bind);
  wl_display_set_global_filter (display, global_filter, NULL);
  wl_event_loop_add_signal (loop, SIGTERM, on_term, display);
  wl_event_loop_add_signal (loop, SIGINT, on_term, display);

  /* Listen on a temporary name, then rename: the socket appears at its
   * path only once it accepts connections, so the test waits for the path. */
  if (strlen (argv[1]) + 5 >= sizeof addr.sun_path)
    {
      fprintf (stderr, "socket path too long\n");
      return 1;
    }
  snprintf (tmp_path, sizeof tmp_path, "%s.tmp", argv[1]);
  strcpy (addr.sun_path, tmp_path);
  unlink (tmp_path);
  direct_listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (direct_listen_fd < 0 || bind (direct_listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0
      || listen (direct_listen_fd, 16) < 0 || chmod (tmp_path, 0777) < 0
      || rename (tmp_path, argv[1]) < 0)
    {
      perror (argv[1]);
      return 1;
    }
  wl_event_loop_add_fd (loop, direct_listen_fd, WL_EVENT_READABLE, direct_accept, display);

  log_line ("ready");
  wl_display_run (display);
  unlink (argv[1]);
  wl_display_destroy_clients (display);
  wl_display_destroy (display);
  return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cbox-wayland-helper: the only part of the wayland forwarder that links
 * libwayland-client, so that loading the plugin (which every `cbox run`
 * does) costs nothing of it; it is run only when the forwarder is used.
 *
 *   cbox-wayland-helper probe SOCKET
 *     Prints "global INTERFACE VERSION" for every global the compositor at
 *     SOCKET advertises.
 *
 *   cbox-wayland-helper security-context SOCKET LISTEN_FD CLOSE_FD ENGINE APP_ID INSTANCE_ID
 *     Registers LISTEN_FD (bound, listening) as a wp_security_context_v1
 *     listener with that metadata; the compositor serves it until the other
 *     end of CLOSE_FD is closed. Exit 0 only when the compositor accepted
 *     the commit (a protocol error after a roundtrip is a failure).
 *
 * Every failure prints one line on stderr and exits 1. A compositor that
 * does not answer within 10 seconds ends the helper (SIGALRM).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <wayland-client.h>

#include "security-context-v1-client-protocol.h"

typedef struct
{
  int list; /* probe: print every global */
  struct wp_security_context_manager_v1 *manager;
} Globals;

static void
registry_global (void *data, struct wl_registry *registry, uint32_t name, const char *interface,
                 uint32_t version)
{
  Globals *globals = data;

  if (globals->list)
    printf ("global %s %u\n", interface, version);
  else if (strcmp (interface, wp_security_context_manager_v1_interface.name) == 0
           && globals->manager == NULL)
    globals->manager
        = wl_registry_bind (registry, name, &wp_security_context_manager_v1_interface, 1);
}

static void
registry_global_remove (void *data, struct wl_registry *registry, uint32_t name)
{
}

static const struct wl_registry_listener registry_listener = {
  .global = registry_global,
  .global_remove = registry_global_remove,
};

static void fail (const char *format, ...) __attribute__ ((format (printf, 1, 2), noreturn));

static void
fail (const char *format, ...)
{
  va_list ap;

  fprintf (stderr, "cbox-wayland-helper: ");
  va_start (ap, format);
  vfprintf (stderr, format, ap);
  va_end (ap);
  fputc ('\n', stderr);
  exit (1);
}

/* Connects to the socket at @path ourselves: libwayland-client before 1.22
 * takes only names relative to XDG_RUNTIME_DIR. */
static struct wl_display *
connect_path (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct wl_display *display;
  int fd;

  if (strlen (path) >= sizeof addr.sun_path)
    fail ("socket path too long: %s", path);
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    fail ("socket: %s", strerror (errno));
  if (connect (fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    {
      fail ("cannot connect to %s: %s", path, strerror (errno));
    }
  display = wl_display_connect_to_fd (fd);
  if (display == NULL)
    fail ("cannot start a Wayland connection on %s", path);
  return display;
}

static void
roundtrip (struct wl_display *display, const char *what)
{
  if (wl_display_roundtrip (display) < 0)
    {
      const struct wl_interface *interface = NULL;
      uint32_t id = 0;
      int err = wl_display_get_error (display);
      char message[256];

      if (err == EPROTO)
        {
          uint32_t code = wl_display_get_protocol_error (display, &interface, &id);
          snprintf (message, sizeof message, "protocol error %u on %s during %s", code,
                    interface != NULL ? interface->name : "?", what);
        }
      else
        snprintf (message, sizeof message, "connection failed during %s: %s", what, strerror (err));
      fail ("%s", message);
    }
}

static int
parse_fd (const char *text)
{
  char *end = NULL;
  long value = strtol (text, &end, 10);

  if (end == text || *end != '\0' || value < 3 || value > INT_MAX)
    fail ("bad file descriptor number: %s", text);
  return (int)value;
}

int
main (int argc, char **argv)
{
  Globals globals = { 0 };
  struct wl_display *display;
  struct wl_registry *registry;

  alarm (10);

  if (argc == 3 && strcmp (argv[1], "probe") == 0)
    {
      display = connect_path (argv[2]);
      globals.list = 1;
      registry = wl_display_get_registry (display);
      wl_registry_add_listener (registry, &registry_listener, &globals);
      roundtrip (display, "the registry roundtrip");
      wl_registry_destroy (registry);
      wl_display_disconnect (display);
      return fflush (stdout) == 0 ? 0 : 1;
    }

  if (argc == 8 && strcmp (argv[1], "security-context") == 0)
    {
      int listen_fd = parse_fd (argv[3]);
      int close_fd = parse_fd (argv[4]);
      struct wp_security_context_v1 *context;

      display = connect_path (argv[2]);
      registry = wl_display_get_registry (display);
      wl_registry_add_listener (registry, &registry_listener, &globals);
      roundtrip (display, "the registry roundtrip");
      if (globals.manager == NULL)
        fail ("the compositor at %s does not offer wp_security_context_manager_v1", argv[2]);

      context
          = wp_security_context_manager_v1_create_listener (globals.manager, listen_fd, close_fd);
      wp_security_context_v1_set_sandbox_engine (context, argv[5]);
      if (argv[6][0] != '\0')
        wp_security_context_v1_set_app_id (context, argv[6]);
      if (argv[7][0] != '\0')
        wp_security_context_v1_set_instance_id (context, argv[7]);
      wp_security_context_v1_commit (context);
      wp_security_context_v1_destroy (context);
      /* An error the compositor sends for the requests above arrives before
       * the roundtrip's callback. */
      roundtrip (display, "the security context commit");

      wp_security_context_manager_v1_destroy (globals.manager);
      wl_registry_destroy (registry);
      wl_display_disconnect (display);
      close (listen_fd);
      close (close_fd);
      return 0;
    }

  fprintf (stderr,
           "usage: %s probe SOCKET\n"
           "       %s security-context SOCKET LISTEN_FD CLOSE_FD ENGINE APP_ID INSTANCE_ID\n",
           argv[0], argv[0]);
  return 2;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * x11 with real X servers and real sandboxes, for each backend (bwrap;
 * nspawn when running as root):
 *
 * - an Xvfb (display number picked by the server itself, -displayfd) whose
 *   auth file holds one cookie; the user's Xauthority holds that cookie for
 *   this host and display, plus cookies of another host, another display, a
 *   TCP address and a wild entry for another display;
 * - `xdpyinfo` inside succeeds with --forward=x11 and fails without;
 * - the Xauthority inside holds exactly one entry: FamilyWild, this display,
 *   the right cookie;
 * - a second Xvfb's socket is not visible inside, and /tmp/.X11-unix holds
 *   only the forwarded display.
 *
 * The network is off in every run: the abstract X11 sockets live in the
 * host's network namespace, and the tests must prove that the bound socket
 * is the only way to the server.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cbox-test-util.h"
#include "cbox-x11-xauth.h"

typedef struct
{
  GSubprocess *proc;
  guint display;
} Xserver;

static Xserver servers[2];
static char *user_xauthority; /* the user's file, with decoys */
static char *xauth_dir;
static const char *cookie = "0123456789abcdef0123456789abcdef";

static const char *only_backend;

/* Skips (not fails: another helper's plugin, not a missing package) when
 * the backend plugin is not built; nspawn needs root. */
static gboolean
require_backend (const char *backend)
{
  if (!cbox_test_require_backend (backend, only_backend))
    return FALSE;
  if (servers[0].proc == NULL)
    {
      cbox_test_skip_or_fail ("Xvfb, xdpyinfo or xauth is missing (tools/install-deps)");
      return FALSE;
    }
  return TRUE;
}

static gboolean
start_xvfb (const char *auth_file, Xserver *server)
{
  g_autofree char *xvfb = g_find_program_in_path ("Xvfb");
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) number = g_string_new (NULL);
  int fds[2];
  char c;

  if (xvfb == NULL)
    return FALSE;
  g_assert_cmpint (pipe2 (fds, O_CLOEXEC), ==, 0);
  launcher = cbox_test_server_launcher_new (G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_take_fd (launcher, fds[1], 3);
  /* -displayfd: the server picks a free display number itself and writes
   * it, so parallel tests of other helpers cannot collide with us. */
  if (auth_file != NULL)
    server->proc = g_subprocess_launcher_spawn (launcher, &error, xvfb, "-displayfd", "3", "-auth",
                                                auth_file, "-nolisten", "tcp", NULL);
  else
    server->proc = g_subprocess_launcher_spawn (launcher, &error, xvfb, "-displayfd", "3",
                                                "-nolisten", "tcp", NULL);
  g_assert_no_error (error);
  g_clear_object (&launcher); /* closes our copy of the write end */
  while (read (fds[0], &c, 1) == 1 && c != '\n')
    g_string_append_c (number, c);
  close (fds[0]);
  g_assert_cmpuint (number->len, >, 0);
  server->display = (guint)g_ascii_strtoull (number->str, NULL, 10);
  return TRUE;
}

static void
write_user_xauthority (void)
{
  g_autofree char *host = g_strdup (g_get_host_name ());
  guint d = servers[0].display;
  g_autofree char *this_display = g_strdup_printf ("%s/unix:%u", host, d);
  g_autofree char *other_host = g_strdup_printf ("otherhost/unix:%u", d);
  g_autofree char *other_display = g_strdup_printf ("%s/unix:%u", host, d + 1);
  g_autofree char *tcp = g_strdup_printf ("10.1.2.3:%u", d);
  const char *adds[][2] = {
    { other_host, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
    { this_display, cookie },
    { other_display, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" },
    { tcp, "cccccccccccccccccccccccccccccccc" },
  };

  user_xauthority = g_build_filename (xauth_dir, "user Xauthority", NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (adds); i++)
    {
      const char *argv[]
          = { "xauth",    "-q", "-f", user_xauthority, "add", adds[i][0], "MIT-MAGIC-COOKIE-1",
              adds[i][1], NULL };
      int status = 0;
      g_autoptr (GError) error = NULL;

      g_assert_true (g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
                                   NULL, &status, &error));
      g_assert_no_error (error);
      g_assert_true (g_spawn_check_wait_status (status, NULL));
    }
  /* And a wild entry for the next display, which must stay out. */
  {
    g_autofree char *contents = NULL;
    gsize len = 0;
    g_autoptr (GPtrArray) entries = NULL;
    g_autoptr (GBytes) bytes = NULL;
    g_autofree char *next = g_strdup_printf ("%u", d + 1);
    g_autoptr (GError) error = NULL;

    g_assert_true (g_file_get_contents (user_xauthority, &contents, &len, NULL));
    entries = cbox_xauth_parse ((const guint8 *)contents, len, &error);
    g_assert_no_error (error);
    g_ptr_array_add (entries, cbox_xauth_entry_new (CBOX_XAUTH_FAMILY_WILD, "", 0, next,
                                                    "MIT-MAGIC-COOKIE-1", "dddddddddddddddd", 16));
    bytes = cbox_xauth_serialize (entries);
    g_assert_true (g_file_set_contents (user_xauthority, g_bytes_get_data (bytes, NULL),
                                        (gssize)g_bytes_get_size (bytes), NULL));
  }
}

static char **
x11_environ (void)
{
  g_autofree char *display = g_strdup_printf ("DISPLAY=:%u", servers[0].display);
  g_autofree char *xauthority = g_strdup_printf ("XAUTHORITY=%s", user_xauthority);

  return cbox_test_environ ((const char *const[]){ display, xauthority, "WAYLAND_DISPLAY", NULL });
}

static void
run_in_box (const char *backend, gboolean forward, const char *script, CboxTestResult *result)
{
  g_auto (GStrv) env = x11_environ ();
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autofree char *backend_arg = g_strdup_printf ("--backend=%s", backend);
  g_autofree char *project_arg = g_strdup_printf ("--project=%s", project);
  const char *args[] = { "run",
                         backend_arg,
                         project_arg,
                         "--profile=none",
                         "--network=off",
                         forward ? "--forward=x11" : "--no-forward=x11",
                         "--",
                         "/bin/sh",
                         "-c",
                         script,
                         NULL };

  cbox_test_run (args, NULL, (const char *const *)env, NULL, result);
}

static void
test_xdpyinfo (gconstpointer data)
{
  const char *backend = data;
  g_auto (CboxTestResult) with = { 0 };
  g_auto (CboxTestResult) without = { 0 };
  g_autofree char *direct = NULL;

  if (!require_backend (backend))
    return;
  run_in_box (backend, TRUE, "xdpyinfo", &with);
  cbox_test_assert_status (&with, 0);
  g_assert_nonnull (strstr (with.out, "name of display:"));

  run_in_box (backend, FALSE, "xdpyinfo", &without);
  g_assert_cmpint (without.status, !=, 0);

  /* Not only a missing DISPLAY: naming the display does not help either. */
  cbox_test_result_clear (&without);
  direct = g_strdup_printf ("DISPLAY=:%u xdpyinfo", servers[0].display);
  run_in_box (backend, FALSE, direct, &without);
  g_assert_cmpint (without.status, !=, 0);
}

static void
test_xauthority_inside (gconstpointer data)
{
  const char *backend = data;
  g_auto (CboxTestResult) result = { 0 };
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GError) error = NULL;
  const CboxXauthEntry *entry;
  g_autofree char *number = NULL;
  g_autofree guint8 *raw = NULL;
  gsize raw_len = 0;

  if (!require_backend (backend))
    return;
  /* base64: CboxTestResult.out is a C string (cut at the first NUL). */
  run_in_box (backend, TRUE, "base64 -w0 \"$XAUTHORITY\"", &result);
  cbox_test_assert_status (&result, 0);
  raw = g_base64_decode (result.out, &raw_len);
  entries = cbox_xauth_parse (raw, raw_len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (entries->len, ==, 1);
  entry = g_ptr_array_index (entries, 0);
  g_assert_cmpuint (entry->family, ==, CBOX_XAUTH_FAMILY_WILD);
  number = g_strdup_printf ("%u", servers[0].display);
  g_assert_cmpmem (g_bytes_get_data (entry->number, NULL), g_bytes_get_size (entry->number), number,
                   strlen (number));
  g_assert_cmpuint (g_bytes_get_size (entry->data), ==, 16);
  {
    /* The cookie, as the bytes xauth stored for the hex string. */
    guint8 expected[16];
    for (guint i = 0; i < 16; i++)
      expected[i] = (guint8)((g_ascii_xdigit_value (cookie[2 * i]) << 4)
                             | g_ascii_xdigit_value (cookie[2 * i + 1]));
    g_assert_cmpmem (g_bytes_get_data (entry->data, NULL), 16, expected, 16);
  }

  /* The user's file itself is nowhere inside. */
  cbox_test_result_clear (&result);
  {
    g_autofree char *script
        = g_strdup_printf ("test ! -e '%s' && env | grep -c ^XAUTHORITY=", user_xauthority);
    run_in_box (backend, TRUE, script, &result);
    cbox_test_assert_status (&result, 0);
    g_assert_cmpstr (result.out, ==, "1\n");
  }
}

static void
test_other_display_hidden (gconstpointer data)
{
  const char *backend = data;
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *expected = g_strdup_printf ("X%u\n", servers[0].display);
  g_autofree char *other_socket = g_strdup_printf ("/tmp/.X11-unix/X%u", servers[1].display);
  g_autofree char *script = NULL;

  if (!require_backend (backend))
    return;
  /* The second server really is there on the host. */
  g_assert_true (g_file_test (other_socket, G_FILE_TEST_EXISTS));

  run_in_box (backend, TRUE, "ls -A /tmp/.X11-unix", &result);
  cbox_test_assert_status (&result, 0);
  g_assert_cmpstr (result.out, ==, expected);

  cbox_test_result_clear (&result);
  script = g_strdup_printf ("test -e %s || DISPLAY=:%u xdpyinfo", other_socket, servers[1].display);
  run_in_box (backend, TRUE, script, &result);
  g_assert_cmpint (result.status, !=, 0);
}

int
main (int argc, char **argv)
{
  static const char *const backends[] = { "bwrap", "nspawn" };
  g_autofree char *server_auth = NULL;
  g_autofree char *xauth_path = NULL;
  g_autofree char *xdpyinfo_path = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  /* --only=BACKEND: the unprivileged run (run-as-user.sh) tests only what
   * works without root; the run as root covers nspawn. */
  for (int i = 1; i < argc; i++)
    if (g_str_has_prefix (argv[i], "--only="))
      only_backend = argv[i] + strlen ("--only=");

  xauth_dir = g_dir_make_tmp ("cbox-x11-test-XXXXXX", NULL);
  g_assert_nonnull (xauth_dir);
  g_chmod (xauth_dir, 0755);
  xauth_path = g_find_program_in_path ("xauth");
  xdpyinfo_path = g_find_program_in_path ("xdpyinfo");
  if (xauth_path != NULL && xdpyinfo_path != NULL)
    {
      /* The server's own auth file: one cookie, nothing else. */
      const char *argv_add[]
          = { "xauth", "-q", "-f", NULL, "add", ":0", "MIT-MAGIC-COOKIE-1", cookie, NULL };
      server_auth = g_build_filename (xauth_dir, "server", NULL);
      argv_add[3] = server_auth;
      g_assert_true (g_spawn_sync (NULL, (char **)argv_add, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                                   NULL, NULL, &status, NULL));
      if (start_xvfb (server_auth, &servers[0]) && start_xvfb (NULL, &servers[1]))
        write_user_xauthority ();
      else
        g_clear_object (&servers[0].proc);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (backends); i++)
    {
      g_autofree char *p1 = g_strdup_printf ("/x11/integration/%s/xdpyinfo", backends[i]);
      g_autofree char *p2 = g_strdup_printf ("/x11/integration/%s/xauthority-inside", backends[i]);
      g_autofree char *p3
          = g_strdup_printf ("/x11/integration/%s/other-display-hidden", backends[i]);
      g_test_add_data_func (p1, backends[i], test_xdpyinfo);
      g_test_add_data_func (p2, backends[i], test_xauthority_inside);
      g_test_add_data_func (p3, backends[i], test_other_display_hidden);
    }
  status = g_test_run ();

  for (gsize i = 0; i < G_N_ELEMENTS (servers); i++)
    if (servers[i].proc != NULL)
      {
        g_subprocess_force_exit (servers[i].proc);
        g_subprocess_wait (servers[i].proc, NULL, NULL);
        g_object_unref (servers[i].proc);
      }
  {
    const char *rm[] = { "rm", "-rf", "--", xauth_dir, NULL };
    g_spawn_sync (NULL, (char **)rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
  }
  return status;
}

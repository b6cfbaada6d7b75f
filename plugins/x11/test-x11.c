/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the x11 forwarder: DISPLAY parsing, the Xauthority parser
 * (with truncated and malicious files) and filter, and the plugin's probe
 * and contribute against a fake root holding a real listening socket. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-private.h"
#include "cbox-test-util.h"
#include "cbox-x11-display.h"
#include "cbox-x11-xauth.h"

/* ---- DISPLAY ------------------------------------------------------------ */

static void
test_display_parse (void)
{
  static const struct
  {
    const char *display;
    gboolean local;
    const char *host;
    const char *number;
    const char *screen;
    gboolean loopback;
  } cases[] = {
    { ":0", TRUE, NULL, "0", NULL, FALSE },
    { ":0.1", TRUE, NULL, "0", "1", FALSE },
    { ":12", TRUE, NULL, "12", NULL, FALSE },
    { "unix:0", TRUE, NULL, "0", NULL, FALSE },
    { "unix/:3", TRUE, NULL, "3", NULL, FALSE },
    { "host:0", FALSE, "host", "0", NULL, FALSE },
    { "example.org:2.0", FALSE, "example.org", "2", "0", FALSE },
    { "tcp/host:1", FALSE, "host", "1", NULL, FALSE },
    { "[::1]:0", FALSE, "::1", "0", NULL, TRUE },
    { "[fe80::1]:4", FALSE, "fe80::1", "4", NULL, FALSE },
    { "localhost:10", FALSE, "localhost", "10", NULL, TRUE },
    { "localhost:10.0", FALSE, "localhost", "10", "0", TRUE },
    { "127.0.0.1:10", FALSE, "127.0.0.1", "10", NULL, TRUE },
    { "192.168.1.2:0", FALSE, "192.168.1.2", "0", NULL, FALSE },
    { ":007", TRUE, NULL, "7", NULL, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (CboxX11Display) display = cbox_x11_display_parse (cases[i].display, &error);

      g_test_message ("DISPLAY=%s", cases[i].display);
      g_assert_no_error (error);
      g_assert_nonnull (display);
      g_assert_cmpint (display->local, ==, cases[i].local);
      g_assert_cmpstr (display->host, ==, cases[i].host);
      g_assert_cmpstr (display->number, ==, cases[i].number);
      g_assert_cmpstr (display->screen, ==, cases[i].screen);
      g_assert_cmpint (cbox_x11_display_is_loopback (display), ==, cases[i].loopback);
      if (cases[i].local)
        {
          g_autofree char *socket = cbox_x11_display_get_socket_path (display);
          g_autofree char *expected = g_strdup_printf ("/tmp/.X11-unix/X%s", cases[i].number);
          g_assert_cmpstr (socket, ==, expected);
        }
    }
}

static void
test_display_invalid (void)
{
  static const char *const cases[] = {
    "",
    "0",
    ":",
    ":x",
    ":0.",
    ":0.x",
    ":-1",
    ":0 ",
    " :0",
    "host::0",
    "::1:0",
    "[::1:0",
    "[nothex]:0",
    "[]:0",
    "/tmp/launch-abc/org.xquartz:0",
    ":99999",
    ":123456789012345678901",
    "ho st:0",
    "host\n:0",
    "-host:0",
    "tcp/:0",
    "unix/host:0",
    ":0.1.2",
    "a:b:0",
    ":0:0",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (CboxX11Display) display = cbox_x11_display_parse (cases[i], &error);

      g_test_message ("DISPLAY=%s", cases[i]);
      g_assert_null (display);
      g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
    }
}

/* ---- Xauthority ------------------------------------------------------------ */

static GPtrArray *
sample_entries (void)
{
  GPtrArray *entries = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_xauth_entry_free);
  static const guint8 ip4[4] = { 192, 168, 0, 9 };

  /* 0: ours (local, this host, display 7) */
  g_ptr_array_add (entries, cbox_xauth_entry_new (CBOX_XAUTH_FAMILY_LOCAL, "myhost", 6, "7",
                                                  "MIT-MAGIC-COOKIE-1", "cookie-7-local", 14));
  /* 1: another display of this host */
  g_ptr_array_add (entries, cbox_xauth_entry_new (CBOX_XAUTH_FAMILY_LOCAL, "myhost", 6, "0",
                                                  "MIT-MAGIC-COOKIE-1", "cookie-0-local", 14));
  /* 2: display 7 of another host */
  g_ptr_array_add (entries, cbox_xauth_entry_new (CBOX_XAUTH_FAMILY_LOCAL, "otherhost", 9, "7",
                                                  "MIT-MAGIC-COOKIE-1", "cookie-7-other", 14));
  /* 3: display 7 over TCP to some address */
  g_ptr_array_add (entries, cbox_xauth_entry_new (CBOX_XAUTH_FAMILY_INTERNET, ip4, 4, "7",
                                                  "MIT-MAGIC-COOKIE-1", "cookie-7-inet", 13));
  /* 4: wild, display 7 */
  g_ptr_array_add (entries, cbox_xauth_entry_new (CBOX_XAUTH_FAMILY_WILD, "", 0, "7",
                                                  "MIT-MAGIC-COOKIE-1", "cookie-7-wild", 13));
  /* 5: wild, display 8 */
  g_ptr_array_add (entries, cbox_xauth_entry_new (CBOX_XAUTH_FAMILY_WILD, "", 0, "8",
                                                  "MIT-MAGIC-COOKIE-1", "cookie-8-wild", 13));
  /* 6: a duplicate of 0 under the openSUSE name */
  g_ptr_array_add (entries, cbox_xauth_entry_new (CBOX_XAUTH_FAMILY_LOCAL, "oldname", 7, "7",
                                                  "MIT-MAGIC-COOKIE-1", "cookie-7-local", 14));
  /* 7: Kerberos family, display 7 */
  g_ptr_array_add (entries, cbox_xauth_entry_new (253, "x", 1, "7", "MIT-KERBEROS-5", "k", 1));
  return entries;
}

static void
assert_entry (GPtrArray *entries, guint index, const char *number, const char *data)
{
  const CboxXauthEntry *entry;

  g_assert_cmpuint (index, <, entries->len);
  entry = g_ptr_array_index (entries, index);
  g_assert_cmpuint (entry->family, ==, CBOX_XAUTH_FAMILY_WILD);
  g_assert_cmpuint (g_bytes_get_size (entry->address), ==, 0);
  g_assert_cmpmem (g_bytes_get_data (entry->number, NULL), g_bytes_get_size (entry->number), number,
                   strlen (number));
  g_assert_cmpmem (g_bytes_get_data (entry->name, NULL), g_bytes_get_size (entry->name),
                   "MIT-MAGIC-COOKIE-1", strlen ("MIT-MAGIC-COOKIE-1"));
  g_assert_cmpmem (g_bytes_get_data (entry->data, NULL), g_bytes_get_size (entry->data), data,
                   strlen (data));
}

static void
test_xauth_roundtrip (void)
{
  g_autoptr (GPtrArray) entries = sample_entries ();
  g_autoptr (GBytes) bytes = cbox_xauth_serialize (entries);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) parsed = NULL;
  g_autoptr (GBytes) again = NULL;
  static const guint8 known[] = {
    0x01, 0x00, 0x00, 0x06, 'm', 'y', 'h', 'o', 's', 't', 0x00, 0x01, '7', 0x00, 0x12,
  };

  /* The byte layout of libXau: big-endian family and lengths. */
  g_assert_cmpuint (g_bytes_get_size (bytes), >, sizeof known);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), sizeof known, known, sizeof known);

  parsed = cbox_xauth_parse (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (parsed->len, ==, entries->len);
  again = cbox_xauth_serialize (parsed);
  g_assert_true (g_bytes_equal (bytes, again));

  /* An empty file is a valid file with no entries. */
  g_clear_pointer (&parsed, g_ptr_array_unref);
  parsed = cbox_xauth_parse ((const guint8 *)"", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (parsed->len, ==, 0);
}

static void
test_xauth_truncated (void)
{
  g_autoptr (GPtrArray) entries = sample_entries ();
  g_autoptr (GBytes) bytes = cbox_xauth_serialize (entries);
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  g_autoptr (GHashTable) boundaries = g_hash_table_new (NULL, NULL);
  gsize offset = 0;

  /* Where each entry ends: the only prefixes that are whole files. */
  g_hash_table_add (boundaries, GSIZE_TO_POINTER (0));
  for (guint i = 0; i < entries->len; i++)
    {
      g_autoptr (GPtrArray) one = g_ptr_array_new ();
      g_autoptr (GBytes) entry_bytes = NULL;
      g_ptr_array_add (one, g_ptr_array_index (entries, i));
      entry_bytes = cbox_xauth_serialize (one);
      offset += g_bytes_get_size (entry_bytes);
      g_hash_table_add (boundaries, GSIZE_TO_POINTER (offset));
    }
  g_assert_cmpuint (offset, ==, size);

  /* Every prefix, each in a buffer of exactly that size so that the
   * address sanitizer (and valgrind) catches a read past it. */
  for (gsize len = 0; len <= size; len++)
    {
      g_autofree guint8 *copy = g_memdup2 (data, len > 0 ? len : 1);
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) parsed = cbox_xauth_parse (copy, len, &error);

      if (g_hash_table_contains (boundaries, GSIZE_TO_POINTER (len)))
        {
          g_assert_no_error (error);
          g_assert_nonnull (parsed);
        }
      else
        {
          g_assert_null (parsed);
          g_assert_error (error, CBOX_ERROR, CBOX_ERROR_FAILED);
          g_assert_nonnull (strstr (error->message, "truncated at byte"));
        }
    }
}

static void
test_xauth_malicious (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) parsed = NULL;
  g_autofree guint8 *big = NULL;
  /* An address length of 65535 with 3 bytes after it. */
  static const guint8 huge_length[] = { 0x01, 0x00, 0xff, 0xff, 'a', 'b', 'c' };
  /* A valid entry followed by one lone byte. */
  static const guint8 trailing[] = { 0xff, 0xff, 0, 0, 0, 1, '0', 0, 1, 'N', 0, 1, 'D', 0x42 };
  /* Every length zero: valid (libXau reads it as empty strings). */
  static const guint8 all_empty[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

  parsed = cbox_xauth_parse (huge_length, sizeof huge_length, &error);
  g_assert_null (parsed);
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "65535"));
  g_clear_error (&error);

  parsed = cbox_xauth_parse (trailing, sizeof trailing, &error);
  g_assert_null (parsed);
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "entry 2"));
  g_clear_error (&error);

  parsed = cbox_xauth_parse (all_empty, sizeof all_empty, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (parsed->len, ==, 1);
  g_clear_pointer (&parsed, g_ptr_array_unref);

  /* Over the size limit: refused before any parsing. */
  big = g_malloc0 (CBOX_XAUTH_MAX_FILE_SIZE + 1);
  parsed = cbox_xauth_parse (big, CBOX_XAUTH_MAX_FILE_SIZE + 1, &error);
  g_assert_null (parsed);
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "too large"));
}

static void
test_xauth_filter_local (void)
{
  g_autoptr (GPtrArray) entries = sample_entries ();
  g_autoptr (GPtrArray) kept = NULL;
  const char *hostnames[] = { "myhost", "oldname", NULL };
  CboxXauthMatch match = { .number = "7", .local_hostnames = hostnames };

  kept = cbox_xauth_filter (entries, &match);
  /* Entry 0 and the wild one; 6 duplicates 0 once rewritten. Not: other
   * displays (1, 5), other hosts (2), TCP (3), Kerberos (7). */
  g_assert_cmpuint (kept->len, ==, 2);
  assert_entry (kept, 0, "7", "cookie-7-local");
  assert_entry (kept, 1, "7", "cookie-7-wild");

  /* Without the openSUSE name and with another host name, only wild. */
  hostnames[0] = "renamed";
  hostnames[1] = NULL;
  g_clear_pointer (&kept, g_ptr_array_unref);
  kept = cbox_xauth_filter (entries, &match);
  g_assert_cmpuint (kept->len, ==, 1);
  assert_entry (kept, 0, "7", "cookie-7-wild");

  /* A display nobody has a cookie for. */
  match.number = "3";
  g_clear_pointer (&kept, g_ptr_array_unref);
  kept = cbox_xauth_filter (entries, &match);
  g_assert_cmpuint (kept->len, ==, 0);
}

static void
test_xauth_filter_tcp (void)
{
  g_autoptr (GPtrArray) entries = sample_entries ();
  g_autoptr (GPtrArray) kept = NULL;
  g_autoptr (GPtrArray) remote = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  static const guint8 ip4[4] = { 192, 168, 0, 9 };
  CboxXauthMatch match = { .number = "7", .remote_addresses = remote };

  g_ptr_array_add (remote, g_bytes_new (ip4, 4));
  kept = cbox_xauth_filter (entries, &match);
  /* The TCP entry for that address, and the wild one; no local entry (the
   * host is not the loopback, so no host names are given). */
  g_assert_cmpuint (kept->len, ==, 2);
  assert_entry (kept, 0, "7", "cookie-7-inet");
  assert_entry (kept, 1, "7", "cookie-7-wild");
}

static void
test_xauth_filter_empty_number (void)
{
  g_autoptr (GPtrArray) entries
      = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_xauth_entry_free);
  g_autoptr (GPtrArray) kept = NULL;
  const char *hostnames[] = { "myhost", NULL };
  CboxXauthMatch match = { .number = "4", .local_hostnames = hostnames };

  /* libXau: an entry without a number is good for every display of its
   * host; it is rewritten to name our display only. */
  g_ptr_array_add (entries, cbox_xauth_entry_new (CBOX_XAUTH_FAMILY_LOCAL, "myhost", 6, "",
                                                  "MIT-MAGIC-COOKIE-1", "any-display", 11));
  kept = cbox_xauth_filter (entries, &match);
  g_assert_cmpuint (kept->len, ==, 1);
  assert_entry (kept, 0, "4", "any-display");
}

/* ---- the plugin, against a fake root ------------------------------------ */

typedef struct
{
  char *root;
  char *home;
  CboxHost *host;
  int listener;
} Fixture;

static const CboxForwarderVTable *
x11_vtable (void)
{
  extern const CboxPluginDesc *cbox_plugin_describe (void);
  const CboxPluginDesc *desc = cbox_plugin_describe ();

  g_assert_cmpstr (desc->name, ==, "x11");
  g_assert_cmpint (desc->kind, ==, CBOX_PLUGIN_KIND_FORWARDER);
  return desc->forwarder;
}

static void
fixture_set_up (Fixture *fx, gconstpointer data)
{
  g_autofree char *x11_dir = NULL;
  g_autofree char *socket_path = NULL;

  fx->root = cbox_test_make_dir ("root");
  fx->home = g_build_filename (fx->root, "home", "me", NULL);
  g_assert_cmpint (g_mkdir_with_parents (fx->home, 0700), ==, 0);
  x11_dir = g_build_filename (fx->root, "tmp", ".X11-unix", NULL);
  g_assert_cmpint (g_mkdir_with_parents (x11_dir, 01777), ==, 0);

  /* A real listening socket for display 7, and a plain file for 8. */
  socket_path = g_build_filename (x11_dir, "X7", NULL);
  fx->listener = cbox_test_listen_unix (socket_path);
  cbox_test_write_file (fx->root, "tmp/.X11-unix/X8", "");

  fx->host = cbox_host_new ();
  cbox_host_set_root (fx->host, fx->root);
  cbox_host_set_user (fx->host, 1000, 1000, "me", "/home/me", "/bin/sh");
  cbox_host_set_hostname (fx->host, "myhost");
  cbox_host_set_environ (fx->host, (const char *const[]){ "DISPLAY=:7", NULL });
}

static void
fixture_tear_down (Fixture *fx, gconstpointer data)
{
  close (fx->listener);
  cbox_host_unref (fx->host);
  g_free (fx->home);
  g_free (fx->root);
}

static void
write_xauthority (Fixture *fx, const char *name)
{
  g_autoptr (GPtrArray) entries = sample_entries ();
  g_autoptr (GBytes) bytes = cbox_xauth_serialize (entries);
  g_autofree char *path = g_build_filename (fx->home, name, NULL);

  g_assert_true (g_file_set_contents (path, g_bytes_get_data (bytes, NULL),
                                      (gssize)g_bytes_get_size (bytes), NULL));
}

static CboxProbeStatus
run_probe (Fixture *fx, gboolean network, CboxProbeResult **ret_result)
{
  g_autoptr (CboxContext) ctx = cbox_context_new (fx->host, NULL, "x11");
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (GError) error = NULL;
  CboxProbeStatus status;

  cbox_context_set_network (ctx, network);
  g_assert_true (x11_vtable ()->probe (ctx, result, &error));
  g_assert_no_error (error);
  status = cbox_probe_result_get_status (result);
  g_test_message ("probe: %s: %s", cbox_probe_status_to_string (status),
                  cbox_probe_result_get_reason (result));
  if (ret_result != NULL)
    *ret_result = g_steal_pointer (&result);
  return status;
}

static void
test_plugin_no_display (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxProbeResult) result = NULL;

  cbox_host_set_environ (fx->host, (const char *const[]){ "DISPLAY=", NULL });
  g_assert_cmpint (run_probe (fx, FALSE, &result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "DISPLAY is not set"));
}

static void
test_plugin_bad_sockets (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxProbeResult) result = NULL;

  cbox_host_setenv (fx->host, "DISPLAY", ":9");
  g_assert_cmpint (run_probe (fx, FALSE, &result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (
      strstr (cbox_probe_result_get_reason (result), "no socket at /tmp/.X11-unix/X9"));
  g_clear_pointer (&result, cbox_probe_result_free);

  cbox_host_setenv (fx->host, "DISPLAY", ":8");
  g_assert_cmpint (run_probe (fx, FALSE, &result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "is not a socket"));
  g_clear_pointer (&result, cbox_probe_result_free);

  cbox_host_setenv (fx->host, "DISPLAY", "host::0");
  g_assert_cmpint (run_probe (fx, FALSE, &result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "DECnet"));
}

static void
test_plugin_tcp_needs_network (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxProbeResult) result = NULL;

  cbox_host_setenv (fx->host, "DISPLAY", "192.0.2.1:3");
  g_assert_cmpint (run_probe (fx, FALSE, &result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "needs the network on"));
  g_clear_pointer (&result, cbox_probe_result_free);

  /* With the network on it is usable (no Xauthority: degraded). */
  g_assert_cmpint (run_probe (fx, TRUE, &result), ==, CBOX_PROBE_DEGRADED);
  g_assert_cmpstr (cbox_probe_result_get_detail (result, "tcp-host"), ==, "192.0.2.1");
}

static void
test_plugin_tcp_loopback (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxContext) ctx = cbox_context_new (fx->host, NULL, "x11");
  g_autoptr (CboxContext) ctx2 = cbox_context_new (fx->host, NULL, "x11");
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxProbeResult) result2 = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();

  /* ssh -X: TCP to the host's loopback, with a FamilyLocal cookie of this
   * host for display 7 (libxcb uses those for loopback connections). */
  write_xauthority (fx, ".Xauthority");
  cbox_host_setenv (fx->host, "DISPLAY", "localhost:7.0");

  /* A backend whose network does not reach the host's loopback. */
  cbox_context_set_backend (ctx, "vm", CBOX_FEATURE_ALL & ~CBOX_FEATURE_HOST_NET);
  g_assert_true (x11_vtable ()->probe (ctx, result, &error));
  g_assert_cmpint (cbox_probe_result_get_status (result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "host's loopback"));

  /* A backend that can share the host's network, with the default
   * network (its own namespace): not reachable either. */
  {
    g_autoptr (CboxContext) ctx3 = cbox_context_new (fx->host, NULL, "x11");
    g_autoptr (CboxProbeResult) result3 = cbox_probe_result_new ();

    cbox_context_set_backend (ctx3, "ns", CBOX_FEATURE_ALL);
    cbox_context_set_network (ctx3, CBOX_NETWORK_OWN);
    g_assert_true (x11_vtable ()->probe (ctx3, result3, &error));
    g_assert_cmpint (cbox_probe_result_get_status (result3), ==, CBOX_PROBE_UNAVAILABLE);
    g_assert_nonnull (strstr (cbox_probe_result_get_reason (result3), "--network=host"));
  }

  cbox_context_set_backend (ctx2, "ns", CBOX_FEATURE_ALL);
  cbox_context_set_network (ctx2, CBOX_NETWORK_HOST);
  g_assert_true (x11_vtable ()->probe (ctx2, result2, &error));
  g_assert_cmpint (cbox_probe_result_get_status (result2), ==, CBOX_PROBE_AVAILABLE);
  cbox_plan_set_user (plan, 1000, 1000, "me", "/home/me");
  g_assert_true (x11_vtable ()->contribute (ctx2, plan, &error));
  g_assert_no_error (error);
  /* Nothing bound, DISPLAY as is. */
  g_assert_cmpstr (cbox_plan_get_env (plan, "DISPLAY"), ==, "localhost:7.0");
  g_assert_null (cbox_plan_find_mount (plan, "/tmp/.X11-unix/X7"));
  g_assert_nonnull (cbox_plan_find_mount (plan, "/run/user/1000/Xauthority"));
}

static void
test_plugin_no_xauthority (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxProbeResult) result = NULL;

  g_assert_cmpint (run_probe (fx, FALSE, &result), ==, CBOX_PROBE_DEGRADED);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "needs no authorization"));
}

static void
test_plugin_damaged_xauthority (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxProbeResult) result = NULL;
  g_autofree char *path = g_build_filename (fx->home, ".Xauthority", NULL);
  g_autofree char *fifo = g_build_filename (fx->home, "fifo", NULL);

  g_assert_true (g_file_set_contents (path, "\x01\x00\x00\x09short", 9, NULL));
  g_assert_cmpint (run_probe (fx, FALSE, &result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "is damaged"));
  g_clear_pointer (&result, cbox_probe_result_free);

  /* A relative XAUTHORITY names no file cbox can know. */
  cbox_host_setenv (fx->host, "XAUTHORITY", ".Xauthority");
  g_assert_cmpint (run_probe (fx, FALSE, &result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "not an absolute path"));
  g_clear_pointer (&result, cbox_probe_result_free);

  /* A FIFO named by XAUTHORITY must not hang the probe. */
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  cbox_host_setenv (fx->host, "XAUTHORITY", "/home/me/fifo");
  g_assert_cmpint (run_probe (fx, FALSE, &result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (result), "not a regular file"));
}

static GBytes *
read_memfd (int fd)
{
  struct stat st;
  g_autofree guint8 *buf = NULL;

  g_assert_cmpint (fstat (fd, &st), ==, 0);
  buf = g_malloc ((gsize)st.st_size + 1);
  g_assert_cmpint (pread (fd, buf, (gsize)st.st_size, 0), ==, st.st_size);
  return g_bytes_new_take (g_steal_pointer (&buf), (gsize)st.st_size);
}

static void
test_plugin_contribute_local (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = cbox_context_new (fx->host, NULL, "x11");
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) contents = NULL;
  g_autoptr (GPtrArray) inside = NULL;
  const CboxMount *mount;
  gboolean seen_tmpfs = FALSE;

  /* XAUTHORITY points at a file of another name, holding all sorts. */
  write_xauthority (fx, "auth file");
  cbox_host_setenv (fx->host, "XAUTHORITY", "/home/me/auth file");
  cbox_host_setenv (fx->host, "DISPLAY", "unix:7.0");
  cbox_plan_set_user (plan, 1000, 1000, "me", "/home/me");

  g_assert_true (x11_vtable ()->probe (ctx, result, &error));
  g_assert_cmpint (cbox_probe_result_get_status (result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_cmpstr (cbox_probe_result_get_detail (result, "xauthority-entries"), ==, "2");
  g_assert_true (x11_vtable ()->contribute (ctx, plan, &error));
  g_assert_no_error (error);

  g_assert_cmpstr (cbox_plan_get_env (plan, "DISPLAY"), ==, ":7.0");
  g_assert_cmpstr (cbox_plan_get_env (plan, "XAUTHORITY"), ==, "/run/user/1000/Xauthority");

  for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
    {
      mount = cbox_plan_get_mount (plan, i);
      /* Nothing of the host's Xauthority is bound, and no other socket. */
      g_assert_true (mount->src == NULL || strstr (mount->src, "auth") == NULL);
      if (mount->kind == CBOX_MOUNT_TMPFS && g_str_equal (mount->dest, "/tmp/.X11-unix"))
        seen_tmpfs = TRUE;
      if (mount->kind == CBOX_MOUNT_SOCKET)
        {
          /* After the tmpfs, or the tmpfs would hide it. */
          g_assert_true (seen_tmpfs);
          g_assert_cmpstr (mount->src, ==, "/tmp/.X11-unix/X7");
          g_assert_cmpstr (mount->dest, ==, "/tmp/.X11-unix/X7");
        }
    }
  g_assert_true (seen_tmpfs);

  mount = cbox_plan_find_mount (plan, "/run/user/1000/Xauthority");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DATA);
  g_assert_cmpuint (mount->mode, ==, 0600);
  contents = read_memfd (mount->fd);
  inside
      = cbox_xauth_parse (g_bytes_get_data (contents, NULL), g_bytes_get_size (contents), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (inside->len, ==, 2);
  assert_entry (inside, 0, "7", "cookie-7-local");
  assert_entry (inside, 1, "7", "cookie-7-wild");
}

static void
test_plugin_contribute_without_probe (Fixture *fx, gconstpointer data)
{
  g_autoptr (CboxContext) ctx = cbox_context_new (fx->host, NULL, "x11");
  g_autoptr (CboxPlan) plan = cbox_plan_new ();
  g_autoptr (GError) error = NULL;

  /* ~/.Xauthority is the default; a missing socket is an error naming it. */
  write_xauthority (fx, ".Xauthority");
  cbox_plan_set_user (plan, 1000, 1000, "me", "/home/me");
  g_assert_true (x11_vtable ()->contribute (ctx, plan, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (cbox_plan_get_env (plan, "XAUTHORITY"), ==, "/run/user/1000/Xauthority");

  g_clear_pointer (&plan, cbox_plan_free);
  g_clear_pointer (&ctx, cbox_context_free);
  plan = cbox_plan_new ();
  ctx = cbox_context_new (fx->host, NULL, "x11");
  cbox_host_setenv (fx->host, "DISPLAY", ":9");
  g_assert_false (x11_vtable ()->contribute (ctx, plan, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
  g_assert_true (g_str_has_prefix (error->message, "x11: no socket at /tmp/.X11-unix/X9"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/x11/display/parse", test_display_parse);
  g_test_add_func ("/x11/display/invalid", test_display_invalid);
  g_test_add_func ("/x11/xauth/roundtrip", test_xauth_roundtrip);
  g_test_add_func ("/x11/xauth/truncated", test_xauth_truncated);
  g_test_add_func ("/x11/xauth/malicious", test_xauth_malicious);
  g_test_add_func ("/x11/xauth/filter-local", test_xauth_filter_local);
  g_test_add_func ("/x11/xauth/filter-tcp", test_xauth_filter_tcp);
  g_test_add_func ("/x11/xauth/filter-empty-number", test_xauth_filter_empty_number);
#define ADD(path, func)                                                                            \
  g_test_add ("/x11/plugin/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("no-display", test_plugin_no_display);
  ADD ("bad-sockets", test_plugin_bad_sockets);
  ADD ("tcp-needs-network", test_plugin_tcp_needs_network);
  ADD ("tcp-loopback", test_plugin_tcp_loopback);
  ADD ("no-xauthority", test_plugin_no_xauthority);
  ADD ("damaged-xauthority", test_plugin_damaged_xauthority);
  ADD ("contribute-local", test_plugin_contribute_local);
  ADD ("contribute-without-probe", test_plugin_contribute_without_probe);
#undef ADD
  return g_test_run ();
}

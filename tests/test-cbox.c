/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The built cbox, driven as a user would: every command answers, every
 * --json parses, cbox's own errors exit 125 with a message, and a run with
 * the test backend returns the command's status. */

#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "cbox-test-util.h"

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static JsonObject *
parse_json (const char *text, JsonParser *parser)
{
  g_autoptr (GError) error = NULL;

  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  return json_node_get_object (json_parser_get_root (parser));
}

static void
test_version_and_help (void)
{
  g_auto (CboxTestResult) result = { 0 };
  const char *topics[] = { "run", "plan", "doctor", "plugins", "version", "help", "profiles" };

  cbox_test_runv (&result, "version", NULL);
  cbox_test_assert_status (&result, 0);
  g_assert_true (g_str_has_prefix (result.out, "cbox " PACKAGE_VERSION));
  cbox_test_runv (&result, "--help", NULL);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "Usage: cbox"));
  for (gsize i = 0; i < G_N_ELEMENTS (topics); i++)
    {
      cbox_test_runv (&result, "help", topics[i], NULL);
      cbox_test_assert_status (&result, 0);
      if (!g_str_equal (topics[i], "profiles"))
        {
          cbox_test_runv (&result, topics[i], "--help", NULL);
          cbox_test_assert_status (&result, 0);
        }
    }
  cbox_test_runv (&result, "help", "profiles", NULL);
  g_assert_nonnull (strstr (result.out, "claude"));
  cbox_test_runv (&result, "help", "bogus", NULL);
  cbox_test_assert_status (&result, 125);
}

static void
test_plugins_json (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root;
  JsonArray *plugins;
  gboolean found_test = FALSE;

  cbox_test_runv (&result, "plugins", "--json", NULL);
  cbox_test_assert_status (&result, 0);
  root = parse_json (result.out, parser);
  g_assert_cmpstr (json_object_get_string_member (root, "schema"), ==, "cbox-plugins");
  plugins = json_object_get_array_member (root, "plugins");
  for (guint i = 0; i < json_array_get_length (plugins); i++)
    {
      JsonObject *plugin = json_array_get_object_element (plugins, i);
      if (g_str_equal (json_object_get_string_member (plugin, "name"), "test"))
        {
          found_test = TRUE;
          g_assert_true (json_object_get_boolean_member (plugin, "accepted"));
          g_assert_cmpstr (json_object_get_string_member (plugin, "kind"), ==, "backend");
        }
    }
  g_assert_true (found_test);
  cbox_test_runv (&result, "plugins", NULL);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "test "));
}

static void
test_doctor_json (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root;

  cbox_test_runv (&result, "--backend=test", "doctor", "--json", NULL);
  cbox_test_assert_status (&result, 0);
  root = parse_json (result.out, parser);
  g_assert_cmpstr (json_object_get_string_member (root, "schema"), ==, "cbox-doctor");
  g_assert_true (json_object_has_member (root, "host"));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (root, "plugins")), >, 0);
  cbox_test_runv (&result, "doctor", NULL);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "Backends:"));
}

static void
test_plan_json (void)
{
  g_autofree char *project = cbox_test_make_dir ("project with space");
  g_autofree char *real = realpath (project, NULL);
  g_autofree char *project_arg = g_strconcat ("--project=", project, NULL);
  g_auto (CboxTestResult) result = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root;
  JsonArray *mounts;
  JsonObject *last;

  cbox_test_run (ARGS ("--backend=test", "plan", "--json", project_arg, "--", "echo", "hi"), NULL,
                 NULL, NULL, &result);
  cbox_test_assert_status (&result, 0);
  root = parse_json (result.out, parser);
  g_assert_cmpstr (json_object_get_string_member (root, "schema"), ==, "cbox-plan");
  g_assert_cmpint (json_object_get_int_member (root, "version"), ==, 1);
  g_assert_cmpstr (
      json_object_get_string_member (json_object_get_object_member (root, "backend"), "name"), ==,
      "test");
  g_assert_cmpstr (json_object_get_string_member (root, "cwd"), ==, real);
  mounts = json_object_get_array_member (root, "mounts");
  last = json_array_get_object_element (mounts, json_array_get_length (mounts) - 1);
  g_assert_cmpstr (json_object_get_string_member (last, "dest"), ==, real);
  g_assert_cmpstr (json_object_get_string_member (last, "kind"), ==, "rw");
  g_assert_cmpstr (
      json_array_get_string_element (json_object_get_array_member (root, "command"), 1), ==, "hi");

  /* Text and --print-command too. */
  cbox_test_run (ARGS ("--backend=test", "plan", project_arg), NULL, NULL, NULL, &result);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "[core]"));
  cbox_test_run (ARGS ("--backend=test", "plan", "--print-command", "--", "echo", "a b"), NULL,
                 NULL, NULL, &result);
  cbox_test_assert_status (&result, 0);
  g_assert_cmpstr (result.out, ==, "cbox-test-backend -- echo 'a b'\n");
}

static void
test_plan_weird_project (void)
{
  g_autofree char *project = cbox_test_make_dir ("we'ird\n\"na\xffme\"");
  g_autofree char *real = realpath (project, NULL);
  g_autofree char *project_arg = g_strconcat ("--project=", project, NULL);
  g_auto (CboxTestResult) result = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree guchar *decoded = NULL;
  gsize len;
  JsonObject *root;

  cbox_test_run (ARGS ("--backend=test", "plan", "--json", project_arg), NULL, NULL, NULL, &result);
  cbox_test_assert_status (&result, 0);
  root = parse_json (result.out, parser);
  decoded = g_base64_decode (json_object_get_string_member (root, "cwd_base64"), &len);
  g_assert_cmpmem (decoded, len, real, strlen (real));
}

/* `cbox plan` and `cbox doctor` look and create nothing on disk: no plugin
 * cache, no state folder, no folder a profile asks run to make; a home that
 * does not exist stays that way. `cbox run` does write the cache with the
 * same environment, which shows the check can fail. */
static void
test_plan_doctor_create_nothing (void)
{
  g_autofree char *top = cbox_test_make_dir ("nothing");
  g_autofree char *home = g_build_filename (top, "home", NULL);
  g_autofree char *home_env = g_strconcat ("HOME=", home, NULL);
  g_autofree char *cache = g_build_filename (home, ".cache", "cbox", "plugins.cache", NULL);
  g_autofree char *project = cbox_test_make_dir ("nothing-project");
  g_autofree char *project_arg = g_strconcat ("--project=", project, NULL);
  g_auto (GStrv) env
      = cbox_test_environ (ARGS (home_env, "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"));
  const char *const *commands[] = {
    ARGS ("plan", project_arg, "--", "true"),
    ARGS ("plan", "--json", project_arg, "--", "true"),
    ARGS ("--profile=claude", "plan", project_arg),
    ARGS ("--backend=test", "plan", project_arg, "--", "true"),
    ARGS ("doctor"),
    ARGS ("doctor", "--json"),
  };

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_auto (CboxTestResult) result = { 0 };
      g_autoptr (GDir) dir = NULL;

      cbox_test_run (commands[i], project, (const char *const *)env, NULL, &result);
      g_assert_true (result.status == 0 || result.status == 125);
      g_assert_false (g_file_test (home, G_FILE_TEST_EXISTS));
      dir = g_dir_open (top, 0, NULL);
      g_assert_nonnull (dir);
      g_assert_null (g_dir_read_name (dir));
      dir = g_dir_open (project, 0, NULL);
      g_assert_null (g_dir_read_name (dir));
    }

  /* The same environment, a run: the cache is written. */
  g_assert_cmpint (g_mkdir (home, 0700), ==, 0);
  {
    g_auto (CboxTestResult) result = { 0 };
    cbox_test_run (ARGS ("--backend=test", "run", project_arg, "--", "true"), project,
                   (const char *const *)env, NULL, &result);
    cbox_test_assert_status (&result, 0);
    g_assert_true (g_file_test (cache, G_FILE_TEST_IS_REGULAR));
  }
}

static void
test_run_test_backend (void)
{
  g_autofree char *dir = cbox_test_make_dir ("out");
  g_autofree char *output = g_build_filename (dir, "plan.json", NULL);
  g_autofree char *out_env = g_strconcat ("CBOX_TEST_OUTPUT=", output, NULL);
  g_auto (GStrv) env = cbox_test_environ (ARGS (out_env, "CBOX_SECRET=leak"));
  g_auto (CboxTestResult) result = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *root;
  JsonArray *environment;

  cbox_test_run (ARGS ("--backend=test", "run", "--env=CBOX_SECRET_NOT_SET", "--", "true"), NULL,
                 (const char *const *)env, NULL, &result);
  cbox_test_assert_status (&result, 0);
  json_parser_load_from_file (parser, output, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  environment = json_object_get_array_member (root, "environment");
  for (guint i = 0; i < json_array_get_length (environment); i++)
    g_assert_cmpstr (
        json_object_get_string_member (json_array_get_object_element (environment, i), "name"), !=,
        "CBOX_SECRET");

  cbox_test_run (ARGS ("--backend=test", "--set=test.exit-status=42", "run", "--", "true"), NULL,
                 (const char *const *)env, NULL, &result);
  cbox_test_assert_status (&result, 42);
}

/* A backend that starts its tool itself is listed by `cbox ps` once it
 * announces the start (the qemu backend does), and only then: the test
 * backend runs `cbox ps --json` from inside its run. */
static void
test_run_announced (void)
{
  g_autofree char *dir = cbox_test_make_dir ("announce");
  g_autofree char *ps_file = g_build_filename (dir, "ps.json", NULL);
  g_autofree char *ps_arg = g_strconcat ("--set=test.ps-output=", ps_file, NULL);
  g_autofree char *plan_file = g_build_filename (dir, "plan.json", NULL);
  g_autofree char *out_env = g_strconcat ("CBOX_TEST_OUTPUT=", plan_file, NULL);
  g_auto (GStrv) env = cbox_test_environ (ARGS (out_env));
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *contents = NULL;

  cbox_test_run (ARGS ("--backend=test", "--set=test.announce=true", ps_arg, "run", "--", "true"),
                 dir, (const char *const *)env, NULL, &result);
  cbox_test_assert_status (&result, 0);
  g_assert_true (g_file_get_contents (ps_file, &contents, NULL, NULL));
  g_assert_nonnull (strstr (contents, "\"backend\": \"test\""));
  g_assert_nonnull (strstr (contents, "\"command\": [\"true\"]"));
  g_clear_pointer (&contents, g_free);

  cbox_test_run (ARGS ("--backend=test", ps_arg, "run", "--", "true"), dir,
                 (const char *const *)env, NULL, &result);
  cbox_test_assert_status (&result, 0);
  g_assert_true (g_file_get_contents (ps_file, &contents, NULL, NULL));
  g_assert_null (strstr (contents, "\"backend\""));

  /* Nothing is left once the run is over. */
  cbox_test_run (ARGS ("ps", "--json"), dir, (const char *const *)env, NULL, &result);
  cbox_test_assert_status (&result, 0);
  g_assert_null (strstr (result.out, "\"backend\""));
}

static void
test_exit_125 (void)
{
  g_autofree char *dir = cbox_test_make_dir ("conf");
  g_autofree char *bad_conf = g_build_filename (dir, "bad.conf", NULL);
  g_autofree char *config_arg = g_strconcat ("--config=", bad_conf, NULL);
  g_autofree char *expected = g_strconcat (bad_conf, ":3: key 'frobnicate'", NULL);
  g_auto (CboxTestResult) result = { 0 };
  const char *const *cases[] = {
    ((const char *const[]){ NULL }),
    ARGS ("--bogus", "run"),
    ARGS ("--network=maybe", "run"),
    ARGS ("run", "--bind=/nonexistent/path"),
    ARGS ("--backend=test", "run", "--project=/nonexistent"),
    ARGS ("--backend=nosuch", "run"),
    ARGS ("--backend=test", "--forward=nosuch", "plan"),
    ARGS ("--backend=test", "--profile=nosuch", "plan"),
    ARGS ("--backend=test", "--set=test.available=false", "run", "--", "true"),
    ARGS ("--backend=test", "--set=test.fail-run=true", "run", "--", "true"),
    ARGS ("--backend=test", "--config=/nonexistent.conf", "plan"),
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      cbox_test_run (cases[i], NULL, NULL, NULL, &result);
      cbox_test_assert_status (&result, 125);
      g_assert_true (g_str_has_prefix (result.err, "cbox: ")
                     || strstr (result.err, "\ncbox: ") != NULL);
    }

  g_assert_true (g_file_set_contents (bad_conf, "[cbox]\nbackend=test\nfrobnicate=1\n", -1, NULL));
  cbox_test_run (ARGS (config_arg, "plan"), NULL, NULL, NULL, &result);
  cbox_test_assert_status (&result, 125);
  g_assert_nonnull (strstr (result.err, expected));

  /* --copy of a folder: refused, and the message says what to use instead. */
  {
    g_autofree char *copy_arg = g_strconcat ("--copy=", dir, NULL);
    g_autofree char *hint = g_strconcat ("for a folder use --ro-bind=", dir, NULL);

    cbox_test_run (ARGS ("--backend=test", "--forward=none", "plan", copy_arg, "--", "true"), NULL,
                   NULL, NULL, &result);
    cbox_test_assert_status (&result, 125);
    g_assert_nonnull (strstr (result.err, "is not a regular file"));
    g_assert_nonnull (strstr (result.err, hint));
  }
}

/* cbox loads the locale only when it prints (cbox_cli_defer_locale()): a
 * message is still converted to the terminal's character set, UTF-8 kept
 * under a UTF-8 locale (without the locale, GLib would print '?' for it)
 * and replaced under "C". */
static void
test_message_charset (void)
{
  g_auto (GStrv) utf8_env = cbox_test_environ (ARGS ("LC_ALL=C.UTF-8"));
  g_auto (GStrv) c_env = cbox_test_environ (ARGS ("LC_ALL=C"));
  g_auto (CboxTestResult) result = { 0 };
  const char *const *args = ARGS (
      "--backend=test", "--set=test.fail-message=caf\xc3\xa9 ferm\xc3\xa9", "run", "--", "true");

  cbox_test_run (args, NULL, (const char *const *)utf8_env, NULL, &result);
  cbox_test_assert_status (&result, 125);
  g_assert_nonnull (strstr (result.err, "caf\xc3\xa9 ferm\xc3\xa9"));

  cbox_test_run (args, NULL, (const char *const *)c_env, NULL, &result);
  cbox_test_assert_status (&result, 125);
  g_assert_nonnull (strstr (result.err, "caf? ferm?"));
  g_assert_null (strstr (result.err, "\xc3"));
}

/* With the real bwrap backend: what the command line asks for is what the
 * command gets, and nothing else. */
static gboolean
have_bwrap_backend (void)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *bwrap = cbox_test_require_program ("bwrap");

  if (bwrap == NULL)
    return FALSE;
  cbox_test_runv (&result, "--backend=bwrap", "doctor", NULL);
  if (strstr (result.out, "bwrap      available") == NULL)
    {
      cbox_test_skip_or_fail ("the bwrap backend is not built or not usable here (cbox doctor)");
      return FALSE;
    }
  return TRUE;
}

static void
test_bwrap_bind_copy_env (void)
{
  g_autofree char *project = cbox_test_make_dir ("project");
  g_autofree char *data = cbox_test_make_dir ("da:ta with space");
  g_autofree char *ro_file = g_build_filename (data, "ro.txt", NULL);
  g_autofree char *copy_file = g_build_filename (data, "seed.json", NULL);
  g_autoptr (GString) escaped = g_string_new (NULL);
  g_autofree char *ro_arg = NULL;
  g_autofree char *copy_arg = NULL;
  g_autofree char *contents = NULL;
  g_auto (GStrv) env = cbox_test_environ (ARGS ("CBOX_SECRET=leaked", "CBOX_PASSED=passed"));
  g_auto (CboxTestResult) result = { 0 };
  const char *script
      = "set -u\n"
        "cat /inside/ro.txt\n"
        "if echo x > /inside/ro.txt 2>/dev/null; then echo ro-writable; fi\n"
        "cat /tmp/seed.json && echo changed > /tmp/seed.json && cat /tmp/seed.json\n"
        "echo \"passed=${CBOX_PASSED-unset} set=${CBOX_SET-unset} secret=${CBOX_SECRET-unset}\"\n"
        "pwd\n";

  if (!have_bwrap_backend ())
    return;
  g_assert_true (g_file_set_contents (ro_file, "read-only\n", -1, NULL));
  g_assert_true (g_file_set_contents (copy_file, "seed\n", -1, NULL));
  for (const char *p = data; *p != '\0'; p++)
    {
      if (*p == ':' || *p == '\\')
        g_string_append_c (escaped, '\\');
      g_string_append_c (escaped, *p);
    }
  ro_arg = g_strdup_printf ("--ro-bind=%s:/inside", escaped->str);
  {
    g_autoptr (GString) escaped_copy = g_string_new (NULL);
    for (const char *p = copy_file; *p != '\0'; p++)
      {
        if (*p == ':' || *p == '\\')
          g_string_append_c (escaped_copy, '\\');
        g_string_append_c (escaped_copy, *p);
      }
    copy_arg = g_strdup_printf ("--copy=%s:/tmp/seed.json", escaped_copy->str);
  }

  cbox_test_run (ARGS ("--backend=bwrap", "--forward=none", "run", ro_arg, copy_arg,
                       "--env=CBOX_PASSED", "--env=CBOX_SET=v", "--", "sh", "-c", script),
                 project, (const char *const *)env, NULL, &result);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.out, "read-only\n"));
  g_assert_null (strstr (result.out, "ro-writable"));
  g_assert_nonnull (strstr (result.out, "seed\nchanged\n"));
  g_assert_nonnull (strstr (result.out, "passed=passed set=v secret=unset\n"));
  {
    g_autofree char *real = realpath (project, NULL);
    g_autofree char *pwd_line = g_strconcat (real, "\n", NULL);
    g_assert_nonnull (strstr (result.out, pwd_line));
  }
  /* The copy's changes stayed inside. */
  g_assert_true (g_file_get_contents (copy_file, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "seed\n");

  /* The command's own status comes back. */
  cbox_test_run (ARGS ("--backend=bwrap", "--forward=none", "run", "--", "sh", "-c", "exit 7"),
                 project, (const char *const *)env, NULL, &result);
  cbox_test_assert_status (&result, 7);
}

/* cbox-exec --init --status-fd FD: once the command has ended, one line
 * with its status on FD (the bwrap backend learns from it that the command
 * has ended before bwrap does), and the command itself never has FD. */
static void
test_exec_status_fd (void)
{
  const char *dir = g_getenv ("CBOX_LIBEXEC_DIR");
  g_autofree char *exec_path = NULL;
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  char buf[256];
  ssize_t n;
  int fds[2];

  g_assert_nonnull (dir);
  exec_path = g_build_filename (dir, "cbox-exec", NULL);
  g_assert_cmpint (pipe2 (fds, O_CLOEXEC), ==, 0);
  g_subprocess_launcher_take_fd (launcher, fds[1], 7);
  proc
      = g_subprocess_launcher_spawn (launcher, &error, exec_path, "--init", "--status-fd", "7",
                                     "--", "sh", "-c", "test ! -e /proc/self/fd/7 && exit 3", NULL);
  g_assert_no_error (error);
  g_clear_object (&launcher);
  g_assert_true (g_subprocess_wait (proc, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (proc));
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 3);
  n = read (fds[0], buf, sizeof buf - 1);
  g_assert_cmpint (n, >, 0);
  buf[n] = '\0';
  g_assert_cmpstr (buf, ==, "{ \"cbox-exec-status\": 3 }\n");
  close (fds[0]);
}

/* Runs `cbox-exec --init --args-fd 7` with @blob on fd 7; its exit status. */
static int
run_exec_with_args (const char *blob, gsize len)
{
  const char *dir = g_getenv ("CBOX_LIBEXEC_DIR");
  g_autofree char *exec_path = g_build_filename (dir, "cbox-exec", NULL);
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  int fds[2];

  g_assert_cmpint (pipe2 (fds, O_CLOEXEC), ==, 0);
  g_assert_cmpint (write (fds[1], blob, len), ==, (gssize)len);
  close (fds[1]);
  g_subprocess_launcher_take_fd (launcher, fds[0], 7);
  proc
      = g_subprocess_launcher_spawn (launcher, &error, exec_path, "--init", "--args-fd", "7", NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_wait (proc, NULL, &error));
  g_assert_true (g_subprocess_get_if_exited (proc));
  return g_subprocess_get_exit_status (proc);
}

/* cbox-exec --args-fd: the word count comes first, so a command cut short
 * (its writer died: the bwrap backend writes it through a socket while
 * cbox-exec reads) is refused with 125, never run as a shorter one. */
static void
test_exec_args_fd_count (void)
{
  g_autofree char *dir = cbox_test_make_dir ("exec-args");
  g_autofree char *mark = g_build_filename (dir, "ran", NULL);
  g_autofree char *script = g_strdup_printf ("touch '%s'", mark);
  g_autoptr (GString) whole = g_string_new (NULL);
  g_autoptr (GString) cut = NULL;

  g_string_append_len (whole, "4\0sh\0-c\0", 8);
  cut = g_string_new_len (whole->str, (gssize)whole->len);
  g_string_append_len (whole, script, (gssize)strlen (script) + 1);
  g_string_append_len (whole, "x", 2);

  /* The word "touch ..." missing: "sh -c" would run an empty script. */
  g_assert_cmpint (run_exec_with_args (cut->str, cut->len), ==, 125);
  g_assert_false (g_file_test (mark, G_FILE_TEST_EXISTS));
  g_assert_cmpint (run_exec_with_args ("", 0), ==, 125);
  g_assert_cmpint (run_exec_with_args (whole->str, whole->len), ==, 0);
  g_assert_true (g_file_test (mark, G_FILE_TEST_EXISTS));
}

/* The backend's prestart runs for `cbox run` only, and one that fails
 * leaves the run to start the tool as usual. */
static void
test_prestart (void)
{
  g_auto (CboxTestResult) result = { 0 };

  cbox_test_runv (&result, "--backend=test", "--verbose", "run", "--", "true", NULL);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.err, "backend test: started early"));

  cbox_test_result_clear (&result);
  cbox_test_runv (&result, "--backend=test", "--verbose", "--set=test.fail-prestart=true", "run",
                  "--", "true", NULL);
  cbox_test_assert_status (&result, 0);
  g_assert_nonnull (strstr (result.err, "backend test: not started early: test: prestart failed"));

  cbox_test_result_clear (&result);
  cbox_test_runv (&result, "--backend=test", "--verbose", "plan", "--", "true", NULL);
  cbox_test_assert_status (&result, 0);
  g_assert_null (strstr (result.err, "started early"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/core/cbox/version-and-help", test_version_and_help);
  g_test_add_func ("/core/cbox/plugins-json", test_plugins_json);
  g_test_add_func ("/core/cbox/doctor-json", test_doctor_json);
  g_test_add_func ("/core/cbox/plan-json", test_plan_json);
  g_test_add_func ("/core/cbox/plan-weird-project", test_plan_weird_project);
  g_test_add_func ("/core/cbox/run-test-backend", test_run_test_backend);
  g_test_add_func ("/core/cbox/plan-doctor-create-nothing", test_plan_doctor_create_nothing);
  g_test_add_func ("/core/cbox/run-announced", test_run_announced);
  g_test_add_func ("/core/cbox/exit-125", test_exit_125);
  g_test_add_func ("/core/cbox/message-charset", test_message_charset);
  g_test_add_func ("/core/cbox/prestart", test_prestart);
  g_test_add_func ("/core/cbox/bwrap/bind-copy-env", test_bwrap_bind_copy_env);
  g_test_add_func ("/core/cbox-exec/status-fd", test_exec_status_fd);
  g_test_add_func ("/core/cbox-exec/args-fd-count", test_exec_args_fd_count);
  return g_test_run ();
}

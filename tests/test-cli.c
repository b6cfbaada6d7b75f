/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Command-line parsing, and the request it makes with the configuration:
 * every bad input is refused with a message; paths with spaces, quotes,
 * newlines and non-UTF-8 bytes arrive byte for byte. */

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "cbox-cli.h"
#include "cbox-test-util.h"

static gboolean
parse (const char *const *args, CboxCliOptions **ret_options, GError **error)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();

  g_ptr_array_add (argv, (gpointer) "cbox");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer)args[i]);
  g_ptr_array_add (argv, NULL);
  return cbox_cli_parse ((int)argv->len - 1, (char **)argv->pdata, ret_options, error);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
assert_bad (const char *const *args, const char *fragment)
{
  g_autoptr (CboxCliOptions) options = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *joined = g_strjoinv (" ", (char **)args);

  if (parse (args, &options, &error))
    g_error ("'%s' was accepted", joined);
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
  g_test_message ("%s -> %s", joined, error->message);
  if (strstr (error->message, fragment) == NULL)
    g_error ("'%s': expected '%s' in '%s'", joined, fragment, error->message);
}

static void
test_bad_inputs (void)
{
  assert_bad (ARGS ("--bogus", "run"), "Unknown option '--bogus' (see 'cbox help')");
  assert_bad (ARGS ("--netwrk=off", "run"), "did you mean --network?");
  assert_bad (ARGS ("run", "--forwad", "x11"), "did you mean --forward?");
  assert_bad (ARGS ("ls"), "cbox run -- ls");
  assert_bad (ARGS ("run", "-x"), "Unknown option '-x'");
  assert_bad (ARGS ("run", "-vh"), "Unknown option '-vh'");
  assert_bad (ARGS ("bogus"), "Unknown command 'bogus'");
  assert_bad (ARGS ("--network=maybe", "run"), "--network: 'maybe'");
  assert_bad (ARGS ("run", "--network", "sometimes"), "--network");
  assert_bad (ARGS ("run", "--network"), "--network needs a value");
  assert_bad (ARGS ("run", "--bind="), "--bind");
  assert_bad (ARGS ("run", "--bind=:/dest"), "no source path");
  assert_bad (ARGS ("run", "--ro-bind=/src:"), "empty destination");
  assert_bad (ARGS ("run", "--copy"), "--copy needs a value");
  assert_bad (ARGS ("run", "--env="), "--env");
  assert_bad (ARGS ("run", "--env==x"), "--env");
  assert_bad (ARGS ("run", "--env=1A"), "--env");
  assert_bad (ARGS ("run", "--env=A-B=1"), "--env");
  assert_bad (ARGS ("run", "--forward=X11"), "--forward");
  assert_bad (ARGS ("run", "--forward=x11,,gpu"), "--forward");
  assert_bad (ARGS ("run", "--no-forward=a/b"), "--no-forward");
  assert_bad (ARGS ("run", "--backend=../evil"), "--backend");
  assert_bad (ARGS ("run", "--profile=../x"), "--profile");
  assert_bad (ARGS ("run", "--project="), "--project");
  assert_bad (ARGS ("run", "--config="), "--config");
  assert_bad (ARGS ("run", "--accel=hvf"), "--accel");
  assert_bad (ARGS ("run", "--memory=4X"), "--memory");
  assert_bad (ARGS ("run", "--memory=0"), "--memory");
  assert_bad (ARGS ("run", "--cpus=0"), "--cpus");
  assert_bad (ARGS ("run", "--cpus=two"), "--cpus");
  assert_bad (ARGS ("run", "--set=novalue"), "--set");
  assert_bad (ARGS ("run", "--set=x11.=v"), "--set");
  assert_bad (ARGS ("run", "--set=.k=v"), "--set");
  assert_bad (ARGS ("run", "--set=X!.k=v"), "--set");
  assert_bad (ARGS ("run", "--shell=yes"), "takes no value");
  assert_bad (ARGS ("run", "--json"), "--json is for");
  assert_bad (ARGS ("doctor", "--print-command"), "--print-command is for");
  assert_bad (ARGS ("doctor", "extra"), "Unexpected argument 'extra'");
  assert_bad (ARGS ("plugins", "--", "x"), "after '--'");
  assert_bad (ARGS ("--", "ls"), "after '--'");
  assert_bad (ARGS ("run", "--shell", "--", "ls"), "--shell");
  /* A bad byte is shown escaped, not raw. */
  assert_bad (ARGS ("--bo\ngus\xff"), "Unknown option '--bo\\ngus\\377'");
}

static void
test_options_anywhere (void)
{
  g_autoptr (CboxCliOptions) before = NULL;
  g_autoptr (CboxCliOptions) after = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (parse (ARGS ("--forward=gpu,audio", "--network=off", "run", "--", "make", "-j"),
                        &before, &error));
  g_assert_no_error (error);
  g_assert_true (
      parse (ARGS ("run", "--forward", "gpu,audio", "--network", "off", "--", "make", "-j"), &after,
             &error));
  g_assert_no_error (error);

  for (guint k = 0; k < 2; k++)
    {
      CboxCliOptions *options = k == 0 ? before : after;
      CboxForwardOp *op;
      CboxCliSetting *setting;

      g_assert_cmpint (options->command, ==, CBOX_CLI_COMMAND_RUN);
      g_assert_cmpstrv (options->command_argv, ARGS ("make", "-j"));
      g_assert_cmpuint (options->cli->forward_ops->len, ==, 2);
      op = g_ptr_array_index (options->cli->forward_ops, 0);
      g_assert_cmpint (op->kind, ==, CBOX_FORWARD_OP_ADD);
      g_assert_cmpstr (op->name, ==, "gpu");
      g_assert_true (op->requested);
      op = g_ptr_array_index (options->cli->forward_ops, 1);
      g_assert_cmpstr (op->name, ==, "audio");
      g_assert_cmpuint (options->settings->len, ==, 1);
      setting = g_ptr_array_index (options->settings, 0);
      g_assert_cmpstr (setting->group, ==, "cbox");
      g_assert_cmpstr (setting->key, ==, "network");
      g_assert_cmpstr (setting->value, ==, "off");
    }
}

static void
test_command_words (void)
{
  g_autoptr (GError) error = NULL;

  {
    /* The first word that is not an option starts the command, and what
     * follows is the command's own, options included. */
    g_autoptr (CboxCliOptions) options = NULL;
    g_assert_true (parse (ARGS ("run", "-v", "ls", "-la", "--bogus", "--"), &options, &error));
    g_assert_true (options->verbose);
    g_assert_cmpstrv (options->command_argv, ARGS ("ls", "-la", "--bogus", "--"));
  }
  {
    g_autoptr (CboxCliOptions) options = NULL;
    g_assert_true (parse (ARGS ("plan", "--json", "--", "--weird", ""), &options, &error));
    g_assert_cmpint (options->command, ==, CBOX_CLI_COMMAND_PLAN);
    g_assert_true (options->json);
    g_assert_cmpstrv (options->command_argv, ARGS ("--weird", ""));
  }
  {
    g_autoptr (CboxCliOptions) options = NULL;
    g_assert_true (parse (ARGS ("run"), &options, &error));
    g_assert_null (options->command_argv);
  }
  {
    g_autoptr (CboxCliOptions) options = NULL;
    g_assert_true (parse (ARGS ("help", "plan"), &options, &error));
    g_assert_cmpint (options->command, ==, CBOX_CLI_COMMAND_HELP);
    g_assert_cmpstr (options->help_topic, ==, "plan");
  }
  {
    g_autoptr (CboxCliOptions) options = NULL;
    g_assert_true (parse (ARGS ("doctor", "--help"), &options, &error));
    g_assert_true (options->help);
    g_assert_cmpint (options->command, ==, CBOX_CLI_COMMAND_DOCTOR);
  }
  {
    g_autoptr (CboxCliOptions) options = NULL;
    g_assert_true (parse (ARGS ("--version"), &options, &error));
    g_assert_cmpint (options->command, ==, CBOX_CLI_COMMAND_VERSION);
  }
  {
    g_autoptr (CboxCliOptions) options = NULL;
    g_assert_true (
        parse (ARGS ("run", "--forward=none,x11", "--no-forward=display"), &options, &error));
    g_assert_cmpuint (options->cli->forward_ops->len, ==, 3);
    g_assert_cmpint (((CboxForwardOp *)g_ptr_array_index (options->cli->forward_ops, 0))->kind, ==,
                     CBOX_FORWARD_OP_CLEAR);
    g_assert_cmpint (((CboxForwardOp *)g_ptr_array_index (options->cli->forward_ops, 1))->kind, ==,
                     CBOX_FORWARD_OP_ADD);
    g_assert_cmpint (((CboxForwardOp *)g_ptr_array_index (options->cli->forward_ops, 2))->kind, ==,
                     CBOX_FORWARD_OP_REMOVE);
  }
  {
    g_autoptr (CboxCliOptions) options = NULL;
    CboxCliSetting *setting;
    g_assert_true (
        parse (ARGS ("run", "--accel=tcg", "--memory=4G", "--cpus=2", "--set=x11.trusted=a=b"),
               &options, &error));
    g_assert_cmpuint (options->settings->len, ==, 4);
    setting = g_ptr_array_index (options->settings, 3);
    g_assert_cmpstr (setting->group, ==, "x11");
    g_assert_cmpstr (setting->key, ==, "trusted");
    g_assert_cmpstr (setting->value, ==, "a=b");
    setting = g_ptr_array_index (options->settings, 1);
    g_assert_cmpstr (setting->group, ==, "qemu");
    g_assert_cmpstr (setting->key, ==, "memory");
  }
  g_assert_no_error (error);
}

/* ---- requests ---- */

typedef struct
{
  char *data;
  char *home;
  CboxHost *host;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer user_data)
{
  g_autofree char *sys = cbox_test_make_dir ("sys");
  g_autofree char *xdg = NULL;

  f->data = cbox_test_make_dir ("data");
  f->home = cbox_test_make_dir ("home");
  xdg = g_build_filename (f->home, ".config", NULL);
  g_setenv ("CBOX_DATA_DIR", f->data, TRUE);
  g_setenv ("CBOX_SYSCONF_DIR", sys, TRUE);
  g_setenv ("XDG_CONFIG_HOME", xdg, TRUE);
  f->host = cbox_host_new ();
  cbox_host_set_user (f->host, 1000, 1000, "user", f->home, "/bin/zsh");
  cbox_host_set_caller_uid (f->host, 1000);
  cbox_host_setenv (f->host, "HOME", f->home);
}

static void
fixture_teardown (Fixture *f, gconstpointer user_data)
{
  g_free (f->data);
  g_free (f->home);
  cbox_host_unref (f->host);
}

static void
write_data (Fixture *f, const char *name, const char *contents)
{
  g_autofree char *path = g_build_filename (f->data, name, NULL);
  g_autofree char *parent = g_path_get_dirname (path);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

static CboxRequest *
make_request (Fixture *f, const char *const *args, const char *cwd, GError **error)
{
  g_autoptr (CboxCliOptions) options = NULL;
  CboxRequest *request = NULL;

  if (!parse (args, &options, error))
    return NULL;
  if (!cbox_cli_make_request (options, f->host, cwd, &request, error))
    return NULL;
  return request;
}

static void
test_request_defaults (Fixture *f, gconstpointer user_data)
{
  g_autoptr (CboxRequest) request = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *real_home = realpath (f->home, NULL);

  write_data (f, "cbox.conf", "[cbox]\nbackend=bwrap\nforward=hostconf;locale\n");
  request = make_request (f, ARGS ("run"), f->home, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (request->backend, ==, "bwrap");
  g_assert_true (request->network);
  g_assert_cmpstrv (request->command, ARGS ("/bin/zsh"));
  g_assert_cmpstr (request->project_dir, ==, real_home);
  g_assert_true (request->has_default_forwards);
  g_assert_cmpuint (request->forward_ops->len, ==, 2);
  g_assert_false (((CboxForwardOp *)g_ptr_array_index (request->forward_ops, 0))->requested);
}

static void
test_request_profile (Fixture *f, gconstpointer user_data)
{
  g_autoptr (CboxRequest) request = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *claude = g_build_filename (f->home, ".claude", NULL);
  g_autofree char *claude_json = g_build_filename (f->home, ".claude.json", NULL);
  CboxBindRequest *bind;
  CboxForwardOp *op;
  CboxEnvRequest *env;

  write_data (f, "cbox.conf", "[cbox]\nforward=hostconf\nprofile=claude\n");
  write_data (f, "profiles/claude.conf",
              "[cbox]\ncommand=claude --flag 'two words'\nmkdir=~/.claude\nbind=~/.claude\n"
              "copy=~/.claude.json\nenv=ANTHROPIC_API_KEY;FIXED=1\nforward=git\n"
              "forward-optional=nix\n");
  request = make_request (f, ARGS ("run"), "/", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (request->profile, ==, "claude");
  g_assert_cmpstrv (request->command, ARGS ("claude", "--flag", "two words"));
  g_assert_cmpstrv (request->mkdirs, ARGS (claude));
  g_assert_cmpuint (request->binds->len, ==, 2);
  bind = g_ptr_array_index (request->binds, 0);
  g_assert_cmpint (bind->kind, ==, CBOX_BIND_RW);
  g_assert_cmpstr (bind->src, ==, claude);
  g_assert_cmpstr (bind->dest, ==, claude);
  g_assert_true (bind->allow_missing);
  g_assert_cmpstr (bind->origin, ==, "profile");
  bind = g_ptr_array_index (request->binds, 1);
  g_assert_cmpint (bind->kind, ==, CBOX_BIND_COPY);
  g_assert_cmpstr (bind->src, ==, claude_json);
  g_assert_cmpuint (request->forward_ops->len, ==, 3);
  op = g_ptr_array_index (request->forward_ops, 1);
  g_assert_cmpstr (op->name, ==, "git");
  g_assert_true (op->requested);
  op = g_ptr_array_index (request->forward_ops, 2);
  g_assert_cmpstr (op->name, ==, "nix");
  g_assert_false (op->requested);
  env = g_ptr_array_index (request->env, 0);
  g_assert_cmpstr (env->name, ==, "ANTHROPIC_API_KEY");
  g_assert_null (env->value);
  env = g_ptr_array_index (request->env, 1);
  g_assert_cmpstr (env->value, ==, "1");

  /* --project takes "~/" too (a shell does not expand it after '='). */
  {
    g_autofree char *real_home = realpath (f->home, NULL);
    g_autoptr (CboxRequest) tilde = make_request (f, ARGS ("--project=~", "run"), "/", &error);
    g_assert_no_error (error);
    g_assert_cmpstr (tilde->project_dir, ==, real_home);
  }

  /* --shell wins over the profile's command; --profile=none drops it. */
  {
    g_autoptr (CboxRequest) shell = make_request (f, ARGS ("--shell", "run"), "/", &error);
    g_assert_no_error (error);
    g_assert_cmpstrv (shell->command, ARGS ("/bin/zsh"));
  }
  {
    g_autoptr (CboxRequest) none = make_request (f, ARGS ("--profile=none", "run"), "/", &error);
    g_assert_no_error (error);
    g_assert_null (none->profile);
    g_assert_cmpuint (none->binds->len, ==, 0);
  }
  {
    g_autoptr (CboxRequest) missing
        = make_request (f, ARGS ("--profile=absent", "run"), "/", &error);
    g_assert_null (missing);
    g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
  }
}

/* The nastiest path names a file system allows. */
static const char *const weird_names[] = {
  "with space",
  "quote'single",
  "quote\"double",
  "new\nline",
  ("bad\xff\xfe"
   "bytes"),
  "$(touch pwned)",
  "colon:inside",
};

static void
test_request_weird_paths (Fixture *f, gconstpointer user_data)
{
  g_autofree char *base = cbox_test_make_dir ("weird");
  g_autofree char *real_base = realpath (base, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (weird_names); i++)
    {
      g_autofree char *dir = g_build_filename (real_base, weird_names[i], NULL);
      g_autofree char *project_arg = g_strconcat ("--project=", dir, NULL);
      g_autoptr (GString) escaped = g_string_new (NULL);
      g_autofree char *bind_arg = NULL;
      g_autofree char *dest = NULL;
      g_autoptr (CboxRequest) request = NULL;
      g_autoptr (GError) error = NULL;
      CboxBindRequest *bind;

      g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
      for (const char *p = dir; *p != '\0'; p++)
        {
          if (*p == ':' || *p == '\\')
            g_string_append_c (escaped, '\\');
          g_string_append_c (escaped, *p);
        }
      dest = g_strconcat ("/inside/", weird_names[i], NULL);
      {
        g_autoptr (GString) escaped_dest = g_string_new (NULL);
        for (const char *p = dest; *p != '\0'; p++)
          {
            if (*p == ':' || *p == '\\')
              g_string_append_c (escaped_dest, '\\');
            g_string_append_c (escaped_dest, *p);
          }
        bind_arg = g_strdup_printf ("--ro-bind=%s:%s", escaped->str, escaped_dest->str);
      }
      request = make_request (f, ARGS ("run", project_arg, bind_arg, "--", weird_names[i]), "/",
                              &error);
      g_assert_no_error (error);
      g_assert_cmpstr (request->project_dir, ==, dir);
      g_assert_cmpuint (request->binds->len, ==, 1);
      bind = g_ptr_array_index (request->binds, 0);
      g_assert_cmpstr (bind->src, ==, dir);
      g_assert_cmpstr (bind->dest, ==, dest);
      g_assert_false (bind->allow_missing);
      g_assert_cmpstr (request->command[0], ==, weird_names[i]);

      /* Relative to the current directory, too. */
      {
        g_autoptr (CboxRequest) relative = NULL;
        g_autofree char *rel_arg
            = g_strconcat ("--bind=", weird_names[i][0] == '$' ? "./" : "", NULL);
        g_autofree char *rel_bind = NULL;
        g_autoptr (GString) escaped_name = g_string_new (NULL);
        for (const char *p = weird_names[i]; *p != '\0'; p++)
          {
            if (*p == ':' || *p == '\\')
              g_string_append_c (escaped_name, '\\');
            g_string_append_c (escaped_name, *p);
          }
        rel_bind = g_strconcat (rel_arg, escaped_name->str, NULL);
        relative = make_request (f, ARGS ("run", rel_bind), real_base, &error);
        g_assert_no_error (error);
        bind = g_ptr_array_index (relative->binds, 0);
        g_assert_cmpstr (bind->src, ==, dir);
        g_assert_cmpstr (bind->dest, ==, dir);
      }
    }
}

static void
test_request_bad (Fixture *f, gconstpointer user_data)
{
  const char *const *bad[] = {
    ARGS ("run", "--bind=/nonexistent/src"),   ARGS ("run", "--copy=/nonexistent/file"),
    ARGS ("run", "--ro-bind=/:relative/dest"), ARGS ("run", "--project=/nonexistent/project"),
    ARGS ("run", "--project=/etc/passwd"),     ARGS ("run", "--config=/nonexistent.conf"),
    ARGS ("run", "--set=cbox.bogus=1"),        ARGS ("run", "--set=cbox.network=maybe"),
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (CboxRequest) request = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *joined = g_strjoinv (" ", (char **)bad[i]);

      request = make_request (f, bad[i], "/", &error);
      if (request != NULL)
        g_error ("'%s' was accepted", joined);
      g_assert_nonnull (error);
      g_assert_true (error->domain == CBOX_ERROR);
      g_test_message ("%s -> %s", joined, error->message);
    }

  /* A bad configuration file names itself, the line and the key. */
  {
    g_autoptr (CboxRequest) request = NULL;
    g_autoptr (GError) error = NULL;
    g_autofree char *expected = g_build_filename (f->data, "cbox.conf:3: key 'bogus'", NULL);

    write_data (f, "cbox.conf", "[cbox]\nbackend=bwrap\nbogus=yes\n");
    request = make_request (f, ARGS ("run"), "/", &error);
    g_assert_null (request);
    g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
    g_assert_nonnull (strstr (error->message, expected));
  }
}

static void
test_request_layers (Fixture *f, gconstpointer user_data)
{
  g_autoptr (CboxRequest) request = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *user_conf_dir = g_build_filename (f->home, ".config", "cbox", NULL);
  g_autofree char *user_conf = g_build_filename (user_conf_dir, "cbox.conf", NULL);
  g_autofree char *value = NULL;

  write_data (f, "cbox.conf", "[cbox]\nbackend=bwrap\nnetwork=on\n[x11]\ntrusted=true\n");
  g_assert_cmpint (g_mkdir_with_parents (user_conf_dir, 0755), ==, 0);
  g_assert_true (
      g_file_set_contents (user_conf, "[cbox]\nnetwork=off\nbackend=nspawn\n", -1, NULL));

  request = make_request (
      f, ARGS ("--backend=qemu", "run", "--memory=2G", "--set=x11.trusted=false"), "/", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (request->backend, ==, "qemu");
  g_assert_false (request->network);
  value = g_key_file_get_string (request->config, "qemu", "memory", NULL);
  g_assert_cmpstr (value, ==, "2G");
  g_clear_pointer (&value, g_free);
  value = g_key_file_get_string (request->config, "x11", "trusted", NULL);
  g_assert_cmpstr (value, ==, "false");
  g_assert_false (request->has_default_forwards);
}

static void
test_help (void)
{
  const char *topics[] = { NULL, "run", "plan", "doctor", "plugins", "version", "help" };

  for (gsize i = 0; i < G_N_ELEMENTS (topics); i++)
    {
      g_autofree char *text = cbox_cli_get_help (topics[i]);
      g_assert_nonnull (text);
      g_assert_true (g_str_has_prefix (text, "Usage: cbox"));
    }
  g_assert_null (cbox_cli_get_help ("bogus"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/core/cli/parse/bad-inputs", test_bad_inputs);
  g_test_add_func ("/core/cli/parse/options-anywhere", test_options_anywhere);
  g_test_add_func ("/core/cli/parse/command-words", test_command_words);
  g_test_add_func ("/core/cli/help", test_help);
  g_test_add ("/core/cli/request/defaults", Fixture, NULL, fixture_setup, test_request_defaults,
              fixture_teardown);
  g_test_add ("/core/cli/request/profile", Fixture, NULL, fixture_setup, test_request_profile,
              fixture_teardown);
  g_test_add ("/core/cli/request/weird-paths", Fixture, NULL, fixture_setup,
              test_request_weird_paths, fixture_teardown);
  g_test_add ("/core/cli/request/bad", Fixture, NULL, fixture_setup, test_request_bad,
              fixture_teardown);
  g_test_add ("/core/cli/request/layers", Fixture, NULL, fixture_setup, test_request_layers,
              fixture_teardown);
  return g_test_run ();
}

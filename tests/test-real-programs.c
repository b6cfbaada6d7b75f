/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Real programs of the host run inside `cbox run` (issue 18): each one with
 * the output it must give, on the real bwrap (as root and, through
 * run-as-user.sh, as an unprivileged user), systemd-nspawn (root) and
 * QEMU (root, one combined run: a boot under TCG takes tens of seconds).
 * Debian's /usr/bin links go through /etc/alternatives (awk, which, cc,
 * editor, nc), chromium sources /etc/chromium.d: they fail when the
 * sandbox lacks the host's /etc. Interactive dash and bash under script(1)
 * must keep job control and give the exact exit status. Claude Code, as
 * npm installed it (under /usr by tools/install-deps, and under a prefix
 * in the home made here), must start and do one round trip with a local
 * mock of the Messages API. A program the host lacks is skipped with a
 * message, a failure in CI. */

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-test-util.h"

typedef struct
{
  const char *backend;
  char *project;
  char **env;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->backend = data;
  f->project = cbox_test_make_dir ("real-programs");
  f->env = cbox_test_environ (NULL);
  cbox_test_write_file (f->project, "page.html",
                        "<!DOCTYPE html><html><body><p id=\"x\">page-ok</p></body></html>\n");
  cbox_test_write_file (
      f->project, "hello.c",
      "#include <stdio.h>\nint main (void) { puts (\"hello-make\"); return 0; }\n");
  cbox_test_write_file (f->project, "Makefile", "hello: hello.c\n\tcc -o hello hello.c\n");
  /* The project belongs to whoever runs the test (cboxtest as well). */
  g_assert_cmpint (g_chmod (f->project, 0755), ==, 0);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_free (f->project);
  g_strfreev (f->env);
}

static gboolean
backend_usable (Fixture *f)
{
  if (!cbox_test_backend_is_built (f->backend))
    {
      g_test_skip ("backend not built");
      return FALSE;
    }
  if (g_str_equal (f->backend, "bwrap"))
    {
      g_autofree char *bwrap = g_find_program_in_path ("bwrap");
      if (bwrap == NULL)
        {
          cbox_test_skip_or_fail ("bwrap is not installed (apt install bubblewrap)");
          return FALSE;
        }
      return TRUE;
    }
  /* nspawn needs root; QEMU boots slowly enough that the unprivileged
   * pass (which repeats bwrap) leaves it to the root one. */
  if (geteuid () != 0)
    {
      g_test_skip ("nspawn and qemu run in the root pass");
      return FALSE;
    }
  return cbox_test_require_backend (f->backend, NULL);
}

/* Each QEMU boot takes tens of seconds under TCG: the browsers, zsh and
 * Claude Code's round trip run on bwrap and nspawn only (qemu has dash and
 * bash, and one boot of the claude profile, claude_qemu_one_boot()). */
static gboolean
skip_qemu (Fixture *f)
{
  if (!g_str_equal (f->backend, "qemu"))
    return FALSE;
  g_test_skip ("left out on qemu (a boot per run under TCG; the basic programs run there)");
  return TRUE;
}

/* Runs `cbox [@options] run -- sh -c @script` in the project. */
static void
run_sh (Fixture *f, CboxTestResult *result, const char *const *options, const char *script)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *project_arg = g_strconcat ("--project=", f->project, NULL);

  g_ptr_array_add (args, g_strconcat ("--backend=", f->backend, NULL));
  for (guint i = 0; options != NULL && options[i] != NULL; i++)
    g_ptr_array_add (args, g_strdup (options[i]));
  g_ptr_array_add (args, g_strdup ("run"));
  g_ptr_array_add (args, g_strdup (project_arg));
  g_ptr_array_add (args, g_strdup ("--"));
  g_ptr_array_add (args, g_strdup ("sh"));
  g_ptr_array_add (args, g_strdup ("-c"));
  g_ptr_array_add (args, g_strdup (script));
  g_ptr_array_add (args, NULL);
  cbox_test_run ((const char *const *)args->pdata, f->project, (const char *const *)f->env, NULL,
                 result);
}

static void
assert_output (const CboxTestResult *result, const char *what, const char *expected)
{
  if (result->status != 0 || strstr (result->out, expected) == NULL)
    g_error ("%s: exit status %d, expected 0 and \"%s\" in the output\nstdout: %s\nstderr: %s",
             what, result->status, expected, result->out, result->err);
}

/* The small programs of a Debian system, each through /etc/alternatives. */
static const struct
{
  const char *name;
  const char *script;
  const char *expected;
} basic_programs[] = {
  { "awk", "echo a b | awk '{print $2 \"-awk\"}'", "b-awk" },
  { "which", "which ls", "/ls" },
  { "make with cc", "rm -f hello && make -s && ./hello && rm -f hello", "hello-make" },
  { "editor", "editor --version </dev/null | head -n 1", "" },
  { "pager", "echo pager-ok | pager", "pager-ok" },
  { "nc", "nc -h 2>&1; test $? -ne 127 && echo nc-found", "nc-found" },
  { "python3 ssl and urllib",
    "python3 -c 'import ssl, urllib.request; ssl.create_default_context(); print(\"py-ok\")'",
    "py-ok" },
  { "machine-id", "test -s /etc/machine-id && echo machine-id-ok", "machine-id-ok" },
};

static void
test_basic (Fixture *f, gconstpointer data)
{
  if (!backend_usable (f))
    return;

  if (g_str_equal (f->backend, "qemu"))
    {
      /* One boot for all of them. */
      g_autoptr (GString) script = g_string_new ("set -e; ");
      g_auto (CboxTestResult) result = { 0 };

      for (gsize i = 0; i < G_N_ELEMENTS (basic_programs); i++)
        g_string_append_printf (script, "( %s ); ", basic_programs[i].script);
      g_string_append (script, "echo all-programs-ok");
      run_sh (f, &result, NULL, script->str);
      for (gsize i = 0; i < G_N_ELEMENTS (basic_programs); i++)
        assert_output (&result, basic_programs[i].name, basic_programs[i].expected);
      assert_output (&result, "all programs", "all-programs-ok");
      return;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (basic_programs); i++)
    {
      g_auto (CboxTestResult) result = { 0 };
      run_sh (f, &result, NULL, basic_programs[i].script);
      assert_output (&result, basic_programs[i].name, basic_programs[i].expected);
    }
}

/* chromium --headless --dump-dom of a file in the project, under the
 * browser profile. */
static void
test_chromium (Fixture *f, gconstpointer data)
{
  g_autofree char *chromium = g_find_program_in_path ("chromium");
  g_autofree char *script = NULL;
  g_auto (CboxTestResult) result = { 0 };
  const char *options[] = { "--profile=browser", NULL };

  if (!backend_usable (f) || skip_qemu (f))
    return;
  if (chromium == NULL)
    {
      cbox_test_skip_or_fail ("chromium is not installed (tools/install-deps installs it)");
      return;
    }
  /* As root chromium refuses its own sandbox; as a user it uses it. */
  script = g_strdup_printf ("chromium --headless %s --disable-gpu --dump-dom file://%s/page.html "
                            "2>/dev/null",
                            geteuid () == 0 ? "--no-sandbox" : "", f->project);
  run_sh (f, &result, options, script);
  assert_output (&result, "chromium --dump-dom", "<p id=\"x\">page-ok</p>");
}

/* firefox-esr --headless --screenshot writes a PNG into the project. */
static void
test_firefox (Fixture *f, gconstpointer data)
{
  g_autofree char *firefox = g_find_program_in_path ("firefox-esr");
  g_autofree char *script = NULL;
  g_autofree char *shot = g_build_filename (f->project, "shot.png", NULL);
  g_auto (CboxTestResult) result = { 0 };
  const char *options[] = { "--profile=browser", NULL };

  if (!backend_usable (f) || skip_qemu (f))
    return;
  if (firefox == NULL)
    {
      cbox_test_skip_or_fail ("firefox-esr is not installed (tools/install-deps installs it)");
      return;
    }
  /* Firefox's own sandbox: as a user it makes its user namespaces
   * (allow-userns in the browser profile); as root the filter refuses
   * them (a root command gets none) and Firefox falls back to its
   * sandbox without namespaces. It used to hang as root: it could make a
   * namespace but not map uid 0 in it (CAP_SETFCAP), and every tab
   * crashed and was restarted. */
  script = g_strdup_printf ("firefox-esr --headless --screenshot %s file://%s/page.html "
                            ">/dev/null 2>&1; test -s %s && head -c 4 %s | od -c | head -n 1",
                            shot, f->project, shot, shot);
  run_sh (f, &result, options, script);
  assert_output (&result, "firefox-esr --screenshot", "P   N   G");
  g_unlink (shot);
}

/* Claude Code's own sandbox inside the claude profile: a real nested
 * bubblewrap with a /proc of its own, as Claude Code's Bash tool starts
 * it. For a command that runs as the host's root there is none (no user
 * namespace for root's command: kernel-surface's nested-proc says why),
 * and it must fail rather than run unconfined. */
static void
test_nested_bwrap (Fixture *f, gconstpointer data)
{
  g_autofree char *bwrap = g_find_program_in_path ("bwrap");
  g_auto (CboxTestResult) result = { 0 };
  const char *options[] = { "--profile=claude", NULL };

  if (!backend_usable (f) || skip_qemu (f))
    return;
  if (bwrap == NULL)
    {
      cbox_test_skip_or_fail ("bwrap is not installed (apt install bubblewrap)");
      return;
    }
  run_sh (f, &result, options,
          "bwrap --proc /proc --dev /dev --ro-bind / / --unshare-pid --unshare-net "
          "sh -c 'echo nested-pid=$$' && echo nested-ok");
  if (geteuid () == 0)
    {
      g_assert_null (strstr (result.out, "nested-ok"));
      g_assert_nonnull (strstr (result.err, "bwrap: "));
      return;
    }
  /* pid 2: bwrap is pid 1 of the nested pid namespace, in its own /proc. */
  assert_output (&result, "nested bwrap", "nested-pid=2\nnested-ok");
}

/* ---- interactive shells ------------------------------------------------- */

/* @shell: the shell and its options before -i ("zsh -f": without a
 * .zshrc zsh would start its new-user menu, which reads the input). */
static void
test_interactive (Fixture *f, const char *shell)
{
  g_autofree char *program = g_strndup (shell, strcspn (shell, " "));
  g_autofree char *path = g_find_program_in_path (program);
  g_autofree char *script = g_find_program_in_path ("script");
  g_autofree char *cbox = g_shell_quote (g_getenv ("CBOX"));
  g_autofree char *project = g_shell_quote (f->project);
  g_autofree char *out_path = g_build_filename (f->project, "typescript.out", NULL);
  g_autofree char *command = NULL;
  g_autofree char *pipeline = NULL;
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  int wstatus = 0;
  const char *argv[] = { "sh", "-c", NULL, NULL };

  /* On qemu too (a boot each under TCG): dash and bash, not zsh. */
  if (!backend_usable (f) || (g_str_has_prefix (shell, "zsh") && skip_qemu (f)))
    return;
  if (path == NULL || script == NULL)
    {
      cbox_test_skip_or_fail ("the shell or script(1) is not installed");
      return;
    }
  /* A job in the background, brought to the foreground (job control on),
   * then the exit status the shell is told. */
  command = g_strdup_printf ("%s --backend=%s run --project=%s -- %s -i", cbox, f->backend, project,
                             shell);
  pipeline = g_strdup_printf ("printf 'sleep 0.1 &\\nfg\\necho job-control-ok\\nexit 4\\n' | "
                              "script -qec %s /dev/null >%s 2>&1",
                              g_shell_quote (command), out_path);
  argv[2] = pipeline;
  g_assert_true (g_spawn_sync (f->project, (char **)argv, f->env, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               NULL, NULL, &wstatus, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (out_path, &out, NULL, NULL));
  g_unlink (out_path);
  if (!WIFEXITED (wstatus) || WEXITSTATUS (wstatus) != 4)
    g_error ("%s on %s: status %d, expected 4; output:\n%s", shell, f->backend,
             WIFEXITED (wstatus) ? WEXITSTATUS (wstatus) : -1, out);
  if (strstr (out, "job-control-ok") == NULL || strstr (out, "Cannot set tty") != NULL
      || strstr (out, "no job control") != NULL || strstr (out, "fg: ") != NULL)
    g_error ("%s on %s: job control does not work; output:\n%s", shell, f->backend, out);
}

static void
test_dash (Fixture *f, gconstpointer data)
{
  test_interactive (f, "dash");
}

static void
test_bash (Fixture *f, gconstpointer data)
{
  test_interactive (f, "bash");
}

static void
test_zsh (Fixture *f, gconstpointer data)
{
  test_interactive (f, "zsh -f");
}

/* ---- Claude Code ---------------------------------------------------------- */

/* `--network=host` when this cbox has it (the default network may be a
 * namespace of its own that does not reach the host's loopback), else
 * nothing: the default then shares the host's network. */
static const char *
network_host_option (void)
{
  g_auto (CboxTestResult) result = { 0 };

  cbox_test_runv (&result, "help", "run", NULL);
  return strstr (result.out, "host") != NULL && strstr (result.out, "--network=") != NULL
                 && strstr (result.out, "|host") != NULL
             ? "--network=host"
             : NULL;
}

typedef struct
{
  GPid pid;
  char *port;
} Mock;

/* The mock with @mock_env (NULL: this process's environment). */
static void
mock_start_with (Fixture *f, Mock *mock, char **mock_env)
{
  g_autofree char *script
      = g_test_build_filename (G_TEST_DIST, "real-programs", "mock-messages-api.py", NULL);
  g_autofree char *port_file = g_build_filename (f->project, ".mock-port", NULL);
  const char *argv[] = { "python3", script, port_file, NULL };
  g_autoptr (GError) error = NULL;

  g_assert_true (g_spawn_async (NULL, (char **)argv, mock_env, G_SPAWN_SEARCH_PATH, NULL, NULL,
                                &mock->pid, &error));
  g_assert_no_error (error);
  g_assert_true (cbox_test_wait_for_path (port_file, 30));
  g_assert_true (g_file_get_contents (port_file, &mock->port, NULL, NULL));
  g_unlink (port_file);
}

static void
mock_start (Fixture *f, Mock *mock)
{
  mock_start_with (f, mock, NULL);
}

static void
mock_stop (Mock *mock)
{
  kill (mock->pid, SIGTERM);
  waitpid (mock->pid, NULL, 0);
  g_free (mock->port);
}

/* claude --version and claude -p through the claude profile, with @path
 * first on the host's PATH (where this install's launcher is). */
static void
claude_round_trip (Fixture *f, const char *path_dir, const char *what)
{
  g_autofree char *path = g_strconcat (path_dir, ":", g_getenv ("PATH"), NULL);
  g_autofree char *home = g_strdup (g_environ_getenv (f->env, "HOME"));
  g_autofree char *base_url = NULL;
  g_autofree char *project_arg = g_strconcat ("--project=", f->project, NULL);
  g_autofree char *backend_arg = g_strconcat ("--backend=", f->backend, NULL);
  const char *network = network_host_option ();
  g_auto (GStrv) env = g_strdupv (f->env);
  g_auto (CboxTestResult) version = { 0 };
  g_auto (CboxTestResult) plan = { 0 };
  g_auto (CboxTestResult) reply = { 0 };
  Mock mock = { 0 };

  /* git is asked for by the profile: it needs a configuration. */
  cbox_test_write_file (home, ".gitconfig", "[user]\n\tname = cbox test\n");
  mock_start (f, &mock);
  base_url = g_strconcat ("http://127.0.0.1:", mock.port, NULL);
  env = g_environ_setenv (env, "PATH", path, TRUE);
  env = g_environ_setenv (env, "ANTHROPIC_BASE_URL", base_url, TRUE);
  env = g_environ_setenv (env, "ANTHROPIC_API_KEY", "sk-cbox-test", TRUE);
  env = g_environ_setenv (env, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1", TRUE);
  env = g_environ_setenv (env, "DISABLE_TELEMETRY", "1", TRUE);
  env = g_environ_setenv (env, "DISABLE_AUTOUPDATER", "1", TRUE);

  {
    const char *args[] = { "--profile=claude", backend_arg, "plan", project_arg, NULL };
    cbox_test_run (args, f->project, (const char *const *)env, NULL, &plan);
  }
  if (plan.status != 0 || strstr (plan.out, "claude: ") == NULL)
    g_error ("%s: cbox plan does not name the install (status %d)\n%s\n%s", what, plan.status,
             plan.out, plan.err);
  /* The claude the host would run is the one that runs inside, not
   * another copy found later on PATH. */
  {
    g_auto (CboxTestResult) which = { 0 };
    g_autofree char *expected = g_build_filename (path_dir, "claude", NULL);
    const char *args[] = { "--profile=claude",  backend_arg, "run", project_arg, "--", "sh", "-c",
                           "command -v claude", NULL };
    cbox_test_run (args, f->project, (const char *const *)env, NULL, &which);
    assert_output (&which, what, expected);
  }
  {
    const char *args[] = { "--profile=claude", backend_arg, "run", project_arg, "--",
                           "claude",           "--version", NULL };
    cbox_test_run (args, f->project, (const char *const *)env, NULL, &version);
  }
  assert_output (&version, what, "(Claude Code)");
  {
    const char *args[] = { "--profile=claude",
                           backend_arg,
                           network != NULL ? network : "--network=on",
                           "run",
                           project_arg,
                           "--",
                           "claude",
                           "-p",
                           "say the word",
                           NULL };
    cbox_test_run (args, f->project, (const char *const *)env, NULL, &reply);
  }
  mock_stop (&mock);
  assert_output (&reply, what, "cbox-mock-reply-7f3a");
}

/* Runs @argv on the host with @env; its stdout, or the test fails. */
static char *
host_output (char **env, const char *const *argv)
{
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  int wstatus = 0;

  g_assert_true (g_spawn_sync (NULL, (char **)argv, env,
                               G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                               NULL, &wstatus, &error));
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (wstatus));
  g_assert_cmpint (WEXITSTATUS (wstatus), ==, 0);
  return g_steal_pointer (&out);
}

/* The claude profile on qemu, in one boot (tens of seconds under TCG),
 * with a real ssh-agent holding a key: the host's claude starts
 * (--version), the agent answers through the ssh forwarder's filter (a
 * plan helper beside the VM), git works in the project, and of
 * ~/.claude/projects only this project's folder is there (another
 * project's transcripts are not). The round trip with the mock API needs
 * the host's loopback, which the VM never reaches: that part is bwrap's
 * and nspawn's. */
static void
claude_qemu_one_boot (Fixture *f)
{
  g_autofree char *keygen = cbox_test_require_program ("ssh-keygen");
  g_autofree char *agent = keygen != NULL ? cbox_test_require_program ("ssh-agent") : NULL;
  g_autofree char *home = g_strdup (g_environ_getenv (f->env, "HOME"));
  g_autofree char *dir = NULL;
  g_autofree char *key = NULL;
  g_autofree char *sock = NULL;
  g_autofree char *fingerprint = NULL;
  g_autofree char *other_project = NULL;
  g_autofree char *project_arg = g_strconcat ("--project=", f->project, NULL);
  g_auto (GStrv) env = g_strdupv (f->env);
  g_auto (CboxTestResult) result = { 0 };
  GPid agent_pid = 0;
  g_autoptr (GError) error = NULL;

  if (agent == NULL)
    return;
  dir = cbox_test_make_dir ("claude-agent");
  key = g_build_filename (dir, "id", NULL);
  sock = g_build_filename (dir, "agent.sock", NULL);
  g_free (host_output (env, (const char *const[]){ keygen, "-q", "-t", "ed25519", "-N", "", "-C",
                                                   "cbox-claude-qemu", "-f", key, NULL }));
  {
    g_autofree char *pub = g_strconcat (key, ".pub", NULL);
    g_autofree char *line
        = host_output (env, (const char *const[]){ keygen, "-l", "-f", pub, NULL });
    g_auto (GStrv) words = g_strsplit (line, " ", -1);
    g_assert_true (g_str_has_prefix (words[1], "SHA256:"));
    fingerprint = g_strdup (words[1]);
  }
  g_assert_true (g_spawn_async (
      NULL, (char *[]){ agent, (char *)"-D", (char *)"-a", sock, NULL }, env,
      G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
      NULL, &agent_pid, &error));
  g_assert_no_error (error);
  g_assert_true (cbox_test_wait_for_path (sock, 10));
  env = g_environ_setenv (env, "SSH_AUTH_SOCK", sock, TRUE);
  g_free (host_output (env, (const char *const[]){ "ssh-add", "-q", key, NULL }));
  env = g_environ_setenv (env, "DISABLE_AUTOUPDATER", "1", TRUE);
  cbox_test_write_file (home, ".gitconfig", "[user]\n\tname = cbox claude qemu\n");
  /* Another project's transcripts, which must stay out of reach. */
  other_project = g_build_filename (home, ".claude", "projects", "-other-project", NULL);
  g_assert_cmpint (g_mkdir_with_parents (other_project, 0700), ==, 0);
  cbox_test_write_file (other_project, "t.jsonl", "secret transcript\n");
  g_free (host_output (env, (const char *const[]){ "git", "-C", f->project, "init", "-q", NULL }));

  {
    const char *args[] = { "--profile=claude",
                           "--backend=qemu",
                           "run",
                           project_arg,
                           "--",
                           "sh",
                           "-c",
                           "command -v claude; claude --version; echo version=$?; "
                           "ssh-add -l; echo agent=$?; "
                           "git status --short >/dev/null; echo git=$?; git config user.name; "
                           "ls -a ~/.claude/projects; "
                           "test -e ~/.claude/projects/-other-project && echo OTHER-VISIBLE; "
                           "cat ~/.claude/projects/-other-project/t.jsonl 2>/dev/null; echo done",
                           NULL };
    cbox_test_run (args, f->project, (const char *const *)env, NULL, &result);
  }
  kill (agent_pid, SIGTERM);
  waitpid (agent_pid, NULL, 0);
  g_spawn_close_pid (agent_pid);
  assert_output (&result, "claude profile on qemu", "/usr/bin/claude");
  assert_output (&result, "claude --version on qemu", "(Claude Code)");
  assert_output (&result, "claude --version on qemu", "version=0");
  assert_output (&result, "ssh-add -l on qemu", fingerprint);
  assert_output (&result, "ssh-add -l on qemu", "agent=0");
  assert_output (&result, "git on qemu", "git=0");
  assert_output (&result, "git on qemu", "cbox claude qemu");
  assert_output (&result, "done", "done");
  g_assert_null (strstr (result.out, "OTHER-VISIBLE"));
  g_assert_null (strstr (result.out, "secret transcript"));
}

/* Claude Code's own sandbox, end to end: with `"sandbox": {"enabled":
 * true}` in the host's ~/.claude/settings.json, the mock answers with a
 * Bash tool call, and Claude Code runs it through its sandbox (bubblewrap
 * and socat, nested inside cbox's sandbox). The command writes in the
 * project and tries to write in the home: inside Claude Code's sandbox
 * only the first works. The same command run by cbox alone writes both,
 * so the probe tells the two apart (and a Claude Code that fell back to
 * running it unsandboxed, as it does without socat, fails the test). For
 * a command that is the host's root there is no nested sandbox (no user
 * namespace for root's command): the tool call must fail, never run
 * unconfined. */
static void
test_claude_own_sandbox (Fixture *f, gconstpointer data)
{
  static const char probe[]
      = "touch \"$HOME/.cbox-outside-probe\" 2>/dev/null && echo outside=written "
        "|| echo outside=denied; echo in > inner-probe.txt && echo project=written";
  const char *home = g_environ_getenv (f->env, "HOME");
  g_autofree char *settings_dir = g_build_filename (home, ".claude", NULL);
  g_autofree char *results = g_build_filename (cbox_test_make_dir ("mock"), "results", NULL);
  g_autofree char *inner = g_build_filename (f->project, "inner-probe.txt", NULL);
  g_autofree char *base_url = NULL;
  g_autofree char *project_arg = g_strconcat ("--project=", f->project, NULL);
  g_autofree char *backend_arg = g_strconcat ("--backend=", f->backend, NULL);
  g_autofree char *socat = g_find_program_in_path ("socat");
  g_autofree char *logged = NULL;
  g_auto (GStrv) mock_env = g_get_environ ();
  g_auto (GStrv) env = g_strdupv (f->env);
  g_auto (CboxTestResult) alone = { 0 };
  g_auto (CboxTestResult) reply = { 0 };
  Mock mock = { 0 };

  if (!backend_usable (f) || skip_qemu (f))
    return;
  if (!g_file_test ("/usr/bin/claude", G_FILE_TEST_IS_EXECUTABLE) || socat == NULL)
    {
      cbox_test_skip_or_fail ("Claude Code's sandbox needs claude under /usr and socat "
                              "(tools/install-deps)");
      return;
    }
  /* The control: cbox's sandbox alone lets the command write its home. */
  {
    const char *options[] = { "--profile=claude", NULL };
    run_sh (f, &alone, options, probe);
    assert_output (&alone, "the probe without Claude Code's sandbox",
                   "outside=written\nproject=written");
    g_assert_cmpint (g_unlink (inner), ==, 0);
  }

  cbox_test_write_file (home, ".gitconfig", "[user]\n\tname = cbox test\n");
  g_assert_cmpint (g_mkdir_with_parents (settings_dir, 0755), ==, 0);
  cbox_test_write_file (settings_dir, "settings.json", "{\"sandbox\": {\"enabled\": true}}\n");
  mock_env = g_environ_setenv (mock_env, "MOCK_TOOL_COMMAND", probe, TRUE);
  mock_env = g_environ_setenv (mock_env, "MOCK_TOOL_RESULTS", results, TRUE);
  mock_start_with (f, &mock, mock_env);
  base_url = g_strconcat ("http://127.0.0.1:", mock.port, NULL);
  env = g_environ_setenv (env, "ANTHROPIC_BASE_URL", base_url, TRUE);
  env = g_environ_setenv (env, "ANTHROPIC_API_KEY", "sk-cbox-test", TRUE);
  env = g_environ_setenv (env, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1", TRUE);
  env = g_environ_setenv (env, "DISABLE_TELEMETRY", "1", TRUE);
  env = g_environ_setenv (env, "DISABLE_AUTOUPDATER", "1", TRUE);
  {
    /* --allowedTools Bash: no permission prompt (there is nobody to
     * answer in -p); the sandbox applies all the same. */
    const char *args[] = { "--profile=claude",
                           backend_arg,
                           "--network=host",
                           "run",
                           project_arg,
                           "--",
                           "claude",
                           "-p",
                           "run the probe",
                           "--allowedTools",
                           "Bash",
                           NULL };
    cbox_test_run (args, f->project, (const char *const *)env, NULL, &reply);
  }
  mock_stop (&mock);
  assert_output (&reply, "claude -p with a sandboxed tool call", "cbox-mock-reply-7f3a");
  if (!g_file_get_contents (results, &logged, NULL, NULL))
    g_error ("Claude Code sent no tool result back\nstdout: %s\nstderr: %s", reply.out, reply.err);
  g_test_message ("tool result: %s", logged);
  if (geteuid () == 0)
    {
      /* Refused, and nothing of the command ran. */
      g_assert_nonnull (strstr (logged, "\"is_error\": true"));
      g_assert_nonnull (strstr (logged, "bwrap: "));
      g_assert_null (strstr (logged, "project=written"));
      g_assert_false (g_file_test (inner, G_FILE_TEST_EXISTS));
      return;
    }
  g_assert_nonnull (strstr (logged, "\"is_error\": false"));
  g_assert_nonnull (strstr (logged, "outside=denied\\nproject=written"));
  g_assert_true (g_file_test (inner, G_FILE_TEST_EXISTS));
}

static void
test_claude_usr (Fixture *f, gconstpointer data)
{
  if (!backend_usable (f))
    return;
  if (!g_file_test ("/usr/bin/claude", G_FILE_TEST_IS_EXECUTABLE)
      || !g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      cbox_test_skip_or_fail ("Claude Code is not installed under /usr (tools/install-deps: npm "
                              "install -g @anthropic-ai/claude-code)");
      return;
    }
  if (g_str_equal (f->backend, "qemu"))
    {
      claude_qemu_one_boot (f);
      return;
    }
  claude_round_trip (f, "/usr/bin", "claude from /usr");
}

/* The same package under a prefix in the home (npm's --prefix, as
 * ~/.npm-global or nvm have it): the home is private inside, so it is
 * seen only because the claude forwarder shows the prefix. */
static void
test_claude_home_prefix (Fixture *f, gconstpointer data)
{
  const char *home = g_environ_getenv (f->env, "HOME");
  g_autofree char *prefix = g_build_filename (home, ".npm-global", NULL);
  g_autofree char *bin = g_build_filename (prefix, "bin", NULL);
  g_autofree char *lib = g_build_filename (prefix, "lib", "node_modules", "@anthropic-ai", NULL);
  g_autofree char *package = g_build_filename (lib, "claude-code", NULL);
  g_autofree char *launcher = g_build_filename (bin, "claude", NULL);
  g_autofree char *target = NULL;
  g_autofree char *copy = NULL;
  g_autoptr (GError) error = NULL;
  int wstatus = 0;

  if (!backend_usable (f) || skip_qemu (f))
    return;
  if (!g_file_test ("/usr/lib/node_modules/@anthropic-ai/claude-code", G_FILE_TEST_IS_DIR))
    {
      cbox_test_skip_or_fail ("Claude Code is not installed under /usr (tools/install-deps: npm "
                              "install -g @anthropic-ai/claude-code)");
      return;
    }
  /* A copy of the package where npm --prefix=~/.npm-global puts it, with
   * its launcher link as npm makes it. */
  g_assert_cmpint (g_mkdir_with_parents (lib, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (bin, 0755), ==, 0);
  copy = g_strdup_printf ("cp -a /usr/lib/node_modules/@anthropic-ai/claude-code %s", lib);
  g_assert_true (g_spawn_command_line_sync (copy, NULL, NULL, &wstatus, &error));
  g_assert_no_error (error);
  g_assert_cmpint (wstatus, ==, 0);
  target = g_file_read_link ("/usr/bin/claude", &error);
  g_assert_no_error (error);
  g_assert_cmpint (symlink (target, launcher), ==, 0);
  (void)package;
  claude_round_trip (f, bin, "claude from a prefix in the home");
}

int
main (int argc, char **argv)
{
  static const char *const backends[] = { "bwrap", "nspawn", "qemu" };
  static const struct
  {
    const char *name;
    void (*func) (Fixture *, gconstpointer);
  } tests[] = {
    { "basic", test_basic },
    { "chromium", test_chromium },
    { "firefox", test_firefox },
    { "nested-bwrap", test_nested_bwrap },
    { "interactive-dash", test_dash },
    { "interactive-bash", test_bash },
    { "interactive-zsh", test_zsh },
    { "claude/usr", test_claude_usr },
    { "claude/home-prefix", test_claude_home_prefix },
    { "claude/own-sandbox", test_claude_own_sandbox },
  };

  g_test_init (&argc, &argv, NULL);
  for (gsize b = 0; b < G_N_ELEMENTS (backends); b++)
    for (gsize t = 0; t < G_N_ELEMENTS (tests); t++)
      {
        g_autofree char *path
            = g_strdup_printf ("/real-programs/%s/%s", backends[b], tests[t].name);
        g_test_add (path, Fixture, backends[b], fixture_setup, tests[t].func, fixture_teardown);
      }
  return g_test_run ();
}

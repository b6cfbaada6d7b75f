/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cbox-ssh-agent-filter on its own: the message checks as unit tests, then
 * the built relay between a real ssh-agent (with keys from ssh-keygen) and
 * the real ssh-add and ssh-keygen as clients. Listing and signing pass;
 * removing, adding, locking are refused and the agent keeps its keys,
 * unlocked; an allowlist hides and refuses the other keys; a malformed or
 * oversized message closes that client only; the relay removes its socket
 * and exits when the other end of its sync pipe closes. The relay's path
 * is the first argument. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cbox-ssh-agent-msg.h"
#include "cbox-test-util.h"

static const char *filter_path;

/* ---- the messages ------------------------------------------------------- */

static void
put_u32 (GByteArray *out, guint32 value)
{
  guint8 bytes[4] = { value >> 24, value >> 16, value >> 8, value };
  g_byte_array_append (out, bytes, 4);
}

static void
put_string (GByteArray *out, const void *data, guint32 len)
{
  put_u32 (out, len);
  g_byte_array_append (out, data, len);
}

/* A key blob of type ssh-ed25519 whose 32 key bytes are all @fill. */
static GByteArray *
make_key (guint8 fill)
{
  GByteArray *key = g_byte_array_new ();
  guint8 bytes[32];

  memset (bytes, fill, sizeof bytes);
  put_string (key, "ssh-ed25519", 11);
  put_string (key, bytes, sizeof bytes);
  return key;
}

static GByteArray *
make_sign_request (GByteArray *key)
{
  GByteArray *msg = g_byte_array_new ();
  guint8 type = CBOX_SSH_AGENTC_SIGN_REQUEST;

  g_byte_array_append (msg, &type, 1);
  put_string (msg, key->data, key->len);
  put_string (msg, "data", 4);
  put_u32 (msg, 0);
  return msg;
}

static CboxSshAgentVerdict
check (const guint8 *data, gsize len, const char *const *allowed)
{
  return cbox_ssh_agent_check_request (data, len, allowed, NULL);
}

static void
test_msg_requests (void)
{
  static const guint8 list[] = { 11 };
  static const guint8 list_trailing[] = { 11, 0 };
  /* remove all, remove, add, lock, unlock, add smartcard, extension,
   * protocol 1, unknown: all refused before the agent sees them. */
  static const guint8 refused[] = { 19, 18, 17, 25, 22, 23, 20, 21, 26, 27, 1, 9, 200 };
  g_autoptr (GByteArray) key = make_key (0x11);
  g_autoptr (GByteArray) sign = make_sign_request (key);
  g_autofree char *fingerprint = cbox_ssh_agent_fingerprint (key->data, key->len);
  g_autoptr (GByteArray) other = make_key (0x22);
  g_autofree char *other_fingerprint = cbox_ssh_agent_fingerprint (other->data, other->len);
  const char *const allow_key[] = { fingerprint, NULL };
  const char *const allow_other[] = { other_fingerprint, NULL };

  g_assert_cmpint (check (list, 1, NULL), ==, CBOX_SSH_AGENT_FORWARD_LIST);
  g_assert_cmpint (check (list_trailing, 2, NULL), ==, CBOX_SSH_AGENT_MALFORMED);
  g_assert_cmpint (check (list, 0, NULL), ==, CBOX_SSH_AGENT_MALFORMED);
  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
    g_assert_cmpint (check (&refused[i], 1, NULL), ==, CBOX_SSH_AGENT_REFUSE);

  g_assert_cmpint (check (sign->data, sign->len, NULL), ==, CBOX_SSH_AGENT_FORWARD_SIGN);
  g_assert_cmpint (check (sign->data, sign->len, allow_key), ==, CBOX_SSH_AGENT_FORWARD_SIGN);
  g_assert_cmpint (check (sign->data, sign->len, allow_other), ==, CBOX_SSH_AGENT_REFUSE);
  /* Cut short anywhere, or with a byte more: malformed. */
  for (guint len = 1; len < sign->len; len++)
    g_assert_cmpint (check (sign->data, len, NULL), ==, CBOX_SSH_AGENT_MALFORMED);
  g_byte_array_append (sign, (const guint8 *)"!", 1);
  g_assert_cmpint (check (sign->data, sign->len, NULL), ==, CBOX_SSH_AGENT_MALFORMED);
  /* A key length pointing past the end. */
  sign->data[1] = 0xff;
  g_assert_cmpint (check (sign->data, sign->len, NULL), ==, CBOX_SSH_AGENT_MALFORMED);
}

static void
test_msg_fingerprint (void)
{
  /* The line from `ssh-keygen -l` for the key below (made once with
   * ssh-keygen; the integration tests compare with the real tool too). */
  g_autoptr (GBytes) blob = NULL;
  g_autofree char *fingerprint = NULL;
  const char *problem = NULL;

  blob = cbox_ssh_agent_parse_public_key (
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBERERERERERERERERERERERERERERERERERERERERER c",
      &problem);
  g_assert_nonnull (blob);
  fingerprint = cbox_ssh_agent_fingerprint (g_bytes_get_data (blob, NULL), g_bytes_get_size (blob));
  g_assert_true (cbox_ssh_agent_fingerprint_is_valid (fingerprint));
  {
    g_autoptr (GByteArray) key = make_key (0x11);
    g_autofree char *expected = cbox_ssh_agent_fingerprint (key->data, key->len);
    g_assert_cmpstr (fingerprint, ==, expected);
  }

  g_assert_null (cbox_ssh_agent_parse_public_key (
      "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIBERERERERERERERERERERERERERERERERERERERERER", &problem));
  g_assert_nonnull (strstr (problem, "type"));
  g_assert_null (cbox_ssh_agent_parse_public_key ("ssh-ed25519 AAAA*AAA", &problem));
  g_assert_null (cbox_ssh_agent_parse_public_key ("ssh-ed25519", &problem));
  g_assert_null (cbox_ssh_agent_parse_public_key ("", &problem));
  g_assert_false (cbox_ssh_agent_fingerprint_is_valid ("SHA256:short"));
  g_assert_false (cbox_ssh_agent_fingerprint_is_valid ("MD5:aa:bb"));
}

static void
test_msg_identities_answer (void)
{
  g_autoptr (GByteArray) one = make_key (0x11);
  g_autoptr (GByteArray) two = make_key (0x22);
  g_autofree char *two_fingerprint = cbox_ssh_agent_fingerprint (two->data, two->len);
  const char *const allowed[] = { two_fingerprint, NULL };
  g_autoptr (GByteArray) answer = g_byte_array_new ();
  g_autoptr (GByteArray) expected = g_byte_array_new ();
  g_autoptr (GBytes) all = NULL;
  g_autoptr (GBytes) filtered = NULL;
  guint8 type = CBOX_SSH_AGENT_IDENTITIES_ANSWER;
  static const guint8 failure[] = { CBOX_SSH_AGENT_FAILURE };
  static const guint8 success[] = { CBOX_SSH_AGENT_SUCCESS };

  g_byte_array_append (answer, &type, 1);
  put_u32 (answer, 2);
  put_string (answer, one->data, one->len);
  put_string (answer, "one", 3);
  put_string (answer, two->data, two->len);
  put_string (answer, "two", 3);

  all = cbox_ssh_agent_filter_answer (CBOX_SSH_AGENT_FORWARD_LIST, answer->data, answer->len, NULL);
  g_assert_nonnull (all);
  g_assert_cmpuint (g_bytes_get_size (all), ==, answer->len + 4);
  g_assert_cmpmem ((const guint8 *)g_bytes_get_data (all, NULL) + 4, answer->len, answer->data,
                   answer->len);

  filtered = cbox_ssh_agent_filter_answer (CBOX_SSH_AGENT_FORWARD_LIST, answer->data, answer->len,
                                           allowed);
  g_assert_nonnull (filtered);
  g_byte_array_append (expected, &type, 1);
  put_u32 (expected, 1);
  put_string (expected, two->data, two->len);
  put_string (expected, "two", 3);
  g_assert_cmpmem ((const guint8 *)g_bytes_get_data (filtered, NULL) + 4,
                   g_bytes_get_size (filtered) - 4, expected->data, expected->len);

  /* A count larger than the entries, bytes left over, an answer of the
   * wrong kind: no answer for the client. */
  answer->data[4] = 3;
  g_assert_null (
      cbox_ssh_agent_filter_answer (CBOX_SSH_AGENT_FORWARD_LIST, answer->data, answer->len, NULL));
  answer->data[4] = 2;
  g_byte_array_append (answer, (const guint8 *)"!", 1);
  g_assert_null (
      cbox_ssh_agent_filter_answer (CBOX_SSH_AGENT_FORWARD_LIST, answer->data, answer->len, NULL));
  g_assert_null (cbox_ssh_agent_filter_answer (CBOX_SSH_AGENT_FORWARD_SIGN, answer->data,
                                               answer->len - 1, NULL));
  g_assert_null (
      cbox_ssh_agent_filter_answer (CBOX_SSH_AGENT_FORWARD_LIST, success, sizeof success, NULL));
  {
    g_autoptr (GBytes) fail
        = cbox_ssh_agent_filter_answer (CBOX_SSH_AGENT_FORWARD_SIGN, failure, sizeof failure, NULL);
    g_assert_nonnull (fail);
    g_assert_cmpuint (g_bytes_get_size (fail), ==, 5);
  }
}

/* ---- the relay with a real agent ---------------------------------------- */

typedef struct
{
  char **env; /* SSH_AUTH_SOCK: the relay's socket */
  char *dir;
  char *agent_sock;
  char *relay_sock;
  char *keys[3]; /* private key files; keys[2] is in no agent */
  char *fingerprints[3];
  GSubprocess *agent;
  GSubprocess *relay;
  int sync_fd; /* the test's end of the relay's sync pipe */
} Relay;

static char *
run_tool (char **env, const char *const *argv, int *ret_status, char **ret_err)
{
  g_autoptr (GSubprocessLauncher) launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  char *out = NULL;
  g_autofree char *err = NULL;

  g_subprocess_launcher_set_environ (launcher, env);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  *ret_status = g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : 255;
  if (ret_err != NULL)
    *ret_err = g_steal_pointer (&err);
  return out;
}

static char *
run_ok (char **env, const char *const *argv)
{
  int status;
  g_autofree char *err = NULL;
  char *out = run_tool (env, argv, &status, &err);

  if (status != 0)
    g_error ("%s exited %d:\n%s\n%s", argv[0], status, out, err);
  return out;
}

/* The agent's own listing, not through the relay. */
static char *
agent_list (Relay *r)
{
  g_auto (GStrv) env = g_environ_setenv (g_strdupv (r->env), "SSH_AUTH_SOCK", r->agent_sock, TRUE);
  int status;

  return run_tool (env, (const char *const[]){ "ssh-add", "-l", NULL }, &status, NULL);
}

static gboolean
relay_setup (Relay *r)
{
  g_autofree char *agent = cbox_test_require_program ("ssh-agent");
  g_autofree char *keygen = agent != NULL ? cbox_test_require_program ("ssh-keygen") : NULL;
  g_autofree char *add = keygen != NULL ? cbox_test_require_program ("ssh-add") : NULL;

  r->sync_fd = -1;
  if (add == NULL)
    return FALSE;
  r->dir = cbox_test_make_dir ("agent");
  r->env = g_get_environ ();
  r->env = g_environ_unsetenv (r->env, "DISPLAY");
  r->agent_sock = g_build_filename (r->dir, "agent.sock", NULL);
  r->relay_sock = g_build_filename (r->dir, "relay.sock", NULL);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("key%u", i);
      g_autofree char *pub = NULL;
      g_autofree char *out = NULL;
      g_auto (GStrv) words = NULL;

      r->keys[i] = g_build_filename (r->dir, name, NULL);
      g_free (run_ok (r->env, (const char *const[]){ "ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                                                     "-C", name, "-f", r->keys[i], NULL }));
      pub = g_strconcat (r->keys[i], ".pub", NULL);
      out = run_ok (r->env, (const char *const[]){ "ssh-keygen", "-l", "-f", pub, NULL });
      words = g_strsplit (out, " ", -1);
      r->fingerprints[i] = g_strdup (words[1]);
    }
  r->agent = cbox_test_start_ssh_agent (r->env, NULL, r->agent_sock);
  g_assert_true (cbox_test_wait_for_path (r->agent_sock, 10));
  {
    g_auto (GStrv) env
        = g_environ_setenv (g_strdupv (r->env), "SSH_AUTH_SOCK", r->agent_sock, TRUE);
    g_free (run_ok (env, (const char *const[]){ "ssh-add", "-q", r->keys[0], r->keys[1], NULL }));
  }
  /* Only the agent can sign with these now: ssh-keygen -Y sign would
   * take a private key file beside the .pub instead. */
  g_assert_cmpint (g_unlink (r->keys[0]), ==, 0);
  g_assert_cmpint (g_unlink (r->keys[1]), ==, 0);
  r->env = g_environ_setenv (r->env, "SSH_AUTH_SOCK", r->relay_sock, TRUE);
  r->sync_fd = -1;
  return TRUE;
}

/* Starts the relay with @extra arguments and waits for its byte. */
static void
relay_start (Relay *r, const char *const *extra)
{
  g_autoptr (GSubprocessLauncher) launcher
      = cbox_test_server_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  int pipe_fds[2];
  char byte = 0;

  g_assert_cmpint (pipe2 (pipe_fds, O_CLOEXEC), ==, 0);
  g_ptr_array_add (argv, g_strdup (filter_path));
  g_ptr_array_add (argv, g_strdup_printf ("--agent=%s", r->agent_sock));
  g_ptr_array_add (argv, g_strdup_printf ("--listen=%s", r->relay_sock));
  g_ptr_array_add (argv, g_strdup ("--sync-fd=3"));
  g_ptr_array_add (argv, g_strdup ("--verbose"));
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra[i]));
  g_ptr_array_add (argv, NULL);
  g_subprocess_launcher_take_fd (launcher, pipe_fds[1], 3);
  r->relay = g_subprocess_launcher_spawnv (launcher, (const char *const *)argv->pdata, &error);
  g_assert_no_error (error);
  r->sync_fd = pipe_fds[0];
  g_assert_cmpint (read (r->sync_fd, &byte, 1), ==, 1);
  g_assert_true (g_file_test (r->relay_sock, G_FILE_TEST_EXISTS));
}

static void
relay_teardown (Relay *r)
{
  if (r->relay != NULL)
    {
      g_subprocess_force_exit (r->relay);
      g_subprocess_wait (r->relay, NULL, NULL);
      g_object_unref (r->relay);
    }
  if (r->sync_fd >= 0)
    close (r->sync_fd);
  if (r->agent != NULL)
    {
      g_subprocess_force_exit (r->agent);
      g_subprocess_wait (r->agent, NULL, NULL);
      g_object_unref (r->agent);
    }
  g_strfreev (r->env);
  g_free (r->dir);
  g_free (r->agent_sock);
  g_free (r->relay_sock);
  for (guint i = 0; i < 3; i++)
    {
      g_free (r->keys[i]);
      g_free (r->fingerprints[i]);
    }
}

/* The agent still holds exactly keys 0 and 1, and is not locked (a locked
 * agent lists no identity). */
static void
assert_agent_intact (Relay *r)
{
  g_autofree char *list = agent_list (r);
  g_auto (GStrv) lines = g_strsplit (g_strstrip (list), "\n", -1);

  g_assert_cmpuint (g_strv_length (lines), ==, 2);
  g_assert_nonnull (strstr (list, r->fingerprints[0]));
  g_assert_nonnull (strstr (list, r->fingerprints[1]));
}

/* Signs a file with the agent's key @index through the relay and verifies
 * the signature with ssh-keygen. TRUE when both worked. */
static gboolean
sign_with (Relay *r, guint index)
{
  g_autofree char *msg = g_build_filename (r->dir, "msg", NULL);
  g_autofree char *sig = g_strconcat (msg, ".sig", NULL);
  g_autofree char *pub = g_strconcat (r->keys[index], ".pub", NULL);
  g_autofree char *signers = g_build_filename (r->dir, "signers", NULL);
  g_autofree char *pub_text = NULL;
  g_autofree char *signers_text = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status;

  g_unlink (sig);
  g_assert_true (g_file_set_contents (msg, "signed through the relay\n", -1, NULL));
  out = run_tool (
      r->env,
      (const char *const[]){ "ssh-keygen", "-Y", "sign", "-f", pub, "-n", "file", msg, NULL },
      &status, &err);
  if (status != 0)
    {
      g_test_message ("ssh-keygen -Y sign with key%u: %s", index, err);
      return FALSE;
    }
  g_assert_true (g_file_get_contents (pub, &pub_text, NULL, NULL));
  signers_text = g_strconcat ("signer ", pub_text, NULL);
  g_assert_true (g_file_set_contents (signers, signers_text, -1, NULL));
  {
    g_autofree char *script = g_strdup_printf (
        "ssh-keygen -Y verify -f '%s' -I signer -n file -s '%s' < '%s'", signers, sig, msg);
    g_free (out);
    out = run_ok (r->env, (const char *const[]){ "sh", "-c", script, NULL });
  }
  g_assert_nonnull (strstr (out, "Good"));
  return TRUE;
}

static void
test_relay_list_and_sign (void)
{
  Relay r = { 0 };
  g_autofree char *list = NULL;

  if (!relay_setup (&r))
    return;
  relay_start (&r, NULL);
  list = run_ok (r.env, (const char *const[]){ "ssh-add", "-l", NULL });
  g_assert_nonnull (strstr (list, r.fingerprints[0]));
  g_assert_nonnull (strstr (list, r.fingerprints[1]));
  g_assert_true (sign_with (&r, 0));
  g_assert_true (sign_with (&r, 1));
  relay_teardown (&r);
}

static void
test_relay_refuses_changes (void)
{
  Relay r = { 0 };
  g_autofree char *pub = NULL;
  g_autofree char *askpass = NULL;
  g_auto (GStrv) lock_env = NULL;
  struct
  {
    const char *const *argv;
    char **env;
  } attempts[5];
  int status;

  if (!relay_setup (&r))
    return;
  relay_start (&r, NULL);
  pub = g_strconcat (r.keys[0], ".pub", NULL);
  /* ssh-add -x and -X read the password from SSH_ASKPASS. */
  askpass = g_build_filename (r.dir, "askpass", NULL);
  g_assert_true (g_file_set_contents (askpass, "#!/bin/sh\necho sandbox-password\n", -1, NULL));
  g_assert_cmpint (g_chmod (askpass, 0755), ==, 0);
  lock_env = g_environ_setenv (g_strdupv (r.env), "SSH_ASKPASS", askpass, TRUE);
  lock_env = g_environ_setenv (lock_env, "SSH_ASKPASS_REQUIRE", "force", TRUE);

  attempts[0].argv = (const char *const[]){ "ssh-add", "-D", NULL };
  attempts[1].argv = (const char *const[]){ "ssh-add", "-d", pub, NULL };
  attempts[2].argv = (const char *const[]){ "ssh-add", r.keys[2], NULL };
  attempts[3].argv = (const char *const[]){ "ssh-add", "-x", NULL };
  attempts[4].argv = (const char *const[]){ "ssh-add", "-X", NULL };
  for (guint i = 0; i < G_N_ELEMENTS (attempts); i++)
    {
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;

      out = run_tool (i >= 3 ? lock_env : r.env, attempts[i].argv, &status, &err);
      g_test_message ("%s %s: %d %s%s", attempts[i].argv[0], attempts[i].argv[1], status, out, err);
      g_assert_cmpint (status, !=, 0);
      assert_agent_intact (&r);
    }
  /* The relay is still there for the next client. */
  g_assert_true (sign_with (&r, 0));
  relay_teardown (&r);
}

static void
test_relay_allowlist (void)
{
  Relay r = { 0 };
  g_autofree char *allow = NULL;
  g_autofree char *list = NULL;

  if (!relay_setup (&r))
    return;
  allow = g_strdup_printf ("--allow=%s", r.fingerprints[1]);
  relay_start (&r, (const char *const[]){ allow, NULL });
  list = run_ok (r.env, (const char *const[]){ "ssh-add", "-l", NULL });
  g_assert_null (strstr (list, r.fingerprints[0]));
  g_assert_nonnull (strstr (list, r.fingerprints[1]));
  g_assert_false (sign_with (&r, 0));
  g_assert_true (sign_with (&r, 1));
  assert_agent_intact (&r);
  relay_teardown (&r);
}

static int
connect_relay (Relay *r)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpuint (strlen (r->relay_sock), <, sizeof addr.sun_path);
  strcpy (addr.sun_path, r->relay_sock);
  g_assert_cmpint (connect (fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  return fd;
}

static void
write_all (int fd, const void *data, gsize len)
{
  const guint8 *p = data;

  while (len > 0)
    {
      ssize_t n = send (fd, p, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return; /* the relay closed first: what the caller checks next */
      p += n;
      len -= (gsize)n;
    }
}

/* Reads until the relay closes the connection; returns what came. */
static GByteArray *
read_to_end (int fd)
{
  GByteArray *got = g_byte_array_new ();

  for (;;)
    {
      guint8 buf[4096];
      ssize_t n = recv (fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      g_byte_array_append (got, buf, (guint)n);
    }
  return got;
}

static void
test_relay_malformed (void)
{
  Relay r = { 0 };
  static const guint8 remove_all[] = { 0, 0, 0, 1, 19 };
  static const guint8 failure[] = { 0, 0, 0, 1, CBOX_SSH_AGENT_FAILURE };
  static const guint8 oversized[] = { 0, 0x10, 0, 0, 11 };
  static const guint8 zero_length[] = { 0, 0, 0, 0 };
  static const guint8 list_trailing[] = { 0, 0, 0, 2, 11, 0 };

  if (!relay_setup (&r))
    return;
  relay_start (&r, NULL);

  /* A refused request is answered, and the connection stays usable. */
  {
    int fd = connect_relay (&r);
    guint8 answer[5];

    write_all (fd, remove_all, sizeof remove_all);
    g_assert_cmpint (recv (fd, answer, sizeof answer, MSG_WAITALL), ==, sizeof answer);
    g_assert_cmpmem (answer, sizeof answer, failure, sizeof failure);
    write_all (fd, remove_all, sizeof remove_all);
    g_assert_cmpint (recv (fd, answer, sizeof answer, MSG_WAITALL), ==, sizeof answer);
    g_assert_cmpmem (answer, sizeof answer, failure, sizeof failure);
    close (fd);
  }

  /* Each of these closes its connection without an answer; the relay and
   * the agent go on. */
  {
    g_autoptr (GByteArray) key = make_key (0x11);
    g_autoptr (GByteArray) sign = make_sign_request (key);
    g_autoptr (GByteArray) cut = g_byte_array_new ();
    g_autoptr (GByteArray) huge = g_byte_array_new ();
    const GByteArray *bad[3];

    /* A sign request with its last byte missing, framed as complete. */
    put_u32 (cut, sign->len - 1);
    g_byte_array_append (cut, sign->data, sign->len - 1);
    /* A length just over the bound, followed by that many bytes. */
    put_u32 (huge, CBOX_SSH_AGENT_MAX_MESSAGE + 1);
    g_byte_array_set_size (huge, CBOX_SSH_AGENT_MAX_MESSAGE + 5);
    memset (huge->data + 4, 11, CBOX_SSH_AGENT_MAX_MESSAGE + 1);
    bad[0] = cut;
    bad[1] = huge;
    bad[2] = NULL;
    for (guint i = 0; i < 5; i++)
      {
        int fd = connect_relay (&r);
        g_autoptr (GByteArray) got = NULL;

        switch (i)
          {
          case 0:
            write_all (fd, oversized, sizeof oversized);
            break;
          case 1:
            write_all (fd, zero_length, sizeof zero_length);
            break;
          case 2:
            write_all (fd, list_trailing, sizeof list_trailing);
            break;
          default:
            write_all (fd, bad[i - 3]->data, bad[i - 3]->len);
            break;
          }
        got = read_to_end (fd);
        g_assert_cmpuint (got->len, ==, 0);
        close (fd);
        assert_agent_intact (&r);
      }
  }
  {
    g_autofree char *list = run_ok (r.env, (const char *const[]){ "ssh-add", "-l", NULL });
    g_assert_nonnull (strstr (list, r.fingerprints[0]));
  }
  relay_teardown (&r);
}

static void
test_relay_lifetime (void)
{
  Relay r = { 0 };
  g_autoptr (GError) error = NULL;

  if (!relay_setup (&r))
    return;
  relay_start (&r, NULL);
  /* A client connected: the relay still goes when the pipe closes. */
  {
    int fd = connect_relay (&r);

    close (r.sync_fd);
    r.sync_fd = -1;
    g_subprocess_wait (r.relay, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (g_subprocess_get_if_exited (r.relay));
    g_assert_cmpint (g_subprocess_get_exit_status (r.relay), ==, 0);
    close (fd);
  }
  g_assert_false (g_file_test (r.relay_sock, G_FILE_TEST_EXISTS));
  assert_agent_intact (&r);
  relay_teardown (&r);
}

static void
test_relay_bad_arguments (void)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto (GStrv) env = g_get_environ ();
  int status;

  out = run_tool (env,
                  (const char *const[]){ filter_path, "--agent=/a", "--listen=/b",
                                         "--allow=SHA256:nope", NULL },
                  &status, &err);
  g_assert_cmpint (status, ==, 2);
  g_assert_nonnull (strstr (err, "SHA256:nope"));
  g_free (out);
  g_free (err);
  out = run_tool (env, (const char *const[]){ filter_path, "--agent=relative", NULL }, &status,
                  &err);
  g_assert_cmpint (status, ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  filter_path = argc > 1 ? argv[1] : NULL;
  g_test_add_func ("/ssh/agent-msg/requests", test_msg_requests);
  g_test_add_func ("/ssh/agent-msg/fingerprint", test_msg_fingerprint);
  g_test_add_func ("/ssh/agent-msg/identities-answer", test_msg_identities_answer);
  if (filter_path != NULL)
    {
      g_test_add_func ("/ssh/agent-filter/list-and-sign", test_relay_list_and_sign);
      g_test_add_func ("/ssh/agent-filter/refuses-changes", test_relay_refuses_changes);
      g_test_add_func ("/ssh/agent-filter/allowlist", test_relay_allowlist);
      g_test_add_func ("/ssh/agent-filter/malformed", test_relay_malformed);
      g_test_add_func ("/ssh/agent-filter/lifetime", test_relay_lifetime);
      g_test_add_func ("/ssh/agent-filter/bad-arguments", test_relay_bad_arguments);
    }
  return g_test_run ();
}

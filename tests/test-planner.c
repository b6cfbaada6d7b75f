/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The planner against fake plugins (tests/planner-plugins/) and the test
 * backend: aliases, ordering, conflicts, the backend feature check with its
 * sentence, requested versus default forwarders that are unavailable,
 * provenance, prepare/cleanup. */

#include "config.h"

#include <string.h>

#include <unistd.h>

#include <glib/gstdio.h>

#include <json-glib/json-glib.h>

#include "cbox-json.h"
#include "cbox-test-util.h"

typedef struct
{
  CboxRegistry *registry;
  CboxHost *host;
  CboxRequest *request;
  char *project;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer user_data)
{
  g_autofree char *fakes = g_test_build_filename (G_TEST_BUILT, "planner-plugins", NULL);
  g_autofree char *backend = g_test_build_filename (G_TEST_BUILT, "backend-test", NULL);
  g_autofree char *home = cbox_test_make_dir ("home");
  g_autofree char *project = cbox_test_make_dir ("project");

  f->registry = cbox_registry_new ();
  cbox_registry_load_dir (f->registry, fakes);
  cbox_registry_load_dir (f->registry, backend);
  g_assert_nonnull (cbox_registry_lookup (f->registry, "fa"));
  g_assert_nonnull (cbox_registry_lookup (f->registry, "test"));

  f->host = cbox_host_new ();
  cbox_host_set_user (f->host, 1000, 1000, "user", home, "/bin/sh");
  cbox_host_set_caller_uid (f->host, 1000);
  cbox_host_setenv (f->host, "HOST_ONLY", "secret");
  cbox_host_setenv (f->host, "PASSED", "from-host");
  cbox_host_setenv (f->host, "EMPTY", "");

  f->project = realpath (project, NULL);
  f->request = cbox_request_new ();
  f->request->backend = g_strdup ("test");
  f->request->project_dir = g_strdup (f->project);
  f->request->command = g_strdupv ((char *[]){ (char *)"true", NULL });
  f->request->has_default_forwards = TRUE;
}

static void
fixture_teardown (Fixture *f, gconstpointer user_data)
{
  cbox_request_free (f->request);
  cbox_host_unref (f->host);
  cbox_registry_free (f->registry);
  free (f->project);
}

static void
add (Fixture *f, const char *name, gboolean requested)
{
  cbox_request_add_forward_op (f->request, CBOX_FORWARD_OP_ADD, name, requested,
                               requested ? "cli" : "config");
}

static CboxPlanner *
build_ok (Fixture *f)
{
  CboxPlanner *planner = cbox_planner_new (f->registry, f->host, f->request);
  g_autoptr (GError) error = NULL;

  cbox_planner_build (planner, &error);
  g_assert_no_error (error);
  return planner;
}

static GError *
build_error (Fixture *f)
{
  g_autoptr (CboxPlanner) planner = cbox_planner_new (f->registry, f->host, f->request);
  GError *error = NULL;

  g_assert_false (cbox_planner_build (planner, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  return error;
}

static const char *
skipped_reason (CboxPlan *plan, const char *name)
{
  for (guint i = 0; i < cbox_plan_get_n_skipped (plan); i++)
    {
      const char *reason = NULL;
      if (g_strcmp0 (cbox_plan_get_skipped (plan, i, &reason), name) == 0)
        return reason;
    }
  return NULL;
}

static void
assert_forwarders (CboxPlanner *planner, const char *const *expected)
{
  const char *const *forwarders = cbox_plan_get_forwarders (cbox_planner_get_plan (planner));
  const char *const empty[] = { NULL };

  g_assert_cmpstrv (forwarders != NULL ? forwarders : empty, expected);
}

#define NAMES(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NO_NAMES ((const char *const[]){ NULL })

static void
test_alias_single (Fixture *f, gconstpointer user_data)
{
  g_autoptr (CboxPlanner) planner = NULL;

  add (f, "devalias", TRUE);
  planner = build_ok (f);
  assert_forwarders (planner, NAMES ("fdev"));
}

static void
test_alias_multi_one_available (Fixture *f, gconstpointer user_data)
{
  g_autoptr (CboxPlanner) planner = NULL;

  /* "pair" names fa and fb: one that works is enough. */
  g_key_file_set_string (f->request->config, "fa", "available", "false");
  add (f, "pair", TRUE);
  planner = build_ok (f);
  assert_forwarders (planner, NAMES ("fb"));
  g_assert_cmpstr (skipped_reason (cbox_planner_get_plan (planner), "fa"), ==,
                   "fa is switched off");
}

static void
test_alias_multi_none_available (Fixture *f, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;

  g_key_file_set_string (f->request->config, "fa", "available", "false");
  g_key_file_set_string (f->request->config, "fb", "available", "false");
  add (f, "pair", TRUE);
  error = build_error (f);
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "'pair'"));
  g_assert_nonnull (strstr (error->message, "\n  fa: fa is switched off"));
  g_assert_nonnull (strstr (error->message, "\n  fb: fb is switched off"));
}

static void
test_alias_direct_wins (Fixture *f, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;

  /* Named directly, fa must work even though "pair" is also asked for. */
  g_key_file_set_string (f->request->config, "fa", "available", "false");
  add (f, "pair", TRUE);
  add (f, "fa", TRUE);
  error = build_error (f);
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "Forwarder 'fa' is unavailable: fa is switched off"));
}

static void
test_order_after (Fixture *f, gconstpointer user_data)
{
  g_autoptr (CboxPlanner) planner = NULL;
  CboxPlan *plan;

  /* fa comes after fb; fc and fdev keep their given places. */
  add (f, "fdev", TRUE);
  add (f, "fa", TRUE);
  add (f, "fsock", TRUE);
  add (f, "fb", TRUE);
  planner = build_ok (f);
  assert_forwarders (planner, NAMES ("fdev", "fsock", "fb", "fa"));
  plan = cbox_planner_get_plan (planner);
  g_assert_cmpstr (cbox_plan_get_env (plan, "FAKE_ORDER"), ==, "fdev,fsock,fb,fa");
}

static void
test_order_stable (Fixture *f, gconstpointer user_data)
{
  g_autoptr (CboxPlanner) planner = NULL;

  add (f, "fb", TRUE);
  add (f, "fsock", TRUE);
  add (f, "fa", TRUE);
  add (f, "fdev", TRUE);
  planner = build_ok (f);
  assert_forwarders (planner, NAMES ("fb", "fsock", "fa", "fdev"));
}

static void
test_feature_mismatch_requested (Fixture *f, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;

  g_free (f->request->backend);
  f->request->backend = g_strdup ("limited");
  add (f, "gpu", FALSE); /* a shipped plugin not built here is only skipped */
  add (f, "devalias", TRUE);
  error = build_error (f);
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED);
  g_assert_true (g_str_has_prefix (error->message,
                                   "fdev needs device binds; backend limited cannot provide them"));
}

static void
test_feature_mismatch_default (Fixture *f, gconstpointer user_data)
{
  g_autoptr (CboxPlanner) planner = NULL;

  g_free (f->request->backend);
  f->request->backend = g_strdup ("limited");
  add (f, "fdev", FALSE);
  add (f, "fa", FALSE);
  planner = build_ok (f);
  assert_forwarders (planner, NAMES ("fa"));
  g_assert_cmpstr (skipped_reason (cbox_planner_get_plan (planner), "fdev"), ==,
                   "fdev needs device binds; backend limited cannot provide them");
}

static void
test_feature_mismatch_alias (Fixture *f, gconstpointer user_data)
{
  g_free (f->request->backend);
  f->request->backend = g_strdup ("limited");

  /* "mixed" is fdev (devices: not on this backend) and fsock: one is
   * enough. */
  {
    g_autoptr (CboxPlanner) planner = NULL;
    add (f, "mixed", TRUE);
    planner = build_ok (f);
    assert_forwarders (planner, NAMES ("fsock"));
    g_assert_cmpstr (skipped_reason (cbox_planner_get_plan (planner), "fdev"), ==,
                     "fdev needs device binds; backend limited cannot provide them");
  }
  /* With fsock left out, none is left: an error naming the alias and why
   * its members went. */
  {
    g_autoptr (GError) error = NULL;
    g_key_file_set_string (f->request->config, "fsock", "available", "false");
    error = build_error (f);
    g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
    g_assert_cmpstr (error->message, ==,
                     "Forwarder 'mixed' cannot be used, none of its plugins works here:\n"
                     "  fdev: fdev needs device binds; backend limited cannot provide them\n"
                     "  fsock: fsock is switched off");
  }
  /* Left out by the user, no member is missed. */
  {
    g_autoptr (CboxPlanner) planner = NULL;
    g_ptr_array_set_size (f->request->forward_ops, 0);
    add (f, "mixed", TRUE);
    cbox_request_add_forward_op (f->request, CBOX_FORWARD_OP_REMOVE, "fsock", TRUE, "cli");
    cbox_request_add_forward_op (f->request, CBOX_FORWARD_OP_REMOVE, "fdev", TRUE, "cli");
    planner = build_ok (f);
    assert_forwarders (planner, NO_NAMES);
  }
}

static void
test_feature_dynamic (Fixture *f, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;

  /* fsock declares binds only, then adds a socket: the check of the
   * finished plan catches it. */
  g_free (f->request->backend);
  f->request->backend = g_strdup ("limited");
  g_key_file_set_string (f->request->config, "fsock", "socket", "true");
  add (f, "fsock", TRUE);
  error = build_error (f);
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "fsock needs unix-socket binds"));
  g_assert_nonnull (strstr (error->message, "backend limited cannot provide them"));
}

/* Optional means optional: the same forwarder from a default (or
 * forward-optional) is left out with the reason, and nothing it added
 * stays in the plan; through an alias, the alias fails only when no
 * member is left. */
static void
test_feature_dynamic_optional (Fixture *f, gconstpointer user_data)
{
  g_free (f->request->backend);
  f->request->backend = g_strdup ("limited");
  g_key_file_set_string (f->request->config, "fsock", "socket", "true");
  {
    g_autoptr (CboxPlanner) planner = NULL;
    CboxPlan *plan;
    const char *reason;

    add (f, "fa", FALSE);
    add (f, "fsock", FALSE);
    add (f, "fb", FALSE);
    planner = build_ok (f);
    assert_forwarders (planner, NAMES ("fb", "fa"));
    plan = cbox_planner_get_plan (planner);
    /* fsock's variables and its socket are gone; the others' stay. */
    g_assert_cmpstr (cbox_plan_get_env (plan, "FAKE_ORDER"), ==, "fb,fa");
    g_assert_null (cbox_plan_get_env (plan, "FAKE_FSOCK"));
    g_assert_cmpstr (cbox_plan_get_env (plan, "FAKE_FB"), ==, "1");
    for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
      g_assert_cmpint (cbox_plan_get_mount (plan, i)->kind, !=, CBOX_MOUNT_SOCKET);
    reason = skipped_reason (plan, "fsock");
    g_assert_nonnull (reason);
    g_assert_true (g_str_has_prefix (reason, "fsock needs unix-socket binds (socket "));
    g_assert_true (g_str_has_suffix (reason, "; backend limited cannot provide them"));
  }
  /* Through "mixed" (fdev and fsock), with neither left: an error. */
  {
    g_autoptr (GError) error = NULL;
    g_ptr_array_set_size (f->request->forward_ops, 0);
    add (f, "mixed", TRUE);
    error = build_error (f);
    g_assert_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED);
    g_assert_nonnull (strstr (error->message, "Forwarder 'mixed' cannot be used"));
    g_assert_nonnull (strstr (error->message, "fsock: fsock needs unix-socket binds"));
  }
}

static void
test_unavailable_requested_vs_default (Fixture *f, gconstpointer user_data)
{
  g_key_file_set_string (f->request->config, "fb", "available", "false");

  {
    g_autoptr (CboxPlanner) planner = NULL;
    add (f, "fb", FALSE);
    planner = build_ok (f);
    assert_forwarders (planner, NO_NAMES);
    g_assert_cmpstr (skipped_reason (cbox_planner_get_plan (planner), "fb"), ==,
                     "fb is switched off");
  }
  {
    g_autoptr (GError) error = NULL;
    add (f, "fb", TRUE);
    error = build_error (f);
    g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
    g_assert_cmpstr (error->message, ==, "Forwarder 'fb' is unavailable: fb is switched off");
  }
}

/* A plugin shipped with cbox but not there (only fakes are): skipped as a
 * default, an error when asked for. A name nothing answers to: a typo, an
 * error either way (issue 17). */
static void
test_unknown_requested_vs_default (Fixture *f, gconstpointer user_data)
{
  {
    g_autoptr (CboxPlanner) planner = NULL;
    add (f, "x11", FALSE);
    planner = build_ok (f);
    g_assert_nonnull (skipped_reason (cbox_planner_get_plan (planner), "x11"));
  }
  {
    g_autoptr (GError) error = NULL;
    add (f, "x11", TRUE);
    error = build_error (f);
    g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
    g_assert_nonnull (strstr (error->message, "'x11'"));
  }
  for (guint requested = 0; requested < 2; requested++)
    {
      g_autoptr (GError) error = NULL;
      g_ptr_array_set_size (f->request->forward_ops, 0);
      add (f, "fsokc", requested);
      error = build_error (f);
      g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
      g_assert_nonnull (strstr (error->message, "Unknown forwarder 'fsokc'"));
      g_assert_nonnull (strstr (error->message, "did you mean 'fsock'?"));
    }
  {
    g_autoptr (GError) error = NULL;
    /* A backend is not a forwarder. */
    g_ptr_array_set_size (f->request->forward_ops, 0);
    add (f, "limited", TRUE);
    error = build_error (f);
    g_assert_nonnull (strstr (error->message, "is a backend"));
  }
}

static void
test_conflicts (Fixture *f, gconstpointer user_data)
{
  {
    g_autoptr (CboxPlanner) planner = NULL;
    add (f, "fc", FALSE);
    add (f, "fa", TRUE);
    planner = build_ok (f);
    assert_forwarders (planner, NAMES ("fa"));
    g_assert_cmpstr (skipped_reason (cbox_planner_get_plan (planner), "fc"), ==,
                     "conflicts with 'fa'");
  }
  {
    g_autoptr (GError) error = NULL;
    add (f, "fc", TRUE);
    error = build_error (f);
    g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "'fc' and 'fa'"));
  }
}

static void
test_remove_and_clear (Fixture *f, gconstpointer user_data)
{
  g_autoptr (CboxPlanner) planner = NULL;

  add (f, "fa", FALSE);
  add (f, "fb", FALSE);
  add (f, "fdev", FALSE);
  cbox_request_add_forward_op (f->request, CBOX_FORWARD_OP_REMOVE, "pair", TRUE, "cli");
  /* A plugin shipped with cbox that is not there (only fakes are): no
   * error, there is nothing to leave out. */
  cbox_request_add_forward_op (f->request, CBOX_FORWARD_OP_REMOVE, "x11", TRUE, "cli");
  planner = build_ok (f);
  assert_forwarders (planner, NAMES ("fdev"));

  {
    g_autoptr (CboxPlanner) cleared = NULL;
    cbox_request_add_forward_op (f->request, CBOX_FORWARD_OP_CLEAR, NULL, TRUE, "cli");
    add (f, "fsock", TRUE);
    cleared = build_ok (f);
    assert_forwarders (cleared, NAMES ("fsock"));
  }
}

static void
test_plugin_defaults (Fixture *f, gconstpointer user_data)
{
  g_autoptr (CboxPlanner) planner = NULL;

  /* No configured list: the descriptors' default_enabled (none of the
   * fakes) apply; nothing breaks. */
  f->request->has_default_forwards = FALSE;
  planner = build_ok (f);
  assert_forwarders (planner, NO_NAMES);
}

static void
test_backend_errors (Fixture *f, gconstpointer user_data)
{
  {
    g_autoptr (GError) error = NULL;
    g_free (f->request->backend);
    f->request->backend = g_strdup ("nosuch");
    error = build_error (f);
    g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
    g_assert_nonnull (strstr (error->message, "No backend named 'nosuch'"));
    g_assert_nonnull (strstr (error->message, "test"));
  }
  {
    g_autoptr (GError) error = NULL;
    g_free (f->request->backend);
    f->request->backend = g_strdup ("fa");
    error = build_error (f);
    g_assert_nonnull (strstr (error->message, "No backend named 'fa'"));
  }
  {
    g_autoptr (GError) error = NULL;
    g_free (f->request->backend);
    f->request->backend = g_strdup ("test");
    g_key_file_set_string (f->request->config, "test", "available", "false");
    g_key_file_set_string (f->request->config, "test", "reason", "no such tool");
    error = build_error (f);
    g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
    g_assert_nonnull (strstr (error->message, "Backend 'test' is unavailable: no such tool"));
  }
}

static void
test_provenance_and_user_items (Fixture *f, gconstpointer user_data)
{
  g_autoptr (CboxPlanner) planner = NULL;
  g_autofree char *file = g_build_filename (f->project, "seed.json", NULL);
  CboxPlan *plan;
  const CboxMount *mount;
  guint n;

  g_assert_true (g_file_set_contents (file, "{}", -1, NULL));
  add (f, "fa", TRUE);
  cbox_request_add_bind (f->request, CBOX_BIND_RO, "/usr/share", "/opt/share", FALSE, "cli");
  cbox_request_add_bind (f->request, CBOX_BIND_RW, "/nonexistent", "/nonexistent", TRUE, "profile");
  cbox_request_add_bind (f->request, CBOX_BIND_COPY, file, "/home/copy.json", FALSE, "cli");
  cbox_request_add_env (f->request, "PASSED", NULL, "cli");
  cbox_request_add_env (f->request, "EMPTY", NULL, "cli");
  cbox_request_add_env (f->request, "UNSET_ON_HOST", NULL, "profile");
  cbox_request_add_env (f->request, "FIXED", "value", "profile");
  planner = build_ok (f);
  plan = cbox_planner_get_plan (planner);

  /* Nothing of the host's environment that was not asked for. */
  g_assert_null (cbox_plan_get_env (plan, "HOST_ONLY"));
  g_assert_null (cbox_plan_get_env (plan, "EMPTY"));
  g_assert_null (cbox_plan_get_env (plan, "UNSET_ON_HOST"));
  g_assert_cmpstr (cbox_plan_get_env (plan, "PASSED"), ==, "from-host");
  g_assert_cmpstr (cbox_plan_get_env (plan, "FIXED"), ==, "value");
  for (guint i = 0; i < cbox_plan_get_n_env (plan); i++)
    {
      const CboxEnvVar *var = cbox_plan_get_env_var (plan, i);
      if (g_str_equal (var->name, "PASSED"))
        g_assert_cmpstr (var->origin, ==, "cli");
      if (g_str_equal (var->name, "FIXED"))
        g_assert_cmpstr (var->origin, ==, "profile");
      if (g_str_equal (var->name, "FAKE_FA"))
        g_assert_cmpstr (var->origin, ==, "fa");
      if (g_str_equal (var->name, "HOME"))
        g_assert_cmpstr (var->origin, ==, "core");
    }

  mount = cbox_plan_find_mount (plan, "/opt/share");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RO);
  g_assert_cmpstr (mount->origin, ==, "cli");
  mount = cbox_plan_find_mount (plan, "/nonexistent");
  g_assert_nonnull (mount);
  g_assert_true (mount->flags & CBOX_MOUNT_FLAG_ALLOW_MISSING);
  g_assert_cmpstr (mount->origin, ==, "profile");
  mount = cbox_plan_find_mount (plan, "/home/copy.json");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_DATA);
  g_assert_true (mount->flags & CBOX_MOUNT_FLAG_WRITABLE);

  /* The project comes last, so nothing hides it, and is the cwd. */
  n = cbox_plan_get_n_mounts (plan);
  mount = cbox_plan_get_mount (plan, n - 1);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_RW);
  g_assert_cmpstr (mount->dest, ==, f->project);
  g_assert_cmpstr (cbox_plan_get_cwd (plan), ==, f->project);
  g_assert_cmpstr (cbox_plan_get_mount (plan, 0)->origin, ==, "core");
  g_assert_cmpstrv (cbox_plan_get_command (plan), NAMES ("true"));
}

static void
test_copy_missing (Fixture *f, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;

  cbox_request_add_bind (f->request, CBOX_BIND_COPY, "/nonexistent.json", "/x.json", FALSE, "cli");
  error = build_error (f);
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "/nonexistent.json"));
}

static void
test_network_and_context (Fixture *f, gconstpointer user_data)
{
  g_autoptr (CboxPlanner) planner = NULL;
  CboxContext *ctx;

  f->request->network = FALSE;
  f->request->profile = g_strdup ("claude");
  planner = build_ok (f);
  g_assert_false (cbox_plan_get_network (cbox_planner_get_plan (planner)));
  ctx = cbox_planner_get_backend_context (planner);
  g_assert_cmpstr (cbox_context_get_backend (ctx), ==, "test");
  g_assert_cmpstr (cbox_context_get_profile (ctx), ==, "claude");
  g_assert_false (cbox_context_get_network (ctx));
  g_assert_cmpuint (strlen (cbox_context_get_instance_id (ctx)), ==, 16);
}

static void
test_instance_ids_differ (Fixture *f, gconstpointer user_data)
{
  g_autoptr (CboxPlanner) a = build_ok (f);
  g_autoptr (CboxPlanner) b = build_ok (f);

  g_assert_cmpstr (cbox_context_get_instance_id (cbox_planner_get_backend_context (a)), !=,
                   cbox_context_get_instance_id (cbox_planner_get_backend_context (b)));
}

static char *
read_trace (const char *path)
{
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return g_strdup ("");
  return contents;
}

static void
test_run (Fixture *f, gconstpointer user_data)
{
  g_autofree char *dir = cbox_test_make_dir ("run");
  g_autofree char *output = g_build_filename (dir, "plan.json", NULL);
  g_autofree char *trace = g_build_filename (dir, "trace", NULL);
  g_autofree char *made = g_build_filename (dir, "made", "deep", NULL);
  g_autoptr (CboxPlanner) planner = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *trace_text = NULL;
  JsonObject *root;
  int status = -1;

  g_key_file_set_string (f->request->config, "test", "output", output);
  g_key_file_set_string (f->request->config, "test", "exit-status", "3");
  g_key_file_set_string (f->request->config, "fa", "trace", trace);
  g_key_file_set_string (f->request->config, "fb", "trace", trace);
  f->request->mkdirs = g_strdupv ((char *[]){ made, NULL });
  add (f, "fa", TRUE);
  add (f, "fb", TRUE);
  planner = build_ok (f);

  /* Planning has no side effects on the host. */
  g_assert_false (g_file_test (made, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (output, G_FILE_TEST_EXISTS));

  g_assert_true (cbox_planner_run (planner, &status, &error));
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 3);
  g_assert_true (g_file_test (made, G_FILE_TEST_IS_DIR));
  trace_text = read_trace (trace);
  g_assert_cmpstr (trace_text, ==, "prepare fb\nprepare fa\ncleanup fa\ncleanup fb\n");

  json_parser_load_from_file (parser, output, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (root, "schema"), ==, "cbox-plan");
  g_assert_cmpint (json_object_get_int_member (root, "version"), ==, CBOX_JSON_VERSION);
  g_assert_cmpstr (json_object_get_string_member (root, "cwd"), ==, f->project);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (root, "forwarders")), ==,
                    2);
}

static void
test_run_failure_cleans_up (Fixture *f, gconstpointer user_data)
{
  g_autofree char *dir = cbox_test_make_dir ("run-fail");
  g_autofree char *trace = g_build_filename (dir, "trace", NULL);
  g_autoptr (CboxPlanner) planner = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *trace_text = NULL;
  int status = -1;

  g_key_file_set_string (f->request->config, "test", "fail-run", "true");
  g_key_file_set_string (f->request->config, "fa", "trace", trace);
  add (f, "fa", TRUE);
  planner = build_ok (f);
  g_assert_false (cbox_planner_run (planner, &status, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_BACKEND);
  g_assert_true (g_str_has_prefix (error->message, "Backend 'test': "));
  trace_text = read_trace (trace);
  g_assert_cmpstr (trace_text, ==, "prepare fa\ncleanup fa\n");
}

static void
test_mkdir_for_other_user (Fixture *f, gconstpointer user_data)
{
  const char *home = cbox_host_get_home_dir (f->host);
  g_autofree char *deep = g_build_filename (home, ".claude", "sub", NULL);
  g_autofree char *parent = g_build_filename (home, ".claude", NULL);
  g_autofree char *elsewhere = cbox_test_make_dir ("elsewhere");
  g_autofree char *link = g_build_filename (home, "link", NULL);
  g_autofree char *through_link = g_build_filename (link, "x", NULL);
  g_autofree char *output = g_build_filename (elsewhere, "plan.json", NULL);
  GStatBuf st;

  if (geteuid () != 0)
    {
      g_test_skip ("making folders for another user needs root");
      return;
    }
  g_key_file_set_string (f->request->config, "test", "output", output);
  g_assert_cmpint (symlink (elsewhere, link), ==, 0);

  /* As root for uid 1000: made in the home, given to the user. */
  {
    g_autoptr (CboxPlanner) planner = NULL;
    g_autoptr (GError) error = NULL;
    int status = -1;

    f->request->mkdirs = g_strdupv ((char *[]){ deep, NULL });
    planner = build_ok (f);
    g_assert_true (cbox_planner_run (planner, &status, &error));
    g_assert_no_error (error);
    g_assert_cmpint (g_stat (parent, &st), ==, 0);
    g_assert_cmpuint (st.st_uid, ==, 1000);
    g_assert_cmpuint (st.st_mode & 07777, ==, 0700);
    g_assert_cmpint (g_stat (deep, &st), ==, 0);
    g_assert_cmpuint (st.st_uid, ==, 1000);
  }
  /* A symlink the user put in their home is not followed. */
  {
    g_autoptr (CboxPlanner) planner = NULL;
    g_autoptr (GError) error = NULL;
    g_autofree char *made = g_build_filename (elsewhere, "x", NULL);
    int status = -1;

    g_strfreev (f->request->mkdirs);
    f->request->mkdirs = g_strdupv ((char *[]){ through_link, NULL });
    planner = build_ok (f);
    g_assert_false (cbox_planner_run (planner, &status, &error));
    g_assert_error (error, CBOX_ERROR, CBOX_ERROR_FAILED);
    g_assert_nonnull (strstr (error->message, "symlink"));
    g_assert_false (g_file_test (made, G_FILE_TEST_EXISTS));
  }
}

static void
test_signal_during_prepare (Fixture *f, gconstpointer user_data)
{
  g_autofree char *dir = cbox_test_make_dir ("signal");
  g_autofree char *trace = g_build_filename (dir, "trace", NULL);
  g_autofree char *output = g_build_filename (dir, "plan.json", NULL);
  g_autoptr (CboxPlanner) planner = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *trace_text = NULL;
  int status = -1;

  /* A SIGTERM while fb prepares: fa is not prepared, the command does not
   * run, fb is cleaned up, and the status is 128+15. */
  g_key_file_set_string (f->request->config, "test", "output", output);
  g_key_file_set_string (f->request->config, "fa", "trace", trace);
  g_key_file_set_string (f->request->config, "fb", "trace", trace);
  g_key_file_set_string (f->request->config, "fb", "raise", "15");
  add (f, "fa", TRUE);
  add (f, "fb", TRUE);
  planner = build_ok (f);
  g_assert_true (cbox_planner_run (planner, &status, &error));
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 128 + 15);
  g_assert_false (g_file_test (output, G_FILE_TEST_EXISTS));
  trace_text = read_trace (trace);
  g_assert_cmpstr (trace_text, ==, "prepare fb\ncleanup fb\n");
}

static void
test_json_non_utf8 (Fixture *f, gconstpointer user_data)
{
  g_autoptr (CboxPlanner) planner = NULL;
  g_autofree char *text = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autofree guchar *decoded = NULL;
  gsize len;
  JsonObject *root;

  g_strfreev (f->request->command);
  f->request->command = g_strdupv ((char *[]){ (char *)"echo", (char *)"bad\xff", NULL });
  cbox_request_add_bind (f->request, CBOX_BIND_RO, "/usr/\xfe", "/opt/\xfe", TRUE, "cli");
  planner = build_ok (f);
  text
      = cbox_json_plan (cbox_planner_get_plan (planner), cbox_planner_get_backend_context (planner),
                        cbox_planner_get_launch (planner), CBOX_JSON_NONE);
  g_assert_true (g_utf8_validate (text, -1, NULL));
  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  decoded = g_base64_decode (
      json_array_get_string_element (json_object_get_array_member (root, "command_base64"), 1),
      &len);
  g_assert_cmpmem (decoded, len, "bad\xff", 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/core/planner/alias/single", test_alias_single);
  ADD ("/core/planner/alias/multi-one-available", test_alias_multi_one_available);
  ADD ("/core/planner/alias/multi-none-available", test_alias_multi_none_available);
  ADD ("/core/planner/alias/direct-wins", test_alias_direct_wins);
  ADD ("/core/planner/order/after", test_order_after);
  ADD ("/core/planner/order/stable", test_order_stable);
  ADD ("/core/planner/features/requested", test_feature_mismatch_requested);
  ADD ("/core/planner/features/default", test_feature_mismatch_default);
  ADD ("/core/planner/features/dynamic", test_feature_dynamic);
  ADD ("/core/planner/features/dynamic-optional", test_feature_dynamic_optional);
  ADD ("/core/planner/features/alias", test_feature_mismatch_alias);
  ADD ("/core/planner/unavailable/requested-vs-default", test_unavailable_requested_vs_default);
  ADD ("/core/planner/unavailable/unknown", test_unknown_requested_vs_default);
  ADD ("/core/planner/conflicts", test_conflicts);
  ADD ("/core/planner/remove-and-clear", test_remove_and_clear);
  ADD ("/core/planner/plugin-defaults", test_plugin_defaults);
  ADD ("/core/planner/backend-errors", test_backend_errors);
  ADD ("/core/planner/provenance", test_provenance_and_user_items);
  ADD ("/core/planner/copy-missing", test_copy_missing);
  ADD ("/core/planner/network-and-context", test_network_and_context);
  ADD ("/core/planner/instance-ids", test_instance_ids_differ);
  ADD ("/core/planner/run", test_run);
  ADD ("/core/planner/run-failure-cleans-up", test_run_failure_cleans_up);
  ADD ("/core/planner/json-non-utf8", test_json_non_utf8);
  ADD ("/core/planner/signal-during-prepare", test_signal_during_prepare);
  ADD ("/core/planner/mkdir-for-other-user", test_mkdir_for_other_user);
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The plugin descriptor cache ($XDG_CACHE_HOME/cbox/plugins.cache, see
 * docs/architecture.md) through the built cbox. Each test copies the fake
 * plugins (tests/planner-plugins/) and the test backend into a folder of
 * its own, the only one on CBOX_PLUGIN_PATH, so that it can replace files.
 * The fakes append "loaded NAME" to $FAKE_LOAD_LOG when they are opened:
 * that is how a test sees which files a run really dlopen()ed. */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <cbox/cbox-plugin.h>

#include "cbox-plugin-cache.h"
#include "cbox-test-util.h"

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Every fake copied into the folder, as the load log names them. */
#define ALL_FAKES "fa fb fc fdev fsock limited"
/* `cbox plugins` opens each file twice: in a child first, which may crash
 * or hang without harm (core/cbox-guard.c), then itself. */
#define ALL_FAKES_TWICE "fa fa fb fb fc fc fdev fdev fsock fsock limited limited"

/* A run with the `limited` fake backend and the two forwarders of the
 * alias "pair" (fa goes after fb); nothing configured is added. A run, not
 * `cbox plan`, since only a run writes the cache; the fake backend prints
 * the lines of the plan the tests look at. */
#define PAIR_PLAN "--backend=limited", "--forward=none,pair", "run", "--", "true"

typedef struct
{
  char *plugins;   /* the test's plugin folder, alone on CBOX_PLUGIN_PATH */
  char *project;   /* where cbox runs */
  char *log;       /* $FAKE_LOAD_LOG */
  char *cache_dir; /* $XDG_CACHE_HOME/cbox */
  char *cache;     /* $XDG_CACHE_HOME/cbox/plugins.cache */
  char **envp;
} Fixture;

static void
copy_file (const char *from, const char *to)
{
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  gsize len;

  g_file_get_contents (from, &contents, &len, &error);
  g_assert_no_error (error);
  g_file_set_contents_full (to, contents, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT, 0755,
                            &error);
  g_assert_no_error (error);
}

static char *
plugin_path (Fixture *f, const char *name)
{
  g_autofree char *file = g_strdup_printf ("libcbox-%s.so", name);

  return g_build_filename (f->plugins, file, NULL);
}

static void
fixture_setup (Fixture *f, gconstpointer user_data)
{
  const char *fakes[] = { "fa", "fb", "fc", "fdev", "fsock", "limited" };
  g_autofree char *backend
      = g_test_build_filename (G_TEST_BUILT, "backend-test", "libcbox-test.so", NULL);
  g_autofree char *backend_copy = NULL;
  g_autofree char *scratch = cbox_test_make_dir ("cache-test");
  g_autofree char *path_setting = NULL;
  g_autofree char *log_setting = NULL;

  f->plugins = g_build_filename (scratch, "plugins", NULL);
  f->project = g_build_filename (scratch, "project", NULL);
  f->log = g_build_filename (scratch, "load.log", NULL);
  g_assert_cmpint (g_mkdir (f->plugins, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (f->project, 0755), ==, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (fakes); i++)
    {
      g_autofree char *file = g_strdup_printf ("libcbox-%s.so", fakes[i]);
      g_autofree char *from = g_test_build_filename (G_TEST_BUILT, "planner-plugins", file, NULL);
      g_autofree char *to = plugin_path (f, fakes[i]);

      copy_file (from, to);
    }
  backend_copy = plugin_path (f, "test");
  copy_file (backend, backend_copy);

  path_setting = g_strconcat ("CBOX_PLUGIN_PATH=", f->plugins, NULL);
  log_setting = g_strconcat ("FAKE_LOAD_LOG=", f->log, NULL);
  f->envp = cbox_test_environ (ARGS (path_setting, log_setting));
  f->cache_dir = g_build_filename (g_environ_getenv (f->envp, "XDG_CACHE_HOME"), "cbox", NULL);
  f->cache = g_build_filename (f->cache_dir, "plugins.cache", NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer user_data)
{
  g_free (f->plugins);
  g_free (f->project);
  g_free (f->log);
  g_free (f->cache_dir);
  g_free (f->cache);
  g_strfreev (f->envp);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

/* The plugins the run opened, by name, sorted and separated by spaces. */
static char *
loaded_plugins (Fixture *f)
{
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new ();

  if (!g_file_get_contents (f->log, &contents, NULL, NULL))
    return g_strdup ("");
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (lines[i][0] == '\0')
        continue;
      g_assert_true (g_str_has_prefix (lines[i], "loaded "));
      g_ptr_array_add (names, lines[i] + strlen ("loaded "));
    }
  g_ptr_array_sort (names, compare_strings);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **)names->pdata);
}

/* Runs cbox in @f's environment, in @cwd (NULL: the project folder), and
 * returns the plugins it opened (loaded_plugins()). */
static char *
run_in (Fixture *f, const char *cwd, const char *const *args, CboxTestResult *result)
{
  g_assert_true (g_unlink (f->log) == 0 || errno == ENOENT);
  g_assert_true (cbox_test_run (args, cwd != NULL ? cwd : f->project, (const char *const *)f->envp,
                                NULL, result));
  return loaded_plugins (f);
}

static char *
run (Fixture *f, const char *const *args, CboxTestResult *result)
{
  return run_in (f, NULL, args, result);
}

#define assert_loaded(f, args, result, expected)                                                   \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_autofree char *loaded_ = run ((f), (args), (result));                                        \
    g_assert_cmpstr (loaded_, ==, (expected));                                                     \
  }                                                                                                \
  G_STMT_END

typedef struct
{
  guint found;
  guint rejected;
  guint cached;
} Counts;

/* The counts of `cbox -v`'s first line, which names the cache file too. */
static Counts
verbose_counts (Fixture *f, const CboxTestResult *result)
{
  g_autofree char *tail = g_strdup_printf (" described by the cache %s) in ", f->cache);
  const char *line = strstr (result->err, "cbox: ");
  Counts counts = { 0 };

  if (line == NULL || strstr (line, tail) == NULL
      || sscanf (line, "cbox: %u plugins found (%u rejected, %u", &counts.found, &counts.rejected,
                 &counts.cached)
             != 3)
    g_error ("no plugin count in cbox -v's output:\n%s", result->err);
  return counts;
}

/* The plan of PAIR_PLAN, as it must be whatever the cache holds (as the
 * `limited` backend prints it). */
static void
assert_pair_plan (const CboxTestResult *result)
{
  cbox_test_assert_status (result, 0);
  g_assert_nonnull (strstr (result->out, "backend:     limited\n"));
  g_assert_nonnull (strstr (result->out, "forwarders:  fb fa\n"));
  g_assert_nonnull (strstr (result->out, "FAKE_ORDER=fb,fa "));
}

static void
assert_mode (const char *path, mode_t expected)
{
  struct stat st;

  g_assert_cmpint (lstat (path, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, geteuid ());
  g_assert_cmpint (st.st_mode & 07777, ==, expected);
}

static char *
read_cache (Fixture *f)
{
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;

  g_file_get_contents (f->cache, &contents, NULL, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&contents);
}

/* Writes the cache as a user editing it would (mode 0600, so that it is
 * still trusted). CONSISTENT: a temporary file renamed over it, as GLib
 * 2.74 writes in place without truncating otherwise. */
static void
write_cache (Fixture *f, const char *contents)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents_full (f->cache, contents, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error);
  g_assert_no_error (error);
  assert_mode (f->cache, 0600);
}

/* A time long past, set on the cache file: a cache that cbox rewrites has
 * the time of now, which is how a test sees whether it did (an inode number
 * may be reused, a time in 2001 is not). */
#define MARK_TIME 1000000000

static void
mark_cache (Fixture *f)
{
  const struct timespec times[2] = { { MARK_TIME, 0 }, { MARK_TIME, 0 } };

  g_assert_cmpint (utimensat (AT_FDCWD, f->cache, times, AT_SYMLINK_NOFOLLOW), ==, 0);
}

static gboolean
cache_is_marked (Fixture *f)
{
  struct stat st;

  g_assert_cmpint (lstat (f->cache, &st), ==, 0);
  return st.st_mtim.tv_sec == MARK_TIME && st.st_mtim.tv_nsec == 0;
}

/* The fields of a line of the cache, after its first line (see
 * core/cbox-plugin-cache.c), separated by tabs. */
typedef enum
{
  FIELD_PATH,
  FIELD_STAMP,
  FIELD_NAME,
  FIELD_KIND,
  FIELD_ABI_MINOR,
  FIELD_FEATURES,
  FIELD_DEFAULT_ENABLED,
  FIELD_ALIASES,
  FIELD_AFTER,
  FIELD_CONFLICTS,
  FIELD_VERSION,
  FIELD_DESCRIPTION,
  N_FIELDS
} Field;

/* Whether @contents, a cache, has a line for the file at @path. */
static gboolean
cache_describes (const char *contents, const char *path)
{
  g_autofree char *escaped = g_strescape (path, NULL);
  g_autofree char *start = g_strconcat ("\n", escaped, "\t", NULL);

  return strstr (contents, start) != NULL;
}

/* Sets @field of the cache's line for @path (NULL: of every line) to
 * @value, keeping the rest, the stamp included. */
static void
rewrite_cache (Fixture *f, const char *path, Field field, const char *value)
{
  g_autofree char *contents = read_cache (f);
  g_auto (GStrv) lines = g_strsplit (contents, "\n", -1);
  g_autofree char *rewritten = NULL;
  gboolean found = FALSE;

  for (guint i = 1; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = g_strsplit (lines[i], "\t", -1);
      g_autofree char *entry_path = NULL;

      if (g_strv_length (fields) != N_FIELDS)
        continue;
      entry_path = g_strcompress (fields[FIELD_PATH]);
      if (path != NULL && !g_str_equal (entry_path, path))
        continue;
      g_free (fields[field]);
      fields[field] = g_strdup (value);
      g_free (lines[i]);
      lines[i] = g_strjoinv ("\t", fields);
      found = TRUE;
    }
  g_assert_true (found);
  rewritten = g_strjoinv ("\n", lines);
  write_cache (f, rewritten);
}

/* A cache that claims of plugin file @name what the file does not. */
static void
tamper_cache (Fixture *f, const char *name, Field field, const char *value)
{
  g_autofree char *path = plugin_path (f, name);

  rewrite_cache (f, path, field, value);
}

/* The first run opens every plugin file, writes the cache (0600, in a
 * folder of 0700) and plans as without a cache. */
static void
test_cold (Fixture *f, gconstpointer user_data)
{
  g_auto (CboxTestResult) result = { 0 };
  g_autofree char *contents = NULL;
  Counts counts;

  g_assert_false (g_file_test (f->cache_dir, G_FILE_TEST_EXISTS));
  assert_loaded (f, ARGS ("-v", PAIR_PLAN), &result, ALL_FAKES);
  assert_pair_plan (&result);
  counts = verbose_counts (f, &result);
  /* The seven of the folder, and whatever is installed. */
  g_assert_cmpuint (counts.found, >=, 7);
  g_assert_cmpuint (counts.cached, ==, 0);

  assert_mode (f->cache_dir, 0700);
  assert_mode (f->cache, 0600);
  contents = read_cache (f);
  for (const char *const *name = ARGS ("fa", "fb", "fc", "fdev", "fsock", "limited", "test");
       *name != NULL; name++)
    {
      g_autofree char *path = plugin_path (f, *name);

      if (!cache_describes (contents, path))
        g_error ("%s is not in the cache:\n%s", path, contents);
    }
}

/* The same command again opens only the backend and the forwarders of the
 * plan, leaves the cache as it is, and plans the same. */
static void
test_warm (Fixture *f, gconstpointer user_data)
{
  g_auto (CboxTestResult) cold = { 0 };
  g_auto (CboxTestResult) warm = { 0 };
  g_auto (CboxTestResult) other = { 0 };
  g_auto (CboxTestResult) run_result = { 0 };
  Counts cold_counts;
  Counts warm_counts;

  assert_loaded (f, ARGS ("-v", PAIR_PLAN), &cold, ALL_FAKES);
  assert_pair_plan (&cold);
  mark_cache (f);

  assert_loaded (f, ARGS ("-v", PAIR_PLAN), &warm, "fa fb limited");
  assert_pair_plan (&warm);
  g_assert_cmpstr (warm.out, ==, cold.out);
  cold_counts = verbose_counts (f, &cold);
  warm_counts = verbose_counts (f, &warm);
  g_assert_cmpuint (warm_counts.found, ==, cold_counts.found);
  g_assert_cmpuint (warm_counts.rejected, ==, 0);
  g_assert_cmpuint (warm_counts.cached, ==, cold_counts.found);
  /* Nothing changed, so nothing was written. */
  g_assert_true (cache_is_marked (f));

  /* Another plan from the same cache opens its own forwarder only. */
  assert_loaded (f, ARGS ("--backend=limited", "--forward=none,fsock", "run", "--", "true"), &other,
                 "fsock limited");
  cbox_test_assert_status (&other, 0);
  g_assert_nonnull (strstr (other.out, "FAKE_FSOCK=1"));
  g_assert_null (strstr (other.out, "FAKE_FA"));

  /* And so does a run (the test backend does not log its loading). */
  assert_loaded (f, ARGS ("--backend=test", "--forward=none,fdev", "run", "--", "true"),
                 &run_result, "fdev");
  cbox_test_assert_status (&run_result, 0);
  g_assert_nonnull (strstr (run_result.out, "\"FAKE_FDEV\""));
  g_assert_true (cache_is_marked (f));
}

/* A plugin file replaced under the same name by another plugin: fc moved
 * over fb. The two files are built from one source, so their sizes may
 * well be equal, and the copies got their times in the same clock tick:
 * the inode tells them apart, one the cache knows under another path. The
 * next run describes the new file, and nothing of the old one is left. */
static void
test_replaced (Fixture *f, gconstpointer user_data)
{
  g_auto (CboxTestResult) result = { 0 };
  g_auto (CboxTestResult) old_name = { 0 };
  g_auto (CboxTestResult) new_name = { 0 };
  g_auto (CboxTestResult) pair = { 0 };
  g_autofree char *fb = plugin_path (f, "fb");
  g_autofree char *fc = plugin_path (f, "fc");
  g_autofree char *contents = NULL;
  Counts counts;

  assert_loaded (f, ARGS (PAIR_PLAN), &result, ALL_FAKES);
  assert_pair_plan (&result);
  g_assert_cmpint (g_rename (fc, fb), ==, 0);

  /* The new file is opened to be described: it holds fc, and a file must
   * be named after its plugin, so it is refused, and fb with it. */
  assert_loaded (f, ARGS ("-v", "--backend=limited", "--forward=none,fb", "run", "--", "true"),
                 &old_name, "fc limited");
  cbox_test_assert_status (&old_name, CBOX_EXIT_FAILURE);
  g_assert_nonnull (strstr (old_name.err, "Forwarder 'fb' (from cli) cannot be used: its plugin "
                                          "was rejected"));
  g_assert_nonnull (strstr (old_name.err, "whose file must be named libcbox-fc.so"));
  counts = verbose_counts (f, &old_name);
  g_assert_cmpuint (counts.cached, ==, counts.found - 1);

  /* Named after its plugin again, fc works from its new file. */
  g_assert_cmpint (g_rename (fb, fc), ==, 0);
  assert_loaded (f, ARGS ("-v", "--backend=limited", "--forward=none,fc", "run", "--", "true"),
                 &new_name, "fc limited");
  cbox_test_assert_status (&new_name, 0);
  g_assert_nonnull (strstr (new_name.out, "FAKE_FC=1"));

  /* "pair" is fa alone now. */
  assert_loaded (f, ARGS (PAIR_PLAN), &pair, "fa limited");
  cbox_test_assert_status (&pair, 0);
  g_assert_nonnull (strstr (pair.out, "forwarders:  fa\n"));
  g_assert_nonnull (strstr (pair.out, "FAKE_ORDER=fa "));
  g_assert_null (strstr (pair.out, "FAKE_FB"));

  /* The cache says what the folder holds: fb's path and name are gone. */
  contents = read_cache (f);
  g_assert_false (cache_describes (contents, fb));
  g_assert_null (strstr (contents, "\tfb\tforwarder\t"));
}

/* A cache entry that claims an alias its plugin lacks, stamp untouched: the
 * run that chooses the plugin by it finds out when it opens the file,
 * fails saying so, and removes the cache; the next run knows better. */
static void
test_tampered (Fixture *f, gconstpointer user_data)
{
  g_auto (CboxTestResult) cold = { 0 };
  g_auto (CboxTestResult) tampered = { 0 };
  g_auto (CboxTestResult) again = { 0 };
  g_auto (CboxTestResult) real = { 0 };
  g_autofree char *fsock = plugin_path (f, "fsock");
  g_autofree char *expected = NULL;

  assert_loaded (f, ARGS (PAIR_PLAN), &cold, ALL_FAKES);
  assert_pair_plan (&cold);
  tamper_cache (f, "fsock", FIELD_ALIASES, "mixed,evil");

  assert_loaded (f, ARGS ("--backend=limited", "--forward=none,evil", "run", "--", "true"),
                 &tampered, "fsock limited");
  cbox_test_assert_status (&tampered, CBOX_EXIT_FAILURE);
  expected = g_strdup_printf ("Forwarder 'fsock' cannot be used: %s: the plugin changed since "
                              "cbox's plugin cache described it; run the command again",
                              fsock);
  if (strstr (tampered.err, expected) == NULL)
    g_error ("expected \"%s\" in:\n%s", expected, tampered.err);
  g_assert_false (g_file_test (f->cache, G_FILE_TEST_EXISTS));

  /* Every file described anew: the alias is unknown. */
  assert_loaded (f, ARGS ("--backend=limited", "--forward=none,evil", "run", "--", "true"), &again,
                 ALL_FAKES);
  cbox_test_assert_status (&again, CBOX_EXIT_FAILURE);
  g_assert_nonnull (strstr (again.err, "Unknown forwarder 'evil' (asked for, from cli): no "
                                       "plugin has that name or alias"));
  g_assert_true (g_file_test (f->cache, G_FILE_TEST_IS_REGULAR));

  assert_loaded (f, ARGS ("--backend=limited", "--forward=none,fsock", "run", "--", "true"), &real,
                 "fsock limited");
  cbox_test_assert_status (&real, 0);
  g_assert_nonnull (strstr (real.out, "FAKE_FSOCK=1"));
}

/* The same for a backend: its description differs from the cache's. */
static void
test_tampered_backend (Fixture *f, gconstpointer user_data)
{
  g_auto (CboxTestResult) cold = { 0 };
  g_auto (CboxTestResult) tampered = { 0 };
  g_auto (CboxTestResult) again = { 0 };
  g_autofree char *limited = plugin_path (f, "limited");
  g_autofree char *expected = NULL;

  assert_loaded (f, ARGS (PAIR_PLAN), &cold, ALL_FAKES);
  tamper_cache (f, "limited", FIELD_DESCRIPTION, "=Not what the file says");

  assert_loaded (f, ARGS (PAIR_PLAN), &tampered, "limited");
  cbox_test_assert_status (&tampered, CBOX_EXIT_FAILURE);
  expected = g_strdup_printf ("Backend 'limited' cannot be used: %s: the plugin changed since "
                              "cbox's plugin cache described it",
                              limited);
  if (strstr (tampered.err, expected) == NULL)
    g_error ("expected \"%s\" in:\n%s", expected, tampered.err);
  g_assert_false (g_file_test (f->cache, G_FILE_TEST_EXISTS));

  assert_loaded (f, ARGS (PAIR_PLAN), &again, ALL_FAKES);
  assert_pair_plan (&again);
  g_assert_cmpstr (again.out, ==, cold.out);
}

/* `cbox doctor` probes every plugin, so it opens the ones the cache
 * described; a backend that changed is reported as rejected, and doctor
 * does not crash on it (it did: the backend's descriptor was NULL). Each
 * file is opened twice: in a child first (cached or not: a library it
 * links may have changed since, cbox-registry.c), then in doctor. */
static void
test_doctor_changed_backend (Fixture *f, gconstpointer user_data)
{
  g_auto (CboxTestResult) cold = { 0 };
  g_auto (CboxTestResult) doctor = { 0 };
  g_autofree char *loaded = NULL;
  g_autofree char *limited = plugin_path (f, "limited");
  g_autofree char *expected = NULL;

  assert_loaded (f, ARGS (PAIR_PLAN), &cold, ALL_FAKES);
  tamper_cache (f, "limited", FIELD_DESCRIPTION, "=Not what the file says");

  loaded = run (f, ARGS ("--backend=limited", "doctor"), &doctor);
  cbox_test_assert_status (&doctor, 0);
  g_assert_cmpstr (loaded, ==, "fa fa fb fb fc fc fdev fdev fsock fsock limited limited");
  expected
      = g_strdup_printf ("%s: the plugin changed since cbox's plugin cache described it", limited);
  if (strstr (doctor.out, expected) == NULL)
    g_error ("expected \"%s\" in:\n%s", expected, doctor.out);
  g_assert_nonnull (strstr (doctor.out, "fsock "));
  g_assert_false (g_file_test (f->cache, G_FILE_TEST_EXISTS));
}

/* A cache entry that describes a file that is no plugin at all, with the
 * file's real stamp: opening it fails with the loader's reason, and the
 * cache goes too (it kept claiming the file, run after run). */
static void
test_cached_file_rejected (Fixture *f, gconstpointer user_data)
{
  g_auto (CboxTestResult) cold = { 0 };
  g_auto (CboxTestResult) claimed = { 0 };
  g_auto (CboxTestResult) again = { 0 };
  g_autofree char *junk = plugin_path (f, "junk");
  g_autofree char *contents = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *entry = NULL;
  g_autoptr (GError) error = NULL;
  struct stat st;

  assert_loaded (f, ARGS (PAIR_PLAN), &cold, ALL_FAKES);
  g_file_set_contents (junk, "not a plugin\n", -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (stat (junk, &st), ==, 0);
  escaped = g_strescape (junk, NULL);
  entry = g_strdup_printf (
      "%s\t%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT ":%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT
      ":%" G_GINT64_FORMAT "\tjunk\tforwarder\t0\t0\t0\t-\t-\t-\t=1.0\t-\n",
      escaped, (guint64)st.st_dev, (guint64)st.st_ino, (gint64)st.st_size,
      (gint64)st.st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st.st_mtim.tv_nsec,
      (gint64)st.st_ctim.tv_sec * G_GINT64_CONSTANT (1000000000) + st.st_ctim.tv_nsec);
  contents = read_cache (f);
  {
    g_autofree char *with_junk = g_strconcat (contents, entry, NULL);
    write_cache (f, with_junk);
  }

  assert_loaded (f, ARGS ("--backend=limited", "--forward=none,junk", "run", "--", "true"),
                 &claimed, "limited");
  cbox_test_assert_status (&claimed, CBOX_EXIT_FAILURE);
  g_assert_nonnull (strstr (claimed.err, "Forwarder 'junk' cannot be used: "));
  g_assert_nonnull (strstr (claimed.err, junk));
  g_assert_false (g_file_test (f->cache, G_FILE_TEST_EXISTS));

  /* Described anew, the file is what it is: a rejected plugin. */
  assert_loaded (f, ARGS ("--backend=limited", "--forward=none,junk", "run", "--", "true"), &again,
                 ALL_FAKES);
  cbox_test_assert_status (&again, CBOX_EXIT_FAILURE);
  g_assert_nonnull (strstr (again.err, "Forwarder 'junk' (from cli) cannot be used: its plugin "
                                       "was rejected"));
}

/* Runs PAIR_PLAN @n_runs times on a cache that must not be trusted: each
 * run opens every plugin and plans right. */
static void
assert_cache_ignored (Fixture *f, guint n_runs)
{
  for (guint i = 0; i < n_runs; i++)
    {
      g_auto (CboxTestResult) result = { 0 };
      Counts counts;

      assert_loaded (f, ARGS ("-v", PAIR_PLAN), &result, ALL_FAKES);
      assert_pair_plan (&result);
      counts = verbose_counts (f, &result);
      g_assert_cmpuint (counts.cached, ==, 0);
    }
}

/* A cache file that others may write is not read; the run writes a new
 * one of its own, which the next run uses. */
static void
test_untrusted_file_mode (Fixture *f, gconstpointer user_data)
{
  const mode_t modes[] = { 0666, 0620, 0602 };

  for (gsize i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_auto (CboxTestResult) cold = { 0 };
      g_auto (CboxTestResult) untrusted = { 0 };
      g_auto (CboxTestResult) warm = { 0 };

      g_test_message ("cache file mode %04o", (unsigned)modes[i]);
      g_assert_true (g_unlink (f->cache) == 0 || errno == ENOENT);
      assert_loaded (f, ARGS (PAIR_PLAN), &cold, ALL_FAKES);
      g_assert_cmpint (g_chmod (f->cache, modes[i]), ==, 0);

      assert_loaded (f, ARGS (PAIR_PLAN), &untrusted, ALL_FAKES);
      assert_pair_plan (&untrusted);
      assert_mode (f->cache, 0600);
      assert_loaded (f, ARGS (PAIR_PLAN), &warm, "fa fb limited");
      assert_pair_plan (&warm);
    }
}

/* A cache folder that others may write is neither read nor written. */
static void
test_untrusted_dir_mode (Fixture *f, gconstpointer user_data)
{
  const mode_t modes[] = { 0770, 0707, 0777 };

  for (gsize i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_auto (CboxTestResult) cold = { 0 };

      g_test_message ("cache folder mode %04o", (unsigned)modes[i]);
      g_assert_true (g_chmod (f->cache_dir, 0700) == 0 || errno == ENOENT);
      g_assert_true (g_unlink (f->cache) == 0 || errno == ENOENT);
      assert_loaded (f, ARGS (PAIR_PLAN), &cold, ALL_FAKES);
      mark_cache (f);
      g_assert_cmpint (g_chmod (f->cache_dir, modes[i]), ==, 0);

      assert_cache_ignored (f, 2);
      g_assert_true (cache_is_marked (f));
    }
}

/* Spoils the cache in the way @how says. */
typedef enum
{
  SPOIL_BINARY,
  SPOIL_EMPTY,
  SPOIL_OTHER_CBOX,
  SPOIL_NO_HEADER,
  SPOIL_BAD_ENTRIES,
  SPOIL_SYMLINK,
  SPOIL_LAST
} Spoil;

static void
spoil_cache (Fixture *f, Spoil how)
{
  switch (how)
    {
    case SPOIL_BINARY:
      write_cache (f, "\x7f"
                      "ELF\x01\x02 not a cache at all\n");
      break;
    case SPOIL_EMPTY:
      write_cache (f, "");
      break;
    case SPOIL_OTHER_CBOX:
      write_cache (f, "cbox-plugin-cache 1 0.0.0 0.0\n");
      break;
    case SPOIL_NO_HEADER:
      {
        g_autofree char *contents = read_cache (f);
        char *second_line = strchr (contents, '\n');

        g_assert_nonnull (second_line);
        write_cache (f, second_line + 1);
      }
      break;
    case SPOIL_BAD_ENTRIES:
      /* The first line of this cbox, and entries that do not parse. */
      rewrite_cache (f, NULL, FIELD_STAMP, "1:2:three");
      break;
    case SPOIL_SYMLINK:
      {
        /* A link to a good cache: not followed. */
        g_autofree char *elsewhere = g_strconcat (f->cache, ".elsewhere", NULL);

        g_assert_cmpint (g_rename (f->cache, elsewhere), ==, 0);
        g_assert_cmpint (symlink (elsewhere, f->cache), ==, 0);
      }
      break;
    case SPOIL_LAST:
    default:
      g_assert_not_reached ();
    }
}

/* A cache that is no cache of this cbox (garbage, a symbolic link, one
 * written by another version) is ignored and replaced. */
static void
test_garbage (Fixture *f, gconstpointer user_data)
{
  for (Spoil how = 0; how < SPOIL_LAST; how++)
    {
      g_auto (CboxTestResult) cold = { 0 };
      g_auto (CboxTestResult) ignored = { 0 };
      g_auto (CboxTestResult) warm = { 0 };
      g_autofree char *contents = NULL;

      g_test_message ("spoilt cache %d", how);
      g_assert_true (g_unlink (f->cache) == 0 || errno == ENOENT);
      assert_loaded (f, ARGS (PAIR_PLAN), &cold, ALL_FAKES);
      spoil_cache (f, how);

      assert_loaded (f, ARGS (PAIR_PLAN), &ignored, ALL_FAKES);
      assert_pair_plan (&ignored);
      assert_mode (f->cache, 0600);
      contents = read_cache (f);
      g_assert_true (g_str_has_prefix (contents, "cbox-plugin-cache "));
      assert_loaded (f, ARGS (PAIR_PLAN), &warm, "fa fb limited");
      assert_pair_plan (&warm);
    }
}

/* Points XDG_CACHE_HOME at @cache_home for the next runs. */
static void
use_cache_home (Fixture *f, const char *cache_home)
{
  f->envp = g_environ_setenv (f->envp, "XDG_CACHE_HOME", cache_home, TRUE);
  g_free (f->cache_dir);
  f->cache_dir = g_build_filename (cache_home, "cbox", NULL);
  g_free (f->cache);
  f->cache = g_build_filename (f->cache_dir, "plugins.cache", NULL);
}

static char *
make_folder (const char *parent, const char *name, mode_t mode)
{
  char *path = g_build_filename (parent, name, NULL);

  g_assert_cmpint (g_mkdir (path, 0700), ==, 0);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
  return path;
}

/* Puts @contents, a good cache, at @f's cache path (folder 0700, file
 * 0600, both the test's own), and marks it. */
static void
plant_cache (Fixture *f, const char *contents)
{
  g_assert_cmpint (g_mkdir_with_parents (f->cache_dir, 0700), ==, 0);
  write_cache (f, contents);
  mark_cache (f);
}

/* A folder above the cache folder that others may write (unless it is
 * sticky, as /tmp) lets them put another folder or a link in its place: a
 * cache below it is neither read nor made. */
static void
test_folder_above (Fixture *f, gconstpointer user_data)
{
  g_auto (CboxTestResult) cold = { 0 };
  g_auto (CboxTestResult) sticky_cold = { 0 };
  g_auto (CboxTestResult) sticky_warm = { 0 };
  g_autofree char *contents = NULL;
  g_autofree char *writable = NULL;
  g_autofree char *writable_home = NULL;
  g_autofree char *sticky = NULL;
  g_autofree char *sticky_home = NULL;

  assert_loaded (f, ARGS (PAIR_PLAN), &cold, ALL_FAKES);
  contents = read_cache (f);

  writable = make_folder (f->project, "group-writable", 0775);
  writable_home = g_build_filename (writable, "cache", NULL);
  use_cache_home (f, writable_home);
  assert_cache_ignored (f, 2);
  g_assert_false (g_file_test (writable_home, G_FILE_TEST_EXISTS));
  plant_cache (f, contents);
  assert_cache_ignored (f, 2);
  g_assert_true (cache_is_marked (f));

  sticky = make_folder (f->project, "sticky", 01777);
  sticky_home = g_build_filename (sticky, "cache", NULL);
  use_cache_home (f, sticky_home);
  assert_loaded (f, ARGS (PAIR_PLAN), &sticky_cold, ALL_FAKES);
  assert_pair_plan (&sticky_cold);
  assert_mode (f->cache, 0600);
  assert_loaded (f, ARGS (PAIR_PLAN), &sticky_warm, "fa fb limited");
  assert_pair_plan (&sticky_warm);
}

/* As root: a cache in a folder of another user, or below one, is not read,
 * and no cache folder is made in one (a `sudo -E` keeps the user's
 * XDG_CACHE_HOME). */
static void
test_foreign_folder (Fixture *f, gconstpointer user_data)
{
  g_auto (CboxTestResult) cold = { 0 };
  g_autofree char *foreign = NULL;
  g_autofree char *foreign_cbox = NULL;
  g_autofree char *foreign_cache = NULL;
  g_autofree char *user_home = NULL;
  g_autofree char *root_place = NULL;
  g_autofree char *link = NULL;
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;

  if (!cbox_test_is_root ())
    {
      g_test_skip ("making a folder of another user needs root");
      return;
    }
  assert_loaded (f, ARGS (PAIR_PLAN), &cold, ALL_FAKES);
  contents = read_cache (f);

  /* A cache file of another user in root's own folder. */
  g_assert_cmpint (chown (f->cache, 65534, 65534), ==, 0);
  assert_cache_ignored (f, 1);
  /* Replaced by one of root's. */
  assert_mode (f->cache, 0600);

  /* XDG_CACHE_HOME of another user, without a cbox folder: none is made. */
  foreign = make_folder (f->project, "user-cache", 0755);
  g_assert_cmpint (chown (foreign, 65534, 65534), ==, 0);
  use_cache_home (f, foreign);
  assert_cache_ignored (f, 2);
  foreign_cbox = g_build_filename (foreign, "cbox", NULL);
  g_assert_false (g_file_test (foreign_cbox, G_FILE_TEST_EXISTS));

  /* With a cbox folder of that user holding a good cache of root's. */
  g_assert_cmpint (g_mkdir (foreign_cbox, 0700), ==, 0);
  foreign_cache = g_build_filename (foreign_cbox, "plugins.cache", NULL);
  g_file_set_contents_full (foreign_cache, contents, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                            &error);
  g_assert_no_error (error);
  g_assert_cmpint (chown (foreign_cbox, 65534, 65534), ==, 0);
  mark_cache (f);
  assert_cache_ignored (f, 2);
  g_assert_true (cache_is_marked (f));

  /* The user's ~/.cache a link (the user's) to a folder of root's, where
   * a cbox folder of root's holds a good cache of root's: it is the user
   * who chose that folder, so root neither reads nor writes there. (It
   * did both, so `sudo -E` could make root write into /etc/cbox.) */
  user_home = make_folder (f->project, "user-home", 0755);
  g_assert_cmpint (chown (user_home, 65534, 65534), ==, 0);
  root_place = make_folder (f->project, "root-place", 0755);
  link = g_build_filename (user_home, ".cache", NULL);
  g_assert_cmpint (symlink (root_place, link), ==, 0);
  g_assert_cmpint (lchown (link, 65534, 65534), ==, 0);
  use_cache_home (f, link);
  plant_cache (f, contents);
  assert_cache_ignored (f, 2);
  g_assert_true (cache_is_marked (f));
  g_assert_cmpint (g_unlink (f->cache), ==, 0);
  assert_cache_ignored (f, 1);
  g_assert_false (g_file_test (f->cache, G_FILE_TEST_EXISTS));
}

/* `cbox plugins` is a diagnosis: it opens every file whatever the cache
 * says, reports what the files say, and leaves the cache alone. */
static void
test_plugins_command (Fixture *f, gconstpointer user_data)
{
  g_auto (CboxTestResult) before = { 0 };
  g_auto (CboxTestResult) cold = { 0 };
  g_auto (CboxTestResult) warm = { 0 };
  g_auto (CboxTestResult) tampered = { 0 };
  g_auto (CboxTestResult) json = { 0 };

  assert_loaded (f, ARGS ("plugins"), &before, ALL_FAKES_TWICE);
  cbox_test_assert_status (&before, 0);
  g_assert_false (g_file_test (f->cache_dir, G_FILE_TEST_EXISTS));
  for (const char *const *name = ARGS ("fa ", "fb ", "fc ", "fdev ", "fsock ", "limited ", "test ");
       *name != NULL; name++)
    g_assert_nonnull (strstr (before.out, *name));

  assert_loaded (f, ARGS (PAIR_PLAN), &cold, ALL_FAKES);
  assert_loaded (f, ARGS ("plugins"), &warm, ALL_FAKES_TWICE);
  cbox_test_assert_status (&warm, 0);
  g_assert_cmpstr (warm.out, ==, before.out);

  tamper_cache (f, "fsock", FIELD_ALIASES, "mixed,evil");
  mark_cache (f);
  assert_loaded (f, ARGS ("plugins"), &tampered, ALL_FAKES_TWICE);
  cbox_test_assert_status (&tampered, 0);
  g_assert_cmpstr (tampered.out, ==, before.out);
  g_assert_null (strstr (tampered.out, "evil"));
  assert_loaded (f, ARGS ("plugins", "--json"), &json, ALL_FAKES_TWICE);
  cbox_test_assert_status (&json, 0);
  g_assert_null (strstr (json.out, "evil"));
  g_assert_true (cache_is_marked (f));
}

/* A file that is no plugin is never cached: it is opened, rejected and
 * reported on every run, while the good ones come from the cache. */
static void
test_rejected_not_cached (Fixture *f, gconstpointer user_data)
{
  g_autofree char *junk = plugin_path (f, "junk");
  g_autoptr (GError) error = NULL;
  g_auto (CboxTestResult) cold = { 0 };
  g_auto (CboxTestResult) plugins = { 0 };
  g_autofree char *contents = NULL;
  Counts cold_counts;

  g_file_set_contents (junk, "not a plugin\n", -1, &error);
  g_assert_no_error (error);

  assert_loaded (f, ARGS ("-v", PAIR_PLAN), &cold, ALL_FAKES);
  assert_pair_plan (&cold);
  cold_counts = verbose_counts (f, &cold);
  g_assert_cmpuint (cold_counts.rejected, ==, 1);
  g_assert_cmpuint (cold_counts.cached, ==, 0);
  contents = read_cache (f);
  g_assert_null (strstr (contents, "libcbox-junk.so"));

  for (guint i = 0; i < 2; i++)
    {
      g_auto (CboxTestResult) warm = { 0 };
      Counts counts;

      assert_loaded (f, ARGS ("-v", PAIR_PLAN), &warm, "fa fb limited");
      assert_pair_plan (&warm);
      counts = verbose_counts (f, &warm);
      g_assert_cmpuint (counts.found, ==, cold_counts.found);
      g_assert_cmpuint (counts.rejected, ==, 1);
      g_assert_cmpuint (counts.cached, ==, cold_counts.found - 1);
    }
  g_clear_pointer (&contents, g_free);
  contents = read_cache (f);
  g_assert_null (strstr (contents, "libcbox-junk.so"));

  assert_loaded (f, ARGS ("plugins"), &plugins, ALL_FAKES_TWICE);
  cbox_test_assert_status (&plugins, 0);
  g_assert_nonnull (strstr (plugins.out, junk));
  g_assert_nonnull (strstr (plugins.out, "not a plugin this cbox can load"));
}

/* A plugin folder whose name has a tab, a newline, a backslash and a byte
 * that is not UTF-8: the cache keeps such paths (escaped) like any other. */
static void
test_odd_folder_name (Fixture *f, gconstpointer user_data)
{
  g_auto (CboxTestResult) cold = { 0 };
  g_auto (CboxTestResult) warm = { 0 };
  g_autofree char *parent = g_path_get_dirname (f->plugins);
  g_autofree char *odd = g_build_filename (parent, "plug\tins\nwith \\ and \xff", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *fa = NULL;

  g_assert_cmpint (g_rename (f->plugins, odd), ==, 0);
  g_free (f->plugins);
  f->plugins = g_strdup (odd);
  f->envp = g_environ_setenv (f->envp, "CBOX_PLUGIN_PATH", odd, TRUE);

  assert_loaded (f, ARGS (PAIR_PLAN), &cold, ALL_FAKES);
  assert_pair_plan (&cold);
  contents = read_cache (f);
  fa = plugin_path (f, "fa");
  g_assert_true (cache_describes (contents, fa));
  mark_cache (f);
  assert_loaded (f, ARGS (PAIR_PLAN), &warm, "fa fb limited");
  assert_pair_plan (&warm);
  g_assert_true (cache_is_marked (f));
}

/* A relative folder on CBOX_PLUGIN_PATH: its files are loaded every run
 * (their paths mean other files elsewhere), and the cache is not rewritten
 * for them each time (it was: entries it could never read back). */
static void
test_relative_folder (Fixture *f, gconstpointer user_data)
{
  g_autofree char *parent = g_path_get_dirname (f->plugins);

  f->envp = g_environ_setenv (f->envp, "CBOX_PLUGIN_PATH", "plugins", TRUE);
  for (guint i = 0; i < 3; i++)
    {
      g_auto (CboxTestResult) result = { 0 };
      g_autofree char *loaded = run_in (f, parent, ARGS (PAIR_PLAN), &result);

      g_assert_cmpstr (loaded, ==, ALL_FAKES);
      cbox_test_assert_status (&result, 0);
      g_assert_nonnull (strstr (result.out, "FAKE_ORDER=fb,fa "));
      if (i > 0)
        g_assert_true (cache_is_marked (f));
      mark_cache (f);
    }
}

static void
test_unsafe_tmp (void)
{
  g_autofree char *reason
      = g_strdup_printf ("%s, or a folder above it, may be changed by others, so cbox uses no "
                         "plugin cache below it; set TMPDIR to another folder",
                         g_get_tmp_dir ());

  cbox_test_skip_or_fail (reason);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* The tests' homes are below the temporary folder: where cbox would
   * not trust a cache there, only that refusal can be tested. */
  if (!cbox_plugin_cache_path_is_safe (g_get_tmp_dir ()))
    {
      g_test_add_func ("/plugin-cache/unsafe-tmp", test_unsafe_tmp);
      return g_test_run ();
    }
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/plugin-cache/cold", test_cold);
  ADD ("/plugin-cache/warm", test_warm);
  ADD ("/plugin-cache/replaced", test_replaced);
  ADD ("/plugin-cache/tampered/forwarder", test_tampered);
  ADD ("/plugin-cache/tampered/backend", test_tampered_backend);
  ADD ("/plugin-cache/tampered/doctor", test_doctor_changed_backend);
  ADD ("/plugin-cache/tampered/not-a-plugin", test_cached_file_rejected);
  ADD ("/plugin-cache/untrusted/file-mode", test_untrusted_file_mode);
  ADD ("/plugin-cache/untrusted/folder-mode", test_untrusted_dir_mode);
  ADD ("/plugin-cache/untrusted/garbage", test_garbage);
  ADD ("/plugin-cache/untrusted/folder-above", test_folder_above);
  ADD ("/plugin-cache/untrusted/foreign-folder", test_foreign_folder);
  ADD ("/plugin-cache/plugins-command", test_plugins_command);
  ADD ("/plugin-cache/rejected-not-cached", test_rejected_not_cached);
  ADD ("/plugin-cache/relative-folder", test_relative_folder);
  ADD ("/plugin-cache/odd-folder-name", test_odd_folder_name);
#undef ADD
  return g_test_run ();
}

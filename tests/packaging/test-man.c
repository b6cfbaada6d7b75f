/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The man page (data/cbox.1.in, configured into build/data/cbox.1): groff
 * renders it without a warning, it is installed to man1, and it cannot go
 * stale silently: every long option (and its fixed values), command, exit
 * status, plugin option (meson_options.txt) and [cbox] key (docs/config.md)
 * is in it, and every option it describes still exists. */

#include <string.h>

#include <json-glib/json-glib.h>

#include <glib/gstdio.h>

#include "config.h"
#include "cbox-packaging-util.h"
#include "cbox-test-util.h"

static char *
man_page_path (void)
{
  g_autofree char *build = cbox_packaging_build_root ();

  return g_build_filename (build, "data", "cbox.1", NULL);
}

static char *
replace_all (char *text, const char *from, const char *to)
{
  g_auto (GStrv) parts = g_strsplit (text, from, -1);

  g_free (text);
  return g_strjoinv (to, parts);
}

/* The page as a reader searches it: comment lines dropped, the roff escapes
 * for font changes, '-', '~', '\'' and '\' undone. Macro lines (.TP, .B)
 * stay, so sections and tags can be found. */
static char *
man_page_text (void)
{
  g_autofree char *path = man_page_path ();
  g_autofree char *roff = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GString) kept = g_string_new (NULL);
  char *text;
  static const char *const escapes[][2] = {
    { "\\fB", "" },   { "\\fI", "" },   { "\\fR", "" }, { "\\fP", "" },  { "\\-", "-" },
    { "\\(ti", "~" }, { "\\(aq", "'" }, { "\\&", "" },  { "\\e", "\\" },
  };

  g_file_get_contents (path, &roff, NULL, &error);
  g_assert_no_error (error);
  lines = g_strsplit (roff, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (!g_str_has_prefix (lines[i], ".\\\""))
      g_string_append_printf (kept, "%s\n", lines[i]);
  text = g_string_free (g_steal_pointer (&kept), FALSE);
  for (gsize i = 0; i < G_N_ELEMENTS (escapes); i++)
    text = replace_all (text, escapes[i][0], escapes[i][1]);
  return text;
}

/* The text of section @name: from its .SH line to the next .SH. */
static char *
man_section (const char *text, const char *name)
{
  g_autofree char *heading = g_strdup_printf ("\n.SH %s\n", name);
  const char *start = strstr (text, heading);
  const char *end;

  if (start == NULL)
    g_error ("the man page has no section %s", name);
  start += strlen (heading);
  end = strstr (start, "\n.SH ");
  return end != NULL ? g_strndup (start, (gsize)(end - start)) : g_strdup (start);
}

/* The tag lines of a section: the line after each .TP (and .TQ). */
static GPtrArray *
man_tags (const char *section)
{
  g_auto (GStrv) lines = g_strsplit (section, "\n", -1);
  GPtrArray *tags = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; lines[i] != NULL && lines[i + 1] != NULL; i++)
    if (g_str_equal (lines[i], ".TP") || g_str_equal (lines[i], ".TQ"))
      g_ptr_array_add (tags, g_strdup (lines[i + 1]));
  return tags;
}

static gboolean
has_word (const char *text, const char *word)
{
  g_autofree char *escaped = g_regex_escape_string (word, -1);
  g_autofree char *pattern = g_strdup_printf ("(^|[^a-z0-9_-])%s($|[^a-z0-9_-])", escaped);

  return g_regex_match_simple (pattern, text, 0, 0);
}

static gboolean
tags_have_word (GPtrArray *tags, const char *word)
{
  for (guint i = 0; i < tags->len; i++)
    if (has_word (g_ptr_array_index (tags, i), word))
      return TRUE;
  return FALSE;
}

/* Every "--name" in @text, into @set. */
static void
collect_long_options (const char *text, GHashTable *set)
{
  g_autoptr (GRegex) regex = g_regex_new ("(?<![A-Za-z0-9-])--[a-z][a-z0-9-]*[a-z0-9]", 0, 0, NULL);
  g_autoptr (GMatchInfo) match = NULL;

  for (g_regex_match (regex, text, 0, &match); g_match_info_matches (match);
       g_match_info_next (match, NULL))
    g_hash_table_add (set, g_match_info_fetch (match, 0));
}

static char *
cbox_help (const char *topic)
{
  g_auto (CboxTestResult) result = { 0 };

  cbox_test_runv (&result, "help", topic, NULL);
  cbox_test_assert_status (&result, 0);
  g_assert_cmpstr (result.out, !=, "");
  return g_steal_pointer (&result.out);
}

/* The long options of every help text cbox prints. */
static GHashTable *
help_long_options (void)
{
  const char *topics[] = { NULL, "run", "plan", "doctor", "plugins", "version", "help" };
  GHashTable *set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (topics); i++)
    {
      g_autofree char *help = cbox_help (topics[i]);
      collect_long_options (help, set);
    }
  /* Sanity: the parser must see the options a run is made of. */
  g_assert_true (g_hash_table_contains (set, "--backend"));
  g_assert_true (g_hash_table_contains (set, "--print-command"));
  return set;
}

static char *
missing_from (GHashTable *wanted, GHashTable *present)
{
  g_autoptr (GPtrArray) missing = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, wanted);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (present, key))
      g_ptr_array_add (missing, key);
  g_ptr_array_sort (missing, (GCompareFunc)g_strcmp0);
  g_ptr_array_add (missing, NULL);
  return g_strjoinv (" ", (char **)missing->pdata);
}

/* groff's warnings, all of them (-ww) except "break": "cannot adjust line"
 * and "cannot break line" say only that a long word (a path under a long
 * prefix such as /nix/store/HASH-cbox-VERSION, a long option) does not fit
 * the width, which is how a man page with paths in it renders under any
 * long prefix, not a mistake in the page. A macro, escape, font or request
 * that groff does not know still fails. */
static const char *const groff_warnings[] = { "-ww", "-Wbreak", NULL };

/* Renders @path with every warning of groff_warnings; asserts nothing is
 * said and groff succeeds. */
static void
assert_renders_quietly (const char *groff, const char *path)
{
  g_autofree char *err = NULL;
  int status;

  /* -z renders without printing. */
  status = cbox_packaging_run ((const char *const[]){ groff, "-man", "-Tutf8", groff_warnings[0],
                                                      groff_warnings[1], "-z", path, NULL },
                               NULL, NULL, &err);
  g_assert_cmpstr (err, ==, "");
  g_assert_cmpint (status, ==, 0);
}

static void
test_render (void)
{
  g_autofree char *groff = cbox_test_require_program ("groff");
  g_autofree char *path = man_page_path ();
  g_autofree char *roff = NULL;
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  int status;

  if (groff == NULL)
    return;
  g_file_get_contents (path, &roff, NULL, &error);
  g_assert_no_error (error);
  /* Every @NAME@ of the template was filled in by meson. */
  g_assert_false (g_regex_match_simple ("@[A-Z_]+@", roff, 0, 0));

  assert_renders_quietly (groff, path);

  /* And it says something: the sections a man page is read for (plain
   * text: no bold, underline or colour). */
  status = cbox_packaging_run (
      (const char *const[]){ groff, "-man", "-Tutf8", "-P-cbou", path, NULL }, NULL, &out, NULL);
  g_assert_cmpint (status, ==, 0);
  for (const char *const *s = (const char *const[]){ "NAME", "SYNOPSIS", "OPTIONS", "EXIT STATUS",
                                                     "ENVIRONMENT", "FILES", "EXAMPLES", NULL };
       *s != NULL; s++)
    g_assert_nonnull (strstr (out, *s));
}

/* The page built under a long prefix (a Nix store path, `meson dist`'s
 * build folder): the installed paths meson filled in, each moved under
 * /nix/store/HASH-cbox-VERSION, render as quietly as under /usr/local. */
static void
test_render_long_prefix (void)
{
  g_autofree char *groff = cbox_test_require_program ("groff");
  g_autofree char *path = man_page_path ();
  g_autofree char *roff = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *copy = NULL;
  g_autoptr (GError) error = NULL;
  const char *const installed[]
      = { CBOX_PLUGIN_DIR, CBOX_DATA_DIR, CBOX_SYSCONF_DIR, CBOX_LIBEXEC_DIR };
  const char *store = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-cbox-" PACKAGE_VERSION;
  guint moved = 0;

  if (groff == NULL)
    return;
  g_file_get_contents (path, &roff, NULL, &error);
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (installed); i++)
    if (strstr (roff, installed[i]) != NULL)
      {
        g_autofree char *longer = g_strconcat (store, installed[i], NULL);
        roff = replace_all (roff, installed[i], longer);
        moved++;
      }
  /* The page names its installed folders: something was moved. */
  g_assert_cmpuint (moved, >=, 2);
  dir = g_dir_make_tmp ("cbox-man-XXXXXX", &error);
  g_assert_no_error (error);
  copy = g_build_filename (dir, "cbox.1", NULL);
  g_file_set_contents (copy, roff, -1, &error);
  g_assert_no_error (error);
  assert_renders_quietly (groff, copy);
  g_unlink (copy);
  g_rmdir (dir);
}

static void
test_help_options_documented (void)
{
  g_autoptr (GHashTable) help = help_long_options ();
  g_autoptr (GHashTable) page = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *text = man_page_text ();
  g_autofree char *missing = NULL;

  collect_long_options (text, page);
  missing = missing_from (help, page);
  g_test_message ("options in `cbox help` but not in the man page: '%s'", missing);
  g_assert_cmpstr (missing, ==, "");
}

static void
test_page_options_exist (void)
{
  g_autoptr (GHashTable) help = help_long_options ();
  g_autoptr (GHashTable) page = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *text = man_page_text ();
  g_autofree char *missing = NULL;

  collect_long_options (text, page);
  missing = missing_from (page, help);
  g_test_message ("options in the man page that `cbox help` does not know: '%s'", missing);
  g_assert_cmpstr (missing, ==, "");
}

/* The commands `cbox help` lists, each a tag of COMMANDS and in the
 * SYNOPSIS. */
static void
test_commands (void)
{
  g_autofree char *help = cbox_help (NULL);
  g_autofree char *text = man_page_text ();
  g_autofree char *commands_section = man_section (text, "COMMANDS");
  g_autofree char *synopsis = man_section (text, "SYNOPSIS");
  g_autoptr (GPtrArray) tags = man_tags (commands_section);
  g_autoptr (GRegex) regex = NULL;
  g_autoptr (GMatchInfo) match = NULL;
  const char *block = strstr (help, "\nCommands:\n");
  const char *block_end;
  g_autofree char *commands = NULL;
  guint n = 0;

  g_assert_nonnull (block);
  block_end = strstr (block + 1, "\n\n");
  commands = block_end != NULL ? g_strndup (block, (gsize)(block_end - block)) : g_strdup (block);
  regex = g_regex_new ("^  ([a-z]+)( |$)", G_REGEX_MULTILINE, 0, NULL);
  for (g_regex_match (regex, commands, 0, &match); g_match_info_matches (match);
       g_match_info_next (match, NULL))
    {
      g_autofree char *command = g_match_info_fetch (match, 1);
      g_autofree char *in_synopsis = g_strdup_printf ("\n.B %s\n", command);

      g_test_message ("command %s", command);
      g_assert_true (tags_have_word (tags, command));
      g_assert_nonnull (strstr (synopsis, in_synopsis));
      n++;
    }
  g_assert_cmpuint (n, >=, 6);
}

/* Every plugin meson can build has an entry under PLUGINS. */
static void
test_plugins (void)
{
  g_autoptr (GPtrArray) plugins = cbox_packaging_feature_options ();
  g_autofree char *text = man_page_text ();
  g_autofree char *section = man_section (text, "PLUGINS");
  g_autoptr (GPtrArray) tags = man_tags (section);

  for (guint i = 0; i < plugins->len; i++)
    {
      const char *name = g_ptr_array_index (plugins, i);
      g_test_message ("plugin %s", name);
      g_assert_true (tags_have_word (tags, name));
    }
}

/* The statuses `cbox help` names are each a tag of EXIT STATUS. */
static void
test_exit_statuses (void)
{
  g_autofree char *help = cbox_help (NULL);
  g_autofree char *text = man_page_text ();
  g_autofree char *section = man_section (text, "EXIT STATUS");
  g_autoptr (GPtrArray) tags = man_tags (section);
  const char *block = strstr (help, "Exit status:");
  g_autoptr (GRegex) regex = g_regex_new ("\\b1[0-9][0-9]\\b", 0, 0, NULL);
  g_autoptr (GMatchInfo) match = NULL;
  guint n = 0;

  g_assert_nonnull (block);
  for (g_regex_match (regex, block, 0, &match); g_match_info_matches (match);
       g_match_info_next (match, NULL))
    {
      g_autofree char *status = g_match_info_fetch (match, 0);
      g_autofree char *pattern = g_strdup_printf ("(^|[^0-9])%s($|[^0-9])", status);
      gboolean found = FALSE;

      for (guint i = 0; i < tags->len && !found; i++)
        found = g_regex_match_simple (pattern, g_ptr_array_index (tags, i), 0, 0);
      g_test_message ("exit status %s", status);
      g_assert_true (found);
      n++;
    }
  g_assert_cmpuint (n, >=, 4);
}

/* An option with fixed values in `cbox help` (--network=on|off,
 * --accel=kvm|tcg|auto): each value is named in the man page's entry for
 * it, so a new value cannot be left out. */
static void
test_option_values (void)
{
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *text = man_page_text ();
  g_autofree char *section = man_section (text, "OPTIONS");
  g_autoptr (GPtrArray) tags = man_tags (section);
  g_autoptr (GRegex) regex
      = g_regex_new ("(--[a-z][a-z0-9-]*)=([a-z0-9]+(\\|[a-z0-9]+)+)", 0, 0, NULL);
  const char *topics[] = { NULL, "run", "plan" };
  guint n = 0;

  for (gsize t = 0; t < G_N_ELEMENTS (topics); t++)
    {
      g_autofree char *help = cbox_help (topics[t]);
      g_autoptr (GMatchInfo) match = NULL;

      for (g_regex_match (regex, help, 0, &match); g_match_info_matches (match);
           g_match_info_next (match, NULL))
        {
          g_autofree char *option = g_match_info_fetch (match, 1);
          g_autofree char *values = g_match_info_fetch (match, 2);
          g_auto (GStrv) choices = g_strsplit (values, "|", -1);
          const char *tag = NULL;

          if (!g_hash_table_add (seen, g_strdup (option)))
            continue;
          for (guint i = 0; i < tags->len && tag == NULL; i++)
            if (has_word (g_ptr_array_index (tags, i), option))
              tag = g_ptr_array_index (tags, i);
          g_test_message ("%s=%s", option, values);
          g_assert_nonnull (tag);
          for (guint i = 0; choices[i] != NULL; i++)
            {
              g_test_message ("  %s", choices[i]);
              g_assert_true (has_word (tag, choices[i]));
            }
          n++;
        }
    }
  /* --network and --accel at least: the parser sees them. */
  g_assert_cmpuint (n, >=, 2);
}

/* The [cbox] keys docs/config.md lists are all named under CONFIGURATION. */
static void
test_config_keys (void)
{
  g_autofree char *root = cbox_packaging_source_root ();
  g_autofree char *config_md_path = g_build_filename (root, "docs", "config.md", NULL);
  g_autofree char *config_md = NULL;
  g_autofree char *text = man_page_text ();
  g_autofree char *section = man_section (text, "CONFIGURATION");
  g_autoptr (GError) error = NULL;
  g_autoptr (GRegex) regex
      = g_regex_new ("^\\| `([a-z][a-z0-9-]*)` \\|", G_REGEX_MULTILINE, 0, NULL);
  g_autoptr (GMatchInfo) match = NULL;
  const char *table;
  const char *table_end;
  g_autofree char *keys = NULL;
  guint n = 0;

  g_file_get_contents (config_md_path, &config_md, NULL, &error);
  g_assert_no_error (error);
  table = strstr (config_md, "## `[cbox]` keys");
  g_assert_nonnull (table);
  table_end = strstr (table + 1, "\n## ");
  keys = table_end != NULL ? g_strndup (table, (gsize)(table_end - table)) : g_strdup (table);
  for (g_regex_match (regex, keys, 0, &match); g_match_info_matches (match);
       g_match_info_next (match, NULL))
    {
      g_autofree char *key = g_match_info_fetch (match, 1);
      g_autofree char *as_bold = g_strdup_printf ("\n.B %s\n", key);
      g_autofree char *as_bold_roman = g_strdup_printf ("\n.BR %s ", key);

      g_test_message ("[cbox] %s", key);
      g_assert_true (strstr (section, as_bold) != NULL || strstr (section, as_bold_roman) != NULL);
      n++;
    }
  g_assert_cmpuint (n, >=, 10);
}

/* `meson install` puts the configured page into man1. */
static void
test_installed (void)
{
  g_autofree char *meson = cbox_test_require_program ("meson");
  g_autofree char *build = cbox_packaging_build_root ();
  g_autofree char *page = man_page_path ();
  g_autofree char *out = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *installed;
  const char *dest;
  int status;

  if (meson == NULL)
    return;
  status = cbox_packaging_run (
      (const char *const[]){ meson, "introspect", "--installed", build, NULL }, NULL, &out, NULL);
  g_assert_cmpint (status, ==, 0);
  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  installed = json_node_get_object (json_parser_get_root (parser));
  g_assert_true (json_object_has_member (installed, page));
  dest = json_object_get_string_member (installed, page);
  g_assert_true (g_str_has_suffix (dest, "/man1/cbox.1"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/man/render", test_render);
  g_test_add_func ("/man/render-long-prefix", test_render_long_prefix);
  g_test_add_func ("/man/help-options-documented", test_help_options_documented);
  g_test_add_func ("/man/page-options-exist", test_page_options_exist);
  g_test_add_func ("/man/commands", test_commands);
  g_test_add_func ("/man/plugins", test_plugins);
  g_test_add_func ("/man/option-values", test_option_values);
  g_test_add_func ("/man/config-keys", test_config_keys);
  g_test_add_func ("/man/exit-statuses", test_exit_statuses);
  g_test_add_func ("/man/installed", test_installed);
  return g_test_run ();
}

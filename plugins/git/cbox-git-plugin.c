/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forwarder "git": the user's git configuration, read-only, with the files
 * it includes as long as they live under the home. See README.md. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>
#include <glib/gstdio.h>

#include <cbox/cbox-plugin.h>

/* git itself stops at this include depth (MAX_INCLUDE_DEPTH). */
#define GIT_MAX_INCLUDE_DEPTH 10

/* The largest configuration file whose includes are followed. Real ones
 * are a few KiB; this only bounds what a mistake (or /dev/zero behind a
 * symlink that was a file a moment before) can make cbox read. */
#define GIT_MAX_CONFIG_SIZE (1024 * 1024)

/* Variables a user sets to sign commits with another identity. */
static const char *const git_identity_vars[] = {
  "GIT_AUTHOR_NAME",
  "GIT_AUTHOR_EMAIL",
  "GIT_COMMITTER_NAME",
  "GIT_COMMITTER_EMAIL",
};

typedef enum
{
  GIT_ITEM_BIND,    /* bind src at dest read-only */
  GIT_ITEM_OUTSIDE, /* an include that leaves the home: not forwarded */
  GIT_ITEM_SPECIAL, /* a fifo, device, socket or directory: not forwarded */
} GitItemKind;

typedef struct
{
  GitItemKind kind;
  char *src;           /* host path under the root prefix */
  char *dest;          /* path inside (the path git opens) */
  gboolean config_dir; /* the git configuration directory itself */
} GitItem;

typedef struct
{
  GPtrArray *items;  /* GitItem* */
  char *credentials; /* host path of $XDG_CONFIG_HOME/git/credentials, or NULL */
  gboolean forward_credentials;
} GitData;

static void
git_item_free (GitItem *item)
{
  g_free (item->src);
  g_free (item->dest);
  g_free (item);
}

static void
git_data_free (GitData *data)
{
  if (data == NULL)
    return;
  g_ptr_array_unref (data->items);
  g_free (data->credentials);
  g_free (data);
}

/* ---- include paths of a git config file -------------------------------- */

/* The value of a "key = value" line, as git reads it: surrounding blanks
 * dropped, double quotes removed, \" \\ \n \t \b unescaped, a # or ; outside
 * quotes starting a comment. Continuation lines are not supported (git
 * allows them; include paths never need them). */
static char *
git_parse_value (const char *p)
{
  GString *out = g_string_new (NULL);
  gboolean quoted = FALSE;
  gsize keep = 0; /* length without trailing blanks outside quotes */

  while (*p == ' ' || *p == '\t')
    p++;
  for (; *p != '\0' && *p != '\n' && *p != '\r'; p++)
    {
      if (!quoted && (*p == '#' || *p == ';'))
        break;
      if (*p == '"')
        {
          quoted = !quoted;
          keep = out->len;
          continue;
        }
      if (*p == '\\' && p[1] != '\0')
        {
          p++;
          switch (*p)
            {
            case 'n':
              g_string_append_c (out, '\n');
              break;
            case 't':
              g_string_append_c (out, '\t');
              break;
            case 'b':
              g_string_append_c (out, '\b');
              break;
            default:
              g_string_append_c (out, *p);
              break;
            }
          keep = out->len;
          continue;
        }
      g_string_append_c (out, *p);
      if (quoted || (*p != ' ' && *p != '\t'))
        keep = out->len;
    }
  g_string_truncate (out, keep);
  return g_string_free (out, FALSE);
}

/* The section name of a header line "[name]", "[name \"sub\"]" or
 * "[name.sub]", lower-cased; NULL when the line is not a header. */
static char *
git_parse_section (const char *line)
{
  const char *end;

  if (*line != '[')
    return NULL;
  line++;
  end = line;
  while (*end != '\0' && *end != ']' && *end != ' ' && *end != '\t' && *end != '.' && *end != '"')
    end++;
  return g_ascii_strdown (line, end - line);
}

/* The include.path and includeIf.*.path values of @contents, in order.
 * Conditions are not evaluated: every target that git might read is a
 * candidate. */
static GPtrArray *
git_parse_include_paths (const char *contents)
{
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) lines = g_strsplit (contents, "\n", -1);
  g_autofree char *section = NULL;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      const char *key_end;
      g_autofree char *key = NULL;

      while (*line == ' ' || *line == '\t')
        line++;
      if (*line == '[')
        {
          g_free (section);
          section = git_parse_section (line);
          /* "[include] path = x" may sit on one line. */
          line = strchr (line, ']');
          if (line == NULL)
            continue;
          line++;
          while (*line == ' ' || *line == '\t')
            line++;
        }
      if (section == NULL
          || !(g_str_equal (section, "include") || g_str_equal (section, "includeif")))
        continue;
      key_end = line;
      while (g_ascii_isalnum (*key_end) || *key_end == '-')
        key_end++;
      key = g_ascii_strdown (line, key_end - line);
      if (!g_str_equal (key, "path"))
        continue;
      while (*key_end == ' ' || *key_end == '\t')
        key_end++;
      if (*key_end != '=')
        continue;
      g_ptr_array_add (paths, git_parse_value (key_end + 1));
    }
  return paths;
}

/* ---- probe --------------------------------------------------------------- */

typedef struct
{
  const CboxHost *host;
  const char *home;       /* host home, as the sandbox sees it */
  char *real_home;        /* its canonical path on the host (under the root) */
  const char *config_dir; /* host $XDG_CONFIG_HOME/git, logical */
  GitData *data;
  CboxProbeResult *result;
  GHashTable *seen; /* logical paths already handled */
  GString *not_forwarded;
  GString *includes_not_read;
} GitScan;

static void
git_scan_not_forwarded (GitScan *scan, const char *path, const char *why)
{
  g_string_append_printf (scan->not_forwarded, "%s%s (%s)",
                          scan->not_forwarded->len > 0 ? ", " : "", path, why);
}

/* TRUE when @path (host, under the root prefix, canonical) is @dir or
 * below it. */
static gboolean
git_path_is_under (const char *path, const char *dir)
{
  gsize len = strlen (dir);

  if (g_str_equal (dir, "/"))
    return TRUE;
  return strncmp (path, dir, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

/* The canonical path of @path (following every symlink), or NULL when it
 * does not exist. */
static char *
git_realpath (const char *path)
{
  char *real = realpath (path, NULL);
  char *copy;

  if (real == NULL)
    return NULL;
  copy = g_strdup (real);
  free (real);
  return copy;
}

static void git_scan_file (GitScan *scan, const char *logical, guint depth);

static void
git_scan_include (GitScan *scan, const char *including, const char *target, guint depth)
{
  g_autofree char *logical = NULL;
  g_autofree char *resolved = NULL;
  g_autofree char *real = NULL;
  g_autofree char *canonical = NULL;

  if (target[0] == '\0')
    return;
  if (g_str_equal (target, "~") || g_str_has_prefix (target, "~/"))
    logical = g_build_filename (scan->home, target + 1, NULL);
  else if (target[0] == '~')
    {
      /* ~otheruser/...: another user's home is never forwarded. */
      git_scan_not_forwarded (scan, target, "another user's home");
      return;
    }
  else if (g_path_is_absolute (target))
    logical = g_strdup (target);
  else
    {
      g_autofree char *dir = g_path_get_dirname (including);
      logical = g_build_filename (dir, target, NULL);
    }
  canonical = g_canonicalize_filename (logical, "/");

  if (g_hash_table_contains (scan->seen, canonical))
    return;
  resolved = cbox_host_resolve (scan->host, canonical);
  real = git_realpath (resolved);
  if (real == NULL)
    return; /* git ignores a missing include; so does the sandbox */

  /* The home boundary is checked twice: the path git opens must be under
   * the home, and so must the file it ends up at once every symlink is
   * followed. A link ~/.gitconfig.d/work -> /etc/secret or an include of
   * /srv/team/gitconfig would otherwise carry a file from outside the home
   * into the sandbox, where the user asked only for git's configuration. */
  if (!git_path_is_under (canonical, scan->home) || !git_path_is_under (real, scan->real_home))
    {
      GitItem *item = g_new0 (GitItem, 1);
      item->kind = GIT_ITEM_OUTSIDE;
      item->dest = g_strdup (canonical);
      g_ptr_array_add (scan->data->items, item);
      g_hash_table_add (scan->seen, g_strdup (canonical));
      git_scan_not_forwarded (scan, canonical, "outside the home");
      return;
    }
  git_scan_file (scan, canonical, depth + 1);
}

/* Adds @logical (a host path under the home, not under the root prefix) as
 * a read-only item and follows its includes. */
static void
git_scan_file (GitScan *scan, const char *logical, guint depth)
{
  g_autofree char *resolved = cbox_host_resolve (scan->host, logical);
  g_autoptr (GBytes) bytes = NULL;
  g_autofree char *contents = NULL;
  g_autoptr (GPtrArray) includes = NULL;
  gboolean covered;
  GStatBuf st;
  const char *data;
  gsize size;

  if (depth > GIT_MAX_INCLUDE_DEPTH || g_stat (resolved, &st) < 0)
    return; /* git ignores a missing file; so does the sandbox */
  g_hash_table_add (scan->seen, g_strdup (logical));

  /* Files in the configuration directory come with its bind. */
  covered = scan->config_dir != NULL && git_path_is_under (logical, scan->config_dir);
  if (!S_ISREG (st.st_mode))
    {
      /* A fifo, a device or a directory where git expects a file: git
       * would block on a fifo nobody writes to and read a device without
       * end, so it is neither bound nor read, and the user is told. Inside
       * the configuration directory it comes with the directory's bind
       * anyway, as it is on the host; it is only not read. */
      if (!covered)
        {
          GitItem *item = g_new0 (GitItem, 1);
          item->kind = GIT_ITEM_SPECIAL;
          item->dest = g_strdup (logical);
          g_ptr_array_add (scan->data->items, item);
          git_scan_not_forwarded (scan, logical, "not a regular file");
        }
      return;
    }
  if (!covered)
    {
      GitItem *item = g_new0 (GitItem, 1);
      item->kind = GIT_ITEM_BIND;
      item->src = g_strdup (resolved);
      item->dest = g_strdup (logical);
      g_ptr_array_add (scan->data->items, item);
    }

  /* Read through cbox_host_read_file(), not g_file_get_contents(): the
   * file can have become a fifo or a device since the look above, and it
   * must not block the probe or flood it. A file that cannot be read this
   * way is bound all the same (git inside meets what git outside does),
   * but its includes are not followed: say so. */
  bytes = cbox_host_read_file (scan->host, logical, GIT_MAX_CONFIG_SIZE, NULL);
  if (bytes == NULL)
    {
      g_string_append_printf (scan->includes_not_read, "%s%s (%s)",
                              scan->includes_not_read->len > 0 ? ", " : "", logical,
                              (guint64)st.st_size > GIT_MAX_CONFIG_SIZE ? "larger than 1 MiB"
                                                                        : "cannot be read");
      return;
    }
  data = g_bytes_get_data (bytes, &size);
  contents = size > 0 ? g_strndup (data, size) : g_strdup ("");
  includes = git_parse_include_paths (contents);
  for (guint i = 0; i < includes->len; i++)
    git_scan_include (scan, logical, g_ptr_array_index (includes, i), depth);
}

static gboolean
git_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  const char *home = cbox_host_get_home_dir (host);
  const char *xdg = cbox_host_getenv_nonempty (host, "XDG_CONFIG_HOME");
  g_autofree char *real_home_resolved = NULL;
  g_autofree char *home_canonical = NULL;
  g_autofree char *config_home = NULL;
  g_autofree char *config_dir = NULL;
  g_autofree char *config_dir_resolved = NULL;
  g_autofree char *gitconfig = NULL;
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GString) not_forwarded = g_string_new (NULL);
  g_autoptr (GString) includes_not_read = g_string_new (NULL);
  GitScan scan = { 0 };
  GitData *data;
  gboolean any_bound = FALSE;

  data = g_new0 (GitData, 1);
  data->items = g_ptr_array_new_with_free_func ((GDestroyNotify)git_item_free);
  cbox_context_set_data (ctx, data, (GDestroyNotify)git_data_free);
  if (!cbox_context_get_boolean (ctx, "credentials", FALSE, &data->forward_credentials, error))
    {
      g_prefix_error (error, "git: ");
      return FALSE;
    }

  if (home == NULL || !g_path_is_absolute (home))
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE, "the user has no home");
      return TRUE;
    }
  home_canonical = g_canonicalize_filename (home, "/");
  {
    g_autofree char *resolved = cbox_host_resolve (host, home_canonical);
    real_home_resolved = git_realpath (resolved);
  }
  if (real_home_resolved == NULL)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE, "the home %s does not exist",
                                    home);
      return TRUE;
    }

  /* git reads $XDG_CONFIG_HOME/git, else ~/.config/git. */
  config_home = xdg != NULL && g_path_is_absolute (xdg)
                    ? g_canonicalize_filename (xdg, "/")
                    : g_build_filename (home_canonical, ".config", NULL);
  config_dir = g_build_filename (config_home, "git", NULL);
  config_dir_resolved = cbox_host_resolve (host, config_dir);

  scan.host = host;
  scan.home = home_canonical;
  scan.real_home = real_home_resolved;
  scan.data = data;
  scan.result = result;
  scan.seen = seen;
  scan.not_forwarded = not_forwarded;
  scan.includes_not_read = includes_not_read;

  if (g_file_test (config_dir_resolved, G_FILE_TEST_IS_DIR))
    {
      g_autofree char *config = g_build_filename (config_dir, "config", NULL);
      g_autofree char *credentials = g_build_filename (config_dir_resolved, "credentials", NULL);
      GitItem *item = g_new0 (GitItem, 1);

      item->kind = GIT_ITEM_BIND;
      item->src = g_strdup (config_dir_resolved);
      item->dest = g_strdup (config_dir);
      item->config_dir = TRUE;
      g_ptr_array_add (data->items, item);
      cbox_probe_result_add_detail (result, "config-dir", "%s", config_dir);
      if (g_file_test (credentials, G_FILE_TEST_EXISTS))
        data->credentials = g_steal_pointer (&credentials);
      /* Inside, the directory is at ~/.config/git; files in it that the
       * configuration names by a host path elsewhere ($XDG_CONFIG_HOME
       * set on the host) need their own binds at that path. */
      {
        g_autofree char *usual = g_build_filename (home_canonical, ".config", "git", NULL);
        if (g_str_equal (usual, config_dir))
          scan.config_dir = config_dir;
      }
      git_scan_file (&scan, config, 0);
    }

  gitconfig = g_build_filename (home_canonical, ".gitconfig", NULL);
  {
    g_autofree char *resolved = cbox_host_resolve (host, gitconfig);
    if (g_file_test (resolved, G_FILE_TEST_IS_REGULAR))
      cbox_probe_result_add_detail (result, "gitconfig", "%s", gitconfig);
  }
  git_scan_file (&scan, gitconfig, 0);
  if (not_forwarded->len > 0)
    cbox_probe_result_add_detail (result, "not-forwarded", "%s", not_forwarded->str);
  if (includes_not_read->len > 0)
    cbox_probe_result_add_detail (result, "includes-not-read", "%s", includes_not_read->str);

  for (guint i = 0; i < data->items->len; i++)
    any_bound |= ((GitItem *)g_ptr_array_index (data->items, i))->kind == GIT_ITEM_BIND;
  if (!any_bound)
    cbox_probe_result_set_status (result, CBOX_PROBE_DEGRADED,
                                  "no git configuration (%s, %s): nothing to forward", gitconfig,
                                  config_dir);
  else
    cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);
  return TRUE;
}

/* ---- contribute ------------------------------------------------------------ */

static gboolean
git_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  GitData *data = cbox_context_get_data (ctx);
  const char *inside_config_home = cbox_plan_get_env (plan, "XDG_CONFIG_HOME");
  g_autofree char *inside_config_dir = NULL;

  g_return_val_if_fail (data != NULL, FALSE);

  /* git looks for its directory inside through the sandbox's own
   * XDG_CONFIG_HOME (unset: ~/.config), which need not be the host's. */
  inside_config_dir
      = inside_config_home != NULL
            ? g_build_filename (inside_config_home, "git", NULL)
            : g_build_filename (cbox_plan_get_home_dir (plan), ".config", "git", NULL);

  for (guint i = 0; i < data->items->len; i++)
    {
      GitItem *item = g_ptr_array_index (data->items, i);

      if (item->kind == GIT_ITEM_OUTSIDE)
        {
          cbox_plan_add_note (plan, "include %s is outside the home: not forwarded", item->dest);
          continue;
        }
      if (item->kind == GIT_ITEM_SPECIAL)
        {
          cbox_plan_add_note (plan, "%s is not a regular file: not forwarded", item->dest);
          continue;
        }
      if (item->config_dir)
        cbox_plan_add_bind_ro (plan, item->src, inside_config_dir, CBOX_MOUNT_FLAG_NONE);
      else
        cbox_plan_add_bind_ro (plan, item->src, item->dest, CBOX_MOUNT_FLAG_NONE);
    }

  if (data->credentials != NULL && !data->forward_credentials)
    {
      /* git-credential-store keeps passwords and tokens in clear text in
       * this file. It is part of the configuration directory, but the
       * configuration is all the user asked for: hide it under an empty
       * file unless [git] credentials=true. */
      g_autofree char *dest = g_build_filename (inside_config_dir, "credentials", NULL);
      if (!(cbox_context_get_backend_features (ctx) & CBOX_FEATURE_DATA)
          && cbox_context_get_backend (ctx) != NULL)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                       "git: cannot hide %s (backend '%s' cannot add generated files); move the "
                       "credentials out of the git configuration directory or set [git] "
                       "credentials=true",
                       data->credentials, cbox_context_get_backend (ctx));
          return FALSE;
        }
      if (!cbox_plan_add_data (plan, dest, "", 0, 0600, CBOX_MOUNT_FLAG_NONE, error))
        {
          g_prefix_error (error, "git: ");
          return FALSE;
        }
      cbox_plan_add_note (plan, "%s hidden (set [git] credentials=true to forward it)", dest);
    }
  else if (data->forward_credentials)
    {
      g_autofree char *src = NULL;
      g_autofree char *dest
          = g_build_filename (cbox_plan_get_home_dir (plan), ".git-credentials", NULL);
      g_autofree char *host_file
          = g_build_filename (cbox_host_get_home_dir (host), ".git-credentials", NULL);
      src = cbox_host_resolve (host, host_file);
      cbox_plan_add_bind_ro (plan, src, dest, CBOX_MOUNT_FLAG_ALLOW_MISSING);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (git_identity_vars); i++)
    {
      const char *value = cbox_host_getenv_nonempty (host, git_identity_vars[i]);
      if (value != NULL)
        cbox_plan_set_env (plan, git_identity_vars[i], value);
    }
  return TRUE;
}

static const CboxForwarderVTable git_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = git_probe,
  .contribute = git_contribute,
};

/* Every key of [git] (docs/config.md lists them from here). */
static const CboxPluginKey git_config_keys[] = {
  { .name = "credentials",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "leave git-credential-store files visible (clear-text tokens)",
    .default_value = "false" },
  { NULL },
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "git", .version = "1.0",
                    .description = "git configuration (~/.gitconfig, ~/.config/git) read-only",
                    .features = CBOX_FEATURE_BIND, .forwarder = &git_vtable,
                    .default_enabled = FALSE, .keys = git_config_keys)

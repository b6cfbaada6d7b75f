/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbox-plugin-cache.h"
#include "cbox-private.h"

/* Bump when the layout below changes; a cache of another format, cbox
 * version or ABI is ignored and rewritten. */
#define CACHE_FORMAT 1
/* Far more than any plugin folder needs; a larger file is not ours. */
#define CACHE_MAX_SIZE (1024 * 1024)

typedef struct
{
  char *path;
  CboxPluginStamp stamp;
  CboxPluginKind kind;
  guint32 abi_minor;
  char *name;
  char *version;
  char *description;
  char **aliases;
  char **after;
  char **conflicts;
  CboxFeatures features;
  gboolean default_enabled;
  /* Looked up or recorded by this run. */
  gboolean used;
} CacheEntry;

struct _CboxPluginCache
{
  char *path;
  GHashTable *entries; /* path -> CacheEntry */
  gboolean dirty;
};

static void
cache_entry_free (CacheEntry *entry)
{
  g_free (entry->path);
  g_free (entry->name);
  g_free (entry->version);
  g_free (entry->description);
  g_strfreev (entry->aliases);
  g_strfreev (entry->after);
  g_strfreev (entry->conflicts);
  g_free (entry);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CacheEntry, cache_entry_free)

static const char *
cache_header (void)
{
  return CBOX_VERSION " " G_STRINGIFY (CBOX_ABI_MAJOR) "." G_STRINGIFY (CBOX_ABI_MINOR);
}

/* Security: the cache decides which plugin files a run opens and which
 * forwarders are on by default, so only a cache that the effective user
 * alone could have written is read, and only into a folder of that user is
 * one written. Root never reads a cache in a folder someone else owns (a
 * `sudo -E` with the user's HOME), and never creates folders there. The
 * cache never stands in for the checks: a plugin is loaded and checked as
 * always before any of its code runs, and its descriptor must match the
 * cached one (cbox_loader_load_cached()).
 *
 * The folders above the cache folder count too: whoever may rename an
 * entry of one of them can put a link or another folder there. Root with
 * a user's XDG_CACHE_HOME whose ~/.cache is the user's link to /etc would
 * otherwise take /etc/cbox, a folder of root's, for its cache folder, and
 * write there. So every folder on the way, links followed, must belong to
 * root or to the effective user and be writable by nobody else, unless it
 * is sticky (as /tmp): there nobody else may rename what is ours. */
gboolean
cbox_plugin_cache_path_is_safe (const char *dir)
{
  g_autofree char *path = g_strdup (dir);

  for (;;)
    {
      struct stat st;
      char *parent;

      if (stat (path, &st) != 0 || !S_ISDIR (st.st_mode)
          || (st.st_uid != 0 && st.st_uid != geteuid ())
          || ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0))
        return FALSE;
      parent = g_path_get_dirname (path);
      if (g_str_equal (parent, path))
        {
          g_free (parent);
          return TRUE;
        }
      g_free (path);
      path = parent;
    }
}

static gboolean
cache_dir_is_ours (const char *dir)
{
  g_autofree char *parent = g_path_get_dirname (dir);
  struct stat st;

  return lstat (dir, &st) == 0 && S_ISDIR (st.st_mode) && st.st_uid == geteuid ()
         && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0 && cbox_plugin_cache_path_is_safe (parent);
}

/* Makes @dir (mode 0700) where missing, only below a folder that
 * cbox_plugin_cache_path_is_safe() accepts: as root, below a folder of root's. */
static gboolean
cache_dir_make (const char *dir)
{
  g_autofree char *ancestor = g_strdup (dir);
  struct stat st;

  if (cache_dir_is_ours (dir))
    return TRUE;
  while (lstat (ancestor, &st) != 0)
    {
      char *parent;

      if (errno != ENOENT)
        return FALSE;
      parent = g_path_get_dirname (ancestor);
      if (g_str_equal (parent, ancestor))
        {
          g_free (parent);
          return FALSE;
        }
      g_free (ancestor);
      ancestor = parent;
    }
  if (!cbox_plugin_cache_path_is_safe (ancestor))
    return FALSE;
  if (g_mkdir_with_parents (dir, 0700) != 0)
    return FALSE;
  return cache_dir_is_ours (dir);
}

static char *
cache_read (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *data = NULL;
  struct stat st;
  gsize done = 0;
  int fd;

  if (!cache_dir_is_ours (dir))
    return NULL;
  /* O_NONBLOCK: a fifo planted under the name must not hang cbox. */
  fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) || st.st_uid != geteuid ()
      || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 || st.st_size > CACHE_MAX_SIZE)
    {
      close (fd);
      return NULL;
    }
  data = g_malloc ((gsize)st.st_size + 1);
  while (done < (gsize)st.st_size)
    {
      ssize_t n = read (fd, data + done, (gsize)st.st_size - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      done += (gsize)n;
    }
  close (fd);
  data[done] = '\0';
  return g_steal_pointer (&data);
}

/* One unsigned number ended by @end; advances *@p past @end. */
static gboolean
number_parse (const char **p, char end, guint64 *ret)
{
  char *after = NULL;

  if (!g_ascii_isdigit (**p))
    return FALSE;
  errno = 0;
  *ret = g_ascii_strtoull (*p, &after, 10);
  if (errno != 0 || *after != end)
    return FALSE;
  *p = end != '\0' ? after + 1 : after;
  return TRUE;
}

/* dev:ino:size:mtime-ns:ctime-ns, by hand: sscanf() took a tenth of a
 * `cbox plan` (callgrind) for a cache of 26 plugins. */
static gboolean
stamp_parse (const char *text, CboxPluginStamp *stamp)
{
  guint64 v[5];

  for (guint i = 0; i < G_N_ELEMENTS (v); i++)
    if (!number_parse (&text, i + 1 < G_N_ELEMENTS (v) ? ':' : '\0', &v[i]))
      return FALSE;
  if (v[2] > G_MAXINT64 || v[3] > G_MAXINT64 || v[4] > G_MAXINT64)
    return FALSE;
  stamp->dev = v[0];
  stamp->ino = v[1];
  stamp->size = (gint64)v[2];
  stamp->mtime_ns = (gint64)v[3];
  stamp->ctime_ns = (gint64)v[4];
  return TRUE;
}

static char *
stamp_to_string (const CboxPluginStamp *stamp)
{
  return g_strdup_printf ("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT ":%" G_GINT64_FORMAT
                          ":%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT,
                          stamp->dev, stamp->ino, stamp->size, stamp->mtime_ns, stamp->ctime_ns);
}

/* The file: a first line "cbox-plugin-cache FORMAT CBOX_VERSION ABI", then
 * one line a plugin, fields separated by tabs:
 *   path stamp name kind abi-minor features default-enabled aliases after
 *   conflicts version description
 * stamp is dev:ino:size:mtime-ns:ctime-ns; kind "backend" or "forwarder";
 * aliases, after and conflicts are comma-separated names (which have no
 * commas) or "-" for none; path is C-escaped (g_strescape: no tab, no
 * newline, any bytes); version and description are "-" for none or "="
 * and the text C-escaped. A line-based file, not
 * GKeyFile: every run reads it, and GKeyFile took 0.2 ms for 13 plugins,
 * this about a tenth of that. */
#define CACHE_N_FIELDS 12

static char **
names_parse (const char *text)
{
  g_auto (GStrv) names = NULL;

  if (g_str_equal (text, "-"))
    return NULL;
  names = g_strsplit (text, ",", -1);
  for (gsize i = 0; names[i] != NULL; i++)
    if (!cbox_loader_name_is_valid (names[i]))
      return NULL;
  return g_steal_pointer (&names);
}

static gboolean
names_field_is_valid (const char *text, char **parsed)
{
  return g_str_equal (text, "-") || parsed != NULL;
}

static gboolean
int_parse (const char *text, guint64 max, guint64 *ret)
{
  return g_ascii_string_to_unsigned (text, 10, 0, max, ret, NULL);
}

/* g_strcompress() where there is anything to undo. */
static char *
unescape (const char *text)
{
  return strchr (text, '\\') != NULL ? g_strcompress (text) : g_strdup (text);
}

static gboolean
optional_parse (const char *text, char **ret)
{
  if (g_str_equal (text, "-"))
    return TRUE;
  if (text[0] != '=')
    return FALSE;
  *ret = unescape (text + 1);
  return TRUE;
}

/* One line, or NULL when anything in it is off. */
static CacheEntry *
cache_entry_parse (char *line)
{
  g_autoptr (CacheEntry) entry = g_new0 (CacheEntry, 1);
  char *fields[CACHE_N_FIELDS];
  guint64 value;

  /* Split in place: the line is the cache's own copy. */
  for (guint i = 0; i < CACHE_N_FIELDS; i++)
    {
      char *tab = strchr (line, '\t');

      fields[i] = line;
      if ((tab == NULL) != (i + 1 == CACHE_N_FIELDS))
        return NULL;
      if (tab != NULL)
        {
          *tab = '\0';
          line = tab + 1;
        }
    }
  entry->path = unescape (fields[0]);
  if (!g_path_is_absolute (entry->path) || !stamp_parse (fields[1], &entry->stamp)
      || !cbox_loader_name_is_valid (fields[2]))
    return NULL;
  entry->name = g_strdup (fields[2]);
  if (g_str_equal (fields[3], "backend"))
    entry->kind = CBOX_PLUGIN_KIND_BACKEND;
  else if (g_str_equal (fields[3], "forwarder"))
    entry->kind = CBOX_PLUGIN_KIND_FORWARDER;
  else
    return NULL;
  if (!int_parse (fields[4], CBOX_ABI_MINOR, &value))
    return NULL;
  entry->abi_minor = (guint32)value;
  if (!int_parse (fields[5], G_MAXUINT32, &value))
    return NULL;
  entry->features = (CboxFeatures)value;
  if (!int_parse (fields[6], 1, &value))
    return NULL;
  entry->default_enabled = value != 0;
  entry->aliases = names_parse (fields[7]);
  entry->after = names_parse (fields[8]);
  entry->conflicts = names_parse (fields[9]);
  if (!names_field_is_valid (fields[7], entry->aliases)
      || !names_field_is_valid (fields[8], entry->after)
      || !names_field_is_valid (fields[9], entry->conflicts))
    return NULL;
  if (!optional_parse (fields[10], &entry->version)
      || !optional_parse (fields[11], &entry->description))
    return NULL;
  return g_steal_pointer (&entry);
}

static char *
cache_first_line (void)
{
  return g_strdup_printf ("cbox-plugin-cache %d %s", CACHE_FORMAT, cache_header ());
}

CboxPluginCache *
cbox_plugin_cache_new (const char *path)
{
  CboxPluginCache *cache = g_new0 (CboxPluginCache, 1);
  g_autofree char *data = NULL;
  g_autofree char *first = cache_first_line ();
  char *line;
  char *next;

  g_return_val_if_fail (path != NULL, cache);

  cache->path = g_strdup (path);
  cache->entries
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)cache_entry_free);
  data = cache_read (path);
  if (data == NULL)
    {
      g_debug ("plugin cache %s: none usable, all plugins are loaded", path);
      cache->dirty = TRUE;
      return cache;
    }
  next = strchr (data, '\n');
  if (next == NULL || (*next = '\0', !g_str_equal (data, first)))
    {
      g_debug ("plugin cache %s: written by another cbox, ignored", path);
      cache->dirty = TRUE;
      return cache;
    }
  for (line = next + 1; *line != '\0'; line = next + 1)
    {
      CacheEntry *entry;

      next = strchr (line, '\n');
      /* A line cut short (a disk full while writing) is not trusted. */
      if (next == NULL)
        {
          cache->dirty = TRUE;
          break;
        }
      *next = '\0';
      entry = cache_entry_parse (line);
      if (entry == NULL)
        {
          cache->dirty = TRUE;
          continue;
        }
      g_hash_table_replace (cache->entries, entry->path, entry);
    }
  return cache;
}

void
cbox_plugin_cache_free (CboxPluginCache *cache)
{
  if (cache == NULL)
    return;
  g_hash_table_unref (cache->entries);
  g_free (cache->path);
  g_free (cache);
}

CboxPluginInfo *
cbox_plugin_cache_lookup (CboxPluginCache *cache, const char *path, const CboxPluginStamp *stamp)
{
  CacheEntry *entry;
  CboxPluginDesc desc = { 0 };
  CboxPluginInfo *info;

  g_return_val_if_fail (cache != NULL, NULL);

  entry = g_hash_table_lookup (cache->entries, path);
  if (entry == NULL)
    return NULL;
  if (!cbox_plugin_stamp_equal (&entry->stamp, stamp))
    {
      g_debug ("plugin cache: %s changed, loading it", path);
      g_hash_table_remove (cache->entries, path);
      cache->dirty = TRUE;
      return NULL;
    }
  entry->used = TRUE;
  desc.abi_major = CBOX_ABI_MAJOR;
  desc.abi_minor = entry->abi_minor;
  desc.kind = entry->kind;
  desc.name = entry->name;
  desc.version = entry->version;
  desc.description = entry->description;
  desc.aliases = (const char *const *)entry->aliases;
  desc.after = (const char *const *)entry->after;
  desc.conflicts = (const char *const *)entry->conflicts;
  desc.features = entry->features;
  desc.default_enabled = entry->default_enabled;
  info = cbox_plugin_info_new_cached (path, stamp, &desc);
  info->cache_file = g_strdup (cache->path);
  return info;
}

void
cbox_plugin_cache_record (CboxPluginCache *cache, CboxPluginInfo *info)
{
  CacheEntry *entry;

  g_return_if_fail (cache != NULL);
  g_return_if_fail (info != NULL);

  /* A file found through a relative folder of CBOX_PLUGIN_PATH is loaded
   * every time: its path means another file in another working directory,
   * and cbox_plugin_cache_new() drops such an entry, so recording it would
   * only rewrite the cache on every run. */
  if (!info->accepted || !info->loaded || !info->has_stamp || !g_path_is_absolute (info->path))
    return;
  entry = g_new0 (CacheEntry, 1);
  entry->path = g_strdup (info->path);
  entry->stamp = info->stamp;
  entry->kind = info->desc.kind;
  entry->abi_minor = info->desc.abi_minor;
  entry->name = g_strdup (info->desc.name);
  entry->version = g_strdup (info->desc.version);
  entry->description = g_strdup (info->desc.description);
  entry->aliases = g_strdupv ((char **)info->desc.aliases);
  entry->after = g_strdupv ((char **)info->desc.after);
  entry->conflicts = g_strdupv ((char **)info->desc.conflicts);
  entry->features = info->desc.features;
  entry->default_enabled = info->desc.default_enabled;
  entry->used = TRUE;
  g_hash_table_replace (cache->entries, entry->path, entry);
  cache->dirty = TRUE;
}

static void
names_append (GString *out, char **names)
{
  if (names == NULL || names[0] == NULL)
    {
      g_string_append (out, "-\t");
      return;
    }
  for (gsize i = 0; names[i] != NULL; i++)
    g_string_append_printf (out, "%s%s", i > 0 ? "," : "", names[i]);
  g_string_append_c (out, '\t');
}

/* "-" for none, else "=" and the text escaped: an empty or "-" text reads
 * back as itself. */
static void
optional_append (GString *out, const char *text, char end)
{
  g_autofree char *escaped = text != NULL ? g_strescape (text, NULL) : NULL;

  if (escaped != NULL)
    g_string_append_printf (out, "=%s", escaped);
  else
    g_string_append_c (out, '-');
  g_string_append_c (out, end);
}

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

void
cbox_plugin_cache_save (CboxPluginCache *cache)
{
  g_autoptr (GPtrArray) paths = g_ptr_array_new ();
  g_autofree char *first = cache_first_line ();
  GString *out;
  g_autofree char *dir = NULL;
  g_autofree char *data = NULL;
  g_autoptr (GError) error = NULL;
  GHashTableIter iter;
  gpointer key, value;
  gsize len = 0;

  g_return_if_fail (cache != NULL);

  if (!cache->dirty)
    return;

  /* Entries this run did not meet stay while their file does (another
   * CBOX_PLUGIN_PATH uses them); those of files gone or changed go. */
  g_hash_table_iter_init (&iter, cache->entries);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      CacheEntry *entry = value;
      CboxPluginStamp now;

      if (!entry->used
          && (!cbox_plugin_stamp_get (entry->path, &now, NULL)
              || !cbox_plugin_stamp_equal (&now, &entry->stamp)))
        g_hash_table_iter_remove (&iter);
      else
        g_ptr_array_add (paths, key);
    }
  g_ptr_array_sort (paths, compare_paths);

  out = g_string_new (NULL);
  g_string_append_printf (out, "%s\n", first);
  for (guint i = 0; i < paths->len; i++)
    {
      CacheEntry *entry = g_hash_table_lookup (cache->entries, g_ptr_array_index (paths, i));
      g_autofree char *stamp = stamp_to_string (&entry->stamp);

      g_autofree char *path = g_strescape (entry->path, NULL);

      g_string_append_printf (out, "%s\t", path);
      g_string_append_printf (out, "%s\t%s\t%s\t%u\t%u\t%d\t", stamp, entry->name,
                              entry->kind == CBOX_PLUGIN_KIND_BACKEND ? "backend" : "forwarder",
                              (unsigned)entry->abi_minor, (unsigned)entry->features,
                              entry->default_enabled ? 1 : 0);
      names_append (out, entry->aliases);
      names_append (out, entry->after);
      names_append (out, entry->conflicts);
      optional_append (out, entry->version, '\t');
      optional_append (out, entry->description, '\n');
    }
  len = out->len;
  data = g_string_free (g_steal_pointer (&out), FALSE);

  dir = g_path_get_dirname (cache->path);
  if (!cache_dir_make (dir))
    {
      g_debug ("plugin cache: %s is not a folder of this user; not written", dir);
      return;
    }
  /* A reader sees one whole cache or the other; one lost or torn in a
   * crash fails to parse or to match and is rebuilt. */
  if (!cbox_write_file_atomic (cache->path, data, len, 0600, &error))
    {
      g_debug ("plugin cache: %s", error->message);
      return;
    }
  cache->dirty = FALSE;
}

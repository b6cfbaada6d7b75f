/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cbox-plugin-cache.h"
#include "cbox-private.h"

struct _CboxRegistry
{
  GPtrArray *plugins;     /* CboxPluginInfo, accepted and rejected, in the order found */
  GHashTable *accepted;   /* name -> CboxPluginInfo (borrowed from plugins) */
  GHashTable *dirs;       /* "dev:ino" of every folder scanned */
  char *cache_file;       /* NULL: no descriptor cache */
  CboxPluginCache *cache; /* while loading */
  guint n_cached;
  gboolean cache_read_only; /* read the cache, never write it */
  gboolean isolated;        /* load each file in a child first (cbox plugins, doctor) */
};

CboxRegistry *
cbox_registry_new (void)
{
  CboxRegistry *registry = g_new0 (CboxRegistry, 1);

  registry->plugins = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_plugin_info_free);
  registry->accepted = g_hash_table_new (g_str_hash, g_str_equal);
  registry->dirs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return registry;
}

void
cbox_registry_free (CboxRegistry *registry)
{
  if (registry == NULL)
    return;
  g_clear_pointer (&registry->accepted, g_hash_table_unref);
  g_clear_pointer (&registry->dirs, g_hash_table_unref);
  g_clear_pointer (&registry->plugins, g_ptr_array_unref);
  g_clear_pointer (&registry->cache, cbox_plugin_cache_free);
  g_free (registry->cache_file);
  g_free (registry);
}

void
cbox_registry_set_cache_file (CboxRegistry *registry, const char *path)
{
  g_return_if_fail (registry != NULL);

  g_free (registry->cache_file);
  registry->cache_file = NULL;
  /* Security: a setuid cbox trusts nothing the calling user wrote, the
   * cache included (as it ignores CBOX_PLUGIN_PATH). */
  if (path != NULL && getauxval (AT_SECURE) == 0)
    registry->cache_file = g_strdup (path);
}

void
cbox_registry_set_cache_read_only (CboxRegistry *registry, gboolean read_only)
{
  g_return_if_fail (registry != NULL);
  registry->cache_read_only = read_only;
}

guint
cbox_registry_get_n_cached (CboxRegistry *registry)
{
  g_return_val_if_fail (registry != NULL, 0);
  return registry->n_cached;
}

void
cbox_registry_set_isolated (CboxRegistry *registry, gboolean isolated)
{
  g_return_if_fail (registry != NULL);
  registry->isolated = isolated;
}

static void
registry_load_in_child (gpointer data, int fd)
{
  g_autoptr (CboxPluginInfo) info = cbox_loader_load_file (data);
  char verdict = info->accepted ? 'A' : 'R';

  if (write (fd, &verdict, 1) != 1)
    _exit (1);
}

/* NULL when the file loads (or is refused) without harm in a child, so the
 * parent may load it; else the rejected info, saying what the child died
 * of. */
static CboxPluginInfo *
registry_try_in_child (const char *path)
{
  g_autoptr (GByteArray) output = g_byte_array_new ();
  guint timeout_s = cbox_plugin_guard_get_timeout ();
  int wait_status;
  gboolean timed_out;
  g_autofree char *why = NULL;

  if (!cbox_plugin_run_isolated (registry_load_in_child, (gpointer)path, timeout_s, output,
                                 &wait_status, &timed_out))
    return NULL; /* no child: load it here, as a run does */
  if (timed_out)
    why = g_strdup_printf ("it hangs: loading it (its constructors and describe()) did not end "
                           "within %u s",
                           timeout_s);
  else if (WIFSIGNALED (wait_status))
    why = g_strdup_printf ("it crashed while loaded (its constructors or describe()): signal %d, "
                           "%s",
                           WTERMSIG (wait_status),
                           cbox_plugin_guard_signal_name (WTERMSIG (wait_status)));
  else if (output->len != 1)
    why = g_strdup_printf ("loading it ended its process (exit status %d)",
                           WIFEXITED (wait_status) ? WEXITSTATUS (wait_status) : -1);
  if (why == NULL)
    return NULL;
  return cbox_loader_new_rejected (path, CBOX_PLUGIN_ERROR_CRASHED, why);
}

static void
registry_add_file (CboxRegistry *registry, const char *path)
{
  CboxPluginInfo *info = NULL;

  /* A diagnosis (cbox plugins, cbox doctor) loads every file in a child
   * first, also one the descriptor cache describes: the cache's stamp is
   * the plugin file's, not its libraries', so a file that loaded fine when
   * it was cached can crash now (a library it links changed), and the
   * diagnosis must survive that and report it. */
  if (registry->isolated)
    info = registry_try_in_child (path);
  if (info == NULL && registry->cache != NULL)
    {
      CboxPluginStamp stamp;
      struct stat st;

      if (cbox_plugin_stamp_get (path, &stamp, &st) && S_ISREG (st.st_mode))
        info = cbox_plugin_cache_lookup (registry->cache, path, &stamp);
      if (info != NULL)
        registry->n_cached++;
    }
  if (info == NULL)
    {
      info = cbox_loader_load_file (path);
      /* What the loader accepted, before the registry's own check: a
       * duplicate is found again from the cache next time. */
      if (registry->cache != NULL && info->accepted)
        cbox_plugin_cache_record (registry->cache, info);
    }

  if (info->accepted)
    {
      CboxPluginInfo *first = g_hash_table_lookup (registry->accepted, info->name);

      if (first != NULL)
        {
          /* The first file wins, so that CBOX_PLUGIN_PATH overrides the
           * installed plugins. A rejected file does not claim its name: a
           * broken override leaves the installed plugin usable. */
          cbox_plugin_info_reject (
              info, g_error_new (CBOX_PLUGIN_ERROR, CBOX_PLUGIN_ERROR_DUPLICATE_NAME,
                                 "%s: a plugin named '%s' was found first, in %s; this one is "
                                 "ignored (remove one of the two files)",
                                 path, info->name, first->path));
          /* Allowed, but never silent: `cbox plugins`, `cbox plan` and -v
           * say which file replaces which (file names equal the plugins'
           * names, so the two are in different folders). */
          if (first->overrides == NULL)
            first->overrides = g_strdup (path);
        }
      else
        {
          /* Plans keep pointers into plugin code (cleanup functions, static
           * strings) that may outlive the registry: never unload it. (A
           * plugin from the cache is made resident when it is loaded.) */
          if (info->module != NULL)
            g_module_make_resident (info->module);
          g_hash_table_insert (registry->accepted, info->name, info);
        }
    }
  if (info->error != NULL)
    g_debug ("%s", info->error->message);
  g_ptr_array_add (registry->plugins, info);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

void
cbox_registry_load_dir (CboxRegistry *registry, const char *dir)
{
  g_autoptr (GDir) gdir = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  struct stat st;
  char *key;

  g_return_if_fail (registry != NULL);
  g_return_if_fail (dir != NULL);

  if (stat (dir, &st) != 0)
    {
      g_debug ("plugin folder %s: %s", dir, g_strerror (errno));
      return;
    }
  if (!S_ISDIR (st.st_mode))
    {
      g_debug ("plugin folder %s: not a directory", dir);
      return;
    }
  /* A folder named twice in the path (CBOX_PLUGIN_PATH listing the
   * installed folder, or a symlink to it) would otherwise report each of
   * its plugins as a duplicate of itself. */
  key = g_strdup_printf ("%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
  if (!g_hash_table_add (registry->dirs, key))
    return;

  gdir = g_dir_open (dir, 0, &local_error);
  if (gdir == NULL)
    {
      g_debug ("plugin folder %s: %s", dir, local_error->message);
      return;
    }
  while ((name = g_dir_read_name (gdir)) != NULL)
    {
      if (g_str_has_prefix (name, "libcbox-") && g_str_has_suffix (name, ".so")
          && strlen (name) > strlen ("libcbox-.so"))
        g_ptr_array_add (names, g_strdup (name));
    }
  /* Name order, so that which of two files wins never depends on the
   * order the file system returns them in. */
  g_ptr_array_sort (names, compare_strings);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (dir, g_ptr_array_index (names, i), NULL);
      registry_add_file (registry, path);
    }
}

char **
cbox_registry_get_default_path (void)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  const char *env = NULL;

  /* A setuid or otherwise privileged (AT_SECURE) cbox must never load code
   * from a folder the calling user chose: that would run the user's code
   * with the privileges. secure_getenv() already returns NULL then;
   * checking AT_SECURE too says so where the decision is made. */
  if (getauxval (AT_SECURE) == 0)
    env = secure_getenv ("CBOX_PLUGIN_PATH");
  if (env != NULL)
    {
      g_auto (GStrv) dirs = g_strsplit (env, ":", -1);
      for (gsize i = 0; dirs[i] != NULL; i++)
        {
          /* An empty element (a leading or doubled ':') is not "the current
           * directory": loading code from wherever cbox was started is not
           * what anyone means. */
          if (dirs[i][0] != '\0')
            g_strv_builder_add (builder, dirs[i]);
        }
    }
  g_strv_builder_add (builder, CBOX_PLUGIN_DIR);
  return g_strv_builder_end (builder);
}

/* Security: an alias is what a user types for a plugin (--forward=gpu);
 * one equal to another plugin's name would make that name mean two
 * plugins (a plugin aliased "ssh" next to the real ssh). Such a plugin is
 * rejected, whichever was found first. */
static void
registry_reject_alias_clashes (CboxRegistry *registry)
{
  for (guint i = 0; i < registry->plugins->len; i++)
    {
      CboxPluginInfo *info = g_ptr_array_index (registry->plugins, i);

      for (guint j = 0;
           info->accepted && info->desc.aliases != NULL && info->desc.aliases[j] != NULL; j++)
        {
          CboxPluginInfo *other = g_hash_table_lookup (registry->accepted, info->desc.aliases[j]);
          g_autofree char *alias = NULL;

          if (other == NULL || other == info)
            continue;
          alias = g_strdup (info->desc.aliases[j]);
          g_hash_table_remove (registry->accepted, info->name);
          cbox_plugin_info_reject (
              info, g_error_new (CBOX_PLUGIN_ERROR, CBOX_PLUGIN_ERROR_BAD_FILE_NAME,
                                 "%s: its alias '%s' is the name of another plugin (%s); fix "
                                 ".aliases or remove one of them",
                                 info->path, alias, other->path));
        }
    }
}

void
cbox_registry_load_default (CboxRegistry *registry)
{
  g_auto (GStrv) dirs = cbox_registry_get_default_path ();

  g_return_if_fail (registry != NULL);

  if (registry->cache_file != NULL)
    registry->cache = cbox_plugin_cache_new (registry->cache_file);
  for (gsize i = 0; dirs[i] != NULL; i++)
    cbox_registry_load_dir (registry, dirs[i]);
  registry_reject_alias_clashes (registry);
  if (registry->cache != NULL)
    {
      /* `cbox plan` and `cbox doctor` look; they create nothing on disk. */
      if (!registry->cache_read_only)
        cbox_plugin_cache_save (registry->cache);
      g_clear_pointer (&registry->cache, cbox_plugin_cache_free);
    }
}

guint
cbox_registry_get_n_plugins (CboxRegistry *registry)
{
  g_return_val_if_fail (registry != NULL, 0);
  return registry->plugins->len;
}

CboxPluginInfo *
cbox_registry_get_plugin (CboxRegistry *registry, guint index)
{
  g_return_val_if_fail (registry != NULL, NULL);
  g_return_val_if_fail (index < registry->plugins->len, NULL);
  return g_ptr_array_index (registry->plugins, index);
}

CboxPluginInfo *
cbox_registry_lookup (CboxRegistry *registry, const char *name)
{
  CboxPluginInfo *info;

  g_return_val_if_fail (registry != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  info = g_hash_table_lookup (registry->accepted, name);
  return info != NULL && info->accepted ? info : NULL;
}

static gboolean
plugin_answers_to (CboxPluginInfo *info, const char *name_or_alias)
{
  if (g_str_equal (info->name, name_or_alias))
    return TRUE;
  if (info->desc.aliases != NULL)
    return g_strv_contains ((const char *const *)info->desc.aliases, name_or_alias);
  return FALSE;
}

GPtrArray *
cbox_registry_resolve (CboxRegistry *registry, const char *name_or_alias, CboxPluginKind kind)
{
  GPtrArray *found = g_ptr_array_new ();

  g_return_val_if_fail (registry != NULL, found);
  g_return_val_if_fail (name_or_alias != NULL, found);

  for (guint i = 0; i < registry->plugins->len; i++)
    {
      CboxPluginInfo *info = g_ptr_array_index (registry->plugins, i);

      if (!info->accepted)
        continue;
      if (kind != 0 && info->desc.kind != kind)
        continue;
      if (plugin_answers_to (info, name_or_alias))
        g_ptr_array_add (found, info);
    }
  return found;
}

/* The plugins shipped with cbox and their aliases. A name in a
 * configuration file or a forwarder list that no plugin found here
 * answers to is an error (a typo must not silently leave a forwarder or a
 * setting out), unless it is one of these: a plugin of cbox that this
 * build or this machine does not have (-Dqemu=disabled), which the shipped
 * profiles may name. /failclosed/names/shipped checks the list against
 * the built plugins. */
static const char *const cbox_registry_shipped_names[] = {
  "bwrap",    "nspawn", "qemu", "x11", "wayland", "display", "dbus",     "dri",    "gpu",
  "pipewire", "audio",  "ssh",  "git", "nix",     "locale",  "hostconf", "claude", NULL,
};

const char *const *
cbox_registry_get_shipped_names (void)
{
  return cbox_registry_shipped_names;
}

gboolean
cbox_registry_name_is_known (CboxRegistry *registry, const char *name)
{
  g_return_val_if_fail (registry != NULL && name != NULL, FALSE);

  if (g_strv_contains (cbox_registry_shipped_names, name))
    return TRUE;
  for (guint i = 0; i < registry->plugins->len; i++)
    {
      CboxPluginInfo *info = g_ptr_array_index (registry->plugins, i);
      if (g_str_equal (info->name, name) || (info->accepted && plugin_answers_to (info, name)))
        return TRUE;
    }
  return FALSE;
}

char **
cbox_registry_get_known_names (CboxRegistry *registry, CboxPluginKind kind)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr (GPtrArray) names = g_ptr_array_new ();

  g_return_val_if_fail (registry != NULL, NULL);
  for (guint i = 0; i < registry->plugins->len; i++)
    {
      CboxPluginInfo *info = g_ptr_array_index (registry->plugins, i);

      if (!info->accepted || (kind != 0 && info->desc.kind != kind))
        continue;
      g_ptr_array_add (names, info->name);
      for (guint j = 0; info->desc.aliases != NULL && info->desc.aliases[j] != NULL; j++)
        g_ptr_array_add (names, (gpointer)info->desc.aliases[j]);
    }
  g_ptr_array_sort (names, compare_strings);
  for (guint i = 0; i < names->len; i++)
    if (i == 0 || strcmp (g_ptr_array_index (names, i), g_ptr_array_index (names, i - 1)) != 0)
      g_strv_builder_add (builder, g_ptr_array_index (names, i));
  return g_strv_builder_end (builder);
}

const char *
cbox_plugin_info_get_path (CboxPluginInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return info->path;
}

const char *
cbox_plugin_info_get_name (CboxPluginInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return info->name;
}

const CboxPluginDesc *
cbox_plugin_info_get_desc (CboxPluginInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  if (info->accepted && !info->loaded)
    cbox_loader_load_cached (info);
  return info->accepted ? &info->desc : NULL;
}

const CboxPluginDesc *
cbox_plugin_info_get_meta (CboxPluginInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return info->accepted ? &info->desc : NULL;
}

const char *
cbox_plugin_info_get_overrides (CboxPluginInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return info->overrides;
}

const GError *
cbox_plugin_info_get_error (CboxPluginInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return info->error;
}

gboolean
cbox_plugin_info_is_accepted (CboxPluginInfo *info)
{
  g_return_val_if_fail (info != NULL, FALSE);
  return info->accepted;
}

const char *
cbox_plugin_error_code_to_string (int code)
{
  switch (code)
    {
    case CBOX_PLUGIN_ERROR_NOT_REGULAR_FILE:
      return "not-regular-file";
    case CBOX_PLUGIN_ERROR_OPEN:
      return "open";
    case CBOX_PLUGIN_ERROR_NO_ENTRY_POINT:
      return "no-entry-point";
    case CBOX_PLUGIN_ERROR_NULL_DESCRIPTOR:
      return "null-descriptor";
    case CBOX_PLUGIN_ERROR_ABI_MAJOR:
      return "abi-major";
    case CBOX_PLUGIN_ERROR_ABI_MINOR:
      return "abi-minor";
    case CBOX_PLUGIN_ERROR_STRUCT_SIZE:
      return "struct-size";
    case CBOX_PLUGIN_ERROR_MISSING_FIELD:
      return "missing-field";
    case CBOX_PLUGIN_ERROR_MISSING_VTABLE:
      return "missing-vtable";
    case CBOX_PLUGIN_ERROR_DUPLICATE_NAME:
      return "duplicate-name";
    case CBOX_PLUGIN_ERROR_CHANGED:
      return "changed";
    case CBOX_PLUGIN_ERROR_BAD_ELF:
      return "bad-elf";
    case CBOX_PLUGIN_ERROR_UNSAFE:
      return "unsafe";
    case CBOX_PLUGIN_ERROR_BAD_FILE_NAME:
      return "bad-file-name";
    case CBOX_PLUGIN_ERROR_CRASHED:
      return "crashed";
    default:
      return "unknown";
    }
}

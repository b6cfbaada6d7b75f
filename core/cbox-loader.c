/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbox-loader.h"
#include "cbox-private.h"

/* The smallest descriptor and vtables a plugin of this ABI major may have:
 * everything ABI 1.0 defined. Members added by later minors go after these,
 * and the loader zero-fills them for a plugin built before they existed. */
#define CBOX_DESC_SIZE_1_0 (G_STRUCT_OFFSET (CboxPluginDesc, default_enabled) + sizeof (gboolean))
/* The required vfuncs: a vtable must reach at least this far. */
#define CBOX_FORWARDER_VTABLE_MIN_SIZE                                                             \
  (G_STRUCT_OFFSET (CboxForwarderVTable, contribute) + sizeof (gpointer))
#define CBOX_BACKEND_VTABLE_MIN_SIZE                                                               \
  (G_STRUCT_OFFSET (CboxBackendVTable, realize) + sizeof (gpointer))

#define CBOX_PLUGIN_NAME_MAX 64

gboolean
cbox_loader_name_is_valid (const char *name)
{
  gsize len = 0;

  if (name == NULL)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++, len++)
    {
      if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
        return FALSE;
      if (len >= CBOX_PLUGIN_NAME_MAX)
        return FALSE;
    }
  return len > 0;
}

/* What ran out, and what to do, for EMFILE, ENFILE and ENOMEM (as
 * GFileError codes): not the plugin's fault. */
const char *
cbox_loader_describe_resource_error (int file_error_code)
{
  switch (file_error_code)
    {
    case G_FILE_ERROR_MFILE:
      return "too many open files in cbox; raise the limit with ulimit -n";
    case G_FILE_ERROR_NFILE:
      return "too many open files on the system; close some programs and try again";
    default:
      return "out of memory; close some programs or raise ulimit -v, and try again";
    }
}

/* "libcbox-x11.so" -> "x11": what `cbox plugins` calls a file whose
 * descriptor could not be read. */
static char *
name_from_path (const char *path)
{
  g_autofree char *base = g_path_get_basename (path);
  const char *start = base;
  gsize len = strlen (base);

  if (g_str_has_prefix (base, "libcbox-"))
    {
      start += strlen ("libcbox-");
      len -= strlen ("libcbox-");
    }
  if (g_str_has_suffix (start, ".so"))
    len -= strlen (".so");
  return g_strndup (start, len);
}

void
cbox_plugin_info_free (CboxPluginInfo *info)
{
  if (info == NULL)
    return;
  g_clear_pointer (&info->module, g_module_close);
  g_clear_error (&info->error);
  g_free (info->path);
  g_free (info->name);
  g_free (info->cached_version);
  g_free (info->cached_description);
  g_strfreev (info->cached_aliases);
  g_strfreev (info->cached_after);
  g_strfreev (info->cached_conflicts);
  g_free (info->cache_file);
  g_free (info->overrides);
  g_free (info);
}

gboolean
cbox_plugin_stamp_get (const char *path, CboxPluginStamp *ret_stamp, struct stat *ret_st)
{
  struct stat st;

  if (stat (path, &st) != 0)
    return FALSE;
  ret_stamp->dev = (guint64)st.st_dev;
  ret_stamp->ino = (guint64)st.st_ino;
  ret_stamp->size = (gint64)st.st_size;
  ret_stamp->mtime_ns
      = (gint64)st.st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st.st_mtim.tv_nsec;
  ret_stamp->ctime_ns
      = (gint64)st.st_ctim.tv_sec * G_GINT64_CONSTANT (1000000000) + st.st_ctim.tv_nsec;
  if (ret_st != NULL)
    *ret_st = st;
  return TRUE;
}

gboolean
cbox_plugin_stamp_equal (const CboxPluginStamp *a, const CboxPluginStamp *b)
{
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns
         && a->ctime_ns == b->ctime_ns;
}

void
cbox_plugin_info_reject (CboxPluginInfo *info, GError *error)
{
  g_return_if_fail (info != NULL);
  g_return_if_fail (error != NULL);

  /* Nothing of a rejected plugin is ever called: forget its descriptor
   * before its code and data go away. */
  memset (&info->desc, 0, sizeof (info->desc));
  memset (&info->forwarder, 0, sizeof (info->forwarder));
  memset (&info->backend, 0, sizeof (info->backend));
  info->accepted = FALSE;
  g_clear_error (&info->error);
  info->error = error;
  g_clear_pointer (&info->module, g_module_close);
}

CboxPluginInfo *
cbox_loader_new_rejected (const char *path, CboxPluginError code, const char *message)
{
  CboxPluginInfo *info = g_new0 (CboxPluginInfo, 1);

  info->path = g_strdup (path);
  info->name = name_from_path (path);
  info->has_stamp = cbox_plugin_stamp_get (path, &info->stamp, NULL);
  info->error = g_error_new (CBOX_PLUGIN_ERROR, code, "%s: %s", path, message);
  return info;
}

/* Rejects *@infop and hands it back, stolen, for the caller to return. */
static CboxPluginInfo *reject (CboxPluginInfo **infop, CboxPluginError code, const char *format,
                               ...) G_GNUC_PRINTF (3, 4);

static CboxPluginInfo *
reject (CboxPluginInfo **infop, CboxPluginError code, const char *format, ...)
{
  CboxPluginInfo *info = g_steal_pointer (infop);
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  cbox_plugin_info_reject (info,
                           g_error_new (CBOX_PLUGIN_ERROR, code, "%s: %s", info->path, message));
  return info;
}

static gboolean
strv_names_are_valid (const char *const *names, const char **ret_bad)
{
  if (names == NULL)
    return TRUE;
  for (gsize i = 0; names[i] != NULL; i++)
    {
      if (!cbox_loader_name_is_valid (names[i]))
        {
          *ret_bad = names[i];
          return FALSE;
        }
    }
  return TRUE;
}

/* Far more keys than any plugin has: a bound, so an array without its
 * NULL-named end is refused instead of read past. */
#define CBOX_PLUGIN_KEYS_MAX 128

/* ABI 1.4: the keys a plugin declares are shown by `cbox help` and decide
 * what the core accepts in its group: each needs a name as typed in a
 * file, a known type, a one-line description, and for a choice the
 * choices. */
static gboolean
keys_are_valid (const CboxPluginKey *keys, char **ret_why)
{
  for (guint i = 0; keys != NULL; i++)
    {
      const CboxPluginKey *key = &keys[i];

      if (i >= CBOX_PLUGIN_KEYS_MAX)
        {
          *ret_why = g_strdup_printf ("more than %d keys (is the array's { NULL } end missing? "
                                      "declare them with CBOX_KEYS)",
                                      CBOX_PLUGIN_KEYS_MAX);
          return FALSE;
        }
      if (key->name == NULL)
        return TRUE;
      if (!cbox_loader_name_is_valid (key->name))
        {
          *ret_why = g_strdup_printf ("key %u has a name that is not 1 to %d characters of a-z, "
                                      "0-9, '_' and '-'",
                                      i + 1, CBOX_PLUGIN_NAME_MAX);
          return FALSE;
        }
      for (guint j = 0; j < i; j++)
        if (g_str_equal (keys[j].name, key->name))
          {
            *ret_why = g_strdup_printf ("key '%s' is declared twice", key->name);
            return FALSE;
          }
      if (key->type < CBOX_PLUGIN_KEY_STRING || key->type > CBOX_PLUGIN_KEY_INTEGER)
        {
          *ret_why = g_strdup_printf ("key '%s' has type %d, not a CBOX_PLUGIN_KEY_* type",
                                      key->name, (int)key->type);
          return FALSE;
        }
      if (key->description == NULL || !g_utf8_validate (key->description, -1, NULL)
          || (key->default_value != NULL && !g_utf8_validate (key->default_value, -1, NULL)))
        {
          *ret_why = g_strdup_printf ("key '%s' has no description, or one (or a default) that "
                                      "is not UTF-8",
                                      key->name);
          return FALSE;
        }
      if (key->type == CBOX_PLUGIN_KEY_CHOICE)
        {
          guint n = 0;
          for (; key->choices != NULL && key->choices[n] != NULL && n <= CBOX_PLUGIN_KEYS_MAX; n++)
            if (!g_utf8_validate (key->choices[n], -1, NULL))
              break;
          if (n == 0 || n > CBOX_PLUGIN_KEYS_MAX || key->choices[n] != NULL)
            {
              *ret_why = g_strdup_printf ("key '%s' is a choice without valid .choices", key->name);
              return FALSE;
            }
        }
      if (key->type == CBOX_PLUGIN_KEY_INTEGER && key->min > key->max)
        {
          *ret_why = g_strdup_printf ("key '%s' has .min above .max", key->name);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
cbox_loader_is_privileged (void)
{
  return geteuid () == 0 || getauxval (AT_SECURE) != 0;
}

/* One folder on the way to a plugin: NULL when only root can change what
 * it holds, else why not. */
static char *
loader_check_folder (const char *dir)
{
  struct stat st;

  if (stat (dir, &st) != 0)
    return g_strdup_printf ("cannot check the folder %s: %s", dir, g_strerror (errno));
  if (st.st_uid != 0)
    return g_strdup_printf ("the folder %s belongs to uid %u, not root, and cbox runs "
                            "privileged: whoever owns it can replace the plugin",
                            dir, (unsigned)st.st_uid);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0)
    return g_strdup_printf ("others may write the folder %s (mode %04o), and cbox runs "
                            "privileged: they can replace the plugin (chmod go-w it)",
                            dir, (unsigned)(st.st_mode & 07777));
  return NULL;
}

/* Every folder from @dir up to /: NULL when each passes. */
static char *
loader_check_folders_up (const char *dir)
{
  g_autofree char *current = g_strdup (dir);

  for (;;)
    {
      char *parent;
      char *why = loader_check_folder (current);

      if (why != NULL)
        return why;
      parent = g_path_get_dirname (current);
      if (g_str_equal (parent, current))
        {
          g_free (parent);
          return NULL;
        }
      g_free (current);
      current = parent;
    }
}

/* Security: loading a plugin runs its code with cbox's privileges. Run as
 * root (or setuid, or with file capabilities), cbox loads only what
 * nobody but root could have written, as the dynamic loader does for a
 * privileged program's libraries and systemd for its units: the file, and
 * every folder from / down to it, must belong to root and not be writable
 * by group or others. The folders are checked twice when links are on the
 * way: those the file really is in (links resolved), and those of the path
 * as named (from CBOX_PLUGIN_PATH or the installed folder), because
 * whoever may write a folder holding a link can point the link elsewhere:
 * a plugin folder that others may write is refused even when its entries
 * are links to root's files. A world-writable folder with the sticky bit
 * (/tmp) is accepted on the way, as for the plugin cache: there nobody
 * else may rename or replace root's own entries (and the kernel's
 * protected_symlinks keeps root from following another user's link
 * there). NULL when trusted, else why not. */
static char *
loader_check_privileged (const char *path)
{
  g_autofree char *real = realpath (path, NULL);
  g_autofree char *named = g_canonicalize_filename (path, NULL);
  g_autofree char *dir = NULL;
  struct stat st;

  if (real == NULL || stat (real, &st) != 0)
    return g_strdup_printf ("cannot resolve it: %s", g_strerror (errno));
  if (st.st_uid != 0)
    return g_strdup_printf ("it belongs to uid %u, not root, and cbox runs privileged: it loads "
                            "only root's plugins (chown root it, or run cbox unprivileged)",
                            (unsigned)st.st_uid);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return g_strdup_printf ("others may write it (mode %04o), and cbox runs privileged: chmod "
                            "go-w it",
                            (unsigned)(st.st_mode & 07777));
  dir = g_path_get_dirname (real);
  {
    char *why = loader_check_folders_up (dir);
    if (why != NULL)
      return why;
  }
  /* Without a link on the way, the folders as named are the same ones. */
  if (!g_str_equal (named, real))
    {
      g_autofree char *named_dir = g_path_get_dirname (named);
      return loader_check_folders_up (named_dir);
    }
  return NULL;
}

static const char *
kind_to_string (CboxPluginKind kind)
{
  return kind == CBOX_PLUGIN_KIND_BACKEND ? "backend" : "forwarder";
}

CboxPluginInfo *
cbox_loader_load_file (const char *path)
{
  g_autoptr (CboxPluginInfo) info = g_new0 (CboxPluginInfo, 1);
  g_autoptr (GError) local_error = NULL;
  CboxPluginDescribeFunc describe = NULL;
  const CboxPluginDesc *desc;
  const char *bad = NULL;
  struct stat st;

  g_return_val_if_fail (path != NULL, NULL);

  info->path = g_strdup (path);
  info->name = name_from_path (path);

  /* stat, not lstat: a symlink to a plugin (as distributions install
   * them) is fine; a directory or fifo is never handed to dlopen, which
   * would block on a fifo. */
  info->has_stamp = cbox_plugin_stamp_get (path, &info->stamp, &st);
  if (!info->has_stamp)
    {
      int saved_errno = errno;
      return reject (&info, CBOX_PLUGIN_ERROR_OPEN,
                     "cannot load: %s; remove the file or the broken link",
                     g_strerror (saved_errno));
    }
  if (!S_ISREG (st.st_mode))
    return reject (
        &info, CBOX_PLUGIN_ERROR_NOT_REGULAR_FILE,
        "not a regular file (a %s named like a plugin); remove it from the plugin folder",
        S_ISDIR (st.st_mode) ? "directory" : "special file");

  if (cbox_loader_is_privileged ())
    {
      g_autofree char *why = loader_check_privileged (path);
      if (why != NULL)
        return reject (&info, CBOX_PLUGIN_ERROR_UNSAFE, "refused: %s", why);
    }

  /* What dlopen would map must be in the file: a plugin cut short is
   * SIGBUS inside the dynamic loader otherwise (cbox-elf.c). */
  if (!cbox_elf_check_file (path, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_ACCES))
        return reject (&info, CBOX_PLUGIN_ERROR_OPEN,
                       "cannot read it: %s; make it readable (chmod a+r) or remove it",
                       local_error->message);
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_MFILE)
          || g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NFILE)
          || g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOMEM))
        return reject (&info, CBOX_PLUGIN_ERROR_OPEN, "cannot open it: %s",
                       cbox_loader_describe_resource_error (local_error->code));
      return reject (&info, CBOX_PLUGIN_ERROR_BAD_ELF,
                     "not a plugin this cbox can load: %s; rebuild or reinstall it, or remove it",
                     local_error->message);
    }

  /* BIND_LOCAL: one plugin's symbols never resolve another's. No
   * BIND_LAZY: a plugin with an unresolved symbol fails here, with a
   * message, instead of crashing cbox when the symbol is first used. */
  /* From dlopen (the file's constructors) to the end of describe(), a
   * crash or hang is this plugin's: the guard names it (cbox-guard.c). */
  cbox_plugin_guard_enter (info->name, "loading (its constructors)", CBOX_PLUGIN_GUARD_TIMEOUT_S);
  info->module = g_module_open_full (path, G_MODULE_BIND_LOCAL, &local_error);
  cbox_plugin_guard_leave ();
  if (info->module == NULL)
    {
      const char *why = local_error->message;

      /* Only to say the right thing, so asked only after dlopen failed.
       * With the effective ids, as dlopen opened it (a setuid cbox). */
      if (faccessat (AT_FDCWD, path, R_OK, AT_EACCESS) != 0)
        {
          int saved_errno = errno;
          return reject (&info, CBOX_PLUGIN_ERROR_OPEN,
                         "cannot read it: %s; make it readable (chmod a+r) or remove it",
                         g_strerror (saved_errno));
        }
      /* dlerror() usually starts with the path we print anyway. */
      if (g_str_has_prefix (why, path) && g_str_has_prefix (why + strlen (path), ": "))
        why += strlen (path) + 2;
      /* dlopen's own errors carry no errno, only its text: a resource that
       * ran out is no reason to rebuild anything. */
      if (strstr (why, g_strerror (EMFILE)) != NULL || strstr (why, g_strerror (ENFILE)) != NULL
          || strstr (why, g_strerror (ENOMEM)) != NULL)
        return reject (&info, CBOX_PLUGIN_ERROR_OPEN, "cannot load: %s (%s)", why,
                       cbox_loader_describe_resource_error (
                           strstr (why, g_strerror (EMFILE)) != NULL   ? G_FILE_ERROR_MFILE
                           : strstr (why, g_strerror (ENFILE)) != NULL ? G_FILE_ERROR_NFILE
                                                                       : G_FILE_ERROR_NOMEM));
      return reject (
          &info, CBOX_PLUGIN_ERROR_OPEN,
          "cannot load: %s; is it a cbox plugin built for this system? Rebuild or remove it", why);
    }

  if (!g_module_symbol (info->module, CBOX_PLUGIN_ENTRY_POINT, (gpointer *)&describe)
      || describe == NULL)
    return reject (&info, CBOX_PLUGIN_ERROR_NO_ENTRY_POINT,
                   "no %s symbol, so it is not a cbox plugin; build it with "
                   "CBOX_PLUGIN_DEFINE or remove it",
                   CBOX_PLUGIN_ENTRY_POINT);

  /* describe() returns static data and has no side effects (the ABI says
   * so); it is the only plugin function the loader calls. (dlopen already
   * ran the file's ELF constructors, if it has any: loading a plugin trusts
   * it, which is why a setuid cbox ignores CBOX_PLUGIN_PATH.) */
  cbox_plugin_guard_enter (info->name, "its describe()", CBOX_PLUGIN_GUARD_TIMEOUT_S);
  desc = describe ();
  cbox_plugin_guard_leave ();
  if (desc == NULL)
    return reject (&info, CBOX_PLUGIN_ERROR_NULL_DESCRIPTOR,
                   "%s() returned no descriptor; the plugin is broken, rebuild "
                   "or remove it",
                   CBOX_PLUGIN_ENTRY_POINT);

  /* abi_major, abi_minor and struct_size stay the first members in every
   * ABI, so they are safe to read whatever the plugin was built for. */
  if (desc->abi_major != CBOX_ABI_MAJOR)
    return reject (
        &info, CBOX_PLUGIN_ERROR_ABI_MAJOR,
        "built for cbox plugin ABI %u, but this cbox (%s) has ABI %d; rebuild the plugin "
        "against this cbox or remove it",
        desc->abi_major, CBOX_VERSION, CBOX_ABI_MAJOR);
  if (desc->abi_minor > CBOX_ABI_MINOR)
    return reject (
        &info, CBOX_PLUGIN_ERROR_ABI_MINOR,
        "built for cbox plugin ABI %u.%u, newer than this cbox's %d.%d (cbox %s); upgrade cbox "
        "or rebuild the plugin against this cbox",
        desc->abi_major, desc->abi_minor, CBOX_ABI_MAJOR, CBOX_ABI_MINOR, CBOX_VERSION);
  if (desc->struct_size < CBOX_DESC_SIZE_1_0)
    return reject (&info, CBOX_PLUGIN_ERROR_STRUCT_SIZE,
                   "its descriptor is %" G_GSIZE_FORMAT " bytes, smaller than the %" G_GSIZE_FORMAT
                   " of ABI %d.0; define it with CBOX_PLUGIN_DEFINE and rebuild it",
                   desc->struct_size, (gsize)CBOX_DESC_SIZE_1_0, CBOX_ABI_MAJOR);
  memcpy (&info->desc, desc, MIN (desc->struct_size, sizeof (info->desc)));

  if (info->desc.name == NULL)
    return reject (&info, CBOX_PLUGIN_ERROR_MISSING_FIELD,
                   "its descriptor has no name; set .name in "
                   "CBOX_PLUGIN_DEFINE");
  if (!cbox_loader_name_is_valid (info->desc.name))
    return reject (&info, CBOX_PLUGIN_ERROR_MISSING_FIELD,
                   "plugin name is not 1 to %d characters of a-z, 0-9, '_' and '-'; fix .name in "
                   "CBOX_PLUGIN_DEFINE",
                   CBOX_PLUGIN_NAME_MAX);
  /* Security: the file's name is the plugin's name, so that two files of
   * one folder can never claim one name (file-name order used to decide
   * which of them was x11), and what a folder listing shows is what runs. */
  {
    g_autofree char *base = g_path_get_basename (path);
    g_autofree char *expected = g_strdup_printf ("libcbox-%s.so", info->desc.name);
    if (!g_str_equal (base, expected))
      return reject (&info, CBOX_PLUGIN_ERROR_BAD_FILE_NAME,
                     "the file holds plugin '%s', whose file must be named %s; rename it",
                     info->desc.name, expected);
  }
  /* From here on, messages and `cbox plugins` use the plugin's own name. */
  g_free (info->name);
  info->name = g_strdup (info->desc.name);
  if (info->desc.kind != CBOX_PLUGIN_KIND_BACKEND && info->desc.kind != CBOX_PLUGIN_KIND_FORWARDER)
    return reject (&info, CBOX_PLUGIN_ERROR_MISSING_FIELD,
                   "plugin '%s' has kind %d, neither CBOX_PLUGIN_KIND_BACKEND nor "
                   "CBOX_PLUGIN_KIND_FORWARDER; fix .kind",
                   info->name, (int)info->desc.kind);
  /* Aliases are typed on the command line (--forward=gpu,audio). */
  if (!strv_names_are_valid (info->desc.aliases, &bad))
    return reject (
        &info, CBOX_PLUGIN_ERROR_MISSING_FIELD,
        "plugin '%s' has an alias that is not 1 to %d characters of a-z, 0-9, '_' and '-'; "
        "fix .aliases",
        info->name, CBOX_PLUGIN_NAME_MAX);
  /* Shown by `cbox plugins --json`, which must stay valid UTF-8. */
  if ((info->desc.version != NULL && !g_utf8_validate (info->desc.version, -1, NULL))
      || (info->desc.description != NULL && !g_utf8_validate (info->desc.description, -1, NULL)))
    return reject (&info, CBOX_PLUGIN_ERROR_MISSING_FIELD,
                   "plugin '%s' has a version or description that is not "
                   "UTF-8; fix it",
                   info->name);

  /* A plugin built for an older minor has no keys member: the copy above
   * left it NULL (and a 1.3 descriptor claiming more is not trusted). */
  if (info->desc.abi_minor < 4)
    info->desc.keys = NULL;
  {
    g_autofree char *why = NULL;
    if (!keys_are_valid (info->desc.keys, &why))
      return reject (&info, CBOX_PLUGIN_ERROR_MISSING_FIELD,
                     "plugin '%s' declares its configuration keys wrongly: %s; fix .keys",
                     info->name, why);
  }

  if (info->desc.kind == CBOX_PLUGIN_KIND_FORWARDER)
    {
      const CboxForwarderVTable *vtable = info->desc.forwarder;

      info->desc.backend = NULL;
      if (vtable == NULL)
        return reject (&info, CBOX_PLUGIN_ERROR_MISSING_VTABLE,
                       "forwarder '%s' has no forwarder vtable; set .forwarder "
                       "in CBOX_PLUGIN_DEFINE",
                       info->name);
      if (vtable->struct_size < CBOX_FORWARDER_VTABLE_MIN_SIZE)
        return reject (&info, CBOX_PLUGIN_ERROR_STRUCT_SIZE,
                       "forwarder '%s' has a vtable of %" G_GSIZE_FORMAT
                       " bytes, too small for probe and contribute; set .struct_size = sizeof "
                       "(CboxForwarderVTable)",
                       info->name, vtable->struct_size);
      memcpy (&info->forwarder, vtable, MIN (vtable->struct_size, sizeof (info->forwarder)));
      info->desc.forwarder = &info->forwarder;
      if (info->forwarder.probe == NULL || info->forwarder.contribute == NULL)
        return reject (&info, CBOX_PLUGIN_ERROR_MISSING_VTABLE,
                       "forwarder '%s' has no %s function; both probe and "
                       "contribute are required",
                       info->name, info->forwarder.probe == NULL ? "probe" : "contribute");
    }
  else
    {
      const CboxBackendVTable *vtable = info->desc.backend;

      info->desc.forwarder = NULL;
      if (vtable == NULL)
        return reject (&info, CBOX_PLUGIN_ERROR_MISSING_VTABLE,
                       "backend '%s' has no backend vtable; set .backend in "
                       "CBOX_PLUGIN_DEFINE",
                       info->name);
      if (vtable->struct_size < CBOX_BACKEND_VTABLE_MIN_SIZE)
        return reject (&info, CBOX_PLUGIN_ERROR_STRUCT_SIZE,
                       "backend '%s' has a vtable of %" G_GSIZE_FORMAT
                       " bytes, too small for probe and realize; set .struct_size = sizeof "
                       "(CboxBackendVTable)",
                       info->name, vtable->struct_size);
      memcpy (&info->backend, vtable, MIN (vtable->struct_size, sizeof (info->backend)));
      info->desc.backend = &info->backend;
      if (info->backend.probe == NULL || info->backend.realize == NULL)
        return reject (&info, CBOX_PLUGIN_ERROR_MISSING_VTABLE,
                       "backend '%s' has no %s function; both probe and "
                       "realize are required",
                       info->name, info->backend.probe == NULL ? "probe" : "realize");
    }

  g_debug ("%s: %s '%s' passed the checks", path, kind_to_string (info->desc.kind), info->name);
  info->accepted = TRUE;
  info->loaded = TRUE;
  return g_steal_pointer (&info);
}

CboxPluginInfo *
cbox_plugin_info_new_cached (const char *path, const CboxPluginStamp *stamp,
                             const CboxPluginDesc *desc)
{
  CboxPluginInfo *info = g_new0 (CboxPluginInfo, 1);

  info->path = g_strdup (path);
  info->name = g_strdup (desc->name);
  info->stamp = *stamp;
  info->has_stamp = TRUE;
  info->cached_version = g_strdup (desc->version);
  info->cached_description = g_strdup (desc->description);
  info->cached_aliases = g_strdupv ((char **)desc->aliases);
  info->cached_after = g_strdupv ((char **)desc->after);
  info->cached_conflicts = g_strdupv ((char **)desc->conflicts);
  info->desc.abi_major = desc->abi_major;
  info->desc.abi_minor = desc->abi_minor;
  info->desc.struct_size = sizeof (info->desc);
  info->desc.kind = desc->kind;
  info->desc.name = info->name;
  info->desc.version = info->cached_version;
  info->desc.description = info->cached_description;
  info->desc.aliases = (const char *const *)info->cached_aliases;
  info->desc.after = (const char *const *)info->cached_after;
  info->desc.conflicts = (const char *const *)info->cached_conflicts;
  info->desc.features = desc->features;
  info->desc.default_enabled = desc->default_enabled;
  info->accepted = TRUE;
  info->loaded = FALSE;
  return info;
}

/* NULL and an empty list are the same to the planner. */
static gboolean
strv_equal0 (const char *const *a, const char *const *b)
{
  gsize i;

  for (i = 0; a != NULL && a[i] != NULL; i++)
    if (b == NULL || b[i] == NULL || strcmp (a[i], b[i]) != 0)
      return FALSE;
  return b == NULL || b[i] == NULL;
}

/* Everything the planner may have decided by before the file was opened. */
static gboolean
desc_matches_cached (const CboxPluginDesc *real, const CboxPluginDesc *cached)
{
  return real->kind == cached->kind && g_strcmp0 (real->name, cached->name) == 0
         && g_strcmp0 (real->version, cached->version) == 0
         && g_strcmp0 (real->description, cached->description) == 0
         && strv_equal0 (real->aliases, cached->aliases) && strv_equal0 (real->after, cached->after)
         && strv_equal0 (real->conflicts, cached->conflicts) && real->features == cached->features
         && real->default_enabled == cached->default_enabled;
}

gboolean
cbox_loader_load_cached (CboxPluginInfo *info)
{
  g_autoptr (CboxPluginInfo) real = NULL;

  g_return_val_if_fail (info != NULL, FALSE);

  if (!info->accepted)
    return FALSE;
  if (info->loaded)
    return TRUE;

  real = cbox_loader_load_file (info->path);
  /* The cache said this file is an accepted plugin, and it is not: the
   * file changed after the cache was read (or since it was described, in
   * a way its stamp does not show), or the cache was edited. Either way
   * the cache is wrong, so it goes: the next run describes every file
   * anew instead of trusting it again. */
  if (!real->accepted)
    {
      if (info->cache_file != NULL)
        unlink (info->cache_file);
      cbox_plugin_info_reject (info, g_steal_pointer (&real->error));
      return FALSE;
    }
  /* The same when it is a plugin, but not the one described: whatever was
   * chosen by the cached descriptor may be wrong, so this run stops here. */
  if (!cbox_plugin_stamp_equal (&real->stamp, &info->stamp)
      || !desc_matches_cached (&real->desc, &info->desc))
    {
      if (info->cache_file != NULL)
        unlink (info->cache_file);
      cbox_plugin_info_reject (
          info, g_error_new (CBOX_PLUGIN_ERROR, CBOX_PLUGIN_ERROR_CHANGED,
                             "%s: the plugin changed since cbox's plugin cache described it; run "
                             "the command again (the cache is rewritten)",
                             info->path));
      return FALSE;
    }

  /* As for every accepted plugin: plans keep pointers into its code. */
  g_module_make_resident (real->module);
  info->module = g_steal_pointer (&real->module);
  info->desc = real->desc;
  info->forwarder = real->forwarder;
  info->backend = real->backend;
  /* The copies point at their own vtables, not at @real's. */
  if (info->desc.kind == CBOX_PLUGIN_KIND_FORWARDER)
    info->desc.forwarder = &info->forwarder;
  else
    info->desc.backend = &info->backend;
  info->loaded = TRUE;
  g_debug ("%s: loaded on first use", info->path);
  return TRUE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Between cbox-loader.c (opening and checking one file) and
 * cbox-registry.c (the list of what was found). Never installed. */

#include <sys/stat.h>

#include "cbox-registry.h"

G_BEGIN_DECLS

/* What identifies one version of a plugin file, for the descriptor cache:
 * a file replaced, rebuilt or touched gets another stamp. */
typedef struct
{
  guint64 dev;
  guint64 ino;
  gint64 size;
  gint64 mtime_ns;
  gint64 ctime_ns;
} CboxPluginStamp;

struct _CboxPluginInfo
{
  char *path;
  char *name;
  /* The file's stamp when it was found (has_stamp: it could be stat'ed). */
  CboxPluginStamp stamp;
  gboolean has_stamp;
  /* FALSE while the descriptor comes from the cache only: the file is not
   * opened yet, the vtables are NULL, and the strings below hold what the
   * cache said. cbox_plugin_info_get_desc() opens it then. */
  gboolean loaded;
  char *cached_version;
  char *cached_description;
  char **cached_aliases;
  char **cached_after;
  char **cached_conflicts;
  /* The cache that described it, removed if the file turns out different. */
  char *cache_file;
  /* Open while the plugin may still be accepted; made resident on
   * acceptance (plans keep pointers into plugin code), NULL once rejected. */
  GModule *module;
  /* The plugin's descriptor and vtable copied into full-size, zero-filled
   * structs: members a plugin built for an older minor does not have read
   * as NULL / 0, so callers never look past the plugin's struct_size. The
   * strings still point into the (resident) module. */
  CboxPluginDesc desc;
  CboxForwarderVTable forwarder;
  CboxBackendVTable backend;
  gboolean accepted;
  GError *error;
  /* The path of a plugin of the same name found later (the installed one)
   * that this one replaces (CBOX_PLUGIN_PATH), or NULL. */
  char *overrides;
};

/* Opens @path and checks it, in the order ARCHITECTURE.md gives: regular
 * file, dlopen, entry point, descriptor, ABI, sizes, fields, vtable. Never
 * returns NULL; on failure the info carries the error and no module. The
 * duplicate-name check belongs to the registry. */
CboxPluginInfo *cbox_loader_load_file (const char *path);
void cbox_plugin_info_free (CboxPluginInfo *info);
/* A rejected info for @path, never opened here: "@path: @message". */
CboxPluginInfo *cbox_loader_new_rejected (const char *path, CboxPluginError code,
                                          const char *message);
/* An accepted info known from the descriptor cache, not loaded: @desc's
 * strings are copied, its vtables ignored. */
CboxPluginInfo *cbox_plugin_info_new_cached (const char *path, const CboxPluginStamp *stamp,
                                             const CboxPluginDesc *desc);
/* Loads a cached info's file now, with every check of
 * cbox_loader_load_file(), and makes sure the descriptor is still the one
 * the cache described (the planner chose by it). TRUE when it is accepted
 * and loaded; otherwise it is rejected, with the reason. */
gboolean cbox_loader_load_cached (CboxPluginInfo *info);
/* The stamp of @path's file (stat(2) follows symlinks, as dlopen does). */
gboolean cbox_plugin_stamp_get (const char *path, CboxPluginStamp *ret_stamp, struct stat *ret_st);
gboolean cbox_plugin_stamp_equal (const CboxPluginStamp *a, const CboxPluginStamp *b);
/* Rejects an info that passed cbox_loader_load_file() (closes its module). */
void cbox_plugin_info_reject (CboxPluginInfo *info, GError *error);
/* Before dlopen: @path is an ELF shared object for this machine whose
 * headers and loadable segments lie within the file (cbox-elf.c). The
 * error says what is wrong (G_FILE_ERROR; ACCES when it cannot be read). */
gboolean cbox_elf_check_file (const char *path, GError **error);
/* "too many open files in cbox; raise the limit with ulimit -n" for
 * G_FILE_ERROR_MFILE, and the like for NFILE and NOMEM. */
const char *cbox_loader_describe_resource_error (int file_error_code);
/* TRUE when cbox runs as root, setuid or with AT_SECURE: plugins and
 * their folders must then be root's and written by nobody else. */
gboolean cbox_loader_is_privileged (void);
/* [a-z0-9_-]{1,64} */
gboolean cbox_loader_name_is_valid (const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxPluginInfo, cbox_plugin_info_free)

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The plugin loader and registry: internal to libcbox and the cbox
 * executable (see docs/architecture.md). */

#include <cbox/cbox-plugin.h>

G_BEGIN_DECLS

typedef struct _CboxRegistry CboxRegistry;
typedef struct _CboxPluginInfo CboxPluginInfo;

CboxRegistry *cbox_registry_new (void);
void cbox_registry_free (CboxRegistry *registry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxRegistry, cbox_registry_free)

/* Use the descriptor cache at @path (NULL: none, the default) for the
 * next loads: a file the cache describes is not opened until
 * cbox_plugin_info_get_desc() is called on it; files it does not describe
 * are loaded and added, and the cache is written back at the end of
 * cbox_registry_load_default(). Ignored in a setuid (AT_SECURE) process. */
void cbox_registry_set_cache_file (CboxRegistry *registry, const char *path);
/* The cache is read but never written (nor its folder made): for `cbox plan`
 * and `cbox doctor`, which create nothing on disk. */
void cbox_registry_set_cache_read_only (CboxRegistry *registry, gboolean read_only);
/* How many plugins the cache described without opening them (for
 * `cbox -v`). */
guint cbox_registry_get_n_cached (CboxRegistry *registry);

/* Load every file in a child process first, with a time bound, so that
 * one that crashes or hangs while loaded is rejected (CRASHED) instead of
 * taking the caller down: for `cbox plugins` and `cbox doctor`. */
void cbox_registry_set_isolated (CboxRegistry *registry, gboolean isolated);

/* The search path: CBOX_PLUGIN_PATH (colon-separated; ignored when the
 * process is setuid or has AT_SECURE), then the installed plugin folder.
 * The first file with a given name wins. Never fails: every file that
 * cannot be used is kept with its error. */
void cbox_registry_load_default (CboxRegistry *registry);
/* The folders cbox_registry_load_default() searches, in order (for
 * messages and `cbox plugins`). */
char **cbox_registry_get_default_path (void);
/* One folder: every entry named libcbox-*.so, in name order. A folder that
 * does not exist is ignored. */
void cbox_registry_load_dir (CboxRegistry *registry, const char *dir);

/* Every plugin file found, accepted or rejected, in the order found. */
guint cbox_registry_get_n_plugins (CboxRegistry *registry);
CboxPluginInfo *cbox_registry_get_plugin (CboxRegistry *registry, guint index);
/* The plugin called @name, or NULL; only while it is accepted. */
CboxPluginInfo *cbox_registry_lookup (CboxRegistry *registry, const char *name);
/* The accepted plugins of @kind (0: any kind) whose name or one of whose aliases is
 * @name_or_alias ("gpu" -> dri; "display" -> x11, wayland), in registry
 * order. Empty when none. */
GPtrArray *cbox_registry_resolve (CboxRegistry *registry, const char *name_or_alias,
                                  CboxPluginKind kind);

/* TRUE when a plugin found (accepted or rejected) is called @name, an
 * accepted one has it as an alias, or it is a name or alias of a plugin
 * shipped with cbox (which this build or machine may lack). */
gboolean cbox_registry_name_is_known (CboxRegistry *registry, const char *name);
/* The names and aliases of the accepted plugins of @kind (0: any), for
 * "did you mean". */
char **cbox_registry_get_known_names (CboxRegistry *registry, CboxPluginKind kind);
/* The names and aliases of the plugins shipped with cbox. */
const char *const *cbox_registry_get_shipped_names (void);

/* The path of the file. */
const char *cbox_plugin_info_get_path (CboxPluginInfo *info);
/* The plugin's name; for a rejected plugin whose descriptor could not be
 * read, derived from the file name ("libcbox-x.so" -> "x"). */
const char *cbox_plugin_info_get_name (CboxPluginInfo *info);
/* The descriptor; NULL when rejected. Its vtables are full-size copies:
 * members the plugin's ABI minor does not have read as NULL. A plugin
 * known from the cache is loaded and checked now; when that fails it is
 * rejected from then on, and this returns NULL. */
const CboxPluginDesc *cbox_plugin_info_get_desc (CboxPluginInfo *info);
/* What the descriptor says, without loading the plugin: name, kind,
 * version, description, aliases, after, conflicts, features,
 * default_enabled. Its vtables are NULL until the plugin is loaded. NULL
 * when rejected. */
const CboxPluginDesc *cbox_plugin_info_get_meta (CboxPluginInfo *info);
/* The file of the same name found later on the path (the installed
 * plugin) that this one replaces, or NULL. */
const char *cbox_plugin_info_get_overrides (CboxPluginInfo *info);
/* Why it was rejected (domain CBOX_PLUGIN_ERROR, message naming the file);
 * NULL when accepted. */
const GError *cbox_plugin_info_get_error (CboxPluginInfo *info);
gboolean cbox_plugin_info_is_accepted (CboxPluginInfo *info);

/* A stable word for a CBOX_PLUGIN_ERROR code, for JSON and scripts:
 * "not-regular-file", "open", "no-entry-point", "null-descriptor",
 * "abi-major", "abi-minor", "struct-size", "missing-field",
 * "missing-vtable", "duplicate-name", "changed", "bad-elf", "unsafe",
 * "bad-file-name", "crashed"; "unknown" for anything else. */
const char *cbox_plugin_error_code_to_string (int code);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The plugin descriptor cache: what each plugin file's descriptor said,
 * keyed by the file's path and stamp (device, inode, size, mtime, ctime),
 * so that a run opens only the plugins it uses (docs/architecture.md,
 * "Loading plugins"). Internal to libcbox; never installed. */

#include "cbox-loader.h"

G_BEGIN_DECLS

typedef struct _CboxPluginCache CboxPluginCache;

/* Reads the cache at @path, if it can be trusted (a regular file of the
 * effective user, written by nobody else, in a folder of that user). A
 * missing, foreign or unreadable cache reads as empty; nothing fails. */
CboxPluginCache *cbox_plugin_cache_new (const char *path);
/* TRUE when @dir and every folder above it (links followed) belong to root
 * or to the effective user and nobody else may write them, unless sticky:
 * the rule a cache folder must pass (see cbox-plugin-cache.c). */
gboolean cbox_plugin_cache_path_is_safe (const char *dir);
void cbox_plugin_cache_free (CboxPluginCache *cache);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxPluginCache, cbox_plugin_cache_free)

/* A new, accepted but unloaded info for @path when the cache describes the
 * file with exactly @stamp; NULL otherwise. */
CboxPluginInfo *cbox_plugin_cache_lookup (CboxPluginCache *cache, const char *path,
                                          const CboxPluginStamp *stamp);
/* Remembers a plugin the loader opened and accepted. */
void cbox_plugin_cache_record (CboxPluginCache *cache, CboxPluginInfo *info);
/* Writes the cache back when something changed: files described anew,
 * files gone or changed dropped. Failure is not an error (a read-only
 * home): the next run loads every plugin again. */
void cbox_plugin_cache_save (CboxPluginCache *cache);

G_END_DECLS

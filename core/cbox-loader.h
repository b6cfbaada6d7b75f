/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Between cbox-loader.c (opening and checking one file) and
 * cbox-registry.c (the list of what was found). Never installed. */

#include "cbox-registry.h"

G_BEGIN_DECLS

struct _CboxPluginInfo
{
  char *path;
  char *name;
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
};

/* Opens @path and checks it, in the order ARCHITECTURE.md gives: regular
 * file, dlopen, entry point, descriptor, ABI, sizes, fields, vtable. Never
 * returns NULL; on failure the info carries the error and no module. The
 * duplicate-name check belongs to the registry. */
CboxPluginInfo *cbox_loader_load_file (const char *path);
void cbox_plugin_info_free (CboxPluginInfo *info);
/* Rejects an info that passed cbox_loader_load_file() (closes its module). */
void cbox_plugin_info_reject (CboxPluginInfo *info, GError *error);
/* [a-z0-9_-]{1,64} */
gboolean cbox_loader_name_is_valid (const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxPluginInfo, cbox_plugin_info_free)

G_END_DECLS

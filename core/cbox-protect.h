/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Protected paths (docs/security.md, "Protected paths"): files and folders
 * inside a writable bind that host tools trust and run (.git/hooks,
 * .git/config, .envrc, .vscode, ...). Those that exist are bound read-only
 * over themselves, the folders on their way are bound over themselves
 * (writable) so they cannot be renamed away, and after the run the core
 * looks at each path again and moves aside whatever appeared or was
 * replaced there. */

#include "cbox-request.h"
#include "cbox-private.h"

G_BEGIN_DECLS

/* A relative path without empty, "." or ".." components, or "~/" and
 * such a path. */
gboolean cbox_protect_entry_is_valid (const char *entry);

/* The built-in list, NULL-terminated. */
const char *const *cbox_protect_get_defaults (void);

typedef struct _CboxProtect CboxProtect;

/* Applies the protected paths (the defaults, then @ops: CboxPathRequest,
 * add or remove, in order) to every writable bind of @plan (the persisted
 * folders of origin "project" aside): adds the plan's protected-path items
 * and the mounts that realize them (origin "protect"), and takes the
 * snapshot cbox_protect_check() compares with. A writable bind at or inside
 * a protected path is refused (CBOX_ERROR_INVALID_ARGUMENT). Call once the
 * project is in the plan. */
CboxProtect *cbox_protect_apply (CboxPlan *plan, const CboxHost *host, GPtrArray *ops,
                                 GError **error);
/* After the run (every process of the sandbox gone): each protected path
 * that appeared or was replaced during the run, or a folder on its way that
 * became a link or a file, is renamed to NAME.cbox-quarantine-@run_id in
 * its folder and reported on stderr; so is the `.git` of each submodule
 * (a gitlink in a writable bind's repository) that the run made or whose
 * configuration or hooks it changed. Returns how many were moved. */
guint cbox_protect_check (CboxProtect *protect, const char *run_id);
/* How many of those cbox_protect_check() found could not be moved aside
 * (each said on stderr). */
guint cbox_protect_get_n_failed (CboxProtect *protect);
void cbox_protect_free (CboxProtect *protect);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxProtect, cbox_protect_free)

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Protected paths (docs/security.md, "Protected paths"): files and folders
 * inside a writable bind that host tools trust and run (.git/hooks,
 * .git/config, .envrc, .vscode, ...), kept read-only inside, and checked
 * after the run for what could not be kept read-only (paths that did not
 * exist yet). */

#include "cbox-planner.h"
#include "cbox-private.h"

G_BEGIN_DECLS

/* A relative path without empty, "." or ".." components, or "~/" and
 * such a path. */
gboolean cbox_protect_entry_is_valid (const char *entry);

G_END_DECLS

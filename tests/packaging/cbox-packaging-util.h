/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the packaging tests (man page, Nix files): the source and build
 * trees, the plugin options meson knows, and running a tool that is not
 * cbox. */

#include <glib.h>

G_BEGIN_DECLS

/* The source tree's root (G_TEST_SRCDIR is its tests/ folder). */
char *cbox_packaging_source_root (void);
/* The build tree's root (G_TEST_BUILDDIR is its tests/ folder). */
char *cbox_packaging_build_root (void);

/* The names of the `feature` options in meson_options.txt: one per plugin. */
GPtrArray *cbox_packaging_feature_options (void);

/* Runs @argv (argv[0] an absolute path or a name on PATH) with @envp (NULL:
 * the test's own), fills @ret_out and @ret_err (may be NULL) and returns
 * the exit status (128+N after signal N). Fails the test and returns -1
 * when the tool cannot be started. */
int cbox_packaging_run (const char *const *argv, const char *const *envp, char **ret_out,
                        char **ret_err);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The deliberately broken plugins, shared by test-loader.c (through the
 * registry) and test-plugins-cli.c (through `cbox plugins`). */

#include <glib.h>

G_BEGIN_DECLS

/* Not a CboxPluginError: the plugin is accepted. */
#define BROKEN_PLUGIN_ACCEPTED (-1)

typedef struct
{
  const char *file; /* file name, in the folder it is found in */
  const char *name; /* what cbox_plugin_info_get_name() says */
  int expected;     /* CboxPluginError, or BROKEN_PLUGIN_ACCEPTED */
} BrokenPluginCase;

/* Every file found in broken_plugins_dir(), the odd folder and
 * broken_plugins_second_dir(), searched in that order. */
extern const BrokenPluginCase broken_plugin_cases[];
extern const gsize broken_plugin_n_cases;

/* The built plugins, and the second folder with the duplicate. */
char *broken_plugins_dir (void);
char *broken_plugins_second_dir (void);
/* A scratch folder (removed after the test) of files named like plugins
 * that are not: a text file, an empty file, a directory, a fifo, a
 * dangling link, an unreadable file. */
char *broken_plugins_make_odd_dir (void);
void broken_plugins_write_file (const char *dir, const char *name, const char *contents,
                                gssize len);

G_END_DECLS

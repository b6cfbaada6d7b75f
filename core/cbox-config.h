/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Configuration: GKeyFile layers (files, profile, command line), the core's
 * [cbox] keys and their checks. See docs/config.md. */

#include <cbox/cbox-plugin.h>

G_BEGIN_DECLS

typedef struct _CboxRegistry CboxRegistry;

typedef enum
{
  CBOX_CONFIG_LAYER_FILES = 0, /* shipped defaults, /etc, user, --config: per key, later wins */
  CBOX_CONFIG_LAYER_PROFILE,   /* profiles/NAME.conf from the same folders */
  CBOX_CONFIG_LAYER_CLI,       /* options and --set */
  CBOX_CONFIG_N_LAYERS,
} CboxConfigLayer;

typedef struct _CboxConfig CboxConfig;

CboxConfig *cbox_config_new (void);
void cbox_config_free (CboxConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxConfig, cbox_config_free)

/* The folders searched for cbox.conf and profiles/, in order (later wins):
 * the shipped defaults ($CBOX_DATA_DIR, else the installed data folder),
 * the system folder ($CBOX_SYSCONF_DIR, else /etc/cbox) and the user's
 * ($XDG_CONFIG_HOME/cbox, else ~/.config/cbox). The variables are ignored
 * when the process has AT_SECURE. */
char **cbox_config_get_search_dirs (const CboxHost *host);

/* Where a key of a plugin group was set, for messages: "FILE:LINE" or
 * "--set=GROUP.KEY". @key is NULL for a group without keys. */
typedef struct
{
  char *group;
  char *key;
  char *value; /* as written, escapes and all */
  char *where;
  CboxConfigLayer layer;
} CboxConfigKeyOrigin;

/* cbox_config_check_text() is public (cbox-plugin.h): plugins check their
 * own configuration files (the dbus rule sets) with it. */
/* cbox_config_load_file() with the file's contents already read (@path
 * only names it in messages); what the fuzz target calls. */
gboolean cbox_config_load_data (CboxConfig *config, CboxConfigLayer layer, const char *path,
                                const char *data, gsize len, GError **error);
/* Every key of a plugin group read so far (files, profile, --set), in the
 * order read. */
const GPtrArray *cbox_config_get_plugin_keys (CboxConfig *config);
/* Every key of @origins against the keys the plugin of its group declares
 * (ABI 1.4): an unknown group, an unknown key or a value that does not fit
 * the key's type is an error naming where it was set, the group and the
 * key, with the nearest known name. Groups of rejected plugins and of
 * shipped plugins this machine lacks, and plugins built before ABI 1.4,
 * are not checked. */
gboolean cbox_config_check_plugin_keys (const GPtrArray *origins, CboxRegistry *registry,
                                        GError **error);
/* The keys @desc declares: for `cbox help NAME` (@markdown FALSE), or as
 * the table of docs/config.md (TRUE), which a test compares with it. */
char *cbox_config_format_plugin_keys (const CboxPluginDesc *desc, gboolean markdown);
/* Edit distance (Levenshtein), and the candidate nearest to @word when it
 * is near enough to be a typo of it; NULL when none is. */
guint cbox_config_distance (const char *a, const char *b);
const char *cbox_config_nearest (const char *word, const char *const *candidates);

/* Loads one file into @layer, key by key over what is there. A missing file
 * is an error unless @allow_missing. Errors name the file, the line and the
 * key (CBOX_ERROR_CONFIG). */
gboolean cbox_config_load_file (CboxConfig *config, CboxConfigLayer layer, const char *path,
                                gboolean allow_missing, GError **error);
/* cbox.conf from every folder of @dirs, then @extra_file (--config) when
 * not NULL. */
gboolean cbox_config_load_files (CboxConfig *config, const char *const *dirs,
                                 const char *extra_file, GError **error);
/* profiles/@name.conf from every folder of @dirs; at least one must exist. */
gboolean cbox_config_load_profile (CboxConfig *config, const char *const *dirs, const char *name,
                                   GError **error);
/* A command-line value (--backend, --set=GROUP.KEY=VALUE, ...), checked like
 * a file's. */
gboolean cbox_config_set (CboxConfig *config, const char *group, const char *key, const char *value,
                          GError **error);

/* The key file of one layer. */
GKeyFile *cbox_config_get_layer (CboxConfig *config, CboxConfigLayer layer);
/* The profile that was loaded, or NULL. */
const char *cbox_config_get_profile (CboxConfig *config);
/* All layers merged key by key (later wins): what plugins see. */
GKeyFile *cbox_config_get_merged (CboxConfig *config);

/* The value of a [cbox] key, the top-most layer that has it; NULL if none. */
char *cbox_config_get_core_string (CboxConfig *config, const char *key);

/* "on", "off", "true", "false", "yes", "no", "1", "0". */
gboolean cbox_config_parse_boolean (const char *value, gboolean *ret_value);
/* `[cbox] network-keep`: how long the project's shared network outlives
 * its last run (core/cbox-net.c). */
#define CBOX_NET_KEEP_DEFAULT_S 60
#define CBOX_NET_KEEP_MAX_S 86400
/* A number of seconds (decimal digits, 0 to CBOX_NET_KEEP_MAX_S), or -1. */
int cbox_config_parse_seconds (const char *value);
/* Plugin and alias names: [a-z0-9_-]+. */
gboolean cbox_config_name_is_valid (const char *name);
/* Profile names: [A-Za-z0-9_.-]+, not starting with '.'. */
gboolean cbox_config_profile_name_is_valid (const char *name);
/* Splits "SRC[:DEST]" at the first ':' not escaped by '\' ("\:" is a
 * colon, "\\" a backslash). @ret_dest gets NULL without DEST. */
gboolean cbox_config_split_bind (const char *spec, char **ret_src, char **ret_dest, GError **error);
/* The 1-based line of @key in [@group] of @contents (the last one, as
 * GKeyFile keeps the last); 0 when not found. */
guint cbox_config_find_line (const char *contents, const char *group, const char *key);

G_END_DECLS

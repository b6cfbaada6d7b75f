/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The cbox command line: option parsing, help and the commands
 * (cbox_cli_main()). The request it makes together with the configuration
 * is built in cbox-request.c; what the commands print is made by
 * cbox-text.c, or cbox-json.c for --json. */

#include "cbox-config.h"
#include "cbox-planner.h"

G_BEGIN_DECLS

typedef enum
{
  CBOX_CLI_COMMAND_NONE = 0,
  CBOX_CLI_COMMAND_RUN,
  CBOX_CLI_COMMAND_PLAN,
  CBOX_CLI_COMMAND_DOCTOR,
  CBOX_CLI_COMMAND_PLUGINS,
  CBOX_CLI_COMMAND_VERSION,
  CBOX_CLI_COMMAND_HELP,
  CBOX_CLI_COMMAND_PS,
  CBOX_CLI_COMMAND_ENTER,
  CBOX_CLI_COMMAND_STOP,
} CboxCliCommand;

typedef struct
{
  char *group;
  char *key;
  char *value;
} CboxCliSetting;

typedef struct
{
  CboxCliCommand command;
  char *help_topic; /* help TOPIC */
  gboolean help;    /* COMMAND --help */
  gboolean json;
  gboolean print_command;
  gboolean verbose;
  gboolean shell;
  gboolean all;        /* ps, stop: --all */
  char *instance;      /* enter, stop: --instance */
  char *profile;       /* --profile; "none" for none */
  char *project;       /* --project, as given */
  char *config_file;   /* --config */
  char **command_argv; /* after the command word or --; NULL when none */
  GPtrArray *settings; /* CboxCliSetting: --backend, --network, --set, ... */
  /* Warnings about the options given (a deprecated spelling), printed by
   * cbox_cli_main() before it does anything else. */
  GPtrArray *warnings;
  /* Forward ops, binds (paths as given) and env of the command line, in
   * order. */
  CboxRequest *cli;
} CboxCliOptions;

CboxCliOptions *cbox_cli_options_new (void);
void cbox_cli_options_free (CboxCliOptions *options);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxCliOptions, cbox_cli_options_free)

/* Parses argv (with argv[0]). Errors: CBOX_ERROR_INVALID_ARGUMENT. */
gboolean cbox_cli_parse (int argc, char **argv, CboxCliOptions **ret_options, GError **error);

/* Loads configuration and profile and makes the request (cbox-request.c): @cwd resolves
 * relative paths and is the default project. */
gboolean cbox_cli_make_request (CboxCliOptions *options, CboxHost *host, const char *cwd,
                                CboxRequest **ret_request, GError **error);

/* The help text of @topic (NULL: general); NULL for an unknown topic. */
char *cbox_cli_get_help (const char *topic);

/* A printable form of a user's argument for messages (it may hold any
 * byte). */
char *cbox_cli_quote (const char *text);
/* @path from a file or option as an absolute, normalized host path
 * (cbox-request.c). */
char *cbox_cli_absolute_path (CboxHost *host, const char *path, const char *cwd, GError **error);

/* The whole program; returns the exit status. */
int cbox_cli_main (int argc, char **argv);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-cli.h"
#include "cbox-json.h"
#include "cbox-net-plan.h"
#include "cbox-project.h"

/* ---- options ---------------------------------------------------------------- */

static void
cbox_cli_setting_free (CboxCliSetting *setting)
{
  g_free (setting->group);
  g_free (setting->key);
  g_free (setting->value);
  g_free (setting);
}

CboxCliOptions *
cbox_cli_options_new (void)
{
  CboxCliOptions *options = g_new0 (CboxCliOptions, 1);

  options->settings = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_cli_setting_free);
  options->cli = cbox_request_new ();
  return options;
}

void
cbox_cli_options_free (CboxCliOptions *options)
{
  if (options == NULL)
    return;
  g_free (options->help_topic);
  g_free (options->profile);
  g_free (options->project);
  g_free (options->config_file);
  g_free (options->instance);
  g_strfreev (options->command_argv);
  g_ptr_array_unref (options->settings);
  cbox_request_free (options->cli);
  g_free (options);
}

static void
cbox_cli_add_setting (CboxCliOptions *options, const char *group, const char *key,
                      const char *value)
{
  CboxCliSetting *setting = g_new0 (CboxCliSetting, 1);

  setting->group = g_strdup (group);
  setting->key = g_strdup (key);
  setting->value = g_strdup (value);
  g_ptr_array_add (options->settings, setting);
}

typedef enum
{
  OPT_BACKEND,
  OPT_FORWARD,
  OPT_NO_FORWARD,
  OPT_NETWORK,
  OPT_PUBLISH,
  OPT_PROFILE,
  OPT_PROJECT,
  OPT_BIND,
  OPT_RO_BIND,
  OPT_COPY,
  OPT_ENV,
  OPT_SHELL,
  OPT_CONFIG,
  OPT_VERBOSE,
  OPT_HELP,
  OPT_VERSION,
  OPT_JSON,
  OPT_PRINT_COMMAND,
  OPT_ACCEL,
  OPT_MEMORY,
  OPT_CPUS,
  OPT_SET,
  OPT_PERSIST,
  OPT_NO_PERSIST,
  OPT_ALL,
  OPT_INSTANCE,
  OPT_ALLOW_PROJECT,
} CboxCliOptionId;

typedef struct
{
  const char *name;
  char short_name;
  gboolean has_value;
  CboxCliOptionId id;
} CboxCliOptionDef;

static const CboxCliOptionDef cbox_cli_option_defs[] = {
  { "backend", 0, TRUE, OPT_BACKEND },
  { "forward", 0, TRUE, OPT_FORWARD },
  { "no-forward", 0, TRUE, OPT_NO_FORWARD },
  { "network", 0, TRUE, OPT_NETWORK },
  { "publish", 0, TRUE, OPT_PUBLISH },
  { "profile", 0, TRUE, OPT_PROFILE },
  { "project", 0, TRUE, OPT_PROJECT },
  { "bind", 0, TRUE, OPT_BIND },
  { "ro-bind", 0, TRUE, OPT_RO_BIND },
  { "copy", 0, TRUE, OPT_COPY },
  { "env", 0, TRUE, OPT_ENV },
  { "shell", 0, FALSE, OPT_SHELL },
  { "config", 0, TRUE, OPT_CONFIG },
  { "verbose", 'v', FALSE, OPT_VERBOSE },
  { "help", 'h', FALSE, OPT_HELP },
  { "version", 0, FALSE, OPT_VERSION },
  { "json", 0, FALSE, OPT_JSON },
  { "print-command", 0, FALSE, OPT_PRINT_COMMAND },
  { "accel", 0, TRUE, OPT_ACCEL },
  { "memory", 0, TRUE, OPT_MEMORY },
  { "cpus", 0, TRUE, OPT_CPUS },
  { "set", 0, TRUE, OPT_SET },
  { "persist", 0, TRUE, OPT_PERSIST },
  { "no-persist", 0, FALSE, OPT_NO_PERSIST },
  { "all", 0, FALSE, OPT_ALL },
  { "instance", 0, TRUE, OPT_INSTANCE },
  { "allow-project", 0, TRUE, OPT_ALLOW_PROJECT },
};

static const struct
{
  const char *word;
  CboxCliCommand command;
} cbox_cli_commands[] = {
  { "run", CBOX_CLI_COMMAND_RUN },         { "plan", CBOX_CLI_COMMAND_PLAN },
  { "doctor", CBOX_CLI_COMMAND_DOCTOR },   { "plugins", CBOX_CLI_COMMAND_PLUGINS },
  { "version", CBOX_CLI_COMMAND_VERSION }, { "help", CBOX_CLI_COMMAND_HELP },
  { "ps", CBOX_CLI_COMMAND_PS },           { "enter", CBOX_CLI_COMMAND_ENTER },
  { "stop", CBOX_CLI_COMMAND_STOP },
};

static const char *
cbox_cli_command_word (CboxCliCommand command)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_cli_commands); i++)
    if (cbox_cli_commands[i].command == command)
      return cbox_cli_commands[i].word;
  return NULL;
}

/* A printable form of a user's argument for messages (it may hold any
 * byte). */
static char *
cbox_cli_quote (const char *text)
{
  return g_strescape (text, NULL);
}

static gboolean
cbox_cli_bad_value (GError **error, const char *option, const char *value, const char *hint)
{
  g_autofree char *quoted = cbox_cli_quote (value);

  g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT, "Bad value for --%s: '%s' (%s)",
               option, quoted, hint);
  return FALSE;
}

static gboolean
cbox_cli_env_name_is_valid (const char *name, gsize len)
{
  if (len == 0 || !(g_ascii_isalpha (name[0]) || name[0] == '_'))
    return FALSE;
  for (gsize i = 1; i < len; i++)
    if (!(g_ascii_isalnum (name[i]) || name[i] == '_'))
      return FALSE;
  return TRUE;
}

static gboolean
cbox_cli_parse_forward_list (CboxCliOptions *options, const char *option, const char *value,
                             gboolean remove, GError **error)
{
  g_auto (GStrv) names = g_strsplit (value, ",", -1);

  if (names[0] == NULL)
    return cbox_cli_bad_value (error, option, value, "give names or aliases separated by ','");
  for (guint i = 0; names[i] != NULL; i++)
    {
      const char *name = names[i];

      if (!remove && g_str_equal (name, "none"))
        {
          cbox_request_add_forward_op (options->cli, CBOX_FORWARD_OP_CLEAR, NULL, TRUE, "cli");
          continue;
        }
      if (!cbox_config_name_is_valid (name))
        return cbox_cli_bad_value (error, option, value,
                                   "give forwarder names or aliases such as x11,gpu separated by "
                                   "','; 'cbox plugins' lists them");
      cbox_request_add_forward_op (
          options->cli, remove ? CBOX_FORWARD_OP_REMOVE : CBOX_FORWARD_OP_ADD, name, TRUE, "cli");
    }
  return TRUE;
}

static gboolean
cbox_cli_id_is_valid (const char *value)
{
  if (value[0] == '\0')
    return FALSE;
  for (const char *p = value; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p))
      return FALSE;
  return TRUE;
}

static gboolean
cbox_cli_parse_size (const char *value)
{
  gsize len = strlen (value);
  gsize digits = strspn (value, "0123456789");

  if (digits == 0 || len - digits > 1)
    return FALSE;
  if (len - digits == 1 && strchr ("KMGTkmgt", value[digits]) == NULL)
    return FALSE;
  return strtoull (value, NULL, 10) > 0;
}

static gboolean
cbox_cli_apply_option (CboxCliOptions *options, const CboxCliOptionDef *def, const char *value,
                       GError **error)
{
  switch (def->id)
    {
    case OPT_BACKEND:
      if (!cbox_config_name_is_valid (value))
        return cbox_cli_bad_value (error, def->name, value,
                                   "a backend name such as bwrap, nspawn or qemu");
      cbox_cli_add_setting (options, "cbox", "backend", value);
      return TRUE;
    case OPT_FORWARD:
      return cbox_cli_parse_forward_list (options, def->name, value, FALSE, error);
    case OPT_NO_FORWARD:
      return cbox_cli_parse_forward_list (options, def->name, value, TRUE, error);
    case OPT_NETWORK:
      {
        CboxNetworkMode mode;
        g_autofree char *list = NULL;

        g_autoptr (GError) local_error = NULL;

        /* allow:HOSTS and deny:HOSTS set the mode and its list at once. */
        if (!cbox_net_plan_parse_option (value, &mode, &list, &local_error))
          return cbox_cli_bad_value (error, def->name, value, local_error->message);
        cbox_cli_add_setting (options, "cbox", "network", cbox_network_mode_to_string (mode));
        if (list != NULL)
          cbox_cli_add_setting (
              options, "cbox", mode == CBOX_NETWORK_ALLOW ? "network-allow" : "network-deny", list);
        return TRUE;
      }
    case OPT_PUBLISH:
      {
        CboxPublishedPort port;
        g_autoptr (GError) local_error = NULL;

        if (!cbox_net_parse_publish (value, &port.host_port, &port.sandbox_port, &local_error))
          return cbox_cli_bad_value (error, def->name, value, local_error->message);
        g_array_append_val (options->cli->publish, port);
        return TRUE;
      }
    case OPT_PROFILE:
      if (!g_str_equal (value, "none") && !cbox_config_profile_name_is_valid (value))
        return cbox_cli_bad_value (error, def->name, value,
                                   "a profile name: letters, digits, '-', '_', '.'; none for no "
                                   "profile");
      g_free (options->profile);
      options->profile = g_strdup (value);
      return TRUE;
    case OPT_PROJECT:
      if (value[0] == '\0')
        return cbox_cli_bad_value (error, def->name, value, "a directory");
      g_free (options->project);
      options->project = g_strdup (value);
      return TRUE;
    case OPT_ALLOW_PROJECT:
      if (value[0] == '\0')
        return cbox_cli_bad_value (error, def->name, value, "a directory");
      cbox_request_add_path (options->cli->allow_projects, value, FALSE, "cli");
      return TRUE;
    case OPT_BIND:
    case OPT_RO_BIND:
    case OPT_COPY:
      {
        g_autofree char *src = NULL;
        g_autofree char *dest = NULL;
        g_autoptr (GError) local_error = NULL;
        CboxBindKind kind = def->id == OPT_BIND      ? CBOX_BIND_RW
                            : def->id == OPT_RO_BIND ? CBOX_BIND_RO
                                                     : CBOX_BIND_COPY;

        if (!cbox_config_split_bind (value, &src, &dest, &local_error))
          return cbox_cli_bad_value (error, def->name, value, local_error->message);
        cbox_request_add_bind (options->cli, kind, src, dest, FALSE, "cli");
        return TRUE;
      }
    case OPT_ENV:
      {
        const char *eq = strchr (value, '=');
        gsize len = eq != NULL ? (gsize)(eq - value) : strlen (value);
        g_autofree char *name = g_strndup (value, len);

        if (!cbox_cli_env_name_is_valid (value, len))
          return cbox_cli_bad_value (error, def->name, value,
                                     "NAME or NAME=VALUE, NAME of letters, digits and '_'");
        cbox_request_add_env (options->cli, name, eq != NULL ? eq + 1 : NULL, "cli");
        return TRUE;
      }
    case OPT_SHELL:
      options->shell = TRUE;
      return TRUE;
    case OPT_CONFIG:
      if (value[0] == '\0')
        return cbox_cli_bad_value (error, def->name, value, "a configuration file");
      g_free (options->config_file);
      options->config_file = g_strdup (value);
      return TRUE;
    case OPT_VERBOSE:
      options->verbose = TRUE;
      return TRUE;
    case OPT_HELP:
      options->help = TRUE;
      return TRUE;
    case OPT_VERSION:
      if (options->command == CBOX_CLI_COMMAND_NONE)
        options->command = CBOX_CLI_COMMAND_VERSION;
      return TRUE;
    case OPT_JSON:
      options->json = TRUE;
      return TRUE;
    case OPT_PRINT_COMMAND:
      options->print_command = TRUE;
      return TRUE;
    case OPT_ACCEL:
      if (!g_str_equal (value, "kvm") && !g_str_equal (value, "tcg")
          && !g_str_equal (value, "auto"))
        return cbox_cli_bad_value (error, def->name, value, "use kvm, tcg or auto");
      cbox_cli_add_setting (options, "qemu", "accel", value);
      return TRUE;
    case OPT_MEMORY:
      if (!cbox_cli_parse_size (value))
        return cbox_cli_bad_value (error, def->name, value, "a size such as 4G or 2048M");
      cbox_cli_add_setting (options, "qemu", "memory", value);
      return TRUE;
    case OPT_CPUS:
      {
        guint64 n;
        if (!g_ascii_string_to_unsigned (value, 10, 1, 256, &n, NULL))
          return cbox_cli_bad_value (error, def->name, value, "a number of CPUs from 1 to 256");
        cbox_cli_add_setting (options, "qemu", "cpus", value);
        return TRUE;
      }
    case OPT_SET:
      {
        const char *dot = strchr (value, '.');
        const char *eq = dot != NULL ? strchr (dot, '=') : NULL;
        g_autofree char *group = NULL;
        g_autofree char *key = NULL;

        if (dot == NULL || eq == NULL || dot == value || eq == dot + 1)
          return cbox_cli_bad_value (error, def->name, value,
                                     "GROUP.KEY=VALUE, e.g. --set=ssh.keys=false");
        group = g_strndup (value, (gsize)(dot - value));
        key = g_strndup (dot + 1, (gsize)(eq - dot - 1));
        if (!cbox_config_name_is_valid (group))
          return cbox_cli_bad_value (error, def->name, value,
                                     "GROUP is a plugin name, or cbox for the core's keys");
        cbox_cli_add_setting (options, group, key, eq + 1);
        return TRUE;
      }
    case OPT_PERSIST:
      {
        g_auto (GStrv) items = g_strsplit (value, ",", -1);
        g_autofree char *list = NULL;

        for (guint i = 0; items[i] != NULL; i++)
          if (!g_str_equal (items[i], "local") && !g_str_equal (items[i], "tmp")
              && !g_str_equal (items[i], "none"))
            return cbox_cli_bad_value (error, def->name, value,
                                       "local, tmp or both separated by ','; none for nothing");
        list = g_strjoinv (";", items);
        cbox_cli_add_setting (options, "cbox", "persist", list);
        return TRUE;
      }
    case OPT_NO_PERSIST:
      cbox_cli_add_setting (options, "cbox", "persist", "none");
      return TRUE;
    case OPT_ALL:
      options->all = TRUE;
      return TRUE;
    case OPT_INSTANCE:
      if (!cbox_cli_id_is_valid (value))
        return cbox_cli_bad_value (error, def->name, value,
                                   "a sandbox id, or the start of one, as 'cbox ps' shows");
      g_free (options->instance);
      options->instance = g_strdup (value);
      return TRUE;
    default:
      g_assert_not_reached ();
    }
}

/* " (did you mean --network?)" for a near miss, else "". */
static char *
cbox_cli_suggest_option (const char *arg)
{
  const char *name = arg;
  g_autofree char *bare = NULL;
  const char *best = NULL;
  guint best_distance = 3;

  while (*name == '-')
    name++;
  bare = g_strndup (name, strcspn (name, "="));
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_cli_option_defs); i++)
    {
      guint distance = cbox_config_distance (bare, cbox_cli_option_defs[i].name);
      if (distance < best_distance)
        {
          best_distance = distance;
          best = cbox_cli_option_defs[i].name;
        }
    }
  return best != NULL && bare[0] != '\0' ? g_strdup_printf ("did you mean --%s? ", best)
                                         : g_strdup ("");
}

static const CboxCliOptionDef *
cbox_cli_lookup_option (const char *name, gsize len, char short_name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cbox_cli_option_defs); i++)
    {
      const CboxCliOptionDef *def = &cbox_cli_option_defs[i];
      if (short_name != 0 ? def->short_name == short_name
                          : (strlen (def->name) == len && strncmp (def->name, name, len) == 0))
        return def;
    }
  return NULL;
}

gboolean
cbox_cli_parse (int argc, char **argv, CboxCliOptions **ret_options, GError **error)
{
  g_autoptr (CboxCliOptions) options = cbox_cli_options_new ();
  gboolean have_command_word = FALSE;
  int i;

  for (i = 1; i < argc; i++)
    {
      const char *arg = argv[i];

      if (g_str_equal (arg, "--"))
        {
          i++;
          break;
        }
      if (arg[0] == '-' && arg[1] != '\0')
        {
          const CboxCliOptionDef *def;
          const char *value = NULL;

          if (arg[1] == '-')
            {
              const char *name = arg + 2;
              const char *eq = strchr (name, '=');
              def = cbox_cli_lookup_option (name, eq != NULL ? (gsize)(eq - name) : strlen (name),
                                            0);
              if (def != NULL && eq != NULL)
                {
                  if (!def->has_value)
                    {
                      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                                   "Option --%s takes no value", def->name);
                      return FALSE;
                    }
                  value = eq + 1;
                }
            }
          else
            def = arg[2] == '\0' ? cbox_cli_lookup_option (NULL, 0, arg[1]) : NULL;

          if (def == NULL)
            {
              g_autofree char *quoted = cbox_cli_quote (arg);
              g_autofree char *suggestion = cbox_cli_suggest_option (arg);
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                           "Unknown option '%s' (%ssee 'cbox help')", quoted, suggestion);
              return FALSE;
            }
          if (def->has_value && value == NULL)
            {
              if (i + 1 >= argc)
                {
                  g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                               "Option --%s needs a value (--%s=VALUE)", def->name, def->name);
                  return FALSE;
                }
              value = argv[++i];
            }
          if (!cbox_cli_apply_option (options, def, value, error))
            return FALSE;
          continue;
        }

      if (!have_command_word)
        {
          gboolean found = FALSE;
          for (gsize c = 0; c < G_N_ELEMENTS (cbox_cli_commands); c++)
            if (g_str_equal (arg, cbox_cli_commands[c].word))
              {
                options->command = cbox_cli_commands[c].command;
                found = TRUE;
              }
          if (!found)
            {
              g_autofree char *quoted = cbox_cli_quote (arg);
              g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                           "Unknown command '%s' (commands: run, plan, doctor, plugins, ps, "
                           "enter, stop, version, help; to run a program in a sandbox: cbox run "
                           "-- %s)",
                           quoted, quoted);
              return FALSE;
            }
          have_command_word = TRUE;
          continue;
        }

      if (options->command == CBOX_CLI_COMMAND_HELP && options->help_topic == NULL)
        {
          options->help_topic = g_strdup (arg);
          continue;
        }
      if (options->command == CBOX_CLI_COMMAND_RUN || options->command == CBOX_CLI_COMMAND_PLAN
          || options->command == CBOX_CLI_COMMAND_ENTER)
        break; /* the command starts here, as with env(1) */
      {
        g_autofree char *quoted = cbox_cli_quote (arg);
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                     "Unexpected argument '%s' after '%s' (see 'cbox help %s')", quoted,
                     cbox_cli_command_word (options->command),
                     cbox_cli_command_word (options->command));
        return FALSE;
      }
    }

  if (i < argc)
    {
      if (options->command != CBOX_CLI_COMMAND_RUN && options->command != CBOX_CLI_COMMAND_PLAN
          && options->command != CBOX_CLI_COMMAND_ENTER)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "A COMMAND after '--' is for 'cbox run', 'cbox plan' and 'cbox enter' only");
          return FALSE;
        }
      options->command_argv = g_new0 (char *, argc - i + 1);
      for (int j = 0; i < argc; i++, j++)
        options->command_argv[j] = g_strdup (argv[i]);
    }

  if (options->shell && options->command_argv != NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                   "--shell runs a shell: give either --shell or a COMMAND, not both");
      return FALSE;
    }
  if (!options->help)
    {
      if (options->json && options->command != CBOX_CLI_COMMAND_PLAN
          && options->command != CBOX_CLI_COMMAND_DOCTOR
          && options->command != CBOX_CLI_COMMAND_PLUGINS
          && options->command != CBOX_CLI_COMMAND_PS)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "--json is for 'cbox plan', 'cbox doctor', 'cbox plugins' and 'cbox ps'");
          return FALSE;
        }
      if (options->all && options->command != CBOX_CLI_COMMAND_PS
          && options->command != CBOX_CLI_COMMAND_STOP)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "--all is for 'cbox ps' and 'cbox stop'");
          return FALSE;
        }
      if (options->instance != NULL && options->command != CBOX_CLI_COMMAND_ENTER
          && options->command != CBOX_CLI_COMMAND_STOP)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "--instance is for 'cbox enter' and 'cbox stop'");
          return FALSE;
        }
      if (options->instance != NULL && options->all)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "Give either --instance=ID or --all, not both");
          return FALSE;
        }
      if (options->print_command && options->command != CBOX_CLI_COMMAND_PLAN)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "--print-command is for 'cbox plan'");
          return FALSE;
        }
    }

  *ret_options = g_steal_pointer (&options);
  return TRUE;
}

/* ---- the request -------------------------------------------------------------- */

static const char *
cbox_cli_layer_origin (CboxConfigLayer layer)
{
  switch (layer)
    {
    case CBOX_CONFIG_LAYER_FILES:
      return "config";
    case CBOX_CONFIG_LAYER_PROFILE:
      return "profile";
    default:
      return "cli";
    }
}

/* @path from a file or option as an absolute, normalized host path:
 * "~/" and "$XDG_RUNTIME_DIR/" expanded, a relative path taken from @cwd. */
static char *
cbox_cli_absolute_path (CboxHost *host, const char *path, const char *cwd, GError **error)
{
  g_autofree char *expanded = cbox_host_expand_path (host, path, error);

  if (expanded == NULL)
    return NULL;
  return g_canonicalize_filename (expanded, cwd);
}

static gboolean
cbox_cli_add_bind (CboxRequest *request, CboxHost *host, CboxBindKind kind, const char *spec_src,
                   const char *spec_dest, const char *cwd, const char *origin, GError **error)
{
  static const char *const option_names[] = { "ro-bind", "bind", "copy" };
  const char *option = option_names[kind == CBOX_BIND_RO ? 0 : kind == CBOX_BIND_RW ? 1 : 2];
  gboolean from_cli = g_str_equal (origin, "cli");
  g_autofree char *src = NULL;
  g_autofree char *dest = NULL;
  g_autoptr (GError) local_error = NULL;

  src = cbox_cli_absolute_path (host, spec_src, cwd, &local_error);
  if (src == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT, "--%s: %s", option,
                   local_error->message);
      return FALSE;
    }
  if (spec_dest != NULL)
    {
      g_autofree char *expanded = cbox_host_expand_path (host, spec_dest, &local_error);
      if (expanded == NULL || !g_path_is_absolute (expanded))
        {
          g_autofree char *quoted = cbox_cli_quote (spec_dest);
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                       "--%s: the destination '%s' must be an absolute path inside the sandbox",
                       option, quoted);
          return FALSE;
        }
      dest = g_canonicalize_filename (expanded, "/");
    }
  else
    dest = g_strdup (src);

  /* A path named on the command line must be there: a typo should not
   * silently give an empty sandbox. Files and profiles may name paths
   * that exist on some machines only. */
  if (from_cli)
    {
      GStatBuf st;
      if (g_lstat (src, &st) < 0)
        {
          int saved_errno = errno;
          g_autofree char *quoted = cbox_cli_quote (src);
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT, "--%s: '%s': %s", option,
                       quoted, g_strerror (saved_errno));
          return FALSE;
        }
    }
  /* The source is resolved here, once: the plan shows (and the backend
   * binds) the folder that is really given, not a link whose target the
   * plan would hide, and the rules below see the real path. A link
   * planted by an earlier sandbox (`proj/data -> ~`) must not turn a
   * harmless-looking --bind into the home. */
  {
    g_autofree char *real = realpath (src, NULL);
    gboolean can_allow;
    const char *rule = real != NULL ? cbox_project_refusal (host, real, &can_allow) : NULL;

    if (rule != NULL)
      {
        g_autofree char *quoted = cbox_cli_quote (src);
        g_autofree char *quoted_real = cbox_cli_quote (real);
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                     "--%s (from %s): refusing '%s'%s%s%s: it is %s, which cbox does not bind "
                     "whole (bind the folder inside it that the command needs)",
                     option, origin, quoted, g_str_equal (src, real) ? "" : " (a link to '",
                     g_str_equal (src, real) ? "" : quoted_real,
                     g_str_equal (src, real) ? "" : "')", rule);
        return FALSE;
      }
    cbox_request_add_bind (request, kind, real != NULL ? real : src, dest, !from_cli, origin);
    if (real != NULL && !g_str_equal (real, src))
      {
        CboxBindRequest *bind = g_ptr_array_index (request->binds, request->binds->len - 1);
        bind->link = g_strdup (src);
      }
  }
  return TRUE;
}

static gboolean
cbox_cli_add_layer_binds (CboxRequest *request, CboxHost *host, GKeyFile *layer_file,
                          const char *origin, const char *cwd, GError **error)
{
  static const struct
  {
    const char *key;
    CboxBindKind kind;
  } keys[] = { { "bind", CBOX_BIND_RW }, { "ro-bind", CBOX_BIND_RO }, { "copy", CBOX_BIND_COPY } };

  for (gsize k = 0; k < G_N_ELEMENTS (keys); k++)
    {
      g_auto (GStrv) specs
          = g_key_file_get_string_list (layer_file, "cbox", keys[k].key, NULL, NULL);
      for (guint i = 0; specs != NULL && specs[i] != NULL; i++)
        {
          g_autofree char *src = NULL;
          g_autofree char *dest = NULL;
          if (!cbox_config_split_bind (specs[i], &src, &dest, error)
              || !cbox_cli_add_bind (request, host, keys[k].kind, src, dest, cwd, origin, error))
            return FALSE;
        }
    }
  return TRUE;
}

/* An allow-project path, resolved as the project is (a link to the home
 * is the home). One that does not resolve allows nothing. */
static gboolean
cbox_cli_add_allow_project (CboxRequest *request, CboxHost *host, const char *path, const char *cwd,
                            const char *origin, GError **error)
{
  g_autofree char *absolute = cbox_cli_absolute_path (host, path, cwd, error);
  g_autofree char *real = NULL;

  if (absolute == NULL)
    {
      g_prefix_error (error, "allow-project: ");
      return FALSE;
    }
  real = realpath (absolute, NULL);
  if (real != NULL)
    cbox_request_add_path (request->allow_projects, real, FALSE, origin);
  return TRUE;
}

static char **
cbox_cli_parse_words (const char *value)
{
  char **argv = NULL;

  if (value == NULL || !g_shell_parse_argv (value, NULL, &argv, NULL))
    return NULL;
  return argv;
}

gboolean
cbox_cli_make_request (CboxCliOptions *options, CboxHost *host, const char *cwd,
                       CboxRequest **ret_request, GError **error)
{
  g_autoptr (CboxRequest) request = cbox_request_new ();
  g_autoptr (CboxConfig) config = cbox_config_new ();
  g_autoptr (GPtrArray) mkdirs = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) dirs = cbox_config_get_search_dirs (host);
  g_autofree char *profile = NULL;
  g_autofree char *value = NULL;
  g_autofree char *config_file = NULL;
  g_autoptr (GError) local_error = NULL;
  gboolean flag;

  if (options->config_file != NULL)
    config_file = g_canonicalize_filename (options->config_file, cwd);
  if (!cbox_config_load_files (config, (const char *const *)dirs, config_file, error))
    return FALSE;
  for (guint i = 0; i < options->settings->len; i++)
    {
      CboxCliSetting *setting = g_ptr_array_index (options->settings, i);
      if (!cbox_config_set (config, setting->group, setting->key, setting->value, error))
        return FALSE;
    }

  profile = options->profile != NULL ? g_strdup (options->profile)
                                     : cbox_config_get_core_string (config, "profile");
  if (profile != NULL && profile[0] != '\0' && !g_str_equal (profile, "none")
      && !cbox_config_load_profile (config, (const char *const *)dirs, profile, error))
    return FALSE;
  request->profile = g_strdup (cbox_config_get_profile (config));

  g_key_file_unref (request->config);
  request->config = g_key_file_ref (cbox_config_get_merged (config));
  request->config_keys = g_ptr_array_ref ((GPtrArray *)cbox_config_get_plugin_keys (config));

  request->backend = cbox_config_get_core_string (config, "backend");
  value = cbox_config_get_core_string (config, "network");
  /* The configuration was checked when it was read; a value that does not
   * parse here cannot come, and would mean the default, never the host's
   * network. */
  if (value == NULL || !cbox_network_mode_from_string (value, &request->network))
    request->network = CBOX_NETWORK_OWN;
  g_clear_pointer (&value, g_free);
  /* New user namespaces: refused unless a profile or file asks (see
   * docs/security.md, "seccomp"). `[bwrap] allow-userns` is the older
   * spelling, from when only bwrap could refuse them; it still counts. */
  value = cbox_config_get_core_string (config, "allow-userns");
  request->allow_userns = value != NULL && cbox_config_parse_boolean (value, &flag) && flag;
  g_clear_pointer (&value, g_free);
  if (!request->allow_userns && g_key_file_has_key (request->config, "bwrap", "allow-userns", NULL))
    request->allow_userns = g_key_file_get_boolean (request->config, "bwrap", "allow-userns", NULL);
  value = cbox_config_get_core_string (config, "verbose");
  request->verbose
      = options->verbose || (value != NULL && cbox_config_parse_boolean (value, &flag) && flag);
  g_clear_pointer (&value, g_free);

  /* Forwarders: each layer's lists in turn (a file's `forward` gives
   * defaults, a profile's asks for them), then the options in order. */
  for (CboxConfigLayer layer = 0; layer < CBOX_CONFIG_N_LAYERS; layer++)
    {
      GKeyFile *layer_file = cbox_config_get_layer (config, layer);
      const char *origin = cbox_cli_layer_origin (layer);
      g_auto (GStrv) forward
          = g_key_file_get_string_list (layer_file, "cbox", "forward", NULL, NULL);
      g_auto (GStrv) optional
          = g_key_file_get_string_list (layer_file, "cbox", "forward-optional", NULL, NULL);
      g_auto (GStrv) no_forward
          = g_key_file_get_string_list (layer_file, "cbox", "no-forward", NULL, NULL);
      g_auto (GStrv) env = g_key_file_get_string_list (layer_file, "cbox", "env", NULL, NULL);
      g_auto (GStrv) publish
          = g_key_file_get_string_list (layer_file, "cbox", "publish", NULL, NULL);
      g_auto (GStrv) dirs_to_make
          = g_key_file_get_string_list (layer_file, "cbox", "mkdir", NULL, NULL);
      g_auto (GStrv) allow_projects
          = g_key_file_get_string_list (layer_file, "cbox", "allow-project", NULL, NULL);
      g_auto (GStrv) protect
          = g_key_file_get_string_list (layer_file, "cbox", "protect", NULL, NULL);
      g_auto (GStrv) unprotect
          = g_key_file_get_string_list (layer_file, "cbox", "unprotect", NULL, NULL);
      g_auto (GStrv) project_folders
          = g_key_file_get_string_list (layer_file, "cbox", "project-folder", NULL, NULL);

      if (layer == CBOX_CONFIG_LAYER_FILES && forward != NULL)
        request->has_default_forwards = TRUE;
      for (guint i = 0; forward != NULL && forward[i] != NULL; i++)
        {
          if (g_str_equal (forward[i], "none"))
            cbox_request_add_forward_op (request, CBOX_FORWARD_OP_CLEAR, NULL, FALSE, origin);
          else
            cbox_request_add_forward_op (request, CBOX_FORWARD_OP_ADD, forward[i],
                                         layer != CBOX_CONFIG_LAYER_FILES, origin);
        }
      for (guint i = 0; optional != NULL && optional[i] != NULL; i++)
        cbox_request_add_forward_op (request, CBOX_FORWARD_OP_ADD, optional[i], FALSE, origin);
      for (guint i = 0; no_forward != NULL && no_forward[i] != NULL; i++)
        cbox_request_add_forward_op (request, CBOX_FORWARD_OP_REMOVE, no_forward[i], FALSE, origin);

      if (!cbox_cli_add_layer_binds (request, host, layer_file, origin, cwd, error))
        return FALSE;

      for (guint i = 0; env != NULL && env[i] != NULL; i++)
        {
          const char *eq = strchr (env[i], '=');
          g_autofree char *name
              = eq != NULL ? g_strndup (env[i], (gsize)(eq - env[i])) : g_strdup (env[i]);
          cbox_request_add_env (request, name, eq != NULL ? eq + 1 : NULL, origin);
        }
      /* Each layer adds its ports (checked when the file was read). */
      for (guint i = 0; publish != NULL && publish[i] != NULL; i++)
        {
          CboxPublishedPort port;
          if (!cbox_net_parse_publish (publish[i], &port.host_port, &port.sandbox_port, error))
            return FALSE;
          g_array_append_val (request->publish, port);
        }
      for (guint i = 0; dirs_to_make != NULL && dirs_to_make[i] != NULL; i++)
        {
          char *dir = cbox_cli_absolute_path (host, dirs_to_make[i], "/", error);
          if (dir == NULL)
            return FALSE;
          g_ptr_array_add (mkdirs, dir);
        }
      for (guint i = 0; allow_projects != NULL && allow_projects[i] != NULL; i++)
        if (!cbox_cli_add_allow_project (request, host, allow_projects[i], cwd, origin, error))
          return FALSE;
      /* Each layer adds its own entries and removes what an earlier one
       * added, as forward / no-forward do. */
      for (guint i = 0; protect != NULL && protect[i] != NULL; i++)
        cbox_request_add_path (request->protect_ops, protect[i], FALSE, origin);
      for (guint i = 0; unprotect != NULL && unprotect[i] != NULL; i++)
        cbox_request_add_path (request->protect_ops, unprotect[i], TRUE, origin);
      for (guint i = 0; project_folders != NULL && project_folders[i] != NULL; i++)
        {
          g_autofree char *dir = cbox_cli_absolute_path (host, project_folders[i], "/", error);
          if (dir == NULL)
            return FALSE;
          cbox_request_add_path (request->project_folders, dir, FALSE, origin);
        }
    }
  for (guint i = 0; i < options->cli->allow_projects->len; i++)
    {
      CboxPathRequest *allow = g_ptr_array_index (options->cli->allow_projects, i);
      if (!cbox_cli_add_allow_project (request, host, allow->path, cwd, "cli", error))
        return FALSE;
    }
  for (guint i = 0; i < options->cli->forward_ops->len; i++)
    {
      CboxForwardOp *op = g_ptr_array_index (options->cli->forward_ops, i);
      cbox_request_add_forward_op (request, op->kind, op->name, op->requested, op->origin);
    }
  for (guint i = 0; i < options->cli->binds->len; i++)
    {
      CboxBindRequest *bind = g_ptr_array_index (options->cli->binds, i);
      if (!cbox_cli_add_bind (request, host, bind->kind, bind->src, bind->dest, cwd, "cli", error))
        return FALSE;
    }
  for (guint i = 0; i < options->cli->env->len; i++)
    {
      CboxEnvRequest *env = g_ptr_array_index (options->cli->env, i);
      cbox_request_add_env (request, env->name, env->value, "cli");
    }
  g_array_append_vals (request->publish, options->cli->publish->data, options->cli->publish->len);
  g_ptr_array_add (mkdirs, NULL);
  request->mkdirs = (char **)g_ptr_array_free (g_steal_pointer (&mkdirs), FALSE);

  /* The command: the one given, else the shell for --shell, else the
   * profile's or configuration's, else the user's shell. */
  if (options->command_argv != NULL)
    request->command = g_strdupv (options->command_argv);
  else
    {
      g_autofree char *shell = cbox_config_get_core_string (config, "shell");
      g_autofree char *command = cbox_config_get_core_string (config, "command");

      if (!options->shell && command != NULL)
        request->command = cbox_cli_parse_words (command);
      if (request->command == NULL && shell != NULL)
        request->command = cbox_cli_parse_words (shell);
      if (request->command == NULL)
        request->command = g_strdupv ((char *[]){ (char *)cbox_host_get_shell (host), NULL });
    }

  value = cbox_config_get_core_string (config, "usr");
  if (value != NULL)
    {
      request->usr_dir = cbox_cli_absolute_path (host, value, "/", error);
      if (request->usr_dir == NULL)
        return FALSE;
    }

  /* The project: bound at its real path, so symlinks are resolved. */
  {
    g_autofree char *given = cbox_cli_absolute_path (
        host, options->project != NULL ? options->project : ".", cwd, error);
    g_autofree char *real = NULL;
    GStatBuf st;

    if (given == NULL)
      return FALSE;
    real = realpath (given, NULL);
    if (real == NULL || g_stat (real, &st) < 0 || !S_ISDIR (st.st_mode))
      {
        int saved_errno = real == NULL ? errno : ENOTDIR;
        g_autofree char *quoted = cbox_cli_quote (given);
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT,
                     "The project directory '%s' cannot be used: %s (give one with --project=DIR)",
                     quoted, g_strerror (saved_errno));
        return FALSE;
      }
    request->project_dir = g_steal_pointer (&real);
  }

  *ret_request = g_steal_pointer (&request);
  return TRUE;
}

/* ---- help --------------------------------------------------------------------- */

static const char cbox_cli_options_help[]
    = "Options (before or after the command word):\n"
      "  --backend=NAME         backend: bwrap (default), nspawn, qemu, ...\n"
      "  --forward=LIST         forwarders or aliases to add, separated by ',' (x11,gpu,audio);\n"
      "                         'none' drops the configured ones first\n"
      "  --no-forward=LIST      forwarders or aliases to leave out\n"
      "  --network=on|off|host  on (default): a network of its own, outbound only, the host's\n"
      "                         localhost unreachable; host: the host's network, localhost\n"
      "                         and abstract sockets included; off: none\n"
      "  --network=allow:HOSTS  only HOSTS (a,*.b.org,c:22), through a proxy on the host\n"
      "  --network=deny:HOSTS   every host but HOSTS, through the proxy\n"
      "  --publish=HOST[:PORT]  with --network=on, the host's 127.0.0.1:HOST reaches PORT\n"
      "                         (default HOST) inside, TCP; repeatable\n"
      "  --profile=NAME         use profiles/NAME.conf ('none': no profile)\n"
      "  --project=DIR          project directory, read-write at its real path and the working\n"
      "                         directory (default: the current directory)\n"
      "  --bind=SRC[:DEST]      bind host SRC read-write (at DEST; default SRC)\n"
      "  --ro-bind=SRC[:DEST]   bind host SRC read-only\n"
      "  --copy=SRC[:DEST]      copy host file SRC in; changes stay inside\n"
      "                         (write a ':' inside a path as '\\:', a '\\' as '\\\\')\n"
      "  --env=NAME[=VALUE]     pass host variable NAME, or set it to VALUE\n"
      "  --shell                run a shell instead of the profile's command\n"
      "  --config=FILE          read FILE after the other configuration files\n"
      "  --set=GROUP.KEY=VALUE  set any configuration key (--set=ssh.keys=false)\n"
      "  --persist=LIST         keep the sandbox's ~/.local (local) and /tmp (tmp) per project,\n"
      "                         separated by ',' (default: local; see docs/projects.md)\n"
      "  --no-persist           keep nothing: ~/.local and /tmp start empty\n"
      "  --allow-project=DIR    let DIR be the project although it is the home, a folder above\n"
      "                         it or a system folder (refused otherwise; docs/security.md)\n"
      "  --accel=kvm|tcg|auto, --memory=SIZE, --cpus=N   qemu settings\n"
      "  -v, --verbose          say what cbox does, on stderr\n"
      "  -h, --help             this help\n";

char *
cbox_cli_get_help (const char *topic)
{
  if (topic == NULL)
    return g_strconcat (
        "Usage: cbox [OPTIONS] COMMAND [ARGS]\n"
        "\n"
        "Runs a command in a sandbox with exactly the host resources asked for.\n"
        "\n"
        "Commands:\n"
        "  run [-- COMMAND [ARG...]]  run COMMAND (default: the profile's command, or\n"
        "                             your shell) in a sandbox\n"
        "  plan [--json] [--print-command] [-- COMMAND...]\n"
        "                             print the launch plan and stop\n"
        "  doctor [--json]            what this host offers, plugin by plugin\n"
        "  plugins [--json]           every plugin found, rejected ones with the reason\n"
        "  ps [--all] [--json]        the running sandboxes of this project (--all: of all)\n"
        "  enter [--instance=ID] [-- COMMAND...]\n"
        "                             run COMMAND (default: your shell) in the running\n"
        "                             sandbox of this project\n"
        "  stop [--instance=ID|--all] stop this project's sandboxes (or one, or all)\n"
        "  version                    print the version\n"
        "  help [COMMAND|profiles|PLUGIN]\n"
        "                             help on a command, the profiles found, or a\n"
        "                             plugin and its configuration keys\n"
        "\n",
        cbox_cli_options_help,
        "\n"
        "Exit status: the command's own; 128+N if it died of signal N; 125 for\n"
        "cbox's own errors; 126 command not executable; 127 command not found.\n"
        "Configuration: see docs/config.md (cbox.conf, profiles/NAME.conf).\n",
        NULL);
  if (g_str_equal (topic, "run"))
    return g_strconcat ("Usage: cbox [OPTIONS] run [--] [COMMAND [ARG...]]\n"
                        "\n"
                        "Runs COMMAND in a sandbox and exits with its status. Without COMMAND it\n"
                        "runs the profile's command, or your shell. The first word that is not an\n"
                        "option starts COMMAND; everything after it is COMMAND's own.\n"
                        "\n",
                        cbox_cli_options_help, NULL);
  if (g_str_equal (topic, "plan"))
    return g_strconcat (
        "Usage: cbox [OPTIONS] plan [--json] [--print-command] [--] [COMMAND...]\n"
        "\n"
        "Prints what 'cbox run' would do, and stops: every mount, variable and\n"
        "helper with the plugin that added it, and the forwarders skipped and why.\n"
        "  --json           the plan as JSON (schema: docs/plan-json.md)\n"
        "  --print-command  only the backend's command line, as one shell-quoted\n"
        "                   line (generated files are passed as file descriptors,\n"
        "                   so it is for reading more than for pasting)\n"
        "\n",
        cbox_cli_options_help, NULL);
  if (g_str_equal (topic, "doctor"))
    return g_strdup ("Usage: cbox [OPTIONS] doctor [--json]\n"
                     "\n"
                     "Probes every backend and forwarder and says which are available,\n"
                     "degraded or unavailable on this host, and why.\n");
  if (g_str_equal (topic, "plugins"))
    return g_strdup (
        "Usage: cbox plugins [--json]\n"
        "\n"
        "Lists every plugin file found on the plugin path (CBOX_PLUGIN_PATH, then the\n"
        "installed folder): name, kind, version, path, aliases; rejected files with\n"
        "the reason. 'cbox help plugins' adds each plugin's configuration keys,\n"
        "'cbox help NAME' one plugin's.\n");
  if (g_str_equal (topic, "ps"))
    return g_strdup ("Usage: cbox [--project=DIR] ps [--all] [--json]\n"
                     "\n"
                     "Lists the sandboxes running for the project (the current directory, or\n"
                     "--project=DIR): id, backend, the pid of a process inside, start time and\n"
                     "command. Entries of runs that were killed are removed on the way.\n"
                     "  --all   the running sandboxes of every project, with the project\n"
                     "  --json  as a JSON array\n");
  if (g_str_equal (topic, "enter"))
    return g_strdup ("Usage: cbox [--project=DIR] enter [--instance=ID] [--] [COMMAND [ARG...]]\n"
                     "\n"
                     "Runs COMMAND (default: the sandbox's $SHELL) inside the running sandbox of\n"
                     "the project: in its namespaces, with its root, environment and user, in the\n"
                     "project directory (or the same subfolder you are in), without capabilities\n"
                     "and with the same terminal filter. Exits with COMMAND's status.\n"
                     "  --instance=ID  which sandbox, when several run (an id or its start, see\n"
                     "                 'cbox ps')\n"
                     "Not for the qemu backend (a VM has its own kernel): 125.\n");
  if (g_str_equal (topic, "stop"))
    return g_strdup ("Usage: cbox [--project=DIR] stop [--instance=ID|--all]\n"
                     "\n"
                     "Stops the running sandboxes of the project: SIGTERM to their command (as\n"
                     "'cbox run' passes it on), then SIGKILL after 10 seconds. Exits 0 once they\n"
                     "ended (also when none was running), 125 when one could not be stopped.\n"
                     "  --instance=ID  only this one (an id or its start, see 'cbox ps --all')\n"
                     "  --all          every running sandbox of every project\n");
  if (g_str_equal (topic, "version"))
    return g_strdup ("Usage: cbox version\n\nPrints the version of cbox and of its plugin ABI.\n");
  if (g_str_equal (topic, "help"))
    return g_strdup ("Usage: cbox help [COMMAND|profiles|plugins|PLUGIN]\n");
  return NULL;
}

static int
cbox_cli_compare_names (gconstpointer a, gconstpointer b, gpointer user_data)
{
  return strcmp (a, b);
}

static char *
cbox_cli_list_profiles (CboxHost *host)
{
  g_auto (GStrv) dirs = cbox_config_get_search_dirs (host);
  g_autoptr (GTree) profiles = g_tree_new_full (cbox_cli_compare_names, NULL, g_free, g_free);
  g_autoptr (GString) out = g_string_new ("Profiles (cbox --profile=NAME run):\n");

  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *folder = g_build_filename (dirs[i], "profiles", NULL);
      g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = NULL;
          g_autoptr (GKeyFile) key_file = g_key_file_new ();
          char *description;

          if (!g_str_has_suffix (name, ".conf"))
            continue;
          path = g_build_filename (folder, name, NULL);
          description = NULL;
          if (g_key_file_load_from_file (key_file, path, G_KEY_FILE_NONE, NULL))
            description = g_key_file_get_string (key_file, "cbox", "description", NULL);
          if (description == NULL && g_tree_lookup (profiles, name) != NULL)
            continue;
          g_tree_replace (profiles, g_strndup (name, strlen (name) - 5),
                          description != NULL ? description : g_strdup (""));
        }
    }
  if (g_tree_nnodes (profiles) == 0)
    g_string_append (out, "  (none found)\n");
  {
    GTreeNode *node;
    for (node = g_tree_node_first (profiles); node != NULL; node = g_tree_node_next (node))
      g_string_append_printf (out, "  %-12s %s\n", (const char *)g_tree_node_key (node),
                              (const char *)g_tree_node_value (node));
  }
  g_string_append (out, "Folders searched, later wins:\n");
  for (guint i = 0; dirs[i] != NULL; i++)
    g_string_append_printf (out, "  %s/profiles\n", dirs[i]);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* ---- output ------------------------------------------------------------------- */

static char *
cbox_cli_printable (const char *text)
{
  if (text == NULL)
    return g_strdup ("(none)");
  if (g_utf8_validate (text, -1, NULL) && strpbrk (text, "\n\t\r") == NULL)
    return g_strdup (text);
  return g_strescape (text, NULL);
}

char *
cbox_cli_format_plan (CboxPlan *plan, CboxContext *backend_ctx)
{
  g_autoptr (GString) out = g_string_new (NULL);
  const char *const *command = cbox_plan_get_command (plan);
  const char *const *forwarders = cbox_plan_get_forwarders (plan);
  g_autofree char *cwd = cbox_cli_printable (cbox_plan_get_cwd (plan));

  g_string_append_printf (out, "backend:     %s\n", cbox_context_get_backend (backend_ctx));
  g_string_append_printf (out, "profile:     %s\n",
                          cbox_context_get_profile (backend_ctx) != NULL
                              ? cbox_context_get_profile (backend_ctx)
                              : "(none)");
  g_string_append_printf (out, "network:     %s: %s\n",
                          cbox_network_mode_to_string (cbox_plan_get_network_mode (plan)),
                          cbox_network_mode_describe (cbox_plan_get_network_mode (plan)));
  /* The allowlist, rule by rule: what the proxy will let through. */
  if (cbox_network_mode_uses_proxy (cbox_plan_get_network_mode (plan)))
    {
      for (const char *const *r = cbox_plan_get_network_allow (plan); *r != NULL; r++)
        g_string_append_printf (out, "  allow:     %s\n", *r);
      for (const char *const *r = cbox_plan_get_network_deny (plan); *r != NULL; r++)
        g_string_append_printf (out, "  deny:      %s\n", *r);
    }
  {
    guint n_ports = 0;
    const CboxPublishedPort *ports = cbox_plan_get_published_ports (plan, &n_ports);
    for (guint i = 0; i < n_ports; i++)
      g_string_append_printf (out, "publish:     host 127.0.0.1:%u -> port %u inside (TCP)\n",
                              ports[i].host_port, ports[i].sandbox_port);
  }
  /* Every backend's command runs under the same filter (cbox-exec, or the
   * qemu guest's init, loads it): say which, and what the plan lets
   * through of it. */
  g_string_append_printf (out, "seccomp:     %s (refuses %s)\n", CBOX_SECCOMP_FILTER_NAME,
                          CBOX_SECCOMP_FILTER_SUMMARY);
  for (const char *const *e = cbox_plan_get_seccomp_exceptions (plan); *e != NULL; e++)
    g_string_append_printf (out, "  except:    %s\n", *e);
  g_string_append (out, "command:    ");
  if (command != NULL)
    {
      g_autoptr (CboxLaunch) words = cbox_launch_new ();
      g_autofree char *line = NULL;
      g_autofree char *printable = NULL;

      /* Quoted as a shell would need it, plain words left plain. */
      for (guint i = 0; command[i] != NULL; i++)
        cbox_launch_add_arg (words, command[i]);
      line = cbox_launch_to_shell_string (words);
      printable = cbox_cli_printable (line);
      g_string_append_printf (out, " %s", printable);
    }
  g_string_append_printf (out, "\ncwd:         %s\n", cwd);
  g_string_append_printf (out, "user:        %s (uid %u, gid %u), home %s\n",
                          cbox_plan_get_user_name (plan), (unsigned)cbox_plan_get_uid (plan),
                          (unsigned)cbox_plan_get_gid (plan), cbox_plan_get_home_dir (plan));
  g_string_append (out, "forwarders: ");
  if (forwarders == NULL || forwarders[0] == NULL)
    g_string_append (out, " (none)");
  for (guint i = 0; forwarders != NULL && forwarders[i] != NULL; i++)
    g_string_append_printf (out, " %s", forwarders[i]);
  g_string_append_c (out, '\n');

  if (cbox_plan_get_n_skipped (plan) > 0)
    {
      g_string_append (out, "\nskipped:\n");
      for (guint i = 0; i < cbox_plan_get_n_skipped (plan); i++)
        {
          const char *reason = NULL;
          const char *name = cbox_plan_get_skipped (plan, i, &reason);
          g_string_append_printf (out, "  %-10s %s\n", name, reason);
        }
    }

  g_string_append (out, "\nmounts (applied in this order):\n");
  for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
    {
      const CboxMount *mount = cbox_plan_get_mount (plan, i);
      g_autofree char *dest = cbox_cli_printable (mount->dest);
      g_autoptr (GString) line = g_string_new (NULL);

      g_string_append_printf (line, "  %-7s %s", cbox_mount_kind_to_string (mount->kind), dest);
      if (mount->kind == CBOX_MOUNT_SYMLINK)
        {
          g_autofree char *target = cbox_cli_printable (mount->src);
          g_string_append_printf (line, " -> %s", target);
        }
      else if (mount->src != NULL && g_strcmp0 (mount->src, mount->dest) != 0)
        {
          g_autofree char *src = cbox_cli_printable (mount->src);
          g_string_append_printf (line, " <- %s", src);
        }
      if (mount->kind == CBOX_MOUNT_TMPFS || mount->kind == CBOX_MOUNT_DIR
          || mount->kind == CBOX_MOUNT_DATA)
        g_string_append_printf (line, " (mode %04o)", (unsigned)mount->mode);
      if (mount->flags & CBOX_MOUNT_FLAG_WRITABLE)
        g_string_append (line, " (writable copy)");
      if (mount->flags & CBOX_MOUNT_FLAG_ALLOW_MISSING)
        g_string_append (line, " (if present)");
      g_string_append_printf (out, "%-64s [%s]\n", line->str, mount->origin);
    }

  if (cbox_plan_get_n_protected_paths (plan) > 0)
    {
      guint n_default_checked = 0;

      g_string_append (out, "\nprotected paths (host tools run them: read-only inside; a missing "
                            "one that appears is moved aside after the run):\n");
      for (guint i = 0; i < cbox_plan_get_n_protected_paths (plan); i++)
        {
          const CboxProtectedPath *item = cbox_plan_get_protected_path (plan, i);
          g_autofree char *path = NULL;
          g_autofree char *line = NULL;

          /* The built-in entries that are missing are many and alike:
           * counted here, listed by --json. */
          if (item->how == CBOX_PROTECTED_CHECKED && g_str_equal (item->origin, "default"))
            {
              n_default_checked++;
              continue;
            }
          path = cbox_cli_printable (item->path);
          line = g_strdup_printf ("  %-9s %s%s%s%s", cbox_protected_how_to_string (item->how), path,
                                  g_str_equal (item->path, item->host_path) ? "" : " <- ",
                                  g_str_equal (item->path, item->host_path) ? "" : item->host_path,
                                  item->how == CBOX_PROTECTED_CHECKED ? " (missing)" : "");
          g_string_append_printf (out, "%-64s [%s: %s]\n", line, item->origin, item->entry);
        }
      if (n_default_checked > 0)
        g_string_append_printf (out,
                                "  checked   %u more of the built-in list, missing (cbox plan "
                                "--json lists them)\n",
                                n_default_checked);
    }

  g_string_append (out, "\nenvironment (nothing else of the host's):\n");
  for (guint i = 0; i < cbox_plan_get_n_env (plan); i++)
    {
      const CboxEnvVar *var = cbox_plan_get_env_var (plan, i);
      g_autofree char *value = var->value != NULL ? cbox_cli_printable (var->value) : NULL;
      g_autofree char *line = value != NULL ? g_strdup_printf ("  %s=%s", var->name, value)
                                            : g_strdup_printf ("  unset %s", var->name);
      g_string_append_printf (out, "%-64s [%s]\n", line, var->origin);
    }

  if (cbox_plan_get_n_helpers (plan) > 0)
    {
      g_string_append (out, "\nhelpers (host processes beside the sandbox):\n");
      for (guint i = 0; i < cbox_plan_get_n_helpers (plan); i++)
        {
          const CboxHelper *helper = cbox_plan_get_helper (plan, i);
          g_autofree char *argv = g_strjoinv (" ", helper->argv);
          g_autofree char *printable = cbox_cli_printable (argv);
          g_string_append_printf (out, "  %s: %s [%s]\n", helper->name, printable, helper->origin);
        }
    }

  if (cbox_plan_get_n_notes (plan) > 0)
    {
      g_string_append (out, "\nnotes:\n");
      for (guint i = 0; i < cbox_plan_get_n_notes (plan); i++)
        {
          const char *origin = NULL;
          const char *text = cbox_plan_get_note (plan, i, &origin);
          g_string_append_printf (out, "  %s: %s\n", origin, text);
        }
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static const char *
cbox_cli_kind_string (CboxPluginKind kind)
{
  return kind == CBOX_PLUGIN_KIND_BACKEND     ? "backend"
         : kind == CBOX_PLUGIN_KIND_FORWARDER ? "forwarder"
                                              : "unknown";
}

static char *
cbox_cli_format_plugins (CboxRegistry *registry)
{
  guint n = cbox_registry_get_n_plugins (registry);

  {
    g_autoptr (GString) out = g_string_new (NULL);
    g_autoptr (GString) rejected = g_string_new (NULL);

    for (guint i = 0; i < n; i++)
      {
        CboxPluginInfo *info = cbox_registry_get_plugin (registry, i);
        const CboxPluginDesc *desc = cbox_plugin_info_get_desc (info);
        g_autofree char *path = cbox_cli_printable (cbox_plugin_info_get_path (info));

        if (cbox_plugin_info_is_accepted (info) && desc != NULL)
          {
            g_autofree char *aliases = desc->aliases != NULL && desc->aliases[0] != NULL
                                           ? g_strjoinv (",", (char **)desc->aliases)
                                           : NULL;
            g_autofree char *suffix
                = aliases != NULL ? g_strdup_printf (" (aliases: %s)", aliases) : g_strdup ("");
            g_string_append_printf (
                out, "%-10s %-9s %-8s %s%s\n           %s\n", desc->name,
                cbox_cli_kind_string (desc->kind), desc->version != NULL ? desc->version : "?",
                desc->description != NULL ? desc->description : "", suffix, path);
            if (cbox_plugin_info_get_overrides (info) != NULL)
              {
                g_autofree char *replaced
                    = cbox_cli_printable (cbox_plugin_info_get_overrides (info));
                g_string_append_printf (out,
                                        "           note: replaces %s (found first, on "
                                        "CBOX_PLUGIN_PATH)\n",
                                        replaced);
              }
          }
        else
          {
            const GError *plugin_error = cbox_plugin_info_get_error (info);
            g_string_append_printf (rejected, "%-10s %s\n           %s\n",
                                    cbox_plugin_info_get_name (info), path,
                                    plugin_error != NULL ? plugin_error->message : "rejected");
          }
      }
    if (out->len == 0)
      g_string_append (out,
                       "No plugins found (is CBOX_PLUGIN_PATH set? see 'cbox help plugins')\n");
    if (rejected->len > 0)
      g_string_append_printf (out, "\nRejected:\n%s", rejected->str);
    return g_string_free (g_steal_pointer (&out), FALSE);
  }
}

/* One plugin's help: what it is, where it is, its keys. */
static void
cbox_cli_append_plugin_help (GString *out, CboxPluginInfo *info, const CboxPluginDesc *desc)
{
  g_autofree char *path = cbox_cli_printable (cbox_plugin_info_get_path (info));
  g_autofree char *keys = NULL;

  g_string_append_printf (out, "%s (%s %s): %s\n  %s\n", desc->name,
                          cbox_cli_kind_string (desc->kind),
                          desc->version != NULL ? desc->version : "?",
                          desc->description != NULL ? desc->description : "", path);
  if (desc->aliases != NULL && desc->aliases[0] != NULL)
    {
      g_autofree char *aliases = g_strjoinv (", ", (char **)desc->aliases);
      g_string_append_printf (out, "  aliases: %s\n", aliases);
    }
  if (desc->abi_minor < 4)
    {
      g_string_append_printf (out,
                              "Keys of [%s]: not declared (built for plugin ABI %u.%u, before "
                              "1.4; they are not checked)\n\n",
                              desc->name, desc->abi_major, desc->abi_minor);
      return;
    }
  keys = cbox_config_format_plugin_keys (desc, FALSE);
  g_string_append_printf (out,
                          "Keys of [%s] (in cbox.conf or a profile, or --set=%s.KEY=VALUE):\n%s\n",
                          desc->name, desc->name, keys);
}

/* Help on every accepted plugin (@name NULL), or on the plugins that
 * answer to @name; NULL when none does. */
static char *
cbox_cli_format_plugin_help (CboxRegistry *registry, const char *name)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; i < cbox_registry_get_n_plugins (registry); i++)
    {
      CboxPluginInfo *info = cbox_registry_get_plugin (registry, i);
      const CboxPluginDesc *desc = cbox_plugin_info_get_desc (info);

      if (desc == NULL)
        continue;
      if (name != NULL && !g_str_equal (desc->name, name)
          && (desc->aliases == NULL || !g_strv_contains (desc->aliases, name)))
        continue;
      cbox_cli_append_plugin_help (out, info, desc);
    }
  if (out->len == 0)
    return NULL;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static char *
cbox_cli_format_doctor (CboxDoctorReport *report, const CboxHost *host)
{
  g_autoptr (GString) out = g_string_new (NULL);

  g_string_append_printf (
      out, "cbox %s; user %s (uid %u), home %s, runtime dir %s%s\n", PACKAGE_VERSION,
      cbox_host_get_user_name (host), (unsigned)cbox_host_get_uid (host),
      cbox_host_get_home_dir (host),
      cbox_host_get_runtime_dir (host) != NULL ? cbox_host_get_runtime_dir (host) : "(none)",
      cbox_host_is_nixos (host) ? "; NixOS" : "");
  g_string_append_printf (out, "backend in use: %s; profile: %s\n", report->backend,
                          report->profile != NULL ? report->profile : "(none)");
  g_string_append_printf (out, "network: %s: %s\n", cbox_network_mode_to_string (report->network),
                          cbox_network_mode_describe (report->network));
  if (report->network_problem != NULL)
    g_string_append_printf (out, "  unavailable: %s\n", report->network_problem);
  if (report->landlock_abi >= 6)
    g_string_append_printf (out,
                            "  second layer: Landlock ABI %d: abstract unix sockets made outside "
                            "the sandbox are refused (bwrap, nspawn; all modes but host)\n",
                            report->landlock_abi);
  else
    g_string_append_printf (out,
                            "  second layer: not available: the kernel's Landlock ABI is %d, "
                            "scoping abstract unix sockets needs 6 (Linux 6.12); the network "
                            "namespace of its own still keeps them out\n",
                            report->landlock_abi);
  g_string_append_c (out, '\n');
  for (guint pass = 0; pass < 3; pass++)
    {
      CboxPluginKind kind = pass == 0 ? CBOX_PLUGIN_KIND_BACKEND : CBOX_PLUGIN_KIND_FORWARDER;
      gboolean any = FALSE;

      for (guint i = 0; i < report->entries->len; i++)
        {
          CboxDoctorEntry *entry = g_ptr_array_index (report->entries, i);

          if (pass == 2 ? !entry->rejected : (entry->rejected || entry->kind != kind))
            continue;
          if (!any)
            g_string_append_printf (out, "%s:\n",
                                    pass == 0   ? "Backends"
                                    : pass == 1 ? "Forwarders"
                                                : "Rejected plugins (see 'cbox plugins')");
          any = TRUE;
          g_string_append_printf (out, "  %-10s %-11s %s\n", entry->name,
                                  entry->rejected ? "rejected"
                                                  : cbox_probe_status_to_string (entry->status),
                                  entry->reason != NULL ? entry->reason : "");
          for (guint d = 0; entry->details[d] != NULL && entry->details[d + 1] != NULL; d += 2)
            g_string_append_printf (out, "  %-10s   %s: %s\n", "", entry->details[d],
                                    entry->details[d + 1]);
          if (entry->incompatibility != NULL)
            g_string_append_printf (out, "  %-10s   %s\n", "", entry->incompatibility);
        }
      if (any)
        g_string_append_c (out, '\n');
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* ---- JSON, on demand ----------------------------------------------------------- */

gboolean
cbox_json_load (CboxJsonFuncs *ret_funcs, GError **error)
{
  /* Which code runs is security-relevant: under AT_SECURE the environment
   * cannot point at another library. Installed, it is in $libdir/cbox; a
   * build tree (CBOX_LIBEXEC_DIR, as for cbox-exec) has it beside the
   * programs. */
  const char *dir = secure_getenv ("CBOX_LIBEXEC_DIR");
  g_autofree char *path = g_build_filename (dir != NULL && dir[0] == '/' ? dir : CBOX_PKGLIB_DIR,
                                            "libcbox-json.so", NULL);
  GModule *module = g_module_open_full (path, G_MODULE_BIND_LOCAL, NULL);
  gpointer plan, plugins, doctor;

  if (module == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "Cannot load %s for JSON output: %s (is cbox installed completely?)", path,
                   g_module_error ());
      return FALSE;
    }
  if (!g_module_symbol (module, "cbox_json_plan", &plan)
      || !g_module_symbol (module, "cbox_json_plugins", &plugins)
      || !g_module_symbol (module, "cbox_json_doctor", &doctor))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "%s is not cbox's JSON library: %s", path,
                   g_module_error ());
      g_module_close (module);
      return FALSE;
    }
  /* Kept open for the life of the process. */
  g_module_make_resident (module);
  ret_funcs->plan = plan;
  ret_funcs->plugins = plugins;
  ret_funcs->doctor = doctor;
  return TRUE;
}

/* ---- main ---------------------------------------------------------------------- */

static int
cbox_cli_fail (GError *error)
{
  g_printerr ("cbox: %s\n", error->message);
  return CBOX_EXIT_FAILURE;
}

static void
cbox_cli_print (const char *text)
{
  fputs (text, stdout);
  fflush (stdout);
}

/* The locale matters to cbox only where GLib prints a message: g_printerr()
 * converts it from UTF-8 to the terminal's character set. Loading it costs
 * about 0.15 ms (locale.alias, the LC_CTYPE file, the gconv cache), on
 * every run, for a `cbox run` that usually prints nothing; so it is loaded
 * by the first g_print() or g_printerr(), which then prints as GLib always
 * does. Only the character set: cbox has no translations and prints
 * numbers and times for scripts too, so the other categories stay "C"
 * (loading them all cost 0.4 ms where the locale is not in an archive;
 * docs/benchmarks.md). What cbox writes with fputs() is UTF-8 already, and
 * the arguments are bytes, never converted. G_MESSAGES_DEBUG output goes
 * through GLib's log writer, not these handlers: the locale is loaded at
 * once then. */
static void
cbox_cli_load_locale (void)
{
  setlocale (LC_CTYPE, "");
  g_set_print_handler (NULL);
  g_set_printerr_handler (NULL);
}

static void
cbox_cli_print_first (const char *string)
{
  cbox_cli_load_locale ();
  g_print ("%s", string);
}

static void
cbox_cli_printerr_first (const char *string)
{
  cbox_cli_load_locale ();
  g_printerr ("%s", string);
}

static void
cbox_cli_defer_locale (void)
{
  if (g_getenv ("G_MESSAGES_DEBUG") != NULL)
    {
      cbox_cli_load_locale ();
      return;
    }
  g_set_print_handler (cbox_cli_print_first);
  g_set_printerr_handler (cbox_cli_printerr_first);
}

/* A run has ended: the sandbox and everything cbox started for it are
 * gone, and cbox_planner_run() has run every cleanup, reaped the tool and
 * removed the registry entry. What is left is freeing memory (the planner,
 * plugins' data, the registry) and the exit handlers, which the kernel's
 * own teardown makes moot: exiting now saves about 0.2 ms of every run
 * (docs/benchmarks.md). Sanitizer builds take the long way, so that their
 * leak check still sees every allocation freed. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CBOX_CLI_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CBOX_CLI_SANITIZED 1
#endif
#endif

static void
cbox_cli_exit_after_run (int status)
{
#ifndef CBOX_CLI_SANITIZED
  fflush (stdout);
  fflush (stderr);
  _exit (status);
#else
  (void)status;
#endif
}

int
cbox_cli_main (int argc, char **argv)
{
  g_autoptr (CboxCliOptions) options = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxHost) host = NULL;
  g_autoptr (CboxRequest) request = NULL;
  g_autoptr (CboxRegistry) registry = NULL;
  g_autoptr (CboxPlanner) planner = NULL;
  g_autofree char *cwd = NULL;

  cbox_cli_defer_locale ();
  cbox_run_raise_nofile_limit ();

  if (!cbox_cli_parse (argc, argv, &options, &error))
    return cbox_cli_fail (error);
  /* A run records a stop and cleans up (core/cbox-run.c); every other
   * command has nothing to clean up and ends by the default action. */
  cbox_signals_catch_stops (options->command == CBOX_CLI_COMMAND_RUN);

  if (options->help || options->command == CBOX_CLI_COMMAND_HELP)
    {
      const char *topic
          = options->help ? cbox_cli_command_word (options->command) : options->help_topic;
      g_autofree char *text = NULL;

      if (topic != NULL && g_str_equal (topic, "help") && options->help)
        topic = NULL;
      if (topic != NULL && g_str_equal (topic, "profiles"))
        {
          host = cbox_host_new_from_system (&error);
          if (host == NULL)
            return cbox_cli_fail (error);
          text = cbox_cli_list_profiles (host);
        }
      else
        text = cbox_cli_get_help (topic);
      /* `cbox help plugins` adds every plugin with its keys; `cbox help
       * NAME` is one plugin's (an alias names all of its plugins). */
      if (topic != NULL && !options->help
          && (g_str_equal (topic, "plugins")
              || (text == NULL && cbox_config_name_is_valid (topic))))
        {
          g_autofree char *plugins = NULL;
          registry = cbox_registry_new ();
          cbox_registry_load_default (registry);
          plugins = cbox_cli_format_plugin_help (registry,
                                                 g_str_equal (topic, "plugins") ? NULL : topic);
          if (plugins != NULL)
            {
              g_autofree char *usage = g_steal_pointer (&text);
              text = g_strconcat (usage != NULL ? usage : "", usage != NULL ? "\n" : "", plugins,
                                  NULL);
            }
        }
      if (text == NULL)
        {
          g_autofree char *quoted = cbox_cli_quote (topic);
          g_printerr ("cbox: no help on '%s' (topics: run, plan, doctor, plugins, ps, enter, "
                      "stop, version, profiles, or a plugin's name)\n",
                      quoted);
          return CBOX_EXIT_FAILURE;
        }
      cbox_cli_print (text);
      return 0;
    }

  switch (options->command)
    {
    case CBOX_CLI_COMMAND_NONE:
      {
        g_autofree char *text = cbox_cli_get_help (NULL);
        g_printerr ("%s\ncbox: no command given\n", text);
        return CBOX_EXIT_FAILURE;
      }
    case CBOX_CLI_COMMAND_VERSION:
      g_print ("cbox %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, CBOX_ABI_MAJOR, CBOX_ABI_MINOR);
      return 0;
    case CBOX_CLI_COMMAND_PLUGINS:
      {
        g_autofree char *text = NULL;
        CboxJsonFuncs json;

        if (options->json && !cbox_json_load (&json, &error))
          return cbox_cli_fail (error);
        registry = cbox_registry_new ();
        /* A diagnosis survives the plugins it looks at (cbox-guard.c). */
        cbox_registry_set_isolated (registry, TRUE);
        cbox_registry_load_default (registry);
        text = options->json ? json.plugins (registry) : cbox_cli_format_plugins (registry);
        cbox_cli_print (text);
        return 0;
      }
    case CBOX_CLI_COMMAND_PS:
    case CBOX_CLI_COMMAND_ENTER:
    case CBOX_CLI_COMMAND_STOP:
      {
        g_autofree char *given = NULL;
        g_autofree char *project = NULL;

        host = cbox_host_new_from_system (&error);
        if (host == NULL)
          return cbox_cli_fail (error);
        cwd = g_get_current_dir ();
        given = cbox_cli_absolute_path (host, options->project != NULL ? options->project : ".",
                                        cwd, &error);
        if (given == NULL)
          return cbox_cli_fail (error);
        project = cbox_project_resolve_dir (given, cwd, &error);
        if (project == NULL)
          return cbox_cli_fail (error);
        /* Run from a subfolder of a project: that project's sandbox. */
        if (options->project == NULL)
          {
            char *running = cbox_project_find_running (host, project);
            if (running != NULL)
              {
                g_free (project);
                project = running;
              }
          }
        if (options->command == CBOX_CLI_COMMAND_PS)
          return cbox_project_cli_ps (host, project, options->all, options->json);
        if (options->command == CBOX_CLI_COMMAND_ENTER)
          return cbox_project_cli_enter (host, project, options->instance,
                                         (const char *const *)options->command_argv);
        return cbox_project_cli_stop (host, project, options->instance, options->all);
      }
    default:
      break;
    }

  host = cbox_host_new_from_system (&error);
  if (host == NULL)
    return cbox_cli_fail (error);
  cwd = g_get_current_dir ();
  if (!cbox_cli_make_request (options, host, cwd, &request, &error))
    return cbox_cli_fail (error);
  request->will_run = options->command == CBOX_CLI_COMMAND_RUN;

  registry = cbox_registry_new ();
  {
    g_autofree char *cache_file
        = g_build_filename (g_get_user_cache_dir (), "cbox", "plugins.cache", NULL);
    gint64 start = g_get_monotonic_time ();
    guint n_rejected = 0;

    /* A run opens only the plugins it uses; the others are known from the
     * descriptor cache (docs/architecture.md). `cbox plugins` above opens
     * every file, as a diagnosis should. */
    /* doctor: what the cache does not describe is loaded in a child first
     * (what it describes loaded fine before, and the guard names it should
     * it crash now); its probes run in children (cbox-planner.c). */
    if (options->command == CBOX_CLI_COMMAND_DOCTOR)
      cbox_registry_set_isolated (registry, TRUE);
    cbox_registry_set_cache_file (registry, cache_file);
    cbox_registry_set_cache_read_only (registry, options->command != CBOX_CLI_COMMAND_RUN);
    cbox_registry_load_default (registry);
    for (guint i = 0; i < cbox_registry_get_n_plugins (registry); i++)
      if (!cbox_plugin_info_is_accepted (cbox_registry_get_plugin (registry, i)))
        n_rejected++;
    if (request->verbose)
      {
        g_printerr ("cbox: %u plugins found (%u rejected, %u described by the cache %s) in %.1f "
                    "ms\n",
                    cbox_registry_get_n_plugins (registry), n_rejected,
                    cbox_registry_get_n_cached (registry), cache_file,
                    (g_get_monotonic_time () - start) / 1000.0);
        for (guint i = 0; i < cbox_registry_get_n_plugins (registry); i++)
          {
            CboxPluginInfo *info = cbox_registry_get_plugin (registry, i);
            if (cbox_plugin_info_is_accepted (info)
                && cbox_plugin_info_get_overrides (info) != NULL)
              g_printerr ("cbox: note: plugin '%s' from %s replaces %s (CBOX_PLUGIN_PATH)\n",
                          cbox_plugin_info_get_name (info), cbox_plugin_info_get_path (info),
                          cbox_plugin_info_get_overrides (info));
          }
      }
  }

  /* The plugins' groups, now that the plugins are known: a typo there
   * (`[ssh] kyes=false`) must not leave the private keys in. */
  if (!cbox_config_check_plugin_keys (request->config_keys, registry, &error))
    return cbox_cli_fail (error);

  if (options->command == CBOX_CLI_COMMAND_DOCTOR)
    {
      g_autoptr (CboxDoctorReport) report = NULL;
      g_autofree char *text = NULL;
      CboxJsonFuncs json;

      if (options->json && !cbox_json_load (&json, &error))
        return cbox_cli_fail (error);
      report = cbox_planner_doctor (registry, host, request);
      text = options->json ? json.doctor (report, host) : cbox_cli_format_doctor (report, host);
      cbox_cli_print (text);
      return 0;
    }

  if (options->command == CBOX_CLI_COMMAND_RUN
      && !cbox_project_prepare (host, request->config, request->project_dir, &error))
    {
      /* The sandbox works without them: its ~/.local (/tmp) starts empty. */
      g_printerr ("cbox: warning: %s (nothing is kept for this project)\n", error->message);
      g_clear_error (&error);
    }
  planner = cbox_planner_new (registry, host, request);
  if (!cbox_planner_build (planner, &error))
    {
      /* Stopped while planning: what was made is undone by the planner's
       * free, and the status is the signal's. */
      if (cbox_signals_get_stop () != 0)
        {
          g_clear_pointer (&planner, cbox_planner_free);
          return 128 + cbox_signals_get_stop ();
        }
      return cbox_cli_fail (error);
    }

  if (options->command == CBOX_CLI_COMMAND_PLAN)
    {
      g_autofree char *text = NULL;
      if (options->print_command)
        {
          g_autofree char *line = cbox_launch_to_shell_string (cbox_planner_get_launch (planner));
          text = g_strconcat (line, "\n", NULL);
        }
      else if (options->json)
        {
          CboxJsonFuncs json;
          if (!cbox_json_load (&json, &error))
            return cbox_cli_fail (error);
          text = json.plan (cbox_planner_get_plan (planner),
                            cbox_planner_get_backend_context (planner),
                            cbox_planner_get_launch (planner), CBOX_JSON_NONE);
        }
      else
        text = cbox_cli_format_plan (cbox_planner_get_plan (planner),
                                     cbox_planner_get_backend_context (planner));
      cbox_cli_print (text);
      return 0;
    }

  {
    int status = CBOX_EXIT_FAILURE;
    CboxNetworkMode mode = cbox_plan_get_network_mode (cbox_planner_get_plan (planner));

    if (request->verbose)
      g_printerr ("cbox: network %s: %s\n", cbox_network_mode_to_string (mode),
                  cbox_network_mode_describe (mode));
    if (!cbox_planner_run (planner, &status, &error))
      return cbox_cli_fail (error);
    cbox_cli_exit_after_run (status);
    return status;
  }
}

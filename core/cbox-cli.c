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
#include "cbox-text.h"

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
  options->warnings = g_ptr_array_new_with_free_func (g_free);
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
  g_ptr_array_unref (options->warnings);
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
char *
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

/* --accel, --memory and --cpus were the core's options but set the qemu
 * backend's keys, and meant nothing on the other backends: bwrap and
 * nspawn limit neither memory nor CPUs (docs/config.md, "Backend
 * settings"). They are the qemu backend's keys now; the old spellings still
 * set them, for one release, with a warning saying what to write instead.
 * Their values are still checked here, as before. */
static void
cbox_cli_add_deprecated_setting (CboxCliOptions *options, const char *option, const char *group,
                                 const char *key, const char *value)
{
  g_autofree char *quoted = cbox_cli_quote (value);

  g_ptr_array_add (options->warnings,
                   g_strdup_printf ("--%s is deprecated and will be removed: it sets the %s "
                                    "backend's key %s; write --set=%s.%s=%s (or %s=%s under [%s] "
                                    "in cbox.conf)",
                                    option, group, key, group, key, quoted, key, quoted, group));
  cbox_cli_add_setting (options, group, key, value);
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
      cbox_cli_add_deprecated_setting (options, def->name, "qemu", "accel", value);
      return TRUE;
    case OPT_MEMORY:
      if (!cbox_cli_parse_size (value))
        return cbox_cli_bad_value (error, def->name, value, "a size such as 4G or 2048M");
      cbox_cli_add_deprecated_setting (options, def->name, "qemu", "memory", value);
      return TRUE;
    case OPT_CPUS:
      {
        guint64 n;
        if (!g_ascii_string_to_unsigned (value, 10, 1, 256, &n, NULL))
          return cbox_cli_bad_value (error, def->name, value, "a number of CPUs from 1 to 256");
        cbox_cli_add_deprecated_setting (options, def->name, "qemu", "cpus", value);
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
      "  --accel=kvm|tcg|auto, --memory=SIZE, --cpus=N\n"
      "                         deprecated: the qemu backend's keys, set them with\n"
      "                         --set=qemu.accel=tcg, --set=qemu.memory=4G, ...\n"
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
  for (guint i = 0; i < options->warnings->len; i++)
    g_printerr ("cbox: warning: %s\n", (const char *)g_ptr_array_index (options->warnings, i));
  /* A run records a stop and cleans up (core/cbox-run.c); every other
   * command has nothing to clean up and ends by the default action. */
  cbox_signals_catch_stops (options->command == CBOX_CLI_COMMAND_RUN);
  if (options->command == CBOX_CLI_COMMAND_RUN)
    cbox_run_adopt_orphans ();

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
          plugins = cbox_text_plugin_help (registry, g_str_equal (topic, "plugins") ? NULL : topic);
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
        text = options->json ? json.plugins (registry) : cbox_text_plugins (registry);
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
    /* doctor: every file is loaded in a child first, also one the cache
     * describes (its libraries may have changed since: cbox-registry.c);
     * its probes run in children (cbox-doctor.c). */
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
      text = options->json ? json.doctor (report, host) : cbox_text_doctor (report, host);
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
        text = cbox_text_plan (cbox_planner_get_plan (planner),
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

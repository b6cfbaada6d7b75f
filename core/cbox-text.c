/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "cbox-config.h"
#include "cbox-text.h"

/* ---- output ------------------------------------------------------------------- */

static char *
cbox_text_printable (const char *text)
{
  if (text == NULL)
    return g_strdup ("(none)");
  if (g_utf8_validate (text, -1, NULL) && strpbrk (text, "\n\t\r") == NULL)
    return g_strdup (text);
  return g_strescape (text, NULL);
}

char *
cbox_text_plan (CboxPlan *plan, CboxContext *backend_ctx)
{
  g_autoptr (GString) out = g_string_new (NULL);
  const char *const *command = cbox_plan_get_command (plan);
  const char *const *forwarders = cbox_plan_get_forwarders (plan);
  g_autofree char *cwd = cbox_text_printable (cbox_plan_get_cwd (plan));

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
      printable = cbox_text_printable (line);
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
      g_autofree char *dest = cbox_text_printable (mount->dest);
      g_autoptr (GString) line = g_string_new (NULL);

      g_string_append_printf (line, "  %-7s %s", cbox_mount_kind_to_string (mount->kind), dest);
      if (mount->kind == CBOX_MOUNT_SYMLINK)
        {
          g_autofree char *target = cbox_text_printable (mount->src);
          g_string_append_printf (line, " -> %s", target);
        }
      else if (mount->src != NULL && g_strcmp0 (mount->src, mount->dest) != 0)
        {
          g_autofree char *src = cbox_text_printable (mount->src);
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
          path = cbox_text_printable (item->path);
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
      g_autofree char *value = var->value != NULL ? cbox_text_printable (var->value) : NULL;
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
          g_autofree char *printable = cbox_text_printable (argv);
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

char *
cbox_text_plugins (CboxRegistry *registry)
{
  guint n = cbox_registry_get_n_plugins (registry);

  {
    g_autoptr (GString) out = g_string_new (NULL);
    g_autoptr (GString) rejected = g_string_new (NULL);

    for (guint i = 0; i < n; i++)
      {
        CboxPluginInfo *info = cbox_registry_get_plugin (registry, i);
        const CboxPluginDesc *desc = cbox_plugin_info_get_desc (info);
        g_autofree char *path = cbox_text_printable (cbox_plugin_info_get_path (info));

        if (cbox_plugin_info_is_accepted (info) && desc != NULL)
          {
            g_autofree char *aliases = desc->aliases != NULL && desc->aliases[0] != NULL
                                           ? g_strjoinv (",", (char **)desc->aliases)
                                           : NULL;
            g_autofree char *suffix
                = aliases != NULL ? g_strdup_printf (" (aliases: %s)", aliases) : g_strdup ("");
            g_string_append_printf (out, "%-10s %-9s %-8s %s%s\n           %s\n", desc->name,
                                    cbox_plugin_kind_to_string (desc->kind),
                                    desc->version != NULL ? desc->version : "?",
                                    desc->description != NULL ? desc->description : "", suffix,
                                    path);
            if (cbox_plugin_info_get_overrides (info) != NULL)
              {
                g_autofree char *replaced
                    = cbox_text_printable (cbox_plugin_info_get_overrides (info));
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
cbox_text_append_plugin_help (GString *out, CboxPluginInfo *info, const CboxPluginDesc *desc)
{
  g_autofree char *path = cbox_text_printable (cbox_plugin_info_get_path (info));
  g_autofree char *keys = NULL;

  g_string_append_printf (out, "%s (%s %s): %s\n  %s\n", desc->name,
                          cbox_plugin_kind_to_string (desc->kind),
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
char *
cbox_text_plugin_help (CboxRegistry *registry, const char *name)
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
      cbox_text_append_plugin_help (out, info, desc);
    }
  if (out->len == 0)
    return NULL;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

char *
cbox_text_doctor (CboxDoctorReport *report, const CboxHost *host)
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
  if (report->network_keep > 0)
    g_string_append_printf (out,
                            "  shared: the runs of a project share this network, kept %d s after "
                            "the last ([cbox] network-keep; their localhost servers reach each "
                            "other)\n",
                            report->network_keep);
  else if (report->network_keep == 0)
    g_string_append (out, "  shared: no (network-keep=0): a network namespace and helper for "
                          "each run\n");
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

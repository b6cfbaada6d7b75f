/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <sys/wait.h>
#include <unistd.h>

#include "cbox-config.h"
#include "cbox-doctor.h"
#include "cbox-planner-private.h"

/* ---- doctor ----------------------------------------------------------------- */

const char *
cbox_plugin_kind_to_string (CboxPluginKind kind)
{
  switch (kind)
    {
    case CBOX_PLUGIN_KIND_BACKEND:
      return "backend";
    case CBOX_PLUGIN_KIND_FORWARDER:
      return "forwarder";
    default:
      return "unknown";
    }
}

static void
cbox_doctor_entry_free (CboxDoctorEntry *entry)
{
  g_free (entry->name);
  g_free (entry->version);
  g_free (entry->reason);
  g_strfreev (entry->details);
  g_free (entry->incompatibility);
  g_free (entry);
}

void
cbox_doctor_report_free (CboxDoctorReport *report)
{
  if (report == NULL)
    return;
  g_free (report->backend);
  g_free (report->profile);
  g_free (report->network_problem);
  g_ptr_array_unref (report->entries);
  g_free (report);
}

typedef struct
{
  const CboxPluginDesc *desc;
  CboxContext *ctx;
} DoctorProbe;

/* In the child: the probe, and what it found written to @fd as the status
 * byte ('E' for an error), the reason, then the details, each ended by a
 * NUL. */
static void
cbox_planner_doctor_probe_in_child (gpointer data, int fd)
{
  DoctorProbe *probe = data;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (GError) probe_error = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GByteArray) out = g_byte_array_new ();
  const char *const *details;
  const char *reason;
  gboolean ok;
  guint8 status;

  cbox_planner_enter_plugin (probe->desc->name, "its probe", 0);
  if (probe->desc->kind == CBOX_PLUGIN_KIND_BACKEND)
    ok = probe->desc->backend->probe (probe->ctx, result, &probe_error);
  else
    ok = probe->desc->forwarder->probe (probe->ctx, result, &probe_error);
  /* doctor's reason is the probe's own message, without a prefix. */
  ok = cbox_planner_leave_plugin (NULL, probe->desc->name, "its probe", ok, &probe_error,
                                  &local_error);
  status = ok ? (guint8)('0' + cbox_probe_result_get_status (result)) : 'E';
  reason = ok ? cbox_probe_result_get_reason (result) : local_error->message;
  g_byte_array_append (out, &status, 1);
  g_byte_array_append (out, (const guint8 *)(reason != NULL ? reason : ""),
                       (guint)strlen (reason != NULL ? reason : "") + 1);
  details = ok ? cbox_probe_result_get_details (result) : NULL;
  for (guint i = 0; details != NULL && details[i] != NULL; i++)
    g_byte_array_append (out, (const guint8 *)details[i], (guint)strlen (details[i]) + 1);
  for (guint done = 0; done < out->len;)
    {
      ssize_t n = write (fd, out->data + done, out->len - done);
      if (n <= 0)
        _exit (1);
      done += (guint)n;
    }
}

/* `cbox doctor` probes each plugin in a child of its own (cbox-guard.c):
 * a probe that crashes or hangs is reported as that plugin's, and the
 * diagnosis goes on. */
static gboolean
cbox_planner_doctor_probe (const CboxPluginDesc *desc, CboxContext *ctx, CboxProbeResult *result,
                           GError **error)
{
  DoctorProbe probe = { desc, ctx };
  g_autoptr (GByteArray) out = g_byte_array_new ();
  guint timeout_s = cbox_plugin_guard_get_timeout ();
  int wait_status;
  gboolean timed_out;
  const char *end;
  const char *p;

  if (!cbox_plugin_run_isolated (cbox_planner_doctor_probe_in_child, &probe, timeout_s, out,
                                 &wait_status, &timed_out))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "cannot start a process to probe it: %s",
                   g_strerror (errno));
      return FALSE;
    }
  if (timed_out)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_TIMED_OUT,
                   "broken: it hangs: its probe did not return within %u s", timeout_s);
      return FALSE;
    }
  if (WIFSIGNALED (wait_status))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "broken: it crashed in its probe: signal %d, %s", WTERMSIG (wait_status),
                   cbox_plugin_guard_signal_name (WTERMSIG (wait_status)));
      return FALSE;
    }
  if (out->len < 2 || out->data[out->len - 1] != '\0')
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED,
                   "broken: its probe ended the process (exit status %d)",
                   WIFEXITED (wait_status) ? WEXITSTATUS (wait_status) : -1);
      return FALSE;
    }
  p = (const char *)out->data + 1;
  end = (const char *)out->data + out->len;
  if (out->data[0] == 'E')
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "%s", p);
      return FALSE;
    }
  if (p[0] != '\0')
    cbox_probe_result_set_status (result, (CboxProbeStatus)(out->data[0] - '0'), "%s", p);
  else
    cbox_probe_result_set_status (result, (CboxProbeStatus)(out->data[0] - '0'), NULL);
  for (p += strlen (p) + 1; p < end;)
    {
      const char *key = p;
      const char *value = key + strlen (key) + 1;
      if (value >= end)
        break;
      cbox_probe_result_add_detail (result, key, "%s", value);
      p = value + strlen (value) + 1;
    }
  return TRUE;
}

CboxDoctorReport *
cbox_planner_doctor (CboxRegistry *registry, CboxHost *host, CboxRequest *request)
{
  g_autoptr (CboxPlanner) planner = cbox_planner_new (registry, host, request);
  CboxDoctorReport *report = g_new0 (CboxDoctorReport, 1);
  const char *backend_name = request->backend != NULL ? request->backend : "bwrap";
  CboxPluginInfo *backend_info = cbox_registry_lookup (registry, backend_name);

  report->backend = g_strdup (backend_name);
  report->profile = g_strdup (request->profile);
  report->network = request->network;
  /* The network helper of the default mode: slirp4netns for bwrap and
   * nspawn, passt for qemu (its own plugin says so in its details). */
  if (request->network == CBOX_NETWORK_OWN && backend_name != NULL
      && (g_str_equal (backend_name, "bwrap") || g_str_equal (backend_name, "nspawn")))
    {
      g_autoptr (GError) net_error = NULL;
      if (!cbox_net_helper_check (&net_error))
        report->network_problem = g_strdup (net_error->message);
    }
  if (cbox_network_mode_uses_proxy (request->network))
    {
      g_autoptr (GError) net_error = NULL;
      if (!cbox_net_proxy_check (&net_error))
        report->network_problem = g_strdup (net_error->message);
    }
  report->landlock_abi = cbox_net_landlock_abi ();
  report->network_keep = -1;
  if (request->network == CBOX_NETWORK_OWN && g_str_equal (backend_name, "bwrap"))
    {
      g_autofree char *keep
          = request->config != NULL
                ? g_key_file_get_string (request->config, "cbox", "network-keep", NULL)
                : NULL;
      report->network_keep
          = keep != NULL ? cbox_config_parse_seconds (g_strstrip (keep)) : CBOX_NET_KEEP_DEFAULT_S;
    }
  report->entries = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_doctor_entry_free);
  /* NULL when a backend known from the plugin cache fails to load (it
   * changed): the loop below reports it as rejected. */
  if (backend_info != NULL)
    {
      const CboxPluginDesc *backend_desc = cbox_plugin_info_get_desc (backend_info);

      if (backend_desc != NULL && backend_desc->kind == CBOX_PLUGIN_KIND_BACKEND)
        planner->backend_desc = backend_desc;
    }

  for (guint i = 0; i < cbox_registry_get_n_plugins (registry); i++)
    {
      CboxPluginInfo *info = cbox_registry_get_plugin (registry, i);
      const CboxPluginDesc *desc = cbox_plugin_info_get_desc (info);
      g_autoptr (CboxContext) ctx = NULL;
      g_autoptr (CboxProbeResult) result = NULL;
      g_autoptr (GError) local_error = NULL;
      const char *const *details;
      CboxDoctorEntry *entry;
      gboolean ok;

      if (!cbox_plugin_info_is_accepted (info))
        {
          const GError *plugin_error = cbox_plugin_info_get_error (info);

          entry = g_new0 (CboxDoctorEntry, 1);
          entry->name = g_strdup (cbox_plugin_info_get_name (info));
          entry->kind = desc != NULL ? desc->kind : 0;
          entry->version = g_strdup (desc != NULL ? desc->version : NULL);
          entry->status = CBOX_PROBE_UNAVAILABLE;
          entry->reason = g_strdup (plugin_error != NULL ? plugin_error->message : "rejected");
          entry->details = g_new0 (char *, 1);
          entry->rejected = TRUE;
          g_ptr_array_add (report->entries, entry);
          continue;
        }
      ctx = cbox_planner_make_context (planner, desc->name, FALSE);
      result = cbox_probe_result_new ();
      ok = cbox_planner_doctor_probe (desc, ctx, result, &local_error);

      entry = g_new0 (CboxDoctorEntry, 1);
      entry->name = g_strdup (desc->name);
      entry->kind = desc->kind;
      entry->version = g_strdup (desc->version);
      entry->status = ok ? cbox_probe_result_get_status (result) : CBOX_PROBE_UNAVAILABLE;
      entry->reason = g_strdup (ok ? cbox_probe_result_get_reason (result) : local_error->message);
      details = cbox_probe_result_get_details (result);
      entry->details = details != NULL ? g_strdupv ((char **)details) : g_new0 (char *, 1);
      if (desc->kind == CBOX_PLUGIN_KIND_FORWARDER && planner->backend_desc != NULL)
        {
          CboxFeatures missing = desc->features & ~planner->backend_desc->features;

          entry->checked_backend = TRUE;
          entry->backend_compatible = missing == 0;
          if (missing != 0)
            {
              g_autofree char *what = cbox_features_describe_all (missing);
              entry->incompatibility
                  = g_strdup_printf ("%s needs %s; backend %s cannot provide them", desc->name,
                                     what, planner->backend_desc->name);
            }
        }
      g_ptr_array_add (report->entries, entry);
    }
  return report;
}

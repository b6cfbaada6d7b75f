/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Forwarders that misbehave at run time, one way each (-DVARIANT_...):
 * they crash in their constructor, describe(), probe or contribute, hang
 * in their constructor, describe() or probe, call g_error(), break the
 * plugin contract, or take another plugin's name as an alias. Each is a
 * real plugin built like any other; tests/test-failclosed.c copies one at a
 * time into a folder of its own and drives the built cbox with it. Never on
 * any other test's CBOX_PLUGIN_PATH: loading the crashing ones in-process
 * would end the test. */

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cbox/cbox-plugin.h>

#ifndef PLUGIN_NAME
#error "PLUGIN_NAME must be defined"
#endif

/* A crash the compiler cannot optimise away or foresee. */
G_GNUC_UNUSED static void
crash (void)
{
  raise (SIGSEGV);
}

/* A hang the compiler cannot see through: waits for a signal for ever. */
G_GNUC_UNUSED static void
hang (void)
{
  for (;;)
    pause ();
}

#ifdef VARIANT_CRASH_CONSTRUCTOR
__attribute__ ((constructor)) static void
crash_on_load (void)
{
  crash ();
}
#endif

#ifdef VARIANT_CRASH_CONSTRUCTOR_LATER
/* Loads fine until the environment says otherwise: what a plugin whose
 * library changed since the descriptor cache described it does (the
 * cache's stamp is the plugin file's, not its libraries'). */
__attribute__ ((constructor)) static void
crash_on_load_later (void)
{
  if (getenv ("CBOX_TEST_CRASH_ON_LOAD") != NULL)
    crash ();
}
#endif

#ifdef VARIANT_HANG_CONSTRUCTOR
__attribute__ ((constructor)) static void
hang_on_load (void)
{
  hang ();
}
#endif

static gboolean
crashing_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
#if defined(VARIANT_CRASH_PROBE)
  crash ();
#elif defined(VARIANT_HANG_PROBE)
  hang ();
#elif defined(VARIANT_PROBE_FALSE)
  return FALSE; /* no error set: a contract breach */
#endif
  cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, "always there");
  return TRUE;
}

static gboolean
crashing_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
#if defined(VARIANT_CRASH_CONTRIBUTE)
  crash ();
#elif defined(VARIANT_GERROR_CONTRIBUTE)
  g_error ("%s: giving up", PLUGIN_NAME);
#elif defined(VARIANT_RELATIVE_DEST)
  cbox_plan_add_bind_ro (plan, "/etc/hostname", "etc/hostname", CBOX_MOUNT_FLAG_NONE);
#endif
  cbox_plan_set_env (plan, "CBOX_CRASHING_PLUGIN", PLUGIN_NAME);
  return TRUE;
}

static const CboxForwarderVTable crashing_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = crashing_probe,
  .contribute = crashing_contribute,
};

static const CboxPluginDesc crashing_desc = {
  .abi_major = CBOX_ABI_MAJOR,
  .abi_minor = CBOX_ABI_MINOR,
  .struct_size = sizeof (CboxPluginDesc),
  .kind = CBOX_PLUGIN_KIND_FORWARDER,
  .name = PLUGIN_NAME,
  .version = "1.0",
  .description = "a forwarder that misbehaves (tests only)",
  .features = CBOX_FEATURE_BIND,
  .forwarder = &crashing_vtable,
#ifdef VARIANT_ALIAS_CLASH
  /* Another plugin's name as an alias: "hostconf" would mean two plugins. */
  .aliases = CBOX_STRV ("hostconf"),
#endif
};

G_MODULE_EXPORT const CboxPluginDesc *cbox_plugin_describe (void);
G_MODULE_EXPORT const CboxPluginDesc *
cbox_plugin_describe (void)
{
#if defined(VARIANT_CRASH_DESCRIBE)
  crash ();
#elif defined(VARIANT_HANG_DESCRIBE)
  hang ();
#endif
  return &crashing_desc;
}

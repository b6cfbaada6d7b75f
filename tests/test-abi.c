/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The plugin ABI as plugins compiled today see it. A change to any number
 * here breaks every plugin already built: it needs a new ABI major, or it
 * must be an addition at the end of a struct with a new ABI minor (then
 * update the size here and the loader's minimum sizes stay as they are). */

#include <stddef.h>

#include <cbox/cbox-plugin.h>

#define assert_size(type, size) g_assert_cmpuint (sizeof (type), ==, (size))
#define assert_offset(type, member, offset) g_assert_cmpuint (offsetof (type, member), ==, (offset))

static gboolean
abi_is_lp64_x86_64 (void)
{
#if defined(__x86_64__) && defined(__LP64__)
  return TRUE;
#else
  g_test_skip ("the sizes below are those of x86_64 (LP64); other ABIs are not pinned yet");
  return FALSE;
#endif
}

static void
test_version (void)
{
  /* The ABI numbers come from meson.build. */
  g_assert_cmpint (CBOX_ABI_MAJOR, ==, 1);
  g_assert_cmpint (CBOX_ABI_MINOR, >=, 0);
}

static void
test_plugin_desc (void)
{
  if (!abi_is_lp64_x86_64 ())
    return;
  /* These three stay first in every ABI: the loader reads them before it
   * knows what the plugin was built for. */
  assert_offset (CboxPluginDesc, abi_major, 0);
  assert_offset (CboxPluginDesc, abi_minor, 4);
  assert_offset (CboxPluginDesc, struct_size, 8);
  assert_offset (CboxPluginDesc, kind, 16);
  assert_offset (CboxPluginDesc, name, 24);
  assert_offset (CboxPluginDesc, version, 32);
  assert_offset (CboxPluginDesc, description, 40);
  assert_offset (CboxPluginDesc, aliases, 48);
  assert_offset (CboxPluginDesc, after, 56);
  assert_offset (CboxPluginDesc, conflicts, 64);
  assert_offset (CboxPluginDesc, features, 72);
  assert_offset (CboxPluginDesc, forwarder, 80);
  assert_offset (CboxPluginDesc, backend, 88);
  assert_offset (CboxPluginDesc, default_enabled, 96);
  /* ABI 1.4 */
  assert_offset (CboxPluginDesc, keys, 104);
  assert_size (CboxPluginDesc, 112);
  assert_offset (CboxPluginKey, name, 0);
  assert_offset (CboxPluginKey, type, 8);
  assert_offset (CboxPluginKey, description, 16);
  assert_offset (CboxPluginKey, default_value, 24);
  assert_offset (CboxPluginKey, choices, 32);
  assert_offset (CboxPluginKey, min, 40);
  assert_offset (CboxPluginKey, max, 48);
  assert_offset (CboxPluginKey, reserved, 56);
  assert_size (CboxPluginKey, 72);
  g_assert_cmpint (CBOX_PLUGIN_KEY_STRING, ==, 1);
  g_assert_cmpint (CBOX_PLUGIN_KEY_INTEGER, ==, 5);
}

static void
test_vtables (void)
{
  if (!abi_is_lp64_x86_64 ())
    return;
  assert_offset (CboxForwarderVTable, struct_size, 0);
  assert_offset (CboxForwarderVTable, probe, 8);
  assert_offset (CboxForwarderVTable, contribute, 16);
  assert_offset (CboxForwarderVTable, prepare, 24);
  assert_offset (CboxForwarderVTable, cleanup, 32);
  assert_size (CboxForwarderVTable, 40);

  assert_offset (CboxBackendVTable, struct_size, 0);
  assert_offset (CboxBackendVTable, probe, 8);
  assert_offset (CboxBackendVTable, realize, 16);
  assert_offset (CboxBackendVTable, run, 24);
  assert_offset (CboxBackendVTable, prestart, 32);
  assert_size (CboxBackendVTable, 40);

  assert_offset (CboxLaunchRunOptions, struct_size, 0);
  assert_offset (CboxLaunchRunOptions, tool_ignores_signals, 8);
  assert_offset (CboxLaunchRunOptions, get_signal_target, 16);
  assert_offset (CboxLaunchRunOptions, user_data, 24);
  assert_offset (CboxLaunchRunOptions, run_as_uid, 32);
  assert_offset (CboxLaunchRunOptions, run_as_gid, 36);
  assert_offset (CboxLaunchRunOptions, started, 40);
  /* ABI 1.2 */
  assert_offset (CboxLaunchRunOptions, ended_fd, 48);
  assert_offset (CboxLaunchRunOptions, ended, 56);
  /* ABI 1.3 */
  assert_offset (CboxLaunchRunOptions, tool_pid, 64);
  assert_offset (CboxLaunchRunOptions, release, 72);
  assert_size (CboxLaunchRunOptions, 80);
}

static void
test_plan_structs (void)
{
  if (!abi_is_lp64_x86_64 ())
    return;
  assert_offset (CboxMount, kind, 0);
  assert_offset (CboxMount, flags, 4);
  assert_offset (CboxMount, src, 8);
  assert_offset (CboxMount, dest, 16);
  assert_offset (CboxMount, fd, 24);
  assert_offset (CboxMount, mode, 28);
  assert_offset (CboxMount, origin, 32);
  assert_size (CboxMount, 40);

  assert_offset (CboxEnvVar, name, 0);
  assert_offset (CboxEnvVar, value, 8);
  assert_offset (CboxEnvVar, origin, 16);
  assert_size (CboxEnvVar, 24);

  assert_offset (CboxHelper, name, 0);
  assert_offset (CboxHelper, argv, 8);
  assert_offset (CboxHelper, ready, 16);
  assert_offset (CboxHelper, ready_path, 24);
  assert_offset (CboxHelper, origin, 32);
  assert_size (CboxHelper, 40);

  /* ABI 1.4 */
  assert_offset (CboxProtectedPath, path, 0);
  assert_offset (CboxProtectedPath, host_path, 8);
  assert_offset (CboxProtectedPath, entry, 16);
  assert_offset (CboxProtectedPath, how, 24);
  assert_offset (CboxProtectedPath, origin, 32);
  assert_size (CboxProtectedPath, 40);
  g_assert_cmpint (CBOX_PROTECTED_READ_ONLY, ==, 1);
  g_assert_cmpint (CBOX_PROTECTED_PINNED, ==, 2);
  g_assert_cmpint (CBOX_PROTECTED_CHECKED, ==, 3);
}

/* Enum values are ABI too: plugins compile them in as numbers. New values
 * go at the end. */
static void
test_enums (void)
{
  assert_size (CboxPluginKind, 4);
  g_assert_cmpint (CBOX_PLUGIN_KIND_BACKEND, ==, 1);
  g_assert_cmpint (CBOX_PLUGIN_KIND_FORWARDER, ==, 2);

  g_assert_cmpint (CBOX_ERROR_FAILED, ==, 0);
  g_assert_cmpint (CBOX_ERROR_INVALID_ARGUMENT, ==, 1);
  g_assert_cmpint (CBOX_ERROR_CONFIG, ==, 2);
  g_assert_cmpint (CBOX_ERROR_UNAVAILABLE, ==, 3);
  g_assert_cmpint (CBOX_ERROR_NOT_SUPPORTED, ==, 4);
  g_assert_cmpint (CBOX_ERROR_BACKEND, ==, 5);
  g_assert_cmpint (CBOX_ERROR_TIMED_OUT, ==, 6);

  g_assert_cmpint (CBOX_PLUGIN_ERROR_NOT_REGULAR_FILE, ==, 0);
  g_assert_cmpint (CBOX_PLUGIN_ERROR_OPEN, ==, 1);
  g_assert_cmpint (CBOX_PLUGIN_ERROR_NO_ENTRY_POINT, ==, 2);
  g_assert_cmpint (CBOX_PLUGIN_ERROR_NULL_DESCRIPTOR, ==, 3);
  g_assert_cmpint (CBOX_PLUGIN_ERROR_ABI_MAJOR, ==, 4);
  g_assert_cmpint (CBOX_PLUGIN_ERROR_ABI_MINOR, ==, 5);
  g_assert_cmpint (CBOX_PLUGIN_ERROR_STRUCT_SIZE, ==, 6);
  g_assert_cmpint (CBOX_PLUGIN_ERROR_MISSING_FIELD, ==, 7);
  g_assert_cmpint (CBOX_PLUGIN_ERROR_MISSING_VTABLE, ==, 8);
  g_assert_cmpint (CBOX_PLUGIN_ERROR_DUPLICATE_NAME, ==, 9);
  g_assert_cmpint (CBOX_PLUGIN_ERROR_CHANGED, ==, 10);

  assert_size (CboxFeatures, 4);
  g_assert_cmpint (CBOX_FEATURE_BIND, ==, 1);
  g_assert_cmpint (CBOX_FEATURE_SOCKET, ==, 2);
  g_assert_cmpint (CBOX_FEATURE_DEVICE, ==, 4);
  g_assert_cmpint (CBOX_FEATURE_DATA, ==, 8);
  g_assert_cmpint (CBOX_FEATURE_HELPER, ==, 16);
  g_assert_cmpint (CBOX_FEATURE_TMPFS, ==, 32);
  g_assert_cmpint (CBOX_FEATURE_SYMLINK, ==, 64);
  g_assert_cmpint (CBOX_FEATURE_HOST_NET, ==, 128);

  /* ABI 1.4 */
  assert_size (CboxNetworkMode, 4);
  g_assert_cmpint (CBOX_NETWORK_OFF, ==, 0);
  g_assert_cmpint (CBOX_NETWORK_OWN, ==, 1);
  g_assert_cmpint (CBOX_NETWORK_HOST, ==, 2);
  /* ABI 1.5 */
  g_assert_cmpint (CBOX_NETWORK_ALLOW, ==, 3);
  g_assert_cmpint (CBOX_NETWORK_DENY, ==, 4);

  assert_size (CboxMountKind, 4);
  g_assert_cmpint (CBOX_MOUNT_RO, ==, 1);
  g_assert_cmpint (CBOX_MOUNT_RW, ==, 2);
  g_assert_cmpint (CBOX_MOUNT_SOCKET, ==, 3);
  g_assert_cmpint (CBOX_MOUNT_DEV, ==, 4);
  g_assert_cmpint (CBOX_MOUNT_TMPFS, ==, 5);
  g_assert_cmpint (CBOX_MOUNT_DIR, ==, 6);
  g_assert_cmpint (CBOX_MOUNT_SYMLINK, ==, 7);
  g_assert_cmpint (CBOX_MOUNT_DATA, ==, 8);
  g_assert_cmpint (CBOX_MOUNT_FLAG_ALLOW_MISSING, ==, 1);
  g_assert_cmpint (CBOX_MOUNT_FLAG_WRITABLE, ==, 2);

  assert_size (CboxHelperReady, 4);
  g_assert_cmpint (CBOX_HELPER_READY_NONE, ==, 0);
  g_assert_cmpint (CBOX_HELPER_READY_PATH, ==, 1);
  g_assert_cmpint (CBOX_HELPER_READY_SYNC_FD, ==, 2);

  assert_size (CboxProbeStatus, 4);
  g_assert_cmpint (CBOX_PROBE_UNKNOWN, ==, 0);
  g_assert_cmpint (CBOX_PROBE_AVAILABLE, ==, 1);
  g_assert_cmpint (CBOX_PROBE_DEGRADED, ==, 2);
  g_assert_cmpint (CBOX_PROBE_UNAVAILABLE, ==, 3);
}

/* What CBOX_PLUGIN_DEFINE fills in. */
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "abi-test")

static void
test_define (void)
{
  const CboxPluginDesc *desc = cbox_plugin_describe ();

  g_assert_cmpuint (desc->abi_major, ==, CBOX_ABI_MAJOR);
  g_assert_cmpuint (desc->abi_minor, ==, CBOX_ABI_MINOR);
  g_assert_cmpuint (desc->struct_size, ==, sizeof (CboxPluginDesc));
  g_assert_cmpstr (desc->name, ==, "abi-test");
  g_assert_true (cbox_plugin_describe () == desc);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/abi/version", test_version);
  g_test_add_func ("/abi/size/plugin-desc", test_plugin_desc);
  g_test_add_func ("/abi/size/vtables", test_vtables);
  g_test_add_func ("/abi/size/plan-structs", test_plan_structs);
  g_test_add_func ("/abi/enums", test_enums);
  g_test_add_func ("/abi/plugin-define", test_define);
  return g_test_run ();
}

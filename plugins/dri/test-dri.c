/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the dri forwarder against fake /dev and /sys trees.
 *
 * This machine (like most CI machines) has no GPU, so the trees are built
 * by the test: the sysfs layout of an Intel render-only GPU, an NVIDIA GPU
 * with its driver's nodes, an AMD GPU with /dev/kfd, and nothing at all.
 * Device nodes in the fake /dev are real character devices (mknod) when the
 * test runs as root, plain files otherwise (a non-root user cannot mknod);
 * the plugin reads device numbers from sysfs' "dev" files first, as udev
 * does, so both give the same plan, and the tests assert that exact plan. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cbox-private.h"
#include "cbox-registry.h"
#include "cbox-test-util.h"
#include "cbox-dri-scan.h"

G_MODULE_EXPORT const CboxPluginDesc *cbox_plugin_describe (void);

typedef struct
{
  char *root;
} FakeTree;

static void
fake_write (FakeTree *tree, const char *path, const char *content)
{
  g_autofree char *full = g_build_filename (tree->root, path, NULL);
  g_autofree char *dir = g_path_get_dirname (full);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_file_set_contents (full, content, -1, &error);
  g_assert_no_error (error);
}

static void
fake_mkdir (FakeTree *tree, const char *path)
{
  g_autofree char *full = g_build_filename (tree->root, path, NULL);
  g_assert_cmpint (g_mkdir_with_parents (full, 0755), ==, 0);
}

static void
fake_link (FakeTree *tree, const char *path, const char *target)
{
  g_autofree char *full = g_build_filename (tree->root, path, NULL);
  g_autofree char *dir = g_path_get_dirname (full);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_cmpint (symlink (target, full), ==, 0);
}

/* A character device as root, a plain file otherwise (see the top). */
static void
fake_node (FakeTree *tree, const char *path, guint maj, guint min)
{
  g_autofree char *full = g_build_filename (tree->root, path, NULL);
  g_autofree char *dir = g_path_get_dirname (full);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  if (cbox_test_is_root ())
    g_assert_cmpint (mknod (full, S_IFCHR | 0666, makedev (maj, min)), ==, 0);
  else
    fake_write (tree, path, "");
}

/* A DRM node of a PCI GPU, with its sysfs entries as the kernel lays them. */
static void
fake_drm_node (FakeTree *tree, const char *pci_path, const char *name, guint maj, guint min)
{
  g_autofree char *dev_path = g_build_filename ("/dev/dri", name, NULL);
  g_autofree char *sys_node = g_strdup_printf ("/sys/devices/%s/drm/%s", pci_path, name);
  g_autofree char *sys_dev = g_strdup_printf ("%s/dev", sys_node);
  g_autofree char *sys_device = g_strdup_printf ("%s/device", sys_node);
  g_autofree char *slot = g_path_get_basename (pci_path);
  g_autofree char *devnum = g_strdup_printf ("%u:%u\n", maj, min);
  g_autofree char *char_link = g_strdup_printf ("/sys/dev/char/%u:%u", maj, min);
  g_autofree char *char_target = g_strdup_printf ("../../devices/%s/drm/%s", pci_path, name);
  g_autofree char *class_link = g_strdup_printf ("/sys/class/drm/%s", name);

  fake_node (tree, dev_path, maj, min);
  fake_write (tree, sys_dev, devnum);
  /* From drm/NAME, "../../.." is the bus directory holding the device. */
  {
    g_autofree char *target = g_strdup_printf ("../../../%s", slot);
    fake_link (tree, sys_device, target);
  }
  fake_link (tree, char_link, char_target);
  fake_link (tree, class_link, char_target);
}

static void
fake_pci_device (FakeTree *tree, const char *pci_path, const char *vendor, const char *device,
                 const char *driver)
{
  g_autofree char *slot = g_path_get_basename (pci_path);
  g_autofree char *dir = g_strdup_printf ("/sys/devices/%s", pci_path);
  g_autofree char *vendor_file = g_strdup_printf ("%s/vendor", dir);
  g_autofree char *device_file = g_strdup_printf ("%s/device", dir);
  g_autofree char *driver_link = g_strdup_printf ("%s/driver", dir);
  g_autofree char *subsystem_link = g_strdup_printf ("%s/subsystem", dir);
  g_autofree char *driver_dir = g_strdup_printf ("/sys/bus/pci/drivers/%s", driver);
  g_autofree char *bus_link = g_strdup_printf ("/sys/bus/pci/devices/%s", slot);
  g_autofree char *bus_target = g_strdup_printf ("../../../devices/%s", pci_path);
  g_autofree char *up = NULL;
  g_autofree char *vendor_line = g_strdup_printf ("%s\n", vendor);
  g_autofree char *device_line = g_strdup_printf ("%s\n", device);
  g_autoptr (GString) ups = g_string_new (NULL);

  /* From /sys/devices/A/B/C back to /sys: one ".." per component, plus one. */
  for (const char *p = dir + strlen ("/sys/"); *p != '\0'; p++)
    if (*p == '/')
      g_string_append (ups, "../");
  g_string_append (ups, "../");
  up = g_string_free (g_steal_pointer (&ups), FALSE);

  fake_write (tree, vendor_file, vendor_line);
  fake_write (tree, device_file, device_line);
  fake_mkdir (tree, driver_dir);
  {
    g_autofree char *target = g_strdup_printf ("%sbus/pci/drivers/%s", up, driver);
    fake_link (tree, driver_link, target);
  }
  {
    g_autofree char *target = g_strdup_printf ("%sbus/pci", up);
    fake_link (tree, subsystem_link, target);
  }
  fake_link (tree, bus_link, bus_target);
}

static FakeTree *
fake_tree_new (void)
{
  FakeTree *tree = g_new0 (FakeTree, 1);

  tree->root = cbox_test_make_dir ("fake root");
  fake_mkdir (tree, "/dev");
  fake_mkdir (tree, "/sys/module/snd");
  fake_mkdir (tree, "/sys/dev/char");
  /* Distractors that must never be forwarded. */
  fake_node (tree, "/dev/null", 1, 3);
  fake_node (tree, "/dev/nvidia-foo", 1, 4);
  fake_node (tree, "/dev/nvidiaX1", 1, 5);
  fake_node (tree, "/dev/kfd0", 1, 6);
  return tree;
}

static void
fake_tree_free (FakeTree *tree)
{
  g_free (tree->root);
  g_free (tree);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FakeTree, fake_tree_free)

static void
fake_intel_render_only (FakeTree *tree)
{
  fake_pci_device (tree, "pci0000:00/0000:00:02.0", "0x8086", "0x46a6", "i915");
  fake_drm_node (tree, "pci0000:00/0000:00:02.0", "renderD128", 226, 128);
}

static void
fake_nvidia (FakeTree *tree)
{
  const char *pci = "pci0000:3a/0000:3a:00.0/0000:3b:00.0";

  fake_pci_device (tree, pci, "0x10de", "0x2330", "nvidia");
  fake_drm_node (tree, pci, "card1", 226, 1);
  fake_drm_node (tree, pci, "renderD129", 226, 129);
  fake_node (tree, "/dev/nvidiactl", 195, 255);
  fake_node (tree, "/dev/nvidia-modeset", 195, 254);
  fake_node (tree, "/dev/nvidia-uvm", 510, 0);
  fake_node (tree, "/dev/nvidia-uvm-tools", 510, 1);
  fake_node (tree, "/dev/nvidia0", 195, 0);
  fake_node (tree, "/dev/nvidia1", 195, 1);
  fake_write (tree, "/sys/module/nvidia/version", "550.54.14\n");
  fake_mkdir (tree, "/sys/module/nvidia_uvm");
  fake_mkdir (tree, "/sys/module/nvidia_modeset");
  fake_link (tree, "/sys/bus/pci/drivers/nvidia/0000:3b:00.0",
             "../../../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0");
  fake_write (tree, "/sys/bus/pci/drivers/nvidia/bind", "");
  fake_link (tree, "/sys/bus/pci/drivers/nvidia/module", "../../../../module/nvidia");
}

static void
fake_amd (FakeTree *tree)
{
  const char *pci = "pci0000:00/0000:00:01.1/0000:03:00.0";

  fake_pci_device (tree, pci, "0x1002", "0x744c", "amdgpu");
  fake_drm_node (tree, pci, "card0", 226, 0);
  fake_drm_node (tree, pci, "renderD128", 226, 128);
  fake_node (tree, "/dev/kfd", 235, 0);
  fake_write (tree, "/sys/devices/virtual/kfd/kfd/dev", "235:0\n");
  fake_write (tree, "/sys/devices/virtual/kfd/kfd/topology/nodes/0/properties",
              "cpu_cores_count 8\n");
  fake_link (tree, "/sys/class/kfd/kfd", "../../devices/virtual/kfd/kfd");
  fake_link (tree, "/sys/dev/char/235:0", "../../devices/virtual/kfd/kfd");
}

static CboxHost *
fake_host_new (FakeTree *tree)
{
  CboxHost *host = cbox_host_new ();

  cbox_host_set_root (host, tree->root);
  cbox_host_set_user (host, 1000, 1000, "alice", "/home/alice", "/bin/sh");
  cbox_host_set_runtime_dir (host, "/run/user/1000");
  return host;
}

/* The plan's mounts, one per line, with the fake root written as "@". */
static char *
dump_mounts (FakeTree *tree, CboxPlan *plan)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
    {
      const CboxMount *mount = cbox_plan_get_mount (plan, i);
      const char *src = mount->src != NULL ? mount->src : "-";

      g_string_append_printf (out, "%s ", cbox_mount_kind_to_string (mount->kind));
      if (g_str_has_prefix (src, tree->root))
        g_string_append_printf (out, "@%s", src + strlen (tree->root));
      else
        g_string_append (out, src);
      g_string_append_printf (out, " %s\n", mount->dest);
      g_assert_cmpstr (mount->origin, ==, "dri");
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

typedef struct
{
  CboxProbeResult *result;
  CboxPlan *plan;
  char *mounts;
} RunResult;

static void
run_result_clear (RunResult *run)
{
  g_clear_pointer (&run->result, cbox_probe_result_free);
  g_clear_pointer (&run->plan, cbox_plan_free);
  g_clear_pointer (&run->mounts, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (RunResult, run_result_clear)

/* Probes, and contributes when available, as the core does. */
static void
run_plugin (FakeTree *tree, CboxHost *host, GKeyFile *config, RunResult *run)
{
  const CboxPluginDesc *desc = cbox_plugin_describe ();
  g_autoptr (CboxContext) ctx = cbox_context_new (host, config, "dri");
  g_autoptr (GError) error = NULL;
  gboolean ok;

  g_assert_nonnull (desc);
  g_assert_cmpstr (desc->name, ==, "dri");
  g_assert_true (g_strv_contains ((const char *const *)desc->aliases, "gpu"));

  run->result = cbox_probe_result_new ();
  ok = desc->forwarder->probe (ctx, run->result, &error);
  g_assert_no_error (error);
  g_assert_true (ok);

  run->plan = cbox_plan_new ();
  cbox_plan_set_origin (run->plan, "dri");
  if (cbox_probe_result_get_status (run->result) == CBOX_PROBE_AVAILABLE
      || cbox_probe_result_get_status (run->result) == CBOX_PROBE_DEGRADED)
    {
      ok = desc->forwarder->contribute (ctx, run->plan, &error);
      g_assert_no_error (error);
      g_assert_true (ok);
    }
  run->mounts = tree != NULL ? dump_mounts (tree, run->plan) : NULL;
}

static void
test_render_only (void)
{
  g_autoptr (FakeTree) tree = fake_tree_new ();
  g_autoptr (CboxHost) host = NULL;
  g_auto (RunResult) run = { 0 };

  fake_intel_render_only (tree);
  host = fake_host_new (tree);
  run_plugin (tree, host, NULL, &run);

  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "nodes"), ==,
                   "1 render, 0 card, 0 nvidia, 0 kfd");
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "gpu0"), ==,
                   "0000:00:02.0 [8086:46a6] driver i915 (renderD128)");
  g_assert_null (cbox_probe_result_get_detail (run.result, "nvidia"));
  /* libdrm only sees the real /dev: it is not asked under a fake root. */
  g_assert_null (cbox_probe_result_get_detail (run.result, "libdrm"));

  g_assert_cmpstr (
      run.mounts, ==,
      "dev @/dev/dri/renderD128 /dev/dri/renderD128\n"
      "ro @/sys/devices/pci0000:00/0000:00:02.0 /sys/devices/pci0000:00/0000:00:02.0\n"
      "symlink ../../devices/pci0000:00/0000:00:02.0/drm/renderD128 /sys/dev/char/226:128\n"
      "symlink ../../../devices/pci0000:00/0000:00:02.0 /sys/bus/pci/devices/0000:00:02.0\n");
  g_assert_cmpuint (cbox_plan_get_n_env (run.plan), ==, 0);
}

/* The links in the plan resolve inside exactly as on the host: follow
 * them in the fake tree the way Mesa and libdrm do. */
static void
test_links_resolve (void)
{
  g_autoptr (FakeTree) tree = fake_tree_new ();
  g_autoptr (CboxHost) host = NULL;
  g_auto (RunResult) run = { 0 };
  const CboxMount *link;
  g_autofree char *subsystem = NULL;
  g_autofree char *real = NULL;

  fake_intel_render_only (tree);
  host = fake_host_new (tree);
  run_plugin (tree, host, NULL, &run);
  link = cbox_plan_find_mount (run.plan, "/sys/dev/char/226:128");
  g_assert_nonnull (link);
  g_assert_cmpint (link->kind, ==, CBOX_MOUNT_SYMLINK);
  subsystem
      = g_build_filename (tree->root, "/sys/dev/char", link->src, "device", "subsystem", NULL);
  real = realpath (subsystem, NULL);
  g_assert_nonnull (real);
  g_assert_true (g_str_has_suffix (real, "/sys/bus/pci"));
}

static void
test_nvidia (void)
{
  g_autoptr (FakeTree) tree = fake_tree_new ();
  g_autoptr (CboxHost) host = NULL;
  g_auto (RunResult) run = { 0 };
  const char *pci = "/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0";
  g_autofree char *expected = NULL;

  fake_nvidia (tree);
  host = fake_host_new (tree);
  run_plugin (tree, host, NULL, &run);

  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "nodes"), ==,
                   "1 render, 1 card, 6 nvidia, 0 kfd");
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "nvidia"), ==,
                   "driver 550.54.14, 1 GPU");
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "gpu0"), ==,
                   "0000:3b:00.0 [10de:2330] driver nvidia (renderD129 card1)");

  expected = g_strdup_printf (
      "dev @/dev/dri/renderD129 /dev/dri/renderD129\n"
      "dev @/dev/dri/card1 /dev/dri/card1\n"
      "dev @/dev/nvidia-modeset /dev/nvidia-modeset\n"
      "dev @/dev/nvidia-uvm /dev/nvidia-uvm\n"
      "dev @/dev/nvidia-uvm-tools /dev/nvidia-uvm-tools\n"
      "dev @/dev/nvidia0 /dev/nvidia0\n"
      "dev @/dev/nvidia1 /dev/nvidia1\n"
      "dev @/dev/nvidiactl /dev/nvidiactl\n"
      "ro @%s %s\n"
      "ro @/sys/module/nvidia /sys/module/nvidia\n"
      "ro @/sys/module/nvidia_modeset /sys/module/nvidia_modeset\n"
      "ro @/sys/module/nvidia_uvm /sys/module/nvidia_uvm\n"
      "symlink ../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/drm/renderD129 "
      "/sys/dev/char/226:129\n"
      "symlink ../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/drm/card1 /sys/dev/char/226:1\n"
      "symlink ../../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0 "
      "/sys/bus/pci/devices/0000:3b:00.0\n",
      pci, pci);
  g_assert_cmpstr (run.mounts, ==, expected);
}

static void
test_nvidia_no_card_nodes (void)
{
  g_autoptr (FakeTree) tree = fake_tree_new ();
  g_autoptr (CboxHost) host = NULL;
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_auto (RunResult) run = { 0 };

  fake_nvidia (tree);
  host = fake_host_new (tree);
  g_key_file_set_boolean (config, "dri", "card-nodes", FALSE);
  run_plugin (tree, host, config, &run);

  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "nodes"), ==,
                   "1 render, 0 card, 6 nvidia, 0 kfd");
  g_assert_null (cbox_plan_find_mount (run.plan, "/dev/dri/card1"));
  g_assert_null (cbox_plan_find_mount (run.plan, "/sys/dev/char/226:1"));
  g_assert_nonnull (cbox_plan_find_mount (run.plan, "/dev/dri/renderD129"));
}

static void
test_bad_config (void)
{
  g_autoptr (FakeTree) tree = fake_tree_new ();
  g_autoptr (CboxHost) host = NULL;
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (CboxContext) ctx = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();
  g_autoptr (GError) error = NULL;

  host = fake_host_new (tree);
  g_key_file_set_string (config, "dri", "card-nodes", "maybe");
  ctx = cbox_context_new (host, config, "dri");
  g_assert_false (cbox_plugin_describe ()->forwarder->probe (ctx, result, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "dri: "));
  g_assert_nonnull (strstr (error->message, "card-nodes"));
}

static void
test_amd (void)
{
  g_autoptr (FakeTree) tree = fake_tree_new ();
  g_autoptr (CboxHost) host = NULL;
  g_auto (RunResult) run = { 0 };

  fake_amd (tree);
  host = fake_host_new (tree);
  run_plugin (tree, host, NULL, &run);

  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_AVAILABLE);
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "nodes"), ==,
                   "1 render, 1 card, 0 nvidia, 1 kfd");
  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "gpu0"), ==,
                   "0000:03:00.0 [1002:744c] driver amdgpu (renderD128 card0)");
  g_assert_cmpstr (
      run.mounts, ==,
      "dev @/dev/dri/renderD128 /dev/dri/renderD128\n"
      "dev @/dev/dri/card0 /dev/dri/card0\n"
      "dev @/dev/kfd /dev/kfd\n"
      "ro @/sys/devices/pci0000:00/0000:00:01.1/0000:03:00.0 "
      "/sys/devices/pci0000:00/0000:00:01.1/0000:03:00.0\n"
      "ro @/sys/devices/virtual/kfd/kfd /sys/devices/virtual/kfd/kfd\n"
      "symlink ../../devices/pci0000:00/0000:00:01.1/0000:03:00.0/drm/renderD128 "
      "/sys/dev/char/226:128\n"
      "symlink ../../devices/pci0000:00/0000:00:01.1/0000:03:00.0/drm/card0 /sys/dev/char/226:0\n"
      "symlink ../../devices/virtual/kfd/kfd /sys/dev/char/235:0\n"
      "symlink ../../../devices/pci0000:00/0000:00:01.1/0000:03:00.0 "
      "/sys/bus/pci/devices/0000:03:00.0\n"
      "symlink ../../devices/virtual/kfd/kfd /sys/class/kfd/kfd\n");
}

static void
test_none (void)
{
  g_autoptr (FakeTree) tree = fake_tree_new ();
  g_autoptr (CboxHost) host = NULL;
  g_auto (RunResult) run = { 0 };

  host = fake_host_new (tree);
  run_plugin (tree, host, NULL, &run);

  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_UNAVAILABLE);
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (run.result), "no GPU device nodes"));
  g_assert_nonnull (strstr (cbox_probe_result_get_reason (run.result), "/dev/dri"));
  g_assert_cmpstr (run.mounts, ==, "");
}

/* A link that leaves the fake root is not followed out of it. */
static void
test_escaping_link (void)
{
  g_autoptr (FakeTree) tree = fake_tree_new ();
  g_autoptr (CboxHost) host = NULL;
  g_auto (RunResult) run = { 0 };

  fake_node (tree, "/dev/dri/renderD128", 226, 128);
  fake_write (tree, "/sys/class/drm/renderD128/dev", "226:128\n");
  fake_link (tree, "/sys/dev/char/226:128", "/sys/devices/virtual/mem/null");
  host = fake_host_new (tree);
  run_plugin (tree, host, NULL, &run);
  g_assert_cmpstr (run.mounts, ==, "dev @/dev/dri/renderD128 /dev/dri/renderD128\n");
}

static void
test_nixos (void)
{
  g_autoptr (FakeTree) tree = fake_tree_new ();
  g_autoptr (CboxHost) host = NULL;
  g_auto (RunResult) run = { 0 };
  const CboxMount *mount;

  fake_intel_render_only (tree);
  fake_write (tree, "/etc/NIXOS", "");
  fake_mkdir (tree, "/nix/store/abc-graphics-drivers/lib");
  fake_link (tree, "/run/opengl-driver", "/nix/store/abc-graphics-drivers");
  host = fake_host_new (tree);
  run_plugin (tree, host, NULL, &run);

  g_assert_cmpstr (cbox_probe_result_get_detail (run.result, "opengl-driver"), ==,
                   "/run/opengl-driver -> /nix/store/abc-graphics-drivers");
  mount = cbox_plan_find_mount (run.plan, "/run/opengl-driver");
  g_assert_nonnull (mount);
  g_assert_cmpint (mount->kind, ==, CBOX_MOUNT_SYMLINK);
  g_assert_cmpstr (mount->src, ==, "/nix/store/abc-graphics-drivers");
}

static gboolean
maps_contain (const char *needle)
{
  g_autofree char *maps = NULL;

  g_assert_true (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL));
  return strstr (maps, needle) != NULL;
}

/* The real host: this CI machine has no GPU, so the probe must say so with
 * its reason; on a machine with one, it must name it. */
static void
test_real_host (void)
{
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_auto (RunResult) run = { 0 };
  gboolean has_gpu = g_file_test ("/dev/dri", G_FILE_TEST_IS_DIR)
                     || g_file_test ("/dev/nvidiactl", G_FILE_TEST_EXISTS)
                     || g_file_test ("/dev/kfd", G_FILE_TEST_EXISTS);

  cbox_host_set_user (host, getuid (), getgid (), "user", "/nonexistent", "/bin/sh");
  run_plugin (NULL, host, NULL, &run);
  g_test_message ("dri on this machine: %s (%s)",
                  cbox_probe_status_to_string (cbox_probe_result_get_status (run.result)),
                  cbox_probe_result_get_reason (run.result));
  if (!has_gpu)
    {
      g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_UNAVAILABLE);
      g_assert_nonnull (
          strstr (cbox_probe_result_get_reason (run.result), "(is a GPU driver loaded?)"));
      /* Nothing found, so libdrm was never loaded. */
      g_assert_false (maps_contain ("libdrm.so"));
    }
  else
    g_assert_cmpint (cbox_probe_result_get_status (run.result), !=, CBOX_PROBE_UNAVAILABLE);
}

/* libdrm stays out of the process until a probe on a real root finds
 * nodes: loading the plugin and probing a fake tree never maps it. */
static void
test_lazy_libdrm (void)
{
  g_autoptr (FakeTree) tree = fake_tree_new ();
  g_autoptr (CboxHost) host = NULL;
  g_auto (RunResult) run = { 0 };

  g_assert_false (maps_contain ("libdrm.so"));
  fake_intel_render_only (tree);
  host = fake_host_new (tree);
  run_plugin (tree, host, NULL, &run);
  g_assert_false (maps_contain ("libdrm.so"));
}

/* The plan of a fake Intel GPU realized by a real backend and run: inside,
 * the node is there (a character device when the test runs as root, since
 * the fake tree's node is then mknod'd) and the /sys links resolve as
 * libdrm resolves them. bwrap only: nspawn mounts the host's real sysfs
 * over /sys, which on this GPU-less machine has no such device (on a host
 * with a GPU, the real entries are what the plan names). */
static void
test_sandbox_bwrap (void)
{
  g_autoptr (FakeTree) tree = fake_tree_new ();
  g_autoptr (CboxHost) fake = NULL;
  g_autoptr (CboxHost) real = NULL;
  g_autoptr (CboxRegistry) registry = cbox_registry_new ();
  g_autoptr (CboxContext) backend_ctx = NULL;
  g_autoptr (CboxProbeResult) backend_probe = cbox_probe_result_new ();
  g_autoptr (CboxLaunch) launch = cbox_launch_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *project = cbox_test_make_dir ("project");
  g_auto (RunResult) run = { 0 };
  const CboxPluginDesc *backend;
  CboxPluginInfo *info;
  int status = -1;
  const char *script = "test -e /dev/dri/renderD128 || exit 10\n"
                       "if [ \"$ROOT\" = 1 ]; then test -c /dev/dri/renderD128 || exit 11; fi\n"
                       "test \"$(cat /sys/dev/char/226:128/device/vendor)\" = 0x8086 || exit 12\n"
                       "test \"$(readlink -f /sys/dev/char/226:128/device/subsystem)\" = "
                       "/sys/bus/pci || exit 13\n"
                       "test \"$(readlink -f /sys/bus/pci/devices/0000:00:02.0)\" = "
                       "/sys/devices/pci0000:00/0000:00:02.0 || exit 14\n"
                       "test -e /sys/class || exit 0\n" /* nothing else of /sys */
                       "exit 15\n";

  cbox_registry_load_default (registry);
  info = cbox_registry_lookup (registry, "bwrap");
  if (info == NULL)
    {
      g_test_skip ("backend bwrap was not built");
      return;
    }
  backend = cbox_plugin_info_get_desc (info);

  fake_intel_render_only (tree);
  fake = fake_host_new (tree);
  run_plugin (tree, fake, NULL, &run);
  g_assert_cmpint (cbox_probe_result_get_status (run.result), ==, CBOX_PROBE_AVAILABLE);

  /* The dri items, then the core's base plan before them as the planner
   * orders it: rebuild the plan around the dri mounts. */
  real = cbox_host_new_from_system (&error);
  g_assert_no_error (error);
  {
    g_autoptr (CboxPlan) plan = cbox_plan_new ();
    cbox_plan_set_origin (plan, "core");
    g_assert_true (cbox_base_plan_fill_system (plan, real, NULL, &error));
    g_assert_no_error (error);
    cbox_plan_set_origin (plan, "dri");
    for (guint i = 0; i < cbox_plan_get_n_mounts (run.plan); i++)
      {
        const CboxMount *mount = cbox_plan_get_mount (run.plan, i);
        if (mount->kind == CBOX_MOUNT_DEV)
          cbox_plan_add_bind_dev (plan, mount->src, mount->dest, mount->flags);
        else if (mount->kind == CBOX_MOUNT_RO)
          cbox_plan_add_bind_ro (plan, mount->src, mount->dest, mount->flags);
        else if (mount->kind == CBOX_MOUNT_SYMLINK)
          cbox_plan_add_symlink (plan, mount->src, mount->dest);
      }
    cbox_plan_set_origin (plan, "core");
    g_assert_true (cbox_base_plan_add_project (plan, real, project, &error));
    g_assert_no_error (error);
    cbox_plan_set_env (plan, "ROOT", cbox_test_is_root () ? "1" : "0");
    cbox_plan_set_command (plan, (const char *const[]){ "sh", "-c", script, NULL });

    backend_ctx = cbox_context_new (real, NULL, "bwrap");
    cbox_context_set_backend (backend_ctx, "bwrap", backend->features);
    cbox_context_set_instance_id (backend_ctx, "dritest");
    if (g_getenv ("CBOX_LIBEXEC_DIR") != NULL)
      cbox_context_set_libexec_dir (backend_ctx, g_getenv ("CBOX_LIBEXEC_DIR"));
    g_assert_true (backend->backend->probe (backend_ctx, backend_probe, &error));
    g_assert_no_error (error);
    if (cbox_probe_result_get_status (backend_probe) == CBOX_PROBE_UNAVAILABLE)
      {
        cbox_test_skip_or_fail (cbox_probe_result_get_reason (backend_probe));
        return;
      }
    g_assert_true (backend->backend->realize (backend_ctx, plan, launch, &error));
    g_assert_no_error (error);
    if (backend->backend->run != NULL)
      g_assert_true (backend->backend->run (backend_ctx, plan, launch, &status, &error));
    else
      g_assert_true (cbox_launch_run (launch, plan, &status, &error));
    g_assert_no_error (error);
  }
  g_assert_cmpint (status, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dri/lazy-libdrm", test_lazy_libdrm);
  g_test_add_func ("/dri/render-only", test_render_only);
  g_test_add_func ("/dri/links-resolve", test_links_resolve);
  g_test_add_func ("/dri/nvidia", test_nvidia);
  g_test_add_func ("/dri/nvidia/no-card-nodes", test_nvidia_no_card_nodes);
  g_test_add_func ("/dri/bad-config", test_bad_config);
  g_test_add_func ("/dri/amd", test_amd);
  g_test_add_func ("/dri/none", test_none);
  g_test_add_func ("/dri/escaping-link", test_escaping_link);
  g_test_add_func ("/dri/nixos", test_nixos);
  g_test_add_func ("/dri/real-host", test_real_host);
  g_test_add_func ("/dri/sandbox/bwrap", test_sandbox_bwrap);
  return g_test_run ();
}

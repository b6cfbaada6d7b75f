/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Forwarder "dri" (alias "gpu"): the host's GPU device nodes and the few
 * /sys entries that Mesa, libdrm, CUDA and ROCm read about them.
 *
 * The scan is done by hand, through cbox_host_resolve(), so that it works
 * the same on a real host and under a fake root (tests, and `cbox doctor
 * --root`): /dev/dri, /sys/class/drm/NODE/dev for the device numbers,
 * /sys/dev/char/MAJ:MIN for the sysfs entry, its "device" link for the PCI
 * device directory and "driver" link for the driver name. libdrm adds
 * detail (driver version, device count) only on a real root, and it is
 * loaded lazily with g_module_open() so that a run without the GPU never
 * maps it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cbox/cbox-plugin.h>
#include <xf86drm.h>

#include "cbox-dri-scan.h"

/* ---- paths under the host root ---------------------------------------- */

/* The logical path (as seen on the host without the fake root) at which
 * the symlinks of @logical end, or NULL when it does not exist or leaves
 * the root. */
static char *
dri_realpath_logical (const CboxHost *host, const char *logical)
{
  g_autofree char *resolved = cbox_host_resolve (host, logical);
  g_autofree char *real = realpath (resolved, NULL);
  const char *root = cbox_host_get_root (host);
  gsize root_len;

  if (real == NULL)
    return NULL;
  if (g_str_equal (root, "/"))
    return g_steal_pointer (&real);
  root_len = strlen (root);
  if (strncmp (real, root, root_len) != 0 || (real[root_len] != '/' && real[root_len] != '\0'))
    return NULL; /* an absolute link out of the fake tree: not ours to forward */
  return g_strdup (real[root_len] == '\0' ? "/" : real + root_len);
}

static char *
dri_readlink (const CboxHost *host, const char *logical)
{
  g_autofree char *resolved = cbox_host_resolve (host, logical);
  return g_file_read_link (resolved, NULL);
}

static gboolean
dri_exists (const CboxHost *host, const char *logical, GFileTest test)
{
  g_autofree char *resolved = cbox_host_resolve (host, logical);
  return g_file_test (resolved, test);
}

static char *
dri_read_line (const CboxHost *host, const char *logical)
{
  g_autofree char *resolved = cbox_host_resolve (host, logical);
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (resolved, &contents, NULL, NULL))
    return NULL;
  return g_strstrip (g_steal_pointer (&contents));
}

static gboolean
dri_parse_devnum (const char *text, guint *ret_major, guint *ret_minor)
{
  guint64 major, minor;
  g_auto (GStrv) parts = NULL;

  if (text == NULL)
    return FALSE;
  parts = g_strsplit (text, ":", 3);
  if (g_strv_length (parts) != 2
      || !g_ascii_string_to_unsigned (parts[0], 10, 0, 4095, &major, NULL)
      || !g_ascii_string_to_unsigned (parts[1], 10, 0, 1048575, &minor, NULL))
    return FALSE;
  *ret_major = (guint)major;
  *ret_minor = (guint)minor;
  return TRUE;
}

/* ---- the scan ------------------------------------------------------------ */

static void
cbox_dri_node_free (CboxDriNode *node)
{
  if (node == NULL)
    return;
  g_free (node->name);
  g_free (node->path);
  g_free (node->sys_char);
  g_free (node->sys_char_target);
  g_free (node->pci_dir);
  g_free (node->pci_slot);
  g_free (node->driver);
  g_free (node->vendor);
  g_free (node->device);
  g_free (node);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxDriNode, cbox_dri_node_free)

void
cbox_dri_scan_free (CboxDriScan *scan)
{
  if (scan == NULL)
    return;
  g_ptr_array_unref (scan->nodes);
  g_ptr_array_unref (scan->pci_dirs);
  g_ptr_array_unref (scan->sys_dirs);
  g_ptr_array_unref (scan->sys_links);
  g_free (scan->nvidia_version);
  g_free (scan->opengl_driver_target);
  g_free (scan->libdrm_detail);
  g_free (scan);
}

static void
dri_add_unique (GPtrArray *array, const char *value)
{
  if (!g_ptr_array_find_with_equal_func (array, value, g_str_equal, NULL))
    g_ptr_array_add (array, g_strdup (value));
}

/* A symlink inside /sys, kept with its host link text so the same relative
 * path resolves inside as it does on the host. */
static void
dri_add_sys_link (CboxDriScan *scan, const char *dest, const char *target)
{
  for (guint i = 0; i + 1 < scan->sys_links->len; i += 2)
    if (g_str_equal (g_ptr_array_index (scan->sys_links, i), dest))
      return;
  g_ptr_array_add (scan->sys_links, g_strdup (dest));
  g_ptr_array_add (scan->sys_links, g_strdup (target));
}

/* The PCI (or platform) device directory of a sysfs device entry, its
 * /sys/bus/pci/devices link and its driver. */
static void
dri_scan_device_dir (const CboxHost *host, CboxDriScan *scan, CboxDriNode *node,
                     const char *device_dir)
{
  g_autofree char *bus_link = NULL;
  g_autofree char *bus_target = NULL;
  g_autofree char *driver_link = NULL;
  g_autofree char *driver_target = NULL;
  g_autofree char *vendor_file = g_build_filename (device_dir, "vendor", NULL);
  g_autofree char *device_file = g_build_filename (device_dir, "device", NULL);

  node->pci_dir = g_strdup (device_dir);
  node->pci_slot = g_path_get_basename (device_dir);
  node->vendor = dri_read_line (host, vendor_file);
  node->device = dri_read_line (host, device_file);

  driver_link = g_build_filename (device_dir, "driver", NULL);
  driver_target = dri_readlink (host, driver_link);
  if (driver_target != NULL)
    node->driver = g_path_get_basename (driver_target);

  dri_add_unique (scan->pci_dirs, device_dir);

  /* libdrm finds the bus type through realpath() of device/subsystem, which
   * must end in an existing /sys/bus/pci; NVML walks /sys/bus/pci/devices. */
  if (strchr (node->pci_slot, ':') != NULL)
    {
      bus_link = g_build_filename ("/sys/bus/pci/devices", node->pci_slot, NULL);
      bus_target = dri_readlink (host, bus_link);
      if (bus_target != NULL)
        dri_add_sys_link (scan, bus_link, bus_target);
    }
}

static CboxDriNode *
dri_scan_node (const CboxHost *host, CboxDriScan *scan, const char *path, const char *name,
               const char *devnum_file)
{
  g_autoptr (CboxDriNode) node = g_new0 (CboxDriNode, 1);
  g_autofree char *resolved = cbox_host_resolve (host, path);
  g_autofree char *devnum = NULL;
  struct stat st;

  node->name = g_strdup (name);
  node->path = g_strdup (path);

  /* A real node gives its number; a fake tree (tests as non-root) holds
   * plain files, so sysfs' "dev" file is read first: it is what udev
   * itself uses. */
  if (devnum_file != NULL)
    devnum = dri_read_line (host, devnum_file);
  if (dri_parse_devnum (devnum, &node->major, &node->minor))
    node->has_devnum = TRUE;
  else if (stat (resolved, &st) == 0 && S_ISCHR (st.st_mode))
    {
      node->major = major (st.st_rdev);
      node->minor = minor (st.st_rdev);
      node->has_devnum = TRUE;
    }

  if (node->has_devnum)
    {
      g_autofree char *sys_char = g_strdup_printf ("/sys/dev/char/%u:%u", node->major, node->minor);
      g_autofree char *target = dri_readlink (host, sys_char);
      g_autofree char *real = dri_realpath_logical (host, sys_char);

      if (target != NULL && real != NULL)
        {
          g_autofree char *device_link = g_build_filename (real, "device", NULL);
          g_autofree char *device_dir = dri_realpath_logical (host, device_link);

          node->sys_char = g_steal_pointer (&sys_char);
          node->sys_char_target = g_steal_pointer (&target);
          if (device_dir != NULL && g_str_has_prefix (device_dir, "/sys/devices/"))
            dri_scan_device_dir (host, scan, node, device_dir);
          else if (g_str_has_prefix (real, "/sys/devices/virtual/"))
            dri_add_unique (scan->sys_dirs, real);
        }
    }
  return g_steal_pointer (&node);
}

static int
dri_compare_names (gconstpointer a, gconstpointer b)
{
  const char *name_a = *(const char *const *)a;
  const char *name_b = *(const char *const *)b;
  return g_strcmp0 (name_a, name_b);
}

static GPtrArray *
dri_list_dir (const CboxHost *host, const char *logical)
{
  g_autofree char *resolved = cbox_host_resolve (host, logical);
  g_autoptr (GDir) dir = g_dir_open (resolved, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, dri_compare_names);
  return g_steal_pointer (&names);
}

static gboolean
dri_name_is_nvidia_node (const char *name)
{
  static const char *const fixed[]
      = { "nvidiactl", "nvidia-modeset", "nvidia-uvm", "nvidia-uvm-tools", NULL };
  const char *p;

  if (g_strv_contains (fixed, name))
    return TRUE;
  if (!g_str_has_prefix (name, "nvidia") || name[strlen ("nvidia")] == '\0')
    return FALSE;
  for (p = name + strlen ("nvidia"); *p != '\0'; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  return TRUE;
}

static void
dri_module_close (GModule *module)
{
  if (module != NULL)
    g_module_close (module);
}

/* GLib 2.74 has no autoptr for GModule. */
typedef GModule CboxDriModule;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxDriModule, dri_module_close)

static void
dri_scan_libdrm (CboxDriScan *scan)
{
  typedef int (*GetDevices2Func) (uint32_t, drmDevicePtr[], int);
  typedef void (*FreeDevicesFunc) (drmDevicePtr[], int);
  typedef drmVersionPtr (*GetVersionFunc) (int);
  typedef void (*FreeVersionFunc) (drmVersionPtr);
  g_autoptr (CboxDriModule) module = NULL;
  GetDevices2Func get_devices2 = NULL;
  FreeDevicesFunc free_devices = NULL;
  GetVersionFunc get_version = NULL;
  FreeVersionFunc free_version = NULL;
  drmDevicePtr devices[16];
  g_autoptr (GString) detail = g_string_new (NULL);
  int n;

  /* Lazily, so that a run without the GPU never maps libdrm. */
  module = g_module_open ("libdrm.so.2", G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
  if (module == NULL)
    {
      scan->libdrm_detail = g_strdup_printf ("not loaded: %s", g_module_error ());
      return;
    }
  if (!g_module_symbol (module, "drmGetDevices2", (gpointer *)&get_devices2)
      || !g_module_symbol (module, "drmFreeDevices", (gpointer *)&free_devices)
      || !g_module_symbol (module, "drmGetVersion", (gpointer *)&get_version)
      || !g_module_symbol (module, "drmFreeVersion", (gpointer *)&free_version))
    {
      scan->libdrm_detail = g_strdup ("not usable: symbols missing (libdrm too old?)");
      return;
    }

  n = get_devices2 (0, devices, G_N_ELEMENTS (devices));
  if (n < 0)
    {
      scan->libdrm_detail = g_strdup_printf ("drmGetDevices2 failed: %s", g_strerror (-n));
      return;
    }
  g_string_append_printf (detail, "%d device%s", n, n == 1 ? "" : "s");
  for (int i = 0; i < n; i++)
    {
      drmDevicePtr dev = devices[i];
      const char *node = NULL;

      g_string_append (detail, i == 0 ? ": " : "; ");
      if (dev->bustype == DRM_BUS_PCI && dev->businfo.pci != NULL && dev->deviceinfo.pci != NULL)
        g_string_append_printf (detail, "%04x:%02x:%02x.%u %04x:%04x", dev->businfo.pci->domain,
                                dev->businfo.pci->bus, dev->businfo.pci->dev,
                                dev->businfo.pci->func, dev->deviceinfo.pci->vendor_id,
                                dev->deviceinfo.pci->device_id);
      else
        g_string_append_printf (detail, "bus type %d", dev->bustype);

      /* The render node only: opening a primary node can make the opener
       * DRM master, which a probe must never do. */
      if (dev->available_nodes & (1 << DRM_NODE_RENDER))
        node = dev->nodes[DRM_NODE_RENDER];
      if (node != NULL)
        {
          int fd = open (node, O_RDWR | O_CLOEXEC | O_NOCTTY);
          if (fd >= 0)
            {
              drmVersionPtr version = get_version (fd);
              if (version != NULL)
                {
                  g_string_append_printf (detail, " %s %d.%d.%d", version->name,
                                          version->version_major, version->version_minor,
                                          version->version_patchlevel);
                  free_version (version);
                }
              close (fd);
            }
          else
            g_string_append_printf (detail, " (%s: %s)", node, g_strerror (errno));
        }
    }
  free_devices (devices, n);
  scan->libdrm_detail = g_string_free (g_steal_pointer (&detail), FALSE);
}

CboxDriScan *
cbox_dri_scan (const CboxHost *host, gboolean card_nodes, gboolean use_libdrm)
{
  g_autoptr (CboxDriScan) scan = g_new0 (CboxDriScan, 1);
  g_autoptr (GPtrArray) dri_names = dri_list_dir (host, "/dev/dri");
  g_autoptr (GPtrArray) dev_names = dri_list_dir (host, "/dev");
  g_autoptr (GPtrArray) module_names = dri_list_dir (host, "/sys/module");
  g_autoptr (GPtrArray) nvidia_bound = dri_list_dir (host, "/sys/bus/pci/drivers/nvidia");

  scan->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_dri_node_free);
  scan->pci_dirs = g_ptr_array_new_with_free_func (g_free);
  scan->sys_dirs = g_ptr_array_new_with_free_func (g_free);
  scan->sys_links = g_ptr_array_new_with_free_func (g_free);

  /* Render nodes first: they are what a sandboxed client should use. */
  for (guint pass = 0; pass < 2; pass++)
    for (guint i = 0; i < dri_names->len; i++)
      {
        const char *name = g_ptr_array_index (dri_names, i);
        gboolean render = g_str_has_prefix (name, "renderD");
        gboolean card = g_str_has_prefix (name, "card");
        g_autofree char *path = NULL;
        g_autofree char *devnum_file = NULL;
        CboxDriNode *node;

        if ((pass == 0 && !render) || (pass == 1 && !card))
          continue;
        if (card && !card_nodes)
          continue;
        path = g_build_filename ("/dev/dri", name, NULL);
        devnum_file = g_build_filename ("/sys/class/drm", name, "dev", NULL);
        node = dri_scan_node (host, scan, path, name, devnum_file);
        node->kind = render ? CBOX_DRI_NODE_RENDER : CBOX_DRI_NODE_CARD;
        g_ptr_array_add (scan->nodes, node);
      }

  for (guint i = 0; i < dev_names->len; i++)
    {
      const char *name = g_ptr_array_index (dev_names, i);
      g_autofree char *path = g_build_filename ("/dev", name, NULL);
      CboxDriNode *node;

      if (dri_name_is_nvidia_node (name))
        {
          node = dri_scan_node (host, scan, path, name, NULL);
          node->kind = CBOX_DRI_NODE_NVIDIA;
        }
      else if (g_str_equal (name, "kfd"))
        {
          node = dri_scan_node (host, scan, path, name, "/sys/class/kfd/kfd/dev");
          node->kind = CBOX_DRI_NODE_KFD;
        }
      else if (g_str_equal (name, "nvidia-caps") && dri_exists (host, path, G_FILE_TEST_IS_DIR))
        {
          /* MIG capability nodes, opened by CUDA when MIG is on. */
          node = g_new0 (CboxDriNode, 1);
          node->name = g_strdup (name);
          node->path = g_strdup (path);
          node->kind = CBOX_DRI_NODE_NVIDIA;
        }
      else
        continue;
      g_ptr_array_add (scan->nodes, node);
    }

  /* NVIDIA's own nodes have no sysfs entry of their own: the PCI devices
   * are found through the driver's bound devices. */
  for (guint i = 0; i < nvidia_bound->len; i++)
    {
      const char *name = g_ptr_array_index (nvidia_bound, i);
      g_autofree char *link = NULL;
      g_autofree char *real = NULL;

      if (strchr (name, ':') == NULL)
        continue;
      link = g_build_filename ("/sys/bus/pci/drivers/nvidia", name, NULL);
      real = dri_realpath_logical (host, link);
      if (real != NULL && g_str_has_prefix (real, "/sys/devices/"))
        {
          g_autoptr (CboxDriNode) tmp = g_new0 (CboxDriNode, 1);
          dri_scan_device_dir (host, scan, tmp, real);
          scan->n_nvidia_gpus++;
        }
    }

  for (guint i = 0; i < module_names->len; i++)
    {
      const char *name = g_ptr_array_index (module_names, i);
      if (g_str_has_prefix (name, "nvidia"))
        {
          g_autofree char *path = g_build_filename ("/sys/module", name, NULL);
          dri_add_unique (scan->sys_dirs, path);
        }
    }
  scan->nvidia_version = dri_read_line (host, "/sys/module/nvidia/version");

  /* ROCm reads the KFD topology through /sys/class/kfd. */
  {
    g_autofree char *target = dri_readlink (host, "/sys/class/kfd/kfd");
    g_autofree char *real = dri_realpath_logical (host, "/sys/class/kfd/kfd");
    if (target != NULL && real != NULL && g_str_has_prefix (real, "/sys/devices/"))
      {
        dri_add_sys_link (scan, "/sys/class/kfd/kfd", target);
        dri_add_unique (scan->sys_dirs, real);
      }
  }

  /* NixOS keeps the GL/Vulkan/CUDA user-space drivers out of /usr. */
  if (cbox_host_is_nixos (host))
    {
      /* A link into the store: its target is checked inside, not here (a
       * fake root does not hold the store it points at). */
      scan->opengl_driver_target = dri_readlink (host, "/run/opengl-driver");
      scan->opengl_driver = scan->opengl_driver_target != NULL
                            || dri_exists (host, "/run/opengl-driver", G_FILE_TEST_IS_DIR);
    }

  if (use_libdrm && g_str_equal (cbox_host_get_root (host), "/") && scan->nodes->len > 0)
    dri_scan_libdrm (scan);

  return g_steal_pointer (&scan);
}

guint
cbox_dri_scan_count (const CboxDriScan *scan, CboxDriNodeKind kind)
{
  guint n = 0;

  for (guint i = 0; i < scan->nodes->len; i++)
    if (((CboxDriNode *)g_ptr_array_index (scan->nodes, i))->kind == kind)
      n++;
  return n;
}

/* ---- the plugin ---------------------------------------------------------- */

static gboolean
dri_read_config (CboxContext *ctx, gboolean *ret_card_nodes, GError **error)
{
  if (!cbox_context_get_boolean (ctx, "card-nodes", TRUE, ret_card_nodes, error))
    {
      g_prefix_error (error, "dri: ");
      return FALSE;
    }
  return TRUE;
}

static void
dri_describe_gpus (const CboxDriScan *scan, CboxProbeResult *result)
{
  guint gpu = 0;

  for (guint d = 0; d < scan->pci_dirs->len; d++)
    {
      const char *dir = g_ptr_array_index (scan->pci_dirs, d);
      g_autoptr (GString) line = g_string_new (NULL);
      const char *driver = NULL;
      const char *vendor = NULL;
      const char *device = NULL;
      g_autoptr (GString) nodes = g_string_new (NULL);
      g_autofree char *slot = g_path_get_basename (dir);
      g_autofree char *key = NULL;

      for (guint i = 0; i < scan->nodes->len; i++)
        {
          CboxDriNode *node = g_ptr_array_index (scan->nodes, i);
          if (g_strcmp0 (node->pci_dir, dir) != 0)
            continue;
          driver = driver != NULL ? driver : node->driver;
          vendor = vendor != NULL ? vendor : node->vendor;
          device = device != NULL ? device : node->device;
          g_string_append_printf (nodes, "%s%s", nodes->len > 0 ? " " : "", node->name);
        }
      g_string_append (line, slot);
      if (vendor != NULL && device != NULL)
        g_string_append_printf (line, " [%s:%s]",
                                vendor + (g_str_has_prefix (vendor, "0x") ? 2 : 0),
                                device + (g_str_has_prefix (device, "0x") ? 2 : 0));
      if (driver != NULL)
        g_string_append_printf (line, " driver %s", driver);
      if (nodes->len > 0)
        g_string_append_printf (line, " (%s)", nodes->str);
      key = g_strdup_printf ("gpu%u", gpu++);
      cbox_probe_result_add_detail (result, key, "%s", line->str);
    }
}

static gboolean
dri_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  gboolean card_nodes;
  g_autoptr (CboxDriScan) scan = NULL;
  guint n_render, n_card, n_nvidia, n_kfd;

  if (!dri_read_config (ctx, &card_nodes, error))
    return FALSE;
  scan = cbox_dri_scan (host, card_nodes, TRUE);
  n_render = cbox_dri_scan_count (scan, CBOX_DRI_NODE_RENDER);
  n_card = cbox_dri_scan_count (scan, CBOX_DRI_NODE_CARD);
  n_nvidia = cbox_dri_scan_count (scan, CBOX_DRI_NODE_NVIDIA);
  n_kfd = cbox_dri_scan_count (scan, CBOX_DRI_NODE_KFD);

  if (scan->nodes->len == 0)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                    "no GPU device nodes: nothing under /dev/dri, no "
                                    "/dev/nvidiactl, no /dev/kfd (is a GPU driver loaded?)");
      return TRUE;
    }

  cbox_probe_result_add_detail (result, "nodes", "%u render, %u card, %u nvidia, %u kfd", n_render,
                                n_card, n_nvidia, n_kfd);
  dri_describe_gpus (scan, result);
  if (scan->nvidia_version != NULL)
    cbox_probe_result_add_detail (result, "nvidia", "driver %s, %u GPU%s", scan->nvidia_version,
                                  scan->n_nvidia_gpus, scan->n_nvidia_gpus == 1 ? "" : "s");
  if (scan->libdrm_detail != NULL)
    cbox_probe_result_add_detail (result, "libdrm", "%s", scan->libdrm_detail);
  if (scan->opengl_driver)
    cbox_probe_result_add_detail (result, "opengl-driver", "/run/opengl-driver%s%s",
                                  scan->opengl_driver_target != NULL ? " -> " : "",
                                  scan->opengl_driver_target != NULL ? scan->opengl_driver_target
                                                                     : "");

  if (n_render == 0 && n_nvidia == 0 && n_kfd == 0)
    cbox_probe_result_set_status (result, CBOX_PROBE_DEGRADED,
                                  "only card nodes under /dev/dri, no render node "
                                  "(clients that need rendering may fail)");
  else
    cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);

  cbox_context_set_data (ctx, g_steal_pointer (&scan), (GDestroyNotify)cbox_dri_scan_free);
  return TRUE;
}

static void
dri_add_dev (CboxPlan *plan, const CboxHost *host, const char *path)
{
  g_autofree char *src = cbox_host_resolve (host, path);
  cbox_plan_add_bind_dev (plan, src, path, CBOX_MOUNT_FLAG_NONE);
}

static void
dri_add_ro (CboxPlan *plan, const CboxHost *host, const char *path)
{
  g_autofree char *src = cbox_host_resolve (host, path);
  cbox_plan_add_bind_ro (plan, src, path, CBOX_MOUNT_FLAG_NONE);
}

static gboolean
dri_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  CboxDriScan *scan = cbox_context_get_data (ctx);
  g_autoptr (CboxDriScan) own_scan = NULL;
  guint n_sys_char = 0;

  if (scan == NULL)
    {
      gboolean card_nodes;
      if (!dri_read_config (ctx, &card_nodes, error))
        return FALSE;
      scan = own_scan = cbox_dri_scan (host, card_nodes, FALSE);
    }

  /* Device nodes are bound one by one, not /dev/dri whole, so a node that
   * appears later (a hot-plugged GPU, a new card) does not appear inside,
   * and so the card nodes stay out when [dri] card-nodes=false. Access to
   * a render node is access to the GPU's compute and memory (within what
   * the kernel driver isolates between clients); a card node adds mode
   * setting, which the kernel grants only to the DRM master (the
   * compositor), so a sandboxed client cannot take the display over. */
  for (guint i = 0; i < scan->nodes->len; i++)
    {
      CboxDriNode *node = g_ptr_array_index (scan->nodes, i);
      dri_add_dev (plan, host, node->path);
    }

  /* Mesa and libdrm look a node up in sysfs by its device number
   * (/sys/dev/char/MAJ:MIN -> ../../devices/...), then read the PCI ids of
   * its "device"; CUDA and NVML read /sys/module/nvidia and
   * /sys/bus/pci/devices. Only those entries are given, read-only: the
   * rest of /sys (other devices, the firmware, the kernel's knobs) stays
   * out. The links keep the host's relative text so they resolve inside
   * exactly as on the host. */
  for (guint i = 0; i < scan->pci_dirs->len; i++)
    dri_add_ro (plan, host, g_ptr_array_index (scan->pci_dirs, i));
  for (guint i = 0; i < scan->sys_dirs->len; i++)
    dri_add_ro (plan, host, g_ptr_array_index (scan->sys_dirs, i));
  for (guint i = 0; i < scan->nodes->len; i++)
    {
      CboxDriNode *node = g_ptr_array_index (scan->nodes, i);
      if (node->sys_char != NULL)
        {
          cbox_plan_add_symlink (plan, node->sys_char_target, node->sys_char);
          n_sys_char++;
        }
    }
  for (guint i = 0; i + 1 < scan->sys_links->len; i += 2)
    cbox_plan_add_symlink (plan, g_ptr_array_index (scan->sys_links, i + 1),
                           g_ptr_array_index (scan->sys_links, i));

  if (scan->opengl_driver)
    {
      /* On NixOS the drivers live in the store, which the base plan binds:
       * the link is enough. */
      if (scan->opengl_driver_target != NULL)
        cbox_plan_add_symlink (plan, scan->opengl_driver_target, "/run/opengl-driver");
      else
        dri_add_ro (plan, host, "/run/opengl-driver");
    }

  cbox_plan_add_note (plan, "%u device node%s, %u PCI device%s, %u sysfs link%s", scan->nodes->len,
                      scan->nodes->len == 1 ? "" : "s", scan->pci_dirs->len,
                      scan->pci_dirs->len == 1 ? "" : "s", n_sys_char, n_sys_char == 1 ? "" : "s");
  if (scan->nvidia_version != NULL)
    cbox_plan_add_note (plan,
                        "NVIDIA driver %s: the sandbox needs the matching user-space "
                        "libraries (libcuda, libnvidia-*) from its /usr",
                        scan->nvidia_version);
  return TRUE;
}

static const CboxForwarderVTable dri_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = dri_probe,
  .contribute = dri_contribute,
};

/* Every key of [dri] (docs/config.md lists them from here). */
static const CboxPluginKey dri_config_keys[] = {
  { .name = "card-nodes",
    .type = CBOX_PLUGIN_KEY_BOOLEAN,
    .description = "also forward /dev/dri/card* (not only the render nodes)",
    .default_value = "true" },
  { NULL },
};

CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "dri", .version = "1.0",
                    .description
                    = "GPU device nodes (DRM render/card, NVIDIA, AMD KFD) and their sysfs entries",
                    .aliases = CBOX_STRV ("gpu"),
                    .features = CBOX_FEATURE_DEVICE | CBOX_FEATURE_BIND | CBOX_FEATURE_SYMLINK,
                    .forwarder = &dri_vtable, .keys = dri_config_keys)

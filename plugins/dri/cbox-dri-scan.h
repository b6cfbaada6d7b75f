/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The dri plugin's scan of /dev and /sys, shared with its unit tests. */

#include <cbox/cbox-host.h>

G_BEGIN_DECLS

typedef enum
{
  CBOX_DRI_NODE_RENDER,
  CBOX_DRI_NODE_CARD,
  CBOX_DRI_NODE_NVIDIA,
  CBOX_DRI_NODE_KFD,
} CboxDriNodeKind;

typedef struct
{
  CboxDriNodeKind kind;
  char *name; /* "renderD128" */
  char *path; /* host path without the root prefix: "/dev/dri/renderD128" */
  gboolean has_devnum;
  guint major, minor;
  char *sys_char;        /* "/sys/dev/char/226:128" when it exists, else NULL */
  char *sys_char_target; /* its link text on the host */
  char *pci_dir;         /* "/sys/devices/pci0000:00/0000:00:02.0" or NULL */
  char *pci_slot;        /* "0000:00:02.0" */
  char *driver;          /* "i915", or NULL */
  char *vendor, *device; /* "0x8086", "0x46a6", or NULL */
} CboxDriNode;

typedef struct
{
  GPtrArray *nodes;     /* CboxDriNode: render, card, then /dev nodes */
  GPtrArray *pci_dirs;  /* host paths of PCI device directories, unique */
  GPtrArray *sys_dirs;  /* other /sys directories: /sys/module/nvidia*, KFD */
  GPtrArray *sys_links; /* alternating dest, link text: /sys/bus/pci/devices/..., */
  guint n_nvidia_gpus;
  char *nvidia_version;
  gboolean opengl_driver; /* NixOS /run/opengl-driver */
  char *opengl_driver_target;
  char *libdrm_detail;
} CboxDriScan;

/* Scans the host under its root. libdrm is asked for detail only when
 * @use_libdrm and the root is "/" (it only sees the real /dev). */
CboxDriScan *cbox_dri_scan (const CboxHost *host, gboolean card_nodes, gboolean use_libdrm);
void cbox_dri_scan_free (CboxDriScan *scan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxDriScan, cbox_dri_scan_free)
guint cbox_dri_scan_count (const CboxDriScan *scan, CboxDriNodeKind kind);

G_END_DECLS

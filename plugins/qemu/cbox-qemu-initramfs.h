/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <cbox/cbox-plugin.h>

G_BEGIN_DECLS

/* The guest kernel's command line (the quiet variant appends " quiet
 * loglevel=2"). Besides the console on ttyS0 and panic = power off:
 * tsc=reliable and no_timer_check skip clock checks a VM of seconds does
 * not need, lpj skips the delay-loop calibration, cryptomgr.notests skips
 * the crypto self-tests; together about a tenth of a TCG boot. The
 * benchmark's floor boots with the same line (cbox-qemu-tool cmdline). */
#define CBOX_QEMU_KERNEL_CMDLINE                                                                   \
  "console=ttyS0 panic=-1 rdinit=/init 8250.nr_uarts=1 tsc=reliable no_timer_check "               \
  "lpj=1000000 cryptomgr.notests"
#define CBOX_QEMU_KERNEL_CMDLINE_QUIET CBOX_QEMU_KERNEL_CMDLINE " quiet loglevel=2"

/* The kernel a VM boots: an image already on the host, and the module tree
 * that belongs to it. */
typedef struct
{
  char *image;       /* host path of the bzImage */
  char *release;     /* "6.1.0-56-amd64" */
  char *modules_dir; /* host path of lib/modules/RELEASE, or NULL when absent */
  char *how;         /* why this one: "[qemu] kernel", "running kernel", ... */
} CboxQemuKernel;

void cbox_qemu_kernel_free (CboxQemuKernel *kernel);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxQemuKernel, cbox_qemu_kernel_free)

/* The release string a bzImage carries in its setup header ("6.1.0-56-amd64
 * (debian-kernel@...) #1 SMP ..." -> "6.1.0-56-amd64"); NULL with @error when
 * @image is no bzImage or unreadable. */
char *cbox_qemu_kernel_image_release (const char *image, GError **error);

/* Finds the kernel, in this order: @configured (config "[qemu] kernel"), on
 * NixOS /run/current-system/kernel, /boot/vmlinuz-@running_release, the
 * newest /boot/vmlinuz-*. Host paths go through cbox_host_resolve(), so a
 * test can point the host at a fake tree. CBOX_ERROR_UNAVAILABLE with what
 * to do when none is usable. */
gboolean cbox_qemu_find_kernel (const CboxHost *host, const char *configured,
                                const char *running_release, CboxQemuKernel **ret_kernel,
                                GError **error);

/* The host paths of @wanted modules ("9p", "virtio_pci") and of everything
 * they depend on, in load order, from @modules_dir/modules.dep. Modules
 * built into the kernel (modules.builtin) are left out; a module that is
 * neither is an error naming it. */
gboolean cbox_qemu_resolve_modules (const char *modules_dir, const char *const *wanted,
                                    GPtrArray **ret_paths, GError **error);

/* The content of a module file, decompressed when it is a .ko.gz, .ko.xz or
 * .ko.zst (the guest's init then loads plain ELF objects, whatever the
 * kernel's own decompression support). */
GBytes *cbox_qemu_read_module (const char *path, GError **error);

/* The modules every cbox VM loads: the virtio transports, the console
 * ports, 9p, virtiofs and the network card. */
const char *const *cbox_qemu_wanted_modules (void);
/* The modules of a window (virtio-gpu), loaded only when one is asked. */
const char *const *cbox_qemu_display_modules (void);

/* The cached initramfs for @kernel holding @init_path (and, with
 * @display, the modules of a window): its path under @cache_dir (named
 * after a hash of everything that goes in, so a new kernel, module or init
 * gets a new file). Computes the name only. */
char *cbox_qemu_initramfs_path (const CboxQemuKernel *kernel, const char *init_path,
                                gboolean display, const char *cache_dir, GError **error);
/* Writes the initramfs at @path unless it is there already (atomically:
 * concurrent runs may race to build it). With @display it also holds the
 * modules of a window (virtio-gpu, drm: about 2 MB more, which is why
 * runs without a window boot the smaller one). */
gboolean cbox_qemu_initramfs_ensure (const CboxQemuKernel *kernel, const char *init_path,
                                     gboolean display, const char *path, GError **error);
/* An initramfs whose init is @init_path alone (no modules): the benchmark's
 * floor. */
gboolean cbox_qemu_initramfs_write_minimal (const char *init_path, const char *path,
                                            GError **error);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The one seccomp filter of every backend (see cbox-seccomp.c for what it
 * refuses and why). Plain C, no GLib: cbox-exec, the qemu guest's init and
 * cbox-enter use it. */

/* The filter's variants: the exception a profile may ask for. */
typedef enum
{
  CBOX_SECCOMP_DEFAULT = 0,
  /* New user namespaces (and the mount and namespace calls that are only
   * of use inside one) allowed: for programs that sandbox themselves. */
  CBOX_SECCOMP_ALLOW_USERNS = 1,
} CboxSeccompVariant;

/* Writes the filter @variant as classic BPF (a struct sock_filter array)
 * to @fd. 0, or a negative errno with *@ret_what naming the libseccomp
 * call that failed. Needs libseccomp: meson runs it at build time
 * (cbox-seccomp-gen) where it can. */
int cbox_seccomp_export (int fd, CboxSeccompVariant variant, const char **ret_what);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "cbox-seccomp.h"

/* What every backend's sandbox does last before it execs the command (see
 * cbox-confine.c): a fresh session keyring, no capability (bounding set,
 * ambient, permitted), no_new_privs, the seccomp filter @variant. Plain C
 * for cbox-exec, the qemu guest's init and cbox-enter. 0, or a negative
 * errno with *@ret_what naming the step that failed. */
int cbox_confine (CboxSeccompVariant variant, const char **ret_what);

/* Landlock scopes (Linux 6.12, Landlock ABI 6): the values of the kernel's
 * LANDLOCK_SCOPE_*, which Debian 12's headers do not have yet. */
#define CBOX_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1u << 0)
#define CBOX_LANDLOCK_SCOPE_SIGNAL (1u << 1)
/* The kernel's Landlock ABI version: 0 without Landlock (not built in, or
 * off at boot), else 1, 2, ...; scopes need 6. */
int cbox_confine_landlock_abi (void);
/* cbox_confine() with the Landlock @scopes applied too (after
 * no_new_privs, before the seccomp filter), where the kernel has them:
 * on a kernel whose Landlock ABI is below 6, nothing (the scope is a
 * second layer, see cbox-confine.c). */
int cbox_confine_scoped (CboxSeccompVariant variant, unsigned int scopes, const char **ret_what);

/* Only the seccomp filter @variant (no_new_privs must be set, or the
 * caller hold CAP_SYS_ADMIN). */
int cbox_confine_load_seccomp (CboxSeccompVariant variant, const char **ret_what);

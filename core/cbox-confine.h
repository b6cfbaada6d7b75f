/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "cbox-seccomp.h"

/* What every backend's sandbox does last before it execs the command (see
 * cbox-confine.c): a fresh session keyring, no capability (bounding set,
 * ambient, permitted), no_new_privs, the seccomp filter @variant. Plain C
 * for cbox-exec, the qemu guest's init and cbox-enter. 0, or a negative
 * errno with *@ret_what naming the step that failed. */
int cbox_confine (CboxSeccompVariant variant, const char **ret_what);

/* Only the seccomp filter @variant (no_new_privs must be set, or the
 * caller hold CAP_SYS_ADMIN). */
int cbox_confine_load_seccomp (CboxSeccompVariant variant, const char **ret_what);

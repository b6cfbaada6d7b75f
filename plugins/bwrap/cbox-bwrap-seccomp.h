/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Writes the terminal-injection filter as classic BPF (what `bwrap
 * --seccomp FD` reads) to @fd. 0, or a negative errno with *@ret_what
 * naming the libseccomp call that failed. */
int cbox_bwrap_seccomp_export (int fd, const char **ret_what);

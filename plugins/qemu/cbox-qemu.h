/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Internal to the qemu backend: shared by its source files and its tests. */

#include <cbox/cbox-plugin.h>

#include "cbox-qemu-initramfs.h"

G_BEGIN_DECLS

/* The fds QEMU inherits, at these numbers (its -chardev socket,fd=N). */
#define CBOX_QEMU_FD_CONTROL 3 /* virtio-serial "cbox.control": alive, exit N, fail MSG */
#define CBOX_QEMU_FD_LOG 4     /* the serial port ttyS0: kernel messages */
#define CBOX_QEMU_FD_CONSOLE 5 /* tty mode: hvc0; stream mode: "cbox.stdin" */
#define CBOX_QEMU_FD_STDOUT 6  /* stream mode: "cbox.stdout" */
#define CBOX_QEMU_FD_STDERR 7  /* stream mode: "cbox.stderr" */

typedef enum
{
  CBOX_QEMU_ACCEL_AUTO,
  CBOX_QEMU_ACCEL_KVM,
  CBOX_QEMU_ACCEL_TCG,
} CboxQemuAccel;

/* A host directory given to the guest as one 9p or virtiofs device. */
typedef struct
{
  char *tag;  /* "cbox3" */
  char *path; /* host directory */
  gboolean ro;
  gboolean virtiofs;
  char *socket; /* virtiofs: the vhost-user socket in the run directory */
} CboxQemuShare;

/* A DATA item of the plan, copied into the metadata share at launch. */
typedef struct
{
  int fd;     /* the plan's sealed memfd (not owned), or -1 */
  char *path; /* else: a host file copied in (a read-only file bind) */
  char *name; /* file name in the metadata share: "data3" */
} CboxQemuData;

typedef struct
{
  /* probe */
  CboxQemuKernel *kernel;
  char *kernel_error;
  char *qemu;
  char *init_path;
  char *virtiofsd;
  char *cache_dir;
  char *kvm_verdict_path;
  gboolean kvm_opens;
  gboolean kvm_broken; /* cached verdict: a guest hangs under KVM here */
  char *kvm_failure;   /* why the last KVM boot was given up */
  CboxQemuAccel accel_config;
  char *machine; /* "q35" or "microvm" */
  char *cpu;     /* [qemu] cpu, or NULL: host (KVM), max (TCG) */
  guint memory_mb;
  guint cpus;
  guint kvm_timeout_s;
  guint boot_timeout_s;
  /* realize */
  char *run_base; /* $XDG_RUNTIME_DIR/cbox-qemu */
  char *run_dir;  /* run_base/INSTANCE */
  char *initramfs;
  gboolean tty;
  gboolean verbose;
  gboolean network;
  GPtrArray *shares; /* CboxQemuShare */
  GPtrArray *data;   /* CboxQemuData */
  GString *meta;     /* the plan file of the metadata share */
  /* Host paths the plan covers inside a shared folder (a tmpfs over
   * /etc/ssl/private, /dev/null over /etc/shadow), NULL-terminated, and
   * for each whether it is a folder: QEMU and virtiofsd run with them
   * hidden (cbox_qemu_hide_covered()). Set by realize. */
  char **hidden;
  gboolean *hidden_is_dir;
  char *empty_file; /* run_dir/empty, bound over hidden files */
} CboxQemuState;

void cbox_qemu_state_free (CboxQemuState *state);
/* In a child about to exec QEMU or virtiofsd, as root: a mount namespace
 * of its own in which every path of @state->hidden is covered (an empty
 * read-only tmpfs, or @state->empty_file), so no share reaches what the
 * plan hides. Async-signal-safe (system calls only). 0, or a negative
 * errno; 0 with nothing done when not root or nothing is hidden. */
int cbox_qemu_hide_covered (const CboxQemuState *state);

/* The qemu argv for @state with @accel (KVM or TCG). */
char **cbox_qemu_build_argv (CboxQemuState *state, CboxQemuAccel accel);

/* The run directory's life: create (with its lock held in @ret_lock_fd),
 * remove, and sweep those whose run died. */
gboolean cbox_qemu_run_dir_create (CboxQemuState *state, int *ret_lock_fd, GError **error);
void cbox_qemu_run_dir_remove (const char *run_dir);
void cbox_qemu_sweep_stale (const char *run_base);

/* The backend's run vfunc (cbox-qemu-run.c). */
gboolean cbox_qemu_run (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, int *ret_status,
                        GError **error);

/* The cached KVM verdict. */
gboolean cbox_qemu_kvm_verdict_is_broken (const char *verdict_path);
gboolean cbox_qemu_kvm_verdict_write_broken (const char *verdict_path, GError **error);

/* Appends one netstring field to the metadata. */
void cbox_qemu_meta_add (GString *meta, const char *field);

/* "2G", "2048M", "2048" (MiB) -> MiB. */
gboolean cbox_qemu_parse_memory (const char *text, guint *ret_mb, GError **error);

G_END_DECLS

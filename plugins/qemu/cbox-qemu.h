/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Internal to the qemu backend: shared by its source files and its tests. */

#include <cbox/cbox-plugin.h>

#include "cbox-qemu-initramfs.h"

G_BEGIN_DECLS

/* The fds QEMU inherits, at these numbers (its -chardev socket,fd=N). */
#define CBOX_QEMU_FD_CONTROL 3 /* virtio-serial "cbox.control": alive, exit N, fail MSG */
#define CBOX_QEMU_FD_LOG 4     /* the serial port ttyS0: kernel messages, init marks */
#define CBOX_QEMU_FD_CONSOLE 5 /* hvc0: the streams that are a terminal on the host */
#define CBOX_QEMU_FD_STDIN 6   /* "cbox.stdin", when stdin is a pipe or file */
#define CBOX_QEMU_FD_STDOUT 7  /* "cbox.stdout", likewise */
#define CBOX_QEMU_FD_STDERR 8  /* "cbox.stderr", likewise */
#define CBOX_QEMU_N_CHANNELS 6 /* control, log, console, stdin, stdout, stderr */
#define CBOX_QEMU_FD_SOCKET0 9 /* "cbox.sock.N" at 9 + N: the relay of socket N */
#define CBOX_QEMU_MAX_SOCKETS 16
/* The network (--network=on): a stream socket to passt (-netdev stream) */
#define CBOX_QEMU_FD_NET (CBOX_QEMU_FD_SOCKET0 + CBOX_QEMU_MAX_SOCKETS)

/* The relay frames on a "cbox.sock.N" port: two native 32-bit words,
 * connection id and length, then the bytes; length 0 closes the
 * connection, CBOX_QEMU_FRAME_OPEN opens it (the guest's init has the same). */
#define CBOX_QEMU_FRAME_OPEN 0xffffffffu
#define CBOX_QEMU_FRAME_MAX 65536

/* What each of cbox's stdin, stdout and stderr is, and so what the command's
 * is inside: the same kind of thing, never another file. */
/* Where the guest reaches the allowlist's proxy (--network=allow/deny): an
 * address of QEMU's user-mode network that only forwards to it. */
#define CBOX_QEMU_PROXY_ADDRESS "10.0.2.100"

typedef enum
{
  CBOX_QEMU_STDIO_CLOSED, /* closed: closed inside too (EBADF) */
  CBOX_QEMU_STDIO_NULL,   /* /dev/null: the guest's own /dev/null */
  CBOX_QEMU_STDIO_TTY,    /* a terminal: the console hvc0, a tty inside */
  CBOX_QEMU_STDIO_PORT,   /* anything else (pipe, file, socket): a virtio-serial port */
} CboxQemuStdio;

CboxQemuStdio cbox_qemu_stdio_kind (int fd);
const char *cbox_qemu_stdio_to_string (CboxQemuStdio kind);

typedef enum
{
  CBOX_QEMU_ACCEL_AUTO,
  CBOX_QEMU_ACCEL_KVM,
  CBOX_QEMU_ACCEL_TCG,
} CboxQemuAccel;

typedef struct _CboxQemuState CboxQemuState;

/* A host directory given to the guest as one 9p or virtiofs device. */
typedef struct
{
  char *tag;  /* "cbox3", or "cbox-ro" / "cbox-rw" for a staging export */
  char *path; /* host directory */
  gboolean ro;
  gboolean virtiofs;
  char *socket;      /* virtiofs: the vhost-user socket in the run directory */
  GPtrArray *staged; /* a staging export (as root): CboxQemuStaged, else NULL */
} CboxQemuShare;

/* One bind source inside a staging export: bound (in QEMU's and
 * virtiofsd's own mount namespace only) on PATH/NAME of its share. */
typedef struct
{
  char *source; /* host path, resolved */
  char *name;   /* "3" */
  char *target; /* PATH/NAME of its share */
  gboolean is_dir;
  int fd; /* in the child only: an O_PATH fd of @source, taken before the covers */
} CboxQemuStaged;

/* The child setup of QEMU and virtiofsd, as root: a mount namespace of
 * their own in which the covered host paths are hidden and every staged
 * source is bound into place. Async-signal safe: runs between fork and
 * exec; exits the child (125, with a message) when it cannot. */
void cbox_qemu_enter_mounts (const CboxQemuState *state);

/* A DATA item of the plan, copied into the metadata share at launch. */
typedef struct
{
  int fd;     /* the plan's sealed memfd (not owned), or -1 */
  char *path; /* else: a host file copied in (a read-only file bind) */
  char *name; /* file name in the metadata share: "data3" */
} CboxQemuData;

struct _CboxQemuState
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
  gboolean tty;           /* one of the streams is a terminal: hvc0 exists */
  CboxQemuStdio stdio[3]; /* stdin, stdout, stderr */
  gboolean verbose;
  gboolean network;
  /* --network=allow/deny: the guest's only way out is the proxy, reached
   * at CBOX_QEMU_PROXY_ADDRESS:CBOX_NET_PROXY_PORT (cbox-qemu-run.c) */
  char *proxy_relay;  /* "cbox-netproxy --relay=SOCKET" for QEMU's guestfwd, or NULL */
  char *proxy_socket; /* run_dir/netproxy.sock */
  gboolean staging;   /* all binds travel over at most two exports (root, or userns) */
  gboolean userns;    /* not root: staging in a user namespace of QEMU's own */
  GPtrArray *shares;  /* CboxQemuShare */
  GPtrArray *data;    /* CboxQemuData */
  GPtrArray *sockets; /* host unix sockets relayed to the guest (char *) */
  uid_t uid;          /* the plan's user: the relay connects as this user */
  gid_t gid;
  GString *meta; /* the plan file of the metadata share */
  /* Host paths the plan covers inside a shared folder (a tmpfs over
   * /etc/ssl/private, /dev/null over /etc/shadow), NULL-terminated, and
   * for each whether it is a folder: QEMU and virtiofsd run with them
   * hidden (cbox_qemu_hide_covered()). Set by realize. */
  char **hidden;
  gboolean *hidden_is_dir;
  char *empty_file; /* run_dir/empty, bound over hidden files */
  char *passt;      /* the network helper of --network=on, or NULL */
  /* --publish: passt's -t arguments ("127.0.0.1/HOST:GUEST"), one per
   * published port, and the host ports it must be seen to listen on */
  GPtrArray *publish;    /* char * */
  GArray *publish_ports; /* guint16 */
  /* A window (issue 19): a display forwarder was asked, so the guest gets
   * a virtio-gpu and an X server of its own, shown by QEMU on the host's
   * display ("gtk,gl=off" or "sdl,gl=off"); NULL: no display at all. */
  char *display;
  char **qemu_env; /* QEMU's environment (the host display's variables with a window) */
};

void cbox_qemu_state_free (CboxQemuState *state);
/* In a child about to exec QEMU or virtiofsd, as root: a mount namespace
 * of its own in which every path of @state->hidden is covered (an empty
 * read-only tmpfs, or @state->empty_file), so no share reaches what the
 * plan hides. Async-signal-safe (system calls only). 0, or a negative
 * errno; 0 with nothing done when not root or nothing is hidden. */
int cbox_qemu_hide_covered (const CboxQemuState *state);
/* The same covers, in the mount namespace the caller already has. */
int cbox_qemu_apply_covers (const CboxQemuState *state);

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

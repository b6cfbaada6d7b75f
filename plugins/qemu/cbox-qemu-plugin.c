/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The qemu backend: the plan runs in a virtual machine that boots a kernel
 * already on the host, with an initramfs cbox writes itself (its own init,
 * cbox-qemu-init.c, and the kernel modules it needs). Every bind of the
 * plan becomes a 9p or virtiofs share, everything else (tmpfs, dirs,
 * symlinks, data files) is made by the init from a metadata share. See
 * README.md beside this file. */

#include "cbox-qemu-config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cbox-qemu.h"

void
cbox_qemu_state_free (CboxQemuState *state)
{
  if (state == NULL)
    return;
  cbox_qemu_kernel_free (state->kernel);
  g_free (state->kernel_error);
  g_free (state->qemu);
  g_free (state->init_path);
  g_free (state->virtiofsd);
  g_free (state->passt);
  g_free (state->cache_dir);
  g_free (state->kvm_verdict_path);
  g_free (state->kvm_failure);
  g_free (state->machine);
  g_free (state->cpu);
  g_free (state->run_base);
  g_free (state->run_dir);
  g_free (state->proxy_relay);
  g_free (state->proxy_socket);
  g_free (state->initramfs);
  g_clear_pointer (&state->shares, g_ptr_array_unref);
  g_clear_pointer (&state->data, g_ptr_array_unref);
  g_strfreev (state->hidden);
  g_free (state->hidden_is_dir);
  g_free (state->empty_file);
  g_free (state->display);
  g_strfreev (state->qemu_env);
  g_clear_pointer (&state->sockets, g_ptr_array_unref);
  g_clear_pointer (&state->publish, g_ptr_array_unref);
  g_clear_pointer (&state->publish_ports, g_array_unref);
  if (state->meta != NULL)
    g_string_free (state->meta, TRUE);
  g_free (state);
}

static void
cbox_qemu_share_free (CboxQemuShare *share)
{
  g_free (share->tag);
  g_free (share->path);
  g_free (share->socket);
  g_clear_pointer (&share->staged, g_ptr_array_unref);
  g_free (share);
}

static void
cbox_qemu_staged_free (CboxQemuStaged *staged)
{
  g_free (staged->source);
  g_free (staged->name);
  g_free (staged->target);
  g_free (staged);
}

static void
cbox_qemu_data_free (CboxQemuData *data)
{
  g_free (data->name);
  g_free (data->path);
  g_free (data);
}

/* ---- small parsers --------------------------------------------------------- */

gboolean
cbox_qemu_parse_memory (const char *text, guint *ret_mb, GError **error)
{
  guint64 value;
  char *end = NULL;
  guint64 factor = 1;

  errno = 0;
  value = g_ascii_strtoull (text, &end, 10);
  if (errno == 0 && end != text)
    {
      if (g_ascii_strcasecmp (end, "") == 0 || g_ascii_strcasecmp (end, "M") == 0
          || g_ascii_strcasecmp (end, "MiB") == 0 || g_ascii_strcasecmp (end, "MB") == 0)
        factor = 1;
      else if (g_ascii_strcasecmp (end, "G") == 0 || g_ascii_strcasecmp (end, "GiB") == 0
               || g_ascii_strcasecmp (end, "GB") == 0)
        factor = 1024;
      else
        factor = 0;
    }
  if (errno != 0 || end == text || factor == 0 || value == 0 || value * factor < 128
      || value * factor > 1024 * 1024)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "qemu: memory '%s' is not a size between 128M and 1024G (write 2G or 2048M)",
                   text);
      return FALSE;
    }
  *ret_mb = (guint)(value * factor);
  return TRUE;
}

static gboolean
cbox_qemu_config_uint (CboxContext *ctx, const char *key, guint min, guint max, guint *value,
                       GError **error)
{
  g_autofree char *text = cbox_context_get_string (ctx, key);
  guint64 parsed;

  if (text == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (g_strstrip (text), 10, min, max, &parsed, NULL))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                   "[qemu] %s=%s: give a whole number from %u to %u", key, text, min, max);
      return FALSE;
    }
  *value = (guint)parsed;
  return TRUE;
}

/* ---- the KVM verdict ------------------------------------------------------- */

static char *
cbox_qemu_host_kernel_release (void)
{
  struct utsname u;
  if (uname (&u) < 0)
    return g_strdup ("unknown");
  return g_strdup (u.release);
}

/* The verdict file holds a line and a comment. */
#define CBOX_QEMU_KVM_VERDICT_MAX_SIZE 4096

/* The verdict is kept per host kernel: a new host kernel (or a fixed
 * hypervisor below it, which usually comes with one) is tried again. */
gboolean
cbox_qemu_kvm_verdict_is_broken (const char *verdict_path)
{
  g_autofree char *content = NULL;
  g_autofree char *release = cbox_qemu_host_kernel_release ();
  g_autofree char *expected = g_strdup_printf ("broken %s\n", release);
  g_autoptr (CboxHost) real_root = NULL;
  g_autoptr (GBytes) bytes = NULL;

  /* The file lives under $XDG_CACHE_HOME: read it with
   * cbox_host_read_file(), which refuses a fifo or a device planted there
   * at once, where g_file_get_contents() would block or read without end.
   * It is cbox's own file, not a host file under a test's root prefix,
   * hence the real "/". Anything unreadable means no verdict: KVM is
   * tried, as with no file. */
  if (!g_path_is_absolute (verdict_path))
    return FALSE;
  real_root = cbox_host_new ();
  bytes = cbox_host_read_file (real_root, verdict_path, CBOX_QEMU_KVM_VERDICT_MAX_SIZE, NULL);
  if (bytes == NULL)
    return FALSE;
  content = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  return content != NULL && g_str_has_prefix (content, expected);
}

gboolean
cbox_qemu_kvm_verdict_write_broken (const char *verdict_path, GError **error)
{
  g_autofree char *release = cbox_qemu_host_kernel_release ();
  g_autofree char *content = g_strdup_printf (
      "broken %s\n# A Linux guest showed no sign of life under KVM on this host; cbox uses TCG.\n"
      "# Delete this file to try KVM again.\n",
      release);
  g_autofree char *dir = g_path_get_dirname (verdict_path);

  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "cannot create %s: %s", dir, g_strerror (saved_errno));
      return FALSE;
    }
  return g_file_set_contents (verdict_path, content, -1, error);
}

/* ---- finding the pieces ------------------------------------------------------- */

/* The init is installed in the libexec directory; in the build tree it sits
 * beside this plugin. */
static char *
cbox_qemu_find_init (CboxContext *ctx)
{
  g_autofree char *configured = cbox_context_get_string (ctx, "init");
  const char *libexec = cbox_context_get_libexec_dir (ctx);
  Dl_info info;

  if (configured != NULL)
    return g_steal_pointer (&configured);
  if (libexec != NULL)
    {
      g_autofree char *path = g_build_filename (libexec, "cbox-qemu-init", NULL);
      if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
        return g_steal_pointer (&path);
    }
  if (dladdr ((const void *)cbox_qemu_find_init, &info) != 0 && info.dli_fname != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (info.dli_fname);
      g_autofree char *path = g_build_filename (dir, "cbox-qemu-init", NULL);
      if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
        return g_steal_pointer (&path);
    }
  return NULL;
}

static char *
cbox_qemu_find_virtiofsd (CboxContext *ctx)
{
  g_autofree char *configured = cbox_context_get_string (ctx, "virtiofsd");
  static const char *const candidates[] = {
    "/usr/libexec/virtiofsd",
    "/usr/lib/qemu/virtiofsd",
    "/usr/lib/virtiofsd",
  };

  if (configured != NULL)
    return configured[0] != '\0' ? g_steal_pointer (&configured) : NULL;
  for (gsize i = 0; i < G_N_ELEMENTS (candidates); i++)
    if (g_file_test (candidates[i], G_FILE_TEST_IS_EXECUTABLE))
      return g_strdup (candidates[i]);
  return g_find_program_in_path ("virtiofsd");
}

static CboxQemuState *
cbox_qemu_get_state (CboxContext *ctx, GError **error)
{
  CboxQemuState *state = cbox_context_get_data (ctx);
  g_autoptr (GError) local_error = NULL;
  g_autofree char *accel = NULL;
  g_autofree char *memory = NULL;
  g_autofree char *machine = NULL;
  g_autofree char *kernel = NULL;
  g_autofree char *qemu = NULL;
  g_autofree char *release = NULL;
  int fd;

  if (state != NULL)
    return state;

  state = g_new0 (CboxQemuState, 1);
  state->memory_mb = 2048;
  state->cpus = 2;
  state->kvm_timeout_s = 20;
  state->boot_timeout_s = 300;
  cbox_context_set_data (ctx, state, (GDestroyNotify)cbox_qemu_state_free);

  accel = cbox_context_get_string (ctx, "accel");
  if (accel == NULL || g_str_equal (accel, "auto") || g_str_equal (accel, ""))
    state->accel_config = CBOX_QEMU_ACCEL_AUTO;
  else if (g_str_equal (accel, "kvm"))
    state->accel_config = CBOX_QEMU_ACCEL_KVM;
  else if (g_str_equal (accel, "tcg"))
    state->accel_config = CBOX_QEMU_ACCEL_TCG;
  else
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG, "[qemu] accel=%s: use kvm, tcg or auto",
                   accel);
      return NULL;
    }

  machine = cbox_context_get_string (ctx, "machine");
  /* q35 by default: on the machines this was measured on, microvm booted
   * no faster under TCG (it lacks a PIT to calibrate against and needs one
   * emulated), and q35 works with every distribution kernel. */
  if (machine == NULL || g_str_equal (machine, "auto") || g_str_equal (machine, ""))
    state->machine = g_strdup ("q35");
  else if (g_str_equal (machine, "q35") || g_str_equal (machine, "microvm"))
    state->machine = g_steal_pointer (&machine);
  else
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG, "[qemu] machine=%s: use q35 or microvm",
                   machine);
      return NULL;
    }

  memory = cbox_context_get_string (ctx, "memory");
  if (memory != NULL && !cbox_qemu_parse_memory (g_strstrip (memory), &state->memory_mb, error))
    return NULL;
  if (!cbox_qemu_config_uint (ctx, "cpus", 1, 256, &state->cpus, error)
      || !cbox_qemu_config_uint (ctx, "kvm-timeout", 1, 3600, &state->kvm_timeout_s, error)
      || !cbox_qemu_config_uint (ctx, "boot-timeout", 1, 36000, &state->boot_timeout_s, error))
    return NULL;

  state->cpu = cbox_context_get_string (ctx, "cpu");
  if (state->cpu != NULL && (state->cpu[0] == '\0' || g_str_equal (state->cpu, "auto")))
    g_clear_pointer (&state->cpu, g_free);

  qemu = cbox_context_get_string (ctx, "qemu");
  state->qemu
      = qemu != NULL ? g_steal_pointer (&qemu) : g_find_program_in_path ("qemu-system-x86_64");
  state->init_path = cbox_qemu_find_init (ctx);
  state->virtiofsd = cbox_qemu_find_virtiofsd (ctx);
  state->passt = g_find_program_in_path ("passt");
  state->cache_dir = g_build_filename (g_get_user_cache_dir (), "cbox", "qemu", NULL);
  state->kvm_verdict_path = g_build_filename (state->cache_dir, "kvm-verdict", NULL);

  kernel = cbox_context_get_string (ctx, "kernel");
  release = cbox_qemu_host_kernel_release ();
  if (!cbox_qemu_find_kernel (cbox_context_get_host (ctx), kernel, release, &state->kernel,
                              &local_error))
    {
      if (g_error_matches (local_error, CBOX_ERROR, CBOX_ERROR_CONFIG))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
      state->kernel_error = g_strdup (local_error->message);
    }

  fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  state->kvm_opens = fd >= 0;
  if (fd >= 0)
    close (fd);
  state->kvm_broken = cbox_qemu_kvm_verdict_is_broken (state->kvm_verdict_path);
  state->verbose = cbox_context_get_verbose (ctx);
  return state;
}

/* Which accelerator the first boot tries. */
static CboxQemuAccel
cbox_qemu_first_accel (CboxQemuState *state)
{
  if (state->accel_config != CBOX_QEMU_ACCEL_AUTO)
    return state->accel_config;
  return state->kvm_opens && !state->kvm_broken ? CBOX_QEMU_ACCEL_KVM : CBOX_QEMU_ACCEL_TCG;
}

/* ---- probe ----------------------------------------------------------------- */

static gboolean
cbox_qemu_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  CboxQemuState *state = cbox_qemu_get_state (ctx, error);
  CboxQemuAccel accel;

  if (state == NULL)
    return FALSE;
  if (state->qemu == NULL)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                    "qemu-system-x86_64 not found in PATH "
                                    "(apt install qemu-system-x86)");
      return TRUE;
    }
  cbox_probe_result_add_detail (result, "qemu", "%s", state->qemu);
  if (state->kernel == NULL)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE, "%s", state->kernel_error);
      return TRUE;
    }
  cbox_probe_result_add_detail (result, "kernel", "%s (%s)", state->kernel->image,
                                state->kernel->how);
  cbox_probe_result_add_detail (result, "kernel release", "%s", state->kernel->release);
  if (state->kernel->modules_dir == NULL)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                    "kernel %s: no modules directory lib/modules/%s on the host",
                                    state->kernel->image, state->kernel->release);
      return TRUE;
    }
  if (state->init_path == NULL)
    {
      cbox_probe_result_set_status (result, CBOX_PROBE_UNAVAILABLE,
                                    "cbox-qemu-init not found in %s nor beside the plugin "
                                    "(broken installation?)",
                                    cbox_context_get_libexec_dir (ctx));
      return TRUE;
    }
  cbox_probe_result_add_detail (result, "init", "%s", state->init_path);
  cbox_probe_result_add_detail (result, "machine", "%s", state->machine);
  cbox_probe_result_add_detail (result, "memory", "%u MiB", state->memory_mb);
  cbox_probe_result_add_detail (result, "cpus", "%u", state->cpus);
  cbox_probe_result_add_detail (result, "virtiofsd", "%s",
                                state->virtiofsd == NULL ? "none (writable shares use 9p)"
                                : geteuid () != 0 ? "not used: needs root (writable shares use 9p)"
                                                  : state->virtiofsd);
  cbox_probe_result_add_detail (result, "network helper", "%s",
                                state->passt != NULL
                                    ? state->passt
                                    : "passt missing: --network=on fails (apt install passt)");

  accel = cbox_qemu_first_accel (state);
  cbox_probe_result_add_detail (result, "accelerator", "%s",
                                accel == CBOX_QEMU_ACCEL_KVM ? "kvm" : "tcg");
  if (accel == CBOX_QEMU_ACCEL_KVM)
    cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, NULL);
  else if (state->accel_config == CBOX_QEMU_ACCEL_TCG)
    cbox_probe_result_set_status (result, CBOX_PROBE_DEGRADED, "TCG (configured): slow");
  else if (state->kvm_broken)
    cbox_probe_result_set_status (result, CBOX_PROBE_DEGRADED,
                                  "KVM did not run a guest on this host (verdict cached in "
                                  "%s), TCG: slow",
                                  state->kvm_verdict_path);
  else
    cbox_probe_result_set_status (result, CBOX_PROBE_DEGRADED, "no KVM, slow");
  return TRUE;
}

/* ---- realize ----------------------------------------------------------------- */

void
cbox_qemu_meta_add (GString *meta, const char *field)
{
  g_string_append_printf (meta, "%zu:", strlen (field));
  g_string_append (meta, field);
  g_string_append_c (meta, ',');
}

static void cbox_qemu_meta_addv (GString *meta, const char *first, ...) G_GNUC_NULL_TERMINATED;

static void
cbox_qemu_meta_addv (GString *meta, const char *first, ...)
{
  va_list ap;
  va_start (ap, first);
  for (const char *field = first; field != NULL; field = va_arg (ap, const char *))
    cbox_qemu_meta_add (meta, field);
  va_end (ap);
}

/* QEMU's option syntax: a comma inside a value is written twice. */
static char *
cbox_qemu_escape (const char *value)
{
  g_autoptr (GString) out = g_string_new (NULL);
  for (const char *p = value; *p; p++)
    {
      if (*p == ',')
        g_string_append_c (out, ',');
      g_string_append_c (out, *p);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Whether this user may make a user namespace with a mount namespace
 * (Debian's kernel.unprivileged_userns_clone, a distribution's AppArmor
 * rule, a container's seccomp may refuse it): tried once, in a child,
 * since unshare(CLONE_NEWUSER) also needs a single-threaded caller. */
static gboolean
cbox_qemu_userns_works (void)
{
  static int works = -1;
  pid_t pid;
  int status = 0;

  if (works >= 0)
    return works;
  pid = fork ();
  if (pid == 0)
    _exit (unshare (CLONE_NEWUSER | CLONE_NEWNS) == 0 ? 0 : 1);
  works = pid > 0 && waitpid (pid, &status, 0) == pid && WIFEXITED (status)
          && WEXITSTATUS (status) == 0;
  return works;
}

/* Past this many devices, q35's PCI slots run out (QEMU stops at the 28th
 * share); without staging (not root) a plan needing more is refused. */
#define CBOX_QEMU_MAX_SHARES 20

/* Without staging: one device per host directory. A directory inside one
 * already shared (same access) travels in it as a subpath, which widens
 * nothing. @ret_subpath: where the path is inside the share ("" for its
 * top). NULL (error set) when the devices would run out. */
static CboxQemuShare *
cbox_qemu_add_share (CboxQemuState *state, const char *path, gboolean ro, char **ret_subpath,
                     GError **error)
{
  CboxQemuShare *share;

  for (guint i = 0; i < state->shares->len; i++)
    {
      const char *rest;
      share = g_ptr_array_index (state->shares, i);
      if (share->ro != ro)
        continue;
      if (g_str_equal (share->path, path))
        {
          *ret_subpath = g_strdup ("");
          return share;
        }
      rest = g_str_has_prefix (path, share->path) ? path + strlen (share->path) : NULL;
      if (g_str_equal (share->path, "/") && rest != NULL)
        rest = path;
      if (rest != NULL && rest[0] == '/')
        {
          *ret_subpath = g_strdup (rest + 1);
          return share;
        }
    }
  if (state->shares->len >= CBOX_QEMU_MAX_SHARES)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                   "qemu: the plan binds more than %d separate host folders (%s is one too "
                   "many): without root each is a device of the VM, and their number is "
                   "bounded. Run as root (binds then travel over two shares), or bind a "
                   "common parent folder instead",
                   CBOX_QEMU_MAX_SHARES, path);
      return NULL;
    }
  share = g_new0 (CboxQemuShare, 1);
  /* 9p mount tags are at most 31 bytes: a counter, never the path. */
  share->tag = g_strdup_printf ("cbox%u", state->shares->len);
  share->path = g_strdup (path);
  share->ro = ro;
  /* virtiofs for writable shares: only it gives the guest coherent shared
   * mmap (SQLite's WAL) and full POSIX semantics. Debian's virtiofsd (the C
   * one of QEMU 7.2) needs root and has no read-only mode, so read-only
   * shares stay on 9p (QEMU enforces readonly=on itself), and unprivileged
   * runs use 9p throughout. */
  share->virtiofs = !ro && state->virtiofsd != NULL && geteuid () == 0;
  if (share->virtiofs)
    share->socket = g_strdup_printf ("%s/%s.sock", state->run_dir, share->tag);
  g_ptr_array_add (state->shares, share);
  *ret_subpath = g_strdup ("");
  return share;
}

/* The host paths @plan covers inside a folder it shares (see
 * CboxQemuState.hidden). A tmpfs or a /dev/null bind over a path inside a
 * 9p or virtiofs share hides it from the guest's processes only: the
 * share still reaches it, and QEMU (root when root runs cbox) reads it for
 * the guest's kernel, which the guest's root or a kernel exploit commands.
 * So the covered host paths are hidden from QEMU and virtiofsd
 * themselves. */
static void
cbox_qemu_find_covered (CboxQemuState *state, CboxPlan *plan)
{
  g_autoptr (GStrvBuilder) paths = g_strv_builder_new ();
  g_autoptr (GArray) is_dir = g_array_new (FALSE, FALSE, sizeof (gboolean));

  for (guint j = 0; j < cbox_plan_get_n_mounts (plan); j++)
    {
      const CboxMount *cover = cbox_plan_get_mount (plan, j);
      gboolean covers = cover->kind == CBOX_MOUNT_TMPFS
                        || (cover->kind == CBOX_MOUNT_RO && cover->src != NULL
                            && g_str_equal (cover->src, "/dev/null"));

      if (!covers)
        continue;
      /* The last folder shared before it that holds it. */
      for (guint i = j; i-- > 0;)
        {
          const CboxMount *shared = cbox_plan_get_mount (plan, i);
          gsize len = strlen (shared->dest);
          g_autofree char *real = NULL;
          g_autofree char *host = NULL;
          struct stat st;

          if ((shared->kind != CBOX_MOUNT_RO && shared->kind != CBOX_MOUNT_RW)
              || shared->src == NULL || len < 2 || strncmp (cover->dest, shared->dest, len) != 0
              || cover->dest[len] != '/')
            continue;
          real = realpath (shared->src, NULL);
          if (real == NULL || stat (real, &st) < 0 || !S_ISDIR (st.st_mode))
            break;
          host = g_build_filename (real, cover->dest + len, NULL);
          if (lstat (host, &st) == 0 && (S_ISDIR (st.st_mode) || S_ISREG (st.st_mode)))
            {
              gboolean dir = S_ISDIR (st.st_mode);
              g_strv_builder_add (paths, host);
              g_array_append_val (is_dir, dir);
            }
          break;
        }
    }
  g_strfreev (state->hidden);
  g_free (state->hidden_is_dir);
  state->hidden = g_strv_builder_end (paths);
  state->hidden_is_dir = (gboolean *)(void *)g_array_free (g_steal_pointer (&is_dir), FALSE);
  g_free (state->empty_file);
  state->empty_file = g_build_filename (state->run_dir, "empty", NULL);
}

int
cbox_qemu_hide_covered (const CboxQemuState *state)
{
  if (geteuid () != 0 || state->hidden == NULL || state->hidden[0] == NULL)
    return 0;
  if (unshare (CLONE_NEWNS) < 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return -errno;
  return cbox_qemu_apply_covers (state);
}

int
cbox_qemu_apply_covers (const CboxQemuState *state)
{
  if (state->hidden == NULL)
    return 0;
  for (guint i = 0; state->hidden[i] != NULL; i++)
    {
      const char *path = state->hidden[i];

      if (state->hidden_is_dir[i])
        {
          if (mount ("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                     "mode=000,size=4k")
              < 0)
            return -errno;
        }
      /* nosuid, nodev, noexec as well: in a user namespace (not root) a
       * remount may not clear what the run directory's file system has. */
      else if (mount (state->empty_file, path, NULL, MS_BIND, NULL) < 0
               || mount (NULL, path, NULL,
                         MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)
                      < 0)
        return -errno;
    }
  return 0;
}

/* As root, every bind travels over one of two exports, whatever the plan
 * holds: "cbox-ro" (9p, readonly=on) and "cbox-rw" (virtiofs, else 9p).
 * Each is an empty staging directory in the run directory; QEMU and
 * virtiofsd start in a mount namespace of their own where each bind
 * source is bind-mounted on its numbered mount point there, by the host
 * kernel (cbox_qemu_enter_mounts). So the guest's exports hold exactly
 * the plan's sources (a single file is bound alone, not its folder), two
 * devices and at most one virtiofsd serve any number of binds, and the
 * host's own view never changes: the mounts die with those processes.
 * Returns the name of @source inside the export. */
static const char *
cbox_qemu_stage (CboxQemuState *state, const char *source, gboolean is_dir, gboolean ro,
                 CboxQemuShare **ret_share)
{
  const char *tag = ro ? "cbox-ro" : "cbox-rw";
  CboxQemuShare *share = NULL;
  CboxQemuStaged *staged;

  for (guint i = 0; i < state->shares->len && share == NULL; i++)
    if (g_str_equal (((CboxQemuShare *)g_ptr_array_index (state->shares, i))->tag, tag))
      share = g_ptr_array_index (state->shares, i);
  if (share == NULL)
    {
      share = g_new0 (CboxQemuShare, 1);
      share->tag = g_strdup (tag);
      share->path = g_build_filename (state->run_dir, ro ? "ro" : "rw", NULL);
      share->ro = ro;
      /* virtiofsd needs root (see cbox_qemu_add_share()). */
      share->virtiofs = !ro && state->virtiofsd != NULL && geteuid () == 0;
      if (share->virtiofs)
        share->socket = g_strdup_printf ("%s/%s.sock", state->run_dir, share->tag);
      share->staged = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_qemu_staged_free);
      g_ptr_array_add (state->shares, share);
    }
  *ret_share = share;
  for (guint i = 0; i < share->staged->len; i++)
    {
      staged = g_ptr_array_index (share->staged, i);
      if (g_str_equal (staged->source, source))
        return staged->name;
    }
  staged = g_new0 (CboxQemuStaged, 1);
  staged->source = g_strdup (source);
  staged->name = g_strdup_printf ("%u", share->staged->len);
  staged->target = g_build_filename (share->path, staged->name, NULL);
  staged->is_dir = is_dir;
  staged->fd = -1;
  g_ptr_array_add (share->staged, staged);
  return staged->name;
}

static gboolean
cbox_qemu_realize_mount (CboxQemuState *state, const CboxMount *mount, GError **error)
{
  switch (mount->kind)
    {
    case CBOX_MOUNT_RO:
    case CBOX_MOUNT_RW:
      {
        g_autofree char *real = NULL;
        gboolean ro = mount->kind == CBOX_MOUNT_RO;
        struct stat st;
        CboxQemuShare *share;

        if (stat (mount->src, &st) < 0)
          {
            int saved_errno = errno;
            if (mount->flags & CBOX_MOUNT_FLAG_ALLOW_MISSING)
              return TRUE;
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                         "qemu: cannot share %s (for %s, from %s): %s", mount->src, mount->dest,
                         mount->origin, g_strerror (saved_errno));
            return FALSE;
          }
        real = realpath (mount->src, NULL);
        if (real == NULL)
          {
            int saved_errno = errno;
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE, "qemu: cannot resolve %s: %s",
                         mount->src, g_strerror (saved_errno));
            return FALSE;
          }
        if (S_ISDIR (st.st_mode) || (state->staging && !ro))
          {
            g_autofree char *subpath = NULL;
            if (state->staging)
              subpath = g_strdup (cbox_qemu_stage (state, real, S_ISDIR (st.st_mode), ro, &share));
            else if ((share = cbox_qemu_add_share (state, real, ro, &subpath, error)) == NULL)
              return FALSE;
            cbox_qemu_meta_addv (state->meta, "share", share->tag,
                                 share->virtiofs ? "virtiofs" : "9p", mount->dest, ro ? "1" : "0",
                                 subpath, NULL);
          }
        else if (ro
                 && ((S_ISREG (st.st_mode) && st.st_size <= 16 * 1024 * 1024)
                     || (S_ISCHR (st.st_mode) && g_str_equal (real, "/dev/null"))))
          {
            /* A read-only file travels as a copy in the metadata share:
             * sharing its directory instead would hand the guest kernel
             * every sibling (all of /etc for /etc/resolv.conf). */
            CboxQemuData *data = g_new0 (CboxQemuData, 1);
            /* /dev/null hides a file (core/cbox-base.c): an empty file that
             * nobody but root may read, as the host's device would be on
             * the sandbox's nodev mounts. */
            g_autofree char *mode
                = g_strdup_printf ("%o", S_ISCHR (st.st_mode) ? 0 : st.st_mode & 0777);
            data->fd = -1;
            data->path = g_strdup (real);
            data->name = g_strdup_printf ("file%u", state->data->len);
            g_ptr_array_add (state->data, data);
            cbox_qemu_meta_addv (state->meta, "data", data->name, mount->dest, mode, "0", NULL);
          }
        else
          {
            /* 9p and virtiofs share directories: a single file travels as
             * its directory, mounted where the command cannot reach it,
             * with only the file bound into place. */
            g_autofree char *dir = g_path_get_dirname (real);
            g_autofree char *base = g_path_get_basename (real);
            g_autofree char *subpath = NULL;
            g_autofree char *file = NULL;
            if (state->staging)
              {
                subpath = g_strdup (cbox_qemu_stage (state, real, FALSE, ro, &share));
                file = g_steal_pointer (&subpath);
              }
            else
              {
                if ((share = cbox_qemu_add_share (state, dir, ro, &subpath, error)) == NULL)
                  return FALSE;
                file
                    = subpath[0] != '\0' ? g_build_filename (subpath, base, NULL) : g_strdup (base);
              }
            cbox_qemu_meta_addv (state->meta, "share", share->tag,
                                 share->virtiofs ? "virtiofs" : "9p", mount->dest, ro ? "1" : "0",
                                 file, NULL);
          }
        return TRUE;
      }
    case CBOX_MOUNT_TMPFS:
    case CBOX_MOUNT_DIR:
      {
        g_autofree char *mode = g_strdup_printf ("%o", mount->mode & 07777);
        cbox_qemu_meta_addv (state->meta, mount->kind == CBOX_MOUNT_TMPFS ? "tmpfs" : "dir",
                             mount->dest, mode, NULL);
        return TRUE;
      }
    case CBOX_MOUNT_SYMLINK:
      cbox_qemu_meta_addv (state->meta, "symlink", mount->src, mount->dest, NULL);
      return TRUE;
    case CBOX_MOUNT_DATA:
      {
        CboxQemuData *data = g_new0 (CboxQemuData, 1);
        g_autofree char *mode = g_strdup_printf ("%o", mount->mode & 07777);
        data->fd = mount->fd;
        data->name = g_strdup_printf ("data%u", state->data->len);
        g_ptr_array_add (state->data, data);
        cbox_qemu_meta_addv (state->meta, "data", data->name, mount->dest, mode,
                             (mount->flags & CBOX_MOUNT_FLAG_WRITABLE) ? "1" : "0", NULL);
        return TRUE;
      }
    case CBOX_MOUNT_SOCKET:
      {
        /* A host socket cannot cross into another kernel: the init listens
         * at the destination and cbox relays each connection to the host
         * socket over a port of its own (cbox-qemu-run.c). What the plan
         * binds is what is relayed: a filtering relay a forwarder puts in
         * front of the real socket applies as on bwrap. */
        if (state->sockets->len >= CBOX_QEMU_MAX_SOCKETS)
          {
            g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                         "qemu: more than %d unix sockets to relay (%s, from %s)",
                         CBOX_QEMU_MAX_SOCKETS, mount->src, mount->origin);
            return FALSE;
          }
        g_ptr_array_add (state->sockets, g_strdup (mount->src));
        cbox_qemu_meta_addv (state->meta, "socket", mount->dest, NULL);
        return TRUE;
      }
    case CBOX_MOUNT_DEV:
    default:
      /* The planner refuses forwarders that need these; this guards a plan
       * that reached the backend anyway. A device node cannot cross into
       * another kernel. */
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                   "qemu: cannot pass %s %s (from %s) into a virtual machine: it needs %s",
                   cbox_mount_kind_to_string (mount->kind),
                   mount->src != NULL ? mount->src : mount->dest, mount->origin,
                   cbox_feature_describe (cbox_mount_kind_feature (mount->kind)));
      return FALSE;
    }
}

static void
cbox_qemu_add_device (GPtrArray *argv, CboxQemuState *state, const char *type, const char *props)
{
  gboolean mmio = g_str_equal (state->machine, "microvm");
  g_ptr_array_add (argv, g_strdup ("-device"));
  g_ptr_array_add (argv, g_strdup_printf ("%s-%s%s%s", type, mmio ? "device" : "pci",
                                          props != NULL ? "," : "", props != NULL ? props : ""));
}

static void cbox_qemu_add_args (GPtrArray *argv, const char *first, ...) G_GNUC_NULL_TERMINATED;

static void
cbox_qemu_add_args (GPtrArray *argv, const char *first, ...)
{
  va_list ap;
  va_start (ap, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (argv, g_strdup (arg));
  va_end (ap);
}

static gboolean
cbox_qemu_uses_virtiofs (CboxQemuState *state)
{
  for (guint i = 0; i < state->shares->len; i++)
    if (((CboxQemuShare *)g_ptr_array_index (state->shares, i))->virtiofs)
      return TRUE;
  return FALSE;
}

char **
cbox_qemu_build_argv (CboxQemuState *state, CboxQemuAccel accel)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *meta_dir = g_build_filename (state->run_dir, "meta", NULL);
  g_autofree char *meta_escaped = cbox_qemu_escape (meta_dir);
  gboolean kvm = accel == CBOX_QEMU_ACCEL_KVM;
  gboolean virtiofs = cbox_qemu_uses_virtiofs (state);
  const char *security_model = geteuid () == 0 ? "passthrough" : "none";
  g_autofree char *machine = NULL;

  if (g_str_equal (state->machine, "microvm"))
    machine
        = g_strdup_printf ("microvm,pit=on,pic=on,rtc=on%s", virtiofs ? ",memory-backend=mem" : "");
  else
    machine = g_strdup_printf ("q35%s", virtiofs ? ",memory-backend=mem" : "");

  cbox_qemu_add_args (argv, state->qemu, "-name", "cbox", "-machine", machine, "-accel",
                      kvm ? "kvm" : "tcg", "-cpu",
                      state->cpu != NULL ? state->cpu
                      : kvm              ? "host"
                                         : "max",
                      NULL);
  g_ptr_array_add (argv, g_strdup ("-m"));
  g_ptr_array_add (argv, g_strdup_printf ("%u", state->memory_mb));
  g_ptr_array_add (argv, g_strdup ("-smp"));
  g_ptr_array_add (argv, g_strdup_printf ("%u", state->cpus));
  if (virtiofs)
    {
      /* vhost-user devices need guest memory the daemon can map. */
      g_ptr_array_add (argv, g_strdup ("-object"));
      g_ptr_array_add (argv, g_strdup_printf ("memory-backend-memfd,id=mem,size=%uM,share=on",
                                              state->memory_mb));
    }
  cbox_qemu_add_args (argv, "-nodefaults", "-no-user-config", "-display",
                      state->display != NULL ? state->display : "none", "-no-reboot", "-kernel",
                      state->kernel->image, "-initrd", state->initramfs, "-append",
                      state->verbose ? CBOX_QEMU_KERNEL_CMDLINE : CBOX_QEMU_KERNEL_CMDLINE_QUIET,
                      NULL);
  g_ptr_array_add (argv, g_strdup ("-chardev"));
  g_ptr_array_add (argv, g_strdup_printf ("socket,id=log,fd=%d", CBOX_QEMU_FD_LOG));
  cbox_qemu_add_args (argv, "-serial", "chardev:log", NULL);

  cbox_qemu_add_device (argv, state, "virtio-serial", "id=vser");
  g_ptr_array_add (argv, g_strdup ("-chardev"));
  g_ptr_array_add (argv, g_strdup_printf ("socket,id=ctl,fd=%d", CBOX_QEMU_FD_CONTROL));
  cbox_qemu_add_args (argv, "-device", "virtserialport,bus=vser.0,chardev=ctl,name=cbox.control",
                      NULL);
  /* The console only when a stream is a terminal: a virtconsole the guest
   * never opens is still a hvc device the kernel sets up. */
  if (state->tty)
    {
      g_ptr_array_add (argv, g_strdup ("-chardev"));
      g_ptr_array_add (argv, g_strdup_printf ("socket,id=con,fd=%d", CBOX_QEMU_FD_CONSOLE));
      cbox_qemu_add_args (argv, "-device", "virtconsole,bus=vser.0,chardev=con", NULL);
    }
  {
    static const struct
    {
      const char *id;
      int fd;
    } streams[] = { { "stdin", CBOX_QEMU_FD_STDIN },
                    { "stdout", CBOX_QEMU_FD_STDOUT },
                    { "stderr", CBOX_QEMU_FD_STDERR } };
    for (gsize i = 0; i < G_N_ELEMENTS (streams); i++)
      {
        if (state->stdio[i] != CBOX_QEMU_STDIO_PORT)
          continue;
        g_ptr_array_add (argv, g_strdup ("-chardev"));
        g_ptr_array_add (argv,
                         g_strdup_printf ("socket,id=%s,fd=%d", streams[i].id, streams[i].fd));
        g_ptr_array_add (argv, g_strdup ("-device"));
        g_ptr_array_add (argv, g_strdup_printf ("virtserialport,bus=vser.0,chardev=%s,name=cbox.%s",
                                                streams[i].id, streams[i].id));
      }
  }

  for (guint i = 0; state->sockets != NULL && i < state->sockets->len; i++)
    {
      g_ptr_array_add (argv, g_strdup ("-chardev"));
      g_ptr_array_add (argv,
                       g_strdup_printf ("socket,id=sock%u,fd=%u", i, CBOX_QEMU_FD_SOCKET0 + i));
      g_ptr_array_add (argv, g_strdup ("-device"));
      g_ptr_array_add (
          argv,
          g_strdup_printf ("virtserialport,bus=vser.0,chardev=sock%u,name=cbox.sock.%u", i, i));
    }

  if (state->display != NULL)
    {
      /* The window's screen: a 2D virtio-gpu (no virgl, see
       * cbox_qemu_setup_display()); its keyboard and an absolute pointer
       * (a tablet: the guest's pointer is where the host's is, no grab),
       * which QEMU feeds from the window only while it has the focus. */
      cbox_qemu_add_device (argv, state, "virtio-gpu", NULL);
      cbox_qemu_add_device (argv, state, "virtio-keyboard", NULL);
      cbox_qemu_add_device (argv, state, "virtio-tablet", NULL);
    }

  g_ptr_array_add (argv, g_strdup ("-fsdev"));
  g_ptr_array_add (argv, g_strdup_printf ("local,id=meta,path=%s,security_model=none,readonly=on",
                                          meta_escaped));
  cbox_qemu_add_device (argv, state, "virtio-9p", "fsdev=meta,mount_tag=cbox-meta");

  for (guint i = 0; i < state->shares->len; i++)
    {
      CboxQemuShare *share = g_ptr_array_index (state->shares, i);
      g_autofree char *props = NULL;

      if (share->virtiofs)
        {
          g_autofree char *socket = cbox_qemu_escape (share->socket);
          g_ptr_array_add (argv, g_strdup ("-chardev"));
          g_ptr_array_add (argv, g_strdup_printf ("socket,id=vfs%u,path=%s", i, socket));
          props = g_strdup_printf ("chardev=vfs%u,tag=%s", i, share->tag);
          cbox_qemu_add_device (argv, state, "vhost-user-fs", props);
        }
      else
        {
          g_autofree char *path = cbox_qemu_escape (share->path);
          g_ptr_array_add (argv, g_strdup ("-fsdev"));
          /* multidevs=remap: a share spanning several host filesystems
           * keeps distinct inode numbers. */
          g_ptr_array_add (
              argv, g_strdup_printf ("local,id=fs%u,path=%s,security_model=%s%s,multidevs=remap", i,
                                     path, security_model, share->ro ? ",readonly=on" : ""));
          props = g_strdup_printf ("fsdev=fs%u,mount_tag=%s", i, share->tag);
          cbox_qemu_add_device (argv, state, "virtio-9p", props);
        }
    }

  if (state->network && state->proxy_relay != NULL)
    {
      /* --network=allow/deny: restrict=on drops every packet of the guest
       * but those to the guestfwd address (no DNS, no other TCP, no UDP,
       * not the host), and each connection to that address starts
       * `cbox-netproxy --relay` on it, which joins the run's proxy. */
      g_autofree char *netdev = g_strdup_printf (
          "user,id=net0,restrict=on,guestfwd=tcp:" CBOX_QEMU_PROXY_ADDRESS ":%d-cmd:%s",
          CBOX_NET_PROXY_PORT, state->proxy_relay);
      cbox_qemu_add_args (argv, "-netdev", netdev, NULL);
      cbox_qemu_add_device (argv, state, "virtio-net", "netdev=net0");
    }
  else if (state->network)
    {
      /* Not QEMU's own user network (slirp): it maps 10.0.2.2 to the
       * host's 127.0.0.1, and QEMU 7.2 has no option to stop it. The card
       * is a stream socket to passt instead (cbox-qemu-run.c), which is
       * told not to map the gateway to the host (--no-map-gw). Network off
       * means no card at all. */
      cbox_qemu_add_args (argv, "-netdev", NULL);
      g_ptr_array_add (argv, g_strdup_printf ("stream,id=net0,server=off,addr.type=fd,addr.str=%d",
                                              CBOX_QEMU_FD_NET));
      cbox_qemu_add_device (argv, state, "virtio-net", "netdev=net0");
    }
  g_ptr_array_add (argv, NULL);
  return (char **)g_ptr_array_free (g_steal_pointer (&argv), FALSE);
}

/* cbox's own descriptors are all close-on-exec; one inherited across
 * execve() never is (exec would have closed it). So a stdio number that is
 * not open, or holds a close-on-exec descriptor, was closed when cbox
 * started, and cbox has since reused the number for a file of its own (the
 * plan's /etc/passwd, say): the command must see it closed, not that file.
 * This is exactly what a program exec'd by cbox would see at that number. */
CboxQemuStdio
cbox_qemu_stdio_kind (int fd)
{
  int flags = fcntl (fd, F_GETFD);
  struct stat st, null_st;

  if (flags < 0 || (flags & FD_CLOEXEC) != 0)
    return CBOX_QEMU_STDIO_CLOSED;
  if (isatty (fd))
    return CBOX_QEMU_STDIO_TTY;
  if (fstat (fd, &st) == 0 && S_ISCHR (st.st_mode) && stat ("/dev/null", &null_st) == 0
      && S_ISCHR (null_st.st_mode) && st.st_rdev == null_st.st_rdev)
    return CBOX_QEMU_STDIO_NULL;
  return CBOX_QEMU_STDIO_PORT;
}

const char *
cbox_qemu_stdio_to_string (CboxQemuStdio kind)
{
  switch (kind)
    {
    case CBOX_QEMU_STDIO_CLOSED:
      return "closed";
    case CBOX_QEMU_STDIO_NULL:
      return "null";
    case CBOX_QEMU_STDIO_TTY:
      return "tty";
    case CBOX_QEMU_STDIO_PORT:
    default:
      return "port";
    }
}

static char *
cbox_qemu_run_base (void)
{
  const char *runtime = g_getenv ("XDG_RUNTIME_DIR");

  if (runtime != NULL && runtime[0] == '/' && g_file_test (runtime, G_FILE_TEST_IS_DIR))
    return g_build_filename (runtime, "cbox-qemu", NULL);
  return g_strdup_printf ("/tmp/cbox-qemu-%u", (unsigned)geteuid ());
}

/* The display forwarder of the plan ("x11", "wayland"), or NULL. */
static const char *
cbox_qemu_display_forwarder (CboxPlan *plan)
{
  const char *const *forwarders = cbox_plan_get_forwarders (plan);

  for (guint i = 0; forwarders != NULL && forwarders[i] != NULL; i++)
    if (g_str_equal (forwarders[i], "x11") || g_str_equal (forwarders[i], "wayland"))
      return forwarders[i];
  return NULL;
}

/* Items of the display forwarders that a window replaces: the host's
 * display socket (and the x11 forwarder's Xauthority with the host
 * server's cookies). The command gets the guest's own X server instead. */
static gboolean
cbox_qemu_display_item (const CboxMount *mount)
{
  return (mount->kind == CBOX_MOUNT_SOCKET || mount->kind == CBOX_MOUNT_DATA)
         && (g_strcmp0 (mount->origin, "x11") == 0 || g_strcmp0 (mount->origin, "wayland") == 0);
}

/* A window: the guest gets a virtio-gpu and an X server of its own
 * (cbox-qemu-init.c, start_display()), and QEMU shows that screen in a
 * window on the host's display. Only QEMU is a client of the host's
 * display; the guest never reaches the host's X server or compositor
 * (its socket is not relayed, its cookies not handed in). QEMU's window
 * carries pixels out and input in: gl=off (no virgl: the guest's GPU
 * commands would reach the host's GL driver), no clipboard (no vdagent
 * device), no SPICE. SDL where QEMU has it (no menus, no clipboard in this
 * QEMU), else GTK. */
static gboolean
cbox_qemu_setup_display (CboxContext *ctx, CboxQemuState *state, const char *forwarder,
                         GError **error)
{
  const CboxHost *host = cbox_context_get_host (ctx);
  const char *names[] = { "DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR" };
  const char *qemu_argv[] = { state->qemu, "-display", "help", NULL };
  g_autofree char *out = NULL;
  g_autoptr (GStrvBuilder) env = g_strv_builder_new ();
  g_auto (GStrv) lines = NULL;
  gboolean has_sdl = FALSE, has_gtk = FALSE;
  gboolean x11 = cbox_host_getenv_nonempty (host, "DISPLAY") != NULL;
  gboolean wayland = cbox_host_getenv_nonempty (host, "WAYLAND_DISPLAY") != NULL;
  int wait_status = 0;

  if (!x11 && !wayland)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "qemu: forwarder %s asks for a window, and the VM's screen is shown in a window "
                   "on the host's display, but neither DISPLAY nor WAYLAND_DISPLAY is set (run it "
                   "in a graphical session, or without --forward=%s)",
                   forwarder, forwarder);
      return FALSE;
    }
  if (!g_spawn_sync (NULL, (char **)qemu_argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                     NULL, &wait_status, NULL))
    out = g_strdup ("");
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      has_sdl = has_sdl || g_str_equal (g_strstrip (lines[i]), "sdl");
      has_gtk = has_gtk || g_str_equal (lines[i], "gtk");
    }
  g_clear_pointer (&state->display, g_free);
  if (has_sdl && x11)
    state->display = g_strdup ("sdl,gl=off");
  else if (has_gtk)
    state->display = g_strdup ("gtk,gl=off");
  else if (has_sdl)
    state->display = g_strdup ("sdl,gl=off");
  else
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "qemu: forwarder %s asks for a window, but %s has no GTK or SDL display "
                   "(on Debian: apt install qemu-system-gui)",
                   forwarder, state->qemu);
      return FALSE;
    }
  g_strv_builder_add (env, "PATH=/usr/local/bin:/usr/bin:/bin");
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      const char *value = cbox_host_getenv_nonempty (host, names[i]);
      g_autofree char *entry = NULL;
      if (value == NULL)
        continue;
      entry = g_strdup_printf ("%s=%s", names[i], value);
      g_strv_builder_add (env, entry);
    }
  g_strfreev (state->qemu_env);
  state->qemu_env = g_strv_builder_end (env);
  return TRUE;
}

static gboolean
cbox_qemu_realize (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, GError **error)
{
  CboxQemuState *state = cbox_qemu_get_state (ctx, error);
  const char *instance = cbox_context_get_instance_id (ctx);
  g_autofree char *random_instance = NULL;
  g_auto (GStrv) envp = NULL;
  const char *const *command = cbox_plan_get_command (plan);
  const char *cwd = cbox_plan_get_cwd (plan);
  const char *hostname = cbox_plan_get_hostname (plan);
  const char *display_forwarder = cbox_qemu_display_forwarder (plan);
  struct winsize ws = { 0 };
  char number[3][32];

  if (state == NULL)
    return FALSE;
  if (state->kernel == NULL || state->qemu == NULL || state->init_path == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE, "qemu: %s",
                   state->kernel_error != NULL ? state->kernel_error
                   : state->qemu == NULL       ? "qemu-system-x86_64 not found"
                                               : "cbox-qemu-init not found");
      return FALSE;
    }
  if (command == NULL || command[0] == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_INVALID_ARGUMENT, "qemu: the plan has no command");
      return FALSE;
    }
  if (instance == NULL)
    instance = random_instance = g_uuid_string_random ();

  g_clear_pointer (&state->shares, g_ptr_array_unref);
  g_clear_pointer (&state->data, g_ptr_array_unref);
  g_clear_pointer (&state->sockets, g_ptr_array_unref);
  g_clear_pointer (&state->publish, g_ptr_array_unref);
  g_clear_pointer (&state->publish_ports, g_array_unref);
  if (state->meta != NULL)
    g_string_free (state->meta, TRUE);
  state->sockets = g_ptr_array_new_with_free_func (g_free);
  state->shares = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_qemu_share_free);
  /* Staging needs mounts: root's, or (not root) a user namespace's. */
  state->userns = geteuid () != 0 && cbox_qemu_userns_works ();
  state->staging = geteuid () == 0 || state->userns;
  state->data = g_ptr_array_new_with_free_func ((GDestroyNotify)cbox_qemu_data_free);
  state->meta = g_string_new (NULL);
  g_free (state->run_base);
  g_free (state->run_dir);
  g_free (state->initramfs);
  state->run_base = cbox_qemu_run_base ();
  state->run_dir = g_build_filename (state->run_base, instance, NULL);
  state->initramfs = cbox_qemu_initramfs_path (state->kernel, state->init_path,
                                               display_forwarder != NULL, state->cache_dir, error);
  if (state->initramfs == NULL)
    return FALSE;
  state->network = cbox_plan_get_network (plan);
  g_clear_pointer (&state->proxy_relay, g_free);
  g_clear_pointer (&state->proxy_socket, g_free);
  if (cbox_network_mode_uses_proxy (cbox_plan_get_network_mode (plan)))
    {
      const char *libexec = cbox_context_get_libexec_dir (ctx);
      g_autofree char *program
          = g_build_filename (libexec != NULL ? libexec : "", "cbox-netproxy", NULL);

      /* QEMU splits the command at spaces and the option at commas. */
      state->proxy_socket = g_build_filename (state->run_dir, "netproxy.sock", NULL);
      if (libexec == NULL || !g_file_test (program, G_FILE_TEST_IS_EXECUTABLE)
          || strpbrk (program, " ,") != NULL || strpbrk (state->proxy_socket, " ,") != NULL)
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                       "qemu: --network=%s needs %s, with no space or comma in its path nor in "
                       "%s",
                       cbox_network_mode_to_string (cbox_plan_get_network_mode (plan)), program,
                       state->proxy_socket);
          return FALSE;
        }
      state->proxy_relay = g_strdup_printf ("%s --relay=%s", program, state->proxy_socket);
      cbox_plan_add_note (plan,
                          "network through the allowlist's proxy only (" CBOX_QEMU_PROXY_ADDRESS
                          ":3128 in the guest, QEMU's user network restricted to it): no "
                          "other route, no DNS");
    }
  g_clear_pointer (&state->display, g_free);
  g_clear_pointer (&state->qemu_env, g_strfreev);
  if (display_forwarder != NULL && !cbox_qemu_setup_display (ctx, state, display_forwarder, error))
    return FALSE;
  {
    guint n_ports = 0;
    const CboxPublishedPort *ports = cbox_plan_get_published_ports (plan, &n_ports);

    /* --publish: passt binds each host port itself, on the host's
     * 127.0.0.1 only (the address is part of every -t: never 0.0.0.0,
     * the LAN), and forwards it to the guest's own address. Only with
     * passt's network (--network=on): the planner refuses --publish with
     * off and host, and the allowlist's restricted user network has no
     * way in either: refused, never dropped. */
    g_clear_pointer (&state->publish, g_ptr_array_unref);
    g_clear_pointer (&state->publish_ports, g_array_unref);
    if (n_ports > 0 && (!state->network || state->proxy_relay != NULL))
      {
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED,
                     "qemu: --publish needs --network=on (passt's network); --network=%s has no "
                     "way in",
                     cbox_network_mode_to_string (cbox_plan_get_network_mode (plan)));
        return FALSE;
      }
    state->publish = g_ptr_array_new_with_free_func (g_free);
    state->publish_ports = g_array_new (FALSE, FALSE, sizeof (guint16));
    for (guint i = 0; i < n_ports; i++)
      {
        g_ptr_array_add (state->publish, g_strdup_printf ("127.0.0.1/%u:%u", ports[i].host_port,
                                                          ports[i].sandbox_port));
        g_array_append_val (state->publish_ports, ports[i].host_port);
      }
  }
  state->uid = cbox_plan_get_uid (plan);
  state->gid = cbox_plan_get_gid (plan);
  /* Each stream inside is what it is on the host: a terminal is the
   * console hvc0 (a tty inside), /dev/null the guest's /dev/null, a closed
   * stream closed, anything else its own port (a pipe keeps its end of file
   * and stderr stays apart from stdout). */
  state->tty = FALSE;
  for (int i = 0; i < 3; i++)
    {
      state->stdio[i] = cbox_qemu_stdio_kind (i);
      if (state->stdio[i] == CBOX_QEMU_STDIO_TTY)
        {
          if (!state->tty)
            ioctl (i, TIOCGWINSZ, &ws);
          state->tty = TRUE;
        }
    }

  g_snprintf (number[0], sizeof number[0], "%u", (unsigned)cbox_plan_get_uid (plan));
  g_snprintf (number[1], sizeof number[1], "%u", (unsigned)cbox_plan_get_gid (plan));
  cbox_qemu_meta_addv (
      state->meta, "user", number[0], number[1],
      cbox_plan_get_home_dir (plan) != NULL ? cbox_plan_get_home_dir (plan) : "",
      cbox_plan_get_runtime_dir (plan) != NULL ? cbox_plan_get_runtime_dir (plan) : "", NULL);
  cbox_qemu_meta_addv (state->meta, "network", state->network ? "1" : "0", NULL);
  cbox_qemu_meta_addv (state->meta, "userns", cbox_plan_get_allow_userns (plan) ? "1" : "0", NULL);
  g_snprintf (number[0], sizeof number[0], "%u", (unsigned)ws.ws_row);
  g_snprintf (number[1], sizeof number[1], "%u", (unsigned)ws.ws_col);
  cbox_qemu_meta_addv (state->meta, "tty", state->tty ? "1" : "0", number[0], number[1], NULL);
  cbox_qemu_meta_addv (state->meta, "stdio", cbox_qemu_stdio_to_string (state->stdio[0]),
                       cbox_qemu_stdio_to_string (state->stdio[1]),
                       cbox_qemu_stdio_to_string (state->stdio[2]), NULL);
  cbox_qemu_meta_addv (state->meta, "hostname", hostname != NULL ? hostname : "cbox", NULL);
  cbox_qemu_meta_addv (state->meta, "display", state->display != NULL ? "1" : "0", NULL);

  for (guint i = 0; i < cbox_plan_get_n_mounts (plan); i++)
    {
      const CboxMount *mount = cbox_plan_get_mount (plan, i);
      if (state->display != NULL && cbox_qemu_display_item (mount))
        continue;
      if (!cbox_qemu_realize_mount (state, mount, error))
        return FALSE;
    }
  cbox_qemu_find_covered (state, plan);

  cbox_qemu_meta_addv (state->meta, "cwd", cwd != NULL ? cwd : "/", NULL);
  for (guint i = 0; command[i] != NULL; i++)
    cbox_qemu_meta_addv (state->meta, "arg", command[i], NULL);
  envp = cbox_plan_get_environ (plan);
  for (guint i = 0; envp[i] != NULL; i++)
    {
      static const char *const proxy_names[]
          = { "http_proxy=", "HTTP_PROXY=", "https_proxy=",    "HTTPS_PROXY=",
              "all_proxy=",  "ALL_PROXY=",  "GIT_SSH_COMMAND=" };
      g_autofree char *value = NULL;

      if (state->display != NULL
          && (g_str_has_prefix (envp[i], "DISPLAY=") || g_str_has_prefix (envp[i], "XAUTHORITY=")
              || g_str_has_prefix (envp[i], "WAYLAND_DISPLAY=")))
        continue;
      /* The proxy is not on the guest's loopback but at the one address
       * QEMU forwards to it. */
      for (gsize j = 0; state->proxy_relay != NULL && j < G_N_ELEMENTS (proxy_names); j++)
        if (g_str_has_prefix (envp[i], proxy_names[j]))
          {
            g_auto (GStrv) parts = g_strsplit (envp[i], "127.0.0.1:3128", -1);
            value = g_strjoinv (CBOX_QEMU_PROXY_ADDRESS ":3128", parts);
          }
      cbox_qemu_meta_addv (state->meta, "env", value != NULL ? value : envp[i], NULL);
    }
  if (state->display != NULL)
    {
      /* The guest's own X server (no cookie: the command is its only
       * client, inside a VM of its own, and it listens on no network). */
      cbox_qemu_meta_addv (state->meta, "env", "DISPLAY=:0", NULL);
      cbox_plan_add_note (plan,
                          "qemu: a window (%s): the guest's own X server on a virtio-gpu, "
                          "shown by QEMU (-display %s) on the host's display",
                          display_forwarder, state->display);
    }

  cbox_launch_take_argv (launch, cbox_qemu_build_argv (state, cbox_qemu_first_accel (state)));
  for (guint i = 0; i < state->shares->len; i++)
    {
      CboxQemuShare *share = g_ptr_array_index (state->shares, i);
      cbox_plan_add_note (plan, "qemu share %s (%s, %s): %s", share->tag,
                          share->virtiofs ? "virtiofs" : "9p", share->ro ? "ro" : "rw",
                          share->path);
    }
  return TRUE;
}

static const CboxBackendVTable cbox_qemu_vtable = {
  .struct_size = sizeof (CboxBackendVTable),
  .probe = cbox_qemu_probe,
  .realize = cbox_qemu_realize,
  .run = cbox_qemu_run,
};

/* Every key of [qemu] (docs/config.md lists them from here). */
static const CboxPluginKey qemu_config_keys[] = {
  { .name = "kernel",
    .type = CBOX_PLUGIN_KEY_STRING,
    .description = "path of the kernel image to boot",
    .default_value = "discovered" },
  { .name = "accel",
    .type = CBOX_PLUGIN_KEY_CHOICE,
    .description = "KVM, TCG (emulation) or KVM when it works",
    .default_value = "auto",
    .choices = CBOX_STRV ("auto", "kvm", "tcg") },
  { .name = "memory",
    .type = CBOX_PLUGIN_KEY_STRING,
    .description = "guest memory: 2G, 2048M or 2048 (MiB)",
    .default_value = "2G" },
  { .name = "cpus",
    .type = CBOX_PLUGIN_KEY_INTEGER,
    .description = "virtual CPUs",
    .default_value = "2",
    .min = 1,
    .max = 256 },
  { .name = "machine",
    .type = CBOX_PLUGIN_KEY_CHOICE,
    .description = "the machine type",
    .default_value = "q35",
    .choices = CBOX_STRV ("auto", "q35", "microvm") },
  { .name = "cpu",
    .type = CBOX_PLUGIN_KEY_STRING,
    .description = "QEMU's -cpu model",
    .default_value = "host (KVM), max (TCG)" },
  { .name = "kvm-timeout",
    .type = CBOX_PLUGIN_KEY_INTEGER,
    .description = "seconds without a sign of life before KVM is given up",
    .default_value = "20",
    .min = 1,
    .max = 3600 },
  { .name = "boot-timeout",
    .type = CBOX_PLUGIN_KEY_INTEGER,
    .description = "seconds without a sign of life before the run fails",
    .default_value = "300",
    .min = 1,
    .max = 36000 },
  { .name = "qemu",
    .type = CBOX_PLUGIN_KEY_STRING,
    .description = "the QEMU binary",
    .default_value = "qemu-system-x86_64 in PATH" },
  { .name = "virtiofsd",
    .type = CBOX_PLUGIN_KEY_STRING,
    .description = "the virtiofsd binary; empty: never use virtiofs",
    .default_value = "discovered" },
  { .name = "init",
    .type = CBOX_PLUGIN_KEY_STRING,
    .description = "the guest init (for testing)",
    .default_value = "cbox-qemu-init" },
  { NULL },
};

/* BIND: shares; DATA, TMPFS, SYMLINK: made by the init; SOCKET: relayed
 * connection by connection over a port (bytes only: no descriptor
 * passing); HELPER: started beside the VM by cbox_qemu_run() through
 * cbox_plan_start_helpers(), as the generic run does for bwrap. No
 * DEVICE: a device node cannot cross into another kernel, so forwarders
 * needing one (dri) are refused by the planner with that reason. */
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_BACKEND, .name = "qemu", .version = CBOX_QEMU_VERSION,
                    .description = "a QEMU virtual machine booting the host's kernel",
                    .features = CBOX_FEATURE_BIND | CBOX_FEATURE_SOCKET | CBOX_FEATURE_DATA
                                | CBOX_FEATURE_TMPFS | CBOX_FEATURE_SYMLINK | CBOX_FEATURE_HELPER,
                    .backend = &cbox_qemu_vtable, .keys = qemu_config_keys)

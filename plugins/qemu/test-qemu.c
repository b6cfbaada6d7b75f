/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Unit tests of the qemu backend that boot nothing: the cpio writer (read
 * back by GNU cpio), module resolution, compressed modules, kernel
 * discovery in a fake tree, the QEMU command line a plan becomes, and the
 * sweep of stale run directories. The VM itself is tested in
 * test-qemu-integration.c. */

#include "cbox-qemu-config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cbox-private.h"
#include "cbox-qemu-cpio.h"
#include "cbox-qemu.h"
#include "cbox-test-util.h"

static void
write_file (const char *dir, const char *name, const void *data, gssize len)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *parent = g_path_get_dirname (path);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  g_file_set_contents (path, data, len, &error);
  g_assert_no_error (error);
}

/* ---- cpio --------------------------------------------------------------- */

static void
test_cpio_roundtrip (void)
{
  g_autofree char *cpio_tool = cbox_test_require_program ("cpio");
  g_autofree char *dir = NULL;
  g_autofree char *archive_path = NULL;
  g_autofree char *content = NULL;
  g_autofree char *link = NULL;
  g_autoptr (CboxCpio) cpio = NULL;
  g_autoptr (GBytes) archive = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *extracted = NULL;
  const char odd_name[] = "sub/with space,comma\nnewline";
  int status;
  struct stat st;

  if (cpio_tool == NULL)
    return;
  dir = cbox_test_make_dir ("cpio");
  cpio = cbox_cpio_new ();
  cbox_cpio_add_dir (cpio, "sub", 0750);
  cbox_cpio_add_file (cpio, odd_name, 0640, "hello", 5);
  cbox_cpio_add_file (cpio, "sub/three", 0755, "abc", 3); /* data padding */
  cbox_cpio_add_file (cpio, "empty", 0600, NULL, 0);
  cbox_cpio_add_symlink (cpio, "link", "sub/three");
  archive = cbox_cpio_finish (cpio);
  g_assert_cmpuint (g_bytes_get_size (archive) % 4, ==, 0);

  archive_path = g_build_filename (dir, "archive.cpio", NULL);
  g_file_set_contents (archive_path, g_bytes_get_data (archive, NULL),
                       (gssize)g_bytes_get_size (archive), &error);
  g_assert_no_error (error);
  extracted = g_build_filename (dir, "out", NULL);
  g_assert_cmpint (g_mkdir (extracted, 0755), ==, 0);
  {
    const char *argv[]
        = { cpio_tool, "-i", "--quiet", "--no-absolute-filenames", "-F", archive_path, NULL };
    g_spawn_sync (extracted, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status,
                  &error);
    g_assert_no_error (error);
    g_spawn_check_wait_status (status, &error);
    g_assert_no_error (error);
  }
  {
    g_autofree char *path = g_build_filename (extracted, odd_name, NULL);
    g_file_get_contents (path, &content, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (content, ==, "hello");
    g_assert_cmpint (stat (path, &st), ==, 0);
    g_assert_cmpint (st.st_mode & 07777, ==, 0640);
  }
  {
    g_autofree char *path = g_build_filename (extracted, "sub", NULL);
    g_assert_cmpint (stat (path, &st), ==, 0);
    g_assert_true (S_ISDIR (st.st_mode));
  }
  {
    g_autofree char *path = g_build_filename (extracted, "link", NULL);
    link = g_file_read_link (path, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (link, ==, "sub/three");
  }
  {
    g_autofree char *path = g_build_filename (extracted, "sub/three", NULL);
    g_autofree char *three = NULL;
    g_file_get_contents (path, &three, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (three, ==, "abc");
  }
}

/* ---- modules ------------------------------------------------------------- */

static char *
make_modules_tree (void)
{
  char *dir = cbox_test_make_dir ("modules");
  const char dep[] = "kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko\n"
                     "kernel/net/9p/9pnet.ko:\n"
                     "kernel/fs/netfs/netfs.ko:\n"
                     "kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko "
                     "kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
                     "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
                     "kernel/drivers/virtio/virtio_ring.ko:\n"
                     "kernel/drivers/block/virtio-blk.ko.xz: kernel/drivers/virtio/virtio.ko "
                     "kernel/drivers/virtio/virtio_ring.ko\n";
  write_file (dir, "modules.dep", dep, -1);
  write_file (dir, "modules.builtin", "kernel/drivers/virtio/virtio_pci.ko\n", -1);
  return dir;
}

static void
test_modules_resolve (void)
{
  g_autofree char *dir = make_modules_tree ();
  g_autoptr (GPtrArray) paths = NULL;
  g_autoptr (GError) error = NULL;
  const char *const wanted[] = { "virtio_pci", "9pnet_virtio", "9p", "virtio-blk", NULL };
  const char *const expected[] = {
    "kernel/drivers/virtio/virtio_ring.ko",
    "kernel/drivers/virtio/virtio.ko",
    "kernel/net/9p/9pnet.ko",
    "kernel/net/9p/9pnet_virtio.ko",
    "kernel/fs/netfs/netfs.ko",
    "kernel/fs/9p/9p.ko",
    "kernel/drivers/block/virtio-blk.ko.xz",
  };

  g_assert_true (cbox_qemu_resolve_modules (dir, wanted, &paths, &error));
  g_assert_no_error (error);
  /* virtio_pci is built in: not loaded. Each dependency once, before its
   * users. */
  g_assert_cmpuint (paths->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < paths->len; i++)
    {
      g_autofree char *full = g_build_filename (dir, expected[i], NULL);
      g_assert_cmpstr (g_ptr_array_index (paths, i), ==, full);
    }
}

static void
test_modules_missing (void)
{
  g_autofree char *dir = make_modules_tree ();
  g_autoptr (GPtrArray) paths = NULL;
  g_autoptr (GError) error = NULL;
  const char *const wanted[] = { "9p", "virtiofs", NULL };

  g_assert_false (cbox_qemu_resolve_modules (dir, wanted, &paths, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "virtiofs"));
}

static void
check_compressed_module (const char *tool, const char *suffix)
{
  g_autofree char *program = cbox_test_require_program (tool);
  g_autofree char *dir = NULL;
  g_autofree char *plain = NULL;
  g_autofree char *packed = NULL;
  g_autoptr (GBytes) content = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) payload = g_string_new ("\177ELF");
  int status;

  if (program == NULL)
    return;
  for (int i = 0; i < 20000; i++)
    g_string_append_printf (payload, "%d,", i);
  dir = cbox_test_make_dir ("compressed");
  plain = g_build_filename (dir, "m.ko", NULL);
  write_file (dir, "m.ko", payload->str, (gssize)payload->len);
  {
    const char *argv[] = { program, "-q", plain, NULL };
    g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status,
                  &error);
    g_assert_no_error (error);
    g_spawn_check_wait_status (status, &error);
    g_assert_no_error (error);
  }
  packed = g_strconcat (plain, suffix, NULL);
  if (g_file_test (plain, G_FILE_TEST_EXISTS))
    g_unlink (plain); /* zstd keeps its input */
  content = cbox_qemu_read_module (packed, &error);
  g_assert_no_error (error);
  g_assert_nonnull (content);
  g_assert_cmpuint (g_bytes_get_size (content), ==, payload->len);
  g_assert_cmpint (memcmp (g_bytes_get_data (content, NULL), payload->str, payload->len), ==, 0);
}

static void
test_modules_gzip (void)
{
  check_compressed_module ("gzip", ".gz");
}

static void
test_modules_xz (void)
{
#ifdef HAVE_LZMA
  check_compressed_module ("xz", ".xz");
#else
  g_test_skip ("built without liblzma");
#endif
}

static void
test_modules_zstd (void)
{
#ifdef HAVE_ZSTD
  check_compressed_module ("zstd", ".zst");
#else
  g_test_skip ("built without libzstd");
#endif
}

/* ---- kernel discovery --------------------------------------------------------- */

/* Just enough of a bzImage: the "HdrS" magic and the version string. */
static void
write_fake_kernel (const char *root, const char *name, const char *release)
{
  guint8 image[0x800] = { 0 };
  g_autofree char *version = g_strdup_printf ("%s (builder@example) #1 SMP", release);
  g_autofree char *path = g_build_filename ("boot", name, NULL);

  memcpy (image + 0x202, "HdrS", 4);
  image[0x20e] = 0x00; /* version at 0x200 + 0x400 */
  image[0x20f] = 0x04;
  memcpy (image + 0x600, version, strlen (version));
  write_file (root, path, image, sizeof image);
}

static void
test_kernel_find (void)
{
  g_autofree char *root = cbox_test_make_dir ("fake root");
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autoptr (CboxQemuKernel) kernel = NULL;
  g_autoptr (GError) error = NULL;

  cbox_host_set_root (host, root);

  /* Nothing in /boot: the message says what to install. */
  g_assert_false (cbox_qemu_find_kernel (host, NULL, "6.1.0-9", &kernel, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "linux-image"));
  g_clear_error (&error);

  write_fake_kernel (root, "vmlinuz-5.10.0-9-amd64", "5.10.0-9-amd64");
  write_fake_kernel (root, "vmlinuz-6.9.0-1-amd64", "6.9.0-1-amd64");
  write_fake_kernel (root, "vmlinuz-6.10.0-2-amd64", "6.10.0-2-amd64");
  write_file (root, "lib/modules/6.10.0-2-amd64/modules.dep", "", 0);

  /* The running kernel's image has none: the newest (by version, not by
   * name) wins. */
  g_assert_true (cbox_qemu_find_kernel (host, NULL, "6.18.0-host", &kernel, &error));
  g_assert_no_error (error);
  g_assert_true (g_str_has_suffix (kernel->image, "/boot/vmlinuz-6.10.0-2-amd64"));
  g_assert_cmpstr (kernel->release, ==, "6.10.0-2-amd64");
  g_assert_nonnull (kernel->modules_dir);
  g_assert_nonnull (strstr (kernel->how, "newest"));
  g_clear_pointer (&kernel, cbox_qemu_kernel_free);

  /* The running kernel's image wins over the newest. */
  g_assert_true (cbox_qemu_find_kernel (host, NULL, "5.10.0-9-amd64", &kernel, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (kernel->release, ==, "5.10.0-9-amd64");
  g_assert_null (kernel->modules_dir);
  g_assert_nonnull (strstr (kernel->how, "running"));
  g_clear_pointer (&kernel, cbox_qemu_kernel_free);

  /* The configuration wins over both; its release comes from the image. */
  g_assert_true (cbox_qemu_find_kernel (host, "/boot/vmlinuz-6.9.0-1-amd64", "5.10.0-9-amd64",
                                        &kernel, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (kernel->release, ==, "6.9.0-1-amd64");
  g_assert_cmpstr (kernel->how, ==, "[qemu] kernel");
  g_clear_pointer (&kernel, cbox_qemu_kernel_free);

  /* A configured path that is missing is an error, not a silent fallback. */
  g_assert_false (cbox_qemu_find_kernel (host, "/boot/nope", NULL, &kernel, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
  g_clear_error (&error);

  /* NixOS: the current system's kernel and its module tree. */
  write_fake_kernel (root, "../run/current-system/kernel", "6.6.1");
  write_file (root, "run/current-system/kernel-modules/lib/modules/6.6.1/modules.dep", "", 0);
  g_assert_true (cbox_qemu_find_kernel (host, NULL, "5.10.0-9-amd64", &kernel, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (kernel->release, ==, "6.6.1");
  g_assert_nonnull (strstr (kernel->modules_dir, "kernel-modules"));
}

/* A kernel image that is a fifo nobody writes to, or a directory, is
 * refused at once, even when its name alone would give a release; opened
 * without O_NONBLOCK, the fifo would block cbox for good (the test would
 * hang). */
static void
test_kernel_not_regular (void)
{
  g_autofree char *root = cbox_test_make_dir ("fake root");
  g_autofree char *fifo = g_build_filename (root, "boot", "vmlinuz-6.1.0-fifo", NULL);
  g_autofree char *dir = g_build_filename (root, "boot", "vmlinuz-6.1.0-dir", NULL);
  g_autoptr (CboxHost) host = cbox_host_new ();
  g_autoptr (CboxQemuKernel) kernel = NULL;
  g_autoptr (GError) error = NULL;

  cbox_host_set_root (host, root);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);

  g_assert_null (cbox_qemu_kernel_image_release (fifo, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "not a regular file"));
  g_clear_error (&error);

  g_assert_false (cbox_qemu_find_kernel (host, "/boot/vmlinuz-6.1.0-fifo", NULL, &kernel, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
  g_assert_cmpstr (error->message, ==,
                   "kernel /boot/vmlinuz-6.1.0-fifo ([qemu] kernel) is not a regular file");
  g_assert_null (kernel);
  g_clear_error (&error);

  g_assert_false (cbox_qemu_find_kernel (host, "/boot/vmlinuz-6.1.0-dir", NULL, &kernel, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "is not a regular file"));
  g_assert_null (kernel);
}

/* The cached KVM verdict: what cbox wrote is read back; a fifo nobody
 * writes to, a directory or a missing file in its place is no verdict,
 * and is found so at once (g_file_get_contents() would block on the
 * fifo for good). */
static void
test_kvm_verdict (void)
{
  g_autofree char *dir = cbox_test_make_dir ("cache");
  g_autofree char *path = g_build_filename (dir, "cbox", "qemu", "kvm-verdict", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_false (cbox_qemu_kvm_verdict_is_broken (path));
  g_assert_true (cbox_qemu_kvm_verdict_write_broken (path, &error));
  g_assert_no_error (error);
  g_assert_true (cbox_qemu_kvm_verdict_is_broken (path));

  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (mkfifo (path, 0600), ==, 0);
  g_assert_false (cbox_qemu_kvm_verdict_is_broken (path));

  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_mkdir (path, 0700), ==, 0);
  g_assert_false (cbox_qemu_kvm_verdict_is_broken (path));
}

static void
test_memory_parse (void)
{
  g_autoptr (GError) error = NULL;
  guint mb = 0;

  g_assert_true (cbox_qemu_parse_memory ("2G", &mb, &error));
  g_assert_cmpuint (mb, ==, 2048);
  g_assert_true (cbox_qemu_parse_memory ("512M", &mb, &error));
  g_assert_cmpuint (mb, ==, 512);
  g_assert_true (cbox_qemu_parse_memory ("4096", &mb, &error));
  g_assert_cmpuint (mb, ==, 4096);
  g_assert_no_error (error);
  g_assert_false (cbox_qemu_parse_memory ("lots", &mb, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
  g_clear_error (&error);
  g_assert_false (cbox_qemu_parse_memory ("2T", &mb, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
}

/* ---- realize ------------------------------------------------------------------- */

typedef struct
{
  char *root;
  CboxHost *host;
  CboxContext *ctx;
  CboxPlan *plan;
  GKeyFile *config;
} Fixture;

static const CboxPluginDesc *
qemu_desc (void)
{
  extern const CboxPluginDesc *cbox_plugin_describe (void);
  return cbox_plugin_describe ();
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autofree char *kernel = NULL;
  g_autofree char *init = NULL;

  f->root = cbox_test_make_dir ("realize");
  write_fake_kernel (f->root, "vmlinuz-6.1.0-1-amd64", "6.1.0-1-amd64");
  kernel = g_build_filename (f->root, "boot", "vmlinuz-6.1.0-1-amd64", NULL);
  init = g_build_filename (f->root, "init", NULL);
  write_file (f->root, "init", "#!/bin/false\n", -1);
  g_chmod (init, 0755);
  f->config = g_key_file_new ();
  g_key_file_set_string (f->config, "qemu", "kernel", kernel);
  g_key_file_set_string (f->config, "qemu", "init", init);
  g_key_file_set_string (f->config, "qemu", "qemu", "/usr/bin/qemu-system-x86_64");
  g_key_file_set_string (f->config, "qemu", "virtiofsd", "");
  f->host = cbox_host_new ();
  f->ctx = cbox_context_new (f->host, f->config, "qemu");
  cbox_context_set_instance_id (f->ctx, "test-instance");
  f->plan = cbox_plan_new ();
  cbox_plan_set_user (f->plan, 1000, 1000, "user", "/home/user");
  cbox_plan_set_cwd (f->plan, "/");
  cbox_plan_set_command (f->plan, (const char *const[]){ "true", NULL });
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  cbox_plan_free (f->plan);
  cbox_context_free (f->ctx);
  cbox_host_unref (f->host);
  g_key_file_unref (f->config);
  g_free (f->root);
}

static char **
realize_argv (Fixture *f, GError **error)
{
  g_autoptr (CboxLaunch) launch = cbox_launch_new ();
  if (!qemu_desc ()->backend->realize (f->ctx, f->plan, launch, error))
    return NULL;
  return g_strdupv ((char **)cbox_launch_get_argv (launch));
}

static gboolean
argv_has (char **argv, const char *needle)
{
  for (guint i = 0; argv[i] != NULL; i++)
    if (strstr (argv[i], needle) != NULL)
      return TRUE;
  return FALSE;
}

static void
test_realize_shares (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = NULL;
  g_autofree char *ro_dir = g_build_filename (f->root, "ro,dir", NULL);
  g_autofree char *rw_dir = g_build_filename (f->root, "rw", NULL);
  CboxQemuState *state;

  g_assert_cmpint (g_mkdir (ro_dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (rw_dir, 0755), ==, 0);
  cbox_plan_add_tmpfs (f->plan, "/tmp", 01777);
  cbox_plan_add_bind_ro (f->plan, ro_dir, "/usr", CBOX_MOUNT_FLAG_NONE);
  cbox_plan_add_bind_ro (f->plan, "/nonexistent/cbox", "/opt", CBOX_MOUNT_FLAG_ALLOW_MISSING);
  cbox_plan_add_bind_rw (f->plan, rw_dir, "/project", CBOX_MOUNT_FLAG_NONE);
  cbox_plan_add_symlink (f->plan, "usr/bin", "/bin");
  g_assert_true (cbox_plan_add_data (f->plan, "/etc/passwd", "x", 1, 0644, 0, &error));
  cbox_plan_set_network (f->plan, FALSE);

  argv = realize_argv (f, &error);
  g_assert_no_error (error);
  g_assert_nonnull (argv);
  state = cbox_context_get_data (f->ctx);
  /* Staging: as root, or not root where a user namespace can be made. */
  g_assert_true (state->staging == (geteuid () == 0 || state->userns));
  if (state->staging)
    {
      /* The binds travel over the staging exports of the run directory,
       * one per access mode. */
      g_assert_true (state->staging);
      g_assert_true (argv_has (argv, "/test-instance/ro,security_model="));
      g_assert_true (argv_has (argv, ",readonly=on,multidevs=remap"));
      g_assert_true (argv_has (argv, "mount_tag=cbox-ro"));
      g_assert_true (argv_has (argv, "mount_tag=cbox-rw"));
      g_assert_cmpuint (state->shares->len, ==, 2);
      g_assert_nonnull (strstr (state->meta->str, "5:share,7:cbox-ro,2:9p,4:/usr,1:1,1:0,"));
      g_assert_nonnull (strstr (state->meta->str, "5:share,7:cbox-rw,2:9p,8:/project,1:0,1:0,"));
    }
  else
    {
      g_assert_false (state->staging);
      /* A comma in a path is doubled, QEMU's escape. */
      g_assert_true (argv_has (argv, "ro,,dir,security_model="));
      g_assert_true (argv_has (argv, ",readonly=on,multidevs=remap"));
      g_assert_true (argv_has (argv, "mount_tag=cbox0"));
      g_assert_true (argv_has (argv, "mount_tag=cbox1"));
      /* The missing optional source left no share behind. */
      g_assert_false (argv_has (argv, "mount_tag=cbox2"));
      g_assert_cmpuint (state->shares->len, ==, 2);
    }
  /* Network off: no card at all. */
  g_assert_false (argv_has (argv, "-netdev"));
  g_assert_false (argv_has (argv, "virtio-net"));
  g_assert_true (argv_has (argv, "-accel"));

  g_assert_cmpuint (state->data->len, ==, 1);
  g_assert_true (g_str_has_suffix (state->run_dir, "/test-instance"));
  g_assert_nonnull (strstr (state->meta->str, "7:symlink,7:usr/bin,4:/bin,"));
  g_assert_nonnull (strstr (state->meta->str, "5:tmpfs,4:/tmp,4:1777,"));
}

/* What the plan covers inside a shared folder (a tmpfs over a folder,
 * /dev/null over a file) is found, with its host path; and QEMU's child
 * (as root) sees it empty, while the host keeps it. */
static void
test_realize_covered_hidden (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = NULL;
  g_autofree char *ssl = g_build_filename (f->root, "ssl", NULL);
  g_autofree char *private_dir = g_build_filename (ssl, "private", NULL);
  g_autofree char *shadow = g_build_filename (ssl, "shadow", NULL);
  g_autofree char *key = g_build_filename (private_dir, "server.key", NULL);
  g_autofree char *content = NULL;
  CboxQemuState *state;
  pid_t pid;
  int status = 0;

  write_file (ssl, "certs/ca.pem", "ca", -1);
  write_file (ssl, "private/server.key", "secret", -1);
  write_file (ssl, "shadow", "hash", -1);
  cbox_plan_add_bind_ro (f->plan, ssl, "/etc/ssl", CBOX_MOUNT_FLAG_NONE);
  cbox_plan_add_tmpfs (f->plan, "/etc/ssl/private", 0700);
  cbox_plan_add_bind_ro (f->plan, "/dev/null", "/etc/ssl/shadow", CBOX_MOUNT_FLAG_NONE);
  /* A tmpfs not inside any share hides nothing of the host. */
  cbox_plan_add_tmpfs (f->plan, "/tmp", 01777);
  cbox_plan_set_network (f->plan, FALSE);

  argv = realize_argv (f, &error);
  g_assert_no_error (error);
  state = cbox_context_get_data (f->ctx);
  g_assert_nonnull (state->hidden);
  g_assert_cmpuint (g_strv_length (state->hidden), ==, 2);
  g_assert_cmpstr (state->hidden[0], ==, private_dir);
  g_assert_true (state->hidden_is_dir[0]);
  g_assert_cmpstr (state->hidden[1], ==, shadow);
  g_assert_false (state->hidden_is_dir[1]);

  if (geteuid () != 0)
    {
      g_test_message ("not root: QEMU's own view is not changed (the host's permissions apply)");
      return;
    }
  /* The empty file the run directory would hold. */
  g_free (state->empty_file);
  state->empty_file = g_build_filename (f->root, "empty", NULL);
  write_file (f->root, "empty", "", 0);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      g_autofree char *seen = NULL;
      gsize len = 99;
      GDir *dir;

      if (cbox_qemu_hide_covered (state) < 0)
        _exit (10);
      dir = g_dir_open (private_dir, 0, NULL);
      /* Mode 0: root may still list it, and it is empty. */
      if (dir == NULL || g_dir_read_name (dir) != NULL)
        _exit (11);
      g_dir_close (dir);
      if (!g_file_get_contents (shadow, &seen, &len, NULL) || len != 0)
        _exit (12);
      _exit (0);
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  /* The host's view is unchanged. */
  g_assert_true (g_file_get_contents (key, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "secret");
  g_clear_pointer (&content, g_free);
  g_assert_true (g_file_get_contents (shadow, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "hash");
}

/* 200 binds of separate folders: a bounded number of devices. Staged (as
 * root, or in a user namespace of QEMU's own when not root) they all
 * travel over the two exports; without staging (not root, and no user
 * namespace to be had) a plan that needs more devices than the machine
 * has slots is refused with a sentence. */
static void
test_realize_many_binds (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = NULL;
  g_autofree char *parent = g_build_filename (f->root, "many", NULL);
  CboxQemuState *state;
  guint devices = 0;

  g_assert_cmpint (g_mkdir (parent, 0755), ==, 0);
  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *name = g_strdup_printf ("d%u", i);
      g_autofree char *dir = g_build_filename (parent, name, NULL);
      g_autofree char *dest = g_strdup_printf ("/binds/%s", name);
      g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
      if (i % 2 == 0)
        cbox_plan_add_bind_ro (f->plan, dir, dest, CBOX_MOUNT_FLAG_NONE);
      else
        cbox_plan_add_bind_rw (f->plan, dir, dest, CBOX_MOUNT_FLAG_NONE);
    }
  argv = realize_argv (f, &error);
  if (argv == NULL)
    {
      /* Without staging each folder is a device: refused at the 21st. */
      g_assert_cmpint (geteuid (), !=, 0);
      g_assert_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED);
      g_assert_nonnull (strstr (error->message, "separate host folders"));
      return;
    }
  g_assert_no_error (error);
  state = cbox_context_get_data (f->ctx);
  for (guint i = 0; argv[i] != NULL; i++)
    if (g_str_has_prefix (argv[i], "virtio-9p") || g_str_has_prefix (argv[i], "vhost-user-fs"))
      devices++;
  /* The metadata share and the two exports. */
  g_assert_cmpuint (state->shares->len, ==, 2);
  g_assert_cmpuint (devices, ==, 3);
  g_assert_nonnull (strstr (state->meta->str, "5:share,7:cbox-rw,2:9p,9:/binds/d1,1:0,1:0,"));
  g_assert_nonnull (strstr (state->meta->str, "5:share,7:cbox-rw,2:9p,11:/binds/d199,1:0,2:99,"));
  g_assert_nonnull (strstr (state->meta->str, "5:share,7:cbox-ro,2:9p,11:/binds/d198,1:1,2:99,"));
}

static void
test_realize_network_on (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = NULL;

  cbox_plan_set_network (f->plan, TRUE);
  argv = realize_argv (f, &error);
  g_assert_no_error (error);
  /* passt on an inherited stream socket, never QEMU's own user network
   * (which maps 10.0.2.2 to the host's 127.0.0.1). */
  g_assert_true (argv_has (argv, "stream,id=net0,server=off,addr.type=fd,addr.str=25"));
  g_assert_false (argv_has (argv, "user,id=net0"));
  g_assert_true (argv_has (argv, "virtio-net-pci"));
}

/* A unix-socket bind is relayed: a port of its own, the destination in the
 * guest's plan, the host path kept for cbox's side; a device is refused. */
static void
test_realize_socket_relay (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = NULL;
  CboxQemuState *state;

  cbox_plan_add_bind_socket (f->plan, "/run/user/1000/bus", "/run/user/1000/bus", 0);
  cbox_plan_add_bind_socket (f->plan, "/tmp/agent.sock", "/run/user/1000/ssh-agent.socket", 0);
  argv = realize_argv (f, &error);
  g_assert_no_error (error);
  g_assert_true (argv_has (argv, "socket,id=sock0,fd=9"));
  g_assert_true (argv_has (argv, "chardev=sock1,name=cbox.sock.1"));
  state = cbox_context_get_data (f->ctx);
  g_assert_cmpuint (state->sockets->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (state->sockets, 1), ==, "/tmp/agent.sock");
  g_assert_nonnull (strstr (state->meta->str, "6:socket,31:/run/user/1000/ssh-agent.socket,"));
  g_clear_pointer (&argv, g_strfreev);

  cbox_plan_add_bind_dev (f->plan, "/dev/dri", "/dev/dri", 0);
  argv = realize_argv (f, &error);
  g_assert_null (argv);
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "/dev/dri"));
}

/* A display forwarder in the plan: a window. The guest gets a 2D
 * virtio-gpu and an X server of its own (DISPLAY=:0 in the guest's plan),
 * QEMU shows it on the host's display with GL off and nothing else (no
 * SPICE); the host's display socket is not relayed and the forwarder's
 * Xauthority (the host server's cookies) never reaches the guest. The
 * real QEMU decides SDL or GTK (whichever it has). */
/* The argument after @option, or NULL. */
static const char *
argv_after (char **argv, const char *option)
{
  for (guint i = 0; argv[i] != NULL; i++)
    if (g_str_equal (argv[i], option))
      return argv[i + 1];
  return NULL;
}

static void
test_realize_window (Fixture *f, gconstpointer data)
{
  const char *display;

  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = NULL;
  CboxQemuState *state;

  if (!g_file_test ("/usr/bin/qemu-system-x86_64", G_FILE_TEST_IS_EXECUTABLE))
    {
      cbox_test_skip_or_fail ("qemu-system-x86_64 is missing (tools/install-deps)");
      return;
    }
  cbox_host_setenv (f->host, "DISPLAY", ":5");
  cbox_host_setenv (f->host, "XAUTHORITY", "/home/user/.Xauthority");
  cbox_plan_set_origin (f->plan, "x11");
  cbox_plan_add_tmpfs (f->plan, "/tmp/.X11-unix", 01777);
  cbox_plan_add_bind_socket (f->plan, "/tmp/.X11-unix/X5", "/tmp/.X11-unix/X5", 0);
  g_assert_true (
      cbox_plan_add_data (f->plan, "/run/user/1000/Xauthority", "cookie", 6, 0600, 0, &error));
  g_assert_no_error (error);
  cbox_plan_set_env (f->plan, "DISPLAY", ":5");
  cbox_plan_set_env (f->plan, "XAUTHORITY", "/run/user/1000/Xauthority");
  cbox_plan_add_forwarder (f->plan, "x11");
  argv = realize_argv (f, &error);
  if (argv == NULL && g_error_matches (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE)
      && strstr (error->message, "qemu-system-gui") != NULL)
    {
      cbox_test_skip_or_fail ("QEMU has no GTK or SDL display (apt install qemu-system-gui)");
      return;
    }
  g_assert_no_error (error);
  g_assert_true (argv_has (argv, "virtio-gpu-pci"));
  /* Its keyboard and absolute pointer. */
  g_assert_true (argv_has (argv, "virtio-keyboard-pci"));
  g_assert_true (argv_has (argv, "virtio-tablet-pci"));
  display = argv_after (argv, "-display");
  g_assert_true (g_strcmp0 (display, "sdl,gl=off") == 0 || g_strcmp0 (display, "gtk,gl=off") == 0);
  g_assert_false (argv_has (argv, "-spice"));
  g_assert_false (argv_has (argv, "-vga"));
  state = cbox_context_get_data (f->ctx);
  g_assert_cmpuint (state->sockets->len, ==, 0);
  g_assert_cmpuint (state->data->len, ==, 0);
  g_assert_nonnull (strstr (state->meta->str, "7:display,1:1,"));
  g_assert_nonnull (strstr (state->meta->str, "3:env,10:DISPLAY=:0,"));
  g_assert_null (strstr (state->meta->str, "DISPLAY=:5"));
  g_assert_null (strstr (state->meta->str, "XAUTHORITY"));
  g_assert_nonnull (strstr (state->initramfs, "-window.cpio"));
  /* QEMU alone gets the host's display, to open its window. */
  g_assert_true (g_strv_contains ((const char *const *)state->qemu_env, "DISPLAY=:5"));
  g_assert_true (
      g_strv_contains ((const char *const *)state->qemu_env, "XAUTHORITY=/home/user/.Xauthority"));
  g_clear_pointer (&argv, g_strfreev);

  /* Without a display forwarder: no window, no GPU, the smaller initramfs. */
  cbox_plan_free (f->plan);
  f->plan = cbox_plan_new ();
  cbox_plan_set_user (f->plan, 1000, 1000, "user", "/home/user");
  cbox_plan_set_command (f->plan, (const char *const[]){ "true", NULL });
  argv = realize_argv (f, &error);
  g_assert_no_error (error);
  g_assert_false (argv_has (argv, "virtio-gpu-pci"));
  g_assert_false (argv_has (argv, "virtio-keyboard-pci"));
  g_assert_false (argv_has (argv, "virtio-tablet-pci"));
  g_assert_cmpstr (argv_after (argv, "-display"), ==, "none");
  g_assert_nonnull (strstr (state->meta->str, "7:display,1:0,"));
  g_assert_null (strstr (state->initramfs, "-window"));
  g_assert_null (state->qemu_env);
}

static void
test_realize_bad_config (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CboxProbeResult) result = cbox_probe_result_new ();

  g_key_file_set_string (f->config, "qemu", "accel", "warp");
  g_assert_false (qemu_desc ()->backend->probe (f->ctx, result, &error));
  g_assert_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "accel"));
}

static void
test_descriptor_features (void)
{
  const CboxPluginDesc *desc = qemu_desc ();

  g_assert_cmpint (desc->kind, ==, CBOX_PLUGIN_KIND_BACKEND);
  g_assert_true (desc->features & CBOX_FEATURE_BIND);
  g_assert_true (desc->features & CBOX_FEATURE_DATA);
  g_assert_true (desc->features & CBOX_FEATURE_SOCKET);
  g_assert_false (desc->features & CBOX_FEATURE_DEVICE);
  g_assert_true (desc->features & CBOX_FEATURE_HELPER);
}

/* ---- run directories ------------------------------------------------------------ */

static void
test_sweep_stale (void)
{
  g_autofree char *base = cbox_test_make_dir ("runs");
  g_autofree char *outside = cbox_test_make_dir ("outside");
  g_autofree char *victim = g_build_filename (outside, "precious", NULL);
  g_autofree char *live = g_build_filename (base, "live", NULL);
  g_autofree char *dead = g_build_filename (base, "dead", NULL);
  g_autofree char *young = g_build_filename (base, "young", NULL);
  g_autofree char *live_lock = g_build_filename (live, "lock", NULL);
  g_autofree char *dead_link = g_build_filename (dead, "meta", "escape", NULL);
  int lock_fd;

  write_file (outside, "precious", "keep", -1);
  write_file (live, "lock", "", 0);
  write_file (dead, "lock", "", 0);
  write_file (dead, "meta/plan", "x", -1);
  g_assert_cmpint (g_mkdir (young, 0700), ==, 0);
  g_assert_cmpint (symlink (outside, dead_link), ==, 0);

  /* flock conflicts between open file descriptions, also within one
   * process: this holds "live" as a running cbox would. */
  lock_fd = open (live_lock, O_RDWR | O_CLOEXEC);
  g_assert_cmpint (lock_fd, >=, 0);
  g_assert_cmpint (flock (lock_fd, LOCK_EX), ==, 0);

  cbox_qemu_sweep_stale (base);
  g_assert_true (g_file_test (live, G_FILE_TEST_IS_DIR));
  g_assert_false (g_file_test (dead, G_FILE_TEST_EXISTS));
  /* Being created right now (no lock file yet): left alone. */
  g_assert_true (g_file_test (young, G_FILE_TEST_IS_DIR));
  /* The symlink was removed, not followed. */
  g_assert_true (g_file_test (victim, G_FILE_TEST_IS_REGULAR));
  close (lock_fd);

  cbox_qemu_sweep_stale (base);
  g_assert_false (g_file_test (live, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/qemu/cpio/roundtrip", test_cpio_roundtrip);
  g_test_add_func ("/qemu/modules/resolve", test_modules_resolve);
  g_test_add_func ("/qemu/modules/missing", test_modules_missing);
  g_test_add_func ("/qemu/modules/gzip", test_modules_gzip);
  g_test_add_func ("/qemu/modules/xz", test_modules_xz);
  g_test_add_func ("/qemu/modules/zstd", test_modules_zstd);
  g_test_add_func ("/qemu/kernel/find", test_kernel_find);
  g_test_add_func ("/qemu/kernel/not-regular", test_kernel_not_regular);
  g_test_add_func ("/qemu/kvm-verdict", test_kvm_verdict);
  g_test_add_func ("/qemu/config/memory", test_memory_parse);
  g_test_add_func ("/qemu/descriptor/features", test_descriptor_features);
  g_test_add ("/qemu/realize/many-binds", Fixture, NULL, fixture_set_up, test_realize_many_binds,
              fixture_tear_down);
  g_test_add ("/qemu/realize/shares", Fixture, NULL, fixture_set_up, test_realize_shares,
              fixture_tear_down);
  g_test_add ("/qemu/realize/covered-hidden-from-qemu", Fixture, NULL, fixture_set_up,
              test_realize_covered_hidden, fixture_tear_down);
  g_test_add ("/qemu/realize/network-on", Fixture, NULL, fixture_set_up, test_realize_network_on,
              fixture_tear_down);
  g_test_add ("/qemu/realize/socket-relay", Fixture, NULL, fixture_set_up,
              test_realize_socket_relay, fixture_tear_down);
  g_test_add ("/qemu/realize/window", Fixture, NULL, fixture_set_up, test_realize_window,
              fixture_tear_down);
  g_test_add ("/qemu/realize/bad-config", Fixture, NULL, fixture_set_up, test_realize_bad_config,
              fixture_tear_down);
  g_test_add_func ("/qemu/run-dir/sweep-stale", test_sweep_stale);
  return g_test_run ();
}

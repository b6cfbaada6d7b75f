/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cbox-qemu-config.h"

#include "cbox-qemu-initramfs.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef HAVE_LZMA
#include <lzma.h>
#endif
#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

#include "cbox-qemu-cpio.h"

/* Bump when the layout of the initramfs changes: it is part of the cache
 * key, so an old cached file is never reused by a newer cbox. */
#define CBOX_QEMU_INITRAMFS_FORMAT "cbox-qemu-initramfs-3"

void
cbox_qemu_kernel_free (CboxQemuKernel *kernel)
{
  if (kernel == NULL)
    return;
  g_free (kernel->image);
  g_free (kernel->release);
  g_free (kernel->modules_dir);
  g_free (kernel->how);
  g_free (kernel);
}

/* ---- kernel discovery ---------------------------------------------------- */

/* Reads @len bytes at @offset, fewer only at the end of the file. */
static gboolean
cbox_qemu_pread_all (int fd, const char *path, void *buf, gsize len, off_t offset, gsize *ret_n,
                     GError **error)
{
  gsize done = 0;

  while (done < len)
    {
      ssize_t n = pread (fd, (guint8 *)buf + done, len - done, offset + (off_t)done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                       "cannot read %s: %s", path, g_strerror (saved_errno));
          return FALSE;
        }
      if (n == 0)
        break;
      done += (gsize)n;
    }
  *ret_n = done;
  return TRUE;
}

char *
cbox_qemu_kernel_image_release (const char *image, GError **error)
{
  cbox_autofd int fd = -1;
  struct stat st;
  guint8 header[0x400];
  gsize n = 0;
  guint16 offset;
  char version[256];

  /* [qemu] kernel= is the user's to set: opened with O_NONBLOCK and
   * checked through the same fd, a fifo there is refused at once instead
   * of blocking cbox until somebody writes to it, and a device is no
   * kernel either. */
  fd = open (image, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0 || fstat (fd, &st) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "cannot open %s: %s",
                   image, g_strerror (saved_errno));
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE, "%s is not a regular file", image);
      return NULL;
    }
  if (!cbox_qemu_pread_all (fd, image, header, sizeof header, 0, &n, error))
    return NULL;
  /* The x86 boot protocol: "HdrS" at 0x202, and at 0x20e the offset (from
   * 0x200) of a NUL-terminated version string. */
  if (n < 0x210 || memcmp (header + 0x202, "HdrS", 4) != 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE, "%s is not an x86 bzImage kernel",
                   image);
      return NULL;
    }
  offset = (guint16)(header[0x20e] | (header[0x20f] << 8));
  if (!cbox_qemu_pread_all (fd, image, version, sizeof version - 1, 0x200 + (off_t)offset, &n,
                            error))
    return NULL;
  version[n] = '\0';
  version[strcspn (version, " ")] = '\0';
  if (version[0] == '\0' || !g_utf8_validate (version, -1, NULL))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "%s carries no readable kernel version", image);
      return NULL;
    }
  return g_strdup (version);
}

/* Newest first, by version ("6.10" after "6.9"). */
static int
cbox_qemu_compare_versions_desc (gconstpointer a, gconstpointer b)
{
  return -strverscmp (*(const char *const *)a, *(const char *const *)b);
}

static char *
cbox_qemu_newest_boot_image (const CboxHost *host)
{
  g_autofree char *boot = cbox_host_resolve (host, "/boot");
  g_autoptr (GDir) dir = g_dir_open (boot, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (dir == NULL)
    return NULL;
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, "vmlinuz-") && !g_str_has_suffix (name, ".old"))
      g_ptr_array_add (names, g_strdup (name));
  if (names->len == 0)
    return NULL;
  g_ptr_array_sort (names, cbox_qemu_compare_versions_desc);
  return g_build_filename ("/boot", g_ptr_array_index (names, 0), NULL);
}

static gboolean
cbox_qemu_kernel_fill (const CboxHost *host, const char *image, const char *how,
                       const char *modules_root, CboxQemuKernel **ret_kernel, GError **error)
{
  g_autoptr (CboxQemuKernel) kernel = g_new0 (CboxQemuKernel, 1);
  g_autofree char *resolved = cbox_host_resolve (host, image);
  g_autoptr (GError) local_error = NULL;
  const char *base = strrchr (image, '/') + 1;
  struct stat st;

  if (access (resolved, R_OK) < 0)
    {
      int saved_errno = errno;
      if (saved_errno == EACCES)
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                     "kernel %s (%s) is not readable by this user (some distributions keep "
                     "kernels root-only: make it readable, or set [qemu] kernel= to a readable "
                     "copy)",
                     image, how);
      else
        g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE, "kernel %s (%s): %s", image, how,
                     g_strerror (saved_errno));
      return FALSE;
    }
  /* A fifo or a device is no kernel: without this, one named vmlinuz-*
   * would pass on its name alone and QEMU would block on it. */
  if (stat (resolved, &st) == 0 && !S_ISREG (st.st_mode))
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "kernel %s (%s) is not a regular file", image, how);
      return FALSE;
    }
  kernel->image = g_steal_pointer (&resolved);
  kernel->how = g_strdup (how);
  kernel->release = cbox_qemu_kernel_image_release (kernel->image, &local_error);
  if (kernel->release == NULL && g_str_has_prefix (base, "vmlinuz-"))
    kernel->release = g_strdup (base + strlen ("vmlinuz-"));
  if (kernel->release == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  {
    const char *roots[] = { modules_root, "/lib/modules", "/usr/lib/modules" };
    for (gsize i = 0; i < G_N_ELEMENTS (roots) && kernel->modules_dir == NULL; i++)
      {
        g_autofree char *dir = NULL;
        g_autofree char *dep = NULL;
        if (roots[i] == NULL)
          continue;
        dir = g_build_filename (roots[i], kernel->release, NULL);
        dep = cbox_host_resolve (host, dir);
        if (g_file_test (dep, G_FILE_TEST_IS_DIR))
          kernel->modules_dir = g_steal_pointer (&dep);
      }
  }
  *ret_kernel = g_steal_pointer (&kernel);
  return TRUE;
}

gboolean
cbox_qemu_find_kernel (const CboxHost *host, const char *configured, const char *running_release,
                       CboxQemuKernel **ret_kernel, GError **error)
{
  g_autofree char *running = NULL;
  g_autofree char *running_resolved = NULL;
  g_autofree char *newest = NULL;

  if (configured != NULL && configured[0] != '\0')
    {
      if (configured[0] != '/')
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_CONFIG,
                       "[qemu] kernel=%s: give an absolute path to a kernel image", configured);
          return FALSE;
        }
      return cbox_qemu_kernel_fill (host, configured, "[qemu] kernel", NULL, ret_kernel, error);
    }

  if (cbox_host_is_nixos (host))
    {
      g_autofree char *nix = cbox_host_resolve (host, "/run/current-system/kernel");
      if (g_file_test (nix, G_FILE_TEST_EXISTS))
        return cbox_qemu_kernel_fill (host, "/run/current-system/kernel", "NixOS current system",
                                      "/run/current-system/kernel-modules/lib/modules", ret_kernel,
                                      error);
    }

  if (running_release != NULL)
    {
      running = g_strconcat ("/boot/vmlinuz-", running_release, NULL);
      running_resolved = cbox_host_resolve (host, running);
      if (g_file_test (running_resolved, G_FILE_TEST_EXISTS))
        return cbox_qemu_kernel_fill (host, running, "the running kernel's image", NULL, ret_kernel,
                                      error);
    }

  newest = cbox_qemu_newest_boot_image (host);
  if (newest != NULL)
    return cbox_qemu_kernel_fill (host, newest,
                                  running != NULL
                                      ? "newest in /boot: the running kernel has no image there"
                                      : "newest in /boot",
                                  NULL, ret_kernel, error);

  g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
               "no kernel image: none in /boot (apt install linux-image-amd64, or set "
               "[qemu] kernel= to a bzImage)");
  return FALSE;
}

/* ---- modules ------------------------------------------------------------- */

const char *const *
cbox_qemu_wanted_modules (void)
{
  static const char *const wanted[] = {
    "virtio_pci", "virtio_mmio", "virtio_console", "9pnet_virtio",
    "9p",         "virtiofs",    "virtio_net",     NULL,
  };
  return wanted;
}

const char *const *
cbox_qemu_display_modules (void)
{
  /* The guest's display (a window): virtio-gpu's DRM driver and, through
   * modules.dep, drm, drm_kms_helper and the rest; the window's keyboard
   * and tablet (virtio_input) and their /dev/input/event* nodes (evdev).
   * Loaded by the init only when the plan asks for a window. */
  static const char *const wanted[] = { "virtio_gpu", "virtio_input", "evdev", NULL };
  return wanted;
}

/* "kernel/fs/9p/9p.ko.xz" -> "9p"; dashes and underscores are the same
 * character to the kernel. */
static char *
cbox_qemu_module_name (const char *path)
{
  const char *base = strrchr (path, '/');
  char *name = g_strdup (base != NULL ? base + 1 : path);
  char *dot = strstr (name, ".ko");

  if (dot != NULL)
    *dot = '\0';
  g_strdelimit (name, "-", '_');
  return name;
}

typedef struct
{
  GHashTable *deps;    /* name -> GStrv of dependency paths (relative) */
  GHashTable *paths;   /* name -> relative path */
  GHashTable *builtin; /* names */
} CboxQemuModuleIndex;

static void
cbox_qemu_module_index_clear (CboxQemuModuleIndex *index)
{
  g_clear_pointer (&index->deps, g_hash_table_unref);
  g_clear_pointer (&index->paths, g_hash_table_unref);
  g_clear_pointer (&index->builtin, g_hash_table_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CboxQemuModuleIndex, cbox_qemu_module_index_clear)

static void
cbox_qemu_visit_module (CboxQemuModuleIndex *index, const char *name, GHashTable *seen,
                        GPtrArray *order)
{
  const char *const *deps;

  if (g_hash_table_contains (seen, name))
    return;
  g_hash_table_add (seen, g_strdup (name));
  /* modules.dep lists every (transitive) dependency; the last one listed
   * is loaded first, as modprobe does. */
  deps = g_hash_table_lookup (index->deps, name);
  for (gssize i = deps != NULL ? (gssize)g_strv_length ((char **)deps) - 1 : -1; i >= 0; i--)
    {
      g_autofree char *dep_name = cbox_qemu_module_name (deps[i]);
      cbox_qemu_visit_module (index, dep_name, seen, order);
    }
  g_ptr_array_add (order, g_strdup (g_hash_table_lookup (index->paths, name)));
}

gboolean
cbox_qemu_resolve_modules (const char *modules_dir, const char *const *wanted,
                           GPtrArray **ret_paths, GError **error)
{
  g_auto (CboxQemuModuleIndex) index = { 0 };
  g_autofree char *dep_path = g_build_filename (modules_dir, "modules.dep", NULL);
  g_autofree char *builtin_path = g_build_filename (modules_dir, "modules.builtin", NULL);
  g_autofree char *dep_text = NULL;
  g_autofree char *builtin_text = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) order = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) result = g_ptr_array_new_with_free_func (g_free);

  if (!g_file_get_contents (dep_path, &dep_text, NULL, error))
    {
      g_prefix_error (error, "kernel modules: ");
      return FALSE;
    }
  index.deps = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
  index.paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  index.builtin = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  lines = g_strsplit (dep_text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *colon = strchr (lines[i], ':');
      g_autofree char *name = NULL;
      if (colon == NULL)
        continue;
      *colon = '\0';
      name = cbox_qemu_module_name (lines[i]);
      g_hash_table_replace (index.paths, g_strdup (name), g_strdup (lines[i]));
      g_hash_table_replace (index.deps, g_steal_pointer (&name),
                            g_strsplit_set (g_strstrip (colon + 1), " \t", -1));
    }
  /* g_strsplit_set leaves empty strings for a module without deps: drop
   * them by rebuilding each list. */
  {
    GHashTableIter iter;
    gpointer key, value;
    g_hash_table_iter_init (&iter, index.deps);
    while (g_hash_table_iter_next (&iter, &key, &value))
      {
        g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
        for (char **d = value; *d != NULL; d++)
          if (**d != '\0')
            g_strv_builder_add (builder, *d);
        g_hash_table_iter_replace (&iter, g_strv_builder_end (builder));
      }
  }

  if (g_file_get_contents (builtin_path, &builtin_text, NULL, NULL))
    {
      g_auto (GStrv) builtin = g_strsplit (builtin_text, "\n", -1);
      for (guint i = 0; builtin[i] != NULL; i++)
        if (builtin[i][0] != '\0')
          g_hash_table_add (index.builtin, cbox_qemu_module_name (builtin[i]));
    }

  for (guint i = 0; wanted[i] != NULL; i++)
    {
      g_autofree char *name = cbox_qemu_module_name (wanted[i]);
      if (g_hash_table_contains (index.paths, name))
        cbox_qemu_visit_module (&index, name, seen, order);
      else if (!g_hash_table_contains (index.builtin, name))
        {
          g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                       "kernel modules: %s has neither a module %s nor has it built in",
                       modules_dir, name);
          return FALSE;
        }
    }
  for (guint i = 0; i < order->len; i++)
    g_ptr_array_add (result, g_build_filename (modules_dir, g_ptr_array_index (order, i), NULL));
  *ret_paths = g_steal_pointer (&result);
  return TRUE;
}

#ifdef HAVE_LZMA
static GBytes *
cbox_qemu_unxz (const char *path, GBytes *packed, GError **error)
{
  lzma_stream strm = LZMA_STREAM_INIT;
  g_autoptr (GByteArray) out = g_byte_array_new ();
  gsize len;
  const guint8 *data = g_bytes_get_data (packed, &len);
  lzma_ret ret;

  if (lzma_stream_decoder (&strm, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "%s: cannot start the xz decoder", path);
      return NULL;
    }
  strm.next_in = data;
  strm.avail_in = len;
  do
    {
      guint8 chunk[65536];
      strm.next_out = chunk;
      strm.avail_out = sizeof chunk;
      ret = lzma_code (&strm, LZMA_FINISH);
      g_byte_array_append (out, chunk, sizeof chunk - strm.avail_out);
    }
  while (ret == LZMA_OK);
  lzma_end (&strm);
  if (ret != LZMA_STREAM_END)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "%s: corrupt xz data (error %d)", path,
                   (int)ret);
      return NULL;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}
#endif

#ifdef HAVE_ZSTD
static GBytes *
cbox_qemu_unzstd (const char *path, GBytes *packed, GError **error)
{
  ZSTD_DStream *stream = ZSTD_createDStream ();
  g_autoptr (GByteArray) out = g_byte_array_new ();
  gsize len;
  const void *data = g_bytes_get_data (packed, &len);
  ZSTD_inBuffer in = { data, len, 0 };
  size_t ret = 1;

  while (in.pos < in.size)
    {
      guint8 chunk[65536];
      ZSTD_outBuffer outbuf = { chunk, sizeof chunk, 0 };
      ret = ZSTD_decompressStream (stream, &outbuf, &in);
      if (ZSTD_isError (ret))
        break;
      g_byte_array_append (out, chunk, outbuf.pos);
    }
  ZSTD_freeDStream (stream);
  if (ZSTD_isError (ret) || ret != 0)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_FAILED, "%s: corrupt zstd data", path);
      return NULL;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}
#endif

static GBytes *
cbox_qemu_gunzip (const char *path, GBytes *packed, GError **error)
{
  g_autoptr (GZlibDecompressor) decompressor
      = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr (GInputStream) base = g_memory_input_stream_new_from_bytes (packed);
  g_autoptr (GInputStream) in = g_converter_input_stream_new (base, G_CONVERTER (decompressor));
  g_autoptr (GOutputStream) out = g_memory_output_stream_new_resizable ();

  if (g_output_stream_splice (
          out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE | G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL,
          error)
      < 0)
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (out));
}

GBytes *
cbox_qemu_read_module (const char *path, GError **error)
{
  g_autoptr (GMappedFile) mapped = g_mapped_file_new (path, FALSE, error);
  g_autoptr (GBytes) bytes = NULL;

  if (mapped == NULL)
    return NULL;
  bytes = g_mapped_file_get_bytes (mapped);
  if (g_str_has_suffix (path, ".ko"))
    return g_steal_pointer (&bytes);
  if (g_str_has_suffix (path, ".ko.gz"))
    return cbox_qemu_gunzip (path, bytes, error);
  if (g_str_has_suffix (path, ".ko.xz"))
    {
#ifdef HAVE_LZMA
      return cbox_qemu_unxz (path, bytes, error);
#else
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "%s is xz-compressed and this cbox was built without liblzma", path);
      return NULL;
#endif
    }
  if (g_str_has_suffix (path, ".ko.zst"))
    {
#ifdef HAVE_ZSTD
      return cbox_qemu_unzstd (path, bytes, error);
#else
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "%s is zstd-compressed and this cbox was built without libzstd", path);
      return NULL;
#endif
    }
  g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE, "%s: unknown module compression", path);
  return NULL;
}

/* ---- the initramfs ------------------------------------------------------- */

static void
cbox_qemu_checksum_file (GChecksum *checksum, const char *path)
{
  struct stat st;
  char line[128];

  g_checksum_update (checksum, (const guchar *)path, (gssize)strlen (path) + 1);
  if (stat (path, &st) == 0)
    {
      g_snprintf (line, sizeof line,
                  "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT ".%ld %" G_GUINT64_FORMAT,
                  (gint64)st.st_size, (gint64)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec,
                  (guint64)st.st_ino);
      g_checksum_update (checksum, (const guchar *)line, (gssize)strlen (line) + 1);
    }
}

char *
cbox_qemu_initramfs_path (const CboxQemuKernel *kernel, const char *init_path, gboolean display,
                          const char *cache_dir, GError **error)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree char *name = NULL;

  g_checksum_update (checksum, (const guchar *)CBOX_QEMU_INITRAMFS_FORMAT, -1);
  g_checksum_update (checksum, (const guchar *)(display ? "window" : "plain"), -1);
  g_checksum_update (checksum, (const guchar *)kernel->release,
                     (gssize)strlen (kernel->release) + 1);
  cbox_qemu_checksum_file (checksum, init_path);
  if (kernel->modules_dir != NULL)
    {
      g_autofree char *dep = g_build_filename (kernel->modules_dir, "modules.dep", NULL);
      cbox_qemu_checksum_file (checksum, dep);
    }
  name = g_strdup_printf ("initramfs-%s-%.16s%s.cpio", kernel->release,
                          g_checksum_get_string (checksum), display ? "-window" : "");
  g_strdelimit (name, "/", '_');
  return g_build_filename (cache_dir, name, NULL);
}

static void
cbox_qemu_cpio_add_init (CboxCpio *cpio, GBytes *init)
{
  cbox_cpio_add_file (cpio, "init", 0755, g_bytes_get_data (init, NULL), g_bytes_get_size (init));
}

static gboolean
cbox_qemu_write_atomically (const char *path, GBytes *content, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);

  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "cannot create %s: %s", dir, g_strerror (saved_errno));
      return FALSE;
    }
  /* g_file_set_contents writes a temporary file beside and renames it:
   * a concurrent run sees the old state or the whole new file. */
  return g_file_set_contents_full (path, g_bytes_get_data (content, NULL),
                                   (gssize)g_bytes_get_size (content),
                                   G_FILE_SET_CONTENTS_CONSISTENT, 0644, error);
}

gboolean
cbox_qemu_initramfs_ensure (const CboxQemuKernel *kernel, const char *init_path, gboolean display,
                            const char *path, GError **error)
{
  g_autoptr (CboxCpio) cpio = NULL;
  g_autoptr (GPtrArray) modules = NULL;
  g_autoptr (GPtrArray) display_modules = NULL;
  g_autoptr (GString) display_order = g_string_new (NULL);
  g_autoptr (GBytes) init = NULL;
  g_autoptr (GBytes) archive = NULL;
  g_autoptr (GString) order = g_string_new (NULL);
  g_autoptr (GMappedFile) mapped = NULL;

  if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return TRUE;
  if (kernel->modules_dir == NULL)
    {
      g_set_error (error, CBOX_ERROR, CBOX_ERROR_UNAVAILABLE,
                   "no modules for kernel %s (looked for lib/modules/%s)", kernel->image,
                   kernel->release);
      return FALSE;
    }
  if (!cbox_qemu_resolve_modules (kernel->modules_dir, cbox_qemu_wanted_modules (), &modules,
                                  error))
    return FALSE;
  /* A kernel without virtio-gpu still boots without a window: the list
   * stays empty and a run asking for one is refused by the init. */
  if (!display
      || !cbox_qemu_resolve_modules (kernel->modules_dir, cbox_qemu_display_modules (),
                                     &display_modules, NULL))
    display_modules = g_ptr_array_new_with_free_func (g_free);
  mapped = g_mapped_file_new (init_path, FALSE, error);
  if (mapped == NULL)
    return FALSE;
  init = g_mapped_file_get_bytes (mapped);

  cpio = cbox_cpio_new ();
  cbox_qemu_cpio_add_init (cpio, init);
  cbox_cpio_add_dir (cpio, "cbox", 0755);
  cbox_cpio_add_dir (cpio, "cbox/lib", 0755);
  for (guint i = 0; i < modules->len; i++)
    {
      const char *module_path = g_ptr_array_index (modules, i);
      g_autoptr (GBytes) content = cbox_qemu_read_module (module_path, error);
      g_autofree char *name = NULL;
      g_autofree char *entry = NULL;

      if (content == NULL)
        return FALSE;
      name = cbox_qemu_module_name (module_path);
      entry = g_strdup_printf ("cbox/lib/%s.ko", name);
      cbox_cpio_add_file (cpio, entry, 0644, g_bytes_get_data (content, NULL),
                          g_bytes_get_size (content));
      g_string_append_printf (order, "%s.ko\n", name);
    }
  for (guint i = 0; i < display_modules->len; i++)
    {
      const char *module_path = g_ptr_array_index (display_modules, i);
      g_autofree char *name = cbox_qemu_module_name (module_path);
      g_autofree char *entry = g_strdup_printf ("cbox/lib/%s.ko", name);
      g_autofree char *line = g_strdup_printf ("%s.ko\n", name);
      g_autofree char *inner = g_strdup_printf ("\n%s", line);

      g_string_append (display_order, line);
      /* Shared with the boot list (virtio_ring, ...): written once. */
      if (g_str_has_prefix (order->str, line) || strstr (order->str, inner) != NULL)
        continue;
      {
        g_autoptr (GBytes) content = cbox_qemu_read_module (module_path, error);
        if (content == NULL)
          return FALSE;
        cbox_cpio_add_file (cpio, entry, 0644, g_bytes_get_data (content, NULL),
                            g_bytes_get_size (content));
      }
    }
  cbox_cpio_add_file (cpio, "cbox/display-modules", 0644, display_order->str, display_order->len);
  cbox_cpio_add_file (cpio, "cbox/modules", 0644, order->str, order->len);
  archive = cbox_cpio_finish (cpio);
  if (!cbox_qemu_write_atomically (path, archive, error))
    {
      g_prefix_error (error, "initramfs: ");
      return FALSE;
    }
  return TRUE;
}

gboolean
cbox_qemu_initramfs_write_minimal (const char *init_path, const char *path, GError **error)
{
  g_autoptr (CboxCpio) cpio = cbox_cpio_new ();
  g_autoptr (GMappedFile) mapped = g_mapped_file_new (init_path, FALSE, error);
  g_autoptr (GBytes) init = NULL;
  g_autoptr (GBytes) archive = NULL;

  if (mapped == NULL)
    return FALSE;
  init = g_mapped_file_get_bytes (mapped);
  cbox_qemu_cpio_add_init (cpio, init);
  archive = cbox_cpio_finish (cpio);
  return cbox_qemu_write_atomically (path, archive, error);
}

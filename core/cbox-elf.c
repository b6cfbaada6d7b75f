/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbox-loader.h"

/* Security and robustness: dlopen() maps a plugin's segments as its
 * program headers describe them, without checking that the file holds
 * them. A plugin cut short (a copy that failed, a full disk) is mapped past
 * its end, and the first touch of a page beyond it is SIGBUS inside the
 * dynamic loader, in every cbox command, before any message. So before
 * dlopen the loader reads the ELF header and the program headers itself
 * and refuses a file whose headers or loadable segments do not lie within
 * it, or that is not a shared object for this machine. This is about
 * broken files: a file changed between this check and dlopen, or a
 * malicious one, is out of scope (whoever may write a plugin folder owns
 * cbox; docs/security.md). */

#if __SIZEOF_POINTER__ == 8
#define CBOX_ELF_CLASS ELFCLASS64
#else
#define CBOX_ELF_CLASS ELFCLASS32
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CBOX_ELF_DATA ELFDATA2LSB
#else
#define CBOX_ELF_DATA ELFDATA2MSB
#endif

/* Far more program headers than a linker writes (typically 10 to 15). */
#define CBOX_ELF_MAX_PHNUM 256

static gboolean
read_exactly (int fd, void *buf, gsize len, off_t offset)
{
  gsize done = 0;

  while (done < len)
    {
      ssize_t n = pread (fd, (char *)buf + done, len - done, offset + (off_t)done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      done += (gsize)n;
    }
  return TRUE;
}

/* The e_machine of cbox itself, read from its own ELF header in memory: a
 * plugin must be for the same machine. */
static guint16
own_machine (void)
{
  /* The linker defines it at the start of every ELF object it writes. */
  extern const ElfW (Ehdr) __ehdr_start;
  return __ehdr_start.e_machine;
}

static gboolean cbox_elf_check_fd (int fd, GError **error);

gboolean
cbox_elf_check_file (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  gboolean ok;

  if (fd < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s",
                   g_strerror (saved_errno));
      return FALSE;
    }
  ok = cbox_elf_check_fd (fd, error);
  close (fd);
  return ok;
}

static gboolean
cbox_elf_check_fd (int fd, GError **error)
{
  g_autofree ElfW (Phdr) *phdrs = NULL;
  ElfW (Ehdr) header;
  struct stat st;
  guint64 size;
  guint16 machine = own_machine ();

  if (fstat (fd, &st) != 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s",
                   g_strerror (saved_errno));
      return FALSE;
    }
  size = (guint64)st.st_size;
  if (size < sizeof header || !read_exactly (fd, &header, sizeof header, 0))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "only %" G_GUINT64_FORMAT " bytes, shorter than an ELF header (cut short?)",
                   size);
      return FALSE;
    }
  if (memcmp (header.e_ident, ELFMAG, SELFMAG) != 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "not an ELF file");
      return FALSE;
    }
  if (header.e_ident[EI_CLASS] != CBOX_ELF_CLASS || header.e_ident[EI_DATA] != CBOX_ELF_DATA
      || header.e_machine != machine)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "an ELF file for another machine (class %u, byte order %u, machine %u; this "
                   "cbox is class %u, byte order %u, machine %u)",
                   header.e_ident[EI_CLASS], header.e_ident[EI_DATA], header.e_machine,
                   CBOX_ELF_CLASS, CBOX_ELF_DATA, machine);
      return FALSE;
    }
  if (header.e_type != ET_DYN)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "an ELF file of type %u, not a shared object (build it as a shared module)",
                   header.e_type);
      return FALSE;
    }
  if (header.e_phentsize != sizeof (ElfW (Phdr)) || header.e_phnum == 0
      || header.e_phnum > CBOX_ELF_MAX_PHNUM
      || (guint64)header.e_phoff + (guint64)header.e_phnum * sizeof (ElfW (Phdr)) > size)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "its program headers (%u at offset %" G_GUINT64_FORMAT
                   ") do not lie within its %" G_GUINT64_FORMAT " bytes (cut short?)",
                   header.e_phnum, (guint64)header.e_phoff, size);
      return FALSE;
    }
  /* One read for the whole table (at most 256 entries, checked above):
   * this runs for every plugin a run opens. */
  phdrs = g_new (ElfW (Phdr), header.e_phnum);
  if (!read_exactly (fd, phdrs, header.e_phnum * sizeof (ElfW (Phdr)), (off_t)header.e_phoff))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO, "cannot read its program headers");
      return FALSE;
    }
  for (guint i = 0; i < header.e_phnum; i++)
    {
      const ElfW (Phdr) phdr = phdrs[i];

      if (phdr.p_type != PT_LOAD && phdr.p_type != PT_DYNAMIC && phdr.p_type != PT_INTERP)
        continue;
      if ((guint64)phdr.p_offset > size || (guint64)phdr.p_filesz > size - (guint64)phdr.p_offset)
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                       "segment %u (%" G_GUINT64_FORMAT " bytes at offset %" G_GUINT64_FORMAT
                       ") ends past the end of the file, %" G_GUINT64_FORMAT " bytes (cut short?)",
                       i, (guint64)phdr.p_filesz, (guint64)phdr.p_offset, size);
          return FALSE;
        }
    }
  if (header.e_shnum > 0 && header.e_shentsize == sizeof (ElfW (Shdr))
      && (guint64)header.e_shoff + (guint64)header.e_shnum * sizeof (ElfW (Shdr)) > size)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "its section headers end past the end of the file, %" G_GUINT64_FORMAT
                   " bytes (cut short?)",
                   size);
      return FALSE;
    }
  return TRUE;
}

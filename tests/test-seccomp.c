/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The seccomp filter every backend loads (core/cbox-seccomp.c): what
 * cbox-exec embeds is, byte for byte, what libseccomp makes from the
 * source now, for each variant, so the two cannot drift apart; and the
 * variants differ. That the filter works, test-kernel-surface shows in
 * real sandboxes.
 */
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "cbox-seccomp.h"
#include "cbox-seccomp-filter.h"

static GBytes *export(CboxSeccompVariant variant)
{
  GByteArray *bytes = g_byte_array_new ();
  const char *what = NULL;
  int fd = memfd_create ("fresh", MFD_CLOEXEC);
  guint8 buf[4096];
  ssize_t n;

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (cbox_seccomp_export (fd, variant, &what), ==, 0);
  while ((n = pread (fd, buf, sizeof buf, (off_t)bytes->len)) > 0)
    g_byte_array_append (bytes, buf, (guint)n);
  g_assert_cmpint (n, ==, 0);
  close (fd);
  return g_byte_array_free_to_bytes (bytes);
}

static void
test_embedded (void)
{
  g_autoptr (GBytes) made_default = export(CBOX_SECCOMP_DEFAULT);
  g_autoptr (GBytes) made_userns = export(CBOX_SECCOMP_ALLOW_USERNS);
  g_autoptr (GBytes) embedded_default
      = g_bytes_new_static (cbox_seccomp_filter_default, sizeof cbox_seccomp_filter_default);
  g_autoptr (GBytes) embedded_userns = g_bytes_new_static (cbox_seccomp_filter_allow_userns,
                                                           sizeof cbox_seccomp_filter_allow_userns);

  /* Classic BPF: 8 bytes an instruction, and filters that do something. */
  g_assert_cmpuint (g_bytes_get_size (made_default) % 8, ==, 0);
  g_assert_cmpuint (g_bytes_get_size (made_default), >, 8 * 40);
  g_assert_true (g_bytes_equal (made_default, embedded_default));
  g_assert_true (g_bytes_equal (made_userns, embedded_userns));
  /* The exception lets something through: fewer rules. */
  g_assert_cmpuint (g_bytes_get_size (made_userns), <, g_bytes_get_size (made_default));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/seccomp/embedded-is-current", test_embedded);
  return g_test_run ();
}

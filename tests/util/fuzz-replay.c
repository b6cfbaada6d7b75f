/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Runs a fuzz target over the files (or folders of files) given on the
 * command line: its corpus as a regression test, for compilers without
 * libFuzzer. */
#include <glib.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    {
      g_autofree char *contents = NULL;
      gsize len = 0;
      g_autoptr (GError) error = NULL;

      if (g_file_test (argv[i], G_FILE_TEST_IS_DIR))
        {
          g_autoptr (GDir) dir = g_dir_open (argv[i], 0, &error);
          const char *name;

          if (dir == NULL)
            g_error ("%s", error->message);
          while ((name = g_dir_read_name (dir)) != NULL)
            {
              g_autofree char *path = g_build_filename (argv[i], name, NULL);
              g_autofree char *data = NULL;
              if (!g_file_get_contents (path, &data, &len, &error))
                g_error ("%s", error->message);
              LLVMFuzzerTestOneInput ((const guint8 *)data, len);
              g_print ("ok %s\n", path);
            }
          continue;
        }
      if (!g_file_get_contents (argv[i], &contents, &len, &error))
        g_error ("%s", error->message);
      LLVMFuzzerTestOneInput ((const guint8 *)contents, len);
      g_print ("ok %s\n", argv[i]);
    }
  return 0;
}

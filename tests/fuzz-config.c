/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the configuration parser (cbox_config_load_data(),
 * what reads every cbox.conf and profile): any input is either refused with
 * an error whose message is valid UTF-8 and names the file, or accepted,
 * and then it was UTF-8 text without NUL bytes or a byte order mark, and
 * every value in it reads back; never a crash, a leak or a read out of
 * bounds. Each input is read as a configuration file and as a profile. */
#include <string.h>

#include "cbox-config.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
fuzz_check_merged (CboxConfig *config)
{
  GKeyFile *merged = cbox_config_get_merged (config);
  g_auto (GStrv) groups = g_key_file_get_groups (merged, NULL);
  const GPtrArray *plugin_keys = cbox_config_get_plugin_keys (config);

  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_auto (GStrv) keys = g_key_file_get_keys (merged, groups[i], NULL, NULL);
      for (guint j = 0; keys != NULL && keys[j] != NULL; j++)
        {
          g_autofree char *value = g_key_file_get_value (merged, groups[i], keys[j], NULL);
          /* Parsed as a list too (what plugins read), for the fuzzer. */
          g_strfreev (g_key_file_get_string_list (merged, groups[i], keys[j], NULL, NULL));
          if (value == NULL || !g_utf8_validate (value, -1, NULL))
            __builtin_trap ();
        }
    }
  for (guint i = 0; i < plugin_keys->len; i++)
    {
      const CboxConfigKeyOrigin *origin = g_ptr_array_index (plugin_keys, i);
      if (origin->group == NULL || origin->where == NULL
          || !g_str_has_prefix (origin->where, "fuzz.conf:"))
        __builtin_trap ();
    }
  for (guint i = 0; i < 3; i++)
    {
      static const char *const core_keys[] = { "backend", "forward", "network" };
      g_free (cbox_config_get_core_string (config, core_keys[i]));
    }
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  for (CboxConfigLayer layer = CBOX_CONFIG_LAYER_FILES; layer <= CBOX_CONFIG_LAYER_PROFILE; layer++)
    {
      g_autoptr (CboxConfig) config = cbox_config_new ();
      g_autoptr (GError) error = NULL;

      if (!cbox_config_load_data (config, layer, "fuzz.conf", (const char *)data, size, &error))
        {
          if (error == NULL || !g_str_has_prefix (error->message, "fuzz.conf")
              || !g_utf8_validate (error->message, -1, NULL))
            __builtin_trap ();
          continue;
        }
      if (error != NULL)
        __builtin_trap ();
      /* Accepted: it was text. */
      if ((size > 0 && !g_utf8_validate_len ((const char *)data, size, NULL))
          || (size >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0))
        __builtin_trap ();
      fuzz_check_merged (config);
    }
  return 0;
}

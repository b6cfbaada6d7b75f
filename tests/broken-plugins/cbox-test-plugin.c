/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* One source, built once per variant (-DVARIANT_...), into plugins that are
 * broken in exactly one way each, plus two good ones. test-loader.c loads
 * them and asserts the CBOX_PLUGIN_ERROR code of each. Most descriptors are
 * written out by hand instead of with CBOX_PLUGIN_DEFINE, because the point
 * is to get the fields the macro fills in wrong. */

#include <cbox/cbox-plugin.h>

#ifndef PLUGIN_NAME
#error "PLUGIN_NAME must be defined"
#endif

G_GNUC_UNUSED static gboolean
test_forwarder_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, "always there");
  cbox_probe_result_add_detail (result, "plugin", "%s", PLUGIN_NAME);
  return TRUE;
}

G_GNUC_UNUSED static gboolean
test_forwarder_contribute (CboxContext *ctx, CboxPlan *plan, GError **error)
{
  cbox_plan_set_env (plan, "CBOX_TEST_PLUGIN", PLUGIN_NAME);
  return TRUE;
}

G_GNUC_UNUSED static gboolean
test_backend_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  cbox_probe_result_set_status (result, CBOX_PROBE_AVAILABLE, "always there");
  return TRUE;
}

G_GNUC_UNUSED static gboolean
test_backend_realize (CboxContext *ctx, CboxPlan *plan, CboxLaunch *launch, GError **error)
{
  cbox_launch_add_args (launch, "/bin/true", PLUGIN_NAME, NULL);
  return TRUE;
}

G_GNUC_UNUSED static const CboxForwarderVTable test_forwarder_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = test_forwarder_probe,
  .contribute = test_forwarder_contribute,
};

G_GNUC_UNUSED static const CboxBackendVTable test_backend_vtable = {
  .struct_size = sizeof (CboxBackendVTable),
  .probe = test_backend_probe,
  .realize = test_backend_realize,
};

/* A descriptor with every field under the test's control. */
#define TEST_PLUGIN_DESCRIBE(...)                                                                  \
  static const CboxPluginDesc test_desc = { __VA_ARGS__ };                                         \
  G_MODULE_EXPORT const CboxPluginDesc *cbox_plugin_describe (void);                               \
  G_MODULE_EXPORT const CboxPluginDesc *cbox_plugin_describe (void)                                \
  {                                                                                                \
    return &test_desc;                                                                             \
  }

#define TEST_FORWARDER_FIELDS                                                                      \
  .kind = CBOX_PLUGIN_KIND_FORWARDER, .name = PLUGIN_NAME, .version = "1.0",                       \
  .description = "test plugin " PLUGIN_NAME, .forwarder = &test_forwarder_vtable

#if defined(VARIANT_GOOD_FORWARDER)
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = PLUGIN_NAME, .version = "1.0",
                    .description = "a forwarder that works", .aliases = CBOX_STRV ("good-alias"),
                    .features = CBOX_FEATURE_DATA, .forwarder = &test_forwarder_vtable)

#elif defined(VARIANT_GOOD_BACKEND)
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_BACKEND, .name = PLUGIN_NAME, .version = "1.0",
                    .description = "a backend that works", .features = CBOX_FEATURE_ALL,
                    .backend = &test_backend_vtable)

#elif defined(VARIANT_SHORT_VTABLE)
/* What a forwarder built for an older minor looks like: its vtable ends
 * after contribute. The members past its struct_size hold garbage here; the
 * loader must hand out NULL for them. */
static const struct
{
  CboxForwarderVTable vtable;
} short_vtable = {
  .vtable = {
    .struct_size = G_STRUCT_OFFSET (CboxForwarderVTable, contribute) + sizeof (gpointer),
    .probe = test_forwarder_probe,
    .contribute = test_forwarder_contribute,
    .prepare = (gpointer) test_forwarder_contribute,
    .cleanup = (gpointer) test_forwarder_probe,
  },
};
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = PLUGIN_NAME, .version = "1.0",
                    .description = "a forwarder from an older minor",
                    .forwarder = &short_vtable.vtable)

#elif defined(VARIANT_DESC_1_0)
/* A descriptor exactly as long as ABI 1.0 made it (no padding, nothing a
 * later minor added): the smallest one the loader must accept. */
TEST_PLUGIN_DESCRIBE (.abi_major = CBOX_ABI_MAJOR, .abi_minor = 0,
                      .struct_size
                      = G_STRUCT_OFFSET (CboxPluginDesc, default_enabled) + sizeof (gboolean),
                      TEST_FORWARDER_FIELDS)

#elif defined(VARIANT_ABI_MAJOR_OLDER)
TEST_PLUGIN_DESCRIBE (.abi_major = CBOX_ABI_MAJOR - 1, .abi_minor = 0,
                      .struct_size = sizeof (CboxPluginDesc), TEST_FORWARDER_FIELDS)

#elif defined(VARIANT_ABI_MAJOR_NEWER)
TEST_PLUGIN_DESCRIBE (.abi_major = CBOX_ABI_MAJOR + 1, .abi_minor = 0,
                      .struct_size = sizeof (CboxPluginDesc), TEST_FORWARDER_FIELDS)

#elif defined(VARIANT_ABI_MINOR_NEWER)
TEST_PLUGIN_DESCRIBE (.abi_major = CBOX_ABI_MAJOR, .abi_minor = CBOX_ABI_MINOR + 1,
                      .struct_size = sizeof (CboxPluginDesc), TEST_FORWARDER_FIELDS)

#elif defined(VARIANT_NO_ENTRY_POINT)
/* Exports something, just not the entry point. */
G_MODULE_EXPORT int cbox_plugin_describe_me (void);
G_MODULE_EXPORT int
cbox_plugin_describe_me (void)
{
  return 1;
}

#elif defined(VARIANT_NULL_DESCRIPTOR)
G_MODULE_EXPORT const CboxPluginDesc *cbox_plugin_describe (void);
G_MODULE_EXPORT const CboxPluginDesc *
cbox_plugin_describe (void)
{
  return NULL;
}

#elif defined(VARIANT_STRUCT_SIZE)
TEST_PLUGIN_DESCRIBE (.abi_major = CBOX_ABI_MAJOR, .abi_minor = CBOX_ABI_MINOR,
                      .struct_size = G_STRUCT_OFFSET (CboxPluginDesc, name), TEST_FORWARDER_FIELDS)

#elif defined(VARIANT_VTABLE_SIZE)
static const CboxForwarderVTable tiny_vtable = {
  .struct_size = sizeof (gsize),
  .probe = test_forwarder_probe,
  .contribute = test_forwarder_contribute,
};
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = PLUGIN_NAME, .version = "1.0",
                    .forwarder = &tiny_vtable)

#elif defined(VARIANT_NO_NAME)
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .version = "1.0",
                    .forwarder = &test_forwarder_vtable)

#elif defined(VARIANT_BAD_NAME)
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "Bad Name", .version = "1.0",
                    .forwarder = &test_forwarder_vtable)

#elif defined(VARIANT_EMPTY_NAME)
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = "", .version = "1.0",
                    .forwarder = &test_forwarder_vtable)

#elif defined(VARIANT_BAD_KIND)
CBOX_PLUGIN_DEFINE (.kind = (CboxPluginKind)7, .name = PLUGIN_NAME, .version = "1.0",
                    .forwarder = &test_forwarder_vtable)

#elif defined(VARIANT_BAD_ALIAS)
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = PLUGIN_NAME, .version = "1.0",
                    .aliases = CBOX_STRV ("ok", "not,ok"), .forwarder = &test_forwarder_vtable)

#elif defined(VARIANT_MISSING_VTABLE)
/* A forwarder with a backend vtable only: the wrong kind's table does not
 * count. */
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = PLUGIN_NAME, .version = "1.0",
                    .backend = &test_backend_vtable)

#elif defined(VARIANT_MISSING_VFUNC)
static const CboxBackendVTable half_vtable = {
  .struct_size = sizeof (CboxBackendVTable),
  .probe = test_backend_probe,
};
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_BACKEND, .name = PLUGIN_NAME, .version = "1.0",
                    .backend = &half_vtable)

#elif defined(VARIANT_UNDEFINED_SYMBOL)
/* Links (shared modules may leave symbols undefined) but cannot be opened
 * with bind-now: fails dlopen even for root, unlike an unreadable file. */
extern int cbox_test_no_such_function (void);
static gboolean
undefined_probe (CboxContext *ctx, CboxProbeResult *result, GError **error)
{
  return cbox_test_no_such_function () == 0;
}
static const CboxForwarderVTable undefined_vtable = {
  .struct_size = sizeof (CboxForwarderVTable),
  .probe = undefined_probe,
  .contribute = test_forwarder_contribute,
};
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = PLUGIN_NAME, .version = "1.0",
                    .forwarder = &undefined_vtable)

#elif defined(VARIANT_DUPLICATE)
/* Built into second/ under another file name, with the name of the good
 * forwarder: the first one found wins. */
CBOX_PLUGIN_DEFINE (.kind = CBOX_PLUGIN_KIND_FORWARDER, .name = PLUGIN_NAME, .version = "2.0",
                    .description = "the same name again", .forwarder = &test_forwarder_vtable)

#else
#error "no VARIANT_ defined"
#endif

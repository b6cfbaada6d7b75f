/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* JSON output (schemas in docs/plan-json.md), in its own small library,
 * libcbox-json, that the cbox executable opens only for `--json` and
 * `doctor`: json-glib and GObject stay out of every `cbox run`. */

#include "cbox-doctor.h"
#include "cbox-planner.h"

G_BEGIN_DECLS

#define CBOX_JSON_VERSION 1

typedef enum
{
  CBOX_JSON_NONE = 0,
  /* Include the content of generated files (the test backend does; `cbox
   * plan` does not, as a copied file may hold secrets). */
  CBOX_JSON_DATA = 1 << 0,
} CboxJsonFlags;

/* Each returns a pretty-printed document with a final newline. */
char *cbox_json_plan (CboxPlan *plan, CboxContext *backend_ctx, CboxLaunch *launch,
                      CboxJsonFlags flags);
char *cbox_json_plugins (CboxRegistry *registry);
char *cbox_json_doctor (CboxDoctorReport *report, const CboxHost *host);

/* The same functions, found in libcbox-json at run time. */
typedef struct
{
  char *(*plan) (CboxPlan *plan, CboxContext *backend_ctx, CboxLaunch *launch, CboxJsonFlags flags);
  char *(*plugins) (CboxRegistry *registry);
  char *(*doctor) (CboxDoctorReport *report, const CboxHost *host);
} CboxJsonFuncs;

/* Opens libcbox-json from the libexec folder ($CBOX_LIBEXEC_DIR, not under
 * AT_SECURE, else the installed one). Implemented in cbox-cli.c. */
gboolean cbox_json_load (CboxJsonFuncs *ret_funcs, GError **error);

G_END_DECLS

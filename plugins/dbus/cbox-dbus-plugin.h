/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The dbus plugin's state between probe and contribute, shared with its
 * unit tests. */

#include <cbox/cbox-plugin.h>

#include "cbox-dbus-address.h"

G_BEGIN_DECLS

typedef enum
{
  CBOX_DBUS_MODE_NONE,
  CBOX_DBUS_MODE_FILTERED,
  CBOX_DBUS_MODE_FULL,
  CBOX_DBUS_MODE_AUTO, /* system bus only: filtered when it has rules, else none */
} CboxDbusMode;

/* In xdg-dbus-proxy's option order. */
enum
{
  CBOX_DBUS_POLICY_TALK,
  CBOX_DBUS_POLICY_OWN,
  CBOX_DBUS_POLICY_SEE,
  CBOX_DBUS_POLICY_CALL,
  CBOX_DBUS_POLICY_BROADCAST,
  CBOX_DBUS_N_POLICIES,
};

typedef struct
{
  GPtrArray *lists[CBOX_DBUS_N_POLICIES]; /* char* each */
} CboxDbusRules;

typedef struct
{
  CboxDbusMode session_mode;
  CboxDbusMode system_mode; /* never AUTO after loading */
  CboxDbusRules session_rules;
  CboxDbusRules system_rules;
  char **rule_sets;
  gboolean log;
  gboolean needs_proxy;
  char *proxy;              /* path of xdg-dbus-proxy, NULL when not found */
  CboxDbusAddress *session; /* the chosen entry, NULL when none */
  char *session_src;        /* unix:path: the socket under the host root */
  char *session_address;    /* what the proxy connects to */
  char *session_problem;    /* why there is none */
  CboxDbusAddress *system;
  char *system_src;
  char *system_address;
  char *system_problem;
  char *instance;
  char *run_dir; /* the private per-run directory on the host (filtered) */
} CboxDbusState;

void cbox_dbus_state_free (CboxDbusState *state);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CboxDbusState, cbox_dbus_state_free)
const char *cbox_dbus_mode_to_string (CboxDbusMode mode);

G_END_DECLS

/*
 * privs.h - never run as root: drop to the configured user.
 *
 * Programs call smg_privs_drop after reading what only root may read
 * (TLS key, credentials) and before touching the spool.  As root, the user
 * from [spool] user is taken (its groups, then its uid); "root" there is an
 * explicit, logged choice for test machines; no user is a config error.
 * As any other user nothing changes.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_PRIVS_H
#define SMG_PRIVS_H 1

#include <glib.h>

#include "lib/config.h"
#include "lib/status.h"

/* smg_privs_drop - SMG_CONFIG with err for a missing or unknown user */
enum smg_status smg_privs_drop(const struct smg_conf *conf,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;

#endif

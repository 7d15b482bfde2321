/*
 * ratelimit.h - per-customer message rate limit shared by all smg-recv
 * processes.
 *
 * The limit is "at most N messages in any period of P seconds" (a sliding
 * window, exact): [recv] rate_limit sets the default ("off" or e.g.
 * "100/min"), and the optional [recv] rate_limit_table file overrides it per
 * customer with lines "customer limit" (limit as in rate_limit; '#'
 * comments).  State lives in [spool] state_dir/ratelimit/ (mode 0700), one
 * small file per limited customer holding the times of its last N admitted
 * messages, read and updated under flock(LOCK_EX), so any number of
 * processes (smg-recv runs one per connection) share it correctly.
 * Nothing is written for a customer whose limit is off.  A state file not
 * written for two hours (all its times expired) is removed by a sweep that
 * runs at most hourly, started by a take that makes a new file.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_RATELIMIT_H
#define SMG_RATELIMIT_H 1

#include <glib.h>

#include "lib/config.h"
#include "lib/status.h"

struct smg_ratelimit;

/* The largest N accepted (the state file holds N timestamps). */
#define SMG_RATELIMIT_MAX_COUNT 1000000

/*
 * smg_ratelimit_open - read the limits from conf ([recv] rate_limit,
 * [recv] rate_limit_table, [spool] state_dir).  The table is read now; the
 * state folder is made lazily by the first smg_ratelimit_take that needs it.
 * On success *out owns the result (smg_ratelimit_free); conf may be freed
 * afterwards.  Returns SMG_CONFIG with err ("4.3.5 FILE:LINE: reason") for
 * a bad table line, a customer listed twice, a limit above
 * SMG_RATELIMIT_MAX_COUNT, or a missing or unreadable table file.
 */
enum smg_status smg_ratelimit_open(const struct smg_conf *conf,
                                   struct smg_ratelimit **out, GError **err)
    G_GNUC_WARN_UNUSED_RESULT __attribute__((nonnull(1, 2)));

/* smg_ratelimit_free - free rl, which may be NULL */
void smg_ratelimit_free(struct smg_ratelimit *rl);

/*
 * smg_ratelimit_limit - the limit that applies to customer: TRUE with
 * *count messages per *per_seconds seconds, or FALSE (and *count 0) when it
 * is off.  count and per_seconds may be NULL.
 */
gboolean smg_ratelimit_limit(const struct smg_ratelimit *rl,
                             const char *customer, gint64 *count,
                             gint64 *per_seconds) __attribute__((nonnull(1, 2)));

/*
 * smg_ratelimit_take - ask to admit one message of customer at time now_us
 * (microseconds since the epoch; 0 or less: the real time now).  Sets
 * *allowed and, if TRUE, counts the message.  With the limit off, *allowed
 * is TRUE and nothing is touched.  A message is admitted when fewer than N
 * messages were admitted in the period (now - P, now].  A clock that went
 * back by more than P, or a corrupt state file, resets the customer's state
 * with a warning logged.  State is not fsync'ed: after a power loss a
 * customer may get up to one extra window.
 *
 * Returns SMG_OK; SMG_BUG with err for an empty customer name;
 * SMG_TEMPFAIL with err ("4.3.0 ...") when the state cannot be created,
 * locked, read or written (the caller answers 451 and *allowed is FALSE).
 */
enum smg_status smg_ratelimit_take(struct smg_ratelimit *rl,
                                   const char *customer, gint64 now_us,
                                   gboolean *allowed, GError **err)
    G_GNUC_WARN_UNUSED_RESULT __attribute__((nonnull(1, 2, 4)));

/*
 * smg_ratelimit_file_name - the state file name of customer (a new string):
 * [A-Za-z0-9_.-] kept, other bytes (and a leading '.') as %XX; a result
 * longer than 200 bytes becomes "sha256-<hex of the name>".  Exposed for the tests and for
 * operators who want to reset a customer (delete its file).
 */
char *smg_ratelimit_file_name(const char *customer) __attribute__((nonnull));

#endif

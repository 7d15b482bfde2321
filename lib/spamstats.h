/*
 * spamstats.h - per-customer spam counters: how much of a customer's
 * recent mail smg-check called spam, for smg-route.
 *
 * Files: STATE_DIR/spamstats/CUSTOMER, one per customer, where CUSTOMER
 * is the SMG-Customer value with every byte outside [A-Za-z0-9._-] (and a
 * leading '.') written as %XX; a result over 200 bytes is "sha256-" and
 * the hex SHA-256 of the value instead (as lib/ratelimit names its files),
 * since a file name has 255 at most.  Text, one line per hour:
 *
 *   # smg spamstats 1: hour-start ham spam
 *   1795320000 12 3
 *   1795323600 40 0
 *
 * hour-start is a Unix time, a multiple of 3600; ham and spam count the
 * messages smg-check gave that verdict in that hour.  An hour counts while
 * it overlaps the window ([check] spamstats_window, 1 day by default,
 * ending now); hours that ended before it are dropped when the file is
 * written and ignored when it is read; lines that do not parse (each
 * number plain decimal digits, no sign, counts up to 10^12) are ignored,
 * and lines of one hour are added up into one.  A writer holds an flock on STATE_DIR/spamstats/.lock
 * and replaces the file by rename of .tmp-CUSTOMER (one name: writers take
 * turns, and the next one overwrites what a killed one left), so readers
 * need no lock and never see a half-written file.  Files are not fsynced: a crash may lose the last
 * counts, never the file.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_SPAMSTATS_H
#define SMG_SPAMSTATS_H 1

#include <glib.h>

#include "lib/config.h"
#include "lib/status.h"

#define SMG_SPAMSTATS_BUCKET 3600

/* smg_spamstats_dir - STATE_DIR/spamstats from conf (new string) */
char *smg_spamstats_dir(const struct smg_conf *conf);

/* smg_spamstats_file - the file name of customer in dir (new string) */
char *smg_spamstats_file(const char *dir, const char *customer);

/*
 * smg_spamstats_add_dir - count one message of customer as spam or ham at
 * time now in dir (created if missing), keeping window seconds.
 * SMG_TEMPFAIL (4.3.0) on I/O errors.
 */
enum smg_status smg_spamstats_add_dir(const char *dir, const char *customer,
                                      gboolean spam, gint64 now, gint64 window,
                                      GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_spamstats_read_dir - the ham and spam counts of customer in the
 * window ending at now.  A missing file (or folder) is 0 and 0, SMG_OK.
 * SMG_TEMPFAIL (4.3.0) when the file cannot be read.
 */
enum smg_status smg_spamstats_read_dir(const char *dir, const char *customer,
                                       gint64 now, gint64 window, guint64 *ham,
                                       guint64 *spam,
                                       GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_spamstats_add - smg_spamstats_add_dir with conf's folder and window */
enum smg_status smg_spamstats_add(const struct smg_conf *conf,
                                  const char *customer, gboolean spam,
                                  gint64 now,
                                  GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_spamstats_ratio - what smg-route asks: the share of spam (0..1) in
 * customer's messages over conf's window up to now, and how many messages
 * that is (*n; *ratio is 0 when *n is 0).  Errors as smg_spamstats_read_dir.
 */
enum smg_status smg_spamstats_ratio(const struct smg_conf *conf,
                                    const char *customer, double *ratio,
                                    guint64 *n,
                                    GError **err) G_GNUC_WARN_UNUSED_RESULT;

#endif

/*
 * blcheck.h - one run of smg-blcheck: the gateways' addresses against the
 * configured DNSBLs, and what follows from the results.
 *
 * The steps, called in this order by bin/smg-blcheck.c:
 *
 *   smg_blcheck_new      read [blcheck], [dnsbl ZONE] and [gateway NAME]
 *   smg_blcheck_lookup   every (address, IP list) and (HELO name, domain
 *                        list) pair through lib/dnsbl in parallel, with
 *                        each IP list's RFC 5782 test points first: a list
 *                        that fails them gives errors, not results
 *   smg_blcheck_apply    fold the results into the state (lib/dnsbl):
 *                        new listings, clearances, persisting listings;
 *                        entries for what is no longer checked are dropped
 *   smg_blcheck_removals the configured removal request (lib/http) for
 *                        each new listing, and again for one that failed
 *   smg_blcheck_notify   one mail (lib/notify) with what was not told yet
 *   smg_blcheck_write_listed   the per-gateway state for smg-route
 *                        (lib/route's format)
 *   smg_blcheck_table / _json / _log   the report
 *
 * A failed lookup never changes what the state knows: a listing is neither
 * made nor cleared by a list that could not be asked.  Library rules hold:
 * nothing is printed, errors come back as GErrors.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_BLCHECK_H
#define SMG_BLCHECK_H 1

#include <glib.h>

#include "lib/config.h"
#include "lib/dnsbl.h"
#include "lib/status.h"

struct smg_blcheck;

/* What a run found (after smg_blcheck_apply). */
struct smg_blcheck_counts {
    unsigned checked; /* lookups for gateways (test points not counted) */
    unsigned listed;  /* of them listed */
    unsigned errors;  /* of them failed */
    unsigned fresh;   /* new listings */
    unsigned cleared; /* clearances */
};

/*
 * smg_blcheck_new - a run from conf (which must outlive it).  SMG_CONFIG
 * with err ("FILE: [group] key: reason") when no zone is configured, a
 * return-code rule, template or header line is bad, removal keys are set
 * without removal_url, or a gateway's bind is not an IP address.
 */
enum smg_status smg_blcheck_new(const struct smg_conf *conf,
                                struct smg_blcheck **out,
                                GError **err) G_GNUC_WARN_UNUSED_RESULT;
void smg_blcheck_free(struct smg_blcheck *b);

/*
 * smg_blcheck_state_file - the state file: [blcheck] state_file, or
 * [spool] state_dir/blcheck.state.  New string.
 */
char *smg_blcheck_state_file(const struct smg_conf *conf);

/*
 * smg_blcheck_lookup - do every lookup.  SMG_CONFIG when [dns]
 * nameservers is unusable; otherwise SMG_OK (failed lookups are results).
 */
enum smg_status smg_blcheck_lookup(struct smg_blcheck *b,
                                   GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_blcheck_apply - fold the results into st (which b keeps using
 * until it is freed; st stays the caller's) at time now.
 */
void smg_blcheck_apply(struct smg_blcheck *b, struct smg_dnsbl_state *st,
                       gint64 now);

/* smg_blcheck_counts - what the run found (after smg_blcheck_apply) */
struct smg_blcheck_counts smg_blcheck_counts(const struct smg_blcheck *b);

/* smg_blcheck_save_fn - save the state; FALSE (having logged why) if not */
typedef gboolean (*smg_blcheck_save_fn)(void *data);

/*
 * smg_blcheck_removals - for each listed entry without a removal request
 * made, or whose last one failed: send the list's removal_url request (if
 * [blcheck] removal_requests), or record its removal_form link, or "none".
 * Before each request the entry is marked removal=pending and save (if
 * not NULL) is called with save_data: when it fails, that request and the
 * later ones are not sent (a later run sends them), so that a request is
 * never sent twice; an entry left pending by a run that died is not sent
 * again.  Results go into the entries and the log; never fails.
 */
void smg_blcheck_removals(struct smg_blcheck *b, smg_blcheck_save_fn save,
                          void *save_data);

/*
 * smg_blcheck_notify - mail the entries not told yet to [blcheck] notify
 * (into the spool's [blcheck] notify_queue, or via [blcheck] sendmail)
 * and mark them told.  Without notify addresses they are only logged and
 * marked told.  On failure (SMG_TEMPFAIL or SMG_PERMFAIL with err) they
 * stay untold, for the next run.
 */
enum smg_status smg_blcheck_notify(struct smg_blcheck *b,
                                   GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_blcheck_write_listed - write the listed state of every gateway with
 * smg_route_blacklist_write ([spool] state_dir/blacklist/NAME).  A
 * gateway whose lookups all failed gets smg_route_blacklist_write_unknown
 * instead: its last state stays as it was (status and checked time), or
 * is "unknown" if it had none.  Returns the first failure (SMG_TEMPFAIL)
 * after trying every gateway.
 */
enum smg_status smg_blcheck_write_listed(struct smg_blcheck *b, GError **err)
    G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_blcheck_table - the report as a text table (new string): a header
 * and one row per listed, new, cleared or failed lookup (clean ones too
 * with verbose), plus a row per list that failed its test points; ""
 * when there is nothing to show (and not verbose).
 */
char *smg_blcheck_table(const struct smg_blcheck *b, gboolean verbose);

/*
 * smg_blcheck_json - every result as one JSON object (new string, ending
 * in a newline); dry_run and exit_code are written into it.
 */
char *smg_blcheck_json(const struct smg_blcheck *b, gboolean dry_run,
                       int exit_code);

/* smg_blcheck_log - one log line per listing, clearance and failure */
void smg_blcheck_log(const struct smg_blcheck *b);

#endif

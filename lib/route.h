/*
 * route.h - choose the egress pool (good/bad) and the gateway of a message.
 *
 * The pool comes from what the earlier stages wrote into the envelope, in
 * this order: a virus verdict "infected" (SMG-Virus), a spam verdict
 * "spam" (SMG-Spam), a verdict that is missing or unknown ("unchecked":
 * customer mail, which smg-recv marks with SMG-Client, must carry
 * "clean" and "ham"; a verdict field with another word never passes; smg's
 * own reports, which enter at queue sign, carry none), the customer's
 * recent spam ratio at or above [route] customer_spam_ratio, and a report
 * (NDR, delay notice) about mail that itself left from the bad pool (its
 * SMG-Route already says pool=bad): any of these sends it to the bad pool,
 * everything else to the good one.  A message never moves from bad to
 * good.
 *
 * Inside the pool the gateway is a stable function of the queue ID (a hash
 * modulo the number of candidates), so that a repeated run picks the same
 * gateway and load spreads evenly.  The candidates are the pool's gateways
 * that smg-blcheck does not report listed; when every gateway of the pool
 * is listed, all of them are candidates again (mail must still leave).
 *
 * Blacklist state (written by smg-blcheck, read here): one file per
 * gateway, STATE_DIR/blacklist/GATEWAY ([spool] state_dir), replaced
 * atomically (write a temporary file in the same folder, rename).  Lines
 * "key=value"; '#' comments and blank lines are ignored; unknown keys are
 * ignored (room to grow):
 *
 *   status=listed            listed | clean | unknown  (required)
 *   checked=2026-11-22T05:00:00Z   when the check ran (UTC)
 *   address=192.0.2.1        the address that was checked
 *   zones=zen.spamhaus.org bl.spamcop.net   the zones that list it
 *
 * A missing file means "never checked" and counts as clean; a file without
 * a valid status line counts as clean too, and says so in the explanation.
 * "unknown" is written when no lookup of a gateway that had no state yet
 * succeeded; it counts as clean, and the explanation says the check
 * failed.  A check whose lookups all fail never replaces a file: its
 * status and "checked" stay those of the last check that got answers.
 * smg_route_blacklist_write and smg_route_blacklist_write_unknown write
 * this format for smg-blcheck.
 *
 * Customer spam ratio: the counters that smg-check keeps per customer
 * (lib/spamstats: the SMG-Spam verdicts of the last [check]
 * spamstats_window), read for the SMG-Customer of the message (else the
 * auth= word of SMG-Client).  smg-route only reads them.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_ROUTE_H
#define SMG_ROUTE_H 1

#include <time.h>

#include <glib.h>

#include "lib/config.h"
#include "lib/envelope.h"
#include "lib/status.h"

enum smg_route_pool {
    SMG_ROUTE_GOOD = 0,
    SMG_ROUTE_BAD,
};

struct smg_route;

struct smg_route_decision {
    enum smg_route_pool pool;
    char *gateway;    /* the chosen gateway's name */
    char *reason;     /* one word for SMG-Route and the log: "ham", "spam",
                         "virus", "unchecked", "customer-ratio",
                         "bad-origin" */
    GString *explain; /* the decision and why, one fact a line */
};

/*
 * smg_route_new - a router from the [route], [gateway *] and [spool]
 * groups of conf (which must outlive it).  SMG_CONFIG with err when
 * [route] good or bad is empty or names a gateway without a
 * [gateway NAME] group.
 */
enum smg_status smg_route_new(const struct smg_conf *conf,
                              struct smg_route **out,
                              GError **err) G_GNUC_WARN_UNUSED_RESULT;
void smg_route_free(struct smg_route *r);

/* smg_route_set_now - the end of the ratio window; 0: time(NULL) */
void smg_route_set_now(struct smg_route *r, time_t now);

/*
 * smg_route_decide - choose pool and gateway for the message of queue ID
 * id with envelope env.  Fills *d (clear it with
 * smg_route_decision_clear).  Never fails for the message's sake: a
 * missing verdict of customer mail is "unchecked" (the bad pool), of other
 * mail nothing; unreadable state is reported in d->explain and ignored;
 * SMG_OK always.
 */
enum smg_status smg_route_decide(struct smg_route *r, const char *id,
                                 const struct smg_envelope *env,
                                 struct smg_route_decision *d,
                                 GError **err) G_GNUC_WARN_UNUSED_RESULT;
void smg_route_decision_clear(struct smg_route_decision *d);

/* smg_route_pool_name - "good" or "bad" */
const char *smg_route_pool_name(enum smg_route_pool pool);

/*
 * smg_route_hash - the stable hash (32-bit FNV-1a) of a queue ID that
 * picks the gateway: candidates[hash % n].
 */
guint32 smg_route_hash(const char *id);

/* Blacklist state of one gateway. */
struct smg_route_blacklist {
    gboolean present; /* a state file was read, valid or not */
    gboolean known;   /* a valid state file was read */
    gboolean listed;  /* status=listed */
    gboolean unknown; /* status=unknown (known is FALSE): every lookup of
                         the only check so far failed */
    char *checked;   /* "2026-11-22T05:00:00Z" or NULL */
    char *address;   /* or NULL */
    char *zones;     /* "zen.spamhaus.org bl.spamcop.net" or NULL */
};

/*
 * smg_route_blacklist_read - the state of gateway in state_dir.  A missing
 * file is SMG_OK with known FALSE.  A file without a valid status line is
 * SMG_OK with known FALSE, and so is status=unknown (with unknown TRUE and
 * checked set); present is TRUE for any file read.  SMG_TEMPFAIL with err
 * when the file exists but cannot be read.  Clear *bl with
 * smg_route_blacklist_clear.
 */
enum smg_status smg_route_blacklist_read(const char *state_dir,
                                         const char *gateway,
                                         struct smg_route_blacklist *bl,
                                         GError **err)
    G_GNUC_WARN_UNUSED_RESULT;
void smg_route_blacklist_clear(struct smg_route_blacklist *bl);

/*
 * smg_route_blacklist_write - write the state of gateway atomically
 * (STATE_DIR/blacklist/.GATEWAY.tmp, fsync, rename), creating
 * STATE_DIR/blacklist if needed.  checked 0: now.  zones may be NULL.
 * SMG_TEMPFAIL with err on I/O errors, SMG_PERMFAIL for a gateway name
 * that is not a plain file name.
 */
enum smg_status smg_route_blacklist_write(const char *state_dir,
                                          const char *gateway,
                                          gboolean listed, time_t checked,
                                          const char *address,
                                          const char *zones, GError **err)
    G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_route_blacklist_forget - remove the state file of gateway, which has
 * nothing smg-blcheck can look up (no bind address, and no helo name or
 * no domain_zones): no file is "never checked".  *removed (may be NULL) tells whether there was one.
 * Errors as smg_route_blacklist_write.
 */
enum smg_status smg_route_blacklist_forget(const char *state_dir,
                                           const char *gateway,
                                           gboolean *removed, GError **err)
    G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_route_blacklist_write_unknown - record that no lookup of gateway
 * succeeded (time-outs, SERVFAIL, error codes): "status=unknown" with
 * checked (0: now) and address (may be NULL), written only when the
 * gateway has no state file yet.  An existing file, whatever it says, is
 * left as it is, so a failed check neither clears a listing nor makes an
 * old result look fresh.  *written (may be NULL) tells whether the file
 * was written.  Errors as smg_route_blacklist_write.
 */
enum smg_status smg_route_blacklist_write_unknown(const char *state_dir,
                                                  const char *gateway,
                                                  time_t checked,
                                                  const char *address,
                                                  gboolean *written,
                                                  GError **err)
    G_GNUC_WARN_UNUSED_RESULT;

/* a TXT record's character-string holds at most this many bytes */
#define SMG_ROUTE_TXT_STRING_MAX 255

/* an SPF record longer than this may not fit a UDP answer (RFC 7208 3.4) */
#define SMG_ROUTE_SPF_UDP_MAX 450

/*
 * smg_route_spf - the SPF record that lists the bind addresses of every
 * [gateway NAME] group of conf: "v=spf1 ip4:192.0.2.1 ip6:2001:db8::1
 * -all" (new string, addresses in the order of the groups, each once).
 * Addresses are written in their canonical form (inet_ntop: IPv6
 * compressed and in lower case; an IPv4-mapped IPv6 address as ip4:), and
 * two spellings of one address are one address.  Gateways whose sending
 * address is not known here are named in *skipped if skipped is not NULL
 * (new string "mta02 (relay), mta05 (no bind)", "" when none): a relay
 * gateway (a relay host on another node sends its mail, whatever its bind
 * address), one without bind (the host's default address) and one bound
 * to 0.0.0.0 or :: ("bind to any address": the same).  SMG_CONFIG
 * with err when a bind address is not an IP address or no gateway has one
 * of its own.
 */
enum smg_status smg_route_spf(const struct smg_conf *conf, char **record,
                              char **skipped,
                              GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_route_txt_strings - record as the RDATA of a TXT record in a zone
 * file: one or more quoted character-strings of at most
 * SMG_ROUTE_TXT_STRING_MAX bytes each, separated by a space.  A record is
 * cut after a space (which ends the earlier string), since readers join
 * the strings without a separator (RFC 7208 3.3); a word longer than a
 * whole string is cut where it must be.  '"' and '\\' are escaped.  New
 * string; "\"\"" for "".
 */
char *smg_route_txt_strings(const char *record) __attribute__((nonnull));

#endif

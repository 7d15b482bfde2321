/*
 * dnsbl.h - DNS blacklist lookups (RFC 5782) and the blacklist state file.
 *
 * A lookup asks for the A records of the reversed IP address (IPv4: the
 * four octets reversed; IPv6: the 32 nibbles reversed, RFC 5782 section
 * 2.4) or of a domain name (name lists, section 2.2) under the list's
 * zone.  NXDOMAIN or no A record is "clean".  Every A record is read
 * through the list's return-code table: the rules configured for the list
 * first, then the built-in ones:
 *
 *   127.255.255.0-127.255.255.255    error  (Spamhaus keeps the /24 for
 *                                            error codes: query refused,
 *                                            public resolver, over quota)
 *   127.0.0.1                        error  (a list never lists it; some
 *                                            answer it for a refused query)
 *   127.0.0.0/8                      listed
 *   anything else                    error  (not a DNSBL answer)
 *
 * Any error code makes the whole answer an error (nothing to act on); else
 * any listing makes it a listing, whose reason is the TXT record (fetched
 * then) or the rule's label; else (all codes ignored) it is clean.  A DNS
 * time-out or SERVFAIL is an error, never "clean".
 *
 * smg_dnsbl_run does many lookups in parallel: a few threads, each with its
 * own resolver (struct smg_dns is not thread-safe), take the queries in
 * turn; each query's result is written only into that query.
 *
 * The state (smg_dnsbl_state) remembers, per (gateway, subject, zone), a
 * listing or a clearance not yet told, when it began, and the removal
 * request made.  It is kept in a GLib key file, one group per entry,
 * replaced atomically (write, fsync, rename).  The per-gateway "listed
 * state" that smg-route reads is lib/route's format, written with
 * smg_route_blacklist_write from this state.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_DNSBL_H
#define SMG_DNSBL_H 1

#include <glib.h>

#include "lib/dns.h"
#include "lib/status.h"

/* What one return code means. */
enum smg_dnsbl_action {
    SMG_DNSBL_ACTION_LISTED = 0, /* a listing */
    SMG_DNSBL_ACTION_IGNORE,     /* a listing the operator does not act on */
    SMG_DNSBL_ACTION_ERROR,      /* the list refused or failed the query */
};

/* What one lookup found. */
enum smg_dnsbl_verdict {
    SMG_DNSBL_CLEAN = 0, /* not listed (or only ignored codes) */
    SMG_DNSBL_LISTED,    /* listed */
    SMG_DNSBL_ERROR,     /* unknown: time-out, SERVFAIL, an error code */
};

/* A list's return-code table (opaque). */
struct smg_dnsbl_codes;

/*
 * smg_dnsbl_codes_parse - a table from rule words (NULL-terminated; NULL or
 * empty: only the built-in rules), each "ADDR[-ADDR]=ACTION[:LABEL]" with
 * IPv4 addresses, ACTION "listed", "ignore" or "error", and an optional
 * label (no spaces) shown as the reason when the list gives no TXT.  The
 * first rule that matches wins; the built-in rules come last.  On success
 * *out is owned by the caller (smg_dnsbl_codes_free).  SMG_CONFIG with err
 * ("bad return code rule ...") for a malformed word.
 */
enum smg_status smg_dnsbl_codes_parse(const char *const *words,
                                      struct smg_dnsbl_codes **out,
                                      GError **err) G_GNUC_WARN_UNUSED_RESULT;
void smg_dnsbl_codes_free(struct smg_dnsbl_codes *codes);

/*
 * smg_dnsbl_classify - what answer (an IPv4 address as text) means under
 * codes (NULL: the built-in rules only).  *label (may be NULL) is set to
 * the matching rule's label or NULL; a text that is not an IPv4 address
 * is an error.
 */
enum smg_dnsbl_action smg_dnsbl_classify(const struct smg_dnsbl_codes *codes,
                                         const char *answer,
                                         const char **label);

/* smg_dnsbl_action_name, smg_dnsbl_verdict_name - "listed", "clean", ... */
const char *smg_dnsbl_action_name(enum smg_dnsbl_action a);
const char *smg_dnsbl_verdict_name(enum smg_dnsbl_verdict v);

/*
 * smg_dnsbl_reverse - the reversed form of an IP address as used under a
 * DNSBL zone: "2.0.0.127" for 127.0.0.2, 32 dot-separated nibbles for
 * IPv6.  A new string, or NULL when ip is not an IPv4 or IPv6 address.
 */
char *smg_dnsbl_reverse(const char *ip);

/*
 * smg_dnsbl_query_name - the name to look up: the reversed ip (by_name
 * FALSE) or the domain name subject (by_name TRUE, final dot dropped)
 * followed by zone.  A new string, or NULL with SMG_PERMFAIL in err when
 * subject is not an IP address, or the name is not a valid domain name.
 */
char *smg_dnsbl_query_name(const char *subject, const char *zone,
                           gboolean by_name, GError **err);

/* One lookup: the caller fills the first part, smg_dnsbl_lookup the rest. */
struct smg_dnsbl_query {
    char *subject;    /* "192.0.2.1", "2001:db8::1", or a host name */
    char *zone;       /* "zen.spamhaus.org" */
    gboolean by_name; /* a name list: subject is a name */
    const struct smg_dnsbl_codes *codes; /* not owned; NULL: built-ins */
    gpointer data;                       /* the caller's; not touched */

    enum smg_dnsbl_verdict verdict;
    char *answer; /* the A records, space-separated; NULL if none */
    char *reason; /* with LISTED: the TXT text or the labels; may be NULL */
    char *error;  /* with ERROR: why ("4.4.3 DNS lookup of ... timed out") */
};

/* smg_dnsbl_query_new - a query with copies of subject and zone */
struct smg_dnsbl_query *
smg_dnsbl_query_new(const char *subject, const char *zone, gboolean by_name,
                    const struct smg_dnsbl_codes *codes);
void smg_dnsbl_query_free(struct smg_dnsbl_query *q);

/*
 * smg_dnsbl_lookup - do q with dns: fills verdict, answer, reason and
 * error (earlier results are replaced).  The TXT lookup of a listing that
 * fails leaves the listing standing, with the labels (or nothing) as the
 * reason.  Never fails as a whole: an unusable answer is an ERROR verdict.
 */
void smg_dnsbl_lookup(struct smg_dns *dns, struct smg_dnsbl_query *q);

/*
 * smg_dnsbl_run - do every query of queries (of struct smg_dnsbl_query *)
 * with up to parallel threads, each with a resolver made by
 * smg_dns_new_servers(servers, timeout_ms, attempts).  Returns SMG_CONFIG
 * with err when no resolver can be made (bad server address), SMG_TEMPFAIL
 * when no thread can be started; otherwise SMG_OK with every query done.
 */
enum smg_status smg_dnsbl_run(GPtrArray *queries, const char *const *servers,
                              int timeout_ms, int attempts, unsigned parallel,
                              GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_dnsbl_testpoints - whether a zone passes a pair of RFC 5782's test
 * points: listed is the lookup of 127.0.0.2, ::FFFF:7F00:2 or TEST (it
 * must have an answer that is no error), unlisted that of 127.0.0.1,
 * ::FFFF:7F00:1 or INVALID (it must have none).  FALSE with *why (a new
 * string, naming the subject) otherwise.
 */
gboolean smg_dnsbl_testpoints(const struct smg_dnsbl_query *listed,
                              const struct smg_dnsbl_query *unlisted,
                              char **why);

/* ---- the state file ---- */

enum smg_dnsbl_entry_state {
    SMG_DNSBL_ENTRY_LISTED = 0, /* listed as of the last good lookup */
    SMG_DNSBL_ENTRY_CLEARED,    /* seen clean; kept until that is told */
};

/* What is known about one (gateway, subject, zone) that was listed. */
struct smg_dnsbl_entry {
    char *gateway;
    char *subject;
    char *zone;
    gboolean by_name;
    enum smg_dnsbl_entry_state state;
    gint64 since;      /* first seen listed (Unix time) */
    gint64 last_seen;  /* last seen listed */
    gint64 cleared;    /* seen clean (CLEARED only) */
    char *reason;      /* may be NULL */
    char *answer;      /* may be NULL */
    gboolean notified; /* the listing (CLEARED: the clearance) was told */
    /* the removal request: NULL (none yet), "sent", "failed", "manual",
     * "none" (the list has no removal procedure configured) */
    char *removal;
    char *removal_detail; /* "POST URL: HTTP 200", the form link, the error */
    gint64 removal_time;
    unsigned removal_attempts;
    gboolean changed; /* private: changed in this run (not saved) */
};

struct smg_dnsbl_state;

/*
 * smg_dnsbl_state_load - read the state file path; a missing file is an
 * empty state.  SMG_TEMPFAIL with err when it cannot be read or parsed.
 * On success *out is owned by the caller (smg_dnsbl_state_free).
 */
enum smg_status smg_dnsbl_state_load(const char *path,
                                     struct smg_dnsbl_state **out,
                                     GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_dnsbl_state_new - an empty state */
struct smg_dnsbl_state *smg_dnsbl_state_new(void);
void smg_dnsbl_state_free(struct smg_dnsbl_state *st);

/*
 * smg_dnsbl_state_save - write the state to path atomically (path.tmp,
 * fsync, rename, fsync of the folder).  Cleared entries that were told are
 * not written (they stay in st).  SMG_TEMPFAIL with err on I/O errors; the old
 * file then stays.
 */
enum smg_status smg_dnsbl_state_save(struct smg_dnsbl_state *st,
                                     const char *path,
                                     GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_dnsbl_state_apply - record q's result for gateway at time now:
 * LISTED makes a new entry (not told, since now) unless one is listed
 * already (then last_seen, reason and answer are updated); CLEAN turns a
 * listed entry into a cleared one (not told); ERROR changes nothing.
 * Returns the entry concerned, or NULL (clean and nothing known).
 */
struct smg_dnsbl_entry *smg_dnsbl_state_apply(struct smg_dnsbl_state *st,
                                              const char *gateway,
                                              const struct smg_dnsbl_query *q,
                                              gint64 now);

/* smg_dnsbl_state_get - the entry of (gateway, subject, zone), or NULL */
struct smg_dnsbl_entry *smg_dnsbl_state_get(const struct smg_dnsbl_state *st,
                                            const char *gateway,
                                            const char *subject,
                                            const char *zone);

/*
 * smg_dnsbl_state_entries - the entries, sorted by gateway, subject, zone
 * (a new array of pointers owned by st; g_ptr_array_unref).
 */
GPtrArray *smg_dnsbl_state_entries(const struct smg_dnsbl_state *st);

/*
 * smg_dnsbl_state_retain - drop the entries for which keep(entry, data) is
 * FALSE (lists or gateways no longer checked); returns how many went.
 */
unsigned smg_dnsbl_state_retain(
    struct smg_dnsbl_state *st,
    gboolean (*keep)(const struct smg_dnsbl_entry *, gpointer), gpointer data);

/* smg_dnsbl_time_text - Unix time as RFC 3339 UTC ("2026-11-22T05:00:00Z") */
char *smg_dnsbl_time_text(gint64 t);

#endif

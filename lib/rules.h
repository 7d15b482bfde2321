/*
 * rules.h - the rule scorer of smg-check: a rules file of header, body,
 * URI, raw and built-in tests, each with a score, whose hits add up.
 *
 * The format (smg-check(8), RULES FILE) is one rule a line:
 *
 *   header   NAME SCORE FIELD =~ /RE/FLAGS     any FIELD matches
 *   header   NAME SCORE FIELD !~ /RE/FLAGS     no FIELD matches (or none)
 *   header   NAME SCORE exists FIELD
 *   header   NAME SCORE !exists FIELD
 *   body     NAME SCORE /RE/FLAGS              decoded text and Subject
 *   html     NAME SCORE /RE/FLAGS              decoded source of HTML parts
 *   uri      NAME SCORE /RE/FLAGS              any URI of the message
 *   raw      NAME SCORE /RE/FLAGS              the message as sent
 *   test     NAME SCORE FUNCTION [ARG...]      a built-in test
 *   describe NAME TEXT                         what the rule means
 *   score    NAME SCORE                        change a rule's score (0: off)
 *
 * FIELD is a header name; FIELD:addr the addresses in it, FIELD:name its
 * text without them; ALL every field as "Name: value" lines.  FLAGS are
 * i (ASCII case-insensitive), m (^ and $ at lines), s (. matches \n) and
 * x (extended).  Patterns are PCRE (GRegex) matched on bytes: header
 * values and text are UTF-8, raw is the message as it came.  A rule
 * defined again replaces the earlier one (a local file overrides the
 * shipped one); names are [A-Z0-9_]+.
 *
 * Built-in functions: html_only, link_mismatch, header_8bit, parts_cut,
 * date_missing, date_invalid, date_future HOURS, date_past DAYS,
 * msgid_missing, msgid_invalid, attachment_ext EXT..., recipients_over N,
 * from_mismatch, caps_ratio PERCENT, uri_dnsbl.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_RULES_H
#define SMG_RULES_H 1

#include <glib.h>

#include "lib/dns.h"
#include "lib/mimetext.h"
#include "lib/status.h"

struct smg_rules;

/* smg_rules_new - an empty rule set */
struct smg_rules *smg_rules_new(void);
void smg_rules_free(struct smg_rules *rules);

/*
 * smg_rules_parse - add the rules of text (named name in errors) to rules.
 * SMG_CONFIG with "NAME:LINE: reason" for a syntax error, a bad regular
 * expression, an unknown function or a "score"/"describe" of an unknown
 * rule; rules is then unchanged.
 */
enum smg_status smg_rules_parse(struct smg_rules *rules, const char *text,
                                const char *name,
                                GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_rules_load - smg_rules_parse of the file at path.  SMG_CONFIG for an
 * unreadable file too, and "PATH:LINE: NUL byte" for a file with one.
 */
enum smg_status smg_rules_load(struct smg_rules *rules, const char *path,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_rules_count - the rules defined (including those scored 0) */
unsigned smg_rules_count(const struct smg_rules *rules);

/* What the rules look at besides the message. */
struct smg_rules_input {
    const struct smg_mimetext *mt;
    const char *sender;   /* envelope sender; NULL unknown, "" for <> */
    unsigned nrcpt;       /* envelope recipients; 0: count To and Cc */
    const char *const *customer_domains; /* the customer's From domains
                                             (lib/customers.h), or NULL:
                                             compare with the sender */
    gint64 now;           /* Unix time of arrival, for date tests */
    struct smg_dns *dns;  /* NULL: uri_dnsbl does nothing */
    const char *const *uri_zones; /* DNSBL zones for URI domains, or NULL */
    unsigned uri_max;     /* URI domains looked up at most (0: 10) */
};

struct smg_rules_hit {
    const char *name;  /* owned by the rule set */
    const char *desc;  /* may be "" */
    double score;
    char *detail;      /* what matched, short; may be NULL */
};

/*
 * smg_rules_eval - run every rule with a non-zero score on in and append
 * a struct smg_rules_hit for each that fires to hits (clear them with
 * smg_rules_hits_clear).  Returns the sum of their scores.  Never fails:
 * a DNS time-out or error in uri_dnsbl is noted in notes (may be NULL) as
 * "uri_dnsbl=tempfail(...)", that zone is not asked again for the other
 * URI domains, and the test does not fire on it.
 */
double smg_rules_eval(const struct smg_rules *rules,
                      const struct smg_rules_input *in, GArray *hits,
                      GString *notes);

/* smg_rules_hits_new - an empty array for smg_rules_eval */
GArray *smg_rules_hits_new(void);

/* smg_rules_hits_free - free hits and their details */
void smg_rules_hits_free(GArray *hits);

/* smg_rules_received_time - the time of the topmost Received: field of
 * mt, or 0; what date tests compare Date: with when it is there */
gint64 smg_rules_received_time(const struct smg_mimetext *mt);

#endif

/*
 * policy.h - the TLS policy table of smg-send: which (sender domain,
 * recipient domain) pairs need what TLS, and what happens when it fails.
 *
 * The file ([send] tls_policy) has one rule a line,
 *
 *   sender-domain  recipient-domain  level  [action]
 *
 * with '#' comments and blank lines.  A domain is "example.com" (itself
 * only), ".example.com" (its subdomains, not itself, as in Postfix tables)
 * or "*" (any, including the null sender's empty domain).  Levels are
 * Postfix's: none (never STARTTLS), may (STARTTLS when offered, clear text
 * otherwise), encrypt (TLS required, certificate not checked), verify (TLS
 * required, certificate chain and the MX host name checked), dane (TLSA
 * records of the MX host, from validated DNS answers only, decide: when
 * usable ones exist TLS must authenticate with them, otherwise as may).
 * The action applies when a required TLS cannot be had: "defer" (the
 * default: retry later like any temporary failure, an NDR at the end of
 * the queue lifetime), "reject" (an NDR at once saying TLS could not be
 * established) or "hold" (the message goes to hold/ and the sender gets a
 * delay notice; an operator releases it, or it expires into an NDR).
 *
 * Lookup: the rule with the most specific recipient-domain match wins
 * (exact, then the longest ".parent" match, then "*"); among those, the
 * most specific sender-domain match.  Two rules with the same pair are a
 * configuration error.  No match: level may, action defer.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_POLICY_H
#define SMG_POLICY_H 1

#include <glib.h>

#include "lib/status.h"

enum smg_policy_level {
    SMG_POLICY_NONE = 0,
    SMG_POLICY_MAY,
    SMG_POLICY_ENCRYPT,
    SMG_POLICY_VERIFY,
    SMG_POLICY_DANE,
};

enum smg_policy_action {
    SMG_POLICY_DEFER = 0,
    SMG_POLICY_REJECT,
    SMG_POLICY_HOLD,
};

struct smg_policy_rule {
    enum smg_policy_level level;
    enum smg_policy_action action;
    unsigned line; /* where it was read; 0 for the default */
};

struct smg_policy;

/*
 * smg_policy_load - read the table at path.  SMG_CONFIG with err
 * ("path:line: reason") for an unreadable file, a line without three or
 * four words, an unknown level or action, a malformed domain or a pair
 * given twice.  *out is owned by the caller (smg_policy_free).
 */
enum smg_status smg_policy_load(const char *path, struct smg_policy **out,
                                GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_policy_load_data - the same for text in memory; name for errors */
enum smg_status smg_policy_load_data(const char *text, const char *name,
                                     struct smg_policy **out,
                                     GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_policy_empty - a table with no rules (everything may/defer) */
struct smg_policy *smg_policy_empty(void);

void smg_policy_free(struct smg_policy *p);

/*
 * smg_policy_lookup - the rule for sender_domain ("" for the null sender)
 * and rcpt_domain, compared case-insensitively and without a trailing dot
 * ("bank.test." is "bank.test").  Never fails; the default rule has line 0.
 */
struct smg_policy_rule smg_policy_lookup(const struct smg_policy *p,
                                         const char *sender_domain,
                                         const char *rcpt_domain);

/* smg_policy_level_name - "none", "may", "encrypt", "verify", "dane" */
const char *smg_policy_level_name(enum smg_policy_level level);

/* smg_policy_action_name - "defer", "reject", "hold" */
const char *smg_policy_action_name(enum smg_policy_action action);

/* smg_policy_parse_level - a level name to *level; FALSE if unknown */
gboolean smg_policy_parse_level(const char *s, enum smg_policy_level *level);

/* smg_policy_parse_action - an action name to *action; FALSE if unknown */
gboolean smg_policy_parse_action(const char *s, enum smg_policy_action *action);

#endif

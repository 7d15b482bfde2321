/*
 * dsn.h - RFC 3464 delivery status notifications (NDRs and delay notices).
 *
 * smg_dsn_build turns a spool file that cannot be (or has not yet been)
 * delivered into a new spool file: a multipart/report; report-type=
 * delivery-status message (RFC 6522) with a human-readable part, a
 * message/delivery-status part (RFC 3464) with one per-recipient block per
 * reported recipient, and the original as text/rfc822-headers (RET=HDRS or
 * no RET) or message/rfc822 (RET=FULL, in a report with at least one
 * failed recipient: a delay or success report returns the header only,
 * RFC 3461 4.3).  For an SMTPUTF8 message (its
 * SMG-Sender has SMTPUTF8, or an address is UTF-8) the report is RFC
 * 6533's: message/global-delivery-status, with a UTF-8 address written as
 * it is ("utf-8; ..."), and message/global-headers or message/global; it
 * is then sent with SMTPUTF8.  It comes from the null sender
 * ("SMG-Sender: <>", "From: Mail Delivery System <MAILER-DAEMON@mta>") and
 * goes to the original envelope sender as its one SMG-Recipient.
 *
 * What the client asked for is honoured: ENVID becomes
 * Original-Envelope-Id, ORCPT becomes Original-Recipient, and NOTIFY
 * decides per recipient: NOTIFY=NEVER never reports; an explicit NOTIFY
 * without FAILURE (resp. DELAY) does not report a failure (resp. delay);
 * without NOTIFY failures are reported and delays are too (RFC 3461 4.1
 * leaves delays to the MTA); success ("relayed", to a server that cannot
 * pass NOTIFY on) only with NOTIFY=SUCCESS, and with the original's header
 * only, whatever RET says (RFC 3461 4.3).  The original's SMG-* fields never appear in
 * the report.  There is never a report to the null sender (no bounce
 * loops), and smg_dsn_domains_allows adds the backscatter guard: a report
 * goes only to a sender in the customer's own domains when those are known.
 *
 * Queue IDs: smg_dsn_queue_id derives the report's ID from the original's,
 * so a stage that runs twice on one message (crash, retry) replaces its
 * earlier report instead of sending two.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_DSN_H
#define SMG_DSN_H 1

#include <time.h>

#include <glib.h>

#include "lib/customers.h"
#include "lib/envelope.h"
#include "lib/status.h"

enum smg_dsn_action {
    SMG_DSN_FAILED = 0, /* Action: failed (a non-delivery report) */
    SMG_DSN_DELAYED,    /* Action: delayed (a delay warning) */
    SMG_DSN_RELAYED,    /* Action: relayed (to a server without DSN, for a
                           recipient with NOTIFY=SUCCESS; RFC 3461 5.2.2) */
};

/* One recipient to report on. */
struct smg_dsn_rcpt {
    const char *addr;       /* envelope recipient, without <>; required */
    const char *params;     /* its SMG-Recipient parameters ("NOTIFY=FAILURE
                               ORCPT=rfc822;a@b"), read for NOTIFY and
                               ORCPT; NULL or "": none */
    enum smg_dsn_action action;
    const char *status;     /* RFC 3463 code "5.7.1" / "4.4.1"; required */
    const char *diagnostic; /* Diagnostic-Code value with its type, e.g.
                               "smtp; 554 5.7.1 rejected" or
                               "X-smg; virus found: Eicar-Signature";
                               NULL: none */
    const char *note;       /* a remark for the human part before the
                               diagnostic ("message expired after 5 days in
                               the queue"); NULL: none */
    const char *remote_mta; /* host name of the remote MTA ("mx.example.net",
                               written as "dns; mx.example.net"); NULL: none */
    time_t last_attempt;    /* Last-Attempt-Date; 0: none */
    time_t retry_until;     /* Will-Retry-Until (delayed only); 0: none */
};

/* What the report says about itself. */
struct smg_dsn_report {
    const char *reporting_mta; /* our host name ("out.example.net");
                                  required */
    const char *reason;        /* the human-readable paragraph(s): what
                                  happened and what to do; plain text,
                                  UTF-8 allowed; required */
    const char *subject;       /* NULL: "Undelivered Mail Returned to
                                  Sender" / "Delayed Mail (still being
                                  retried)" */
    const char *id;            /* queue ID of the report (SMG-Queue-ID and
                                  Message-ID); NULL: a new one */
    time_t now;                /* Date / Arrival-Date base; 0: time(NULL)
                                  (an injectable clock for tests) */
    gsize max_full;            /* with RET=FULL, a larger original is
                                  returned as headers only; 0: no limit */
    gboolean headers_only;     /* never return the full message, whatever
                                  RET says (infected content) */
};

/*
 * smg_dsn_build - build the report about the message buf[0..len) (a whole
 * spool file: its envelope env, parsed by the caller, and the message at
 * buf + body_offset) for the n recipients in rcpts.
 *
 * Recipients whose NOTIFY excludes the report are left out.  If none
 * remains, or the envelope sender is <> or absent, *out is set to NULL and
 * SMG_OK returned: no report is needed (the caller logs that).  Otherwise
 * *out is a new GString (the caller frees it) holding the complete spool
 * file: "SMG-Queue-ID: <id>", "SMG-Sender: <>", "SMG-Recipient: <original
 * sender>", SMG-Customer copied from the original, SMG-Arrival: now, then
 * the report message, LF line ends; "SMG-Bounce-Of: <original ID>" links
 * the two.  The sender gets BODY=8BITMIME when the report holds 8-bit
 * text, and SMTPUTF8 when it is an RFC 6533 one.  The action/status of each recipient is the caller's;
 * mixing failed and delayed recipients in one report is allowed (the
 * subject follows the first reported one).
 *
 * Returns SMG_BUG with err for missing required fields or n == 0.  An
 * original without a blank line is taken as all header.  Never touches
 * the spool.
 */
enum smg_status smg_dsn_build(const struct smg_dsn_report *rep,
                              const struct smg_envelope *env,
                              const char *buf, gsize len, gsize body_offset,
                              const struct smg_dsn_rcpt *rcpts, gsize n,
                              GString **out,
                              GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_dsn_wants - whether a recipient's params ask for (or allow) a report
 * of action: NOTIFY=NEVER → FALSE; NOTIFY given without FAILURE (DELAY for
 * delayed, SUCCESS for relayed) → FALSE; no NOTIFY → TRUE, except for
 * relayed (success is reported only on request).  params may be NULL.
 */
gboolean smg_dsn_wants(const char *params, enum smg_dsn_action action);

/*
 * smg_dsn_queue_id - the report's queue ID derived from the original's:
 * orig_id followed by tag ("N" for a failure report, "D1" for the first
 * delay warning, ...), so that a repeated run replaces the same file; when
 * that is too long for a queue ID, the first 64 characters of orig_id, "-",
 * 32 hex digits of its SHA-256 and tag, as stable.  New string; tag must
 * be [0-9A-Za-z] (at most 30 characters).
 */
char *smg_dsn_queue_id(const char *orig_id, const char *tag);

/*
 * smg_dsn_domains_allows - whether a report may go to env's sender.
 * FALSE for the null sender or no sender (why: "null sender").  With a
 * table of the customers' domains (lib/customers.h; tbl not NULL) and a
 * customer (SMG-Customer, else the auth= word of SMG-Client) that the
 * table lists, FALSE unless the table's domains of the customer cover the
 * sender's (why: "sender domain not the customer's").
 * Otherwise (no table, unknown customer) TRUE: when we cannot tell, the
 * report is sent.  *why (may be NULL) gets a static string or NULL.
 */
gboolean smg_dsn_domains_allows(const struct smg_customers *tbl,
                                const struct smg_envelope *env,
                                const char **why);

#endif

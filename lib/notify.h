/*
 * notify.h - mail to the operators: build the message, deliver it.
 *
 * A notice is a plain-text RFC 5322 message (Date, Message-ID, From, To,
 * Subject, MIME-Version, Content-Type text/plain; charset=utf-8,
 * Auto-Submitted: auto-generated as RFC 3834 asks of such mail).  It goes
 * out one of two ways:
 *
 *   - into the gateway's own spool, as a new message in a queue (normally
 *     "sign", so it is signed and routed like any other), with the
 *     envelope fields SMG-Queue-ID, SMG-Sender (with BODY=8BITMIME when
 *     the message holds 8-bit text), one SMG-Recipient per address,
 *     SMG-Arrival and SMG-Notice; written with smg_spool_create
 *     and smg_spool_commit, so it is on disk when the call returns;
 *   - or handed to a sendmail(8) program ("sendmail -oi -f SENDER --
 *     RCPT...", message on standard input; exit 0 means accepted).
 *
 * Header values are made safe: control characters become spaces and the
 * subject is kept to printable ASCII ('?' for other bytes).  The body is
 * made valid UTF-8; its lines end in LF (the spool's convention; sendmail
 * takes LF) and are cut to at most 990 octets.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_NOTIFY_H
#define SMG_NOTIFY_H 1

#include <glib.h>

#include "lib/spool.h"
#include "lib/status.h"

struct smg_notify {
    const char *from;         /* From: address (bare or "Name <addr>") */
    const char *sender;       /* envelope sender; "" or NULL for <> */
    const char *const *rcpts; /* the To: addresses, NULL-terminated, >= 1 */
    const char *subject;
    const char *body;     /* text; LF line ends */
    const char *hostname; /* right side of the Message-ID; NULL: host */
    const char *notice;   /* SMG-Notice value ("from=smg-blcheck ...") */
    gint64 now;           /* Date: (Unix time); 0: the current time */
    int timeout_ms; /* sendmail: the whole hand-off; <= 0: 300 s */
};

/*
 * smg_notify_message - the RFC 5322 message of n (header and body, LF line
 * ends), new string.  No envelope fields.
 */
GString *smg_notify_message(const struct smg_notify *n);

/*
 * smg_notify_date - the RFC 5322 date-time of t in UTC
 * ("Sun, 22 Nov 2026 05:00:00 +0000"), new string; independent of locale.
 */
char *smg_notify_date(gint64 t);

/*
 * smg_notify_spool - commit n as a new message to queue of spool (made if
 * missing).  On SMG_OK the file is in QUEUE/new and, if id is not NULL,
 * *id is its queue ID (g_free).  SMG_PERMFAIL (5.1.3) for a recipient or
 * sender that is not a plain address; SMG_TEMPFAIL with err on I/O errors.
 */
enum smg_status smg_notify_spool(const struct smg_notify *n,
                                 struct smg_spool *spool, const char *queue,
                                 char **id,
                                 GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_notify_sendmail - run the sendmail program at path (no shell) with
 * "-oi -f SENDER -- RCPT..." (SENDER "<>" for the null sender) and write
 * the message to its standard input; its standard output goes to
 * /dev/null, its standard error is ours.  The caller ignores SIGPIPE (a
 * sendmail that exits before reading would kill it).  It runs in a
 * process group of its own, which is killed (SIGKILL) when it has not
 * read the message and exited within n->timeout_ms: a sendmail that
 * talks SMTP itself (msmtp, ssmtp) to a stalled server must not hold the
 * caller for ever.  SMG_OK when it exits 0; SMG_TEMPFAIL (4.3.0) if it
 * cannot be started, is killed, times out or exits otherwise (its exit
 * code in the message); SMG_PERMFAIL as in smg_notify_spool.
 */
enum smg_status smg_notify_sendmail(const struct smg_notify *n,
                                    const char *path,
                                    GError **err) G_GNUC_WARN_UNUSED_RESULT;

#endif

/*
 * envelope.h - the SMG-* fields that begin a spool file's header.
 *
 * A spool file is an RFC 5322 message whose header section begins with
 * envelope fields (man/smg-envelope.5):
 *
 *   SMG-Queue-ID: <id>
 *   SMG-Sender: <user@example.com> BODY=8BITMIME RET=HDRS ENVID=xtext
 *   SMG-Recipient: <rcpt@example.net> NOTIFY=FAILURE ORCPT=rfc822;rcpt@...
 *   SMG-Client: addr=10.1.2.3 helo=app1.example.com tls=TLSv1.3 auth=c42
 *   SMG-Customer: c42
 *   SMG-Arrival: 2026-11-22T05:00:00Z
 *   SMG-Spam: / SMG-Virus: / SMG-Route: / SMG-Delivery: verdicts
 *
 * The parser reads the leading SMG-* fields only; the rest is the message.
 * A file with no SMG-* field is a bare message (filter mode): the envelope
 * is empty.  Every stage re-validates what it reads (stages don't trust
 * each other): a malformed envelope is SMG_PERMFAIL, and spool mode moves
 * the file to corrupt/.  Lines end in LF in the spool; CRLF is accepted.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_ENVELOPE_H
#define SMG_ENVELOPE_H 1

#include <glib.h>

#include "lib/status.h"

struct smg_rcpt {
    char *addr;    /* without the angle brackets; never NULL */
    char *params;  /* "NOTIFY=FAILURE ORCPT=rfc822;x@y" or "" */
};

struct smg_envelope {
    char *queue_id;      /* NULL if absent */
    char *sender;        /* without brackets; "" for <>; NULL if absent */
    char *sender_params; /* "BODY=8BITMIME RET=HDRS" or "" */
    GPtrArray *rcpts;    /* of struct smg_rcpt * */
    GPtrArray *fields;   /* other SMG-* fields: name ("Spam"), value pairs */
};

/* smg_envelope_new - an empty envelope */
struct smg_envelope *smg_envelope_new(void);
void smg_envelope_free(struct smg_envelope *env);

/*
 * smg_envelope_parse - parse the leading SMG-* fields of buf[0..len).
 * *body_offset is where the message proper begins.  SMG_PERMFAIL with err
 * for a malformed field (bad address syntax, an unknown SMG-* field, a
 * duplicated single field, NUL bytes).
 */
enum smg_status smg_envelope_parse(const char *buf, gsize len,
                                   struct smg_envelope **env,
                                   gsize *body_offset,
                                   GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_envelope_check_spool - what a spool file's envelope must have beyond
 * parsing: an SMG-Sender, at least one SMG-Recipient, and an SMG-Queue-ID
 * (if present) equal to id, the file's name.  SMG_PERMFAIL with err (DSN
 * 5.6.0) otherwise; the caller moves such a file to corrupt/.
 */
enum smg_status smg_envelope_check_spool(const struct smg_envelope *env,
                                         const char *id,
                                         GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_envelope_get - the value of field name ("Spam", "Client"; without
 * the "SMG-" prefix), or NULL.  Owned by env.
 */
const char *smg_envelope_get(const struct smg_envelope *env, const char *name);

/*
 * smg_envelope_is_customer_mail - whether env is a customer's message, as
 * smg-recv took it (it writes SMG-Client on every message it accepts),
 * rather than one of smg's own reports (NDRs, notices), which have none
 * even when they name the customer they are about
 */
gboolean smg_envelope_is_customer_mail(const struct smg_envelope *env);

/* smg_envelope_set - set (replace or add) field name; value is copied */
void smg_envelope_set(struct smg_envelope *env, const char *name,
                      const char *value);

/* smg_envelope_add_rcpt - append a recipient (copied) */
void smg_envelope_add_rcpt(struct smg_envelope *env, const char *addr,
                           const char *params);

/*
 * smg_envelope_write - append the fields to out, in the canonical order:
 * Queue-ID, Sender, Recipient..., then the other fields in the order set.
 * Values are written on one line each (LF).
 */
void smg_envelope_write(const struct smg_envelope *env, GString *out);

/*
 * smg_envelope_param - the value of "key=value" among the space-separated
 * words of s (a field value or params), new string, or NULL.  A quoted
 * value (key="a b") is unquoted.
 */
char *smg_envelope_param(const char *s, const char *key);

/*
 * smg_envelope_has_word - whether the space-separated params s have the
 * bare word w (such as SMTPUTF8 among the SMG-Sender params), any case
 */
gboolean smg_envelope_has_word(const char *s, const char *w);

/*
 * smg_envelope_strip - copy msg[0..len) to out without any header field
 * named SMG-* (anywhere in the header section), so that a client or a
 * transmission never carries them.
 */
void smg_envelope_strip(const char *msg, gsize len, GString *out);

#endif

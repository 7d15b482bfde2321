/*
 * dsn.c - RFC 3464 delivery status notifications and the backscatter guard.
 *
 * The report is written as text, in the manner of Postfix's bounce daemon:
 * a multipart/report (RFC 6522) whose three parts are the human text, the
 * message/delivery-status fields and the returned original (its header as
 * text/rfc822-headers, or all of it as message/rfc822 for RET=FULL).  The
 * boundary is derived from the report's ID and checked against the
 * returned text, so the output is deterministic for a fixed clock (tests)
 * and never ambiguous.  The original's SMG-* fields are stripped before it
 * is returned: the envelope is smg's, not the sender's.  An SMTPUTF8
 * message gets RFC 6533's global types, where UTF-8 addresses and header
 * fields may stand as they are; a classic report stays US-ASCII in its
 * machine-readable part.
 *
 * Values from the envelope (ENVID, ORCPT) are xtext as the client sent
 * them; they are decoded for the report (as Postfix does) unless the
 * decoded text would hold control or 8-bit characters (UTF-8 is kept in a
 * global report's utf-8 addresses).  Diagnostic text
 * given by the caller is made single-line US-ASCII; no line of the report
 * is longer than RFC 5322's 998 octets (the human part's line of a
 * recipient shortens the reply, which Diagnostic-Code has in full).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/dsn.h"
#include "lib/smtp.h"
#include "lib/spool.h"

#define WRAP_COLUMNS 72
#define MAX_FIELD 900
#define MAX_LINE 998 /* RFC 5322 2.1.1: octets in a line, CRLF excluded */

/* is_8bit - whether s[0..len) holds a byte above 127 */
static gboolean
is_8bit(const char *s, gsize len)
{
    for (gsize i = 0; i < len; i++)
        if ((unsigned char) s[i] > 127)
            return TRUE;
    return FALSE;
}

/* append_ascii - append s as one line of printable US-ASCII (at most max) */
static void
append_ascii(GString *out, const char *s, gsize max)
{
    gsize n = 0;

    for (const char *p = s; *p != '\0' && n < max; p++, n++) {
        unsigned char c = (unsigned char) *p;
        if (c == '\t' || c == '\r' || c == '\n')
            g_string_append_c(out, ' ');
        else if (c < 32 || c > 126)
            g_string_append_c(out, '?');
        else
            g_string_append_c(out, (char) c);
    }
}

/*
 * append_text - append_ascii, but with utf8 a valid UTF-8 s keeps its
 * non-ASCII characters (at most max octets, never half a character): the
 * fields of a message/global-delivery-status part (RFC 6533)
 */
static void
append_text(GString *out, const char *s, gsize max, gboolean utf8)
{
    gsize n = 0;

    if (!utf8 || !g_utf8_validate(s, -1, NULL)) {
        append_ascii(out, s, max);
        return;
    }
    for (const char *p = s; *p != '\0';) {
        const char *next = g_utf8_next_char(p);
        gsize len = (gsize) (next - p);

        if (n + len > max)
            break;
        if ((unsigned char) *p < 128)
            append_ascii(out, p, 1);
        else if (g_unichar_iscntrl(g_utf8_get_char(p)))
            g_string_append_c(out, '?');
        else
            g_string_append_len(out, p, (gssize) len);
        n += len;
        p = next;
    }
}

/* append_date - an RFC 5322 date in UTC ("Sun, 22 Nov 2026 05:00:00 +0000") */
static void
append_date(GString *out, time_t t)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;

    gmtime_r(&t, &tm);
    g_string_append_printf(out, "%s, %d %s %d %02d:%02d:%02d +0000", days[tm.tm_wday],
                           tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
                           tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* What each action is called: its Action: value, the NOTIFY word that asks
 * for it, the human part's heading and the report's subject. */
static const struct {
    const char *name, *notify, *heading, *subject;
} actions[] = {
    [SMG_DSN_FAILED] = {"failed", "FAILURE", "Your message could not be delivered to:\n\n",
                        "Undelivered Mail Returned to Sender"},
    [SMG_DSN_DELAYED] = {"delayed", "DELAY", "Your message has not yet been delivered to:\n\n",
                         "Delayed Mail (still being retried)"},
    [SMG_DSN_RELAYED] = {"relayed", "SUCCESS", "Your message was relayed to:\n\n",
                         "Successful Mail Delivery Report"},
};

/* valid_status - whether s is an RFC 3463 code class.subject.detail */
static gboolean
valid_status(const char *s)
{
    int dots = 0, digits = 0;

    if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return FALSE;
    for (const char *p = s + 2; *p != '\0'; p++) {
        if (*p == '.') {
            if (digits == 0 || ++dots > 1)
                return FALSE;
            digits = 0;
        } else if (g_ascii_isdigit(*p) && digits < 3) {
            digits++;
        } else {
            return FALSE;
        }
    }
    return dots == 1 && digits > 0;
}

gboolean
smg_dsn_wants(const char *params, enum smg_dsn_action action)
{
    char *notify = smg_envelope_param(params, "NOTIFY");
    gboolean wants = action != SMG_DSN_RELAYED;

    if (notify != NULL) {
        char **words = g_strsplit(notify, ",", -1);
        const char *want = actions[action].notify;

        wants = FALSE;
        for (char **w = words; *w != NULL; w++)
            if (g_ascii_strcasecmp(g_strstrip(*w), want) == 0)
                wants = TRUE;
        g_strfreev(words);
    }
    g_free(notify);
    return wants;
}

char *
smg_dsn_queue_id(const char *orig_id, const char *tag)
{
    char *id = g_strconcat(orig_id, tag, NULL);
    char *sum;

    if (smg_spool_valid_id(id))
        return id;
    g_free(id);
    sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, orig_id, -1);
    id = g_strdup_printf("%.64s-%.32s%s", orig_id, sum, tag);
    g_free(sum);
    return id;
}

/*
 * decoded_xtext - the xtext s decoded for a report field (new string): the
 * decoded text if it is printable US-ASCII (or, with utf8, valid UTF-8
 * without control characters), else s itself.
 */
static char *
decoded_xtext(const char *s, gboolean utf8)
{
    char *d = smg_smtp_xtext_decode(s, strlen(s));

    if (d != NULL && utf8 && !g_utf8_validate(d, -1, NULL))
        g_clear_pointer(&d, g_free);
    if (d != NULL) {
        for (const char *p = d; *p != '\0'; p++)
            if ((unsigned char) *p < 32 || (unsigned char) *p == 127
                || ((unsigned char) *p > 127 && !utf8)) {
                g_clear_pointer(&d, g_free);
                break;
            }
    }
    return d != NULL ? d : g_strdup(s);
}

/* append_wrapped - text as paragraphs wrapped at WRAP_COLUMNS, LF ends */
static void
append_wrapped(GString *out, const char *text)
{
    char **lines = g_strsplit(text, "\n", -1);

    for (char **l = lines; *l != NULL; l++) {
        char **words;
        gsize col = 0;

        g_strchomp(*l);
        if (**l == '\0' || **l == ' ' || **l == '\t') {
            /* blank lines and indented lines (lists) are kept as they are */
            g_string_append(out, *l);
            g_string_append_c(out, '\n');
            continue;
        }
        words = g_strsplit(*l, " ", -1);
        for (char **w = words; *w != NULL; w++) {
            gsize n = strlen(*w);
            if (n == 0)
                continue;
            if (col > 0 && col + 1 + n > WRAP_COLUMNS) {
                g_string_append_c(out, '\n');
                col = 0;
            } else if (col > 0) {
                g_string_append_c(out, ' ');
                col++;
            }
            g_string_append(out, *w);
            col += n;
        }
        g_string_append_c(out, '\n');
        g_strfreev(words);
    }
    g_strfreev(lines);
}

/*
 * original_text - the message without SMG-* fields, with LF line ends, in
 * *full; *hdr_len is the length of its header section (up to and
 * including the line end before the blank line).
 */
static GString *
original_text(const char *msg, gsize len, gsize *hdr_len)
{
    GString *stripped = g_string_sized_new(len + 1);
    GString *full = g_string_sized_new(len + 1);
    const char *p;

    smg_envelope_strip(msg, len, stripped);
    for (gsize i = 0; i < stripped->len; i++) {
        if (stripped->str[i] == '\r' && i + 1 < stripped->len && stripped->str[i + 1] == '\n')
            continue;
        g_string_append_c(full, stripped->str[i]);
    }
    g_string_free(stripped, TRUE);
    if (full->len > 0 && full->str[full->len - 1] != '\n')
        g_string_append_c(full, '\n');
    if (full->len > 0 && full->str[0] == '\n')
        *hdr_len = 0;
    else if ((p = strstr(full->str, "\n\n")) != NULL)
        *hdr_len = (gsize) (p - full->str) + 1;
    else
        *hdr_len = full->len;
    return full;
}

/* has_type - whether s begins with a diagnostic type ("smtp;") */
static gboolean
has_type(const char *s)
{
    const char *p = s;

    while (g_ascii_isalnum(*p) || *p == '-')
        p++;
    return p > s && *p == ';';
}

/*
 * append_address - "rfc822; addr", or for a UTF-8 address (in a global
 * report only) RFC 6533's "utf-8; addr", as it is
 */
static void
append_address(GString *ds, const char *addr, gboolean global)
{
    if (global && is_8bit(addr, strlen(addr)))
        g_string_append(ds, "utf-8; ");
    else
        g_string_append(ds, "rfc822; ");
    append_text(ds, addr, MAX_FIELD, global);
    g_string_append_c(ds, '\n');
}

/*
 * append_rcpt_fields - the per-recipient block of one recipient; global:
 * for a message/global-delivery-status part (UTF-8 allowed)
 */
static void
append_rcpt_fields(GString *ds, const struct smg_dsn_rcpt *r, time_t now,
                   gboolean global)
{
    char *orcpt = smg_envelope_param(r->params, "ORCPT");

    g_string_append_c(ds, '\n');
    if (orcpt != NULL) {
        const char *semi = strchr(orcpt, ';');
        if (semi != NULL && semi != orcpt) {
            char *type = g_strndup(orcpt, (gsize) (semi - orcpt));
            /* only a utf-8 address may be UTF-8: an rfc822 one is ASCII
             * (RFC 6533 3), so its xtext stays if it decodes to 8-bit */
            char *addr = decoded_xtext(semi + 1,
                                       global && g_ascii_strcasecmp(type, "utf-8") == 0);

            g_string_append(ds, "Original-Recipient: ");
            append_ascii(ds, type, 64);
            g_string_append(ds, "; ");
            append_text(ds, addr, MAX_FIELD, global);
            g_string_append_c(ds, '\n');
            g_free(type);
            g_free(addr);
        }
    }
    g_free(orcpt);
    g_string_append(ds, "Final-Recipient: ");
    append_address(ds, r->addr, global);
    g_string_append_printf(ds, "Action: %s\n", actions[r->action].name);
    g_string_append_printf(ds, "Status: %s\n", r->status);
    if (r->remote_mta != NULL && *r->remote_mta != '\0') {
        g_string_append(ds, "Remote-MTA: dns; ");
        append_ascii(ds, r->remote_mta, 255);
        g_string_append_c(ds, '\n');
    }
    if (r->diagnostic != NULL && *r->diagnostic != '\0') {
        g_string_append(ds, "Diagnostic-Code: ");
        /* a diagnostic without its type ("smtp;") is ours */
        if (!has_type(r->diagnostic))
            g_string_append(ds, "X-smg; ");
        append_ascii(ds, r->diagnostic, MAX_FIELD);
        g_string_append_c(ds, '\n');
    }
    if (r->last_attempt != 0) {
        g_string_append(ds, "Last-Attempt-Date: ");
        append_date(ds, r->last_attempt);
        g_string_append_c(ds, '\n');
    }
    if (r->action == SMG_DSN_DELAYED && r->retry_until != 0 && r->retry_until >= now) {
        g_string_append(ds, "Will-Retry-Until: ");
        append_date(ds, r->retry_until);
        g_string_append_c(ds, '\n');
    }
}

/* append_human - the text/plain part's content */
static void
append_human(GString *txt, const struct smg_dsn_report *rep,
             const struct smg_dsn_rcpt *rcpts, const gboolean *use, gsize n,
             enum smg_dsn_action first)
{
    g_string_append_printf(txt, "This is the mail system at host %s.\n\n", rep->reporting_mta);
    append_wrapped(txt, rep->reason);
    if (txt->len > 1 && txt->str[txt->len - 2] != '\n')
        g_string_append_c(txt, '\n');
    g_string_append(txt, actions[first].heading);
    for (gsize i = 0; i < n; i++) {
        /* one line a recipient, within RFC 5322's limit whatever the
         * address and a server's long (multi-line) reply: the whole
         * reply is in the delivery-status part */
        gsize start = txt->len, tail = strlen(rcpts[i].status) + 3;

        if (!use[i])
            continue;
        g_string_append_printf(txt, "<%s>: ", rcpts[i].addr);
        if (rcpts[i].note != NULL && *rcpts[i].note != '\0') {
            append_ascii(txt, rcpts[i].note, MIN(MAX_FIELD, MAX_LINE / 4));
            g_string_append(txt, "; last reply: ");
        }
        if (rcpts[i].diagnostic != NULL && *rcpts[i].diagnostic != '\0') {
            const char *d = rcpts[i].diagnostic;
            gsize used = txt->len - start;

            if (has_type(d))
                d = strchr(d, ';') + 1;
            while (*d == ' ')
                d++;
            append_ascii(txt, d, used + tail < MAX_LINE ? MAX_LINE - used - tail : 0);
        } else {
            g_string_append(txt, actions[rcpts[i].action].name);
        }
        g_string_append_printf(txt, " (%s)\n", rcpts[i].status);
    }
}

/* pick_boundary - a boundary from id that does not occur in any part */
static char *
pick_boundary(const char *id, const GString *a, const GString *b, const GString *c)
{
    for (unsigned n = 0;; n++) {
        char *bd = g_strdup_printf("smg-dsn-%s-%u", id, n);
        if (strstr(a->str, bd) == NULL && strstr(b->str, bd) == NULL
            && strstr(c->str, bd) == NULL)
            return bd;
        g_free(bd);
    }
}

enum smg_status
smg_dsn_build(const struct smg_dsn_report *rep, const struct smg_envelope *env,
              const char *buf, gsize len, gsize body_offset,
              const struct smg_dsn_rcpt *rcpts, gsize n, GString **out,
              GError **err)
{
    gboolean *use;
    gsize nused = 0, hdr_len = 0;
    enum smg_dsn_action first = SMG_DSN_FAILED;
    time_t now;
    char *id, *ret, *envid, *boundary;
    const char *v;
    gboolean full, failed = FALSE, eight = FALSE, global, ds_eight;
    GString *orig, *txt, *ds, *msg, *ret_part;

    *out = NULL;
    if (rep == NULL || rep->reporting_mta == NULL || *rep->reporting_mta == '\0'
        || rep->reason == NULL || n == 0 || body_offset > len) {
        smg_set_error(err, SMG_BUG, "4.3.0", "dsn: missing reporting MTA, reason or recipients");
        return SMG_BUG;
    }
    for (gsize i = 0; i < n; i++) {
        if (rcpts[i].addr == NULL || *rcpts[i].addr == '\0' || !valid_status(rcpts[i].status)
            || (unsigned) rcpts[i].action >= G_N_ELEMENTS(actions)) {
            smg_set_error(err, SMG_BUG, "4.3.0", "dsn: recipient %zu: bad address, status or action", i);
            return SMG_BUG;
        }
    }
    if (env->sender == NULL || *env->sender == '\0')
        return SMG_OK; /* never a report to <> */
    use = g_new0(gboolean, n);
    for (gsize i = 0; i < n; i++) {
        use[i] = smg_dsn_wants(rcpts[i].params, rcpts[i].action);
        if (use[i] && nused++ == 0)
            first = rcpts[i].action;
        if (use[i] && rcpts[i].action == SMG_DSN_FAILED)
            failed = TRUE;
    }
    if (nused == 0) {
        g_free(use);
        return SMG_OK;
    }
    now = rep->now != 0 ? rep->now : time(NULL);
    id = rep->id != NULL ? g_strdup(rep->id) : smg_spool_new_id();
    /* an SMTPUTF8 message (RFC 6531) gets an internationalized report (RFC
     * 6533): message/global-delivery-status, where a UTF-8 address is
     * written as it is, and the original as message/global(-headers),
     * which unlike message/rfc822 may have UTF-8 in its header */
    global = smg_envelope_has_word(env->sender_params, "SMTPUTF8")
             || is_8bit(env->sender, strlen(env->sender));
    for (gsize i = 0; i < n && !global; i++)
        global = use[i] && is_8bit(rcpts[i].addr, strlen(rcpts[i].addr));

    /* the returned original */
    orig = original_text(buf + body_offset, len - body_offset, &hdr_len);
    ret = smg_envelope_param(env->sender_params, "RET");
    /* RET asks for the whole message in a report of failure only: one
     * that reports no failure (delay, success) returns the header (RFC
     * 3461 4.3) */
    full = ret != NULL && g_ascii_strcasecmp(ret, "FULL") == 0 && !rep->headers_only
           && failed && (rep->max_full == 0 || orig->len <= rep->max_full);
    g_free(ret);
    ret_part = g_string_new(NULL);
    if (full) {
        eight = is_8bit(orig->str, orig->len);
        g_string_append_printf(ret_part, "Content-Description: Undelivered Message\n"
                                         "Content-Type: %s\n"
                                         "Content-Transfer-Encoding: %s\n\n",
                               global ? "message/global" : "message/rfc822",
                               eight ? "8bit" : "7bit");
        g_string_append_len(ret_part, orig->str, (gssize) orig->len);
    } else {
        eight = is_8bit(orig->str, hdr_len);
        g_string_append_printf(ret_part, "Content-Description: %s\n"
                                         "Content-Type: %s\n"
                                         "Content-Transfer-Encoding: %s\n\n",
                               first == SMG_DSN_RELAYED ? "Message Headers"
                                                        : "Undelivered Message Headers",
                               global ? "message/global-headers" : "text/rfc822-headers",
                               eight ? "8bit" : "7bit");
        g_string_append_len(ret_part, orig->str, (gssize) hdr_len);
    }
    g_string_free(orig, TRUE);

    /* the human part */
    txt = g_string_new(NULL);
    append_human(txt, rep, rcpts, use, n, first);
    if (is_8bit(txt->str, txt->len))
        eight = TRUE;

    /* the delivery-status part: per-message fields, then each recipient */
    ds = g_string_new(NULL);
    envid = smg_envelope_param(env->sender_params, "ENVID");
    if (envid != NULL) {
        char *d = decoded_xtext(envid, FALSE);
        g_string_append(ds, "Original-Envelope-Id: ");
        append_ascii(ds, d, MAX_FIELD);
        g_string_append_c(ds, '\n');
        g_free(d);
        g_free(envid);
    }
    g_string_append(ds, "Reporting-MTA: dns; ");
    append_ascii(ds, rep->reporting_mta, 255);
    g_string_append_c(ds, '\n');
    if ((v = smg_envelope_get(env, "Arrival")) != NULL) {
        GDateTime *dt = g_date_time_new_from_iso8601(v, NULL);
        if (dt != NULL) {
            g_string_append(ds, "Arrival-Date: ");
            append_date(ds, (time_t) g_date_time_to_unix(dt));
            g_string_append_c(ds, '\n');
            g_date_time_unref(dt);
        }
    }
    /* extension fields come last (RFC 3464 2.2) */
    if (env->queue_id != NULL)
        g_string_append_printf(ds, "X-Smg-Queue-ID: %s\n", env->queue_id);
    if (global || !is_8bit(env->sender, strlen(env->sender))) {
        g_string_append(ds, "X-Smg-Sender: ");
        append_address(ds, env->sender, global);
    }
    for (gsize i = 0; i < n; i++)
        if (use[i])
            append_rcpt_fields(ds, &rcpts[i], now, global);
    ds_eight = is_8bit(ds->str, ds->len);
    eight = eight || ds_eight;

    /* the spool file: envelope, header, the three parts */
    boundary = pick_boundary(id, txt, ds, ret_part);
    msg = g_string_sized_new(txt->len + ds->len + ret_part->len + 2048);
    {
        struct smg_envelope *ne = smg_envelope_new();
        GString *params = g_string_new(NULL);
        char *stamp;
        GDateTime *dt = g_date_time_new_from_unix_utc((gint64) now);

        ne->queue_id = g_strdup(id);
        if (eight)
            g_string_append(params, "BODY=8BITMIME");
        if (global)
            g_string_append(params, params->len > 0 ? " SMTPUTF8" : "SMTPUTF8");
        ne->sender = g_strdup("");
        ne->sender_params = g_string_free(params, FALSE);
        smg_envelope_add_rcpt(ne, env->sender, "");
        if ((v = smg_envelope_get(env, "Customer")) != NULL)
            smg_envelope_set(ne, "Customer", v);
        stamp = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
        smg_envelope_set(ne, "Arrival", stamp);
        g_free(stamp);
        g_date_time_unref(dt);
        if (env->queue_id != NULL)
            smg_envelope_set(ne, "Bounce-Of", env->queue_id);
        smg_envelope_write(ne, msg);
        smg_envelope_free(ne);
    }
    g_string_append(msg, "Date: ");
    append_date(msg, now);
    g_string_append_printf(msg, "\nFrom: Mail Delivery System <MAILER-DAEMON@%s>\n",
                           rep->reporting_mta);
    g_string_append_printf(msg, "To: <%s>\n", env->sender);
    g_string_append(msg, "Subject: ");
    if (rep->subject != NULL)
        append_ascii(msg, rep->subject, 200);
    else
        g_string_append(msg, actions[first].subject);
    g_string_append_printf(msg, "\nMessage-ID: <%s@%s>\n", id, rep->reporting_mta);
    g_string_append(msg, "Auto-Submitted: auto-replied\n"
                         "MIME-Version: 1.0\n");
    g_string_append_printf(msg, "Content-Type: multipart/report; report-type=delivery-status;\n"
                                "\tboundary=\"%s\"\n"
                                "Content-Transfer-Encoding: %s\n\n",
                           boundary, eight ? "8bit" : "7bit");
    g_string_append(msg, "This is a MIME-encapsulated message.\n\n");
    g_string_append_printf(msg, "--%s\n", boundary);
    g_string_append_printf(msg, "Content-Description: Notification\n"
                                "Content-Type: text/plain; charset=%s\n"
                                "Content-Transfer-Encoding: %s\n\n",
                           is_8bit(txt->str, txt->len) ? "utf-8" : "us-ascii",
                           is_8bit(txt->str, txt->len) ? "8bit" : "7bit");
    g_string_append_len(msg, txt->str, (gssize) txt->len);
    g_string_append_printf(msg, "\n--%s\n", boundary);
    g_string_append_printf(msg, "Content-Description: Delivery report\n"
                                "Content-Type: %s\n%s\n",
                           global ? "message/global-delivery-status"
                                  : "message/delivery-status",
                           ds_eight ? "Content-Transfer-Encoding: 8bit\n" : "");
    g_string_append_len(msg, ds->str, (gssize) ds->len);
    g_string_append_printf(msg, "\n--%s\n", boundary);
    g_string_append_len(msg, ret_part->str, (gssize) ret_part->len);
    g_string_append_printf(msg, "\n--%s--\n", boundary);

    g_free(boundary);
    g_string_free(txt, TRUE);
    g_string_free(ds, TRUE);
    g_string_free(ret_part, TRUE);
    g_free(use);
    g_free(id);
    *out = msg;
    return SMG_OK;
}

gboolean
smg_dsn_domains_allows(const struct smg_customers *tbl, const struct smg_envelope *env,
                       const char **why)
{
    const char *customer, *at;
    char *auth = NULL;
    const char *const *doms = NULL;
    gboolean ok;

    if (why != NULL)
        *why = NULL;
    if (env->sender == NULL || *env->sender == '\0') {
        if (why != NULL)
            *why = "null sender";
        return FALSE;
    }
    if (tbl == NULL)
        return TRUE;
    customer = smg_envelope_get(env, "Customer");
    if (customer == NULL) {
        auth = smg_envelope_param(smg_envelope_get(env, "Client"), "auth");
        if (auth != NULL && strcmp(auth, "none") != 0)
            customer = auth;
    }
    doms = smg_customers_domains(tbl, customer);
    g_free(auth);
    if (doms == NULL)
        return TRUE; /* cannot tell: send */
    at = strrchr(env->sender, '@');
    ok = smg_customers_covers(doms, at != NULL ? at + 1 : "");
    if (!ok && why != NULL)
        *why = "sender domain not the customer's";
    return ok;
}

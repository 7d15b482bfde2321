/*
 * dsn-t.c - unit tests for lib/dsn: RFC 3464 reports and the backscatter
 * guard.
 *
 * Each report is parsed back twice: by lib/envelope (the new spool file's
 * SMG-* fields: null sender, one recipient = the original sender, the
 * derived queue ID, Bounce-Of) and by GMime (multipart/report with
 * report-type=delivery-status and its three parts; the delivery-status
 * fields are then read group by group and checked field by field).
 * Covered: RET=FULL / HDRS / none, headers_only and max_full, ENVID and
 * ORCPT (xtext decoded), NOTIFY=NEVER / SUCCESS / FAILURE / DELAY, the null
 * sender, delayed reports with Will-Retry-Until, the boundary never
 * occurring in the returned text, SMG-* fields of the original never
 * returned, 8-bit originals (BODY=8BITMIME), bad input (SMG_BUG), and the
 * customer-domains table (exact and subdomain entries, unknown customers,
 * the auth= fallback, bad lines and missing files).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>

#include <gmime/gmime.h>

#include "lib/dsn.h"
#include "lib/envelope.h"
#include "lib/spool.h"
#include "t/tap/basic.h"

#define NOW ((time_t) 1795323600) /* 2026-11-22T05:00:00Z */

#define ORIGINAL                                                             \
    "SMG-Queue-ID: Q1\n"                                                     \
    "SMG-Sender: <user@example.com>%s\n"              \
    "SMG-Recipient: <rcpt@example.net> NOTIFY=FAILURE,DELAY "               \
    "ORCPT=rfc822;Rcpt+2Bx@example.net\n"                                   \
    "SMG-Recipient: <never@example.org> NOTIFY=NEVER\n"                      \
    "SMG-Recipient: <plain@example.org>\n"                                   \
    "SMG-Customer: c42\n"                                                    \
    "SMG-Arrival: 2026-11-22T04:59:00Z\n"                                    \
    "SMG-Virus: verdict=infected engine=ClamAV/1.4.6 signatures=3\n"         \
    "Received: from app1 by out.test\n"                                      \
    "From: User <user@example.com>\n"                                        \
    "To: rcpt@example.net\n"                                                 \
    "Subject: the quarterly report\n"                                        \
    "SMG-Route: pool=good gateway=evil\n"                                    \
    "Message-ID: <m1@example.com>\n"                                         \
    "\n"                                                                     \
    "body line one\n"                                                        \
    "secret body text\n"

/* struct parsed - a report taken apart */
struct parsed {
    struct smg_envelope *env;
    GMimeMessage *msg;
    GMimeObject *parts[3];
    int nparts;
    char *ctype;         /* top content type, "type/subtype" */
    char *report_type;
    char *ds;            /* the delivery-status part's text */
    char *ret;           /* the third part's content */
    char *ret_type;
};

/* part_text - the decoded content of a leaf part (or message part) */
static char *
part_text(GMimeObject *obj)
{
    GMimeStream *mem = g_mime_stream_mem_new();
    GByteArray *ba;
    char *s;

    if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        g_mime_object_write_to_stream(GMIME_OBJECT(m), NULL, mem);
    } else if (GMIME_IS_PART(obj)) {
        GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(obj));
        if (w != NULL)
            g_mime_data_wrapper_write_to_stream(w, mem);
    }
    ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    s = g_strndup((const char *) ba->data, ba->len);
    g_object_unref(mem);
    return s;
}

/* take_apart - parse a report with lib/envelope and GMime */
static void
take_apart(const GString *ndr, struct parsed *p)
{
    gsize off = 0;
    GMimeStream *stream;
    GMimeParser *parser;
    GMimeObject *top;
    GError *err = NULL;

    memset(p, 0, sizeof *p);
    if (smg_envelope_parse(ndr->str, ndr->len, &p->env, &off, &err) != SMG_OK)
        bail("report envelope does not parse: %s", err->message);
    stream = g_mime_stream_mem_new_with_buffer(ndr->str + off, ndr->len - off);
    parser = g_mime_parser_new_with_stream(stream);
    p->msg = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    g_object_unref(stream);
    if (p->msg == NULL)
        bail("GMime cannot parse the report");
    top = g_mime_message_get_mime_part(p->msg);
    p->ctype = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(top));
    p->report_type = g_strdup(g_mime_object_get_content_type_parameter(top, "report-type"));
    if (GMIME_IS_MULTIPART(top)) {
        GMimeMultipart *mp = GMIME_MULTIPART(top);
        p->nparts = g_mime_multipart_get_count(mp);
        for (int i = 0; i < 3 && i < p->nparts; i++)
            p->parts[i] = g_mime_multipart_get_part(mp, i);
    }
    if (p->nparts >= 2)
        p->ds = part_text(p->parts[1]);
    if (p->nparts >= 3) {
        p->ret = part_text(p->parts[2]);
        p->ret_type = g_mime_content_type_get_mime_type(
            g_mime_object_get_content_type(p->parts[2]));
    }
}

/* parsed_free - release what take_apart made */
static void
parsed_free(struct parsed *p)
{
    smg_envelope_free(p->env);
    if (p->msg != NULL)
        g_object_unref(p->msg);
    g_free(p->ctype);
    g_free(p->report_type);
    g_free(p->ds);
    g_free(p->ret);
    g_free(p->ret_type);
}

/*
 * ds_field - the value of name in group g of a delivery-status text (group
 * 0: per-message fields, 1..: per-recipient blocks), or "" (static copy).
 */
static const char *
ds_field(const char *ds, int g, const char *name)
{
    static char value[1024];
    char **groups = g_regex_split_simple("\n\n+", ds, 0, 0);
    int n = 0;

    value[0] = '\0';
    while (groups[n] != NULL)
        n++;
    if (g < n) {
        char **lines = g_strsplit(groups[g], "\n", -1);
        for (char **l = lines; *l != NULL; l++) {
            char *colon = strchr(*l, ':');
            if (colon != NULL && (gsize) (colon - *l) == strlen(name)
                && g_ascii_strncasecmp(*l, name, strlen(name)) == 0) {
                g_strlcpy(value, g_strstrip(colon + 1), sizeof value);
                break;
            }
        }
        g_strfreev(lines);
    }
    g_strfreev(groups);
    return value;
}

/* ds_groups - number of non-empty groups in a delivery-status text */
static int
ds_groups(const char *ds)
{
    char **groups = g_regex_split_simple("\n\n+", ds, 0, 0);
    int n = 0;

    for (char **g = groups; *g != NULL; g++)
        if (**g != '\0' && strcmp(*g, "\n") != 0)
            n++;
    g_strfreev(groups);
    return n;
}

/* build - a report about text for the given recipients */
static enum smg_status
build(const char *text, const struct smg_dsn_report *rep, const struct smg_dsn_rcpt *r,
      gsize n, GString **out, GError **err)
{
    struct smg_envelope *env = NULL;
    gsize off = 0;
    enum smg_status st;

    if (smg_envelope_parse(text, strlen(text), &env, &off, err) != SMG_OK)
        bail("test input does not parse");
    st = smg_dsn_build(rep, env, text, strlen(text), off, r, n, out, err);
    smg_envelope_free(env);
    return st;
}

/* rcpts_of - report rows for the three recipients of ORIGINAL */
static void
rcpts_of(struct smg_dsn_rcpt r[3], enum smg_dsn_action action)
{
    static const char *const addrs[] = {"rcpt@example.net", "never@example.org",
                                        "plain@example.org"};
    static const char *const params[] = {"NOTIFY=FAILURE,DELAY ORCPT=rfc822;Rcpt+2Bx@example.net",
                                         "NOTIFY=NEVER", ""};

    memset(r, 0, 3 * sizeof *r);
    for (int i = 0; i < 3; i++) {
        r[i].addr = addrs[i];
        r[i].params = params[i];
        r[i].action = action;
        r[i].status = action == SMG_DSN_FAILED ? "5.7.1" : "4.4.1";
        r[i].diagnostic = action == SMG_DSN_FAILED ? "X-smg; virus found: Eicar-Signature"
                                                   : "smtp; 451 4.4.1 try later";
    }
}

static void
test_failed_hdrs(void)
{
    char *text = g_strdup_printf(ORIGINAL, " RET=HDRS ENVID=QQ+2B314159");
    struct smg_dsn_report rep = {0};
    struct smg_dsn_rcpt r[3];
    GString *out = NULL;
    GError *err = NULL;
    struct parsed p;
    const struct smg_rcpt *nr;

    rcpts_of(r, SMG_DSN_FAILED);
    r[0].remote_mta = "mx.example.net";
    r[0].last_attempt = NOW - 10;
    rep.reporting_mta = "out.test";
    rep.reason = "Your message contained a virus.\n\nRemove it and send again.";
    rep.id = "Q1N";
    rep.now = NOW;
    is_int(SMG_OK, build(text, &rep, r, 3, &out, &err), "failed report builds");
    ok(out != NULL, "a report is made");
    if (out == NULL)
        bail("no report");
    take_apart(out, &p);

    /* the new spool file's envelope */
    is_string("Q1N", p.env->queue_id, "its queue ID is the given one");
    is_string("", p.env->sender, "it comes from the null sender");
    is_int(1, p.env->rcpts->len, "one recipient");
    is_string("user@example.com", ((struct smg_rcpt *) p.env->rcpts->pdata[0])->addr,
              "the recipient is the original sender");
    nr = p.env->rcpts->pdata[0];
    is_string("", nr->params, "no recipient parameters");
    is_string("Q1", smg_envelope_get(p.env, "Bounce-Of"), "SMG-Bounce-Of names the original");
    is_string("c42", smg_envelope_get(p.env, "Customer"), "SMG-Customer copied");
    is_string("2026-11-22T05:00:00Z", smg_envelope_get(p.env, "Arrival"), "SMG-Arrival is now");
    is_string("", p.env->sender_params, "no BODY= for a 7-bit report");

    /* the message header */
    is_string("Mail Delivery System <MAILER-DAEMON@out.test>",
              g_mime_object_get_header(GMIME_OBJECT(p.msg), "From"), "From: MAILER-DAEMON");
    is_string("<user@example.com>", g_mime_object_get_header(GMIME_OBJECT(p.msg), "To"),
              "To: the sender");
    is_string("Q1N@out.test", g_mime_message_get_message_id(p.msg), "Message-ID from the ID");
    is_string("auto-replied", g_mime_object_get_header(GMIME_OBJECT(p.msg), "Auto-Submitted"),
              "Auto-Submitted: auto-replied");
    is_string("Undelivered Mail Returned to Sender", g_mime_message_get_subject(p.msg),
              "default subject");
    ok(strstr(out->str, "Date: Sun, 22 Nov 2026 05:00:00 +0000\n") != NULL,
       "Date from the injected clock");

    /* the MIME structure */
    is_string("multipart/report", p.ctype, "Content-Type multipart/report");
    is_string("delivery-status", p.report_type, "report-type=delivery-status");
    is_int(3, p.nparts, "three parts");
    ok(p.nparts == 3 && GMIME_IS_TEXT_PART(p.parts[0]), "part 1 is text");
    if (p.nparts == 3) {
        char *t = part_text(p.parts[0]);
        char *ct = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(p.parts[0]));
        char *dt = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(p.parts[1]));
        is_string("text/plain", ct, "part 1 text/plain");
        ok(strstr(t, "Your message contained a virus.") != NULL, "human text has the reason");
        ok(strstr(t, "<rcpt@example.net>: virus found: Eicar-Signature (5.7.1)") != NULL,
           "human text lists the recipient and diagnostic");
        ok(strstr(t, "never@example.org") == NULL, "NOTIFY=NEVER recipient not listed");
        is_string("message/delivery-status", dt, "part 2 message/delivery-status");
        g_free(t);
        g_free(ct);
        g_free(dt);
    }
    is_string("text/rfc822-headers", p.ret_type, "part 3 text/rfc822-headers (RET=HDRS)");

    /* the delivery-status fields, field by field */
    is_int(3, ds_groups(p.ds), "per-message group and two recipient groups");
    is_string("dns; out.test", ds_field(p.ds, 0, "Reporting-MTA"), "Reporting-MTA");
    is_string("QQ+314159", ds_field(p.ds, 0, "Original-Envelope-Id"),
              "Original-Envelope-Id, xtext decoded");
    is_string("Q1", ds_field(p.ds, 0, "X-Smg-Queue-ID"), "X-Smg-Queue-ID");
    is_string("Sun, 22 Nov 2026 04:59:00 +0000", ds_field(p.ds, 0, "Arrival-Date"),
              "Arrival-Date from SMG-Arrival");
    is_string("rfc822; rcpt@example.net", ds_field(p.ds, 1, "Final-Recipient"),
              "Final-Recipient");
    is_string("rfc822; Rcpt+x@example.net", ds_field(p.ds, 1, "Original-Recipient"),
              "Original-Recipient from ORCPT, decoded");
    is_string("failed", ds_field(p.ds, 1, "Action"), "Action: failed");
    is_string("5.7.1", ds_field(p.ds, 1, "Status"), "Status: 5.7.1");
    is_string("X-smg; virus found: Eicar-Signature", ds_field(p.ds, 1, "Diagnostic-Code"),
              "Diagnostic-Code");
    is_string("dns; mx.example.net", ds_field(p.ds, 1, "Remote-MTA"), "Remote-MTA");
    is_string("Sun, 22 Nov 2026 04:59:50 +0000", ds_field(p.ds, 1, "Last-Attempt-Date"),
              "Last-Attempt-Date");
    is_string("rfc822; plain@example.org", ds_field(p.ds, 2, "Final-Recipient"),
              "recipient without NOTIFY is reported");
    is_string("", ds_field(p.ds, 2, "Original-Recipient"), "no ORCPT, no Original-Recipient");
    is_string("", ds_field(p.ds, 2, "Remote-MTA"), "no Remote-MTA when not given");

    /* the returned header */
    ok(p.ret != NULL && strstr(p.ret, "Subject: the quarterly report\n") != NULL,
       "original Subject returned");
    ok(p.ret != NULL && strstr(p.ret, "Message-ID: <m1@example.com>") != NULL,
       "original Message-ID returned");
    ok(p.ret != NULL && strstr(p.ret, "secret body text") == NULL, "body not returned");
    ok(strstr(out->str + 1, "SMG-Virus") == NULL && strstr(out->str, "gateway=evil") == NULL,
       "no SMG-* field of the original in the report");
    parsed_free(&p);
    g_string_free(out, TRUE);
    g_free(text);
}

static void
test_ret_full(void)
{
    char *text = g_strdup_printf(ORIGINAL, " RET=FULL ENVID=QQ+2B314159");
    struct smg_dsn_report rep = {0};
    struct smg_dsn_rcpt r[3];
    GString *out = NULL;
    GError *err = NULL;
    struct parsed p;

    rcpts_of(r, SMG_DSN_FAILED);
    rep.reporting_mta = "out.test";
    rep.reason = "Failed.";
    rep.now = NOW;
    is_int(SMG_OK, build(text, &rep, r, 3, &out, &err), "RET=FULL report builds");
    take_apart(out, &p);
    ok(p.env->queue_id != NULL && strlen(p.env->queue_id) > 4, "a new queue ID without rep->id");
    is_string("message/rfc822", p.ret_type, "RET=FULL: message/rfc822");
    ok(p.ret != NULL && strstr(p.ret, "secret body text") != NULL, "RET=FULL: body returned");
    ok(p.ret != NULL && strstr(p.ret, "SMG-") == NULL, "RET=FULL: no SMG-* fields returned");
    parsed_free(&p);
    g_string_free(out, TRUE);

    rep.headers_only = TRUE;
    rep.id = "Q1N";
    is_int(SMG_OK, build(text, &rep, r, 3, &out, &err), "headers_only report builds");
    take_apart(out, &p);
    is_string("text/rfc822-headers", p.ret_type, "headers_only overrides RET=FULL");
    ok(strstr(out->str, "secret body text") == NULL, "headers_only: no body anywhere");
    parsed_free(&p);
    g_string_free(out, TRUE);

    rep.headers_only = FALSE;
    rep.max_full = 100;
    is_int(SMG_OK, build(text, &rep, r, 3, &out, &err), "max_full report builds");
    take_apart(out, &p);
    is_string("text/rfc822-headers", p.ret_type, "larger than max_full: headers only");
    parsed_free(&p);
    g_string_free(out, TRUE);
    g_free(text);

    /* no RET at all: headers */
    text = g_strdup_printf(ORIGINAL, "");
    rep.max_full = 0;
    is_int(SMG_OK, build(text, &rep, r, 3, &out, &err), "report without RET builds");
    take_apart(out, &p);
    is_string("text/rfc822-headers", p.ret_type, "no RET: headers only");
    parsed_free(&p);
    g_string_free(out, TRUE);
    g_free(text);
}

static void
test_notify_and_null(void)
{
    struct smg_dsn_report rep = {0};
    struct smg_dsn_rcpt r[3];
    GString *out = NULL;
    GError *err = NULL;
    struct parsed p;
    const char *bounce = "SMG-Queue-ID: B1\n"
                         "SMG-Sender: <>\n"
                         "SMG-Recipient: <user@example.com>\n"
                         "From: MAILER-DAEMON@elsewhere\n\nbounce\n";
    const char *never = "SMG-Queue-ID: B2\n"
                        "SMG-Sender: <user@example.com>\n"
                        "SMG-Recipient: <a@example.net> NOTIFY=NEVER\n"
                        "Subject: x\n\nbody\n";

    rcpts_of(r, SMG_DSN_FAILED);
    rep.reporting_mta = "out.test";
    rep.reason = "Failed.";
    rep.now = NOW;
    out = g_string_new("x");
    is_int(SMG_OK, build(bounce, &rep, r, 3, &out, &err), "null sender: OK");
    ok(out == NULL, "null sender: no report (no bounce loops)");
    r[0].params = "NOTIFY=NEVER";
    is_int(SMG_OK, build(never, &rep, r, 1, &out, &err), "NOTIFY=NEVER: OK");
    ok(out == NULL, "NOTIFY=NEVER: no report");
    r[0].params = "NOTIFY=SUCCESS";
    is_int(SMG_OK, build(never, &rep, r, 1, &out, &err), "NOTIFY=SUCCESS: OK");
    ok(out == NULL, "NOTIFY=SUCCESS only: no failure report");
    r[0].params = "NOTIFY=success,failure";
    is_int(SMG_OK, build(never, &rep, r, 1, &out, &err), "NOTIFY=success,failure: OK");
    ok(out != NULL, "NOTIFY with FAILURE (any case): report");
    if (out != NULL)
        g_string_free(out, TRUE);

    ok(!smg_dsn_wants("NOTIFY=FAILURE", SMG_DSN_DELAYED), "wants: FAILURE excludes delay");
    ok(smg_dsn_wants("NOTIFY=DELAY,FAILURE", SMG_DSN_DELAYED), "wants: DELAY");
    ok(smg_dsn_wants(NULL, SMG_DSN_DELAYED), "wants: no NOTIFY allows delay");
    ok(smg_dsn_wants("ORCPT=rfc822;a@b", SMG_DSN_FAILED), "wants: no NOTIFY allows failure");
    ok(!smg_dsn_wants("NOTIFY=NEVER", SMG_DSN_FAILED), "wants: NEVER");
    ok(!smg_dsn_wants(NULL, SMG_DSN_RELAYED), "wants: no NOTIFY asks for no success report");
    ok(!smg_dsn_wants("NOTIFY=FAILURE,DELAY", SMG_DSN_RELAYED), "wants: FAILURE,DELAY: no success");
    ok(smg_dsn_wants("NOTIFY=FAILURE,success", SMG_DSN_RELAYED), "wants: SUCCESS (any case)");

    /* relayed (success) report: the header only, even with RET=FULL */
    {
        char *text = g_strdup_printf(ORIGINAL, " RET=FULL");
        rcpts_of(r, SMG_DSN_RELAYED);
        r[0].params = "NOTIFY=SUCCESS";
        r[2].params = "NOTIFY=FAILURE";
        for (int i = 0; i < 3; i++) {
            r[i].status = "2.0.0";
            r[i].diagnostic = "smtp; 250 2.0.0 Ok: queued";
        }
        rep.id = "Q1S1";
        is_int(SMG_OK, build(text, &rep, r, 3, &out, &err), "relayed report builds");
        take_apart(out, &p);
        is_string("Successful Mail Delivery Report", g_mime_message_get_subject(p.msg),
                  "relayed subject");
        is_int(2, ds_groups(p.ds), "only the recipient asking for SUCCESS is reported");
        is_string("relayed", ds_field(p.ds, 1, "Action"), "Action: relayed");
        is_string("2.0.0", ds_field(p.ds, 1, "Status"), "Status: 2.0.0");
        is_string("text/rfc822-headers", p.ret_type, "RET=FULL, yet the header only");
        parsed_free(&p);
        g_string_free(out, TRUE);
        g_free(text);
    }

    /* delayed report */
    {
        char *text = g_strdup_printf(ORIGINAL, " RET=HDRS ENVID=QQ+2B314159");
        rcpts_of(r, SMG_DSN_DELAYED);
        r[2].params = "NOTIFY=FAILURE"; /* wants no delay warning */
        r[0].retry_until = NOW + 86400;
        rep.id = "Q1D1";
        is_int(SMG_OK, build(text, &rep, r, 3, &out, &err), "delay report builds");
        take_apart(out, &p);
        is_string("Delayed Mail (still being retried)", g_mime_message_get_subject(p.msg),
                  "delay subject");
        is_int(2, ds_groups(p.ds), "only the recipient asking for DELAY is reported");
        is_string("delayed", ds_field(p.ds, 1, "Action"), "Action: delayed");
        is_string("4.4.1", ds_field(p.ds, 1, "Status"), "Status: 4.4.1");
        is_string("smtp; 451 4.4.1 try later", ds_field(p.ds, 1, "Diagnostic-Code"),
                  "smtp diagnostic kept with its type");
        is_string("Mon, 23 Nov 2026 05:00:00 +0000", ds_field(p.ds, 1, "Will-Retry-Until"),
                  "Will-Retry-Until");
        parsed_free(&p);
        g_string_free(out, TRUE);
        g_free(text);
    }

    /* RET=FULL is for reports of failure (RFC 3461 4.3): a delay notice
     * returns the header only, a report with a failure among delays the
     * whole message */
    {
        char *text = g_strdup_printf(ORIGINAL, " RET=FULL");
        rcpts_of(r, SMG_DSN_DELAYED);
        rep.id = "Q1D1";
        is_int(SMG_OK, build(text, &rep, r, 3, &out, &err), "RET=FULL delay report builds");
        take_apart(out, &p);
        is_string("text/rfc822-headers", p.ret_type, "RET=FULL delay report: the header only");
        ok(strstr(out->str, "secret body text") == NULL, "  ... and not the body");
        parsed_free(&p);
        g_string_free(out, TRUE);

        r[2].action = SMG_DSN_FAILED;
        r[2].status = "5.1.1";
        rep.id = "Q1N1";
        is_int(SMG_OK, build(text, &rep, r, 3, &out, &err), "RET=FULL delay+failure builds");
        take_apart(out, &p);
        is_string("message/rfc822", p.ret_type, "RET=FULL with a failure: the whole message");
        parsed_free(&p);
        g_string_free(out, TRUE);
        g_free(text);
    }
}

static void
test_edges(void)
{
    struct smg_dsn_report rep = {0};
    struct smg_dsn_rcpt r[1] = {{0}};
    GString *out = NULL;
    GError *err = NULL;
    struct parsed p;
    char *id;
    /* the boundary the report would pick first, inside the original */
    const char *clash = "SMG-Queue-ID: C1\n"
                        "SMG-Sender: <user@example.com>\n"
                        "SMG-Recipient: <a@example.net>\n"
                        "Subject: =?utf-8?q?x?=\n"
                        "X-Trap: --smg-dsn-C1N-0\n"
                        "X-Name: J\xc3\xbcrgen\n"
                        "\nbody\n";
    const char *bare = "SMG-Queue-ID: C2\n"
                       "SMG-Sender: <user@example.com>\n"
                       "SMG-Recipient: <a@example.net>\n"
                       "no header, just text without a blank line";

    id = smg_dsn_queue_id("ABC123", "N");
    is_string("ABC123N", id, "queue ID derived from the original's");
    g_free(id);
    {
        /* a 128-character ID (the longest the spool takes) plus a tag */
        char *longid = g_strnfill(128, 'A'), *other = g_strnfill(128, 'A');
        char *id2, *id3;

        other[127] = 'B';
        id = smg_dsn_queue_id(longid, "D12");
        id2 = smg_dsn_queue_id(longid, "D12");
        id3 = smg_dsn_queue_id(other, "D12");
        ok(smg_spool_valid_id(id), "a 128-character original's report ID is a queue ID");
        is_string(id, id2, "  ... the same at every run (replaces, not doubles)");
        ok(strcmp(id, id3) != 0, "  ... and another original's is another");
        ok(g_str_has_suffix(id, "D12"), "  ... and ends in the tag");
        g_free(id);
        g_free(id2);
        g_free(id3);
        g_free(longid);
        g_free(other);
    }

    r[0].addr = "a@example.net";
    r[0].action = SMG_DSN_FAILED;
    r[0].status = "5.7.1";
    r[0].diagnostic = "virus found: X\r\nInjected: yes";
    rep.reporting_mta = "out.test";
    rep.reason = "Failed.";
    rep.id = "C1N";
    rep.now = NOW;
    is_int(SMG_OK, build(clash, &rep, r, 1, &out, &err), "report with a clashing original");
    take_apart(out, &p);
    ok(strstr(out->str, "boundary=\"smg-dsn-C1N-1\"") != NULL, "another boundary is picked");
    is_int(3, p.nparts, "still three parts");
    is_string("X-smg; virus found: X  Injected: yes", ds_field(p.ds, 1, "Diagnostic-Code"),
              "diagnostic without a type gets X-smg, CR LF cannot inject a field");
    is_string("BODY=8BITMIME", p.env->sender_params, "8-bit original header: BODY=8BITMIME");
    parsed_free(&p);
    g_string_free(out, TRUE);

    rep.id = "C2N";
    is_int(SMG_OK, build(bare, &rep, r, 1, &out, &err), "original without blank line");
    take_apart(out, &p);
    ok(p.ret != NULL && strstr(p.ret, "no header, just text") != NULL,
       "taken as all header");
    parsed_free(&p);
    g_string_free(out, TRUE);

    rep.reporting_mta = NULL;
    is_int(SMG_BUG, build(bare, &rep, r, 1, &out, &err), "no reporting MTA: SMG_BUG");
    ok(err != NULL && g_str_has_prefix(err->message, "4.3.0 "), "error has a DSN code");
    g_clear_error(&err);
    rep.reporting_mta = "out.test";
    r[0].status = "5.7";
    is_int(SMG_BUG, build(bare, &rep, r, 1, &out, &err), "bad status: SMG_BUG");
    g_clear_error(&err);
    r[0].status = "5.7.1";
    is_int(SMG_BUG, build(bare, &rep, r, 0, &out, &err), "no recipients: SMG_BUG");
    g_clear_error(&err);
}

/* env_of - an envelope with sender, customer and client fields */
static struct smg_envelope *
env_of(const char *sender, const char *customer, const char *client)
{
    struct smg_envelope *env = smg_envelope_new();

    env->sender = g_strdup(sender);
    env->sender_params = g_strdup("");
    if (customer != NULL)
        smg_envelope_set(env, "Customer", customer);
    if (client != NULL)
        smg_envelope_set(env, "Client", client);
    return env;
}

/* longest_line - the length of the longest line of s (LF ends) */
static gsize
longest_line(const char *s)
{
    gsize max = 0;

    for (const char *p = s; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        gsize len = nl != NULL ? (gsize) (nl - p) : strlen(p);

        max = MAX(max, len);
        p += len + (nl != NULL);
    }
    return max;
}

/*
 * test_long_lines - a long address and a server's long (multi-line,
 * joined) reply: every line of the report stays within RFC 5322's 998
 * octets (the human part's line "<addr>: note; last reply: reply (status)"
 * did not), the whole reply still in Diagnostic-Code
 */
static void
test_long_lines(void)
{
    char *text = g_strdup_printf(ORIGINAL, "");
    GString *addr = g_string_new(NULL), *diag = g_string_new("smtp; 550 5.7.1");
    struct smg_dsn_report rep = {0};
    struct smg_dsn_rcpt r = {0};
    GString *out = NULL;
    GError *err = NULL;
    struct parsed p;

    g_string_append_printf(addr, "%s@", "l234567890123456789012345678901234567890123456789012345678901234");
    while (addr->len < 240)
        g_string_append(addr, "label67890.");
    g_string_append(addr, "test");
    while (diag->len < 1200)
        g_string_append(diag, " Our system has detected that this message is suspicious.");
    r.addr = addr->str;
    r.action = SMG_DSN_FAILED;
    r.status = "5.7.1";
    r.diagnostic = diag->str;
    r.note = "message expired after 5 days in the queue";
    rep.reporting_mta = "out.test";
    rep.reason = "It failed.";
    rep.id = "Q1N";
    rep.now = NOW;
    is_int(SMG_OK, build(text, &rep, &r, 1, &out, &err), "report with a long address and reply");
    if (out == NULL)
        bail("no report");
    ok(longest_line(out->str) <= 998, "no line over 998 octets (longest %zu)",
       longest_line(out->str));
    take_apart(out, &p);
    ok(strlen(ds_field(p.ds, 1, "Diagnostic-Code")) >= 890,
       "Diagnostic-Code keeps the reply (its first 900 octets)");
    if (p.nparts == 3) {
        char *t = part_text(p.parts[0]);
        const char *line = strstr(t, addr->str);
        const char *end = line != NULL ? strchr(line, '\n') : NULL;

        ok(strstr(t, "; last reply: 550 5.7.1 Our system has detected") != NULL,
           "human text has the note and the start of the reply");
        ok(end != NULL && end - line > 8 && strncmp(end - 8, " (5.7.1)", 8) == 0,
           "... and the status at the end of its line");
        g_free(t);
    }
    parsed_free(&p);
    g_string_free(out, TRUE);
    g_string_free(addr, TRUE);
    g_string_free(diag, TRUE);
    g_free(text);
}

static void
test_domains(void)
{
    char *dir = test_tmpdir();
    char *path = g_build_filename(dir, "customers", NULL);
    char *bad = g_build_filename(dir, "bad", NULL);
    struct smg_customers *tbl = NULL;
    struct smg_envelope *env;
    GError *err = NULL;
    const char *why = NULL;
    char *tbl_path = test_file_path("scan-customer-domains");

    test_write_file(path, "# customer domains\n"
                          "c42 example.com, .example.org\n"
                          "\n"
                          "c42\tEXAMPLE.net   # a second line\n"
                          "c7 seven.test\n"
                          "c8,eight.test,#a comment after a comma\n"
                          "c9, nine.test\n"
                          "c10 B\xc3\xbc" "cher.test, .xn--bcher-kva.example\n");
    is_int(SMG_OK, smg_customers_load(path, &tbl, &err), "table loads");
    {
        const char *const *d = smg_customers_domains(tbl, "c42");

        ok(d != NULL && g_strv_length((char **) d) == 3 && strcmp(d[0], "example.com") == 0
               && strcmp(d[1], ".example.org") == 0 && strcmp(d[2], "example.net") == 0,
           "a customer's domains from all its lines, in order, lower case");
        ok(smg_customers_domains(tbl, "nobody") == NULL && smg_customers_domains(NULL, "c42") == NULL
               && smg_customers_domains(tbl, NULL) == NULL,
           "no domains for an unlisted customer, no table or no customer");
        ok(!smg_customers_covers(d, "badexample.org"), ".example.org does not cover badexample.org");
        ok(smg_customers_covers(d, "A.B.Example.ORG"), ".example.org covers a deeper subdomain, any case");
        ok(!smg_customers_covers(NULL, "example.com"), "no domains cover nothing");
        d = smg_customers_domains(tbl, "c10");
        ok(d != NULL && strcmp(d[0], "xn--bcher-kva.test") == 0,
           "a UTF-8 domain is kept in its A-labels");
        ok(smg_customers_covers(d, "b\xc3\xbc" "cher.test") && smg_customers_covers(d, "XN--BCHER-KVA.test"),
           "a domain covers itself in either form");
        ok(smg_customers_covers(d, "mail.b\xc3\xbc" "cher.example"),
           "an A-label .domain covers a UTF-8 subdomain");
        d = smg_customers_domains(tbl, "c8");
        ok(d != NULL && g_strv_length((char **) d) == 1 && strcmp(d[0], "eight.test") == 0,
           "a comma ends the customer's name too; '#' after it starts a comment");
        d = smg_customers_domains(tbl, "c9");
        ok(d != NULL && g_strv_length((char **) d) == 1 && strcmp(d[0], "nine.test") == 0,
           "\"customer, domain\": the name without its comma");
    }

    env = env_of("", "c42", NULL);
    ok(!smg_dsn_domains_allows(tbl, env, &why), "null sender: never");
    is_string("null sender", why, "reason: null sender");
    ok(!smg_dsn_domains_allows(NULL, env, NULL), "null sender: never, even without a table");
    smg_envelope_free(env);

    env = env_of("u@example.com", "c42", NULL);
    ok(smg_dsn_domains_allows(tbl, env, &why), "customer's domain: send");
    ok(why == NULL, "no reason when allowed");
    smg_envelope_free(env);
    env = env_of("u@Example.NET", "c42", NULL);
    ok(smg_dsn_domains_allows(tbl, env, NULL), "second line, any case: send");
    smg_envelope_free(env);
    env = env_of("u@mail.example.org", "c42", NULL);
    ok(smg_dsn_domains_allows(tbl, env, NULL), ".example.org covers subdomains");
    smg_envelope_free(env);
    env = env_of("u@example.org", "c42", NULL);
    ok(smg_dsn_domains_allows(tbl, env, NULL), ".example.org covers itself");
    smg_envelope_free(env);
    env = env_of("u@sub.example.com", "c42", NULL);
    ok(!smg_dsn_domains_allows(tbl, env, &why), "example.com does not cover subdomains");
    smg_envelope_free(env);
    env = env_of("victim@forged.test", "c42", NULL);
    ok(!smg_dsn_domains_allows(tbl, env, &why), "foreign sender domain: no report");
    is_string("sender domain not the customer's", why, "reason: backscatter");
    smg_envelope_free(env);
    env = env_of("victim@forged.test", NULL, "addr=10.0.0.1 helo=x tls=none auth=c7");
    ok(!smg_dsn_domains_allows(tbl, env, NULL), "customer from SMG-Client auth=");
    smg_envelope_free(env);
    env = env_of("u@seven.test", NULL, "addr=10.0.0.1 helo=x tls=none auth=c7");
    ok(smg_dsn_domains_allows(tbl, env, NULL), "auth= customer's own domain");
    smg_envelope_free(env);
    env = env_of("victim@forged.test", "unknown", NULL);
    ok(smg_dsn_domains_allows(tbl, env, NULL), "customer not in the table: send");
    smg_envelope_free(env);
    env = env_of("victim@forged.test", NULL, "addr=10.0.0.1 helo=x tls=none auth=none");
    ok(smg_dsn_domains_allows(tbl, env, NULL), "no customer known: send");
    ok(smg_dsn_domains_allows(NULL, env, NULL), "no table: send");
    smg_envelope_free(env);
    smg_customers_free(tbl);

    test_write_file(bad, "c42 example.com\nlonely\n");
    is_int(SMG_CONFIG, smg_customers_load(bad, &tbl, &err), "customer without domain");
    ok(err != NULL && strstr(err->message, "bad:2:") != NULL, "error names file and line");
    g_clear_error(&err);
    /* an aliases-style colon after the name: no AUTH user has one */
    test_write_file(bad, "c42 example.com\ncustomer42: example.org\n");
    is_int(SMG_CONFIG, smg_customers_load(bad, &tbl, &err), "customer name with ':' refused");
    ok(err != NULL && strstr(err->message, "bad:2: customer customer42:") != NULL,
       "  ... naming file, line and customer (%s)", err != NULL ? err->message : "none");
    g_clear_error(&err);
    is_int(SMG_CONFIG, smg_customers_load("/nonexistent/x", &tbl, &err), "missing table");
    g_clear_error(&err);
    {
        static const char *const typos[][2] = {
            {"c1 ok.test a.test;b.test\n", "\"a.test;b.test\" is not a domain name"},
            {"c1 *\n", "\"*\" is not a domain name"},
            {"c1 *.star.test\n", "(.star.test for a domain and its subdomains)"},
            {"c1 [192.0.2.1]\n", "\"[192.0.2.1]\" is not a domain name"},
            {"c1 ..test\n", "\"..test\" is not a domain name"},
            {"c1 .\n", "\".\" is not a domain name"},
        };
        for (guint i = 0; i < G_N_ELEMENTS(typos); i++) {
            test_write_file(bad, typos[i][0]);
            is_int(SMG_CONFIG, smg_customers_load(bad, &tbl, &err), "a typo is refused: %s",
                   typos[i][0]);
            ok(err != NULL && strstr(err->message, "bad:1: customer c1: ") != NULL
                   && strstr(err->message, typos[i][1]) != NULL,
               "  ... naming line, customer and word (%s)", err != NULL ? err->message : "none");
            g_clear_error(&err);
        }
        test_write_file(bad, "c1 dot.test. .sub.test.\n");
        is_int(SMG_OK, smg_customers_load(bad, &tbl, &err), "a trailing dot is allowed");
        ok(tbl != NULL && smg_customers_covers(smg_customers_domains(tbl, "c1"), "dot.test")
               && smg_customers_covers(smg_customers_domains(tbl, "c1"), "a.sub.test"),
           "  ... and ignored");
        smg_customers_free(tbl);
        tbl = NULL;
    }
    ok(tbl_path != NULL, "t/data/scan-customer-domains exists");
    if (tbl_path != NULL) {
        is_int(SMG_OK, smg_customers_load(tbl_path, &tbl, &err), "example table loads");
        smg_customers_free(tbl);
    }
    g_free(tbl_path);
    g_free(path);
    g_free(bad);
    test_tmpdir_free(dir);
}


/* part_type - the MIME type of a part (new string) */
static char *
part_type(GMimeObject *obj)
{
    return g_mime_content_type_get_mime_type(g_mime_object_get_content_type(obj));
}

static void
test_smtputf8(void)
{
    /* an SMTPUTF8 message to a UTF-8 recipient, with a UTF-8 header */
    const char *utf8 = "SMG-Queue-ID: U1\n"
                       "SMG-Sender: <user@example.com> BODY=8BITMIME SMTPUTF8 RET=FULL\n"
                       "SMG-Recipient: <j\xc3\xb6ran@b\xc3\xbc" "cher.example> "
                       "ORCPT=utf-8;j+C3+B6ran@b+C3+BCcher.example\n"
                       "SMG-Recipient: <plain@example.org>\n"
                       "From: user@example.com\n"
                       "To: j\xc3\xb6ran@b\xc3\xbc" "cher.example\n"
                       "Subject: Gr\xc3\xbc\xc3\x9f" "e\n"
                       "\nHall\xc3\xb6\n";
    /* the same from a client that did not say SMTPUTF8 */
    const char *legacy = "SMG-Queue-ID: U2\n"
                         "SMG-Sender: <user@example.com> BODY=8BITMIME\n"
                         "SMG-Recipient: <plain@example.org>\n"
                         "Subject: Gr\xfc\xdf" "e\n"
                         "\nbody\n";
    struct smg_dsn_report rep = {0};
    struct smg_dsn_rcpt r[2] = {{0}};
    GString *out = NULL;
    GError *err = NULL;
    struct parsed p;
    char *dt;

    r[0].addr = "j\xc3\xb6ran@b\xc3\xbc" "cher.example";
    r[0].params = "ORCPT=utf-8;j+C3+B6ran@b+C3+BCcher.example";
    r[1].addr = "plain@example.org";
    for (int i = 0; i < 2; i++) {
        r[i].action = SMG_DSN_FAILED;
        r[i].status = "5.1.1";
        r[i].diagnostic = "smtp; 550 5.1.1 no such user";
    }
    rep.reporting_mta = "out.test";
    rep.reason = "Failed.";
    rep.id = "U1N";
    rep.now = NOW;
    is_int(SMG_OK, build(utf8, &rep, r, 2, &out, &err), "SMTPUTF8 original: report builds");
    take_apart(out, &p);
    is_int(3, p.nparts, "SMTPUTF8: three parts");
    dt = p.nparts == 3 ? part_type(p.parts[1]) : g_strdup("");
    is_string("message/global-delivery-status", dt,
              "SMTPUTF8: part 2 message/global-delivery-status (RFC 6533)");
    g_free(dt);
    is_string("utf-8; j\xc3\xb6ran@b\xc3\xbc" "cher.example", ds_field(p.ds, 1, "Final-Recipient"),
              "SMTPUTF8: a UTF-8 Final-Recipient as it is, type utf-8");
    is_string("utf-8; j\xc3\xb6ran@b\xc3\xbc" "cher.example",
              ds_field(p.ds, 1, "Original-Recipient"), "SMTPUTF8: ORCPT decoded to UTF-8");
    is_string("rfc822; plain@example.org", ds_field(p.ds, 2, "Final-Recipient"),
              "SMTPUTF8: an ASCII recipient stays rfc822");
    is_string("message/global", p.ret_type, "SMTPUTF8 and RET=FULL: message/global");
    ok(smg_envelope_has_word(p.env->sender_params, "SMTPUTF8")
           && smg_envelope_has_word(p.env->sender_params, "BODY=8BITMIME"),
       "SMTPUTF8: the report is sent with SMTPUTF8 and BODY=8BITMIME");
    ok(strstr(out->str, "Content-Type: message/global-delivery-status\n"
                        "Content-Transfer-Encoding: 8bit\n") != NULL,
       "SMTPUTF8: the 8-bit delivery-status part says 8bit");
    ok(strstr(out->str, "+C3") == NULL, "SMTPUTF8: no xtext left in the report");
    parsed_free(&p);
    g_string_free(out, TRUE);

    /* an ORCPT of type rfc822 whose xtext decodes to UTF-8: an rfc822
     * address is ASCII (RFC 3464 2.1.2, RFC 6533 3), so the xtext stays */
    r[0].params = "ORCPT=rfc822;j+C3+B6ran@b+C3+BCcher.example";
    rep.id = "U1O";
    is_int(SMG_OK, build(utf8, &rep, r, 1, &out, &err), "SMTPUTF8, ORCPT rfc822 with UTF-8: builds");
    take_apart(out, &p);
    is_string("rfc822; j+C3+B6ran@b+C3+BCcher.example", ds_field(p.ds, 1, "Original-Recipient"),
              "SMTPUTF8: an rfc822 ORCPT is not decoded to UTF-8");
    parsed_free(&p);
    g_string_free(out, TRUE);
    r[0].params = "ORCPT=utf-8;j+C3+B6ran@b+C3+BCcher.example";
    rep.id = "U1N";

    /* RET=HDRS: message/global-headers */
    {
        char *hdrs = g_strdup(utf8);
        char *f = strstr(hdrs, "RET=FULL");

        memcpy(f, "RET=HDRS", 8);
        rep.id = "U1M";
        is_int(SMG_OK, build(hdrs, &rep, r + 1, 1, &out, &err),
               "SMTPUTF8, ASCII recipient, RET=HDRS: builds");
        take_apart(out, &p);
        is_string("message/global-headers", p.ret_type,
                  "SMTPUTF8 and RET=HDRS: message/global-headers");
        dt = p.nparts == 3 ? part_type(p.parts[1]) : g_strdup("");
        is_string("message/global-delivery-status", dt,
                  "SMTPUTF8 with ASCII addresses: still a global report");
        g_free(dt);
        parsed_free(&p);
        g_string_free(out, TRUE);
        g_free(hdrs);
    }

    /* raw 8-bit header fields without SMTPUTF8: the classic report */
    rep.id = "U2N";
    is_int(SMG_OK, build(legacy, &rep, r + 1, 1, &out, &err), "8-bit, no SMTPUTF8: builds");
    take_apart(out, &p);
    dt = p.nparts == 3 ? part_type(p.parts[1]) : g_strdup("");
    is_string("message/delivery-status", dt, "no SMTPUTF8: message/delivery-status");
    g_free(dt);
    is_string("text/rfc822-headers", p.ret_type, "no SMTPUTF8: text/rfc822-headers");
    is_string("BODY=8BITMIME", p.env->sender_params, "no SMTPUTF8: BODY=8BITMIME only");
    parsed_free(&p);
    g_string_free(out, TRUE);
}

int
main(void)
{
    g_mime_init();
    plan_lazy();
    test_failed_hdrs();
    test_ret_full();
    test_notify_and_null();
    test_edges();
    test_long_lines();
    test_smtputf8();
    test_domains();
    g_mime_shutdown();
    return 0;
}

/*
 * envelope-t.c - unit tests for lib/envelope: the SMG-* fields of a spool
 * file.
 *
 * Parses the full example of envelope.h and DESIGN.md, a bare message,
 * CRLF, folded fields, the null sender and parameters; every malformed case
 * must be SMG_PERMFAIL with no envelope; write and parse round-trip (and a
 * value cannot inject a field); smg_envelope_param with quoting; and
 * smg_envelope_strip removes SMG-* fields with their continuation lines
 * anywhere in the header, never in the body.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>

#include "lib/envelope.h"
#include "t/tap/basic.h"

#define EXAMPLE_ENVELOPE                                                     \
    "SMG-Queue-ID: <0TOW8ZQ1XK2A9F>\n"                                       \
    "SMG-Sender: <user@example.com> BODY=8BITMIME RET=HDRS ENVID=QQ314159\n" \
    "SMG-Recipient: <rcpt@example.net> NOTIFY=FAILURE "                      \
    "ORCPT=rfc822;rcpt@example.net\n"                                        \
    "SMG-Recipient: <second@example.org>\n"                                  \
    "SMG-Client: addr=10.1.2.3 helo=app1.example.com tls=TLSv1.3 "           \
    "auth=customer42\n"                                                      \
    "SMG-Customer: customer42\n"                                             \
    "SMG-Arrival: 2026-11-22T05:00:00Z\n"                                    \
    "SMG-Spam: verdict=ham score=1.3 threshold=5.0 tests=BAYES_00,DKIM_NONE\n" \
    "SMG-Virus: verdict=clean engine=ClamAV/1.4.6 signatures=8700000\n"      \
    "SMG-Route: pool=good gateway=mta01 reason=\"customer in good standing\"\n" \
    "SMG-Delivery: attempts=2 last=\"451 4.7.0 try later\" "                 \
    "first=2026-11-22T05:00:02Z\n"

#define EXAMPLE_MESSAGE                                                      \
    "From: User <user@example.com>\n"                                        \
    "To: rcpt@example.net\n"                                                 \
    "Subject: hello\n"                                                       \
    "\n"                                                                     \
    "SMG-Sender: <not-an-envelope@example.com>\n"                            \
    "body\n"

/* parse - parse a NUL-terminated text; the status, envelope and offset */
static enum smg_status
parse(const char *text, struct smg_envelope **env, gsize *off, GError **err)
{
    return smg_envelope_parse(text, strlen(text), env, off, err);
}

/* rcpt - the i-th recipient */
static const struct smg_rcpt *
rcpt(const struct smg_envelope *env, guint i)
{
    return i < env->rcpts->len ? env->rcpts->pdata[i] : NULL;
}

/* param - smg_envelope_param as a comparable, freed string */
static const char *
param(const char *s, const char *key)
{
    static char *last;

    g_free(last);
    last = smg_envelope_param(s, key);
    return last;
}

/* test_example - the full example parses into every field */
static void
test_example(void)
{
    const char *text = EXAMPLE_ENVELOPE EXAMPLE_MESSAGE;
    struct smg_envelope *env = NULL;
    GError *err = NULL;
    gsize off = 0;

    is_int(SMG_OK, parse(text, &env, &off, &err), "the full example parses");
    if (env == NULL)
        bail("cannot continue: %s", err->message);
    is_string("0TOW8ZQ1XK2A9F", env->queue_id, "queue ID, brackets removed");
    is_string("user@example.com", env->sender, "sender");
    is_string("BODY=8BITMIME RET=HDRS ENVID=QQ314159", env->sender_params,
              "sender params");
    is_int(2, env->rcpts->len, "two recipients");
    is_string("rcpt@example.net", rcpt(env, 0)->addr, "first recipient");
    is_string("NOTIFY=FAILURE ORCPT=rfc822;rcpt@example.net",
              rcpt(env, 0)->params, "first recipient's params");
    is_string("second@example.org", rcpt(env, 1)->addr, "second recipient");
    is_string("", rcpt(env, 1)->params, "second recipient: params empty");
    is_string("addr=10.1.2.3 helo=app1.example.com tls=TLSv1.3 auth=customer42",
              smg_envelope_get(env, "Client"), "Client");
    is_string("customer42", smg_envelope_get(env, "Customer"), "Customer");
    is_string("2026-11-22T05:00:00Z", smg_envelope_get(env, "Arrival"),
              "Arrival");
    is_string("ham", param(smg_envelope_get(env, "Spam"), "verdict"),
              "Spam verdict");
    is_string("clean", param(smg_envelope_get(env, "Virus"), "verdict"),
              "Virus verdict");
    is_string("mta01", param(smg_envelope_get(env, "Route"), "gateway"),
              "Route gateway");
    is_string("customer in good standing",
              param(smg_envelope_get(env, "Route"), "reason"),
              "Route reason, quoted");
    is_string("451 4.7.0 try later",
              param(smg_envelope_get(env, "Delivery"), "last"),
              "Delivery last, quoted");
    is_string("2026-11-22T05:00:02Z",
              param(smg_envelope_get(env, "Delivery"), "first"),
              "Delivery first, after a quoted value");
    is_string("ham", param(smg_envelope_get(env, "spam"), "verdict"),
              "smg_envelope_get ignores case");
    ok(smg_envelope_get(env, "Notice") == NULL, "absent field: NULL");
    ok(smg_envelope_has_word("BODY=8BITMIME SMTPUTF8", "smtputf8"), "has_word: a bare word, any case");
    ok(!smg_envelope_has_word("BODY=8BITMIME ENVID=SMTPUTF8", "SMTPUTF8"),
       "has_word: not inside key=value");
    ok(!smg_envelope_has_word(NULL, "SMTPUTF8"), "has_word: no params");
    is_int(7, env->fields->len, "seven other fields");
    is_int((long) strlen(EXAMPLE_ENVELOPE), (long) off,
           "body offset: the first non-SMG line");
    ok(strncmp(text + off, "From: User", 10) == 0, "the message starts there");
    smg_envelope_free(env);
    smg_envelope_free(NULL);

    /* the ID as writers write it, without brackets */
    env = NULL;
    is_int(SMG_OK,
           parse("SMG-Queue-ID: 0TOW8ZQ1XK2A9F\nSubject: x\n\nb\n", &env,
                 &off, &err),
           "queue ID without brackets");
    is_string("0TOW8ZQ1XK2A9F", env != NULL ? env->queue_id : NULL,
              "queue ID read");
    smg_envelope_free(env);
}

/* test_quoted - a quoted local part may hold spaces, "<" and ">" */
static void
test_quoted(void)
{
    struct smg_envelope *env = NULL;
    GError *err = NULL;
    gsize off = 0;

    is_int(SMG_OK,
           parse("SMG-Sender: <\"john doe\"@b.test> BODY=8BITMIME\n"
                 "SMG-Recipient: <\"x>y\"@d.test> NOTIFY=NEVER\n"
                 "SMG-Recipient: <\"a\\\"> <b\"@d.test>\n\nbody\n",
                 &env, &off, &err),
           "quoted local parts parse");
    if (env == NULL)
        bail("cannot continue: %s", err->message);
    is_string("\"john doe\"@b.test", env->sender, "a space inside quotes");
    is_string("BODY=8BITMIME", env->sender_params, "the sender's params after it");
    is_string("\"x>y\"@d.test", rcpt(env, 0)->addr, "a '>' inside quotes");
    is_string("NOTIFY=NEVER", rcpt(env, 0)->params, "the recipient's params after it");
    is_string("\"a\\\"> <b\"@d.test", rcpt(env, 1)->addr, "an escaped quote, then '>' and '<'");
    smg_envelope_free(env);
}

/* test_bare - no SMG fields: empty envelope, offset 0 */
static void
test_bare(void)
{
    struct smg_envelope *env = NULL;
    GError *err = NULL;
    gsize off = 99;

    is_int(SMG_OK, parse(EXAMPLE_MESSAGE, &env, &off, &err), "a bare message");
    ok(env != NULL && env->queue_id == NULL && env->sender == NULL
           && env->rcpts->len == 0 && env->fields->len == 0,
       "bare message: empty envelope");
    is_int(0, (long) off, "bare message: body offset 0");
    smg_envelope_free(env);

    env = NULL;
    off = 99;
    is_int(SMG_OK, smg_envelope_parse("", 0, &env, &off, &err), "empty input");
    ok(env != NULL && env->rcpts->len == 0, "empty input: empty envelope");
    is_int(0, (long) off, "empty input: offset 0");
    smg_envelope_free(env);

    env = NULL;
    is_int(SMG_OK, parse("\nbody only\n", &env, &off, &err),
           "a message with no header");
    is_int(0, (long) off, "no header: offset 0");
    smg_envelope_free(env);

    /* SMG fields after another field are not the envelope */
    env = NULL;
    is_int(SMG_OK,
           parse("SMG-Queue-ID: A1\nFrom: a@example.com\nSMG-Spam: verdict=spam\n"
                 "\nbody\n",
                 &env, &off, &err),
           "an SMG field after the envelope");
    ok(env != NULL && smg_envelope_get(env, "Spam") == NULL,
       "only the leading SMG fields are read");
    is_int(17, (long) off, "offset after the leading field");
    smg_envelope_free(env);

    /* envelope without a message after it */
    env = NULL;
    is_int(SMG_OK, parse("SMG-Sender: <>\nSMG-Recipient: <a@b.example>", &env,
                         &off, &err),
           "envelope only, last line without LF");
    ok(env != NULL && env->rcpts->len == 1, "last line read");
    is_int(43, (long) off, "offset at the end");
    smg_envelope_free(env);

    /* a NUL byte in the message is the message's business, in its first
     * line as in the others (a bare message in filter mode was refused as
     * "malformed envelope: NUL byte" when its first line held one) */
    {
        static const char bare[] = "Subject: a\0b\nFrom: c@d.example\n\nbody\n";
        static const char after[] = "SMG-Sender: <>\nSMG-Recipient: <a@b.example>\n"
                                    "Subject: a\0b\n\nbody\n";

        env = NULL;
        off = 99;
        is_int(SMG_OK, smg_envelope_parse(bare, sizeof bare - 1, &env, &off, &err),
               "a bare message with a NUL byte in its first line");
        is_int(0, (long) off, "its offset is 0");
        smg_envelope_free(env);
        env = NULL;
        is_int(SMG_OK, smg_envelope_parse(after, sizeof after - 1, &env, &off, &err),
               "a NUL byte in the line after the envelope");
        is_int(44, (long) off, "the message begins there");
        smg_envelope_free(env);
    }
}

/* test_forms - CRLF, folding, null sender, case */
static void
test_forms(void)
{
    struct smg_envelope *env = NULL;
    GError *err = NULL;
    gsize off = 0;
    const char *crlf = "SMG-Queue-ID: Q1\r\n"
                       "SMG-Sender: <a@example.com> RET=FULL\r\n"
                       "SMG-Recipient: <b@example.net>\r\n"
                       "SMG-Spam: verdict=ham\r\n"
                       "Subject: x\r\n\r\nbody\r\n";
    const char *folded = "SMG-Sender: <a@example.com>\n"
                         "  BODY=8BITMIME\n"
                         "SMG-Recipient:\n"
                         "\t<b@example.net> NOTIFY=SUCCESS,FAILURE\n"
                         "SMG-Spam: verdict=spam\n"
                         " score=9.1\n"
                         "\ttests=A,B\n"
                         "Subject: x\n\nbody\n";

    is_int(SMG_OK, parse(crlf, &env, &off, &err), "CRLF parses");
    if (env != NULL) {
        is_string("Q1", env->queue_id, "CRLF: queue ID without CR");
        is_string("a@example.com", env->sender, "CRLF: sender");
        is_string("RET=FULL", env->sender_params, "CRLF: params without CR");
        is_string("b@example.net", rcpt(env, 0)->addr, "CRLF: recipient");
        is_string("verdict=ham", smg_envelope_get(env, "Spam"),
                  "CRLF: field without CR");
        ok(strncmp(crlf + off, "Subject:", 8) == 0, "CRLF: body offset");
    } else {
        for (int i = 0; i < 6; i++)
            ok(0, "CRLF");
    }
    smg_envelope_free(env);

    env = NULL;
    is_int(SMG_OK, parse(folded, &env, &off, &err), "folded fields parse");
    if (env != NULL) {
        is_string("BODY=8BITMIME", env->sender_params, "folded sender params");
        is_string("b@example.net", rcpt(env, 0)->addr,
                  "recipient folded onto the next line");
        is_string("SUCCESS,FAILURE", param(rcpt(env, 0)->params, "NOTIFY"),
                  "folded recipient's params");
        is_string("9.1", param(smg_envelope_get(env, "Spam"), "score"),
                  "continuation line read");
        is_string("A,B", param(smg_envelope_get(env, "Spam"), "tests"),
                  "second continuation line (tab) read");
        ok(strncmp(folded + off, "Subject:", 8) == 0, "folded: body offset");
    } else {
        diag("%s", err->message);
        for (int i = 0; i < 6; i++)
            ok(0, "folded");
    }
    g_clear_error(&err);
    smg_envelope_free(env);

    env = NULL;
    is_int(SMG_OK,
           parse("SMG-Sender: <> RET=HDRS\nSMG-Recipient: <b@example.net>\n\n",
                 &env, &off, &err),
           "null sender parses");
    is_string("", env != NULL ? env->sender : NULL, "<> gives \"\"");
    is_string("RET=HDRS", env != NULL ? env->sender_params : NULL,
              "null sender params");
    smg_envelope_free(env);

    env = NULL;
    is_int(SMG_OK, parse("smg-sender: <a@b.example>\nSMG-SPAM: x=1\n\n", &env,
                         &off, &err),
           "field names in any case");
    ok(env != NULL && g_strcmp0(env->sender, "a@b.example") == 0
           && g_strcmp0(smg_envelope_get(env, "Spam"), "x=1") == 0,
       "lower-case names read");
    smg_envelope_free(env);

    env = NULL;
    is_int(SMG_OK,
           parse("SMG-Sender: <j\xc3\xbcrgen@b\xc3\xa4r.example>\n\n", &env,
                 &off, &err),
           "UTF-8 in an address is allowed (SMTPUTF8)");
    smg_envelope_free(env);
}

/* bad_case - text must be rejected with SMG_PERMFAIL, no envelope */
static void
bad_case(const char *text, gsize len, const char *reason, const char *what)
{
    struct smg_envelope *env = (struct smg_envelope *) &env;
    GError *err = NULL;
    gsize off = 12345;
    enum smg_status st = smg_envelope_parse(text, len, &env, &off, &err);

    is_int(SMG_PERMFAIL, st, "%s: SMG_PERMFAIL", what);
    ok(env == NULL, "%s: no envelope", what);
    ok(err != NULL && smg_error_status(err) == SMG_PERMFAIL
           && g_str_has_prefix(err->message, "5.6.0 malformed envelope: ")
           && strstr(err->message, reason) != NULL,
       "%s: error says \"%s\"", what, reason);
    if (err != NULL && strstr(err->message, reason) == NULL)
        diag("message: %s", err->message);
    g_clear_error(&err);
    smg_envelope_free(env);
}

#define BAD(text, reason, what) bad_case(text, sizeof(text) - 1, reason, what)

/* test_malformed - every malformed case is SMG_PERMFAIL */
static void
test_malformed(void)
{
    BAD("SMG-Bogus: x\n\n", "unknown field: SMG-Bogus", "unknown SMG- field");
    BAD("SMG-: x\n\n", "unknown field", "empty field name");
    BAD("SMG-Sender: <a@example.com>\nSMG-Sender: <b@example.com>\n\n",
        "SMG-Sender twice", "duplicate Sender");
    BAD("SMG-Queue-ID: A\nSMG-Queue-ID: B\n\n", "SMG-Queue-ID twice",
        "duplicate Queue-ID");
    BAD("SMG-Spam: verdict=ham\nSMG-spam: verdict=spam\n\n",
        "field twice: SMG-Spam", "duplicate Spam (any case)");
    BAD("SMG-Customer: c42\x7f\n\n", "control character",
        "DEL in a value");
    BAD("SMG-Sender: <a@example.com>\nSMG-Recipient: rcpt@example.net\n\n",
        "bad SMG-Recipient", "recipient without brackets");
    BAD("SMG-Sender: <a@example.com>\nSMG-Recipient: <rcpt@example.net\n\n",
        "bad SMG-Recipient", "recipient without '>'");
    BAD("SMG-Sender: <a@example.com>\nSMG-Recipient: <>\n\n",
        "bad SMG-Recipient", "empty recipient");
    BAD("SMG-Sender: <a@example.com>\nSMG-Recipient: <a b@example.net>\n\n",
        "bad SMG-Recipient", "space in a recipient");
    BAD("SMG-Sender: <a@example.com>\nSMG-Recipient: <a<b@example.net>\n\n",
        "bad SMG-Recipient", "'<' in a recipient");
    BAD("SMG-Sender: <a@example.com>\nSMG-Recipient: <b@example.net>x\n\n",
        "bad SMG-Recipient", "junk after '>'");
    BAD("SMG-Sender: <a@example.com>\nSMG-Recipient: <\"a b@example.net>\n\n",
        "bad SMG-Recipient", "an unclosed quoted local part");
    BAD("SMG-Sender: <a@example.com>\nSMG-Recipient: <\"a\\\x01\"@example.net>\n\n",
        "control character", "a quoted control character");
    BAD("SMG-Sender: a@example.com\n\n", "bad SMG-Sender",
        "sender without brackets");
    BAD("SMG-Sender: <a@exa\x7fmple.com>\n\n", "control character",
        "DEL in the sender");
    BAD("SMG-Client: addr=10.1.2.3\x01 helo=x\n\n", "control character",
        "control character in a value");
    BAD("SMG-Client: addr=10.1.2.3 \x1b[31m\n\n", "control character",
        "escape sequence in a value");
    BAD("SMG-Client: addr=10.1.2.3\rSMG-Recipient: <x@y>\n\n",
        "control character", "bare CR inside a line");
    BAD("SMG-Spam: verdict=ham\n score=1\x01\n\n", "control character",
        "control character in a continuation line");
    BAD("SMG-Spam: verdict=ham\n score=\x7f\n\n", "control character",
        "DEL in a continuation line");
    BAD("SMG-Client: addr=10.1.2.3\0 helo=x\n\n", "NUL byte",
        "NUL byte in a field");
    BAD("SMG-Spam: verdict=ham\n score=1\0\n\n", "NUL byte",
        "NUL byte in a continuation line");
    BAD("SMG-Recipient: <rcpt@example.net>\nSubject: x\n\nb\n",
        "recipients without SMG-Sender", "recipients without sender");
    BAD("SMG-Sender <a@example.com>\n\n", "without a colon",
        "field without a colon");
    BAD("SMG-Sp am: x\n\n", "bad field name", "space in a field name");
    BAD("SMG-Queue-ID: ../etc/passwd\n\n", "bad SMG-Queue-ID",
        "queue ID with a slash");
    BAD("SMG-Queue-ID: <>\n\n", "empty SMG-Queue-ID", "empty queue ID");
    BAD("SMG-Queue-ID: A B\n\n", "bad SMG-Queue-ID", "queue ID with a space");
}

/* test_write - write, parse again, same envelope; no injection */
static void
test_write(void)
{
    struct smg_envelope *env = smg_envelope_new();
    struct smg_envelope *back = NULL;
    GString *out = g_string_new(NULL);
    GString *again = g_string_new(NULL);
    GError *err = NULL;
    gsize off = 0;

    env->queue_id = g_strdup("0TOW8ZQ1XK2A9F");
    env->sender = g_strdup("");
    env->sender_params = g_strdup("RET=HDRS");
    smg_envelope_add_rcpt(env, "rcpt@example.net",
                          "NOTIFY=FAILURE ORCPT=rfc822;rcpt@example.net");
    smg_envelope_add_rcpt(env, "second@example.org", NULL);
    smg_envelope_set(env, "Spam", "verdict=spam score=1.0");
    smg_envelope_set(env, "Client", "addr=10.1.2.3");
    smg_envelope_set(env, "Spam", "verdict=ham score=1.3");
    smg_envelope_set(env, "Delivery", "attempts=1 last=\"451 4.7.0 later\"");
    smg_envelope_write(env, out);
    is_string("SMG-Queue-ID: 0TOW8ZQ1XK2A9F\n"
              "SMG-Sender: <> RET=HDRS\n"
              "SMG-Recipient: <rcpt@example.net> NOTIFY=FAILURE "
              "ORCPT=rfc822;rcpt@example.net\n"
              "SMG-Recipient: <second@example.org>\n"
              "SMG-Spam: verdict=ham score=1.3\n"
              "SMG-Client: addr=10.1.2.3\n"
              "SMG-Delivery: attempts=1 last=\"451 4.7.0 later\"\n",
              out->str, "write: canonical order, set replaces in place");

    g_string_append(out, "Subject: x\n\nbody\n");
    is_int(SMG_OK, smg_envelope_parse(out->str, out->len, &back, &off, &err),
           "written envelope parses");
    if (back != NULL) {
        is_string(env->queue_id, back->queue_id, "round trip: queue ID");
        is_string("", back->sender, "round trip: null sender");
        is_string("RET=HDRS", back->sender_params, "round trip: sender params");
        is_int(2, back->rcpts->len, "round trip: recipients");
        is_string("rcpt@example.net", rcpt(back, 0)->addr,
                  "round trip: recipient");
        is_string("NOTIFY=FAILURE ORCPT=rfc822;rcpt@example.net",
                  rcpt(back, 0)->params, "round trip: recipient params");
        is_string("", rcpt(back, 1)->params, "round trip: NULL params as \"\"");
        is_string("verdict=ham score=1.3", smg_envelope_get(back, "Spam"),
                  "round trip: field");
        is_string("Subject: x\n\nbody\n", out->str + off,
                  "round trip: message after the envelope");
        smg_envelope_write(back, again);
        ok(g_str_has_prefix(out->str, again->str)
               && again->len == off,
           "round trip: written again, byte for byte");
    } else {
        diag("%s", err->message);
        for (int i = 0; i < 10; i++)
            ok(0, "round trip");
    }
    smg_envelope_free(back);
    g_clear_error(&err);

    /* a value with a line break cannot add a field */
    g_string_truncate(out, 0);
    smg_envelope_set(env, "Notice", "x\nSMG-Recipient: <evil@example.com>");
    smg_envelope_add_rcpt(env, "third@example.com\r\nSMG-Recipient: <e@x>", "");
    smg_envelope_write(env, out);
    back = NULL;
    is_int(SMG_PERMFAIL,
           smg_envelope_parse(out->str, out->len, &back, &off, &err),
           "a recipient address with CRLF is written harmless (then refused)");
    g_clear_error(&err);
    smg_envelope_free(back);
    g_ptr_array_remove_index(env->rcpts, 2);
    g_string_truncate(out, 0);
    smg_envelope_write(env, out);
    back = NULL;
    is_int(SMG_OK, smg_envelope_parse(out->str, out->len, &back, &off, &err),
           "a field value with LF is written on one line");
    ok(back != NULL && back->rcpts->len == 2
           && g_strcmp0(smg_envelope_get(back, "Notice"),
                        "x SMG-Recipient: <evil@example.com>")
                  == 0,
       "no recipient injected through a value");
    smg_envelope_free(back);

    /* an empty envelope writes nothing */
    {
        struct smg_envelope *empty = smg_envelope_new();
        g_string_truncate(out, 0);
        smg_envelope_write(empty, out);
        is_string("", out->str, "empty envelope writes nothing");
        smg_envelope_free(empty);
    }

    g_string_free(again, TRUE);
    g_string_free(out, TRUE);
    smg_envelope_free(env);
}

/* test_param - smg_envelope_param */
static void
test_param(void)
{
    const char *s = "verdict=spam score=9.1 tests=\"A B\" note=\"x verdict=no\" "
                    "last=\"unterminated quote";

    is_string("spam", param(s, "verdict"), "first word");
    is_string("9.1", param(s, "score"), "middle word");
    is_string("A B", param(s, "tests"), "quoted value unquoted");
    is_string("x verdict=no", param(s, "note"), "key inside a quoted value is not a key");
    is_string("unterminated quote", param(s, "last"), "unterminated quote: the rest");
    is_string("spam", param(s, "VERDICT"), "keys ignore case");
    ok(param(s, "verd") == NULL, "a prefix of a key is not the key");
    ok(param(s, "threshold") == NULL, "absent key: NULL");
    ok(param("", "x") == NULL, "empty string: NULL");
    ok(param(NULL, "x") == NULL, "NULL string: NULL");
    is_string("", param("a= b=2", "a"), "empty value");
    is_string("2", param("a= b=2", "b"), "after an empty value");
    is_string("rfc822;x@y.example", param("NOTIFY=NEVER ORCPT=rfc822;x@y.example",
                                          "ORCPT"),
              "ORCPT with ';' and '@'");
    is_string("1", param("\t x=1\t", "x"), "tabs and spaces around");
    ok(param("flag x=1", "flag") == NULL, "a word without '=' has no value");
}

/* strip - smg_envelope_strip into a new string */
static char *
strip(const char *msg)
{
    GString *out = g_string_new(NULL);

    smg_envelope_strip(msg, strlen(msg), out);
    return g_string_free(out, FALSE);
}

/* test_strip - SMG-* fields go, anywhere in the header, never in the body */
static void
test_strip(void)
{
    char *s;

    s = strip(EXAMPLE_ENVELOPE EXAMPLE_MESSAGE);
    is_string(EXAMPLE_MESSAGE, s, "the envelope is stripped, the body kept");
    g_free(s);

    s = strip("Received: from x\n"
              "SMG-Sender: <forged@example.com>\n"
              "  BODY=8BITMIME\n"
              "From: a@example.com\n"
              "smg-spam: verdict=ham\n"
              "\tscore=-100\n"
              " tests=FORGED\n"
              "Subject: a\n"
              " folded subject\n"
              "X-SMG-Note: kept\n"
              "SMG-Route: pool=good\n"
              "\n"
              "SMG-Recipient: <in-body@example.com>\n"
              " continued in body\n"
              "\n"
              "end\n");
    is_string("Received: from x\n"
              "From: a@example.com\n"
              "Subject: a\n"
              " folded subject\n"
              "X-SMG-Note: kept\n"
              "\n"
              "SMG-Recipient: <in-body@example.com>\n"
              " continued in body\n"
              "\n"
              "end\n",
              s, "fields anywhere in the header go with their continuations");
    g_free(s);

    s = strip("SMG-Sender: <a@b.example>\r\n"
              " RET=HDRS\r\n"
              "Subject: crlf\r\n"
              "\r\n"
              "SMG-Spam: body\r\n");
    is_string("Subject: crlf\r\n\r\nSMG-Spam: body\r\n", s, "CRLF message");
    g_free(s);

    s = strip(EXAMPLE_MESSAGE);
    is_string(EXAMPLE_MESSAGE, s, "a message without SMG fields is unchanged");
    g_free(s);

    s = strip("SMG-Spam: x\nSubject: no body");
    is_string("Subject: no body", s, "header only, no final LF");
    g_free(s);

    s = strip("\nSMG-Spam: body only\n");
    is_string("\nSMG-Spam: body only\n", s, "no header: all body");
    g_free(s);

    s = strip("");
    is_string("", s, "empty message");
    g_free(s);

    {
        /* the body is copied byte for byte, NULs included */
        static const char msg[] = "SMG-Spam: x\nA: b\n\nbin\0ary\n";
        GString *out = g_string_new(NULL);
        smg_envelope_strip(msg, sizeof msg - 1, out);
        ok(out->len == sizeof msg - 1 - 12
               && memcmp(out->str, msg + 12, out->len) == 0,
           "binary body kept, length %zu", out->len);
        g_string_free(out, TRUE);
    }
}

/* test_check_spool - what a spool file's envelope must have */
static void
test_check_spool(void)
{
    static const struct {
        const char *text;
        enum smg_status want;
        const char *what;
    } cases[] = {
        {"SMG-Queue-ID: A1\nSMG-Sender: <a@b>\nSMG-Recipient: <c@d>\n\nx\n", SMG_OK,
         "complete envelope"},
        {"SMG-Sender: <a@b>\nSMG-Recipient: <c@d>\n\nx\n", SMG_OK, "no queue ID is fine"},
        {"SMG-Sender: <>\nSMG-Recipient: <c@d>\n\nx\n", SMG_OK, "null sender"},
        {"Subject: bare\n\nx\n", SMG_PERMFAIL, "bare message"},
        {"SMG-Sender: <a@b>\n\nx\n", SMG_PERMFAIL, "no recipient"},
        {"SMG-Queue-ID: B2\nSMG-Sender: <a@b>\nSMG-Recipient: <c@d>\n\nx\n",
         SMG_PERMFAIL, "queue ID not the file name"},
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        struct smg_envelope *env = NULL;
        GError *err = NULL;
        gsize off = 0;

        if (smg_envelope_parse(cases[i].text, strlen(cases[i].text), &env, &off, NULL)
            != SMG_OK)
            bail("parse: %s", cases[i].what);
        is_int(cases[i].want, smg_envelope_check_spool(env, "A1", &err),
               "check_spool: %s", cases[i].what);
        if (cases[i].want != SMG_OK)
            ok(err != NULL && g_str_has_prefix(err->message, "5.6.0 malformed envelope"),
               "check_spool: %s: reason given", cases[i].what);
        g_clear_error(&err);
        smg_envelope_free(env);
    }
}

/*
 * replay_check - the promises envelope-fuzz.c checks, for one input of its
 * corpus: a parse gives a body offset within the input and an envelope
 * that writes and reads back the same, a failure is a PERMFAIL with a
 * reason and no envelope, and strip never grows the text
 */
static unsigned
replay_check(const char *buf, size_t len)
{
    struct smg_envelope *env = NULL, *again = NULL;
    GError *err = NULL;
    GString *out, *stripped = g_string_new(NULL);
    gsize off = 0, off2 = 0;
    unsigned bad = 0;

    if (smg_envelope_parse(buf, len, &env, &off, &err) == SMG_OK) {
        if (env == NULL || err != NULL || off > len)
            bad++;
        out = g_string_new(NULL);
        smg_envelope_write(env, out);
        g_string_append(out, "\nbody\n");
        if (smg_envelope_parse(out->str, out->len, &again, &off2, &err) != SMG_OK
            || g_strcmp0(env->queue_id, again->queue_id) != 0
            || g_strcmp0(env->sender, again->sender) != 0
            || env->rcpts->len != again->rcpts->len || env->fields->len != again->fields->len)
            bad++;
        for (guint i = 0; again != NULL && i < env->rcpts->len && i < again->rcpts->len; i++)
            if (g_strcmp0(((struct smg_rcpt *) env->rcpts->pdata[i])->addr,
                          ((struct smg_rcpt *) again->rcpts->pdata[i])->addr) != 0)
                bad++;
        smg_envelope_free(again);
        g_string_free(out, TRUE);
        smg_envelope_free(env);
    } else if (env != NULL || err == NULL || smg_error_status(err) != SMG_PERMFAIL) {
        bad++;
    }
    g_clear_error(&err);
    smg_envelope_strip(buf, len, stripped);
    if (stripped->len > len)
        bad++;
    g_string_free(stripped, TRUE);
    return bad;
}

int
main(void)
{
    plan(210);
    test_check_spool();
    test_example();
    test_quoted();
    test_bare();
    test_forms();
    test_malformed();
    test_write();
    test_param();
    test_strip();
    test_replay_fuzz("corpus", "envelope", replay_check);
    return 0;
}

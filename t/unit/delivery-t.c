/*
 * delivery-t.c - unit tests for lib/delivery's pure parts: the back-off
 * schedule, the SMG-Delivery field (parse, format, round trip, hostile
 * values), the time format, and the configuration checks of
 * smg_delivery_new.  Delivery itself is tested against real peers by
 * t/60xx-send-*.t.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>

#include "lib/config.h"
#include "lib/delivery.h"
#include "lib/envelope.h"
#include "t/tap/basic.h"

/* new_err - the error of smg_delivery_new for a config text, or "" */
static char *
new_err(const char *text, const char *gw)
{
    struct smg_conf *conf = NULL;
    struct smg_delivery *d = NULL;
    GError *err = NULL;
    char *msg;

    if (smg_conf_load_data(text, "t.conf", &conf, &err) != SMG_OK) {
        msg = g_strdup_printf("load: %s", err->message);
        g_error_free(err);
        return msg;
    }
    if (smg_delivery_new(conf, gw, &d, &err) == SMG_OK) {
        smg_delivery_free(d);
        smg_conf_free(conf);
        return g_strdup("");
    }
    msg = g_strdup(err->message);
    g_error_free(err);
    smg_conf_free(conf);
    return msg;
}

int
main(void)
{
    struct smg_delivery_state st, back;
    char *s, *e;

    plan_lazy();

    /* back-off: 5 min doubling to 4 h */
    is_int(300, (long) smg_delivery_backoff(300, 14400, 2, 1), "attempt 1: 5 min");
    is_int(600, (long) smg_delivery_backoff(300, 14400, 2, 2), "attempt 2: 10 min");
    is_int(4800, (long) smg_delivery_backoff(300, 14400, 2, 5), "attempt 5: 80 min");
    is_int(14400, (long) smg_delivery_backoff(300, 14400, 2, 7), "attempt 7: capped");
    is_int(14400, (long) smg_delivery_backoff(300, 14400, 2, 100000), "huge attempts: capped");
    is_int(300, (long) smg_delivery_backoff(300, 14400, 1, 9), "factor 1: constant");
    is_int(450, (long) smg_delivery_backoff(300, 14400, 1.5, 2), "factor 1.5");

    /* times */
    is_int(1795323600, (long) smg_delivery_parse_time("2026-11-22T05:00:00Z"), "ISO time");
    is_int(0, (long) smg_delivery_parse_time("yesterday"), "bad time: 0");
    is_int(0, (long) smg_delivery_parse_time(NULL), "no time: 0");
    s = smg_delivery_format_time(1795323600);
    is_string("2026-11-22T05:00:00Z", s, "format time");
    g_free(s);

    /* SMG-Delivery */
    smg_delivery_state_parse("attempts=3 gateway=mta01 first=2026-11-22T05:00:00Z "
                             "last=\"451 4.3.0 busy now\" next=2026-11-22T06:00:00Z "
                             "warned=yes held=2026-11-22T07:00:00Z",
                             &st);
    is_int(3, st.attempts, "attempts");
    is_string("mta01", st.gateway, "gateway");
    is_int(1795323600, (long) st.first, "first");
    is_int(1795323600 + 3600, (long) st.next, "next");
    is_int(1795323600 + 7200, (long) st.held, "held");
    ok(st.warned, "warned");
    is_string("451 4.3.0 busy now", st.last, "last, unquoted");
    s = smg_delivery_state_format(&st);
    is_string("attempts=3 gateway=mta01 first=2026-11-22T05:00:00Z last=\"451 4.3.0 busy "
              "now\" next=2026-11-22T06:00:00Z warned=yes held=2026-11-22T07:00:00Z",
              s, "format");
    smg_delivery_state_parse(s, &back);
    ok(back.attempts == st.attempts && back.first == st.first && back.next == st.next
           && back.held == st.held && back.warned && strcmp(back.last, st.last) == 0,
       "round trip");
    g_free(s);
    smg_delivery_state_clear(&back);
    g_free(st.last);
    st.last = g_strdup("550 \"quoted\" back\\slash\nnewline");
    s = smg_delivery_state_format(&st);
    ok(strchr(s, '\n') == NULL, "no newline in the field");
    smg_delivery_state_parse(s, &back);
    is_string("550 'quoted' back'slash newline", back.last, "quotes and backslashes replaced");
    g_free(s);
    smg_delivery_state_clear(&back);
    /* a server's reply with DEL (or any control character) must not make
     * the SMG-Delivery field one the envelope parser refuses: the deferred
     * file would go to corrupt/, never retried nor bounced */
    g_free(st.last);
    st.last = g_strdup("451 4.7.1 try\x7f later\x01\x1b[0m");
    s = smg_delivery_state_format(&st);
    {
        char *file = g_strdup_printf("SMG-Sender: <a@example.com>\n"
                                     "SMG-Recipient: <b@example.net>\n"
                                     "SMG-Delivery: %s\n\nbody\n", s);
        struct smg_envelope *env = NULL;
        GError *perr = NULL;
        gsize off = 0;

        ok(smg_envelope_parse(file, strlen(file), &env, &off, &perr) == SMG_OK,
           "a reply with control characters still makes a valid envelope%s%s",
           perr != NULL ? ": " : "", perr != NULL ? perr->message : "");
        g_clear_error(&perr);
        smg_envelope_free(env);
        g_free(file);
    }
    smg_delivery_state_parse(s, &back);
    is_string("451 4.7.1 try  later  [0m", back.last, "control characters become spaces");
    g_free(s);
    smg_delivery_state_clear(&back);
    /* a long 8-bit reply: last= is cut between characters, never inside
     * one, and an octet that is not UTF-8 becomes '?' */
    {
        GString *r = g_string_new("550 5.1.1 ");
        char *f;

        g_string_append(r, "caf\xc3\xa9 \xff ");
        while (r->len < 299)
            g_string_append_c(r, 'x');
        g_string_append(r, "\xc3\xa9\xc3\xa9 tail");
        g_free(st.last);
        st.last = g_string_free(r, FALSE);
        s = smg_delivery_state_format(&st);
        smg_delivery_state_parse(s, &back);
        ok(back.last != NULL && g_utf8_validate(back.last, -1, NULL),
           "a long 8-bit reply: last= is valid UTF-8");
        ok(back.last != NULL && strlen(back.last) <= 300 && strlen(back.last) >= 298,
           "a long 8-bit reply: last= cut at about 300 bytes (%zu)",
           back.last != NULL ? strlen(back.last) : 0);
        f = back.last != NULL ? strstr(back.last, "caf\xc3\xa9 ? ") : NULL;
        ok(f != NULL, "a long 8-bit reply: UTF-8 kept, a bad octet is '?'");
        g_free(s);
        smg_delivery_state_clear(&back);
    }
    smg_delivery_state_clear(&st);
    smg_delivery_state_parse(NULL, &st);
    ok(st.attempts == 0 && st.first == 0 && st.last == NULL, "no field: zero state");
    smg_delivery_state_clear(&st);
    smg_delivery_state_parse("attempts=99999999999 first=garbage", &st);
    ok(st.attempts == 100000 && st.first == 0, "hostile values bounded");
    smg_delivery_state_clear(&st);

    /* configuration */
    e = new_err("[gateway a]\nbind = 127.0.0.2\n", "b");
    ok(strstr(e, "no [gateway b] group") != NULL, "unknown gateway: %s", e);
    g_free(e);
    e = new_err("[gateway a]\nhelo = a.test\n", "a");
    ok(strstr(e, "has neither bind nor relay") != NULL, "no bind, no relay: %s", e);
    g_free(e);
    e = new_err("[gateway a]\nbind = a.test\n", "a");
    ok(strstr(e, "bind: 'a.test' is not an IP address") != NULL, "bind by name: %s", e);
    g_free(e);
    e = new_err("[gateway a]\nrelay = [a.test]:25\n", "a");
    ok(strstr(e, "relay: '[a.test]:25' is not") != NULL, "bad relay literal: %s", e);
    g_free(e);
    e = new_err("[gateway a]\nrelay = host.test:99999\n", "a");
    ok(strstr(e, "relay:") != NULL, "bad relay port: %s", e);
    g_free(e);
    e = new_err("[dns]\nnameservers = 127.0.0.1\n[gateway a]\nrelay = [127.0.0.1]:2525\n", "a");
    is_string("", e, "relay literal with a port");
    g_free(e);
    e = new_err("[dns]\nnameservers = 127.0.0.1\n[gateway a]\nrelay = node2.test\n"
                "[send]\nbackoff_min = 2h\nbackoff_max = 1h\n", "a");
    ok(strstr(e, "backoff_max is less than backoff_min") != NULL, "back-off order: %s", e);
    g_free(e);
    e = new_err("[dns]\nnameservers = 127.0.0.1\n[gateway a]\nbind = 127.0.0.2\n"
                "[send]\ntls_policy = /nonexistent/policy\n", "a");
    ok(strstr(e, "cannot read TLS policy /nonexistent/policy") != NULL, "policy file: %s", e);
    g_free(e);
    return 0;
}

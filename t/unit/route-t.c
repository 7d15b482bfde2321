/*
 * route-t.c - unit tests for lib/route: pool choice from the verdicts,
 * the customer's spam ratio (lib/spamstats, as smg-check counts it) over
 * its window, the stable spread over a pool's gateways, skipping listed
 * gateways (and not when all are listed), the blacklist state file round
 * trip, the SPF record and the configuration errors.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/envelope.h"
#include "lib/route.h"
#include "lib/spamstats.h"
#include "t/tap/basic.h"

static char *top;

/* conf_with - a config over top's state folder plus extra text */
static struct smg_conf *
conf_with(const char *extra)
{
    struct smg_conf *conf = NULL;
    GError *err = NULL;
    char *text = g_strdup_printf(
        "[spool]\ndir = %s/spool\nstate_dir = %s/state\n"
        "[route]\ngood = mta01 mta02\nbad = mta03\n%s"
        "[gateway mta01]\nbind = 127.0.0.2\nhelo = mta01.test\n"
        "[gateway mta02]\nbind = 127.0.0.4\nhelo = mta02.test\n"
        "[gateway mta03]\nbind = 127.0.0.3\nhelo = mta03.test\n"
        "[gateway far]\nrelay = node2.test\n",
        top, top, extra);

    if (smg_conf_load_data(text, "test.conf", &conf, &err) != SMG_OK)
        bail("config: %s", err->message);
    g_free(text);
    return conf;
}

/* env_of - an envelope with the given SMG-* fields (NULL: absent) */
static struct smg_envelope *
env_of(const char *id, const char *spam, const char *virus,
       const char *customer, const char *route)
{
    struct smg_envelope *env = smg_envelope_new();

    env->queue_id = g_strdup(id);
    env->sender = g_strdup("a@customer.test");
    env->sender_params = g_strdup("");
    smg_envelope_add_rcpt(env, "b@rcpt.test", "");
    if (customer != NULL)
        smg_envelope_set(env, "Customer", customer);
    if (spam != NULL)
        smg_envelope_set(env, "Spam", spam);
    if (virus != NULL)
        smg_envelope_set(env, "Virus", virus);
    if (route != NULL)
        smg_envelope_set(env, "Route", route);
    return env;
}

/* decide - pool/gateway/reason as "bad mta03 spam" (new string) */
static char *
decide(struct smg_route *r, struct smg_envelope *env)
{
    struct smg_route_decision d;
    GError *err = NULL;
    char *s;

    if (smg_route_decide(r, env->queue_id, env, &d, &err) != SMG_OK)
        bail("decide: %s", err->message);
    s = g_strdup_printf("%s %s %s", smg_route_pool_name(d.pool), d.gateway,
                        d.reason);
    smg_route_decision_clear(&d);
    return s;
}

/* is_decision - compare and free */
static void
is_decision(struct smg_route *r, struct smg_envelope *env, const char *want,
            const char *what)
{
    char *s = decide(r, env);

    is_string(want, s, "%s", what);
    g_free(s);
    smg_envelope_free(env);
}

/* decide_free - decide, then free the envelope (new string) */
static char *
decide_free(struct smg_route *r, struct smg_envelope *env)
{
    char *s = decide(r, env);

    smg_envelope_free(env);
    return s;
}

/* gw_for - the gateway chosen for a ham message with this id */
static char *
gw_for(struct smg_route *r, const char *id)
{
    struct smg_envelope *env = env_of(id, "verdict=ham", NULL, NULL, NULL);
    struct smg_route_decision d;
    char *g;

    if (smg_route_decide(r, id, env, &d, NULL) != SMG_OK)
        bail("decide");
    g = g_strdup(d.gateway);
    smg_route_decision_clear(&d);
    smg_envelope_free(env);
    return g;
}

static void
test_pools(void)
{
    struct smg_conf *conf = conf_with("");
    struct smg_route *r;
    GError *err = NULL;

    ok(smg_route_new(conf, &r, &err) == SMG_OK, "router made");
    is_decision(r, env_of("ID1", "verdict=spam score=9 threshold=5", NULL, NULL, NULL),
                "bad mta03 spam", "spam verdict: bad pool");
    is_decision(r, env_of("ID1", "verdict=ham score=1", "verdict=infected name=x",
                          NULL, NULL),
                "bad mta03 virus", "virus verdict: bad pool");
    is_decision(r, env_of("ID1", NULL, NULL, NULL, "pool=bad gateway=mta03 reason=spam"),
                "bad mta03 bad-origin", "report about bad-pool mail: bad pool");
    {
        char *s = decide_free(r, env_of("ID1", "verdict=ham", NULL, NULL,
                                        "pool=good gateway=mta01 reason=ham"));
        ok(g_str_has_prefix(s, "good "), "earlier good route stays good: %s", s);
        g_free(s);
    }
    {
        char *s = decide_free(r, env_of("ID1", NULL, NULL, NULL, NULL));
        ok(g_str_has_prefix(s, "good ") && g_str_has_suffix(s, " ham"),
           "no verdict: good pool, ham (%s)", s);
        g_free(s);
    }
    smg_route_free(r);
    smg_conf_free(conf);
}

/* client_env - env_of for mail smg-recv accepted (it has SMG-Client) */
static struct smg_envelope *
client_env(const char *id, const char *spam, const char *virus)
{
    struct smg_envelope *env = env_of(id, spam, virus, "cust1", NULL);

    smg_envelope_set(env, "Client", "addr=10.0.0.1 helo=app.test tls=none auth=cust1");
    return env;
}

/* mail that skipped smg-check or smg-scan never leaves as if clean */
static void
test_unchecked(void)
{
    struct smg_conf *conf = conf_with("");
    struct smg_route *r;
    GError *err = NULL;
    char *s;

    ok(smg_route_new(conf, &r, &err) == SMG_OK, "router made");
    s = decide_free(r, client_env("U1", "verdict=ham score=1", "verdict=clean"));
    ok(g_str_has_prefix(s, "good ") && g_str_has_suffix(s, " ham"),
       "customer mail with both verdicts: good (%s)", s);
    g_free(s);
    is_decision(r, client_env("U1", "verdict=ham score=1", NULL),
                "bad mta03 unchecked", "customer mail without SMG-Virus: bad pool");
    is_decision(r, client_env("U1", NULL, "verdict=clean"),
                "bad mta03 unchecked", "customer mail without SMG-Spam: bad pool");
    is_decision(r, client_env("U1", NULL, NULL),
                "bad mta03 unchecked", "customer mail without verdicts: bad pool");
    is_decision(r, client_env("U1", "score=1 threshold=5", "verdict=clean"),
                "bad mta03 unchecked", "SMG-Spam without a verdict word: bad pool");
    is_decision(r, env_of("U1", "verdict=maybe", "verdict=clean", NULL, NULL),
                "bad mta03 unchecked", "an unknown spam verdict: bad pool");
    is_decision(r, env_of("U1", "verdict=ham", "verdict=error", NULL, NULL),
                "bad mta03 unchecked", "an unknown virus verdict: bad pool");
    is_decision(r, client_env("U1", "verdict=spam", NULL),
                "bad mta03 spam", "a spam verdict still says spam");
    {
        struct smg_envelope *env = client_env("U2", "verdict=ham", NULL);
        struct smg_route_decision d;

        if (smg_route_decide(r, "U2", env, &d, NULL) != SMG_OK)
            bail("decide");
        ok(strstr(d.explain->str, "virus: (no verdict: not scanned)\n") != NULL,
           "explain says it was not scanned");
        smg_route_decision_clear(&d);
        smg_envelope_free(env);
    }
    {
        /* smg's own reports (smg-send's NDRs, smg-blcheck's notices) pass
         * through neither smg-check nor smg-scan */
        struct smg_envelope *env = env_of("N1", NULL, NULL, "cust1", NULL);

        smg_envelope_set(env, "Bounce-Of", "Q1");
        s = decide_free(r, env);
        ok(g_str_has_prefix(s, "good ") && g_str_has_suffix(s, " ham"),
           "a bounce without verdicts: good (%s)", s);
        g_free(s);
    }
    smg_route_free(r);
    smg_conf_free(conf);
}

static void
test_spread(void)
{
    struct smg_conf *conf = conf_with("");
    struct smg_route *r;
    unsigned n1 = 0, n2 = 0;
    char *a, *b;
    char *state = g_strdup_printf("%s/state", top);
    GError *err = NULL;

    if (smg_route_new(conf, &r, &err) != SMG_OK)
        bail("router");
    is_int((long) 2166136261u, (long) smg_route_hash(""), "FNV-1a offset basis");
    is_int((long) 0xe40c292cu, (long) smg_route_hash("a"), "FNV-1a of \"a\"");
    for (int i = 0; i < 1000; i++) {
        char id[32];
        char *g;

        g_snprintf(id, sizeof id, "1F%06dX", i);
        g = gw_for(r, id);
        if (strcmp(g, "mta01") == 0)
            n1++;
        else if (strcmp(g, "mta02") == 0)
            n2++;
        g_free(g);
    }
    is_int(1000, n1 + n2, "ham only goes to the good pool");
    ok(n1 > 400 && n2 > 400, "spread evenly: %u and %u of 1000", n1, n2);
    a = gw_for(r, "SAMEID");
    b = gw_for(r, "SAMEID");
    is_string(a, b, "the same ID gets the same gateway");
    g_free(a);
    g_free(b);

    /* mta01 listed: everything goes to mta02 */
    ok(smg_route_blacklist_write(state, "mta01", TRUE,
                                 0, "127.0.0.2", "bl.test", &err) == SMG_OK,
       "state written for mta01");
    n1 = n2 = 0;
    for (int i = 0; i < 200; i++) {
        char id[32];
        char *g;

        g_snprintf(id, sizeof id, "2F%06dX", i);
        g = gw_for(r, id);
        if (strcmp(g, "mta01") == 0)
            n1++;
        else if (strcmp(g, "mta02") == 0)
            n2++;
        g_free(g);
    }
    is_int(0, n1, "listed gateway skipped");
    is_int(200, n2, "the clean one takes it all");
    /* both listed: back to both */
    if (smg_route_blacklist_write(state, "mta02", TRUE,
                                  0, NULL, NULL, &err) != SMG_OK)
        bail("write");
    n1 = n2 = 0;
    for (int i = 0; i < 200; i++) {
        char id[32];
        char *g;

        g_snprintf(id, sizeof id, "3F%06dX", i);
        g = gw_for(r, id);
        if (strcmp(g, "mta01") == 0)
            n1++;
        else
            n2++;
        g_free(g);
    }
    ok(n1 > 0 && n2 > 0, "all listed: mail still leaves, spread (%u, %u)", n1, n2);
    /* clean again */
    if (smg_route_blacklist_write(state, "mta01", FALSE,
                                  0, NULL, NULL, &err) != SMG_OK
        || smg_route_blacklist_write(state, "mta02",
                                     FALSE, 0, NULL, NULL, &err) != SMG_OK)
        bail("write");

    /* a state file without a valid status line (a hand edit) reads as
     * clean, and --explain says it is there, not that there is none */
    {
        char *path = g_strdup_printf("%s/blacklist/mta01", state);
        char *path2 = g_strdup_printf("%s/blacklist/mta02", state);
        struct smg_envelope *env = env_of("4FEXPL", "verdict=ham", NULL, NULL, NULL);
        struct smg_route_decision d;

        test_write_file(path, "status=LISTED\n");
        unlink(path2);
        if (smg_route_decide(r, env->queue_id, env, &d, NULL) != SMG_OK)
            bail("decide");
        ok(strstr(d.explain->str,
                  "gateway mta01: clean (state file without a valid status line)\n")
               != NULL,
           "explain: a state file without a valid status line is named");
        ok(strstr(d.explain->str, "gateway mta02: clean (no blacklist state)\n") != NULL,
           "explain: a missing state file is no state");
        smg_route_decision_clear(&d);
        smg_envelope_free(env);
        unlink(path);
        g_free(path);
        g_free(path2);
    }
    g_free(state);
    smg_route_free(r);
    smg_conf_free(conf);
}

static void
test_blacklist_file(void)
{
    char *state = g_strdup_printf("%s/state", top);
    char *path = g_strdup_printf("%s/blacklist/gwx", state);
    struct smg_route_blacklist bl;
    char *text = NULL;

    ok(smg_route_blacklist_read(state, "gwx", &bl, NULL) == SMG_OK && !bl.known,
       "no state file: unknown (clean)");
    ok(smg_route_blacklist_write(state, "gwx", TRUE, 1795323600, "192.0.2.1",
                                 "zen.test bl.test", NULL) == SMG_OK,
       "write listed");
    g_file_get_contents(path, &text, NULL, NULL);
    ok(text != NULL && strstr(text, "status=listed\n") != NULL
           && strstr(text, "checked=2026-11-22T05:00:00Z\n") != NULL
           && strstr(text, "address=192.0.2.1\n") != NULL
           && strstr(text, "zones=zen.test bl.test\n") != NULL,
       "file format");
    g_free(text);
    ok(smg_route_blacklist_read(state, "gwx", &bl, NULL) == SMG_OK && bl.known
           && bl.listed && strcmp(bl.zones, "zen.test bl.test") == 0
           && strcmp(bl.checked, "2026-11-22T05:00:00Z") == 0,
       "read back");
    smg_route_blacklist_clear(&bl);
    test_write_file(path, "# hand-written\n  status = clean \nfuture=1\n");
    ok(smg_route_blacklist_read(state, "gwx", &bl, NULL) == SMG_OK && bl.known
           && !bl.listed,
       "spaces, comments and unknown keys");
    smg_route_blacklist_clear(&bl);
    test_write_file(path, "garbage\nstatus=maybe\n");
    ok(smg_route_blacklist_read(state, "gwx", &bl, NULL) == SMG_OK && !bl.known,
       "no valid status: unknown");
    smg_route_blacklist_clear(&bl);
    ok(smg_route_blacklist_write(state, "../x", TRUE, 0, NULL, NULL, NULL)
           == SMG_PERMFAIL,
       "a gateway name with a slash is refused");

    /* every lookup failed: unknown, but only where nothing was known */
    {
        char *upath = g_strdup_printf("%s/blacklist/gwu", state);
        gboolean written = FALSE;

        ok(smg_route_blacklist_write_unknown(state, "gwu", 1795323600,
                                             "192.0.2.9", &written, NULL)
                   == SMG_OK
               && written,
           "unknown: written where there was no state");
        g_file_get_contents(upath, &text, NULL, NULL);
        ok(text != NULL && strstr(text, "status=unknown\n") != NULL
               && strstr(text, "checked=2026-11-22T05:00:00Z\n") != NULL
               && strstr(text, "address=192.0.2.9\n") != NULL,
           "unknown: file format");
        g_free(text);
        ok(smg_route_blacklist_read(state, "gwu", &bl, NULL) == SMG_OK
               && !bl.known && bl.unknown && !bl.listed
               && g_strcmp0(bl.checked, "2026-11-22T05:00:00Z") == 0,
           "unknown: read back as not known, with when it was tried");
        smg_route_blacklist_clear(&bl);
        ok(smg_route_blacklist_write_unknown(state, "gwu", 1795410000, NULL,
                                             &written, NULL)
                   == SMG_OK
               && !written,
           "unknown again: not rewritten");
        ok(smg_route_blacklist_read(state, "gwu", &bl, NULL) == SMG_OK
               && g_strcmp0(bl.checked, "2026-11-22T05:00:00Z") == 0,
           "unknown again: the first try's time kept");
        smg_route_blacklist_clear(&bl);
        g_free(upath);
    }
    if (smg_route_blacklist_write(state, "gwx", TRUE, 1795323600, "192.0.2.1",
                                  "zen.test", NULL) != SMG_OK)
        bail("write");
    g_file_get_contents(path, &text, NULL, NULL);
    {
        gboolean written = TRUE;
        char *after = NULL;

        ok(smg_route_blacklist_write_unknown(state, "gwx", 1795410000, NULL,
                                             &written, NULL)
                   == SMG_OK
               && !written,
           "unknown: a known state is not replaced");
        g_file_get_contents(path, &after, NULL, NULL);
        is_string(text, after, "unknown: the listed state file is untouched");
        g_free(after);
    }
    g_free(text);
    ok(smg_route_blacklist_write_unknown(state, "../x", 0, NULL, NULL, NULL)
           == SMG_PERMFAIL,
       "unknown: a gateway name with a slash is refused");
    g_free(path);
    g_free(state);
}

/* count - add n verdicts of customer to the spamstats at time t */
static void
count(struct smg_conf *conf, const char *customer, gboolean spam, unsigned n, time_t t)
{
    char *dir = smg_spamstats_dir(conf);
    GError *err = NULL;

    for (unsigned i = 0; i < n; i++)
        if (smg_spamstats_add_dir(dir, customer, spam, (gint64) t, 3600, &err) != SMG_OK)
            bail("spamstats: %s", err->message);
    g_free(dir);
}

static void
test_customer_ratio(void)
{
    struct smg_conf *conf = conf_with("customer_min_messages = 10\n"
                                      "customer_spam_ratio = 0.5\n"
                                      "[check]\nspamstats_window = 1h\n");
    struct smg_route *r;
    time_t t0 = 1795323600; /* an hour start */
    GError *err = NULL;

    if (smg_route_new(conf, &r, &err) != SMG_OK)
        bail("router");
    smg_route_set_now(r, t0 + 10);
    /* smg-check counted 6 spam and 4 ham for cust1 */
    count(conf, "cust1", TRUE, 6, t0 + 5);
    count(conf, "cust1", FALSE, 4, t0 + 5);
    count(conf, "cust2", FALSE, 30, t0 + 5);
    count(conf, "cust3", TRUE, 9, t0 + 5);
    is_decision(r, env_of("C2", "verdict=ham", NULL, "cust1", NULL),
                "bad mta03 customer-ratio", "ham of a spamming customer: bad");
    is_decision(r, env_of("C2", "verdict=ham", NULL, "cust2", NULL),
                "good mta01 ham", "another customer is not affected");
    is_decision(r, env_of("C2", "verdict=ham", NULL, "cust3", NULL),
                "good mta01 ham", "fewer than customer_min_messages: not judged");
    {
        struct smg_envelope *env = env_of("C3", "verdict=ham", "verdict=clean", NULL, NULL);
        char *s;

        smg_envelope_set(env, "Client", "addr=10.0.0.1 helo=x tls=none auth=cust1");
        s = decide(r, env);
        ok(strstr(s, "customer-ratio") != NULL,
           "customer from auth= of SMG-Client: %s", s);
        g_free(s);
        smg_envelope_free(env);
    }
    {
        struct smg_route_decision d;
        struct smg_envelope *env = env_of("C4", "verdict=ham", NULL, "cust1", NULL);

        if (smg_route_decide(r, "C4", env, &d, &err) != SMG_OK)
            bail("decide");
        ok(strstr(d.explain->str, "customer: cust1, spam ratio 0.60 over 10 messages, "
                                  "limit 0.50: over") != NULL,
           "the explanation gives the ratio and the limit");
        smg_route_decision_clear(&d);
        smg_envelope_free(env);
    }
    /* two hours later the window holds nothing */
    smg_route_set_now(r, t0 + 2 * 3600 + 10);
    is_decision(r, env_of("C2", "verdict=ham", NULL, "cust1", NULL),
                "good mta01 ham", "after the window: good again");
    smg_route_free(r);
    smg_conf_free(conf);

    conf = conf_with("customer_spam_ratio = 0\ncustomer_min_messages = 1\n");
    if (smg_route_new(conf, &r, &err) != SMG_OK)
        bail("router");
    smg_route_set_now(r, t0 + 10);
    is_decision(r, env_of("C2", "verdict=ham", NULL, "cust1", NULL),
                "good mta01 ham", "ratio 0 turns the check off");
    smg_route_free(r);
    smg_conf_free(conf);
}

static void
test_spf_and_config(void)
{
    struct smg_conf *conf = conf_with("");
    struct smg_route *r = NULL;
    char *rec = NULL, *skipped = NULL;
    GError *err = NULL;

    ok(smg_route_spf(conf, &rec, &skipped, &err) == SMG_OK, "spf");
    is_string("v=spf1 ip4:127.0.0.2 ip4:127.0.0.4 ip4:127.0.0.3 -all", rec,
              "SPF record lists the bind addresses");
    is_string("far (relay)", skipped, "relay gateway named as skipped");
    g_free(rec);
    g_free(skipped);
    smg_conf_free(conf);

    {
        char *text = g_strdup_printf("[spool]\nstate_dir = %s/state\n"
                                     "[route]\ngood = mta01\nbad = mta09\n"
                                     "[gateway mta01]\nbind = 2001:db8::1\n",
                                     top);
        if (smg_conf_load_data(text, "t.conf", &conf, &err) != SMG_OK)
            bail("load");
        g_free(text);
    }
    ok(smg_route_new(conf, &r, &err) == SMG_CONFIG && r == NULL,
       "a pool naming an unknown gateway is a config error");
    ok(err != NULL && strstr(err->message, "[route] bad: no [gateway mta09]") != NULL,
       "message names the key: %s", err != NULL ? err->message : "");
    g_clear_error(&err);
    ok(smg_route_spf(conf, &rec, NULL, &err) == SMG_OK
           && strcmp(rec, "v=spf1 ip6:2001:db8::1 -all") == 0,
       "IPv6 bind address as ip6:");
    g_free(rec);
    smg_conf_free(conf);

    /* the bad pool apart from the good one: not the same gateway, nor the
     * same address in another spelling; unbound gateways may share */
    {
        static const struct {
            const char *text, *why, *what;
        } cases[] = {
            {"[route]\ngood = a b\nbad = b\n[gateway a]\nbind = 192.0.2.1\n"
             "[gateway b]\nbind = 192.0.2.2\n",
             "[route] bad: b is in the good pool too", "a gateway in both pools"},
            {"[route]\ngood = a\nbad = c\n[gateway a]\nbind = 2001:db8::1\n"
             "[gateway c]\nbind = 2001:DB8:0::1\n",
             "[route] bad: c binds the address of the good gateway a",
             "a bad gateway on a good one's IPv6 address"},
            {"[route]\ngood = a\nbad = c\n[gateway a]\nbind = 192.0.2.1\n"
             "[gateway c]\nbind = ::ffff:192.0.2.1\n",
             "[route] bad: c binds the address of the good gateway a",
             "a bad gateway on a good one's IPv4 address, IPv6-mapped"},
            {"[route]\ngood = a\nbad = c\n[gateway a]\nbind = 0.0.0.0\n[gateway c]\nbind = ::\n",
             NULL, "gateways bound to any address"},
            {"[route]\ngood = a\nbad = c\n[gateway a]\nbind = 0.0.0.0\n[gateway c]\n",
             "[gateway c] has neither bind nor relay", "a gateway with no way out"},
            {"[route]\ngood = a\nbad = c\n[gateway a]\nbind = 127.0.0.1\nrelay = [127.0.0.1]:25\n"
             "[gateway c]\nbind = 127.0.0.1\nrelay = [127.0.0.1]:26\n",
             NULL, "a good and a bad relay reached from one address"},
        };

        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
            enum smg_status st;

            if (smg_conf_load_data(cases[i].text, "t.conf", &conf, &err) != SMG_OK)
                bail("load: %s", err->message);
            st = smg_route_new(conf, &r, &err);
            if (cases[i].why == NULL)
                ok(st == SMG_OK && r != NULL, "%s: allowed", cases[i].what);
            else
                ok(st == SMG_CONFIG && r == NULL && strstr(err->message, cases[i].why) != NULL,
                   "%s: a config error: %s", cases[i].what, err != NULL ? err->message : "");
            g_clear_error(&err);
            smg_route_free(r);
            r = NULL;
            smg_conf_free(conf);
        }
    }

    /* a relay gateway's mail reaches the Internet from the relay host:
     * its bind address (the way to the relay) is no sending address */
    if (smg_conf_load_data("[gateway a]\nbind = 192.0.2.1\n"
                           "[gateway b]\nbind = 10.0.0.5\nrelay = node2.test\n",
                           "t.conf", &conf, &err) != SMG_OK)
        bail("load");
    ok(smg_route_spf(conf, &rec, &skipped, &err) == SMG_OK, "spf with a bound relay");
    is_string("v=spf1 ip4:192.0.2.1 -all", rec, "a relay's bind address is not listed");
    is_string("b (relay)", skipped, "... the relay gateway is named as skipped");
    g_free(rec);
    g_free(skipped);
    smg_conf_free(conf);

    /* 0.0.0.0 or :: lets the kernel choose the source, as no bind does:
     * "ip4:0.0.0.0" would match no sender */
    if (smg_conf_load_data("[gateway a]\nbind = 192.0.2.1\n"
                           "[gateway b]\nbind = 0.0.0.0\n[gateway c]\nbind = ::\n",
                           "t.conf", &conf, &err) != SMG_OK)
        bail("load");
    ok(smg_route_spf(conf, &rec, &skipped, &err) == SMG_OK, "spf with a wildcard bind");
    is_string("v=spf1 ip4:192.0.2.1 -all", rec, "0.0.0.0 and :: are not listed");
    is_string("b (bind to any address), c (bind to any address)", skipped,
              "... their gateways are named as skipped");
    g_free(rec);
    g_free(skipped);
    smg_conf_free(conf);

    /* canonical form, and one address however it is spelt */
    if (smg_conf_load_data("[gateway a]\nbind = 2001:DB8::1\n"
                           "[gateway b]\nbind = 2001:db8::1\n"
                           "[gateway c]\nbind = 2001:0db8:0:0:0:0:0:0001\n"
                           "[gateway d]\nbind = 192.0.2.1\n"
                           "[gateway e]\nbind = ::FFFF:192.0.2.1\n"
                           "[gateway f]\nbind = 2001:db8:0:0:1:0:0:0\n",
                           "t.conf", &conf, &err) != SMG_OK)
        bail("load: %s", err->message);
    ok(smg_route_spf(conf, &rec, NULL, &err) == SMG_OK, "spf of spellings");
    is_string("v=spf1 ip6:2001:db8::1 ip4:192.0.2.1 ip6:2001:db8:0:0:1:: -all",
              rec, "canonical addresses, each once (a mapped IPv4 as ip4:)");
    g_free(rec);
    smg_conf_free(conf);

    if (smg_conf_load_data("[route]\ngood = a\n[gateway a]\nbind = a.test\n",
                           "t.conf", &conf, &err) != SMG_OK)
        bail("load");
    ok(smg_route_new(conf, &r, &err) == SMG_CONFIG, "empty bad pool: config error");
    g_clear_error(&err);
    ok(smg_route_spf(conf, &rec, NULL, &err) == SMG_CONFIG,
       "a bind name that is not an address: config error");
    g_clear_error(&err);
    smg_conf_free(conf);
}

/* strings_ok - whether txt is quoted strings of at most 255 bytes that
   join to record */
static gboolean
strings_ok(const char *txt, const char *record, unsigned *count)
{
    GString *joined = g_string_new(NULL);
    gboolean good = TRUE;
    const char *p = txt;

    *count = 0;
    while (good && *p != '\0') {
        gsize len = 0;

        if (*count > 0 && *p++ != ' ')
            good = FALSE;
        if (!good || *p++ != '"') {
            good = FALSE;
            break;
        }
        for (; *p != '\0' && *p != '"'; p++, len++) {
            if (*p == '\\')
                p++;
            g_string_append_c(joined, *p);
        }
        good = *p++ == '"' && len <= 255;
        (*count)++;
    }
    good = good && strcmp(joined->str, record) == 0;
    g_string_free(joined, TRUE);
    return good;
}

static void
test_txt_strings(void)
{
    GString *big = g_string_new(NULL);
    char *txt, *rec = NULL;
    unsigned n;
    struct smg_conf *conf;
    GError *err = NULL;

    txt = smg_route_txt_strings("v=spf1 ip4:192.0.2.1 -all");
    is_string("\"v=spf1 ip4:192.0.2.1 -all\"", txt, "short: one string");
    g_free(txt);
    txt = smg_route_txt_strings("");
    is_string("\"\"", txt, "empty: one empty string");
    g_free(txt);
    txt = smg_route_txt_strings("a\"b\\c");
    is_string("\"a\\\"b\\\\c\"", txt, "quote and backslash escaped");
    g_free(txt);

    /* 30 IPv6 gateways: over 700 bytes */
    for (int i = 0; i < 30; i++)
        g_string_append_printf(big, "[gateway g%d]\nbind = 2001:db8:%x::%x\n",
                               i, 0x1000 + i, 0xabc0 + i);
    if (smg_conf_load_data(big->str, "t.conf", &conf, &err) != SMG_OK)
        bail("load: %s", err->message);
    if (smg_route_spf(conf, &rec, NULL, &err) != SMG_OK)
        bail("spf: %s", err->message);
    ok(strlen(rec) > 700, "a long record (%zu bytes)", strlen(rec));
    txt = smg_route_txt_strings(rec);
    ok(strings_ok(txt, rec, &n), "strings of at most 255 bytes, joined the record");
    ok(n >= 3, "split in %u strings", n);
    {
        unsigned cuts = 0, after_space = 0, before_term = 0;

        for (const char *c = strstr(txt, "\" \""); c != NULL;
             c = strstr(c + 1, "\" \"")) {
            cuts++;
            after_space += c[-1] == ' ';
            before_term += g_str_has_prefix(c + 3, "ip6:");
        }
        ok(cuts == n - 1 && after_space == cuts,
           "each cut after a space (it ends the earlier string)");
        is_int(cuts, before_term, "no address cut in two");
    }
    g_free(txt);
    g_free(rec);
    smg_conf_free(conf);
    g_string_free(big, TRUE);

    /* a word longer than a string is cut where it must be */
    big = g_string_new(NULL);
    for (int i = 0; i < 300; i++)
        g_string_append_c(big, 'x');
    txt = smg_route_txt_strings(big->str);
    ok(strings_ok(txt, big->str, &n) && n == 2, "hard cut of a long word");
    g_free(txt);
    g_string_free(big, TRUE);
}

int
main(void)
{
    plan_lazy();
    top = test_tmpdir();
    test_pools();
    test_unchecked();
    test_spread();
    test_blacklist_file();
    test_customer_ratio();
    test_spf_and_config();
    test_txt_strings();
    test_tmpdir_free(top);
    return 0;
}

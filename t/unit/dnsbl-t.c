/*
 * dnsbl-t.c - unit tests for lib/dnsbl: reversed names, return-code rules,
 * test points, the state (apply, save, load, retain) and the parallel
 * runner against a silent server.
 *
 * The only I/O is files in a temporary folder and a UDP socket this test
 * binds on 127.0.0.1 that never answers.  Lookups against a real DNS
 * server (unbound) are in t/7000-blcheck-lookup.t.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "lib/dnsbl.h"
#include "lib/log.h"
#include "lib/status.h"
#include "t/tap/basic.h"

/* silent_server - a bound UDP socket on 127.0.0.1 that never answers */
static int
silent_server(char **addr)
{
    struct sockaddr_in sin = {0};
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sin, sizeof sin) != 0
        || getsockname(fd, (struct sockaddr *) &sin, &len) != 0)
        bail("cannot bind a UDP socket on 127.0.0.1");
    *addr = g_strdup_printf("127.0.0.1:%u", ntohs(sin.sin_port));
    return fd;
}

static void
test_reverse(void)
{
    char *s;
    GError *err = NULL;

    s = smg_dnsbl_reverse("192.0.2.1");
    is_string("1.2.0.192", s, "IPv4 reversed");
    g_free(s);
    s = smg_dnsbl_reverse("2001:db8::25");
    is_string(
        "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2", s,
        "IPv6 as 32 reversed nibbles (RFC 5782 2.4)");
    g_free(s);
    s = smg_dnsbl_reverse("::1");
    ok(s != NULL && strlen(s) == 63 && g_str_has_prefix(s, "1.0.0.0."),
       "::1 fully expanded");
    g_free(s);
    ok(smg_dnsbl_reverse("mta.example.net") == NULL, "a name is no IP");
    ok(smg_dnsbl_reverse("[192.0.2.1]") == NULL, "brackets are the caller's");
    ok(smg_dnsbl_reverse("192.0.2") == NULL, "short IPv4");
    ok(smg_dnsbl_reverse(NULL) == NULL, "NULL");

    s = smg_dnsbl_query_name("192.0.2.1", "zen.spamhaus.org", FALSE, &err);
    is_string("1.2.0.192.zen.spamhaus.org", s, "query name of an IP");
    g_free(s);
    s = smg_dnsbl_query_name("192.0.2.1", "bl.test.", FALSE, &err);
    is_string("1.2.0.192.bl.test", s, "zone's final dot dropped");
    g_free(s);
    s = smg_dnsbl_query_name("mta01.example.net.", "dbl.test", TRUE, &err);
    is_string("mta01.example.net.dbl.test", s, "query name of a HELO name");
    g_free(s);
    s = smg_dnsbl_query_name("mta01.example.net", "dbl.test", FALSE, &err);
    ok(s == NULL && err != NULL && err->code == SMG_PERMFAIL
           && g_str_has_prefix(err->message, "5.1.2 "),
       "a name where an IP is wanted: 5.1.2");
    g_clear_error(&err);
    {
        char *label = g_strnfill(64, 'a');
        s = smg_dnsbl_query_name(label, "dbl.test", TRUE, &err);
        ok(s == NULL && err != NULL && err->code == SMG_PERMFAIL,
           "a 64-octet label is no domain name");
        g_clear_error(&err);
        g_free(label);
    }
    s = smg_dnsbl_query_name("a..b", "dbl.test", TRUE, &err);
    ok(s == NULL && err != NULL, "an empty label is no domain name");
    g_clear_error(&err);
}

static void
test_codes(void)
{
    struct smg_dnsbl_codes *c = NULL;
    const char *label;
    GError *err = NULL;
    const char *good[] = {"127.0.0.10-127.0.0.11=ignore:PBL",
                          "127.0.0.2=listed:SBL",
                          "127.0.0.4-127.0.0.7=listed",
                          "127.0.0.99=error",
                          "",
                          NULL};
    const char *bad[][2] = {{"127.0.0.2=maybe", NULL},
                            {"127.0.0.2", NULL},
                            {"127.0.0.9-127.0.0.3=listed", NULL},
                            {"127.0.0.x=listed", NULL},
                            {"2001:db8::1=listed", NULL},
                            {"127.0.0.2=listed:", NULL}};

    /* the built-in rules */
    is_int(SMG_DNSBL_ACTION_LISTED,
           smg_dnsbl_classify(NULL, "127.0.0.2", NULL),
           "127.0.0.2 is a listing");
    is_int(SMG_DNSBL_ACTION_LISTED,
           smg_dnsbl_classify(NULL, "127.0.1.2", NULL),
           "127.0.1.2 is a listing (any 127/8)");
    is_int(SMG_DNSBL_ACTION_ERROR, smg_dnsbl_classify(NULL, "127.0.0.1", NULL),
           "127.0.0.1 is an error (never a listing)");
    /* Spamhaus keeps all of 127.255.255.0/24 for error codes */
    {
        int errors = 0;

        for (int i = 0; i <= 255; i++) {
            char a[32];

            g_snprintf(a, sizeof a, "127.255.255.%d", i);
            errors += smg_dnsbl_classify(NULL, a, NULL) == SMG_DNSBL_ACTION_ERROR;
        }
        is_int(256, errors, "127.255.255.0-255 are all errors (Spamhaus)");
    }
    is_int(SMG_DNSBL_ACTION_ERROR,
           smg_dnsbl_classify(NULL, "127.255.255.251", NULL),
           "127.255.255.251 is an error, not a listing");
    is_int(SMG_DNSBL_ACTION_ERROR,
           smg_dnsbl_classify(NULL, "127.255.255.0", NULL),
           "127.255.255.0 is an error, not a listing");
    is_int(SMG_DNSBL_ACTION_LISTED,
           smg_dnsbl_classify(NULL, "127.255.254.255", NULL),
           "127.255.254.255 (below the /24) is a listing");
    is_int(SMG_DNSBL_ACTION_ERROR, smg_dnsbl_classify(NULL, "192.0.2.1", NULL),
           "an answer outside 127/8 is an error");
    is_int(SMG_DNSBL_ACTION_ERROR, smg_dnsbl_classify(NULL, "junk", NULL),
           "a text that is no IPv4 is an error");
    is_int(SMG_DNSBL_ACTION_ERROR, smg_dnsbl_classify(NULL, NULL, NULL),
           "NULL is an error");

    /* configured rules first, then the built-ins */
    is_int(SMG_OK, smg_dnsbl_codes_parse(good, &c, &err), "rules parse");
    is_int(SMG_DNSBL_ACTION_IGNORE,
           smg_dnsbl_classify(c, "127.0.0.10", &label), "configured ignore");
    is_string("PBL", label, "with its label");
    is_int(SMG_DNSBL_ACTION_LISTED, smg_dnsbl_classify(c, "127.0.0.2", &label),
           "configured listing");
    is_string("SBL", label, "label SBL");
    is_int(SMG_DNSBL_ACTION_LISTED, smg_dnsbl_classify(c, "127.0.0.5", &label),
           "a range");
    ok(label == NULL, "no label");
    is_int(SMG_DNSBL_ACTION_ERROR, smg_dnsbl_classify(c, "127.0.0.99", NULL),
           "configured error");
    is_int(SMG_DNSBL_ACTION_LISTED, smg_dnsbl_classify(c, "127.0.0.3", NULL),
           "unconfigured code: the built-in rule");
    is_int(SMG_DNSBL_ACTION_ERROR,
           smg_dnsbl_classify(c, "127.255.255.254", NULL),
           "the built-in error codes still hold");
    smg_dnsbl_codes_free(c);
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        c = NULL;
        is_int(SMG_CONFIG, smg_dnsbl_codes_parse(bad[i], &c, &err),
               "bad rule \"%s\" refused", bad[i][0]);
        ok(err != NULL && strstr(err->message, bad[i][0]) != NULL,
           "the error names it");
        g_clear_error(&err);
    }
    is_int(SMG_OK, smg_dnsbl_codes_parse(NULL, &c, &err), "no rules: fine");
    smg_dnsbl_codes_free(c);
    is_string("ignore", smg_dnsbl_action_name(SMG_DNSBL_ACTION_IGNORE),
              "action name");
    is_string("error", smg_dnsbl_verdict_name(SMG_DNSBL_ERROR),
              "verdict name");
}

/* result - a query with a given result */
static struct smg_dnsbl_query *
result(const char *subject, enum smg_dnsbl_verdict v, const char *answer,
       const char *reason)
{
    struct smg_dnsbl_query *q =
        smg_dnsbl_query_new(subject, "bl.test", FALSE, NULL);
    q->verdict = v;
    q->answer = g_strdup(answer);
    q->reason = g_strdup(reason);
    if (v == SMG_DNSBL_ERROR)
        q->error = g_strdup("4.4.3 DNS lookup of x timed out");
    return q;
}

static void
test_testpoints(void)
{
    struct smg_dnsbl_query *l =
        result("127.0.0.2", SMG_DNSBL_LISTED, "127.0.0.2", NULL);
    struct smg_dnsbl_query *u =
        result("127.0.0.1", SMG_DNSBL_CLEAN, NULL, NULL);
    struct smg_dnsbl_query *none =
        result("127.0.0.2", SMG_DNSBL_CLEAN, NULL, NULL);
    struct smg_dnsbl_query *ign =
        result("127.0.0.2", SMG_DNSBL_CLEAN, "127.0.0.10", NULL);
    struct smg_dnsbl_query *wild =
        result("127.0.0.1", SMG_DNSBL_LISTED, "127.0.0.2", NULL);
    struct smg_dnsbl_query *err =
        result("127.0.0.2", SMG_DNSBL_ERROR, NULL, NULL);
    char *why = NULL;

    ok(smg_dnsbl_testpoints(l, u, &why), "a working list passes");
    ok(smg_dnsbl_testpoints(ign, u, &why),
       "an ignored code at 127.0.0.2 passes");
    ok(!smg_dnsbl_testpoints(none, u, &why) && strstr(why, "127.0.0.2"),
       "127.0.0.2 not listed: the list is not working");
    g_clear_pointer(&why, g_free);
    ok(!smg_dnsbl_testpoints(l, wild, &why) && strstr(why, "127.0.0.1"),
       "127.0.0.1 listed: the list answers everything");
    g_clear_pointer(&why, g_free);
    ok(!smg_dnsbl_testpoints(err, u, &why) && strstr(why, "timed out"),
       "a failed test point lookup");
    g_clear_pointer(&why, g_free);
    smg_dnsbl_query_free(l);
    smg_dnsbl_query_free(u);
    smg_dnsbl_query_free(none);
    smg_dnsbl_query_free(ign);
    smg_dnsbl_query_free(wild);
    smg_dnsbl_query_free(err);
}

/* keep_not_mta09 - retain predicate for the test */
static gboolean
keep_not_mta09(const struct smg_dnsbl_entry *e, gpointer data)
{
    (void) data;
    return strcmp(e->gateway, "mta09") != 0;
}

static void
test_state(void)
{
    char *dir = test_tmpdir();
    char *path = g_build_filename(dir, "blcheck.state", NULL);
    struct smg_dnsbl_state *st = NULL, *st2 = NULL;
    struct smg_dnsbl_query *listed =
        result("192.0.2.1", SMG_DNSBL_LISTED, "127.0.0.2", "spam seen");
    struct smg_dnsbl_query *clean =
        result("192.0.2.1", SMG_DNSBL_CLEAN, NULL, NULL);
    struct smg_dnsbl_query *failed =
        result("192.0.2.1", SMG_DNSBL_ERROR, NULL, NULL);
    struct smg_dnsbl_entry *e;
    GPtrArray *all;
    GError *err = NULL;
    char *text = NULL;

    is_int(SMG_OK, smg_dnsbl_state_load(path, &st, &err),
           "a missing state file is an empty state");
    all = smg_dnsbl_state_entries(st);
    is_int(0, all->len, "empty");
    g_ptr_array_unref(all);

    ok(smg_dnsbl_state_apply(st, "mta01", clean, 1000) == NULL,
       "clean and unknown: nothing");
    e = smg_dnsbl_state_apply(st, "mta01", listed, 1000);
    ok(e != NULL && e->changed && !e->notified
           && e->state == SMG_DNSBL_ENTRY_LISTED && e->since == 1000,
       "a new listing: changed, not told, since now");
    is_string("spam seen", e->reason, "reason kept");
    e->notified = TRUE;
    e->removal = g_strdup("sent");
    e->removal_detail = g_strdup("POST https://x/y: HTTP 200");
    e->removal_attempts = 1;
    e->removal_time = 1000;
    e = smg_dnsbl_state_apply(st, "mta01", failed, 2000);
    ok(e != NULL && e->state == SMG_DNSBL_ENTRY_LISTED && e->last_seen == 1000,
       "an error changes nothing");
    is_int(SMG_OK, smg_dnsbl_state_save(st, path, &err), "saved");
    smg_dnsbl_state_free(st);

    is_int(SMG_OK, smg_dnsbl_state_load(path, &st, &err), "loaded again");
    e = smg_dnsbl_state_get(st, "mta01", "192.0.2.1", "bl.test");
    ok(e != NULL, "the entry is back");
    if (e == NULL)
        bail("no entry after load");
    ok(!e->changed && e->notified && e->since == 1000
           && e->state == SMG_DNSBL_ENTRY_LISTED,
       "its fields survived (told, since)");
    is_string("sent", e->removal, "removal survived");
    is_string("POST https://x/y: HTTP 200", e->removal_detail,
              "removal detail survived");
    is_int(1, (long) e->removal_attempts, "attempts survived");
    e = smg_dnsbl_state_apply(st, "mta01", listed, 3000);
    ok(!e->changed && e->since == 1000 && e->last_seen == 3000,
       "a persisting listing: not changed, since kept, last seen now");

    e = smg_dnsbl_state_apply(st, "mta01", clean, 4000);
    ok(e->changed && e->state == SMG_DNSBL_ENTRY_CLEARED && !e->notified
           && e->cleared == 4000,
       "clean after listed: a clearance, not told");
    is_int(SMG_OK, smg_dnsbl_state_save(st, path, &err), "saved");
    g_file_get_contents(path, &text, NULL, NULL);
    ok(text != NULL && strstr(text, "state=cleared") != NULL,
       "an untold clearance is saved");
    g_free(text);
    e->notified = TRUE;
    is_int(SMG_OK, smg_dnsbl_state_save(st, path, &err), "saved");
    ok(smg_dnsbl_state_get(st, "mta01", "192.0.2.1", "bl.test") != NULL,
       "a told clearance stays in memory");
    is_int(SMG_OK, smg_dnsbl_state_load(path, &st2, &err), "loaded");
    ok(smg_dnsbl_state_get(st2, "mta01", "192.0.2.1", "bl.test") == NULL,
       "but is not saved");
    smg_dnsbl_state_free(st2);

    /* listed again before the clearance is told: a new listing */
    e = smg_dnsbl_state_apply(st, "mta01", clean, 4000);
    e->notified = FALSE;
    e = smg_dnsbl_state_apply(st, "mta01", listed, 5000);
    ok(e->state == SMG_DNSBL_ENTRY_LISTED && e->since == 5000 && e->changed
           && e->removal == NULL,
       "listed again: a new listing, removal forgotten");

    (void) smg_dnsbl_state_apply(st, "mta09", listed, 5000);
    is_int(1, (long) smg_dnsbl_state_retain(st, keep_not_mta09, NULL),
           "retain drops one entry");
    ok(smg_dnsbl_state_get(st, "mta09", "192.0.2.1", "bl.test") == NULL,
       "the dropped one is gone");
    smg_dnsbl_state_free(st);

    test_write_file(path, "[x]\nstate=listed\n");
    st = NULL;
    is_int(SMG_TEMPFAIL, smg_dnsbl_state_load(path, &st, &err),
           "an entry without gateway: refused");
    ok(err != NULL && strstr(err->message, "[x]") != NULL, "names the group");
    g_clear_error(&err);
    test_write_file(path, "[a b c]\ngateway=a\nsubject=b\nzone=c\n"
                          "state=listed\nsince=yesterday\n");
    is_int(SMG_TEMPFAIL, smg_dnsbl_state_load(path, &st, &err),
           "a bad time: refused");
    g_clear_error(&err);
    test_write_file(path, "not a key file\n");
    is_int(SMG_TEMPFAIL, smg_dnsbl_state_load(path, &st, &err),
           "garbage: refused");
    g_clear_error(&err);
    {
        /* a FIFO is refused at once, not waited on for a writer (which
           would hang the run, and the lock every later one); the alarm
           ends a hang as a failure */
        char *fifo = g_build_filename(dir, "fifo.state", NULL);

        ok(mkfifo(fifo, 0600) == 0, "a FIFO as the state file");
        alarm(10);
        is_int(SMG_TEMPFAIL, smg_dnsbl_state_load(fifo, &st, &err),
               "a FIFO: refused at once");
        alarm(0);
        ok(err != NULL && strstr(err->message, "not a regular file") != NULL,
           "  ... saying why: %s", err != NULL ? err->message : "");
        g_clear_error(&err);
        g_free(fifo);
    }

    {
        char *sub = g_build_filename(dir, "missing", "x.state", NULL);
        st = smg_dnsbl_state_new();
        is_int(SMG_TEMPFAIL, smg_dnsbl_state_save(st, sub, &err),
               "save into a missing folder: tempfail");
        ok(err != NULL && g_str_has_prefix(err->message, "4.3.0 "),
           "DSN 4.3.0");
        g_clear_error(&err);
        smg_dnsbl_state_free(st);
        g_free(sub);
    }
    text = smg_dnsbl_time_text(1795323600);
    is_string("2026-11-22T05:00:00Z", text, "time text");
    g_free(text);

    smg_dnsbl_query_free(listed);
    smg_dnsbl_query_free(clean);
    smg_dnsbl_query_free(failed);
    g_free(path);
    test_tmpdir_free(dir);
}

static void
test_run(void)
{
    char *addr = NULL;
    int fd = silent_server(&addr);
    const char *servers[] = {addr, NULL};
    const char *bad[] = {"not-an-address", NULL};
    GPtrArray *qs =
        g_ptr_array_new_with_free_func((GDestroyNotify) smg_dnsbl_query_free);
    GError *err = NULL;
    gboolean all = TRUE;

    for (int i = 0; i < 6; i++)
        g_ptr_array_add(
            qs, smg_dnsbl_query_new(i % 2 ? "192.0.2.1" : "2001:db8::1",
                                    "bl.test", FALSE, NULL));
    g_ptr_array_add(qs, smg_dnsbl_query_new("no-ip", "bl.test", FALSE, NULL));
    is_int(SMG_OK, smg_dnsbl_run(qs, servers, 100, 1, 4, &err),
           "run against a silent server");
    for (guint i = 0; i < 6; i++) {
        struct smg_dnsbl_query *q = qs->pdata[i];
        all = all && q->verdict == SMG_DNSBL_ERROR && q->error != NULL
              && strstr(q->error, "timed out") != NULL
              && g_str_has_prefix(q->error, "4.4.3 ");
    }
    ok(all, "every time-out is an error (4.4.3), never clean");
    {
        struct smg_dnsbl_query *q = qs->pdata[6];
        ok(q->verdict == SMG_DNSBL_ERROR && strstr(q->error, "not an IP"),
           "a subject that is no IP: an error");
    }
    is_int(SMG_CONFIG, smg_dnsbl_run(qs, bad, 100, 1, 4, &err),
           "a bad server address: config error");
    g_clear_error(&err);
    g_ptr_array_set_size(qs, 0);
    is_int(SMG_OK, smg_dnsbl_run(qs, servers, 100, 1, 4, &err),
           "no queries: fine");
    g_ptr_array_unref(qs);
    close(fd);
    g_free(addr);
}

int
main(void)
{
    smg_log_init("dnsbl-t", SMG_LOG_STDERR, FALSE);
    plan_lazy();
    test_reverse();
    test_codes();
    test_testpoints();
    test_state();
    test_run();
    return 0;
}

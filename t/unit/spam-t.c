/*
 * spam-t.c - unit tests for lib/spam: the verdict as a whole.  GTUBE is
 * spam whatever else says; rules and Bayes add up; the SMG-Spam field;
 * --explain's report; learning through smg_spam_learn (with and without an
 * envelope); a corrupt database and a bad customer table stop the start;
 * rspamd merged, used alone, and timing out (a listener on 127.0.0.1 that
 * never answers: the built-in score stands).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "lib/spam.h"
#include "t/tap/basic.h"

static char *top;

static const char GTUBE_MSG[] =
    "From: a@b.test\nSubject: test\n\n"
    "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n";
/* made in main with today's date, so that no date test fires */
static char *HAM_MSG;
static char *SPAM_MSG;

/* make_messages - HAM_MSG and SPAM_MSG dated now */
static void
make_messages(void)
{
    GDateTime *now = g_date_time_new_now_utc();
    char *date = g_date_time_format(now, "%a, %d %b %Y %H:%M:%S");

    HAM_MSG = g_strdup_printf(
        "From: Ann <ann@example.com>\nTo: bob@example.net\nSubject: meeting notes\n"
        "Date: %s +0000\nMessage-ID: <1@example.com>\n\n"
        "Hi Bob, the project meeting notes and the schedule are attached. Regards, Ann\n",
        date);
    SPAM_MSG = g_strdup_printf(
        "From: promo@deals.test\nTo: you@example.net\nSubject: CHEAP PILLS NOW!!!\n"
        "Date: %s -1600\nMessage-ID: <2@deals.test>\n\n"
        "Cheap viagra, casino bonus, lottery winner! Click here to claim your prize.\n"
        "To be removed from our list reply with remove.\n",
        date);
    g_free(date);
    g_date_time_unref(now);
}

/* make_spam - a spam context from extra config lines */
static enum smg_status
make_spam(const char *extra, struct smg_spam **sp, GError **err)
{
    const char *srcdir = getenv("srcdir");
    char *rules = g_build_filename(srcdir != NULL ? srcdir : ".", "data", "rules", "smg.rules", NULL);
    char *text = g_strdup_printf("[spool]\nstate_dir = %s\n[check]\nrules = %s\n"
                                 "bayes_min_learned = 5\n%s",
                                 top, rules, extra);
    struct smg_conf *conf = NULL;
    enum smg_status st;

    if (smg_conf_load_data(text, "t.conf", &conf, err) != SMG_OK)
        bail("config: %s", (*err)->message);
    st = smg_spam_new(conf, sp, err);
    smg_conf_free(conf);
    g_free(text);
    g_free(rules);
    return st;
}

/* verdict - check msg; the SMG-Spam field (new string) */
static char *
verdict(struct smg_spam *sp, const char *msg, gboolean explain, struct smg_spam_verdict *v)
{
    GError *err = NULL;

    if (smg_spam_check(sp, msg, strlen(msg), NULL, explain, v, &err) != SMG_OK)
        bail("check: %s", err->message);
    return smg_spam_verdict_field(v);
}

static void
test_untrained(void)
{
    struct smg_spam *sp = NULL;
    struct smg_spam_verdict v;
    GError *err = NULL;
    char *f;

    is_int(SMG_OK, make_spam("", &sp, &err), "context without a database");
    f = verdict(sp, GTUBE_MSG, FALSE, &v);
    ok(v.spam && v.score >= 1000, "GTUBE is spam (%.2f)", v.score);
    ok(g_str_has_prefix(f, "verdict=spam score=10") && strstr(f, " threshold=5.00 tests=GTUBE")
           != NULL,
       "SMG-Spam field: %s", f);
    ok(strstr(v.notes->str, "bayes=untrained") != NULL, "untrained Bayes noted");
    is_string("off", v.rspamd, "rspamd off");
    g_free(f);
    smg_spam_verdict_clear(&v);
    f = verdict(sp, HAM_MSG, FALSE, &v);
    ok(!v.spam && v.score == 0, "a plain message scores 0 without Bayes");
    is_string("verdict=ham score=0.00 threshold=5.00 tests=", f, "empty tests");
    g_free(f);
    smg_spam_verdict_clear(&v);
    ok(strcmp(smg_spam_bayes_test(0.001), "BAYES_00") == 0
           && strcmp(smg_spam_bayes_test(0.5), "BAYES_50") == 0
           && strcmp(smg_spam_bayes_test(0.999), "BAYES_99") == 0,
       "Bayes buckets");
    smg_spam_free(sp);
}

static void
test_learned(void)
{
    char *path = g_build_filename(top, "bayes.db", NULL);
    struct smg_bayes_learner *l = NULL;
    struct smg_spam *sp = NULL;
    struct smg_spam_verdict v;
    GError *err = NULL;
    char *f;

    is_int(SMG_OK, smg_bayes_learner_open(path, &l, &err), "learner");
    for (int i = 0; i < 6; i++) {
        char *h = g_strdup_printf("%sproject %d\n", HAM_MSG, i);
        char *s = g_strdup_printf("SMG-Queue-ID: Q%d\nSMG-Sender: <x@y.test>\n"
                                  "SMG-Recipient: <r@z.test>\n%scasino %d\n", i, SPAM_MSG, i);
        ok(smg_spam_learn(l, h, strlen(h), FALSE, 0, NULL, &err) == SMG_OK
               && smg_spam_learn(l, s, strlen(s), TRUE, 0, NULL, &err) == SMG_OK,
           "learn pair %d (spool file with envelope, bare message)", i);
        g_free(h);
        g_free(s);
    }
    ok(smg_spam_learn(l, "SMG-Bogus: x\n\nbody\n", 19, TRUE, 0, NULL, &err) == SMG_PERMFAIL,
       "a malformed envelope is not learned");
    g_clear_error(&err);
    is_int(SMG_OK, smg_bayes_learner_commit(l, &err), "commit");
    smg_bayes_learner_free(l);

    is_int(SMG_OK, make_spam("", &sp, &err), "context with a database");
    {
        guint64 ns, nh;
        smg_spam_bayes_counts(sp, &ns, &nh);
        ok(ns == 6 && nh == 6, "6 spam and 6 ham learned");
        is_string(path, smg_spam_bayes_path(sp), "database under state_dir");
    }
    f = verdict(sp, SPAM_MSG, TRUE, &v);
    ok(v.spam && v.bayes_used && v.bayes_prob > 0.9, "spam: Bayes agrees (p=%.3f)", v.bayes_prob);
    ok(v.score == v.rules + v.bayes_points, "rules and Bayes add up");
    ok(strstr(f, "BAYES_99") != NULL && strstr(f, "DATE_BAD_TZ") != NULL, "field: %s", f);
    ok(strstr(v.explain->str, "verdict: spam") != NULL
           && strstr(v.explain->str, "DATE_BAD_TZ") != NULL
           && strstr(v.explain->str, "bayes: ") != NULL
           && strstr(v.explain->str, "casino") != NULL,
       "explain lists rules and tokens");
    g_free(f);
    smg_spam_verdict_clear(&v);
    f = verdict(sp, HAM_MSG, FALSE, &v);
    ok(!v.spam && v.bayes_prob < 0.1 && v.score < 0, "ham: negative score (%.2f)", v.score);
    g_free(f);
    smg_spam_verdict_clear(&v);

    /* a learner replaces the file: reload picks it up */
    is_int(SMG_OK, smg_bayes_learner_open(path, &l, &err), "learner again");
    ok(smg_spam_learn(l, HAM_MSG, strlen(HAM_MSG), FALSE, 0, NULL, &err) == SMG_OK, "one more ham");
    is_int(SMG_OK, smg_bayes_learner_commit(l, &err), "commit");
    smg_bayes_learner_free(l);
    is_int(SMG_OK, smg_spam_reload(sp, &err), "reload");
    {
        guint64 ns, nh;
        smg_spam_bayes_counts(sp, &ns, &nh);
        is_int(7, (long) nh, "the new database is in use");
    }
    smg_spam_free(sp);

    /* a corrupt database stops the start, with its name */
    test_write_file(path, "garbage garbage garbage garbage garbage garbage garbage garbage!\n");
    is_int(SMG_CONFIG, make_spam("", &sp, &err), "corrupt database: config error");
    ok(err != NULL && strstr(err->message, "corrupt") && strstr(err->message, path),
       "message: %s", err != NULL ? err->message : "");
    g_clear_error(&err);
    ok(sp == NULL, "no context");
    is_int(SMG_OK, make_spam("bayes = no\n", &sp, &err), "bayes = no ignores the file");
    smg_spam_free(sp);
    unlink(path);
    g_free(path);
}

/* fired - whether the verdict lists the test name */
static gboolean
fired(const struct smg_spam_verdict *v, const char *name)
{
    return g_ptr_array_find_with_equal_func(v->tests, name, g_str_equal, NULL);
}

static void
test_customers(void)
{
    char *table = g_build_filename(top, "customers", NULL);
    char *extra = g_strdup_printf("customer_domains = %s\n", table);
    struct smg_spam *sp = NULL;
    struct smg_spam_verdict v;
    struct smg_envelope *env = NULL;
    GError *err = NULL;
    gsize off = 0;
    const char *msg = "SMG-Sender: <bounce@esp.test>\nSMG-Recipient: <r@x.test>\n"
                      "SMG-Customer: Cust1\n"
                      "From: news@shop.example\nSubject: x\n\nhello\n";

    test_write_file(table, "# customer domains\nCust1 shop.example, other.example\n");
    is_int(SMG_OK, make_spam(extra, &sp, &err), "customer table loads");
    if (smg_envelope_parse(msg, strlen(msg), &env, &off, &err) != SMG_OK)
        bail("envelope: %s", err->message);
    ok(smg_spam_check(sp, msg + off, strlen(msg) - off, env, FALSE, &v, &err) == SMG_OK,
       "check with an envelope");
    ok(!fired(&v, "FROM_NOT_CUSTOMER"), "From in the customer's domains");
    smg_spam_verdict_clear(&v);
    smg_envelope_set(env, "Customer", "Other");
    ok(smg_spam_check(sp, msg + off, strlen(msg) - off, env, FALSE, &v, &err) == SMG_OK,
       "another customer");
    ok(fired(&v, "FROM_NOT_CUSTOMER"),
       "without table entry: From unlike the envelope sender fires");
    smg_spam_verdict_clear(&v);
    smg_envelope_free(env);
    smg_spam_free(sp);
    sp = NULL;

    /* the table means what it means to smg-scan: ".domain" covers the
     * subdomains (smg-check used to read the dot as part of the name) */
    test_write_file(table, "Cust1 .shop.example\n");
    is_int(SMG_OK, make_spam(extra, &sp, &err), "a table with a .domain loads");
    {
        const char *m2 = "SMG-Sender: <b@esp.test>\nSMG-Recipient: <r@x.test>\n"
                         "SMG-Customer: Cust1\n"
                         "From: news@mail.shop.example\nSubject: x\n\nhello\n";

        off = 0;
        if (smg_envelope_parse(m2, strlen(m2), &env, &off, &err) != SMG_OK)
            bail("envelope: %s", err->message);
        ok(smg_spam_check(sp, m2 + off, strlen(m2) - off, env, FALSE, &v, &err) == SMG_OK,
           "check a From in a subdomain");
        ok(!fired(&v, "FROM_NOT_CUSTOMER"), ".shop.example covers mail.shop.example");
        smg_spam_verdict_clear(&v);
        smg_envelope_free(env);
    }
    smg_spam_free(sp);
    test_write_file(table, "lonely\n");
    is_int(SMG_CONFIG, make_spam(extra, &sp, &err), "a line without domains");
    ok(err != NULL && strstr(err->message, ":1: customer lonely has no domain"), "names the line");
    g_clear_error(&err);
    g_free(extra);
    g_free(table);
}

/* listener - a listening socket on 127.0.0.1 */
static int
listener(int *port)
{
    struct sockaddr_in sa = {0};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof sa) != 0 || listen(fd, 8) != 0
        || getsockname(fd, (struct sockaddr *) &sa, &len) != 0)
        bail("cannot listen");
    *port = ntohs(sa.sin_port);
    return fd;
}

/* answer - in a child: answer n connections with an rspamd reply */
static pid_t
answer(int lfd, int n, double score)
{
    pid_t pid = fork();

    if (pid == 0) {
        for (int i = 0; i < n; i++) {
            int c = accept(lfd, NULL, NULL);
            char buf[65536];
            char *body = g_strdup_printf("{\"score\": %.1f, \"required_score\": 15, "
                                         "\"action\": \"reject\", \"symbols\": {\"R1\": {}}}",
                                         score);
            char *reply = g_strdup_printf("HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                                          "Connection: close\r\n\r\n%s", strlen(body), body);
            /* the request is small: one read takes it (curl sends it at once) */
            if (read(c, buf, sizeof buf) < 0 || write(c, reply, strlen(reply)) < 0)
                _exit(1);
            close(c);
            g_free(body);
            g_free(reply);
        }
        _exit(0);
    }
    return pid;
}

static void
test_rspamd(void)
{
    struct smg_spam *sp = NULL;
    struct smg_spam_verdict v;
    GError *err = NULL;
    int port, lfd = listener(&port), status, sport, silent = listener(&sport);
    char *extra;
    char *f;
    pid_t pid;

    /* never answers: the built-in score stands */
    extra = g_strdup_printf("rspamd_url = http://127.0.0.1:%d/checkv2\nrspamd_timeout = 1\n", sport);
    is_int(SMG_OK, make_spam(extra, &sp, &err), "rspamd configured");
    f = verdict(sp, GTUBE_MSG, TRUE, &v);
    is_string("timeout", v.rspamd, "rspamd timed out");
    ok(v.spam && strstr(f, "GTUBE") != NULL && strstr(f, "RSPAMD") == NULL,
       "built-in verdict stands: %s", f);
    ok(strstr(v.notes->str, "rspamd=timeout") != NULL, "time-out noted for the log");
    ok(strstr(v.explain->str, "rspamd: failed") != NULL, "and explained");
    g_free(f);
    smg_spam_verdict_clear(&v);
    smg_spam_free(sp);
    g_free(extra);
    close(silent);

    /* merged */
    extra = g_strdup_printf("rspamd_url = http://127.0.0.1:%d/checkv2\nrspamd_weight = 0.5\n", port);
    is_int(SMG_OK, make_spam(extra, &sp, &err), "rspamd merge");
    pid = answer(lfd, 1, 12.0);
    f = verdict(sp, HAM_MSG, FALSE, &v);
    is_string("ok", v.rspamd, "rspamd answered");
    ok(v.spam && v.score == 6.0 && strstr(f, "RSPAMD") != NULL,
       "its score times the weight is added (%.2f): %s", v.score, f);
    g_free(f);
    smg_spam_verdict_clear(&v);
    waitpid(pid, &status, 0);
    smg_spam_free(sp);
    g_free(extra);

    /* alone */
    extra = g_strdup_printf("rspamd_url = http://127.0.0.1:%d/checkv2\nrspamd_mode = only\n", port);
    is_int(SMG_OK, make_spam(extra, &sp, &err), "rspamd only");
    pid = answer(lfd, 1, 1.5);
    f = verdict(sp, SPAM_MSG, FALSE, &v);
    ok(!v.spam && v.score == 1.5, "rspamd's score alone decides (%.2f)", v.score);
    g_free(f);
    smg_spam_verdict_clear(&v);
    waitpid(pid, &status, 0);
    pid = answer(lfd, 1, 0.0);
    f = verdict(sp, GTUBE_MSG, FALSE, &v);
    ok(v.spam, "GTUBE is spam with rspamd alone too");
    g_free(f);
    smg_spam_verdict_clear(&v);
    waitpid(pid, &status, 0);
    smg_spam_free(sp);
    g_free(extra);
    close(lfd);
}

/* has_control - whether s holds ESC, another C0 control but LF, DEL or a
 * C1 control (U+0080-U+009F: U+009B is CSI to many terminals) */
static gboolean
has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *) s; *p != '\0'; p++)
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0))
            return TRUE;
    return FALSE;
}

/* --explain shows a hostile message's bytes (a file name, a token) on the
 * operator's terminal: never its control sequences */
static void
test_explain_controls(void)
{
    char *path = g_build_filename(top, "esc.db", NULL);
    char *extra = g_strdup_printf("bayes_database = %s\n", path);
    struct smg_bayes_learner *l = NULL;
    struct smg_spam *sp = NULL;
    struct smg_spam_verdict v;
    GError *err = NULL;
    char *f, *msg;

    is_int(SMG_OK, smg_bayes_learner_open(path, &l, &err), "explain: learner");
    for (int i = 0; i < 6; i++) {
        char *h = g_strdup_printf("%sproject %d\n", HAM_MSG, i);
        char *s = g_strdup_printf("%spi\x1b[2Jll\x07 \xc2\x9b" "2J%d\n",
                                  SPAM_MSG, i);
        if (smg_spam_learn(l, h, strlen(h), FALSE, 0, NULL, &err) != SMG_OK
            || smg_spam_learn(l, s, strlen(s), TRUE, 0, NULL, &err) != SMG_OK)
            bail("learn: %s", err->message);
        g_free(h);
        g_free(s);
    }
    is_int(SMG_OK, smg_bayes_learner_commit(l, &err), "explain: commit");
    smg_bayes_learner_free(l);
    is_int(SMG_OK, make_spam(extra, &sp, &err), "explain: context");
    msg = g_strdup_printf("From: a@b.test\nSubject: x\nMIME-Version: 1.0\n"
                          "Content-Type: multipart/mixed; boundary=XX\n\n--XX\n"
                          "Content-Type: text/plain\n\npi\x1b[2Jll\x07 "
                          "\xc2\x9b" "2J1\n--XX\n"
                          "Content-Type: application/octet-stream\n"
                          "Content-Disposition: attachment; filename=\"a\x1b[2J\xc2\x9b" "2Jb.exe\"\n"
                          "\nAAAA\n--XX--\n");
    f = verdict(sp, msg, TRUE, &v);
    ok(fired(&v, "ATTACH_EXECUTABLE") && v.bayes_used, "explain: the rule and Bayes fire");
    ok(strstr(v.explain->str, "a?[2J?2Jb.exe") != NULL, "explain: the file name, controls as ?");
    ok(strstr(v.explain->str, "pi?[2jll?") != NULL,
       "explain: the token, controls as ?");
    ok(!has_control(v.explain->str), "explain: no control sequence reaches the terminal");
    g_free(f);
    smg_spam_verdict_clear(&v);
    smg_spam_free(sp);
    unlink(path);
    g_free(msg);
    g_free(extra);
    g_free(path);
}

int
main(void)
{
    plan_lazy();
    top = test_tmpdir();
    make_messages();
    test_untrained();
    test_learned();
    test_customers();
    test_rspamd();
    test_explain_controls();
    test_tmpdir_free(top);
    g_free(HAM_MSG);
    g_free(SPAM_MSG);
    return 0;
}

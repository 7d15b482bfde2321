/*
 * queue-t.c - unit tests for lib/queue: queue order, scan and find,
 * JSON strings, hold / release (to the recorded origin, to smg-send's
 * gateway, with --to, refused without an origin), requeue, delete (and
 * corrupt/ only with force), and the claim protocol: a message locked by
 * another process (a forked child holding a claim, or a bare flock on
 * new/ID) is busy and left untouched, while a cur/ file whose worker died
 * is taken over.
 *
 * Spools are written directly as maildirs in a temporary folder; the
 * clock is fixed with smg_queue_set_now.  Forked children report through
 * a pipe and leave with _exit, so only the parent writes TAP.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/json.h"
#include "lib/log.h"
#include "lib/queue.h"
#include "lib/spool.h"
#include "t/tap/basic.h"

#define NOW 1795323600 /* 2026-11-22T05:00:00Z */

static char *top;

/* qpath - "top/QUEUE/SUB/ID" (new string) */
static char *
qpath(const char *queue, const char *sub, const char *id)
{
    return g_build_filename(top, queue, sub, id, NULL);
}

/* msg_text - a spool file for id with extra fields (may be "") */
static char *
msg_text(const char *id, const char *extra)
{
    return g_strdup_printf("SMG-Queue-ID: %s\n"
                           "SMG-Sender: <a@cust.test> BODY=8BITMIME\n"
                           "SMG-Recipient: <x@rcpt.test> NOTIFY=FAILURE\n"
                           "SMG-Recipient: <y@rcpt.test>\n"
                           "SMG-Arrival: 2026-11-22T04:00:00Z\n"
                           "%s"
                           "From: <a@cust.test>\n"
                           "Subject: test %s\n"
                           "\n"
                           "Hello.\n.leading dot\n",
                           id, extra, id);
}

/* put - write QUEUE/SUB/ID with text (folders made as needed) */
static void
put(const char *queue, const char *sub, const char *id, const char *text)
{
    static const char *const subs[] = {"tmp", "new", "cur"};
    char *p;

    for (unsigned i = 0; i < G_N_ELEMENTS(subs); i++) {
        char *d = g_build_filename(top, queue, subs[i], NULL);
        g_mkdir_with_parents(d, 0750);
        g_free(d);
    }
    p = qpath(queue, sub, id);
    if (!g_file_set_contents(p, text, -1, NULL))
        bail("cannot write %s", p);
    g_free(p);
}

/* put_msg - put a standard message with extra fields */
static void
put_msg(const char *queue, const char *sub, const char *id, const char *extra)
{
    char *t = msg_text(id, extra);

    put(queue, sub, id, t);
    g_free(t);
}

/* slurp - the content of QUEUE/SUB/ID or NULL */
static char *
slurp(const char *queue, const char *sub, const char *id)
{
    char *p = qpath(queue, sub, id);
    char *t = NULL;

    if (!g_file_get_contents(p, &t, NULL, NULL))
        t = NULL;
    g_free(p);
    return t;
}

/* exists - whether QUEUE/SUB/ID exists */
static gboolean
exists(const char *queue, const char *sub, const char *id)
{
    char *p = qpath(queue, sub, id);
    gboolean r = g_file_test(p, G_FILE_TEST_EXISTS);

    g_free(p);
    return r;
}

/* places - how many new/ and cur/ files named id the spool holds */
static int
places(const char *id)
{
    GDir *d = g_dir_open(top, 0, NULL);
    const char *name;
    int n = 0;

    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
        n += exists(name, "new", id) ? 1 : 0;
        n += exists(name, "cur", id) ? 1 : 0;
    }
    if (d != NULL)
        g_dir_close(d);
    return n;
}

/* mtime_of - the mtime of QUEUE/SUB/ID, or 0 */
static time_t
mtime_of(const char *queue, const char *sub, const char *id)
{
    char *p = qpath(queue, sub, id);
    struct stat sb;
    time_t t = stat(p, &sb) == 0 ? sb.st_mtime : 0;

    g_free(p);
    return t;
}

/* set_mtime - set the mtime of QUEUE/SUB/ID */
static void
set_mtime(const char *queue, const char *sub, const char *id, time_t t)
{
    char *p = qpath(queue, sub, id);
    struct timespec ts[2] = {{t, 0}, {t, 0}};

    if (utimensat(AT_FDCWD, p, ts, 0) < 0)
        bail("utimensat %s", p);
    g_free(p);
}

/* open_q - the queue handle on top with gateways mta01 and mta02 */
static struct smg_queue *
open_q(void)
{
    static const char *const gws[] = {"mta01", "mta02", NULL};
    struct smg_queue *q = NULL;
    GError *err = NULL;

    if (smg_queue_open_dir(top, FALSE, gws, &q, &err) != SMG_OK)
        bail("open: %s", err->message);
    smg_queue_set_now(q, NOW);
    return q;
}

/* test_open - a missing spool is a config error */
static void
test_open(void)
{
    struct smg_queue *q = NULL;
    GError *err = NULL;
    char *missing = g_build_filename(top, "no-such-spool", NULL);
    enum smg_status st = smg_queue_open_dir(missing, FALSE, NULL, &q, &err);

    is_int(SMG_CONFIG, st, "missing spool folder: SMG_CONFIG");
    ok(q == NULL && err != NULL && strstr(err->message, "no-such-spool") != NULL,
       "error names the folder");
    ok(!g_file_test(missing, G_FILE_TEST_EXISTS), "and it was not created");
    g_clear_error(&err);
    g_free(missing);
}

/* test_names - the pipeline's order, missing standard queues included */
static void
test_names(struct smg_queue *q)
{
    GPtrArray *names;
    GString *all = g_string_new(NULL);

    put_msg("send.mta02", "new", "N1", "");
    put_msg("deferred.mta01", "new", "N2", "");
    put_msg("send.mta01", "new", "N3", "");
    put_msg("zzother", "new", "N4", "");
    names = smg_queue_names(q);
    for (guint i = 0; i < names->len; i++)
        g_string_append_printf(all, "%s%s", i > 0 ? " " : "",
                               (const char *) names->pdata[i]);
    is_string("check scan sign route send.mta01 send.mta02 deferred.mta01 hold "
              "quarantine corrupt zzother",
              all->str, "queue names in pipeline order");
    g_ptr_array_free(names, TRUE);
    g_string_free(all, TRUE);
}

/* test_scan - entries with their envelope facts */
static void
test_scan(struct smg_queue *q)
{
    GPtrArray *a = NULL;
    GError *err = NULL;
    struct smg_queue_entry *e;

    put_msg("deferred.mta01", "new", "D1",
            "SMG-Route: pool=good gateway=mta01 reason=ham\n"
            "SMG-Delivery: attempts=2 gateway=mta01 last=\"451 4.7.0 try later\"\n");
    set_mtime("deferred.mta01", "new", "D1", NOW + 600);
    is_int(SMG_OK, smg_queue_scan(q, "deferred.mta01", &a, &err), "scan deferred");
    ok(a != NULL && a->len == 2, "two messages in deferred.mta01");
    e = NULL;
    for (guint i = 0; a != NULL && i < a->len; i++)
        if (strcmp(((struct smg_queue_entry *) a->pdata[i])->id, "D1") == 0)
            e = a->pdata[i];
    ok(e != NULL, "D1 listed");
    if (e != NULL) {
        is_string("a@cust.test", e->sender, "sender");
        is_int(2, e->rcpts->len, "two recipients");
        is_string("y@rcpt.test", e->rcpts->pdata[1], "second recipient");
        is_string("451 4.7.0 try later", e->last_error, "last error from SMG-Delivery");
        is_int(NOW - 3600, (long) e->arrival, "arrival from SMG-Arrival");
        is_int(NOW + 600, (long) e->mtime, "mtime: the next attempt");
        ok(!e->active && e->problem == NULL, "queued, no problem");
    }
    if (a != NULL)
        g_ptr_array_free(a, TRUE);

    put("corrupt", "new", "C1", "SMG-Bogus: x\n\nbody\n");
    put_msg("check", "cur", "A1", "");
    is_int(SMG_OK, smg_queue_scan(q, "corrupt", &a, &err), "scan corrupt");
    ok(a->len == 1 && ((struct smg_queue_entry *) a->pdata[0])->problem != NULL,
       "a corrupt file is listed with its problem");
    g_ptr_array_free(a, TRUE);
    is_int(SMG_OK, smg_queue_scan(q, "check", &a, &err), "scan check");
    ok(a->len == 1 && ((struct smg_queue_entry *) a->pdata[0])->active,
       "a cur/ file is listed as active");
    g_ptr_array_free(a, TRUE);
    is_int(SMG_OK, smg_queue_scan(q, "nonexistent", &a, &err), "missing queue: ok");
    is_int(0, a->len, "and empty");
    g_ptr_array_free(a, TRUE);
    is_int(SMG_PERMFAIL, smg_queue_scan(q, "../etc", &a, &err), "bad queue name refused");
    g_clear_error(&err);
}

/* test_find - find by ID, with and without content */
static void
test_find(struct smg_queue *q)
{
    struct smg_queue_entry *e = NULL;
    char *content = NULL;
    gsize len = 0;
    GError *err = NULL;
    char *want = msg_text("A1", "");

    is_int(SMG_OK, smg_queue_find(q, "A1", &e, &content, &len, &err), "find A1 in cur/");
    ok(e != NULL && strcmp(e->queue, "check") == 0 && e->active, "in check, active");
    is_string(want, content, "content is the whole file");
    is_int((long) strlen(want), (long) len, "and its length");
    smg_queue_entry_free(e);
    g_free(content);
    g_free(want);
    is_int(SMG_PERMFAIL, smg_queue_find(q, "NOPE", &e, NULL, NULL, &err),
           "unknown ID: SMG_PERMFAIL");
    ok(err != NULL && strstr(err->message, "no such message") != NULL, "says so");
    g_clear_error(&err);
    is_int(SMG_PERMFAIL, smg_queue_find(q, "../x", &e, NULL, NULL, &err),
           "not an ID: SMG_PERMFAIL");
    g_clear_error(&err);
}

/* test_json - strings are escaped and made valid */
static void
test_json(struct smg_queue *q)
{
    GString *s = g_string_new(NULL);
    struct smg_queue_entry *e = NULL;
    GError *err = NULL;

    smg_json_string(s, "a\"b\\c\nd\x01\xff");
    is_string("\"a\\\"b\\\\c\\nd\\u0001\xef\xbf\xbd\"", s->str, "JSON escapes");
    g_string_truncate(s, 0);
    smg_json_string(s, NULL);
    is_string("null", s->str, "NULL is null");
    g_string_truncate(s, 0);
    if (smg_queue_find(q, "D1", &e, NULL, NULL, &err) != SMG_OK)
        bail("find D1");
    smg_queue_entry_json(q, e, "bin\xff", 4, s);
    ok(strstr(s->str, "\"next_attempt\": \"2026-11-22T05:10:00Z\"") != NULL,
       "next attempt of a deferred message");
    ok(strstr(s->str, "\"content_base64\": \"Ymlu/w==\"") != NULL,
       "content that is not UTF-8 in base64");
    ok(strstr(s->str, "\"age\": 3600") != NULL, "age in seconds");
    smg_queue_entry_free(e);
    g_string_free(s, TRUE);
}

/* test_hold_release - round trips back to the right queue */
static void
test_hold_release(struct smg_queue *q)
{
    struct smg_queue_result res = {0};
    GError *err = NULL;
    char *orig = msg_text("H1", ""), *held, *back;

    put("sign", "new", "H1", orig);
    is_int(SMG_OK, smg_queue_hold(q, "H1", &res, &err), "hold H1");
    is_int(SMG_QUEUE_DONE, res.outcome, "done");
    is_string("sign", res.from, "from sign");
    is_string("hold", res.to, "to hold");
    is_int(0, smg_queue_exit(SMG_OK, &res), "exit 0");
    smg_queue_result_clear(&res);
    held = slurp("hold", "new", "H1");
    ok(held != NULL && strstr(held, "\nSMG-Held: from=sign at=2026-11-22T05:00:00Z "
                                    "by=operator\nFrom: ") != NULL,
       "SMG-Held recorded at the end of the envelope");
    is_int(1, places("H1"), "in exactly one place");
    g_free(held);

    is_int(SMG_PERMFAIL, smg_queue_hold(q, "H1", &res, &err), "hold again: refused");
    is_int(SMG_QUEUE_REFUSED, res.outcome, "refused");
    is_int(64, smg_queue_exit(SMG_PERMFAIL, &res), "exit 64");
    ok(exists("hold", "new", "H1"), "still held");
    smg_queue_result_clear(&res);
    g_clear_error(&err);

    is_int(SMG_OK, smg_queue_release(q, "H1", NULL, &res, &err), "release H1");
    is_string("sign", res.to, "back to sign");
    smg_queue_result_clear(&res);
    back = slurp("sign", "new", "H1");
    is_string(orig, back, "byte for byte as before the hold");
    is_int(1, places("H1"), "in exactly one place");
    g_free(back);
    g_free(orig);

    is_int(SMG_PERMFAIL, smg_queue_release(q, "H1", NULL, &res, &err),
           "release of a message not held: refused");
    is_int(SMG_QUEUE_REFUSED, res.outcome, "refused");
    ok(exists("sign", "new", "H1"), "left where it was");
    smg_queue_result_clear(&res);
    g_clear_error(&err);

    /* held from deferred: goes to send.GW at once */
    put_msg("deferred.mta02", "new", "H2",
            "SMG-Delivery: attempts=1 gateway=mta02 last=\"421 busy\"\n");
    set_mtime("deferred.mta02", "new", "H2", NOW + 900);
    is_int(SMG_OK, smg_queue_hold(q, "H2", &res, &err), "hold a deferred message");
    smg_queue_result_clear(&res);
    is_int(SMG_OK, smg_queue_release(q, "H2", NULL, &res, &err), "release it");
    is_string("send.mta02", res.to, "to send.mta02");
    smg_queue_result_clear(&res);
    held = slurp("send.mta02", "new", "H2");
    ok(held != NULL && strstr(held, "SMG-Held") == NULL, "SMG-Held removed");
    g_free(held);

    /* held by smg-send (TLS policy hold): SMG-Delivery gateway */
    put_msg("hold", "new", "H3",
            "SMG-Route: pool=good gateway=mta02 reason=ham\n"
            "SMG-Delivery: attempts=1 gateway=mta01 last=\"TLS required\" "
            "held=2026-11-22T04:30:00Z\n");
    is_int(SMG_OK, smg_queue_release(q, "H3", NULL, &res, &err), "release smg-send's hold");
    is_string("send.mta01", res.to, "to send.GW of SMG-Delivery");
    smg_queue_result_clear(&res);
    orig = msg_text("H3", "SMG-Route: pool=good gateway=mta02 reason=ham\n"
                          "SMG-Delivery: attempts=1 gateway=mta01 last=\"TLS required\" "
                          "held=2026-11-22T04:30:00Z\n");
    back = slurp("send.mta01", "new", "H3");
    is_string(orig, back, "moved unchanged");
    g_free(orig);
    g_free(back);

    /* a held part of a message: its own ID, the original's SMG-Queue-ID */
    orig = msg_text("H4", "SMG-Delivery: attempts=3 gateway=mta02 held=2026-11-22T04:30:00Z\n");
    put("hold", "new", "H4T3", orig);
    is_int(SMG_OK, smg_queue_release(q, "H4T3", NULL, &res, &err), "release a held part");
    smg_queue_result_clear(&res);
    back = slurp("send.mta02", "new", "H4T3");
    ok(back != NULL && g_str_has_prefix(back, "SMG-Queue-ID: H4T3\nSMG-Sender:"),
       "its SMG-Queue-ID is its file name");
    g_free(orig);
    g_free(back);

    /* held by a stage (no origin recorded) */
    put_msg("hold", "new", "H5", "");
    is_int(SMG_PERMFAIL, smg_queue_release(q, "H5", NULL, &res, &err),
           "origin unknown: refused");
    ok(err != NULL && strstr(err->message, "--to") != NULL, "asks for --to");
    ok(exists("hold", "new", "H5") && places("H5") == 1, "still held, one place");
    smg_queue_result_clear(&res);
    g_clear_error(&err);
    is_int(SMG_PERMFAIL, smg_queue_release(q, "H5", "send.mta09", &res, &err),
           "release to an unknown gateway: refused");
    smg_queue_result_clear(&res);
    g_clear_error(&err);
    is_int(SMG_PERMFAIL, smg_queue_release(q, "H5", "corrupt", &res, &err),
           "release to corrupt: refused");
    smg_queue_result_clear(&res);
    g_clear_error(&err);
    is_int(SMG_OK, smg_queue_release(q, "H5", "scan", &res, &err), "release --to scan");
    ok(exists("scan", "new", "H5") && places("H5") == 1, "in scan");
    smg_queue_result_clear(&res);

    put("corrupt", "new", "H6", "SMG-Bogus: x\n\nbody\n");
    is_int(SMG_PERMFAIL, smg_queue_hold(q, "H6", &res, &err), "hold of corrupt: refused");
    ok(exists("corrupt", "new", "H6"), "left in corrupt");
    smg_queue_result_clear(&res);
    g_clear_error(&err);
    put("route", "new", "H7", "SMG-Bogus: x\n\nbody\n");
    is_int(SMG_PERMFAIL, smg_queue_hold(q, "H7", &res, &err),
           "hold of a malformed file: refused");
    ok(exists("route", "new", "H7") && !exists("route", "cur", "H7"),
       "put back in route/new");
    smg_queue_result_clear(&res);
    g_clear_error(&err);

    is_int(SMG_PERMFAIL, smg_queue_hold(q, "GONE", &res, &err), "hold of no message");
    is_int(SMG_QUEUE_NOTFOUND, res.outcome, "not found");
    is_int(1, smg_queue_exit(SMG_PERMFAIL, &res), "exit 1");
    smg_queue_result_clear(&res);
    g_clear_error(&err);
}

/* test_requeue - deferred to send with mtime now; refused elsewhere */
static void
test_requeue(struct smg_queue *q)
{
    struct smg_queue_result res = {0};
    GError *err = NULL;
    char *orig = msg_text("R1", "SMG-Delivery: attempts=1 gateway=mta01\n"), *now;

    put("deferred.mta01", "new", "R1", orig);
    set_mtime("deferred.mta01", "new", "R1", NOW + 3600);
    is_int(SMG_OK, smg_queue_requeue(q, "R1", &res, &err), "requeue R1");
    is_string("deferred.mta01", res.from, "from deferred.mta01");
    is_string("send.mta01", res.to, "to send.mta01");
    smg_queue_result_clear(&res);
    is_int(NOW, (long) mtime_of("send.mta01", "new", "R1"), "mtime now");
    now = slurp("send.mta01", "new", "R1");
    is_string(orig, now, "content unchanged");
    is_int(1, places("R1"), "one place");
    g_free(now);
    g_free(orig);
    is_int(SMG_PERMFAIL, smg_queue_requeue(q, "R1", &res, &err),
           "requeue of a message in send: refused");
    ok(exists("send.mta01", "new", "R1"), "left there");
    smg_queue_result_clear(&res);
    g_clear_error(&err);

    put_msg("deferred.mta02", "new", "R2", "");
    set_mtime("deferred.mta02", "new", "R2", NOW + 7200);
    is_int(SMG_OK, smg_queue_delete(q, "R2", FALSE, &res, &err),
           "delete of a deferred message");
    smg_queue_result_clear(&res);
    g_clear_error(&err);
    is_int(0, places("R2"), "and it is gone");
}

/* test_delete - delete; corrupt only with force; refusal keeps mtime */
static void
test_delete(struct smg_queue *q)
{
    struct smg_queue_result res = {0};
    GError *err = NULL;

    put_msg("quarantine", "new", "X1", "");
    is_int(SMG_OK, smg_queue_delete(q, "X1", FALSE, &res, &err), "delete from quarantine");
    ok(res.to == NULL && strcmp(res.from, "quarantine") == 0, "from quarantine, to nowhere");
    is_int(0, places("X1"), "gone");
    smg_queue_result_clear(&res);

    put("corrupt", "new", "X2", "garbage\n");
    set_mtime("corrupt", "new", "X2", NOW - 86400);
    is_int(SMG_PERMFAIL, smg_queue_delete(q, "X2", FALSE, &res, &err),
           "delete of corrupt without force: refused");
    ok(err != NULL && strstr(err->message, "--force") != NULL, "says --force");
    ok(exists("corrupt", "new", "X2"), "kept");
    is_int(NOW - 86400, (long) mtime_of("corrupt", "new", "X2"), "mtime kept");
    smg_queue_result_clear(&res);
    g_clear_error(&err);
    is_int(SMG_OK, smg_queue_delete(q, "X2", TRUE, &res, &err), "with force");
    is_int(0, places("X2"), "gone");
    smg_queue_result_clear(&res);
}

/*
 * test_busy - a child claims a message (lib/spool, lock held) and another
 * file is flock'ed in new/ without being renamed: both are busy and left
 * alone; once the child is gone, its cur/ file is taken over.
 */
static void
test_busy(struct smg_queue *q)
{
    struct smg_queue_result res = {0};
    GError *err = NULL;
    int go[2], ready[2];
    pid_t pid;
    char c = 0;
    char *orig = msg_text("B1", ""), *p;
    int fd, status;

    put("scan", "new", "B1", orig);
    put_msg("sign", "new", "B2", "");
    if (pipe(go) < 0 || pipe(ready) < 0)
        bail("pipe");
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        bail("fork");
    if (pid == 0) {
        struct smg_spool *sp = NULL;
        struct smg_spool_msg *m = NULL;

        close(go[1]);
        close(ready[0]);
        if (smg_spool_open(top, FALSE, &sp, NULL) != SMG_OK
            || smg_spool_claim(sp, "scan", "B1", &m, NULL) != SMG_OK)
            _exit(1);
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        if (read(go[0], &c, 1) < 0)
            _exit(1);
        _exit(0); /* dies holding the claim: cur/B1 stays, unlocked */
    }
    close(go[0]);
    close(ready[1]);
    if (read(ready[0], &c, 1) != 1)
        bail("child could not claim");
    ok(exists("scan", "cur", "B1"), "the child claimed B1");
    is_int(SMG_TEMPFAIL, smg_queue_hold(q, "B1", &res, &err), "hold of a claimed message");
    is_int(SMG_QUEUE_BUSY, res.outcome, "busy");
    is_int(75, smg_queue_exit(SMG_TEMPFAIL, &res), "exit 75");
    ok(err != NULL && strstr(err->message, "busy") != NULL, "says busy");
    smg_queue_result_clear(&res);
    g_clear_error(&err);
    is_int(SMG_TEMPFAIL, smg_queue_delete(q, "B1", TRUE, &res, &err),
           "delete of a claimed message: busy");
    smg_queue_result_clear(&res);
    g_clear_error(&err);
    p = slurp("scan", "cur", "B1");
    is_string(orig, p, "untouched in cur/");
    g_free(p);

    /* a lock on new/ID (a worker between flock and rename) */
    p = qpath("sign", "new", "B2");
    fd = open(p, O_RDONLY);
    g_free(p);
    if (fd < 0)
        bail("open B2");
    /* flock locks belong to the open file: a second open in this process
     * conflicts just as another process would */
    if (flock(fd, LOCK_EX) < 0)
        bail("flock B2");
    is_int(SMG_TEMPFAIL, smg_queue_hold(q, "B2", &res, &err), "locked in new/: busy");
    is_int(SMG_QUEUE_BUSY, res.outcome, "busy");
    ok(exists("sign", "new", "B2") && !exists("sign", "cur", "B2"), "left in new/");
    smg_queue_result_clear(&res);
    g_clear_error(&err);
    is_int(SMG_PERMFAIL, smg_queue_requeue(q, "B2", &res, &err),
           "a request that does not fit is refused before any claim");
    is_int(SMG_QUEUE_REFUSED, res.outcome, "refused");
    smg_queue_result_clear(&res);
    g_clear_error(&err);
    close(fd);

    if (write(go[1], "g", 1) != 1)
        bail("write");
    waitpid(pid, &status, 0);
    close(go[1]);
    close(ready[0]);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exited");
    ok(exists("scan", "cur", "B1"), "B1 left in cur/ by its dead worker");
    is_int(SMG_OK, smg_queue_hold(q, "B1", &res, &err), "hold takes it over");
    is_string("scan", res.from, "from scan");
    ok(exists("hold", "new", "B1") && places("B1") == 1, "now held, one place");
    smg_queue_result_clear(&res);
    g_free(orig);
}

int
main(void)
{
    struct smg_queue *q;

    plan_lazy();
    smg_log_init("queue-t", SMG_LOG_STDERR, FALSE);
    top = test_tmpdir();
    test_open();
    q = open_q();
    test_names(q);
    test_scan(q);
    test_find(q);
    test_json(q);
    test_hold_release(q);
    test_requeue(q);
    test_delete(q);
    test_busy(q);
    smg_queue_close(q);
    test_tmpdir_free(top);
    return 0;
}

/*
 * stage-t.c - unit tests for lib/stage: spool mode hands a message on,
 * adds extras first, sends a PERMFAIL to hold/, a malformed file to
 * corrupt/, puts a TEMPFAIL back in new/ and stops with 75, holds a
 * message whose extra the spool refuses for good, recovers files whose
 * worker died, and never hands on a message without its extra when the
 * worker dies before its batch's end.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>
#include <sysexits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/spool.h"
#include "lib/stage.h"
#include "t/tap/basic.h"

static enum smg_status next_status;
static unsigned calls;

/* fn - a stage that tags the message, and adds an extra for "extra@" */
static enum smg_status
fn(void *ctx, const char *id, const char *buf, gsize len,
   struct smg_envelope *env, gsize off, struct smg_stage_result *res,
   GError **err)
{
    (void) ctx;
    calls++;
    if (next_status != SMG_OK) {
        smg_set_error(err, next_status, NULL, "told to fail");
        return next_status;
    }
    smg_envelope_set(env, "Virus", "verdict=clean");
    res->out = g_string_new(NULL);
    smg_envelope_write(env, res->out);
    g_string_append_len(res->out, buf + off, (gssize) (len - off));
    if (strstr(buf, "extra@") != NULL) {
        /* "badextra@": an ID the spool refuses (as one made too long) */
        char *xid = strstr(buf, "badextra@") != NULL ? g_strdup("bad/id")
                                                     : g_strconcat(id, "N", NULL);
        smg_stage_add_extra(res, "sign", xid,
                            g_string_new("SMG-Sender: <>\nSMG-Recipient: <a@b.test>\n\nNDR\n"));
        g_free(xid);
    }
    res->log = g_strdup("verdict=clean");
    return SMG_OK;
}

/* fn_keep - a stage that passes the message on unchanged with an extra,
 * and dies (as kill -9 would) at a message for "crash@" */
static enum smg_status
fn_keep(void *ctx, const char *id, const char *buf, gsize len,
        struct smg_envelope *env, gsize off, struct smg_stage_result *res,
        GError **err)
{
    char *xid = g_strconcat(id, "N", NULL);

    (void) ctx, (void) len, (void) env, (void) off, (void) err;
    if (strstr(buf, "crash@") != NULL)
        _exit(9);
    smg_stage_add_extra(res, "sign", xid,
                        g_string_new("SMG-Sender: <>\nSMG-Recipient: <a@b.test>\n\nNDR\n"));
    g_free(xid);
    return SMG_OK;
}

/* put - commit content as QUEUE/new/ID */
static void
put(struct smg_spool *sp, const char *queue, const char *id, const char *content)
{
    struct smg_spool_file *f;

    if (smg_spool_create(sp, queue, id, &f, NULL) != SMG_OK)
        bail("create");
    fputs(content, f->fp);
    if (smg_spool_commit(f, NULL) != SMG_OK)
        bail("commit");
}

/* exists - whether SPOOL/QUEUE/SUB/ID is a file */
static gboolean
exists(const char *dir, const char *queue, const char *sub, const char *id)
{
    char *p = g_build_filename(dir, queue, sub, id, NULL);
    gboolean r = g_file_test(p, G_FILE_TEST_IS_REGULAR);

    g_free(p);
    return r;
}

/* mtime_of - the mtime of SPOOL/QUEUE/new/ID, 0 if it is not there */
static time_t
mtime_of(const char *dir, const char *queue, const char *id)
{
    char *p = g_build_filename(dir, queue, "new", id, NULL);
    struct stat sb;
    time_t t = stat(p, &sb) == 0 ? sb.st_mtime : 0;

    g_free(p);
    return t;
}

/* make_ready - set the mtime of SPOOL/QUEUE/new/ID to now: its time has come */
static void
make_ready(const char *dir, const char *queue, const char *id)
{
    char *p = g_build_filename(dir, queue, "new", id, NULL);
    struct utimbuf now = {time(NULL), time(NULL)};

    utime(p, &now);
    g_free(p);
}

/* unlink_file - remove SPOOL/QUEUE/SUB/ID if it is there */
static void
unlink_file(const char *dir, const char *queue, const char *sub, const char *id)
{
    char *p = g_build_filename(dir, queue, sub, id, NULL);

    (void) unlink(p);
    g_free(p);
}

int
main(void)
{
    char *dir = test_tmpdir();
    char *text = g_strdup_printf("[spool]\ndir = %s\nsync = no\n", dir);
    struct smg_conf *conf;
    struct smg_spool *sp;
    struct smg_stage st = {"scan", "scan", "sign", fn, NULL, NULL};
    char *content, *p;
    int rc;

    plan(38);
    smg_log_init("stage-t", SMG_LOG_STDERR, FALSE);
    if (smg_conf_load_data(text, "/tmp/stage-t.conf", &conf, NULL) != SMG_OK)
        bail("config");
    if (smg_spool_open(dir, FALSE, &sp, NULL) != SMG_OK)
        bail("spool");

    put(sp, "scan", "A1", "SMG-Queue-ID: A1\nSMG-Sender: <s@x.test>\n"
                          "SMG-Recipient: <r@y.test>\n\nbody\n");
    put(sp, "scan", "A2", "SMG-Queue-ID: A2\nSMG-Sender: <s@x.test>\n"
                          "SMG-Recipient: <extra@y.test>\n\nbody\n");
    put(sp, "scan", "B1", "SMG-Bogus: yes\n\nbody\n");
    put(sp, "scan", "B2", "SMG-Queue-ID: OTHER\nSMG-Sender: <s@x.test>\n"
                          "SMG-Recipient: <r@y.test>\n\nbody\n");
    rc = smg_stage_run(&st, conf, SMG_STAGE_SPOOL, 0);
    is_int(0, rc, "spool mode exits 0");
    ok(exists(dir, "sign", "new", "A1"), "A1 handed on to sign/new");
    ok(!exists(dir, "scan", "new", "A1") && !exists(dir, "scan", "cur", "A1"),
       "A1 is no longer in scan");
    p = g_build_filename(dir, "sign", "new", "A1", NULL);
    g_file_get_contents(p, &content, NULL, NULL);
    ok(content != NULL && strstr(content, "SMG-Virus: verdict=clean\n") != NULL,
       "the output carries the stage's field");
    g_free(content);
    g_free(p);
    ok(exists(dir, "sign", "new", "A2N"), "the extra is committed under its own ID");
    ok(exists(dir, "sign", "new", "A2"), "and A2 itself handed on");
    ok(exists(dir, "corrupt", "new", "B1"), "unknown SMG field: corrupt/");
    ok(exists(dir, "corrupt", "new", "B2"), "queue ID not the file name: corrupt/");
    is_int(2, calls, "the stage ran for the two good messages only");

    /* PERMFAIL: hold */
    put(sp, "scan", "C1", "SMG-Sender: <s@x.test>\nSMG-Recipient: <r@y.test>\n\nx\n");
    next_status = SMG_PERMFAIL;
    rc = smg_stage_run(&st, conf, SMG_STAGE_SPOOL, 0);
    is_int(0, rc, "a permanent failure does not stop the run");
    ok(exists(dir, "hold", "new", "C1"), "PERMFAIL: hold/");
    p = g_build_filename(dir, "hold", "new", "C1", NULL);
    g_file_get_contents(p, &content, NULL, NULL);
    ok(content != NULL && strstr(content, "SMG-Held: from=scan at=") != NULL
           && strstr(content, "by=smg-scan") != NULL,
       "the held file records where it came from");
    g_free(content);
    g_free(p);

    /* an extra the spool refuses for good (its ID): the message is held,
     * and the run goes on to the next one instead of ending on it */
    next_status = SMG_OK;
    put(sp, "scan", "F1", "SMG-Sender: <s@x.test>\nSMG-Recipient: <badextra@y.test>\n\nx\n");
    put(sp, "scan", "F2", "SMG-Sender: <s@x.test>\nSMG-Recipient: <r@y.test>\n\nx\n");
    rc = smg_stage_run(&st, conf, SMG_STAGE_SPOOL, 0);
    is_int(0, rc, "an extra refused for good does not stop the run");
    ok(exists(dir, "hold", "new", "F1"), "its message is held");
    ok(!exists(dir, "scan", "new", "F1") && !exists(dir, "scan", "cur", "F1"),
       "and no longer in scan");
    ok(exists(dir, "sign", "new", "F2"), "the next message is handed on");
    p = g_build_filename(dir, "hold", "new", "F1", NULL);
    g_file_get_contents(p, &content, NULL, NULL);
    ok(content != NULL && strstr(content, "SMG-Held: from=scan at=") != NULL,
       "the held file records where it came from");
    g_free(content);
    g_free(p);

    /* TEMPFAIL: back to new/, exit 75 */
    put(sp, "scan", "D1", "SMG-Sender: <s@x.test>\nSMG-Recipient: <r@y.test>\n\nx\n");
    put(sp, "scan", "D2", "SMG-Sender: <s@x.test>\nSMG-Recipient: <r@y.test>\n\nx\n");
    next_status = SMG_TEMPFAIL;
    calls = 0;
    rc = smg_stage_run(&st, conf, SMG_STAGE_SPOOL, 0);
    is_int(EX_TEMPFAIL, rc, "TEMPFAIL exits 75");
    is_int(1, calls, "and stops at the first message");
    ok(exists(dir, "scan", "new", "D1") && exists(dir, "scan", "new", "D2"),
       "both messages stay in scan/new");
    ok(!exists(dir, "scan", "cur", "D1"), "nothing left in cur/");
    /* D1 waits, behind D2: a message that always fails for now must not
     * be the first taken by every worker after it */
    ok(mtime_of(dir, "scan", "D1") >= time(NULL) + SMG_STAGE_RETRY_S - 5,
       "the failed message is not taken again for SMG_STAGE_RETRY_S");
    next_status = SMG_OK;
    calls = 0;
    is_int(0, smg_stage_run(&st, conf, SMG_STAGE_SPOOL, 0), "the next run exits 0");
    ok(calls == 1 && exists(dir, "sign", "new", "D2") && exists(dir, "scan", "new", "D1"),
       "it hands on D2 and leaves D1 waiting");
    make_ready(dir, "scan", "D1");

    next_status = SMG_CONFIG;
    is_int(EX_CONFIG, smg_stage_run(&st, conf, SMG_STAGE_SPOOL, 0), "CONFIG exits 78");
    make_ready(dir, "scan", "D1");

    /* recovery: a file left in cur/ by a dead worker */
    next_status = SMG_OK;
    {
        struct smg_spool_msg *m;
        if (smg_spool_claim(sp, "scan", "D1", &m, NULL) != SMG_OK)
            bail("claim");
        ok(exists(dir, "scan", "cur", "D1"), "D1 claimed into cur/");
        smg_spool_msg_free(m); /* the worker "dies": its lock goes */
    }
    is_int(0, smg_stage_run(&st, conf, SMG_STAGE_SPOOL, 0), "next run exits 0");
    ok(exists(dir, "sign", "new", "D1"), "the orphan in cur/ was recovered and handed on");
    ok(exists(dir, "sign", "new", "D2"), "the other too");
    is_int(0, (long) (exists(dir, "scan", "new", "D1") + exists(dir, "scan", "cur", "D1")),
           "nothing left in scan");

    /* max_messages */
    put(sp, "scan", "E1", "SMG-Sender: <s@x.test>\nSMG-Recipient: <r@y.test>\n\nx\n");
    put(sp, "scan", "E2", "SMG-Sender: <s@x.test>\nSMG-Recipient: <r@y.test>\n\nx\n");
    smg_stage_run(&st, conf, SMG_STAGE_SPOOL, 1);
    is_int(1, (long) (exists(dir, "sign", "new", "E1") + exists(dir, "sign", "new", "E2")),
           "max_messages stops after one");

    /* a message passed on unchanged with a report, in a batch: a crash
     * before the batch's end must not keep the message and lose the
     * report (the move was at once, the report waited in tmp/) */
    {
        char *btext = g_strdup_printf("[spool]\ndir = %s\nsync = yes\nbatch = 10\n", dir);
        struct smg_conf *bconf;
        struct smg_stage keep = {"scan", "scan", "sign", fn_keep, NULL, NULL};
        pid_t pid;
        int status = 0;

        if (smg_conf_load_data(btext, "/tmp/stage-t.conf", &bconf, NULL) != SMG_OK)
            bail("config");
        put(sp, "scan", "K1", "SMG-Sender: <s@x.test>\nSMG-Recipient: <r@y.test>\n\nx\n");
        put(sp, "scan", "K2", "SMG-Sender: <s@x.test>\nSMG-Recipient: <crash@y.test>\n\nx\n");
        pid = fork();
        if (pid == 0)
            _exit(smg_stage_run(&keep, bconf, SMG_STAGE_SPOOL, 0));
        waitpid(pid, &status, 0);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 9, "the worker died at K2");
        ok(!exists(dir, "sign", "new", "K1") || exists(dir, "sign", "new", "K1N"),
           "K1 was not handed on without its report");
        /* K2 kills every worker that takes it: K1, recovered with it, is
         * handed on all the same, since a recovered message is processed
         * in a batch of its own */
        pid = fork();
        if (pid == 0)
            _exit(smg_stage_run(&keep, bconf, SMG_STAGE_SPOOL, 0));
        waitpid(pid, &status, 0);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 9, "the next worker died at K2 again");
        ok(exists(dir, "sign", "new", "K1") && exists(dir, "sign", "new", "K1N"),
           "K1 and its report both handed on before K2 was taken");
        /* the third worker finds K2 recovered twice: it waits, and the
         * queue is not stopped by it */
        put(sp, "scan", "K3", "SMG-Sender: <s@x.test>\nSMG-Recipient: <r@y.test>\n\nx\n");
        pid = fork();
        if (pid == 0)
            _exit(smg_stage_run(&keep, bconf, SMG_STAGE_SPOOL, 0));
        waitpid(pid, &status, 0);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the third worker exits 0");
        ok(exists(dir, "sign", "new", "K3"), "the message behind K2 is handed on");
        ok(mtime_of(dir, "scan", "K2") >= time(NULL) + SMG_SPOOL_REPEAT_S - 5,
           "K2 waits SMG_SPOOL_REPEAT_S in scan/new");
        unlink_file(dir, "scan", "new", "K2");
        smg_conf_free(bconf);
        g_free(btext);
    }

    smg_spool_close(sp);
    smg_conf_free(conf);
    g_free(text);
    test_tmpdir_free(dir);
    return 0;
}

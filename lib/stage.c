/*
 * stage.c - filter, spool and watch modes for the pipeline stages (see
 * stage.h and smg-spool(7)).
 *
 * The order of writes is what keeps mail safe: extras (NDRs) are committed
 * before the output, the output before the input is removed.  A crash at
 * any point leaves the input in cur/ (recovered to new/ by the next worker)
 * and at worst repeats the stage; extras with IDs derived from the input's
 * are then replaced rather than doubled.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/spool.h"
#include "lib/stage.h"

static volatile sig_atomic_t stage_stop;

/* on_signal - stop after the message in hand */
static void
on_signal(int sig)
{
    (void) sig;
    stage_stop = 1;
}

void
smg_stage_add_extra(struct smg_stage_result *res, const char *queue,
                    const char *id, GString *content)
{
    struct smg_stage_extra *x = g_new0(struct smg_stage_extra, 1);

    x->queue = g_strdup(queue);
    x->id = g_strdup(id);
    x->content = content;
    if (res->extras == NULL)
        res->extras = g_ptr_array_new();
    g_ptr_array_add(res->extras, x);
}

/* result_clear - free what a result holds */
static void
result_clear(struct smg_stage_result *res)
{
    if (res->out != NULL)
        g_string_free(res->out, TRUE);
    if (res->extras != NULL) {
        for (guint i = 0; i < res->extras->len; i++) {
            struct smg_stage_extra *x = res->extras->pdata[i];
            g_free(x->queue);
            g_free(x->id);
            if (x->content != NULL)
                g_string_free(x->content, TRUE);
            g_free(x);
        }
        g_ptr_array_free(res->extras, TRUE);
    }
    g_free(res->log);
    g_free(res->passed_data);
    memset(res, 0, sizeof *res);
}

/* fatal_exit - log and print an error, return its exit code */
static int
fatal_exit(enum smg_status st, const char *id, const GError *err)
{
    const char *msg = err != NULL ? err->message : "unknown error";

    smg_log_error("%s: %s", id, msg);
    fprintf(stderr, "%s: fatal: %s: %s\n", smg_log_progname(), id, msg);
    return smg_status_exit(st);
}

/* run_filter - one message from stdin to stdout */
static int
run_filter(const struct smg_stage *stage)
{
    GString *in = g_string_sized_new(65536);
    char chunk[65536];
    size_t n;
    struct smg_envelope *env = NULL;
    struct smg_stage_result res = {0};
    GError *err = NULL;
    gsize off = 0;
    enum smg_status st;
    const char *id;
    int rc;

    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        g_string_append_len(in, chunk, (gssize) n);
    if (ferror(stdin)) {
        fprintf(stderr, "%s: fatal: cannot read standard input\n", smg_log_progname());
        g_string_free(in, TRUE);
        return EX_IOERR;
    }
    st = smg_envelope_parse(in->str, in->len, &env, &off, &err);
    if (st != SMG_OK) {
        rc = fatal_exit(st, "-", err);
        g_clear_error(&err);
        g_string_free(in, TRUE);
        return rc;
    }
    id = env->queue_id != NULL ? env->queue_id : "-";
    st = stage->fn(stage->ctx, id, in->str, in->len, env, off, &res, &err);
    if (st != SMG_OK) {
        rc = fatal_exit(st, id, err);
    } else {
        GString *out = res.out != NULL ? res.out : in;

        errno = 0;
        if (fwrite(out->str, 1, out->len, stdout) != out->len || fflush(stdout) != 0) {
            /* the message did not go on: no "dkim=signed" line for it */
            g_set_error(&err, SMG_ERROR, SMG_TEMPFAIL, "cannot write standard output: %s",
                        errno != 0 ? g_strerror(errno) : "write error");
            fatal_exit(SMG_TEMPFAIL, id, err);
            rc = EX_IOERR;
        } else {
            rc = res.flagged ? 1 : 0;
            smg_log_info("%s: %s%sextras=%u", id, res.log != NULL ? res.log : "",
                         res.log != NULL ? ", " : "",
                         res.extras != NULL ? res.extras->len : 0);
        }
    }
    g_clear_error(&err);
    result_clear(&res);
    smg_envelope_free(env);
    g_string_free(in, TRUE);
    return rc;
}

/* commit_content - write content as QUEUE/new/ID durably */
static enum smg_status
commit_content(struct smg_spool *spool, const char *queue, const char *id,
               const GString *content, char **new_id, GError **err)
{
    struct smg_spool_file *f;
    enum smg_status st = smg_spool_create(spool, queue, id, &f, err);

    if (st != SMG_OK)
        return st;
    if (new_id != NULL)
        *new_id = g_strdup(f->id);
    fwrite(content->str, 1, content->len, f->fp);
    return smg_spool_commit(f, err);
}

/*
 * hold - put a claimed message in hold/ for an operator, with an
 * SMG-Held field that tells smg-queue release where it came from
 */
static enum smg_status
hold(const struct smg_stage *stage, struct smg_spool *spool, struct smg_spool_msg *msg,
     struct smg_envelope *env, const char *buf, gsize len, gsize off, const char *why,
     GError **err)
{
    GDateTime *now = g_date_time_new_now_utc();
    char *at = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
    char *held = g_strdup_printf("from=%s at=%s by=smg-%s", stage->queue_in, at, stage->name);
    GString *c = g_string_sized_new(len + 128);
    enum smg_status st;

    smg_log_warn("%s: status=hold, reason=%s", msg->id, why);
    smg_envelope_set(env, "Held", held);
    smg_envelope_write(env, c);
    g_string_append_len(c, buf + off, (gssize) (len - off));
    st = commit_content(spool, "hold", msg->id, c, NULL, err);
    if (st == SMG_OK)
        st = smg_spool_done(msg, err);
    else
        smg_spool_release(msg, stage->queue_in);
    g_string_free(c, TRUE);
    g_free(held);
    g_free(at);
    g_date_time_unref(now);
    return st;
}

/*
 * for_good - whether a commit's failure would repeat for this message
 * however often it is tried (an ID or queue the spool refuses), rather
 * than for the spool (the disk): the message is then held, so that it
 * does not stop the queue
 */
static gboolean
for_good(enum smg_status st)
{
    return st == SMG_BUG || st == SMG_PERMFAIL;
}

/*
 * process_one - run the stage on a claimed message and hand it on.
 * Returns SMG_OK to go on, or the status that ends the run.
 */
static enum smg_status
process_one(const struct smg_stage *stage, struct smg_spool *spool,
            struct smg_spool_msg *msg, GError **err)
{
    struct smg_envelope *env = NULL;
    struct smg_stage_result res = {0};
    gsize len = 0, off = 0;
    GError *perr = NULL;
    char *buf = smg_spool_read(msg, &len, err);
    enum smg_status st;
    const char *next;

    if (buf == NULL) {
        smg_spool_release(msg, stage->queue_in);
        return SMG_TEMPFAIL;
    }
    st = smg_envelope_parse(buf, len, &env, &off, &perr);
    if (st == SMG_OK)
        st = smg_envelope_check_spool(env, msg->id, &perr);
    if (st != SMG_OK) {
        st = smg_spool_corrupt(msg, perr->message, err);
        g_clear_error(&perr);
        smg_envelope_free(env);
        g_free(buf);
        return st;
    }
    st = stage->fn(stage->ctx, msg->id, buf, len, env, off, &res, &perr);
    if (st == SMG_PERMFAIL) {
        st = hold(stage, spool, msg, env, buf, len, off, perr->message, err);
        g_clear_error(&perr);
        goto out;
    }
    if (st != SMG_OK) {
        /* The failure ends this worker (exit 75).  Were the message put
         * back as it was, the oldest, the next worker would take it first
         * again: one message that always fails for now (a scanner error
         * on its content) would stop the queue behind it. */
        smg_log_warn("%s: status=deferred, delay=%ds", msg->id, SMG_STAGE_RETRY_S);
        g_propagate_error(err, perr);
        smg_spool_release_until(msg, stage->queue_in, time(NULL) + SMG_STAGE_RETRY_S);
        goto out;
    }
    for (guint i = 0; res.extras != NULL && i < res.extras->len; i++) {
        struct smg_stage_extra *x = res.extras->pdata[i];
        char *xid = NULL;

        st = commit_content(spool, x->queue, x->id, x->content, &xid, &perr);
        if (st != SMG_OK) {
            g_free(xid);
            if (for_good(st)) {
                char *why = g_strdup_printf("cannot queue its report: %s", perr->message);
                st = hold(stage, spool, msg, env, buf, len, off, why, err);
                g_free(why);
                g_clear_error(&perr);
            } else {
                g_propagate_error(err, perr);
                smg_spool_release(msg, stage->queue_in);
            }
            goto out;
        }
        smg_log_info("%s: extra=%s, queue=%s", msg->id, xid, x->queue);
        g_free(xid);
    }
    next = res.queue != NULL ? res.queue : stage->queue_out;
    /* a move is visible at once, while in a batch the extras above wait in
     * tmp/ for the batch's end: a crash between would keep the message
     * and lose its report.  Written as new content, it waits with them. */
    if (res.out == NULL && res.extras != NULL && res.extras->len > 0)
        res.out = g_string_new_len(buf, (gssize) len);
    if (res.out == NULL) {
        st = smg_spool_move(msg, next, 0, err);
    } else {
        st = commit_content(spool, next, msg->id, res.out, NULL, err);
        if (st == SMG_OK)
            st = smg_spool_done(msg, err);
        else
            smg_spool_release(msg, stage->queue_in);
    }
    if (st == SMG_OK) {
        smg_log_info("%s: %s%sstatus=passed, queue=%s", msg->id,
                     res.log != NULL ? res.log : "", res.log != NULL ? ", " : "", next);
        if (res.passed != NULL)
            res.passed(stage->ctx, msg->id, &res);
    }
out:
    result_clear(&res);
    smg_envelope_free(env);
    g_free(buf);
    return st;
}

/* watch_fd - an inotify descriptor on QUEUE/new, or -1 */
static int
watch_fd(struct smg_spool *spool, const char *queue)
{
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

    if (fd >= 0 && !smg_spool_watch(spool, fd, queue)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* wait_new - wait for a file in new/ (or the rescan time, or a signal) */
static void
wait_new(int ifd)
{
    struct pollfd p = {ifd, POLLIN, 0};
    char buf[4096];

    if (ifd < 0) {
        g_usleep(SMG_SPOOL_RESCAN_MS * 1000);
        return;
    }
    if (poll(&p, 1, SMG_SPOOL_RESCAN_MS) > 0)
        while (read(ifd, buf, sizeof buf) > 0)
            ;
}

/* run_spool - spool and watch modes */
static int
run_spool(const struct smg_stage *stage, const struct smg_conf *conf,
          gboolean watch, unsigned max_messages)
{
    struct smg_spool *spool = NULL;
    GError *err = NULL;
    enum smg_status st;
    unsigned done = 0, moved = 0, batch;
    int ifd = -1, rc = 0;
    struct sigaction sa = {0};

    sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    st = smg_spool_open_conf(conf, &spool, &err);
    if (st == SMG_OK)
        st = smg_spool_ensure(spool, stage->queue_in, &err);
    if (st == SMG_OK)
        st = smg_spool_recover(spool, stage->queue_in, &moved, &err);
    if (st != SMG_OK) {
        rc = fatal_exit(st, stage->queue_in, err);
        goto out;
    }
    if (watch)
        ifd = watch_fd(spool, stage->queue_in);
    batch = (unsigned) smg_conf_int(conf, "spool", "batch");
    /* A batch is what new/ holds, up to [spool] batch messages; its end
     * makes all of them durable with one sync (smg_spool_batch_end). */
    while (!stage_stop && (max_messages == 0 || done < max_messages)) {
        unsigned n = 0;
        char *failed = NULL;
        gboolean alone = FALSE;

        smg_spool_batch_begin(spool);
        while (n < batch && !stage_stop && (max_messages == 0 || done < max_messages)) {
            struct smg_spool_msg *msg = NULL;

            st = smg_spool_next(spool, stage->queue_in, 0, &msg, &err);
            if (st != SMG_OK || msg == NULL) {
                if (st != SMG_OK)
                    failed = g_strdup(stage->queue_in);
                break;
            }
            if (msg->recovered && n > 0) {
                /* a worker died holding it, maybe of it: it goes in a
                 * batch of its own, the finished ones made durable first */
                st = smg_spool_batch_end(spool, &err);
                smg_spool_batch_begin(spool);
                if (st != SMG_OK) {
                    failed = g_strdup(stage->queue_in);
                    smg_spool_release(msg, stage->queue_in);
                    smg_spool_msg_free(msg);
                    break;
                }
            }
            alone = msg->recovered;
            st = process_one(stage, spool, msg, &err);
            if (st != SMG_OK)
                failed = g_strdup(msg->id);
            smg_spool_msg_free(msg);
            if (st != SMG_OK)
                break;
            n++;
            done++;
            if (alone)
                break;
        }
        /* what the batch finished is made durable even when it ends early */
        if (failed == NULL) {
            st = smg_spool_batch_end(spool, &err);
            if (st != SMG_OK)
                failed = g_strdup(stage->queue_in);
        } else {
            GError *e2 = NULL;
            if (smg_spool_batch_end(spool, &e2) != SMG_OK) {
                smg_log_warn("%s", e2->message);
                g_error_free(e2);
            }
        }
        if (failed != NULL) {
            rc = fatal_exit(st, failed, err);
            g_free(failed);
            break;
        }
        if (n == 0) {
            if (!watch || stage_stop)
                break;
            if (stage->idle != NULL && (st = stage->idle(stage->ctx, &err)) != SMG_OK) {
                rc = fatal_exit(st, stage->queue_in, err);
                break;
            }
            wait_new(ifd);
        }
    }
out:
    g_clear_error(&err);
    if (ifd >= 0)
        close(ifd);
    smg_spool_close(spool);
    return rc;
}

int
smg_stage_run(const struct smg_stage *stage, const struct smg_conf *conf,
              enum smg_stage_mode mode, unsigned max_messages)
{
    switch (mode) {
    case SMG_STAGE_FILTER:
        return run_filter(stage);
    case SMG_STAGE_SPOOL:
        return run_spool(stage, conf, FALSE, max_messages);
    case SMG_STAGE_WATCH:
        return run_spool(stage, conf, TRUE, max_messages);
    }
    return EX_SOFTWARE;
}

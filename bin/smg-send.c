/*
 * smg-send - the delivery agent of one egress gateway.
 *
 * Delivers the messages of queues send.GATEWAY and deferred.GATEWAY (those
 * whose mtime, the next attempt, has come) to the recipients' MX hosts,
 * or to the gateway's relay, from the gateway's source address, with the
 * TLS that the policy table asks for; writes what is left to
 * deferred.GATEWAY or hold/ and non-delivery reports and delay notices to
 * [send] bounce_queue; expires held mail of this gateway into NDRs.  The
 * work is done in lib/delivery (read delivery.h).  --spool processes what
 * is due and exits; --watch keeps going (inotify) until SIGTERM/SIGINT.
 * With [send] processes > 1 (or -P N) that many workers share the queues,
 * each taking the IDs of its hash bucket.  Exit status: 0 done, 64 usage,
 * 75 temporary failure, 78 config.  See smg-send(8).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <glib.h>

#include "lib/config.h"
#include "lib/delivery.h"
#include "lib/log.h"
#include "lib/privs.h"
#include "lib/prog.h"
#include "lib/spool.h"

static const char USAGE[] =
    "usage: smg-send [-dnhV] [-c FILE] [--log syslog|stderr] --gateway NAME\n"
    "                [-P N] [--now EPOCH] [--max N] --spool | --watch\n";

struct options {
    struct smg_prog prog; /* -c, -d, -n, --log */
    const char *gateway;
    gboolean spool;
    gboolean watch;
    time_t now;
    unsigned processes; /* 0: [send] processes */
    unsigned max;
};

/* parse_options - getopt_long; exits EX_USAGE on bad options */
static void
parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        SMG_PROG_LONGOPTS,
        {"gateway", required_argument, NULL, 'g'},
        {"spool", no_argument, NULL, 's'},
        {"watch", no_argument, NULL, 'w'},
        {"processes", required_argument, NULL, 'P'},
        {"now", required_argument, NULL, 'N'},
        {"max", required_argument, NULL, 'M'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = smg_prog_getopt(&o->prog, argc, argv, SMG_PROG_OPTSTRING "P:",
                                longopts)) != -1) {
        switch (c) {
        case 'g': o->gateway = optarg; break;
        case 's': o->spool = TRUE; break;
        case 'w': o->watch = TRUE; break;
        case 'P': o->processes = (unsigned) smg_prog_number(&o->prog, optarg, 256); break;
        case 'N': o->now = (time_t) smg_prog_number(&o->prog, optarg, G_MAXUINT64); break;
        case 'M': o->max = (unsigned) smg_prog_number(&o->prog, optarg, G_MAXUINT); break;
        default: smg_prog_usage(&o->prog);
        }
    }
    if (optind != argc)
        smg_prog_usage(&o->prog);
    if (!o->prog.print && (o->gateway == NULL || o->spool == o->watch))
        smg_prog_usage(&o->prog);
}

/* recover - move files of dead workers back to new/ */
static enum smg_status
recover(struct smg_spool *spool, struct smg_delivery *d, GError **err)
{
    const char *queues[] = {smg_delivery_queue_send(d),
                            smg_delivery_queue_deferred(d), "hold"};
    enum smg_status st = SMG_OK;

    for (unsigned i = 0; i < G_N_ELEMENTS(queues) && st == SMG_OK; i++) {
        unsigned moved = 0;

        st = smg_spool_recover(spool, queues[i], &moved, err);
        if (st == SMG_OK && moved > 0)
            smg_log_info("%s: %u message(s) of a dead worker recovered", queues[i],
                         moved);
    }
    return st;
}

#define RESTART_MIN 1   /* seconds before a dead worker is started again */
#define RESTART_MAX 60  /* ... doubling up to this while it keeps dying */
#define RESTART_RESET 60 /* a worker that lived this long starts afresh */

struct worker {
    pid_t pid;          /* 0: not running */
    gint64 started;     /* monotonic seconds */
    gint64 restart_at;  /* monotonic seconds; 0: no restart due */
    unsigned delay;     /* the next restart's delay */
};

/* now_s - monotonic seconds */
static gint64
now_s(void)
{
    return g_get_monotonic_time() / G_USEC_PER_SEC;
}

/*
 * start_worker - fork worker i of n into *w (its pid and start time);
 * FALSE if fork failed.  Called with SIGTERM, SIGINT and SIGCHLD blocked;
 * the child sets their default actions and then restores mask, so that a
 * stop sent before smg_delivery_serve installs its handler ends the
 * worker (and counts as a clean stop) instead of being lost.
 */
static gboolean
start_worker(struct worker *w, struct smg_delivery *d, struct smg_spool *spool,
             const struct options *o, unsigned i, unsigned n, const sigset_t *mask)
{
    pid_t parent = getpid();
    GError *err = NULL;
    pid_t pid = fork();

    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        sigprocmask(SIG_SETMASK, mask, NULL);
        /* a worker does not outlive its parent, even one killed with
         * SIGKILL: the restarted service would run a second set beside it */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
            _exit(EX_TEMPFAIL);
        /* the files a killed worker had claimed: without this they would
         * wait in cur/ for the whole service's next start */
        if (recover(spool, d, &err) != SMG_OK) {
            smg_log_error("%s", err->message);
            _exit(EX_TEMPFAIL);
        }
        _exit(smg_delivery_serve(d, spool, o->watch, i, n, o->max));
    }
    if (pid < 0) {
        smg_log_error("fork: %s", g_strerror(errno));
        w->pid = 0;
        return FALSE;
    }
    w->pid = pid;
    w->started = now_s();
    return TRUE;
}

/*
 * run_workers - fork n workers and wait for them; the worst exit code.
 * Each worker delivers only the IDs of its own hash bucket, so in watch
 * mode one that ends while the parent is not stopping (a signal, an exit
 * status, or a stop of its own without --max) is started again, after
 * RESTART_MIN seconds, doubling while it keeps dying; otherwise its share
 * of the mail would wait for a restart of the service.  The parent keeps
 * SIGTERM, SIGINT and SIGCHLD blocked and takes them with sigtimedwait,
 * so that no stop falls between a check and a wait; a stop is passed on
 * to the workers and ends the run.
 */
static int
run_workers(struct smg_delivery *d, struct smg_spool *spool, const struct options *o,
            unsigned n)
{
    struct worker *w = g_new0(struct worker, n);
    struct sigaction sa = {0};
    sigset_t set, old;
    int rc = 0, told = 0, stop_sig = 0;
    unsigned live = 0;

    /* a SIGCHLD ignored by whoever started us would reap the workers
     * behind our back (waitpid: ECHILD) and the parent would wait forever */
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    for (unsigned i = 0; i < n; i++) {
        w[i].delay = RESTART_MIN;
        if (!start_worker(&w[i], d, spool, o, i, n, &old)) {
            rc = EX_OSERR;
            stop_sig = SIGTERM;
            break;
        }
        live++;
    }
    for (;;) {
        gint64 now = now_s(), next = 0;
        struct timespec ts = {RESTART_MAX, 0};
        siginfo_t info;
        pid_t pid;
        int status, sig;

        while ((pid = waitpid(-1, &status, WNOHANG)) != 0) {
            unsigned i;
            gboolean clean;

            if (pid < 0) {
                if (errno == EINTR)
                    continue;
                /* ECHILD: none left to wait for, whatever we thought */
                for (i = 0; i < n; i++)
                    w[i].pid = 0;
                live = 0;
                break;
            }
            for (i = 0; i < n && w[i].pid != pid; i++)
                ;
            if (i == n)
                continue;
            w[i].pid = 0;
            live--;
            clean = (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                    || (stop_sig != 0 && WIFSIGNALED(status) && WTERMSIG(status) == stop_sig);
            if (clean && (stop_sig != 0 || !o->watch || o->max != 0))
                continue; /* its work is done */
            if (o->watch && stop_sig == 0) {
                if (now - w[i].started >= RESTART_RESET)
                    w[i].delay = RESTART_MIN;
                if (WIFSIGNALED(status))
                    smg_log_warn("worker %u (pid %ld) was killed by signal %d; starting it "
                                 "again in %u s", i, (long) pid, WTERMSIG(status), w[i].delay);
                else
                    smg_log_warn("worker %u (pid %ld) exited %d; starting it again in %u s",
                                 i, (long) pid, WEXITSTATUS(status), w[i].delay);
                w[i].restart_at = now + w[i].delay;
                w[i].delay = MIN(w[i].delay * 2, RESTART_MAX);
                continue;
            }
            if (WIFEXITED(status))
                rc = MAX(rc, WEXITSTATUS(status));
            else if (rc == 0)
                rc = EX_SOFTWARE; /* killed, and not by the stop passed on */
        }
        if (stop_sig != 0) {
            if (told != stop_sig) {
                for (unsigned i = 0; i < n; i++)
                    if (w[i].pid > 0)
                        kill(w[i].pid, stop_sig);
                told = stop_sig;
            }
            if (live == 0)
                break;
        } else {
            for (unsigned i = 0; i < n; i++) {
                if (w[i].restart_at == 0)
                    continue;
                if (w[i].restart_at <= now) {
                    w[i].restart_at = 0;
                    if (start_worker(&w[i], d, spool, o, i, n, &old)) {
                        live++;
                        continue;
                    }
                    rc = MAX(rc, EX_OSERR);
                    stop_sig = SIGTERM;
                    break;
                }
                if (next == 0 || w[i].restart_at < next)
                    next = w[i].restart_at;
            }
            if (stop_sig != 0)
                continue;
            if (live == 0 && next == 0)
                break;
            if (next != 0)
                ts.tv_sec = MAX(next - now, 0);
        }
        sig = sigtimedwait(&set, &info, &ts);
        if (sig == SIGTERM || sig == SIGINT)
            stop_sig = sig;
    }
    {
        /* a stop that came as we finished is taken here, not by its
         * default action once the mask is restored */
        struct timespec zero = {0, 0};
        sigset_t stops;

        sigemptyset(&stops);
        sigaddset(&stops, SIGTERM);
        sigaddset(&stops, SIGINT);
        while (sigtimedwait(&stops, NULL, &zero) > 0)
            ;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    g_free(w);
    return rc;
}

int
main(int argc, char **argv)
{
    struct options o = {0};
    struct smg_conf *conf = NULL;
    struct smg_delivery *d = NULL;
    struct smg_spool *spool = NULL;
    GError *err = NULL;
    enum smg_status st;
    unsigned n;
    int rc;

    smg_prog_init(&o.prog, "smg-send", USAGE);
    parse_options(argc, argv, &o);
    conf = smg_prog_config(&o.prog);
    signal(SIGPIPE, SIG_IGN);
    st = smg_delivery_new(conf, o.gateway, &d, &err);
    if (st == SMG_OK)
        st = smg_privs_drop(conf, &err);
    if (st == SMG_OK)
        st = smg_spool_open_conf(conf, &spool, &err);
    if (st == SMG_OK)
        st = recover(spool, d, &err);
    if (st != SMG_OK) {
        smg_log_error("%s", err->message);
        fprintf(stderr, "smg-send: fatal: %s\n", err->message);
        g_clear_error(&err);
        smg_delivery_free(d);
        smg_conf_free(conf);
        return smg_status_exit(st);
    }
    smg_delivery_set_now(d, o.now);
    n = o.processes != 0 ? o.processes : (unsigned) smg_conf_int(conf, "send", "processes");
    if (n <= 1)
        rc = smg_delivery_serve(d, spool, o.watch, 0, 1, o.max);
    else
        rc = run_workers(d, spool, &o, n);
    smg_delivery_free(d);
    smg_spool_close(spool);
    smg_conf_free(conf);
    return rc;
}

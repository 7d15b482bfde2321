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
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <glib.h>

#include "lib/config.h"
#include "lib/delivery.h"
#include "lib/log.h"
#include "lib/privs.h"
#include "lib/spool.h"

static const char USAGE[] =
    "usage: smg-send [-dnhV] [-c FILE] [--log syslog|stderr] --gateway NAME\n"
    "                [-P N] [--now EPOCH] [--max N] --spool | --watch\n";

struct options {
    const char *config;
    const char *gateway;
    gboolean debug;
    gboolean print;
    gboolean spool;
    gboolean watch;
    enum smg_log_dest log;
    time_t now;
    unsigned processes; /* 0: [send] processes */
    unsigned max;
};

static volatile sig_atomic_t stop_sig;

/* on_stop - the parent remembers the signal to pass on */
static void
on_stop(int sig)
{
    stop_sig = sig;
}

/* usage_exit - print the usage on stderr and exit EX_USAGE */
static G_NORETURN void
usage_exit(void)
{
    fputs(USAGE, stderr);
    exit(EX_USAGE);
}

/* number - a positive decimal option value, or usage_exit */
static guint64
number(const char *s)
{
    char *end;
    guint64 v = g_ascii_strtoull(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v == 0)
        usage_exit();
    return v;
}

/* parse_options - getopt_long; exits EX_USAGE on bad options */
static void
parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"debug", no_argument, NULL, 'd'},
        {"log", required_argument, NULL, 'L'},
        {"gateway", required_argument, NULL, 'g'},
        {"spool", no_argument, NULL, 's'},
        {"watch", no_argument, NULL, 'w'},
        {"processes", required_argument, NULL, 'P'},
        {"now", required_argument, NULL, 'N'},
        {"max", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "c:dnhVP:", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'd': o->debug = TRUE; o->log = SMG_LOG_STDERR; break;
        case 'n': o->print = TRUE; break;
        case 'L':
            if (!smg_log_parse_dest(optarg, &o->log))
                usage_exit();
            break;
        case 'g': o->gateway = optarg; break;
        case 's': o->spool = TRUE; break;
        case 'w': o->watch = TRUE; break;
        case 'P': o->processes = (unsigned) MIN(number(optarg), 256); break;
        case 'N': o->now = (time_t) number(optarg); break;
        case 'M': o->max = (unsigned) MIN(number(optarg), G_MAXUINT); break;
        case 'h': fputs(USAGE, stdout); exit(0);
        case 'V': puts("smg-send " PACKAGE_VERSION); exit(0);
        default: usage_exit();
        }
    }
    if (optind != argc)
        usage_exit();
    if (!o->print && (o->gateway == NULL || o->spool == o->watch))
        usage_exit();
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

/* run_workers - fork n workers and wait for them; the worst exit code */
static int
run_workers(struct smg_delivery *d, struct smg_spool *spool, const struct options *o,
            unsigned n)
{
    GArray *pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
    struct sigaction sa = {0};
    int rc = 0;

    for (unsigned i = 0; i < n; i++) {
        pid_t pid = fork();

        if (pid == 0) {
            g_array_free(pids, TRUE);
            _exit(smg_delivery_serve(d, spool, o->watch, i, n, o->max));
        }
        if (pid < 0) {
            smg_log_error("fork: %s", g_strerror(errno));
            rc = EX_OSERR;
            break;
        }
        g_array_append_val(pids, pid);
    }
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    for (guint left = pids->len; left > 0;) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);

        if (pid < 0 && errno == EINTR) {
            for (guint i = 0; i < pids->len; i++)
                kill(g_array_index(pids, pid_t, i), stop_sig != 0 ? stop_sig : SIGTERM);
            continue;
        }
        if (pid < 0)
            break;
        left--;
        if (WIFEXITED(status) && WEXITSTATUS(status) > rc)
            rc = WEXITSTATUS(status);
        else if (WIFSIGNALED(status) && rc == 0)
            rc = EX_SOFTWARE;
    }
    g_array_free(pids, TRUE);
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

    smg_log_init("smg-send", SMG_LOG_STDERR, FALSE);
    o.log = SMG_LOG_SYSLOG;
    parse_options(argc, argv, &o);
    if (smg_conf_load(o.config, &conf, &err) != SMG_OK) {
        fprintf(stderr, "smg-send: fatal: %s\n", err->message);
        return EX_CONFIG;
    }
    if (o.print) {
        smg_conf_print(conf, stdout, TRUE);
        return 0;
    }
    smg_log_init("smg-send", o.log, o.debug);
    signal(SIGPIPE, SIG_IGN);
    st = smg_delivery_new(conf, o.gateway, &d, &err);
    if (st == SMG_OK)
        st = smg_privs_drop(conf, &err);
    if (st == SMG_OK)
        st = smg_spool_open(smg_conf_str(conf, "spool", "dir"),
                            smg_conf_bool(conf, "spool", "sync"), &spool, &err);
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

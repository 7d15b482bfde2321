/*
 * smg-route - choose the egress pool and gateway of each message.
 *
 * Reads queue "route" (spool and watch modes) or one message on stdin
 * (filter mode), writes the decision as an SMG-Route field and hands the
 * message to queue "send.GATEWAY", or prints it on stdout.  --explain
 * prints the decision and why for the message on stdin, changing nothing;
 * --spf prints the SPF record of the gateways' addresses as quoted TXT
 * strings (a warning when it is too long for UDP).  The decision is
 * made in lib/route (read route.h).  Exit status: 0 routed, 64 usage,
 * 65 bad message, 74 standard output not written (--spf, --explain),
 * 75 temporary failure, 78 config.  See smg-route(8).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <glib.h>

#include "lib/config.h"
#include "lib/envelope.h"
#include "lib/log.h"
#include "lib/privs.h"
#include "lib/prog.h"
#include "lib/route.h"
#include "lib/spool.h"
#include "lib/stage.h"

static const char USAGE[] =
    "usage: smg-route [-dnhV] [-c FILE] [--log syslog|stderr] [--now EPOCH]\n"
    "                 [--spool | --watch | --explain | --spf]\n";

enum action { ACT_FILTER = 0, ACT_SPOOL, ACT_WATCH, ACT_EXPLAIN, ACT_SPF };

struct options {
    struct smg_prog prog; /* -c, -d, -n, --log */
    enum action action;
    time_t now;
};

struct ctx {
    struct smg_route *route;
    char *queue; /* the last message's next queue, for the result */
};

/* parse_options - getopt_long; exits EX_USAGE on bad options */
static void
parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        SMG_PROG_LONGOPTS,
        {"spool", no_argument, NULL, 's'},
        {"watch", no_argument, NULL, 'w'},
        {"explain", no_argument, NULL, 'e'},
        {"spf", no_argument, NULL, 'S'},
        {"now", required_argument, NULL, 'N'},
        {NULL, 0, NULL, 0},
    };
    int c, actions = 0;
    char *end;

    while ((c = smg_prog_getopt(&o->prog, argc, argv, SMG_PROG_OPTSTRING,
                                longopts)) != -1) {
        switch (c) {
        case 's': o->action = ACT_SPOOL; actions++; break;
        case 'w': o->action = ACT_WATCH; actions++; break;
        case 'e': o->action = ACT_EXPLAIN; actions++; break;
        case 'S': o->action = ACT_SPF; actions++; break;
        case 'N':
            o->now = (time_t) g_ascii_strtoll(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || o->now <= 0)
                smg_prog_usage(&o->prog);
            break;
        default: smg_prog_usage(&o->prog);
        }
    }
    if (optind != argc || actions > 1)
        smg_prog_usage(&o->prog);
}

/* route_one - the stage function: decide, write SMG-Route, pick the queue */
static enum smg_status
route_one(void *vctx, const char *id, const char *buf, gsize len,
          struct smg_envelope *env, gsize body_offset,
          struct smg_stage_result *res, GError **err)
{
    struct ctx *ctx = vctx;
    struct smg_route_decision d;
    enum smg_status st;
    char *value;

    st = smg_route_decide(ctx->route, id, env, &d, err);
    if (st != SMG_OK)
        return st;
    value = g_strdup_printf("pool=%s gateway=%s reason=%s",
                            smg_route_pool_name(d.pool), d.gateway, d.reason);
    smg_envelope_set(env, "Route", value);
    res->out = g_string_sized_new(len + 64);
    smg_envelope_write(env, res->out);
    g_string_append_len(res->out, buf + body_offset, (gssize) (len - body_offset));
    g_free(ctx->queue);
    ctx->queue = g_strdup_printf("send.%s", d.gateway);
    res->queue = ctx->queue;
    res->log = g_strdup_printf("pool=%s, gateway=%s, reason=%s",
                               smg_route_pool_name(d.pool), d.gateway, d.reason);
    g_free(value);
    smg_route_decision_clear(&d);
    return SMG_OK;
}

/* explain - print the decision for the message on stdin */
static int
explain(struct smg_route *route)
{
    GString *in = g_string_new(NULL);
    char chunk[65536];
    size_t n;
    struct smg_envelope *env = NULL;
    struct smg_route_decision d;
    GError *err = NULL;
    gsize off;

    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        g_string_append_len(in, chunk, (gssize) n);
    if (ferror(stdin)) {
        fprintf(stderr, "smg-route: fatal: cannot read standard input\n");
        g_string_free(in, TRUE);
        return EX_IOERR;
    }
    if (smg_envelope_parse(in->str, in->len, &env, &off, &err) != SMG_OK) {
        fprintf(stderr, "smg-route: fatal: %s\n", err->message);
        g_clear_error(&err);
        g_string_free(in, TRUE);
        return EX_DATAERR;
    }
    if (smg_route_decide(route, env->queue_id != NULL ? env->queue_id : "-",
                         env, &d, &err) != SMG_OK) {
        fprintf(stderr, "smg-route: fatal: %s\n", err->message);
        g_clear_error(&err);
        smg_envelope_free(env);
        g_string_free(in, TRUE);
        return EX_SOFTWARE;
    }
    fputs(d.explain->str, stdout);
    printf("decision: pool=%s gateway=%s reason=%s queue=send.%s\n",
           smg_route_pool_name(d.pool), d.gateway, d.reason, d.gateway);
    smg_route_decision_clear(&d);
    smg_envelope_free(env);
    g_string_free(in, TRUE);
    return smg_prog_flush_stdout(NULL, 0);
}

/* rescue_queue - move every message of QUEUE (of gateway gw) to route/ */
static void
rescue_queue(struct smg_spool *spool, const char *queue, const char *gw)
{
    GError *err = NULL;
    GPtrArray *names = NULL;

    if (smg_spool_recover(spool, queue, NULL, &err) != SMG_OK
        || (names = smg_spool_list(spool, queue, 0, NULL, NULL, &err)) == NULL) {
        smg_log_warn("%s: cannot reroute its messages: %s", queue, err->message);
        g_error_free(err);
        return;
    }
    for (guint i = 0; i < names->len; i++) {
        struct smg_spool_msg *m = NULL;

        if (smg_spool_claim(spool, queue, names->pdata[i], &m, &err) != SMG_OK || m == NULL) {
            g_clear_error(&err); /* taken meanwhile, or set aside by the claim */
            continue;
        }
        if (smg_spool_move(m, "route", time(NULL), &err) == SMG_OK) {
            smg_log_info("%s: queue=%s, status=rerouted, reason=gateway %s is not in the "
                         "configuration", m->id, queue, gw);
        } else {
            smg_log_warn("%s: queue=%s, cannot reroute it: %s", m->id, queue, err->message);
            g_clear_error(&err);
            smg_spool_release(m, queue);
        }
        smg_spool_msg_free(m);
    }
    g_ptr_array_unref(names);
}

/*
 * rescue - the queues send.GW and deferred.GW of a gateway taken out of the
 * configuration have no smg-send: their messages would wait there for
 * ever, neither delivered nor bounced.  They go to route/, to be routed to
 * a gateway there is.  Run when a spool or watch run starts; a failure is
 * logged and left for the next start.
 */
static void
rescue(const struct smg_conf *conf)
{
    char **gws = smg_conf_gateways(conf);
    struct smg_spool *spool = NULL;
    GError *err = NULL;
    GDir *dir = NULL;
    const char *name;

    if (gws == NULL || gws[0] == NULL)
        goto out; /* no gateway at all: smg_route_new refuses that */
    if (smg_spool_open_conf(conf, &spool, &err) != SMG_OK) {
        smg_log_warn("cannot look for queues of removed gateways: %s", err->message);
        g_error_free(err);
        goto out;
    }
    dir = g_dir_open(smg_spool_dir(spool), 0, NULL);
    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        const char *gw = g_str_has_prefix(name, "send.")       ? name + strlen("send.")
                         : g_str_has_prefix(name, "deferred.") ? name + strlen("deferred.")
                                                               : NULL;

        if (gw != NULL && *gw != '\0' && smg_spool_valid_queue(name)
            && !g_strv_contains((const char *const *) gws, gw))
            rescue_queue(spool, name, gw);
    }
out:
    if (dir != NULL)
        g_dir_close(dir);
    if (spool != NULL)
        smg_spool_close(spool);
    g_strfreev(gws);
}

/* print_spf - the SPF record of the gateways */
static int
print_spf(const struct smg_conf *conf)
{
    char *rec = NULL, *skipped = NULL, *txt;
    GError *err = NULL;
    enum smg_status st = smg_route_spf(conf, &rec, &skipped, &err);

    if (st != SMG_OK) {
        fprintf(stderr, "smg-route: fatal: %s\n", err->message);
        g_clear_error(&err);
        return smg_status_exit(st);
    }
    txt = smg_route_txt_strings(rec);
    puts(txt);
    if (*skipped != '\0')
        fprintf(stderr, "smg-route: not listed, their mail leaves from an address "
                "not known here (add it to the record by hand): %s\n", skipped);
    if (strlen(rec) > SMG_ROUTE_SPF_UDP_MAX)
        fprintf(stderr,
                "smg-route: warning: the SPF record is %zu bytes, over %d: "
                "its answer may not fit in UDP (RFC 7208 section 3.4)\n",
                strlen(rec), SMG_ROUTE_SPF_UDP_MAX);
    g_free(txt);
    g_free(rec);
    g_free(skipped);
    return smg_prog_flush_stdout(NULL, 0);
}

int
main(int argc, char **argv)
{
    struct options o = {0};
    struct smg_conf *conf = NULL;
    struct ctx ctx = {0};
    GError *err = NULL;
    enum smg_status st;
    struct smg_stage stage = {"route", "route", NULL, route_one, &ctx, NULL};
    enum smg_stage_mode mode = SMG_STAGE_FILTER;
    int rc;

    smg_prog_init(&o.prog, "smg-route", USAGE);
    parse_options(argc, argv, &o);
    if (o.action == ACT_SPF) {
        /* prints a record for a person: -d and --log do not apply */
        o.prog.log = SMG_LOG_STDERR;
        o.prog.debug = FALSE;
    } else if (o.action == ACT_EXPLAIN) {
        o.prog.log = SMG_LOG_STDERR;
    }
    conf = smg_prog_config(&o.prog);
    if (o.action == ACT_SPF) {
        rc = print_spf(conf);
        smg_conf_free(conf);
        return rc;
    }
    st = smg_route_new(conf, &ctx.route, &err);
    if (st == SMG_OK)
        st = smg_privs_drop(conf, &err);
    if (st != SMG_OK) {
        smg_log_error("%s", err->message);
        fprintf(stderr, "smg-route: fatal: %s\n", err->message);
        g_clear_error(&err);
        rc = smg_status_exit(st);
        goto out;
    }
    smg_route_set_now(ctx.route, o.now);
    switch (o.action) {
    case ACT_EXPLAIN:
        rc = explain(ctx.route);
        goto out;
    case ACT_SPOOL: mode = SMG_STAGE_SPOOL; break;
    case ACT_WATCH: mode = SMG_STAGE_WATCH; break;
    default: mode = SMG_STAGE_FILTER; break;
    }
    if (mode != SMG_STAGE_FILTER)
        rescue(conf);
    rc = smg_stage_run(&stage, conf, mode, 0);
out:
    g_free(ctx.queue);
    smg_route_free(ctx.route);
    smg_conf_free(conf);
    return rc;
}

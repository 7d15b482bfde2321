/*
 * smg-scan - the gateway's virus scanner: every message is scanned with
 * libclamav before it may be signed and sent.
 *
 * Filter mode (default): one message on stdin, the message with its
 * SMG-Virus: verdict on stdout.  Spool mode (--spool, --watch): messages
 * are claimed from queue "scan"; clean ones go on to "sign", infected
 * ones to "quarantine" with a non-delivery report to their sender (queue
 * "sign", ID = the original's + "N").  The engine is loaded once per
 * process from [scan] database and reloaded between messages when that
 * folder changes.  Quarantined files older than [scan]
 * quarantine_retention are removed by spool and watch mode (and by
 * --expire-quarantine).  Exit status: 0 clean (or spool run done),
 * 1 infected (filter mode), 64 usage, 65 bad message, 74 standard input
 * or output (filter mode), 75 engine or database unusable (nothing passes
 * unscanned), 78 config.  See
 * smg-scan(8).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <glib.h>

#include "lib/av.h"
#include "lib/config.h"
#include "lib/dsn.h"
#include "lib/log.h"
#include "lib/privs.h"
#include "lib/prog.h"
#include "lib/stage.h"

static const char USAGE[] =
    "usage: smg-scan [-dnhV] [-c FILE] [--log syslog|stderr]\n"
    "                [--spool | --watch | --expire-quarantine]\n";

struct options {
    struct smg_prog prog; /* -c, -d, -n, --log */
    gboolean expire_only;
    enum smg_stage_mode mode;
};

struct scan {
    const struct smg_conf *conf;
    struct smg_av *av;
    struct smg_customers *domains; /* NULL: customers' domains unknown */
    const char *hostname;
    enum smg_stage_mode mode;
    gboolean ndr;
    gboolean limit_reject;
    gint64 reload_interval; /* seconds */
    gint64 last_check;      /* monotonic seconds */
    gboolean reload_failed; /* the last check could not load the databases */
    gint64 retention;       /* seconds; 0: keep quarantine forever */
    gint64 last_expire;     /* monotonic seconds */
};

#define EXPIRE_EVERY 3600

/* parse_options - getopt_long; exits EX_USAGE on bad options */
static void
parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        SMG_PROG_LONGOPTS,
        {"spool", no_argument, NULL, 's'},
        {"watch", no_argument, NULL, 'w'},
        {"expire-quarantine", no_argument, NULL, 'e'},
        {NULL, 0, NULL, 0},
    };
    int c, modes = 0;

    while ((c = smg_prog_getopt(&o->prog, argc, argv, SMG_PROG_OPTSTRING,
                                longopts)) != -1) {
        switch (c) {
        case 's': o->mode = SMG_STAGE_SPOOL; modes++; break;
        case 'w': o->mode = SMG_STAGE_WATCH; modes++; break;
        case 'e': o->expire_only = TRUE; modes++; break;
        default: smg_prog_usage(&o->prog);
        }
    }
    if (optind != argc || modes > 1)
        smg_prog_usage(&o->prog);
}

/* expire_dir - remove files of dir last changed before cutoff; log each
 * as expired when logged */
static unsigned
expire_dir(const char *dir, time_t cutoff, gboolean logged)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    unsigned n = 0;

    if (d == NULL) {
        if (errno != ENOENT)
            smg_log_warn("quarantine: %s: %s", dir, g_strerror(errno));
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        struct stat sb;

        if (de->d_name[0] == '.')
            continue;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0
            || !S_ISREG(sb.st_mode) || sb.st_mtime >= cutoff)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
            if (logged)
                smg_log_info("%s: status=expired, queue=quarantine", de->d_name);
            n++;
        } else if (errno != ENOENT) {
            smg_log_warn("quarantine: %s/%s: %s", dir, de->d_name, g_strerror(errno));
        }
    }
    closedir(d);
    return n;
}

/*
 * expire_quarantine - remove quarantined files older than the retention.
 * Files in quarantine/cur are an operator's (smg-queue) and are left alone.
 * quarantine/ has no worker of its own to recover it: the files a batch
 * wrote to its tmp/ and never renamed (a crash) go after 36 hours, as
 * smg_spool_recover removes them from a stage's queue.
 */
static void
expire_quarantine(struct scan *s)
{
    const char *spool = smg_conf_str(s->conf, "spool", "dir");
    char *dir;

    s->last_expire = g_get_monotonic_time() / G_USEC_PER_SEC;
    dir = g_build_filename(spool, "quarantine", "tmp", NULL);
    expire_dir(dir, time(NULL) - 36 * 3600, FALSE);
    g_free(dir);
    if (s->retention <= 0)
        return;
    dir = g_build_filename(spool, "quarantine", "new", NULL);
    expire_dir(dir, time(NULL) - (time_t) s->retention, TRUE);
    g_free(dir);
}

/* reload_check - reload the engine if its database folder changed */
static void
reload_check(struct scan *s)
{
    GError *err = NULL;
    gboolean reloaded = FALSE;

    s->last_check = g_get_monotonic_time() / G_USEC_PER_SEC;
    s->reload_failed = FALSE;
    if (smg_av_reload_check(s->av, &reloaded, &err) != SMG_OK) {
        smg_log_warn("database reload failed, still using the loaded one, next try in %"
                     G_GINT64_FORMAT "s: %s", s->reload_interval, err->message);
        g_clear_error(&err);
        s->reload_failed = TRUE;
    } else if (reloaded) {
        smg_log_info("database reloaded: signatures=%u", smg_av_signatures(s->av));
    }
}

/*
 * scan_idle - between messages in watch mode: reload, expire quarantine.
 * The folder is checked whenever the queue runs empty, but after a failed
 * load (which costs as much as a good one) only once reload_interval has
 * passed: a broken file would otherwise be loaded again at every wake-up.
 */
static enum smg_status
scan_idle(void *ctx, GError **err)
{
    struct scan *s = ctx;

    (void) err;
    if (!s->reload_failed
        || g_get_monotonic_time() / G_USEC_PER_SEC - s->last_check >= s->reload_interval)
        reload_check(s);
    if (g_get_monotonic_time() / G_USEC_PER_SEC - s->last_expire >= EXPIRE_EVERY)
        expire_quarantine(s);
    return SMG_OK;
}

/*
 * header_len - the length of msg's leading header fields: lines that are
 * a field (a name, then a colon) or continue one, up to the first line
 * that is neither (the blank line, or body text in a message without one)
 */
static gsize
header_len(const char *msg, gsize len)
{
    gsize pos = 0;

    while (pos < len) {
        const char *line = msg + pos;
        const char *nl = memchr(line, '\n', len - pos);
        gsize n = nl != NULL ? (gsize) (nl - line) + 1 : len - pos;
        gsize i = 0;

        if (*line == ' ' || *line == '\t') {
            if (pos == 0)
                break;
        } else {
            while (i < n && line[i] > ' ' && line[i] < 127 && line[i] != ':')
                i++;
            while (i > 0 && i < n && (line[i] == ' ' || line[i] == '\t'))
                i++;
            if (i == 0 || i >= n || line[i] != ':')
                break;
        }
        pos += n;
    }
    return pos;
}

/*
 * returned_header - how much of the message (at buf + off) the NDR may
 * return: its header fields, or nothing when the scanner finds anything
 * in them (a virus in a field, or in a message without a blank line whose
 * text would be taken as header) or cannot scan them
 */
static gsize
returned_header(struct scan *s, const char *buf, gsize len, gsize off)
{
    gsize n = header_len(buf + off, len - off);
    struct smg_av_result r;
    GError *err = NULL;
    gboolean clean;

    if (n == 0)
        return 0;
    clean = smg_av_scan(s->av, buf + off, n, &r, &err) == SMG_OK
            && r.verdict == SMG_AV_CLEAN && r.limit == NULL;
    g_clear_error(&err);
    smg_av_result_clear(&r);
    return clean ? n : 0;
}

/* add_ndr - the report to the sender of an infected message, if it may go */
static void
add_ndr(struct scan *s, const char *id, const char *buf, gsize len,
        const struct smg_envelope *env, gsize off, const char *virus,
        struct smg_stage_result *res, GString *log)
{
    struct smg_dsn_report rep = {0};
    struct smg_dsn_rcpt *rcpts;
    const char *why = NULL;
    char *reason, *diag, *nid;
    GString *ndr = NULL;
    GError *err = NULL;
    gsize hdr;

    if (!s->ndr) {
        g_string_append(log, ", ndr=none (off)");
        return;
    }
    if (!smg_dsn_domains_allows(s->domains, env, &why)) {
        g_string_append_printf(log, ", ndr=none (%s)", why);
        return;
    }
    nid = smg_dsn_queue_id(id, "N"); /* a repeated run replaces it */
    hdr = returned_header(s, buf, len, off);
    diag = g_strdup_printf("X-smg; virus found: %s", virus);
    reason = g_strdup_printf(
        "Your message was not sent. The virus scanner of this mail gateway found "
        "\"%s\" in it, so it has been put in quarantine and none of its recipients "
        "received it.\n\n"
        "Please check the computer or application that sent the message with an "
        "up-to-date virus scanner and remove the infected content before you send "
        "the message again. If you believe this is a mistake, contact your mail "
        "administrator and quote the queue ID %s.\n",
        virus, id);
    rcpts = g_new0(struct smg_dsn_rcpt, env->rcpts->len);
    for (guint i = 0; i < env->rcpts->len; i++) {
        const struct smg_rcpt *r = env->rcpts->pdata[i];
        rcpts[i].addr = r->addr;
        rcpts[i].params = r->params;
        rcpts[i].action = SMG_DSN_FAILED;
        rcpts[i].status = "5.7.1";
        rcpts[i].diagnostic = diag;
    }
    rep.reporting_mta = s->hostname;
    rep.reason = reason;
    rep.subject = "Undelivered Mail: virus found";
    rep.id = nid;
    rep.headers_only = TRUE; /* never send the virus back */
    /* the report returns buf[off..off + hdr): the header fields, if clean */
    if (smg_dsn_build(&rep, env, buf, off + hdr, off, rcpts, env->rcpts->len, &ndr, &err)
        != SMG_OK) {
        g_string_append_printf(log, ", ndr=none (%s)", err->message);
        g_clear_error(&err);
    } else if (ndr == NULL) {
        g_string_append(log, ", ndr=none (not requested)");
    } else {
        smg_stage_add_extra(res, "sign", nid, ndr);
        g_string_append_printf(log, ", ndr=%s", nid);
    }
    g_free(rcpts);
    g_free(reason);
    g_free(diag);
    g_free(nid);
}

/* scan_message - the stage function: scan, record the verdict, route */
static enum smg_status
scan_message(void *ctx, const char *id, const char *buf, gsize len,
             struct smg_envelope *env, gsize off, struct smg_stage_result *res,
             GError **err)
{
    struct scan *s = ctx;
    struct smg_av_result r;
    GString *verdict, *log;
    const char *virus;
    gboolean infected;
    gint64 t0;
    enum smg_status st;

    if (s->mode != SMG_STAGE_FILTER
        && g_get_monotonic_time() / G_USEC_PER_SEC - s->last_check >= s->reload_interval)
        reload_check(s);
    t0 = g_get_monotonic_time();
    st = smg_av_scan(s->av, buf + off, len - off, &r, err);
    if (st != SMG_OK)
        return st;
    if (r.unscanned && !s->limit_reject) {
        /* none of it was scanned: no limit_action = pass makes that clean */
        const char *key = strstr(r.limit, "MaxScanSize") != NULL ? "max_scan_size"
                                                                 : "max_file_size";

        smg_set_error(err, SMG_PERMFAIL, "5.3.4",
                      "message not scanned: %zu bytes, more than [scan] %s (%" G_GINT64_FORMAT ")",
                      len - off, key, smg_conf_int(s->conf, "scan", key));
        smg_av_result_clear(&r);
        return SMG_PERMFAIL;
    }
    infected = r.verdict == SMG_AV_INFECTED || (r.limit != NULL && s->limit_reject);
    virus = r.virus != NULL ? r.virus : r.limit;

    verdict = g_string_new(NULL);
    g_string_append_printf(verdict, "verdict=%s engine=%s signatures=%u",
                           infected ? "infected" : "clean", smg_av_engine(s->av),
                           smg_av_signatures(s->av));
    if (smg_av_db_version(s->av) != 0)
        g_string_append_printf(verdict, " db=%u", smg_av_db_version(s->av));
    if (infected)
        g_string_append_printf(verdict, " virus=%s", virus);
    if (r.limit != NULL)
        g_string_append_printf(verdict, " limit=%s", r.limit);
    smg_envelope_set(env, "Virus", verdict->str);
    g_string_free(verdict, TRUE);
    res->out = g_string_sized_new(len + 256);
    smg_envelope_write(env, res->out);
    g_string_append_len(res->out, buf + off, (gssize) (len - off));

    log = g_string_new(NULL);
    g_string_append_printf(log, "verdict=%s", infected ? "infected" : "clean");
    if (infected)
        g_string_append_printf(log, ", virus=%s", virus);
    if (r.limit != NULL)
        g_string_append_printf(log, ", limit=%s", r.limit);
    g_string_append_printf(log, ", size=%zu, scan_time=%.3fs", len - off,
                           (double) (g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
    if (infected) {
        res->flagged = TRUE;
        res->queue = "quarantine";
        if (s->mode != SMG_STAGE_FILTER)
            add_ndr(s, id, buf, len, env, off, virus, res, log);
    }
    res->log = g_string_free(log, FALSE);
    smg_av_result_clear(&r);
    return SMG_OK;
}

/* hostname - the name the reports give as Reporting-MTA */
static const char *
hostname(const struct smg_conf *conf)
{
    const char *h = smg_conf_str(conf, "scan", "hostname");

    if (h == NULL)
        h = smg_conf_str(conf, "recv", "hostname");
    return h != NULL ? h : g_get_host_name();
}

/*
 * warn_limits - say at start when [scan] max_file_size or max_scan_size is
 * below [recv] max_message_size: the mail between them, which smg-recv
 * accepts, can never be scanned and would all be held or refused
 */
static void
warn_limits(const struct smg_conf *conf, gboolean reject)
{
    static const char *const keys[] = {"max_file_size", "max_scan_size"};
    gint64 msg = smg_conf_int(conf, "recv", "max_message_size");

    for (unsigned i = 0; i < G_N_ELEMENTS(keys); i++) {
        gint64 v = smg_conf_int(conf, "scan", keys[i]);
        if (v < msg)
            smg_log_warn("[scan] %s (%" G_GINT64_FORMAT ") is less than [recv] "
                         "max_message_size (%" G_GINT64_FORMAT "): messages between "
                         "the two cannot be scanned and are %s; raise %s",
                         keys[i], v, msg, reject ? "refused as infected" : "held",
                         keys[i]);
    }
}

int
main(int argc, char **argv)
{
    struct options o = {0};
    struct smg_conf *conf = NULL;
    struct smg_av_options ao = {0};
    struct scan s = {0};
    struct smg_stage stage = {0};
    GError *err = NULL;
    enum smg_status st = SMG_OK;
    const char *table;
    int rc;

    smg_prog_init(&o.prog, "smg-scan", USAGE);
    o.mode = SMG_STAGE_FILTER;
    parse_options(argc, argv, &o);
    conf = smg_prog_config(&o.prog);
    s.conf = conf;
    s.mode = o.mode;
    s.hostname = hostname(conf);
    s.ndr = smg_conf_bool(conf, "scan", "ndr");
    s.limit_reject = strcmp(smg_conf_str(conf, "scan", "limit_action"), "reject") == 0;
    s.reload_interval = smg_conf_int(conf, "scan", "reload_interval");
    s.retention = smg_conf_int(conf, "scan", "quarantine_retention");
    if (!o.expire_only)
        warn_limits(conf, s.limit_reject);
    table = smg_conf_str(conf, "scan", "customer_domains");
    if (table != NULL)
        st = smg_customers_load(table, &s.domains, &err);
    if (st == SMG_OK)
        st = smg_privs_drop(conf, &err);
    if (st == SMG_OK && !o.expire_only) {
        ao.database = smg_conf_str(conf, "scan", "database");
        ao.max_scan_size = (guint64) smg_conf_int(conf, "scan", "max_scan_size");
        ao.max_file_size = (guint64) smg_conf_int(conf, "scan", "max_file_size");
        ao.max_recursion = (guint) smg_conf_int(conf, "scan", "max_recursion");
        ao.max_files = (guint) smg_conf_int(conf, "scan", "max_files");
        ao.max_scan_time = (guint) smg_conf_int(conf, "scan", "max_scan_time") * 1000;
        ao.alert_encrypted = smg_conf_bool(conf, "scan", "alert_encrypted");
        ao.alert_macros = smg_conf_bool(conf, "scan", "alert_macros");
        ao.tmpdir = smg_conf_str(conf, "scan", "tmpdir");
        st = smg_av_open(&ao, &s.av, &err);
    }
    if (st != SMG_OK) {
        /* nothing was taken: the messages stay where they are */
        smg_log_error("%s", err->message);
        fprintf(stderr, "smg-scan: fatal: %s\n", err->message);
        rc = smg_status_exit(st);
    } else if (o.expire_only) {
        expire_quarantine(&s);
        rc = 0;
    } else {
        smg_log_debug("engine %s loaded: signatures=%u", smg_av_engine(s.av),
                      smg_av_signatures(s.av));
        s.last_check = g_get_monotonic_time() / G_USEC_PER_SEC;
        if (o.mode != SMG_STAGE_FILTER)
            expire_quarantine(&s);
        stage.name = "scan";
        stage.queue_in = "scan";
        stage.queue_out = "sign";
        stage.fn = scan_message;
        stage.ctx = &s;
        stage.idle = scan_idle;
        rc = smg_stage_run(&stage, conf, o.mode, 0);
    }
    g_clear_error(&err);
    smg_av_free(s.av);
    smg_customers_free(s.domains);
    smg_conf_free(conf);
    return rc;
}

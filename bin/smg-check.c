/*
 * smg-check - spam scoring: rules, a Bayesian classifier and optionally
 * rspamd decide whether a message leaves through the good or the bad
 * gateways.
 *
 * Filter mode (default): one message on stdin, on stdout the same message
 * with an SMG-Spam field (SMG-* fields further down its header removed);
 * exit 0 ham, 1 spam.  Spool mode (--spool, or
 * --watch to keep waiting): messages from queue "check" get their SMG-Spam
 * field and go to queue "scan"; the customer's counters in STATE_DIR/
 * spamstats are updated once the message is handed on.  Tools:
 * --learn-spam/--learn-ham PATH|- add to the Bayes database (a message
 * learned before is not counted again, or moves when learned as the other
 * class); --explain prints what moved the score of the message on
 * stdin; --score PATH... prints one verdict per file; --sender ADDR runs
 * smg-recv's sender-domain check.  Exit status: 0 ham / done, 1 spam
 * (filter, --explain) or refused domain (--sender), 64 usage, 65 bad
 * message, 74 I/O, 75 temporary failure, 78 config.  See smg-check(8).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "lib/addr.h"
#include "lib/bayes.h"
#include "lib/config.h"
#include "lib/dns.h"
#include "lib/envelope.h"
#include "lib/log.h"
#include "lib/privs.h"
#include "lib/prog.h"
#include "lib/spam.h"
#include "lib/spamstats.h"
#include "lib/stage.h"

static const char USAGE[] =
    "usage: smg-check [-dnhV] [-c FILE] [--log syslog|stderr] [--spool | --watch] [--max N]\n"
    "       smg-check [-c FILE] --learn-spam PATH|- [--learn-ham PATH|-]...\n"
    "       smg-check [-c FILE] --explain < message\n"
    "       smg-check [-c FILE] --score PATH...\n"
    "       smg-check [-c FILE] --sender ADDRESS\n";

enum tool { TOOL_STAGE = 0, TOOL_LEARN, TOOL_EXPLAIN, TOOL_SCORE, TOOL_SENDER };

struct options {
    struct smg_prog prog; /* -c, -d, -n, --log */
    enum smg_stage_mode mode;
    unsigned max;
    enum tool tool;
    GPtrArray *learn; /* "s:PATH" / "h:PATH" */
    const char *sender;
};

struct check_ctx {
    struct smg_spam *sp;
    const struct smg_conf *conf;
    gboolean counters; /* update the per-customer counters */
};

/* set_tool - select a tool; two different ones are a usage error */
static void
set_tool(struct options *o, enum tool t)
{
    if (o->tool != TOOL_STAGE && o->tool != t)
        smg_prog_usage(&o->prog);
    o->tool = t;
}

/* parse_options - getopt_long; exits EX_USAGE on bad options */
static void
parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        SMG_PROG_LONGOPTS,
        {"spool", no_argument, NULL, 'S'},
        {"watch", no_argument, NULL, 'W'},
        {"max", required_argument, NULL, 'M'},
        {"learn-spam", required_argument, NULL, 's'},
        {"learn-ham", required_argument, NULL, 'a'},
        {"explain", no_argument, NULL, 'e'},
        {"score", no_argument, NULL, 'o'},
        {"sender", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = smg_prog_getopt(&o->prog, argc, argv, SMG_PROG_OPTSTRING,
                                longopts)) != -1) {
        switch (c) {
        case 'S': o->mode = SMG_STAGE_SPOOL; break;
        case 'W': o->mode = SMG_STAGE_WATCH; break;
        case 'M': o->max = (unsigned) smg_prog_number(&o->prog, optarg, G_MAXUINT); break;
        case 's':
        case 'a':
            set_tool(o, TOOL_LEARN);
            g_ptr_array_add(o->learn, g_strconcat(c == 's' ? "s:" : "h:", optarg, NULL));
            break;
        case 'e': set_tool(o, TOOL_EXPLAIN); break;
        case 'o': set_tool(o, TOOL_SCORE); break;
        case 'f': set_tool(o, TOOL_SENDER); o->sender = optarg; break;
        default: smg_prog_usage(&o->prog);
        }
    }
    if ((o->tool == TOOL_SCORE) != (optind < argc))
        smg_prog_usage(&o->prog);
    if (o->tool != TOOL_STAGE && o->mode != SMG_STAGE_FILTER)
        smg_prog_usage(&o->prog);
}

/*
 * score - smg_spam_check of the message msg[off..len) as every mode sees
 * it: SMG-* fields further down its header (a bare message's) are the
 * sender's, not ours, and are not scored; *stripped (may be NULL) gets
 * the message without them
 */
static enum smg_status
score(struct smg_spam *sp, const char *msg, gsize len, gsize off,
      const struct smg_envelope *env, gboolean explain, struct smg_spam_verdict *v,
      GString **stripped, GError **err)
{
    GString *m = g_string_sized_new(len - off + 1);
    enum smg_status st;

    smg_envelope_strip(msg + off, len - off, m);
    st = smg_spam_check(sp, m->str, m->len, env, explain, v, err);
    if (stripped != NULL && st == SMG_OK)
        *stripped = m;
    else
        g_string_free(m, TRUE);
    return st;
}

/* count_passed - a handed-on message's verdict in its customer's counters */
static void
count_passed(void *ctxp, const char *id, const struct smg_stage_result *res)
{
    struct check_ctx *ctx = ctxp;
    GError *e = NULL;

    if (smg_spamstats_add(ctx->conf, res->passed_data, res->flagged, (gint64) time(NULL), &e)
        != SMG_OK) {
        /* counters are advisory: never hold mail for them */
        smg_log_warn("%s: spamstats not updated: %s", id, e->message);
        g_error_free(e);
    }
}

/* check_message - the stage function: score, record, hand on */
static enum smg_status
check_message(void *ctxp, const char *id, const char *buf, gsize len,
              struct smg_envelope *env, gsize body_offset,
              struct smg_stage_result *res, GError **err)
{
    struct check_ctx *ctx = ctxp;
    struct smg_spam_verdict v;
    enum smg_status st;
    const char *customer = smg_envelope_get(env, "Customer");
    GString *msg = NULL;
    char *field;

    /* a learner may have replaced the database since the last message */
    st = smg_spam_reload(ctx->sp, err);
    if (st != SMG_OK)
        return st;
    /* SMG-* fields further down the header (a bare message in filter
     * mode) are the sender's, not ours: they never go on, so the only
     * SMG-Spam field is the one set here */
    st = score(ctx->sp, buf, len, body_offset, env, FALSE, &v, &msg, err);
    if (st != SMG_OK)
        return st;
    field = smg_spam_verdict_field(&v);
    smg_envelope_set(env, "Spam", field);
    res->out = g_string_sized_new(msg->len + 1024);
    smg_envelope_write(env, res->out);
    g_string_append_len(res->out, msg->str, (gssize) msg->len);
    g_string_free(msg, TRUE);
    res->flagged = v.spam;
    res->log = g_strdup_printf("verdict=%s, score=%.2f, threshold=%.2f, tests=%s%s%s",
                               v.spam ? "spam" : "ham", v.score, v.threshold,
                               strstr(field, "tests=") + 6, v.notes->len > 0 ? ", " : "",
                               v.notes->str);
    /* smg's own reports (NDRs, with [send] bounce_queue = check) name the
     * customer they are about; their verdict is not one on its mail.
     * Counted once handed on: a failed hand-off scores the message again. */
    if (ctx->counters && customer != NULL && *customer != '\0'
        && smg_envelope_is_customer_mail(env)) {
        res->passed = count_passed;
        res->passed_data = g_strdup(customer);
    }
    g_free(field);
    smg_spam_verdict_clear(&v);
    return SMG_OK;
}

/* check_idle - between messages in watch mode: pick up a relearned database */
static enum smg_status
check_idle(void *ctxp, GError **err)
{
    struct check_ctx *ctx = ctxp;

    return smg_spam_reload(ctx->sp, err);
}

/* read_stream - the whole of fp, or NULL */
static GString *
read_stream(FILE *fp)
{
    GString *s = g_string_sized_new(65536);
    char chunk[65536];
    size_t n;

    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        g_string_append_len(s, chunk, (gssize) n);
    if (ferror(fp)) {
        g_string_free(s, TRUE);
        return NULL;
    }
    return s;
}

/* message_files - the files PATH names: itself, or a folder's (and a
 * maildir's cur/ and new/) regular files not starting with '.', sorted */
static GPtrArray *
message_files(const char *path)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    struct stat st;
    static const char *const subdirs[] = {"", "cur", "new"};

    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        g_ptr_array_add(out, g_strdup(path));
        return out;
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(subdirs); i++) {
        char *dir = g_build_filename(path, subdirs[i], NULL);
        GDir *d = g_dir_open(dir, 0, NULL);
        const char *name;
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);

        while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
            char *f;
            if (name[0] == '.')
                continue;
            f = g_build_filename(dir, name, NULL);
            if (stat(f, &st) == 0 && S_ISREG(st.st_mode))
                g_ptr_array_add(names, f);
            else
                g_free(f);
        }
        if (d != NULL)
            g_dir_close(d);
        g_ptr_array_sort(names, smg_ptr_strcmp);
        for (guint j = 0; j < names->len; j++)
            g_ptr_array_add(out, g_strdup(names->pdata[j]));
        g_ptr_array_free(names, TRUE);
        g_free(dir);
    }
    return out;
}

/* tally - count what smg_spam_learn did with a message */
static void
tally(enum smg_bayes_learned what, gboolean spam, unsigned *ns, unsigned *nh,
      unsigned *moved, unsigned *already)
{
    if (what == SMG_BAYES_LEARNED_ALREADY) {
        (*already)++;
        return;
    }
    if (what == SMG_BAYES_LEARNED_MOVED)
        (*moved)++;
    if (spam)
        (*ns)++;
    else
        (*nh)++;
}

/* do_learn - the --learn-spam / --learn-ham tool */
static int
do_learn(const struct smg_conf *conf, struct options *o)
{
    const char *db = smg_conf_str(conf, "check", "bayes_database");
    char *path = db != NULL ? g_strdup(db)
                            : g_build_filename(smg_conf_str(conf, "spool", "state_dir"),
                                               "bayes.db", NULL);
    gsize max_text = (gsize) smg_conf_int(conf, "check", "max_text");
    struct smg_bayes_learner *l = NULL;
    struct smg_bayes *after = NULL;
    GError *err = NULL;
    unsigned ns = 0, nh = 0, bad = 0, moved = 0, already = 0;
    enum smg_bayes_learned did = SMG_BAYES_LEARNED_NEW;
    enum smg_status st = smg_bayes_learner_open(path, &l, &err);
    int rc = 0;

    for (guint i = 0; st == SMG_OK && i < o->learn->len; i++) {
        const char *arg = o->learn->pdata[i];
        gboolean spam = arg[0] == 's';
        const char *what = arg + 2;

        if (strcmp(what, "-") == 0) {
            GString *m = read_stream(stdin);
            if (m == NULL) {
                fprintf(stderr, "smg-check: fatal: cannot read standard input\n");
                rc = EX_IOERR;
                break;
            }
            if (smg_spam_learn(l, m->str, m->len, spam, max_text, &did, &err) != SMG_OK) {
                fprintf(stderr, "smg-check: -: %s\n", err->message);
                g_clear_error(&err);
                bad++;
            } else {
                tally(did, spam, &ns, &nh, &moved, &already);
            }
            g_string_free(m, TRUE);
            continue;
        }
        {
            GPtrArray *files = message_files(what);
            if (files->len == 0) {
                fprintf(stderr, "smg-check: %s: no messages there\n", what);
                rc = EX_NOINPUT;
            }
            g_ptr_array_sort(files, smg_ptr_strcmp);
            for (guint j = 0; j < files->len; j++) {
                char *text = NULL;
                gsize len = 0;
                GError *e = NULL;
                if (!g_file_get_contents(files->pdata[j], &text, &len, &e)
                    || smg_spam_learn(l, text, len, spam, max_text, &did, &e) != SMG_OK) {
                    fprintf(stderr, "smg-check: %s: %s\n", (char *) files->pdata[j],
                            e != NULL ? e->message : "unreadable");
                    g_clear_error(&e);
                    bad++;
                } else {
                    tally(did, spam, &ns, &nh, &moved, &already);
                }
                g_free(text);
            }
            g_ptr_array_free(files, TRUE);
        }
    }
    if (st == SMG_OK && rc == 0)
        st = smg_bayes_learner_commit(l, &err);
    smg_bayes_learner_free(l);
    if (st != SMG_OK) {
        fprintf(stderr, "smg-check: fatal: %s\n", err->message);
        smg_log_error("learn: %s", err->message);
        rc = smg_status_exit(st);
    } else if (rc == 0 && smg_bayes_open(path, &after, &err) == SMG_OK) {
        printf("learned %u spam and %u ham (%u moved from the other class, %u already "
               "learned, %u unreadable); %s: %" G_GUINT64_FORMAT " spam, %" G_GUINT64_FORMAT
               " ham, %" G_GUINT64_FORMAT " tokens\n",
               ns, nh, moved, already, bad, path, smg_bayes_nspam(after),
               smg_bayes_nham(after), smg_bayes_ntokens(after));
        smg_log_info("learn: spam=%u, ham=%u, moved=%u, already=%u, unreadable=%u, "
                     "database=%s", ns, nh, moved, already, bad, path);
        smg_bayes_close(after);
        if (bad > 0)
            rc = EX_DATAERR;
    }
    g_clear_error(&err);
    g_free(path);
    return rc;
}

/* body_of - parse buf's envelope; the message proper's offset (or -1) */
static gssize
body_of(const char *buf, gsize len, struct smg_envelope **env, GError **err)
{
    gsize off = 0;

    if (smg_envelope_parse(buf, len, env, &off, err) != SMG_OK)
        return -1;
    return (gssize) off;
}

/* do_explain - score stdin and print the report */
static int
do_explain(struct smg_spam *sp)
{
    GString *m = read_stream(stdin);
    struct smg_envelope *env = NULL;
    struct smg_spam_verdict v;
    GError *err = NULL;
    gssize off;
    int rc;

    if (m == NULL) {
        fprintf(stderr, "smg-check: fatal: cannot read standard input\n");
        return EX_IOERR;
    }
    off = body_of(m->str, m->len, &env, &err);
    if (off < 0) {
        fprintf(stderr, "smg-check: fatal: %s\n", err->message);
        g_error_free(err);
        g_string_free(m, TRUE);
        return EX_DATAERR;
    }
    if (score(sp, m->str, m->len, (gsize) off, env, TRUE, &v, NULL, &err) != SMG_OK) {
        fprintf(stderr, "smg-check: fatal: %s\n", err->message);
        rc = smg_status_exit(smg_error_status(err));
        g_error_free(err);
    } else {
        char *field = smg_spam_verdict_field(&v);
        fputs(v.explain->str, stdout);
        printf("SMG-Spam: %s\n", field);
        g_free(field);
        rc = v.spam ? 1 : 0;
        smg_spam_verdict_clear(&v);
    }
    smg_envelope_free(env);
    g_string_free(m, TRUE);
    return rc;
}

/* do_score - one line per file: "PATH: SMG-Spam value" */
static int
do_score(struct smg_spam *sp, int argc, char **argv)
{
    int rc = 0;

    for (int i = 0; i < argc; i++) {
        GPtrArray *files = message_files(argv[i]);
        if (files->len == 0) {
            fprintf(stderr, "smg-check: %s: no messages there\n", argv[i]);
            rc = EX_NOINPUT;
        }
        for (guint j = 0; j < files->len; j++) {
            const char *f = files->pdata[j];
            char *text = NULL;
            gsize len = 0;
            GError *e = NULL;
            struct smg_envelope *env = NULL;
            struct smg_spam_verdict v;
            gssize off;

            if (!g_file_get_contents(f, &text, &len, &e)) {
                fprintf(stderr, "smg-check: %s: %s\n", f, e->message);
                g_error_free(e);
                rc = EX_IOERR;
                continue;
            }
            off = body_of(text, len, &env, &e);
            if (off < 0) {
                fprintf(stderr, "smg-check: %s: %s\n", f, e->message);
                g_error_free(e);
                g_free(text);
                rc = EX_DATAERR;
                continue;
            }
            if (score(sp, text, len, (gsize) off, env, FALSE, &v, NULL, &e) == SMG_OK) {
                char *field = smg_spam_verdict_field(&v);
                printf("%s: %s\n", f, field);
                g_free(field);
                smg_spam_verdict_clear(&v);
            } else {
                fprintf(stderr, "smg-check: %s: %s\n", f, e->message);
                g_error_free(e);
                rc = EX_TEMPFAIL;
            }
            smg_envelope_free(env);
            g_free(text);
        }
        g_ptr_array_free(files, TRUE);
    }
    if (fflush(stdout) != 0)
        rc = EX_IOERR;
    return rc;
}

/* do_sender - smg-recv's sender-domain check, told */
static int
do_sender(const struct smg_conf *conf, const char *addr)
{
    const char *at = strrchr(addr, '@');
    char *domain, *shown;
    struct smg_dns *dns = NULL;
    enum smg_dns_domain result;
    char *detail = NULL;
    GError *err = NULL;
    enum smg_status st;
    int rc;

    if (*addr == '\0' || strcmp(addr, "<>") == 0) {
        printf("<>: null sender, not looked up (bounces are always accepted)\n");
        return 0;
    }
    if (at == NULL || at[1] == '\0') {
        fprintf(stderr, "smg-check: %s: not an address (local@domain)\n", addr);
        return EX_USAGE;
    }
    domain = g_strdup(at + 1);
    if (domain[strlen(domain) - 1] == '>')
        domain[strlen(domain) - 1] = '\0';
    if (domain[0] == '[') {
        printf("%s: address literal, not looked up\n", domain);
        g_free(domain);
        return 0;
    }
    {
        /* smg-recv's syntax check first (a UTF-8 domain must convert by
         * IDNA 2008), then the A-labels it is looked up by: show both */
        char *ascii = smg_addr_check_domain(domain, strlen(domain), SMG_ADDR_UTF8)
                          ? smg_addr_idna_ascii(domain)
                          : NULL;

        if (ascii == NULL) {
            printf("%s: not a valid domain name (RFC 5321, IDNA 2008): refused with 501 5.1.7\n",
                   domain);
            g_free(domain);
            return 1;
        }
        shown = g_ascii_strcasecmp(ascii, domain) != 0
                    ? g_strdup_printf("%s (%s)", domain, ascii)
                    : g_strdup(domain);
        g_free(ascii);
    }
    st = smg_dns_new(conf, &dns, &err);
    if (st == SMG_OK)
        st = smg_dns_domain_check(dns, domain, &result, &detail, &err);
    if (st == SMG_OK) {
        const char *servers = smg_dns_server_count(dns) > 0 ? smg_dns_server_text(dns, 0) : "?";
        if (result == SMG_DNS_DOMAIN_OK) {
            printf("%s: %s (%s), server %s: accepted\n", shown,
                   smg_dns_domain_name(result), detail, servers);
            rc = 0;
        } else {
            printf("%s: %s (%s), server %s: refused with 550 5.1.8 Sender Domain must resolve\n",
                   shown, smg_dns_domain_name(result), detail, servers);
            rc = 1;
        }
    } else if (st == SMG_PERMFAIL) {
        printf("%s: %s: refused\n", shown, err->message);
        rc = 1;
    } else if (st == SMG_CONFIG) {
        /* ours, not the domain's: smg-recv would not start at all */
        fprintf(stderr, "smg-check: %s\n", err->message);
        rc = smg_status_exit(st);
    } else {
        printf("%s: %s: answered with 451 4.4.3, the client retries\n", shown, err->message);
        rc = smg_status_exit(st);
    }
    g_clear_error(&err);
    g_free(detail);
    g_free(shown);
    g_free(domain);
    smg_dns_free(dns);
    return rc;
}

int
main(int argc, char **argv)
{
    struct options o = {0};
    struct smg_conf *conf = NULL;
    struct check_ctx ctx = {0};
    struct smg_stage stage = {0};
    GError *err = NULL;
    enum smg_status st;
    int rc;

    smg_prog_init(&o.prog, "smg-check", USAGE);
    o.learn = g_ptr_array_new_with_free_func(g_free);
    parse_options(argc, argv, &o);
    /* the tools talk to a person: their log lines go to stderr */
    if (o.tool != TOOL_STAGE && !o.prog.debug)
        o.prog.log = SMG_LOG_STDERR;
    conf = smg_prog_config(&o.prog);
    /* every way out frees the config: LeakSanitizer otherwise turns the
     * exit status into 23 */
    if (smg_privs_drop(conf, &err) != SMG_OK) {
        fprintf(stderr, "smg-check: fatal: %s\n", err->message);
        g_error_free(err);
        rc = EX_CONFIG;
        goto out;
    }
    if (o.tool == TOOL_LEARN) {
        rc = do_learn(conf, &o);
        goto out;
    }
    if (o.tool == TOOL_SENDER) {
        rc = do_sender(conf, o.sender);
        goto out;
    }
    st = smg_spam_new(conf, &ctx.sp, &err);
    if (st != SMG_OK) {
        smg_log_error("%s", err->message);
        fprintf(stderr, "smg-check: fatal: %s\n", err->message);
        g_error_free(err);
        rc = smg_status_exit(st);
        goto out;
    }
    if (o.tool == TOOL_EXPLAIN) {
        rc = do_explain(ctx.sp);
    } else if (o.tool == TOOL_SCORE) {
        rc = do_score(ctx.sp, argc - optind, argv + optind);
    } else {
        ctx.conf = conf;
        ctx.counters = o.mode != SMG_STAGE_FILTER && smg_conf_bool(conf, "check", "spamstats");
        stage.name = "check";
        stage.queue_in = "check";
        stage.queue_out = "scan";
        stage.fn = check_message;
        stage.ctx = &ctx;
        stage.idle = check_idle;
        rc = smg_stage_run(&stage, conf, o.mode, o.max);
    }
out:
    smg_spam_free(ctx.sp);
    smg_conf_free(conf);
    g_ptr_array_free(o.learn, TRUE);
    return rc;
}

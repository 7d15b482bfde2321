/*
 * smg-sign - DKIM-sign each message for its sender's domain.
 *
 * Reads queue "sign" (spool and watch modes) or one message on stdin
 * (filter mode), adds DKIM-Signature fields (RSA-SHA256 and/or
 * Ed25519-SHA256, made by libopendkim with the keys of the KeyTable that
 * the SigningTable picks for the From: address) and a Reply-To: field
 * where configured, and hands the message to queue "route", or prints it
 * on stdout.  A message whose domain has no key passes unsigned.  The work
 * is done in lib/dkim (read dkim.h).  --genkey makes a key and prints its
 * DNS record; --testkey checks published records against the keys.
 * Exit status: 0 passed (signed or not), 1 a key does not match its DNS
 * record (--testkey), 64 usage, 65 bad message, 75 temporary failure,
 * 78 config (an unreadable key too).  See smg-sign(8).
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

#include "lib/addr.h"
#include "lib/config.h"
#include "lib/dkim.h"
#include "lib/dns.h"
#include "lib/envelope.h"
#include "lib/keytable.h"
#include "lib/log.h"
#include "lib/privs.h"
#include "lib/prog.h"
#include "lib/stage.h"

static const char USAGE[] =
    "usage: smg-sign [-dnhV] [-c FILE] [--log syslog|stderr] [--spool | --watch]\n"
    "       smg-sign --genkey DOMAIN SELECTOR [--type rsa|ed25519] [--bits N]\n"
    "                [--output FILE]\n"
    "       smg-sign [-c FILE] --testkey [DOMAIN SELECTOR]\n";

enum action { ACT_FILTER = 0, ACT_SPOOL, ACT_WATCH, ACT_GENKEY, ACT_TESTKEY };

struct options {
    struct smg_prog prog; /* -c, -d, -n, --log */
    enum action action;
    enum smg_keytable_alg type;
    unsigned bits;
    const char *output;
    guint64 fixed_time;
    unsigned max;
    char **args; /* DOMAIN SELECTOR for --genkey and --testkey */
    int nargs;
};

/* parse_options - getopt_long; exits EX_USAGE on bad options */
static void
parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        SMG_PROG_LONGOPTS,
        {"spool", no_argument, NULL, 's'},
        {"watch", no_argument, NULL, 'w'},
        {"genkey", no_argument, NULL, 'g'},
        {"testkey", no_argument, NULL, 't'},
        {"type", required_argument, NULL, 'T'},
        {"bits", required_argument, NULL, 'b'},
        {"output", required_argument, NULL, 'o'},
        {"time", required_argument, NULL, 'N'},
        {"max", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    int c, actions = 0;

    o->bits = 2048;
    while ((c = smg_prog_getopt(&o->prog, argc, argv, SMG_PROG_OPTSTRING,
                                longopts)) != -1) {
        switch (c) {
        case 's': o->action = ACT_SPOOL; actions++; break;
        case 'w': o->action = ACT_WATCH; actions++; break;
        case 'g': o->action = ACT_GENKEY; actions++; break;
        case 't': o->action = ACT_TESTKEY; actions++; break;
        case 'T':
            if (strcmp(optarg, "rsa") == 0)
                o->type = SMG_KEYTABLE_RSA_SHA256;
            else if (strcmp(optarg, "ed25519") == 0)
                o->type = SMG_KEYTABLE_ED25519_SHA256;
            else
                smg_prog_usage(&o->prog);
            break;
        case 'b': o->bits = (unsigned) smg_prog_number(&o->prog, optarg, 65536); break;
        case 'o': o->output = optarg; break;
        case 'N': o->fixed_time = smg_prog_number(&o->prog, optarg, G_MAXUINT64); break;
        case 'm': o->max = (unsigned) smg_prog_number(&o->prog, optarg, G_MAXUINT); break;
        default: smg_prog_usage(&o->prog);
        }
    }
    o->args = argv + optind;
    o->nargs = argc - optind;
    if (actions > 1 || (o->action == ACT_GENKEY && o->nargs != 2)
        || (o->action == ACT_TESTKEY && o->nargs != 0 && o->nargs != 2)
        || (o->action != ACT_GENKEY && o->action != ACT_TESTKEY && o->nargs != 0))
        smg_prog_usage(&o->prog);
}

/*
 * customer_of - whose mail env is, for [sign] customer_domains: customer
 * mail is its SMG-Customer's, or "" (no one's) when the client did not
 * authenticate; NULL for smg's own reports
 */
static const char *
customer_of(const struct smg_envelope *env)
{
    const char *c = smg_envelope_get(env, "Customer");

    if (!smg_envelope_is_customer_mail(env))
        return NULL;
    return c != NULL ? c : "";
}

/* sign_stage - the stage function: sign, keep the envelope, pass on */
static enum smg_status
sign_stage(void *ctx, const char *id, const char *buf, gsize len,
           struct smg_envelope *env, gsize body_offset,
           struct smg_stage_result *res, GError **err)
{
    GString *msg = NULL;
    enum smg_status st;

    st = smg_dkim_sign(ctx, id, buf + body_offset, len - body_offset, env->sender,
                       customer_of(env), &msg, &res->log, err);
    if (st != SMG_OK || msg == NULL)
        return st;
    res->out = g_string_sized_new(body_offset + msg->len + 64);
    smg_envelope_write(env, res->out);
    g_string_append_len(res->out, msg->str, (gssize) msg->len);
    g_string_free(msg, TRUE);
    return SMG_OK;
}

/* genkey - make a key, print its DNS record and the table lines */
static int
genkey(const struct options *o)
{
    const char *selector = o->args[1];
    /* a UTF-8 domain in the A-labels its DNS record and tables use */
    char *domain = smg_addr_idna_ascii(o->args[0]);
    char *path = o->output != NULL ? g_strdup(o->output)
                                   : g_strdup_printf("%s.private", selector);
    struct smg_dkim_key key;
    GError *err = NULL;
    enum smg_status st;
    char *rec;

    /* both are DNS names (RFC 6376 3.1, 3.6.2.1): a typo such as
     * "example.com." or "a..example" would print a record no zone takes
     * and table lines that match no mail, which then goes out unsigned */
    if (domain == NULL || !smg_keytable_dns_name(domain, 0)
        || !smg_keytable_dns_name(selector, 0)
        || strlen(selector) + strlen("._domainkey.") + strlen(domain) > 253) {
        fprintf(stderr,
                "smg-sign: fatal: %s / %s: not a domain and selector (" SMG_KEYTABLE_DNS_NAME
                ")\n",
                o->args[0], selector);
        g_free(domain);
        g_free(path);
        return EX_USAGE;
    }
    st = smg_dkim_genkey(o->type, o->bits, path, &key, &err);
    if (st != SMG_OK) {
        fprintf(stderr, "smg-sign: fatal: %s\n", err->message);
        g_clear_error(&err);
        g_free(domain);
        g_free(path);
        return smg_status_exit(st);
    }
    rec = smg_dkim_txt_record(domain, selector, &key);
    fputs(rec, stdout);
    printf("; private key: %s (mode 0600)\n", path);
    printf("; KeyTable:     %s._domainkey.%s %s:%s:%s\n", selector, domain,
           domain, selector, path);
    printf("; SigningTable: *@%s %s._domainkey.%s\n", domain, selector, domain);
    g_free(rec);
    smg_keytable_key_clear(&key);
    g_free(domain);
    g_free(path);
    return 0;
}

/* testkey - check the published record of one key or of every key */
static int
testkey(const struct options *o, const struct smg_conf *conf,
        const struct smg_keytable *kt)
{
    struct smg_dns *dns = NULL;
    GError *err = NULL;
    int rc = 0, tested = 0;
    /* the KeyTable's domains are in lower-case A-labels */
    char *want = o->nargs == 2 ? smg_addr_domain_key(o->args[0]) : NULL;

    if (smg_dns_new(conf, &dns, &err) != SMG_OK) {
        fprintf(stderr, "smg-sign: fatal: %s\n", err->message);
        g_clear_error(&err);
        g_free(want);
        return EX_CONFIG;
    }
    for (guint i = 0; i < smg_keytable_count(kt); i++) {
        const struct smg_dkim_key *k = smg_keytable_nth(kt, i);
        gboolean any = strcmp(k->domain, "%") == 0; /* the sender's domain */
        const char *domain = any ? want : k->domain;
        char *detail = NULL;
        enum smg_status st;

        if (want != NULL && ((!any && g_ascii_strcasecmp(want, k->domain) != 0)
                             || strcmp(o->args[1], k->selector) != 0))
            continue;
        tested++;
        if (domain == NULL) {
            printf("%s: d=%%: the domain is the sender's; test it with "
                   "smg-sign --testkey DOMAIN %s\n", k->name, k->selector);
            continue;
        }
        st = smg_dkim_testkey(dns, domain, k->selector, k, &detail, &err);
        if (st == SMG_OK) {
            printf("%s: %s._domainkey.%s: %s\n", k->name, k->selector,
                   domain, detail);
        } else {
            printf("%s: %s\n", k->name, err->message);
            if (st == SMG_TEMPFAIL && rc == 0)
                rc = EX_TEMPFAIL;
            else if (st != SMG_TEMPFAIL)
                rc = 1;
            g_clear_error(&err);
        }
        g_free(detail);
    }
    if (o->nargs == 2 && tested == 0) {
        /* not in the KeyTable: nothing to compare the record with */
        fprintf(stderr, "smg-sign: fatal: no key for %s selector %s in the "
                "KeyTable\n", o->args[0], o->args[1]);
        rc = EX_CONFIG;
    }
    smg_dns_free(dns);
    g_free(want);
    return rc;
}

int
main(int argc, char **argv)
{
    struct options o = {0};
    struct smg_conf *conf = NULL;
    struct smg_dkim *dkim = NULL;
    GError *err = NULL;
    enum smg_status st;
    struct smg_stage stage = {"sign", "sign", "route", sign_stage, NULL, NULL};
    enum smg_stage_mode mode = SMG_STAGE_FILTER;
    int rc;

    smg_prog_init(&o.prog, "smg-sign", USAGE);
    parse_options(argc, argv, &o);
    if (o.action == ACT_GENKEY) /* reads no config: it makes a key */
        return genkey(&o);
    /* --testkey talks to a person: its warnings (a key file others can
     * read) go to stderr, as smg-check's and smg-route's tools do */
    if (o.action == ACT_TESTKEY && !o.prog.debug)
        o.prog.log = SMG_LOG_STDERR;
    conf = smg_prog_config(&o.prog);
    st = smg_dkim_new(conf, &dkim, &err); /* reads the keys: before dropping */
    if (st == SMG_OK && o.action != ACT_TESTKEY)
        st = smg_privs_drop(conf, &err);
    if (st != SMG_OK) {
        smg_log_error("%s", err->message);
        fprintf(stderr, "smg-sign: fatal: %s\n", err->message);
        g_clear_error(&err);
        smg_conf_free(conf);
        return smg_status_exit(st);
    }
    if (o.action == ACT_TESTKEY) {
        rc = testkey(&o, conf, smg_dkim_keytable(dkim));
    } else {
        if (o.fixed_time != 0)
            smg_dkim_set_time(dkim, o.fixed_time);
        if (o.action == ACT_SPOOL)
            mode = SMG_STAGE_SPOOL;
        else if (o.action == ACT_WATCH)
            mode = SMG_STAGE_WATCH;
        stage.ctx = dkim;
        rc = smg_stage_run(&stage, conf, mode, o.max);
    }
    smg_dkim_free(dkim);
    smg_conf_free(conf);
    return rc;
}

/*
 * spam.c - the verdict of smg-check (see spam.h for the arithmetic).
 *
 * One struct smg_spam is built per process from the config and reused for
 * every message: rules compiled once, the Bayes database mapped once (and
 * reopened by smg_spam_reload when a learner replaced it), one resolver.
 * Nothing about a message can fail a check: DNS and rspamd trouble only
 * leave their part out, noted for the log line.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <math.h>
#include <string.h>
#include <time.h>

#include "lib/customers.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/mimetext.h"
#include "lib/rspamd.h"
#include "lib/rules.h"
#include "lib/spam.h"

#define GTUBE "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
#define GTUBE_SCORE 1000.0
#define EXPLAIN_TOKENS 30

struct smg_spam {
    struct smg_rules *rules;
    gboolean bayes_on;
    char *db_path;
    struct smg_bayes *db;
    struct smg_bayes_params bp;
    double weight, threshold;
    gsize max_text;
    struct smg_dns *dns;
    char **zones;
    unsigned uri_max;
    struct smg_customers *customers; /* [check] customer_domains, or NULL */
    char *rspamd_url;
    gboolean rspamd_only;
    long rspamd_timeout_ms;
    double rspamd_weight;
};

enum smg_status
smg_spam_new(const struct smg_conf *conf, struct smg_spam **out, GError **err)
{
    struct smg_spam *sp = g_new0(struct smg_spam, 1);
    enum smg_status st;
    const char *local = smg_conf_str(conf, "check", "local_rules");
    const char *db = smg_conf_str(conf, "check", "bayes_database");
    const char *cust = smg_conf_str(conf, "check", "customer_domains");

    *out = NULL;
    sp->rules = smg_rules_new();
    sp->threshold = smg_conf_double(conf, "check", "threshold");
    sp->weight = smg_conf_double(conf, "check", "bayes_weight");
    sp->max_text = (gsize) smg_conf_int(conf, "check", "max_text");
    sp->bayes_on = smg_conf_bool(conf, "check", "bayes");
    smg_bayes_params_default(&sp->bp);
    sp->bp.min_learned = (guint64) smg_conf_int(conf, "check", "bayes_min_learned");
    sp->zones = smg_conf_list(conf, "check", "uri_dnsbl_zones");
    sp->uri_max = (unsigned) smg_conf_int(conf, "check", "uri_dnsbl_max");
    sp->rspamd_url = g_strdup(smg_conf_str(conf, "check", "rspamd_url"));
    sp->rspamd_only = g_strcmp0(smg_conf_str(conf, "check", "rspamd_mode"), "only") == 0;
    sp->rspamd_timeout_ms = (long) smg_conf_int(conf, "check", "rspamd_timeout") * 1000;
    sp->rspamd_weight = smg_conf_double(conf, "check", "rspamd_weight");
    sp->db_path = db != NULL ? g_strdup(db)
                             : g_build_filename(smg_conf_str(conf, "spool", "state_dir"),
                                                "bayes.db", NULL);
    st = SMG_OK;
    /* checked here, not at each message: a typo would otherwise only show
     * as "rspamd=error" on every log line while rspamd is never asked */
    if (sp->rspamd_url != NULL && g_ascii_strncasecmp(sp->rspamd_url, "http://", 7) != 0
        && g_ascii_strncasecmp(sp->rspamd_url, "https://", 8) != 0) {
        smg_set_error(err, SMG_CONFIG, "4.3.5", "%s: [check] rspamd_url %s: not an http or "
                      "https URL", smg_conf_path(conf), sp->rspamd_url);
        st = SMG_CONFIG;
    }
    if (st == SMG_OK)
        st = smg_rules_load(sp->rules, smg_conf_str(conf, "check", "rules"), err);
    if (st == SMG_OK && local != NULL)
        st = smg_rules_load(sp->rules, local, err);
    if (st == SMG_OK && cust != NULL)
        st = smg_customers_load(cust, &sp->customers, err);
    if (st == SMG_OK && sp->bayes_on)
        st = smg_bayes_open(sp->db_path, &sp->db, err);
    if (st == SMG_OK && sp->zones[0] != NULL)
        st = smg_dns_new(conf, &sp->dns, err);
    if (st != SMG_OK) {
        smg_spam_free(sp);
        return st;
    }
    *out = sp;
    return SMG_OK;
}

void
smg_spam_free(struct smg_spam *sp)
{
    if (sp == NULL)
        return;
    smg_rules_free(sp->rules);
    smg_bayes_close(sp->db);
    g_free(sp->db_path);
    smg_dns_free(sp->dns);
    g_strfreev(sp->zones);
    smg_customers_free(sp->customers);
    g_free(sp->rspamd_url);
    g_free(sp);
}

enum smg_status
smg_spam_reload(struct smg_spam *sp, GError **err)
{
    struct smg_bayes *db = NULL;
    enum smg_status st;

    if (!sp->bayes_on || sp->db == NULL || !smg_bayes_changed(sp->db))
        return SMG_OK;
    st = smg_bayes_open(sp->db_path, &db, err);
    if (st != SMG_OK)
        return st;
    smg_bayes_close(sp->db);
    sp->db = db;
    return SMG_OK;
}

const char *
smg_spam_bayes_path(const struct smg_spam *sp)
{
    return sp->db_path;
}

void
smg_spam_bayes_counts(const struct smg_spam *sp, guint64 *nspam, guint64 *nham)
{
    *nspam = sp->db != NULL ? smg_bayes_nspam(sp->db) : 0;
    *nham = sp->db != NULL ? smg_bayes_nham(sp->db) : 0;
}

const char *
smg_spam_bayes_test(double p)
{
    static const struct {
        double below;
        const char *name;
    } b[] = {
        {0.01, "BAYES_00"}, {0.05, "BAYES_05"}, {0.2, "BAYES_20"},
        {0.4, "BAYES_40"},  {0.6, "BAYES_50"},  {0.8, "BAYES_60"},
        {0.95, "BAYES_80"}, {0.99, "BAYES_95"},
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(b); i++)
        if (p < b[i].below)
            return b[i].name;
    return "BAYES_99";
}

gboolean
smg_spam_gtube(const char *buf, gsize len)
{
    return len >= sizeof GTUBE - 1 && memmem(buf, len, GTUBE, sizeof GTUBE - 1) != NULL;
}

/* arrival - the SMG-Arrival time of env, or now */
static gint64
arrival(const struct smg_envelope *env)
{
    const char *a = env != NULL ? smg_envelope_get(env, "Arrival") : NULL;
    GDateTime *d = a != NULL ? g_date_time_new_from_iso8601(a, NULL) : NULL;
    gint64 t;

    if (d == NULL)
        return (gint64) time(NULL);
    t = g_date_time_to_unix(d);
    g_date_time_unref(d);
    return t;
}

/* note - append "text" to v->notes, comma-separated */
static void
note(struct smg_spam_verdict *v, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void
note(struct smg_spam_verdict *v, const char *fmt, ...)
{
    va_list ap;

    if (v->notes->len > 0)
        g_string_append(v->notes, ", ");
    va_start(ap, fmt);
    g_string_append_vprintf(v->notes, fmt, ap);
    va_end(ap);
}

/* explain_bayes - the classifier's part of --explain */
static void
explain_bayes(struct smg_spam *sp, const struct smg_bayes_tokens *tok,
              const struct smg_bayes_result *r, struct smg_spam_verdict *v)
{
    guint64 ns = 0, nh = 0;

    smg_spam_bayes_counts(sp, &ns, &nh);
    if (!sp->bayes_on) {
        g_string_append(v->explain, "bayes: off ([check] bayes = no)\n");
        return;
    }
    if (!r->usable) {
        g_string_append_printf(v->explain,
                               "bayes: not used: %s has learned %" G_GUINT64_FORMAT
                               " spam and %" G_GUINT64_FORMAT " ham, fewer than %"
                               G_GUINT64_FORMAT " of each\n",
                               sp->db_path, ns, nh, sp->bp.min_learned);
        return;
    }
    g_string_append_printf(v->explain,
                           "bayes: %+7.2f  p=%.4f %s (%u clues of %u tokens; learned %"
                           G_GUINT64_FORMAT " spam, %" G_GUINT64_FORMAT " ham)\n",
                           v->bayes_points, r->prob, smg_spam_bayes_test(r->prob), r->nclues,
                           tok->hashes->len, ns, nh);
    for (guint i = 0; r->clues != NULL && i < r->clues->len && i < EXPLAIN_TOKENS; i++) {
        const struct smg_bayes_clue *c = &g_array_index(r->clues, struct smg_bayes_clue, i);
        const char *name = smg_bayes_tokens_name(tok, c->hash);
        g_string_append_printf(v->explain, "  %.3f  spam %-5u ham %-5u ", c->f, c->spam,
                               c->ham);
        smg_log_append_shown(v->explain, name != NULL ? name : "?");
        g_string_append_c(v->explain, '\n');
    }
}

enum smg_status
smg_spam_check(struct smg_spam *sp, const char *msg, gsize len,
               const struct smg_envelope *env, gboolean explain,
               struct smg_spam_verdict *v, GError **err)
{
    struct smg_mimetext *mt = smg_mimetext_parse(msg, len, sp->max_text);
    struct smg_rules_input in = {0};
    GArray *hits = smg_rules_hits_new();
    GPtrArray *rcpts = g_ptr_array_new();
    const char *customer = env != NULL ? smg_envelope_get(env, "Customer") : NULL;
    gboolean gtube = smg_spam_gtube(msg, len);
    double ours;

    (void) err;
    memset(v, 0, sizeof *v);
    v->tests = g_ptr_array_new_with_free_func(g_free);
    v->notes = g_string_new(NULL);
    v->threshold = sp->threshold;
    v->rspamd = "off";
    if (explain)
        v->explain = g_string_new(NULL);
    if (env != NULL)
        for (guint i = 0; i < env->rcpts->len; i++)
            g_ptr_array_add(rcpts, ((struct smg_rcpt *) env->rcpts->pdata[i])->addr);
    g_ptr_array_add(rcpts, NULL);

    /* GTUBE */
    if (gtube) {
        v->rules += GTUBE_SCORE;
        g_ptr_array_add(v->tests, g_strdup("GTUBE"));
    }

    /* rules */
    in.mt = mt;
    in.sender = env != NULL ? env->sender : NULL;
    in.nrcpt = env != NULL ? env->rcpts->len : 0;
    in.customer_domains = smg_customers_domains(sp->customers, customer);
    in.now = arrival(env);
    in.dns = sp->dns;
    in.uri_zones = (const char *const *) sp->zones;
    in.uri_max = sp->uri_max;
    v->rules += smg_rules_eval(sp->rules, &in, hits, v->notes);
    for (guint i = 0; i < hits->len; i++)
        g_ptr_array_add(v->tests, g_strdup(g_array_index(hits, struct smg_rules_hit, i).name));

    /* Bayes */
    if (sp->bayes_on && sp->db != NULL) {
        struct smg_bayes_tokens *tok = smg_bayes_tokens_new(explain);
        struct smg_bayes_result r;

        smg_bayes_tokenize(mt, tok);
        smg_bayes_classify(sp->db, tok, &sp->bp, explain, &r);
        if (r.usable) {
            v->bayes_used = TRUE;
            v->bayes_prob = r.prob;
            v->bayes_points = sp->weight * (2.0 * r.prob - 1.0);
            g_ptr_array_add(v->tests, g_strdup(smg_spam_bayes_test(r.prob)));
        } else {
            note(v, "bayes=untrained");
        }
        if (explain)
            explain_bayes(sp, tok, &r, v);
        if (r.clues != NULL)
            g_array_unref(r.clues);
        smg_bayes_tokens_free(tok);
    } else if (explain) {
        g_string_append(v->explain, "bayes: off\n");
    }
    ours = v->rules + v->bayes_points;
    v->score = ours;

    /* rspamd */
    if (sp->rspamd_url != NULL) {
        struct smg_rspamd_request req = {0};
        struct smg_rspamd_result rr;
        GError *e = NULL;
        const char *client = env != NULL ? smg_envelope_get(env, "Client") : NULL;
        char *ip = client != NULL ? smg_envelope_param(client, "addr") : NULL;
        char *helo = client != NULL ? smg_envelope_param(client, "helo") : NULL;

        req.url = sp->rspamd_url;
        req.timeout_ms = sp->rspamd_timeout_ms;
        req.msg = msg;
        req.len = len;
        req.from = in.sender;
        req.rcpts = (const char *const *) rcpts->pdata;
        req.ip = ip;
        req.helo = helo;
        req.queue_id = env != NULL ? env->queue_id : NULL;
        req.user = customer;
        if (smg_rspamd_check(&req, &rr, &e) == SMG_OK) {
            v->rspamd = "ok";
            v->rspamd_score = rr.score;
            g_ptr_array_add(v->tests, g_strdup("RSPAMD"));
            if (sp->rspamd_only)
                v->score = rr.score * sp->rspamd_weight + (gtube ? GTUBE_SCORE : 0);
            else
                v->score = ours + rr.score * sp->rspamd_weight;
            if (explain) {
                g_string_append_printf(v->explain, "rspamd: %+7.2f  score %.2f x %.2f, "
                                       "action \"", rr.score * sp->rspamd_weight, rr.score,
                                       sp->rspamd_weight);
                smg_log_append_shown(v->explain, rr.action != NULL ? rr.action : "");
                g_string_append_printf(v->explain, "\", mode %s; symbols:",
                                       sp->rspamd_only ? "only" : "merge");
                for (guint i = 0; i < rr.symbols->len; i++) {
                    g_string_append_c(v->explain, ' ');
                    smg_log_append_shown(v->explain, rr.symbols->pdata[i]);
                }
                g_string_append_c(v->explain, '\n');
            }
            smg_rspamd_result_clear(&rr);
        } else {
            gboolean timeout = g_str_has_prefix(e->message, "4.4.2") && strstr(e->message, "timed out") != NULL;
            v->rspamd = timeout ? "timeout" : "error";
            note(v, "rspamd=%s", v->rspamd);
            smg_log_warn("rspamd failed, using the built-in score: %s", e->message);
            if (explain) {
                g_string_append(v->explain, "rspamd: failed (");
                smg_log_append_shown(v->explain, e->message);
                g_string_append(v->explain, "): built-in score used\n");
            }
            g_clear_error(&e);
        }
        g_free(ip);
        g_free(helo);
    } else if (explain) {
        g_string_append(v->explain, "rspamd: off\n");
    }
    /* GTUBE is spam whatever else scored: a local rule or an rspamd score
     * of -1000 must not make the operators' test string pass as ham */
    v->spam = gtube || v->score >= v->threshold;

    if (explain) {
        GString *head = g_string_new(NULL);
        g_string_append_printf(head, "verdict: %s, score %.2f, threshold %.2f\n",
                               v->spam ? "spam" : "ham", v->score, v->threshold);
        g_string_append_printf(head, "rules: %+7.2f\n", v->rules);
        if (gtube)
            g_string_append_printf(head, "  %7.2f  GTUBE  the GTUBE test string\n", GTUBE_SCORE);
        for (guint i = 0; i < hits->len; i++) {
            const struct smg_rules_hit *h = &g_array_index(hits, struct smg_rules_hit, i);
            g_string_append_printf(head, "  %7.2f  %s  %s", h->score, h->name, h->desc);
            if (h->detail != NULL) {
                g_string_append(head, " [");
                smg_log_append_shown(head, h->detail);
                g_string_append_c(head, ']');
            }
            g_string_append_c(head, '\n');
        }
        g_string_prepend(v->explain, head->str);
        g_string_free(head, TRUE);
        if (v->notes->len > 0) {
            g_string_append(v->explain, "notes: ");
            smg_log_append_shown(v->explain, v->notes->str);
            g_string_append_c(v->explain, '\n');
        }
    }
    g_ptr_array_free(rcpts, TRUE);
    smg_rules_hits_free(hits);
    smg_mimetext_free(mt);
    return SMG_OK;
}

void
smg_spam_verdict_clear(struct smg_spam_verdict *v)
{
    if (v->tests != NULL)
        g_ptr_array_free(v->tests, TRUE);
    if (v->notes != NULL)
        g_string_free(v->notes, TRUE);
    if (v->explain != NULL)
        g_string_free(v->explain, TRUE);
    memset(v, 0, sizeof *v);
}

char *
smg_spam_verdict_field(const struct smg_spam_verdict *v)
{
    GString *s = g_string_new(NULL);

    g_string_append_printf(s, "verdict=%s score=%.2f threshold=%.2f tests=",
                           v->spam ? "spam" : "ham", v->score, v->threshold);
    for (guint i = 0; i < v->tests->len; i++)
        g_string_append_printf(s, "%s%s", i > 0 ? "," : "", (char *) v->tests->pdata[i]);
    return g_string_free(s, FALSE);
}

enum smg_status
smg_spam_learn(struct smg_bayes_learner *learner, const char *buf, gsize len,
               gboolean spam, gsize max_text, enum smg_bayes_learned *what, GError **err)
{
    struct smg_envelope *env = NULL;
    gsize off = 0;
    enum smg_status st = smg_envelope_parse(buf, len, &env, &off, err);
    struct smg_mimetext *mt;
    struct smg_bayes_tokens *tok;
    enum smg_bayes_learned w;

    if (st != SMG_OK)
        return st;
    smg_envelope_free(env);
    /* an empty file (a crashed writer's, a second "-" on one stdin) has
     * nothing to learn, and counting it would shift the class totals */
    {
        gsize i = off;
        while (i < len && g_ascii_isspace(buf[i]))
            i++;
        if (i == len) {
            smg_set_error(err, SMG_PERMFAIL, "5.6.0", "empty message: nothing to learn");
            return SMG_PERMFAIL;
        }
    }
    mt = smg_mimetext_parse(buf + off, len - off, max_text);
    tok = smg_bayes_tokens_new(FALSE);
    smg_bayes_tokenize(mt, tok);
    smg_bayes_tokens_identify(tok, mt);
    w = smg_bayes_learner_add(learner, tok, spam);
    if (what != NULL)
        *what = w;
    smg_bayes_tokens_free(tok);
    smg_mimetext_free(mt);
    return SMG_OK;
}

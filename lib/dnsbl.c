/*
 * dnsbl.c - DNS blacklist lookups (RFC 5782) and the blacklist state file.
 *
 * Lookups go through lib/dns (our own checked stub resolver), one
 * resolver per thread.  The answer rules are described in dnsbl.h; the
 * code tables are small arrays searched in order.  The state is a hash
 * table of entries keyed "gateway\nsubject\nzone", saved as a GLib key
 * file (one group per entry, times in RFC 3339 UTC) by write, fsync,
 * rename.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <ldns/ldns.h>

#include "lib/dnsbl.h"
#include "lib/fileio.h"
#include "lib/log.h"

/* the largest state file read: one group of a few hundred bytes per
   listing of a gateway's address on a list */
#define STATE_MAX (64 * 1024 * 1024)

/* DSN of an unusable DNSBL answer: a DNS failure, so never a 5xx */
#define DSN_DNSBL "4.4.3"

struct code_rule {
    guint32 lo, hi; /* host order */
    enum smg_dnsbl_action action;
    char *label;
};

struct smg_dnsbl_codes {
    GArray *rules; /* of struct code_rule */
};

/* the built-in rules, after the configured ones */
static const struct {
    guint32 lo, hi;
    enum smg_dnsbl_action action;
    const char *label;
} builtin_rules[] = {
    {0x7fffff00U, 0x7fffffffU, SMG_DNSBL_ACTION_ERROR, NULL}, /* /24 */
    {0x7f000001U, 0x7f000001U, SMG_DNSBL_ACTION_ERROR, NULL},
    {0x7f000000U, 0x7fffffffU, SMG_DNSBL_ACTION_LISTED, NULL},
};

/* parse_v4 - an IPv4 address in host order; FALSE if s is not one */
static gboolean
parse_v4(const char *s, guint32 *out)
{
    struct in_addr a;

    if (inet_pton(AF_INET, s, &a) != 1)
        return FALSE;
    *out = ntohl(a.s_addr);
    return TRUE;
}

/* parse_action - "listed", "ignore", "error" */
static gboolean
parse_action(const char *s, enum smg_dnsbl_action *a)
{
    if (strcmp(s, "listed") == 0)
        *a = SMG_DNSBL_ACTION_LISTED;
    else if (strcmp(s, "ignore") == 0)
        *a = SMG_DNSBL_ACTION_IGNORE;
    else if (strcmp(s, "error") == 0)
        *a = SMG_DNSBL_ACTION_ERROR;
    else
        return FALSE;
    return TRUE;
}

/* rule_clear - free a rule's label (GArray clear function) */
static void
rule_clear(gpointer p)
{
    struct code_rule *r = p;

    g_free(r->label);
}

enum smg_status
smg_dnsbl_codes_parse(const char *const *words, struct smg_dnsbl_codes **out,
                      GError **err)
{
    struct smg_dnsbl_codes *codes = g_new0(struct smg_dnsbl_codes, 1);

    codes->rules = g_array_new(FALSE, TRUE, sizeof(struct code_rule));
    g_array_set_clear_func(codes->rules, rule_clear);
    for (unsigned i = 0; words != NULL && words[i] != NULL; i++) {
        const char *w = words[i];
        const char *eq = strchr(w, '=');
        char *range = NULL, *lo = NULL, *hi = NULL, *dash;
        char **act = NULL;
        struct code_rule r = {0};
        gboolean good = FALSE;

        if (*w == '\0')
            continue;
        if (eq != NULL) {
            range = g_strndup(w, (gsize) (eq - w));
            dash = strchr(range, '-');
            lo = dash != NULL ? g_strndup(range, (gsize) (dash - range))
                              : g_strdup(range);
            hi = g_strdup(dash != NULL ? dash + 1 : range);
            act = g_strsplit(eq + 1, ":", 2);
            good = parse_v4(lo, &r.lo) && parse_v4(hi, &r.hi) && r.lo <= r.hi
                   && act[0] != NULL && parse_action(act[0], &r.action)
                   && (act[1] == NULL
                       || (*act[1] != '\0' && strpbrk(act[1], " \t") == NULL));
        }
        if (good) {
            r.label = act[1] != NULL ? g_strdup(act[1]) : NULL;
            g_array_append_val(codes->rules, r);
        }
        g_free(range);
        g_free(lo);
        g_free(hi);
        g_strfreev(act);
        if (!good) {
            smg_set_error(err, SMG_CONFIG, NULL,
                          "bad return code rule \"%s\" (expected "
                          "ADDR[-ADDR]=listed|ignore|error[:LABEL])",
                          w);
            smg_dnsbl_codes_free(codes);
            return SMG_CONFIG;
        }
    }
    *out = codes;
    return SMG_OK;
}

void
smg_dnsbl_codes_free(struct smg_dnsbl_codes *codes)
{
    if (codes == NULL)
        return;
    g_array_unref(codes->rules);
    g_free(codes);
}

enum smg_dnsbl_action
smg_dnsbl_classify(const struct smg_dnsbl_codes *codes, const char *answer,
                   const char **label)
{
    guint32 a;

    if (label != NULL)
        *label = NULL;
    if (answer == NULL || !parse_v4(answer, &a))
        return SMG_DNSBL_ACTION_ERROR;
    for (guint i = 0; codes != NULL && i < codes->rules->len; i++) {
        const struct code_rule *r =
            &g_array_index(codes->rules, struct code_rule, i);

        if (a >= r->lo && a <= r->hi) {
            if (label != NULL)
                *label = r->label;
            return r->action;
        }
    }
    for (guint i = 0; i < G_N_ELEMENTS(builtin_rules); i++)
        if (a >= builtin_rules[i].lo && a <= builtin_rules[i].hi)
            return builtin_rules[i].action;
    return SMG_DNSBL_ACTION_ERROR;
}

const char *
smg_dnsbl_action_name(enum smg_dnsbl_action a)
{
    switch (a) {
    case SMG_DNSBL_ACTION_LISTED: return "listed";
    case SMG_DNSBL_ACTION_IGNORE: return "ignore";
    case SMG_DNSBL_ACTION_ERROR: return "error";
    }
    return "?";
}

const char *
smg_dnsbl_verdict_name(enum smg_dnsbl_verdict v)
{
    switch (v) {
    case SMG_DNSBL_CLEAN: return "clean";
    case SMG_DNSBL_LISTED: return "listed";
    case SMG_DNSBL_ERROR: return "error";
    }
    return "?";
}

char *
smg_dnsbl_reverse(const char *ip)
{
    unsigned char b[16];
    GString *s;

    if (ip == NULL)
        return NULL;
    if (inet_pton(AF_INET, ip, b) == 1)
        return g_strdup_printf("%u.%u.%u.%u", b[3], b[2], b[1], b[0]);
    if (inet_pton(AF_INET6, ip, b) != 1)
        return NULL;
    s = g_string_sized_new(64);
    for (int i = 15; i >= 0; i--)
        g_string_append_printf(s, "%s%x.%x", i == 15 ? "" : ".", b[i] & 0x0f,
                               (unsigned) (b[i] >> 4));
    return g_string_free(s, FALSE);
}

char *
smg_dnsbl_query_name(const char *subject, const char *zone, gboolean by_name,
                     GError **err)
{
    char *first, *name;
    gsize n;
    ldns_rdf *rdf;

    if (by_name) {
        n = strlen(subject);
        while (n > 0 && subject[n - 1] == '.')
            n--;
        first = g_strndup(subject, n);
    } else {
        first = smg_dnsbl_reverse(subject);
        if (first == NULL) {
            smg_set_error(err, SMG_PERMFAIL, "5.1.2",
                          "\"%s\" is not an IP address", subject);
            return NULL;
        }
    }
    name = g_strconcat(first, ".", zone, NULL);
    g_free(first);
    n = strlen(name);
    while (n > 0 && name[n - 1] == '.')
        name[--n] = '\0';
    rdf = *name != '\0' && name[0] != '.' && strstr(name, "..") == NULL
              ? ldns_dname_new_frm_str(name)
              : NULL;
    if (rdf == NULL) {
        smg_set_error(err, SMG_PERMFAIL, "5.1.2",
                      "\"%s\" is not a valid domain name", name);
        g_free(name);
        return NULL;
    }
    ldns_rdf_deep_free(rdf);
    return name;
}

struct smg_dnsbl_query *
smg_dnsbl_query_new(const char *subject, const char *zone, gboolean by_name,
                    const struct smg_dnsbl_codes *codes)
{
    struct smg_dnsbl_query *q = g_new0(struct smg_dnsbl_query, 1);

    q->subject = g_strdup(subject);
    q->zone = g_strdup(zone);
    q->by_name = by_name;
    q->codes = codes;
    return q;
}

/* query_reset - forget q's results */
static void
query_reset(struct smg_dnsbl_query *q)
{
    q->verdict = SMG_DNSBL_CLEAN;
    g_clear_pointer(&q->answer, g_free);
    g_clear_pointer(&q->reason, g_free);
    g_clear_pointer(&q->error, g_free);
}

void
smg_dnsbl_query_free(struct smg_dnsbl_query *q)
{
    if (q == NULL)
        return;
    query_reset(q);
    g_free(q->subject);
    g_free(q->zone);
    g_free(q);
}

/* join_ptrs - the strings of a GPtrArray joined with sep */
static char *
join_ptrs(const GPtrArray *a, const char *sep)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < a->len; i++) {
        if (i > 0)
            g_string_append(s, sep);
        g_string_append(s, a->pdata[i]);
    }
    return g_string_free(s, FALSE);
}

void
smg_dnsbl_lookup(struct smg_dns *dns, struct smg_dnsbl_query *q)
{
    GError *err = NULL;
    GPtrArray *addrs = NULL, *txt = NULL, *labels;
    ldns_pkt_rcode rcode;
    char *name;
    const char *bad = NULL;
    gboolean listed = FALSE;

    query_reset(q);
    name = smg_dnsbl_query_name(q->subject, q->zone, q->by_name, &err);
    if (name == NULL) {
        q->verdict = SMG_DNSBL_ERROR;
        q->error = g_strdup(err->message);
        g_error_free(err);
        return;
    }
    if (smg_dns_a(dns, name, &addrs, &rcode, &err) != SMG_OK) {
        q->verdict = SMG_DNSBL_ERROR;
        q->error = g_strdup(err->message);
        g_error_free(err);
        g_free(name);
        return;
    }
    if (addrs->len == 0) {
        g_ptr_array_unref(addrs);
        g_free(name);
        return;
    }
    g_ptr_array_sort(addrs, smg_ptr_strcmp);
    q->answer = join_ptrs(addrs, " ");
    labels = g_ptr_array_new();
    for (guint i = 0; i < addrs->len; i++) {
        const char *label;

        switch (smg_dnsbl_classify(q->codes, addrs->pdata[i], &label)) {
        case SMG_DNSBL_ACTION_ERROR:
            if (bad == NULL)
                bad = addrs->pdata[i];
            break;
        case SMG_DNSBL_ACTION_LISTED:
            listed = TRUE;
            if (label != NULL)
                g_ptr_array_add(labels, (gpointer) label);
            break;
        case SMG_DNSBL_ACTION_IGNORE: break;
        }
    }
    if (bad != NULL) {
        q->verdict = SMG_DNSBL_ERROR;
        q->error = g_strdup_printf("%s %s answered %s: an error code, not a "
                                   "listing",
                                   DSN_DNSBL, q->zone, bad);
    } else if (listed) {
        q->verdict = SMG_DNSBL_LISTED;
        if (smg_dns_txt(dns, name, &txt, &rcode, &err) == SMG_OK
            && txt->len > 0) {
            g_ptr_array_sort(txt, smg_ptr_strcmp);
            q->reason = join_ptrs(txt, "; ");
        } else {
            if (err != NULL)
                smg_log_warn("%s: TXT lookup failed: %s", name, err->message);
            g_clear_error(&err);
            if (labels->len > 0)
                q->reason = join_ptrs(labels, " ");
        }
        if (txt != NULL)
            g_ptr_array_unref(txt);
    }
    g_ptr_array_unref(labels);
    g_ptr_array_unref(addrs);
    g_free(name);
}

struct run_ctx {
    GPtrArray *queries;
    gint next;
    const char *const *servers;
    int timeout_ms;
    int attempts;
};

/* run_worker - thread body: take queries in turn with an own resolver */
static gpointer
run_worker(gpointer data)
{
    struct run_ctx *ctx = data;
    struct smg_dns *dns = NULL;
    GError *err = NULL;
    gint i;

    if (smg_dns_new_servers(ctx->servers, ctx->timeout_ms, ctx->attempts, &dns,
                            &err)
        != SMG_OK)
        dns = NULL; /* every query of this thread then fails with err */
    while ((i = g_atomic_int_add(&ctx->next, 1)) < (gint) ctx->queries->len) {
        struct smg_dnsbl_query *q = ctx->queries->pdata[i];

        if (dns != NULL) {
            smg_dnsbl_lookup(dns, q);
        } else {
            query_reset(q);
            q->verdict = SMG_DNSBL_ERROR;
            q->error = g_strdup(err->message);
        }
    }
    g_clear_error(&err);
    smg_dns_free(dns);
    return NULL;
}

enum smg_status
smg_dnsbl_run(GPtrArray *queries, const char *const *servers, int timeout_ms,
              int attempts, unsigned parallel, GError **err)
{
    struct run_ctx ctx = {queries, 0, servers, timeout_ms, attempts};
    struct smg_dns *probe = NULL;
    GPtrArray *threads;
    enum smg_status st;

    /* a bad server list is the operator's error, not every lookup's */
    st = smg_dns_new_servers(servers, timeout_ms, attempts, &probe, err);
    if (st != SMG_OK)
        return st;
    smg_dns_free(probe);
    if (parallel < 1)
        parallel = 1;
    if (parallel > queries->len)
        parallel = queries->len;
    threads = g_ptr_array_new();
    for (unsigned i = 0; i < parallel; i++) {
        GError *terr = NULL;
        GThread *t = g_thread_try_new("dnsbl", run_worker, &ctx, &terr);

        if (t == NULL) {
            smg_log_warn("cannot start a lookup thread: %s", terr->message);
            g_error_free(terr);
            break;
        }
        g_ptr_array_add(threads, t);
    }
    if (threads->len == 0 && queries->len > 0)
        run_worker(&ctx); /* no thread at all: do them here, one by one */
    for (guint i = 0; i < threads->len; i++)
        g_thread_join(threads->pdata[i]);
    g_ptr_array_unref(threads);
    return SMG_OK;
}

gboolean
smg_dnsbl_testpoints(const struct smg_dnsbl_query *listed,
                     const struct smg_dnsbl_query *unlisted, char **why)
{
    if (listed->verdict == SMG_DNSBL_ERROR) {
        *why = g_strdup_printf("test point %s: %s", listed->subject,
                               listed->error);
        return FALSE;
    }
    if (listed->answer == NULL) {
        *why = g_strdup_printf("%s %s does not list its test point %s "
                               "(RFC 5782): the list is not working",
                               DSN_DNSBL, listed->zone, listed->subject);
        return FALSE;
    }
    if (unlisted->verdict == SMG_DNSBL_ERROR) {
        *why = g_strdup_printf("test point %s: %s", unlisted->subject,
                               unlisted->error);
        return FALSE;
    }
    if (unlisted->answer != NULL) {
        *why =
            g_strdup_printf("%s %s lists %s, which RFC 5782 forbids: "
                            "the list answers every query",
                            DSN_DNSBL, unlisted->zone, unlisted->subject);
        return FALSE;
    }
    return TRUE;
}

/* ---- the state ---- */

struct smg_dnsbl_state {
    GHashTable *entries; /* key -> struct smg_dnsbl_entry *, both owned */
};

/* entry_key - the hash key of (gateway, subject, zone) */
static char *
entry_key(const char *gateway, const char *subject, const char *zone)
{
    return g_strconcat(gateway, "\n", subject, "\n", zone, NULL);
}

/* entry_free - free an entry (hash table value destructor) */
static void
entry_free(gpointer p)
{
    struct smg_dnsbl_entry *e = p;

    g_free(e->gateway);
    g_free(e->subject);
    g_free(e->zone);
    g_free(e->reason);
    g_free(e->answer);
    g_free(e->removal);
    g_free(e->removal_detail);
    g_free(e);
}

struct smg_dnsbl_state *
smg_dnsbl_state_new(void)
{
    struct smg_dnsbl_state *st = g_new0(struct smg_dnsbl_state, 1);

    st->entries =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, entry_free);
    return st;
}

void
smg_dnsbl_state_free(struct smg_dnsbl_state *st)
{
    if (st == NULL)
        return;
    g_hash_table_destroy(st->entries);
    g_free(st);
}

char *
smg_dnsbl_time_text(gint64 t)
{
    GDateTime *dt = g_date_time_new_from_unix_utc(t);
    char *s;

    if (dt == NULL)
        return g_strdup("1970-01-01T00:00:00Z");
    s = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
    g_date_time_unref(dt);
    return s;
}

/* parse_time - RFC 3339 text to Unix time; FALSE if malformed */
static gboolean
parse_time(const char *s, gint64 *out)
{
    GDateTime *dt;

    if (s == NULL || *s == '\0')
        return FALSE;
    dt = g_date_time_new_from_iso8601(s, NULL);
    if (dt == NULL)
        return FALSE;
    *out = g_date_time_to_unix(dt);
    g_date_time_unref(dt);
    return TRUE;
}

/* kf_time - a time key of group (0 if absent); FALSE if malformed */
static gboolean
kf_time(GKeyFile *kf, const char *group, const char *key, gint64 *out)
{
    char *v = g_key_file_get_string(kf, group, key, NULL);
    gboolean good = TRUE;

    *out = 0;
    if (v != NULL)
        good = parse_time(v, out);
    g_free(v);
    return good;
}

/* load_entry - one group of the key file; NULL with *why if malformed */
static struct smg_dnsbl_entry *
load_entry(GKeyFile *kf, const char *group, char **why)
{
    struct smg_dnsbl_entry *e = g_new0(struct smg_dnsbl_entry, 1);
    char *state = g_key_file_get_string(kf, group, "state", NULL);
    char *kind = g_key_file_get_string(kf, group, "kind", NULL);
    gint64 attempts;

    e->gateway = g_key_file_get_string(kf, group, "gateway", NULL);
    e->subject = g_key_file_get_string(kf, group, "subject", NULL);
    e->zone = g_key_file_get_string(kf, group, "zone", NULL);
    e->reason = g_key_file_get_string(kf, group, "reason", NULL);
    e->answer = g_key_file_get_string(kf, group, "answer", NULL);
    e->removal = g_key_file_get_string(kf, group, "removal", NULL);
    e->removal_detail =
        g_key_file_get_string(kf, group, "removal_detail", NULL);
    e->notified = g_key_file_get_boolean(kf, group, "notified", NULL);
    attempts = g_key_file_get_int64(kf, group, "removal_attempts", NULL);
    e->removal_attempts = (unsigned) CLAMP(attempts, 0, G_MAXINT);
    e->by_name = g_strcmp0(kind, "name") == 0;
    if (e->gateway == NULL || e->subject == NULL || e->zone == NULL)
        *why = g_strdup("gateway, subject or zone missing");
    else if (g_strcmp0(state, "listed") == 0)
        e->state = SMG_DNSBL_ENTRY_LISTED;
    else if (g_strcmp0(state, "cleared") == 0)
        e->state = SMG_DNSBL_ENTRY_CLEARED;
    else
        *why = g_strdup_printf("bad state \"%s\"", state ? state : "");
    if (*why == NULL
        && (!kf_time(kf, group, "since", &e->since)
            || !kf_time(kf, group, "last_seen", &e->last_seen)
            || !kf_time(kf, group, "cleared", &e->cleared)
            || !kf_time(kf, group, "removal_time", &e->removal_time)))
        *why = g_strdup("bad time");
    g_free(state);
    g_free(kind);
    if (*why != NULL) {
        entry_free(e);
        return NULL;
    }
    return e;
}

enum smg_status
smg_dnsbl_state_load(const char *path, struct smg_dnsbl_state **out,
                     GError **err)
{
    GKeyFile *kf = g_key_file_new();
    GError *kerr = NULL;
    struct smg_dnsbl_state *st = smg_dnsbl_state_new();
    char **groups, *data = NULL;
    gsize len = 0;
    struct stat sb;

    /* smg_file_read, not g_key_file_load_from_file: a FIFO at the path
     * would hang the run (and, holding the lock, every later one) */
    if (stat(path, &sb) != 0 && errno == ENOENT) {
        g_key_file_free(kf);
        *out = st;
        return SMG_OK;
    }
    if (smg_file_read(path, STATE_MAX, &data, &len, NULL, &kerr) != SMG_OK
        || !g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE,
                                      &kerr)) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "state file %s: %s", path,
                      kerr->message);
        g_error_free(kerr);
        g_free(data);
        g_key_file_free(kf);
        smg_dnsbl_state_free(st);
        return SMG_TEMPFAIL;
    }
    g_free(data);
    groups = g_key_file_get_groups(kf, NULL);
    for (unsigned i = 0; groups[i] != NULL; i++) {
        char *why = NULL;
        struct smg_dnsbl_entry *e = load_entry(kf, groups[i], &why);

        if (e == NULL) {
            smg_set_error(err, SMG_TEMPFAIL, "4.3.0",
                          "state file %s: [%s]: %s", path, groups[i], why);
            g_free(why);
            g_strfreev(groups);
            g_key_file_free(kf);
            smg_dnsbl_state_free(st);
            return SMG_TEMPFAIL;
        }
        g_hash_table_replace(st->entries,
                             entry_key(e->gateway, e->subject, e->zone), e);
    }
    g_strfreev(groups);
    g_key_file_free(kf);
    *out = st;
    return SMG_OK;
}

/* cmp_entries - order by gateway, subject, zone */
static gint
cmp_entries(gconstpointer a, gconstpointer b)
{
    const struct smg_dnsbl_entry *x = *(struct smg_dnsbl_entry *const *) a;
    const struct smg_dnsbl_entry *y = *(struct smg_dnsbl_entry *const *) b;
    int c = strcmp(x->gateway, y->gateway);

    if (c == 0)
        c = strcmp(x->subject, y->subject);
    if (c == 0)
        c = strcmp(x->zone, y->zone);
    return c;
}

GPtrArray *
smg_dnsbl_state_entries(const struct smg_dnsbl_state *st)
{
    GPtrArray *a = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, st->entries);
    while (g_hash_table_iter_next(&it, NULL, &v))
        g_ptr_array_add(a, v);
    g_ptr_array_sort(a, cmp_entries);
    return a;
}

/* kf_set_time - set a time key unless t is 0 */
static void
kf_set_time(GKeyFile *kf, const char *group, const char *key, gint64 t)
{
    char *s;

    if (t == 0)
        return;
    s = smg_dnsbl_time_text(t);
    g_key_file_set_string(kf, group, key, s);
    g_free(s);
}

/* kf_set_opt - set a string key unless s is NULL */
static void
kf_set_opt(GKeyFile *kf, const char *group, const char *key, const char *s)
{
    if (s != NULL)
        g_key_file_set_string(kf, group, key, s);
}

/* told_clearance - whether an entry is a clearance already told */
static gboolean
told_clearance(gpointer key, gpointer value, gpointer data)
{
    const struct smg_dnsbl_entry *e = value;

    (void) key;
    (void) data;
    return e->state == SMG_DNSBL_ENTRY_CLEARED && e->notified;
}

enum smg_status
smg_dnsbl_state_save(struct smg_dnsbl_state *st, const char *path,
                     GError **err)
{
    GKeyFile *kf = g_key_file_new();
    GPtrArray *all;
    char *data, *tmp;
    gsize len;
    enum smg_status rc;

    all = smg_dnsbl_state_entries(st);
    g_key_file_set_comment(kf, NULL, NULL,
                           " smg-blcheck state: one group per listing, see "
                           "smg-blcheck(8)",
                           NULL);
    for (guint i = 0; i < all->len; i++) {
        const struct smg_dnsbl_entry *e = all->pdata[i];
        char *g;

        if (told_clearance(NULL, all->pdata[i], NULL))
            continue; /* a told clearance has nothing more to say */
        g = g_strdup_printf("%s %s %s", e->gateway, e->subject, e->zone);

        g_key_file_set_string(kf, g, "gateway", e->gateway);
        g_key_file_set_string(kf, g, "subject", e->subject);
        g_key_file_set_string(kf, g, "zone", e->zone);
        g_key_file_set_string(kf, g, "kind", e->by_name ? "name" : "ip");
        g_key_file_set_string(kf, g, "state",
                              e->state == SMG_DNSBL_ENTRY_LISTED ? "listed"
                                                                 : "cleared");
        kf_set_time(kf, g, "since", e->since);
        kf_set_time(kf, g, "last_seen", e->last_seen);
        kf_set_time(kf, g, "cleared", e->cleared);
        kf_set_opt(kf, g, "reason", e->reason);
        kf_set_opt(kf, g, "answer", e->answer);
        g_key_file_set_boolean(kf, g, "notified", e->notified);
        kf_set_opt(kf, g, "removal", e->removal);
        kf_set_opt(kf, g, "removal_detail", e->removal_detail);
        kf_set_time(kf, g, "removal_time", e->removal_time);
        if (e->removal_attempts > 0)
            g_key_file_set_int64(kf, g, "removal_attempts",
                                 e->removal_attempts);
        g_free(g);
    }
    g_ptr_array_unref(all);
    data = g_key_file_to_data(kf, &len, NULL);
    g_key_file_free(kf);
    tmp = g_strconcat(path, ".tmp", NULL);
    rc = smg_file_replace(path, tmp, data, len, 0640, NULL, err);
    g_free(tmp);
    g_free(data);
    return rc;
}

struct smg_dnsbl_entry *
smg_dnsbl_state_get(const struct smg_dnsbl_state *st, const char *gateway,
                    const char *subject, const char *zone)
{
    char *k = entry_key(gateway, subject, zone);
    struct smg_dnsbl_entry *e = g_hash_table_lookup(st->entries, k);

    g_free(k);
    return e;
}

/* set_str - replace *dst with a copy of src */
static void
set_str(char **dst, const char *src)
{
    char *old = *dst;

    *dst = g_strdup(src);
    g_free(old);
}

struct smg_dnsbl_entry *
smg_dnsbl_state_apply(struct smg_dnsbl_state *st, const char *gateway,
                      const struct smg_dnsbl_query *q, gint64 now)
{
    struct smg_dnsbl_entry *e =
        smg_dnsbl_state_get(st, gateway, q->subject, q->zone);

    switch (q->verdict) {
    case SMG_DNSBL_ERROR: return e;
    case SMG_DNSBL_CLEAN:
        if (e != NULL && e->state == SMG_DNSBL_ENTRY_LISTED) {
            e->state = SMG_DNSBL_ENTRY_CLEARED;
            e->cleared = now;
            e->notified = FALSE;
            e->changed = TRUE;
        }
        return e;
    case SMG_DNSBL_LISTED: break;
    }
    if (e == NULL || e->state == SMG_DNSBL_ENTRY_CLEARED) {
        /* a new listing (or one back before its clearance was told) */
        if (e == NULL) {
            e = g_new0(struct smg_dnsbl_entry, 1);
            e->gateway = g_strdup(gateway);
            e->subject = g_strdup(q->subject);
            e->zone = g_strdup(q->zone);
            g_hash_table_replace(st->entries,
                                 entry_key(gateway, q->subject, q->zone), e);
        }
        e->state = SMG_DNSBL_ENTRY_LISTED;
        e->since = now;
        e->cleared = 0;
        e->notified = FALSE;
        g_clear_pointer(&e->removal, g_free);
        g_clear_pointer(&e->removal_detail, g_free);
        e->removal_time = 0;
        e->removal_attempts = 0;
        e->changed = TRUE;
    }
    e->by_name = q->by_name;
    e->last_seen = now;
    set_str(&e->reason, q->reason);
    set_str(&e->answer, q->answer);
    return e;
}

struct retain_ctx {
    gboolean (*keep)(const struct smg_dnsbl_entry *, gpointer);
    gpointer data;
};

/* retain_drop - foreach_remove predicate for smg_dnsbl_state_retain */
static gboolean
retain_drop(gpointer key, gpointer value, gpointer data)
{
    struct retain_ctx *ctx = data;

    (void) key;
    return !ctx->keep(value, ctx->data);
}

unsigned
smg_dnsbl_state_retain(struct smg_dnsbl_state *st,
                       gboolean (*keep)(const struct smg_dnsbl_entry *,
                                        gpointer),
                       gpointer data)
{
    struct retain_ctx ctx = {keep, data};

    return g_hash_table_foreach_remove(st->entries, retain_drop, &ctx);
}

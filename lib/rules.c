/*
 * rules.c - parse and run the rules file (format in rules.h and
 * smg-check(8)).
 *
 * Rules are kept in definition order in an array, with a name index so a
 * later definition or "score" line replaces an earlier one in place.
 * Patterns are compiled once at load with G_REGEX_OPTIMIZE (PCRE2's JIT)
 * and G_REGEX_RAW (bytes: no UTF-8 validation of every subject, and raw
 * messages need not be UTF-8), and once more without the JIT: GRegex
 * gives the JIT its 32 KiB default stack, which a group repeated a few
 * thousand times exhausts ("backtracking limit reached"), so a match
 * that fails with an error is run again by the interpreter, whose
 * backtracking lives on the heap.  Evaluation never fails: DNS trouble in
 * uri_dnsbl only means the test does not fire, and is noted for the log.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "lib/addr.h"
#include "lib/customers.h"
#include "lib/dnsbl.h"
#include "lib/rules.h"
#include "lib/table.h"

enum rule_type { R_HEADER, R_BODY, R_URI, R_RAW, R_HTML, R_TEST };
enum header_op { H_MATCH, H_NOMATCH, H_EXISTS, H_NEXISTS };
enum field_mod { F_VALUE, F_ADDR, F_NAME };

enum test_fn {
    T_HTML_ONLY, T_LINK_MISMATCH, T_HEADER_8BIT, T_PARTS_CUT, T_DATE_MISSING,
    T_DATE_INVALID, T_DATE_FUTURE, T_DATE_PAST, T_MSGID_MISSING,
    T_MSGID_INVALID, T_ATTACHMENT_EXT, T_RECIPIENTS_OVER, T_FROM_MISMATCH,
    T_CAPS_RATIO, T_URI_DNSBL,
};

static const struct {
    const char *name;
    enum test_fn fn;
    int nargs; /* -1: one or more words; 1: one number; 0: none */
} functions[] = {
    {"html_only", T_HTML_ONLY, 0},
    {"link_mismatch", T_LINK_MISMATCH, 0},
    {"header_8bit", T_HEADER_8BIT, 0},
    {"parts_cut", T_PARTS_CUT, 0},
    {"date_missing", T_DATE_MISSING, 0},
    {"date_invalid", T_DATE_INVALID, 0},
    {"date_future", T_DATE_FUTURE, 1},
    {"date_past", T_DATE_PAST, 1},
    {"msgid_missing", T_MSGID_MISSING, 0},
    {"msgid_invalid", T_MSGID_INVALID, 0},
    {"attachment_ext", T_ATTACHMENT_EXT, -1},
    {"recipients_over", T_RECIPIENTS_OVER, 1},
    {"from_mismatch", T_FROM_MISMATCH, 0},
    {"caps_ratio", T_CAPS_RATIO, 1},
    {"uri_dnsbl", T_URI_DNSBL, 0},
};

struct rule {
    char *name;
    char *desc;
    double score;
    enum rule_type type;
    GRegex *re;      /* JIT-compiled */
    GRegex *re_slow; /* the same without the JIT, for what re cannot do */
    enum header_op op;
    char *field;
    enum field_mod mod;
    enum test_fn fn;
    double arg;
    char **args;
};

struct smg_rules {
    GPtrArray *rules;  /* of struct rule * */
    GHashTable *index; /* name -> struct rule * (not owned) */
};

/* rule_free - free one rule */
static void
rule_free(gpointer p)
{
    struct rule *r = p;

    if (r == NULL)
        return;
    g_free(r->name);
    g_free(r->desc);
    if (r->re != NULL)
        g_regex_unref(r->re);
    if (r->re_slow != NULL)
        g_regex_unref(r->re_slow);
    g_free(r->field);
    g_strfreev(r->args);
    g_free(r);
}

struct smg_rules *
smg_rules_new(void)
{
    struct smg_rules *rules = g_new0(struct smg_rules, 1);

    rules->rules = g_ptr_array_new_with_free_func(rule_free);
    rules->index = g_hash_table_new(g_str_hash, g_str_equal);
    return rules;
}

void
smg_rules_free(struct smg_rules *rules)
{
    if (rules == NULL)
        return;
    g_hash_table_destroy(rules->index);
    g_ptr_array_free(rules->rules, TRUE);
    g_free(rules);
}

unsigned
smg_rules_count(const struct smg_rules *rules)
{
    return rules->rules->len;
}

/* next_word - the next white-space delimited word of *p (new), or NULL */
static char *
next_word(const char **p)
{
    const char *s = *p, *e;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0') {
        *p = s;
        return NULL;
    }
    e = s;
    while (*e != '\0' && *e != ' ' && *e != '\t')
        e++;
    *p = e;
    return g_strndup(s, (gsize) (e - s));
}

/* skip_space - past blanks */
static const char *
skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* valid_name - whether s is a rule name: [A-Z0-9_]+ */
static gboolean
valid_name(const char *s)
{
    if (*s == '\0')
        return FALSE;
    for (; *s != '\0'; s++)
        if (!g_ascii_isupper(*s) && !g_ascii_isdigit(*s) && *s != '_')
            return FALSE;
    return TRUE;
}

/* parse_score - a finite number */
static gboolean
parse_score(const char *s, double *out)
{
    char *end;

    if (s == NULL)
        return FALSE;
    *out = g_ascii_strtod(s, &end);
    return *s != '\0' && *end == '\0' && isfinite(*out) && fabs(*out) <= 10000;
}

/*
 * parse_regex - "/RE/FLAGS" at p (to the end of the line) into r->re and
 * r->re_slow; FALSE with *why set
 */
static gboolean
parse_regex(struct rule *r, const char *p, char **why)
{
    const char *end, *last;
    GRegexCompileFlags cf = G_REGEX_RAW | G_REGEX_OPTIMIZE;
    GError *e = NULL;
    GRegex *re;
    char *pat;

    p = skip_space(p);
    end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (*p != '/') {
        *why = g_strdup("expected /regular expression/");
        return FALSE;
    }
    /* the closing slash is the last one; flags follow it */
    last = end - 1;
    while (last > p && *last != '/')
        last--;
    if (last == p) {
        *why = g_strdup("unterminated /regular expression/");
        return FALSE;
    }
    for (const char *f = last + 1; f < end; f++) {
        switch (*f) {
        case 'i': cf |= G_REGEX_CASELESS; break;
        case 'm': cf |= G_REGEX_MULTILINE; break;
        case 's': cf |= G_REGEX_DOTALL; break;
        case 'x': cf |= G_REGEX_EXTENDED; break;
        default:
            *why = g_strdup_printf("unknown flag '%c' (flags are i, m, s, x)", *f);
            return FALSE;
        }
    }
    pat = g_strndup(p + 1, (gsize) (last - p - 1));
    if (*pat == '\0') {
        g_free(pat);
        *why = g_strdup("empty regular expression");
        return FALSE;
    }
    re = g_regex_new(pat, cf, 0, &e);
    if (re == NULL) {
        *why = g_strdup_printf("bad regular expression: %s", e->message);
        g_error_free(e);
        g_free(pat);
        return FALSE;
    }
    r->re = re;
    r->re_slow = g_regex_new(pat, cf & ~G_REGEX_OPTIMIZE, 0, NULL);
    g_free(pat);
    if (r->re_slow == NULL)
        r->re_slow = g_regex_ref(re); /* (it compiled once) */
    return TRUE;
}

/* parse_test - "FUNCTION [ARG...]" into r; FALSE with *why */
static gboolean
parse_test(struct rule *r, const char *p, char **why)
{
    char *fname = next_word(&p);
    unsigned i;
    char **args;
    guint nargs;

    if (fname == NULL) {
        *why = g_strdup("expected a function name");
        return FALSE;
    }
    for (i = 0; i < G_N_ELEMENTS(functions); i++)
        if (strcmp(functions[i].name, fname) == 0)
            break;
    if (i == G_N_ELEMENTS(functions)) {
        *why = g_strdup_printf("unknown function %s", fname);
        g_free(fname);
        return FALSE;
    }
    g_free(fname);
    r->fn = functions[i].fn;
    args = g_strsplit_set(skip_space(p), " \t", -1);
    /* drop empty words from repeated blanks */
    {
        char **w = args, **o = args;
        for (; *w != NULL; w++) {
            if (**w != '\0')
                *o++ = *w;
            else
                g_free(*w);
        }
        *o = NULL;
    }
    nargs = g_strv_length(args);
    if (functions[i].nargs == 0 && nargs != 0) {
        *why = g_strdup_printf("%s takes no argument", functions[i].name);
    } else if (functions[i].nargs == 1
               && (nargs != 1 || !parse_score(args[0], &r->arg) || r->arg < 0)) {
        *why = g_strdup_printf("%s takes one number", functions[i].name);
    } else if (functions[i].nargs == -1 && nargs == 0) {
        *why = g_strdup_printf("%s takes one or more words", functions[i].name);
    } else {
        for (char **w = args; *w != NULL; w++) {
            char *lower = g_ascii_strdown(*w, -1);
            g_free(*w);
            *w = lower;
        }
        r->args = args;
        return TRUE;
    }
    g_strfreev(args);
    return FALSE;
}

/* parse_header - "FIELD =~ /RE/", "FIELD !~ /RE/", "[!]exists FIELD" */
static gboolean
parse_header(struct rule *r, const char *p, char **why)
{
    char *w1 = next_word(&p);
    char *w2;

    if (w1 == NULL) {
        *why = g_strdup("expected a header test");
        return FALSE;
    }
    if (strcmp(w1, "exists") == 0 || strcmp(w1, "!exists") == 0) {
        r->op = w1[0] == '!' ? H_NEXISTS : H_EXISTS;
        g_free(w1);
        r->field = next_word(&p);
        if (r->field == NULL || *skip_space(p) != '\0') {
            *why = g_strdup("expected exists FIELD");
            return FALSE;
        }
        return TRUE;
    }
    r->field = w1;
    w2 = next_word(&p);
    if (w2 == NULL || (strcmp(w2, "=~") != 0 && strcmp(w2, "!~") != 0)) {
        *why = g_strdup("expected FIELD =~ /RE/ or FIELD !~ /RE/");
        g_free(w2);
        return FALSE;
    }
    r->op = w2[0] == '!' ? H_NOMATCH : H_MATCH;
    g_free(w2);
    {
        char *colon = strchr(r->field, ':');
        if (colon != NULL) {
            if (g_ascii_strcasecmp(colon + 1, "addr") == 0)
                r->mod = F_ADDR;
            else if (g_ascii_strcasecmp(colon + 1, "name") == 0)
                r->mod = F_NAME;
            else {
                *why = g_strdup_printf("unknown field modifier :%s (addr or name)", colon + 1);
                return FALSE;
            }
            *colon = '\0';
        }
    }
    return parse_regex(r, p, why);
}

/* add_rule - add r, replacing a rule of the same name in place */
static void
add_rule(struct smg_rules *rules, struct rule *r)
{
    struct rule *old = g_hash_table_lookup(rules->index, r->name);

    if (old != NULL) {
        for (guint i = 0; i < rules->rules->len; i++)
            if (rules->rules->pdata[i] == old) {
                if (*r->desc == '\0' && *old->desc != '\0') {
                    g_free(r->desc);
                    r->desc = g_strdup(old->desc);
                }
                g_hash_table_remove(rules->index, old->name);
                rule_free(old);
                rules->rules->pdata[i] = r;
                break;
            }
    } else {
        g_ptr_array_add(rules->rules, r);
    }
    g_hash_table_insert(rules->index, r->name, r);
}

/* A "score" or "describe" line, applied once the whole file is read. */
struct pending {
    gboolean is_score;
    char *name;
    char *text;   /* describe */
    double score; /* score */
    unsigned line;
};

/* pending_clear - GArray element free function */
static void
pending_clear(gpointer p)
{
    struct pending *x = p;

    g_free(x->name);
    g_free(x->text);
}

/* parse_line - one non-comment line (number lineno); FALSE with *why */
static gboolean
parse_line(struct smg_rules *rules, const char *line, unsigned lineno,
           GArray *pending, char **why)
{
    const char *p = line;
    char *kind = next_word(&p);
    char *name = next_word(&p);
    struct rule *r;
    gboolean ok = FALSE;

    if (name == NULL || !valid_name(name)) {
        *why = name == NULL ? g_strdup("expected a rule name")
                            : g_strdup_printf("bad rule name %s (A-Z, 0-9 and _)", name);
        g_free(kind);
        g_free(name);
        return FALSE;
    }
    if (strcmp(kind, "describe") == 0) {
        struct pending x = {FALSE, name, g_strdup(skip_space(p)), 0, lineno};
        g_array_append_val(pending, x);
        g_free(kind);
        return TRUE;
    }
    if (strcmp(kind, "score") == 0) {
        char *s = next_word(&p);
        double v;
        if (!parse_score(s, &v) || *skip_space(p) != '\0') {
            *why = g_strdup("expected score NAME NUMBER");
            g_free(s);
            g_free(kind);
            g_free(name);
            return FALSE;
        }
        g_free(s);
        {
            struct pending x = {TRUE, name, NULL, v, lineno};
            g_array_append_val(pending, x);
        }
        g_free(kind);
        return TRUE;
    }
    r = g_new0(struct rule, 1);
    r->name = name;
    r->desc = g_strdup("");
    {
        char *s = next_word(&p);
        if (!parse_score(s, &r->score)) {
            *why = g_strdup_printf("%s: expected a score after the name", name);
            g_free(s);
            goto done;
        }
        g_free(s);
    }
    if (strcmp(kind, "header") == 0) {
        r->type = R_HEADER;
        ok = parse_header(r, p, why);
    } else if (strcmp(kind, "body") == 0 || strcmp(kind, "uri") == 0
               || strcmp(kind, "raw") == 0 || strcmp(kind, "html") == 0) {
        r->type = kind[0] == 'b' ? R_BODY : kind[0] == 'u' ? R_URI : kind[0] == 'h' ? R_HTML : R_RAW;
        ok = parse_regex(r, p, why);
    } else if (strcmp(kind, "test") == 0) {
        r->type = R_TEST;
        ok = parse_test(r, p, why);
    } else {
        *why = g_strdup_printf("unknown rule type %s (header, body, html, uri, raw, "
                               "test, describe, score)", kind);
    }
done:
    g_free(kind);
    if (!ok) {
        rule_free(r);
        return FALSE;
    }
    add_rule(rules, r);
    return TRUE;
}

enum smg_status
smg_rules_parse(struct smg_rules *rules, const char *text, const char *name,
                GError **err)
{
    struct smg_rules *tmp = smg_rules_new();
    GArray *pending = g_array_new(FALSE, FALSE, sizeof(struct pending));
    char **lines = g_strsplit(text, "\n", -1);
    enum smg_status st = SMG_OK;

    g_array_set_clear_func(pending, pending_clear);
    /* parse into a copy of the set, so a failure leaves rules unchanged */
    for (guint i = 0; i < rules->rules->len; i++) {
        const struct rule *o = rules->rules->pdata[i];
        struct rule *c = g_new0(struct rule, 1);
        *c = *o;
        c->name = g_strdup(o->name);
        c->desc = g_strdup(o->desc);
        c->re = o->re != NULL ? g_regex_ref(o->re) : NULL;
        c->re_slow = o->re_slow != NULL ? g_regex_ref(o->re_slow) : NULL;
        c->field = g_strdup(o->field);
        c->args = g_strdupv(o->args);
        add_rule(tmp, c);
    }
    for (unsigned i = 0; lines[i] != NULL && st == SMG_OK; i++) {
        char *line = g_strstrip(lines[i]);
        char *why = NULL;

        if (*line == '\0' || *line == '#')
            continue;
        if (!parse_line(tmp, line, i + 1, pending, &why)) {
            smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: %s", name, i + 1, why);
            st = SMG_CONFIG;
        }
        g_free(why);
    }
    /* describe and score may come before or after the rule in the file;
     * they apply in file order (a later one wins), the first that names
     * no rule is the error, with its line */
    for (guint i = 0; st == SMG_OK && i < pending->len; i++) {
        const struct pending *x = &g_array_index(pending, struct pending, i);
        struct rule *r = g_hash_table_lookup(tmp->index, x->name);
        if (r == NULL) {
            smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: %s %s: no such rule", name, x->line,
                          x->is_score ? "score" : "describe", x->name);
            st = SMG_CONFIG;
        } else if (x->is_score) {
            r->score = x->score;
        } else {
            g_free(r->desc);
            r->desc = g_strdup(x->text);
        }
    }
    if (st == SMG_OK) {
        /* swap the new set in */
        GPtrArray *a = rules->rules;
        GHashTable *h = rules->index;
        rules->rules = tmp->rules;
        rules->index = tmp->index;
        tmp->rules = a;
        tmp->index = h;
    }
    smg_rules_free(tmp);
    g_array_free(pending, TRUE);
    g_strfreev(lines);
    return st;
}

enum smg_status
smg_rules_load(struct smg_rules *rules, const char *path, GError **err)
{
    char *text = NULL;
    enum smg_status st;

    if ((st = smg_table_text(path, "rules file", &text, err)) != SMG_OK)
        return st;
    st = smg_rules_parse(rules, text, path, err);
    g_free(text);
    return st;
}

/* ---- evaluation ---- */

GArray *
smg_rules_hits_new(void)
{
    return g_array_new(FALSE, FALSE, sizeof(struct smg_rules_hit));
}

void
smg_rules_hits_free(GArray *hits)
{
    if (hits == NULL)
        return;
    for (guint i = 0; i < hits->len; i++)
        g_free(g_array_index(hits, struct smg_rules_hit, i).detail);
    g_array_free(hits, TRUE);
}

/* snippet - a short printable copy of s[0..len) for --explain */
static char *
snippet(const char *s, gsize len)
{
    GString *out = g_string_new(NULL);

    for (gsize i = 0; i < len && out->len < 60; i++) {
        unsigned char c = (unsigned char) s[i];
        g_string_append_c(out, c < ' ' || c == 0x7F ? ' ' : (char) c);
    }
    if (len > 60)
        g_string_append(out, "...");
    return g_string_free(out, FALSE);
}

/*
 * re_match - whether r's pattern matches s[0..len); *detail gets the
 * match.  An error of the JIT (its stack) is retried by the interpreter;
 * one of the interpreter too (PCRE2's match limit: a pattern that
 * backtracks without end) is no match, and *failed is set if given.
 */
static gboolean
re_match(const struct rule *r, const char *s, gsize len, char **detail,
         gboolean *failed)
{
    GMatchInfo *mi = NULL;
    GError *e = NULL;
    gboolean m = g_regex_match_full(r->re, s, (gssize) len, 0, 0, &mi, &e);

    if (e != NULL) {
        g_clear_error(&e);
        g_match_info_free(mi);
        mi = NULL;
        m = g_regex_match_full(r->re_slow, s, (gssize) len, 0, 0, &mi, &e);
        if (e != NULL) {
            if (failed != NULL)
                *failed = TRUE;
            g_error_free(e);
            m = FALSE;
        }
    }

    if (m && detail != NULL) {
        int a, b;
        if (g_match_info_fetch_pos(mi, 0, &a, &b) && a >= 0 && b >= a)
            *detail = snippet(s + a, (gsize) (b - a));
    }
    g_match_info_free(mi);
    return m;
}

/* addr_part - the addresses (FALSE) or the rest (TRUE) of a field value */
static char *
addr_part(const char *v, gboolean name)
{
    GString *out = g_string_new(NULL);
    char **w = g_strsplit_set(v, " \t,;<>", -1);

    for (unsigned i = 0; w[i] != NULL; i++) {
        gboolean is_addr = strchr(w[i], '@') != NULL;
        if (*w[i] == '\0' || is_addr == name)
            continue;
        if (out->len > 0)
            g_string_append_c(out, name ? ' ' : ',');
        g_string_append(out, w[i]);
    }
    g_strfreev(w);
    if (name) {
        /* display names are often quoted */
        char *s = g_string_free(out, FALSE);
        g_strdelimit(s, "\"", ' ');
        g_strstrip(s);
        return s;
    }
    return g_string_free(out, FALSE);
}

/* header_values - the values of field name joined by \n; NULL if none */
static char *
header_values(const struct smg_mimetext *mt, const struct rule *r)
{
    GString *out = NULL;
    gboolean all = g_ascii_strcasecmp(r->field, "ALL") == 0;

    for (guint i = 0; i < mt->headers->len; i++) {
        const struct smg_mimetext_header *h =
            &g_array_index(mt->headers, struct smg_mimetext_header, i);
        if (!all && g_ascii_strcasecmp(h->name, r->field) != 0)
            continue;
        if (out == NULL)
            out = g_string_new(NULL);
        else
            g_string_append_c(out, '\n');
        if (all)
            g_string_append_printf(out, "%s: %s", h->name, h->value);
        else if (r->mod == F_VALUE)
            g_string_append(out, h->value);
        else {
            char *s = addr_part(h->value, r->mod == F_NAME);
            g_string_append(out, s);
            g_free(s);
        }
    }
    return out != NULL ? g_string_free(out, FALSE) : NULL;
}

/* domain_of - the domain of an address (new) as smg_addr_domain_key
 * gives it, or NULL */
static char *
domain_of(const char *addr)
{
    const char *at = addr != NULL ? strrchr(addr, '@') : NULL;

    if (at == NULL || at[1] == '\0')
        return NULL;
    return smg_addr_domain_key(at + 1);
}

/* same_org - whether two host names share their registered domain */
static gboolean
same_org(const char *a, const char *b)
{
    char *da = smg_mimetext_domain(a), *db = smg_mimetext_domain(b);
    gboolean same = strcmp(da, db) == 0;

    g_free(da);
    g_free(db);
    return same;
}

/* from_mismatch - From: domain unlike the customer's or the sender's */
static gboolean
from_mismatch(const struct smg_rules_input *in, char **detail)
{
    char *from = domain_of(in->mt->from_addr);
    gboolean fire = FALSE;

    if (from == NULL)
        return FALSE;
    if (in->customer_domains != NULL && in->customer_domains[0] != NULL) {
        fire = !smg_customers_covers(in->customer_domains, from);
    } else {
        char *snd = domain_of(in->sender);
        if (snd != NULL)
            fire = !same_org(from, snd);
        g_free(snd);
    }
    if (fire)
        *detail = g_strdup(from);
    g_free(from);
    return fire;
}

/* caps_ratio - percent of upper-case among ASCII letters (min 200) */
static double
caps_ratio(const GString *text)
{
    gsize up = 0, letters = 0;

    for (gsize i = 0; i < text->len; i++) {
        char c = text->str[i];
        if (g_ascii_isupper(c)) {
            up++;
            letters++;
        } else if (g_ascii_islower(c)) {
            letters++;
        }
    }
    return letters < 200 ? 0 : 100.0 * (double) up / (double) letters;
}

/*
 * uri_domain_ascii - the registered domain of a link's host in the ASCII
 * form blocklists list it in (a new string), or NULL: the labels are
 * split first, so that one label IDNA refuses cannot hide the rest, then
 * the registered domain is converted, IDNA 2008 first;
 * a name it refuses (symbols, emoji) is still what a browser visits, by
 * the older rules its registry used, so IDNA 2003 (GLib) is asked next.
 */
static char *
uri_domain_ascii(const char *host)
{
    /* the full stops IDNA maps to "." (U+3002, U+FF0E, U+FF61) divide
     * labels as "." does, before the registered domain is cut off */
    static const char *const stops[] = {"\xe3\x80\x82", "\xef\xbc\x8e", "\xef\xbd\xa1"};
    GString *h = g_string_sized_new(strlen(host));
    char *dom, *ascii;

    for (const char *p = host; *p != '\0';) {
        unsigned i = 0;

        while (i < G_N_ELEMENTS(stops) && strncmp(p, stops[i], 3) != 0)
            i++;
        if (i < G_N_ELEMENTS(stops)) {
            g_string_append_c(h, '.');
            p += 3;
        } else {
            g_string_append_c(h, *p++);
        }
    }
    dom = smg_mimetext_domain(h->str);
    g_string_free(h, TRUE);
    ascii = smg_addr_idna_ascii(dom); /* an IP address comes back as it is */
    if (ascii == NULL) {
        char *old = g_hostname_to_ascii(dom);
        ascii = old != NULL ? g_ascii_strdown(old, -1) : NULL;
        g_free(old);
    }
    g_free(dom);
    return ascii;
}

/*
 * uri_domains - the distinct domains of a message's links that a domain
 * list can hold (no IP addresses), at most max of them.  With more, which
 * ones is not their order in the message: ten harmless links put first
 * would hide the eleventh.  They are shuffled with a seed made of the
 * domains themselves, so that --explain chooses as the stage does; an
 * attacker who knows the code may still search for padding that leaves
 * his domain out, but no longer has it for free.
 */
static GPtrArray *
uri_domains(const struct smg_mimetext *mt, unsigned max, guint *found)
{
    GPtrArray *doms = g_ptr_array_new_with_free_func(g_free);
    GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
    guint32 seed = 5381;

    for (guint i = 0; i < mt->uris->len; i++) {
        char *host = smg_mimetext_uri_host(mt->uris->pdata[i]);
        char *dom;

        if (host == NULL)
            continue;
        dom = uri_domain_ascii(host);
        g_free(host);
        if (dom == NULL)
            continue; /* no name DNS could hold */
        if (strchr(dom, '.') == NULL || strspn(dom, "0123456789.") == strlen(dom)
            || strchr(dom, ':') != NULL || g_hash_table_contains(seen, dom)) {
            g_free(dom);
            continue;
        }
        g_hash_table_add(seen, dom);
        g_ptr_array_add(doms, dom);
        seed = seed * 33 ^ g_str_hash(dom);
    }
    g_hash_table_destroy(seen);
    *found = doms->len;
    if (doms->len > max) {
        GRand *r = g_rand_new_with_seed(seed);

        for (guint i = 0; i < max; i++) {
            guint j = (guint) g_rand_int_range(r, (gint32) i, (gint32) doms->len);
            gpointer t = doms->pdata[i];

            doms->pdata[i] = doms->pdata[j];
            doms->pdata[j] = t;
        }
        g_rand_free(r);
        g_ptr_array_set_size(doms, (gint) max);
    }
    return doms;
}

/* uri_dnsbl - whether a URI domain is listed in one of the zones */
static gboolean
uri_dnsbl(const struct smg_rules_input *in, char **detail, GString *notes)
{
    unsigned max = in->uri_max > 0 ? in->uri_max : 10;
    gboolean listed = FALSE;
    guint nzones, nfailed = 0, found;
    gboolean *failed;
    GPtrArray *doms;

    if (in->dns == NULL || in->uri_zones == NULL || in->uri_zones[0] == NULL)
        return FALSE;
    nzones = g_strv_length((char **) in->uri_zones);
    /* a list that timed out or failed is not asked again for this
     * message's other domains: each would wait the whole DNS time-out */
    failed = g_new0(gboolean, nzones);
    doms = uri_domains(in->mt, max, &found);
    if (found > doms->len && notes != NULL)
        g_string_append_printf(notes, "%suri_dnsbl=%u of %u domains", notes->len > 0 ? ", " : "",
                               doms->len, found);
    for (guint i = 0; i < doms->len && !listed && nfailed < nzones; i++) {
        const char *dom = doms->pdata[i];

        for (guint z = 0; z < nzones && !listed; z++) {
            const char *zone = in->uri_zones[z];
            struct smg_dnsbl_query *q;
            char *qname;

            if (failed[z])
                continue;
            /* a name DNS cannot hold under this zone (a label over 63
             * octets) is the link's fault, not the list's: skipped */
            if ((qname = smg_dnsbl_query_name(dom, zone, TRUE, NULL)) == NULL)
                continue;
            g_free(qname);
            q = smg_dnsbl_query_new(dom, zone, TRUE, NULL);
            smg_dnsbl_lookup(in->dns, q);
            if (q->verdict == SMG_DNSBL_LISTED) {
                listed = TRUE;
                *detail = g_strdup_printf("%s in %s", dom, zone);
            } else if (q->verdict == SMG_DNSBL_ERROR) {
                failed[z] = TRUE;
                nfailed++;
                if (notes != NULL)
                    g_string_append_printf(notes, "%suri_dnsbl=tempfail(%s.%s)",
                                           notes->len > 0 ? ", " : "", dom, zone);
            }
            smg_dnsbl_query_free(q);
        }
    }
    g_ptr_array_unref(doms);
    g_free(failed);
    return listed;
}

/* run_test - a built-in test */
static gboolean
run_test(const struct rule *r, const struct smg_rules_input *in, char **detail,
         GString *notes)
{
    const struct smg_mimetext *mt = in->mt;
    gint64 ref;

    switch (r->fn) {
    case T_HTML_ONLY:
        return mt->n_html > 0 && mt->n_plain == 0;
    case T_LINK_MISMATCH:
        return mt->link_mismatch > 0;
    case T_HEADER_8BIT:
        return mt->header_8bit;
    case T_PARTS_CUT:
        return mt->parts_cut;
    case T_DATE_MISSING:
        return !mt->date_present;
    case T_DATE_INVALID:
        return mt->date_present && !mt->date_valid;
    case T_DATE_FUTURE:
    case T_DATE_PAST:
        if (!mt->date_valid)
            return FALSE;
        ref = smg_rules_received_time(mt);
        if (ref == 0)
            ref = in->now;
        if (ref == 0)
            return FALSE;
        if (r->fn == T_DATE_FUTURE && mt->date - ref > (gint64) (r->arg * 3600)) {
            *detail = g_strdup_printf("%.0f h ahead", (double) (mt->date - ref) / 3600);
            return TRUE;
        }
        if (r->fn == T_DATE_PAST && ref - mt->date > (gint64) (r->arg * 86400)) {
            *detail = g_strdup_printf("%.0f d behind", (double) (ref - mt->date) / 86400);
            return TRUE;
        }
        return FALSE;
    case T_MSGID_MISSING:
        return !mt->msgid_present;
    case T_MSGID_INVALID:
        return mt->msgid_present && !mt->msgid_valid;
    case T_ATTACHMENT_EXT:
        for (guint i = 0; i < mt->filenames->len; i++) {
            const char *name = mt->filenames->pdata[i];
            gsize n = strlen(name), dot;
            /* Windows drops trailing dots and spaces from a file name:
             * "a.exe." and "a.exe " are saved and run as "a.exe" */
            while (n > 0 && (name[n - 1] == '.' || name[n - 1] == ' '))
                n--;
            for (dot = n; dot > 0 && name[dot - 1] != '.'; dot--)
                ;
            if (dot == 0)
                continue;
            for (char **e = r->args; *e != NULL; e++)
                if (strlen(*e) == n - dot && g_ascii_strncasecmp(name + dot, *e, n - dot) == 0) {
                    *detail = g_strdup(name);
                    return TRUE;
                }
        }
        return FALSE;
    case T_RECIPIENTS_OVER: {
        unsigned n = in->nrcpt > 0 ? in->nrcpt : mt->n_rcpt_headers;
        if (n > r->arg) {
            *detail = g_strdup_printf("%u recipients", n);
            return TRUE;
        }
        return FALSE;
    }
    case T_FROM_MISMATCH:
        return from_mismatch(in, detail);
    case T_CAPS_RATIO: {
        double c = caps_ratio(mt->text);
        if (c > r->arg) {
            *detail = g_strdup_printf("%.0f%% capitals", c);
            return TRUE;
        }
        return FALSE;
    }
    case T_URI_DNSBL:
        return uri_dnsbl(in, detail, notes);
    }
    return FALSE;
}

/* run_rule - whether rule r fires on in */
static gboolean
run_rule(const struct rule *r, const struct smg_rules_input *in, char **detail,
         GString *notes)
{
    const struct smg_mimetext *mt = in->mt;

    switch (r->type) {
    case R_HEADER: {
        char *v;
        gboolean m, failed = FALSE;
        if (r->op == H_EXISTS || r->op == H_NEXISTS) {
            gboolean present = smg_mimetext_header(mt, r->field) != NULL;
            return r->op == H_EXISTS ? present : !present;
        }
        v = header_values(mt, r);
        m = re_match(r, v != NULL ? v : "", v != NULL ? strlen(v) : 0,
                     r->op == H_MATCH ? detail : NULL, &failed);
        g_free(v);
        /* a match that could not be run tells nothing: neither fires */
        return r->op == H_MATCH ? m : !m && !failed;
    }
    case R_BODY:
        if (re_match(r, mt->subject, strlen(mt->subject), detail, NULL))
            return TRUE;
        return re_match(r, mt->text->str, mt->text->len, detail, NULL);
    case R_URI:
        for (guint i = 0; i < mt->uris->len; i++) {
            const char *u = mt->uris->pdata[i];
            if (re_match(r, u, strlen(u), NULL, NULL)) {
                *detail = snippet(u, strlen(u));
                return TRUE;
            }
        }
        return FALSE;
    case R_RAW:
        return re_match(r, mt->raw, mt->raw_len, detail, NULL);
    case R_HTML:
        return mt->html->len > 0
               && re_match(r, mt->html->str, mt->html->len, detail, NULL);
    case R_TEST:
        return run_test(r, in, detail, notes);
    }
    return FALSE;
}

double
smg_rules_eval(const struct smg_rules *rules, const struct smg_rules_input *in,
               GArray *hits, GString *notes)
{
    double total = 0;

    for (guint i = 0; i < rules->rules->len; i++) {
        const struct rule *r = rules->rules->pdata[i];
        char *detail = NULL;

        if (r->score == 0)
            continue;
        if (run_rule(r, in, &detail, notes)) {
            struct smg_rules_hit h = {r->name, r->desc, r->score, detail};
            g_array_append_val(hits, h);
            total += r->score;
        } else {
            g_free(detail);
        }
    }
    return total;
}

gint64
smg_rules_received_time(const struct smg_mimetext *mt)
{
    const char *v = smg_mimetext_header(mt, "Received");
    const char *semi;
    GDateTime *d;
    gint64 t;

    if (v == NULL || (semi = strrchr(v, ';')) == NULL)
        return 0;
    d = g_mime_utils_header_decode_date(semi + 1);
    if (d == NULL)
        return 0;
    t = g_date_time_to_unix(d);
    g_date_time_unref(d);
    return t;
}

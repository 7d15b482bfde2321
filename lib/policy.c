/*
 * policy.c - the TLS policy table (see policy.h).
 *
 * Rules are kept in file order and every lookup scores each one, which is
 * plenty for tables of a few thousand lines and keeps the precedence rule
 * in one obvious place (match_score).  Domains are stored in lower case.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>

#include "lib/addr.h"
#include "lib/policy.h"
#include "lib/table.h"

#define SCORE_EXACT 100000

struct rule {
    char *sender; /* "example.com", ".example.com" or "*" */
    char *rcpt;
    struct smg_policy_rule r;
};

struct smg_policy {
    GArray *rules; /* of struct rule */
};

static const char *const level_names[] = {"none", "may", "encrypt", "verify",
                                          "dane"};
static const char *const action_names[] = {"defer", "reject", "hold"};

const char *
smg_policy_level_name(enum smg_policy_level level)
{
    return (unsigned) level < G_N_ELEMENTS(level_names) ? level_names[level]
                                                        : "unknown";
}

const char *
smg_policy_action_name(enum smg_policy_action action)
{
    return (unsigned) action < G_N_ELEMENTS(action_names)
               ? action_names[action]
               : "unknown";
}

gboolean
smg_policy_parse_level(const char *s, enum smg_policy_level *level)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(level_names); i++)
        if (g_ascii_strcasecmp(s, level_names[i]) == 0) {
            *level = (enum smg_policy_level) i;
            return TRUE;
        }
    return FALSE;
}

gboolean
smg_policy_parse_action(const char *s, enum smg_policy_action *action)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(action_names); i++)
        if (g_ascii_strcasecmp(s, action_names[i]) == 0) {
            *action = (enum smg_policy_action) i;
            return TRUE;
        }
    return FALSE;
}

/* rule_clear - GArray clear function */
static void
rule_clear(gpointer p)
{
    struct rule *r = p;

    g_free(r->sender);
    g_free(r->rcpt);
}

struct smg_policy *
smg_policy_empty(void)
{
    struct smg_policy *p = g_new0(struct smg_policy, 1);

    p->rules = g_array_new(FALSE, TRUE, sizeof(struct rule));
    g_array_set_clear_func(p->rules, rule_clear);
    return p;
}

void
smg_policy_free(struct smg_policy *p)
{
    if (p == NULL)
        return;
    g_array_unref(p->rules);
    g_free(p);
}

/* valid_domain - "*", or a domain name with an optional leading dot */
static gboolean
valid_domain(const char *d)
{
    const char *s = d;

    if (strcmp(d, "*") == 0)
        return TRUE;
    if (*s == '.')
        s++;
    if (*s == '\0' || *s == '.' || strlen(s) > 253 || strstr(s, "..") != NULL)
        return FALSE;
    for (; *s != '\0'; s++)
        if (!g_ascii_isalnum(*s) && *s != '-' && *s != '.' && *s != '_')
            return FALSE;
    return d[strlen(d) - 1] != '.';
}

/*
 * match_score - how well pattern matches domain: SCORE_EXACT for an exact
 * match, the suffix length for a ".parent" match, 0 for "*", -1 for none.
 */
static int
match_score(const char *pattern, const char *domain)
{
    size_t pl, dl = strlen(domain);

    /* "bank.test." is the name "bank.test" (its root label written out),
     * which DNS, and so the MX lookup, takes for the same: it must not
     * escape that name's rule into the default */
    if (dl > 1 && domain[dl - 1] == '.')
        dl--;
    if (strcmp(pattern, "*") == 0)
        return 0;
    pl = strlen(pattern);
    if (pattern[0] != '.')
        return dl == pl && g_ascii_strncasecmp(pattern, domain, dl) == 0 ? SCORE_EXACT : -1;
    if (dl > pl && g_ascii_strncasecmp(domain + dl - pl, pattern, pl) == 0)
        return (int) pl;
    return -1;
}

struct smg_policy_rule
smg_policy_lookup(const struct smg_policy *p, const char *sender_domain,
                  const char *rcpt_domain)
{
    struct smg_policy_rule best = {SMG_POLICY_MAY, SMG_POLICY_DEFER, 0};
    int best_r = -1, best_s = -1;

    for (guint i = 0; p != NULL && i < p->rules->len; i++) {
        const struct rule *r = &g_array_index(p->rules, struct rule, i);
        int rs = match_score(r->rcpt, rcpt_domain != NULL ? rcpt_domain : "");
        int ss = match_score(r->sender, sender_domain != NULL ? sender_domain : "");

        if (rs < 0 || ss < 0)
            continue;
        if (rs > best_r || (rs == best_r && ss > best_s)) {
            best_r = rs;
            best_s = ss;
            best = r->r;
        }
    }
    return best;
}

/* parse_line - one rule into *out; FALSE with *why on error */
static gboolean
parse_line(char *line, unsigned lineno, struct rule *out, const char **why)
{
    char *words[5] = {NULL};
    unsigned n = 0;

    for (char *tok = strtok(line, " \t\r"); tok != NULL; tok = strtok(NULL, " \t\r")) {
        if (n == G_N_ELEMENTS(words)) {
            *why = "too many words (want: sender-domain recipient-domain "
                   "level [action])";
            return FALSE;
        }
        words[n++] = tok;
    }
    if (n < 3 || n > 4) {
        *why = n < 3 ? "too few words (want: sender-domain recipient-domain "
                       "level [action])"
                     : "too many words (want: sender-domain recipient-domain "
                       "level [action])";
        return FALSE;
    }
    memset(out, 0, sizeof *out);
    /* a U-label domain is taken in A-labels, the form smg-send looks it
     * up in (as the KeyTable and SigningTable do) */
    out->sender = smg_addr_domain_key(words[0]);
    out->rcpt = smg_addr_domain_key(words[1]);
    if (!valid_domain(out->sender) || !valid_domain(out->rcpt)) {
        *why = "bad domain (want example.com, .example.com or *)";
        rule_clear(out);
        return FALSE;
    }
    if (!smg_policy_parse_level(words[2], &out->r.level)) {
        *why = "unknown level (want none, may, encrypt, verify or dane)";
        rule_clear(out);
        return FALSE;
    }
    out->r.action = SMG_POLICY_DEFER;
    if (n == 4 && !smg_policy_parse_action(words[3], &out->r.action)) {
        *why = "unknown action (want defer, reject or hold)";
        rule_clear(out);
        return FALSE;
    }
    out->r.line = lineno;
    return TRUE;
}

enum smg_status
smg_policy_load_data(const char *text, const char *name, struct smg_policy **out,
                     GError **err)
{
    struct smg_policy *p = smg_policy_empty();
    char **lines = g_strsplit(text, "\n", -1);
    /* "sender rcpt" -> line: a pair given twice is found in O(1), so a
     * table of many thousand lines loads in linear time */
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    unsigned lineno = 0;

    *out = NULL;
    for (char **l = lines; *l != NULL; l++) {
        char *line = *l;
        char *hash = strchr(line, '#');
        const char *why = NULL;
        struct rule r;
        char *pair;
        guint first;

        lineno++;
        if (hash != NULL)
            *hash = '\0';
        if (*g_strstrip(line) == '\0')
            continue;
        if (!parse_line(line, lineno, &r, &why)) {
            smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: %s", name, lineno, why);
            goto fail;
        }
        pair = g_strconcat(r.sender, " ", r.rcpt, NULL);
        first = GPOINTER_TO_UINT(g_hash_table_lookup(seen, pair));
        if (first != 0) {
            smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: %s given twice (first on line %u)",
                          name, lineno, pair, first);
            g_free(pair);
            rule_clear(&r);
            goto fail;
        }
        g_hash_table_insert(seen, pair, GUINT_TO_POINTER(lineno));
        g_array_append_val(p->rules, r);
    }
    g_strfreev(lines);
    g_hash_table_destroy(seen);
    *out = p;
    return SMG_OK;
fail:
    g_strfreev(lines);
    g_hash_table_destroy(seen);
    smg_policy_free(p);
    return SMG_CONFIG;
}

enum smg_status
smg_policy_load(const char *path, struct smg_policy **out, GError **err)
{
    char *text = NULL;
    enum smg_status st;

    *out = NULL;
    if ((st = smg_table_text(path, "TLS policy", &text, err)) != SMG_OK)
        return st;
    st = smg_policy_load_data(text, path, out, err);
    g_free(text);
    return st;
}

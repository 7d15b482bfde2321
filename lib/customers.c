/*
 * customers.c - the table of the customers' own domains (see customers.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>

#include "lib/customers.h"

struct smg_customers {
    GHashTable *customers; /* customer -> GPtrArray of domains, NULL last */
};

/* domains_free - value destructor of the table */
static void
domains_free(gpointer p)
{
    g_ptr_array_free(p, TRUE);
}

enum smg_status
smg_customers_load(const char *path, struct smg_customers **out, GError **err)
{
    char *text = NULL, **lines;
    GError *ferr = NULL;
    struct smg_customers *tbl;
    enum smg_status st = SMG_OK;

    *out = NULL;
    if (!g_file_get_contents(path, &text, NULL, &ferr)) {
        smg_set_error(err, SMG_CONFIG, "4.3.5", "%s: %s", path, ferr->message);
        g_error_free(ferr);
        return SMG_CONFIG;
    }
    tbl = g_new0(struct smg_customers, 1);
    tbl->customers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, domains_free);
    lines = g_strsplit(text, "\n", -1);
    for (guint ln = 0; lines[ln] != NULL && st == SMG_OK; ln++) {
        char *hash = strchr(lines[ln], '#');
        char **words;
        GPtrArray *doms;
        guint nw = 0;

        if (hash != NULL)
            *hash = '\0';
        g_strdelimit(lines[ln], "\t\r,", ' ');
        words = g_strsplit(g_strstrip(lines[ln]), " ", -1);
        for (guint i = 0; words[i] != NULL; i++)
            if (*words[i] != '\0')
                words[nw++] = words[i];
            else
                g_free(words[i]);
        words[nw] = NULL;
        if (nw == 1) {
            smg_set_error(err, SMG_CONFIG, "4.3.5", "%s:%u: customer %s has no domain", path,
                          ln + 1, words[0]);
            st = SMG_CONFIG;
        }
        if (nw >= 2) {
            doms = g_hash_table_lookup(tbl->customers, words[0]);
            if (doms == NULL) {
                doms = g_ptr_array_new_with_free_func(g_free);
                g_ptr_array_add(doms, NULL);
                g_hash_table_insert(tbl->customers, g_strdup(words[0]), doms);
            }
            /* keep the NULL last: each domain goes in before it */
            for (guint i = 1; i < nw; i++)
                g_ptr_array_insert(doms, (gint) doms->len - 1, g_ascii_strdown(words[i], -1));
        }
        g_strfreev(words);
    }
    g_strfreev(lines);
    g_free(text);
    if (st != SMG_OK) {
        smg_customers_free(tbl);
        return st;
    }
    *out = tbl;
    return SMG_OK;
}

void
smg_customers_free(struct smg_customers *tbl)
{
    if (tbl == NULL)
        return;
    g_hash_table_destroy(tbl->customers);
    g_free(tbl);
}

const char *const *
smg_customers_domains(const struct smg_customers *tbl, const char *customer)
{
    GPtrArray *doms;

    if (tbl == NULL || customer == NULL)
        return NULL;
    doms = g_hash_table_lookup(tbl->customers, customer);
    return doms != NULL ? (const char *const *) doms->pdata : NULL;
}

gboolean
smg_customers_covers(const char *const *domains, const char *domain)
{
    gsize dl;

    if (domains == NULL || domain == NULL)
        return FALSE;
    dl = strlen(domain);
    for (const char *const *d = domains; *d != NULL; d++) {
        if ((*d)[0] == '.') {
            gsize sl = strlen(*d);
            if (g_ascii_strcasecmp(domain, *d + 1) == 0
                || (dl > sl && g_ascii_strcasecmp(domain + dl - sl, *d) == 0))
                return TRUE;
        } else if (g_ascii_strcasecmp(domain, *d) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

/*
 * customers.c - the table of the customers' own domains (see customers.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>

#include "lib/addr.h"
#include "lib/customers.h"
#include "lib/table.h"

struct smg_customers {
    GHashTable *customers; /* customer -> GPtrArray of domains, NULL last */
};

/* domains_free - value destructor of the table */
static void
domains_free(gpointer p)
{
    g_ptr_array_free(p, TRUE);
}

/* domain_ok - whether d is a domain name (not an address literal), in
   A-labels or UTF-8 */
static gboolean
domain_ok(const char *d)
{
    return *d != '\0' && smg_addr_check_domain(d, strlen(d), SMG_ADDR_UTF8)
           && !smg_addr_is_domain_literal(d);
}

/* table_line - one line "customer domain [domain ...]" of the table */
static enum smg_status
table_line(void *ctx, const char *path, unsigned lineno, char *customer, char *value,
           GError **err)
{
    struct smg_customers *tbl = ctx;
    char *comma = strchr(customer, ',');
    char *rest, *hash, **domains;
    GPtrArray *doms;

    /* "customer,domain" and "customer, domain": a comma ends the name too;
     * no domain has a '#', so one starts a comment anywhere here */
    if (comma != NULL)
        *comma++ = '\0';
    rest = g_strconcat(comma != NULL ? comma : "", " ", value, NULL);
    if ((hash = strchr(rest, '#')) != NULL)
        *hash = '\0';
    domains = smg_table_words(rest, " \t\r,");
    g_free(rest);

    /* a customer is an AUTH user name, which has no ':' (the credentials
     * file's format rules it out): "customer42: example.com", written as
     * in /etc/aliases, would load a customer that matches no message */
    if (strchr(customer, ':') != NULL) {
        smg_set_error(err, SMG_CONFIG, "4.3.5",
                      "%s:%u: customer %s: a user name has no ':' (write 'NAME DOMAIN ...')",
                      path, lineno, customer);
        g_strfreev(domains);
        return SMG_CONFIG;
    }
    if (domains[0] == NULL) {
        smg_set_error(err, SMG_CONFIG, "4.3.5", "%s:%u: customer %s has no domain", path,
                      lineno, customer);
        g_strfreev(domains);
        return SMG_CONFIG;
    }
    doms = g_hash_table_lookup(tbl->customers, customer);
    if (doms == NULL) {
        doms = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(doms, NULL);
        g_hash_table_insert(tbl->customers, g_strdup(customer), doms);
    }
    /* keep the NULL last: each domain goes in before it (".example.com",
     * the domain and its subdomains, keeps its dot) */
    for (guint i = 0; domains[i] != NULL; i++) {
        char *d = domains[i];
        gsize n = strlen(d);

        if (n > 1 && d[n - 1] == '.')
            d[--n] = '\0'; /* "example.com." is example.com */
        if (!domain_ok(d[0] == '.' ? d + 1 : d)) {
            /* a typo ("a.test;b.test", "*") would match nothing, and
             * every message of the customer be refused (553) */
            smg_set_error(err, SMG_CONFIG, "4.3.5",
                          "%s:%u: customer %s: \"%s\" is not a domain name "
                          "(.%s for a domain and its subdomains)",
                          path, lineno, customer, d,
                          d[0] == '*' && d[1] == '.' ? d + 2 : "example.com");
            g_strfreev(domains);
            return SMG_CONFIG;
        }
        g_ptr_array_insert(doms, (gint) doms->len - 1, smg_addr_domain_key(d));
    }
    g_strfreev(domains);
    return SMG_OK;
}

enum smg_status
smg_customers_load(const char *path, struct smg_customers **out, GError **err)
{
    struct smg_customers *tbl = g_new0(struct smg_customers, 1);
    enum smg_status st;

    tbl->customers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, domains_free);
    st = smg_table_read(path, "customer table", table_line, tbl, err);
    if (st != SMG_OK) {
        smg_customers_free(tbl);
        tbl = NULL;
    }
    *out = tbl;
    return st;
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
    gboolean yes = FALSE;
    char *key;
    gsize dl;

    if (domains == NULL || domain == NULL)
        return FALSE;
    key = smg_addr_domain_key(domain); /* as the table's domains are */
    dl = strlen(key);
    for (const char *const *d = domains; *d != NULL && !yes; d++) {
        if ((*d)[0] == '.') {
            gsize sl = strlen(*d);
            yes = strcmp(key, *d + 1) == 0 || (dl > sl && strcmp(key + dl - sl, *d) == 0);
        } else {
            yes = strcmp(key, *d) == 0;
        }
    }
    g_free(key);
    return yes;
}

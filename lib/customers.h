/*
 * customers.h - the table of the customers' own domains.
 *
 * One table format for every program that needs it ([check]
 * customer_domains for the from_mismatch rule test, [scan]
 * customer_domains for the backscatter guard of NDRs): a text file of
 * lines "customer domain [domain ...]", the customer as in SMG-Customer
 * (the AUTH name, compared exactly), domains separated by blanks or
 * commas, '#' starting a comment (lib/table.h: at a line's start or
 * after a blank), blank lines allowed, a customer may appear on several
 * lines.  As in Postfix's tables, a domain
 * "example.com" covers itself only and ".example.com" covers itself and
 * its subdomains.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_CUSTOMERS_H
#define SMG_CUSTOMERS_H 1

#include <glib.h>

#include "lib/status.h"

struct smg_customers;

/*
 * smg_customers_load - read the table at path.  SMG_CONFIG with err
 * ("path:line: reason", 4.3.5) for an unreadable file or a customer with
 * no domain.
 */
enum smg_status smg_customers_load(const char *path, struct smg_customers **out,
                                   GError **err) G_GNUC_WARN_UNUSED_RESULT;
void smg_customers_free(struct smg_customers *tbl);

/*
 * smg_customers_domains - the customer's domains (lower case, NULL
 * terminated, owned by tbl), or NULL when tbl is NULL or does not list
 * the customer
 */
const char *const *smg_customers_domains(const struct smg_customers *tbl,
                                         const char *customer);

/*
 * smg_customers_covers - whether domain (any case) is one of domains, as
 * smg_customers_domains returns them (NULL: none)
 */
gboolean smg_customers_covers(const char *const *domains, const char *domain);

#endif

/*
 * smg-dnsq - ask DNS through lib/dns, for the integration tests.
 *
 * smg-dnsq [-d] [-s addr:port]... [-t timeout_ms] [-a attempts] TYPE NAME
 *
 * TYPE is an RR type in upper case (A, MX, TXT, ...): print "rcode NAME"
 * and then each answer record, one a line, in ldns's presentation format.
 * Or one of the lib/dns helpers, in lower case:
 *   domain  the sender-domain check: "ok|none|nullmx DETAIL"
 *   mx      "rcode R", then "PREF HOST" in smg_dns_mx order
 *   addrs   "rcode R", then the A and AAAA addresses
 *   addrs4  the same, asking AAAA only when there is no A (an IPv4 sender)
 *   addrs6  the same, asking A only when there is no AAAA
 *   a       "rcode R", then the A addresses
 *   txt     "rcode R", then the TXT strings
 * A failed lookup prints "tempfail: REASON" (or "permfail: REASON").
 * -d logs lib/dns's debug lines (ignored datagrams, TCP retries) to stderr.
 *
 * Exit: 0 answer (domain: ok), 1 domain none or nullmx, 75 temporary
 * failure, 65 bad name, 64 usage, 78 bad server address.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include <glib.h>
#include <ldns/ldns.h>

#include "lib/dns.h"
#include "lib/log.h"
#include "lib/status.h"

static const char USAGE[] =
    "usage: smg-dnsq [-d] [-s addr:port]... [-t timeout_ms] [-a attempts]"
    " TYPE|domain|mx|addrs|addrs4|addrs6|a|txt NAME\n";

/* fail - print a failed lookup and return its exit code */
static int
fail(enum smg_status st, GError *err)
{
    printf("%s: %s\n", smg_status_name(st), err != NULL ? err->message : "?");
    g_clear_error(&err);
    return smg_status_exit(st);
}

/* print_strings - "rcode R" and the strings of an array */
static int
print_strings(enum smg_status st, GPtrArray *list, ldns_pkt_rcode rcode,
              GError *err)
{
    if (st != SMG_OK)
        return fail(st, err);
    printf("rcode %s\n", smg_dns_rcode_name(rcode));
    for (guint i = 0; i < list->len; i++)
        printf("%s\n", (const char *) list->pdata[i]);
    g_ptr_array_unref(list);
    return 0;
}

/* raw - print the rcode and answer records of a plain query */
static int
raw(struct smg_dns *dns, const char *type_s, const char *name)
{
    ldns_rr_type type = ldns_get_rr_type_by_name(type_s);
    ldns_pkt *pkt;
    GError *err = NULL;
    enum smg_status st;
    const ldns_rr_list *an;

    if (type == 0) {
        fprintf(stderr, "smg-dnsq: unknown type %s\n%s", type_s, USAGE);
        return EX_USAGE;
    }
    if ((st = smg_dns_query(dns, name, type, &pkt, &err)) != SMG_OK)
        return fail(st, err);
    printf("rcode %s\n", smg_dns_rcode_name(ldns_pkt_get_rcode(pkt)));
    an = ldns_pkt_answer(pkt);
    for (size_t i = 0; an != NULL && i < ldns_rr_list_rr_count(an); i++) {
        char *s = ldns_rr2str(ldns_rr_list_rr(an, i));

        if (s != NULL) {
            g_strchomp(s);
            printf("%s\n", s);
            free(s);
        }
    }
    ldns_pkt_free(pkt);
    return 0;
}

int
main(int argc, char **argv)
{
    GPtrArray *servers = g_ptr_array_new();
    struct smg_dns *dns = NULL;
    GError *err = NULL;
    GPtrArray *list = NULL;
    ldns_pkt_rcode rcode = LDNS_RCODE_NOERROR;
    enum smg_status st;
    gboolean debug = FALSE;
    int timeout_ms = 5000, attempts = 2, opt, rc;
    const char *what, *name;

    while ((opt = getopt(argc, argv, "a:ds:t:h")) != -1) {
        switch (opt) {
        case 'a':
            attempts = atoi(optarg);
            break;
        case 'd':
            debug = TRUE;
            break;
        case 's':
            g_ptr_array_add(servers, optarg);
            break;
        case 't':
            timeout_ms = atoi(optarg);
            break;
        default:
            fputs(USAGE, stderr);
            return opt == 'h' ? 0 : EX_USAGE;
        }
    }
    if (argc - optind != 2) {
        fputs(USAGE, stderr);
        return EX_USAGE;
    }
    what = argv[optind];
    name = argv[optind + 1];
    smg_log_init("smg-dnsq", SMG_LOG_STDERR, debug);
    g_ptr_array_add(servers, NULL);
    st = smg_dns_new_servers((const char *const *) servers->pdata, timeout_ms,
                             attempts, &dns, &err);
    g_ptr_array_free(servers, TRUE);
    if (st != SMG_OK) {
        fprintf(stderr, "smg-dnsq: %s\n", err->message);
        g_clear_error(&err);
        return smg_status_exit(st);
    }

    if (strcmp(what, "domain") == 0) {
        enum smg_dns_domain result;
        char *detail = NULL;

        st = smg_dns_domain_check(dns, name, &result, &detail, &err);
        if (st != SMG_OK) {
            rc = fail(st, err);
        } else {
            printf("%s %s\n", smg_dns_domain_name(result), detail);
            rc = result == SMG_DNS_DOMAIN_OK ? 0 : 1;
        }
        g_free(detail);
    } else if (strcmp(what, "mx") == 0) {
        st = smg_dns_mx(dns, name, &list, &rcode, &err);
        if (st != SMG_OK) {
            rc = fail(st, err);
        } else {
            printf("rcode %s\n", smg_dns_rcode_name(rcode));
            for (guint i = 0; i < list->len; i++) {
                const struct smg_dns_mx *mx = list->pdata[i];

                printf("%u %s\n", mx->pref, mx->host);
            }
            g_ptr_array_unref(list);
            rc = 0;
        }
    } else if (g_str_has_prefix(what, "addrs")) {
        int family = strcmp(what, "addrs4") == 0   ? AF_INET
                     : strcmp(what, "addrs6") == 0 ? AF_INET6
                                                   : AF_UNSPEC;

        st = smg_dns_addrs(dns, name, family, &list, &rcode, &err);
        rc = print_strings(st, list, rcode, err);
    } else if (strcmp(what, "a") == 0) {
        st = smg_dns_a(dns, name, &list, &rcode, &err);
        rc = print_strings(st, list, rcode, err);
    } else if (strcmp(what, "txt") == 0) {
        st = smg_dns_txt(dns, name, &list, &rcode, &err);
        rc = print_strings(st, list, rcode, err);
    } else {
        rc = raw(dns, what, name);
    }
    smg_dns_free(dns);
    fflush(stdout);
    return rc;
}

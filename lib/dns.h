/*
 * dns.h - a small stub resolver: ldns for the packets, our own network I/O.
 *
 * ldns builds and parses the DNS messages; the sending and waiting is done
 * here because ldns's own resolver takes the first datagram that arrives,
 * which makes a forged reply easy to slip in.  Every query gets a fresh
 * random ID and goes out on a connect()ed UDP socket (so the kernel drops
 * datagrams from other addresses); each datagram that arrives is checked
 * (smg_dns_reply_check: same ID, QR set, same question, sent by the server)
 * and one that fails is ignored while the wait goes on.  A truncated reply
 * is asked again over TCP.  The servers are tried in the configured order,
 * the whole list [dns] attempts times, each with [dns] timeout.
 *
 * Results: NOERROR and NXDOMAIN are answers (SMG_OK; the caller reads the
 * rcode); SERVFAIL, REFUSED, other rcodes and time-outs are SMG_TEMPFAIL
 * with DSN 4.4.3, so that no caller ever turns a DNS failure into a 5xx.
 * So is a NOERROR or NXDOMAIN reply with no answer records and neither RA
 * nor AA set: a referral from a server that is no resolver, which tells
 * nothing about the name (it is not NODATA).
 * A name that is not a valid domain name is SMG_PERMFAIL (5.1.2).
 *
 * Names are domain names (with or without the final dot).  Domain literals
 * ("[192.0.2.1]") and bare IP addresses are the caller's business: these
 * functions would look them up as names, which is never what is wanted.
 *
 * A struct smg_dns is not thread-safe; use one per thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_DNS_H
#define SMG_DNS_H 1

#include <stddef.h>
#include <stdint.h>

#include <glib.h>
#include <ldns/ldns.h>

#include "lib/config.h"
#include "lib/status.h"

/* EDNS0 UDP payload size we advertise (the DNS flag day 2020 value) */
#define SMG_DNS_EDNS_SIZE 1232

struct smg_dns;

/*
 * smg_dns_new - a resolver from the [dns] group of conf: nameservers (a list
 * of "addr", "addr:port", "[v6addr]" or "[v6addr]:port"; default: the
 * nameserver lines of /etc/resolv.conf, or 127.0.0.1:53 if it has none),
 * timeout (seconds per attempt) and attempts.  conf may be NULL for all
 * defaults (resolv.conf, 5 s, 2 attempts).  On success *out is owned by the
 * caller (smg_dns_free).  Returns SMG_CONFIG for a bad address.
 */
enum smg_status smg_dns_new(const struct smg_conf *conf, struct smg_dns **out,
                            GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_dns_new_servers - the same with explicit settings, for tests and tools:
 * servers is a NULL-terminated vector as in [dns] nameservers (NULL or empty:
 * /etc/resolv.conf), timeout_ms per attempt (>= 1), attempts (>= 1).
 * Returns SMG_CONFIG for a bad address or value.
 */
enum smg_status smg_dns_new_servers(const char *const *servers, int timeout_ms,
                                    int attempts, struct smg_dns **out,
                                    GError **err) G_GNUC_WARN_UNUSED_RESULT;

void smg_dns_free(struct smg_dns *dns);

/* smg_dns_server_count - how many nameservers dns uses */
unsigned smg_dns_server_count(const struct smg_dns *dns);

/* smg_dns_server_text - the i-th nameserver as "addr:port" ("[v6]:port") */
const char *smg_dns_server_text(const struct smg_dns *dns, unsigned i);

/*
 * smg_dns_query - ask for name/type (class IN, RD set, EDNS0) and wait for a
 * valid reply as described above.  On SMG_OK *answer is the reply (free with
 * ldns_pkt_free) and its rcode is NOERROR or NXDOMAIN.  Returns SMG_TEMPFAIL
 * (4.4.3 "DNS lookup of NAME timed out", or "... failed: SERVFAIL from
 * SERVER") when no server gave such an answer, SMG_PERMFAIL (5.1.2) for a
 * name that is not a domain name, SMG_TEMPFAIL (4.3.0) when a socket cannot
 * be made.  *answer is NULL on failure.
 */
enum smg_status smg_dns_query(struct smg_dns *dns, const char *name,
                              ldns_rr_type type, ldns_pkt **answer,
                              GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* What smg_dns_reply_check thinks of a datagram. */
enum smg_dns_reply {
    SMG_DNS_REPLY_OK = 0,         /* a reply to our query */
    SMG_DNS_REPLY_MALFORMED,      /* too short, or ldns cannot parse it */
    SMG_DNS_REPLY_WRONG_ID,       /* another query ID */
    SMG_DNS_REPLY_NOT_RESPONSE,   /* QR bit clear */
    SMG_DNS_REPLY_WRONG_OPCODE,   /* not a QUERY */
    SMG_DNS_REPLY_WRONG_QUESTION, /* not exactly our one question */
};

/*
 * smg_dns_reply_check - whether wire[0..len) is a reply to query: the same
 * ID, QR set, opcode QUERY, one question equal to the query's (name
 * compared case-insensitively, type and class).  The sender's address is
 * checked by the caller.  On SMG_DNS_REPLY_OK, if reply is not NULL, *reply
 * is the parsed packet (ldns_pkt_free); otherwise *reply is NULL.
 */
enum smg_dns_reply smg_dns_reply_check(const ldns_pkt *query,
                                       const uint8_t *wire, size_t len,
                                       ldns_pkt **reply);

/* smg_dns_reply_name - "ok", "malformed", "wrong-id", ... for log lines */
const char *smg_dns_reply_name(enum smg_dns_reply r);

/*
 * smg_dns_answer_rrs - the records of type in pkt's answer section that
 * belong to the question's name, following the CNAME chain that the answer
 * section gives (at most 16 links, loops stop it).  Returns a new list
 * (ldns_rr_list_deep_free), empty when there are none; if cname is not
 * NULL, *cname is set to whether a CNAME was followed.
 */
ldns_rr_list *smg_dns_answer_rrs(const ldns_pkt *pkt, ldns_rr_type type,
                                 gboolean *cname);

/* smg_dns_rcode_name - "NOERROR", "NXDOMAIN", "SERVFAIL", ... */
const char *smg_dns_rcode_name(ldns_pkt_rcode rcode);

/* The sender-domain check of smg-recv and smg-check --sender. */
enum smg_dns_domain {
    SMG_DNS_DOMAIN_OK = 0, /* has an MX, or no MX but an A or AAAA */
    SMG_DNS_DOMAIN_NONE,   /* NXDOMAIN, or no MX, A or AAAA */
    SMG_DNS_DOMAIN_NULLMX, /* RFC 7505 null MX: accepts no mail */
};

/*
 * smg_dns_domain_check - whether mail from (and bounces to) domain can be
 * delivered.  Looks up MX (CNAMEs followed as the answer gives them); if
 * there is none, A and then AAAA.  A domain whose MX records all have the
 * root "." as exchange is a null MX.  On SMG_OK *result is set and, if
 * detail is not NULL, *detail is a short new string for the log ("mx",
 * "a", "aaaa", "nxdomain", "no mx, a or aaaa", "null mx").  A time-out or
 * SERVFAIL of any needed lookup is SMG_TEMPFAIL (4.4.3), never NONE;
 * SMG_PERMFAIL (5.1.2) for a name that is not a domain name.  The caller
 * handles domain literals and IP addresses.
 */
enum smg_status smg_dns_domain_check(struct smg_dns *dns, const char *domain,
                                     enum smg_dns_domain *result,
                                     char **detail,
                                     GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_dns_domain_name - "ok", "none", "nullmx" */
const char *smg_dns_domain_name(enum smg_dns_domain d);

struct smg_dns_mx {
    char *host; /* lower case, no final dot; "." for a null MX */
    unsigned pref;
};

/*
 * The helpers below share one shape.  On SMG_OK the new array is set
 * (g_ptr_array_unref; it frees its elements), empty when the name does not
 * exist or has no such data, and *rcode (if not NULL) tells which:
 * LDNS_RCODE_NOERROR or LDNS_RCODE_NXDOMAIN.  CNAMEs are followed as the
 * answer gives them.  Failures are those of smg_dns_query; the array is
 * then NULL.
 */

/*
 * smg_dns_mx - the MX records of domain as struct smg_dns_mx, sorted by
 * preference, in random order among equal preferences.  A null MX shows as
 * one element with host "." and pref 0.
 */
enum smg_status smg_dns_mx(struct smg_dns *dns, const char *domain,
                           GPtrArray **hosts, ldns_pkt_rcode *rcode,
                           GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_dns_addrs - the addresses of host as text ("192.0.2.1",
 * "2001:db8::1").  family AF_UNSPEC: A then AAAA, and a lookup that fails
 * fails the whole only when the other found no address (a server whose
 * AAAA queries time out does not hide the A records).  AF_INET or
 * AF_INET6: that family's first, whose failure fails the whole, and the
 * other's only when it has none (so that a caller can tell a host of the
 * other family only from a host with no address).  *rcode is NXDOMAIN
 * only when every lookup made says so.
 */
enum smg_status smg_dns_addrs(struct smg_dns *dns, const char *host, int family,
                              GPtrArray **addrs, ldns_pkt_rcode *rcode,
                              GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_dns_a - the A addresses of name as text (DNSBL lookups) */
enum smg_status smg_dns_a(struct smg_dns *dns, const char *name,
                          GPtrArray **addrs, ldns_pkt_rcode *rcode,
                          GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_dns_txt - the TXT records of name, each one string made of its
 * character-strings joined without separator (as SPF and DKIM read them).
 * A NUL byte inside a string ends it.
 */
enum smg_status smg_dns_txt(struct smg_dns *dns, const char *name,
                            GPtrArray **strings, ldns_pkt_rcode *rcode,
                            GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * DANE support (smg-send).  A validated answer is one whose AD bit the
 * resolver set: smg trusts the resolver to validate, as Postfix does, so
 * [dns] nameservers must be a validating resolver on a trusted path
 * (loopback).  The question is sent with AD set (RFC 6840 5.7), which
 * asks a validating resolver to report the result.
 */

/*
 * smg_dns_query_ad - smg_dns_query with the AD bit set in the question;
 * on SMG_OK *secure is the AD bit of the reply (FALSE on failure).
 */
enum smg_status smg_dns_query_ad(struct smg_dns *dns, const char *name,
                                 ldns_rr_type type, ldns_pkt **answer,
                                 gboolean *secure,
                                 GError **err) G_GNUC_WARN_UNUSED_RESULT;

struct smg_dns_tlsa {
    guint8 usage;    /* 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE */
    guint8 selector; /* 0 full certificate, 1 SubjectPublicKeyInfo */
    guint8 mtype;    /* 0 full, 1 SHA-256, 2 SHA-512 */
    guint8 *data;    /* the certificate association data */
    gsize len;
};

/*
 * smg_dns_tlsa - the TLSA records of _PORT._tcp.HOST (RFC 6698, 7672) as
 * struct smg_dns_tlsa, in the shape of the helpers above.  *secure tells
 * whether the answer was validated; records are returned only then (an
 * unvalidated TLSA record must not be used), so an insecure answer is an
 * empty array with *secure FALSE.
 */
enum smg_status smg_dns_tlsa(struct smg_dns *dns, const char *host,
                             unsigned port, GPtrArray **records,
                             gboolean *secure, ldns_pkt_rcode *rcode,
                             GError **err) G_GNUC_WARN_UNUSED_RESULT;

#endif

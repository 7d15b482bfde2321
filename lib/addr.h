/*
 * addr.h - RFC 5321 mailbox syntax: parse and check "local@domain".
 *
 * smg_addr_parse checks the content of an SMTP path (what stands between
 * the angle brackets, after any source route is removed) against the
 * grammar of RFC 5321 section 4.1.2: the local part is a dot-string or a
 * quoted-string, the domain a host name of LDH labels or an address
 * literal ([192.0.2.1], [IPv6:2001:db8::1]).  UTF-8 (RFC 6531) is accepted
 * only with SMG_ADDR_UTF8, i.e. when the transaction declared SMTPUTF8; a
 * UTF-8 domain must convert to a valid A-label host name (IDNA 2008,
 * smg_addr_idna_ascii).  The limits of
 * RFC 5321 section 4.5.3.1 hold: local part <= 64 octets, domain <= 255,
 * labels <= 63, and the path with its brackets <= 256 (so the address
 * itself <= 254).  The address is kept as written: the local part is never
 * unquoted or case-folded (it belongs to the remote system); only the
 * domain may be lower-cased for comparisons.
 *
 * Errors are SMG_PERMFAIL with DSN 5.1.3 (bad destination address syntax)
 * or, with SMG_ADDR_SENDER, 5.1.7 (bad sender address syntax).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_ADDR_H
#define SMG_ADDR_H 1

#include <stddef.h>

#include <glib.h>

#include "lib/status.h"

/* RFC 5321 section 4.5.3.1 limits, in octets */
#define SMG_ADDR_MAX_LOCAL  64  /* local part */
#define SMG_ADDR_MAX_DOMAIN 255 /* domain */
#define SMG_ADDR_MAX_LABEL  63  /* one label of a domain */
#define SMG_ADDR_MAX_PATH   256 /* "<" + address + ">" (or a source route) */
#define SMG_ADDR_MAX_ADDR   (SMG_ADDR_MAX_PATH - 2)

/* flags of smg_addr_parse */
enum {
    SMG_ADDR_UTF8 = 1 << 0,       /* allow UTF-8 (SMTPUTF8 was declared) */
    SMG_ADDR_SENDER = 1 << 1,     /* a sender: errors carry DSN 5.1.7 */
    SMG_ADDR_POSTMASTER = 1 << 2, /* allow the bare "postmaster" of RCPT */
};

struct smg_addr {
    char *addr;       /* "local@domain" as written; NULL when cleared */
    char *local;      /* local part as written (quotes kept) */
    char *domain;     /* domain as written ("[192.0.2.1]" for a literal);
                         NULL only for the bare "postmaster" */
    gboolean quoted;  /* the local part is a quoted-string */
    gboolean literal; /* the domain is an address literal */
    gboolean utf8;    /* the address holds non-ASCII (UTF-8) octets */
};

/* clang-format off */
#define SMG_ADDR_ZERO {NULL, NULL, NULL, FALSE, FALSE, FALSE}
/* clang-format on */

/*
 * smg_addr_parse - check s[0..len) (not NUL-terminated, no angle brackets,
 * no source route) and, on success, fill *out with new strings, which the
 * caller frees with smg_addr_clear.  *out is overwritten without freeing:
 * clear it first when reusing.  flags is a set of SMG_ADDR_*.
 *
 * Returns SMG_OK, or SMG_PERMFAIL with err set ("5.1.3 ..." or, with
 * SMG_ADDR_SENDER, "5.1.7 ...") for an empty address, a NUL or control
 * character, 8-bit octets without SMG_ADDR_UTF8 or that are not UTF-8, a
 * missing or misplaced "@", a bad dot-string or quoted-string, a bad host
 * name or address literal, or a length over the limits above.  *out is
 * left zeroed on error.
 */
enum smg_status smg_addr_parse(const char *s, size_t len, unsigned flags,
                               struct smg_addr *out,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_addr_clear - free the strings of a (may be zeroed) and zero it */
void smg_addr_clear(struct smg_addr *a);

/*
 * smg_addr_domain - the domain of address addr ("user@Example.COM" ->
 * "Example.COM"): a pointer into addr after its last "@", or NULL when addr
 * has no "@" (the bare "postmaster", or "" for the null sender).
 */
const char *smg_addr_domain(const char *addr);

/*
 * smg_addr_domain_lower - the domain of addr, lower-cased (ASCII letters
 * only for an ASCII domain, Unicode lower case for a UTF-8 one), as a new
 * string the caller frees with g_free; NULL when addr has no domain.
 */
char *smg_addr_domain_lower(const char *addr) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_addr_is_domain_literal - whether domain (a domain, not an address)
 * is an address literal, i.e. "[...]".  NULL gives FALSE.
 */
gboolean smg_addr_is_domain_literal(const char *domain);

/*
 * smg_addr_literal_ip - the IP address of a valid address literal
 * ("[192.0.2.1]" -> "192.0.2.1", "[IPv6:2001:db8::1]" -> "2001:db8::1") as
 * a new string, with *family (if not NULL) set to AF_INET or AF_INET6;
 * NULL if domain is not a valid IPv4 or IPv6 address literal.
 */
char *smg_addr_literal_ip(const char *domain,
                          int *family) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_addr_check_domain - whether domain[0..len) is a valid RFC 5321 domain:
 * a host name (UTF-8 labels only with SMG_ADDR_UTF8 in flags, the other
 * flags are ignored) or an IPv4 or IPv6 address literal.  For HELO
 * arguments, source routes and configuration values; where literals are
 * not wanted, check smg_addr_is_domain_literal too.
 */
gboolean smg_addr_check_domain(const char *domain, size_t len, unsigned flags);

/*
 * smg_addr_path_close - the index of the ">" closing the path that opens
 * at s[open] ("<"), skipping quoted strings (a quoted local part may hold
 * ">" and spaces); 0 if there is none.
 */
size_t smg_addr_path_close(const char *s, size_t len, size_t open);

/* smg_addr_has_8bit - whether string s (NULL: none) holds an octet >= 0x80 */
gboolean smg_addr_has_8bit(const char *s);

/*
 * smg_addr_ip_any - whether ip is the any address, 0.0.0.0 or :: in any
 * spelling: a socket bound there has its source address chosen by the
 * kernel, as one not bound at all
 */
gboolean smg_addr_ip_any(const char *ip);

/*
 * smg_addr_idna_ascii - host name (UTF-8) in its ASCII form, as DNS holds
 * it: each U-label as an A-label ("xn--"), by IDNA 2008 (RFC 5891) with
 * the non-transitional mapping of UTS #46 that browsers and libidn2 use,
 * so "ß", final sigma and the joiners ZWJ/ZWNJ are kept, not mapped to
 * another name; ASCII letters lower-cased.  A new string (g_free), or NULL
 * where IDNA refuses the name.  An ASCII name is returned lower-cased.
 */
char *smg_addr_idna_ascii(const char *host) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_addr_domain_key - domain in the form domains are compared and looked
 * up in (the customers' domains, the DKIM tables): its A-labels in lower
 * case, so that "Bücher.example" and "xn--bcher-kva.example" are one
 * domain; a table's "*." or "." prefix is kept; a name IDNA refuses is
 * only lower-cased (ASCII letters).  A new string (g_free).
 */
char *smg_addr_domain_key(const char *domain) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_addr_ascii_domain - address addr ("local@domain") with a UTF-8
 * domain as smg_addr_domain_key gives it, the local part as it is; an
 * ASCII domain, or an address without "@", is copied unchanged.  A new
 * string (g_free).
 */
char *smg_addr_ascii_domain(const char *addr) G_GNUC_WARN_UNUSED_RESULT;

#endif

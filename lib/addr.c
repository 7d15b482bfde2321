/*
 * addr.c - RFC 5321 mailbox syntax: parse and check "local@domain".
 *
 * A hand-written scanner over the small grammar of RFC 5321 section 4.1.2
 * (Dot-string, Quoted-string, Domain, address-literal), as RFC 6531 extends
 * it for SMTPUTF8.  No regular expressions: every octet is looked at once
 * and lengths are checked before anything is copied.  Host names with
 * UTF-8 labels are converted to A-labels by IDNA 2008 with libidn2
 * (smg_addr_idna_ascii) and the result must then pass the same LDH check as
 * an ASCII name; address literals are checked with inet_pton.  Invariant:
 * *out is either fully filled (SMG_OK) or zeroed (any error).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <glib.h>
#include <idn2.h> /* after glib.h: it defines G_GNUC_DEPRECATED otherwise */

#include "lib/addr.h"

/* what an address error is about, for its DSN and text */
#define ADDR_DSN(flags) (((flags) &SMG_ADDR_SENDER) ? "5.1.7" : "5.1.3")
#define ADDR_WHO(flags) (((flags) &SMG_ADDR_SENDER) ? "sender" : "recipient")

/* is_atext - an RFC 5322 atext octet (ASCII only) */
static gboolean
is_atext(unsigned char c)
{
    return g_ascii_isalnum(c)
           || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* is_qtext - an RFC 5321 qtextSMTP octet (ASCII only) */
static gboolean
is_qtext(unsigned char c)
{
    return c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126);
}

/* has_8bit - whether s[0..len) holds an octet >= 0x80 */
static gboolean
has_8bit(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char) s[i] >= 0x80)
            return TRUE;
    return FALSE;
}

/*
 * utf8_ok - whether s[0..len) is valid UTF-8 without C0 or C1 control
 * characters (RFC 6532 allows any scalar value; controls have no place in
 * an address).
 */
static gboolean
utf8_ok(const char *s, size_t len)
{
    const char *p = s, *end = s + len;

    if (!g_utf8_validate_len(s, len, NULL))
        return FALSE;
    while (p < end) {
        gunichar c = g_utf8_get_char(p);

        if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
            return FALSE;
        p = g_utf8_next_char(p);
    }
    return TRUE;
}

/* check_ldh - whether d[0..len) is an ASCII LDH host name within limits */
static gboolean
check_ldh(const char *d, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > SMG_ADDR_MAX_DOMAIN)
        return FALSE;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) d[i];

        if (c == '.') {
            /* labels are non-empty and do not end with a hyphen */
            if (label == 0 || d[i - 1] == '-')
                return FALSE;
            label = 0;
            continue;
        }
        if (!g_ascii_isalnum(c) && c != '-')
            return FALSE;
        if (c == '-' && label == 0) /* nor start with one */
            return FALSE;
        if (++label > SMG_ADDR_MAX_LABEL)
            return FALSE;
    }
    return label > 0 && d[len - 1] != '-';
}

/* check_hostname - whether d[0..len) is a host name (U-labels if utf8) */
static gboolean
check_hostname(const char *d, size_t len, gboolean utf8)
{
    char *copy, *ascii;
    gboolean good;

    if (len == 0 || len > SMG_ADDR_MAX_DOMAIN)
        return FALSE;
    if (!has_8bit(d, len))
        return check_ldh(d, len);
    if (!utf8 || !utf8_ok(d, len))
        return FALSE;
    /*
     * A U-label obeys the LDH rules for its ASCII octets: no other
     * punctuation, no empty label, no hyphen at either end (IDNA would
     * hide a leading hyphen inside "xn--").
     */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) d[i];
        gboolean first = i == 0 || d[i - 1] == '.';
        gboolean last = i + 1 == len || d[i + 1] == '.';

        if (c < 0x80 && !g_ascii_isalnum(c) && c != '-' && c != '.')
            return FALSE;
        if ((c == '.' && (first || last)) || (c == '-' && (first || last)))
            return FALSE;
    }
    copy = g_strndup(d, len);
    ascii = smg_addr_idna_ascii(copy);
    good = ascii != NULL && check_ldh(ascii, strlen(ascii));
    g_free(ascii);
    g_free(copy);
    return good;
}

/*
 * literal_ip - the IP inside the address literal d[0..len) ("[...]"), new
 * string with *family set, or NULL if it is not an IPv4 or IPv6 literal.
 * General address literals (RFC 5321 "tag:content") are refused: nothing
 * can deliver to them.
 */
static char *
literal_ip(const char *d, size_t len, int *family)
{
    unsigned char buf[sizeof(struct in6_addr)];
    const char *in;
    size_t inlen;
    char *ip;
    int fam = AF_INET;

    if (len < 2 || d[0] != '[' || d[len - 1] != ']')
        return NULL;
    in = d + 1;
    inlen = len - 2;
    if (inlen > 5 && g_ascii_strncasecmp(in, "IPv6:", 5) == 0) {
        in += 5;
        inlen -= 5;
        fam = AF_INET6;
    }
    /* INET6_ADDRSTRLEN bounds any text inet_pton accepts */
    if (inlen == 0 || inlen >= INET6_ADDRSTRLEN || memchr(in, '\0', inlen))
        return NULL;
    ip = g_strndup(in, inlen);
    if (inet_pton(fam, ip, buf) != 1) {
        g_free(ip);
        return NULL;
    }
    if (family != NULL)
        *family = fam;
    return ip;
}

/* check_domain - a host name or an IP address literal */
static gboolean
check_domain(const char *d, size_t len, gboolean utf8)
{
    char *ip;

    if (len > 0 && d[0] == '[') {
        ip = literal_ip(d, len, NULL);
        g_free(ip);
        return ip != NULL;
    }
    return check_hostname(d, len, utf8);
}

/*
 * scan_quoted - the length of the quoted-string at s[0..len) (s[0] is the
 * opening quote), including both quotes; 0 if it is malformed or unclosed.
 */
static size_t
scan_quoted(const char *s, size_t len, gboolean utf8)
{
    size_t i = 1;

    while (i < len) {
        unsigned char c = (unsigned char) s[i];

        if (c == '"')
            return i + 1;
        if (c == '\\') {
            /* quoted-pairSMTP: backslash then %d32-126 */
            if (i + 1 >= len || (unsigned char) s[i + 1] < 32
                || (unsigned char) s[i + 1] > 126)
                return 0;
            i += 2;
            continue;
        }
        if (!is_qtext(c) && !(utf8 && c >= 0x80))
            return 0;
        i++;
    }
    return 0;
}

/*
 * scan_dot_string - the length of the Dot-string at s[0..len), which ends
 * at the first octet that is neither atext nor "."; 0 if it is empty or
 * has an empty atom (leading, trailing or doubled dot).
 */
static size_t
scan_dot_string(const char *s, size_t len, gboolean utf8)
{
    size_t i, atom = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c == '.') {
            if (atom == 0)
                return 0;
            atom = 0;
        } else if (is_atext(c) || (utf8 && c >= 0x80)) {
            atom++;
        } else {
            break;
        }
    }
    return atom > 0 ? i : 0;
}

enum smg_status
smg_addr_parse(const char *s, size_t len, unsigned flags, struct smg_addr *out,
               GError **err)
{
    const char *dsn = ADDR_DSN(flags), *who = ADDR_WHO(flags);
    gboolean utf8 = (flags & SMG_ADDR_UTF8) != 0;
    gboolean eight;
    size_t llen;
    const char *dom;
    size_t dlen;

    memset(out, 0, sizeof(*out));
    if (len == 0) {
        smg_set_error(err, SMG_PERMFAIL, dsn, "Bad %s address syntax: empty",
                      who);
        return SMG_PERMFAIL;
    }
    if (len > SMG_ADDR_MAX_ADDR) {
        smg_set_error(err, SMG_PERMFAIL, dsn,
                      "Bad %s address syntax: longer than %d octets", who,
                      SMG_ADDR_MAX_ADDR);
        return SMG_PERMFAIL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c < 0x20 || c == 0x7f) {
            smg_set_error(err, SMG_PERMFAIL, dsn,
                          "Bad %s address syntax: control character", who);
            return SMG_PERMFAIL;
        }
    }
    eight = has_8bit(s, len);
    if (eight && !utf8) {
        smg_set_error(err, SMG_PERMFAIL, dsn,
                      "Bad %s address syntax: 8-bit characters without "
                      "SMTPUTF8",
                      who);
        return SMG_PERMFAIL;
    }
    if (eight && !utf8_ok(s, len)) {
        smg_set_error(err, SMG_PERMFAIL, dsn,
                      "Bad %s address syntax: invalid UTF-8", who);
        return SMG_PERMFAIL;
    }

    /* RFC 5321 4.5.1: RCPT TO:<Postmaster>, any case, has no domain */
    if ((flags & SMG_ADDR_POSTMASTER) && len == 10
        && g_ascii_strncasecmp(s, "postmaster", 10) == 0) {
        out->addr = g_strndup(s, len);
        out->local = g_strndup(s, len);
        return SMG_OK;
    }
    /* ... and a quoted local part is the same mailbox as its unquoted
     * content (RFC 5321 4.1.2): <"Postmaster">, <"Post\master"> */
    if ((flags & SMG_ADDR_POSTMASTER) && s[0] == '"' && len <= 22
        && scan_quoted(s, len, FALSE) == len) {
        char plain[24];
        size_t n = 0;

        for (size_t i = 1; i + 1 < len; i++) {
            if (s[i] == '\\')
                i++;
            plain[n++] = s[i];
        }
        if (n == 10 && g_ascii_strncasecmp(plain, "postmaster", 10) == 0) {
            out->addr = g_strndup(plain, n);
            out->local = g_strndup(plain, n);
            return SMG_OK;
        }
    }

    if (s[0] == '"')
        llen = scan_quoted(s, len, utf8);
    else
        llen = scan_dot_string(s, len, utf8);
    if (llen == 0 || llen >= len || s[llen] != '@') {
        smg_set_error(err, SMG_PERMFAIL, dsn,
                      llen > 0 && llen >= len
                          ? "Bad %s address syntax: no domain"
                          : "Bad %s address syntax: bad local part",
                      who);
        return SMG_PERMFAIL;
    }
    if (llen > SMG_ADDR_MAX_LOCAL) {
        smg_set_error(err, SMG_PERMFAIL, dsn,
                      "Bad %s address syntax: local part longer than %d "
                      "octets",
                      who, SMG_ADDR_MAX_LOCAL);
        return SMG_PERMFAIL;
    }
    dom = s + llen + 1;
    dlen = len - llen - 1;
    if (!check_domain(dom, dlen, utf8)) {
        smg_set_error(err, SMG_PERMFAIL, dsn,
                      "Bad %s address syntax: bad domain", who);
        return SMG_PERMFAIL;
    }

    out->addr = g_strndup(s, len);
    out->local = g_strndup(s, llen);
    out->domain = g_strndup(dom, dlen);
    out->quoted = s[0] == '"';
    out->literal = dom[0] == '[';
    out->utf8 = eight;
    return SMG_OK;
}

void
smg_addr_clear(struct smg_addr *a)
{
    if (a == NULL)
        return;
    g_free(a->addr);
    g_free(a->local);
    g_free(a->domain);
    memset(a, 0, sizeof(*a));
}

const char *
smg_addr_domain(const char *addr)
{
    const char *at;

    if (addr == NULL)
        return NULL;
    at = strrchr(addr, '@');
    return at != NULL ? at + 1 : NULL;
}

char *
smg_addr_domain_lower(const char *addr)
{
    const char *d = smg_addr_domain(addr);
    size_t len;

    if (d == NULL)
        return NULL;
    len = strlen(d);
    if (has_8bit(d, len) && g_utf8_validate_len(d, len, NULL))
        return g_utf8_strdown(d, (gssize) len);
    return g_ascii_strdown(d, (gssize) len);
}

gboolean
smg_addr_is_domain_literal(const char *domain)
{
    size_t len;

    if (domain == NULL)
        return FALSE;
    len = strlen(domain);
    return len >= 2 && domain[0] == '[' && domain[len - 1] == ']';
}

char *
smg_addr_literal_ip(const char *domain, int *family)
{
    if (domain == NULL)
        return NULL;
    return literal_ip(domain, strlen(domain), family);
}

gboolean
smg_addr_check_domain(const char *domain, size_t len, unsigned flags)
{
    if (domain == NULL || memchr(domain, '\0', len) != NULL)
        return FALSE;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char) domain[i] < 0x20 || domain[i] == 0x7f)
            return FALSE;
    return check_domain(domain, len, (flags & SMG_ADDR_UTF8) != 0);
}

size_t
smg_addr_path_close(const char *s, size_t len, size_t open)
{
    gboolean quoted = FALSE;

    for (size_t i = open + 1; i < len; i++) {
        if (quoted && s[i] == '\\')
            i++;
        else if (s[i] == '"')
            quoted = !quoted;
        else if (!quoted && s[i] == '>')
            return i;
    }
    return 0;
}

gboolean
smg_addr_has_8bit(const char *s)
{
    return s != NULL && has_8bit(s, strlen(s));
}

gboolean
smg_addr_ip_any(const char *ip)
{
    static const unsigned char zero[16];
    unsigned char buf[16];

    if (inet_pton(AF_INET, ip, buf) == 1)
        return memcmp(buf, zero, 4) == 0;
    return inet_pton(AF_INET6, ip, buf) == 1 && memcmp(buf, zero, 16) == 0;
}

char *
smg_addr_idna_ascii(const char *host)
{
    char *out = NULL, *r;

    if (host == NULL)
        return NULL;
    if (!has_8bit(host, strlen(host)))
        return g_ascii_strdown(host, -1);
    /* IDN2_NFC_INPUT: a name typed in another normalisation form is the
     * same name; IDN2_NONTRANSITIONAL: IDNA 2008 proper, where the
     * transitional mapping (IDNA 2003's) would turn "straße" into
     * "strasse", another registrant's name */
    if (idn2_to_ascii_8z(host, &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK) {
        free(out);
        return NULL;
    }
    r = g_ascii_strdown(out, -1);
    free(out);
    return r;
}

char *
smg_addr_domain_key(const char *domain)
{
    /* a table's "*.domain" or ".domain" keeps its prefix */
    gsize pre = g_str_has_prefix(domain, "*.") ? 2 : domain[0] == '.' ? 1 : 0;
    char *a = smg_addr_idna_ascii(domain + pre), *out;

    if (a == NULL)
        return g_ascii_strdown(domain, -1);
    out = g_strdup_printf("%.*s%s", (int) pre, domain, a);
    g_free(a);
    return out;
}

char *
smg_addr_ascii_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');
    char *key, *out;

    if (at == NULL || !has_8bit(at + 1, strlen(at + 1)))
        return g_strdup(addr);
    key = smg_addr_domain_key(at + 1);
    out = g_strdup_printf("%.*s@%s", (int) (at - addr), addr, key);
    g_free(key);
    return out;
}

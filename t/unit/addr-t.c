/*
 * addr-t.c - unit tests for lib/addr: RFC 5321 mailbox syntax.
 *
 * Each case names the rule it checks: dot-string and quoted-string local
 * parts, host names and address literals, UTF-8 only with SMG_ADDR_UTF8,
 * the length limits, control characters, and the helpers.  The seed and
 * regression inputs of the address fuzzer (t/fuzz/) are replayed at the
 * end so that a crash once found stays fixed.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/addr.h"
#include "t/tap/basic.h"

/* good - s parses with flags; returns the parsed address (clear it) */
static struct smg_addr
good(const char *s, unsigned flags, const char *desc)
{
    struct smg_addr a = SMG_ADDR_ZERO;
    GError *err = NULL;
    enum smg_status st = smg_addr_parse(s, strlen(s), flags, &a, &err);

    ok(st == SMG_OK, "accept %s", desc);
    if (err != NULL) {
        diag("%s: %s", s, err->message);
        g_error_free(err);
    }
    return a;
}

/* bad - s[0..len) is refused with flags, and the error starts with dsn */
static void
bad_len(const char *s, size_t len, unsigned flags, const char *dsn,
        const char *desc)
{
    struct smg_addr a = SMG_ADDR_ZERO;
    GError *err = NULL;
    enum smg_status st = smg_addr_parse(s, len, flags, &a, &err);

    ok(st == SMG_PERMFAIL && err != NULL && a.addr == NULL
           && g_str_has_prefix(err->message, dsn)
           && smg_error_status(err) == SMG_PERMFAIL,
       "refuse %s", desc);
    if (st == SMG_OK)
        smg_addr_clear(&a);
    g_clear_error(&err);
}

static void
bad(const char *s, unsigned flags, const char *desc)
{
    bad_len(s, strlen(s), flags, "5.1.3 ", desc);
}

/* repeat - a new string of n copies of c */
static char *
repeat(char c, size_t n)
{
    char *s = g_malloc(n + 1);

    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* domain_of_len - a valid host name of exactly n octets (n >= 1) */
static char *
domain_of_len(size_t n)
{
    GString *d = g_string_new(NULL);

    for (;;) {
        size_t left = n - d->len;
        size_t label = left > 63 ? 63 : left;

        /* never leave a single octet: it would need an empty label */
        if (left > 63 && left - 63 < 2)
            label = 61;
        for (size_t i = 0; i < label; i++)
            g_string_append_c(d, 'a');
        if (d->len >= n)
            break;
        g_string_append_c(d, '.');
    }
    return g_string_free(d, FALSE);
}

/* test_basic - the common forms and the fields they fill */
static void
test_basic(void)
{
    struct smg_addr a;

    a = good("user@example.com", 0, "a plain address");
    is_string("user@example.com", a.addr, "addr kept");
    is_string("user", a.local, "local part");
    is_string("example.com", a.domain, "domain");
    ok(!a.quoted && !a.literal && !a.utf8, "flags clear");
    smg_addr_clear(&a);
    ok(a.addr == NULL && a.domain == NULL, "clear zeroes");
    smg_addr_clear(&a);
    smg_addr_clear(NULL);
    ok(1, "clear twice and clear NULL are harmless");

    a = good("First.Last+tag@Sub.Example.ORG", 0, "dots, plus, case kept");
    is_string("First.Last+tag", a.local, "local part case kept");
    is_string("Sub.Example.ORG", a.domain, "domain case kept");
    smg_addr_clear(&a);

    a = good("!#$%&'*+-/=?^_`{|}~@example.com", 0, "every atext special");
    smg_addr_clear(&a);
    a = good("a@localhost", 0, "a one-label domain");
    smg_addr_clear(&a);
    a = good("a@x-y.example", 0, "a hyphen inside a label");
    smg_addr_clear(&a);
    a = good("a@1.2.3.4", 0, "a numeric host name");
    smg_addr_clear(&a);
}

/* test_quoted - quoted-string local parts */
static void
test_quoted(void)
{
    struct smg_addr a;

    a = good("\"john doe\"@example.com", 0, "a quoted local part");
    ok(a.quoted, "quoted flag");
    is_string("\"john doe\"", a.local, "quotes kept in the local part");
    smg_addr_clear(&a);
    a = good("\"a\\\"b\\\\c\"@example.com", 0, "quoted-pairs");
    smg_addr_clear(&a);
    a = good("\"\"@example.com", 0, "an empty quoted string");
    smg_addr_clear(&a);
    a = good("\"a@b>c\"@example.com", 0, "@ and > inside quotes");
    is_string("example.com", a.domain, "domain after the quoted @");
    smg_addr_clear(&a);

    bad("\"abc@example.com", 0, "an unclosed quote");
    bad("\"abc\\\"@example.com", 0, "an escaped closing quote");
    bad("\"a\"b@example.com", 0, "text after the closing quote");
    bad("\"a\"\"b\"@example.com", 0, "two quoted strings");
    bad("a\"b\"@example.com", 0, "a quote inside an atom");
}

/* test_dot_string - malformed unquoted local parts */
static void
test_dot_string(void)
{
    bad(".a@example.com", 0, "a leading dot");
    bad("a.@example.com", 0, "a trailing dot");
    bad("a..b@example.com", 0, "two dots");
    bad("a b@example.com", 0, "a space");
    bad("a(b)@example.com", 0, "parentheses");
    bad("a,b@example.com", 0, "a comma");
    bad("a<b@example.com", 0, "an angle bracket");
    bad("a\\b@example.com", 0, "a backslash outside quotes");
    bad("[a]@example.com", 0, "brackets");
    bad("@example.com", 0, "an empty local part");
    bad("user", 0, "no @");
    bad("user@", 0, "an empty domain");
    bad("a@b@example.com", 0, "two @");
    bad("", 0, "an empty address");
}

/* test_domain - host names and address literals */
static void
test_domain(void)
{
    struct smg_addr a;
    char *s, *d;

    bad("a@-x.example", 0, "a label starting with a hyphen");
    bad("a@x-.example", 0, "a label ending with a hyphen");
    bad("a@x..example", 0, "an empty label");
    bad("a@.x.example", 0, "a leading dot in the domain");
    bad("a@x.example.", 0, "a trailing dot in the domain");
    bad("a@x_y.example", 0, "an underscore in the domain");
    bad("a@x y.example", 0, "a space in the domain");
    bad("a@x!.example", 0, "punctuation in the domain");

    d = repeat('a', 63);
    s = g_strdup_printf("u@%s.example", d);
    a = good(s, 0, "a 63-octet label");
    smg_addr_clear(&a);
    g_free(s);
    g_free(d);
    d = repeat('a', 64);
    s = g_strdup_printf("u@%s.example", d);
    bad(s, 0, "a 64-octet label");
    g_free(s);
    g_free(d);

    d = domain_of_len(255);
    is_int(255, (long) strlen(d), "test domain is 255 octets");
    ok(smg_addr_check_domain(d, strlen(d), 0), "a 255-octet domain is valid");
    g_free(d);
    d = domain_of_len(256);
    ok(!smg_addr_check_domain(d, strlen(d), 0), "a 256-octet domain is not");
    g_free(d);

    a = good("a@[192.0.2.1]", 0, "an IPv4 literal");
    ok(a.literal, "literal flag");
    is_string("[192.0.2.1]", a.domain, "literal kept with brackets");
    smg_addr_clear(&a);
    a = good("a@[IPv6:2001:db8::1]", 0, "an IPv6 literal");
    smg_addr_clear(&a);
    a = good("a@[ipv6:::1]", 0, "the IPv6 tag in lower case");
    smg_addr_clear(&a);
    a = good("a@[IPv6:::ffff:192.0.2.1]", 0, "an IPv4-mapped IPv6 literal");
    smg_addr_clear(&a);
    bad("a@[300.1.1.1]", 0, "an IPv4 octet over 255");
    bad("a@[1.2.3]", 0, "three IPv4 octets");
    bad("a@[01.2.3.4]", 0, "a leading zero");
    bad("a@[2001:db8::1]", 0, "IPv6 without its tag");
    bad("a@[IPv6:1.2.3.4]", 0, "IPv4 behind the IPv6 tag");
    bad("a@[IPv6:]", 0, "an empty IPv6 literal");
    bad("a@[x-tag:foo]", 0, "a general address literal");
    bad("a@[192.0.2.1", 0, "an unclosed literal");
    bad("a@192.0.2.1]", 0, "a literal without its opening bracket");
    bad("a@[]", 0, "an empty literal");
    bad("a@[ 192.0.2.1]", 0, "a space in a literal");
}

/* test_limits - RFC 5321 4.5.3.1 lengths */
static void
test_limits(void)
{
    struct smg_addr a;
    char *l, *d, *s;

    l = repeat('l', 64);
    s = g_strdup_printf("%s@example.com", l);
    a = good(s, 0, "a 64-octet local part");
    smg_addr_clear(&a);
    g_free(s);
    g_free(l);
    l = repeat('l', 65);
    s = g_strdup_printf("%s@example.com", l);
    bad(s, 0, "a 65-octet local part");
    g_free(s);
    g_free(l);
    l = g_strdup_printf("\"%s\"",
                        "a b c d e f g h i j k l m n o p q r s t u v "
                        "w x y z 0 1 2 3 45");
    s = g_strdup_printf("%s@example.com", l);
    is_int(64, (long) strlen(l), "quoted local part of 64 octets");
    a = good(s, 0, "a 64-octet quoted local part");
    smg_addr_clear(&a);
    g_free(s);
    g_free(l);

    /* 64 + "@" + 189 = 254: the path with brackets is 256 */
    l = repeat('l', 64);
    d = domain_of_len(189);
    s = g_strdup_printf("%s@%s", l, d);
    is_int(254, (long) strlen(s), "test address is 254 octets");
    a = good(s, 0, "a 254-octet address (path of 256)");
    smg_addr_clear(&a);
    g_free(s);
    g_free(d);
    d = domain_of_len(190);
    s = g_strdup_printf("%s@%s", l, d);
    bad(s, 0, "a 255-octet address");
    g_free(s);
    g_free(d);
    g_free(l);
}

/* test_bytes - NUL, control characters, 8-bit and UTF-8 */
static void
test_bytes(void)
{
    struct smg_addr a;
    static const char nul1[] = "a\0b@example.com";
    static const char nul2[] = "ab@example.com\0";

    bad_len(nul1, sizeof(nul1) - 1, 0, "5.1.3 ", "a NUL in the local part");
    bad_len(nul2, sizeof(nul2) - 1, 0, "5.1.3 ", "a NUL at the end");
    bad_len(nul1, sizeof(nul1) - 1, SMG_ADDR_UTF8, "5.1.3 ",
            "a NUL with UTF-8 allowed");
    bad("a\tb@example.com", 0, "a TAB");
    bad("ab@example.com\r", 0, "a CR");
    bad("\"a\nb\"@example.com", 0, "an LF in quotes");
    bad("a\x7f@example.com", 0, "DEL");

    bad("j\xc3\xb6ran@example.com", 0, "UTF-8 without SMTPUTF8");
    a = good("j\xc3\xb6ran@example.com", SMG_ADDR_UTF8, "UTF-8 with SMTPUTF8");
    ok(a.utf8, "utf8 flag");
    smg_addr_clear(&a);
    a = good("\"j\xc3\xb6 ran\"@example.com", SMG_ADDR_UTF8,
             "UTF-8 in a quoted string");
    smg_addr_clear(&a);
    a = good("user@b\xc3\xbc"
             "cher.example",
             SMG_ADDR_UTF8, "a U-label domain");
    ok(a.utf8, "utf8 flag for a UTF-8 domain");
    smg_addr_clear(&a);
    bad("user@b\xc3\xbc"
        "cher.example",
        0, "a U-label without SMTPUTF8");
    bad("user@b\xc3\xbc_cher.example", SMG_ADDR_UTF8,
        "an underscore in a U-label");
    bad("user@-b\xc3\xbc"
        "cher.example",
        SMG_ADDR_UTF8, "a U-label starting with a hyphen");
    bad("\xff@example.com", SMG_ADDR_UTF8, "invalid UTF-8");
    bad("\xc3@example.com", SMG_ADDR_UTF8, "a truncated UTF-8 sequence");
    bad("\xc0\xaf@example.com", SMG_ADDR_UTF8, "an overlong UTF-8 sequence");
    bad("a\xc2\x85"
        "b@example.com",
        SMG_ADDR_UTF8, "a C1 control character");
    bad("a@[192.0.2.1\xc3\xb6]", SMG_ADDR_UTF8, "UTF-8 in a literal");
}

/* idna_is - smg_addr_idna_ascii(host) is want (NULL: refused) */
static void
idna_is(const char *host, const char *want, const char *name)
{
    char *got = smg_addr_idna_ascii(host);

    if (want == NULL)
        ok(got == NULL, "%s", name);
    else
        is_string(want, got != NULL ? got : "(refused)", "%s", name);
    g_free(got);
}

/* test_idna - U-labels to A-labels by IDNA 2008, not IDNA 2003 */
static void
test_idna(void)
{
    idna_is("Example.COM", "example.com", "an ASCII name is only lower-cased");
    idna_is("B\xc3\xbc" "cher.Example", "xn--bcher-kva.example", "a U-label, upper case folded");
    /* IDNA 2003 (and UTS #46 transitional) map these to other names */
    idna_is("stra\xc3\x9f" "e.de", "xn--strae-oqa.de", "sharp s kept (not strasse.de)");
    idna_is("\xce\xb2\xcf\x8c\xce\xbb\xce\xbf\xcf\x82.com", "xn--nxasmm1c.com",
            "final sigma kept");
    /* Sinhala "Sri" with a zero-width joiner, as in many .lk names:
     * IDNA 2003 (GLib) drops the joiner and names xn--10cl1a0b.lk */
    idna_is("\xe0\xb7\x81\xe0\xb7\x8a\xe2\x80\x8d\xe0\xb6\xbb\xe0\xb7\x93.lk",
            "xn--10cl1a0b660p.lk", "ZWJ kept where IDNA 2008 allows it");
    /* a symbol IDNA 2003 took and IDNA 2008 does not */
    idna_is("a\xe2\x98\x83" "b.example", NULL, "a snowman is refused");
    idna_is("\xff.example", NULL, "invalid UTF-8 is refused");
    bad("user@a\xe2\x98\x83" "b.example", SMG_ADDR_UTF8,
        "an address whose domain IDNA 2008 refuses");
    {
        struct smg_addr a = good("user@\xe0\xb7\x81\xe0\xb7\x8a\xe2\x80\x8d"
                                 "\xe0\xb6\xbb\xe0\xb7\x93.lk",
                                 SMG_ADDR_UTF8, "an address with a ZWJ in its domain");
        smg_addr_clear(&a);
    }
}

/* test_flags - sender DSN and the bare postmaster */
static void
test_flags(void)
{
    struct smg_addr a;

    bad_len("a..b@example.com", 16, SMG_ADDR_SENDER, "5.1.7 Bad sender",
            "a bad sender gets 5.1.7");
    bad_len("a..b@example.com", 16, 0, "5.1.3 Bad recipient",
            "a bad recipient gets 5.1.3");
    bad_len("j\xc3\xb6@x.example", 11, SMG_ADDR_SENDER, "5.1.7 ",
            "8-bit sender without SMTPUTF8 gets 5.1.7");

    a = good("postmaster", SMG_ADDR_POSTMASTER, "bare postmaster for RCPT");
    ok(a.domain == NULL, "postmaster has no domain");
    is_string("postmaster", a.addr, "postmaster addr");
    smg_addr_clear(&a);
    a = good("PostMaster", SMG_ADDR_POSTMASTER, "postmaster in any case");
    is_string("PostMaster", a.local, "case kept");
    smg_addr_clear(&a);
    a = good("\"Postmaster\"", SMG_ADDR_POSTMASTER, "quoted postmaster (RFC 5321 4.1.2)");
    ok(a.domain == NULL, "quoted postmaster has no domain");
    is_string("Postmaster", a.addr, "quoted postmaster addr is the unquoted name");
    smg_addr_clear(&a);
    a = good("\"post\\MASTER\"", SMG_ADDR_POSTMASTER, "quoted postmaster with a quoted-pair");
    is_string("postMASTER", a.local, "quoted-pair undone");
    smg_addr_clear(&a);
    bad("\"postmaster\"", 0, "quoted postmaster without the flag");
    bad("\"postmaster \"", SMG_ADDR_POSTMASTER, "quoted postmaster with a space");
    bad("\"postmaster\"x", SMG_ADDR_POSTMASTER, "quoted postmaster with a tail");
    bad("\"postmaster", SMG_ADDR_POSTMASTER, "unclosed quoted postmaster");
    bad("postmaster", 0, "bare postmaster without the flag");
    bad("abuse", SMG_ADDR_POSTMASTER, "other bare local parts");
}

/* test_helpers - domain extraction and literals */
static void
test_helpers(void)
{
    char *s;
    int fam = 0;

    is_string("Example.COM", smg_addr_domain("user@Example.COM"), "domain");
    is_string("c.example", smg_addr_domain("\"a@b\"@c.example"),
              "domain after a quoted @");
    ok(smg_addr_domain("postmaster") == NULL, "no domain without @");
    ok(smg_addr_domain("") == NULL, "no domain for the null sender");
    ok(smg_addr_domain(NULL) == NULL, "no domain for NULL");

    s = smg_addr_domain_lower("User@Example.COM");
    is_string("example.com", s, "domain lower-cased");
    g_free(s);
    s = smg_addr_domain_lower("u@B\xc3\x9c"
                              "CHER.Example");
    is_string("b\xc3\xbc"
              "cher.example",
              s, "UTF-8 domain lower-cased");
    g_free(s);
    ok(smg_addr_domain_lower("postmaster") == NULL, "no lower domain");

    ok(smg_addr_is_domain_literal("[192.0.2.1]"), "literal");
    ok(!smg_addr_is_domain_literal("example.com"), "not a literal");
    ok(!smg_addr_is_domain_literal("["), "a lone bracket");
    ok(!smg_addr_is_domain_literal(NULL), "NULL");

    s = smg_addr_literal_ip("[192.0.2.1]", &fam);
    is_string("192.0.2.1", s, "IPv4 of a literal");
    is_int(AF_INET, fam, "AF_INET");
    g_free(s);
    s = smg_addr_literal_ip("[IPv6:2001:db8::1]", &fam);
    is_string("2001:db8::1", s, "IPv6 of a literal");
    is_int(AF_INET6, fam, "AF_INET6");
    g_free(s);
    ok(smg_addr_literal_ip("[tag:x]", NULL) == NULL, "general literal");
    ok(smg_addr_literal_ip("example.com", NULL) == NULL, "not a literal");
    ok(smg_addr_literal_ip(NULL, NULL) == NULL, "NULL literal");

    ok(smg_addr_check_domain("mail.example.com", 16, 0), "check a host name");
    ok(smg_addr_check_domain("[192.0.2.1]", 11, 0), "check a literal");
    ok(!smg_addr_check_domain("exa mple", 8, 0), "check a space");
    ok(!smg_addr_check_domain("a\0b", 3, 0), "check a NUL");
    ok(!smg_addr_check_domain("", 0, 0), "check empty");
    ok(!smg_addr_check_domain("b\xc3\xbc"
                              "cher.example",
                              13, 0),
       "check UTF-8 without the flag");
    ok(smg_addr_check_domain("b\xc3\xbc"
                             "cher.example",
                             13, SMG_ADDR_UTF8),
       "check UTF-8 with the flag");
}

/* smg_addr_ip_any: the any address in its spellings, and nothing else */
static void
test_ip_any(void)
{
    static const char *const any[] = {"0.0.0.0", "::", "0:0::0", "::0.0.0.0"};
    static const char *const not_any[] = {"127.0.0.1", "::1", "0.0.0.1", "::ffff:0.0.0.0",
                                          "0", "", "[::]", "any"};

    for (guint i = 0; i < G_N_ELEMENTS(any); i++)
        ok(smg_addr_ip_any(any[i]), "ip_any: %s is the any address", any[i]);
    for (guint i = 0; i < G_N_ELEMENTS(not_any); i++)
        ok(!smg_addr_ip_any(not_any[i]), "ip_any: \"%s\" is not", not_any[i]);
}

/* replay_check - one fuzz input under every flag: parses whole or fails
 * with an error and no address; returns the inconsistent results */
static unsigned
replay_check(const char *buf, size_t len)
{
    unsigned bad_result = 0;

    for (unsigned flags = 0; flags < 8; flags++) {
        struct smg_addr a = SMG_ADDR_ZERO;
        GError *err = NULL;

        if (smg_addr_parse(buf, len, flags, &a, &err) == SMG_OK) {
            if (a.addr == NULL || strlen(a.addr) != len)
                bad_result++;
        } else if (err == NULL || a.addr != NULL) {
            bad_result++;
        }
        smg_addr_clear(&a);
        g_clear_error(&err);
    }
    return bad_result;
}

int
main(void)
{
    plan_lazy();
    test_basic();
    test_quoted();
    test_dot_string();
    test_domain();
    test_limits();
    test_bytes();
    test_flags();
    test_idna();
    test_helpers();
    test_ip_any();
    test_replay_fuzz("corpus", "addr", replay_check);
    test_replay_fuzz("regress", "addr", replay_check);
    return 0;
}

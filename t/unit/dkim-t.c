/*
 * dkim-t.c - tests of lib/dkim: signing with libopendkim (RSA, Ed25519,
 * dual), the From:/sender choice, Reply-To, line ends, the key cache,
 * key generation and the DNS record text.
 *
 * The signatures are checked here with libopendkim's own verifier (keys
 * from a file); the integration tests check them with two independent
 * verifiers (t/4010-sign-verify.t).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <glib.h>
#include <opendkim/dkim.h>

#include "lib/config.h"
#include "lib/dkim.h"
#include "t/tap/basic.h"

static char *tmp;

/* contains - pass if seen contains needle */
static void
contains(const char *seen, const char *needle, const char *desc)
{
    if (!ok(seen != NULL && strstr(seen, needle) != NULL, "%s", desc))
        diag("wanted \"%s\" in \"%s\"", needle, seen != NULL ? seen : "(null)");
}

/* lacks - pass if seen does not contain needle */
static void
lacks(const char *seen, const char *needle, const char *desc)
{
    if (!ok(seen != NULL && strstr(seen, needle) == NULL, "%s", desc))
        diag("unwanted \"%s\" in \"%s\"", needle, seen != NULL ? seen : "(null)");
}

/* tmp_path - TMP/name (new string) */
static char *
tmp_path(const char *name)
{
    return g_build_filename(tmp, name, NULL);
}

/* write_tmp - write TMP/name */
static void
write_tmp(const char *name, const char *content)
{
    char *p = tmp_path(name);

    test_write_file(p, content);
    g_free(p);
}

/* key_file - the path of a test key (new string) */
static char *
key_file(const char *name)
{
    char *rel = g_build_filename("sign-data", name, NULL);
    char *p = test_file_path(rel);

    g_free(rel);
    return p;
}

/* signer - a signer from the test config plus extra [sign] lines */
static struct smg_dkim *
signer(const char *extra, enum smg_status want, char **errmsg)
{
    char *text = g_strdup_printf("[spool]\ndir = %s/spool\n[sign]\n%s%s%s",
                                 tmp, extra,
                                 strstr(extra, "keytable") ? "" : "keytable = KeyTable\n",
                                 strstr(extra, "signingtable") ? ""
                                     : "signingtable = refile:SigningTable\n");
    char *cpath = tmp_path("smg.conf");
    struct smg_conf *conf = NULL;
    struct smg_dkim *d = NULL;
    GError *err = NULL;
    enum smg_status st;

    if (smg_conf_load_data(text, cpath, &conf, &err) != SMG_OK)
        bail("config: %s", err->message);
    st = smg_dkim_new(conf, &d, &err);
    if (st != want)
        diag("smg_dkim_new: %d (%s)", (int) st, err != NULL ? err->message : "");
    if (errmsg != NULL)
        *errmsg = err != NULL ? g_strdup(err->message) : NULL;
    g_clear_error(&err);
    smg_conf_free(conf);
    g_free(cpath);
    g_free(text);
    return d;
}

/* verify - libopendkim's verdict on each signature: "pass,fail,..." */
static char *
verify(const char *msg, gsize len)
{
    DKIM_LIB *lib = dkim_init(NULL, NULL);
    dkim_query_t method = DKIM_QUERY_FILE;
    char *db = tmp_path("keys.db");
    DKIM_STAT st;
    DKIM *v;
    GString *crlf = g_string_new(NULL), *out = g_string_new(NULL);
    DKIM_SIGINFO **sigs = NULL;
    int nsigs = 0;

    for (gsize i = 0; i < len; i++) {
        if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
            g_string_append_c(crlf, '\r');
        g_string_append_c(crlf, msg[i]);
    }
    if (crlf->len > 0 && crlf->str[crlf->len - 1] != '\n')
        g_string_append(crlf, "\r\n"); /* as a transmission ends it */
    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYMETHOD, &method, sizeof method);
    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYINFO, db, strlen(db));
    v = dkim_verify(lib, (const unsigned char *) "t", NULL, &st);
    dkim_chunk(v, (unsigned char *) crlf->str, crlf->len);
    dkim_chunk(v, NULL, 0);
    (void) dkim_eom(v, NULL);
    if (dkim_getsiglist(v, &sigs, &nsigs) == DKIM_STAT_OK) {
        for (int i = 0; i < nsigs; i++) {
            gboolean pass = (dkim_sig_getflags(sigs[i]) & DKIM_SIGFLAG_PASSED) != 0
                            && dkim_sig_getbh(sigs[i]) == DKIM_SIGBH_MATCH;
            g_string_append_printf(out, "%s%s", i ? "," : "", pass ? "pass" : "fail");
        }
    }
    if (out->len == 0)
        g_string_append(out, "none");
    dkim_free(v);
    dkim_close(lib);
    g_string_free(crlf, TRUE);
    g_free(db);
    return g_string_free(out, FALSE);
}

/* sign - sign text; *log set; the new message or a copy of text */
static char *
sign(struct smg_dkim *d, const char *text, const char *sender, char **log,
     gboolean *changed)
{
    GString *out = NULL;
    GError *err = NULL;
    enum smg_status st;

    st = smg_dkim_sign(d, "TEST1", text, strlen(text), sender, NULL, &out, log, &err);
    if (st != SMG_OK)
        diag("smg_dkim_sign: %s", err->message);
    g_clear_error(&err);
    if (changed != NULL)
        *changed = out != NULL;
    return out != NULL ? g_string_free(out, FALSE) : g_strdup(text);
}

/* setup - the KeyTable, SigningTable, Reply-To table and keys.db */
static void
setup(void)
{
    char *rsa = key_file("rsa2048.pem"), *ed = key_file("ed25519.pem");
    char *text = g_strdup_printf(
        "rsa example.com:rsa:%s\n"
        "ed example.com:ed:%s\n"
        "pct %%:pct:%s\n"
        "sub sub.example.com:sub:%s\n"
        "named.test named.test:named:%s\n"
        "Mixed.test mixed.test:mixed:%s\n", rsa, ed, ed, rsa, rsa, ed);
    struct smg_keytable *kt = NULL;
    GString *db = g_string_new(NULL);

    write_tmp("KeyTable", text);
    g_free(text);
    write_tmp("SigningTable", "*@example.com rsa @%\n"
                              "*@example.com ed\n"
                              "*@pct.test pct\n"
                              "*@shop.test pct\n"
                              "*@xn--bcher-kva.test pct\n"
                              "*@stra\xc3\x9f" "e.test pct\n"
                              "*@sub.example.com sub @other.test\n"
                              "*@nat.sub.example.com sub sub.example.com\n"
                              "*@twoat.sub.example.com sub a@b@sub.example.com\n"
                              "*@named.test %\n"
                              "*@mixed.test %\n"
                              "*@[* pct @%\n");
    write_tmp("replyto", "shop.test Shop <support@helpdesk.test>\n");
    text = tmp_path("KeyTable");
    if (smg_keytable_load(text, &kt, NULL) != SMG_OK)
        bail("KeyTable");
    g_free(text);
    for (guint i = 0; i < smg_keytable_count(kt); i++) {
        const struct smg_dkim_key *k = smg_keytable_nth(kt, i);
        const char *dom[] = {k->domain, NULL, NULL, NULL, NULL};

        if (strcmp(k->domain, "%") == 0) {
            dom[0] = "pct.test";
            dom[1] = "shop.test";
            dom[2] = "xn--bcher-kva.test";
            dom[3] = "xn--strae-oqa.test";
        }
        for (int j = 0; dom[j] != NULL; j++)
            g_string_append_printf(db, "%s._domainkey.%s v=DKIM1; k=%s; p=%s\n",
                                   k->selector, dom[j],
                                   smg_keytable_key_type(k->alg), k->pub);
    }
    write_tmp("keys.db", db->str);
    g_string_free(db, TRUE);
    smg_keytable_free(kt);
    g_free(rsa);
    g_free(ed);
}

static const char MSG[] =
    "Received: from app1 by out.test; Sun, 22 Nov 2026 05:00:00 +0000\n"
    "From: Alice Example <alice@example.com>\n"
    "To: bob@example.net\n"
    "Subject: the quarterly report\n"
    "Date: Sun, 22 Nov 2026 05:00:00 +0000\n"
    "Message-ID: <1@example.com>\n"
    "\n"
    "Hello Bob,\n"
    "  here it is.\n"
    "\n";

static void
test_dual(struct smg_dkim *d)
{
    char *log = NULL, *out, *v, *crlf;
    gboolean changed = FALSE;
    guint64 hits = smg_dkim_key_cache_hits();
    GString *s;

    out = sign(d, MSG, "alice@example.com", &log, &changed);
    ok(changed, "a message of example.com is signed");
    ok(g_str_has_prefix(out, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=rsa;\n"),
       "RSA signature first, on top, LF line ends");
    contains(out, "\nDKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com;\n",
             "Ed25519 signature second");
    contains(out, "\nReceived: from app1", "the message follows");
    contains(out, "t=1795330000;", "fixed time in t=");
    contains(out, "x=1795416400;", "x= is t= plus [sign] expire");
    contains(out, "i=@example.com;", "i= from the SigningTable's signer field");
    lacks(out, " l=", "no l=");
    lacks(out, "\r", "no CR in an LF message");
    contains(out, "h=From:To:Subject:Date:Message-ID:from;", "default header list, From oversigned");
    lacks(out, "h=Received", "Received is not signed");
    is_string("dkim=signed, d=example.com, s=rsa+ed, a=rsa-sha256+ed25519-sha256, by=from",
              log, "log fragment");
    ok(smg_dkim_key_cache_hits() >= hits + 2,
       "libopendkim's key decoding answered from the key cache");
    g_free(log);

    /* the same signer without expiry, at the real time, for verification */
    g_free(out);
    smg_dkim_set_time(d, (guint64) time(NULL));
    out = sign(d, MSG, NULL, &log, NULL);
    v = verify(out, strlen(out));
    is_string("pass,pass", v, "both signatures verify (libopendkim)");
    g_free(v);
    g_free(log);

    /* tampering */
    s = g_string_new(out);
    g_string_replace(s, "here it is", "here it was", 1);
    v = verify(s->str, s->len);
    is_string("fail,fail", v, "tampered body fails");
    g_free(v);
    g_string_assign(s, out);
    g_string_replace(s, "quarterly", "quarter1y", 1);
    v = verify(s->str, s->len);
    is_string("fail,fail", v, "tampered Subject fails");
    g_free(v);
    g_string_assign(s, out);
    g_string_replace(s, "To: bob@example.net\n", "To: bob@example.net\nFrom: mallory@evil.test\n", 1);
    v = verify(s->str, s->len);
    is_string("fail,fail", v, "an added From: fails (oversigned)");
    g_free(v);
    g_string_assign(s, out);
    g_string_replace(s, "Hello Bob,\n", "Hello Bob,   \n", 1);
    g_string_replace(s, "Subject: the", "Subject:   the", 1);
    v = verify(s->str, s->len);
    is_string("pass,pass", v, "relaxed: whitespace changes still verify");
    g_free(v);
    g_string_free(s, TRUE);
    g_free(out);

    /* CRLF in, CRLF out */
    crlf = g_strjoinv("\r\n", (char *[]) {"From: alice@example.com", "Subject: crlf", "",
                                          "line 1", "line 2", "", NULL});
    out = sign(d, crlf, NULL, &log, NULL);
    contains(out, "\r\n\tt=", "CRLF message: signature folded with CRLF");
    lacks(strstr(out, "From:"), "\n\n", "... and no bare LF added");
    {
        gboolean bare = FALSE;
        for (const char *p = out; *p != '\0'; p++)
            bare = bare || (*p == '\n' && (p == out || p[-1] != '\r'));
        ok(!bare, "every line of the output ends in CRLF");
    }
    v = verify(out, strlen(out));
    is_string("pass,pass", v, "CRLF message verifies");
    g_free(v);
    g_free(out);
    g_free(log);
    g_free(crlf);
}

static void
test_shapes(struct smg_dkim *d)
{
    const char *cases[][2] = {
        {"empty body", "From: alice@example.com\nSubject: empty\n\n"},
        {"no body, no blank line", "From: alice@example.com\nSubject: nothing"},
        {"8-bit body", "From: alice@example.com\nSubject: =?UTF-8?Q?gr=C3=BC=C3=9Fe?=\n"
                       "Content-Type: text/plain; charset=utf-8\n"
                       "Content-Transfer-Encoding: 8bit\n\n"
                       "Gr\xc3\xbc\xc3\x9f""e aus K\xc3\xb6ln \xe2\x82\xac\n\xff\xfe raw bytes\n"},
        {"folded and long headers", NULL},
        {"no final line end", "From: alice@example.com\nSubject: x\n\nlast line"},
        {"trailing blank lines", "From: alice@example.com\nSubject: x\n\nbody\n\n\n\n"},
    };
    GString *longmsg = g_string_new("From: \"Alice, the\n  Example\" <alice@example.com>\n"
                                    "Subject: a subject\n\tfolded\n  twice\n"
                                    "References:");

    for (int i = 0; i < 120; i++)
        g_string_append_printf(longmsg, "\n <message-%d-%s@example.com>", i,
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    g_string_append(longmsg, "\nX-Long: ");
    for (int i = 0; i < 3000; i++)
        g_string_append_c(longmsg, (char) ('a' + i % 26));
    g_string_append(longmsg, "\n\nbody\n");
    cases[3][1] = longmsg->str;
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *log = NULL, *v;
        gboolean changed = FALSE;
        char *out = sign(d, cases[i][1], NULL, &log, &changed);

        ok(changed && g_str_has_prefix(log, "dkim=signed"), "%s: signed", cases[i][0]);
        v = verify(out, strlen(out));
        is_string("pass,pass", v, "%s: verifies", cases[i][0]);
        g_free(v);
        g_free(out);
        g_free(log);
    }
    g_string_free(longmsg, TRUE);
}

/* signed_with - a message from FROM is signed with WANT in its
 * DKIM-Signature (test NAME), and verifies */
static void
signed_with(struct smg_dkim *d, const char *from, const char *want, const char *name)
{
    char *msg = g_strdup_printf("From: %s\nSubject: s\n\nb\n", from);
    char *log = NULL, *out, *v;
    gboolean changed = FALSE;

    out = sign(d, msg, NULL, &log, &changed);
    contains(out, want, name);
    v = verify(out, strlen(out));
    is_string("pass", v, "... verifies");
    g_free(v);
    g_free(out);
    g_free(log);
    g_free(msg);
}

static void
test_choice(struct smg_dkim *d)
{
    char *log = NULL, *out, *v;
    gboolean changed = TRUE;

    out = sign(d, "From: x@nokey.test\nSubject: s\n\nb\n", "y@nokey.test", &log, &changed);
    ok(!changed, "no key for the domain: unchanged");
    is_string("dkim=none, reason=no key, from=<x@nokey.test>", log, "... logged");
    g_free(out);
    g_free(log);

    out = sign(d, "From: x@nokey.test\nSubject: s\n\nb\n", "bounce@example.com", &log, &changed);
    ok(changed, "envelope sender's domain as fallback");
    contains(log, "d=example.com, s=rsa+ed, a=rsa-sha256+ed25519-sha256, by=sender", "... logged");
    v = verify(out, strlen(out));
    is_string("pass,pass", v, "... and verifies");
    g_free(v);
    g_free(out);
    g_free(log);

    out = sign(d, "Subject: no from\n\nb\n", "a@example.com", &log, &changed);
    contains(log, "dkim=error, d=example.com", "no From: at all: the sender picks the key, "
             "but libopendkim requires From: (logged)");
    ok(!changed, "... and it passes unsigned");
    g_free(out);
    g_free(log);

    signed_with(d, "a@pct.test", "d=pct.test; s=pct;",
                "%% domain in the KeyTable: the sender's domain");
    /* a UTF-8 From domain (SMTPUTF8 mail): the SigningTable names it in
     * A-labels, and so does d= */
    signed_with(d, "a@b\xc3\xbc" "cher.test", "d=xn--bcher-kva.test; s=pct;",
                "UTF-8 From domain: found and signed as A-labels");
    /* ... and a SigningTable entry written in UTF-8 is read in A-labels */
    signed_with(d, "a@stra\xc3\x9f" "e.test", "d=xn--strae-oqa.test; s=pct;",
                "UTF-8 SigningTable entry: found, A-labels");

    /* a KEYNAME of % names the key by the From: domain, which the
     * SigningTable matched in any case: in lower case, as d= is written
     * (the key was not found for A@Named.TEST) */
    signed_with(d, "A@Named.TEST", "d=named.test; s=named;",
                "KEYNAME %, a From: domain in upper case: its key");
    signed_with(d, "a@named.test", "d=named.test; s=named;", "... and in lower case");
    /* ... and a KeyTable name in mixed case still names the key of a
     * From: domain written the same way */
    signed_with(d, "x@Mixed.test", "d=mixed.test;",
                "KEYNAME %, a KeyTable name in mixed case: found as written");

    /* an ASCII address is logged as written */
    out = sign(d, "From: x@NoKey.TEST\nSubject: s\n\nb\n", NULL, &log, &changed);
    is_string("dkim=none, reason=no key, from=<x@NoKey.TEST>", log, "ASCII domain: logged as written");
    g_free(out);
    g_free(log);

    out = sign(d, "From: a@sub.example.com\nSubject: s\n\nb\n", NULL, &log, &changed);
    contains(out, "d=sub.example.com;", "subdomain key");
    contains(out, "s=sub;", "... its selector");
    lacks(out, "i=", "a signer outside d= is dropped");
    g_free(out);
    g_free(log);
    /* a signer libopendkim cannot take as i= (no '@'; or an '@' in the
     * local part, which libopendkim splits at the first '@') was kept,
     * and every message of the domain went out unsigned (dkim=error) */
    out = sign(d, "From: a@nat.sub.example.com\nSubject: s\n\nb\n", NULL, &log, &changed);
    contains(log, "dkim=signed, d=sub.example.com", "a signer without '@' is dropped: signed");
    lacks(out, "i=", "... without i=");
    v = verify(out, strlen(out));
    is_string("pass", v, "... verifies");
    g_free(v);
    g_free(out);
    g_free(log);
    /* a "%" key signs as d= the From: domain: an address literal is
     * none, and its text went into the tag list (d=[192.0.2.1;l=0]) */
    out = sign(d, "From: a@[192.0.2.1;l=0]\nSubject: s\n\nb\n", NULL, &log, &changed);
    ok(!changed, "d=%% for an address literal: not signed");
    contains(log, "dkim=none, reason=no key", "... logged");
    g_free(out);
    g_free(log);
    out = sign(d, "From: a@twoat.sub.example.com\nSubject: s\n\nb\n", NULL, &log, &changed);
    contains(log, "dkim=signed, d=sub.example.com", "a signer of two '@' is dropped: signed");
    lacks(out, "i=", "... without i=");
    g_free(out);
    g_free(log);

    out = sign(d, "From: a@example.com\nSubject: s\nbroken line\n\nb\n", NULL, &log, &changed);
    ok(!changed, "malformed header: unchanged");
    is_string("dkim=error, reason=a header line is not a field", log, "... logged");
    g_free(out);
    g_free(log);
    out = sign(d, " cont\nFrom: a@example.com\n\nb\n", NULL, &log, &changed);
    ok(!changed, "continuation line first: unchanged");
    g_free(out);
    g_free(log);
}

static void
test_replyto(struct smg_dkim *d)
{
    char *log = NULL, *out, *v;
    gboolean changed = FALSE;

    out = sign(d, "From: shop@shop.test\nSubject: order\n\nthanks\n", NULL, &log, &changed);
    contains(out, "Subject: order\nReply-To: Shop <support@helpdesk.test>\n\nthanks",
             "Reply-To added at the header's end");
    contains(out, "h=From:Subject:Reply-To:from", "... and signed");
    contains(log, ", reply_to=added", "... logged");
    v = verify(out, strlen(out));
    is_string("pass", v, "... verifies");
    g_free(v);
    g_free(out);
    g_free(log);

    out = sign(d, "From: shop@shop.test\nReply-To: me@shop.test\n\nthanks\n", NULL, &log, &changed);
    ok(strstr(out, "\nReply-To:") != NULL
           && strstr(strstr(out, "\nReply-To:") + 1, "\nReply-To:") == NULL,
       "a message with a Reply-To keeps its own");
    contains(out, "Reply-To: me@shop.test", "... unchanged");
    g_free(out);
    g_free(log);

    out = sign(d, "From: shop@shop.test\nSubject: x", NULL, &log, &changed);
    contains(out, "Subject: x\nReply-To: Shop", "no final line end: one is added first");
    g_free(out);
    g_free(log);
}

static void
test_config(void)
{
    char *msg = NULL;
    struct smg_dkim *d;

    d = signer("headers = to subject\n", SMG_CONFIG, &msg);
    ok(d == NULL, "header list without From: config error");
    contains(msg, "From must be signed", "... says why");
    g_free(msg);
    d = signer("headers = from dkim-signature\n", SMG_CONFIG, &msg);
    contains(msg, "DKIM-Signature cannot be listed", "DKIM-Signature in the list");
    g_free(msg);
    write_tmp("KeyTable.bad", "rsa example.com:rsa:/nonexistent/key.pem\n");
    d = signer("keytable = KeyTable.bad\n", SMG_CONFIG, &msg);
    ok(d == NULL, "unreadable key: config error, not a skip");
    g_free(msg);
    d = signer("signingtable = refile:nonexistent\n", SMG_CONFIG, &msg);
    contains(msg, "nonexistent", "missing SigningTable named");
    g_free(msg);
    smg_dkim_free(d);
}

static void
test_genkey(void)
{
    struct smg_dkim_key key;
    char *p = tmp_path("new.private"), *rec, *text = NULL;
    GError *err = NULL;
    struct stat sb;

    is_int(SMG_OK, smg_dkim_genkey(SMG_KEYTABLE_ED25519_SHA256, 0, p, &key, &err),
           "Ed25519 key made");
    ok(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600, "file mode 0600");
    ok(g_file_get_contents(p, &text, NULL, NULL)
           && g_str_has_prefix(text, "-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM");
    rec = smg_dkim_txt_record("example.com", "s1", &key);
    contains(rec, "s1._domainkey.example.com. IN TXT ( \"v=DKIM1; k=ed25519; \"\n\t\"p=",
             "TXT record text");
    contains(rec, key.pub, "... with the public key");
    g_free(rec);
    g_free(text);
    smg_keytable_key_clear(&key);
    is_int(SMG_CONFIG, smg_dkim_genkey(SMG_KEYTABLE_ED25519_SHA256, 0, p, &key, &err),
           "never over an existing file");
    g_clear_error(&err);
    g_free(p);
    p = tmp_path("rsa.private");
    is_int(SMG_CONFIG, smg_dkim_genkey(SMG_KEYTABLE_RSA_SHA256, 1024, p, &key, &err),
           "1024-bit RSA refused");
    g_clear_error(&err);
    is_int(SMG_OK, smg_dkim_genkey(SMG_KEYTABLE_RSA_SHA256, 2048, p, &key, &err), "RSA key made");
    is_int(2048, key.bits, "2048 bits");
    rec = smg_dkim_txt_record("example.com", "r1", &key);
    contains(rec, "k=rsa; \"\n\t\"p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A", "RSA record");
    ok(strstr(rec, "\"\n\t\"") != NULL && strlen(rec) > 400, "p= split in strings");
    g_free(rec);
    smg_keytable_key_clear(&key);
    g_free(p);
}

/*
 * test_simple - simple header canonicalization: libopendkim 2.11 hashes an
 * Ed25519 signature's own field folded otherwise than it writes it (no
 * line break before b=, whose value it does not know yet), which simple
 * canonicalization keeps, so no Ed25519 signature ever verified
 */
static void
test_simple(void)
{
    static const char *canons[] = {"simple/simple", "simple/relaxed", "relaxed/simple"};

    for (gsize i = 0; i < G_N_ELEMENTS(canons); i++) {
        char *extra = g_strdup_printf("multiple_signatures = yes\ncanonicalization = %s\n",
                                      canons[i]);
        struct smg_dkim *d = signer(extra, SMG_OK, NULL);
        char *log = NULL, *out, *v, *want = g_strdup_printf("c=%s;", canons[i]);
        gboolean changed = FALSE;

        smg_dkim_set_time(d, (guint64) time(NULL));
        out = sign(d, MSG, NULL, &log, &changed);
        contains(out, want, canons[i]);
        v = verify(out, strlen(out));
        is_string("pass,pass", v, "... RSA and Ed25519 signatures verify");
        g_free(v);
        g_free(out);
        g_free(log);
        g_free(want);
        g_free(extra);
        smg_dkim_free(d);
    }
}

int
main(void)
{
    struct smg_dkim *d;

    plan_lazy();
    tmp = test_tmpdir();
    setup();
    d = signer("multiple_signatures = yes\nexpire = 1d\nreply_to = replyto\n", SMG_OK, NULL);
    if (d == NULL)
        bail("no signer");
    smg_dkim_set_time(d, 1795330000);
    test_dual(d);
    smg_dkim_free(d);
    d = signer("multiple_signatures = yes\nreply_to = replyto\n", SMG_OK, NULL);
    smg_dkim_set_time(d, (guint64) time(NULL));
    test_shapes(d);
    test_choice(d);
    test_replyto(d);
    smg_dkim_free(d);
    test_simple();
    test_config();
    test_genkey();
    test_tmpdir_free(tmp);
    return 0;
}

/*
 * keytable-t.c - tests of lib/keytable: OpenDKIM's KeyTable and
 * SigningTable formats, refile wildcards, the lookup order, the key checks
 * and the Reply-To table.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <openssl/pem.h>

#include "lib/keytable.h"
#include "t/tap/basic.h"

static char *tmp;

/* contains - pass if seen contains needle */
static void
contains(const char *seen, const char *needle, const char *desc)
{
    if (!ok(seen != NULL && strstr(seen, needle) != NULL, "%s", desc))
        diag("wanted \"%s\" in \"%s\"", needle, seen != NULL ? seen : "(null)");
}

/* data - the path of a file in t/data/sign-data (new string) */
static char *
data(const char *name)
{
    char *rel = g_build_filename("sign-data", name, NULL);
    char *p = test_file_path(rel);

    g_free(rel);
    return p;
}

/* write_tmp - write content to TMP/name, return the path (new string) */
static char *
write_tmp(const char *name, const char *content)
{
    char *p = g_build_filename(tmp, name, NULL);

    test_write_file(p, content);
    return p;
}

/* load_err - load a KeyTable text; return the error message or "ok" */
static char *
load_err(const char *text)
{
    char *p = write_tmp("KeyTable.bad", text);
    struct smg_keytable *kt = NULL;
    GError *err = NULL;
    enum smg_status st = smg_keytable_load(p, &kt, &err);
    char *r = st == SMG_OK ? g_strdup("ok") : g_strdup(err->message);

    if (st != SMG_OK && st != SMG_CONFIG)
        diag("unexpected status %d", (int) st);
    g_clear_error(&err);
    smg_keytable_free(kt);
    g_free(p);
    return r;
}

/* first_key - the key name the SigningTable gives addr first, or "-" */
static const char *
first_key(const struct smg_signingtable *st, const char *addr)
{
    GPtrArray *m = smg_keytable_signing_lookup(st, addr, FALSE);
    static char buf[256];

    g_strlcpy(buf, m->len > 0 ? ((struct smg_signing_entry *) m->pdata[0])->keyname : "-",
              sizeof buf);
    g_ptr_array_unref(m);
    return buf;
}

/* all_keys - the key names the SigningTable gives addr, joined by "," */
static char *
all_keys(const struct smg_signingtable *st, const char *addr)
{
    GPtrArray *m = smg_keytable_signing_lookup(st, addr, TRUE);
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < m->len; i++)
        g_string_append_printf(s, "%s%s", i ? "," : "",
                               ((struct smg_signing_entry *) m->pdata[i])->keyname);
    g_ptr_array_unref(m);
    return g_string_free(s, FALSE);
}

static void
test_keytable(void)
{
    char *rsa = data("rsa2048.pem"), *ed = data("ed25519.pem");
    char *small = data("rsa1024.pem"), *ec = data("ecdsa.pem");
    char *text, *path, *msg, *pem = NULL, *b64;
    struct smg_keytable *kt = NULL;
    const struct smg_dkim_key *k;
    GError *err = NULL;
    gsize len = 0;

    /* a key given inline, as base64 DER */
    ok(g_file_get_contents(ed, &pem, &len, NULL), "read the Ed25519 key");
    {
        BIO *bio = BIO_new_mem_buf(pem, (int) len);
        EVP_PKEY *pk = PEM_read_bio_PrivateKey_ex(bio, NULL, NULL, NULL, NULL, NULL);
        unsigned char *der = NULL;
        int n = i2d_PrivateKey(pk, &der);

        b64 = g_base64_encode(der, (gsize) n);
        OPENSSL_free(der);
        EVP_PKEY_free(pk);
        BIO_free(bio);
    }
    g_free(pem);
    path = g_build_filename(tmp, "keys", NULL);
    g_mkdir(path, 0700);
    g_free(path);
    path = g_build_filename(tmp, "keys", "rel.pem", NULL);
    {
        char *c = NULL;
        g_file_get_contents(rsa, &c, &len, NULL);
        g_file_set_contents(path, c, (gssize) len, NULL);
        g_free(c);
    }
    g_free(path);
    text = g_strdup_printf("# comment line\n"
                           "rsa._domainkey.example.com example.com:rsa:%s\n"
                           "\n"
                           "   ed._domainkey.example.com\tExample.COM:ed:%s  # trailing\n"
                           "rel  %%:rel:./keys/rel.pem\n"
                           "inline example.org:in:%s\n",
                           rsa, ed, b64);
    path = write_tmp("KeyTable", text);
    is_int(SMG_OK, smg_keytable_load(path, &kt, &err), "KeyTable loads");
    if (err != NULL)
        diag("%s", err->message);
    g_clear_error(&err);
    if (kt == NULL)
        bail("no KeyTable");
    is_int(4, smg_keytable_count(kt), "four keys");
    k = smg_keytable_find(kt, "rsa._domainkey.example.com");
    ok(k != NULL, "find by name");
    is_string("example.com", k->domain, "domain");
    is_string("rsa", k->selector, "selector");
    is_int(SMG_KEYTABLE_RSA_SHA256, k->alg, "RSA key: rsa-sha256");
    is_int(2048, k->bits, "2048 bits");
    is_string(rsa, k->source, "source is the file");
    ok(g_str_has_prefix(k->pem, "-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM kept");
    ok(g_str_has_prefix(k->pub, "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"), "p= is the RSA SPKI");
    k = smg_keytable_find(kt, "ed._domainkey.example.com");
    is_string("example.com", k->domain, "domain lower-cased, comment cut");
    is_int(SMG_KEYTABLE_ED25519_SHA256, k->alg, "Ed25519 key: ed25519-sha256");
    is_int(44, (long) strlen(k->pub), "Ed25519 p= is 32 raw bytes");
    k = smg_keytable_find(kt, "rel");
    is_string("%", k->domain, "%% domain kept for signing time");
    ok(k != NULL && g_str_has_suffix(k->source, "keys/rel.pem")
           && g_str_has_prefix(k->source, tmp),
       "./ path is taken from the KeyTable's folder");
    k = smg_keytable_find(kt, "inline");
    is_string("inline", k->source, "inline base64 DER key");
    is_int(SMG_KEYTABLE_ED25519_SHA256, k->alg, "inline key is Ed25519");
    ok(smg_keytable_find(kt, "nothing") == NULL, "unknown name: NULL");
    is_string("rsa._domainkey.example.com", smg_keytable_nth(kt, 0)->name, "file order");
    smg_keytable_free(kt);
    kt = NULL;
    g_free(text);

    /* file: prefix */
    text = g_strdup_printf("file:%s", path);
    is_int(SMG_OK, smg_keytable_load(text, &kt, NULL), "file:PATH");
    smg_keytable_free(kt);
    kt = NULL;
    g_free(text);
    is_int(SMG_CONFIG, smg_keytable_load("csl:a=b", &kt, &err), "csl: refused");
    ok(err != NULL && strstr(err->message, "only a file") != NULL, "... says why");
    g_clear_error(&err);
    is_int(SMG_CONFIG, smg_keytable_load("/nonexistent/KeyTable", &kt, &err),
           "missing KeyTable: config error");
    g_clear_error(&err);

    /* errors name the file, line and key */
    msg = load_err("a example.com:sel\n");
    contains(msg, "KeyTable.bad:1: key a: expected DOMAIN:SELECTOR:KEYFILE", "two fields");
    g_free(msg);
    text = g_strdup_printf("a example.com:s:%s\na example.com:t:%s\n", rsa, rsa);
    msg = load_err(text);
    contains(msg, ":2: key a is named twice", "duplicate name");
    g_free(msg);
    g_free(text);
    msg = load_err("a example.com:s:/nonexistent/key.pem\n");
    contains(msg, ":1: key a: ", "unreadable key: config error");
    contains(msg, "/nonexistent/key.pem", "... names the file");
    g_free(msg);
    text = g_strdup_printf("a example.com:s:%s\n", small);
    msg = load_err(text);
    contains(msg, "RSA key of 1024 bits, 2048 at least", "1024-bit RSA refused");
    g_free(msg);
    g_free(text);
    text = g_strdup_printf("a example.com:s:%s\n", ec);
    msg = load_err(text);
    contains(msg, "RSA or Ed25519 only", "ECDSA key refused");
    g_free(msg);
    g_free(text);
    msg = load_err("a example.com:s:notakeyatall\n");
    contains(msg, "not a private key", "garbage inline key");
    g_free(msg);
    msg = load_err("a example.com:s:/etc/%/key.pem\n");
    contains(msg, "is not supported", "%% in a key path refused");
    g_free(msg);
    msg = load_err(path); /* a path where a line should be: one field */
    contains(msg, "expected DOMAIN:SELECTOR:KEYFILE", "one word line");
    g_free(msg);

    g_free(path);
    g_free(b64);
    g_free(rsa);
    g_free(ed);
    g_free(small);
    g_free(ec);
}

static void
test_signingtable(void)
{
    char *rsa = data("rsa2048.pem");
    char *text = g_strdup_printf("k1 example.com:a:%s\nk2 example.com:b:%s\n"
                                 "k3 example.net:c:%s\n", rsa, rsa, rsa);
    char *ktp = write_tmp("KeyTable.st", text), *p, *s;
    struct smg_keytable *kt = NULL;
    struct smg_signingtable *st = NULL;
    GError *err = NULL;

    if (smg_keytable_load(ktp, &kt, NULL) != SMG_OK)
        bail("KeyTable.st");
    g_free(text);

    /* refile: wildcards in file order */
    p = write_tmp("SigningTable.re", "# refile\n"
                                     "boss@example.com k3\n"
                                     "*@example.com k1 %\n"
                                     "*@example.com k2 @mail.%\n"
                                     "*@*.example.com k2\n"
                                     "*@EXAMPLE.NET k3\n"
                                     "* %\n");
    s = g_strconcat("refile:", p, NULL);
    is_int(SMG_OK, smg_keytable_signing_load(s, kt, &st, &err), "refile loads");
    g_clear_error(&err);
    is_string("k3", first_key(st, "boss@example.com"), "first match wins");
    is_string("k1", first_key(st, "Alice@Example.COM"), "*@example.com, case ignored");
    is_string("k2", first_key(st, "a@sub.example.com"), "*@*.example.com");
    is_string("k3", first_key(st, "a@example.net"), "pattern case ignored");
    is_string("%", first_key(st, "a@other.test"), "catch-all *");
    is_string("k1,k2,%", (text = all_keys(st, "a@example.com")), "all matches, in order");
    g_free(text);
    {
        GPtrArray *m = smg_keytable_signing_lookup(st, "a@example.com", TRUE);
        const struct smg_signing_entry *e0 = m->pdata[0], *e1 = m->pdata[1];

        is_string("%", e0->signer, "signer field kept");
        is_string("@mail.%", e1->signer, "signer with %%");
        is_int(3, e0->line, "line number kept");
        g_ptr_array_unref(m);
    }
    smg_keytable_signing_free(st);
    st = NULL;
    g_free(s);
    g_free(p);

    /* plain file: OpenDKIM's lookup order */
    p = write_tmp("SigningTable", "* k3\n"
                                  "user@* k2\n"
                                  ".com k1\n"
                                  ".example.com k2\n"
                                  "user@.example.com k1\n"
                                  "sub.example.com k3\n"
                                  "user@sub.example.com k2\n"
                                  "user@sub.example.com k1\n");
    is_int(SMG_OK, smg_keytable_signing_load(p, kt, &st, NULL), "file loads");
    is_string("k2", first_key(st, "user@sub.example.com"), "user@host first");
    is_string("k2,k1,k3,k1,k2,k1,k2,k3", (text = all_keys(st, "user@sub.example.com")),
              "then host, user@.parent, .parent, user@*, *");
    g_free(text);
    is_string("k3", first_key(st, "other@sub.example.com"), "host");
    is_string("k1", first_key(st, "user@x.example.com"), "user@.example.com");
    is_string("k2", first_key(st, "bob@x.example.com"), ".example.com");
    is_string("k1", first_key(st, "bob@example.com"), ".com (not .example.com for example.com)");
    is_string("k2", first_key(st, "user@example.org"), "user@*");
    is_string("k3", first_key(st, "bob@example.org"), "*");
    is_string("k3", first_key(st, "example.org"), "a bare domain");
    /* an address longer than RFC 5321's 64 + 1 + 255 octets matches
     * nothing: a lookup of a From: of 40000 labels made a key per parent
     * domain, each as long as the address (3 GB, 16 s) */
    {
        GString *a = g_string_new("user@");

        while (a->len < 320 - strlen(".example.com"))
            g_string_append(a, "a.");
        g_string_truncate(a, 320 - strlen("a.example.com"));
        g_string_append(a, "a.example.com");
        is_string("k1", first_key(st, a->str), "an address of 320 octets is looked up");
        g_string_prepend_c(a, 'x');
        is_string("-", first_key(st, a->str), "one of 321 octets matches nothing, not even *");
        while (a->len < 80000)
            g_string_prepend(a, "a.");
        g_string_prepend(a, "user@");
        is_string("-", first_key(st, a->str), "... nor one of 40000 labels");
        g_string_free(a, TRUE);
    }
    smg_keytable_signing_free(st);
    st = NULL;
    g_free(p);

    /* errors */
    p = write_tmp("SigningTable.bad", "*@example.com nokey\n");
    is_int(SMG_CONFIG, smg_keytable_signing_load(p, kt, &st, &err), "unknown key name");
    ok(err != NULL && strstr(err->message, "SigningTable.bad:1: key nokey is not in the KeyTable") != NULL,
       "... named with file and line");
    g_clear_error(&err);
    g_free(p);
    p = write_tmp("SigningTable.bad2", "*@example.com\n");
    is_int(SMG_CONFIG, smg_keytable_signing_load(p, kt, &st, &err), "no key name");
    g_clear_error(&err);
    g_free(p);
    is_int(SMG_CONFIG, smg_keytable_signing_load("ldap://x", kt, &st, &err), "ldap refused");
    g_clear_error(&err);
    is_int(SMG_CONFIG, smg_keytable_signing_load("refile:/nonexistent", kt, &st, &err),
           "missing refile");
    g_clear_error(&err);

    smg_keytable_free(kt);
    g_free(ktp);
    g_free(rsa);
}

static void
test_wildcard(void)
{
    ok(smg_keytable_wildcard("*", ""), "* matches empty");
    ok(smg_keytable_wildcard("*@example.com", "a@example.com"), "*@domain");
    ok(!smg_keytable_wildcard("*@example.com", "a@sub.example.com"), "not a subdomain");
    ok(smg_keytable_wildcard("*.example.com", "a@sub.example.com"), "*.domain: subdomain");
    ok(!smg_keytable_wildcard("*.example.com", "a@example.com"), "*.domain: not the domain");
    ok(smg_keytable_wildcard("a*b*c", "aXXbYYbZc"), "backtracking");
    ok(!smg_keytable_wildcard("a*b*c", "aXXbYYbZ"), "no final c");
    ok(smg_keytable_wildcard("A@B.C", "a@b.c"), "ASCII case ignored");
    ok(!smg_keytable_wildcard("a.b", "aXb"), "dot is literal");
}

static void
test_replyto(void)
{
    char *p = write_tmp("replyto", "# sender domains without a mail server\n"
                                   "shop.test   Shop Support <support@helpdesk.test>\n"
                                   "*.apps.test noreply-owner@apps.test\n"
                                   "*            postmaster@gateway.test\n");
    struct smg_replyto *rt = NULL;
    GError *err = NULL;

    is_int(SMG_OK, smg_keytable_replyto_load(p, &rt, &err), "Reply-To table loads");
    is_string("Shop Support <support@helpdesk.test>",
              smg_keytable_replyto_lookup(rt, "SHOP.test"), "exact domain, the rest of the line");
    is_string("noreply-owner@apps.test", smg_keytable_replyto_lookup(rt, "a.b.apps.test"),
              "*.parent");
    is_string("postmaster@gateway.test", smg_keytable_replyto_lookup(rt, "apps.test"),
              "*.apps.test is not apps.test: *");
    {
        /* no domain is longer than 255 octets: a longer one (a From: of
         * megabytes) was looked up once per label */
        GString *d = g_string_new("apps.test");

        while (d->len < 255)
            g_string_prepend(d, "a.");
        g_string_erase(d, 0, d->len - 255);
        is_string("noreply-owner@apps.test", smg_keytable_replyto_lookup(rt, d->str),
                  "a domain of 255 octets is looked up");
        g_string_prepend(d, "b.");
        ok(smg_keytable_replyto_lookup(rt, d->str) == NULL,
           "one of 257 octets has no Reply-To, not even *");
        g_string_free(d, TRUE);
    }
    smg_keytable_replyto_free(rt);
    rt = NULL;
    g_free(p);
    p = write_tmp("replyto2", "shop.test a@b.test\n");
    is_int(SMG_OK, smg_keytable_replyto_load(p, &rt, NULL), "table without *");
    ok(smg_keytable_replyto_lookup(rt, "other.test") == NULL, "no entry: NULL");
    smg_keytable_replyto_free(rt);
    rt = NULL;
    g_free(p);
    p = write_tmp("replyto3", "shop.test\n");
    is_int(SMG_CONFIG, smg_keytable_replyto_load(p, &rt, &err), "no value");
    g_clear_error(&err);
    g_free(p);
    p = write_tmp("replyto4", "a*.test x@y.test\n");
    is_int(SMG_CONFIG, smg_keytable_replyto_load(p, &rt, &err), "bad wildcard");
    g_clear_error(&err);
    g_free(p);
    p = write_tmp("replyto5", "a.test x@y.test\nA.test z@y.test\n");
    is_int(SMG_CONFIG, smg_keytable_replyto_load(p, &rt, &err), "listed twice");
    g_clear_error(&err);
    g_free(p);
}

int
main(void)
{
    plan_lazy();
    tmp = test_tmpdir();
    test_keytable();
    test_signingtable();
    test_wildcard();
    test_replyto();
    test_tmpdir_free(tmp);
    return 0;
}

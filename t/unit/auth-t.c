/*
 * auth-t.c - unit tests for lib/auth: credentials file, checks, SASL decoding.
 *
 * Uses t/data/auth-credentials (hashes made once with mkpasswd) and hashes
 * generated here with crypt_gensalt_rn/crypt_rn, so both mkpasswd's output
 * and libxcrypt's own are covered.  The unknown-user path is checked through
 * the crypt counter, not through timing.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "lib/auth.h"
#include "lib/log.h"
#include "t/tap/basic.h"

/* make_hash - a crypt hash of password with a fresh salt of kind prefix */
static char *
make_hash(const char *prefix, const char *password)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *cd = g_malloc0(sizeof *cd);
    char *out;

    if (crypt_gensalt_rn(prefix, 0, NULL, 0, setting, sizeof setting) == NULL)
        bail("crypt_gensalt_rn %s failed", prefix);
    if (crypt_rn(password, setting, cd, (int) sizeof *cd) == NULL)
        bail("crypt_rn %s failed", prefix);
    out = g_strdup(cd->output);
    g_free(cd);
    return out;
}

/* b64 - base64 of len bytes at data (new string) */
static char *
b64(const char *data, size_t len)
{
    return g_base64_encode((const guchar *) data, len);
}

/* load_text - write text to dir/name (mode 0600) and load it */
static enum smg_status
load_text(const char *dir, const char *name, const char *text,
          struct smg_auth **a, GError **err)
{
    char *path = g_build_filename(dir, name, NULL);
    enum smg_status st;

    test_write_file(path, text);
    chmod(path, 0600);
    st = smg_auth_load(path, a, err);
    g_free(path);
    return st;
}

/* expect_config - a load of text must fail with SMG_CONFIG naming where */
static void
expect_config(const char *dir, const char *text, const char *where,
              const char *what)
{
    struct smg_auth *a = NULL;
    GError *err = NULL;
    enum smg_status st = load_text(dir, "bad", text, &a, &err);

    is_int(SMG_CONFIG, st, "%s: SMG_CONFIG", what);
    ok(a == NULL, "%s: no result", what);
    ok(err != NULL && strstr(err->message, where) != NULL,
       "%s: error names %s (%s)", what, where, err ? err->message : "none");
    if (err != NULL)
        ok(strstr(err->message, "$y$") == NULL
               && strstr(err->message, "$6$") == NULL,
           "%s: error does not show a hash", what);
    g_clear_error(&err);
    smg_auth_free(a);
}

/* test_data_file - the mkpasswd-made file */
static void
test_data_file(void)
{
    char *path = test_file_path("auth-credentials");
    struct smg_auth *a = NULL;
    GError *err = NULL;
    guint64 calls;

    if (path == NULL)
        bail("t/data/auth-credentials not found (srcdir?)");
    is_int(SMG_OK, smg_auth_load(path, &a, &err), "load mkpasswd file");
    if (a == NULL)
        bail("cannot load %s: %s", path, err ? err->message : "?");
    is_int(3, smg_auth_count(a), "three users (comments, blanks skipped)");
    is_int(SMG_OK, smg_auth_check(a, "alice", "yes-secret"),
           "yescrypt: right password");
    is_int(SMG_PERMFAIL, smg_auth_check(a, "alice", "yes-secreT"),
           "yescrypt: wrong password");
    is_int(SMG_PERMFAIL, smg_auth_check(a, "alice", ""),
           "yescrypt: empty password");
    is_int(SMG_OK, smg_auth_check(a, "bob", "sha-secret"),
           "SHA-512: right password");
    is_int(SMG_PERMFAIL, smg_auth_check(a, "bob", "yes-secret"),
           "SHA-512: another user's password");
    is_int(SMG_PERMFAIL, smg_auth_check(a, "Alice", "yes-secret"),
           "user names are case-sensitive");
    calls = smg_auth_crypt_calls();
    is_int(SMG_PERMFAIL, smg_auth_check(a, "carol", "locked-secret"),
           "locked user refused with the right password");
    is_int(1, (long) (smg_auth_crypt_calls() - calls),
           "locked user still costs one crypt");
    calls = smg_auth_crypt_calls();
    is_int(SMG_PERMFAIL, smg_auth_check(a, "mallory", "yes-secret"),
           "unknown user refused (even with a valid password of another)");
    is_int(1, (long) (smg_auth_crypt_calls() - calls),
           "unknown user costs one crypt, as a known one does");
    calls = smg_auth_crypt_calls();
    is_int(SMG_OK, smg_auth_check(a, "alice", "yes-secret"), "again");
    is_int(1, (long) (smg_auth_crypt_calls() - calls),
           "a known user costs one crypt");
    smg_auth_free(a);
    g_free(path);
}

/* test_generated - hashes made now by libxcrypt, and limits */
static void
test_generated(const char *dir)
{
    char *y = make_hash("$y$", "pässwörd with spaces");
    char *s = make_hash("$6$", "p@ss:word");
    char *text = g_strdup_printf("# generated\r\ncustomer42:%s\r\n"
                                 "cust.43@example.com:%s   \r\n",
                                 y, s);
    struct smg_auth *a = NULL;
    GError *err = NULL;
    char *lng = g_malloc(SMG_AUTH_MAX_PASSWORD + 2);
    guint64 calls;

    is_int(SMG_OK, load_text(dir, "gen", text, &a, &err),
           "load generated file with CRLF and trailing blanks");
    if (a == NULL)
        bail("cannot load: %s", err ? err->message : "?");
    is_int(SMG_OK, smg_auth_check(a, "customer42", "pässwörd with spaces"),
           "generated yescrypt, UTF-8 password");
    is_int(SMG_OK, smg_auth_check(a, "cust.43@example.com", "p@ss:word"),
           "generated SHA-512, ':' in password");
    is_int(SMG_PERMFAIL, smg_auth_check(a, "cust.43@example.com", "p@ss:wor"),
           "prefix of the password refused");
    memset(lng, 'x', SMG_AUTH_MAX_PASSWORD + 1);
    lng[SMG_AUTH_MAX_PASSWORD + 1] = '\0';
    calls = smg_auth_crypt_calls();
    is_int(SMG_PERMFAIL, smg_auth_check(a, "customer42", lng),
           "over-long password refused");
    is_int(0, (long) (smg_auth_crypt_calls() - calls),
           "over-long password refused before any crypt");
    smg_auth_free(a);
    g_free(lng);
    g_free(text);

    /* Every accepted kind, generated now, round-trips. */
    {
        static const char *kinds[] = {"$y$", "$gy$", "$7$", "$2b$", "$6$"};
        for (unsigned i = 0; i < G_N_ELEMENTS(kinds); i++) {
            char *h = make_hash(kinds[i], "kind-pw");
            char *t = g_strdup_printf("k:%s\n", h);
            enum smg_status st = load_text(dir, "kind", t, &a, &err);

            is_int(SMG_OK, st, "%s hash accepted", kinds[i]);
            if (st == SMG_OK) {
                is_int(SMG_OK, smg_auth_check(a, "k", "kind-pw"),
                       "%s: right password", kinds[i]);
                is_int(SMG_PERMFAIL, smg_auth_check(a, "k", "kind-pW"),
                       "%s: wrong password", kinds[i]);
            } else {
                diag("%s", err ? err->message : "?");
            }
            g_clear_error(&err);
            smg_auth_free(a);
            a = NULL;
            g_free(t);
            g_free(h);
        }
    }

    /* An empty file loads; every check fails, still at crypt cost. */
    is_int(SMG_OK, load_text(dir, "empty", "# nobody\n\n", &a, &err),
           "empty file loads");
    is_int(0, smg_auth_count(a), "no users");
    calls = smg_auth_crypt_calls();
    is_int(SMG_PERMFAIL, smg_auth_check(a, "anyone", "x"),
           "empty file: refused");
    is_int(1, (long) (smg_auth_crypt_calls() - calls),
           "empty file: one crypt with a generated dummy");
    smg_auth_free(a);
    g_free(y);
    g_free(s);
}

/* test_malformed - every way a line or the file can be wrong */
static void
test_malformed(const char *dir)
{
    char *y = make_hash("$y$", "pw");
    char *t;
    struct smg_auth *a = NULL;
    GError *err = NULL;
    char *path;

    t = g_strdup_printf("# c\nnocolon %s\n", y);
    expect_config(dir, t, "bad:2:", "line without ':'");
    g_free(t);
    t = g_strdup_printf("u1:%s\nu1:%s\n", y, y);
    expect_config(dir, t, "bad:2: user u1 listed twice", "duplicate user");
    g_free(t);
    t = g_strdup_printf("\n\nmd5:%s\n", "$1$abcdefgh$9C8bZCNjgSzmVQ8yqsh0f/");
    expect_config(dir, t, "bad:3:", "MD5 hash refused");
    g_free(t);
    expect_config(dir, "des:abJnggxhB/yWI\n", "bad:1:", "DES hash refused");
    t = g_strdup_printf("sha256:%s\n", "$5$4bSV4mf9PeRt56E0$bePu4R.HWtTXnk"
                        "4DwEquKQlpjAUzCKDdCPhGaZ3/HdC");
    expect_config(dir, t, "bad:1:", "SHA-256 (legacy) hash refused");
    g_free(t);
    expect_config(dir, "plain:secret\n", "bad:1:", "plain text refused");
    expect_config(dir, "empty:\n", "bad:1:", "empty hash refused");
    t = g_strdup_printf(":%s\n", y);
    expect_config(dir, t, "bad:1: bad user name", "empty user refused");
    g_free(t);
    t = g_strdup_printf("two words:%s\n", y);
    expect_config(dir, t, "bad:1: bad user name", "blank in user refused");
    g_free(t);
    t = g_strdup_printf("ok:%s junk\n", y);
    expect_config(dir, t, "bad:1:", "junk after the hash refused");
    g_free(t);
    t = g_strdup_printf("ok:$y$j9T$%s\n", "broken");
    expect_config(dir, t, "bad:1:", "truncated yescrypt refused");
    g_free(t);

    path = g_build_filename(dir, "does-not-exist", NULL);
    is_int(SMG_CONFIG, smg_auth_load(path, &a, &err), "missing file");
    ok(err != NULL && strstr(err->message, "does-not-exist") != NULL,
       "missing file: error names it");
    g_clear_error(&err);
    g_free(path);
    is_int(SMG_CONFIG, smg_auth_load(dir, &a, &err), "a directory");
    g_clear_error(&err);
    ok(a == NULL, "no result on failure");
    /* a FIFO: refused as not a regular file, not waited on for ever (the
     * open blocked until a writer came; the alarm ends the old hang) */
    path = g_build_filename(dir, "fifo", NULL);
    if (mkfifo(path, 0600) < 0)
        bail("mkfifo %s: %s", path, g_strerror(errno));
    alarm(20);
    is_int(SMG_CONFIG, smg_auth_load(path, &a, &err), "a FIFO: SMG_CONFIG at once");
    alarm(0);
    ok(err != NULL && strstr(err->message, "not a regular file") != NULL,
       "a FIFO: not a regular file (%s)", err != NULL ? err->message : "no error");
    g_clear_error(&err);
    unlink(path);
    g_free(path);
    g_free(y);
}

/* test_mode_warning - a world-readable file loads, with a warning logged */
static void
test_mode_warning(const char *dir)
{
    char *y = make_hash("$y$", "pw");
    char *t = g_strdup_printf("u:%s\n", y);
    char *path = g_build_filename(dir, "open", NULL);
    char *logpath = g_build_filename(dir, "log", NULL);
    char *logged = NULL;
    struct smg_auth *a = NULL;
    GError *err = NULL;
    int saved;
    int fd;

    test_write_file(path, t);
    chmod(path, 0644);
    fflush(stderr);
    saved = dup(2);
    fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (saved < 0 || fd < 0 || dup2(fd, 2) < 0)
        bail("cannot redirect stderr");
    close(fd);
    is_int(SMG_OK, smg_auth_load(path, &a, &err),
           "world-readable file still loads");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    g_file_get_contents(logpath, &logged, NULL, NULL);
    ok(logged != NULL && strstr(logged, "warning") != NULL
           && strstr(logged, "accessible by others") != NULL,
       "and a warning is logged");
    ok(logged != NULL && strstr(logged, "$y$") == NULL,
       "the warning does not show the hash");
    smg_auth_free(a);
    g_free(logged);
    g_free(logpath);
    g_free(path);
    g_free(t);
    g_free(y);
}

/* plain - run smg_auth_plain_decode on raw bytes */
static enum smg_status
plain(const char *raw, size_t len, char **z, char **u, char **p,
      GError **err)
{
    char *enc = b64(raw, len);
    enum smg_status st = smg_auth_plain_decode(enc, z, u, p, err);

    g_free(enc);
    return st;
}

/* expect_plain_fail - a PLAIN response that must be refused with 5.5.2 */
static void
expect_plain_fail(const char *raw, size_t len, const char *what)
{
    char *z = (char *) "x";
    char *u = (char *) "x";
    char *p = (char *) "x";
    GError *err = NULL;

    is_int(SMG_PERMFAIL, plain(raw, len, &z, &u, &p, &err), "%s: refused",
           what);
    ok(err != NULL && g_str_has_prefix(err->message, "5.5.2 ")
           && smg_error_status(err) == SMG_PERMFAIL,
       "%s: 5.5.2 PERMFAIL (%s)", what, err ? err->message : "no error");
    ok(z == NULL && u == NULL && p == NULL, "%s: outputs NULL", what);
    g_clear_error(&err);
}

/* test_plain - RFC 4616 decoding */
static void
test_plain(void)
{
    char *z;
    char *u;
    char *p;
    GError *err = NULL;
    static const char *bad_b64[] = {
        "AGFsaWNlAHNlY3JldA",    /* padding missing */
        "AGFsaWNlAHNlY3JldA=",   /* padding short */
        "AGFsaWNl AHNlY3JldA==", /* blank inside */
        "AGFsaWNlAHNlY3JldA==\r\n",
        "AGFsaW*lAHNlY3JldA==",  /* not in the alphabet */
        "AGF=aWNlAHNlY3JldA==",  /* '=' inside */
        "AGFsaWNlAHNlY3JldB==",  /* non-zero pad bits */
        "AGFsaWNlAHNlY3Jld===",
        "====",
        "=",
        "*",
        "AGFsaWNlAHNlY3JldA==AAAA", /* data after the padding */
        "AGFsaWNlAHNlY3JldA-_",  /* URL alphabet */
    };

    is_int(SMG_OK, plain("\0alice\0secret", 13, &z, &u, &p, &err),
           "PLAIN without authzid");
    is_string("alice", u, "user");
    is_string("secret", p, "password");
    is_string("alice", z, "authzid defaults to the user");
    smg_auth_secret_free(z);
    smg_auth_secret_free(u);
    smg_auth_secret_free(p);

    is_int(SMG_OK,
           smg_auth_plain_decode("AGFsaWNlAHNlY3JldA==", &z, &u, &p, &err),
           "PLAIN from a literal base64 string");
    is_string("alice", u, "literal: user");
    smg_auth_secret_free(z);
    smg_auth_secret_free(u);
    smg_auth_secret_free(p);

    is_int(SMG_OK, plain("bob\0bob\0pa ss", 13, &z, &u, &p, &err),
           "PLAIN with authzid equal to the user");
    is_string("bob", z, "authzid");
    is_string("pa ss", p, "password with a blank");
    smg_auth_secret_free(z);
    smg_auth_secret_free(u);
    smg_auth_secret_free(p);

    is_int(SMG_OK, plain("\0j\xc3\xbcrgen\0p\xe4ss", 13, &z, &u, &p, &err),
           "UTF-8 user, Latin-1 password bytes");
    is_string("p\xe4ss", p, "password bytes kept as sent");
    smg_auth_secret_free(z);
    smg_auth_secret_free(u);
    smg_auth_secret_free(p);

    expect_plain_fail("admin\0alice\0secret", 18, "other authzid");
    expect_plain_fail("alicex\0alice\0secret", 19, "authzid longer");
    expect_plain_fail("\0\0secret", 8, "empty user");
    expect_plain_fail("\0alice\0", 7, "empty password");
    expect_plain_fail("\0alice\0sec\0ret", 14, "NUL inside password");
    expect_plain_fail("\0alice\0secret\0", 14, "trailing NUL");
    expect_plain_fail("alicesecret", 11, "no NUL at all");
    expect_plain_fail("\0alicesecret", 12, "one NUL only");
    expect_plain_fail("", 0, "empty response");
    expect_plain_fail("\0al\xffice\0secret", 14, "user not UTF-8");

    for (unsigned i = 0; i < G_N_ELEMENTS(bad_b64); i++) {
        z = u = p = (char *) "x";
        is_int(SMG_PERMFAIL, smg_auth_plain_decode(bad_b64[i], &z, &u, &p,
                                                   &err),
               "bad base64 %u refused", i);
        ok(err != NULL && g_str_has_prefix(err->message, "5.5.2 ")
               && z == NULL && u == NULL && p == NULL,
           "bad base64 %u: 5.5.2, outputs NULL", i);
        g_clear_error(&err);
    }
}

/* test_login - AUTH LOGIN steps and the base64 validator */
static void
test_login(void)
{
    char *out;
    GError *err = NULL;

    is_int(SMG_OK, smg_auth_b64_decode_text("YWxpY2U=", &out, &err),
           "LOGIN user");
    is_string("alice", out, "LOGIN user decoded");
    smg_auth_secret_free(out);
    is_int(SMG_OK, smg_auth_b64_decode_text("c2VjcmV0IQ==", &out, &err),
           "LOGIN password");
    is_string("secret!", out, "LOGIN password decoded");
    smg_auth_secret_free(out);
    is_int(SMG_OK, smg_auth_b64_decode_text("", &out, &err),
           "empty step decodes");
    is_string("", out, "to the empty string");
    smg_auth_secret_free(out);
    out = (char *) "x";
    is_int(SMG_PERMFAIL, smg_auth_b64_decode_text("YQBi", &out, &err),
           "NUL byte refused");
    ok(err != NULL && g_str_has_prefix(err->message, "5.5.2 ") && out == NULL,
       "NUL byte: 5.5.2 (%s)", err ? err->message : "none");
    g_clear_error(&err);
    is_int(SMG_PERMFAIL, smg_auth_b64_decode_text("YWxpY2U", &out, &err),
           "bad base64 refused");
    ok(err != NULL && g_str_has_prefix(err->message, "5.5.2 "),
       "bad base64: 5.5.2");
    g_clear_error(&err);

    ok(smg_auth_b64_valid(""), "valid: empty");
    ok(smg_auth_b64_valid("QQ=="), "valid: QQ==");
    ok(smg_auth_b64_valid("QUI="), "valid: QUI=");
    ok(smg_auth_b64_valid("QUJD"), "valid: QUJD");
    ok(smg_auth_b64_valid("+/+/"), "valid: +/+/");
    ok(!smg_auth_b64_valid("QR=="), "invalid: QR== (pad bits)");
    ok(!smg_auth_b64_valid("QUJ="), "invalid: QUJ= (pad bits)");
    ok(!smg_auth_b64_valid("Q==="), "invalid: Q===");
    ok(!smg_auth_b64_valid("QQ=A"), "invalid: QQ=A");
}

/* test_end_to_end - decode PLAIN, check against the file, wipe */
static void
test_end_to_end(void)
{
    char *path = test_file_path("auth-credentials");
    struct smg_auth *a = NULL;
    GError *err = NULL;
    char *z;
    char *u;
    char *p;
    char *line = b64("\0bob\0sha-secret", 15);

    if (path == NULL || smg_auth_load(path, &a, &err) != SMG_OK)
        bail("cannot load t/data/auth-credentials");
    is_int(SMG_OK, smg_auth_plain_decode(line, &z, &u, &p, &err),
           "end to end: decode");
    smg_auth_wipe(line, strlen(line));
    ok(line[0] == '\0' && line[1] == '\0', "smg_auth_wipe zeroes the line");
    is_int(SMG_OK, smg_auth_check(a, u, p), "end to end: check");
    smg_auth_secret_free(z);
    smg_auth_secret_free(u);
    smg_auth_secret_free(p);
    smg_auth_secret_free(NULL);
    g_free(line);
    smg_auth_free(a);
    smg_auth_free(NULL);
    g_free(path);
}

int
main(void)
{
    char *dir = test_tmpdir();

    plan_lazy();
    smg_log_init("auth-t", SMG_LOG_STDERR, FALSE);
    test_data_file();
    test_generated(dir);
    test_malformed(dir);
    test_mode_warning(dir);
    test_plain();
    test_login();
    test_end_to_end();
    test_tmpdir_free(dir);
    return 0;
}

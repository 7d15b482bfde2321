/*
 * policy-t.c - unit tests for lib/policy: the table's syntax and errors,
 * and the precedence of lookups (exact, .parent, * on each side; the
 * recipient side first).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "lib/policy.h"
#include "t/tap/basic.h"

/* rule - "level/action" for a lookup (static buffer) */
static const char *
rule(const struct smg_policy *p, const char *s, const char *r)
{
    static char buf[64];
    struct smg_policy_rule x = smg_policy_lookup(p, s, r);

    g_snprintf(buf, sizeof buf, "%s/%s", smg_policy_level_name(x.level),
               smg_policy_action_name(x.action));
    return buf;
}

/* load_err - the error message of loading text, or "" */
static char *
load_err(const char *text)
{
    struct smg_policy *p = NULL;
    GError *err = NULL;
    char *msg;

    if (smg_policy_load_data(text, "pol", &p, &err) == SMG_OK) {
        smg_policy_free(p);
        return g_strdup("");
    }
    msg = g_strdup(err->message);
    g_error_free(err);
    return msg;
}

/* big_table - n distinct rules, the last one for last.test */
static char *
big_table(unsigned n)
{
    GString *t = g_string_new(NULL);

    for (unsigned i = 1; i < n; i++)
        g_string_append_printf(t, "*  d%u.example.test  verify  reject\n", i);
    g_string_append(t, "*  last.test  encrypt  hold\n");
    return g_string_free(t, FALSE);
}

/*
 * load_linear - whether a table of 32000 rules loads in time linear in
 * its size: in a child, the CPU time of one load against that of eight
 * loads of 4000 rules (as rules-t's linear_child; CPU time, not a
 * deadline).  The duplicate check compared each rule with every earlier
 * one: eight times the rules took 64 times as long (a table of 50000
 * lines some 15 s at every start of smg-send), eight times as long as
 * the eight small loads.  Held at under 3 times, with a 20 ms allowance
 * (not judged in a sanitizer build, TEST_TIME_JUDGED: ASan's strstr under
 * g_strsplit takes strlen of the rest of the text at every line, quadratic
 * whatever the table code does); an alarm of 300 s ends a child that never
 * finishes.
 */
static gboolean
load_linear(void)
{
    pid_t pid = fork();

    if (pid == 0) {
        /* smaller where the time is not judged: 32000 rules would take
         * ASan's strstr some 12 s */
        unsigned n = TEST_TIME_JUDGED ? 4000 : 500;
        char *small = big_table(n), *big = big_table(8 * n);
        struct smg_policy *p = NULL;
        GError *err = NULL;
        double t0, t1, t2;
        gboolean good;

        alarm(300);
        t0 = test_cpu_ms();
        for (int i = 0; i < 8; i++) {
            if (smg_policy_load_data(small, "small", &p, &err) != SMG_OK)
                _exit(3);
            smg_policy_free(p);
        }
        t1 = test_cpu_ms();
        if (smg_policy_load_data(big, "big", &p, &err) != SMG_OK)
            _exit(3);
        t2 = test_cpu_ms();
        good = strcmp(rule(p, "a.test", "last.test"), "encrypt/hold") == 0
               && strcmp(rule(p, "a.test", "d1.example.test"), "verify/reject") == 0;
        smg_policy_free(p);
        if (t2 - t1 >= 3 * (t1 - t0) + 20) {
            fprintf(stderr, "# big %.0f ms, eight small %.0f ms%s\n", t2 - t1, t1 - t0,
                    TEST_TIME_JUDGED ? "" : " (sanitizer build: not judged)");
            if (TEST_TIME_JUDGED)
                _exit(2);
        }
        _exit(good ? 0 : 1);
    }
    return test_child_ok(pid);
}

int
main(void)
{
    struct smg_policy *p = NULL;
    GError *err = NULL;
    char *e;
    static const char table[] =
        "# comment\n"
        "\n"
        "*            *               may\n"
        "*            bank.test       verify   reject\n"
        "*            .bank.test      encrypt  hold   # subdomains\n"
        "*            .eu.bank.test   dane\n"
        "cust.test    bank.test       dane     hold\n"
        ".cust.test   bank.test       encrypt\n"
        "cust.test    *               encrypt  defer\n"
        "*            plain.test      none\n";

    plan_lazy();
    ok(smg_policy_load_data(table, "pol", &p, &err) == SMG_OK, "table loads");
    is_string("may/defer", rule(p, "other.test", "elsewhere.test"), "* * rule");
    is_string("verify/reject", rule(p, "other.test", "bank.test"), "exact recipient");
    is_string("verify/reject", rule(p, "other.test", "BANK.Test"), "case-insensitive");
    is_string("encrypt/hold", rule(p, "other.test", "mx.bank.test"), ".parent matches a subdomain");
    is_string("dane/defer", rule(p, "other.test", "a.eu.bank.test"), "longest .parent wins");
    is_string("encrypt/hold", rule(p, "other.test", "eu.bank.test"), ".eu.bank.test does not match itself");
    is_string("dane/hold", rule(p, "cust.test", "bank.test"), "sender-specific rule wins on the same recipient");
    is_string("encrypt/defer", rule(p, "sub.cust.test", "bank.test"), "sender .parent");
    is_string("verify/reject", rule(p, "xcust.test", "bank.test"), "no partial label match");
    is_string("verify/reject", rule(p, "", "bank.test"), "null sender matches * only");
    is_string("encrypt/defer", rule(p, "cust.test", "elsewhere.test"),
              "sender rule applies where no recipient rule does");
    is_string("encrypt/hold", rule(p, "cust.test", "mx.bank.test"),
              "recipient specificity beats sender specificity");
    is_string("none/defer", rule(p, "cust.test", "plain.test"), "none level");
    /* the root label written out names the same domain (DNS takes it so) */
    is_string("verify/reject", rule(p, "other.test", "bank.test."), "trailing dot: exact");
    is_string("verify/reject", rule(p, "other.test", "Bank.Test."), "trailing dot, any case");
    is_string("encrypt/hold", rule(p, "other.test", "mx.bank.test."), "trailing dot: .parent");
    is_string("dane/hold", rule(p, "cust.test.", "bank.test."), "trailing dot: sender too");
    is_string("encrypt/defer", rule(p, "sub.cust.test.", "bank.test"),
              "trailing dot: sender .parent");
    is_string("may/defer", rule(p, "other.test", "bank.test.."), "two dots: no such name");
    is_string("may/defer", rule(p, "other.test", "."), "the root alone: *");
    is_string("encrypt/hold", rule(p, "other.test", "eu.bank.test."),
              ".eu.bank.test does not match itself with a dot either");
    smg_policy_free(p);

    p = smg_policy_empty();
    is_string("may/defer", rule(p, "a.test", "b.test"), "empty table: may/defer");
    smg_policy_free(p);
    is_string("may/defer", rule(NULL, "a.test", "b.test"), "no table: may/defer");

    e = load_err("* a.test sometimes\n");
    is_string("4.3.5 pol:1: unknown level (want none, may, encrypt, verify or dane)", e,
              "unknown level");
    g_free(e);
    e = load_err("\n* a.test encrypt never\n");
    ok(strstr(e, "pol:2: unknown action") != NULL, "unknown action: %s", e);
    g_free(e);
    e = load_err("* a.test\n");
    ok(strstr(e, "pol:1: too few words") != NULL, "too few words: %s", e);
    g_free(e);
    e = load_err("* a.test may hold extra\n");
    ok(strstr(e, "pol:1: too many words") != NULL, "too many words: %s", e);
    g_free(e);
    e = load_err("* a..test may\n");
    ok(strstr(e, "bad domain") != NULL, "bad domain: %s", e);
    g_free(e);
    e = load_err("* a/b may\n");
    ok(strstr(e, "bad domain") != NULL, "slash in a domain: %s", e);
    g_free(e);
    {
        /* U-labels, as the KeyTable takes them: smg-send looks the
         * recipient's domain up in A-labels */
        GError *uerr = NULL;
        const char *tab = "* b\xc3\xbc" "cher.test verify reject\n"
                          "stra\xc3\x9f" "e.test .\xc3\xa9t\xc3\xa9.test encrypt hold\n";

        ok(smg_policy_load_data(tab, "pol", &p, &uerr) == SMG_OK, "U-labels load: %s",
           uerr != NULL ? uerr->message : "ok");
        g_clear_error(&uerr);
        is_string("verify/reject", rule(p, "a.test", "xn--bcher-kva.test"),
                  "a U-label rule matches the A-label recipient domain");
        is_string("encrypt/hold", rule(p, "xn--strae-oqa.test", "mx.xn--t-9fab.test"),
                  "U-label sender and parent domains match in A-labels");
        is_string("may/defer", rule(p, "a.test", "bucher.test"), "and nothing else");
        smg_policy_free(p);
        e = load_err("* \xe2\x98\x83.test may\n");
        ok(strstr(e, "pol:1: bad domain") != NULL, "a name IDNA refuses: %s", e);
        g_free(e);
    }
    e = load_err("* a.test may\n* A.TEST encrypt\n");
    ok(strstr(e, "pol:2: * a.test given twice (first on line 1)") != NULL, "duplicate: %s", e);
    g_free(e);
    e = load_err("* a.test may\n* b.test may\n.x.test a.test encrypt\n* .a.test verify\n"
                 "* b.test encrypt\n");
    ok(strstr(e, "pol:5: * b.test given twice (first on line 2)") != NULL,
       "duplicate among others, its first line named: %s", e);
    g_free(e);
    ok(load_linear(), "32000 rules load in time linear in their number (4000 under ASan)");
    {
        /* a NUL byte ended the text: the rules after it were lost, and
         * bank.test went from verify/reject to may/defer unsaid */
        char *dir = g_dir_make_tmp("smg-policy-XXXXXX", NULL);
        char *path = g_build_filename(dir, "tls_policy", NULL);
        static const char nul[] = "*  a.test  encrypt\n*  b.test  may # \0\n"
                                  "*  bank.test  verify  reject\n";

        if (dir == NULL || !g_file_set_contents(path, nul, sizeof nul - 1, NULL))
            bail("cannot write the policy file");
        p = NULL;
        is_int(SMG_CONFIG, smg_policy_load(path, &p, &err), "a NUL byte is a config error");
        ok(p == NULL && err != NULL && strstr(err->message, "tls_policy:2: NUL byte") != NULL,
           "naming the file and line: %s", err != NULL ? err->message : "none");
        smg_policy_free(p);
        g_clear_error(&err);
        g_unlink(path);
        g_rmdir(dir);
        g_free(path);
        g_free(dir);
    }
    ok(smg_policy_load("/nonexistent/policy", &p, &err) == SMG_CONFIG
           && strstr(err->message, "cannot read TLS policy") != NULL,
       "missing file: config error");
    g_clear_error(&err);
    {
        enum smg_policy_level l;
        enum smg_policy_action a;

        ok(smg_policy_parse_level("DANE", &l) && l == SMG_POLICY_DANE, "parse level");
        ok(!smg_policy_parse_level("secure", &l), "Postfix's secure level is not ours");
        ok(smg_policy_parse_action("Hold", &a) && a == SMG_POLICY_HOLD, "parse action");
    }
    return 0;
}

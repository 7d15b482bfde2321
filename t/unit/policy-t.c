/*
 * policy-t.c - unit tests for lib/policy: the table's syntax and errors,
 * and the precedence of lookups (exact, .parent, * on each side; the
 * recipient side first).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>

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
    e = load_err("* a.test may\n* A.TEST encrypt\n");
    ok(strstr(e, "pol:2: * a.test given twice (first on line 1)") != NULL, "duplicate: %s", e);
    g_free(e);
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

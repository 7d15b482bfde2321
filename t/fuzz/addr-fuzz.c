/*
 * addr-fuzz.c - libFuzzer target for lib/addr: the mailbox parser and its
 * helpers.
 *
 * The input is the content of a path.  It is parsed under every
 * combination of flags; a success must keep the input as written, split
 * it into local part and domain that add up to it, respect the RFC 5321
 * limits, and re-parse; a failure must leave the output zeroed and carry
 * the DSN the flags ask for.  A broken promise aborts, which libFuzzer
 * reports as a crash.  Built by `make fuzz` with clang
 * -fsanitize=fuzzer,address,undefined from the lib sources.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "t/fuzz/fuzz.h"

/* check_ok - the promises of a successful parse */
static void
check_ok(const char *s, size_t size, unsigned flags, const struct smg_addr *a)
{
    struct smg_addr again = SMG_ADDR_ZERO;
    char *lower, *ip;

    CHECK(a->addr != NULL && a->local != NULL);
    CHECK(strlen(a->addr) == size && memcmp(a->addr, s, size) == 0);
    CHECK(size <= SMG_ADDR_MAX_ADDR);
    CHECK(strlen(a->local) <= SMG_ADDR_MAX_LOCAL);
    if (!(flags & SMG_ADDR_UTF8))
        CHECK(!a->utf8);
    if (a->domain == NULL) {
        CHECK(flags & SMG_ADDR_POSTMASTER);
        CHECK(g_ascii_strcasecmp(a->addr, "postmaster") == 0);
    } else {
        size_t ll = strlen(a->local), dl = strlen(a->domain);

        CHECK(ll + 1 + dl == size && a->addr[ll] == '@');
        CHECK(dl <= SMG_ADDR_MAX_DOMAIN);
        CHECK(strcmp(smg_addr_domain(a->addr), a->domain) == 0);
        CHECK(smg_addr_is_domain_literal(a->domain) == a->literal);
        CHECK(smg_addr_check_domain(a->domain, dl, flags));
        lower = smg_addr_domain_lower(a->addr);
        CHECK(lower != NULL);
        g_free(lower);
        if (a->literal) {
            ip = smg_addr_literal_ip(a->domain, NULL);
            CHECK(ip != NULL);
            g_free(ip);
        }
    }
    CHECK(smg_addr_parse(a->addr, size, flags, &again, NULL) == SMG_OK);
    smg_addr_clear(&again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *) data;
    char *copy;

    for (unsigned flags = 0; flags < 8; flags++) {
        struct smg_addr a = SMG_ADDR_ZERO;
        GError *err = NULL;

        if (smg_addr_parse(s, size, flags, &a, &err) == SMG_OK) {
            CHECK(err == NULL);
            check_ok(s, size, flags, &a);
        } else {
            CHECK(err != NULL && a.addr == NULL && a.domain == NULL);
            CHECK(g_str_has_prefix(err->message, (flags & SMG_ADDR_SENDER)
                                                     ? "5.1.7 "
                                                     : "5.1.3 "));
        }
        smg_addr_clear(&a);
        g_clear_error(&err);
        (void) smg_addr_check_domain(s, size, flags);
    }

    /* the string helpers on any NUL-terminated text */
    copy = g_strndup(s, size);
    g_free(smg_addr_domain_lower(copy));
    g_free(smg_addr_literal_ip(copy, NULL));
    (void) smg_addr_is_domain_literal(copy);
    (void) smg_addr_domain(copy);
    g_free(copy);
    return 0;
}

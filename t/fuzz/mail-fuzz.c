/*
 * mail-fuzz.c - libFuzzer target for what smg-check reads of a customer's
 * message: lib/mimetext (GMime's parse, decoding, charsets, the HTML
 * stripper, URI extraction), the Bayes tokenizer and the shipped rules.
 *
 * Every message a customer sends passes through these, so one that
 * crashed them would stop smg-check at every retry of the same file.  The
 * input is a whole message (without the SMG-* envelope).  Beyond "no
 * crash, no leak, no undefined behaviour" it checks mimetext's promises:
 * the text is valid UTF-8 and within max_text (plus its last line's
 * newline), every URI has a host or none, and a header found by name
 * is one of the message's headers.  The rules (data/rules/smg.rules, read
 * once; no DNS) run on the result.  A broken promise aborts, which
 * libFuzzer reports as a crash.  Built by `make fuzz` with clang
 * -fsanitize=fuzzer,address,undefined from the lib sources.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/bayes.h"
#include "lib/mimetext.h"
#include "lib/rules.h"
#include "t/fuzz/fuzz.h"

/* a small cap, so that the cap's edge is reached often */
#define MAX_TEXT 4096

/* rules - the shipped rule set, parsed once */
static struct smg_rules *
rules(void)
{
    static struct smg_rules *r;

    if (r == NULL) {
        char *text = NULL;
        GError *err = NULL;

        r = smg_rules_new();
        if (!g_file_get_contents(SMG_FUZZ_RULES, &text, NULL, &err)
            || smg_rules_parse(r, text, SMG_FUZZ_RULES, &err) != SMG_OK) {
            g_printerr("mail-fuzz: %s\n", err->message);
            abort();
        }
        g_free(text);
    }
    return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *) data;
    struct smg_mimetext *mt = smg_mimetext_parse(s, size, MAX_TEXT);
    struct smg_bayes_tokens *tok;
    struct smg_rules_input in = {0};
    GArray *hits;
    GString *notes;

    CHECK(mt != NULL && mt->raw == s && mt->raw_len == size);
    CHECK(g_utf8_validate(mt->text->str, (gssize) mt->text->len, NULL));
    CHECK(mt->text->len <= MAX_TEXT + 1);
    CHECK(mt->subject != NULL);
    for (guint i = 0; i < mt->uris->len; i++) {
        char *host = smg_mimetext_uri_host(mt->uris->pdata[i]);

        if (host != NULL) {
            char *dom = smg_mimetext_domain(host);
            CHECK(*host != '\0');
            g_free(dom);
        }
        g_free(host);
    }
    for (guint i = 0; i < mt->headers->len; i++) {
        const struct smg_mimetext_header *h =
            &g_array_index(mt->headers, struct smg_mimetext_header, i);
        const char *v = smg_mimetext_header(mt, h->name);

        CHECK(h->name != NULL && h->value != NULL && v != NULL);
    }

    tok = smg_bayes_tokens_new(TRUE);
    smg_bayes_tokenize(mt, tok);
    smg_bayes_tokens_free(tok);

    in.mt = mt;
    in.sender = "customer@example.com";
    in.now = 1700000000;
    hits = smg_rules_hits_new();
    notes = g_string_new(NULL);
    (void) smg_rules_eval(rules(), &in, hits, notes);
    (void) smg_rules_received_time(mt);
    smg_rules_hits_free(hits);
    g_string_free(notes, TRUE);
    smg_mimetext_free(mt);
    return 0;
}

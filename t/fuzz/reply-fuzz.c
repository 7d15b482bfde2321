/*
 * reply-fuzz.c - libFuzzer target for lib/smtpc's pure parts: the reader
 * of a remote server's reply lines and the writer of a message's wire form.
 *
 * Every recipient's server on the Internet writes what smg-send reads, so
 * the reply parser sees anything.  The input is split at LF into reply
 * lines (a CR before the LF is dropped, as netio does).  Beyond "no crash,
 * no leak, no undefined behaviour" it checks the promises: a parsed reply
 * has a code from 200 to 599 (smg-send's 1xx replies are malformed for the
 * commands it sends), its enhanced code is class.subject.detail with the
 * class the code's first digit, and its text is one line (other control
 * characters are kept: the log, the envelope and the NDR each make the
 * text printable on the way out).  The whole
 * input is also a message for smg_smtpc_wire: it says whether the
 * input has 8-bit bytes, its output ends in CRLF.CRLF, has LF only after
 * CR, no line but the last is a lone ".", and undoing the dot-stuffing
 * gives the input's lines back.  A broken promise aborts, which libFuzzer reports as a crash.
 * Built by `make fuzz` with clang -fsanitize=fuzzer,address,undefined from
 * the lib sources.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/smtpc.h"
#include "t/fuzz/fuzz.h"

/* check_reply - the parsed reply keeps the parser's promises */
static void
check_reply(const struct smg_smtpc_reply *r)
{
    int cls = 0, subj = 0, det = 0, n = 0;

    CHECK(r->code >= 200 && r->code <= 599);
    CHECK(r->text != NULL && strchr(r->text, '\n') == NULL);
    CHECK(memchr(r->dsn, '\0', sizeof r->dsn) != NULL);
    CHECK(sscanf(r->dsn, "%d.%d.%d%n", &cls, &subj, &det, &n) == 3);
    CHECK(r->dsn[n] == '\0' && cls == r->code / 100);
}

/* check_wire - smg_smtpc_wire's output for s[0..len) */
static void
check_wire(const char *s, size_t len)
{
    GString *out = g_string_new(NULL);
    GString *back = g_string_new(NULL);
    gboolean eight = smg_smtpc_wire(s, len, out);
    const char *p = out->str, *end = out->str + out->len;
    gboolean any8 = FALSE;

    for (size_t i = 0; i < len; i++)
        any8 = any8 || (unsigned char) s[i] >= 0x80;
    CHECK(eight == any8);
    CHECK(out->len >= 3 && memcmp(end - 3, ".\r\n", 3) == 0);
    CHECK(out->len == 3 || (out->len >= 5 && memcmp(end - 5, "\r\n", 2) == 0));
    for (const char *q = p; q < end; q++)
        if (*q == '\n')
            CHECK(q > p && q[-1] == '\r');
    /* the lines before the final ".", unstuffed, are the input's lines */
    end -= 3;
    while (p < end) {
        const char *eol = memmem(p, (size_t) (end - p), "\r\n", 2);
        CHECK(eol != NULL);
        CHECK(!(eol - p == 1 && *p == '.'));
        if (*p == '.')
            p++;
        g_string_append_len(back, p, eol - p);
        g_string_append_c(back, '\n');
        p = eol + 2;
    }
    {
        /* the input with CRLF and a bare CR as LF and a last line
         * ended */
        GString *want = g_string_new(NULL);
        for (size_t i = 0; i < len; i++) {
            if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
                continue;
            g_string_append_c(want, s[i] == '\r' ? '\n' : s[i]);
        }
        if (want->len > 0 && want->str[want->len - 1] != '\n')
            g_string_append_c(want, '\n');
        CHECK(want->len == back->len && memcmp(want->str, back->str, want->len) == 0);
        g_string_free(want, TRUE);
    }
    g_string_free(back, TRUE);
    g_string_free(out, TRUE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = g_strndup((const char *) data, size);
    char **lines = g_strsplit(copy, "\n", -1);
    guint n = g_strv_length(lines);
    struct smg_smtpc_reply r = {0};

    /* a trailing LF ends the last line; it does not start another */
    if (n > 0 && *lines[n - 1] == '\0') {
        g_free(lines[n - 1]);
        lines[--n] = NULL;
    }
    for (guint i = 0; i < n; i++) {
        gsize l = strlen(lines[i]);
        if (l > 0 && lines[i][l - 1] == '\r')
            lines[i][l - 1] = '\0';
    }
    if (n > 0 && smg_smtpc_parse_reply((const char *const *) lines, n, &r))
        check_reply(&r);
    smg_smtpc_reply_clear(&r);
    g_strfreev(lines);
    g_free(copy);

    check_wire((const char *) data, size);
    return 0;
}

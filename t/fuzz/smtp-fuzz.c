/*
 * smtp-fuzz.c - libFuzzer target for lib/smtp: command parser, xtext and
 * reply formatting.
 *
 * The input is one command line (without CRLF).  Beyond "no crash, no
 * leak, no undefined behaviour" it checks the parser's promises: success
 * and failure agree with reply_code and err; a parsed path re-parses with
 * lib/addr; the canonical parameters re-parse to the same canonical form;
 * every error reply is one line of at most 512 octets ending in CRLF; and
 * xtext decoding inverts encoding.  A broken promise aborts, which
 * libFuzzer reports as a crash.  Built by `make fuzz` with clang
 * -fsanitize=fuzzer,address,undefined from the lib sources.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/smtp.h"
#include "t/fuzz/fuzz.h"

/* check_reply - out holds exactly one reply line, CRLF-terminated */
static void
check_reply(const GString *out)
{
    CHECK(out->len >= 5 && out->len <= SMG_SMTP_MAX_REPLY_LINE);
    CHECK(out->str[out->len - 2] == '\r' && out->str[out->len - 1] == '\n');
    CHECK(memchr(out->str, '\n', out->len - 1) == NULL);
    CHECK(memchr(out->str, '\r', out->len - 2) == NULL);
}

/* check_params - the canonical parameters of c re-parse to themselves */
static void
check_params(const struct smg_smtp_cmd *c)
{
    struct smg_smtp_cmd again = SMG_SMTP_CMD_ZERO;
    GString *p1 = g_string_new(NULL), *p2 = g_string_new(NULL);
    GError *err = NULL;

    smg_smtp_format_params(c, p1);
    CHECK(smg_smtp_parse_params(c->verb, p1->str, p1->len, &again, &err)
          == SMG_OK);
    again.verb = c->verb;
    smg_smtp_format_params(&again, p2);
    CHECK(strcmp(p1->str, p2->str) == 0);
    smg_smtp_cmd_clear(&again);
    g_string_free(p1, TRUE);
    g_string_free(p2, TRUE);
}

/* check_path - a parsed path is a valid address on its own */
static void
check_path(const struct smg_smtp_cmd *c)
{
    struct smg_addr a = SMG_ADDR_ZERO;
    unsigned flags = c->path.utf8 ? SMG_ADDR_UTF8 : 0;

    if (c->null_path) {
        CHECK(c->verb == SMG_SMTP_MAIL && c->path.addr == NULL);
        return;
    }
    CHECK(c->path.addr != NULL);
    flags |= c->verb == SMG_SMTP_MAIL ? SMG_ADDR_SENDER : SMG_ADDR_POSTMASTER;
    CHECK(smg_addr_parse(c->path.addr, strlen(c->path.addr), flags, &a, NULL)
          == SMG_OK);
    CHECK(strcmp(a.addr, c->path.addr) == 0);
    smg_addr_clear(&a);
}

/* check_command - parse data with flags and check what comes back */
static void
check_command(const char *data, size_t size, unsigned flags)
{
    struct smg_smtp_cmd c = SMG_SMTP_CMD_ZERO;
    GError *err = NULL;
    GString *out = g_string_new(NULL);

    if (smg_smtp_parse_command(data, size, flags, &c, &err) == SMG_OK) {
        CHECK(err == NULL && c.reply_code == 0);
        if (c.arg != NULL)
            for (const char *p = c.arg; *p != '\0'; p++)
                CHECK((unsigned char) *p >= 0x20 && *p != 0x7f);
        if (c.verb == SMG_SMTP_MAIL || c.verb == SMG_SMTP_RCPT) {
            check_path(&c);
            check_params(&c);
        }
        smg_smtp_reply(out, 250, "2.0.0", c.arg);
    } else {
        CHECK(err != NULL && c.reply_code >= 500 && c.reply_code <= 555);
        CHECK(smg_error_status(err) == SMG_PERMFAIL);
        CHECK(err->message[0] == '5' && err->message[1] == '.');
        smg_smtp_reply_error(out, &c, err);
        CHECK(out->str[0] == '5');
    }
    check_reply(out);
    g_string_free(out, TRUE);
    g_clear_error(&err);
    smg_smtp_cmd_clear(&c);
}

/* check_xtext - decode(encode(x)) == x, and decode of data when valid */
static void
check_xtext(const char *data, size_t size)
{
    GString *enc = g_string_new(NULL);
    char *dec = smg_smtp_xtext_decode(data, size), *back;

    CHECK((dec != NULL) == smg_smtp_xtext_valid(data, size, FALSE));
    if (dec != NULL) {
        smg_smtp_xtext_encode(enc, dec, strlen(dec));
        CHECK(smg_smtp_xtext_valid(enc->str, enc->len, TRUE));
        back = smg_smtp_xtext_decode(enc->str, enc->len);
        CHECK(back != NULL && strcmp(back, dec) == 0);
        g_free(back);
        g_free(dec);
    }
    g_string_free(enc, TRUE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *) data;
    char *text;
    GString *out;

    check_command(s, size, 0);
    check_command(s, size, SMG_SMTP_PARSE_SMTPUTF8);
    check_xtext(s, size);

    /* any text makes one well-formed reply line */
    text = g_strndup(s, size);
    out = g_string_new(NULL);
    smg_smtp_reply(out, 550, "5.7.1", text);
    check_reply(out);
    g_free(text);
    g_string_free(out, TRUE);
    return 0;
}

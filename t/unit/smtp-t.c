/*
 * smtp-t.c - unit tests for lib/smtp: command parsing, xtext and replies.
 *
 * Every verb, every ESMTP parameter, each reply code the parser can give,
 * the RFC 5321 limits and malformed input (NUL, control characters, 8-bit
 * without SMTPUTF8, missing brackets, trailing garbage).  The seed and
 * regression inputs of the SMTP fuzzer (t/fuzz/) are replayed at the end.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>

#include "lib/envelope.h"
#include "lib/smtp.h"
#include "t/tap/basic.h"

/* parse_len - parse line[0..len) into *cmd (already zeroed) */
static enum smg_status
parse_len(const char *line, size_t len, unsigned flags,
          struct smg_smtp_cmd *cmd, GError **err)
{
    return smg_smtp_parse_command(line, len, flags, cmd, err);
}

/*
 * good - line parses with flags to verb; the command is left in *cmd (the
 * caller clears it).
 */
static void
good(const char *line, unsigned flags, enum smg_smtp_verb verb,
     struct smg_smtp_cmd *cmd)
{
    GError *err = NULL;
    enum smg_status st = parse_len(line, strlen(line), flags, cmd, &err);

    char *desc = g_strescape(line, NULL);

    ok(st == SMG_OK && cmd->verb == verb && cmd->reply_code == 0,
       "accept \"%s\"", desc);
    g_free(desc);
    if (err != NULL) {
        diag("%s", err->message);
        g_error_free(err);
    }
}

/* bad_len - line[0..len) is refused with code and a message prefix */
static void
bad_len(const char *line, size_t len, unsigned flags, int code,
        const char *prefix, const char *desc)
{
    struct smg_smtp_cmd cmd = SMG_SMTP_CMD_ZERO;
    GError *err = NULL;
    enum smg_status st = parse_len(line, len, flags, &cmd, &err);

    ok(st == SMG_PERMFAIL && err != NULL && cmd.reply_code == code
           && g_str_has_prefix(err->message, prefix),
       "refuse %s: %d %s", desc, code, prefix);
    if (err != NULL && !g_str_has_prefix(err->message, prefix))
        diag("got %d %s", cmd.reply_code, err->message);
    else if (err == NULL)
        diag("no error");
    g_clear_error(&err);
    smg_smtp_cmd_clear(&cmd);
}

static void
bad(const char *line, unsigned flags, int code, const char *prefix)
{
    char *desc = g_strescape(line, NULL); /* no CR/LF in TAP output */

    bad_len(line, strlen(line), flags, code, prefix, desc);
    g_free(desc);
}

/* test_verbs - every verb, its case, and its argument rules */
static void
test_verbs(void)
{
    struct smg_smtp_cmd c = SMG_SMTP_CMD_ZERO;

    good("HELO client.example.com", 0, SMG_SMTP_HELO, &c);
    is_string("client.example.com", c.arg, "HELO argument");
    good("helo client", 0, SMG_SMTP_HELO, &c);
    good("EHLO [192.0.2.1]", 0, SMG_SMTP_EHLO, &c);
    is_string("[192.0.2.1]", c.arg, "EHLO argument");
    good("eHlO   WIN-ABC_1  ", 0, SMG_SMTP_EHLO, &c);
    is_string("WIN-ABC_1", c.arg, "extra spaces cut");
    bad("HELO", 0, 501, "5.5.4 Syntax: HELO hostname");
    bad("EHLO ", 0, 501, "5.5.4 Syntax: EHLO hostname");
    bad("EHLO a b", 0, 501, "5.5.4 ");

    good("MAIL FROM:<a@b.example>", 0, SMG_SMTP_MAIL, &c);
    is_string("a@b.example", c.path.addr, "MAIL path");
    ok(!c.null_path && c.params == NULL, "no null path, no params");
    is_string("FROM:<a@b.example>", c.arg, "MAIL arg");
    good("mail from:<a@b.example>", 0, SMG_SMTP_MAIL, &c);
    good("MAIL FROM: <a@b.example>", 0, SMG_SMTP_MAIL, &c);
    is_string("a@b.example", c.path.addr, "space after the colon");
    good("MAIL  FROM:   <a@b.example>   ", 0, SMG_SMTP_MAIL, &c);
    good("MAIL FROM:<>", 0, SMG_SMTP_MAIL, &c);
    ok(c.null_path && c.path.addr == NULL, "null path");
    good("MAIL FROM:<> SIZE=10", 0, SMG_SMTP_MAIL, &c);
    ok(c.null_path && c.has_size && c.size == 10, "null path with SIZE");

    good("RCPT TO:<c@d.example>", 0, SMG_SMTP_RCPT, &c);
    is_string("c@d.example", c.path.addr, "RCPT path");
    is_string("d.example", c.path.domain, "RCPT domain");
    good("rcpt to: <c@d.example>", 0, SMG_SMTP_RCPT, &c);
    good("RCPT TO:<Postmaster>", 0, SMG_SMTP_RCPT, &c);
    ok(c.path.domain == NULL, "bare postmaster has no domain");
    good("RCPT TO:<\"a>b\"@d.example>", 0, SMG_SMTP_RCPT, &c);
    is_string("\"a>b\"@d.example", c.path.addr, "> inside quotes");

    good("DATA", 0, SMG_SMTP_DATA, &c);
    ok(c.arg == NULL, "DATA has no arg");
    good("data ", 0, SMG_SMTP_DATA, &c);
    bad("DATA x", 0, 501, "5.5.4 Syntax: DATA");
    good("RSET", 0, SMG_SMTP_RSET, &c);
    bad("RSET now", 0, 501, "5.5.4 Syntax: RSET");
    good("QUIT", 0, SMG_SMTP_QUIT, &c);
    bad("QUIT x", 0, 501, "5.5.4 Syntax: QUIT");
    good("STARTTLS", 0, SMG_SMTP_STARTTLS, &c);
    bad("STARTTLS x", 0, 501, "5.5.4 Syntax: STARTTLS");
    good("NOOP", 0, SMG_SMTP_NOOP, &c);
    good("NOOP anything at all", 0, SMG_SMTP_NOOP, &c);
    is_string("anything at all", c.arg, "NOOP arg");
    good("HELP", 0, SMG_SMTP_HELP, &c);
    good("HELP MAIL", 0, SMG_SMTP_HELP, &c);
    good("VRFY someone", 0, SMG_SMTP_VRFY, &c);
    bad("VRFY", 0, 501, "5.5.4 Syntax: VRFY address");
    good("EXPN list", 0, SMG_SMTP_EXPN, &c);
    bad("EXPN", 0, 501, "5.5.4 Syntax: EXPN address");
    good("ETRN example.com", 0, SMG_SMTP_ETRN, &c);
    good("ETRN @example.com", 0, SMG_SMTP_ETRN, &c);
    bad("ETRN", 0, 501, "5.5.4 Syntax: ETRN domain");
    bad("ETRN a b", 0, 501, "5.5.4 Syntax: ETRN domain");

    good("AUTH PLAIN", 0, SMG_SMTP_AUTH, &c);
    is_string("PLAIN", c.auth_mech, "AUTH mechanism");
    ok(c.auth_initial == NULL, "no initial response");
    good("auth plain dGVzdAB0ZXN0AHRlc3Q=", 0, SMG_SMTP_AUTH, &c);
    is_string("PLAIN", c.auth_mech, "mechanism upper-cased");
    is_string("dGVzdAB0ZXN0AHRlc3Q=", c.auth_initial, "initial response");
    good("AUTH PLAIN =", 0, SMG_SMTP_AUTH, &c);
    is_string("=", c.auth_initial, "empty initial response");
    good("AUTH SCRAM-SHA-256", 0, SMG_SMTP_AUTH, &c);
    bad("AUTH", 0, 501, "5.5.4 Syntax: AUTH");
    bad("AUTH PLAIN a b", 0, 501, "5.5.4 ");
    bad("AUTH PLAIN abc", 0, 501, "5.5.2 ");
    bad("AUTH PLAIN ab=c", 0, 501, "5.5.2 ");
    bad("AUTH PLAIN a===", 0, 501, "5.5.2 ");
    bad("AUTH PL@IN", 0, 501, "5.5.4 ");
    bad("AUTH ABCDEFGHIJKLMNOPQRSTU", 0, 501, "5.5.4 ");

    good("BDAT 1000", 0, SMG_SMTP_BDAT, &c);
    ok(c.chunk_size == 1000 && !c.last, "BDAT size");
    good("BDAT 0 LAST", 0, SMG_SMTP_BDAT, &c);
    ok(c.chunk_size == 0 && c.last, "BDAT LAST");
    good("bdat 10 last", 0, SMG_SMTP_BDAT, &c);
    ok(c.last, "BDAT last in lower case");
    bad("BDAT", 0, 501, "5.5.4 Syntax: BDAT");
    bad("BDAT x", 0, 501, "5.5.4 ");
    bad("BDAT -1", 0, 501, "5.5.4 ");
    bad("BDAT 10 FIRST", 0, 501, "5.5.4 ");
    bad("BDAT 10 LAST x", 0, 501, "5.5.4 ");
    bad("BDAT 99999999999999999999999", 0, 501, "5.5.4 ");

    smg_smtp_cmd_clear(&c);
    is_string("MAIL", smg_smtp_verb_name(SMG_SMTP_MAIL), "verb name");
    is_string("STARTTLS", smg_smtp_verb_name(SMG_SMTP_STARTTLS), "verb name");
    is_string("UNKNOWN", smg_smtp_verb_name(SMG_SMTP_UNKNOWN), "verb name");
}

/* test_unknown - unknown verbs and bad lines */
static void
test_unknown(void)
{
    struct smg_smtp_cmd c = SMG_SMTP_CMD_ZERO;
    GError *err = NULL;

    ok(parse_len("FOO bar", 7, 0, &c, &err) == SMG_PERMFAIL
           && c.verb == SMG_SMTP_UNKNOWN && c.reply_code == 502,
       "unknown verb: SMG_SMTP_UNKNOWN, 502");
    g_clear_error(&err);
    smg_smtp_cmd_clear(&c);
    bad("FOO bar", 0, 502, "5.5.2 Error: command not recognized");
    bad("MAILX FROM:<a@b.example>", 0, 502, "5.5.2 ");
    bad("MAIL:FROM:<a@b.example>", 0, 502, "5.5.2 ");
    bad("GET / HTTP/1.0", 0, 502, "5.5.2 ");
    bad("TURN", 0, 502, "5.5.2 ");
    bad("", 0, 500, "5.5.2 Error: bad syntax");
    bad(" ", 0, 500, "5.5.2 Error: bad syntax");
    bad(" NOOP", 0, 500, "5.5.2 ");
}

/* test_bytes - NUL, control characters and 8-bit */
static void
test_bytes(void)
{
    struct smg_smtp_cmd c = SMG_SMTP_CMD_ZERO;
    GError *err = NULL;
    static const char nul_mail[] = "MAIL FROM:<a@b.example>\0";
    static const char nul_path[] = "RCPT TO:<a\0b@d.example>";
    static const char nul_verb[] = "NO\0OP";
    static const char nul_only[] = "\0";

    bad_len(nul_mail, sizeof(nul_mail) - 1, 0, 500, "5.5.2 Error: NUL",
            "a NUL after MAIL");
    ok(parse_len(nul_mail, sizeof(nul_mail) - 1, 0, &c, &err) != SMG_OK
           && c.verb == SMG_SMTP_MAIL,
       "the verb is known even when the line is refused");
    g_clear_error(&err);
    smg_smtp_cmd_clear(&c);
    bad_len(nul_path, sizeof(nul_path) - 1, 0, 500, "5.5.2 ",
            "a NUL in a path");
    bad_len(nul_verb, sizeof(nul_verb) - 1, 0, 500, "5.5.2 ",
            "a NUL in a verb");
    bad_len(nul_only, 1, 0, 500, "5.5.2 ", "a lone NUL");
    bad("RSET\r", 0, 500, "5.5.2 Error: control");
    bad("NOOP\tx", 0, 500, "5.5.2 ");
    bad("MAIL FROM:<a@b.example>\n", 0, 500, "5.5.2 ");
    bad("NOOP \x7f", 0, 500, "5.5.2 ");
    bad("HELO \x1b[31m", 0, 500, "5.5.2 ");

    bad("NOOP caf\xc3\xa9", 0, 500, "5.5.2 Error: 8-bit");
    bad("EHLO b\xc3\xbc"
        "cher.example",
        0, 500, "5.5.2 ");
    bad("MAIL FROM:<j\xc3\xb6ran@example.com>", 0, 553, "5.6.7 ");
    bad("RCPT TO:<j\xc3\xb6ran@example.com>", 0, 553, "5.6.7 ");
    good("MAIL FROM:<j\xc3\xb6ran@example.com> SMTPUTF8", 0, SMG_SMTP_MAIL,
         &c);
    ok(c.smtputf8 && c.path.utf8, "SMTPUTF8 sender");
    good("RCPT TO:<j\xc3\xb6ran@b\xc3\xbc"
         "cher.example>",
         SMG_SMTP_PARSE_SMTPUTF8, SMG_SMTP_RCPT, &c);
    ok(c.path.utf8, "SMTPUTF8 recipient");
    smg_smtp_cmd_clear(&c);
    bad("RCPT TO:<j\xc3\xb6ran@example.com> SMTPUTF8", 0, 555, "5.5.4 ");
    bad("MAIL FROM:<\xff@example.com> SMTPUTF8", 0, 501, "5.1.7 ");
    bad("RCPT TO:<\xff@example.com>", SMG_SMTP_PARSE_SMTPUTF8, 501, "5.1.3 ");
    bad("MAIL FROM:<a@b.example> ENVID=caf\xc3\xa9", 0, 501, "5.5.2 ");
    bad("MAIL FROM:<a@b.example> SMTPUTF8 ENVID=caf\xc3\xa9", 0, 501,
        "5.5.2 ");
}

/* test_paths - brackets, garbage, source routes, bad addresses */
static void
test_paths(void)
{
    struct smg_smtp_cmd c = SMG_SMTP_CMD_ZERO;

    bad("MAIL FROM:a@b.example", 0, 501, "5.1.7 ");
    bad("RCPT TO:c@d.example", 0, 501, "5.1.3 ");
    bad("MAIL FROM:<a@b.example", 0, 501, "5.1.7 ");
    bad("RCPT TO:<c@d.example", 0, 501, "5.1.3 ");
    bad("MAIL FROM:a@b.example>", 0, 501, "5.1.7 ");
    bad("MAIL", 0, 501, "5.5.4 Syntax: MAIL FROM:<address>");
    bad("MAIL FROM:", 0, 501, "5.5.4 Syntax: MAIL FROM:<address>");
    bad("MAIL FROM:   ", 0, 501, "5.5.4 ");
    bad("MAIL TO:<a@b.example>", 0, 501, "5.5.4 ");
    bad("MAIL FROM <a@b.example>", 0, 501, "5.5.4 ");
    bad("MAIL FRO", 0, 501, "5.5.4 ");
    bad("RCPT", 0, 501, "5.5.4 Syntax: RCPT TO:<address>");
    bad("RCPT FROM:<a@b.example>", 0, 501, "5.5.4 ");
    bad("RCPT TO:<>", 0, 501, "5.1.3 ");

    bad("MAIL FROM:<a@b.example>x", 0, 501, "5.5.2 ");
    bad("RCPT TO:<c@d.example>>", 0, 501, "5.5.2 ");
    bad("MAIL FROM:<a@b.example><c@d.example>", 0, 501, "5.5.2 ");
    bad("MAIL FROM:<<a@b.example>>", 0, 501, "5.5.2 ");

    bad("MAIL FROM:<a..b@example.com>", 0, 501, "5.1.7 Bad sender");
    bad("RCPT TO:<a@-example.com>", 0, 501, "5.1.3 Bad recipient");
    bad("RCPT TO:<a b@example.com>", 0, 501, "5.1.3 ");
    bad("RCPT TO:<abuse>", 0, 501, "5.1.3 ");
    bad("MAIL FROM:<postmaster>", 0, 501, "5.1.7 ");

    good("RCPT TO:<@a.example,@b.example:user@d.example>", 0, SMG_SMTP_RCPT,
         &c);
    is_string("user@d.example", c.path.addr, "source route dropped");
    good("MAIL FROM:<@a.example:user@d.example>", 0, SMG_SMTP_MAIL, &c);
    is_string("user@d.example", c.path.addr, "one-hop source route dropped");
    smg_smtp_cmd_clear(&c);
    bad("RCPT TO:<@a.example user@d.example>", 0, 501, "5.1.3 ");
    bad("RCPT TO:<@:user@d.example>", 0, 501, "5.1.3 ");
    bad("RCPT TO:<@a.example,:user@d.example>", 0, 501, "5.1.3 ");
    bad("RCPT TO:<@a.example,@:user@d.example>", 0, 501, "5.1.3 ");
    bad("RCPT TO:<@a.example,b.example:user@d.example>", 0, 501, "5.1.3 ");
    bad("RCPT TO:<@[192.0.2.1]:user@d.example>", 0, 501, "5.1.3 ");
    bad("MAIL FROM:<@-a.example:user@d.example>", 0, 501, "5.1.7 ");
    bad("MAIL FROM:<@a.example:>", 0, 501, "5.1.7 ");
}

/* test_limits - path and local-part lengths through the command */
static void
test_limits(void)
{
    struct smg_smtp_cmd c = SMG_SMTP_CMD_ZERO;
    GString *line = g_string_new(NULL);
    char *l64 = g_strnfill(64, 'l'), *l65 = g_strnfill(65, 'l');
    char *a63 = g_strnfill(63, 'a'), *a61 = g_strnfill(61, 'a');
    char *a62 = g_strnfill(62, 'a');

    g_string_printf(line, "RCPT TO:<%s@example.com>", l64);
    good(line->str, 0, SMG_SMTP_RCPT, &c);
    g_string_printf(line, "RCPT TO:<%s@example.com>", l65);
    bad(line->str, 0, 501, "5.1.3 ");
    g_string_printf(line, "MAIL FROM:<%s@example.com>", l65);
    bad(line->str, 0, 501, "5.1.7 ");

    /* 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254: a path of 256 with <> */
    g_string_printf(line, "RCPT TO:<%s@%s.%s.%s>", l64, a63, a63, a61);
    good(line->str, 0, SMG_SMTP_RCPT, &c);
    is_int(254, (long) strlen(c.path.addr), "a 254-octet address");
    g_string_printf(line, "RCPT TO:<%s@%s.%s.%s>", l64, a63, a63, a62);
    bad(line->str, 0, 501, "5.1.3 Bad recipient address syntax: path");
    g_string_printf(line, "MAIL FROM:<%s@%s.%s.%s> SIZE=1", l64, a63, a63,
                    a62);
    bad(line->str, 0, 501, "5.1.7 ");
    /* a source route counts towards the 256 octets */
    g_string_printf(line, "RCPT TO:<@r.example:%s@%s.%s.%s>", l64, a63, a63,
                    a61);
    bad(line->str, 0, 501, "5.1.3 ");

    smg_smtp_cmd_clear(&c);
    g_string_free(line, TRUE);
    g_free(l64);
    g_free(l65);
    g_free(a63);
    g_free(a62);
    g_free(a61);
}

/* test_mail_params - SIZE BODY SMTPUTF8 RET ENVID AUTH */
static void
test_mail_params(void)
{
    struct smg_smtp_cmd c = SMG_SMTP_CMD_ZERO;
    GString *out = g_string_new(NULL);
    char *e100 = g_strnfill(100, 'e'), *e101 = g_strnfill(101, 'e');
    char *line;

    good("MAIL FROM:<a@b.example> SIZE=12345", 0, SMG_SMTP_MAIL, &c);
    ok(c.has_size && c.size == 12345, "SIZE");
    is_string("SIZE=12345", c.params, "params as sent");
    good("MAIL FROM:<a@b.example> size=0", 0, SMG_SMTP_MAIL, &c);
    ok(c.has_size && c.size == 0, "SIZE=0");
    good("MAIL FROM:<a@b.example> SIZE=99999999999999999999", 0, SMG_SMTP_MAIL,
         &c);
    ok(c.size == G_MAXUINT64, "SIZE too big for 64 bits stays too big");
    good("MAIL FROM:<a@b.example> SIZE=18446744073709551615", 0, SMG_SMTP_MAIL,
         &c);
    ok(c.size == G_MAXUINT64, "SIZE of 2^64-1");
    bad("MAIL FROM:<a@b.example> SIZE=", 0, 501, "5.5.2 ");
    bad("MAIL FROM:<a@b.example> SIZE", 0, 501, "5.5.2 Bad SIZE");
    bad("MAIL FROM:<a@b.example> SIZE=abc", 0, 501, "5.5.2 Bad SIZE");
    bad("MAIL FROM:<a@b.example> SIZE=-1", 0, 501, "5.5.2 ");
    bad("MAIL FROM:<a@b.example> SIZE=123456789012345678901", 0, 501,
        "5.5.2 ");

    good("MAIL FROM:<a@b.example> BODY=7BIT", 0, SMG_SMTP_MAIL, &c);
    ok(c.body == SMG_SMTP_BODY_7BIT, "BODY=7BIT");
    good("MAIL FROM:<a@b.example> body=8bitmime", 0, SMG_SMTP_MAIL, &c);
    ok(c.body == SMG_SMTP_BODY_8BITMIME, "BODY=8BITMIME, any case");
    good("MAIL FROM:<a@b.example> BODY=BINARYMIME", 0, SMG_SMTP_MAIL, &c);
    ok(c.body == SMG_SMTP_BODY_BINARYMIME, "BODY=BINARYMIME");
    bad("MAIL FROM:<a@b.example> BODY=8BIT", 0, 501, "5.5.2 Bad BODY");
    bad("MAIL FROM:<a@b.example> BODY", 0, 501, "5.5.2 ");

    good("MAIL FROM:<a@b.example> SMTPUTF8", 0, SMG_SMTP_MAIL, &c);
    ok(c.smtputf8, "SMTPUTF8");
    bad("MAIL FROM:<a@b.example> SMTPUTF8=yes", 0, 501, "5.5.2 Bad SMTPUTF8");

    good("MAIL FROM:<a@b.example> RET=FULL", 0, SMG_SMTP_MAIL, &c);
    ok(c.ret == SMG_SMTP_RET_FULL, "RET=FULL");
    good("MAIL FROM:<a@b.example> ret=hdrs", 0, SMG_SMTP_MAIL, &c);
    ok(c.ret == SMG_SMTP_RET_HDRS, "RET=HDRS");
    bad("MAIL FROM:<a@b.example> RET=NONE", 0, 501, "5.5.2 Bad RET");

    good("MAIL FROM:<a@b.example> ENVID=QQ+2B1+3Dx", 0, SMG_SMTP_MAIL, &c);
    is_string("QQ+1=x", c.envid, "ENVID decoded");
    is_string("QQ+2B1+3Dx", c.envid_xtext, "ENVID as sent");
    good("MAIL FROM:<a@b.example> ENVID=a+2bb", 0, SMG_SMTP_MAIL, &c);
    is_string("a+b", c.envid, "lower-case hex accepted");
    line = g_strdup_printf("MAIL FROM:<a@b.example> ENVID=%s", e100);
    good(line, 0, SMG_SMTP_MAIL, &c);
    g_free(line);
    line = g_strdup_printf("MAIL FROM:<a@b.example> ENVID=%s", e101);
    bad(line, 0, 501, "5.5.2 Bad ENVID");
    g_free(line);
    bad("MAIL FROM:<a@b.example> ENVID=a+0D+0Ab", 0, 501, "5.5.2 Bad ENVID");
    bad("MAIL FROM:<a@b.example> ENVID=a+00", 0, 501, "5.5.2 ");
    bad("MAIL FROM:<a@b.example> ENVID=a+2", 0, 501, "5.5.2 ");
    bad("MAIL FROM:<a@b.example> ENVID=a+ZZ", 0, 501, "5.5.2 ");
    bad("MAIL FROM:<a@b.example> ENVID=+C3+A9", 0, 501, "5.5.2 ");

    good("MAIL FROM:<a@b.example> AUTH=<>", 0, SMG_SMTP_MAIL, &c);
    is_string("<>", c.auth, "AUTH=<>");
    good("MAIL FROM:<a@b.example> AUTH=user+40example.com", 0, SMG_SMTP_MAIL,
         &c);
    is_string("user@example.com", c.auth, "AUTH decoded");
    bad("MAIL FROM:<a@b.example> AUTH=+0A", 0, 501, "5.5.2 Bad AUTH");
    bad("MAIL FROM:<a@b.example> AUTH", 0, 501, "5.5.2 ");

    good("MAIL FROM:<a@b.example>  SIZE=100 body=8BITMIME RET=HDRS "
         "ENVID=abc+2B AUTH=<> SMTPUTF8 ",
         0, SMG_SMTP_MAIL, &c);
    ok(c.has_size && c.size == 100 && c.body == SMG_SMTP_BODY_8BITMIME
           && c.ret == SMG_SMTP_RET_HDRS && c.smtputf8,
       "all MAIL parameters at once");
    smg_smtp_format_params(&c, out);
    is_string("BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=abc+2B AUTH=<>", out->str,
              "canonical MAIL parameters (no SIZE)");

    bad("MAIL FROM:<a@b.example> SIZE=1 SIZE=2", 0, 501,
        "5.5.2 Duplicate SIZE");
    bad("MAIL FROM:<a@b.example> body=7BIT BODY=7BIT", 0, 501, "5.5.2 ");
    bad("MAIL FROM:<a@b.example> SMTPUTF8 SMTPUTF8", 0, 501, "5.5.2 ");
    bad("MAIL FROM:<a@b.example> FOO=bar", 0, 555,
        "5.5.4 Unsupported option: FOO");
    bad("MAIL FROM:<a@b.example> MT-PRIORITY=3", 0, 555, "5.5.4 ");
    bad("MAIL FROM:<a@b.example> REQUIRETLS", 0, 555, "5.5.4 ");
    bad("MAIL FROM:<a@b.example> NOTIFY=NEVER", 0, 555,
        "5.5.4 Unsupported option: NOTIFY");
    bad("MAIL FROM:<a@b.example> ORCPT=rfc822;a@b", 0, 555, "5.5.4 ");
    bad("MAIL FROM:<a@b.example> =foo", 0, 501, "5.5.2 Bad parameter");
    bad("MAIL FROM:<a@b.example> -X=1", 0, 501, "5.5.2 ");
    bad("MAIL FROM:<a@b.example> X_Y=1", 0, 501, "5.5.2 ");
    bad("MAIL FROM:<a@b.example> X=a=b", 0, 501, "5.5.2 ");

    smg_smtp_cmd_clear(&c);
    g_string_free(out, TRUE);
    g_free(e100);
    g_free(e101);
}

/* test_rcpt_params - NOTIFY ORCPT */
static void
test_rcpt_params(void)
{
    struct smg_smtp_cmd c = SMG_SMTP_CMD_ZERO;
    GString *out = g_string_new(NULL);
    GString *line = g_string_new(NULL);
    char *x;

    good("RCPT TO:<c@d.example> NOTIFY=NEVER", 0, SMG_SMTP_RCPT, &c);
    ok(c.notify == SMG_SMTP_NOTIFY_NEVER, "NOTIFY=NEVER");
    good("RCPT TO:<c@d.example> NOTIFY=SUCCESS,FAILURE,DELAY", 0,
         SMG_SMTP_RCPT, &c);
    ok(c.notify
           == (SMG_SMTP_NOTIFY_SUCCESS | SMG_SMTP_NOTIFY_FAILURE
               | SMG_SMTP_NOTIFY_DELAY),
       "NOTIFY=SUCCESS,FAILURE,DELAY");
    good("RCPT TO:<c@d.example> notify=delay,failure", 0, SMG_SMTP_RCPT, &c);
    ok(c.notify == (SMG_SMTP_NOTIFY_FAILURE | SMG_SMTP_NOTIFY_DELAY),
       "NOTIFY in any case and order");
    bad("RCPT TO:<c@d.example> NOTIFY=NEVER,FAILURE", 0, 501,
        "5.5.2 Bad NOTIFY");
    bad("RCPT TO:<c@d.example> NOTIFY=FAILURE,NEVER", 0, 501, "5.5.2 ");
    bad("RCPT TO:<c@d.example> NOTIFY=FAILURE,FAILURE", 0, 501, "5.5.2 ");
    bad("RCPT TO:<c@d.example> NOTIFY=SUCCESS,", 0, 501, "5.5.2 ");
    bad("RCPT TO:<c@d.example> NOTIFY=,SUCCESS", 0, 501, "5.5.2 ");
    bad("RCPT TO:<c@d.example> NOTIFY=", 0, 501, "5.5.2 ");
    bad("RCPT TO:<c@d.example> NOTIFY=SOMETIMES", 0, 501, "5.5.2 ");

    good("RCPT TO:<c@d.example> ORCPT=rfc822;user+40example.com", 0,
         SMG_SMTP_RCPT, &c);
    is_string("rfc822", c.orcpt_type, "ORCPT type");
    is_string("user@example.com", c.orcpt, "ORCPT decoded");
    is_string("user+40example.com", c.orcpt_xtext, "ORCPT as sent");
    good("RCPT TO:<c@d.example> ORCPT=utf-8;j+C3+B6ran@example.com", 0,
         SMG_SMTP_RCPT, &c);
    is_string("j\xc3\xb6ran@example.com", c.orcpt, "ORCPT with UTF-8");
    bad("RCPT TO:<c@d.example> ORCPT=rfc822", 0, 501, "5.5.2 Bad ORCPT");
    bad("RCPT TO:<c@d.example> ORCPT=;a@b", 0, 501, "5.5.2 ");
    bad("RCPT TO:<c@d.example> ORCPT=rfc822;", 0, 501, "5.5.2 ");
    bad("RCPT TO:<c@d.example> ORCPT=rfc822;a+0D+0Ab", 0, 501, "5.5.2 ");
    bad("RCPT TO:<c@d.example> ORCPT=rfc822;a+FF", 0, 501, "5.5.2 ");
    bad("RCPT TO:<c@d.example> ORCPT=rf(c;a", 0, 501, "5.5.2 ");
    x = g_strnfill(493, 'x');
    g_string_printf(line, "RCPT TO:<c@d.example> ORCPT=rfc822;%s", x);
    good(line->str, 0, SMG_SMTP_RCPT, &c);
    g_string_printf(line, "RCPT TO:<c@d.example> ORCPT=rfc822;%sx", x);
    bad(line->str, 0, 501, "5.5.2 ");
    g_free(x);

    good("RCPT TO:<c@d.example> NOTIFY=FAILURE,SUCCESS "
         "ORCPT=rfc822;c+2Bx@d.example",
         0, SMG_SMTP_RCPT, &c);
    smg_smtp_format_params(&c, out);
    is_string("NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+2Bx@d.example", out->str,
              "canonical RCPT parameters");
    g_string_truncate(out, 0);
    good("RCPT TO:<c@d.example>", 0, SMG_SMTP_RCPT, &c);
    smg_smtp_format_params(&c, out);
    is_string("", out->str, "no parameters, empty string");

    bad("RCPT TO:<c@d.example> NOTIFY=NEVER NOTIFY=NEVER", 0, 501,
        "5.5.2 Duplicate NOTIFY");
    bad("RCPT TO:<c@d.example> SIZE=1", 0, 555,
        "5.5.4 Unsupported option: SIZE");
    bad("RCPT TO:<c@d.example> BODY=8BITMIME", 0, 555, "5.5.4 ");
    bad("RCPT TO:<c@d.example> XFOO", 0, 555, "5.5.4 ");

    smg_smtp_cmd_clear(&c);
    g_string_free(out, TRUE);
    g_string_free(line, TRUE);
}

/* test_parse_params - the parameter parser alone (envelope re-checks) */
static void
test_parse_params(void)
{
    struct smg_smtp_cmd c = SMG_SMTP_CMD_ZERO;
    GString *out = g_string_new(NULL);
    GError *err = NULL;
    const char *p = "BODY=8BITMIME RET=HDRS ENVID=x+2By";

    ok(smg_smtp_parse_params(SMG_SMTP_MAIL, p, strlen(p), &c, &err) == SMG_OK,
       "MAIL params alone");
    ok(c.verb == SMG_SMTP_MAIL, "verb set by the parameter parser");
    smg_smtp_format_params(&c, out);
    is_string(p, out->str, "canonical params round-trip");
    smg_smtp_cmd_clear(&c);
    ok(smg_smtp_parse_params(SMG_SMTP_MAIL, "  ", 2, &c, &err) == SMG_OK,
       "only spaces");
    ok(smg_smtp_parse_params(SMG_SMTP_MAIL, "", 0, &c, &err) == SMG_OK,
       "empty");
    ok(smg_smtp_parse_params(SMG_SMTP_RCPT, "BODY=7BIT", 9, &c, &err)
               == SMG_PERMFAIL
           && c.reply_code == 555,
       "MAIL parameter on RCPT");
    g_clear_error(&err);
    smg_smtp_cmd_clear(&c);
    ok(smg_smtp_parse_params(SMG_SMTP_HELO, "SIZE=1", 6, &c, &err)
           == SMG_PERMFAIL,
       "no parameters for other verbs");
    g_clear_error(&err);
    smg_smtp_cmd_clear(&c);
    g_string_free(out, TRUE);
}

/* test_xtext - RFC 3461 xtext */
static void
test_xtext(void)
{
    GString *out = g_string_new(NULL);
    char *s;
    const char raw[] = "a+b=c d\x01\xc3\xa9~";

    s = smg_smtp_xtext_decode("a+2Bb", 5);
    is_string("a+b", s, "decode");
    g_free(s);
    s = smg_smtp_xtext_decode("", 0);
    is_string("", s, "decode empty");
    g_free(s);
    s = smg_smtp_xtext_decode("+2b", 3);
    is_string("+", s, "decode lower-case hex");
    g_free(s);
    ok(smg_smtp_xtext_decode("a+", 2) == NULL, "decode a lone +");
    ok(smg_smtp_xtext_decode("a+2", 3) == NULL, "decode + and one digit");
    ok(smg_smtp_xtext_decode("a+G0", 4) == NULL, "decode a bad hex digit");
    ok(smg_smtp_xtext_decode("a b", 3) == NULL, "decode a space");
    ok(smg_smtp_xtext_decode("a=b", 3) == NULL, "decode =");
    ok(smg_smtp_xtext_decode("+00", 3) == NULL, "decode NUL");
    ok(smg_smtp_xtext_decode("\xc3\xa9", 2) == NULL, "decode 8-bit");
    ok(smg_smtp_xtext_decode(NULL, 0) == NULL, "decode NULL");
    ok(smg_smtp_xtext_valid("A+2B", 4, TRUE), "valid strict");
    ok(!smg_smtp_xtext_valid("A+2b", 4, TRUE), "lower case is not strict");
    ok(smg_smtp_xtext_valid("A+2b", 4, FALSE), "lower case is lenient");

    smg_smtp_xtext_encode(out, raw, sizeof(raw) - 1);
    is_string("a+2Bb+3Dc+20d+01+C3+A9~", out->str, "encode");
    s = smg_smtp_xtext_decode(out->str, out->len);
    is_string(raw, s, "round trip");
    g_free(s);
    g_string_free(out, TRUE);
}

/*
 * test_envelope_quotes - a '"' in an xtext value (ENVID, AUTH, ORCPT) is
 * an xchar a client may send as it is; the envelope reads a value that
 * starts with '"' as a quoted string, so the parameters that
 * smg_smtp_format_params writes must hold none: ENVID="abc and
 * AUTH=def" came back as the ENVID 'abc AUTH=def' (an AUTH parameter of
 * the client's slipped into smg-send's MAIL command, and no ENVID in the
 * DSN)
 */
static void
test_envelope_quotes(void)
{
    static const char line[] = "MAIL FROM:<a@b.test> RET=HDRS ENVID=\"abc AUTH=def\"";
    static const char rline[] = "RCPT TO:<c@d.test> NOTIFY=FAILURE ORCPT=rfc822;\"x\"@d.test";
    struct smg_smtp_cmd c = SMG_SMTP_CMD_ZERO;
    GString *out = g_string_new(NULL);
    GError *err = NULL;
    char *v, *d;

    ok(smg_smtp_parse_command(line, strlen(line), 0, &c, &err) == SMG_OK,
       "MAIL with '\"' in ENVID and AUTH");
    g_clear_error(&err);
    smg_smtp_format_params(&c, out);
    ok(strchr(out->str, '"') == NULL, "no '\"' in the envelope's parameters: %s", out->str);
    v = smg_envelope_param(out->str, "ENVID");
    d = v != NULL ? smg_smtp_xtext_decode(v, strlen(v)) : NULL;
    is_string("\"abc", d, "ENVID read back from the envelope as the client gave it");
    g_free(v);
    g_free(d);
    v = smg_envelope_param(out->str, "AUTH");
    d = v != NULL ? smg_smtp_xtext_decode(v, strlen(v)) : NULL;
    is_string("def\"", d, "AUTH read back as given");
    g_free(v);
    g_free(d);
    v = smg_envelope_param(out->str, "RET");
    is_string("HDRS", v, "RET read back");
    g_free(v);

    g_string_truncate(out, 0);
    ok(smg_smtp_parse_command(rline, strlen(rline), 0, &c, &err) == SMG_OK,
       "RCPT with '\"' in ORCPT");
    g_clear_error(&err);
    smg_smtp_format_params(&c, out);
    v = smg_envelope_param(out->str, "ORCPT");
    d = v != NULL && g_str_has_prefix(v, "rfc822;")
            ? smg_smtp_xtext_decode(v + 7, strlen(v + 7))
            : NULL;
    is_string("\"x\"@d.test", d, "ORCPT read back as given");
    g_free(v);
    g_free(d);
    smg_smtp_cmd_clear(&c);
    g_string_free(out, TRUE);
}

/* test_replies - reply formatting */
static void
test_replies(void)
{
    GString *out = g_string_new(NULL);
    struct smg_smtp_cmd c = SMG_SMTP_CMD_ZERO;
    GError *err = NULL;
    static const char *const ehlo[] = {"out.example.net", "PIPELINING",
                                       "SIZE 52428800", "8BITMIME"};
    static const char *const two[] = {"first", "second"};
    char *longtext = g_strnfill(1000, 'x');
    GString *utf = g_string_new(NULL);

    smg_smtp_reply(out, 250, "2.0.0", "Ok");
    is_string("250 2.0.0 Ok\r\n", out->str, "a one-line reply");
    g_string_truncate(out, 0);
    smg_smtp_reply(out, 220, NULL, "out.example.net ESMTP smg");
    is_string("220 out.example.net ESMTP smg\r\n", out->str, "no DSN");
    g_string_truncate(out, 0);
    smg_smtp_reply(out, 250, "2.0.0", NULL);
    is_string("250 2.0.0\r\n", out->str, "no text");
    g_string_truncate(out, 0);
    smg_smtp_reply(out, 354, "", "");
    is_string("354\r\n", out->str, "neither DSN nor text");
    g_string_truncate(out, 0);
    smg_smtp_reply(out, 550, "5.7.1", "evil\r\n250 2.0.0 Ok\x00");
    is_string("550 5.7.1 evil  250 2.0.0 Ok\r\n", out->str,
              "CR and LF made spaces");
    g_string_truncate(out, 0);
    smg_smtp_reply(out, 99, "2.0.0", "Ok");
    is_string("451 4.3.0 Internal error\r\n", out->str, "a bad code");
    g_string_truncate(out, 0);
    smg_smtp_reply(out, 250, "2.0.0", longtext);
    is_int(SMG_SMTP_MAX_REPLY_LINE, (long) out->len, "long text cut");
    ok(g_str_has_suffix(out->str, "xx\r\n"), "cut line ends in CRLF");
    g_string_truncate(out, 0);
    for (int i = 0; i < 300; i++)
        g_string_append(utf, "\xc3\xa9");
    smg_smtp_reply(out, 250, "2.0.0", utf->str);
    ok(out->len <= SMG_SMTP_MAX_REPLY_LINE
           && g_utf8_validate(out->str, (gssize) out->len, NULL),
       "UTF-8 text cut at a character boundary");
    g_string_truncate(out, 0);

    smg_smtp_reply_lines(out, 250, NULL, ehlo, G_N_ELEMENTS(ehlo));
    is_string("250-out.example.net\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n"
              "250 8BITMIME\r\n",
              out->str, "an EHLO reply");
    g_string_truncate(out, 0);
    smg_smtp_reply_lines(out, 451, "4.3.0", two, 2);
    is_string("451-4.3.0 first\r\n451 4.3.0 second\r\n", out->str,
              "multiline with DSN");
    g_string_truncate(out, 0);
    smg_smtp_reply_lines(out, 250, NULL, two, 1);
    is_string("250 first\r\n", out->str, "multiline with one line");
    g_string_truncate(out, 0);
    smg_smtp_reply_lines(out, 250, NULL, NULL, 0);
    is_string("250\r\n", out->str, "multiline with no line");
    g_string_truncate(out, 0);

    ok(smg_smtp_parse_command("FOO", 3, 0, &c, &err) != SMG_OK, "parse fails");
    smg_smtp_reply_error(out, &c, err);
    is_string("502 5.5.2 Error: command not recognized\r\n", out->str,
              "reply to a parse error");
    g_string_truncate(out, 0);
    g_clear_error(&err);
    ok(smg_smtp_parse_command("MAIL FROM:<a@b> X=1", 19, 0, &c, &err)
           != SMG_OK,
       "parse fails");
    smg_smtp_reply_error(out, &c, err);
    is_string("555 5.5.4 Unsupported option: X\r\n", out->str,
              "reply to an unknown parameter");
    g_string_truncate(out, 0);
    smg_smtp_reply_error(out, &c, NULL);
    is_string("451 4.3.0 Internal error\r\n", out->str, "no error: 451");
    g_string_truncate(out, 0);
    g_clear_error(&err);
    smg_smtp_cmd_clear(&c);
    smg_smtp_reply_error(out, &c, NULL);
    is_string("451 4.3.0 Internal error\r\n", out->str, "no code: 451");

    g_string_free(out, TRUE);
    g_string_free(utf, TRUE);
    g_free(longtext);
}

/* replay_check - one fuzz input, both ways: parses cleanly, or fails with
 * one 5xx reply line; returns the inconsistent results */
static unsigned
replay_check(const char *buf, size_t len)
{
    unsigned bad_result = 0;

    for (unsigned flags = 0; flags < 2; flags++) {
        struct smg_smtp_cmd c = SMG_SMTP_CMD_ZERO;
        GError *err = NULL;
        GString *out = g_string_new(NULL);

        if (smg_smtp_parse_command(buf, len, flags, &c, &err) == SMG_OK) {
            smg_smtp_format_params(&c, out);
            if (c.reply_code != 0 || err != NULL)
                bad_result++;
        } else {
            smg_smtp_reply_error(out, &c, err);
            if (err == NULL || c.reply_code < 500 || out->str[0] != '5'
                || strchr(out->str, '\n') != out->str + out->len - 1)
                bad_result++;
        }
        g_string_free(out, TRUE);
        g_clear_error(&err);
        smg_smtp_cmd_clear(&c);
    }
    return bad_result;
}

int
main(void)
{
    plan_lazy();
    test_verbs();
    test_unknown();
    test_bytes();
    test_paths();
    test_limits();
    test_mail_params();
    test_rcpt_params();
    test_parse_params();
    test_xtext();
    test_envelope_quotes();
    test_replies();
    test_replay_fuzz("corpus", "smtp", replay_check);
    test_replay_fuzz("regress", "smtp", replay_check);
    return 0;
}

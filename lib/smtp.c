/*
 * smtp.c - server side of RFC 5321: command parsing and reply formatting.
 *
 * The parser works on one line in a bounded buffer and never reads past
 * len; it copies only what it has checked.  It is deliberately strict where
 * laxness lets hostile input through (NUL, control characters, 8-bit
 * outside an SMTPUTF8 path, duplicate or unknown parameters, decoded xtext
 * carrying CR/LF into later DSNs) and lenient where real clients differ
 * without harm (case of verbs and keywords, extra spaces, a space after
 * "FROM:" as Postfix allows).  All failures go through cmd_fail so that
 * the SMTP reply code and the GError always agree.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <stdarg.h>
#include <string.h>

#include "lib/smtp.h"

static const struct {
    const char *name;
    enum smg_smtp_verb verb;
} verb_table[] = {
    {"HELO", SMG_SMTP_HELO},         {"EHLO", SMG_SMTP_EHLO},
    {"MAIL", SMG_SMTP_MAIL},         {"RCPT", SMG_SMTP_RCPT},
    {"DATA", SMG_SMTP_DATA},         {"BDAT", SMG_SMTP_BDAT},
    {"RSET", SMG_SMTP_RSET},         {"NOOP", SMG_SMTP_NOOP},
    {"QUIT", SMG_SMTP_QUIT},         {"VRFY", SMG_SMTP_VRFY},
    {"EXPN", SMG_SMTP_EXPN},         {"HELP", SMG_SMTP_HELP},
    {"STARTTLS", SMG_SMTP_STARTTLS}, {"AUTH", SMG_SMTP_AUTH},
    {"ETRN", SMG_SMTP_ETRN},
};

/* the ESMTP parameters, as bits of a "seen" mask */
enum param {
    P_SIZE = 1 << 0,
    P_BODY = 1 << 1,
    P_SMTPUTF8 = 1 << 2,
    P_RET = 1 << 3,
    P_ENVID = 1 << 4,
    P_AUTH = 1 << 5,
    P_NOTIFY = 1 << 6,
    P_ORCPT = 1 << 7,
};

static const struct {
    const char *name;
    enum param param;
    enum smg_smtp_verb verb; /* the command that takes it */
} param_table[] = {
    {"SIZE", P_SIZE, SMG_SMTP_MAIL},         {"BODY", P_BODY, SMG_SMTP_MAIL},
    {"SMTPUTF8", P_SMTPUTF8, SMG_SMTP_MAIL}, {"RET", P_RET, SMG_SMTP_MAIL},
    {"ENVID", P_ENVID, SMG_SMTP_MAIL},       {"AUTH", P_AUTH, SMG_SMTP_MAIL},
    {"NOTIFY", P_NOTIFY, SMG_SMTP_RCPT},     {"ORCPT", P_ORCPT, SMG_SMTP_RCPT},
};

static const char *const body_names[] = {NULL, "7BIT", "8BITMIME",
                                         "BINARYMIME"};
static const char *const ret_names[] = {NULL, "FULL", "HDRS"};

/*
 * cmd_fail - record a parse error: the reply code in cmd, the DSN and
 * text in err; returns SMG_PERMFAIL for "return cmd_fail(...)".
 */
static enum smg_status cmd_fail(struct smg_smtp_cmd *cmd, GError **err,
                                int code, const char *dsn, const char *fmt,
                                ...) G_GNUC_PRINTF(5, 6);

static enum smg_status
cmd_fail(struct smg_smtp_cmd *cmd, GError **err, int code, const char *dsn,
         const char *fmt, ...)
{
    va_list ap;
    char *text;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    cmd->reply_code = code;
    smg_set_error(err, SMG_PERMFAIL, dsn, "%s", text);
    g_free(text);
    return SMG_PERMFAIL;
}

/* word_eq - whether s[0..len) is word, ignoring ASCII case */
static gboolean
word_eq(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && g_ascii_strncasecmp(s, word, len) == 0;
}

/* is_ctl - an ASCII control character or DEL */
static gboolean
is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* all_digits - whether s[0..len) is 1 or more ASCII digits */
static gboolean
all_digits(const char *s, size_t len)
{
    if (len == 0)
        return FALSE;
    for (size_t i = 0; i < len; i++)
        if (!g_ascii_isdigit(s[i]))
            return FALSE;
    return TRUE;
}

/* parse_u64 - the digits s[0..len) as a number; FALSE on overflow */
static gboolean
parse_u64(const char *s, size_t len, guint64 *out)
{
    guint64 n = 0;

    for (size_t i = 0; i < len; i++) {
        guint64 d = (guint64) (s[i] - '0');

        if (n > (G_MAXUINT64 - d) / 10)
            return FALSE;
        n = n * 10 + d;
    }
    *out = n;
    return TRUE;
}

/* has_space - whether s[0..len) holds a space */
static gboolean
has_space(const char *s, size_t len)
{
    return memchr(s, ' ', len) != NULL;
}

/* printable_utf8 - no control characters; 8-bit only as valid UTF-8 */
static gboolean
printable_utf8(const char *s)
{
    for (const char *p = s; *p != '\0'; p++)
        if (is_ctl((unsigned char) *p))
            return FALSE;
    return g_utf8_validate(s, -1, NULL);
}

/* printable_ascii - only octets 0x20..0x7e */
static gboolean
printable_ascii(const char *s)
{
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e)
            return FALSE;
    return TRUE;
}

gboolean
smg_smtp_xtext_valid(const char *s, size_t len, gboolean strict)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c == '+') {
            if (len - i < 3 || !g_ascii_isxdigit(s[i + 1])
                || !g_ascii_isxdigit(s[i + 2]))
                return FALSE;
            if (strict
                && (g_ascii_islower(s[i + 1]) || g_ascii_islower(s[i + 2])))
                return FALSE;
            if (s[i + 1] == '0' && s[i + 2] == '0')
                return FALSE;
            i += 2;
        } else if (c < '!' || c > '~' || c == '=') {
            return FALSE;
        }
    }
    return TRUE;
}

char *
smg_smtp_xtext_decode(const char *s, size_t len)
{
    GString *out;

    if (s == NULL || !smg_smtp_xtext_valid(s, len, FALSE))
        return NULL;
    out = g_string_sized_new(len + 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            g_string_append_c(out, (char) (g_ascii_xdigit_value(s[i + 1]) * 16
                                           + g_ascii_xdigit_value(s[i + 2])));
            i += 2;
        } else {
            g_string_append_c(out, s[i]);
        }
    }
    return g_string_free(out, FALSE);
}

void
smg_smtp_xtext_encode(GString *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        /* '"' is an xchar, but the envelope reads a value that starts
         * with it as a quoted string (SMG-Delivery's last="..."): an
         * ENVID of '"abc' would swallow the parameters after it */
        if (c < '!' || c > '~' || c == '+' || c == '=' || c == '"')
            g_string_append_printf(out, "+%02X", c);
        else
            g_string_append_c(out, (char) c);
    }
}

/* check_keyword - esmtp-keyword: (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static gboolean
check_keyword(const char *s, size_t len)
{
    if (len == 0 || !g_ascii_isalnum(s[0]))
        return FALSE;
    for (size_t i = 1; i < len; i++)
        if (!g_ascii_isalnum(s[i]) && s[i] != '-')
            return FALSE;
    return TRUE;
}

gboolean
smg_smtp_esmtp_value(const char *s, size_t len)
{
    if (len == 0)
        return FALSE;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c < 33 || c > 126 || c == '=')
            return FALSE;
    }
    return TRUE;
}

/* parse_notify - NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY */
static gboolean
parse_notify(const char *v, size_t len, unsigned *out)
{
    unsigned flags = 0;
    size_t start = 0;

    if (word_eq(v, len, "NEVER")) {
        *out = SMG_SMTP_NOTIFY_NEVER;
        return TRUE;
    }
    while (start <= len) {
        const char *comma = memchr(v + start, ',', len - start);
        size_t end = comma != NULL ? (size_t) (comma - v) : len;
        unsigned f;

        if (word_eq(v + start, end - start, "SUCCESS"))
            f = SMG_SMTP_NOTIFY_SUCCESS;
        else if (word_eq(v + start, end - start, "FAILURE"))
            f = SMG_SMTP_NOTIFY_FAILURE;
        else if (word_eq(v + start, end - start, "DELAY"))
            f = SMG_SMTP_NOTIFY_DELAY;
        else
            return FALSE; /* unknown, empty, or NEVER in a list */
        if (flags & f)
            return FALSE;
        flags |= f;
        start = end + 1;
    }
    *out = flags;
    return TRUE;
}

/* param_value - check and store one known parameter; FALSE if bad */
static gboolean
param_value(enum param p, const char *v, size_t vlen, struct smg_smtp_cmd *cmd)
{
    const char *semi;
    size_t tlen;

    switch (p) {
    case P_SIZE:
        /* RFC 1870: 1*20DIGIT; a value too big for us stays too big */
        if (vlen > 20 || !all_digits(v, vlen))
            return FALSE;
        if (!parse_u64(v, vlen, &cmd->size))
            cmd->size = G_MAXUINT64;
        cmd->has_size = TRUE;
        return TRUE;
    case P_BODY:
        for (size_t i = 1; i < G_N_ELEMENTS(body_names); i++)
            if (word_eq(v, vlen, body_names[i])) {
                cmd->body = (enum smg_smtp_body) i;
                return TRUE;
            }
        return FALSE;
    case P_SMTPUTF8:
        if (v != NULL)
            return FALSE;
        cmd->smtputf8 = TRUE;
        return TRUE;
    case P_RET:
        for (size_t i = 1; i < G_N_ELEMENTS(ret_names); i++)
            if (word_eq(v, vlen, ret_names[i])) {
                cmd->ret = (enum smg_smtp_ret) i;
                return TRUE;
            }
        return FALSE;
    case P_ENVID:
        cmd->envid = smg_smtp_xtext_decode(v, vlen);
        cmd->envid_xtext = g_strndup(v, vlen);
        return cmd->envid != NULL && cmd->envid[0] != '\0'
               && strlen(cmd->envid) <= SMG_SMTP_MAX_ENVID
               && printable_ascii(cmd->envid);
    case P_AUTH:
        cmd->auth = smg_smtp_xtext_decode(v, vlen);
        cmd->auth_xtext = g_strndup(v, vlen);
        return cmd->auth != NULL && cmd->auth[0] != '\0'
               && printable_utf8(cmd->auth);
    case P_NOTIFY:
        return parse_notify(v, vlen, &cmd->notify);
    case P_ORCPT:
        /* addr-type ";" xtext, at most 500 characters */
        if (vlen > SMG_SMTP_MAX_ORCPT)
            return FALSE;
        semi = memchr(v, ';', vlen);
        if (semi == NULL)
            return FALSE;
        tlen = (size_t) (semi - v);
        if (tlen == 0)
            return FALSE;
        for (size_t i = 0; i < tlen; i++)
            if (!g_ascii_isalnum(v[i])
                && strchr("!#$%&'*+-/=?^_`{|}~", v[i]) == NULL)
                return FALSE;
        cmd->orcpt_type = g_strndup(v, tlen);
        cmd->orcpt = smg_smtp_xtext_decode(semi + 1, vlen - tlen - 1);
        cmd->orcpt_xtext = g_strndup(semi + 1, vlen - tlen - 1);
        return cmd->orcpt != NULL && cmd->orcpt[0] != '\0'
               && printable_utf8(cmd->orcpt);
    }
    return FALSE;
}

enum smg_status
smg_smtp_parse_params(enum smg_smtp_verb verb, const char *s, size_t len,
                      struct smg_smtp_cmd *cmd, GError **err)
{
    unsigned seen = 0;
    size_t i = 0;

    cmd->verb = verb;
    while (i < len) {
        size_t start, end, klen, vlen;
        const char *eq, *v;
        int found = -1;

        if (s[i] == ' ') {
            i++;
            continue;
        }
        start = i;
        while (i < len && s[i] != ' ')
            i++;
        end = i;
        eq = memchr(s + start, '=', end - start);
        klen = eq != NULL ? (size_t) (eq - (s + start)) : end - start;
        v = eq != NULL ? eq + 1 : NULL;
        vlen = eq != NULL ? (size_t) (s + end - v) : 0;
        if (!check_keyword(s + start, klen)
            || (v != NULL && !smg_smtp_esmtp_value(v, vlen)))
            return cmd_fail(cmd, err, 501, "5.5.2", "Bad parameter syntax");
        for (size_t k = 0; k < G_N_ELEMENTS(param_table); k++)
            if (param_table[k].verb == verb
                && word_eq(s + start, klen, param_table[k].name))
                found = (int) k;
        if (found < 0)
            return cmd_fail(cmd, err, 555, "5.5.4", "Unsupported option: %.*s",
                            (int) klen, s + start);
        if (seen & param_table[found].param)
            return cmd_fail(cmd, err, 501, "5.5.2", "Duplicate %s parameter",
                            param_table[found].name);
        seen |= param_table[found].param;
        if ((v == NULL) != (param_table[found].param == P_SMTPUTF8)
            || !param_value(param_table[found].param, v, vlen, cmd))
            return cmd_fail(cmd, err, 501, "5.5.2", "Bad %s parameter syntax",
                            param_table[found].name);
    }
    return SMG_OK;
}

/*
 * check_route - whether s[0..len) is an RFC 5321 A-d-l without its colon:
 * "@" Domain *("," "@" Domain), host names only.
 */
static gboolean
check_route(const char *s, size_t len)
{
    size_t start = 0;

    while (start < len) {
        const char *comma = memchr(s + start, ',', len - start);
        size_t end = comma != NULL ? (size_t) (comma - s) : len;

        if (s[start] != '@' || end - start < 2 || s[start + 1] == '['
            || !smg_addr_check_domain(s + start + 1, end - start - 1, 0))
            return FALSE;
        if (comma != NULL && end + 1 == len) /* trailing comma */
            return FALSE;
        start = end + 1;
    }
    return len > 0;
}

/*
 * parse_path - MAIL FROM:<path> params / RCPT TO:<path> params; line[0..len)
 * has its trailing spaces cut, and the verb's argument starts at pos.
 */
static enum smg_status
parse_path(const char *line, size_t len, size_t pos, unsigned flags,
           struct smg_smtp_cmd *cmd, GError **err)
{
    gboolean mail = cmd->verb == SMG_SMTP_MAIL;
    const char *prefix = mail ? "FROM:" : "TO:";
    const char *syntax =
        mail ? "Syntax: MAIL FROM:<address>" : "Syntax: RCPT TO:<address>";
    const char *dsn = mail ? "5.1.7" : "5.1.3";
    const char *who = mail ? "sender" : "recipient";
    size_t plen = strlen(prefix), open, close, after;
    const char *content;
    size_t clen;
    gboolean utf8;
    unsigned aflags;

    if (len - pos < plen || g_ascii_strncasecmp(line + pos, prefix, plen) != 0)
        return cmd_fail(cmd, err, 501, "5.5.4", "%s", syntax);
    open = pos + plen;
    while (open < len && line[open] == ' ')
        open++;
    if (open == len)
        return cmd_fail(cmd, err, 501, "5.5.4", "%s", syntax);
    if (line[open] != '<')
        return cmd_fail(cmd, err, 501, dsn,
                        "Bad %s address syntax: no angle brackets", who);
    close = smg_addr_path_close(line, len, open);
    if (close == 0)
        return cmd_fail(cmd, err, 501, dsn,
                        "Bad %s address syntax: no closing angle bracket",
                        who);
    if (close - open + 1 > SMG_ADDR_MAX_PATH)
        return cmd_fail(cmd, err, 501, dsn,
                        "Bad %s address syntax: path longer than %d octets",
                        who, SMG_ADDR_MAX_PATH);

    /* the parameters first: SMTPUTF8 decides what the path may hold */
    after = close + 1;
    if (after < len) {
        if (line[after] != ' ')
            return cmd_fail(cmd, err, 501, "5.5.2",
                            "Bad syntax after %s address", who);
        while (after < len && line[after] == ' ')
            after++;
        if (after < len) {
            cmd->params = g_strndup(line + after, len - after);
            if (smg_smtp_parse_params(cmd->verb, line + after, len - after,
                                      cmd, err)
                != SMG_OK)
                return SMG_PERMFAIL;
        }
    }

    content = line + open + 1;
    clen = close - open - 1;
    if (clen == 0) {
        if (!mail)
            return cmd_fail(cmd, err, 501, dsn,
                            "Bad recipient address syntax: <> not allowed");
        cmd->null_path = TRUE;
        return SMG_OK;
    }
    /* RFC 5321 4.1.2 source route: check it, then forget it (C.) */
    if (content[0] == '@') {
        const char *colon = memchr(content, ':', clen);

        if (colon == NULL || !check_route(content, (size_t) (colon - content)))
            return cmd_fail(cmd, err, 501, dsn,
                            "Bad %s address syntax: bad source route", who);
        clen -= (size_t) (colon + 1 - content);
        content = colon + 1;
    }
    utf8 = mail ? cmd->smtputf8 : (flags & SMG_SMTP_PARSE_SMTPUTF8) != 0;
    if (!utf8)
        for (size_t i = 0; i < clen; i++)
            if ((unsigned char) content[i] >= 0x80)
                return cmd_fail(cmd, err, 553, "5.6.7",
                                "Must declare SMTPUTF8 to send unicode "
                                "address");
    aflags = (utf8 ? SMG_ADDR_UTF8 : 0)
             | (mail ? SMG_ADDR_SENDER : SMG_ADDR_POSTMASTER);
    if (smg_addr_parse(content, clen, aflags, &cmd->path, err) != SMG_OK) {
        cmd->reply_code = 501;
        return SMG_PERMFAIL;
    }
    return SMG_OK;
}

/* valid_base64 - whether s[0..len) is "=" or base64 characters */
static gboolean
valid_base64(const char *s, size_t len)
{
    size_t i, pad = 0;

    if (len == 1 && s[0] == '=')
        return TRUE;
    if (len == 0 || len % 4 != 0)
        return FALSE;
    for (i = 0; i < len; i++) {
        if (s[i] == '=') {
            pad++;
        } else if (pad > 0
                   || (!g_ascii_isalnum(s[i]) && s[i] != '+' && s[i] != '/')) {
            return FALSE;
        }
    }
    return pad <= 2;
}

/* parse_auth - AUTH mechanism [initial-response] (RFC 4954) */
static enum smg_status
parse_auth(struct smg_smtp_cmd *cmd, GError **err)
{
    const char *a = cmd->arg, *sp;
    size_t mlen;

    if (a == NULL)
        return cmd_fail(cmd, err, 501, "5.5.4", "Syntax: AUTH mechanism");
    sp = strchr(a, ' ');
    mlen = sp != NULL ? (size_t) (sp - a) : strlen(a);
    if (mlen == 0 || mlen > 20)
        return cmd_fail(cmd, err, 501, "5.5.4", "Syntax: AUTH mechanism");
    for (size_t i = 0; i < mlen; i++)
        if (!g_ascii_isalnum(a[i]) && a[i] != '-' && a[i] != '_')
            return cmd_fail(cmd, err, 501, "5.5.4", "Syntax: AUTH mechanism");
    cmd->auth_mech = g_ascii_strup(a, (gssize) mlen);
    if (sp != NULL) {
        while (*sp == ' ')
            sp++;
        if (has_space(sp, strlen(sp)))
            return cmd_fail(cmd, err, 501, "5.5.4",
                            "Syntax: AUTH mechanism [initial-response]");
        if (!valid_base64(sp, strlen(sp)))
            return cmd_fail(cmd, err, 501, "5.5.2",
                            "Cannot decode initial response");
        cmd->auth_initial = g_strdup(sp);
    }
    return SMG_OK;
}

/* parse_bdat - BDAT chunk-size [LAST] (RFC 3030) */
static enum smg_status
parse_bdat(struct smg_smtp_cmd *cmd, GError **err)
{
    const char *a = cmd->arg, *sp, *rest;
    size_t nlen;

    if (a == NULL)
        return cmd_fail(cmd, err, 501, "5.5.4", "Syntax: BDAT size [LAST]");
    sp = strchr(a, ' ');
    nlen = sp != NULL ? (size_t) (sp - a) : strlen(a);
    if (!all_digits(a, nlen) || !parse_u64(a, nlen, &cmd->chunk_size))
        return cmd_fail(cmd, err, 501, "5.5.4", "Syntax: BDAT size [LAST]");
    if (sp != NULL) {
        rest = sp;
        while (*rest == ' ')
            rest++;
        if (g_ascii_strcasecmp(rest, "LAST") != 0)
            return cmd_fail(cmd, err, 501, "5.5.4",
                            "Syntax: BDAT size [LAST]");
        cmd->last = TRUE;
    }
    return SMG_OK;
}

/* one_word - the arg is present and holds no space */
static gboolean
one_word(const struct smg_smtp_cmd *cmd)
{
    return cmd->arg != NULL && strchr(cmd->arg, ' ') == NULL;
}

enum smg_status
smg_smtp_parse_command(const char *line, size_t len, unsigned flags,
                       struct smg_smtp_cmd *cmd, GError **err)
{
    size_t vlen = 0, pos, end;
    gboolean eight = FALSE;

    smg_smtp_cmd_clear(cmd);
    while (vlen < len && line[vlen] != ' ')
        vlen++;
    for (size_t k = 0; k < G_N_ELEMENTS(verb_table); k++)
        if (word_eq(line, vlen, verb_table[k].name))
            cmd->verb = verb_table[k].verb;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) line[i];

        if (is_ctl(c))
            return cmd_fail(cmd, err, 500, "5.5.2",
                            c == 0 ? "Error: NUL character in command"
                                   : "Error: control character in command");
        if (c >= 0x80)
            eight = TRUE;
    }
    if (vlen == 0)
        return cmd_fail(cmd, err, 500, "5.5.2", "Error: bad syntax");
    if (eight && cmd->verb != SMG_SMTP_MAIL && cmd->verb != SMG_SMTP_RCPT)
        return cmd_fail(cmd, err, 500, "5.5.2",
                        "Error: 8-bit characters in command");
    if (cmd->verb == SMG_SMTP_UNKNOWN)
        return cmd_fail(cmd, err, 502, "5.5.2",
                        "Error: command not recognized");

    pos = vlen;
    while (pos < len && line[pos] == ' ')
        pos++;
    end = len;
    while (end > pos && line[end - 1] == ' ')
        end--;
    if (end > pos)
        cmd->arg = g_strndup(line + pos, end - pos);

    switch (cmd->verb) {
    case SMG_SMTP_HELO:
    case SMG_SMTP_EHLO:
        if (!one_word(cmd))
            return cmd_fail(cmd, err, 501, "5.5.4", "Syntax: %s hostname",
                            smg_smtp_verb_name(cmd->verb));
        return SMG_OK;
    case SMG_SMTP_MAIL:
    case SMG_SMTP_RCPT:
        return parse_path(line, end, pos, flags, cmd, err);
    case SMG_SMTP_DATA:
    case SMG_SMTP_RSET:
    case SMG_SMTP_QUIT:
    case SMG_SMTP_STARTTLS:
        if (cmd->arg != NULL)
            return cmd_fail(cmd, err, 501, "5.5.4", "Syntax: %s",
                            smg_smtp_verb_name(cmd->verb));
        return SMG_OK;
    case SMG_SMTP_VRFY:
    case SMG_SMTP_EXPN:
        if (cmd->arg == NULL)
            return cmd_fail(cmd, err, 501, "5.5.4", "Syntax: %s address",
                            smg_smtp_verb_name(cmd->verb));
        return SMG_OK;
    case SMG_SMTP_ETRN:
        if (!one_word(cmd))
            return cmd_fail(cmd, err, 501, "5.5.4", "Syntax: ETRN domain");
        return SMG_OK;
    case SMG_SMTP_AUTH:
        return parse_auth(cmd, err);
    case SMG_SMTP_BDAT:
        return parse_bdat(cmd, err);
    case SMG_SMTP_NOOP:
    case SMG_SMTP_HELP:
    case SMG_SMTP_UNKNOWN:
        break;
    }
    return SMG_OK;
}

void
smg_smtp_cmd_clear(struct smg_smtp_cmd *cmd)
{
    if (cmd == NULL)
        return;
    g_free(cmd->arg);
    smg_addr_clear(&cmd->path);
    g_free(cmd->params);
    g_free(cmd->envid);
    g_free(cmd->envid_xtext);
    g_free(cmd->auth);
    g_free(cmd->auth_xtext);
    g_free(cmd->orcpt_type);
    g_free(cmd->orcpt);
    g_free(cmd->orcpt_xtext);
    g_free(cmd->auth_mech);
    g_free(cmd->auth_initial);
    memset(cmd, 0, sizeof(*cmd));
}

const char *
smg_smtp_verb_name(enum smg_smtp_verb verb)
{
    for (size_t k = 0; k < G_N_ELEMENTS(verb_table); k++)
        if (verb_table[k].verb == verb)
            return verb_table[k].name;
    return "UNKNOWN";
}

/* add_word - append s to out, after a space unless out was empty */
static void
add_word(GString *out, gsize start, const char *s)
{
    if (out->len > start)
        g_string_append_c(out, ' ');
    g_string_append(out, s);
}

void
smg_smtp_format_params(const struct smg_smtp_cmd *cmd, GString *out)
{
    gsize start = out->len;

    if (cmd->verb == SMG_SMTP_MAIL) {
        if (cmd->body != SMG_SMTP_BODY_NONE
            && (size_t) cmd->body < G_N_ELEMENTS(body_names)) {
            add_word(out, start, "BODY=");
            g_string_append(out, body_names[cmd->body]);
        }
        if (cmd->smtputf8)
            add_word(out, start, "SMTPUTF8");
        if (cmd->ret != SMG_SMTP_RET_NONE
            && (size_t) cmd->ret < G_N_ELEMENTS(ret_names)) {
            add_word(out, start, "RET=");
            g_string_append(out, ret_names[cmd->ret]);
        }
        if (cmd->envid != NULL) {
            add_word(out, start, "ENVID=");
            smg_smtp_xtext_encode(out, cmd->envid, strlen(cmd->envid));
        }
        if (cmd->auth != NULL) {
            add_word(out, start, "AUTH=");
            smg_smtp_xtext_encode(out, cmd->auth, strlen(cmd->auth));
        }
    } else if (cmd->verb == SMG_SMTP_RCPT) {
        if (cmd->notify & SMG_SMTP_NOTIFY_NEVER) {
            add_word(out, start, "NOTIFY=NEVER");
        } else if (cmd->notify != 0) {
            const char *sep = "";

            add_word(out, start, "NOTIFY=");
            if (cmd->notify & SMG_SMTP_NOTIFY_SUCCESS) {
                g_string_append(out, "SUCCESS");
                sep = ",";
            }
            if (cmd->notify & SMG_SMTP_NOTIFY_FAILURE) {
                g_string_append_printf(out, "%sFAILURE", sep);
                sep = ",";
            }
            if (cmd->notify & SMG_SMTP_NOTIFY_DELAY)
                g_string_append_printf(out, "%sDELAY", sep);
        }
        if (cmd->orcpt_type != NULL && cmd->orcpt != NULL) {
            add_word(out, start, "ORCPT=");
            g_string_append_printf(out, "%s;", cmd->orcpt_type);
            smg_smtp_xtext_encode(out, cmd->orcpt, strlen(cmd->orcpt));
        }
    }
}

/*
 * reply_line - append "code<sep>dsn text\r\n", control characters in dsn
 * and text made spaces, cut to SMG_SMTP_MAX_REPLY_LINE octets at a UTF-8
 * character boundary.
 */
static void
reply_line(GString *out, int code, char sep, const char *dsn, const char *text)
{
    gsize start = out->len, max = start + SMG_SMTP_MAX_REPLY_LINE - 2;
    const char *parts[2] = {dsn, text};

    if (code < 200 || code > 599) {
        code = 451;
        parts[0] = "4.3.0";
        parts[1] = "Internal error";
    }
    g_string_append_printf(out, "%03d%c", code, sep);
    for (size_t k = 0; k < G_N_ELEMENTS(parts); k++) {
        if (parts[k] == NULL || parts[k][0] == '\0')
            continue;
        if (out->len > start + 4)
            g_string_append_c(out, ' ');
        for (const char *p = parts[k]; *p != '\0'; p++)
            g_string_append_c(out, is_ctl((unsigned char) *p) ? ' ' : *p);
    }
    /* "250", not "250 "; but a challenge is "334" SP [base64] (RFC 4954) */
    if (out->len == start + 4 && sep == ' ' && code != 334)
        g_string_truncate(out, start + 3);
    if (out->len > max) {
        gsize cut = max;

        while (cut > start + 4
               && ((unsigned char) out->str[cut] & 0xc0) == 0x80)
            cut--;
        g_string_truncate(out, cut);
    }
    g_string_append(out, "\r\n");
}

void
smg_smtp_reply(GString *out, int code, const char *dsn, const char *text)
{
    reply_line(out, code, ' ', dsn, text);
}

void
smg_smtp_reply_lines(GString *out, int code, const char *dsn,
                     const char *const *lines, size_t n)
{
    if (n == 0) {
        reply_line(out, code, ' ', dsn, NULL);
        return;
    }
    for (size_t i = 0; i < n; i++)
        reply_line(out, code, i + 1 < n ? '-' : ' ', dsn, lines[i]);
}

void
smg_smtp_reply_error(GString *out, const struct smg_smtp_cmd *cmd,
                     const GError *err)
{
    if (cmd == NULL || err == NULL || cmd->reply_code < 400
        || cmd->reply_code > 599) {
        reply_line(out, 451, ' ', "4.3.0", "Internal error");
        return;
    }
    reply_line(out, cmd->reply_code, ' ', NULL, err->message);
}

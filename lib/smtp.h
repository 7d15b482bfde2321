/*
 * smtp.h - server side of RFC 5321: command parsing and reply formatting.
 *
 * No I/O: smg-recv reads a line (without its CRLF), hands it to
 * smg_smtp_parse_command and writes what smg_smtp_reply formats.  The
 * parser knows the syntax of every command and of the ESMTP parameters
 * smg supports (SIZE RFC 1870, BODY RFC 6152/3030, SMTPUTF8 RFC 6531,
 * RET ENVID NOTIFY ORCPT RFC 3461, AUTH RFC 4954); the session state
 * (what was advertised, whether MAIL came first, size limits) is the
 * caller's.  Every error carries the SMTP reply code (cmd->reply_code) and
 * a GError whose message starts with the enhanced status code, so that
 * smg_smtp_reply_error answers with e.g. "555 5.5.4 Unsupported option:
 * FOO".  The reply codes follow Postfix where RFC 5321 leaves a choice:
 *
 *   500 5.5.2  empty line, NUL or control characters, 8-bit in a command
 *   502 5.5.2  unknown verb (cmd->verb is SMG_SMTP_UNKNOWN)
 *   501 5.5.4  wrong arguments ("Syntax: MAIL FROM:<address>")
 *   501 5.5.2  malformed or duplicate ESMTP parameter, garbage after ">",
 *              an AUTH initial response that is not base64
 *   555 5.5.4  unknown ESMTP parameter, or one of MAIL given to RCPT
 *   501 5.1.7  bad sender address (MAIL), incl. missing angle brackets
 *   501 5.1.3  bad recipient address (RCPT), incl. "<>"
 *   553 5.6.7  non-ASCII address without SMTPUTF8
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_SMTP_H
#define SMG_SMTP_H 1

#include <stddef.h>

#include <glib.h>

#include "lib/addr.h"
#include "lib/status.h"

enum smg_smtp_verb {
    SMG_SMTP_UNKNOWN = 0, /* not a command smg knows: 502 */
    SMG_SMTP_HELO,
    SMG_SMTP_EHLO,
    SMG_SMTP_MAIL,
    SMG_SMTP_RCPT,
    SMG_SMTP_DATA,
    SMG_SMTP_BDAT,
    SMG_SMTP_RSET,
    SMG_SMTP_NOOP,
    SMG_SMTP_QUIT,
    SMG_SMTP_VRFY,
    SMG_SMTP_EXPN,
    SMG_SMTP_HELP,
    SMG_SMTP_STARTTLS,
    SMG_SMTP_AUTH,
    SMG_SMTP_ETRN,
};

enum smg_smtp_body {
    SMG_SMTP_BODY_NONE = 0, /* no BODY parameter */
    SMG_SMTP_BODY_7BIT,
    SMG_SMTP_BODY_8BITMIME,
    SMG_SMTP_BODY_BINARYMIME,
};

enum smg_smtp_ret {
    SMG_SMTP_RET_NONE = 0, /* no RET parameter */
    SMG_SMTP_RET_FULL,
    SMG_SMTP_RET_HDRS,
};

/* NOTIFY flags (RFC 3461); 0 means no NOTIFY parameter */
enum {
    SMG_SMTP_NOTIFY_NEVER = 1 << 0,
    SMG_SMTP_NOTIFY_SUCCESS = 1 << 1,
    SMG_SMTP_NOTIFY_FAILURE = 1 << 2,
    SMG_SMTP_NOTIFY_DELAY = 1 << 3,
};

/* flags of smg_smtp_parse_command */
enum {
    /* the transaction's MAIL carried SMTPUTF8: UTF-8 allowed in RCPT */
    SMG_SMTP_PARSE_SMTPUTF8 = 1 << 0,
};

/* RFC 3461 limits on the decoded ENVID and the ORCPT value, in octets */
#define SMG_SMTP_MAX_ENVID 100
#define SMG_SMTP_MAX_ORCPT 500
/* RFC 5321 4.5.3.1.5: a reply line, CRLF included */
#define SMG_SMTP_MAX_REPLY_LINE 512

/*
 * A parsed command.  Zero it (SMG_SMTP_CMD_ZERO or memset) before its first
 * use; smg_smtp_parse_command clears it again before filling it, and
 * smg_smtp_cmd_clear frees it.  Strings are owned by the struct.
 */
struct smg_smtp_cmd {
    enum smg_smtp_verb verb;
    int reply_code; /* 0 on success; the SMTP code of the error otherwise */
    char *arg;      /* text after the verb and its spaces, trailing spaces
                       cut; NULL if none.  For MAIL/RCPT the whole
                       "FROM:<...> params" */

    /* MAIL and RCPT */
    struct smg_addr path; /* path.addr NULL for the null path "<>" */
    gboolean null_path;   /* MAIL FROM:<> */
    char *params;         /* the parameters as sent, NULL if none */

    /* MAIL parameters */
    gboolean has_size;
    guint64 size; /* SIZE=n, G_MAXUINT64 if n overflows */
    enum smg_smtp_body body;
    gboolean smtputf8;
    enum smg_smtp_ret ret;
    char *envid;       /* ENVID decoded, NULL if absent */
    char *envid_xtext; /* ENVID as sent */
    char *auth;        /* AUTH= decoded ("<>" for unknown), or NULL */
    char *auth_xtext;  /* AUTH= as sent */

    /* RCPT parameters */
    unsigned notify;   /* SMG_SMTP_NOTIFY_* or 0 */
    char *orcpt_type;  /* "rfc822", as sent; NULL if no ORCPT */
    char *orcpt;       /* ORCPT address decoded */
    char *orcpt_xtext; /* ORCPT address as sent (xtext) */

    /* HELO, EHLO: the domain is arg */
    /* AUTH mechanism [initial-response] */
    char *auth_mech;    /* upper-cased, e.g. "PLAIN" */
    char *auth_initial; /* base64 or "=", NULL if absent */

    /* BDAT chunk-size [LAST] */
    guint64 chunk_size;
    gboolean last;
};

/* clang-format off */
#define SMG_SMTP_CMD_ZERO {0}
/* clang-format on */

/*
 * smg_smtp_parse_command - parse one command line line[0..len), without
 * its CRLF and not NUL-terminated, into *cmd (cleared first).  flags is a
 * set of SMG_SMTP_PARSE_*.
 *
 * The verb is case-insensitive and stands alone or is followed by SP;
 * extra spaces between words and trailing spaces are tolerated.  MAIL
 * takes "FROM:" and RCPT "TO:", then optional spaces (as Postfix accepts),
 * then a path in angle brackets; an RFC 5321 source route (@a,@b:u@d) is
 * checked and dropped; MAIL alone may have the null path <>; RCPT accepts
 * the bare <postmaster> (path.domain NULL).  ESMTP parameters are checked
 * and stored in their fields; each may appear once.  UTF-8 is allowed in a
 * MAIL path with the SMTPUTF8 parameter, in a RCPT path with
 * SMG_SMTP_PARSE_SMTPUTF8, and nowhere else.
 *
 * Returns SMG_OK with cmd->reply_code 0, or SMG_PERMFAIL with err set
 * (message "DSN text") and cmd->reply_code and cmd->verb set (the table at
 * the top of this file); the other fields are then unspecified but safe
 * to clear.
 */
enum smg_status smg_smtp_parse_command(const char *line, size_t len,
                                       unsigned flags,
                                       struct smg_smtp_cmd *cmd,
                                       GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_smtp_parse_params - parse the ESMTP parameters s[0..len) of a MAIL
 * (verb SMG_SMTP_MAIL) or RCPT (SMG_SMTP_RCPT) command into the parameter
 * fields of *cmd (and set cmd->verb to verb, so that smg_smtp_format_params
 * works on it), which must be zeroed or freshly cleared: what follows the
 * ">" in the command, or the parameters of an envelope's SMG-Sender or
 * SMG-Recipient field, so that later stages re-validate them.  Leading,
 * trailing and repeated spaces are allowed.  Errors as for
 * smg_smtp_parse_command (501 5.5.2, 555 5.5.4).
 */
enum smg_status smg_smtp_parse_params(enum smg_smtp_verb verb, const char *s,
                                      size_t len, struct smg_smtp_cmd *cmd,
                                      GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_smtp_cmd_clear - free what cmd holds and zero it */
void smg_smtp_cmd_clear(struct smg_smtp_cmd *cmd);

/* smg_smtp_verb_name - "MAIL" for SMG_SMTP_MAIL, "UNKNOWN" otherwise */
const char *smg_smtp_verb_name(enum smg_smtp_verb verb);

/*
 * smg_smtp_format_params - append to out the parameters of a parsed MAIL
 * or RCPT that travel with the message, in canonical form and order,
 * separated by single spaces, without a leading space: for MAIL "BODY=..
 * SMTPUTF8 RET=.. ENVID=<xtext> AUTH=<xtext>" (not SIZE: the next hop gets
 * the real size), for RCPT "NOTIFY=.. ORCPT=type;<xtext>".  This is the
 * form for the envelope's SMG-Sender and SMG-Recipient fields.
 */
void smg_smtp_format_params(const struct smg_smtp_cmd *cmd, GString *out);

/*
 * smg_smtp_esmtp_value - whether s[0..len) is an esmtp-value (RFC 5321
 * 4.1.2): 1*(%d33-60 / %d62-126), printable ASCII but "="
 */
gboolean smg_smtp_esmtp_value(const char *s, size_t len);

/*
 * smg_smtp_xtext_valid - whether s[0..len) is RFC 3461 xtext: octets "!"
 * to "~" except "+" and "=", or "+" and two hex digits (upper case when
 * strict, as RFC 3461 says; either case otherwise) not encoding NUL.
 */
gboolean smg_smtp_xtext_valid(const char *s, size_t len, gboolean strict);

/*
 * smg_smtp_xtext_decode - the decoded xtext s[0..len) as a new
 * NUL-terminated string (g_free), or NULL if s is not valid xtext (either
 * case of hex digits accepted) or encodes a NUL.
 */
char *smg_smtp_xtext_decode(const char *s,
                            size_t len) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_smtp_xtext_encode - append the xtext encoding of s[0..len) to out:
 * "+", "=", '"' (which an envelope value must not hold: it would be read
 * as a quoted string) and octets outside "!".."~" become "+XX"
 * (upper-case hex).
 */
void smg_smtp_xtext_encode(GString *out, const char *s, size_t len);

/*
 * smg_smtp_reply - append one reply line "code dsn text\r\n" to out.  dsn
 * or text may be NULL (or "") to leave them out.  CR, LF and other control
 * characters in text are replaced by spaces, and text is cut so that the
 * line is at most SMG_SMTP_MAX_REPLY_LINE octets.  code must be 200..599.
 */
void smg_smtp_reply(GString *out, int code, const char *dsn, const char *text);

/*
 * smg_smtp_reply_lines - append a multiline reply: "code-line\r\n" for each
 * of the n lines but the last, "code line\r\n" for the last; dsn (may be
 * NULL, as in EHLO replies) is put after the code on every line, as RFC
 * 2034 asks.  Lines are cleaned and cut as by smg_smtp_reply.  n == 0
 * gives one line with no text.
 */
void smg_smtp_reply_lines(GString *out, int code, const char *dsn,
                          const char *const *lines, size_t n);

/*
 * smg_smtp_reply_error - append the reply for a parse error:
 * "<cmd->reply_code> <err->message>\r\n" (err's message starts with its
 * enhanced status code).  A reply_code of 0 or a NULL err gives
 * "451 4.3.0 Internal error" (never a 2xx by mistake).
 */
void smg_smtp_reply_error(GString *out, const struct smg_smtp_cmd *cmd,
                          const GError *err);

#endif

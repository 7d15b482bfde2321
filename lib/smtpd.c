/*
 * smtpd.c - one ESMTP session of smg-recv (see smtpd.h, smg-recv(8)).
 *
 * The session is a loop of read command, parse (lib/smtp), check state,
 * reply.  Replies are queued in netio and flushed when the client has no
 * more pipelined input, so a PIPELINING client gets them in one write.
 * Limits follow Postfix's defaults: error and junk-command counters end a
 * session with 421 (both start again after each message queued, and
 * recipients over the limit count as errors only past an overshoot, as
 * RFC 5321 4.5.3.1.10 asks a client to send them again later), every read
 * has a time-out (421), message and header size, line length and
 * recipient count have their own codes.
 *
 * The DATA reader enforces RFC 5321's line ending: only CRLF ends a line,
 * and only CRLF "." CRLF ends the data.  A bare LF or bare CR anywhere in
 * the data makes the message refused after the real end (SMTP smuggling,
 * CVE-2023-51764): the stream is still read to CRLF.CRLF so the session
 * stays in step with the client.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "lib/addr.h"
#include "lib/auth.h"
#include "lib/customers.h"
#include "lib/dns.h"
#include "lib/envelope.h"
#include "lib/log.h"
#include "lib/netio.h"
#include "lib/ratelimit.h"
#include "lib/smtp.h"
#include "lib/smtpd.h"
#include "lib/spool.h"
#include "lib/tls.h"

#define QUEUE_OUT "check"
/* recipients over max_recipients refused before they count as errors
 * (Postfix's smtpd_recipient_overshoot_limit) */
#define RCPT_OVERSHOOT 1000

enum auth_mode { AUTH_REQUIRED, AUTH_OPTIONAL, AUTH_OFF };

struct smg_smtpd_env {
    const struct smg_conf *conf;
    struct smg_spool *spool;
    struct smg_dns *dns;        /* NULL: no sender domain check */
    struct smg_auth *auth;      /* NULL: AUTH off */
    struct smg_ratelimit *rl;   /* NULL: no rate limit */
    struct smg_customers *owners; /* [recv] customer_domains; NULL: any sender */
    SSL_CTX *tls;               /* NULL: no STARTTLS */
    enum auth_mode auth_mode;
    const char *hostname;
    char *postmaster; /* where RCPT TO:<Postmaster> goes */
    gint64 min_free;
    gint64 max_size, max_header;
    gint64 max_hops;            /* Received: fields, ours included */
    gint64 max_rcpts, max_line, max_data_line;
    gint64 cmd_timeout, data_timeout;
    gint64 max_errors, max_junk, max_auth_failures, auth_delay, max_messages;
};

struct session {
    struct smg_smtpd_env *env;
    struct smg_netio *io;
    const char *client;
    char *helo;
    gboolean esmtp;
    char *auth_user;
    /* the transaction */
    struct smg_envelope *tx;
    gboolean tx_smtputf8;
    guint nrcpt;          /* RCPT commands accepted, duplicates too */
    GHashTable *rcpt_seen; /* recipients of tx, by rcpt_key */
    /* counters */
    gint64 errors, junk, auth_failures, messages;
    guint overshoot; /* recipients refused over max_recipients in this transaction */
    gboolean quit;
    enum smg_status result;
};

enum smg_status
smg_smtpd_setup(const struct smg_conf *conf, struct smg_smtpd_env **out,
                GError **err)
{
    struct smg_smtpd_env *env = g_new0(struct smg_smtpd_env, 1);
    const char *mode = smg_conf_str(conf, "recv", "auth");
    enum smg_status st;
    char hostbuf[256];

    env->conf = conf;
    env->hostname = smg_conf_str(conf, "recv", "hostname");
    if (env->hostname == NULL) {
        if (gethostname(hostbuf, sizeof hostbuf) != 0)
            g_strlcpy(hostbuf, "localhost", sizeof hostbuf);
        hostbuf[sizeof hostbuf - 1] = '\0';
        env->hostname = g_intern_string(hostbuf);
    }
    /* (a set one was checked when the file was read) */
    env->postmaster = smg_conf_str(conf, "recv", "postmaster") != NULL
                          ? g_strdup(smg_conf_str(conf, "recv", "postmaster"))
                          : g_strdup_printf("postmaster@%s", env->hostname);
    env->auth_mode = strcmp(mode, "required") == 0   ? AUTH_REQUIRED
                     : strcmp(mode, "optional") == 0 ? AUTH_OPTIONAL
                                                     : AUTH_OFF;
    env->min_free = smg_conf_int(conf, "spool", "min_free");
    env->max_size = smg_conf_int(conf, "recv", "max_message_size");
    env->max_header = smg_conf_int(conf, "recv", "max_header_size");
    env->max_hops = smg_conf_int(conf, "recv", "max_hops");
    env->max_rcpts = smg_conf_int(conf, "recv", "max_recipients");
    env->max_line = smg_conf_int(conf, "recv", "max_line_length");
    env->max_data_line = smg_conf_int(conf, "recv", "max_data_line_length");
    env->cmd_timeout = smg_conf_int(conf, "recv", "command_timeout");
    env->data_timeout = smg_conf_int(conf, "recv", "data_timeout");
    env->max_errors = smg_conf_int(conf, "recv", "max_errors");
    env->max_junk = smg_conf_int(conf, "recv", "max_junk_commands");
    env->max_auth_failures = smg_conf_int(conf, "recv", "max_auth_failures");
    env->auth_delay = smg_conf_int(conf, "recv", "auth_failure_delay");
    env->max_messages = smg_conf_int(conf, "recv", "max_messages");

    if (smg_conf_bool(conf, "recv", "tls")) {
        st = smg_tls_server_ctx(smg_conf_str(conf, "recv", "tls_cert"),
                                smg_conf_str(conf, "recv", "tls_key"), &env->tls, err);
        if (st != SMG_OK)
            goto fail;
    }
    if (env->auth_mode != AUTH_OFF) {
        if (env->tls == NULL) {
            smg_set_error(err, SMG_CONFIG, NULL,
                          "%s: [recv] auth = %s needs tls = yes (AUTH is offered over TLS only)",
                          smg_conf_path(conf), mode);
            st = SMG_CONFIG;
            goto fail;
        }
        st = smg_auth_load(smg_conf_str(conf, "recv", "credentials"), &env->auth, err);
        if (st != SMG_OK)
            goto fail;
    }
    st = smg_ratelimit_open(conf, &env->rl, err);
    if (st != SMG_OK)
        goto fail;
    if (smg_conf_str(conf, "recv", "customer_domains") != NULL) {
        st = smg_customers_load(smg_conf_str(conf, "recv", "customer_domains"), &env->owners,
                                err);
        if (st != SMG_OK)
            goto fail;
    }
    if (smg_conf_bool(conf, "recv", "sender_domain_check")) {
        st = smg_dns_new(conf, &env->dns, err);
        if (st != SMG_OK)
            goto fail;
    }
    *out = env;
    return SMG_OK;
fail:
    smg_smtpd_free(env);
    return st;
}

enum smg_status
smg_smtpd_open_spool(struct smg_smtpd_env *env, GError **err)
{
    enum smg_status st;

    st = smg_spool_open_conf(env->conf, &env->spool, err);
    if (st == SMG_OK)
        st = smg_spool_ensure(env->spool, QUEUE_OUT, err);
    return st;
}

void
smg_smtpd_free(struct smg_smtpd_env *env)
{
    if (env == NULL)
        return;
    if (env->tls != NULL)
        SSL_CTX_free(env->tls);
    g_free(env->postmaster);
    smg_auth_free(env->auth);
    smg_ratelimit_free(env->rl);
    smg_customers_free(env->owners);
    smg_dns_free(env->dns);
    smg_spool_close(env->spool);
    g_free(env);
}

/* say - queue one reply line "code dsn text" */
static void
say(struct session *s, int code, const char *dsn, const char *text)
{
    GString *out = g_string_new(NULL);

    smg_smtp_reply(out, code, dsn, text);
    smg_netio_write(s->io, out->str, out->len);
    g_string_free(out, TRUE);
}

/* reply - say, with a format, and count a 4xx or 5xx as an error */
static void
reply(struct session *s, int code, const char *dsn, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static void
reply(struct session *s, int code, const char *dsn, const char *fmt, ...)
{
    va_list ap;
    char *text;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    say(s, code, dsn, text);
    if (code >= 400)
        s->errors++;
    g_free(text);
}

/* hangup - send a final 421 and end the session */
static void
hangup(struct session *s, const char *dsn, const char *text)
{
    reply(s, 421, dsn, "%s %s", s->env->hostname, text);
    (void) smg_netio_flush(s->io);
    s->quit = TRUE;
}

/* timed_out - end the session after a read timed out: 421, then exit 75
 * (smg_smtpd_session's SMG_TEMPFAIL), wherever in the session it was */
static void
timed_out(struct session *s)
{
    hangup(s, "4.4.2", "Error: timeout exceeded");
    s->result = SMG_TEMPFAIL;
}

/* tx_reset - forget the mail transaction */
static void
tx_reset(struct session *s)
{
    smg_envelope_free(s->tx);
    s->tx = NULL;
    s->tx_smtputf8 = FALSE;
    s->nrcpt = 0;
    g_clear_pointer(&s->rcpt_seen, g_hash_table_destroy);
    s->overshoot = 0;
}

/* customer - the rate-limit and SMG-Customer key of this session */
static char *
customer(const struct session *s)
{
    if (s->auth_user != NULL)
        return g_strdup(s->auth_user);
    return g_strconcat("addr:", s->client, NULL);
}

/* do_ehlo - HELO and EHLO */
static void
do_ehlo(struct session *s, const struct smg_smtp_cmd *cmd)
{
    GPtrArray *lines;
    size_t word;

    if (cmd->arg == NULL || *cmd->arg == '\0') {
        reply(s, 501, "5.5.4", "Syntax: %s hostname", smg_smtp_verb_name(cmd->verb));
        return;
    }
    /* PIPELINING is only allowed once the client has seen our EHLO reply */
    if (smg_netio_pending(s->io)) {
        reply(s, 554, "5.5.0", "Error: SMTP protocol synchronization (pipelining before EHLO reply)");
        (void) smg_netio_flush(s->io);
        smg_log_info("client=%s, reject=pipelining before EHLO reply", s->client);
        s->quit = TRUE;
        return;
    }
    /* one word: it goes into SMG-Client and Received: as is, so it must
     * not be longer than a domain can be (RFC 5321 4.5.3.1.2: 255 octets),
     * or the Received: line could pass RFC 5322's 998 (max_line_length
     * is up to 1 MiB); refused as Exim refuses a HELO that is no name */
    word = strcspn(cmd->arg, " \t");
    if (word > SMG_ADDR_MAX_DOMAIN) {
        reply(s, 501, "5.5.2", "Syntax: %s hostname (longer than %d octets)",
              smg_smtp_verb_name(cmd->verb), SMG_ADDR_MAX_DOMAIN);
        return;
    }
    tx_reset(s);
    g_free(s->helo);
    s->helo = g_strndup(cmd->arg, word);
    if (cmd->verb == SMG_SMTP_HELO) {
        s->esmtp = FALSE;
        reply(s, 250, NULL, "%s", s->env->hostname);
        return;
    }
    s->esmtp = TRUE;
    lines = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(lines, g_strdup(s->env->hostname));
    g_ptr_array_add(lines, g_strdup("PIPELINING"));
    g_ptr_array_add(lines, g_strdup_printf("SIZE %" G_GINT64_FORMAT, s->env->max_size));
    if (s->env->tls != NULL && smg_netio_ssl(s->io) == NULL)
        g_ptr_array_add(lines, g_strdup("STARTTLS"));
    if (s->env->auth != NULL && smg_netio_ssl(s->io) != NULL && s->auth_user == NULL)
        g_ptr_array_add(lines, g_strdup("AUTH PLAIN LOGIN"));
    g_ptr_array_add(lines, g_strdup("ENHANCEDSTATUSCODES"));
    g_ptr_array_add(lines, g_strdup("8BITMIME"));
    g_ptr_array_add(lines, g_strdup("DSN"));
    g_ptr_array_add(lines, g_strdup("SMTPUTF8"));
    {
        GString *out = g_string_new(NULL);
        smg_smtp_reply_lines(out, 250, NULL, (const char *const *) lines->pdata, lines->len);
        smg_netio_write(s->io, out->str, out->len);
        g_string_free(out, TRUE);
    }
    g_ptr_array_free(lines, TRUE);
}

/* do_starttls - RFC 3207 */
static void
do_starttls(struct session *s, const struct smg_smtp_cmd *cmd)
{
    GError *err = NULL;
    enum smg_netio_rc rc;

    if (cmd->arg != NULL) {
        reply(s, 501, "5.5.4", "Syntax: STARTTLS");
        return;
    }
    if (s->env->tls == NULL) {
        reply(s, 454, "4.7.0", "TLS not available");
        return;
    }
    if (smg_netio_ssl(s->io) != NULL) {
        reply(s, 503, "5.5.1", "Error: TLS already active");
        return;
    }
    reply(s, 220, "2.0.0", "Ready to start TLS");
    /* the 220 goes out here, not in smg_netio_tls_accept, which gives
     * 4.4.2 for a client that is gone as for one that does not read: only
     * the time-out is ours to retry (75), a client that left is an end
     * like any other (0, smg-recv(8)) */
    if ((rc = smg_netio_flush(s->io)) != SMG_NETIO_OK) {
        smg_log_info("client=%s, tls=failed, reason=%s before TLS", s->client,
                     smg_netio_rc_name(rc));
        if (rc == SMG_NETIO_TIMEOUT)
            s->result = SMG_TEMPFAIL;
        s->quit = TRUE;
        return;
    }
    if (smg_netio_tls_accept(s->io, s->env->tls, &err) != SMG_OK) {
        smg_log_info("client=%s, tls=failed, reason=%s", s->client, err->message);
        /* a time-out ends the session with 75, wherever it happens (no
           421: the connection is neither clear text nor TLS now) */
        if (g_str_has_prefix(err->message, "4.4.2 "))
            s->result = SMG_TEMPFAIL;
        g_error_free(err);
        s->quit = TRUE;
        return;
    }
    {
        char *d = smg_tls_describe(smg_netio_ssl(s->io));
        smg_log_info("client=%s, tls=%s", s->client, d);
        g_free(d);
    }
    /* RFC 3207 4.2: forget everything learnt before TLS */
    tx_reset(s);
    g_free(s->helo);
    s->helo = NULL;
    s->esmtp = FALSE;
}

/* auth_read - read one SASL response line; FALSE if the session ended */
static gboolean
auth_read(struct session *s, const char *challenge, char **out)
{
    GString *line = g_string_new(NULL);
    enum smg_netio_eol eol;
    enum smg_netio_rc rc;

    reply(s, 334, NULL, "%s", challenge);
    rc = smg_netio_getline(s->io, line, (gsize) s->env->max_line, &eol);
    if (rc == SMG_NETIO_TIMEOUT) {
        timed_out(s);
    } else if (rc != SMG_NETIO_OK && rc != SMG_NETIO_TOOLONG) {
        s->quit = TRUE;
    }
    if (s->quit) {
        smg_auth_wipe(line->str, line->allocated_len);
        g_string_free(line, TRUE);
        return FALSE;
    }
    if (rc == SMG_NETIO_TOOLONG)
        g_string_assign(line, "!"); /* invalid base64: a 501 follows */
    *out = g_strndup(line->str, line->len);
    smg_auth_wipe(line->str, line->allocated_len);
    g_string_free(line, TRUE);
    return TRUE;
}

/* auth_fail - a wrong password: answer slowly, count, maybe hang up */
static void
auth_fail(struct session *s, const char *user)
{
    s->auth_failures++;
    smg_log_info("client=%s, sasl_username=%s, status=auth-failed, failures=%" G_GINT64_FORMAT,
                 s->client, user != NULL ? user : "", s->auth_failures);
    if (s->env->auth_delay > 0)
        g_usleep((gulong) s->env->auth_delay * G_USEC_PER_SEC);
    if (s->auth_failures >= s->env->max_auth_failures) {
        reply(s, 535, "5.7.8", "Error: authentication failed");
        hangup(s, "4.7.0", "Error: too many authentication failures");
        return;
    }
    reply(s, 535, "5.7.8", "Error: authentication failed");
}

/* do_auth - RFC 4954 with PLAIN (RFC 4616) and LOGIN */
static void
do_auth(struct session *s, const struct smg_smtp_cmd *cmd)
{
    char *resp = NULL, *authzid = NULL, *user = NULL, *pass = NULL;
    GError *err = NULL;
    enum smg_status st;

    if (s->env->auth == NULL) {
        reply(s, 503, "5.5.1", "Error: authentication not enabled");
        return;
    }
    if (smg_netio_ssl(s->io) == NULL) {
        reply(s, 538, "5.7.11", "Encryption required for requested authentication mechanism");
        return;
    }
    if (!s->esmtp) {
        reply(s, 503, "5.5.1", "Error: send EHLO first");
        return;
    }
    if (s->auth_user != NULL) {
        reply(s, 503, "5.5.1", "Error: already authenticated");
        return;
    }
    if (s->tx != NULL) {
        reply(s, 503, "5.5.1", "Error: MAIL transaction in progress");
        return;
    }
    if (cmd->auth_mech == NULL) {
        reply(s, 501, "5.5.4", "Syntax: AUTH mechanism");
        return;
    }
    if (strcmp(cmd->auth_mech, "PLAIN") == 0) {
        if (cmd->auth_initial != NULL)
            resp = g_strdup(strcmp(cmd->auth_initial, "=") == 0 ? "" : cmd->auth_initial);
        else if (!auth_read(s, "", &resp))
            return;
        if (strcmp(resp, "*") == 0) {
            reply(s, 501, "5.7.0", "Authentication aborted");
            goto out;
        }
        st = smg_auth_plain_decode(resp, &authzid, &user, &pass, &err);
    } else if (strcmp(cmd->auth_mech, "LOGIN") == 0) {
        char *r2 = NULL;
        /* "=" is an empty initial response (RFC 4954 4), as for PLAIN */
        if (cmd->auth_initial != NULL)
            resp = g_strdup(strcmp(cmd->auth_initial, "=") == 0 ? "" : cmd->auth_initial);
        else if (!auth_read(s, "VXNlcm5hbWU6", &resp))
            return;
        if (strcmp(resp, "*") == 0) {
            reply(s, 501, "5.7.0", "Authentication aborted");
            goto out;
        }
        st = smg_auth_b64_decode_text(resp, &user, &err);
        if (st == SMG_OK) {
            if (!auth_read(s, "UGFzc3dvcmQ6", &r2))
                goto out;
            if (strcmp(r2, "*") == 0) {
                smg_auth_secret_free(r2);
                reply(s, 501, "5.7.0", "Authentication aborted");
                goto out;
            }
            st = smg_auth_b64_decode_text(r2, &pass, &err);
            smg_auth_secret_free(r2);
        }
    } else {
        reply(s, 504, "5.5.4", "Unrecognized authentication type");
        return;
    }
    if (st != SMG_OK) {
        reply(s, 501, "5.5.2", "Error: %s", err->message + 6);
        g_clear_error(&err);
        goto out;
    }
    if (smg_auth_check(s->env->auth, user, pass) != SMG_OK) {
        auth_fail(s, user);
        goto out;
    }
    s->auth_user = g_strdup(user);
    smg_log_info("client=%s, sasl_method=%s, sasl_username=%s", s->client,
                 cmd->auth_mech, user);
    reply(s, 235, "2.7.0", "Authentication successful");
out:
    smg_auth_secret_free(resp);
    smg_auth_secret_free(pass);
    g_free(authzid);
    g_free(user);
}

/* do_mail - MAIL FROM */
static void
do_mail(struct session *s, const struct smg_smtp_cmd *cmd)
{
    const char *sender = cmd->null_path ? "" : cmd->path.addr;
    GString *params;
    GError *err = NULL;

    if (s->helo == NULL) {
        reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
        return;
    }
    if (s->tx != NULL) {
        reply(s, 503, "5.5.1", "Error: nested MAIL command");
        return;
    }
    if (s->env->auth_mode == AUTH_REQUIRED && s->auth_user == NULL) {
        reply(s, 530, "5.7.0", "Authentication required");
        return;
    }
    if (!s->esmtp && (cmd->params != NULL)) {
        reply(s, 555, "5.5.4", "Error: ESMTP parameters need EHLO");
        return;
    }
    if (cmd->auth != NULL && s->env->auth == NULL) {
        /* AUTH is never offered (auth = off): a parameter of an extension
         * not offered is refused (RFC 5321 4.1.1.11), as Postfix does
         * without SASL, rather than stored as the client claims it */
        reply(s, 555, "5.5.4", "Error: AUTH is not offered (unsupported option AUTH=)");
        return;
    }
    if (cmd->body == SMG_SMTP_BODY_BINARYMIME) {
        /* RFC 3030: only with CHUNKING (BDAT), which is not offered */
        reply(s, 555, "5.5.4", "Error: BODY=BINARYMIME is not offered");
        return;
    }
    if (s->env->max_messages > 0 && s->messages >= s->env->max_messages) {
        /* 4.5.3 would say too many recipients (RFC 3463); a session that
         * has had its share ends, and the client goes on over a new one,
         * as after Exim's smtp_accept_max_per_connection */
        hangup(s, "4.7.0", "Error: too many messages in one session");
        return;
    }
    if (cmd->has_size && cmd->size > (guint64) s->env->max_size) {
        reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
        return;
    }
    {
        gint64 avail = smg_spool_free_bytes(s->env->spool);
        guint64 need = (guint64) s->env->min_free + (cmd->has_size ? cmd->size : 0);
        if (avail >= 0 && (guint64) avail < need + 4096) {
            smg_log_warn("client=%s, reject=insufficient spool space, free=%" G_GINT64_FORMAT,
                         s->client, avail);
            reply(s, 452, "4.3.1", "Insufficient system storage");
            return;
        }
    }
    if (s->env->owners != NULL && s->auth_user != NULL && *sender != '\0'
        && !smg_customers_covers(smg_customers_domains(s->env->owners, s->auth_user),
                                 smg_addr_domain(sender))) {
        /* a customer sends as itself only (Postfix's
         * reject_sender_login_mismatch): not in another's domain */
        smg_log_info("client=%s, customer=%s, from=<%s>, reject=553 5.7.1, "
                     "reason=sender domain not the customer's",
                     s->client, s->auth_user, sender);
        reply(s, 553, "5.7.1", "<%s>: Sender address rejected: not owned by user %s", sender,
              s->auth_user);
        return;
    }
    if (s->env->dns != NULL && *sender != '\0') {
        const char *domain = smg_addr_domain(sender);
        enum smg_dns_domain res = SMG_DNS_DOMAIN_OK;
        char *detail = NULL;

        if (domain != NULL && !smg_addr_is_domain_literal(domain)) {
            enum smg_status st = smg_dns_domain_check(s->env->dns, domain, &res, &detail, &err);
            if (st != SMG_OK) {
                smg_log_info("client=%s, from=<%s>, reject=451 4.4.3, reason=%s",
                             s->client, sender, err->message);
                reply(s, 451, "4.4.3", "Sender domain lookup failed, try again later");
                g_clear_error(&err);
                g_free(detail);
                return;
            }
            if (res != SMG_DNS_DOMAIN_OK) {
                smg_log_info("client=%s, from=<%s>, reject=550 5.1.8, reason=%s",
                             s->client, sender,
                             res == SMG_DNS_DOMAIN_NULLMX ? "null MX" : "no MX or address record");
                reply(s, 550, "5.1.8", "Sender Domain must resolve");
                g_free(detail);
                return;
            }
        }
        g_free(detail);
    }
    if (s->env->rl != NULL) {
        char *cust = customer(s);
        gboolean allowed = FALSE;
        enum smg_status st = smg_ratelimit_take(s->env->rl, cust, 0, &allowed, &err);

        if (st != SMG_OK) {
            smg_log_warn("client=%s, ratelimit error: %s", s->client, err->message);
            g_clear_error(&err);
            reply(s, 451, "4.3.0", "Error: temporary failure, try again later");
            g_free(cust);
            return;
        }
        if (!allowed) {
            smg_log_info("client=%s, customer=%s, reject=451 4.7.1 Ratelimit reached",
                         s->client, cust);
            reply(s, 451, "4.7.1", "Ratelimit reached");
            g_free(cust);
            return;
        }
        g_free(cust);
    }
    s->tx = smg_envelope_new();
    s->tx->sender = g_strdup(sender);
    params = g_string_new(NULL);
    smg_smtp_format_params(cmd, params);
    s->tx->sender_params = g_string_free(params, FALSE);
    s->tx_smtputf8 = cmd->smtputf8;
    reply(s, 250, "2.1.0", "Ok");
}

/* rcpt_key - addr as a duplicate is known by: the local part as it is
 * (RFC 5321 2.4 leaves its case to the receiving host), the domain in
 * the form smg-send looks it up in (A-labels, lower case), so that
 * bücher.test, BÜCHER.test and xn--bcher-kva.test are one domain */
static char *
rcpt_key(const char *addr)
{
    const char *d = smg_addr_domain(addr);
    char *dom, *key;

    if (d == NULL)
        return g_strdup(addr);
    dom = smg_addr_domain_key(d);
    key = g_strdup_printf("%.*s%s", (int) (d - addr), addr, dom);
    g_free(dom);
    return key;
}

/* do_rcpt - RCPT TO */
static void
do_rcpt(struct session *s, const struct smg_smtp_cmd *cmd)
{
    GString *params;
    const char *addr;
    char *key;

    if (s->tx == NULL) {
        reply(s, 503, "5.5.1", "Error: need MAIL command");
        return;
    }
    if (!s->esmtp && cmd->params != NULL) {
        reply(s, 555, "5.5.4", "Error: ESMTP parameters need EHLO");
        return;
    }
    if (s->nrcpt >= (guint) s->env->max_rcpts) {
        /* the client is to send these again in another transaction
         * (RFC 5321 4.5.3.1.10): an error only past Postfix's
         * smtpd_recipient_overshoot_limit */
        if (++s->overshoot > RCPT_OVERSHOOT)
            reply(s, 452, "4.5.3", "Error: too many recipients");
        else
            say(s, 452, "4.5.3", "Error: too many recipients");
        return;
    }
    /* RFC 5321 4.5.1: a relay takes <Postmaster>, in any case, for its
     * operators (the one address the parser lets through without a
     * domain) */
    addr = cmd->path.domain != NULL ? cmd->path.addr : s->env->postmaster;
    /* a recipient given twice is delivered once, with the parameters of
     * its first RCPT (as Postfix's cleanup does); it still counts towards
     * max_recipients, which bounds the commands of a transaction */
    if (s->rcpt_seen == NULL)
        s->rcpt_seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    key = rcpt_key(addr);
    if (g_hash_table_add(s->rcpt_seen, key)) {
        params = g_string_new(NULL);
        smg_smtp_format_params(cmd, params);
        smg_envelope_add_rcpt(s->tx, addr, params->str);
        g_string_free(params, TRUE);
    }
    s->nrcpt++;
    reply(s, 250, "2.1.5", "Ok");
}

/* rfc2822_date - the current time as an RFC 5322 date-time */
static char *
rfc2822_date(void)
{
    /* once a process: with TZ unset, g_time_zone_new_local() looks up
     * /etc/localtime again at every call (a stat and a readlink) */
    static GTimeZone *local;
    GDateTime *now;
    char *d;

    if (local == NULL)
        local = g_time_zone_new_local();
    now = g_date_time_new_now(local);
    d = g_date_time_format(now, "%a, %d %b %Y %H:%M:%S %z");
    g_date_time_unref(now);
    return d;
}

/* iso_now - the current UTC time, ISO 8601 */
static char *
iso_now(void)
{
    GDateTime *now = g_date_time_new_now_utc();
    char *d = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");

    g_date_time_unref(now);
    return d;
}

/* write_head - the envelope fields and our Received: field */
static void
write_head(struct session *s, const char *id, FILE *fp)
{
    GString *h = g_string_sized_new(1024);
    SSL *ssl = smg_netio_ssl(s->io);
    char *date = rfc2822_date();
    char *arrival = iso_now();
    char *client, *helo;
    const char *proto;

    s->tx->queue_id = g_strdup(id);
    /* a '"' in the HELO name would open a quoted value that hides the
     * keys after it from smg_envelope_param (smg-envelope(5)) */
    helo = g_strdelimit(g_strdup(s->helo), "\"", '\'');
    client = g_strdup_printf("addr=%s helo=%s tls=%s auth=%s", s->client,
                             helo, ssl != NULL ? smg_tls_version(ssl) : "none",
                             s->auth_user != NULL ? s->auth_user : "none");
    smg_envelope_set(s->tx, "Client", client);
    g_free(client);
    g_free(helo);
    if (s->auth_user != NULL)
        smg_envelope_set(s->tx, "Customer", s->auth_user);
    smg_envelope_set(s->tx, "Arrival", arrival);
    smg_envelope_write(s->tx, h);
    /* RFC 3848 protocol names tell TLS and AUTH; a message sent with
     * SMTPUTF8 (which needs EHLO) has RFC 6531's (3.7.3) */
    if (s->tx_smtputf8)
        proto = ssl != NULL ? (s->auth_user != NULL ? "UTF8SMTPSA" : "UTF8SMTPS")
                            : (s->auth_user != NULL ? "UTF8SMTPA" : "UTF8SMTP");
    else if (s->esmtp)
        proto = ssl != NULL ? (s->auth_user != NULL ? "ESMTPSA" : "ESMTPS")
                            : (s->auth_user != NULL ? "ESMTPA" : "ESMTP");
    else
        proto = "SMTP";
    /* RFC 5321 4.4: TCP-info is an address literal, "[IPv6:...]" for IPv6 */
    g_string_append_printf(h, "Received: from %s ([%s%s])\n", s->helo,
                           strchr(s->client, ':') != NULL ? "IPv6:" : "", s->client);
    if (ssl != NULL) {
        const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
        int bits = 0, alg = 0;
        if (c != NULL)
            bits = SSL_CIPHER_get_bits(c, &alg);
        g_string_append_printf(h, "\t(using %s with cipher %s (%d/%d bits))\n",
                               SSL_get_version(ssl), c != NULL ? SSL_CIPHER_get_name(c) : "none",
                               bits, alg);
    }
    g_string_append_printf(h, "\tby %s (smg) with %s id %s", s->env->hostname, proto, id);
    if (s->tx->rcpts->len == 1)
        g_string_append_printf(h, "\n\tfor <%s>",
                               ((struct smg_rcpt *) s->tx->rcpts->pdata[0])->addr);
    g_string_append_printf(h, ";\n\t%s\n", date);
    fwrite(h->str, 1, h->len, fp);
    g_string_free(h, TRUE);
    g_free(date);
    g_free(arrival);
}

enum data_problem {
    DATA_OK = 0,
    DATA_BARE,      /* bare CR or LF */
    DATA_TOOBIG,
    DATA_HEADER,
    DATA_LINE,
    DATA_NUL,
    DATA_HOPS,      /* more Received: fields than max_hops: a mail loop */
};

/* received_field - whether a header line starts a Received: field */
static gboolean
received_field(const char *text, gsize len)
{
    gsize n = sizeof "Received" - 1;

    if (len <= n || g_ascii_strncasecmp(text, "Received", n) != 0)
        return FALSE;
    while (n < len && (text[n] == ' ' || text[n] == '\t'))
        n++;
    return n < len && text[n] == ':';
}

/* read_data - read the message to CRLF.CRLF into the spool file */
static enum smg_netio_rc
read_data(struct session *s, FILE *fp, gint64 *size, enum data_problem *problem)
{
    GString *line = g_string_sized_new(1024);
    enum smg_netio_eol eol;
    enum smg_netio_rc rc;
    gboolean in_header = TRUE, skipping_smg = FALSE;
    gboolean after_crlf = TRUE; /* "." ends the data only after a CRLF */
    gint64 header_size = 0;
    gint64 hops = 1; /* our own Received: field */

    *size = 0;
    *problem = DATA_OK;
    smg_netio_set_timeout(s->io, (int) s->env->data_timeout * 1000);
    for (;;) {
        const char *text;
        gsize len;

        rc = smg_netio_getline(s->io, line, (gsize) s->env->max_data_line, &eol);
        if (rc == SMG_NETIO_TOOLONG) {
            if (*problem == DATA_OK)
                *problem = DATA_LINE;
            /* a too-long line that ends in a bare LF is no CRLF either */
            after_crlf = eol == SMG_NETIO_CRLF;
            continue;
        }
        if (rc != SMG_NETIO_OK)
            break;
        if (eol == SMG_NETIO_LF || memchr(line->str, '\r', line->len) != NULL) {
            /* never an end of data, whatever it looks like */
            if (*problem == DATA_OK)
                *problem = DATA_BARE;
            after_crlf = eol == SMG_NETIO_CRLF;
            continue;
        }
        if (line->len == 1 && line->str[0] == '.' && after_crlf)
            break;
        after_crlf = TRUE;
        if (*problem != DATA_OK)
            continue;
        text = line->str;
        len = line->len;
        if (len > 0 && text[0] == '.') {
            text++;
            len--;
        }
        if (memchr(text, '\0', len) != NULL) {
            *problem = DATA_NUL;
            continue;
        }
        *size += (gint64) len + 2;
        if (*size > s->env->max_size) {
            *problem = DATA_TOOBIG;
            continue;
        }
        if (in_header) {
            header_size += (gint64) len + 2;
            if (header_size > s->env->max_header) {
                *problem = DATA_HEADER;
                continue;
            }
            if (len == 0) {
                in_header = FALSE;
            } else if (text[0] == ' ' || text[0] == '\t') {
                if (header_size == (gint64) len + 2) {
                    /* the first line: a continuation of nothing would
                     * continue our Received: field, so the body starts
                     * here (as Postfix's smtpd does) */
                    in_header = FALSE;
                    fputc('\n', fp);
                } else if (skipping_smg) {
                    continue;
                }
            } else {
                /* an SMG-* field, that is: a line without a colon is
                 * no field but the body's first line, whatever it
                 * starts with, and is kept as such */
                skipping_smg = len >= 4 && g_ascii_strncasecmp(text, "SMG-", 4) == 0
                               && memchr(text, ':', len) != NULL;
                if (skipping_smg)
                    continue;
                if (received_field(text, len) && ++hops > s->env->max_hops) {
                    *problem = DATA_HOPS;
                    continue;
                }
                if (memchr(text, ':', len) == NULL) {
                    /* not a header field: the body starts here */
                    in_header = FALSE;
                    fputc('\n', fp);
                }
            }
        }
        fwrite(text, 1, len, fp);
        fputc('\n', fp);
    }
    smg_netio_set_timeout(s->io, (int) s->env->cmd_timeout * 1000);
    g_string_free(line, TRUE);
    return rc;
}

/* do_data - DATA: read, store durably, acknowledge */
static void
do_data(struct session *s, const struct smg_smtp_cmd *cmd)
{
    struct smg_spool_file *f = NULL;
    GError *err = NULL;
    enum smg_netio_rc rc;
    enum data_problem problem;
    gint64 size;
    char *id;
    char *from;

    if (cmd->arg != NULL) {
        reply(s, 501, "5.5.4", "Syntax: DATA");
        return;
    }
    if (s->tx == NULL) {
        reply(s, 503, "5.5.1", "Error: need MAIL command");
        return;
    }
    if (s->nrcpt == 0) {
        reply(s, 554, "5.5.1", "Error: no valid recipients");
        return;
    }
    if (smg_netio_pending(s->io)) {
        /* RFC 2920: the client must wait for 354 */
        reply(s, 554, "5.5.0", "Error: SMTP protocol synchronization (data before 354)");
        (void) smg_netio_flush(s->io);
        smg_log_info("client=%s, reject=pipelining after DATA", s->client);
        s->quit = TRUE;
        return;
    }
    if (smg_spool_create(s->env->spool, QUEUE_OUT, NULL, &f, &err) != SMG_OK) {
        smg_log_error("client=%s, cannot create queue file: %s", s->client, err->message);
        reply(s, 451, "4.3.0", "Error: queue file write error");
        g_clear_error(&err);
        return;
    }
    id = g_strdup(f->id);
    write_head(s, id, f->fp);
    reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
    rc = read_data(s, f->fp, &size, &problem);
    if (rc != SMG_NETIO_OK) {
        smg_spool_abort(f);
        smg_log_info("%s: client=%s, status=aborted, reason=%s in DATA", id, s->client,
                     smg_netio_rc_name(rc));
        if (rc == SMG_NETIO_TIMEOUT)
            timed_out(s);
        else
            s->quit = TRUE;
        tx_reset(s);
        g_free(id);
        return;
    }
    if (problem != DATA_OK) {
        smg_spool_abort(f);
        switch (problem) {
        case DATA_BARE:
            reply(s, 550, "5.5.2", "Error: bare CR or LF in message (RFC 5321 2.3.8)");
            break;
        case DATA_TOOBIG:
            reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
            break;
        case DATA_HEADER:
            reply(s, 552, "5.3.4", "Message header size exceeds limit");
            break;
        case DATA_LINE:
            reply(s, 552, "5.3.4", "Message line too long");
            break;
        case DATA_HOPS:
            /* a loop between this gateway and a server that sends the
             * mail back (RFC 5321 6.3): refused, not queued again and
             * again (Postfix's hopcount_limit, 5.4.6) */
            reply(s, 554, "5.4.6", "Too many hops (over %" G_GINT64_FORMAT
                  " Received: fields): mail loop?", s->env->max_hops);
            break;
        default:
            reply(s, 554, "5.6.0", "Message contains NUL characters");
            break;
        }
        smg_log_info("%s: client=%s, status=rejected, reason=%s", id, s->client,
                     problem == DATA_BARE ? "bare CR or LF"
                     : problem == DATA_TOOBIG ? "message too big"
                     : problem == DATA_HEADER ? "header too big"
                     : problem == DATA_LINE ? "line too long"
                     : problem == DATA_HOPS ? "too many hops" : "NUL");
        tx_reset(s);
        g_free(id);
        return;
    }
    if (smg_spool_commit(f, &err) != SMG_OK) {
        const char *dsn = strncmp(err->message, "4.3.1", 5) == 0 ? "4.3.1" : "4.3.0";
        smg_log_error("%s: client=%s, status=not queued, reason=%s", id, s->client,
                      err->message);
        if (strcmp(dsn, "4.3.1") == 0)
            reply(s, 452, dsn, "Insufficient system storage");
        else
            reply(s, 451, dsn, "Error: queue file write error");
        g_clear_error(&err);
        tx_reset(s);
        g_free(id);
        return;
    }
    from = s->tx->sender;
    smg_log_info("%s: client=%s, sasl_username=%s, from=<%s>, nrcpt=%u, size=%" G_GINT64_FORMAT
                 ", status=queued",
                 id, s->client, s->auth_user != NULL ? s->auth_user : "", from, s->tx->rcpts->len, size);
    reply(s, 250, "2.0.0", "Ok: queued as %s", id);
    s->messages++;
    /* a client that gets its mail through starts with a clean slate, so
     * that a long session of good mail never reaches the limits */
    s->errors = s->junk = 0;
    tx_reset(s);
    g_free(id);
}

/* junk - count a command that does no work; FALSE if the limit is reached */
static gboolean
junk(struct session *s)
{
    if (++s->junk > s->env->max_junk) {
        hangup(s, "4.7.0", "Error: too many junk commands");
        return FALSE;
    }
    return TRUE;
}

/* dispatch - act on one parsed command */
static void
dispatch(struct session *s, const struct smg_smtp_cmd *cmd)
{
    switch (cmd->verb) {
    case SMG_SMTP_HELO:
    case SMG_SMTP_EHLO:
        do_ehlo(s, cmd);
        break;
    case SMG_SMTP_STARTTLS:
        do_starttls(s, cmd);
        break;
    case SMG_SMTP_AUTH:
        do_auth(s, cmd);
        break;
    case SMG_SMTP_MAIL:
        do_mail(s, cmd);
        break;
    case SMG_SMTP_RCPT:
        do_rcpt(s, cmd);
        break;
    case SMG_SMTP_DATA:
        do_data(s, cmd);
        break;
    case SMG_SMTP_RSET:
        if (junk(s)) {
            tx_reset(s);
            reply(s, 250, "2.0.0", "Ok");
        }
        break;
    case SMG_SMTP_NOOP:
        if (junk(s))
            reply(s, 250, "2.0.0", "Ok");
        break;
    case SMG_SMTP_HELP:
        if (junk(s))
            reply(s, 214, "2.0.0", "See RFC 5321 and smg-recv(8)");
        break;
    case SMG_SMTP_VRFY:
    case SMG_SMTP_EXPN:
        if (junk(s))
            reply(s, 502, "5.5.1", "Error: %s is disabled", smg_smtp_verb_name(cmd->verb));
        break;
    case SMG_SMTP_QUIT:
        reply(s, 221, "2.0.0", "Bye");
        (void) smg_netio_flush(s->io);
        s->quit = TRUE;
        break;
    case SMG_SMTP_BDAT:
    case SMG_SMTP_ETRN:
    case SMG_SMTP_UNKNOWN:
    default:
        reply(s, 502, "5.5.2", "Error: command not recognized");
        break;
    }
}

enum smg_status
smg_smtpd_session(struct smg_smtpd_env *env, int rfd, int wfd,
                  const char *client_addr)
{
    struct session s = {0};
    GString *line = g_string_sized_new(512);
    struct smg_smtp_cmd cmd = SMG_SMTP_CMD_ZERO;
    /* a link-local IPv6 peer's name has a zone index (fe80::1%eth0): it is
     * no part of an address literal (RFC 5321 4.1.3) in Received:, nor of
     * SMG-Client addr= or the rate-limit key */
    char *client = g_strndup(client_addr, strcspn(client_addr, "%"));

    s.env = env;
    s.client = client;
    s.result = SMG_OK;
    s.io = smg_netio_new(rfd, wfd, (int) env->cmd_timeout * 1000);
    /* replies must be read in time too, not a byte now and then */
    smg_netio_set_flush_deadline(s.io, TRUE);
    smg_log_info("connect from %s", client_addr);
    reply(&s, 220, NULL, "%s ESMTP smg", env->hostname);
    while (!s.quit) {
        enum smg_netio_eol eol;
        enum smg_netio_rc rc = smg_netio_getline(s.io, line, (gsize) env->max_line, &eol);
        GError *err = NULL;

        if (rc == SMG_NETIO_TIMEOUT) {
            timed_out(&s);
            break;
        }
        if (rc == SMG_NETIO_EOF || rc == SMG_NETIO_ERROR) {
            if (s.tx != NULL)
                smg_log_info("client=%s, lost connection during transaction", client_addr);
            break;
        }
        if (rc == SMG_NETIO_TOOLONG) {
            reply(&s, 500, "5.5.2", "Error: line too long");
        } else if (smg_smtp_parse_command(line->str, line->len,
                                          s.tx_smtputf8 ? SMG_SMTP_PARSE_SMTPUTF8 : 0,
                                          &cmd, &err) != SMG_OK) {
            GString *out = g_string_new(NULL);
            smg_smtp_reply_error(out, &cmd, err);
            smg_netio_write(s.io, out->str, out->len);
            s.errors++;
            g_string_free(out, TRUE);
            g_clear_error(&err);
        } else {
            dispatch(&s, &cmd);
        }
        if (cmd.verb == SMG_SMTP_AUTH) {
            /* the initial response holds the password */
            smg_auth_wipe(line->str, line->allocated_len);
            if (cmd.auth_initial != NULL)
                smg_auth_wipe(cmd.auth_initial, strlen(cmd.auth_initial));
            if (cmd.arg != NULL)
                smg_auth_wipe(cmd.arg, strlen(cmd.arg));
        }
        smg_smtp_cmd_clear(&cmd);
        if (!s.quit && s.errors >= env->max_errors) {
            hangup(&s, "4.7.0", "Error: too many errors");
            s.result = SMG_OK;
        }
    }
    (void) smg_netio_flush(s.io);
    smg_log_info("disconnect from %s, messages=%" G_GINT64_FORMAT ", errors=%" G_GINT64_FORMAT,
                 client_addr, s.messages, s.errors);
    tx_reset(&s);
    g_free(s.helo);
    g_free(s.auth_user);
    smg_netio_free(s.io);
    g_string_free(line, TRUE);
    g_free(client);
    return s.result;
}

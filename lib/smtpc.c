/*
 * smtpc.c - SMTP client connection (see smtpc.h).
 *
 * Commands are queued in netio's output buffer and go out when a reply is
 * awaited (netio flushes before it reads), so a pipelined batch is one
 * write.  Every reply read goes through read_reply, which enforces the
 * time-out and the line limits and marks the connection dead on any
 * failure; nothing after that point touches the socket again.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/envelope.h"
#include "lib/log.h"
#include "lib/netio.h"
#include "lib/smtp.h"
#include "lib/smtpc.h"

#define REPLY_LINE_MAX 4096 /* RFC 5321 says 512; be lenient */
#define REPLY_LINES_MAX 200
#define QUIT_TIMEOUT_MS 2000

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

struct smg_smtpc {
    struct smg_smtpc_opts o;
    char *helo;
    char *host;
    char *peer; /* "host[addr]:port" */
    int fd;
    struct smg_netio *io;
    GHashTable *ext; /* upper-case keyword -> parameters ("" when none) */
    gboolean dead;
    gboolean need_rset;
    GString *line;
};

void
smg_smtpc_reply_clear(struct smg_smtpc_reply *r)
{
    g_free(r->text);
    memset(r, 0, sizeof *r);
}

void
smg_smtpc_rcpts_clear(struct smg_smtpc_rcpt *rcpts, gsize n)
{
    for (gsize i = 0; i < n; i++)
        smg_smtpc_reply_clear(&rcpts[i].reply);
}

/* dsn_len - length of the enhanced status code of class cls at s, or 0 */
static gsize
dsn_len(const char *s, char cls)
{
    const char *p = s;
    int parts = 0;

    if (*p != cls || p[1] != '.')
        return 0;
    p += 2;
    while (parts < 2) {
        int digits = 0;

        while (g_ascii_isdigit(*p) && digits < 3) {
            p++;
            digits++;
        }
        if (digits == 0)
            return 0;
        parts++;
        if (parts < 2) {
            if (*p != '.')
                return 0;
            p++;
        }
    }
    if (*p != '\0' && *p != ' ')
        return 0;
    return (gsize) (p - s);
}

gboolean
smg_smtpc_parse_reply(const char *const *lines, gsize n,
                      struct smg_smtpc_reply *r)
{
    GString *text = g_string_new(NULL);
    int code = -1;
    gsize dl;

    memset(r, 0, sizeof *r);
    if (n == 0) {
        g_string_free(text, TRUE);
        return FALSE;
    }
    for (gsize i = 0; i < n; i++) {
        const char *l = lines[i];
        int c;

        if (!g_ascii_isdigit(l[0]) || !g_ascii_isdigit(l[1])
            || !g_ascii_isdigit(l[2])
            || (l[3] != '\0' && l[3] != ' ' && l[3] != '-')
            || (i + 1 < n && l[3] != '-') || (i + 1 == n && l[3] == '-')) {
            g_string_free(text, TRUE);
            return FALSE;
        }
        c = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
        if (c < 200 || c > 599 || (code >= 0 && c != code)) {
            g_string_free(text, TRUE);
            return FALSE;
        }
        code = c;
        if (i == 0) {
            g_string_append_len(text, l, 3);
            if (l[3] != '\0' && l[4] != '\0')
                g_string_append_printf(text, " %s", l + 4);
        } else if (l[3] != '\0' && l[4] != '\0') {
            /* continuation lines repeat the enhanced code: keep it once */
            const char *t = l + 4;
            gsize k = dsn_len(t, l[0]);

            if (k > 0 && t[k] == ' ')
                t += k + 1;
            g_string_append_printf(text, " %s", t);
        }
    }
    r->code = code;
    dl = text->len > 4 ? dsn_len(text->str + 4, text->str[0]) : 0;
    if (dl > 0 && dl < sizeof r->dsn)
        memcpy(r->dsn, text->str + 4, dl);
    else
        g_snprintf(r->dsn, sizeof r->dsn, "%c.0.0", text->str[0]);
    r->text = g_string_free(text, FALSE);
    return TRUE;
}

/* lost - a made-up reply for a connection that failed */
static void
lost(struct smg_smtpc_reply *r, const char *dsn, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void
lost(struct smg_smtpc_reply *r, const char *dsn, const char *fmt, ...)
{
    va_list ap;

    smg_smtpc_reply_clear(r);
    g_strlcpy(r->dsn, dsn, sizeof r->dsn);
    va_start(ap, fmt);
    r->text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

/* lost_io - *r, our reason for a read or write that ended with rc */
static void
lost_io(struct smg_smtpc *c, struct smg_smtpc_reply *r, enum smg_netio_rc rc,
        const char *stage)
{
    if (rc == SMG_NETIO_TIMEOUT)
        lost(r, "4.4.2", "conversation with %s timed out while %s", c->peer, stage);
    else if (rc == SMG_NETIO_TOOLONG)
        lost(r, "4.5.0", "reply line too long from %s while %s", c->peer, stage);
    else
        lost(r, "4.4.2", "lost connection with %s while %s", c->peer, stage);
}

/*
 * next_line - read the next line of a reply into c->line, by deadline
 * (monotonic µs, set as reading the reply begins).  The time-out
 * bounds the wait for a whole reply (RFC 5321 4.5.3.2), not each line: a
 * server that sends a line of a long multi-line reply now and then, each
 * within the time-out, would otherwise hold the worker (and every message
 * behind it) for up to REPLY_LINES_MAX time-outs.
 */
static enum smg_netio_rc
next_line(struct smg_smtpc *c, gint64 deadline)
{
    enum smg_netio_eol eol;

    return smg_netio_getline_by(c->io, c->line, REPLY_LINE_MAX, &eol, deadline);
}

/*
 * read_lines - read one whole reply into *r, keeping its raw lines in
 * lines.  FALSE (connection dead, *r a made-up 4.4.2 or 4.5.0 reply
 * naming stage) on time-out, loss, or a reply too long or malformed.
 */
static gboolean
read_lines(struct smg_smtpc *c, const char *stage, GPtrArray *lines,
           struct smg_smtpc_reply *r)
{
    gint64 deadline = smg_netio_deadline(c->io);

    memset(r, 0, sizeof *r);
    for (;;) {
        enum smg_netio_rc rc = next_line(c, deadline);

        if (rc != SMG_NETIO_OK) {
            lost_io(c, r, rc, stage);
            c->dead = TRUE;
            return FALSE;
        }
        g_ptr_array_add(lines, g_strdup(c->line->str));
        if (c->line->len < 4 || c->line->str[3] != '-')
            break;
        if (lines->len >= REPLY_LINES_MAX) {
            lost(r, "4.5.0", "reply too long from %s while %s", c->peer, stage);
            c->dead = TRUE;
            return FALSE;
        }
    }
    if (!smg_smtpc_parse_reply((const char *const *) lines->pdata, lines->len, r)) {
        lost(r, "4.5.0", "malformed reply from %s while %s: %.100s", c->peer, stage,
             c->line->str);
        c->dead = TRUE;
        return FALSE;
    }
    return TRUE;
}

/*
 * read_reply - read_lines without the lines, for a connection that may be
 * dead already; a 421 marks it dead (the server is closing it, RFC 5321
 * 3.8)
 */
static gboolean
read_reply(struct smg_smtpc *c, const char *stage, struct smg_smtpc_reply *r)
{
    GPtrArray *lines;
    gboolean ok;

    if (c->dead) {
        memset(r, 0, sizeof *r);
        lost(r, "4.4.2", "connection with %s already lost", c->peer);
        return FALSE;
    }
    lines = g_ptr_array_new_with_free_func(g_free);
    ok = read_lines(c, stage, lines, r);
    g_ptr_array_unref(lines);
    if (ok && r->code == 421)
        c->dead = TRUE;
    return ok;
}

/* parse_addr - a numeric address and port into ss; FALSE if not numeric */
static gboolean
parse_addr(const char *addr, unsigned port, struct sockaddr_storage *ss,
           socklen_t *len)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *) ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) ss;

    memset(ss, 0, sizeof *ss);
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t) port);
        *len = sizeof *s4;
        return TRUE;
    }
    if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t) port);
        *len = sizeof *s6;
        return TRUE;
    }
    return FALSE;
}

/* tcp_connect - a connected socket from bind to dst, or -1 with *why */
static int
tcp_connect(const struct smg_smtpc_opts *o, const struct sockaddr_storage *dst,
            socklen_t dlen, char **why)
{
    int fd = socket(dst->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1, soerr = 0;
    socklen_t slen = sizeof soerr;
    gint64 deadline = g_get_monotonic_time() + (gint64) o->connect_timeout_ms * 1000;

    if (fd < 0) {
        *why = g_strdup_printf("socket: %s", g_strerror(errno));
        return -1;
    }
    if (o->bind != NULL) {
        struct sockaddr_storage src;
        socklen_t srclen;

        if (!parse_addr(o->bind, 0, &src, &srclen)
            || src.ss_family != dst->ss_family) {
            *why = g_strdup_printf("source address %s does not fit the "
                                   "destination's address family", o->bind);
            close(fd);
            return -1;
        }
        /* the port comes at connect time: no early ephemeral-port use */
        (void) setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (const struct sockaddr *) &src, srclen) < 0) {
            *why = g_strdup_printf("cannot bind to %s: %s", o->bind, g_strerror(errno));
            close(fd);
            return -1;
        }
    }
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *) dst, dlen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        *why = g_strdup(g_strerror(errno));
        close(fd);
        return -1;
    }
    for (;;) {
        struct pollfd p = {fd, POLLOUT, 0};
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        int r;

        if (left <= 0) {
            *why = g_strdup("connection timed out");
            close(fd);
            return -1;
        }
        r = poll(&p, 1, (int) MIN(left, G_MAXINT));
        if (r > 0)
            break;
        if (r < 0 && errno != EINTR) {
            *why = g_strdup_printf("poll: %s", g_strerror(errno));
            close(fd);
            return -1;
        }
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) < 0 || soerr != 0) {
        *why = g_strdup(g_strerror(soerr != 0 ? soerr : errno));
        close(fd);
        return -1;
    }
    return fd;
}

enum smg_status
smg_smtpc_connect(const struct smg_smtpc_opts *o, const char *host,
                  const char *addr, unsigned port, struct smg_smtpc **out,
                  GError **err)
{
    struct sockaddr_storage dst;
    socklen_t dlen;
    struct smg_smtpc *c;
    struct smg_smtpc_reply r;
    char *why = NULL;
    char *peer;
    int fd;

    *out = NULL;
    peer = g_strdup_printf("%s[%s]:%u", host, addr, port);
    if (!parse_addr(addr, port, &dst, &dlen)) {
        smg_set_error(err, SMG_TEMPFAIL, "4.4.1", "connect to %s: not an IP address",
                      peer);
        g_free(peer);
        return SMG_TEMPFAIL;
    }
    if ((fd = tcp_connect(o, &dst, dlen, &why)) < 0) {
        smg_set_error(err, SMG_TEMPFAIL, "4.4.1", "connect to %s: %s", peer, why);
        g_free(why);
        g_free(peer);
        return SMG_TEMPFAIL;
    }
    c = g_new0(struct smg_smtpc, 1);
    c->o = *o;
    c->helo = g_strdup(o->helo);
    c->o.helo = c->helo;
    c->o.bind = NULL; /* not kept: only used above */
    c->host = g_strdup(host);
    c->peer = peer;
    c->fd = fd;
    c->io = smg_netio_new(fd, fd, o->command_timeout_ms);
    c->ext = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    c->line = g_string_sized_new(256);
    if (!read_reply(c, "receiving the initial server greeting", &r)) {
        smg_set_error(err, SMG_TEMPFAIL, r.dsn, "%s", r.text);
        smg_smtpc_reply_clear(&r);
        smg_smtpc_free(c);
        return SMG_TEMPFAIL;
    }
    if (r.code != 220) {
        enum smg_status st = r.code >= 500 ? SMG_PERMFAIL : SMG_TEMPFAIL;

        smg_set_error(err, st, r.dsn, "%s refused to talk to me: %s", peer, r.text);
        smg_smtpc_reply_clear(&r);
        smg_smtpc_quit(c);
        return st;
    }
    smg_smtpc_reply_clear(&r);
    *out = c;
    return SMG_OK;
}

/* parse_ehlo - record the keywords of an EHLO reply's text */
static void
parse_ehlo(struct smg_smtpc *c, const char *const *lines, gsize n)
{
    g_hash_table_remove_all(c->ext);
    for (gsize i = 1; i < n; i++) { /* line 0 is the greeting name */
        const char *l = lines[i];
        const char *sp;
        char *kw;

        if (strlen(l) < 5)
            continue;
        l += 4;
        sp = strchr(l, ' ');
        kw = g_ascii_strup(l, sp != NULL ? (gssize) (sp - l) : -1);
        g_hash_table_replace(c->ext, kw, g_strdup(sp != NULL ? sp + 1 : ""));
    }
}

enum smg_status
smg_smtpc_ehlo(struct smg_smtpc *c, GError **err)
{
    GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
    struct smg_smtpc_reply r;

    smg_netio_printf(c->io, "EHLO %s\r\n", c->helo);
    if (!read_lines(c, "sending EHLO", lines, &r)) {
        smg_set_error(err, SMG_TEMPFAIL, r.dsn, "%s", r.text);
        goto fail;
    }
    if (r.code == 250) {
        parse_ehlo(c, (const char *const *) lines->pdata, lines->len);
        goto done;
    }
    if (r.code < 500) {
        smg_set_error(err, SMG_TEMPFAIL, r.dsn, "%s said: %s (in reply to EHLO)",
                      c->peer, r.text);
        c->dead = TRUE;
        goto fail;
    }
    smg_smtpc_reply_clear(&r);
    g_hash_table_remove_all(c->ext);
    smg_netio_printf(c->io, "HELO %s\r\n", c->helo);
    if (!read_reply(c, "sending HELO", &r)) {
        smg_set_error(err, SMG_TEMPFAIL, r.dsn, "%s", r.text);
        goto fail;
    }
    if (r.code != 250) {
        enum smg_status st = r.code >= 500 ? SMG_PERMFAIL : SMG_TEMPFAIL;

        smg_set_error(err, st, r.dsn, "%s said: %s (in reply to HELO)", c->peer,
                      r.text);
        c->dead = TRUE;
        smg_smtpc_reply_clear(&r);
        g_ptr_array_unref(lines);
        return st;
    }
done:
    smg_smtpc_reply_clear(&r);
    g_ptr_array_unref(lines);
    return SMG_OK;
fail:
    smg_smtpc_reply_clear(&r);
    g_ptr_array_unref(lines);
    return SMG_TEMPFAIL;
}

gboolean
smg_smtpc_has(const struct smg_smtpc *c, const char *ext)
{
    char *up = g_ascii_strup(ext, -1);
    gboolean has = g_hash_table_contains(c->ext, up);

    g_free(up);
    return has;
}

const char *
smg_smtpc_ext_value(const struct smg_smtpc *c, const char *ext)
{
    char *up = g_ascii_strup(ext, -1);
    const char *v = g_hash_table_lookup(c->ext, up);

    g_free(up);
    return v;
}

enum smg_status
smg_smtpc_starttls(struct smg_smtpc *c, SSL *ssl, GError **err)
{
    struct smg_smtpc_reply r;

    smg_netio_printf(c->io, "STARTTLS\r\n");
    if (!read_reply(c, "sending STARTTLS", &r)) {
        smg_set_error(err, SMG_TEMPFAIL, r.dsn, "%s", r.text);
        smg_smtpc_reply_clear(&r);
        SSL_free(ssl);
        return SMG_TEMPFAIL;
    }
    if (r.code != 220) {
        smg_set_error(err, SMG_TEMPFAIL, "4.7.5", "%s refused STARTTLS: %s",
                      c->peer, r.text);
        smg_smtpc_reply_clear(&r);
        SSL_free(ssl);
        c->dead = TRUE;
        return SMG_TEMPFAIL;
    }
    smg_smtpc_reply_clear(&r);
    if (smg_netio_tls_connect_ssl(c->io, ssl, err) != SMG_OK) {
        c->dead = TRUE;
        return SMG_TEMPFAIL;
    }
    return smg_smtpc_ehlo(c, err);
}

SSL *
smg_smtpc_ssl(const struct smg_smtpc *c)
{
    return smg_netio_ssl(c->io);
}

const char *
smg_smtpc_peer(const struct smg_smtpc *c)
{
    return c->peer;
}

const char *
smg_smtpc_host(const struct smg_smtpc *c)
{
    return c->host;
}

gboolean
smg_smtpc_usable(const struct smg_smtpc *c)
{
    return c != NULL && !c->dead;
}

/*
 * add_param - append " KEY=value" of params to cmd when present.  The
 * envelope is not trusted: a value it holds in quotes may have spaces or
 * control characters (a CR), which would make the command one the server
 * refuses with 501 for every recipient, or smuggle a second command in;
 * such a value is left out, as an absent one is.
 */
static void
add_param(GString *cmd, const char *params, const char *key)
{
    char *v = params != NULL ? smg_envelope_param(params, key) : NULL;

    if (v != NULL && smg_smtp_esmtp_value(v, strlen(v)))
        g_string_append_printf(cmd, " %s=%s", key, v);
    else if (v != NULL && *v != '\0')
        smg_log_warn("parameter %s=%s is not a valid ESMTP value: not sent", key, v);
    g_free(v);
}

/* decide_all - give every undecided recipient a copy of r */
static void
decide_all(struct smg_smtpc_rcpt *rcpts, gsize n, const struct smg_smtpc_reply *r)
{
    for (gsize i = 0; i < n; i++) {
        if (rcpts[i].reply.text != NULL)
            continue;
        rcpts[i].reply.code = r->code;
        memcpy(rcpts[i].reply.dsn, r->dsn, sizeof r->dsn);
        rcpts[i].reply.text = g_strdup(r->text);
        rcpts[i].reply.cmd = r->cmd;
        rcpts[i].reply.after_dot = r->after_dot;
    }
}

/* said - note which command r answered */
static void
said(struct smg_smtpc_reply *r, const char *cmd)
{
    r->cmd = cmd;
}

/*
 * unexpected - whether r, the reply to cmd, is of a class cmd cannot get:
 * 1xx, or 3xx except 354 to DATA (want_354), or 2xx to DATA.  Such a
 * reply is no verdict on any recipient, and the server's state is
 * unknown: r becomes our own 4.5.0 and the connection is not used again.
 * Without this, a 2xx to DATA counted as delivered with no body sent, and
 * a 3xx reached the reports as DSN 3.0.0.
 */
static gboolean
unexpected(struct smg_smtpc *c, struct smg_smtpc_reply *r, const char *cmd,
           gboolean want_354)
{
    int k = r->code / 100;
    char *text;

    if (want_354 ? (r->code == 354 || k == 4 || k == 5) : (k == 2 || k == 4 || k == 5))
        return FALSE;
    text = g_strdup(r->text != NULL ? r->text : "");
    lost(r, "4.5.0", "%s answered %s with an unexpected reply: %d %s", c->peer, cmd,
         r->code, text);
    g_free(text);
    c->dead = TRUE;
    return TRUE;
}

enum smg_status
smg_smtpc_send(struct smg_smtpc *c, const char *sender, const char *sender_params,
               struct smg_smtpc_rcpt *rcpts, gsize n, const char *data, gsize len,
               GError **err)
{
    gboolean pipe = smg_smtpc_has(c, "PIPELINING");
    gboolean dsn = smg_smtpc_has(c, "DSN");
    GString *cmd = g_string_sized_new(256);
    struct smg_smtpc_reply r = {0};
    gsize accepted = 0;
    gboolean *ok_rcpt = g_new0(gboolean, n);
    enum smg_status st = SMG_OK;
    const char *stage = "sending MAIL FROM";
    enum smg_netio_rc frc;

    for (gsize i = 0; i < n; i++)
        memset(&rcpts[i].reply, 0, sizeof rcpts[i].reply);
    smg_netio_set_timeout(c->io, c->o.command_timeout_ms);
    if (c->need_rset) {
        smg_netio_printf(c->io, "RSET\r\n");
        if (!pipe) {
            if (!read_reply(c, "sending RSET", &r))
                goto dead;
            smg_smtpc_reply_clear(&r);
        }
    }
    g_string_printf(cmd, "MAIL FROM:<%s>", sender);
    if (smg_smtpc_has(c, "SIZE"))
        g_string_append_printf(cmd, " SIZE=%" G_GSIZE_FORMAT, smg_smtpc_size(data, len));
    if (smg_smtpc_has(c, "8BITMIME"))
        add_param(cmd, sender_params, "BODY");
    if (smg_smtpc_has(c, "SMTPUTF8") && smg_envelope_has_word(sender_params, "SMTPUTF8"))
        g_string_append(cmd, " SMTPUTF8");
    if (dsn) {
        add_param(cmd, sender_params, "RET");
        add_param(cmd, sender_params, "ENVID");
    }
    g_string_append(cmd, "\r\n");
    smg_netio_write(c->io, cmd->str, cmd->len);
    if (pipe) {
        for (gsize i = 0; i < n; i++) {
            g_string_printf(cmd, "RCPT TO:<%s>", rcpts[i].addr);
            if (dsn) {
                add_param(cmd, rcpts[i].params, "NOTIFY");
                add_param(cmd, rcpts[i].params, "ORCPT");
            }
            g_string_append(cmd, "\r\n");
            smg_netio_write(c->io, cmd->str, cmd->len);
        }
        smg_netio_printf(c->io, "DATA\r\n");
        if (c->need_rset) {
            if (!read_reply(c, "sending RSET", &r))
                goto dead;
            smg_smtpc_reply_clear(&r);
        }
    }
    c->need_rset = TRUE; /* until the transaction completes */

    /* MAIL */
    if (!read_reply(c, stage, &r))
        goto dead;
    if (unexpected(c, &r, "MAIL FROM", FALSE))
        goto dead_have_reply;
    if (r.code / 100 != 2) {
        said(&r, "MAIL FROM");
        decide_all(rcpts, n, &r);
        smg_smtpc_reply_clear(&r);
        if (pipe) { /* the RCPT and DATA replies are still coming */
            for (gsize i = 0; i <= n; i++) {
                if (!read_reply(c, "sending RCPT TO", &r))
                    goto dead_decided;
                /* a server that took DATA anyway waits for a message:
                 * the connection is out of step, not to be used again */
                if (i == n && r.code == 354)
                    c->dead = TRUE;
                smg_smtpc_reply_clear(&r);
            }
        }
        goto out;
    }
    smg_smtpc_reply_clear(&r);

    /* RCPT */
    stage = "sending RCPT TO";
    for (gsize i = 0; i < n; i++) {
        if (!pipe) {
            g_string_printf(cmd, "RCPT TO:<%s>", rcpts[i].addr);
            if (dsn) {
                add_param(cmd, rcpts[i].params, "NOTIFY");
                add_param(cmd, rcpts[i].params, "ORCPT");
            }
            g_string_append(cmd, "\r\n");
            smg_netio_write(c->io, cmd->str, cmd->len);
        }
        if (!read_reply(c, stage, &r))
            goto dead;
        if (unexpected(c, &r, "RCPT TO", FALSE))
            goto dead_have_reply;
        if (r.code / 100 == 2) { /* 250, 251, and 252 as Postfix takes it */
            ok_rcpt[i] = TRUE;
            accepted++;
            smg_smtpc_reply_clear(&r);
        } else {
            if (r.code == 552) {
                /* RFC 5321 4.5.3.1.10: the old "too many recipients";
                 * clients treat it as 452 (so does Postfix) */
                r.code = 452;
                r.dsn[0] = '4';
            }
            said(&r, "RCPT TO");
            rcpts[i].reply = r;
            memset(&r, 0, sizeof r);
        }
    }

    /* DATA */
    stage = "sending DATA";
    if (!pipe) {
        if (accepted == 0)
            goto out;
        smg_netio_printf(c->io, "DATA\r\n");
    }
    if (!read_reply(c, stage, &r))
        goto dead;
    if (unexpected(c, &r, "DATA", TRUE)) {
        if (accepted == 0) { /* every recipient has its verdict already */
            smg_smtpc_reply_clear(&r);
            goto out;
        }
        goto dead_have_reply;
    }
    if (r.code != 354) {
        if (accepted > 0) {
            said(&r, "DATA");
            decide_all(rcpts, n, &r);
        }
        smg_smtpc_reply_clear(&r);
        goto out;
    }
    smg_smtpc_reply_clear(&r);
    if (accepted == 0) {
        /* a server that said 354 with no recipient: send an empty message */
        smg_netio_printf(c->io, ".\r\n");
        if (!read_reply(c, "ending an empty DATA", &r))
            goto dead;
        smg_smtpc_reply_clear(&r);
        goto out;
    }
    stage = "sending message body";
    smg_netio_set_timeout(c->io, c->o.data_timeout_ms);
    smg_netio_write(c->io, data, len);
    if ((frc = smg_netio_flush(c->io)) != SMG_NETIO_OK) {
        lost_io(c, &r, frc, stage);
        c->dead = TRUE;
        goto dead_have_reply;
    }
    if (!read_reply(c, "waiting for the reply to the end of data", &r)) {
        r.after_dot = TRUE;
        goto dead;
    }
    if (unexpected(c, &r, "the end of DATA", FALSE)) {
        r.after_dot = TRUE;
        goto dead_have_reply;
    }
    said(&r, "end of DATA");
    decide_all(rcpts, n, &r);
    smg_smtpc_reply_clear(&r);
    c->need_rset = FALSE;
    smg_netio_set_timeout(c->io, c->o.command_timeout_ms);

out:
    g_string_free(cmd, TRUE);
    g_free(ok_rcpt);
    return st;

dead:
dead_have_reply:
    decide_all(rcpts, n, &r);
    smg_set_error(err, SMG_TEMPFAIL, r.dsn, "%s", r.text);
    smg_smtpc_reply_clear(&r);
    c->dead = TRUE;
    st = SMG_TEMPFAIL;
    goto out;
dead_decided:
    smg_set_error(err, SMG_TEMPFAIL, r.dsn, "%s", r.text);
    smg_smtpc_reply_clear(&r);
    c->dead = TRUE;
    st = SMG_TEMPFAIL;
    goto out;
}

void
smg_smtpc_free(struct smg_smtpc *c)
{
    if (c == NULL)
        return;
    smg_netio_free(c->io);
    if (c->fd >= 0)
        close(c->fd);
    g_hash_table_destroy(c->ext);
    g_string_free(c->line, TRUE);
    g_free(c->helo);
    g_free(c->host);
    g_free(c->peer);
    g_free(c);
}

void
smg_smtpc_quit(struct smg_smtpc *c)
{
    struct smg_smtpc_reply r;

    if (c == NULL)
        return;
    if (!c->dead) {
        smg_netio_set_timeout(c->io, QUIT_TIMEOUT_MS);
        smg_netio_printf(c->io, "QUIT\r\n");
        (void) read_reply(c, "sending QUIT", &r);
        smg_smtpc_reply_clear(&r);
    }
    smg_smtpc_free(c);
}

gboolean
smg_smtpc_wire(const char *msg, gsize len, GString *out)
{
    gboolean eight = FALSE;
    gsize i = 0;

    while (i < len) {
        gsize stop = i;

        /* a line ends at LF, CRLF or a bare CR: a bare CR passed on could
         * end the DATA early at a receiver that takes "<CR>.<CR>" or
         * "<CR>.<CRLF>" for its end (the SMTP smuggling variants) */
        while (stop < len && msg[stop] != '\n' && msg[stop] != '\r') {
            if ((unsigned char) msg[stop] & 0x80)
                eight = TRUE;
            stop++;
        }
        if (msg[i] == '.')
            g_string_append_c(out, '.');
        g_string_append_len(out, msg + i, (gssize) (stop - i));
        g_string_append_len(out, "\r\n", 2);
        if (stop + 1 < len && msg[stop] == '\r' && msg[stop + 1] == '\n')
            stop++;
        i = stop + 1;
    }
    g_string_append_len(out, ".\r\n", 3);
    return eight;
}

gsize
smg_smtpc_size(const char *data, gsize len)
{
    gsize end, dots = 0;

    if (len < 3)
        return 0;
    end = len - 3; /* the final ".\r\n" */
    /* every line that starts with a dot got one more */
    for (gsize i = 0; i < end; i++) {
        const char *nl;

        if (data[i] == '.')
            dots++;
        nl = memchr(data + i, '\n', end - i);
        if (nl == NULL)
            break;
        i = (gsize) (nl - data);
    }
    return end - dots;
}

/*
 * smtpc.h - the SMTP client of smg-send: one connection to one server.
 *
 * A connection is made from a chosen source address (the gateway's bind
 * address: the receiver must see mail come from the gateway it was routed
 * to), greets with EHLO (HELO when EHLO is refused), learns the server's
 * extensions, may switch to TLS with STARTTLS on an SSL object the caller
 * prepared (verification and DANE are the caller's policy), and runs mail
 * transactions: with PIPELINING, MAIL, every RCPT and DATA go out in one
 * write and the replies are read in order (RFC 2920); without it, in lock
 * step.  SIZE, BODY=8BITMIME, SMTPUTF8 and the DSN parameters (RET, ENVID,
 * NOTIFY, ORCPT) are passed on when the server announces the extension.
 * Every read and write has a time-out (lib/netio): connect_timeout for the
 * TCP connection, command_timeout for the greeting and each command,
 * data_timeout for the message and the reply to its final dot.  A reply
 * must come whole within its time-out, however many lines it has (RFC
 * 5321 4.5.3.2), so a server that trickles one cannot hold the client.
 *
 * Results are per recipient: each gets the reply that decided its fate
 * (the RCPT reply when it was refused, else the reply to DATA or to the
 * final dot, or the MAIL reply when MAIL failed).  When the connection is
 * lost or a reply times out, the recipients not yet decided get a reply
 * with code 0 and DSN 4.4.2 ("lost connection with HOST while sending
 * RCPT TO") and the connection is dead.  A connection whose transaction
 * did not complete is reset (RSET, pipelined before the next MAIL) before
 * it is used again, so connections can be kept for further messages.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_SMTPC_H
#define SMG_SMTPC_H 1

#include <openssl/ssl.h>

#include <glib.h>

#include "lib/status.h"

struct smg_smtpc_opts {
    const char *bind;       /* source IP address; NULL: the kernel's choice */
    const char *helo;       /* our name for EHLO/HELO; required */
    int connect_timeout_ms; /* TCP connect */
    int command_timeout_ms; /* greeting, EHLO, STARTTLS, MAIL, RCPT, DATA,
                               RSET, QUIT; also the TLS handshake */
    int data_timeout_ms;    /* message content and the final reply */
};

struct smg_smtpc_reply {
    int code;     /* 250; 0: no reply (connection lost, time-out) */
    char dsn[16]; /* "2.1.5": the reply's enhanced code, or x.0.0 from code */
    char *text;   /* the reply, lines joined by a space, or our reason */
    const char *cmd; /* the command it answered ("RCPT TO", "end of DATA"),
                        static; NULL for our own reasons (code 0) */
    gboolean after_dot; /* code 0 after the whole message was sent: the
                           server may have taken it (RFC 1047) */
};

struct smg_smtpc_rcpt {
    const char *addr;   /* without <> */
    const char *params; /* SMG-Recipient parameters ("NOTIFY=... ORCPT=...")
                           or NULL */
    struct smg_smtpc_reply reply; /* out: the deciding reply */
};

struct smg_smtpc;

/*
 * smg_smtpc_connect - open a TCP connection to addr:port (a numeric IPv4 or
 * IPv6 address; host is the name used in logs, SNI and replies), from
 * o->bind if set, and read the greeting.  On SMG_OK *out is connected and
 * greeted (not yet EHLO'd).  SMG_TEMPFAIL with err "4.4.1 connect to
 * host[addr]:port: reason" for a refused or timed-out connection, or when
 * the source address does not fit addr's family; for a 4xx or 5xx
 * greeting, SMG_TEMPFAIL resp. SMG_PERMFAIL with the reply in err
 * ("host[addr] refused to talk to me: 554 ..."), the connection closed.
 * o is copied.
 */
enum smg_status smg_smtpc_connect(const struct smg_smtpc_opts *o,
                                  const char *host, const char *addr,
                                  unsigned port, struct smg_smtpc **out,
                                  GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_smtpc_ehlo - send EHLO (HELO if EHLO gets a 5xx) and record the
 * extensions.  Called after connect and again after STARTTLS.
 * SMG_TEMPFAIL or SMG_PERMFAIL (a 5xx to HELO) with err; the connection
 * is then unusable.
 */
enum smg_status smg_smtpc_ehlo(struct smg_smtpc *c,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_smtpc_has - whether the server announced ext ("PIPELINING",
 * "STARTTLS", ...; case-insensitive) in its last EHLO reply.
 */
gboolean smg_smtpc_has(const struct smg_smtpc *c, const char *ext);

/*
 * smg_smtpc_ext_value - the parameters of extension ext ("10240000" for
 * "SIZE 10240000"; "" when it has none), or NULL if not announced.  Owned
 * by c, valid until the next EHLO.
 */
const char *smg_smtpc_ext_value(const struct smg_smtpc *c, const char *ext);

/*
 * smg_smtpc_starttls - send STARTTLS, run the handshake on ssl (made by the
 * caller from its SSL_CTX, with SNI and checks set; c takes ownership in
 * every case) and say EHLO again.  SMG_TEMPFAIL with err when the server
 * refuses STARTTLS or the handshake fails (the connection is then
 * unusable).  Whether the peer was authenticated is the caller's to check
 * on smg_smtpc_ssl(c).
 */
enum smg_status smg_smtpc_starttls(struct smg_smtpc *c, SSL *ssl,
                                   GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_smtpc_ssl - the TLS session, or NULL */
SSL *smg_smtpc_ssl(const struct smg_smtpc *c);

/* smg_smtpc_peer - "host[addr]:port" for logs (owned by c) */
const char *smg_smtpc_peer(const struct smg_smtpc *c);

/* smg_smtpc_host - the host name given to connect (owned by c) */
const char *smg_smtpc_host(const struct smg_smtpc *c);

/* smg_smtpc_usable - whether the connection may carry another transaction */
gboolean smg_smtpc_usable(const struct smg_smtpc *c);

/*
 * smg_smtpc_send - one mail transaction: MAIL FROM:<sender> with the
 * parameters of sender_params that the server supports plus SIZE (see
 * smg_smtpc_size), one
 * RCPT TO per recipient (likewise NOTIFY and ORCPT), DATA, then data
 * (already in wire form: see smg_smtpc_wire) and its final dot.  Fills
 * each rcpts[i].reply (free with smg_smtpc_rcpts_clear).  Returns SMG_OK
 * when every recipient got a reply from the server (whatever it was) and
 * the connection is still usable; SMG_TEMPFAIL when the connection was
 * lost or timed out (recipients not decided got code 0, DSN 4.4.2) or the
 * server broke the protocol; c is then unusable and err says why.
 */
enum smg_status smg_smtpc_send(struct smg_smtpc *c, const char *sender,
                               const char *sender_params,
                               struct smg_smtpc_rcpt *rcpts, gsize n,
                               const char *data, gsize len,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_smtpc_rcpts_clear - free the replies of rcpts[0..n) */
void smg_smtpc_rcpts_clear(struct smg_smtpc_rcpt *rcpts, gsize n);

/* smg_smtpc_reply_clear - free r->text and zero r */
void smg_smtpc_reply_clear(struct smg_smtpc_reply *r);

/*
 * smg_smtpc_quit - send QUIT (if the connection is usable), wait briefly
 * for the reply, close and free c.  c may be NULL.
 */
void smg_smtpc_quit(struct smg_smtpc *c);

/* smg_smtpc_free - close without QUIT and free; c may be NULL */
void smg_smtpc_free(struct smg_smtpc *c);

/*
 * smg_smtpc_wire - append msg[0..len) to out in SMTP wire form: every line
 * ending (LF, CRLF or a bare CR) becomes CRLF, a line starting with '.' gets another
 * '.' (RFC 5321 4.5.2), a last line without ending gets CRLF, and the
 * final ".\r\n" is added.  Returns whether the message has 8-bit bytes.
 */
gboolean smg_smtpc_wire(const char *msg, gsize len, GString *out);

/*
 * smg_smtpc_size - the size of the message whose wire form (from
 * smg_smtpc_wire) is data[0..len), as SIZE= counts it (RFC 1870 3):
 * lines with their CRLF, without the dots added for transparency and
 * without the final ".\r\n"
 */
gsize smg_smtpc_size(const char *data, gsize len);

/*
 * smg_smtpc_parse_reply - parse the reply lines (without CRLF) into *r
 * (r->text a new string).  FALSE for a malformed reply (no 3-digit code,
 * codes that differ between lines, a bad separator).
 */
gboolean smg_smtpc_parse_reply(const char *const *lines, gsize n,
                               struct smg_smtpc_reply *r);

#endif

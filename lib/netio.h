/*
 * netio.h - buffered line I/O on a pair of file descriptors, with time-outs
 * and optional TLS (OpenSSL), for the SMTP server and client.
 *
 * Input is read into a buffer and handed out a line at a time; output is
 * collected and written when the caller flushes, or automatically before a
 * read would block, so that pipelined replies go out in one write as
 * Postfix does.  All I/O is non-blocking with poll(2), so every read and
 * write obeys the time-out even inside TLS records.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_NETIO_H
#define SMG_NETIO_H 1

#include <openssl/ssl.h>

#include <glib.h>

#include "lib/status.h"

enum smg_netio_rc {
    SMG_NETIO_OK = 0,
    SMG_NETIO_EOF,     /* peer closed (a partial last line is discarded) */
    SMG_NETIO_TIMEOUT, /* nothing for the time-out */
    SMG_NETIO_ERROR,   /* I/O or TLS error */
    SMG_NETIO_TOOLONG, /* line longer than the limit; it was consumed */
};

/* How a line ended. */
enum smg_netio_eol {
    SMG_NETIO_CRLF = 0,
    SMG_NETIO_LF,      /* bare LF: refused in SMTP data (smuggling) */
};

struct smg_netio;

/* smg_netio_new - wrap rfd/wfd (made non-blocking); timeout in ms */
struct smg_netio *smg_netio_new(int rfd, int wfd, int timeout_ms);
/* smg_netio_free - free, shutting TLS down; does not close the fds */
void smg_netio_free(struct smg_netio *io);

void smg_netio_set_timeout(struct smg_netio *io, int timeout_ms);

/*
 * smg_netio_set_flush_deadline - with whole, a flush must be complete
 * within the time-out (a server's replies: a client that reads a byte now
 * and then must not hold the session for ever); without (the default), it
 * must only make progress within it (a large message to a slow server).
 */
void smg_netio_set_flush_deadline(struct smg_netio *io, gboolean whole);

/*
 * smg_netio_getline - read one line into line (without its CRLF/LF, which
 * *eol reports).  max is the longest line accepted, ending excluded; a
 * longer one is read to its end and SMG_NETIO_TOOLONG returned, with *eol
 * still telling how it ended.  The whole line must arrive within the
 * time-out (counted from the first wait for it), else SMG_NETIO_TIMEOUT.
 * Pending output is flushed before waiting for input.
 */
enum smg_netio_rc smg_netio_getline(struct smg_netio *io, GString *line,
                                    gsize max, enum smg_netio_eol *eol);

/*
 * smg_netio_getline_by - smg_netio_getline, the line due by deadline
 * (monotonic µs, as smg_netio_deadline gives) instead of the time-out from
 * the first wait (0: that); a line already received is taken even after
 * the deadline.  A client bounds a reply of many lines with one deadline.
 */
enum smg_netio_rc smg_netio_getline_by(struct smg_netio *io, GString *line, gsize max,
                                       enum smg_netio_eol *eol, gint64 deadline);

/* smg_netio_deadline - now plus the time-out, in monotonic µs */
gint64 smg_netio_deadline(const struct smg_netio *io);

/* smg_netio_pending - whether unread input is buffered (pipelining) */
gboolean smg_netio_pending(const struct smg_netio *io);

/* smg_netio_discard_input - drop buffered input (before a TLS handshake) */
void smg_netio_discard_input(struct smg_netio *io);

/* smg_netio_write - queue bytes for output */
void smg_netio_write(struct smg_netio *io, const char *buf, gsize len);
void smg_netio_printf(struct smg_netio *io, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

/* smg_netio_flush - write all queued output */
enum smg_netio_rc smg_netio_flush(struct smg_netio *io);

/*
 * smg_netio_tls_accept / smg_netio_tls_connect - run the TLS handshake as
 * server or client with ctx (servername: SNI and host name to verify, may
 * be NULL).  Buffered input must have been discarded.  SMG_TEMPFAIL with
 * err on failure (the connection is then unusable).
 */
enum smg_status smg_netio_tls_accept(struct smg_netio *io, SSL_CTX *ctx,
                                     GError **err);
enum smg_status smg_netio_tls_connect(struct smg_netio *io, SSL_CTX *ctx,
                                      const char *servername, GError **err);

/*
 * smg_netio_tls_connect_ssl - the client handshake on ssl, an SSL object
 * the caller made and set up (SNI, host name and DANE checks, verify
 * mode); io takes ownership of ssl in every case.  Peer verification is
 * the caller's to check afterwards (SSL_get_verify_result) when ssl's
 * verify mode is SSL_VERIFY_NONE.  SMG_TEMPFAIL with err on failure.
 */
enum smg_status smg_netio_tls_connect_ssl(struct smg_netio *io, SSL *ssl,
                                          GError **err);

/* smg_netio_ssl - the TLS session, or NULL before STARTTLS */
SSL *smg_netio_ssl(const struct smg_netio *io);

/* smg_netio_rc_name - "timeout" etc., for log lines */
const char *smg_netio_rc_name(enum smg_netio_rc rc);

#endif

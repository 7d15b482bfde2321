/*
 * netio.c - non-blocking buffered line I/O with time-outs and TLS.
 *
 * Reads go through rd(), writes through wr(); each handles plain fds and
 * OpenSSL's WANT_READ/WANT_WRITE by polling the right fd for what the TLS
 * engine needs, within the remaining time.  The time-out is per operation:
 * a line read must be complete within it (as Postfix's smtpd_timeout with
 * smtpd_per_record_deadline), a flush must make progress within it, or,
 * for a server (smg_netio_set_flush_deadline), be complete within it.
 *
 * SSL_get_error() takes any error in the thread's queue for the outcome of
 * the call just made (SSL_ERROR_SSL), so the queue is emptied before every
 * SSL_read, SSL_write, handshake step and SSL_shutdown, as OpenSSL asks:
 * an error left by an earlier call (SSL_dane_tlsa_add refusing an unusable
 * TLSA record, a connection that died before) must not turn a read or
 * write that has only to wait into a lost connection.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "lib/log.h"
#include "lib/netio.h"

#define NETIO_BUFSIZE 65536

struct smg_netio {
    int rfd, wfd;
    int timeout_ms;
    gboolean flush_whole; /* a flush must end within the time-out */
    SSL *ssl;
    char *buf;
    gsize start, end; /* unread input is buf[start..end) */
    GString *out;
};

/* set_nonblock - make fd non-blocking */
static void
set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl >= 0 && !(fl & O_NONBLOCK))
        (void) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

struct smg_netio *
smg_netio_new(int rfd, int wfd, int timeout_ms)
{
    struct smg_netio *io = g_new0(struct smg_netio, 1);

    io->rfd = rfd;
    io->wfd = wfd;
    io->timeout_ms = timeout_ms;
    io->buf = g_malloc(NETIO_BUFSIZE);
    io->out = g_string_sized_new(1024);
    set_nonblock(rfd);
    set_nonblock(wfd);
    return io;
}

void
smg_netio_free(struct smg_netio *io)
{
    if (io == NULL)
        return;
    if (io->ssl != NULL) {
        ERR_clear_error();
        (void) SSL_shutdown(io->ssl);
        /* a connection that died leaves nothing for the next one */
        ERR_clear_error();
        SSL_free(io->ssl);
    }
    g_free(io->buf);
    g_string_free(io->out, TRUE);
    g_free(io);
}

void
smg_netio_set_timeout(struct smg_netio *io, int timeout_ms)
{
    io->timeout_ms = timeout_ms;
}

void
smg_netio_set_flush_deadline(struct smg_netio *io, gboolean whole)
{
    io->flush_whole = whole;
}

SSL *
smg_netio_ssl(const struct smg_netio *io)
{
    return io->ssl;
}

const char *
smg_netio_rc_name(enum smg_netio_rc rc)
{
    switch (rc) {
    case SMG_NETIO_OK: return "ok";
    case SMG_NETIO_EOF: return "lost connection";
    case SMG_NETIO_TIMEOUT: return "timeout";
    case SMG_NETIO_ERROR: return "I/O error";
    case SMG_NETIO_TOOLONG: return "line too long";
    }
    return "unknown";
}

/* wait_fd - poll fd for events until deadline (monotonic µs) */
static enum smg_netio_rc
wait_fd(int fd, short events, gint64 deadline)
{
    for (;;) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        struct pollfd p = {fd, events, 0};
        int n;

        if (left <= 0)
            return SMG_NETIO_TIMEOUT;
        n = poll(&p, 1, (int) MIN(left, G_MAXINT));
        if (n > 0)
            return SMG_NETIO_OK;
        if (n == 0)
            return SMG_NETIO_TIMEOUT;
        if (errno != EINTR)
            return SMG_NETIO_ERROR;
    }
}

/* ssl_wait - wait for what OpenSSL asked for after a call returned r */
static enum smg_netio_rc
ssl_wait(struct smg_netio *io, int r, gint64 deadline)
{
    switch (SSL_get_error(io->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return wait_fd(io->rfd, POLLIN, deadline);
    case SSL_ERROR_WANT_WRITE:
        return wait_fd(io->wfd, POLLOUT, deadline);
    case SSL_ERROR_ZERO_RETURN:
        return SMG_NETIO_EOF;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        return r == 0 ? SMG_NETIO_EOF : SMG_NETIO_ERROR;
    default:
        ERR_clear_error();
        return SMG_NETIO_ERROR;
    }
}

/* rd - read some bytes into the buffer's free space by deadline
 * (monotonic µs) */
static enum smg_netio_rc
rd(struct smg_netio *io, gint64 deadline)
{
    enum smg_netio_rc rc;

    if (io->start > 0) {
        memmove(io->buf, io->buf + io->start, io->end - io->start);
        io->end -= io->start;
        io->start = 0;
    }
    for (;;) {
        if (io->ssl != NULL) {
            int r;

            ERR_clear_error();
            r = SSL_read(io->ssl, io->buf + io->end, (int) (NETIO_BUFSIZE - io->end));
            if (r > 0) {
                io->end += (gsize) r;
                return SMG_NETIO_OK;
            }
            if ((rc = ssl_wait(io, r, deadline)) != SMG_NETIO_OK)
                return rc;
        } else {
            ssize_t r = read(io->rfd, io->buf + io->end, NETIO_BUFSIZE - io->end);
            if (r > 0) {
                io->end += (gsize) r;
                return SMG_NETIO_OK;
            }
            if (r == 0)
                return SMG_NETIO_EOF;
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return SMG_NETIO_ERROR;
            if ((rc = wait_fd(io->rfd, POLLIN, deadline)) != SMG_NETIO_OK)
                return rc;
        }
    }
}

gint64
smg_netio_deadline(const struct smg_netio *io)
{
    return g_get_monotonic_time() + (gint64) io->timeout_ms * 1000;
}

enum smg_netio_rc
smg_netio_getline(struct smg_netio *io, GString *line, gsize max,
                  enum smg_netio_eol *eol)
{
    return smg_netio_getline_by(io, line, max, eol, 0);
}

enum smg_netio_rc
smg_netio_getline_by(struct smg_netio *io, GString *line, gsize max,
                     enum smg_netio_eol *eol, gint64 deadline)
{
    gboolean toolong = FALSE;
    char last = '\0'; /* the line's last octet before LF, kept or not */
    enum smg_netio_rc rc;

    g_string_truncate(line, 0);
    for (;;) {
        char *s = io->buf + io->start;
        gsize avail = io->end - io->start;
        char *nl = memchr(s, '\n', avail);
        gsize take = nl != NULL ? (gsize) (nl - s) : avail;

        if (take > 0)
            last = s[take - 1];
        if (!toolong) {
            if (line->len + take > max + 1) /* +1: a CR before LF */
                toolong = TRUE;
            else
                g_string_append_len(line, s, (gssize) take);
        }
        if (nl != NULL) {
            io->start += take + 1;
            if (toolong) {
                /* how a dropped line ended decides whether a "." after
                 * it may end the data */
                *eol = last == '\r' ? SMG_NETIO_CRLF : SMG_NETIO_LF;
                return SMG_NETIO_TOOLONG;
            }
            if (line->len > 0 && line->str[line->len - 1] == '\r') {
                g_string_truncate(line, line->len - 1);
                *eol = SMG_NETIO_CRLF;
            } else {
                *eol = SMG_NETIO_LF;
            }
            if (line->len > max) {
                return SMG_NETIO_TOOLONG; /* *eol set */
            }
            return SMG_NETIO_OK;
        }
        io->start = io->end = 0;
        if (io->out->len > 0 && (rc = smg_netio_flush(io)) != SMG_NETIO_OK)
            return rc;
        /* the time-out bounds the whole line, counted from the first
         * wait for it, not each read: a peer that sends a byte now and
         * then must not hold the session for ever (slow loris) */
        if (deadline == 0)
            deadline = smg_netio_deadline(io);
        if ((rc = rd(io, deadline)) != SMG_NETIO_OK)
            return rc;
    }
}

gboolean
smg_netio_pending(const struct smg_netio *io)
{
    return io->end > io->start || (io->ssl != NULL && SSL_pending(io->ssl) > 0);
}

void
smg_netio_discard_input(struct smg_netio *io)
{
    io->start = io->end = 0;
}

void
smg_netio_write(struct smg_netio *io, const char *buf, gsize len)
{
    g_string_append_len(io->out, buf, (gssize) len);
}

void
smg_netio_printf(struct smg_netio *io, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_string_append_vprintf(io->out, fmt, ap);
    va_end(ap);
}

enum smg_netio_rc
smg_netio_flush(struct smg_netio *io)
{
    /* the time-out bounds a stall, not the whole flush: a message of
     * 20 MB to a slow server may take longer than it as long as the
     * server keeps reading (Postfix's smtp_data_xfer_timeout); with
     * flush_whole (a server's replies) it bounds the whole flush */
    gint64 step = (gint64) io->timeout_ms * 1000;
    gint64 deadline = g_get_monotonic_time() + step;
    gsize done = 0;
    enum smg_netio_rc rc = SMG_NETIO_OK;

    while (done < io->out->len) {
        if (io->ssl != NULL) {
            int r;

            ERR_clear_error();
            r = SSL_write(io->ssl, io->out->str + done,
                          (int) MIN(io->out->len - done, (gsize) G_MAXINT));
            if (r > 0) {
                done += (gsize) r;
                if (!io->flush_whole)
                    deadline = g_get_monotonic_time() + step;
                continue;
            }
            if ((rc = ssl_wait(io, r, deadline)) != SMG_NETIO_OK)
                break;
        } else {
            ssize_t r = write(io->wfd, io->out->str + done, io->out->len - done);
            if (r > 0) {
                done += (gsize) r;
                if (!io->flush_whole)
                    deadline = g_get_monotonic_time() + step;
                continue;
            }
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                rc = errno == EPIPE ? SMG_NETIO_EOF : SMG_NETIO_ERROR;
                break;
            }
            if ((rc = wait_fd(io->wfd, POLLOUT, deadline)) != SMG_NETIO_OK)
                break;
        }
    }
    g_string_erase(io->out, 0, (gssize) done);
    if (rc != SMG_NETIO_OK)
        g_string_truncate(io->out, 0);
    return rc;
}

/* handshake - drive SSL_accept or SSL_connect to completion */
static enum smg_status
handshake(struct smg_netio *io, gboolean server, GError **err)
{
    gint64 deadline = g_get_monotonic_time() + (gint64) io->timeout_ms * 1000;

    for (;;) {
        enum smg_netio_rc rc;
        unsigned long e;
        int r;

        ERR_clear_error();
        r = server ? SSL_accept(io->ssl) : SSL_connect(io->ssl);
        if (r == 1)
            return SMG_OK;
        e = ERR_peek_error();
        rc = ssl_wait(io, r, deadline);
        if (rc != SMG_NETIO_OK) {
            char buf[256] = "";
            if (e != 0)
                ERR_error_string_n(e, buf, sizeof buf);
            /* a time-out is the connection's, as any other (4.4.2):
               smg-recv ends such a session with 75 */
            smg_set_error(err, SMG_TEMPFAIL,
                          rc == SMG_NETIO_TIMEOUT ? "4.4.2" : "4.7.5",
                          "TLS handshake failed: %s%s%s",
                          smg_netio_rc_name(rc), *buf ? ": " : "", buf);
            SSL_free(io->ssl);
            io->ssl = NULL;
            return SMG_TEMPFAIL;
        }
    }
}

/* tls_start - give io the SSL object ssl (NULL: SSL_new failed) on its fds */
static enum smg_status
tls_start(struct smg_netio *io, SSL *ssl, GError **err)
{
    if (ssl == NULL || SSL_set_rfd(ssl, io->rfd) != 1 || SSL_set_wfd(ssl, io->wfd) != 1) {
        smg_set_error(err, SMG_TEMPFAIL, "4.7.5", "cannot set up TLS");
        if (ssl != NULL)
            SSL_free(ssl);
        return SMG_TEMPFAIL;
    }
    /* SSL_write returns after each record: smg_netio_flush's time-out
     * counts from the last progress, as over clear text */
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);
    io->ssl = ssl;
    return SMG_OK;
}

enum smg_status
smg_netio_tls_accept(struct smg_netio *io, SSL_CTX *ctx, GError **err)
{
    enum smg_status st;

    if (io->out->len > 0 && smg_netio_flush(io) != SMG_NETIO_OK) {
        smg_set_error(err, SMG_TEMPFAIL, "4.4.2", "lost connection before TLS");
        return SMG_TEMPFAIL;
    }
    /* plaintext that arrived before the handshake must never be read as
     * if it came over TLS (CVE-2011-0411) */
    smg_netio_discard_input(io);
    if ((st = tls_start(io, SSL_new(ctx), err)) != SMG_OK)
        return st;
    return handshake(io, TRUE, err);
}

enum smg_status
smg_netio_tls_connect(struct smg_netio *io, SSL_CTX *ctx,
                      const char *servername, GError **err)
{
    SSL *ssl = SSL_new(ctx);

    if (ssl == NULL) {
        smg_set_error(err, SMG_TEMPFAIL, "4.7.5", "cannot set up TLS");
        return SMG_TEMPFAIL;
    }
    if (servername != NULL) {
        SSL_set_tlsext_host_name(ssl, servername);
        SSL_set1_host(ssl, servername);
    }
    return smg_netio_tls_connect_ssl(io, ssl, err);
}

enum smg_status
smg_netio_tls_connect_ssl(struct smg_netio *io, SSL *ssl, GError **err)
{
    enum smg_status st;

    if (io->out->len > 0 && smg_netio_flush(io) != SMG_NETIO_OK) {
        SSL_free(ssl);
        smg_set_error(err, SMG_TEMPFAIL, "4.4.2", "lost connection before TLS");
        return SMG_TEMPFAIL;
    }
    smg_netio_discard_input(io);
    if ((st = tls_start(io, ssl, err)) != SMG_OK)
        return st;
    return handshake(io, FALSE, err);
}

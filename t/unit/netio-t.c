/*
 * netio-t.c - unit tests for lib/netio over TLS: a TLS server in a child
 * process on one end of a socketpair, smg_netio the client on the other.
 *
 * OpenSSL's SSL_get_error() reports any error left in the thread's error
 * queue as SSL_ERROR_SSL, whatever the call that just returned; OpenSSL
 * asks that the queue be empty before each SSL_read, SSL_write,
 * SSL_connect/accept and SSL_shutdown.  Errors are left there in real use
 * (SSL_dane_tlsa_add refusing an unusable TLSA record, an SSL_shutdown on
 * a dead connection), so these tests leave one there before each
 * operation and check that a handshake, a read that must wait and a flush
 * that must wait take it for what it is: waiting, not a lost connection;
 * and that netio leaves no error of a dead connection behind for the
 * next one.  The server sends no TLS 1.3 session tickets (as smg-recv's):
 * reading one runs OpenSSL's state machine, which empties the queue, and
 * would hide the stale error by chance.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "lib/netio.h"
#include "t/tap/basic.h"

static SSL_CTX *server_ctx, *client_ctx;

/* make_ctxs - a server context with a fresh self-signed P-256 certificate
 * and a client context that does not verify it */
static void
make_ctxs(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;

    if (key == NULL || x == NULL)
        bail("cannot make a test key");
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *) "peer.test", -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (X509_sign(x, key, EVP_sha256()) == 0)
        bail("cannot sign the test certificate");
    server_ctx = SSL_CTX_new(TLS_server_method());
    client_ctx = SSL_CTX_new(TLS_client_method());
    if (server_ctx == NULL || client_ctx == NULL
        || SSL_CTX_use_certificate(server_ctx, x) != 1
        || SSL_CTX_use_PrivateKey(server_ctx, key) != 1)
        bail("cannot set up the TLS contexts");
    SSL_CTX_set_num_tickets(server_ctx, 0);
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
    if (SSL_CTX_dane_enable(client_ctx) <= 0)
        bail("SSL_CTX_dane_enable");
    X509_free(x);
    EVP_PKEY_free(key);
}

enum server_mode {
    SERVE_ECHO,  /* read a line, answer it with "pong", then read to EOF */
    SERVE_QUIET, /* send nothing, read nothing until the sync fd closes */
    SERVE_GONE,  /* close the connection at once, without close_notify */
};

/* serve - the child: TLS server on fd, as mode says; exits 0 if all went
 * as planned */
static void G_GNUC_NORETURN
serve(int fd, int sync_fd, enum server_mode mode)
{
    SSL *ssl = SSL_new(server_ctx);
    char buf[4096];
    int n;

    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1)
        _exit(2);
    if (mode == SERVE_ECHO) {
        n = SSL_read(ssl, buf, sizeof buf);
        if (n != 6 || memcmp(buf, "ping\r\n", 6) != 0)
            _exit(3);
        if (SSL_write(ssl, "pong\r\n", 6) != 6)
            _exit(4);
        while (SSL_read(ssl, buf, sizeof buf) > 0)
            ;
    } else if (mode == SERVE_QUIET) {
        while (read(sync_fd, buf, sizeof buf) > 0)
            ;
    }
    _exit(0);
}

/* start - fork a server in mode; *io the client on *fd, *sync_fd the fd
 * whose closing ends a SERVE_QUIET server */
static pid_t
start(enum server_mode mode, struct smg_netio **io, int *fd, int *sync_fd)
{
    int sv[2], sp[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || pipe(sp) != 0)
        bail("socketpair");
    pid = fork();
    if (pid < 0)
        bail("fork");
    if (pid == 0) {
        close(sv[0]);
        close(sp[1]);
        serve(sv[1], sp[0], mode);
    }
    close(sv[1]);
    close(sp[0]);
    *fd = sv[0];
    *sync_fd = sp[1];
    *io = smg_netio_new(sv[0], sv[0], 5000);
    return pid;
}

/* stale_error - leave an error in the queue, as a failed call would */
static void
stale_error(void)
{
    ERR_raise(ERR_LIB_SSL, SSL_R_DANE_TLSA_BAD_DATA_LENGTH);
}

/* finish - free io, close its fd and sync_fd, reap the server */
static int
finish(struct smg_netio *io, int fd, int sync_fd, pid_t pid)
{
    int status;

    smg_netio_free(io);
    close(fd);
    close(sync_fd);
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status)
           && WEXITSTATUS(status) == 0;
}

/* test_handshake_and_read - SSL_dane_tlsa_add refuses a record (as for a
 * TLSA record of the wrong length), then the handshake and a read that
 * must wait for the answer */
static void
test_handshake_and_read(void)
{
    static const unsigned char shortdigest[5] = {1, 2, 3, 4, 5};
    struct smg_netio *io;
    GString *line = g_string_new(NULL);
    enum smg_netio_eol eol;
    GError *err = NULL;
    SSL *ssl = SSL_new(client_ctx);
    int sync_fd, fd;
    pid_t pid = start(SERVE_ECHO, &io, &fd, &sync_fd);
    enum smg_netio_rc rc;
    enum smg_status st;

    if (ssl == NULL || SSL_dane_enable(ssl, "peer.test") <= 0)
        bail("SSL_dane_enable");
    ok(SSL_dane_tlsa_add(ssl, 3, 1, 1, shortdigest, sizeof shortdigest) <= 0
           && ERR_peek_error() != 0,
       "SSL_dane_tlsa_add refuses a short digest and leaves an error");
    st = smg_netio_tls_connect_ssl(io, ssl, &err);
    ok(st == SMG_OK, "the handshake succeeds all the same (%s)",
       err != NULL ? err->message : "ok");
    g_clear_error(&err);
    if (st != SMG_OK) {
        skip("no TLS session");
        skip("no TLS session");
        g_string_free(line, TRUE);
        (void) finish(io, fd, sync_fd, pid);
        return;
    }
    smg_netio_printf(io, "ping\r\n");
    stale_error();
    rc = smg_netio_getline(io, line, 512, &eol);
    ok(rc == SMG_NETIO_OK && strcmp(line->str, "pong") == 0,
       "a read that must wait gets the answer: %s '%s'",
       smg_netio_rc_name(rc), line->str);
    ok(finish(io, fd, sync_fd, pid), "the server saw ping and answered");
    g_string_free(line, TRUE);
}

/* test_read_waits - a read with no data yet, with an error in the queue:
 * waiting until the time-out, not an I/O error at once */
static void
test_read_waits(void)
{
    struct smg_netio *io;
    GString *line = g_string_new(NULL);
    enum smg_netio_eol eol;
    GError *err = NULL;
    int sync_fd, fd;
    pid_t pid = start(SERVE_QUIET, &io, &fd, &sync_fd);
    enum smg_netio_rc rc;

    if (smg_netio_tls_connect(io, client_ctx, NULL, &err) != SMG_OK)
        bail("handshake: %s", err->message);
    smg_netio_set_timeout(io, 300);
    stale_error();
    rc = smg_netio_getline(io, line, 512, &eol);
    is_string("timeout", smg_netio_rc_name(rc),
              "a read with nothing to read waits for its time-out");
    ok(finish(io, fd, sync_fd, pid), "server done");
    g_string_free(line, TRUE);
}

/* test_flush_waits - a flush that fills the socket, with an error in the
 * queue: waiting until the time-out, not an I/O error at once */
static void
test_flush_waits(void)
{
    struct smg_netio *io;
    GError *err = NULL;
    char *big = g_malloc(4 << 20);
    int sync_fd, fd;
    pid_t pid = start(SERVE_QUIET, &io, &fd, &sync_fd);
    enum smg_netio_rc rc;

    if (smg_netio_tls_connect(io, client_ctx, NULL, &err) != SMG_OK)
        bail("handshake: %s", err->message);
    memset(big, 'x', 4 << 20);
    smg_netio_write(io, big, 4 << 20);
    g_free(big);
    smg_netio_set_timeout(io, 300);
    stale_error();
    rc = smg_netio_flush(io);
    is_string("timeout", smg_netio_rc_name(rc),
              "a flush the peer does not read waits for its time-out");
    ok(finish(io, fd, sync_fd, pid), "server done");
}

/* test_dead_connection - reading from and freeing a connection whose
 * peer has gone leave no error in the queue */
static void
test_dead_connection(void)
{
    struct smg_netio *io;
    GString *line = g_string_new(NULL);
    enum smg_netio_eol eol;
    GError *err = NULL;
    int sync_fd, fd, status;
    pid_t pid = start(SERVE_GONE, &io, &fd, &sync_fd);
    enum smg_netio_rc rc;

    if (smg_netio_tls_connect(io, client_ctx, NULL, &err) != SMG_OK)
        bail("handshake: %s", err->message);
    ok(waitpid(pid, &status, 0) == pid && WIFEXITED(status)
           && WEXITSTATUS(status) == 0,
       "the server has gone");
    smg_netio_printf(io, "ping\r\n");
    rc = smg_netio_getline(io, line, 512, &eol);
    ok(rc == SMG_NETIO_EOF || rc == SMG_NETIO_ERROR, "the read fails: %s",
       smg_netio_rc_name(rc));
    smg_netio_free(io);
    close(fd);
    close(sync_fd);
    ok(ERR_peek_error() == 0, "no error left in the queue after smg_netio_free");
    ERR_clear_error();
    g_string_free(line, TRUE);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    plan(11);
    make_ctxs();
    test_handshake_and_read();
    test_read_waits();
    test_flush_waits();
    test_dead_connection();
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    return 0;
}

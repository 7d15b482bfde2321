/*
 * tls.c - OpenSSL context set-up for server and client (see tls.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <openssl/err.h>

#include "lib/tls.h"

/*
 * Without a callback OpenSSL asks for a pass phrase on /dev/tty or, where
 * there is none (inetd, systemd Accept=yes), reads it from stdin: the SMTP
 * client's connection (or smg-sign's message), which could then guess the
 * pass phrase a connection at a time, or hold the process, before any
 * time-out, by sending no line at all.
 */
int
smg_tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) u;
    return 0;
}

/* ssl_reason - the last OpenSSL error as text (static buffer) */
static const char *
ssl_reason(void)
{
    static char buf[256];
    unsigned long e = ERR_get_error();

    if (e == 0)
        return "unknown error";
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

enum smg_status
smg_tls_server_ctx(const char *cert, const char *key, SSL_CTX **out,
                   GError **err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL) {
        smg_set_error(err, SMG_BUG, NULL, "SSL_CTX_new: %s", ssl_reason());
        return SMG_BUG;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE
                                 | SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION);
    /* no resumption: with the cache off and SSL_OP_NO_TICKET, TLS 1.3 would
     * still send two stateful tickets per handshake that no later
     * connection could use */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_default_passwd_cb(ctx, smg_tls_no_passphrase);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        smg_set_error(err, SMG_CONFIG, NULL, "cannot load certificate %s: %s",
                      cert, ssl_reason());
        SSL_CTX_free(ctx);
        return SMG_CONFIG;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "cannot load key %s (it must not be encrypted): %s", key,
                      ssl_reason());
        SSL_CTX_free(ctx);
        return SMG_CONFIG;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        smg_set_error(err, SMG_CONFIG, NULL, "key %s does not match %s", key,
                      cert);
        SSL_CTX_free(ctx);
        return SMG_CONFIG;
    }
    *out = ctx;
    return SMG_OK;
}

enum smg_status
smg_tls_client_ctx(gboolean verify, const char *cafile, SSL_CTX **out,
                   GError **err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        smg_set_error(err, SMG_BUG, NULL, "SSL_CTX_new: %s", ssl_reason());
        return SMG_BUG;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    if (verify) {
        int ok = cafile != NULL ? SSL_CTX_load_verify_locations(ctx, cafile, NULL)
                                : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            smg_set_error(err, SMG_CONFIG, NULL, "cannot load trust store %s: %s",
                          cafile != NULL ? cafile : "(default)", ssl_reason());
            SSL_CTX_free(ctx);
            return SMG_CONFIG;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    *out = ctx;
    return SMG_OK;
}

const char *
smg_tls_version(SSL *ssl)
{
    return SSL_get_version(ssl);
}

char *
smg_tls_describe(SSL *ssl)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    int bits = 0;

    if (c != NULL)
        SSL_CIPHER_get_bits(c, &bits);
    return g_strdup_printf("%s cipher=%s bits=%d", SSL_get_version(ssl),
                           c != NULL ? SSL_CIPHER_get_name(c) : "none", bits);
}

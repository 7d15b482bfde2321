/*
 * tls.h - OpenSSL contexts for smg's SMTP server and client.
 *
 * Server: TLS 1.2 and up, the operator's certificate chain and key, server
 * cipher preference, no session tickets across processes (one process per
 * connection makes them useless), no renegotiation.  The handshake itself
 * runs in netio.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_TLS_H
#define SMG_TLS_H 1

#include <openssl/ssl.h>

#include <glib.h>

#include "lib/status.h"

/*
 * smg_tls_server_ctx - a server context with cert (PEM chain) and key.
 * SMG_CONFIG with err when a file is missing, unreadable or the key does
 * not match the certificate, or the key is encrypted: no pass phrase is
 * ever asked for (OpenSSL would read it from stdin, the SMTP client, where
 * there is no terminal).
 */
enum smg_status smg_tls_server_ctx(const char *cert, const char *key,
                                   SSL_CTX **out,
                                   GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_tls_no_passphrase - a pem_password_cb that gives none: for every key
 * smg loads, so that an encrypted one fails to load instead of OpenSSL
 * asking for its pass phrase on a terminal or, without one, on stdin.
 */
int smg_tls_no_passphrase(char *buf, int size, int rwflag, void *u);

/*
 * smg_tls_client_ctx - a client context, TLS 1.2 and up; with verify, the
 * system trust store (or cafile if not NULL) and peer verification on.
 */
enum smg_status smg_tls_client_ctx(gboolean verify, const char *cafile,
                                   SSL_CTX **out,
                                   GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_tls_describe - "TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256" for
 * logs and Received: fields (new string).
 */
char *smg_tls_describe(SSL *ssl);

/* smg_tls_version - "TLSv1.3" (static) */
const char *smg_tls_version(SSL *ssl);

#endif

/*
 * auth.h - SMTP AUTH: the credentials file, password checks, SASL decoding.
 *
 * No I/O with the client: smg-recv reads the lines, this module decodes
 * them (PLAIN, RFC 4616; LOGIN's two base64 steps) and checks the password
 * against a credentials file of "user:crypt-hash" lines (yescrypt or
 * SHA-512 crypt, as mkpasswd(1) makes them) with libxcrypt's crypt_rn.
 * A check takes the same time whether the user exists or not: for an
 * unknown or locked user a crypt of the same kind still runs, and results
 * are compared in constant time.  Decoded passwords live in buffers that
 * the caller hands back to smg_auth_secret_free, which wipes them.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_AUTH_H
#define SMG_AUTH_H 1

#include <glib.h>

#include "lib/status.h"

struct smg_auth;

/*
 * smg_auth_load - read the credentials file path: one "user:hash" per line;
 * blank lines and lines starting with '#' (after optional blanks) are
 * ignored.  user is 1*255 printable, non-blank characters without ':'.
 * hash is a crypt(5) hash of a strong kind ($y$ yescrypt, $gy$, $7$
 * scrypt, $2b$ bcrypt, $6$ SHA-512; not the legacy $5$, $1$ or DES), and
 * complete (a bare setting is refused); a hash prefixed with '!' or '*' is
 * a locked account that never authenticates (as in shadow(5)).
 * A file readable or writable by others is accepted with a warning logged.
 *
 * On success *out owns the result (smg_auth_free).  Returns SMG_CONFIG with
 * err ("4.3.5 FILE:LINE: reason") for a malformed line, an unknown or weak
 * hash kind, a user listed twice, or a missing, unreadable or non-regular
 * file; SMG_TEMPFAIL for other I/O errors (EIO, EMFILE, ENOMEM ...).
 */
enum smg_status smg_auth_load(const char *path, struct smg_auth **out,
                              GError **err)
    G_GNUC_WARN_UNUSED_RESULT __attribute__((nonnull(1, 2)));

/* smg_auth_free - wipe and free a, which may be NULL */
void smg_auth_free(struct smg_auth *a);

/* smg_auth_count - how many users the file lists */
guint smg_auth_count(const struct smg_auth *a) __attribute__((nonnull));

/*
 * smg_auth_check - whether password is user's password.  SMG_OK if so;
 * SMG_PERMFAIL for a wrong password, an unknown or locked user, a password
 * longer than SMG_AUTH_MAX_PASSWORD bytes or a crypt failure (logged).
 * Exactly one crypt runs for a known or unknown user alike (none for an
 * over-long password, which is refused before the lookup).  Neither
 * argument is kept or logged; the caller wipes password.
 */
#define SMG_AUTH_MAX_PASSWORD 512
enum smg_status smg_auth_check(const struct smg_auth *a, const char *user,
                               const char *password)
    G_GNUC_WARN_UNUSED_RESULT __attribute__((nonnull));

/*
 * smg_auth_plain_decode - decode the base64 response of AUTH PLAIN
 * (RFC 4616: [authzid] NUL authcid NUL passwd).  b64 must be strict base64
 * (RFC 4648 alphabet, '=' padding to a multiple of 4, zero pad bits, no
 * blanks; the caller strips CRLF).  On success *authzid (the authcid when
 * the client sent none), *user and *pass are new strings: free *pass (and
 * the others if they may hold secrets) with smg_auth_secret_free.
 * Returns SMG_PERMFAIL with err "5.5.2 ..." for bad base64, a wrong number
 * of NUL separators, an empty user or password, a user that is not UTF-8,
 * or an authzid other than the authcid (we do not support proxy
 * authorization).  On failure the outputs are set to NULL and every
 * decoded byte is wiped.
 */
enum smg_status smg_auth_plain_decode(const char *b64, char **authzid,
                                      char **user, char **pass, GError **err)
    G_GNUC_WARN_UNUSED_RESULT __attribute__((nonnull(1, 2, 3, 4)));

/*
 * smg_auth_b64_decode_text - decode one base64 step of AUTH LOGIN (the
 * user name or the password) into a new NUL-terminated string *out (free
 * with smg_auth_secret_free).  Same strict base64 rules as above; ""
 * decodes to "".  SMG_PERMFAIL with "5.5.2 ..." for bad base64 or a NUL
 * byte in the decoded text; *out is NULL then.
 */
enum smg_status smg_auth_b64_decode_text(const char *b64, char **out,
                                         GError **err)
    G_GNUC_WARN_UNUSED_RESULT __attribute__((nonnull(1, 2)));

/*
 * smg_auth_b64_valid - whether s is strict base64 as described above
 * (exported for smg-recv and the tests).
 */
gboolean smg_auth_b64_valid(const char *s) __attribute__((nonnull));

/* smg_auth_secret_free - explicit_bzero the string s, then g_free it; NULL ok */
void smg_auth_secret_free(char *s);

/* smg_auth_wipe - explicit_bzero len bytes at p (e.g. an input line) */
void smg_auth_wipe(void *p, gsize len);

/*
 * smg_auth_crypt_calls - how many crypt computations smg_auth_check has run
 * in this process (for the tests: an unknown user must cost one too).
 */
guint64 smg_auth_crypt_calls(void);

#endif

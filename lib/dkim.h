/*
 * dkim.h - DKIM signing per sender domain with libopendkim (RSA-SHA256 and
 * Ed25519-SHA256, RFC 6376 and 8463), key generation and key checking.
 *
 * A signer is built from the [sign] group: the KeyTable and SigningTable
 * (lib/keytable.h), the Reply-To table, the header lists and the
 * canonicalization.  For each message it picks the keys by the From:
 * field's address, or by the envelope sender's when the From: address has
 * none; adds a Reply-To: field when the domain asks for one and the message
 * has none; and signs the message with each key: one libopendkim handle per
 * signature, all fed the same data, so no signature covers another.  The
 * new DKIM-Signature fields go on top of the message's header.
 *
 * The message given is the message proper (never the SMG-* envelope
 * fields).  Its lines may end in LF (the spool) or CRLF; libopendkim is fed
 * CRLF, as smg-send transmits (which sends a bare CR as a line end too),
 * and the fields added use the message's own line ends.  l= is never used.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_DKIM_H
#define SMG_DKIM_H 1

#include <glib.h>

#include "lib/config.h"
#include "lib/dns.h"
#include "lib/keytable.h"
#include "lib/status.h"

struct smg_dkim;

/*
 * smg_dkim_new - a signer from the [sign] group of conf: reads the tables
 * and every key (do it before dropping privileges).  On SMG_OK *out is the
 * caller's (smg_dkim_free).  SMG_CONFIG with "FILE:LINE: reason" for a
 * missing or bad table, an unreadable or unusable key, a bad header list.
 * SMG_BUG if libopendkim cannot be set up.
 */
enum smg_status smg_dkim_new(const struct smg_conf *conf, struct smg_dkim **out,
                             GError **err) G_GNUC_WARN_UNUSED_RESULT;
void smg_dkim_free(struct smg_dkim *d);

/* smg_dkim_set_time - sign as if the clock said t (t=, x=); 0: the clock */
void smg_dkim_set_time(struct smg_dkim *d, guint64 t);

/* smg_dkim_keytable - the signer's KeyTable (owned by d) */
const struct smg_keytable *smg_dkim_keytable(const struct smg_dkim *d);

/*
 * smg_dkim_sign - sign msg[0..len) (the message without envelope fields).
 * sender is the envelope sender (may be NULL or "" for none), customer
 * whose mail it is: its SMG-Customer, "" for customer mail without one (no
 * AUTH), NULL for smg's own reports; with [sign] customer_domains, a key
 * is used only for an address in the customer's own domains (else
 * "dkim=none, reason=not the customer's domain").  On SMG_OK,
 * *out is the new message (DKIM-Signature fields on top, a Reply-To: added)
 * or NULL when it is unchanged (no key for its domain: it passes unsigned),
 * and *log a "dkim=signed, d=..., s=..." fragment for the log line (both
 * the caller's).  A message that cannot be signed (a malformed header, no
 * From:, more than one From: field, a From: field of more than 1000 ':')
 * passes unsigned with "dkim=error, reason=...".  SMG_TEMPFAIL
 * (4.3.0) when libopendkim runs out of memory.
 */
enum smg_status smg_dkim_sign(struct smg_dkim *d, const char *id,
                              const char *msg, gsize len, const char *sender,
                              const char *customer, GString **out, char **log,
                              GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_dkim_genkey - make a new key (RSA of bits >= 2048, or Ed25519: bits
 * ignored) and write it as PKCS#8 PEM to path, created with mode 0600
 * (never over an existing file).  On SMG_OK *key is filled (the caller
 * clears it with smg_keytable_key_clear).  SMG_CONFIG when the file
 * exists or cannot be written, or bits is out of range.
 */
enum smg_status smg_dkim_genkey(enum smg_keytable_alg alg, unsigned bits,
                                const char *path, struct smg_dkim_key *key,
                                GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_dkim_txt_record - the zone-file text of the DNS record for a key:
 * "SELECTOR._domainkey.DOMAIN. IN TXT ( "v=DKIM1; k=...; " "p=..." )" with
 * the p= value split in strings of at most 255 characters, after a comment
 * line.  New string.
 */
char *smg_dkim_txt_record(const char *domain, const char *selector,
                          const struct smg_dkim_key *key);

/*
 * smg_dkim_testkey - look up SELECTOR._domainkey.DOMAIN's TXT records and
 * check that one is a DKIM key record for key's public key (v=DKIM1 if
 * given, k= the key's type, p= equal).  SMG_OK when it matches (*detail
 * "key OK", with remarks such as "testing mode (t=y)"); SMG_PERMFAIL (5.7.5)
 * with the reason when there is no record, it is malformed, revoked or
 * another key; SMG_TEMPFAIL (4.4.3) when DNS fails.
 */
enum smg_status smg_dkim_testkey(struct smg_dns *dns, const char *domain,
                                 const char *selector,
                                 const struct smg_dkim_key *key, char **detail,
                                 GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_dkim_key_cache_hits - how many times libopendkim's key decoding was
 * answered from the keys loaded at start (see dkim.c); tests use it to
 * notice when the shortcut stops working on a platform.
 */
guint64 smg_dkim_key_cache_hits(void);

#endif

/*
 * keytable.h - OpenDKIM's KeyTable and SigningTable, and smg's Reply-To
 * table: which key signs mail from which address.
 *
 * The formats are OpenDKIM's (opendkim.conf(5)), so an operator can bring
 * an existing setup.  Every table is a text file of lines "KEY VALUE"
 * (whitespace between), '#' starting a comment, blank lines skipped.
 *
 * KeyTable ("PATH" or "file:PATH"): "NAME DOMAIN:SELECTOR:KEY".  DOMAIN "%"
 * means the sender's domain; KEY is a file (it starts with "/", "./" or
 * "../"; relative names are taken from the KeyTable's folder) or the key
 * itself (PEM, or base64 DER).  Every key is read and checked when the
 * table is loaded, before privileges are dropped: an unreadable or unusable
 * key (not RSA or Ed25519, RSA under 2048 bits) is SMG_CONFIG, never a
 * silent skip.
 *
 * SigningTable ("PATH", "file:PATH" or "refile:PATH"): "PATTERN KEYNAME
 * [SIGNER]".  A refile's patterns are wildcards ("*" matches any run of
 * characters, "*@example.com", "*@*.example.com") tried in file order.  A
 * plain file is looked up as OpenDKIM does: "user@host", "host", then
 * "user@.domain" and ".domain" for each parent domain, "user@*", "*".
 * Matching ignores ASCII case.  KEYNAME "%" (or containing "%") names the
 * key by the sender's domain (smg-sign puts it in lower case); SIGNER
 * (the i= identity) may contain "%" too.
 *
 * Reply-To table ("PATH"): "DOMAIN VALUE..." where DOMAIN is a domain, a
 * "*.domain" wildcard (its subdomains) or "*"; VALUE (the rest of the line)
 * is the Reply-To field's value.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_KEYTABLE_H
#define SMG_KEYTABLE_H 1

#include <glib.h>
#include <openssl/evp.h>

#include "lib/status.h"

/* the smallest RSA key that signs (RFC 8301 says 1024; we ask for more) */
#define SMG_KEYTABLE_MIN_RSA_BITS 2048

enum smg_keytable_alg {
    SMG_KEYTABLE_RSA_SHA256 = 0,
    SMG_KEYTABLE_ED25519_SHA256,
};

struct smg_dkim_key {
    char *name;           /* the KeyTable name */
    char *domain;         /* d= ("%": the sender's domain) */
    char *selector;       /* s= */
    char *source;         /* the key's file, or "inline" */
    unsigned line;        /* line in the KeyTable */
    enum smg_keytable_alg alg;
    unsigned bits;        /* key size (256 for Ed25519) */
    EVP_PKEY *pkey;       /* the private key */
    char *pem;            /* the same as unencrypted PKCS#8 PEM text */
    char *pub;            /* the p= value of its DNS record (base64) */
};

struct smg_keytable;

/*
 * smg_keytable_load - read a KeyTable ("PATH" or "file:PATH") and every key
 * it names.  On SMG_OK *out is the caller's (smg_keytable_free).  SMG_CONFIG
 * with "PATH:LINE: reason" for an unreadable table, a bad line, another
 * dataset type, a duplicate name, or a key that cannot be read or used.
 */
enum smg_status smg_keytable_load(const char *spec, struct smg_keytable **out,
                                  GError **err) G_GNUC_WARN_UNUSED_RESULT;
void smg_keytable_free(struct smg_keytable *kt);

/* smg_keytable_find - the key named name (case-sensitive), or NULL */
const struct smg_dkim_key *smg_keytable_find(const struct smg_keytable *kt,
                                             const char *name);

/* smg_keytable_count, smg_keytable_nth - the keys in file order */
guint smg_keytable_count(const struct smg_keytable *kt);
const struct smg_dkim_key *smg_keytable_nth(const struct smg_keytable *kt,
                                            guint i);

/*
 * smg_keytable_dns_name - whether s can be a d= domain or an s= selector:
 * a host name (SMG_KEYTABLE_DNS_NAME says what that is, for an error
 * message), no address literal; flags as smg_addr_check_domain's
 * (SMG_ADDR_UTF8 lets U-labels through)
 */
#define SMG_KEYTABLE_DNS_NAME "host names: letters, digits, - and ., no empty label, no final dot"
gboolean smg_keytable_dns_name(const char *s, unsigned flags);

/*
 * smg_keytable_key_parse - a private key from PEM text, base64 DER text or
 * DER bytes (data[0..len)), checked as the KeyTable checks it.  On SMG_OK
 * *key is filled (alg, bits, pkey, pem, pub; the caller sets the names and
 * frees it with smg_keytable_key_clear).  SMG_CONFIG with a reason ("not a
 * private key", "RSA key of 1024 bits, 2048 at least", ...) otherwise.
 */
enum smg_status smg_keytable_key_parse(const char *data, gsize len,
                                       struct smg_dkim_key *key,
                                       GError **err) G_GNUC_WARN_UNUSED_RESULT;
void smg_keytable_key_clear(struct smg_dkim_key *key);

/*
 * smg_keytable_pubkey - the base64 p= value for pkey: the DER
 * SubjectPublicKeyInfo for RSA, the 32 raw bytes for Ed25519 (RFC 8463).
 * New string, or NULL for another key type.
 */
char *smg_keytable_pubkey(EVP_PKEY *pkey) G_GNUC_WARN_UNUSED_RESULT;

/* smg_keytable_alg_name - "rsa-sha256" or "ed25519-sha256" */
const char *smg_keytable_alg_name(enum smg_keytable_alg alg);

/* smg_keytable_key_type - the k= value: "rsa" or "ed25519" */
const char *smg_keytable_key_type(enum smg_keytable_alg alg);

/* A SigningTable entry. */
struct smg_signing_entry {
    char *pattern;  /* the key (lower case) */
    char *keyname;  /* may contain "%" */
    char *signer;   /* i= (may contain "%"), or NULL */
    unsigned line;
};

struct smg_signingtable;

/*
 * smg_keytable_signing_load - read a SigningTable ("PATH", "file:PATH" or
 * "refile:PATH").  If kt is not NULL, every key name without "%" must be
 * in it.  SMG_CONFIG with "PATH:LINE: reason" otherwise.
 */
enum smg_status smg_keytable_signing_load(const char *spec,
                                          const struct smg_keytable *kt,
                                          struct smg_signingtable **out,
                                          GError **err) G_GNUC_WARN_UNUSED_RESULT;
void smg_keytable_signing_free(struct smg_signingtable *st);

/*
 * smg_keytable_signing_lookup - the entries for addr ("user@domain"; a
 * bare domain is looked up as "@domain" would be), in the order described
 * above: the first only, or with all every match.  Returns a new array of
 * pointers into st (g_ptr_array_unref), empty when nothing matches.  An
 * address longer than 320 octets (a local part of 64 and a domain of 255,
 * RFC 5321's limits) matches nothing.
 */
GPtrArray *smg_keytable_signing_lookup(const struct smg_signingtable *st,
                                       const char *addr, gboolean all);

/* smg_keytable_wildcard - whether text matches pattern ("*" only), ASCII case ignored */
gboolean smg_keytable_wildcard(const char *pattern, const char *text);

struct smg_replyto;

/* smg_keytable_replyto_load - read a Reply-To table; SMG_CONFIG on errors */
enum smg_status smg_keytable_replyto_load(const char *path,
                                          struct smg_replyto **out,
                                          GError **err) G_GNUC_WARN_UNUSED_RESULT;
void smg_keytable_replyto_free(struct smg_replyto *rt);

/*
 * smg_keytable_replyto_lookup - the Reply-To value for domain: the exact
 * domain first, then "*.parent" for each parent domain (nearest first),
 * then "*".  Owned by rt; NULL if none, and for a domain longer than 255
 * octets.
 */
const char *smg_keytable_replyto_lookup(const struct smg_replyto *rt,
                                        const char *domain);

#endif

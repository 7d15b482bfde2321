/*
 * keytable.c - OpenDKIM's KeyTable and SigningTable, and the Reply-To
 * table (formats in keytable.h and smg.conf(5)).
 *
 * The tables are read once, at start, as root: every key is decoded with
 * OpenSSL then, so that signing never touches the file system and an
 * unusable key stops the program with a config error before it takes any
 * mail.  Lookups are by address or domain, lower-cased; a refile is a list
 * tried in order, a plain file a hash of lists.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "lib/addr.h"
#include "lib/fileio.h"
#include "lib/keytable.h"
#include "lib/log.h"
#include "lib/table.h"
#include "lib/tls.h"

struct smg_keytable {
    char *path;
    GPtrArray *keys;   /* of struct smg_dkim_key *, file order */
    GHashTable *byname; /* name -> key (borrowed) */
};

enum sigtab_type { SIGTAB_FILE = 0, SIGTAB_REFILE };

struct smg_signingtable {
    enum sigtab_type type;
    GPtrArray *entries;  /* of struct smg_signing_entry *, file order */
    GHashTable *bykey;   /* file: pattern -> GPtrArray of entries (borrowed) */
};

struct smg_replyto {
    GHashTable *map; /* lower-case domain or "*.domain" or "*" -> value */
};

/* dataset_path - the file of an OpenDKIM dataset spec; NULL if unsupported */
static const char *
dataset_path(const char *spec, gboolean allow_refile, gboolean *refile)
{
    if (refile != NULL)
        *refile = FALSE;
    if (g_str_has_prefix(spec, "file:"))
        return spec + 5;
    if (g_str_has_prefix(spec, "refile:")) {
        if (!allow_refile)
            return NULL;
        *refile = TRUE;
        return spec + 7;
    }
    if (spec[0] == '/' || strchr(spec, ':') == NULL)
        return spec;
    return NULL; /* csl:, db:, ldap:, ... */
}

const char *
smg_keytable_alg_name(enum smg_keytable_alg alg)
{
    return alg == SMG_KEYTABLE_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

const char *
smg_keytable_key_type(enum smg_keytable_alg alg)
{
    return alg == SMG_KEYTABLE_ED25519_SHA256 ? "ed25519" : "rsa";
}

char *
smg_keytable_pubkey(EVP_PKEY *pkey)
{
    unsigned char *der = NULL;
    unsigned char raw[32];
    size_t rawlen = sizeof raw;
    char *b64 = NULL;
    int n;

    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        n = i2d_PUBKEY(pkey, &der);
        if (n > 0)
            b64 = g_base64_encode(der, (gsize) n);
        OPENSSL_free(der);
        return b64;
    case EVP_PKEY_ED25519:
        if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 || rawlen != 32)
            return NULL;
        return g_base64_encode(raw, rawlen);
    default:
        return NULL;
    }
}

/* decode_pkey - a private key from PEM, base64 DER or DER; NULL if none */
static EVP_PKEY *
decode_pkey(const char *data, gsize len)
{
    EVP_PKEY *pkey = NULL;
    const unsigned char *p;

    while (len > 0 && g_ascii_isspace(*data)) {
        data++;
        len--;
    }
    if (len >= 5 && memcmp(data, "-----", 5) == 0) {
        BIO *bio = BIO_new_mem_buf(data, (int) len);

        if (bio != NULL) {
            /* the _ex form: not the one dkim.c answers from its cache */
            pkey = PEM_read_bio_PrivateKey_ex(bio, NULL, smg_tls_no_passphrase,
                                              NULL, NULL, NULL);
            BIO_free(bio);
        }
        return pkey;
    }
    p = (const unsigned char *) data;
    pkey = d2i_AutoPrivateKey_ex(NULL, &p, (long) len, NULL, NULL);
    if (pkey == NULL) {
        /* base64 DER, as an inline KeyTable key is written */
        char *copy = g_strndup(data, len);
        gsize dlen = 0;
        guchar *der;

        g_strstrip(copy);
        der = g_base64_decode(copy, &dlen);
        if (dlen > 0) {
            p = der;
            pkey = d2i_AutoPrivateKey_ex(NULL, &p, (long) dlen, NULL, NULL);
        }
        OPENSSL_cleanse(der, dlen);
        g_free(der);
        OPENSSL_cleanse(copy, len);
        g_free(copy);
    }
    ERR_clear_error();
    return pkey;
}

gboolean
smg_keytable_dns_name(const char *s, unsigned flags)
{
    return smg_addr_check_domain(s, strlen(s), flags) && !smg_addr_is_domain_literal(s);
}

void
smg_keytable_key_clear(struct smg_dkim_key *key)
{
    if (key == NULL)
        return;
    g_free(key->name);
    g_free(key->domain);
    g_free(key->selector);
    g_free(key->source);
    EVP_PKEY_free(key->pkey);
    if (key->pem != NULL) {
        OPENSSL_cleanse(key->pem, strlen(key->pem));
        g_free(key->pem);
    }
    g_free(key->pub);
    memset(key, 0, sizeof *key);
}

enum smg_status
smg_keytable_key_parse(const char *data, gsize len, struct smg_dkim_key *key,
                       GError **err)
{
    EVP_PKEY *pkey = decode_pkey(data, len);
    BIO *bio;
    BUF_MEM *mem = NULL;

    if (pkey == NULL) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "not a private key (PEM or DER, not encrypted)");
        return SMG_CONFIG;
    }
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        key->alg = SMG_KEYTABLE_RSA_SHA256;
        key->bits = (unsigned) EVP_PKEY_get_bits(pkey);
        if (key->bits < SMG_KEYTABLE_MIN_RSA_BITS) {
            smg_set_error(err, SMG_CONFIG, NULL,
                          "RSA key of %u bits, %d at least", key->bits,
                          SMG_KEYTABLE_MIN_RSA_BITS);
            EVP_PKEY_free(pkey);
            return SMG_CONFIG;
        }
        break;
    case EVP_PKEY_ED25519:
        key->alg = SMG_KEYTABLE_ED25519_SHA256;
        key->bits = 256;
        break;
    default:
        smg_set_error(err, SMG_CONFIG, NULL,
                      "a %s key: DKIM signs with RSA or Ed25519 only",
                      OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)));
        EVP_PKEY_free(pkey);
        return SMG_CONFIG;
    }
    bio = BIO_new(BIO_s_secmem()); /* cleansed when freed */
    if (bio == NULL
        || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        EVP_PKEY_free(pkey);
        smg_set_error(err, SMG_CONFIG, NULL, "cannot encode the key");
        return SMG_CONFIG;
    }
    BIO_get_mem_ptr(bio, &mem);
    key->pem = g_strndup(mem->data, mem->length);
    BIO_free_all(bio);
    key->pkey = pkey;
    key->pub = smg_keytable_pubkey(pkey);
    return SMG_OK;
}

/* key_free - GDestroyNotify for a struct smg_dkim_key * */
static void
key_free(gpointer p)
{
    smg_keytable_key_clear(p);
    g_free(p);
}

/*
 * The largest key file read (smg_file_read also refuses a FIFO or a
 * device).  An RSA-8192 key is some 6.5 KB of PEM; the limit only keeps a
 * wrong path (a log file) from filling the memory at start.
 */
#define KEY_MAX_FILE (1024 * 1024)

/* load_key_line - one KeyTable line: NAME DOMAIN:SELECTOR:KEY */
static enum smg_status
load_key_line(void *ctx, const char *path, unsigned line, char *name,
              char *value, GError **err)
{
    struct smg_keytable *kt = ctx;
    struct smg_dkim_key *key;
    char **f = g_strsplit(value, ":", 3);
    char *data = NULL, *file = NULL;
    gsize len = 0;
    struct stat sb;
    GError *gerr = NULL;
    enum smg_status st;

    if (g_strv_length(f) != 3 || *f[0] == '\0' || *f[1] == '\0' || *f[2] == '\0') {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s:%u: key %s: expected DOMAIN:SELECTOR:KEYFILE", path,
                      line, name);
        g_strfreev(f);
        return SMG_CONFIG;
    }
    /* d= and s= are DNS names (RFC 6376 3.1, 3.5): "example.com." or
     * "s 1" would sign every message with a signature no receiver can
     * verify, logged dkim=signed all the same */
    if ((strcmp(f[0], "%") != 0 && !smg_keytable_dns_name(f[0], SMG_ADDR_UTF8))
        || !smg_keytable_dns_name(f[1], 0)) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s:%u: key %s: %s:%s is not a domain (or %%) and a "
                      "selector (" SMG_KEYTABLE_DNS_NAME ")",
                      path, line, name, f[0], f[1]);
        g_strfreev(f);
        return SMG_CONFIG;
    }
    if (g_hash_table_contains(kt->byname, name)) {
        smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: key %s is named twice",
                      path, line, name);
        g_strfreev(f);
        return SMG_CONFIG;
    }
    if (f[2][0] == '/') {
        file = g_strdup(f[2]);
    } else if (g_str_has_prefix(f[2], "./") || g_str_has_prefix(f[2], "../")) {
        char *dir = g_path_get_dirname(path);
        file = g_canonicalize_filename(f[2], dir);
        g_free(dir);
    }
    if (file != NULL && strchr(file, '%') != NULL) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s:%u: key %s: a \"%%\" in a key file name is not "
                      "supported (every key is loaded at start)", path, line, name);
        g_free(file);
        g_strfreev(f);
        return SMG_CONFIG;
    }
    if (file != NULL && smg_file_read(file, KEY_MAX_FILE, &data, &len, &sb, &gerr) != SMG_OK) {
        smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: key %s: %s: %s", path, line,
                      name, file, gerr->message);
        g_error_free(gerr);
        g_free(file);
        g_strfreev(f);
        return SMG_CONFIG;
    }
    /* as for the credentials file: a private key others can read is a
     * key anyone on the host can sign the customer's mail with */
    if (file != NULL && (sb.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) != 0)
        smg_log_warn("%s:%u: key %s: %s is accessible by others (mode %04o); "
                     "chmod 600 it (640 with the group of the smg user)",
                     path, line, name, file, (unsigned) (sb.st_mode & 07777));
    key = g_new0(struct smg_dkim_key, 1);
    st = smg_keytable_key_parse(file != NULL ? data : f[2],
                                file != NULL ? len : strlen(f[2]), key, &gerr);
    if (data != NULL) {
        OPENSSL_cleanse(data, len);
        g_free(data);
    }
    if (st != SMG_OK) {
        smg_set_error(err, st, NULL, "%s:%u: key %s (%s): %s", path, line, name,
                      file != NULL ? file : "inline", gerr->message);
        g_error_free(gerr);
        g_free(file);
        g_strfreev(f);
        key_free(key);
        return st;
    }
    OPENSSL_cleanse(f[2], strlen(f[2]));
    key->name = g_strdup(name);
    key->domain = smg_addr_domain_key(f[0]); /* "%", or A-labels */
    key->selector = g_strdup(f[1]);
    key->source = file != NULL ? file : g_strdup("inline");
    key->line = line;
    g_ptr_array_add(kt->keys, key);
    g_hash_table_insert(kt->byname, key->name, key);
    g_strfreev(f);
    return SMG_OK;
}

enum smg_status
smg_keytable_load(const char *spec, struct smg_keytable **out, GError **err)
{
    const char *path = dataset_path(spec, FALSE, NULL);
    struct smg_keytable *kt;
    enum smg_status st;

    *out = NULL;
    if (path == NULL || *path == '\0') {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "KeyTable %s: only a file (PATH or file:PATH) is supported",
                      spec);
        return SMG_CONFIG;
    }
    kt = g_new0(struct smg_keytable, 1);
    kt->path = g_strdup(path);
    kt->keys = g_ptr_array_new_with_free_func(key_free);
    kt->byname = g_hash_table_new(g_str_hash, g_str_equal);
    st = smg_table_read(path, "KeyTable", load_key_line, kt, err);
    if (st != SMG_OK) {
        smg_keytable_free(kt);
        return st;
    }
    *out = kt;
    return SMG_OK;
}

void
smg_keytable_free(struct smg_keytable *kt)
{
    if (kt == NULL)
        return;
    g_hash_table_destroy(kt->byname);
    g_ptr_array_free(kt->keys, TRUE);
    g_free(kt->path);
    g_free(kt);
}

const struct smg_dkim_key *
smg_keytable_find(const struct smg_keytable *kt, const char *name)
{
    return g_hash_table_lookup(kt->byname, name);
}

guint
smg_keytable_count(const struct smg_keytable *kt)
{
    return kt->keys->len;
}

const struct smg_dkim_key *
smg_keytable_nth(const struct smg_keytable *kt, guint i)
{
    return i < kt->keys->len ? kt->keys->pdata[i] : NULL;
}

gboolean
smg_keytable_wildcard(const char *pattern, const char *text)
{
    const char *star = NULL, *resume = NULL;

    /* iterative glob with backtracking to the last '*' */
    while (*text != '\0') {
        if (*pattern == '*') {
            star = ++pattern;
            resume = text;
        } else if (g_ascii_tolower(*pattern) == g_ascii_tolower(*text)) {
            pattern++;
            text++;
        } else if (star != NULL) {
            pattern = star;
            text = ++resume;
        } else {
            return FALSE;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}

/* entry_free - GDestroyNotify for a struct smg_signing_entry * */
static void
entry_free(gpointer p)
{
    struct smg_signing_entry *e = p;

    g_free(e->pattern);
    g_free(e->keyname);
    g_free(e->signer);
    g_free(e);
}

struct sigload {
    struct smg_signingtable *st;
    const struct smg_keytable *kt;
};

/*
 * pattern_key - a SigningTable pattern as addresses are looked up in it
 * (lower case, a UTF-8 domain in A-labels: smg-sign rewrites the From
 * address so): "user@domain", "*@*.domain", "domain", "*.domain"
 */
static char *
pattern_key(const char *pattern)
{
    char *conv = strchr(pattern, '@') != NULL ? smg_addr_ascii_domain(pattern)
                                              : smg_addr_domain_key(pattern);
    char *key = g_ascii_strdown(conv, -1);

    g_free(conv);
    return key;
}

/* load_signing_line - one SigningTable line: PATTERN KEYNAME [SIGNER] */
static enum smg_status
load_signing_line(void *ctx, const char *path, unsigned line, char *pattern,
                  char *value, GError **err)
{
    struct sigload *sl = ctx;
    struct smg_signing_entry *e;
    char **f = g_strsplit_set(value, " \t", -1);
    char *words[3] = {NULL, NULL, NULL};
    unsigned n = 0;

    for (unsigned i = 0; f[i] != NULL; i++) {
        if (*f[i] == '\0')
            continue;
        if (n < 3)
            words[n] = f[i];
        n++;
    }
    if (n < 1 || n > 2) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s:%u: expected PATTERN KEYNAME [SIGNER]", path, line);
        g_strfreev(f);
        return SMG_CONFIG;
    }
    if (sl->kt != NULL && strchr(words[0], '%') == NULL
        && smg_keytable_find(sl->kt, words[0]) == NULL) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s:%u: key %s is not in the KeyTable", path, line, words[0]);
        g_strfreev(f);
        return SMG_CONFIG;
    }
    e = g_new0(struct smg_signing_entry, 1);
    e->pattern = pattern_key(pattern);
    e->keyname = g_strdup(words[0]);
    e->signer = g_strdup(words[1]);
    e->line = line;
    g_ptr_array_add(sl->st->entries, e);
    if (sl->st->type == SIGTAB_FILE) {
        GPtrArray *list = g_hash_table_lookup(sl->st->bykey, e->pattern);

        if (list == NULL) {
            list = g_ptr_array_new();
            g_hash_table_insert(sl->st->bykey, e->pattern, list);
        }
        g_ptr_array_add(list, e);
    }
    g_strfreev(f);
    return SMG_OK;
}

enum smg_status
smg_keytable_signing_load(const char *spec, const struct smg_keytable *kt,
                          struct smg_signingtable **out, GError **err)
{
    gboolean refile = FALSE;
    const char *path = dataset_path(spec, TRUE, &refile);
    struct smg_signingtable *st;
    struct sigload sl;
    enum smg_status rc;

    *out = NULL;
    if (path == NULL || *path == '\0') {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "SigningTable %s: only PATH, file:PATH and refile:PATH "
                      "are supported", spec);
        return SMG_CONFIG;
    }
    st = g_new0(struct smg_signingtable, 1);
    st->type = refile ? SIGTAB_REFILE : SIGTAB_FILE;
    st->entries = g_ptr_array_new_with_free_func(entry_free);
    st->bykey = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                      (GDestroyNotify) g_ptr_array_unref);
    sl.st = st;
    sl.kt = kt;
    rc = smg_table_read(path, "SigningTable", load_signing_line, &sl, err);
    if (rc != SMG_OK) {
        smg_keytable_signing_free(st);
        return rc;
    }
    *out = st;
    return SMG_OK;
}

void
smg_keytable_signing_free(struct smg_signingtable *st)
{
    if (st == NULL)
        return;
    g_hash_table_destroy(st->bykey);
    g_ptr_array_free(st->entries, TRUE);
    g_free(st);
}

/* add_key_matches - append the entries filed under key; FALSE to stop */
static gboolean
add_key_matches(const struct smg_signingtable *st, const char *key,
                GPtrArray *out, gboolean all)
{
    GPtrArray *list = g_hash_table_lookup(st->bykey, key);

    if (list == NULL)
        return TRUE;
    for (guint i = 0; i < list->len; i++) {
        g_ptr_array_add(out, list->pdata[i]);
        if (!all)
            return FALSE;
    }
    return TRUE;
}

/*
 * The longest address a SigningTable is asked about: the longest local part
 * and domain that RFC 5321 (4.5.3.1) allows.  A longer one (a From: field
 * of megabytes) matches nothing: a plain file's lookup makes one key per
 * parent domain, each as long as the address, so 40000 labels took 3 GB
 * and 16 s, and a refile compares the address with every pattern.
 */
#define LOOKUP_MAX_ADDR (SMG_ADDR_MAX_LOCAL + 1 + SMG_ADDR_MAX_DOMAIN)

GPtrArray *
smg_keytable_signing_lookup(const struct smg_signingtable *st, const char *addr,
                            gboolean all)
{
    GPtrArray *out = g_ptr_array_new();
    char *lower, *at, *user;
    const char *host;
    GPtrArray *keys;

    if (strlen(addr) > LOOKUP_MAX_ADDR)
        return out;
    lower = g_ascii_strdown(addr, -1);
    at = strrchr(lower, '@');
    host = at != NULL ? at + 1 : lower;
    user = at != NULL ? g_strndup(lower, (gsize) (at - lower)) : NULL;
    if (st->type == SIGTAB_REFILE) {
        char *subject = at != NULL ? g_strdup(lower) : g_strconcat("@", lower, NULL);

        for (guint i = 0; i < st->entries->len; i++) {
            struct smg_signing_entry *e = st->entries->pdata[i];

            if (smg_keytable_wildcard(e->pattern, subject)) {
                g_ptr_array_add(out, e);
                if (!all)
                    break;
            }
        }
        g_free(subject);
        g_free(user);
        g_free(lower);
        return out;
    }
    /* OpenDKIM's order for other datasets (opendkim.conf(5), SigningTable) */
    keys = g_ptr_array_new_with_free_func(g_free);
    if (user != NULL)
        g_ptr_array_add(keys, g_strdup_printf("%s@%s", user, host));
    g_ptr_array_add(keys, g_strdup(host));
    for (const char *p = strchr(host, '.'); user != NULL && p != NULL;
         p = strchr(p + 1, '.'))
        g_ptr_array_add(keys, g_strdup_printf("%s@%s", user, p));
    for (const char *p = strchr(host, '.'); p != NULL; p = strchr(p + 1, '.'))
        g_ptr_array_add(keys, g_strdup(p));
    if (user != NULL)
        g_ptr_array_add(keys, g_strdup_printf("%s@*", user));
    g_ptr_array_add(keys, g_strdup("*"));
    for (guint i = 0; i < keys->len; i++)
        if (!add_key_matches(st, keys->pdata[i], out, all))
            break;
    g_ptr_array_unref(keys);
    g_free(user);
    g_free(lower);
    return out;
}

/* load_replyto_line - one Reply-To line: DOMAIN VALUE... */
static enum smg_status
load_replyto_line(void *ctx, const char *path, unsigned line, char *domain,
                  char *value, GError **err)
{
    struct smg_replyto *rt = ctx;
    char *key;

    if (*value == '\0' || strpbrk(value, "\r\n") != NULL) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s:%u: expected DOMAIN REPLY-TO-ADDRESS", path, line);
        return SMG_CONFIG;
    }
    if (strchr(domain, '*') != NULL && strcmp(domain, "*") != 0
        && !(g_str_has_prefix(domain, "*.") && strchr(domain + 2, '*') == NULL)) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s:%u: %s: a wildcard is \"*\" or \"*.domain\"", path,
                      line, domain);
        return SMG_CONFIG;
    }
    key = smg_addr_domain_key(domain);
    if (g_hash_table_contains(rt->map, key)) {
        smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: %s is listed twice", path,
                      line, domain);
        g_free(key);
        return SMG_CONFIG;
    }
    g_hash_table_insert(rt->map, key, g_strdup(value));
    return SMG_OK;
}

enum smg_status
smg_keytable_replyto_load(const char *path, struct smg_replyto **out,
                          GError **err)
{
    struct smg_replyto *rt = g_new0(struct smg_replyto, 1);
    enum smg_status st;

    *out = NULL;
    rt->map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    st = smg_table_read(path, "Reply-To table", load_replyto_line, rt, err);
    if (st != SMG_OK) {
        smg_keytable_replyto_free(rt);
        return st;
    }
    *out = rt;
    return SMG_OK;
}

void
smg_keytable_replyto_free(struct smg_replyto *rt)
{
    if (rt == NULL)
        return;
    g_hash_table_destroy(rt->map);
    g_free(rt);
}

const char *
smg_keytable_replyto_lookup(const struct smg_replyto *rt, const char *domain)
{
    char *lower;
    const char *v;

    if (strlen(domain) > SMG_ADDR_MAX_DOMAIN) /* no domain is (see above) */
        return NULL;
    lower = g_ascii_strdown(domain, -1);
    v = g_hash_table_lookup(rt->map, lower);

    for (const char *p = strchr(lower, '.'); v == NULL && p != NULL;
         p = strchr(p + 1, '.')) {
        char *key = g_strconcat("*", p, NULL);

        v = g_hash_table_lookup(rt->map, key);
        g_free(key);
    }
    if (v == NULL)
        v = g_hash_table_lookup(rt->map, "*");
    g_free(lower);
    return v;
}

/*
 * dkim.c - DKIM signing with libopendkim, key generation and key checking
 * (see dkim.h).
 *
 * One DKIM_LIB handle is set up per signer with the header lists, the
 * expiry and (in tests) a fixed clock.  A message is split into header
 * fields and body once, converted to CRLF once, and fed to one signing
 * handle per key; the signatures are then written on top of the header,
 * so none covers another and each verifies on its own.
 *
 * XXX The key cache.  libopendkim takes the private key as text for each
 * message (dkim_sign's secretkey) and decodes it with OpenSSL's
 * PEM_read_bio_PrivateKey for each signature; there is no call to give it a
 * decoded key.  With OpenSSL 3.0 that decoding costs about 0.7 ms, and the
 * new RSA object loses its precomputed values, so on the reference machine
 * libopendkim alone signed RSA-2048 at a quarter and Ed25519 at a
 * fourteenth of `openssl speed`.  This file therefore defines
 * PEM_read_bio_PrivateKey itself.  The dynamic linker binds libopendkim's
 * call to the program's definition; it answers a memory BIO holding exactly
 * the PEM text of a key the KeyTable loaded with that key (a new
 * reference: libopendkim frees it as it would its own), and passes every
 * other call to libcrypto's function.  If a platform binds the call
 * elsewhere, signing stays correct and gets slower; the unit test notices
 * through smg_dkim_key_cache_hits.  Our own decoding uses the _ex form.
 * libopendkim never releases the reference it takes for an Ed25519
 * signature; with the cache that only keeps the loaded key alive (one
 * object per key), where without it each message would leak a key.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmime/gmime.h>
#include <opendkim/dkim.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "lib/addr.h"
#include "lib/customers.h"
#include "lib/dkim.h"
#include "lib/fileio.h"

#define SIG_FIELD "DKIM-Signature: "

/* The allocations of one libopendkim handle (see arena_malloc). */
struct arena {
    GHashTable *live; /* pointers allocated and not freed */
};

struct smg_dkim {
    DKIM_LIB *lib;
    struct smg_keytable *keys;
    struct smg_signingtable *signing;
    struct smg_replyto *replyto;   /* NULL: none */
    struct smg_customers *owners;  /* [sign] customer_domains; NULL: any */
    char **headers;                /* sign list, kept for libopendkim */
    char **oversign;               /* oversign list, kept for libopendkim */
    dkim_canon_t hcanon, bcanon;
    gboolean multiple;
    struct arena arena;            /* of the signing handle in use */
};

/* A header field of the message: [start, start + len), no final line end. */
struct field {
    gsize start;
    gsize len;
    gsize namelen;
};

/* The parsed message. */
struct parsed {
    GArray *fields;     /* of struct field */
    gsize insert_at;    /* where an added field goes (end of the header) */
    gsize body;         /* offset of the body */
    gboolean crlf;      /* the message's lines end in CRLF */
    gboolean last_eol;  /* the header's last line has its line end */
    const char *why;    /* set when the header is malformed */
};

/* The key cache (see the file comment). */
static GHashTable *key_cache; /* GBytes (PEM text) -> EVP_PKEY (a reference) */
static guint64 key_cache_hits;

typedef EVP_PKEY *(*pem_read_fn)(BIO *, EVP_PKEY **, pem_password_cb *, void *);

EVP_PKEY *
PEM_read_bio_PrivateKey(BIO *bp, EVP_PKEY **x, pem_password_cb *cb, void *u)
{
    static pem_read_fn real;
    char *data = NULL;
    long n;

    if (key_cache != NULL && x == NULL && bp != NULL
        && BIO_method_type(bp) == BIO_TYPE_MEM
        && (n = BIO_get_mem_data(bp, &data)) > 0) {
        GBytes *b = g_bytes_new_static(data, (gsize) n);
        EVP_PKEY *pkey = g_hash_table_lookup(key_cache, b);

        g_bytes_unref(b);
        if (pkey != NULL && EVP_PKEY_up_ref(pkey) == 1) {
            key_cache_hits++;
            return pkey;
        }
    }
    if (real == NULL)
        real = (pem_read_fn) dlsym(RTLD_NEXT, "PEM_read_bio_PrivateKey");
    if (real == NULL || real == PEM_read_bio_PrivateKey)
        return PEM_read_bio_PrivateKey_ex(bp, x, cb, u, NULL, NULL);
    return real(bp, x, cb, u);
}

guint64
smg_dkim_key_cache_hits(void)
{
    return key_cache_hits;
}

/* cache_keys - enter the KeyTable's keys in the key cache */
static void
cache_keys(const struct smg_keytable *kt)
{
    if (key_cache == NULL)
        key_cache = g_hash_table_new_full(g_bytes_hash, g_bytes_equal,
                                          (GDestroyNotify) g_bytes_unref,
                                          (GDestroyNotify) EVP_PKEY_free);
    for (guint i = 0; i < smg_keytable_count(kt); i++) {
        const struct smg_dkim_key *k = smg_keytable_nth(kt, i);

        if (EVP_PKEY_up_ref(k->pkey) == 1)
            g_hash_table_replace(key_cache,
                                 g_bytes_new(k->pem, strlen(k->pem)), k->pkey);
    }
}

/* uncache_keys - remove the KeyTable's keys from the key cache */
static void
uncache_keys(const struct smg_keytable *kt)
{
    if (key_cache == NULL || kt == NULL)
        return;
    for (guint i = 0; i < smg_keytable_count(kt); i++) {
        const struct smg_dkim_key *k = smg_keytable_nth(kt, i);
        GBytes *b = g_bytes_new_static(k->pem, strlen(k->pem));

        g_hash_table_remove(key_cache, b);
        g_bytes_unref(b);
    }
}

/*
 * XXX The handle arena.  libopendkim 2.11 does not free all it allocates
 * for an Ed25519 signature (its crypto state: 64 bytes and more a
 * message, seen by LeakSanitizer), which a long --watch run would pile
 * up.  Its allocations go through the caller's allocator with a closure
 * per handle (dkim_init, dkim_sign), so each handle gets an arena that
 * records what is live, and what is left after dkim_free is freed.
 */

/* arena_malloc - libopendkim's allocator: malloc, recorded in the arena */
static void *
arena_malloc(void *closure, size_t n)
{
    struct arena *a = closure;
    void *p = malloc(n);

    if (p != NULL && a != NULL)
        g_hash_table_add(a->live, p);
    return p;
}

/* arena_free - libopendkim's deallocator */
static void
arena_free(void *closure, void *p)
{
    struct arena *a = closure;

    if (a != NULL && p != NULL)
        g_hash_table_remove(a->live, p);
    free(p);
}

/* arena_clear - free what libopendkim left in the arena */
static void
arena_clear(struct arena *a)
{
    GHashTableIter it;
    gpointer p;

    g_hash_table_iter_init(&it, a->live);
    while (g_hash_table_iter_next(&it, &p, NULL)) {
        free(p);
        g_hash_table_iter_remove(&it);
    }
}

/* dkim_status_text - libopendkim's reason for a failed call */
static const char *
dkim_status_text(DKIM *dkim, DKIM_STAT st)
{
    const char *e = dkim != NULL ? dkim_geterror(dkim) : NULL;

    return e != NULL && *e != '\0' ? e : dkim_getresultstr(st);
}

/* table_path - a table spec with a relative file made relative to the config */
static char *
table_path(const struct smg_conf *conf, const char *spec)
{
    const char *colon = strchr(spec, ':');
    const char *file = spec;
    char *dir, *abs, *out;

    if (colon != NULL && spec[0] != '/')
        file = colon + 1;
    if (g_path_is_absolute(file))
        return g_strdup(spec);
    dir = g_path_get_dirname(smg_conf_path(conf));
    abs = g_build_filename(dir, file, NULL);
    out = file == spec ? g_strdup(abs)
                       : g_strdup_printf("%.*s%s", (int) (file - spec), spec, abs);
    g_free(dir);
    g_free(abs);
    return out;
}

/* header_list - a [sign] list as a NULL-terminated vector; SMG_CONFIG if bad */
static enum smg_status
header_list(const struct smg_conf *conf, const char *key, char ***out,
            GError **err)
{
    char **v = smg_conf_list(conf, "sign", key);

    for (char **p = v; *p != NULL; p++) {
        for (const char *c = *p; *c != '\0'; c++) {
            if (*c <= ' ' || *c >= 127 || *c == ':') {
                smg_set_error(err, SMG_CONFIG, NULL,
                              "%s: [sign] %s: \"%s\" is not a header field name",
                              smg_conf_path(conf), key, *p);
                g_strfreev(v);
                return SMG_CONFIG;
            }
        }
        if (g_ascii_strcasecmp(*p, "dkim-signature") == 0) {
            smg_set_error(err, SMG_CONFIG, NULL,
                          "%s: [sign] %s: DKIM-Signature cannot be listed",
                          smg_conf_path(conf), key);
            g_strfreev(v);
            return SMG_CONFIG;
        }
    }
    *out = v;
    return SMG_OK;
}

enum smg_status
smg_dkim_new(const struct smg_conf *conf, struct smg_dkim **out, GError **err)
{
    struct smg_dkim *d = g_new0(struct smg_dkim, 1);
    const char *canon = smg_conf_str(conf, "sign", "canonicalization");
    const char *replyto = smg_conf_str(conf, "sign", "reply_to");
    char *spec = NULL;
    gboolean has_from = FALSE;
    enum smg_status st;
    uint64_t ttl;

    *out = NULL;
    g_mime_init();
    d->hcanon = g_str_has_prefix(canon, "simple") ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
    d->bcanon = g_str_has_suffix(canon, "/simple") ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
    d->multiple = smg_conf_bool(conf, "sign", "multiple_signatures");
    st = header_list(conf, "headers", &d->headers, err);
    if (st == SMG_OK)
        st = header_list(conf, "oversign_headers", &d->oversign, err);
    for (char **p = d->headers; st == SMG_OK && *p != NULL; p++)
        has_from = has_from || g_ascii_strcasecmp(*p, "from") == 0;
    if (st == SMG_OK && !has_from) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s: [sign] headers: From must be signed (RFC 6376 5.4)",
                      smg_conf_path(conf));
        st = SMG_CONFIG;
    }
    if (st == SMG_OK)
        st = smg_keytable_load(smg_conf_str(conf, "sign", "keytable"), &d->keys, err);
    if (st == SMG_OK) {
        spec = table_path(conf, smg_conf_str(conf, "sign", "signingtable"));
        st = smg_keytable_signing_load(spec, d->keys, &d->signing, err);
        g_free(spec);
    }
    if (st == SMG_OK && replyto != NULL)
        st = smg_keytable_replyto_load(replyto, &d->replyto, err);
    if (st == SMG_OK && smg_conf_str(conf, "sign", "customer_domains") != NULL)
        st = smg_customers_load(smg_conf_str(conf, "sign", "customer_domains"), &d->owners,
                                err);
    if (st != SMG_OK) {
        smg_dkim_free(d);
        return st;
    }
    d->arena.live = g_hash_table_new(g_direct_hash, g_direct_equal);
    d->lib = dkim_init(arena_malloc, arena_free);
    ttl = (uint64_t) smg_conf_int(conf, "sign", "expire");
    if (d->lib == NULL
        || dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, d->headers,
                        sizeof(char **)) != DKIM_STAT_OK
        || dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS,
                        d->oversign[0] != NULL ? d->oversign : NULL,
                        sizeof(char **)) != DKIM_STAT_OK
        || dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNATURETTL, &ttl,
                        sizeof ttl) != DKIM_STAT_OK) {
        smg_set_error(err, d->lib == NULL ? SMG_BUG : SMG_CONFIG, NULL,
                      "%s: [sign] libopendkim refused the settings (header "
                      "lists too long?)", smg_conf_path(conf));
        st = d->lib == NULL ? SMG_BUG : SMG_CONFIG;
        smg_dkim_free(d);
        return st;
    }
    cache_keys(d->keys);
    *out = d;
    return SMG_OK;
}

void
smg_dkim_free(struct smg_dkim *d)
{
    if (d == NULL)
        return;
    if (d->lib != NULL)
        dkim_close(d->lib);
    if (d->arena.live != NULL)
        g_hash_table_destroy(d->arena.live);
    uncache_keys(d->keys);
    smg_keytable_free(d->keys);
    smg_keytable_signing_free(d->signing);
    smg_keytable_replyto_free(d->replyto);
    smg_customers_free(d->owners);
    g_strfreev(d->headers);
    g_strfreev(d->oversign);
    g_free(d);
}

void
smg_dkim_set_time(struct smg_dkim *d, guint64 t)
{
    uint64_t v = t;

    (void) dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_FIXEDTIME, &v, sizeof v);
}

const struct smg_keytable *
smg_dkim_keytable(const struct smg_dkim *d)
{
    return d->keys;
}

/*
 * line_end - where the line at pos ends: at the first LF or CR, or len.
 * Lines end as smg-send sees them (smg_smtpc_wire): at LF, CRLF or a bare
 * CR, each sent as CRLF, so a bare CR ends a line here too.
 */
static gsize
line_end(const char *msg, gsize pos, gsize len)
{
    while (pos < len && msg[pos] != '\n' && msg[pos] != '\r')
        pos++;
    return pos;
}

/* parse_message - split msg into header fields and body (see struct parsed) */
static void
parse_message(const char *msg, gsize len, struct parsed *p)
{
    gsize pos = 0;
    gboolean first = TRUE;

    p->fields = g_array_new(FALSE, FALSE, sizeof(struct field));
    p->insert_at = len;
    p->body = len;
    p->crlf = FALSE;
    p->last_eol = TRUE;
    p->why = NULL;
    while (pos < len) {
        gsize end = line_end(msg, pos, len);
        gsize next = end < len ? end + 1 : len;

        if (next < len && msg[end] == '\r' && msg[next] == '\n')
            next++;
        if (first) {
            p->crlf = next == end + 2;
            first = FALSE;
        }
        if (end == pos) { /* the empty line */
            p->insert_at = pos;
            p->body = next;
            return;
        }
        if (msg[pos] == ' ' || msg[pos] == '\t') {
            if (p->fields->len == 0) {
                p->why = "the header starts with a continuation line";
                return;
            }
            g_array_index(p->fields, struct field, p->fields->len - 1).len = end
                - g_array_index(p->fields, struct field, p->fields->len - 1).start;
        } else {
            struct field f = {pos, end - pos, 0};
            gsize i = pos;

            while (i < end && msg[i] != ':' && (guchar) msg[i] > ' ' && msg[i] != 127)
                i++;
            f.namelen = i - pos;
            while (i < end && (msg[i] == ' ' || msg[i] == '\t'))
                i++;
            if (f.namelen == 0 || i >= end || msg[i] != ':') {
                p->why = "a header line is not a field";
                return;
            }
            g_array_append_val(p->fields, f);
        }
        p->last_eol = end < len;
        pos = next;
    }
}

/* field_is - whether field f is named name */
static gboolean
field_is(const char *msg, const struct field *f, const char *name)
{
    return f->namelen == strlen(name)
           && g_ascii_strncasecmp(msg + f->start, name, f->namelen) == 0;
}

/* append_crlf - append s[0..n) with every line end (see line_end) CRLF */
static void
append_crlf(GString *out, const char *s, gsize n)
{
    gsize from = 0;

    while (from < n) {
        gsize i = line_end(s, from, n);

        g_string_append_len(out, s + from, (gssize) (i - from));
        if (i == n)
            break;
        g_string_append_len(out, "\r\n", 2);
        from = i + 1 < n && s[i] == '\r' && s[i + 1] == '\n' ? i + 2 : i + 1;
    }
}

/* mailbox_addr - the first mailbox address of an address list, or NULL */
static char *
mailbox_addr(InternetAddressList *list)
{
    for (int i = 0; list != NULL && i < internet_address_list_length(list); i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        char *a = NULL;

        if (INTERNET_ADDRESS_IS_MAILBOX(ia))
            a = g_strdup(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
        else if (INTERNET_ADDRESS_IS_GROUP(ia))
            a = mailbox_addr(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)));
        if (a != NULL && strchr(a, '@') != NULL && a[strlen(a) - 1] != '@')
            return a;
        g_free(a);
    }
    return NULL;
}

/*
 * The most ':' a From: field may hold to be parsed.  GMime's address parser
 * recurses once for each group nested in a group ("g: g: g: ... a@b"), so
 * a field of some 40000 of them overflowed the stack and killed smg-sign
 * at every try of the message.  Every nested group takes a ':', and a real
 * From: field has a handful (an IPv6 literal has seven).
 */
#define FROM_MAX_COLONS 1000

/*
 * from_address - the address of the From: field, or NULL; *why is set
 * when the field is not parsed at all
 */
static char *
from_address(const char *msg, const struct parsed *p, const char **why)
{
    *why = NULL;
    for (guint i = 0; i < p->fields->len; i++) {
        const struct field *f = &g_array_index(p->fields, struct field, i);
        char *value, *addr;
        InternetAddressList *list;
        gsize j = 0, colons = 0;

        if (!field_is(msg, f, "From"))
            continue;
        for (gsize k = f->namelen; k < f->len; k++)
            colons += msg[f->start + k] == ':';
        if (colons > FROM_MAX_COLONS + 1) { /* + the one after the name */
            *why = "the From: field has too many ':' (groups nested too deep)";
            return NULL;
        }
        value = g_strndup(msg + f->start, f->len);
        for (char *c = value; *c != '\0'; c++) /* unfold */
            if (*c != '\r' && *c != '\n')
                value[j++] = *c;
        value[j] = '\0';
        list = internet_address_list_parse(NULL, strchr(value, ':') + 1);
        addr = mailbox_addr(list);
        if (list != NULL)
            g_object_unref(list);
        g_free(value);
        return addr; /* the only From: field (smg_dkim_sign checks) */
    }
    return NULL;
}

/* count_fields - how many fields of the header are named name */
static guint
count_fields(const char *msg, const struct parsed *p, const char *name)
{
    guint n = 0;

    for (guint i = 0; i < p->fields->len; i++)
        if (field_is(msg, &g_array_index(p->fields, struct field, i), name))
            n++;
    return n;
}

/* has_field - whether the header has a field named name */
static gboolean
has_field(const char *msg, const struct parsed *p, const char *name)
{
    return count_fields(msg, p, name) > 0;
}

/* expand - s with every '%' replaced by domain (new string) */
static char *
expand(const char *s, const char *domain)
{
    GString *o = g_string_new(NULL);

    for (; *s != '\0'; s++) {
        if (*s == '%')
            g_string_append(o, domain);
        else
            g_string_append_c(o, *s);
    }
    return g_string_free(o, FALSE);
}

/* A signature to make. */
struct job {
    const struct smg_dkim_key *key;
    char *domain;  /* d= */
    char *signer;  /* i=, or NULL */
};

/*
 * within - whether identity is an address (i= needs one) whose domain is d
 * or a subdomain of it.  The domain is what follows the first '@', as
 * libopendkim reads it: it refuses to sign with any other i=.
 */
static gboolean
within(const char *identity, const char *d)
{
    const char *at = strchr(identity, '@');
    const char *dom = at != NULL ? at + 1 : identity;
    gsize n = strlen(dom), m = strlen(d);

    if (at == NULL)
        return FALSE;
    return g_ascii_strcasecmp(dom, d) == 0
           || (n > m && dom[n - m - 1] == '.' && g_ascii_strcasecmp(dom + n - m, d) == 0);
}

/* plan_jobs - the signatures for the entries matched for domain */
static GArray *
plan_jobs(const struct smg_dkim *d, GPtrArray *entries, const char *domain,
          GString *notes)
{
    GArray *jobs = g_array_new(FALSE, TRUE, sizeof(struct job));
    char *lower = g_ascii_strdown(domain, -1);

    for (guint i = 0; i < entries->len; i++) {
        const struct smg_signing_entry *e = entries->pdata[i];
        /* the SigningTable matched the address in any case: a KEYNAME of
         * "%" names the key by the domain in lower case, as d= is written
         * (the domain as written is tried too, for a KeyTable of such
         * names) */
        char *name = expand(e->keyname, lower);
        const struct smg_dkim_key *key = smg_keytable_find(d->keys, name);
        struct job j = {NULL, NULL, NULL};
        gboolean dup = FALSE;

        if (key == NULL && strcmp(lower, domain) != 0) {
            char *as_written = expand(e->keyname, domain);

            key = smg_keytable_find(d->keys, as_written);
            g_free(as_written);
        }
        if (key == NULL) {
            g_string_append_printf(notes, ", nokey=%s", name);
            g_free(name);
            continue;
        }
        g_free(name);
        /* d= of a "%" key is the From: domain, which must be a host name:
         * an address literal ("[192.0.2.1;l=0]") is no DKIM domain, and
         * its text would be written into the signature's tag list */
        if (strcmp(key->domain, "%") == 0
            && (smg_addr_is_domain_literal(lower)
                || !smg_addr_check_domain(lower, strlen(lower), 0))) {
            g_string_append_printf(notes, ", nokey=%s (d=%% for a domain that is not a host name)",
                                   key->name);
            continue;
        }
        j.key = key;
        j.domain = strcmp(key->domain, "%") == 0 ? g_strdup(lower) : g_strdup(key->domain);
        for (guint k = 0; k < jobs->len; k++) {
            const struct job *o = &g_array_index(jobs, struct job, k);
            dup = dup || (o->key == key && strcmp(o->domain, j.domain) == 0);
        }
        if (dup) {
            g_free(j.domain);
            continue;
        }
        if (e->signer != NULL) {
            j.signer = expand(e->signer, domain);
            if (!within(j.signer, j.domain)) { /* as OpenDKIM: drop i= */
                g_free(j.signer);
                j.signer = NULL;
            }
        }
        g_array_append_val(jobs, j);
    }
    g_free(lower);
    return jobs;
}

/* jobs_free - free the jobs */
static void
jobs_free(GArray *jobs)
{
    for (guint i = 0; i < jobs->len; i++) {
        struct job *j = &g_array_index(jobs, struct job, i);
        g_free(j->domain);
        g_free(j->signer);
    }
    g_array_free(jobs, TRUE);
}

/*
 * sign_one - make one DKIM-Signature field (without its name, folded with
 * eol) over the CRLF headers and body.  SMG_OK; SMG_PERMFAIL with why for a
 * message libopendkim refuses; SMG_TEMPFAIL for lack of memory.
 */
static enum smg_status
sign_one(struct smg_dkim *d, const char *id, const struct job *j,
         GPtrArray *hdrs, const GString *body, const char *eol, GString *out,
         char **why)
{
    DKIM_STAT st = DKIM_STAT_OK;
    DKIM *h;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    enum smg_status rc = SMG_OK;

    h = dkim_sign(d->lib, (const unsigned char *) id, &d->arena,
                  (dkim_sigkey_t) j->key->pem,
                  (const unsigned char *) j->key->selector,
                  (const unsigned char *) j->domain, d->hcanon, d->bcanon,
                  j->key->alg == SMG_KEYTABLE_ED25519_SHA256
                      ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256,
                  -1, &st);
    if (h == NULL) {
        arena_clear(&d->arena);
        *why = g_strdup_printf("dkim_sign: %s", dkim_getresultstr(st));
        return st == DKIM_STAT_NORESOURCE ? SMG_TEMPFAIL : SMG_PERMFAIL;
    }
    /* XXX libopendkim 2.11 hashes an Ed25519 signature's own field with
     * no line break before b= (its value unknown yet) but writes one
     * there, which simple header canonicalization keeps: no such
     * signature verified.  Unfolded, the field is hashed as written. */
    if (j->key->alg == SMG_KEYTABLE_ED25519_SHA256 && d->hcanon == DKIM_CANON_SIMPLE)
        st = dkim_set_margin(h, 0);
    if (st == DKIM_STAT_OK && j->signer != NULL)
        st = dkim_set_signer(h, (const unsigned char *) j->signer);
    for (guint i = 0; st == DKIM_STAT_OK && i < hdrs->len; i++) {
        GString *f = hdrs->pdata[i];
        st = dkim_header(h, (unsigned char *) f->str, f->len);
    }
    if (st == DKIM_STAT_OK)
        st = dkim_eoh(h);
    if (st == DKIM_STAT_OK && body->len > 0)
        st = dkim_body(h, (unsigned char *) body->str, body->len);
    if (st == DKIM_STAT_OK)
        st = dkim_eom(h, NULL);
    if (st == DKIM_STAT_OK)
        st = dkim_getsighdr_d(h, strlen(SIG_FIELD), &sig, &siglen);
    if (st != DKIM_STAT_OK) {
        *why = g_strdup(dkim_status_text(h, st));
        rc = st == DKIM_STAT_NORESOURCE ? SMG_TEMPFAIL : SMG_PERMFAIL;
    } else {
        /* libopendkim folds with CRLF; use the message's own line end */
        g_string_append(out, SIG_FIELD);
        for (size_t i = 0; i < siglen; i++) {
            if (sig[i] == '\r' && i + 1 < siglen && sig[i + 1] == '\n')
                continue;
            if (sig[i] == '\n')
                g_string_append(out, eol);
            else
                g_string_append_c(out, (char) sig[i]);
        }
        g_string_append(out, eol);
    }
    dkim_free(h);
    arena_clear(&d->arena);
    return rc;
}

/* gstring_free - GDestroyNotify for a GString */
static void
gstring_free(gpointer s)
{
    g_string_free(s, TRUE);
}

/* domain_of - the domain of an address (pointer into it) */
static const char *
domain_of(const char *addr)
{
    const char *at = strrchr(addr, '@');

    return at != NULL ? at + 1 : addr;
}

/*
 * owned - whether mail of customer may be signed for addr: always without
 * [sign] customer_domains or for smg's own reports (customer NULL), else
 * when the table gives addr's domain to the customer ("" owns nothing)
 */
static gboolean
owned(const struct smg_dkim *d, const char *customer, const char *addr)
{
    return d->owners == NULL || customer == NULL
           || smg_customers_covers(smg_customers_domains(d->owners, customer), domain_of(addr));
}

enum smg_status
smg_dkim_sign(struct smg_dkim *d, const char *id, const char *msg, gsize len,
              const char *sender, const char *customer, GString **out, char **log,
              GError **err)
{
    struct parsed p;
    char *from = NULL, *why = NULL, *sender_key = NULL;
    const char *addr = NULL, *via = "from", *replyto = NULL, *eol;
    GPtrArray *entries = NULL, *hdrs = NULL;
    GArray *jobs = NULL;
    GString *sigs = NULL, *body = NULL, *notes = g_string_new(NULL);
    enum smg_status st = SMG_OK;
    gboolean own = FALSE;
    guint nfrom;

    *out = NULL;
    *log = NULL;
    parse_message(msg, len, &p);
    eol = p.crlf ? "\r\n" : "\n";
    if (p.why != NULL) {
        *log = g_strdup_printf("dkim=error, reason=%s", p.why);
        goto done;
    }
    /* RFC 5322 3.6 allows one From: field.  With more, a key picked for
     * one address would vouch for the others, which receivers may show or
     * check instead (DMARC, RFC 7489 6.6.1): such mail is not signed. */
    if ((nfrom = count_fields(msg, &p, "From")) > 1) {
        *log = g_strdup_printf("dkim=error, reason=%u From: fields", nfrom);
        goto done;
    }
    from = from_address(msg, &p, &p.why);
    if (p.why != NULL) {
        *log = g_strdup_printf("dkim=error, reason=%s", p.why);
        goto done;
    }
    /* an internationalised domain is looked up, and signed as d=, in its
     * A-labels: the tables and the key's DNS record name it so */
    if (from != NULL) {
        char *f = smg_addr_ascii_domain(from);
        g_free(from);
        from = f;
    }
    if (sender != NULL)
        sender = sender_key = smg_addr_ascii_domain(sender);
    /* A key is used only for an address in the customer's own domains
     * (own: whether addr is one): no customer gets mail signed as another. */
    if (from != NULL) {
        addr = from;
        own = owned(d, customer, from);
        if (own)
            entries = smg_keytable_signing_lookup(d->signing, from, d->multiple);
    }
    if ((entries == NULL || entries->len == 0) && sender != NULL && *sender != '\0'
        && (from == NULL || g_ascii_strcasecmp(from, sender) != 0)) {
        gboolean sender_own = owned(d, customer, sender);
        GPtrArray *by_sender =
            sender_own ? smg_keytable_signing_lookup(d->signing, sender, d->multiple) : NULL;

        if ((by_sender != NULL && by_sender->len > 0) || from == NULL) {
            if (entries != NULL)
                g_ptr_array_unref(entries);
            entries = by_sender;
            addr = sender;
            via = "sender";
            own = sender_own;
        } else if (by_sender != NULL) {
            g_ptr_array_unref(by_sender);
        }
    }
    if (d->replyto != NULL && addr != NULL && own && !has_field(msg, &p, "Reply-To"))
        replyto = smg_keytable_replyto_lookup(d->replyto, domain_of(addr));
    if (entries != NULL && entries->len > 0)
        jobs = plan_jobs(d, entries, domain_of(addr), notes);
    if (jobs == NULL || jobs->len == 0) {
        *log = addr == NULL ? g_strdup("dkim=none, reason=no From: address")
               : own
                   ? g_strdup_printf("dkim=none, reason=no key, %s=<%s>%s", via, addr, notes->str)
                   : g_strdup_printf("dkim=none, reason=not the customer's domain, %s=<%s>, "
                                     "customer=%s",
                                     via, addr, *customer != '\0' ? customer : "none");
        if (replyto == NULL)
            goto done;
    }

    /* the header fields (and the Reply-To: to add) and body, in CRLF */
    hdrs = g_ptr_array_new_with_free_func(gstring_free);
    for (guint i = 0; i < p.fields->len; i++) {
        const struct field *f = &g_array_index(p.fields, struct field, i);
        GString *s = g_string_sized_new(f->len + 8);

        append_crlf(s, msg + f->start, f->len);
        g_ptr_array_add(hdrs, s);
    }
    if (replyto != NULL)
        g_ptr_array_add(hdrs, g_string_append(g_string_new("Reply-To: "), replyto));
    body = g_string_sized_new(len - p.body + len / 32 + 16);
    append_crlf(body, msg + p.body, len - p.body);
    if (body->len > 0 && body->str[body->len - 1] != '\n')
        g_string_append(body, "\r\n"); /* as any transmission ends it */

    sigs = g_string_new(NULL);
    for (guint i = 0; jobs != NULL && i < jobs->len; i++) {
        const struct job *j = &g_array_index(jobs, struct job, i);

        st = sign_one(d, id, j, hdrs, body, eol, sigs, &why);
        if (st == SMG_TEMPFAIL) {
            smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "DKIM signing failed: %s", why);
            goto done;
        }
        if (st != SMG_OK) {
            *log = g_strdup_printf("dkim=error, d=%s, s=%s, reason=%s", j->domain,
                                   j->key->selector, why);
            st = SMG_OK;
            goto done;
        }
    }
    if (jobs != NULL && jobs->len > 0) {
        GString *l = g_string_new("dkim=signed");
        const struct job *j0 = &g_array_index(jobs, struct job, 0);

        g_string_append_printf(l, ", d=%s, s=", j0->domain);
        for (guint i = 0; i < jobs->len; i++) {
            const struct job *j = &g_array_index(jobs, struct job, i);
            g_string_append_printf(l, "%s%s", i ? "+" : "", j->key->selector);
            if (strcmp(j->domain, j0->domain) != 0)
                g_string_append_printf(l, "@%s", j->domain);
        }
        g_string_append(l, ", a=");
        for (guint i = 0; i < jobs->len; i++) {
            const struct job *j = &g_array_index(jobs, struct job, i);
            g_string_append_printf(l, "%s%s", i ? "+" : "",
                                   smg_keytable_alg_name(j->key->alg));
        }
        g_string_append_printf(l, ", by=%s%s", via, notes->str);
        g_free(*log);
        *log = g_string_free(l, FALSE);
    }
    if (replyto != NULL) {
        char *l = g_strdup_printf("%s, reply_to=added", *log);
        g_free(*log);
        *log = l;
    }

    /* signatures on top, the message, the Reply-To: at the header's end */
    *out = g_string_sized_new(sigs->len + len + 256);
    g_string_append_len(*out, sigs->str, (gssize) sigs->len);
    g_string_append_len(*out, msg, (gssize) p.insert_at);
    if (replyto != NULL) {
        if (!p.last_eol)
            g_string_append(*out, eol);
        g_string_append_printf(*out, "Reply-To: %s%s", replyto, eol);
    }
    g_string_append_len(*out, msg + p.insert_at, (gssize) (len - p.insert_at));

done:
    if (st != SMG_OK) {
        g_free(*log);
        *log = NULL;
    }
    g_free(why);
    g_free(from);
    g_free(sender_key);
    if (entries != NULL)
        g_ptr_array_unref(entries);
    if (jobs != NULL)
        jobs_free(jobs);
    if (hdrs != NULL)
        g_ptr_array_unref(hdrs);
    if (body != NULL)
        g_string_free(body, TRUE);
    if (sigs != NULL)
        g_string_free(sigs, TRUE);
    g_string_free(notes, TRUE);
    g_array_free(p.fields, TRUE);
    return st;
}

enum smg_status
smg_dkim_genkey(enum smg_keytable_alg alg, unsigned bits, const char *path,
                struct smg_dkim_key *key, GError **err)
{
    EVP_PKEY *pkey = NULL;
    BIO *bio = NULL;
    BUF_MEM *mem = NULL;
    char *pem = NULL;
    gsize n;
    int fd;
    enum smg_status st = SMG_OK;

    memset(key, 0, sizeof *key);
    if (alg == SMG_KEYTABLE_RSA_SHA256
        && (bits < SMG_KEYTABLE_MIN_RSA_BITS || bits > 8192)) {
        smg_set_error(err, SMG_CONFIG, NULL, "RSA keys have %d to 8192 bits",
                      SMG_KEYTABLE_MIN_RSA_BITS);
        return SMG_CONFIG;
    }
    pkey = alg == SMG_KEYTABLE_RSA_SHA256
               ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) bits)
               : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    bio = BIO_new(BIO_s_secmem());
    if (pkey == NULL || bio == NULL
        || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        smg_set_error(err, SMG_BUG, NULL, "OpenSSL cannot make a %s key",
                      smg_keytable_key_type(alg));
        BIO_free(bio);
        EVP_PKEY_free(pkey);
        return SMG_BUG;
    }
    BIO_get_mem_ptr(bio, &mem);
    pem = g_strndup(mem->data, mem->length);
    n = strlen(pem);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    st = smg_keytable_key_parse(pem, n, key, err);
    if (st == SMG_OK) {
        /* O_EXCL: never over an existing key; 0600 whatever the umask */
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            smg_set_error(err, SMG_CONFIG, NULL, "cannot create %s: %s", path,
                          g_strerror(errno));
            st = SMG_CONFIG;
        } else {
            gboolean ok = fchmod(fd, 0600) == 0 && smg_write_at(fd, pem, n, 0)
                          && fsync(fd) == 0;
            int e = errno;

            if (close(fd) != 0 && ok) {
                ok = FALSE;
                e = errno;
            }
            if (!ok) {
                smg_set_error(err, SMG_CONFIG, NULL, "cannot write %s: %s",
                              path, g_strerror(e));
                st = SMG_CONFIG;
                unlink(path);
            }
        }
    }
    if (st != SMG_OK)
        smg_keytable_key_clear(key);
    OPENSSL_cleanse(pem, n);
    g_free(pem);
    return st;
}

char *
smg_dkim_txt_record(const char *domain, const char *selector,
                    const struct smg_dkim_key *key)
{
    GString *o = g_string_new(NULL);
    gsize n = strlen(key->pub);

    g_string_append_printf(o, "; DKIM key %s for %s: %s, %u bits\n", selector,
                           domain, smg_keytable_alg_name(key->alg), key->bits);
    g_string_append_printf(o, "%s._domainkey.%s. IN TXT ( \"v=DKIM1; k=%s; \"",
                           selector, domain, smg_keytable_key_type(key->alg));
    for (gsize i = 0; i < n; i += 250)
        g_string_append_printf(o, "\n\t\"%s%.*s\"", i == 0 ? "p=" : "",
                               (int) MIN(250, n - i), key->pub + i);
    g_string_append(o, " )\n");
    return g_string_free(o, FALSE);
}

/* tag_value - the value of tag in a DKIM tag list (new string), or NULL */
static char *
tag_value(const char *record, const char *tag)
{
    char **parts = g_strsplit(record, ";", -1);
    char *v = NULL;

    for (char **p = parts; *p != NULL && v == NULL; p++) {
        char *eq = strchr(*p, '=');
        char *name;

        if (eq == NULL)
            continue;
        name = g_strstrip(g_strndup(*p, (gsize) (eq - *p)));
        if (strcmp(name, tag) == 0)
            v = g_strstrip(g_strdup(eq + 1));
        g_free(name);
    }
    g_strfreev(parts);
    return v;
}

/* squeeze - s without whitespace, in place */
static char *
squeeze(char *s)
{
    gsize j = 0;

    for (gsize i = 0; s[i] != '\0'; i++)
        if (!g_ascii_isspace(s[i]))
            s[j++] = s[i];
    s[j] = '\0';
    return s;
}

/*
 * pkcs1_of - whether der (n octets) is pub (base64 of a SubjectPublicKeyInfo)
 * written as a bare PKCS#1 RSAPublicKey: RFC 6376 3.6.1 names that form,
 * but OpenDKIM, dkimpy and most verifiers read only SubjectPublicKeyInfo
 * (what everyone publishes; erratum 3017)
 */
static gboolean
pkcs1_of(const guchar *der, gsize n, const char *pub)
{
    gsize pn = 0;
    guchar *pder = g_base64_decode(pub, &pn);
    const unsigned char *q1 = der, *q2 = pder;
    EVP_PKEY *k1 = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q1, (long) n);
    EVP_PKEY *k2 = d2i_PUBKEY(NULL, &q2, (long) pn);
    gboolean same = k1 != NULL && k2 != NULL && q1 == der + n && EVP_PKEY_eq(k1, k2) == 1;

    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    g_free(pder);
    return same;
}

/* check_record - whether a TXT record is key's; why it is not */
static gboolean
check_record(const char *record, const struct smg_dkim_key *key, GString *notes,
             char **why)
{
    char *v = tag_value(record, "v"), *k = tag_value(record, "k");
    char *p = tag_value(record, "p"), *t = tag_value(record, "t");
    char *h = tag_value(record, "h"), *s = tag_value(record, "s");
    gboolean ok = FALSE;

    if (v != NULL && strcmp(v, "DKIM1") != 0) {
        *why = g_strdup_printf("v=%s is not DKIM1", v);
    } else if (p == NULL) {
        *why = g_strdup("no p= tag");
    } else if (*squeeze(p) == '\0') {
        *why = g_strdup("the key is revoked (empty p=)");
    } else if (strcmp(k != NULL ? k : "rsa", smg_keytable_key_type(key->alg)) != 0) {
        *why = g_strdup_printf("k=%s, but the private key is %s",
                               k != NULL ? k : "rsa", smg_keytable_key_type(key->alg));
    } else {
        gsize n1 = 0, n2 = 0;
        guchar *b1 = g_base64_decode(p, &n1), *b2 = g_base64_decode(key->pub, &n2);

        ok = n1 > 0 && n1 == n2 && memcmp(b1, b2, n1) == 0;
        if (!ok && key->alg == SMG_KEYTABLE_RSA_SHA256 && pkcs1_of(b1, n1, key->pub))
            *why = g_strdup("p= is the private key's, but as a PKCS#1 RSAPublicKey, which "
                            "OpenDKIM and most verifiers cannot read: publish the "
                            "SubjectPublicKeyInfo form that --genkey prints");
        else if (!ok)
            *why = g_strdup("p= is another key than the private key");
        g_free(b1);
        g_free(b2);
    }
    if (ok && t != NULL && strstr(t, "y") != NULL)
        g_string_append(notes, ", testing mode (t=y)");
    if (ok && h != NULL && strstr(h, "sha256") == NULL) {
        ok = FALSE;
        *why = g_strdup_printf("h=%s does not allow sha256", h);
    }
    if (ok && s != NULL && strstr(s, "email") == NULL && strstr(s, "*") == NULL) {
        ok = FALSE;
        *why = g_strdup_printf("s=%s does not allow email", s);
    }
    g_free(v);
    g_free(k);
    g_free(p);
    g_free(t);
    g_free(h);
    g_free(s);
    return ok;
}

enum smg_status
smg_dkim_testkey(struct smg_dns *dns, const char *domain, const char *selector,
                 const struct smg_dkim_key *key, char **detail, GError **err)
{
    char *name = g_strdup_printf("%s._domainkey.%s", selector, domain);
    GPtrArray *txt = NULL;
    ldns_pkt_rcode rcode = LDNS_RCODE_NOERROR;
    enum smg_status st;
    GString *notes = g_string_new(NULL);
    char *why = NULL;

    *detail = NULL;
    st = smg_dns_txt(dns, name, &txt, &rcode, err);
    if (st != SMG_OK)
        goto out;
    if (txt->len == 0) {
        smg_set_error(err, SMG_PERMFAIL, "5.7.5", "no TXT record at %s (%s)",
                      name, rcode == LDNS_RCODE_NXDOMAIN ? "NXDOMAIN" : "NODATA");
        st = SMG_PERMFAIL;
        goto out;
    }
    st = SMG_PERMFAIL;
    for (guint i = 0; i < txt->len && st != SMG_OK; i++) {
        g_free(why);
        why = NULL;
        if (check_record(txt->pdata[i], key, notes, &why))
            st = SMG_OK;
    }
    if (st == SMG_OK)
        *detail = g_strdup_printf("key OK%s", notes->str);
    else
        smg_set_error(err, SMG_PERMFAIL, "5.7.5", "%s: %s", name, why);
out:
    g_free(why);
    if (txt != NULL)
        g_ptr_array_unref(txt);
    g_string_free(notes, TRUE);
    g_free(name);
    return st;
}

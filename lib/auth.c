/*
 * auth.c - SMTP AUTH: credentials file, constant-time checks, SASL decoding.
 *
 * The credentials file is read once per process (smg-recv runs one process
 * per connection) into a hash table user -> crypt hash.  A check always
 * runs exactly one crypt_rn: with the user's hash, or, for an unknown or
 * locked user, with a dummy: one of the file's hashes of the kind most of
 * the file uses (same cost; its result is discarded and the check fails),
 * so the time taken does not tell whether the user exists.  The result is compared with
 * CRYPTO_memcmp.  The crypt work area, decoded SASL buffers and the file
 * text are wiped with explicit_bzero before they are freed.
 *
 * Base64 is validated strictly here (alphabet, padding, zero pad bits)
 * before g_base64_decode_step, which silently skips invalid characters.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <openssl/crypto.h>

#include "lib/auth.h"
#include "lib/fileio.h"
#include "lib/log.h"

/* Largest credentials file we read: far beyond any real one. */
#define AUTH_MAX_FILE (64 * 1024 * 1024)
#define AUTH_MAX_USER 255

struct auth_entry {
    char *hash;       /* crypt setting to run (NULL: use the dummy) */
    gboolean locked;  /* '!' or '*' entry: never authenticates */
};

struct smg_auth {
    GHashTable *users; /* char *user -> struct auth_entry * */
    char *dummy;       /* setting for unknown and locked users */
};

/*
 * The hash kinds we accept, strongest first, with the length of the part
 * after the last '$' (the hash; for bcrypt salt and hash together).
 * libxcrypt calls SHA-256 crypt ($5$), MD5 and DES legacy: refused.
 */
static const struct {
    const char *prefix;
    size_t tail;
} auth_kinds[] = {
    {"$y$", 43}, {"$gy$", 43}, {"$7$", 43}, {"$2b$", 53}, {"$6$", 86},
};

static guint64 auth_crypt_calls;

/* entry_free - wipe and free one table value */
static void
entry_free(gpointer p)
{
    struct auth_entry *e = p;

    smg_auth_secret_free(e->hash);
    g_free(e);
}

/* hash_kind - index of hash's kind in auth_kinds, or -1 */
static int
hash_kind(const char *hash)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(auth_kinds); i++)
        if (g_str_has_prefix(hash, auth_kinds[i].prefix))
            return (int) i;
    return -1;
}

/*
 * hash_ok - whether hash is a complete hash of an accepted kind.  libxcrypt
 * checks the setting part; a bare setting (no hash) would pass that and
 * then never match, so the hash part is checked here: its length and its
 * alphabet ("./0-9A-Za-z", crypt's base64).
 */
static gboolean
hash_ok(const char *hash)
{
    int k = hash_kind(hash);
    const char *tail = strrchr(hash, '$');

    if (k < 0 || tail == NULL || strlen(tail + 1) != auth_kinds[k].tail)
        return FALSE;
    for (const char *p = tail + 1; *p != '\0'; p++)
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '/')
            return FALSE;
    return crypt_checksalt(hash) == CRYPT_SALT_OK;
}

/* user_ok - whether user may appear in the file (and in log lines) */
static gboolean
user_ok(const char *user)
{
    size_t n = strlen(user);

    if (n == 0 || n > AUTH_MAX_USER)
        return FALSE;
    for (const char *p = user; *p != '\0'; p++)
        if ((unsigned char) *p <= 0x20 || *p == 0x7f || *p == ':')
            return FALSE;
    return g_utf8_validate(user, (gssize) n, NULL);
}

/* read_file - the whole regular file at path, NUL-terminated, in *text */
static enum smg_status
read_file(const char *path, char **text, gsize *len, GError **err)
{
    struct stat st;
    GError *e = NULL;
    enum smg_status res = smg_file_read(path, AUTH_MAX_FILE, text, len, &st, &e);

    if (res != SMG_OK) {
        smg_set_error(err, res, NULL, "%s: cannot read credentials: %s", path, e->message);
        g_error_free(e);
        return res;
    }
    if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0)
        smg_log_warn("credentials file %s is accessible by others "
                     "(mode %04o); chmod o-rw it",
                     path, (unsigned) (st.st_mode & 07777));
    return SMG_OK;
}

/* parse_line - add one non-comment line to a; SMG_CONFIG on error */
static enum smg_status
parse_line(struct smg_auth *a, char *line, const char *path, unsigned lineno,
           GError **err)
{
    char *colon = strchr(line, ':');
    char *hash;
    struct auth_entry *e;

    if (colon == NULL) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s:%u: expected user:hash", path, lineno);
        return SMG_CONFIG;
    }
    *colon = '\0';
    hash = colon + 1;
    if (!user_ok(line)) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s:%u: bad user name (1-255 printable characters, "
                      "no blanks or ':')", path, lineno);
        return SMG_CONFIG;
    }
    if (g_hash_table_contains(a->users, line)) {
        smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: user %s listed twice",
                      path, lineno, line);
        return SMG_CONFIG;
    }
    e = g_new0(struct auth_entry, 1);
    if (*hash == '!' || *hash == '*') {
        e->locked = TRUE;
        hash++;
        while (*hash == '!' || *hash == '*')
            hash++;
        /* Keep the timing of its real kind when there is one. */
        if (hash_ok(hash))
            e->hash = g_strdup(hash);
    } else if (hash_ok(hash)) {
        e->hash = g_strdup(hash);
    } else {
        g_free(e);
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s:%u: user %s: not a yescrypt, scrypt, bcrypt or "
                      "SHA-512 crypt hash (make one with mkpasswd)",
                      path, lineno, line);
        return SMG_CONFIG;
    }
    g_hash_table_insert(a->users, g_strdup(line), e);
    return SMG_OK;
}

/* choose_dummy - set a->dummy: a hash (any) of the most common kind */
static enum smg_status
choose_dummy(struct smg_auth *a, GError **err)
{
    unsigned count[G_N_ELEMENTS(auth_kinds)] = {0};
    const char *first[G_N_ELEMENTS(auth_kinds)] = {NULL};
    GHashTableIter it;
    gpointer v;
    int best = -1;
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];

    g_hash_table_iter_init(&it, a->users);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        const struct auth_entry *e = v;
        int k = e->hash != NULL ? hash_kind(e->hash) : -1;
        if (k < 0)
            continue;
        if (count[k]++ == 0)
            first[k] = e->hash;
        if (best < 0 || count[k] > count[best])
            best = k;
    }
    if (best >= 0) {
        a->dummy = g_strdup(first[best]);
        return SMG_OK;
    }
    /* No usable hash at all: a fresh yescrypt setting at default cost. */
    if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof setting) == NULL) {
        smg_set_error(err, SMG_TEMPFAIL, NULL, "crypt_gensalt: %s",
                      g_strerror(errno));
        return SMG_TEMPFAIL;
    }
    a->dummy = g_strdup(setting);
    return SMG_OK;
}

enum smg_status
smg_auth_load(const char *path, struct smg_auth **out, GError **err)
{
    struct smg_auth *a;
    enum smg_status st;
    char *text;
    gsize len;
    char *line;
    char *next;
    unsigned lineno = 0;

    *out = NULL;
    st = read_file(path, &text, &len, err);
    if (st != SMG_OK)
        return st;
    a = g_new0(struct smg_auth, 1);
    a->users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     entry_free);
    if (memchr(text, '\0', len) != NULL) {
        smg_set_error(err, SMG_CONFIG, NULL, "%s: NUL byte in file", path);
        st = SMG_CONFIG;
        goto out;
    }
    for (line = text; line != NULL && *line != '\0'; line = next) {
        char *end;

        lineno++;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        end = line + strlen(line);
        while (end > line && g_ascii_isspace(end[-1]))
            *--end = '\0';
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '\0' || *line == '#')
            continue;
        st = parse_line(a, line, path, lineno, err);
        if (st != SMG_OK)
            goto out;
    }
    st = choose_dummy(a, err);
out:
    explicit_bzero(text, len);
    g_free(text);
    if (st != SMG_OK) {
        smg_auth_free(a);
        return st;
    }
    *out = a;
    return SMG_OK;
}

void
smg_auth_free(struct smg_auth *a)
{
    if (a == NULL)
        return;
    g_hash_table_destroy(a->users);
    smg_auth_secret_free(a->dummy);
    g_free(a);
}

guint
smg_auth_count(const struct smg_auth *a)
{
    return g_hash_table_size(a->users);
}

enum smg_status
smg_auth_check(const struct smg_auth *a, const char *user,
               const char *password)
{
    const struct auth_entry *e;
    const char *setting;
    struct crypt_data *cd;
    const char *r;
    gboolean match = FALSE;
    gboolean known;

    /* Refused before the lookup, so this path tells nothing either. */
    if (strnlen(password, SMG_AUTH_MAX_PASSWORD + 1) > SMG_AUTH_MAX_PASSWORD)
        return SMG_PERMFAIL;
    e = g_hash_table_lookup(a->users, user);
    known = e != NULL && !e->locked;
    setting = e != NULL && e->hash != NULL ? e->hash : a->dummy;

    cd = g_malloc0(sizeof *cd);
    r = crypt_rn(password, setting, cd, (int) sizeof *cd);
    auth_crypt_calls++;
    if (r == NULL) {
        smg_log_warn("crypt failed for a credentials entry: %s",
                     g_strerror(errno));
    } else {
        size_t rn = strlen(r);
        size_t sn = strlen(setting);
        /* Lengths are public (fixed per kind); the bytes are not. */
        match = rn == sn && CRYPTO_memcmp(r, setting, sn) == 0;
    }
    explicit_bzero(cd, sizeof *cd);
    g_free(cd);
    return known && match ? SMG_OK : SMG_PERMFAIL;
}

/* b64_value - the 6-bit value of a base64 character, or -1 */
static int
b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

gboolean
smg_auth_b64_valid(const char *s)
{
    size_t n = strlen(s);
    size_t pad = 0;

    if (n % 4 != 0)
        return FALSE;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') {
            if (i + 2 < n)
                return FALSE; /* '=' only in the last two places */
            pad++;
        } else if (pad > 0 || b64_value(s[i]) < 0) {
            return FALSE;
        }
    }
    /* Canonical form (RFC 4648 3.5): the bits padding covers are zero. */
    if (pad == 1 && (b64_value(s[n - 2]) & 0x03) != 0)
        return FALSE;
    if (pad == 2 && (b64_value(s[n - 3]) & 0x0f) != 0)
        return FALSE;
    return TRUE;
}

/* b64_decode - strict decode of b64 into a new buffer; NULL if invalid */
static guchar *
b64_decode(const char *b64, gsize *len, GError **err)
{
    guchar *buf;
    gsize n;
    gint state = 0;
    guint save = 0;

    if (!smg_auth_b64_valid(b64)) {
        smg_set_error(err, SMG_PERMFAIL, "5.5.2",
                      "Invalid base64 data in AUTH response");
        return NULL;
    }
    /* Our own buffer, one byte longer than the data can be (for a NUL). */
    n = strlen(b64);
    buf = g_malloc0(n / 4 * 3 + 1);
    *len = g_base64_decode_step(b64, n, buf, &state, &save);
    explicit_bzero(&save, sizeof save);
    return buf;
}

enum smg_status
smg_auth_plain_decode(const char *b64, char **authzid, char **user,
                      char **pass, GError **err)
{
    guchar *buf;
    gsize n;
    const guchar *p1;
    const guchar *p2;
    const char *why = NULL;
    size_t zlen;
    size_t ulen;
    size_t plen;

    *authzid = *user = *pass = NULL;
    buf = b64_decode(b64, &n, err);
    if (buf == NULL)
        return SMG_PERMFAIL;
    p1 = memchr(buf, '\0', n);
    p2 = p1 != NULL ? memchr(p1 + 1, '\0', n - (gsize) (p1 + 1 - buf)) : NULL;
    if (p1 == NULL || p2 == NULL) {
        why = "Malformed AUTH PLAIN response (want authzid NUL user NUL "
              "password)";
        goto fail;
    }
    if (memchr(p2 + 1, '\0', n - (gsize) (p2 + 1 - buf)) != NULL) {
        why = "NUL byte inside an AUTH PLAIN field";
        goto fail;
    }
    zlen = (size_t) (p1 - buf);
    ulen = (size_t) (p2 - (p1 + 1));
    plen = n - (size_t) (p2 + 1 - buf);
    if (ulen == 0) {
        why = "Empty user name in AUTH PLAIN response";
        goto fail;
    }
    if (plen == 0) {
        why = "Empty password in AUTH PLAIN response";
        goto fail;
    }
    if (!g_utf8_validate((const char *) p1 + 1, (gssize) ulen, NULL)
        || !g_utf8_validate((const char *) buf, (gssize) zlen, NULL)) {
        why = "User name in AUTH PLAIN response is not UTF-8";
        goto fail;
    }
    if (zlen != 0 && (zlen != ulen || memcmp(buf, p1 + 1, ulen) != 0)) {
        why = "Authorization identity must equal the user name";
        goto fail;
    }
    *user = g_strndup((const char *) p1 + 1, ulen);
    *authzid = g_strdup(*user);
    *pass = g_strndup((const char *) p2 + 1, plen);
    explicit_bzero(buf, n);
    g_free(buf);
    return SMG_OK;
fail:
    explicit_bzero(buf, n);
    g_free(buf);
    smg_set_error(err, SMG_PERMFAIL, "5.5.2", "%s", why);
    return SMG_PERMFAIL;
}

enum smg_status
smg_auth_b64_decode_text(const char *b64, char **out, GError **err)
{
    guchar *buf;
    gsize n;

    *out = NULL;
    buf = b64_decode(b64, &n, err);
    if (buf == NULL)
        return SMG_PERMFAIL;
    if (memchr(buf, '\0', n) != NULL) {
        explicit_bzero(buf, n);
        g_free(buf);
        smg_set_error(err, SMG_PERMFAIL, "5.5.2",
                      "NUL byte in AUTH LOGIN response");
        return SMG_PERMFAIL;
    }
    /* b64_decode left room for the NUL. */
    buf[n] = '\0';
    *out = (char *) buf;
    return SMG_OK;
}

void
smg_auth_secret_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    g_free(s);
}

void
smg_auth_wipe(void *p, gsize len)
{
    if (p != NULL && len > 0)
        explicit_bzero(p, len);
}

guint64
smg_auth_crypt_calls(void)
{
    return auth_crypt_calls;
}

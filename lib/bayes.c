/*
 * bayes.c - tokenizer, token database and chi-square classifier (see
 * bayes.h for the file format and the arithmetic).
 *
 * The tokenizer works on what mimetext decoded, never on raw MIME, so
 * quoted-printable or base64 cannot hide words.  Header values whose words
 * are unique to one message (dates, IDs, boundaries) cost nothing: an
 * unseen token has f = x = 0.5 and is never a clue.
 *
 * The database is read into memory and verified in full when opened
 * (size, order, checksum): a reader must never index past its copy or
 * trust a torn file, and a pass over a few megabytes is cheap beside a
 * message.  It is read rather than mapped so that nothing done to the
 * file afterwards (cp over it truncates it first) can reach a reader.
 * Records are in native byte order; the byte-order mark makes a file from
 * another architecture an error rather than nonsense.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/bayes.h"
#include "lib/log.h"

#define DB_MAGIC "SMGBAYS1"
#define DB_VERSION 1u
#define DB_BOM 0x01020304u
#define DB_HEADER 64
#define TAG_ATTR_MAX 500 /* bytes of a tag's attributes tokenized */

struct db_header {
    char magic[8];
    guint32 version;
    guint32 bom;
    guint64 nspam;
    guint64 nham;
    guint64 ntokens;
    guint64 checksum;
    guint8 reserved[16];
};

struct db_record {
    guint64 hash;
    guint32 spam;
    guint32 ham;
};

G_STATIC_ASSERT(sizeof(struct db_header) == DB_HEADER);
G_STATIC_ASSERT(sizeof(struct db_record) == 16);

struct smg_bayes {
    char *path;
    void *data; /* the file as read (g_malloc: 16-byte aligned) */
    gsize len;
    const struct db_record *rec;
    guint64 n, nspam, nham;
    gboolean exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

/* ---- tokens ---- */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* fnv - continue an FNV-1a hash over s[0..len) */
static guint64
fnv(guint64 h, const char *s, gsize len)
{
    for (gsize i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= FNV_PRIME;
    }
    return h;
}

guint64
smg_bayes_hash(const char *prefix, const char *word, gsize len)
{
    return fnv(fnv(FNV_OFFSET, prefix, strlen(prefix)), word, len);
}

struct smg_bayes_tokens *
smg_bayes_tokens_new(gboolean keep_names)
{
    struct smg_bayes_tokens *tok = g_new0(struct smg_bayes_tokens, 1);

    tok->hashes = g_array_sized_new(FALSE, FALSE, sizeof(guint64), 512);
    if (keep_names)
        tok->names = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    return tok;
}

void
smg_bayes_tokens_free(struct smg_bayes_tokens *tok)
{
    if (tok == NULL)
        return;
    g_array_free(tok->hashes, TRUE);
    if (tok->names != NULL)
        g_hash_table_destroy(tok->names);
    g_free(tok);
}

void
smg_bayes_tokens_add(struct smg_bayes_tokens *tok, const char *prefix,
                     const char *word, gsize len)
{
    guint64 h = smg_bayes_hash(prefix, word, len);

    h = tok->in_header ? (h | 1) : (h & ~(guint64) 1);
    g_array_append_val(tok->hashes, h);
    tok->sorted = FALSE;
    if (tok->names != NULL && !g_hash_table_contains(tok->names, &h)) {
        guint64 *k = g_new(guint64, 1);
        *k = h;
        g_hash_table_insert(tok->names, k,
                            g_strdup_printf("%s%.*s", prefix, (int) len, word));
    }
}

/* cmp_u64 - qsort order of guint64 */
static int
cmp_u64(const void *a, const void *b)
{
    guint64 x = *(const guint64 *) a, y = *(const guint64 *) b;

    return x < y ? -1 : x > y;
}

void
smg_bayes_tokens_finish(struct smg_bayes_tokens *tok)
{
    guint64 *h = (guint64 *) (void *) tok->hashes->data;
    guint n = tok->hashes->len, j = 0;

    if (tok->sorted)
        return;
    qsort(h, n, sizeof *h, cmp_u64);
    for (guint i = 0; i < n; i++)
        if (j == 0 || h[j - 1] != h[i])
            h[j++] = h[i];
    g_array_set_size(tok->hashes, j);
    tok->sorted = TRUE;
}

const char *
smg_bayes_tokens_name(const struct smg_bayes_tokens *tok, guint64 hash)
{
    return tok->names != NULL ? g_hash_table_lookup(tok->names, &hash) : NULL;
}

/* strip_char - punctuation taken off both ends of a word */
static gboolean
strip_char(unsigned char c)
{
    return c != '\0' && c < 0x80 && strchr("\"'()[]{}<>,.;:*-_=+|/\\~`#^&", c) != NULL;
}

/*
 * word - add one whitespace-delimited word w[0..len) under prefix: cut
 * punctuation at the ends, lower-case it, keep it when it has minlen to
 * maxlen characters; longer words become "skip:" or e-mail tokens
 */
static void
word(struct smg_bayes_tokens *tok, const char *prefix, const char *w,
     gsize len, gsize minlen, gsize maxlen)
{
    char buf[64];
    gboolean ascii = TRUE;
    gsize nchars;
    const char *lw;
    char *freeme = NULL;

    while (len > 0 && strip_char((unsigned char) w[0])) {
        w++;
        len--;
    }
    while (len > 0 && strip_char((unsigned char) w[len - 1]))
        len--;
    if (len == 0)
        return;
    for (gsize i = 0; i < len; i++)
        if ((unsigned char) w[i] >= 0x80) {
            ascii = FALSE;
            break;
        }
    nchars = ascii ? len : (gsize) g_utf8_strlen(w, (gssize) len);
    if (nchars < minlen)
        return;
    if (nchars > maxlen) {
        const char *at = memchr(w, '@', len);
        char skip[32];

        if (at != NULL && at > w && memchr(at, '.', len - (gsize) (at - w)) != NULL) {
            gsize ul = (gsize) (at - w);
            char *lower = g_ascii_strdown(w, (gssize) len);
            smg_bayes_tokens_add(tok, "email name:", lower, ul);
            smg_bayes_tokens_add(tok, "email addr:", lower + ul + 1, len - ul - 1);
            g_free(lower);
            return;
        }
        if (len > 4 && (g_ascii_strncasecmp(w, "http", 4) == 0 || g_ascii_strncasecmp(w, "www.", 4) == 0))
            return; /* URIs have tokens of their own */
        g_snprintf(skip, sizeof skip, "%c %u", ascii ? g_ascii_tolower(w[0]) : '*',
                   (unsigned) (nchars / 10 * 10));
        smg_bayes_tokens_add(tok, "skip:", skip, strlen(skip));
        return;
    }
    if (ascii && len < sizeof buf) {
        for (gsize i = 0; i < len; i++)
            buf[i] = g_ascii_tolower(w[i]);
        lw = buf;
    } else {
        freeme = g_utf8_strdown(w, (gssize) len);
        lw = freeme;
        len = strlen(freeme);
    }
    smg_bayes_tokens_add(tok, prefix, lw, len);
    g_free(freeme);
}

/* words - split s[0..len) on white space and add each word */
static void
words(struct smg_bayes_tokens *tok, const char *prefix, const char *s,
      gsize len, gsize minlen, gsize maxlen)
{
    const char *p = s, *end = s + len;

    while (p < end) {
        const char *q;
        while (p < end && g_ascii_isspace(*p))
            p++;
        q = p;
        while (q < end && !g_ascii_isspace(*q))
            q++;
        if (q > p)
            word(tok, prefix, p, (gsize) (q - p), minlen, maxlen);
        p = q;
    }
}

/* addresses - tokens of an address field: user, domain, display words */
static void
addresses(struct smg_bayes_tokens *tok, const char *lname, const char *v)
{
    char **w = g_strsplit_set(v, " \t,;<>\"()", -1);
    char prefix[64];
    gboolean named = FALSE;

    for (unsigned i = 0; w[i] != NULL; i++) {
        char *at = strchr(w[i], '@');
        if (*w[i] == '\0')
            continue;
        if (at != NULL) {
            char *lower = g_ascii_strdown(w[i], -1);
            char *dom = lower + (at - w[i]) + 1;
            char *dot;
            g_snprintf(prefix, sizeof prefix, "%s:addr:", lname);
            smg_bayes_tokens_add(tok, prefix, lower, (gsize) (at - w[i]));
            smg_bayes_tokens_add(tok, prefix, dom - 1, strlen(dom - 1));
            /* the registered part: the last two labels */
            dot = strrchr(dom, '.');
            if (dot != NULL) {
                char *d2 = dot;
                while (d2 > dom && d2[-1] != '.')
                    d2--;
                if (d2 > dom)
                    smg_bayes_tokens_add(tok, prefix, d2, strlen(d2));
            }
            g_free(lower);
        } else {
            g_snprintf(prefix, sizeof prefix, "%s:name:", lname);
            word(tok, prefix, w[i], strlen(w[i]), 1, 20);
            named = TRUE;
        }
    }
    if (!named) {
        g_snprintf(prefix, sizeof prefix, "%s:", lname);
        smg_bayes_tokens_add(tok, prefix, "no real name", 12);
    }
    g_strfreev(w);
}

/* received - host and network tokens of a Received: field */
static void
received(struct smg_bayes_tokens *tok, const char *v)
{
    char **w = g_strsplit_set(v, " \t()[];", -1);

    for (unsigned i = 0; w[i] != NULL; i++) {
        char *s = w[i];
        unsigned a, b, c, d;
        char *dot;

        if (sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d) == 4) {
            char ip[32];
            g_snprintf(ip, sizeof ip, "%u.%u", a, b);
            smg_bayes_tokens_add(tok, "received:ip:", ip, strlen(ip));
            g_snprintf(ip, sizeof ip, "%u.%u.%u", a, b, c);
            smg_bayes_tokens_add(tok, "received:ip:", ip, strlen(ip));
            continue;
        }
        dot = strrchr(s, '.');
        if (dot == NULL || dot == s || strchr(s, '@') != NULL || strlen(s) > 80 || !g_ascii_isalpha(dot[1]))
            continue;
        {
            char *lower = g_ascii_strdown(s, -1);
            char *d2 = lower + (dot - s);
            while (d2 > lower && d2[-1] != '.')
                d2--;
            smg_bayes_tokens_add(tok, "received:", d2, strlen(d2));
            g_free(lower);
        }
    }
    g_strfreev(w);
}

/* header - tokens of one header field */
static void
header(struct smg_bayes_tokens *tok, const char *name, const char *v)
{
    char lname[64];
    char prefix[72];
    gsize n = strlen(name);

    if (n >= sizeof lname)
        n = sizeof lname - 1;
    for (gsize i = 0; i < n; i++)
        lname[i] = g_ascii_tolower(name[i]);
    lname[n] = '\0';
    /* other filters' verdicts and signatures say nothing of the content */
    if (g_str_has_prefix(lname, "x-spam") || strcmp(lname, "dkim-signature") == 0
        || strcmp(lname, "domainkey-signature") == 0 || g_str_has_prefix(lname, "smg-"))
        return;
    smg_bayes_tokens_add(tok, "hdr:", lname, n);
    if (strcmp(lname, "subject") == 0) {
        words(tok, "subject:", v, strlen(v), 1, 20);
    } else if (strcmp(lname, "from") == 0 || strcmp(lname, "to") == 0
               || strcmp(lname, "cc") == 0 || strcmp(lname, "reply-to") == 0
               || strcmp(lname, "sender") == 0 || strcmp(lname, "return-path") == 0
               || strcmp(lname, "errors-to") == 0) {
        addresses(tok, lname, v);
    } else if (strcmp(lname, "received") == 0) {
        received(tok, v);
    } else if (strcmp(lname, "date") == 0) {
        const char *sp = strrchr(v, ' ');
        const char *tz = sp != NULL ? sp + 1 : v;
        if ((*tz == '+' || *tz == '-') && strlen(tz) == 5)
            smg_bayes_tokens_add(tok, "date:tz:", tz, 5);
    } else if (strcmp(lname, "message-id") == 0) {
        const char *at = strrchr(v, '@');
        if (at == NULL) {
            smg_bayes_tokens_add(tok, "message-id:", "invalid", 7);
        } else {
            char *d = g_ascii_strdown(at, -1);
            g_strdelimit(d, ">", '\0');
            smg_bayes_tokens_add(tok, "message-id:", d, strlen(d));
            g_free(d);
        }
    } else if (strcmp(lname, "content-type") == 0) {
        char **w = g_strsplit_set(v, " \t;", -1);
        for (unsigned i = 0; w[i] != NULL; i++)
            if (*w[i] != '\0' && g_ascii_strncasecmp(w[i], "boundary", 8) != 0)
                word(tok, "content-type:", w[i], strlen(w[i]), 1, 40);
        g_strfreev(w);
    } else {
        g_snprintf(prefix, sizeof prefix, "%s:", lname);
        words(tok, prefix, v, strlen(v), 1, 30);
    }
}

/* uri - tokens of one URI: scheme, host and its suffixes, path words */
static void
uri(struct smg_bayes_tokens *tok, const char *u)
{
    char *host = smg_mimetext_uri_host(u);
    const char *p = strstr(u, "://");
    const char *path;

    if (p != NULL) {
        char *scheme = g_ascii_strdown(u, p - u);
        smg_bayes_tokens_add(tok, "proto:", scheme, strlen(scheme));
        g_free(scheme);
        p += 3;
    } else {
        p = u;
    }
    if (host != NULL) {
        const char *h = host;
        int labels = 0;
        smg_bayes_tokens_add(tok, "url:", host, strlen(host));
        /* each parent domain with two labels or more, at most four */
        while ((h = strchr(h, '.')) != NULL && labels < 4) {
            h++;
            if (strchr(h, '.') == NULL)
                break;
            smg_bayes_tokens_add(tok, "url:", h, strlen(h));
            labels++;
        }
        g_free(host);
    }
    path = strpbrk(p, "/?#");
    if (path != NULL) {
        const char *s = path, *e;
        while (*s != '\0') {
            while (*s != '\0' && strchr("/?&=.-_+%#:;~", *s) != NULL)
                s++;
            e = s;
            while (*e != '\0' && strchr("/?&=.-_+%#:;~", *e) == NULL)
                e++;
            if (e - s >= 2 && e - s <= 20) {
                char *lower = g_ascii_strdown(s, e - s);
                smg_bayes_tokens_add(tok, "url:", lower, (gsize) (e - s));
                g_free(lower);
            }
            s = e;
        }
    }
}

/*
 * html_tags - tokens of the HTML markup: tag names, and the values of the
 * presentational attributes that bulk mail leans on (colours, sizes, fonts)
 */
static void
html_tags(struct smg_bayes_tokens *tok, const GString *html)
{
    const char *p = html->str, *end = html->str + html->len;

    while ((p = memchr(p, '<', (gsize) (end - p))) != NULL) {
        const char *q = ++p, *gt;
        char name[16];
        gsize n = 0;

        while (q < end && g_ascii_isalnum(*q) && n < sizeof name - 1)
            name[n++] = g_ascii_tolower(*q++);
        if (n == 0)
            continue;
        name[n] = '\0';
        smg_bayes_tokens_add(tok, "tag:", name, n);
        /* attributes are read within TAG_ATTR_MAX bytes: looking further
         * for the '>' made HTML of many unclosed tags quadratic */
        gt = memchr(q, '>', MIN((gsize) (end - q), TAG_ATTR_MAX + 1));
        if (gt == NULL)
            continue;
        {
            static const char *const attrs[] = {"color=", "bgcolor=", "size=", "face=", "align=", "border=", "width="};
            for (unsigned a = 0; a < G_N_ELEMENTS(attrs); a++) {
                const char *s = q;
                gsize al = strlen(attrs[a]);
                for (; s + al < gt; s++)
                    if (g_ascii_strncasecmp(s, attrs[a], al) == 0 && g_ascii_isspace(s[-1]))
                        break;
                if (s + al >= gt)
                    continue;
                s += al;
                if (*s == '"' || *s == '\'')
                    s++;
                {
                    const char *e = s;
                    char pre[40];
                    while (e < gt && *e != '"' && *e != '\'' && !g_ascii_isspace(*e) && e - s < 30)
                        e++;
                    g_snprintf(pre, sizeof pre, "tag:%s:%s", name, attrs[a]);
                    {
                        char *v = g_ascii_strdown(s, e - s);
                        smg_bayes_tokens_add(tok, pre, v, strlen(v));
                        g_free(v);
                    }
                }
            }
        }
        p = gt;
    }
}

void
smg_bayes_tokenize(const struct smg_mimetext *mt, struct smg_bayes_tokens *tok)
{
    tok->in_header = TRUE;
    for (guint i = 0; i < mt->headers->len; i++) {
        const struct smg_mimetext_header *h =
            &g_array_index(mt->headers, struct smg_mimetext_header, i);
        header(tok, h->name, h->value);
    }
    tok->in_header = FALSE;
    words(tok, "", mt->text->str, mt->text->len, 3, 12);
    html_tags(tok, mt->html);
    for (guint i = 0; i < mt->uris->len; i++)
        uri(tok, mt->uris->pdata[i]);
    for (guint i = 0; i < mt->types->len; i++) {
        const char *t = mt->types->pdata[i];
        smg_bayes_tokens_add(tok, "part:", t, strlen(t));
    }
    for (guint i = 0; i < mt->filenames->len; i++) {
        const char *f = mt->filenames->pdata[i];
        const char *dot = strrchr(f, '.');
        if (dot != NULL && strlen(dot) <= 10) {
            char *e = g_ascii_strdown(dot + 1, -1);
            smg_bayes_tokens_add(tok, "filename:ext:", e, strlen(e));
            g_free(e);
        }
    }
    if (mt->n_html > 0 && mt->n_plain == 0)
        smg_bayes_tokens_add(tok, "mime:", "html only", 9);
    if (mt->link_mismatch > 0)
        smg_bayes_tokens_add(tok, "mime:", "link mismatch", 13);
    if (mt->header_8bit)
        smg_bayes_tokens_add(tok, "mime:", "8bit header", 11);
    smg_bayes_tokens_finish(tok);
}

/* ---- the database ---- */

/* checksum - FNV-1a over the records */
static guint64
records_checksum(const struct db_record *r, guint64 n)
{
    return fnv(FNV_OFFSET, (const char *) r, (gsize) n * sizeof *r);
}

/*
 * verify - check a file read into map[0..len); SMG_OK or SMG_CONFIG with
 * the reason
 */
static enum smg_status
verify(const char *path, const void *map, gsize len, GError **err)
{
    const struct db_header *h = map;
    const struct db_record *r;
    guint64 n;

    if (len < DB_HEADER || memcmp(h->magic, DB_MAGIC, 8) != 0) {
        smg_set_error(err, SMG_CONFIG, "4.3.5",
                      "Bayes database %s is corrupt: not an smg Bayes database; "
                      "remove it and learn again", path);
        return SMG_CONFIG;
    }
    if (h->bom != DB_BOM || h->version != DB_VERSION) {
        smg_set_error(err, SMG_CONFIG, "4.3.5",
                      "Bayes database %s has version %u or another byte order; "
                      "remove it and learn again", path, h->version);
        return SMG_CONFIG;
    }
    n = h->ntokens;
    if (n > (len - DB_HEADER) / sizeof *r || len != DB_HEADER + n * sizeof *r) {
        smg_set_error(err, SMG_CONFIG, "4.3.5",
                      "Bayes database %s is corrupt: %" G_GSIZE_FORMAT
                      " bytes for %" G_GUINT64_FORMAT " tokens; remove it and learn again",
                      path, len, n);
        return SMG_CONFIG;
    }
    r = (const struct db_record *) (const void *) ((const char *) map + DB_HEADER);
    for (guint64 i = 1; i < n; i++)
        if (r[i - 1].hash >= r[i].hash) {
            smg_set_error(err, SMG_CONFIG, "4.3.5",
                          "Bayes database %s is corrupt: records out of order at %"
                          G_GUINT64_FORMAT "; remove it and learn again", path, i);
            return SMG_CONFIG;
        }
    if (records_checksum(r, n) != h->checksum) {
        smg_set_error(err, SMG_CONFIG, "4.3.5",
                      "Bayes database %s is corrupt: checksum mismatch; "
                      "remove it and learn again", path);
        return SMG_CONFIG;
    }
    return SMG_OK;
}

enum smg_status
smg_bayes_open(const char *path, struct smg_bayes **out, GError **err)
{
    struct smg_bayes *db = g_new0(struct smg_bayes, 1);
    struct stat st;
    int fd;

    *out = NULL;
    db->path = g_strdup(path);
    /* O_NONBLOCK: a FIFO put at the path would block the open until a
       writer came; it is refused below as no regular file.  A regular
       file reads the same either way. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *out = db;
            return SMG_OK;
        }
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "Bayes database %s: %s", path,
                      g_strerror(errno));
        smg_bayes_close(db);
        return SMG_TEMPFAIL;
    }
    if (fstat(fd, &st) < 0) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "Bayes database %s: %s", path,
                      g_strerror(errno));
        close(fd);
        smg_bayes_close(db);
        return SMG_TEMPFAIL;
    }
    db->exists = TRUE;
    db->dev = st.st_dev;
    db->ino = st.st_ino;
    db->size = st.st_size;
    db->mtime = st.st_mtim;
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        smg_set_error(err, SMG_CONFIG, "4.3.5",
                      "Bayes database %s is not a regular file", path);
        smg_bayes_close(db);
        return SMG_CONFIG;
    }
    if (st.st_size < DB_HEADER) {
        close(fd);
        (void) verify(path, "", 0, err);
        smg_bayes_close(db);
        return SMG_CONFIG;
    }
    /* read, not mapped: a file rewritten in place (cp over it) would
     * take the pages of a mapping away, and the reader's next lookup
     * past the new end is SIGBUS.  A copy is the reader's own; a file
     * that changed while it was read is cut short or torn, which verify
     * reports. */
    db->len = (gsize) st.st_size;
    db->data = g_try_malloc(db->len);
    if (db->data == NULL) {
        close(fd);
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "Bayes database %s: out of memory for %"
                      G_GSIZE_FORMAT " bytes", path, db->len);
        smg_bayes_close(db);
        return SMG_TEMPFAIL;
    }
    {
        gsize got = 0;
        while (got < db->len) {
            ssize_t n = read(fd, (char *) db->data + got, db->len - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "Bayes database %s: read: %s",
                              path, g_strerror(errno));
                close(fd);
                smg_bayes_close(db);
                return SMG_TEMPFAIL;
            }
            if (n == 0)
                break; /* cut while read: verify says so */
            got += (gsize) n;
        }
        db->len = got;
    }
    close(fd);
    if (verify(path, db->data, db->len, err) != SMG_OK) {
        smg_bayes_close(db);
        return SMG_CONFIG;
    }
    {
        const struct db_header *h = db->data;
        db->nspam = h->nspam;
        db->nham = h->nham;
        db->n = h->ntokens;
        db->rec = (const struct db_record *) (const void *) ((const char *) db->data + DB_HEADER);
    }
    *out = db;
    return SMG_OK;
}

void
smg_bayes_close(struct smg_bayes *db)
{
    if (db == NULL)
        return;
    g_free(db->data);
    g_free(db->path);
    g_free(db);
}

gboolean
smg_bayes_changed(const struct smg_bayes *db)
{
    struct stat st;

    if (stat(db->path, &st) < 0)
        return db->exists;
    if (!db->exists)
        return TRUE;
    return st.st_dev != db->dev || st.st_ino != db->ino || st.st_size != db->size
           || st.st_mtim.tv_sec != db->mtime.tv_sec
           || st.st_mtim.tv_nsec != db->mtime.tv_nsec;
}

guint64
smg_bayes_nspam(const struct smg_bayes *db)
{
    return db->nspam;
}

guint64
smg_bayes_nham(const struct smg_bayes *db)
{
    return db->nham;
}

guint64
smg_bayes_ntokens(const struct smg_bayes *db)
{
    return db->n;
}

gboolean
smg_bayes_lookup(const struct smg_bayes *db, guint64 hash, guint32 *spam,
                 guint32 *ham)
{
    guint64 lo = 0, hi = db->n;

    while (lo < hi) {
        guint64 mid = lo + (hi - lo) / 2;
        guint64 h = db->rec[mid].hash;
        if (h == hash) {
            *spam = db->rec[mid].spam;
            *ham = db->rec[mid].ham;
            return TRUE;
        }
        if (h < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    return FALSE;
}

void
smg_bayes_params_default(struct smg_bayes_params *p)
{
    p->s = 1.0;
    p->x = 0.5;
    p->min_dev = 0.1;
    p->max_clues = 150;
    p->max_header_clues = 20;
    p->min_learned = 20;
}

double
smg_bayes_chi2q(double x2, unsigned v)
{
    double m = x2 / 2.0, sum, term;

    if (x2 <= 0)
        return 1.0;
    sum = term = exp(-m);
    for (unsigned i = 1; i < v / 2; i++) {
        term *= m / i;
        sum += term;
    }
    return sum < 1.0 ? sum : 1.0;
}

/* cmp_clue - strongest first (largest |f - 0.5|), then by hash */
static int
cmp_clue(const void *a, const void *b)
{
    const struct smg_bayes_clue *x = a, *y = b;
    double dx = fabs(x->f - 0.5), dy = fabs(y->f - 0.5);

    if (dx != dy)
        return dx > dy ? -1 : 1;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

void
smg_bayes_classify(const struct smg_bayes *db, struct smg_bayes_tokens *tok,
                   const struct smg_bayes_params *params, gboolean want_clues,
                   struct smg_bayes_result *res)
{
    GArray *clues;
    double ns = (double) db->nspam, nh = (double) db->nham;
    double lns = 0, lnh = 0;
    unsigned n;

    memset(res, 0, sizeof *res);
    res->prob = 0.5;
    smg_bayes_tokens_finish(tok);
    if (db->nspam < params->min_learned || db->nham < params->min_learned
        || db->nspam == 0 || db->nham == 0)
        return;
    res->usable = TRUE;
    clues = g_array_new(FALSE, FALSE, sizeof(struct smg_bayes_clue));
    for (guint i = 0; i < tok->hashes->len; i++) {
        struct smg_bayes_clue c;
        double sr, hr, p, cnt;

        c.hash = g_array_index(tok->hashes, guint64, i);
        if (!smg_bayes_lookup(db, c.hash, &c.spam, &c.ham))
            continue;
        sr = c.spam / ns;
        hr = c.ham / nh;
        if (sr + hr <= 0)
            continue;
        p = sr / (sr + hr);
        cnt = (double) c.spam + (double) c.ham;
        c.f = (params->s * params->x + cnt * p) / (params->s + cnt);
        if (fabs(c.f - 0.5) < params->min_dev)
            continue;
        g_array_append_val(clues, c);
    }
    g_array_sort(clues, cmp_clue);
    if (params->max_header_clues < params->max_clues) {
        /* header clues beyond max_header_clues make way for text clues */
        guint j = 0;
        unsigned nhd = 0;
        for (guint i = 0; i < clues->len; i++) {
            struct smg_bayes_clue c = g_array_index(clues, struct smg_bayes_clue, i);
            if ((c.hash & 1) != 0 && nhd++ >= params->max_header_clues)
                continue;
            g_array_index(clues, struct smg_bayes_clue, j++) = c;
        }
        g_array_set_size(clues, j);
    }
    n = MIN(clues->len, params->max_clues);
    for (unsigned i = 0; i < n; i++) {
        double f = g_array_index(clues, struct smg_bayes_clue, i).f;
        /* f is never 0 or 1: (s*x + n*p) / (s + n) with s, x > 0 */
        lns += log(1.0 - f);
        lnh += log(f);
    }
    if (n > 0) {
        double s = 1.0 - smg_bayes_chi2q(-2.0 * lns, 2 * n);
        double h = 1.0 - smg_bayes_chi2q(-2.0 * lnh, 2 * n);
        res->prob = (s - h + 1.0) / 2.0;
    }
    res->nclues = n;
    if (want_clues) {
        g_array_set_size(clues, n);
        res->clues = clues;
    } else {
        g_array_unref(clues);
    }
}

/* ---- learning ---- */

struct smg_bayes_learner {
    char *path;
    char *lock_path;
    int lock_fd;
    GArray *add;      /* of struct db_record: increments, unsorted */
    guint64 nspam, nham;
};

/*
 * remove_dead_tmp - remove PATH.tmp.PID files of learners that died
 * between writing and renaming (commit writes nothing else).  Called
 * under the lock, which every learner holds while it writes: any such
 * file now is a dead one's, however large, and would stay for ever.
 */
static void
remove_dead_tmp(const char *path)
{
    char *dir = g_path_get_dirname(path);
    char *prefix = g_strconcat(strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path,
                               ".tmp.", NULL);
    gsize plen = strlen(prefix);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
        const char *pid = name + plen;

        if (strncmp(name, prefix, plen) != 0 || *pid == '\0'
            || strspn(pid, "0123456789") != strlen(pid))
            continue;
        {
            char *f = g_build_filename(dir, name, NULL);

            if (unlink(f) == 0)
                smg_log_info("bayes=%s, removed=%s (left by a learner that "
                             "died)", path, f);
            g_free(f);
        }
    }
    if (d != NULL)
        g_dir_close(d);
    g_free(prefix);
    g_free(dir);
}

enum smg_status
smg_bayes_learner_open(const char *path, struct smg_bayes_learner **out,
                       GError **err)
{
    struct smg_bayes_learner *l = g_new0(struct smg_bayes_learner, 1);
    struct smg_bayes *db = NULL;
    enum smg_status st;

    *out = NULL;
    l->path = g_strdup(path);
    l->lock_path = g_strconcat(path, ".lock", NULL);
    l->add = g_array_new(FALSE, FALSE, sizeof(struct db_record));
    l->lock_fd = open(l->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (l->lock_fd < 0) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "Bayes lock %s: %s", l->lock_path,
                      g_strerror(errno));
        smg_bayes_learner_free(l);
        return SMG_TEMPFAIL;
    }
    while (flock(l->lock_fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "Bayes lock %s: %s",
                          l->lock_path, g_strerror(errno));
            smg_bayes_learner_free(l);
            return SMG_TEMPFAIL;
        }
    }
    remove_dead_tmp(path);
    st = smg_bayes_open(path, &db, err);
    smg_bayes_close(db);
    if (st != SMG_OK) {
        smg_bayes_learner_free(l);
        return st;
    }
    *out = l;
    return SMG_OK;
}

/* cmp_record - order of records by hash */
static int
cmp_record(const void *a, const void *b)
{
    const struct db_record *x = a, *y = b;

    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* saturating - a + b within guint32 */
static guint32
saturating(guint32 a, guint32 b)
{
    return a > G_MAXUINT32 - b ? G_MAXUINT32 : a + b;
}

/* compact - sort the increments and merge equal hashes */
static void
compact(GArray *add)
{
    struct db_record *r = (struct db_record *) (void *) add->data;
    guint j = 0;

    if (add->len == 0)
        return; /* (data is NULL then, which qsort must not get) */
    qsort(r, add->len, sizeof *r, cmp_record);
    for (guint i = 0; i < add->len; i++) {
        if (j > 0 && r[j - 1].hash == r[i].hash) {
            r[j - 1].spam = saturating(r[j - 1].spam, r[i].spam);
            r[j - 1].ham = saturating(r[j - 1].ham, r[i].ham);
        } else {
            r[j++] = r[i];
        }
    }
    g_array_set_size(add, j);
}

void
smg_bayes_learner_add(struct smg_bayes_learner *l, struct smg_bayes_tokens *tok,
                      gboolean spam)
{
    smg_bayes_tokens_finish(tok);
    for (guint i = 0; i < tok->hashes->len; i++) {
        struct db_record r = {g_array_index(tok->hashes, guint64, i), spam ? 1 : 0,
                              spam ? 0 : 1};
        g_array_append_val(l->add, r);
    }
    if (spam)
        l->nspam++;
    else
        l->nham++;
    if (l->add->len > 8u * 1024 * 1024)
        compact(l->add);
}

/* write_all - write buf[0..len) to fd */
static gboolean
write_all(int fd, const void *buf, gsize len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return FALSE;
        }
        p += n;
        len -= (gsize) n;
    }
    return TRUE;
}

/* dir_sync - fsync the folder holding path */
static void
dir_sync(const char *path)
{
    char *dir = g_path_get_dirname(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        (void) fsync(fd);
        close(fd);
    }
    g_free(dir);
}

enum smg_status
smg_bayes_learner_commit(struct smg_bayes_learner *l, GError **err)
{
    struct smg_bayes *db = NULL;
    enum smg_status st;
    GArray *merged;
    const struct db_record *old, *add;
    guint64 nold, i = 0, j = 0;
    struct db_header h;
    char *tmp;
    int fd;
    gboolean ok;

    st = smg_bayes_open(l->path, &db, err);
    if (st != SMG_OK)
        return st;
    compact(l->add);
    old = db->rec;
    nold = db->n;
    add = (const struct db_record *) (const void *) l->add->data;
    merged = g_array_sized_new(FALSE, FALSE, sizeof(struct db_record), (guint) (nold + l->add->len));
    while (i < nold || j < l->add->len) {
        struct db_record r;
        if (j >= l->add->len || (i < nold && old[i].hash < add[j].hash)) {
            r = old[i++];
        } else if (i >= nold || add[j].hash < old[i].hash) {
            r = add[j++];
        } else {
            r = old[i++];
            r.spam = saturating(r.spam, add[j].spam);
            r.ham = saturating(r.ham, add[j].ham);
            j++;
        }
        g_array_append_val(merged, r);
    }
    memset(&h, 0, sizeof h);
    memcpy(h.magic, DB_MAGIC, 8);
    h.version = DB_VERSION;
    h.bom = DB_BOM;
    h.nspam = db->nspam + l->nspam;
    h.nham = db->nham + l->nham;
    h.ntokens = merged->len;
    h.checksum = records_checksum((const struct db_record *) (const void *) merged->data, merged->len);
    smg_bayes_close(db);

    tmp = g_strdup_printf("%s.tmp.%ld", l->path, (long) getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ok = fd >= 0 && write_all(fd, &h, sizeof h)
         && write_all(fd, merged->data, (gsize) merged->len * sizeof(struct db_record))
         && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = FALSE;
    if (ok && rename(tmp, l->path) != 0)
        ok = FALSE;
    if (!ok) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "Bayes database %s: write: %s",
                      l->path, g_strerror(errno));
        (void) unlink(tmp);
        st = SMG_TEMPFAIL;
    } else {
        dir_sync(l->path);
        g_array_set_size(l->add, 0);
        l->nspam = l->nham = 0;
        st = SMG_OK;
    }
    g_free(tmp);
    g_array_unref(merged);
    return st;
}

void
smg_bayes_learner_free(struct smg_bayes_learner *l)
{
    if (l == NULL)
        return;
    if (l->lock_fd >= 0)
        close(l->lock_fd); /* releases the flock */
    g_array_unref(l->add);
    g_free(l->path);
    g_free(l->lock_path);
    g_free(l);
}

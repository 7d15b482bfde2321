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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/bayes.h"
#include "lib/fileio.h"
#include "lib/log.h"

#define DB_MAGIC "SMGBAYS1"
#define DB_VERSION 2u    /* written; 1 (no digests) is read too */
#define DB_VERSION_OLD 1u
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
    guint64 nseen;         /* digests after the records (0 in version 1, */
    guint64 seen_checksum; /* whose 16 bytes here were reserved, zero) */
};

struct db_record {
    guint64 hash;
    guint32 spam;
    guint32 ham;
};

/* A learned message: 128 bits of its digest, the lowest bit of lo
 * replaced by its class (1 spam, 0 ham); ordered by (hi, lo | 1). */
struct db_seen {
    guint64 hi;
    guint64 lo;
};

/* A learner's change to a token's counts (a move subtracts). */
struct db_delta {
    guint64 hash;
    gint32 spam;
    gint32 ham;
};

G_STATIC_ASSERT(sizeof(struct db_header) == DB_HEADER);
G_STATIC_ASSERT(sizeof(struct db_record) == 16);
G_STATIC_ASSERT(sizeof(struct db_seen) == 16);
G_STATIC_ASSERT(sizeof(struct db_delta) == 16);

struct smg_bayes {
    char *path;
    void *data; /* header and records as read (g_malloc: 16-byte aligned),
                   and the digests when a learner read them */
    gsize len;
    const struct db_record *rec;
    struct db_seen *seen; /* NULL for readers */
    guint64 n, nspam, nham, nseen;
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
    g_free(tok->ident);
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

/*
 * body_hash - a 64-bit hash of p[0..len), eight bytes a step (a few GB/s):
 * it only tells apart messages of equal tokens, Message-ID and Date, so
 * it need not resist a forger (one who made two such collide would only
 * have his second message not counted)
 */
static guint64
body_hash(const char *p, gsize len)
{
    guint64 h = 0x9e3779b97f4a7c15ULL ^ (guint64) len;

    for (; len >= 8; p += 8, len -= 8) {
        guint64 w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    h = fnv(h, p, len);
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

void
smg_bayes_tokens_identify(struct smg_bayes_tokens *tok, const struct smg_mimetext *mt)
{
    const char *msgid = NULL, *date = NULL;
    gsize hl = MIN(mt->header_len, mt->raw_len);

    for (guint i = 0; i < mt->headers->len; i++) {
        const struct smg_mimetext_header *h =
            &g_array_index(mt->headers, struct smg_mimetext_header, i);
        if (msgid == NULL && g_ascii_strcasecmp(h->name, "message-id") == 0)
            msgid = h->value;
        else if (date == NULL && g_ascii_strcasecmp(h->name, "date") == 0)
            date = h->value;
    }
    /* with the tokens, what tells one message from another of the same
     * tokens (the learner's digest): its Message-ID, Date and body as
     * they are in the file, so the same file learned again is the same
     * message and a resend of the same words is not.  The body gets a
     * fast hash, not SHA-256 (which took as long as parsing a message of
     * large attachments) */
    g_free(tok->ident);
    tok->ident = g_strdup_printf("message-id:%s\ndate:%s\nbody:%016" G_GINT64_MODIFIER "x",
                                 msgid != NULL ? msgid : "", date != NULL ? date : "",
                                 mt->raw != NULL ? body_hash(mt->raw + hl, mt->raw_len - hl)
                                                 : (guint64) 0);
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

/* checksum - FNV-1a over n records of size bytes */
static guint64
records_checksum(const void *r, guint64 n, gsize size)
{
    return fnv(FNV_OFFSET, r, (gsize) n * size);
}

/* corrupt - the error of a file that is not a whole database */
static enum smg_status G_GNUC_PRINTF(3, 4)
corrupt(GError **err, const char *path, const char *fmt, ...)
{
    va_list ap;
    char *why;

    va_start(ap, fmt);
    why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    smg_set_error(err, SMG_CONFIG, "4.3.5",
                  "Bayes database %s is corrupt: %s; remove it and learn again", path, why);
    g_free(why);
    return SMG_CONFIG;
}

/*
 * check_header - the header of a file of size bytes: its magic, version
 * and byte order, and a size that is exactly the header, the records and
 * the digests it counts.  *nseen is the digests' count (0 in version 1).
 */
static enum smg_status
check_header(const char *path, const struct db_header *h, guint64 size, guint64 *nseen,
             GError **err)
{
    guint64 n, s, room;

    if (size < DB_HEADER || memcmp(h->magic, DB_MAGIC, 8) != 0)
        return corrupt(err, path, "not an smg Bayes database");
    if (h->bom != DB_BOM || (h->version != DB_VERSION && h->version != DB_VERSION_OLD)) {
        smg_set_error(err, SMG_CONFIG, "4.3.5",
                      "Bayes database %s has version %u or another byte order; "
                      "remove it and learn again", path, h->version);
        return SMG_CONFIG;
    }
    n = h->ntokens;
    s = h->version == DB_VERSION_OLD ? 0 : h->nseen;
    room = (size - DB_HEADER) / sizeof(struct db_record);
    if (n > room || s > room - n
        || size != DB_HEADER + (n + s) * sizeof(struct db_record))
        return corrupt(err, path, "%" G_GUINT64_FORMAT " bytes for %" G_GUINT64_FORMAT
                       " tokens and %" G_GUINT64_FORMAT " messages", size, n, s);
    *nseen = s;
    return SMG_OK;
}

/* seen_cmp - order of digests, their class bits aside */
static int
seen_cmp(const void *a, const void *b)
{
    const struct db_seen *x = a, *y = b;

    if (x->hi != y->hi)
        return x->hi < y->hi ? -1 : 1;
    return (x->lo | 1) < (y->lo | 1) ? -1 : (x->lo | 1) > (y->lo | 1);
}

/* check_body - records (and digests, when read) in order, checksums right */
static enum smg_status
check_body(const char *path, const struct smg_bayes *db, GError **err)
{
    const struct db_header *h = db->data;

    for (guint64 i = 1; i < db->n; i++)
        if (db->rec[i - 1].hash >= db->rec[i].hash)
            return corrupt(err, path, "records out of order at %" G_GUINT64_FORMAT, i);
    if (records_checksum(db->rec, db->n, sizeof *db->rec) != h->checksum)
        return corrupt(err, path, "checksum mismatch");
    if (db->seen == NULL || h->version == DB_VERSION_OLD)
        return SMG_OK; /* a reader's, or no digests yet */
    for (guint64 i = 1; i < db->nseen; i++)
        if (seen_cmp(&db->seen[i - 1], &db->seen[i]) >= 0)
            return corrupt(err, path, "learned messages out of order at %" G_GUINT64_FORMAT, i);
    if (records_checksum(db->seen, db->nseen, sizeof *db->seen) != h->seen_checksum)
        return corrupt(err, path, "checksum mismatch of the learned messages");
    return SMG_OK;
}

/*
 * db_load - smg_bayes_open, and with with_seen the digests of the learned
 * messages too (a learner's; readers never need them, so they neither read
 * nor keep them: a reader's open time and memory are the records')
 */
static enum smg_status
db_load(const char *path, gboolean with_seen, struct smg_bayes **out, GError **err)
{
    struct smg_bayes *db = g_new0(struct smg_bayes, 1);
    struct db_header h;
    struct stat st;
    guint64 nseen = 0;
    gssize got;
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
    /* read, not mapped: a file rewritten in place (cp over it) would
     * take the pages of a mapping away, and the reader's next lookup
     * past the new end is SIGBUS.  A copy is the reader's own; a file
     * that changed while it was read is cut short or torn, which the
     * checks report. */
    got = smg_read_at(fd, &h, sizeof h, 0);
    if (got < 0)
        goto read_error;
    if ((gsize) got < sizeof h)
        memset((char *) &h + got, 0, sizeof h - (gsize) got);
    if (check_header(path, &h, (guint64) st.st_size, &nseen, err) != SMG_OK) {
        close(fd);
        smg_bayes_close(db);
        return SMG_CONFIG;
    }
    db->n = h.ntokens;
    db->nspam = h.nspam;
    db->nham = h.nham;
    db->len = DB_HEADER + (gsize) db->n * sizeof(struct db_record);
    if (with_seen) {
        db->nseen = nseen;
        db->len += (gsize) nseen * sizeof(struct db_seen);
    }
    db->data = g_try_malloc(db->len);
    if (db->data == NULL) {
        close(fd);
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "Bayes database %s: out of memory for %"
                      G_GSIZE_FORMAT " bytes", path, db->len);
        smg_bayes_close(db);
        return SMG_TEMPFAIL;
    }
    memcpy(db->data, &h, sizeof h);
    got = smg_read_at(fd, (char *) db->data + DB_HEADER, db->len - DB_HEADER, DB_HEADER);
    if (got < 0)
        goto read_error;
    close(fd);
    if ((gsize) got < db->len - DB_HEADER) {
        /* cut while read */
        (void) corrupt(err, path, "%" G_GSIZE_FORMAT " bytes for %" G_GUINT64_FORMAT
                       " tokens and %" G_GUINT64_FORMAT " messages", DB_HEADER + (gsize) got,
                       db->n, nseen);
        smg_bayes_close(db);
        return SMG_CONFIG;
    }
    db->rec = (const struct db_record *) (const void *) ((const char *) db->data + DB_HEADER);
    if (with_seen)
        db->seen = (struct db_seen *) (void *) ((char *) db->data + DB_HEADER
                                                + (gsize) db->n * sizeof(struct db_record));
    if (check_body(path, db, err) != SMG_OK) {
        smg_bayes_close(db);
        return SMG_CONFIG;
    }
    *out = db;
    return SMG_OK;

read_error:
    smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "Bayes database %s: read: %s", path,
                  g_strerror(errno));
    close(fd);
    smg_bayes_close(db);
    return SMG_TEMPFAIL;
}

enum smg_status
smg_bayes_open(const char *path, struct smg_bayes **out, GError **err)
{
    return db_load(path, FALSE, out, err);
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
    struct smg_bayes *db; /* the file as read under the lock, with its
                             digests; a move flips a digest's class here */
    GArray *add;          /* of struct db_delta: changes, unsorted */
    gint64 nspam, nham;   /* changes of the message counts */
    GHashTable *fresh;    /* struct db_seen * -> itself (owned): messages
                             added here that the file does not have */
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

/* seen_hash - GHashTable hash of a digest (its class bit aside) */
static guint
seen_hash(gconstpointer p)
{
    const struct db_seen *d = p;

    return (guint) (d->hi ^ (d->hi >> 32));
}

/* seen_equal - GHashTable equality of digests (their class bits aside) */
static gboolean
seen_equal(gconstpointer a, gconstpointer b)
{
    return seen_cmp(a, b) == 0;
}

enum smg_status
smg_bayes_learner_open(const char *path, struct smg_bayes_learner **out,
                       GError **err)
{
    struct smg_bayes_learner *l = g_new0(struct smg_bayes_learner, 1);
    enum smg_status st;

    *out = NULL;
    l->path = g_strdup(path);
    l->lock_path = g_strconcat(path, ".lock", NULL);
    l->add = g_array_new(FALSE, FALSE, sizeof(struct db_delta));
    l->fresh = g_hash_table_new_full(seen_hash, seen_equal, g_free, NULL);
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
    st = db_load(path, TRUE, &l->db, err);
    if (st != SMG_OK) {
        smg_bayes_learner_free(l);
        return st;
    }
    *out = l;
    return SMG_OK;
}

/* cmp_delta - order of changes by hash */
static int
cmp_delta(const void *a, const void *b)
{
    const struct db_delta *x = a, *y = b;

    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* sat32 - a + b within gint32 */
static gint32
sat32(gint32 a, gint32 b)
{
    gint64 s = (gint64) a + b;

    return (gint32) CLAMP(s, (gint64) G_MININT32, (gint64) G_MAXINT32);
}

/* count - an old count changed by d, within 0 .. G_MAXUINT32 */
static guint32
count(guint32 old, gint32 d)
{
    gint64 s = (gint64) old + d;

    return (guint32) CLAMP(s, 0, (gint64) G_MAXUINT32);
}

/* compact - sort the changes and merge equal hashes */
static void
compact(GArray *add)
{
    struct db_delta *r = (struct db_delta *) (void *) add->data;
    guint j = 0;

    if (add->len == 0)
        return; /* (data is NULL then, which qsort must not get) */
    qsort(r, add->len, sizeof *r, cmp_delta);
    for (guint i = 0; i < add->len; i++) {
        if (j > 0 && r[j - 1].hash == r[i].hash) {
            r[j - 1].spam = sat32(r[j - 1].spam, r[i].spam);
            r[j - 1].ham = sat32(r[j - 1].ham, r[i].ham);
        } else {
            r[j++] = r[i];
        }
    }
    g_array_set_size(add, j);
}

/*
 * digest - what identifies a learned message: SHA-256 over its ident (the
 * Message-ID and Date fields and a hash of the raw body) and its sorted
 * token hashes, 128 bits of it.  The same file learned again gives the same
 * digest; another body, Message-ID or Date gives another.  The tokens are
 * in it so that a digest found means exactly these tokens were added (a
 * move takes off what was put on); the cost: a message whose tokens
 * change (another max_text, another tokenizer) is a new message.
 */
static void
digest(const struct smg_bayes_tokens *tok, struct db_seen *d)
{
    GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
    guint8 buf[32];
    gsize len = sizeof buf;
    const char *id = tok->ident != NULL ? tok->ident : "";

    g_checksum_update(c, (const guchar *) id, (gssize) strlen(id) + 1);
    if (tok->hashes->len > 0)
        g_checksum_update(c, (const guchar *) tok->hashes->data,
                          (gssize) (tok->hashes->len * sizeof(guint64)));
    g_checksum_get_digest(c, buf, &len);
    g_checksum_free(c);
    memcpy(&d->hi, buf, 8);
    memcpy(&d->lo, buf + 8, 8);
}

/* find_seen - the digest d as the file or this learner has it, or NULL */
static struct db_seen *
find_seen(struct smg_bayes_learner *l, const struct db_seen *d)
{
    struct db_seen *s = NULL;

    if (l->db->nseen > 0)
        s = bsearch(d, l->db->seen, (size_t) l->db->nseen, sizeof *d, seen_cmp);
    return s != NULL ? s : g_hash_table_lookup(l->fresh, d);
}

/* add_tokens - change tok's counts of one class by by */
static void
add_tokens(struct smg_bayes_learner *l, const struct smg_bayes_tokens *tok, gboolean spam,
           gint32 by)
{
    for (guint i = 0; i < tok->hashes->len; i++) {
        struct db_delta r = {g_array_index(tok->hashes, guint64, i), spam ? by : 0,
                             spam ? 0 : by};
        g_array_append_val(l->add, r);
    }
    if (spam)
        l->nspam += by;
    else
        l->nham += by;
}

enum smg_bayes_learned
smg_bayes_learner_add(struct smg_bayes_learner *l, struct smg_bayes_tokens *tok,
                      gboolean spam)
{
    struct db_seen d, *old;
    enum smg_bayes_learned what = SMG_BAYES_LEARNED_NEW;

    smg_bayes_tokens_finish(tok);
    digest(tok, &d);
    d.lo = spam ? (d.lo | 1) : (d.lo & ~(guint64) 1);
    old = find_seen(l, &d);
    if (old != NULL && ((old->lo & 1) != 0) == spam)
        return SMG_BAYES_LEARNED_ALREADY;
    if (old != NULL) {
        /* learned as the other class (the operator corrects a mistake):
         * take it off that one, as SpamAssassin's sa-learn does */
        add_tokens(l, tok, !spam, -1);
        old->lo = d.lo;
        what = SMG_BAYES_LEARNED_MOVED;
    } else {
        g_hash_table_add(l->fresh, g_memdup2(&d, sizeof d));
    }
    add_tokens(l, tok, spam, 1);
    if (l->add->len > 8u * 1024 * 1024)
        compact(l->add);
    return what;
}

/* class_count - a message count changed by d, not below 0 */
static guint64
class_count(guint64 old, gint64 d)
{
    return d < 0 && (guint64) -d > old ? 0 : old + (guint64) d;
}

/*
 * merge - the new file in one buffer: the file's records changed by the
 * learner's (a token counted nowhere any more is dropped), the file's
 * digests and the learner's new ones; *len its size
 */
static void *
merge(struct smg_bayes_learner *l, gsize *len)
{
    const struct smg_bayes *db = l->db;
    const struct db_delta *add;
    guint64 nadd, i = 0, j = 0, n = 0, s = 0, nfresh;
    struct db_record *rec;
    struct db_seen *seen, *fresh;
    struct db_header *h;
    char *data;
    GHashTableIter it;
    gpointer key;

    compact(l->add);
    add = (const struct db_delta *) (const void *) l->add->data;
    nadd = l->add->len;
    nfresh = g_hash_table_size(l->fresh);
    data = g_try_malloc(DB_HEADER + (gsize) (db->n + nadd + db->nseen + nfresh) * 16);
    if (data == NULL)
        return NULL;
    rec = (struct db_record *) (void *) (data + DB_HEADER);
    while (i < db->n || j < nadd) {
        struct db_record r;
        if (j >= nadd || (i < db->n && db->rec[i].hash < add[j].hash)) {
            r = db->rec[i++];
        } else {
            r.hash = add[j].hash;
            r.spam = r.ham = 0;
            if (i < db->n && db->rec[i].hash == add[j].hash)
                r = db->rec[i++];
            r.spam = count(r.spam, add[j].spam);
            r.ham = count(r.ham, add[j].ham);
            j++;
            if (r.spam == 0 && r.ham == 0)
                continue;
        }
        rec[n++] = r;
    }
    /* the learner's new digests, sorted, merged with the file's (none
     * is in both: find_seen looked in the file first) */
    fresh = g_new(struct db_seen, nfresh + 1);
    g_hash_table_iter_init(&it, l->fresh);
    for (guint64 k = 0; g_hash_table_iter_next(&it, &key, NULL); k++)
        fresh[k] = *(const struct db_seen *) key;
    if (nfresh > 0)
        qsort(fresh, (size_t) nfresh, sizeof *fresh, seen_cmp);
    seen = (struct db_seen *) (void *) (data + DB_HEADER + (gsize) n * sizeof *rec);
    i = j = 0;
    while (i < db->nseen || j < nfresh) {
        if (j >= nfresh || (i < db->nseen && seen_cmp(&db->seen[i], &fresh[j]) < 0))
            seen[s++] = db->seen[i++];
        else
            seen[s++] = fresh[j++];
    }
    g_free(fresh);
    h = (struct db_header *) (void *) data;
    memset(h, 0, sizeof *h);
    memcpy(h->magic, DB_MAGIC, 8);
    h->version = DB_VERSION;
    h->bom = DB_BOM;
    h->nspam = class_count(db->nspam, l->nspam);
    h->nham = class_count(db->nham, l->nham);
    h->ntokens = n;
    h->checksum = records_checksum(rec, n, sizeof *rec);
    h->nseen = s;
    h->seen_checksum = records_checksum(seen, s, sizeof *seen);
    *len = DB_HEADER + (gsize) (n + s) * 16;
    return data;
}

enum smg_status
smg_bayes_learner_commit(struct smg_bayes_learner *l, GError **err)
{
    struct smg_bayes *db = l->db;
    struct stat st;
    char *tmp, *data;
    gsize len = 0;

    if (smg_bayes_changed(db)) {
        /* not by a learner: they hold the lock.  What was decided
         * against the old digests (new, already learned, moved) would
         * be wrong against the file there now. */
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0",
                      "Bayes database %s was replaced or removed while this learner "
                      "held the lock; nothing written, learn again", l->path);
        return SMG_TEMPFAIL;
    }
    if (l->add->len == 0 && g_hash_table_size(l->fresh) == 0 && l->nspam == 0
        && l->nham == 0 && db->exists
        && ((const struct db_header *) db->data)->version == DB_VERSION)
        return SMG_OK; /* all learned before: readers need not reload */
    data = merge(l, &len);
    if (data == NULL) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "Bayes database %s: out of memory",
                      l->path);
        return SMG_TEMPFAIL;
    }
    tmp = g_strdup_printf("%s.tmp.%ld", l->path, (long) getpid());
    /* counts and digests are in this one file: one rename changes both */
    if (smg_file_replace(l->path, tmp, data, len, 0644, &st, err) != SMG_OK) {
        g_prefix_error(err, "Bayes database: ");
        g_free(tmp);
        g_free(data);
        return SMG_TEMPFAIL;
    }
    g_free(tmp);
    /* what was written is the learner's file now */
    {
        const struct db_header *h = (const struct db_header *) (const void *) data;

        g_free(db->data);
        db->data = data;
        db->len = len;
        db->n = h->ntokens;
        db->nseen = h->nseen;
        db->nspam = h->nspam;
        db->nham = h->nham;
        db->rec = (const struct db_record *) (const void *) (data + DB_HEADER);
        db->seen = (struct db_seen *) (void *) (data + DB_HEADER
                                                + (gsize) db->n * sizeof(struct db_record));
        db->exists = TRUE;
        db->dev = st.st_dev;
        db->ino = st.st_ino;
        db->size = st.st_size;
        db->mtime = st.st_mtim;
    }
    g_array_set_size(l->add, 0);
    g_hash_table_remove_all(l->fresh);
    l->nspam = l->nham = 0;
    return SMG_OK;
}

void
smg_bayes_learner_free(struct smg_bayes_learner *l)
{
    if (l == NULL)
        return;
    if (l->lock_fd >= 0)
        close(l->lock_fd); /* releases the flock */
    smg_bayes_close(l->db);
    g_array_unref(l->add);
    g_hash_table_destroy(l->fresh);
    g_free(l->path);
    g_free(l->lock_path);
    g_free(l);
}

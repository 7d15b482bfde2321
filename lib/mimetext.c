/*
 * mimetext.c - decode a message for the spam scorers (see mimetext.h).
 *
 * GMime does the MIME work: parsing, transfer decoding and charset
 * conversion (g_mime_text_part_get_text).  What GMime does not do is here:
 * the walk over the parts with its limits, the HTML tag stripper, URI
 * extraction and the small checks (Date, Message-ID, 8-bit header bytes)
 * the rules read.  The HTML stripper is deliberately simple: a state
 * machine over tags, comments and entities, not a DOM; spam that defeats
 * it still leaves its URIs and words for the scorers.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>

#include <gmime/gmime.h>

#include "lib/mimetext.h"

#define MAX_DEPTH 8
#define MAX_PARTS 256
#define MAX_URIS 512
/* GMime is given the message up to its MAX_DELIMITERS-th line beginning
 * with "--": every MIME part needs such a line, and GMime makes objects
 * for every part it reads (more than a kilobyte each: a 50 MB message of
 * empty parts took 10 GB), while the walk looks at MAX_PARTS only */
#define MAX_DELIMITERS 4096
/* GMime is given at most MAX_FIELD_COLONS ':' in one header field (see
 * tame_fields) */
#define MAX_FIELD_COLONS 1000

struct walk {
    struct smg_mimetext *mt;
    gsize max_text;
    GHashTable *seen_uris;
};

/* mime_init - g_mime_init once per process */
static void
mime_init(void)
{
    static gsize done = 0;

    if (g_once_init_enter(&done)) {
        g_mime_init();
        g_once_init_leave(&done, 1);
    }
}

/* add_uri - add uri (taken) to mt->uris unless seen or too many */
static void
add_uri(struct walk *w, char *uri)
{
    if (w->mt->uris->len >= MAX_URIS || g_hash_table_contains(w->seen_uris, uri)) {
        g_free(uri);
        return;
    }
    g_hash_table_add(w->seen_uris, uri);
    g_ptr_array_add(w->mt->uris, g_strdup(uri));
}

/* append_capped - append s[0..len) to mt->text within max_text */
static void
append_capped(struct walk *w, const char *s, gsize len)
{
    GString *t = w->mt->text;
    gsize room = t->len < w->max_text ? w->max_text - t->len : 0;

    if (len > room) {
        const char *cut = s + room;
        /* never split a UTF-8 sequence */
        while (cut > s && ((unsigned char) *cut & 0xC0) == 0x80)
            cut--;
        len = (gsize) (cut - s);
        w->mt->truncated = TRUE;
    }
    g_string_append_len(t, s, (gssize) len);
    if (t->len > 0 && t->str[t->len - 1] != '\n')
        g_string_append_c(t, '\n');
}

/* to_utf8 - make text (g_free'd) valid UTF-8; returns a new string */
static char *
to_utf8(char *text)
{
    char *out;

    if (g_utf8_validate(text, -1, NULL))
        return text;
    out = g_mime_utils_decode_8bit(NULL, text, strlen(text));
    g_free(text);
    if (out != NULL && !g_utf8_validate(out, -1, NULL)) {
        char *v = g_utf8_make_valid(out, -1);
        g_free(out);
        out = v;
    }
    return out != NULL ? out : g_strdup("");
}

/*
 * invisible - whether c is a character a reader does not see and that
 * only splits a word for the scorers: soft hyphen, combining grapheme
 * joiner, Mongolian free variation selectors and vowel separator,
 * zero-width space, (non-)joiners, direction marks, embeddings and
 * isolates, word joiner, the invisible operators and deprecated format
 * characters, variation selectors, byte order mark, shorthand format
 * controls and tag characters (Unicode's default-ignorable characters
 * but the Hangul fillers, which show as blanks): "fr<U+200E>ee" shows
 * as "free"
 */
static gboolean
invisible(gunichar c)
{
    return c == 0xAD || c == 0x34F || (c >= 0x180B && c <= 0x180F)
           || (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E)
           || (c >= 0x2060 && c <= 0x206F) || (c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF
           || (c >= 0x1BCA0 && c <= 0x1BCA3) || (c >= 0xE0000 && c <= 0xE0FFF);
}

/*
 * drop_invisible - remove the invisible characters from the valid UTF-8
 * string s, in place: "vi<U+200B>agra" shows as "viagra", and as such it
 * is scored.  Returns s.
 */
static char *
drop_invisible(char *s)
{
    char *out = s;

    for (const char *p = s; *p != '\0';) {
        const char *next;

        if ((unsigned char) *p < 0x80) {
            *out++ = *p++;
            continue;
        }
        next = g_utf8_next_char(p);
        if (!invisible(g_utf8_get_char(p)))
            while (p < next)
                *out++ = *p++;
        p = next;
    }
    *out = '\0';
    return s;
}

/*
 * part_text - the decoded content of a text part, converted from its
 * charset to UTF-8 as g_mime_text_part_get_text does, but without its NUL
 * bytes: that function's C string ended at the first one, so a text part
 * that began with "=00" (or a NUL in base64) showed the scorers no word
 * and no URI of it, while a browser drops the NUL (HTML5) and shows the
 * rest.  NULL when the part has no content.
 */
static char *
part_text(GMimeObject *obj)
{
    GMimeDataWrapper *content = g_mime_part_get_content(GMIME_PART(obj));
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    const char *charset = ct != NULL ? g_mime_content_type_get_parameter(ct, "charset") : NULL;
    GMimeFilter *conv = charset != NULL ? g_mime_filter_charset_new(charset, "utf-8") : NULL;
    GMimeStream *mem, *out;
    GByteArray *buf;
    char *text;
    gsize n = 0;

    if (content == NULL) {
        if (conv != NULL)
            g_object_unref(conv);
        return NULL;
    }
    mem = g_mime_stream_mem_new();
    out = mem;
    if (conv != NULL) {
        out = g_mime_stream_filter_new(mem);
        g_mime_stream_filter_add(GMIME_STREAM_FILTER(out), conv);
        g_object_unref(conv);
    }
    (void) g_mime_data_wrapper_write_to_stream(content, out);
    (void) g_mime_stream_flush(out);
    if (out != mem)
        g_object_unref(out);
    /* the text is the stream's buffer, its NULs squeezed out in place */
    buf = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
    g_object_unref(mem);
    for (guint i = 0; i < buf->len; i++)
        if (buf->data[i] != '\0')
            buf->data[n++] = buf->data[i];
    g_byte_array_set_size(buf, (guint) n + 1);
    buf->data[n] = '\0';
    text = (char *) g_byte_array_free(buf, FALSE);
    return text;
}

/* leaf - look at one leaf part */
static void
leaf(struct walk *w, GMimeObject *obj)
{
    struct smg_mimetext *mt = w->mt;
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    const char *type = ct != NULL ? g_mime_content_type_get_media_type(ct) : NULL;
    const char *sub = ct != NULL ? g_mime_content_type_get_media_subtype(ct) : NULL;
    const char *fn = GMIME_IS_PART(obj) ? g_mime_part_get_filename(GMIME_PART(obj)) : NULL;
    char *t;
    gboolean html;

    mt->n_parts++;
    if (ct != NULL) {
        char *mime = g_mime_content_type_get_mime_type(ct);
        g_ptr_array_add(mt->types, g_ascii_strdown(mime, -1));
        g_free(mime);
    } else {
        g_ptr_array_add(mt->types, g_strdup("text/plain"));
    }
    if (fn != NULL && *fn != '\0')
        g_ptr_array_add(mt->filenames, to_utf8(g_strdup(fn)));
    if (type == NULL || g_ascii_strcasecmp(type, "text") != 0 || !GMIME_IS_TEXT_PART(obj))
        return;
    html = sub != NULL && g_ascii_strcasecmp(sub, "html") == 0;
    if (!html && sub != NULL && g_ascii_strcasecmp(sub, "plain") != 0)
        return;
    if (html)
        mt->n_html++;
    else
        mt->n_plain++;
    /* a part past the text cap is still read for its URIs and links
     * (append_capped keeps none of its text): a first part of innocuous
     * words the size of the cap hid every link after it from the lists */
    t = part_text(obj);
    if (t == NULL)
        return;
    t = to_utf8(t);
    if (html) {
        GString *s = g_string_sized_new(strlen(t));
        gsize n = strlen(t);

        /* the source as written for the html rules, the text as seen */
        if (mt->html->len < w->max_text)
            g_string_append_len(mt->html, t, (gssize) MIN(n, w->max_text - mt->html->len));
        drop_invisible(t);
        GPtrArray *u = g_ptr_array_new();

        mt->link_mismatch += smg_mimetext_html(t, strlen(t), s, u);
        smg_mimetext_find_uris(s->str, s->len, u);
        for (guint i = 0; i < u->len; i++)
            add_uri(w, u->pdata[i]);
        g_ptr_array_free(u, TRUE);
        append_capped(w, s->str, s->len);
        g_string_free(s, TRUE);
    } else {
        GPtrArray *u = g_ptr_array_new();
        gsize n = strlen(drop_invisible(t));

        smg_mimetext_find_uris(t, n, u);
        for (guint i = 0; i < u->len; i++)
            add_uri(w, u->pdata[i]);
        g_ptr_array_free(u, TRUE);
        append_capped(w, t, n);
    }
    g_free(t);
}

/* walk - visit obj and its children */
static void
walk(struct walk *w, GMimeObject *obj, int depth)
{
    if (obj == NULL)
        return;
    if (depth > MAX_DEPTH || w->mt->n_parts >= MAX_PARTS) {
        w->mt->parts_cut = TRUE;
        return;
    }
    if (GMIME_IS_MULTIPART(obj)) {
        int n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
        GMimeContentType *ct = g_mime_object_get_content_type(obj);
        const char *sub = ct != NULL ? g_mime_content_type_get_media_subtype(ct) : NULL;
        /* alternatives come in increasing order of preference (RFC 2046
         * 5.1.4) and a reader sees the last: it is read first, so that
         * a long plain alternative cannot spend the text cap before the
         * HTML one the reader is shown */
        gboolean last_first = sub != NULL && g_ascii_strcasecmp(sub, "alternative") == 0;

        for (int i = 0; i < n; i++)
            walk(w, g_mime_multipart_get_part(GMIME_MULTIPART(obj), last_first ? n - 1 - i : i),
                 depth + 1);
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        w->mt->n_parts++;
        g_ptr_array_add(w->mt->types, g_strdup("message/rfc822"));
        if (m != NULL) {
            const char *subj = g_mime_message_get_subject(m);
            if (subj != NULL) {
                char *s = to_utf8(g_strdup(subj));
                append_capped(w, s, strlen(s));
                g_free(s);
            }
            walk(w, g_mime_message_get_mime_part(m), depth + 1);
        }
    } else {
        leaf(w, obj);
    }
}

/* header_end - length of the raw header section of msg */
static gsize
header_end(const char *msg, gsize len)
{
    for (gsize i = 0; i < len; i++) {
        if (msg[i] != '\n')
            continue;
        if (i + 1 < len && msg[i + 1] == '\n')
            return i + 1;
        if (i + 2 < len && msg[i + 1] == '\r' && msg[i + 2] == '\n')
            return i + 1;
    }
    return len;
}

/*
 * parse_len - how much of msg GMime reads: all of it, or up to the start
 * of its line number MAX_DELIMITERS + 1 that begins with "--"
 */
static gsize
parse_len(const char *msg, gsize len)
{
    const char *p = msg, *end = msg + len;
    unsigned n = 0;

    while (p < end) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-' && ++n > MAX_DELIMITERS)
            return (gsize) (p - msg);
        p = memchr(p, '\n', (gsize) (end - p));
        if (p == NULL)
            break;
        p++;
    }
    return len;
}

/*
 * field_start - whether line[0..len) begins a header field ("Name:" or
 * "Name :"); *colon is the offset of its colon.  The name may hold any
 * printable or 8-bit byte, more than RFC 5322 allows, so that no field
 * GMime would read is missed.
 */
static gboolean
field_start(const char *line, gsize len, gsize *colon)
{
    gsize i = 0;

    while (i < len && (unsigned char) line[i] > ' ' && line[i] != ':' && line[i] != 0x7f)
        i++;
    if (i == 0)
        return FALSE;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i >= len || line[i] != ':')
        return FALSE;
    *colon = i;
    return TRUE;
}

/*
 * tame_fields - msg[0..len) with every ':' of a header field past its
 * MAX_FIELD_COLONS-th made a space (a new buffer), or NULL when no field
 * has that many.  GMime parses the address fields (From, To, Cc, ...) of
 * the message and of every message/rfc822 part in it as it reads them, and
 * it enters each group ("g:") nested in a group by recursion: a To: field
 * of 50000 "g:" (a 100 KB header that smg-recv accepts) overflowed the
 * stack, and smg-check crashed on the message every time it was tried.
 * Every ':' of the field counts, quoted or not, and every line that looks
 * like a field, in a header or not (the headers of the parts inside are
 * in the body), so that GMime's reading of quotes, comments and broken
 * syntax need not be guessed: at most that many groups can nest.  A real
 * field has a few colons; one with a thousand is garbage, and a scorer
 * loses nothing when its colons read as spaces.
 */
static char *
tame_fields(const char *msg, gsize len)
{
    const char *p = msg, *end = msg + len;
    gboolean in_field = FALSE;
    unsigned colons = 0;
    char *copy = NULL;

    while (p < end) {
        const char *nl = memchr(p, '\n', (gsize) (end - p));
        const char *eol = nl != NULL ? nl : end;
        const char *v = NULL;
        gsize colon;

        if (p < eol && (*p == ' ' || *p == '\t')) {
            if (in_field)
                v = p;
        } else if (field_start(p, (gsize) (eol - p), &colon)) {
            in_field = TRUE;
            colons = 0;
            v = p + colon + 1;
        } else {
            in_field = FALSE;
        }
        for (; v != NULL && (v = memchr(v, ':', (gsize) (eol - v))) != NULL; v++) {
            if (++colons <= MAX_FIELD_COLONS)
                continue;
            if (copy == NULL)
                copy = g_memdup2(msg, len);
            copy[v - msg] = ' ';
        }
        p = nl != NULL ? nl + 1 : end;
    }
    return copy;
}

/* msgid_ok - whether v looks like "<left@right>" */
static gboolean
msgid_ok(const char *v)
{
    const char *at;
    gsize n;

    while (g_ascii_isspace(*v))
        v++;
    n = strlen(v);
    while (n > 0 && g_ascii_isspace(v[n - 1]))
        n--;
    if (n < 5 || v[0] != '<' || v[n - 1] != '>')
        return FALSE;
    at = memchr(v, '@', n);
    if (at == NULL || at == v + 1 || at >= v + n - 2)
        return FALSE;
    for (gsize i = 1; i < n - 1; i++)
        if (v[i] == '<' || v[i] == '>' || g_ascii_isspace(v[i]) || (v + i != at && v[i] == '@'))
            return FALSE;
    return TRUE;
}

/* clear_header - GArray element free function */
static void
clear_header(gpointer p)
{
    struct smg_mimetext_header *h = p;

    g_free(h->name);
    g_free(h->value);
}

/* read_headers - the top-level fields and what is derived from them */
static void
read_headers(struct smg_mimetext *mt, GMimeMessage *m)
{
    GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(m));
    int n = hl != NULL ? g_mime_header_list_get_count(hl) : 0;
    InternetAddressList *l;
    const char *v;

    for (int i = 0; i < n; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
        const char *name = g_mime_header_get_name(h);
        const char *value = g_mime_header_get_value(h);
        struct smg_mimetext_header mh;

        if (name == NULL)
            continue;
        mh.name = g_strdup(name);
        /* as the Subject and the text are: "fr<U+00AD>ee" shows as
         * "free", and the header rules and Bayes read it so */
        mh.value = drop_invisible(to_utf8(g_strdup(value != NULL ? value : "")));
        g_array_append_val(mt->headers, mh);
    }
    v = g_mime_message_get_subject(m);
    g_free(mt->subject);
    mt->subject = drop_invisible(to_utf8(g_strdup(v != NULL ? v : "")));
    l = g_mime_message_get_from(m);
    if (l != NULL && internet_address_list_length(l) > 0) {
        InternetAddress *ia = internet_address_list_get_address(l, 0);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
            const char *name = internet_address_get_name(ia);
            if (addr != NULL && *addr != '\0') {
                char *at;
                mt->from_addr = to_utf8(g_strdup(addr));
                at = strrchr(mt->from_addr, '@');
                if (at != NULL)
                    for (char *p = at; *p != '\0'; p++)
                        *p = g_ascii_tolower(*p);
            }
            if (name != NULL && *name != '\0')
                mt->from_name = to_utf8(g_strdup(name));
        }
    }
    l = g_mime_message_get_to(m);
    mt->n_rcpt_headers = l != NULL ? (unsigned) internet_address_list_length(l) : 0;
    l = g_mime_message_get_cc(m);
    mt->n_rcpt_headers += l != NULL ? (unsigned) internet_address_list_length(l) : 0;
    if (smg_mimetext_header(mt, "Date") != NULL) {
        GDateTime *d = g_mime_message_get_date(m);
        mt->date_present = TRUE;
        if (d != NULL) {
            mt->date_valid = TRUE;
            mt->date = g_date_time_to_unix(d);
        }
    }
    v = smg_mimetext_header(mt, "Message-ID");
    if (v != NULL) {
        mt->msgid_present = TRUE;
        mt->msgid_valid = msgid_ok(v);
    }
}

struct smg_mimetext *
smg_mimetext_parse(const char *msg, gsize len, gsize max_text)
{
    struct smg_mimetext *mt = g_new0(struct smg_mimetext, 1);
    struct walk w = {mt, max_text > 0 ? max_text : SMG_MIMETEXT_MAX_TEXT, NULL};
    GMimeStream *stream;
    GMimeParser *parser;
    GMimeMessage *m;
    char *tamed;
    gsize n;

    mime_init();
    mt->headers = g_array_new(FALSE, FALSE, sizeof(struct smg_mimetext_header));
    g_array_set_clear_func(mt->headers, clear_header);
    mt->subject = g_strdup("");
    mt->text = g_string_sized_new(len < 65536 ? len + 64 : 65536);
    mt->html = g_string_new(NULL);
    mt->uris = g_ptr_array_new_with_free_func(g_free);
    mt->types = g_ptr_array_new_with_free_func(g_free);
    mt->filenames = g_ptr_array_new_with_free_func(g_free);
    mt->raw = msg;
    mt->raw_len = len;
    mt->header_len = header_end(msg, len);
    for (gsize i = 0; i < mt->header_len; i++)
        if ((unsigned char) msg[i] >= 0x80) {
            mt->header_8bit = TRUE;
            break;
        }
    w.seen_uris = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    n = parse_len(msg, len);
    if (n < len)
        mt->parts_cut = TRUE;
    tamed = tame_fields(msg, n);
    stream = g_mime_stream_mem_new_with_buffer(tamed != NULL ? tamed : msg, n);
    g_free(tamed); /* the stream has its own copy */
    parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    m = g_mime_parser_construct_message(parser, NULL);
    if (m != NULL) {
        read_headers(mt, m);
        walk(&w, g_mime_message_get_mime_part(m), 0);
        g_object_unref(m);
    }
    g_object_unref(parser);
    g_object_unref(stream);
    g_hash_table_destroy(w.seen_uris);
    return mt;
}

void
smg_mimetext_free(struct smg_mimetext *mt)
{
    if (mt == NULL)
        return;
    g_array_free(mt->headers, TRUE);
    g_free(mt->subject);
    g_free(mt->from_addr);
    g_free(mt->from_name);
    g_string_free(mt->text, TRUE);
    g_string_free(mt->html, TRUE);
    g_ptr_array_free(mt->uris, TRUE);
    g_ptr_array_free(mt->types, TRUE);
    g_ptr_array_free(mt->filenames, TRUE);
    g_free(mt);
}

const char *
smg_mimetext_header(const struct smg_mimetext *mt, const char *name)
{
    for (guint i = 0; i < mt->headers->len; i++) {
        const struct smg_mimetext_header *h =
            &g_array_index(mt->headers, struct smg_mimetext_header, i);
        if (g_ascii_strcasecmp(h->name, name) == 0)
            return h->value;
    }
    return NULL;
}

/* ---- HTML ---- */

static const struct {
    const char *name;
    gunichar c;
} entities[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
    {"nbsp", ' '}, {"copy", 0xA9}, {"reg", 0xAE}, {"trade", 0x2122},
    {"euro", 0x20AC}, {"pound", 0xA3}, {"yen", 0xA5}, {"cent", 0xA2},
    {"hellip", 0x2026}, {"mdash", 0x2014}, {"ndash", 0x2013},
    {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"bull", 0x2022}, {"middot", 0xB7}, {"shy", 0xAD},
    {"zwnj", 0x200C}, {"zwj", 0x200D}, {"laquo", 0xAB}, {"raquo", 0xBB},
    /* HTML5's long names of invisible characters: a browser shows
     * "fr&ZeroWidthSpace;ee" as "free" */
    {"ZeroWidthSpace", 0x200B}, {"NegativeVeryThinSpace", 0x200B},
    {"NegativeThinSpace", 0x200B}, {"NegativeMediumSpace", 0x200B},
    {"NegativeThickSpace", 0x200B}, {"NoBreak", 0x2060}, {"ApplyFunction", 0x2061},
    {"InvisibleTimes", 0x2062}, {"InvisibleComma", 0x2063},
};

/*
 * entity - decode the entity at p (p[0] == '&') into out; returns the
 * bytes consumed, or 0 when it is not an entity we know
 */
static gsize
entity(const char *p, const char *end, GString *out)
{
    const char *q = p + 1;
    gunichar c = 0;
    char name[24];
    gsize n = 0;

    if (q < end && *q == '#') {
        gboolean hex = FALSE;
        guint64 v = 0;
        int digits = 0;

        q++;
        if (q < end && (*q == 'x' || *q == 'X')) {
            hex = TRUE;
            q++;
        }
        /* as many digits as are written (HTML5): "&#x0000000067;" is a
         * "g" to a browser, and stopping at the eighth digit broke the
         * word for the scorers; the value stops growing past U+10FFFF */
        for (; q < end; q++, digits++) {
            int d = hex ? g_ascii_xdigit_value(*q) : g_ascii_digit_value(*q);
            if (d < 0)
                break;
            v = MIN(v * (hex ? 16 : 10) + (guint64) d, 0x110000);
        }
        if (digits == 0)
            return 0;
        if (q < end && *q == ';')
            q++;
        c = (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) ? 0xFFFD : (gunichar) v;
    } else {
        while (q < end && n < sizeof name - 1 && g_ascii_isalnum(*q))
            name[n++] = *q++;
        name[n] = '\0';
        if (n == 0)
            return 0;
        for (unsigned i = 0; i < G_N_ELEMENTS(entities); i++)
            if (strcmp(entities[i].name, name) == 0) {
                c = entities[i].c;
                break;
            }
        if (c == 0)
            return 0;
        if (q < end && *q == ';')
            q++;
    }
    if (invisible(c))
        ; /* invisible characters hide words from filters: drop them */
    else
        g_string_append_unichar(out, c);
    return (gsize) (q - p);
}

/* decode_entities - s[0..len) with entities decoded (new string) */
static char *
decode_entities(const char *s, gsize len)
{
    GString *out = g_string_sized_new(len);
    const char *p = s, *end = s + len;

    while (p < end) {
        gsize n;
        if (*p == '&' && (n = entity(p, end, out)) > 0) {
            p += n;
            continue;
        }
        g_string_append_c(out, *p++);
    }
    return g_string_free(out, FALSE);
}

/* find_ci - first case-insensitive occurrence of needle in [p, end) */
static const char *
find_ci(const char *p, const char *end, const char *needle)
{
    gsize n = strlen(needle);

    for (; p + n <= end; p++)
        if (g_ascii_tolower(*p) == needle[0] && g_ascii_strncasecmp(p, needle, n) == 0)
            return p;
    return NULL;
}

/*
 * browser_url - the URL in the value v of a link attribute as a browser
 * reads it (WHATWG URL parsing; new string): C0 controls and spaces cut at
 * both ends, ASCII tab, LF and CR removed anywhere, and for http, https
 * and ftp any run of '/' and '\' (or none) after the scheme read as "//".
 * Without this <a href="http://ev&#9;il.test/">, "http:\\evil.test/" or
 * "http:///evil.test/" led a reader to evil.test while the URI rules and
 * lists found no host in them.
 */
static char *
browser_url(const char *v)
{
    static const char *const special[] = {"http:", "https:", "ftp:"};
    gsize len = strlen(v);
    GString *u = g_string_sized_new(len + 2);

    while (len > 0 && (unsigned char) *v <= ' ') {
        v++;
        len--;
    }
    while (len > 0 && (unsigned char) v[len - 1] <= ' ')
        len--;
    for (gsize i = 0; i < len; i++)
        if (v[i] != '\t' && v[i] != '\n' && v[i] != '\r')
            g_string_append_c(u, v[i]);
    for (unsigned i = 0; i < G_N_ELEMENTS(special); i++) {
        gsize n = strlen(special[i]), e = n;

        if (u->len < n || g_ascii_strncasecmp(u->str, special[i], n) != 0)
            continue;
        while (e < u->len && (u->str[e] == '/' || u->str[e] == '\\'))
            e++;
        g_string_erase(u, (gssize) n, (gssize) (e - n));
        g_string_insert(u, (gssize) n, "//");
        break;
    }
    return g_string_free(u, FALSE);
}

/*
 * attr_value - the value of the link attribute name in the attribute
 * text [p, end) of a tag (entities decoded, read as browser_url does; new
 * string), or NULL.  The attributes are read one after the other as HTML5
 * reads them, and the first of that name counts: a name inside another's
 * quoted value (title=" href=x") is text, not the attribute, which would
 * otherwise hide the real href after it.
 */
static char *
attr_value(const char *p, const char *end, const char *name)
{
    gsize n = strlen(name);

    while (p < end) {
        const char *a, *v = NULL, *ve = NULL;

        while (p < end && (g_ascii_isspace(*p) || *p == '/'))
            p++;
        if (p >= end)
            break;
        a = p++; /* a first "=" belongs to the name */
        while (p < end && !g_ascii_isspace(*p) && *p != '/' && *p != '=' && *p != '>')
            p++;
        if ((gsize) (p - a) != n || g_ascii_strncasecmp(a, name, n) != 0)
            a = NULL;
        while (p < end && g_ascii_isspace(*p))
            p++;
        if (p < end && *p == '=') {
            p++;
            while (p < end && g_ascii_isspace(*p))
                p++;
            if (p < end && (*p == '"' || *p == '\'')) {
                char quote = *p++;
                v = p;
                while (p < end && *p != quote)
                    p++;
                ve = p;
                if (p < end)
                    p++;
            } else {
                v = p;
                while (p < end && !g_ascii_isspace(*p) && *p != '>')
                    p++;
                ve = p;
            }
        }
        if (a == NULL)
            continue;
        if (v == NULL)
            return NULL; /* no value: no link */
        {
            char *raw = decode_entities(v, (gsize) (ve - v));
            char *out = browser_url(raw);
            g_free(raw);
            if (*out == '\0') {
                g_free(out);
                return NULL;
            }
            return out;
        }
    }
    return NULL;
}

/*
 * comment_end - where the text goes on after an HTML comment whose body
 * begins at p (just after "<!--"): as HTML5 reads it, "-->" and "--!>"
 * close it, and "<!-->" and "<!--->" are whole empty comments, so that
 * they cannot hide the text after them from the scorers while a browser
 * shows it; end when it is not closed
 */
static const char *
comment_end(const char *p, const char *end)
{
    if (p < end && *p == '>')
        return p + 1;
    if (end - p >= 2 && p[0] == '-' && p[1] == '>')
        return p + 2;
    for (; end - p >= 3; p++) {
        if (p[0] != '-' || p[1] != '-')
            continue;
        if (p[2] == '>')
            return p + 3;
        if (end - p >= 4 && p[2] == '!' && p[3] == '>')
            return p + 4;
    }
    return end;
}

/* is_block - whether a tag name breaks the text flow */
static gboolean
is_block(const char *name)
{
    static const char *const block[] = {
        "br", "p", "div", "tr", "td", "th", "li", "ul", "ol", "table",
        "h1", "h2", "h3", "h4", "h5", "h6", "title", "hr", "blockquote",
        "pre", "center", "dd", "dt", "dl", "body", "head", "html", "form",
        "option", "section", "article", "header", "footer", "tbody",
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(block); i++)
        if (strcmp(block[i], name) == 0)
            return TRUE;
    return FALSE;
}

/* link_differs - whether link text names a host unlike href_host's */
static gboolean
link_differs(const char *href_host, const char *text, gsize len)
{
    GPtrArray *u = g_ptr_array_new_with_free_func(g_free);
    gboolean differs = FALSE;

    smg_mimetext_find_uris(text, len, u);
    if (u->len > 0 && href_host != NULL) {
        char *h = smg_mimetext_uri_host(u->pdata[0]);
        if (h != NULL) {
            char *d1 = smg_mimetext_domain(h);
            char *d2 = smg_mimetext_domain(href_host);
            differs = strcmp(d1, d2) != 0;
            g_free(d1);
            g_free(d2);
        }
        g_free(h);
    }
    g_ptr_array_free(u, TRUE);
    return differs;
}

unsigned
smg_mimetext_html(const char *html, gsize len, GString *text, GPtrArray *uris)
{
    const char *p = html, *end = html + len;
    unsigned mismatch = 0;
    char *a_host = NULL;
    gssize a_start = -1;

    while (p < end) {
        if (*p == '&') {
            gsize n = entity(p, end, text);
            if (n > 0) {
                p += n;
                continue;
            }
            g_string_append_c(text, *p++);
            continue;
        }
        if (*p != '<') {
            const char *q = p;
            while (q < end && *q != '<' && *q != '&')
                q++;
            g_string_append_len(text, p, (gssize) (q - p));
            p = q;
            continue;
        }
        if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
            p = comment_end(p + 4, end);
            continue;
        }
        {
            const char *q = p + 1, *t;
            gboolean closing = FALSE, after_eq = FALSE;
            char name[16];
            gsize n = 0;
            char quote = 0;

            if (q < end && *q == '/') {
                closing = TRUE;
                q++;
            }
            if (q < end && (*q == '!' || *q == '?')) {
                const char *gt = memchr(q, '>', (gsize) (end - q));
                p = gt != NULL ? gt + 1 : end;
                continue;
            }
            while (q < end && g_ascii_isalnum(*q)) {
                if (n < sizeof name - 1)
                    name[n++] = g_ascii_tolower(*q);
                q++;
            }
            name[n] = '\0';
            if (n == 0) {
                /* "a < b": not a tag */
                g_string_append_c(text, *p++);
                continue;
            }
            for (t = q; t < end; t++) {
                if (quote != 0) {
                    if (*t == quote)
                        quote = 0;
                } else if (*t == '>') {
                    break;
                } else if (*t == '=') {
                    after_eq = TRUE;
                } else if (!g_ascii_isspace(*t)) {
                    /* a quote opens a value only after its "=" (HTML5):
                     * elsewhere it is a character of a name, and <p "> is
                     * a whole tag, not one that hides the text after it */
                    if (after_eq && (*t == '"' || *t == '\''))
                        quote = *t;
                    after_eq = FALSE;
                }
            }
            if (!closing && (strcmp(name, "script") == 0 || strcmp(name, "style") == 0)) {
                char close[12];
                const char *c;
                g_snprintf(close, sizeof close, "</%s", name);
                c = t < end ? find_ci(t, end, close) : NULL;
                if (c == NULL) {
                    p = end;
                } else {
                    const char *gt = memchr(c, '>', (gsize) (end - c));
                    p = gt != NULL ? gt + 1 : end;
                }
                continue;
            }
            if (!closing) {
                const char *attr = NULL;
                if (strcmp(name, "a") == 0 || strcmp(name, "area") == 0
                    || strcmp(name, "link") == 0 || strcmp(name, "base") == 0)
                    attr = "href";
                else if (strcmp(name, "img") == 0 || strcmp(name, "frame") == 0
                         || strcmp(name, "iframe") == 0 || strcmp(name, "embed") == 0)
                    attr = "src";
                else if (strcmp(name, "form") == 0)
                    attr = "action";
                if (attr != NULL) {
                    char *v = attr_value(q, t, attr);
                    if (v != NULL && strcmp(name, "a") == 0) {
                        g_free(a_host);
                        a_host = smg_mimetext_uri_host(v);
                        a_start = (gssize) text->len;
                    }
                    if (v != NULL && uris != NULL && g_ascii_strncasecmp(v, "mailto:", 7) != 0
                        && v[0] != '#')
                        g_ptr_array_add(uris, v);
                    else
                        g_free(v);
                }
            } else if (strcmp(name, "a") == 0 && a_start >= 0) {
                if (link_differs(a_host, text->str + a_start, text->len - (gsize) a_start))
                    mismatch++;
                a_start = -1;
            }
            if (is_block(name) && text->len > 0 && text->str[text->len - 1] != '\n')
                g_string_append_c(text, '\n');
            p = t < end ? t + 1 : end;
        }
    }
    g_free(a_host);
    return mismatch;
}

/* ---- URIs ---- */

/* uri_char - whether c may be part of a URI written in text */
static gboolean
uri_char(unsigned char c)
{
    if (c <= ' ' || c == 0x7F)
        return FALSE;
    return strchr("<>\"'`{}|\\^[]", c) == NULL;
}

void
smg_mimetext_find_uris(const char *text, gsize len, GPtrArray *uris)
{
    static const char *const starts[] = {"http://", "https://", "ftp://", "www."};
    const char *end = text + len;

    for (const char *p = text; p < end; p++) {
        unsigned char c = (unsigned char) g_ascii_tolower(*p);
        const char *q;
        gsize i;

        if (c != 'h' && c != 'f' && c != 'w')
            continue;
        if (p > text && (g_ascii_isalnum(p[-1]) || p[-1] == '.' || p[-1] == '/'))
            continue;
        for (i = 0; i < G_N_ELEMENTS(starts); i++) {
            gsize n = strlen(starts[i]);
            if ((gsize) (end - p) > n && g_ascii_strncasecmp(p, starts[i], n) == 0)
                break;
        }
        if (i == G_N_ELEMENTS(starts))
            continue;
        q = p;
        while (q < end && uri_char((unsigned char) *q))
            q++;
        while (q > p && strchr(".,;:!?)", q[-1]) != NULL)
            q--;
        if ((gsize) (q - p) > strlen(starts[i]) + 2)
            g_ptr_array_add(uris, g_strndup(p, (gsize) (q - p)));
        p = q > p ? q - 1 : p;
    }
}

char *
smg_mimetext_uri_host(const char *uri)
{
    const char *p = strstr(uri, "://");
    const char *h, *e, *at;
    GString *out;

    if (p != NULL) {
        /* the scheme must be letters only */
        for (const char *s = uri; s < p; s++)
            if (!g_ascii_isalnum(*s) && *s != '+' && *s != '-' && *s != '.')
                return NULL;
        h = p + 3;
    } else if (g_ascii_strncasecmp(uri, "www.", 4) == 0) {
        h = uri;
    } else {
        return NULL;
    }
    e = h;
    while (*e != '\0' && *e != '/' && *e != '?' && *e != '#' && *e != '\\')
        e++;
    at = NULL;
    for (const char *s = h; s < e; s++)
        if (*s == '@')
            at = s;
    if (at != NULL)
        h = at + 1;
    if (h < e && *h == '[') {
        const char *rb = h;
        while (rb < e && *rb != ']')
            rb++;
        if (rb == e || rb == h + 1)
            return NULL; /* unclosed, or "[]" */
        for (const char *c = h + 1; c < rb; c++)
            if ((unsigned char) *c <= ' ' || *c == 0x7f)
                return NULL;
        return g_ascii_strdown(h + 1, rb - h - 1);
    }
    for (const char *s = h; s < e; s++)
        if (*s == ':') {
            e = s;
            break;
        }
    out = g_string_sized_new((gsize) (e - h));
    for (const char *s = h; s < e; s++) {
        int a, b;
        if (*s == '%' && e - s >= 3 && (a = g_ascii_xdigit_value(s[1])) >= 0
            && (b = g_ascii_xdigit_value(s[2])) >= 0) {
            char c = (char) (a * 16 + b);
            /* a control character (%00 would cut the string) names no
             * host, decoded or as written (below) */
            if ((unsigned char) c < 0x20 || c == 0x7f) {
                g_string_free(out, TRUE);
                return NULL;
            }
            g_string_append_c(out, g_ascii_tolower(c));
            s += 2;
            continue;
        }
        if ((unsigned char) *s <= ' ' || *s == 0x7f) {
            g_string_free(out, TRUE); /* as written in an href: no host */
            return NULL;
        }
        g_string_append_c(out, g_ascii_tolower(*s));
    }
    while (out->len > 0 && out->str[out->len - 1] == '.')
        g_string_truncate(out, out->len - 1);
    if (out->len == 0) {
        g_string_free(out, TRUE);
        return NULL;
    }
    return g_string_free(out, FALSE);
}

char *
smg_mimetext_domain(const char *host)
{
    static const char *const second[] = {
        "co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go",
        "mil", "gob", "nic", "ltd", "plc", "sch", "gv", "nom",
    };
    const char *last, *prev, *prev2;
    gboolean numeric = TRUE;

    for (const char *s = host; *s != '\0'; s++)
        if (!g_ascii_isdigit(*s) && *s != '.')
            numeric = FALSE;
    if (numeric || strchr(host, ':') != NULL)
        return g_strdup(host);
    last = strrchr(host, '.');
    if (last == NULL)
        return g_strdup(host);
    prev = last;
    while (prev > host && prev[-1] != '.')
        prev--;
    if (prev == host)
        return g_strdup(host);
    /* prev is the second-level label; prev - 1 is its dot */
    prev2 = prev - 1;
    while (prev2 > host && prev2[-1] != '.')
        prev2--;
    if (strlen(last + 1) == 2) {
        gsize sl = (gsize) (last - prev);
        for (unsigned i = 0; i < G_N_ELEMENTS(second); i++)
            if (strlen(second[i]) == sl && strncmp(prev, second[i], sl) == 0)
                return g_strdup(prev2);
    }
    return g_strdup(prev);
}

/*
 * mimetext-t.c - unit tests for lib/mimetext: quoted-printable and base64
 * decoding, charsets to UTF-8, HTML to text with its URIs and mismatched
 * links, message/rfc822 parts, attachments, RFC 2047 headers, Date and
 * Message-ID checks, 8-bit headers, the text cap, URI hosts and domains,
 * and garbage that must still give a result.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "lib/mimetext.h"
#include "t/tap/basic.h"

/* parse - smg_mimetext_parse of a C string */
static struct smg_mimetext *
parse(const char *msg)
{
    return smg_mimetext_parse(msg, strlen(msg), 0);
}

/* has_uri - whether mt found uri */
static gboolean
has_uri(const struct smg_mimetext *mt, const char *uri)
{
    for (guint i = 0; i < mt->uris->len; i++)
        if (strcmp(mt->uris->pdata[i], uri) == 0)
            return TRUE;
    return FALSE;
}

/* contains - whether text holds needle */
static gboolean
contains(const GString *text, const char *needle)
{
    return strstr(text->str, needle) != NULL;
}

static void
test_plain(void)
{
    struct smg_mimetext *mt = parse(
        "From: \"Ann Example\" <Ann@Example.COM>\n"
        "To: a@x.test, b@x.test\n"
        "Cc: c@x.test\n"
        "Subject: =?UTF-8?B?R3LDvMOfZQ==?= from =?ISO-8859-1?Q?M=FCnchen?=\n"
        "Date: Thu, 22 Aug 2002 08:17:21 -0400\n"
        "Message-ID: <abc@example.com>\n"
        "\n"
        "Hello, see http://www.example.org/path?q=1. And www.other.test too.\n");

    is_string("Grüße from München", mt->subject, "RFC 2047 subject decoded");
    is_string("Ann@example.com", mt->from_addr, "From address, domain lower-cased");
    is_string("Ann Example", mt->from_name, "From display name");
    is_int(3, mt->n_rcpt_headers, "To and Cc addresses counted");
    ok(mt->date_present && mt->date_valid, "Date parsed");
    is_int(1030018641, (long) mt->date, "Date as Unix time");
    ok(mt->msgid_present && mt->msgid_valid, "Message-ID valid");
    ok(contains(mt->text, "Hello, see"), "bare message text kept");
    ok(has_uri(mt, "http://www.example.org/path?q=1"), "URI in text, final dot cut");
    ok(has_uri(mt, "www.other.test"), "www. URI in text");
    is_int(1, mt->n_plain, "one text/plain part");
    is_int(0, mt->n_html, "no text/html part");
    is_string("Grüße from München", smg_mimetext_header(mt, "subject"),
              "header lookup is case-insensitive and decoded");
    ok(smg_mimetext_header(mt, "X-None") == NULL, "absent header is NULL");
    ok(!mt->header_8bit, "no 8-bit header");
    smg_mimetext_free(mt);
}

static void
test_encodings(void)
{
    struct smg_mimetext *mt = parse(
        "From: x@y.test\n"
        "Subject: enc\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/alternative; boundary=\"B\"\n"
        "\n"
        "--B\n"
        "Content-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "Caf=E9 cr=E8me, soft=\n"
        "break\n"
        "--B\n"
        "Content-Type: text/html; charset=utf-8\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "PGh0bWw+PGJvZHk+PHA+SGVsbG8gPGI+V29ybGQ8L2I+PC9wPjxhIGhyZWY9Imh0dHA6Ly9ldmls\n"
        "LnRlc3QvbG9naW4iPmh0dHA6Ly9teWJhbmsuZXhhbXBsZS9sb2dpbjwvYT48L2JvZHk+PC9odG1s\n"
        "Pg==\n"
        "--B--\n");

    ok(contains(mt->text, "Café crème, softbreak"), "QP and Latin-1 decoded to UTF-8");
    ok(contains(mt->text, "Hello World"), "base64 HTML decoded and stripped");
    ok(!contains(mt->text, "<b>"), "no tags left in the text");
    ok(contains(mt->html, "<b>World</b>"), "decoded HTML source kept");
    ok(has_uri(mt, "http://evil.test/login"), "href kept as a URI");
    is_int(1, mt->link_mismatch, "link text names another host");
    is_int(1, mt->n_plain, "text/plain counted");
    is_int(1, mt->n_html, "text/html counted");
    is_int(2, mt->n_parts, "two leaf parts");
    smg_mimetext_free(mt);
}

static void
test_html(void)
{
    GString *t = g_string_new(NULL);
    GPtrArray *u = g_ptr_array_new_with_free_func(g_free);
    const char *h = "<html><head><style>p { color: red }</style>"
                    "<script>var x = '<b>not text</b>';</script></head>"
                    "<body><!-- hidden comment -->Fr<b>ee</b> &amp; &lt;cheap&gt; &#36;5 "
                    "&#x263a; caf&eacute;<br>line2<p>para</p>"
                    "<a href='https://shop.test/buy'>https://shop.test/buy</a>"
                    "<img src=\"http://img.test/x.gif\"><a href=\"mailto:x@y\">m</a>"
                    "<a href=\"#top\">t</a> 3 < 4 &bogus; &nbsp;end</body></html>";
    unsigned mism = smg_mimetext_html(h, strlen(h), t, u);

    ok(strstr(t->str, "Free") != NULL, "inline tags do not split words");
    ok(strstr(t->str, "& <cheap> $5") != NULL, "entities decoded");
    ok(strstr(t->str, "\xe2\x98\xba") != NULL, "hex entity decoded");
    ok(strstr(t->str, "not text") == NULL, "script dropped");
    ok(strstr(t->str, "color") == NULL, "style dropped");
    ok(strstr(t->str, "hidden comment") == NULL, "comment dropped");
    ok(strstr(t->str, "line2") != NULL && strstr(t->str, "\nline2") != NULL, "<br> breaks the line");
    ok(strstr(t->str, "3 < 4") != NULL, "a lone < is text");
    ok(strstr(t->str, "&bogus;") != NULL, "unknown entity kept");
    is_int(0, mism, "a link showing its own host is no mismatch");
    is_int(2, u->len, "href and src kept, mailto and #fragment not");
    if (u->len == 2) {
        is_string("https://shop.test/buy", u->pdata[0], "href value");
        is_string("http://img.test/x.gif", u->pdata[1], "src value");
    } else {
        ok(0, "href value");
        ok(0, "src value");
    }
    g_string_free(t, TRUE);
    g_ptr_array_free(u, TRUE);

    /* unterminated constructs end cleanly */
    t = g_string_new(NULL);
    smg_mimetext_html("<a href=\"http://x", 18, t, NULL);
    smg_mimetext_html("<!-- never closed", 17, t, NULL);
    smg_mimetext_html("<script>alert(1)", 16, t, NULL);
    smg_mimetext_html("&#99999999999;&#;&", 18, t, NULL);
    ok(1, "unterminated tag, comment, script and entities survive");
    g_string_free(t, TRUE);

    /* what a browser shows, the scorers read: HTML5 closes "<!-->",
     * "<!--->" and "--!>" comments, and a quote opens a value only after
     * "="; each hid all the text after it */
    {
        static const struct {
            const char *html, *text, *what;
        } c[] = {
            {"<!-->cheap pills", "cheap pills", "<!--> is a whole comment"},
            {"<!--->cheap pills", "cheap pills", "<!---> is a whole comment"},
            {"<!-- x --!>cheap pills", "cheap pills", "--!> closes a comment"},
            {"<!-- a -- b ---->cheap pills", "cheap pills", "--> after dashes closes"},
            {"<p \">cheap pills", "cheap pills", "a quote in a name: the tag ends at >"},
            {"<b '>cheap pills", "cheap pills", "an apostrophe in a name: the tag ends at >"},
            {"<p x = \">\">cheap pills", "cheap pills", "a quoted value after = and spaces"},
            {"<!-- open <p>hidden", "", "an open comment still hides the rest"},
            {"vi&#x000000000067;ra", "vigra", "a hex reference of many leading zeros"},
            {"vi&#0000000000103;ra", "vigra", "a decimal reference of many leading zeros"},
            {"a&#99999999999999999999;b", "a\xef\xbf\xbd" "b", "a huge reference is U+FFFD"},
        };

        for (unsigned i = 0; i < G_N_ELEMENTS(c); i++) {
            t = g_string_new(NULL);
            smg_mimetext_html(c[i].html, strlen(c[i].html), t, NULL);
            g_strstrip(t->str);
            is_string(c[i].text, t->str, "%s", c[i].what);
            g_string_free(t, TRUE);
        }
    }

    /* a link's URL as a browser reads it (WHATWG): the host of each of
     * these is evil.test for the reader, and was none for the URI rules
     * and lists */
    {
        static const char *const hrefs[] = {
            "http://ev&#9;il.test/",  "http://ev\nil.test/", "h&#10;ttp://evil.test/",
            "&#1; http://evil.test/", "http:\\\\evil.test/", "http:/\\evil.test/",
            "http:///evil.test/",     "HTTPS:evil.test",
        };

        for (unsigned i = 0; i < G_N_ELEMENTS(hrefs); i++) {
            char *link = g_strdup_printf("<a href=\"%s\">x</a>", hrefs[i]);
            char *host = NULL;

            t = g_string_new(NULL);
            u = g_ptr_array_new_with_free_func(g_free);
            smg_mimetext_html(link, strlen(link), t, u);
            if (u->len == 1)
                host = smg_mimetext_uri_host(u->pdata[0]);
            {
                char *shown = g_strescape(hrefs[i], NULL);
                is_string("evil.test", host, "the host of href=\"%s\"", shown);
                g_free(shown);
            }
            g_free(host);
            g_free(link);
            g_string_free(t, TRUE);
            g_ptr_array_free(u, TRUE);
        }
        t = g_string_new(NULL);
        u = g_ptr_array_new_with_free_func(g_free);
        smg_mimetext_html("<a href=\" &#9;mailto:x@y.test\">m</a><a href=\"/rel\">r</a>", 56, t, u);
        ok(u->len == 1 && strcmp(u->pdata[0], "/rel") == 0,
           "mailto: after blanks still left out, a relative link kept as it is");
        g_string_free(t, TRUE);
        g_ptr_array_free(u, TRUE);
    }

    /* the attributes are read in turn: an "href=" inside another one's
     * quoted value is not the link, and hid the real one after it */
    {
        static const struct {
            const char *html, *uri;
        } c[] = {
            {"<a title=\" href=http://benign.test/\" href=\"http://evil.test/\">x</a>",
             "http://evil.test/"},
            {"<a alt='x href=http://benign.test/' href=http://evil.test/>x</a>",
             "http://evil.test/"},
            {"<img alt=\"src=http://benign.test/\" src=\"http://evil.test/i.gif\">",
             "http://evil.test/i.gif"},
            {"<a data-href=\"http://no.test/\" x=\"y\"HREF = \"http://evil.test/\">x</a>",
             "http://evil.test/"},
            {"<a href=\"http://evil.test/\" href=\"http://second.test/\">x</a>",
             "http://evil.test/"},
        };

        for (unsigned i = 0; i < G_N_ELEMENTS(c); i++) {
            t = g_string_new(NULL);
            u = g_ptr_array_new_with_free_func(g_free);
            smg_mimetext_html(c[i].html, strlen(c[i].html), t, u);
            is_string(c[i].uri, u->len == 1 ? u->pdata[0] : NULL, "the link of %s", c[i].html);
            g_string_free(t, TRUE);
            g_ptr_array_free(u, TRUE);
        }
    }
}

static void
test_attachments(void)
{
    struct smg_mimetext *mt = parse(
        "From: x@y.test\n"
        "Content-Type: multipart/mixed; boundary=\"M\"\n"
        "\n"
        "--M\n"
        "Content-Type: text/plain\n"
        "\n"
        "see attached\n"
        "--M\n"
        "Content-Type: application/octet-stream; name=\"invoice.pdf.exe\"\n"
        "Content-Disposition: attachment; filename=\"invoice.pdf.exe\"\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
        "--M\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "Subject: inner subject\n"
        "Content-Type: text/plain\n"
        "\n"
        "inner body http://inner.test/\n"
        "--M--\n");

    is_int(1, mt->filenames->len, "one attachment name");
    if (mt->filenames->len == 1)
        is_string("invoice.pdf.exe", mt->filenames->pdata[0], "its file name");
    else
        ok(0, "its file name");
    ok(contains(mt->text, "inner subject"), "subject of a message/rfc822 part");
    ok(contains(mt->text, "inner body"), "text of a message/rfc822 part");
    ok(has_uri(mt, "http://inner.test/"), "URI of the inner message");
    ok(!contains(mt->text, "TVqQ"), "binary attachment not decoded into text");
    smg_mimetext_free(mt);
}

static void
test_checks(void)
{
    struct smg_mimetext *mt;

    mt = parse("Subject: x\nDate: not a date at all\nMessage-ID: no-brackets\n\nbody\n");
    ok(mt->date_present && !mt->date_valid, "unparseable Date");
    ok(mt->msgid_present && !mt->msgid_valid, "Message-ID without <@>");
    smg_mimetext_free(mt);
    mt = parse("Subject: x\n\nbody\n");
    ok(!mt->date_present && !mt->msgid_present, "missing Date and Message-ID");
    ok(mt->from_addr == NULL, "no From");
    smg_mimetext_free(mt);
    mt = parse("Subject: Gr\xc3\xbc\xc3\x9f" "e\nFrom: a@b.test\n\nbody\n");
    ok(mt->header_8bit, "raw 8-bit header bytes noticed");
    smg_mimetext_free(mt);
    mt = parse("Subject: x\nContent-Type: text/plain; charset=x-unknown-charset\n\n"
               "caf\xe9 \xff\xfe\n");
    ok(g_utf8_validate(mt->text->str, (gssize) mt->text->len, NULL),
       "unknown charset and invalid bytes still give UTF-8");
    smg_mimetext_free(mt);

    /* the cap */
    {
        GString *big = g_string_new("Subject: big\n\n");
        struct smg_mimetext *m2;
        for (int i = 0; i < 5000; i++)
            g_string_append(big, "word word word word word word word word \xc3\xa9\n");
        m2 = smg_mimetext_parse(big->str, big->len, 4096);
        ok(m2->truncated, "text capped");
        ok(m2->text->len <= 4097, "cap respected (%zu)", m2->text->len);
        ok(g_utf8_validate(m2->text->str, (gssize) m2->text->len, NULL), "cap never splits UTF-8");
        smg_mimetext_free(m2);
        g_string_free(big, TRUE);
    }

    /* garbage */
    mt = smg_mimetext_parse("", 0, 0);
    ok(mt != NULL && mt->text->len == 0, "empty input");
    smg_mimetext_free(mt);
    mt = smg_mimetext_parse("\0\0\xff\n\n\n--", 7, 0);
    ok(mt != NULL, "binary input");
    smg_mimetext_free(mt);
    mt = parse("Content-Type: multipart/mixed; boundary=Q\n\n--Q\n--Q\n--Q--\n--Q\n");
    ok(mt != NULL, "empty multipart parts");
    smg_mimetext_free(mt);
}

/*
 * test_many_parts - a message of a million empty parts (7 MB) is parsed in
 * bounded memory: GMime built an object for every part (1.3 GB for this
 * one, 10 GB for a 50 MB message) although only MAX_PARTS are looked at.
 * A child parses it; its peak resident size must stay under 200 MB.
 */
static void
test_many_parts(void)
{
    pid_t pid = fork();
    int status = 0;
    struct rusage ru;

    memset(&ru, 0, sizeof ru);
    if (pid == 0) {
        GString *m = g_string_new("From: a@b.test\nSubject: parts\nMIME-Version: 1.0\n"
                                  "Content-Type: multipart/mixed; boundary=\"b\"\n\n"
                                  "--b\n\nfirst part words\n");
        struct smg_mimetext *mt;

        for (int i = 0; i < 1000000; i++)
            g_string_append(m, "--b\n\nx\n");
        g_string_append(m, "--b--\n");
        mt = smg_mimetext_parse(m->str, m->len, 0);
        _exit(strstr(mt->text->str, "first part words") != NULL && mt->n_parts == 256 ? 0 : 1);
    }
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid)
        status = -1;
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "a million parts: parsed, the first part's text and 256 parts seen (status %d)",
       status);
    ok(ru.ru_maxrss < 200 * 1024, "a million parts: parsed in bounded memory (%ld kB)",
       ru.ru_maxrss);
}

/* parts_msg - a multipart message of n empty parts after `pre` lines of
 * "--pre" in the preamble, nested `depth` multiparts deep */
static char *
parts_msg(int n, int pre, int depth)
{
    GString *m = g_string_new("From: a@b.test\nSubject: parts\nMIME-Version: 1.0\n"
                              "Content-Type: multipart/mixed; boundary=\"b0\"\n\n");

    for (int i = 0; i < pre; i++)
        g_string_append(m, "--pre\n");
    for (int d = 1; d < depth; d++)
        g_string_append_printf(m, "--b%d\nContent-Type: multipart/mixed; boundary=\"b%d\"\n\n",
                               d - 1, d);
    for (int i = 0; i < n; i++)
        g_string_append_printf(m, "--b%d\n\nx\n", depth - 1);
    for (int d = depth - 1; d >= 0; d--)
        g_string_append_printf(m, "--b%d--\n", d);
    return g_string_free(m, FALSE);
}

/* test_parts_cut - parts_cut tells when parts were left unread, and only
 * then: past the 256th leaf, deeper than 8 levels, after 4096 "--" lines */
static void
test_parts_cut(void)
{
    static const struct {
        int n, pre, depth;
        gboolean cut;
        const char *what;
    } c[] = {
        {256, 0, 1, FALSE, "256 parts: all read"},
        {257, 0, 1, TRUE, "257 parts: cut"},
        {1, 4000, 1, FALSE, "4000 \"--\" lines: all read"},
        {1, 4100, 1, TRUE, "4100 \"--\" lines: cut"},
        {1, 0, 8, FALSE, "8 levels: all read"},
        {1, 0, 10, TRUE, "10 levels: cut"},
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(c); i++) {
        char *m = parts_msg(c[i].n, c[i].pre, c[i].depth);
        struct smg_mimetext *mt = smg_mimetext_parse(m, strlen(m), 0);

        ok(mt->parts_cut == c[i].cut, "%s (%u parts seen)", c[i].what, mt->n_parts);
        smg_mimetext_free(mt);
        g_free(m);
    }
}

/*
 * test_nul - a NUL byte in a decoded text part (QP "=00", base64) is
 * dropped, as a browser drops it: the part's text ended there, so one at
 * its start hid all its words and URIs from the scorers
 */
static void
test_nul(void)
{
    struct smg_mimetext *mt = parse(
        "From: a@b.test\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=B\n\n"
        "--B\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
        /* "\0cheap pills http://plain.test/\n" */
        "AGNoZWFwIHBpbGxzIGh0dHA6Ly9wbGFpbi50ZXN0Lwo=\n"
        "--B\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n"
        "=00<p>casino bo=00nus</p><a href=3D\"http://html.test/\">x</a>\n"
        "--B\nContent-Type: text/plain; charset=utf-16le\nContent-Transfer-Encoding: base64\n\n"
        /* "utf16" in UTF-16LE: its zero bytes are no NULs */
        "dQB0AGYAMQA2AA==\n"
        "--B--\n");

    ok(contains(mt->text, "cheap pills"), "text after a NUL in base64 kept");
    ok(has_uri(mt, "http://plain.test/"), "URI after a NUL in base64 kept");
    ok(contains(mt->text, "casino bonus"), "text after a NUL in QP HTML kept, the NUL dropped");
    ok(has_uri(mt, "http://html.test/"), "URI after a NUL in QP HTML kept");
    ok(contains(mt->text, "utf16"), "UTF-16 text still converted");
    ok(memchr(mt->text->str, '\0', mt->text->len) == NULL, "no NUL in the text");
    smg_mimetext_free(mt);
}

/*
 * test_invisible - characters a reader does not see (soft hyphen,
 * zero-width space and joiners, word joiner, BOM), raw in the text or
 * as references, are dropped from the text the scorers read and from the
 * subject; the HTML source keeps them
 */
static void
test_invisible(void)
{
    struct smg_mimetext *mt = parse(
        "From: a@b.test\nSubject: =?UTF-8?Q?ch=E2=80=8Beap?=\nMIME-Version: 1.0\n"
        "Content-Type: multipart/alternative; boundary=B\n\n"
        "--B\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        "vi\xc2\xad" "ag\xe2\x80\x8b" "ra ca\xe2\x81\xa0sino bo\xef\xbb\xbfnus "
        "http://sp\xe2\x80\x8b" "am.test/ "
        "fr\xe2\x80\x8e" "ee ca\xcd\x8f" "sh pr\xe2\x80\xae" "ize lo\xf3\xa0\x81\x81" "an "
        "ja\xef\xb8\x8f" "ckpot\n"
        "--B\nContent-Type: text/html; charset=utf-8\n\n"
        "<p>lot\xe2\x80\x8dtery w&#8203;in&#x2060;ner "
        "fr&ZeroWidthSpace;e&NegativeVeryThinSpace;e g&NoBreak;if&InvisibleTimes;t</p>\n"
        "--B--\n");

    ok(contains(mt->text, "viagra casino bonus"), "invisible characters dropped from text/plain");
    ok(has_uri(mt, "http://spam.test/"), "and from its URIs");
    ok(contains(mt->text, "free cash prize loan jackpot"),
       "direction marks, grapheme joiner, variation selectors and tags too");
    ok(contains(mt->text, "lottery winner"), "and from the text of HTML, raw or referenced");
    ok(contains(mt->text, "free gift"), "and from the text of HTML, referenced by HTML5 names");
    ok(contains(mt->html, "lot\xe2\x80\x8dtery"), "the HTML source kept as written");
    is_string("cheap", mt->subject, "and from the subject");
    smg_mimetext_free(mt);
}

/*
 * test_cap_order - the text cap spent on a long first part hid the parts
 * after it: a multipart/alternative's HTML (the alternative a reader is
 * shown) is read before its plain text, and a part past the cap still
 * gives its URIs
 */
static void
test_cap_order(void)
{
    GString *filler = g_string_new(NULL);
    struct smg_mimetext *mt;
    char *m;

    while (filler->len < 300 * 1024)
        g_string_append(filler, "the weekly project meeting notes and agenda\n");
    m = g_strconcat("From: a@b.test\nMIME-Version: 1.0\n"
                    "Content-Type: multipart/alternative; boundary=A\n\n"
                    "--A\nContent-Type: text/plain\n\n", filler->str,
                    "--A\nContent-Type: text/html\n\n"
                    "<p>cheap pills <a href=\"http://alt.test/\">here</a></p>\n--A--\n", NULL);
    mt = parse(m);
    ok(contains(mt->text, "cheap pills"), "the HTML alternative's text is read");
    ok(has_uri(mt, "http://alt.test/"), "and its link");
    ok(contains(mt->text, "project meeting") && mt->truncated,
       "the plain alternative fills the rest of the cap");
    smg_mimetext_free(mt);
    g_free(m);

    m = g_strconcat("From: a@b.test\nMIME-Version: 1.0\n"
                    "Content-Type: multipart/mixed; boundary=M\n\n"
                    "--M\nContent-Type: text/plain\n\n", filler->str,
                    "--M\nContent-Type: text/html\n\n"
                    "<a href=\"http://late.test/\">x</a> www.later.test\n--M--\n", NULL);
    mt = parse(m);
    ok(has_uri(mt, "http://late.test/") && has_uri(mt, "www.later.test"),
       "a part past the text cap still gives its URIs");
    ok(mt->text->len <= SMG_MIMETEXT_MAX_TEXT + 1, "the text stays within the cap");
    smg_mimetext_free(mt);
    g_free(m);
    g_string_free(filler, TRUE);
}

/*
 * test_nested_groups - GMime enters a group nested in an address field's
 * group by recursion: a To: of 100000 "g:" (in the header, or in a
 * message/rfc822 part or a digest's part) overflowed the stack.  A child
 * parses each; a field keeps its first 1000 colons, and its later ones
 * reach GMime as spaces.
 */
static void
test_nested_groups(void)
{
    static const struct {
        const char *before, *after, *what;
    } where[] = {
        {"", "\nSubject: top\n\nbody\n", "the header"},
        {"Subject: top\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=X\n\n"
         "--X\nContent-Type: message/rfc822\n\nFrom: c@d.test\n",
         "\nSubject: in\n\nbody\n--X--\n", "a message/rfc822 part"},
        {"Subject: top\nMIME-Version: 1.0\nContent-Type: multipart/digest; boundary=X\n\n"
         "--X\n\nFrom: c@d.test\n", "\nSubject: in\n\nbody\n--X--\n", "a digest"},
    };
    GString *to = g_string_new("To:");
    struct smg_mimetext *mt;
    GString *m;
    const char *v;
    long n;

    /* folded, as smg-recv takes it: 100000 groups in 5000 lines */
    for (int i = 0; i < 5000; i++)
        g_string_append(to, " g:g:g:g:g:g:g:g:g:g:g:g:g:g:g:g:g:g:g:g:\n");
    g_string_append(to, " x@y.test");
    for (unsigned i = 0; i < G_N_ELEMENTS(where); i++) {
        pid_t pid = fork();
        if (pid == 0) {
            char *msg = g_strconcat(where[i].before, to->str, where[i].after, NULL);
            mt = parse(msg);
            _exit(strcmp(mt->subject, "top") == 0 && mt->n_parts >= 1 ? 0 : 1);
        }
        ok(test_child_ok(pid), "100000 nested groups in %s: parsed", where[i].what);
    }
    g_string_free(to, TRUE);

    /* a field's 1000th colon is kept, the 1001st is not */
    m = g_string_new("From: a@b.test\nX-Colons: ");
    for (int i = 0; i < 999; i++)
        g_string_append(m, "a:");
    g_string_append(m, "\n :1:2\nTo: undisclosed-recipients:;, x@[IPv6:2001:db8::1]\n\nbody\n");
    mt = parse(m->str);
    v = smg_mimetext_header(mt, "X-Colons");
    ok(v != NULL && g_str_has_suffix(v, "a: :1 2"), "the colons of a field past its 1000th are spaces");
    n = 0;
    for (const char *c = v; c != NULL && *c != '\0'; c++)
        n += *c == ':';
    is_int(1000, n, "the first 1000 are kept");
    is_string("undisclosed-recipients:;, x@[IPv6:2001:db8::1]", smg_mimetext_header(mt, "To"),
              "a field of a few colons is left alone");
    smg_mimetext_free(mt);
    g_string_free(m, TRUE);
}

static void
test_hosts(void)
{
    static const struct {
        const char *uri, *host;
    } h[] = {
        {"http://Example.COM/x", "example.com"},
        {"https://user:pw@real.test:8080/p", "real.test"},
        {"http://bank.example@evil.test/", "evil.test"},
        {"http://%65vil.test/", "evil.test"},
        {"www.Foo.test/bar", "www.foo.test"},
        {"http://[2001:db8::1]/", "2001:db8::1"},
        {"http://host.test./", "host.test"},
        {"mailto:x@y", NULL},
        {"http:///nohost", NULL},
        /* found by mail-fuzz: an empty literal and a decoded NUL */
        {"http://[]/", NULL},
        {"http://%00/", NULL},
        {"http://evil%00.test/", NULL},
        {"http://a%0d%0ab.test/", NULL},
        {"http://a\tb.test/", NULL},
        {"http://[ ]/", NULL},
    };
    static const struct {
        const char *host, *dom;
    } d[] = {
        {"a.b.example.com", "example.com"}, {"www.bbc.co.uk", "bbc.co.uk"},
        {"example.com", "example.com"},     {"localhost", "localhost"},
        {"192.0.2.1", "192.0.2.1"},         {"x.y.com.au", "y.com.au"},
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(h); i++) {
        char *got = smg_mimetext_uri_host(h[i].uri);
        is_string(h[i].host, got, "host of %s", h[i].uri);
        g_free(got);
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(d); i++) {
        char *got = smg_mimetext_domain(d[i].host);
        is_string(d[i].dom, got, "domain of %s", d[i].host);
        g_free(got);
    }
}

int
main(void)
{
    plan_lazy();
    test_plain();
    test_encodings();
    test_html();
    test_attachments();
    test_checks();
    test_many_parts();
    test_parts_cut();
    test_nested_groups();
    test_nul();
    test_invisible();
    test_cap_order();
    test_hosts();
    return 0;
}

/*
 * json-t.c - unit tests for lib/json: JSON string values are escaped and
 * always valid UTF-8, whatever bytes the text held (DNSBL TXT records and
 * message headers come from outside).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>

#include <glib.h>

#include "lib/json.h"
#include "t/tap/basic.h"

/* quoted - smg_json_string of s as a new string */
static char *
quoted(const char *s)
{
    GString *out = g_string_new(NULL);

    smg_json_string(out, s);
    return g_string_free(out, FALSE);
}

static void
test_escapes(void)
{
    char *s;

    s = quoted("a\"b\\c\nd\re\tf\x01g\x1fh\x7fi/j");
    is_string("\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fh\\u007fi/j\"", s,
              "quotes, backslash, controls and DEL escaped; / kept");
    g_free(s);
    s = quoted(NULL);
    is_string("null", s, "NULL is null");
    g_free(s);
    s = quoted("");
    is_string("\"\"", s, "empty string");
    g_free(s);
    s = quoted("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x93\xa7");
    is_string("\"gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x93\xa7\"", s,
              "valid UTF-8 kept as it is");
    g_free(s);
}

static void
test_invalid_utf8(void)
{
    /* a lone continuation byte, a Latin-1 byte, a truncated sequence, an
       overlong '/' and a surrogate: each becomes U+FFFD */
    static const struct {
        const char *in, *want, *name;
    } cases[] = {
        {"a\x80z", "\"a\xef\xbf\xbdz\"", "lone continuation byte"},
        {"M\xfcller", "\"M\xef\xbf\xbdller\"", "Latin-1 byte"},
        {"x\xe2\x82", "\"x\xef\xbf\xbd\xef\xbf\xbd\"", "truncated sequence"},
        {"\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"", "overlong encoding"},
        {"\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"",
         "UTF-16 surrogate"},
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *s = quoted(cases[i].in);

        ok(g_utf8_validate(s, -1, NULL), "%s: valid UTF-8", cases[i].name);
        is_string(cases[i].want, s, "%s: U+FFFD", cases[i].name);
        g_free(s);
    }
    {
        /* invalid bytes next to a quote and a control: both still escaped */
        GString *out = g_string_new("x=");

        smg_json_escape(out, "\xff\"\x01");
        is_string("x=\xef\xbf\xbd\\\"\\u0001", out->str,
                  "smg_json_escape: no quotes, appends, escapes after repair");
        smg_json_escape(out, NULL);
        is_string("x=\xef\xbf\xbd\\\"\\u0001", out->str,
                  "smg_json_escape: NULL appends nothing");
        g_string_free(out, TRUE);
    }
}

int
main(void)
{
    plan_lazy();
    test_escapes();
    test_invalid_utf8();
    return 0;
}

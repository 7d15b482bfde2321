/*
 * json.c - JSON string values (see json.h).
 *
 * The escaping works byte by byte on text already made valid UTF-8: the
 * bytes that need escaping are all ASCII, and ASCII bytes never occur
 * inside a multi-byte UTF-8 sequence, so the sequences pass through whole.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <glib.h>

#include "lib/json.h"

void
smg_json_escape(GString *out, const char *s)
{
    char *valid;

    if (s == NULL)
        return;
    valid = g_utf8_make_valid(s, -1);
    for (const unsigned char *p = (const unsigned char *) valid; *p != '\0';
         p++) {
        switch (*p) {
        case '"': g_string_append(out, "\\\""); break;
        case '\\': g_string_append(out, "\\\\"); break;
        case '\n': g_string_append(out, "\\n"); break;
        case '\r': g_string_append(out, "\\r"); break;
        case '\t': g_string_append(out, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                g_string_append_printf(out, "\\u%04x", *p);
            else
                g_string_append_c(out, (char) *p);
        }
    }
    g_free(valid);
}

void
smg_json_string(GString *out, const char *s)
{
    if (s == NULL) {
        g_string_append(out, "null");
        return;
    }
    g_string_append_c(out, '"');
    smg_json_escape(out, s);
    g_string_append_c(out, '"');
}

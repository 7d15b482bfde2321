/*
 * table.c - the operators' text tables (see table.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>

#include "lib/fileio.h"
#include "lib/table.h"

/* strip_comment - cut a '#' comment that starts the line or follows a blank */
static void
strip_comment(char *s)
{
    for (char *p = s; *p != '\0'; p++) {
        if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            return;
        }
    }
}

enum smg_status
smg_table_text(const char *path, const char *what, char **out, GError **err)
{
    char *text = NULL, *nul;
    gsize len = 0;
    GError *gerr = NULL;

    *out = NULL;
    if (smg_file_read(path, 0, &text, &len, NULL, &gerr) != SMG_OK) {
        smg_set_error(err, SMG_CONFIG, NULL, "cannot read %s %s: %s", what, path,
                      gerr->message);
        g_error_free(gerr);
        return SMG_CONFIG;
    }
    /* the text would end at a NUL byte (a file cut by a crash, an
     * editor's UTF-16) and every line after it would be lost unsaid */
    if ((nul = memchr(text, '\0', len)) != NULL) {
        unsigned lineno = 1;

        for (const char *c = text; c < nul; c++)
            lineno += *c == '\n';
        smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: NUL byte in the %s", path, lineno, what);
        g_free(text);
        return SMG_CONFIG;
    }
    *out = text;
    return SMG_OK;
}

enum smg_status
smg_table_read(const char *path, const char *what, smg_table_fn fn, void *ctx,
               GError **err)
{
    char *text = NULL;
    char **lines;
    enum smg_status st;

    if ((st = smg_table_text(path, what, &text, err)) != SMG_OK)
        return st;
    lines = g_strsplit(text, "\n", -1);
    for (unsigned i = 0; lines[i] != NULL && st == SMG_OK; i++) {
        char *l = lines[i], *sep;

        strip_comment(l);
        g_strstrip(l); /* blanks, and a CR before the LF */
        if (*l == '\0')
            continue;
        sep = l + strcspn(l, " \t");
        if (*sep != '\0') {
            *sep++ = '\0';
            while (*sep == ' ' || *sep == '\t')
                sep++;
        }
        st = fn(ctx, path, i + 1, l, sep, err);
    }
    g_strfreev(lines);
    g_free(text);
    return st;
}

char **
smg_table_words(const char *value, const char *seps)
{
    char **w = g_strsplit_set(value, seps, -1);
    unsigned n = 0;

    for (unsigned i = 0; w[i] != NULL; i++) {
        if (*w[i] == '\0')
            g_free(w[i]);
        else
            w[n++] = w[i];
    }
    w[n] = NULL;
    return w;
}

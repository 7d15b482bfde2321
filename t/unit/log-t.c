/*
 * log-t.c - unit tests for lib/log: one line per event on stderr, control
 * characters replaced, an over-long line cut (at a character boundary)
 * with the number of bytes cut.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "t/tap/basic.h"

/* logged - what smg_log_info(text) writes to stderr (new string) */
static char *
logged(const char *text)
{
    char path[] = "/tmp/log-t.XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    char *out = NULL;

    if (fd < 0 || saved < 0)
        bail("cannot redirect stderr");
    unlink(path);
    dup2(fd, STDERR_FILENO);
    smg_log_info("%s", text);
    dup2(saved, STDERR_FILENO);
    close(saved);
    {
        off_t n = lseek(fd, 0, SEEK_END);

        out = g_malloc0((gsize) n + 1);
        if (pread(fd, out, (size_t) n, 0) != n)
            bail("cannot read the log");
    }
    close(fd);
    return out;
}

int
main(void)
{
    char *prefix, *line, *text;
    GString *big;

    plan(8);
    smg_log_init("log-t", SMG_LOG_STDERR, FALSE);
    prefix = g_strdup_printf("log-t[%ld]: ", (long) getpid());

    line = logged("a=b\r\nc\tz\x7f");
    text = g_strconcat(prefix, "a=b??c?z?\n", NULL);
    is_string(text, line, "one line, control characters as '?'");
    g_free(text);
    g_free(line);

    big = g_string_new(NULL);
    g_string_append_c(big, 'x');
    while (big->len < SMG_LOG_LINE_MAX - 1)
        g_string_append_c(big, 'a');
    /* a two-byte character across the limit, then 5000 more bytes */
    g_string_append(big, "\xc3\xa9");
    for (int i = 0; i < 5000; i++)
        g_string_append_c(big, 'b');
    line = logged(big->str);
    ok(g_str_has_prefix(line, prefix), "a long line: the prefix");
    ok(strchr(line, '\n') == line + strlen(line) - 1, "... one line");
    is_int(SMG_LOG_LINE_MAX - 2, (int) strspn(line + strlen(prefix) + 1, "a"),
           "... kept up to the character that crosses the limit");
    ok(g_str_has_suffix(line, "a... (5002 bytes cut)\n"),
       "... which is cut, and the cut counted: %s",
       line + strlen(line) - MIN(strlen(line), 40));
    g_free(line);

    g_string_truncate(big, SMG_LOG_LINE_MAX);
    line = logged(big->str);
    is_int((int) (strlen(prefix) + SMG_LOG_LINE_MAX + 1), (int) strlen(line),
           "a line of exactly the limit is whole");
    ok(strstr(line, "cut") == NULL, "... and says nothing of a cut");
    g_free(line);
    g_string_free(big, TRUE);

    /* text for a terminal: controls (C0, DEL, C1) and bad octets as '?' */
    big = g_string_new(NULL);
    smg_log_append_shown(big, "a\x1b[2J\tb\x7f\xc2\x9b\xff caf\xc3\xa9");
    is_string("a?[2J?b??? caf\xc3\xa9", big->str, "shown: controls and bad octets as '?', UTF-8 kept");
    g_string_free(big, TRUE);
    g_free(prefix);
    return 0;
}

/*
 * table-t.c - unit tests for lib/table: the operators' text tables.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/table.h"
#include "t/tap/basic.h"

/* collect - a table line function that records "LINE:KEY=VALUE|" */
static enum smg_status
collect(void *ctx, const char *path, unsigned lineno, char *key, char *value, GError **err)
{
    GString *seen = ctx;

    (void) path;
    if (strcmp(key, "stop") == 0) {
        smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: stop here", path, lineno);
        return SMG_CONFIG;
    }
    g_string_append_printf(seen, "%u:%s=%s|", lineno, key, value);
    return SMG_OK;
}

int
main(void)
{
    char *dir = g_dir_make_tmp("smg-table-XXXXXX", NULL);
    char *path = g_build_filename(dir, "t", NULL);
    GString *seen = g_string_new(NULL);
    GError *err = NULL;
    char **w;

    plan(19);
    test_write_file(path, "# a comment line\n"
                          "\n"
                          "  key1   value one  \n"
                          "key2\tv#2 # comment after a blank\r\n"
                          "lonely\n"
                          "k3 a, b,,c\n");
    is_int(SMG_OK, smg_table_read(path, "test table", collect, seen, &err), "table reads");
    is_string("3:key1=value one|4:key2=v#2|5:lonely=|6:k3=a, b,,c|", seen->str,
              "comments, blank lines, blanks and CR dropped; '#' inside a word kept; "
              "the value is the rest of the line");

    g_string_truncate(seen, 0);
    test_write_file(path, "a 1\nstop now\nb 2\n");
    is_int(SMG_CONFIG, smg_table_read(path, "test table", collect, seen, &err),
           "the line function's error stops the reading");
    ok(err != NULL && strstr(err->message, "t:2: stop here") != NULL, "and is returned");
    is_string("1:a=1|", seen->str, "no line after it is read");
    g_clear_error(&err);

    /* a NUL byte would end the text there: the lines after it were lost */
    g_string_truncate(seen, 0);
    if (!g_file_set_contents(path, "a 1\nb 2\0garbage\nc 3\n", 21, NULL))
        bail("cannot write %s", path);
    is_int(SMG_CONFIG, smg_table_read(path, "test table", collect, seen, &err),
           "a NUL byte is a configuration error");
    ok(err != NULL && strstr(err->message, "t:2: NUL byte in the test table") != NULL,
       "that names the file and the line (%s)", err != NULL ? err->message : "none");
    is_string("", seen->str, "and no line is taken");
    g_clear_error(&err);
    if (!g_file_set_contents(path, "\0", 1, NULL))
        bail("cannot write %s", path);
    is_int(SMG_CONFIG, smg_table_read(path, "test table", collect, seen, &err),
           "a NUL byte first, too");
    g_clear_error(&err);

    is_int(SMG_CONFIG, smg_table_read("/nonexistent/table", "test table", collect, seen, &err),
           "a missing file is a configuration error");
    ok(err != NULL && strstr(err->message, "cannot read test table /nonexistent/table") != NULL,
       "that names the table and the file");
    g_clear_error(&err);

    /* a FIFO: the read waited for a writer for ever; a device was read
     * without end */
    {
        char *fifo = g_build_filename(dir, "fifo", NULL);
        if (mkfifo(fifo, 0600) < 0)
            bail("mkfifo %s", fifo);
        alarm(20); /* the old code waits here */
        is_int(SMG_CONFIG, smg_table_read(fifo, "test table", collect, seen, &err),
               "a FIFO is a configuration error, at once");
        ok(err != NULL && strstr(err->message, "not a regular file") != NULL,
           "that says it is not a regular file (%s)", err != NULL ? err->message : "none");
        g_clear_error(&err);
        is_int(SMG_CONFIG, smg_table_read("/dev/zero", "test table", collect, seen, &err),
               "a device too");
        alarm(0);
        g_clear_error(&err);
        unlink(fifo);
        g_free(fifo);
    }

    w = smg_table_words(" a, b,,c\td ", " \t,");
    is_int(4, g_strv_length(w), "words: empty ones dropped");
    is_string("a", w[0], "first word");
    is_string("d", w[3], "last word");
    g_strfreev(w);
    w = smg_table_words("", " ");
    ok(w[0] == NULL, "no words in an empty value");
    g_strfreev(w);
    w = smg_table_words("one", " ");
    is_string("one", w[0], "one word");
    g_strfreev(w);

    unlink(path);
    rmdir(dir);
    g_free(path);
    g_free(dir);
    g_string_free(seen, TRUE);
    return 0;
}

/*
 * fileio-t.c - unit tests for lib/fileio: whole reads and writes at an
 * offset, and replacing a file in one step.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "lib/fileio.h"
#include "t/tap/basic.h"

int
main(void)
{
    char *dir = test_tmpdir();
    char *path = g_build_filename(dir, "f", NULL);
    char *tmp = g_build_filename(dir, "f.tmp", NULL);
    char *sub = g_build_filename(dir, "sub", NULL);
    char *missing = g_build_filename(dir, "no", "f", NULL);
    char *missing_tmp = g_build_filename(dir, "no", "f.tmp", NULL);
    char buf[16] = {0};
    char *text = NULL;
    struct stat st, now;
    GError *err = NULL;
    enum smg_status rc;
    int fd;

    plan(16);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        bail("open %s", path);
    ok(smg_write_at(fd, "world", 5, 6) && smg_write_at(fd, "hello ", 6, 0),
       "writes at offsets");
    is_int(11, (long) smg_read_at(fd, buf, sizeof buf, 0), "a read past the end: the count");
    is_string("hello world", buf, "what was written");
    memset(buf, 0, sizeof buf);
    is_int(5, (long) smg_read_at(fd, buf, 5, 6), "a read at an offset");
    is_string("world", buf, "the bytes there");
    is_int(0, (long) smg_read_at(fd, buf, 5, 100), "beyond the end: 0");
    close(fd);
    fd = open(path, O_WRONLY);
    ok(smg_read_at(fd, buf, 5, 0) < 0, "a read on a write-only fd: -1");
    close(fd);

    ok(smg_file_replace(path, tmp, "new\n", 4, 0640, &st, &err) == SMG_OK,
       "replace: %s", err != NULL ? err->message : "ok");
    g_clear_error(&err);
    ok(g_file_get_contents(path, &text, NULL, NULL) && strcmp(text, "new\n") == 0,
       "the file has the new text");
    g_free(text);
    ok(!g_file_test(tmp, G_FILE_TEST_EXISTS), "no temporary file left");
    ok(g_stat(path, &now) == 0 && now.st_ino == st.st_ino && now.st_size == 4,
       "st is the new file's");

    rc = smg_file_replace(missing, missing_tmp, "x", 1, 0640, NULL, &err);
    ok(rc == SMG_TEMPFAIL && err != NULL && strstr(err->message, "cannot write ") != NULL
           && strstr(err->message, "/no/f:") != NULL,
       "a missing folder: tempfail naming the file: %s", err != NULL ? err->message : "none");
    g_clear_error(&err);
    if (g_mkdir(sub, 0700) < 0)
        bail("mkdir %s", sub);
    rc = smg_file_replace(sub, tmp, "x", 1, 0640, NULL, &err);
    ok(rc == SMG_TEMPFAIL, "a folder in the way: tempfail (%s)", err != NULL ? err->message : "none");
    g_clear_error(&err);
    ok(!g_file_test(tmp, G_FILE_TEST_EXISTS), "and the temporary file is removed");
    ok(g_file_get_contents(path, &text, NULL, NULL) && strcmp(text, "new\n") == 0,
       "other files untouched");
    g_free(text);
    if (symlink(path, tmp) < 0)
        bail("symlink");
    ok(smg_file_replace(sub, tmp, "x", 1, 0640, NULL, &err) == SMG_TEMPFAIL
           && g_file_get_contents(path, &text, NULL, NULL) && strcmp(text, "new\n") == 0,
       "a symbolic link as the temporary name is not followed");
    g_clear_error(&err);
    g_free(text);
    g_unlink(tmp);
    g_rmdir(sub);
    g_unlink(path);
    test_tmpdir_free(dir);
    g_free(path);
    g_free(tmp);
    g_free(sub);
    g_free(missing);
    g_free(missing_tmp);
    return 0;
}

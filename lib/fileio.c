/*
 * fileio.c - whole reads and writes, durable replacement (see fileio.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/fileio.h"

gssize
smg_read_at(int fd, void *buf, gsize len, off_t off)
{
    gsize got = 0;

    while (got < len) {
        ssize_t n = pread(fd, (char *) buf + got, len - got, off + (off_t) got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (gsize) n;
    }
    return (gssize) got;
}

enum smg_status
smg_file_read(const char *path, gsize max, char **text, gsize *len, struct stat *st,
              GError **err)
{
    struct stat sb;
    char *buf;
    gssize got;
    int fd, e;

    *text = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) < 0) {
        enum smg_status res;

        e = errno;
        if (fd >= 0)
            close(fd);
        res = e == ENOENT || e == EACCES || e == EPERM || e == ENOTDIR || e == ELOOP
                  ? SMG_CONFIG
                  : SMG_TEMPFAIL;
        g_set_error(err, SMG_ERROR, (gint) res, "%s", g_strerror(e));
        return res;
    }
    if (!S_ISREG(sb.st_mode) || (max > 0 && (guint64) sb.st_size > max)) {
        close(fd);
        if (!S_ISREG(sb.st_mode))
            g_set_error_literal(err, SMG_ERROR, SMG_CONFIG, "not a regular file");
        else
            g_set_error(err, SMG_ERROR, SMG_CONFIG, "larger than %" G_GSIZE_FORMAT " bytes", max);
        return SMG_CONFIG;
    }
    buf = g_malloc((gsize) sb.st_size + 1);
    /* a file cut meanwhile gives less: take what is there */
    got = smg_read_at(fd, buf, (gsize) sb.st_size, 0);
    e = errno;
    close(fd);
    if (got < 0) {
        explicit_bzero(buf, (gsize) sb.st_size); /* a part of a secret, maybe */
        g_free(buf);
        g_set_error(err, SMG_ERROR, SMG_TEMPFAIL, "%s", g_strerror(e));
        return SMG_TEMPFAIL;
    }
    buf[got] = '\0';
    *text = buf;
    *len = (gsize) got;
    if (st != NULL)
        *st = sb;
    return SMG_OK;
}

gboolean
smg_write_at(int fd, const void *buf, gsize len, off_t off)
{
    gsize done = 0;

    while (done < len) {
        ssize_t n = pwrite(fd, (const char *) buf + done, len - done, off + (off_t) done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return FALSE;
        done += (gsize) n;
    }
    return TRUE;
}

/* sync_dir - fsync the folder that holds path */
static gboolean
sync_dir(const char *path)
{
    char *dir = g_path_get_dirname(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    gboolean good = fd >= 0 && fsync(fd) == 0;
    int e = errno;

    if (fd >= 0)
        close(fd);
    g_free(dir);
    errno = e;
    return good;
}

enum smg_status
smg_file_replace(const char *path, const char *tmp, const void *data, gsize len,
                 mode_t mode, struct stat *st, GError **err)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                  mode);
    int e = 0;

    if (fd < 0) {
        e = errno;
    } else {
        if (!smg_write_at(fd, data, len, 0) || fsync(fd) != 0
            || (st != NULL && fstat(fd, st) != 0))
            e = errno;
        if (close(fd) != 0 && e == 0)
            e = errno;
        if (e == 0 && rename(tmp, path) != 0)
            e = errno;
        if (e != 0)
            (void) unlink(tmp);
        else if (!sync_dir(path))
            e = errno;
    }
    if (e == 0)
        return SMG_OK;
    smg_set_error(err, SMG_TEMPFAIL, e == ENOSPC || e == EDQUOT ? "4.3.1" : "4.3.0",
                  "cannot write %s: %s", path, g_strerror(e));
    return SMG_TEMPFAIL;
}

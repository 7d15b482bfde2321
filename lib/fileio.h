/*
 * fileio.h - whole reads and writes on a file descriptor, and replacing a
 * file durably in one step.
 *
 * read(2) and write(2) may do less than asked (a signal, a full pipe, a
 * file cut meanwhile); these loop until all is done, an error or the end
 * of the file, and retry EINTR.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_FILEIO_H
#define SMG_FILEIO_H 1

#include <sys/stat.h>
#include <sys/types.h>

#include <glib.h>

#include "lib/status.h"

/*
 * smg_read_at - read len bytes at offset off into buf: the count read,
 * less than len only at the end of the file, or -1 with errno
 */
gssize smg_read_at(int fd, void *buf, gsize len, off_t off) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_file_read - the whole regular file at path, NUL-terminated, in *text
 * (g_free it; wipe a secret first) and its length in *len; with st, its
 * status.  max (0: none) caps the size.  The open does not wait
 * (O_NONBLOCK): a FIFO at the path is refused at once where a plain read
 * waits for a writer for ever, and a device is refused before it is read
 * without end.  On failure err's message is the reason alone, with no
 * DSN code ("not a regular file", "larger than N bytes", or the system's),
 * for the caller to put the path and what the file is around it; its
 * status (err->code in SMG_ERROR) is
 * SMG_CONFIG for what the operator can fix (missing, no permission, not a
 * regular file, too large), else SMG_TEMPFAIL.
 */
enum smg_status smg_file_read(const char *path, gsize max, char **text, gsize *len,
                              struct stat *st, GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_write_at - write len bytes at offset off: TRUE, or FALSE with errno */
gboolean smg_write_at(int fd, const void *buf, gsize len, off_t off) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_file_replace - replace the file at path with data, so that a crash
 * at any moment leaves the old file or the new one, never a part: write
 * tmp (a name in the same folder; mode for a new file), fsync it, rename
 * it to path, fsync the folder.  With st, the new file's status (what a
 * later look at path compares against to see a change).  On failure tmp
 * is removed and SMG_TEMPFAIL set in err: "cannot write PATH: why", 4.3.1
 * for a full disk or quota, else 4.3.0.
 */
enum smg_status smg_file_replace(const char *path, const char *tmp, const void *data,
                                 gsize len, mode_t mode, struct stat *st, GError **err)
    G_GNUC_WARN_UNUSED_RESULT;

#endif

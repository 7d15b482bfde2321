/*
 * spool.c - maildir queues with durable hand-off (see spool.h and
 * man/smg-spool.7).
 *
 * Every step that makes a message visible is ordered write, fsync(file),
 * rename, fsync(dir), so that after a crash the file is either absent from
 * new/ (and the sender was never told 250) or whole.  A new message (a
 * fresh ID, no pool file) is an unnamed file instead, linked into new/
 * once written and synced (see open_unnamed).  Claiming uses a
 * non-blocking flock on the open file followed by a rename into cur/; the
 * rename, not the lock, decides which worker wins, and the lock tells
 * recovery whether a file in cur/ still has a live worker.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h> /* autoconf's, not lib/config.h */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h> /* FS_IOC_GETFLAGS, FS_DIRSYNC_FL */

#include "lib/config.h"
#include "lib/log.h"
#include "lib/rand.h"
#include "lib/spool.h"

struct smg_spool {
    char *dir;
    gboolean sync;
    GHashTable *ensured; /* queues known to exist */
    GHashTable *pending; /* queue -> GQueue of names from the last scan of
                            new/, oldest first (smg_spool_next) */
    char *pool_dir;      /* SPOOL/pool */
    GQueue *pool;        /* names from the last scan of pool/ */
    time_t pool_empty;   /* when that scan found pool/ empty */
    enum { UNNAMED_UNTRIED, UNNAMED_YES, UNNAMED_NO } unnamed; /* see probe_unnamed */
    gboolean link_syncs_dir; /* an unnamed file's fsync writes its entry too */
    gboolean log_orders_data; /* a log commit's flush covers earlier data
                                 writes: see log_orders_data() */
    dev_t probed_dev;        /* the file system those two are about */
    /* whether the spool's file system writes each folder back on its own
     * (see renames_unordered): cur/ folders are then synchronous and a
     * move is link, sync, unlink */
    enum { ORDER_UNTRIED, ORDER_KEPT, ORDER_NOT_KEPT } order;
    enum { DIRSYNC_AUTO, DIRSYNC_YES, DIRSYNC_NO } dirsync; /* [spool] dirsync */
    GHashTable *stuck;   /* "queue/name" of files quarantine could not move */
    /* a batch (smg_spool_batch_begin): what its end makes durable */
    gboolean batching;
    GArray *b_out;       /* struct batch_out: files to sync and rename */
    GArray *b_done;      /* struct batch_done: finished files to remove */
    GHashTable *b_dirs;  /* folders whose entries to sync */
};

struct batch_out {
    char *tmp_path, *new_path;
    int fd;    /* open for the first file of each device, else -1 */
    dev_t dev;
};

struct batch_done {
    char *path;
    int fd;
};

/*
 * The pool.  A finished message's file is not unlinked but renamed into
 * pool/ (a slot name 0 .. POOL_SLOTS-1, never replacing one) and emptied,
 * and a new file is a pool file renamed into tmp/ where there is one.
 * Reusing inodes instead of freeing and allocating them keeps the
 * spool's cost flat: on ext4 without a journal, allocating an inode
 * skips every inode freed in the last minute (several while its
 * inode-table block is dirty), one lookup each, so that a busy spool
 * spent most of its CPU time there.
 */
#define POOL_SLOTS 4096
#define POOL_SCAN 1024 /* names read from pool/ at a time */
#define SPOOL_IOBUF 65536 /* a new file's write buffer */

/* statfs f_type values (linux/magic.h) */
#define EXT4_MAGIC 0xEF53UL /* ext2, ext3 and ext4 alike */
#define XFS_MAGIC 0x58465342UL
#define BTRFS_MAGIC 0x9123683EUL
#define TMPFS_MAGIC 0x01021994UL

/* io_error - fill err from errno for an operation on path */
static enum smg_status
io_error(GError **err, int e, const char *what, const char *path)
{
    const char *dsn = (e == ENOSPC || e == EDQUOT) ? "4.3.1" : "4.3.0";

    smg_set_error(err, SMG_TEMPFAIL, dsn, "%s %s: %s", what, path, g_strerror(e));
    return SMG_TEMPFAIL;
}

/* fsync_dir - make a folder's entries durable */
static int
fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    if (rc < 0 && errno == EINVAL)
        rc = 0; /* file systems that cannot sync folders */
    close(fd);
    return rc;
}

gboolean
smg_spool_valid_queue(const char *q)
{
    if (q == NULL || *q == '\0' || *q == '.')
        return FALSE;
    for (const char *p = q; *p != '\0'; p++)
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-' && *p != '_')
            return FALSE;
    return TRUE;
}

/*
 * batch_drop - end a batch without making anything durable: its files
 * stay in tmp/ (a repeat replaces them) and its finished messages in cur/,
 * unlocked, for recovery
 */
static void
batch_drop(struct smg_spool *spool)
{
    for (guint i = 0; i < spool->b_out->len; i++) {
        struct batch_out *o = &g_array_index(spool->b_out, struct batch_out, i);
        if (o->fd >= 0)
            close(o->fd);
        g_free(o->tmp_path);
        g_free(o->new_path);
    }
    for (guint i = 0; i < spool->b_done->len; i++) {
        struct batch_done *d = &g_array_index(spool->b_done, struct batch_done, i);
        if (d->fd >= 0)
            close(d->fd);
        g_free(d->path);
    }
    g_array_free(spool->b_out, TRUE);
    g_array_free(spool->b_done, TRUE);
    g_hash_table_destroy(spool->b_dirs);
    spool->b_out = spool->b_done = NULL;
    spool->b_dirs = NULL;
    spool->batching = FALSE;
}

enum smg_status
smg_spool_open(const char *dir, gboolean sync, struct smg_spool **out,
               GError **err)
{
    struct smg_spool *s;

    if (g_mkdir_with_parents(dir, 0750) < 0)
        return io_error(err, errno, "cannot create spool", dir);
    s = g_new0(struct smg_spool, 1);
    s->dir = g_strdup(dir);
    s->sync = sync;
    s->ensured = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    s->pool_dir = g_build_filename(dir, "pool", NULL);
    s->pool = g_queue_new();
    *out = s;
    return SMG_OK;
}

enum smg_status
smg_spool_open_conf(const struct smg_conf *conf, struct smg_spool **out, GError **err)
{
    enum smg_status st = smg_spool_open(smg_conf_str(conf, "spool", "dir"),
                                        smg_conf_bool(conf, "spool", "sync"), out, err);

    if (st == SMG_OK)
        smg_spool_set_dirsync(*out, smg_conf_str(conf, "spool", "dirsync"));
    return st;
}

void
smg_spool_set_dirsync(struct smg_spool *spool, const char *mode)
{
    spool->dirsync = g_strcmp0(mode, "yes") == 0  ? DIRSYNC_YES
                     : g_strcmp0(mode, "no") == 0 ? DIRSYNC_NO
                                                  : DIRSYNC_AUTO;
    spool->order = ORDER_UNTRIED;
}

void
smg_spool_close(struct smg_spool *spool)
{
    if (spool == NULL)
        return;
    g_hash_table_destroy(spool->ensured);
    if (spool->stuck != NULL)
        g_hash_table_destroy(spool->stuck);
    if (spool->pending != NULL)
        g_hash_table_destroy(spool->pending);
    g_queue_free_full(spool->pool, g_free);
    g_free(spool->pool_dir);
    if (spool->batching)
        batch_drop(spool);
    g_free(spool->dir);
    g_free(spool);
}

const char *
smg_spool_dir(const struct smg_spool *spool)
{
    return spool->dir;
}

char *
smg_spool_queue_dir(const struct smg_spool *spool, const char *queue,
                    const char *sub)
{
    return g_build_filename(spool->dir, queue, sub, NULL);
}

/*
 * open_unnamed - an unnamed file (O_TMPFILE) in dir for a new message; -1
 * where the file system or the kernel has none, /proc is missing (the
 * link goes through /proc/self/fd: linkat's AT_EMPTY_PATH needs a
 * capability the servers drop), or a link has failed before.  Its commit
 * is write, fdatasync, link into new/, fsync(file): the data is on disk
 * before the file has a name, as a named file's is before its rename.  The
 * second sync makes the link durable with its entry in new/: with a
 * journal the link, the entry and the link count are one transaction,
 * which the file's sync commits (ext4, XFS; btrfs logs a file's new names
 * with it), and ext4 without a journal syncs a newly linked file's folder
 * with the file (EXT4_STATE_NEWENTRY).  An fsync of new/ after it would
 * only flush the disk's cache a third time; it is done where the file
 * system is not one of those (link_syncs_dir).
 *
 * Where metadata reaches the disk only through a journal whose commit
 * flushes the disk's cache first (log_orders_data: ext4 with its journal
 * inside, Linux 5.2 and later), the first sync need not flush:
 * sync_file_range writes the data and waits for it, and for the extents
 * and size that make it readable, which are then in the log before the
 * link.  Any commit that carries the link,
 * ours or another session's, flushes that data before its commit record:
 * one flush a message instead of two, and still no name for a file whose
 * data is not on disk.
 *
 * The file's first sync does not write tmp/ (a named file's does: a new
 * entry), and neither the create nor the link locks tmp/, which every
 * session shares.  A crash before the link leaves no name behind.
 */
static int
open_unnamed(struct smg_spool *spool, const char *dir)
{
    static int have_proc = -1;

    if (have_proc < 0)
        have_proc = access("/proc/self/fd", X_OK) == 0;
    if (!have_proc || spool->unnamed == UNNAMED_NO)
        return -1;
#ifdef O_TMPFILE
    return open(dir, O_WRONLY | O_TMPFILE | O_CLOEXEC, 0640);
#else
    (void) dir;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

/* link_unnamed - give the unnamed file open as fd the name path */
static int
link_unnamed(int fd, const char *path)
{
    char proc[64];

    g_snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}

/*
 * link_syncs_dir - whether, on a file system of type fstype, an fsync of a
 * file after its link makes the new entry durable too (see open_unnamed):
 * Linux's ext4 driver (which mounts ext2 and ext3 too on Debian), XFS and
 * btrfs do; elsewhere (ext2's own driver, and what is not known) new/ is
 * synced as well.  tmpfs never reaches a disk.
 */
static gboolean
link_syncs_dir(unsigned long fstype)
{
    return fstype == EXT4_MAGIC || fstype == XFS_MAGIC || fstype == BTRFS_MAGIC
           || fstype == TMPFS_MAGIC;
}

/* dev_of - the device of the file open as fd, or 0 */
static dev_t
dev_of(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 ? st.st_dev : 0;
}

/* kernel_at_least - whether the running kernel is MAJOR.MINOR or later */
static gboolean
kernel_at_least(unsigned major_, unsigned minor_)
{
    struct utsname u;
    unsigned a = 0, b = 0;

    return uname(&u) == 0 && sscanf(u.release, "%u.%u", &a, &b) == 2
           && (a > major_ || (a == major_ && b >= minor_));
}

/* block_name - the kernel's name of block device dev ("vda1", "dm-0"), or NULL */
static char *
block_name(dev_t dev)
{
    char *sys = g_strdup_printf("/sys/dev/block/%u:%u", major(dev), minor(dev));
    char *link = g_file_read_link(sys, NULL);
    char *name = link != NULL ? g_path_get_basename(link) : NULL;

    g_free(link);
    g_free(sys);
    return name;
}

/* has_jbd2 - whether block device NAME's file system has its journal inside */
static gboolean
has_jbd2(const char *name)
{
    char *jbd2 = g_strdup_printf("/proc/fs/jbd2/%s-8", name);
    gboolean yes = g_file_test(jbd2, G_FILE_TEST_IS_DIR);

    g_free(jbd2);
    return yes;
}

/*
 * log_orders_data - whether the file system of type fstype on device dev
 * writes metadata only through
 * a journal whose commits flush the disk's cache before their commit
 * record (see open_unnamed): ext4 with its journal inside (jbd2 names it
 * DEV-8 in /proc/fs/jbd2; an external journal flushes the data disk only
 * for ordered data, which dioread_nolock and data=writeback never file),
 * in data=ordered or data=writeback mode, without journal_async_commit,
 * as /proc/fs/ext4/DEV/options says (ext4 without a journal has no data=
 * there), on Linux 5.2 or later (before, sync_file_range's writeback
 * could skip pages).  Anything else (XFS, btrfs, tmpfs, unknown) keeps
 * fdatasync.
 */
static gboolean
log_orders_data(unsigned long fstype, dev_t dev)
{
    char *name, *opts = NULL, *path;
    gboolean yes = FALSE;

    if (fstype != EXT4_MAGIC || !kernel_at_least(5, 2) || (name = block_name(dev)) == NULL)
        return FALSE;
    path = g_build_filename("/proc/fs/ext4", name, "options", NULL);
    if (has_jbd2(name) && g_file_get_contents(path, &opts, NULL, NULL)) {
        gboolean mode = strstr(opts, "\ndata=ordered\n") != NULL
                        || strstr(opts, "\ndata=writeback\n") != NULL;

        yes = mode && strstr(opts, "journal_async_commit") == NULL;
    }
    g_free(opts);
    g_free(path);
    g_free(name);
    return yes;
}

/*
 * by_link - whether the spool's renames are not kept in order
 * (renames_unordered, or dirsync = yes): cur/ folders are then
 * synchronous, and a move is link, sync, unlink
 */
static gboolean
by_link(const struct smg_spool *spool)
{
    return spool->sync && spool->order == ORDER_NOT_KEPT;
}

/*
 * renames_unordered - whether the file system holding path writes each
 * folder back on its own, so that a rename from one folder to another can
 * reach the disk as its removal alone (the file then has no name until
 * e2fsck puts it in lost+found): the ext2 family without a journal inside
 * (ext2, or ext4 made with -O ^has_journal; one with an external journal
 * is taken for one without: its folders are made synchronous for
 * nothing).  On a journalling file system the rename is one transaction.
 */
static gboolean
renames_unordered(const char *path)
{
    struct statfs sf;
    struct stat st;
    char *name;
    gboolean yes;

    if (statfs(path, &sf) < 0 || (unsigned long) sf.f_type != EXT4_MAGIC || stat(path, &st) < 0
        || (name = block_name(st.st_dev)) == NULL)
        return FALSE;
    yes = !has_jbd2(name);
    g_free(name);
    return yes;
}

/*
 * set_dirsync - set (on) or take off the synchronous-folder attribute
 * (chattr +D) of dir.  Set, on the ext2 family every change of its
 * entries is written before the call that made it returns, so a rename
 * into it (a claim) is on disk before the removal from new/ can be; a
 * failure to set it is logged, once.  Taken off where dirsync = no follows
 * an earlier auto or yes (errors ignored: a file system without the
 * attribute has nothing to take off).
 */
static void
set_dirsync(const char *dir, gboolean on)
{
    static gboolean warned;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int flags = 0, want;
    gboolean ok = fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;

    if (ok) {
        want = on ? flags | FS_DIRSYNC_FL : flags & ~FS_DIRSYNC_FL;
        ok = want == flags || ioctl(fd, FS_IOC_SETFLAGS, &want) == 0;
    }
    if (!ok && on && !warned) {
        smg_log_warn("cannot make %s synchronous (chattr +D): %s; on this file system without "
                     "a journal a power cut during a claim can leave a message without a name",
                     dir, g_strerror(errno));
        warned = TRUE;
    }
    if (fd >= 0)
        close(fd);
}

/*
 * probe_unnamed - whether QUEUE takes unnamed files, tried once per spool
 * before its first new message: make one in tmp/ and link it into new/
 * under a dot name (never a message, never listed), then remove it.  Where
 * it fails the spool writes named files, instead of giving its first
 * message a temporary failure (and each of smg-recv's workers, which
 * inherit an untried spool, the same).  Processes that never write a new
 * message (most stages, smg-queue) never pay for it.  The dot name wakes
 * the queue's workers once (IN_CREATE); they find nothing to take.
 */
static void
probe_unnamed(struct smg_spool *spool, const char *queue)
{
    char *tmp = smg_spool_queue_dir(spool, queue, "tmp");
    char *name = g_strdup_printf(".probe.%ld", (long) getpid());
    char *path = g_build_filename(spool->dir, queue, "new", name, NULL);
    int fd = open_unnamed(spool, tmp);

    if (fd >= 0 && link_unnamed(fd, path) == 0) {
        struct statfs sf;
        unsigned long fstype = fstatfs(fd, &sf) == 0 ? (unsigned long) sf.f_type : 0;

        spool->unnamed = UNNAMED_YES;
        spool->probed_dev = dev_of(fd);
        spool->link_syncs_dir = link_syncs_dir(fstype);
        spool->log_orders_data = log_orders_data(fstype, spool->probed_dev);
        (void) unlink(path);
    } else {
        if (fd >= 0)
            smg_log_warn("cannot link an unnamed file in %s: %s; using named files", tmp,
                         g_strerror(errno));
        spool->unnamed = UNNAMED_NO;
    }
    if (fd >= 0)
        close(fd);
    g_free(path);
    g_free(name);
    g_free(tmp);
}

enum smg_status
smg_spool_ensure(struct smg_spool *spool, const char *queue, GError **err)
{
    static const char *subs[] = {"tmp", "new", "cur"};

    if (!smg_spool_valid_queue(queue)) {
        smg_set_error(err, SMG_BUG, NULL, "bad queue name \"%s\"", queue);
        return SMG_BUG;
    }
    if (g_hash_table_contains(spool->ensured, queue))
        return SMG_OK;
    if (spool->sync && spool->order == ORDER_UNTRIED)
        spool->order = spool->dirsync == DIRSYNC_NO                                     ? ORDER_KEPT
                       : spool->dirsync == DIRSYNC_YES || renames_unordered(spool->dir) ? ORDER_NOT_KEPT
                                                                                        : ORDER_KEPT;
    for (unsigned i = 0; i < G_N_ELEMENTS(subs); i++) {
        char *d = smg_spool_queue_dir(spool, queue, subs[i]);
        if (g_mkdir_with_parents(d, 0750) < 0) {
            enum smg_status st = io_error(err, errno, "cannot create", d);
            g_free(d);
            return st;
        }
        if (spool->sync && strcmp(subs[i], "cur") == 0
            && (by_link(spool) || spool->dirsync == DIRSYNC_NO))
            set_dirsync(d, by_link(spool));
        g_free(d);
    }
    g_hash_table_add(spool->ensured, g_strdup(queue));
    return SMG_OK;
}

char *
smg_spool_new_id(void)
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    static unsigned counter;
    struct timeval tv;
    char buf[64];
    unsigned p = 0;
    guint64 parts[3];

    gettimeofday(&tv, NULL);
    /* seconds, then microseconds, pid and counter: sortable by time */
    parts[0] = (guint64) tv.tv_sec;
    parts[1] = (guint64) tv.tv_usec;
    parts[2] = ((guint64) getpid() << 16) | (counter++ & 0xffff);
    for (unsigned i = 0; i < G_N_ELEMENTS(parts); i++) {
        char tmp[16];
        unsigned n = 0;
        guint64 v = parts[i];
        unsigned width = i == 0 ? 7 : i == 1 ? 4 : 1;

        do {
            tmp[n++] = digits[v % 36];
            v /= 36;
        } while (v != 0 || n < width);
        while (n > 0)
            buf[p++] = tmp[--n];
    }
    buf[p] = '\0';
    return g_strdup(buf);
}

gboolean
smg_spool_valid_id(const char *s)
{
    size_t n = 0;

    if (s == NULL || *s == '\0' || *s == '.')
        return FALSE;
    for (const char *p = s; *p != '\0'; p++, n++)
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-' && *p != '_')
            return FALSE;
    return n <= 128;
}

/*
 * file_write - fp's write function: all of buf to fd.  It keeps the errno
 * of the first failure, because stdio does not: after a failed write
 * inside fputs, a later fflush may return 0 with only ferror set, and
 * errno by then belongs to whatever the caller did since.
 */
static ssize_t
file_write(void *cookie, const char *buf, size_t size)
{
    struct smg_spool_file *f = cookie;
    size_t done = 0;

    while (done < size) {
        ssize_t n = write(f->fd, buf + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (f->write_errno == 0)
                f->write_errno = n < 0 ? errno : EIO;
            break;
        }
        done += (size_t) n;
    }
    return (ssize_t) done;
}

/* file_seek - fp's seek function, so that ftell works */
static int
file_seek(void *cookie, off64_t *offset, int whence)
{
    struct smg_spool_file *f = cookie;
    off_t r = lseek(f->fd, (off_t) *offset, whence);

    if (r < 0)
        return -1;
    *offset = r;
    return 0;
}

/* file_close - fp's close function: close fd */
static int
file_close(void *cookie)
{
    struct smg_spool_file *f = cookie;

    return close(f->fd);
}

/*
 * scan_pool - fill spool->pool with up to POOL_SCAN names of pool/, in a
 * random order (lib/rand: forked workers do not share it).  Every process
 * reads pool/ in the same (hash) order; taken in that order, the names
 * would be raced for by all of them, each loser paying a failed rename
 * and, soon, another read of the folder.  One read of the folder returns
 * some hundreds of names anyway, so all are kept.
 */
static void
scan_pool(struct smg_spool *spool)
{
    DIR *d = opendir(spool->pool_dir);
    struct dirent *de;
    GPtrArray *names;

    if (d == NULL)
        return;
    names = g_ptr_array_new();
    while (names->len < POOL_SCAN && (de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            g_ptr_array_add(names, g_strdup(de->d_name));
    closedir(d);
    smg_rand_shuffle(names);
    for (guint i = 0; i < names->len; i++)
        g_queue_push_tail(spool->pool, names->pdata[i]);
    g_ptr_array_free(names, TRUE);
}

/*
 * pool_take - rename a pool file to path; FALSE if there is none.  An
 * empty pool/ is read again a second later at the soonest, so that a
 * spool without a pool costs one directory read a second.
 */
static gboolean
pool_take(struct smg_spool *spool, const char *path)
{
    gboolean scanned = FALSE;
    time_t now;

    for (;;) {
        char *name = g_queue_pop_head(spool->pool);

        if (name != NULL) {
            char *src = g_build_filename(spool->pool_dir, name, NULL);
            int rc = rename(src, path);

            g_free(src);
            g_free(name);
            if (rc == 0)
                return TRUE;
            continue; /* taken by another process */
        }
        now = time(NULL);
        if (scanned || spool->pool_empty == now)
            return FALSE;
        scanned = TRUE;
        scan_pool(spool);
        if (g_queue_is_empty(spool->pool)) {
            spool->pool_empty = now;
            return FALSE;
        }
    }
}

/*
 * open_pooled - open the file pool_take put at path for writing, emptied;
 * -1 if it is not one to reuse.  A pool file has one link and no content;
 * one with a second link is a message file that a power cut brought back
 * under its old pool name (nothing syncs pool/): only that name goes.
 * Its mtime is that of its emptying, which may be days ago; a file in
 * tmp/ that old is one recovery removes (smg_spool_recover), and this one
 * is being written (smg-recv's sits in tmp/ all through DATA, unwritten
 * when small), so it is made new as a created file would be.
 */
static int
open_pooled(const char *path)
{
    struct stat sb;
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return -1;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1
        || (sb.st_size != 0 && ftruncate(fd, 0) < 0)
        || (sb.st_mtime < time(NULL) - 3600 && futimens(fd, NULL) < 0)
        || ((sb.st_mode & SMG_SPOOL_RECOVERY_BITS)
            && fchmod(fd, sb.st_mode & 07777 & ~SMG_SPOOL_RECOVERY_BITS) < 0)) {
        close(fd);
        (void) unlink(path);
        return -1;
    }
    return fd;
}

/* at_name - whether NAME in the folder open as dfd (AT_FDCWD: NAME is a
 * path) is the file of status sb */
static gboolean
at_name(int dfd, const char *name, const struct stat *sb)
{
    struct stat now_sb;

    return fstatat(dfd, name, &now_sb, AT_SYMLINK_NOFOLLOW) == 0
           && now_sb.st_ino == sb->st_ino && now_sb.st_dev == sb->st_dev;
}

gboolean
smg_spool_is_at(const struct stat *a, const char *path)
{
    return at_name(AT_FDCWD, path, a);
}

/*
 * pool_put - empty the finished file at path, open as fd, close fd (and
 * with it our lock) and rename the file into a free slot of pool/.
 * FALSE if the file cannot be pooled (other links: emptying would empty
 * them too; an error): the caller unlinks it, as without a pool.  The
 * file is emptied before it can be taken, never after: a taker may fill
 * it at once.  A crash after the emptying leaves an empty file in cur/,
 * which recovery removes (an empty file is never a message).
 */
static gboolean
pool_put(struct smg_spool *spool, const char *path, int *fd)
{
    struct stat sb;

    if (*fd < 0 || fstat(*fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1
        || !smg_spool_is_at(&sb, path) || ftruncate(*fd, 0) < 0)
        return FALSE;
    close(*fd);
    *fd = -1;
    for (int i = 0; i < 4; i++) {
        char slot[16];
        char *dst;
        int rc, e;

        g_snprintf(slot, sizeof slot, "%u", smg_rand_below(POOL_SLOTS));
        dst = g_build_filename(spool->pool_dir, slot, NULL);
        rc = renameat2(AT_FDCWD, path, AT_FDCWD, dst, RENAME_NOREPLACE);
        e = errno;
        g_free(dst);
        if (rc == 0) {
            /* our own next create takes it without reading pool/; at
             * most a scan's worth of names, since a process that only
             * finishes messages (smg-send) never takes them, and others
             * do */
            if (g_queue_get_length(spool->pool) < POOL_SCAN)
                g_queue_push_tail(spool->pool, g_strdup(slot));
            return TRUE;
        }
        if (e == ENOENT && access(path, F_OK) < 0)
            break; /* gone: recovery removed the empty file */
        if (e == ENOENT && i == 0 && g_mkdir_with_parents(spool->pool_dir, 0750) == 0)
            continue; /* the first put makes pool/ */
        if (e != EEXIST)
            break;
    }
    return FALSE;
}

/*
 * finish - remove the finished file at path, open as *fd: into the pool,
 * or else unlink it.  Returns 0, or the errno of a failed unlink.  A name
 * that no longer leads to our file is left alone: a claim's rename put
 * another file there (smg-send writes the rest of a message from
 * deferred.GW back to deferred.GW under the same ID, and smg-queue may
 * claim that copy before this removal), and that file is the claimer's.
 */
static int
finish(struct smg_spool *spool, const char *path, int *fd)
{
    struct stat sb;

    if (pool_put(spool, path, fd))
        return 0;
    if (*fd >= 0 && fstat(*fd, &sb) == 0 && !smg_spool_is_at(&sb, path))
        return 0;
    if (unlink(path) == 0 || errno == ENOENT)
        return 0;
    return errno;
}

enum smg_status
smg_spool_create(struct smg_spool *spool, const char *queue, const char *id,
                 struct smg_spool_file **out, GError **err)
{
    struct smg_spool_file *f;
    enum smg_status st;
    char *tmpdir;

    if ((st = smg_spool_ensure(spool, queue, err)) != SMG_OK)
        return st;
    if (id != NULL && !smg_spool_valid_id(id)) {
        smg_set_error(err, SMG_BUG, NULL, "bad queue id \"%s\"", id);
        return SMG_BUG;
    }
    f = g_new0(struct smg_spool_file, 1);
    f->spool = spool;
    f->queue = g_strdup(queue);
    f->id = id != NULL ? g_strdup(id) : smg_spool_new_id();
    tmpdir = smg_spool_queue_dir(spool, queue, "tmp");
    f->tmp_path = g_build_filename(tmpdir, f->id, NULL);
    f->fd = -1;
    if (pool_take(spool, f->tmp_path))
        f->fd = open_pooled(f->tmp_path);
    /* a fresh ID cannot clash with a file in new/, which linkat would not
     * replace; a batch renames named files at its end */
    if (f->fd < 0 && id == NULL && !spool->batching) {
        if (spool->unnamed == UNNAMED_UNTRIED)
            probe_unnamed(spool, queue);
        f->anon = (f->fd = open_unnamed(spool, tmpdir)) >= 0;
    }
    if (f->anon) {
        /* for error messages: the file has no name of its own */
        g_free(f->tmp_path);
        f->tmp_path = g_strdup_printf("%s (unnamed file for %s)", tmpdir, f->id);
    }
    /* O_TRUNC: a repeat of a crashed stage replaces its earlier tmp file */
    if (f->fd < 0)
        f->fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    g_free(tmpdir);
    if (f->fd < 0) {
        st = io_error(err, errno, "cannot create", f->tmp_path);
        g_free(f->queue);
        g_free(f->id);
        g_free(f->tmp_path);
        g_free(f);
        return st;
    }
    f->fp = fopencookie(f, "w", (cookie_io_functions_t){
                                    .write = file_write,
                                    .seek = file_seek,
                                    .close = file_close,
                                });
    if (f->fp == NULL) {
        st = io_error(err, errno, "fopencookie", f->tmp_path);
        smg_spool_abort(f);
        return st;
    }
    /* glibc ignores a size without a buffer and takes st_blksize: a
     * write(2) per 4 KB, 25 for a message of 100 KB */
    f->iobuf = g_malloc(SPOOL_IOBUF);
    setvbuf(f->fp, f->iobuf, _IOFBF, SPOOL_IOBUF);
    *out = f;
    return SMG_OK;
}

/* file_free - release a writer's memory */
static void
file_free(struct smg_spool_file *f)
{
    g_free(f->queue);
    g_free(f->id);
    g_free(f->tmp_path);
    g_free(f->iobuf);
    g_free(f);
}

void
smg_spool_abort(struct smg_spool_file *f)
{
    if (f == NULL)
        return;
    if (f->fp != NULL)
        fclose(f->fp);
    else if (f->fd >= 0)
        close(f->fd);
    if (!f->anon)
        unlink(f->tmp_path);
    file_free(f);
}

/*
 * commit_later - smg_spool_commit within a batch: write the file out and
 * keep it in tmp/ until smg_spool_batch_end has synced it (with the rest of
 * the batch) and renamed it.  Takes newdir and newpath.
 */
static enum smg_status
commit_later(struct smg_spool_file *f, char *newdir, char *newpath, GError **err)
{
    struct batch_out o = {NULL, newpath, -1, 0};
    enum smg_status st = SMG_OK;
    struct stat sb;
    int e = 0;

    if (fflush(f->fp) != 0 || ferror(f->fp)) {
        e = f->write_errno != 0 ? f->write_errno : errno;
    } else if (fstat(f->fd, &sb) < 0) {
        e = errno;
    } else {
        /* the batch's end syncs each file system once (syncfs) or its one
         * file (fdatasync): it keeps the first file of each device open */
        gboolean seen = FALSE;
        for (guint i = 0; i < f->spool->b_out->len && !seen; i++)
            seen = g_array_index(f->spool->b_out, struct batch_out, i).dev == sb.st_dev;
        o.dev = sb.st_dev;
        if (!seen && (o.fd = dup(f->fd)) < 0)
            e = errno;
    }
    if (fclose(f->fp) != 0 && e == 0)
        e = errno;
    f->fp = NULL;
    f->fd = -1;
    if (e != 0) {
        st = io_error(err, e, "cannot write", f->tmp_path);
        unlink(f->tmp_path);
        if (o.fd >= 0)
            close(o.fd);
        g_free(newpath);
        g_free(newdir);
    } else {
        o.tmp_path = g_strdup(f->tmp_path);
        g_array_append_val(f->spool->b_out, o);
        g_hash_table_add(f->spool->b_dirs, newdir);
    }
    file_free(f);
    return st;
}

/*
 * sync_data - the first sync of a file being committed: sync_file_range
 * for an unnamed file where the journal orders the data (see
 * open_unnamed), fdatasync elsewhere, and from then on where the call is
 * refused (a system-call filter, a kernel without it)
 */
static int
sync_data(struct smg_spool_file *f, gboolean probed)
{
    if (probed && f->spool->log_orders_data) {
        if (sync_file_range(f->fd, 0, 0,
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE
                                | SYNC_FILE_RANGE_WAIT_AFTER)
            == 0)
            return 0;
        if (errno != ENOSYS && errno != EPERM && errno != EINVAL)
            return -1;
        f->spool->log_orders_data = FALSE;
    }
    return fdatasync(f->fd);
}

enum smg_status
smg_spool_commit(struct smg_spool_file *f, GError **err)
{
    char *newdir = smg_spool_queue_dir(f->spool, f->queue, "new");
    char *newpath = g_build_filename(newdir, f->id, NULL);
    enum smg_status st = SMG_OK;
    const char *what = NULL;
    const char *where = f->tmp_path;
    gboolean linked = FALSE;
    /* what the probe found holds for the file system it probed (a queue
     * may be a mount of its own) */
    gboolean probed = f->anon && dev_of(f->fd) == f->spool->probed_dev;
    int e = 0;

    if (f->spool->batching && !f->anon)
        return commit_later(f, newdir, newpath, err);
    if (fflush(f->fp) != 0 || ferror(f->fp)) {
        e = f->write_errno != 0 ? f->write_errno : errno;
        what = "cannot write";
    } else if (f->spool->sync && sync_data(f, probed) < 0) {
        e = errno;
        what = "cannot sync";
    } else if (f->anon && !(linked = link_unnamed(f->fd, newpath) == 0)) {
        e = errno;
        what = "cannot link to";
        where = newpath;
        /* this message gets a temporary failure; where linkat itself
         * cannot work (a bind mount, a seccomp filter, /proc), the next
         * ones are named files */
        if (e == EXDEV || e == EPERM || e == EACCES || e == ENOSYS || e == EOPNOTSUPP
            || e == EINVAL || e == ELOOP) {
            f->spool->unnamed = UNNAMED_NO;
            smg_log_warn("cannot link an unnamed file to %s: %s; using named files from now on",
                         newpath, g_strerror(e));
        }
    } else if (f->anon && f->spool->sync && fsync(f->fd) < 0) {
        /* the link, its entry in new/ and the link count (see open_unnamed) */
        e = errno;
        what = "cannot sync";
    }
    if (fclose(f->fp) != 0 && what == NULL) {
        e = errno;
        what = "cannot close";
    }
    f->fp = NULL;
    f->fd = -1;
    if (what == NULL && !f->anon && rename(f->tmp_path, newpath) < 0) {
        e = errno;
        what = "cannot rename to";
        where = newpath;
    }
    if (what != NULL) {
        st = io_error(err, e, what, where);
        /* no 250 follows: a linked file goes unless a worker took it */
        if (linked)
            unlink(newpath);
        else if (!f->anon)
            unlink(f->tmp_path);
    } else if (f->spool->sync && !(probed && f->spool->link_syncs_dir)
               && fsync_dir(newdir) < 0) {
        /* (Skipped where an unnamed file's sync after its link did this:
         * link_syncs_dir.)  The file is in new/ but perhaps not durably.
         * Report failure so that no 250 is given; if the file survives it
         * is processed, and the client's retry makes at worst a
         * duplicate. */
        st = io_error(err, errno, "cannot sync", newdir);
    }
    g_free(newdir);
    g_free(newpath);
    file_free(f);
    return st;
}

/* msg_new - a claimed-message record; sb is the file's */
static struct smg_spool_msg *
msg_new(struct smg_spool *spool, const char *queue, const char *id,
        char *path, int fd, const struct stat *sb)
{
    struct smg_spool_msg *m = g_new0(struct smg_spool_msg, 1);

    m->spool = spool;
    m->queue = g_strdup(queue);
    m->id = g_strdup(id);
    m->path = path;
    m->fd = fd;
    m->recovered = (sb->st_mode & SMG_SPOOL_RECOVERED) != 0;
    return m;
}

/*
 * foreign_file - whether QUEUE/new/NAME, which this process may not open,
 * is at fault itself: another owner, or no read and write for its owner.
 * A file of our own with rw for us that we still may not open points at
 * the whole spool (a security policy, a read-only mount): a temporary
 * failure for the run, not a reason to set every file aside.
 */
static gboolean
foreign_file(struct smg_spool *spool, const char *queue, const char *name)
{
    char *dir = smg_spool_queue_dir(spool, queue, "new");
    char *path = g_build_filename(dir, name, NULL);
    struct stat sb;
    gboolean yes = lstat(path, &sb) == 0
                   && (sb.st_uid != geteuid() || (sb.st_mode & 0600) != 0600
                       || !S_ISREG(sb.st_mode));

    g_free(path);
    g_free(dir);
    return yes;
}

/*
 * quarantine - move QUEUE/new/NAME, which no worker can take (not a queue
 * ID, or not readable), to corrupt/new/ under a fresh ID, so that it is
 * neither lost nor left unseen; logged.  A file that cannot be moved is
 * logged once and left where it is.
 */
static void
quarantine(struct smg_spool *spool, const char *queue, const char *name, const char *why)
{
    char *srcdir = smg_spool_queue_dir(spool, queue, "new");
    char *src = g_build_filename(srcdir, name, NULL);
    char *dstdir = smg_spool_queue_dir(spool, "corrupt", "new");
    char *id = smg_spool_new_id();
    char *dst = g_build_filename(dstdir, id, NULL);
    char *key = g_strdup_printf("%s/%s", queue, name);
    GError *e = NULL;
    gboolean ok;

    if (smg_spool_ensure(spool, "corrupt", &e) != SMG_OK) {
        ok = FALSE;
    } else if (by_link(spool) && link(src, dst) == 0) {
        /* (link, sync, unlink: see move_to) */
        (void) fsync_dir(dstdir);
        ok = unlink(src) == 0;
    } else {
        ok = renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0;
        if (ok && spool->sync)
            (void) fsync_dir(dstdir);
    }
    if (ok) {
        if (spool->sync)
            (void) fsync_dir(srcdir);
        smg_log_warn("%s: queue=%s, status=corrupt, reason=%s, moved to corrupt/ as %s", name,
                     queue, why, id);
    } else if (errno != ENOENT) {
        int moved_errno = errno;

        if (spool->stuck == NULL)
            spool->stuck = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        if (!g_hash_table_contains(spool->stuck, key)) {
            smg_log_warn("%s: queue=%s, reason=%s; cannot move it to corrupt/: %s", name, queue,
                         why, e != NULL ? e->message : g_strerror(moved_errno));
            g_hash_table_add(spool->stuck, key);
            key = NULL;
        }
    }
    g_clear_error(&e);
    g_free(key);
    g_free(dst);
    g_free(id);
    g_free(dstdir);
    g_free(src);
    g_free(srcdir);
}

enum smg_status
smg_spool_claim(struct smg_spool *spool, const char *queue, const char *id,
                struct smg_spool_msg **msg, GError **err)
{
    char *newdir, *curdir, *src, *dst;
    struct stat sb;
    int fd, stat_rc;
    enum smg_status st;

    *msg = NULL;
    if ((st = smg_spool_ensure(spool, queue, err)) != SMG_OK)
        return st;
    if (!smg_spool_valid_id(id)) {
        if (id[0] != '.')
            quarantine(spool, queue, id, "not a queue ID");
        return SMG_PERMFAIL;
    }
    newdir = smg_spool_queue_dir(spool, queue, "new");
    curdir = smg_spool_queue_dir(spool, queue, "cur");
    src = g_build_filename(newdir, id, NULL);
    dst = g_build_filename(curdir, id, NULL);
    g_free(newdir);
    g_free(curdir);
    fd = open(src, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        g_free(src);
        g_free(dst);
        if (e == ENOENT)
            return SMG_PERMFAIL;
        if (e == EMFILE || e == ENFILE || e == ENOMEM || e == EINTR || e == EIO || e == EROFS
            || ((e == EACCES || e == EPERM) && !foreign_file(spool, queue, id)))
            return io_error(err, e, "cannot open", id);
        /* this file, not the spool: a worker cannot read it (another
         * owner, a symbolic link, a folder); one such file must not stop
         * the queue */
        {
            char *why = g_strdup_printf("cannot open: %s", g_strerror(e));
            quarantine(spool, queue, id, why);
            g_free(why);
        }
        return SMG_PERMFAIL;
    }
    /* The file opened must be the file renamed: another worker may have
     * taken and finished it (and the pool handed its inode on) and a
     * repeat put a new file under the same name meanwhile. */
    errno = 0;
    stat_rc = fstat(fd, &sb);
    if (stat_rc == 0 && !S_ISREG(sb.st_mode)) {
        /* a FIFO or a device put here by hand: a read would wait for ever */
        close(fd);
        g_free(src);
        g_free(dst);
        quarantine(spool, queue, id, "not a regular file");
        return SMG_PERMFAIL;
    }
    if (stat_rc < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 || !smg_spool_is_at(&sb, src)
        || rename(src, dst) < 0) {
        int e = errno;
        close(fd);
        g_free(src);
        g_free(dst);
        if (e == EWOULDBLOCK || e == ENOENT || e == 0)
            return SMG_PERMFAIL;
        return io_error(err, e, "cannot claim", id);
    }
    if (sb.st_nlink > 1 && smg_spool_is_at(&sb, src)) {
        /* new/ID and cur/ID were one file (a move cut short between its
         * link and unlink): the rename did nothing; keep cur/ID alone */
        (void) unlink(src);
    }
    if (!smg_spool_is_at(&sb, dst)) {
        /* replaced between the check and the rename: put it back */
        if (renameat2(AT_FDCWD, dst, AT_FDCWD, src, RENAME_NOREPLACE) < 0)
            smg_log_warn("%s: left in cur/ for recovery: %s", id, g_strerror(errno));
        close(fd);
        g_free(src);
        g_free(dst);
        return SMG_PERMFAIL;
    }
    g_free(src);
    *msg = msg_new(spool, queue, id, dst, fd, &sb);
    return SMG_OK;
}

struct entry {
    char *name;
    time_t mtime;
};

/* entry_cmp - oldest first */
static gint
entry_cmp(gconstpointer a, gconstpointer b)
{
    const struct entry *x = a, *y = b;

    if (x->mtime != y->mtime)
        return x->mtime < y->mtime ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* pending_free - GDestroyNotify for a GQueue of names */
static void
pending_free(gpointer q)
{
    g_queue_free_full(q, g_free);
}

GPtrArray *
smg_spool_list(struct smg_spool *spool, const char *queue, time_t not_after,
               smg_spool_keep keep, gpointer data, GError **err)
{
    char *newdir = smg_spool_queue_dir(spool, queue, "new");
    DIR *d = opendir(newdir);
    struct dirent *de;
    GArray *entries;
    GPtrArray *names;

    if (d == NULL) {
        io_error(err, errno, "cannot read", newdir);
        g_free(newdir);
        return NULL;
    }
    g_free(newdir);
    entries = g_array_new(FALSE, FALSE, sizeof(struct entry));
    while ((de = readdir(d)) != NULL) {
        struct stat sb;
        struct entry e;

        if (de->d_name[0] == '.' || (keep != NULL && !keep(de->d_name, data)))
            continue;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0
            || !S_ISREG(sb.st_mode) || (not_after != 0 && sb.st_mtime > not_after))
            continue;
        e.name = g_strdup(de->d_name);
        e.mtime = sb.st_mtime;
        g_array_append_val(entries, e);
    }
    closedir(d);
    g_array_sort(entries, entry_cmp);
    names = g_ptr_array_new_full(entries->len, g_free);
    for (guint i = 0; i < entries->len; i++)
        g_ptr_array_add(names, g_array_index(entries, struct entry, i).name);
    g_array_free(entries, TRUE);
    return names;
}

/* scan_new - fill q with the claimable names of QUEUE/new, oldest first */
static enum smg_status
scan_new(struct smg_spool *spool, const char *queue, time_t now, GQueue *q, GError **err)
{
    GPtrArray *names = smg_spool_list(spool, queue, now, NULL, NULL, err);

    if (names == NULL)
        return SMG_TEMPFAIL;
    g_ptr_array_set_free_func(names, NULL); /* the names go to q */
    for (guint i = 0; i < names->len; i++)
        g_queue_push_tail(q, names->pdata[i]);
    g_ptr_array_free(names, TRUE);
    return SMG_OK;
}

/*
 * smg_spool_next works from the list of its last scan of new/ and scans
 * again only when that list is used up, so that draining a queue of n
 * files costs O(n) directory reads and stats, not O(n^2).  Each name is
 * checked again (still there, still not in the future) before the claim.
 */
enum smg_status
smg_spool_next(struct smg_spool *spool, const char *queue, time_t now,
               struct smg_spool_msg **msg, GError **err)
{
    char *newdir;
    GQueue *q;
    enum smg_status st = SMG_OK;
    gboolean scanned = FALSE;

    *msg = NULL;
    if ((st = smg_spool_ensure(spool, queue, err)) != SMG_OK)
        return st;
    /* the fine clock, not time(): a file's mtime may come from it (the
     * kernel's fine-grained timestamps), a little ahead of the coarse
     * second time() gives, and a message just committed at a second's
     * turn would not be ready until the next scan */
    if (now == 0)
        now = (time_t) (g_get_real_time() / G_USEC_PER_SEC);
    if (spool->pending == NULL)
        spool->pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                               pending_free);
    q = g_hash_table_lookup(spool->pending, queue);
    if (q == NULL) {
        q = g_queue_new();
        g_hash_table_insert(spool->pending, g_strdup(queue), q);
    }
    newdir = smg_spool_queue_dir(spool, queue, "new");
    while (*msg == NULL && st == SMG_OK) {
        char *name;

        if (g_queue_is_empty(q)) {
            if (scanned)
                break;
            scanned = TRUE;
            if ((st = scan_new(spool, queue, now, q, err)) != SMG_OK)
                break;
            continue;
        }
        name = g_queue_pop_head(q);
        {
            struct stat sb;
            char *path = g_build_filename(newdir, name, NULL);
            gboolean ready = lstat(path, &sb) == 0 && S_ISREG(sb.st_mode)
                             && sb.st_mtime <= now;

            g_free(path);
            if (ready) {
                st = smg_spool_claim(spool, queue, name, msg, err);
                if (st == SMG_PERMFAIL)
                    st = SMG_OK; /* taken by another worker */
            }
        }
        g_free(name);
    }
    g_free(newdir);
    return st;
}

char *
smg_spool_read(struct smg_spool_msg *msg, gsize *len, GError **err)
{
    GString *buf = g_string_sized_new(8192);
    char chunk[65536];
    off_t off = 0;

    for (;;) {
        ssize_t n = pread(msg->fd, chunk, sizeof chunk, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            io_error(err, errno, "cannot read", msg->path);
            g_string_free(buf, TRUE);
            return NULL;
        }
        if (n == 0)
            break;
        g_string_append_len(buf, chunk, n);
        off += n;
    }
    if (len != NULL)
        *len = buf->len;
    return g_string_free(buf, FALSE);
}

/*
 * move_to - move the claimed file to QUEUE/new/ID and sync both folders.
 * Where renames are not kept in order (renames_unordered) a rename could
 * reach the disk as the removal from the synchronous cur/ alone, so the
 * move is a link into new/, its sync, then the removal from cur/: a crash
 * between them leaves the file under both names, which recovery folds
 * into one.
 */
static enum smg_status
move_to(struct smg_spool_msg *msg, const char *queue, time_t mtime, const char *as,
        GError **err)
{
    struct smg_spool *spool = msg->spool;
    char *newdir, *dst, *curdir, *old = NULL;
    enum smg_status st = SMG_OK;
    int lockfd = -1;

    if ((st = smg_spool_ensure(spool, queue, err)) != SMG_OK)
        return st;
    if (mtime != 0) {
        struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
        if (futimens(msg->fd, ts) < 0)
            return io_error(err, errno, "cannot set time of", msg->path);
    }
    if (msg->recovered && strcmp(queue, msg->queue) != 0) {
        /* the next queue's workers owe it no caution */
        struct stat sb;
        if (fstat(msg->fd, &sb) == 0
            && fchmod(msg->fd, sb.st_mode & 07777 & ~SMG_SPOOL_RECOVERY_BITS) == 0)
            msg->recovered = FALSE;
    }
    newdir = smg_spool_queue_dir(spool, queue, "new");
    dst = g_build_filename(newdir, as != NULL ? as : msg->id, NULL);
    if (by_link(spool) && link(msg->path, dst) == 0) {
        old = msg->path;
    } else if (as != NULL ? renameat2(AT_FDCWD, msg->path, AT_FDCWD, dst, RENAME_NOREPLACE) < 0
                          : rename(msg->path, dst) < 0) {
        st = io_error(err, errno, "cannot move", msg->path);
        g_free(newdir);
        g_free(dst);
        return st;
    }
    /* the file now lives elsewhere; our record follows it at once, so that
     * a failed sync below does not leave the caller the old name */
    curdir = g_path_get_dirname(old != NULL ? old : msg->path);
    if (old == NULL)
        g_free(msg->path);
    msg->path = dst;
    g_free(msg->queue);
    msg->queue = g_strdup(queue);
    if (spool->batching && old != NULL && (lockfd = dup(msg->fd)) < 0) {
        /* no second descriptor for the lock: not deferred, then (below) */
        if (fsync_dir(newdir) < 0)
            st = io_error(err, errno, "cannot sync", newdir);
    } else if (spool->batching) {
        g_hash_table_add(spool->b_dirs, newdir);
        newdir = NULL;
        if (old != NULL) {
            /* removed once new/ is synced, under our lock (a worker that
             * takes the new name meanwhile must not lose it to this
             * unlink); pool_put refuses a file with two links, so it is
             * unlinked, never pooled */
            struct batch_done d = {old, lockfd};
            g_array_append_val(spool->b_done, d);
            old = NULL;
        } else {
            g_hash_table_add(spool->b_dirs, curdir);
            curdir = NULL;
        }
    } else if (spool->sync && fsync_dir(newdir) < 0) {
        st = io_error(err, errno, "cannot sync", newdir);
    } else if (spool->sync && old == NULL) {
        (void) fsync_dir(curdir);
    }
    /* a name left in cur/ (a failed sync or unlink) is folded by the next
     * claim (smg_spool_claim) */
    if (old != NULL && st == SMG_OK && unlink(old) < 0)
        smg_log_warn("cannot remove %s: %s (the next claim will)", old, g_strerror(errno));
    g_free(old);
    g_free(curdir);
    g_free(newdir);
    return st;
}

enum smg_status
smg_spool_move(struct smg_spool_msg *msg, const char *queue, time_t mtime,
               GError **err)
{
    return move_to(msg, queue, mtime, NULL, err);
}

gboolean
smg_spool_watch(struct smg_spool *spool, int ifd, const char *queue)
{
    char *dir = smg_spool_queue_dir(spool, queue, "new");
    /* a rename, a linked unnamed file (IN_CREATE), a file written in place */
    gboolean ok = inotify_add_watch(ifd, dir, IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE) >= 0;

    if (!ok)
        smg_log_warn("inotify on %s: %s; rescanning every %d ms", dir, g_strerror(errno),
                     SMG_SPOOL_RESCAN_MS);
    g_free(dir);
    return ok;
}

void
smg_spool_release(struct smg_spool_msg *msg, const char *queue)
{
    smg_spool_release_until(msg, queue, 0);
}

void
smg_spool_release_until(struct smg_spool_msg *msg, const char *queue, time_t when)
{
    GError *err = NULL;

    if (smg_spool_move(msg, queue, when, &err) != SMG_OK) {
        smg_log_warn("%s: left in cur/ for recovery: %s", msg->id, err->message);
        g_error_free(err);
    }
}

enum smg_status
smg_spool_done(struct smg_spool_msg *msg, GError **err)
{
    int e;

    if (msg->spool->batching) {
        /* after the batch's output is durable; the lock goes along */
        struct batch_done d = {g_strdup(msg->path), msg->fd};

        g_array_append_val(msg->spool->b_done, d);
        msg->fd = -1;
        return SMG_OK;
    }
    if ((e = finish(msg->spool, msg->path, &msg->fd)) != 0)
        return io_error(err, e, "cannot remove", msg->path);
    return SMG_OK;
}

enum smg_status
smg_spool_corrupt(struct smg_spool_msg *msg, const char *why, GError **err)
{
    enum smg_status st;
    char *path, *as = NULL;

    smg_log_warn("%s: queue=%s, status=corrupt, reason=%s", msg->id, msg->queue, why);
    if ((st = smg_spool_ensure(msg->spool, "corrupt", err)) != SMG_OK)
        return st;
    /* corrupt/ keeps every file: never replace one with the same ID */
    path = smg_spool_queue_dir(msg->spool, "corrupt", "new");
    for (int i = 0; i < 10; i++) {
        char *p = g_build_filename(path, as != NULL ? as : msg->id, NULL);
        gboolean taken = access(p, F_OK) == 0 || errno != ENOENT;

        g_free(p);
        if (!taken)
            break;
        g_free(as);
        as = smg_spool_new_id();
    }
    if (as != NULL)
        smg_log_warn("%s: corrupt/ has a file of that ID; this one is kept as %s", msg->id, as);
    st = move_to(msg, "corrupt", 0, as, err);
    g_free(as);
    g_free(path);
    return st;
}

void
smg_spool_msg_free(struct smg_spool_msg *msg)
{
    if (msg == NULL)
        return;
    if (msg->fd >= 0)
        close(msg->fd);
    g_free(msg->queue);
    g_free(msg->id);
    g_free(msg->path);
    g_free(msg);
}

void
smg_spool_batch_begin(struct smg_spool *spool)
{
    if (spool->batching)
        return;
    spool->batching = TRUE;
    spool->b_out = g_array_new(FALSE, FALSE, sizeof(struct batch_out));
    spool->b_done = g_array_new(FALSE, FALSE, sizeof(struct batch_done));
    spool->b_dirs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

/*
 * smg_spool_batch_end makes the batch durable in the order of a single
 * commit, once for all: the written files (fdatasync for one, syncfs(2)
 * for more: one pass of the file system's writeback instead of one per
 * file), then their renames into new/, then one fsync of every folder
 * that gained or lost an entry, and only then the removal of the finished
 * messages.  On an error nothing more is done: what is renamed stays, what
 * is not stays in tmp/ for a repeat, and the finished messages stay in
 * cur/ for recovery.
 */
enum smg_status
smg_spool_batch_end(struct smg_spool *spool, GError **err)
{
    enum smg_status st = SMG_OK;
    GHashTableIter it;
    gpointer dir;
    guint n = 0;

    if (!spool->batching)
        return SMG_OK;
    for (guint i = 0; spool->sync && st == SMG_OK && i < spool->b_out->len; i++) {
        struct batch_out *o = &g_array_index(spool->b_out, struct batch_out, i);
        int rc;

        if (o->fd < 0)
            continue;
        /* syncfs reports writeback errors since Linux 5.8 */
        rc = spool->b_out->len == 1 ? fdatasync(o->fd) : syncfs(o->fd);
        if (rc < 0)
            st = io_error(err, errno, "cannot sync", o->tmp_path);
    }
    for (; st == SMG_OK && n < spool->b_out->len; n++) {
        struct batch_out *o = &g_array_index(spool->b_out, struct batch_out, n);
        if (rename(o->tmp_path, o->new_path) < 0)
            st = io_error(err, errno, "cannot rename to", o->new_path);
    }
    g_hash_table_iter_init(&it, spool->b_dirs);
    while (st == SMG_OK && spool->sync && g_hash_table_iter_next(&it, &dir, NULL))
        if (fsync_dir(dir) < 0)
            st = io_error(err, errno, "cannot sync", dir);
    for (guint i = 0; st == SMG_OK && i < spool->b_done->len; i++) {
        struct batch_done *d = &g_array_index(spool->b_done, struct batch_done, i);
        int e = finish(spool, d->path, &d->fd);
        if (e != 0)
            smg_log_warn("cannot remove %s: %s (recovery will repeat it)", d->path,
                         g_strerror(e));
    }
    batch_drop(spool);
    return st;
}

/*
 * mark_recovered - mark the file of a dead worker, open as fd with status
 * sb, with SMG_SPOOL_RECOVERED; if it has the mark already, set its mtime
 * ahead of now, by a delay its SMG_SPOOL_REPEAT_BITS count up: g+x is one,
 * o+x two.  Returns what the log line adds.  A failure leaves the file as
 * it was: recovered, and ready at once.
 */
static const char *
mark_recovered(int fd, const struct stat *sb, time_t now)
{
    static const struct {
        int delay;
        const char *log;
    } repeat[] = {
        {SMG_SPOOL_REPEAT_S, ", again, delay=" G_STRINGIFY(SMG_SPOOL_REPEAT_S) "s"},
        {60, ", again, delay=60s"},
        {600, ", again, delay=600s"},
        {SMG_SPOOL_REPEAT_MAX_S, ", again, delay=" G_STRINGIFY(SMG_SPOOL_REPEAT_MAX_S) "s"},
    };
    mode_t mode = sb->st_mode & 07777;
    unsigned level = ((mode & S_IXGRP) ? 1u : 0u) | ((mode & S_IXOTH) ? 2u : 0u);
    unsigned next = level + 1 < G_N_ELEMENTS(repeat) ? level + 1 : level;

    if (!(mode & SMG_SPOOL_RECOVERED)) {
        (void) fchmod(fd, (mode & ~SMG_SPOOL_REPEAT_BITS) | SMG_SPOOL_RECOVERED);
        return "";
    }
    {
        time_t when = now + repeat[level].delay;
        struct timespec ts[2] = {{when, 0}, {when, 0}};

        if (sb->st_mtime >= when || futimens(fd, ts) < 0)
            return "";
        (void) fchmod(fd, (mode & ~SMG_SPOOL_REPEAT_BITS) | ((next & 1u) ? S_IXGRP : 0)
                              | ((next & 2u) ? S_IXOTH : 0));
    }
    return repeat[level].log;
}

enum smg_status
smg_spool_recover(struct smg_spool *spool, const char *queue, unsigned *moved,
                  GError **err)
{
    char *curdir, *newdir, *tmpdir;
    DIR *d;
    struct dirent *de;
    unsigned n = 0;
    enum smg_status st;
    time_t now = time(NULL);
    gboolean unordered;
    GArray *linked; /* struct batch_done: cur/ names to remove once new/ is synced */

    if (moved != NULL)
        *moved = 0;
    if ((st = smg_spool_ensure(spool, queue, err)) != SMG_OK)
        return st;
    curdir = smg_spool_queue_dir(spool, queue, "cur");
    newdir = smg_spool_queue_dir(spool, queue, "new");
    tmpdir = smg_spool_queue_dir(spool, queue, "tmp");
    d = opendir(curdir);
    if (d == NULL) {
        st = io_error(err, errno, "cannot read", curdir);
        goto out;
    }
    unordered = by_link(spool);
    linked = g_array_new(FALSE, FALSE, sizeof(struct batch_done));
    while ((de = readdir(d)) != NULL) {
        struct stat sb;
        int fd;

        if (de->d_name[0] == '.')
            continue;
        /* O_NONBLOCK: a FIFO put here by hand would wait for a writer */
        fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
            continue;
        if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
            /* no worker made it: not ours to move */
        } else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            /* its worker is alive */
        } else if (fstat(fd, &sb) < 0 || !at_name(dirfd(d), de->d_name, &sb)) {
            /* its worker moved it on (or finished it, and the pool
             * handed the inode on) and let go of it between our open and
             * our lock: no longer the dead worker's file, not ours */
        } else if (sb.st_size == 0) {
            /* emptied for the pool by a worker that died before the
             * rename (pool_put); an empty file is never a message */
            (void) unlinkat(dirfd(d), de->d_name, 0);
        } else {
            char *src = g_build_filename(curdir, de->d_name, NULL);
            char *dst = g_build_filename(newdir, de->d_name, NULL);
            struct stat cur_sb = sb;

            /* marked once it is back in new/: a move that fails leaves it
             * in cur/ as it was, and the next recovery does not count a
             * death that did not happen */
            if (unordered && link(src, dst) == 0) {
                /* cur/ is synchronous: its name goes only once new/ is
                 * synced, and under our lock (see move_to) */
                const char *again = mark_recovered(fd, &cur_sb, now);
                struct batch_done r = {src, fd};
                g_array_append_val(linked, r);
                src = NULL;
                fd = -1;
                n++;
                smg_log_info("%s: queue=%s, status=recovered%s", de->d_name, queue, again);
            } else if (fstat(fd, &sb) == 0 && smg_spool_is_at(&sb, dst)) {
                /* one file under both names (a move cut short): the name
                 * in new/ is enough */
                (void) mark_recovered(fd, &sb, now);
                (void) unlink(src);
            } else if (rename(src, dst) == 0) {
                const char *again = mark_recovered(fd, &cur_sb, now);
                n++;
                smg_log_info("%s: queue=%s, status=recovered%s", de->d_name, queue, again);
            }
            g_free(src);
            g_free(dst);
        }
        if (fd >= 0)
            close(fd);
    }
    closedir(d);
    if (n > 0 && spool->sync)
        (void) fsync_dir(newdir);
    for (guint i = 0; i < linked->len; i++) {
        struct batch_done *r = &g_array_index(linked, struct batch_done, i);
        (void) unlink(r->path);
        close(r->fd);
        g_free(r->path);
    }
    g_array_free(linked, TRUE);
    d = opendir(tmpdir);
    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            struct stat sb;
            if (de->d_name[0] != '.'
                && fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0
                && sb.st_mtime < now - 36 * 3600)
                (void) unlinkat(dirfd(d), de->d_name, 0);
        }
        closedir(d);
    }
    if (moved != NULL)
        *moved = n;
out:
    g_free(curdir);
    g_free(newdir);
    g_free(tmpdir);
    return st;
}

gint64
smg_spool_free_bytes(const struct smg_spool *spool)
{
    struct statvfs sv;

    if (statvfs(spool->dir, &sv) < 0)
        return -1;
    return (gint64) sv.f_bavail * (gint64) sv.f_frsize;
}

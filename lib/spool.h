/*
 * spool.h - maildir queues and the claim / hand-off / recovery protocol.
 *
 * The spool is a folder of maildirs, one per queue ("check", "scan", "sign",
 * "route", "send.<gw>", "deferred.<gw>", "hold", "quarantine", "corrupt"),
 * each with tmp/ new/ cur/.  A message file's name is its queue ID and never
 * changes.  The invariant (man/smg-spool.7): an accepted message is always
 * in new/ or cur/ of exactly one queue (during a rename, possibly briefly in
 * two, never in none).
 *
 * Writing: smg_spool_create opens QUEUE/tmp/ID; smg_spool_commit fsyncs the
 * file, renames it to QUEUE/new/ID and fsyncs new/.  Only after commit
 * returns SMG_OK may anyone acknowledge the message.
 *
 * Claiming: open new/ID, flock(LOCK_EX|LOCK_NB), rename to cur/ID.  The lock
 * travels with the open file and is held until smg_spool_msg_free.  A worker
 * passes the message on (a new file in the next queue, committed, then
 * cur/ID removed) or moves it unchanged (rename across).
 *
 * Recovery: smg_spool_recover moves every unlocked file of cur/ back to new/
 * (its worker died), and removes stale files from tmp/.  It marks what it
 * moves with SMG_SPOOL_RECOVERED in the file's mode; a file marked before
 * (a worker died on it twice) goes back SMG_SPOOL_REPEAT_S in the future,
 * and each further time longer, up to SMG_SPOOL_REPEAT_MAX_S.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_SPOOL_H
#define SMG_SPOOL_H 1

#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <glib.h>

#include "lib/status.h"

struct smg_spool;

/* An open file being written to QUEUE/tmp/ID (or unnamed in QUEUE/tmp/). */
struct smg_spool_file {
    struct smg_spool *spool;
    char *queue;
    char *id;
    char *tmp_path;
    int fd;
    FILE *fp;         /* buffered writer on fd; use it or fd, not both */
    int write_errno;  /* private: errno of fp's first failed write, or 0 */
    gboolean anon;    /* private: unnamed (O_TMPFILE); tmp_path is not its name */
    char *iobuf;      /* private: fp's buffer */
};

/* A claimed message: QUEUE/cur/ID, opened and locked. */
struct smg_spool_msg {
    struct smg_spool *spool;
    char *queue;
    char *id;
    char *path;       /* QUEUE/cur/ID */
    int fd;           /* open, flock'ed; read from offset 0 */
    gboolean recovered; /* a worker died holding it (SMG_SPOOL_RECOVERED) */
};

/*
 * A file recovery brought back from cur/ has the owner's execute bit, which
 * a message file has no other use for: its worker died holding it, maybe
 * of it.  A stage processes such a message in a batch of its own, so one
 * that kills its worker takes no other message with it, and recovery sends
 * one it finds marked already SMG_SPOOL_REPEAT_S into the future, behind
 * the messages that are ready, instead of in front of them for ever.  Each
 * further death sends it further (10 s, 60 s, 600 s, then 3600 s every
 * time): the group and other execute bits count them (SMG_SPOOL_REPEAT_BITS).
 * A move to another queue and the inode pool clear the mark and the count.
 */
#define SMG_SPOOL_RECOVERED S_IXUSR
#define SMG_SPOOL_REPEAT_BITS (S_IXGRP | S_IXOTH)
#define SMG_SPOOL_RECOVERY_BITS (SMG_SPOOL_RECOVERED | SMG_SPOOL_REPEAT_BITS)
#define SMG_SPOOL_REPEAT_S 10
#define SMG_SPOOL_REPEAT_MAX_S 3600

/*
 * smg_spool_open - use dir as the spool (created if missing, mode 0750).
 * sync FALSE skips fsync (tests and benchmarks only).  SMG_TEMPFAIL if the
 * folder cannot be made.
 */
enum smg_status smg_spool_open(const char *dir, gboolean sync,
                               struct smg_spool **out,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;
void smg_spool_close(struct smg_spool *spool);
const char *smg_spool_dir(const struct smg_spool *spool);

/*
 * smg_spool_open_conf - smg_spool_open with [spool] dir, sync and dirsync
 * of conf
 */
struct smg_conf;
enum smg_status smg_spool_open_conf(const struct smg_conf *conf, struct smg_spool **out,
                                    GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_spool_set_dirsync - [spool] dirsync: "auto" (the default) makes cur/
 * folders synchronous and moves link-sync-unlink on a file system that
 * writes each folder back on its own (ext2/ext4 without a journal; see
 * smg-spool(7)), "yes" on any file system, "no" never (a power cut may
 * then lose mail on such a file system, as with sync = no).  Call before
 * the first use of a queue.
 */
void smg_spool_set_dirsync(struct smg_spool *spool, const char *mode);

/* smg_spool_valid_queue - a queue name is one path component of safe
 * characters: letters, digits, ".", "-", "_", not starting with "." */
gboolean smg_spool_valid_queue(const char *q);

/* smg_spool_ensure - create QUEUE/{tmp,new,cur} if missing */
enum smg_status smg_spool_ensure(struct smg_spool *spool, const char *queue,
                                 GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_spool_queue_dir - "SPOOL/QUEUE/sub" (sub: "tmp", "new", "cur"), new string */
char *smg_spool_queue_dir(const struct smg_spool *spool, const char *queue,
                          const char *sub);

/*
 * smg_spool_new_id - a new queue ID, unique on this host: time, microseconds,
 * pid and a counter, in [0-9A-Z] only (safe in file names and log lines).
 */
char *smg_spool_new_id(void);

/* smg_spool_valid_id - whether s looks like a queue ID (no '/', no dots first) */
gboolean smg_spool_valid_id(const char *s);

/*
 * smg_spool_create - open QUEUE/tmp/ID for writing (id NULL: a new ID).
 * The caller writes through f->fp, then commits or aborts; both free f.
 */
enum smg_status smg_spool_create(struct smg_spool *spool, const char *queue,
                                 const char *id, struct smg_spool_file **f,
                                 GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_spool_commit - flush, fsync, rename to new/, fsync new/ (the order
 * that makes an acknowledgement safe).  On failure the tmp file is removed
 * and SMG_TEMPFAIL returned (the caller answers 451/452, never 250).
 * ENOSPC and EDQUOT give the DSN 4.3.1.  Frees f in every case.
 */
enum smg_status smg_spool_commit(struct smg_spool_file *f,
                                 GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_spool_abort - remove the tmp file and free f */
void smg_spool_abort(struct smg_spool_file *f);

/*
 * smg_spool_claim - claim QUEUE/new/ID.  SMG_OK and *msg on success;
 * SMG_PERMFAIL with no error set when it is gone or locked (another worker
 * has it); SMG_TEMPFAIL with err on I/O errors.
 */
enum smg_status smg_spool_claim(struct smg_spool *spool, const char *queue,
                                const char *id, struct smg_spool_msg **msg,
                                GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_spool_next - claim the oldest claimable message of QUEUE/new.
 * SMG_OK with *msg, or SMG_OK with *msg NULL when the queue is empty.
 * Only files whose mtime is not in the future (by now) are taken, so
 * deferred queues hold a message until its retry time; now 0: the clock
 * (the fine one: see spool.c).
 */
enum smg_status smg_spool_next(struct smg_spool *spool, const char *queue,
                               time_t now, struct smg_spool_msg **msg,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_spool_keep - whether a name of new/ is wanted (smg_spool_list) */
typedef gboolean (*smg_spool_keep)(const char *name, gpointer data);

/*
 * smg_spool_list - the names of the regular files in QUEUE/new (not
 * symlinks, not dot files), oldest first by mtime, then by name; with
 * not_after != 0 only those whose mtime is not after it (a deferred
 * file's mtime is its next attempt); keep, if not NULL, chooses by name.
 * NULL with err if new/ cannot be read.
 */
GPtrArray *smg_spool_list(struct smg_spool *spool, const char *queue, time_t not_after,
                          smg_spool_keep keep, gpointer data, GError **err);

/* smg_spool_read - the whole claimed file (g_free), NULL with err on error */
char *smg_spool_read(struct smg_spool_msg *msg, gsize *len, GError **err);

/*
 * smg_spool_move - move the claimed message unchanged to QUEUE/new/ID
 * (rename, fsync both folders).  mtime (if not 0) is set first (deferred
 * queues).  The lock stays with msg until smg_spool_msg_free.
 */
enum smg_status smg_spool_move(struct smg_spool_msg *msg, const char *queue,
                               time_t mtime,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_spool_done - the message's next copy is committed elsewhere: remove
 * cur/ID.  Call after smg_spool_commit of the output.
 */
enum smg_status smg_spool_done(struct smg_spool_msg *msg,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_spool_corrupt - move the claimed message to corrupt/new/ID (kept,
 * never deleted) and log why.
 */
enum smg_status smg_spool_corrupt(struct smg_spool_msg *msg, const char *why,
                                  GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_spool_batch_begin - start a batch: until smg_spool_batch_end,
 * smg_spool_commit writes its file but leaves it in tmp/, smg_spool_move
 * renames without syncing the folders, and smg_spool_done only notes the
 * message (it keeps the lock: msg->fd passes to the batch).  Nothing of
 * the batch is to be relied on before smg_spool_batch_end returns SMG_OK.
 */
void smg_spool_batch_begin(struct smg_spool *spool);

/*
 * smg_spool_batch_end - make the batch durable with one sync for all its
 * files and one per folder, then remove its finished messages (see
 * smg-spool(7), "Writers may batch durability")
 */
enum smg_status smg_spool_batch_end(struct smg_spool *spool,
                                    GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_spool_release - put a claimed message back in QUEUE/new after a
 * temporary failure; if even that fails (logged), recovery does it once
 * the lock goes with the process
 */
void smg_spool_release(struct smg_spool_msg *msg, const char *queue);

/*
 * smg_spool_release_until - the same, not to be taken again before WHEN
 * (its mtime; 0: at once), and behind the messages that are ready
 */
void smg_spool_release_until(struct smg_spool_msg *msg, const char *queue, time_t when);

/* how often a watching worker reads new/ again without an event (ms) */
#define SMG_SPOOL_RESCAN_MS 5000

/*
 * smg_spool_watch - add an inotify watch for files arriving in QUEUE/new
 * to ifd; FALSE (logged: the worker then rescans every
 * SMG_SPOOL_RESCAN_MS) if it cannot
 */
gboolean smg_spool_watch(struct smg_spool *spool, int ifd, const char *queue);

/*
 * smg_spool_is_at - whether the file whose stat result is a (taken from
 * an open descriptor) is still the one at path: the file a process opened
 * and locked may have been finished and renamed meanwhile, and with the
 * pool its inode may come back under another message's name.
 */
gboolean smg_spool_is_at(const struct stat *a, const char *path);

/* smg_spool_msg_free - close (releasing the lock) and free */
void smg_spool_msg_free(struct smg_spool_msg *msg);

/*
 * smg_spool_recover - move unlocked files of QUEUE/cur back to QUEUE/new
 * and remove files older than 36 hours from QUEUE/tmp.  Returns how many
 * were moved back in *moved (may be NULL).
 */
enum smg_status smg_spool_recover(struct smg_spool *spool, const char *queue,
                                  unsigned *moved,
                                  GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_spool_free_bytes - bytes available to an unprivileged writer on the
 * spool's file system, or -1 if unknown.
 */
gint64 smg_spool_free_bytes(const struct smg_spool *spool);

#endif

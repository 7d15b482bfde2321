/*
 * ratelimit.c - per-customer sliding-window rate limit in shared state files.
 *
 * "N messages per P seconds" is kept exactly: a customer's state file is a
 * ring of the admission times (microseconds) of its last N admitted
 * messages.  A new message is admitted if fewer than N are recorded or the
 * oldest recorded one is at least P old; it then overwrites the oldest.  So
 * no half-open interval of length P ever holds more than N admissions,
 * which a token bucket or GCRA (bursts of N, then one every P/N) would not
 * guarantee.  A take costs O(1) I/O: a header read, one or two 8-byte slot
 * reads, a slot write and a header write, all under flock(LOCK_EX) on the
 * file, opened afresh per take so that processes and threads exclude each
 * other alike.
 *
 * File layout (host byte order; the files never leave the host):
 *   header: magic "SMGRL\0\0\1", capacity, count, head, check (guint32 each)
 *   slots:  count gint64 times; the oldest at index head, in ring order.
 * While count < capacity, head is 0 and slot count is the next free one.
 * Anything inconsistent (bad magic, check, sizes, a time far in the future)
 * makes the file corrupt: it is reset with a warning and the take proceeds
 * on the empty state.  When N changes the ring is rebuilt with the newest
 * min(count, N) times.  Nothing is fsync'ed: this is soft state.
 *
 * A file not written for RL_IDLE seconds (longer than the longest period,
 * an hour) holds only expired times, the same as no file; such files are
 * removed by a sweep that the take creating a new file starts, at most
 * once per RL_SWEEP_EVERY across all processes (the mtime of the folder's
 * ".swept" marker says when the last one ran).  Without it the folder
 * grew by a file for every customer and every client address that ever
 * sent (addr:IP with auth optional: any number, from an IPv6 network).
 * The sweep removes a file only under its lock and after checking its
 * time again; a take that locked a file the sweep removed meanwhile
 * (st_nlink 0) opens it anew, so no admission is counted in a lost file.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/ratelimit.h"
#include "lib/table.h"

#define RL_MAGIC "SMGRL\0\0\1"
#define RL_CHECK_SALT 0x5a17c0deU
#define RL_MAX_NAME 200
#define RL_IDLE (2 * 3600)       /* s; the longest period is an hour */
#define RL_SWEEP_EVERY 3600      /* s */
#define RL_SWEEP_MARK ".swept"   /* no state file name starts with '.' */

struct rl_header {
    char magic[8];
    guint32 capacity;
    guint32 count;
    guint32 head;
    guint32 check;
};

#define RL_HDR ((off_t) sizeof(struct rl_header))

struct rl_limit {
    gint64 count;       /* 0: off */
    gint64 per_seconds;
};

struct smg_ratelimit {
    struct rl_limit def;  /* [recv] rate_limit */
    GHashTable *table;    /* customer -> struct rl_limit */
    char *dir;            /* state_dir/ratelimit */
    int dirfd;            /* -1 until the first take needs it */
};

/* Outcome of reading a state file. */
enum rl_read {
    RL_READ_OK = 0,
    RL_READ_CORRUPT,
    RL_READ_ERROR,
};

/* header_check - the check word of a header */
static guint32
header_check(const struct rl_header *h)
{
    return h->capacity ^ (h->count * 2654435761U) ^ (h->head << 7)
           ^ RL_CHECK_SALT;
}

/* header_init - an empty header for capacity n */
static void
header_init(struct rl_header *h, guint32 n)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, RL_MAGIC, sizeof h->magic);
    h->capacity = n;
    h->check = header_check(h);
}

/* parse_limit - parse a rate; why set on failure */
static gboolean
parse_limit(const char *text, struct rl_limit *l, char **why)
{
    if (!smg_conf_parse_rate(text, &l->count, &l->per_seconds)) {
        *why = g_strdup_printf("\"%s\" is not off or a rate (e.g. 100/min)",
                               text);
        return FALSE;
    }
    if (l->count > SMG_RATELIMIT_MAX_COUNT) {
        *why = g_strdup_printf("%s: at most %d messages per period",
                               text, SMG_RATELIMIT_MAX_COUNT);
        return FALSE;
    }
    return TRUE;
}

/* customer_ok - whether name is a printable, blank-free customer name */
static gboolean
customer_ok(const char *name)
{
    if (*name == '\0')
        return FALSE;
    for (const char *p = name; *p != '\0'; p++)
        if ((unsigned char) *p <= 0x20 || *p == 0x7f)
            return FALSE;
    return TRUE;
}

/* table_line - one line "customer limit" of the rate_limit_table file */
static enum smg_status
table_line(void *ctx, const char *path, unsigned lineno, char *customer, char *limit,
           GError **err)
{
    struct smg_ratelimit *rl = ctx;
    struct rl_limit l, *copy;
    char *why = NULL;

    if (*limit == '\0' || limit[strcspn(limit, " \t")] != '\0' || !customer_ok(customer)) {
        smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: expected \"customer limit\"", path,
                      lineno);
        return SMG_CONFIG;
    }
    if (g_hash_table_contains(rl->table, customer)) {
        smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: customer %s listed twice", path, lineno,
                      customer);
        return SMG_CONFIG;
    }
    if (!parse_limit(limit, &l, &why)) {
        smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: customer %s: %s", path, lineno, customer,
                      why);
        g_free(why);
        return SMG_CONFIG;
    }
    copy = g_new(struct rl_limit, 1);
    *copy = l;
    g_hash_table_insert(rl->table, g_strdup(customer), copy);
    return SMG_OK;
}

enum smg_status
smg_ratelimit_open(const struct smg_conf *conf, struct smg_ratelimit **out,
                   GError **err)
{
    struct smg_ratelimit *rl;
    const char *def = smg_conf_str(conf, "recv", "rate_limit");
    const char *table = smg_conf_str(conf, "recv", "rate_limit_table");
    const char *state = smg_conf_str(conf, "spool", "state_dir");
    char *why = NULL;
    enum smg_status st;

    *out = NULL;
    rl = g_new0(struct smg_ratelimit, 1);
    rl->dirfd = -1;
    rl->table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    rl->dir = g_build_filename(state != NULL ? state : ".", "ratelimit", NULL);
    if (!parse_limit(def != NULL ? def : "off", &rl->def, &why)) {
        smg_set_error(err, SMG_CONFIG, NULL, "%s: [recv] rate_limit: %s",
                      smg_conf_path(conf), why);
        g_free(why);
        smg_ratelimit_free(rl);
        return SMG_CONFIG;
    }
    if (table != NULL) {
        st = smg_table_read(table, "rate limit table", table_line, rl, err);
        if (st != SMG_OK) {
            smg_ratelimit_free(rl);
            return st;
        }
    }
    *out = rl;
    return SMG_OK;
}

void
smg_ratelimit_free(struct smg_ratelimit *rl)
{
    if (rl == NULL)
        return;
    if (rl->dirfd >= 0)
        close(rl->dirfd);
    g_hash_table_destroy(rl->table);
    g_free(rl->dir);
    g_free(rl);
}

/* find_limit - the limit of customer */
static const struct rl_limit *
find_limit(const struct smg_ratelimit *rl, const char *customer)
{
    const struct rl_limit *l = g_hash_table_lookup(rl->table, customer);

    return l != NULL ? l : &rl->def;
}

gboolean
smg_ratelimit_limit(const struct smg_ratelimit *rl, const char *customer,
                    gint64 *count, gint64 *per_seconds)
{
    const struct rl_limit *l = find_limit(rl, customer);

    if (count != NULL)
        *count = l->count;
    if (per_seconds != NULL)
        *per_seconds = l->per_seconds;
    return l->count > 0;
}

char *
smg_ratelimit_file_name(const char *customer)
{
    GString *s = g_string_new(NULL);

    for (const char *p = customer; *p != '\0'; p++) {
        unsigned char c = (unsigned char) *p;
        if (g_ascii_isalnum(c) || c == '_' || c == '-'
            || (c == '.' && p != customer))
            g_string_append_c(s, (char) c);
        else
            g_string_append_printf(s, "%%%02X", c);
    }
    if (s->len > RL_MAX_NAME || s->len == 0) {
        char *hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256,
                                                  customer, -1);
        char *name = g_strconcat("sha256-", hex, NULL);
        g_free(hex);
        g_string_free(s, TRUE);
        return name;
    }
    return g_string_free(s, FALSE);
}

/* open_dir - make and open rl->dir once */
static enum smg_status
open_dir(struct smg_ratelimit *rl, GError **err)
{
    if (rl->dirfd >= 0)
        return SMG_OK;
    if (g_mkdir_with_parents(rl->dir, 0700) < 0) {
        smg_set_error(err, SMG_TEMPFAIL, NULL, "%s: cannot create: %s",
                      rl->dir, g_strerror(errno));
        return SMG_TEMPFAIL;
    }
    rl->dirfd = open(rl->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rl->dirfd < 0) {
        smg_set_error(err, SMG_TEMPFAIL, NULL, "%s: cannot open: %s",
                      rl->dir, g_strerror(errno));
        return SMG_TEMPFAIL;
    }
    return SMG_OK;
}

/* xpread - read exactly len bytes at off; RL_READ_CORRUPT on early EOF */
static enum rl_read
xpread(int fd, void *buf, size_t len, off_t off)
{
    gssize got = smg_read_at(fd, buf, len, off);

    return got < 0 ? RL_READ_ERROR : (gsize) got < len ? RL_READ_CORRUPT : RL_READ_OK;
}

/* slot_off - file offset of ring slot i */
static off_t
slot_off(guint32 i)
{
    return RL_HDR + (off_t) i * (off_t) sizeof(gint64);
}

/* read_header - read and validate the header of fd into h */
static enum rl_read
read_header(int fd, struct rl_header *h)
{
    struct stat st;
    enum rl_read r;

    if (fstat(fd, &st) < 0)
        return RL_READ_ERROR;
    if (st.st_size == 0) {
        header_init(h, 0); /* new file; capacity fixed by the caller */
        return RL_READ_OK;
    }
    r = xpread(fd, h, sizeof *h, 0);
    if (r != RL_READ_OK)
        return r;
    if (memcmp(h->magic, RL_MAGIC, sizeof h->magic) != 0
        || h->check != header_check(h)
        || h->capacity == 0 || h->capacity > SMG_RATELIMIT_MAX_COUNT
        || h->count > h->capacity
        || h->head >= h->capacity
        || (h->count < h->capacity && h->head != 0)
        || st.st_size < slot_off(h->count))
        return RL_READ_CORRUPT;
    return RL_READ_OK;
}

/* reset - empty the state in fd for capacity n */
static gboolean
reset(int fd, struct rl_header *h, guint32 n)
{
    header_init(h, n);
    return ftruncate(fd, RL_HDR) == 0 && smg_write_at(fd, h, sizeof *h, 0);
}

/*
 * resize - rebuild the ring for capacity n, keeping the newest times.
 * RL_READ_CORRUPT if the slots cannot be read back.
 */
static enum rl_read
resize(int fd, struct rl_header *h, guint32 n)
{
    guint32 keep = MIN(h->count, n);
    gint64 *t = g_new(gint64, h->count > 0 ? h->count : 1);
    gint64 *ordered = g_new(gint64, keep > 0 ? keep : 1);
    enum rl_read r = RL_READ_OK;

    if (h->count > 0)
        r = xpread(fd, t, (size_t) h->count * sizeof *t, RL_HDR);
    if (r == RL_READ_OK) {
        /* Oldest first: t[head], t[head+1], ...; keep the last "keep". */
        for (guint32 i = 0; i < keep; i++)
            ordered[i] = t[(h->head + h->count - keep + i) % h->capacity];
        header_init(h, n);
        h->count = keep;
        h->check = header_check(h);
        if (ftruncate(fd, slot_off(keep)) < 0
            || !smg_write_at(fd, ordered, (size_t) keep * sizeof *ordered, RL_HDR)
            || !smg_write_at(fd, h, sizeof *h, 0))
            r = RL_READ_ERROR;
    }
    g_free(t);
    g_free(ordered);
    return r;
}

/*
 * take_locked - the decision on the locked file fd.  RL_READ_CORRUPT means
 * the state must be reset and the take tried again; RL_READ_ERROR: errno.
 */
static enum rl_read
take_locked(int fd, const struct rl_limit *l, gint64 now, gboolean *allowed)
{
    struct rl_header h;
    guint32 n = (guint32) l->count;
    gint64 period = l->per_seconds * G_USEC_PER_SEC;
    gint64 oldest = 0;
    gint64 newest = 0;
    guint32 slot;
    enum rl_read r;

    r = read_header(fd, &h);
    if (r != RL_READ_OK)
        return r;
    if (h.capacity == 0) {
        h.capacity = n; /* fresh file */
        h.check = header_check(&h);
    } else if (h.capacity != n) {
        r = resize(fd, &h, n);
        if (r != RL_READ_OK)
            return r;
    }
    if (h.count > 0) {
        r = xpread(fd, &oldest, sizeof oldest, slot_off(h.head));
        if (r == RL_READ_OK)
            r = xpread(fd, &newest, sizeof newest,
                       slot_off((h.head + h.count - 1) % h.capacity));
        if (r != RL_READ_OK)
            return r;
        /* A clock far back, or garbage: the times cannot be trusted. */
        if (oldest > now + period || newest > now + period || oldest < 0
            || newest < 0)
            return RL_READ_CORRUPT;
    }
    if (h.count < h.capacity) {
        slot = h.count++;
    } else if (oldest <= now - period) {
        slot = h.head;
        h.head = (h.head + 1) % h.capacity;
    } else {
        *allowed = FALSE;
        return RL_READ_OK;
    }
    h.check = header_check(&h);
    /* Slot first: a crash in between loses one count, never corrupts. */
    if (!smg_write_at(fd, &now, sizeof now, slot_off(slot))
        || !smg_write_at(fd, &h, sizeof h, 0))
        return RL_READ_ERROR;
    *allowed = TRUE;
    return RL_READ_OK;
}

/* idle - whether st is a state file not written for RL_IDLE seconds */
static gboolean
idle(const struct stat *st, time_t now)
{
    return S_ISREG(st->st_mode) && st->st_nlink > 0 && st->st_mtime < now - RL_IDLE;
}

/*
 * sweep - remove the idle state files, unless another process swept less
 * than RL_SWEEP_EVERY ago or is sweeping now; errors only skip a file
 */
static void
sweep(struct smg_ratelimit *rl)
{
    time_t now = time(NULL);
    struct stat st;
    struct dirent *de;
    DIR *d;
    int mark, dfd;
    guint removed = 0;

    mark = openat(rl->dirfd, RL_SWEEP_MARK,
                  O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (mark < 0)
        return;
    /* a marker from the future (the clock went back) does not stop it */
    if (flock(mark, LOCK_EX | LOCK_NB) < 0 || fstat(mark, &st) < 0
        || (st.st_mtime > now - RL_SWEEP_EVERY && st.st_mtime <= now + RL_SWEEP_EVERY)
        || futimens(mark, NULL) < 0) {
        close(mark);
        return;
    }
    dfd = openat(rl->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (d == NULL) {
        if (dfd >= 0)
            close(dfd);
        close(mark);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        int fd;

        if (de->d_name[0] == '.'
            || fstatat(rl->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
            || !idle(&st, now))
            continue;
        fd = openat(rl->dirfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            continue;
        /* busy: a take is at it, so it is not idle any more */
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 && idle(&st, now)
            && unlinkat(rl->dirfd, de->d_name, 0) == 0)
            removed++;
        close(fd);
    }
    closedir(d);
    close(mark);
    if (removed > 0)
        smg_log_info("rate limit: removed %u state file%s idle for %d s from %s", removed,
                     removed == 1 ? "" : "s", RL_IDLE, rl->dir);
}

/*
 * open_locked - open and lock the state file name, made if missing;
 * *fresh says it was empty (new).  -1 with err on failure.
 */
static int
open_locked(struct smg_ratelimit *rl, const char *name, gboolean *fresh, GError **err)
{
    struct stat st;
    gboolean reopened = FALSE;

    for (;;) {
        int fd = openat(rl->dirfd, name,
                        O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);

        if (fd < 0 && errno == ENOENT && !reopened) {
            /* the folder was removed since it was opened (an operator
             * resetting every customer): a worker of the pool, which keeps
             * rl for many sessions, would refuse all mail until it ends */
            close(rl->dirfd);
            rl->dirfd = -1;
            if (open_dir(rl, err) != SMG_OK)
                return -1;
            reopened = TRUE;
            continue;
        }
        if (fd < 0) {
            smg_set_error(err, SMG_TEMPFAIL, NULL, "%s/%s: cannot open: %s", rl->dir, name,
                          g_strerror(errno));
            return -1;
        }
        while (flock(fd, LOCK_EX) < 0) {
            if (errno == EINTR)
                continue;
            smg_set_error(err, SMG_TEMPFAIL, NULL, "%s/%s: flock: %s", rl->dir, name,
                          g_strerror(errno));
            close(fd);
            return -1;
        }
        if (fstat(fd, &st) < 0) {
            smg_set_error(err, SMG_TEMPFAIL, NULL, "%s/%s: fstat: %s", rl->dir, name,
                          g_strerror(errno));
            close(fd);
            return -1;
        }
        if (st.st_nlink > 0) {
            *fresh = st.st_size == 0;
            return fd;
        }
        close(fd); /* swept while this waited for the lock: open it anew */
    }
}

enum smg_status
smg_ratelimit_take(struct smg_ratelimit *rl, const char *customer,
                   gint64 now_us, gboolean *allowed, GError **err)
{
    const struct rl_limit *l;
    char *name;
    int fd;
    enum rl_read r;
    struct rl_header h;
    enum smg_status st;
    gboolean fresh = FALSE;
    int e = 0;

    *allowed = FALSE;
    if (*customer == '\0') {
        smg_set_error(err, SMG_BUG, NULL, "rate limit: empty customer name");
        return SMG_BUG;
    }
    l = find_limit(rl, customer);
    if (l->count == 0) {
        *allowed = TRUE;
        return SMG_OK;
    }
    if (now_us <= 0)
        now_us = g_get_real_time();
    st = open_dir(rl, err);
    if (st != SMG_OK)
        return st;
    name = smg_ratelimit_file_name(customer);
    fd = open_locked(rl, name, &fresh, err);
    if (fd < 0) {
        g_free(name);
        return SMG_TEMPFAIL;
    }
    r = take_locked(fd, l, now_us, allowed);
    e = errno;
    if (r == RL_READ_CORRUPT) {
        smg_log_warn("rate limit state %s/%s is corrupt; reset", rl->dir,
                     name);
        if (!reset(fd, &h, (guint32) l->count)) {
            r = RL_READ_ERROR;
            e = errno;
        } else {
            r = take_locked(fd, l, now_us, allowed);
            e = errno;
        }
    }
    if (r != RL_READ_OK) {
        /* A second CORRUPT right after a reset is an I/O problem too. */
        smg_set_error(err, SMG_TEMPFAIL, NULL, "%s/%s: %s", rl->dir, name,
                      r == RL_READ_ERROR ? g_strerror(e)
                                         : "state unreadable after reset");
        *allowed = FALSE;
        g_free(name);
        close(fd); /* releases the lock */
        return SMG_TEMPFAIL;
    }
    g_free(name);
    close(fd);
    if (fresh)
        sweep(rl);
    return SMG_OK;
}

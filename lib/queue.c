/*
 * queue.c - the operator's view of the spool: list, show, hold, release,
 * requeue and delete (see queue.h and smg-queue(8)).
 *
 * Reading opens files read-only and takes no lock, so that a listing can
 * never make a worker skip a message.  Only the envelope is read for a
 * listing (up to the first line that is not an SMG-* field), so a spool of
 * large messages lists quickly.
 *
 * Changes go through the claim protocol of lib/spool: claim (flock, rename
 * into cur/), write the changed file to the next queue's tmp/ and commit
 * it, then remove cur/ID; or rename across when the content stays.  The
 * envelope is changed as text (one SMG-Held line added or removed, the
 * SMG-Queue-ID line replaced), so every other byte of the file stays as
 * it was.  A refused request puts a claimed message back where it was, with
 * its mtime (a deferred message keeps its retry time).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h> /* autoconf's, not lib/config.h */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/envelope.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/queue.h"

#define HEAD_MAX (16 * 1024 * 1024) /* never read more for an envelope */
#define CLAIM_TRIES 10              /* a message may move while we look */
#define TEXT_RCPTS 5                /* recipients shown per line in text */

struct smg_queue {
    struct smg_spool *spool;
    char *dir;
    char **gateways; /* known gateway names; NULL: any */
    time_t now;
};

/* Queues with one maildir each, in the order of the pipeline. */
static const char *const single_queues[] = {
    "check", "scan", "sign", "route", "hold", "quarantine", "corrupt", NULL,
};

/* ---- small helpers ----------------------------------------------------- */

/* now_of - the handle's clock */
static time_t
now_of(const struct smg_queue *q)
{
    return q->now != 0 ? q->now : time(NULL);
}

/* iso_time - "2026-11-22T05:00:00Z" (new string) */
static char *
iso_time(time_t t)
{
    GDateTime *dt = g_date_time_new_from_unix_utc((gint64) t);
    char *s;

    if (dt == NULL)
        return g_strdup("1970-01-01T00:00:00Z");
    s = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
    g_date_time_unref(dt);
    return s;
}

/* parse_iso - RFC 3339 time to epoch seconds; 0 if it cannot be parsed */
static time_t
parse_iso(const char *s)
{
    GDateTime *dt;
    time_t t;

    if (s == NULL)
        return 0;
    dt = g_date_time_new_from_iso8601(s, NULL);
    if (dt == NULL)
        return 0;
    t = (time_t) g_date_time_to_unix(dt);
    g_date_time_unref(dt);
    return t;
}

/* queue_rank - position of a queue name in listings */
static int
queue_rank(const char *name)
{
    static const struct {
        const char *name;
        int rank;
    } fixed[] = {{"check", 0},      {"scan", 1},    {"sign", 2},
                 {"route", 3},      {"hold", 6},    {"quarantine", 7},
                 {"corrupt", 8}};

    for (unsigned i = 0; i < G_N_ELEMENTS(fixed); i++)
        if (strcmp(name, fixed[i].name) == 0)
            return fixed[i].rank;
    if (g_str_has_prefix(name, "send."))
        return 4;
    if (g_str_has_prefix(name, "deferred."))
        return 5;
    return 9;
}

/* name_cmp - GPtrArray sort by rank, then name */
static gint
name_cmp(gconstpointer a, gconstpointer b)
{
    const char *x = *(char *const *) a, *y = *(char *const *) b;
    int rx = queue_rank(x), ry = queue_rank(y);

    if (rx != ry)
        return rx < ry ? -1 : 1;
    return strcmp(x, y);
}

/* valid_name - one safe path component (the rule of lib/spool), at most
 * 128 octets */
static gboolean
valid_name(const char *s)
{
    return smg_spool_valid_queue(s) && strlen(s) <= 128;
}

/* path_in - "SPOOL/QUEUE/SUB/ID" (new string) */
static char *
path_in(const struct smg_queue *q, const char *queue, const char *sub,
        const char *id)
{
    return g_build_filename(q->dir, queue, sub, id, NULL);
}

/* is_file - whether path is a regular file (not following a symlink) */
static gboolean
is_file(const char *path)
{
    struct stat sb;

    return lstat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/*
 * read_fd - fd from its offset 0 (new string, NUL-terminated, length in
 * *len): all of it, or with head only up to the first whole line after
 * the envelope; never much more than limit bytes
 */
static char *
read_fd(int fd, gsize limit, gboolean head, gsize *len, GError **err,
        const char *path)
{
    GString *buf = g_string_sized_new(head ? 4096 : 65536);
    char chunk[65536];
    gsize scan = 0; /* start of the first line not yet looked at */

    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "cannot read %s: %s", path,
                          g_strerror(errno));
            g_string_free(buf, TRUE);
            return NULL;
        }
        if (n == 0)
            break;
        g_string_append_len(buf, chunk, n);
        if (buf->len >= limit)
            break;
        if (!head)
            continue;
        /* stop after the first whole line that ends the envelope */
        for (;;) {
            const char *line = buf->str + scan;
            const char *nl = memchr(line, '\n', buf->len - scan);
            gsize linelen;

            if (nl == NULL)
                break;
            linelen = (gsize) (nl - line);
            if ((linelen >= 4 && g_ascii_strncasecmp(line, "SMG-", 4) == 0)
                || (scan > 0 && linelen > 0 && (line[0] == ' ' || line[0] == '\t'))) {
                scan += linelen + 1;
                continue;
            }
            goto done;
        }
    }
done:
    *len = buf->len;
    return g_string_free(buf, FALSE);
}

/* rcpt_list - the addresses of env's recipients (new array of new strings) */
static GPtrArray *
rcpt_list(const struct smg_envelope *env)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; env != NULL && i < env->rcpts->len; i++) {
        const struct smg_rcpt *r = env->rcpts->pdata[i];
        g_ptr_array_add(a, g_strdup(r->addr));
    }
    return a;
}

void
smg_queue_entry_free(struct smg_queue_entry *e)
{
    if (e == NULL)
        return;
    g_free(e->queue);
    g_free(e->id);
    g_free(e->path);
    g_free(e->sender);
    if (e->rcpts != NULL)
        g_ptr_array_free(e->rcpts, TRUE);
    g_free(e->last_error);
    g_free(e->held);
    g_free(e->problem);
    g_free(e);
}

/* entry_free - GDestroyNotify for entries */
static void
entry_free(gpointer p)
{
    smg_queue_entry_free(p);
}

/*
 * entry_read - the entry of QUEUE/SUB/ID: stat and envelope (the whole
 * file too when content is not NULL).  FALSE with errno ENOENT when it is
 * not (or no longer) a regular file there; FALSE with err on other errors.
 */
static gboolean
entry_read(const struct smg_queue *q, const char *queue, const char *sub,
           const char *id, struct smg_queue_entry **out, char **content,
           gsize *content_len, GError **err)
{
    char *path = path_in(q, queue, sub, id);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct smg_queue_entry *e;
    struct stat sb;
    struct smg_envelope *env = NULL;
    GError *perr = NULL;
    gsize len = 0, off = 0;
    char *buf;

    if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        int e0 = fd < 0 ? errno : ENOENT;

        if (fd >= 0)
            close(fd);
        if (e0 != ENOENT && e0 != ELOOP)
            smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "cannot open %s: %s", path,
                          g_strerror(e0));
        g_free(path);
        errno = e0 == ELOOP ? ENOENT : e0;
        return FALSE;
    }
    buf = read_fd(fd, content != NULL ? G_MAXSIZE : HEAD_MAX, content == NULL,
                  &len, err, path);
    close(fd);
    if (buf == NULL) {
        g_free(path);
        errno = EIO;
        return FALSE;
    }
    /* Read without a lock, so the file may have moved on meanwhile; a
     * finished file's inode goes to the spool's pool, emptied, and may
     * already hold another message.  What was read counts only if the
     * name still leads to the inode read, at the size it had (a finished
     * file is emptied before its name goes).  An empty file is never a
     * message (a finished one on its way to the pool). */
    {
        struct stat now;

        if (lstat(path, &now) < 0 || now.st_dev != sb.st_dev || now.st_ino != sb.st_ino
            || now.st_size != sb.st_size || sb.st_size == 0 || len == 0) {
            g_free(buf);
            g_free(path);
            errno = ENOENT;
            return FALSE;
        }
    }
    e = g_new0(struct smg_queue_entry, 1);
    e->queue = g_strdup(queue);
    e->id = g_strdup(id);
    e->path = path;
    e->active = strcmp(sub, "cur") == 0;
    e->mtime = sb.st_mtime;
    e->size = (gint64) sb.st_size;
    if (smg_envelope_parse(buf, len, &env, &off, &perr) == SMG_OK) {
        const char *delivery = smg_envelope_get(env, "Delivery");
        const char *held = smg_envelope_get(env, "Held");

        e->arrival = parse_iso(smg_envelope_get(env, "Arrival"));
        e->sender = g_strdup(env->sender);
        e->rcpts = rcpt_list(env);
        if (delivery != NULL)
            e->last_error = smg_envelope_param(delivery, "last");
        e->held = g_strdup(held);
        if (env->sender == NULL && env->rcpts->len == 0)
            e->problem = g_strdup("no envelope (no SMG-Sender, no SMG-Recipient)");
    } else {
        e->rcpts = g_ptr_array_new_with_free_func(g_free);
        e->problem = g_strdup(perr->message);
        g_clear_error(&perr);
    }
    if (e->arrival == 0)
        e->arrival = sb.st_ctime;
    smg_envelope_free(env);
    if (content != NULL) {
        *content = buf;
        *content_len = len;
    } else {
        g_free(buf);
    }
    *out = e;
    return TRUE;
}

/* ---- opening ----------------------------------------------------------- */

enum smg_status
smg_queue_open_dir(const char *dir, gboolean sync, const char *const *gateways,
                   struct smg_queue **out, GError **err)
{
    struct smg_queue *q;
    struct stat sb;
    enum smg_status st;

    *out = NULL;
    if (stat(dir, &sb) < 0) {
        smg_set_error(err, SMG_CONFIG, NULL, "spool %s: %s", dir, g_strerror(errno));
        return SMG_CONFIG;
    }
    if (!S_ISDIR(sb.st_mode)) {
        smg_set_error(err, SMG_CONFIG, NULL, "spool %s: not a folder", dir);
        return SMG_CONFIG;
    }
    q = g_new0(struct smg_queue, 1);
    st = smg_spool_open(dir, sync, &q->spool, err);
    if (st != SMG_OK) {
        g_free(q);
        return st;
    }
    q->dir = g_strdup(dir);
    q->gateways = gateways != NULL ? g_strdupv((char **) gateways) : NULL;
    *out = q;
    return SMG_OK;
}

enum smg_status
smg_queue_open(const struct smg_conf *conf, struct smg_queue **out, GError **err)
{
    char **gw = smg_conf_gateways(conf);
    enum smg_status st;

    /* no [gateway] group at all (a node that does not deliver): any name */
    st = smg_queue_open_dir(smg_conf_str(conf, "spool", "dir"),
                            smg_conf_bool(conf, "spool", "sync"),
                            gw != NULL && gw[0] != NULL ? (const char *const *) gw
                                                        : NULL,
                            out, err);
    if (st == SMG_OK)
        smg_spool_set_dirsync((*out)->spool, smg_conf_str(conf, "spool", "dirsync"));
    g_strfreev(gw);
    return st;
}

void
smg_queue_close(struct smg_queue *q)
{
    if (q == NULL)
        return;
    smg_spool_close(q->spool);
    g_strfreev(q->gateways);
    g_free(q->dir);
    g_free(q);
}

void
smg_queue_set_now(struct smg_queue *q, time_t now)
{
    q->now = now;
}

/* ---- reading ----------------------------------------------------------- */

GPtrArray *
smg_queue_names(struct smg_queue *q)
{
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    DIR *d = opendir(q->dir);
    struct dirent *de;

    while (d != NULL && (de = readdir(d)) != NULL) {
        char *newdir;

        if (!valid_name(de->d_name))
            continue;
        newdir = g_build_filename(q->dir, de->d_name, "new", NULL);
        if (g_file_test(newdir, G_FILE_TEST_IS_DIR))
            g_ptr_array_add(names, g_strdup(de->d_name));
        g_free(newdir);
    }
    if (d != NULL)
        closedir(d);
    for (unsigned i = 0; single_queues[i] != NULL; i++) {
        gboolean have = FALSE;

        for (guint j = 0; j < names->len && !have; j++)
            have = strcmp(names->pdata[j], single_queues[i]) == 0;
        if (!have)
            g_ptr_array_add(names, g_strdup(single_queues[i]));
    }
    g_ptr_array_sort(names, name_cmp);
    return names;
}

/* entry_cmp - oldest first: arrival, then ID */
static gint
entry_cmp(gconstpointer a, gconstpointer b)
{
    const struct smg_queue_entry *x = *(struct smg_queue_entry *const *) a;
    const struct smg_queue_entry *y = *(struct smg_queue_entry *const *) b;

    if (x->arrival != y->arrival)
        return x->arrival < y->arrival ? -1 : 1;
    return strcmp(x->id, y->id);
}

enum smg_status
smg_queue_scan(struct smg_queue *q, const char *queue, GPtrArray **entries,
               GError **err)
{
    static const char *const subs[] = {"new", "cur"};
    GPtrArray *a = g_ptr_array_new_with_free_func(entry_free);

    *entries = NULL;
    if (!valid_name(queue)) {
        smg_set_error(err, SMG_PERMFAIL, "5.1.0", "no queue \"%s\"", queue);
        g_ptr_array_free(a, TRUE);
        return SMG_PERMFAIL;
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(subs); i++) {
        char *dir = g_build_filename(q->dir, queue, subs[i], NULL);
        DIR *d = opendir(dir);
        struct dirent *de;

        if (d == NULL) {
            int e = errno;

            if (e == ENOENT) {
                g_free(dir);
                continue;
            }
            smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "cannot read %s: %s", dir,
                          g_strerror(e));
            g_free(dir);
            g_ptr_array_free(a, TRUE);
            return SMG_TEMPFAIL;
        }
        while ((de = readdir(d)) != NULL) {
            struct smg_queue_entry *e = NULL;
            GError *rerr = NULL;

            if (!valid_name(de->d_name))
                continue;
            if (entry_read(q, queue, subs[i], de->d_name, &e, NULL, NULL, &rerr)) {
                g_ptr_array_add(a, e);
            } else if (rerr != NULL) {
                /* one unreadable file does not hide the rest of the queue */
                smg_log_warn("%s: queue=%s, status=unreadable, reason=%s",
                             de->d_name, queue, rerr->message);
                g_clear_error(&rerr);
            }
        }
        closedir(d);
        g_free(dir);
    }
    g_ptr_array_sort(a, entry_cmp);
    *entries = a;
    return SMG_OK;
}

/*
 * drop_leftover - remove QUEUE/cur/ID if no worker holds it: a worker
 * that died after handing the message on, before removing its input
 * (recovery would repeat that step, and the message would go out twice)
 */
static void
drop_leftover(struct smg_queue *q, const char *queue, const char *id, const char *ahead)
{
    char *p = path_in(q, queue, "cur", id);
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat sb;

    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &sb) == 0
        && smg_spool_is_at(&sb, p) && unlink(p) == 0)
        smg_log_warn("%s: queue=%s, status=removed, reason=a dead worker's leftover "
                     "(the message is in %s)",
                     id, queue, ahead);
    if (fd >= 0)
        close(fd);
    g_free(p);
}

/*
 * locate - the queue (new string) and sub ("new" or "cur") that hold id.
 * Where there are more copies, one in a new/ is the message and copies in
 * a cur/ are what a worker (or smg-queue) that died after handing it on
 * left behind; with tidy, the unlocked ones are removed (drop_leftover).
 * Of several copies in new/ the one furthest along the listing order is
 * taken; with only cur/ copies, the first.  An empty file in cur/ (a
 * finished file on its way to the pool) is no copy.  FALSE if no queue
 * holds id.
 */
static gboolean
locate(struct smg_queue *q, const char *id, gboolean tidy, char **queue, const char **sub)
{
    GPtrArray *names = smg_queue_names(q);
    GPtrArray *curs = g_ptr_array_new(); /* queues with a cur/ copy */
    const char *in_new = NULL;
    gboolean found;

    for (guint i = 0; i < names->len; i++) {
        static const char *const subs[] = {"new", "cur"};

        for (unsigned j = 0; j < G_N_ELEMENTS(subs); j++) {
            char *p = path_in(q, names->pdata[i], subs[j], id);
            struct stat sb;

            if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && (j == 0 || sb.st_size > 0)) {
                if (j == 0)
                    in_new = names->pdata[i];
                else
                    g_ptr_array_add(curs, names->pdata[i]);
            }
            g_free(p);
        }
    }
    if (in_new != NULL) {
        *queue = g_strdup(in_new);
        *sub = "new";
        for (guint i = 0; tidy && i < curs->len; i++)
            drop_leftover(q, curs->pdata[i], id, in_new);
    } else if (curs->len > 0) {
        *queue = g_strdup(curs->pdata[0]);
        *sub = "cur";
    }
    found = in_new != NULL || curs->len > 0;
    g_ptr_array_free(curs, TRUE);
    g_ptr_array_free(names, TRUE);
    return found;
}

/* not_found - set err for an ID that no queue holds */
static enum smg_status
not_found(GError **err)
{
    smg_set_error(err, SMG_PERMFAIL, "5.1.0", "no such message in the spool");
    return SMG_PERMFAIL;
}

enum smg_status
smg_queue_find(struct smg_queue *q, const char *id, struct smg_queue_entry **e,
               char **content, gsize *len, GError **err)
{
    *e = NULL;
    if (content != NULL)
        *content = NULL;
    if (!smg_spool_valid_id(id))
        return not_found(err);
    for (unsigned tries = 0; tries < CLAIM_TRIES; tries++) {
        char *queue = NULL;
        const char *sub = NULL;
        gsize dummy;
        gboolean ok;

        if (!locate(q, id, FALSE, &queue, &sub))
            break;
        ok = entry_read(q, queue, sub, id, e, content, len != NULL ? len : &dummy,
                        err);
        g_free(queue);
        if (ok)
            return SMG_OK;
        if (errno != ENOENT)
            return SMG_TEMPFAIL; /* err is set */
        /* it moved on while we looked: look again */
    }
    return not_found(err);
}

/* ---- output ------------------------------------------------------------ */

/* json_time - append t as an ISO string, or null for 0 */
static void
json_time(GString *out, time_t t)
{
    char *s;

    if (t == 0) {
        g_string_append(out, "null");
        return;
    }
    s = iso_time(t);
    smg_json_string(out, s);
    g_free(s);
}

void
smg_queue_entry_json(struct smg_queue *q, const struct smg_queue_entry *e,
                     const char *content, gsize len, GString *out)
{
    time_t now = now_of(q);

    g_string_append(out, "{\"id\": ");
    smg_json_string(out, e->id);
    g_string_append(out, ", \"queue\": ");
    smg_json_string(out, e->queue);
    g_string_append_printf(out, ", \"state\": \"%s\", \"path\": ",
                           e->active ? "active" : "queued");
    smg_json_string(out, e->path);
    g_string_append_printf(out, ", \"size\": %" G_GINT64_FORMAT ", \"arrival\": ",
                           e->size);
    json_time(out, e->arrival);
    g_string_append_printf(out, ", \"age\": %" G_GINT64_FORMAT ", \"mtime\": ",
                           (gint64) (now > e->arrival ? now - e->arrival : 0));
    json_time(out, e->mtime);
    g_string_append(out, ", \"sender\": ");
    smg_json_string(out, e->sender);
    g_string_append(out, ", \"recipients\": [");
    for (guint i = 0; i < e->rcpts->len; i++) {
        if (i > 0)
            g_string_append(out, ", ");
        smg_json_string(out, e->rcpts->pdata[i]);
    }
    g_string_append(out, "], \"last_error\": ");
    smg_json_string(out, e->last_error);
    g_string_append(out, ", \"next_attempt\": ");
    if (g_str_has_prefix(e->queue, "deferred."))
        json_time(out, e->mtime);
    else
        g_string_append(out, "null");
    g_string_append(out, ", \"held\": ");
    smg_json_string(out, e->held);
    g_string_append(out, ", \"problem\": ");
    smg_json_string(out, e->problem);
    if (content != NULL) {
        if (g_utf8_validate(content, (gssize) len, NULL)
            && memchr(content, '\0', len) == NULL) {
            g_string_append(out, ", \"content\": ");
            smg_json_string(out, content);
        } else {
            char *b64 = g_base64_encode((const guchar *) content, len);

            g_string_append_printf(out, ", \"content_base64\": \"%s\"", b64);
            g_free(b64);
        }
    }
    g_string_append_c(out, '}');
}

/* span - "45s", "12m", "3h", "2d" */
static void
append_span(GString *out, gint64 s)
{
    if (s < 0)
        s = 0;
    if (s < 120)
        g_string_append_printf(out, "%" G_GINT64_FORMAT "s", s);
    else if (s < 2 * 3600)
        g_string_append_printf(out, "%" G_GINT64_FORMAT "m", s / 60);
    else if (s < 2 * 86400)
        g_string_append_printf(out, "%" G_GINT64_FORMAT "h", s / 3600);
    else
        g_string_append_printf(out, "%" G_GINT64_FORMAT "d", s / 86400);
}

/* entry_text - one message of the text listing */
static void
entry_text(struct smg_queue *q, const struct smg_queue_entry *e, GString *out)
{
    time_t now = now_of(q);

    g_string_append_printf(out, "  %s  age=", e->id);
    append_span(out, (gint64) (now - e->arrival));
    g_string_append_printf(out, "  size=%" G_GINT64_FORMAT "  from=<", e->size);
    smg_log_append_shown(out, e->sender != NULL ? e->sender : "?");
    g_string_append(out, ">  to=");
    for (guint i = 0; i < e->rcpts->len && i < TEXT_RCPTS; i++) {
        g_string_append(out, i > 0 ? ",<" : "<");
        smg_log_append_shown(out, e->rcpts->pdata[i]);
        g_string_append_c(out, '>');
    }
    if (e->rcpts->len > TEXT_RCPTS)
        g_string_append_printf(out, ",... (%u recipients)", e->rcpts->len);
    if (e->rcpts->len == 0)
        g_string_append(out, "none");
    g_string_append_c(out, '\n');
    if (e->last_error != NULL) {
        g_string_append(out, "      last error: ");
        smg_log_append_shown(out, e->last_error);
        g_string_append_c(out, '\n');
    }
    if (g_str_has_prefix(e->queue, "deferred.")) {
        char *t = iso_time(e->mtime);

        g_string_append_printf(out, "      next attempt: %s (", t);
        if (e->mtime > now) {
            g_string_append(out, "in ");
            append_span(out, (gint64) (e->mtime - now));
        } else {
            g_string_append(out, "due");
        }
        g_string_append(out, ")\n");
        g_free(t);
    }
    if (e->held != NULL) {
        g_string_append(out, "      held: ");
        smg_log_append_shown(out, e->held);
        g_string_append_c(out, '\n');
    }
    if (e->active)
        g_string_append(out, "      active: claimed by a worker\n");
    if (e->problem != NULL) {
        g_string_append(out, "      problem: ");
        smg_log_append_shown(out, e->problem);
        g_string_append_c(out, '\n');
    }
}

enum smg_status
smg_queue_list_text(struct smg_queue *q, GPtrArray *queues, GString *out,
                    GError **err)
{
    GPtrArray *names = queues != NULL ? g_ptr_array_ref(queues) : smg_queue_names(q);
    guint total = 0, nonempty = 0;
    enum smg_status st = SMG_OK;

    for (guint i = 0; i < names->len && st == SMG_OK; i++) {
        GPtrArray *entries;

        st = smg_queue_scan(q, names->pdata[i], &entries, err);
        if (st != SMG_OK)
            break;
        if (entries->len > 0) {
            g_string_append_printf(out, "%s: %u message%s\n",
                                   (const char *) names->pdata[i], entries->len,
                                   entries->len == 1 ? "" : "s");
            for (guint j = 0; j < entries->len; j++)
                entry_text(q, entries->pdata[j], out);
            total += entries->len;
            nonempty++;
        }
        g_ptr_array_free(entries, TRUE);
    }
    if (st == SMG_OK)
        g_string_append_printf(out, "total: %u message%s in %u queue%s\n", total,
                               total == 1 ? "" : "s", nonempty,
                               nonempty == 1 ? "" : "s");
    g_ptr_array_unref(names);
    return st;
}

enum smg_status
smg_queue_list_json(struct smg_queue *q, GPtrArray *queues, GString *out,
                    GError **err)
{
    GPtrArray *names = queues != NULL ? g_ptr_array_ref(queues) : smg_queue_names(q);
    GString *body = g_string_new(NULL);
    guint total = 0;
    enum smg_status st = SMG_OK;

    g_string_append(body, "{\"queues\": [");
    for (guint i = 0; i < names->len; i++) {
        GPtrArray *entries;

        st = smg_queue_scan(q, names->pdata[i], &entries, err);
        if (st != SMG_OK)
            break;
        g_string_append(body, i > 0 ? ",\n  {\"name\": " : "\n  {\"name\": ");
        smg_json_string(body, names->pdata[i]);
        g_string_append_printf(body, ", \"count\": %u, \"messages\": [", entries->len);
        for (guint j = 0; j < entries->len; j++) {
            g_string_append(body, j > 0 ? ",\n    " : "\n    ");
            smg_queue_entry_json(q, entries->pdata[j], NULL, 0, body);
        }
        g_string_append(body, "]}");
        total += entries->len;
        g_ptr_array_free(entries, TRUE);
    }
    if (st == SMG_OK) {
        g_string_append_printf(body, "\n], \"total\": %u}\n", total);
        g_string_append_len(out, body->str, (gssize) body->len);
    }
    g_string_free(body, TRUE);
    g_ptr_array_unref(names);
    return st;
}

/* ---- changing ---------------------------------------------------------- */

void
smg_queue_result_clear(struct smg_queue_result *res)
{
    g_free(res->from);
    g_free(res->to);
    memset(res, 0, sizeof *res);
}

int
smg_queue_exit(enum smg_status st, const struct smg_queue_result *res)
{
    switch (res->outcome) {
    case SMG_QUEUE_DONE: return st == SMG_OK ? 0 : smg_status_exit(st);
    case SMG_QUEUE_NOTFOUND: return 1;
    case SMG_QUEUE_BUSY: return 75;
    case SMG_QUEUE_REFUSED: return 64;
    case SMG_QUEUE_ERROR: break;
    }
    return st == SMG_OK ? 70 : smg_status_exit(st);
}

/*
 * finish - set the outcome, log the request's one line and return its
 * status.  err holds the reason when the outcome is not DONE.
 */
static enum smg_status
finish(const char *id, const char *action, struct smg_queue_result *res,
       enum smg_queue_outcome outcome, enum smg_status st, GError **err)
{
    static const char *const names[] = {"done", "notfound", "busy", "refused",
                                        "error"};

    res->outcome = outcome;
    if (outcome == SMG_QUEUE_DONE) {
        smg_log_info("%s: action=%s, from=%s, to=%s, status=done", id, action,
                     res->from != NULL ? res->from : "none",
                     res->to != NULL ? res->to : "none");
        return SMG_OK;
    }
    smg_log_warn("%s: action=%s, from=%s, status=%s, reason=%s", id, action,
                 res->from != NULL ? res->from : "none", names[outcome],
                 err != NULL && *err != NULL ? (*err)->message : "-");
    return st;
}

/* refuse - a REFUSED outcome with its reason */
static enum smg_status G_GNUC_PRINTF(5, 6)
refuse(const char *id, const char *action, struct smg_queue_result *res,
       GError **err, const char *fmt, ...)
{
    va_list ap;
    char *why;
    GError *local = NULL;
    enum smg_status st;

    va_start(ap, fmt);
    why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    smg_set_error(&local, SMG_PERMFAIL, "5.0.0", "%s", why);
    g_free(why);
    st = finish(id, action, res, SMG_QUEUE_REFUSED, SMG_PERMFAIL, &local);
    g_propagate_error(err, local);
    return st;
}

/* failed - an outcome other than DONE or REFUSED, with err already set */
static enum smg_status
failed(const char *id, const char *action, struct smg_queue_result *res,
       enum smg_queue_outcome outcome, enum smg_status st, GError **err)
{
    GError *local = NULL;

    if (err == NULL || *err == NULL) {
        smg_set_error(&local, st, NULL, "%s failed", action);
        err = &local;
    }
    st = finish(id, action, res, outcome, st, err);
    if (local != NULL)
        g_error_free(local);
    return st;
}

/*
 * take_cur - take over QUEUE/cur/ID when its lock is free (its worker
 * died): open, flock, and check that the file is still cur/ID.  DONE with
 * *msg, BUSY when locked, NOTFOUND when it moved (look again), ERROR with
 * err.
 */
static enum smg_queue_outcome
take_cur(struct smg_queue *q, const char *queue, const char *id,
         struct smg_spool_msg **msg, GError **err)
{
    char *path = path_in(q, queue, "cur", id);
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    struct stat a;
    struct smg_spool_msg *m;

    if (fd < 0) {
        int e = errno;

        if (e == ENOENT) {
            g_free(path);
            return SMG_QUEUE_NOTFOUND;
        }
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "cannot open %s: %s", path,
                      g_strerror(e));
        g_free(path);
        return SMG_QUEUE_ERROR;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;

        close(fd);
        if (e == EWOULDBLOCK) {
            g_free(path);
            return SMG_QUEUE_BUSY;
        }
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "cannot lock %s: %s", path,
                      g_strerror(e));
        g_free(path);
        return SMG_QUEUE_ERROR;
    }
    /* the worker may have moved or removed it just before letting go */
    if (fstat(fd, &a) < 0 || !smg_spool_is_at(&a, path)) {
        close(fd);
        g_free(path);
        return SMG_QUEUE_NOTFOUND;
    }
    /* the claimed-message record of lib/spool, as smg_spool_claim makes it */
    m = g_new0(struct smg_spool_msg, 1);
    m->spool = q->spool;
    m->queue = g_strdup(queue);
    m->id = g_strdup(id);
    m->path = path;
    m->fd = fd;
    *msg = m;
    return SMG_QUEUE_DONE;
}

/*
 * claim - find and claim id like a worker would: QUEUE/new/ID with
 * smg_spool_claim, or a QUEUE/cur/ID that no worker holds.  DONE with
 * *msg (its queue in (*msg)->queue); NOTFOUND; BUSY when a worker holds
 * it; ERROR with err.  *where is the queue last seen (new string or NULL).
 */
static enum smg_queue_outcome
claim(struct smg_queue *q, const char *id, struct smg_spool_msg **msg,
      char **where, GError **err)
{
    *msg = NULL;
    *where = NULL;
    if (!smg_spool_valid_id(id))
        return SMG_QUEUE_NOTFOUND;
    for (unsigned tries = 0; tries < CLAIM_TRIES; tries++) {
        char *queue = NULL;
        const char *sub = NULL;
        enum smg_queue_outcome o;

        if (!locate(q, id, TRUE, &queue, &sub))
            return SMG_QUEUE_NOTFOUND;
        g_free(*where);
        *where = queue;
        if (strcmp(sub, "new") == 0) {
            enum smg_status st;
            char *p = path_in(q, queue, "new", id);
            gboolean still;

            /* smg_spool_claim sets a file its caller may not open aside in
             * corrupt/, so that one such file does not stop a worker's
             * queue; here the fault is ours (run as a user without the
             * workers' rights), never the message's */
            if (faccessat(AT_FDCWD, p, R_OK | W_OK, AT_EACCESS) < 0 && errno != ENOENT) {
                smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "cannot open %s: %s", p,
                              g_strerror(errno));
                g_free(p);
                return SMG_QUEUE_ERROR;
            }
            g_free(p);
            st = smg_spool_claim(q->spool, queue, id, msg, err);
            if (st == SMG_OK)
                return SMG_QUEUE_DONE;
            if (st != SMG_PERMFAIL)
                return SMG_QUEUE_ERROR;
            /* gone (look again) or locked by a worker about to take it */
            p = path_in(q, queue, "new", id);
            still = is_file(p);
            g_free(p);
            if (still)
                return SMG_QUEUE_BUSY;
            continue;
        }
        o = take_cur(q, queue, id, msg, err);
        if (o != SMG_QUEUE_NOTFOUND)
            return o;
    }
    return SMG_QUEUE_BUSY; /* it keeps moving: a worker is at it */
}

/*
 * put_back - return a claimed message to new/ of the queue it was claimed
 * from, unchanged (mtime too); if even that fails, the next worker's
 * recovery does it once our lock is gone.
 */
static void
put_back(struct smg_spool_msg *msg)
{
    GError *err = NULL;
    char *queue = g_strdup(msg->queue);

    if (smg_spool_move(msg, queue, 0, &err) != SMG_OK) {
        smg_log_warn("%s: left in %s/cur for recovery: %s", msg->id, queue,
                     err->message);
        g_error_free(err);
    }
    g_free(queue);
}

/* misfit - why action does not fit a message in queue (new string), or NULL */
static char *
misfit(const char *action, const char *queue, gboolean force)
{
    if (strcmp(action, "hold") == 0) {
        if (strcmp(queue, "hold") == 0 || strcmp(queue, "quarantine") == 0
            || strcmp(queue, "corrupt") == 0)
            return g_strdup_printf("it is in %s/, which is not processed", queue);
    } else if (strcmp(action, "release") == 0) {
        if (strcmp(queue, "hold") != 0)
            return g_strdup_printf("it is not held (it is in %s/)", queue);
    } else if (strcmp(action, "requeue") == 0) {
        if (!g_str_has_prefix(queue, "deferred."))
            return g_strdup_printf("it is not deferred (it is in %s/)%s", queue,
                                   strcmp(queue, "hold") == 0 ? "; use release"
                                                              : "");
    } else if (strcmp(action, "delete") == 0) {
        if (strcmp(queue, "corrupt") == 0 && !force)
            return g_strdup("corrupt files are kept; delete with --force");
    }
    return NULL;
}

/*
 * begin - claim id for action; on success *msg is claimed and res->from
 * set.  Otherwise the request is finished (logged) and its status is in
 * *st.  A request that does not fit where the message is (misfit) is
 * refused before the claim, and again after it (the message may have
 * moved in between; then it is put back).
 */
static gboolean
begin(struct smg_queue *q, const char *id, const char *action, gboolean force,
      struct smg_queue_result *res, struct smg_spool_msg **msg,
      enum smg_status *st, GError **err)
{
    char *where = NULL, *why;
    const char *sub;
    GError *local = NULL;
    enum smg_queue_outcome o;

    memset(res, 0, sizeof *res);
    *msg = NULL;
    if (smg_spool_valid_id(id) && locate(q, id, FALSE, &where, &sub)
        && (why = misfit(action, where, force)) != NULL) {
        res->from = where;
        *st = refuse(id, action, res, err, "%s", why);
        g_free(why);
        return FALSE;
    }
    g_free(where);
    o = claim(q, id, msg, &where, &local);
    res->from = where;
    switch (o) {
    case SMG_QUEUE_DONE:
        g_free(res->from);
        res->from = g_strdup((*msg)->queue);
        why = misfit(action, res->from, force);
        if (why == NULL)
            return TRUE;
        put_back(*msg);
        smg_spool_msg_free(*msg);
        *msg = NULL;
        *st = refuse(id, action, res, err, "%s", why);
        g_free(why);
        return FALSE;
    case SMG_QUEUE_NOTFOUND:
        not_found(&local);
        *st = finish(id, action, res, o, SMG_PERMFAIL, &local);
        break;
    case SMG_QUEUE_BUSY:
        smg_set_error(&local, SMG_TEMPFAIL, "4.2.0",
                      "busy: a worker is processing it; try again");
        *st = finish(id, action, res, o, SMG_TEMPFAIL, &local);
        break;
    default:
        *st = failed(id, action, res, SMG_QUEUE_ERROR, smg_error_status(local),
                     &local);
        break;
    }
    g_propagate_error(err, local);
    return FALSE;
}

/* read_claimed - the claimed file and its envelope; FALSE with err */
static gboolean
read_claimed(struct smg_spool_msg *msg, char **buf, gsize *len,
             struct smg_envelope **env, gsize *off, GError **err)
{
    *buf = smg_spool_read(msg, len, err);
    if (*buf == NULL)
        return FALSE;
    if (smg_envelope_parse(*buf, *len, env, off, err) != SMG_OK) {
        g_free(*buf);
        *buf = NULL;
        return FALSE;
    }
    return TRUE;
}

/*
 * envelope_edit - buf with the envelope (buf[0..off)) changed as text:
 * every SMG-Held field (with its continuation lines) removed, the
 * SMG-Queue-ID line replaced by one naming new_id (when not NULL), and
 * add (a whole "SMG-Name: value" without the newline; may be NULL)
 * appended to the envelope.  New GString.
 */
static GString *
envelope_edit(const char *buf, gsize len, gsize off, const char *new_id,
              const char *add)
{
    GString *out = g_string_sized_new(len + 128);
    gsize pos = 0;
    gboolean skipping = FALSE;

    while (pos < off) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', off - pos);
        gsize n = nl != NULL ? (gsize) (nl - line) + 1 : off - pos;
        gboolean cont = line[0] == ' ' || line[0] == '\t';

        if (cont && skipping) {
            pos += n;
            continue;
        }
        skipping = FALSE;
        if (!cont && n >= 9 && g_ascii_strncasecmp(line, "SMG-Held:", 9) == 0) {
            skipping = TRUE;
        } else if (!cont && new_id != NULL && n >= 13
                   && g_ascii_strncasecmp(line, "SMG-Queue-ID:", 13) == 0) {
            g_string_append_printf(out, "SMG-Queue-ID: %s\n", new_id);
            skipping = TRUE; /* drop its continuation lines too */
        } else {
            g_string_append_len(out, line, (gssize) n);
        }
        pos += n;
    }
    if (out->len > 0 && out->str[out->len - 1] != '\n')
        g_string_append_c(out, '\n');
    if (add != NULL)
        g_string_append_printf(out, "%s\n", add);
    g_string_append_len(out, buf + off, (gssize) (len - off));
    return out;
}

/*
 * hand_on - commit content as DEST/new/ID, then remove the claimed file
 * (or, with content NULL, rename it across with mtime).  SMG_OK, or an
 * error with the message put back.
 */
static enum smg_status
hand_on(struct smg_queue *q, struct smg_spool_msg *msg, const char *dest,
        const GString *content, time_t mtime, GError **err)
{
    struct smg_spool_file *f;
    enum smg_status st;

    if (content == NULL) {
        st = smg_spool_move(msg, dest, mtime, err);
        if (st != SMG_OK)
            put_back(msg);
        return st;
    }
    st = smg_spool_create(q->spool, dest, msg->id, &f, err);
    if (st == SMG_OK) {
        fwrite(content->str, 1, content->len, f->fp);
        st = smg_spool_commit(f, err);
    }
    if (st != SMG_OK) {
        put_back(msg);
        return st;
    }
    /* from here on the message is in dest: a crash now repeats, never loses */
    return smg_spool_done(msg, err);
}

/* is_stage_queue - check, scan, sign or route */
static gboolean
is_stage_queue(const char *name)
{
    return strcmp(name, "check") == 0 || strcmp(name, "scan") == 0
           || strcmp(name, "sign") == 0 || strcmp(name, "route") == 0;
}

/*
 * gateway_queue - whether name is PREFIX.GW for a known gateway (any valid
 * name when the configuration names none); *why says what is wrong
 */
static gboolean
gateway_queue(const struct smg_queue *q, const char *name, const char *prefix,
              const char **why)
{
    const char *gw;

    if (!g_str_has_prefix(name, prefix))
        return FALSE;
    gw = name + strlen(prefix);
    if (!valid_name(name) || *gw == '\0') {
        *why = "not a queue name";
        return FALSE;
    }
    if (q->gateways != NULL && !g_strv_contains((const char *const *) q->gateways, gw)) {
        *why = "no such gateway in the configuration";
        return FALSE;
    }
    return TRUE;
}

/*
 * release_dest - where a message may be released to: a stage queue,
 * send.GW or deferred.GW of a known gateway.  NULL with *why otherwise.
 */
static gboolean
release_dest(const struct smg_queue *q, const char *name, const char **why)
{
    *why = "not a queue a message can be released to (check, scan, sign, "
           "route, send.GATEWAY, deferred.GATEWAY)";
    if (!valid_name(name))
        return FALSE;
    return is_stage_queue(name) || gateway_queue(q, name, "send.", why)
           || gateway_queue(q, name, "deferred.", why);
}

/*
 * origin - where a held message goes back to (new string), or NULL with
 * *why: SMG-Held from= (deferred.GW: send.GW); else, for mail smg-send
 * held (SMG-Delivery with held=), send.GW of its SMG-Delivery gateway=, or
 * of its SMG-Route gateway=.
 */
static char *
origin(const struct smg_envelope *env, const char **why)
{
    const char *held = smg_envelope_get(env, "Held");
    const char *delivery = smg_envelope_get(env, "Delivery");
    char *from, *gw, *dest = NULL;

    if (held != NULL) {
        from = smg_envelope_param(held, "from");
        if (from == NULL) {
            *why = "SMG-Held has no from=";
            return NULL;
        }
        if (g_str_has_prefix(from, "deferred."))
            dest = g_strconcat("send.", from + strlen("deferred."), NULL);
        else
            dest = g_strdup(from);
        g_free(from);
        return dest;
    }
    if (delivery != NULL && (from = smg_envelope_param(delivery, "held")) != NULL) {
        const char *route = smg_envelope_get(env, "Route");

        g_free(from);
        gw = smg_envelope_param(delivery, "gateway");
        if (gw == NULL && route != NULL)
            gw = smg_envelope_param(route, "gateway");
        if (gw == NULL) {
            *why = "held by smg-send but no gateway is named";
            return NULL;
        }
        dest = g_strconcat("send.", gw, NULL);
        g_free(gw);
        return dest;
    }
    *why = "no SMG-Held field and not held by smg-send: origin unknown; "
           "name the destination (--to QUEUE)";
    return NULL;
}

enum smg_status
smg_queue_hold(struct smg_queue *q, const char *id, struct smg_queue_result *res,
               GError **err)
{
    static const char action[] = "hold";
    struct smg_spool_msg *msg;
    struct smg_envelope *env = NULL;
    GError *local = NULL;
    enum smg_status st = SMG_OK;
    char *buf = NULL, *at, *field;
    gsize len = 0, off = 0;
    GString *content;

    if (!begin(q, id, action, FALSE, res, &msg, &st, err))
        return st;
    if (!read_claimed(msg, &buf, &len, &env, &off, &local)) {
        put_back(msg);
        smg_spool_msg_free(msg);
        if (smg_error_status(local) == SMG_PERMFAIL) {
            st = refuse(id, action, res, err, "cannot record where it came from: %s",
                        local->message);
            g_error_free(local);
            return st;
        }
        st = failed(id, action, res, SMG_QUEUE_ERROR, smg_error_status(local), &local);
        g_propagate_error(err, local);
        return st;
    }
    at = iso_time(now_of(q));
    field = g_strdup_printf("SMG-Held: from=%s at=%s by=operator", msg->queue, at);
    content = envelope_edit(buf, len, off, NULL, field);
    st = hand_on(q, msg, "hold", content, 0, &local);
    if (st == SMG_OK) {
        res->to = g_strdup("hold");
        st = finish(id, action, res, SMG_QUEUE_DONE, SMG_OK, NULL);
    } else {
        st = failed(id, action, res, SMG_QUEUE_ERROR, st, &local);
        g_propagate_error(err, local);
    }
    g_string_free(content, TRUE);
    g_free(field);
    g_free(at);
    g_free(buf);
    smg_envelope_free(env);
    smg_spool_msg_free(msg);
    return st;
}

enum smg_status
smg_queue_release(struct smg_queue *q, const char *id, const char *to,
                  struct smg_queue_result *res, GError **err)
{
    static const char action[] = "release";
    struct smg_spool_msg *msg;
    struct smg_envelope *env = NULL;
    GError *local = NULL;
    enum smg_status st = SMG_OK;
    char *buf = NULL, *dest = NULL;
    const char *why = NULL;
    gsize len = 0, off = 0;
    GString *content = NULL;
    gboolean fix_id;

    if (to != NULL && !release_dest(q, to, &why)) {
        memset(res, 0, sizeof *res);
        return refuse(id, action, res, err, "cannot release to %s: %s", to, why);
    }
    if (!begin(q, id, action, FALSE, res, &msg, &st, err))
        return st;
    if (!read_claimed(msg, &buf, &len, &env, &off, &local)) {
        put_back(msg);
        smg_spool_msg_free(msg);
        if (smg_error_status(local) == SMG_PERMFAIL) {
            st = refuse(id, action, res, err, "%s", local->message);
            g_error_free(local);
            return st;
        }
        st = failed(id, action, res, SMG_QUEUE_ERROR, smg_error_status(local), &local);
        g_propagate_error(err, local);
        return st;
    }
    dest = to != NULL ? g_strdup(to) : origin(env, &why);
    if (dest == NULL || (to == NULL && !release_dest(q, dest, &why))) {
        put_back(msg);
        st = refuse(id, action, res, err, "%s%s%s", dest != NULL ? dest : "",
                    dest != NULL ? ": " : "", why);
        goto out;
    }
    /* a held part of a message (smg-send's ID+T+n) carries the original ID */
    fix_id = env->queue_id != NULL && strcmp(env->queue_id, id) != 0;
    if (smg_envelope_get(env, "Held") != NULL || fix_id)
        content = envelope_edit(buf, len, off, fix_id ? id : NULL, NULL);
    st = hand_on(q, msg, dest, content, 0, &local);
    if (st == SMG_OK) {
        res->to = g_strdup(dest);
        st = finish(id, action, res, SMG_QUEUE_DONE, SMG_OK, NULL);
    } else {
        st = failed(id, action, res, SMG_QUEUE_ERROR, st, &local);
        g_propagate_error(err, local);
    }
out:
    if (content != NULL)
        g_string_free(content, TRUE);
    g_free(dest);
    g_free(buf);
    smg_envelope_free(env);
    smg_spool_msg_free(msg);
    return st;
}

enum smg_status
smg_queue_requeue(struct smg_queue *q, const char *id, struct smg_queue_result *res,
                  GError **err)
{
    static const char action[] = "requeue";
    struct smg_spool_msg *msg;
    GError *local = NULL;
    enum smg_status st = SMG_OK;
    char *dest;

    if (!begin(q, id, action, FALSE, res, &msg, &st, err))
        return st;
    dest = g_strconcat("send.", msg->queue + strlen("deferred."), NULL);
    {
        const char *why;
        /* a gateway taken out of the configuration: no worker serves its
         * send.GW, and route/ chooses one of the gateways there are */
        if (!gateway_queue(q, dest, "send.", &why)) {
            g_free(dest);
            dest = g_strdup("route");
        }
    }
    st = hand_on(q, msg, dest, NULL, now_of(q), &local);
    if (st == SMG_OK) {
        res->to = g_strdup(dest);
        st = finish(id, action, res, SMG_QUEUE_DONE, SMG_OK, NULL);
    } else {
        st = failed(id, action, res, SMG_QUEUE_ERROR, st, &local);
        g_propagate_error(err, local);
    }
    g_free(dest);
    smg_spool_msg_free(msg);
    return st;
}

enum smg_status
smg_queue_delete(struct smg_queue *q, const char *id, gboolean force,
                 struct smg_queue_result *res, GError **err)
{
    static const char action[] = "delete";
    struct smg_spool_msg *msg;
    GError *local = NULL;
    enum smg_status st = SMG_OK;

    if (!begin(q, id, action, force, res, &msg, &st, err))
        return st;
    st = smg_spool_done(msg, &local);
    if (st == SMG_OK) {
        st = finish(id, action, res, SMG_QUEUE_DONE, SMG_OK, NULL);
    } else {
        put_back(msg);
        st = failed(id, action, res, SMG_QUEUE_ERROR, st, &local);
        g_propagate_error(err, local);
    }
    smg_spool_msg_free(msg);
    return st;
}

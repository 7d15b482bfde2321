/*
 * spool-t.c - unit tests for lib/spool: queue IDs, create/commit/abort,
 * claim, next, move, done, corrupt, recover, the inode pool, batches and a
 * full file system.
 *
 * The protocol is tested across processes where it matters: IDs made by a
 * forked child differ from the parent's, a claim held by one process cannot
 * be taken by another (flock), and recovery leaves alone a cur/ file whose
 * worker is alive.  A full file system is a 64 KiB tmpfs mounted in a
 * private mount namespace of a child process (we run as root in CI); where
 * that is not allowed, the child says so and the test fails rather than
 * skips.  A file-size rlimit provokes a second kind of write error.
 *
 * Forked children report through pipes and leave with _exit, so that only
 * the parent writes TAP.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/spool.h"
#include "t/tap/basic.h"

static char *top; /* the test's temporary folder */

/*
 * flock - the spool's flock(2), with a hook run once before the next call:
 * what another worker does between recovery's open of a file in cur/ and
 * its lock
 */
static void (*before_flock)(void);

int
flock(int fd, int op)
{
    void (*hook)(void) = before_flock;

    before_flock = NULL;
    if (hook != NULL)
        hook();
    return (int) syscall(SYS_flock, fd, op);
}

/* path_of - "SPOOL/QUEUE/SUB/ID" (new string) */
static char *
path_of(struct smg_spool *sp, const char *queue, const char *sub, const char *id)
{
    char *d = smg_spool_queue_dir(sp, queue, sub);
    char *p = g_build_filename(d, id, NULL);

    g_free(d);
    return p;
}

/* count - how many entries (not . or ..) QUEUE/SUB has; -1 if unreadable */
static int
count(struct smg_spool *sp, const char *queue, const char *sub)
{
    char *d = smg_spool_queue_dir(sp, queue, sub);
    GDir *dir = g_dir_open(d, 0, NULL);
    int n = 0;

    g_free(d);
    if (dir == NULL)
        return -1;
    while (g_dir_read_name(dir) != NULL)
        n++;
    g_dir_close(dir);
    return n;
}

/* exists - whether QUEUE/SUB/ID exists */
static gboolean
exists(struct smg_spool *sp, const char *queue, const char *sub, const char *id)
{
    char *p = path_of(sp, queue, sub, id);
    gboolean r = g_file_test(p, G_FILE_TEST_EXISTS);

    g_free(p);
    return r;
}

/* slurp - the content of QUEUE/SUB/ID, or NULL */
static char *
slurp(struct smg_spool *sp, const char *queue, const char *sub, const char *id)
{
    char *p = path_of(sp, queue, sub, id);
    char *text = NULL;

    if (!g_file_get_contents(p, &text, NULL, NULL))
        text = NULL;
    g_free(p);
    return text;
}

/* put - create, write text and commit QUEUE/new/ID; returns the ID */
static char *
put(struct smg_spool *sp, const char *queue, const char *id, const char *text)
{
    struct smg_spool_file *f = NULL;
    GError *err = NULL;
    char *out;

    if (smg_spool_create(sp, queue, id, &f, &err) != SMG_OK)
        bail("create: %s", err->message);
    fputs(text, f->fp);
    out = g_strdup(f->id);
    if (smg_spool_commit(f, &err) != SMG_OK)
        bail("commit: %s", err->message);
    return out;
}

/* set_mtime - set the mtime of QUEUE/SUB/ID */
static void
set_mtime(struct smg_spool *sp, const char *queue, const char *sub,
          const char *id, time_t t)
{
    char *p = path_of(sp, queue, sub, id);
    struct timespec ts[2] = {{t, 0}, {t, 0}};

    if (utimensat(AT_FDCWD, p, ts, 0) < 0)
        bail("utimensat %s: %s", p, strerror(errno));
    g_free(p);
}

/* open_spool - a spool in a new subfolder of top */
static struct smg_spool *
open_spool(const char *name, gboolean sync)
{
    char *dir = g_build_filename(top, name, NULL);
    struct smg_spool *sp = NULL;
    GError *err = NULL;

    if (smg_spool_open(dir, sync, &sp, &err) != SMG_OK)
        bail("open %s: %s", dir, err->message);
    g_free(dir);
    return sp;
}

/* id_chars_ok - an ID of [0-9A-Z] only */
static gboolean
id_chars_ok(const char *id)
{
    for (const char *p = id; *p != '\0'; p++)
        if (!g_ascii_isdigit(*p) && !g_ascii_isupper(*p))
            return FALSE;
    return *id != '\0';
}

/* test_ids - new IDs are unique, valid, also across a fork */
static void
test_ids(void)
{
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    gboolean valid = TRUE, unique = TRUE;
    int fds[2];
    pid_t pid;
    int status = 0;
    unsigned dups = 0, got = 0;
    FILE *in;
    char line[256];

    for (unsigned i = 0; i < 100000; i++) {
        char *id = smg_spool_new_id();
        if (!smg_spool_valid_id(id) || !id_chars_ok(id))
            valid = FALSE;
        if (!g_hash_table_add(seen, id))
            unique = FALSE;
    }
    ok(unique, "100000 new IDs are unique");
    ok(valid, "new IDs are valid and [0-9A-Z] only");

    /* a child and the parent make IDs at the same time, from the same state */
    if (pipe(fds) < 0)
        bail("pipe");
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        bail("fork");
    if (pid == 0) {
        FILE *out = fdopen(fds[1], "w");
        close(fds[0]);
        for (unsigned i = 0; i < 20000; i++) {
            char *id = smg_spool_new_id();
            fprintf(out, "%s\n", id);
            g_free(id);
        }
        fclose(out);
        _exit(0);
    }
    close(fds[1]);
    for (unsigned i = 0; i < 20000; i++)
        if (!g_hash_table_add(seen, smg_spool_new_id()))
            dups++;
    in = fdopen(fds[0], "r");
    while (fgets(line, sizeof line, in) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        got++;
        if (!smg_spool_valid_id(line)
            || !g_hash_table_add(seen, g_strdup(line)))
            dups++;
    }
    fclose(in);
    waitpid(pid, &status, 0);
    is_int(20000, got, "the child made 20000 IDs");
    is_int(0, dups, "no ID of the child equals one of the parent");
    g_hash_table_destroy(seen);

    ok(smg_spool_valid_id("1A2B3C"), "valid_id: plain");
    ok(smg_spool_valid_id("a.b-c_d"), "valid_id: dots, dashes, underscores");
    ok(!smg_spool_valid_id(""), "valid_id: empty");
    ok(!smg_spool_valid_id(NULL), "valid_id: NULL");
    ok(!smg_spool_valid_id(".hidden"), "valid_id: dot first");
    ok(!smg_spool_valid_id(".."), "valid_id: ..");
    ok(!smg_spool_valid_id("a/b"), "valid_id: slash");
    ok(!smg_spool_valid_id("a b"), "valid_id: space");
    ok(!smg_spool_valid_id("a\nb"), "valid_id: newline");
    {
        char *longid = g_strnfill(129, 'A');
        char *maxid = g_strnfill(128, 'A');
        ok(!smg_spool_valid_id(longid), "valid_id: 129 characters");
        ok(smg_spool_valid_id(maxid), "valid_id: 128 characters");
        g_free(longid);
        g_free(maxid);
    }
}

/* test_open - opening, ensuring queues, bad names */
static void
test_open(void)
{
    struct smg_spool *sp = NULL;
    GError *err = NULL;
    char *dir = g_build_filename(top, "a", "b", "spool", NULL);
    char *file = g_build_filename(top, "plainfile", NULL);
    char *under = g_build_filename(file, "spool", NULL);
    char *d;
    struct smg_spool_file *f = NULL;

    is_int(SMG_OK, smg_spool_open(dir, TRUE, &sp, &err),
           "open makes missing parents");
    is_string(dir, smg_spool_dir(sp), "smg_spool_dir");
    is_int(SMG_OK, smg_spool_ensure(sp, "send.mta01", &err), "ensure send.mta01");
    d = smg_spool_queue_dir(sp, "send.mta01", "cur");
    ok(g_file_test(d, G_FILE_TEST_IS_DIR), "ensure made cur/");
    g_free(d);
    ok(count(sp, "send.mta01", "tmp") == 0 && count(sp, "send.mta01", "new") == 0,
       "ensure made tmp/ and new/");
    is_int(SMG_BUG, smg_spool_ensure(sp, "../etc", &err), "queue ../etc: SMG_BUG");
    ok(err != NULL && strstr(err->message, "bad queue name") != NULL,
       "bad queue name reported");
    g_clear_error(&err);
    is_int(SMG_BUG, smg_spool_ensure(sp, "a/b", &err), "queue a/b: SMG_BUG");
    g_clear_error(&err);
    is_int(SMG_BUG, smg_spool_ensure(sp, "", &err), "empty queue: SMG_BUG");
    g_clear_error(&err);
    is_int(SMG_BUG, smg_spool_create(sp, "check", "../x", &f, &err),
           "create with a bad ID: SMG_BUG");
    ok(f == NULL, "no file for a bad ID");
    g_clear_error(&err);
    ok(smg_spool_free_bytes(sp) > 0, "free_bytes is known");
    smg_spool_close(sp);
    smg_spool_close(NULL);

    test_write_file(file, "x");
    sp = NULL;
    is_int(SMG_TEMPFAIL, smg_spool_open(under, TRUE, &sp, &err),
           "spool under a plain file: SMG_TEMPFAIL");
    ok(sp == NULL && err != NULL && g_str_has_prefix(err->message, "4.3.0 "),
       "error has DSN 4.3.0");
    g_clear_error(&err);
    g_free(under);
    g_free(file);
    g_free(dir);
}

/* test_write - create, commit, abort */
/* have_tmpfile - whether QUEUE/tmp of sp takes O_TMPFILE files */
static gboolean
have_tmpfile(struct smg_spool *sp, const char *queue)
{
    char *d = smg_spool_queue_dir(sp, queue, "tmp");
    int fd = open(d, O_WRONLY | O_TMPFILE | O_CLOEXEC, 0600);

    g_free(d);
    if (fd < 0)
        return FALSE;
    close(fd);
    return TRUE;
}

static void
test_write(void)
{
    struct smg_spool *sp = open_spool("write", TRUE);
    struct smg_spool_file *f = NULL;
    GError *err = NULL;
    char *id, *text, *p;
    char evbuf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct stat sb;
    int ifd;

    /* this process's first new message, in another queue: the spool's
     * probe for unnamed files (a dot name linked in that queue's new/)
     * is behind it, so the events below are check/'s own */
    g_free(put(sp, "other", NULL, "first\n"));
    /* the watch a stage worker keeps on new/ */
    ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ifd < 0 || smg_spool_ensure(sp, "check", &err) != SMG_OK || !smg_spool_watch(sp, ifd, "check"))
        bail("inotify watch on check/new");
    is_int(SMG_OK, smg_spool_create(sp, "check", NULL, &f, &err), "create");
    ok(f != NULL && smg_spool_valid_id(f->id), "create made a valid new ID");
    ok(f != NULL && f->fp != NULL && f->fd >= 0, "create gives a writer");
    id = g_strdup(f->id);
    if (have_tmpfile(sp, "check")) {
        ok(f->anon, "a fresh ID's file is unnamed (O_TMPFILE)");
        is_int(0, count(sp, "check", "tmp"), "so tmp/ has no name for it while written");
        ok(strstr(f->tmp_path, "(unnamed file for ") != NULL, "errors say it has no name");
    } else {
        ok(!f->anon, "no O_TMPFILE here: a named file in tmp/");
        is_int(1, count(sp, "check", "tmp"), "it is in tmp/ while written");
        ok(strstr(f->tmp_path, id) != NULL, "errors name it");
    }
    is_int(0, count(sp, "check", "new"), "and not in new/");
    fputs("Subject: hello\n\nbody\n", f->fp);
    is_int(21, ftell(f->fp), "ftell on the writer counts the bytes");
    ok(read(ifd, evbuf, sizeof evbuf) < 0 && errno == EAGAIN, "no event on new/ before the commit");
    is_int(SMG_OK, smg_spool_commit(f, &err), "commit");
    ok(read(ifd, evbuf, sizeof evbuf) > 0, "the commit wakes a worker watching new/");
    close(ifd);
    is_int(0, count(sp, "check", "tmp"), "commit: nothing left in tmp/");
    is_int(1, count(sp, "check", "new"), "commit: one file in new/");
    text = slurp(sp, "check", "new", id);
    is_string("Subject: hello\n\nbody\n", text, "commit: new/ID has the content");
    g_free(text);
    p = path_of(sp, "check", "new", id);
    ok(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0640, "file mode 0640");
    g_free(p);

    /* a given ID is kept; a repeat replaces the earlier file */
    g_free(put(sp, "scan", id, "first\n"));
    g_free(put(sp, "scan", id, "second\n"));
    text = slurp(sp, "scan", "new", id);
    is_string("second\n", text, "same ID again replaces the file");
    g_free(text);
    is_int(1, count(sp, "scan", "new"), "still one file");

    /* writing through the fd instead of fp */
    f = NULL;
    is_int(SMG_OK, smg_spool_create(sp, "sign", "FDWRITE", &f, &err),
           "create for fd writing");
    is_int(1, count(sp, "sign", "tmp"), "a given ID's file is in tmp/ while written");
    ok(write(f->fd, "raw\n", 4) == 4, "write(2) on f->fd");
    is_int(SMG_OK, smg_spool_commit(f, &err), "commit after fd writes");
    text = slurp(sp, "sign", "new", "FDWRITE");
    is_string("raw\n", text, "fd-written content committed");
    g_free(text);
    p = path_of(sp, "sign", "new", "FDWRITE");
    unlink(p);
    g_free(p);

    f = NULL;
    is_int(SMG_OK, smg_spool_create(sp, "sign", NULL, &f, &err), "create again");
    fputs("to be dropped\n", f->fp);
    fflush(f->fp);
    smg_spool_abort(f);
    is_int(0, count(sp, "sign", "tmp"), "abort: nothing in tmp/");
    is_int(0, count(sp, "sign", "new"), "abort: nothing in new/");
    smg_spool_abort(NULL);

    /* commit when new/ has vanished: TEMPFAIL, tmp removed */
    f = NULL;
    is_int(SMG_OK, smg_spool_create(sp, "route", NULL, &f, &err), "create in route");
    fputs("x\n", f->fp);
    p = smg_spool_queue_dir(sp, "route", "new");
    if (rmdir(p) < 0)
        bail("rmdir %s", p);
    is_int(SMG_TEMPFAIL, smg_spool_commit(f, &err), "commit without new/: SMG_TEMPFAIL");
    ok(err != NULL && g_str_has_prefix(err->message, "4.3.0 "),
       "commit without new/: DSN 4.3.0");
    g_clear_error(&err);
    is_int(0, count(sp, "route", "tmp"), "failed commit leaves nothing in tmp/");
    g_free(p);

    g_free(id);
    smg_spool_close(sp);
}

/* test_claim - claim, read, second claim, locks across processes */
static void
test_claim(void)
{
    struct smg_spool *sp = open_spool("claim", FALSE);
    struct smg_spool_msg *m = NULL, *m2 = NULL;
    GError *err = NULL;
    char *id = put(sp, "check", NULL, "From: a@example.com\n\nhi\n");
    char *text, *p;
    gsize len = 0;
    pid_t pid;
    int status = 0;

    is_int(SMG_OK, smg_spool_claim(sp, "check", id, &m, &err), "claim");
    ok(m != NULL && m->fd >= 0, "claim gives an open message");
    ok(!exists(sp, "check", "new", id), "claim: gone from new/");
    ok(exists(sp, "check", "cur", id), "claim: now in cur/");
    p = path_of(sp, "check", "cur", id);
    is_string(p, m != NULL ? m->path : NULL, "msg->path is cur/ID");
    g_free(p);
    is_string(id, m->id, "msg->id");
    is_string("check", m->queue, "msg->queue");
    text = smg_spool_read(m, &len, &err);
    is_string("From: a@example.com\n\nhi\n", text, "read gives the content");
    is_int(24, (long) len, "read gives the length");
    g_free(text);

    is_int(SMG_PERMFAIL, smg_spool_claim(sp, "check", id, &m2, &err),
           "second claim of the same ID: SMG_PERMFAIL");
    ok(m2 == NULL && err == NULL, "second claim: no message, no error set");
    is_int(SMG_PERMFAIL, smg_spool_claim(sp, "check", "NOSUCHID", &m2, &err),
           "claim of an absent ID: SMG_PERMFAIL");
    ok(err == NULL, "absent ID: no error set");
    is_int(SMG_PERMFAIL, smg_spool_claim(sp, "check", "../x", &m2, &err),
           "claim of an invalid ID: SMG_PERMFAIL");
    g_clear_error(&err);

    /* another process sees the lock on the claimed file */
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        bail("fork");
    if (pid == 0) {
        struct smg_spool_msg *cm = NULL;
        char *cp = path_of(sp, "check", "cur", id);
        int fd = open(cp, O_RDONLY);
        int code = 0;

        if (smg_spool_claim(sp, "check", id, &cm, NULL) != SMG_PERMFAIL)
            code |= 1;
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
            code |= 2;
        _exit(code);
    }
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && (WEXITSTATUS(status) & 1) == 0,
       "a forked child cannot claim it either");
    ok(WIFEXITED(status) && (WEXITSTATUS(status) & 2) == 0,
       "the child finds cur/ID flock'ed by the parent");

    /* a file still in new/ but locked by a worker is not claimed */
    {
        char *id2 = put(sp, "check", NULL, "locked\n");
        char *np = path_of(sp, "check", "new", id2);
        int fd = open(np, O_RDONLY);

        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
            bail("cannot lock %s", np);
        fflush(stdout);
        pid = fork();
        if (pid < 0)
            bail("fork");
        if (pid == 0) {
            struct smg_spool_msg *cm = NULL;
            _exit(smg_spool_claim(sp, "check", id2, &cm, NULL) == SMG_PERMFAIL
                          && cm == NULL
                      ? 0
                      : 1);
        }
        waitpid(pid, &status, 0);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "child's claim of a file locked in new/: SMG_PERMFAIL");
        ok(exists(sp, "check", "new", id2), "the locked file stays in new/");
        close(fd);
        is_int(SMG_OK, smg_spool_claim(sp, "check", id2, &m2, &err),
               "claimable once the lock is gone");
        smg_spool_msg_free(m2);
        m2 = NULL;
        g_free(np);
        g_free(id2);
    }

    /* an entry no worker can open (a folder): set aside, the queue goes on */
    p = path_of(sp, "check", "new", "ADIR");
    if (mkdir(p, 0700) < 0)
        bail("mkdir");
    is_int(SMG_PERMFAIL, smg_spool_claim(sp, "check", "ADIR", &m2, &err),
           "claim of an unopenable entry: SMG_PERMFAIL (skipped)");
    ok(err == NULL, "no error for the run");
    ok(!exists(sp, "check", "new", "ADIR"), "it left new/ (for corrupt/)");
    g_clear_error(&err);
    g_free(p);

    smg_spool_msg_free(m);
    smg_spool_msg_free(NULL);
    g_free(id);
    smg_spool_close(sp);
}

/* test_next - oldest first, future mtimes skipped */
/* joined - the names, space-separated (a static buffer) */
static const char *
joined(GPtrArray *names)
{
    static char buf[512];

    buf[0] = '\0';
    for (guint i = 0; i < names->len; i++)
        g_snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? " " : "",
                   (const char *) names->pdata[i]);
    return buf;
}

/* not_mid - smg_spool_keep that leaves out MID */
static gboolean
not_mid(const char *name, gpointer data)
{
    (void) data;
    return strcmp(name, "MID") != 0;
}

static void
test_next(void)
{
    struct smg_spool *sp = open_spool("next", FALSE);
    struct smg_spool_msg *m = NULL;
    GError *err = NULL;
    time_t now = time(NULL);
    char *mid = put(sp, "deferred.mta01", "MID", "m\n");
    char *old = put(sp, "deferred.mta01", "OLD", "o\n");
    char *late = put(sp, "deferred.mta01", "LATE", "l\n");
    char *future = put(sp, "deferred.mta01", "FUTURE", "f\n");

    set_mtime(sp, "deferred.mta01", "new", mid, now - 200);
    set_mtime(sp, "deferred.mta01", "new", old, now - 300);
    set_mtime(sp, "deferred.mta01", "new", late, now - 100);
    set_mtime(sp, "deferred.mta01", "new", future, now + 3600);

    {
        GPtrArray *all = smg_spool_list(sp, "deferred.mta01", 0, NULL, NULL, &err);
        GPtrArray *due = smg_spool_list(sp, "deferred.mta01", now, not_mid, NULL, &err);
        char *lpath = path_of(sp, "deferred.mta01", "new", "LINK");

        is_string("OLD MID LATE FUTURE", all != NULL ? joined(all) : NULL,
                  "list: oldest first, with not_after 0 also the future one");
        is_string("OLD LATE", due != NULL ? joined(due) : NULL,
                  "list: not after now, and keep leaves out MID");
        if (symlink("OLD", lpath) < 0)
            bail("symlink: %s", strerror(errno));
        g_ptr_array_unref(all);
        all = smg_spool_list(sp, "deferred.mta01", 0, NULL, NULL, &err);
        is_int(4, all != NULL ? (long) all->len : -1, "list: a symlink is not listed");
        unlink(lpath);
        ok(smg_spool_list(sp, "nosuch", 0, NULL, NULL, &err) == NULL && err != NULL,
           "list: a queue without new/ is an error");
        g_clear_error(&err);
        g_free(lpath);
        g_ptr_array_unref(all);
        g_ptr_array_unref(due);
    }
    is_int(SMG_OK, smg_spool_next(sp, "deferred.mta01", now, &m, &err), "next 1");
    is_string("OLD", m != NULL ? m->id : NULL, "oldest first");
    smg_spool_msg_free(m);
    is_int(SMG_OK, smg_spool_next(sp, "deferred.mta01", now, &m, &err), "next 2");
    is_string("MID", m != NULL ? m->id : NULL, "then the middle one");
    smg_spool_msg_free(m);
    is_int(SMG_OK, smg_spool_next(sp, "deferred.mta01", 0, &m, &err),
           "next 3 (now 0: the clock)");
    is_string("LATE", m != NULL ? m->id : NULL, "then the latest past one");
    smg_spool_msg_free(m);
    is_int(SMG_OK, smg_spool_next(sp, "deferred.mta01", now, &m, &err),
           "next 4: only a future file left");
    ok(m == NULL, "a file with mtime in the future is not taken");
    ok(exists(sp, "deferred.mta01", "new", "FUTURE"), "it stays in new/");
    is_int(SMG_OK, smg_spool_next(sp, "deferred.mta01", now + 3600, &m, &err),
           "next at its retry time");
    is_string("FUTURE", m != NULL ? m->id : NULL, "taken when due");
    smg_spool_msg_free(m);
    is_int(SMG_OK, smg_spool_next(sp, "empty", now, &m, &err), "next on an empty queue");
    ok(m == NULL, "empty queue: no message");

    /* equal mtimes: by name; a locked file is passed over */
    g_free(put(sp, "check", "B", "b\n"));
    g_free(put(sp, "check", "A", "a\n"));
    set_mtime(sp, "check", "new", "A", now - 10);
    set_mtime(sp, "check", "new", "B", now - 10);
    {
        char *ap = path_of(sp, "check", "new", "A");
        int fd = open(ap, O_RDONLY);
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
            bail("lock A");
        is_int(SMG_OK, smg_spool_next(sp, "check", now, &m, &err),
               "next with the oldest locked");
        is_string("B", m != NULL ? m->id : NULL,
                  "a locked file is skipped, the next one taken");
        smg_spool_msg_free(m);
        close(fd);
        is_int(SMG_OK, smg_spool_next(sp, "check", now, &m, &err), "next again");
        is_string("A", m != NULL ? m->id : NULL, "taken once unlocked");
        smg_spool_msg_free(m);
        g_free(ap);
    }

    /* new/ not a folder: TEMPFAIL */
    {
        char *q = g_build_filename(smg_spool_dir(sp), "broken", NULL);
        char *nd = g_build_filename(q, "new", NULL);
        if (g_mkdir_with_parents(q, 0700) < 0)
            bail("mkdir");
        test_write_file(nd, "not a folder");
        is_int(SMG_TEMPFAIL, smg_spool_next(sp, "broken", now, &m, &err),
               "next on a queue whose new/ is a file: SMG_TEMPFAIL");
        ok(m == NULL && err != NULL, "with an error");
        g_clear_error(&err);
        g_free(nd);
        g_free(q);
    }

    g_free(mid);
    g_free(old);
    g_free(late);
    g_free(future);
    smg_spool_close(sp);
}

/* test_move_done_corrupt - move, done and corrupt */
static void
test_move_done_corrupt(void)
{
    struct smg_spool *sp = open_spool("move", TRUE);
    struct smg_spool_msg *m = NULL, *other = NULL;
    GError *err = NULL;
    char *id = put(sp, "send.mta01", NULL, "move me\n");
    time_t when = time(NULL) + 7200;
    char *text, *p;
    struct stat sb;

    if (smg_spool_claim(sp, "send.mta01", id, &m, &err) != SMG_OK)
        bail("claim");
    is_int(SMG_OK, smg_spool_move(m, "deferred.mta01", when, &err),
           "move to deferred with a retry time");
    ok(!exists(sp, "send.mta01", "cur", id), "move: gone from cur/");
    ok(exists(sp, "deferred.mta01", "new", id), "move: in deferred.mta01/new/");
    text = slurp(sp, "deferred.mta01", "new", id);
    is_string("move me\n", text, "move keeps the content");
    g_free(text);
    p = path_of(sp, "deferred.mta01", "new", id);
    ok(stat(p, &sb) == 0 && sb.st_mtime == when, "move sets the mtime");
    is_string(p, m->path, "msg->path follows the file");
    g_free(p);
    is_string("deferred.mta01", m->queue, "msg->queue follows the file");
    is_int(SMG_PERMFAIL, smg_spool_claim(sp, "deferred.mta01", id, &other, &err),
           "the lock stays with msg after move");
    smg_spool_msg_free(m);
    m = NULL;

    /* unchanged move (mtime 0) keeps the mtime */
    if (smg_spool_claim(sp, "deferred.mta01", id, &m, &err) != SMG_OK)
        bail("claim 2");
    is_int(SMG_OK, smg_spool_move(m, "hold", 0, &err), "move to hold");
    p = path_of(sp, "hold", "new", id);
    ok(stat(p, &sb) == 0 && sb.st_mtime == when, "move with mtime 0 keeps it");
    g_free(p);
    smg_spool_msg_free(m);
    m = NULL;

    /* move to a bad queue: SMG_BUG, file stays */
    if (smg_spool_claim(sp, "hold", id, &m, &err) != SMG_OK)
        bail("claim 3");
    is_int(SMG_BUG, smg_spool_move(m, "../x", 0, &err), "move to a bad queue: SMG_BUG");
    g_clear_error(&err);
    ok(exists(sp, "hold", "cur", id), "the file stays in cur/");

    /* done */
    is_int(SMG_OK, smg_spool_done(m, &err), "done");
    ok(!exists(sp, "hold", "cur", id), "done removes cur/ID");
    is_int(0, count(sp, "hold", "cur") + count(sp, "hold", "new"), "hold is empty");
    is_int(SMG_OK, smg_spool_done(m, &err), "done twice is harmless");
    smg_spool_msg_free(m);
    m = NULL;

    /* corrupt */
    g_free(id);
    id = put(sp, "scan", NULL, "garbage\n");
    if (smg_spool_claim(sp, "scan", id, &m, &err) != SMG_OK)
        bail("claim 4");
    is_int(SMG_OK, smg_spool_corrupt(m, "test garbage", &err), "corrupt");
    ok(exists(sp, "corrupt", "new", id), "corrupt: in corrupt/new/");
    ok(!exists(sp, "scan", "cur", id) && !exists(sp, "scan", "new", id),
       "corrupt: gone from scan/");
    text = slurp(sp, "corrupt", "new", id);
    is_string("garbage\n", text, "corrupt keeps the content");
    g_free(text);
    smg_spool_msg_free(m);

    g_free(id);
    smg_spool_close(sp);
}

/*
 * test_done_replaced - smg-send's re-deferral writes the rest of a message
 * from deferred.GW back to deferred.GW under the same ID, then removes its
 * cur/ID; in between, smg-queue (requeue, hold) may claim the new copy,
 * and the claim's rename replaces cur/ID.  smg-send's done must then leave
 * that name alone: it is the claimer's file, and the claimer's move would
 * find nothing (the remaining recipients lost).
 */
static void
test_done_replaced(void)
{
    struct smg_spool *send = open_spool("replaced", TRUE);
    struct smg_spool *queue = open_spool("replaced", TRUE);
    struct smg_spool_msg *a = NULL, *b = NULL;
    struct smg_spool_file *f = NULL;
    GError *err = NULL;
    char *id = put(send, "deferred.mta01", NULL, "to x and y\n");
    char *text;

    if (smg_spool_claim(send, "deferred.mta01", id, &a, &err) != SMG_OK)
        bail("claim");
    /* the attempt: x delivered, y deferred again */
    if (smg_spool_create(send, "deferred.mta01", id, &f, &err) != SMG_OK)
        bail("create");
    fputs("to y\n", f->fp);
    if (smg_spool_commit(f, &err) != SMG_OK)
        bail("commit");
    /* smg-queue requeue claims the rest before smg-send removes cur/ID */
    is_int(SMG_OK, smg_spool_claim(queue, "deferred.mta01", id, &b, &err),
           "a second process claims the re-deferred copy");
    is_int(SMG_OK, smg_spool_done(a, &err), "the first one's done");
    ok(exists(queue, "deferred.mta01", "cur", id),
       "done leaves the claim that replaced its cur/ name alone");
    is_int(SMG_OK, smg_spool_move(b, "send.mta01", time(NULL), &err),
           "the second one's move works");
    text = slurp(queue, "send.mta01", "new", id);
    is_string("to y\n", text, "the rest of the message is in send.mta01/new");
    g_free(text);
    smg_spool_msg_free(a);
    smg_spool_msg_free(b);
    g_clear_error(&err);
    g_free(id);
    smg_spool_close(queue);
    smg_spool_close(send);
}

/* test_recover - unlocked cur/ files go back, locked ones stay */
static void
test_recover(void)
{
    struct smg_spool *sp = open_spool("recover", FALSE);
    GError *err = NULL;
    char *dead = put(sp, "sign", NULL, "dead worker\n");
    char *live = put(sp, "sign", NULL, "live worker\n");
    int ready[2], go[2];
    pid_t pid;
    char c = 0;
    unsigned moved = 99;
    int status = 0;

    /* a worker that claimed and died: its file sits in cur/, unlocked */
    {
        struct smg_spool_msg *m = NULL;
        if (smg_spool_claim(sp, "sign", dead, &m, &err) != SMG_OK)
            bail("claim dead");
        smg_spool_msg_free(m);
    }
    /* a live worker: a child claims and waits for our word */
    if (pipe(ready) < 0 || pipe(go) < 0)
        bail("pipe");
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        bail("fork");
    if (pid == 0) {
        struct smg_spool_msg *m = NULL;
        char r;

        close(ready[0]);
        close(go[1]);
        r = smg_spool_claim(sp, "sign", live, &m, NULL) == SMG_OK ? 'y' : 'n';
        if (write(ready[1], &r, 1) != 1)
            _exit(2);
        if (read(go[0], &r, 1) < 0)
            _exit(2);
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    if (read(ready[0], &c, 1) != 1)
        c = 0;
    is_int('y', c, "the child claimed a message");

    /* stale and fresh tmp files */
    {
        char *stale = path_of(sp, "sign", "tmp", "STALE");
        char *fresh = path_of(sp, "sign", "tmp", "FRESH");
        test_write_file(stale, "old\n");
        test_write_file(fresh, "new\n");
        set_mtime(sp, "sign", "tmp", "STALE", time(NULL) - 37 * 3600);
        g_free(stale);
        g_free(fresh);
    }

    is_int(SMG_OK, smg_spool_recover(sp, "sign", &moved, &err), "recover");
    is_int(1, moved, "recover moved one file");
    ok(exists(sp, "sign", "new", dead) && !exists(sp, "sign", "cur", dead),
       "the dead worker's file is back in new/");
    ok(exists(sp, "sign", "cur", live) && !exists(sp, "sign", "new", live),
       "the live worker's locked file stays in cur/");
    ok(!exists(sp, "sign", "tmp", "STALE"), "a tmp file older than 36h is removed");
    ok(exists(sp, "sign", "tmp", "FRESH"), "a fresh tmp file is kept");

    /* the child ends: its lock goes, and the file can be recovered */
    close(go[1]);
    waitpid(pid, &status, 0);
    close(ready[0]);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child ended");
    is_int(SMG_OK, smg_spool_recover(sp, "sign", NULL, &err), "recover, moved NULL");
    ok(exists(sp, "sign", "new", live) && !exists(sp, "sign", "cur", live),
       "after the worker died its file is back in new/");
    is_int(SMG_OK, smg_spool_recover(sp, "sign", &moved, &err), "recover again");
    is_int(0, moved, "nothing more to recover");
    is_int(2, count(sp, "sign", "new"), "both messages in new/, none lost");
    is_int(0, count(sp, "sign", "cur"), "cur/ empty");

    is_int(SMG_BUG, smg_spool_recover(sp, "a/b", &moved, &err),
           "recover of a bad queue: SMG_BUG");
    g_clear_error(&err);

    g_free(dead);
    g_free(live);
    smg_spool_close(sp);
}

/* The report of a child that writes to a full or limited file system. */
struct full_report {
    int setup;        /* 0 ok; else errno of the failed setup step */
    char step[32];    /* which setup step failed */
    int create;       /* status of smg_spool_create */
    int commit;       /* status of smg_spool_commit */
    char message[200];
    int in_tmp, in_new;
    long long free_before;
};

/* write_big - write n bytes of a message to f */
static void
write_big(struct smg_spool_file *f, size_t n)
{
    for (size_t i = 0; i < n; i += 64) {
        if (fputs("0123456789012345678901234567890123456789012345678901234567890\n\n\n",
                  f->fp)
            == EOF)
            break;
    }
}

/*
 * fill_and_commit - the child's part: fill the file system with prefill
 * bytes, then create, write n bytes, commit
 */
static void
fill_and_commit(const char *dir, size_t prefill, size_t n, struct full_report *r)
{
    struct smg_spool *sp = NULL;
    struct smg_spool_file *f = NULL;
    GError *err = NULL;

    if (prefill > 0) {
        char *filler = g_build_filename(dir, "filler", NULL);
        char *junk = g_strnfill(prefill, 'x');
        /* may fail part-way on a full tmpfs: that is the point */
        (void) g_file_set_contents(filler, junk, (gssize) prefill, NULL);
        g_free(junk);
        g_free(filler);
    }
    if (smg_spool_open(dir, TRUE, &sp, &err) != SMG_OK) {
        r->setup = EIO;
        g_strlcpy(r->step, "smg_spool_open", sizeof r->step);
        return;
    }
    r->free_before = smg_spool_free_bytes(sp);
    r->create = smg_spool_create(sp, "check", NULL, &f, &err);
    if (r->create == SMG_OK) {
        write_big(f, n);
        /* the caller did other I/O between its writes and commit */
        errno = EAGAIN;
        r->commit = smg_spool_commit(f, &err);
    }
    if (err != NULL)
        g_strlcpy(r->message, err->message, sizeof r->message);
    g_clear_error(&err);
    r->in_tmp = count(sp, "check", "tmp");
    r->in_new = count(sp, "check", "new");
    smg_spool_close(sp);
}

/*
 * run_child - fork; the child mounts a 64 KiB tmpfs on dir (in a private
 * mount namespace) when tmpfs, or sets a file-size limit, then fills and
 * writes (fill_and_commit)
 */
static void
run_child(const char *dir, gboolean tmpfs, size_t prefill, size_t n,
          struct full_report *r)
{
    int fds[2];
    pid_t pid;
    int status;

    memset(r, 0, sizeof *r);
    r->create = r->commit = -1;
    if (pipe(fds) < 0)
        bail("pipe");
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        bail("fork");
    if (pid == 0) {
        struct full_report c;

        memset(&c, 0, sizeof c);
        c.create = c.commit = -1;
        close(fds[0]);
        if (freopen("/dev/null", "w", stderr) == NULL)
            _exit(2);
        if (tmpfs) {
            if (unshare(CLONE_NEWNS) < 0) {
                c.setup = errno;
                g_strlcpy(c.step, "unshare", sizeof c.step);
            } else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                c.setup = errno;
                g_strlcpy(c.step, "mount --make-rprivate", sizeof c.step);
            } else if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") < 0) {
                c.setup = errno;
                g_strlcpy(c.step, "mount tmpfs", sizeof c.step);
            }
        } else {
            struct rlimit rl = {32768, 32768};
            signal(SIGXFSZ, SIG_IGN);
            if (setrlimit(RLIMIT_FSIZE, &rl) < 0) {
                c.setup = errno;
                g_strlcpy(c.step, "setrlimit", sizeof c.step);
            }
        }
        if (c.setup == 0)
            fill_and_commit(dir, prefill, n, &c);
        if (write(fds[1], &c, sizeof c) != (ssize_t) sizeof c)
            _exit(2);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], r, sizeof *r) != (ssize_t) sizeof *r) {
        r->setup = EPIPE;
        g_strlcpy(r->step, "report", sizeof r->step);
    }
    close(fds[0]);
    waitpid(pid, &status, 0);
}

/*
 * test_full - a full file system makes commit fail with SMG_TEMPFAIL and
 * DSN 4.3.1, leaving nothing behind.  A small message (fits the stdio
 * buffer, fails at commit's flush) and a big one (fails during the writes
 * before commit) are both tried.
 */
static void
test_full(void)
{
    struct full_report r;
    const size_t sizes[] = {24 * 1024, 300 * 1024};
    const size_t prefills[] = {48 * 1024, 0};
    char *dir;

    for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
        size_t n = sizes[i];

        dir = g_strdup_printf("%s/full%u", top, i);
        if (g_mkdir_with_parents(dir, 0700) < 0)
            bail("mkdir %s", dir);
        run_child(dir, TRUE, prefills[i], n, &r);
        if (r.setup != 0) {
            diag("cannot mount a 64k tmpfs (%s: %s); this test needs root",
                 r.step, strerror(r.setup));
            ok(0, "%zu bytes: spool on a 64k tmpfs", n);
            ok(0, "%zu bytes to a full tmpfs: SMG_TEMPFAIL", n);
            ok(0, "%zu bytes to a full tmpfs: DSN 4.3.1", n);
            ok(0, "%zu bytes to a full tmpfs: nothing left behind", n);
        } else {
            ok(r.create == SMG_OK && r.free_before >= 0
                   && r.free_before <= 65536 - (long long) prefills[i],
               "%zu bytes: spool on a 64k tmpfs (%lld bytes free)", n,
               r.free_before);
            is_int(SMG_TEMPFAIL, r.commit,
                   "%zu bytes to a full tmpfs: SMG_TEMPFAIL", n);
            ok(g_str_has_prefix(r.message, "4.3.1 "),
               "%zu bytes to a full tmpfs: DSN 4.3.1", n);
            diag("%s", r.message);
            ok(r.in_tmp == 0 && r.in_new == 0,
               "%zu bytes to a full tmpfs: nothing in tmp/ or new/", n);
        }
        g_free(dir);
    }

    /* the same through a file-size limit: a write error that is not ENOSPC */
    dir = g_build_filename(top, "limited", NULL);
    run_child(dir, FALSE, 0, 100 * 1024, &r);
    is_int(0, r.setup, "file-size limit set");
    is_int(SMG_TEMPFAIL, r.commit, "write past RLIMIT_FSIZE: SMG_TEMPFAIL");
    ok(g_str_has_prefix(r.message, "4.3.0 "),
       "write past RLIMIT_FSIZE: DSN 4.3.0 (not a full disk)");
    diag("%s", r.message);
    ok(r.in_tmp == 0 && r.in_new == 0,
       "write past RLIMIT_FSIZE: nothing left behind");
    g_free(dir);
}

/* ino_of - the inode number of path, or 0 */
static ino_t
ino_of(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? sb.st_ino : 0;
}

/* pool_count - how many files the spool's pool/ holds */
static int
pool_count(struct smg_spool *sp)
{
    char *d = g_build_filename(smg_spool_dir(sp), "pool", NULL);
    GDir *dir = g_dir_open(d, 0, NULL);
    int n = 0;

    g_free(d);
    while (dir != NULL && g_dir_read_name(dir) != NULL)
        n++;
    if (dir != NULL)
        g_dir_close(dir);
    return n;
}

/* test_pool - done keeps the inode in pool/, emptied; create reuses it */
/*
 * test_link_fallback - new/ on a mount of its own, where linkat gives
 * EXDEV.  A spool that probed before the mount: the commit is a temporary
 * failure and its next files are named ones.  A spool opened after it:
 * its probe finds out, and its first file is a named one.  In a child
 * with its own mount namespace (needs root).
 */
static void
test_link_fallback(void)
{
    struct smg_spool *sp = open_spool("xdev", TRUE);
    gboolean tmpfile;
    char *newdir, *top_xdev;
    int status = -1;
    pid_t pid;

    if (smg_spool_ensure(sp, "check", NULL) != SMG_OK)
        bail("ensure xdev/check");
    tmpfile = have_tmpfile(sp, "check");
    g_free(put(sp, "check", NULL, "the first new message: the spool probes\n"));
    newdir = smg_spool_queue_dir(sp, "check", "new");
    top_xdev = g_build_filename(top, "xdev", NULL);
    pid = fork();
    if (pid == 0) {
        struct smg_spool *late = NULL;
        struct smg_spool_file *f = NULL;
        GError *err = NULL;
        int bits = 0;

        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0
            || mount("tmpfs", newdir, "tmpfs", 0, "size=64k") < 0)
            _exit(100);
        if (smg_spool_create(sp, "check", NULL, &f, &err) == SMG_OK && f->anon) {
            fputs("x\n", f->fp);
            if (smg_spool_commit(f, &err) == SMG_TEMPFAIL && strstr(err->message, "cannot link to"))
                bits |= 1;
            g_clear_error(&err);
            f = NULL;
        } else {
            smg_spool_abort(f);
            f = NULL;
        }
        if (smg_spool_create(sp, "check", NULL, &f, &err) == SMG_OK && !f->anon)
            bits |= 2;
        smg_spool_abort(f);
        f = NULL;
        if (smg_spool_open(top_xdev, TRUE, &late, &err) == SMG_OK
            && smg_spool_create(late, "check", NULL, &f, &err) == SMG_OK && !f->anon)
            bits |= 4;
        smg_spool_abort(f);
        smg_spool_close(late);
        _exit(bits);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        bail("fallback child");
    if (WEXITSTATUS(status) == 100) {
        diag("no tmpfs on check/new (this test needs root)");
        ok(0, "a failed link of an unnamed file: SMG_TEMPFAIL");
        ok(0, "then the spool writes named files");
        ok(0, "a spool opened there probes and writes named files at once");
    } else {
        if (tmpfile)
            ok(WEXITSTATUS(status) & 1, "a failed link of an unnamed file: SMG_TEMPFAIL");
        else
            ok(!(WEXITSTATUS(status) & 1), "no O_TMPFILE here: no unnamed file to link");
        ok(WEXITSTATUS(status) & 2, "then the spool writes named files");
        ok(WEXITSTATUS(status) & 4, "a spool opened there probes and writes named files at once");
    }
    g_free(top_xdev);
    g_free(newdir);
    smg_spool_close(sp);
}

static void
test_pool(void)
{
    struct smg_spool *sp = open_spool("pool", TRUE);
    struct smg_spool_msg *m = NULL;
    GError *err = NULL;
    char *id = put(sp, "scan", NULL, "pooled content\n");
    char *p = path_of(sp, "scan", "new", id);
    char *id2, *id3, *text, *other, *p3;
    ino_t ino = ino_of(p);
    struct stat sb;

    if (smg_spool_claim(sp, "scan", id, &m, &err) != SMG_OK)
        bail("claim");
    is_int(SMG_OK, smg_spool_done(m, &err), "done with a pool");
    ok(!exists(sp, "scan", "cur", id), "done: gone from cur/");
    is_int(1, pool_count(sp), "done: the file is in pool/");
    ok(m->fd < 0, "done: the lock goes with the file");
    {
        char *pd = g_build_filename(smg_spool_dir(sp), "pool", NULL);
        GDir *dir = g_dir_open(pd, 0, NULL);
        const char *name = dir != NULL ? g_dir_read_name(dir) : NULL;
        char *pf = name != NULL ? g_build_filename(pd, name, NULL) : NULL;

        ok(pf != NULL && stat(pf, &sb) == 0 && sb.st_size == 0,
           "done: the pooled file is empty");
        g_free(pf);
        if (dir != NULL)
            g_dir_close(dir);
        g_free(pd);
    }
    smg_spool_msg_free(m);
    m = NULL;

    id2 = put(sp, "sign", NULL, "new content\n");
    g_free(p);
    p = path_of(sp, "sign", "new", id2);
    ok(ino != 0 && ino_of(p) == ino, "create reuses the pooled inode");
    is_int(0, pool_count(sp), "create took the file from pool/");
    text = slurp(sp, "sign", "new", id2);
    is_string("new content\n", text, "the reused file has only the new content");
    g_free(text);
    ok(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0640 && sb.st_nlink == 1,
       "the reused file: mode 0640, one link");

    /* a file with a second link is unlinked, never pooled or emptied */
    other = g_build_filename(top, "pool-link", NULL);
    if (link(p, other) < 0)
        bail("link: %s", strerror(errno));
    if (smg_spool_claim(sp, "sign", id2, &m, &err) != SMG_OK)
        bail("claim 2");
    is_int(SMG_OK, smg_spool_done(m, &err), "done on a file with two links");
    is_int(0, pool_count(sp), "a file with two links is not pooled");
    ok(!exists(sp, "sign", "cur", id2), "but it is gone from cur/");
    ok(g_file_get_contents(other, &text, NULL, NULL) && strcmp(text, "new content\n") == 0,
       "and its other link keeps the content");
    g_free(text);
    smg_spool_msg_free(m);
    m = NULL;

    /* an empty file in cur/ (emptied, then its worker died) is removed */
    {
        char *e = path_of(sp, "route", "cur", "EMPTY1");
        unsigned moved = 9;

        if (smg_spool_ensure(sp, "route", &err) != SMG_OK || !g_file_set_contents(e, "", 0, NULL))
            bail("cannot write %s", e);
        is_int(SMG_OK, smg_spool_recover(sp, "route", &moved, &err), "recover with an empty file");
        ok(moved == 0 && !exists(sp, "route", "cur", "EMPTY1") && !exists(sp, "route", "new", "EMPTY1"),
           "recover removes an empty file in cur/ rather than queueing it");
        g_free(e);
    }

    /* a pool entry that is also a message (a power cut brought back its
     * pool name): never reused, never emptied */
    {
        char *pd = g_build_filename(smg_spool_dir(sp), "pool", NULL);
        char *slot = g_build_filename(pd, "7", NULL);
        char *msgp = path_of(sp, "route", "new", "KEEPME");
        char *idk, *pk, *kept = NULL;

        if (!g_file_set_contents(msgp, "a committed message\n", -1, NULL) || link(msgp, slot) < 0)
            bail("cannot make the linked pool entry: %s", strerror(errno));
        smg_spool_close(sp); /* a fresh process: it reads pool/ */
        sp = open_spool("pool", TRUE);
        idk = put(sp, "route", NULL, "new content\n");
        pk = path_of(sp, "route", "new", idk);
        ok(ino_of(pk) != ino_of(msgp), "a pool file with two links is not reused");
        ok(g_file_get_contents(msgp, &kept, NULL, NULL) && strcmp(kept, "a committed message\n") == 0,
           "and the message it shares its inode with is intact");
        ok(!g_file_test(slot, G_FILE_TEST_EXISTS), "its pool name is dropped");
        g_free(kept);
        g_free(pk);
        g_free(idk);
        g_free(msgp);
        g_free(slot);
        g_free(pd);
    }

    /* an empty pool: create makes a new file */
    id3 = put(sp, "route", NULL, "fresh\n");
    p3 = path_of(sp, "route", "new", id3);
    ok(ino_of(p3) != 0 && ino_of(p3) != ino_of(other), "an empty pool: a new inode");
    g_free(p3);
    g_free(other);
    g_free(p);
    g_free(id);
    g_free(id2);
    g_free(id3);
    smg_spool_close(sp);
}

/*
 * test_pool_spread - processes that read pool/ afresh take its files in
 * different orders, not all the first name in the folder's order (they
 * would race for it, and the losers read the folder again)
 */
static void
test_pool_spread(void)
{
    struct smg_spool *sp = open_spool("spread", TRUE);
    char *pd = g_build_filename(smg_spool_dir(sp), "pool", NULL);
    int took_first = 0;

    if (g_mkdir_with_parents(pd, 0750) < 0)
        bail("mkdir %s", pd);
    for (int i = 0; i < 200; i++) {
        char name[16];
        char *f;

        g_snprintf(name, sizeof name, "%d", i);
        f = g_build_filename(pd, name, NULL);
        if (!g_file_set_contents(f, "", 0, NULL))
            bail("cannot write %s", f);
        g_free(f);
    }
    for (int round = 0; round < 8; round++) {
        GDir *dir = g_dir_open(pd, 0, NULL);
        const char *name = dir != NULL ? g_dir_read_name(dir) : NULL;
        char *f = name != NULL ? g_build_filename(pd, name, NULL) : NULL;
        ino_t first = f != NULL ? ino_of(f) : 0;
        char *id, *path;

        if (first == 0)
            bail("empty %s", pd);
        g_free(f);
        g_dir_close(dir);
        smg_spool_close(sp); /* a fresh process: it reads pool/ */
        sp = open_spool("spread", TRUE);
        id = put(sp, "route", NULL, "x\n");
        path = path_of(sp, "route", "new", id);
        if (round == 0)
            ok(ino_of(path) != 0, "a fresh process takes a pool file");
        if (ino_of(path) == first)
            took_first++;
        g_free(path);
        g_free(id);
    }
    ok(took_first < 8, "fresh processes do not all take the first name of pool/ (%d of 8 did)",
       took_first);
    g_free(pd);
    smg_spool_close(sp);
}

/*
 * test_pool_names - a process that only finishes messages (smg-send
 * delivers and never writes) keeps a bounded list of the pool slots it
 * filled: other processes take those files, and a name kept for each
 * finished message was memory that grew for as long as the worker ran
 * (some 60 bytes a message).  Measured with mallinfo2 (the heap in use);
 * under ASan the count stays flat either way.
 */
static void
test_pool_names(void)
{
    struct smg_spool *sp = open_spool("poolnames", FALSE);
    char *pd = g_build_filename(smg_spool_dir(sp), "pool", NULL);
    char *newdir = smg_spool_queue_dir(sp, "send.x", "new");
    GError *err = NULL;
    size_t before = 0, after;
    const int rounds = 6000;

    if (smg_spool_ensure(sp, "send.x", &err) != SMG_OK)
        bail("ensure");
    for (int i = 0; i < rounds; i++) {
        char id[32], *p;
        struct smg_spool_msg *m = NULL;
        int fd;

        g_snprintf(id, sizeof id, "PN%d", i);
        p = g_build_filename(newdir, id, NULL);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0 || write(fd, "x\n", 2) != 2 || close(fd) < 0)
            bail("cannot write %s", p);
        g_free(p);
        if (smg_spool_claim(sp, "send.x", id, &m, &err) != SMG_OK
            || smg_spool_done(m, &err) != SMG_OK)
            bail("claim/done %s", id);
        smg_spool_msg_free(m);
        /* another process takes the pooled files */
        if (i % 200 == 199) {
            GDir *dir = g_dir_open(pd, 0, NULL);
            const char *name;

            while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
                char *f = g_build_filename(pd, name, NULL);
                (void) unlink(f);
                g_free(f);
            }
            if (dir != NULL)
                g_dir_close(dir);
        }
        if (i == 1200)
            before = mallinfo2().uordblks;
    }
    after = mallinfo2().uordblks;
    ok(after < before + 128 * 1024,
       "finishing %d messages keeps the memory for pool names bounded (%zd bytes more)",
       rounds, (ssize_t) (after - before));
    g_free(newdir);
    g_free(pd);
    smg_spool_close(sp);
}

/* test_batch - what a batch defers, and what its end or its loss leaves */
/*
 * test_pool_aged - a file taken from pool/ is one being written, however
 * long it lay in the pool: recovery's removal of tmp/ files older than 36
 * hours must not take it from its writer (smg-recv creates its file
 * before the 354 and writes a small message only at its commit)
 */
static void
test_pool_aged(void)
{
    struct smg_spool *sp = open_spool("aged", TRUE);
    struct smg_spool *other = open_spool("aged", TRUE);
    struct smg_spool_msg *m = NULL;
    struct smg_spool_file *f = NULL;
    GError *err = NULL;
    char *id = put(sp, "scan", NULL, "to be pooled\n");
    char *pd, *text;
    GDir *dir;
    const char *name;
    unsigned moved = 9;

    if (smg_spool_claim(sp, "scan", id, &m, &err) != SMG_OK || smg_spool_done(m, &err) != SMG_OK)
        bail("claim/done");
    smg_spool_msg_free(m);
    /* the pooled file lay there for two days */
    pd = g_build_filename(smg_spool_dir(sp), "pool", NULL);
    dir = g_dir_open(pd, 0, NULL);
    name = dir != NULL ? g_dir_read_name(dir) : NULL;
    if (name == NULL)
        bail("nothing in pool/");
    {
        char *pf = g_build_filename(pd, name, NULL);
        struct timespec ts[2] = {{time(NULL) - 48 * 3600, 0}, {time(NULL) - 48 * 3600, 0}};

        if (utimensat(AT_FDCWD, pf, ts, 0) < 0)
            bail("utimensat %s: %s", pf, strerror(errno));
        g_free(pf);
    }
    g_dir_close(dir);
    is_int(1, pool_count(sp), "aged: one file in pool/");
    if (smg_spool_create(sp, "check", "AGED1", &f, &err) != SMG_OK)
        bail("create: %s", err->message);
    is_int(0, pool_count(sp), "aged: create took it");
    /* another worker of check/ starts meanwhile */
    is_int(SMG_OK, smg_spool_recover(other, "check", &moved, &err), "aged: recovery meanwhile");
    ok(exists(sp, "check", "tmp", "AGED1"), "aged: the file being written stays in tmp/");
    fputs("written after the recovery\n", f->fp);
    is_int(SMG_OK, smg_spool_commit(f, &err), "aged: its commit succeeds");
    if (err != NULL)
        diag("%s", err->message);
    g_clear_error(&err);
    text = slurp(sp, "check", "new", "AGED1");
    is_string("written after the recovery\n", text, "aged: the message is in new/");
    g_free(text);
    g_free(pd);
    g_free(id);
    smg_spool_close(other);
    smg_spool_close(sp);
}

static void
test_batch(void)
{
    struct smg_spool *sp = open_spool("batch", TRUE);
    struct smg_spool_msg *a = NULL, *b = NULL;
    struct smg_spool_file *f = NULL;
    GError *err = NULL;
    char *ida = put(sp, "sign", NULL, "message a\n");
    char *idb = put(sp, "sign", NULL, "message b\n");
    char *out, *text;
    unsigned moved = 0;

    if (smg_spool_claim(sp, "sign", ida, &a, &err) != SMG_OK
        || smg_spool_claim(sp, "sign", idb, &b, &err) != SMG_OK)
        bail("claim");
    smg_spool_batch_begin(sp);
    /* a: passed on changed; b: moved unchanged */
    if (smg_spool_create(sp, "route", ida, &f, &err) != SMG_OK)
        bail("create");
    fputs("signed a\n", f->fp);
    is_int(SMG_OK, smg_spool_commit(f, &err), "batch: commit");
    ok(!exists(sp, "route", "new", ida) && exists(sp, "route", "tmp", ida),
       "batch: a committed file waits in tmp/ for the batch's end");
    is_int(SMG_OK, smg_spool_done(a, &err), "batch: done");
    ok(exists(sp, "sign", "cur", ida) && a->fd < 0,
       "batch: the finished message stays in cur/, its lock with the batch");
    is_int(SMG_OK, smg_spool_move(b, "route", 0, &err), "batch: move");
    ok(exists(sp, "route", "new", idb), "batch: a move is done at once");
    is_int(SMG_OK, smg_spool_batch_end(sp, &err), "batch end");
    ok(exists(sp, "route", "new", ida) && !exists(sp, "route", "tmp", ida),
       "batch end: the committed file is in new/");
    text = slurp(sp, "route", "new", ida);
    is_string("signed a\n", text, "batch end: with its content");
    g_free(text);
    ok(!exists(sp, "sign", "cur", ida), "batch end: the finished message is gone");
    is_int(SMG_OK, smg_spool_batch_end(sp, &err), "a batch end without a batch is harmless");
    smg_spool_msg_free(a);
    smg_spool_msg_free(b);
    a = b = NULL;

    /* a batch that never ends (the worker dies): nothing is lost */
    g_free(ida);
    ida = put(sp, "sign", NULL, "message c\n");
    if (smg_spool_claim(sp, "sign", ida, &a, &err) != SMG_OK)
        bail("claim c");
    smg_spool_batch_begin(sp);
    if (smg_spool_create(sp, "route", ida, &f, &err) != SMG_OK)
        bail("create c");
    fputs("signed c\n", f->fp);
    if (smg_spool_commit(f, &err) != SMG_OK || smg_spool_done(a, &err) != SMG_OK)
        bail("commit/done c");
    smg_spool_msg_free(a);
    a = NULL;
    smg_spool_close(sp); /* the batch is dropped, its lock released */
    sp = open_spool("batch", TRUE);
    ok(!exists(sp, "route", "new", ida), "a dropped batch: its output never reached new/");
    is_int(SMG_OK, smg_spool_recover(sp, "sign", &moved, &err), "recover after a dropped batch");
    out = slurp(sp, "sign", "new", ida);
    is_string("message c\n", out, "the dropped batch's input is back in new/, whole");
    g_free(out);
    g_free(ida);
    g_free(idb);
    smg_spool_close(sp);
}

/* mode_of - the mode bits of QUEUE/SUB/ID, or -1 */
static int
mode_of(struct smg_spool *sp, const char *queue, const char *sub, const char *id)
{
    char *p = path_of(sp, queue, sub, id);
    struct stat sb;
    int r = lstat(p, &sb) == 0 ? (int) (sb.st_mode & 07777) : -1;

    g_free(p);
    return r;
}

/* mtime_of_file - the mtime of QUEUE/SUB/ID, or 0 */
static time_t
mtime_of_file(struct smg_spool *sp, const char *queue, const char *sub, const char *id)
{
    char *p = path_of(sp, queue, sub, id);
    struct stat sb;
    time_t t = lstat(p, &sb) == 0 ? sb.st_mtime : 0;

    g_free(p);
    return t;
}

/* die_holding - claim ID of QUEUE as a worker that dies: left in cur/ */
static gboolean
die_holding(struct smg_spool *sp, const char *queue, const char *id, gboolean *recovered)
{
    struct smg_spool_msg *m = NULL;

    if (smg_spool_claim(sp, queue, id, &m, NULL) != SMG_OK || m == NULL)
        return FALSE;
    if (recovered != NULL)
        *recovered = m->recovered;
    smg_spool_msg_free(m);
    return TRUE;
}

/*
 * test_recover_repeat - a message its worker died on is marked; dying on it
 * again sends it behind the ready messages; the mark leaves with a move
 * and does not come back with a pooled inode
 */
static void
test_recover_repeat(void)
{
    struct smg_spool *sp = open_spool("repeat", FALSE);
    GError *err = NULL;
    char *bad = put(sp, "scan", NULL, "kills its worker\n");
    char *good = NULL;
    struct smg_spool_msg *m = NULL;
    gboolean rec = TRUE;
    unsigned moved = 0;
    time_t before = time(NULL);

    ok(die_holding(sp, "scan", bad, &rec), "repeat: claimed and died");
    ok(!rec, "repeat: a fresh message is not marked recovered");
    is_int(SMG_OK, smg_spool_recover(sp, "scan", &moved, &err), "repeat: first recovery");
    ok((mode_of(sp, "scan", "new", bad) & S_IXUSR) != 0, "repeat: recovery marks the file (u+x)");
    is_int(SMG_OK, smg_spool_next(sp, "scan", 0, &m, &err), "repeat: next after one death");
    ok(m != NULL && strcmp(m->id, bad) == 0, "repeat: after one death it is ready at once");
    ok(m != NULL && m->recovered, "repeat: the claim reports it recovered");
    smg_spool_msg_free(m); /* dies on it again */
    m = NULL;
    good = put(sp, "scan", NULL, "an ordinary message\n");
    is_int(SMG_OK, smg_spool_recover(sp, "scan", &moved, &err), "repeat: second recovery");
    is_int(1, moved, "repeat: second recovery moved it");
    {
        char *p = path_of(sp, "scan", "new", bad);
        struct stat sb;
        ok(lstat(p, &sb) == 0 && sb.st_mtime >= before + SMG_SPOOL_REPEAT_S,
           "repeat: after a second death it waits SMG_SPOOL_REPEAT_S");
        g_free(p);
    }
    is_int(SMG_OK, smg_spool_next(sp, "scan", 0, &m, &err), "repeat: next");
    ok(m != NULL && strcmp(m->id, good) == 0, "repeat: the ordinary message goes first");
    ok(m != NULL && !m->recovered, "repeat: ... unmarked");
    if (m == NULL || smg_spool_move(m, "hold", 0, &err) != SMG_OK)
        bail("move good"); /* not done: the pool below holds the marked inode alone */
    smg_spool_msg_free(m);
    m = NULL;
    is_int(SMG_OK, smg_spool_next(sp, "scan", 0, &m, &err), "repeat: next again");
    ok(m == NULL, "repeat: the twice-recovered message is not ready yet");
    smg_spool_msg_free(m);
    m = NULL;

    /* its time comes: a move on to the next queue clears the mark */
    set_mtime(sp, "scan", "new", bad, before - 5);
    if (smg_spool_claim(sp, "scan", bad, &m, &err) != SMG_OK || m == NULL)
        bail("claim bad");
    ok(m->recovered, "repeat: still marked when its time comes");
    is_int(SMG_OK, smg_spool_move(m, "sign", 0, &err), "repeat: moved to sign");
    smg_spool_msg_free(m);
    m = NULL;
    is_int(0, mode_of(sp, "sign", "new", bad) & S_IXUSR, "repeat: the move cleared the mark");

    /* a marked file finished into the pool comes back unmarked */
    ok(die_holding(sp, "sign", bad, NULL), "repeat: died in sign");
    is_int(SMG_OK, smg_spool_recover(sp, "sign", &moved, &err), "repeat: recovered in sign");
    if (smg_spool_claim(sp, "sign", bad, &m, &err) != SMG_OK || m == NULL || !m->recovered)
        bail("claim marked");
    if (smg_spool_done(m, &err) != SMG_OK)
        bail("done marked");
    smg_spool_msg_free(m);
    m = NULL;
    is_int(1, pool_count(sp), "repeat: the finished file went to the pool");
    {
        char *id = put(sp, "route", NULL, "written into a pooled inode\n");
        is_int(0, pool_count(sp), "repeat: the write took the pooled inode");
        is_int(0, mode_of(sp, "route", "new", id) & S_IXUSR,
               "repeat: a file from the pool is not marked");
        g_free(id);
    }
    g_free(bad);
    g_free(good);
    smg_spool_close(sp);
}

/*
 * test_recover_backoff - each further death on the same message sends it
 * further ahead: 10 s, 60 s, 600 s, then 3600 s every time; a move clears
 * the count with the mark
 */
static void
test_recover_backoff(void)
{
    static const int want[] = {0, SMG_SPOOL_REPEAT_S, 60, 600, SMG_SPOOL_REPEAT_MAX_S,
                               SMG_SPOOL_REPEAT_MAX_S};
    struct smg_spool *sp = open_spool("backoff", FALSE);
    GError *err = NULL;
    char *bad = put(sp, "scan", NULL, "kills its worker every time\n");
    struct smg_spool_msg *m = NULL;
    unsigned moved = 0;

    for (unsigned i = 0; i < G_N_ELEMENTS(want); i++) {
        time_t before = time(NULL), mt;

        set_mtime(sp, "scan", "new", bad, before - 5); /* its time has come */
        if (!die_holding(sp, "scan", bad, NULL)
            || smg_spool_recover(sp, "scan", &moved, &err) != SMG_OK || moved != 1)
            bail("death %u", i + 1);
        mt = mtime_of_file(sp, "scan", "new", bad);
        ok(want[i] == 0 ? mt < before
                        : mt >= before + want[i] && mt <= time(NULL) + want[i],
           "backoff: after death %u it waits %d s (waits %ld s)", i + 1, want[i],
           (long) (mt - before));
    }
    set_mtime(sp, "scan", "new", bad, time(NULL) - 5);
    if (smg_spool_claim(sp, "scan", bad, &m, &err) != SMG_OK || m == NULL)
        bail("claim");
    is_int(SMG_OK, smg_spool_move(m, "sign", 0, &err), "backoff: moved on");
    smg_spool_msg_free(m);
    m = NULL;
    is_int(0, mode_of(sp, "sign", "new", bad) & (S_IXUSR | S_IXGRP | S_IXOTH),
           "backoff: the move clears the mark and the count");
    ok(die_holding(sp, "sign", bad, NULL), "backoff: dies in sign");
    is_int(SMG_OK, smg_spool_recover(sp, "sign", &moved, &err), "backoff: recovered in sign");
    ok(die_holding(sp, "sign", bad, NULL), "backoff: dies in sign again");
    {
        time_t before = time(NULL);
        is_int(SMG_OK, smg_spool_recover(sp, "sign", &moved, &err), "backoff: again in sign");
        ok(mtime_of_file(sp, "sign", "new", bad) < before + 60,
           "backoff: the count began anew in sign (10 s, not 60 s or more)");
    }
    g_free(bad);

    /* a recovery whose move back fails (here a folder in the way) leaves
     * the file as it was: no death counted until it is back in new/ */
    bad = put(sp, "route", NULL, "its recovery cannot move it\n");
    ok(die_holding(sp, "route", bad, NULL), "backoff: dies in route");
    {
        char *in_way = path_of(sp, "route", "new", bad);
        char *in_cur = path_of(sp, "route", "cur", bad);
        struct stat sb;

        if (mkdir(in_way, 0700) < 0)
            bail("mkdir: %s", strerror(errno));
        for (int i = 0; i < 3; i++)
            if (smg_spool_recover(sp, "route", &moved, &err) != SMG_OK || moved != 0)
                bail("recover in the way %d", i);
        ok(lstat(in_cur, &sb) == 0 && (sb.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0,
           "backoff: a failed move back leaves the file in cur/ unmarked");
        rmdir(in_way);
        is_int(SMG_OK, smg_spool_recover(sp, "route", &moved, &err),
               "backoff: recovered once the way is free");
        ok(moved == 1 && mtime_of_file(sp, "route", "new", bad) <= time(NULL),
           "backoff: ... counted as one death, ready at once");
        g_free(in_way);
        g_free(in_cur);
    }
    g_free(bad);
    smg_spool_close(sp);
}

/*
 * test_recover_moved_on - recovery opened a file in cur/ while its worker
 * was alive; the worker then moved it on (and let go of it) before
 * recovery's lock: the file is not recovery's, and must not be marked
 * (nor, marked already, sent an hour ahead) in its next queue
 */
static struct smg_spool_msg *moving;

static void
move_on(void)
{
    GError *err = NULL;

    if (smg_spool_move(moving, "sign", 0, &err) != SMG_OK)
        bail("move_on: %s", err->message);
    smg_spool_msg_free(moving);
    moving = NULL;
}

static void
test_recover_moved_on(void)
{
    struct smg_spool *sp = open_spool("movedon", FALSE);
    GError *err = NULL;
    char *id = put(sp, "scan", NULL, "moves on normally\n");
    unsigned moved = 99;

    if (smg_spool_claim(sp, "scan", id, &moving, &err) != SMG_OK || moving == NULL)
        bail("claim");
    before_flock = move_on;
    is_int(SMG_OK, smg_spool_recover(sp, "scan", &moved, &err), "moved on: recover runs");
    is_int(0, moved, "moved on: nothing recovered");
    ok(exists(sp, "sign", "new", id), "moved on: the file is in sign/new");
    is_int(0, mode_of(sp, "sign", "new", id) & (S_IXUSR | S_IXGRP | S_IXOTH),
           "moved on: not marked recovered in its next queue");
    before_flock = NULL;
    g_free(id);
    smg_spool_close(sp);
}

/* test_fifo - a FIFO put in new/ or cur/ by hand stops no worker (each
 * open and read of it waited for a writer for ever) */
static void
test_fifo(void)
{
    struct smg_spool *sp = open_spool("fifo", FALSE);
    GError *err = NULL;
    struct smg_spool_msg *m = NULL;
    unsigned moved = 99;
    char *id = smg_spool_new_id();
    char *incur, *innew;

    if (smg_spool_ensure(sp, "check", &err) != SMG_OK)
        bail("ensure");
    incur = path_of(sp, "check", "cur", "0FIFOINCUR");
    innew = path_of(sp, "check", "new", id);
    if (mkfifo(incur, 0600) < 0 || mkfifo(innew, 0600) < 0)
        bail("mkfifo: %s", strerror(errno));
    alarm(20); /* the old code waits here for ever */
    is_int(SMG_OK, smg_spool_recover(sp, "check", &moved, &err), "fifo: recovery returns");
    is_int(0, moved, "fifo: a FIFO in cur/ is not recovered");
    is_int(SMG_PERMFAIL, smg_spool_claim(sp, "check", id, &m, &err),
           "fifo: a FIFO in new/ is not claimed");
    ok(m == NULL && !exists(sp, "check", "new", id), "fifo: ... and leaves new/");
    is_int(1, count(sp, "corrupt", "new"), "fifo: ... for corrupt/");
    alarm(0);
    g_clear_error(&err);
    g_free(incur);
    g_free(innew);
    g_free(id);
    smg_spool_close(sp);
}

/*
 * test_ready_at_once - a message just committed is ready for the next
 * claim.  Its mtime can come from the kernel's fine clock, a second ahead
 * of time() at a second's turn: a stage that compared with time() found
 * such a message not ready (about 3 in 1000 here) and left it until its
 * next scan (some 15 of these 5000).
 */
static void
test_ready_at_once(void)
{
    struct smg_spool *sp = open_spool("ready", FALSE);
    GError *err = NULL;
    unsigned missed = 0;

    for (unsigned i = 0; i < 5000; i++) {
        char *id = put(sp, "check", NULL, "x\n");
        struct smg_spool_msg *m = NULL;

        if (smg_spool_next(sp, "check", 0, &m, &err) != SMG_OK)
            bail("next: %s", err->message);
        if (m == NULL) {
            missed++;
            if (smg_spool_claim(sp, "check", id, &m, &err) != SMG_OK || m == NULL)
                bail("claim %s", id);
        }
        if (smg_spool_done(m, &err) != SMG_OK)
            bail("done: %s", err->message);
        smg_spool_msg_free(m);
        g_free(id);
    }
    is_int(0, missed, "5000 messages, each ready as soon as committed");
    smg_spool_close(sp);
}

int
main(void)
{
    smg_log_init("spool-t", SMG_LOG_STDERR, FALSE);
    plan(250);
    top = test_tmpdir();
    test_ids();
    test_open();
    test_write();
    test_claim();
    test_next();
    test_move_done_corrupt();
    test_done_replaced();
    test_recover();
    test_recover_repeat();
    test_recover_backoff();
    test_recover_moved_on();
    test_fifo();
    test_ready_at_once();
    test_pool();
    test_link_fallback();
    test_pool_spread();
    test_pool_names();
    test_pool_aged();
    test_batch();
    test_full();
    test_tmpdir_free(top);
    return 0;
}

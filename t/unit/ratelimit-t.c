/*
 * ratelimit-t.c - unit tests for lib/ratelimit: limits, table, sliding
 * window, shared state under concurrency, corrupt and unusable state.
 *
 * Time is injected through smg_ratelimit_take's now_us, so nothing here
 * depends on the wall clock or on timing.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/ratelimit.h"
#include "t/tap/basic.h"

#define SEC ((gint64) G_USEC_PER_SEC)
/* 2026-11-20T05:00:00Z, a fixed "now" */
#define T0 ((gint64) 1795150800 * SEC)

static char *tmp;

/* open_rl - a ratelimit handle for the given [recv] lines and state dir */
static enum smg_status
open_rl(const char *recv_lines, const char *state, struct smg_ratelimit **rl,
        GError **err)
{
    char *text = g_strdup_printf("[spool]\nstate_dir = %s\n[recv]\n%s\n",
                                 state, recv_lines);
    char *path = g_build_filename(tmp, "smg.conf", NULL);
    struct smg_conf *conf = NULL;
    GError *cerr = NULL;
    enum smg_status st;

    if (smg_conf_load_data(text, path, &conf, &cerr) != SMG_OK)
        bail("config rejected: %s\n%s", cerr->message, text);
    st = smg_ratelimit_open(conf, rl, err);
    smg_conf_free(conf);
    g_free(path);
    g_free(text);
    return st;
}

/* must_open - open_rl that bails on failure */
static struct smg_ratelimit *
must_open(const char *recv_lines, const char *state)
{
    struct smg_ratelimit *rl = NULL;
    GError *err = NULL;

    if (open_rl(recv_lines, state, &rl, &err) != SMG_OK)
        bail("smg_ratelimit_open: %s", err ? err->message : "?");
    return rl;
}

/* takes - n takes of customer at now; the number admitted (-1: error) */
static int
takes(struct smg_ratelimit *rl, const char *customer, gint64 now, int n)
{
    int admitted = 0;

    for (int i = 0; i < n; i++) {
        gboolean allowed = FALSE;
        GError *err = NULL;

        if (smg_ratelimit_take(rl, customer, now, &allowed, &err) != SMG_OK) {
            diag("take: %s", err ? err->message : "?");
            g_clear_error(&err);
            return -1;
        }
        admitted += allowed ? 1 : 0;
    }
    return admitted;
}

/* state_path - the state file of customer below state */
static char *
state_path(const char *state, const char *customer)
{
    char *name = smg_ratelimit_file_name(customer);
    char *p = g_build_filename(state, "ratelimit", name, NULL);

    g_free(name);
    return p;
}

/* new_state - a fresh state folder below tmp */
static char *
new_state(const char *name)
{
    return g_build_filename(tmp, name, NULL);
}

/* test_off - the default is off and touches nothing */
static void
test_off(void)
{
    char *state = new_state("off");
    struct smg_ratelimit *rl = must_open("", state);
    gint64 count = -1;
    gint64 per = -1;

    ok(!smg_ratelimit_limit(rl, "customer42", &count, &per),
       "off by default");
    is_int(0, (long) count, "off: count 0");
    is_int(1000, takes(rl, "customer42", T0, 1000), "off: all admitted");
    ok(!g_file_test(state, G_FILE_TEST_EXISTS), "off: no state written");
    smg_ratelimit_free(rl);
    rl = must_open("rate_limit = off", state);
    ok(!smg_ratelimit_limit(rl, "customer42", NULL, NULL),
       "rate_limit = off: off");
    smg_ratelimit_free(rl);
    g_free(state);
}

/* test_basic - 100/min admits exactly 100 */
static void
test_basic(void)
{
    char *state = new_state("basic");
    struct smg_ratelimit *rl = must_open("rate_limit = 100/min", state);
    gint64 count = 0;
    gint64 per = 0;
    char *dir = g_build_filename(state, "ratelimit", NULL);
    char *file = state_path(state, "customer42");
    struct stat st;

    ok(smg_ratelimit_limit(rl, "customer42", &count, &per), "100/min is on");
    is_int(100, (long) count, "count 100");
    is_int(60, (long) per, "per 60 s");
    is_int(100, takes(rl, "customer42", T0, 100), "first 100 admitted");
    is_int(0, takes(rl, "customer42", T0, 1), "the 101st refused");
    is_int(0, takes(rl, "customer42", T0 + 59 * SEC, 10),
           "still refused 59 s later");
    is_int(100, takes(rl, "other", T0, 101), "another customer: own limit");
    ok(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700,
       "state folder made with mode 0700");
    ok(stat(file, &st) == 0 && (st.st_mode & 0777) == 0600,
       "state file mode 0600");
    smg_ratelimit_free(rl);

    /* A new handle (another smg-recv process) sees the same state. */
    rl = must_open("rate_limit = 100/min", state);
    is_int(0, takes(rl, "customer42", T0 + 1, 1),
           "a new handle sees the shared state");
    is_int(100, takes(rl, "customer42", T0 + 60 * SEC, 200),
           "a full period later: 100 again");
    smg_ratelimit_free(rl);
    g_free(file);
    g_free(dir);
    g_free(state);
}

/* test_sliding - the window slides with the injected clock */
static void
test_sliding(void)
{
    char *state = new_state("sliding");
    struct smg_ratelimit *rl = must_open("rate_limit = 100/min", state);
    GRand *rand;
    GArray *admitted;
    int violations = 0;
    int unfair = 0;
    gint64 now;

    is_int(50, takes(rl, "c", T0, 50), "50 at 0 s");
    is_int(50, takes(rl, "c", T0 + 30 * SEC, 50), "50 at 30 s");
    is_int(0, takes(rl, "c", T0 + 60 * SEC - 1, 1),
           "none at 59.999999 s (100 in the window)");
    is_int(50, takes(rl, "c", T0 + 60 * SEC, 80),
           "at 60 s the first 50 have left the window: 50 admitted");
    is_int(0, takes(rl, "c", T0 + 89 * SEC, 1), "none at 89 s");
    is_int(50, takes(rl, "c", T0 + 90 * SEC, 80), "50 at 90 s");
    smg_ratelimit_free(rl);

    /*
     * Random arrivals against 5/s: every admitted message must have at most
     * 4 others in the second before it, and a refused one exactly 5.
     */
    rl = must_open("rate_limit = 5/s", state);
    rand = g_rand_new_with_seed(4616);
    admitted = g_array_new(FALSE, FALSE, sizeof(gint64));
    now = T0;
    for (int i = 0; i < 3000; i++) {
        gboolean allowed = FALSE;
        GError *err = NULL;
        guint in_window = 0;

        now += g_rand_int_range(rand, 0, 400000);
        for (guint j = admitted->len; j > 0; j--) {
            if (g_array_index(admitted, gint64, j - 1) <= now - SEC)
                break;
            in_window++;
        }
        if (smg_ratelimit_take(rl, "r", now, &allowed, &err) != SMG_OK)
            bail("take: %s", err->message);
        if (allowed) {
            if (in_window >= 5)
                violations++;
            g_array_append_val(admitted, now);
        } else if (in_window < 5) {
            unfair++;
        }
    }
    is_int(0, violations, "never more than N in any window (%u admitted)",
           admitted->len);
    is_int(0, unfair, "never refused while the window had room");
    ok(admitted->len > 100 && admitted->len < 3000,
       "the random run exercised both outcomes");
    g_array_free(admitted, TRUE);
    g_rand_free(rand);
    smg_ratelimit_free(rl);
    g_free(state);
}

/* test_resize - a changed limit keeps the newest times */
static void
test_resize(void)
{
    char *state = new_state("resize");
    struct smg_ratelimit *rl = must_open("rate_limit = 10/min", state);

    is_int(10, takes(rl, "c", T0, 20), "10/min: 10 admitted");
    smg_ratelimit_free(rl);
    rl = must_open("rate_limit = 5/min", state);
    is_int(0, takes(rl, "c", T0 + SEC, 5), "lowered to 5/min: refused");
    smg_ratelimit_free(rl);
    rl = must_open("rate_limit = 8/min", state);
    is_int(3, takes(rl, "c", T0 + 2 * SEC, 10),
           "raised to 8/min: 5 kept, 3 more admitted");
    smg_ratelimit_free(rl);
    rl = must_open("rate_limit = 8/s", state);
    is_int(8, takes(rl, "c", T0 + 3 * SEC, 10),
           "period shortened to 1 s: old times expired");
    smg_ratelimit_free(rl);
    g_free(state);
}

/* test_table - per-customer overrides */
static void
test_table(void)
{
    char *state = new_state("table");
    char *table = test_file_path("ratelimit-table");
    char *lines;
    struct smg_ratelimit *rl;
    gint64 count = 0;
    gint64 per = 0;

    if (table == NULL)
        bail("t/data/ratelimit-table not found (srcdir?)");
    lines = g_strdup_printf("rate_limit_table = %s", table);
    rl = must_open(lines, state);
    ok(smg_ratelimit_limit(rl, "fast", &count, &per),
       "table switches the limit on for one customer");
    is_int(5, (long) count, "fast: 5");
    is_int(60, (long) per, "fast: per minute");
    is_int(5, takes(rl, "fast", T0, 10), "fast: 5 of 10 admitted");
    ok(!smg_ratelimit_limit(rl, "quiet", NULL, NULL), "quiet: off");
    ok(!smg_ratelimit_limit(rl, "stranger", NULL, NULL),
       "unlisted: the default (off)");
    is_int(500, takes(rl, "stranger", T0, 500), "unlisted: all admitted");
    smg_ratelimit_limit(rl, "hourly", &count, &per);
    is_int(3600, (long) per, "hourly: per hour");
    is_int(3, takes(rl, "hourly", T0, 5), "hourly: 3 admitted");
    is_int(0, takes(rl, "hourly", T0 + 3599 * SEC, 1), "hourly: 59:59 later no");
    is_int(3, takes(rl, "hourly", T0 + 3600 * SEC, 5), "hourly: an hour later 3");
    smg_ratelimit_free(rl);
    g_free(lines);

    lines = g_strdup_printf("rate_limit = 100/min\nrate_limit_table = %s",
                            table);
    rl = must_open(lines, state);
    ok(!smg_ratelimit_limit(rl, "quiet", &count, NULL),
       "table switches the limit off for one customer");
    is_int(1000, takes(rl, "quiet", T0, 1000), "quiet: all 1000 admitted");
    smg_ratelimit_limit(rl, "stranger", &count, NULL);
    is_int(100, (long) count, "unlisted: default 100");
    is_int(100, takes(rl, "stranger2", T0, 150), "unlisted: 100 admitted");
    smg_ratelimit_free(rl);
    g_free(lines);
    g_free(table);
    g_free(state);
}

/* expect_bad_table - a table text that must give SMG_CONFIG naming where */
static void
expect_bad_table(const char *text, const char *where, const char *what)
{
    char *table = g_build_filename(tmp, "badtable", NULL);
    char *lines = g_strdup_printf("rate_limit_table = %s", table);
    struct smg_ratelimit *rl = NULL;
    GError *err = NULL;

    test_write_file(table, text);
    is_int(SMG_CONFIG, open_rl(lines, tmp, &rl, &err), "%s: SMG_CONFIG", what);
    ok(rl == NULL && err != NULL && strstr(err->message, where) != NULL,
       "%s: error names %s (%s)", what, where, err ? err->message : "none");
    g_clear_error(&err);
    g_free(lines);
    g_free(table);
}

/* test_bad_config - table and default errors */
static void
test_bad_config(void)
{
    struct smg_ratelimit *rl = NULL;
    GError *err = NULL;
    char *lines;

    expect_bad_table("# c\na 5/min\nb\n", "badtable:3:", "missing limit");
    expect_bad_table("a 5/min\n\n  # x\nc 5/fortnight\n", "badtable:4:",
                     "unknown unit");
    expect_bad_table("a 5/min x\n", "badtable:1:", "three words");
    expect_bad_table("a 0/min\n", "badtable:1:", "zero count");
    expect_bad_table("a five/min\n", "badtable:1:", "not a number");
    expect_bad_table("a 5/min\nb off\na 6/min\n",
                     "badtable:3: customer a listed twice", "duplicate");
    expect_bad_table("a 2000000/min\n", "badtable:1:", "above the maximum");
    lines = g_build_filename(tmp, "no-such-table", NULL);
    {
        char *l = g_strdup_printf("rate_limit_table = %s", lines);
        is_int(SMG_CONFIG, open_rl(l, tmp, &rl, &err), "missing table file");
        ok(err != NULL && strstr(err->message, "no-such-table") != NULL,
           "missing table: error names it");
        g_clear_error(&err);
        g_free(l);
    }
    g_free(lines);
    {
        /* the default's maximum is the config's check, with its line */
        struct smg_conf *conf = NULL;

        is_int(SMG_CONFIG,
               smg_conf_load_data("[recv]\nrate_limit = 2000000/min\n", "/x/smg.conf",
                                  &conf, &err),
               "default above the maximum");
        ok(err != NULL && strstr(err->message, "smg.conf:2: [recv] rate_limit") != NULL,
           "default above the maximum: names file, line and key (%s)",
           err ? err->message : "none");
        g_clear_error(&err);
        smg_conf_free(conf);
    }
}

/* test_concurrency - 8 processes x 50 takes at one instant, limit 100 */
static void
test_concurrency(void)
{
    enum { PROCS = 8, EACH = 50 };
    char *state = new_state("concurrent");
    int gate[2];
    pid_t pids[PROCS];
    int total = 0;
    int failed = 0;
    struct smg_ratelimit *rl;

    if (pipe(gate) < 0)
        bail("pipe");
    fflush(stdout);
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            bail("fork");
        if (pids[i] == 0) {
            char c;
            struct smg_ratelimit *crl;
            int n;

            close(gate[1]);
            crl = must_open("rate_limit = 100/min", state);
            /* Wait until the parent opens the gate for all at once. */
            if (read(gate[0], &c, 1) < 0)
                _exit(200);
            n = takes(crl, "busy", T0, EACH);
            smg_ratelimit_free(crl);
            _exit(n < 0 ? 201 : n);
        }
    }
    close(gate[0]);
    close(gate[1]); /* EOF wakes every child at once */
    for (int i = 0; i < PROCS; i++) {
        int status;
        if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status)
            || WEXITSTATUS(status) > EACH)
            failed++;
        else
            total += WEXITSTATUS(status);
    }
    is_int(0, failed, "all %d processes ran their takes", PROCS);
    is_int(100, total, "exactly 100 of %d concurrent takes admitted",
           PROCS * EACH);
    rl = must_open("rate_limit = 100/min", state);
    is_int(0, takes(rl, "busy", T0 + SEC, 1), "and the state says full");
    smg_ratelimit_free(rl);
    g_free(state);
}

/* corrupt_case - write content to c's state file; a take must reset it */
static void
corrupt_case(const char *state, const char *content, gssize len,
             const char *what)
{
    struct smg_ratelimit *rl = must_open("rate_limit = 10/min", state);
    char *file = state_path(state, "c");
    GError *ferr = NULL;

    if (takes(rl, "c", T0, 1) != 1)
        bail("setup take failed");
    if (!g_file_set_contents(file, content, len, &ferr))
        bail("write %s: %s", file, ferr->message);
    is_int(10, takes(rl, "c", T0 + SEC, 10),
           "%s: state reset, 10 admitted", what);
    is_int(0, takes(rl, "c", T0 + 2 * SEC, 1), "%s: then counted again", what);
    g_unlink(file);
    g_free(file);
    smg_ratelimit_free(rl);
}

/* test_corrupt - garbage, truncation, wrong sizes, times in the future */
static void
test_corrupt(void)
{
    char *state = new_state("corrupt");
    char *file;
    char *data;
    gsize len;
    char *logpath = g_build_filename(tmp, "log", NULL);
    char *logged = NULL;
    int saved;
    int fd;
    struct smg_ratelimit *rl;

    fflush(stderr);
    saved = dup(2);
    fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (saved < 0 || fd < 0 || dup2(fd, 2) < 0)
        bail("cannot redirect stderr");
    close(fd);

    corrupt_case(state, "this is not a rate limit state file at all\n", -1,
                 "text garbage");
    corrupt_case(state, "SMGRL\0\0\1\5", 9, "truncated header");

    /* A valid file from a real run, then cut in the middle of the slots. */
    file = state_path(state, "c");
    rl = must_open("rate_limit = 10/min", state);
    if (takes(rl, "c", T0, 5) != 5)
        bail("setup");
    smg_ratelimit_free(rl);
    if (!g_file_get_contents(file, &data, &len, NULL))
        bail("read state");
    corrupt_case(state, data, (gssize) len - 12, "slots cut short");
    /* The same file with the header's count changed but not its check. */
    data[12] ^= 1;
    corrupt_case(state, data, (gssize) len, "header check mismatch");
    g_free(data);

    /* Times an hour ahead: the clock went back (or the file is garbage). */
    rl = must_open("rate_limit = 10/min", state);
    if (takes(rl, "c", T0 + 3600 * SEC, 10) != 10)
        bail("setup");
    is_int(10, takes(rl, "c", T0, 20), "clock back by an hour: state reset");
    smg_ratelimit_free(rl);
    g_unlink(file);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    g_file_get_contents(logpath, &logged, NULL, NULL);
    ok(logged != NULL && strstr(logged, "warning") != NULL
           && strstr(logged, "corrupt; reset") != NULL,
       "a reset is logged as a warning");
    g_free(logged);
    g_free(logpath);
    g_free(file);
    g_free(state);
}

/* test_unusable - state that cannot be written is TEMPFAIL */
static void
test_unusable(void)
{
    char *state = new_state("plainfile");
    struct smg_ratelimit *rl;
    gboolean allowed = TRUE;
    GError *err = NULL;
    char *dir;
    char *file;

    test_write_file(state, "a file where the state folder should be\n");
    rl = must_open("rate_limit = 100/min", state);
    is_int(SMG_TEMPFAIL, smg_ratelimit_take(rl, "c", T0, &allowed, &err),
           "state_dir is a file: SMG_TEMPFAIL");
    ok(!allowed, "and not allowed");
    ok(err != NULL && g_str_has_prefix(err->message, "4.")
           && smg_error_status(err) == SMG_TEMPFAIL,
       "a 4.x.x error (%s)", err ? err->message : "none");
    g_clear_error(&err);
    is_int(SMG_TEMPFAIL, smg_ratelimit_take(rl, "another", T0, &allowed,
                                            &err),
           "the same for another customer");
    g_clear_error(&err);
    is_int(SMG_BUG, smg_ratelimit_take(rl, "", T0, &allowed, &err),
           "empty customer: SMG_BUG");
    g_clear_error(&err);
    smg_ratelimit_free(rl);
    g_free(state);

    /* The customer's state file is a folder: cannot be opened for writing. */
    state = new_state("dirfile");
    dir = g_build_filename(state, "ratelimit", NULL);
    file = state_path(state, "c");
    g_mkdir_with_parents(file, 0700);
    rl = must_open("rate_limit = 100/min", state);
    is_int(SMG_TEMPFAIL, smg_ratelimit_take(rl, "c", T0, &allowed, &err),
           "state file is a folder: SMG_TEMPFAIL");
    g_clear_error(&err);
    is_int(1, takes(rl, "d", T0, 1), "other customers unaffected");
    smg_ratelimit_free(rl);
    /* A symlink is not followed. */
    g_rmdir(file);
    if (symlink("/etc/passwd", file) < 0)
        bail("symlink");
    rl = must_open("rate_limit = 100/min", state);
    is_int(SMG_TEMPFAIL, smg_ratelimit_take(rl, "c", T0, &allowed, &err),
           "state file is a symlink: not followed");
    g_clear_error(&err);
    smg_ratelimit_free(rl);
    g_free(file);
    g_free(dir);
    g_free(state);
}

/* test_removed - the state folder removed under an open rl is made anew */
static void
test_removed(void)
{
    char *state = new_state("removed");
    char *dir = g_build_filename(state, "ratelimit", NULL);
    char *file = state_path(state, "c");
    struct smg_ratelimit *rl = must_open("rate_limit = 3/min", state);

    is_int(3, takes(rl, "c", T0, 5), "3 of 5 admitted");
    /* what an operator does to reset every customer, while a worker of
     * smg-recv's pool keeps rl (and its folder) open for its sessions */
    {
        char *mark = g_build_filename(dir, ".swept", NULL);

        if (g_unlink(file) < 0 || g_unlink(mark) < 0 || g_rmdir(dir) < 0)
            bail("cannot remove %s", dir);
        g_free(mark);
    }
    is_int(3, takes(rl, "c", T0 + SEC, 5),
           "folder removed: made anew, the customer starts afresh");
    ok(g_file_test(file, G_FILE_TEST_IS_REGULAR), "its state is in the new folder");
    smg_ratelimit_free(rl);
    g_free(file);
    g_free(dir);
    g_free(state);
}

/* age - set the times of path to now - seconds */
static void
age(const char *path, gint64 seconds)
{
    struct timespec ts[2];

    ts[0].tv_sec = ts[1].tv_sec = time(NULL) - (time_t) seconds;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    if (utimensat(AT_FDCWD, path, ts, 0) < 0)
        bail("utimensat %s", path);
}

/* test_sweep - state files idle for two hours are removed, at most hourly */
static void
test_sweep(void)
{
    char *state = new_state("sweep");
    char *mark = g_build_filename(state, "ratelimit", ".swept", NULL);
    const char *names[] = {"addr:192.0.2.1", "addr:192.0.2.2", "recent", "busy"};
    char *files[G_N_ELEMENTS(names)];
    struct smg_ratelimit *rl = must_open("rate_limit = 3/min", state);
    int busy;

    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        is_int(1, takes(rl, names[i], 0, 1), "%s: admitted", names[i]);
        files[i] = state_path(state, names[i]);
    }
    ok(g_file_test(mark, G_FILE_TEST_IS_REGULAR), "the first new file made the marker");
    age(files[0], 3 * 3600);
    age(files[1], 2 * 3600 + 60);
    age(files[2], 3600 + 60); /* its times expired, not yet two hours */
    age(files[3], 3 * 3600);
    is_int(1, takes(rl, "new1", 0, 1), "new1 admitted");
    ok(g_file_test(files[0], G_FILE_TEST_EXISTS),
       "swept less than an hour ago: idle files kept");

    age(mark, 3600 + 60);
    busy = open(files[3], O_RDONLY);
    if (busy < 0 || flock(busy, LOCK_EX) < 0)
        bail("lock %s", files[3]);
    is_int(1, takes(rl, "new2", 0, 1), "new2 admitted");
    ok(!g_file_test(files[0], G_FILE_TEST_EXISTS), "idle three hours: removed");
    ok(!g_file_test(files[1], G_FILE_TEST_EXISTS), "idle two hours: removed");
    ok(g_file_test(files[2], G_FILE_TEST_EXISTS), "idle one hour: kept");
    ok(g_file_test(files[3], G_FILE_TEST_EXISTS), "idle but locked by a take: kept");
    close(busy);
    {
        GStatBuf sb;

        ok(g_stat(mark, &sb) == 0 && sb.st_mtime >= time(NULL) - 60,
           "the marker says when the sweep ran");
    }
    is_int(3, takes(rl, names[0], 0, 5), "a removed customer starts afresh");

    /* a clock gone back leaves a marker in the future: it must not stop
     * every later sweep */
    age(mark, -3 * 3600);
    age(files[3], 3 * 3600);
    is_int(1, takes(rl, "new3", 0, 1), "new3 admitted");
    ok(!g_file_test(files[3], G_FILE_TEST_EXISTS), "marker in the future: swept");
    for (guint i = 0; i < G_N_ELEMENTS(names); i++)
        g_free(files[i]);
    smg_ratelimit_free(rl);
    g_free(mark);
    g_free(state);
}

struct taker {
    struct smg_ratelimit *rl;
    int admitted;
};

/* taker_run - one take of "c" in a thread */
static gpointer
taker_run(gpointer data)
{
    struct taker *t = data;

    t->admitted = takes(t->rl, "c", 0, 1);
    return NULL;
}

/* waiting - whether /proc/locks shows a process waiting for inode ino */
static gboolean
waiting(ino_t ino)
{
    char *text = NULL;
    char *needle = g_strdup_printf(":%lu ", (unsigned long) ino);
    gboolean found = FALSE;

    if (g_file_get_contents("/proc/locks", &text, NULL, NULL)) {
        char **lines = g_strsplit(text, "\n", -1);

        for (char **l = lines; *l != NULL && !found; l++)
            found = strstr(*l, "->") != NULL && strstr(*l, needle) != NULL;
        g_strfreev(lines);
    }
    g_free(text);
    g_free(needle);
    return found;
}

/* test_swept_while_waiting - a take waiting for a file the sweep removes */
static void
test_swept_while_waiting(void)
{
    char *state = new_state("swept-waiting");
    char *file = state_path(state, "c");
    struct smg_ratelimit *rl = must_open("rate_limit = 3/min", state);
    struct taker t = {rl, -1};
    GThread *th;
    GStatBuf sb;
    int fd;

    is_int(1, takes(rl, "c", 0, 1), "c: admitted");
    /* what the sweep does: lock the file, then remove it */
    fd = open(file, O_RDONLY);
    if (fd < 0 || flock(fd, LOCK_EX) < 0 || g_stat(file, &sb) < 0)
        bail("lock %s", file);
    th = g_thread_new("taker", taker_run, &t);
    for (int i = 0; i < 3000 && !waiting(sb.st_ino); i++)
        g_usleep(10000);
    ok(waiting(sb.st_ino), "the take waits for the lock");
    if (g_unlink(file) < 0)
        bail("unlink %s", file);
    close(fd);
    g_thread_join(th);
    is_int(1, t.admitted, "then it is admitted");
    ok(g_file_test(file, G_FILE_TEST_IS_REGULAR), "in a new file");
    is_int(2, takes(rl, "c", 0, 5),
           "counted there, not in the removed one: 2 more of 3 admitted");
    smg_ratelimit_free(rl);
    g_free(file);
    g_free(state);
}

/* test_names - customer names become safe file names */
static void
test_names(void)
{
    char *n;
    char *longname = g_strnfill(300, 'a');
    char *state = new_state("names");
    struct smg_ratelimit *rl;
    char *file;

    n = smg_ratelimit_file_name("customer42");
    is_string("customer42", n, "plain name kept");
    g_free(n);
    n = smg_ratelimit_file_name("cust.43@example.com");
    is_string("cust.43%40example.com", n, "'@' escaped, dots kept");
    g_free(n);
    n = smg_ratelimit_file_name("../../etc/passwd");
    is_string("%2E.%2F..%2Fetc%2Fpasswd", n, "no '/' and no leading dot");
    g_free(n);
    n = smg_ratelimit_file_name("..");
    is_string("%2E.", n, "'..' escaped");
    g_free(n);
    n = smg_ratelimit_file_name("100%");
    is_string("100%25", n, "'%%' escaped, so the mapping is one-to-one");
    g_free(n);
    n = smg_ratelimit_file_name(longname);
    ok(g_str_has_prefix(n, "sha256-") && strlen(n) == 7 + 64,
       "a long name is hashed (%s)", n);
    g_free(n);

    rl = must_open("rate_limit = 2/min", state);
    is_int(2, takes(rl, "../escape", T0, 3), "hostile name limited");
    file = g_build_filename(state, "ratelimit", "%2E.%2Fescape", NULL);
    ok(g_file_test(file, G_FILE_TEST_IS_REGULAR),
       "its state stays inside the folder");
    g_free(file);
    is_int(2, takes(rl, longname, T0, 3), "long name limited");
    smg_ratelimit_free(rl);
    g_free(longname);
    g_free(state);
}

int
main(void)
{
    tmp = test_tmpdir();
    plan_lazy();
    smg_log_init("ratelimit-t", SMG_LOG_STDERR, FALSE);
    test_off();
    test_basic();
    test_sliding();
    test_resize();
    test_table();
    test_bad_config();
    test_concurrency();
    test_corrupt();
    test_unusable();
    test_names();
    test_removed();
    test_sweep();
    test_swept_while_waiting();
    test_tmpdir_free(tmp);
    return 0;
}

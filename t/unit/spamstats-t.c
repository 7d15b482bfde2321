/*
 * spamstats-t.c - unit tests for lib/spamstats: file names, counting per
 * hour, the window, lines that do not parse, concurrent writers (forked,
 * every count must arrive), writers killed before their rename (what they
 * leave is reused, not piled up) and smg_spamstats_ratio through a config.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "lib/config.h"
#include "lib/spamstats.h"
#include "t/tap/basic.h"

static char *top;

static void
test_names(void)
{
    char *f;

    f = smg_spamstats_file("/d", "customer42");
    is_string("/d/customer42", f, "plain name kept");
    g_free(f);
    f = smg_spamstats_file("/d", "../etc/passwd");
    is_string("/d/%2E.%2Fetc%2Fpasswd", f, "dots and slashes cannot leave the folder");
    g_free(f);
    f = smg_spamstats_file("/d", "a b@c");
    is_string("/d/a%20b%40c", f, "other bytes escaped");
    g_free(f);
    f = smg_spamstats_file("/d", "");
    is_string("/d/%00", f, "empty name");
    g_free(f);
}

/*
 * test_long_names - a customer is an AUTH user name, up to 255 bytes of
 * UTF-8: escaped, it could make a file name over NAME_MAX (255), and then
 * the customer had no counters at all (a warning a message, and smg-route
 * never judged it).  A name whose escaped form is over 200 bytes is
 * "sha256-" and the hex digest of the name, as lib/ratelimit's files.
 */
static void
test_long_names(void)
{
    char *dir = g_build_filename(top, "long", NULL);
    GError *err = NULL;
    guint64 ham = 0, spam = 0;
    gint64 t0 = 1795320000;
    GString *utf8 = g_string_new(NULL);
    char *at = g_strnfill(250, 'a'), *name, *f, *want, *hex;

    /* 43 two-byte letters: 86 bytes, 258 once escaped */
    for (int i = 0; i < 43; i++)
        g_string_append(utf8, "\xd0\xb6");
    name = g_strconcat(at, "@b.c", NULL); /* 254 bytes, 256 escaped */
    const char *const names[] = {utf8->str, name};
    for (unsigned i = 0; i < G_N_ELEMENTS(names); i++) {
        gboolean added = smg_spamstats_add_dir(dir, names[i], TRUE, t0, 86400, &err) == SMG_OK
                         && smg_spamstats_add_dir(dir, names[i], FALSE, t0 + 1, 86400, &err)
                                == SMG_OK;
        ok(added, "long name %u: counted (%s)", i, err != NULL ? err->message : "ok");
        g_clear_error(&err);
        ham = spam = 0;
        is_int(SMG_OK, smg_spamstats_read_dir(dir, names[i], t0 + 2, 86400, &ham, &spam, &err),
               "long name %u: read", i);
        g_clear_error(&err);
        ok(ham == 1 && spam == 1, "long name %u: 1 ham and 1 spam", i);
    }
    f = smg_spamstats_file("/d", name);
    hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256, name, -1);
    want = g_strconcat("/d/sha256-", hex, NULL);
    is_string(want, f, "a long name's file is sha256- and its digest");
    g_free(f);
    g_free(want);
    g_free(hex);
    at[200] = '\0';
    f = smg_spamstats_file("/d", at);
    ok(g_str_has_prefix(f, "/d/aaaa") && strlen(f) == 203, "a name of 200 bytes stays as it is");
    g_free(f);
    f = smg_spamstats_file("/d", "sha256-x");
    is_string("/d/sha256-x", f, "a short name that starts so is kept");
    g_free(f);
    g_free(name);
    g_free(at);
    g_string_free(utf8, TRUE);
    g_free(dir);
}

static void
test_counts(void)
{
    char *dir = g_build_filename(top, "st", NULL);
    GError *err = NULL;
    guint64 ham = 9, spam = 9;
    gint64 t0 = 1795320000; /* a multiple of 3600 */
    char *file, *text = NULL;

    is_int(SMG_OK, smg_spamstats_read_dir(dir, "c1", t0, 86400, &ham, &spam, &err),
           "a customer without a file");
    ok(ham == 0 && spam == 0, "has no counts");
    for (int i = 0; i < 3; i++)
        ok(smg_spamstats_add_dir(dir, "c1", FALSE, t0 + i, 86400, &err) == SMG_OK, "ham %d", i);
    ok(smg_spamstats_add_dir(dir, "c1", TRUE, t0 + 10, 86400, &err) == SMG_OK, "spam");
    ok(smg_spamstats_add_dir(dir, "c1", TRUE, t0 + 3600 + 5, 86400, &err) == SMG_OK,
       "spam an hour later");
    is_int(SMG_OK, smg_spamstats_read_dir(dir, "c1", t0 + 3700, 86400, &ham, &spam, &err), "read");
    ok(ham == 3 && spam == 2, "3 ham and 2 spam (%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ")",
       ham, spam);
    file = smg_spamstats_file(dir, "c1");
    ok(g_file_get_contents(file, &text, NULL, NULL), "the file exists");
    is_string("# smg spamstats 1: hour-start ham spam\n1795320000 3 1\n1795323600 0 1\n", text,
              "file format: one line per hour");
    g_free(text);

    /* the window: an hour counts while it overlaps the window */
    is_int(SMG_OK, smg_spamstats_read_dir(dir, "c1", t0 + 86400 + 3600 + 60, 86400, &ham, &spam, &err),
           "read a day and an hour later");
    ok(ham == 0 && spam == 1, "only the second hour counts");
    ok(smg_spamstats_add_dir(dir, "c1", FALSE, t0 + 86400 + 3600 + 60, 86400, &err) == SMG_OK,
       "add a day later");
    ok(g_file_get_contents(file, &text, NULL, NULL) && strstr(text, "1795320000") == NULL,
       "old hours dropped on write");
    g_free(text);

    /* lines that do not parse are ignored */
    test_write_file(file, "# x\ngarbage\n1795320000 x 1\n1795320001 1 1\n"
                          "1795323600 5 7\n1795323600 1\n");
    is_int(SMG_OK, smg_spamstats_read_dir(dir, "c1", t0 + 3700, 86400, &ham, &spam, &err),
           "read a damaged file");
    ok(ham == 5 && spam == 7, "good lines counted, bad ones ignored");
    ok(smg_spamstats_add_dir(dir, "c1", TRUE, t0 + 3700, 86400, &err) == SMG_OK,
       "a damaged file is rewritten");
    is_int(SMG_OK, smg_spamstats_read_dir(dir, "c1", t0 + 3700, 86400, &ham, &spam, &err), "read");
    ok(ham == 5 && spam == 8, "and keeps its good lines");

    /* counts strtoull takes but that are no count: "-1" was 2^64 - 1 and
     * an overflow G_MAXUINT64, which then wrapped the sums */
    {
        static const char *const bad[] = {
            "1795320000 -1 0\n", "1795320000 0 -1\n", "1795320000 +2 0\n",
            "1795320000 18446744073709551616 0\n", "1795320000  2 0\n",
            "-1795320000 2 0\n", "9223372036854774000 2 0\n",
        };
        for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
            enum smg_status st;
            test_write_file(file, bad[i]);
            st = smg_spamstats_read_dir(dir, "c1", t0 + 3700, 86400, &ham, &spam, &err);
            ok(st == SMG_OK && ham == 0 && spam == 0,
               "a line with a count that is none is ignored: %.*s (%" G_GUINT64_FORMAT
               ", %" G_GUINT64_FORMAT ")", (int) strlen(bad[i]) - 1, bad[i], ham, spam);
        }
    }
    /* one hour written twice (a damaged file): added up once, and a new
     * message counted once, not once for each copy */
    test_write_file(file, "1795320000 2 3\n1795320000 1 1\n");
    is_int(SMG_OK, smg_spamstats_read_dir(dir, "c1", t0 + 3700, 86400, &ham, &spam, &err),
           "read a repeated hour");
    ok(ham == 3 && spam == 4,
       "a repeated hour is added up (%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ")", ham, spam);
    is_int(SMG_OK, smg_spamstats_add_dir(dir, "c1", TRUE, t0 + 5, 86400, &err),
           "one more spam in that hour");
    is_int(SMG_OK, smg_spamstats_read_dir(dir, "c1", t0 + 3700, 86400, &ham, &spam, &err),
           "read it back");
    ok(ham == 3 && spam == 5,
       "one more spam in that hour counts once (%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ")",
       ham, spam);
    g_free(file);

    /* concurrent writers */
    {
        pid_t kids[4];
        int good = 0;
        for (int k = 0; k < 4; k++) {
            kids[k] = fork();
            if (kids[k] == 0) {
                GError *e = NULL;
                int bad = 0;
                for (int i = 0; i < 50; i++)
                    if (smg_spamstats_add_dir(dir, "busy", i % 5 == 0, t0 + i, 86400, &e) != SMG_OK)
                        bad++;
                _exit(bad);
            }
        }
        for (int k = 0; k < 4; k++) {
            int status = 0;
            waitpid(kids[k], &status, 0);
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                good++;
        }
        is_int(4, good, "four writers at once");
        ok(smg_spamstats_read_dir(dir, "busy", t0 + 100, 86400, &ham, &spam, &err) == SMG_OK
               && ham == 160 && spam == 40,
           "no count lost (%" G_GUINT64_FORMAT " ham, %" G_GUINT64_FORMAT " spam)", ham, spam);
    }

    /* an unreadable place */
    {
        char *under = g_build_filename(top, "st", "busy", NULL); /* a file, not a folder */
        enum smg_status st = smg_spamstats_read_dir(under, "x", t0, 86400, &ham, &spam, &err);
        is_int(SMG_TEMPFAIL, st, "a folder that is a file: tempfail");
        g_clear_error(&err);
        st = smg_spamstats_add_dir(under, "x", TRUE, t0, 86400, &err);
        is_int(SMG_TEMPFAIL, st, "cannot write there: tempfail");
        g_clear_error(&err);
        g_free(under);
    }
    g_free(dir);
}

static void
test_ratio(void)
{
    char *conftext = g_strdup_printf("[spool]\nstate_dir = %s/state\n[check]\nspamstats_window = 2h\n",
                                     top);
    struct smg_conf *conf = NULL;
    GError *err = NULL;
    double ratio = -1;
    guint64 n = 99;
    gint64 now = (gint64) time(NULL);

    if (smg_conf_load_data(conftext, "test.conf", &conf, &err) != SMG_OK)
        bail("config: %s", err->message);
    is_int(SMG_OK, smg_spamstats_ratio(conf, "nobody", &ratio, &n, &err), "ratio of nobody");
    ok(ratio == 0 && n == 0, "is 0 of 0");
    for (int i = 0; i < 4; i++)
        ok(smg_spamstats_add(conf, "cust", i == 0, now, &err) == SMG_OK, "add %d", i);
    is_int(SMG_OK, smg_spamstats_ratio(conf, "cust", &ratio, &n, &err), "ratio of cust");
    ok(ratio == 0.25 && n == 4, "one spam in four (%g of %" G_GUINT64_FORMAT ")", ratio, n);
    {
        char *dir = smg_spamstats_dir(conf);
        char *want = g_strdup_printf("%s/state/spamstats", top);
        is_string(want, dir, "folder under state_dir");
        g_free(dir);
        g_free(want);
    }
    smg_conf_free(conf);
    g_free(conftext);
}

/* open_fds - how many file descriptors this process has open */
static unsigned
open_fds(void)
{
    GDir *d = g_dir_open("/proc/self/fd", 0, NULL);
    unsigned n = 0;

    if (d == NULL)
        bail("cannot list /proc/self/fd");
    while (g_dir_read_name(d) != NULL)
        n++;
    g_dir_close(d);
    return n;
}

/* a file that cannot be written (a full disk: its temporary file is made a
 * link to /dev/full) fails the update, and leaves no descriptor open: a
 * --watch worker counts every message, and would run out of them */
static void
test_write_error(void)
{
    char *dir = g_build_filename(top, "full", NULL);
    char *file = smg_spamstats_file(dir, "c9");
    char *tmp = g_build_filename(dir, ".tmp-c9", NULL);
    GError *err = NULL;
    unsigned before;
    gboolean failed = TRUE;

    if (g_mkdir_with_parents(dir, 0755) != 0)
        bail("mkdir %s", dir);
    ok(smg_spamstats_add_dir(dir, "c9", FALSE, 1795320000, 86400, &err) == SMG_OK,
       "write error: a first count");
    before = open_fds();
    for (int i = 0; i < 5; i++) {
        if (symlink("/dev/full", tmp) != 0)
            bail("symlink %s", tmp);
        failed = failed
                 && smg_spamstats_add_dir(dir, "c9", TRUE, 1795320000, 86400, &err) == SMG_TEMPFAIL;
        g_clear_error(&err);
        (void) unlink(tmp);
    }
    ok(failed, "write error: each update fails (4.3.0)");
    is_int(before, open_fds(), "write error: no descriptor left open");
    {
        guint64 ham = 0, spam = 0;
        ok(smg_spamstats_read_dir(dir, "c9", 1795320000, 86400, &ham, &spam, &err) == SMG_OK
               && ham == 1 && spam == 0,
           "write error: the file as it was");
    }
    g_free(tmp);
    g_free(file);
    g_free(dir);
}

/*
 * writers killed in the middle of writing (here by SIGXFSZ, a file size
 * limit below the file's size; in life SIGKILL or a crash) leave their
 * temporary file; the next writer reuses it, so the folder holds the lock
 * and the customer's file, not one more file for each killed writer
 */
static void
test_killed_writers(void)
{
    char *dir = g_build_filename(top, "killed", NULL);
    gboolean killed = TRUE;
    unsigned others = 0;
    GError *err = NULL;
    const char *name;
    GDir *d;

    for (int i = 0; i < 3; i++) {
        int status = 0;
        pid_t pid = fork();

        if (pid < 0)
            bail("fork");
        if (pid == 0) {
            struct rlimit rl = {10, 10};
            GError *e = NULL;

            (void) setrlimit(RLIMIT_FSIZE, &rl);
            _exit(smg_spamstats_add_dir(dir, "c5", TRUE, 1795320000, 86400, &e) == SMG_OK
                      ? 0
                      : 1);
        }
        killed = killed && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status)
                 && WTERMSIG(status) == SIGXFSZ;
    }
    ok(killed, "killed writers: each died while writing (SIGXFSZ)");
    ok(smg_spamstats_add_dir(dir, "c5", FALSE, 1795320000, 86400, &err) == SMG_OK,
       "killed writers: the next one counts (%s)", err != NULL ? err->message : "ok");
    g_clear_error(&err);
    if ((d = g_dir_open(dir, 0, NULL)) == NULL)
        bail("cannot list %s", dir);
    while ((name = g_dir_read_name(d)) != NULL)
        if (strcmp(name, ".lock") != 0 && strcmp(name, "c5") != 0) {
            diag("left over: %s", name);
            others++;
        }
    g_dir_close(d);
    is_int(0, others, "killed writers: no file left behind but the lock and the counts");
    {
        guint64 ham = 0, spam = 0;
        ok(smg_spamstats_read_dir(dir, "c5", 1795320000, 86400, &ham, &spam, &err) == SMG_OK
               && ham == 1 && spam == 0,
           "killed writers: their counts lost, the file sound");
    }
    /* the temporary name is no customer's file name */
    {
        static const char *const names[] = {"c6.tmp", ".tmp-c6", "c6"};
        gboolean apart = TRUE;

        for (unsigned i = 0; i < G_N_ELEMENTS(names); i++)
            apart = apart
                    && smg_spamstats_add_dir(dir, names[i], i == 2, 1795320000, 86400, &err)
                           == SMG_OK;
        for (unsigned i = 0; i < G_N_ELEMENTS(names); i++) {
            guint64 ham = 0, spam = 0;
            apart = apart
                    && smg_spamstats_read_dir(dir, names[i], 1795320000, 86400, &ham, &spam,
                                              &err) == SMG_OK
                    && ham == (i == 2 ? 0 : 1) && spam == (i == 2 ? 1 : 0);
        }
        ok(apart, "customers c6.tmp and .tmp-c6 keep their counts when c6 is written");
        g_clear_error(&err);
    }
    g_free(dir);
}

int
main(void)
{
    plan_lazy();
    top = test_tmpdir();
    test_names();
    test_long_names();
    test_counts();
    test_ratio();
    test_write_error();
    test_killed_writers();
    test_tmpdir_free(top);
    return 0;
}

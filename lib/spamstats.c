/*
 * spamstats.c - per-customer spam counters (format in spamstats.h).
 *
 * One lock for the whole folder keeps the code small: an update reads a
 * few lines and writes them back, so workers wait microseconds at most.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/ratelimit.h"
#include "lib/spamstats.h"

struct bucket {
    gint64 start;
    guint64 ham, spam;
};

char *
smg_spamstats_dir(const struct smg_conf *conf)
{
    return g_build_filename(smg_conf_str(conf, "spool", "state_dir"), "spamstats", NULL);
}

/*
 * file_name - the name of customer's file (new string): the one
 * lib/ratelimit gives a customer's file (escaped, a leading dot too, and
 * past 200 bytes "sha256-<hex>", so that ".tmp-" before it still fits
 * NAME_MAX); an empty name, which it hashes, is "%00" here
 */
static char *
file_name(const char *customer)
{
    return *customer != '\0' ? smg_ratelimit_file_name(customer) : g_strdup("%00");
}

char *
smg_spamstats_file(const char *dir, const char *customer)
{
    char *name = file_name(customer);
    char *path = g_build_filename(dir, name, NULL);

    g_free(name);
    return path;
}

/* bounds of a line that can be right: no sum or hour-end can overflow */
#define MAX_START ((guint64) G_MAXINT64 / 2)
#define MAX_COUNT G_GUINT64_CONSTANT(1000000000000)

/* cmp_bucket - order of buckets by hour */
static int
cmp_bucket(gconstpointer a, gconstpointer b)
{
    const struct bucket *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

/* number - a decimal number at p (digits only: no sign, no blank, no
 * overflow, which strtoull would all take: "-1" is 2^64 - 1), FALSE if none */
static gboolean
number(const char *p, char **end, guint64 *out)
{
    if (!g_ascii_isdigit(*p))
        return FALSE;
    errno = 0;
    *out = g_ascii_strtoull(p, end, 10);
    return errno == 0;
}

/* read_buckets - the buckets of file newer than oldest, one per hour
 * (lines of one hour are added up); FALSE on I/O error */
static gboolean
read_buckets(const char *file, gint64 oldest, GArray *out, GError **err)
{
    char *text = NULL;
    GError *e = NULL;
    char **lines;
    guint n = 0;

    if (!g_file_get_contents(file, &text, NULL, &e)) {
        gboolean missing = g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT);
        if (!missing)
            smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "spamstats %s: %s", file, e->message);
        g_error_free(e);
        return missing;
    }
    lines = g_strsplit(text, "\n", -1);
    for (unsigned i = 0; lines[i] != NULL; i++) {
        struct bucket b;
        guint64 start;
        char *end;
        const char *p = lines[i];

        if (*p == '#' || *p == '\0')
            continue;
        if (!number(p, &end, &start) || *end != ' ' || start > MAX_START)
            continue;
        b.start = (gint64) start;
        p = end + 1;
        if (!number(p, &end, &b.ham) || *end != ' ')
            continue;
        p = end + 1;
        if (!number(p, &end, &b.spam) || *end != '\0' || b.start % SMG_SPAMSTATS_BUCKET != 0
            || b.ham > MAX_COUNT || b.spam > MAX_COUNT)
            continue;
        if (b.start + SMG_SPAMSTATS_BUCKET > oldest)
            g_array_append_val(out, b);
    }
    /* in hour order, one bucket an hour: a damaged file's repeated hour
     * would otherwise be counted, and then incremented, twice */
    g_array_sort(out, cmp_bucket);
    for (guint i = 0; i < out->len; i++) {
        struct bucket *x = &g_array_index(out, struct bucket, i);
        if (n > 0 && g_array_index(out, struct bucket, n - 1).start == x->start) {
            struct bucket *y = &g_array_index(out, struct bucket, n - 1);
            y->ham = MIN(y->ham + x->ham, MAX_COUNT);
            y->spam = MIN(y->spam + x->spam, MAX_COUNT);
        } else {
            g_array_index(out, struct bucket, n++) = *x;
        }
    }
    g_array_set_size(out, n);
    g_strfreev(lines);
    g_free(text);
    return TRUE;
}

enum smg_status
smg_spamstats_read_dir(const char *dir, const char *customer, gint64 now,
                       gint64 window, guint64 *ham, guint64 *spam, GError **err)
{
    char *file = smg_spamstats_file(dir, customer);
    GArray *b = g_array_new(FALSE, FALSE, sizeof(struct bucket));
    gboolean ok = read_buckets(file, now - window, b, err);

    *ham = *spam = 0;
    for (guint i = 0; ok && i < b->len; i++) {
        const struct bucket *x = &g_array_index(b, struct bucket, i);
        if (x->start <= now) {
            *ham += x->ham;
            *spam += x->spam;
        }
    }
    g_array_free(b, TRUE);
    g_free(file);
    return ok ? SMG_OK : SMG_TEMPFAIL;
}

enum smg_status
smg_spamstats_add_dir(const char *dir, const char *customer, gboolean spam,
                      gint64 now, gint64 window, GError **err)
{
    char *lock = g_build_filename(dir, ".lock", NULL);
    char *file = smg_spamstats_file(dir, customer);
    char *tmp = NULL;
    GArray *b = g_array_new(FALSE, FALSE, sizeof(struct bucket));
    GString *out = g_string_new("# smg spamstats 1: hour-start ham spam\n");
    gint64 start = now - now % SMG_SPAMSTATS_BUCKET;
    enum smg_status st = SMG_TEMPFAIL;
    gboolean found = FALSE;
    int lfd, fd;

    if (g_mkdir_with_parents(dir, 0755) != 0) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "spamstats %s: %s", dir, g_strerror(errno));
        goto out;
    }
    lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "spamstats %s: %s", lock, g_strerror(errno));
        if (lfd >= 0)
            close(lfd);
        goto out;
    }
    if (read_buckets(file, now - window, b, err)) {
        for (guint i = 0; i < b->len; i++) {
            struct bucket *x = &g_array_index(b, struct bucket, i);
            if (x->start == start) {
                found = TRUE;
                if (spam)
                    x->spam++;
                else
                    x->ham++;
            }
            g_string_append_printf(out, "%" G_GINT64_FORMAT " %" G_GUINT64_FORMAT
                                   " %" G_GUINT64_FORMAT "\n", x->start, x->ham, x->spam);
        }
        if (!found)
            g_string_append_printf(out, "%" G_GINT64_FORMAT " %d %d\n", start,
                                   spam ? 0 : 1, spam ? 1 : 0);
        /* one name, not one a process: writers take turns under the
         * lock, so a writer killed before its rename (SIGKILL, a crash)
         * leaves one file, which the next writer overwrites and renames,
         * not one more file in the folder each time.  It starts with a
         * dot, which no customer's file does (a leading one is escaped):
         * "NAME.tmp" would be customer "NAME.tmp"'s own file */
        {
            char *name = file_name(customer);
            char *dot = g_strconcat(".tmp-", name, NULL);

            tmp = g_build_filename(dir, dot, NULL);
            g_free(dot);
            g_free(name);
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0 && !smg_write_at(fd, out->str, out->len, 0)) {
            int e = errno;
            close(fd); /* a failed write must not leak it: workers live long */
            fd = -1;
            errno = e;
        }
        if (fd >= 0 && close(fd) == 0 && rename(tmp, file) == 0) {
            st = SMG_OK;
        } else {
            smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "spamstats %s: %s", file,
                          g_strerror(errno));
            (void) unlink(tmp);
        }
    }
    close(lfd); /* releases the lock */
out:
    g_free(tmp);
    g_free(lock);
    g_free(file);
    g_array_free(b, TRUE);
    g_string_free(out, TRUE);
    return st;
}

enum smg_status
smg_spamstats_add(const struct smg_conf *conf, const char *customer,
                  gboolean spam, gint64 now, GError **err)
{
    char *dir = smg_spamstats_dir(conf);
    enum smg_status st = smg_spamstats_add_dir(
        dir, customer, spam, now, smg_conf_int(conf, "check", "spamstats_window"), err);

    g_free(dir);
    return st;
}

enum smg_status
smg_spamstats_ratio(const struct smg_conf *conf, const char *customer,
                    double *ratio, guint64 *n, GError **err)
{
    char *dir = smg_spamstats_dir(conf);
    guint64 ham = 0, spam = 0;
    enum smg_status st = smg_spamstats_read_dir(
        dir, customer, (gint64) time(NULL),
        smg_conf_int(conf, "check", "spamstats_window"), &ham, &spam, err);

    g_free(dir);
    *n = ham + spam;
    *ratio = *n > 0 ? (double) spam / (double) *n : 0.0;
    return st;
}

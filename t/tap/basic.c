/*
 * basic.c - TAP output for the C unit tests (see basic.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "t/tap/basic.h"

static unsigned long tap_planned;
static unsigned long tap_run;
static unsigned long tap_failed;
static int tap_lazy;

/* finish - atexit hook: print a lazy plan, report a mismatch */
static void
finish(void)
{
    fflush(stdout);
    if (tap_lazy)
        printf("1..%lu\n", tap_run);
    else if (tap_planned != tap_run)
        printf("# planned %lu tests but ran %lu\n", tap_planned, tap_run);
    if (tap_failed > 0)
        printf("# %lu of %lu tests failed\n", tap_failed, tap_run);
    fflush(stdout);
}

void
plan(unsigned long n)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    tap_planned = n;
    printf("1..%lu\n", n);
    atexit(finish);
}

void
plan_lazy(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    tap_lazy = 1;
    atexit(finish);
}

/* vresult - print one result line */
static int
vresult(int success, const char *fmt, va_list ap)
{
    tap_run++;
    if (!success)
        tap_failed++;
    printf("%sok %lu - ", success ? "" : "not ", tap_run);
    vprintf(fmt, ap);
    printf("\n");
    return success;
}

int
ok(int success, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vresult(success, fmt, ap);
    va_end(ap);
    return success;
}

int
is_int(long wanted, long seen, const char *fmt, ...)
{
    va_list ap;
    int success = wanted == seen;

    va_start(ap, fmt);
    vresult(success, fmt, ap);
    va_end(ap);
    if (!success)
        diag("wanted: %ld, seen: %ld", wanted, seen);
    return success;
}

int
is_string(const char *wanted, const char *seen, const char *fmt, ...)
{
    va_list ap;
    int success;

    if (wanted == NULL || seen == NULL)
        success = wanted == seen;
    else
        success = strcmp(wanted, seen) == 0;
    va_start(ap, fmt);
    vresult(success, fmt, ap);
    va_end(ap);
    if (!success)
        diag("wanted: %s\n#   seen: %s", wanted ? wanted : "(null)",
             seen ? seen : "(null)");
    return success;
}

int
is_blob(const void *wanted, const void *seen, size_t len, const char *fmt, ...)
{
    va_list ap;
    int success = memcmp(wanted, seen, len) == 0;

    va_start(ap, fmt);
    vresult(success, fmt, ap);
    va_end(ap);
    return success;
}

void
skip(const char *reason, ...)
{
    va_list ap;

    tap_run++;
    printf("ok %lu # skip ", tap_run);
    va_start(ap, reason);
    vprintf(reason, ap);
    va_end(ap);
    printf("\n");
}

void
diag(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

void
bail(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    printf("Bail out! ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    exit(255);
}

char *
test_tmpdir(void)
{
    GError *err = NULL;
    char *dir = g_dir_make_tmp("smg-test-XXXXXX", &err);

    if (dir == NULL)
        bail("cannot make temporary directory: %s", err->message);
    return dir;
}

/* rmtree - remove a directory tree */
static void
rmtree(const char *path)
{
    GDir *d = g_dir_open(path, 0, NULL);
    const char *name;

    if (d != NULL) {
        while ((name = g_dir_read_name(d)) != NULL) {
            char *sub = g_build_filename(path, name, NULL);
            if (g_file_test(sub, G_FILE_TEST_IS_DIR)
                && !g_file_test(sub, G_FILE_TEST_IS_SYMLINK))
                rmtree(sub);
            else
                g_unlink(sub);
            g_free(sub);
        }
        g_dir_close(d);
    }
    g_rmdir(path);
}

void
test_tmpdir_free(char *path)
{
    if (path != NULL)
        rmtree(path);
    g_free(path);
}

char *
test_file_path(const char *file)
{
    const char *srcdir = getenv("srcdir");
    char *path = g_build_filename(srcdir ? srcdir : ".", "t", "data", file, NULL);

    if (access(path, R_OK) != 0) {
        g_free(path);
        return NULL;
    }
    return path;
}

void
test_replay_fuzz(const char *sub, const char *target,
                 unsigned (*check)(const char *buf, size_t len))
{
    const char *srcdir = getenv("srcdir");
    char *dir = g_build_filename(srcdir ? srcdir : ".", "t", "fuzz", sub, target, NULL);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    unsigned n = 0, bad_result = 0;

    ok(d != NULL, "replay directory t/fuzz/%s/%s", sub, target);
    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
        char *path = g_build_filename(dir, name, NULL), *buf = NULL;
        gsize len = 0;

        if (g_file_get_contents(path, &buf, &len, NULL)) {
            bad_result += check(buf, len);
            n++;
        }
        g_free(buf);
        g_free(path);
    }
    ok(n > 0, "replayed %u inputs from t/fuzz/%s/%s", n, sub, target);
    is_int(0, bad_result, "every replayed result is consistent");
    if (d != NULL)
        g_dir_close(d);
    g_free(dir);
}

void
test_write_file(const char *path, const char *content)
{
    GError *err = NULL;

    if (!g_file_set_contents(path, content, -1, &err))
        bail("cannot write %s: %s", path, err->message);
}

double
test_cpu_ms(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3
           + (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

int
test_child_ok(int pid)
{
    int status = 0;

    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        diag("child: %s %d", WIFSIGNALED(status) ? "signal" : "exit",
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/*
 * basic.h - a small TAP producer for the C unit tests, with the names of
 * c-tap-harness's basic.h (plan, ok, is_int, is_string, is_blob, diag, bail,
 * test_tmpdir), reimplemented for smg.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_TAP_BASIC_H
#define SMG_TAP_BASIC_H 1

#include <stddef.h>

/* plan - announce n tests; plan_lazy - announce the count at exit */
void plan(unsigned long n);
void plan_lazy(void);

/* ok - one test; the description is printf-style. Returns success. */
int ok(int success, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int is_int(long wanted, long seen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int is_string(const char *wanted, const char *seen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int is_blob(const void *wanted, const void *seen, size_t len, const char *fmt,
            ...) __attribute__((format(printf, 4, 5)));
void skip(const char *reason, ...) __attribute__((format(printf, 1, 2)));
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/*
 * test_tmpdir - a fresh temporary directory for this test (malloc'd path),
 * removed with its contents by test_tmpdir_free.
 */
char *test_tmpdir(void);
void test_tmpdir_free(char *path);

/* test_file_path - srcdir-relative path of a data file (malloc'd), or NULL */
char *test_file_path(const char *file);

/* test_write_file - write a whole file (bails on error) */
void test_write_file(const char *path, const char *content);

/*
 * TEST_TIME_JUDGED - whether this build's CPU time measures the code under
 * test: not under AddressSanitizer, whose bookkeeping (its strstr, its
 * large allocations) can grow faster than the input does.  Tests that
 * compare CPU times (a linear-time check) still run both inputs there and
 * check the results; the plain build, which scripts/test runs too, judges
 * the time.
 */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_TIME_JUDGED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_TIME_JUDGED 0
#endif
#endif
#ifndef TEST_TIME_JUDGED
#define TEST_TIME_JUDGED 1
#endif

/* test_cpu_ms - the CPU time (user and system) of this process so far, ms */
double test_cpu_ms(void);

/*
 * test_child_ok - wait for child pid (-1: fork failed); whether it exited
 * 0, with a diag line of its exit status or signal otherwise
 */
int test_child_ok(int pid);

/*
 * test_replay_fuzz - feed every file of t/fuzz/SUB/TARGET (a fuzzer's
 * corpus or regression inputs) to check, which returns how many of its
 * results were inconsistent; three tests: the folder opens, it held
 * inputs, no result was inconsistent
 */
void test_replay_fuzz(const char *sub, const char *target,
                      unsigned (*check)(const char *buf, size_t len));

#endif

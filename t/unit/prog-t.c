/*
 * prog-t.c - unit tests for lib/prog: the programs' common options.
 *
 * The option handler is tested directly; the paths that print and exit
 * (-h, -V, a bad --log, usage, a bad config, -n) run in a forked child whose
 * stdout and stderr are captured in files, and the exit status and output
 * are compared with what the programs' man pages promise.  The children
 * leave through an on_exit hook so that basic.c's atexit report of the
 * plan is not written into their captured stdout.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <glib.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/prog.h"
#include "t/tap/basic.h"

#define USAGE "usage: smg-test [-dnhV] [-c FILE]\n"

struct run {
    int status; /* exit code, or -1 if the child did not exit */
    char *out;
    char *err;
};

static char *tmpdir;

/* slurp - the whole file path ("" if unreadable), then removed */
static char *
slurp(const char *path)
{
    char *s = NULL;

    if (!g_file_get_contents(path, &s, NULL, NULL))
        s = g_strdup("");
    unlink(path);
    return s;
}

/* child_exit - on_exit hook of a child: skip basic.c's atexit report */
static void
child_exit(int status, void *arg)
{
    (void) arg;
    fflush(stdout);
    _exit(status);
}

/* run_child - fn(arg) in a child with stdout and stderr captured */
static void
run_child(void (*fn)(const void *), const void *arg, struct run *r)
{
    char *out = g_build_filename(tmpdir, "out", NULL);
    char *err = g_build_filename(tmpdir, "err", NULL);
    int status;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0)
        bail("fork failed");
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(99);
        on_exit(child_exit, NULL); /* runs before the atexit hooks */
        fn(arg);
        fflush(stdout);
        _exit(98); /* fn was to exit */
    }
    if (waitpid(pid, &status, 0) != pid)
        bail("waitpid failed");
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->out = slurp(out);
    r->err = slurp(err);
    g_free(out);
    g_free(err);
}

/* run_clear - free the captured output */
static void
run_clear(struct run *r)
{
    g_free(r->out);
    g_free(r->err);
}

/* child_option - smg_prog_option with the "c:arg" in arg */
static void
child_option(const void *arg)
{
    const char *s = arg;
    struct smg_prog p;

    smg_prog_init(&p, "smg-test", USAGE);
    (void) smg_prog_option(&p, s[0], s + 2);
}

/* child_usage - smg_prog_usage */
static void
child_usage(const void *arg)
{
    struct smg_prog p;

    (void) arg;
    smg_prog_init(&p, "smg-test", USAGE);
    smg_prog_usage(&p);
}

/* child_number - smg_prog_number of arg */
static void
child_number(const void *arg)
{
    struct smg_prog p;

    smg_prog_init(&p, "smg-test", USAGE);
    printf("%" G_GUINT64_FORMAT "\n", smg_prog_number(&p, arg, 1000));
    exit(0);
}

/* child_config - smg_prog_config of the file arg, with -n if it says so */
static void
child_config(const void *arg)
{
    const struct smg_prog *in = arg;
    struct smg_prog p = *in;
    struct smg_conf *conf = smg_prog_config(&p);

    printf("loaded %s\n", smg_conf_path(conf));
    smg_conf_free(conf);
    exit(0);
}

/* test_option - the common options set the fields */
static void
test_option(void)
{
    struct smg_prog p;

    smg_prog_init(&p, "smg-test", USAGE);
    is_string("smg-test", p.name, "init: name");
    ok(p.config == NULL && !p.debug && !p.print, "init: no -c, -d, -n");
    is_int(SMG_LOG_SYSLOG, p.log, "init: log to syslog");

    ok(smg_prog_option(&p, 'c', "/x/smg.conf"), "-c handled");
    is_string("/x/smg.conf", p.config, "-c sets config");
    ok(smg_prog_option(&p, 'n', NULL), "-n handled");
    ok(p.print, "-n sets print");
    ok(smg_prog_option(&p, 'L', "stderr"), "--log stderr handled");
    is_int(SMG_LOG_STDERR, p.log, "--log stderr");
    ok(smg_prog_option(&p, 'L', "syslog"), "--log syslog handled");
    is_int(SMG_LOG_SYSLOG, p.log, "--log syslog");
    ok(!p.debug, "--log does not set debug");
    ok(smg_prog_option(&p, 'd', NULL), "-d handled");
    ok(p.debug, "-d sets debug");
    is_int(SMG_LOG_STDERR, p.log, "-d logs to stderr");
    ok(smg_prog_option(&p, 'L', "syslog"), "--log after -d handled");
    is_int(SMG_LOG_SYSLOG, p.log, "--log syslog after -d wins");
    ok(p.debug, "... and debug stays");

    ok(!smg_prog_option(&p, 'l', "x"), "a program's own option: not handled");
    ok(!smg_prog_option(&p, '?', NULL), "'?' not handled");
    ok(!smg_prog_option(&p, ':', NULL), "':' not handled");
    ok(!smg_prog_option(&p, 'v', NULL), "'v' (not 'V') not handled");
    is_string("/x/smg.conf", p.config, "not handled: config unchanged");
}

/* test_getopt - the common options are consumed, the others returned */
static void
test_getopt(void)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        SMG_PROG_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    char *argv[] = {"smg-test", "-d",         "--listen", "a:1",
                    "--config", "/etc/x.conf", "--log",   "syslog",
                    "-n",       "--lis=b:2",  "operand", NULL};
    int argc = (int) G_N_ELEMENTS(argv) - 1;
    struct smg_prog p;
    int c;

    smg_prog_init(&p, "smg-test", USAGE);
    optind = 1;
    c = smg_prog_getopt(&p, argc, argv, SMG_PROG_OPTSTRING, longopts);
    is_int('l', c, "getopt: own option returned");
    is_string("a:1", optarg, "getopt: with its argument");
    ok(p.debug, "getopt: -d before it handled");
    c = smg_prog_getopt(&p, argc, argv, SMG_PROG_OPTSTRING, longopts);
    is_int('l', c, "getopt: abbreviated own option returned");
    is_string("b:2", optarg, "getopt: abbreviated, with its argument");
    is_string("/etc/x.conf", p.config, "getopt: --config");
    is_int(SMG_LOG_SYSLOG, p.log, "getopt: --log syslog after -d");
    ok(p.print, "getopt: -n");
    is_int(-1, smg_prog_getopt(&p, argc, argv, SMG_PROG_OPTSTRING, longopts),
           "getopt: -1 at the end");
    is_string("operand", argv[optind], "getopt: optind at the operand");
}

/* test_exits - -h, -V, bad --log and usage print and exit */
static void
test_exits(void)
{
    struct run r;
    char *version = g_strdup_printf("smg-test %s\n", PACKAGE_VERSION);

    run_child(child_option, "h", &r);
    is_int(0, r.status, "-h exits 0");
    is_string(USAGE, r.out, "-h prints the usage on stdout");
    is_string("", r.err, "-h: nothing on stderr");
    run_clear(&r);

    run_child(child_option, "V", &r);
    is_int(0, r.status, "-V exits 0");
    is_string(version, r.out, "-V prints name and version");
    is_string("", r.err, "-V: nothing on stderr");
    run_clear(&r);

    run_child(child_option, "L:mail", &r);
    is_int(EX_USAGE, r.status, "bad --log exits 64");
    is_string("", r.out, "bad --log: nothing on stdout");
    is_string(USAGE, r.err, "bad --log prints the usage on stderr");
    run_clear(&r);

    run_child(child_option, "L:", &r);
    is_int(EX_USAGE, r.status, "empty --log exits 64");
    run_clear(&r);

    run_child(child_usage, NULL, &r);
    is_int(EX_USAGE, r.status, "usage exits 64");
    is_string("", r.out, "usage: nothing on stdout");
    is_string(USAGE, r.err, "usage on stderr");
    run_clear(&r);
    g_free(version);
}

/* test_number - positive decimals, clamped; anything else is usage */
static void
test_number(void)
{
    static const char *const bad[] = {"", "0", "12x", "-", "x", NULL};
    struct smg_prog p;
    struct run r;

    smg_prog_init(&p, "smg-test", USAGE);
    is_int(42, (long) smg_prog_number(&p, "42", 1000), "number: 42");
    is_int(1000, (long) smg_prog_number(&p, "65536", 1000), "number: clamped to max");
    is_int(1, (long) smg_prog_number(&p, "1", 1), "number: max itself");
    for (int i = 0; bad[i] != NULL; i++) {
        run_child(child_number, bad[i], &r);
        ok(r.status == EX_USAGE && strcmp(r.out, "") == 0 && strcmp(r.err, USAGE) == 0,
           "number: \"%s\" is a usage error", bad[i]);
        run_clear(&r);
    }
}

/* test_config - load, -n and the fatal line for a bad file */
static void
test_config(void)
{
    char *good = g_build_filename(tmpdir, "smg.conf", NULL);
    char *bad = g_build_filename(tmpdir, "bad.conf", NULL);
    char *missing = g_build_filename(tmpdir, "missing.conf", NULL);
    char *want;
    struct smg_prog p;
    struct run r;

    test_write_file(good, "[recv]\nmax_recipients = 7\n");
    test_write_file(bad, "[recv]\nno_such_key = 1\n");
    smg_prog_init(&p, "smg-test", USAGE);

    p.config = good;
    run_child(child_config, &p, &r);
    is_int(0, r.status, "good config: returned");
    want = g_strdup_printf("loaded %s\n", good);
    is_string(want, r.out, "good config: the file named by -c");
    g_free(want);
    is_string("", r.err, "good config: nothing on stderr");
    run_clear(&r);

    p.print = TRUE;
    run_child(child_config, &p, &r);
    is_int(0, r.status, "-n exits 0");
    ok(strstr(r.out, "[recv]") != NULL && strstr(r.out, "max_recipients") != NULL
           && strstr(r.out, "7") != NULL,
       "-n prints the setting that differs");
    ok(strstr(r.out, "loaded") == NULL, "-n does not return");
    is_string("", r.err, "-n: nothing on stderr");
    run_clear(&r);
    p.print = FALSE;

    p.config = missing;
    run_child(child_config, &p, &r);
    is_int(EX_CONFIG, r.status, "missing config exits 78");
    is_string("", r.out, "missing config: nothing on stdout");
    ok(g_str_has_prefix(r.err, "smg-test: fatal: ") && strstr(r.err, missing) != NULL
           && g_str_has_suffix(r.err, "\n") && strchr(r.err, '\n') == strrchr(r.err, '\n'),
       "missing config: one fatal line naming the file");
    run_clear(&r);

    p.config = bad;
    p.print = TRUE;
    run_child(child_config, &p, &r);
    is_int(EX_CONFIG, r.status, "bad config with -n exits 78");
    is_string("", r.out, "bad config with -n: nothing on stdout");
    ok(g_str_has_prefix(r.err, "smg-test: fatal: ") && strstr(r.err, "no_such_key") != NULL,
       "bad config: the fatal line gives the reason");
    run_clear(&r);

    g_free(good);
    g_free(bad);
    g_free(missing);
}

int
main(void)
{
    plan(23 + 10 + 13 + 8 + 13);
    tmpdir = test_tmpdir();
    test_option();
    test_getopt();
    test_exits();
    test_number();
    test_config();
    test_tmpdir_free(tmpdir);
    return 0;
}

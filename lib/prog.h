/*
 * prog.h - the options and start-up that every smg program shares.
 *
 * Each bin/smg-<verb> takes -c/--config FILE, -d/--debug, -n (print the
 * settings that differ from the defaults), -h/--help, -V/--version and
 * --log syslog|stderr, loads the config (exit 78 on failure) and then starts
 * logging.  This module does that once: a program keeps its options in a
 * struct smg_prog, lets smg_prog_getopt handle the common ones and handles
 * only its own, then calls smg_prog_config.
 *
 * Unlike the rest of lib/, the functions here print and exit: they are the
 * programs' main() glue, used by bin/ only.  Their messages and exit codes
 * are those documented in the smg-<verb>(8) pages: usage on stderr and 64
 * for a bad option, usage on stdout and 0 for -h, "smg-x VERSION" for -V,
 * "smg-x: fatal: REASON" and 78 for a bad config, the settings and 0 for -n.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_PROG_H
#define SMG_PROG_H

#include <getopt.h>

#include <glib.h>

#include "lib/config.h"
#include "lib/log.h"

struct smg_prog {
    const char *name;      /* "smg-recv": messages, -V and the log tag */
    const char *usage;     /* the usage text, ending in a newline */
    const char *config;    /* -c FILE; NULL: the default path */
    gboolean debug;        /* -d */
    gboolean print;        /* -n */
    enum smg_log_dest log; /* --log; -d sets stderr; default syslog */
};

/* The short options of the common set; a program appends its own. */
#define SMG_PROG_OPTSTRING "c:dnhV"

/*
 * The long options of the common set, for a program's struct option array
 * (which ends with its own {NULL, 0, NULL, 0}).  --log returns 'L'.
 */
#define SMG_PROG_LONGOPTS                                                    \
    {"config", required_argument, NULL, 'c'},                                \
    {"debug", no_argument, NULL, 'd'},                                       \
    {"log", required_argument, NULL, 'L'},                                   \
    {"help", no_argument, NULL, 'h'},                                        \
    {"version", no_argument, NULL, 'V'}

/*
 * smg_prog_init - fill p for program name (e.g. "smg-recv") with usage text
 * (both borrowed: static strings), with the defaults: no config path, no
 * debug, no -n, log to syslog.  Until smg_prog_config, log lines go to
 * stderr under name.
 */
void smg_prog_init(struct smg_prog *p, const char *name, const char *usage)
    __attribute__((nonnull(1, 2, 3)));

/*
 * smg_prog_option - handle option c (getopt's return value) with its
 * argument arg if it is one of the common set: 'c', 'd', 'n', 'L' set
 * fields of p and return TRUE; 'h' prints the usage on stdout and exits 0;
 * 'V' prints "NAME VERSION" and exits 0; 'L' with an argument other than
 * "syslog" or "stderr" exits as smg_prog_usage does.  Any other c (the
 * program's own options, '?', ':') returns FALSE and changes nothing.
 */
gboolean smg_prog_option(struct smg_prog *p, int c, const char *arg)
    __attribute__((nonnull(1)));

/*
 * smg_prog_getopt - getopt_long(argc, argv, optstring, longopts) that
 * handles the common options with smg_prog_option and returns the next
 * other one: the program's own option, '?' for a bad one (print the usage
 * with smg_prog_usage), or -1 at the end (optind then indexes the first
 * operand).  optstring starts with SMG_PROG_OPTSTRING, or leaves out "n"
 * for a program without -n.
 */
int smg_prog_getopt(struct smg_prog *p, int argc, char **argv,
                    const char *optstring, const struct option *longopts)
    __attribute__((nonnull(1, 3, 4, 5)));

/*
 * smg_prog_number - the value of a positive decimal option argument s (as
 * g_ascii_strtoull reads it), at most max (a larger value gives max);
 * anything else, or 0, exits as smg_prog_usage.
 */
guint64 smg_prog_number(const struct smg_prog *p, const char *s, guint64 max)
    __attribute__((nonnull(1, 2)));

/* smg_prog_usage - print the usage on stderr and exit 64 (EX_USAGE). */
G_NORETURN void smg_prog_usage(const struct smg_prog *p)
    __attribute__((nonnull(1)));

/*
 * smg_prog_config - load p->config (NULL: the default file); on failure
 * print "NAME: fatal: REASON" on stderr and exit 78 (EX_CONFIG).  With -n
 * print the settings that differ from the defaults on stdout and exit 0.
 * Otherwise start logging to p->log (with debug lines if p->debug) and
 * return the config, which the caller owns (smg_conf_free).  A program
 * whose log destination depends on more than the options (a tool that
 * talks to a person logs to stderr) sets p->log before the call.
 */
struct smg_conf *smg_prog_config(struct smg_prog *p)
    G_GNUC_WARN_UNUSED_RESULT __attribute__((nonnull(1)));

/*
 * smg_prog_flush_stdout - flush stdout for a tool whose report is its
 * output: rc when it all got there, or when rc already says a failure;
 * otherwise print "NAME: fatal: [ID: ]cannot write standard output:
 * REASON" on stderr and return 74 (EX_IOERR), since a report cut short
 * (a listing, an SPF record) reads as a shorter whole one.  id may be NULL.
 */
int smg_prog_flush_stdout(const char *id, int rc);

#endif

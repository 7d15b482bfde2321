/*
 * prog.c - the options and start-up that every smg program shares.
 *
 * The common options are handled in one place so that the eight programs
 * agree on them to the letter: the same usage and exit codes for a bad
 * option, the same -V line, the same fatal line for a bad config.  These
 * functions print and exit on behalf of main() (read prog.h); nothing else
 * in lib/ may.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include <glib.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/prog.h"

void
smg_prog_init(struct smg_prog *p, const char *name, const char *usage)
{
    p->name = name;
    p->usage = usage;
    p->config = NULL;
    p->debug = FALSE;
    p->print = FALSE;
    p->log = SMG_LOG_SYSLOG;
    smg_log_init(name, SMG_LOG_STDERR, FALSE);
}

gboolean
smg_prog_option(struct smg_prog *p, int c, const char *arg)
{
    switch (c) {
    case 'c':
        p->config = arg;
        return TRUE;
    case 'd':
        p->debug = TRUE;
        p->log = SMG_LOG_STDERR;
        return TRUE;
    case 'n':
        p->print = TRUE;
        return TRUE;
    case 'L':
        if (!smg_log_parse_dest(arg, &p->log))
            smg_prog_usage(p);
        return TRUE;
    case 'h':
        fputs(p->usage, stdout);
        exit(0);
    case 'V':
        printf("%s %s\n", p->name, PACKAGE_VERSION);
        exit(0);
    default:
        return FALSE;
    }
}

int
smg_prog_getopt(struct smg_prog *p, int argc, char **argv,
                const char *optstring, const struct option *longopts)
{
    int c;

    while ((c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1)
        if (!smg_prog_option(p, c, optarg))
            break;
    return c;
}

void
smg_prog_usage(const struct smg_prog *p)
{
    fputs(p->usage, stderr);
    exit(EX_USAGE);
}

guint64
smg_prog_number(const struct smg_prog *p, const char *s, guint64 max)
{
    char *end;
    guint64 v;

    /* digits only: strtoull would take "-1" (as 2^64 - 1) and " 5" */
    if (!g_ascii_isdigit(*s))
        smg_prog_usage(p);
    errno = 0;
    v = g_ascii_strtoull(s, &end, 10);
    if (*end != '\0' || v == 0 || errno == ERANGE)
        smg_prog_usage(p);
    return MIN(v, max);
}

struct smg_conf *
smg_prog_config(struct smg_prog *p)
{
    struct smg_conf *conf = NULL;
    GError *err = NULL;

    if (smg_conf_load(p->config, &conf, &err) != SMG_OK) {
        fprintf(stderr, "%s: fatal: %s\n", p->name, err->message);
        g_error_free(err);
        exit(EX_CONFIG);
    }
    if (p->print) {
        smg_conf_print(conf, stdout, TRUE);
        smg_conf_free(conf);
        exit(0);
    }
    smg_log_init(p->name, p->log, p->debug);
    return conf;
}

int
smg_prog_flush_stdout(const char *id, int rc)
{
    errno = 0;
    if ((fflush(stdout) == 0 && !ferror(stdout)) || rc != 0)
        return rc;
    fprintf(stderr, "%s: fatal: %s%scannot write standard output: %s\n",
            smg_log_progname(), id != NULL ? id : "", id != NULL ? ": " : "",
            errno != 0 ? g_strerror(errno) : "write error");
    return EX_IOERR;
}

/*
 * smg-blcheck - the daily DNS blacklist watch of the gateways' own IPs.
 *
 * Run once a day (cron/ holds the 05:00 crontab line and systemd timer):
 * looks up every egress address of every [gateway NAME] (bind: IPv4 and
 * IPv6) under the [blcheck] zones, and the gateways' HELO names under the
 * domain_zones, in parallel; compares the results with the state file of
 * the last run; tells the operators ([blcheck] notify) of new listings and
 * of clearances by mail, once each (into the spool's "sign" queue, or via
 * sendmail); files the removal requests configured per list ([dnsbl ZONE])
 * over HTTP; writes the per-gateway listed state that smg-route reads; and
 * prints a table (or --json) of what is listed or failed.  --dry-run looks
 * up and prints only.  Exit status: 0 nothing listed, 1 something listed,
 * 75 lookups failed (or the state, mail or spool could not be written),
 * 64 usage, 78 config.  See smg-blcheck(8).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sysexits.h>
#include <unistd.h>

#include <glib.h>

#include "lib/blcheck.h"
#include "lib/config.h"
#include "lib/dnsbl.h"
#include "lib/log.h"
#include "lib/privs.h"
#include "lib/prog.h"

static const char USAGE[] =
    "usage: smg-blcheck [-dnhvV] [-c FILE] [--log syslog|stderr] [--json]\n"
    "                   [--dry-run]\n";

struct options {
    struct smg_prog prog; /* -c, -d, -n, --log */
    gboolean json, dry_run, verbose;
};

/* parse_options - getopt_long; exits EX_USAGE on bad options */
static void
parse_options(int argc, char **argv, struct options *o)
{
    /* order kept: getopt lists an ambiguous abbreviation's matches in it */
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"verbose", no_argument, NULL, 'v'},
        SMG_PROG_LONGOPTS,
        {"dry-run", no_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = smg_prog_getopt(&o->prog, argc, argv, SMG_PROG_OPTSTRING "v",
                                longopts)) != -1) {
        switch (c) {
        case 'j': o->json = TRUE; break;
        case 'D': o->dry_run = TRUE; break;
        case 'v': o->verbose = TRUE; break;
        default: smg_prog_usage(&o->prog);
        }
    }
    if (optind != argc)
        smg_prog_usage(&o->prog);
}

/* lock_state - take the run lock next to the state file; -1 if busy */
static int
lock_state(const char *state_file, GError **err)
{
    char *path = g_strconcat(state_file, ".lock", NULL);
    char *dir = g_path_get_dirname(state_file);
    int fd;

    (void) g_mkdir_with_parents(dir, 0750);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "%s: %s", path,
                      fd >= 0 ? "another smg-blcheck is running"
                              : g_strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    g_free(dir);
    g_free(path);
    return fd;
}

/* fail - report an error of the run (not fatal: the run goes on) */
static void
fail(const GError *err, gboolean *failed)
{
    smg_log_error("%s", err->message);
    fprintf(stderr, "smg-blcheck: error: %s\n", err->message);
    *failed = TRUE;
}

/* What save_state needs. */
struct saver {
    struct smg_dnsbl_state *state;
    const char *file;
    gboolean *failed;
    gboolean said; /* its failure was told */
};

/* save_state - save the state before a removal request (smg_blcheck_save_fn) */
static gboolean
save_state(void *data)
{
    struct saver *s = data;
    GError *err = NULL;

    if (smg_dnsbl_state_save(s->state, s->file, &err) == SMG_OK)
        return TRUE;
    if (!s->said)
        fail(err, s->failed);
    s->said = TRUE;
    g_error_free(err);
    return FALSE;
}

int
main(int argc, char **argv)
{
    struct options o = {0};
    struct smg_conf *conf = NULL;
    struct smg_blcheck *b = NULL;
    struct smg_dnsbl_state *state = NULL;
    struct smg_blcheck_counts n;
    GError *err = NULL;
    char *state_file, *out;
    int lock = -1, rc;
    gboolean failed = FALSE;
    enum smg_status st;

    smg_prog_init(&o.prog, "smg-blcheck", USAGE);
    parse_options(argc, argv, &o);
    conf = smg_prog_config(&o.prog);
    signal(SIGPIPE, SIG_IGN);
    state_file = smg_blcheck_state_file(conf);
    st = smg_blcheck_new(conf, &b, &err);
    if (st == SMG_OK)
        st = smg_privs_drop(conf, &err);
    if (st == SMG_OK && !o.dry_run
        && (lock = lock_state(state_file, &err)) < 0)
        st = SMG_TEMPFAIL;
    if (st == SMG_OK)
        st = smg_dnsbl_state_load(state_file, &state, &err);
    if (st == SMG_OK)
        st = smg_blcheck_lookup(b, &err);
    if (st != SMG_OK) {
        smg_log_error("%s", err->message);
        fprintf(stderr, "smg-blcheck: fatal: %s\n", err->message);
        g_error_free(err);
        rc = smg_status_exit(st);
        goto done;
    }
    smg_blcheck_apply(b, state, g_get_real_time() / G_USEC_PER_SEC);
    if (!o.dry_run) {
        struct saver sv = {state, state_file, &failed, FALSE};
        gboolean saved;

        /* each request is marked in the state on disk before it goes */
        smg_blcheck_removals(b, save_state, &sv);
        /* the requests made are on disk before the mail goes: a run that
           dies after telling repeats the mail (at least once), never a
           removal request, nor does it restart a listing's "since" */
        saved = smg_dnsbl_state_save(state, state_file, &err) == SMG_OK;
        if (!saved && !sv.said) {
            fail(err, &failed);
            g_clear_error(&err);
        }
        if (smg_blcheck_notify(b, &err) != SMG_OK) {
            g_prefix_error(&err, "notification failed (told next run): ");
            fail(err, &failed);
            g_clear_error(&err);
        }
        if (smg_dnsbl_state_save(state, state_file, &err) != SMG_OK) {
            if (saved) /* else already said */
                fail(err, &failed);
            g_clear_error(&err);
        }
        if (smg_blcheck_write_listed(b, &err) != SMG_OK) {
            fail(err, &failed);
            g_clear_error(&err);
        }
    }
    smg_blcheck_log(b);
    n = smg_blcheck_counts(b);
    /* a run that could not keep its state or tell its news failed */
    rc = failed          ? EX_TEMPFAIL
         : n.listed > 0  ? 1
         : n.errors > 0  ? EX_TEMPFAIL
                         : 0;
    smg_log_info("checked=%u, listed=%u, new=%u, cleared=%u, errors=%u%s",
                 n.checked, n.listed, n.fresh, n.cleared, n.errors,
                 o.dry_run ? ", dry-run" : "");
    out = o.json ? smg_blcheck_json(b, o.dry_run, rc)
                 : smg_blcheck_table(b, o.verbose);
    fputs(out, stdout);
    g_free(out);
done:
    if (lock >= 0)
        close(lock);
    smg_blcheck_free(b);
    smg_dnsbl_state_free(state);
    g_free(state_file);
    smg_conf_free(conf);
    return rc;
}

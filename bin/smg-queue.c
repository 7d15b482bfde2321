/*
 * smg-queue - the operator's view of the spool: list, show, hold,
 * release, requeue and delete messages.
 *
 * Reads and changes the spool of [spool] dir while the workers run: it
 * claims a message the way a worker does (flock, rename into cur/), so a
 * message a worker is processing is reported busy and left alone.  list
 * and show print on stdout (text, or JSON with --json); the changes print
 * "ID: FROM -> TO" and log one line each.  The work is done in lib/queue
 * (read queue.h).  Exit status: 0 done, 1 no such message, 64 usage (or a
 * request that does not fit the message), 74 standard output not written,
 * 75 busy or temporary failure, 78 config.  See smg-queue(8).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <glib.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/privs.h"
#include "lib/prog.h"
#include "lib/queue.h"
#include "lib/spool.h"

static const char USAGE[] =
    "usage: smg-queue [-dhV] [-c FILE] [--log syslog|stderr] [--now EPOCH]\n"
    "                 list [--json] [QUEUE...]\n"
    "                 show [--json] ID\n"
    "                 hold ID\n"
    "                 release [--to QUEUE] ID\n"
    "                 requeue ID\n"
    "                 delete [--force] ID\n";

struct options {
    struct smg_prog prog; /* -c, -d, --log (no -n) */
    gboolean json;
    gboolean force;
    const char *to;
    time_t now;
    const char *command;
    char **args; /* after the command */
    int nargs;
};

/* parse_options - getopt_long (options anywhere); exits EX_USAGE on misuse */
static void
parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        SMG_PROG_LONGOPTS,
        {"json", no_argument, NULL, 'j'},
        {"force", no_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"now", required_argument, NULL, 'N'},
        {NULL, 0, NULL, 0},
    };
    static const char *const commands[] = {"list", "show", "hold", "release",
                                           "requeue", "delete", NULL};
    int c;
    char *end;

    /* smg-queue has no -n (smg-queue(8)) */
    while ((c = smg_prog_getopt(&o->prog, argc, argv, "c:dhV", longopts)) != -1) {
        switch (c) {
        case 'j': o->json = TRUE; break;
        case 'f': o->force = TRUE; break;
        case 't': o->to = optarg; break;
        case 'N':
            o->now = (time_t) g_ascii_strtoll(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || o->now <= 0)
                smg_prog_usage(&o->prog);
            break;
        default: smg_prog_usage(&o->prog);
        }
    }
    if (optind >= argc || !g_strv_contains(commands, argv[optind]))
        smg_prog_usage(&o->prog);
    o->command = argv[optind];
    o->args = argv + optind + 1;
    o->nargs = argc - optind - 1;
    if (strcmp(o->command, "list") != 0
        && (o->nargs != 1 || !smg_spool_valid_id(o->args[0])))
        smg_prog_usage(&o->prog);
    if ((o->json && strcmp(o->command, "list") != 0 && strcmp(o->command, "show") != 0)
        || (o->to != NULL && strcmp(o->command, "release") != 0)
        || (o->force && strcmp(o->command, "delete") != 0))
        smg_prog_usage(&o->prog);
}

/* fail - print "smg-queue: fatal: [ID: ]reason" and return code */
static int
fail(const char *id, const GError *err, int code)
{
    fprintf(stderr, "smg-queue: fatal: %s%s%s\n", id != NULL ? id : "",
            id != NULL ? ": " : "", err != NULL ? err->message : "failed");
    return code;
}

/* do_list - print the listing of the named queues (all when none) */
static int
do_list(struct smg_queue *q, const struct options *o)
{
    GPtrArray *names = NULL;
    GString *out = g_string_new(NULL);
    GError *err = NULL;
    enum smg_status st;
    int rc = 0;

    if (o->nargs > 0) {
        names = g_ptr_array_new_with_free_func(g_free);
        for (int i = 0; i < o->nargs; i++)
            g_ptr_array_add(names, g_strdup(o->args[i]));
    }
    st = o->json ? smg_queue_list_json(q, names, out, &err)
                 : smg_queue_list_text(q, names, out, &err);
    if (st == SMG_OK)
        fwrite(out->str, 1, out->len, stdout);
    else
        rc = fail(NULL, err, st == SMG_PERMFAIL ? EX_USAGE : smg_status_exit(st));
    g_clear_error(&err);
    if (names != NULL)
        g_ptr_array_free(names, TRUE);
    g_string_free(out, TRUE);
    return rc;
}

/* do_show - print the message: the file as it is, or JSON */
static int
do_show(struct smg_queue *q, const struct options *o)
{
    struct smg_queue_entry *e = NULL;
    char *content = NULL;
    gsize len = 0;
    GError *err = NULL;
    enum smg_status st = smg_queue_find(q, o->args[0], &e, &content, &len, &err);
    int rc = 0;

    if (st != SMG_OK) {
        rc = fail(o->args[0], err, st == SMG_PERMFAIL ? 1 : smg_status_exit(st));
        g_clear_error(&err);
        return rc;
    }
    if (o->json) {
        GString *out = g_string_new(NULL);

        smg_queue_entry_json(q, e, content, len, out);
        g_string_append_c(out, '\n');
        fwrite(out->str, 1, out->len, stdout);
        g_string_free(out, TRUE);
    } else {
        fwrite(content, 1, len, stdout);
    }
    g_free(content);
    smg_queue_entry_free(e);
    return rc;
}

/* do_change - hold, release, requeue or delete */
static int
do_change(struct smg_queue *q, const struct options *o)
{
    const char *id = o->args[0];
    struct smg_queue_result res = {0};
    GError *err = NULL;
    enum smg_status st;
    int rc;

    if (strcmp(o->command, "hold") == 0)
        st = smg_queue_hold(q, id, &res, &err);
    else if (strcmp(o->command, "release") == 0)
        st = smg_queue_release(q, id, o->to, &res, &err);
    else if (strcmp(o->command, "requeue") == 0)
        st = smg_queue_requeue(q, id, &res, &err);
    else
        st = smg_queue_delete(q, id, o->force, &res, &err);
    rc = smg_queue_exit(st, &res);
    if (rc != 0)
        fail(id, err, rc);
    else if (res.to != NULL)
        printf("%s: %s -> %s\n", id, res.from, res.to);
    else
        printf("%s: deleted from %s\n", id, res.from);
    g_clear_error(&err);
    smg_queue_result_clear(&res);
    return rc;
}

int
main(int argc, char **argv)
{
    struct options o = {0};
    struct smg_conf *conf = NULL;
    struct smg_queue *q = NULL;
    GError *err = NULL;
    enum smg_status st;
    int rc;

    smg_prog_init(&o.prog, "smg-queue", USAGE);
    parse_options(argc, argv, &o);
    conf = smg_prog_config(&o.prog);
    st = smg_privs_drop(conf, &err);
    if (st == SMG_OK)
        st = smg_queue_open(conf, &q, &err);
    if (st != SMG_OK) {
        rc = fail(NULL, err, smg_status_exit(st));
        g_clear_error(&err);
        smg_conf_free(conf);
        return rc;
    }
    smg_queue_set_now(q, o.now);
    if (strcmp(o.command, "list") == 0)
        rc = do_list(q, &o);
    else if (strcmp(o.command, "show") == 0)
        rc = do_show(q, &o);
    else
        rc = do_change(q, &o);
    /* what was done is done; the caller is told that its report is not
     * whole (a listing cut short reads like a shorter queue) */
    rc = smg_prog_flush_stdout(strcmp(o.command, "list") != 0 ? o.args[0] : NULL, rc);
    smg_queue_close(q);
    smg_conf_free(conf);
    return rc;
}

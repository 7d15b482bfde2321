/*
 * stage.h - the common runner of the pipeline stages (smg-check, smg-scan,
 * smg-sign, smg-route): filter mode, spool mode and watch mode around one
 * per-message function.
 *
 * Filter mode: one message on stdin (with or without SMG-* envelope
 * fields), the processed message on stdout, exit 0 pass / 1 flagged /
 * sysexits for errors.
 *
 * Spool mode (--spool): recover the input queue's cur/ (files whose worker
 * died), then claim messages from its new/ one by one until it is empty,
 * and exit.  Watch mode (--watch): the same, then wait with inotify for new
 * files (and rescan every few seconds, for files whose mtime was in the
 * future), until SIGTERM/SIGINT.  Any number of workers may serve a queue.
 *
 * For each message the stage function returns:
 *   SMG_OK        result->out (new content; NULL: unchanged) goes to
 *                 result->queue (NULL: the stage's default next queue):
 *                 written to QUEUE/tmp/ID, synced, renamed to new/ID, then
 *                 the input removed; extra messages (NDRs) are committed
 *                 first, each under its own ID.
 *   SMG_TEMPFAIL  the message goes back to new/ untouched, not to be
 *                 taken again for SMG_STAGE_RETRY_S (so that the messages
 *                 behind it pass first); the run stops with exit 75 (the
 *                 engine, a database or the disk is unusable: retrying at
 *                 once would fail again).
 *   SMG_PERMFAIL  the message goes to hold/ for an operator, logged;
 *                 so does one whose extra the spool refuses for good
 *                 (SMG_BUG or SMG_PERMFAIL from the commit: a bad ID).
 *   SMG_CONFIG, SMG_BUG  as TEMPFAIL, exit 78 / 70.
 * A file whose envelope cannot be parsed goes to corrupt/ (kept).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_STAGE_H
#define SMG_STAGE_H 1

#include <glib.h>

#include "lib/config.h"
#include "lib/envelope.h"
#include "lib/status.h"

/* seconds a message a stage failed on for now waits before its next try */
#define SMG_STAGE_RETRY_S 60

/* A message a stage adds to the spool (an NDR, a notice). */
struct smg_stage_extra {
    char *queue;      /* where it goes, e.g. "sign" */
    char *id;         /* its queue ID (NULL: a new one); a stable ID derived
                         from the input's makes a repeated run replace it */
    GString *content; /* the whole file: envelope fields and message */
};

struct smg_stage_result {
    const char *queue;   /* next queue; NULL: the stage's default */
    GString *out;        /* new content; NULL: pass the input unchanged */
    gboolean flagged;    /* filter mode exits 1 (spam, infected, ...) */
    GPtrArray *extras;   /* of struct smg_stage_extra *, may stay NULL */
    char *log;           /* "verdict=clean, ..." for the message's log line */
    /* called once the message is handed on in spool and watch modes, not
     * when the hand-off fails and the message will be tried again: for
     * what must count a message once (smg-check's spamstats) */
    void (*passed)(void *ctx, const char *id, const struct smg_stage_result *res);
    char *passed_data; /* for passed (g_free) */
};

/* smg_stage_add_extra - append an extra message (takes content) */
void smg_stage_add_extra(struct smg_stage_result *res, const char *queue,
                         const char *id, GString *content);

/*
 * The stage function.  buf[0..len) is the whole file, env its parsed
 * envelope (empty for a bare message in filter mode), body_offset where
 * the message proper starts.  id is the queue ID (in filter mode the
 * envelope's, or "-").
 */
typedef enum smg_status (*smg_stage_fn)(void *ctx, const char *id,
                                        const char *buf, gsize len,
                                        struct smg_envelope *env,
                                        gsize body_offset,
                                        struct smg_stage_result *res,
                                        GError **err);

enum smg_stage_mode {
    SMG_STAGE_FILTER = 0,
    SMG_STAGE_SPOOL,
    SMG_STAGE_WATCH,
};

struct smg_stage {
    const char *name;      /* "scan": log prefix is the program's */
    const char *queue_in;  /* "scan" */
    const char *queue_out; /* "sign" */
    smg_stage_fn fn;
    void *ctx;
    /* called between messages in watch mode, e.g. to reload a database;
     * may be NULL.  A non-OK status ends the run like a TEMPFAIL. */
    enum smg_status (*idle)(void *ctx, GError **err);
};

/*
 * smg_stage_run - run the stage in mode; returns the exit status for main
 * (0, 1 in filter mode for flagged, or a sysexits code).  Errors are
 * logged (and in filter mode printed on stderr as "prog: fatal: ...").
 * max_messages > 0 stops spool/watch mode after that many (tests).
 */
int smg_stage_run(const struct smg_stage *stage, const struct smg_conf *conf,
                  enum smg_stage_mode mode, unsigned max_messages);

#endif

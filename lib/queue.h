/*
 * queue.h - the operator's view of the spool (smg-queue): list, show,
 * hold, release, requeue and delete messages by queue ID.
 *
 * Reading (list, show) never takes a lock and never changes anything: it
 * opens files read-only, so it cannot disturb a worker.  A file in a
 * queue's cur/ is reported as "active" (claimed by a worker, or left by one
 * that died; the next worker to start puts it back).
 *
 * Changing (hold, release, requeue, delete) follows the claim protocol of
 * lib/spool (smg-spool(7)): the message is claimed like a worker claims it
 * (open, flock without waiting, rename into cur/), changed, written to the
 * next queue's tmp/, committed to its new/, and only then removed from
 * cur/ (or renamed straight across when the content stays).  A message
 * that a worker holds locked is "busy" and left alone; a file in cur/
 * whose lock is free (its worker died) is taken over under our own lock.
 * At every instant the message is in new/ or cur/ of some queue, so an
 * interrupted smg-queue loses nothing.
 *
 * Operator holds record their origin in the envelope:
 *   SMG-Held: from=QUEUE at=2026-11-22T05:00:00Z by=operator
 * and release sends the message back there (mail held from deferred.GW
 * goes to send.GW, to be tried at once).  Mail that smg-send held (TLS
 * policy "hold") has no SMG-Held field and goes back to send.GW of its
 * SMG-Delivery gateway= (else its SMG-Route gateway=).  Anything else
 * needs an explicit destination.  Release removes the SMG-Held field.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_QUEUE_H
#define SMG_QUEUE_H 1

#include <time.h>

#include <glib.h>

#include "lib/config.h"
#include "lib/spool.h"
#include "lib/status.h"

struct smg_queue;

/* One message as list and show see it. */
struct smg_queue_entry {
    char *queue;       /* "send.mta01" */
    char *id;          /* the queue ID (file name) */
    char *path;        /* the file, in QUEUE/new or QUEUE/cur */
    gboolean active;   /* in cur/: claimed by a worker (or left by one) */
    time_t mtime;      /* file mtime; in deferred.*: the next attempt */
    time_t arrival;    /* SMG-Arrival; else the file's ctime */
    gint64 size;       /* bytes */
    char *sender;      /* without brackets, "" for <>; NULL if unknown */
    GPtrArray *rcpts;  /* of char * (addresses), never NULL */
    char *last_error;  /* SMG-Delivery last="...", or NULL */
    char *held;        /* the SMG-Held value, or NULL */
    char *problem;     /* why the envelope could not be read, or NULL */
};

void smg_queue_entry_free(struct smg_queue_entry *e);

/*
 * smg_queue_open - the spool of conf ([spool] dir, sync) and the gateway
 * names ([gateway NAME] groups, to check where a release may go).  conf
 * must outlive the handle.  SMG_CONFIG with err when the spool folder does
 * not exist (an operator tool does not create spools); SMG_TEMPFAIL when
 * it cannot be opened.
 */
enum smg_status smg_queue_open(const struct smg_conf *conf,
                               struct smg_queue **out,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_queue_open_dir - the same for a spool folder and gateway list (tests);
 * gateways NULL: any gateway name is accepted */
enum smg_status smg_queue_open_dir(const char *dir, gboolean sync,
                                   const char *const *gateways,
                                   struct smg_queue **out,
                                   GError **err) G_GNUC_WARN_UNUSED_RESULT;
void smg_queue_close(struct smg_queue *q);

/* smg_queue_set_now - the clock for ages, SMG-Held at= and requeue; 0: time(NULL) */
void smg_queue_set_now(struct smg_queue *q, time_t now);

/*
 * smg_queue_names - the queues of the spool (folders with a new/), in the
 * pipeline's order: check, scan, sign, route, send.* and deferred.*
 * (sorted), hold, quarantine, corrupt, then any other (sorted).  The
 * standard single queues are included even when missing.  New array of
 * new strings.
 */
GPtrArray *smg_queue_names(struct smg_queue *q);

/*
 * smg_queue_scan - the messages of queue, oldest first (new/ and cur/).
 * *entries: new array of struct smg_queue_entry * (freed with the array).
 * A missing queue is empty.  A file whose envelope does not parse is
 * listed with problem set.  SMG_TEMPFAIL with err when a folder cannot be
 * read.
 */
enum smg_status smg_queue_scan(struct smg_queue *q, const char *queue,
                               GPtrArray **entries,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_queue_find - the message with queue ID id, wherever it is, and (if
 * content is not NULL) the whole file as a new string with its length.
 * SMG_PERMFAIL with err ("no such message") when no queue holds it, or id
 * is not a queue ID; SMG_TEMPFAIL with err on I/O errors.
 */
enum smg_status smg_queue_find(struct smg_queue *q, const char *id,
                               struct smg_queue_entry **e, char **content,
                               gsize *len, GError **err)
    G_GNUC_WARN_UNUSED_RESULT;

/*
 * Output.  smg_queue_list_text / _json append the listing of the given
 * queues (NULL: smg_queue_names) to out.  Text: a heading per non-empty
 * queue, a line per message, then a total.  JSON: {"queues": [{"name",
 * "count", "messages": [entry...]}...], "total": n} with every named
 * queue, empty ones too.  Errors as smg_queue_scan.
 */
enum smg_status smg_queue_list_text(struct smg_queue *q, GPtrArray *queues,
                                    GString *out,
                                    GError **err) G_GNUC_WARN_UNUSED_RESULT;
enum smg_status smg_queue_list_json(struct smg_queue *q, GPtrArray *queues,
                                    GString *out,
                                    GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_queue_entry_json - one entry as a JSON object: id, queue, state
 * ("queued" or "active"), path, size, arrival, age (seconds), mtime,
 * sender, recipients, last_error, next_attempt (deferred.* only), held,
 * problem (null when not applicable).  With content, also "content" (the
 * file, when it is valid UTF-8) or "content_base64".
 */
void smg_queue_entry_json(struct smg_queue *q, const struct smg_queue_entry *e,
                          const char *content, gsize len, GString *out);

/* What a change request came to. */
enum smg_queue_outcome {
    SMG_QUEUE_DONE = 0,  /* carried out */
    SMG_QUEUE_NOTFOUND,  /* no queue holds the ID */
    SMG_QUEUE_BUSY,      /* a worker holds it locked; nothing was changed */
    SMG_QUEUE_REFUSED,   /* the request does not fit the message */
    SMG_QUEUE_ERROR,     /* an I/O or internal error (see the status) */
};

struct smg_queue_result {
    enum smg_queue_outcome outcome;
    char *from;  /* the queue it was in (NULL when not found) */
    char *to;    /* the queue it went to (NULL: deleted, or not done) */
};

/* smg_queue_result_clear - free the strings of res and zero it */
void smg_queue_result_clear(struct smg_queue_result *res);

/*
 * The change requests.  Each fills *res (clear it afterwards) and logs
 * one line "ID: action=hold, from=QUEUE, to=hold, status=done" (or
 * status=busy / refused / notfound / error, with reason=).  They return
 * SMG_OK when done; otherwise err is set and the status is SMG_PERMFAIL
 * (not found, refused), SMG_TEMPFAIL (busy, I/O error) or SMG_BUG.
 *
 * smg_queue_hold - move the message to hold/, adding SMG-Held (from=
 * its queue, at= now, by=operator).  Refused for messages in hold/,
 * quarantine/ or corrupt/, and for a file whose envelope cannot be read.
 *
 * smg_queue_release - move a message of hold/ on: to `to` when not NULL
 * (a stage queue, send.GW or deferred.GW), else where it came from (see
 * above), removing SMG-Held.  An SMG-Queue-ID that differs from the file
 * name is set to the file name (held parts of a message carry their own
 * IDs).  Refused when the message is not in hold/, when its origin is
 * unknown and `to` is NULL, and for a gateway not in the configuration.
 *
 * smg_queue_requeue - move a message of deferred.GW to send.GW with mtime
 * now, for an immediate attempt.  Refused for any other queue.
 *
 * smg_queue_delete - remove the message.  Refused for corrupt/ unless
 * force (corrupt files are evidence and kept).
 */
enum smg_status smg_queue_hold(struct smg_queue *q, const char *id,
                               struct smg_queue_result *res,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;
enum smg_status smg_queue_release(struct smg_queue *q, const char *id,
                                  const char *to,
                                  struct smg_queue_result *res,
                                  GError **err) G_GNUC_WARN_UNUSED_RESULT;
enum smg_status smg_queue_requeue(struct smg_queue *q, const char *id,
                                  struct smg_queue_result *res,
                                  GError **err) G_GNUC_WARN_UNUSED_RESULT;
enum smg_status smg_queue_delete(struct smg_queue *q, const char *id,
                                 gboolean force, struct smg_queue_result *res,
                                 GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_queue_exit - the exit code of smg-queue for a request's outcome:
 * 0 done, 1 not found, 75 busy, 64 refused, else smg_status_exit(st).
 */
int smg_queue_exit(enum smg_status st, const struct smg_queue_result *res);

#endif

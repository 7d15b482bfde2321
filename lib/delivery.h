/*
 * delivery.h - the delivery agent of one egress gateway (smg-send).
 *
 * A struct smg_delivery holds what one gateway needs: its source address
 * and HELO name, or the relay host it hands everything to; the resolver;
 * the TLS policy table and client TLS context; and a cache of open SMTP
 * connections keyed by destination (recipient domain or relay) and TLS
 * level, so that further messages to a destination reuse the connection.
 *
 * smg_delivery_run delivers one message: recipients are grouped by
 * domain; for each domain the MX hosts are tried in preference order
 * (random among equals; A then AAAA addresses; no MX: the domain's own
 * addresses; a null MX or a domain that does not exist: an NDR at once),
 * with the TLS the policy table asks for (see policy.h).  Each recipient
 * ends sent, bounced (5xx, or a permanent local reason), deferred (4xx,
 * no connection, DNS failure) or held (TLS policy with action hold).  The
 * outcome says what to write where: non-delivery reports and delay
 * notices (lib/dsn, to queue [send] bounce_queue), the rest of the message
 * with the recipients still to do and an updated SMG-Delivery field (to
 * deferred.GATEWAY with the next attempt as mtime, or hold/), and nothing
 * when every recipient is done.  One log line per recipient is written.
 *
 * Retries: the n-th attempt is followed by a wait of backoff_min *
 * backoff_factor^(n-1), at most backoff_max, never past the end of the
 * queue lifetime.  After queue_lifetime (from SMG-Arrival) the recipients
 * still deferred get an NDR.  After delay_warning (0: never) the sender
 * gets one delay notice.  Held messages expire into an NDR hold_expiry
 * after they were held (smg_delivery_expire).
 *
 * SMG-Delivery (written by smg-send, read back on the next attempt):
 *   attempts=N gateway=NAME first=ISO last="reply" next=ISO [warned=yes]
 *   [held=ISO]
 * An operator releases held mail by moving it to send.NAME (smg-queue).
 *
 * The clock is injectable (smg_delivery_set_now) and used both for
 * scheduling and for deciding what is due, so tests can step through days
 * of retries.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_DELIVERY_H
#define SMG_DELIVERY_H 1

#include <time.h>

#include <glib.h>

#include "lib/config.h"
#include "lib/envelope.h"
#include "lib/spool.h"
#include "lib/status.h"

struct smg_delivery;

/* A file the outcome asks to write. */
struct smg_delivery_file {
    char *queue;      /* "sign", "hold", "deferred.mta01" */
    char *id;         /* its queue ID */
    GString *content; /* the whole spool file */
    time_t mtime;     /* 0: leave it; else the file's mtime (next attempt) */
};

struct smg_delivery_outcome {
    GPtrArray *extras;   /* of struct smg_delivery_file *: reports, a held
                            part; committed before rest */
    struct smg_delivery_file *rest; /* the message with the recipients
                                       still to do, under its own ID, or
                                       NULL when all are done */
    unsigned sent, bounced, deferred, held;
};

/*
 * smg_delivery_new - the agent of [gateway NAME] in conf (which must
 * outlive it): reads [send], [dns], the gateway's group and the TLS policy
 * file.  SMG_CONFIG with err for an unknown gateway, a gateway with
 * neither bind nor relay, a bad relay, an unreadable or invalid policy
 * table, a bad trust store.
 */
enum smg_status smg_delivery_new(const struct smg_conf *conf, const char *name,
                                 struct smg_delivery **out,
                                 GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_delivery_free - close cached connections (QUIT) and free */
void smg_delivery_free(struct smg_delivery *d);

/* smg_delivery_set_now - the clock; 0 for time(NULL) */
void smg_delivery_set_now(struct smg_delivery *d, time_t now);

/* smg_delivery_now - the clock's time */
time_t smg_delivery_now(const struct smg_delivery *d);

/*
 * smg_delivery_run - deliver the message buf[0..len) (env parsed from it,
 * the message proper at body_offset; env may be changed) as described
 * above and fill *out (clear with smg_delivery_outcome_clear).  SMG_OK
 * when every recipient's fate is settled in *out; SMG_TEMPFAIL with err
 * for a local failure (a report could not be built): nothing may then be
 * written and the message stays for a later run.  Never fails for a
 * remote or DNS problem: those are deferrals in *out.
 */
enum smg_status smg_delivery_run(struct smg_delivery *d, const char *id,
                                 const char *buf, gsize len,
                                 struct smg_envelope *env, gsize body_offset,
                                 struct smg_delivery_outcome *out,
                                 GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_delivery_expire - for a message in hold/: when SMG-Delivery (else
 * SMG-Route) names this gateway and SMG-Delivery's held= time is hold_expiry or more in the
 * past, set *expired and fill *out with an NDR for every recipient (rest
 * NULL).  Otherwise *expired is FALSE and *out empty.  Errors as for
 * smg_delivery_run.
 */
enum smg_status smg_delivery_expire(struct smg_delivery *d, const char *id,
                                    const char *buf, gsize len,
                                    struct smg_envelope *env,
                                    gsize body_offset, gboolean *expired,
                                    struct smg_delivery_outcome *out,
                                    GError **err) G_GNUC_WARN_UNUSED_RESULT;

void smg_delivery_outcome_clear(struct smg_delivery_outcome *out);

/*
 * smg_delivery_idle - close cached connections idle longer than
 * [send] connection_reuse_time; returns how many stay open.
 */
guint smg_delivery_idle(struct smg_delivery *d);

/* smg_delivery_close_all - QUIT every cached connection */
void smg_delivery_close_all(struct smg_delivery *d);

/*
 * smg_delivery_serve - the queue runner: recover nothing (the caller does
 * that once, before starting workers), then deliver what is due in
 * send.GATEWAY and deferred.GATEWAY (mtime not after the clock), claiming
 * only IDs whose smg_route_hash modulo nworkers is worker, until both are
 * empty; expire held messages of this gateway; with watch, go on waiting
 * for new files (inotify, and a rescan every few seconds for deferred
 * files coming due) until SIGTERM/SIGINT.  max_messages > 0 stops after
 * that many (tests).  Returns the exit code for main (0, or 75/70/74
 * after logging the error).
 */
int smg_delivery_serve(struct smg_delivery *d, struct smg_spool *spool,
                       gboolean watch, unsigned worker, unsigned nworkers,
                       unsigned max_messages);

/* smg_delivery_queue_send / _deferred - "send.NAME" / "deferred.NAME" */
const char *smg_delivery_queue_send(const struct smg_delivery *d);
const char *smg_delivery_queue_deferred(const struct smg_delivery *d);

/*
 * smg_delivery_backoff - seconds to wait after attempt number attempts
 * (1 for the first): min * factor^(attempts-1), at most max.
 */
gint64 smg_delivery_backoff(gint64 min, gint64 max, double factor,
                            unsigned attempts);

/* The SMG-Delivery field. */
struct smg_delivery_state {
    unsigned attempts;
    time_t first;  /* first attempt; 0: none yet */
    time_t next;   /* next attempt; 0: none */
    time_t held;   /* when it was held; 0: not held */
    gboolean warned;
    char *last;    /* the last reply or reason, or NULL */
    char *gateway; /* the gateway that wrote it, or NULL */
};

/* smg_delivery_state_parse - read value (may be NULL) into *st (clear it) */
void smg_delivery_state_parse(const char *value, struct smg_delivery_state *st);

/* smg_delivery_state_format - the field's value (new string) */
char *smg_delivery_state_format(const struct smg_delivery_state *st);

void smg_delivery_state_clear(struct smg_delivery_state *st);

/* smg_delivery_parse_time - ISO 8601 UTC ("2026-11-22T05:00:00Z") to
 * epoch seconds; 0 if it cannot be parsed */
time_t smg_delivery_parse_time(const char *s);

/* smg_delivery_format_time - epoch seconds to "2026-11-22T05:00:00Z" */
char *smg_delivery_format_time(time_t t);

#endif

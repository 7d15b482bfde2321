/*
 * rspamd.h - ask an rspamd server for its opinion of a message, over its
 * HTTP protocol (POST /checkv2), with libcurl.
 *
 * The message goes as the request body; the envelope goes in the request
 * headers rspamd reads (From, Rcpt, IP, Helo, Queue-Id, User).  The reply
 * is rspamd's JSON object, of which the score, the required score, the
 * action and the names of the symbols are kept.  A time-out bounds the
 * whole exchange; every failure (no connection, time-out, an HTTP status
 * other than 200, a reply that is not such an object) is SMG_TEMPFAIL, so
 * that the caller can fall back to its own scorers: an rspamd failure
 * never fails a message.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_RSPAMD_H
#define SMG_RSPAMD_H 1

#include <glib.h>

#include "lib/status.h"

struct smg_rspamd_request {
    const char *url;       /* "http://127.0.0.1:11333/checkv2" */
    long timeout_ms;       /* whole exchange; <= 0: 5 s */
    const char *msg;       /* the message (without SMG-* fields) */
    gsize len;
    const char *from;      /* envelope sender or NULL ("" sends "<>") */
    const char *const *rcpts; /* envelope recipients, NULL-terminated; may be NULL */
    const char *ip;        /* client address or NULL */
    const char *helo;      /* or NULL */
    const char *queue_id;  /* or NULL */
    const char *user;      /* authenticated user (customer) or NULL */
};

struct smg_rspamd_result {
    double score;          /* rspamd's score */
    double required;       /* its required_score (0 if absent) */
    char *action;          /* "no action", "add header", "reject", ...; may be NULL */
    GPtrArray *symbols;    /* char *: names of the symbols that fired */
};

/*
 * smg_rspamd_check - send req and read the verdict into res (clear it with
 * smg_rspamd_result_clear).  Returns SMG_TEMPFAIL with "4.4.2 rspamd ...
 * timed out", "4.4.1 rspamd ...: could not connect", "4.3.0 rspamd ...:
 * HTTP status N" or "4.3.0 rspamd ...: bad reply: why"; SMG_CONFIG
 * (4.3.5) for a URL that is not http or https.  res is zeroed on failure.
 */
enum smg_status smg_rspamd_check(const struct smg_rspamd_request *req,
                                 struct smg_rspamd_result *res,
                                 GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_rspamd_parse - read rspamd's JSON reply text[0..len) into res.  The
 * reply must be a JSON object with a numeric "score"; other members are
 * optional; unknown ones are skipped.  SMG_TEMPFAIL (4.3.0 "bad reply:
 * why") for anything else, including JSON nested deeper than 32 levels.
 */
enum smg_status smg_rspamd_parse(const char *text, gsize len,
                                 struct smg_rspamd_result *res,
                                 GError **err) G_GNUC_WARN_UNUSED_RESULT;

void smg_rspamd_result_clear(struct smg_rspamd_result *res);

#endif

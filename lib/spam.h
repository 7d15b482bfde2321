/*
 * spam.h - smg-check's verdict: the rules, the Bayes classifier and the
 * optional rspamd backend put together.
 *
 * The score of a message is the sum of the points of the rules that fire
 * and of the classifier, bayes_weight * (2p - 1) for its probability p
 * (so between -bayes_weight and +bayes_weight; nothing when fewer than
 * bayes_min_learned spam or ham were learned).  With [check] rspamd_url
 * set, rspamd's score times rspamd_weight is added (rspamd_mode merge) or
 * is the whole score (only); when rspamd fails or times out the built-in
 * score stands and the failure is noted for the log.  GTUBE in the message
 * always adds 1000 and makes the message spam whatever else scored;
 * otherwise the message is spam when score >= threshold.
 *
 * The verdict field written into the envelope is
 *   SMG-Spam: verdict=spam|ham score=S threshold=T tests=A,B,BAYES_99
 * with S and T to two decimals and the names of the rules that fired,
 * GTUBE, the Bayes bucket (BAYES_00 p < 0.01, BAYES_05 < 0.05, BAYES_20
 * < 0.2, BAYES_40 < 0.4, BAYES_50 < 0.6, BAYES_60 < 0.8, BAYES_80 < 0.95,
 * BAYES_95 < 0.99, BAYES_99 otherwise) and RSPAMD when rspamd answered.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_SPAM_H
#define SMG_SPAM_H 1

#include <glib.h>

#include "lib/bayes.h"
#include "lib/config.h"
#include "lib/envelope.h"
#include "lib/status.h"

struct smg_spam;

/*
 * smg_spam_new - everything a check needs from conf: the rules files
 * (rules, then local_rules), the Bayes database (bayes_database, default
 * STATE_DIR/bayes.db; missing is "nothing learned"), the customer domain
 * table, the resolver for uri_dnsbl_zones, the rspamd settings.  SMG_CONFIG
 * for a bad rules file or table, an rspamd_url that is not http or https,
 * or a corrupt database; SMG_TEMPFAIL for an unreadable database.  *out is owned by the caller (smg_spam_free).
 */
enum smg_status smg_spam_new(const struct smg_conf *conf, struct smg_spam **out,
                             GError **err) G_GNUC_WARN_UNUSED_RESULT;

void smg_spam_free(struct smg_spam *sp);

/*
 * smg_spam_reload - reopen the Bayes database if a learner replaced it
 * (for long-running workers).  Statuses as smg_bayes_open; on failure the
 * old mapping stays in use.
 */
enum smg_status smg_spam_reload(struct smg_spam *sp,
                                GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_spam_bayes_path - the database file in use */
const char *smg_spam_bayes_path(const struct smg_spam *sp);

/* smg_spam_bayes_counts - messages learned as spam and ham */
void smg_spam_bayes_counts(const struct smg_spam *sp, guint64 *nspam,
                           guint64 *nham);

struct smg_spam_verdict {
    gboolean spam;
    double score, threshold;
    double rules;         /* points of the rules (and GTUBE) */
    gboolean bayes_used;  /* the classifier gave a probability */
    double bayes_prob, bayes_points;
    const char *rspamd;   /* "off", "ok", "timeout", "error" */
    double rspamd_score;  /* with "ok": rspamd's score */
    GPtrArray *tests;     /* char *: as in the SMG-Spam field */
    GString *notes;       /* for the log: "uri_dnsbl=tempfail(...)" ... */
    GString *explain;     /* with explain: a report for people */
};

/*
 * smg_spam_check - score msg[0..len) (the message without its SMG-*
 * fields).  env (may be NULL) gives the sender, recipients, client and
 * customer.  explain fills v->explain with each rule and token that moved
 * the score.  Never fails on content or on DNS or rspamd trouble; SMG_OK
 * always (the status is there for future backends).  Clear v with
 * smg_spam_verdict_clear.
 */
enum smg_status smg_spam_check(struct smg_spam *sp, const char *msg, gsize len,
                               const struct smg_envelope *env,
                               gboolean explain, struct smg_spam_verdict *v,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;

void smg_spam_verdict_clear(struct smg_spam_verdict *v);

/* smg_spam_verdict_field - the SMG-Spam value (new string) */
char *smg_spam_verdict_field(const struct smg_spam_verdict *v);

/* smg_spam_bayes_test - the BAYES_xx name of a probability */
const char *smg_spam_bayes_test(double p);

/*
 * smg_spam_learn - add the message buf[0..len) (a spool file with SMG-*
 * fields, or a bare message) to learner as spam or ham; max_text as in
 * smg_mimetext_parse; *what (when not NULL) what smg_bayes_learner_add did
 * with it.  SMG_PERMFAIL (5.6.0) for a malformed envelope, or a message
 * that is empty (nothing but white space after the envelope).
 */
enum smg_status smg_spam_learn(struct smg_bayes_learner *learner,
                               const char *buf, gsize len, gboolean spam,
                               gsize max_text, enum smg_bayes_learned *what,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_spam_gtube - whether buf[0..len) holds the GTUBE test string */
gboolean smg_spam_gtube(const char *buf, gsize len);

#endif

/*
 * bayes.h - the Bayesian classifier of smg-check: tokenizer, token
 * database and chi-square (Robinson-Fisher) combining, in the manner of
 * SpamBayes and bogofilter.
 *
 * Tokens are words of the decoded text (lower-cased, 3 to 12 characters;
 * longer ones become "skip:" tokens), words of the header fields prefixed
 * with the field name, URI host names and path words, HTML tag names and
 * presentational attributes, part types and attachment extensions.  Each
 * token counts once per message.  A token is stored as a 64-bit FNV-1a
 * hash of its text whose lowest bit says whether it came from the header
 * (1) or the body (0).
 *
 * The database is one file: a 64-byte header (magic "SMGBAYS1", version 2,
 * byte-order mark, messages learned as spam and as ham, token count,
 * checksum of the records, count and checksum of the digests) followed by
 * the token records, 16 bytes each (hash, spam count, ham count, native
 * byte order), sorted by hash, and then the digests of the messages
 * learned, 16 bytes each, sorted.  Readers read the header and the
 * records into memory and look tokens up by binary search; they never
 * read the digests (only the file's size must account for them): opening
 * costs one read and one pass to verify it; it is not mapped, so a file
 * rewritten in place (cp over it) cannot pull pages from under a reader
 * (SIGBUS).  A learner holds an exclusive flock on "PATH.lock" (learners
 * take turns), merges its counts and digests with the current file into
 * "PATH.tmp.PID", fsyncs it and renames it over PATH: a reader keeps the
 * copy it read and sees the new file on its next open, so readers never
 * lock and never see a half-written file, and counts and digests change
 * in one rename.  A version 1 file (no digests) is read as it is and
 * written as version 2 by the next learner.
 *
 * A learned message is remembered by the first 128 bits of SHA-256 over
 * its ident (its Message-ID and Date fields, a hash of its raw body) and
 * its sorted token hashes; the lowest bit is replaced by its class (1
 * spam, 0 ham).  A message learned again as the same class is not
 * counted again; learned as the other class its tokens and its message
 * count move from the old class to the new one (never below 0).  The
 * digest covers exactly the tokens that were added, so what a move
 * subtracts is what was added.
 *
 * For each token of a message f(w) = (s*x + n*p(w)) / (s + n) with
 * p(w) = (spam/nspam) / (spam/nspam + ham/nham), n = spam + ham; the
 * tokens with |f - 0.5| >= min_dev (at most max_clues, strongest first)
 * are combined with Fisher's chi-square method:
 *   S = 1 - C^-1(-2 ln prod(1-f), 2n), H = 1 - C^-1(-2 ln prod f, 2n),
 *   prob = (1 + S - H) / 2.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_BAYES_H
#define SMG_BAYES_H 1

#include <stdint.h>

#include <glib.h>

#include "lib/mimetext.h"
#include "lib/status.h"

/* The tokens of one message: sorted, unique hashes (and their text). */
struct smg_bayes_tokens {
    GArray *hashes;    /* of guint64 */
    GHashTable *names; /* guint64 * -> char *, only when asked for */
    gboolean sorted;
    gboolean in_header; /* tokens being added come from the header */
    char *ident;       /* the Message-ID and Date fields and a 64-bit
                          hash of the raw body (tokens_identify sets it;
                          NULL: the digest is of the tokens alone) */
};

/* smg_bayes_tokens_new - an empty set; keep_names for --explain */
struct smg_bayes_tokens *smg_bayes_tokens_new(gboolean keep_names);
void smg_bayes_tokens_free(struct smg_bayes_tokens *tok);

/* smg_bayes_tokens_add - add the token prefix+word[0..len) */
void smg_bayes_tokens_add(struct smg_bayes_tokens *tok, const char *prefix,
                          const char *word, gsize len);

/* smg_bayes_tokens_finish - sort and make unique (done by the users below) */
void smg_bayes_tokens_finish(struct smg_bayes_tokens *tok);

/* smg_bayes_tokens_name - the text of a token's hash, or NULL if not kept */
const char *smg_bayes_tokens_name(const struct smg_bayes_tokens *tok,
                                  guint64 hash);

/* smg_bayes_tokenize - add the tokens of a decoded message to tok */
void smg_bayes_tokenize(const struct smg_mimetext *mt,
                        struct smg_bayes_tokens *tok);

/*
 * smg_bayes_tokens_identify - set tok's ident from mt (Message-ID, Date, a
 * hash of the raw body), for the learner's digest; only learning needs it,
 * so scoring does not pay for a pass over the body
 */
void smg_bayes_tokens_identify(struct smg_bayes_tokens *tok,
                               const struct smg_mimetext *mt);

/* smg_bayes_hash - the 64-bit hash of prefix+word[0..len) */
guint64 smg_bayes_hash(const char *prefix, const char *word, gsize len);

/* ---- the database, read side ---- */

struct smg_bayes;

/*
 * smg_bayes_open - read the database at path into memory.  A missing file is
 * an empty database (SMG_OK: nothing learned yet).  A file that is not a
 * database, was cut short, has another version or byte order, records out
 * of order or a wrong checksum is SMG_CONFIG (4.3.5 "Bayes database PATH
 * is corrupt: ..."); an unreadable one SMG_TEMPFAIL (4.3.0).  *out is
 * owned by the caller (smg_bayes_close).
 */
enum smg_status smg_bayes_open(const char *path, struct smg_bayes **out,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;

void smg_bayes_close(struct smg_bayes *db);

/* smg_bayes_changed - whether the file at the path now differs (inode,
 * size or mtime) from the one read, so a long-running reader reopens */
gboolean smg_bayes_changed(const struct smg_bayes *db);

/* Messages learned and distinct tokens. */
guint64 smg_bayes_nspam(const struct smg_bayes *db);
guint64 smg_bayes_nham(const struct smg_bayes *db);
guint64 smg_bayes_ntokens(const struct smg_bayes *db);

/* smg_bayes_lookup - the counts of a token; FALSE when it is unknown */
gboolean smg_bayes_lookup(const struct smg_bayes *db, guint64 hash,
                          guint32 *spam, guint32 *ham);

struct smg_bayes_params {
    double s;           /* strength of the prior x (1.0; SpamBayes 0.45) */
    double x;           /* probability of an unknown token (0.5) */
    double min_dev;     /* clues are tokens with |f - 0.5| >= this (0.1) */
    unsigned max_clues; /* strongest clues used (150) */
    unsigned max_header_clues; /* of which from header fields at most (20),
                                  so that a mailing list's many header
                                  fields cannot outvote the text */
    guint64 min_learned; /* below this many spam or ham: no verdict (20) */
};

/* smg_bayes_params_default - the defaults above */
void smg_bayes_params_default(struct smg_bayes_params *p);

struct smg_bayes_clue {
    guint64 hash;
    double f;
    guint32 spam, ham;
};

struct smg_bayes_result {
    gboolean usable;   /* enough learned: prob means something */
    double prob;       /* 0 ham .. 1 spam; 0.5 when not usable */
    unsigned nclues;   /* tokens that were combined */
    GArray *clues;     /* of struct smg_bayes_clue, strongest first, when
                          asked for (g_array_unref); else NULL */
};

/*
 * smg_bayes_classify - the spam probability of tok (finished here) against
 * db.  With want_clues, res->clues lists the combined tokens.
 */
void smg_bayes_classify(const struct smg_bayes *db,
                        struct smg_bayes_tokens *tok,
                        const struct smg_bayes_params *params,
                        gboolean want_clues, struct smg_bayes_result *res);

/* smg_bayes_chi2q - P(chi-square with v degrees of freedom >= x2), v even */
double smg_bayes_chi2q(double x2, unsigned v);

/* ---- the database, write side ---- */

struct smg_bayes_learner;

/*
 * smg_bayes_learner_open - start learning into path: waits for the
 * exclusive lock PATH.lock (created if needed) and reads the current file
 * with its digests (same statuses as smg_bayes_open, and corrupt digests
 * are SMG_CONFIG too; a corrupt file is never overwritten).
 * *out is owned by the caller (smg_bayes_learner_free, which releases the
 * lock and forgets what was not committed).
 */
enum smg_status smg_bayes_learner_open(const char *path,
                                       struct smg_bayes_learner **out,
                                       GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* What smg_bayes_learner_add did with a message. */
enum smg_bayes_learned {
    SMG_BAYES_LEARNED_NEW = 0, /* counted */
    SMG_BAYES_LEARNED_ALREADY, /* learned before as this class: not again */
    SMG_BAYES_LEARNED_MOVED,   /* learned before as the other class: its
                                  tokens and count moved to this one */
};

/*
 * smg_bayes_learner_add - count tok (finished here) as one spam or ham,
 * unless the database or this learner already has the message (by its
 * digest, see above) as that class; one learned as the other class is
 * moved.  Returns which.
 */
enum smg_bayes_learned smg_bayes_learner_add(struct smg_bayes_learner *l,
                                             struct smg_bayes_tokens *tok,
                                             gboolean spam);

/*
 * smg_bayes_learner_commit - merge what was added with the file and
 * replace it atomically (temp file, fsync, rename, fsync of the folder).
 * SMG_TEMPFAIL (4.3.0) on I/O errors, the old file then stays, and when
 * the file was replaced since the learner read it other than by a learner
 * (removed, put back from a backup): what was decided against the old
 * digests would be wrong for it.  The learner may go on adding and commit
 * again (also after a failed commit: nothing added is lost).
 */
enum smg_status smg_bayes_learner_commit(struct smg_bayes_learner *l,
                                         GError **err) G_GNUC_WARN_UNUSED_RESULT;

void smg_bayes_learner_free(struct smg_bayes_learner *l);

#endif

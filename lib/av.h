/*
 * av.h - virus scanning of messages with libclamav.
 *
 * One engine per process: smg_av_open loads every database in a folder
 * (as clamd's DatabaseDirectory: .cvd/.cld from freshclam and local
 * .hdb/.ndb/... files), compiles it, and sets the scan limits.  Messages
 * are scanned from memory with mail parsing on, so MIME parts, encodings,
 * archives and nested messages are entered; the options follow clamd's
 * defaults (all parsers, heuristic alerts on).  When a limit stops the
 * scan of some part (size, recursion, number of files, time), the result
 * says which ("Heuristics.Limits.Exceeded.MaxFileSize"); the caller
 * decides whether that passes.  A message larger than max_file_size or
 * max_scan_size is skipped whole by libclamav (EICAR on its first line
 * goes unseen): such a result says so (unscanned), and is no scan at all.
 *
 * A scanner failure never passes mail as clean: an unusable database is
 * SMG_TEMPFAIL at open, an engine failure during a scan SMG_TEMPFAIL, and
 * content the engine refuses outright SMG_PERMFAIL.
 *
 * smg_av_reload_check compares the database folder with what was loaded
 * (cl_statchkdir, and the number of files, for one removed) and loads a
 * new engine when it changed; the old engine
 * stays in use until the new one is ready, and stays if the new one
 * cannot be loaded (freshclam in the middle of an update), so a reload
 * never stops scanning.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_AV_H
#define SMG_AV_H 1

#include <glib.h>

#include "lib/status.h"

struct smg_av_options {
    const char *database;      /* folder of the signature databases */
    guint64 max_scan_size;     /* bytes scanned per message; 0: ClamAV's */
    guint64 max_file_size;     /* largest message, part or file scanned;
                                  0: ClamAV's */
    guint max_recursion;       /* nesting of archives and parts; 0: ClamAV's */
    guint max_files;           /* files in archives per message; 0: ClamAV's */
    guint max_scan_time;       /* milliseconds per message; 0: ClamAV's */
    gboolean alert_encrypted;  /* encrypted archives and documents are found
                                  as Heuristics.Encrypted.* */
    gboolean alert_macros;     /* OLE2 documents with macros are found as
                                  Heuristics.OLE2.ContainsMacros */
    const char *tmpdir;        /* where libclamav unpacks parts and archives
                                  (clamd's TemporaryDirectory); NULL: $TMPDIR
                                  or /tmp */
};

struct smg_av;

enum smg_av_verdict {
    SMG_AV_CLEAN = 0,
    SMG_AV_INFECTED,
};

struct smg_av_result {
    enum smg_av_verdict verdict;
    char *virus;    /* the signature found (INFECTED), else NULL */
    char *limit;    /* the limit that was hit ("Heuristics.Limits.Exceeded.
                       MaxFileSize"), else NULL; with a limit alone the
                       verdict is CLEAN: the part beyond it was not scanned */
    guint64 scanned; /* bytes libclamav reports as scanned */
    gboolean unscanned; /* the message itself is larger than max_file_size
                           or max_scan_size (limit says which): libclamav
                           would skip all of it, so nothing was scanned */
};

/*
 * smg_av_open - initialise libclamav (once per process) and load the
 * databases in o->database.  SMG_TEMPFAIL with err ("4.3.0 antivirus
 * database ...: reason") when the folder is missing, holds no signatures
 * or a malformed database, or the engine cannot be built.  *out is freed
 * with smg_av_free.
 */
enum smg_status smg_av_open(const struct smg_av_options *o, struct smg_av **out,
                            GError **err) G_GNUC_WARN_UNUSED_RESULT;

void smg_av_free(struct smg_av *av);

/* smg_av_engine - "ClamAV/1.4.6", owned by av */
const char *smg_av_engine(const struct smg_av *av);

/* smg_av_signatures - how many signatures the engine holds */
guint smg_av_signatures(const struct smg_av *av);

/* smg_av_db_version - the daily database's version, 0 when none */
guint smg_av_db_version(const struct smg_av *av);

/*
 * smg_av_scan - scan the message msg[0..len) (an RFC 5322 message, no
 * envelope).  SMG_OK with *res filled (free its strings with
 * smg_av_result_clear); a message larger than max_file_size or
 * max_scan_size is not given to libclamav: SMG_OK, CLEAN, unscanned, and
 * the limit named; SMG_TEMPFAIL with err when the engine fails
 * (memory, temporary files); SMG_PERMFAIL with err when the engine
 * refuses the content.  res is cleared first in every case.
 */
enum smg_status smg_av_scan(struct smg_av *av, const char *msg, gsize len,
                            struct smg_av_result *res,
                            GError **err) G_GNUC_WARN_UNUSED_RESULT;

void smg_av_result_clear(struct smg_av_result *res);

/*
 * smg_av_reload_check - reload the engine if the database folder changed
 * since it was loaded (a database file added, changed or removed).  SMG_OK with *reloaded TRUE/FALSE (may be NULL).
 * If the new databases cannot be loaded, the old engine stays and
 * SMG_TEMPFAIL is returned with err (the caller logs it and goes on; the
 * next check tries again).
 */
enum smg_status smg_av_reload_check(struct smg_av *av, gboolean *reloaded,
                                    GError **err) G_GNUC_WARN_UNUSED_RESULT;

#endif

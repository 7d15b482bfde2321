/*
 * av.c - libclamav behind smg's status conventions (see av.h).
 *
 * The engine is loaded as clamd loads it (cl_load with CL_DB_STDOPT over
 * the whole folder) and scans a memory map of the message.  libclamav
 * decides whether a file is mail from its first header lines; a message
 * may begin with any field, so a "Received:" line is put in front of a
 * copy of it, which makes the mail parser take it in every case.
 *
 * libclamav reports some failures only as an error message and still
 * calls the message clean: when it cannot make its temporary folder (a
 * missing or read-only tmpdir) the mail parser never runs, and when it
 * cannot make a part's file (a full tmpfs) that part is never scanned.
 * The message callback therefore records the first such error of a scan
 * (temporary-file trouble, not the parsers' complaints about malformed
 * content, which libclamav also logs as errors and which stay warnings),
 * and a scan that logged one is never a clean verdict: a temporary
 * failure when the folder fails a test of our own (a folder and a file
 * written in it), which stops the worker until it is mended; otherwise
 * this message's own trouble (a part larger than the tmpfs has room for),
 * which goes to hold/ so that it cannot block the queue.  The engine is
 * always given its folder (tmpdir, else $TMPDIR, else /tmp) so that the
 * test tries the same one.  A folder on a full file system is worse: there
 * libclamav logs nothing and finds nothing (EICAR in a zip "clean"), so a
 * scan begins only when the folder has TMPDIR_PROBE bytes and an inode
 * free.
 *
 * A message larger than max_file_size or max_scan_size is skipped whole
 * by libclamav, which then reports only the limit: nothing of it, not
 * even its first line, is scanned.  smg_av_scan sees that from the size
 * and says so (unscanned) instead of scanning.  The line put in front of
 * the message is added to both limits given to the engine, so that they
 * are the message's size as the operator counts it.
 *
 * Limits are reported through the heuristic alert for them
 * (CL_SCAN_HEURISTIC_EXCEEDS_MAX): libclamav records it as "potentially
 * unwanted" and goes on scanning, so a real signature found later still
 * wins; the virus-found callback sees each alert and keeps both names.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <clamav.h>

#include "lib/av.h"
#include "lib/log.h"

#define LIMIT_PREFIX "Heuristics.Limits.Exceeded"
#define MAIL_PREFIX "Received: by smg-scan\n"

struct smg_av {
    char *database;
    char *tmpdir;
    struct smg_av_options o;  /* database and tmpdir point to ours */
    struct cl_engine *engine;
    struct cl_stat dbstat;
    gboolean have_stat;
    guint sigs;
    guint db_version;
    char *engine_name;
};

/* What the callbacks collect during one scan. */
struct scan_ctx {
    char *virus;
    char *limit;
    char *error; /* libclamav's first temporary-file error */
};

/*
 * The scan this thread is in, for the message callback: libclamav passes
 * the scan's context only once the scan is under way, and its error about
 * the temporary folder comes before that, with NULL.
 */
static GPrivate current_scan;

/*
 * tmpfile_trouble - whether one of libclamav's error messages says that a
 * temporary folder or file could not be made or written (ClamAV 1.x
 * wording: "Can't create temporary directory/file", cli_gentempfd's
 * errors, fileblobDestroy's "... not saved", cli_writen's "write error");
 * what libclamav says before a scan's context exists is always that
 */
static gboolean
tmpfile_trouble(const char *m, gboolean early)
{
    return early || strstr(m, "temporary") != NULL || strstr(m, "cli_gentemp") != NULL
           || strstr(m, "not saved") != NULL || strstr(m, "write error") != NULL;
}

/*
 * on_clamav_msg - libclamav's own messages go to our log, never stderr.
 * Its warnings outside a scan are about the engine and its databases (a
 * daily database older than 7 days or dated in the future, an engine
 * older than the databases, a limit it cannot honour) and are shown as
 * warnings, as clamd shows them; during a scan they are about the
 * message's content and stay debug lines, as do the lines of asterisks
 * that frame the database warnings.
 */
static void
on_clamav_msg(enum cl_msg severity, const char *fullmsg, const char *msg, void *context)
{
    struct scan_ctx *c = g_private_get(&current_scan);
    char *m = g_strchomp(g_strdup(msg != NULL ? msg : fullmsg));

    if (severity == CL_MSG_ERROR) {
        smg_log_warn("libclamav: %s", m);
        if (c != NULL && c->error == NULL && tmpfile_trouble(m, context == NULL)) {
            c->error = m;
            return;
        }
    } else if (severity == CL_MSG_WARN && c == NULL && m[strspn(m, "* ")] != '\0') {
        smg_log_warn("libclamav: %s", m);
    } else {
        smg_log_debug("libclamav: %s", m);
    }
    g_free(m);
}

/* on_virus_found - keep the first real signature and the first limit */
static void
on_virus_found(int fd, const char *virname, void *context)
{
    struct scan_ctx *c = context;

    (void) fd;
    if (c == NULL || virname == NULL)
        return;
    if (g_str_has_prefix(virname, LIMIT_PREFIX)) {
        if (c->limit == NULL)
            c->limit = g_strdup(virname);
    } else if (c->virus == NULL) {
        c->virus = g_strdup(virname);
    }
}

/* init_once - cl_init for the process */
static cl_error_t
init_once(void)
{
    static gsize done;
    static cl_error_t rc;

    if (g_once_init_enter(&done)) {
        cl_set_clcb_msg(on_clamav_msg);
        rc = cl_init(CL_INIT_DEFAULT);
        g_once_init_leave(&done, 1);
    }
    return rc;
}

/* set_num - cl_engine_set_num if v is set */
static cl_error_t
set_num(struct cl_engine *e, enum cl_engine_field f, long long v)
{
    return v > 0 ? cl_engine_set_num(e, f, v) : CL_SUCCESS;
}

/* with_prefix - a size limit v for the message, as the engine counts it */
static long long
with_prefix(guint64 v)
{
    return v > 0 ? (long long) (v + strlen(MAIL_PREFIX)) : 0;
}

/*
 * load_engine - a compiled engine for o's folder, with its signature
 * count; dbstat (zeroed by the caller) is taken before loading so that a
 * change during the load is seen by the next check.
 */
static enum smg_status
load_engine(const struct smg_av_options *o, struct cl_engine **out, guint *sigs,
            struct cl_stat *dbstat, gboolean *have_stat, GError **err)
{
    struct cl_engine *e;
    unsigned int n = 0;
    cl_error_t rc;

    *out = NULL;
    *have_stat = FALSE;
    if (!g_file_test(o->database, G_FILE_TEST_IS_DIR)) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "antivirus database %s: no such folder",
                      o->database);
        return SMG_TEMPFAIL;
    }
    memset(dbstat, 0, sizeof *dbstat);
    if (cl_statinidir(o->database, dbstat) == CL_SUCCESS)
        *have_stat = TRUE;
    e = cl_engine_new();
    if (e == NULL) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "antivirus engine: cannot allocate");
        goto fail;
    }
    cl_engine_set_clcb_virus_found(e, on_virus_found);
    rc = set_num(e, CL_ENGINE_MAX_SCANSIZE, with_prefix(o->max_scan_size));
    if (rc == CL_SUCCESS)
        rc = set_num(e, CL_ENGINE_MAX_FILESIZE, with_prefix(o->max_file_size));
    if (rc == CL_SUCCESS)
        rc = set_num(e, CL_ENGINE_MAX_RECURSION, o->max_recursion);
    if (rc == CL_SUCCESS)
        rc = set_num(e, CL_ENGINE_MAX_FILES, o->max_files);
    if (rc == CL_SUCCESS)
        rc = set_num(e, CL_ENGINE_MAX_SCANTIME, o->max_scan_time);
    if (rc == CL_SUCCESS)
        rc = cl_engine_set_str(e, CL_ENGINE_TMPDIR, o->tmpdir);
    if (rc != CL_SUCCESS) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "antivirus engine settings: %s",
                      cl_strerror(rc));
        goto fail;
    }
    rc = cl_load(o->database, e, &n, CL_DB_STDOPT);
    if (rc != CL_SUCCESS) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "antivirus database %s: %s", o->database,
                      cl_strerror(rc));
        goto fail;
    }
    if (n == 0) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "antivirus database %s: no signatures",
                      o->database);
        goto fail;
    }
    rc = cl_engine_compile(e);
    if (rc != CL_SUCCESS) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "antivirus database %s: %s", o->database,
                      cl_strerror(rc));
        goto fail;
    }
    *out = e;
    *sigs = n;
    return SMG_OK;
fail:
    if (e != NULL)
        cl_engine_free(e);
    if (*have_stat)
        cl_statfree(dbstat);
    *have_stat = FALSE;
    return SMG_TEMPFAIL;
}

/* db_version - the daily database's version of engine e, 0 if none */
static guint
db_version(const struct cl_engine *e)
{
    int cerr = 0;
    long long v = cl_engine_get_num(e, CL_ENGINE_DB_VERSION, &cerr);

    return cerr == CL_SUCCESS && v > 0 ? (guint) v : 0;
}

enum smg_status
smg_av_open(const struct smg_av_options *o, struct smg_av **out, GError **err)
{
    struct smg_av *av;
    cl_error_t rc;

    *out = NULL;
    rc = init_once();
    if (rc != CL_SUCCESS) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "libclamav: cl_init: %s", cl_strerror(rc));
        return SMG_TEMPFAIL;
    }
    if (o == NULL || o->database == NULL) {
        smg_set_error(err, SMG_BUG, "4.3.0", "antivirus: no database folder given");
        return SMG_BUG;
    }
    av = g_new0(struct smg_av, 1);
    av->o = *o;
    av->database = g_strdup(o->database);
    av->o.database = av->database;
    /* libclamav would take $TMPDIR even when empty; GLib skips that */
    av->tmpdir = g_strdup(o->tmpdir != NULL ? o->tmpdir : g_get_tmp_dir());
    av->o.tmpdir = av->tmpdir;
    if (load_engine(&av->o, &av->engine, &av->sigs, &av->dbstat, &av->have_stat, err)
        != SMG_OK) {
        smg_av_free(av);
        return SMG_TEMPFAIL;
    }
    av->db_version = db_version(av->engine);
    av->engine_name = g_strdup_printf("ClamAV/%s", cl_retver());
    *out = av;
    return SMG_OK;
}

void
smg_av_free(struct smg_av *av)
{
    if (av == NULL)
        return;
    if (av->engine != NULL)
        cl_engine_free(av->engine);
    if (av->have_stat)
        cl_statfree(&av->dbstat);
    g_free(av->database);
    g_free(av->tmpdir);
    g_free(av->engine_name);
    g_free(av);
}

const char *
smg_av_engine(const struct smg_av *av)
{
    return av->engine_name;
}

guint
smg_av_signatures(const struct smg_av *av)
{
    return av->sigs;
}

guint
smg_av_db_version(const struct smg_av *av)
{
    return av->db_version;
}

void
smg_av_result_clear(struct smg_av_result *res)
{
    g_free(res->virus);
    g_free(res->limit);
    memset(res, 0, sizeof *res);
}

/*
 * tmpdir_error - why the engine's temporary folder is unusable, or NULL:
 * a folder made in it, and a file of TMPDIR_PROBE bytes in that, as
 * libclamav makes them for every message
 */
#define TMPDIR_PROBE 65536
static char *
tmpdir_error(const struct smg_av *av)
{
    char *probe = g_build_filename(av->tmpdir, "smg-scan.XXXXXX", NULL);
    char *why = NULL;

    if (g_mkdtemp(probe) == NULL) {
        why = g_strdup_printf("temporary folder %s: %s", av->tmpdir, g_strerror(errno));
    } else {
        char *file = g_build_filename(probe, "probe", NULL);
        char *zeros = g_malloc0(TMPDIR_PROBE);
        GError *e = NULL;

        if (!g_file_set_contents(file, zeros, TMPDIR_PROBE, &e)) {
            why = g_strdup_printf("temporary folder %s: %s", av->tmpdir, e->message);
            g_error_free(e);
        }
        (void) unlink(file);
        (void) rmdir(probe);
        g_free(zeros);
        g_free(file);
    }
    g_free(probe);
    return why;
}

/*
 * tmpdir_full - why the engine's temporary folder is full, or NULL; a
 * folder statvfs cannot see is left to the scan, whose error says why
 */
static char *
tmpdir_full(const struct smg_av *av)
{
    struct statvfs sv;

    if (statvfs(av->tmpdir, &sv) < 0)
        return NULL;
    if ((guint64) sv.f_bavail * sv.f_frsize < TMPDIR_PROBE)
        return g_strdup_printf("temporary folder %s: no space left", av->tmpdir);
    if (sv.f_files > 0 && sv.f_favail == 0)
        return g_strdup_printf("temporary folder %s: no inode left", av->tmpdir);
    return NULL;
}

/*
 * too_large - the limit ("MaxFileSize", "MaxScanSize") that makes the
 * engine skip a file of size bytes whole, or NULL
 */
static const char *
too_large(const struct smg_av *av, guint64 size)
{
    int cerr = 0;
    long long v = cl_engine_get_num(av->engine, CL_ENGINE_MAX_FILESIZE, &cerr);

    if (cerr == CL_SUCCESS && v > 0 && size > (guint64) v)
        return "MaxFileSize";
    cerr = 0;
    v = cl_engine_get_num(av->engine, CL_ENGINE_MAX_SCANSIZE, &cerr);
    if (cerr == CL_SUCCESS && v > 0 && size > (guint64) v)
        return "MaxScanSize";
    return NULL;
}

/* error_status - how a scan error is taken: engine trouble or bad content */
static enum smg_status
error_status(cl_error_t rc)
{
    switch (rc) {
    case CL_EMEM:
    case CL_ENULLARG:
    case CL_EARG:
    case CL_EMAP:
    case CL_ETMPFILE:
    case CL_ETMPDIR:
    case CL_ECREAT:
    case CL_EWRITE:
    case CL_EOPEN:
    case CL_EREAD:
    case CL_ESEEK:
    case CL_EDUP:
    case CL_ESTAT:
    case CL_EUNLINK:
    case CL_EACCES:
    case CL_ELOCK:
    case CL_EBUSY:
    case CL_ESTATE:
    case CL_EBYTECODE:
    case CL_EBYTECODE_TESTFAIL:
        return SMG_TEMPFAIL;
    default:
        return SMG_PERMFAIL;
    }
}

enum smg_status
smg_av_scan(struct smg_av *av, const char *msg, gsize len, struct smg_av_result *res,
            GError **err)
{
    struct cl_scan_options opts = {0};
    struct scan_ctx ctx = {NULL, NULL, NULL};
    const char *virname = NULL;
    unsigned long scanned = 0;
    gsize plen = strlen(MAIL_PREFIX);
    const char *limit;
    char *copy, *full;
    cl_fmap_t *map;
    cl_error_t rc;

    memset(res, 0, sizeof *res);
    if ((limit = too_large(av, plen + len)) != NULL) {
        /* libclamav would skip it whole and call it clean */
        res->limit = g_strdup_printf(LIMIT_PREFIX ".%s", limit);
        res->unscanned = TRUE;
        res->verdict = SMG_AV_CLEAN;
        return SMG_OK;
    }
    if ((full = tmpdir_full(av)) != NULL) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.1", "antivirus: %s", full);
        g_free(full);
        return SMG_TEMPFAIL;
    }
    opts.general = CL_SCAN_GENERAL_HEURISTICS;
    opts.parse = ~0u;
    opts.heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX;
    if (av->o.alert_encrypted)
        opts.heuristic |= CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE | CL_SCAN_HEURISTIC_ENCRYPTED_DOC;
    if (av->o.alert_macros)
        opts.heuristic |= CL_SCAN_HEURISTIC_MACROS;
    copy = g_malloc(plen + len + 1);
    memcpy(copy, MAIL_PREFIX, plen);
    memcpy(copy + plen, msg, len);
    copy[plen + len] = '\0';
    map = cl_fmap_open_memory(copy, plen + len);
    if (map == NULL) {
        g_free(copy);
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "antivirus: cannot map the message");
        return SMG_TEMPFAIL;
    }
    g_private_set(&current_scan, &ctx);
    rc = cl_scanmap_callback(map, NULL, &virname, &scanned, av->engine, &opts, &ctx);
    g_private_set(&current_scan, NULL);
    cl_fmap_close(map);
    g_free(copy);
    res->scanned = (guint64) scanned * CL_COUNT_PRECISION;
    if (rc == CL_CLEAN || rc == CL_VIRUS) {
        res->limit = ctx.limit;
        res->virus = ctx.virus;
        if (rc == CL_VIRUS && virname != NULL) {
            if (g_str_has_prefix(virname, LIMIT_PREFIX)) {
                if (res->limit == NULL)
                    res->limit = g_strdup(virname);
            } else if (res->virus == NULL) {
                res->virus = g_strdup(virname);
            }
        }
        if (res->virus == NULL && ctx.error != NULL) {
            /* "clean" (or a limit) after such an error: parts not looked at */
            char *why = tmpdir_error(av);
            enum smg_status st = why != NULL ? SMG_TEMPFAIL : SMG_PERMFAIL;

            smg_set_error(err, st, why != NULL ? "4.3.0" : "5.6.0",
                          "antivirus: %s%slibclamav: %s", why != NULL ? why : "",
                          why != NULL ? "; " : "", ctx.error);
            g_free(why);
            g_free(ctx.error);
            smg_av_result_clear(res);
            return st;
        }
        g_free(ctx.error);
        res->verdict = res->virus != NULL ? SMG_AV_INFECTED : SMG_AV_CLEAN;
        return SMG_OK;
    }
    g_free(ctx.error);
    g_free(ctx.virus);
    g_free(ctx.limit);
    if (rc == CL_ETIMEOUT || rc == CL_EMAXREC || rc == CL_EMAXSIZE || rc == CL_EMAXFILES) {
        /* a limit reported as an error rather than an alert: the same */
        res->limit = g_strdup_printf(LIMIT_PREFIX ".%s",
                                     rc == CL_ETIMEOUT ? "MaxScanTime"
                                     : rc == CL_EMAXREC ? "MaxRecursion"
                                     : rc == CL_EMAXSIZE ? "MaxScanSize"
                                                          : "MaxFiles");
        res->verdict = SMG_AV_CLEAN;
        return SMG_OK;
    }
    {
        enum smg_status st = error_status(rc);
        smg_set_error(err, st, st == SMG_TEMPFAIL ? "4.3.0" : "5.6.0",
                      "antivirus scan failed: %s", cl_strerror(rc));
        return st;
    }
}

/*
 * db_changed - whether the database folder differs from what was loaded:
 * cl_statchkdir sees a file that is new or changed, but not one that was
 * removed (it looks up each file present among those loaded), so the
 * number of database files is compared too
 */
static gboolean
db_changed(struct smg_av *av)
{
    struct cl_stat now;
    gboolean changed;

    if (!av->have_stat || cl_statchkdir(&av->dbstat) != 0)
        return TRUE;
    memset(&now, 0, sizeof now);
    if (cl_statinidir(av->database, &now) != CL_SUCCESS)
        return TRUE;
    changed = now.entries != av->dbstat.entries;
    cl_statfree(&now);
    return changed;
}

enum smg_status
smg_av_reload_check(struct smg_av *av, gboolean *reloaded, GError **err)
{
    struct cl_engine *e = NULL;
    struct cl_stat st;
    gboolean have = FALSE;
    guint sigs = 0;

    if (reloaded != NULL)
        *reloaded = FALSE;
    if (!db_changed(av))
        return SMG_OK;
    if (load_engine(&av->o, &e, &sigs, &st, &have, err) != SMG_OK)
        return SMG_TEMPFAIL;
    cl_engine_free(av->engine);
    if (av->have_stat)
        cl_statfree(&av->dbstat);
    av->engine = e;
    av->sigs = sigs;
    av->dbstat = st;
    av->have_stat = have;
    av->db_version = db_version(e);
    if (reloaded != NULL)
        *reloaded = TRUE;
    return SMG_OK;
}

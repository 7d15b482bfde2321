/*
 * av-t.c - unit tests for lib/av: libclamav with a database built by
 * ClamAV's sigtool in the test (t/data/scan-mkmsg.py sigs), never the
 * system's.
 *
 * Covers: an unusable database (missing folder, empty folder, malformed
 * file) is SMG_TEMPFAIL; a clean message and a clean one with attachments
 * pass; EICAR as a 7bit attachment, base64, in a zip and in a forwarded
 * message/rfc822 is found by the hex signature, and by the MD5 signature
 * alone (so parts are decoded and archives unpacked into files); the body
 * signature of our own; the scan limits (scan size, files, recursion) are
 * reported and a virus still wins over a limit, and a message larger than
 * max_file_size or max_scan_size (which libclamav skips whole) is said to
 * be unscanned; reload_check notices new, removed
 * and malformed database files and keeps the old engine on failure.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "lib/av.h"
#include "t/tap/basic.h"

static char *mkmsg; /* path of t/data/scan-mkmsg.py */

/* run_py - run scan-mkmsg.py with args; its stdout (bails on failure) */
static char *
run_py(const char *a1, const char *a2, const char *a3, gsize *len)
{
    const char *argv[] = {"/usr/bin/python3", mkmsg, a1, a2, a3, NULL};
    char *out = NULL, *errout = NULL;
    int status = 0;
    GError *err = NULL;

    if (!g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &errout,
                      &status, &err)
        || !g_spawn_check_wait_status(status, NULL))
        bail("scan-mkmsg.py %s failed: %s", a1, err != NULL ? err->message : errout);
    g_free(errout);
    if (len != NULL)
        *len = strlen(out);
    return out;
}

/* make_db - a sigtool-built database of kind which in a new folder */
static char *
make_db(const char *top, const char *name, const char *which)
{
    char *dir = g_build_filename(top, name, NULL);

    g_free(run_py("sigs", dir, which, NULL));
    return dir;
}

/* scan_kind - scan a generated message; the status, result in *r */
static enum smg_status
scan_kind(struct smg_av *av, const char *kind, const char *arg, struct smg_av_result *r)
{
    gsize len = 0;
    char *msg = run_py(kind, arg, NULL, &len);
    GError *err = NULL;
    enum smg_status st = smg_av_scan(av, msg, len, r, &err);

    if (err != NULL)
        diag("scan %s: %s", kind, err->message);
    g_clear_error(&err);
    g_free(msg);
    return st;
}

/* found - whether kind is found infected with a name starting with prefix */
static void
found(struct smg_av *av, const char *kind, const char *prefix, const char *what)
{
    struct smg_av_result r;

    is_int(SMG_OK, scan_kind(av, kind, NULL, &r), "%s: scanned", what);
    is_int(SMG_AV_INFECTED, r.verdict, "%s: infected", what);
    ok(r.virus != NULL && g_str_has_prefix(r.virus, prefix), "%s: found as %s (%s)", what,
       prefix, r.virus != NULL ? r.virus : "none");
    smg_av_result_clear(&r);
}

/* clean - whether kind passes as clean without a limit */
static void
clean(struct smg_av *av, const char *kind, const char *what)
{
    struct smg_av_result r;

    is_int(SMG_OK, scan_kind(av, kind, NULL, &r), "%s: scanned", what);
    is_int(SMG_AV_CLEAN, r.verdict, "%s: clean", what);
    ok(r.virus == NULL && r.limit == NULL, "%s: no virus, no limit", what);
    smg_av_result_clear(&r);
}

static void
test_unusable(const char *top)
{
    struct smg_av_options o = {0};
    struct smg_av *av = NULL;
    GError *err = NULL;
    char *empty = g_build_filename(top, "empty", NULL);
    char *bad = make_db(top, "bad", "all");
    char *badfile = g_build_filename(bad, "broken.ndb", NULL);

    o.database = "/nonexistent/clamav";
    is_int(SMG_TEMPFAIL, smg_av_open(&o, &av, &err), "missing folder: TEMPFAIL");
    ok(err != NULL && g_str_has_prefix(err->message, "4.3.0 antivirus database"),
       "missing folder: 4.3.0 message");
    ok(av == NULL, "missing folder: no engine");
    g_clear_error(&err);

    g_mkdir(empty, 0700);
    o.database = empty;
    is_int(SMG_TEMPFAIL, smg_av_open(&o, &av, &err), "empty folder: TEMPFAIL");
    g_clear_error(&err);

    test_write_file(badfile, "Broken-Sig:0:*:zz-not-hex\n");
    o.database = bad;
    is_int(SMG_TEMPFAIL, smg_av_open(&o, &av, &err), "malformed database: TEMPFAIL");
    ok(err != NULL && strstr(err->message, "Malformed") != NULL, "malformed: says so (%s)",
       err != NULL ? err->message : "");
    g_clear_error(&err);
    g_free(empty);
    g_free(bad);
    g_free(badfile);
}

static void
test_scan(const char *top)
{
    struct smg_av_options o = {0};
    struct smg_av *av = NULL;
    GError *err = NULL;
    char *all = make_db(top, "all", "all");
    char *hdb = make_db(top, "hdb", "hdb");
    struct smg_av_result r;
    gsize len;
    char *msg;

    o.database = all;
    is_int(SMG_OK, smg_av_open(&o, &av, &err), "sigtool database loads");
    if (av == NULL)
        bail("no engine: %s", err->message);
    ok(g_str_has_prefix(smg_av_engine(av), "ClamAV/1."), "engine name %s", smg_av_engine(av));
    is_int(3, smg_av_signatures(av), "three signatures");
    is_int(0, smg_av_db_version(av), "no daily database version");

    clean(av, "clean", "plain text");
    clean(av, "clean-attach", "attachments, zip, forwarded message");
    clean(av, "utf8", "8-bit headers");
    found(av, "eicar-plain", "Smg-Test-Eicar", "EICAR 7bit attachment");
    found(av, "eicar-b64", "Smg-Test-Eicar", "EICAR base64");
    found(av, "eicar-zip", "Smg-Test-Eicar", "EICAR in a zip");
    found(av, "eicar-nested", "Smg-Test-Eicar", "EICAR in message/rfc822");
    found(av, "body-sig", "Smg-Test-Body", "body signature");

    msg = run_py("clean-attach", NULL, NULL, &len);
    is_int(SMG_OK, smg_av_scan(av, msg, len, &r, &err), "scan reports bytes");
    ok(r.scanned > 0, "scanned %lu bytes of %zu", (unsigned long) r.scanned, len);
    smg_av_result_clear(&r);
    g_free(msg);

    /* a bare text with no header at all is still scanned */
    msg = g_strdup("just some words\nsmg-test-malware-marker: 5b1d0c7e 93aa4f21\n");
    is_int(SMG_OK, smg_av_scan(av, msg, strlen(msg), &r, &err), "bare text scanned");
    is_int(SMG_AV_INFECTED, r.verdict, "bare text: body signature found");
    smg_av_result_clear(&r);
    g_free(msg);
    smg_av_free(av);

    /* only the MD5 of the whole EICAR file: parts must become files */
    o.database = hdb;
    is_int(SMG_OK, smg_av_open(&o, &av, &err), "MD5-only database loads");
    is_int(1, smg_av_signatures(av), "one signature");
    found(av, "eicar-b64", "Smg-Test-Eicar.MD5", "MD5: base64 part decoded");
    found(av, "eicar-zip", "Smg-Test-Eicar.MD5", "MD5: zip unpacked");
    found(av, "eicar-nested", "Smg-Test-Eicar.MD5", "MD5: nested message entered");
    smg_av_free(av);
    g_free(all);
    g_free(hdb);
}

static struct smg_av *limited_size(const char *db, guint64 scan_size, guint64 file_size,
                                   guint files, guint recursion);

/* limited - an engine on db with one limit set */
static struct smg_av *
limited(const char *db, guint64 scan_size, guint files, guint recursion)
{
    return limited_size(db, scan_size, 0, files, recursion);
}

/* big_eicar - EICAR in plain text at the top of a message of size bytes */
static char *
big_eicar(gsize size)
{
    GString *m = g_string_new("Subject: big\n\nX5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-"
                              "ANTIVIRUS-TEST-FILE!$H+H*\n");

    while (m->len < size)
        g_string_append(m, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
    return g_string_free(m, FALSE);
}

/* limited_size - an engine on db with the given limits */
static struct smg_av *
limited_size(const char *db, guint64 scan_size, guint64 file_size, guint files,
             guint recursion)
{
    struct smg_av_options o = {0};
    struct smg_av *av = NULL;
    GError *err = NULL;

    o.database = db;
    o.max_file_size = file_size;
    o.max_scan_size = scan_size;
    o.max_files = files;
    o.max_recursion = recursion;
    if (smg_av_open(&o, &av, &err) != SMG_OK)
        bail("no engine: %s", err->message);
    return av;
}

static void
test_limits(const char *top)
{
    char *db = make_db(top, "limits", "all");
    struct smg_av *av;
    struct smg_av_result r;

    av = limited(db, 16384, 0, 0);
    is_int(SMG_OK, scan_kind(av, "bigzip", "40000", &r), "big zip scanned");
    is_int(SMG_AV_CLEAN, r.verdict, "big zip: clean verdict");
    is_string("Heuristics.Limits.Exceeded.MaxScanSize", r.limit, "big zip: MaxScanSize reported");
    ok(r.virus == NULL, "big zip: no virus");
    ok(r.unscanned, "big zip: the message is larger than the scan size: not scanned at all");
    smg_av_result_clear(&r);
    is_int(SMG_OK, scan_kind(av, "zeros-eicar", "100000", &r), "big zip, then EICAR");
    is_int(SMG_AV_INFECTED, r.verdict, "EICAR after a big zip still found");
    ok(!r.unscanned, "zeros in a small zip: scanned");
    smg_av_result_clear(&r);
    {
        char *big = big_eicar(20000);
        GError *err = NULL;

        is_int(SMG_OK, smg_av_scan(av, big, strlen(big), &r, &err),
               "message over max_scan_size: SMG_OK");
        is_int(SMG_AV_CLEAN, r.verdict, "over max_scan_size: libclamav looks at none of it");
        ok(r.unscanned, "over max_scan_size: said to be unscanned");
        is_string("Heuristics.Limits.Exceeded.MaxScanSize", r.limit,
                  "over max_scan_size: MaxScanSize");
        smg_av_result_clear(&r);
        g_free(big);
    }
    found(av, "eicar-b64", "Smg-Test-Eicar", "within the limit: EICAR found");
    smg_av_free(av);

    av = limited(db, 0, 3, 0);
    is_int(SMG_OK, scan_kind(av, "clean-attach", NULL, &r), "attachments scanned");
    is_string("Heuristics.Limits.Exceeded.MaxFiles", r.limit, "more files: MaxFiles reported");
    is_int(SMG_AV_CLEAN, r.verdict, "MaxFiles alone: clean verdict");
    ok(!r.unscanned, "MaxFiles: the message itself was scanned");
    smg_av_result_clear(&r);
    smg_av_free(av);

    /* a message larger than max_file_size: libclamav skips all of it */
    av = limited_size(db, 0, 4096, 0, 0);
    {
        char *big = big_eicar(8192);
        GError *err = NULL;

        is_int(SMG_OK, smg_av_scan(av, big, strlen(big), &r, &err),
               "message over max_file_size: SMG_OK");
        is_int(SMG_AV_CLEAN, r.verdict, "over max_file_size: EICAR at the top not seen");
        ok(r.unscanned, "over max_file_size: said to be unscanned");
        is_string("Heuristics.Limits.Exceeded.MaxFileSize", r.limit,
                  "over max_file_size: MaxFileSize");
        smg_av_result_clear(&r);
        g_free(big);
        big = big_eicar(3000);
        is_int(SMG_OK, smg_av_scan(av, big, strlen(big), &r, &err),
               "message under max_file_size: SMG_OK");
        is_int(SMG_AV_INFECTED, r.verdict, "under max_file_size: EICAR found");
        ok(!r.unscanned, "under max_file_size: scanned");
        smg_av_result_clear(&r);
        g_free(big);
    }
    smg_av_free(av);

    av = limited(db, 0, 0, 3);
    is_int(SMG_OK, scan_kind(av, "eicar-deep", "6", &r), "deep zip scanned");
    is_string("Heuristics.Limits.Exceeded.MaxRecursion", r.limit,
              "six levels: MaxRecursion reported");
    is_int(SMG_AV_CLEAN, r.verdict, "deep zip: EICAR beyond the limit is not seen");
    smg_av_result_clear(&r);
    smg_av_free(av);
    g_free(db);
}

static void
test_reload(const char *top)
{
    struct smg_av_options o = {0};
    struct smg_av *av = NULL;
    GError *err = NULL;
    char *dir = make_db(top, "reload", "hdb");
    char *extra = g_build_filename(dir, "extra.ndb", NULL);
    char *broken = g_build_filename(dir, "zz-broken.ndb", NULL);
    gboolean reloaded = TRUE;
    struct smg_av_result r;

    o.database = dir;
    is_int(SMG_OK, smg_av_open(&o, &av, &err), "engine for reload");
    if (av == NULL)
        bail("no engine: %s", err->message);
    is_int(SMG_OK, smg_av_reload_check(av, &reloaded, &err), "check without change");
    ok(!reloaded, "nothing changed: no reload");
    is_int(SMG_OK, scan_kind(av, "body-sig", NULL, &r), "body text before reload");
    is_int(SMG_AV_CLEAN, r.verdict, "body signature not known yet");
    smg_av_result_clear(&r);

    /* a new database file, as freshclam or an operator adds one */
    g_free(run_py("sigs", dir, "body", NULL));
    is_int(SMG_OK, smg_av_reload_check(av, &reloaded, &err), "check after a new file");
    ok(reloaded, "new file: reloaded");
    is_int(2, smg_av_signatures(av), "two signatures now");
    is_int(SMG_OK, scan_kind(av, "body-sig", NULL, &r), "body text after reload");
    is_int(SMG_AV_INFECTED, r.verdict, "body signature found after reload");
    smg_av_result_clear(&r);

    /* a malformed file: the old engine stays and still finds viruses */
    test_write_file(broken, "Broken-Sig:0:*:zz-not-hex\n");
    is_int(SMG_TEMPFAIL, smg_av_reload_check(av, &reloaded, &err), "malformed: TEMPFAIL");
    ok(!reloaded, "malformed: not reloaded");
    g_clear_error(&err);
    is_int(2, smg_av_signatures(av), "old engine kept");
    found(av, "eicar-zip", "Smg-Test-Eicar", "old engine still scans");
    unlink(broken);
    is_int(SMG_OK, smg_av_reload_check(av, &reloaded, &err), "check after repair");
    ok(!reloaded, "repaired: folder as loaded, no reload needed");

    /* a file taken away (a local signature that gives false positives):
     * its signatures must go with it */
    {
        char *body = g_build_filename(dir, "body.ndb", NULL);

        unlink(body);
        is_int(SMG_OK, smg_av_reload_check(av, &reloaded, &err),
               "check after a file was removed");
        ok(reloaded, "removed file: reloaded");
        is_int(1, smg_av_signatures(av), "one signature left");
        is_int(SMG_OK, scan_kind(av, "body-sig", NULL, &r), "body text after removal");
        is_int(SMG_AV_CLEAN, r.verdict, "removed signature no longer found");
        smg_av_result_clear(&r);
        is_int(SMG_OK, smg_av_reload_check(av, &reloaded, &err), "check again");
        ok(!reloaded, "nothing changed since: no reload");
        g_free(body);
    }
    smg_av_free(av);
    g_free(dir);
    g_free(extra);
    g_free(broken);
}

int
main(void)
{
    char *top = test_tmpdir();

    mkmsg = test_file_path("scan-mkmsg.py");
    if (mkmsg == NULL)
        bail("t/data/scan-mkmsg.py not found (srcdir?)");
    plan_lazy();
    test_unusable(top);
    test_scan(top);
    test_limits(top);
    test_reload(top);
    g_free(mkmsg);
    test_tmpdir_free(top);
    return 0;
}

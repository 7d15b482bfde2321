/*
 * notify-t.c - unit tests for lib/notify: the date, the message (fields,
 * header injection, non-ASCII, long lines, bad UTF-8), injection into a
 * temporary spool (read back with lib/envelope), and sendmail hand-off to
 * small scripts this test writes (accepting, failing, missing).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

#include "lib/envelope.h"
#include "lib/log.h"
#include "lib/notify.h"
#include "lib/spool.h"
#include "lib/status.h"
#include "t/tap/basic.h"

/* 2026-11-22T05:00:00Z */
#define NOW 1795323600

/* header_of - the value of header name in message m (new string) or NULL */
static char *
header_of(const char *m, const char *name)
{
    char *key = g_strdup_printf("\n%s: ", name);
    const char *p = g_str_has_prefix(m, key + 1) ? m - 1 : strstr(m, key);
    const char *end;
    char *v;

    if (p == NULL) {
        g_free(key);
        return NULL;
    }
    p += strlen(key);
    end = strchr(p, '\n');
    v = g_strndup(p, end != NULL ? (gsize) (end - p) : strlen(p));
    g_free(key);
    return v;
}

static void
test_message(void)
{
    const char *rcpts[] = {"ops@example.net", "noc@example.net", NULL};
    struct smg_notify n = {0};
    GString *m;
    char *v, *date, *body, *longline;

    date = smg_notify_date(NOW);
    is_string("Sun, 22 Nov 2026 05:00:00 +0000", date, "RFC 5322 date");
    g_free(date);
    date = smg_notify_date(0);
    is_string("Thu, 01 Jan 1970 00:00:00 +0000", date, "the epoch");
    g_free(date);

    longline = g_strnfill(2500, 'y');
    body = g_strdup_printf("line one\nbad \xff utf-8\ncontrol\x01here\n%s\n",
                           longline);
    n.from = "smg-blcheck <MAILER-DAEMON@out.test>";
    n.rcpts = rcpts;
    n.subject = "listed\r\nBcc: victim@example.org on b\xc3\xa4"
                "d.test";
    n.body = body;
    n.hostname = "out.test";
    n.now = NOW;
    m = smg_notify_message(&n);
    v = header_of(m->str, "Date");
    is_string("Sun, 22 Nov 2026 05:00:00 +0000", v, "Date:");
    g_free(v);
    v = header_of(m->str, "From");
    is_string("smg-blcheck <MAILER-DAEMON@out.test>", v, "From:");
    g_free(v);
    ok(strstr(m->str, "\nTo: ops@example.net,\n noc@example.net\n") != NULL,
       "To: both addresses, folded");
    v = header_of(m->str, "Subject");
    is_string("listed  Bcc: victim@example.org on b??d.test", v,
              "Subject: CR LF made spaces, 8-bit made '?'");
    g_free(v);
    ok(strstr(m->str, "\nBcc:") == NULL, "no header injected");
    v = header_of(m->str, "Message-ID");
    ok(v != NULL && g_str_has_prefix(v, "<20261122050000.")
           && g_str_has_suffix(v, "@out.test>"),
       "Message-ID: time, random, host");
    g_free(v);
    v = header_of(m->str, "Auto-Submitted");
    is_string("auto-generated", v, "Auto-Submitted: (RFC 3834)");
    g_free(v);
    v = header_of(m->str, "Content-Type");
    is_string("text/plain; charset=utf-8", v, "Content-Type:");
    g_free(v);
    ok(strstr(m->str, "\n\nline one\n") != NULL, "body after a blank line");
    ok(g_utf8_validate(m->str, (gssize) m->len, NULL),
       "valid UTF-8 throughout");
    ok(strstr(m->str, "control here\n") != NULL,
       "control characters made spaces");
    {
        char **lines = g_strsplit(m->str, "\n", -1);
        gsize longest = 0, total_y = 0;
        for (unsigned i = 0; lines[i] != NULL; i++) {
            longest = MAX(longest, strlen(lines[i]));
            if (lines[i][0] == 'y')
                total_y += strlen(lines[i]);
        }
        ok(longest <= 990, "no line longer than 990 octets (%zu)", longest);
        is_int(2500, (long) total_y, "the long line is cut, not shortened");
        g_strfreev(lines);
    }
    ok(g_str_has_suffix(m->str, "yyy\n"), "ends with one newline");
    ok(strchr(m->str, '\r') == NULL, "LF line ends");
    g_string_free(m, TRUE);
    g_free(body);
    g_free(longline);
}

static void
test_spool(void)
{
    char *dir = test_tmpdir();
    char *sdir = g_build_filename(dir, "spool", NULL);
    struct smg_spool *spool = NULL;
    const char *rcpts[] = {"ops@example.net", "noc@example.net", NULL};
    const char *bad[] = {"not an address", NULL};
    struct smg_notify n = {0};
    GError *err = NULL;
    char *id = NULL, *path, *data = NULL, *newdir;
    gsize len = 0, body_off = 0;
    struct smg_envelope *env = NULL;
    GDir *d;
    unsigned count = 0;

    if (smg_spool_open(sdir, FALSE, &spool, &err) != SMG_OK)
        bail("spool: %s", err->message);
    n.from = "blcheck@out.test";
    n.rcpts = rcpts;
    n.subject = "test";
    n.body = "hello\n";
    n.hostname = "out.test";
    n.notice = "from=smg-blcheck";
    n.now = NOW;
    is_int(SMG_OK, smg_notify_spool(&n, spool, "sign", &id, &err),
           "injected into sign");
    ok(id != NULL && smg_spool_valid_id(id), "with a queue ID");
    path = g_build_filename(sdir, "sign", "new", id, NULL);
    ok(g_file_get_contents(path, &data, &len, NULL),
       "the file is in sign/new");
    is_int(SMG_OK, smg_envelope_parse(data, len, &env, &body_off, &err),
           "its envelope parses");
    if (env == NULL)
        bail("no envelope: %s", err->message);
    is_string(id, env->queue_id, "SMG-Queue-ID is the file name");
    is_string("", env->sender, "SMG-Sender: <>");
    is_string("", env->sender_params, "a 7-bit notice: no BODY=");
    is_int(2, env->rcpts->len, "two SMG-Recipient fields");
    is_string("noc@example.net",
              ((struct smg_rcpt *) env->rcpts->pdata[1])->addr, "second");
    is_string("from=smg-blcheck", smg_envelope_get(env, "Notice"),
              "SMG-Notice");
    is_string("2026-11-22T05:00:00Z", smg_envelope_get(env, "Arrival"),
              "SMG-Arrival");
    ok(g_str_has_prefix(data + body_off, "Date: Sun, 22 Nov 2026"),
       "the message follows the envelope");
    smg_envelope_free(env);
    g_free(data);
    g_free(path);
    g_free(id);
    id = NULL;

    /* 8-bit text (a list's TXT reason, say) is declared as such */
    n.body = "reason: gel\xc3\xb6scht\n";
    is_int(SMG_OK, smg_notify_spool(&n, spool, "sign", &id, &err),
           "an 8-bit notice is injected");
    path = g_build_filename(sdir, "sign", "new", id, NULL);
    ok(g_file_get_contents(path, &data, &len, NULL), "  ... into sign/new");
    is_int(SMG_OK, smg_envelope_parse(data, len, &env, &body_off, &err),
           "  ... its envelope parses");
    if (env == NULL)
        bail("no envelope: %s", err->message);
    is_string("BODY=8BITMIME", env->sender_params,
              "  ... and SMG-Sender says BODY=8BITMIME");
    smg_envelope_free(env);
    g_free(data);
    g_free(path);
    g_free(id);
    id = NULL;
    n.body = "hello\n";

    n.sender = "blcheck@out.test";
    is_int(SMG_OK, smg_notify_spool(&n, spool, "sign", NULL, &err),
           "with a sender, no ID wanted");
    n.rcpts = bad;
    is_int(SMG_PERMFAIL, smg_notify_spool(&n, spool, "sign", &id, &err),
           "a bad recipient: permfail");
    ok(err != NULL && g_str_has_prefix(err->message, "5.1.3"), "DSN 5.1.3");
    ok(id == NULL, "no ID");
    g_clear_error(&err);
    n.rcpts = rcpts;
    n.sender = "bad sender";
    is_int(SMG_PERMFAIL, smg_notify_spool(&n, spool, "sign", &id, &err),
           "a bad sender: permfail");
    g_clear_error(&err);
    n.rcpts = bad + 1;
    n.sender = NULL;
    is_int(SMG_PERMFAIL, smg_notify_spool(&n, spool, "sign", &id, &err),
           "no recipient: permfail");
    g_clear_error(&err);

    newdir = g_build_filename(sdir, "sign", "new", NULL);
    d = g_dir_open(newdir, 0, NULL);
    while (d != NULL && g_dir_read_name(d) != NULL)
        count++;
    if (d != NULL)
        g_dir_close(d);
    is_int(3, count, "exactly the three good notices in sign/new");
    g_free(newdir);
    smg_spool_close(spool);
    g_free(sdir);
    test_tmpdir_free(dir);
}

static void
test_sendmail(void)
{
    char *dir = test_tmpdir();
    char *script = g_build_filename(dir, "sendmail", NULL);
    char *fail = g_build_filename(dir, "sendmail-fail", NULL);
    char *args = g_build_filename(dir, "args", NULL);
    char *msg = g_build_filename(dir, "msg", NULL);
    char *text, *missing;
    const char *rcpts[] = {"ops@example.net", "-oQ@example.net", NULL};
    struct smg_notify n = {0};
    GError *err = NULL;
    char *data = NULL;

    text = g_strdup_printf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >'%s'\n"
                           "cat >'%s'\nexit 0\n",
                           args, msg);
    test_write_file(script, text);
    g_free(text);
    chmod(script, 0755);
    test_write_file(fail, "#!/bin/sh\nexit 75\n");
    chmod(fail, 0755);

    n.from = "blcheck@out.test";
    n.rcpts = rcpts;
    n.subject = "via sendmail";
    n.body = "hello\n";
    n.now = NOW;
    is_int(SMG_OK, smg_notify_sendmail(&n, script, &err), "sendmail accepted");
    g_file_get_contents(args, &data, NULL, NULL);
    is_string("-oi -f <> -- ops@example.net -oQ@example.net\n", data,
              "arguments: null sender, recipients after --");
    g_free(data);
    data = NULL;
    g_file_get_contents(msg, &data, NULL, NULL);
    ok(data != NULL && g_str_has_prefix(data, "Date: Sun, 22 Nov 2026")
           && strstr(data, "\nSubject: via sendmail\n") != NULL
           && g_str_has_suffix(data, "\n\nhello\n"),
       "the message on standard input");
    ok(data != NULL && strstr(data, "SMG-") == NULL, "no envelope fields");
    g_free(data);

    n.sender = "blcheck@out.test";
    is_int(SMG_OK, smg_notify_sendmail(&n, script, &err), "with a sender");
    data = NULL;
    g_file_get_contents(args, &data, NULL, NULL);
    ok(data != NULL && g_str_has_prefix(data, "-oi -f blcheck@out.test -- "),
       "-f the sender");
    g_free(data);

    is_int(SMG_TEMPFAIL, smg_notify_sendmail(&n, fail, &err),
           "sendmail exits 75: tempfail");
    ok(err != NULL && strstr(err->message, "exited with status 75") != NULL,
       "the status is told");
    g_clear_error(&err);
    missing = g_build_filename(dir, "nothing-here", NULL);
    is_int(SMG_TEMPFAIL, smg_notify_sendmail(&n, missing, &err),
           "no such program: tempfail");
    ok(err != NULL && g_str_has_prefix(err->message, "4.3.0 cannot run"),
       "cannot run");
    g_clear_error(&err);
    g_free(missing);

    /* one that never reads (a body over the pipe's buffer), one that
       reads and never exits: both killed after the time-out */
    test_write_file(fail, "#!/bin/sh\nexec sleep 600\n");
    chmod(fail, 0755);
    {
        GString *big = g_string_new(NULL);

        while (big->len < 256 * 1024)
            g_string_append(big, "a line of the body\n");
        n.body = big->str;
        n.timeout_ms = 500;
        is_int(SMG_TEMPFAIL, smg_notify_sendmail(&n, fail, &err),
               "sendmail that does not read: tempfail");
        ok(err != NULL
               && strstr(err->message, "did not take the mail within 1 s")
                      != NULL,
           "the time-out is told (%s)", err ? err->message : "no error");
        g_clear_error(&err);
        n.body = "hello\n";
        g_string_free(big, TRUE);
    }
    test_write_file(fail, "#!/bin/sh\ncat >/dev/null\nexec sleep 600\n");
    chmod(fail, 0755);
    is_int(SMG_TEMPFAIL, smg_notify_sendmail(&n, fail, &err),
           "sendmail that does not exit: tempfail");
    ok(err != NULL && strstr(err->message, "did not take the mail") != NULL,
       "the time-out is told");
    g_clear_error(&err);

    g_free(script);
    g_free(fail);
    g_free(args);
    g_free(msg);
    test_tmpdir_free(dir);
}

int
main(void)
{
    smg_log_init("notify-t", SMG_LOG_STDERR, FALSE);
    signal(SIGPIPE, SIG_IGN);
    plan_lazy();
    test_message();
    test_spool();
    test_sendmail();
    return 0;
}

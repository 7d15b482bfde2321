/*
 * notify.c - mail to the operators: build the message, deliver it.
 *
 * The message is built by hand: its header is a fixed, short set of
 * fields whose values are made safe here (control characters become
 * spaces, the subject is kept to printable ASCII), so no MIME library is
 * needed; the body is UTF-8 with 8bit transfer encoding, its lines cut at
 * 990 octets so that no line breaks RFC 5322's limit.  The Date is
 * written in UTC with English names, whatever the locale.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "lib/addr.h"
#include "lib/envelope.h"
#include "lib/netio.h"
#include "lib/notify.h"

/* longest body line written (RFC 5322 allows 998 octets) */
#define LINE_MAX_OCTETS 990

/* the longest a sendmail may take to read the message and exit */
#define SENDMAIL_TIMEOUT_MS 300000

char *
smg_notify_date(gint64 t)
{
    static const char *const days[] = {"Mon", "Tue", "Wed", "Thu",
                                       "Fri", "Sat", "Sun"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
                                         "May", "Jun", "Jul", "Aug",
                                         "Sep", "Oct", "Nov", "Dec"};
    GDateTime *dt = g_date_time_new_from_unix_utc(t);
    char *s;

    if (dt == NULL)
        dt = g_date_time_new_from_unix_utc(0);
    s = g_strdup_printf("%s, %02d %s %04d %02d:%02d:%02d +0000",
                        days[g_date_time_get_day_of_week(dt) - 1],
                        g_date_time_get_day_of_month(dt),
                        months[g_date_time_get_month(dt) - 1],
                        g_date_time_get_year(dt), g_date_time_get_hour(dt),
                        g_date_time_get_minute(dt),
                        g_date_time_get_second(dt));
    g_date_time_unref(dt);
    return s;
}

/* header_safe - a header value: controls become spaces; ascii: also 8-bit */
static char *
header_safe(const char *s, gboolean ascii)
{
    char *out = g_strdup(s != NULL ? s : "");

    for (char *p = out; *p != '\0'; p++)
        if ((unsigned char) *p < 0x20 || *p == 0x7f
            || (ascii && (unsigned char) *p > 0x7e))
            *p = ascii && (unsigned char) *p > 0x7f ? '?' : ' ';
    return out;
}

/* append_body - the body as valid UTF-8, LF lines of bounded length */
static void
append_body(GString *out, const char *body)
{
    char *text = g_utf8_make_valid(body != NULL ? body : "", -1);
    char **lines = g_strsplit(text, "\n", -1);

    for (unsigned i = 0; lines[i] != NULL; i++) {
        char *line = lines[i];
        gsize len;

        if (lines[i + 1] == NULL && *line == '\0')
            break; /* the text ended with a newline */
        for (char *p = line; *p != '\0'; p++)
            if (((unsigned char) *p < 0x20 && *p != '\t') || *p == 0x7f)
                *p = ' ';
        len = strlen(line);
        while (len > LINE_MAX_OCTETS) {
            /* cut at a character boundary */
            const char *cut =
                g_utf8_find_prev_char(line, line + LINE_MAX_OCTETS + 1);
            gsize n = cut != NULL && cut > line ? (gsize) (cut - line)
                                                : LINE_MAX_OCTETS;
            g_string_append_len(out, line, (gssize) n);
            g_string_append_c(out, '\n');
            line += n;
            len -= n;
        }
        g_string_append(out, line);
        g_string_append_c(out, '\n');
    }
    g_strfreev(lines);
    g_free(text);
}

GString *
smg_notify_message(const struct smg_notify *n)
{
    GString *m = g_string_new(NULL);
    gint64 now = n->now != 0 ? n->now : g_get_real_time() / G_USEC_PER_SEC;
    char *date = smg_notify_date(now);
    char *from = header_safe(n->from, FALSE);
    char *subject = header_safe(n->subject, TRUE);
    char *host = header_safe(
        n->hostname != NULL ? n->hostname : g_get_host_name(), TRUE);
    GDateTime *dt = g_date_time_new_from_unix_utc(now);
    char *stamp = g_date_time_format(dt, "%Y%m%d%H%M%S");

    g_date_time_unref(dt);
    for (char *p = host; *p != '\0'; p++)
        if (*p == ' ' || *p == '<' || *p == '>' || *p == '@')
            *p = '-';
    g_string_append_printf(m, "Date: %s\n", date);
    g_string_append_printf(m, "From: %s\n", from);
    g_string_append(m, "To: ");
    for (unsigned i = 0; n->rcpts[i] != NULL; i++) {
        char *r = header_safe(n->rcpts[i], FALSE);
        g_string_append_printf(m, "%s%s", i > 0 ? ",\n " : "", r);
        g_free(r);
    }
    g_string_append_c(m, '\n');
    g_string_append_printf(m, "Subject: %s\n", subject);
    g_string_append_printf(m, "Message-ID: <%s.%08X%08X@%s>\n", stamp,
                           g_random_int(), g_random_int(),
                           *host != '\0' ? host : "localhost");
    g_string_append(m, "Auto-Submitted: auto-generated\n"
                       "MIME-Version: 1.0\n"
                       "Content-Type: text/plain; charset=utf-8\n"
                       "Content-Transfer-Encoding: 8bit\n"
                       "\n");
    append_body(m, n->body);
    g_free(stamp);
    g_free(host);
    g_free(subject);
    g_free(from);
    g_free(date);
    return m;
}

/* check_addrs - the sender (may be "") and every recipient parse */
static enum smg_status
check_addrs(const struct smg_notify *n, GError **err)
{
    struct smg_addr a = SMG_ADDR_ZERO;

    if (n->rcpts == NULL || n->rcpts[0] == NULL) {
        smg_set_error(err, SMG_PERMFAIL, "5.1.3", "no recipient to notify");
        return SMG_PERMFAIL;
    }
    if (n->sender != NULL && *n->sender != '\0') {
        if (smg_addr_parse(n->sender, strlen(n->sender), SMG_ADDR_SENDER, &a,
                           err)
            != SMG_OK)
            return SMG_PERMFAIL;
        smg_addr_clear(&a);
    }
    for (unsigned i = 0; n->rcpts[i] != NULL; i++) {
        if (smg_addr_parse(n->rcpts[i], strlen(n->rcpts[i]), 0, &a, err)
            != SMG_OK)
            return SMG_PERMFAIL;
        smg_addr_clear(&a);
    }
    return SMG_OK;
}

enum smg_status
smg_notify_spool(const struct smg_notify *n, struct smg_spool *spool,
                 const char *queue, char **id, GError **err)
{
    struct smg_spool_file *f = NULL;
    struct smg_envelope *env;
    GString *file;
    GString *msg;
    enum smg_status st;
    char *arrival;
    gint64 now = n->now != 0 ? n->now : g_get_real_time() / G_USEC_PER_SEC;
    GDateTime *dt;

    if ((st = check_addrs(n, err)) != SMG_OK)
        return st;
    if ((st = smg_spool_ensure(spool, queue, err)) != SMG_OK)
        return st;
    if ((st = smg_spool_create(spool, queue, NULL, &f, err)) != SMG_OK)
        return st;
    msg = smg_notify_message(n);
    env = smg_envelope_new();
    env->queue_id = g_strdup(f->id);
    env->sender = g_strdup(n->sender != NULL ? n->sender : "");
    /* 8-bit text goes out only as declared (RFC 6152): smg-send passes
     * BODY= on to a server that offers 8BITMIME */
    env->sender_params = g_strdup(smg_addr_has_8bit(msg->str) ? "BODY=8BITMIME" : "");
    for (unsigned i = 0; n->rcpts[i] != NULL; i++)
        smg_envelope_add_rcpt(env, n->rcpts[i], "");
    dt = g_date_time_new_from_unix_utc(now);
    arrival = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
    g_date_time_unref(dt);
    smg_envelope_set(env, "Arrival", arrival);
    g_free(arrival);
    if (n->notice != NULL) {
        char *notice = header_safe(n->notice, FALSE);
        smg_envelope_set(env, "Notice", notice);
        g_free(notice);
    }
    file = g_string_new(NULL);
    smg_envelope_write(env, file);
    smg_envelope_free(env);
    g_string_append_len(file, msg->str, (gssize) msg->len);
    g_string_free(msg, TRUE);
    if (id != NULL)
        *id = g_strdup(f->id);
    if (fwrite(file->str, 1, file->len, f->fp) != file->len) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "cannot write %s: %s",
                      f->tmp_path, g_strerror(errno));
        smg_spool_abort(f);
        st = SMG_TEMPFAIL;
    } else {
        st = smg_spool_commit(f, err);
    }
    g_string_free(file, TRUE);
    if (st != SMG_OK && id != NULL)
        g_clear_pointer(id, g_free);
    return st;
}

/* own_group - child setup: sendmail leads a process group of its own, so
   that it can be killed together with what it started (postdrop, ...) */
static void
own_group(gpointer data)
{
    (void) data;
    (void) setpgid(0, 0);
}

/* wait_until - reap pid into *status before deadline; FALSE if it has not
   exited by then (*status -1 if waitpid fails) */
static gboolean
wait_until(GPid pid, int *status, gint64 deadline)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);

        if (r == pid)
            return TRUE;
        if (r < 0 && errno != EINTR) {
            *status = -1;
            return TRUE;
        }
        if (g_get_monotonic_time() >= deadline)
            return FALSE;
        g_usleep(10000);
    }
}

enum smg_status
smg_notify_sendmail(const struct smg_notify *n, const char *path, GError **err)
{
    GPtrArray *argv;
    GError *serr = NULL;
    GPid pid;
    gint in_fd = -1;
    GString *msg;
    int status = 0, werr = 0;
    int timeout_ms = n->timeout_ms > 0 ? n->timeout_ms : SENDMAIL_TIMEOUT_MS;
    gint64 deadline;
    enum smg_status st;

    if ((st = check_addrs(n, err)) != SMG_OK)
        return st;
    argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer) path);
    g_ptr_array_add(argv, (gpointer) "-oi");
    g_ptr_array_add(argv, (gpointer) "-f");
    g_ptr_array_add(argv, (gpointer) (n->sender != NULL && *n->sender != '\0'
                                          ? n->sender
                                          : "<>"));
    g_ptr_array_add(argv, (gpointer) "--");
    for (unsigned i = 0; n->rcpts[i] != NULL; i++)
        g_ptr_array_add(argv, (gpointer) n->rcpts[i]);
    g_ptr_array_add(argv, NULL);
    if (!g_spawn_async_with_pipes(
            NULL, (char **) argv->pdata, NULL,
            G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, own_group,
            NULL, &pid, &in_fd, NULL, NULL, &serr)) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "cannot run %s: %s", path,
                      serr->message);
        g_error_free(serr);
        g_ptr_array_unref(argv);
        return SMG_TEMPFAIL;
    }
    g_ptr_array_unref(argv);
    deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;
    msg = smg_notify_message(n);
    {
        /* netio (which makes the pipe non-blocking) with a whole-flush
         * deadline: the message must be taken within the time-out, however
         * slowly sendmail reads it */
        struct smg_netio *io = smg_netio_new(-1, in_fd, timeout_ms);
        enum smg_netio_rc rc;

        smg_netio_set_flush_deadline(io, TRUE);
        smg_netio_write(io, msg->str, msg->len);
        rc = smg_netio_flush(io);
        werr = rc == SMG_NETIO_OK ? 0 : rc == SMG_NETIO_TIMEOUT ? ETIMEDOUT
                                     : rc == SMG_NETIO_EOF ? EPIPE : errno;
        smg_netio_free(io);
    }
    close(in_fd);
    g_string_free(msg, TRUE);
    if (werr == ETIMEDOUT || !wait_until(pid, &status, deadline)) {
        /* the group first: what it started goes too */
        (void) kill(-pid, SIGKILL);
        (void) kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        g_spawn_close_pid(pid);
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0",
                      "%s did not take the mail within %d s (killed)", path,
                      (timeout_ms + 999) / 1000);
        return SMG_TEMPFAIL;
    }
    g_spawn_close_pid(pid);
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0
        && werr == 0)
        return SMG_OK;
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0)
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "%s exited with status %d",
                      path, WEXITSTATUS(status));
    else if (status != -1 && WIFSIGNALED(status))
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "%s was killed by signal %d",
                      path, WTERMSIG(status));
    else
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "cannot write to %s: %s",
                      path, g_strerror(werr != 0 ? werr : errno));
    return SMG_TEMPFAIL;
}

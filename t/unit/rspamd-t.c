/*
 * rspamd-t.c - unit tests for lib/rspamd: the JSON reply reader on good
 * and malformed replies, and the HTTP exchange against sockets this test
 * makes on 127.0.0.1: a closed port (refused), a listener that never
 * answers (time-out), and a forked child that reads the request and
 * answers as rspamd would (its request line and headers are checked).
 * The integration test t/2020-check-rspamd.t runs smg-check against
 * such peers too.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "lib/rspamd.h"
#include "t/tap/basic.h"

static const char REPLY[] =
    "{\"is_skipped\": false, \"score\": 7.5, \"required_score\": 15.0,"
    " \"action\": \"add header\", \"symbols\": {\"BAYES_SPAM\": {\"name\": \"BAYES_SPAM\","
    " \"score\": 5.1, \"options\": [\"99%\", 1, true, null, -2.5e1]},"
    " \"MISSING_DATE\": {\"score\": 1}}, \"messages\": {}, \"urls\": [],"
    " \"message-id\": \"x\\\"y\\u00e9\\n\"}";

static void
test_parse(void)
{
    struct smg_rspamd_result r;
    GError *err = NULL;
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "not a JSON object"},
        {"[1,2]", "not a JSON object"},
        {"{\"action\": \"reject\"}", "no score"},
        {"{\"score\": \"high\"}", "expected a number"},
        {"{\"score\": 1,}", "expected a string"},
        {"{\"score\": 1} x", "text after the object"},
        {"{\"score\": 1, \"a\": [1 2]}", "expected ',' or ']'"},
        {"{\"score\": 1, \"a\": \"unterminated}", "unterminated string"},
        {"{\"score\": 1, \"a\": \"bad \\q escape\"}", "bad escape"},
        {"{\"score\": 1, \"a\": \"\\u12\"}", "\\u escape"},
        {"{\"score\": 1, \"a\": tru}", "unexpected character"},
        {"{\"score\": 1e999}", "bad number"},
        {"{\"score\": 1 \"b\": 2}", "expected ',' or '}'"},
    };

    is_int(SMG_OK, smg_rspamd_parse(REPLY, strlen(REPLY), &r, &err), "rspamd's reply parses");
    ok(r.score == 7.5 && r.required == 15.0, "score and required score");
    is_string("add header", r.action, "action");
    ok(r.symbols != NULL && r.symbols->len == 2
           && strcmp(r.symbols->pdata[0], "BAYES_SPAM") == 0
           && strcmp(r.symbols->pdata[1], "MISSING_DATE") == 0,
       "symbol names");
    smg_rspamd_result_clear(&r);
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        enum smg_status st = smg_rspamd_parse(bad[i].text, strlen(bad[i].text), &r, &err);
        ok(st == SMG_TEMPFAIL && err != NULL && g_str_has_prefix(err->message, "4.3.0 rspamd: bad reply")
               && strstr(err->message, bad[i].why) != NULL,
           "bad reply %s: %s", bad[i].text, err != NULL ? err->message : "accepted");
        ok(r.symbols == NULL && r.action == NULL, "result cleared on failure");
        g_clear_error(&err);
    }
    {
        GString *deep = g_string_new("{\"score\": 1, \"a\": ");
        for (int i = 0; i < 100; i++)
            g_string_append_c(deep, '[');
        for (int i = 0; i < 100; i++)
            g_string_append_c(deep, ']');
        g_string_append_c(deep, '}');
        ok(smg_rspamd_parse(deep->str, deep->len, &r, &err) == SMG_TEMPFAIL
               && strstr(err->message, "nested too deeply") != NULL,
           "deep nesting refused");
        g_clear_error(&err);
        g_string_free(deep, TRUE);
    }
}

/* listener - a listening TCP socket on 127.0.0.1; *port set */
static int
listener(int *port)
{
    struct sockaddr_in sa = {0};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof sa) != 0 || listen(fd, 8) != 0
        || getsockname(fd, (struct sockaddr *) &sa, &len) != 0)
        bail("cannot listen on 127.0.0.1");
    *port = ntohs(sa.sin_port);
    return fd;
}

/*
 * serve_once - in a child: accept one connection, read the request, check
 * it, answer status/body; exit 0 if the request was as expected
 */
static pid_t
serve_once(int lfd, int status, const char *body)
{
    pid_t pid = fork();

    if (pid == 0) {
        int c = accept(lfd, NULL, NULL);
        GString *req = g_string_new(NULL);
        char buf[4096];
        ssize_t n;
        const char *hdr_end = NULL;
        gboolean good;
        char *reply;

        while ((n = read(c, buf, sizeof buf)) > 0) {
            g_string_append_len(req, buf, n);
            hdr_end = strstr(req->str, "\r\n\r\n");
            if (hdr_end != NULL) {
                const char *cl = strstr(req->str, "Content-Length: ");
                long want = cl != NULL ? atol(cl + 16) : 0;
                if ((long) (req->len - (gsize) (hdr_end + 4 - req->str)) >= want)
                    break;
            }
        }
        good = g_str_has_prefix(req->str, "POST /checkv2 HTTP/1.1\r\n")
               && strstr(req->str, "\r\nFrom: a@sender.test\r\n") != NULL
               && strstr(req->str, "\r\nRcpt: r1@x.test\r\n") != NULL
               && strstr(req->str, "\r\nRcpt: r2@x.test\r\n") != NULL
               && strstr(req->str, "\r\nIP: 192.0.2.9\r\n") != NULL
               && strstr(req->str, "\r\nHelo: app.test\r\n") != NULL
               && strstr(req->str, "\r\nQueue-Id: Q1\r\n") != NULL
               && strstr(req->str, "\r\nUser: cust1\r\n") != NULL
               && strstr(req->str, "Subject: hello\r\n\r\nbody\r\n") != NULL;
        reply = g_strdup_printf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                                "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                                status, strlen(body), body);
        if (write(c, reply, strlen(reply)) < 0)
            good = FALSE;
        close(c);
        _exit(good ? 0 : 1);
    }
    return pid;
}

static void
test_http(void)
{
    static const char *const rcpts[] = {"r1@x.test", "r2@x.test", NULL};
    struct smg_rspamd_request req = {0};
    struct smg_rspamd_result r;
    GError *err = NULL;
    int port, lfd, status = 0;
    char *url;
    pid_t pid;

    req.msg = "Subject: hello\r\n\r\nbody\r\n";
    req.len = strlen(req.msg);
    req.from = "a@sender.test";
    req.rcpts = rcpts;
    req.ip = "192.0.2.9";
    req.helo = "app.test";
    req.queue_id = "Q1";
    req.user = "cust1";
    req.timeout_ms = 5000;

    req.url = "ftp://127.0.0.1/";
    is_int(SMG_CONFIG, smg_rspamd_check(&req, &r, &err), "an ftp URL is a config error");
    g_clear_error(&err);

    req.url = "ftp://user:s3cret@127.0.0.1/";
    is_int(SMG_CONFIG, smg_rspamd_check(&req, &r, &err), "an ftp URL with a password");
    ok(err != NULL && strstr(err->message, "s3cret") == NULL && strstr(err->message, "127.0.0.1"),
       "its error names the host, not the password (%s)", err != NULL ? err->message : "");
    g_clear_error(&err);

    /* a port nobody listens on; the errors, logged for every message,
     * show no password or query of the URL */
    lfd = listener(&port);
    close(lfd);
    url = g_strdup_printf("http://user:s3cret@127.0.0.1:%d/checkv2?key=k3y", port);
    req.url = url;
    is_int(SMG_TEMPFAIL, smg_rspamd_check(&req, &r, &err), "refused connection: tempfail");
    ok(err != NULL && g_str_has_prefix(err->message, "4.4.1 "), "4.4.1 could not connect (%s)",
       err != NULL ? err->message : "");
    ok(err != NULL && strstr(err->message, "s3cret") == NULL && strstr(err->message, "k3y") == NULL
           && strstr(err->message, "/checkv2") != NULL,
       "no password or query in the error");
    g_clear_error(&err);
    g_free(url);

    /* a listener that never answers */
    lfd = listener(&port);
    url = g_strdup_printf("http://127.0.0.1:%d/checkv2", port);
    req.url = url;
    req.timeout_ms = 1000;
    is_int(SMG_TEMPFAIL, smg_rspamd_check(&req, &r, &err), "silent server: tempfail");
    ok(err != NULL && g_str_has_prefix(err->message, "4.4.2 ") && strstr(err->message, "timed out"),
       "4.4.2 timed out (%s)", err != NULL ? err->message : "");
    ok(r.symbols == NULL, "no result on a time-out");
    g_clear_error(&err);
    close(lfd);
    g_free(url);

    /* a server that answers like rspamd */
    lfd = listener(&port);
    url = g_strdup_printf("http://127.0.0.1:%d/checkv2", port);
    req.url = url;
    req.timeout_ms = 5000;
    pid = serve_once(lfd, 200, REPLY);
    is_int(SMG_OK, smg_rspamd_check(&req, &r, &err), "rspamd answered (%s)",
           err != NULL ? err->message : "ok");
    ok(r.score == 7.5 && r.symbols != NULL && r.symbols->len == 2, "its score and symbols");
    smg_rspamd_result_clear(&r);
    g_clear_error(&err);
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "the request carried the message and the envelope headers");

    pid = serve_once(lfd, 500, "{}");
    g_free(url);
    url = g_strdup_printf("http://user:s3cret@127.0.0.1:%d/checkv2", port);
    req.url = url;
    ok(smg_rspamd_check(&req, &r, &err) == SMG_TEMPFAIL && strstr(err->message, "HTTP status 500"),
       "HTTP 500: tempfail (%s)", err != NULL ? err->message : "");
    ok(err != NULL && strstr(err->message, "s3cret") == NULL, "no password in that error");
    g_clear_error(&err);
    waitpid(pid, &status, 0);

    pid = serve_once(lfd, 200, "<html>not json</html>");
    ok(smg_rspamd_check(&req, &r, &err) == SMG_TEMPFAIL && strstr(err->message, "bad reply"),
       "a reply that is no JSON: tempfail");
    g_clear_error(&err);
    waitpid(pid, &status, 0);
    close(lfd);
    g_free(url);
}

int
main(void)
{
    plan_lazy();
    test_parse();
    test_http();
    return 0;
}

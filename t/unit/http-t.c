/*
 * http-t.c - unit tests for lib/http: templates and escaping, header
 * lines, redacted URLs, and requests: a reply's status and (capped) body
 * from a one-shot responder this test runs on 127.0.0.1, a closed port,
 * schemes other than http(s).
 *
 * The removal requests against a real HTTP server (Python's http.server)
 * are in t/7020-blcheck-removal.t.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "lib/http.h"
#include "lib/log.h"
#include "lib/status.h"
#include "t/tap/basic.h"

/* One canned reply served once; the request is kept. */
struct responder {
    int fd;
    unsigned port;
    const char *status_line; /* "HTTP/1.1 503 Busy" */
    gsize body_len;
    GString *request;
};

/* listen_any - a listening TCP socket on 127.0.0.1, its port in *port */
static int
listen_any(unsigned *port)
{
    struct sockaddr_in sin = {0};
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sin, sizeof sin) != 0
        || listen(fd, 4) != 0
        || getsockname(fd, (struct sockaddr *) &sin, &len) != 0)
        bail("cannot listen on 127.0.0.1");
    *port = ntohs(sin.sin_port);
    return fd;
}

/* serve_once - thread: accept, read the request, send the canned reply */
static gpointer
serve_once(gpointer data)
{
    struct responder *r = data;
    int c = accept(r->fd, NULL, NULL);
    char buf[4096];
    char *head, *body;
    gsize want = 0;
    ssize_t n;

    if (c < 0)
        return NULL;
    while ((n = read(c, buf, sizeof buf)) > 0) {
        const char *end, *cl;

        g_string_append_len(r->request, buf, n);
        end = strstr(r->request->str, "\r\n\r\n");
        if (end == NULL)
            continue;
        cl = strstr(r->request->str, "Content-Length: ");
        want =
            (gsize) (end - r->request->str) + 4
            + (cl != NULL ? (gsize) g_ascii_strtoull(cl + 16, NULL, 10) : 0);
        if (r->request->len >= want)
            break;
    }
    body = g_strnfill(r->body_len, 'x');
    head = g_strdup_printf("%s\r\nContent-Length: %zu\r\nConnection: close"
                           "\r\n\r\n",
                           r->status_line, r->body_len);
    if (write(c, head, strlen(head)) < 0 || write(c, body, r->body_len) < 0)
        diag("responder: write failed");
    g_free(head);
    g_free(body);
    close(c);
    return NULL;
}

static void
test_templates(void)
{
    const char *vars[] = {
        "ip",      "2001:db8::1", "zone",
        "bl.test", "reason",      "say \"hi\"\\ & bye\r\nX-Evil: 1",
        "empty",   NULL,          NULL};
    GError *err = NULL;
    char *s;

    s = smg_http_expand("https://x.test/r?ip={ip}&z={zone}", vars,
                        SMG_HTTP_ESCAPE_URL, &err);
    is_string("https://x.test/r?ip=2001%3Adb8%3A%3A1&z=bl.test", s,
              "URL: values percent-encoded");
    g_free(s);
    s = smg_http_expand("{\"ip\": \"{ip}\", \"why\": \"{reason}\", \"e\": {}}",
                        vars, SMG_HTTP_ESCAPE_JSON, &err);
    is_string("{\"ip\": \"2001:db8::1\", \"why\": \"say \\\"hi\\\"\\\\ & bye"
              "\\r\\nX-Evil: 1\", \"e\": {}}",
              s, "JSON: strings escaped, other braces literal");
    g_free(s);
    s = smg_http_expand("X-Why: {reason}", vars, SMG_HTTP_ESCAPE_HEADER, &err);
    is_string("X-Why: say \"hi\"\\ & byeX-Evil: 1", s,
              "header: CR and LF removed (no header injection)");
    g_free(s);
    s = smg_http_expand("a{empty}b{ c}{Ip}{}{", vars, SMG_HTTP_ESCAPE_NONE,
                        &err);
    is_string("ab{ c}{Ip}{}{", s,
              "NULL value is empty; non-placeholders kept");
    g_free(s);
    s = smg_http_expand("x{nope}y", vars, SMG_HTTP_ESCAPE_NONE, &err);
    ok(s == NULL && err != NULL && err->code == SMG_CONFIG
           && strstr(err->message, "unknown placeholder {nope}") != NULL,
       "unknown placeholder: config error");
    g_clear_error(&err);
    s = smg_http_escape_text("a\x01"
                             "b",
                             SMG_HTTP_ESCAPE_JSON);
    is_string("a\\u0001b", s, "JSON: control characters as \\u");
    g_free(s);
    s = smg_http_escape_text("M\xfcller \"\xe2\x82\"", SMG_HTTP_ESCAPE_JSON);
    ok(g_utf8_validate(s, -1, NULL), "JSON: invalid UTF-8 made valid");
    is_string("M\xef\xbf\xbdller \\\"\xef\xbf\xbd\xef\xbf\xbd\\\"", s,
              "JSON: each invalid byte is U+FFFD, then escaped");
    g_free(s);
    s = smg_http_escape_text("a b/c", SMG_HTTP_ESCAPE_URL);
    is_string("a%20b%2Fc", s, "URL: space and slash encoded");
    g_free(s);
}

static void
test_headers(void)
{
    GError *err = NULL;
    char **h;
    const char *json[] = {"X-A: 1", "content-type:  application/json", NULL};
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded",
                          NULL};
    const char *plain[] = {"Content-Type: text/plain", NULL};
    const char *pjson[] = {"Content-Type: application/problem+json", NULL};

    h = smg_http_headers_split(
        " Content-Type: application/json | X-Api-Key: k "
        "| | ",
        &err);
    ok(h != NULL && g_strv_length(h) == 2, "two header lines");
    is_string("Content-Type: application/json", h ? h[0] : NULL, "first");
    is_string("X-Api-Key: k", h ? h[1] : NULL, "second, trimmed");
    g_strfreev(h);
    h = smg_http_headers_split(NULL, &err);
    ok(h != NULL && h[0] == NULL, "none");
    g_strfreev(h);
    h = smg_http_headers_split("X-A: 1\nX-B: 2", &err);
    ok(h != NULL && g_strv_length(h) == 2, "newline-separated");
    g_strfreev(h);
    h = smg_http_headers_split("no colon here", &err);
    ok(h == NULL && err != NULL && err->code == SMG_CONFIG,
       "a line without a name: config error");
    g_clear_error(&err);
    h = smg_http_headers_split("Bad Name: x", &err);
    ok(h == NULL && err != NULL, "a name with a space: config error");
    g_clear_error(&err);

    is_int(SMG_HTTP_ESCAPE_JSON, smg_http_body_escape(json), "JSON body");
    is_int(SMG_HTTP_ESCAPE_JSON, smg_http_body_escape(pjson), "+json body");
    is_int(SMG_HTTP_ESCAPE_URL, smg_http_body_escape(form), "form body");
    is_int(SMG_HTTP_ESCAPE_NONE, smg_http_body_escape(plain), "other type");
    is_int(SMG_HTTP_ESCAPE_URL, smg_http_body_escape(NULL),
           "no Content-Type: a form, as libcurl sends it");
}

static void
test_redacted(void)
{
    char *s;

    s = smg_http_url_redacted(
        "https://user:pw@api.test:8443/v1/remove?key=s3cret#f");
    is_string("https://api.test:8443/v1/remove", s,
              "user, password, query and fragment removed");
    g_free(s);
    s = smg_http_url_redacted("http://api.test/x");
    is_string("http://api.test/x", s, "plain URL kept");
    g_free(s);
    s = smg_http_url_redacted("::nonsense");
    is_string("(bad URL)", s, "bad URL");
    g_free(s);
}

static void
test_send(void)
{
    struct responder r = {0};
    struct smg_http_request req = {0};
    struct smg_http_response resp = {0};
    const char *hdrs[] = {"Content-Type: application/json", "X-Key: k", NULL};
    GThread *t;
    GError *err = NULL;
    char *url;
    unsigned closed;
    int cfd;

    /* a reply with an error status is a result, not a failure */
    r.fd = listen_any(&r.port);
    r.status_line = "HTTP/1.1 503 Busy";
    r.body_len = 10;
    r.request = g_string_new(NULL);
    t = g_thread_new("responder", serve_once, &r);
    url = g_strdup_printf("http://127.0.0.1:%u/remove?ip=192.0.2.1", r.port);
    req.method = "PUT";
    req.url = url;
    req.body = "{\"ip\": \"192.0.2.1\"}";
    req.headers = hdrs;
    req.timeout_ms = 5000;
    is_int(SMG_OK, smg_http_send(&req, &resp, &err), "a 503 reply: SMG_OK");
    g_thread_join(t);
    is_int(503, resp.status, "status 503");
    is_int(10, (long) resp.body_len, "body kept");
    ok(g_str_has_prefix(r.request->str,
                        "PUT /remove?ip=192.0.2.1 HTTP/1.1\r\n"),
       "request line: method, path and query");
    ok(strstr(r.request->str, "\r\nX-Key: k\r\n") != NULL, "header sent");
    ok(strstr(r.request->str, "\r\nUser-Agent: smg/") != NULL,
       "default User-Agent");
    ok(g_str_has_suffix(r.request->str, "\r\n\r\n{\"ip\": \"192.0.2.1\"}"),
       "body sent");
    smg_http_response_clear(&resp);
    g_string_free(r.request, TRUE);
    close(r.fd);
    g_free(url);

    /* a big body is capped */
    r.fd = listen_any(&r.port);
    r.status_line = "HTTP/1.1 200 OK";
    r.body_len = SMG_HTTP_BODY_MAX + 5000;
    r.request = g_string_new(NULL);
    t = g_thread_new("responder", serve_once, &r);
    url = g_strdup_printf("http://127.0.0.1:%u/", r.port);
    memset(&req, 0, sizeof req);
    req.url = url;
    is_int(SMG_OK, smg_http_send(&req, &resp, &err), "GET with a big reply");
    g_thread_join(t);
    is_int(200, resp.status, "status 200");
    is_int(SMG_HTTP_BODY_MAX, (long) resp.body_len, "body capped");
    ok(g_str_has_prefix(r.request->str, "GET / HTTP/1.1\r\n"),
       "no method and no body: GET");
    smg_http_response_clear(&resp);
    g_string_free(r.request, TRUE);
    close(r.fd);
    g_free(url);

    /* a port where nobody listens */
    cfd = listen_any(&closed);
    close(cfd);
    url = g_strdup_printf("http://127.0.0.1:%u/x?key=s3cret", closed);
    req.url = url;
    req.timeout_ms = 5000;
    is_int(SMG_TEMPFAIL, smg_http_send(&req, &resp, &err),
           "connection refused: tempfail");
    ok(err != NULL
           && g_str_has_prefix(err->message, "4.4.1 GET http://127.0.0.1:"),
       "DSN 4.4.1 and the URL");
    ok(err != NULL && strstr(err->message, "s3cret") == NULL,
       "the query (maybe a key) is not in the error");
    ok(resp.status == 0 && resp.body == NULL, "no response");
    g_clear_error(&err);
    g_free(url);

    req.url = "file:///etc/passwd";
    is_int(SMG_PERMFAIL, smg_http_send(&req, &resp, &err), "file:// refused");
    ok(err != NULL && g_str_has_prefix(err->message, "5.3.5 "), "DSN 5.3.5");
    g_clear_error(&err);
    req.url = "ftp://127.0.0.1/x";
    is_int(SMG_PERMFAIL, smg_http_send(&req, &resp, &err), "ftp:// refused");
    g_clear_error(&err);
    req.url = "not a url";
    ok(smg_http_send(&req, &resp, &err) != SMG_OK, "garbage refused");
    g_clear_error(&err);
}

int
main(void)
{
    smg_log_init("http-t", SMG_LOG_STDERR, FALSE);
    plan_lazy();
    test_templates();
    test_headers();
    test_redacted();
    test_send();
    return 0;
}

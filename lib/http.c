/*
 * http.c - one HTTP request with libcurl, and request templates.
 *
 * Each request has its own easy handle, so calls may run in parallel;
 * curl_global_init runs once, guarded by g_once.  The reply body is kept up
 * to SMG_HTTP_BODY_MAX bytes and the rest read and dropped, so a huge
 * reply costs time (bounded by the time-out), never memory.  Redirects are
 * not followed: a removal request that is answered with a redirect is
 * reported with its 3xx status, for the operator to look at.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>

#include <curl/curl.h>
#include <glib.h>

#include "lib/http.h"
#include "lib/json.h"

/* global_init - curl_global_init once per process */
static gpointer
global_init(gpointer data)
{
    (void) data;
    return GINT_TO_POINTER(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
}

CURL *
smg_http_easy(long timeout_ms)
{
    static GOnce once = G_ONCE_INIT;
    CURL *h;

    if (!GPOINTER_TO_INT(g_once(&once, global_init, NULL))
        || (h = curl_easy_init()) == NULL)
        return NULL;
    /* CURLOPT_PROTOCOLS is deprecated from 7.85 on, and the _STR form
     * does not exist before it */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS,
                     (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS,
                     (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    return h;
}

/* collect - libcurl write callback: keep the start of the body */
static size_t
collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    GString *body = userdata;
    size_t n = size * nmemb;

    if (body->len < SMG_HTTP_BODY_MAX)
        g_string_append_len(body, ptr,
                            (gssize) MIN(n, SMG_HTTP_BODY_MAX - body->len));
    return n;
}

/* fail_status - the status and DSN of a libcurl error */
static enum smg_status
fail_status(CURLcode rc, const char **dsn)
{
    switch (rc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        *dsn = "5.3.5";
        return SMG_PERMFAIL;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        *dsn = "4.4.1";
        return SMG_TEMPFAIL;
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        *dsn = "4.4.2";
        return SMG_TEMPFAIL;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
        *dsn = "4.7.5";
        return SMG_TEMPFAIL;
    default:
        *dsn = "4.4.0";
        return SMG_TEMPFAIL;
    }
}

char *
smg_http_url_redacted(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    char *out;

    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        curl_free(scheme);
        curl_free(host);
        curl_url_cleanup(u);
        return g_strdup("(bad URL)");
    }
    (void) curl_url_get(u, CURLUPART_PORT, &port, 0);
    (void) curl_url_get(u, CURLUPART_PATH, &path, 0);
    out = g_strdup_printf("%s://%s%s%s%s", scheme, host, port ? ":" : "",
                          port ? port : "", path ? path : "");
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return out;
}

enum smg_status
smg_http_send(const struct smg_http_request *req,
              struct smg_http_response *resp, GError **err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    GString *body;
    CURL *h;
    CURLcode rc;
    enum smg_status st = SMG_OK;
    const char *method = req->method;
    char *ua = NULL;
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : 30000;

    memset(resp, 0, sizeof(*resp));
    if ((h = smg_http_easy(timeout)) == NULL) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "libcurl cannot start");
        return SMG_TEMPFAIL;
    }
    if (method == NULL)
        method = req->body != NULL ? "POST" : "GET";
    ua = g_strdup(req->user_agent != NULL ? req->user_agent
                                          : "smg/" PACKAGE_VERSION);
    body = g_string_new(NULL);
    for (unsigned i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
        hdrs = curl_slist_append(hdrs, req->headers[i]);

    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_USERAGENT, ua);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    if (hdrs != NULL)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (req->body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t) strlen(req->body));
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) 0);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }

    rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->body_len = body->len;
        resp->body = g_string_free(body, FALSE);
    } else {
        const char *dsn;
        char *where = smg_http_url_redacted(req->url);

        st = fail_status(rc, &dsn);
        smg_set_error(err, st, dsn, "%s %s: %s", method, where,
                      *errbuf != '\0' ? errbuf : curl_easy_strerror(rc));
        g_free(where);
        g_string_free(body, TRUE);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    g_free(ua);
    return st;
}

void
smg_http_response_clear(struct smg_http_response *resp)
{
    g_free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

char *
smg_http_escape_text(const char *s, enum smg_http_escape esc)
{
    GString *out;

    if (s == NULL)
        s = "";
    switch (esc) {
    case SMG_HTTP_ESCAPE_NONE:
        return g_strdup(s);
    case SMG_HTTP_ESCAPE_URL:
        return g_uri_escape_string(s, NULL, FALSE);
    case SMG_HTTP_ESCAPE_JSON:
        out = g_string_new(NULL);
        smg_json_escape(out, s);
        return g_string_free(out, FALSE);
    case SMG_HTTP_ESCAPE_HEADER:
        out = g_string_new(NULL);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
            if (*p >= 0x20 && *p != 0x7f)
                g_string_append_c(out, (char) *p);
        return g_string_free(out, FALSE);
    }
    return g_strdup(s);
}

enum smg_http_escape
smg_http_body_escape(const char *const *headers)
{
    for (unsigned i = 0; headers != NULL && headers[i] != NULL; i++) {
        const char *h = headers[i];
        char *type;
        enum smg_http_escape esc;

        if (g_ascii_strncasecmp(h, "Content-Type:", 13) != 0)
            continue;
        type = g_ascii_strdown(h + 13, -1);
        g_strstrip(type);
        if (g_str_has_prefix(type, "application/json")
            || strstr(type, "+json") != NULL)
            esc = SMG_HTTP_ESCAPE_JSON;
        else if (g_str_has_prefix(type, "application/x-www-form-urlencoded"))
            esc = SMG_HTTP_ESCAPE_URL;
        else
            esc = SMG_HTTP_ESCAPE_NONE;
        g_free(type);
        return esc;
    }
    return SMG_HTTP_ESCAPE_URL; /* libcurl sends a form by default */
}

/* lookup_var - the value of name[0..len) in vars; FALSE if absent */
static gboolean
lookup_var(const char *const *vars, const char *name, gsize len,
           const char **value)
{
    for (unsigned i = 0; vars != NULL && vars[i] != NULL; i += 2) {
        if (strlen(vars[i]) == len && strncmp(vars[i], name, len) == 0) {
            *value = vars[i + 1] != NULL ? vars[i + 1] : "";
            return TRUE;
        }
    }
    return FALSE;
}

char *
smg_http_expand(const char *tmpl, const char *const *vars,
                enum smg_http_escape esc, GError **err)
{
    GString *out = g_string_new(NULL);
    const char *p = tmpl;

    while (*p != '\0') {
        const char *open = strchr(p, '{');
        const char *q, *value;

        if (open == NULL) {
            g_string_append(out, p);
            break;
        }
        g_string_append_len(out, p, open - p);
        for (q = open + 1; (*q >= 'a' && *q <= 'z') || *q == '_'; q++)
            ;
        if (*q != '}' || q == open + 1) {
            /* not a placeholder: a literal brace */
            g_string_append_c(out, '{');
            p = open + 1;
            continue;
        }
        if (!lookup_var(vars, open + 1, (gsize) (q - open - 1), &value)) {
            smg_set_error(err, SMG_CONFIG, NULL, "unknown placeholder %.*s",
                          (int) (q - open + 1), open);
            g_string_free(out, TRUE);
            return NULL;
        }
        {
            char *v = smg_http_escape_text(value, esc);
            g_string_append(out, v);
            g_free(v);
        }
        p = q + 1;
    }
    return g_string_free(out, FALSE);
}

char **
smg_http_headers_split(const char *value, GError **err)
{
    char **parts = g_strsplit_set(value != NULL ? value : "", "|\n", -1);
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

    for (unsigned i = 0; parts[i] != NULL; i++) {
        char *h = g_strstrip(parts[i]);
        const char *colon = strchr(h, ':');
        const char *c;

        if (*h == '\0')
            continue;
        for (c = h; colon != NULL && c < colon; c++)
            if (!g_ascii_isalnum(*c) && *c != '-' && *c != '_')
                break;
        if (colon == NULL || colon == h || c != colon) {
            smg_set_error(err, SMG_CONFIG, NULL,
                          "bad header line \"%s\" (expected Name: value)", h);
            g_strfreev(parts);
            g_ptr_array_free(out, TRUE);
            return NULL;
        }
        g_ptr_array_add(out, g_strdup(h));
    }
    g_strfreev(parts);
    g_ptr_array_set_free_func(out, NULL);
    g_ptr_array_add(out, NULL);
    return (char **) g_ptr_array_free(out, FALSE);
}

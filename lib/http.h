/*
 * http.h - one HTTP request with libcurl, and request templates.
 *
 * smg-blcheck files removal requests with DNSBL providers: a configured
 * method, URL, body and header lines, with placeholders filled in.  This
 * module sends one such request and returns the reply's status and the
 * start of its body.  Only http and https are allowed (also after
 * redirects, which are not followed), TLS certificates are verified, and a
 * time-out bounds the whole exchange.  A reply of any status is a result
 * (SMG_OK); the caller decides what 4xx or 5xx means.  Only failures to
 * get a reply at all are errors.
 *
 * Templates: "{name}" where name is [a-z_]+ is a placeholder; any other
 * brace is literal text (so JSON bodies need no escaping).  The value is
 * escaped for where it goes: percent-encoding in URLs and form bodies,
 * JSON string escaping in JSON bodies (after making the text valid UTF-8,
 * as JSON must be), control characters dropped in header lines.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_HTTP_H
#define SMG_HTTP_H 1

#include <curl/curl.h>
#include <glib.h>

#include "lib/status.h"

/* the most of a reply's body kept */
#define SMG_HTTP_BODY_MAX 65536

struct smg_http_request {
    const char *method;         /* "GET", "POST", "PUT", ...; NULL: GET, or
                                   POST when there is a body */
    const char *url;            /* http:// or https:// */
    const char *body;           /* NULL: none */
    const char *const *headers; /* "Name: value" lines, NULL-terminated;
                                   may be NULL */
    long timeout_ms;            /* whole exchange; <= 0: 30 s */
    const char *user_agent;     /* NULL: "smg/VERSION" */
};

struct smg_http_response {
    long status; /* HTTP status code */
    char *body;  /* NUL-terminated, at most SMG_HTTP_BODY_MAX bytes kept */
    gsize body_len;
};

/*
 * smg_http_easy - a new libcurl easy handle (curl_global_init done once
 * per process) limited to http and https, redirects not followed, no
 * signals, TLS peers verified, timeout_ms for the connection and for the
 * whole exchange; NULL when libcurl cannot start.  Free with
 * curl_easy_cleanup.
 */
CURL *smg_http_easy(long timeout_ms);

/*
 * smg_http_send - send req and wait for the reply.  On SMG_OK resp holds
 * the status and body (free with smg_http_response_clear).  Returns
 * SMG_PERMFAIL (5.3.5) for a bad URL or a scheme other than http and
 * https, SMG_TEMPFAIL (4.4.1 could not connect, 4.4.2 time-out or broken
 * connection, 4.7.5 TLS failure) when no reply came.  resp is zeroed on
 * failure.  Thread-safe (each call has its own handle).
 */
enum smg_status smg_http_send(const struct smg_http_request *req,
                              struct smg_http_response *resp,
                              GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_http_url_redacted - url without user, password, query and fragment
 * ("https://host:port/path"), for logs and reports that must not show
 * secrets such as API keys; "(bad URL)" if it cannot be parsed.  New
 * string.
 */
char *smg_http_url_redacted(const char *url);

/* smg_http_response_clear - free resp's body and zero it */
void smg_http_response_clear(struct smg_http_response *resp);

/* How placeholder values are escaped. */
enum smg_http_escape {
    SMG_HTTP_ESCAPE_NONE = 0, /* as they are */
    SMG_HTTP_ESCAPE_URL,      /* percent-encoding (RFC 3986 unreserved kept) */
    SMG_HTTP_ESCAPE_JSON,     /* inside a JSON string: \" \\ \n \u00XX,
                                 invalid UTF-8 as U+FFFD (lib/json) */
    SMG_HTTP_ESCAPE_HEADER,   /* CR, LF and other controls removed */
};

/* smg_http_escape_text - s escaped as esc says (new string) */
char *smg_http_escape_text(const char *s, enum smg_http_escape esc);

/*
 * smg_http_body_escape - the escaping for a body sent with headers:
 * JSON when a Content-Type header names application/json (or +json), URL
 * for application/x-www-form-urlencoded or no Content-Type, NONE for any
 * other type.
 */
enum smg_http_escape smg_http_body_escape(const char *const *headers);

/*
 * smg_http_expand - tmpl with each {name} replaced by the escaped value of
 * name in vars (NULL-terminated name, value pairs; a NULL value is "").
 * Returns a new string, or NULL with SMG_CONFIG in err for a placeholder
 * that is not in vars ("unknown placeholder {x}").
 */
char *smg_http_expand(const char *tmpl, const char *const *vars,
                      enum smg_http_escape esc, GError **err);

/*
 * smg_http_headers_split - header lines from a configured value: lines
 * separated by '|' (or newlines), each trimmed; empty ones dropped.  A
 * line without "Name:" gives NULL with SMG_CONFIG in err.  New vector.
 */
char **smg_http_headers_split(const char *value, GError **err);

#endif

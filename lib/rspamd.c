/*
 * rspamd.c - rspamd's HTTP protocol with libcurl (see rspamd.h).
 *
 * The reply is read by a small strict JSON reader: recursive descent over
 * RFC 8259 values with a depth limit, that keeps the four members we use
 * and skips the rest.  XXX a JSON library (json-glib) would do the same;
 * it is not a dependency of smg yet and the reply's shape is fixed, so a
 * reader of a hundred lines, tested on malformed input, was preferred.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "lib/http.h"
#include "lib/rspamd.h"

#define REPLY_MAX (1024 * 1024)
#define MAX_DEPTH 32

/* ---- JSON ---- */

struct json {
    const char *p, *end;
    const char *why;
};

/* ws - skip white space */
static void
ws(struct json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* json_string - a string at j->p; its UTF-8 value in *out if out != NULL */
static gboolean
json_string(struct json *j, GString *out)
{
    if (j->p >= j->end || *j->p != '"') {
        j->why = "expected a string";
        return FALSE;
    }
    j->p++;
    while (j->p < j->end) {
        unsigned char c = (unsigned char) *j->p++;
        if (c == '"')
            return TRUE;
        if (c < 0x20) {
            j->why = "control character in a string";
            return FALSE;
        }
        if (c != '\\') {
            if (out != NULL)
                g_string_append_c(out, (char) c);
            continue;
        }
        if (j->p >= j->end)
            break;
        c = (unsigned char) *j->p++;
        switch (c) {
        case '"': case '\\': case '/':
            if (out != NULL) g_string_append_c(out, (char) c);
            break;
        case 'b': if (out != NULL) g_string_append_c(out, '\b'); break;
        case 'f': if (out != NULL) g_string_append_c(out, '\f'); break;
        case 'n': if (out != NULL) g_string_append_c(out, '\n'); break;
        case 'r': if (out != NULL) g_string_append_c(out, '\r'); break;
        case 't': if (out != NULL) g_string_append_c(out, '\t'); break;
        case 'u': {
            gunichar u = 0;
            if (j->end - j->p < 4) {
                j->why = "short \\u escape";
                return FALSE;
            }
            for (int i = 0; i < 4; i++) {
                int d = g_ascii_xdigit_value(j->p[i]);
                if (d < 0) {
                    j->why = "bad \\u escape";
                    return FALSE;
                }
                u = u * 16 + (gunichar) d;
            }
            j->p += 4;
            /* surrogates are not needed for symbol names: replace them */
            if (out != NULL)
                g_string_append_unichar(out, (u >= 0xD800 && u <= 0xDFFF) || u == 0 ? 0xFFFD : u);
            break;
        }
        default:
            j->why = "bad escape in a string";
            return FALSE;
        }
    }
    j->why = "unterminated string";
    return FALSE;
}

/* json_number - a number at j->p into *out */
static gboolean
json_number(struct json *j, double *out)
{
    const char *s = j->p;
    char buf[64];
    char *end;
    gsize n;

    if (s < j->end && *s == '-')
        s++;
    if (s >= j->end || !g_ascii_isdigit(*s)) {
        j->why = "expected a number";
        return FALSE;
    }
    while (s < j->end && (g_ascii_isdigit(*s) || *s == '.' || *s == 'e' || *s == 'E'
                          || *s == '+' || *s == '-'))
        s++;
    n = (gsize) (s - j->p);
    if (n >= sizeof buf) {
        j->why = "number too long";
        return FALSE;
    }
    memcpy(buf, j->p, n);
    buf[n] = '\0';
    *out = g_ascii_strtod(buf, &end);
    if (*end != '\0' || !isfinite(*out)) {
        j->why = "bad number";
        return FALSE;
    }
    j->p = s;
    return TRUE;
}

/* json_literal - true, false or null */
static gboolean
json_literal(struct json *j)
{
    static const char *const lit[] = {"true", "false", "null"};

    for (unsigned i = 0; i < G_N_ELEMENTS(lit); i++) {
        gsize n = strlen(lit[i]);
        if ((gsize) (j->end - j->p) >= n && memcmp(j->p, lit[i], n) == 0) {
            j->p += n;
            return TRUE;
        }
    }
    j->why = "unexpected character";
    return FALSE;
}

static gboolean json_value(struct json *j, int depth);

/*
 * json_object - an object at j->p; each member's name is passed to fn,
 * which parses the value (or NULL: every value is skipped)
 */
static gboolean
json_object(struct json *j, int depth,
            gboolean (*fn)(struct json *j, const char *name, void *data, int depth),
            void *data)
{
    GString *name = g_string_new(NULL);
    gboolean ok = FALSE;

    if (depth > MAX_DEPTH) {
        j->why = "nested too deeply";
        goto out;
    }
    j->p++; /* '{' */
    ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        ok = TRUE;
        goto out;
    }
    for (;;) {
        ws(j);
        g_string_truncate(name, 0);
        if (!json_string(j, name))
            goto out;
        ws(j);
        if (j->p >= j->end || *j->p != ':') {
            j->why = "expected ':'";
            goto out;
        }
        j->p++;
        ws(j);
        if (fn != NULL ? !fn(j, name->str, data, depth + 1) : !json_value(j, depth + 1))
            goto out;
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            ok = TRUE;
            goto out;
        }
        j->why = "expected ',' or '}'";
        goto out;
    }
out:
    g_string_free(name, TRUE);
    return ok;
}

/* json_array - an array at j->p, values skipped */
static gboolean
json_array(struct json *j, int depth)
{
    if (depth > MAX_DEPTH) {
        j->why = "nested too deeply";
        return FALSE;
    }
    j->p++; /* '[' */
    ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return TRUE;
    }
    for (;;) {
        ws(j);
        if (!json_value(j, depth + 1))
            return FALSE;
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return TRUE;
        }
        j->why = "expected ',' or ']'";
        return FALSE;
    }
}

/* json_value - skip any value */
static gboolean
json_value(struct json *j, int depth)
{
    double d;

    if (j->p >= j->end) {
        j->why = "unexpected end";
        return FALSE;
    }
    switch (*j->p) {
    case '{': return json_object(j, depth, NULL, NULL);
    case '[': return json_array(j, depth);
    case '"': return json_string(j, NULL);
    case 't': case 'f': case 'n': return json_literal(j);
    default: return json_number(j, &d);
    }
}

/* symbol_member - a member of "symbols": its name is the symbol's */
static gboolean
symbol_member(struct json *j, const char *name, void *data, int depth)
{
    struct smg_rspamd_result *res = data;

    g_ptr_array_add(res->symbols, g_strdup(name));
    return json_value(j, depth);
}

struct top {
    struct smg_rspamd_result *res;
    gboolean have_score;
};

/* top_member - a member of the reply object */
static gboolean
top_member(struct json *j, const char *name, void *data, int depth)
{
    struct top *t = data;

    if (strcmp(name, "score") == 0) {
        if (!json_number(j, &t->res->score))
            return FALSE;
        t->have_score = TRUE;
        return TRUE;
    }
    if (strcmp(name, "required_score") == 0)
        return json_number(j, &t->res->required);
    if (strcmp(name, "action") == 0) {
        GString *s = g_string_new(NULL);
        gboolean ok = json_string(j, s);
        g_free(t->res->action);
        t->res->action = g_string_free(s, !ok);
        return ok;
    }
    if (strcmp(name, "symbols") == 0 && j->p < j->end && *j->p == '{')
        return json_object(j, depth, symbol_member, t->res);
    return json_value(j, depth);
}

void
smg_rspamd_result_clear(struct smg_rspamd_result *res)
{
    g_free(res->action);
    if (res->symbols != NULL)
        g_ptr_array_free(res->symbols, TRUE);
    memset(res, 0, sizeof *res);
}

enum smg_status
smg_rspamd_parse(const char *text, gsize len, struct smg_rspamd_result *res,
                 GError **err)
{
    struct json j = {text, text + len, NULL};
    struct top t = {res, FALSE};

    memset(res, 0, sizeof *res);
    res->symbols = g_ptr_array_new_with_free_func(g_free);
    ws(&j);
    if (j.p >= j.end || *j.p != '{') {
        j.why = "not a JSON object";
    } else if (json_object(&j, 0, top_member, &t)) {
        ws(&j);
        if (j.p != j.end)
            j.why = "text after the object";
        else if (!t.have_score)
            j.why = "no score";
        else
            return SMG_OK;
    }
    smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "rspamd: bad reply: %s",
                  j.why != NULL ? j.why : "malformed");
    smg_rspamd_result_clear(res);
    return SMG_TEMPFAIL;
}

/* ---- HTTP ---- */

/* collect - libcurl write callback: keep at most REPLY_MAX bytes */
static size_t
collect(char *data, size_t size, size_t n, void *user)
{
    GString *s = user;
    size_t len = size * n;

    if (s->len + len > REPLY_MAX)
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    g_string_append_len(s, data, (gssize) len);
    return len;
}

/* header_line - "Name: value" without CR or LF in value (new string) */
static char *
header_line(const char *name, const char *value)
{
    char *v = g_strdup(value);

    g_strdelimit(v, "\r\n", ' ');
    {
        char *line = g_strdup_printf("%s: %s", name, v);
        g_free(v);
        return line;
    }
}

enum smg_status
smg_rspamd_check(const struct smg_rspamd_request *req,
                 struct smg_rspamd_result *res, GError **err)
{
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    GString *body = g_string_new(NULL);
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : 5000, status = 0;
    enum smg_status st = SMG_OK;
    /* the URL as errors (logged for every message) show it: without a
     * user, password or query, which may hold secrets */
    char *where = req->url != NULL ? smg_http_url_redacted(req->url) : g_strdup("(unset)");
    CURLcode rc;
    CURL *h;

    memset(res, 0, sizeof *res);
    if (req->url == NULL
        || (g_ascii_strncasecmp(req->url, "http://", 7) != 0
            && g_ascii_strncasecmp(req->url, "https://", 8) != 0)) {
        smg_set_error(err, SMG_CONFIG, "4.3.5", "rspamd_url %s: not an http or https URL",
                      where);
        g_string_free(body, TRUE);
        g_free(where);
        return SMG_CONFIG;
    }
    if ((h = smg_http_easy(timeout)) == NULL) {
        smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "rspamd: cannot initialise libcurl");
        g_string_free(body, TRUE);
        g_free(where);
        return SMG_TEMPFAIL;
    }
#define ADD_HEADER(name, value)                                    \
    do {                                                           \
        char *l_ = header_line(name, value);                       \
        hdrs = curl_slist_append(hdrs, l_);                        \
        g_free(l_);                                                \
    } while (0)
    if (req->from != NULL)
        ADD_HEADER("From", *req->from != '\0' ? req->from : "<>");
    for (const char *const *r = req->rcpts; r != NULL && *r != NULL; r++)
        ADD_HEADER("Rcpt", *r);
    if (req->ip != NULL)
        ADD_HEADER("IP", req->ip);
    if (req->helo != NULL)
        ADD_HEADER("Helo", req->helo);
    if (req->queue_id != NULL)
        ADD_HEADER("Queue-Id", req->queue_id);
    if (req->user != NULL)
        ADD_HEADER("User", req->user);
#undef ADD_HEADER
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "smg-check/" PACKAGE_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->msg);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->len);
    rc = curl_easy_perform(h);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        smg_set_error(err, SMG_TEMPFAIL, "4.4.2", "rspamd %s timed out after %ld ms",
                      where, timeout);
        st = SMG_TEMPFAIL;
    } else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
        smg_set_error(err, SMG_TEMPFAIL, "4.4.1", "rspamd %s: could not connect: %s",
                      where, *errbuf != '\0' ? errbuf : curl_easy_strerror(rc));
        st = SMG_TEMPFAIL;
    } else if (rc != CURLE_OK) {
        smg_set_error(err, SMG_TEMPFAIL, "4.4.2", "rspamd %s: %s", where,
                      *errbuf != '\0' ? errbuf : curl_easy_strerror(rc));
        st = SMG_TEMPFAIL;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
            smg_set_error(err, SMG_TEMPFAIL, "4.3.0", "rspamd %s: HTTP status %ld",
                          where, status);
            st = SMG_TEMPFAIL;
        } else {
            st = smg_rspamd_parse(body->str, body->len, res, err);
        }
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    g_string_free(body, TRUE);
    g_free(where);
    return st;
}

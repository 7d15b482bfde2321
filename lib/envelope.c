/*
 * envelope.c - read and write the SMG-* envelope fields (see envelope.h and
 * man/smg-envelope.5).
 *
 * The parser is strict because stages do not trust each other: only known
 * field names, single fields at most once, addresses in angle brackets with
 * no controls or spaces, no NUL bytes anywhere in the envelope.  Folded
 * continuation lines are accepted on reading (an operator may have edited
 * the file); the writer always writes one line per field.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>

#include "lib/addr.h"
#include "lib/envelope.h"

struct field {
    char *name;
    char *value;
};

/* Known fields besides Queue-ID, Sender and Recipient (single each). */
static const char *const known_fields[] = {
    "Client", "Customer", "Arrival", "Spam", "Virus", "Route", "Delivery",
    "Bounce-Of", "Notice", "Held", NULL,
};

static void
field_free(gpointer p)
{
    struct field *f = p;

    g_free(f->name);
    g_free(f->value);
    g_free(f);
}

static void
rcpt_free(gpointer p)
{
    struct smg_rcpt *r = p;

    g_free(r->addr);
    g_free(r->params);
    g_free(r);
}

struct smg_envelope *
smg_envelope_new(void)
{
    struct smg_envelope *env = g_new0(struct smg_envelope, 1);

    env->rcpts = g_ptr_array_new_with_free_func(rcpt_free);
    env->fields = g_ptr_array_new_with_free_func(field_free);
    return env;
}

void
smg_envelope_free(struct smg_envelope *env)
{
    if (env == NULL)
        return;
    g_free(env->queue_id);
    g_free(env->sender);
    g_free(env->sender_params);
    g_ptr_array_free(env->rcpts, TRUE);
    g_ptr_array_free(env->fields, TRUE);
    g_free(env);
}

/* bad - set a PERMFAIL error about the envelope */
static enum smg_status
bad(GError **err, const char *what, const char *detail)
{
    smg_set_error(err, SMG_PERMFAIL, "5.6.0", "malformed envelope: %s%s%s",
                  what, detail != NULL ? ": " : "", detail != NULL ? detail : "");
    return SMG_PERMFAIL;
}

/*
 * split_path - "<addr> params" into addr and params; FALSE if malformed.
 * The address may be empty only if allow_empty.  A quoted local part may
 * hold spaces, "<" and ">" (RFC 5321 4.1.2), as smg-recv accepted it.
 */
static gboolean
split_path(const char *v, gboolean allow_empty, char **addr, char **params)
{
    const char *close;
    gboolean quoted = FALSE;
    size_t end;

    if (*v != '<')
        return FALSE;
    end = smg_addr_path_close(v, strlen(v), 0);
    if (end == 0)
        return FALSE;
    close = v + end;
    for (const char *p = v + 1; p < close; p++) {
        if ((unsigned char) *p < ' ' || *p == 0x7f)
            return FALSE;
        if (quoted && *p == '\\') {
            if (++p >= close || (unsigned char) *p < ' ' || *p == 0x7f)
                return FALSE;
        } else if (*p == '"')
            quoted = !quoted;
        else if (!quoted && (*p == ' ' || *p == '<'))
            return FALSE;
    }
    if (close == v + 1 && !allow_empty)
        return FALSE;
    if (close[1] != '\0' && close[1] != ' ')
        return FALSE;
    *addr = g_strndup(v + 1, (gsize) (close - v - 1));
    *params = g_strstrip(g_strdup(close + 1));
    return TRUE;
}

/* find_field - index of a named field, or -1 */
static gint
find_field(const struct smg_envelope *env, const char *name)
{
    for (guint i = 0; i < env->fields->len; i++) {
        const struct field *f = env->fields->pdata[i];
        if (g_ascii_strcasecmp(f->name, name) == 0)
            return (gint) i;
    }
    return -1;
}

/* canonical - the known spelling of a field name, or NULL if unknown */
static const char *
canonical(const char *name)
{
    for (unsigned i = 0; known_fields[i] != NULL; i++)
        if (g_ascii_strcasecmp(known_fields[i], name) == 0)
            return known_fields[i];
    return NULL;
}

/* has_control - whether p[0..end) holds a control character other than tab */
static gboolean
has_control(const char *p, const char *end)
{
    for (; p < end; p++)
        if (((unsigned char) *p < ' ' && *p != '\t') || *p == 0x7f)
            return TRUE;
    return FALSE;
}

/* take_field - store one parsed field; PERMFAIL if wrong */
static enum smg_status
take_field(struct smg_envelope *env, const char *name, char *value, GError **err)
{
    char *addr, *params;

    g_strstrip(value);
    if (g_ascii_strcasecmp(name, "Queue-ID") == 0) {
        if (env->queue_id != NULL)
            return bad(err, "SMG-Queue-ID twice", NULL);
        if (*value == '<' && value[strlen(value) - 1] == '>') {
            env->queue_id = g_strndup(value + 1, strlen(value) - 2);
        } else {
            env->queue_id = g_strdup(value);
        }
        for (const char *p = env->queue_id; *p != '\0'; p++)
            if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-' && *p != '_')
                return bad(err, "bad SMG-Queue-ID", NULL);
        if (*env->queue_id == '\0')
            return bad(err, "empty SMG-Queue-ID", NULL);
        return SMG_OK;
    }
    if (g_ascii_strcasecmp(name, "Sender") == 0) {
        if (env->sender != NULL)
            return bad(err, "SMG-Sender twice", NULL);
        if (!split_path(value, TRUE, &addr, &params))
            return bad(err, "bad SMG-Sender", NULL);
        env->sender = addr;
        env->sender_params = params;
        return SMG_OK;
    }
    if (g_ascii_strcasecmp(name, "Recipient") == 0) {
        struct smg_rcpt *r;
        if (!split_path(value, FALSE, &addr, &params))
            return bad(err, "bad SMG-Recipient", NULL);
        r = g_new0(struct smg_rcpt, 1);
        r->addr = addr;
        r->params = params;
        g_ptr_array_add(env->rcpts, r);
        return SMG_OK;
    }
    const char *canon = canonical(name);
    if (canon == NULL || find_field(env, canon) >= 0) {
        char *full = g_strconcat("SMG-", canon != NULL ? canon : name, NULL);
        bad(err, canon == NULL ? "unknown field" : "field twice", full);
        g_free(full);
        return SMG_PERMFAIL;
    }
    smg_envelope_set(env, canon, value);
    return SMG_OK;
}

enum smg_status
smg_envelope_parse(const char *buf, gsize len, struct smg_envelope **out,
                   gsize *body_offset, GError **err)
{
    struct smg_envelope *env = smg_envelope_new();
    gsize pos = 0;
    char *name = NULL;
    GString *value = g_string_new(NULL);
    enum smg_status st = SMG_OK;

    *out = NULL;
    while (pos < len) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        gsize linelen = nl != NULL ? (gsize) (nl - line) : len - pos;
        gsize next = pos + linelen + (nl != NULL ? 1 : 0);
        gsize textlen = linelen;

        if (textlen > 0 && line[textlen - 1] == '\r')
            textlen--;
        if (name != NULL && textlen > 0 && (line[0] == ' ' || line[0] == '\t')) {
            /* continuation of the previous SMG field */
            if (memchr(line, '\0', linelen) != NULL) {
                st = bad(err, "NUL byte", NULL);
                goto fail;
            }
            if (has_control(line, line + textlen)) {
                st = bad(err, "control character in SMG field", NULL);
                goto fail;
            }
            g_string_append_c(value, ' ');
            g_string_append_len(value, line, (gssize) textlen);
            pos = next;
            continue;
        }
        if (name != NULL) {
            st = take_field(env, name, value->str, err);
            g_free(name);
            name = NULL;
            g_string_truncate(value, 0);
            if (st != SMG_OK)
                goto fail;
        }
        if (textlen < 4 || g_ascii_strncasecmp(line, "SMG-", 4) != 0)
            break; /* the message proper: its bytes are not the envelope's */
        if (memchr(line, '\0', linelen) != NULL) {
            st = bad(err, "NUL byte", NULL);
            goto fail;
        }
        const char *colon = memchr(line, ':', textlen);
        if (colon == NULL) {
            st = bad(err, "SMG field without a colon", NULL);
            goto fail;
        }
        name = g_strndup(line + 4, (gsize) (colon - line - 4));
        for (const char *p = name; *p != '\0'; p++)
            if (!g_ascii_isalnum(*p) && *p != '-') {
                st = bad(err, "bad field name", NULL);
                goto fail;
            }
        if (has_control(colon + 1, line + textlen)) {
            st = bad(err, "control character in SMG field", NULL);
            goto fail;
        }
        g_string_append_len(value, colon + 1, (gssize) (line + textlen - colon - 1));
        pos = next;
    }
    if (name != NULL) {
        st = take_field(env, name, value->str, err);
        if (st != SMG_OK)
            goto fail;
    }
    g_free(name);
    g_string_free(value, TRUE);
    if (env->sender == NULL && env->rcpts->len > 0) {
        smg_envelope_free(env);
        return bad(err, "recipients without SMG-Sender", NULL);
    }
    *body_offset = pos;
    *out = env;
    return SMG_OK;
fail:
    g_free(name);
    g_string_free(value, TRUE);
    smg_envelope_free(env);
    return st;
}

enum smg_status
smg_envelope_check_spool(const struct smg_envelope *env, const char *id,
                         GError **err)
{
    if (env->sender == NULL || env->rcpts->len == 0) {
        smg_set_error(err, SMG_PERMFAIL, "5.6.0",
                      "malformed envelope: no SMG-Sender or no SMG-Recipient");
        return SMG_PERMFAIL;
    }
    if (env->queue_id != NULL && strcmp(env->queue_id, id) != 0) {
        smg_set_error(err, SMG_PERMFAIL, "5.6.0",
                      "malformed envelope: SMG-Queue-ID %s is not the file name",
                      env->queue_id);
        return SMG_PERMFAIL;
    }
    return SMG_OK;
}

const char *
smg_envelope_get(const struct smg_envelope *env, const char *name)
{
    gint i = find_field(env, name);

    if (i < 0)
        return NULL;
    return ((const struct field *) env->fields->pdata[i])->value;
}

gboolean
smg_envelope_is_customer_mail(const struct smg_envelope *env)
{
    return smg_envelope_get(env, "Client") != NULL;
}

/* clean_copy - a copy of s with CR, LF and other controls made spaces */
static char *
clean_copy(const char *s)
{
    char *c = g_strdup(s != NULL ? s : "");

    for (char *p = c; *p != '\0'; p++)
        if ((unsigned char) *p < ' ' || *p == 0x7f)
            *p = ' ';
    return c;
}

void
smg_envelope_set(struct smg_envelope *env, const char *name, const char *value)
{
    gint i = find_field(env, name);
    struct field *f;

    if (i >= 0) {
        f = env->fields->pdata[i];
        g_free(f->value);
        f->value = clean_copy(value);
        return;
    }
    f = g_new0(struct field, 1);
    f->name = g_strdup(name);
    f->value = clean_copy(value);
    g_ptr_array_add(env->fields, f);
}

void
smg_envelope_add_rcpt(struct smg_envelope *env, const char *addr,
                      const char *params)
{
    struct smg_rcpt *r = g_new0(struct smg_rcpt, 1);

    r->addr = clean_copy(addr);
    r->params = clean_copy(params);
    g_ptr_array_add(env->rcpts, r);
}

void
smg_envelope_write(const struct smg_envelope *env, GString *out)
{
    if (env->queue_id != NULL)
        g_string_append_printf(out, "SMG-Queue-ID: %s\n", env->queue_id);
    if (env->sender != NULL)
        g_string_append_printf(out, "SMG-Sender: <%s>%s%s\n", env->sender,
                               env->sender_params != NULL && *env->sender_params ? " " : "",
                               env->sender_params != NULL ? env->sender_params : "");
    for (guint i = 0; i < env->rcpts->len; i++) {
        const struct smg_rcpt *r = env->rcpts->pdata[i];
        g_string_append_printf(out, "SMG-Recipient: <%s>%s%s\n", r->addr,
                               *r->params ? " " : "", r->params);
    }
    for (guint i = 0; i < env->fields->len; i++) {
        const struct field *f = env->fields->pdata[i];
        g_string_append_printf(out, "SMG-%s: %s\n", f->name, f->value);
    }
}

gboolean
smg_envelope_has_word(const char *s, const char *w)
{
    gboolean found = FALSE;
    char **words;

    if (s == NULL)
        return FALSE;
    words = g_strsplit(s, " ", -1);
    for (char **p = words; *p != NULL && !found; p++)
        found = g_ascii_strcasecmp(*p, w) == 0;
    g_strfreev(words);
    return found;
}

char *
smg_envelope_param(const char *s, const char *key)
{
    size_t klen = strlen(key);
    const char *p = s;

    if (s == NULL)
        return NULL;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t')
            p++;
        if (g_ascii_strncasecmp(p, key, klen) == 0 && p[klen] == '=') {
            const char *v = p + klen + 1;
            if (*v == '"') {
                const char *end = strchr(v + 1, '"');
                return end != NULL ? g_strndup(v + 1, (gsize) (end - v - 1))
                                   : g_strdup(v + 1);
            }
            const char *end = v;
            while (*end != '\0' && *end != ' ' && *end != '\t')
                end++;
            return g_strndup(v, (gsize) (end - v));
        }
        /* skip this word (a quoted value may hold spaces) */
        while (*p != '\0' && *p != ' ' && *p != '\t') {
            if (*p == '"') {
                const char *end = strchr(p + 1, '"');
                p = end != NULL ? end + 1 : p + strlen(p);
            } else {
                p++;
            }
        }
    }
    return NULL;
}

void
smg_envelope_strip(const char *msg, gsize len, GString *out)
{
    gsize pos = 0;
    gboolean skipping = FALSE;

    while (pos < len) {
        const char *line = msg + pos;
        const char *nl = memchr(line, '\n', len - pos);
        gsize linelen = nl != NULL ? (gsize) (nl - line) + 1 : len - pos;

        if (linelen == 1 || (linelen == 2 && line[0] == '\r')) {
            /* end of the header section: copy the rest as it is */
            g_string_append_len(out, line, (gssize) (len - pos));
            return;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            if (!skipping)
                g_string_append_len(out, line, (gssize) linelen);
        } else {
            skipping = linelen >= 4 && g_ascii_strncasecmp(line, "SMG-", 4) == 0;
            if (!skipping)
                g_string_append_len(out, line, (gssize) linelen);
        }
        pos += linelen;
    }
}

/*
 * delivery.c - the delivery agent of one gateway (see delivery.h).
 *
 * One message is delivered in three steps: settle each recipient's fate
 * (deliver_domain, one recipient domain at a time), then turn the fates
 * into files (compose: reports, the rest of the message), then log.  The
 * caller writes the files in the order the spool protocol wants (reports
 * first, the rest next, the original removed last), so a crash repeats at
 * most one attempt: reports carry IDs derived from the message's ID and
 * the attempt number, so a repeated attempt replaces them.
 *
 * TLS is decided per connection: the policy level of the (sender domain,
 * recipient domain) pair; for dane, the TLSA records of the MX host when
 * both the MX and the TLSA answers were validated, else opportunistic TLS.
 * The handshake runs with SSL_VERIFY_NONE and the result is checked after
 * it (as Postfix does), so the log can say exactly why a peer failed
 * verification, and a failure never leaves mail on the connection: it is
 * closed with QUIT before any MAIL command.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <gio/gio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lib/addr.h"
#include "lib/delivery.h"
#include "lib/dns.h"
#include "lib/dsn.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/policy.h"
#include "lib/route.h"
#include "lib/smtpc.h"
#include "lib/tls.h"

#define MAX_CONNECT_TRIES 5 /* addresses tried per domain and attempt */
/* MX hosts whose addresses are looked up per domain and attempt: a
 * domain's thousands of MX names that each time out would otherwise hold
 * the worker (and the messages behind it) for hours */
#define MAX_MX_HOSTS 10
#define MAX_RCPTS 100       /* recipients per transaction (RFC 5321 4.5.3.1.8) */
#define RECORD_PATIENCE 600 /* s a run that ends tries to write an outcome */
#define MAX_CACHED 32       /* idle connections kept */
#define MAX_DOWN 1000       /* destinations remembered as unreachable */
#define IDLE_POLL_MS 1000
#define HOLD_SCAN_S 60
#define HOLD_PEEK 1048576  /* bytes of a held file read to see if it expired */
#define LAST_MAX 300       /* bytes of a reply kept in SMG-Delivery last= */

static volatile sig_atomic_t serve_stop;

/* A cached connection. */
struct conn {
    struct smg_smtpc *c;
    char *key;      /* "domain|level" or "relay|level" */
    char *tls;      /* "TLSv1.3/verified" or "none" for the log */
    unsigned uses;
    gint64 last;    /* monotonic µs of the last use */
};

struct smg_delivery {
    const struct smg_conf *conf;
    char *name, *q_send, *q_deferred;
    char **gateways; /* the names of every [gateway NAME] of conf */
    char *bind, *helo;
    int family;       /* of bind: AF_INET, AF_INET6, AF_UNSPEC without one */
    char *relay_host; /* NULL: MX routing */
    GPtrArray *ignore; /* of GInetAddressMask: [send] ignore_target_hosts */
    gboolean relay_literal;
    gboolean watching; /* smg_delivery_serve in --watch: no end to wait for */
    unsigned relay_port, port;
    struct smg_smtpc_opts opts;
    struct smg_dns *dns;
    struct smg_policy *policy;
    SSL_CTX *ssl_ctx;
    GPtrArray *cache; /* of struct conn * */
    GHashTable *down; /* connection key -> struct down: no server reachable */
    gint64 lifetime, backoff_min, backoff_max, delay_warning, hold_expiry;
    gint64 reuse_time, reuse_limit;
    double factor;
    char *bounce_queue;
    gsize bounce_size_limit;
    time_t now;
};

enum fate { FATE_PENDING = 0, FATE_SENT, FATE_BOUNCED, FATE_DEFERRED, FATE_HELD };

/* What happened to one recipient. */
struct rstate {
    struct smg_rcpt *r;
    char *domain;
    enum fate fate;
    char dsn[16];
    int code;         /* the server's reply code, 0 for our own reasons */
    char *reply;      /* the server's reply, or our reason */
    const char *cmd;  /* the command the reply answered, or NULL */
    char *relay;      /* "host[addr]:port" or "none" */
    char *mta;        /* remote host name for the report, or NULL */
    char *tls;        /* TLS of the session, or NULL */
    gboolean tls_fail;
    gboolean soft;    /* deferred by a 4xx, or a connection lost before the dot:
                         another host may take it */
    char *note;       /* why a server's reply bounced later (expiry), or NULL */
    gboolean relayed; /* sent to a server without DSN, with NOTIFY=SUCCESS */
};

/*
 * A destination (a connection key) where no server could be reached (no
 * connection, no greeting, a DNS failure): until `until`, its other
 * messages are deferred without trying, as Postfix's queue manager
 * suspends a dead destination.  Otherwise every message to a domain whose
 * hosts drop SYNs costs MAX_CONNECT_TRIES connect time-outs, and a batch
 * of them holds the worker and all the mail behind it for hours.
 */
struct down {
    char *why;
    char dsn[16];
    char *relay, *mta;
    time_t until;
};

/* down_free - free a struct down */
static void
down_free(gpointer p)
{
    struct down *w = p;

    g_free(w->why);
    g_free(w->relay);
    g_free(w->mta);
    g_free(w);
}

/* Why a connection to one address could not be used. */
enum sess {
    SESS_OK = 0,
    SESS_TEMP,    /* connection, greeting, EHLO or DNS trouble */
    SESS_PERM,    /* a 5xx to HELO (a 5xx greeting is SESS_TEMP) */
    SESS_TLS,     /* required TLS could not be had */
};

/* ---- small helpers ---------------------------------------------------- */

time_t
smg_delivery_parse_time(const char *s)
{
    GDateTime *dt;
    time_t t;

    if (s == NULL || *s == '\0')
        return 0;
    dt = g_date_time_new_from_iso8601(s, NULL);
    if (dt == NULL)
        return 0;
    t = (time_t) g_date_time_to_unix(dt);
    g_date_time_unref(dt);
    return t;
}

char *
smg_delivery_format_time(time_t t)
{
    GDateTime *dt = g_date_time_new_from_unix_utc(t);
    char *s = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");

    g_date_time_unref(dt);
    return s;
}

gint64
smg_delivery_backoff(gint64 min, gint64 max, double factor, unsigned attempts)
{
    double w = (double) min;

    for (unsigned i = 1; i < attempts && w < (double) max; i++)
        w *= factor;
    if (w > (double) max)
        w = (double) max;
    return (gint64) w;
}

void
smg_delivery_state_clear(struct smg_delivery_state *st)
{
    g_free(st->last);
    g_free(st->gateway);
    memset(st, 0, sizeof *st);
}

void
smg_delivery_state_parse(const char *value, struct smg_delivery_state *st)
{
    char *v;

    memset(st, 0, sizeof *st);
    if (value == NULL)
        return;
    if ((v = smg_envelope_param(value, "attempts")) != NULL) {
        guint64 n = g_ascii_strtoull(v, NULL, 10);
        st->attempts = n > 100000 ? 100000 : (unsigned) n;
        g_free(v);
    }
    if ((v = smg_envelope_param(value, "first")) != NULL) {
        st->first = smg_delivery_parse_time(v);
        g_free(v);
    }
    if ((v = smg_envelope_param(value, "next")) != NULL) {
        st->next = smg_delivery_parse_time(v);
        g_free(v);
    }
    if ((v = smg_envelope_param(value, "held")) != NULL) {
        st->held = smg_delivery_parse_time(v);
        g_free(v);
    }
    if ((v = smg_envelope_param(value, "warned")) != NULL) {
        st->warned = g_ascii_strcasecmp(v, "yes") == 0;
        g_free(v);
    }
    st->last = smg_envelope_param(value, "last");
    st->gateway = smg_envelope_param(value, "gateway");
}

char *
smg_delivery_state_format(const struct smg_delivery_state *st)
{
    GString *s = g_string_new(NULL);
    char *t;

    g_string_append_printf(s, "attempts=%u", st->attempts);
    if (st->gateway != NULL)
        g_string_append_printf(s, " gateway=%s", st->gateway);
    if (st->first != 0) {
        t = smg_delivery_format_time(st->first);
        g_string_append_printf(s, " first=%s", t);
        g_free(t);
    }
    if (st->last != NULL) {
        /* one line, no quotes or backslashes inside the quoted value, and
         * no control character (DEL too): lib/envelope refuses a field
         * with one, and the file would be corrupt.  At most LAST_MAX
         * bytes, cut between characters, and UTF-8 only (an octet that is
         * not becomes '?'): a server's reply is 8-bit as it likes, and a
         * character cut in two went on into smg-queue and the expiry NDR */
        const char *p = st->last;

        g_string_append(s, " last=\"");
        for (gsize used = 0; *p != '\0';) {
            gunichar c = g_utf8_get_char_validated(p, -1);
            gsize n = (c == (gunichar) -1 || c == (gunichar) -2)
                          ? 1 : (gsize) (g_utf8_next_char(p) - p);

            if (used + n > LAST_MAX)
                break;
            if (n == 1 && (unsigned char) *p >= 0x80)
                g_string_append_c(s, '?');
            else if (*p == '"' || *p == '\\')
                g_string_append_c(s, '\'');
            else if ((unsigned char) *p < ' ' || *p == 0x7f || (c >= 0x80 && c < 0xa0))
                g_string_append_c(s, ' ');
            else
                g_string_append_len(s, p, (gssize) n);
            used += n;
            p += n;
        }
        g_string_append_c(s, '"');
    }
    if (st->next != 0) {
        t = smg_delivery_format_time(st->next);
        g_string_append_printf(s, " next=%s", t);
        g_free(t);
    }
    if (st->warned)
        g_string_append(s, " warned=yes");
    if (st->held != 0) {
        t = smg_delivery_format_time(st->held);
        g_string_append_printf(s, " held=%s", t);
        g_free(t);
    }
    return g_string_free(s, FALSE);
}

/*
 * domain_of - the lower-case domain of an address, "" if none; an
 * internationalised domain (SMTPUTF8 mail) in its ASCII form (RFC 5891
 * 5: "xn--" labels), which is what DNS holds and the TLS policy table
 * names.  A name that IDNA refuses stays as it is (and is not found).
 */
static char *
domain_of(const char *addr)
{
    const char *at = strrchr(addr, '@');

    return smg_addr_domain_key(at != NULL ? at + 1 : "");
}

/* parse_relay - "host", "host:port", "[addr]", "[addr]:port" */
static gboolean
parse_relay(const char *spec, unsigned defport, char **host, unsigned *port,
            gboolean *literal)
{
    const char *p = spec, *colon;
    char *h;

    *literal = FALSE;
    *port = defport;
    if (*p == '[') {
        const char *end = strchr(p, ']');

        if (end == NULL || end == p + 1)
            return FALSE;
        h = g_strndup(p + 1, (gsize) (end - p - 1));
        *literal = TRUE;
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] != '\0' && colon == NULL) {
            g_free(h);
            return FALSE;
        }
    } else {
        colon = strrchr(p, ':');
        h = colon != NULL ? g_strndup(p, (gsize) (colon - p)) : g_strdup(p);
    }
    if (colon != NULL) {
        char *end;
        guint64 v = g_ascii_strtoull(colon + 1, &end, 10);

        if (colon[1] == '\0' || *end != '\0' || v < 1 || v > 65535) {
            g_free(h);
            return FALSE;
        }
        *port = (unsigned) v;
    }
    if (*h == '\0') {
        g_free(h);
        return FALSE;
    }
    if (*literal) {
        unsigned char buf[16];

        if (inet_pton(AF_INET, h, buf) != 1 && inet_pton(AF_INET6, h, buf) != 1) {
            g_free(h);
            return FALSE;
        }
    }
    *host = h;
    return TRUE;
}

/* ---- set-up ----------------------------------------------------------- */

/*
 * ignore_networks - [send] ignore_target_hosts as GInetAddressMasks (an
 * empty array for a lone "none"), or NULL with err for a word that is no
 * network
 */
static GPtrArray *
ignore_networks(const struct smg_conf *conf, GError **err)
{
    char **nets = smg_conf_list(conf, "send", "ignore_target_hosts");
    GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);
    char **n = nets;

    if (n[0] != NULL && n[1] == NULL && g_ascii_strcasecmp(n[0], "none") == 0)
        n++;
    for (; *n != NULL; n++) {
        GInetAddressMask *m = g_inet_address_mask_new_from_string(*n, NULL);

        if (m == NULL) {
            smg_set_error(err, SMG_CONFIG, NULL,
                          "%s: [send] ignore_target_hosts: '%s' is not a network "
                          "(address/length) or a lone none", smg_conf_path(conf), *n);
            g_ptr_array_unref(out);
            out = NULL;
            break;
        }
        g_ptr_array_add(out, m);
    }
    g_strfreev(nets);
    return out;
}

enum smg_status
smg_delivery_new(const struct smg_conf *conf, const char *name,
                 struct smg_delivery **out, GError **err)
{
    struct smg_delivery *d;
    char **gws = smg_conf_gateways(conf);
    char *group = g_strdup_printf("gateway %s", name);
    const char *relay, *policy;
    enum smg_status st;

    *out = NULL;
    if (!g_strv_contains((const char *const *) gws, name)) {
        smg_set_error(err, SMG_CONFIG, NULL, "%s: no [gateway %s] group",
                      smg_conf_path(conf), name);
        g_strfreev(gws);
        g_free(group);
        return SMG_CONFIG;
    }
    d = g_new0(struct smg_delivery, 1);
    d->conf = conf;
    d->gateways = gws;
    d->name = g_strdup(name);
    d->q_send = g_strdup_printf("send.%s", name);
    d->q_deferred = g_strdup_printf("deferred.%s", name);
    d->bind = g_strdup(smg_conf_str(conf, group, "bind"));
    d->family = d->bind == NULL ? AF_UNSPEC : strchr(d->bind, ':') != NULL ? AF_INET6 : AF_INET;
    d->helo = g_strdup(smg_conf_str(conf, group, "helo"));
    d->port = (unsigned) smg_conf_int(conf, "send", "port");
    relay = smg_conf_str(conf, group, "relay");
    if (relay != NULL
        && !parse_relay(relay, d->port, &d->relay_host, &d->relay_port,
                        &d->relay_literal)) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s: [%s] relay: '%s' is not host, host:port, [addr] or "
                      "[addr]:port", smg_conf_path(conf), group, relay);
        goto fail;
    }
    if (d->bind == NULL && d->relay_host == NULL) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s: [%s] has neither bind nor relay", smg_conf_path(conf),
                      group);
        goto fail;
    }
    if (d->bind != NULL) {
        unsigned char buf[16];

        if (inet_pton(AF_INET, d->bind, buf) != 1
            && inet_pton(AF_INET6, d->bind, buf) != 1) {
            smg_set_error(err, SMG_CONFIG, NULL,
                          "%s: [%s] bind: '%s' is not an IP address",
                          smg_conf_path(conf), group, d->bind);
            goto fail;
        }
    }
    if (d->helo == NULL) {
        char host[256] = "localhost";

        (void) gethostname(host, sizeof host - 1);
        d->helo = g_strdup(host);
    }
    d->opts.bind = d->bind;
    d->opts.helo = d->helo;
    d->opts.connect_timeout_ms = (int) smg_conf_int(conf, "send", "connect_timeout") * 1000;
    d->opts.command_timeout_ms = (int) smg_conf_int(conf, "send", "command_timeout") * 1000;
    d->opts.data_timeout_ms = (int) smg_conf_int(conf, "send", "data_timeout") * 1000;
    d->lifetime = smg_conf_int(conf, "send", "queue_lifetime");
    d->backoff_min = smg_conf_int(conf, "send", "backoff_min");
    d->backoff_max = smg_conf_int(conf, "send", "backoff_max");
    d->factor = smg_conf_double(conf, "send", "backoff_factor");
    d->delay_warning = smg_conf_int(conf, "send", "delay_warning");
    d->hold_expiry = smg_conf_int(conf, "send", "hold_expiry");
    d->reuse_time = smg_conf_int(conf, "send", "connection_reuse_time");
    d->reuse_limit = smg_conf_int(conf, "send", "connection_reuse_limit");
    d->bounce_queue = g_strdup(smg_conf_str(conf, "send", "bounce_queue"));
    d->bounce_size_limit = (gsize) smg_conf_int(conf, "send", "bounce_size_limit");
    d->cache = g_ptr_array_new();
    d->down = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, down_free);
    d->ignore = ignore_networks(conf, err);
    if (d->ignore == NULL)
        goto fail;
    if (d->backoff_max < d->backoff_min) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s: [send] backoff_max is less than backoff_min",
                      smg_conf_path(conf));
        goto fail;
    }
    policy = smg_conf_str(conf, "send", "tls_policy");
    if (policy != NULL) {
        if ((st = smg_policy_load(policy, &d->policy, err)) != SMG_OK)
            goto fail;
    } else {
        d->policy = smg_policy_empty();
    }
    if (smg_dns_new(conf, &d->dns, err) != SMG_OK)
        goto fail;
    if (smg_tls_client_ctx(TRUE, smg_conf_str(conf, "send", "tls_ca_file"),
                           &d->ssl_ctx, err) != SMG_OK)
        goto fail;
    if (SSL_CTX_dane_enable(d->ssl_ctx) <= 0) {
        smg_set_error(err, SMG_CONFIG, NULL, "OpenSSL cannot do DANE");
        goto fail;
    }
    g_free(group);
    *out = d;
    return SMG_OK;
fail:
    g_free(group);
    smg_delivery_free(d);
    return SMG_CONFIG;
}

/* conn_free - QUIT (or just close) and free a cached connection */
static void
conn_free(struct conn *k, gboolean quit)
{
    if (k == NULL)
        return;
    if (quit)
        smg_smtpc_quit(k->c);
    else
        smg_smtpc_free(k->c);
    g_free(k->key);
    g_free(k->tls);
    g_free(k);
}

void
smg_delivery_close_all(struct smg_delivery *d)
{
    for (guint i = 0; i < d->cache->len; i++)
        conn_free(d->cache->pdata[i], TRUE);
    g_ptr_array_set_size(d->cache, 0);
}

void
smg_delivery_free(struct smg_delivery *d)
{
    if (d == NULL)
        return;
    if (d->cache != NULL) {
        smg_delivery_close_all(d);
        g_ptr_array_free(d->cache, TRUE);
    }
    if (d->down != NULL)
        g_hash_table_destroy(d->down);
    g_free(d->name);
    g_strfreev(d->gateways);
    g_free(d->q_send);
    g_free(d->q_deferred);
    g_free(d->bind);
    g_free(d->helo);
    g_free(d->relay_host);
    if (d->ignore != NULL)
        g_ptr_array_unref(d->ignore);
    g_free(d->bounce_queue);
    smg_dns_free(d->dns);
    smg_policy_free(d->policy);
    if (d->ssl_ctx != NULL)
        SSL_CTX_free(d->ssl_ctx);
    g_free(d);
}

void
smg_delivery_set_now(struct smg_delivery *d, time_t now)
{
    d->now = now;
}

time_t
smg_delivery_now(const struct smg_delivery *d)
{
    return d->now != 0 ? d->now : time(NULL);
}

const char *
smg_delivery_queue_send(const struct smg_delivery *d)
{
    return d->q_send;
}

const char *
smg_delivery_queue_deferred(const struct smg_delivery *d)
{
    return d->q_deferred;
}

guint
smg_delivery_idle(struct smg_delivery *d)
{
    gint64 now = g_get_monotonic_time();

    for (guint i = d->cache->len; i > 0; i--) {
        struct conn *k = d->cache->pdata[i - 1];

        if (now - k->last >= d->reuse_time * G_USEC_PER_SEC) {
            g_ptr_array_remove_index(d->cache, i - 1);
            conn_free(k, TRUE);
        }
    }
    return d->cache->len;
}

/* cache_take - remove and return a cached connection for key, or NULL */
static struct conn *
cache_take(struct smg_delivery *d, const char *key)
{
    gint64 now = g_get_monotonic_time();

    for (guint i = 0; i < d->cache->len; i++) {
        struct conn *k = d->cache->pdata[i];

        if (strcmp(k->key, key) != 0)
            continue;
        g_ptr_array_remove_index(d->cache, i);
        if (now - k->last >= d->reuse_time * G_USEC_PER_SEC
            || !smg_smtpc_usable(k->c)) {
            conn_free(k, TRUE);
            return NULL;
        }
        return k;
    }
    return NULL;
}

/* cache_put - keep k for reuse if it may serve more, else QUIT it */
static void
cache_put(struct smg_delivery *d, struct conn *k)
{
    k->last = g_get_monotonic_time();
    if (d->reuse_time == 0 || !smg_smtpc_usable(k->c)
        || (gint64) k->uses >= d->reuse_limit) {
        conn_free(k, smg_smtpc_usable(k->c));
        return;
    }
    if (d->cache->len >= MAX_CACHED) {
        conn_free(d->cache->pdata[0], TRUE);
        g_ptr_array_remove_index(d->cache, 0);
    }
    g_ptr_array_add(d->cache, k);
}

/* ---- one connection ----------------------------------------------------- */

/* make_ssl - an SSL object for host at level (tlsa: DANE records or NULL) */
static SSL *
make_ssl(struct smg_delivery *d, enum smg_policy_level level, const char *host,
         GPtrArray *tlsa, unsigned *usable)
{
    SSL *ssl = SSL_new(d->ssl_ctx);

    *usable = 0;
    if (ssl == NULL)
        return NULL;
    SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    /* an address literal (a relay given as [192.0.2.1]) is no server name
     * (RFC 6066 section 3), and verify checks the certificate's IP
     * addresses for it, not its DNS names */
    if (!g_hostname_is_ip_address(host))
        SSL_set_tlsext_host_name(ssl, host);
    if (level == SMG_POLICY_VERIFY) {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (g_hostname_is_ip_address(host))
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
        else
            SSL_set1_host(ssl, host);
    } else if (level == SMG_POLICY_DANE && tlsa != NULL) {
        if (SSL_dane_enable(ssl, host) <= 0) {
            SSL_free(ssl);
            return NULL;
        }
        /* RFC 7672 3.1.1: DANE-EE(3) binds the key, not a name */
        SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
        for (guint i = 0; i < tlsa->len; i++) {
            const struct smg_dns_tlsa *t = tlsa->pdata[i];

            /* RFC 7672 3.1.3: PKIX-TA(0) and PKIX-EE(1) are unusable */
            if (t->usage < 2)
                continue;
            if (SSL_dane_tlsa_add(ssl, t->usage, t->selector, t->mtype, t->data,
                                  t->len) > 0)
                (*usable)++;
        }
    }
    return ssl;
}

/*
 * tls_check - after the handshake: whether the peer passed the level's
 * checks; *why (new) when not.  *desc gets "TLSv1.3/dane" etc.
 */
static gboolean
tls_check(SSL *ssl, enum smg_policy_level level, const char *host, char **why,
          char **desc)
{
    long vr = SSL_get_verify_result(ssl);
    const char *auth = "untrusted";
    gboolean ok = TRUE;

    if (level == SMG_POLICY_DANE) {
        if (SSL_get0_dane_authority(ssl, NULL, NULL) < 0 || vr != X509_V_OK) {
            *why = g_strdup_printf("no TLSA record of %s matched its "
                                   "certificate (%s)",
                                   host, X509_verify_cert_error_string(vr));
            ok = FALSE;
        }
        auth = "dane";
    } else if (level == SMG_POLICY_VERIFY) {
        if (vr != X509_V_OK) {
            *why = g_strdup_printf("certificate of %s not verified: %s", host,
                                   X509_verify_cert_error_string(vr));
            ok = FALSE;
        }
        auth = "verified";
    } else if (vr == X509_V_OK) {
        auth = "trusted";
    }
    *desc = g_strdup_printf("%s/%s", SSL_get_version(ssl), ok ? auth : "failed");
    return ok;
}

/*
 * session_error - *why (new) and dsn from err, whose message is
 * "D.D.D text": the code is kept apart
 */
static void
session_error(const GError *err, char **why, char *dsn)
{
    const char *sp = strchr(err->message, ' ');

    if (strlen(err->message) > 6 && err->message[1] == '.' && sp != NULL) {
        g_strlcpy(dsn, err->message, MIN((gsize) 16, (gsize) (sp - err->message + 1)));
        *why = g_strdup(sp + 1);
    } else {
        *why = g_strdup(err->message);
    }
}

/*
 * open_session - connect to addr of host, EHLO, and STARTTLS as level asks
 * (tlsa: the host's usable DANE records, or NULL).  On SESS_OK *out is a
 * new connection; otherwise *why (new), *dsn and *code say what failed.
 */
static enum sess
open_session(struct smg_delivery *d, enum smg_policy_level level,
             const char *host, const char *addr, unsigned port, GPtrArray *tlsa,
             struct conn **out, char **why, char *dsn, int *code)
{
    struct smg_smtpc *c = NULL;
    GError *err = NULL;
    enum smg_status st;
    char *desc = NULL;
    unsigned usable = 0;
    SSL *ssl;

    *out = NULL;
    *code = 0;
    st = smg_smtpc_connect(&d->opts, host, addr, port, &c, &err);
    if (st != SMG_OK) {
        /* A 5xx greeting is skipped like a 4xx one, and defers when every
         * host gives it, as Postfix does (smtp_skip_5xx_greeting = yes):
         * it is mostly a server refusing the client's address (a DNSBL
         * listing of this gateway, a misconfiguration), which says
         * nothing about the recipients and may pass; the queue lifetime
         * still ends it */
        session_error(err, why, dsn);
        dsn[0] = '4';
        g_clear_error(&err);
        return SESS_TEMP;
    }
    st = smg_smtpc_ehlo(c, &err);
    if (st != SMG_OK) {
        session_error(err, why, dsn);
        g_clear_error(&err);
        smg_smtpc_free(c);
        return st == SMG_PERMFAIL ? SESS_PERM : SESS_TEMP;
    }
    if (level == SMG_POLICY_NONE)
        goto plain;
    if (!smg_smtpc_has(c, "STARTTLS")) {
        if (level == SMG_POLICY_MAY)
            goto plain;
        *why = g_strdup_printf("TLS is required, but was not offered by %s",
                               smg_smtpc_peer(c));
        g_strlcpy(dsn, "4.7.10", 16);
        smg_smtpc_quit(c);
        return SESS_TLS;
    }
    ssl = make_ssl(d, level, host, tlsa, &usable);
    if (ssl == NULL) {
        *why = g_strdup("cannot set up TLS");
        g_strlcpy(dsn, "4.7.5", 16);
        smg_smtpc_quit(c);
        return level == SMG_POLICY_MAY ? SESS_TEMP : SESS_TLS;
    }
    if (level == SMG_POLICY_DANE && tlsa != NULL && usable == 0)
        level = SMG_POLICY_ENCRYPT; /* RFC 7672 2.2: mandatory, unauthenticated */
    if ((st = smg_smtpc_starttls(c, ssl, &err)) != SMG_OK) {
        char *reason = NULL;

        if (level != SMG_POLICY_MAY && smg_smtpc_ssl(c) != NULL) {
            /* the handshake was done and EHLO over TLS failed (a 421, a
             * time-out, a lost connection): when the peer passed the
             * level's checks, TLS was had and this is an ordinary
             * failure of the session, not one for the policy's action
             * (reject would bounce, hold would hold, for a 421) */
            if (tls_check(smg_smtpc_ssl(c), level, host, &reason, &desc)) {
                g_free(desc);
                session_error(err, why, dsn);
                g_clear_error(&err);
                smg_smtpc_free(c);
                return st == SMG_PERMFAIL ? SESS_PERM : SESS_TEMP;
            }
            g_clear_pointer(&desc, g_free);
        }
        if (reason == NULL)
            reason = g_strdup(err->message);
        g_clear_error(&err);
        smg_smtpc_free(c);
        if (level == SMG_POLICY_MAY) {
            /* opportunistic: try again in clear, as Postfix does */
            smg_log_info("%s[%s]:%u: TLS failed (%s), retrying without TLS", host,
                         addr, port, reason);
            g_free(reason);
            return open_session(d, SMG_POLICY_NONE, host, addr, port, NULL, out,
                                why, dsn, code);
        }
        *why = g_strdup_printf("TLS could not be established with %s[%s]:%u: %s",
                               host, addr, port, reason);
        g_strlcpy(dsn, "4.7.5", 16);
        g_free(reason);
        return SESS_TLS;
    }
    if (!tls_check(smg_smtpc_ssl(c), level, host, why, &desc)) {
        char *w = g_strdup_printf("TLS could not be established with %s: %s",
                                  smg_smtpc_peer(c), *why);

        g_free(*why);
        *why = w;
        g_strlcpy(dsn, "4.7.5", 16);
        g_free(desc);
        smg_smtpc_quit(c);
        return SESS_TLS;
    }
    *out = g_new0(struct conn, 1);
    (*out)->c = c;
    (*out)->tls = desc;
    return SESS_OK;
plain:
    *out = g_new0(struct conn, 1);
    (*out)->c = c;
    (*out)->tls = g_strdup("none");
    return SESS_OK;
}

/* ---- one domain ------------------------------------------------------- */

/* settle - set a recipient's fate */
static void
settle(struct rstate *s, enum fate fate, const char *dsn, int code,
       const char *reply, const char *cmd, const char *relay, const char *mta,
       const char *tls)
{
    s->fate = fate;
    s->soft = FALSE;
    g_strlcpy(s->dsn, dsn, sizeof s->dsn);
    s->code = code;
    g_free(s->reply);
    s->reply = g_strdup(reply);
    s->cmd = cmd;
    g_free(s->relay);
    s->relay = g_strdup(relay != NULL ? relay : "none");
    g_free(s->mta);
    s->mta = g_strdup(mta);
    g_free(s->tls);
    s->tls = g_strdup(tls);
}

/* settle_all - the same fate for every pending recipient of group */
static void
settle_all(GPtrArray *group, enum fate fate, const char *dsn, const char *why,
           const char *relay, const char *mta, gboolean tls_fail)
{
    for (guint i = 0; i < group->len; i++) {
        struct rstate *s = group->pdata[i];

        if (s->fate != FATE_PENDING)
            continue;
        settle(s, fate, dsn, 0, why, NULL, relay, mta, NULL);
        s->tls_fail = tls_fail;
    }
}

/*
 * keep_family - keep in addrs the addresses of one family (v6: IPv6), the
 * one a gateway bound to an address can reach: IPv6 ones are beyond an
 * IPv4 address, and the reverse.  They
 * would fail at once and count as tries and as temporary failures, so
 * that with a dual-stack MX a TLS policy's reject or hold (which needs
 * every host to have failed for want of TLS) would never apply.
 */
static void
keep_family(gboolean v6, GPtrArray *addrs)
{
    for (guint i = addrs->len; i-- > 0;)
        if ((strchr(addrs->pdata[i], ':') != NULL) != v6)
            g_ptr_array_remove_index(addrs, i);
}

/*
 * ignored - whether the address text a is in [send] ignore_target_hosts;
 * an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is taken as its IPv4 one,
 * which is where a connection to it goes
 */
static gboolean
ignored(const struct smg_delivery *d, const char *a)
{
    GInetAddress *ia = g_inet_address_new_from_string(a);
    gboolean hit = FALSE;

    if (ia == NULL)
        return FALSE;
    if (g_inet_address_get_family(ia) == G_SOCKET_FAMILY_IPV6) {
        static const guint8 mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        const guint8 *b = g_inet_address_to_bytes(ia);

        if (memcmp(b, mapped, sizeof mapped) == 0) {
            GInetAddress *v4 = g_inet_address_new_from_bytes(b + 12, G_SOCKET_FAMILY_IPV4);

            g_object_unref(ia);
            ia = v4;
        }
    }
    for (guint i = 0; i < d->ignore->len && !hit; i++)
        hit = g_inet_address_mask_matches(d->ignore->pdata[i], ia);
    g_object_unref(ia);
    return hit;
}

/*
 * drop_ignored - take the ignored addresses out of addrs; the first of
 * them (a new string) or NULL if none was
 */
static char *
drop_ignored(const struct smg_delivery *d, GPtrArray *addrs)
{
    char *first = NULL;

    for (guint i = addrs->len; i-- > 0;) {
        if (!ignored(d, addrs->pdata[i]))
            continue;
        g_free(first);
        first = g_strdup(addrs->pdata[i]);
        g_ptr_array_remove_index(addrs, i);
    }
    return first;
}

/* fate_of - the fate a server reply code means */
static enum fate
fate_of(int code)
{
    if (code >= 200 && code < 300)
        return FATE_SENT;
    if (code >= 500)
        return FATE_BOUNCED;
    return FATE_DEFERRED;
}

/*
 * transact - send the message to group's pending recipients on k (in
 * chunks of MAX_RCPTS), with params as its MAIL parameters.  FALSE when
 * the connection died before the server said anything about any
 * recipient (a stale cached connection), in which case the recipients
 * stay pending.
 */
static gboolean
transact(struct smg_delivery *d, struct conn *k, GPtrArray *group,
         const struct smg_envelope *env, const char *params, const GString *wire)
{
    GPtrArray *pend = g_ptr_array_new();
    gboolean spoke = FALSE;

    for (guint i = 0; i < group->len; i++) {
        struct rstate *s = group->pdata[i];

        if (s->fate == FATE_PENDING || (s->fate == FATE_DEFERRED && s->soft))
            g_ptr_array_add(pend, s);
    }
    for (guint off = 0, n = 0; off < pend->len && smg_smtpc_usable(k->c); off += n) {
        n = MIN(pend->len - off, (guint) MAX_RCPTS);
        struct smg_smtpc_rcpt *rc = g_new0(struct smg_smtpc_rcpt, n);
        GError *err = NULL;
        enum smg_status st;
        gboolean any = FALSE, closing = TRUE;
        guint sent = 0;

        for (guint i = 0; i < n; i++) {
            struct rstate *s = pend->pdata[off + i];
            rc[i].addr = s->r->addr;
            rc[i].params = s->r->params;
        }
        st = smg_smtpc_send(k->c, env->sender, params, rc, n,
                            wire->str, wire->len, &err);
        g_clear_error(&err);
        /* a reply, or a message that may have arrived: a server that
         * never answered the final dot of a whole message must not get
         * it again on a new connection now */
        for (guint i = 0; i < n; i++) {
            if (rc[i].reply.code != 0 || rc[i].reply.after_dot)
                any = TRUE;
            if (rc[i].reply.code != 421 || rc[i].reply.cmd == NULL
                || strcmp(rc[i].reply.cmd, "MAIL FROM") != 0)
                closing = FALSE;
        }
        if (((st != SMG_OK && !any) || closing) && !spoke && k->uses > 0) {
            /* the server dropped an idle connection, or said it would
             * (421 to the MAIL that reused it): not their verdict */
            smg_smtpc_rcpts_clear(rc, n);
            g_free(rc);
            g_ptr_array_free(pend, TRUE);
            return FALSE;
        }
        spoke = TRUE;
        for (guint i = 0; i < n; i++) {
            struct rstate *s = pend->pdata[off + i];

            settle(s, rc[i].reply.code != 0 ? fate_of(rc[i].reply.code)
                                            : FATE_DEFERRED,
                   rc[i].reply.dsn, rc[i].reply.code, rc[i].reply.text,
                   rc[i].reply.cmd, smg_smtpc_peer(k->c), smg_smtpc_host(k->c),
                   k->tls);
            if (s->fate == FATE_SENT) {
                sent++;
                /* NOTIFY=SUCCESS cannot go on to a server without DSN:
                 * this gateway tells the sender itself (RFC 3461 5.2.2) */
                s->relayed = !smg_smtpc_has(k->c, "DSN")
                             && smg_dsn_wants(s->r->params, SMG_DSN_RELAYED);
            } else if (s->fate == FATE_DEFERRED && s->cmd != NULL && s->code / 100 == 4)
                s->soft = TRUE;
            else if (s->fate == FATE_DEFERRED && rc[i].reply.code == 0
                     && !rc[i].reply.after_dot)
                /* the connection was lost or timed out before the whole
                 * message was sent: no verdict, and the next host cannot
                 * make a duplicate.  After the dot the server may have
                 * it, and the recipients wait for the next attempt. */
                s->soft = TRUE;
        }
        /* 452 4.5.3 "too many recipients" after some were taken: the rest
         * go in another transaction now (RFC 5321 4.5.3.1.10), not after
         * a back-off; each round delivers some, so this ends */
        for (guint i = 0; i < n && sent > 0; i++) {
            struct rstate *s = pend->pdata[off + i];

            if (s->fate == FATE_DEFERRED && s->code == 452 && strcmp(s->dsn, "4.5.3") == 0
                && s->cmd != NULL && strcmp(s->cmd, "RCPT TO") == 0) {
                s->fate = FATE_PENDING;
                s->soft = FALSE;
                g_ptr_array_add(pend, s);
            }
        }
        smg_smtpc_rcpts_clear(rc, n);
        g_free(rc);
    }
    k->uses++;
    g_ptr_array_free(pend, TRUE);
    (void) d;
    return TRUE;
}

/*
 * precheck - reasons the server cannot take the message, whatever it
 * says: too big for its SIZE (the size of wire as smg_smtpc_size counts
 * it), or SMTPUTF8 needed and not offered.  TRUE when the group's
 * recipients were settled (bounced) here.
 */
static gboolean
precheck(struct conn *k, GPtrArray *group, const struct smg_envelope *env,
         const GString *wire)
{
    gsize size = smg_smtpc_size(wire->str, wire->len);
    const char *peer = smg_smtpc_peer(k->c);
    gboolean utf8 = smg_addr_has_8bit(env->sender);
    char *why = NULL;
    const char *dsn = NULL;

    for (guint i = 0; i < group->len && !utf8; i++)
        utf8 = smg_addr_has_8bit(((struct rstate *) group->pdata[i])->r->addr);
    if (utf8 && smg_envelope_has_word(env->sender_params, "SMTPUTF8")
        && !smg_smtpc_has(k->c, "SMTPUTF8")) {
        why = g_strdup_printf("SMTPUTF8 is required, but was not offered by %s", peer);
        dsn = "5.6.7";
    }
    if (why == NULL) {
        const char *limit = smg_smtpc_ext_value(k->c, "SIZE");
        guint64 max = limit != NULL ? g_ascii_strtoull(limit, NULL, 10) : 0;

        /* SIZE 0 or without a number: no fixed limit (RFC 1870) */
        if (max > 0 && size > max) {
            why = g_strdup_printf("message size %" G_GSIZE_FORMAT " exceeds the "
                                  "limit %" G_GUINT64_FORMAT " of %s",
                                  size, max, peer);
            dsn = "5.3.4";
        }
    }
    if (why == NULL)
        return FALSE;
    for (guint i = 0; i < group->len; i++) {
        struct rstate *s = group->pdata[i];

        if (s->fate == FATE_PENDING)
            settle(s, FATE_BOUNCED, dsn, 0, why, NULL, peer, smg_smtpc_host(k->c),
                   k->tls);
    }
    g_free(why);
    return TRUE;
}

/*
 * soft_left - whether a server's 4xx, or a connection lost before the
 * whole message was sent, left recipients of group for another host.  As
 * in Postfix, a soft error at one MX host is no verdict while another is
 * left to try (a greylisting primary, a full spool, a host that drops
 * connections): the next session sends to them again, and their 4xx
 * stands if none takes them.
 */
static gboolean
soft_left(const GPtrArray *group)
{
    for (guint i = 0; i < group->len; i++)
        if (((const struct rstate *) group->pdata[i])->soft)
            return TRUE;
    return FALSE;
}

/* A host to try: its name and, once looked up, its addresses. */
struct host {
    char *name;
    gboolean literal; /* name is an address */
};

/* host_free - free a struct host */
static void
host_free(gpointer p)
{
    struct host *h = p;

    g_free(h->name);
    g_free(h);
}

/*
 * destination - the hosts to try for domain, in order.  Returns SESS_OK
 * with *hosts, or SESS_TEMP / SESS_PERM with *why and *dsn.  *mx_secure:
 * the MX answer was validated (only asked when dane).
 */
static enum sess
destination(struct smg_delivery *d, const char *domain, gboolean dane,
            GPtrArray **hosts, gboolean *mx_secure, char **why, char *dsn)
{
    GPtrArray *mx = NULL;
    ldns_pkt_rcode rc = LDNS_RCODE_NOERROR;
    GError *err = NULL;
    struct host *h;

    *hosts = g_ptr_array_new_with_free_func(host_free);
    *mx_secure = FALSE;
    if (d->relay_host != NULL) {
        h = g_new0(struct host, 1);
        h->name = g_strdup(d->relay_host);
        h->literal = d->relay_literal;
        g_ptr_array_add(*hosts, h);
        *mx_secure = TRUE; /* no MX indirection: the relay's TLSA decide */
        return SESS_OK;
    }
    if (domain[0] == '[') {
        /* the domain is lower-cased by now ("[ipv6:...]"), and RFC 5321's
         * "IPv6:" tag is case-insensitive anyway (RFC 5234 2.3): read
         * it as smg-recv's parser did */
        char *lit = smg_addr_literal_ip(domain, NULL);

        if (lit == NULL) {
            *why = g_strdup_printf("bad address literal %s", domain);
            g_strlcpy(dsn, "5.1.2", 16);
            return SESS_PERM;
        }
        h = g_new0(struct host, 1);
        h->name = lit;
        h->literal = TRUE;
        g_ptr_array_add(*hosts, h);
        return SESS_OK;
    }
    if (*domain == '\0') {
        *why = g_strdup("recipient address has no domain");
        g_strlcpy(dsn, "5.1.3", 16);
        return SESS_PERM;
    }
    if (smg_dns_mx(d->dns, domain, &mx, &rc, &err) != SMG_OK) {
        enum sess s = smg_error_status(err) == SMG_PERMFAIL ? SESS_PERM : SESS_TEMP;

        *why = g_strdup(strchr(err->message, ' ') != NULL
                            ? strchr(err->message, ' ') + 1 : err->message);
        g_strlcpy(dsn, s == SESS_PERM ? "5.1.2" : "4.4.3", 16);
        g_clear_error(&err);
        return s;
    }
    if (rc == LDNS_RCODE_NXDOMAIN) {
        *why = g_strdup_printf("Host or domain name not found: %s does not exist",
                               domain);
        g_strlcpy(dsn, "5.1.2", 16);
        g_ptr_array_unref(mx);
        return SESS_PERM;
    }
    /* A null MX anywhere in the set, as Postfix reads it (dns_get_rr:
     * DNS_NULLMX for any MX whose exchange is the root, whatever its
     * preference and whatever else is there): RFC 7505 3 forbids other MX
     * records beside it, so such a domain is broken, and the answer must
     * not depend on where the shuffle of equal preferences put the "." */
    for (guint i = 0; i < mx->len; i++) {
        if (strcmp(((struct smg_dns_mx *) mx->pdata[i])->host, ".") == 0) {
            *why = g_strdup_printf("Domain %s does not accept mail (null MX)", domain);
            g_strlcpy(dsn, "5.1.10", 16);
            g_ptr_array_unref(mx);
            return SESS_PERM;
        }
    }
    if (dane && mx->len > 0) {
        ldns_pkt *pkt = NULL;

        if (smg_dns_query_ad(d->dns, domain, LDNS_RR_TYPE_MX, &pkt, mx_secure,
                             &err) != SMG_OK) {
            *why = g_strdup(strchr(err->message, ' ') + 1);
            g_strlcpy(dsn, "4.4.3", 16);
            g_clear_error(&err);
            g_ptr_array_unref(mx);
            return SESS_TEMP;
        }
        ldns_pkt_free(pkt);
    }
    for (guint i = 0; i < mx->len; i++) {
        const struct smg_dns_mx *m = mx->pdata[i];

        h = g_new0(struct host, 1);
        h->name = g_strdup(m->host);
        g_ptr_array_add(*hosts, h);
    }
    if (mx->len == 0) { /* RFC 5321 5.1: the implicit MX */
        h = g_new0(struct host, 1);
        h->name = g_strdup(domain);
        g_ptr_array_add(*hosts, h);
        *mx_secure = TRUE; /* no MX indirection to validate */
    }
    g_ptr_array_unref(mx);
    return SESS_OK;
}

/*
 * host_tlsa - for dane: the validated TLSA records of host (*tlsa, NULL
 * when none or not validated).  SESS_TEMP with *why when the lookup fails.
 */
static enum sess
host_tlsa(struct smg_delivery *d, const char *host, unsigned port,
          GPtrArray **tlsa, char **why)
{
    GPtrArray *recs = NULL;
    gboolean secure = FALSE;
    GError *err = NULL;

    *tlsa = NULL;
    if (smg_dns_tlsa(d->dns, host, port, &recs, &secure, NULL, &err) != SMG_OK) {
        *why = g_strdup_printf("TLSA lookup for %s: %s", host,
                               strchr(err->message, ' ') != NULL
                                   ? strchr(err->message, ' ') + 1 : err->message);
        g_clear_error(&err);
        return SESS_TEMP;
    }
    if (secure && recs->len > 0)
        *tlsa = recs;
    else
        g_ptr_array_unref(recs);
    return SESS_OK;
}

/* down_expired - GHRFunc: whether a struct down has run out at *now */
static gboolean
down_expired(gpointer key, gpointer value, gpointer now)
{
    (void) key;
    return ((struct down *) value)->until <= *(time_t *) now;
}

/*
 * down_note - remember that no server of destination key could be
 * reached, for backoff_min (the wait before a deferred message's next
 * attempt)
 */
static void
down_note(struct smg_delivery *d, const char *key, const char *why, const char *dsn,
          const char *relay, const char *mta)
{
    time_t now = smg_delivery_now(d);
    struct down *w;

    if (d->backoff_min <= 0)
        return;
    if (g_hash_table_size(d->down) >= MAX_DOWN) {
        g_hash_table_foreach_remove(d->down, down_expired, &now);
        if (g_hash_table_size(d->down) >= MAX_DOWN)
            g_hash_table_remove_all(d->down);
    }
    w = g_new0(struct down, 1);
    w->why = g_strdup(why);
    g_strlcpy(w->dsn, dsn, sizeof w->dsn);
    w->dsn[0] = '4';
    w->relay = g_strdup(relay);
    w->mta = g_strdup(mta);
    w->until = now + (time_t) d->backoff_min;
    g_hash_table_replace(d->down, g_strdup(key), w);
}

/*
 * down_check - when destination key is remembered as unreachable, defer
 * group's pending recipients with that reason and return TRUE
 */
static gboolean
down_check(struct smg_delivery *d, const char *key, GPtrArray *group)
{
    struct down *w = g_hash_table_lookup(d->down, key);
    char *why;

    if (w == NULL)
        return FALSE;
    if (w->until <= smg_delivery_now(d)) {
        g_hash_table_remove(d->down, key);
        return FALSE;
    }
    why = g_strdup_printf("delivery temporarily suspended: %s", w->why);
    settle_all(group, FATE_DEFERRED, w->dsn, why, w->relay, w->mta, FALSE);
    g_free(why);
    return TRUE;
}

/*
 * skipped_host - a host skipped without a connection (no address, none of
 * this gateway's family): its reason what (taken) and code become *why
 * and dsn while no connection was tried (tries), else the reason of the
 * connection tried stays: that host's failure is what the recipients
 * are told, and what the TLS policy's action acts on
 */
static void
skipped_host(char **why, char *what, char *dsn, const char *code, unsigned tries)
{
    if (tries > 0) {
        g_free(what);
        return;
    }
    g_free(*why);
    *why = what;
    g_strlcpy(dsn, code, 16);
}

/* deliver_domain - settle the fate of every recipient in group */
static void
deliver_domain(struct smg_delivery *d, const char *domain, GPtrArray *group,
               const struct smg_envelope *env, const char *params, const GString *wire,
               const char *sender_domain)
{
    struct smg_policy_rule rule = smg_policy_lookup(d->policy, sender_domain, domain);
    enum smg_policy_level level = rule.level;
    char *key = g_strdup_printf("%s|%s", d->relay_host != NULL ? "relay" : domain,
                                smg_policy_level_name(level));
    GPtrArray *hosts = NULL;
    struct conn *k;
    gboolean mx_secure = FALSE;
    char *why = NULL, *last_relay = NULL, *last_mta = NULL;
    char *skip = NULL; /* "host[addr]:port" just tried on a cached connection */
    char dsn[16] = "4.4.1";
    unsigned tries = 0, tls_fails = 0, temp_fails = 0, perm_fails = 0;
    unsigned no_addr = 0, other_family = 0;
    guint h = 0;
    gboolean spoke = FALSE; /* a server took a session (this attempt) */
    enum sess s;

    /* a cached connection first */
    while ((k = cache_take(d, key)) != NULL) {
        if (precheck(k, group, env, wire) || transact(d, k, group, env, params, wire)) {
            if (!soft_left(group)) {
                cache_put(d, k);
                goto done;
            }
            /* the other hosts, from the MX lookup on, but not this one again */
            skip = g_strdup(smg_smtpc_peer(k->c));
            cache_put(d, k);
            temp_fails++; /* a host spoke: no later failure decides for all */
            break;
        }
        conn_free(k, FALSE);
    }
    if (skip == NULL && down_check(d, key, group))
        goto done;
    s = destination(d, domain, level == SMG_POLICY_DANE, &hosts, &mx_secure, &why, dsn);
    if (s != SESS_OK) {
        settle_all(group, s == SESS_PERM ? FATE_BOUNCED : FATE_DEFERRED, dsn, why,
                   NULL, NULL, FALSE);
        if (s == SESS_TEMP && skip == NULL)
            down_note(d, key, why, dsn, NULL, NULL);
        goto done;
    }
    for (h = 0; h < hosts->len && h < MAX_MX_HOSTS && tries < MAX_CONNECT_TRIES; h++) {
        const struct host *host = hosts->pdata[h];
        unsigned port = d->relay_host != NULL ? d->relay_port : d->port;
        GPtrArray *addrs = NULL, *tlsa = NULL;
        enum smg_policy_level hl = level;
        GError *err = NULL;
        ldns_pkt_rcode rc;

        if (host->literal) {
            addrs = g_ptr_array_new_with_free_func(g_free);
            g_ptr_array_add(addrs, g_strdup(host->name));
        } else if (smg_dns_addrs(d->dns, host->name, d->family, &addrs, &rc, &err)
                   != SMG_OK) {
            g_free(why);
            why = g_strdup_printf("%s", strchr(err->message, ' ') != NULL
                                            ? strchr(err->message, ' ') + 1
                                            : err->message);
            g_strlcpy(dsn, "4.4.3", sizeof dsn);
            g_clear_error(&err);
            temp_fails++;
            continue;
        }
        if (d->relay_host == NULL && d->ignore->len > 0) {
            /* (a relay host is the operator's own choice, often inside) */
            char *first = drop_ignored(d, addrs);

            if (first != NULL && addrs->len == 0) {
                char *skipped = g_strdup_printf("%s has no address outside [send] "
                                                "ignore_target_hosts (%s)",
                                                host->name, first);

                smg_log_info("%s: %s", domain, skipped);
                skipped_host(&why, skipped, dsn, "5.4.4", tries);
                no_addr++;
                g_free(first);
                g_ptr_array_unref(addrs);
                continue;
            }
            g_free(first);
        }
        if (addrs->len > 0 && d->family != AF_UNSPEC) {
            gboolean v6 = d->family == AF_INET6;

            keep_family(v6, addrs);
            if (addrs->len == 0) {
                /* addresses of the other family only: not this gateway's
                 * to reach, and no verdict on the recipients (nor a bounce) */
                skipped_host(&why, g_strdup_printf("no IPv%c address for %s", v6 ? '6' : '4',
                                                   host->name),
                             dsn, "4.4.4", tries);
                other_family++;
                g_ptr_array_unref(addrs);
                continue;
            }
        } else if (addrs->len == 0) {
            /* DNS says the host has no address: a verdict once every
             * host is found so (below) */
            skipped_host(&why, g_strdup_printf("Host or domain name not found: no "
                                               "address for %s", host->name),
                         dsn, "5.1.2", tries);
            no_addr++;
            g_ptr_array_unref(addrs);
            continue;
        }
        if (level == SMG_POLICY_DANE) {
            if (!mx_secure || host->literal) {
                hl = SMG_POLICY_MAY;
            } else {
                g_clear_pointer(&why, g_free); /* an earlier host's reason */
                if (host_tlsa(d, host->name, port, &tlsa, &why) != SESS_OK) {
                    g_strlcpy(dsn, "4.4.3", sizeof dsn);
                    temp_fails++;
                    g_ptr_array_unref(addrs);
                    continue;
                }
                if (tlsa == NULL)
                    hl = SMG_POLICY_MAY;
            }
        }
        for (guint a = 0; a < addrs->len && tries < MAX_CONNECT_TRIES; a++) {
            char *relay = g_strdup_printf("%s[%s]:%u", host->name,
                                          (const char *) addrs->pdata[a], port);
            int code = 0;

            if (skip != NULL && strcmp(relay, skip) == 0) {
                g_free(relay);
                continue;
            }
            tries++;
            g_free(why);
            why = NULL;
            s = open_session(d, hl, host->name, addrs->pdata[a], port, tlsa, &k,
                             &why, dsn, &code);
            g_free(last_relay);
            last_relay = relay;
            g_free(last_mta);
            last_mta = g_strdup(host->name);
            if (s == SESS_OK) {
                spoke = TRUE;
                k->key = g_strdup(key);
                if (!precheck(k, group, env, wire))
                    (void) transact(d, k, group, env, params, wire);
                cache_put(d, k);
                if (soft_left(group)) {
                    temp_fails++; /* a host spoke: see the cached case */
                    continue; /* the next address or host */
                }
                if (tlsa != NULL)
                    g_ptr_array_unref(tlsa);
                g_ptr_array_unref(addrs);
                goto done;
            }
            smg_log_info("%s: %s", last_relay, why);
            if (s == SESS_TLS)
                tls_fails++;
            else if (s == SESS_PERM)
                perm_fails++;
            else
                temp_fails++;
        }
        if (tlsa != NULL)
            g_ptr_array_unref(tlsa);
        g_ptr_array_unref(addrs);
    }
    if (no_addr > 0) {
        /* Every host without an address: nothing to deliver to, as for a
         * domain without one (Postfix bounces it too).  Hosts left
         * unasked (the limits) might have one, one of the other family
         * only is no verdict (see above); and a relay host is this
         * gateway's own setting (a typo, a DNS glitch), never a reason to
         * bounce everything sent through it.  Beside hosts that failed
         * for want of TLS they are skipped hosts, no verdict of their
         * own: the TLS policy's action decides. */
        if (h == hosts->len && other_family == 0 && d->relay_host == NULL) {
            if (tls_fails == 0)
                perm_fails += no_addr;
        } else {
            temp_fails += no_addr;
            if (strcmp(dsn, "5.1.2") == 0 || strcmp(dsn, "5.4.4") == 0)
                g_strlcpy(dsn, "4.4.4", sizeof dsn);
        }
    }
    if (why == NULL) {
        why = g_strdup_printf("no host to deliver to for %s", domain);
        temp_fails++;
    }
    if (tls_fails > 0 && temp_fails == 0 && perm_fails == 0) {
        switch (rule.action) {
        case SMG_POLICY_REJECT:
            settle_all(group, FATE_BOUNCED, "5.7.10", why, last_relay, last_mta, TRUE);
            break;
        case SMG_POLICY_HOLD:
            settle_all(group, FATE_HELD, "4.7.10", why, last_relay, last_mta, TRUE);
            break;
        case SMG_POLICY_DEFER:
            settle_all(group, FATE_DEFERRED, "4.7.10", why, last_relay, last_mta, TRUE);
            break;
        }
    } else if (perm_fails > 0 && temp_fails == 0 && tls_fails == 0 && d->relay_host == NULL) {
        /* (a relay's 5xx to HELO defers, as the relay's lookup does) */
        if (dsn[0] != '5')
            dsn[0] = '5';
        settle_all(group, FATE_BOUNCED, dsn, why, last_relay, last_mta, FALSE);
    } else {
        if (dsn[0] != '4')
            dsn[0] = '4';
        settle_all(group, FATE_DEFERRED, dsn, why, last_relay, last_mta, FALSE);
        if (!spoke && skip == NULL && tls_fails == 0 && perm_fails == 0)
            down_note(d, key, why, dsn, last_relay, last_mta);
    }
done:
    if (hosts != NULL)
        g_ptr_array_unref(hosts);
    g_free(skip);
    g_free(why);
    g_free(last_relay);
    g_free(last_mta);
    g_free(key);
}

/* ---- outcome ---------------------------------------------------------- */

/* file_new - a struct smg_delivery_file */
static struct smg_delivery_file *
file_new(const char *queue, const char *id, GString *content, time_t mtime)
{
    struct smg_delivery_file *f = g_new0(struct smg_delivery_file, 1);

    f->queue = g_strdup(queue);
    f->id = g_strdup(id);
    f->content = content;
    f->mtime = mtime;
    return f;
}

/* file_free - free a struct smg_delivery_file */
static void
file_free(gpointer p)
{
    struct smg_delivery_file *f = p;

    if (f == NULL)
        return;
    g_free(f->queue);
    g_free(f->id);
    if (f->content != NULL)
        g_string_free(f->content, TRUE);
    g_free(f);
}

void
smg_delivery_outcome_clear(struct smg_delivery_outcome *out)
{
    if (out->extras != NULL)
        g_ptr_array_unref(out->extras);
    file_free(out->rest);
    memset(out, 0, sizeof *out);
}

/* add_extra - append a file to the outcome */
static void
add_extra(struct smg_delivery_outcome *out, struct smg_delivery_file *f)
{
    if (out->extras == NULL)
        out->extras = g_ptr_array_new_with_free_func(file_free);
    g_ptr_array_add(out->extras, f);
}

/* with_rcpts - the message with only the recipients of fate (new) */
static GString *
with_rcpts(struct smg_envelope *env, GPtrArray *states, enum fate fate,
           const char *buf, gsize len, gsize body_offset)
{
    GPtrArray *all = env->rcpts, *sub = g_ptr_array_new();
    GString *s = g_string_sized_new(len + 256);

    for (guint i = 0; i < states->len; i++) {
        struct rstate *st = states->pdata[i];

        if (st->fate == fate)
            g_ptr_array_add(sub, st->r);
    }
    env->rcpts = sub;
    smg_envelope_write(env, s);
    env->rcpts = all;
    g_ptr_array_free(sub, TRUE);
    g_string_append_len(s, buf + body_offset, (gssize) (len - body_offset));
    return s;
}

/* diagnostic - the Diagnostic-Code of a recipient (new) */
static char *
diagnostic(const struct rstate *s)
{
    if (s->code != 0)
        return g_strdup_printf("smtp; %s", s->reply); /* the reply as given */
    return g_strdup_printf("X-smg; %s", s->reply);
}

/*
 * report - build a report (action) about the recipients of states whose
 * fate is fate, with queue ID orig+tag, and add it to out.  SMG_OK also
 * when no report is due (null sender, NOTIFY).
 */
static enum smg_status
report(struct smg_delivery *d, const char *id, const char *tag,
       enum smg_dsn_action action, const char *intro, GPtrArray *states,
       enum fate fate, struct smg_envelope *env, const char *buf, gsize len,
       gsize body_offset, time_t now, time_t retry_until,
       struct smg_delivery_outcome *out, GError **err)
{
    struct smg_dsn_rcpt *rc = g_new0(struct smg_dsn_rcpt, states->len);
    GPtrArray *owned = g_ptr_array_new_with_free_func(g_free);
    struct smg_dsn_report rep = {0};
    char *rid = smg_dsn_queue_id(id, tag);
    GString *content = NULL;
    const char *route = smg_envelope_get(env, "Route");
    char *pool = route != NULL ? smg_envelope_param(route, "pool") : NULL;
    const char *kind = action == SMG_DSN_FAILED    ? "non-delivery"
                       : action == SMG_DSN_DELAYED ? "delay"
                                                   : "success";
    enum smg_status st;
    gsize n = 0;

    for (guint i = 0; i < states->len; i++) {
        struct rstate *s = states->pdata[i];

        if (s->fate != fate || (action == SMG_DSN_RELAYED && !s->relayed))
            continue;
        rc[n].addr = s->r->addr;
        rc[n].params = s->r->params;
        rc[n].action = action;
        rc[n].status = s->dsn;
        rc[n].diagnostic = diagnostic(s);
        rc[n].note = s->note;
        g_ptr_array_add(owned, (gpointer) rc[n].diagnostic);
        rc[n].remote_mta = s->mta;
        rc[n].last_attempt = now;
        rc[n].retry_until = action == SMG_DSN_DELAYED ? retry_until : 0;
        n++;
    }
    rep.reporting_mta = d->helo;
    rep.reason = intro;
    rep.id = rid;
    rep.now = now;
    rep.max_full = d->bounce_size_limit;
    st = n > 0 ? smg_dsn_build(&rep, env, buf, len, body_offset, rc, n, &content, err)
               : SMG_OK;
    if (st == SMG_OK && content == NULL && n > 0)
        smg_log_info("%s: no %s report (%s)", id, kind,
                     env->sender == NULL || *env->sender == '\0'
                         ? "null sender" : "NOTIFY");
    if (st == SMG_OK && content != NULL) {
        if (pool != NULL && strcmp(pool, "bad") == 0) {
            /* reports about bad-pool mail leave from the bad pool too */
            struct smg_envelope *renv = NULL;
            gsize roff = 0;

            if (smg_envelope_parse(content->str, content->len, &renv, &roff, NULL)
                == SMG_OK) {
                GString *re = g_string_sized_new(content->len + 64);
                char *v = g_strdup_printf("pool=bad gateway=%s reason=bounce", d->name);

                smg_envelope_set(renv, "Route", v);
                smg_envelope_write(renv, re);
                g_string_append_len(re, content->str + roff,
                                    (gssize) (content->len - roff));
                g_string_free(content, TRUE);
                content = re;
                g_free(v);
            }
            smg_envelope_free(renv);
        }
        smg_log_info("%s: sender %s notification: %s", id, kind, rid);
        add_extra(out, file_new(d->bounce_queue, rid, content, 0));
    }
    g_free(pool);
    g_free(rid);
    g_ptr_array_unref(owned);
    g_free(rc);
    return st;
}

/* log_rcpt - the per-recipient log line */
static void
log_rcpt(const char *id, const struct rstate *s, double delay)
{
    static const char *const names[] = {"pending", "sent", "bounced", "deferred",
                                        "held"};
    char *said = s->code != 0 && s->mta != NULL
                     ? g_strdup_printf("%s said: %s (in reply to %s)", s->mta,
                                       s->reply, s->cmd != NULL ? s->cmd : "?")
                     : g_strdup(s->reply != NULL ? s->reply : "");
    char *text = s->note != NULL ? g_strdup_printf("%s; last reply: %s", s->note, said)
                                 : g_strdup(said);

    if (s->fate == FATE_SENT)
        smg_log_info("%s: to=<%s>, relay=%s, delay=%.1f, tls=%s, dsn=%s, status=sent (%s)",
                     id, s->r->addr, s->relay, delay, s->tls != NULL ? s->tls : "none",
                     s->dsn, s->reply);
    else
        smg_log_info("%s: to=<%s>, relay=%s, delay=%.1f, tls=%s, dsn=%s, status=%s (%s)",
                     id, s->r->addr, s->relay != NULL ? s->relay : "none", delay,
                     s->tls != NULL ? s->tls : "none", s->dsn, names[s->fate], text);
    g_free(text);
    g_free(said);
}

/* rstate_clear - free a struct rstate */
static void
rstate_free(gpointer p)
{
    struct rstate *s = p;

    g_free(s->domain);
    g_free(s->reply);
    g_free(s->relay);
    g_free(s->mta);
    g_free(s->tls);
    g_free(s->note);
    g_free(s);
}

/* count - how many of states have fate */
static unsigned
count(GPtrArray *states, enum fate fate)
{
    unsigned n = 0;

    for (guint i = 0; i < states->len; i++)
        if (((struct rstate *) states->pdata[i])->fate == fate)
            n++;
    return n;
}

/* retag - a report tag with the attempt number, e.g. "N3" */
static char *
retag(const char *base, unsigned attempt)
{
    return g_strdup_printf("%s%u", base, attempt);
}

/* expire - recipients deferred past the queue lifetime are bounced */
static void
expire(struct smg_delivery *d, GPtrArray *states, time_t arrival, time_t now)
{
    if (now < arrival + (time_t) d->lifetime)
        return;
    for (guint i = 0; i < states->len; i++) {
        struct rstate *s = states->pdata[i];
        char *r;

        if (s->fate != FATE_DEFERRED)
            continue;
        s->fate = FATE_BOUNCED;
        if (s->code != 0) {
            /* the server's reply stays the diagnostic ("smtp; 452 ...",
             * what bounce parsers read); the expiry is a note beside it */
            g_free(s->note);
            s->note = g_strdup_printf("message expired after %" G_GINT64_FORMAT
                                      " days in the queue", (gint64) d->lifetime / 86400);
            continue;
        }
        r = g_strdup_printf("message expired after %" G_GINT64_FORMAT
                            " days in the queue; last error: %s",
                            (gint64) d->lifetime / 86400, s->reply);
        g_free(s->reply);
        s->reply = r;
    }
}

/*
 * last_error - the reason of the last recipient of states whose fate is
 * fate (new; NULL if none), for last= of SMG-Delivery: the server's reply,
 * or our status code and reason
 */
static char *
last_error(GPtrArray *states, enum fate fate)
{
    const struct rstate *last = NULL;

    for (guint i = 0; i < states->len; i++)
        if (((const struct rstate *) states->pdata[i])->fate == fate)
            last = states->pdata[i];
    if (last == NULL)
        return NULL;
    return last->code != 0 ? g_strdup(last->reply)
                           : g_strdup_printf("%s %s", last->dsn, last->reply);
}

/*
 * compose - turn the fates into the outcome: reports, the held part, the
 * rest for deferred.GATEWAY; update SMG-Delivery.
 */
static enum smg_status
compose(struct smg_delivery *d, const char *id, GPtrArray *states,
        struct smg_envelope *env, const char *buf, gsize len, gsize body_offset,
        struct smg_delivery_state *ds, time_t arrival, time_t now,
        struct smg_delivery_outcome *out, GError **err)
{
    unsigned deferred, held;
    char *tag, *v, *hours;
    enum smg_status st = SMG_OK;
    time_t expires = arrival + (time_t) d->lifetime;

    out->sent = count(states, FATE_SENT);
    out->bounced = count(states, FATE_BOUNCED);
    deferred = out->deferred = count(states, FATE_DEFERRED);
    held = out->held = count(states, FATE_HELD);

    if (out->bounced > 0) {
        tag = retag("N", ds->attempts);
        st = report(d, id, tag, SMG_DSN_FAILED,
                    "I'm sorry to have to inform you that your message could not\n"
                    "be delivered to one or more recipients. It's attached below.\n\n"
                    "For further assistance, please send mail to postmaster.\n",
                    states, FATE_BOUNCED, env, buf, len, body_offset, now, 0, out, err);
        g_free(tag);
        if (st != SMG_OK)
            return st;
    }
    if (out->sent > 0) {
        tag = retag("S", ds->attempts);
        st = report(d, id, tag, SMG_DSN_RELAYED,
                    "Your message was delivered to the recipients' mail server, which\n"
                    "does not send delivery notifications itself. This is the last\n"
                    "notification you will get about these recipients.\n",
                    states, FATE_SENT, env, buf, len, body_offset, now, 0, out, err);
        g_free(tag);
        if (st != SMG_OK)
            return st;
    }
    if (held > 0) {
        char *intro = g_strdup_printf(
            "####### THIS IS A WARNING ONLY. YOU DO NOT NEED TO RESEND YOUR MESSAGE. #######\n\n"
            "Your message is held: the recipients' domain requires an encrypted\n"
            "(TLS) connection, which could not be established. The message stays\n"
            "with the postmaster, who may release it; otherwise it will be returned\n"
            "to you after %" G_GINT64_FORMAT " days.",
            (gint64) d->hold_expiry / 86400);

        tag = retag("H", ds->attempts);
        st = report(d, id, tag, SMG_DSN_DELAYED, intro, states, FATE_HELD, env, buf,
                    len, body_offset, now, now + (time_t) d->hold_expiry, out, err);
        g_free(tag);
        g_free(intro);
        if (st != SMG_OK)
            return st;
    }
    if (deferred > 0 && d->delay_warning > 0 && !ds->warned
        && now - arrival >= d->delay_warning) {
        hours = g_strdup_printf(
            "####### THIS IS A WARNING ONLY. YOU DO NOT NEED TO RESEND YOUR MESSAGE. #######\n\n"
            "Your message could not be delivered for %.1f hours.\n"
            "It will be retried until it is %" G_GINT64_FORMAT " days old.",
            (double) (now - arrival) / 3600.0, (gint64) d->lifetime / 86400);
        st = report(d, id, "D1", SMG_DSN_DELAYED, hours, states, FATE_DEFERRED, env,
                    buf, len, body_offset, now, expires, out, err);
        g_free(hours);
        if (st != SMG_OK)
            return st;
        ds->warned = TRUE;
    }
    if (held > 0) {
        struct smg_delivery_state hs = *ds;
        GString *content;

        /* last= of the held part: its own recipients' reason, which its
         * expiry NDR gives (not a deferred recipient's, split off) */
        hs.last = last_error(states, FATE_HELD);
        hs.held = now;
        hs.next = 0;
        v = smg_delivery_state_format(&hs);
        g_free(hs.last);
        smg_envelope_set(env, "Delivery", v);
        g_free(v);
        if (deferred == 0) {
            content = with_rcpts(env, states, FATE_HELD, buf, len, body_offset);
            out->rest = file_new("hold", id, content, 0);
        } else {
            /* the held part is a message of its own: its file name and
             * its SMG-Queue-ID must agree, or a later stage calls it corrupt */
            char *hid = g_strdup_printf("%sT%u", id, ds->attempts);
            char *orig = env->queue_id;

            env->queue_id = hid;
            content = with_rcpts(env, states, FATE_HELD, buf, len, body_offset);
            env->queue_id = orig;
            add_extra(out, file_new("hold", hid, content, 0));
            smg_log_info("%s: held part %s", id, hid);
            g_free(hid);
        }
    }
    if (deferred > 0) {
        time_t next = now + (time_t) smg_delivery_backoff(d->backoff_min, d->backoff_max,
                                                          d->factor, ds->attempts);

        if (next > expires)
            next = expires > now ? expires : now + 1;
        g_free(ds->last);
        ds->last = last_error(states, FATE_DEFERRED);
        ds->held = 0;
        ds->next = next;
        v = smg_delivery_state_format(ds);
        smg_envelope_set(env, "Delivery", v);
        g_free(v);
        out->rest = file_new(d->q_deferred, id,
                             with_rcpts(env, states, FATE_DEFERRED, buf, len, body_offset),
                             next);
    }
    return SMG_OK;
}

enum smg_status
smg_delivery_run(struct smg_delivery *d, const char *id, const char *buf, gsize len,
                 struct smg_envelope *env, gsize body_offset,
                 struct smg_delivery_outcome *out, GError **err)
{
    time_t now = smg_delivery_now(d);
    struct smg_delivery_state ds;
    GPtrArray *states = g_ptr_array_new_with_free_func(rstate_free);
    GPtrArray *domains = g_ptr_array_new(); /* first-seen order */
    GHashTable *groups = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                               (GDestroyNotify) g_ptr_array_unref);
    GString *msg = g_string_sized_new(len - body_offset + 64);
    GString *wire = g_string_sized_new(len - body_offset + 1024);
    char *sender_domain, *params, *v;
    gboolean eight;
    time_t arrival;
    double delay;
    enum smg_status st;

    memset(out, 0, sizeof *out);
    smg_delivery_state_parse(smg_envelope_get(env, "Delivery"), &ds);
    ds.attempts++;
    g_free(ds.gateway);
    ds.gateway = g_strdup(d->name);
    if (ds.first == 0)
        ds.first = now;
    ds.held = 0;
    arrival = smg_delivery_parse_time(smg_envelope_get(env, "Arrival"));
    if (arrival == 0)
        arrival = ds.first;
    delay = (double) (now - arrival);
    sender_domain = domain_of(env->sender != NULL ? env->sender : "");
    smg_log_info("%s: from=<%s>, size=%" G_GSIZE_FORMAT ", nrcpt=%u, attempt=%u", id,
                 env->sender != NULL ? env->sender : "", len - body_offset,
                 env->rcpts->len, ds.attempts);

    smg_envelope_strip(buf + body_offset, len - body_offset, msg);
    eight = smg_smtpc_wire(msg->str, msg->len, wire);
    g_string_free(msg, TRUE);
    /* 8-bit data goes as BODY=8BITMIME to a server that offers it, whether
     * or not the sender declared it (a client that did not, a message put
     * in the spool by hand): 8-bit octets in a 7BIT transaction break RFC
     * 6152.  smg_envelope_param reads the first BODY= */
    v = eight ? smg_envelope_param(env->sender_params, "BODY") : NULL;
    params = eight && (v == NULL || g_ascii_strcasecmp(v, "8BITMIME") != 0)
                 ? g_strconcat("BODY=8BITMIME ", env->sender_params != NULL
                                                     ? env->sender_params : "", NULL)
                 : g_strdup(env->sender_params);
    g_free(v);

    for (guint i = 0; i < env->rcpts->len; i++) {
        struct rstate *s = g_new0(struct rstate, 1);
        GPtrArray *g;

        s->r = env->rcpts->pdata[i];
        s->domain = domain_of(s->r->addr);
        g_ptr_array_add(states, s);
        g = g_hash_table_lookup(groups, s->domain);
        if (g == NULL) {
            g = g_ptr_array_new();
            g_hash_table_insert(groups, s->domain, g);
            g_ptr_array_add(domains, s->domain);
        }
        g_ptr_array_add(g, s);
    }
    for (guint i = 0; i < domains->len; i++) {
        GPtrArray *g = g_hash_table_lookup(groups, domains->pdata[i]);

        deliver_domain(d, domains->pdata[i], g, env, params, wire, sender_domain);
        /* a connection lost between chunks leaves some untried: retry later */
        settle_all(g, FATE_DEFERRED, "4.4.2",
                   "connection lost before this recipient was tried", NULL, NULL,
                   FALSE);
    }
    expire(d, states, arrival, now);
    for (guint i = 0; i < states->len; i++)
        log_rcpt(id, states->pdata[i], delay);

    st = compose(d, id, states, env, buf, len, body_offset, &ds, arrival, now, out, err);
    if (st != SMG_OK) {
        smg_delivery_outcome_clear(out);
    } else if (out->rest == NULL) {
        smg_log_info("%s: removed", id);
    } else if (out->deferred > 0) {
        char *t = smg_delivery_format_time(out->rest->mtime);

        smg_log_info("%s: status=deferred, attempts=%u, next=%s", id, ds.attempts, t);
        g_free(t);
    } else {
        smg_log_info("%s: status=held, queue=hold", id);
    }
    smg_delivery_state_clear(&ds);
    g_free(sender_domain);
    g_free(params);
    g_string_free(wire, TRUE);
    g_hash_table_destroy(groups);
    g_ptr_array_free(domains, TRUE);
    g_ptr_array_unref(states);
    return st;
}

/*
 * hold_expired - whether env (ds: its SMG-Delivery) is this gateway's
 * TLS-held mail (held=) past hold_expiry at now.  Mail with SMG-Held never
 * is: an operator (smg-queue hold) or a stage holds it, and that hold does
 * not expire, whatever an earlier TLS hold's held= says.  The held mail of
 * a gateway taken out of the configuration is every gateway's: no smg-send
 * of its own is left to expire it.
 */
static gboolean
hold_expired(const struct smg_delivery *d, const struct smg_envelope *env,
             const struct smg_delivery_state *ds, time_t now)
{
    const char *route = smg_envelope_get(env, "Route");
    char *gw = ds->gateway != NULL ? g_strdup(ds->gateway)
               : route != NULL     ? smg_envelope_param(route, "gateway")
                                   : NULL;
    gboolean yes = gw != NULL
                   && (strcmp(gw, d->name) == 0
                       || !g_strv_contains((const char *const *) d->gateways, gw))
                   && ds->held != 0
                   && smg_envelope_get(env, "Held") == NULL
                   && now - ds->held >= d->hold_expiry;

    g_free(gw);
    return yes;
}

enum smg_status
smg_delivery_expire(struct smg_delivery *d, const char *id, const char *buf, gsize len,
                    struct smg_envelope *env, gsize body_offset, gboolean *expired,
                    struct smg_delivery_outcome *out, GError **err)
{
    struct smg_delivery_state ds;
    time_t now = smg_delivery_now(d);
    GPtrArray *states;
    enum smg_status st;

    memset(out, 0, sizeof *out);
    *expired = FALSE;
    smg_delivery_state_parse(smg_envelope_get(env, "Delivery"), &ds);
    if (!hold_expired(d, env, &ds, now)) {
        smg_delivery_state_clear(&ds);
        return SMG_OK;
    }
    *expired = TRUE;
    states = g_ptr_array_new_with_free_func(rstate_free);
    for (guint i = 0; i < env->rcpts->len; i++) {
        struct rstate *s = g_new0(struct rstate, 1);
        char *why = g_strdup_printf("held for %" G_GINT64_FORMAT " days without "
                                    "release; %s",
                                    (gint64) (now - ds.held) / 86400,
                                    ds.last != NULL ? ds.last : "TLS could not be "
                                                                "established");

        s->r = env->rcpts->pdata[i];
        settle(s, FATE_BOUNCED, "5.7.10", 0, why, NULL, "none", NULL, NULL);
        g_free(why);
        g_ptr_array_add(states, s);
        log_rcpt(id, s, (double) (now - ds.held));
    }
    st = report(d, id, "X", SMG_DSN_FAILED,
                "Your message was held because the recipients' domain requires an\n"
                "encrypted (TLS) connection, which could not be established, and\n"
                "nobody released it in time. It's attached below.",
                states, FATE_BOUNCED, env, buf, len, body_offset, now, 0, out, err);
    out->bounced = env->rcpts->len;
    if (st != SMG_OK)
        smg_delivery_outcome_clear(out);
    else
        smg_log_info("%s: removed (hold expired)", id);
    g_ptr_array_unref(states);
    smg_delivery_state_clear(&ds);
    return st;
}

/* ---- the queue runner ------------------------------------------------- */

/* on_signal - stop after the message in hand */
static void
on_signal(int sig)
{
    (void) sig;
    serve_stop = 1;
}

/* write_file - commit one outcome file durably (mtime before the rename) */
static enum smg_status
write_file(struct smg_spool *spool, const struct smg_delivery_file *f, GError **err)
{
    struct smg_spool_file *sf;
    enum smg_status st = smg_spool_create(spool, f->queue, f->id, &sf, err);

    if (st != SMG_OK)
        return st;
    fwrite(f->content->str, 1, f->content->len, sf->fp);
    if (f->mtime != 0) {
        struct timespec ts[2] = {{f->mtime, 0}, {f->mtime, 0}};

        /* flushed first: a later write would move the mtime again */
        if (fflush(sf->fp) != 0 || futimens(sf->fd, ts) < 0) {
            smg_set_error(err, SMG_TEMPFAIL, NULL, "cannot write %s: %s", sf->tmp_path,
                          g_strerror(errno));
            smg_spool_abort(sf);
            return SMG_TEMPFAIL;
        }
    }
    return smg_spool_commit(sf, err);
}

/*
 * in_queue - whether QUEUE/new/ID or QUEUE/cur/ID is there: a commit that
 * failed only at the sync of new/, after its rename (and perhaps already
 * taken by the next stage)
 */
static gboolean
in_queue(struct smg_spool *spool, const struct smg_delivery_file *f)
{
    gboolean there = FALSE;

    for (unsigned i = 0; i < 2 && !there; i++) {
        char *dir = smg_spool_queue_dir(spool, f->queue, i == 0 ? "new" : "cur");
        char *path = g_build_filename(dir, f->id, NULL);

        there = g_file_test(path, G_FILE_TEST_EXISTS);
        g_free(path);
        g_free(dir);
    }
    return there;
}

/*
 * record - write an attempt's outcome: its reports, then the rest to try
 * again.  Recipients may be delivered by now; a message put back whole
 * would be sent to them again at its next run, and with a full disk at
 * every run.  So a write that fails for want of room or of a working disk
 * (SMG_TEMPFAIL) is tried again, with the message held, 1 s, 2 s, 4 s ...
 * (at most a minute) apart: in --watch until it works or a stop
 * (SIGTERM), in a run that should end (cron, by hand) for at most
 * RECORD_PATIENCE seconds.  Then, or on any other failure (a bug), the
 * message goes back whole.  A report written (or renamed into its queue,
 * only the folder's sync failing) is not written again.
 */
static enum smg_status
record(struct smg_delivery *d, struct smg_spool *spool, const char *id,
       struct smg_delivery_outcome *out, GError **err)
{
    guint written = 0, wait = 1, waited = 0;
    gboolean rest_done = out->rest == NULL;

    for (;;) {
        GError *e = NULL;
        enum smg_status st = SMG_OK;

        while (st == SMG_OK && out->extras != NULL && written < out->extras->len) {
            const struct smg_delivery_file *f = out->extras->pdata[written];

            if ((st = write_file(spool, f, &e)) == SMG_OK
                || (st == SMG_TEMPFAIL && in_queue(spool, f))) {
                st = SMG_OK;
                g_clear_error(&e);
                written++;
            }
        }
        if (st == SMG_OK && !rest_done && (st = write_file(spool, out->rest, &e)) == SMG_OK)
            rest_done = TRUE;
        if (st == SMG_OK)
            return SMG_OK;
        if (st != SMG_TEMPFAIL || serve_stop || (!d->watching && waited >= RECORD_PATIENCE)) {
            smg_log_error("%s: cannot record the outcome of this attempt; the message goes "
                          "back whole%s: %s",
                          id, out->sent > 0 ? ", and its delivered recipients get it again" : "",
                          e->message);
            g_propagate_error(err, e);
            return st;
        }
        smg_log_error("%s: cannot record the outcome of this attempt%s; trying again in %u s: "
                      "%s",
                      id, out->sent > 0 ? " (recipients delivered)" : "", wait, e->message);
        g_error_free(e);
        for (guint i = 0; i < wait * 10 && !serve_stop; i++)
            g_usleep(100000);
        waited += wait;
        wait = MIN(wait * 2, 60);
    }
}

/*
 * process - deliver (hold: expire) one claimed message and write the
 * outcome.  Returns SMG_OK to go on, or the status that ends the run.
 */
static enum smg_status
process(struct smg_delivery *d, struct smg_spool *spool, struct smg_spool_msg *msg,
        gboolean hold_scan, GError **err)
{
    struct smg_envelope *env = NULL;
    struct smg_delivery_outcome out = {0};
    gsize len = 0, off = 0;
    GError *perr = NULL;
    char *buf = smg_spool_read(msg, &len, err);
    const char *q = msg->queue;
    char *queue = g_strdup(q);
    gboolean expired = FALSE;
    enum smg_status st;

    if (buf == NULL) {
        smg_spool_release(msg, queue);
        g_free(queue);
        return SMG_TEMPFAIL;
    }
    st = smg_envelope_parse(buf, len, &env, &off, &perr);
    if (st == SMG_OK)
        st = smg_envelope_check_spool(env, msg->id, &perr);
    if (st != SMG_OK) {
        st = smg_spool_corrupt(msg, perr->message, err);
        g_clear_error(&perr);
        goto end;
    }
    if (hold_scan)
        st = smg_delivery_expire(d, msg->id, buf, len, env, off, &expired, &out, err);
    else
        st = smg_delivery_run(d, msg->id, buf, len, env, off, &out, err);
    if (st != SMG_OK || (hold_scan && !expired)) {
        smg_spool_release(msg, queue);
        goto end;
    }
    if ((st = record(d, spool, msg->id, &out, err)) != SMG_OK) {
        /* stopped with the outcome unwritten: the message goes back
         * whole, and its delivered recipients get it again */
        smg_spool_release(msg, queue);
        goto end;
    }
    st = smg_spool_done(msg, err);
end:
    smg_delivery_outcome_clear(&out);
    smg_envelope_free(env);
    g_free(buf);
    g_free(queue);
    return st;
}

/* one worker of nworkers: the names that hash to it (smg_spool_keep) */
struct share {
    unsigned worker, nworkers;
};

/* mine - whether name falls to this worker's share */
static gboolean
mine(const char *name, gpointer data)
{
    const struct share *sh = data;

    return smg_route_hash(name) % sh->nworkers == sh->worker;
}

/* due - the names in QUEUE/new that this worker may take now */
static GPtrArray *
due(struct smg_spool *spool, const char *queue, time_t now, gboolean check_time,
    unsigned worker, unsigned nworkers)
{
    struct share sh = {worker, nworkers};
    GPtrArray *names = smg_spool_list(spool, queue, check_time ? now : 0,
                                      nworkers > 1 ? mine : NULL, &sh, NULL);

    /* a queue not made yet has nothing due */
    return names != NULL ? names : g_ptr_array_new_with_free_func(g_free);
}

/*
 * hold_due - whether QUEUE/new/NAME in hold/ is hold_expired (read without
 * claiming: most held files are not).  Only the head is read, at most
 * HOLD_PEEK bytes: the envelope is at the top, and a held message may be
 * large, read again at every hold scan.  The open neither waits nor
 * follows a link (the file may have been replaced since it was listed: a
 * FIFO would stop the run for ever).  An envelope that goes on past the
 * head is due: the claim reads all of it and decides.
 */
static gboolean
hold_due(struct smg_delivery *d, struct smg_spool *spool, const char *name)
{
    char *dir = smg_spool_queue_dir(spool, "hold", "new");
    char *path = g_build_filename(dir, name, NULL);
    char *text = NULL;
    gsize off = 0;
    gssize got = -1;
    struct smg_envelope *env = NULL;
    struct smg_delivery_state ds = {0};
    struct stat sb;
    gboolean yes = FALSE;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);

    if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        /* the file's size if less: most held files are small, and every
         * one is looked at each hold scan */
        gsize want = MIN((gsize) sb.st_size, (gsize) HOLD_PEEK);

        text = g_malloc(want + 1);
        got = smg_read_at(fd, text, want, 0);
    }
    if (fd >= 0)
        close(fd);
    if (got >= 0) {
        gsize len = (gsize) got;

        /* a cut head ends at its last whole line */
        if (len == HOLD_PEEK)
            while (len > 0 && text[len - 1] != '\n')
                len--;
        text[len] = '\0';
        if (smg_envelope_parse(text, len, &env, &off, NULL) == SMG_OK) {
            if ((gsize) got == HOLD_PEEK && off >= len) {
                yes = TRUE; /* the envelope may go on */
            } else {
                smg_delivery_state_parse(smg_envelope_get(env, "Delivery"), &ds);
                yes = hold_expired(d, env, &ds, smg_delivery_now(d));
            }
        }
    }
    smg_delivery_state_clear(&ds);
    smg_envelope_free(env);
    g_free(text);
    g_free(path);
    g_free(dir);
    return yes;
}

/*
 * run_queue - process what is due in queue; *done counts.  Returns SMG_OK
 * or the status that ends the run.
 */
static enum smg_status
run_queue(struct smg_delivery *d, struct smg_spool *spool, const char *queue,
          gboolean check_time, gboolean hold_scan, unsigned worker,
          unsigned nworkers, unsigned max_messages, unsigned *done, GError **err)
{
    GPtrArray *list = due(spool, queue, smg_delivery_now(d), check_time, worker, nworkers);
    enum smg_status st = SMG_OK;

    for (guint i = 0; i < list->len && !serve_stop && st == SMG_OK; i++) {
        struct smg_spool_msg *msg = NULL;

        if (max_messages > 0 && *done >= max_messages)
            break;
        if (hold_scan && !hold_due(d, spool, list->pdata[i]))
            continue;
        st = smg_spool_claim(spool, queue, list->pdata[i], &msg, err);
        if (st == SMG_PERMFAIL) { /* taken by someone else */
            st = SMG_OK;
            continue;
        }
        if (st != SMG_OK)
            break;
        st = process(d, spool, msg, hold_scan, err);
        smg_spool_msg_free(msg);
        if (!hold_scan)
            (*done)++;
    }
    g_ptr_array_unref(list);
    return st;
}

int
smg_delivery_serve(struct smg_delivery *d, struct smg_spool *spool, gboolean watch,
                   unsigned worker, unsigned nworkers, unsigned max_messages)
{
    struct sigaction sa = {0};
    GError *err = NULL;
    enum smg_status st = SMG_OK;
    unsigned done = 0;
    int ifd = -1;
    gint64 last_hold = 0;

    d->watching = watch;
    sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (nworkers == 0)
        nworkers = 1;
    if ((st = smg_spool_ensure(spool, d->q_send, &err)) != SMG_OK
        || (st = smg_spool_ensure(spool, d->q_deferred, &err)) != SMG_OK
        || (st = smg_spool_ensure(spool, "hold", &err)) != SMG_OK)
        goto fail;
    if (watch && (ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) >= 0) {
        smg_spool_watch(spool, ifd, d->q_send);
        smg_spool_watch(spool, ifd, d->q_deferred);
    }
    while (!serve_stop && (max_messages == 0 || done < max_messages)) {
        unsigned before = done;

        st = run_queue(d, spool, d->q_send, FALSE, FALSE, worker, nworkers,
                       max_messages, &done, &err);
        if (st == SMG_OK)
            st = run_queue(d, spool, d->q_deferred, TRUE, FALSE, worker, nworkers,
                           max_messages, &done, &err);
        if (st != SMG_OK)
            goto fail;
        /* expire held mail now and then, busy or not: a steady backlog in
         * send/ must not keep it held for ever (a single run: once the
         * queues are done) */
        if (watch ? g_get_monotonic_time() - last_hold >= HOLD_SCAN_S * G_USEC_PER_SEC
                  : done == before) {
            last_hold = g_get_monotonic_time();
            st = run_queue(d, spool, "hold", FALSE, TRUE, worker, nworkers, 0, &done,
                           &err);
            if (st != SMG_OK)
                goto fail;
        }
        if (done != before)
            continue;
        if (!watch)
            break;
        {
            struct pollfd p = {ifd, POLLIN, 0};
            char ibuf[4096];
            int wait = smg_delivery_idle(d) > 0 ? IDLE_POLL_MS : SMG_SPOOL_RESCAN_MS;

            if (ifd < 0) {
                g_usleep((gulong) wait * 1000);
            } else if (poll(&p, 1, wait) > 0) {
                while (read(ifd, ibuf, sizeof ibuf) > 0)
                    ;
            }
        }
    }
    if (ifd >= 0)
        close(ifd);
    smg_delivery_close_all(d);
    return 0;
fail:
    {
        const char *msg = err != NULL ? err->message : "unknown error";

        smg_log_error("%s: %s", d->q_send, msg);
        fprintf(stderr, "%s: fatal: %s\n", smg_log_progname(), msg);
        g_clear_error(&err);
    }
    if (ifd >= 0)
        close(ifd);
    smg_delivery_close_all(d);
    return smg_status_exit(st);
}

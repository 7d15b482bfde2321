/*
 * blcheck.c - one run of smg-blcheck (see blcheck.h).
 *
 * The configuration is read once into zones and gateways.  Every lookup
 * is a struct smg_dnsbl_query whose data points to its gateway (NULL for
 * a test point, which come in pairs 127.0.0.2, 127.0.0.1 per IP list, in
 * front of that list's other queries).  Results go into the caller's
 * state (lib/dnsbl); the entries carry what the mail, the removal
 * requests and the report need.  The mail is plain text, one paragraph
 * per entry; the report is built into strings for bin/ to print.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "lib/addr.h"
#include "lib/blcheck.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/notify.h"
#include "lib/route.h"
#include "lib/spool.h"

/* One configured list. */
struct zone {
    char *name;
    gboolean by_name;
    struct smg_dnsbl_codes *codes;
    const char *provider, *url, *method, *body, *form; /* owned by conf */
    char **headers;
    char *broken; /* why the test points failed, or NULL */
};

/* One configured gateway. */
struct gateway {
    char *name;
    char **addrs; /* IP addresses of bind */
    const char *helo;
};

struct smg_blcheck {
    const struct smg_conf *conf;
    GPtrArray *zones;    /* of struct zone * */
    GPtrArray *gateways; /* of struct gateway * */
    GPtrArray *queries;  /* of struct smg_dnsbl_query *; data: gateway */
    struct smg_dnsbl_state *state; /* the caller's, from apply on */
    GHashTable *checked; /* keys "gw\nsubject\nzone" looked up this run */
    gint64 now;
    unsigned listed, errors, fresh, cleared;
};

/* config_error - SMG_CONFIG with "FILE: what: why" (why without its DSN) */
static enum smg_status
config_error(GError **err, const struct smg_conf *conf, const char *what,
             const char *why)
{
    const char *p = why;

    /* drop a leading enhanced status code: ours comes first */
    if (g_ascii_isdigit(p[0]) && p[1] == '.') {
        while (g_ascii_isdigit(*p) || *p == '.')
            p++;
        why = *p == ' ' ? p + 1 : why;
    }
    smg_set_error(err, SMG_CONFIG, NULL, "%s: %s: %s", smg_conf_path(conf),
                  what, why);
    return SMG_CONFIG;
}

/* zone_free - free a zone */
static void zone_free(gpointer p);

/* zone_new - a list from [blcheck] and its [dnsbl NAME] group */
static enum smg_status
zone_new(const struct smg_conf *conf, const char *name, gboolean by_name,
         struct zone **out, GError **err)
{
    struct zone *z = g_new0(struct zone, 1);
    char *group = g_strconcat("dnsbl ", name, NULL);
    char **words = smg_conf_list(conf, group, "codes");
    const char *hdrs = smg_conf_str(conf, group, "removal_headers");
    static const char *const probe[] = {
        "ip",   "", "subject", "", "zone",  "", "gateway",  "", "reason", "",
        "helo", "", "answer",  "", "since", "", "provider", "", NULL};
    const char *tmpls[3];
    GError *e = NULL;
    char *what = NULL;
    enum smg_status st = SMG_OK;

    z->name = g_strdup(name);
    z->by_name = by_name;
    z->provider = smg_conf_str(conf, group, "provider");
    z->url = smg_conf_str(conf, group, "removal_url");
    z->method = smg_conf_str(conf, group, "removal_method");
    z->body = smg_conf_str(conf, group, "removal_body");
    z->form = smg_conf_str(conf, group, "removal_form");
    tmpls[0] = z->url;
    tmpls[1] = z->body;
    tmpls[2] = z->form;
    if (smg_dnsbl_codes_parse((const char *const *) words, &z->codes, &e)
        != SMG_OK)
        what = g_strdup_printf("[%s] codes", group);
    else if ((z->headers = smg_http_headers_split(hdrs, &e)) == NULL)
        what = g_strdup_printf("[%s] removal_headers", group);
    for (unsigned i = 0; what == NULL && i < G_N_ELEMENTS(tmpls); i++) {
        char *x;

        if (tmpls[i] == NULL)
            continue;
        x = smg_http_expand(tmpls[i], probe, SMG_HTTP_ESCAPE_NONE, &e);
        if (x == NULL)
            what = g_strdup_printf("[%s]", group);
        g_free(x);
    }
    if (what != NULL) {
        st = config_error(err, conf, what, e->message);
    } else if ((z->body != NULL || z->method != NULL || z->headers[0] != NULL)
               && z->url == NULL) {
        what = g_strdup_printf("[%s]", group);
        st = config_error(err, conf, what,
                          "removal_method, removal_body and removal_headers "
                          "need removal_url");
    }
    g_clear_error(&e);
    g_free(what);
    g_strfreev(words);
    g_free(group);
    if (st != SMG_OK) {
        zone_free(z);
        return st;
    }
    *out = z;
    return SMG_OK;
}

/* zone_free - free a zone */
static void
zone_free(gpointer p)
{
    struct zone *z = p;

    g_free(z->name);
    smg_dnsbl_codes_free(z->codes);
    g_strfreev(z->headers);
    g_free(z->broken);
    g_free(z);
}

/* gateway_free - free a gateway */
static void
gateway_free(gpointer p)
{
    struct gateway *g = p;

    g_free(g->name);
    g_strfreev(g->addrs);
    g_free(g);
}

/* check_notify_addrs - the addresses of [blcheck] notify and sender parse:
 * a bad one is a config error at start, not a failure found only on the
 * day something is listed */
static enum smg_status
check_notify_addrs(const struct smg_conf *conf, GError **err)
{
    char **rcpts = smg_conf_list(conf, "blcheck", "notify");
    const char *sender = smg_conf_str(conf, "blcheck", "sender");
    enum smg_status st = SMG_OK;
    struct smg_addr a = SMG_ADDR_ZERO;
    GError *e = NULL;
    char *why;

    for (unsigned i = 0; st == SMG_OK && rcpts[i] != NULL; i++) {
        if (smg_addr_parse(rcpts[i], strlen(rcpts[i]), 0, &a, &e) == SMG_OK) {
            smg_addr_clear(&a);
            continue;
        }
        why = g_strdup_printf("\"%s\": %s", rcpts[i], e->message);
        st = config_error(err, conf, "[blcheck] notify", why);
        g_free(why);
        g_clear_error(&e);
    }
    g_strfreev(rcpts);
    if (st != SMG_OK || sender == NULL || *sender == '\0')
        return st;
    if (smg_addr_parse(sender, strlen(sender), SMG_ADDR_SENDER, &a, &e) == SMG_OK) {
        smg_addr_clear(&a);
        return SMG_OK;
    }
    why = g_strdup_printf("\"%s\": %s", sender, e->message);
    st = config_error(err, conf, "[blcheck] sender", why);
    g_free(why);
    g_clear_error(&e);
    return st;
}

/* same_subject - whether two lookups' subjects are the same address (as
   inet_pton reads them: 2001:DB8:0::25 is 2001:db8::25) or the same name
   (DNS names ignore case): a list delists that, however it is written */
static gboolean
same_subject(const char *a, const char *b, gboolean by_name)
{
    unsigned char x[16], y[16];

    if (by_name)
        return g_ascii_strcasecmp(a, b) == 0;
    if (inet_pton(AF_INET, a, x) == 1)
        return inet_pton(AF_INET, b, y) == 1 && memcmp(x, y, 4) == 0;
    if (inet_pton(AF_INET6, a, x) == 1)
        return inet_pton(AF_INET6, b, y) == 1 && memcmp(x, y, 16) == 0;
    return strcmp(a, b) == 0;
}

/* bind_address - a bind address as receivers see it: an IPv4-mapped
   IPv6 address (::ffff:a.b.c.d) sends from its IPv4 address, which is
   what IP lists list (and smg-route --spf and smg-send take it so), so it
   is looked up, compared and reported as that; other text as it is (a new
   string) */
static char *
bind_address(const char *a)
{
    unsigned char b[16];
    char text[INET_ADDRSTRLEN];

    if (inet_pton(AF_INET6, a, b) == 1
        && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *) b)
        && inet_ntop(AF_INET, b + 12, text, sizeof text) != NULL)
        return g_strdup(text);
    return g_strdup(a);
}

/* same_address - same_subject for two bind addresses (GEqualFunc) */
static gboolean
same_address(gconstpointer a, gconstpointer b)
{
    return same_subject(a, b, FALSE);
}

/* listed_twice - whether words[i] came earlier in words (then it is
   looked up once, and the log says so) */
static gboolean
listed_twice(char **words, unsigned i, const char *what)
{
    for (unsigned j = 0; j < i; j++)
        if (g_ascii_strcasecmp(words[j], words[i]) == 0) {
            smg_log_warn("%s: %s is listed twice; checked once", what,
                         words[i]);
            return TRUE;
        }
    return FALSE;
}

/* helo_is_address - whether a helo name is an IP address, bare or as an
 * address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]", or one in brackets
 * that is no valid literal) */
static gboolean
helo_is_address(const char *helo)
{
    char *rev;
    gboolean ip;

    if (helo[0] == '[')
        return TRUE;
    rev = smg_dnsbl_reverse(helo);
    ip = rev != NULL;
    g_free(rev);
    return ip;
}

/* load_setup - zones and gateways from conf */
static enum smg_status
load_setup(struct smg_blcheck *r, GError **err)
{
    const struct smg_conf *conf = r->conf;
    char **zones = smg_conf_list(conf, "blcheck", "zones");
    char **dzones = smg_conf_list(conf, "blcheck", "domain_zones");
    char **gws = smg_conf_gateways(conf);
    enum smg_status st = SMG_OK;
    struct zone *z;

    r->zones = g_ptr_array_new_with_free_func(zone_free);
    r->gateways = g_ptr_array_new_with_free_func(gateway_free);
    for (unsigned i = 0; st == SMG_OK && zones[i] != NULL; i++)
        if (!listed_twice(zones, i, "[blcheck] zones")
            && (st = zone_new(conf, zones[i], FALSE, &z, err)) == SMG_OK)
            g_ptr_array_add(r->zones, z);
    for (unsigned i = 0; st == SMG_OK && dzones[i] != NULL; i++)
        if (!listed_twice(dzones, i, "[blcheck] domain_zones")
            && (st = zone_new(conf, dzones[i], TRUE, &z, err)) == SMG_OK)
            g_ptr_array_add(r->zones, z);
    if (st == SMG_OK && r->zones->len == 0)
        st = config_error(err, conf, "[blcheck] zones", "no lists to check");
    if (st == SMG_OK)
        st = check_notify_addrs(conf, err);
    for (unsigned i = 0; st == SMG_OK && gws[i] != NULL; i++) {
        char *group = g_strconcat("gateway ", gws[i], NULL);
        char **words = smg_conf_list(conf, group, "bind");
        GPtrArray *addrs = g_ptr_array_new_with_free_func(g_free);
        struct gateway *g = g_new0(struct gateway, 1);
        const char *relay = smg_conf_str(conf, group, "relay");

        for (unsigned j = 0; st == SMG_OK && words[j] != NULL; j++) {
            char *a = words[j];
            gsize n = strlen(a);
            char *rev, *what, *why, *v4;

            if (a[0] == '[' && n > 2 && a[n - 1] == ']') {
                a[n - 1] = '\0';
                a++;
            }
            a = v4 = bind_address(a);
            rev = smg_dnsbl_reverse(a);
            if (rev == NULL) {
                what = g_strdup_printf("[%s] bind", group);
                why = g_strdup_printf("\"%s\" is not an IP address", a);
                st = config_error(err, conf, what, why);
                g_free(what);
                g_free(why);
            }
            g_free(rev);
            /* the kernel picks the source address of a bind to any
             * address, so receivers see another one, which smg-blcheck
             * cannot know (smg-route --spf skips it too): looking 0.0.0.0
             * up would check nothing and report it clean */
            if (st == SMG_OK && smg_addr_ip_any(a))
                smg_log_warn("[%s] bind: %s is any address, whose source "
                             "address the kernel picks: not looked up",
                             group, a);
            /* a relay gateway's mail reaches receivers from the relay
             * host; its bind is only the way there (smg-route --spf skips
             * it too): a lookup of it would write "clean, checked now"
             * for smg-route about an address no list is asked about */
            else if (st == SMG_OK && relay != NULL)
                smg_log_warn("[%s] bind: %s only reaches the relay %s, "
                             "whose address receivers see: not looked up",
                             group, a, relay);
            else if (g_ptr_array_find_with_equal_func(addrs, a, same_address,
                                                      NULL))
                smg_log_warn("[%s] bind: %s is listed twice; checked once",
                             group, a);
            else
                g_ptr_array_add(addrs, g_strdup(a));
            g_free(v4);
        }
        g_ptr_array_add(addrs, NULL);
        g_ptr_array_set_free_func(addrs, NULL);
        g->name = g_strdup(gws[i]);
        g->addrs = (char **) g_ptr_array_free(addrs, FALSE);
        g->helo = smg_conf_str(conf, group, "helo");
        /* a domain list answers an IP address with an error code (the
         * Spamhaus DBL's 127.0.1.255, "IP queries prohibited") that would
         * show as a listing: a helo that is an address or an address
         * literal is no name to look up there */
        if (st == SMG_OK && g->helo != NULL && helo_is_address(g->helo)) {
            if (dzones[0] != NULL)
                smg_log_warn("[%s] helo: %s is an address, not a name: not "
                             "looked up in the domain lists",
                             group, g->helo);
            g->helo = NULL;
        }
        g_ptr_array_add(r->gateways, g);
        g_strfreev(words);
        g_free(group);
    }
    g_strfreev(gws);
    g_strfreev(zones);
    g_strfreev(dzones);
    return st;
}

/* add_query - queue one lookup; gateway NULL for a test point */
static void
add_query(struct smg_blcheck *r, struct gateway *g, const char *subject,
          struct zone *z)
{
    struct smg_dnsbl_query *q =
        smg_dnsbl_query_new(subject, z->name, z->by_name, z->codes);

    q->data = g;
    g_ptr_array_add(r->queries, q);
}

/* query_zone - the zone of a query */
static struct zone *
query_zone(const struct smg_blcheck *r, const struct smg_dnsbl_query *q)
{
    for (guint i = 0; i < r->zones->len; i++) {
        struct zone *z = r->zones->pdata[i];
        if (z->by_name == q->by_name && strcmp(z->name, q->zone) == 0)
            return z;
    }
    return NULL;
}

enum smg_status
smg_blcheck_lookup(struct smg_blcheck *r, GError **err)
{
    const struct smg_conf *conf = r->conf;
    char **servers = smg_conf_list(conf, "dns", "nameservers");
    gint64 timeout = smg_conf_isset(conf, "blcheck", "timeout")
                         ? smg_conf_int(conf, "blcheck", "timeout")
                         : smg_conf_int(conf, "dns", "timeout");
    gboolean tp = smg_conf_bool(conf, "blcheck", "test_points");
    enum smg_status st;

    r->queries =
        g_ptr_array_new_with_free_func((GDestroyNotify) smg_dnsbl_query_free);
    for (guint i = 0; i < r->zones->len; i++) {
        struct zone *z = r->zones->pdata[i];

        /* RFC 5782 section 5: an IPv4 list lists 127.0.0.2 and not
         * 127.0.0.1, an IPv6 list ::FFFF:7F00:2 and not ::FFFF:7F00:1, a
         * domain list TEST and not INVALID */
        if (tp && z->by_name) {
            add_query(r, NULL, "TEST", z);
            add_query(r, NULL, "INVALID", z);
        } else if (tp) {
            add_query(r, NULL, "127.0.0.2", z);
            add_query(r, NULL, "127.0.0.1", z);
            add_query(r, NULL, "::ffff:7f00:2", z);
            add_query(r, NULL, "::ffff:7f00:1", z);
        }
        for (guint j = 0; j < r->gateways->len; j++) {
            struct gateway *g = r->gateways->pdata[j];

            if (z->by_name && g->helo != NULL)
                add_query(r, g, g->helo, z);
            for (unsigned k = 0; !z->by_name && g->addrs[k] != NULL; k++)
                add_query(r, g, g->addrs[k], z);
        }
    }
    st = smg_dnsbl_run(
        r->queries, (const char *const *) servers, (int) timeout * 1000,
        (int) smg_conf_int(conf, "dns", "attempts"),
        (unsigned) smg_conf_int(conf, "blcheck", "parallel"), err);
    g_strfreev(servers);
    if (st != SMG_OK)
        return st;
    /* test points, in front of each zone's queries in add_query's order:
     * TEST, INVALID of a domain list; 127.0.0.2, 127.0.0.1, ::FFFF:7F00:2,
     * ::FFFF:7F00:1 of an IP list, which passes with either pair (an
     * IPv4-only or an IPv6-only list), unless it lists 127.0.0.1 */
    for (guint i = 0; i < r->queries->len; i++) {
        struct smg_dnsbl_query **q =
            (struct smg_dnsbl_query **) &r->queries->pdata[i];
        struct zone *z;
        char *why = NULL, *why6 = NULL;

        if (q[0]->data != NULL)
            continue;
        z = query_zone(r, q[0]);
        if (!smg_dnsbl_testpoints(q[0], q[1], &why) && !z->by_name
            && q[1]->verdict != SMG_DNSBL_ERROR && q[1]->answer == NULL
            && smg_dnsbl_testpoints(q[2], q[3], &why6))
            g_clear_pointer(&why, g_free);
        /* a domain list that does not list TEST passes if it does not
         * list INVALID either: the big ones (Spamhaus DBL, SURBL, URIBL)
         * publish test names of their own (dbltest.com ...), not
         * RFC 5782's TEST, and would all be taken for broken */
        if (why != NULL && z->by_name && q[0]->verdict != SMG_DNSBL_ERROR
            && q[0]->answer == NULL && q[1]->verdict != SMG_DNSBL_ERROR
            && q[1]->answer == NULL)
            g_clear_pointer(&why, g_free);
        g_free(why6);
        if (why != NULL) {
            smg_log_warn("zone=%s, test_points=failed, error=%s", z->name,
                         why);
            z->broken = why;
        }
        i += z->by_name ? 1 : 3;
    }
    for (guint i = 0; i < r->queries->len; i++) {
        struct smg_dnsbl_query *q = r->queries->pdata[i];
        struct zone *z = query_zone(r, q);

        if (q->data != NULL && z->broken != NULL) {
            q->verdict = SMG_DNSBL_ERROR;
            g_free(q->error);
            q->error = g_strdup(z->broken);
        }
    }
    return SMG_OK;
}

/* keep_checked - state entries for what is still checked stay */
static gboolean
keep_checked(const struct smg_dnsbl_entry *e, gpointer data)
{
    struct smg_blcheck *r = data;
    char *k = g_strconcat(e->gateway, "\n", e->subject, "\n", e->zone, NULL);
    gboolean keep = g_hash_table_contains(r->checked, k);

    if (!keep)
        smg_log_info("gateway=%s, address=%s, zone=%s, status=dropped "
                     "(no longer checked)",
                     e->gateway, e->subject, e->zone);
    g_free(k);
    return keep;
}

void
smg_blcheck_apply(struct smg_blcheck *r, struct smg_dnsbl_state *st,
                  gint64 now)
{
    r->state = st;
    r->now = now;
    r->listed = r->errors = r->fresh = r->cleared = 0;
    if (r->checked != NULL)
        g_hash_table_destroy(r->checked);
    r->checked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < r->queries->len; i++) {
        struct smg_dnsbl_query *q = r->queries->pdata[i];
        struct gateway *g = q->data;
        struct smg_dnsbl_entry *e;

        if (g == NULL)
            continue;
        g_hash_table_add(r->checked, g_strconcat(g->name, "\n", q->subject,
                                                 "\n", q->zone, NULL));
        e = smg_dnsbl_state_apply(r->state, g->name, q, r->now);
        if (q->verdict == SMG_DNSBL_LISTED)
            r->listed++;
        else if (q->verdict == SMG_DNSBL_ERROR)
            r->errors++;
        if (e != NULL && e->changed && e->state == SMG_DNSBL_ENTRY_LISTED)
            r->fresh++;
        else if (e != NULL && e->changed)
            r->cleared++;
    }
    (void) smg_dnsbl_state_retain(r->state, keep_checked, r);
}

struct smg_blcheck_counts
smg_blcheck_counts(const struct smg_blcheck *r)
{
    struct smg_blcheck_counts c = {0};

    for (guint i = 0; r->queries != NULL && i < r->queries->len; i++)
        c.checked +=
            ((struct smg_dnsbl_query *) r->queries->pdata[i])->data != NULL;
    c.listed = r->listed;
    c.errors = r->errors;
    c.fresh = r->fresh;
    c.cleared = r->cleared;
    return c;
}

/* find_gateway - the gateway named name */
static struct gateway *
find_gateway(const struct smg_blcheck *r, const char *name)
{
    for (guint i = 0; i < r->gateways->len; i++) {
        struct gateway *g = r->gateways->pdata[i];
        if (strcmp(g->name, name) == 0)
            return g;
    }
    return NULL;
}

/* find_zone - the zone of an entry */
static struct zone *
find_zone(const struct smg_blcheck *r, const struct smg_dnsbl_entry *e)
{
    for (guint i = 0; i < r->zones->len; i++) {
        struct zone *z = r->zones->pdata[i];
        if (z->by_name == e->by_name && strcmp(z->name, e->zone) == 0)
            return z;
    }
    return NULL;
}

/* expand - a template of zone z for entry e, escaped as esc */
static char *
expand(const struct smg_blcheck *r, const struct zone *z,
       const struct smg_dnsbl_entry *e, const char *tmpl,
       enum smg_http_escape esc)
{
    const struct gateway *g = find_gateway(r, e->gateway);
    char *since = smg_dnsbl_time_text(e->since);
    const char *ip =
        e->by_name ? (g && g->addrs[0] ? g->addrs[0] : "") : e->subject;
    const char *vars[] = {
        "ip",       ip,          "subject", e->subject,
        "zone",     e->zone,     "gateway", e->gateway,
        "reason",   e->reason,   "helo",    g != NULL ? g->helo : NULL,
        "answer",   e->answer,   "since",   since,
        "provider", z->provider, NULL};
    char *out = smg_http_expand(tmpl, vars, esc, NULL);

    g_free(since);
    return out != NULL ? out : g_strdup(tmpl);
}

/* request_removal - file the removal request for e, record the result */
static void
request_removal(struct smg_blcheck *r, const struct zone *z,
                struct smg_dnsbl_entry *e)
{
    struct smg_http_request req = {0};
    struct smg_http_response resp = {0};
    GError *err = NULL;
    char *url, *body = NULL, *where;
    GPtrArray *hdrs = g_ptr_array_new_with_free_func(g_free);
    const char *method;

    url = expand(r, z, e, z->url, SMG_HTTP_ESCAPE_URL);
    if (z->body != NULL)
        body = expand(r, z, e, z->body,
                      smg_http_body_escape((const char *const *) z->headers));
    for (unsigned i = 0; z->headers[i] != NULL; i++)
        g_ptr_array_add(
            hdrs, expand(r, z, e, z->headers[i], SMG_HTTP_ESCAPE_HEADER));
    g_ptr_array_add(hdrs, NULL);
    method = z->method != NULL ? z->method : body != NULL ? "POST" : "GET";
    req.method = method;
    req.url = url;
    req.body = body;
    req.headers = (const char *const *) hdrs->pdata;
    req.timeout_ms =
        (long) smg_conf_int(r->conf, "blcheck", "http_timeout") * 1000;
    req.user_agent = "smg-blcheck/" PACKAGE_VERSION;
    where = smg_http_url_redacted(url);
    if (g_strcmp0(e->removal, "pending") != 0) /* else counted */
        e->removal_attempts++;
    e->removal_time = r->now;
    g_free(e->removal);
    g_free(e->removal_detail);
    if (smg_http_send(&req, &resp, &err) == SMG_OK) {
        gboolean good = resp.status >= 200 && resp.status < 300;

        e->removal = g_strdup(good ? "sent" : "failed");
        e->removal_detail =
            g_strdup_printf("%s %s: HTTP %ld", method, where, resp.status);
        smg_http_response_clear(&resp);
    } else {
        e->removal = g_strdup("failed");
        e->removal_detail = g_strdup(err->message);
        g_error_free(err);
    }
    smg_log_info("gateway=%s, address=%s, zone=%s, removal=%s, attempt=%u, "
                 "result=%s",
                 e->gateway, e->subject, e->zone, e->removal,
                 e->removal_attempts, e->removal_detail);
    g_free(where);
    g_ptr_array_unref(hdrs);
    g_free(body);
    g_free(url);
}

/*
 * same_listing - an entry of another gateway for the same address (or
 * name) on the same list whose request stands: made on an earlier run
 * and not failed, or made on this one (in tried).  A list delists an
 * address, not a gateway: two gateways that share one must not file
 * two requests for it.
 */
static const struct smg_dnsbl_entry *
same_listing(GPtrArray *all, const struct smg_dnsbl_entry *e, GHashTable *tried)
{
    for (guint i = 0; i < all->len; i++) {
        const struct smg_dnsbl_entry *x = all->pdata[i];

        if (x != e && x->state == SMG_DNSBL_ENTRY_LISTED
            && x->by_name == e->by_name && x->removal != NULL
            && same_subject(x->subject, e->subject, e->by_name)
            && strcmp(x->zone, e->zone) == 0
            && (strcmp(x->removal, "failed") != 0
                || g_hash_table_contains(tried, x)))
            return x;
    }
    return NULL;
}

/* mark_pending - record in the state, saved through save, that e's
 * removal request is being sent, before it is: a run that dies after
 * sending then never sends it again (removal=pending, told as such).
 * FALSE, with e as it was, when the state cannot be saved: the request is
 * not sent, and a later run that can save sends it. */
static gboolean
mark_pending(struct smg_blcheck *r, struct smg_dnsbl_entry *e,
             smg_blcheck_save_fn save, void *save_data)
{
    char *removal = e->removal, *detail = e->removal_detail;
    unsigned attempts = e->removal_attempts;
    gint64 when = e->removal_time;

    if (save == NULL)
        return TRUE;
    e->removal = g_strdup("pending");
    e->removal_detail = NULL;
    e->removal_attempts++;
    e->removal_time = r->now;
    if (save(save_data)) {
        g_free(removal);
        g_free(detail);
        return TRUE;
    }
    g_free(e->removal);
    e->removal = removal;
    e->removal_detail = detail;
    e->removal_attempts = attempts;
    e->removal_time = when;
    smg_log_warn("gateway=%s, address=%s, zone=%s, removal=not sent (the "
                 "state cannot be saved first; a later run sends it), and "
                 "no other removal request this run",
                 e->gateway, e->subject, e->zone);
    return FALSE;
}

void
smg_blcheck_removals(struct smg_blcheck *r, smg_blcheck_save_fn save,
                     void *save_data)
{
    GPtrArray *all = smg_dnsbl_state_entries(r->state);
    gboolean enabled = smg_conf_bool(r->conf, "blcheck", "removal_requests");
    GHashTable *tried = g_hash_table_new(NULL, NULL);
    gboolean blocked = FALSE;

    for (guint i = 0; i < all->len; i++) {
        struct smg_dnsbl_entry *e = all->pdata[i];
        const struct zone *z = find_zone(r, e);
        const struct smg_dnsbl_entry *x;

        if (e->state != SMG_DNSBL_ENTRY_LISTED || z == NULL
            || (e->removal != NULL && strcmp(e->removal, "failed") != 0))
            continue;
        if (z->url != NULL && enabled
            && (x = same_listing(all, e, tried)) != NULL) {
            g_free(e->removal);
            g_free(e->removal_detail);
            e->removal = g_strdup(x->removal);
            e->removal_detail = g_strdup(x->removal_detail);
            e->removal_attempts = x->removal_attempts;
            e->removal_time = x->removal_time;
            smg_log_info("gateway=%s, address=%s, zone=%s, removal=%s, "
                         "shared=%s (the same address)",
                         e->gateway, e->subject, e->zone, e->removal,
                         x->gateway);
            continue;
        }
        if (z->url != NULL) {
            if (enabled && !blocked
                && !(blocked = !mark_pending(r, e, save, save_data))) {
                g_hash_table_add(tried, e);
                request_removal(r, z, e);
            }
        } else if (z->form != NULL) {
            g_free(e->removal); /* "failed" from an earlier run */
            g_free(e->removal_detail);
            e->removal = g_strdup("manual");
            e->removal_detail = expand(r, z, e, z->form, SMG_HTTP_ESCAPE_URL);
        } else if (e->removal == NULL) {
            e->removal = g_strdup("none");
        }
    }
    g_hash_table_destroy(tried);
    g_ptr_array_unref(all);
}

/* removal_text - the removal request of e for the mail */
static char *
removal_text(const struct smg_dnsbl_entry *e)
{
    const char *d = e->removal_detail != NULL ? e->removal_detail : "";

    if (g_strcmp0(e->removal, "sent") == 0)
        return g_strdup_printf("requested: %s", d);
    if (g_strcmp0(e->removal, "failed") == 0)
        return g_strdup_printf("FAILED (attempt %u): %s; retried on the next "
                               "run",
                               e->removal_attempts, d);
    if (g_strcmp0(e->removal, "manual") == 0)
        return g_strdup_printf("by hand: open %s", d);
    if (g_strcmp0(e->removal, "none") == 0)
        return g_strdup("none configured for this list");
    if (g_strcmp0(e->removal, "pending") == 0)
        return g_strdup("sent by a run that stopped before it recorded the "
                        "result: not sent again; check with the list");
    return g_strdup("not requested (removal_requests = no)");
}

/* one_line - s (NULL: "-") with every control character (line breaks
   too) as a space: a list's TXT text stays on its own line of the mail,
   and cannot add lines or sections there */
static char *
one_line(const char *s)
{
    char *out = g_strdup(s != NULL ? s : "-");

    for (char *p = out; *p != '\0'; p++)
        if ((unsigned char) *p < 0x20 || *p == 0x7f)
            *p = ' ';
    return out;
}

/* mail_entry - one entry's paragraph of the mail */
static void
mail_entry(GString *b, const struct smg_blcheck *r,
           const struct smg_dnsbl_entry *e)
{
    const struct zone *z = find_zone(r, e);
    char *since = smg_dnsbl_time_text(e->since);

    g_string_append_printf(b, "  gateway:  %s\n", e->gateway);
    g_string_append_printf(b, "  %-9s %s\n",
                           e->by_name ? "name:" : "address:", e->subject);
    g_string_append_printf(
        b, "  list:     %s%s%s%s\n", e->zone, z && z->provider ? " (" : "",
        z && z->provider ? z->provider : "", z && z->provider ? ")" : "");
    if (e->state == SMG_DNSBL_ENTRY_LISTED) {
        char *rm = removal_text(e);
        char *answer = one_line(e->answer), *reason = one_line(e->reason);
        char *removal = one_line(rm);

        g_string_append_printf(b, "  answer:   %s\n", answer);
        g_string_append_printf(b, "  reason:   %s\n", reason);
        g_string_append_printf(b, "  since:    %s\n", since);
        g_string_append_printf(b, "  removal:  %s\n\n", removal);
        g_free(removal);
        g_free(reason);
        g_free(answer);
        g_free(rm);
    } else {
        char *until = smg_dnsbl_time_text(e->cleared);

        g_string_append_printf(b, "  listed:   %s until %s\n\n", since, until);
        g_free(until);
    }
    g_free(since);
}

enum smg_status
smg_blcheck_notify(struct smg_blcheck *r, GError **err)
{
    const struct smg_conf *conf = r->conf;
    char **rcpts = smg_conf_list(conf, "blcheck", "notify");
    GPtrArray *all = smg_dnsbl_state_entries(r->state);
    GPtrArray *untold = g_ptr_array_new();
    GString *body, *subj;
    unsigned nnew = 0, ncleared = 0;
    const char *host = smg_conf_str(conf, "recv", "hostname");
    const char *sendmail = smg_conf_str(conf, "blcheck", "sendmail");
    char *from = NULL, *now = smg_dnsbl_time_text(r->now);
    struct smg_notify n = {0};
    enum smg_status st = SMG_OK;
    char *id = NULL;

    if (host == NULL)
        host = g_get_host_name();
    for (guint i = 0; i < all->len; i++) {
        struct smg_dnsbl_entry *e = all->pdata[i];

        if (!e->notified)
            g_ptr_array_add(untold, e);
    }
    if (untold->len == 0 || rcpts[0] == NULL) {
        if (untold->len > 0)
            smg_log_warn("no [blcheck] notify addresses: %u change(s) "
                         "only logged",
                         untold->len);
        for (guint i = 0; i < untold->len; i++)
            ((struct smg_dnsbl_entry *) untold->pdata[i])->notified = TRUE;
        goto out;
    }
    body = g_string_new(NULL);
    g_string_append_printf(body,
                           "smg-blcheck on %s checked the gateways' "
                           "addresses at %s.\n\n",
                           host, now);
    for (int pass = 0; pass < 3; pass++) {
        static const char *const titles[] = {"NEW LISTINGS\n\n", "CLEARED\n\n",
                                             "STILL LISTED (told before)\n\n"};
        gboolean title = FALSE;
        GPtrArray *list = pass < 2 ? untold : all;

        for (guint i = 0; i < list->len; i++) {
            const struct smg_dnsbl_entry *e = list->pdata[i];
            gboolean want =
                pass == 0 ? e->state == SMG_DNSBL_ENTRY_LISTED
                : pass == 1
                    ? e->state == SMG_DNSBL_ENTRY_CLEARED
                    : e->notified && e->state == SMG_DNSBL_ENTRY_LISTED;
            if (!want)
                continue;
            if (!title)
                g_string_append(body, titles[pass]);
            title = TRUE;
            nnew += pass == 0;
            ncleared += pass == 1;
            mail_entry(body, r, e);
        }
    }
    {
        char *sf = smg_blcheck_state_file(conf);

        g_string_append_printf(body, "-- \nsmg-blcheck(8); state: %s\n", sf);
        g_free(sf);
    }
    subj = g_string_new("smg-blcheck: ");
    if (nnew > 0)
        g_string_append_printf(subj, "%u new listing%s", nnew,
                               nnew > 1 ? "s" : "");
    if (ncleared > 0)
        g_string_append_printf(subj, "%s%u cleared", nnew > 0 ? ", " : "",
                               ncleared);
    for (guint i = 0; i < untold->len && subj->len < 150; i++) {
        const struct smg_dnsbl_entry *e = untold->pdata[i];
        g_string_append_printf(subj, "%s%s %s on %s", i == 0 ? ": " : "; ",
                               e->gateway, e->subject, e->zone);
    }
    if (smg_conf_str(conf, "blcheck", "from") != NULL)
        from = g_strdup(smg_conf_str(conf, "blcheck", "from"));
    else if (smg_conf_str(conf, "blcheck", "sender") != NULL)
        from = g_strdup(smg_conf_str(conf, "blcheck", "sender"));
    else
        from = g_strdup_printf("smg-blcheck <MAILER-DAEMON@%s>", host);
    n.from = from;
    n.sender = smg_conf_str(conf, "blcheck", "sender");
    n.rcpts = (const char *const *) rcpts;
    n.subject = subj->str;
    n.body = body->str;
    n.hostname = host;
    n.notice = "from=smg-blcheck";
    n.now = r->now;
    n.timeout_ms =
        (int) smg_conf_int(conf, "blcheck", "sendmail_timeout") * 1000;
    if (sendmail != NULL) {
        st = smg_notify_sendmail(&n, sendmail, err);
    } else {
        struct smg_spool *spool = NULL;

        st = smg_spool_open_conf(conf, &spool, err);
        if (st == SMG_OK)
            st = smg_notify_spool(
                &n, spool, smg_conf_str(conf, "blcheck", "notify_queue"), &id,
                err);
        smg_spool_close(spool);
    }
    if (st == SMG_OK) {
        smg_log_info("%s: notice=blcheck, new=%u, cleared=%u, nrcpt=%u, "
                     "status=%s",
                     id != NULL ? id : "-", nnew, ncleared,
                     g_strv_length(rcpts),
                     sendmail != NULL ? "sent-to-sendmail" : "queued");
        for (guint i = 0; i < untold->len; i++)
            ((struct smg_dnsbl_entry *) untold->pdata[i])->notified = TRUE;
    }
    g_free(id);
    g_string_free(subj, TRUE);
    g_string_free(body, TRUE);
out:
    g_free(from);
    g_free(now);
    g_ptr_array_unref(untold);
    g_ptr_array_unref(all);
    g_strfreev(rcpts);
    return st;
}

/* listed_zones - the zones that list gateway name, space-separated */
static char *
listed_zones(GPtrArray *entries, const char *name)
{
    GString *zones = g_string_new(NULL);

    for (guint j = 0; j < entries->len; j++) {
        const struct smg_dnsbl_entry *x = entries->pdata[j];

        if (strcmp(x->gateway, name) == 0
            && x->state == SMG_DNSBL_ENTRY_LISTED)
            g_string_append_printf(zones, "%s%s", zones->len ? " " : "",
                                   x->zone);
    }
    return g_string_free(zones, FALSE);
}

enum smg_status
smg_blcheck_write_listed(struct smg_blcheck *r, GError **err)
{
    GPtrArray *all = smg_dnsbl_state_entries(r->state);
    const char *dir = smg_conf_str(r->conf, "spool", "state_dir");
    enum smg_status rc = SMG_OK;

    for (guint i = 0; i < r->gateways->len; i++) {
        const struct gateway *g = r->gateways->pdata[i];
        char *addrs = g_strjoinv(" ", g->addrs);
        const char *addr = *addrs != '\0' ? addrs : NULL;
        GError *e = NULL;
        unsigned asked = 0, answered = 0;
        enum smg_status st;

        for (guint j = 0; j < r->queries->len; j++) {
            const struct smg_dnsbl_query *q = r->queries->pdata[j];

            if (q->data == g) {
                asked++;
                answered += q->verdict != SMG_DNSBL_ERROR;
            }
        }
        if (asked == 0) {
            /* nothing to look up (no bind address; no helo name, or no
               domain_zones): nothing was checked, so neither "clean,
               checked now" nor a state left from an older config would be
               true; no file is "never checked" */
            gboolean removed = FALSE;

            st = smg_route_blacklist_forget(dir, g->name, &removed, &e);
            if (st == SMG_OK)
                smg_log_info("gateway=%s, status=unchecked (nothing of it to look "
                             "up)%s",
                             g->name, removed ? ", its old state removed" : "");
        } else if (answered == 0) {
            /* nothing learnt: writing "clean, checked now" would be a
               guess, and would hide a listing's age from smg-route */
            gboolean written = FALSE;

            st = smg_route_blacklist_write_unknown(dir, g->name,
                                                   (time_t) r->now, addr,
                                                   &written, &e);
            if (st == SMG_OK)
                smg_log_warn("gateway=%s, status=unknown (all %u lookups "
                             "failed), %s",
                             g->name, asked,
                             written ? "state written as unknown"
                                     : "last state kept");
        } else {
            char *zones = listed_zones(all, g->name);

            st = smg_route_blacklist_write(dir, g->name, *zones != '\0',
                                           (time_t) r->now, addr, zones, &e);
            g_free(zones);
        }
        if (st != SMG_OK) {
            smg_log_error("%s", e->message);
            if (rc == SMG_OK) {
                rc = smg_error_status(e);
                g_propagate_error(err, e);
            } else {
                g_error_free(e);
            }
        }
        g_free(addrs);
    }
    g_ptr_array_unref(all);
    return rc;
}

/* row_status - what the table says of a query */
static const char *
row_status(const struct smg_blcheck *r, const struct smg_dnsbl_query *q,
           const struct smg_dnsbl_entry **entry)
{
    const struct gateway *g = q->data;
    const struct smg_dnsbl_entry *e =
        smg_dnsbl_state_get(r->state, g->name, q->subject, q->zone);

    *entry = e;
    switch (q->verdict) {
    case SMG_DNSBL_ERROR: return "error";
    case SMG_DNSBL_LISTED: return e != NULL && e->changed ? "new" : "listed";
    case SMG_DNSBL_CLEAN:
        return e != NULL && e->state == SMG_DNSBL_ENTRY_CLEARED ? "cleared"
                                                                : "clean";
    }
    return "?";
}

/* shown - a list's text (a TXT reason) as the table may print it on a
   terminal: no C0 or C1 control, DEL or bad octet (smg_log_append_shown),
   so that a list cannot send the terminal ESC or CSI commands */
static char *
shown(const char *s)
{
    GString *out = g_string_new(NULL);

    smg_log_append_shown(out, s);
    return g_string_free(out, FALSE);
}

char *
smg_blcheck_table(const struct smg_blcheck *r, gboolean verbose)
{
    GString *out = g_string_new(NULL);
    GPtrArray *rows =
        g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);
    static const char *const head[] = {"GATEWAY", "ADDRESS", "ZONE", "STATUS",
                                       "SINCE",   "REASON",  NULL};
    size_t w[6] = {0};

    g_ptr_array_add(rows, g_strdupv((char **) head));
    for (guint i = 0; i < r->queries->len; i++) {
        const struct smg_dnsbl_query *q = r->queries->pdata[i];
        const struct smg_dnsbl_entry *e;
        const char *status;
        char **row;

        if (q->data == NULL)
            continue;
        status = row_status(r, q, &e);
        if (!verbose && strcmp(status, "clean") == 0)
            continue;
        row = g_new0(char *, 7);
        row[0] = g_strdup(((const struct gateway *) q->data)->name);
        row[1] = g_strdup(q->subject);
        row[2] = g_strdup(q->zone);
        row[3] = g_strdup(status);
        row[4] = e != NULL && e->since != 0 ? smg_dnsbl_time_text(e->since)
                                            : g_strdup("-");
        row[5] = shown(q->verdict == SMG_DNSBL_ERROR ? q->error
                       : q->reason != NULL           ? q->reason
                       : q->answer != NULL           ? q->answer
                                                     : "-");
        g_ptr_array_add(rows, row);
    }
    for (guint i = 0; i < r->zones->len; i++) {
        const struct zone *z = r->zones->pdata[i];
        char **row;

        if (z->broken == NULL)
            continue;
        row = g_new0(char *, 7);
        row[0] = g_strdup("-");
        row[1] = g_strdup(z->by_name ? "TEST" : "127.0.0.2");
        row[2] = g_strdup(z->name);
        row[3] = g_strdup("error");
        row[4] = g_strdup("-");
        row[5] = g_strdup(z->broken);
        g_ptr_array_add(rows, row);
    }
    if (rows->len > 1 || verbose) {
        for (guint i = 0; i < rows->len; i++)
            for (int c = 0; c < 5; c++)
                w[c] = MAX(w[c], strlen(((char **) rows->pdata[i])[c]));
        for (guint i = 0; i < rows->len; i++) {
            char **row = rows->pdata[i];
            g_string_append_printf(out, "%-*s  %-*s  %-*s  %-*s  %-*s  %s\n",
                                   (int) w[0], row[0], (int) w[1], row[1],
                                   (int) w[2], row[2], (int) w[3], row[3],
                                   (int) w[4], row[4], row[5]);
        }
    }
    g_ptr_array_unref(rows);
    return g_string_free(out, FALSE);
}

char *
smg_blcheck_json(const struct smg_blcheck *r, gboolean dry_run, int rc)
{
    GString *o = g_string_new("{\"checked\": ");
    char *now = smg_dnsbl_time_text(r->now);

    smg_json_string(o, now);
    g_string_append_printf(o,
                           ", \"dry_run\": %s, \"exit\": %d, \"listed\": "
                           "%u, \"errors\": %u, \"new\": %u, \"cleared\": "
                           "%u,\n \"zones\": [",
                           dry_run ? "true" : "false", rc, r->listed,
                           r->errors, r->fresh, r->cleared);
    for (guint i = 0; i < r->zones->len; i++) {
        const struct zone *z = r->zones->pdata[i];

        g_string_append_printf(o, "%s\n  {\"zone\": ", i ? "," : "");
        smg_json_string(o, z->name);
        g_string_append_printf(o, ", \"kind\": \"%s\", \"provider\": ",
                               z->by_name ? "name" : "ip");
        smg_json_string(o, z->provider);
        g_string_append(o, ", \"error\": ");
        smg_json_string(o, z->broken);
        g_string_append(o, "}");
    }
    g_string_append(o, "],\n \"results\": [");
    for (guint i = 0, n = 0; i < r->queries->len; i++) {
        const struct smg_dnsbl_query *q = r->queries->pdata[i];
        const struct smg_dnsbl_entry *e;
        const char *status;
        char *t;

        if (q->data == NULL)
            continue;
        status = row_status(r, q, &e);
        g_string_append_printf(o, "%s\n  {\"gateway\": ", n++ ? "," : "");
        smg_json_string(o, ((const struct gateway *) q->data)->name);
        g_string_append(o, ", \"subject\": ");
        smg_json_string(o, q->subject);
        g_string_append_printf(
            o, ", \"kind\": \"%s\", \"zone\": ", q->by_name ? "name" : "ip");
        smg_json_string(o, q->zone);
        g_string_append_printf(o,
                               ", \"status\": \"%s\", \"answer\": ", status);
        smg_json_string(o, q->answer);
        g_string_append(o, ", \"reason\": ");
        smg_json_string(o, q->reason);
        g_string_append(o, ", \"error\": ");
        smg_json_string(o, q->error);
        g_string_append(o, ", \"since\": ");
        t = e != NULL && e->since ? smg_dnsbl_time_text(e->since) : NULL;
        smg_json_string(o, t);
        g_free(t);
        g_string_append(o, ", \"removal\": ");
        smg_json_string(o, e != NULL ? e->removal : NULL);
        g_string_append(o, ", \"removal_detail\": ");
        smg_json_string(o, e != NULL ? e->removal_detail : NULL);
        g_string_append(o, "}");
    }
    g_string_append(o, "]}\n");
    g_free(now);
    return g_string_free(o, FALSE);
}

void
smg_blcheck_log(const struct smg_blcheck *r)
{
    for (guint i = 0; i < r->queries->len; i++) {
        const struct smg_dnsbl_query *q = r->queries->pdata[i];
        const struct smg_dnsbl_entry *e;
        const char *status;

        if (q->data == NULL)
            continue;
        status = row_status(r, q, &e);
        if (strcmp(status, "clean") == 0)
            continue;
        smg_log_info("gateway=%s, address=%s, zone=%s, status=%s, %s=%s",
                     ((const struct gateway *) q->data)->name, q->subject,
                     q->zone, status,
                     q->verdict == SMG_DNSBL_ERROR ? "error" : "reason",
                     q->verdict == SMG_DNSBL_ERROR ? q->error
                     : q->reason != NULL           ? q->reason
                                                   : "-");
    }
}

enum smg_status
smg_blcheck_new(const struct smg_conf *conf, struct smg_blcheck **out,
                GError **err)
{
    struct smg_blcheck *r = g_new0(struct smg_blcheck, 1);
    enum smg_status st;

    r->conf = conf;
    st = load_setup(r, err);
    if (st != SMG_OK) {
        smg_blcheck_free(r);
        return st;
    }
    *out = r;
    return SMG_OK;
}

void
smg_blcheck_free(struct smg_blcheck *r)
{
    if (r == NULL)
        return;
    if (r->checked != NULL)
        g_hash_table_destroy(r->checked);
    if (r->queries != NULL)
        g_ptr_array_unref(r->queries);
    if (r->zones != NULL)
        g_ptr_array_unref(r->zones);
    if (r->gateways != NULL)
        g_ptr_array_unref(r->gateways);
    g_free(r);
}

char *
smg_blcheck_state_file(const struct smg_conf *conf)
{
    const char *f = smg_conf_str(conf, "blcheck", "state_file");

    return f != NULL
               ? g_strdup(f)
               : g_build_filename(smg_conf_str(conf, "spool", "state_dir"),
                                  "blcheck.state", NULL);
}

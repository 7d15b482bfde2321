/*
 * route.c - pool and gateway choice for smg-route (see route.h).
 *
 * Everything the decision depends on is read afresh for each message: the
 * verdict fields of the envelope, the blacklist state files (small, and
 * smg-blcheck may replace them at any time) and the customer's counters
 * (lib/spamstats, written by smg-check).
 * The decision is written as plain facts into d->explain as it is made,
 * so that --explain shows exactly the path the code took.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/addr.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/route.h"
#include "lib/spamstats.h"

struct smg_route {
    const struct smg_conf *conf;
    char **pools[2];     /* gateway names of the good and bad pools */
    char *state_dir;
    double ratio;        /* customer_spam_ratio; 0: off */
    gint64 min_messages; /* customer_min_messages */
    char *stats_dir;     /* lib/spamstats's folder */
    gint64 window;       /* [check] spamstats_window, seconds */
    time_t now;          /* 0: time(NULL) */
};

const char *
smg_route_pool_name(enum smg_route_pool pool)
{
    return pool == SMG_ROUTE_BAD ? "bad" : "good";
}

guint32
smg_route_hash(const char *id)
{
    guint32 h = 2166136261u;

    for (const unsigned char *p = (const unsigned char *) id; *p != '\0'; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

/* has_gateway - whether conf has a [gateway name] group */
static gboolean
has_gateway(const struct smg_conf *conf, const char *name)
{
    char **gws = smg_conf_gateways(conf);
    gboolean found = FALSE;

    for (char **g = gws; *g != NULL && !found; g++)
        found = strcmp(*g, name) == 0;
    g_strfreev(gws);
    return found;
}

/*
 * gateway_sends - whether [gateway name] has a way out, bind or relay; FALSE
 * with err (SMG_CONFIG) if neither, the error smg-send refuses it with: a
 * pool must not send mail to a queue no smg-send will serve
 */
static gboolean
gateway_sends(const struct smg_conf *conf, const char *name, GError **err)
{
    char *group = g_strdup_printf("gateway %s", name);
    gboolean ok = smg_conf_str(conf, group, "bind") != NULL
                  || smg_conf_str(conf, group, "relay") != NULL;

    if (!ok)
        smg_set_error(err, SMG_CONFIG, NULL, "%s: [%s] has neither bind nor relay",
                      smg_conf_path(conf), group);
    g_free(group);
    return ok;
}

/*
 * bound_to - the address [gateway NAME] sends from, in out (16 octets, an
 * IPv4 address as ::ffff:a.b.c.d); FALSE for no bind, the any address, or
 * a relay gateway (its mail reaches receivers from the relay host; bind
 * is only the way there, which a good and a bad relay may share)
 */
static gboolean
bound_to(const struct smg_conf *conf, const char *name, unsigned char out[16])
{
    char *group = g_strdup_printf("gateway %s", name);
    const char *bind = smg_conf_str(conf, group, "bind");
    gboolean relay = smg_conf_str(conf, group, "relay") != NULL;
    unsigned char v4[4];
    gboolean ok = FALSE;

    g_free(group);
    memset(out, 0, 16);
    if (bind == NULL || relay || smg_addr_ip_any(bind))
        return FALSE;
    if (inet_pton(AF_INET, bind, v4) == 1) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, v4, 4);
        ok = TRUE;
    } else {
        ok = inet_pton(AF_INET6, bind, out) == 1;
    }
    return ok;
}

/*
 * pools_apart - whether no bad gateway is a good one, by name or by the
 * address it binds: spam would leave through a good address.  FALSE with
 * err (SMG_CONFIG) if one is.
 */
static gboolean
pools_apart(const struct smg_route *r, GError **err)
{
    for (char **b = r->pools[SMG_ROUTE_BAD]; *b != NULL; b++) {
        unsigned char ba[16], ga[16];
        gboolean bound = bound_to(r->conf, *b, ba);

        for (char **g = r->pools[SMG_ROUTE_GOOD]; *g != NULL; g++) {
            if (strcmp(*b, *g) == 0) {
                smg_set_error(err, SMG_CONFIG, NULL,
                              "%s: [route] bad: %s is in the good pool too: spam would leave "
                              "through a good gateway",
                              smg_conf_path(r->conf), *b);
                return FALSE;
            }
            if (bound && bound_to(r->conf, *g, ga) && memcmp(ba, ga, 16) == 0) {
                smg_set_error(err, SMG_CONFIG, NULL,
                              "%s: [route] bad: %s binds the address of the good gateway %s: "
                              "spam would leave through a good address",
                              smg_conf_path(r->conf), *b, *g);
                return FALSE;
            }
        }
    }
    return TRUE;
}

enum smg_status
smg_route_new(const struct smg_conf *conf, struct smg_route **out, GError **err)
{
    struct smg_route *r = g_new0(struct smg_route, 1);
    static const char *const keys[2] = {"good", "bad"};

    *out = NULL;
    r->conf = conf;
    for (int p = 0; p < 2; p++) {
        r->pools[p] = smg_conf_list(conf, "route", keys[p]);
        if (r->pools[p][0] == NULL) {
            smg_set_error(err, SMG_CONFIG, NULL,
                          "%s: [route] %s: no gateway in the %s pool",
                          smg_conf_path(conf), keys[p], keys[p]);
            smg_route_free(r);
            return SMG_CONFIG;
        }
        for (char **g = r->pools[p]; *g != NULL; g++) {
            if (!has_gateway(conf, *g)) {
                smg_set_error(err, SMG_CONFIG, NULL,
                              "%s: [route] %s: no [gateway %s] group",
                              smg_conf_path(conf), keys[p], *g);
                smg_route_free(r);
                return SMG_CONFIG;
            }
            if (!gateway_sends(conf, *g, err)) {
                smg_route_free(r);
                return SMG_CONFIG;
            }
        }
    }
    if (!pools_apart(r, err)) {
        smg_route_free(r);
        return SMG_CONFIG;
    }
    r->state_dir = g_strdup(smg_conf_str(conf, "spool", "state_dir"));
    r->ratio = smg_conf_double(conf, "route", "customer_spam_ratio");
    r->min_messages = smg_conf_int(conf, "route", "customer_min_messages");
    r->stats_dir = smg_spamstats_dir(conf);
    r->window = smg_conf_int(conf, "check", "spamstats_window");
    *out = r;
    return SMG_OK;
}

void
smg_route_free(struct smg_route *r)
{
    if (r == NULL)
        return;
    g_strfreev(r->pools[0]);
    g_strfreev(r->pools[1]);
    g_free(r->state_dir);
    g_free(r->stats_dir);
    g_free(r);
}

void
smg_route_set_now(struct smg_route *r, time_t now)
{
    r->now = now;
}

void
smg_route_decision_clear(struct smg_route_decision *d)
{
    g_free(d->gateway);
    g_free(d->reason);
    if (d->explain != NULL)
        g_string_free(d->explain, TRUE);
    memset(d, 0, sizeof *d);
}

void
smg_route_blacklist_clear(struct smg_route_blacklist *bl)
{
    g_free(bl->checked);
    g_free(bl->address);
    g_free(bl->zones);
    memset(bl, 0, sizeof *bl);
}

/* plain_name - whether s can be a file name on its own */
static gboolean
plain_name(const char *s)
{
    if (s == NULL || *s == '\0' || *s == '.' || strlen(s) > 200)
        return FALSE;
    for (const char *p = s; *p != '\0'; p++)
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-' && *p != '_')
            return FALSE;
    return TRUE;
}

/* state_name_ok - plain_name, for a state file to write or remove: FALSE
 * with err (SMG_PERMFAIL) if not */
static gboolean
state_name_ok(const char *gateway, GError **err)
{
    if (plain_name(gateway))
        return TRUE;
    smg_set_error(err, SMG_PERMFAIL, NULL, "bad gateway name '%s' for a state file",
                  gateway);
    return FALSE;
}

enum smg_status
smg_route_blacklist_read(const char *state_dir, const char *gateway,
                         struct smg_route_blacklist *bl, GError **err)
{
    char *path, *text = NULL;
    GError *ferr = NULL;
    char **lines;

    memset(bl, 0, sizeof *bl);
    if (!plain_name(gateway))
        return SMG_OK;
    path = g_build_filename(state_dir, "blacklist", gateway, NULL);
    if (!g_file_get_contents(path, &text, NULL, &ferr)) {
        gboolean missing = g_error_matches(ferr, G_FILE_ERROR, G_FILE_ERROR_NOENT);

        if (!missing)
            smg_set_error(err, SMG_TEMPFAIL, NULL, "cannot read %s: %s", path,
                          ferr->message);
        g_clear_error(&ferr);
        g_free(path);
        return missing ? SMG_OK : SMG_TEMPFAIL;
    }
    g_free(path);
    bl->present = TRUE;
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l != NULL; l++) {
        char *line = g_strstrip(*l);
        char *eq = strchr(line, '=');
        char *key, *val;

        if (*line == '\0' || *line == '#' || eq == NULL)
            continue;
        *eq = '\0';
        key = g_strstrip(line);
        val = g_strstrip(eq + 1);
        if (strcmp(key, "status") == 0) {
            if (strcmp(val, "listed") == 0) {
                bl->known = TRUE;
                bl->listed = TRUE;
            } else if (strcmp(val, "clean") == 0) {
                bl->known = TRUE;
                bl->listed = FALSE;
            } else if (strcmp(val, "unknown") == 0) {
                bl->unknown = TRUE;
            }
        } else if (strcmp(key, "checked") == 0 && bl->checked == NULL) {
            bl->checked = g_strdup(val);
        } else if (strcmp(key, "address") == 0 && bl->address == NULL) {
            bl->address = g_strdup(val);
        } else if (strcmp(key, "zones") == 0 && bl->zones == NULL) {
            bl->zones = g_strdup(val);
        }
    }
    g_strfreev(lines);
    g_free(text);
    return SMG_OK;
}

/* iso_time - "2026-11-22T05:00:00Z" for t (new string) */
static char *
iso_time(time_t t)
{
    GDateTime *dt = g_date_time_new_from_unix_utc(t);
    char *s = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");

    g_date_time_unref(dt);
    return s;
}

/* write_state - write a state file (see smg_route_blacklist_write); with
   replace FALSE an existing file is kept and *written says which happened */
static enum smg_status
write_state(const char *state_dir, const char *gateway, const char *status,
            time_t checked, const char *address, const char *zones,
            gboolean replace, gboolean *written, GError **err)
{
    char *dir, *tmp, *dst, *when;
    GString *text;
    enum smg_status st = SMG_OK;
    gboolean done = FALSE;
    int fd, saved = 0;

    if (written != NULL)
        *written = FALSE;
    if (!state_name_ok(gateway, err))
        return SMG_PERMFAIL;
    dir = g_build_filename(state_dir, "blacklist", NULL);
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        smg_set_error(err, SMG_TEMPFAIL, NULL, "cannot make %s: %s", dir,
                      g_strerror(errno));
        g_free(dir);
        return SMG_TEMPFAIL;
    }
    when = iso_time(checked != 0 ? checked : time(NULL));
    text = g_string_new(NULL);
    g_string_append_printf(text, "# smg-blcheck state of gateway %s\n", gateway);
    g_string_append_printf(text, "status=%s\nchecked=%s\n", status, when);
    if (address != NULL)
        g_string_append_printf(text, "address=%s\n", address);
    if (zones != NULL && *zones != '\0')
        g_string_append_printf(text, "zones=%s\n", zones);
    tmp = g_strdup_printf("%s/.%s.tmp", dir, gateway);
    dst = g_build_filename(dir, gateway, NULL);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        saved = errno;
    } else {
        if (!smg_write_at(fd, text->str, text->len, 0) || fsync(fd) < 0)
            saved = errno;
        if (close(fd) < 0 && saved == 0)
            saved = errno;
    }
    if (saved == 0 && replace) {
        /* rename replaces the old file in one step */
        if (rename(tmp, dst) == 0)
            done = TRUE;
        else
            saved = errno;
    } else if (saved == 0) {
        /* link never replaces: an existing file stays as it is */
        if (link(tmp, dst) == 0)
            done = TRUE;
        else if (errno != EEXIST)
            saved = errno;
    }
    if (fd >= 0 && !(done && replace))
        (void) unlink(tmp);
    if (saved != 0) {
        smg_set_error(err, SMG_TEMPFAIL, NULL, "cannot write %s: %s", dst,
                      g_strerror(saved));
        st = SMG_TEMPFAIL;
    }
    if (written != NULL)
        *written = done;
    g_string_free(text, TRUE);
    g_free(when);
    g_free(tmp);
    g_free(dst);
    g_free(dir);
    return st;
}

enum smg_status
smg_route_blacklist_write(const char *state_dir, const char *gateway,
                          gboolean listed, time_t checked, const char *address,
                          const char *zones, GError **err)
{
    return write_state(state_dir, gateway, listed ? "listed" : "clean",
                       checked, address, zones, TRUE, NULL, err);
}

enum smg_status
smg_route_blacklist_write_unknown(const char *state_dir, const char *gateway,
                                  time_t checked, const char *address,
                                  gboolean *written, GError **err)
{
    return write_state(state_dir, gateway, "unknown", checked, address, NULL,
                       FALSE, written, err);
}

enum smg_status
smg_route_blacklist_forget(const char *state_dir, const char *gateway,
                           gboolean *removed, GError **err)
{
    char *path;
    enum smg_status st = SMG_OK;

    if (removed != NULL)
        *removed = FALSE;
    if (!state_name_ok(gateway, err))
        return SMG_PERMFAIL;
    path = g_build_filename(state_dir, "blacklist", gateway, NULL);
    if (unlink(path) == 0) {
        if (removed != NULL)
            *removed = TRUE;
    } else if (errno != ENOENT) {
        smg_set_error(err, SMG_TEMPFAIL, NULL, "cannot remove %s: %s", path,
                      g_strerror(errno));
        st = SMG_TEMPFAIL;
    }
    g_free(path);
    return st;
}

/* How a stage's verdict field reads. */
enum verdict { V_MISSING = 0, V_PASS, V_FLAGGED, V_UNKNOWN };

/* verdict_of - field name's verdict= word: pass, flagged, another or none */
static enum verdict
verdict_of(const struct smg_envelope *env, const char *name, const char *pass,
           const char *flagged)
{
    const char *v = smg_envelope_get(env, name);
    char *verdict;
    enum verdict r = V_UNKNOWN;

    if (v == NULL)
        return V_MISSING;
    verdict = smg_envelope_param(v, "verdict");
    if (verdict != NULL && g_ascii_strcasecmp(verdict, pass) == 0)
        r = V_PASS;
    else if (verdict != NULL && g_ascii_strcasecmp(verdict, flagged) == 0)
        r = V_FLAGGED;
    g_free(verdict);
    return r;
}

/*
 * unchecked - whether a verdict is missing where it must be: a verdict
 * field without a known word never passes, and customer mail must carry
 * one.  smg's own reports (NDRs, notices) enter at queue sign and have
 * none.
 */
static gboolean
unchecked(const struct smg_envelope *env, enum verdict v)
{
    return v == V_UNKNOWN || (v == V_MISSING && smg_envelope_is_customer_mail(env));
}

/*
 * explain_verdict - the --explain line of a stage's verdict field (field
 * its value, v how it reads); missing says which stage was skipped
 */
static void
explain_verdict(GString *explain, const struct smg_envelope *env, const char *label,
                const char *field, enum verdict v, const char *missing)
{
    if (field != NULL)
        g_string_append_printf(explain, "%s: %s%s\n", label, field,
                               v == V_UNKNOWN ? " (unknown verdict)" : "");
    else
        g_string_append_printf(explain, "%s: (no verdict: %s)\n", label,
                               smg_envelope_is_customer_mail(env) ? missing
                                                                  : "not customer mail");
}

/* customer_of - the customer name: SMG-Customer, else auth= of SMG-Client */
static char *
customer_of(const struct smg_envelope *env)
{
    const char *c = smg_envelope_get(env, "Customer");
    const char *client;
    char *auth;

    if (c != NULL && *c != '\0')
        return g_strdup(c);
    client = smg_envelope_get(env, "Client");
    if (client == NULL)
        return NULL;
    auth = smg_envelope_param(client, "auth");
    if (auth != NULL && (*auth == '\0' || strcmp(auth, "none") == 0)) {
        g_free(auth);
        auth = NULL;
    }
    return auth;
}

/*
 * customer_bad - whether the customer's recent spam ratio (lib/spamstats,
 * counted by smg-check) sends the message to the bad pool; adds the facts
 * to explain.
 */
static gboolean
customer_bad(struct smg_route *r, const struct smg_envelope *env, time_t now,
             GString *explain)
{
    char *customer = customer_of(env);
    guint64 ham = 0, spam = 0, total;
    GError *err = NULL;
    double ratio;
    gboolean bad = FALSE;

    if (customer == NULL) {
        g_string_append(explain, "customer: unknown (no SMG-Customer)\n");
        return FALSE;
    }
    if (smg_spamstats_read_dir(r->stats_dir, customer, (gint64) now, r->window,
                               &ham, &spam, &err) != SMG_OK) {
        g_string_append_printf(explain, "customer: %s, ratio unknown: %s\n",
                               customer, err->message);
        smg_log_warn("customer %s: %s", customer, err->message);
        g_clear_error(&err);
        g_free(customer);
        return FALSE;
    }
    total = ham + spam;
    ratio = total > 0 ? (double) spam / (double) total : 0.0;
    if (r->ratio <= 0) {
        g_string_append_printf(explain,
                               "customer: %s, spam ratio %.2f over %" G_GUINT64_FORMAT
                               " messages (check off)\n",
                               customer, ratio, total);
    } else if (total < (guint64) r->min_messages) {
        g_string_append_printf(explain,
                               "customer: %s, spam ratio %.2f over %" G_GUINT64_FORMAT
                               " messages (fewer than %" G_GINT64_FORMAT
                               ": not judged)\n",
                               customer, ratio, total, r->min_messages);
    } else {
        bad = ratio >= r->ratio;
        g_string_append_printf(explain,
                               "customer: %s, spam ratio %.2f over %" G_GUINT64_FORMAT
                               " messages, limit %.2f: %s\n",
                               customer, ratio, total, r->ratio,
                               bad ? "over" : "under");
    }
    g_free(customer);
    return bad;
}

/* choose_gateway - the pool's gateway for id, skipping listed ones */
static char *
choose_gateway(struct smg_route *r, char **pool, const char *id,
               GString *explain)
{
    GPtrArray *clean = g_ptr_array_new();
    guint n = 0;
    char *chosen;

    for (char **g = pool; *g != NULL; g++, n++) {
        struct smg_route_blacklist bl;
        GError *err = NULL;

        if (smg_route_blacklist_read(r->state_dir, *g, &bl, &err) != SMG_OK) {
            g_string_append_printf(explain, "gateway %s: state unreadable "
                                            "(%s), taken as clean\n",
                                   *g, err->message);
            smg_log_warn("gateway %s: %s", *g, err->message);
            g_clear_error(&err);
            g_ptr_array_add(clean, *g);
            continue;
        }
        if (!bl.known && bl.unknown) {
            g_string_append_printf(explain, "gateway %s: clean (state "
                                            "unknown: no blacklist lookup "
                                            "succeeded, tried %s)\n",
                                   *g, bl.checked != NULL ? bl.checked : "?");
            g_ptr_array_add(clean, *g);
        } else if (!bl.known && bl.present) {
            /* a hand-edited or damaged file: say so, it reads as clean */
            g_string_append_printf(explain, "gateway %s: clean (state file "
                                            "without a valid status line)\n",
                                   *g);
            g_ptr_array_add(clean, *g);
        } else if (!bl.known) {
            g_string_append_printf(explain, "gateway %s: clean (no blacklist "
                                            "state)\n", *g);
            g_ptr_array_add(clean, *g);
        } else if (bl.listed) {
            g_string_append_printf(explain, "gateway %s: listed (%s, checked "
                                            "%s), skipped\n",
                                   *g, bl.zones != NULL ? bl.zones : "zones unknown",
                                   bl.checked != NULL ? bl.checked : "?");
        } else {
            g_string_append_printf(explain, "gateway %s: clean (checked %s)\n",
                                   *g, bl.checked != NULL ? bl.checked : "?");
            g_ptr_array_add(clean, *g);
        }
        smg_route_blacklist_clear(&bl);
    }
    if (clean->len == 0) {
        g_string_append(explain, "every gateway of the pool is listed: "
                                 "choosing among all of them\n");
        for (guint i = 0; i < n; i++)
            g_ptr_array_add(clean, pool[i]);
    }
    chosen = g_strdup(clean->pdata[smg_route_hash(id) % clean->len]);
    g_string_append_printf(explain, "gateway: %s (hash of %s among %u)\n",
                           chosen, id, clean->len);
    g_ptr_array_free(clean, TRUE);
    return chosen;
}

enum smg_status
smg_route_decide(struct smg_route *r, const char *id,
                 const struct smg_envelope *env, struct smg_route_decision *d,
                 GError **err)
{
    time_t now = r->now != 0 ? r->now : time(NULL);
    const char *spam_f = smg_envelope_get(env, "Spam");
    const char *virus_f = smg_envelope_get(env, "Virus");
    const char *route_f = smg_envelope_get(env, "Route");
    enum verdict virus = verdict_of(env, "Virus", "clean", "infected");
    enum verdict spam = verdict_of(env, "Spam", "ham", "spam");
    gboolean origin_bad = FALSE, cust_bad;

    (void) err;
    memset(d, 0, sizeof *d);
    d->explain = g_string_new(NULL);
    g_string_append_printf(d->explain, "queue-id: %s\n", id);
    explain_verdict(d->explain, env, "virus", virus_f, virus, "not scanned");
    explain_verdict(d->explain, env, "spam", spam_f, spam, "not checked");
    if (route_f != NULL) {
        char *pool = smg_envelope_param(route_f, "pool");

        origin_bad = pool != NULL && strcmp(pool, "bad") == 0;
        g_string_append_printf(d->explain, "earlier route: %s\n", route_f);
        g_free(pool);
    }
    cust_bad = customer_bad(r, env, now, d->explain);
    if (virus == V_FLAGGED) {
        d->pool = SMG_ROUTE_BAD;
        d->reason = g_strdup("virus");
    } else if (spam == V_FLAGGED) {
        d->pool = SMG_ROUTE_BAD;
        d->reason = g_strdup("spam");
    } else if (unchecked(env, virus) || unchecked(env, spam)) {
        d->pool = SMG_ROUTE_BAD;
        d->reason = g_strdup("unchecked");
    } else if (cust_bad) {
        d->pool = SMG_ROUTE_BAD;
        d->reason = g_strdup("customer-ratio");
    } else if (origin_bad) {
        d->pool = SMG_ROUTE_BAD;
        d->reason = g_strdup("bad-origin");
    } else {
        d->pool = SMG_ROUTE_GOOD;
        d->reason = g_strdup("ham");
    }
    g_string_append_printf(d->explain, "pool: %s (%s)\n",
                           smg_route_pool_name(d->pool), d->reason);
    d->gateway = choose_gateway(r, r->pools[d->pool], id, d->explain);
    return SMG_OK;
}

/* spf_term - " ip4:ADDR" or " ip6:ADDR" in canonical form for a bind
   address, or NULL when it is not an IP address */
static char *
spf_term(const char *bind)
{
    unsigned char buf[16];
    char text[INET6_ADDRSTRLEN];

    if (inet_pton(AF_INET, bind, buf) == 1)
        return g_strdup_printf(" ip4:%s",
                               inet_ntop(AF_INET, buf, text, sizeof text));
    if (inet_pton(AF_INET6, bind, buf) != 1)
        return NULL;
    if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *) buf))
        /* on the wire it is the IPv4 address, which ip6: never matches */
        return g_strdup_printf(
            " ip4:%s", inet_ntop(AF_INET, buf + 12, text, sizeof text));
    return g_strdup_printf(" ip6:%s",
                           inet_ntop(AF_INET6, buf, text, sizeof text));
}

enum smg_status
smg_route_spf(const struct smg_conf *conf, char **record, char **skipped,
              GError **err)
{
    char **gws = smg_conf_gateways(conf);
    GString *rec = g_string_new("v=spf1");
    GString *skip = g_string_new(NULL);
    /* canonical terms: one text per address, so equal text is equal bytes */
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                             NULL);
    unsigned n = 0;

    *record = NULL;
    for (char **g = gws; *g != NULL; g++) {
        char *group = g_strdup_printf("gateway %s", *g);
        const char *bind = smg_conf_str(conf, group, "bind");
        /* a relay's mail reaches receivers from the relay host; bind is
         * only the way there */
        gboolean relay = smg_conf_str(conf, group, "relay") != NULL;
        char *term;

        g_free(group);
        if (!gateway_sends(conf, *g, err))
            goto fail;
        if (relay || smg_addr_ip_any(bind)) {
            g_string_append_printf(skip, "%s%s (%s)", skip->len ? ", " : "", *g,
                                   relay ? "relay" : "bind to any address");
            continue;
        }
        if ((term = spf_term(bind)) == NULL) {
            smg_set_error(err, SMG_CONFIG, NULL,
                          "%s: [gateway %s] bind: '%s' is not an IP address",
                          smg_conf_path(conf), *g, bind);
            goto fail;
        }
        if (!g_hash_table_add(seen, term))
            continue; /* seen before (the set owns term either way) */
        g_string_append(rec, term);
        n++;
    }
    if (n == 0) {
        smg_set_error(err, SMG_CONFIG, NULL,
                      "%s: no [gateway NAME] group has a bind address%s%s",
                      smg_conf_path(conf), skip->len ? " of its own: " : "", skip->str);
        goto fail;
    }
    g_string_append(rec, " -all");
    *record = g_string_free(rec, FALSE);
    if (skipped != NULL)
        *skipped = g_string_free(skip, FALSE);
    else
        g_string_free(skip, TRUE);
    g_hash_table_destroy(seen);
    g_strfreev(gws);
    return SMG_OK;
fail:
    g_string_free(rec, TRUE);
    g_string_free(skip, TRUE);
    g_hash_table_destroy(seen);
    g_strfreev(gws);
    return SMG_CONFIG;
}

char *
smg_route_txt_strings(const char *record)
{
    GString *out = g_string_new(NULL);
    const char *p = record;
    size_t left = strlen(record);

    do {
        size_t len = left;

        if (len > SMG_ROUTE_TXT_STRING_MAX) {
            /* the longest piece that ends with a space, else a hard cut */
            len = SMG_ROUTE_TXT_STRING_MAX;
            while (len > 0 && p[len - 1] != ' ')
                len--;
            if (len == 0)
                len = SMG_ROUTE_TXT_STRING_MAX;
        }
        g_string_append(out, out->len > 0 ? " \"" : "\"");
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '"' || p[i] == '\\')
                g_string_append_c(out, '\\');
            g_string_append_c(out, p[i]);
        }
        g_string_append_c(out, '"');
        p += len;
        left -= len;
    } while (left > 0);
    return g_string_free(out, FALSE);
}

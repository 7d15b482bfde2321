/*
 * blcheck-t.c - unit tests for lib/blcheck: configuration checks (every
 * SMG_CONFIG case, with file and group in the message), the state file's
 * default, and a run against a DNS server that never answers: every
 * lookup is an error, nothing is listed, the state keeps what it knew, and
 * the table and JSON say so.
 *
 * Runs with real answers (unbound), mail and HTTP are in
 * t/7000-blcheck-lookup.t, t/7010-blcheck-notify.t, t/7020-blcheck-removal.t.
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

#include "lib/blcheck.h"
#include "lib/config.h"
#include "lib/dnsbl.h"
#include "lib/log.h"
#include "lib/status.h"
#include "t/tap/basic.h"

/* load - a config from text (bails if it does not load) */
static struct smg_conf *
load(const char *text)
{
    struct smg_conf *conf = NULL;
    GError *err = NULL;

    if (smg_conf_load_data(text, "/etc/smg/smg.conf", &conf, &err) != SMG_OK)
        bail("config does not load: %s", err->message);
    return conf;
}

/* refused - smg_blcheck_new fails with SMG_CONFIG and a message with want */
static void
refused(const char *text, const char *want, const char *what)
{
    struct smg_conf *conf = load(text);
    struct smg_blcheck *b = NULL;
    GError *err = NULL;

    is_int(SMG_CONFIG, smg_blcheck_new(conf, &b, &err), "%s: refused", what);
    ok(err != NULL && g_str_has_prefix(err->message, "4.3.5 /etc/smg/smg.conf: ")
           && strstr(err->message, want) != NULL,
       "%s: says \"%s\" (%s)", what, want, err ? err->message : "no error");
    ok(b == NULL, "%s: no run", what);
    g_clear_error(&err);
    smg_conf_free(conf);
}

static void
test_config(void)
{
    struct smg_conf *conf;
    struct smg_blcheck *b = NULL;
    GError *err = NULL;
    char *sf;

    refused("[blcheck]\nnotify = a@b.test\n", "[blcheck] zones: no lists",
            "no zones");
    refused("[blcheck]\nzones = bl.test\n[dnsbl bl.test]\ncodes = 1=listed\n",
            "[dnsbl bl.test] codes: bad return code rule \"1=listed\"",
            "bad code rule");
    refused("[blcheck]\ndomain_zones = dbl.test\n[dnsbl dbl.test]\n"
            "removal_url = http://x.test/{ipaddr}\n",
            "[dnsbl dbl.test]: unknown placeholder {ipaddr}",
            "unknown placeholder");
    refused("[blcheck]\nzones = bl.test\n[dnsbl bl.test]\n"
            "removal_url = http://x.test/\nremoval_headers = nocolon\n",
            "[dnsbl bl.test] removal_headers: bad header line",
            "bad header line");
    refused("[blcheck]\nzones = bl.test\n[dnsbl bl.test]\n"
            "removal_body = x\n",
            "need removal_url", "body without URL");
    refused("[blcheck]\nzones = bl.test\n[gateway mta01]\n"
            "bind = 192.0.2.1 mta01.test\n",
            "[gateway mta01] bind: \"mta01.test\" is not an IP address",
            "bind with a name");

    conf = load("[spool]\nstate_dir = /var/lib/x\n[blcheck]\nzones = bl.test\n"
                "[gateway mta01]\nbind = [2001:db8::1] 192.0.2.1\n");
    is_int(SMG_OK, smg_blcheck_new(conf, &b, &err),
           "bracketed IPv6 and IPv4 accepted");
    smg_blcheck_free(b);
    sf = smg_blcheck_state_file(conf);
    is_string("/var/lib/x/blcheck.state", sf, "default state file");
    g_free(sf);
    smg_conf_free(conf);
    conf = load("[blcheck]\nzones = bl.test\nstate_file = st/bl.state\n");
    sf = smg_blcheck_state_file(conf);
    is_string("/etc/smg/st/bl.state", sf,
              "state_file relative to the config's folder");
    g_free(sf);
    smg_conf_free(conf);
}

static void
test_silent(void)
{
    struct sockaddr_in sin = {0};
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct smg_conf *conf;
    struct smg_blcheck *b = NULL;
    struct smg_dnsbl_state *st = smg_dnsbl_state_new();
    struct smg_dnsbl_query *q;
    struct smg_dnsbl_entry *e;
    struct smg_blcheck_counts n;
    GError *err = NULL;
    char *text, *table, *json;

    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sin, sizeof sin) != 0
        || getsockname(fd, (struct sockaddr *) &sin, &len) != 0)
        bail("cannot bind a UDP socket on 127.0.0.1");
    text = g_strdup_printf("[dns]\nnameservers = 127.0.0.1:%u\nattempts = 1\n"
                           "[blcheck]\nzones = bl.test\n"
                           "domain_zones = dbl.test\ntimeout = 1\n"
                           "[gateway mta01]\nbind = 192.0.2.1\n"
                           "helo = mta01.example.net\n",
                           ntohs(sin.sin_port));
    conf = load(text);
    g_free(text);
    if (smg_blcheck_new(conf, &b, &err) != SMG_OK)
        bail("smg_blcheck_new: %s", err->message);

    /* what the state knew: a listing that a failed lookup must not clear */
    q = smg_dnsbl_query_new("192.0.2.1", "bl.test", FALSE, NULL);
    q->verdict = SMG_DNSBL_LISTED;
    (void) smg_dnsbl_state_apply(st, "mta01", q, 1000);
    smg_dnsbl_query_free(q);
    e = smg_dnsbl_state_get(st, "mta01", "192.0.2.1", "bl.test");
    e->notified = TRUE;
    e->changed = FALSE;

    is_int(SMG_OK, smg_blcheck_lookup(b, &err), "lookups run");
    smg_blcheck_apply(b, st, 2000);
    n = smg_blcheck_counts(b);
    is_int(2, (long) n.checked, "two lookups for the gateway");
    is_int(2, (long) n.errors, "both failed (time-out)");
    is_int(0, (long) n.listed, "nothing listed");
    is_int(0, (long) (n.fresh + n.cleared), "nothing new, nothing cleared");
    e = smg_dnsbl_state_get(st, "mta01", "192.0.2.1", "bl.test");
    ok(e != NULL && e->state == SMG_DNSBL_ENTRY_LISTED && e->since == 1000
           && e->last_seen == 1000,
       "the known listing is kept as it was");

    table = smg_blcheck_table(b, FALSE);
    ok(strstr(table, "GATEWAY") == table, "table: header first");
    ok(strstr(table, "mta01.example.net  dbl.test  error") != NULL,
       "table: the HELO lookup failed");
    ok(strstr(table, "127.0.0.2") != NULL
           && strstr(table, "test point 127.0.0.2: 4.4.3") != NULL,
       "table: bl.test's test point failed");
    g_free(table);
    json = smg_blcheck_json(b, TRUE, 75);
    ok(g_str_has_prefix(json, "{\"checked\": \"1970-01-01T00:33:20Z\", "
                              "\"dry_run\": true, \"exit\": 75"),
       "json: time, dry run, exit");
    ok(strstr(json, "\"status\": \"error\"") != NULL, "json: error status");
    ok(strstr(json, "\"since\": \"1970-01-01T00:16:40Z\"") != NULL,
       "json: the known listing's since");
    g_free(json);

    /* no notify addresses: changes are only logged, and marked told */
    is_int(SMG_OK, smg_blcheck_notify(b, &err), "notify without addresses");
    smg_blcheck_free(b);
    smg_dnsbl_state_free(st);
    smg_conf_free(conf);
    close(fd);
}

int
main(void)
{
    smg_log_init("blcheck-t", SMG_LOG_STDERR, FALSE);
    plan_lazy();
    test_config();
    test_silent();
    return 0;
}

/*
 * config-t.c - unit tests for lib/config: smg.conf loading and validation.
 *
 * Covers the defaults, every value type (size and time suffixes, bool
 * spellings, choice, rate, list, path relative to the config file's folder),
 * every load error (each must name FILE:LINE and the key, and the line
 * number is asserted), inline and ';' comments, [gateway NAME] groups,
 * smg_conf_print with and without nondefault, and a missing file.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/log.h"
#include "t/tap/basic.h"

/* load - load text named "/etc/smg/t.conf"; the conf or NULL */
static struct smg_conf *
load(const char *text)
{
    struct smg_conf *conf = NULL;
    GError *err = NULL;

    if (smg_conf_load_data(text, "/etc/smg/t.conf", &conf, &err) != SMG_OK) {
        diag("unexpected error: %s", err != NULL ? err->message : "(none)");
        g_clear_error(&err);
        return NULL;
    }
    return conf;
}

/*
 * load_error - load text that must fail; checks the status and the whole
 * error message (which starts with the CONFIG DSN 4.3.5).
 */
static void
load_error(const char *text, const char *wanted, const char *what)
{
    struct smg_conf *conf = NULL;
    GError *err = NULL;
    enum smg_status st = smg_conf_load_data(text, "/etc/smg/t.conf", &conf, &err);

    is_int(SMG_CONFIG, st, "%s: SMG_CONFIG", what);
    if (err == NULL) {
        ok(0, "%s: error set", what);
    } else {
        is_string(wanted, err->message, "%s: message", what);
        g_error_free(err);
    }
    smg_conf_free(conf);
}

/* test_defaults - an empty file gives the table's defaults */
static void
test_defaults(void)
{
    struct smg_conf *conf = load("");
    char **v;

    ok(conf != NULL, "empty file loads");
    if (conf == NULL)
        bail("cannot continue");
    is_string("/etc/smg/t.conf", smg_conf_path(conf), "path kept");
    is_string("/var/spool/smg", smg_conf_str(conf, "spool", "dir"),
              "default spool dir");
    is_string("/var/lib/smg", smg_conf_str(conf, "spool", "state_dir"),
              "default state dir");
    ok(smg_conf_bool(conf, "spool", "sync"), "default sync = yes");
    is_int(5, smg_conf_int(conf, "dns", "timeout"), "default dns timeout");
    is_int(2, smg_conf_int(conf, "dns", "attempts"), "default dns attempts");
    v = smg_conf_list(conf, "dns", "nameservers");
    ok(v != NULL && v[0] == NULL, "nameservers unset: empty list, not NULL");
    g_strfreev(v);
    ok(smg_conf_str(conf, "recv", "hostname") == NULL, "hostname unset: NULL");
    is_string(SMG_SYSCONFDIR "/tls/cert.pem",
              smg_conf_str(conf, "recv", "tls_cert"), "default tls_cert");
    is_string("required", smg_conf_str(conf, "recv", "auth"), "default auth");
    ok(smg_conf_bool(conf, "recv", "sender_domain_check"),
       "default sender_domain_check");
    is_string("off", smg_conf_str(conf, "recv", "rate_limit"),
              "default rate_limit");
    is_int(52428800, smg_conf_int(conf, "recv", "max_message_size"),
           "default max_message_size");
    is_int(1000, smg_conf_int(conf, "recv", "max_recipients"),
           "default max_recipients");
    ok(smg_conf_double(conf, "check", "threshold") == 5.0,
       "default threshold 5.0");
    is_int(25, smg_conf_int(conf, "send", "port"), "default port");
    is_int(5 * 86400, smg_conf_int(conf, "send", "queue_lifetime"),
           "default queue_lifetime 5d");
    ok(smg_conf_str(conf, "send", "tls_policy") == NULL, "tls_policy unset");
    ok(!smg_conf_isset(conf, "send", "port"), "port not set by the file");
    v = smg_conf_gateways(conf);
    ok(v != NULL && v[0] == NULL, "no gateways");
    g_strfreev(v);
    smg_conf_free(conf);
    ok(g_str_has_suffix(SMG_CONF_DEFAULT_PATH, "/smg/smg.conf"),
       "default path ends in smg/smg.conf");
}

/* test_parsers - the shared value parsers */
static void
test_parsers(void)
{
    gint64 n = -1, per = -1;
    gboolean b = FALSE;

    ok(smg_conf_parse_size("2048", &n) && n == 2048, "size: plain bytes");
    ok(smg_conf_parse_size("10k", &n) && n == 10240, "size: 10k");
    ok(smg_conf_parse_size("10K", &n) && n == 10240, "size: 10K");
    ok(smg_conf_parse_size("10M", &n) && n == 10485760, "size: 10M");
    ok(smg_conf_parse_size("10MB", &n) && n == 10485760, "size: 10MB");
    ok(smg_conf_parse_size("2G", &n) && n == 2147483648LL, "size: 2G");
    ok(!smg_conf_parse_size("10X", &n), "size: bad suffix");
    ok(!smg_conf_parse_size("-5", &n), "size: negative");
    ok(!smg_conf_parse_size("", &n), "size: empty");
    ok(!smg_conf_parse_size("10 M", &n), "size: space before suffix");
    ok(!smg_conf_parse_size("99999999999999999999", &n), "size: overflow");
    ok(!smg_conf_parse_size("9999999999999G", &n), "size: overflow by suffix");

    ok(smg_conf_parse_time("45", &n) && n == 45, "time: plain seconds");
    ok(smg_conf_parse_time("30s", &n) && n == 30, "time: 30s");
    ok(smg_conf_parse_time("5m", &n) && n == 300, "time: 5m");
    ok(smg_conf_parse_time("4h", &n) && n == 14400, "time: 4h");
    ok(smg_conf_parse_time("5d", &n) && n == 432000, "time: 5d");
    ok(smg_conf_parse_time("2w", &n) && n == 1209600, "time: 2w");
    ok(!smg_conf_parse_time("5x", &n), "time: bad suffix");
    ok(!smg_conf_parse_time("m", &n), "time: no number");
    ok(!smg_conf_parse_time("5mm", &n), "time: trailing junk");

    static const char *yes[] = {"yes", "YES", "true", "True", "on", "1"};
    static const char *no[] = {"no", "No", "false", "FALSE", "off", "0"};
    for (unsigned i = 0; i < G_N_ELEMENTS(yes); i++)
        ok(smg_conf_parse_bool(yes[i], &b) && b, "bool: %s", yes[i]);
    for (unsigned i = 0; i < G_N_ELEMENTS(no); i++)
        ok(smg_conf_parse_bool(no[i], &b) && !b, "bool: %s", no[i]);
    ok(!smg_conf_parse_bool("maybe", &b), "bool: maybe is no bool");
    ok(!smg_conf_parse_bool("", &b), "bool: empty is no bool");

    ok(smg_conf_parse_rate("off", &n, &per) && n == 0, "rate: off");
    ok(smg_conf_parse_rate("100/min", &n, &per) && n == 100 && per == 60,
       "rate: 100/min");
    ok(smg_conf_parse_rate("5/s", &n, &per) && n == 5 && per == 1, "rate: 5/s");
    ok(smg_conf_parse_rate("7/h", &n, &per) && n == 7 && per == 3600,
       "rate: 7/h");
    ok(!smg_conf_parse_rate("0/min", &n, &per), "rate: zero");
    ok(!smg_conf_parse_rate("100/day", &n, &per), "rate: bad unit");
    ok(!smg_conf_parse_rate("100", &n, &per), "rate: no unit");
    ok(!smg_conf_parse_rate("fast", &n, &per), "rate: words");
}

/* test_types - each type read back through the getters */
static void
test_types(void)
{
    struct smg_conf *conf = load(
        "[spool]\n"
        "dir = spool\n"                      /* relative PATH */
        "state_dir = /srv/state\n"           /* absolute PATH */
        "sync = off\n"
        "min_free = 1G\n"
        "[dns]\n"
        "nameservers = 127.0.0.1:53, 127.0.0.2:5353 ::1\n"
        "timeout = 1m\n"
        "[recv]\n"
        "hostname = out.example.net\n"
        "auth = optional\n"
        "rate_limit = 100/min\n"
        "max_message_size = 10M\n"
        "max_header_size = 64k\n"
        "tls = FALSE\n"
        "sender_domain_check = 1\n"
        "command_timeout = 1h\n"
        "[check]\n"
        "threshold = -2.5\n"
        "[route]\n"
        "good = mta01 mta02\n"
        "bad = mta03\n"
        "[send]\n"
        "port = 2525\n"
        "queue_lifetime = 1w\n");
    char **v;
    gint64 n = 0, per = 0;

    ok(conf != NULL, "typed config loads");
    if (conf == NULL)
        bail("cannot continue");
    is_string("/etc/smg/spool", smg_conf_str(conf, "spool", "dir"),
              "PATH relative to the config file's folder");
    is_string("/srv/state", smg_conf_str(conf, "spool", "state_dir"),
              "absolute PATH unchanged");
    ok(!smg_conf_bool(conf, "spool", "sync"), "BOOL off");
    is_int(1073741824, smg_conf_int(conf, "spool", "min_free"), "SIZE 1G");
    v = smg_conf_list(conf, "dns", "nameservers");
    is_int(3, (long) g_strv_length(v), "LIST: three words");
    is_string("127.0.0.1:53", v[0], "LIST: comma separator");
    is_string("127.0.0.2:5353", v[1], "LIST: second word");
    is_string("::1", v[2], "LIST: space separator");
    g_strfreev(v);
    is_int(60, smg_conf_int(conf, "dns", "timeout"), "TIME 1m");
    is_string("out.example.net", smg_conf_str(conf, "recv", "hostname"), "STR");
    is_string("optional", smg_conf_str(conf, "recv", "auth"), "CHOICE");
    ok(smg_conf_parse_rate(smg_conf_str(conf, "recv", "rate_limit"), &n, &per)
           && n == 100 && per == 60,
       "RATE 100/min");
    is_int(10485760, smg_conf_int(conf, "recv", "max_message_size"), "SIZE 10M");
    is_int(65536, smg_conf_int(conf, "recv", "max_header_size"), "SIZE 64k");
    ok(!smg_conf_bool(conf, "recv", "tls"), "BOOL FALSE");
    ok(smg_conf_bool(conf, "recv", "sender_domain_check"), "BOOL 1");
    is_int(3600, smg_conf_int(conf, "recv", "command_timeout"), "TIME 1h");
    ok(smg_conf_double(conf, "check", "threshold") == -2.5, "DOUBLE -2.5");
    v = smg_conf_list(conf, "route", "good");
    ok(g_strv_length(v) == 2 && strcmp(v[0], "mta01") == 0
           && strcmp(v[1], "mta02") == 0,
       "LIST route good");
    g_strfreev(v);
    is_int(2525, smg_conf_int(conf, "send", "port"), "INT");
    is_int(604800, smg_conf_int(conf, "send", "queue_lifetime"), "TIME 1w");
    ok(smg_conf_isset(conf, "send", "port"), "port set by the file");
    ok(!smg_conf_isset(conf, "send", "tls_policy"), "tls_policy not set");
    smg_conf_free(conf);

    /* a relative config path: folders resolve against the cwd */
    conf = NULL;
    {
        GError *err = NULL;
        char *cwd = g_get_current_dir();
        char *want = g_build_filename(cwd, "etc", "spool", NULL);

        is_int(SMG_OK,
               smg_conf_load_data("[spool]\ndir = spool\n", "etc/smg.conf",
                                  &conf, &err),
               "relative config path loads");
        if (conf != NULL)
            is_string(want, smg_conf_str(conf, "spool", "dir"),
                      "PATH under a relative config path is absolute");
        else
            ok(0, "PATH under a relative config path is absolute");
        smg_conf_free(conf);
        g_clear_error(&err);
        g_free(want);
        g_free(cwd);
    }
}

/* test_comments - ';' and '#' lines, inline comments, CRLF, blank lines */
static void
test_comments(void)
{
    struct smg_conf *conf = load(
        "; a comment line\n"
        "# another one\n"
        "\n"
        "   ; indented comment\n"
        "[recv]\n"
        "hostname = a;b#c          ; inline comment after a value\n"
        "max_recipients = 50\t# tab, then hash comment\n"
        "auth = off ; required | optional | off\n"
        "[send]\r\n"
        "port = 2526 ; tests point this elsewhere\r\n");

    ok(conf != NULL, "commented config loads");
    if (conf == NULL)
        bail("cannot continue");
    is_string("a;b#c", smg_conf_str(conf, "recv", "hostname"),
              "';' and '#' inside a word are kept");
    is_int(50, smg_conf_int(conf, "recv", "max_recipients"),
           "tab then # starts a comment");
    is_string("off", smg_conf_str(conf, "recv", "auth"),
              "inline comment cut from a CHOICE");
    is_int(2526, smg_conf_int(conf, "send", "port"), "CRLF line ends");
    smg_conf_free(conf);
    conf = load("\xEF\xBB\xBF[send]\r\nport = 2527\r\n");
    ok(conf != NULL && smg_conf_int(conf, "send", "port") == 2527,
       "a UTF-8 byte order mark before line 1 is skipped");
    smg_conf_free(conf);
}

/* test_errors - every load error names FILE:LINE and the key */
static void
test_errors(void)
{
    load_error("[recv]\nhostname = x\n\n[bogus]\n",
               "4.3.5 /etc/smg/t.conf:4: [bogus]: unknown group",
               "unknown group");
    load_error("; c\n[recv]\nhostname = x\nno_such_key = 1\n",
               "4.3.5 /etc/smg/t.conf:4: [recv] no_such_key: unknown key",
               "unknown key");
    load_error("; comment\n\nhostname = x\n[recv]\n",
               "4.3.5 /etc/smg/t.conf:3: hostname: key outside of any [group]",
               "key outside a group");
    load_error("[recv]\nhostname = a\nauth = off\n[send]\nport = 26\n"
               "[recv]\nhostname = b\n",
               "4.3.5 /etc/smg/t.conf:7: [recv] hostname: set twice",
               "duplicate key (group opened again)");
    load_error("[gateway a]\nhelo = out.example.net\\r\\nQUIT\n",
               "4.3.5 /etc/smg/t.conf:2: [gateway a] helo: control character "
               "in the value",
               "a CR LF escape in a HELO name is refused (it would end EHLO)");
    load_error("[dnsbl z]\nremoval_headers = X-A: 1\\nX-B: 2\n",
               "4.3.5 /etc/smg/t.conf:2: [dnsbl z] removal_headers: control "
               "character in the value",
               "a line break escape in removal_headers is refused");
    {
        struct smg_conf *c = load("[dnsbl z]\nremoval_body = a\\nb\n"
                                  "[gateway a]\nhelo = x\\ty\n");
        ok(c != NULL && strcmp(smg_conf_str(c, "dnsbl z", "removal_body"), "a\nb") == 0
               && strcmp(smg_conf_str(c, "gateway a", "helo"), "x\ty") == 0,
           "a body template may hold a line break; a tab is kept");
        smg_conf_free(c);
    }
    load_error("\xEF\xBB\xBF[send]\nport = 25\nbogus = 1\n",
               "4.3.5 /etc/smg/t.conf:3: [send] bogus: unknown key",
               "BOM: lines still counted from 1");
    load_error("[recv]\nrate_limit = 1000001/min\n",
               "4.3.5 /etc/smg/t.conf:2: [recv] rate_limit: 1000001/min: "
               "at most 1000000 messages per period",
               "rate above smg-recv's maximum: refused with its line");
    load_error("[send]\nport = 25\nport = 26\n",
               "4.3.5 /etc/smg/t.conf:3: [send] port: set twice",
               "duplicate key");
    load_error("[recv]\n; c\n\nmax_recipients = lots\n",
               "4.3.5 /etc/smg/t.conf:4: [recv] max_recipients: "
               "\"lots\" is not an integer",
               "bad INT");
    load_error("[recv]\nhostname = h\nmax_recipients = 0 ; none\n",
               "4.3.5 /etc/smg/t.conf:3: [recv] max_recipients: "
               "\"0\" is out of range [1, 100000]",
               "INT below range");
    load_error("[recv]\n\n\n\nmax_recipients = 100001\n",
               "4.3.5 /etc/smg/t.conf:5: [recv] max_recipients: "
               "\"100001\" is out of range [1, 100000]",
               "INT above range");
    load_error("[recv]\nmax_message_size = 512\n",
               "4.3.5 /etc/smg/t.conf:2: [recv] max_message_size: "
               "\"512\" is below the minimum 1024",
               "SIZE below minimum");
    load_error("[recv]\nmax_message_size = 10X\n",
               "4.3.5 /etc/smg/t.conf:2: [recv] max_message_size: "
               "\"10X\" is not a size (e.g. 10M)",
               "bad SIZE");
    load_error("[dns]\ntimeout = 5 minutes\n",
               "4.3.5 /etc/smg/t.conf:2: [dns] timeout: "
               "\"5 minutes\" is not a duration (e.g. 30s, 5m, 4h, 5d)",
               "bad TIME");
    load_error("[dns]\ntimeout = 6m\n",
               "4.3.5 /etc/smg/t.conf:2: [dns] timeout: "
               "\"6m\" is out of range [1, 300]",
               "TIME above range");
    load_error("[send]\nqueue_lifetime = 59s\n",
               "4.3.5 /etc/smg/t.conf:2: [send] queue_lifetime: "
               "\"59s\" is below the minimum 60",
               "TIME below minimum");
    /* a size or time without a maximum of its own stops at 1024G and
     * 3650d: 2^63 seconds of queue_lifetime made smg-send's arrival +
     * lifetime overflow and bounce every deferred message at once */
    load_error("[send]\nqueue_lifetime = 106751991167300d\n",
               "4.3.5 /etc/smg/t.conf:2: [send] queue_lifetime: "
               "\"106751991167300d\" is above the maximum 3650d",
               "TIME without a maximum of its own: 2^63 s refused");
    load_error("[send]\nhold_expiry = 3651d\n",
               "4.3.5 /etc/smg/t.conf:2: [send] hold_expiry: "
               "\"3651d\" is above the maximum 3650d",
               "TIME without a maximum of its own: 3651d refused");
    load_error("[sign]\nexpire = 315360001\n",
               "4.3.5 /etc/smg/t.conf:2: [sign] expire: "
               "\"315360001\" is above the maximum 3650d",
               "TIME from 0 without a maximum: one second over refused");
    load_error("[recv]\nmax_message_size = 8589934591G\n",
               "4.3.5 /etc/smg/t.conf:2: [recv] max_message_size: "
               "\"8589934591G\" is above the maximum 1024G",
               "SIZE without a maximum of its own: 2^63 bytes refused");
    load_error("[spool]\nmin_free = 1099511627777\n",
               "4.3.5 /etc/smg/t.conf:2: [spool] min_free: "
               "\"1099511627777\" is above the maximum 1024G",
               "SIZE from 0 without a maximum: one byte over refused");
    load_error("[dns]\ntimeout = 3651d\n",
               "4.3.5 /etc/smg/t.conf:2: [dns] timeout: "
               "\"3651d\" is out of range [1, 300]",
               "a row's own maximum is named, not the general one");
    {
        struct smg_conf *conf = load("[send]\nqueue_lifetime = 3650d\n"
                                     "hold_expiry = 315360000\n"
                                     "[recv]\nmax_message_size = 1024G\n"
                                     "[spool]\nmin_free = 1099511627776\n");

        ok(conf != NULL, "the largest size and time load");
        if (conf != NULL) {
            is_int(G_GINT64_CONSTANT(315360000),
                   smg_conf_int(conf, "send", "queue_lifetime"),
                   "queue_lifetime 3650d");
            is_int(G_GINT64_CONSTANT(1099511627776),
                   smg_conf_int(conf, "recv", "max_message_size"),
                   "max_message_size 1024G");
        } else {
            ok(0, "queue_lifetime 3650d");
            ok(0, "max_message_size 1024G");
        }
        smg_conf_free(conf);
    }
    load_error("[recv]\nsender_domain_check = maybe\n",
               "4.3.5 /etc/smg/t.conf:2: [recv] sender_domain_check: "
               "\"maybe\" is not yes or no",
               "bad BOOL");
    load_error("[recv]\nauth = sometimes\n",
               "4.3.5 /etc/smg/t.conf:2: [recv] auth: "
               "\"sometimes\" is not one of required|optional|off",
               "bad CHOICE");
    load_error("[send]\nbounce_queue = ndr out\n",
               "4.3.5 /etc/smg/t.conf:2: [send] bounce_queue: "
               "\"ndr out\" is not a queue name (letters, digits, \".\", \"-\", \"_\"; "
               "not starting with \".\")",
               "bad QUEUE (a bounce could never be written)");
    load_error("[blcheck]\nnotify_queue = ../sign\n",
               "4.3.5 /etc/smg/t.conf:2: [blcheck] notify_queue: "
               "\"../sign\" is not a queue name (letters, digits, \".\", \"-\", \"_\"; "
               "not starting with \".\")",
               "bad QUEUE (a path)");
    load_error("[recv]\nrate_limit = 100/day\n",
               "4.3.5 /etc/smg/t.conf:2: [recv] rate_limit: "
               "\"100/day\" is not off or a rate (e.g. 100/min)",
               "bad RATE");
    load_error("[check]\nthreshold = high\n",
               "4.3.5 /etc/smg/t.conf:2: [check] threshold: "
               "\"high\" is not a number",
               "bad DOUBLE");
    load_error("[check]\nthreshold = nan\n",
               "4.3.5 /etc/smg/t.conf:2: [check] threshold: "
               "\"nan\" is not a number",
               "DOUBLE nan");
    load_error("[check]\nthreshold = 1e9\n",
               "4.3.5 /etc/smg/t.conf:2: [check] threshold: "
               "\"1e9\" is out of range [-1000, 1000]",
               "DOUBLE out of range");
    load_error("[spool]\ndir = ; nothing\n",
               "4.3.5 /etc/smg/t.conf:2: [spool] dir: empty file name",
               "empty PATH");
    load_error("[recv]\nhostname = a\\qb\n",
               "4.3.5 /etc/smg/t.conf:2: [recv] hostname: bad escape",
               "bad escape");
    load_error("[recv\nhostname = x\n",
               "4.3.5 /etc/smg/t.conf:1: bad group line", "bad group line");
    load_error("[]\n", "4.3.5 /etc/smg/t.conf:1: bad group line",
               "empty group name");
    load_error("[recv]\nhostname\n",
               "4.3.5 /etc/smg/t.conf:2: expected \"key = value\", "
               "a [group] or a comment",
               "line without '='");
    load_error("[recv]\n= x\n",
               "4.3.5 /etc/smg/t.conf:2: expected \"key = value\", "
               "a [group] or a comment",
               "line without a key");
    load_error("[gateway mta01]\nport = 25\n",
               "4.3.5 /etc/smg/t.conf:2: [gateway mta01] port: unknown key",
               "unknown key in a gateway group");
    load_error("[gateway]\nbind = 192.0.2.1\n",
               "4.3.5 /etc/smg/t.conf:1: [gateway]: unknown group",
               "gateway group without a name");
    load_error("[gateway a b]\n",
               "4.3.5 /etc/smg/t.conf:1: [gateway a b]: unknown group",
               "gateway name with a space");
    /* GKeyFile refuses these group names; the error must name the line */
    load_error("[recv]\nhostname = x\n[gateway a[b]\nbind = 192.0.2.1\n",
               "4.3.5 /etc/smg/t.conf:3: bad group line", "'[' in a group name");
    load_error("[recv]\n[gateway a\tb]\n",
               "4.3.5 /etc/smg/t.conf:2: bad group line",
               "control character in a group name");
    /* a gateway's name is part of queue names: send.NAME, deferred.NAME */
    load_error("[recv]\nhostname = x\n[gateway a/../b]\nbind = 192.0.2.1\n",
               "4.3.5 /etc/smg/t.conf:3: [gateway a/../b]: a gateway's name names "
               "its queues send.NAME and deferred.NAME: letters, digits, \".\", "
               "\"-\", \"_\", not starting with \".\", at most 119 characters",
               "gateway name that is no queue name");
    load_error("[gateway .hidden]\n",
               "4.3.5 /etc/smg/t.conf:1: [gateway .hidden]: a gateway's name names "
               "its queues send.NAME and deferred.NAME: letters, digits, \".\", "
               "\"-\", \"_\", not starting with \".\", at most 119 characters",
               "gateway name starting with a dot");
    {
        char *name = g_strnfill(120, 'g');
        char *text = g_strdup_printf("[gateway %s]\nbind = 192.0.2.1\n", name);
        struct smg_conf *conf = NULL;
        GError *err = NULL;

        ok(smg_conf_load_data(text, "/etc/smg/t.conf", &conf, &err) == SMG_CONFIG
               && strstr(err->message, "at most 119") != NULL,
           "gateway name of 120 characters refused");
        g_clear_error(&err);
        smg_conf_free(conf);
        conf = NULL;
        name[119] = '\0';
        g_free(text);
        text = g_strdup_printf("[gateway mta-01_a.B]\nbind = 192.0.2.1\n"
                               "[gateway %s]\nbind = 192.0.2.2\n", name);
        ok(smg_conf_load_data(text, "/etc/smg/t.conf", &conf, &err) == SMG_OK,
           "gateway names of queue characters, and of 119, load");
        g_clear_error(&err);
        smg_conf_free(conf);
        g_free(text);
        g_free(name);
    }
    load_error("[recv]\nhostname = out\xff\n",
               "4.3.5 /etc/smg/t.conf:2: [recv] hostname: not UTF-8 text",
               "a value that is not UTF-8 is not called a bad escape");
    /* an empty host name: no NDR could be made, EHLO would have no name */
    load_error("[recv]\nhostname =\n",
               "4.3.5 /etc/smg/t.conf:2: [recv] hostname: empty value "
               "(leave the key out for the default)",
               "empty [recv] hostname");
    load_error("[scan]\nhostname = ; none\n",
               "4.3.5 /etc/smg/t.conf:2: [scan] hostname: empty value "
               "(leave the key out for the default)",
               "empty [scan] hostname");
    load_error("[gateway mta01]\nbind = 192.0.2.1\nhelo =\n",
               "4.3.5 /etc/smg/t.conf:3: [gateway mta01] helo: empty value "
               "(leave the key out for the default)",
               "empty [gateway] helo");
    load_error("[recv]\nHostname = x\n",
               "4.3.5 /etc/smg/t.conf:2: [recv] Hostname: unknown key",
               "keys are case-sensitive");
}

/* test_gateways - [gateway NAME] groups */
static void
test_gateways(void)
{
    struct smg_conf *conf = load("[route]\ngood = mta01\nbad = mta02\n"
                                 "[gateway mta01]\n"
                                 "bind = 192.0.2.1\n"
                                 "helo = mta01.example.net\n"
                                 "[gateway mta02]\n"
                                 "relay = relay.example.net ; other node\n");
    char **gw;

    ok(conf != NULL, "gateway config loads");
    if (conf == NULL)
        bail("cannot continue");
    gw = smg_conf_gateways(conf);
    is_int(2, (long) g_strv_length(gw), "two gateways");
    ok(g_strv_contains((const char *const *) gw, "mta01")
           && g_strv_contains((const char *const *) gw, "mta02"),
       "names mta01 and mta02");
    g_strfreev(gw);
    is_string("192.0.2.1", smg_conf_str(conf, "gateway mta01", "bind"),
              "mta01 bind");
    is_string("mta01.example.net", smg_conf_str(conf, "gateway mta01", "helo"),
              "mta01 helo");
    ok(smg_conf_str(conf, "gateway mta01", "relay") == NULL, "mta01 no relay");
    is_string("relay.example.net", smg_conf_str(conf, "gateway mta02", "relay"),
              "mta02 relay, comment cut");
    ok(smg_conf_str(conf, "gateway mta03", "bind") == NULL,
       "an absent gateway has no values");
    smg_conf_free(conf);
}

/* print_to_string - smg_conf_print into a new string */
static char *
print_to_string(const struct smg_conf *conf, gboolean nondefault)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    if (fp == NULL)
        bail("open_memstream failed");
    smg_conf_print(conf, fp, nondefault);
    fclose(fp);
    return buf;
}

/* test_print - postconf -n and the full dump */
static void
test_print(void)
{
    struct smg_conf *conf = load("[send]\nport = 2525\n"
                                 "[recv]\nauth = required\n" /* = default */
                                 "max_message_size = 10M\n"
                                 "[spool]\ndir = q\n"
                                 "[gateway mta01]\nbind = 192.0.2.1\n"
                                 "[dnsbl z]\nremoval_body = a\\\\b\\n\\sc\\s;d\\s\n");
    struct smg_conf *again = NULL;
    GError *err = NULL;
    char *text;

    if (conf == NULL)
        bail("cannot load the print config");
    text = print_to_string(conf, TRUE);
    is_string("[spool]\ndir = /etc/smg/q\n"
              "[recv]\nmax_message_size = 10M\n"
              "[send]\nport = 2525\n"
              "[gateway mta01]\nbind = 192.0.2.1\n"
              "[dnsbl z]\nremoval_body = a\\\\b\\n c\\s;d\\s\n",
              text, "nondefault: only the settings that differ");
    free(text);

    text = print_to_string(conf, FALSE);
    ok(strstr(text, "[dns]\ntimeout = 5\nattempts = 2\n") != NULL,
       "full: defaults printed");
    ok(strstr(text, "auth = required\n") != NULL, "full: auth printed");
    ok(strstr(text, "port = 2525\n") != NULL, "full: file value printed");
    ok(strstr(text, "hostname") == NULL, "full: unset keys are left out");
    /* the full dump is itself a valid config with the same values */
    is_int(SMG_OK, smg_conf_load_data(text, "/etc/smg/dump.conf", &again, &err),
           "full dump loads again");
    if (again != NULL) {
        is_int(2525, smg_conf_int(again, "send", "port"), "dump: port");
        is_string("/etc/smg/q", smg_conf_str(again, "spool", "dir"), "dump: dir");
        is_string("192.0.2.1", smg_conf_str(again, "gateway mta01", "bind"),
                  "dump: gateway");
        is_string("a\\b\n c ;d ", smg_conf_str(again, "dnsbl z", "removal_body"),
                  "dump: backslash, line break and spaces kept");
    } else {
        diag("%s", err->message);
        ok(0, "dump: port");
        ok(0, "dump: dir");
        ok(0, "dump: gateway");
        ok(0, "dump: backslash, line break and spaces kept");
    }
    g_clear_error(&err);
    smg_conf_free(again);
    free(text);
    smg_conf_free(conf);

    conf = load("");
    text = print_to_string(conf, TRUE);
    is_string("", text, "nondefault of an empty file prints nothing");
    free(text);
    smg_conf_free(conf);
}

/* test_files - smg_conf_load from disk, missing file, the DESIGN example */
static void
test_files(void)
{
    char *dir = test_tmpdir();
    char *path = g_build_filename(dir, "smg.conf", NULL);
    char *missing = g_build_filename(dir, "nope.conf", NULL);
    char *want = g_build_filename(dir, "dkim", "KeyTable", NULL);
    struct smg_conf *conf = NULL;
    GError *err = NULL;
    char *design;

    test_write_file(path, "[sign]\nkeytable = dkim/KeyTable\n[scan]\n"
                          "database = /var/lib/clamav\n");
    is_int(SMG_OK, smg_conf_load(path, &conf, &err), "file loads");
    if (conf != NULL) {
        is_string(want, smg_conf_str(conf, "sign", "keytable"),
                  "PATH relative to the file's folder");
        is_string(path, smg_conf_path(conf), "smg_conf_path");
    } else {
        ok(0, "PATH relative to the file's folder");
        ok(0, "smg_conf_path");
    }
    smg_conf_free(conf);
    g_clear_error(&err);

    conf = NULL;
    is_int(SMG_CONFIG, smg_conf_load(missing, &conf, &err),
           "missing file: SMG_CONFIG");
    ok(err != NULL && g_str_has_prefix(err->message, "4.3.5 ")
           && strstr(err->message, missing) != NULL,
       "missing file: message has the DSN and the path");
    ok(err != NULL && smg_error_status(err) == SMG_CONFIG,
       "missing file: error carries SMG_CONFIG");
    g_clear_error(&err);
    is_int(SMG_CONFIG, smg_conf_load(dir, &conf, &err),
           "a folder as config: SMG_CONFIG");
    g_clear_error(&err);

    test_write_file(path, "[recv]\n\nmax_recipients = -1\n");
    is_int(SMG_CONFIG, smg_conf_load(path, &conf, &err), "bad file: SMG_CONFIG");
    {
        char *w = g_strdup_printf("4.3.5 %s:3: [recv] max_recipients: "
                                  "\"-1\" is out of range [1, 100000]",
                                  path);
        is_string(w, err != NULL ? err->message : NULL,
                  "bad file: message names the real file and line");
        g_free(w);
    }
    g_clear_error(&err);

    {
        /* a NUL ended the text that was checked: whatever followed it (here
         * a bad value) was never read, and the file loaded */
        static const char nul[] = "[recv]\nhostname = x\0y\nmax_recipients = lots\n";
        char *w = g_strdup_printf("4.3.5 %s:2: NUL byte in the config file", path);

        if (!g_file_set_contents(path, nul, sizeof nul - 1, NULL))
            bail("cannot write %s", path);
        conf = NULL;
        is_int(SMG_CONFIG, smg_conf_load(path, &conf, &err),
               "a NUL byte in the file: SMG_CONFIG");
        is_string(w, err != NULL ? err->message : NULL,
                  "a NUL byte: file and line named");
        smg_conf_free(conf);
        conf = NULL;
        g_clear_error(&err);
        g_free(w);
    }

    design = test_file_path("config-design.conf");
    ok(design != NULL, "t/data/config-design.conf found");
    conf = NULL;
    if (design != NULL
        && smg_conf_load(design, &conf, &err) == SMG_OK) {
        char **gw = smg_conf_gateways(conf);
        char **zones = smg_conf_list(conf, "blcheck", "zones");
        gint64 n = 0, per = 0;

        ok(1, "the DESIGN.md example loads");
        char **ns = smg_conf_list(conf, "dns", "nameservers");

        is_string("127.0.0.1:53", ns[0], "example: nameservers, comment cut");
        g_strfreev(ns);
        is_string("/var/lib/smg", smg_conf_str(conf, "spool", "state_dir"),
                  "example: inline comment after state_dir cut");
        is_string("required", smg_conf_str(conf, "recv", "auth"),
                  "example: auth");
        ok(smg_conf_parse_rate(smg_conf_str(conf, "recv", "rate_limit"), &n,
                               &per)
               && n == 0,
           "example: rate_limit off");
        is_int(25, smg_conf_int(conf, "send", "port"), "example: port");
        is_int(432000, smg_conf_int(conf, "send", "queue_lifetime"),
               "example: queue_lifetime 5d");
        ok(g_strv_length(gw) == 1 && strcmp(gw[0], "mta01") == 0,
           "example: gateway mta01");
        ok(g_strv_length(zones) == 2, "example: two zones");
        g_strfreev(gw);
        g_strfreev(zones);
    } else {
        diag("%s", err != NULL ? err->message : "no file");
        ok(0, "the DESIGN.md example loads");
        for (int i = 0; i < 8; i++)
            ok(0, "example value");
    }
    g_clear_error(&err);
    smg_conf_free(conf);
    g_free(design);

    g_free(want);
    g_free(missing);
    g_free(path);
    test_tmpdir_free(dir);
}

/* test_panic - a getter for a key not in the table is a programming error */
static void
test_panic(void)
{
    struct smg_conf *conf = load("");
    int status = 0;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0)
        bail("fork failed");
    if (pid == 0) {
        /* quiet the expected panic line; abort before any TAP output */
        if (freopen("/dev/null", "w", stderr) == NULL)
            _exit(3);
        (void) smg_conf_str(conf, "recv", "no_such_key");
        _exit(0);
    }
    waitpid(pid, &status, 0);
    ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
       "unknown key in a getter: smg_panic aborts");
    smg_conf_free(conf);
}

int
main(void)
{
    smg_log_init("config-t", SMG_LOG_STDERR, FALSE);
    plan(242);
    test_defaults();
    test_parsers();
    test_types();
    test_comments();
    test_errors();
    test_gateways();
    test_print();
    test_files();
    test_panic();
    return 0;
}

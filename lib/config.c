/*
 * config.c - load, validate and query smg.conf.
 *
 * The file is first checked line by line (so that every error has a line
 * number), inline comments are cut, and the cleaned text is handed to
 * GKeyFile with the same line numbering.  Then every group and key is
 * checked against smg_conf_keys[].  Values are kept as text and parsed by
 * the getters, which cannot fail because loading already parsed them once.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/spool.h"
#include "lib/table.h"

/* where make install puts the shipped rules file ($(pkgdatadir)) */
#ifndef SMG_PKGDATADIR
#define SMG_PKGDATADIR "/usr/local/share/smg"
#endif

/* clang-format off */
const struct smg_conf_key smg_conf_keys[] = {
    {"spool", "dir", SMG_CONF_PATH, "/var/spool/smg", 0, 0, NULL},
    {"spool", "state_dir", SMG_CONF_PATH, "/var/lib/smg", 0, 0, NULL},
    {"spool", "min_free", SMG_CONF_SIZE, "0", 0, 0, NULL},
    {"spool", "dirsync", SMG_CONF_CHOICE, "auto", 0, 0, "auto|yes|no"},
    {"spool", "sync", SMG_CONF_BOOL, "yes", 0, 0, NULL},
    {"spool", "batch", SMG_CONF_INT, "16", 1, 256, NULL},
    {"spool", "user", SMG_CONF_STR, NULL, 0, 0, NULL},
    {"dns", "nameservers", SMG_CONF_LIST, NULL, 0, 0, NULL},
    {"dns", "timeout", SMG_CONF_TIME, "5", 1, 300, NULL},
    {"dns", "attempts", SMG_CONF_INT, "2", 1, 10, NULL},
    {"recv", "hostname", SMG_CONF_STR, NULL, 1, 0, NULL},
    {"recv", "postmaster", SMG_CONF_ADDR, NULL, 0, 0, NULL},
    {"recv", "customer_domains", SMG_CONF_PATH, NULL, 0, 0, NULL},
    {"recv", "tls_cert", SMG_CONF_PATH, SMG_SYSCONFDIR "/tls/cert.pem", 0, 0, NULL},
    {"recv", "tls_key", SMG_CONF_PATH, SMG_SYSCONFDIR "/tls/key.pem", 0, 0, NULL},
    {"recv", "tls", SMG_CONF_BOOL, "yes", 0, 0, NULL},
    {"recv", "auth", SMG_CONF_CHOICE, "required", 0, 0, "required|optional|off"},
    {"recv", "credentials", SMG_CONF_PATH, SMG_SYSCONFDIR "/credentials", 0, 0, NULL},
    {"recv", "sender_domain_check", SMG_CONF_BOOL, "yes", 0, 0, NULL},
    {"recv", "rate_limit", SMG_CONF_RATE, "off", 0, 1000000, NULL},
    {"recv", "rate_limit_table", SMG_CONF_PATH, NULL, 0, 0, NULL},
    {"recv", "max_message_size", SMG_CONF_SIZE, "52428800", 1024, 0, NULL},
    {"recv", "max_recipients", SMG_CONF_INT, "1000", 1, 100000, NULL},
    {"recv", "max_line_length", SMG_CONF_INT, "2048", 512, 1048576, NULL},
    {"recv", "max_data_line_length", SMG_CONF_INT, "65536", 1000, 16777216, NULL},
    {"recv", "max_header_size", SMG_CONF_SIZE, "102400", 1024, 0, NULL},
    {"recv", "max_hops", SMG_CONF_INT, "50", 1, 1000, NULL},
    {"recv", "command_timeout", SMG_CONF_TIME, "300", 1, 3600, NULL},
    {"recv", "data_timeout", SMG_CONF_TIME, "600", 1, 3600, NULL},
    {"recv", "max_errors", SMG_CONF_INT, "20", 1, 1000, NULL},
    {"recv", "max_junk_commands", SMG_CONF_INT, "100", 1, 100000, NULL},
    {"recv", "max_auth_failures", SMG_CONF_INT, "3", 1, 100, NULL},
    {"recv", "auth_failure_delay", SMG_CONF_TIME, "2", 0, 60, NULL},
    {"recv", "max_messages", SMG_CONF_INT, "1000", 1, 1000000, NULL},
    {"recv", "max_sessions", SMG_CONF_INT, "100", 1, 10000, NULL},
    {"recv", "spare_workers", SMG_CONF_INT, "4", 1, 1000, NULL},
    {"recv", "worker_sessions", SMG_CONF_INT, "100", 1, 1000000, NULL},
    /* @check-keys@ */
    {"check", "rules", SMG_CONF_PATH, SMG_PKGDATADIR "/smg.rules", 0, 0, NULL},
    {"check", "local_rules", SMG_CONF_PATH, NULL, 0, 0, NULL},
    {"check", "bayes", SMG_CONF_BOOL, "yes", 0, 0, NULL},
    {"check", "bayes_database", SMG_CONF_PATH, NULL, 0, 0, NULL},
    {"check", "bayes_weight", SMG_CONF_DOUBLE, "8", 0, 1000, NULL},
    {"check", "bayes_min_learned", SMG_CONF_INT, "20", 1, 100000000, NULL},
    {"check", "max_text", SMG_CONF_SIZE, "256k", 1024, 67108864, NULL},
    {"check", "rspamd_url", SMG_CONF_STR, NULL, 0, 0, NULL},
    {"check", "rspamd_mode", SMG_CONF_CHOICE, "merge", 0, 0, "merge|only"},
    {"check", "rspamd_timeout", SMG_CONF_TIME, "5", 1, 300, NULL},
    {"check", "rspamd_weight", SMG_CONF_DOUBLE, "1", 0, 1000, NULL},
    {"check", "uri_dnsbl_zones", SMG_CONF_LIST, NULL, 0, 0, NULL},
    {"check", "uri_dnsbl_max", SMG_CONF_INT, "10", 1, 100, NULL},
    {"check", "customer_domains", SMG_CONF_PATH, NULL, 0, 0, NULL},
    {"check", "spamstats", SMG_CONF_BOOL, "yes", 0, 0, NULL},
    {"check", "spamstats_window", SMG_CONF_TIME, "1d", 3600, 2592000, NULL},
    {"check", "threshold", SMG_CONF_DOUBLE, "5.0", -1000, 1000, NULL},
    /* @scan-keys@ */
    {"scan", "database", SMG_CONF_PATH, "/var/lib/clamav", 0, 0, NULL},
    {"scan", "hostname", SMG_CONF_STR, NULL, 1, 0, NULL},
    {"scan", "max_scan_size", SMG_CONF_SIZE, "400M", 1024, 4294967295.0, NULL},
    /* libclamav scans no file over 2 GiB - 1; smg-scan adds 22 bytes */
    {"scan", "max_file_size", SMG_CONF_SIZE, "100M", 1024, 2147483625.0, NULL},
    {"scan", "max_recursion", SMG_CONF_INT, "17", 1, 100, NULL},
    {"scan", "max_files", SMG_CONF_INT, "10000", 1, 1000000, NULL},
    {"scan", "max_scan_time", SMG_CONF_TIME, "120", 1, 3600, NULL},
    {"scan", "limit_action", SMG_CONF_CHOICE, "pass", 0, 0, "pass|reject"},
    {"scan", "alert_encrypted", SMG_CONF_BOOL, "no", 0, 0, NULL},
    {"scan", "alert_macros", SMG_CONF_BOOL, "no", 0, 0, NULL},
    {"scan", "tmpdir", SMG_CONF_PATH, NULL, 0, 0, NULL},
    {"scan", "reload_interval", SMG_CONF_TIME, "60", 1, 86400, NULL},
    {"scan", "quarantine_retention", SMG_CONF_TIME, "30d", 0, 0, NULL},
    {"scan", "ndr", SMG_CONF_BOOL, "yes", 0, 0, NULL},
    {"scan", "customer_domains", SMG_CONF_PATH, NULL, 0, 0, NULL},
    /* @sign-keys@ */
    {"sign", "keytable", SMG_CONF_PATH, SMG_SYSCONFDIR "/dkim/KeyTable", 0, 0, NULL},
    {"sign", "signingtable", SMG_CONF_STR, SMG_SYSCONFDIR "/dkim/SigningTable", 0, 0, NULL},
    {"sign", "multiple_signatures", SMG_CONF_BOOL, "no", 0, 0, NULL},
    {"sign", "reply_to", SMG_CONF_PATH, NULL, 0, 0, NULL},
    {"sign", "customer_domains", SMG_CONF_PATH, NULL, 0, 0, NULL},
    {"sign", "canonicalization", SMG_CONF_CHOICE, "relaxed/relaxed", 0, 0,
     "relaxed/relaxed|relaxed/simple|simple/relaxed|simple/simple"},
    {"sign", "headers", SMG_CONF_LIST, "from reply-to subject date to cc "
     "message-id in-reply-to references mime-version content-type "
     "content-transfer-encoding content-id content-description sender "
     "list-id list-help list-unsubscribe list-unsubscribe-post list-subscribe "
     "list-post list-owner list-archive resent-date resent-from resent-sender "
     "resent-to resent-cc resent-message-id", 0, 0, NULL},
    {"sign", "oversign_headers", SMG_CONF_LIST, "from", 0, 0, NULL},
    {"sign", "expire", SMG_CONF_TIME, "0", 0, 0, NULL},
    /* @route-keys@ */
    {"route", "good", SMG_CONF_LIST, NULL, 0, 0, NULL},
    {"route", "bad", SMG_CONF_LIST, NULL, 0, 0, NULL},
    {"route", "customer_spam_ratio", SMG_CONF_DOUBLE, "0.5", 0, 1, NULL},
    {"route", "customer_min_messages", SMG_CONF_INT, "20", 1, 1000000, NULL},
    /* @gateway-keys@ */
    {"gateway *", "bind", SMG_CONF_STR, NULL, 0, 0, NULL},
    {"gateway *", "helo", SMG_CONF_STR, NULL, 1, 0, NULL},
    {"gateway *", "relay", SMG_CONF_STR, NULL, 0, 0, NULL},
    /* @send-keys@ */
    {"send", "tls_policy", SMG_CONF_PATH, NULL, 0, 0, NULL},
    {"send", "port", SMG_CONF_INT, "25", 1, 65535, NULL},
    /* the gateway's own host, and networks that are no one's on the
     * Internet (RFC 6890): a customer's MX or address literal there
     * would reach the operator's or another customer's private hosts */
    {"send", "ignore_target_hosts", SMG_CONF_LIST,
     "0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 "
     "192.168.0.0/16 ::/128 ::1/128 fc00::/7 fe80::/10", 0, 0, NULL},
    {"send", "queue_lifetime", SMG_CONF_TIME, "5d", 60, 0, NULL},
    {"send", "tls_ca_file", SMG_CONF_PATH, NULL, 0, 0, NULL},
    {"send", "connect_timeout", SMG_CONF_TIME, "30", 1, 600, NULL},
    {"send", "command_timeout", SMG_CONF_TIME, "300", 1, 3600, NULL},
    {"send", "data_timeout", SMG_CONF_TIME, "600", 1, 3600, NULL},
    {"send", "backoff_min", SMG_CONF_TIME, "5m", 1, 86400, NULL},
    {"send", "backoff_max", SMG_CONF_TIME, "4h", 1, 604800, NULL},
    {"send", "backoff_factor", SMG_CONF_DOUBLE, "2", 1, 10, NULL},
    {"send", "delay_warning", SMG_CONF_TIME, "4h", 0, 2592000, NULL},
    {"send", "hold_expiry", SMG_CONF_TIME, "5d", 60, 0, NULL},
    {"send", "connection_reuse_time", SMG_CONF_TIME, "10", 0, 3600, NULL},
    {"send", "connection_reuse_limit", SMG_CONF_INT, "100", 1, 100000, NULL},
    {"send", "processes", SMG_CONF_INT, "1", 1, 256, NULL},
    {"send", "bounce_queue", SMG_CONF_QUEUE, "sign", 0, 0, NULL},
    {"send", "bounce_size_limit", SMG_CONF_SIZE, "50000", 0, 0, NULL},
    /* @blcheck-keys@ */
    {"blcheck", "zones", SMG_CONF_LIST, NULL, 0, 0, NULL},
    {"blcheck", "notify", SMG_CONF_LIST, NULL, 0, 0, NULL},
    {"blcheck", "domain_zones", SMG_CONF_LIST, NULL, 0, 0, NULL},
    {"blcheck", "test_points", SMG_CONF_BOOL, "yes", 0, 0, NULL},
    {"blcheck", "state_file", SMG_CONF_PATH, NULL, 0, 0, NULL},
    {"blcheck", "sender", SMG_CONF_STR, NULL, 0, 0, NULL},
    {"blcheck", "from", SMG_CONF_STR, NULL, 0, 0, NULL},
    {"blcheck", "notify_queue", SMG_CONF_QUEUE, "sign", 0, 0, NULL},
    {"blcheck", "sendmail", SMG_CONF_PATH, NULL, 0, 0, NULL},
    {"blcheck", "sendmail_timeout", SMG_CONF_TIME, "300", 1, 3600, NULL},
    {"blcheck", "timeout", SMG_CONF_TIME, NULL, 1, 300, NULL},
    {"blcheck", "parallel", SMG_CONF_INT, "8", 1, 64, NULL},
    {"blcheck", "removal_requests", SMG_CONF_BOOL, "yes", 0, 0, NULL},
    {"blcheck", "http_timeout", SMG_CONF_TIME, "30", 1, 600, NULL},
    {"dnsbl *", "provider", SMG_CONF_STR, NULL, 0, 0, NULL},
    {"dnsbl *", "codes", SMG_CONF_LIST, NULL, 0, 0, NULL},
    {"dnsbl *", "removal_url", SMG_CONF_STR, NULL, 0, 0, NULL},
    {"dnsbl *", "removal_method", SMG_CONF_CHOICE, NULL, 0, 0, "GET|POST|PUT"},
    {"dnsbl *", "removal_body", SMG_CONF_STR, NULL, 0, 0, NULL},
    {"dnsbl *", "removal_headers", SMG_CONF_STR, NULL, 0, 0, NULL},
    {"dnsbl *", "removal_form", SMG_CONF_STR, NULL, 0, 0, NULL},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};
/* clang-format on */

struct smg_conf {
    char *path;
    char *dir;       /* folder of path, for relative PATH values */
    GKeyFile *kf;
    GHashTable *lines; /* "group\nkey" -> line number (GUINT_TO_POINTER) */
    GHashTable *cache; /* "group\nkey" -> value text, owned */
};

/* group_matches - whether a table group ("gateway *") matches a file group */
static gboolean
group_matches(const char *pattern, const char *group)
{
    size_t n = strlen(pattern);

    if (n >= 2 && pattern[n - 1] == '*' && pattern[n - 2] == ' ')
        return strncmp(pattern, group, n - 1) == 0 && group[n - 1] != '\0'
               && strchr(group + n - 1, ' ') == NULL;
    return strcmp(pattern, group) == 0;
}

/* find_key - the table row for group/key, or NULL */
static const struct smg_conf_key *
find_key(const char *group, const char *key)
{
    for (const struct smg_conf_key *k = smg_conf_keys; k->group != NULL; k++)
        if (group_matches(k->group, group) && strcmp(k->key, key) == 0)
            return k;
    return NULL;
}

/*
 * group_name_ok - whether the group name [name, end) is one GKeyFile takes
 * (no '[' and no control character), so that it is refused here, with
 * its line, rather than by GKeyFile without one
 */
static gboolean
group_name_ok(const char *name, const char *end)
{
    for (const char *p = name; p < end; p++)
        if (*p == '[' || g_ascii_iscntrl(*p))
            return FALSE;
    return TRUE;
}

/*
 * gateway_name_ok - whether a [gateway NAME] can name the queues
 * send.NAME and deferred.NAME: smg-route and smg-send would otherwise
 * start and then fail on every message (smg-queue takes queue names of
 * at most 128 characters)
 */
#define GATEWAY_NAME_MAX 119
static gboolean
gateway_name_ok(const char *name)
{
    return smg_spool_valid_queue(name) && strlen(name) <= GATEWAY_NAME_MAX;
}

/* group_known - whether any row has this group */
static gboolean
group_known(const char *group)
{
    for (const struct smg_conf_key *k = smg_conf_keys; k->group != NULL; k++)
        if (group_matches(k->group, group))
            return TRUE;
    return FALSE;
}

gboolean
smg_conf_parse_size(const char *s, gint64 *out)
{
    char *end;
    guint64 v;
    guint64 mult = 1;

    if (s == NULL || !g_ascii_isdigit(*s))
        return FALSE;
    errno = 0;
    v = g_ascii_strtoull(s, &end, 10);
    if (errno != 0)
        return FALSE;
    switch (g_ascii_tolower(*end)) {
    case '\0': break;
    case 'k': mult = 1024; end++; break;
    case 'm': mult = 1024 * 1024; end++; break;
    case 'g': mult = 1024 * 1024 * 1024; end++; break;
    default: return FALSE;
    }
    if (g_ascii_tolower(*end) == 'b')
        end++;
    if (*end != '\0' || v > (guint64) G_MAXINT64 / mult)
        return FALSE;
    *out = (gint64) (v * mult);
    return TRUE;
}

gboolean
smg_conf_parse_time(const char *s, gint64 *out)
{
    char *end;
    guint64 v;
    guint64 mult = 1;

    if (s == NULL || !g_ascii_isdigit(*s))
        return FALSE;
    errno = 0;
    v = g_ascii_strtoull(s, &end, 10);
    if (errno != 0)
        return FALSE;
    switch (*end) {
    case '\0': break;
    case 's': end++; break;
    case 'm': mult = 60; end++; break;
    case 'h': mult = 3600; end++; break;
    case 'd': mult = 86400; end++; break;
    case 'w': mult = 7 * 86400; end++; break;
    default: return FALSE;
    }
    if (*end != '\0' || v > (guint64) G_MAXINT64 / mult)
        return FALSE;
    *out = (gint64) (v * mult);
    return TRUE;
}

gboolean
smg_conf_parse_bool(const char *s, gboolean *out)
{
    static const char *yes[] = {"yes", "true", "on", "1"};
    static const char *no[] = {"no", "false", "off", "0"};

    for (unsigned i = 0; i < G_N_ELEMENTS(yes); i++) {
        if (g_ascii_strcasecmp(s, yes[i]) == 0) {
            *out = TRUE;
            return TRUE;
        }
        if (g_ascii_strcasecmp(s, no[i]) == 0) {
            *out = FALSE;
            return TRUE;
        }
    }
    return FALSE;
}

gboolean
smg_conf_parse_rate(const char *s, gint64 *count, gint64 *per_seconds)
{
    char *end;
    guint64 v;

    if (g_ascii_strcasecmp(s, "off") == 0) {
        *count = 0;
        *per_seconds = 60;
        return TRUE;
    }
    if (!g_ascii_isdigit(*s))
        return FALSE;
    v = g_ascii_strtoull(s, &end, 10);
    if (*end != '/' || v == 0 || v > G_MAXINT32)
        return FALSE;
    end++;
    if (strcmp(end, "s") == 0 || strcmp(end, "sec") == 0)
        *per_seconds = 1;
    else if (strcmp(end, "min") == 0 || strcmp(end, "m") == 0)
        *per_seconds = 60;
    else if (strcmp(end, "h") == 0 || strcmp(end, "hour") == 0)
        *per_seconds = 3600;
    else
        return FALSE;
    *count = (gint64) v;
    return TRUE;
}

/*
 * The largest size and time of a row without a maximum of its own: far
 * beyond a real setting, and small enough that adding it to a clock or to
 * another size cannot overflow.  (A queue_lifetime of 2^63 seconds once
 * wrapped arrival + lifetime below the clock and bounced every deferred
 * message at its first try.)
 */
#define SIZE_MAX_TEXT "1024G"
#define TIME_MAX_TEXT "3650d"
static const gint64 size_max = G_GINT64_CONSTANT(1024) * 1024 * 1024 * 1024;
static const gint64 time_max = G_GINT64_CONSTANT(3650) * 86400;

/* check_value - whether text is a valid value for row k; why on failure */
static gboolean
check_value(const struct smg_conf_key *k, const char *text, char **why)
{
    gint64 iv;
    double dv;
    gboolean bv;
    char *end;

    /* GKeyFile decodes \r, \n (and \t): a CR LF in a host name would end
     * EHLO and start a command of the operator's text; only a body
     * template may hold line breaks */
    if (strcmp(k->key, "removal_body") != 0)
        for (const char *p = text; *p != '\0'; p++)
            if (((unsigned char) *p < ' ' && *p != '\t') || *p == 0x7f) {
                *why = g_strdup("control character in the value");
                return FALSE;
            }
    switch (k->type) {
    case SMG_CONF_STR:
        /* a host name set empty would leave the NDRs without a
         * Reporting-MTA (none is made) and EHLO without a name */
        if (k->min > 0 && *text == '\0') {
            *why = g_strdup("empty value (leave the key out for the default)");
            return FALSE;
        }
        return TRUE;
    case SMG_CONF_LIST:
        return TRUE;
    case SMG_CONF_PATH:
        if (*text == '\0') {
            *why = g_strdup("empty file name");
            return FALSE;
        }
        return TRUE;
    case SMG_CONF_INT:
        errno = 0;
        iv = g_ascii_strtoll(text, &end, 10);
        if (*text == '\0' || *end != '\0' || errno != 0) {
            *why = g_strdup_printf("\"%s\" is not an integer", text);
            return FALSE;
        }
        dv = (double) iv;
        break;
    case SMG_CONF_SIZE:
        if (!smg_conf_parse_size(text, &iv)) {
            *why = g_strdup_printf("\"%s\" is not a size (e.g. 10M)", text);
            return FALSE;
        }
        if (k->max == 0 && iv > size_max) {
            *why = g_strdup_printf("\"%s\" is above the maximum " SIZE_MAX_TEXT, text);
            return FALSE;
        }
        dv = (double) iv;
        break;
    case SMG_CONF_TIME:
        if (!smg_conf_parse_time(text, &iv)) {
            *why = g_strdup_printf("\"%s\" is not a duration (e.g. 30s, 5m, 4h, 5d)", text);
            return FALSE;
        }
        if (k->max == 0 && iv > time_max) {
            *why = g_strdup_printf("\"%s\" is above the maximum " TIME_MAX_TEXT, text);
            return FALSE;
        }
        dv = (double) iv;
        break;
    case SMG_CONF_DOUBLE:
        dv = g_ascii_strtod(text, &end);
        if (*text == '\0' || *end != '\0' || !isfinite(dv)) {
            *why = g_strdup_printf("\"%s\" is not a number", text);
            return FALSE;
        }
        break;
    case SMG_CONF_BOOL:
        if (!smg_conf_parse_bool(text, &bv)) {
            *why = g_strdup_printf("\"%s\" is not yes or no", text);
            return FALSE;
        }
        return TRUE;
    case SMG_CONF_CHOICE: {
        char **c = g_strsplit(k->choices, "|", -1);
        gboolean found = g_strv_contains((const char *const *) c, text);
        g_strfreev(c);
        if (!found)
            *why = g_strdup_printf("\"%s\" is not one of %s", text, k->choices);
        return found;
    }
    case SMG_CONF_RATE: {
        gint64 n, per;
        if (!smg_conf_parse_rate(text, &n, &per)) {
            *why = g_strdup_printf("\"%s\" is not off or a rate (e.g. 100/min)", text);
            return FALSE;
        }
        if (k->max != 0 && (double) n > k->max) {
            *why = g_strdup_printf("%s: at most %.0f messages per period",
                                   text, k->max);
            return FALSE;
        }
        return TRUE;
    }
    case SMG_CONF_ADDR: {
        struct smg_addr a = {0};
        gboolean good = smg_addr_parse(text, strlen(text), 0, &a, NULL) == SMG_OK
                        && a.domain != NULL;

        smg_addr_clear(&a);
        if (!good)
            *why = g_strdup_printf("\"%s\" is not a mail address (local@domain)", text);
        return good;
    }
    case SMG_CONF_QUEUE:
        if (!smg_spool_valid_queue(text)) {
            *why = g_strdup_printf("\"%s\" is not a queue name (letters, digits, \".\", "
                                   "\"-\", \"_\"; not starting with \".\")",
                                   text);
            return FALSE;
        }
        return TRUE;
    default:
        *why = g_strdup("unknown type");
        return FALSE;
    }
    if ((k->min != 0 || k->max != 0)
        && (dv < k->min || (k->max != 0 && dv > k->max))) {
        if (k->max != 0)
            *why = g_strdup_printf("\"%s\" is out of range [%.0f, %.0f]", text,
                                   k->min, k->max);
        else
            *why = g_strdup_printf("\"%s\" is below the minimum %.0f", text,
                                   k->min);
        return FALSE;
    }
    return TRUE;
}

/* line_key - the key of the line-number table */
static char *
line_key(const char *group, const char *key)
{
    return g_strconcat(group, "\n", key, NULL);
}

/*
 * clean_text - check the syntax of every line, cut inline comments, and
 * record where each key is; returns the text for GKeyFile or NULL with err.
 */
static char *
clean_text(struct smg_conf *conf, const char *data, GError **err)
{
    char **lines = g_strsplit(data, "\n", -1);
    GString *out = g_string_new(NULL);
    char *group = NULL;

    for (unsigned i = 0; lines[i] != NULL; i++) {
        char *line = g_strstrip(lines[i]);
        unsigned lineno = i + 1;

        if (*line == '\0' || *line == '#' || *line == ';') {
            g_string_append_c(out, '\n');
            continue;
        }
        if (*line == '[') {
            char *close = strchr(line, ']');
            if (close == NULL || close[1] != '\0' || close == line + 1
                || !group_name_ok(line + 1, close)) {
                smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: bad group line",
                              conf->path, lineno);
                goto fail;
            }
            g_free(group);
            group = g_strndup(line + 1, (gsize) (close - line - 1));
            if (!group_known(group)) {
                smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: [%s]: unknown group",
                              conf->path, lineno, group);
                goto fail;
            }
            if (g_str_has_prefix(group, "gateway ") && !gateway_name_ok(group + 8)) {
                smg_set_error(err, SMG_CONFIG, NULL,
                              "%s:%u: [%s]: a gateway's name names its queues send.NAME "
                              "and deferred.NAME: letters, digits, \".\", \"-\", \"_\", "
                              "not starting with \".\", at most %d characters",
                              conf->path, lineno, group, GATEWAY_NAME_MAX);
                goto fail;
            }
            g_string_append_printf(out, "%s\n", line);
            continue;
        }
        char *eq = strchr(line, '=');
        if (eq == NULL || eq == line) {
            smg_set_error(err, SMG_CONFIG, NULL,
                          "%s:%u: expected \"key = value\", a [group] or a comment",
                          conf->path, lineno);
            goto fail;
        }
        *eq = '\0';
        char *key = g_strstrip(line);
        if (group == NULL) {
            smg_set_error(err, SMG_CONFIG, NULL,
                          "%s:%u: %s: key outside of any [group]", conf->path,
                          lineno, key);
            goto fail;
        }
        /* not stripped yet, so that "key = ; comment" is seen as a comment */
        char *value = eq + 1;
        /* an inline comment starts with whitespace then ';' or '#' */
        for (char *p = value; *p != '\0'; p++) {
            if ((*p == ';' || *p == '#') && p > value
                && (p[-1] == ' ' || p[-1] == '\t')) {
                *p = '\0';
                break;
            }
        }
        g_strstrip(value);
        if (find_key(group, key) == NULL) {
            smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: [%s] %s: unknown key",
                          conf->path, lineno, group, key);
            goto fail;
        }
        char *lk = line_key(group, key);
        if (g_hash_table_contains(conf->lines, lk)) {
            smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: [%s] %s: set twice",
                          conf->path, lineno, group, key);
            g_free(lk);
            goto fail;
        }
        g_hash_table_insert(conf->lines, lk, GUINT_TO_POINTER(lineno));
        g_string_append_printf(out, "%s=%s\n", key, value);
    }
    g_free(group);
    g_strfreev(lines);
    return g_string_free(out, FALSE);
fail:
    g_free(group);
    g_strfreev(lines);
    g_string_free(out, TRUE);
    return NULL;
}

/* validate - check every value against the table */
static gboolean
validate(struct smg_conf *conf, GError **err)
{
    char **groups = g_key_file_get_groups(conf->kf, NULL);
    gboolean good = TRUE;

    for (unsigned g = 0; good && groups[g] != NULL; g++) {
        char **keys = g_key_file_get_keys(conf->kf, groups[g], NULL, NULL);
        for (unsigned i = 0; good && keys != NULL && keys[i] != NULL; i++) {
            const struct smg_conf_key *k = find_key(groups[g], keys[i]);
            GError *kerr = NULL;
            char *value = g_key_file_get_string(conf->kf, groups[g], keys[i], &kerr);
            char *why = NULL;
            char *lk = line_key(groups[g], keys[i]);
            unsigned lineno = GPOINTER_TO_UINT(g_hash_table_lookup(conf->lines, lk));

            g_free(lk);
            if (value == NULL || kerr != NULL) {
                gboolean utf8 = !g_error_matches(kerr, G_KEY_FILE_ERROR,
                                                 G_KEY_FILE_ERROR_UNKNOWN_ENCODING);

                smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: [%s] %s: %s",
                              conf->path, lineno, groups[g], keys[i],
                              utf8 ? "bad escape" : "not UTF-8 text");
                good = FALSE;
            } else if (!check_value(k, value, &why)) {
                smg_set_error(err, SMG_CONFIG, NULL, "%s:%u: [%s] %s: %s",
                              conf->path, lineno, groups[g], keys[i], why);
                good = FALSE;
            }
            g_clear_error(&kerr);
            g_free(why);
            g_free(value);
        }
        g_strfreev(keys);
    }
    g_strfreev(groups);
    return good;
}

enum smg_status
smg_conf_load_data(const char *data, const char *path, struct smg_conf **out,
                   GError **err)
{
    struct smg_conf *conf = g_new0(struct smg_conf, 1);
    GError *kerr = NULL;
    char *text;

    conf->path = g_strdup(path);
    conf->dir = g_path_get_dirname(path);
    if (!g_path_is_absolute(conf->dir)) {
        char *cwd = g_get_current_dir();
        char *abs = g_build_filename(cwd, conf->dir, NULL);
        g_free(cwd);
        g_free(conf->dir);
        conf->dir = abs;
    }
    conf->kf = g_key_file_new();
    conf->lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    conf->cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    /* a UTF-8 byte order mark, as some Windows editors write one, is not
       part of line 1 */
    if (g_str_has_prefix(data, "\xEF\xBB\xBF"))
        data += 3;
    text = clean_text(conf, data, err);
    if (text == NULL)
        goto fail;
    if (!g_key_file_load_from_data(conf->kf, text, (gsize) -1, G_KEY_FILE_NONE,
                                   &kerr)) {
        smg_set_error(err, SMG_CONFIG, NULL, "%s: %s", path, kerr->message);
        g_error_free(kerr);
        g_free(text);
        goto fail;
    }
    g_free(text);
    if (!validate(conf, err))
        goto fail;
    *out = conf;
    return SMG_OK;
fail:
    smg_conf_free(conf);
    return SMG_CONFIG;
}

enum smg_status
smg_conf_load(const char *path, struct smg_conf **out, GError **err)
{
    char *data = NULL;
    enum smg_status st;

    if (path == NULL)
        path = SMG_CONF_DEFAULT_PATH;
    if ((st = smg_table_text(path, "config file", &data, err)) != SMG_OK)
        return st;
    st = smg_conf_load_data(data, path, out, err);
    g_free(data);
    return st;
}

void
smg_conf_free(struct smg_conf *conf)
{
    if (conf == NULL)
        return;
    g_free(conf->path);
    g_free(conf->dir);
    g_key_file_free(conf->kf);
    g_hash_table_destroy(conf->lines);
    g_hash_table_destroy(conf->cache);
    g_free(conf);
}

const char *
smg_conf_path(const struct smg_conf *conf)
{
    return conf->path;
}

/*
 * value - the text of group/key (file or default), computed once and kept
 * in conf->cache so that the returned string is owned by conf.  PATH values
 * are made absolute against the config file's folder.
 */
static const char *
value(const struct smg_conf *conf, const char *group, const char *key,
      const struct smg_conf_key **row)
{
    const struct smg_conf_key *k = find_key(group, key);
    char *ck;
    char *v;
    gpointer found;

    if (k == NULL)
        smg_panic("config key [%s] %s is not in the table", group, key);
    *row = k;
    ck = line_key(group, key);
    if (g_hash_table_lookup_extended(conf->cache, ck, NULL, &found)) {
        g_free(ck);
        return found;
    }
    v = g_key_file_get_string(conf->kf, group, key, NULL);
    if (v == NULL && k->def != NULL)
        v = g_strdup(k->def);
    if (v != NULL && k->type == SMG_CONF_PATH && !g_path_is_absolute(v)) {
        char *abs = g_build_filename(conf->dir, v, NULL);
        g_free(v);
        v = abs;
    }
    g_hash_table_insert(conf->cache, ck, v);
    return v;
}

const char *
smg_conf_str(const struct smg_conf *conf, const char *group, const char *key)
{
    const struct smg_conf_key *k;

    return value(conf, group, key, &k);
}

gint64
smg_conf_int(const struct smg_conf *conf, const char *group, const char *key)
{
    const struct smg_conf_key *k;
    const char *v = value(conf, group, key, &k);
    gint64 n = 0;

    if (v == NULL)
        return 0;
    switch (k->type) {
    case SMG_CONF_SIZE: (void) smg_conf_parse_size(v, &n); break;
    case SMG_CONF_TIME: (void) smg_conf_parse_time(v, &n); break;
    case SMG_CONF_INT: n = g_ascii_strtoll(v, NULL, 10); break;
    default: smg_panic("config key [%s] %s is not a number", group, key);
    }
    return n;
}

double
smg_conf_double(const struct smg_conf *conf, const char *group, const char *key)
{
    const struct smg_conf_key *k;
    const char *v = value(conf, group, key, &k);

    return v != NULL ? g_ascii_strtod(v, NULL) : 0.0;
}

gboolean
smg_conf_bool(const struct smg_conf *conf, const char *group, const char *key)
{
    const struct smg_conf_key *k;
    const char *v = value(conf, group, key, &k);
    gboolean b = FALSE;

    if (v != NULL)
        (void) smg_conf_parse_bool(v, &b);
    return b;
}

char **
smg_conf_list(const struct smg_conf *conf, const char *group, const char *key)
{
    const struct smg_conf_key *k;
    const char *v = value(conf, group, key, &k);
    GPtrArray *out = g_ptr_array_new();

    if (v != NULL) {
        char **words = g_strsplit_set(v, " \t,", -1);
        for (unsigned i = 0; words[i] != NULL; i++)
            if (*words[i] != '\0')
                g_ptr_array_add(out, g_strdup(words[i]));
        g_strfreev(words);
    }
    g_ptr_array_add(out, NULL);
    return (char **) g_ptr_array_free(out, FALSE);
}

gboolean
smg_conf_isset(const struct smg_conf *conf, const char *group, const char *key)
{
    return g_key_file_has_key(conf->kf, group, key, NULL);
}

char **
smg_conf_gateways(const struct smg_conf *conf)
{
    char **groups = g_key_file_get_groups(conf->kf, NULL);
    GPtrArray *out = g_ptr_array_new();

    for (unsigned i = 0; groups[i] != NULL; i++)
        if (g_str_has_prefix(groups[i], "gateway "))
            g_ptr_array_add(out, g_strdup(groups[i] + strlen("gateway ")));
    g_ptr_array_add(out, NULL);
    g_strfreev(groups);
    return (char **) g_ptr_array_free(out, FALSE);
}

/*
 * print_value - v as the file must spell it to read it back: GKeyFile's
 * escapes for a backslash, a line break and a tab, and \s for a space
 * that the reader would strip (leading) or take as opening a comment
 */
static void
print_value(FILE *fp, const char *v)
{
    for (const char *p = v; *p != '\0'; p++) {
        if (*p == '\\')
            fputs("\\\\", fp);
        else if (*p == '\n')
            fputs("\\n", fp);
        else if (*p == '\t')
            fputs("\\t", fp);
        else if (*p == ' ' && (p == v || p[1] == ';' || p[1] == '#' || p[1] == '\0'))
            fputs("\\s", fp);
        else
            fputc(*p, fp);
    }
}

void
smg_conf_print(const struct smg_conf *conf, FILE *fp, gboolean nondefault)
{
    char **groups = g_key_file_get_groups(conf->kf, NULL);
    GPtrArray *all = g_ptr_array_new_with_free_func(g_free);

    /* the table's groups in table order, then the file's gateways */
    for (const struct smg_conf_key *k = smg_conf_keys; k->group != NULL; k++)
        if (strchr(k->group, '*') == NULL
            && !g_ptr_array_find_with_equal_func(all, k->group, g_str_equal, NULL))
            g_ptr_array_add(all, g_strdup(k->group));
    /* then the file's groups of wildcard rows ([gateway X], [dnsbl Y]) */
    for (unsigned i = 0; groups[i] != NULL; i++)
        for (const struct smg_conf_key *k = smg_conf_keys; k->group != NULL; k++)
            if (strchr(k->group, '*') != NULL && group_matches(k->group, groups[i])) {
                g_ptr_array_add(all, g_strdup(groups[i]));
                break;
            }
    g_strfreev(groups);

    for (unsigned g = 0; g < all->len; g++) {
        const char *group = all->pdata[g];
        gboolean header = FALSE;

        for (const struct smg_conf_key *k = smg_conf_keys; k->group != NULL; k++) {
            const struct smg_conf_key *row;
            const char *v;

            if (!group_matches(k->group, group))
                continue;
            v = value(conf, group, k->key, &row);
            if (v == NULL)
                continue;
            if (nondefault && (!smg_conf_isset(conf, group, k->key)
                               || (k->def != NULL && strcmp(v, k->def) == 0)))
                continue;
            if (!header) {
                fprintf(fp, "[%s]\n", group);
                header = TRUE;
            }
            fprintf(fp, "%s = ", k->key);
            print_value(fp, v);
            fputc('\n', fp);
        }
    }
    g_ptr_array_free(all, TRUE);
}

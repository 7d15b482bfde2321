/*
 * config.h - smg.conf: one GLib key file shared by every program.
 *
 * Every key any program knows is declared once in the table in config.c
 * (group, key, type, default, bounds), in the manner of Postfix's
 * CONFIG_*_TABLE.  smg_conf_load validates the whole file against it:
 * unknown groups or keys, bad syntax and out-of-range values are reported
 * as "FILE:LINE: [group] key: reason" with SMG_CONFIG, so a program can exit
 * 78 before touching the spool.  After a successful load the getters cannot
 * fail: they return the file's value or the table's default.
 *
 * Inline comments (" ; text" or " # text" after a value) and ';' comment
 * lines are accepted, as operators write them in the examples.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_CONFIG_H
#define SMG_CONFIG_H 1

#include <stdio.h>

#include <glib.h>

#include "lib/status.h"

#ifndef SMG_SYSCONFDIR
#define SMG_SYSCONFDIR "/etc/smg"
#endif
#define SMG_CONF_DEFAULT_PATH SMG_SYSCONFDIR "/smg.conf"

enum smg_conf_type {
    SMG_CONF_STR = 0, /* any text; with min 1, not empty */
    SMG_CONF_PATH,    /* a file name; relative to the config file's folder */
    SMG_CONF_INT,     /* integer within [min, max] */
    SMG_CONF_SIZE,    /* bytes, with optional k, M, G suffix (1024-based) */
    SMG_CONF_TIME,    /* seconds, with optional s, m, h, d, w suffix */
    SMG_CONF_DOUBLE,  /* real number within [min, max] */
    SMG_CONF_BOOL,    /* yes/no, true/false, on/off, 1/0 */
    SMG_CONF_LIST,    /* words separated by spaces or commas */
    SMG_CONF_CHOICE,  /* one of the '|'-separated choices */
    SMG_CONF_RATE,    /* "off" or N/s, N/min, N/h */
    SMG_CONF_QUEUE,   /* a spool queue's name (smg_spool_valid_queue) */
    SMG_CONF_ADDR,    /* a mail address with a domain (smg_addr_parse) */
};

struct smg_conf_key {
    const char *group;   /* "recv"; "gateway *" matches every [gateway X] */
    const char *key;
    enum smg_conf_type type;
    const char *def;     /* default in the file's syntax; NULL: unset */
    double min, max;     /* bounds for numbers; both 0: unbounded (a SIZE
                          * or TIME with max 0 stops at 1024G, 3650d) */
    const char *choices; /* for SMG_CONF_CHOICE */
};

struct smg_conf;

/*
 * smg_conf_load - read and validate path (NULL: SMG_CONF_DEFAULT_PATH).
 * On success *out owns the result (free with smg_conf_free).  Returns
 * SMG_CONFIG with err set for a missing, unreadable or invalid file.
 */
enum smg_status smg_conf_load(const char *path, struct smg_conf **out,
                              GError **err) G_GNUC_WARN_UNUSED_RESULT;

/* smg_conf_load_data - the same for text in memory; path names it in errors */
enum smg_status smg_conf_load_data(const char *data, const char *path,
                                   struct smg_conf **out,
                                   GError **err) G_GNUC_WARN_UNUSED_RESULT;

void smg_conf_free(struct smg_conf *conf);

/* smg_conf_path - the file the config was read from */
const char *smg_conf_path(const struct smg_conf *conf);

/*
 * Getters.  group and key must be in the table (smg_panic otherwise: that
 * is a programming error).  Strings are owned by conf; NULL means unset.
 * smg_conf_int returns SIZE in bytes and TIME in seconds.
 */
const char *smg_conf_str(const struct smg_conf *conf, const char *group,
                         const char *key);
gint64 smg_conf_int(const struct smg_conf *conf, const char *group,
                    const char *key);
double smg_conf_double(const struct smg_conf *conf, const char *group,
                       const char *key);
gboolean smg_conf_bool(const struct smg_conf *conf, const char *group,
                       const char *key);
/* smg_conf_list - a new NULL-terminated vector (g_strfreev), never NULL */
char **smg_conf_list(const struct smg_conf *conf, const char *group,
                     const char *key);
/* smg_conf_isset - whether the file sets group/key */
gboolean smg_conf_isset(const struct smg_conf *conf, const char *group,
                        const char *key);

/* smg_conf_gateways - names of the [gateway NAME] groups (g_strfreev) */
char **smg_conf_gateways(const struct smg_conf *conf);

/*
 * smg_conf_print - write the settings as key-file text to fp; with
 * nondefault only those that differ from the defaults (postconf -n).
 */
void smg_conf_print(const struct smg_conf *conf, FILE *fp, gboolean nondefault);

/* Parsers shared with other modules; FALSE on bad syntax. */
gboolean smg_conf_parse_size(const char *s, gint64 *out);
gboolean smg_conf_parse_time(const char *s, gint64 *out);
gboolean smg_conf_parse_bool(const char *s, gboolean *out);
/* smg_conf_parse_rate - "off" → 0; "N/min" → N events per per_seconds */
gboolean smg_conf_parse_rate(const char *s, gint64 *count, gint64 *per_seconds);

/* The table, for the man page check and -n; ends with a NULL group. */
extern const struct smg_conf_key smg_conf_keys[];

#endif

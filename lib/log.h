/*
 * log.h - Postfix-style logging to syslog (facility mail) or stderr.
 *
 * One line per event: "smg-recv[pid]: <queue-id>: key=value, key=value".
 * Callers never pass message bodies or secrets.  smg_fatal exits with
 * EX_TEMPFAIL (the message stays where it is); smg_panic aborts.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_LOG_H
#define SMG_LOG_H 1

#include <glib.h>

/*
 * the longest text of a line: a longer one (a From: address of a megabyte,
 * say) is cut there and ends "... (N bytes cut)", so that syslog takes it
 * whole (rsyslog's default limit is 8 KB) rather than dropping it
 */
#define SMG_LOG_LINE_MAX 4000

enum smg_log_dest {
    SMG_LOG_SYSLOG = 0,
    SMG_LOG_STDERR,
};

/*
 * smg_log_init - set the program name (copied) and the destination.  With
 * debug, smg_log_debug lines are written too.  May be called again (e.g.
 * after reading the config).  Before any call, lines go to stderr.
 */
void smg_log_init(const char *prog, enum smg_log_dest dest, gboolean debug);

/* smg_log_progname - the name set by smg_log_init ("smg" before). */
const char *smg_log_progname(void);

/* smg_log_parse_dest - "syslog" or "stderr" to a destination; FALSE if neither. */
gboolean smg_log_parse_dest(const char *s, enum smg_log_dest *dest);

void smg_log_debug(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void smg_log_info(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void smg_log_warn(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void smg_log_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
G_NORETURN void smg_fatal(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
G_NORETURN void smg_panic(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/*
 * smg_log_append_shown - append s to out as a program may show it on an
 * operator's terminal: C0 and C1 controls (tab too), DEL and octets that
 * are not UTF-8 become '?', valid UTF-8 text stays.  What a hostile
 * message or a remote server put in a field (ESC [2J, CSI U+009B, OSC 52
 * that writes the clipboard) must not reach the terminal as a command.
 */
void smg_log_append_shown(GString *out, const char *s);

#endif

/*
 * log.c - one line per event to syslog LOG_MAIL or to stderr.
 *
 * The stderr format copies syslog's tag so that the same grep works on
 * both: "smg-recv[1234]: warning: text".  Control characters in a line are
 * replaced by '?' so that a hostile peer cannot forge log lines.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

#include "lib/log.h"

static char *log_prog;
static enum smg_log_dest log_dest = SMG_LOG_STDERR;
static gboolean log_debug;

void
smg_log_init(const char *prog, enum smg_log_dest dest, gboolean debug)
{
    g_free(log_prog);
    log_prog = g_strdup(prog);
    log_dest = dest;
    log_debug = debug;
    if (dest == SMG_LOG_SYSLOG) {
        closelog();
        openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_MAIL);
    }
}

const char *
smg_log_progname(void)
{
    return log_prog != NULL ? log_prog : "smg";
}

gboolean
smg_log_parse_dest(const char *s, enum smg_log_dest *dest)
{
    if (g_strcmp0(s, "syslog") == 0)
        *dest = SMG_LOG_SYSLOG;
    else if (g_strcmp0(s, "stderr") == 0)
        *dest = SMG_LOG_STDERR;
    else
        return FALSE;
    return TRUE;
}

/* vlog - format, sanitize and emit one line */
static void vlog(int prio, const char *label, const char *fmt, va_list ap)
    G_GNUC_PRINTF(3, 0);

static void
vlog(int prio, const char *label, const char *fmt, va_list ap)
{
    char *text = g_strdup_vprintf(fmt, ap);
    gsize len = strlen(text);

    for (char *p = text; *p != '\0'; p++)
        if ((unsigned char) *p < 0x20 || *p == 0x7f)
            *p = '?';
    if (len > SMG_LOG_LINE_MAX) {
        /* cut before a UTF-8 continuation byte, never inside a character */
        gsize cut = SMG_LOG_LINE_MAX;
        char *whole;

        while (cut > 0 && ((unsigned char) text[cut] & 0xC0) == 0x80)
            cut--;
        text[cut] = '\0';
        whole = g_strdup_printf("%s... (%" G_GSIZE_FORMAT " bytes cut)", text, len - cut);
        g_free(text);
        text = whole;
    }
    if (log_dest == SMG_LOG_SYSLOG) {
        syslog(prio, "%s%s", label, text);
    } else {
        char *line = g_strdup_printf("%s[%ld]: %s%s\n", smg_log_progname(),
                                     (long) getpid(), label, text);
        /* one write(2) per line keeps concurrent writers' lines whole */
        if (write(STDERR_FILENO, line, strlen(line)) < 0) {
            /* nothing sensible to do */
        }
        g_free(line);
    }
    g_free(text);
}

#define LOGFN(name, prio, label, cond)                                       \
    void name(const char *fmt, ...)                                          \
    {                                                                        \
        va_list ap;                                                          \
        if (!(cond))                                                         \
            return;                                                          \
        va_start(ap, fmt);                                                   \
        vlog(prio, label, fmt, ap);                                          \
        va_end(ap);                                                          \
    }

LOGFN(smg_log_debug, LOG_DEBUG, "debug: ", log_debug)
LOGFN(smg_log_info, LOG_INFO, "", TRUE)
LOGFN(smg_log_warn, LOG_WARNING, "warning: ", TRUE)
LOGFN(smg_log_error, LOG_ERR, "error: ", TRUE)

void
smg_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_CRIT, "fatal: ", fmt, ap);
    va_end(ap);
    exit(EX_TEMPFAIL);
}

void
smg_panic(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_CRIT, "panic: ", fmt, ap);
    va_end(ap);
    abort();
}

void
smg_log_append_shown(GString *out, const char *s)
{
    while (*s != '\0') {
        gunichar c = g_utf8_get_char_validated(s, -1);

        if (c == (gunichar) -1 || c == (gunichar) -2) {
            g_string_append_c(out, '?');
            s++;
            continue;
        }
        if (g_unichar_iscntrl(c))
            g_string_append_c(out, '?');
        else
            g_string_append_len(out, s, g_utf8_next_char(s) - s);
        s = g_utf8_next_char(s);
    }
}

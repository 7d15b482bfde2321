/*
 * status.c - the one table from enum smg_status to exit code and DSN.
 *
 * Any status not in the table, and any foreign GError, is treated as
 * temporary: no error path may drop mail (qmail-command(8)).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <stdarg.h>
#include <string.h>
#include <sysexits.h>

#include "lib/status.h"

static const struct {
    enum smg_status status;
    int exit_code;
    const char *dsn;
    const char *name;
} status_table[] = {
    {SMG_OK, 0, "2.0.0", "ok"},
    {SMG_TEMPFAIL, EX_TEMPFAIL, "4.3.0", "tempfail"},
    {SMG_PERMFAIL, EX_DATAERR, "5.3.0", "permfail"},
    {SMG_CONFIG, EX_CONFIG, "4.3.5", "config"},
    {SMG_BUG, EX_SOFTWARE, "4.3.0", "bug"},
};

G_DEFINE_QUARK(smg-error-quark, smg_error)

/* lookup - the table row of a status, the TEMPFAIL row if unknown */
static unsigned
lookup(enum smg_status st)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(status_table); i++)
        if (status_table[i].status == st)
            return i;
    return 1;
}

void
smg_set_error(GError **err, enum smg_status st, const char *dsn,
              const char *fmt, ...)
{
    va_list ap;
    char *reason;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    reason = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(err, SMG_ERROR, (gint) st, "%s %s",
                dsn != NULL ? dsn : smg_status_dsn(st), reason);
    g_free(reason);
}

enum smg_status
smg_error_status(const GError *err)
{
    if (err == NULL)
        return SMG_OK;
    if (err->domain != SMG_ERROR)
        return SMG_TEMPFAIL;
    return status_table[lookup((enum smg_status) err->code)].status;
}

int
smg_status_exit(enum smg_status st)
{
    return status_table[lookup(st)].exit_code;
}

const char *
smg_status_dsn(enum smg_status st)
{
    return status_table[lookup(st)].dsn;
}

const char *
smg_status_name(enum smg_status st)
{
    return status_table[lookup(st)].name;
}

gint
smg_ptr_strcmp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

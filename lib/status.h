/*
 * status.h - result codes of libsmg and their mapping to exit codes and DSNs.
 *
 * Library functions return enum smg_status and, on failure, fill a GError in
 * the SMG_ERROR domain whose code is the status and whose message starts
 * with an RFC 3463 enhanced status code ("4.3.0 disk full").  Only bin/
 * turns a status into an exit code, through the one table in status.c.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_STATUS_H
#define SMG_STATUS_H 1

#include <glib.h>

enum smg_status {
    SMG_OK = 0,    /* done */
    SMG_TEMPFAIL,  /* try again later; nothing was lost */
    SMG_PERMFAIL,  /* permanent for this message or request */
    SMG_CONFIG,    /* operator error in the configuration */
    SMG_BUG,       /* internal error */
};

#define SMG_ERROR (smg_error_quark())
GQuark smg_error_quark(void);

/*
 * smg_set_error - fill *err (if err is not NULL) with status st and a
 * message "DSN reason".  dsn may be NULL for the status's default code.
 */
void smg_set_error(GError **err, enum smg_status st, const char *dsn,
                   const char *fmt, ...) G_GNUC_PRINTF(4, 5);

/*
 * smg_error_status - the status an error carries: its code for SMG_ERROR,
 * SMG_TEMPFAIL for a GError of any other domain (I/O errors and the like are
 * temporary), SMG_OK for NULL.
 */
enum smg_status smg_error_status(const GError *err);

/* smg_status_exit - the <sysexits.h> code for a status (0 for SMG_OK). */
int smg_status_exit(enum smg_status st);

/* smg_status_dsn - the default enhanced status code ("4.3.0") of a status. */
const char *smg_status_dsn(enum smg_status st);

/*
 * smg_ptr_strcmp - GCompareFunc for g_ptr_array_sort over strings: it is
 * given pointers to the elements, so g_strcmp0 there compares the bytes
 * of the pointers, not the strings
 */
gint smg_ptr_strcmp(gconstpointer a, gconstpointer b);

/* smg_status_name - a short name ("tempfail") for log lines. */
const char *smg_status_name(enum smg_status st);

#endif

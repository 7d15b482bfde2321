/*
 * status-t.c - unit tests for lib/status: the exit-code and DSN table.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <string.h>
#include <sysexits.h>

#include "lib/status.h"
#include "t/tap/basic.h"

int
main(void)
{
    GError *err = NULL;
    GError *io = g_error_new_literal(G_FILE_ERROR, G_FILE_ERROR_IO, "io");

    plan(13);
    is_int(0, smg_status_exit(SMG_OK), "OK exits 0");
    is_int(EX_TEMPFAIL, smg_status_exit(SMG_TEMPFAIL), "TEMPFAIL exits 75");
    is_int(EX_DATAERR, smg_status_exit(SMG_PERMFAIL), "PERMFAIL exits 65");
    is_int(EX_CONFIG, smg_status_exit(SMG_CONFIG), "CONFIG exits 78");
    is_int(EX_SOFTWARE, smg_status_exit(SMG_BUG), "BUG exits 70");
    is_int(EX_TEMPFAIL, smg_status_exit((enum smg_status) 99),
           "an unknown status is temporary");
    smg_set_error(&err, SMG_PERMFAIL, "5.1.8", "Sender %s", "Domain");
    is_string("5.1.8 Sender Domain", err->message, "message starts with the DSN");
    is_int(SMG_PERMFAIL, smg_error_status(err), "status read back");
    g_clear_error(&err);
    smg_set_error(&err, SMG_TEMPFAIL, NULL, "disk");
    is_string("4.3.0 disk", err->message, "default DSN for TEMPFAIL");
    g_clear_error(&err);
    is_int(SMG_TEMPFAIL, smg_error_status(io), "a foreign error is temporary");
    is_int(SMG_OK, smg_error_status(NULL), "no error is OK");
    is_string("tempfail", smg_status_name(SMG_TEMPFAIL), "names");
    g_error_free(io);
    {
        /* strings far apart in memory, in the reverse of their order there */
        char *c = g_strdup("charlie"), *b = g_strdup("bravo"), *a = g_strdup("alpha");
        GPtrArray *v = g_ptr_array_new_with_free_func(g_free);

        g_ptr_array_add(v, b);
        g_ptr_array_add(v, c);
        g_ptr_array_add(v, a);
        g_ptr_array_sort(v, smg_ptr_strcmp);
        ok(strcmp(v->pdata[0], "alpha") == 0 && strcmp(v->pdata[1], "bravo") == 0
               && strcmp(v->pdata[2], "charlie") == 0,
           "smg_ptr_strcmp sorts a GPtrArray of strings by their text");
        g_ptr_array_free(v, TRUE);
    }
    return 0;
}

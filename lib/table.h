/*
 * table.h - the text tables an operator writes: customers, rate limits,
 * OpenDKIM's KeyTable and SigningTable, the Reply-To table.
 *
 * One reader for all of them: lines "KEY VALUE" (split at the first run
 * of blanks; VALUE may be empty or hold more blanks), '#' starting a
 * comment at the start of a line or after a blank, blanks around a line
 * and blank lines ignored, CR before LF dropped.  Each table's module
 * parses KEY and VALUE and names the line in its errors as "PATH:LINE:".
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_TABLE_H
#define SMG_TABLE_H 1

#include <glib.h>

#include "lib/status.h"

/*
 * One line of a table: its key and value, both writable and
 * NUL-terminated; lineno counts from 1.  Anything but SMG_OK stops the
 * reading and is returned (with err set by the function).
 */
typedef enum smg_status (*smg_table_fn)(void *ctx, const char *path, unsigned lineno,
                                        char *key, char *value, GError **err);

/*
 * smg_table_text - the whole text file at path, for *out (g_free).  A file
 * that cannot be read is SMG_CONFIG, "cannot read WHAT PATH: why"; one with
 * a NUL byte, which would end the text there and lose every line after it
 * unsaid, is SMG_CONFIG, "PATH:LINE: NUL byte in the WHAT".  For every
 * file an operator writes (smg.conf, the rules, the TLS policy, tables).
 */
enum smg_status smg_table_text(const char *path, const char *what, char **out,
                               GError **err) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_table_read - call fn for each line of the table file at path, read
 * by smg_table_text (and failing as it does).
 */
enum smg_status smg_table_read(const char *path, const char *what, smg_table_fn fn,
                               void *ctx, GError **err);

/*
 * smg_table_words - split value at runs of the characters in seps into a
 * NULL-terminated vector without empty words (free with g_strfreev).
 */
char **smg_table_words(const char *value, const char *seps);

#endif

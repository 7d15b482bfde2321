/*
 * json.h - JSON string values for the programs' --json output and JSON
 * request bodies.
 *
 * JSON text must be UTF-8 (RFC 8259 section 8.1), but what smg prints
 * comes from outside: DNSBL TXT records, addresses and header fields of
 * messages, file names.  These functions first make the text valid UTF-8
 * (each invalid byte sequence becomes U+FFFD, as g_utf8_make_valid does),
 * then escape '"', '\\', the C0 controls and DEL, so the result is always
 * a valid JSON string that any parser reads.  Other characters are kept as
 * they are (no \u escapes for non-ASCII).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_JSON_H
#define SMG_JSON_H 1

#include <glib.h>

/*
 * smg_json_escape - append s to out escaped for the inside of a JSON
 * string (no quotes): invalid UTF-8 replaced by U+FFFD, then \" \\ \n \r
 * \t and \u00XX for the other controls and DEL.  NULL appends nothing.
 */
void smg_json_escape(GString *out, const char *s) __attribute__((nonnull(1)));

/*
 * smg_json_string - append s as a JSON string value: in quotes and
 * escaped as smg_json_escape does; NULL appends null.
 */
void smg_json_string(GString *out, const char *s) __attribute__((nonnull(1)));

#endif

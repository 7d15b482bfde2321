/*
 * mimetext.h - what the spam scorers read of a message: decoded headers,
 * the text of its text parts in UTF-8, its URIs and its attachments.
 *
 * GMime parses the message (RFC 5322 and MIME, tolerant of broken mail);
 * every leaf part is looked at: text/plain and text/html parts are decoded
 * (quoted-printable, base64) and converted from their charset to UTF-8
 * (GMime's iconv cache; invalid bytes are replaced, NUL bytes dropped as
 * a browser drops them, and so are the invisible characters that only
 * split words: soft hyphen, zero-width space and joiners, direction marks,
 * variation selectors and the other default-ignorable ones), HTML is turned
 * into text by a small tag stripper that keeps the href/src URIs and
 * notices links whose visible text names another host.  Other parts contribute
 * their content type and file name only, so a large attachment costs
 * nothing.  Message/rfc822 parts are entered (depth at most 8), at most
 * 256 leaf parts are looked at, and GMime reads the message only up to
 * its 4096th line beginning with "--" (every part needs one such line;
 * GMime's objects for a million empty parts took gigabytes).  A header
 * field's colons past its 1000th reach GMime as spaces (it parses groups
 * nested in address fields by recursion).  The text kept is capped
 * (max_text bytes; a multipart/alternative's last alternative, the one a
 * reader is shown, is read first, and a part past the cap still gives
 * its URIs); the caps are noted, never an error.
 *
 * Header values are unfolded and RFC 2047-decoded to UTF-8 by GMime, and
 * lose the invisible characters as the text does.
 * Nothing here fails on content: any byte string gives a result.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_MIMETEXT_H
#define SMG_MIMETEXT_H 1

#include <glib.h>

#include "lib/status.h"

struct smg_mimetext_header {
    char *name;  /* as written ("Subject") */
    char *value; /* unfolded, decoded UTF-8 */
};

struct smg_mimetext {
    GArray *headers;      /* of struct smg_mimetext_header, top level, in order */
    char *subject;        /* decoded; "" when absent */
    char *from_addr;      /* first From mailbox, domain lower-cased; NULL */
    char *from_name;      /* its display name; NULL when none */
    GString *text;        /* UTF-8 text of the text parts, each ends in \n;
                             a multipart/alternative's last first */
    GString *html;        /* decoded UTF-8 source of the text/html parts */
    GPtrArray *uris;      /* char *: URIs as found (entities decoded), unique */
    GPtrArray *types;     /* char *: content type of each leaf part */
    GPtrArray *filenames; /* char *: file names of attachments */
    unsigned n_plain;     /* text/plain leaf parts */
    unsigned n_html;      /* text/html leaf parts */
    unsigned n_parts;     /* leaf parts in all */
    unsigned link_mismatch; /* <a> whose text names a host unlike its href's */
    unsigned n_rcpt_headers; /* addresses in To: and Cc: */
    gboolean truncated;   /* text stopped at max_text */
    gboolean parts_cut;   /* parts not read: past the 256th leaf, nested
                             deeper than 8, or after the 4096th "--" line */
    gboolean date_present, date_valid;
    gint64 date;          /* Date: as Unix time when valid */
    gboolean msgid_present, msgid_valid;
    gboolean header_8bit; /* raw 8-bit bytes in the header section */
    const char *raw;      /* the message as given (borrowed, not owned) */
    gsize raw_len;
    gsize header_len;     /* bytes of the raw header section */
};

/* Default cap on the decoded text kept per message. */
#define SMG_MIMETEXT_MAX_TEXT (256 * 1024)

/*
 * smg_mimetext_parse - parse msg[0..len) (the message proper, without the
 * SMG-* envelope) into a new result (smg_mimetext_free).  msg is borrowed
 * by the result's raw field and must outlive it.  max_text caps the text
 * (0: SMG_MIMETEXT_MAX_TEXT).  Never fails; initialises GMime on first use
 * (thread-safe).
 */
struct smg_mimetext *smg_mimetext_parse(const char *msg, gsize len,
                                        gsize max_text)
    G_GNUC_WARN_UNUSED_RESULT;

void smg_mimetext_free(struct smg_mimetext *mt);

/*
 * smg_mimetext_header - the decoded value of the first top-level header
 * field called name (case-insensitive), or NULL.  Owned by mt.
 */
const char *smg_mimetext_header(const struct smg_mimetext *mt,
                                const char *name);

/*
 * smg_mimetext_html - append the text of html[0..len) to text (tags
 * removed, script/style/comments dropped, entities decoded, block tags as
 * line breaks) and the href/src URIs to uris (char *, g_free; may be NULL).
 * Returns how many <a> links show a host name in their text that differs
 * from their href's host.
 */
unsigned smg_mimetext_html(const char *html, gsize len, GString *text,
                           GPtrArray *uris);

/*
 * smg_mimetext_find_uris - append the http(s)/ftp and "www." URIs written
 * in plain text[0..len) to uris (char *, g_free).
 */
void smg_mimetext_find_uris(const char *text, gsize len, GPtrArray *uris);

/*
 * smg_mimetext_uri_host - the host of uri (lower case, %XX decoded, no
 * user info, port or final dot), a new string, or NULL when it has none.
 * "www.x.example/..." without a scheme is taken as http.
 */
char *smg_mimetext_uri_host(const char *uri) G_GNUC_WARN_UNUSED_RESULT;

/*
 * smg_mimetext_domain - the registered-domain guess of host (new string):
 * its last two labels, or three when the second-level label is a common
 * public one ("co.uk", "com.au").  An IP address is returned whole.
 */
char *smg_mimetext_domain(const char *host) G_GNUC_WARN_UNUSED_RESULT;

#endif

/*
 * envelope-fuzz.c - libFuzzer target for lib/envelope: the reader of the
 * SMG-* fields that begin every spool file.
 *
 * Stages do not trust each other, so the reader sees whatever a broken or
 * hostile earlier stage (or an operator's editor) left in the spool.  The
 * input is a whole spool file.  Beyond "no crash, no leak, no undefined
 * behaviour": a successful parse gives a body offset within the input, and
 * what smg_envelope_write makes of the envelope reads back to the same
 * envelope (queue id, sender, recipients, other fields).  The helpers
 * smg_envelope_param and smg_envelope_strip run on the same input.  A
 * broken promise aborts, which libFuzzer reports as a crash.  Built by
 * `make fuzz` with clang -fsanitize=fuzzer,address,undefined from the lib
 * sources.
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/envelope.h"
#include "t/fuzz/fuzz.h"

/* same_str - both NULL or both equal */
static gboolean
same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL)
           || (a != NULL && b != NULL && !strcmp(a, b));
}

/* check_round_trip - write env and read it back to the same envelope */
static void
check_round_trip(const struct smg_envelope *env)
{
    GString *out = g_string_new(NULL);
    struct smg_envelope *again = NULL;
    gsize off = 0;
    GError *err = NULL;

    smg_envelope_write(env, out);
    g_string_append(out, "\nbody\n");
    CHECK(smg_envelope_parse(out->str, out->len, &again, &off, &err)
          == SMG_OK);
    CHECK(again != NULL && err == NULL);
    CHECK(off <= out->len);
    CHECK(same_str(env->queue_id, again->queue_id));
    CHECK(same_str(env->sender, again->sender));
    CHECK(env->rcpts->len == again->rcpts->len);
    for (guint i = 0; i < env->rcpts->len; i++) {
        const struct smg_rcpt *a = env->rcpts->pdata[i];
        const struct smg_rcpt *b = again->rcpts->pdata[i];

        CHECK(same_str(a->addr, b->addr));
    }
    CHECK(env->fields->len == again->fields->len);
    smg_envelope_free(again);
    g_string_free(out, TRUE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *) data;
    struct smg_envelope *env = NULL;
    gsize off = 0;
    GError *err = NULL;
    GString *stripped;
    char *copy;

    if (smg_envelope_parse(s, size, &env, &off, &err) == SMG_OK) {
        CHECK(env != NULL && err == NULL && off <= size);
        (void) smg_envelope_get(env, "Client");
        g_free(smg_envelope_param(env->sender_params, "ENVID"));
        for (guint i = 0; i < env->rcpts->len; i++) {
            const struct smg_rcpt *r = env->rcpts->pdata[i];

            CHECK(r->addr != NULL && r->params != NULL);
            g_free(smg_envelope_param(r->params, "ORCPT"));
        }
        check_round_trip(env);
        smg_envelope_free(env);
    } else {
        CHECK(env == NULL && err != NULL);
        CHECK(smg_error_status(err) == SMG_PERMFAIL);
        g_error_free(err);
    }

    stripped = g_string_new(NULL);
    smg_envelope_strip(s, size, stripped);
    CHECK(stripped->len <= size);
    g_string_free(stripped, TRUE);

    copy = g_strndup(s, size);
    g_free(smg_envelope_param(copy, "NOTIFY"));
    g_free(smg_envelope_param(copy, "BODY"));
    g_free(copy);
    return 0;
}

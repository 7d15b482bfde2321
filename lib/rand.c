/*
 * rand.c - random choices that forked workers do not share (see rand.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include <config.h>

#include <unistd.h>

#include "lib/rand.h"

G_LOCK_DEFINE_STATIC(rng);

guint
smg_rand_below(guint n)
{
    static GRand *rng;
    static pid_t owner;
    guint v;

    G_LOCK(rng);
    if (rng == NULL || owner != getpid()) {
        if (rng != NULL)
            g_rand_free(rng);
        rng = g_rand_new();
        owner = getpid();
    }
    v = (guint) g_rand_int_range(rng, 0, (gint32) n);
    G_UNLOCK(rng);
    return v;
}

void
smg_rand_shuffle(GPtrArray *a)
{
    /* Fisher-Yates */
    for (guint i = a->len; i > 1; i--) {
        guint j = smg_rand_below(i);
        gpointer t = a->pdata[i - 1];

        a->pdata[i - 1] = a->pdata[j];
        a->pdata[j] = t;
    }
}

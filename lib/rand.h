/*
 * rand.h - random choices that forked workers do not share.
 *
 * GLib's global generator is seeded once per process, on first use; a
 * worker forked after its parent used it inherits the same state, and the
 * workers then make the same "random" choices (the same pool slots, the
 * same order of equal MX hosts).  These functions keep a generator per
 * process, seeded from /dev/urandom after each fork, behind a lock.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_RAND_H
#define SMG_RAND_H 1

#include <glib.h>

/* smg_rand_below - a random number in [0, n); n > 0 */
guint smg_rand_below(guint n);

/* smg_rand_shuffle - put the elements of a in a random order */
void smg_rand_shuffle(GPtrArray *a);

#endif

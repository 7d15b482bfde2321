/*
 * fuzz.h - what every libFuzzer target in t/fuzz shares: the entry point
 * libFuzzer calls, and CHECK, which aborts on a broken promise (libFuzzer
 * reports an abort as a crash and keeps the input).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SMG_FUZZ_H
#define SMG_FUZZ_H 1

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)     \
    do {             \
        if (!(x))    \
            abort(); \
    } while (0)

#endif

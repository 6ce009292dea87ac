#include "CVectorKernels.h"

#include <pthread.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>

/* For each 8-bit mask, the lanes whose bit is set, in order, then zeros: the permutation that
 * packs those lanes to the front of a register. */
static uint32_t left_pack[256][8];
static pthread_once_t left_pack_once = PTHREAD_ONCE_INIT;

static void make_left_pack(void) {
    for (int mask = 0; mask < 256; mask++) {
        int next = 0;
        for (int lane = 0; lane < 8; lane++) {
            if (mask & (1 << lane)) left_pack[mask][next++] = (uint32_t)lane;
        }
        while (next < 8) left_pack[mask][next++] = 0;
    }
}

__attribute__((target("avx2,popcnt")))
size_t crucible_bracket_avx2(const uint32_t *keys, size_t count, uint32_t low, uint32_t high,
                             uint32_t *collected, size_t *above) {
    pthread_once(&left_pack_once, make_left_pack);
    /* Unsigned order as signed order: flip the top bit of both sides. */
    const __m256i flip = _mm256_set1_epi32((int)0x80000000u);
    const __m256i lows = _mm256_set1_epi32((int)(low ^ 0x80000000u));
    const __m256i highs = _mm256_set1_epi32((int)(high ^ 0x80000000u));
    size_t inside = 0, over = 0, i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256i group = _mm256_loadu_si256((const __m256i *)(keys + i));
        __m256i flipped = _mm256_xor_si256(group, flip);
        __m256i is_above = _mm256_cmpgt_epi32(flipped, highs);
        __m256i is_below = _mm256_cmpgt_epi32(lows, flipped);
        unsigned above_bits = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(is_above));
        unsigned inside_bits = ~(above_bits | (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(is_below))) & 0xFF;
        over += (size_t)__builtin_popcount(above_bits);
        /* Store all eight lanes, the inside ones packed first; only they are counted.
         * inside <= i, so the store stays within the first i + 8 <= count slots. */
        __m256i order = _mm256_loadu_si256((const __m256i *)left_pack[inside_bits]);
        _mm256_storeu_si256((__m256i *)(collected + inside), _mm256_permutevar8x32_epi32(group, order));
        inside += (size_t)__builtin_popcount(inside_bits);
    }
    for (; i < count; i++) {
        uint32_t key = keys[i];
        over += key > high;
        collected[inside] = key;
        inside += key >= low && key <= high;
    }
    *above = over;
    return inside;
}

#else

size_t crucible_bracket_avx2(const uint32_t *keys, size_t count, uint32_t low, uint32_t high,
                             uint32_t *collected, size_t *above) { abort(); }

#endif

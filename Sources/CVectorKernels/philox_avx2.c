#include "CVectorKernels.h"

#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>

/* The high and low 32 bits of m * x in each of the eight 32-bit lanes of x. */
__attribute__((target("avx2")))
static inline void multiply(__m256i x, __m256i m, __m256i *high, __m256i *low) {
    __m256i even = _mm256_mul_epu32(x, m);                       /* lanes 0, 2, 4, 6 */
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), m);  /* lanes 1, 3, 5, 7 */
    *low = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
    *high = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

__attribute__((target("avx2")))
void crucible_philox_blocks_avx2(uint32_t k0, uint32_t k1, uint64_t first, size_t count, void *destination) {
    unsigned char *out = destination;
    const __m256i m0 = _mm256_set1_epi32((int)0xD2511F53u), m1 = _mm256_set1_epi32((int)0xCD9E8D57u);
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (size_t b = 0; b + 8 <= count; b += 8) {
        /* Counter of lane l: block first + b + l, as (low word, high word), high half 0. */
        uint64_t base = first + b;
        __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32((int)(uint32_t)base), lanes);
        /* A lane whose low word wrapped past 2^32 carries into its high word. */
        __m256i carry = _mm256_cmpgt_epi32(_mm256_xor_si256(_mm256_set1_epi32((int)(uint32_t)base), _mm256_set1_epi32((int)0x80000000u)),
                                           _mm256_xor_si256(c0, _mm256_set1_epi32((int)0x80000000u)));
        __m256i c1 = _mm256_sub_epi32(_mm256_set1_epi32((int)(uint32_t)(base >> 32)), carry);
        __m256i c2 = _mm256_setzero_si256(), c3 = _mm256_setzero_si256();
        __m256i key0 = _mm256_set1_epi32((int)k0), key1 = _mm256_set1_epi32((int)k1);
        for (int round = 0; round < 10; round++) {
            __m256i hi0, lo0, hi1, lo1;
            multiply(c0, m0, &hi0, &lo0);
            multiply(c2, m1, &hi1, &lo1);
            __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), key0);
            __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), key1);
            c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
            key0 = _mm256_add_epi32(key0, _mm256_set1_epi32((int)0x9E3779B9u));
            key1 = _mm256_add_epi32(key1, _mm256_set1_epi32((int)0xBB67AE85u));
        }
        /* Transpose: block l's words (c0, c1, c2, c3)[l] next to each other. */
        __m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
        __m256i t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
        __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
        __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
        _mm256_storeu_si256((__m256i *)(out + 16 * b), _mm256_permute2x128_si256(u0, u1, 0x20));
        _mm256_storeu_si256((__m256i *)(out + 16 * b + 32), _mm256_permute2x128_si256(u2, u3, 0x20));
        _mm256_storeu_si256((__m256i *)(out + 16 * b + 64), _mm256_permute2x128_si256(u0, u1, 0x31));
        _mm256_storeu_si256((__m256i *)(out + 16 * b + 96), _mm256_permute2x128_si256(u2, u3, 0x31));
    }
}

#else

void crucible_philox_blocks_avx2(uint32_t k0, uint32_t k1, uint64_t first, size_t count, void *destination) { abort(); }

#endif

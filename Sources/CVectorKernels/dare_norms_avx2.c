#include "CVectorKernels.h"

#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2")))
void crucible_dare_norms_avx2(const float *x, const float *b, const uint16_t *draws, size_t count, uint32_t threshold,
                              double *full, double *kept, uint8_t *bits) {
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    /* Draws are below 2^16 and the threshold at most 2^16: a signed comparison is the unsigned one. */
    const __m256i thresholds = _mm256_set1_epi32((int)threshold);
    __m256d full_low = _mm256_loadu_pd(full), full_high = _mm256_loadu_pd(full + 4);
    __m256d kept_low = _mm256_loadu_pd(kept), kept_high = _mm256_loadu_pd(kept + 4);
    for (size_t i = 0; i + 8 <= count; i += 8) {
        const __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(b + i)), magnitude);
        const __m256i r = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(draws + i)));
        const __m256 keeps = _mm256_castsi256_ps(_mm256_cmpgt_epi32(thresholds, r));
        const __m256 k = _mm256_and_ps(keeps, d);
        bits[i / 8] = (uint8_t)_mm256_movemask_ps(keeps);
        full_low = _mm256_add_pd(full_low, _mm256_cvtps_pd(_mm256_castps256_ps128(d)));
        full_high = _mm256_add_pd(full_high, _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1)));
        kept_low = _mm256_add_pd(kept_low, _mm256_cvtps_pd(_mm256_castps256_ps128(k)));
        kept_high = _mm256_add_pd(kept_high, _mm256_cvtps_pd(_mm256_extractf128_ps(k, 1)));
    }
    _mm256_storeu_pd(full, full_low);
    _mm256_storeu_pd(full + 4, full_high);
    _mm256_storeu_pd(kept, kept_low);
    _mm256_storeu_pd(kept + 4, kept_high);
}

__attribute__((target("avx2")))
void crucible_keep_by_bits_avx2(const float *x, const float *b, const uint8_t *bits, size_t count, float *out) {
    const __m256i lanes = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    for (size_t i = 0; i + 8 <= count; i += 8) {
        const __m256i byte = _mm256_set1_epi32(bits[i / 8]);
        const __m256 keeps = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(byte, lanes), lanes));
        _mm256_storeu_ps(out + i, _mm256_and_ps(keeps, _mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(b + i))));
    }
}

#else

void crucible_dare_norms_avx2(const float *x, const float *b, const uint16_t *draws, size_t count, uint32_t threshold,
                              double *full, double *kept, uint8_t *bits) { abort(); }

void crucible_keep_by_bits_avx2(const float *x, const float *b, const uint8_t *bits, size_t count, float *out) { abort(); }

#endif

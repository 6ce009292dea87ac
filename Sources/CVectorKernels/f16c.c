#include "CVectorKernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx,f16c")))
void crucible_f16_to_f32(const void *source, float *destination, size_t count) {
    const unsigned char *bytes = source;
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i halves = _mm_loadu_si128((const __m128i *)(bytes + 2 * i));
        _mm256_storeu_ps(destination + i, _mm256_cvtph_ps(halves));
    }
    for (; i < count; i++) {
        uint16_t half;
        memcpy(&half, bytes + 2 * i, 2);
        destination[i] = _cvtsh_ss(half);
    }
}

__attribute__((target("avx,f16c")))
void crucible_f32_to_f16(const float *source, void *destination, size_t count) {
    unsigned char *bytes = destination;
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i halves = _mm256_cvtps_ph(_mm256_loadu_ps(source + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(bytes + 2 * i), halves);
    }
    for (; i < count; i++) {
        uint16_t half = _cvtss_sh(source[i], _MM_FROUND_TO_NEAREST_INT);
        memcpy(bytes + 2 * i, &half, 2);
    }
}

#else

void crucible_f16_to_f32(const void *source, float *destination, size_t count) { abort(); }
void crucible_f32_to_f16(const float *source, void *destination, size_t count) { abort(); }

#endif

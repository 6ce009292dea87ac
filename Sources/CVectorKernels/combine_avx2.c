#include "CVectorKernels.h"

#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>

/* One step of eight lanes: the operations of TaskArithmeticFamily.combine, in its order. No
 * FMA: every product is rounded before it is added, as in the baseline. */
__attribute__((target("avx2")))
static inline __m256 combine_lanes(const float *const *deltas, const float *factors, const float *weights, size_t models,
                                   int consensus, int normalize, float plain_divisor, float lambda, size_t i,
                                   const float *base) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 mixed = zero;
    for (size_t m = 0; m < models; m++) {
        mixed = _mm256_add_ps(mixed, _mm256_mul_ps(_mm256_loadu_ps(deltas[m] + i), _mm256_set1_ps(factors[m])));
    }
    __m256 divisor = _mm256_set1_ps(plain_divisor);
    if (consensus) {
        /* Majority sign (0 counts as +, NaN as −); u agrees when u·sign > 0. */
        const __m256 sign = _mm256_blendv_ps(_mm256_set1_ps(-1), _mm256_set1_ps(1), _mm256_cmp_ps(mixed, zero, _CMP_GE_OQ));
        mixed = zero;
        divisor = zero;
        for (size_t m = 0; m < models; m++) {
            const __m256 u = _mm256_mul_ps(_mm256_loadu_ps(deltas[m] + i), _mm256_set1_ps(factors[m]));
            const __m256 agrees = _mm256_cmp_ps(_mm256_mul_ps(u, sign), zero, _CMP_GT_OQ);
            mixed = _mm256_add_ps(mixed, _mm256_and_ps(agrees, u));
            divisor = _mm256_add_ps(divisor, _mm256_and_ps(agrees, _mm256_set1_ps(weights[m])));
        }
        divisor = _mm256_blendv_ps(divisor, _mm256_set1_ps(1), _mm256_cmp_ps(divisor, zero, _CMP_EQ_OQ));
    }
    const __m256 b = _mm256_loadu_ps(base + i);
    const __m256 scaled = normalize ? _mm256_div_ps(mixed, divisor) : mixed;
    return _mm256_add_ps(b, _mm256_mul_ps(scaled, _mm256_set1_ps(lambda)));
}

__attribute__((target("avx2")))
void crucible_task_combine_avx2(const float *const *deltas, const float *factors, const float *weights, size_t models,
                                int consensus, int normalize, float divisor, float lambda,
                                const float *base, float *out, size_t count) {
    for (size_t i = 0; i + 8 <= count; i += 8) {
        _mm256_storeu_ps(out + i, combine_lanes(deltas, factors, weights, models, consensus, normalize, divisor, lambda, i, base));
    }
}

#else

void crucible_task_combine_avx2(const float *const *deltas, const float *factors, const float *weights, size_t models,
                                int consensus, int normalize, float divisor, float lambda,
                                const float *base, float *out, size_t count) { abort(); }

#endif

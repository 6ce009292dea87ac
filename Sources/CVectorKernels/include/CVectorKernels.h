#ifndef CRUCIBLE_CVECTORKERNELS_H
#define CRUCIBLE_CVECTORKERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Loops in x86-64 vector extensions beyond the baseline target (F16C, AVX2), each function
 * compiled for its extensions alone (a target attribute), so the rest of the binary stays
 * baseline x86-64 and a function runs only where its crucible_use_* answer is 1. Each
 * computes exactly what the Swift baseline code computes, bit for bit (tested on both paths).
 * C because Swift cannot give one function its own target features. */

/* 1 when this process uses the F16C functions: the CPU has F16C and AVX (x86-64 only) and
 * CRUCIBLE_SIMD is not "baseline". Decided once. */
int crucible_use_f16c(void);

/* 1 when this process uses the AVX2 functions (as crucible_use_f16c, for AVX2). */
int crucible_use_avx2(void);

/* count F16 values at source (any alignment) -> Float32, exact. F16C. */
void crucible_f16_to_f32(const void *source, float *destination, size_t count);

/* count Float32 values -> F16 at destination (any alignment), rounded to nearest even. F16C. */
void crucible_f32_to_f16(const float *source, void *destination, size_t count);

/* Philox4x32-10 blocks first ..< first + count (count a multiple of 8) with key (k0, k1) and
 * counter high half 0, written as consecutive little-endian 32-bit words (block b's four
 * words at destination + 16 * (b - first) bytes, any alignment): the 16-bit draws of
 * elements 8 * first ..< 8 * (first + count). AVX2. */
void crucible_philox_blocks_avx2(uint32_t k0, uint32_t k1, uint64_t first, size_t count, void *destination);

/* Of count keys (low <= high): sets *above to how many are > high and copies those in
 * [low, high] to the front of collected, in order; returns how many. collected holds count
 * values (slots past the result are overwritten). AVX2. */
size_t crucible_bracket_avx2(const uint32_t *keys, size_t count, uint32_t low, uint32_t high,
                             uint32_t *collected, size_t *above);

/* TaskArithmeticFamily.combine on elements 0 ..< count / 8 * 8 (the caller does the rest):
 * out = base + lambda * mixed, where u_m = factors[m] * deltas[m][i], mixed = sum of u_m and
 * divisor the given one, or with consensus only the u_m whose product with the majority sign
 * (sum >= 0: +1, else -1) is > 0, divisor the sum of their weights (0 -> 1); mixed / divisor
 * when normalize. The same operations in the same order as the baseline, no FMA. AVX2. */
void crucible_task_combine_avx2(const float *const *deltas, const float *factors, const float *weights, size_t models,
                                int consensus, int normalize, float divisor, float lambda,
                                const float *base, float *out, size_t count);

/* The DARE rescale sums over elements 0 ..< count / 8 * 8 (the caller does the rest): lane j
 * of full (8 doubles, added to) accumulates |x[i] - b[i]| (Float32, then widened) for every
 * i = j mod 8 in index order, lane j of kept the same where draws[i] < threshold, else +0;
 * bit i mod 8 of bits[i / 8] is set where draws[i] < threshold (each byte written whole).
 * threshold <= 65536. AVX2. */
void crucible_dare_norms_avx2(const float *x, const float *b, const uint16_t *draws, size_t count, uint32_t threshold,
                              double *full, double *kept, uint8_t *bits);

/* out[i] = x[i] - b[i] where bit i mod 8 of bits[i / 8] is set, else +0, for i < count / 8 * 8
 * (the caller does the rest). AVX2. */
void crucible_keep_by_bits_avx2(const float *x, const float *b, const uint8_t *bits, size_t count, float *out);

#endif

#ifndef CRUCIBLE_CF16C_H
#define CRUCIBLE_CF16C_H

#include <stddef.h>

/* F16 <-> Float32 conversion loops in the CPU's F16C instructions (vcvtph2ps, vcvtps2ph),
 * for x86-64 CPUs that have F16C and AVX. Each function is compiled for those features alone
 * (a target attribute), so the rest of the binary stays baseline x86-64 and these run only
 * where crucible_f16c_available() says so. The conversions are IEEE's, bit for bit what
 * TensorIO's baseline code computes: round to nearest even, NaNs quiet with the top bits of
 * their payload. C because Swift cannot give one function its own target features. */

/* 1 when this CPU (and the OS) can run the functions below; always 0 off x86-64. */
int crucible_f16c_available(void);

/* count F16 values at source (any alignment) -> Float32, exact. */
void crucible_f16_to_f32(const void *source, float *destination, size_t count);

/* count Float32 values -> F16 at destination (any alignment), rounded to nearest even. */
void crucible_f32_to_f16(const float *source, void *destination, size_t count);

#endif

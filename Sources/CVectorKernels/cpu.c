#include "CVectorKernels.h"

#include <stdlib.h>
#include <string.h>

static int baseline_only(void) {
    const char *setting = getenv("CRUCIBLE_SIMD");
    return setting != NULL && strcmp(setting, "baseline") == 0;
}

#if defined(__x86_64__)
int crucible_use_f16c(void) {
    static int use = -1;
    if (use < 0) {
        __builtin_cpu_init();
        use = !baseline_only() && __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
    }
    return use;
}

int crucible_use_avx2(void) {
    static int use = -1;
    if (use < 0) {
        __builtin_cpu_init();
        use = !baseline_only() && __builtin_cpu_supports("avx2");
    }
    return use;
}
#else
int crucible_use_f16c(void) { return 0; }
int crucible_use_avx2(void) { return 0; }
#endif

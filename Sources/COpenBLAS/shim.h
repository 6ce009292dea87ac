// What Swift needs from Debian's OpenBLAS (libopenblas-dev): the CBLAS interface (sgemm) and
// openblas_set_num_threads, which the forward pass uses to keep every BLAS call on one thread.
#ifndef CRUCIBLE_COPENBLAS_SHIM_H
#define CRUCIBLE_COPENBLAS_SHIM_H
#include <cblas.h>
#endif

/* The quality pass on a CUDA device (docs/design.md §5): the gc_backend_ops quality_* entries of the
 * CUDA backend. They read the embedding engine's resident copy of the rows when it kept one, else
 * copy the rows up block by block. CPU twin and oracle: kernels/cpu/quality_cpu.c (the same bits:
 * the sums are integers on one grid). */
#ifndef GC_QUALITY_CUDA_H
#define GC_QUALITY_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/backend.h"

/* Reads rows·D floats once. */
int gc_cuda_quality_max_abs(gc_backend *b, const float *e, int64_t rows, int D, double *max_abs);
/* Reads rows·D floats once, and writes and reads a byte a row (its subsets). */
int gc_cuda_quality_sums(gc_backend *b, const float *e, int64_t rows, int D, int64_t first_row,
                         const gc_random_subsets *subsets, double scale, int64_t *acc);

#ifdef __cplusplus
}
#endif

#endif

/* The quality pass on the CPU (docs/design.md §5): the CPU path of src/select/quality.c and the oracle
 * of the CUDA ops gc_backend_ops.quality_*. */
#ifndef GC_QUALITY_CPU_H
#define GC_QUALITY_CPU_H

#include <stdint.h>

#include "kernels/quality.h"

/* The largest |e_ij| of rows e [rows × D] (0 without rows; a NaN where a value is one). Reads rows·D
 * floats once. */
double gc_cpu_quality_max_abs(const float *e, int64_t rows, int D);

/* acc += exact sums on gc_exact_sum's grid `scale` (core/comm.h) of (1 + subsets->count)·D
 * components: Σ e_i over every row (components 0 … D−1), then over the rows of random subset s
 * (components (1 + s)·D …), e's rows being global rows first_row …; acc holds whole parts, then
 * fractions. Integer sums, so any split of the rows over ranks, threads or devices gives the same
 * bits. Reads rows·D floats once. */
int gc_cpu_quality_sums(const float *e, int64_t rows, int D, int64_t first_row, const gc_random_subsets *subsets,
                        double scale, int64_t *acc);

#endif

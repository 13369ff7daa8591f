/* Dense CPU kernels of facility location: the similarity block of the CPU greedy, and the passes
 * over all rows (the CPU twin of the fl_assign op, oracle of kernels/cuda/assign_cuda.cu). */
#ifndef GC_CPU_KERNELS_H
#define GC_CPU_KERNELS_H

#include <stdint.h>

#include "kernels/fl.h"

/* out [m × n] = c - ‖a_i - b_j‖₂ in double, via one dgemm on ‖a‖² + ‖b‖² - 2 a·b (clamped at 0).
 * flops ≈ 2·m·n·D, bytes ≈ 8·m·n written. */
int gc_cpu_similarity(const float *a, int64_t m, const float *b, int64_t n, int D, double c, double *out);

/* The fl_assign op's CPU twin (contract: kernels/backend.h; sets: kernels/fl.h). Cost: rows × (the
 * group's set rows) × D double differences, squares and sums; OpenMP over rows. */
void gc_cpu_fl_assign(const float *e, int64_t rows, int D, const int32_t *group, const gc_fl_sets *sets,
                      int64_t *nearest, double *distance);

#endif

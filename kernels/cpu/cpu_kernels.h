/* Dense CPU kernels of facility location: the similarity block of the CPU greedy, and the passes
 * over all rows (the CPU twins of the fl_assign and fl_radius ops, oracles of
 * kernels/cuda/assign_cuda.cu). */
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

/* The fl_radius op's CPU twin (contract: kernels/backend.h): the largest Σ_j (e_ij − center_j)² over
 * the rows, in double, column order, never contracted. OpenMP over rows. */
double gc_cpu_fl_radius(const float *e, int64_t rows, int D, const double *center);

#endif

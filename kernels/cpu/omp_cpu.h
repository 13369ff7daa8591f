/* OMP on the CPU (docs/design.md §4.2): the selector's CPU path and the oracle of the CUDA ops
 * (gc_backend_ops.omp_*). G problems share one rank's rows: row i belongs to problem problem[i]
 * (problem NULL: every row to problem 0). Row weights w_i are 1/‖e_i‖ for eligible rows and 0 for
 * excluded ones (zero norm, already chosen); the bounds below rely on exactly that. */
#ifndef GC_OMP_CPU_H
#define GC_OMP_CPU_H

#include <stdint.h>

#include "kernels/backend.h"

/* w[i] = 1/‖e_i‖ with ‖e_i‖² accumulated in double in column order (0 for a zero row); returns the
 * largest |e_ij| (0 without rows). Reads rows·D floats once. */
double gc_cpu_omp_weights(const float *e, int64_t rows, int D, double *w);

/* acc += Σ over the rows of problem g of e_i for every g < problems, exactly on gc_exact_sum's grid
 * `scale` (core/comm.h): acc holds the accumulators of problems·D components, component g·D + j
 * (whole parts, then fractions). Integer sums, so any split of the rows gives the same bits.
 * Reads rows·D floats once. */
int gc_cpu_omp_targets(const float *e, int64_t rows, int D, const int32_t *problem, int problems, double scale,
                       int64_t *acc);

/* scores[i] = w_i·⟨e_i, r_g⟩ (signed) or w_i·|⟨e_i, r_g⟩| with g = row i's problem and r [G × D],
 * −∞ where w_i = 0, each dot accumulated in double in column order, so a row's score is the same
 * bits however rows are split over ranks. Reads rows·D floats; 2·rows·D flops. */
void gc_cpu_omp_scores(const float *e, int64_t rows, int D, const int32_t *problem, const double *r, const double *w,
                       int signed_scores, double *scores);

/* For every problem g with want[g] > 0: best[g·stride + t], t < want[g] ≤ stride, = its want[g] best
 * rows by gc_cpu_omp_scores, best first (ties to the lower row), GC_OMP_NONE past its eligible rows;
 * entries at want[g] and beyond are GC_OMP_NONE. One float pass scores every row of those problems
 * against its own problem's residual and finds, within its proven rounding bound, the few rows
 * that can be among the best; only those are scored again in double. work: rows floats. Reads the
 * rows of the problems with want[g] > 0 once. */
int gc_cpu_omp_best(const float *e, int64_t rows, int D, const int32_t *problem, int problems, const double *r,
                    const double *w, int signed_scores, const int *want, int stride, float *work, gc_omp_pair *best);

#endif

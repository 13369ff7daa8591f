/* OMP scoring on the CPU (docs/design.md §4): the selector's CPU path and the oracle of the CUDA scorer.
 * Row weights w_i are 1/‖e_i‖ for eligible rows and 0 for excluded ones (zero norm, already chosen,
 * another class); the bounds below rely on exactly that. */
#ifndef GC_OMP_CPU_H
#define GC_OMP_CPU_H

#include <stdint.h>

#include "kernels/backend.h"

/* scores[i] = w_i·⟨e_i, r⟩ (signed) or w_i·|⟨e_i, r⟩|, −∞ where w_i = 0, each dot accumulated in
 * double in column order, so a row's score is the same bits however rows are split over ranks.
 * Reads rows·D floats; 2·rows·D flops. */
void gc_cpu_omp_scores(const float *e, int64_t rows, int D, const double *r, const double *w, int signed_scores,
                       double *scores);

/* best[0..count) = the `count` best rows by gc_cpu_omp_scores, best first (ties to the lower row),
 * GC_OMP_NONE past the eligible rows. One cblas_sgemv pass finds, within its proven rounding bound,
 * the few rows that can be among the best; only those are scored again in double. work: rows floats.
 * Reads rows·D floats once. */
int gc_cpu_omp_best(const float *e, int64_t rows, int D, const double *r, const double *w, int signed_scores, int count,
                    float *work, gc_omp_pair *best);

#endif

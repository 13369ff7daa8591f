/* Quality of a coreset against the full data (docs/design.md §5): the relative gradient error
 * ‖Σᵢ eᵢ − Σⱼ γⱼ eⱼ‖ / ‖Σᵢ eᵢ‖, and the same for uniform random subsets of the same size with
 * weight N/k (mean over 5 seeds), as in CRAIG's Fig. 2. */
#ifndef GC_QUALITY_H
#define GC_QUALITY_H

#include "io/coreset.h"

#define GC_RANDOM_BASELINE_SEEDS 5

/* Collective. */
int gc_gradient_errors(const gc_local_rows *rows, const gc_coreset *cs, uint64_t seed, double *coreset_error,
                       double *random_error_mean);

#endif

/* Quality of a coreset against the full data (docs/design.md §5): the relative gradient error
 * ‖Σᵢ eᵢ − Σⱼ γⱼ eⱼ‖ / ‖Σᵢ eᵢ‖, and the same for uniform random subsets of the same size with
 * weight N/k (mean over 5 seeds), as in CRAIG's Fig. 2. */
#ifndef GC_QUALITY_H
#define GC_QUALITY_H

#include "io/coreset.h"
#include "kernels/backend.h"

#define GC_RANDOM_BASELINE_SEEDS 5
_Static_assert(GC_RANDOM_BASELINE_SEEDS <= GC_QUALITY_MAX_SUBSETS, "the quality pass sums at most this many subsets");

/* Collective: sums [(1 + subsets->count) × D] ← the full sum of every rank's rows, then each random
 * subset's, exact on gc_exact_sum's grid of the rows' largest magnitude, on backend's device when it
 * has the quality ops (its resident rows when it kept them), else on the CPU: the same bits either
 * way and at any rank count. Also the mean of facility location's similarity constant. */
int gc_exact_row_sums(gc_backend *backend, const gc_local_rows *rows, const gc_random_subsets *subsets, double *sums);

/* Collective. The sums over the rows (the full sum and each subset's) are exact (gc_exact_sum's
 * grid, core/comm.h) and made on backend's device when it has the quality ops (reading its resident
 * embeddings when it kept them), else on the CPU (backend NULL included): both errors are the same
 * bits for any rank count and either backend. Reads the rows twice (their largest magnitude, which
 * fixes the grid, then the sums). */
int gc_gradient_errors(gc_backend *backend, const gc_local_rows *rows, const gc_coreset *cs, uint64_t seed,
                       double *coreset_error, double *random_error_mean);

#endif

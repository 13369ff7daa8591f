/* The CPU twin of facility-location greedy (kernels/fl.h): the oracle of the CUDA greedy and what
 * the CPU backend's fl_greedy runs. */
#ifndef GC_GREEDY_FL_CPU_H
#define GC_GREEDY_FL_CPU_H

#include "kernels/fl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exact lazy greedy (Minoux): a max-heap of stale upper bounds ordered by (gain, -position); or,
 * with stochastic_epsilon > 0, stochastic greedy (Mirzasoleiman et al. 2015): each step scores
 * ⌈(m/κ)·ln(1/ε)⌉ random unselected elements and takes the best. Selects min(kappa, m) elements. selected/gains get the positions and marginal gains in selection
 * order; coverage (optional, [m]) gets, per selected position, the weight of the points whose most
 * similar selected element it is (ties to the lowest position). */
int gc_fl_greedy_cpu(const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains, double *coverage);

#ifdef __cplusplus
}
#endif

#endif

/* Weighted facility location on one rank: F(S) = Σᵢ wᵢ max_{j∈S} s_ij with s_ij = c - ‖eᵢ - eⱼ‖,
 * ground set = candidate set = the m given rows (sorted by global index, so "lowest position"
 * means "lowest global index" in every tie). */
#ifndef GC_GREEDY_FL_H
#define GC_GREEDY_FL_H

#include <stdint.h>

typedef struct {
    int64_t m;
    int D;
    const float *e;   /* [m × D] */
    const double *w;  /* [m] point weights, NULL = all 1 */
    double c;         /* similarity constant, >= every distance */
    double stochastic_epsilon; /* 0: exact lazy greedy; else stochastic greedy with this ε */
    uint64_t seed;    /* stochastic greedy: samples are a function of (seed, step), so of the
                       * partition and never of the rank that runs it */
} gc_fl_problem;

/* Largest ground set whose dense double similarity block one rank builds (m² · 8 bytes). */
#define GC_FL_MAX_DENSE 32768

/* Exact lazy greedy (Minoux): a max-heap of stale upper bounds ordered by (gain, -position); or,
 * with stochastic_epsilon > 0, stochastic greedy (Mirzasoleiman et al. 2015): each step scores
 * ⌈(m/κ)·ln(1/ε)⌉ random unselected elements and takes the best. Selects min(kappa, m) elements. selected/gains get the positions and marginal gains in selection
 * order; coverage (optional, [m]) gets, per selected position, the weight of the points whose most
 * similar selected element it is (ties to the lowest position). */
int gc_greedy_fl(const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains,
                 double *coverage);

#endif

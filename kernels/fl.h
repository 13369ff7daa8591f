/* Facility location, the contract both twins (kernels/cpu/greedy_fl_cpu.c and kernels/cuda/fl_cuda.cu,
 * reached through gc_backend_ops.fl_greedy) implement. Weighted facility location on one rank: F(S) = Σᵢ wᵢ max_{j∈S} s_ij with s_ij = c - ‖eᵢ - eⱼ‖,
 * ground set = candidate set = the m given rows (sorted by global index, so "lowest position"
 * means "lowest global index" in every tie). */
#ifndef GC_FL_H
#define GC_FL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t m;
    int D;
    const float *e; /* [m × D], or NULL: the rows are `rows` */
    /* e NULL: positions (in the last embed call's rows) of the m rows in the embeddings the backend
     * keeps on its device alone (docs/design.md §3.2), or −1 − t for row t of those rows_put kept;
     * only a backend with that copy reads them. */
    const int64_t *rows;
    const double *w;           /* [m] point weights, NULL = all 1 */
    double c;                  /* similarity constant, >= every distance */
    double stochastic_epsilon; /* 0: exact lazy greedy; else stochastic greedy with this ε */
    uint64_t seed;             /* stochastic greedy: samples are a function of (seed, step), so of the
                       * partition and never of the rank that runs it */
    double cover_target;       /* > 0: submodular cover, stop as soon as L(S) = Σᵢ wᵢ minⱼ dᵢⱼ <= this
                          * (kappa is then only a cap; unused selected[] entries are set to -1) */
} gc_fl_problem;

/* L(S) of the greedy so far: every point starts at distance c (s = 0) and F(S) is the sum of the
 * gains, so L = c·Σw − F. True when a cover target is set and reached. */
static inline int gc_cover_reached(const gc_fl_problem *p, double total_weight, double objective)
{
    return p->cover_target > 0.0 && p->c * total_weight - objective <= p->cover_target;
}

static inline double gc_fl_total_weight(const gc_fl_problem *p)
{
    if (p->w == NULL) return (double)p->m;
    double W = 0.0;
    for (int64_t i = 0; i < p->m; ++i) W += p->w[i];
    return W;
}

/* Largest ground set whose dense double similarity block one rank builds (m² · 8 bytes). */
#define GC_FL_MAX_DENSE 32768

/* Stochastic greedy's draws, shared by the CPU and GPU twins so both pick the same elements:
 * ⌈(m/κ)·ln(1/ε)⌉ samples a step, and a partial Fisher-Yates shuffle that moves s random entries
 * of rest[0, size) (the unselected positions) to its front. */
static inline int64_t gc_stochastic_sample_size(int64_t m, int64_t kappa, double epsilon)
{
    int64_t s = kappa > 0 ? (int64_t)ceil((double)m / (double)kappa * log(1.0 / epsilon)) : 1;
    return s < 1 ? 1 : s;
}

static inline void gc_stochastic_draw(int64_t *rest, int64_t size, int64_t s, int64_t step, int64_t m, uint64_t seed)
{
    for (int64_t t = 0; t < s; ++t) {
        double u = gc_rng_uniform(seed, GC_STREAM_STOCHASTIC_GREEDY, (uint64_t)step * (uint64_t)m + (uint64_t)t);
        int64_t r = t + (int64_t)(u * (double)(size - t));
        if (r >= size) r = size - 1; /* u rounds to 1.0 once in 2^53 draws */
        int64_t tmp = rest[t];
        rest[t] = rest[r];
        rest[r] = tmp;
    }
}

/* Passes over all rows (the fl_assign op of kernels/backend.h, docs/design.md §4.1): each row is
 * compared with every set of selected rows of its group (its label, or 0 for one group). Sets are
 * ranges of e, so several groups can share one: group g has sets group_set[g] … group_set[g + 1] − 1
 * and set s is rows set_first[s] … set_first[s] + set_size[s] − 1 of e. A row's nearest element of
 * a set is a position within the set, the first of equals: sets sorted by global index break ties
 * to the lower global index. */
typedef struct {
    int groups;
    const int64_t *group_set; /* [groups + 1] */
    const int64_t *set_first; /* [sets] */
    const int64_t *set_size;  /* [sets] */
    int64_t rows;             /* rows of e */
    const float *e;           /* [rows × D] */
} gc_fl_sets;

/* W, the most sets a group has: a pass writes W slots a row. */
static inline int64_t gc_fl_sets_width(const gc_fl_sets *s)
{
    int64_t w = 0;
    for (int g = 0; g < s->groups; ++g)
        if (s->group_set[g + 1] - s->group_set[g] > w) w = s->group_set[g + 1] - s->group_set[g];
    return w;
}

#ifdef __cplusplus
}
#endif

#endif

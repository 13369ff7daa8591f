/* BiCo, bilevel coresets (Borsos, Mutný, Krause, NeurIPS 2020 / JMLR 2024; docs/design.md §4) with the
 * RKHS proxy: Nyström features z_i of an RBF kernel (nystrom.h), inner problem = weighted kernel
 * ridge regression on the selected points with one-hot targets,
 *   θ(w) = argmin_θ Σ_{j∈S} w_j ‖θᵀz_j − y_j‖² + λ‖θ‖²,
 * outer objective G(w) = Σ_i ‖θ(w)ᵀz_i − y_i‖² over all N points. Forward selection in rounds:
 * every point is scored by s_k = ∇ℓ_kᵀ H⁻¹ ∇G = −∂G/∂w_k (H = 2(Z_SᵀWZ_S + λI) per output), the
 * b best unselected points join with weight 1, and θ is refit.
 *
 * Choices (documented in README):
 * - one joint problem over all classes (the targets are one-hot, as in the paper); --per-class
 *   does not apply;
 * - the start is deterministic: the first round scores with S = ∅, θ = 0 (instead of the paper's
 *   random first point), where s_k = (2/λ)·Σ_{i: y_i = y_k} z_kᵀz_i;
 * - G and ∇G = 2(Mθ − B) need only M = ZᵀZ and B = ZᵀY, summed once over the data, exactly (comm.h)
 *   and so bitwise the same for any number of ranks; a round's only pass over the data is scoring;
 * - the small replicated algebra (q' × q' Cholesky, the weight steps) runs on rank 0 and its result
 *   is broadcast;
 * - weights: unweighted (default), selected points keep w = 1 in the inner problem and the coreset
 *   file gets N_c/k_c for a point of class c (k_c selected of N_c, so the weights sum to N like
 *   uniform sampling's N/k); --bico-weights on: after every round GC_BICO_WEIGHT_STEPS projected
 *   gradient steps w ← max(0, w + η s_S) on the selected weights, η starting where the largest
 *   change equals the mean weight and halved until G decreases by more than GC_BICO_STEP_GAIN of
 *   itself (the step is skipped after 30 halvings); the file gets these weights scaled to sum to N. */
#ifndef GC_SELECT_BICO_H
#define GC_SELECT_BICO_H

#include "candidates.h"
#include "core/options.h"
#include "io/coreset.h"
#include "kernels/backend.h"
#include "run_context.h"
#include "src/linalg/nystrom.h"

#define GC_BICO_MAX_BATCH         GC_CANDIDATES_MAX
#define GC_BICO_WEIGHT_STEPS      10
/* A weight step is taken only where it lowers G by more than this fraction, so that G's rounding
 * (about 1e-12 of it between the CPU's and a GPU's features) does not decide whether a step is
 * taken. */
#define GC_BICO_STEP_GAIN         1e-9
/* --landmarks when not given: this many, or N when smaller, or fewer where N·q would pass
 * GC_BICO_FEATURE_VALUES (the features are N × q' doubles, read once a round: 2^31 values is 17 GB
 * over all ranks), but never fewer than GC_BICO_MIN_LANDMARKS. A function of N alone, so the same
 * on any rank count (docs/design.md §4.5). */
#define GC_BICO_DEFAULT_LANDMARKS 1000
#define GC_BICO_FEATURE_VALUES    ((int64_t)1 << 31)
#define GC_BICO_MIN_LANDMARKS     64
/* --batch when not given: one point a round for k ≤ this many rounds, else ⌈k / rounds⌉ a round, so
 * a large coreset takes about this many passes over the features instead of k. */
#define GC_BICO_DEFAULT_ROUNDS    200

typedef struct {
    int landmarks; /* q; 0: the default above */
    double gamma;  /* RBF width; ≤ 0: median heuristic (nystrom.h) */
    double ridge;  /* λ > 0 */
    int batch;     /* b, points added per round; 0: the default above */
    int weighted;  /* projected gradient steps on the weights */
    gc_eig_kind eig;
    uint64_t seed;
    const double *row_weight; /* [n_local] vᵢ > 0 of each row in the outer objective G = Σᵢ vᵢ‖θᵀzᵢ − yᵢ‖²,
                               * as when a weighted coreset is compressed again (gradcore stream);
                               * NULL: all 1. N and N_c below are then Σ v. */
} gc_bico_options;

/* Reads the bico options (src/select/selector.h) and --batch (b points a round) into opt; one error line names a bad one. */
int gc_bico_options_parse(const gc_options *o, gc_bico_options *opt);

/* The defaults above: q for N rows, b for a coreset of k. */
int gc_bico_default_landmarks(int64_t n);
int gc_bico_default_batch(int64_t k);

/* Collective. Fills cs on every rank: index, label, loss, embedding (x) in selection order,
 * gain = the point's score s_k in the round that selected it, weight (above), objective = the final
 * G(w), and the landmarks and γ. rows->e holds x (the `features` embedding). */
int gc_select_bico(const gc_run_context *run, const gc_local_rows *rows, const gc_bico_options *opt, int64_t k,
                   gc_coreset *cs);

#endif

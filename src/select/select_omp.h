/* Distributed orthogonal matching pursuit (DESIGN §4; `gmc`, `gradmatch`): approximate the target
 * g = Σᵢ eᵢ (globally, or per class) by Σⱼ γⱼ eⱼ over a few rows. Each pass every rank scores its
 * rows against the residual r = g − E_I γ (|⟨eᵢ, r⟩|/‖eᵢ‖, or signed with --nonneg), the best
 * rows win by a reduction with ties to the lowest global index, their owners broadcast them, and
 * every rank refits γ. The coreset is the same for any number of ranks. */
#ifndef GC_SELECT_OMP_H
#define GC_SELECT_OMP_H

#include "candidates.h"
#include "io/checkpoint.h"
#include "io/coreset.h"
#include "kernels/backend.h"
#include "src/linalg/refit.h"

/* Atoms per pass at most (--batch): the merge of the ranks' candidates works in fixed buffers. */
#define GC_OMP_MAX_BATCH GC_CANDIDATES_MAX

/* Where the time went on this rank, for logs and benchmarks. */
typedef struct {
    int64_t passes;     /* scoring passes over the local rows */
    double attach_s;    /* gathering each problem's rows and norms, and copying them to the device */
    double score_s;     /* scoring passes, including picking the local best */
    double merge_s;     /* reduction of the candidates and broadcast of the atoms */
    double refit_s;     /* Cholesky updates, solves (or NNLS) and residuals */
    double score_bytes; /* embedding bytes the scoring passes read */
} gc_omp_stats;

typedef struct {
    int64_t k;
    int per_class; /* one OMP per class with the budgets of budget.h, classes in order */
    double ridge;  /* λ */
    int nonneg;    /* signed scores and an NNLS refit */
    double tol;    /* stop a problem when ‖r‖/‖g‖ ≤ tol */
    int batch;     /* atoms added per pass, 1..GC_OMP_MAX_BATCH */
    gc_refit_kind refit;
    gc_backend *backend;       /* scores on its device when it has the OMP ops, else on the CPU */
    gc_omp_stats *stats;       /* optional, filled on return */
    gc_checkpoint *checkpoint; /* NULL: no restart state; else the atoms of each problem are logged
                                * after every pass and replayed (no scoring) on a restart */
    const double *targets;     /* NULL: g = Σ of each problem's rows; else [problems × D], the same on
                             * every rank: a target the rows do not sum to (continual GMC's running
                             * sum of all data seen, or Σ wᵢ eᵢ of weighted rows in a merge) */
} gc_omp_options;

/* Collective. Fills cs (allocated here) on every rank: index, label, loss, embedding in selection
 * order (classes in order), weight = γ, gain = ‖r‖/‖g‖ of the atom's problem after its step,
 * objective = the final ‖Σ r‖/‖g‖ over all classes. A problem stops short of its budget only when
 * the tolerance is met, its rows run out, or every candidate of a pass depends linearly on the
 * atoms already in (the fit is then exact; --ridge > 0 reaches the budget). */
int gc_select_omp(const gc_local_rows *rows, const gc_omp_options *opt, gc_coreset *cs);

#endif

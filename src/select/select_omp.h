/* Distributed orthogonal matching pursuit (docs/design.md §4.2; `gmc`, `gradmatch`): approximate the
 * target g = Σᵢ eᵢ (globally, or per class) by Σⱼ γⱼ eⱼ over a few rows. Per class, every class's
 * problem advances in the same passes: each pass every rank scores each of its rows once against
 * its own class's residual r = g − E_I γ (|⟨eᵢ, r⟩|/‖eᵢ‖, or signed with --nonneg), one reduction
 * brings every class's best rows (ties to the lowest global index) with their rows to every rank,
 * and every rank refits each class's γ. The coreset is the same for any number of ranks, and the
 * same as running the classes one after another. */
#ifndef GC_SELECT_OMP_H
#define GC_SELECT_OMP_H

#include "candidates.h"
#include "io/checkpoint.h"
#include "io/coreset.h"
#include "kernels/backend.h"
#include "run_context.h"
#include "src/linalg/refit.h"

/* Atoms per pass at most (--batch): the merge of the ranks' candidates works in fixed buffers. */
#define GC_OMP_MAX_BATCH GC_CANDIDATES_MAX

typedef struct {
    int per_class; /* one OMP per class with the budgets of budget.h, classes in order */
    double ridge;  /* λ */
    int nonneg;    /* signed scores and an NNLS refit */
    double tol;    /* stop a problem when ‖r‖/‖g‖ ≤ tol */
    int batch;     /* atoms added per pass, 1..GC_OMP_MAX_BATCH */
    gc_refit_kind refit;
    const double *targets; /* NULL: g = Σ of each problem's rows; else [problems × D], the same on
                             * every rank: a target the rows do not sum to (continual GMC's running
                             * sum of all data seen, or Σ wᵢ eᵢ of weighted rows in a merge) */
} gc_omp_options;

/* Collective. Sets up the rows and scores on ctx->backend's device when it has the OMP ops (reading
 * the embeddings it kept there, rows->e being the output of its last embed call), else on the CPU;
 * with ctx->checkpoint the atoms each pass adds to each problem are logged and replayed (no
 * scoring) on a restart. Time goes to the phases select/row-setup, select/score, select/merge,
 * select/refit. Fills cs (allocated here) with at most k atoms on every rank: index, label, loss,
 * embedding in selection order (classes in order), weight = γ, gain = ‖r‖/‖g‖ of the atom's problem
 * after its step, objective = the final ‖Σ r‖/‖g‖ over all classes. A problem stops short of its
 * budget only when the tolerance is met, its rows run out, or every candidate of a pass depends
 * linearly on the atoms already in (the fit is then exact; --ridge > 0 reaches the budget). */
int gc_select_omp(const gc_run_context *run, const gc_local_rows *rows, const gc_omp_options *opt, int64_t k,
                  gc_coreset *cs);

#endif

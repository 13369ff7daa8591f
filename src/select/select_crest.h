/* CREST (Yang et al., ICML 2023; docs/design.md §4): P random subsets of r rows drawn from the global index
 * by the seed, rows whose loss is below α left out; from each subset a mini-batch coreset of m rows
 * by facility location, weighted by cluster sizes within the subset.
 *
 * Sampling: subset s walks a seeded pointwise permutation of [0, N) (gc_permute, seed derived from
 * (--seed, s)) from position 0 and keeps the first r rows whose loss is ≥ α, skipping the others, so
 * a subset is a uniform draw of r rows among the kept ones. It depends on the data, α and the seed
 * only, never on the rank count. When fewer than r rows are kept, every subset is all of them.
 *
 * Subset s is owned by rank s mod ranks; every rank walks every subset and sends its own members
 * there with MPI_Alltoallv, one record per (row, subset). The owner runs the facility-location
 * greedy on the subset (gc_backend_fl_greedy: on the rank's GPU when it has one; rows in global order,
 * one similarity constant c for all subsets, from gc_similarity_constant). A batch is chosen over
 * its whole subset: --per-class does not apply.
 * The coreset returned is the union of the batches: rows in order of first appearance (subset, then
 * greedy order), weight = the row's cluster sizes summed over its batches, scaled so all weights sum
 * to N, gain = its gain at first appearance; F(S) and L(S) are summed over the subsets. */
#ifndef GC_SELECT_CREST_H
#define GC_SELECT_CREST_H

#include "io/coreset.h"
#include "run_context.h"

typedef struct {
    int64_t subsets;     /* P */
    int64_t subset_size; /* r */
    int64_t batch_size;  /* m <= r */
    double exclude_loss; /* α: rows with loss < α are never drawn; 0 keeps every row */
    double stochastic;   /* ε of stochastic greedy on each subset; 0 = exact lazy greedy */
    uint64_t seed;
    int save_subsets; /* also return every subset's rows in cs->crest.subset_index */
} gc_crest_options;

/* Collective. Fills cs (allocated here, replicated on every rank) and, on rank 0, cs->crest. */
int gc_select_crest(const gc_run_context *run, const gc_local_rows *rows, const gc_crest_options *opt, gc_coreset *cs);

#endif

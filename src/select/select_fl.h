/* Distributed facility location (docs/design.md §4): partitions cut from the global index per class,
 * greedy on each partition by its owner rank, a weighted merge of the candidates, the better by
 * global F of the merged set and each partition's own set (GreeDi), then exact weights by an
 * assignment pass. The coreset depends on the data and options, not the rank count. */
#ifndef GC_SELECT_FL_H
#define GC_SELECT_FL_H

#include "io/checkpoint.h"
#include "io/coreset.h"
#include "run_context.h"

typedef struct {
    int per_class;
    int64_t partition_size;
    double oversample; /* α: candidates per partition = ⌈α·k_c·|p|/N_c⌉ */
    int shuffle;       /* permute class rows by the seed before cutting partitions */
    uint64_t seed;
    double stochastic;        /* ε of stochastic greedy on partitions; 0 = exact lazy greedy */
    int tree_merge;           /* merge candidates pairwise up a binary tree instead of all at the root */
    double epsilon;           /* > 0: submodular cover, stop once L(S) <= ε (k is then N, a cap) */
    int64_t safeguard_sample; /* GreeDi's comparison scores about this many rows a class; 0 = all */
} gc_fl_options;

/* Collective. The greedies run on run->backend (its device when it has the fl_greedy op); with
 * run->checkpoint each finished partition is logged and a restart takes it from the log. Time goes
 * to the phases select/constant, select/exchange, select/partitions, select/merge (its
 * sub-phases send, greedy, share, safeguard) and select/weights. Fills cs
 * (allocated here) with k rows (a cover: its own size) on every rank. */
int gc_select_fl(const gc_run_context *run, const gc_local_rows *rows, const gc_fl_options *opt, int64_t k,
                 gc_coreset *cs);

/* c = 2·maxᵢ‖eᵢ − μ‖ with μ the global mean (its exact sum on backend's device when it has the
 * quality ops, gc_exact_row_sums), computed rank-count independently. Collective. */
int gc_similarity_constant(gc_backend *backend, const gc_local_rows *rows, double *c);
/* The bytes gc_similarity_constant moved on run->backend, counted into the open phase at their floors. */
void gc_similarity_constant_count(const gc_run_context *run, const gc_local_rows *rows);
/* The floor of one facility-location greedy over m rows of width D, counted into the open phase: the
 * similarity block's product (one triangle, m(m + 1)·D flops) and one write and one read of its m²
 * doubles. Partitions, the merge's greedies and CREST's subsets count theirs with it. */
void gc_fl_greedy_count(gc_phases *phases, int64_t m, int D);

#endif

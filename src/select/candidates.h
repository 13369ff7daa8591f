/* Best-first candidate lists merged over ranks: each rank offers its `count` best (score, global
 * row) pairs, and every rank receives the best `count` of all. The order (backend.h,
 * gc_omp_pair_before: higher score, then the lower row) is total, so any grouping of ranks gives
 * the same list: MPI_MAXLOC's idea, with int64 rows and lists instead of single winners. Used by
 * OMP (atoms per pass) and BiCo (points per round). */
#ifndef GC_CANDIDATES_H
#define GC_CANDIDATES_H

#include <mpi.h>

#include "kernels/backend.h"

/* Longest list (--batch) the reduction merges, in a fixed buffer. */
#define GC_CANDIDATES_MAX 1024

typedef struct {
    MPI_Datatype pair_type, list_type;
    MPI_Op op;
} gc_candidate_merge;

/* Lists of `count` pairs, 1 ≤ count ≤ GC_CANDIDATES_MAX. Not collective. */
int gc_candidate_merge_create(gc_candidate_merge *m, int count);
void gc_candidate_merge_destroy(gc_candidate_merge *m);
/* Collective: global ← the best pairs of every rank's local list. */
int gc_candidate_merge_allreduce(const gc_candidate_merge *m, const gc_omp_pair *local, gc_omp_pair *global,
                                 MPI_Comm comm);

#endif

/* Best-first candidate lists merged over ranks: each rank offers its `count` best (score, global
 * row) pairs, and every rank receives the best `count` of all. The order (backend.h,
 * gc_omp_pair_before: higher score, then the lower row) is total, so any grouping of ranks gives
 * the same list: MPI_MAXLOC's idea, with int64 rows and lists instead of single winners. Used by
 * OMP (atoms per pass) and BiCo (points per round).
 *
 * One MPI_Allreduce does a pass's whole round trip (docs/scaling.md, "Fewer round trips"): each
 * pair carries `payload_bytes` of its own (OMP: the candidate's label, loss and row, which its
 * owner has at hand), so the winners arrive with their rows and need no broadcast from their
 * owners; and the list's header carries the ranks' status, so no separate agreement precedes it.
 * A pass of b atoms thus costs one collective instead of 2 + b, and several independent problems
 * (OMP's classes) share it: each has a list of its own, and the reduction merges list l of every
 * rank with list l of the others. */
#ifndef GC_CANDIDATES_H
#define GC_CANDIDATES_H

#include <mpi.h>
#include <stddef.h>

#include "kernels/backend.h"

/* Longest list (--batch) the reduction merges. */
#define GC_CANDIDATES_MAX 1024

/* A list on the wire: this header, then `count` records of record_bytes (a gc_omp_pair, then the
 * payload), best first. */
typedef struct {
    int64_t first_failed; /* the lowest rank whose status was not GC_OK; the rank count if none */
    int64_t record_bytes;
} gc_candidate_header;

typedef struct {
    MPI_Datatype list_type;
    MPI_Op op;
    int count, lists;
    size_t payload_bytes, record_bytes, list_bytes;
    char *local, *global; /* [lists × list_bytes] each: this rank's lists, then everyone's best */
} gc_candidate_merge;

/* One list of `count` records, 1 ≤ count ≤ GC_CANDIDATES_MAX, each with payload_bytes of payload.
 * Not collective. */
int gc_candidate_merge_create(gc_candidate_merge *m, int count, size_t payload_bytes);
/* The same with room for up to `lists` lists (≥ 1). */
int gc_candidate_merge_create_lists(gc_candidate_merge *m, int lists, int count, size_t payload_bytes);
void gc_candidate_merge_destroy(gc_candidate_merge *m);

/* List l of m->local or m->global. */
static inline char *gc_candidate_list(const gc_candidate_merge *m, char *lists, int l)
{
    return lists + (size_t)l * m->list_bytes;
}

/* Record t of a list (m->local and m->global are list 0): its pair, and the payload that travels
 * with it. */
static inline gc_omp_pair *gc_candidate_pair(const gc_candidate_merge *m, char *list, int t)
{
    return (gc_omp_pair *)(list + sizeof(gc_candidate_header) + (size_t)t * m->record_bytes);
}
static inline void *gc_candidate_payload(const gc_candidate_merge *m, char *list, int t)
{
    return (char *)gc_candidate_pair(m, list, t) + sizeof(gc_omp_pair);
}

/* Collective, as gc_comm_agree: every rank passes its own status and all return the status of the
 * lowest failing rank (with its message). When every status is GC_OK, m->global then holds the
 * best `count` records of all ranks' m->local lists (each sorted best first; GC_OMP_NONE pads). */
int gc_candidate_merge_allreduce(gc_candidate_merge *m, int status, MPI_Comm comm);
/* The same for the first `lists` lists (1 ≤ lists ≤ m->lists, the same on every rank) in one
 * MPI_Allreduce: list l of m->global gets the best of every rank's list l. */
int gc_candidate_merge_allreduce_lists(gc_candidate_merge *m, int lists, int status, MPI_Comm comm);
/* The host bytes a reduction of `lists` lists needs on a rank, its floor (docs/design.md §7.1): its
 * lists read and the merged ones written. */
double gc_candidate_merge_bytes(const gc_candidate_merge *m, int lists);

#endif

#include "candidates.h"

#include <stddef.h>
#include <string.h>

#include "core/error.h"

/* MPI reduction: inout ← the best `count` pairs of two best-first lists. */
static void merge_lists(void *in, void *inout, int *len, MPI_Datatype *type)
{
    int bytes;
    MPI_Type_size(*type, &bytes);
    const int count = bytes / (int)sizeof(gc_omp_pair);
    gc_omp_pair merged[GC_CANDIDATES_MAX];
    const gc_omp_pair *a = in;
    gc_omp_pair *b = inout;
    for (int l = 0; l < *len; ++l, a += count, b += count) {
        int i = 0, j = 0;
        for (int t = 0; t < count; ++t) merged[t] = gc_omp_pair_before(a[i], b[j]) ? a[i++] : b[j++];
        memcpy(b, merged, (size_t)count * sizeof *b);
    }
}

int gc_candidate_merge_create(gc_candidate_merge *m, int count)
{
    *m = (gc_candidate_merge){ .pair_type = MPI_DATATYPE_NULL, .list_type = MPI_DATATYPE_NULL, .op = MPI_OP_NULL };
    if (count < 1 || count > GC_CANDIDATES_MAX)
        return gc_fail(GC_ERR_USAGE, "option --batch: %d is not in 1..%d", count, GC_CANDIDATES_MAX);
    int lengths[2] = { 1, 1 };
    MPI_Aint offsets[2] = { offsetof(gc_omp_pair, score), offsetof(gc_omp_pair, index) };
    MPI_Datatype types[2] = { MPI_DOUBLE, MPI_INT64_T };
    GC_CHECK_MPI(MPI_Type_create_struct(2, lengths, offsets, types, &m->pair_type));
    GC_CHECK_MPI(MPI_Type_contiguous(count, m->pair_type, &m->list_type));
    GC_CHECK_MPI(MPI_Type_commit(&m->list_type));
    GC_CHECK_MPI(MPI_Op_create(merge_lists, 1, &m->op));
    return GC_OK;
}

void gc_candidate_merge_destroy(gc_candidate_merge *m)
{
    if (m->op != MPI_OP_NULL) GC_MPI(MPI_Op_free(&m->op));
    if (m->list_type != MPI_DATATYPE_NULL) GC_MPI(MPI_Type_free(&m->list_type));
    if (m->pair_type != MPI_DATATYPE_NULL) GC_MPI(MPI_Type_free(&m->pair_type));
}

int gc_candidate_merge_allreduce(const gc_candidate_merge *m, const gc_omp_pair *local, gc_omp_pair *global,
                                 MPI_Comm comm)
{
    if (GC_MPI(MPI_Allreduce(local, global, 1, m->list_type, m->op, comm)) != MPI_SUCCESS)
        return gc_fail(GC_ERR_LIB, "MPI error merging the candidates of the ranks");
    return GC_OK;
}

#include "candidates.h"

#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"

/* MPI reduction: inout ← the best `count` records of two best-first lists, and the lower failed
 * rank. The merge runs from the back: the best `count` of the union are the first i of `in` and
 * the first j of `inout` with i + j = count, and writing them into inout from its last slot down
 * never overwrites an inout record still to be read, so no scratch list is needed. */
static void merge_lists(void *in, void *inout, int *len, MPI_Datatype *type)
{
    int bytes;
    MPI_Type_size(*type, &bytes);
    char *a = in, *b = inout;
    for (int l = 0; l < *len; ++l, a += bytes, b += bytes) {
        gc_candidate_header *ha = (gc_candidate_header *)a, *hb = (gc_candidate_header *)b;
        if (ha->first_failed < hb->first_failed) hb->first_failed = ha->first_failed;
        const size_t rec = (size_t)hb->record_bytes;
        const int count = (int)((bytes - sizeof *hb) / rec);
        char *ra = a + sizeof *ha, *rb = b + sizeof *hb;
#define PAIR(base, t) (*(const gc_omp_pair *)((base) + (size_t)(t)*rec))
        int i = 0, j = 0;
        for (int t = 0; t < count; ++t)
            if (gc_omp_pair_before(PAIR(ra, i), PAIR(rb, j)))
                ++i;
            else
                ++j;
        for (int t = count - 1; t >= 0; --t) {
            /* The worse of the two lists' last taken records goes last. */
            if (j == 0 || (i > 0 && gc_omp_pair_before(PAIR(rb, j - 1), PAIR(ra, i - 1))))
                memcpy(rb + (size_t)t * rec, ra + (size_t)--i * rec, rec);
            else if (t != j - 1)
                memmove(rb + (size_t)t * rec, rb + (size_t)(j-- - 1) * rec, rec);
            else
                --j; /* already in place */
        }
#undef PAIR
    }
}

int gc_candidate_merge_create(gc_candidate_merge *m, int count, size_t payload_bytes)
{
    return gc_candidate_merge_create_lists(m, 1, count, payload_bytes);
}

int gc_candidate_merge_create_lists(gc_candidate_merge *m, int lists, int count, size_t payload_bytes)
{
    *m = (gc_candidate_merge){ .list_type = MPI_DATATYPE_NULL, .op = MPI_OP_NULL };
    if (count < 1 || count > GC_CANDIDATES_MAX)
        return gc_fail(GC_ERR_USAGE, "option --batch: %d is not in 1..%d", count, GC_CANDIDATES_MAX);
    const size_t align = sizeof(int64_t);
    m->count = count;
    m->lists = lists > 0 ? lists : 1;
    m->payload_bytes = payload_bytes;
    m->record_bytes = (sizeof(gc_omp_pair) + payload_bytes + align - 1) / align * align;
    m->list_bytes = sizeof(gc_candidate_header) + (size_t)count * m->record_bytes;
    if (m->list_bytes > INT32_MAX)
        return gc_fail(GC_ERR_USAGE, "option --batch: %d candidates of %zu bytes do not fit one message", count,
                       m->record_bytes);
    m->local = gc_calloc((size_t)m->lists, m->list_bytes);
    m->global = gc_calloc((size_t)m->lists, m->list_bytes);
    GC_CHECK_ALLOC(m->local);
    GC_CHECK_ALLOC(m->global);
    GC_CHECK_MPI(MPI_Type_contiguous((int)m->list_bytes, MPI_BYTE, &m->list_type));
    GC_CHECK_MPI(MPI_Type_commit(&m->list_type));
    GC_CHECK_MPI(MPI_Op_create(merge_lists, 1, &m->op));
    return GC_OK;
}

void gc_candidate_merge_destroy(gc_candidate_merge *m)
{
    if (m->op != MPI_OP_NULL) GC_MPI(MPI_Op_free(&m->op));
    if (m->list_type != MPI_DATATYPE_NULL) GC_MPI(MPI_Type_free(&m->list_type));
    free(m->local);
    free(m->global);
}

int gc_candidate_merge_allreduce(gc_candidate_merge *m, int status, MPI_Comm comm)
{
    return gc_candidate_merge_allreduce_lists(m, 1, status, comm);
}

int gc_candidate_merge_allreduce_lists(gc_candidate_merge *m, int lists, int status, MPI_Comm comm)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    for (int l = 0; l < lists; ++l)
        *(gc_candidate_header *)gc_candidate_list(m, m->local, l) =
            (gc_candidate_header){ .first_failed = status == GC_OK ? size : rank,
                                   .record_bytes = (int64_t)m->record_bytes };
    GC_CHECK_MPI(MPI_Allreduce(m->local, m->global, lists, m->list_type, m->op, comm));
    /* A failure somewhere: every rank saw it in the header, so all enter the agreement, which
     * brings the failing rank's message (its cost is paid on this path only). */
    if (((const gc_candidate_header *)m->global)->first_failed != size) return gc_comm_agree(comm, status);
    return GC_OK;
}

double gc_candidate_merge_bytes(const gc_candidate_merge *m, int lists) { return 2.0 * lists * (double)m->list_bytes; }

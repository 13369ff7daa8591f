/* The candidate reduction (src/select/candidates.c) merges two best-first lists whose records carry
 * a payload: the result must be the best `count` of the union in gc_omp_pair_before order (oracle:
 * qsort of the union), every payload still beside its own pair, and the lower failed rank kept.
 * Several lists in one reduction merge list by list, each as if alone. The reduction op runs
 * through MPI_Reduce_local, as MPI_Allreduce would run it. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "src/select/candidates.h"

enum { COUNT = 7, PAYLOAD = 12 };

static int before_qsort(const void *a, const void *b)
{
    gc_omp_pair x = *(const gc_omp_pair *)a, y = *(const gc_omp_pair *)b;
    return gc_omp_pair_before(x, y) ? -1 : gc_omp_pair_before(y, x) ? 1 : 0;
}

/* A best-first list of `real` pairs (then GC_OMP_NONE) with scores from a few values, so ties
 * decide by index; each payload spells its pair's index. */
static void fill(gc_candidate_merge *m, char *list, int real, int64_t first_failed, unsigned *seed, gc_omp_pair *pairs)
{
    for (int t = 0; t < COUNT; ++t)
        pairs[t] = t < real
                       ? (gc_omp_pair){ (double)(rand_r(seed) % 4), (int64_t)(rand_r(seed) % 1000) * 2 + (seed[1] & 1) }
                       : GC_OMP_NONE;
    qsort(pairs, COUNT, sizeof *pairs, before_qsort);
    *(gc_candidate_header *)list = (gc_candidate_header){ first_failed, (int64_t)m->record_bytes };
    for (int t = 0; t < COUNT; ++t) {
        *gc_candidate_pair(m, list, t) = pairs[t];
        memset(gc_candidate_payload(m, list, t), 0, PAYLOAD);
        memcpy(gc_candidate_payload(m, list, t), &pairs[t].index, sizeof pairs[t].index);
    }
}

static void merge_keeps_the_best_records_with_their_payloads(void)
{
    gc_candidate_merge m;
    CHECK(gc_candidate_merge_create(&m, COUNT, PAYLOAD) == 0);
    unsigned seeds[2] = { 1, 2 };
    for (int round = 0; round < 200; ++round) {
        gc_omp_pair a[COUNT], b[COUNT], all[2 * COUNT];
        int real_a = round % (COUNT + 1), real_b = (round / 3) % (COUNT + 1);
        unsigned seed_a[2] = { seeds[0] + (unsigned)round, 0 }, seed_b[2] = { seeds[1] + 7u * (unsigned)round, 1 };
        fill(&m, m.local, real_a, 5, seed_a, a);  /* rows of rank "a" are even, of "b" odd: */
        fill(&m, m.global, real_b, 3, seed_b, b); /* no index is offered twice */
        memcpy(all, a, sizeof a);
        memcpy(all + COUNT, b, sizeof b);
        qsort(all, 2 * COUNT, sizeof *all, before_qsort);
        CHECK(MPI_Reduce_local(m.local, m.global, 1, m.list_type, m.op) == MPI_SUCCESS);
        CHECK(((gc_candidate_header *)m.global)->first_failed == 3);
        for (int t = 0; t < COUNT; ++t) {
            gc_omp_pair got = *gc_candidate_pair(&m, m.global, t);
            int64_t carried;
            memcpy(&carried, gc_candidate_payload(&m, m.global, t), sizeof carried);
            CHECK(got.index == all[t].index && got.score == all[t].score);
            CHECK(carried == got.index);
        }
    }
    gc_candidate_merge_destroy(&m);
}

/* Lists of one reduction (OMP's classes) merge pairwise, list l with list l only. */
static void lists_merge_list_by_list(void)
{
    enum { LISTS = 5 };
    gc_candidate_merge m;
    CHECK(gc_candidate_merge_create_lists(&m, LISTS, COUNT, PAYLOAD) == 0);
    gc_omp_pair all[LISTS][2 * COUNT];
    for (int l = 0; l < LISTS; ++l) {
        unsigned seed_a[2] = { 11u + (unsigned)l, 0 }, seed_b[2] = { 97u * (unsigned)l + 5u, 1 };
        fill(&m, gc_candidate_list(&m, m.local, l), (l * 3) % (COUNT + 1), 4, seed_a, all[l]);
        fill(&m, gc_candidate_list(&m, m.global, l), (l * 5 + 2) % (COUNT + 1), 4, seed_b, all[l] + COUNT);
        qsort(all[l], 2 * COUNT, sizeof *all[l], before_qsort);
    }
    CHECK(MPI_Reduce_local(m.local, m.global, LISTS, m.list_type, m.op) == MPI_SUCCESS);
    for (int l = 0; l < LISTS; ++l) {
        char *merged = gc_candidate_list(&m, m.global, l);
        CHECK(((gc_candidate_header *)merged)->first_failed == 4);
        for (int t = 0; t < COUNT; ++t) {
            gc_omp_pair got = *gc_candidate_pair(&m, merged, t);
            int64_t carried;
            memcpy(&carried, gc_candidate_payload(&m, merged, t), sizeof carried);
            CHECK(got.index == all[l][t].index && got.score == all[l][t].score);
            CHECK(carried == got.index);
        }
    }
    gc_candidate_merge_destroy(&m);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    merge_keeps_the_best_records_with_their_payloads();
    lists_merge_list_by_list();
    MPI_Finalize();
    return check_failures;
}

#include "weights.h"

#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"

typedef struct {
    int64_t index;
    int64_t position;
} by_index;

static int compare_index(const void *a, const void *b)
{
    const by_index *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

/* Assigns rows `members` (local row numbers) to the selected elements `chosen` (coreset positions
 * sorted by global index), adding to counts and the two sums. */
static int assign_group(gc_backend *backend, const gc_local_rows *rows, const gc_coreset *cs, const int64_t *members,
                        int64_t m, const by_index *chosen, int64_t n, int64_t *counts, double *F, double *L)
{
    const int D = rows->D;
    float *a = gc_malloc((size_t)(m ? m : 1) * D * sizeof *a), *b = gc_malloc((size_t)n * D * sizeof *b);
    int64_t *nearest = gc_malloc((size_t)(m ? m : 1) * sizeof *nearest);
    double *dist = gc_malloc((size_t)(m ? m : 1) * sizeof *dist);
    int status = (a && b && nearest && dist) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory in the assignment pass");
    if (status == GC_OK) {
        for (int64_t i = 0; i < m; ++i) memcpy(a + i * D, rows->e + members[i] * D, (size_t)D * sizeof *a);
        for (int64_t j = 0; j < n; ++j)
            memcpy(b + j * D, cs->embedding + chosen[j].position * D, (size_t)D * sizeof *b);
        status = gc_backend_fl_nearest(backend, a, m, b, n, D, nearest, dist);
    }
    if (status == GC_OK) {
        for (int64_t i = 0; i < m; ++i) {
            counts[chosen[nearest[i]].position]++;
            *F += cs->c - dist[i];
            *L += dist[i];
        }
    }
    free(a);
    free(b);
    free(nearest);
    free(dist);
    return status;
}

int gc_assign_weights(gc_backend *backend, const gc_local_rows *rows, int per_class, gc_coreset *cs)
{
    const int G = per_class ? rows->classes : 1;
    const int64_t k = cs->k;
    by_index *sorted = gc_malloc((size_t)k * sizeof *sorted);
    int64_t *group_start = gc_calloc((size_t)G + 2, sizeof *group_start);
    int64_t *counts = gc_calloc((size_t)k, sizeof *counts);
    int64_t *members = gc_malloc((size_t)(rows->n_local ? rows->n_local : 1) * sizeof *members);
    int64_t *row_start = gc_calloc((size_t)G + 1, sizeof *row_start);
    int64_t *fill = gc_calloc((size_t)G, sizeof *fill), *row_fill = gc_calloc((size_t)G + 1, sizeof *row_fill);
    by_index *all = gc_malloc((size_t)(k > 0 ? k : 1) * sizeof *all);
    int status = (sorted && group_start && counts && members && row_start && fill && row_fill && all)
                     ? GC_OK
                     : gc_fail(GC_ERR_MEMORY, "out of memory in the assignment pass");
    double sums[2] = { 0.0, 0.0 };
    if (status == GC_OK) {
        /* Selected elements grouped by class, each group sorted by global index. */
        for (int64_t j = 0; j < k; ++j) group_start[(per_class ? cs->label[j] : 0) + 1]++;
        for (int g = 0; g < G; ++g) group_start[g + 1] += group_start[g];
        for (int64_t j = 0; j < k; ++j) {
            int g = per_class ? cs->label[j] : 0;
            sorted[group_start[g] + fill[g]++] = (by_index){ cs->index[j], j };
        }
        for (int g = 0; g < G; ++g)
            qsort(sorted + group_start[g], (size_t)(group_start[g + 1] - group_start[g]), sizeof *sorted,
                  compare_index);
        /* All selected elements sorted by index, for rows whose class got no budget. */
        memcpy(all, sorted, (size_t)k * sizeof *all);
        qsort(all, (size_t)k, sizeof *all, compare_index);
        /* Local rows bucketed by group. */
        for (int64_t i = 0; i < rows->n_local; ++i) row_fill[(per_class ? rows->y[i] : 0) + 1]++;
        for (int g = 0; g < G; ++g) row_fill[g + 1] += row_fill[g];
        memcpy(row_start, row_fill, (size_t)(G + 1) * sizeof *row_start);
        for (int64_t i = 0; i < rows->n_local; ++i) members[row_fill[per_class ? rows->y[i] : 0]++] = i;
        for (int g = 0; g < G && status == GC_OK; ++g) {
            int64_t m = row_start[g + 1] - row_start[g], n = group_start[g + 1] - group_start[g];
            if (m == 0) continue;
            if (n > 0)
                status = assign_group(backend, rows, cs, members + row_start[g], m, sorted + group_start[g], n, counts,
                                      &sums[0], &sums[1]);
            else
                status = assign_group(backend, rows, cs, members + row_start[g], m, all, k, counts, &sums[0], &sums[1]);
        }
    }
    free(fill);
    free(row_fill);
    free(all);
    free(sorted);
    free(group_start);
    free(members);
    free(row_start);
    status = gc_comm_agree(rows->comm, status);
    if (status == GC_OK) {
        GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, counts, (int)k, MPI_INT64_T, MPI_SUM, rows->comm));
        GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, rows->comm));
        for (int64_t j = 0; j < k; ++j) cs->weight[j] = (double)counts[j];
        cs->objective = sums[0];
        cs->total_distance = sums[1];
    }
    free(counts);
    return status;
}

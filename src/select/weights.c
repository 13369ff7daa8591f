#include "weights.h"

#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/progress.h"

typedef struct {
    int64_t index;
    int64_t position;
} by_index;

static int compare_index(const void *a, const void *b)
{
    const by_index *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

/* The selected elements as fl_assign sets (kernels/fl.h): rows 0 … k−1 of e hold them grouped by
 * class, each class by global index, and group g's one set is its class; a class without elements
 * gets all k, from rows k … 2k−1 (every element by global index), so its rows go to the nearest of
 * any class. position[r] is the coreset position of row r of e. */
typedef struct {
    gc_fl_sets sets;
    int64_t *group_set, *set_first, *set_size, *position;
    float *e;
} selected_sets;

static void selected_sets_destroy(selected_sets *s)
{
    free(s->group_set);
    free(s->set_first);
    free(s->set_size);
    free(s->position);
    free(s->e);
}

static int selected_sets_make(const gc_coreset *cs, int groups, int per_class, selected_sets *s)
{
    const int64_t k = cs->k;
    const int D = cs->D;
    memset(s, 0, sizeof *s);
    s->group_set = gc_malloc((size_t)(groups + 1) * sizeof *s->group_set);
    s->set_first = gc_calloc((size_t)groups + 1, sizeof *s->set_first);
    s->set_size = gc_calloc((size_t)groups, sizeof *s->set_size);
    s->position = gc_malloc((size_t)(2 * k + 1) * sizeof *s->position);
    s->e = gc_malloc((size_t)(2 * k + 1) * D * sizeof *s->e);
    by_index *sorted = gc_malloc((size_t)(k + 1) * sizeof *sorted);
    int64_t *fill = gc_calloc((size_t)groups, sizeof *fill);
    if (!s->group_set || !s->set_first || !s->set_size || !s->position || !s->e || !sorted || !fill) {
        free(sorted);
        free(fill);
        return gc_fail(GC_ERR_MEMORY, "out of memory in the assignment pass");
    }
    for (int64_t j = 0; j < k; ++j) s->set_size[per_class ? cs->label[j] : 0]++;
    for (int g = 0; g < groups; ++g) s->set_first[g + 1] = s->set_first[g] + s->set_size[g];
    for (int64_t j = 0; j < k; ++j) {
        const int g = per_class ? cs->label[j] : 0;
        sorted[s->set_first[g] + fill[g]++] = (by_index){ cs->index[j], j };
    }
    for (int g = 0; g < groups; ++g)
        qsort(sorted + s->set_first[g], (size_t)s->set_size[g], sizeof *sorted, compare_index);
    for (int64_t r = 0; r < k; ++r) s->position[r] = sorted[r].position;
    int64_t rows = k;
    for (int g = 0; g < groups; ++g) {
        s->group_set[g] = g;
        if (s->set_size[g] > 0) continue;
        s->set_first[g] = k;
        s->set_size[g] = k;
        rows = 2 * k;
    }
    s->group_set[groups] = groups;
    if (rows == 2 * k) {
        qsort(sorted, (size_t)k, sizeof *sorted, compare_index);
        for (int64_t r = 0; r < k; ++r) s->position[k + r] = sorted[r].position;
    }
    for (int64_t r = 0; r < rows; ++r)
        memcpy(s->e + r * D, cs->embedding + s->position[r] * D, (size_t)D * sizeof *s->e);
    s->sets = (gc_fl_sets){ .groups = groups,
                            .group_set = s->group_set,
                            .set_first = s->set_first,
                            .set_size = s->set_size,
                            .rows = rows,
                            .e = s->e };
    free(sorted);
    free(fill);
    return GC_OK;
}

int gc_assign_weights(gc_backend *backend, const gc_local_rows *rows, int per_class, gc_coreset *cs, double *pairs)
{
    const int G = per_class ? rows->classes : 1;
    const int64_t k = cs->k, n = rows->n_local;
    selected_sets s;
    memset(&s, 0, sizeof s);
    int64_t *counts = gc_calloc((size_t)k + 1, sizeof *counts);
    int64_t *nearest = gc_malloc((size_t)(n ? n : 1) * sizeof *nearest);
    double *dist = gc_malloc((size_t)(n ? n : 1) * sizeof *dist);
    int status = (counts && nearest && dist) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory in the assignment pass");
    if (status == GC_OK) status = selected_sets_make(cs, G, per_class, &s);
    if (status == GC_OK) {
        gc_progress progress; /* tens of seconds at a billion rows: say how far it is */
        gc_progress_begin(&progress, "select: assignment", "rows", n);
        status = gc_backend_fl_assign(backend, rows->e, n, rows->D, per_class ? rows->y : NULL, &s.sets, nearest, dist,
                                      &progress);
        gc_progress_end(&progress);
    }
    double sums[2] = { 0.0, 0.0 }, compared = 0.0;
    if (status == GC_OK) {
        const int64_t *size = s.set_size;
#pragma omp parallel for schedule(static) reduction(+ : compared)
        for (int64_t i = 0; i < n; ++i) {
            const int g = per_class ? rows->y[i] : 0;
            if (g >= 0 && g < G) compared += (double)size[g];
        }
    }
    *pairs = compared;
    for (int64_t i = 0; i < n && status == GC_OK; ++i) {
        if (nearest[i] < 0) continue; /* no element at all (k = 0) */
        counts[s.position[s.set_first[per_class ? rows->y[i] : 0] + nearest[i]]]++;
        sums[0] += cs->c - dist[i];
        sums[1] += dist[i];
    }
    selected_sets_destroy(&s);
    free(nearest);
    free(dist);
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

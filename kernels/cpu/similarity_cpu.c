#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "cpu_kernels.h"

static double *to_double(const float *x, int64_t rows, int D, double *norms)
{
    double *out = gc_malloc((size_t)rows * D * sizeof *out);
    if (out == NULL) return NULL;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows; ++i) {
        double s = 0.0;
        for (int j = 0; j < D; ++j) {
            out[i * D + j] = x[i * D + j];
            s += out[i * D + j] * out[i * D + j];
        }
        norms[i] = s;
    }
    return out;
}

int gc_cpu_similarity(const float *a, int64_t m, const float *b, int64_t n, int D, double c, double *out)
{
    double *na = gc_malloc((size_t)m * sizeof *na), *nb = gc_malloc((size_t)n * sizeof *nb);
    double *da = na ? to_double(a, m, D, na) : NULL, *db = nb ? to_double(b, n, D, nb) : NULL;
    int status = GC_OK;
    if (da == NULL || db == NULL) {
        status = gc_fail(GC_ERR_MEMORY, "out of memory for a %lld x %lld similarity block", (long long)m, (long long)n);
    } else {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, D, -2.0, da, D, db, D, 0.0, out, (int)n);
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
                double sq = out[i * n + j] + na[i] + nb[j];
                out[i * n + j] = c - sqrt(sq > 0.0 ? sq : 0.0);
            }
    }
    free(da);
    free(db);
    free(na);
    free(nb);
    return status;
}

/* The nearest of set rows b [n × D] to a [D]: its position (first of equals; -1 when n = 0) and
 * squared distance. Differences in double, squared and added in column order (this file is
 * compiled with -ffp-contract=off): the bits the CUDA twin reproduces. */
static int64_t nearest_of(const float *a, const float *b, int64_t n, int D, double *best_sq)
{
    int64_t best = -1;
    *best_sq = INFINITY;
    for (int64_t j = 0; j < n; ++j) {
        double sq = 0.0;
        for (int t = 0; t < D; ++t) {
            double diff = (double)a[t] - (double)b[j * D + t];
            sq += diff * diff;
        }
        if (sq < *best_sq) *best_sq = sq, best = j;
    }
    return best;
}

void gc_cpu_fl_assign(const float *e, int64_t rows, int D, const int32_t *group, const gc_fl_sets *sets,
                      int64_t *nearest, double *distance)
{
    const int64_t W = gc_fl_sets_width(sets);
#pragma omp parallel for schedule(dynamic, 256)
    for (int64_t i = 0; i < rows; ++i) {
        const int g = group != NULL ? group[i] : 0;
        const int known = g >= 0 && g < sets->groups;
        const int64_t first = known ? sets->group_set[g] : 0, count = known ? sets->group_set[g + 1] - first : 0;
        for (int64_t t = 0; t < W; ++t) {
            double sq = INFINITY;
            const int64_t s = first + t;
            nearest[i * W + t] =
                t < count ? nearest_of(e + i * D, sets->e + sets->set_first[s] * D, sets->set_size[s], D, &sq) : -1;
            distance[i * W + t] = sqrt(sq);
        }
    }
}

double gc_cpu_fl_radius(const float *e, int64_t rows, int D, const double *center)
{
    double radius = 0.0;
#pragma omp parallel for schedule(static) reduction(max : radius)
    for (int64_t i = 0; i < rows; ++i) {
        double sq = 0.0;
        for (int j = 0; j < D; ++j) {
            const double d = e[i * D + j] - center[j];
            sq += d * d;
        }
        if (sq > radius) radius = sq;
    }
    return radius;
}

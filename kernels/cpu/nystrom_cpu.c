#include "nystrom_cpu.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "core/error.h"

void gc_cpu_nystrom_features(const gc_nystrom_map *map, int64_t rows, const float *x, double *work, double *z)
{
    const int d = map->d, q = map->q;
    double *xd = work, *k = work + rows * d;
    for (int64_t t = 0; t < rows * d; ++t) xd[t] = x[t];
    /* k = −2 x Lᵀ, then the squared norms and the exponential row by row. */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, q, d, -2.0, xd, d, map->landmarks, d, 0.0, k, q);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows; ++i) {
        double xx = 0.0;
        for (int j = 0; j < d; ++j) xx += xd[i * d + j] * xd[i * d + j];
        for (int j = 0; j < q; ++j) {
            double sq = k[i * q + j] + xx + map->landmark_sq[j];
            k[i * q + j] = exp(-map->gamma * (sq > 0.0 ? sq : 0.0));
        }
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, map->rank, q, 1.0, k, q, map->projection,
                map->rank, 0.0, z, map->rank);
}

/* The CPU "device" is the caller's map and a workspace grown to the largest call. */
struct gc_nystrom_device {
    const gc_nystrom_map *map;
    double *work;
    int64_t work_rows;
};

int gc_cpu_nystrom_attach(gc_backend *b, const gc_nystrom_map *map, gc_nystrom_device **out)
{
    (void)b;
    *out = gc_calloc(1, sizeof **out);
    GC_CHECK_ALLOC(*out);
    (*out)->map = map;
    return GC_OK;
}

int gc_cpu_nystrom_features_op(gc_backend *b, gc_nystrom_device *dev, int64_t rows, const float *x, double *z)
{
    (void)b;
    const gc_nystrom_map *m = dev->map;
    const int64_t B = m->block;
    if (B > dev->work_rows) {
        free(dev->work);
        dev->work = gc_malloc((size_t)B * (m->d + m->q) * sizeof *dev->work);
        dev->work_rows = dev->work ? B : 0;
        if (dev->work == NULL)
            return gc_fail(GC_ERR_MEMORY, "out of memory for the Nyström features of %lld rows", (long long)B);
    }
    for (int64_t lo = 0; lo < rows; lo += B) gc_cpu_nystrom_features(m, B, x + lo * m->d, dev->work, z + lo * m->rank);
    return GC_OK;
}

void gc_cpu_nystrom_detach(gc_backend *b, gc_nystrom_device *dev)
{
    (void)b;
    if (dev == NULL) return;
    free(dev->work);
    free(dev);
}

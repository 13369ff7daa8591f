#include "quality.h"

#include <math.h>
#include <stdlib.h>

#include "core/comm.h"
#include "core/error.h"
#include "kernels/cpu/quality_cpu.h"

static double norm_of_difference(const double *a, const double *b, int D)
{
    double s = 0.0;
    for (int j = 0; j < D; ++j) s += (a[j] - b[j]) * (a[j] - b[j]);
    return sqrt(s);
}

static int has_quality_ops(const gc_backend *b) { return b != NULL && b->ops->quality_sums != NULL; }

int gc_exact_row_sums(gc_backend *backend, const gc_local_rows *rows, const gc_random_subsets *subsets, double *sums)
{
    const int D = rows->D, device = has_quality_ops(backend);
    double max_abs = 0.0;
    int status = GC_OK;
    if (device)
        status = backend->ops->quality_max_abs(backend, rows->e, rows->n_local, D, &max_abs);
    else
        max_abs = gc_cpu_quality_max_abs(rows->e, rows->n_local, D);
    status = gc_comm_agree(rows->comm, status);
    if (status != GC_OK) return status;
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &max_abs, 1, MPI_DOUBLE, MPI_MAX, rows->comm));
    gc_exact_sum total = { 0 };
    status = gc_exact_sum_create(&total, (1 + subsets->count) * D, max_abs);
    if (status == GC_OK)
        status = device ? backend->ops->quality_sums(backend, rows->e, rows->n_local, D, rows->lo, subsets, total.scale,
                                                     total.acc)
                        : gc_cpu_quality_sums(rows->e, rows->n_local, D, rows->lo, subsets, total.scale, total.acc);
    status = gc_comm_agree(rows->comm, status);
    if (status == GC_OK) status = gc_exact_sum_allreduce(&total, rows->comm, sums);
    gc_exact_sum_destroy(&total);
    return status;
}

int gc_gradient_errors(gc_backend *backend, const gc_local_rows *rows, const gc_coreset *cs, uint64_t seed,
                       double *coreset_error, double *random_error_mean)
{
    const int D = rows->D, S = GC_RANDOM_BASELINE_SEEDS;
    const int64_t N = rows->n_global, k = cs->k;
    const gc_random_subsets subsets = { .count = S, .n_global = N, .size = k, .seed = seed };
    double *sums = gc_calloc((size_t)(1 + S) * D, sizeof *sums), *approx = gc_calloc((size_t)D, sizeof *approx);
    int status = gc_comm_agree(
        rows->comm, sums && approx ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for the quality metrics"));
    if (status == GC_OK) status = gc_exact_row_sums(backend, rows, &subsets, sums);
    if (status == GC_OK) {
        for (int64_t t = 0; t < k; ++t)
            for (int j = 0; j < D; ++j) approx[j] += cs->weight[t] * cs->embedding[t * D + j];
        double zero_norm = 0.0;
        for (int j = 0; j < D; ++j) zero_norm += sums[j] * sums[j];
        zero_norm = sqrt(zero_norm);
        if (zero_norm == 0.0) zero_norm = 1.0; /* a zero full gradient: report absolute errors */
        *coreset_error = norm_of_difference(sums, approx, D) / zero_norm;
        double mean = 0.0;
        for (int s = 0; s < S; ++s) {
            double *r = sums + (size_t)(1 + s) * D;
            for (int j = 0; j < D; ++j) r[j] *= (double)N / (double)k;
            mean += norm_of_difference(sums, r, D) / zero_norm;
        }
        *random_error_mean = mean / S;
    }
    free(sums);
    free(approx);
    return status;
}

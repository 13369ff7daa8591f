#include "quality.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/rng.h"

static double norm_of_difference(const double *a, const double *b, int D)
{
    double s = 0.0;
    for (int j = 0; j < D; ++j) s += (a[j] - b[j]) * (a[j] - b[j]);
    return sqrt(s);
}

int gc_gradient_errors(const gc_local_rows *rows, const gc_coreset *cs, uint64_t seed, double *coreset_error,
                       double *random_error_mean)
{
    const int D = rows->D, S = GC_RANDOM_BASELINE_SEEDS;
    const int64_t N = rows->n_global, k = cs->k;
    /* One buffer: the full sum, then the random-subset sums, reduced in one call. */
    double *sums = gc_calloc((size_t)(1 + S) * D, sizeof *sums), *approx = gc_calloc((size_t)D, sizeof *approx);
    if (sums == NULL || approx == NULL) {
        free(sums);
        free(approx);
        return gc_fail(GC_ERR_MEMORY, "out of memory for the quality metrics");
    }
    for (int64_t i = 0; i < rows->n_local; ++i) {
        const float *e = rows->e + i * D;
        for (int j = 0; j < D; ++j) sums[j] += e[j];
        for (int s = 0; s < S; ++s) {
            /* Row i is in subset s iff its position in a seeded permutation of [0, N) is < k. */
            uint64_t pos = gc_permute_inverse((uint64_t)(rows->lo + i), (uint64_t)N, seed + 1 + (uint64_t)s,
                                              GC_STREAM_RANDOM_SUBSET);
            if ((int64_t)pos < k)
                for (int j = 0; j < D; ++j) sums[(size_t)(1 + s) * D + j] += e[j];
        }
    }
    int rc = GC_MPI(MPI_Allreduce(MPI_IN_PLACE, sums, (1 + S) * D, MPI_DOUBLE, MPI_SUM, rows->comm));
    if (rc == MPI_SUCCESS) {
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
    GC_CHECK_MPI(rc);
    return GC_OK;
}

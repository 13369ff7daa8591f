#include "omp_cpu.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "core/error.h"

/* cblas takes int dimensions: longer shards go through in pieces of this many rows. */
#define SGEMV_MAX_ROWS ((int64_t)1 << 26)

static double score_row(const float *e, int D, const double *r, double w, int signed_scores)
{
    /* A plain loop on purpose: its summation order is fixed, which a BLAS dot does not promise. */
    double dot = 0.0;
    for (int j = 0; j < D; ++j) dot += (double)e[j] * r[j];
    return w * (signed_scores ? dot : fabs(dot));
}

void gc_cpu_omp_scores(const float *e, int64_t rows, int D, const double *r, const double *w, int signed_scores,
                       double *scores)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows; ++i)
        scores[i] = w[i] > 0.0 ? score_row(e + i * D, D, r, w[i], signed_scores) : -INFINITY;
}

static int by_pair_order(const void *a, const void *b)
{
    const gc_omp_pair *x = a, *y = b;
    return gc_omp_pair_before(*x, *y) ? -1 : gc_omp_pair_before(*y, *x) ? 1 : 0;
}

static double float_score(float dot, double w, int signed_scores)
{
    return w * (signed_scores ? (double)dot : fabs((double)dot));
}

int gc_cpu_omp_best(const float *e, int64_t rows, int D, const double *r, const double *w, int signed_scores, int count,
                    float *work, gc_omp_pair *best)
{
    for (int t = 0; t < count; ++t) best[t] = GC_OMP_NONE;
    float *rf = gc_malloc((size_t)D * sizeof *rf);
    double *top = gc_malloc((size_t)count * sizeof *top);
    if (rf == NULL || top == NULL) {
        free(rf);
        free(top);
        return gc_fail(GC_ERR_MEMORY, "out of memory for OMP scoring");
    }
    double r_norm = 0.0;
    for (int j = 0; j < D; ++j) {
        rf[j] = (float)r[j];
        r_norm += r[j] * r[j];
    }
    r_norm = sqrt(r_norm);
    for (int64_t lo = 0; lo < rows; lo += SGEMV_MAX_ROWS) {
        int64_t n = rows - lo < SGEMV_MAX_ROWS ? rows - lo : SGEMV_MAX_ROWS;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, D, 1.0f, e + lo * D, D, rf, 1, 0.0f, work + lo, 1);
    }
    free(rf);
    /* Any summation order gives |fl(⟨e,r̃⟩) − ⟨e,r⟩| ≤ γ·‖e‖‖r‖ with γ = ν/(1−ν), ν = (D+2)·2⁻²⁴
     * (D terms, plus rounding r to float), so with w = 1/‖e‖ every float score is within
     * δ = γ‖r‖ of the true one. A row among the true best `count` then scores at least the
     * count-th best float score − 2δ; no other row needs the double pass. */
    double nu = (D + 2) * ldexp(1.0, -24);
    double delta = nu < 0.5 ? nu / (1.0 - nu) * r_norm : INFINITY;
    int filled = 0;
    for (int64_t i = 0; i < rows; ++i) {
        if (w[i] <= 0.0) continue;
        double s = float_score(work[i], w[i], signed_scores);
        if (filled == count && s <= top[count - 1]) continue;
        int p = filled < count ? filled++ : count - 1;
        for (; p > 0 && top[p - 1] < s; --p) top[p] = top[p - 1];
        top[p] = s;
    }
    double threshold = filled == count ? top[count - 1] - 2.0 * delta : -INFINITY;
    free(top);
    int64_t candidates = 0;
    for (int64_t i = 0; i < rows; ++i)
        candidates += w[i] > 0.0 && float_score(work[i], w[i], signed_scores) >= threshold;
    gc_omp_pair *pairs = gc_malloc((size_t)(candidates ? candidates : 1) * sizeof *pairs);
    GC_CHECK_ALLOC(pairs);
    int64_t m = 0;
    for (int64_t i = 0; i < rows; ++i)
        if (w[i] > 0.0 && float_score(work[i], w[i], signed_scores) >= threshold)
            pairs[m++] = (gc_omp_pair){ score_row(e + i * D, D, r, w[i], signed_scores), i };
    qsort(pairs, (size_t)m, sizeof *pairs, by_pair_order);
    for (int t = 0; t < count && t < m; ++t) best[t] = pairs[t];
    free(pairs);
    return GC_OK;
}

#include "logreg.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int gc_logreg_create(gc_logreg *m, int d, int classes)
{
    memset(m, 0, sizeof *m);
    m->d = d;
    m->classes = classes;
    m->W = gc_calloc((size_t)classes * (size_t)d, sizeof *m->W);
    m->b = gc_calloc((size_t)classes, sizeof *m->b);
    m->scratch = gc_calloc((size_t)classes, sizeof *m->scratch);
    if (m->W == NULL || m->b == NULL || m->scratch == NULL) {
        gc_logreg_destroy(m);
        return gc_fail(GC_ERR_MEMORY, "out of memory for a %d × %d logistic regression", classes, d);
    }
    return GC_OK;
}

void gc_logreg_reset(gc_logreg *m)
{
    memset(m->W, 0, (size_t)m->classes * (size_t)m->d * sizeof *m->W);
    memset(m->b, 0, (size_t)m->classes * sizeof *m->b);
}

void gc_logreg_destroy(gc_logreg *m)
{
    free(m->W);
    free(m->b);
    free(m->scratch);
    memset(m, 0, sizeof *m);
}

/* z ← softmax(z) − onehot(label), in double so a large logit gap cannot overflow. */
static void softmax_minus_onehot(float *z, int classes, int label)
{
    float max = z[0];
    for (int c = 1; c < classes; ++c) max = z[c] > max ? z[c] : max;
    double total = 0.0;
    for (int c = 0; c < classes; ++c) total += exp((double)z[c] - max);
    for (int c = 0; c < classes; ++c) z[c] = (float)(exp((double)z[c] - max) / total);
    z[label] -= 1.0f;
}

void gc_logreg_sgd_pass(gc_logreg *m, const float *X, const int32_t *y, const int64_t *rows, const double *weight,
                        int64_t count, double step, double l2)
{
    const int d = m->d, C = m->classes;
    float *g = m->scratch;
    for (int64_t t = 0; t < count; ++t) {
        const float *x = X + rows[t] * d;
        memcpy(g, m->b, (size_t)C * sizeof *g);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, C, d, 1.0f, m->W, d, x, 1, 1.0f, g, 1);
        softmax_minus_onehot(g, C, y[rows[t]]);
        const double s = step * (weight ? weight[t] : 1.0);
        if (l2 > 0.0) cblas_sscal(C * d, (float)(1.0 - s * l2), m->W, 1);
        cblas_sger(CblasRowMajor, C, d, (float)-s, g, 1, x, 1, m->W, d);
        cblas_saxpy(C, (float)-s, g, 1, m->b, 1);
    }
}

int gc_logreg_is_finite(const gc_logreg *m)
{
    for (int64_t i = 0; i < (int64_t)m->classes * m->d; ++i)
        if (!isfinite(m->W[i])) return 0;
    for (int c = 0; c < m->classes; ++c)
        if (!isfinite(m->b[c])) return 0;
    return 1;
}

int gc_logreg_accuracy(const gc_logreg *m, const float *X, const int32_t *y, int64_t n, double *accuracy)
{
    enum { BLOCK = 4096 }; /* rows per GEMM: bounds the logits buffer for any n */
    const int d = m->d, C = m->classes;
    float *z = gc_malloc((size_t)BLOCK * (size_t)C * sizeof *z);
    GC_CHECK_ALLOC(z);
    int64_t correct = 0;
    for (int64_t lo = 0; lo < n; lo += BLOCK) {
        const int rows = (int)(n - lo < BLOCK ? n - lo : BLOCK);
        for (int r = 0; r < rows; ++r) memcpy(z + (size_t)r * C, m->b, (size_t)C * sizeof *z);
        /* Z = X_block · Wᵀ + 1·bᵀ */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, C, d, 1.0f, X + lo * d, d, m->W, d, 1.0f, z, C);
        for (int r = 0; r < rows; ++r) {
            const float *zr = z + (size_t)r * C;
            int best = 0;
            for (int c = 1; c < C; ++c) best = zr[c] > zr[best] ? c : best;
            correct += best == y[lo + r];
        }
    }
    free(z);
    *accuracy = n > 0 ? (double)correct / (double)n : 0.0;
    return GC_OK;
}

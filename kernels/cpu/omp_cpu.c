#include "omp_cpu.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/exact_split.h"
#include "kernels/omp_prescreen.h"

static int problem_of(const int32_t *problem, int64_t i) { return problem != NULL ? problem[i] : 0; }

double gc_cpu_omp_weights(const float *e, int64_t rows, int D, double *w)
{
    float max_abs = 0.0f;
#pragma omp parallel for reduction(max : max_abs) schedule(static)
    for (int64_t i = 0; i < rows; ++i) {
        /* A plain loop on purpose: the CUDA twin sums in this same order, so the weights agree bit
         * for bit (each square of a float is exact in double). */
        double sq = 0.0;
        for (int j = 0; j < D; ++j) {
            const float a = fabsf(e[i * D + j]);
            sq += (double)a * a;
            max_abs = a > max_abs ? a : max_abs; /* not fmaxf, a call per value (the rows hold no NaN) */
        }
        w[i] = sq > 0.0 ? 1.0 / sqrt(sq) : 0.0;
    }
    return max_abs;
}

int gc_cpu_omp_targets(const float *e, int64_t rows, int D, const int32_t *problem, int problems, double scale,
                       int64_t *acc)
{
    const size_t n = (size_t)problems * D;
    const int T = omp_get_max_threads();
    int64_t *parts = gc_calloc((size_t)T * 2 * n, sizeof *parts); /* [thread][whole parts | fractions] */
    if (parts == NULL) return gc_fail(GC_ERR_MEMORY, "out of memory for the sums of %d OMP problems", problems);
#pragma omp parallel
    {
        int64_t *mine = parts + (size_t)omp_get_thread_num() * 2 * n;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < rows; ++i) {
            const size_t first = (size_t)problem_of(problem, i) * D;
            for (int j = 0; j < D; ++j) {
                int64_t whole, fraction;
                gc_exact_split(e[i * D + j], scale, &whole, &fraction);
                mine[first + j] += whole;
                mine[n + first + j] += fraction;
            }
        }
    }
    for (int t = 0; t < T; ++t)
        for (size_t c = 0; c < 2 * n; ++c) acc[c] += parts[(size_t)t * 2 * n + c];
    free(parts);
    return GC_OK;
}

static double score_row(const float *e, int D, const double *r, double w, int signed_scores)
{
    /* A plain loop on purpose: its summation order is fixed, which a BLAS dot does not promise. */
    double dot = 0.0;
    for (int j = 0; j < D; ++j) dot += (double)e[j] * r[j];
    return w * (signed_scores ? dot : fabs(dot));
}

void gc_cpu_omp_scores(const float *e, int64_t rows, int D, const int32_t *problem, const double *r, const double *w,
                       int signed_scores, double *scores)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows; ++i)
        scores[i] = w[i] > 0.0 ? score_row(e + i * D, D, r + (size_t)problem_of(problem, i) * D, w[i], signed_scores)
                               : -INFINITY;
}

/* A candidate of the double pass: its pair and its problem. */
typedef struct {
    gc_omp_pair pair;
    int problem;
} candidate;

static int by_problem_then_pair_order(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->problem != y->problem) return x->problem < y->problem ? -1 : 1;
    return gc_omp_pair_before(x->pair, y->pair) ? -1 : gc_omp_pair_before(y->pair, x->pair) ? 1 : 0;
}

/* A row's float score (kernels/omp_prescreen.h). */
static double float_score(float dot, double w, int signed_scores, const gc_omp_prescreen *p)
{
    return w * (signed_scores ? (double)dot : fabs((double)dot)) * p->unscale;
}

static float float_dot(const float *e, const float *r, int D)
{
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int j = 0; j < D; ++j) dot += e[j] * r[j];
    return dot;
}

/* Whether row i (weight w > 0, float dot dot) of a problem with prescreen p and threshold t (the
 * want-th largest lower bound) needs the double pass: its prescreen is off, its float score is not
 * finite, or its upper bound reaches t. */
static int rescored(float dot, double w, int signed_scores, const gc_omp_prescreen *p, double t)
{
    const double s = float_score(dot, w, signed_scores, p);
    return p->scale == 0.0 || !isfinite(s) || s + p->error + p->error_per_weight * w >= t;
}

/* The float residuals rf [G × D] = fl32(r·scale) and each problem's prescreen. */
static void float_residuals(const double *r, int problems, int D, const int *want, float *rf, gc_omp_prescreen *screen)
{
    for (int g = 0; g < problems; ++g) {
        if (want[g] <= 0) continue;
        screen[g] = gc_omp_prescreen_of(r + (size_t)g * D, D);
        for (int j = 0; j < D; ++j) rf[(size_t)g * D + j] = (float)(r[(size_t)g * D + j] * screen[g].scale);
    }
}

int gc_cpu_omp_best(const float *e, int64_t rows, int D, const int32_t *problem, int problems, const double *r,
                    const double *w, int signed_scores, const int *want, int stride, float *work, gc_omp_pair *best)
{
    for (size_t t = 0; t < (size_t)problems * stride; ++t) best[t] = GC_OMP_NONE;
    float *rf = gc_malloc((size_t)problems * D * sizeof *rf);
    gc_omp_prescreen *screen = gc_calloc((size_t)problems, sizeof *screen);
    double *top = gc_malloc((size_t)problems * stride * sizeof *top);
    double *threshold = gc_malloc((size_t)problems * sizeof *threshold);
    int *filled = gc_calloc((size_t)problems, sizeof *filled);
    if (rf == NULL || screen == NULL || top == NULL || threshold == NULL || filled == NULL) {
        free(rf);
        free(screen);
        free(top);
        free(threshold);
        free(filled);
        return gc_fail(GC_ERR_MEMORY, "out of memory for OMP scoring");
    }
    float_residuals(r, problems, D, want, rf, screen);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows; ++i) {
        const int g = problem_of(problem, i);
        if (w[i] > 0.0 && want[g] > 0) work[i] = float_dot(e + i * D, rf + (size_t)g * D, D);
    }
    free(rf);
    /* Each problem's want[g]-th largest lower bound of a score: that many rows score at least it,
     * so a row whose upper bound stays below it is not among the best and skips the double pass. */
    for (int64_t i = 0; i < rows; ++i) {
        const int g = problem_of(problem, i), count = want[g];
        if (w[i] <= 0.0 || count <= 0) continue;
        const double s = float_score(work[i], w[i], signed_scores, &screen[g]);
        if (!isfinite(s)) continue;
        double low = s - screen[g].error - screen[g].error_per_weight * w[i], *list = top + (size_t)g * stride;
        if (filled[g] == count && low <= list[count - 1]) continue;
        int p = filled[g] < count ? filled[g]++ : count - 1;
        for (; p > 0 && list[p - 1] < low; --p) list[p] = list[p - 1];
        list[p] = low;
    }
    for (int g = 0; g < problems; ++g)
        threshold[g] = want[g] > 0 && filled[g] == want[g] ? top[(size_t)g * stride + want[g] - 1] : -INFINITY;
    free(top);
    free(filled);
    int64_t candidates = 0;
    for (int64_t i = 0; i < rows; ++i) {
        const int g = problem_of(problem, i);
        candidates += w[i] > 0.0 && want[g] > 0 && rescored(work[i], w[i], signed_scores, &screen[g], threshold[g]);
    }
    candidate *pairs = gc_malloc((size_t)(candidates ? candidates : 1) * sizeof *pairs);
    if (pairs == NULL) {
        free(screen);
        free(threshold);
        return gc_fail(GC_ERR_MEMORY, "out of memory for %lld OMP candidates", (long long)candidates);
    }
    int64_t m = 0;
    for (int64_t i = 0; i < rows; ++i) {
        const int g = problem_of(problem, i);
        if (w[i] > 0.0 && want[g] > 0 && rescored(work[i], w[i], signed_scores, &screen[g], threshold[g]))
            pairs[m++] = (candidate){ { score_row(e + i * D, D, r + (size_t)g * D, w[i], signed_scores), i }, g };
    }
    free(screen);
    free(threshold);
    qsort(pairs, (size_t)m, sizeof *pairs, by_problem_then_pair_order);
    for (int64_t c = 0, t = 0; c < m; ++c) {
        t = c > 0 && pairs[c].problem == pairs[c - 1].problem ? t + 1 : 0;
        if (t < want[pairs[c].problem]) best[(size_t)pairs[c].problem * stride + t] = pairs[c].pair;
    }
    free(pairs);
    return GC_OK;
}

/* The CPU OMP scorer's best candidates (one float sgemv pass, then double rescoring of the rows its
 * rounding bound cannot rule out) equal a full ranking of every row scored in long double here:
 * the same rows in the same order, ties to the lower row, on rows built to be near-ties below
 * float resolution, with signed and absolute scores, excluded rows and lists of several candidates. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "kernels/cpu/omp_cpu.h"

typedef struct {
    long double score;
    int64_t index;
} ranked;

static int by_rank(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static double uniform(void) { return (double)rand() / RAND_MAX - 0.5; }

static void best_equals_full_ranking(int64_t n, int D, int signed_scores, int count, unsigned seed)
{
    srand(seed);
    float *e = malloc((size_t)n * D * sizeof *e), *work = malloc((size_t)n * sizeof *work);
    double *w = malloc((size_t)n * sizeof *w), *r = malloc((size_t)D * sizeof *r);
    ranked *all = malloc((size_t)n * sizeof *all);
    gc_omp_pair best[8];
    double *q = malloc((size_t)D * sizeof *q), r_norm = 0.0, q_norm = 0.0, rq = 0.0;
    for (int j = 0; j < D; ++j) r[j] = uniform(), q[j] = uniform();
    for (int j = 0; j < D; ++j) r_norm += r[j] * r[j], rq += r[j] * q[j];
    r_norm = sqrt(r_norm);
    for (int j = 0; j < D; ++j) q[j] -= rq / (r_norm * r_norm) * r[j], q_norm += q[j] * q[j];
    for (int j = 0; j < D; ++j) q[j] /= sqrt(q_norm); /* unit vector orthogonal to r */
    for (int64_t i = 0; i < n; ++i) {
        /* Every other row is at an angle 0.3 + 1e-7·u from r, so the best scores lie within
         * ~3e-8 of each other: apart by far more than double rounding, closer than a float dot
         * resolves, so the float pass alone would misorder them. Every 7th row copies the one
         * before it (exact ties). */
        double angle = 0.3 + 1e-7 * uniform();
        for (int j = 0; j < D; ++j)
            e[i * D + j] = i % 7 == 6 ? e[(i - 1) * D + j]
                           : i % 2    ? (float)(cos(angle) * r[j] / r_norm + sin(angle) * q[j])
                                      : (float)uniform();
        long double sq = 0.0L, dot = 0.0L;
        for (int j = 0; j < D; ++j) {
            sq += (long double)e[i * D + j] * e[i * D + j];
            dot += (long double)e[i * D + j] * r[j];
        }
        w[i] = i % 11 == 5 ? 0.0 : 1.0 / sqrt((double)sq);
        all[i] = (ranked){ w[i] > 0.0 ? w[i] * (signed_scores ? dot : fabsl(dot)) : -INFINITY, i };
    }
    qsort(all, (size_t)n, sizeof *all, by_rank);
    CHECK(gc_cpu_omp_best(e, n, D, r, w, signed_scores, count, work, best) == 0);
    for (int t = 0; t < count; ++t) {
        int64_t want = t < n && all[t].score > -INFINITY ? all[t].index : INT64_MAX;
        if (best[t].index != want)
            fprintf(stderr, "n=%lld D=%d signed=%d: candidate %d is %lld, want %lld\n", (long long)n, D, signed_scores,
                    t, (long long)best[t].index, (long long)want);
        CHECK(best[t].index == want);
    }
    free(e);
    free(work);
    free(w);
    free(r);
    free(q);
    free(all);
}

int main(void)
{
    for (unsigned seed = 1; seed <= 5; ++seed)
        for (int signed_scores = 0; signed_scores <= 1; ++signed_scores) {
            best_equals_full_ranking(3000, 48, signed_scores, 1, seed);
            best_equals_full_ranking(3000, 7, signed_scores, 5, seed);
            best_equals_full_ranking(4, 16, signed_scores, 8, seed); /* fewer eligible rows than asked */
        }
    TEST_MAIN_END();
}

/* The CPU OMP scorer's best candidates (one float pass, then double rescoring of the rows its
 * rounding bound cannot rule out) equal a full ranking of every row scored in long double here:
 * the same rows in the same order, ties to the lower row, on rows built to be near-ties below
 * float resolution, with signed and absolute scores, excluded rows and lists of several candidates;
 * with several problems in one pass, each problem's list equals the ranking of its own rows against
 * its own residual, problems that want nothing get empty lists, and every list is the one a pass
 * over that problem's rows alone gives. The weights are 1/‖e‖ and the exact targets equal long
 * double sums of each problem's rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/exact_split.h"
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

/* G problems' residuals r [G × D] and rows e [n × D] of problem problem[i] (NULL: all 0): every
 * other row is at an angle 0.3 + 1e-7·u from its problem's residual, so the best scores lie within
 * ~3e-8 of each other: apart by far more than double rounding, closer than a float dot resolves, so
 * the float pass alone would misorder them. Every 7th row copies the one before it (exact ties,
 * when both belong to one problem); every 11th is excluded (w = 0). */
static void near_ties(int64_t n, int D, int G, const int32_t *problem, float *e, double *w, double *r)
{
    double *q = malloc((size_t)G * D * sizeof *q), *r_norm = calloc((size_t)G, sizeof *r_norm);
    for (int g = 0; g < G; ++g) {
        double *rg = r + (size_t)g * D, *qg = q + (size_t)g * D, rq = 0.0, q_norm = 0.0;
        for (int j = 0; j < D; ++j) rg[j] = uniform(), qg[j] = uniform();
        for (int j = 0; j < D; ++j) r_norm[g] += rg[j] * rg[j], rq += rg[j] * qg[j];
        r_norm[g] = sqrt(r_norm[g]);
        for (int j = 0; j < D; ++j) qg[j] -= rq / (r_norm[g] * r_norm[g]) * rg[j], q_norm += qg[j] * qg[j];
        for (int j = 0; j < D; ++j) qg[j] /= sqrt(q_norm); /* unit vector orthogonal to r_g */
    }
    for (int64_t i = 0; i < n; ++i) {
        const int g = problem ? problem[i] : 0;
        const double angle = 0.3 + 1e-7 * uniform(), *rg = r + (size_t)g * D, *qg = q + (size_t)g * D;
        long double sq = 0.0L;
        for (int j = 0; j < D; ++j) {
            e[i * D + j] = i % 7 == 6 ? e[(i - 1) * D + j]
                           : i % 2    ? (float)(cos(angle) * rg[j] / r_norm[g] + sin(angle) * qg[j])
                                      : (float)uniform();
            sq += (long double)e[i * D + j] * e[i * D + j];
        }
        w[i] = i % 11 == 5 ? 0.0 : 1.0 / sqrt((double)sq);
    }
    free(q);
    free(r_norm);
}

/* Problem g's list best[g·stride …] equals the long-double ranking of its eligible rows. */
static void check_ranking(const float *e, int64_t n, int D, const int32_t *problem, int g, const double *r,
                          const double *w, int signed_scores, int want, const gc_omp_pair *list, const char *what)
{
    ranked *all = malloc((size_t)(n ? n : 1) * sizeof *all);
    int64_t m = 0;
    for (int64_t i = 0; i < n; ++i) {
        if ((problem ? problem[i] : 0) != g) continue;
        long double dot = 0.0L;
        for (int j = 0; j < D; ++j) dot += (long double)e[i * D + j] * r[(size_t)g * D + j];
        all[m++] = (ranked){ w[i] > 0.0 ? w[i] * (signed_scores ? dot : fabsl(dot)) : -INFINITY, i };
    }
    qsort(all, (size_t)m, sizeof *all, by_rank);
    for (int t = 0; t < want; ++t) {
        int64_t expected = t < m && all[t].score > -INFINITY ? all[t].index : INT64_MAX;
        if (list[t].index != expected)
            fprintf(stderr, "%s: problem %d candidate %d is %lld, want %lld\n", what, g, t, (long long)list[t].index,
                    (long long)expected);
        CHECK(list[t].index == expected);
    }
    free(all);
}

/* Near ties against the long-double ranking. With `extreme`, rows of float's extreme magnitudes
 * among them: every 5th scaled by 2¹²⁶ (its float prescreen overflows, so it must be rescored
 * rather than set the bar) and every 9th by 2⁻¹⁴⁰ (its values subnormal, so the prescreen's
 * underflow term must hold). */
static void best_equals_full_ranking(int64_t n, int D, int signed_scores, int count, unsigned seed, int extreme)
{
    srand(seed);
    float *e = malloc((size_t)n * D * sizeof *e), *work = malloc((size_t)n * sizeof *work);
    double *w = malloc((size_t)n * sizeof *w), *r = malloc((size_t)D * sizeof *r);
    gc_omp_pair best[8];
    near_ties(n, D, 1, NULL, e, w, r);
    for (int64_t i = 0; i < n && extreme; ++i) {
        const float scale = i % 5 == 3 ? 0x1p126f : i % 9 == 2 ? 0x1p-140f : 1.0f;
        long double sq = 0.0L;
        for (int j = 0; j < D; ++j) {
            e[i * D + j] *= scale;
            sq += (long double)e[i * D + j] * e[i * D + j];
        }
        if (w[i] > 0.0) w[i] = sq > 0.0L ? (double)(1.0L / sqrtl(sq)) : 0.0;
    }
    CHECK(gc_cpu_omp_best(e, n, D, NULL, 1, r, w, signed_scores, &count, count, work, best) == 0);
    char what[80];
    snprintf(what, sizeof what, "%sn=%lld D=%d signed=%d", extreme ? "extreme magnitudes " : "", (long long)n, D,
             signed_scores);
    check_ranking(e, n, D, NULL, 0, r, w, signed_scores, count, best, what);
    free(e);
    free(work);
    free(w);
    free(r);
}

/* G problems in one pass: each list is its problem's own ranking, a problem that wants nothing gets
 * an empty list, and each list equals the pass over that problem's rows alone. */
static void problems_are_scored_alike_together_and_alone(int64_t n, int D, int G, int signed_scores, unsigned seed)
{
    enum { STRIDE = 6 };
    srand(seed);
    float *e = malloc((size_t)n * D * sizeof *e), *work = malloc((size_t)n * sizeof *work);
    float *alone_e = malloc((size_t)n * D * sizeof *alone_e);
    double *w = malloc((size_t)n * sizeof *w), *r = malloc((size_t)G * D * sizeof *r);
    double *alone_w = malloc((size_t)n * sizeof *alone_w);
    int32_t *problem = malloc((size_t)n * sizeof *problem);
    int64_t *alone_row = malloc((size_t)n * sizeof *alone_row);
    int *want = malloc((size_t)G * sizeof *want);
    gc_omp_pair *best = malloc((size_t)G * STRIDE * sizeof *best), alone[STRIDE];
    for (int64_t i = 0; i < n; ++i) problem[i] = (int32_t)((i / 3 * 5 + i % 3) % G); /* runs of 3, interleaved */
    for (int g = 0; g < G; ++g) want[g] = g % 4 == 2 ? 0 : 1 + g % STRIDE;
    near_ties(n, D, G, problem, e, w, r);
    CHECK(gc_cpu_omp_best(e, n, D, problem, G, r, w, signed_scores, want, STRIDE, work, best) == 0);
    char what[96];
    for (int g = 0; g < G; ++g) {
        snprintf(what, sizeof what, "n=%lld D=%d G=%d signed=%d", (long long)n, D, G, signed_scores);
        const gc_omp_pair *list = best + (size_t)g * STRIDE;
        check_ranking(e, n, D, problem, g, r, w, signed_scores, want[g], list, what);
        for (int t = want[g]; t < STRIDE; ++t) CHECK(list[t].index == INT64_MAX);
        int64_t m = 0;
        for (int64_t i = 0; i < n; ++i)
            if (problem[i] == g) {
                memcpy(alone_e + m * D, e + i * D, (size_t)D * sizeof *e);
                alone_w[m] = w[i];
                alone_row[m++] = i;
            }
        int one = want[g];
        CHECK(gc_cpu_omp_best(alone_e, m, D, NULL, 1, r + (size_t)g * D, alone_w, signed_scores, &one, STRIDE, work,
                              alone) == 0);
        for (int t = 0; t < want[g]; ++t) {
            CHECK((alone[t].index == INT64_MAX ? INT64_MAX : alone_row[alone[t].index]) == list[t].index);
            if (list[t].index != INT64_MAX) CHECK(alone[t].score == list[t].score);
        }
    }
    free(e);
    free(work);
    free(alone_e);
    free(w);
    free(r);
    free(alone_w);
    free(problem);
    free(alone_row);
    free(want);
    free(best);
}

/* Weights 1/‖e‖ and the largest |e_ij|; exact targets equal long double sums per problem. */
static void weights_and_targets(int64_t n, int D, int G, unsigned seed)
{
    srand(seed);
    float *e = malloc((size_t)n * D * sizeof *e);
    double *w = malloc((size_t)n * sizeof *w), *targets = malloc((size_t)G * D * sizeof *targets);
    int32_t *problem = malloc((size_t)n * sizeof *problem);
    int64_t *acc = calloc((size_t)2 * G * D, sizeof *acc);
    long double *expected = calloc((size_t)G * D, sizeof *expected);
    float largest = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
        problem[i] = (int32_t)(rand() % G);
        for (int j = 0; j < D; ++j) {
            e[i * D + j] = i % 13 == 4 ? 0.0f : (float)(100.0 * uniform());
            largest = fmaxf(largest, fabsf(e[i * D + j]));
            expected[(size_t)problem[i] * D + j] += e[i * D + j];
        }
    }
    CHECK(gc_cpu_omp_weights(e, n, D, w) == largest);
    for (int64_t i = 0; i < n; ++i) {
        long double sq = 0.0L;
        for (int j = 0; j < D; ++j) sq += (long double)e[i * D + j] * e[i * D + j];
        if (sq == 0.0L)
            CHECK(w[i] == 0.0);
        else
            CHECK_NEAR(w[i], 1.0 / sqrtl(sq), 1e-15);
    }
    int exponent;
    frexp(largest, &exponent);
    const double scale = ldexp(1.0, 32 - exponent); /* gc_exact_sum's grid for this maximum */
    CHECK(gc_cpu_omp_targets(e, n, D, problem, G, scale, acc) == 0);
    for (int c = 0; c < G * D; ++c) {
        targets[c] = ((double)acc[c] + (double)acc[(size_t)G * D + c] / 1073741824.0) / scale;
        CHECK_NEAR(targets[c], (double)expected[c], 1e-12);
    }
    free(e);
    free(w);
    free(targets);
    free(problem);
    free(acc);
    free(expected);
}

int main(void)
{
    for (unsigned seed = 1; seed <= 5; ++seed)
        for (int signed_scores = 0; signed_scores <= 1; ++signed_scores) {
            best_equals_full_ranking(3000, 48, signed_scores, 1, seed, 0);
            best_equals_full_ranking(3000, 7, signed_scores, 5, seed, 0);
            best_equals_full_ranking(4, 16, signed_scores, 8, seed, 0); /* fewer eligible rows than asked */
            best_equals_full_ranking(3000, 128, signed_scores, 1, seed, 1);
            best_equals_full_ranking(3000, 37, signed_scores, 5, seed, 1);
            problems_are_scored_alike_together_and_alone(4000, 24, 7, signed_scores, seed);
            problems_are_scored_alike_together_and_alone(9, 5, 4, signed_scores, seed); /* nearly empty problems */
        }
    weights_and_targets(5000, 9, 6, 11);
    TEST_MAIN_END();
}

/* Lazy greedy equals plain greedy (every gain recomputed every step) on random weighted problems,
 * including exact ties from duplicated rows, and its coverage weights sum to the total weight; and
 * gc_backend_fl_greedy_many on the CPU gives each problem exactly what one gc_fl_greedy_cpu call
 * gives it. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "kernels/backend.h"
#include "kernels/cpu/greedy_fl_cpu.h"

/* Plain greedy straight from the definition, with exact differences (no GEMM). */
static void plain_greedy(const float *e, const double *w, int m, int D, double c, int kappa, int64_t *sel,
                         double *gains)
{
    double *cur = calloc((size_t)m, sizeof *cur);
    char *taken = calloc((size_t)m, 1);
    for (int step = 0; step < kappa; ++step) {
        int best = -1;
        double best_gain = -1.0;
        for (int j = 0; j < m; ++j) {
            if (taken[j]) continue;
            double g = 0.0;
            for (int i = 0; i < m; ++i) {
                double sq = 0.0;
                for (int t = 0; t < D; ++t)
                    sq += ((double)e[i * D + t] - e[j * D + t]) * ((double)e[i * D + t] - e[j * D + t]);
                double s = c - sqrt(sq);
                if (s > cur[i]) g += (w ? w[i] : 1.0) * (s - cur[i]);
            }
            if (g > best_gain + 1e-9 * fabs(best_gain)) best_gain = g, best = j;
        }
        sel[step] = best;
        gains[step] = best_gain;
        taken[best] = 1;
        for (int i = 0; i < m; ++i) {
            double sq = 0.0;
            for (int t = 0; t < D; ++t)
                sq += ((double)e[i * D + t] - e[best * D + t]) * ((double)e[i * D + t] - e[best * D + t]);
            double s = c - sqrt(sq);
            if (s > cur[i]) cur[i] = s;
        }
    }
    free(cur);
    free(taken);
}

static void lazy_greedy_matches_plain_greedy(int weighted, unsigned seed)
{
    const int m = 120, D = 5, kappa = 15;
    float e[120 * 5];
    double w[120];
    srand(seed);
    for (int i = 0; i < m * D; ++i) e[i] = (float)rand() / RAND_MAX * 4.0f - 2.0f;
    for (int t = 0; t < D; ++t) e[7 * D + t] = e[3 * D + t]; /* a duplicate: exact tie, lower index wins */
    for (int i = 0; i < m; ++i) w[i] = 1.0 + rand() % 5;
    gc_fl_problem p = { .m = m, .D = D, .e = e, .w = weighted ? w : NULL, .c = 12.0 };
    int64_t sel[15], want[15];
    double gains[15], want_gains[15], coverage[120], total = 0.0, covered = 0.0;
    CHECK(gc_fl_greedy_cpu(&p, kappa, sel, gains, coverage) == 0);
    plain_greedy(e, weighted ? w : NULL, m, D, 12.0, kappa, want, want_gains);
    for (int s = 0; s < kappa; ++s) {
        CHECK(sel[s] == want[s]);
        CHECK_NEAR(gains[s], want_gains[s], 1e-9);
        if (s > 0) CHECK(gains[s] <= gains[s - 1] + 1e-9); /* submodularity: gains never grow */
    }
    for (int i = 0; i < m; ++i) {
        total += weighted ? w[i] : 1.0;
        covered += coverage[i];
    }
    CHECK_NEAR(covered, total, 1e-12);
}

/* With ε so small that every step samples every remaining element, stochastic greedy is exact
 * greedy; with a moderate ε it still picks distinct elements with gains near the exact ones. */
static void stochastic_greedy_limits(void)
{
    const int m = 200, D = 4, kappa = 10;
    float e[200 * 4];
    srand(99);
    for (int i = 0; i < m * D; ++i) e[i] = (float)rand() / RAND_MAX * 4.0f - 2.0f;
    gc_fl_problem exact = { .m = m, .D = D, .e = e, .c = 12.0 }, full = exact, sampled = exact;
    full.stochastic_epsilon = 1e-300; /* (m/κ)·ln(1/ε) > m */
    sampled.stochastic_epsilon = 0.1;
    sampled.seed = full.seed = 5;
    int64_t a[10], b[10], c[10];
    double ga[10], gb[10], gc[10], fa = 0, fc = 0;
    CHECK(gc_fl_greedy_cpu(&exact, kappa, a, ga, NULL) == 0);
    CHECK(gc_fl_greedy_cpu(&full, kappa, b, gb, NULL) == 0);
    CHECK(gc_fl_greedy_cpu(&sampled, kappa, c, gc, NULL) == 0);
    for (int s = 0; s < kappa; ++s) {
        CHECK(a[s] == b[s]);
        fa += ga[s];
        fc += gc[s];
        for (int t = 0; t < s; ++t) CHECK(c[s] != c[t]);
    }
    CHECK(fc >= 0.9 * fa);
}

/* Problems of different m, κ, weights, exact and stochastic, one with a cover target that stops it
 * early and one without coverage: many equals one call each, bit for bit. */
static void many_equals_one_by_one(gc_backend *b)
{
    enum { P = 5, M = 300, D = 6 };
    static float e[P][M * D];
    static double w[M], cov[P][M], want_cov[M];
    const int m[P] = { 300, 120, 257, 64, 200 };
    const int64_t kappa[P] = { 20, 7, 30, 64, 25 };
    int64_t sel[P][64], want_sel[64];
    double gains[P][64], want_gains[64];
    gc_fl_problem p[P];
    int64_t *sel_of[P];
    double *gains_of[P], *cov_of[P];
    srand(7);
    for (int i = 0; i < M; ++i) w[i] = 1.0 + rand() % 4;
    for (int q = 0; q < P; ++q) {
        for (int i = 0; i < m[q] * D; ++i) e[q][i] = (float)rand() / RAND_MAX * 4.0f - 2.0f;
        p[q] = (gc_fl_problem){ .m = m[q], .D = D, .e = e[q], .c = 12.0, .seed = 40 + q };
        sel_of[q] = sel[q];
        gains_of[q] = gains[q];
        cov_of[q] = q == 3 ? NULL : cov[q];
    }
    p[1].w = w;
    p[2].stochastic_epsilon = 0.1;
    p[4].w = w;
    p[4].stochastic_epsilon = 0.05;
    /* Cover: stop once L(S) is within a third of L(∅) = c·m. */
    p[0].cover_target = 12.0 * 300 / 3.0;
    CHECK(gc_backend_fl_greedy_many(b, P, p, kappa, sel_of, gains_of, cov_of) == GC_OK);
    int stopped_early = 0;
    for (int q = 0; q < P; ++q) {
        CHECK(gc_fl_greedy_cpu(&p[q], kappa[q], want_sel, want_gains, q == 3 ? NULL : want_cov) == GC_OK);
        for (int64_t t = 0; t < kappa[q]; ++t) {
            CHECK(sel[q][t] == want_sel[t]);
            if (want_sel[t] >= 0) CHECK(memcmp(&gains[q][t], &want_gains[t], sizeof(double)) == 0);
        }
        if (q != 3) CHECK(memcmp(cov[q], want_cov, (size_t)m[q] * sizeof(double)) == 0);
        stopped_early += sel[q][kappa[q] - 1] < 0;
    }
    CHECK(stopped_early == 1);
}

int main(void)
{
    many_equals_one_by_one(NULL);
    gc_backend *cpu = NULL;
    CHECK(gc_backend_cpu_create(&cpu) == GC_OK);
    if (cpu != NULL) many_equals_one_by_one(cpu);
    gc_backend_destroy(cpu);
    stochastic_greedy_limits();
    for (unsigned seed = 1; seed <= 4; ++seed) {
        lazy_greedy_matches_plain_greedy(0, seed);
        lazy_greedy_matches_plain_greedy(1, seed);
    }
    TEST_MAIN_END();
}

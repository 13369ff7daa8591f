/* Lazy greedy equals plain greedy (every gain recomputed every step) on random weighted problems,
 * including exact ties from duplicated rows, and its coverage weights sum to the total weight. */
#include <stdlib.h>

#include "check.h"
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

int main(void)
{
    stochastic_greedy_limits();
    for (unsigned seed = 1; seed <= 4; ++seed) {
        lazy_greedy_matches_plain_greedy(0, seed);
        lazy_greedy_matches_plain_greedy(1, seed);
    }
    TEST_MAIN_END();
}

/* NNLS (src/nnls.c) equals brute force: for small m every passive set P is tried, the equality-
 * constrained minimiser on P (solved here by Gaussian elimination, not the code under test) is kept
 * when feasible, and the best objective wins. Also: the answer does not depend on the warm start,
 * satisfies the KKT conditions, is the unconstrained solution when that is positive, and is 0
 * when no atom correlates positively with the target. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "src/linalg/nnls.h"

#define MAX_M 9

static double uniform(unsigned *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (*state >> 8) / 16777216.0 - 0.5;
}

/* G = EᵀE + λI and b = Eᵀg for a random E [D × m] (column-major) and target g. */
static void random_problem(unsigned seed, int m, int D, double lambda, double *G, double *b)
{
    double E[64 * MAX_M], g[64];
    unsigned s = seed;
    for (int i = 0; i < D * m; ++i) E[i] = uniform(&s);
    for (int i = 0; i < D; ++i) g[i] = uniform(&s);
    for (int i = 0; i < m; ++i) {
        b[i] = 0.0;
        for (int t = 0; t < D; ++t) b[i] += E[t + i * D] * g[t];
        for (int j = 0; j < m; ++j) {
            double v = i == j ? lambda : 0.0;
            for (int t = 0; t < D; ++t) v += E[t + i * D] * E[t + j * D];
            G[i + j * m] = v;
        }
    }
}

static double objective(int m, const double *G, const double *b, const double *x)
{
    double v = 0.0;
    for (int i = 0; i < m; ++i) {
        v -= b[i] * x[i];
        for (int j = 0; j < m; ++j) v += 0.5 * x[i] * G[i + j * m] * x[j];
    }
    return v;
}

/* Solves G_PP x_P = b_P by Gaussian elimination with partial pivoting; 0 when singular. */
static int solve_subset(int m, const double *G, const double *b, unsigned mask, double *x)
{
    int idx[MAX_M], p = 0;
    for (int i = 0; i < m; ++i)
        if (mask & (1u << i)) idx[p++] = i;
    double A[MAX_M][MAX_M + 1];
    for (int r = 0; r < p; ++r) {
        for (int c = 0; c < p; ++c) A[r][c] = G[idx[r] + idx[c] * m];
        A[r][p] = b[idx[r]];
    }
    for (int c = 0; c < p; ++c) {
        int piv = c;
        for (int r = c + 1; r < p; ++r)
            if (fabs(A[r][c]) > fabs(A[piv][c])) piv = r;
        if (fabs(A[piv][c]) < 1e-14) return 0;
        for (int t = 0; t <= p; ++t) {
            double tmp = A[c][t];
            A[c][t] = A[piv][t];
            A[piv][t] = tmp;
        }
        for (int r = 0; r < p; ++r) {
            if (r == c) continue;
            double f = A[r][c] / A[c][c];
            for (int t = c; t <= p; ++t) A[r][t] -= f * A[c][t];
        }
    }
    memset(x, 0, (size_t)m * sizeof *x);
    for (int r = 0; r < p; ++r) x[idx[r]] = A[r][p] / A[r][r];
    return 1;
}

static void brute_force(int m, const double *G, const double *b, double *best)
{
    double x[MAX_M], best_value = INFINITY;
    for (unsigned mask = 0; mask < (1u << m); ++mask) {
        if (!solve_subset(m, G, b, mask, x)) continue;
        int feasible = 1;
        for (int i = 0; i < m; ++i) feasible &= x[i] >= 0.0;
        double v = objective(m, G, b, x);
        if (feasible && v < best_value) best_value = v, memcpy(best, x, (size_t)m * sizeof *x);
    }
}

static void nnls_equals_brute_force_from_any_warm_start(void)
{
    for (unsigned seed = 1; seed <= 60; ++seed) {
        int m = 2 + (int)(seed % 8), D = m + 3 + (int)(seed % 5);
        double lambda = seed % 3 == 0 ? 0.7 : 0.0;
        double G[MAX_M * MAX_M], b[MAX_M], expect[MAX_M], x[MAX_M];
        random_problem(seed, m, D, lambda, G, b);
        brute_force(m, G, b, expect);
        for (int start = 0; start < 3; ++start) {
            unsigned s = seed * 7 + (unsigned)start;
            for (int i = 0; i < m; ++i) x[i] = start == 0 ? 0.0 : start == 1 ? 1.0 : uniform(&s);
            CHECK(gc_nnls(m, G, m, b, x) == 0);
            for (int i = 0; i < m; ++i) CHECK_NEAR(x[i], expect[i], 1e-9);
            /* KKT: gradient b − Gx is 0 on the support and ≤ 0 off it */
            for (int i = 0; i < m; ++i) {
                double grad = b[i];
                for (int j = 0; j < m; ++j) grad -= G[i + j * m] * x[j];
                CHECK(x[i] >= 0.0);
                if (x[i] > 0.0)
                    CHECK_NEAR(grad, 0.0, 1e-9);
                else
                    CHECK(grad <= 1e-9);
            }
        }
    }
}

static void positive_unconstrained_solution_is_returned(void)
{
    /* G = I + 0.1·11ᵀ, b = G·(1, 2, 3): the unconstrained minimiser (1, 2, 3) is feasible. */
    double G[9], want[3] = { 1, 2, 3 }, b[3] = { 0, 0, 0 }, x[3] = { 0, 0, 0 };
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) G[i + 3 * j] = (i == j) + 0.1;
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) b[i] += G[i + 3 * j] * want[j];
    CHECK(gc_nnls(3, G, 3, b, x) == 0);
    for (int i = 0; i < 3; ++i) CHECK_NEAR(x[i], want[i], 1e-12);
}

static void no_positive_correlation_gives_zero(void)
{
    double G[4] = { 2, 0.5, 0.5, 1 }, b[2] = { -1, -0.25 }, x[2] = { 3, 4 };
    CHECK(gc_nnls(2, G, 2, b, x) == 0);
    CHECK(x[0] == 0.0 && x[1] == 0.0);
}

static void only_the_lower_triangle_is_read(void)
{
    double G[9] = { 4, 1, 0.5, 1e9, 3, 0.25, -1e9, 7e8, 2 }, b[3] = { 1, -2, 1 }, x[3] = { 0, 0, 0 };
    double full[9] = { 4, 1, 0.5, 1, 3, 0.25, 0.5, 0.25, 2 }, expect[3];
    brute_force(3, full, b, expect);
    CHECK(gc_nnls(3, G, 3, b, x) == 0);
    for (int i = 0; i < 3; ++i) CHECK_NEAR(x[i], expect[i], 1e-12);
}

int main(void)
{
    nnls_equals_brute_force_from_any_warm_start();
    positive_unconstrained_solution_is_returned();
    no_positive_correlation_gives_zero();
    only_the_lower_triangle_is_read();
    TEST_MAIN_END();
}

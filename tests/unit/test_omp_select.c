/* Per-class OMP, every class's problem advancing in the same passes with one reduction a pass,
 * selects class by class what OMP on that class's rows alone selects (the oracle: gc_select_omp with
 * one problem on the class's rows, which tests/reference/test_omp.py checks against scikit-learn):
 * the same rows in the same order with the same weights and gains, bit for bit, for least squares
 * and NNLS, one or several atoms a pass, the replicated and the ScaLAPACK refit, a tolerance that
 * stops some classes early, a class whose rows run out (zero rows), a class without rows and more
 * atoms than dimensions (dependent candidates), so classes stop at different passes. The coreset
 * lists the classes in order, and its objective is ‖Σ r‖/‖Σ g‖ over the classes. */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "src/select/select_omp.h"

enum { N = 3000, D = 12, CLASSES = 6 };

static double uniform(void) { return (double)rand() / RAND_MAX - 0.5; }

/* Class (7i + i/11) mod 5 (class 5 has no rows); class 3 is zero but for 5 rows. */
static void make_rows(float *e, int32_t *y, float *loss)
{
    for (int64_t i = 0; i < N; ++i) {
        y[i] = (int32_t)((7 * i + i / 11) % 5);
        loss[i] = (float)i;
        for (int j = 0; j < D; ++j)
            e[i * D + j] = y[i] == 3 && i % 97 != 0 ? 0.0f : (float)(uniform() + 0.2 * (y[i] + 1));
    }
}

static void per_class_equals_each_class_alone(int nonneg, int batch, double ridge, double tol, gc_refit_kind refit,
                                              int64_t k)
{
    float *e = malloc((size_t)N * D * sizeof *e), *loss = malloc(N * sizeof *loss);
    float *class_e = malloc((size_t)N * D * sizeof *class_e), *class_loss = malloc(N * sizeof *class_loss);
    int32_t *y = malloc(N * sizeof *y), *class_y = malloc(N * sizeof *class_y);
    int64_t *class_row = malloc(N * sizeof *class_row);
    double *targets = calloc((size_t)CLASSES * D, sizeof *targets);
    make_rows(e, y, loss);
    /* Given targets, so that both selections start from the same bits. */
    for (int c = 0; c < CLASSES; ++c)
        for (int j = 0; j < D; ++j) {
            long double sum = 0.0L;
            for (int64_t i = 0; i < N; ++i)
                if (y[i] == c) sum += e[i * D + j];
            targets[(size_t)c * D + j] = (double)sum;
        }
    gc_local_rows rows = { MPI_COMM_WORLD, 0, 1, N, 0, N, D, CLASSES, e, y, loss };
    gc_omp_options opt = {
        .per_class = 1, .ridge = ridge, .nonneg = nonneg, .tol = tol, .batch = batch, .refit = refit, .targets = targets
    };
    const gc_run_context cpu = { 0 };
    gc_coreset together;
    int rc = gc_select_omp(&cpu, &rows, &opt, k, &together);
    if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
    CHECK(rc == GC_OK);
    char what[128];
    snprintf(what, sizeof what, "nonneg=%d batch=%d ridge=%g tol=%g refit=%d k=%lld", nonneg, batch, ridge, tol,
             (int)refit, (long long)k);
    int64_t slot = 0;
    double *r_total = calloc(D, sizeof *r_total), *g_total = calloc(D, sizeof *g_total);
    for (int c = 0; c < CLASSES && rc == GC_OK; ++c) {
        int64_t n = 0;
        for (int64_t i = 0; i < N; ++i)
            if (y[i] == c) {
                memcpy(class_e + n * D, e + i * D, D * sizeof *e);
                class_y[n] = c;
                class_loss[n] = loss[i];
                class_row[n++] = i;
            }
        const double *g = targets + (size_t)c * D;
        double *r = calloc(D, sizeof *r);
        memcpy(r, g, D * sizeof *r);
        const int64_t budget = together.budgets[c];
        CHECK(budget == 0 || n > 0);
        if (budget > 0) {
            gc_local_rows mine = { MPI_COMM_WORLD, 0, 1, n, 0, n, D, CLASSES, class_e, class_y, class_loss };
            gc_omp_options single = opt;
            single.per_class = 0;
            single.targets = g;
            gc_coreset alone;
            CHECK(gc_select_omp(&cpu, &mine, &single, budget, &alone) == GC_OK);
            int differ = 0;
            for (int64_t t = 0; t < alone.k; ++t, ++slot) {
                differ += slot >= together.k || together.index[slot] != class_row[alone.index[t]] ||
                          together.label[slot] != c || together.weight[slot] != alone.weight[t] ||
                          together.gain[slot] != alone.gain[t] ||
                          memcmp(together.embedding + slot * D, alone.embedding + t * D, D * sizeof(float)) != 0;
                for (int j = 0; j < D; ++j) r[j] -= alone.weight[t] * alone.embedding[t * D + j];
            }
            if (differ) fprintf(stderr, "%s: class %d: %d of %lld atoms differ\n", what, c, differ, (long long)alone.k);
            CHECK(differ == 0);
            gc_coreset_destroy(&alone);
        }
        for (int j = 0; j < D; ++j) r_total[j] += r[j], g_total[j] += g[j];
        free(r);
    }
    CHECK(slot == together.k);
    double r_norm = 0.0, g_norm = 0.0;
    for (int j = 0; j < D; ++j) r_norm += r_total[j] * r_total[j], g_norm += g_total[j] * g_total[j];
    if (rc == GC_OK) CHECK_NEAR(together.objective, sqrt(r_norm / g_norm), 1e-9);
    if (rc == GC_OK) gc_coreset_destroy(&together);
    free(e);
    free(loss);
    free(class_e);
    free(class_loss);
    free(y);
    free(class_y);
    free(class_row);
    free(targets);
    free(r_total);
    free(g_total);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    srand(7);
    per_class_equals_each_class_alone(0, 1, 0.0, 0.0, GC_REFIT_REPLICATED, 40);
    per_class_equals_each_class_alone(1, 3, 0.0, 0.0, GC_REFIT_REPLICATED, 45);
    per_class_equals_each_class_alone(0, 2, 0.0, 0.3, GC_REFIT_REPLICATED, 100); /* the tolerance stops some */
    per_class_equals_each_class_alone(0, 1, 0.0, 0.0, GC_REFIT_REPLICATED, 90);  /* more atoms than D: dependent */
    per_class_equals_each_class_alone(0, 4, 1e-3, 0.0, GC_REFIT_REPLICATED, 90); /* the ridge reaches them */
    per_class_equals_each_class_alone(1, 2, 1.0, 0.0, GC_REFIT_REPLICATED, 70);
#ifdef GC_HAVE_SCALAPACK
    per_class_equals_each_class_alone(0, 3, 1e-3, 0.0, GC_REFIT_SCALAPACK, 60); /* a grid per class */
#endif
    MPI_Finalize();
    TEST_MAIN_END();
}

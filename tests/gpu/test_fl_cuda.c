/* The GPU facility-location greedy equals its CPU oracle (gc_fl_greedy_cpu), both reached through the backends' fl_greedy op: same selections in the same
 * order, gains within 1e-7 relative (both in double), the same coverage weights; for the device-resident block and
 * for GEMM-recomputed tiles, unweighted and weighted, exact and stochastic. Exit 77 without a GPU. */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "core/error.h"
#include "kernels/backend.h"
#include "kernels/cpu/greedy_fl_cpu.h"
#include "kernels/cuda/fl_cuda.h"

static void random_problem(int m, int D, unsigned seed, float *e, double *w)
{
    srand(seed);
    float centers[8][64];
    for (int c = 0; c < 8; ++c)
        for (int t = 0; t < D; ++t) centers[c][t] = (float)rand() / RAND_MAX * 8.0f - 4.0f;
    for (int i = 0; i < m; ++i) {
        int c = rand() % 8;
        for (int t = 0; t < D; ++t) e[i * D + t] = centers[c][t] + (float)rand() / RAND_MAX - 0.5f;
        w[i] = 1 + rand() % 7;
    }
}

static void compare(gc_backend *dev, int recompute, int weighted, double epsilon, unsigned seed)
{
    const int m = 3000, D = 16, kappa = 60;
    float *e = malloc((size_t)m * D * sizeof *e);
    double *w = malloc((size_t)m * sizeof *w), gains_cpu[60], gains_gpu[60];
    double *cov_cpu = malloc((size_t)m * sizeof *cov_cpu), *cov_gpu = malloc((size_t)m * sizeof *cov_gpu);
    int64_t sel_cpu[60], sel_gpu[60];
    random_problem(m, D, seed, e, w);
    gc_fl_problem p = {
        .m = m, .D = D, .e = e, .w = weighted ? w : NULL, .c = 25.0, .stochastic_epsilon = epsilon, .seed = 1234 + seed
    };
    CHECK(gc_cuda_fl_force_recompute(dev, recompute) == GC_OK);
    CHECK(gc_fl_greedy_cpu(&p, kappa, sel_cpu, gains_cpu, cov_cpu) == GC_OK);
    int rc = dev->ops->fl_greedy(dev, &p, kappa, sel_gpu, gains_gpu, cov_gpu);
    if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
    CHECK(rc == GC_OK);
    CHECK(gc_cuda_fl_last_materialized(dev) == !recompute);
    int mismatched = 0;
    for (int s = 0; s < kappa; ++s) {
        mismatched += sel_cpu[s] != sel_gpu[s];
        CHECK_NEAR(gains_gpu[s], gains_cpu[s], 1e-7);
    }
    CHECK(mismatched == 0);
    for (int i = 0; i < m && mismatched == 0; ++i) CHECK(cov_cpu[i] == cov_gpu[i]);
    if (mismatched)
        fprintf(stderr, "recompute=%d weighted=%d eps=%g seed=%u: %d selections differ\n", recompute, weighted, epsilon,
                seed, mismatched);
    free(e);
    free(w);
    free(cov_cpu);
    free(cov_gpu);
}

int main(void)
{
    SKIP_WITHOUT_GPU();
    gc_backend *dev = NULL;
    if (gc_backend_cuda_create(0, &dev) != GC_OK) {
        fprintf(stderr, "%s\n", gc_error_message());
        return 1;
    }
    for (unsigned seed = 1; seed <= 3; ++seed)
        for (int recompute = 0; recompute <= 1; ++recompute)
            for (int weighted = 0; weighted <= 1; ++weighted) {
                compare(dev, recompute, weighted, 0.0, seed);
                compare(dev, recompute, weighted, 0.05, seed);
            }
    gc_backend_destroy(dev);
    TEST_MAIN_END();
}

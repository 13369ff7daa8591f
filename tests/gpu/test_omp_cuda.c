/* The CUDA OMP scorer equals its CPU oracle (kernels/cpu/omp_cpu.c): the same best rows in the same
 * order and scores within 1e-12 relative, for float4 and scalar row widths, signed and absolute
 * scores, excluded and zero rows, duplicated rows (ties to the lower row) and lists of several
 * candidates; and gc_select_omp scoring on the GPU selects the CPU path's coreset. Exit 77 without
 * a GPU. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "kernels/cpu/omp_cpu.h"
#include "kernels/cuda/omp_cuda.h"
#include "src/select/select_omp.h"

static const gc_backend_ops cuda_omp_ops = { .name = "cuda",
                                             .omp_attach = gc_cuda_omp_attach,
                                             .omp_set_weights = gc_cuda_omp_set_weights,
                                             .omp_best = gc_cuda_omp_best,
                                             .omp_detach = gc_cuda_omp_detach };

static double uniform(void) { return (double)rand() / RAND_MAX - 0.5; }

/* Rows: Gaussian-ish, every 20th zero, every 50th a copy of the row before it. */
static void random_rows(int64_t n, int D, float *e, double *w)
{
    for (int64_t i = 0; i < n; ++i) {
        double sq = 0.0;
        for (int j = 0; j < D; ++j) {
            float v = i % 20 == 7 ? 0.0f : i % 50 == 11 ? e[(i - 1) * D + j] : (float)(uniform() + 0.1);
            e[i * D + j] = v;
            sq += (double)v * v;
        }
        w[i] = sq > 0.0 && i % 10 != 3 ? 1.0 / sqrt(sq) : 0.0; /* every 10th row excluded */
    }
}

static void check_lists(const gc_omp_pair *cpu, const gc_omp_pair *gpu, int count, const char *what)
{
    for (int t = 0; t < count; ++t) {
        if (cpu[t].index != gpu[t].index)
            fprintf(stderr, "%s: candidate %d is row %lld on the CPU, %lld on the GPU\n", what, t,
                    (long long)cpu[t].index, (long long)gpu[t].index);
        CHECK(cpu[t].index == gpu[t].index);
        if (cpu[t].index != INT64_MAX) CHECK_NEAR(gpu[t].score, cpu[t].score, 1e-12);
    }
}

static void scores_equal_the_cpu(gc_backend *b, int64_t n, int D, int signed_scores, int count)
{
    float *e = malloc((size_t)n * D * sizeof *e), *work = malloc((size_t)n * sizeof *work);
    double *w = malloc((size_t)n * sizeof *w), *r = malloc((size_t)D * sizeof *r);
    gc_omp_pair cpu[16], gpu[16];
    random_rows(n, D, e, w);
    for (int j = 0; j < D; ++j) r[j] = 10.0 * uniform();
    gc_omp_device *dev = NULL;
    CHECK(gc_cuda_omp_attach(b, n, D, e, NULL, NULL, &dev) == GC_OK);
    CHECK(gc_cuda_omp_set_weights(b, dev, 0, n, w) == GC_OK);
    char what[96];
    for (int round = 0; round < 3; ++round) {
        snprintf(what, sizeof what, "n=%lld D=%d signed=%d count=%d round %d", (long long)n, D, signed_scores, count,
                 round);
        CHECK(gc_cpu_omp_best(e, n, D, r, w, signed_scores, count, work, cpu) == GC_OK);
        int rc = gc_cuda_omp_best(b, dev, r, signed_scores, count, gpu);
        if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
        CHECK(rc == GC_OK);
        check_lists(cpu, gpu, count, what);
        /* The winner leaves, as in OMP; the next round must see it gone on both sides. */
        if (cpu[0].index != INT64_MAX) {
            w[cpu[0].index] = 0.0;
            CHECK(gc_cuda_omp_set_weights(b, dev, cpu[0].index, 1, &w[cpu[0].index]) == GC_OK);
        }
    }
    /* Every score, row by row, against the plain double loop. */
    double *all = malloc((size_t)n * sizeof *all);
    gc_cpu_omp_scores(e, n, D, r, w, signed_scores, all);
    int64_t best = -1;
    for (int64_t i = 0; i < n; ++i)
        if (all[i] > -INFINITY && (best < 0 || all[i] > all[best])) best = i;
    CHECK(gc_cuda_omp_best(b, dev, r, signed_scores, 1, gpu) == GC_OK);
    CHECK(gpu[0].index == (best < 0 ? INT64_MAX : best));
    gc_cuda_omp_detach(b, dev);
    free(all);
    free(e);
    free(work);
    free(w);
    free(r);
}

static void select_on_the_gpu_equals_the_cpu(gc_backend *b, int per_class, int nonneg, int batch)
{
    const int64_t n = 20000;
    const int D = 64, classes = 3;
    float *e = malloc((size_t)n * D * sizeof *e), *loss = calloc((size_t)n, sizeof *loss);
    int32_t *y = malloc((size_t)n * sizeof *y);
    double *w = malloc((size_t)n * sizeof *w);
    random_rows(n, D, e, w);
    for (int64_t i = 0; i < n; ++i) y[i] = (int32_t)(i % classes);
    gc_local_rows rows = { MPI_COMM_WORLD, 0, 1, n, 0, n, D, classes, e, y, loss };
    gc_omp_options opt = { .per_class = per_class, .ridge = 0.0, .nonneg = nonneg, .batch = batch };
    const gc_run_context on_cpu = { 0 }, on_gpu = { .backend = b };
    gc_coreset cpu, gpu;
    CHECK(gc_select_omp(&on_cpu, &rows, &opt, 60, &cpu) == GC_OK);
    int rc = gc_select_omp(&on_gpu, &rows, &opt, 60, &gpu);
    if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
    CHECK(rc == GC_OK && cpu.k == gpu.k);
    int differ = 0;
    for (int64_t t = 0; t < cpu.k && t < gpu.k; ++t)
        differ += cpu.index[t] != gpu.index[t] || cpu.weight[t] != gpu.weight[t];
    if (differ)
        fprintf(stderr, "select per_class=%d nonneg=%d batch=%d: %d atoms differ\n", per_class, nonneg, batch, differ);
    CHECK(differ == 0);
    gc_coreset_destroy(&cpu);
    gc_coreset_destroy(&gpu);
    free(e);
    free(loss);
    free(y);
    free(w);
}

/* Embeddings computed by the CUDA backend stay on its device, and OMP gathers the problem's rows
 * there (per class) or scores them in place: the coreset must be the CPU's, atom for atom. */
static void select_from_resident_embeddings_equals_the_cpu(int per_class)
{
    const int64_t n = 30000;
    const int d = 24, classes = 4, hidden = 40, sketch = 64;
    gc_backend *real = NULL;
    CHECK(gc_backend_cuda_create(0, &real) == GC_OK);
    gc_model m;
    CHECK(gc_model_init_draw(&m, d, &hidden, 1, classes, 5, 0) == GC_OK);
    float *x = malloc((size_t)n * d * sizeof *x), *e = malloc((size_t)n * sketch * sizeof *e);
    float *loss = malloc((size_t)n * sizeof *loss);
    int32_t *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n * d; ++i) x[i] = (float)uniform();
    for (int64_t i = 0; i < n; ++i) y[i] = (int32_t)(i * 7 % classes);
    gc_embed_config cfg = { .kind = GC_EMBED_LASTLAYER,
                            .sketch_dim = sketch,
                            .hessian_damping = 1e-3,
                            .seed = 2,
                            .models = &m,
                            .model_count = 1 };
    CHECK(real->ops->embed(real, &cfg, n, d, x, y, e, loss) == GC_OK);
    CHECK(gc_cuda_resident(real, e, n, sketch) == NULL); /* only kept when asked for */
    cfg.keep_on_device = 1;
    CHECK(real->ops->embed(real, &cfg, n, d, x, y, e, loss) == GC_OK);
    CHECK(gc_cuda_resident(real, e, n, sketch) != NULL);
    gc_local_rows rows = { MPI_COMM_WORLD, 0, 1, n, 0, n, sketch, classes, e, y, loss };
    gc_omp_options opt = { .per_class = per_class, .ridge = 1e-3, .batch = 2 };
    const gc_run_context on_cpu = { 0 }, on_gpu = { .backend = real };
    gc_coreset cpu, gpu;
    CHECK(gc_select_omp(&on_cpu, &rows, &opt, 40, &cpu) == GC_OK);
    CHECK(gc_select_omp(&on_gpu, &rows, &opt, 40, &gpu) == GC_OK);
    CHECK(cpu.k == gpu.k);
    int differ = 0;
    for (int64_t t = 0; t < cpu.k && t < gpu.k; ++t)
        differ += cpu.index[t] != gpu.index[t] || cpu.weight[t] != gpu.weight[t];
    if (differ) fprintf(stderr, "resident embeddings, per_class=%d: %d atoms differ\n", per_class, differ);
    CHECK(differ == 0);
    gc_coreset_destroy(&cpu);
    gc_coreset_destroy(&gpu);
    gc_model_destroy(&m);
    gc_backend_destroy(real);
    free(x);
    free(e);
    free(loss);
    free(y);
}

int main(int argc, char **argv)
{
    SKIP_WITHOUT_GPU();
    MPI_Init(&argc, &argv);
    gc_backend b = { .ops = &cuda_omp_ops, .device_id = 0, .description = "cuda:0" };
    srand(3);
    const int64_t sizes[] = { 1, 37, 1000, 5001 };
    const int widths[] = { 16, 37, 128, 256 };
    for (int s = 0; s < 4; ++s)
        for (int d = 0; d < 4; ++d)
            for (int signed_scores = 0; signed_scores <= 1; ++signed_scores) {
                scores_equal_the_cpu(&b, sizes[s], widths[d], signed_scores, 1);
                scores_equal_the_cpu(&b, sizes[s], widths[d], signed_scores, 7);
            }
    select_on_the_gpu_equals_the_cpu(&b, 0, 0, 1);
    select_on_the_gpu_equals_the_cpu(&b, 1, 1, 4);
    select_from_resident_embeddings_equals_the_cpu(0);
    select_from_resident_embeddings_equals_the_cpu(1);
    MPI_Finalize();
    TEST_MAIN_END();
}

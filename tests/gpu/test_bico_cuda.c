/* BiCo's CUDA kernels equal their CPU oracles: the Nyström features (kernels/cpu/nystrom_cpu.c)
 * within 1e-5 relative (normwise, over a block) for several widths, landmark counts and kernel
 * widths, and the scores (kernels/cpu/bico_cpu.c) within 1e-9, and a round's best on the device the
 * host's scan of its scores; the device data summary equals a
 * direct long-double sum within 1e-12 and does not depend on the order of its blocks or on whether they are read
 * in place from the scorer's copy of Z (bico_summary_add_own); gc_select_bico
 * with the CUDA backend selects the CPU path's coreset, and with x on the device alone the coreset of
 * host x. Exit 77 without a GPU. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/comm.h"
#include "core/error.h"
#include "kernels/cpu/bico_cpu.h"
#include "src/select/select_bico.h"

static double uniform(void) { return (double)rand() / RAND_MAX - 0.5; }

/* All n rows of x [n × d] on this one rank. */
static gc_local_rows one_rank(int64_t n, int d, int classes, float *x, int32_t *y, float *loss)
{
    return (gc_local_rows){ .comm = MPI_COMM_WORLD,
                            .rank = 0,
                            .size = 1,
                            .n_global = n,
                            .lo = 0,
                            .n_local = n,
                            .D = d,
                            .classes = classes,
                            .e = x,
                            .y = y,
                            .loss = loss };
}

/* Two blobs per class in d dimensions. */
static void random_data(int64_t n, int d, int classes, float *x, int32_t *y)
{
    for (int64_t i = 0; i < n; ++i) {
        y[i] = (int32_t)(i % classes);
        for (int j = 0; j < d; ++j) x[i * d + j] = (float)(2.0 * uniform() + (double)((y[i] * 7 + j) % 5) - 2.0);
    }
}

static double max_abs(const double *a, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; ++i) m = fmax(m, fabs(a[i]));
    return m;
}

static void features_equal_the_cpu(gc_backend *cpu, gc_backend *gpu, int64_t n, int d, int q, double gamma)
{
    float *x = malloc((size_t)n * d * sizeof *x), *loss = calloc((size_t)n, sizeof *loss);
    int32_t *y = malloc((size_t)n * sizeof *y);
    random_data(n, d, 3, x, y);
    gc_local_rows rows = one_rank(n, d, 3, x, y, loss);
    gc_nystrom ny;
    CHECK(gc_nystrom_create(cpu, &rows, q, gamma, GC_EIG_LAPACK, 7, &ny) == GC_OK);
    const int qp = ny.map.rank;
    double *zc = malloc((size_t)n * qp * sizeof *zc), *zg = malloc((size_t)n * qp * sizeof *zg);
    CHECK(gc_nystrom_features(&ny, cpu, &rows, zc) == GC_OK);
    int rc = gc_nystrom_features(&ny, gpu, &rows, zg);
    if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
    CHECK(rc == GC_OK);
    double worst = 0.0, scale = max_abs(zc, n * qp);
    for (int64_t i = 0; i < n * qp; ++i) worst = fmax(worst, fabs(zc[i] - zg[i]));
    if (!(worst <= 1e-5 * scale))
        fprintf(stderr, "features n=%lld d=%d q=%d (q'=%d) γ=%g: max difference %.3g of max %.3g\n", (long long)n, d, q,
                qp, ny.map.gamma, worst, scale);
    CHECK(worst <= 1e-5 * scale);

    /* Scores on the same features, θ and V random. */
    const int C = 3;
    double *theta = malloc((size_t)qp * C * sizeof *theta), *v = malloc((size_t)qp * C * sizeof *v);
    double *sc = malloc((size_t)n * sizeof *sc), *sg = malloc((size_t)n * sizeof *sg);
    for (int t = 0; t < qp * C; ++t) {
        theta[t] = uniform();
        v[t] = 10.0 * uniform();
    }
    gc_cpu_bico_scores(zc, y, n, qp, C, theta, v, sc);
    gc_bico_device *dev = NULL;
    CHECK(gpu->ops->bico_attach(gpu, 0, n, qp, C, zc, y, &dev) == GC_OK);
    CHECK(gpu->ops->bico_scores(gpu, dev, theta, v, sg) == GC_OK);
    gpu->ops->bico_detach(gpu, dev);
    double score_scale = max_abs(sc, n), score_worst = 0.0;
    for (int64_t i = 0; i < n; ++i) score_worst = fmax(score_worst, fabs(sc[i] - sg[i]));
    CHECK(score_worst <= 1e-9 * score_scale);
    gc_nystrom_destroy(&ny);
    free(x);
    free(loss);
    free(y);
    free(zc);
    free(zg);
    free(theta);
    free(v);
    free(sc);
    free(sg);
}

/* Blocks [lo, hi) of z [n × qp] added to a fresh device summary in ascending or descending order. */
static void device_summary(gc_backend *gpu, const double *z, const int32_t *y, const double *v, int64_t n, int qp,
                           int C, int64_t block, int descending, gc_exact_sum *sum)
{
    gc_bico_summary_device *dev = NULL;
    CHECK(gpu->ops->bico_summary_attach(gpu, qp, C, block, sum->scale, &dev) == GC_OK);
    const int64_t blocks = (n + block - 1) / block;
    for (int64_t t = 0; t < blocks; ++t) {
        const int64_t lo = (descending ? blocks - 1 - t : t) * block, rows = n - lo < block ? n - lo : block;
        CHECK(gpu->ops->bico_summary_add(gpu, dev, rows, z + lo * qp, y + lo, v != NULL ? v + lo : NULL) == GC_OK);
    }
    CHECK(gpu->ops->bico_summary_collect(gpu, dev, sum->acc) == GC_OK);
    gpu->ops->bico_summary_detach(gpu, dev);
}

/* ZᵀVZ (upper, packed by rows), ZᵀVY and Σ v per class on the device against long-double sums, and
 * the same accumulators, bit for bit, whichever order the blocks come in and (unweighted) when they
 * are read in place from a scorer's copy of Z. */
static void summary_equals_a_direct_sum(gc_backend *gpu, int weighted)
{
    const int64_t n = 2500, block = 1024;
    const int qp = 96, C = 5, count = qp * (qp + 1) / 2 + qp * C + C;
    double *z = malloc((size_t)n * qp * sizeof *z), *v = weighted ? malloc((size_t)n * sizeof *v) : NULL;
    int32_t *y = malloc((size_t)n * sizeof *y);
    double max_entry = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        y[i] = (int32_t)((i * 3) % C);
        if (v != NULL) v[i] = 0.5 + 2.5 * (uniform() + 0.5);
        double sq = 0.0;
        for (int j = 0; j < qp; ++j) {
            z[i * qp + j] = uniform();
            sq += z[i * qp + j] * z[i * qp + j];
        }
        max_entry = fmax(max_entry, (v != NULL ? v[i] : 1.0) * fmax(1.0, sq));
    }
    gc_exact_sum ascending, descending;
    CHECK(gc_exact_sum_create(&ascending, count, (double)block * max_entry) == GC_OK);
    CHECK(gc_exact_sum_create(&descending, count, (double)block * max_entry) == GC_OK);
    device_summary(gpu, z, y, v, n, qp, C, block, 0, &ascending);
    device_summary(gpu, z, y, v, n, qp, C, block, 1, &descending);
    CHECK(memcmp(ascending.acc, descending.acc, 2 * (size_t)count * sizeof *ascending.acc) == 0);
    if (v == NULL) { /* the same blocks read in place from a scorer's copy of Z, in two calls */
        gc_exact_sum own;
        gc_bico_device *scorer = NULL;
        gc_bico_summary_device *dev = NULL;
        CHECK(gc_exact_sum_create(&own, count, (double)block * max_entry) == GC_OK);
        CHECK(gpu->ops->bico_attach(gpu, 0, n, qp, C, z, y, &scorer) == GC_OK);
        CHECK(gpu->ops->bico_summary_attach(gpu, qp, C, block, own.scale, &dev) == GC_OK);
        CHECK(gpu->ops->bico_summary_add_own(gpu, dev, scorer, 0, 2 * block) == GC_OK);
        CHECK(gpu->ops->bico_summary_add_own(gpu, dev, scorer, 2 * block, n - 2 * block) == GC_OK);
        CHECK(gpu->ops->bico_summary_collect(gpu, dev, own.acc) == GC_OK);
        gpu->ops->bico_summary_detach(gpu, dev);
        gpu->ops->bico_detach(gpu, scorer);
        CHECK(memcmp(ascending.acc, own.acc, 2 * (size_t)count * sizeof *own.acc) == 0);
        gc_exact_sum_destroy(&own);
    }
    double *got = malloc((size_t)count * sizeof *got);
    long double *want = calloc((size_t)count, sizeof *want);
    CHECK(gc_exact_sum_allreduce(&ascending, MPI_COMM_WORLD, got) == GC_OK);
    for (int64_t r = 0; r < n; ++r) {
        const long double vr = v != NULL ? v[r] : 1.0;
        int t = 0;
        for (int a = 0; a < qp; ++a)
            for (int b = a; b < qp; ++b) want[t++] += vr * z[r * qp + a] * z[r * qp + b];
        for (int j = 0; j < qp; ++j) want[t + j * C + y[r]] += vr * z[r * qp + j];
        want[t + qp * C + y[r]] += vr;
    }
    const int parts[] = { 0, qp * (qp + 1) / 2, qp * (qp + 1) / 2 + qp * C, count }; /* ZᵀVZ, ZᵀVY, Σ v */
    for (int p = 0; p < 3; ++p) {
        double scale = 0.0, worst = 0.0;
        for (int t = parts[p]; t < parts[p + 1]; ++t) {
            scale = fmax(scale, fabs((double)want[t]));
            worst = fmax(worst, fabs(got[t] - (double)want[t]));
        }
        if (!(worst <= 1e-12 * scale))
            fprintf(stderr, "summary part %d (weighted %d): max difference %.3g of max %.3g\n", p, weighted, worst,
                    scale);
        CHECK(worst <= 1e-12 * scale);
    }
    gc_exact_sum_destroy(&ascending);
    gc_exact_sum_destroy(&descending);
    free(z);
    free(v);
    free(y);
    free(got);
    free(want);
}

static void select_on_the_gpu_equals_the_cpu(gc_backend *cpu, gc_backend *gpu, int batch, int weighted)
{
    const int64_t n = 3000;
    const int d = 8, classes = 4;
    /* Its own data, whatever the cases before it drew. On the draw that followed them the weighted
     * case chose the same points with weights 3e-3 apart: the weight steps compound the last bits
     * of the features (docs/design.md §4.5). */
    srand(5);
    float *x = malloc((size_t)n * d * sizeof *x), *loss = calloc((size_t)n, sizeof *loss);
    int32_t *y = malloc((size_t)n * sizeof *y);
    random_data(n, d, classes, x, y);
    gc_local_rows rows = one_rank(n, d, classes, x, y, loss);
    gc_bico_options opt = {
        .landmarks = 200, .ridge = 1e-3, .batch = batch, .weighted = weighted, .eig = GC_EIG_LAPACK, .seed = 1
    };
    const gc_run_context on_cpu = { .backend = cpu }, on_gpu = { .backend = gpu };
    gc_coreset a, b;
    CHECK(gc_select_bico(&on_cpu, &rows, &opt, 30, &a) == GC_OK);
    int rc = gc_select_bico(&on_gpu, &rows, &opt, 30, &b);
    if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
    CHECK(rc == GC_OK && a.k == b.k);
    int differ = 0;
    for (int64_t t = 0; t < a.k && t < b.k; ++t) {
        if (a.index[t] != b.index[t] && differ++ == 0)
            fprintf(stderr,
                    "select batch=%d weighted=%d: first difference at %lld: CPU row %lld (score %.17g), GPU row %lld "
                    "(score %.17g)\n",
                    batch, weighted, (long long)t, (long long)a.index[t], a.gain[t], (long long)b.index[t], b.gain[t]);
        CHECK_NEAR(a.weight[t], b.weight[t], 1e-6);
    }
    if (differ) fprintf(stderr, "select batch=%d weighted=%d: %d points differ\n", batch, weighted, differ);
    CHECK(differ == 0);
    gc_coreset_destroy(&a);
    gc_coreset_destroy(&b);
    free(x);
    free(loss);
    free(y);
}

/* x kept on the device alone by embed (rows->e NULL, docs/design.md §3.2) at `precision`: the
 * landmarks and the fallback's features (through rows_get), and gc_select_bico (features read in
 * place, winners' rows gathered at the end) give the bits of the same run on host x rounded to that
 * precision. */
static void device_alone_equals_host_x(gc_backend *cpu, gc_backend *gpu, gc_precision precision)
{
    const int64_t n = 3000;
    const int d = 8, classes = 4, q = 200;
    srand(7);
    float *x = malloc((size_t)n * d * sizeof *x), *loss = calloc((size_t)n, sizeof *loss);
    int32_t *y = malloc((size_t)n * sizeof *y);
    random_data(n, d, classes, x, y);
    gpu->precision = precision;
    const gc_embed_config cfg = { .kind = GC_EMBED_FEATURES, .keep_on_device = 1 };
    CHECK(gpu->ops->embed(gpu, &cfg, n, d, x, y, NULL, loss) == GC_OK);
    gc_round_array(precision, x, n * d);
    gc_local_rows host = one_rank(n, d, classes, x, y, loss), alone = host;
    alone.e = NULL;

    gc_nystrom a, h;
    CHECK(gc_nystrom_create(gpu, &alone, q, 0.0, GC_EIG_LAPACK, 3, &a) == GC_OK);
    CHECK(gc_nystrom_create(cpu, &host, q, 0.0, GC_EIG_LAPACK, 3, &h) == GC_OK);
    CHECK(a.map.rank == h.map.rank && a.map.gamma == h.map.gamma);
    CHECK(memcmp(a.landmarks, h.landmarks, (size_t)q * d * sizeof *a.landmarks) == 0);
    const size_t z_bytes = (size_t)n * a.map.rank * sizeof(double);
    double *za = malloc(z_bytes), *zh = malloc(z_bytes);
    CHECK(gc_nystrom_features(&a, gpu, &alone, za) == GC_OK);
    CHECK(gc_nystrom_features(&h, gpu, &host, zh) == GC_OK);
    CHECK(memcmp(za, zh, z_bytes) == 0);
    gc_nystrom_destroy(&a);
    gc_nystrom_destroy(&h);

    gc_bico_options opt = { .landmarks = q, .ridge = 1e-3, .batch = 3, .eig = GC_EIG_LAPACK, .seed = 1 };
    const gc_run_context on_gpu = { .backend = gpu };
    gc_coreset ca, ch;
    int rc = gc_select_bico(&on_gpu, &alone, &opt, 30, &ca);
    if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
    CHECK(rc == GC_OK && gc_select_bico(&on_gpu, &host, &opt, 30, &ch) == GC_OK && ca.k == ch.k);
    CHECK(memcmp(ca.index, ch.index, (size_t)ca.k * sizeof *ca.index) == 0);
    CHECK(memcmp(ca.gain, ch.gain, (size_t)ca.k * sizeof *ca.gain) == 0);
    CHECK(memcmp(ca.weight, ch.weight, (size_t)ca.k * sizeof *ca.weight) == 0);
    CHECK(memcmp(ca.embedding, ch.embedding, (size_t)ca.k * d * sizeof *ca.embedding) == 0);
    gc_coreset_destroy(&ca);
    gc_coreset_destroy(&ch);
    gpu->precision = GC_PRECISION_FP32;
    free(x);
    free(loss);
    free(y);
    free(za);
    free(zh);
}

/* The device's scores of rows split over three "ranks" at arbitrary global offsets (the scoring
 * blocks are aligned to the global index) are the bits of one rank holding them all, and near the
 * CPU twin's. n spans several blocks of the largest height. */
static void scores_do_not_depend_on_the_rank(gc_backend *gpu, int qp, int C)
{
    const int64_t n = 600001, cut[4] = { 0, 123457, 400000, n }; /* ranks cross blocks of up to 262,144 */
    double *z = malloc((size_t)n * qp * sizeof *z), *theta = malloc((size_t)qp * C * sizeof *theta);
    double *v = malloc((size_t)qp * C * sizeof *v), *whole = malloc((size_t)n * sizeof *whole);
    double *split = malloc((size_t)n * sizeof *split), *cpu = malloc((size_t)n * sizeof *cpu);
    int32_t *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n * qp; ++i) z[i] = uniform() - 0.5;
    for (int64_t i = 0; i < n; ++i) y[i] = (int32_t)(i % C);
    for (int t = 0; t < qp * C; ++t) {
        theta[t] = uniform();
        v[t] = 10.0 * uniform();
    }
    gc_bico_device *dev = NULL;
    CHECK(gpu->ops->bico_attach(gpu, 0, n, qp, C, z, y, &dev) == GC_OK);
    CHECK(gpu->ops->bico_scores(gpu, dev, theta, v, whole) == GC_OK);
    gpu->ops->bico_detach(gpu, dev);
    for (int r = 0; r < 3; ++r) {
        const int64_t lo = cut[r], rows = cut[r + 1] - cut[r];
        CHECK(gpu->ops->bico_attach(gpu, lo, rows, qp, C, z + lo * qp, y + lo, &dev) == GC_OK);
        CHECK(gpu->ops->bico_scores(gpu, dev, theta, v, split + lo) == GC_OK);
        gpu->ops->bico_detach(gpu, dev);
    }
    CHECK(memcmp(whole, split, (size_t)n * sizeof *whole) == 0);
    gc_cpu_bico_scores(z, y, n, qp, C, theta, v, cpu);
    double scale = max_abs(cpu, n), worst = 0.0;
    for (int64_t i = 0; i < n; ++i) worst = fmax(worst, fabs(cpu[i] - whole[i]));
    CHECK(worst <= 1e-9 * scale);
    free(z);
    free(theta);
    free(v);
    free(whole);
    free(split);
    free(cpu);
    free(y);
}

/* The host's scan (select_bico.c): the `want` best untaken rows, best first, NaN never. */
static void scan(const double *scores, const char *taken, int64_t n, int64_t first_row, int want, gc_omp_pair *best)
{
    for (int t = 0; t < want; ++t) best[t] = GC_OMP_NONE;
    for (int64_t i = 0; i < n; ++i) {
        const gc_omp_pair c = { scores[i], first_row + i };
        if (taken[i] || !gc_omp_pair_before(c, best[want - 1])) continue;
        int t = want - 1;
        for (; t > 0 && gc_omp_pair_before(c, best[t - 1]); --t) best[t] = best[t - 1];
        best[t] = c;
    }
}

/* bico_best returns what the scan of bico_scores' output picks, round after round with the winners
 * taken: rows repeated (tied scores go to the lower row), −0 and +0 scores, NaN rows never. */
static void best_is_the_scan_of_the_scores(gc_backend *gpu, int qp, int C)
{
    const int64_t n = 50000, first_row = 777, period = 1000;
    const int want = 37;
    double *z = malloc((size_t)n * qp * sizeof *z), *theta = malloc((size_t)qp * C * sizeof *theta);
    double *v = malloc((size_t)qp * C * sizeof *v), *scores = malloc((size_t)n * sizeof *scores);
    int32_t *y = malloc((size_t)n * sizeof *y);
    char *taken = calloc((size_t)n, 1);
    for (int64_t i = 0; i < n; ++i) {
        y[i] = (int32_t)((i % period) % C);
        for (int j = 0; j < qp; ++j) /* every `period` rows the same row again: tied scores */
            z[i * qp + j] = i < period ? uniform() : z[(i % period) * qp + j];
    }
    for (int j = 0; j < qp; ++j) z[5 * qp + j] = 0.0; /* scores of 0 */
    z[17 * qp] = NAN;                                 /* a NaN score, and its copies */
    gc_bico_device *dev = NULL;
    CHECK(gpu->ops->bico_attach(gpu, first_row, n, qp, C, z, y, &dev) == GC_OK);
    for (int round = 0; round < 4; ++round) {
        for (int t = 0; t < qp * C; ++t) {
            theta[t] = uniform();
            v[t] = round == 3 ? -uniform() * uniform() : uniform();
        }
        gc_omp_pair got[37], expect[37];
        CHECK(gpu->ops->bico_scores(gpu, dev, theta, v, scores) == GC_OK);
        scan(scores, taken, n, first_row, want, expect);
        CHECK(gpu->ops->bico_best(gpu, dev, theta, v, want, got) == GC_OK);
        int64_t local[37];
        for (int t = 0; t < want; ++t) {
            CHECK(got[t].index == expect[t].index);
            CHECK(memcmp(&got[t].score, &expect[t].score, sizeof got[t].score) == 0 ||
                  got[t].score == expect[t].score); /* −0 and +0 */
            CHECK(got[t].index != INT64_MAX && (got[t].index - first_row) % period != 17);
            local[t] = got[t].index - first_row;
            taken[local[t]] = 1;
        }
        CHECK(gpu->ops->bico_take(gpu, dev, want, local) == GC_OK);
    }
    gpu->ops->bico_detach(gpu, dev);
    free(z);
    free(theta);
    free(v);
    free(scores);
    free(y);
    free(taken);
}

int main(int argc, char **argv)
{
    SKIP_WITHOUT_GPU();
    MPI_Init(&argc, &argv);
    gc_backend *cpu = NULL, *gpu = NULL;
    CHECK(gc_backend_cpu_create(&cpu) == GC_OK);
    CHECK(gc_backend_cuda_create(0, &gpu) == GC_OK);
    srand(5);
    features_equal_the_cpu(cpu, gpu, 1500, 8, 100, 0.0); /* median γ */
    features_equal_the_cpu(cpu, gpu, 2048, 64, 300, 0.0);
    features_equal_the_cpu(cpu, gpu, 700, 3, 40, 2.0);     /* narrow kernel: many small eigenvalues dropped */
    features_equal_the_cpu(cpu, gpu, 3000, 33, 500, 0.01); /* wide kernel */
    scores_do_not_depend_on_the_rank(gpu, 40, 3);          /* θᵀz and Vᵀz */
    scores_do_not_depend_on_the_rank(gpu, 24, 30);         /* 2C > q': the quadratic form */
    best_is_the_scan_of_the_scores(gpu, 30, 4);
    best_is_the_scan_of_the_scores(gpu, 10, 8);
    summary_equals_a_direct_sum(gpu, 0);
    summary_equals_a_direct_sum(gpu, 1);
    select_on_the_gpu_equals_the_cpu(cpu, gpu, 1, 0);
    select_on_the_gpu_equals_the_cpu(cpu, gpu, 5, 1);
    device_alone_equals_host_x(cpu, gpu, GC_PRECISION_FP32);
    device_alone_equals_host_x(cpu, gpu, GC_PRECISION_BF16);
    gc_backend_destroy(gpu);
    gc_backend_destroy(cpu);
    MPI_Finalize();
    TEST_MAIN_END();
}

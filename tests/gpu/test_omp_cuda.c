/* The CUDA OMP ops equal their CPU oracles (kernels/cpu/omp_cpu.c): the largest |e| and the exact
 * per-problem targets bit for bit; each problem's best rows in the same order and scores within
 * 1e-12 relative, for one and for many problems in one pass (rows of the problems interleaved, some
 * problems wanting nothing), float4 and scalar row widths, signed and absolute scores, excluded and
 * zero rows, duplicated rows (ties to the lower row), rows whose float prescreen overflows or
 * underflows (kernels/omp_prescreen.h) and lists of several candidates; gc_select_omp
 * scoring on the GPU selects the CPU path's coreset, per class included, from host rows and from the
 * embedding engine's resident copy. The quality ops equal theirs (kernels/cpu/quality_cpu.c) bit for
 * bit, resident or copied up in blocks, and rows split in two give the same sums. Exit 77 without a
 * GPU. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "kernels/cpu/omp_cpu.h"
#include "kernels/cpu/quality_cpu.h"
#include "kernels/cuda/omp_cuda.h"
#include "kernels/cuda/quality_cuda.h"
#include "src/select/quality.h"
#include "src/select/select_omp.h"

/* The ops alone: no embedding engine, so nothing is resident and rows are copied up. */
static const gc_backend_ops cuda_ops = { .name = "cuda",
                                         .omp_attach = gc_cuda_omp_attach,
                                         .omp_targets = gc_cuda_omp_targets,
                                         .omp_exclude = gc_cuda_omp_exclude,
                                         .omp_best = gc_cuda_omp_best,
                                         .omp_detach = gc_cuda_omp_detach,
                                         .quality_max_abs = gc_cuda_quality_max_abs,
                                         .quality_sums = gc_cuda_quality_sums };

static double uniform(void) { return (double)rand() / RAND_MAX - 0.5; }

/* The precision rows are made at (kernels/precision.h): the backend under test stores them at it. */
static gc_precision rows_precision = GC_PRECISION_FP32;

/* With extreme_magnitudes (fp32 and bf16, whose exponent range is float's): every 7th row scaled by
 * 2¹²⁶, so that its float prescreen overflows, and every 11th by 2⁻¹⁴⁰, so that it is subnormal. */
static int extreme_magnitudes = 0;

/* Rows: Gaussian-ish, every 20th zero, every 50th a copy of the row before it; rounded to
 * rows_precision, as the embedding engine leaves them. */
static void random_rows(int64_t n, int D, float *e)
{
    for (int64_t i = 0; i < n; ++i) {
        const float scale = !extreme_magnitudes ? 1.0f : i % 7 == 5 ? 0x1p126f : i % 11 == 4 ? 0x1p-140f : 1.0f;
        for (int j = 0; j < D; ++j)
            e[i * D + j] = scale * (i % 20 == 7 ? 0.0f : i % 50 == 11 ? e[(i - 1) * D + j] : (float)(uniform() + 0.1));
    }
    gc_round_array(rows_precision, e, n * D);
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

/* Attach, targets and three passes of G problems (G = 1: problem ids NULL), winners excluded after
 * each pass on both sides. */
static void scores_equal_the_cpu(gc_backend *b, int64_t n, int D, int G, int signed_scores, int count)
{
    float *e = malloc((size_t)(n ? n : 1) * D * sizeof *e), *work = malloc((size_t)(n ? n : 1) * sizeof *work);
    double *w = malloc((size_t)(n ? n : 1) * sizeof *w), *r = malloc((size_t)G * D * sizeof *r);
    int32_t *problem = G > 1 ? malloc((size_t)(n ? n : 1) * sizeof *problem) : NULL;
    int64_t *acc_cpu = calloc((size_t)2 * G * D, sizeof *acc_cpu),
            *acc_gpu = calloc((size_t)2 * G * D, sizeof *acc_gpu);
    const size_t room = (size_t)(n / 10 + 1) + (size_t)G * count; /* every 10th row, then a pass's winners */
    int64_t *gone = malloc(room * sizeof *gone);
    int32_t *gone_problem = malloc(room * sizeof *gone_problem);
    int *want = malloc((size_t)G * sizeof *want);
    gc_omp_pair *cpu = malloc((size_t)G * count * sizeof *cpu), *gpu = malloc((size_t)G * count * sizeof *gpu);
    random_rows(n, D, e);
    for (int64_t i = 0; i < n && problem; ++i) problem[i] = (int32_t)((i * 7 + i / 5) % G);
    double max_cpu = gc_cpu_omp_weights(e, n, D, w), max_gpu = -1.0;
    gc_omp_device *dev = NULL;
    int rc = gc_cuda_omp_attach(b, n, D, e, problem, G, &max_gpu, &dev);
    if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
    CHECK(rc == GC_OK);
    CHECK(max_gpu == max_cpu);
    int exponent;
    frexp(max_cpu > 0.0 ? max_cpu : 1.0, &exponent);
    const double scale = ldexp(1.0, 32 - exponent);
    CHECK(gc_cpu_omp_targets(e, n, D, problem, G, scale, acc_cpu) == GC_OK);
    CHECK(gc_cuda_omp_targets(b, dev, scale, acc_gpu) == GC_OK);
    CHECK(memcmp(acc_cpu, acc_gpu, (size_t)2 * G * D * sizeof *acc_cpu) == 0);
    /* Every 10th row excluded before the first pass. */
    int excluded = 0;
    for (int64_t i = 3; i < n; i += 10, ++excluded) {
        w[i] = 0.0;
        gone[excluded] = i;
        gone_problem[excluded] = problem ? problem[i] : 0;
    }
    CHECK(gc_cuda_omp_exclude(b, dev, excluded, gone, problem ? gone_problem : NULL) == GC_OK);
    for (int j = 0; j < G * D; ++j) r[j] = 10.0 * uniform();
    char what[128];
    for (int round = 0; round < 3; ++round) {
        snprintf(what, sizeof what, "n=%lld D=%d G=%d signed=%d count=%d round %d", (long long)n, D, G, signed_scores,
                 count, round);
        for (int g = 0; g < G; ++g) want[g] = G > 2 && g % 3 == 1 ? 0 : count - (g + round) % count;
        CHECK(gc_cpu_omp_best(e, n, D, problem, G, r, w, signed_scores, want, count, work, cpu) == GC_OK);
        rc = gc_cuda_omp_best(b, dev, r, signed_scores, want, count, gpu);
        if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
        CHECK(rc == GC_OK);
        check_lists(cpu, gpu, G * count, what);
        /* The winners leave, as in OMP; the next round must see them gone on both sides. */
        excluded = 0;
        for (int g = 0; g < G; ++g)
            for (int t = 0; t < want[g]; ++t)
                if (cpu[g * count + t].index != INT64_MAX) {
                    w[cpu[g * count + t].index] = 0.0;
                    gone[excluded] = cpu[g * count + t].index;
                    gone_problem[excluded++] = g;
                }
        CHECK(gc_cuda_omp_exclude(b, dev, excluded, gone, problem ? gone_problem : NULL) == GC_OK);
    }
    /* Every score, row by row, against the plain double loop: the best of each problem. */
    double *all = malloc((size_t)(n ? n : 1) * sizeof *all);
    gc_cpu_omp_scores(e, n, D, problem, r, w, signed_scores, all);
    for (int g = 0; g < G; ++g) want[g] = 1;
    CHECK(gc_cuda_omp_best(b, dev, r, signed_scores, want, count, gpu) == GC_OK);
    for (int g = 0; g < G; ++g) {
        int64_t best = -1;
        for (int64_t i = 0; i < n; ++i)
            if ((problem ? problem[i] : 0) == g && all[i] > -INFINITY && (best < 0 || all[i] > all[best])) best = i;
        CHECK(gpu[g * count].index == (best < 0 ? INT64_MAX : best));
    }
    gc_cuda_omp_detach(b, dev);
    free(all);
    free(e);
    free(work);
    free(w);
    free(r);
    free(problem);
    free(acc_cpu);
    free(acc_gpu);
    free(gone);
    free(gone_problem);
    free(want);
    free(cpu);
    free(gpu);
}

static void same_coreset(const gc_coreset *cpu, const gc_coreset *gpu, const char *what)
{
    CHECK(cpu->k == gpu->k);
    int differ = 0;
    for (int64_t t = 0; t < cpu->k && t < gpu->k; ++t)
        differ += cpu->index[t] != gpu->index[t] || cpu->weight[t] != gpu->weight[t] || cpu->gain[t] != gpu->gain[t];
    if (differ) fprintf(stderr, "%s: %d atoms differ\n", what, differ);
    CHECK(differ == 0);
    CHECK(cpu->objective == gpu->objective);
}

static void select_on_the_gpu_equals_the_cpu(gc_backend *b, int classes, int per_class, int nonneg, int batch)
{
    const int64_t n = 20000;
    const int D = 64;
    float *e = malloc((size_t)n * D * sizeof *e), *loss = calloc((size_t)n, sizeof *loss);
    int32_t *y = malloc((size_t)n * sizeof *y);
    random_rows(n, D, e);
    for (int64_t i = 0; i < n; ++i) y[i] = (int32_t)(i % 7 < 3 ? i % classes : (i / 7) % (classes / 2 + 1));
    gc_local_rows rows = { MPI_COMM_WORLD, 0, 1, n, 0, n, D, classes, e, y, loss };
    gc_omp_options opt = { .per_class = per_class, .ridge = 0.0, .nonneg = nonneg, .batch = batch };
    const gc_run_context on_cpu = { 0 }, on_gpu = { .backend = b };
    gc_coreset cpu, gpu;
    CHECK(gc_select_omp(&on_cpu, &rows, &opt, 60, &cpu) == GC_OK);
    int rc = gc_select_omp(&on_gpu, &rows, &opt, 60, &gpu);
    if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
    CHECK(rc == GC_OK);
    char what[96];
    snprintf(what, sizeof what, "select classes=%d per_class=%d nonneg=%d batch=%d", classes, per_class, nonneg, batch);
    same_coreset(&cpu, &gpu, what);
    gc_coreset_destroy(&cpu);
    gc_coreset_destroy(&gpu);
    free(e);
    free(loss);
    free(y);
}

/* The quality ops against the CPU twins: max |e| and the exact sums bit for bit, and the sums of the
 * rows split in two (as over two ranks) the same. */
static void quality_equals_the_cpu(gc_backend *b, const float *e, int64_t n, int D, int64_t k, const char *what)
{
    const gc_random_subsets subsets = { .count = GC_RANDOM_BASELINE_SEEDS, .n_global = n, .size = k, .seed = 9 };
    const size_t values = 2 * (size_t)(1 + subsets.count) * D;
    int64_t *cpu = calloc(values, sizeof *cpu), *gpu = calloc(values, sizeof *gpu),
            *halves = calloc(values, sizeof *halves);
    double max_gpu = -1.0, max_cpu = gc_cpu_quality_max_abs(e, n, D);
    CHECK(gc_cuda_quality_max_abs(b, e, n, D, &max_gpu) == GC_OK);
    CHECK(max_gpu == max_cpu);
    int exponent;
    frexp(max_cpu > 0.0 ? max_cpu : 1.0, &exponent);
    const double scale = ldexp(1.0, 32 - exponent);
    CHECK(gc_cpu_quality_sums(e, n, D, 0, &subsets, scale, cpu) == GC_OK);
    int rc = gc_cuda_quality_sums(b, e, n, D, 0, &subsets, scale, gpu);
    if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
    CHECK(rc == GC_OK);
    const int64_t half = n / 3;
    CHECK(gc_cuda_quality_sums(b, e, half, D, 0, &subsets, scale, halves) == GC_OK);
    CHECK(gc_cpu_quality_sums(e + half * D, n - half, D, half, &subsets, scale, halves) == GC_OK);
    if (memcmp(cpu, gpu, values * sizeof *cpu) != 0) fprintf(stderr, "%s: the quality sums differ\n", what);
    CHECK(memcmp(cpu, gpu, values * sizeof *cpu) == 0);
    CHECK(memcmp(cpu, halves, values * sizeof *cpu) == 0);
    free(cpu);
    free(gpu);
    free(halves);
}

/* The largest magnitude is not finite where a value is not, as on the CPU: a NaN anywhere makes it a
 * NaN, an infinity (either sign) +∞ (the check of rows given from outside, gc_select_embeddings). */
static void max_abs_sees_every_non_finite_value(gc_backend *b)
{
    const int64_t n = 5001;
    const int D = 33;
    float *e = malloc((size_t)n * D * sizeof *e);
    random_rows(n, D, e);
    const float bad[] = { NAN, -NAN, INFINITY, -INFINITY };
    const int64_t at[] = { 0, n * D / 2 + 5, n * D - 1 };
    for (int k = 0; k < 4; ++k)
        for (int a = 0; a < 3; ++a) {
            const float keep = e[at[a]];
            e[at[a]] = bad[k];
            double gpu = 0.0;
            const double cpu = gc_cpu_quality_max_abs(e, n, D);
            CHECK(gc_cuda_quality_max_abs(b, e, n, D, &gpu) == GC_OK);
            CHECK(k < 2 ? isnan(gpu) && isnan(cpu) : gpu == INFINITY && cpu == INFINITY);
            e[at[a]] = keep;
        }
    free(e);
}

/* Embeddings computed by the CUDA backend stay on its device, and OMP scores them there (every class
 * in one pass) and the quality pass reads them there: the coreset must be the CPU's, atom for atom,
 * and the gradient errors the same bits. */
static void select_from_resident_embeddings_equals_the_cpu(int per_class, gc_precision precision)
{
    const int64_t n = 30000;
    const int d = 24, classes = 4, hidden = 40, sketch = 64;
    gc_backend *real = NULL;
    CHECK(gc_backend_cuda_create(0, &real) == GC_OK);
    real->precision = precision;
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
    CHECK(gc_cuda_resident(real, e, n, sketch).data == NULL); /* only kept when asked for */
    cfg.keep_on_device = 1;
    CHECK(real->ops->embed(real, &cfg, n, d, x, y, e, loss) == GC_OK);
    CHECK(gc_cuda_resident(real, e, n, sketch).data != NULL);
    CHECK(gc_cuda_resident(real, e, n, sketch).precision == precision);
    int64_t unrounded = 0; /* the engine rounded every value */
    for (int64_t i = 0; i < n * sketch; ++i) unrounded += gc_round_to(precision, e[i]) != e[i];
    CHECK(unrounded == 0);
    gc_local_rows rows = { MPI_COMM_WORLD, 0, 1, n, 0, n, sketch, classes, e, y, loss };
    gc_omp_options opt = { .per_class = per_class, .ridge = 1e-3, .batch = 2 };
    const gc_run_context on_cpu = { 0 }, on_gpu = { .backend = real };
    gc_coreset cpu, gpu;
    CHECK(gc_select_omp(&on_cpu, &rows, &opt, 40, &cpu) == GC_OK);
    CHECK(gc_select_omp(&on_gpu, &rows, &opt, 40, &gpu) == GC_OK);
    same_coreset(&cpu, &gpu, per_class ? "resident embeddings, per class" : "resident embeddings");
    quality_equals_the_cpu(real, e, n, sketch, 40, "resident embeddings");
    double errors_cpu[2], errors_gpu[2];
    CHECK(gc_gradient_errors(NULL, &rows, &cpu, 3, &errors_cpu[0], &errors_cpu[1]) == GC_OK);
    CHECK(gc_gradient_errors(real, &rows, &cpu, 3, &errors_gpu[0], &errors_gpu[1]) == GC_OK);
    CHECK(errors_cpu[0] == errors_gpu[0] && errors_cpu[1] == errors_gpu[1]);
    gc_coreset_destroy(&gpu);

    /* E on the device alone (docs/design.md §3.2): embed given no e keeps the only copy there;
     * rows_get returns the host run's rows, OMP and the quality pass read it through a NULL e, and
     * the coreset and the errors are the CPU's. */
    CHECK(real->ops->rows_on_device(real, n, sketch));
    int64_t probe[] = { 0, n - 1, 12345, 7, 7 };
    float *got = malloc(5 * (size_t)sketch * sizeof *got);
    CHECK(real->ops->rows_get(real, 5, probe, got) != GC_OK); /* the copy mirrors a host E: not its own */
    gc_error_clear();
    cfg.keep_on_device = 0;
    CHECK(real->ops->embed(real, &cfg, n, d, x, y, NULL, loss) != GC_OK); /* nowhere to put E */
    gc_error_clear();
    cfg.keep_on_device = 1;
    CHECK(real->ops->embed(real, &cfg, n, d, x, y, NULL, loss) == GC_OK);
    CHECK(gc_cuda_resident(real, NULL, n, sketch).data != NULL);
    CHECK(gc_cuda_resident(real, e, n, sketch).data == NULL);
    CHECK(real->ops->rows_get(real, 5, probe, got) == GC_OK);
    int differ = 0;
    for (int t = 0; t < 5; ++t) differ += memcmp(got + t * sketch, e + probe[t] * sketch, sketch * sizeof *e) != 0;
    CHECK(differ == 0);
    gc_local_rows alone = rows;
    alone.e = NULL;
    CHECK(gc_select_omp(&on_gpu, &alone, &opt, 40, &gpu) == GC_OK);
    same_coreset(&cpu, &gpu, "embeddings on the device alone");
    CHECK(gc_gradient_errors(real, &alone, &cpu, 3, &errors_gpu[0], &errors_gpu[1]) == GC_OK);
    CHECK(errors_cpu[0] == errors_gpu[0] && errors_cpu[1] == errors_gpu[1]);
    /* features read from host x, kept alone: x rounded to the precision, through the batches */
    gc_embed_config features = { .kind = GC_EMBED_FEATURES, .keep_on_device = 1 };
    CHECK(real->ops->embed(real, &features, n, d, x, y, NULL, loss) == GC_OK);
    CHECK(real->ops->rows_get(real, 5, probe, got) == GC_OK);
    differ = 0;
    for (int t = 0; t < 5; ++t)
        for (int j = 0; j < d; ++j) differ += got[t * d + j] != gc_round_to(precision, x[probe[t] * d + j]);
    CHECK(differ == 0);
    /* rows_put: rows sent from elsewhere kept next to E, row t named −1 − t, until the next call */
    float *sent = malloc(2 * (size_t)d * sizeof *sent);
    for (int j = 0; j < 2 * d; ++j) sent[j] = (float)rand() / RAND_MAX - 0.5f;
    CHECK(real->ops->rows_put(real, 2, d, sent) == GC_OK);
    int64_t mixed[] = { -2, probe[2], -1 };
    CHECK(real->ops->rows_get(real, 3, mixed, got) == GC_OK);
    CHECK(memcmp(got, sent + d, (size_t)d * sizeof *got) == 0 &&
          memcmp(got + 2 * d, sent, (size_t)d * sizeof *got) == 0);
    for (int j = 0; j < d; ++j) CHECK(got[d + j] == gc_round_to(precision, x[probe[2] * d + j]));
    CHECK(real->ops->rows_put(real, 0, d, NULL) == GC_OK);
    CHECK(real->ops->rows_get(real, 1, mixed, got) != GC_OK); /* dropped */
    gc_error_clear();
    free(sent);
    free(got);
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
    gc_backend b = { .ops = &cuda_ops, .device_id = 0, .description = "cuda:0" };
    srand(3);
    const int64_t sizes[] = { 0, 1, 37, 1000, 5001 };
    /* Widths that take each layout of score_rows: 16-byte packs read by 8, 16 or 32 lanes a row, in
     * one step or several (520: the last one partly past D), and single values (37). */
    const int widths[] = { 16, 37, 64, 100, 128, 256, 520 }, problem_counts[] = { 1, 3, 40 };
    const int n_widths = (int)(sizeof widths / sizeof *widths);
    for (int s = 0; s < 5; ++s)
        for (int d = 0; d < n_widths; ++d)
            for (int p = 0; p < 3; ++p)
                for (int signed_scores = 0; signed_scores <= 1; ++signed_scores) {
                    scores_equal_the_cpu(&b, sizes[s], widths[d], problem_counts[p], signed_scores, 1);
                    scores_equal_the_cpu(&b, sizes[s], widths[d], problem_counts[p], signed_scores, 7);
                }
    scores_equal_the_cpu(&b, 300000, 24, 1000, 0, 2); /* many classes, several warps each */
    extreme_magnitudes = 1; /* the prescreen's overflow and underflow: the exact winners all the same */
    for (int d = 0; d < n_widths; ++d)
        for (int signed_scores = 0; signed_scores <= 1; ++signed_scores) {
            scores_equal_the_cpu(&b, 5001, widths[d], 1, signed_scores, 1);
            scores_equal_the_cpu(&b, 5001, widths[d], 3, signed_scores, 1);
        }
    extreme_magnitudes = 0;
    select_on_the_gpu_equals_the_cpu(&b, 3, 0, 0, 1);
    select_on_the_gpu_equals_the_cpu(&b, 3, 1, 1, 4);
    select_on_the_gpu_equals_the_cpu(&b, 12, 1, 0, 1);
    select_on_the_gpu_equals_the_cpu(&b, 12, 1, 0, 3);
    const int quality_widths[] = { 1, 10, 33, 128 };
    for (int q = 0; q < 4; ++q) {
        const int D = quality_widths[q];
        const int64_t n = 70001;
        float *e = malloc((size_t)n * D * sizeof *e);
        random_rows(n, D, e);
        quality_equals_the_cpu(&b, e, n, D, 500, "copied up");
        free(e);
    }
    max_abs_sees_every_non_finite_value(&b);
    { /* more than one block of 64 MiB copied up */
        const int64_t n = 600000;
        const int D = 32;
        float *e = malloc((size_t)n * D * sizeof *e);
        random_rows(n, D, e);
        quality_equals_the_cpu(&b, e, n, D, 1000, "copied up in blocks");
        free(e);
    }
    select_from_resident_embeddings_equals_the_cpu(0, GC_PRECISION_FP32);
    select_from_resident_embeddings_equals_the_cpu(1, GC_PRECISION_FP32);
    /* Half precision: rows stored at 2 bytes on the device (copied up and narrowed, or kept so by the
     * engine) give the CPU twins' results on the same rounded values, bit for bit. */
    for (int p = GC_PRECISION_BF16; p <= GC_PRECISION_FP16; ++p) {
        b.precision = rows_precision = (gc_precision)p;
        for (int d = 0; d < n_widths; ++d)
            for (int signed_scores = 0; signed_scores <= 1; ++signed_scores) {
                scores_equal_the_cpu(&b, 5001, widths[d], 3, signed_scores, 7);
                scores_equal_the_cpu(&b, 1000, widths[d], 1, signed_scores, 1);
            }
        scores_equal_the_cpu(&b, 1100000, 24, 40, 0, 2); /* 105 MB of floats: narrowed in two blocks */
        extreme_magnitudes = p == GC_PRECISION_BF16;
        for (int d = 0; d < n_widths && extreme_magnitudes; ++d) scores_equal_the_cpu(&b, 5001, widths[d], 3, 0, 1);
        extreme_magnitudes = 0;
        select_on_the_gpu_equals_the_cpu(&b, 12, 1, 0, 3);
        const int64_t n = 70001;
        float *e = malloc((size_t)n * 33 * sizeof *e);
        random_rows(n, 33, e);
        quality_equals_the_cpu(&b, e, n, 33, 500, "copied up, half precision");
        free(e);
        select_from_resident_embeddings_equals_the_cpu(1, (gc_precision)p);
    }
    MPI_Finalize();
    TEST_MAIN_END();
}

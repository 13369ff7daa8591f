/* The CUDA backend computes the same embeddings and losses as the CPU backend (its oracle) within
 * 1e-5 relative, for every kind, activation and sketch, from pageable and from pinned host memory,
 * over many batches (all slots of the pipeline, a partial last batch). At bf16 and fp16 (both
 * backends' precision set): within that plus one unit in the last place of the format per value
 * (the GEMMs' last float bits may put a value on the other side of a rounding boundary), every GPU
 * value representable in the format, exactly the GPU's own fp32 values rounded (the batch height
 * does not depend on the precision) and the loss the fp32 run's. At every precision the device's
 * resident copy (4 or 2 bytes a value; its whole blocks made in place, its first and last copied)
 * is the host output bit for bit. Exits 77 (ctest's skip code) without a GPU. */
#include <cuda_runtime_api.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "io/synthetic.h"
#include "kernels/backend.h"
#include "kernels/cuda/omp_cuda.h" /* gc_cuda_resident */

enum { D_IN = 64 };
/* The cases' widths. */
#define FP32 GC_PRECISION_FP32
#define BF16 GC_PRECISION_BF16
#define FP16 GC_PRECISION_FP16

typedef struct {
    const char *name;
    gc_embedding_kind kind;
    int sketch;
    int draws;
    int hidden[2], n_hidden, classes;
    gc_activation act;
    int64_t rows, batch_rows; /* batch_rows 0: the backend's own choice */
    int pinned;
    gc_precision precision;
} embed_case;

/* Worst |gpu − cpu| over a row relative to the row's largest |cpu| (components that cancel to
 * almost zero are judged against the row); losses relative to max(1, |loss|). */
static double row_error(const float *gpu, const float *cpu, int D)
{
    double scale = 1e-30, worst = 0.0;
    for (int j = 0; j < D; ++j) {
        scale = fmax(scale, fabs(cpu[j]));
        worst = fmax(worst, fabs((double)gpu[j] - cpu[j]));
    }
    return isnan(worst) ? INFINITY : worst / scale;
}

/* A 2-byte value of the format as a float, from its definition (independent of the engine's
 * widening): bf16 is the high half of a float; half is ±2^(e−15)·(1 + m/1024), or ±m·2⁻²⁴ for e = 0. */
static float widen_reference(gc_precision p, uint16_t h)
{
    if (p == GC_PRECISION_BF16) return gc_bits_float((uint32_t)h << 16);
    const int e = (h >> 10) & 31, m = h & 1023;
    const float magnitude = e == 0    ? ldexpf((float)m, -24)
                            : e == 31 ? (m ? NAN : INFINITY)
                                      : ldexpf(1024.0f + m, e - 25);
    return h & 0x8000u ? -magnitude : magnitude;
}

/* Worst |gpu − cpu| over the values of narrow runs, beyond 1e-5 of the row's scale plus one unit in
 * the last place of the format at the value (relative 2⁻⁷ bf16, 2⁻¹⁰ fp16, and fp16's subnormal
 * step 2⁻²⁴); counts values the format does not represent. Returns the worst excess (≤ 0: within). */
static double narrow_excess(gc_precision p, const float *gpu, const float *cpu, int D, int64_t *unrepresentable)
{
    const double rel = p == GC_PRECISION_BF16 ? 0x1p-7 : 0x1p-10,
                 subnormal_step = p == GC_PRECISION_FP16 ? 0x1p-24 : 0.0;
    double scale = 1e-30, worst = -INFINITY;
    for (int j = 0; j < D; ++j) scale = fmax(scale, fabs(cpu[j]));
    for (int j = 0; j < D; ++j) {
        const double allowed = 1e-5 * scale + rel * fmax(fabs(gpu[j]), fabs(cpu[j])) + subnormal_step;
        const double diff = fabs((double)gpu[j] - cpu[j]);
        worst = fmax(worst, isnan(diff) ? INFINITY : diff - allowed);
        *unrepresentable += gc_round_to(p, gpu[j]) != gpu[j];
    }
    return worst;
}

/* Values differing between the device copy the last embed call kept of `host` [n × D] and host
 * itself, widened from the stored bits by widen_reference (all of them when no copy was kept). */
static int64_t resident_differences(gc_backend *gpu, gc_precision p, const float *host, int64_t n, int D)
{
    const int64_t values = n * D;
    gc_cuda_rows kept = gc_cuda_resident(gpu, host, n, D);
    if (kept.data == NULL || kept.precision != p) return values;
    const size_t width = (size_t)gc_precision_bytes(p);
    unsigned char *device = malloc((size_t)values * width);
    CHECK(device != NULL);
    if (device == NULL) return values;
    CHECK(cudaMemcpy(device, kept.data, (size_t)values * width, cudaMemcpyDeviceToHost) == cudaSuccess);
    int64_t differs = 0;
    for (int64_t i = 0; i < values; ++i) {
        float v;
        if (width == sizeof v)
            memcpy(&v, device + i * width, sizeof v);
        else {
            uint16_t h;
            memcpy(&h, device + i * width, sizeof h);
            v = widen_reference(p, h);
        }
        differs += memcmp(&v, &host[i], sizeof v) != 0;
    }
    free(device);
    return differs;
}

/* The GPU's narrow run against its own fp32 run (every value exactly rounded, the same loss); cfg
 * as the narrow run had it. Features are kept on the device only when generated there: then the
 * rows of `syn` are generated and narrowed on the device, and must give the host path's bits. */
static void narrow_run_rounds_the_fp32_run(gc_backend *gpu, gc_embed_config *cfg, const embed_case *t, const float *x,
                                           const int32_t *y, const float *e_narrow, const float *l_narrow,
                                           const gc_synthetic *syn)
{
    const int D = gc_embedding_dim(cfg, D_IN);
    const int64_t n = t->rows, values = n * D;
    float *e32 = malloc((size_t)values * sizeof *e32), *l32 = malloc((size_t)n * sizeof *l32);
    CHECK(e32 && l32);
    if (t->kind == GC_EMBED_FEATURES) {
        cfg->synthetic = syn;
        CHECK(gpu->ops->embed(gpu, cfg, n, D_IN, NULL, y, e32, l32) == GC_OK);
        cfg->synthetic = NULL;
        CHECK(memcmp(e32, e_narrow, (size_t)values * sizeof *e32) == 0);
        const int64_t differs = resident_differences(gpu, t->precision, e32, n, D);
        printf("%-34s generated on the device: resident copy: %lld values differ\n", t->name, (long long)differs);
        CHECK(differs == 0);
    }
    gpu->precision = GC_PRECISION_FP32;
    CHECK(gpu->ops->embed(gpu, cfg, n, D_IN, x, y, e32, l32) == GC_OK);
    gpu->precision = t->precision;
    int64_t not_rounded = 0;
    for (int64_t i = 0; i < values; ++i) {
        const float want = gc_round_to(t->precision, e32[i]);
        not_rounded += memcmp(&want, &e_narrow[i], sizeof want) != 0;
    }
    printf("%-34s against the GPU's fp32 run rounded: %lld differ\n", t->name, (long long)not_rounded);
    CHECK(not_rounded == 0);
    CHECK(memcmp(l32, l_narrow, (size_t)n * sizeof *l32) == 0);
    free(e32);
    free(l32);
}

static void *host_alloc(size_t bytes, int pinned)
{
    void *p = NULL;
    if (pinned) return cudaMallocHost(&p, bytes) == cudaSuccess ? p : NULL;
    return malloc(bytes);
}

static void host_free(void *p, int pinned)
{
    if (pinned)
        cudaFreeHost(p);
    else
        free(p);
}

/* read_x of gc_embed_config: rows straight from the generator, as `select` reads them from HDF5. */
static int read_synthetic(void *ctx, int64_t lo, int64_t n, float *dst)
{
    gc_synthetic_rows(ctx, lo, lo + n, dst, NULL);
    return GC_OK;
}

/* Values of a run that keeps E on the device with a host copy as stored (cfg->e_stored: 2 bytes a
 * value when narrow, pinned or not as the case's arrays) that, widened, differ from the float run's
 * e [n × D] or whose loss differs from its loss; the copy starts as all-ones bytes (NaN widened), so
 * a value never written counts too. */
static int64_t stored_copy_differences(gc_backend *gpu, const gc_embed_config *cfg, const embed_case *t, const float *x,
                                       const int32_t *y, const float *e, const float *loss, int64_t n, int D)
{
    const int64_t values = n * D;
    const size_t bytes = (size_t)values * gc_precision_bytes(t->precision);
    void *stored = host_alloc(bytes, t->pinned);
    float *wide = malloc((size_t)values * sizeof *wide), *l = malloc((size_t)n * sizeof *l);
    CHECK(stored && wide && l);
    memset(stored, 0xff, bytes);
    gc_embed_config with = *cfg;
    with.keep_on_device = 1;
    with.e_stored = stored;
    CHECK(gpu->ops->embed(gpu, &with, n, D_IN, x, y, NULL, l) == GC_OK);
    gc_widen_parallel(t->precision, wide, stored, values);
    int64_t differs = 0;
    for (int64_t i = 0; i < values; ++i) differs += memcmp(&wide[i], &e[i], sizeof *e) != 0;
    for (int64_t r = 0; r < n; ++r) differs += memcmp(&l[r], &loss[r], sizeof *l) != 0;
    host_free(stored, t->pinned);
    free(wide);
    free(l);
    return differs;
}

static void gpu_matches_cpu(gc_backend *cpu, gc_backend *gpu, const embed_case *t)
{
    gc_model models[4];
    for (int s = 0; s < t->draws; ++s) {
        CHECK(gc_model_init_draw(&models[s], D_IN, t->hidden, t->n_hidden, t->classes, 42, s) == GC_OK);
        models[s].activation = t->act;
    }
    gc_embed_config cfg = { .kind = t->kind,
                            .sketch_dim = t->sketch,
                            .hessian_damping = 1e-3,
                            .seed = 9,
                            .models = models,
                            .model_count = t->draws,
                            .keep_on_device = t->kind != GC_EMBED_FEATURES || t->precision != GC_PRECISION_FP32 };
    const int D = gc_embedding_dim(&cfg, D_IN);
    const int64_t n = t->rows;
    gc_synthetic syn;
    CHECK(gc_synthetic_parse("n=1000000,d=64,classes=1000,seed=3", &syn) == GC_OK);
    float *x = host_alloc((size_t)n * D_IN * sizeof(float), t->pinned);
    float *e_gpu = host_alloc((size_t)n * D * sizeof(float), t->pinned);
    float *e_cpu = malloc((size_t)n * D * sizeof(float)), *l_gpu = malloc((size_t)n * sizeof(float));
    float *l_cpu = malloc((size_t)n * sizeof(float));
    int32_t *y = malloc((size_t)n * sizeof *y);
    CHECK(x && e_gpu && e_cpu && l_gpu && l_cpu && y);
    gc_synthetic_rows(&syn, 0, n, x, y);
    for (int64_t r = 0; r < n; ++r) y[r] %= t->classes;
    for (size_t i = 0; i < (size_t)n * D; ++i) e_gpu[i] = NAN; /* poison: every output must be written */
    for (int64_t r = 0; r < n; ++r) l_gpu[r] = NAN;
    gpu->batch_rows = t->batch_rows;
    cpu->precision = gpu->precision = t->precision;
    int rc_cpu = cpu->ops->embed(cpu, &cfg, n, D_IN, x, y, e_cpu, l_cpu);
    int rc_gpu = gpu->ops->embed(gpu, &cfg, n, D_IN, x, y, e_gpu, l_gpu);
    if (rc_gpu != GC_OK) fprintf(stderr, "%s: %s\n", t->name, gc_error_message());
    CHECK(rc_cpu == GC_OK && rc_gpu == GC_OK);
    const int narrow = t->precision != GC_PRECISION_FP32;
    double worst = 0.0, worst_loss = 0.0, excess = -INFINITY;
    int64_t unrepresentable = 0;
    for (int64_t r = 0; r < n && rc_gpu == GC_OK; ++r) {
        worst = fmax(worst, row_error(e_gpu + (size_t)r * D, e_cpu + (size_t)r * D, D));
        if (narrow)
            excess = fmax(
                excess, narrow_excess(t->precision, e_gpu + (size_t)r * D, e_cpu + (size_t)r * D, D, &unrepresentable));
        double dl = fabs((double)l_gpu[r] - l_cpu[r]) / fmax(1.0, fabs(l_cpu[r]));
        worst_loss = fmax(worst_loss, isnan(dl) ? INFINITY : dl);
    }
    printf("%-34s D = %6d rows = %6lld  max rel. error: embedding %.2e, loss %.2e\n", t->name, D, (long long)n, worst,
           worst_loss);
    if (t->kind != GC_EMBED_FEATURES && rc_gpu == GC_OK) {
        const int64_t differs = resident_differences(gpu, t->precision, e_gpu, n, D);
        printf("%-34s resident copy: %lld values differ\n", t->name, (long long)differs);
        CHECK(differs == 0);
        const int64_t stored = stored_copy_differences(gpu, &cfg, t, x, y, e_gpu, l_gpu, n, D);
        printf("%-34s host copy as stored: %lld values differ\n", t->name, (long long)stored);
        CHECK(stored == 0);
    }
    if (narrow) {
        printf("%-34s beyond 1e-5 + one ulp of the format: %.2e (<= 0 passes); %lld values not in the format\n",
               t->name, excess, (long long)unrepresentable);
        CHECK(excess <= 0.0);
        CHECK(unrepresentable == 0);
        if (rc_gpu == GC_OK) narrow_run_rounds_the_fp32_run(gpu, &cfg, t, x, y, e_gpu, l_gpu, &syn);
    } else
        CHECK(worst <= 1e-5);
    CHECK(worst_loss <= 1e-5);
    /* Without x, every batch is read into the engine's pinned staging: the same bits come out. */
    float *e_read = malloc((size_t)n * D * sizeof(float)), *l_read = malloc((size_t)n * sizeof(float));
    CHECK(e_read && l_read);
    cfg.read_x = read_synthetic;
    cfg.read_ctx = &syn;
    CHECK(gpu->ops->embed(gpu, &cfg, n, D_IN, NULL, y, e_read, l_read) == GC_OK);
    CHECK(memcmp(e_read, e_gpu, (size_t)n * D * sizeof(float)) == 0);
    CHECK(memcmp(l_read, l_gpu, (size_t)n * sizeof(float)) == 0);
    /* A rank holding rows [lo, n) of the global index gets the bits the whole run got for them. */
    const int64_t lo = n / 3 + 1;
    cfg.read_x = NULL;
    cfg.first_row = lo;
    CHECK(gpu->ops->embed(gpu, &cfg, n - lo, D_IN, x + lo * D_IN, y + lo, e_read, l_read) == GC_OK);
    CHECK(memcmp(e_read, e_gpu + lo * D, (size_t)(n - lo) * D * sizeof(float)) == 0);
    CHECK(memcmp(l_read, l_gpu + lo, (size_t)(n - lo) * sizeof(float)) == 0);
    free(e_read);
    free(l_read);
    host_free(x, t->pinned);
    host_free(e_gpu, t->pinned);
    free(e_cpu);
    free(l_gpu);
    free(l_cpu);
    free(y);
    for (int s = 0; s < t->draws; ++s) gc_model_destroy(&models[s]);
    cpu->precision = gpu->precision = GC_PRECISION_FP32;
}

/* A label outside the model's classes, in the last batch of many, is the same one-line input error
 * on both backends (the CUDA engine checks the labels a batch at a time, after earlier batches have
 * gone), and the engine embeds the next call's rows as before. */
static void a_bad_label_is_a_clear_error(gc_backend *cpu, gc_backend *gpu)
{
    enum { ROWS = 5000, CLASSES = 7 };
    gc_model model;
    int hidden = 16;
    CHECK(gc_model_init_draw(&model, D_IN, &hidden, 1, CLASSES, 42, 0) == GC_OK);
    gc_embed_config cfg = { .kind = GC_EMBED_LOGITS, .hessian_damping = 1e-3, .models = &model, .model_count = 1 };
    float *x = calloc((size_t)ROWS * D_IN, sizeof *x), *e = malloc((size_t)ROWS * CLASSES * sizeof *e);
    float *e_again = malloc((size_t)ROWS * CLASSES * sizeof *e), *loss = malloc(ROWS * sizeof *loss);
    int32_t *y = calloc(ROWS, sizeof *y);
    CHECK(x && e && e_again && loss && y);
    gpu->batch_rows = 1000;
    CHECK(gpu->ops->embed(gpu, &cfg, ROWS, D_IN, x, y, e, loss) == GC_OK);
    y[ROWS - 1] = CLASSES;
    char message[2][256];
    gc_backend *both[2] = { cpu, gpu };
    for (int k = 0; k < 2; ++k) {
        CHECK(both[k]->ops->embed(both[k], &cfg, ROWS, D_IN, x, y, e_again, loss) == GC_ERR_INPUT);
        snprintf(message[k], sizeof message[k], "%s", gc_error_message());
        gc_error_clear();
    }
    printf("a bad label: \"%s\" (cpu), \"%s\" (cuda)\n", message[0], message[1]);
    CHECK(strcmp(message[0], message[1]) == 0 && strstr(message[1], "label 7") != NULL);
    y[ROWS - 1] = 0;
    CHECK(gpu->ops->embed(gpu, &cfg, ROWS, D_IN, x, y, e_again, loss) == GC_OK);
    CHECK(memcmp(e, e_again, (size_t)ROWS * CLASSES * sizeof *e) == 0);
    gpu->batch_rows = 0;
    free(x);
    free(e);
    free(e_again);
    free(loss);
    free(y);
    gc_model_destroy(&model);
}

static void an_absent_device_is_a_clear_error(int count)
{
    gc_backend *b = NULL;
    CHECK(gc_backend_cuda_create(count, &b) == GC_ERR_DEVICE);
    CHECK(b == NULL);
    CHECK(strstr(gc_error_message(), "GPU") != NULL);
    gc_error_clear();
}

int main(void)
{
    SKIP_WITHOUT_GPU();
    gc_backend *cpu = NULL, *gpu = NULL;
    CHECK(gc_backend_cpu_create(&cpu) == GC_OK);
    CHECK(gc_backend_cuda_create(0, &gpu) == GC_OK);
    if (cpu == NULL || gpu == NULL) {
        fprintf(stderr, "%s\n", gc_error_message());
        TEST_MAIN_END();
    }
    printf("device: %s\n", gpu->description);
    const embed_case cases[] = {
        { "logits relu", GC_EMBED_LOGITS, 0, 1, { 128, 96 }, 2, 10, GC_ACT_RELU, 10007, 1000, 0, FP32 },
        { "logits relu pinned", GC_EMBED_LOGITS, 0, 1, { 128, 96 }, 2, 10, GC_ACT_RELU, 10007, 1000, 1, FP32 },
        { "logits C=1000 gelu", GC_EMBED_LOGITS, 0, 1, { 48, 0 }, 1, 1000, GC_ACT_GELU, 5003, 700, 0, FP32 },
        { "logits single layer", GC_EMBED_LOGITS, 0, 1, { 0, 0 }, 0, 10, GC_ACT_RELU, 3001, 0, 0, FP32 },
        { "adacore tanh", GC_EMBED_ADACORE, 0, 1, { 32, 20 }, 2, 7, GC_ACT_TANH, 10007, 999, 0, FP32 },
        { "adacore C=1000 default batch", GC_EMBED_ADACORE, 0, 1, { 48, 0 }, 1, 1000, GC_ACT_RELU, 5003, 0, 0, FP32 },
        { "lastlayer relu", GC_EMBED_LASTLAYER, 0, 1, { 128, 96 }, 2, 10, GC_ACT_RELU, 10007, 1000, 0, FP32 },
        { "lastlayer gelu pinned", GC_EMBED_LASTLAYER, 0, 1, { 40, 0 }, 1, 12, GC_ACT_GELU, 4001, 333, 1, FP32 },
        { "lastlayer C=1000 unsketched", GC_EMBED_LASTLAYER, 0, 1, { 48, 0 }, 1, 1000, GC_ACT_RELU, 503, 100, 0, FP32 },
        { "lastlayer sketch 256", GC_EMBED_LASTLAYER, 256, 1, { 128, 96 }, 2, 10, GC_ACT_RELU, 10007, 1000, 0, FP32 },
        { "lastlayer sketch 1024 C=1000",
          GC_EMBED_LASTLAYER,
          1024,
          1,
          { 48, 0 },
          1,
          1000,
          GC_ACT_TANH,
          5003,
          0,
          0,
          FP32 },
        { "gmc 3 draws sketch 64", GC_EMBED_GMC, 64, 3, { 128, 0 }, 1, 10, GC_ACT_RELU, 10007, 1000, 0, FP32 },
        { "gmc 3 draws sketch 60 pinned", GC_EMBED_GMC, 60, 3, { 32, 20 }, 2, 7, GC_ACT_TANH, 10007, 2500, 1, FP32 },
        { "gmc 2 draws unsketched", GC_EMBED_GMC, 0, 2, { 20, 0 }, 1, 7, GC_ACT_RELU, 10007, 1000, 0, FP32 },
        { "features bf16", GC_EMBED_FEATURES, 0, 0, { 0, 0 }, 0, 10, GC_ACT_RELU, 3001, 1000, 0, BF16 },
        { "logits C=1000 bf16 pinned", GC_EMBED_LOGITS, 0, 1, { 48, 0 }, 1, 1000, GC_ACT_GELU, 5003, 700, 1, BF16 },
        { "logits relu fp16", GC_EMBED_LOGITS, 0, 1, { 128, 96 }, 2, 10, GC_ACT_RELU, 10007, 1000, 0, FP16 },
        { "adacore tanh bf16", GC_EMBED_ADACORE, 0, 1, { 32, 20 }, 2, 7, GC_ACT_TANH, 10007, 999, 0, BF16 },
        { "adacore C=1000 fp16", GC_EMBED_ADACORE, 0, 1, { 48, 0 }, 1, 1000, GC_ACT_RELU, 5003, 0, 0, FP16 },
        { "lastlayer relu fp16 pinned",
          GC_EMBED_LASTLAYER,
          0,
          1,
          { 128, 96 },
          2,
          10,
          GC_ACT_RELU,
          10007,
          1000,
          1,
          FP16 },
        { "lastlayer sketch 256 bf16",
          GC_EMBED_LASTLAYER,
          256,
          1,
          { 128, 96 },
          2,
          10,
          GC_ACT_RELU,
          10007,
          1000,
          0,
          BF16 },
        { "gmc 3 draws sketch 64 bf16", GC_EMBED_GMC, 64, 3, { 128, 0 }, 1, 10, GC_ACT_RELU, 10007, 1000, 0, BF16 },
        { "gmc 3 draws sketch 60 fp16 pinned",
          GC_EMBED_GMC,
          60,
          3,
          { 32, 20 },
          2,
          7,
          GC_ACT_TANH,
          10007,
          2500,
          1,
          FP16 },
        { "gmc 2 draws unsketched bf16", GC_EMBED_GMC, 0, 2, { 20, 0 }, 1, 7, GC_ACT_RELU, 10007, 1000, 0, BF16 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; ++i) gpu_matches_cpu(cpu, gpu, &cases[i]);
    a_bad_label_is_a_clear_error(cpu, gpu);
    an_absent_device_is_a_clear_error(gc_backend_cuda_device_count());
    gc_backend_destroy(gpu);
    gc_backend_destroy(cpu);
    TEST_MAIN_END();
}

/* The CUDA backend computes the same embeddings and losses as the CPU backend (its oracle) within
 * 1e-5 relative, for every kind, activation and sketch, from pageable and from pinned host memory,
 * over many batches (all slots of the pipeline, a partial last batch). Exits 77 (ctest's skip
 * code) without a GPU. */
#include <cuda_runtime_api.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "io/synthetic.h"
#include "kernels/backend.h"

enum { D_IN = 64 };

typedef struct {
    const char *name;
    gc_embedding_kind kind;
    int sketch;
    int draws;
    int hidden[2], n_hidden, classes;
    gc_activation act;
    int64_t rows, batch_rows; /* batch_rows 0: the backend's own choice */
    int pinned;
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
                            .model_count = t->draws };
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
    int rc_cpu = cpu->ops->embed(cpu, &cfg, n, D_IN, x, y, e_cpu, l_cpu);
    int rc_gpu = gpu->ops->embed(gpu, &cfg, n, D_IN, x, y, e_gpu, l_gpu);
    if (rc_gpu != GC_OK) fprintf(stderr, "%s: %s\n", t->name, gc_error_message());
    CHECK(rc_cpu == GC_OK && rc_gpu == GC_OK);
    double worst = 0.0, worst_loss = 0.0;
    for (int64_t r = 0; r < n && rc_gpu == GC_OK; ++r) {
        worst = fmax(worst, row_error(e_gpu + (size_t)r * D, e_cpu + (size_t)r * D, D));
        double dl = fabs((double)l_gpu[r] - l_cpu[r]) / fmax(1.0, fabs(l_cpu[r]));
        worst_loss = fmax(worst_loss, isnan(dl) ? INFINITY : dl);
    }
    printf("%-34s D = %6d rows = %6lld  max rel. error: embedding %.2e, loss %.2e\n", t->name, D, (long long)n, worst,
           worst_loss);
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
        { "logits relu", GC_EMBED_LOGITS, 0, 1, { 128, 96 }, 2, 10, GC_ACT_RELU, 10007, 1000, 0 },
        { "logits relu pinned", GC_EMBED_LOGITS, 0, 1, { 128, 96 }, 2, 10, GC_ACT_RELU, 10007, 1000, 1 },
        { "logits C=1000 gelu", GC_EMBED_LOGITS, 0, 1, { 48, 0 }, 1, 1000, GC_ACT_GELU, 5003, 700, 0 },
        { "logits single layer", GC_EMBED_LOGITS, 0, 1, { 0, 0 }, 0, 10, GC_ACT_RELU, 3001, 0, 0 },
        { "adacore tanh", GC_EMBED_ADACORE, 0, 1, { 32, 20 }, 2, 7, GC_ACT_TANH, 10007, 999, 0 },
        { "adacore C=1000 default batch", GC_EMBED_ADACORE, 0, 1, { 48, 0 }, 1, 1000, GC_ACT_RELU, 5003, 0, 0 },
        { "lastlayer relu", GC_EMBED_LASTLAYER, 0, 1, { 128, 96 }, 2, 10, GC_ACT_RELU, 10007, 1000, 0 },
        { "lastlayer gelu pinned", GC_EMBED_LASTLAYER, 0, 1, { 40, 0 }, 1, 12, GC_ACT_GELU, 4001, 333, 1 },
        { "lastlayer C=1000 unsketched", GC_EMBED_LASTLAYER, 0, 1, { 48, 0 }, 1, 1000, GC_ACT_RELU, 503, 100, 0 },
        { "lastlayer sketch 256", GC_EMBED_LASTLAYER, 256, 1, { 128, 96 }, 2, 10, GC_ACT_RELU, 10007, 1000, 0 },
        { "lastlayer sketch 1024 C=1000", GC_EMBED_LASTLAYER, 1024, 1, { 48, 0 }, 1, 1000, GC_ACT_TANH, 5003, 0, 0 },
        { "gmc 3 draws sketch 64", GC_EMBED_GMC, 64, 3, { 128, 0 }, 1, 10, GC_ACT_RELU, 10007, 1000, 0 },
        { "gmc 3 draws sketch 60 pinned", GC_EMBED_GMC, 60, 3, { 32, 20 }, 2, 7, GC_ACT_TANH, 10007, 2500, 1 },
        { "gmc 2 draws unsketched", GC_EMBED_GMC, 0, 2, { 20, 0 }, 1, 7, GC_ACT_RELU, 10007, 1000, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; ++i) gpu_matches_cpu(cpu, gpu, &cases[i]);
    an_absent_device_is_a_clear_error(gc_backend_cuda_device_count());
    gc_backend_destroy(gpu);
    gc_backend_destroy(cpu);
    TEST_MAIN_END();
}

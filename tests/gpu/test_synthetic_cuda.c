/* The synthetic generator on the GPU (kernels/cuda/synthetic_cuda.cu) writes the bits of its CPU
 * oracle, gc_synthetic_rows: rows and labels, balanced and imbalanced, with near-duplicates, odd
 * and very wide rows, one class, centres tabulated or not, ranges that start anywhere. And the
 * CUDA embedding of synthetic data generated on the device (gc_embed_config.synthetic) equals the
 * CUDA embedding of the same rows read on the host, bit for bit, for the features and logits
 * kinds, over many batches and a rank's slice of the index, without one read_x call; features kept
 * on the device are the rows themselves. Exits 77 (ctest's skip code) without a GPU. */
#include <cuda_runtime_api.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "kernels/backend.h"
#include "kernels/cuda/omp_cuda.h"
#include "kernels/cuda/synthetic_cuda.h"

typedef struct {
    const char *spec;
    int64_t lo, hi;
} rows_case;

static void device_rows_equal_the_host_generator(gc_backend *gpu, const rows_case *t)
{
    gc_synthetic s;
    CHECK(gc_synthetic_parse(t->spec, &s) == GC_OK);
    const int64_t n = t->hi - t->lo;
    const size_t values = (size_t)n * s.d;
    float *x_cpu = malloc(values * sizeof *x_cpu), *x_gpu = malloc(values * sizeof *x_gpu);
    int32_t *y_cpu = malloc((size_t)n * sizeof *y_cpu), *y_gpu = malloc((size_t)n * sizeof *y_gpu);
    int32_t *y_only = malloc((size_t)n * sizeof *y_only);
    CHECK(x_cpu && x_gpu && y_cpu && y_gpu && y_only);
    gc_synthetic_rows(&s, t->lo, t->hi, x_cpu, y_cpu);
    for (size_t i = 0; i < values; ++i) x_gpu[i] = NAN; /* poison: every value must be written */
    int rc = gc_cuda_synthetic_rows(gpu, &s, t->lo, t->hi, x_gpu, y_gpu);
    if (rc != GC_OK) fprintf(stderr, "%s: %s\n", t->spec, gc_error_message());
    CHECK(rc == GC_OK);
    CHECK(gc_cuda_synthetic_rows(gpu, &s, t->lo, t->hi, NULL, y_only) == GC_OK); /* labels alone */
    int64_t first_bad = -1;
    for (size_t i = 0; i < values && first_bad < 0; ++i)
        if (memcmp(&x_cpu[i], &x_gpu[i], sizeof(float)) != 0) first_bad = (int64_t)i;
    if (first_bad >= 0)
        fprintf(stderr, "%s: row %lld column %lld: cpu %.9g, gpu %.9g\n", t->spec, (long long)(t->lo + first_bad / s.d),
                (long long)(first_bad % s.d), x_cpu[first_bad], x_gpu[first_bad]);
    printf("%-62s rows [%lld, %lld): %s\n", t->spec, (long long)t->lo, (long long)t->hi,
           first_bad < 0 ? "same bits" : "DIFFERENT");
    CHECK(first_bad < 0);
    CHECK(memcmp(y_cpu, y_gpu, (size_t)n * sizeof *y_cpu) == 0);
    CHECK(memcmp(y_cpu, y_only, (size_t)n * sizeof *y_cpu) == 0);
    free(x_cpu);
    free(x_gpu);
    free(y_cpu);
    free(y_gpu);
    free(y_only);
}

/* read_x of gc_embed_config: the generator on the host, as `select` reads it; counts its calls. */
typedef struct {
    const gc_synthetic *s;
    int64_t first;
    int calls;
} host_rows;

static int read_host_rows(void *ctx, int64_t lo, int64_t n, float *dst)
{
    host_rows *h = ctx;
    h->calls++;
    gc_synthetic_rows(h->s, h->first + lo, h->first + lo + n, dst, NULL);
    return GC_OK;
}

/* Rows [lo, lo + n) of spec through the CUDA embedding, read on the host and generated on the
 * device: the same embeddings and losses; kept on the device (features) they are the rows. */
static void generated_embedding_equals_the_host_read_one(gc_backend *gpu, const char *spec, gc_embedding_kind kind,
                                                         int64_t lo, int64_t n, int64_t batch_rows)
{
    gc_synthetic s;
    CHECK(gc_synthetic_parse(spec, &s) == GC_OK);
    gc_model model;
    const int hidden = 32;
    const int with_model = kind != GC_EMBED_FEATURES;
    if (with_model) CHECK(gc_model_init_draw(&model, s.d, &hidden, 1, s.classes, 42, 0) == GC_OK);
    host_rows source = { &s, lo, 0 };
    gc_embed_config cfg = { .kind = kind,
                            .hessian_damping = 1e-3,
                            .seed = 9,
                            .models = with_model ? &model : NULL,
                            .model_count = with_model,
                            .first_row = lo,
                            .read_x = read_host_rows,
                            .read_ctx = &source,
                            .keep_on_device = 1 };
    const int D = gc_embedding_dim(&cfg, s.d);
    float *x = malloc((size_t)n * s.d * sizeof *x), *e_read = malloc((size_t)n * D * sizeof *e_read);
    float *e_made = malloc((size_t)n * D * sizeof *e_made), *e_kept = malloc((size_t)n * D * sizeof *e_kept);
    float *l_read = malloc((size_t)n * sizeof *l_read), *l_made = malloc((size_t)n * sizeof *l_made);
    int32_t *y = malloc((size_t)n * sizeof *y);
    CHECK(x && e_read && e_made && e_kept && l_read && l_made && y);
    gc_synthetic_rows(&s, lo, lo + n, x, y);
    gpu->batch_rows = batch_rows;
    CHECK(gpu->ops->embed(gpu, &cfg, n, s.d, NULL, y, e_read, l_read) == GC_OK);
    const int reads = source.calls;
    cfg.synthetic = &s;
    for (size_t i = 0; i < (size_t)n * D; ++i) e_made[i] = NAN;
    int rc = gpu->ops->embed(gpu, &cfg, n, s.d, NULL, y, e_made, l_made);
    if (rc != GC_OK) fprintf(stderr, "%s: %s\n", spec, gc_error_message());
    CHECK(rc == GC_OK);
    const int same = memcmp(e_made, e_read, (size_t)n * D * sizeof *e_made) == 0 &&
                     memcmp(l_made, l_read, (size_t)n * sizeof *l_made) == 0;
    printf("%-9s %-44s rows [%lld, %lld) batch %6lld D = %4d: %s (%d host reads, then %d)\n",
           kind == GC_EMBED_FEATURES ? "features" : "logits", spec, (long long)lo, (long long)(lo + n),
           (long long)batch_rows, D, same ? "same bits" : "DIFFERENT", reads, source.calls - reads);
    CHECK(same);
    CHECK(reads > 0 && source.calls == reads); /* generated: not one host read */
    if (kind == GC_EMBED_FEATURES) CHECK(memcmp(e_made, x, (size_t)n * s.d * sizeof *x) == 0);
    const float *kept = (const float *)gc_cuda_resident(gpu, e_made, n, D).data;
    CHECK(kept != NULL);
    if (kept != NULL) {
        CHECK(cudaMemcpy(e_kept, kept, (size_t)n * D * sizeof *e_kept, cudaMemcpyDeviceToHost) == cudaSuccess);
        CHECK(memcmp(e_kept, e_made, (size_t)n * D * sizeof *e_kept) == 0);
    }
    free(x);
    free(e_read);
    free(e_made);
    free(e_kept);
    free(l_read);
    free(l_made);
    free(y);
    if (with_model) gc_model_destroy(&model);
}

int main(void)
{
    SKIP_WITHOUT_GPU();
    gc_backend *gpu = NULL;
    CHECK(gc_backend_cuda_create(0, &gpu) == GC_OK);
    if (gpu == NULL) {
        fprintf(stderr, "%s\n", gc_error_message());
        TEST_MAIN_END();
    }
    printf("device: %s\n", gpu->description);
    const rows_case rows[] = {
        { "n=100000,d=64,classes=10,seed=3", 0, 20000 },
        { "n=1000000,d=17,classes=13,seed=5,imbalance=50,modes=3", 123457, 153458 },
        { "n=50000,d=7,classes=4,seed=8,duplicates=0.5", 999, 5000 },
        { "n=10000,d=1025,classes=3,seed=2,imbalance=2", 11, 611 }, /* wider than a block's values */
        { "n=100000,d=1,classes=2,seed=1,imbalance=3", 7, 70007 },  /* 256 rows a block */
        { "n=5000,d=65,classes=4096,modes=64,seed=6", 5, 2005 },    /* no centre table */
        { "n=1000,d=3,classes=1,seed=9,duplicates=0", 0, 1000 },    /* one class */
        { "n=4000000000,d=9,classes=5,seed=12,imbalance=1000", 3999990001, 4000000000 }, /* beyond 2^31 */
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; ++i) device_rows_equal_the_host_generator(gpu, &rows[i]);
    const char *spec = "n=1000000,d=33,classes=10,seed=7,imbalance=5";
    for (int kind = 0; kind < 2; ++kind) {
        gc_embedding_kind k = kind == 0 ? GC_EMBED_FEATURES : GC_EMBED_LOGITS;
        generated_embedding_equals_the_host_read_one(gpu, spec, k, 0, 30011, 4096);   /* many batches */
        generated_embedding_equals_the_host_read_one(gpu, spec, k, 333333, 20000, 0); /* a rank's slice */
        generated_embedding_equals_the_host_read_one(gpu, spec, k, 12345, 5000, 999); /* unaligned start */
    }
    gc_backend_destroy(gpu);
    TEST_MAIN_END();
}

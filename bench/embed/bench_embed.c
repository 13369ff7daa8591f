/* bench_embed: throughput of the embedding engine against its roofline (docs/design.md §7: "bounded by
 * reading X ... 55 GB/s over PCIe, not by the GEMMs").
 *
 * Rows of width d = 512 go through init-draw MLPs 512 → 256 → C (PyTorch's default init, ReLU)
 * for C = 10 and C = 1000 and several embedding kinds. On the GPU, X and E live in pinned host
 * memory (the engine copies them directly); one extra case stages pageable X and E through the
 * engine's pinned buffers, one keeps E on the device too, as `select` asks for CREST and BiCo
 * (docs/design.md §3.2), and four keep E on the device alone, nothing coming back (e = NULL, how
 * `select` runs OMP and facility location when E fits the GPU: their floor is X going up); four
 * cases run at bf16 (--precision, docs/design.md §3.1): logits C = 1000, bound by E coming back as
 * floats (the host's E is float) or, on the device alone, by X going up, and gmc, whose four
 * forward passes must hide behind X going up; two write E into a new array each run, untouched,
 * as `select` allocated it for CREST and BiCo, one of them pinning it first; three keep E on the
 * device and bring it home as stored (2 bytes a value in bf16: logits C = 1000 into a pinned array
 * and into a new one, as `select` keeps it to write, and gmc), their floor counting those 2 bytes.
 * Per case: median wall
 * time of --repeat runs after a warm-up (and, in the JSON, the first run's: the one that maps a
 * kept copy of E larger than the warm-up's; later runs reuse its memory, as a stream's chunks do),
 * examples/s, GB/s of X consumed (and its share of 55 GB/s), GB/s of E produced (at its stored
 * width), TFLOP/s of the GEMMs (2·(d·H + H·C) per row and draw, plus the sketch's
 * 2·(C·D1 + H·D2)), and on the GPU the case's floor: the run first measures the machine's own
 * pinned H2D and D2H copy rates, and the floor is the slower direction, X and labels up
 * (4·d + 4 bytes a row) or E and loss down (D values of the precision's width + 4 bytes a row);
 * "of bound" is floor / measured time, the share of that link's rate the engine reaches. The run
 * also measures H2D while D2H moves half as many bytes at the same time (how the cases with E
 * coming back load the link; reported, not used as a floor), and the H2D rate of all of X copied in
 * pieces of 16 to 192 MiB on three streams, as the engine copies it but with no work in between.
 * X holds 262,144 distinct synthetic rows repeated (generating 10M rows would dominate the run;
 * the engine's work does not depend on the values).
 *
 * usage: bench_embed [--device cpu|cuda] [--rows N] [--repeat R] [--json FILE] [--only TEXT] [--batch-rows B]
 *        (defaults: cuda, N = 10,000,000 on the GPU and 200,000 on the CPU, R = 3) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef GC_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

#include "core/error.h"
#include "core/fault.h"
#include "io/synthetic.h"
#include "kernels/backend.h"

enum { D_IN = 512, HIDDEN = 256, DISTINCT_ROWS = 262144, MAX_DRAWS = 4 };
static const double PCIE_GBPS = 55.0; /* docs/design.md §7: pinned host→device on the reference H100 */

typedef struct {
    const char *name;
    gc_embedding_kind kind;
    int classes, sketch, draws;
    int pageable;       /* stage X and E through the engine's pinned buffers */
    int keep_on_device; /* also keep E on the device, as `select` asks for CREST and BiCo */
    gc_precision precision;
    int device_alone; /* E on the device alone (e = NULL): nothing comes back but the loss */
    /* E a new array each run, as `select` allocates it for CREST and BiCo (gc_malloc_large, its
     * pages first touched by the engine): 1 as it is, 2 pinned by the backend first (timed). */
    int fresh_e;
    /* With device_alone: E also comes home as the device stores it (cfg.e_stored, 2 bytes a value
     * in bf16), the copy `select` keeps of E only to write it (docs/design.md §3.2). */
    int stored;
} bench_case;

static const bench_case cases[] = {
    { "logits C=10", GC_EMBED_LOGITS, 10, 0, 1, 0, 0, GC_PRECISION_FP32, 0, 0, 0 },
    { "logits C=1000", GC_EMBED_LOGITS, 1000, 0, 1, 0, 0, GC_PRECISION_FP32, 0, 0, 0 },
    { "logits C=1000 bf16", GC_EMBED_LOGITS, 1000, 0, 1, 0, 0, GC_PRECISION_BF16, 0, 0, 0 },
    { "adacore C=1000", GC_EMBED_ADACORE, 1000, 0, 1, 0, 0, GC_PRECISION_FP32, 0, 0, 0 },
    { "lastlayer sketch 256 C=10", GC_EMBED_LASTLAYER, 10, 256, 1, 0, 0, GC_PRECISION_FP32, 0, 0, 0 },
    { "gmc 4 draws sketch 64 C=10", GC_EMBED_GMC, 10, 64, 4, 0, 0, GC_PRECISION_FP32, 0, 0, 0 },
    { "gmc 4 draws sketch 64 bf16", GC_EMBED_GMC, 10, 64, 4, 0, 0, GC_PRECISION_BF16, 0, 0, 0 },
    { "logits C=10 pageable X,E", GC_EMBED_LOGITS, 10, 0, 1, 1, 0, GC_PRECISION_FP32, 0, 0, 0 },
    { "lastlayer 256 kept on device", GC_EMBED_LASTLAYER, 10, 256, 1, 0, 1, GC_PRECISION_FP32, 0, 0, 0 },
    { "lastlayer 256 device alone", GC_EMBED_LASTLAYER, 10, 256, 1, 0, 1, GC_PRECISION_FP32, 1, 0, 0 },
    { "gmc 4x64 device alone", GC_EMBED_GMC, 10, 64, 4, 0, 1, GC_PRECISION_FP32, 1, 0, 0 },
    { "gmc 4x64 device alone bf16", GC_EMBED_GMC, 10, 64, 4, 0, 1, GC_PRECISION_BF16, 1, 0, 0 },
    { "logits C=1000 device alone bf16", GC_EMBED_LOGITS, 1000, 0, 1, 0, 1, GC_PRECISION_BF16, 1, 0, 0 },
    { "logits C=100 kept, new E", GC_EMBED_LOGITS, 100, 0, 1, 0, 1, GC_PRECISION_FP32, 0, 1, 0 },
    { "logits C=100 kept, new E pinned", GC_EMBED_LOGITS, 100, 0, 1, 0, 1, GC_PRECISION_FP32, 0, 2, 0 },
    { "logits C=1000 bf16 as stored", GC_EMBED_LOGITS, 1000, 0, 1, 0, 1, GC_PRECISION_BF16, 1, 0, 1 },
    { "logits C=1000 bf16 stored, new E", GC_EMBED_LOGITS, 1000, 0, 1, 0, 1, GC_PRECISION_BF16, 1, 1, 1 },
    { "gmc 4x64 bf16 as stored", GC_EMBED_GMC, 10, 64, 4, 0, 1, GC_PRECISION_BF16, 1, 0, 1 },
};

/* Whether --only TEXT (NULL: every case) names case c. */
static int chosen(const bench_case *c, const char *only) { return only == NULL || strstr(c->name, only) != NULL; }

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Host memory the GPU can copy directly (pinned) when asked and a GPU exists, else malloc. */
static void *host_alloc(size_t bytes, int pinned)
{
#ifdef GC_HAVE_CUDA
    void *p = NULL;
    if (pinned) return cudaHostAlloc(&p, bytes, cudaHostAllocDefault) == cudaSuccess ? p : NULL;
#else
    (void)pinned;
#endif
    return malloc(bytes);
}

static void host_free(void *p, int pinned)
{
#ifdef GC_HAVE_CUDA
    if (pinned) {
        cudaFreeHost(p);
        return;
    }
#else
    (void)pinned;
#endif
    free(p);
}

static void fill_rows(float *x, int32_t *y, int64_t n)
{
    gc_synthetic syn = { n, D_IN, 1000, 5, 1.0, 8, 0.05 };
    int64_t distinct = n < DISTINCT_ROWS ? n : DISTINCT_ROWS;
    gc_synthetic_rows(&syn, 0, distinct, x, NULL);
    for (int64_t lo = distinct; lo < n; lo += distinct) {
        int64_t count = n - lo < distinct ? n - lo : distinct;
        gc_copy_parallel(x + lo * D_IN, x, (size_t)count * D_IN * sizeof *x);
    }
    const gc_synthetic_constants k = gc_synthetic_constants_of(&syn);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; ++r) y[r] = gc_synthetic_label(&k, r);
}

#ifdef GC_HAVE_CUDA
/* Median pinned copy rate (GB/s) of `bytes` between host and device, in the given direction. */
static double copy_gbps(float *host, size_t bytes, int to_device)
{
    void *dev = NULL;
    if (cudaMalloc(&dev, bytes) != cudaSuccess) return 0.0;
    double t[7];
    for (int i = 0; i < 7; ++i) {
        double t0 = now_s();
        cudaMemcpy(to_device ? dev : (void *)host, to_device ? (const void *)host : dev, bytes,
                   to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost);
        t[i] = now_s() - t0;
    }
    cudaFree(dev);
    qsort(t, 7, sizeof *t, compare_double);
    return (double)bytes / t[3] / 1e9;
}

/* Median H2D rate (GB/s) of `bytes` up while bytes/2 go down on a second stream at the same time. */
static double duplex_h2d_gbps(float *up, float *down, size_t bytes)
{
    void *dev = NULL;
    cudaStream_t s[2] = { NULL, NULL };
    cudaEvent_t e[2] = { NULL, NULL };
    double t[7] = { 0.0 };
    if (cudaMalloc(&dev, bytes + bytes / 2) != cudaSuccess) return 0.0;
    int ok = cudaStreamCreate(&s[0]) == cudaSuccess && cudaStreamCreate(&s[1]) == cudaSuccess &&
             cudaEventCreate(&e[0]) == cudaSuccess && cudaEventCreate(&e[1]) == cudaSuccess;
    for (int i = 0; i < 7 && ok; ++i) {
        float ms = 0.0f;
        ok = cudaMemcpyAsync((char *)dev + bytes, (const void *)down, bytes / 2, cudaMemcpyHostToDevice, s[1]) ==
                 cudaSuccess &&
             cudaStreamSynchronize(s[1]) == cudaSuccess &&
             cudaMemcpyAsync(down, (char *)dev + bytes, bytes / 2, cudaMemcpyDeviceToHost, s[1]) == cudaSuccess &&
             cudaEventRecord(e[0], s[0]) == cudaSuccess &&
             cudaMemcpyAsync(dev, up, bytes, cudaMemcpyHostToDevice, s[0]) == cudaSuccess &&
             cudaEventRecord(e[1], s[0]) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess &&
             cudaEventElapsedTime(&ms, e[0], e[1]) == cudaSuccess;
        t[i] = 1e-3 * ms;
    }
    for (int i = 0; i < 2; ++i) {
        if (s[i]) cudaStreamDestroy(s[i]);
        if (e[i]) cudaEventDestroy(e[i]);
    }
    cudaFree(dev);
    if (!ok) return 0.0;
    qsort(t, 7, sizeof *t, compare_double);
    return (double)bytes / t[3] / 1e9;
}

/* H2D rate (GB/s) of all `bytes` of host in copies of `chunk` bytes issued round-robin on three
 * streams into three device blocks: the engine's copies of X with no work between them (what the
 * link sustains over a whole pinned array, not just its first gigabyte). */
static double streamed_h2d_gbps(const float *host, size_t bytes, size_t chunk)
{
    enum { STREAMS = 3 };
    void *dev = NULL;
    cudaStream_t s[STREAMS] = { NULL };
    int ok = cudaMalloc(&dev, STREAMS * chunk) == cudaSuccess;
    for (int i = 0; i < STREAMS && ok; ++i) ok = cudaStreamCreate(&s[i]) == cudaSuccess;
    const double t0 = now_s();
    for (size_t at = 0, i = 0; at < bytes && ok; at += chunk, ++i) {
        const size_t n = bytes - at < chunk ? bytes - at : chunk;
        ok = cudaMemcpyAsync((char *)dev + i % STREAMS * chunk, (const char *)host + at, n, cudaMemcpyHostToDevice,
                             s[i % STREAMS]) == cudaSuccess;
    }
    ok = ok && cudaDeviceSynchronize() == cudaSuccess;
    const double t = now_s() - t0;
    for (int i = 0; i < STREAMS; ++i)
        if (s[i]) cudaStreamDestroy(s[i]);
    cudaFree(dev);
    return ok && t > 0 ? (double)bytes / t / 1e9 : 0.0;
}
#endif

/* JSON array of result objects, written as they come. */
typedef struct {
    FILE *f;
    int entries;
} json_out;

static void json_entry(json_out *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void json_entry(json_out *j, const char *fmt, ...)
{
    if (j->f == NULL) return;
    fputs(j->entries++ ? ",\n  " : "[\n  ", j->f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(j->f, fmt, ap);
    va_end(ap);
}

typedef struct {
    float *x, *e, *loss;
    int32_t *y, *labels;
    int64_t rows;
    int pinned;
} host_data;

/* The measured pinned copy rates (GB/s), 0 on the CPU. */
typedef struct {
    double h2d, d2h;
} link_rates;

/* E for one run of case c: the shared array, or (fresh_e) a new one of `bytes`, pinned first when
 * fresh_e is 2; NULL when out of memory. */
static float *run_output(gc_backend *b, const bench_case *c, float *shared, size_t bytes)
{
    if (!c->fresh_e) return shared;
    float *e = gc_malloc_large(bytes);
    if (e != NULL && c->fresh_e == 2 && b->ops->pin != NULL) b->ops->pin(b, e, bytes);
    return e;
}

static void run_output_free(gc_backend *b, const bench_case *c, float *e)
{
    if (!c->fresh_e || e == NULL) return;
    if (c->fresh_e == 2 && b->ops->unpin != NULL) b->ops->unpin(b, e);
    free(e);
}

static int run_case(gc_backend *b, const bench_case *c, host_data *h, int64_t rows, int repeat, link_rates link,
                    json_out *json)
{
    gc_model models[MAX_DRAWS];
    int hidden = HIDDEN;
    for (int s = 0; s < c->draws; ++s) GC_TRY(gc_model_init_draw(&models[s], D_IN, &hidden, 1, c->classes, 1, s));
    gc_embed_config cfg = { .kind = c->kind,
                            .sketch_dim = c->sketch,
                            .hessian_damping = 1e-3,
                            .seed = 1,
                            .models = models,
                            .model_count = c->draws,
                            .keep_on_device = c->keep_on_device };
    const int D = gc_embedding_dim(&cfg, D_IN);
    for (int64_t r = 0; r < rows; ++r) h->labels[r] = h->y[r] % c->classes;
    /* Pageable case: private malloc'd copies of X and E, so the engine must stage them. */
    float *x = h->x, *e = h->e;
    if (c->pageable) {
        x = malloc((size_t)rows * D_IN * sizeof *x);
        e = malloc((size_t)rows * D * sizeof *e);
        if (x == NULL || e == NULL) return gc_fail(GC_ERR_MEMORY, "out of memory for the pageable case");
        gc_copy_parallel(x, h->x, (size_t)rows * D_IN * sizeof *x);
        memset(e, 0, (size_t)rows * D * sizeof *e); /* touch: page faults are not the engine's cost */
    }
    b->precision = c->precision;
    if (c->device_alone) {
        if (b->ops->rows_on_device == NULL || !b->ops->rows_on_device(b, rows, D)) {
            printf("%-31s skipped: the backend cannot hold E on its device alone\n", c->name);
            for (int s = 0; s < c->draws; ++s) gc_model_destroy(&models[s]);
            return GC_OK;
        }
        e = NULL;
    }
    /* E's host array: the caller's floats, or (stored) the copy as stored, given as cfg.e_stored */
    float *home = c->stored ? h->e : e;
    int64_t warm = rows < 1000000 ? rows : 1000000;
    const size_t e_bytes = (size_t)rows * D * sizeof *e;
    double t[16];
    int status = GC_OK;
    for (int i = -1; i < repeat && status == GC_OK; ++i) { /* i = -1: a warm-up of `warm` rows (the arenas) */
        double t0 = now_s();
        float *out = run_output(b, c, home, e_bytes);
        cfg.e_stored = c->stored ? out : NULL;
        status = out != NULL || home == NULL
                     ? b->ops->embed(b, &cfg, i < 0 ? warm : rows, D_IN, x, h->labels, c->stored ? NULL : out, h->loss)
                     : gc_fail(GC_ERR_MEMORY, "out of memory for E");
        if (i >= 0) t[i] = now_s() - t0;
        run_output_free(b, c, out);
    }
    if (status == GC_OK) {
        const double first = t[0]; /* the one that maps a kept copy of E larger than the warm-up's */
        qsort(t, (size_t)repeat, sizeof *t, compare_double);
        double s = t[repeat / 2];
        int D1 = 0, D2 = 0;
        if (c->sketch > 0) gc_sketch_factors(c->sketch, c->classes, HIDDEN + 1, &D1, &D2);
        double flops_row =
            c->draws * (2.0 * D_IN * HIDDEN + 2.0 * HIDDEN * c->classes + 2.0 * c->classes * D1 + 2.0 * HIDDEN * D2);
        const double e_value_bytes = gc_precision_bytes(c->precision);
        const double x_gbps = (double)rows * D_IN * 4 / s / 1e9, e_gbps = (double)rows * D * e_value_bytes / s / 1e9;
        const double tflops = (double)rows * flops_row / s / 1e12;
        /* The floor: the slower direction of the link at the rates measured in this run. */
        const double up_s = link.h2d > 0 ? (double)rows * (4.0 * D_IN + 4) / (link.h2d * 1e9) : 0.0;
        const double down_bytes = (c->device_alone && !c->stored ? 0.0 : e_value_bytes * D) + 4;
        const double down_s = link.d2h > 0 ? (double)rows * down_bytes / (link.d2h * 1e9) : 0.0;
        const char *bound = link.h2d <= 0 ? "-" : up_s >= down_s ? "H2D" : "D2H";
        const double of_bound = 100.0 * (up_s > down_s ? up_s : down_s) / s;
        printf("%-31s %4s %10lld %6d %9.3f %12.4g %8.2f %7.1f%% %8.2f %8.2f %5s %7.1f%%\n", c->name,
               gc_precision_name(c->precision), (long long)rows, D, s, rows / s, x_gbps, 100.0 * x_gbps / PCIE_GBPS,
               e_gbps, tflops, bound, of_bound);
        json_entry(
            json,
            "{\"case\": \"%s\", \"device\": \"%s\", \"precision\": \"%s\", \"rows\": %lld, \"d\": %d, \"H\": %d, "
            "\"C\": %d, \"D\": %d, \"draws\": %d, \"sketch\": %d, \"pinned_host\": %s, \"seconds_median\": %.6f, "
            "\"examples_per_s\": %.6g, \"x_GBps\": %.3f, \"x_pct_of_55GBps\": %.1f, \"e_GBps\": %.3f, "
            "\"TFLOPs\": %.4f, \"bound\": \"%s\", \"floor_s\": %.6f, \"pct_of_bound\": %.1f, "
            "\"seconds_first\": %.6f, \"first_pct_of_bound\": %.1f}",
            c->name, b->description, gc_precision_name(c->precision), (long long)rows, D_IN, HIDDEN, c->classes, D,
            c->draws, c->sketch, h->pinned && !c->pageable ? "true" : "false", s, rows / s, x_gbps,
            100.0 * x_gbps / PCIE_GBPS, e_gbps, tflops, bound, up_s > down_s ? up_s : down_s, of_bound, first,
            100.0 * (up_s > down_s ? up_s : down_s) / first);
    }
    if (c->pageable) {
        free(x);
        free(e);
    }
    for (int s = 0; s < c->draws; ++s) gc_model_destroy(&models[s]);
    return status;
}

int main(int argc, char **argv)
{
    const char *device = "cuda", *json_path = NULL, *only = NULL;
    long long rows_arg = 0, batch_rows = 0;
    int repeat = 3;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc)
            rows_arg = atoll(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json_path = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--batch-rows") == 0 && i + 1 < argc)
            batch_rows = atoll(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: bench_embed [--device cpu|cuda] [--rows N] [--repeat R] [--json FILE] [--only TEXT]\n"
                    "                   [--batch-rows B]\n"
                    "  --only TEXT: the cases whose name contains TEXT\n"
                    "  --batch-rows B: the engine's batch height (default: its own choice)\n");
            return 2;
        }
    }
    repeat = repeat < 1 ? 1 : repeat > 15 ? 15 : repeat;
    int cuda = strcmp(device, "cuda") == 0;
    gc_backend *b = NULL;
    int status = cuda ? gc_backend_cuda_create(0, &b) : gc_backend_cpu_create(&b);
    if (status != GC_OK) {
        fprintf(stderr, "bench_embed: %s\n", gc_error_message());
        return status == GC_ERR_DEVICE ? 77 : 1;
    }
    const int64_t rows = rows_arg > 0 ? rows_arg : cuda ? 10000000 : 200000;
    b->batch_rows = batch_rows > 0 ? batch_rows : 0;
    int max_D = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; ++c) {
        if (!chosen(&cases[c], only)) continue;
        gc_model m;
        int hidden = HIDDEN;
        gc_model_init_draw(&m, D_IN, &hidden, 1, cases[c].classes, 1, 0);
        gc_embed_config cfg = { .kind = cases[c].kind,
                                .sketch_dim = cases[c].sketch,
                                .hessian_damping = 1e-3,
                                .seed = 1,
                                .models = &m,
                                .model_count = cases[c].draws };
        int D = gc_embedding_dim(&cfg, D_IN);
        max_D = D > max_D ? D : max_D;
        gc_model_destroy(&m);
    }
    host_data h = { NULL, NULL, NULL, NULL, NULL, rows, cuda };
    double t0 = now_s();
    h.x = host_alloc((size_t)rows * D_IN * sizeof(float), cuda);
    h.e = host_alloc((size_t)rows * max_D * sizeof(float), cuda);
    h.loss = malloc((size_t)rows * sizeof(float));
    h.y = malloc((size_t)rows * sizeof(int32_t));
    h.labels = malloc((size_t)rows * sizeof(int32_t));
    if (!h.x || !h.e || !h.loss || !h.y || !h.labels) {
        fprintf(stderr, "bench_embed: cannot allocate %.1f GB of %s host memory\n",
                (double)rows * (D_IN + max_D) * 4 / 1e9, cuda ? "pinned" : "");
        return 1;
    }
    fill_rows(h.x, h.y, rows);
    printf("bench_embed: %s, %lld rows of d = %d, MLP %d -> %d -> C, %d runs (median); setup %.1f s\n", b->description,
           (long long)rows, D_IN, D_IN, HIDDEN, repeat, now_s() - t0);
    json_out json = { json_path ? fopen(json_path, "w") : NULL, 0 };
    link_rates link = { 0.0, 0.0 };
#ifdef GC_HAVE_CUDA
    if (cuda) {
        size_t bytes = (size_t)1 << 30; /* within X and within E (the cases' widest) */
        if (bytes > (size_t)rows * D_IN * sizeof(float)) bytes = (size_t)rows * D_IN * sizeof(float);
        if (bytes > (size_t)rows * max_D * sizeof(float)) bytes = (size_t)rows * max_D * sizeof(float);
        double h2d = copy_gbps(h.x, bytes, 1), d2h = copy_gbps(h.e, bytes, 0),
               duplex = duplex_h2d_gbps(h.x, h.e, bytes);
        link.h2d = h2d;
        link.d2h = d2h;
        printf("measured pinned copy ceiling: H2D %.1f GB/s, D2H %.1f GB/s, H2D with half as much going down "
               "%.1f GB/s (docs/design.md §7: H2D %.0f GB/s)\n",
               h2d, d2h, duplex, PCIE_GBPS);
        json_entry(&json,
                   "{\"case\": \"pinned copy ceiling\", \"device\": \"%s\", \"bytes\": %zu, \"h2d_GBps\": %.2f, "
                   "\"d2h_GBps\": %.2f, \"h2d_with_half_d2h_GBps\": %.2f}",
                   b->description, bytes, h2d, d2h, duplex);
        const size_t x_bytes = (size_t)rows * D_IN * sizeof(float), mib = (size_t)1 << 20;
        const size_t chunks[] = { 16 * mib, 48 * mib, 96 * mib, 192 * mib };
        printf("H2D of all %.1f GB of X in copies on three streams:", x_bytes / 1e9);
        for (size_t i = 0; i < sizeof chunks / sizeof *chunks; ++i) {
            const double rate = streamed_h2d_gbps(h.x, x_bytes, chunks[i]);
            printf(" %zu MiB %.1f GB/s%s", chunks[i] / mib, rate, i + 1 < sizeof chunks / sizeof *chunks ? "," : "\n");
            json_entry(&json,
                       "{\"case\": \"streamed H2D\", \"device\": \"%s\", \"bytes\": %zu, \"chunk_bytes\": %zu, "
                       "\"h2d_GBps\": %.2f}",
                       b->description, x_bytes, chunks[i], rate);
        }
    }
#endif
    printf("%-31s %4s %10s %6s %9s %12s %8s %8s %8s %8s %5s %8s\n", "case", "prec", "rows", "D", "seconds",
           "examples/s", "X GB/s", "of 55", "E GB/s", "TFLOP/s", "bound", "of bound");
    for (size_t c = 0; c < sizeof cases / sizeof *cases && status == GC_OK; ++c) {
        if (!chosen(&cases[c], only)) continue;
        int64_t n = cases[c].pageable && rows > 2000000 ? 2000000 : rows; /* the pageable copies cost memory */
        status = run_case(b, &cases[c], &h, n, repeat, link, &json);
    }
    if (json.f) {
        fputs(json.entries ? "\n]\n" : "[]\n", json.f);
        fclose(json.f);
    }
    if (status != GC_OK) fprintf(stderr, "bench_embed: %s\n", gc_error_message());
    host_free(h.x, cuda);
    host_free(h.e, cuda);
    free(h.loss);
    free(h.y);
    free(h.labels);
    gc_backend_destroy(b);
    return status == GC_OK ? 0 : 1;
}

#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "backend.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/greedy_fl_cpu.h"

int gc_embed_input(const gc_embed_config *cfg, const float *x, int d, int64_t lo, int64_t n, gc_precision precision,
                   float *dst)
{
    if (x == NULL)
        GC_TRY(cfg->read_x(cfg->read_ctx, lo, n, dst));
    else
        memcpy(dst, x + lo * d, (size_t)n * d * sizeof *dst);
    gc_round_array(precision, dst, n * d);
    return GC_OK;
}

/* In 64 bits: C·(H+1)·draws of a large model exceeds int. */
static int64_t embedding_dim(const gc_embed_config *cfg, int d)
{
    if (cfg->kind == GC_EMBED_FEATURES) return d;
    const gc_model *m = &cfg->models[0];
    const int64_t classes = gc_model_classes(m), hidden = gc_model_penultimate_width(m);
    const int64_t lastlayer = cfg->sketch_dim > 0 ? cfg->sketch_dim : classes * (hidden + 1);
    switch (cfg->kind) {
    case GC_EMBED_LOGITS:
    case GC_EMBED_ADACORE:
        return classes;
    case GC_EMBED_LASTLAYER:
        return lastlayer;
    case GC_EMBED_GMC:
        return cfg->model_count * lastlayer;
    default:
        return d;
    }
}

int gc_embedding_dim(const gc_embed_config *cfg, int d) { return (int)embedding_dim(cfg, d); }

int gc_embedding_width(const gc_embed_config *cfg, int d, int *D)
{
    const int64_t width = embedding_dim(cfg, d);
    if (width > INT_MAX)
        return gc_fail(GC_ERR_USAGE,
                       "the embedding of this model would have %lld columns, more than %d: project it with --sketch D",
                       (long long)width, INT_MAX);
    *D = (int)width;
    return GC_OK;
}

int gc_sketch_resolve(const char *value, gc_embedding_kind kind, const gc_model *m, int *sketch)
{
    *sketch = 0;
    if (value != NULL && strcmp(value, "auto") != 0) {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < 0 || v > (1L << 30))
            return gc_fail(GC_ERR_USAGE, "option --sketch: '%s' is not auto or a width in [0, 2^30]", value);
        *sketch = (int)v;
        return GC_OK;
    }
    if ((kind != GC_EMBED_LASTLAYER && kind != GC_EMBED_GMC) || m == NULL) return GC_OK;
    const int64_t full = (int64_t)gc_model_classes(m) * (gc_model_penultimate_width(m) + 1);
    *sketch = full > GC_SKETCH_AUTO_FULL ? GC_SKETCH_AUTO : 0;
    return GC_OK;
}

int gc_embed_check(const gc_embed_config *cfg, int64_t rows, int d, const int32_t *y)
{
    if (cfg->kind == GC_EMBED_FEATURES) return GC_OK;
    if (cfg->models == NULL || cfg->model_count < 1)
        return gc_fail(GC_ERR_USAGE, "the %s embedding needs a model", cfg->kind == GC_EMBED_GMC ? "gmc" : "gradient");
    const gc_model *m = &cfg->models[0];
    if (m->widths[0] != d)
        return gc_fail(GC_ERR_INPUT, "the model takes %d inputs but /X has %d columns", m->widths[0], d);
    /* gmc concatenates blocks of one width and runs every draw through the same buffers. */
    for (int s = 1; cfg->kind == GC_EMBED_GMC && s < cfg->model_count; ++s) {
        const gc_model *o = &cfg->models[s];
        int same = o->layers == m->layers;
        for (int l = 0; same && l <= m->layers; ++l) same = o->widths[l] == m->widths[l];
        if (!same) return gc_fail(GC_ERR_INPUT, "gmc: init draw %d has other layer widths than draw 0", s);
    }
    int C = gc_model_classes(m), B = gc_model_penultimate_width(m) + 1;
    if (cfg->sketch_dim < 0 || (cfg->sketch_dim > 0 && cfg->kind != GC_EMBED_LASTLAYER && cfg->kind != GC_EMBED_GMC))
        return gc_fail(GC_ERR_USAGE, "option --sketch: only the lastlayer and gmc embeddings are sketched");
    if ((int64_t)cfg->sketch_dim > (int64_t)C * B)
        return gc_fail(GC_ERR_USAGE, "option --sketch: %d exceeds the unsketched width C·(H+1) = %d", cfg->sketch_dim,
                       C * B);
    return y != NULL ? gc_labels_check(y, rows, C) : GC_OK;
}

int gc_labels_check(const int32_t *y, int64_t n, int classes)
{
    for (int64_t r = 0; r < n; ++r)
        if (y[r] < 0 || y[r] >= classes)
            return gc_fail(GC_ERR_INPUT, "label %d is outside the model's %d classes", y[r], classes);
    return GC_OK;
}

void gc_sketch_factors(int D, int classes, int hidden_plus_one, int *D1, int *D2)
{
    double target = 0.5 * log((double)D * classes / hidden_plus_one), best = INFINITY;
    *D1 = 1;
    for (int f = 1; f <= D; ++f)
        if (D % f == 0 && fabs(log((double)f) - target) < best - 1e-12) {
            best = fabs(log((double)f) - target);
            *D1 = f;
        }
    *D2 = D / *D1;
}

void gc_round_array(gc_precision p, float *x, int64_t count)
{
    if (p == GC_PRECISION_FP32) return;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) x[i] = gc_round_to(p, x[i]);
}

int gc_copy_threads(void)
{
    const int threads = omp_get_max_threads();
    return threads < GC_COPY_THREADS ? threads : GC_COPY_THREADS;
}

void gc_copy_parallel(void *dst, const void *src, size_t bytes)
{
    /* One memcpy thread reaches about a third of a socket's bandwidth; pages split evenly. */
    const size_t chunk = (size_t)1 << 22;
    int64_t pieces = (int64_t)((bytes + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) num_threads(gc_copy_threads())
    for (int64_t i = 0; i < pieces; ++i) {
        size_t off = (size_t)i * chunk, len = bytes - off < chunk ? bytes - off : chunk;
        memcpy((char *)dst + off, (const char *)src + off, len);
    }
}

void gc_run_tasks(int tasks, void (*task)(void *ctx, int t), void *ctx)
{
#pragma omp parallel for schedule(static, 1) num_threads(tasks > 0 ? tasks : 1)
    for (int t = 0; t < tasks; ++t) task(ctx, t);
}

/* IEEE half bits → float: normal and subnormal halves are all exact floats; ±∞ and NaN map to
 * themselves (the payload shifted into place). */
static float widen_fp16(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
    if (exponent == 0) { /* zero or subnormal: mantissa · 2⁻²⁴, exact in float */
        const float v = (float)mantissa * (1.0f / 16777216.0f);
        return gc_bits_float(gc_float_bits(v) | sign);
    }
    if (exponent == 31) return gc_bits_float(sign | 0x7f800000u | (mantissa << 13));
    return gc_bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

void gc_widen_parallel(gc_precision precision, float *dst, const void *src, int64_t count)
{
    if (precision == GC_PRECISION_FP32) {
        gc_copy_parallel(dst, src, (size_t)count * sizeof *dst);
        return;
    }
    const uint16_t *h = src;
    if (precision == GC_PRECISION_BF16) {
#pragma omp parallel for schedule(static) num_threads(gc_copy_threads())
        for (int64_t i = 0; i < count; ++i) dst[i] = gc_bits_float((uint32_t)h[i] << 16);
    } else {
#pragma omp parallel for schedule(static) num_threads(gc_copy_threads())
        for (int64_t i = 0; i < count; ++i) dst[i] = widen_fp16(h[i]);
    }
}

int gc_backend_fl_greedy(gc_backend *b, const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains,
                         double *coverage)
{
    if (b != NULL && b->ops->fl_greedy != NULL) return b->ops->fl_greedy(b, p, kappa, selected, gains, coverage);
    return gc_fl_greedy_cpu(p, kappa, selected, gains, coverage);
}

int gc_backend_fl_greedy_many(gc_backend *b, int count, const gc_fl_problem *problems, const int64_t *kappa,
                              int64_t *const *selected, double *const *gains, double *const *coverage)
{
    if (b != NULL && b->ops->fl_greedy_many != NULL)
        return b->ops->fl_greedy_many(b, count, problems, kappa, selected, gains, coverage);
    for (int q = 0; q < count; ++q)
        GC_TRY(gc_backend_fl_greedy(b, &problems[q], kappa[q], selected[q], gains[q], coverage ? coverage[q] : NULL));
    return GC_OK;
}

int gc_backend_fl_hold(gc_backend *b, int on)
{
    return b != NULL && b->ops->fl_hold != NULL ? b->ops->fl_hold(b, on) : GC_OK;
}

int gc_backend_fl_assign(gc_backend *b, const float *e, int64_t rows, int D, const int32_t *group,
                         const gc_fl_sets *sets, int64_t *nearest, double *distance, gc_progress *progress)
{
    if (b != NULL && b->ops->fl_assign != NULL)
        return b->ops->fl_assign(b, e, rows, D, group, sets, nearest, distance, progress);
    if (e == NULL && rows > 0) return gc_fail(GC_ERR_USAGE, "facility location: no host embeddings to assign");
    const int64_t piece = (int64_t)1 << 18, W = gc_fl_sets_width(sets); /* rows are independent */
    for (int64_t lo = 0; lo < rows; lo += piece) {
        const int64_t n = rows - lo < piece ? rows - lo : piece;
        gc_cpu_fl_assign(e + lo * D, n, D, group != NULL ? group + lo : NULL, sets, nearest + lo * W,
                         distance + lo * W);
        if (progress != NULL) gc_progress_update(progress, lo + n);
    }
    return GC_OK;
}

int gc_backend_fl_radius(gc_backend *b, const float *e, int64_t rows, int D, const double *center, double *radius)
{
    if (b != NULL && b->ops->fl_radius != NULL) return b->ops->fl_radius(b, e, rows, D, center, radius);
    if (e == NULL && rows > 0) return gc_fail(GC_ERR_USAGE, "facility location: no host embeddings to measure");
    *radius = gc_cpu_fl_radius(e, rows, D, center);
    return GC_OK;
}

int gc_backend_rows_get(gc_backend *b, const float *e, int D, int64_t count, const int64_t *index, void *out,
                        size_t stride)
{
    const size_t row_bytes = (size_t)D * sizeof(float);
    if (e != NULL) {
#pragma omp parallel for schedule(static) num_threads(gc_copy_threads())
        for (int64_t t = 0; t < count; ++t) memcpy((char *)out + t * stride, e + index[t] * D, row_bytes);
        return GC_OK;
    }
    if (count > 0 && (b == NULL || b->ops->rows_get == NULL))
        return gc_fail(GC_ERR_USAGE, "the embeddings are on no device this rank reads");
    /* Packed output is gathered in place; records (stride > a row) through a piece of packed rows,
     * pinned so the link fills it at its rate, and spread into the records by the copy threads. */
    const int packed = stride == row_bytes;
    const int64_t most = packed ? 1 << 22 : 1 << 16, first = count < most ? count : most;
    float *piece = packed || count == 0 ? NULL : gc_malloc((size_t)first * row_bytes);
    if (!packed && count > 0 && piece == NULL) return gc_fail(GC_ERR_MEMORY, "out of memory for gathered rows");
    const int pinned = piece != NULL && b->ops->pin != NULL;
    if (pinned) b->ops->pin(b, piece, (size_t)first * row_bytes);
    int status = GC_OK;
    for (int64_t t = 0; t < count && status == GC_OK; t += most) {
        const int n = (int)(count - t < most ? count - t : most);
        char *at = (char *)out + t * stride;
        status = b->ops->rows_get(b, n, index + t, packed ? (float *)at : piece);
        if (status != GC_OK || packed) continue;
#pragma omp parallel for schedule(static) num_threads(gc_copy_threads())
        for (int r = 0; r < n; ++r) memcpy(at + r * stride, piece + (size_t)r * D, row_bytes);
    }
    if (pinned) b->ops->unpin(b, piece);
    free(piece);
    return status;
}

/* mpirun binds a rank to one core by default when there are few ranks, and OpenMP then runs one
 * thread: every host pass of the rank would use one core of many. Tells (rank 0, not under
 * --quiet) when the node's ranks hold fewer cores than it shares among them. */
static void tell_about_binding(MPI_Comm node)
{
    cpu_set_t mask;
    int local = 1;
    MPI_Comm_size(node, &local);
    const long cores = sysconf(_SC_NPROCESSORS_ONLN), share = cores / local;
    if (sched_getaffinity(0, sizeof mask, &mask) != 0 || cores <= 0 || CPU_COUNT(&mask) >= share) return;
    gc_info(
        "device: this rank may use %d of the node's %ld cores (%d rank(s) on it), so its host passes run on %d: start "
        "it with `mpirun --bind-to none` (or bind each rank to %ld cores)",
        CPU_COUNT(&mask), cores, local, CPU_COUNT(&mask), share);
}

/* The node's NVIDIA GPUs, as the driver lists them (/proc/driver/nvidia/gpus), without starting CUDA:
 * 0 where there is no driver. */
static int driver_gpu_count(void)
{
    DIR *dir = opendir("/proc/driver/nvidia/gpus");
    if (dir == NULL) return 0;
    int count = 0;
    for (struct dirent *d; (d = readdir(dir)) != NULL;) count += d->d_name[0] != '.';
    closedir(dir);
    return count;
}

/* Whether the CUDA driver library is in the process already (a host program such as PyTorch may have
 * started CUDA before gradcore): then CUDA_VISIBLE_DEVICES would no longer be read. */
static int cuda_driver_loaded(void)
{
    void *driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
    if (driver != NULL) dlclose(driver);
    return driver != NULL;
}

/* Node-local rank r takes GPU r mod G (CUDA's order). Where the launcher left all of the node's GPUs
 * visible (CUDA_VISIBLE_DEVICES unset) and CUDA has not started in the process, the rank makes only
 * its own visible first: a process that starts CUDA with every GPU visible sets up each of them in
 * the driver (docs/design.md §3). Then the rank's GPU is ordinal r mod (visible GPUs), 0 if narrowed. */
static void narrow_visible(int node_rank)
{
    const int gpus = getenv("CUDA_VISIBLE_DEVICES") == NULL && !cuda_driver_loaded() ? driver_gpu_count() : 0;
    if (gpus > 1) {
        char only[16];
        snprintf(only, sizeof only, "%d", node_rank % gpus);
        (void)setenv("CUDA_VISIBLE_DEVICES", only, 1);
    }
}

/* The ordinal to use, or −1: no GPU. */
static int choose_gpu(int node_rank)
{
    narrow_visible(node_rank);
    const int count = gc_backend_cuda_device_count();
    return count > 0 ? node_rank % count : -1;
}

/* ---- the GPU's start-up overlapped with MPI's (gc_backend_prestart) ----------------------------- */

static struct {
    pthread_t thread;
    int local;   /* the launcher's node-local rank */
    int running; /* started and not yet joined */
    int ordinal; /* after the join: the GPU started, or −1 */
    int taken;   /* a backend owns the GPU's context */
} prestart = { .ordinal = -1 };

static void *prestart_run(void *unused)
{
    (void)unused;
    prestart.ordinal = gc_backend_cuda_start(prestart.local);
    return NULL;
}

/* The node-local rank the launcher gives the process, or −1 where it names none. */
static int launcher_local_rank(void)
{
    static const char *const names[] = { "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID",
                                         "PALS_LOCAL_RANKID" };
    for (size_t i = 0; i < sizeof names / sizeof *names; ++i) {
        const char *v = getenv(names[i]);
        char *end = NULL;
        const long r = v != NULL ? strtol(v, &end, 10) : -1;
        if (v != NULL && end != v && *end == '\0' && r >= 0 && r < INT_MAX) return (int)r;
    }
    return -1;
}

/* Whether argv (after the command) asks for the CPU, for help or for the version: then no GPU. */
static int wants_no_gpu(int argc, char **argv)
{
    for (int a = 2; a < argc; ++a)
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "--version") == 0 ||
            strcmp(argv[a], "--device=cpu") == 0 ||
            (strcmp(argv[a], "--device") == 0 && a + 1 < argc && strcmp(argv[a + 1], "cpu") == 0))
            return 1;
    return 0;
}

void gc_backend_prestart(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "select") != 0 && strcmp(argv[1], "stream") != 0) || wants_no_gpu(argc, argv))
        return;
    const int local = launcher_local_rank();
    if (local < 0 || driver_gpu_count() == 0) return;
    narrow_visible(local);
    prestart.local = local;
    prestart.running = pthread_create(&prestart.thread, NULL, prestart_run, NULL) == 0;
}

/* Waits for the start-up thread; the GPU it started, or −1. */
static int prestart_join(void)
{
    if (prestart.running) {
        (void)pthread_join(prestart.thread, NULL);
        prestart.running = 0;
    }
    return prestart.ordinal;
}

void gc_backend_prestart_finish(void)
{
    if (prestart_join() >= 0 && !prestart.taken) {
        gc_backend_cuda_stop(prestart.ordinal);
        prestart.ordinal = -1;
    }
}

int gc_backend_create(gc_device_request request, MPI_Comm comm, gc_backend **out)
{
    *out = NULL;
    int status = GC_OK;
    {
        MPI_Comm node;
        GC_MPI(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
        tell_about_binding(node);
        GC_MPI(MPI_Comm_free(&node));
    }
    if (request != GC_DEVICE_CPU) {
        /* Ranks of one node share its GPUs round-robin by node-local rank. */
        MPI_Comm node;
        int node_rank = 0;
        GC_MPI(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
        MPI_Comm_rank(node, &node_rank);
        GC_MPI(MPI_Comm_free(&node));
        /* The launcher's node-local rank chose the started GPU: it is the node's own numbering. */
        const int started = prestart_join(), gpu = started >= 0 ? started : choose_gpu(node_rank);
        if (gpu >= 0 && gc_backend_cuda_device_count() > 0)
            status = gc_backend_cuda_create(gpu, out);
        else
            status = gc_fail(GC_ERR_DEVICE, "--device cuda: no usable GPU on this node");
        if (started >= 0 && *out != NULL) prestart.taken = 1; /* for good: the backend owns the context */
        if (status != GC_OK && request == GC_DEVICE_AUTO) {
            gc_error_clear();
            status = GC_OK;
        }
    }
    /* Agree before a CPU fallback so every rank reports the same outcome. */
    GC_TRY(gc_comm_agree(comm, status));
    if (*out == NULL) {
        gc_backend_prestart_finish(); /* a GPU started for nothing goes back now */
        if (request == GC_DEVICE_AUTO) gc_info("device: no usable GPU, using the CPU backend");
        status = gc_backend_cpu_create(out);
    }
    return gc_comm_agree(comm, status);
}

void gc_backend_destroy(gc_backend *b)
{
    if (b != NULL) b->ops->destroy(b);
}

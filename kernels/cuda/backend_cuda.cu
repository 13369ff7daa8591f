/* CUDA backend: device context and the streaming pipeline of the embedding engine.
 *
 * Rows go through the GPU in batches, round-robin over SLOTS slots. Each slot owns a stream, a
 * cuBLAS handle bound to it, a device arena for one batch and a pinned host arena for staging;
 * batch i runs on slot i mod SLOTS as H2D(x, y) → forward (cuBLAS sgemm + bias/activation
 * kernel per layer, every gmc draw in the same launches: strided-batched GEMMs) →
 * softmax/loss/embedding kernels → D2H(e, loss), all asynchronous on the slot's stream. E is made
 * at the backend's precision (kernels/precision.h), rounded in the kernels' stores: a bf16 or fp16
 * E is kept (the device copy) at 2 bytes a value; into the caller's float array it goes as the
 * floats it widens to (exact): made as floats by the kernels when that array is pinned (the link
 * then carries floats), else at 2 bytes a value through the pinned staging, widened there by the
 * host threads that collect the batch. A whole block kept on the device is made in place in the
 * device copy (no device copy a batch) and goes home from there. So the copy engines move batch
 * i+1 in and batch i−1 out while batch i computes, and a shard of any size streams through a fixed
 * amount of device memory. Host memory that is
 * already pinned (cudaHostAlloc/cudaHostRegister) is copied directly; pageable x and e are staged
 * through the slot's pinned arena with all host threads while the other slots keep the GPU busy;
 * without x, each batch is read from the dataset (gc_embed_config.read_x) into that arena, or, for
 * synthetic data, generated in the slot's device block (synthetic_cuda.h): then nothing is read or
 * copied up, and the features embedding (e = x) is the generated block itself. */
#include <math.h>
#include <mpi.h> /* before the extern "C" blocks: it brings C++ bindings of its own */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assign_cuda.h"
#include "bico_cuda.h"
#include "buffer.cuh"
#include "ceilings_cuda.h"
#include "cuda_check.h"
#include "embed_cuda.h"
extern "C" {
#include "core/log.h"
}
#include "fl_cuda.h"
#include "omp_cuda.h"
#include "quality_cuda.h"
#include "rows.cuh"
#include "synthetic_cuda.h"

/* Three slots: one being staged by the host while two are in flight on the GPU. Four measured the
 * same on an H100 (bench/results/ab-h100x1/embed-slots-*.txt: gmc 0.456 s at four, 0.448 s at
 * three; lastlayer 0.453 / 0.450 s), so the smaller footprint stays. */
enum { SLOTS = 3 };
/* Device bytes per slot a batch aims at: large enough that each H2D copy runs at full PCIe rate
 * (tens of MB of x) and the GEMMs fill the GPU, small enough that a shard never needs to fit. */
static const size_t SLOT_TARGET_BYTES = (size_t)256 << 20;
static const size_t ALIGN_BYTES = 256;

typedef struct {
    cudaStream_t stream;
    cublasHandle_t blas;
    cudaEvent_t done;                /* after the slot's last D2H copy */
    void *device_arena, *host_arena; /* grow-only; host_arena is pinned */
    size_t device_bytes, host_bytes;
    float *x, *act[2], *z, *a, *u, *v, *loss; /* device, carved from device_arena; per draw */
    void *e;                                  /* device E in the plan's e_format (x itself for fp32 features) */
    int32_t *y;
    float *x_host, *loss_host; /* pinned staging, carved from host_arena */
    void *e_host;              /* values at the plan's precision */
    int32_t *y_host;
    int busy; /* a batch was issued and its results not yet collected */
    int64_t lo, n;
} cuda_slot;

typedef struct {
    cuda_slot slot[SLOTS];
    /* The last embed call's output kept on the device when it fits (gc_cuda_resident): selection
     * then gathers its rows there instead of copying them back up. */
    void *resident; /* values of resident_precision's width */
    size_t resident_bytes;
    /* During an embed call: the previous call's copy, whose memory the new one reuses when it is
     * about the same size (mapping and unmapping 10 GB of device memory took ~20 ms of a 0.43 s
     * call); given back at the end of the call otherwise. */
    void *spare;
    size_t spare_bytes;
    gc_precision resident_precision;
    const float *resident_host; /* the caller's array it mirrors */
    int64_t resident_rows;
    int resident_D;
    float *received; /* rows_put's rows, [received_rows × resident_D] */
    int64_t received_rows;
    gc_fl_device *fl;            /* facility-location greedy state, made on first use (fl_cuda.cu) */
    gc_fl_assign_device *assign; /* facility location's passes over all rows (assign_cuda.cu) */
} cuda_state;

static void drop_received(cuda_state *st)
{
    (void)cudaFree(st->received);
    st->received = NULL;
    st->received_rows = 0;
}

static void drop_resident(cuda_state *st)
{
    (void)cudaFree(st->resident);
    st->resident = NULL;
    st->resident_bytes = 0;
    st->resident_host = NULL;
    drop_received(st); /* named next to the rows embed kept */
}

static void drop_spare(cuda_state *st)
{
    (void)cudaFree(st->spare);
    st->spare = NULL;
    st->spare_bytes = 0;
}

/* Whether the spare can hold a copy of `bytes` without keeping much more memory than it needs. */
static int spare_suits(const cuda_state *st, size_t bytes)
{
    return st->spare != NULL && st->spare_bytes >= bytes && st->spare_bytes - bytes <= bytes / 8;
}

extern "C" gc_cuda_rows gc_cuda_resident(gc_backend *b, const float *host, int64_t rows, int D)
{
    const cuda_state *st = b->ops->embed != NULL ? (const cuda_state *)b->impl : NULL;
    gc_cuda_rows none = { NULL, GC_PRECISION_FP32, NULL };
    if (st == NULL || st->resident == NULL || host != st->resident_host || rows > st->resident_rows ||
        D != st->resident_D)
        return none;
    gc_cuda_rows kept = { st->resident, st->resident_precision, st->received };
    return kept;
}

/* Everything one embed call needs that does not change from batch to batch. */
typedef struct {
    const gc_embed_config *cfg;
    int d, C, H, widest, D, D1, D2, block;
    int draws; /* models run per row; 0 for features, whose e is x itself */
    int64_t batch;
    gc_precision precision; /* of E on the device and over the link (the backend's) */
    int x_pinned, e_pinned;
    int x_device;      /* x is in this GPU's memory (a caller's tensor): each batch one device copy */
    int e_staged;      /* E comes back through the slot's pinned staging (pageable e), widened there when narrow */
    size_t home_bytes; /* of a value in the host's E: a float, or (cfg->e_stored) the precision's */
    gc_cuda_e_format e_format;    /* how the kernels store E: as floats when narrow E goes into pinned floats */
    gc_cuda_synthetic *synthetic; /* x and y generated on the device, or NULL: from the host */
    void *resident;               /* [rows × D] device copy of e at `precision`, or NULL */
    void *model_arena;            /* device copies of every draw's W, b and sketch factors */
    const float **weight, **bias; /* [layers] draw 0's device pointers into model_arena */
    const float *r1, *r2;         /* draw 0's sketch factors */
    int64_t model_stride;         /* floats from one draw's W, b, R1, R2 to the next draw's */
} cuda_plan;

/* The kind of memory p points into: cudaMemoryTypeHost (pinned), cudaMemoryTypeDevice (a GPU's; a
 * caller's tensor), else unregistered host memory. */
static cudaMemoryType memory_type(const void *p)
{
    cudaPointerAttributes attr;
    if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
        (void)cudaGetLastError(); /* a plain pageable pointer on old runtimes: not an error */
        return cudaMemoryTypeUnregistered;
    }
    return attr.type;
}

static int is_pinned(const void *p) { return memory_type(p) == cudaMemoryTypeHost; }

static size_t aligned(size_t bytes) { return (bytes + ALIGN_BYTES - 1) / ALIGN_BYTES * ALIGN_BYTES; }

/* Carves consecutive aligned pieces out of an arena; with base == NULL it only counts. */
static void *carve(char *base, size_t *offset, size_t bytes)
{
    void *p = base == NULL ? NULL : base + *offset;
    *offset += aligned(bytes);
    return p;
}

/* Bytes of one value of E at the plan's precision (the device copy's, the staging's). */
static size_t value_bytes(const cuda_plan *pl) { return (size_t)gc_precision_bytes(pl->precision); }

/* Bytes of one value of E as the kernels store it in a slot's block. */
static size_t stored_bytes(const cuda_plan *pl) { return (size_t)gc_cuda_e_bytes(pl->e_format); }

/* E of fp32 features is the x block itself; every other E has a buffer of its own. */
static int e_is_x(const cuda_plan *pl) { return pl->draws == 0 && pl->precision == GC_PRECISION_FP32; }

/* Lays out one slot's buffers for batches of `rows` rows in the arenas dev and host (NULL: only
 * count) and returns the bytes each needs. The forward pass's buffers hold every draw's block. */
static void layout_slot(cuda_slot *s, const cuda_plan *pl, int64_t rows, char *dev, char *host, size_t *device_bytes,
                        size_t *host_bytes)
{
    const size_t f = sizeof(float), per_draw = (size_t)rows * (pl->draws > 0 ? pl->draws : 1) * f;
    size_t dv = 0, hv = 0;
    s->x = (float *)carve(dev, &dv, (size_t)rows * pl->d * f);
    s->y = (int32_t *)carve(dev, &dv, (size_t)rows * sizeof(int32_t));
    s->act[0] = (float *)carve(dev, &dv, per_draw * pl->widest);
    s->act[1] = (float *)carve(dev, &dv, per_draw * pl->widest);
    s->z = (float *)carve(dev, &dv, per_draw * pl->C);
    s->a = (float *)carve(dev, &dv, per_draw * pl->C);
    s->u = (float *)carve(dev, &dv, per_draw * pl->D1);
    s->v = (float *)carve(dev, &dv, per_draw * pl->D2);
    s->e = e_is_x(pl) ? s->x : carve(dev, &dv, (size_t)rows * pl->D * stored_bytes(pl));
    s->loss = (float *)carve(dev, &dv, (size_t)rows * f);
    const int staged = !pl->x_pinned && !pl->x_device && pl->synthetic == NULL, labels_up = pl->synthetic == NULL;
    s->x_host = (float *)carve(host, &hv, staged ? (size_t)rows * pl->d * f : 0);
    s->y_host = (int32_t *)carve(host, &hv, labels_up ? (size_t)rows * sizeof(int32_t) : 0);
    s->e_host = carve(host, &hv, pl->e_staged ? (size_t)rows * pl->D * value_bytes(pl) : 0);
    s->loss_host = (float *)carve(host, &hv, (size_t)rows * f);
    *device_bytes = dv;
    *host_bytes = hv;
}

/* Grows the slot's arenas to fit batches of `rows` rows and points its buffers into them. */
static int prepare_slot(cuda_slot *s, const cuda_plan *pl, int64_t rows)
{
    size_t dv = 0, hv = 0;
    layout_slot(s, pl, rows, NULL, NULL, &dv, &hv);
    if (dv > s->device_bytes) {
        GC_CHECK_CUDA(cudaFree(s->device_arena));
        s->device_arena = NULL;
        s->device_bytes = 0;
        GC_CHECK_CUDA(cudaMalloc(&s->device_arena, dv));
        s->device_bytes = dv;
    }
    if (hv > s->host_bytes) {
        GC_CHECK_CUDA(cudaFreeHost(s->host_arena));
        s->host_arena = NULL;
        s->host_bytes = 0;
        GC_CHECK_CUDA(cudaHostAlloc(&s->host_arena, hv, cudaHostAllocDefault));
        s->host_bytes = hv;
    }
    layout_slot(s, pl, rows, (char *)s->device_arena, (char *)s->host_arena, &dv, &hv);
    return GC_OK;
}

/* Device bytes one row needs in a slot (see layout_slot), E counted at 4 bytes a value whatever
 * its precision: the batch height is then the same at every precision, so a narrow run's E is
 * exactly the fp32 run's rounded (features, without GEMMs, only need room for their copy as stored). */
static size_t device_bytes_per_row(const cuda_plan *pl)
{
    const size_t copies = pl->draws > 0 ? (size_t)pl->draws : 1;
    const size_t e = pl->draws > 0 ? sizeof(float) * pl->D : e_is_x(pl) ? 0 : stored_bytes(pl) * pl->d;
    return sizeof(float) *
               ((size_t)pl->d + 1 + copies * (2 * (size_t)pl->widest + 2 * (size_t)pl->C + pl->D1 + pl->D2) + 1) +
           e;
}

/* Rows per batch: the caller's choice, else SLOT_TARGET_BYTES per slot. The height depends on the
 * model's shape only, never on the rank's rows or on free memory, so every rank cuts the global
 * index alike and a row's bits do not depend on the rank count. Only when half of the free memory
 * cannot hold the slots is it halved (then say so: results may differ in the last bits). */
static int choose_batch(const gc_backend *b, cuda_plan *pl, int64_t rows)
{
    size_t free_bytes = 0, total_bytes = 0;
    GC_CHECK_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
    free_bytes += ((const cuda_state *)b->impl)->spare_bytes; /* reused or given back (cuda_embed) */
    const size_t per_row = device_bytes_per_row(pl);
    int64_t batch = b->batch_rows > 0 ? b->batch_rows : (int64_t)(SLOT_TARGET_BYTES / per_row);
    if (batch < 1) batch = 1;
    const int64_t wanted = batch;
    while (batch > 1 && (size_t)batch * per_row * SLOTS > free_bytes / 2) batch /= 2;
    if (batch < wanted && rows > 0)
        gc_warn("GPU %d: %zu MiB free: embedding batches of %lld rows instead of %lld (the last bits of the "
                "embeddings may then depend on the rank count)",
                b->device_id, free_bytes >> 20, (long long)batch, (long long)wanted);
    if ((size_t)batch * per_row * SLOTS > free_bytes)
        return gc_fail(GC_ERR_MEMORY, "GPU %d: %zu MiB free, too little for one embedding row of %zu bytes per slot",
                       b->device_id, free_bytes >> 20, per_row);
    pl->batch = batch;
    return GC_OK;
}

/* Copies every draw's weights to the device and generates the sketch factors there. Every draw
 * carves the same aligned pieces in the same order, so draw s's are draw 0's moved s·model_stride
 * floats: what lets one launch serve all draws. */
static int upload_models(cuda_plan *pl, cudaStream_t stream)
{
    const gc_embed_config *cfg = pl->cfg;
    const gc_model *m0 = &cfg->models[0];
    const int L = m0->layers, draws = pl->draws;
    size_t per_draw = 0;
    for (int l = 0; l < L; ++l)
        per_draw += aligned((size_t)m0->widths[l + 1] * m0->widths[l] * sizeof(float)) +
                    aligned((size_t)m0->widths[l + 1] * sizeof(float));
    per_draw += aligned((size_t)pl->D1 * pl->C * sizeof(float)) + aligned((size_t)pl->D2 * (pl->H + 1) * sizeof(float));
    pl->weight = (const float **)gc_calloc((size_t)L, sizeof *pl->weight);
    pl->bias = (const float **)gc_calloc((size_t)L, sizeof *pl->bias);
    if (!pl->weight || !pl->bias) return gc_fail(GC_ERR_MEMORY, "out of memory for the model tables");
    GC_CHECK_CUDA(cudaMalloc(&pl->model_arena, (size_t)draws * per_draw));
    pl->model_stride = (int64_t)(per_draw / sizeof(float));
    char *base = (char *)pl->model_arena;
    for (int s = 0; s < draws; ++s) {
        const gc_model *m = &cfg->models[s];
        size_t off = (size_t)s * per_draw;
        for (int l = 0; l < L; ++l) {
            size_t nw = (size_t)m->widths[l + 1] * m->widths[l], nb = (size_t)m->widths[l + 1];
            float *w = (float *)carve(base, &off, nw * sizeof(float)),
                  *bb = (float *)carve(base, &off, nb * sizeof(float));
            GC_CHECK_CUDA(cudaMemcpy(w, m->weight[l], nw * sizeof(float), cudaMemcpyHostToDevice));
            GC_CHECK_CUDA(cudaMemcpy(bb, m->bias[l], nb * sizeof(float), cudaMemcpyHostToDevice));
            if (s == 0) {
                pl->weight[l] = w;
                pl->bias[l] = bb;
            }
        }
        if (pl->D1 == 0) continue;
        float *r1 = (float *)carve(base, &off, (size_t)pl->D1 * pl->C * sizeof(float));
        float *r2 = (float *)carve(base, &off, (size_t)pl->D2 * (pl->H + 1) * sizeof(float));
        GC_TRY(gc_cuda_sketch_fill(stream, r1, (int64_t)pl->D1 * pl->C, cfg->seed, s, 0,
                                   (float)(1.0 / sqrt((double)pl->D1))));
        GC_TRY(gc_cuda_sketch_fill(stream, r2, (int64_t)pl->D2 * (pl->H + 1), cfg->seed, s, 1,
                                   (float)(1.0 / sqrt((double)pl->D2))));
        if (s == 0) {
            pl->r1 = r1;
            pl->r2 = r2;
        }
    }
    return GC_OK;
}

/* out [n × fan_out] = in [n × fan_in] · Wᵀ (row-major), as column-major outᵀ = W·inᵀ: W row-major
 * [fan_out × fan_in] is column-major [fan_in × fan_out], hence op T with ld fan_in. For draws.count
 * draws at once, draw s's W, in and out start draws.a, draws.b and draws.out floats further (a
 * stride 0 shares one operand): one strided-batched GEMM, the same products as one GEMM a draw. */
static int gemm_rows(cublasHandle_t blas, int64_t n, int fan_in, int fan_out, const float *w, int ldw, const float *in,
                     float *out, gc_cuda_draws draws)
{
    const float one = 1.0f, zero = 0.0f;
    if (draws.count == 1)
        GC_CHECK_CUBLAS(cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, fan_out, (int)n, fan_in, &one, w, ldw, in, fan_in,
                                    &zero, out, fan_out));
    else
        GC_CHECK_CUBLAS(cublasSgemmStridedBatched(blas, CUBLAS_OP_T, CUBLAS_OP_N, fan_out, (int)n, fan_in, &one, w, ldw,
                                                  draws.a, in, fan_in, draws.b, &zero, out, fan_out, draws.out,
                                                  draws.count));
    return GC_OK;
}

/* Rows [lo, lo + n) of x and y into the slot's device block at rows off … off+n−1, its other rows
 * zero: generated there (synthetic data), or read by cfg->read_x into the pinned staging while the
 * other slots' batches are on the GPU, or copied from the caller's x (straight when pinned, else
 * staged), and copied up. */
static int load_batch(cuda_slot *s, const cuda_plan *pl, int64_t lo, int64_t off, int64_t n, const float *x,
                      const int32_t *y)
{
    const gc_embed_config *cfg = pl->cfg;
    const int d = pl->d;
    const int64_t rows = pl->batch, after = rows - off - n;
    /* The labels a batch at a time, while the GPU works on the others: checking 10M labels before
     * the first batch took 10–12 ms of a 0.4 s call (bench/results/ab-h200x1/embed-labels/). */
    if (pl->draws > 0) GC_TRY(gc_labels_check(y + lo, n, pl->C));
    if (off > 0) GC_CHECK_CUDA(cudaMemsetAsync(s->x, 0, (size_t)off * d * sizeof *x, s->stream));
    if (after > 0) GC_CHECK_CUDA(cudaMemsetAsync(s->x + (off + n) * d, 0, (size_t)after * d * sizeof *x, s->stream));
    if (pl->synthetic != NULL) {
        GC_CHECK_CUDA(cudaMemsetAsync(s->y, 0, (size_t)rows * sizeof *y, s->stream));
        return gc_cuda_synthetic_generate(pl->synthetic, s->stream, cfg->first_row + lo, n, s->x + off * d, s->y + off);
    }
    memset(s->y_host, 0, (size_t)rows * sizeof *y);
    memcpy(s->y_host + off, y + lo, (size_t)n * sizeof *y);
    const float *x_src = x != NULL ? x + lo * d : s->x_host;
    if (x == NULL)
        GC_TRY(cfg->read_x(cfg->read_ctx, lo, n, s->x_host));
    else if (!pl->x_pinned && !pl->x_device) {
        gc_copy_parallel(s->x_host, x_src, (size_t)n * d * sizeof *x);
        x_src = s->x_host;
    }
    GC_CHECK_CUDA(cudaMemcpyAsync(s->x + off * d, x_src, (size_t)n * d * sizeof *x,
                                  pl->x_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice, s->stream));
    GC_CHECK_CUDA(cudaMemcpyAsync(s->y, s->y_host, (size_t)rows * sizeof *y, cudaMemcpyHostToDevice, s->stream));
    return GC_OK;
}

/* The models' forward pass and the embedding of the slot's whole block into e [pl->batch × D] in
 * the plan's e_format (features: e is x, or x rounded to the precision; the loss zero). Every draw
 * goes through the same launches: draw s's activations, logits and factors sit s blocks of rows
 * further in the slot's buffers, its weights s model strides further, its E block s·block columns
 * further. */
static int forward(cuda_slot *s, const cuda_plan *pl, void *e)
{
    const gc_embed_config *cfg = pl->cfg;
    const int64_t rows = pl->batch, model = pl->model_stride;
    const int draws = pl->draws, C = pl->C, H = pl->H;
    if (draws == 0) {
        GC_CHECK_CUDA(cudaMemsetAsync(s->loss, 0, (size_t)rows * sizeof *s->loss, s->stream));
        return e_is_x(pl) ? GC_OK : gc_cuda_narrow(s->stream, s->x, pl->e_format, e, rows * pl->d);
    }
    const gc_model *m = &cfg->models[0]; /* every draw has its shape (gc_embed_check) */
    const int L = m->layers;
    const float *h = s->x; /* the layer's input: x, shared by the draws, then their activations */
    int64_t h_draw = 0;
    for (int l = 0; l < L; ++l) {
        const int fan_in = m->widths[l], fan_out = m->widths[l + 1];
        float *out = l == L - 1 ? s->z : s->act[l % 2];
        const gc_activation act = l == L - 1 ? GC_ACT_IDENTITY : m->activation;
        const gc_cuda_draws layer = { draws, model, h_draw, rows * fan_out };
        GC_TRY(gemm_rows(s->blas, rows, fan_in, fan_out, pl->weight[l], fan_in, h, out, layer));
        const gc_cuda_draws bias = { draws, 0, model, rows * fan_out };
        GC_TRY(gc_cuda_bias_activation(s->stream, out, pl->bias[l], 1, rows, fan_out, act, bias));
        if (l < L - 1) {
            h = out; /* penultimate activations at the end (x itself for a single layer) */
            h_draw = rows * fan_out;
        }
    }
    GC_TRY(gc_cuda_softmax_embed(s->stream, s->z, s->y, rows, C, cfg->kind, cfg->hessian_damping, draws, pl->e_format,
                                 e, pl->D, pl->block, s->a, s->loss));
    if (cfg->kind != GC_EMBED_LASTLAYER && cfg->kind != GC_EMBED_GMC) return GC_OK;
    if (pl->D1 == 0) {
        const gc_cuda_draws outer = { draws, rows * C, h_draw, pl->block };
        return gc_cuda_outer(s->stream, rows, s->a, C, h, H, 1, pl->e_format, e, pl->D, outer);
    }
    /* u = a R1ᵀ, v = h R2[:, :H]ᵀ + R2[:, H], e = u ⊗ v (backend.h). */
    const gc_cuda_draws to_u = { draws, model, rows * C, rows * pl->D1 },
                        to_v = { draws, model, h_draw, rows * pl->D2 };
    GC_TRY(gemm_rows(s->blas, rows, C, pl->D1, pl->r1, C, s->a, s->u, to_u));
    GC_TRY(gemm_rows(s->blas, rows, H, pl->D2, pl->r2, H + 1, h, s->v, to_v));
    const gc_cuda_draws v_bias = { draws, 0, model, rows * pl->D2 };
    GC_TRY(gc_cuda_bias_activation(s->stream, s->v, pl->r2 + H, H + 1, rows, pl->D2, GC_ACT_IDENTITY, v_bias));
    const gc_cuda_draws outer = { draws, rows * pl->D1, rows * pl->D2, pl->block };
    return gc_cuda_outer(s->stream, rows, s->u, pl->D1, s->v, pl->D2, 0, pl->e_format, e, pl->D, outer);
}

/* The value at `index` of an array of E whose values are `bytes` wide. */
static void *value_at(void *e, int64_t index, size_t bytes) { return (char *)e + index * bytes; }

/* The whole device chain of one batch on its slot's stream (see the file comment): rows [lo, lo + n)
 * sit at rows off … off+n−1 of a block of pl->batch rows whose other rows are zero, and the whole
 * block is computed, so every GEMM has the same height and each row the same place in it whatever
 * the rank's range (run_batches). A whole block (off = 0, n = batch: all but a rank's first and
 * last) kept on the device at the width the kernels store is made in place in the device copy:
 * copying it there took 31 ms of a 10 GB E (bench/embed/NOTES.md). */
static int issue_batch(cuda_slot *s, const cuda_plan *pl, int64_t lo, int64_t off, int64_t n, const float *x,
                       const int32_t *y, void *e)
{
    GC_TRY(load_batch(s, pl, lo, off, n, x, y));
    const size_t stored = stored_bytes(pl);
    void *kept = pl->resident != NULL ? value_at(pl->resident, lo * pl->D, value_bytes(pl)) : NULL;
    const int in_place = kept != NULL && !pl->e_format.as_float && !e_is_x(pl) && off == 0 && n == pl->batch;
    void *block = in_place ? kept : s->e;
    GC_TRY(forward(s, pl, block));
    const void *e_src = value_at(block, off * pl->D, stored);
    if (e != NULL) {
        void *e_dst = pl->e_staged ? s->e_host : value_at(e, lo * pl->D, pl->home_bytes);
        GC_CHECK_CUDA(cudaMemcpyAsync(e_dst, e_src, (size_t)n * pl->D * stored, cudaMemcpyDeviceToHost, s->stream));
    }
    GC_CHECK_CUDA(
        cudaMemcpyAsync(s->loss_host, s->loss + off, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost, s->stream));
    if (kept != NULL && !in_place) {
        if (pl->e_format.as_float) { /* the floats hold values of the precision: narrowed exactly */
            const gc_cuda_e_format narrow = { pl->precision, 0 };
            GC_TRY(gc_cuda_narrow(s->stream, (const float *)e_src, narrow, kept, n * pl->D));
        } else
            GC_CHECK_CUDA(
                cudaMemcpyAsync(kept, e_src, (size_t)n * pl->D * stored, cudaMemcpyDeviceToDevice, s->stream));
    }
    GC_CHECK_CUDA(cudaEventRecord(s->done, s->stream));
    s->busy = 1;
    s->lo = lo;
    s->n = n;
    return GC_OK;
}

/* Waits for the slot's batch and moves its staged results to the caller's arrays: E widened to
 * float in the same threaded pass that copies it (exact), or copied as stored (cfg->e_stored). */
static int collect_batch(cuda_slot *s, const cuda_plan *pl, void *e, float *loss)
{
    if (!s->busy) return GC_OK;
    s->busy = 0;
    GC_CHECK_CUDA(cudaEventSynchronize(s->done));
    const int64_t values = s->n * pl->D;
    if (pl->e_staged && pl->home_bytes == sizeof(float))
        gc_widen_parallel(pl->precision, (float *)e + s->lo * pl->D, s->e_host, values);
    else if (pl->e_staged)
        gc_copy_parallel(value_at(e, s->lo * pl->D, pl->home_bytes), s->e_host, (size_t)values * pl->home_bytes);
    memcpy(loss + s->lo, s->loss_host, (size_t)s->n * sizeof *loss);
    return GC_OK;
}

/* Whether rows × D values of `precision` fit as a device copy of the output: in b's resident_share
 * (three quarters) of the free memory next to row_reserve bytes a row for the selection's per-row
 * buffers; the rest is for blocks and workspaces. */
static int resident_fits(const gc_backend *b, const cuda_state *st, int64_t rows, int D, gc_precision precision,
                         size_t *bytes)
{
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    free_bytes += st->spare_bytes; /* the previous copy's memory: reused or given back */
    *bytes = (size_t)rows * D * gc_precision_bytes(precision);
    const double wanted = (double)*bytes + (double)rows * (b->row_reserve > 0 ? b->row_reserve : 0);
    return b->resident_share > 0.0 && wanted <= b->resident_share * (double)free_bytes;
}

static int cuda_rows_on_device(gc_backend *b, int64_t rows, int D)
{
    size_t bytes;
    return cudaSetDevice(b->device_id) == cudaSuccess &&
           resident_fits(b, (const cuda_state *)b->impl, rows, D, b->precision, &bytes);
}

/* out[t·D + j] = row index[t]'s value j, widened (exact), or row −1 − index[t]'s of received. */
template <typename T>
__global__ void gather_rows(const T *__restrict__ e, const float *__restrict__ received, int D, long long values,
                            const long long *__restrict__ index, float *__restrict__ out)
{
    for (long long v = blockIdx.x * (long long)blockDim.x + threadIdx.x; v < values;
         v += (long long)gridDim.x * blockDim.x) {
        const long long i = index[v / D];
        out[v] = i >= 0 ? gc_widen(e[i * D + v % D]) : received[(-1 - i) * D + v % D];
    }
}

int gc_cuda_rows_gather(gc_cuda_rows rows, int D, int64_t count, const long long *index, float *out,
                        cudaStream_t stream)
{
    const long long values = (long long)count * D, blocks = (values + 255) / 256;
    if (values <= 0) return GC_OK;
    return gc_with_precision(rows.precision, [&](auto stored) -> int {
        using T = decltype(stored);
        gather_rows<T><<<(unsigned)(blocks < 4096 ? blocks : 4096), 256, 0, stream>>>(
            (const T *)rows.data, rows.received, D, values, index, out);
        GC_CHECK_LAUNCH();
        return GC_OK;
    });
}

static int cuda_rows_get(gc_backend *b, int count, const int64_t *index, float *out)
{
    cuda_state *st = (cuda_state *)b->impl;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    if (count <= 0) return GC_OK;
    if (st->resident == NULL || st->resident_host != NULL)
        return gc_fail(GC_ERR_DEVICE, "GPU %d holds no embeddings of its own to read back", b->device_id);
    for (int t = 0; t < count; ++t)
        if (index[t] < -st->received_rows)
            return gc_fail(GC_ERR_DEVICE, "GPU %d keeps no received row %lld", b->device_id,
                           (long long)(-1 - index[t]));
    const int D = st->resident_D;
    const long long values = (long long)count * D;
    const size_t index_bytes = (size_t)count * sizeof *index, out_bytes = (size_t)values * sizeof *out;
    const cudaStream_t stream = st->slot[0].stream;
    gc_cuda_buffer buffer = {};
    int status = gc_cuda_reserve(stream, &buffer, index_bytes + out_bytes);
    long long *device_index = (long long *)buffer.ptr;
    float *device_out = (float *)((char *)buffer.ptr + index_bytes);
    if (status == GC_OK &&
        cudaMemcpyAsync(device_index, index, index_bytes, cudaMemcpyHostToDevice, stream) != cudaSuccess)
        status = gc_fail(GC_ERR_DEVICE, "cannot copy row indices to GPU %d", b->device_id);
    if (status == GC_OK)
        status = gc_cuda_rows_gather(gc_cuda_rows{ st->resident, st->resident_precision, st->received }, D, count,
                                     device_index, device_out, stream);
    if (status == GC_OK &&
        (cudaMemcpyAsync(out, device_out, out_bytes, cudaMemcpyDeviceToHost, stream) != cudaSuccess ||
         cudaStreamSynchronize(stream) != cudaSuccess))
        status = gc_fail(GC_ERR_DEVICE, "cannot copy rows back from GPU %d", b->device_id);
    gc_cuda_release(stream, &buffer);
    return status;
}

static int cuda_rows_put(gc_backend *b, int64_t count, int D, const float *rows)
{
    cuda_state *st = (cuda_state *)b->impl;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    drop_received(st);
    if (count <= 0) return GC_OK;
    if (st->resident == NULL || st->resident_host != NULL || D != st->resident_D)
        return gc_fail(GC_ERR_DEVICE, "GPU %d holds no embeddings of its own to keep rows next to", b->device_id);
    const size_t bytes = (size_t)count * D * sizeof *rows;
    if (cudaMalloc(&st->received, bytes) != cudaSuccess) {
        (void)cudaGetLastError();
        st->received = NULL;
        return gc_fail(GC_ERR_MEMORY, "GPU %d: no room for %lld received rows", b->device_id, (long long)count);
    }
    st->received_rows = count;
    GC_CHECK_CUDA(cudaMemcpy(st->received, rows, bytes, cudaMemcpyHostToDevice));
    return GC_OK;
}

/* A device copy of the output when it fits (resident_fits). Every pass over all rows then reads it
 * there instead of over the link. No copy is no error when the caller keeps E (`required` 0): the
 * passes stream E up instead; without a host E (`required`) it is. */
static int keep_resident(gc_backend *b, cuda_state *st, cuda_plan *pl, int64_t rows, int required)
{
    size_t bytes = 0;
    if (resident_fits(b, st, rows, pl->D, pl->precision, &bytes)) {
        if (spare_suits(st, bytes)) {
            st->resident = st->spare, st->resident_bytes = st->spare_bytes;
            st->spare = NULL, st->spare_bytes = 0;
        } else {
            drop_spare(st);
            if (cudaMalloc(&st->resident, bytes) == cudaSuccess) {
                st->resident_bytes = bytes;
            } else {
                (void)cudaGetLastError();
                st->resident = NULL;
            }
        }
    }
    pl->resident = st->resident;
    if (st->resident == NULL && required)
        return gc_fail(GC_ERR_MEMORY, "GPU %d: no room for the %lld × %d embeddings (%.1f GB) to stay on it",
                       b->device_id, (long long)rows, pl->D, (double)bytes / 1e9);
    return GC_OK;
}

static int run_batches(cuda_state *st, cuda_plan *pl, int64_t rows, const float *x, const int32_t *y, void *e,
                       float *loss)
{
    for (int k = 0; k < SLOTS; ++k) GC_TRY(prepare_slot(&st->slot[k], pl, pl->batch));
    if (pl->draws > 0) GC_TRY(upload_models(pl, st->slot[0].stream));
    /* Every slot's stream reads the sketch factors and the centre table made on slot 0's: finish
     * making them first. */
    GC_CHECK_CUDA(cudaStreamSynchronize(st->slot[0].stream));
    /* Blocks [j·batch, (j+1)·batch) of the global index (as on the CPU, embed_cpu.c). */
    for (int64_t lo = 0, i = 0; lo < rows; ++i) {
        cuda_slot *s = &st->slot[i % SLOTS];
        GC_TRY(collect_batch(s, pl, e, loss));
        const int64_t off = (pl->cfg->first_row + lo) % pl->batch;
        const int64_t n = rows - lo < pl->batch - off ? rows - lo : pl->batch - off;
        GC_TRY(issue_batch(s, pl, lo, off, n, x, y, e));
        lo += n;
    }
    for (int k = 0; k < SLOTS; ++k) GC_TRY(collect_batch(&st->slot[k], pl, e, loss));
    return GC_OK;
}

/* What the plan knows before any device work: widths, the models' shape, the precision, pinned
 * host memory. e: the host's E (the caller's floats, or cfg->e_stored), or NULL: none. */
static void plan_init(cuda_plan *pl, const gc_embed_config *cfg, gc_precision precision, int d, const float *x,
                      const void *e)
{
    memset(pl, 0, sizeof *pl);
    pl->cfg = cfg;
    pl->d = d;
    pl->D = gc_embedding_dim(cfg, d);
    pl->precision = precision;
    pl->x_device = x != NULL && memory_type(x) == cudaMemoryTypeDevice;
    pl->x_pinned = x != NULL && is_pinned(x);
    pl->e_pinned = e != NULL && is_pinned(e);
    pl->e_staged = e != NULL && !pl->e_pinned; /* NULL: nothing comes back */
    /* Into pinned floats a narrow E goes as floats: widening on the host (reading 2 and writing 4
     * bytes a value in host memory, on the thread that issues the batches) took 1.21 s for 10M
     * rows of C = 1000 that the link moves as floats in 0.73 s; the kernels store the floats, so
     * no pass widens them on the device either. */
    pl->e_format.precision = precision;
    pl->home_bytes = cfg->e_stored != NULL ? (size_t)gc_precision_bytes(precision) : sizeof(float);
    pl->e_format.as_float = e != NULL && cfg->e_stored == NULL && pl->e_pinned && precision != GC_PRECISION_FP32;
    if (cfg->kind == GC_EMBED_FEATURES) return; /* no model: draws 0 */
    const gc_model *m0 = &cfg->models[0];
    pl->C = gc_model_classes(m0);
    pl->H = gc_model_penultimate_width(m0);
    pl->widest = 1;
    for (int l = 1; l < m0->layers; ++l) pl->widest = m0->widths[l] > pl->widest ? m0->widths[l] : pl->widest;
    pl->draws = cfg->kind == GC_EMBED_GMC ? cfg->model_count : 1;
    pl->block = cfg->sketch_dim > 0 ? cfg->sketch_dim : pl->C * (pl->H + 1);
    if (cfg->sketch_dim > 0) gc_sketch_factors(cfg->sketch_dim, pl->C, pl->H + 1, &pl->D1, &pl->D2);
}

static int embed_rows(gc_backend *b, cuda_state *st, const gc_embed_config *cfg, int64_t rows, int d, const float *x,
                      const int32_t *y, float *e, float *loss)
{
    const gc_synthetic *synthetic = x == NULL ? cfg->synthetic : NULL;
    if (synthetic != NULL && synthetic->d != d)
        return gc_fail(GC_ERR_USAGE, "embed: synthetic rows have %d columns, not %d", synthetic->d, d);
    if (e == NULL && !cfg->keep_on_device) return gc_fail(GC_ERR_USAGE, "embed: no output array and none kept");
    if (cfg->kind == GC_EMBED_FEATURES && synthetic == NULL && e != NULL) { /* e is x, read or copied on the host */
        memset(loss, 0, (size_t)rows * sizeof *loss);
        if (rows > 0 && x != NULL && memory_type(x) == cudaMemoryTypeDevice) { /* a caller's tensor: brought home */
            GC_CHECK_CUDA(cudaMemcpy(e, x, (size_t)rows * d * sizeof *x, cudaMemcpyDeviceToHost));
            gc_round_array(b->precision, e, rows * d);
            return GC_OK;
        }
        return rows > 0 ? gc_embed_input(cfg, x, d, 0, rows, b->precision, e) : GC_OK;
    }
    if (rows == 0) return GC_OK;
    void *home = e != NULL ? (void *)e : cfg->e_stored; /* the host's E, if any */
    cuda_plan pl;
    plan_init(&pl, cfg, b->precision, d, x, home);
    /* The previous copy's memory stays only for this call's copy: given back before anything else
     * here allocates when it will not be that. */
    if (!cfg->keep_on_device || !spare_suits(st, (size_t)rows * pl.D * value_bytes(&pl))) drop_spare(st);
    /* The generator's centre table first, so the batch height sees the memory it takes. */
    int status = synthetic != NULL ? gc_cuda_synthetic_create(synthetic, st->slot[0].stream, &pl.synthetic) : GC_OK;
    if (status == GC_OK) status = choose_batch(b, &pl, rows);
    if (status == GC_OK && cfg->keep_on_device) status = keep_resident(b, st, &pl, rows, e == NULL);
    drop_spare(st); /* the copy did not fit after all: the slots' arenas may need its memory */
    if (status == GC_OK) status = run_batches(st, &pl, rows, x, y, home, loss);
    /* On failure batches may still be in flight: let them finish before their buffers go. */
    for (int k = 0; k < SLOTS; ++k) {
        (void)cudaStreamSynchronize(st->slot[k].stream);
        st->slot[k].busy = 0;
    }
    if (status == GC_OK && st->resident != NULL) {
        st->resident_host = e;
        st->resident_rows = rows;
        st->resident_D = pl.D;
        st->resident_precision = pl.precision;
    } else {
        drop_resident(st);
        gc_cuda_fl_release(b, st->fl);
        st->fl = NULL; /* made again on next use: a later greedy must not find it released */
    }
    gc_cuda_synthetic_destroy(pl.synthetic);
    (void)cudaFree(pl.model_arena);
    free(pl.weight);
    free(pl.bias);
    return status;
}

static int cuda_embed(gc_backend *b, const gc_embed_config *cfg, int64_t rows, int d, const float *x, const int32_t *y,
                      float *e, float *loss)
{
    GC_TRY(gc_embed_check(cfg, rows, d, NULL)); /* the labels: by load_batch */
    cuda_state *st = (cuda_state *)b->impl;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    /* The kept copy mirrors the previous call's output, which the caller may now reuse: forgotten,
     * its memory kept for this call's copy. */
    drop_spare(st);
    st->spare = st->resident, st->spare_bytes = st->resident_bytes;
    st->resident = NULL, st->resident_bytes = 0;
    drop_resident(st);
    const int status = embed_rows(b, st, cfg, rows, d, x, y, e, loss);
    drop_spare(st);
    return status;
}

static void cuda_destroy(gc_backend *b)
{
    cuda_state *st = (cuda_state *)b->impl;
    if (st != NULL) {
        (void)cudaSetDevice(b->device_id);
        drop_resident(st);
        drop_spare(st);
        gc_cuda_fl_release(b, st->fl);
        gc_cuda_fl_assign_release(b, st->assign);
        for (int k = 0; k < SLOTS; ++k) {
            cuda_slot *s = &st->slot[k];
            gc_cuda_stream_end(s->stream, s->blas);
            if (s->done) (void)cudaEventDestroy(s->done);
            (void)cudaFree(s->device_arena);
            (void)cudaFreeHost(s->host_arena);
        }
        free(st);
    }
    free(b);
}

static void cuda_pin(gc_backend *b, void *p, size_t bytes)
{
    if (p == NULL || bytes == 0) return;
    (void)cudaSetDevice(b->device_id);
    if (cudaHostRegister(p, bytes, cudaHostRegisterPortable) != cudaSuccess) (void)cudaGetLastError();
}

static void cuda_unpin(gc_backend *b, void *p)
{
    if (p == NULL) return;
    (void)cudaSetDevice(b->device_id);
    if (cudaHostUnregister(p) != cudaSuccess) (void)cudaGetLastError(); /* it was never locked */
}

/* Built field by field: ops this file does not provide stay NULL (optional in backend.h). */
static gc_backend_ops cuda_ops_table(void)
{
    gc_backend_ops ops = {};
    ops.name = "cuda";
    ops.embed = cuda_embed;
    ops.rows_on_device = cuda_rows_on_device;
    ops.rows_get = cuda_rows_get;
    ops.rows_put = cuda_rows_put;
    ops.destroy = cuda_destroy;
    ops.pin = cuda_pin;
    ops.unpin = cuda_unpin;
    ops.ceilings = gc_cuda_ceilings;
    ops.fl_greedy = gc_cuda_fl_greedy;
    ops.fl_greedy_many = gc_cuda_fl_greedy_many;
    ops.fl_hold = gc_cuda_fl_hold;
    ops.fl_assign = gc_cuda_fl_assign;
    ops.fl_radius = gc_cuda_fl_radius;
    ops.omp_attach = gc_cuda_omp_attach;
    ops.omp_targets = gc_cuda_omp_targets;
    ops.omp_exclude = gc_cuda_omp_exclude;
    ops.omp_best = gc_cuda_omp_best;
    ops.omp_detach = gc_cuda_omp_detach;
    ops.quality_max_abs = gc_cuda_quality_max_abs;
    ops.quality_sums = gc_cuda_quality_sums;
    ops.nystrom_attach = gc_cuda_nystrom_attach;
    ops.nystrom_features = gc_cuda_nystrom_features;
    ops.nystrom_detach = gc_cuda_nystrom_detach;
    ops.bico_attach = gc_cuda_bico_attach;
    ops.bico_scores = gc_cuda_bico_scores;
    ops.bico_take = gc_cuda_bico_take;
    ops.bico_best = gc_cuda_bico_best;
    ops.bico_features = gc_cuda_bico_features;
    ops.bico_rows = gc_cuda_bico_rows;
    ops.bico_rows_at = gc_cuda_bico_rows_at;
    ops.bico_z = gc_cuda_bico_z;
    ops.bico_max_entry = gc_cuda_bico_max_entry;
    ops.bico_detach = gc_cuda_bico_detach;
    ops.bico_summary_attach = gc_cuda_bico_summary_attach;
    ops.bico_summary_add = gc_cuda_bico_summary_add;
    ops.bico_summary_add_own = gc_cuda_bico_summary_add_own;
    ops.bico_summary_collect = gc_cuda_bico_summary_collect;
    ops.bico_summary_detach = gc_cuda_bico_summary_detach;
    return ops;
}

static const gc_backend_ops cuda_ops = cuda_ops_table();

extern "C" gc_fl_device **gc_cuda_fl_slot(gc_backend *b) { return &((cuda_state *)b->impl)->fl; }

extern "C" gc_fl_assign_device **gc_cuda_fl_assign_slot(gc_backend *b) { return &((cuda_state *)b->impl)->assign; }

extern "C" int gc_backend_cuda_device_count(void)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return count;
}

/* Scratch comes from the device's default stream-ordered pool (gc_cuda_reserve, buffer.cuh). By
 * default the pool gives freed memory back to the driver at every synchronisation, so each phase's
 * scratch was mapped afresh, and the pool's first allocation in a process cost 10–12 ms on an H200
 * whatever its size (OMP's row setup spent them at 1M rows as at 16M). The pool keeps up to 1/32
 * of the device's memory cached instead (little enough that cudaMalloc of the rows and the
 * partitions' blocks still finds its memory) and is started here, which the GPU's start-up under
 * MPI_Init does too (gc_backend_cuda_start). */
static cudaError_t keep_pool_memory(int device_id)
{
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemPool_t pool;
    void *first = NULL;
    cudaError_t rc = cudaMemGetInfo(&free_bytes, &total_bytes);
    uint64_t keep = total_bytes / 32; /* the attribute's type, cuuint64_t, is a uint64_t */
    if (rc == cudaSuccess) rc = cudaDeviceGetDefaultMemPool(&pool, device_id);
    if (rc == cudaSuccess) rc = cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    if (rc == cudaSuccess) rc = cudaMallocAsync(&first, (size_t)2 << 20, 0);
    if (rc == cudaSuccess) rc = cudaFreeAsync(first, 0);
    if (rc == cudaSuccess) rc = cudaStreamSynchronize(0);
    return rc;
}

extern "C" int gc_backend_cuda_start(int local_rank)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count < 1) return -1;
    const int ordinal = local_rank % count;
    if (cudaSetDevice(ordinal) != cudaSuccess || cudaFree(0) != cudaSuccess) return -1;
    if (keep_pool_memory(ordinal) != cudaSuccess) (void)cudaGetLastError(); /* create says what failed */
    return ordinal;
}

extern "C" void gc_backend_cuda_stop(int ordinal)
{
    if (cudaSetDevice(ordinal) == cudaSuccess) (void)cudaDeviceReset();
}

static int create_slots(cuda_state *st)
{
    for (int k = 0; k < SLOTS; ++k) {
        cuda_slot *s = &st->slot[k];
        GC_CHECK_CUDA(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
        GC_CHECK_CUDA(cudaEventCreateWithFlags(&s->done, cudaEventDisableTiming));
        /* One handle per stream: a handle's workspace must not be shared by concurrent streams.
         * Default math mode = true FP32 (no TF32), which the 1e-5 agreement with the CPU needs. */
        GC_CHECK_CUBLAS(cublasCreate(&s->blas));
        GC_CHECK_CUBLAS(cublasSetStream(s->blas, s->stream));
        GC_CHECK_CUBLAS(cublasSetMathMode(s->blas, CUBLAS_DEFAULT_MATH));
    }
    return GC_OK;
}

extern "C" int gc_backend_cuda_create(int device_id, gc_backend **out)
{
    *out = NULL;
    cudaDeviceProp prop;
    cudaError_t rc = cudaSetDevice(device_id);
    if (rc == cudaSuccess) rc = cudaGetDeviceProperties(&prop, device_id);
    if (rc != cudaSuccess) {
        (void)cudaGetLastError(); /* not sticky: leave no stale error for later launch checks */
        return gc_fail(GC_ERR_DEVICE, "--device cuda: GPU %d is not usable: %s", device_id, cudaGetErrorString(rc));
    }
    gc_backend *b = (gc_backend *)gc_calloc(1, sizeof *b);
    GC_CHECK_ALLOC(b);
    b->ops = &cuda_ops;
    b->device_id = device_id;
    b->row_reserve = 64;
    b->resident_share = 0.75;
    /* The PCI address names the GPU even where each rank sees only its own as cuda:0 (backend.c). */
    snprintf(b->description, sizeof b->description, "cuda:%d %.80s (PCI %02x:%02x)", device_id, prop.name,
             prop.pciBusID, prop.pciDeviceID);
    cuda_state *st = (cuda_state *)gc_calloc(1, sizeof *st);
    b->impl = st;
    int status = st == NULL ? gc_fail(GC_ERR_MEMORY, "out of memory for the CUDA backend") : create_slots(st);
    if (status == GC_OK && keep_pool_memory(device_id) != cudaSuccess)
        status = gc_fail(GC_ERR_DEVICE, "GPU %d: cannot set up its memory pool", device_id);
    if (status != GC_OK) {
        cuda_destroy(b);
        return status;
    }
    *out = b;
    return GC_OK;
}

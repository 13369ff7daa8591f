/* The synthetic generator on a CUDA device (contract: synthetic_cuda.h). Every value goes through
 * the per-row functions of io/synthetic.h, whose arithmetic is the portable, never-fused IEEE math
 * of core/portable_math.h, so the device writes gc_synthetic_rows' bits. */
#include <mpi.h> /* before the extern "C" blocks: it brings C++ bindings of its own */
#include <stdlib.h>

#include "cuda_check.h"
extern "C" {
#include "kernels/backend.h"
}
#include "synthetic_cuda.h"

struct gc_cuda_synthetic {
    gc_synthetic_constants constants;
    double *table; /* [classes·modes × d] mode centres, or NULL: computed per value */
};

enum { THREADS = 256, VALUES_PER_THREAD = 4, MAX_BLOCKS = 4096 };

/* table[c·d + j] = centre j of component c. Launch: ⌈entries/256⌉ blocks (at most 4096) × 256,
 * grid-stride; two normal draws and 8 bytes written per entry, once per generator. */
__global__ void synthetic_centres_kernel(gc_synthetic_constants k, double *table, int64_t entries)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < entries; i += (int64_t)gridDim.x * blockDim.x)
        table[i] = gc_synthetic_centre(&k, (uint64_t)(i / k.d), (int)(i % k.d));
}

/* Rows first + t·R … of a tile of R = rows_per_block rows per block: threads t < R draw row t's
 * label, component and noise (three uniforms and a log) into shared memory once, then the block's
 * 256 threads write the tile's R·d values in order (consecutive threads, consecutive floats:
 * coalesced). R ≈ 1024/d, at most 256, keeps about four values per thread. Per value: one normal
 * draw (two 64-bit hash chains, a log, a cos and a sqrt in double), the centre from the table (or
 * two more normals), 4 bytes written; compute-bound, far above the PCIe rate that copying X up from
 * the host would run at. */
__global__ void synthetic_rows_kernel(gc_synthetic_constants k, const double *table, int64_t first, int64_t n,
                                      int rows_per_block, float *x, int32_t *y)
{
    __shared__ gc_synthetic_row head[THREADS];
    const int64_t tile = (int64_t)blockIdx.x * rows_per_block;
    const int rows = n - tile < rows_per_block ? (int)(n - tile) : rows_per_block;
    if ((int)threadIdx.x < rows) {
        head[threadIdx.x] = gc_synthetic_row_of(&k, first + tile + threadIdx.x);
        if (y != NULL) y[tile + threadIdx.x] = head[threadIdx.x].label;
    }
    __syncthreads();
    if (x == NULL) return;
    const int d = k.d; /* rows·d < 1024 + d: int indices within the tile */
    for (int i = threadIdx.x; i < rows * d; i += blockDim.x) {
        const int r = i / d, j = i - r * d;
        const gc_synthetic_row *h = &head[r];
        const double centre =
            table != NULL ? table[h->component * (uint64_t)d + (uint64_t)j] : gc_synthetic_centre(&k, h->component, j);
        x[(tile + r) * d + j] = gc_synthetic_value(&k, h, centre, first + tile + r, j);
    }
}

static int fill_table(gc_cuda_synthetic *g, cudaStream_t stream, int64_t entries)
{
    GC_CHECK_CUDA(cudaMalloc(&g->table, (size_t)entries * sizeof *g->table));
    const int64_t blocks = (entries + THREADS - 1) / THREADS;
    synthetic_centres_kernel<<<(unsigned)(blocks < (int64_t)MAX_BLOCKS ? blocks : (int64_t)MAX_BLOCKS), THREADS, 0,
                               stream>>>(g->constants, g->table, entries);
    GC_CHECK_LAUNCH();
    return GC_OK;
}

int gc_cuda_synthetic_create(const gc_synthetic *s, cudaStream_t stream, gc_cuda_synthetic **out)
{
    *out = NULL;
    gc_cuda_synthetic *g = (gc_cuda_synthetic *)gc_calloc(1, sizeof *g);
    GC_CHECK_ALLOC(g);
    g->constants = gc_synthetic_constants_of(s);
    const uint64_t entries = (uint64_t)s->classes * (uint64_t)s->modes * (uint64_t)s->d;
    const int status = entries <= GC_SYNTHETIC_TABLE_MAX ? fill_table(g, stream, (int64_t)entries) : GC_OK;
    if (status != GC_OK) {
        gc_cuda_synthetic_destroy(g);
        return status;
    }
    *out = g;
    return GC_OK;
}

int gc_cuda_synthetic_generate(const gc_cuda_synthetic *g, cudaStream_t stream, int64_t first, int64_t n, float *x,
                               int32_t *y)
{
    if (n <= 0) return GC_OK;
    const int d = g->constants.d;
    int rows_per_block = (THREADS * VALUES_PER_THREAD + d - 1) / d;
    if (rows_per_block > THREADS) rows_per_block = THREADS;
    const int64_t blocks = (n + rows_per_block - 1) / rows_per_block;
    synthetic_rows_kernel<<<(unsigned)blocks, THREADS, 0, stream>>>(g->constants, g->table, first, n, rows_per_block, x,
                                                                    y);
    GC_CHECK_LAUNCH();
    return GC_OK;
}

void gc_cuda_synthetic_destroy(gc_cuda_synthetic *g)
{
    if (g == NULL) return;
    (void)cudaFree(g->table);
    free(g);
}

/* The device buffers and stream of one gc_cuda_synthetic_rows call. */
typedef struct {
    cudaStream_t stream;
    gc_cuda_synthetic *generator;
    float *x;
    int32_t *y;
} rows_call;

static int generate_and_copy(rows_call *c, const gc_synthetic *s, int64_t lo, int64_t hi, float *x, int32_t *y)
{
    const int64_t n = hi - lo;
    const size_t x_bytes = (size_t)n * s->d * sizeof *x, y_bytes = (size_t)n * sizeof *y;
    GC_CHECK_CUDA(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    GC_TRY(gc_cuda_synthetic_create(s, c->stream, &c->generator));
    if (x != NULL) GC_CHECK_CUDA(cudaMalloc(&c->x, x_bytes));
    if (y != NULL) GC_CHECK_CUDA(cudaMalloc(&c->y, y_bytes));
    GC_TRY(gc_cuda_synthetic_generate(c->generator, c->stream, lo, n, c->x, c->y));
    if (x != NULL) GC_CHECK_CUDA(cudaMemcpyAsync(x, c->x, x_bytes, cudaMemcpyDeviceToHost, c->stream));
    if (y != NULL) GC_CHECK_CUDA(cudaMemcpyAsync(y, c->y, y_bytes, cudaMemcpyDeviceToHost, c->stream));
    GC_CHECK_CUDA(cudaStreamSynchronize(c->stream));
    return GC_OK;
}

extern "C" int gc_cuda_synthetic_rows(gc_backend *b, const gc_synthetic *s, int64_t lo, int64_t hi, float *x,
                                      int32_t *y)
{
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    rows_call c = { NULL, NULL, NULL, NULL };
    const int status = hi > lo ? generate_and_copy(&c, s, lo, hi, x, y) : GC_OK;
    gc_cuda_stream_end(c.stream, NULL);
    gc_cuda_synthetic_destroy(c.generator);
    (void)cudaFree(c.x);
    (void)cudaFree(c.y);
    return status;
}

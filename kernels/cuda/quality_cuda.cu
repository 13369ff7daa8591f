/* The quality pass on the GPU (see quality_cuda.h):
 *   largest_abs:   a grid-stride maximum of |e_ij| (non-negative floats order as their bits, and a
 *                  NaN's bits lie above +∞'s, so a NaN anywhere is the result: the check that a
 *                  caller's rows are finite; one atomicMax per warp);
 *   subset_masks:  a byte a row, bit 0 always (the full sum) and bit 1 + s when the row is in random
 *                  subset s (kernels/quality.h, the CPU twin's own function);
 *   masked_sums:   each warp sums a contiguous chunk of rows on gc_exact_sum's grid: a lane owns one
 *                  column of a block of columns (and below 32 columns a warp reads several rows at
 *                  once), keeps one integer pair per sum in registers, and adds them to the device
 *                  accumulators with one atomic add each at the end of its chunk. Integer sums: the
 *                  same bits as the CPU twin in any order.
 * The rows are the resident embeddings when the engine kept them, else blocks of at most
 * kBlockBytes copied up through one device buffer. */
#include <math.h>
#include <mpi.h> /* before the extern "C" block: it brings C++ bindings of its own */
#include <stdlib.h>
#include <string.h>

#include "buffer.cuh"
#include "core/exact_split.h"
#include "cuda_check.h"
#include "lanes.cuh"
#include "quality_cuda.h"
#include "rows.cuh"

namespace
{

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kSums = 1 + GC_QUALITY_MAX_SUBSETS;
constexpr long long kBlockBytes = 64LL << 20;
constexpr long long kRowsPerWarp = 256; /* a warp's chunk at least: its accumulators are flushed once */
constexpr unsigned kAll = 0xffffffffu;

__device__ __forceinline__ long long global_warp() { return ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; }

/* Launch: grid-stride over `values` stored values (T: rows.cuh). */
template <typename T>
__global__ void largest_abs(const T *__restrict__ e, long long values, unsigned *__restrict__ bits)
{
    unsigned largest = 0u; /* the bits of |e_ij|: a NaN's lie above +∞'s, so a NaN is the result */
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < values;
         i += (long long)gridDim.x * blockDim.x)
        largest = max(largest, __float_as_uint(fabsf(gc_widen(e[i]))));
    for (int offset = 16; offset > 0; offset >>= 1) largest = max(largest, __shfl_xor_sync(kAll, largest, offset));
    if (threadIdx.x % 32 == 0) atomicMax(bits, largest);
}

/* Launch: grid-stride over rows. mask[i] = the sums global row first_row + i belongs to. */
__global__ void subset_masks(long long rows, long long first_row, gc_random_subsets subsets,
                             unsigned char *__restrict__ mask)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < rows;
         i += (long long)gridDim.x * blockDim.x)
        mask[i] = (unsigned char)gc_random_subset_mask(subsets, first_row + i);
}

/* Launch: blocks of kThreads, warp w owning rows [w·chunk, (w + 1)·chunk). acc [2·sums·D] (whole
 * parts, then fractions) += row i's values in every sum whose bit mask[i] sets. */
template <typename T>
__global__ void masked_sums(const T *__restrict__ e, const unsigned char *__restrict__ mask, long long rows, int D,
                            int sums, long long chunk, double scale, unsigned long long *__restrict__ acc)
{
    const int lane = threadIdx.x % 32, width = gc_lanes_per_row(D), column = lane % width, group = lane / width;
    const int groups = 32 / width;
    const long long first = global_warp() * chunk, stop = first + chunk < rows ? first + chunk : rows;
    const long long components = (long long)sums * D;
    for (int c0 = 0; c0 < D && first < stop; c0 += width) {
        const int j = c0 + column;
        if (j >= D) continue;
        long long whole[kSums] = {}, fraction[kSums] = {};
        for (long long i = first + group; i < stop; i += groups) {
            const unsigned m = mask[i];
            int64_t wv, fv;
            gc_exact_split(gc_widen(__ldg(e + i * D + j)), scale, &wv, &fv);
#pragma unroll
            for (int s = 0; s < kSums; ++s)
                if (m >> s & 1u) {
                    whole[s] += wv;
                    fraction[s] += fv;
                }
        }
        /* Two's complement: an unsigned add is the signed add. */
#pragma unroll
        for (int s = 0; s < kSums; ++s) {
            if (s >= sums) break;
            if (whole[s] != 0) atomicAdd(acc + (long long)s * D + j, (unsigned long long)whole[s]);
            if (fraction[s] != 0) atomicAdd(acc + components + (long long)s * D + j, (unsigned long long)fraction[s]);
        }
    }
}

unsigned grid_for(long long work, long long cap)
{
    const long long blocks = (work + kThreads - 1) / kThreads;
    return (unsigned)(blocks < 1 ? 1 : blocks > cap ? cap : blocks);
}

/* What one call holds on the device; released by finish. */
typedef struct {
    cudaStream_t stream;
    gc_cuda_buffer staging, mask, acc;
} quality_call;

int begin(gc_backend *b, quality_call *q)
{
    *q = quality_call{};
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    GC_CHECK_CUDA(cudaStreamCreateWithFlags(&q->stream, cudaStreamNonBlocking));
    return GC_OK;
}

int finish(quality_call *q, int status)
{
    gc_cuda_buffer *pieces[] = { &q->staging, &q->mask, &q->acc };
    for (gc_cuda_buffer *p : pieces) gc_cuda_release(q->stream, p);
    gc_cuda_stream_end(q->stream, nullptr);
    return status;
}

/* fn(rows on the device, first row, count) over e's rows: the resident copy at once (its values of
 * the backend's precision: fn takes a pointer to any stored type), or blocks of floats copied up
 * through q->staging. */
template <typename F> int for_each_block(gc_backend *b, quality_call *q, const float *e, int64_t rows, int D, F fn)
{
    const gc_cuda_rows kept = gc_cuda_resident(b, e, rows, D);
    if (kept.data != nullptr)
        return gc_with_precision(
            kept.precision, [&](auto stored) { return fn((const decltype(stored) *)kept.data, 0LL, (long long)rows); });
    if (e == nullptr && rows > 0) /* the rows were to live on the device alone (backend.h) */
        return gc_fail(GC_ERR_DEVICE, "quality: GPU %d holds no embeddings to read", b->device_id);
    const long long fit = kBlockBytes / ((long long)D * (long long)sizeof(float));
    const long long block = fit < 1 ? 1 : fit < rows ? fit : rows;
    GC_TRY(gc_cuda_reserve(q->stream, &q->staging, (size_t)block * D * sizeof(float)));
    for (long long lo = 0; lo < rows; lo += block) {
        const long long n = rows - lo < block ? rows - lo : block;
        /* Stream-ordered after the previous block's kernels, which read the same buffer. */
        GC_CHECK_CUDA(cudaMemcpyAsync(q->staging.ptr, e + lo * D, (size_t)n * D * sizeof(float), cudaMemcpyHostToDevice,
                                      q->stream));
        GC_TRY(fn((const float *)q->staging.ptr, lo, n));
    }
    return GC_OK;
}

int max_abs_of(gc_backend *b, quality_call *q, const float *e, int64_t rows, int D, double *max_abs)
{
    GC_TRY(gc_cuda_reserve(q->stream, &q->acc, sizeof(unsigned)));
    unsigned *bits = (unsigned *)q->acc.ptr, host = 0;
    GC_CHECK_CUDA(cudaMemsetAsync(bits, 0, sizeof *bits, q->stream));
    GC_TRY(for_each_block(b, q, e, rows, D, [&](auto block, long long, long long n) -> int {
        largest_abs<<<grid_for(n * D, 4096), kThreads, 0, q->stream>>>(block, n * D, bits);
        GC_CHECK_LAUNCH();
        return GC_OK;
    }));
    GC_CHECK_CUDA(cudaMemcpyAsync(&host, bits, sizeof host, cudaMemcpyDeviceToHost, q->stream));
    GC_CHECK_CUDA(cudaStreamSynchronize(q->stream));
    float largest;
    memcpy(&largest, &host, sizeof largest);
    *max_abs = largest;
    return GC_OK;
}

int sums_of(gc_backend *b, quality_call *q, const float *e, int64_t rows, int D, int64_t first_row,
            const gc_random_subsets *subsets, double scale, int64_t *host)
{
    const int sums = 1 + subsets->count;
    const size_t values = 2 * (size_t)sums * D;
    int sms = 0;
    GC_CHECK_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, b->device_id));
    GC_TRY(gc_cuda_reserve(q->stream, &q->acc, values * sizeof(unsigned long long)));
    unsigned long long *acc = (unsigned long long *)q->acc.ptr;
    GC_CHECK_CUDA(cudaMemsetAsync(acc, 0, values * sizeof *acc, q->stream));
    GC_TRY(for_each_block(b, q, e, rows, D, [&](auto block, long long lo, long long n) -> int {
        GC_TRY(gc_cuda_reserve(q->stream, &q->mask, (size_t)n));
        unsigned char *mask = (unsigned char *)q->mask.ptr;
        subset_masks<<<grid_for(n, 4096), kThreads, 0, q->stream>>>(n, first_row + lo, *subsets, mask);
        GC_CHECK_LAUNCH();
        const long long warps_wanted = (n + kRowsPerWarp - 1) / kRowsPerWarp;
        long long blocks = (warps_wanted + kWarps - 1) / kWarps;
        blocks = blocks < 1 ? 1 : blocks > 8LL * sms ? 8LL * sms : blocks;
        const long long chunk = (n + blocks * kWarps - 1) / (blocks * kWarps);
        masked_sums<<<(unsigned)blocks, kThreads, 0, q->stream>>>(block, mask, n, D, sums, chunk, scale, acc);
        GC_CHECK_LAUNCH();
        return GC_OK;
    }));
    GC_CHECK_CUDA(cudaMemcpyAsync(host, acc, values * sizeof *acc, cudaMemcpyDeviceToHost, q->stream));
    GC_CHECK_CUDA(cudaStreamSynchronize(q->stream));
    return GC_OK;
}

} // namespace

extern "C" int gc_cuda_quality_max_abs(gc_backend *b, const float *e, int64_t rows, int D, double *max_abs)
{
    *max_abs = 0.0;
    if (rows <= 0) return GC_OK;
    quality_call q;
    int status = begin(b, &q);
    if (status == GC_OK) status = max_abs_of(b, &q, e, rows, D, max_abs);
    return finish(&q, status);
}

extern "C" int gc_cuda_quality_sums(gc_backend *b, const float *e, int64_t rows, int D, int64_t first_row,
                                    const gc_random_subsets *subsets, double scale, int64_t *acc)
{
    if (subsets->count < 0 || subsets->count > GC_QUALITY_MAX_SUBSETS)
        return gc_fail(GC_ERR_LIB, "quality: %d random subsets, at most %d", subsets->count, GC_QUALITY_MAX_SUBSETS);
    if (rows <= 0) return GC_OK;
    const size_t values = 2 * (size_t)(1 + subsets->count) * D;
    int64_t *host = (int64_t *)gc_malloc(values * sizeof *host);
    GC_CHECK_ALLOC(host);
    quality_call q;
    int status = begin(b, &q);
    if (status == GC_OK) status = sums_of(b, &q, e, rows, D, first_row, subsets, scale, host);
    status = finish(&q, status);
    for (size_t c = 0; c < values && status == GC_OK; ++c) acc[c] += host[c];
    free(host);
    return status;
}

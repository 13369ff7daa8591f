/* OMP scoring kernels (see omp_cuda.h). One pass:
 *   score_rows: score_i = w_i·⟨e_i, r⟩ (or |·|), each dot accumulated in double, −∞ where w_i = 0;
 *               every block also leaves its best (score, row) pair;
 *   pick_best:  one block reduces the block pairs to the winner, stores it, and sets the winner's
 *               score to −∞ so that best_of_scores can find the next one when count > 1.
 * Candidates are ordered as everywhere else (gc_omp_pair_before): higher score, then lower row. */
#include <math.h>
#include <mpi.h> /* before the extern "C" block: it brings C++ bindings of its own */

#include "cuda_check.h"
#include "omp_cuda.h"

namespace
{

constexpr int kThreads = 256;   /* 8 warps per block */
constexpr int kRowsPerWarp = 4; /* rows in flight per warp: independent loads */
constexpr long long kNoRow = 0x7fffffffffffffffLL;

struct pair {
    double score;
    long long index;
};

__device__ __forceinline__ bool before(pair a, pair b)
{
    return a.score > b.score || (a.score == b.score && a.index < b.index);
}

__device__ __forceinline__ pair better(pair a, pair b) { return before(b, a) ? b : a; }

__device__ __forceinline__ pair warp_best(pair p)
{
    for (int offset = 16; offset > 0; offset >>= 1) {
        pair q = { __shfl_down_sync(0xffffffffu, p.score, offset), __shfl_down_sync(0xffffffffu, p.index, offset) };
        p = better(p, q);
    }
    return p;
}

/* Block-wide best of each thread's pair; thread 0 gets the result. */
__device__ pair block_best(pair p)
{
    __shared__ pair warps[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    p = warp_best(p);
    if (lane == 0) warps[warp] = p;
    __syncthreads();
    if (warp == 0) {
        p = lane < (int)(blockDim.x / 32) ? warps[lane] : pair{ -INFINITY, kNoRow };
        p = warp_best(p);
    }
    return p;
}

/* Launch: blocks of kThreads, a warp per group of kRowsPerWarp rows, grid-stride over groups.
 * VEC: D % 4 == 0, so rows are 16-byte aligned and lanes read float4 (r as two double2). */
template <bool VEC>
__global__ void score_rows(const float *__restrict__ e, long long n, int D, const double *__restrict__ r,
                           const double *__restrict__ w, int signed_scores, double *__restrict__ scores,
                           pair *__restrict__ block_pairs)
{
    const int lane = threadIdx.x % 32;
    const long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    const long long warps = (long long)gridDim.x * blockDim.x / 32;
    pair mine = { -INFINITY, kNoRow };
    for (long long first = warp * kRowsPerWarp; first < n; first += warps * kRowsPerWarp) {
        /* Lane t < kRowsPerWarp finishes row first + t; its weight is loaded with the rows, not
         * after the reduction, so no second memory latency sits on the loop's critical path. */
        const long long row = first + lane;
        const double w_row = lane < kRowsPerWarp && row < n ? __ldg(w + row) : 0.0;
        double acc[kRowsPerWarp] = { 0.0, 0.0, 0.0, 0.0 };
        if (VEC) {
            for (int c = lane; c < D / 4; c += 32) {
                const double2 r01 = *reinterpret_cast<const double2 *>(r + 4 * c);
                const double2 r23 = *reinterpret_cast<const double2 *>(r + 4 * c + 2);
                float4 v[kRowsPerWarp];
#pragma unroll
                for (int t = 0; t < kRowsPerWarp; ++t)
                    v[t] = first + t < n ? __ldg(reinterpret_cast<const float4 *>(e + (first + t) * D) + c)
                                         : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
                for (int t = 0; t < kRowsPerWarp; ++t)
                    acc[t] += (double)v[t].x * r01.x + (double)v[t].y * r01.y + (double)v[t].z * r23.x +
                              (double)v[t].w * r23.y;
            }
        } else {
            for (int j = lane; j < D; j += 32) {
                const double rj = r[j];
#pragma unroll
                for (int t = 0; t < kRowsPerWarp; ++t)
                    if (first + t < n) acc[t] += (double)__ldg(e + (first + t) * D + j) * rj;
            }
        }
        double dot = 0.0; /* lane t keeps row first + t's dot (a static pick: acc stays in registers) */
#pragma unroll
        for (int t = 0; t < kRowsPerWarp; ++t) {
            double sum = acc[t];
            for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
            if (lane == t) dot = sum;
        }
        if (lane < kRowsPerWarp && row < n) {
            const double s = w_row > 0.0 ? w_row * (signed_scores ? dot : fabs(dot)) : -INFINITY;
            scores[row] = s;
            mine = better(mine, pair{ s, row });
        }
    }
    pair best = block_best(mine);
    if (threadIdx.x == 0) block_pairs[blockIdx.x] = best;
}

/* Launch: as score_rows. The best pair of each block's grid-stride share of the scores. */
__global__ void best_of_scores(const double *__restrict__ scores, long long n, pair *__restrict__ block_pairs)
{
    pair mine = { -INFINITY, kNoRow };
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        mine = better(mine, pair{ scores[i], i });
    pair best = block_best(mine);
    if (threadIdx.x == 0) block_pairs[blockIdx.x] = best;
}

/* Launch: one block of kThreads. out ← the best block pair (no row when its score is −∞, i.e. no
 * row is eligible); that row's score becomes −∞ for the next round. */
__global__ void pick_best(const pair *__restrict__ block_pairs, int blocks, double *__restrict__ scores,
                          pair *__restrict__ out)
{
    pair mine = { -INFINITY, kNoRow };
    for (int b = threadIdx.x; b < blocks; b += blockDim.x) mine = better(mine, block_pairs[b]);
    pair best = block_best(mine);
    if (threadIdx.x == 0) {
        if (best.score == -INFINITY)
            best = pair{ -INFINITY, kNoRow };
        else
            scores[best.index] = -INFINITY;
        *out = best;
    }
}

/* Launch: grid-stride over rows·D. out row t ← e row index[t]. */
__global__ void gather_rows(const float *__restrict__ e, const long long *__restrict__ index, long long rows, int D,
                            float *__restrict__ out)
{
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < rows * D;
         k += (long long)gridDim.x * blockDim.x)
        out[k] = e[index[k / D] * D + k % D];
}

} // namespace

struct gc_omp_device {
    cudaStream_t stream;
    long long n;
    int D, blocks;
    float *e; /* [n × D]: own, or the backend's resident embeddings (not freed here) */
    int owns_e;
    double *w;         /* [n] */
    double *r;         /* [D] */
    double *scores;    /* [n] */
    pair *block_pairs; /* [blocks] */
    pair *best;        /* [best_capacity]: the largest count asked for so far */
    int best_capacity;
};

static_assert(sizeof(pair) == sizeof(gc_omp_pair), "device pairs are copied into gc_omp_pair");

/* d->e ← the problem's rows: the resident embeddings themselves, gathered from them, or copied up. */
static int place_rows(gc_backend *b, gc_omp_device *d, int64_t rows, int D, const float *e, const float *origin,
                      const int64_t *index)
{
    const float *resident = origin != NULL ? gc_cuda_resident(b, origin, rows, D) : NULL;
    if (resident != NULL && index == NULL) {
        d->e = (float *)resident;
        return GC_OK;
    }
    d->owns_e = 1;
    GC_CHECK_CUDA(cudaMalloc(&d->e, (size_t)(rows > 0 ? rows : 1) * D * sizeof(float)));
    if (rows == 0) return GC_OK;
    if (resident == NULL) {
        GC_CHECK_CUDA(cudaMemcpyAsync(d->e, e, (size_t)rows * D * sizeof(float), cudaMemcpyHostToDevice, d->stream));
        return GC_OK;
    }
    long long *device_index = NULL;
    GC_CHECK_CUDA(cudaMalloc(&device_index, (size_t)rows * sizeof *device_index));
    GC_CHECK_CUDA(
        cudaMemcpyAsync(device_index, index, (size_t)rows * sizeof *index, cudaMemcpyHostToDevice, d->stream));
    gather_rows<<<d->blocks, kThreads, 0, d->stream>>>(resident, device_index, rows, D, d->e);
    GC_CHECK_LAUNCH();
    GC_CHECK_CUDA(cudaStreamSynchronize(d->stream));
    GC_CHECK_CUDA(cudaFree(device_index));
    return GC_OK;
}

extern "C" int gc_cuda_omp_attach(gc_backend *b, int64_t rows, int D, const float *e, const float *origin,
                                  const int64_t *index, gc_omp_device **out)
{
    *out = NULL;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    gc_omp_device *d = (gc_omp_device *)gc_calloc(1, sizeof *d);
    if (d == NULL) return gc_fail(GC_ERR_MEMORY, "out of memory for the OMP device state");
    *out = d;
    d->n = rows;
    d->D = D;
    /* One wave of resident blocks, grid-striding: every SM gets the same share of rows. */
    int sms = 0, per_sm = 0;
    GC_CHECK_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, b->device_id));
    GC_CHECK_CUDA(D % 4 == 0 ? cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, score_rows<true>, kThreads, 0)
                             : cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, score_rows<false>, kThreads, 0));
    const long long groups = (rows + kRowsPerWarp - 1) / kRowsPerWarp, warps_per_block = kThreads / 32;
    const long long wanted = (groups + warps_per_block - 1) / warps_per_block, wave = (long long)sms * per_sm;
    if (wave < 1) return gc_fail(GC_ERR_DEVICE, "OMP scoring kernel cannot run on GPU %d", b->device_id);
    d->blocks = (int)(wanted < 1 ? 1 : wanted > wave ? wave : wanted);
    const size_t n = (size_t)(rows > 0 ? rows : 1);
    GC_CHECK_CUDA(cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking));
    GC_TRY(place_rows(b, d, rows, D, e, origin, index));
    GC_CHECK_CUDA(cudaMalloc(&d->w, n * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&d->scores, n * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&d->r, (size_t)D * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&d->block_pairs, (size_t)d->blocks * sizeof(pair)));
    GC_CHECK_CUDA(cudaMemsetAsync(d->w, 0, n * sizeof(double), d->stream));
    GC_CHECK_CUDA(cudaStreamSynchronize(d->stream));
    return GC_OK;
}

extern "C" int gc_cuda_omp_set_weights(gc_backend *b, gc_omp_device *d, int64_t first, int64_t count, const double *w)
{
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    if (count <= 0) return GC_OK;
    GC_CHECK_CUDA(cudaMemcpyAsync(d->w + first, w, (size_t)count * sizeof *w, cudaMemcpyHostToDevice, d->stream));
    GC_CHECK_CUDA(cudaStreamSynchronize(d->stream));
    return GC_OK;
}

extern "C" int gc_cuda_omp_best(gc_backend *b, gc_omp_device *d, const double *r, int signed_scores, int count,
                                gc_omp_pair *best)
{
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    for (int t = 0; t < count; ++t) best[t] = gc_omp_pair{ -INFINITY, INT64_MAX };
    if (d->n == 0 || count <= 0) return GC_OK;
    if (count > d->best_capacity) {
        if (d->best != NULL) GC_CHECK_CUDA(cudaFree(d->best));
        d->best = NULL;
        GC_CHECK_CUDA(cudaMalloc(&d->best, (size_t)count * sizeof(pair)));
        d->best_capacity = count;
    }
    GC_CHECK_CUDA(cudaMemcpyAsync(d->r, r, (size_t)d->D * sizeof *r, cudaMemcpyHostToDevice, d->stream));
    if (d->D % 4 == 0)
        score_rows<true><<<d->blocks, kThreads, 0, d->stream>>>(d->e, d->n, d->D, d->r, d->w, signed_scores, d->scores,
                                                                d->block_pairs);
    else
        score_rows<false><<<d->blocks, kThreads, 0, d->stream>>>(d->e, d->n, d->D, d->r, d->w, signed_scores, d->scores,
                                                                 d->block_pairs);
    GC_CHECK_LAUNCH();
    const int take = (int)(count < d->n ? count : d->n);
    for (int t = 0; t < take; ++t) {
        if (t > 0) {
            best_of_scores<<<d->blocks, kThreads, 0, d->stream>>>(d->scores, d->n, d->block_pairs);
            GC_CHECK_LAUNCH();
        }
        pick_best<<<1, kThreads, 0, d->stream>>>(d->block_pairs, d->blocks, d->scores, d->best + t);
        GC_CHECK_LAUNCH();
    }
    GC_CHECK_CUDA(cudaMemcpyAsync(best, d->best, (size_t)take * sizeof(pair), cudaMemcpyDeviceToHost, d->stream));
    GC_CHECK_CUDA(cudaStreamSynchronize(d->stream));
    return GC_OK;
}

extern "C" void gc_cuda_omp_detach(gc_backend *b, gc_omp_device *d)
{
    if (d == NULL) return;
    (void)cudaSetDevice(b->device_id);
    gc_cuda_stream_end(d->stream, nullptr);
    if (d->owns_e) (void)cudaFree(d->e);
    (void)cudaFree(d->w);
    (void)cudaFree(d->r);
    (void)cudaFree(d->scores);
    (void)cudaFree(d->block_pairs);
    (void)cudaFree(d->best);
    free(d);
}

/* BiCo's scoring pass on the GPU (see bico_cuda.h):
 *   score_rows: one warp per row; lanes stride over the q' features, each keeping the partial dots
 *               θ_cᵀz and V_cᵀz of CLASS_CHUNK classes, reduced by a fixed shuffle tree, so a row's
 *               score is the same bits whichever rank holds the row;
 *               s_i = 2 Σ_c (θ_cᵀz_i − [c = y_i]) V_cᵀz_i.
 * The features stay in device memory; a pass uploads θ and V (2·q'·C doubles) and returns the
 * scores (8 bytes a row).
 * The data summary (select_bico.c's data_summary, its CPU twin and oracle): per block of rows,
 *   ZᵀVZ   by cublasDsyrk on √v·z (lower in column-major = upper of the row-major matrix),
 *   ZᵀVY   by cublasDgemm against W = V·onehot(y), and Σ v per class by class_weights,
 * then every value is cut on gc_exact_sum's grid (exact_split.h) and added to int64 accumulators by
 * the thread that owns it: integer sums, so the blocks may come in any order. */
#include <math.h>
#include <mpi.h> /* before the extern "C" block: it brings C++ bindings of its own */

#include "bico_cuda.h"
#include "core/exact_split.h"
#include "cuda_check.h"

struct gc_bico_summary_device {
    cudaStream_t stream;
    cublasHandle_t blas;
    int qp, C;
    int64_t max_rows, n; /* n = q'(q'+1)/2 + q'C + C values */
    double scale;
    double *z, *zs, *w, *v, *gram, *tail; /* tail: ZᵀVY [q' × C] row-major, then Σ v per class [C] */
    int32_t *y;
    int64_t *acc; /* [2n] */
};

struct gc_bico_device {
    cudaStream_t stream;
    int64_t rows;
    int qp, C;
    double *z, *theta, *v, *scores;
    int32_t *y;
};

namespace
{

constexpr int kThreads = 256;
constexpr int kClassChunk = 8;

__global__ void score_rows(const double *__restrict__ z, const int32_t *__restrict__ y, long long n, int qp, int C,
                           const double *__restrict__ theta, const double *__restrict__ v, double *__restrict__ scores)
{
    const int lane = threadIdx.x % 32;
    const long long warps = (long long)gridDim.x * blockDim.x / 32;
    for (long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; row < n; row += warps) {
        const double *zr = z + row * qp;
        double s = 0.0;
        for (int c0 = 0; c0 < C; c0 += kClassChunk) {
            const int cn = C - c0 < kClassChunk ? C - c0 : kClassChunk;
            double u[kClassChunk], w[kClassChunk];
#pragma unroll
            for (int t = 0; t < kClassChunk; ++t) u[t] = w[t] = 0.0;
            for (int j = lane; j < qp; j += 32) {
                const double zj = __ldg(zr + j);
#pragma unroll
                for (int t = 0; t < kClassChunk; ++t)
                    if (t < cn) {
                        u[t] += zj * __ldg(theta + (long long)j * C + c0 + t);
                        w[t] += zj * __ldg(v + (long long)j * C + c0 + t);
                    }
            }
#pragma unroll
            for (int t = 0; t < kClassChunk; ++t)
                for (int offset = 16; offset > 0; offset >>= 1) {
                    u[t] += __shfl_down_sync(0xffffffffu, u[t], offset);
                    w[t] += __shfl_down_sync(0xffffffffu, w[t], offset);
                }
            if (lane == 0)
                for (int t = 0; t < cn; ++t) s += (u[t] - (c0 + t == y[row] ? 1.0 : 0.0)) * w[t];
        }
        if (lane == 0) scores[row] = 2.0 * s;
    }
}

/* zs = √v·z, and W [rows × C] = v·onehot(y) (row-major, the column-major C × rows of the GEMM). */
__global__ void weigh_rows(const double *__restrict__ z, const int32_t *__restrict__ y, const double *__restrict__ v,
                           long long rows, int qp, int C, double *__restrict__ zs, double *__restrict__ w)
{
    const long long stride = (long long)gridDim.x * blockDim.x;
    if (v != nullptr)
        for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < rows * qp; i += stride)
            zs[i] = sqrt(v[i / qp]) * z[i];
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < rows * C; i += stride)
        w[i] = y[i / C] == i % C ? (v != nullptr ? v[i / C] : 1.0) : 0.0;
}

/* Σ v over the block's rows of class c, one thread a class, rows in order. */
__global__ void class_weights(const int32_t *__restrict__ y, const double *__restrict__ v, long long rows, int C,
                              double *__restrict__ out)
{
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double s = 0.0;
    for (long long r = 0; r < rows; ++r)
        if (y[r] == c) s += v != nullptr ? v[r] : 1.0;
    out[c] = s;
}

__device__ void accumulate(int64_t *acc, long long n, long long t, double value, double scale)
{
    int64_t whole, fraction;
    gc_exact_split(value, scale, &whole, &fraction);
    acc[t] += whole;
    acc[n + t] += fraction;
}

/* Entry (a, b ≥ a) of the row-major upper triangle is gram[a·q' + b] (column-major lower) and
 * summary value t = a·q' − a(a−1)/2 + (b − a); the tail's values follow from q'(q'+1)/2 on. */
__global__ void accumulate_summary(const double *__restrict__ gram, const double *__restrict__ tail, int qp,
                                   long long tail_n, long long n, double scale, int64_t *__restrict__ acc)
{
    const long long stride = (long long)gridDim.x * blockDim.x, square = (long long)qp * qp;
    const long long packed = (long long)qp * (qp + 1) / 2;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < square + tail_n; i += stride) {
        if (i >= square) {
            accumulate(acc, n, packed + (i - square), tail[i - square], scale);
            continue;
        }
        const long long a = i / qp, b = i % qp;
        if (b >= a) accumulate(acc, n, a * qp - a * (a - 1) / 2 + (b - a), gram[i], scale);
    }
}

unsigned grid_for(long long work)
{
    const long long blocks = (work + kThreads - 1) / kThreads;
    return (unsigned)(blocks < 1 ? 1 : blocks > 4096 ? 4096 : blocks);
}

int summary_buffers(gc_bico_summary_device *dev)
{
    const size_t rows = (size_t)(dev->max_rows > 0 ? dev->max_rows : 1), qp = (size_t)dev->qp, C = (size_t)dev->C;
    GC_CHECK_CUDA(cudaStreamCreateWithFlags(&dev->stream, cudaStreamNonBlocking));
    GC_CHECK_CUBLAS(cublasCreate(&dev->blas));
    GC_CHECK_CUBLAS(cublasSetStream(dev->blas, dev->stream));
    GC_CHECK_CUDA(cudaMalloc(&dev->z, rows * qp * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->zs, rows * qp * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->w, rows * C * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->v, rows * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->y, rows * sizeof(int32_t)));
    GC_CHECK_CUDA(cudaMalloc(&dev->gram, qp * qp * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->tail, (qp * C + C) * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->acc, 2 * (size_t)dev->n * sizeof(int64_t)));
    GC_CHECK_CUDA(cudaMemsetAsync(dev->acc, 0, 2 * (size_t)dev->n * sizeof(int64_t), dev->stream));
    return GC_OK;
}

int upload(gc_bico_device *dev, const double *z, const int32_t *y)
{
    const size_t n = (size_t)(dev->rows > 0 ? dev->rows : 1), qc = (size_t)dev->qp * dev->C;
    GC_CHECK_CUDA(cudaStreamCreateWithFlags(&dev->stream, cudaStreamNonBlocking));
    GC_CHECK_CUDA(cudaMalloc(&dev->z, n * dev->qp * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->y, n * sizeof(int32_t)));
    GC_CHECK_CUDA(cudaMalloc(&dev->scores, n * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->theta, qc * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->v, qc * sizeof(double)));
    GC_CHECK_CUDA(cudaMemcpy(dev->z, z, (size_t)dev->rows * dev->qp * sizeof(double), cudaMemcpyHostToDevice));
    GC_CHECK_CUDA(cudaMemcpy(dev->y, y, (size_t)dev->rows * sizeof(int32_t), cudaMemcpyHostToDevice));
    return GC_OK;
}

} // namespace

extern "C" int gc_cuda_bico_attach(gc_backend *b, int64_t rows, int qp, int C, const double *z, const int32_t *y,
                                   gc_bico_device **out)
{
    *out = NULL;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    gc_bico_device *dev = (gc_bico_device *)gc_calloc(1, sizeof *dev);
    GC_CHECK_ALLOC(dev);
    dev->rows = rows;
    dev->qp = qp;
    dev->C = C;
    int status = upload(dev, z, y);
    if (status != GC_OK) {
        gc_cuda_bico_detach(b, dev);
        return status;
    }
    *out = dev;
    return GC_OK;
}

extern "C" int gc_cuda_bico_scores(gc_backend *b, gc_bico_device *dev, const double *theta, const double *v,
                                   double *scores)
{
    if (dev->rows == 0) return GC_OK;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    const size_t qc = (size_t)dev->qp * dev->C;
    GC_CHECK_CUDA(cudaMemcpyAsync(dev->theta, theta, qc * sizeof(double), cudaMemcpyHostToDevice, dev->stream));
    GC_CHECK_CUDA(cudaMemcpyAsync(dev->v, v, qc * sizeof(double), cudaMemcpyHostToDevice, dev->stream));
    const long long warps_needed = dev->rows, per_block = kThreads / 32;
    long long blocks = (warps_needed + per_block - 1) / per_block;
    if (blocks > (1LL << 16)) blocks = 1LL << 16; /* grid-stride beyond: enough warps to fill any GPU */
    score_rows<<<(unsigned)blocks, kThreads, 0, dev->stream>>>(dev->z, dev->y, dev->rows, dev->qp, dev->C, dev->theta,
                                                               dev->v, dev->scores);
    GC_CHECK_LAUNCH();
    GC_CHECK_CUDA(
        cudaMemcpyAsync(scores, dev->scores, (size_t)dev->rows * sizeof(double), cudaMemcpyDeviceToHost, dev->stream));
    GC_CHECK_CUDA(cudaStreamSynchronize(dev->stream));
    return GC_OK;
}

extern "C" void gc_cuda_bico_detach(gc_backend *b, gc_bico_device *dev)
{
    if (dev == NULL) return;
    (void)cudaSetDevice(b->device_id);
    gc_cuda_stream_end(dev->stream, nullptr);
    (void)cudaFree(dev->z);
    (void)cudaFree(dev->y);
    (void)cudaFree(dev->scores);
    (void)cudaFree(dev->theta);
    (void)cudaFree(dev->v);
    free(dev);
}

extern "C" int gc_cuda_bico_summary_attach(gc_backend *b, int qp, int C, int64_t max_rows, double scale,
                                           gc_bico_summary_device **out)
{
    *out = NULL;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    gc_bico_summary_device *dev = (gc_bico_summary_device *)gc_calloc(1, sizeof *dev);
    GC_CHECK_ALLOC(dev);
    dev->qp = qp;
    dev->C = C;
    dev->max_rows = max_rows;
    dev->n = (int64_t)qp * (qp + 1) / 2 + (int64_t)qp * C + C;
    dev->scale = scale;
    int status = summary_buffers(dev);
    if (status != GC_OK) {
        gc_cuda_bico_summary_detach(b, dev);
        return status;
    }
    *out = dev;
    return GC_OK;
}

extern "C" int gc_cuda_bico_summary_add(gc_backend *b, gc_bico_summary_device *dev, int64_t rows, const double *z,
                                        const int32_t *y, const double *v)
{
    if (rows <= 0) return GC_OK;
    if (rows > dev->max_rows)
        return gc_fail(GC_ERR_LIB, "BiCo summary: a block of %lld rows, set up for at most %lld", (long long)rows,
                       (long long)dev->max_rows);
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    const int qp = dev->qp, C = dev->C;
    GC_CHECK_CUDA(cudaMemcpyAsync(dev->z, z, (size_t)rows * qp * sizeof(double), cudaMemcpyHostToDevice, dev->stream));
    GC_CHECK_CUDA(cudaMemcpyAsync(dev->y, y, (size_t)rows * sizeof(int32_t), cudaMemcpyHostToDevice, dev->stream));
    if (v != NULL)
        GC_CHECK_CUDA(cudaMemcpyAsync(dev->v, v, (size_t)rows * sizeof(double), cudaMemcpyHostToDevice, dev->stream));
    const double *dv = v != NULL ? dev->v : nullptr;
    weigh_rows<<<grid_for(rows * (qp > C ? qp : C)), kThreads, 0, dev->stream>>>(dev->z, dev->y, dv, rows, qp, C,
                                                                                 dev->zs, dev->w);
    GC_CHECK_LAUNCH();
    class_weights<<<(C + kThreads - 1) / kThreads, kThreads, 0, dev->stream>>>(dev->y, dv, rows, C,
                                                                               dev->tail + (size_t)qp * C);
    GC_CHECK_LAUNCH();
    const double one = 1.0, zero = 0.0;
    GC_CHECK_CUBLAS(cublasDsyrk(dev->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, qp, (int)rows, &one,
                                v != NULL ? dev->zs : dev->z, qp, &zero, dev->gram, qp));
    /* tail[j·C + c] = Σ_r w[r·C + c] z[r·q' + j]: column-major (C × rows)·(rows × q'). */
    GC_CHECK_CUBLAS(cublasDgemm(dev->blas, CUBLAS_OP_N, CUBLAS_OP_T, C, qp, (int)rows, &one, dev->w, C, dev->z, qp,
                                &zero, dev->tail, C));
    const long long tail_n = (long long)qp * C + C;
    accumulate_summary<<<grid_for((long long)qp * qp + tail_n), kThreads, 0, dev->stream>>>(
        dev->gram, dev->tail, qp, tail_n, dev->n, dev->scale, dev->acc);
    GC_CHECK_LAUNCH();
    /* The caller may reuse z, y and v as soon as this returns. */
    GC_CHECK_CUDA(cudaStreamSynchronize(dev->stream));
    return GC_OK;
}

extern "C" int gc_cuda_bico_summary_collect(gc_backend *b, gc_bico_summary_device *dev, int64_t *acc)
{
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    const size_t count = 2 * (size_t)dev->n;
    int64_t *host = (int64_t *)gc_malloc(count * sizeof *host);
    GC_CHECK_ALLOC(host);
    const cudaError_t rc = cudaMemcpy(host, dev->acc, count * sizeof *host, cudaMemcpyDeviceToHost);
    if (rc == cudaSuccess)
        for (size_t j = 0; j < count; ++j) acc[j] += host[j];
    free(host);
    GC_CHECK_CUDA(rc);
    return GC_OK;
}

extern "C" void gc_cuda_bico_summary_detach(gc_backend *b, gc_bico_summary_device *dev)
{
    if (dev == NULL) return;
    (void)cudaSetDevice(b->device_id);
    gc_cuda_stream_end(dev->stream, dev->blas);
    double *buffers[] = { dev->z, dev->zs, dev->w, dev->v, dev->gram, dev->tail };
    for (double *p : buffers) (void)cudaFree(p);
    (void)cudaFree(dev->y);
    (void)cudaFree(dev->acc);
    free(dev);
}

/* BiCo's scoring pass on the GPU (see bico_cuda.h):
 *   score_rows: one warp per row; lanes stride over the q' features, each keeping the partial dots
 *               θ_cᵀz and V_cᵀz of CLASS_CHUNK classes, reduced by a fixed shuffle tree, so a row's
 *               score is the same bits whichever rank holds the row;
 *               s_i = 2 Σ_c (θ_cᵀz_i − [c = y_i]) V_cᵀz_i.
 * The features stay in device memory; a pass uploads θ and V (2·q'·C doubles) and returns the
 * scores (8 bytes a row). */
#include <math.h>
#include <mpi.h> /* before the extern "C" block: it brings C++ bindings of its own */

#include "bico_cuda.h"
#include "cuda_check.h"

struct gc_bico_device {
    cudaStream_t stream;
    int64_t rows;
    int qp, C;
    double *z, *theta, *v, *scores;
    int32_t *y;
};

namespace {

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
    gc_bico_device *dev = (gc_bico_device *)calloc(1, sizeof *dev);
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
    if (dev->stream) {
        (void)cudaStreamSynchronize(dev->stream);
        (void)cudaStreamDestroy(dev->stream);
    }
    (void)cudaFree(dev->z);
    (void)cudaFree(dev->y);
    (void)cudaFree(dev->scores);
    (void)cudaFree(dev->theta);
    (void)cudaFree(dev->v);
    free(dev);
}

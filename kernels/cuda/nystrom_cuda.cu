/* Nyström features on the GPU (see bico_cuda.h): k = −2 x Lᵀ by cublasDgemm, then
 * k_ij = exp(−γ·max(0, k_ij + ‖x_i‖² + ‖l_j‖²)) (rbf_rows), then z = k P by cublasDgemm; all in
 * double like the CPU twin, so the two agree to rounding (ulps of exp and GEMM order). */
#include <math.h>
#include <mpi.h> /* before the extern "C" block: it brings C++ bindings of its own */

#include "bico_cuda.h"
#include "cuda_check.h"
#include "rows.cuh"

struct gc_nystrom_device {
    const gc_nystrom_map *map;
    cudaStream_t stream;
    cublasHandle_t blas;
    double *landmarks, *landmark_sq, *projection; /* uploaded once */
    float *xf;                                    /* [capacity × d] */
    double *x, *k, *z;                            /* [capacity × d], [capacity × q], [capacity × q'] */
    int64_t capacity;
};

namespace
{

/* x (stored as T: float, or the device's copy of E at its precision) → double, one thread per
 * value (exact). */
template <typename T> __global__ void widen(const T *__restrict__ in, double *__restrict__ out, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = (double)gc_widen(in[i]);
}

int widen_values(const void *in, gc_precision precision, double *out, long long n, cudaStream_t stream)
{
    if (n == 0) return GC_OK;
    return gc_with_precision(precision, [&](auto stored) -> int {
        using T = decltype(stored);
        widen<<<(unsigned)((n + 255) / 256), 256, 0, stream>>>((const T *)in, out, n);
        GC_CHECK_LAUNCH();
        return GC_OK;
    });
}

/* One block per row: the row's squared norm (thread 0, in column order like the CPU loop), then
 * every thread maps its kernel entries. */
__global__ void rbf_rows(const double *__restrict__ x, int d, const double *__restrict__ landmark_sq, int q,
                         double gamma, double *__restrict__ k)
{
    __shared__ double xx;
    const long long i = blockIdx.x;
    if (threadIdx.x == 0) {
        double s = 0.0;
        for (int j = 0; j < d; ++j) s += x[i * d + j] * x[i * d + j];
        xx = s;
    }
    __syncthreads();
    for (int j = threadIdx.x; j < q; j += blockDim.x) {
        double sq = k[i * q + j] + xx + landmark_sq[j];
        k[i * q + j] = exp(-gamma * (sq > 0.0 ? sq : 0.0));
    }
}

/* Room for a call of `rows` rows: x and z for all of them, k for one block. */
int grow(gc_nystrom_device *dev, int64_t rows)
{
    if (rows <= dev->capacity) return GC_OK;
    const gc_nystrom_map *m = dev->map;
    (void)cudaFree(dev->xf);
    (void)cudaFree(dev->x);
    (void)cudaFree(dev->k);
    (void)cudaFree(dev->z);
    dev->xf = NULL;
    dev->x = dev->k = dev->z = NULL;
    dev->capacity = 0;
    GC_CHECK_CUDA(cudaMalloc(&dev->xf, (size_t)rows * m->d * sizeof(float)));
    GC_CHECK_CUDA(cudaMalloc(&dev->x, (size_t)rows * m->d * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->k, (size_t)m->block * m->q * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->z, (size_t)rows * m->rank * sizeof(double)));
    dev->capacity = rows;
    return GC_OK;
}

int upload(gc_nystrom_device *dev)
{
    const gc_nystrom_map *m = dev->map;
    GC_CHECK_CUDA(cudaStreamCreateWithFlags(&dev->stream, cudaStreamNonBlocking));
    GC_CHECK_CUBLAS(cublasCreate(&dev->blas));
    GC_CHECK_CUBLAS(cublasSetStream(dev->blas, dev->stream));
    GC_CHECK_CUDA(cudaMalloc(&dev->landmarks, (size_t)m->q * m->d * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->landmark_sq, (size_t)m->q * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->projection, (size_t)m->q * m->rank * sizeof(double)));
    GC_CHECK_CUDA(
        cudaMemcpy(dev->landmarks, m->landmarks, (size_t)m->q * m->d * sizeof(double), cudaMemcpyHostToDevice));
    GC_CHECK_CUDA(cudaMemcpy(dev->landmark_sq, m->landmark_sq, (size_t)m->q * sizeof(double), cudaMemcpyHostToDevice));
    GC_CHECK_CUDA(
        cudaMemcpy(dev->projection, m->projection, (size_t)m->q * m->rank * sizeof(double), cudaMemcpyHostToDevice));
    return GC_OK;
}

} // namespace

extern "C" int gc_cuda_nystrom_attach(gc_backend *b, const gc_nystrom_map *map, gc_nystrom_device **out)
{
    *out = NULL;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    gc_nystrom_device *dev = (gc_nystrom_device *)gc_calloc(1, sizeof *dev);
    GC_CHECK_ALLOC(dev);
    dev->map = map;
    int status = upload(dev);
    if (status != GC_OK) {
        gc_cuda_nystrom_detach(b, dev);
        return status;
    }
    *out = dev;
    return GC_OK;
}

/* dev->z [rows × q'] ← the features of `rows` rows (a multiple of map->block), rows [at, at + count)
 * being x and the others zeros, each block on its own (GEMMs of one shape). x: host floats, copied
 * up; or with x NULL, rows of `kept` (the device's copy of E) from row `kept_first`, read in place. */
static int compute(gc_nystrom_device *dev, int64_t rows, const float *x, gc_cuda_rows kept, int64_t kept_first,
                   int64_t at, int64_t count)
{
    GC_TRY(grow(dev, rows));
    const gc_nystrom_map *m = dev->map;
    const long long values = (long long)rows * m->d;
    if (x == NULL) {
        if (count < rows) GC_CHECK_CUDA(cudaMemsetAsync(dev->x, 0, (size_t)values * sizeof(double), dev->stream));
        const size_t value_bytes = (size_t)gc_precision_bytes(kept.precision);
        GC_TRY(widen_values((const char *)kept.data + (size_t)kept_first * m->d * value_bytes, kept.precision,
                            dev->x + at * m->d, (long long)count * m->d, dev->stream));
    } else {
        if (count < rows) GC_CHECK_CUDA(cudaMemsetAsync(dev->xf, 0, (size_t)values * sizeof(float), dev->stream));
        GC_CHECK_CUDA(cudaMemcpyAsync(dev->xf + at * m->d, x, (size_t)count * m->d * sizeof(float),
                                      cudaMemcpyHostToDevice, dev->stream));
        GC_TRY(widen_values(dev->xf, GC_PRECISION_FP32, dev->x, values, dev->stream));
    }
    const double minus_two = -2.0, one = 1.0, zero = 0.0;
    const int B = m->block;
    for (int64_t lo = 0; lo < rows; lo += B) { /* a block at a time: every GEMM of one shape */
        const double *xb = dev->x + lo * m->d;
        /* Row-major k [B × q] is column-major kᵀ = L xᵀ: L row-major [q × d] read transposed. */
        GC_CHECK_CUBLAS(cublasDgemm(dev->blas, CUBLAS_OP_T, CUBLAS_OP_N, m->q, B, m->d, &minus_two, dev->landmarks,
                                    m->d, xb, m->d, &zero, dev->k, m->q));
        rbf_rows<<<(unsigned)B, 128, 0, dev->stream>>>(xb, m->d, dev->landmark_sq, m->q, m->gamma, dev->k);
        GC_CHECK_LAUNCH();
        /* Column-major zᵀ [q' × B] = Pᵀ kᵀ, P row-major [q × q'] being column-major Pᵀ. */
        GC_CHECK_CUBLAS(cublasDgemm(dev->blas, CUBLAS_OP_N, CUBLAS_OP_N, m->rank, B, m->q, &one, dev->projection,
                                    m->rank, dev->k, m->q, &zero, dev->z + lo * m->rank, m->rank));
    }
    return GC_OK;
}

extern "C" int gc_cuda_nystrom_features(gc_backend *b, gc_nystrom_device *dev, int64_t rows, const float *x, double *z)
{
    if (rows == 0) return GC_OK;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    GC_TRY(compute(dev, rows, x, gc_cuda_rows{}, 0, 0, rows));
    GC_CHECK_CUDA(cudaMemcpyAsync(z, dev->z, (size_t)rows * dev->map->rank * sizeof(double), cudaMemcpyDeviceToHost,
                                  dev->stream));
    GC_CHECK_CUDA(cudaStreamSynchronize(dev->stream));
    return GC_OK;
}

int gc_cuda_nystrom_features_to_device(gc_backend *b, gc_nystrom_device *dev, int64_t rows, const float *x,
                                       gc_cuda_rows kept, int64_t kept_first, int64_t at, int64_t count, double *out)
{
    if (count == 0) return GC_OK;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    GC_TRY(compute(dev, rows, x, kept, kept_first, at, count));
    const size_t qp = (size_t)dev->map->rank;
    GC_CHECK_CUDA(cudaMemcpyAsync(out, dev->z + at * qp, (size_t)count * qp * sizeof(double), cudaMemcpyDeviceToDevice,
                                  dev->stream));
    GC_CHECK_CUDA(cudaStreamSynchronize(dev->stream));
    return GC_OK;
}

extern "C" void gc_cuda_nystrom_detach(gc_backend *b, gc_nystrom_device *dev)
{
    if (dev == NULL) return;
    (void)cudaSetDevice(b->device_id);
    gc_cuda_stream_end(dev->stream, dev->blas);
    (void)cudaFree(dev->landmarks);
    (void)cudaFree(dev->landmark_sq);
    (void)cudaFree(dev->projection);
    (void)cudaFree(dev->xf);
    (void)cudaFree(dev->x);
    (void)cudaFree(dev->k);
    (void)cudaFree(dev->z);
    free(dev);
}

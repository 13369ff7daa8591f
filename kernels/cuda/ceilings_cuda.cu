/* The GPU's ceilings for the phases' floors (kernels/ceilings.h): a device-to-device copy, a
 * host-to-device copy from pinned memory and an FP32 SGEMM (cuBLAS's default math mode, the one the
 * kernels use), each the best of a few repetitions timed with events. */
#include <mpi.h> /* before the extern "C" blocks: it brings C++ bindings of its own */
#include <string.h>

#include "ceilings_cuda.h"
#include "cuda_check.h"

namespace
{

const int REPEATS = 4;

struct scratch {
    void *a = nullptr, *b = nullptr, *host = nullptr;
    cudaEvent_t start = nullptr, stop = nullptr;
    cublasHandle_t blas = nullptr;
    ~scratch()
    {
        (void)cudaDeviceSynchronize();
        if (blas) (void)cublasDestroy(blas);
        if (start) (void)cudaEventDestroy(start);
        if (stop) (void)cudaEventDestroy(stop);
        (void)cudaFree(a);
        (void)cudaFree(b);
        (void)cudaFreeHost(host);
    }
};

/* Seconds of the best of REPEATS runs of `work` (which issues on the null stream). */
template <typename F> int best_time(scratch &s, F work, double *seconds)
{
    *seconds = 0.0;
    for (int r = 0; r < REPEATS; ++r) {
        GC_CHECK_CUDA(cudaEventRecord(s.start));
        GC_TRY(work());
        GC_CHECK_CUDA(cudaEventRecord(s.stop));
        GC_CHECK_CUDA(cudaEventSynchronize(s.stop));
        float ms = 0.0f;
        GC_CHECK_CUDA(cudaEventElapsedTime(&ms, s.start, s.stop));
        if (r > 0 && (*seconds == 0.0 || ms * 1e-3 < *seconds)) *seconds = ms * 1e-3; /* r = 0 warms up */
    }
    return GC_OK;
}

} // namespace

extern "C" int gc_cuda_ceilings(gc_backend *b, gc_ceilings *c)
{
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    scratch s;
    /* 64 MiB over the link: over a millisecond a copy, and quick to pin */
    const size_t bytes = (size_t)512 << 20, link_bytes = (size_t)64 << 20;
    const int n = 4096;
    GC_CHECK_CUDA(cudaMalloc(&s.a, bytes));
    GC_CHECK_CUDA(cudaMalloc(&s.b, bytes));
    GC_CHECK_CUDA(cudaMallocHost(&s.host, link_bytes));
    GC_CHECK_CUDA(cudaEventCreate(&s.start));
    GC_CHECK_CUDA(cudaEventCreate(&s.stop));
    GC_CHECK_CUBLAS(cublasCreate(&s.blas));
    GC_CHECK_CUDA(cudaMemset(s.a, 0, bytes));
    memset(s.host, 0, link_bytes);
    double t = 0.0;
    GC_TRY(best_time(
        s,
        [&]() -> int {
            GC_CHECK_CUDA(cudaMemcpyAsync(s.b, s.a, bytes, cudaMemcpyDeviceToDevice));
            return GC_OK;
        },
        &t));
    c->bandwidth[GC_FLOOR_MEMORY] = t > 0 ? 2.0 * bytes / t / 1e9 : 0.0;
    GC_TRY(best_time(
        s,
        [&]() -> int {
            GC_CHECK_CUDA(cudaMemcpyAsync(s.a, s.host, link_bytes, cudaMemcpyHostToDevice));
            return GC_OK;
        },
        &t));
    c->bandwidth[GC_FLOOR_LINK] = t > 0 ? link_bytes / t / 1e9 : 0.0;
    const float one = 1.0f, zero = 0.0f;
    float *A = (float *)s.a, *C = (float *)s.b; /* n² floats each: 64 MiB of the 512 */
    GC_TRY(best_time(
        s,
        [&]() -> int {
            GC_CHECK_CUBLAS(cublasSgemm(s.blas, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, A, n, A, n, &zero, C, n));
            return GC_OK;
        },
        &t));
    c->gemm = t > 0 ? 2.0 * n * (double)n * n / t / 1e9 : 0.0;
    return GC_OK;
}

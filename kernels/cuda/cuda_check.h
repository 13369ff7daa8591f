/* The project's error convention for CUDA and cuBLAS: a failed call becomes an int status through
 * gc_fail, with file:line, the library's own words and the call, and the function returns it. */
#ifndef GC_CUDA_CHECK_H
#define GC_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

extern "C" {
#include "core/error.h"
}

#define GC_CHECK_CUDA(call)                                                                                            \
    do {                                                                                                               \
        cudaError_t gc_cuda_rc_ = (call);                                                                              \
        if (gc_cuda_rc_ == cudaSuccess && gc_fault_hit(GC_FAULT_CUDA, __FILE__, __LINE__))                             \
            gc_cuda_rc_ = cudaErrorUnknown;                                                                            \
        if (gc_cuda_rc_ != cudaSuccess)                                                                                \
            return gc_fail(GC_ERR_LIB, "CUDA error at %s:%d: %s (%s)", __FILE__, __LINE__,                             \
                           cudaGetErrorString(gc_cuda_rc_), #call);                                                    \
    } while (0)

/* Right after a kernel launch: a bad launch shape or an earlier asynchronous fault. */
#define GC_CHECK_LAUNCH() GC_CHECK_CUDA(cudaGetLastError())

#define GC_CHECK_CUBLAS(call)                                                                                          \
    do {                                                                                                               \
        cublasStatus_t gc_cublas_rc_ = (call);                                                                         \
        if (gc_cublas_rc_ == CUBLAS_STATUS_SUCCESS && gc_fault_hit(GC_FAULT_CUDA, __FILE__, __LINE__))                 \
            gc_cublas_rc_ = CUBLAS_STATUS_INTERNAL_ERROR;                                                              \
        if (gc_cublas_rc_ != CUBLAS_STATUS_SUCCESS)                                                                    \
            return gc_fail(GC_ERR_LIB, "cuBLAS error at %s:%d: %s (%s)", __FILE__, __LINE__,                           \
                           cublasGetStatusString(gc_cublas_rc_), #call);                                               \
    } while (0)

/* The end of a device state: waits for the stream's work, then destroys the cuBLAS handle bound to
 * it and the stream (either may be null); the buffers that work used may be freed after this. */
static inline void gc_cuda_stream_end(cudaStream_t stream, cublasHandle_t blas)
{
    if (stream) (void)cudaStreamSynchronize(stream);
    if (blas) (void)cublasDestroy(blas);
    if (stream) (void)cudaStreamDestroy(stream);
}

#endif

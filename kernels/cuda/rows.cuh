/* Typed access to embeddings stored at a precision (rows.h, kernels/precision.h) in kernels: each
 * pass is one template over the stored type, instantiated for the three widths by
 * gc_with_precision, and widens every value to float on load (exact). */
#ifndef GC_ROWS_CUH
#define GC_ROWS_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "rows.h"

__device__ __forceinline__ float gc_widen(float v) { return v; }
__device__ __forceinline__ float gc_widen(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float gc_widen(__half v) { return __half2float(v); }

/* v narrowed to the stored type, to nearest, ties to even (exact for values gc_round_to made). */
template <typename T> __device__ __forceinline__ T gc_narrow(float v);
template <> __device__ __forceinline__ float gc_narrow<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 gc_narrow<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}
template <> __device__ __forceinline__ __half gc_narrow<__half>(float v) { return __float2half_rn(v); }

/* Calls f(T()) with T the stored type of precision p; returns what f returns. */
template <typename F> auto gc_with_precision(gc_precision p, F f) -> decltype(f(float()))
{
    switch (p) {
    case GC_PRECISION_BF16:
        return f(__nv_bfloat16());
    case GC_PRECISION_FP16:
        return f(__half());
    default:
        return f(float());
    }
}

#endif

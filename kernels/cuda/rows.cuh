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

/* Four consecutive stored values as loaded (16 or 8 bytes), and widened: a kernel issues all its
 * loads first and widens each pack only when it uses it, so packs of 2-byte values hold 2
 * registers, not 4, while in flight. p is aligned to 4 values. */
template <typename T> struct gc_pack4 {
    typedef uint2 type;
};
template <> struct gc_pack4<float> {
    typedef float4 type;
};

template <typename T> __device__ __forceinline__ typename gc_pack4<T>::type gc_load_pack4(const T *p)
{
    return __ldg(reinterpret_cast<const typename gc_pack4<T>::type *>(p));
}

__device__ __forceinline__ float4 gc_unpack4(const float *, float4 v) { return v; }
__device__ __forceinline__ float4 gc_unpack4(const __nv_bfloat16 *, uint2 u)
{
    const float2 lo = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&u.x));
    const float2 hi = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&u.y));
    return make_float4(lo.x, lo.y, hi.x, hi.y);
}
__device__ __forceinline__ float4 gc_unpack4(const __half *, uint2 u)
{
    const float2 lo = __half22float2(*reinterpret_cast<const __half2 *>(&u.x));
    const float2 hi = __half22float2(*reinterpret_cast<const __half2 *>(&u.y));
    return make_float4(lo.x, lo.y, hi.x, hi.y);
}

/* dst[i] ← src[i] narrowed (round to nearest, ties to even), grid-stride over count values: the
 * features embedding of rows generated on the device, and rows copied up at half width. Moves
 * 4 + sizeof(T) bytes a value. */
template <typename T>
__global__ void gc_narrow_kernel(const float *__restrict__ src, long long count, T *__restrict__ dst)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += (long long)gridDim.x * blockDim.x)
        dst[i] = gc_narrow<T>(src[i]);
}

/* out[t·D + j] ← value j of row index[t] of rows [· × D], widened to float (exact), or of row
 * −1 − index[t] of rows.received where index[t] < 0, for t < count; index and out in device memory,
 * queued on `stream`: the rows a pass needs gathered from the embeddings kept on the device
 * (backend_cuda.cu). */
int gc_cuda_rows_gather(gc_cuda_rows rows, int D, int64_t count, const long long *index, float *out,
                        cudaStream_t stream);

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

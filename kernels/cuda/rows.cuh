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

/* A value rounded to R's format held as the float it widens to (exact): how the embedding engine
 * makes a narrow E that goes home into a caller's float array, so the link carries the floats
 * straight from the kernels' stores and no pass widens them on the way (embed_cuda.h). */
template <typename R> struct gc_rounded_float {
    float value;
};
template <>
__device__ __forceinline__ gc_rounded_float<__nv_bfloat16> gc_narrow<gc_rounded_float<__nv_bfloat16>>(float v)
{
    return { __bfloat162float(__float2bfloat16_rn(v)) };
}
template <> __device__ __forceinline__ gc_rounded_float<__half> gc_narrow<gc_rounded_float<__half>>(float v)
{
    return { __half2float(__float2half_rn(v)) };
}

/* V consecutive stored values as loaded: one value (V = 1) or a 16-byte pack (V = 16 / sizeof(T)),
 * p aligned to it. A kernel issues all its loads first and widens each value only when it uses it,
 * so a pack of 2-byte values holds 4 registers, not 8, while in flight. */
template <typename T, int V> struct gc_pack {
    typedef uint4 type;
};
template <> struct gc_pack<__nv_bfloat16, 4> {
    typedef uint2 type;
};
template <> struct gc_pack<__half, 4> {
    typedef uint2 type;
};
template <typename T> struct gc_pack<T, 1> {
    typedef T type;
};

template <typename T, int V> __device__ __forceinline__ typename gc_pack<T, V>::type gc_load_pack(const T *p)
{
    static_assert(V * sizeof(T) == sizeof(typename gc_pack<T, V>::type), "a single value or a whole pack");
    return __ldg(reinterpret_cast<const typename gc_pack<T, V>::type *>(p));
}

/* Value k of a pack, widened to float (exact). */
template <typename T> __device__ __forceinline__ float gc_unpack(T v, int) { return gc_widen(v); }
template <typename T> __device__ __forceinline__ float gc_unpack(uint4 u, int k);
template <typename T> __device__ __forceinline__ float gc_unpack(uint2 u, int k)
{
    return gc_unpack<T>(make_uint4(u.x, u.y, 0u, 0u), k);
}
template <> __device__ __forceinline__ float gc_unpack<float>(uint4 u, int k) { return __uint_as_float((&u.x)[k]); }
template <> __device__ __forceinline__ float gc_unpack<__nv_bfloat16>(uint4 u, int k)
{
    const unsigned word = (&u.x)[k / 2]; /* a bf16 is the upper half of the float it widens to */
    return __uint_as_float(k % 2 ? word & 0xffff0000u : word << 16);
}
template <> __device__ __forceinline__ float gc_unpack<__half>(uint4 u, int k)
{
    const unsigned word = (&u.x)[k / 2];
    return __half2float(__ushort_as_half((unsigned short)(k % 2 ? word >> 16 : word & 0xffffu)));
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

/* Calls f(T()) with T the type E is stored as at precision p: its own type, or with as_float the
 * float holding a value of it (gc_rounded_float; a plain float at fp32). */
template <typename F> auto gc_with_stored(gc_precision p, int as_float, F f) -> decltype(f(float()))
{
    if (!as_float) return gc_with_precision(p, f);
    switch (p) {
    case GC_PRECISION_BF16:
        return f(gc_rounded_float<__nv_bfloat16>());
    case GC_PRECISION_FP16:
        return f(gc_rounded_float<__half>());
    default:
        return f(float());
    }
}

#endif

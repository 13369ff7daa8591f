/* Device buffers grown on demand from the stream-ordered pool (cudaMallocAsync): scratch that
 * lives as long as a device state or a single call. */
#ifndef GC_BUFFER_CUH
#define GC_BUFFER_CUH

#include "cuda_check.h"

/* All zero: no buffer. */
typedef struct {
    void *ptr;
    size_t bytes;
} gc_cuda_buffer;

/* b holds at least `bytes` (its old contents are gone when it grows). */
static inline int gc_cuda_reserve(cudaStream_t stream, gc_cuda_buffer *b, size_t bytes)
{
    if (b->bytes >= bytes) return GC_OK;
    if (b->ptr) GC_CHECK_CUDA(cudaFreeAsync(b->ptr, stream));
    b->ptr = nullptr;
    b->bytes = 0;
    GC_CHECK_CUDA(cudaMallocAsync(&b->ptr, bytes > 0 ? bytes : 1, stream));
    b->bytes = bytes;
    return GC_OK;
}

static inline void gc_cuda_release(cudaStream_t stream, gc_cuda_buffer *b)
{
    if (b->ptr) (void)cudaFreeAsync(b->ptr, stream);
    *b = gc_cuda_buffer{};
}

#endif

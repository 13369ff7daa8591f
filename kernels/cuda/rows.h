/* Embeddings held on a CUDA device at the backend's precision (kernels/precision.h): what the
 * embedding engine keeps and the selectors' passes read. C-visible; the kernels' typed access is
 * in rows.cuh. */
#ifndef GC_CUDA_ROWS_H
#define GC_CUDA_ROWS_H

#include <stdint.h>

#include "kernels/precision.h"

#ifdef __cplusplus
extern "C" {
#endif

/* data: [rows × D] values of gc_precision_bytes(precision) bytes each, or NULL: none. received:
 * [· × D] floats, the rows other ranks sent (the backend's rows_put), which index −1 − t names. */
typedef struct {
    const void *data;
    gc_precision precision;
    const float *received;
} gc_cuda_rows;

struct gc_backend;
/* The device copy of host embeddings `host` [≥ rows × D] when b's last embed call produced them and
 * kept them (backend_cuda.cu), else data NULL; it holds them at b->precision (rows.cuh). host NULL:
 * the copy that call kept alone, given no host array (docs/design.md §3.2). */
gc_cuda_rows gc_cuda_resident(struct gc_backend *b, const float *host, int64_t rows, int D);

#ifdef __cplusplus
}
#endif

#endif

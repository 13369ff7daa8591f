/* Embeddings held on a CUDA device at the backend's precision (kernels/precision.h): what the
 * embedding engine keeps and the selectors' passes read. C-visible; the kernels' typed access is
 * in rows.cuh. */
#ifndef GC_CUDA_ROWS_H
#define GC_CUDA_ROWS_H

#include "kernels/precision.h"

/* data: [rows × D] values of gc_precision_bytes(precision) bytes each, or NULL: none. */
typedef struct {
    const void *data;
    gc_precision precision;
} gc_cuda_rows;

#endif

/* The synthetic generator on a CUDA device (docs/design.md §2.1): rows of a gc_synthetic made in
 * device memory where the embedding engine uses them, so a study of any size needs no disk and no
 * host copy of X. CPU twin and oracle: gc_synthetic_rows (io/synthetic.c); both evaluate the
 * per-row functions of io/synthetic.h on the same constants and give the same bits. */
#ifndef GC_SYNTHETIC_CUDA_H
#define GC_SYNTHETIC_CUDA_H

#include <stdint.h>

#include "io/synthetic.h"
#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A generator on the current device: the dataset's constants and, when it is at most
 * GC_SYNTHETIC_TABLE_MAX entries, its table of mode centres in device memory. */
typedef struct gc_cuda_synthetic gc_cuda_synthetic;

/* Rows [lo, hi) generated on b's device and copied to host x [(hi − lo) × d] and y [hi − lo]
 * (either may be NULL): gc_synthetic_rows' bits. For tests; the engine generates in place. */
int gc_cuda_synthetic_rows(gc_backend *b, const gc_synthetic *s, int64_t lo, int64_t hi, float *x, int32_t *y);

#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
#include <cuda_runtime.h>

/* Makes the generator on the current device; its centre table is filled on `stream`, so work
 * issued there later, or after a synchronisation of it, sees the table. */
int gc_cuda_synthetic_create(const gc_synthetic *s, cudaStream_t stream, gc_cuda_synthetic **out);
/* Rows first … first + n − 1 into device x [n × d] (row-major) and y [n] (NULL: labels not
 * wanted), on `stream`. Launch and cost: synthetic_cuda.cu. */
int gc_cuda_synthetic_generate(const gc_cuda_synthetic *g, cudaStream_t stream, int64_t first, int64_t n, float *x,
                               int32_t *y);
/* Frees the generator (NULL: nothing); its stream's work must be finished. */
void gc_cuda_synthetic_destroy(gc_cuda_synthetic *g);
#endif

#endif

/* OMP scoring on a CUDA device (docs/design.md §4): the gc_backend_ops omp_* entries of the CUDA backend.
 * The embeddings of one OMP problem stay in device memory; each pass uploads the residual r (D
 * doubles) and returns the best `count` (score, row) pairs, so only O(D + count) bytes cross PCIe.
 * CPU twin and oracle: kernels/cpu/omp_cpu.c (same scores, same order of candidates). */
#ifndef GC_OMP_CUDA_H
#define GC_OMP_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/backend.h"

int gc_cuda_omp_attach(gc_backend *b, int64_t rows, int D, const float *e, const float *origin, const int64_t *index,
                       gc_omp_device **out);
/* The device copy of host embeddings `host` [≥ rows × D] when b's last embed call produced them and
 * kept them (backend_cuda.cu), else NULL. */
const float *gc_cuda_resident(gc_backend *b, const float *host, int64_t rows, int D);
int gc_cuda_omp_set_weights(gc_backend *b, gc_omp_device *dev, int64_t first, int64_t count, const double *w);
/* Reads rows·D floats and 2·rows doubles (w, then the scores written once) per pass, plus
 * 16·rows bytes per extra candidate (count > 1 rescans the scores). */
int gc_cuda_omp_best(gc_backend *b, gc_omp_device *dev, const double *r, int signed_scores, int count,
                     gc_omp_pair *best);
void gc_cuda_omp_detach(gc_backend *b, gc_omp_device *dev);

#ifdef __cplusplus
}
#endif

#endif

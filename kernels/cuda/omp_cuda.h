/* OMP on a CUDA device (docs/design.md §4.2): the gc_backend_ops omp_* entries of the CUDA backend.
 * One rank's rows stay in device memory for all its G problems at once (the embedding engine's
 * resident copy when it kept one), grouped by problem through a permutation made on the device; a
 * pass uploads the G residuals (G·D doubles) and returns each problem's best candidates, so only
 * O(G·(D + count)) bytes cross PCIe. CPU twin and oracle: kernels/cpu/omp_cpu.c (the same weights
 * and exact targets bit for bit, the same order of candidates). */
#ifndef GC_OMP_CUDA_H
#define GC_OMP_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/backend.h"
#include "kernels/cuda/rows.h"

/* Reads rows·D floats once (weights and max |e|), plus the rows up when they are not resident;
 * sorts the rows' problem ids (CUB radix sort, 12 bytes a row) when G > 1. */
int gc_cuda_omp_attach(gc_backend *b, int64_t rows, int D, const float *e, const int32_t *problem, int problems,
                       double *max_abs, gc_omp_device **out);
/* Reads rows·D floats once. */
int gc_cuda_omp_targets(gc_backend *b, gc_omp_device *dev, double scale, int64_t *acc);
int gc_cuda_omp_exclude(gc_backend *b, gc_omp_device *dev, int count, const int64_t *rows, const int32_t *problems);
/* Reads the active problems' rows once (D floats, a weight and, with G > 1, a permutation entry
 * each), and when some problem wants more than one candidate also writes their scores and rescans
 * them (8 bytes a row) once per further candidate. */
int gc_cuda_omp_best(gc_backend *b, gc_omp_device *dev, const double *r, int signed_scores, const int *want, int stride,
                     gc_omp_pair *best);
void gc_cuda_omp_detach(gc_backend *b, gc_omp_device *dev);

#ifdef __cplusplus
}
#endif

#endif

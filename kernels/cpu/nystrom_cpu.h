/* Nyström feature map of an RBF kernel on the CPU (docs/design.md §4, `bico`): the backend ops
 * nystrom_* of the CPU backend and the oracle of the CUDA twin (kernels/cuda/nystrom_cuda.cu). */
#ifndef GC_NYSTROM_CPU_H
#define GC_NYSTROM_CPU_H

#include <stdint.h>

#include "kernels/backend.h"

/* z [rows × q'] = K(x, Q) P with K(x, Q)_ij = exp(−γ·max(0, ‖x_i‖² + ‖l_j‖² − 2 x_iᵀl_j)), all in
 * double (x converted from float): two dgemms, rows·q·(2d + 2q') flops; reads rows·d floats and
 * writes rows·q' doubles. work: rows·(d + q) doubles. */
void gc_cpu_nystrom_features(const gc_nystrom_map *map, int64_t rows, const float *x, double *work, double *z);

int gc_cpu_nystrom_attach(gc_backend *b, const gc_nystrom_map *map, gc_nystrom_device **out);
int gc_cpu_nystrom_features_op(gc_backend *b, gc_nystrom_device *dev, int64_t rows, const float *x, double *z);
void gc_cpu_nystrom_detach(gc_backend *b, gc_nystrom_device *dev);

#endif

/* Facility-location greedy on a GPU: the twin of gc_greedy_fl (src/greedy_fl.c, the oracle), for
 * one partition or merge block at a time. The similarity block s_ij = c - ‖e_i - e_j‖ is kept in
 * device memory when it fits, otherwise its rows are recomputed by cuBLAS GEMM tiles on demand.
 * Exact greedy keeps every gain up to date incrementally: after a step only the rows whose coverage
 * rose change, so a step reads (changed rows × m) similarities instead of the whole block. */
#ifndef GC_FL_DEVICE_H
#define GC_FL_DEVICE_H

#include <stdint.h>

#include "kernels/cpu/greedy_fl_cpu.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_fl_device gc_fl_device;

/* Binds to GPU device_id; GC_ERR_DEVICE without CUDA. */
int gc_fl_device_create(int device_id, gc_fl_device **out);
void gc_fl_device_destroy(gc_fl_device *dev);
/* Recompute similarity rows by GEMM even when the block would fit (tests and benchmarks). */
void gc_fl_device_force_recompute(gc_fl_device *dev, int on);
/* Same contract as gc_greedy_fl. */
int gc_fl_device_greedy(gc_fl_device *dev, const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains,
                        double *coverage);
/* Whether the last call kept the block in device memory (1) or recomputed tiles (0). */
int gc_fl_device_last_materialized(const gc_fl_device *dev);
/* Similarity bytes the last call wrote (building the block) and read (gains): its roofline numerator. */
double gc_fl_device_last_bytes(const gc_fl_device *dev);

#ifdef __cplusplus
}
#endif

#endif

/* Facility-location greedy on a CUDA device: the fl_greedy and fl_greedy_many ops of the CUDA
 * backend (contract: kernels/fl.h; CPU twin and oracle: kernels/cpu/greedy_fl_cpu.c). The
 * similarity block s_ij = c - ‖e_i - e_j‖ is kept in device memory when it fits, otherwise its rows
 * are recomputed by cuBLAS GEMM tiles on demand. Exact greedy keeps every gain up to date
 * incrementally: after a step only the rows whose coverage rose change, so a step reads
 * (changed rows × m) similarities instead of the whole block. The steps run under device-side
 * control (no host synchronisation a step on a device-resident block), and many blocks run
 * concurrently on several streams (fl_cuda.cu says how and why). */
#ifndef GC_FL_CUDA_H
#define GC_FL_CUDA_H

#include <stdint.h>

#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The backend's fl_greedy: the device state is made on the first call and kept by the backend. */
int gc_cuda_fl_greedy(gc_backend *b, const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains,
                      double *coverage);
/* The backend's fl_greedy_many: the problems run concurrently, each on one of up to 8 streams with
 * its own buffers and cuBLAS handle, and each gets the bits fl_greedy gives it alone. */
int gc_cuda_fl_greedy_many(gc_backend *b, int count, const gc_fl_problem *problems, const int64_t *kappa,
                           int64_t *const *selected, double *const *gains, double *const *coverage);
/* The backend's fl_hold: on, the lanes keep their buffers between calls; off, they are given back. */
int gc_cuda_fl_hold(gc_backend *b, int on);
/* Where the CUDA backend keeps the device state (backend_cuda.cu). */
gc_fl_device **gc_cuda_fl_slot(gc_backend *b);
/* Releases the device state (the backend's destroy). */
void gc_cuda_fl_release(gc_backend *b, gc_fl_device *dev);
/* Recompute similarity rows by GEMM even when the block would fit (tests and benchmarks). */
int gc_cuda_fl_force_recompute(gc_backend *b, int on);
/* Run a small block's steps as three launches a step, not in one launch (greedy_small): tests. */
int gc_cuda_fl_force_steps(gc_backend *b, int on);
/* Whether the last call kept every block in device memory (1) or recomputed tiles (0), and the
 * similarity bytes it wrote (building the blocks) and read (gains), summed over its problems: its
 * roofline numerator. */
int gc_cuda_fl_last_materialized(gc_backend *b);
double gc_cuda_fl_last_bytes(gc_backend *b);

#ifdef __cplusplus
}
#endif

#endif

/* Facility location's passes over all rows on a CUDA device: the fl_assign op of the CUDA backend
 * (contract: kernels/backend.h; sets: kernels/fl.h; CPU twin and oracle: gc_cpu_fl_assign in
 * kernels/cpu/similarity_cpu.c), which the exact assignment and GreeDi's sampled comparison both run,
 * and its fl_radius (the similarity constant's pass; twin: gc_cpu_fl_radius).
 * Rows are read from the backend's resident copy of the embeddings when it has one, else streamed
 * up in batches through pinned buffers (two slots: the host stages one batch while the device works
 * on the other); each batch is grouped by label on the device and compared with its group's sets. */
#ifndef GC_ASSIGN_CUDA_H
#define GC_ASSIGN_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/backend.h"

/* Device state of the passes (streams, buffers grown on demand), made on the first call and kept by
 * the backend. */
typedef struct gc_fl_assign_device gc_fl_assign_device;

/* The backend's fl_assign. Batches of b->batch_rows rows when set (tests), else about 64 MiB of
 * device buffers a slot; the batch height changes no result (rows are independent). */
int gc_cuda_fl_assign(gc_backend *b, const float *e, int64_t rows, int D, const int32_t *group, const gc_fl_sets *sets,
                      int64_t *nearest, double *distance, gc_progress *progress);
/* The backend's fl_radius: one read of the kept rows (the CPU twin when the device holds none of e). */
int gc_cuda_fl_radius(gc_backend *b, const float *e, int64_t rows, int D, const double *center, double *radius);
/* Where the CUDA backend keeps the device state (backend_cuda.cu). */
gc_fl_assign_device **gc_cuda_fl_assign_slot(gc_backend *b);
/* Releases the device state (the backend's destroy). */
void gc_cuda_fl_assign_release(gc_backend *b, gc_fl_assign_device *dev);
/* Tests and benchmarks: mode 1 sends every set through the GEMM path (assign_cuda.cu), whatever its
 * size and the width, in tiles of tile_rows rows (0: the path's own); −1 sends none; 0 restores the
 * choice by set size and width. */
int gc_cuda_fl_assign_force_gemm(gc_backend *b, int mode, int64_t tile_rows);
/* Whether the last call read the backend's resident rows (1) or streamed them up (0), and its batches. */
int gc_cuda_fl_assign_last_resident(gc_backend *b);
int64_t gc_cuda_fl_assign_last_batches(gc_backend *b);

#ifdef __cplusplus
}
#endif

#endif

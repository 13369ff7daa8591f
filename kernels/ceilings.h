/* The hardware ceilings a timed run's phases are measured against (core/phases.h, docs/design.md
 * §7.1): each rank measures its own, once, before its work, so a phase's floor is the time its
 * bytes and flops need on the device it actually ran on. */
#ifndef GC_CEILINGS_H
#define GC_CEILINGS_H

#include "core/phases.h"
#include "kernels/backend.h"

/* Measures the rank's ceilings: host memory (a threaded copy), the host's FP64 GEMM, the FP32 GEMM
 * of the device the backend computes on, and on a GPU rank its memory (a device copy) and the host→device link; with
 * `input` (a file path, NULL for generated data) the storage read rate of its first bytes. A
 * ceiling that cannot be measured stays 0 (no floor is claimed against it); never an error. Takes
 * well under a second. */
void gc_measure_ceilings(gc_backend *b, const char *input, gc_ceilings *out);

/* The CPU side, also used by the backends: GB/s of a threaded copy (bytes read + written) and
 * GFLOP/s of an FP32 and of an FP64 GEMM through OpenBLAS. */
double gc_host_copy_ceiling(void);
double gc_host_gemm_ceiling(void);
double gc_host_fp64_ceiling(void);

#endif

/* Dense CPU kernels of facility location: the similarity block of the CPU greedy, and the nearest
 * rows of the assignment pass (the CPU backend's fl_nearest; the CUDA greedy computes its own
 * similarities, and the CUDA backend has no fl_nearest yet, so it falls back to this one). */
#ifndef GC_CPU_KERNELS_H
#define GC_CPU_KERNELS_H

#include <stdint.h>

/* out [m × n] = c - ‖a_i - b_j‖₂ in double, via one dgemm on ‖a‖² + ‖b‖² - 2 a·b (clamped at 0).
 * flops ≈ 2·m·n·D, bytes ≈ 8·m·n written. */
int gc_cpu_similarity(const float *a, int64_t m, const float *b, int64_t n, int D, double c, double *out);

/* Index (into b, first of equals) and distance of the nearest row of b to each row of a:
 * exact differences in double, so ties are decided on the true distances. */
void gc_cpu_nearest(const float *a, int64_t m, const float *b, int64_t n, int D, int64_t *nearest, double *distance);

#endif

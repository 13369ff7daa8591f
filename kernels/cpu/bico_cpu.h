/* BiCo's scoring pass on the CPU (docs/design.md §4): the selector's CPU path and the oracle of the CUDA
 * scorer (kernels/cuda/bico_cuda.cu). */
#ifndef GC_BICO_CPU_H
#define GC_BICO_CPU_H

#include <stdint.h>

/* s = 2 (θᵀz − e_y)ᵀ Vᵀz = ∇ℓᵀ H⁻¹ ∇G for one point with features z [q'] and label y; θ and V are
 * [q' × C] row-major. Each of the 2C dot products runs over j in order, so a point's score is the
 * same bits on every rank. 4·q'·C flops. */
double gc_cpu_bico_score(const double *z, int32_t y, int qp, int C, const double *theta, const double *v);

/* scores[i] for rows z [rows × q'] with labels y, in parallel. Reads rows·q' doubles. */
void gc_cpu_bico_scores(const double *z, const int32_t *y, int64_t rows, int qp, int C, const double *theta,
                        const double *v, double *scores);

#endif

/* The CUDA embedding kernels (embed_cuda.cu) behind launchers that return the project's status.
 * Each kernel's CPU twin, its oracle, is named; all pointers are device pointers, row-major. */
#ifndef GC_EMBED_CUDA_H
#define GC_EMBED_CUDA_H

#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "kernels/backend.h" /* C declarations keep C linkage; brings io/model.h */
}

/* out[r, j] = act(out[r, j] + bias[j·bias_stride]), r < rows, j < width.
 * CPU twin: the loop in linear() (and the R2 bias column in sketch_rows()), embed_cpu.c. */
int gc_cuda_bias_activation(cudaStream_t stream, float *out, const float *bias, int64_t bias_stride, int64_t rows,
                            int width, gc_activation act);

/* Softmax, loss and the logit-space gradient of one draw; writes e (logits, adacore; row stride
 * lde) or a [rows × C] (lastlayer, gmc); loss gets the mean over draws. CPU twin: softmax_rows(). */
int gc_cuda_softmax_embed(cudaStream_t stream, const float *z, const int32_t *y, int64_t rows, int C,
                          gc_embedding_kind kind, double damping, int draw, int draws, float *e, int64_t lde, float *a,
                          float *loss);

/* e[r, i·wb + j] = a[r, i]·b̃[r, j], b̃ = [b; 1] (wb = nb + 1) when append_one, else b (wb = nb).
 * CPU twin: outer_rows(). */
int gc_cuda_outer(cudaStream_t stream, int64_t rows, const float *a, int na, const float *b, int nb, int append_one,
                  float *e, int64_t lde);

/* r[i] = gc_sketch_entry(seed, draw, factor, i, scale), i < count. CPU twin: workspace_create(). */
int gc_cuda_sketch_fill(cudaStream_t stream, float *r, int64_t count, uint64_t seed, int draw, int factor, float scale);

#endif

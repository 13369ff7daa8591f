/* The CUDA embedding kernels (embed_cuda.cu) behind launchers that return the project's status.
 * Each kernel's CPU twin, its oracle, is named; all pointers are device pointers, row-major. E is
 * stored at a precision (kernels/precision.h): values of gc_precision_bytes(precision) bytes, each
 * the float the CPU twin computes rounded to nearest, ties to even. */
#ifndef GC_EMBED_CUDA_H
#define GC_EMBED_CUDA_H

#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "kernels/backend.h" /* C declarations keep C linkage; brings io/model.h */
}

/* The draws of a gmc batch served by one launch: draw s < count reads a + s·a and b + s·b and
 * writes out + s·out (strides in elements of each array). One draw: {1, 0, 0, 0}. */
typedef struct {
    int count;
    int64_t a, b, out;
} gc_cuda_draws;

/* out[r, j] = act(out[r, j] + bias[j·bias_stride]), r < rows, j < width, for every draw (out and
 * bias advance by draws.out and draws.b). CPU twin: the loop in linear() (and the R2 bias column in
 * sketch_rows()), embed_cpu.c. */
int gc_cuda_bias_activation(cudaStream_t stream, float *out, const float *bias, int64_t bias_stride, int64_t rows,
                            int width, gc_activation act, gc_cuda_draws draws);

/* Softmax, loss and the logit-space gradient of `draws` draws (draw s's logits at z + s·rows·C):
 * writes e (logits, adacore; row stride lde, draw s at e + s·e_draw values, at `precision`) or
 * a + s·rows·C [rows × C] (lastlayer, gmc); loss gets the mean over draws. CPU twin:
 * softmax_rows() per draw, then the block's rounding. */
int gc_cuda_softmax_embed(cudaStream_t stream, const float *z, const int32_t *y, int64_t rows, int C,
                          gc_embedding_kind kind, double damping, int draws, gc_precision precision, void *e,
                          int64_t lde, int64_t e_draw, float *a, float *loss);

/* e[r, i·wb + j] = a[r, i]·b̃[r, j] at `precision`, b̃ = [b; 1] (wb = nb + 1) when append_one, else
 * b (wb = nb), for every draw (a, b and e advance by draws.a, draws.b, draws.out). CPU twin:
 * outer_rows(), then the block's rounding. */
int gc_cuda_outer(cudaStream_t stream, int64_t rows, const float *a, int na, const float *b, int nb, int append_one,
                  gc_precision precision, void *e, int64_t lde, gc_cuda_draws draws);

/* dst[i] = src[i] at `precision`, i < count. CPU twin: the rounding in gc_embed_input. */
int gc_cuda_narrow(cudaStream_t stream, const float *src, gc_precision precision, void *dst, int64_t count);
/* dst[i] = src[i] (values at `precision`) widened to float, exactly, i < count. CPU twin: gc_widen_parallel. */
int gc_cuda_widen(cudaStream_t stream, const void *src, gc_precision precision, float *dst, int64_t count);

/* r[i] = gc_sketch_entry(seed, draw, factor, i, scale), i < count. CPU twin: workspace_create(). */
int gc_cuda_sketch_fill(cudaStream_t stream, float *r, int64_t count, uint64_t seed, int draw, int factor, float scale);

#endif

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

/* How the kernels that write E store it: values of `precision` (rounded to nearest, ties to even),
 * held at its width, or with as_float as the floats they widen to (4 bytes a value; E going home
 * into a caller's float array). */
typedef struct {
    gc_precision precision;
    int as_float;
} gc_cuda_e_format;

/* Bytes of one stored value of E in format f. */
static inline int gc_cuda_e_bytes(gc_cuda_e_format f) { return f.as_float ? 4 : gc_precision_bytes(f.precision); }

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
 * writes e (logits, adacore; row stride lde, draw s at e + s·e_draw values, in format f) or
 * a + s·rows·C [rows × C] (lastlayer, gmc); loss gets the mean over draws. CPU twin:
 * softmax_rows() per draw, then the block's rounding. */
int gc_cuda_softmax_embed(cudaStream_t stream, const float *z, const int32_t *y, int64_t rows, int C,
                          gc_embedding_kind kind, double damping, int draws, gc_cuda_e_format f, void *e, int64_t lde,
                          int64_t e_draw, float *a, float *loss);

/* e[r, i·wb + j] = a[r, i]·b̃[r, j] in format f, b̃ = [b; 1] (wb = nb + 1) when append_one, else
 * b (wb = nb), for every draw (a, b and e advance by draws.a, draws.b, draws.out). CPU twin:
 * outer_rows(), then the block's rounding. */
int gc_cuda_outer(cudaStream_t stream, int64_t rows, const float *a, int na, const float *b, int nb, int append_one,
                  gc_cuda_e_format f, void *e, int64_t lde, gc_cuda_draws draws);

/* dst[i] = src[i] in format f, i < count. CPU twin: the rounding in gc_embed_input. */
int gc_cuda_narrow(cudaStream_t stream, const float *src, gc_cuda_e_format f, void *dst, int64_t count);

/* r[i] = gc_sketch_entry(seed, draw, factor, i, scale), i < count. CPU twin: workspace_create(). */
int gc_cuda_sketch_fill(cudaStream_t stream, float *r, int64_t count, uint64_t seed, int draw, int factor, float scale);

#endif

/* CUDA kernels of the embedding engine: everything between the cuBLAS GEMMs of the MLP forward
 * pass and the embedding in device memory. Each has a CPU twin in kernels/cpu/embed_cpu.c that
 * evaluates the same formula (kernels/embed_math.h holds the shared scalar math). */
#include <mpi.h> /* before the extern "C" blocks: it brings C++ bindings of its own */

#include "cuda_check.h"
#include "embed_cuda.h"
#include "kernels/embed_math.h" /* after the C headers, so io/model.h is declared with C linkage */

/* Elementwise kernels: 256 threads per block, grid-stride; 4096 blocks (about a million threads)
 * fill every multiprocessor of a Hopper part several times over. */
enum { THREADS = 256, MAX_BLOCKS = 4096, ROWS_PER_SOFTMAX_BLOCK = THREADS / 32 };

static unsigned grid_for(int64_t total)
{
    int64_t blocks = (total + THREADS - 1) / THREADS;
    if (blocks > (int64_t)MAX_BLOCKS) blocks = MAX_BLOCKS;
    return (unsigned)(blocks < 1 ? 1 : blocks);
}

/* h ← act(h + b) after a Linear layer's GEMM: out[r, j] = act(out[r, j] + bias[j·stride]).
 * Launch: grid_for(rows·width) × 256, grid-stride over the rows·width elements.
 * Moves 8 bytes per element (read and write out; bias stays in L1/L2), one add + act. */
__global__ void bias_activation_kernel(float *out, const float *bias, int64_t bias_stride, int64_t total, int width,
                                       gc_activation act)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = gc_activate(act, out[i] + bias[(i % width) * bias_stride]);
}

/* One warp per row r: p = softmax(z_r) with Σ exp(z − z_max) in double (as the CPU),
 * ℓ = log Σ + z_max − z_y, loss_r = (draw ? loss_r : 0) + ℓ/draws; then g = p − onehot(y) and
 * logits: e = g; adacore: e = g ⊘ (p ⊙ (1 − p) + δ) (AdaCore's Hessian-diagonal preconditioner);
 * lastlayer/gmc: a = g, the left factor of the outer product.
 * Launch: ⌈rows/8⌉ blocks × 256 threads (8 warps = 8 rows). Moves 4·C bytes in and 4·C out per row;
 * two double exps per logit. The row index is warp-uniform, so whole warps exit together and the
 * full-mask shuffles are safe. */
__global__ void softmax_embed_kernel(const float *z, const int32_t *y, int64_t rows, int C, gc_embedding_kind kind,
                                     double damping, int draw, int draws, float *e, int64_t lde, float *a, float *loss)
{
    const int lane = threadIdx.x & 31;
    const int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5;
    if (r >= rows) return;
    const float *zr = z + r * C;
    float zmax = -INFINITY;
    for (int c = lane; c < C; c += 32) zmax = fmaxf(zmax, zr[c]);
    for (int o = 16; o > 0; o >>= 1) zmax = fmaxf(zmax, __shfl_xor_sync(0xffffffffu, zmax, o));
    double sum = 0.0;
    for (int c = lane; c < C; c += 32) sum += exp((double)zr[c] - zmax);
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    const int yr = y[r];
    if (lane == 0) {
        double ell = log(sum) + zmax - zr[yr];
        loss[r] = (draw == 0 ? 0.0f : loss[r]) + (float)(ell / draws);
    }
    for (int c = lane; c < C; c += 32) {
        double p = exp((double)zr[c] - zmax) / sum, g = p - (c == yr ? 1.0 : 0.0);
        if (kind == GC_EMBED_LOGITS)
            e[r * lde + c] = (float)g;
        else if (kind == GC_EMBED_ADACORE)
            e[r * lde + c] = (float)(g / (p * (1.0 - p) + damping));
        else
            a[r * C + c] = (float)g;
    }
}

/* e[r, i·wb + j] = a[r, i]·b̃[r, j], b̃ = [b; 1] when append_one: the last-layer gradient
 * (p − y) ⊗ [h; 1] (component c·(H+1) + j), or the Kronecker sketch (R1 a) ⊗ (R2 b).
 * Launch: grid_for(rows·na·wb) × 256, grid-stride; consecutive threads write consecutive
 * components of a row (coalesced). Writes 4 bytes per output, reads a and b through L1; 1 flop. */
__global__ void outer_kernel(int64_t rows, const float *a, int na, const float *b, int nb, int append_one, float *e,
                             int64_t lde)
{
    const int wb = nb + append_one;
    const int64_t width = (int64_t)na * wb, total = rows * width;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / width, k = i - r * width;
        int ia = (int)(k / wb), j = (int)(k - (int64_t)ia * wb);
        float bj = j < nb ? b[r * nb + j] : 1.0f;
        e[r * lde + k] = a[r * na + ia] * bj;
    }
}

/* r[i] = ±scale, the sign from the counter-based RNG (gc_sketch_entry): one factor of the
 * Kronecker sketch, generated where it is used instead of copied over PCIe.
 * Launch: grid_for(count) × 256, grid-stride; writes 4 bytes per entry, two 64-bit mixes. */
__global__ void sketch_fill_kernel(float *r, int64_t count, uint64_t seed, int draw, int factor, float scale)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count; i += (int64_t)gridDim.x * blockDim.x)
        r[i] = gc_sketch_entry(seed, draw, factor, (uint64_t)i, scale);
}

int gc_cuda_bias_activation(cudaStream_t stream, float *out, const float *bias, int64_t bias_stride, int64_t rows,
                            int width, gc_activation act)
{
    int64_t total = rows * width;
    bias_activation_kernel<<<grid_for(total), THREADS, 0, stream>>>(out, bias, bias_stride, total, width, act);
    GC_CHECK_LAUNCH();
    return GC_OK;
}

int gc_cuda_softmax_embed(cudaStream_t stream, const float *z, const int32_t *y, int64_t rows, int C,
                          gc_embedding_kind kind, double damping, int draw, int draws, float *e, int64_t lde, float *a,
                          float *loss)
{
    unsigned blocks = (unsigned)((rows + ROWS_PER_SOFTMAX_BLOCK - 1) / ROWS_PER_SOFTMAX_BLOCK);
    softmax_embed_kernel<<<blocks, THREADS, 0, stream>>>(z, y, rows, C, kind, damping, draw, draws, e, lde, a, loss);
    GC_CHECK_LAUNCH();
    return GC_OK;
}

int gc_cuda_outer(cudaStream_t stream, int64_t rows, const float *a, int na, const float *b, int nb, int append_one,
                  float *e, int64_t lde)
{
    int64_t total = rows * na * (nb + (append_one != 0));
    outer_kernel<<<grid_for(total), THREADS, 0, stream>>>(rows, a, na, b, nb, append_one != 0, e, lde);
    GC_CHECK_LAUNCH();
    return GC_OK;
}

int gc_cuda_sketch_fill(cudaStream_t stream, float *r, int64_t count, uint64_t seed, int draw, int factor, float scale)
{
    sketch_fill_kernel<<<grid_for(count), THREADS, 0, stream>>>(r, count, seed, draw, factor, scale);
    GC_CHECK_LAUNCH();
    return GC_OK;
}

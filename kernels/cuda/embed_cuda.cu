/* CUDA kernels of the embedding engine: everything between the cuBLAS GEMMs of the MLP forward
 * pass and the embedding in device memory. Each has a CPU twin in kernels/cpu/embed_cpu.c that
 * evaluates the same formula (kernels/embed_math.h holds the shared scalar math). Every kernel
 * serves all draws of a gmc batch in one launch (grid.y or a loop over draws), so a batch costs a
 * handful of launches whatever the draw count; the kernels that write E store it at the backend's
 * precision (rows.cuh), rounding in the store: no extra pass over E, whether it is held at that width
 * or as the floats a caller's array wants (gc_cuda_e_format). */
#include <mpi.h> /* before the extern "C" blocks: it brings C++ bindings of its own */

#include "cuda_check.h"
#include "embed_cuda.h"
#include "kernels/embed_math.h" /* after the C headers, so io/model.h is declared with C linkage */
#include "rows.cuh"

/* Elementwise kernels: 256 threads per block, grid-stride; 4096 blocks (about a million threads)
 * fill every multiprocessor of a Hopper part several times over. */
enum { THREADS = 256, MAX_BLOCKS = 4096, ROWS_PER_SOFTMAX_BLOCK = THREADS / 32 };

static unsigned grid_for(int64_t total)
{
    int64_t blocks = (total + THREADS - 1) / THREADS;
    if (blocks > (int64_t)MAX_BLOCKS) blocks = MAX_BLOCKS;
    return (unsigned)(blocks < 1 ? 1 : blocks);
}

/* h ← act(h + b) after a Linear layer's GEMM, draw blockIdx.y: out[r, j] = act(out[r, j] +
 * bias[j·stride]) with out += y·out_draw, bias += y·bias_draw.
 * Launch: grid_for(rows·width) × draws blocks of 256, grid-stride over the rows·width elements; the
 * column advances by the stride's remainder instead of a 64-bit division per element. Moves 8
 * bytes per element (read and write out; bias stays in L1/L2), one add + act. */
__global__ void bias_activation_kernel(float *out, const float *bias, int64_t bias_stride, int64_t total, int width,
                                       gc_activation act, int64_t out_draw, int64_t bias_draw)
{
    out += blockIdx.y * out_draw;
    bias += blockIdx.y * bias_draw;
    const int64_t first = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, step = (int64_t)gridDim.x * blockDim.x;
    const int step_column = (int)(step % width);
    int j = (int)(first % width);
    for (int64_t i = first; i < total; i += step) {
        out[i] = gc_activate(act, out[i] + bias[j * bias_stride]);
        j += step_column;
        if (j >= width) j -= width;
    }
}

/* One warp per row r, every draw in turn (draw s reads z + s·rows·C): p = softmax(z_r) with
 * Σ exp(z − z_max) in double (as the CPU), ℓ = log Σ + z_max − z_y, loss_r = Σ_s ℓ_s/draws added in
 * draw order in float (as the CPU's per-draw updates); then g = p − onehot(y) and
 * logits: e = g; adacore: e = g ⊘ (p ⊙ (1 − p) + δ) (AdaCore's Hessian-diagonal preconditioner),
 * stored as T (the float rounded once more, as the CPU rounds its float; rows.cuh's stored types);
 * lastlayer/gmc: a = g (float, a + s·rows·C), the left factor of the outer product.
 * Launch: ⌈rows/8⌉ blocks × 256 threads (8 warps = 8 rows). Moves 4·C bytes in and 4·C (or
 * sizeof(T)·C) out per row and draw; two double exps per logit. The row index is warp-uniform, so
 * whole warps exit together and the full-mask shuffles are safe. */
template <typename T>
__global__ void softmax_embed_kernel(const float *z, const int32_t *y, int64_t rows, int C, gc_embedding_kind kind,
                                     double damping, int draws, T *e, int64_t lde, int64_t e_draw, float *a,
                                     float *loss)
{
    const int lane = threadIdx.x & 31;
    const int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5;
    if (r >= rows) return;
    const int yr = y[r];
    float loss_r = 0.0f;
    for (int draw = 0; draw < draws; ++draw) {
        const float *zr = z + ((int64_t)draw * rows + r) * C;
        float zmax = -INFINITY;
        for (int c = lane; c < C; c += 32) zmax = fmaxf(zmax, zr[c]);
        for (int o = 16; o > 0; o >>= 1) zmax = fmaxf(zmax, __shfl_xor_sync(0xffffffffu, zmax, o));
        double sum = 0.0;
        for (int c = lane; c < C; c += 32) sum += exp((double)zr[c] - zmax);
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        const double ell = log(sum) + zmax - zr[yr];
        loss_r += (float)(ell / draws);
        T *er = e + draw * e_draw + r * lde;
        float *ar = a + ((int64_t)draw * rows + r) * C;
        for (int c = lane; c < C; c += 32) {
            double p = exp((double)zr[c] - zmax) / sum, g = p - (c == yr ? 1.0 : 0.0);
            if (kind == GC_EMBED_LOGITS)
                er[c] = gc_narrow<T>((float)g);
            else if (kind == GC_EMBED_ADACORE)
                er[c] = gc_narrow<T>((float)(g / (p * (1.0 - p) + damping)));
            else
                ar[c] = (float)g;
        }
    }
    if (lane == 0) loss[r] = loss_r;
}

/* e[r, i·wb + j] = a[r, i]·b̃[r, j], b̃ = [b; 1] when append_one, stored as T: the last-layer
 * gradient (p − y) ⊗ [h; 1] (component c·(H+1) + j), or the Kronecker sketch (R1 a) ⊗ (R2 b);
 * draw blockIdx.y reads a + y·a_draw, b + y·b_draw and writes e + y·e_draw.
 * Launch: grid_for(rows·na·wb) × draws blocks of 256, grid-stride; consecutive threads write
 * consecutive components of a row (coalesced); (row, component) advance by the stride's quotient and
 * remainder, so an element costs one 32-bit division (its factor index), not two 64-bit ones.
 * Writes sizeof(T) bytes per output, reads a and b through L1; 1 flop. */
template <typename T>
__global__ void outer_kernel(int64_t rows, const float *a, int na, const float *b, int nb, int append_one, T *e,
                             int64_t lde, int64_t a_draw, int64_t b_draw, int64_t e_draw)
{
    a += blockIdx.y * a_draw;
    b += blockIdx.y * b_draw;
    e += blockIdx.y * e_draw;
    const unsigned wb = (unsigned)(nb + append_one), width = (unsigned)na * wb;
    const int64_t total = rows * width, first = blockIdx.x * (int64_t)blockDim.x + threadIdx.x,
                  step = (int64_t)gridDim.x * blockDim.x;
    const int64_t step_rows = step / width;
    const unsigned step_k = (unsigned)(step % width);
    int64_t r = first / width;
    unsigned k = (unsigned)(first - r * width);
    for (int64_t i = first; i < total; i += step) {
        const unsigned ia = k / wb, j = k - ia * wb;
        const float bj = j < (unsigned)nb ? b[r * nb + j] : 1.0f;
        e[r * lde + k] = gc_narrow<T>(a[r * na + ia] * bj);
        k += step_k;
        r += step_rows;
        if (k >= width) {
            k -= width;
            ++r;
        }
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
                            int width, gc_activation act, gc_cuda_draws draws)
{
    const int64_t total = rows * width;
    const dim3 grid(grid_for(total), (unsigned)draws.count);
    bias_activation_kernel<<<grid, THREADS, 0, stream>>>(out, bias, bias_stride, total, width, act, draws.out, draws.b);
    GC_CHECK_LAUNCH();
    return GC_OK;
}

int gc_cuda_softmax_embed(cudaStream_t stream, const float *z, const int32_t *y, int64_t rows, int C,
                          gc_embedding_kind kind, double damping, int draws, gc_cuda_e_format f, void *e, int64_t lde,
                          int64_t e_draw, float *a, float *loss)
{
    const unsigned blocks = (unsigned)((rows + ROWS_PER_SOFTMAX_BLOCK - 1) / ROWS_PER_SOFTMAX_BLOCK);
    GC_CHECK_CUDA(gc_with_stored(f.precision, f.as_float, [&](auto stored) {
        using T = decltype(stored);
        softmax_embed_kernel<T>
            <<<blocks, THREADS, 0, stream>>>(z, y, rows, C, kind, damping, draws, (T *)e, lde, e_draw, a, loss);
        return cudaGetLastError();
    }));
    return GC_OK;
}

int gc_cuda_outer(cudaStream_t stream, int64_t rows, const float *a, int na, const float *b, int nb, int append_one,
                  gc_cuda_e_format f, void *e, int64_t lde, gc_cuda_draws draws)
{
    const int64_t total = rows * na * (nb + (append_one != 0));
    const dim3 grid(grid_for(total), (unsigned)draws.count);
    GC_CHECK_CUDA(gc_with_stored(f.precision, f.as_float, [&](auto stored) {
        using T = decltype(stored);
        outer_kernel<T><<<grid, THREADS, 0, stream>>>(rows, a, na, b, nb, append_one != 0, (T *)e, lde, draws.a,
                                                      draws.b, draws.out);
        return cudaGetLastError();
    }));
    return GC_OK;
}

int gc_cuda_narrow(cudaStream_t stream, const float *src, gc_cuda_e_format f, void *dst, int64_t count)
{
    GC_CHECK_CUDA(gc_with_stored(f.precision, f.as_float, [&](auto stored) {
        using T = decltype(stored);
        gc_narrow_kernel<T><<<grid_for(count), THREADS, 0, stream>>>(src, (long long)count, (T *)dst);
        return cudaGetLastError();
    }));
    return GC_OK;
}

int gc_cuda_sketch_fill(cudaStream_t stream, float *r, int64_t count, uint64_t seed, int draw, int factor, float scale)
{
    sketch_fill_kernel<<<grid_for(count), THREADS, 0, stream>>>(r, count, seed, draw, factor, scale);
    GC_CHECK_LAUNCH();
    return GC_OK;
}
